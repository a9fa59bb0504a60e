//! Every storage item of the round-manager, with its key. Records written once per
//! participant (commitments, scores, medians) live in [`crate::compact`].

use cosmwasm_schema::cw_serde;
use cosmwasm_std::{Addr, Binary, HexBinary, SignedDecimal, Uint128, Uint256};
use cw_storage_plus::{Item, Map};
use fairshare_protocol::rewards::Gain;
use fairshare_protocol::round_manager::{Deadlines, RoundParams, RoundSpec, SettlementSummary};

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
    /// Bit i set: evaluator i of `params.evaluators` has reported.
    pub reporters: u64,
    pub closure: Closure,
    /// Set by the first settle page; kept after settlement (its figures price every result).
    pub settling: Option<Settling>,
}

impl Round {
    /// Reports received so far.
    pub fn reports(&self) -> u32 {
        self.reporters.count_ones()
    }
}

/// The three passes of a paged settlement.
#[cw_serde]
#[derive(Copy, Eq)]
pub enum Pass {
    /// Median score of each participant, and the created value G.
    Scoring,
    /// Verdicts, slashes and the pool's total weight.
    Weighing,
    /// Rewards, summed to fix the dust.
    Paying,
}

/// Where a paged settlement is, and what its passes have summed so far.
#[cw_serde]
pub struct Settling {
    pub pass: Pass,
    /// Last key done in this pass: the participant's address in the scoring pass, its
    /// canonical address after.
    pub cursor: Option<Binary>,
    /// Participants done in this pass.
    pub done: u32,
    pub delta_u: SignedDecimal,
    pub gain: Gain,
    pub total_weight: Uint256,
    pub slashed: Uint128,
    /// The pool, fixed (and reserved in the escrow) when weighing ends.
    pub pool: Uint128,
    pub paid: Uint128,
    /// Bit i set: evaluator i was an outlier for some participant.
    pub outliers: u64,
}

#[cw_serde]
pub struct Participant {
    pub pubkey: HexBinary,
    pub stake: Uint128,
    pub joined_at: u64,
}

/// An evaluator's report without its scores (those are in `compact::SCORES`).
#[cw_serde]
pub struct StoredReport {
    /// Position of the evaluator in the round's evaluator list.
    pub index: u8,
    pub aggregate_hash: HexBinary,
    pub delta_u: SignedDecimal,
    pub reported_at: u64,
}

pub const CONFIG: Item<Config> = Item::new("config");
pub const PARAMS: Item<RoundParams> = Item::new("params");
pub const NEXT_ROUND_ID: Item<u64> = Item::new("next_round_id");
pub const ROUNDS: Map<u64, Round> = Map::new("rounds");
pub const PARTICIPANTS: Map<(u64, &Addr), Participant> = Map::new("participants");
pub const REPORTS: Map<(u64, &Addr), StoredReport> = Map::new("reports");
