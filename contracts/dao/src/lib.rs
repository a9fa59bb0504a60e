//! Fairshare's DAO: members stake the incentive token for voting power, open proposals with a
//! deposit, vote with the power they had when a proposal opened, and execute passed proposals
//! as the DAO's own messages. The DAO owns every governed parameter of the other contracts.
//!
//! Messages are in [`fairshare_protocol::dao`].

pub mod contract;
pub mod error;
pub mod execute;
pub mod guard;
pub mod proposal;
pub mod query;
pub mod state;
mod time;

#[cfg(test)]
mod tests;

pub use crate::error::ContractError;
