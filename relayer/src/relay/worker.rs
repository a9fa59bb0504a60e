//! The chain seen from an async server: one thread owns the [`Chain`] (the wasmd backend drives
//! its own runtime and the embedded chain is not `Send`), and every caller sends it a job.
//! Also [`Failover`]: several nodes' RPC addresses behind one [`Chain`].

use std::cell::Cell;
use std::sync::mpsc;

use cosmwasm_std::Coin;

use crate::chain::{Chain, ChainError, ContractKind, TxOutcome};
use crate::keys::ParticipantKey;

type Job = Box<dyn FnOnce(&mut dyn Chain) + Send>;

/// A handle to the thread that owns the chain. Cloning shares the thread.
#[derive(Clone)]
pub struct ChainHandle {
    tx: mpsc::Sender<Job>,
}

/// The chain thread has stopped (its chain could not be made, or it panicked).
#[derive(Debug, thiserror::Error)]
#[error("the chain thread has stopped: {0}")]
pub struct WorkerGone(pub String);

impl ChainHandle {
    /// Starts the thread; `make` builds the chain on it. Returns once `make` has run.
    pub fn spawn<F>(make: F) -> Result<Self, ChainError>
    where
        F: FnOnce() -> Result<Box<dyn Chain>, ChainError> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), ChainError>>();
        std::thread::Builder::new()
            .name("fairshare-chain".into())
            .spawn(move || {
                let mut chain = match make() {
                    Ok(c) => {
                        let _ = ready_tx.send(Ok(()));
                        c
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                while let Ok(job) = rx.recv() {
                    job(chain.as_mut());
                }
            })
            .map_err(|e| ChainError::Other(format!("cannot start the chain thread: {e}")))?;
        ready_rx
            .recv()
            .map_err(|_| ChainError::Other("the chain thread stopped while starting".into()))??;
        Ok(Self { tx })
    }

    /// Runs `f` on the chain thread and waits for its result (blocking; from async code use
    /// [`ChainHandle::run`]).
    pub fn call<R, F>(&self, f: F) -> Result<R, WorkerGone>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn Chain) -> R + Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        self.tx
            .send(Box::new(move |c| {
                let _ = tx.send(f(c));
            }))
            .map_err(|_| WorkerGone("no receiver".into()))?;
        rx.recv().map_err(|_| WorkerGone("no answer".into()))
    }

    /// Runs `f` on the chain thread and awaits its result.
    pub async fn run<R, F>(&self, f: F) -> Result<R, WorkerGone>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn Chain) -> R + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.tx
            .send(Box::new(move |c| {
                let _ = tx.send(f(c));
            }))
            .map_err(|_| WorkerGone("no receiver".into()))?;
        rx.await.map_err(|_| WorkerGone("no answer".into()))
    }
}

/// Several nodes of one chain: every call goes to the current node, and when that node cannot
/// be reached the call is retried on the next ones in turn (a refusal by the chain is not
/// retried). A broadcast retried after a timeout may reach the chain twice; the round-manager
/// skips a repeated commitment, and every other message of the services is checked against
/// the chain's state before it is sent.
pub struct Failover {
    urls: Vec<String>,
    nodes: Vec<Box<dyn Chain>>,
    current: Cell<usize>,
}

impl Failover {
    /// Nodes with the address each is known by in messages. At least one.
    pub fn new(nodes: Vec<(String, Box<dyn Chain>)>) -> Result<Self, ChainError> {
        if nodes.is_empty() {
            return Err(ChainError::Other("no node addresses configured".into()));
        }
        let (urls, nodes) = nodes.into_iter().unzip();
        Ok(Self {
            urls,
            nodes,
            current: Cell::new(0),
        })
    }

    /// The address of the node in use.
    pub fn current(&self) -> &str {
        &self.urls[self.current.get()]
    }

    fn with<R>(
        &self,
        mut f: impl FnMut(&dyn Chain) -> Result<R, ChainError>,
    ) -> Result<R, ChainError> {
        let nodes = &self.nodes;
        rotate(&self.urls, &self.current, |i| f(nodes[i].as_ref()))
    }

    fn with_mut<R>(
        &mut self,
        mut f: impl FnMut(&mut dyn Chain) -> Result<R, ChainError>,
    ) -> Result<R, ChainError> {
        let nodes = &mut self.nodes;
        rotate(&self.urls, &self.current, |i| f(nodes[i].as_mut()))
    }
}

/// Tries node `current`, then the next ones in turn, while they cannot be reached; the node
/// that answered (even with a refusal) becomes current.
fn rotate<R>(
    urls: &[String],
    current: &Cell<usize>,
    mut attempt: impl FnMut(usize) -> Result<R, ChainError>,
) -> Result<R, ChainError> {
    let n = urls.len();
    let mut reasons = vec![];
    for step in 0..n {
        let i = (current.get() + step) % n;
        match attempt(i) {
            Err(ChainError::Unreachable { url, reason }) => {
                reasons.push(format!("{url}: {reason}"))
            }
            other => {
                current.set(i);
                return other;
            }
        }
    }
    Err(ChainError::Unreachable {
        url: urls.join(", "),
        reason: reasons.join("; "),
    })
}

impl Chain for Failover {
    fn chain_id(&self) -> Result<String, ChainError> {
        self.with(|c| c.chain_id())
    }
    fn address_prefix(&self) -> &str {
        self.nodes[self.current.get()].address_prefix()
    }
    fn height(&self) -> Result<u64, ChainError> {
        self.with(|c| c.height())
    }
    fn store_code(
        &mut self,
        signer: &ParticipantKey,
        kind: ContractKind,
    ) -> Result<u64, ChainError> {
        self.with_mut(|c| c.store_code(signer, kind))
    }
    fn instantiate(
        &mut self,
        signer: &ParticipantKey,
        code_id: u64,
        msg: &serde_json::Value,
        label: &str,
        admin: Option<&str>,
    ) -> Result<String, ChainError> {
        self.with_mut(|c| c.instantiate(signer, code_id, msg, label, admin))
    }
    fn execute(
        &mut self,
        signer: &ParticipantKey,
        contract: &str,
        msg: &serde_json::Value,
        funds: &[Coin],
    ) -> Result<TxOutcome, ChainError> {
        self.with_mut(|c| c.execute(signer, contract, msg, funds))
    }
    fn migrate(
        &mut self,
        signer: &ParticipantKey,
        contract: &str,
        code_id: u64,
        msg: &serde_json::Value,
    ) -> Result<TxOutcome, ChainError> {
        self.with_mut(|c| c.migrate(signer, contract, code_id, msg))
    }
    fn update_admin(
        &mut self,
        signer: &ParticipantKey,
        contract: &str,
        new_admin: &str,
    ) -> Result<TxOutcome, ChainError> {
        self.with_mut(|c| c.update_admin(signer, contract, new_admin))
    }
    fn query_raw(
        &self,
        contract: &str,
        msg: &serde_json::Value,
    ) -> Result<serde_json::Value, ChainError> {
        self.with(|c| c.query_raw(contract, msg))
    }
    fn balance(&self, address: &str, denom: &str) -> Result<u128, ChainError> {
        self.with(|c| c.balance(address, denom))
    }
    fn wait_blocks(&mut self, n: u64) -> Result<(), ChainError> {
        self.with_mut(|c| c.wait_blocks(n))
    }
}

/// A [`Chain`] whose every call runs on a chain thread: lets several parties in one process
/// (the demo, tests) share one embedded chain while each runs its own loop.
pub struct SharedChain {
    handle: ChainHandle,
    prefix: String,
}

impl SharedChain {
    /// A view of the chain owned by `handle`.
    pub fn new(handle: ChainHandle) -> Result<Self, ChainError> {
        let prefix = handle
            .call(|c| c.address_prefix().to_string())
            .map_err(|e| ChainError::Other(e.to_string()))?;
        Ok(Self { handle, prefix })
    }

    fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Chain) -> Result<R, ChainError> + Send + 'static,
    ) -> Result<R, ChainError> {
        self.handle
            .call(f)
            .map_err(|e| ChainError::Other(e.to_string()))?
    }
}

impl Chain for SharedChain {
    fn chain_id(&self) -> Result<String, ChainError> {
        self.run(|c| c.chain_id())
    }
    fn address_prefix(&self) -> &str {
        &self.prefix
    }
    fn height(&self) -> Result<u64, ChainError> {
        self.run(|c| c.height())
    }
    fn store_code(
        &mut self,
        signer: &ParticipantKey,
        kind: ContractKind,
    ) -> Result<u64, ChainError> {
        let k = signer.clone();
        self.run(move |c| c.store_code(&k, kind))
    }
    fn instantiate(
        &mut self,
        signer: &ParticipantKey,
        code_id: u64,
        msg: &serde_json::Value,
        label: &str,
        admin: Option<&str>,
    ) -> Result<String, ChainError> {
        let (k, m, l, a) = (
            signer.clone(),
            msg.clone(),
            label.to_string(),
            admin.map(str::to_string),
        );
        self.run(move |c| c.instantiate(&k, code_id, &m, &l, a.as_deref()))
    }
    fn execute(
        &mut self,
        signer: &ParticipantKey,
        contract: &str,
        msg: &serde_json::Value,
        funds: &[Coin],
    ) -> Result<TxOutcome, ChainError> {
        let (k, ct, m, f) = (
            signer.clone(),
            contract.to_string(),
            msg.clone(),
            funds.to_vec(),
        );
        self.run(move |c| c.execute(&k, &ct, &m, &f))
    }
    fn migrate(
        &mut self,
        signer: &ParticipantKey,
        contract: &str,
        code_id: u64,
        msg: &serde_json::Value,
    ) -> Result<TxOutcome, ChainError> {
        let (k, ct, m) = (signer.clone(), contract.to_string(), msg.clone());
        self.run(move |c| c.migrate(&k, &ct, code_id, &m))
    }
    fn update_admin(
        &mut self,
        signer: &ParticipantKey,
        contract: &str,
        new_admin: &str,
    ) -> Result<TxOutcome, ChainError> {
        let (k, ct, a) = (signer.clone(), contract.to_string(), new_admin.to_string());
        self.run(move |c| c.update_admin(&k, &ct, &a))
    }
    fn query_raw(
        &self,
        contract: &str,
        msg: &serde_json::Value,
    ) -> Result<serde_json::Value, ChainError> {
        let (ct, m) = (contract.to_string(), msg.clone());
        self.run(move |c| c.query_raw(&ct, &m))
    }
    fn balance(&self, address: &str, denom: &str) -> Result<u128, ChainError> {
        let (a, dn) = (address.to_string(), denom.to_string());
        self.run(move |c| c.balance(&a, &dn))
    }
    fn wait_blocks(&mut self, n: u64) -> Result<(), ChainError> {
        self.run(move |c| c.wait_blocks(n))
    }
}
