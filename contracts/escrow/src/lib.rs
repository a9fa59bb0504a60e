//! Fairshare escrow: holds participants' stakes from join to settlement, slashes free-riders,
//! harmful participants and no-shows into the treasury, mints rewards as the incentive token's
//! minter, and pays everything out by pull claims (O(1) per claimant).
//!
//! Invariant: the escrow's balance of the stake asset equals `locked + claimable_stake`
//! (slashes leave for the treasury at settlement; rewards are minted at claim).

pub mod claim;
pub mod contract;
pub mod error;
pub mod join;
pub mod query;
pub mod settle;
pub mod state;

pub use error::ContractError;

/// Name recorded by cw2.
pub const CONTRACT_NAME: &str = "crates.io:fairshare-escrow";
/// Version recorded by cw2.
pub const CONTRACT_VERSION: &str = env!("CARGO_PKG_VERSION");
