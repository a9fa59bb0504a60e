//! One interface to a chain, two backends: the embedded chain (cw-multi-test running the real
//! contract code) and a wasmd node. Deploy, round operations, queries and DAO actions are
//! written once against [`Chain`] (see [`crate::ops`]).

use cosmwasm_std::Coin;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::keys::ParticipantKey;

/// The four Fairshare contracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContractKind {
    RoundManager,
    Escrow,
    IncentiveToken,
    Dao,
}

impl ContractKind {
    /// File name of the contract's checked artifact under `artifacts/`.
    pub fn artifact(self) -> &'static str {
        match self {
            ContractKind::RoundManager => "fairshare_round_manager.wasm",
            ContractKind::Escrow => "fairshare_escrow.wasm",
            ContractKind::IncentiveToken => "fairshare_incentive_token.wasm",
            ContractKind::Dao => "fairshare_dao.wasm",
        }
    }

    /// Label used when instantiating.
    pub fn label(self) -> &'static str {
        match self {
            ContractKind::RoundManager => "fairshare-round-manager",
            ContractKind::Escrow => "fairshare-escrow",
            ContractKind::IncentiveToken => "fairshare-incentive-token",
            ContractKind::Dao => "fairshare-dao",
        }
    }
}

/// A transaction that made it into a block.
#[derive(Debug, Clone, Default)]
pub struct TxOutcome {
    /// Hash of the transaction (none on the embedded chain).
    pub tx_hash: Option<String>,
    /// Block it was included in.
    pub height: u64,
    /// Gas the node reported (none on the embedded chain).
    pub gas_used: Option<u64>,
    /// Events, flattened to `(type, key, value)`.
    pub attributes: Vec<(String, String, String)>,
}

impl TxOutcome {
    /// The first value of attribute `key` in any event.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(_, k, _)| k == key)
            .map(|(_, _, v)| v.as_str())
    }
}

/// Why a chain operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The chain ran the message and refused it; the text is the chain's, verbatim.
    #[error("the chain refused the transaction{}: {log}", tx_hash.as_ref().map(|h| format!(" {h}")).unwrap_or_default())]
    Rejected {
        tx_hash: Option<String>,
        log: String,
    },
    /// The node could not be reached (after retries).
    #[error("cannot reach the node at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// A query failed.
    #[error("query failed: {0}")]
    Query(String),
    /// A message or response could not be (de)serialised.
    #[error("bad JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Anything else the backend reports.
    #[error("{0}")]
    Other(String),
}

/// What every backend offers.
pub trait Chain {
    /// The chain id that commitment signatures must bind.
    fn chain_id(&self) -> Result<String, ChainError>;
    /// The bech32 prefix of account addresses.
    fn address_prefix(&self) -> &str;
    /// Latest block height.
    fn height(&self) -> Result<u64, ChainError>;
    /// Stores a contract's code; returns its code id.
    fn store_code(
        &mut self,
        signer: &ParticipantKey,
        kind: ContractKind,
    ) -> Result<u64, ChainError>;
    /// Instantiates a code; returns the contract address.
    fn instantiate(
        &mut self,
        signer: &ParticipantKey,
        code_id: u64,
        msg: &serde_json::Value,
        label: &str,
        admin: Option<&str>,
    ) -> Result<String, ChainError>;
    /// Executes a contract message.
    fn execute(
        &mut self,
        signer: &ParticipantKey,
        contract: &str,
        msg: &serde_json::Value,
        funds: &[Coin],
    ) -> Result<TxOutcome, ChainError>;
    /// Migrates a contract to `code_id` (the signer must be its admin).
    fn migrate(
        &mut self,
        signer: &ParticipantKey,
        contract: &str,
        code_id: u64,
        msg: &serde_json::Value,
    ) -> Result<TxOutcome, ChainError>;
    /// Makes `new_admin` the wasm admin of `contract` (the signer must be its admin).
    fn update_admin(
        &mut self,
        signer: &ParticipantKey,
        contract: &str,
        new_admin: &str,
    ) -> Result<TxOutcome, ChainError>;
    /// A smart query.
    fn query_raw(
        &self,
        contract: &str,
        msg: &serde_json::Value,
    ) -> Result<serde_json::Value, ChainError>;
    /// Native balance of `address` in `denom`.
    fn balance(&self, address: &str, denom: &str) -> Result<u128, ChainError>;
    /// Returns once the chain is at least `n` blocks further (the embedded chain just moves).
    fn wait_blocks(&mut self, n: u64) -> Result<(), ChainError>;
}

/// Typed helpers on top of any [`Chain`].
pub trait ChainExt: Chain {
    /// Executes a typed message.
    fn exec<M: Serialize>(
        &mut self,
        signer: &ParticipantKey,
        contract: &str,
        msg: &M,
        funds: &[Coin],
    ) -> Result<TxOutcome, ChainError> {
        let v = serde_json::to_value(msg)?;
        self.execute(signer, contract, &v, funds)
    }

    /// A typed smart query.
    fn query<Q: Serialize, R: DeserializeOwned>(
        &self,
        contract: &str,
        msg: &Q,
    ) -> Result<R, ChainError> {
        let v = self.query_raw(contract, &serde_json::to_value(msg)?)?;
        Ok(serde_json::from_value(v)?)
    }

    /// Instantiates with a typed message.
    fn init<M: Serialize>(
        &mut self,
        signer: &ParticipantKey,
        code_id: u64,
        msg: &M,
        label: &str,
        admin: Option<&str>,
    ) -> Result<String, ChainError> {
        let v = serde_json::to_value(msg)?;
        self.instantiate(signer, code_id, &v, label, admin)
    }
}

impl<C: Chain + ?Sized> ChainExt for C {}
