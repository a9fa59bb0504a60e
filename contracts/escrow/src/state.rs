//! Every storage item of the escrow, with its key.

use cosmwasm_schema::cw_serde;
use cosmwasm_std::{Addr, Uint128};

use crate::error::ContractError;
use cw_storage_plus::{Item, Map};
use fairshare_protocol::escrow::{Role, StakeStatus, TotalsResponse};

/// The stake asset with its contract address checked.
#[cw_serde]
pub enum Asset {
    Native(String),
    Cw20(Addr),
}

#[cw_serde]
pub struct Config {
    pub owner: Addr,
    pub round_manager: Addr,
    pub reward_token: Addr,
    pub stake_asset: Asset,
    pub min_stake: Uint128,
    pub treasury: Addr,
}

#[cw_serde]
pub struct Stake {
    pub amount: Uint128,
    pub status: StakeStatus,
    /// Taken by the DAO from an evaluator's bond during the appeal window (already paid to
    /// the treasury).
    #[serde(default)]
    pub penalty: Uint128,
}

/// How a round ended in the escrow.
#[cw_serde]
pub enum Ending {
    /// Outcomes applied to every stake.
    Settled,
    /// Failed round: each stake comes back whole when claimed.
    Refunded,
}

#[cw_serde]
#[derive(Default)]
pub struct RoundStakes {
    pub stakers: u32,
    pub locked: Uint128,
    /// Set aside for the round's rewards and dust when its pool was fixed.
    #[serde(default)]
    pub reserved: Uint128,
    /// Slashed into the treasury when the round settled.
    #[serde(default)]
    pub slashed: Uint128,
    pub ending: Option<Ending>,
}

/// `a + b`, or an error that says a running total overflowed.
pub fn add(a: Uint128, b: Uint128) -> Result<Uint128, ContractError> {
    a.checked_add(b).map_err(|_| ContractError::Overflow)
}

/// `a − b`, or an error that says a running total would go below zero (a broken invariant).
pub fn sub(a: Uint128, b: Uint128) -> Result<Uint128, ContractError> {
    a.checked_sub(b).map_err(|_| ContractError::Underflow)
}

pub const CONFIG: Item<Config> = Item::new("config");
/// Participants' stakes.
pub const STAKES: Map<(u64, &Addr), Stake> = Map::new("stakes");
/// Evaluators' bonds.
pub const BONDS: Map<(u64, &Addr), Stake> = Map::new("bonds");
/// Challengers' dispute deposits (summed over their disputes in the round).
pub const DEPOSITS: Map<(u64, &Addr), Stake> = Map::new("deposits");

/// Where the bonds of `role` are kept.
pub fn records(role: Role) -> Map<(u64, &'static Addr), Stake> {
    match role {
        Role::Participant => STAKES,
        Role::Evaluator => BONDS,
        Role::Challenger => DEPOSITS,
    }
}
pub const ROUNDS: Map<u64, RoundStakes> = Map::new("rounds");
pub const TOTALS: Item<TotalsResponse> = Item::new("totals");
