//! Every storage item of the round-manager, with its key.

use cosmwasm_schema::cw_serde;
use cosmwasm_std::{Addr, HexBinary, Uint128};
use cw_storage_plus::{Item, Map};
use fairshare_protocol::round_manager::{
    Deadlines, Report, RoundParams, RoundSpec, SettlementSummary,
};

#[cw_serde]
pub struct Config {
    pub owner: Addr,
    pub operator: Option<Addr>,
    pub escrow: Option<Addr>,
}

/// Whether a round has been closed for good; its live phase is derived from the block height.
#[cw_serde]
pub enum Closure {
    Active,
    Settled(SettlementSummary),
    Failed { at: u64 },
}

#[cw_serde]
pub struct Round {
    pub id: u64,
    pub spec: RoundSpec,
    /// The parameters in force when the round opened.
    pub params: RoundParams,
    pub deadlines: Deadlines,
    pub joined: u32,
    pub committed: u32,
    pub reports: u32,
    pub closure: Closure,
}

#[cw_serde]
pub struct Participant {
    pub pubkey: HexBinary,
    pub stake: Uint128,
    pub joined_at: u64,
}

#[cw_serde]
pub struct Commitment {
    pub update_hash: HexBinary,
    pub committed_at: u64,
}

#[cw_serde]
pub struct StoredReport {
    pub report: Report,
    pub reported_at: u64,
}

pub const CONFIG: Item<Config> = Item::new("config");
pub const PARAMS: Item<RoundParams> = Item::new("params");
pub const NEXT_ROUND_ID: Item<u64> = Item::new("next_round_id");
pub const ROUNDS: Map<u64, Round> = Map::new("rounds");
pub const PARTICIPANTS: Map<(u64, &Addr), Participant> = Map::new("participants");
pub const COMMITMENTS: Map<(u64, &Addr), Commitment> = Map::new("commitments");
/// (round, update hash) → participant: a copied update is refused.
pub const UPDATE_HASHES: Map<(u64, &[u8]), Addr> = Map::new("update_hashes");
pub const REPORTS: Map<(u64, &Addr), StoredReport> = Map::new("reports");
pub const RESULTS: Map<(u64, &Addr), fairshare_protocol::round_manager::ParticipantResult> =
    Map::new("results");
