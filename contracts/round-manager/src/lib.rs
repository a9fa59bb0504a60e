//! Fairshare round-manager: the round state machine (Open → Training → Evaluating → Revealing
//! → Challenging → Settling → Settled, or Failed), participants and their keys, batches of
//! signed update commitments verified on chain, bonded evaluators' committed and revealed
//! reports, disputes that recompute Shapley values from a report's own utility table, and
//! paged settlement by the weighted consensus of the reports (bonds capped at the minimum).

pub mod commit;
pub mod compact;
pub mod contract;
pub mod dispute;
pub mod error;
pub mod evaluators;
pub mod lifecycle;
pub mod phase;
pub mod query;
pub mod report;
pub mod settle;
pub mod state;
pub mod validate;

pub use error::ContractError;

/// Name recorded by cw2.
pub const CONTRACT_NAME: &str = "crates.io:fairshare-round-manager";
/// Version recorded by cw2.
pub const CONTRACT_VERSION: &str = env!("CARGO_PKG_VERSION");
