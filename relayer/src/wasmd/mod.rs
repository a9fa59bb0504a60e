//! The wasmd backend of [`Chain`]: a node reached over CometBFT RPC with cosmrs.
//!
//! Transactions are signed in direct mode; account number and sequence come from the ABCI query
//! `/cosmos.auth.v1beta1.Query/Account`; gas is simulated (`/cosmos.tx.v1beta1.Service/Simulate`)
//! and multiplied by an adjustment; the fee is gas × the configured gas price (an empty amount at
//! a zero price). A transaction is sent with `broadcast_tx_sync` and then polled until it is in a
//! block; a CheckTx or DeliverTx failure comes back verbatim with the transaction hash. Code ids
//! and contract addresses are read from the result's `msg_responses`. Connection errors are
//! retried with backoff, and the final error names the node URL.
//!
//! [`Chain`] is synchronous, so the backend owns a single-threaded tokio runtime: call it from
//! plain threads, not from inside another runtime.

pub mod accounts;
pub mod rpc;
mod tx;

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use cosmrs::proto::cosmos::auth::v1beta1::{
    BaseAccount, QueryAccountRequest, QueryAccountResponse,
};
use cosmrs::proto::cosmos::bank::v1beta1::{
    Input, MsgMultiSend, MsgSend, Output, QueryBalanceRequest, QueryBalanceResponse,
};
use cosmrs::proto::cosmos::base::abci::v1beta1::TxMsgData;
use cosmrs::proto::cosmos::base::v1beta1::Coin as ProtoCoin;
use cosmrs::proto::cosmwasm::wasm::v1::{
    MsgExecuteContract, MsgInstantiateContract, MsgInstantiateContractResponse, MsgMigrateContract,
    MsgStoreCode, MsgStoreCodeResponse, MsgUpdateAdmin, QuerySmartContractStateRequest,
    QuerySmartContractStateResponse,
};
use cosmrs::proto::traits::Message;
use cosmrs::Any;
use cosmwasm_std::{Coin, Decimal, Uint128};
use sha2::{Digest, Sha256};

pub use accounts::{Account, AccountError, LocalnetAccounts};
pub use rpc::RetryPolicy;

use crate::chain::{Chain, ChainError, ContractKind, TxOutcome};
use crate::keys::ParticipantKey;
use rpc::{Included, Rpc};

/// A gas price such as `0.025ustake` or `0stake`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GasPrice {
    pub amount: Decimal,
    pub denom: String,
}

impl FromStr for GasPrice {
    type Err = ChainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (num, denom) = s.split_at(split);
        let bad = |why: &str| {
            ChainError::Other(format!(
                "gas price {s:?}: {why} (expected e.g. 0.025ustake)"
            ))
        };
        if denom.is_empty() {
            return Err(bad("no denom"));
        }
        let amount =
            Decimal::from_str(num).map_err(|_| bad("the amount is not a decimal number"))?;
        Ok(Self {
            amount,
            denom: denom.to_string(),
        })
    }
}

impl std::fmt::Display for GasPrice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.amount, self.denom)
    }
}

/// How to reach and use a wasmd node.
#[derive(Debug, Clone)]
pub struct WasmdConfig {
    /// CometBFT RPC, e.g. `http://127.0.0.1:26657`.
    pub rpc_url: String,
    /// Expected chain id; when set, connecting to another chain is an error.
    pub chain_id: Option<String>,
    /// Bech32 prefix of account addresses.
    pub address_prefix: String,
    pub gas_price: GasPrice,
    /// Simulated gas is multiplied by this to set the gas limit.
    pub gas_adjustment: f64,
    /// Where `store_code` finds the contract artifacts.
    pub artifacts_dir: PathBuf,
    /// How long to wait for a broadcast transaction to be in a block.
    pub tx_timeout_ms: u64,
    /// Timeout of one RPC request.
    pub request_timeout_ms: u64,
    pub retry: RetryPolicy,
}

impl WasmdConfig {
    /// The `make localnet` chain with the repository's artifacts.
    pub fn localnet() -> Self {
        Self {
            rpc_url: "http://127.0.0.1:26657".into(),
            chain_id: Some("fairshare-local-1".into()),
            address_prefix: "wasm".into(),
            gas_price: GasPrice {
                amount: Decimal::zero(),
                denom: "stake".into(),
            },
            gas_adjustment: 1.3,
            artifacts_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../artifacts"),
            tx_timeout_ms: 60_000,
            request_timeout_ms: 10_000,
            retry: RetryPolicy::default(),
        }
    }
}

/// A wasmd node behind [`Chain`]. Keys that sign must be registered with [`Self::add_account`].
pub struct WasmdChain {
    rt: tokio::runtime::Runtime,
    rpc: Rpc,
    cfg: WasmdConfig,
    chain_id: String,
    accounts: HashMap<String, Account>,
}

impl std::fmt::Debug for WasmdChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmdChain")
            .field("rpc_url", &self.cfg.rpc_url)
            .field("chain_id", &self.chain_id)
            .finish_non_exhaustive()
    }
}

/// A message for one transaction, with the gas the node reported.
#[derive(Debug, Clone)]
pub struct ExecCall<'a> {
    pub signer: &'a ParticipantKey,
    pub contract: &'a str,
    pub msg: serde_json::Value,
    pub funds: Vec<Coin>,
}

fn proto_coins(funds: &[Coin]) -> Vec<ProtoCoin> {
    funds
        .iter()
        .map(|c| ProtoCoin {
            denom: c.denom.clone(),
            amount: c.amount.to_string(),
        })
        .collect()
}

fn any<M: Message + cosmrs::proto::prost::Name>(msg: &M) -> Result<Any, ChainError> {
    Any::from_msg(msg)
        .map_err(|e| ChainError::Other(format!("cannot encode {}: {e}", M::full_name())))
}

fn outcome(inc: &Included) -> TxOutcome {
    TxOutcome {
        tx_hash: Some(inc.hash.clone()),
        height: inc.height,
        gas_used: Some(inc.gas_used),
        attributes: inc.events.clone(),
    }
}

/// The `index`-th entry of the result's `msg_responses`, decoded.
fn msg_response<M: Message + Default + cosmrs::proto::prost::Name>(
    inc: &Included,
    index: usize,
) -> Result<M, ChainError> {
    let data = TxMsgData::decode(inc.data.as_slice())
        .map_err(|e| ChainError::Other(format!("tx {}: undecodable result data: {e}", inc.hash)))?;
    let any = data.msg_responses.get(index).ok_or_else(|| {
        ChainError::Other(format!(
            "tx {}: no msg_responses[{index}] in the result",
            inc.hash
        ))
    })?;
    any.to_msg::<M>().map_err(|e| {
        ChainError::Other(format!(
            "tx {}: msg_responses[{index}] is not {}: {e}",
            inc.hash,
            M::full_name()
        ))
    })
}

impl WasmdChain {
    /// Connects to the node, checks the chain id and keeps the connection for later calls.
    pub fn connect(cfg: WasmdConfig) -> Result<Self, ChainError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ChainError::Other(format!("cannot start the tokio runtime: {e}")))?;
        let rpc = Rpc::new(
            &cfg.rpc_url,
            cfg.retry.clone(),
            Duration::from_millis(cfg.request_timeout_ms),
        )?;
        let chain_id = rt.block_on(rpc.chain_id())?;
        if let Some(want) = &cfg.chain_id {
            if want != &chain_id {
                return Err(ChainError::Other(format!(
                    "the node at {} runs chain {chain_id:?}, not the configured {want:?}",
                    cfg.rpc_url
                )));
            }
        }
        Ok(Self {
            rt,
            rpc,
            cfg,
            chain_id,
            accounts: HashMap::new(),
        })
    }

    /// The configuration this chain was connected with.
    pub fn config(&self) -> &WasmdConfig {
        &self.cfg
    }

    /// Lets `account` sign transactions here (looked up by its address).
    pub fn add_account(&mut self, account: &Account) {
        self.accounts
            .insert(account.address().to_string(), account.clone());
    }

    fn account_for(&self, signer: &ParticipantKey) -> Result<&Account, ChainError> {
        self.accounts.get(signer.address()).ok_or_else(|| {
            ChainError::Other(format!(
                "no signing key for {} on the wasmd backend: register it with WasmdChain::add_account",
                signer.address()
            ))
        })
    }

    /// Account number and sequence of `address`.
    pub fn account_info(&self, address: &str) -> Result<(u64, u64), ChainError> {
        self.rt.block_on(self.account_info_async(address))
    }

    async fn account_info_async(&self, address: &str) -> Result<(u64, u64), ChainError> {
        let path = "/cosmos.auth.v1beta1.Query/Account";
        let res: QueryAccountResponse = self
            .rpc
            .abci_query(
                path,
                &QueryAccountRequest {
                    address: address.to_string(),
                },
            )
            .await?
            .map_err(|refused| {
                ChainError::Other(format!(
                    "account {address} is unknown to the chain (fund it first): {refused}"
                ))
            })?;
        let any = res.account.ok_or_else(|| {
            ChainError::Query(format!("{path}: no account in the response for {address}"))
        })?;
        let base: BaseAccount = any.to_msg().map_err(|e| {
            ChainError::Query(format!(
                "{path}: account {address} is a {} ({e}); only base accounts sign here",
                any.type_url
            ))
        })?;
        Ok((base.account_number, base.sequence))
    }

    /// Signs and sends `msgs` from `signer` in one transaction and waits for its block.
    pub fn send_msgs(
        &self,
        signer: &ParticipantKey,
        msgs: Vec<Any>,
    ) -> Result<TxOutcome, ChainError> {
        let account = self.account_for(signer)?;
        let inc = self.rt.block_on(self.send_async(account, msgs))?;
        Ok(outcome(&inc))
    }

    async fn send_async(&self, account: &Account, msgs: Vec<Any>) -> Result<Included, ChainError> {
        let hash = self.broadcast_async(account, msgs).await?;
        self.rpc
            .wait_for_tx(&hash, Duration::from_millis(self.cfg.tx_timeout_ms))
            .await
    }

    /// Simulates, signs and broadcasts; returns the hash once CheckTx accepted the transaction.
    async fn broadcast_async(
        &self,
        account: &Account,
        msgs: Vec<Any>,
    ) -> Result<String, ChainError> {
        let key = account.tx_signing_key();
        // A sequence mismatch (someone else used the key in between) is retried with fresh numbers.
        let mut last_err = None;
        let mut sent: Option<String> = None;
        for _ in 0..3 {
            let (account_number, sequence) = self.account_info_async(account.address()).await?;
            let unsigned = tx::Unsigned {
                msgs: msgs.clone(),
                account_number,
                sequence,
                chain_id: &self.chain_id,
            };
            let gas_used = tx::simulate(&self.rpc, &key, &unsigned).await?;
            let gas_limit = ((gas_used as f64) * self.cfg.gas_adjustment).ceil() as u64;
            let fee = tx::fee(&self.cfg.gas_price, gas_limit)?;
            let bytes = unsigned.sign(&key, fee)?;
            // The hash is known before sending, so a broadcast whose answer was lost (the node
            // went away mid-request) can be recognised on chain instead of being signed again.
            let hash = hex::encode_upper(Sha256::digest(&bytes));
            if let Some(prev) = sent.as_deref() {
                if self.rpc.is_included(prev).await? {
                    return Ok(prev.to_string());
                }
            }
            sent = Some(hash.clone());
            let (code, codespace, log) = match self.rpc.broadcast_sync(bytes).await {
                Ok((code, codespace, log, _)) => (code, codespace, log),
                // CometBFT's mempool cache has these bytes: an earlier broadcast got through.
                Err(ChainError::Query(e)) if e.contains("already exists in cache") => {
                    return Ok(hash)
                }
                Err(e) => return Err(e),
            };
            match (code, codespace.as_str()) {
                (0, _) => return Ok(hash),
                // Already in the mempool (a retried broadcast): wait for it like any other.
                (19, "sdk") => return Ok(hash),
                // Sequence mismatch: either our earlier broadcast of these bytes made it into
                // a block (its answer was lost), or someone else used the key in between.
                (32, "sdk") => {
                    if self.rpc.is_included(&hash).await? {
                        return Ok(hash);
                    }
                    last_err = Some(ChainError::Rejected {
                        tx_hash: Some(hash),
                        log: format!("check_tx: {log}"),
                    });
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                // A node that has just restarted runs CheckTx at height 0 until it commits its
                // first block, and at height 0 the SDK verifies signatures with account number
                // 0 (genesis mode): wait for that block and sign again.
                (4, "sdk") if log.contains("signature verification failed") => {
                    last_err = Some(ChainError::Rejected {
                        tx_hash: Some(hash),
                        log: format!("check_tx failed with code 4 (codespace \"sdk\"): {log}"),
                    });
                    tokio::time::sleep(Duration::from_millis(1500)).await;
                }
                _ => {
                    return Err(ChainError::Rejected {
                        tx_hash: Some(hash),
                        log: format!(
                            "check_tx failed with code {code} (codespace {codespace:?}): {log}"
                        ),
                    })
                }
            }
        }
        Err(last_err.expect("the loop ran at least once and only continues after setting an error"))
    }

    /// Waits until the transaction `hash` (sent by anyone, e.g. the wasmd CLI) is in a block.
    pub fn wait_for_tx(&self, hash: &str) -> Result<TxOutcome, ChainError> {
        let timeout = Duration::from_millis(self.cfg.tx_timeout_ms);
        Ok(outcome(
            &self.rt.block_on(self.rpc.wait_for_tx(hash, timeout))?,
        ))
    }

    /// Returns once the chain has reached `height`.
    pub fn wait_until_height(&mut self, height: u64) -> Result<(), ChainError> {
        let now = self.height()?;
        if now < height {
            self.wait_blocks(height - now)?;
        }
        Ok(())
    }

    /// Sends one transaction per call, all broadcast before any is awaited, so they share
    /// blocks. The signers must be distinct (each uses its current sequence).
    pub fn execute_many(&self, calls: &[ExecCall<'_>]) -> Result<Vec<TxOutcome>, ChainError> {
        let mut seen = std::collections::HashSet::new();
        for c in calls {
            if !seen.insert(c.signer.address()) {
                return Err(ChainError::Other(format!(
                    "execute_many: {} signs twice; one transaction per signer",
                    c.signer.address()
                )));
            }
        }
        self.rt.block_on(async {
            let mut hashes = Vec::with_capacity(calls.len());
            for c in calls {
                let account = self.account_for(c.signer)?;
                let msg = self.execute_msg(account.address(), c.contract, &c.msg, &c.funds)?;
                hashes.push(self.broadcast_async(account, vec![msg]).await?);
            }
            let timeout = Duration::from_millis(self.cfg.tx_timeout_ms);
            let mut out = Vec::with_capacity(hashes.len());
            for h in &hashes {
                out.push(outcome(&self.rpc.wait_for_tx(h, timeout).await?));
            }
            Ok(out)
        })
    }

    fn execute_msg(
        &self,
        sender: &str,
        contract: &str,
        msg: &serde_json::Value,
        funds: &[Coin],
    ) -> Result<Any, ChainError> {
        any(&MsgExecuteContract {
            sender: sender.to_string(),
            contract: contract.to_string(),
            msg: serde_json::to_vec(msg)?,
            funds: proto_coins(funds),
        })
    }

    /// Sends native coins from `signer` to `to`.
    pub fn send_coins(
        &self,
        signer: &ParticipantKey,
        to: &str,
        amount: &[Coin],
    ) -> Result<TxOutcome, ChainError> {
        let msg = any(&MsgSend {
            from_address: signer.address().to_string(),
            to_address: to.to_string(),
            amount: proto_coins(amount),
        })?;
        self.send_msgs(signer, vec![msg])
    }

    /// Pays `amount` to each of `recipients` in one transaction (a bank multi-send).
    pub fn fund_many(
        &self,
        signer: &ParticipantKey,
        recipients: &[String],
        amount: &Coin,
    ) -> Result<TxOutcome, ChainError> {
        let total = amount
            .amount
            .checked_mul(Uint128::from(recipients.len() as u128))
            .map_err(|e| ChainError::Other(e.to_string()))?;
        let msg = any(&MsgMultiSend {
            inputs: vec![Input {
                address: signer.address().to_string(),
                coins: proto_coins(&[Coin {
                    denom: amount.denom.clone(),
                    amount: total,
                }]),
            }],
            outputs: recipients
                .iter()
                .map(|r| Output {
                    address: r.clone(),
                    coins: proto_coins(std::slice::from_ref(amount)),
                })
                .collect(),
        })?;
        self.send_msgs(signer, vec![msg])
    }

    /// Stores raw wasm bytes; returns the code id.
    pub fn store_wasm(
        &mut self,
        signer: &ParticipantKey,
        wasm: Vec<u8>,
    ) -> Result<u64, ChainError> {
        let account = self.account_for(signer)?;
        let msg = any(&MsgStoreCode {
            sender: account.address().to_string(),
            wasm_byte_code: gzip(&wasm)?,
            instantiate_permission: None,
        })?;
        let inc = self.rt.block_on(self.send_async(account, vec![msg]))?;
        Ok(msg_response::<MsgStoreCodeResponse>(&inc, 0)?.code_id)
    }
}

/// `bytes` gzipped. wasmd inflates gzipped code itself; sending it compressed keeps the
/// transaction small: a simulation sends the transaction hex-encoded in a JSON-RPC request, and
/// a 545 KB contract would pass CometBFT's default limit of 1 MB on a request body.
fn gzip(bytes: &[u8]) -> Result<Vec<u8>, ChainError> {
    use std::io::Write as _;
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(bytes)
        .and_then(|()| z.finish())
        .map_err(|e| ChainError::Other(format!("cannot gzip the contract code: {e}")))
}

impl Chain for WasmdChain {
    fn chain_id(&self) -> Result<String, ChainError> {
        Ok(self.chain_id.clone())
    }

    fn address_prefix(&self) -> &str {
        &self.cfg.address_prefix
    }

    fn height(&self) -> Result<u64, ChainError> {
        self.rt.block_on(self.rpc.height())
    }

    fn store_code(
        &mut self,
        signer: &ParticipantKey,
        kind: ContractKind,
    ) -> Result<u64, ChainError> {
        let path = self.cfg.artifacts_dir.join(kind.artifact());
        let wasm = std::fs::read(&path).map_err(|e| {
            ChainError::Other(format!(
                "cannot read {} ({e}); `make wasm` builds the artifacts",
                path.display()
            ))
        })?;
        self.store_wasm(signer, wasm)
    }

    fn instantiate(
        &mut self,
        signer: &ParticipantKey,
        code_id: u64,
        msg: &serde_json::Value,
        label: &str,
        admin: Option<&str>,
    ) -> Result<String, ChainError> {
        let account = self.account_for(signer)?;
        let m = any(&MsgInstantiateContract {
            sender: account.address().to_string(),
            admin: admin.unwrap_or_default().to_string(),
            code_id,
            label: label.to_string(),
            msg: serde_json::to_vec(msg)?,
            funds: vec![],
        })?;
        let inc = self.rt.block_on(self.send_async(account, vec![m]))?;
        Ok(msg_response::<MsgInstantiateContractResponse>(&inc, 0)?.address)
    }

    fn execute(
        &mut self,
        signer: &ParticipantKey,
        contract: &str,
        msg: &serde_json::Value,
        funds: &[Coin],
    ) -> Result<TxOutcome, ChainError> {
        let m = self.execute_msg(signer.address(), contract, msg, funds)?;
        self.send_msgs(signer, vec![m])
    }

    fn migrate(
        &mut self,
        signer: &ParticipantKey,
        contract: &str,
        code_id: u64,
        msg: &serde_json::Value,
    ) -> Result<TxOutcome, ChainError> {
        let m = any(&MsgMigrateContract {
            sender: signer.address().to_string(),
            contract: contract.to_string(),
            code_id,
            msg: serde_json::to_vec(msg)?,
        })?;
        self.send_msgs(signer, vec![m])
    }

    fn update_admin(
        &mut self,
        signer: &ParticipantKey,
        contract: &str,
        new_admin: &str,
    ) -> Result<TxOutcome, ChainError> {
        let m = any(&MsgUpdateAdmin {
            sender: signer.address().to_string(),
            new_admin: new_admin.to_string(),
            contract: contract.to_string(),
        })?;
        self.send_msgs(signer, vec![m])
    }

    fn query_raw(
        &self,
        contract: &str,
        msg: &serde_json::Value,
    ) -> Result<serde_json::Value, ChainError> {
        let path = "/cosmwasm.wasm.v1.Query/SmartContractState";
        let req = QuerySmartContractStateRequest {
            address: contract.to_string(),
            query_data: serde_json::to_vec(msg)?,
        };
        let res: QuerySmartContractStateResponse = self
            .rt
            .block_on(self.rpc.abci_query(path, &req))?
            .map_err(|refused| {
                ChainError::Query(format!("smart query {msg} on {contract}: {refused}"))
            })?;
        Ok(serde_json::from_slice(&res.data)?)
    }

    fn balance(&self, address: &str, denom: &str) -> Result<u128, ChainError> {
        let path = "/cosmos.bank.v1beta1.Query/Balance";
        let req = QueryBalanceRequest {
            address: address.to_string(),
            denom: denom.to_string(),
        };
        let res: QueryBalanceResponse = self
            .rt
            .block_on(self.rpc.abci_query(path, &req))?
            .map_err(|refused| ChainError::Query(format!("balance of {address}: {refused}")))?;
        match res.balance {
            None => Ok(0),
            Some(c) => c.amount.parse().map_err(|e| {
                ChainError::Query(format!(
                    "balance of {address}: bad amount {:?}: {e}",
                    c.amount
                ))
            }),
        }
    }

    fn wait_blocks(&mut self, n: u64) -> Result<(), ChainError> {
        self.rt.block_on(async {
            let target = self.rpc.height().await? + n;
            // Blocks come every ~0.5 s on the localnet; allow 10 s per block before giving up.
            let deadline = std::time::Instant::now() + Duration::from_secs(10 * n.max(1));
            loop {
                let h = self.rpc.height().await?;
                if h >= target {
                    return Ok(());
                }
                if std::time::Instant::now() > deadline {
                    return Err(ChainError::Other(format!(
                        "the node at {} is at height {h}, short of {target}: is it producing blocks?",
                        self.rpc.url()
                    )));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_is_stored_gzipped_and_inflates_to_itself() {
        use std::io::Read as _;
        let wasm: Vec<u8> = b"\0asm\x01\0\0\0"
            .iter()
            .cycle()
            .take(50_000)
            .copied()
            .collect();
        let z = gzip(&wasm).expect("gzips");
        assert_eq!(&z[..2], &[0x1f, 0x8b], "wasmd recognises gzip by its magic");
        assert!(z.len() < wasm.len() / 10);
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(z.as_slice())
            .read_to_end(&mut back)
            .expect("inflates");
        assert_eq!(back, wasm);
    }

    #[test]
    fn gas_price_parses() {
        let p: GasPrice = "0.025ustake".parse().expect("parses");
        assert_eq!(p.amount, Decimal::permille(25));
        assert_eq!(p.denom, "ustake");
        assert_eq!(
            "0stake".parse::<GasPrice>().expect("parses").amount,
            Decimal::zero()
        );
        assert!("stake".parse::<GasPrice>().is_err());
        assert!("0.1".parse::<GasPrice>().is_err());
    }

    #[test]
    fn unreachable_node_is_named_in_the_error() {
        let mut cfg = WasmdConfig::localnet();
        // Port 9 (discard) on loopback: nothing listens there.
        cfg.rpc_url = "http://127.0.0.1:9".into();
        cfg.retry = RetryPolicy {
            attempts: 2,
            first_backoff_ms: 10,
            max_backoff_ms: 10,
        };
        let err = WasmdChain::connect(cfg).unwrap_err();
        assert!(matches!(err, ChainError::Unreachable { .. }), "{err}");
        assert!(err.to_string().contains("http://127.0.0.1:9"), "{err}");
    }
}
