//! Every storage item of the round-manager, with its key. Records written once per
//! participant (commitments, scores, medians) live in [`crate::compact`].

use cosmwasm_schema::cw_serde;
use cosmwasm_std::{Addr, Binary, Decimal, HexBinary, SignedDecimal, Uint128, Uint256};
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
    /// Bit i set: evaluator i of `params.evaluators` has bonded for the round.
    pub bonded: u64,
    /// Bit i set: evaluator i has committed to a report.
    pub report_commits: u64,
    /// Bit i set: evaluator i has revealed its report and no dispute has struck it out.
    pub reporters: u64,
    /// Bit i set: a dispute struck evaluator i's report out.
    pub struck: u64,
    pub closure: Closure,
    /// Set by the first settle page; kept after settlement (its figures price every result).
    pub settling: Option<Settling>,
}

impl Round {
    /// Revealed reports that count (not struck out).
    pub fn reports(&self) -> u32 {
        self.reporters.count_ones()
    }

    /// Positions of the evaluators whose bits are set in `bits`.
    pub fn positions(&self, bits: u64) -> impl Iterator<Item = u8> {
        (0..64u8).filter(move |i| bits & (1u64 << i) != 0)
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
    /// The harmful test's critical value t(α, ν), ν the reports' weighted median dof.
    pub t: Decimal,
    /// Bond of each evaluator position whose report counts (zero elsewhere).
    pub bonds: Vec<Uint128>,
    /// Σᵢ |φₑ,ᵢ − φ*ᵢ| of each evaluator position, summed in the scoring pass.
    pub deviations: Vec<Decimal>,
    /// Σᵢ |φ*ᵢ| and Σᵢ se*ᵢ: they give the scale deviations are judged against
    /// (`fairshare_protocol::evaluation::judging_scale`).
    pub scale: Decimal,
    pub noise: Decimal,
    /// Tokens set aside for the evaluators (zero if none earns a share).
    pub evaluator_pool: Uint128,
    /// Σ bond × agreement of the evaluators, fixed when scoring ends.
    pub evaluator_weight: Uint256,
}

#[cw_serde]
pub struct Participant {
    pub pubkey: HexBinary,
    pub stake: Uint128,
    pub joined_at: u64,
}

/// An evaluator's revealed report without its scores (those are in `compact::SCORES`).
#[cw_serde]
pub struct StoredReport {
    /// Position of the evaluator in the round's evaluator list.
    pub index: u8,
    pub aggregate_hash: HexBinary,
    pub table_hash: HexBinary,
    pub delta_u: SignedDecimal,
    pub dof: u32,
    pub revealed_at: u64,
}

/// A bonded evaluator of a round.
#[cw_serde]
pub struct EvaluatorBond {
    /// Position of the evaluator in the round's evaluator list.
    pub index: u8,
    pub bond: Uint128,
    /// Its report commitment, once committed.
    pub digest: Option<HexBinary>,
}

/// A decided dispute of one evaluator's report.
#[cw_serde]
pub struct StoredDispute {
    pub challenger: Addr,
    pub deposit: Uint128,
    pub upheld: bool,
    pub findings: Vec<String>,
    pub at: u64,
}

pub const CONFIG: Item<Config> = Item::new("config");
pub const PARAMS: Item<RoundParams> = Item::new("params");
pub const NEXT_ROUND_ID: Item<u64> = Item::new("next_round_id");
pub const ROUNDS: Map<u64, Round> = Map::new("rounds");
pub const PARTICIPANTS: Map<(u64, &Addr), Participant> = Map::new("participants");
pub const REPORTS: Map<(u64, &Addr), StoredReport> = Map::new("reports");
pub const EVALUATORS: Map<(u64, &Addr), EvaluatorBond> = Map::new("evaluators");
/// Keyed by the disputed evaluator: a report's table fixes the outcome, so one dispute decides.
pub const DISPUTES: Map<(u64, &Addr), StoredDispute> = Map::new("disputes");
