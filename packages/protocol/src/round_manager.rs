//! Messages of the round-manager contract: round lifecycle, participants, signed update
//! commitments, evaluator reports and settlement.

use cosmwasm_schema::{cw_serde, QueryResponses};
use cosmwasm_std::{Addr, Decimal, HexBinary, SignedDecimal, Uint128};

use crate::evaluation::{EvaluatorParams, EvaluatorVerdict};
use crate::report::UtilityTable;
use crate::rewards::{RewardParams, Score, Verdict};

/// Block counts of a round's three windows, from the block it opens in.
#[cw_serde]
#[derive(Copy, Eq)]
pub struct Schedule {
    /// Blocks during which participants may join (and already commit).
    pub join_blocks: u64,
    /// Blocks after joining closes during which commitments are accepted.
    pub train_blocks: u64,
    /// Blocks after commitments close during which evaluators commit their reports (a hash
    /// only).
    pub eval_blocks: u64,
    /// Blocks after that during which evaluators reveal the reports they committed.
    pub reveal_blocks: u64,
    /// Blocks after the reveal deadline during which anyone may dispute a revealed report
    /// (reports can be disputed from their reveal on); settlement starts after it.
    pub dispute_blocks: u64,
    /// Blocks after the dispute deadline by which settlement must be complete; a round not
    /// settled by then fails and every stake comes back.
    pub settle_blocks: u64,
}

/// Every DAO-governed constant of a round. A round copies them when it opens, so a change
/// applies from the next round on.
#[cw_serde]
pub struct RoundParams {
    pub schedule: Schedule,
    /// Fewer committed participants than this and the round fails.
    pub min_participants: u32,
    /// Most participants a round admits (bounds every loop over a round).
    pub max_participants: u32,
    /// Addresses allowed to bond and report.
    pub evaluators: Vec<String>,
    /// Revealed, undisputed reports needed before a round can settle: odd and at least 3
    /// (2f + 1 with f ≥ 1), so a minority of evaluators never sets a median.
    pub evaluator_quorum: u32,
    pub rewards: RewardParams,
    /// Bonds, pay, outliers, no-shows and disputes of evaluators.
    pub evaluation: EvaluatorParams,
    /// Largest Frobenius norm of an update's ΔW the relayer accepts (checked off chain).
    pub max_update_norm: Decimal,
}

/// What the participants train on; fixed when the round opens.
#[cw_serde]
pub struct RoundSpec {
    /// sha256 of the base model's weights file.
    pub base_model_hash: HexBinary,
    /// sha256 of the global adapter the round starts from (all zeros in round one).
    pub global_adapter_hash: HexBinary,
    /// sha256 of the evaluators' held-out validation set.
    pub validation_set_hash: HexBinary,
    /// Where participants read the task description.
    pub task_uri: String,
}

#[cw_serde]
pub struct InstantiateMsg {
    /// Who may change config and params (the DAO); the sender when omitted.
    pub owner: Option<String>,
    /// Who, besides the owner, may open rounds.
    pub operator: Option<String>,
    /// The escrow contract, which alone registers participants. Can be set later.
    pub escrow: Option<String>,
    pub params: RoundParams,
}

/// One participant's signed commitment to an update.
#[cw_serde]
pub struct SignedCommitment {
    pub participant: String,
    /// The participant's binding to its update:
    /// `sha256(BINDING_DOMAIN ‖ lp(participant) ‖ sha256(adapter_model.safetensors))`
    /// (see `fairshare_protocol::commitment::binding`). It names its participant, so a copy
    /// committed under another identity opens to no bundle of that identity.
    pub commitment: HexBinary,
    /// 64-byte low-S secp256k1 signature over the commitment digest.
    pub signature: HexBinary,
}

/// One evaluator's scores for every committed participant of a round.
#[cw_serde]
pub struct Report {
    /// sha256 of the aggregate adapter the evaluator built from all updates.
    pub aggregate_hash: HexBinary,
    /// sha256 of the evaluator's coalition utility table
    /// ([`crate::report::UtilityTable::hash`]), published with the round's bundles: every φ
    /// must follow from it, or a dispute slashes the evaluator.
    pub table_hash: HexBinary,
    /// U(N) − U(∅): the validation improvement of the full aggregate.
    pub delta_u: SignedDecimal,
    /// Degrees of freedom of the standard errors (validation batches, or sampled
    /// permutations, less one): the verdicts' t-test uses them.
    pub dof: u32,
    /// One score per committed participant.
    pub scores: Vec<ParticipantScore>,
}

#[cw_serde]
pub struct ParticipantScore {
    pub participant: String,
    pub value: SignedDecimal,
    pub std_error: Decimal,
}

// A message is deserialised once per call; boxing the parameters would only change its Rust
// constructors, not its JSON.
#[allow(clippy::large_enum_variant)]
#[cw_serde]
pub enum ExecuteMsg {
    /// Owner only: change who owns, operates and escrows.
    UpdateConfig {
        owner: Option<String>,
        operator: Option<String>,
        escrow: Option<String>,
    },
    /// Owner only: replace the round parameters (used from the next round on).
    UpdateParams { params: RoundParams },
    /// Owner or operator: open a new round with the current parameters.
    OpenRound { spec: RoundSpec },
    /// Escrow only: record a participant who has bonded `stake`. The public key must derive
    /// the participant's address.
    RegisterParticipant {
        round_id: u64,
        participant: String,
        pubkey: HexBinary,
        stake: Uint128,
    },
    /// Anyone (usually the relayer): post a batch of signed commitments. A participant that
    /// has already committed is skipped (named in the `skipped` attribute), so a copy of a
    /// commitment cannot fail a batch; any other invalid commitment fails the batch with its
    /// index.
    CommitUpdates {
        round_id: u64,
        commitments: Vec<SignedCommitment>,
    },
    /// Escrow only: record an evaluator of the round's list who has bonded `bond` (at least
    /// the round's `min_bond`), before it commits a report.
    RegisterEvaluator {
        round_id: u64,
        evaluator: String,
        bond: Uint128,
    },
    /// A bonded evaluator, while the round is Evaluating: commit to a report with its digest
    /// (`fairshare_protocol::report::digest`, which binds the evaluator and a 32-byte salt).
    /// Nothing of the report is visible until it is revealed.
    CommitReport { round_id: u64, digest: HexBinary },
    /// The evaluator, while the round is Revealing: open the committed report. Refused unless
    /// the report and salt hash to the committed digest.
    RevealReport {
        round_id: u64,
        report: Report,
        salt: HexBinary,
    },
    /// Escrow only (a challenger sends `dispute` to the escrow with its deposit): check a
    /// revealed report against the utility table it committed to. The contract recomputes
    /// every φ and ΔU from `table`; if they do not follow, the report is struck out and its
    /// evaluator slashed, the challenger's deposit returned with a bounty; if they do, the
    /// deposit is forfeited. A table that does not hash to the report's `table_hash` is
    /// refused (no evidence either way).
    Dispute {
        round_id: u64,
        evaluator: String,
        challenger: String,
        deposit: Uint128,
        table: UtilityTable,
    },
    /// Anyone: take the next page of a round's settlement (once its reports reached quorum),
    /// or fail a round that cannot settle. Call again until the round is Settled; `limit`
    /// bounds the work of one call in units (a participant costs 3 + ⌈reports / 2⌉ units in
    /// the scoring pass, 1 in each of the two passes after it; default and maximum 600).
    Settle { round_id: u64, limit: Option<u32> },
}

#[cw_serde]
#[derive(QueryResponses)]
pub enum QueryMsg {
    #[returns(ConfigResponse)]
    Config {},
    #[returns(RoundResponse)]
    Round { round_id: u64 },
    /// Rounds in ascending id order.
    #[returns(RoundsResponse)]
    Rounds {
        start_after: Option<u64>,
        limit: Option<u32>,
    },
    #[returns(ParticipantResponse)]
    Participant { round_id: u64, participant: String },
    /// Participants of a round in address order.
    #[returns(ParticipantsResponse)]
    Participants {
        round_id: u64,
        start_after: Option<String>,
        limit: Option<u32>,
    },
    /// Commitments of a round in participant order.
    #[returns(CommitmentsResponse)]
    Commitments {
        round_id: u64,
        start_after: Option<String>,
        limit: Option<u32>,
    },
    /// The bonded evaluators of a round, with where their reports are.
    #[returns(EvaluatorsResponse)]
    Evaluators { round_id: u64 },
    /// One evaluator's standing once the round has ended: verdict, agreement, pay, slash.
    #[returns(EvaluatorResult)]
    EvaluatorResult { round_id: u64, evaluator: String },
    /// Disputes of a round, by evaluator.
    #[returns(DisputesResponse)]
    Disputes { round_id: u64 },
    /// What a challenger's disputes in a round come to (what the escrow pays on claim).
    #[returns(ChallengerResult)]
    ChallengerResult { round_id: u64, challenger: String },
    /// Revealed evaluator reports of a round (without their scores) in evaluator order.
    #[returns(ReportsResponse)]
    Reports {
        round_id: u64,
        start_after: Option<String>,
        limit: Option<u32>,
    },
    /// The scores one evaluator revealed, in participant order (not found before its reveal).
    #[returns(ReportScoresResponse)]
    ReportScores {
        round_id: u64,
        evaluator: String,
        start_after: Option<String>,
        limit: Option<u32>,
    },
    /// One participant's settled result (what the escrow pays on claim).
    #[returns(ParticipantResult)]
    Result { round_id: u64, participant: String },
    /// Settled results of a round in participant order.
    #[returns(ResultsResponse)]
    Results {
        round_id: u64,
        start_after: Option<String>,
        limit: Option<u32>,
    },
}

#[cw_serde]
pub struct ConfigResponse {
    pub owner: Addr,
    pub operator: Option<Addr>,
    pub escrow: Option<Addr>,
    pub params: RoundParams,
    /// Id the next opened round gets.
    pub next_round_id: u64,
}

/// Where a round is in its life.
#[cw_serde]
#[derive(Copy, Eq)]
pub enum Phase {
    /// Joining (and early commits) allowed.
    Open,
    /// Joining closed; commitments accepted.
    Training,
    /// Commitments closed; bonded evaluators commit to their reports.
    Evaluating,
    /// Evaluators reveal the reports they committed to.
    Revealing,
    /// Reveals closed with a quorum; revealed reports may be disputed.
    Challenging,
    /// Settlement goes on page by page (`Settle`) until the settle deadline.
    Settling,
    /// Rewards and slashes fixed; claims open.
    Settled,
    /// Too few commitments or reports by the deadline, or settlement not complete by the
    /// settle deadline; stakes go back. Becomes final when `Settle` is called.
    Failed,
}

/// Block heights at which a round's windows close.
#[cw_serde]
#[derive(Copy, Eq)]
pub struct Deadlines {
    pub opened_at: u64,
    pub join_until: u64,
    pub commit_until: u64,
    /// Report commitments close (and reveals open) here.
    pub report_until: u64,
    pub reveal_until: u64,
    pub dispute_until: u64,
    /// A round not settled by this height fails.
    pub settle_until: u64,
}

/// Figures fixed at settlement.
#[cw_serde]
pub struct SettlementSummary {
    pub delta_u: SignedDecimal,
    pub pool: Uint128,
    pub dust: Uint128,
    pub total_slashed: Uint128,
    /// Evaluators beyond the outlier fraction of the consensus (unpaid; slashed if deviant).
    pub outliers: Vec<Addr>,
    /// Tokens set aside for the evaluators (their share of the budget, under the cap).
    pub evaluator_pool: Uint128,
    /// Tokens paid to evaluators (the rest of their pool is dust).
    pub evaluator_rewards: Uint128,
    /// The one-sided critical value of the harmful test (Student-t at the round's α).
    pub t_critical: Decimal,
    pub settled_at: u64,
}

#[cw_serde]
pub struct RoundResponse {
    pub id: u64,
    pub spec: RoundSpec,
    pub params: RoundParams,
    pub deadlines: Deadlines,
    /// The phase at the current block.
    pub phase: Phase,
    pub joined: u32,
    pub committed: u32,
    /// Evaluators that have bonded for the round.
    pub evaluators_bonded: u32,
    /// Report commitments received.
    pub report_commitments: u32,
    /// Revealed reports that have not been struck out by a dispute.
    pub reports: u32,
    /// Participants processed by settlement so far, in its current pass (1 to 3).
    pub settle_progress: Option<SettleProgress>,
    pub settlement: Option<SettlementSummary>,
}

/// How far a paged settlement has come.
#[cw_serde]
#[derive(Copy, Eq)]
pub struct SettleProgress {
    /// 1: scoring (medians), 2: weighing (verdicts, slashes), 3: paying (rewards).
    pub pass: u8,
    /// Participants done in this pass.
    pub done: u32,
}

#[cw_serde]
pub struct RoundsResponse {
    pub rounds: Vec<RoundResponse>,
}

#[cw_serde]
pub struct ParticipantResponse {
    pub participant: Addr,
    pub pubkey: HexBinary,
    pub stake: Uint128,
    pub joined_at: u64,
    /// Its committed binding, once committed.
    pub commitment: Option<HexBinary>,
}

#[cw_serde]
pub struct ParticipantsResponse {
    pub participants: Vec<ParticipantResponse>,
}

#[cw_serde]
pub struct CommitmentInfo {
    pub participant: Addr,
    /// The participant's binding to its update hash.
    pub commitment: HexBinary,
    pub committed_at: u64,
}

#[cw_serde]
pub struct CommitmentsResponse {
    pub commitments: Vec<CommitmentInfo>,
}

#[cw_serde]
pub struct ReportInfo {
    pub evaluator: Addr,
    pub aggregate_hash: HexBinary,
    pub table_hash: HexBinary,
    pub delta_u: SignedDecimal,
    pub dof: u32,
    pub revealed_at: u64,
}

/// A bonded evaluator of a round.
#[cw_serde]
pub struct EvaluatorInfo {
    pub evaluator: Addr,
    pub bond: Uint128,
    /// The committed digest, once committed.
    pub digest: Option<HexBinary>,
    pub revealed_at: Option<u64>,
    /// Whether a dispute struck its report out.
    pub struck_out: bool,
}

#[cw_serde]
pub struct EvaluatorsResponse {
    pub evaluators: Vec<EvaluatorInfo>,
}

/// An evaluator's standing in an ended round.
#[cw_serde]
pub struct EvaluatorResult {
    pub evaluator: Addr,
    pub bond: Uint128,
    pub verdict: EvaluatorVerdict,
    /// `1 − deviation / (outlier_fraction · Σ|φ*|)`, clamped at zero.
    pub agreement: Decimal,
    pub reward: Uint128,
    pub slash: Uint128,
    /// Height from which the bond can be claimed: the round's end plus the appeal window,
    /// during which the DAO may still penalise the evaluator.
    pub claimable_from: u64,
}

/// One dispute and its outcome.
#[cw_serde]
pub struct DisputeInfo {
    pub evaluator: Addr,
    pub challenger: Addr,
    pub deposit: Uint128,
    /// True: the report's scores did not follow from its table; it was struck out.
    pub upheld: bool,
    /// What did not follow, in words (empty when the report was consistent).
    pub findings: Vec<String>,
    pub at: u64,
}

#[cw_serde]
pub struct DisputesResponse {
    pub disputes: Vec<DisputeInfo>,
}

/// A challenger's position in a round: its deposits, and what comes back to it once the round
/// has ended (deposits of upheld disputes plus bounties; nothing of rejected ones).
#[cw_serde]
pub struct ChallengerResult {
    pub challenger: Addr,
    pub deposits: Uint128,
    pub upheld: u32,
    pub rejected: u32,
    pub stake_return: Uint128,
}

#[cw_serde]
pub struct ReportScoresResponse {
    pub scores: Vec<ParticipantScore>,
}

#[cw_serde]
pub struct ReportsResponse {
    pub reports: Vec<ReportInfo>,
}

#[cw_serde]
pub struct ParticipantResult {
    pub participant: Addr,
    /// Median score across reports; `None` for a no-show.
    pub score: Option<Score>,
    pub verdict: Verdict,
    pub stake: Uint128,
    pub reward: Uint128,
    pub slash: Uint128,
}

#[cw_serde]
pub struct ResultsResponse {
    pub results: Vec<ParticipantResult>,
}

#[cw_serde]
pub struct MigrateMsg {}
