//! Every storage item of the escrow, with its key.

use cosmwasm_schema::cw_serde;
use cosmwasm_std::{Addr, Uint128};
use cw_storage_plus::{Item, Map};
use fairshare_protocol::escrow::{StakeStatus, TotalsResponse};

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
    pub ending: Option<Ending>,
}

pub const CONFIG: Item<Config> = Item::new("config");
pub const STAKES: Map<(u64, &Addr), Stake> = Map::new("stakes");
pub const ROUNDS: Map<u64, RoundStakes> = Map::new("rounds");
pub const TOTALS: Item<TotalsResponse> = Item::new("totals");
