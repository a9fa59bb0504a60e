//! Messages of the DAO contract: stake the CW20 to vote, proposals with a deposit, votes read
//! at the proposal's start height, timelocked execution of the DAO's own messages.
//!
//! How a client uses it:
//! - **stake**: CW20 `Send { contract: dao, amount, msg: to_json_binary(&ReceiveMsg::Stake {}) }`;
//! - **unstake**: [`ExecuteMsg::Unstake`], then [`ExecuteMsg::Claim`] once the unbonding
//!   period has passed;
//! - **propose**: CW20 `Send` of exactly the configured deposit with
//!   [`ReceiveMsg::Propose`]. The deposit is refunded when the proposal passes (on its first
//!   execution, or when it is closed after expiring unexecuted) or when a rejected proposal
//!   that reached quorum is closed; a proposal that ends without quorum forfeits it to the
//!   DAO treasury. A proposal may carry only bank and wasm messages, and toward the staking
//!   token only CW20 `Transfer`, `Send` and `Burn` (see [`ReceiveMsg::Propose`]);
//! - **vote**: [`ExecuteMsg::Vote`] with the power staked at the start of the proposal's block;
//! - **execute**: [`ExecuteMsg::Execute`], by anyone, once passed and past its timelock, and
//!   before its execution window ends (then it is [`Status::Expired`]).
//!
//! `Duration` and `Expiration` have the JSON shape of `cw_utils`' types of the same names
//! (`{"height": 5}`, `{"at_time": "1700000000000000000"}`), so any CosmWasm client reads them.

use cosmwasm_schema::{cw_serde, QueryResponses};
use cosmwasm_std::{Addr, CosmosMsg, Decimal, Timestamp, Uint128};
use cw20::Cw20ReceiveMsg;

/// A span of blocks or seconds (same JSON as `cw_utils::Duration`).
#[cw_serde]
#[derive(Copy, Eq)]
pub enum Duration {
    /// A number of blocks.
    Height(u64),
    /// A number of seconds.
    Time(u64),
}

/// A point in the chain's future (same JSON as `cw_utils::Expiration`).
#[cw_serde]
#[derive(Copy, Eq)]
pub enum Expiration {
    /// At the start of this block height.
    AtHeight(u64),
    /// At this block time.
    AtTime(Timestamp),
    /// Never.
    Never {},
}

/// The DAO's rules, as set at instantiation and changed only by its own proposals.
#[cw_serde]
pub struct Config {
    /// The CW20 staked for voting power and paid as deposits.
    pub token: Addr,
    /// How long unstaked tokens wait before they can be claimed.
    pub unbonding_period: Duration,
    /// How long a proposal is open for votes.
    pub voting_period: Duration,
    /// Share of the total power (at the proposal's start) that must vote, abstentions
    /// included, for a proposal to be valid: 0 < quorum ≤ 1.
    pub quorum: Decimal,
    /// Share of the yes + no votes that yes must exceed for a proposal to pass
    /// (at 100%, every non-abstaining vote must be yes): 0 < threshold ≤ 1.
    pub threshold: Decimal,
    /// Whether a voter may change their vote while the proposal is open. When allowed, a
    /// proposal is decided only at the end of its voting period.
    pub allow_revoting: bool,
    /// Wait between a proposal passing and its execution; the same unit as `voting_period`.
    /// Must be at least `unbonding_period` (and in the same unit), so that stakers who oppose
    /// a passed proposal can unstake and claim before it runs; may be omitted only when the
    /// unbonding period is zero.
    pub timelock: Option<Duration>,
    /// How long a passed proposal stays executable once its timelock has ended; after that
    /// it is [`Status::Expired`] and can only be closed. Greater than zero, the same unit as
    /// `voting_period`.
    pub execution_window: Duration,
    /// Tokens (of `token`) a proposer sends with a proposal; must be > 0.
    pub deposit: Uint128,
}

/// Rules of the DAO as sent in a message; the token is fixed at instantiation.
#[cw_serde]
pub struct ConfigUpdate {
    /// See [`Config::unbonding_period`].
    pub unbonding_period: Duration,
    /// See [`Config::voting_period`].
    pub voting_period: Duration,
    /// See [`Config::quorum`].
    pub quorum: Decimal,
    /// See [`Config::threshold`].
    pub threshold: Decimal,
    /// See [`Config::allow_revoting`].
    pub allow_revoting: bool,
    /// See [`Config::timelock`].
    pub timelock: Option<Duration>,
    /// See [`Config::execution_window`].
    pub execution_window: Duration,
    /// See [`Config::deposit`].
    pub deposit: Uint128,
}

#[cw_serde]
pub struct InstantiateMsg {
    /// Address of the CW20 staked for voting power (the incentive token).
    pub token: String,
    /// The DAO's rules, validated as [`ExecuteMsg::UpdateConfig`] validates them.
    pub rules: ConfigUpdate,
}

#[cw_serde]
pub enum ExecuteMsg {
    /// CW20 hook: `Send` the DAO's token with a [`ReceiveMsg`] to stake or to propose.
    Receive(Cw20ReceiveMsg),
    /// Start unbonding `amount` of one's stake; voting power drops now, the tokens can be
    /// claimed after the unbonding period.
    Unstake { amount: Uint128 },
    /// Take back every unbonded claim that has matured.
    Claim {},
    /// Vote on an open proposal with the power staked at its start height.
    Vote { proposal_id: u64, vote: Vote },
    /// Anyone: run a passed proposal's messages, once its timelock has passed and before its
    /// execution window ends. If they fail, the proposal stays executable (until the window
    /// ends) and records the error.
    Execute { proposal_id: u64 },
    /// Anyone: close a rejected or expired proposal, settling its deposit.
    Close { proposal_id: u64 },
    /// The DAO itself only (through a proposal): replace its rules. Open proposals keep the
    /// rules they were created with.
    UpdateConfig { rules: ConfigUpdate },
    /// The DAO itself only, during `Execute`: dispatches the proposal's messages as one
    /// atomic unit. Not callable by anyone else.
    RunProposal { proposal_id: u64 },
}

/// Messages carried by a CW20 `Send` to the DAO.
#[cw_serde]
pub enum ReceiveMsg {
    /// Stake the sent tokens for the sender.
    Stake {},
    /// Open a proposal; the sent tokens are its deposit and must equal the configured one.
    ///
    /// `msgs` may hold only `bank` and `wasm` messages: other kinds (`stargate`, `any`,
    /// `custom`, ...) could wrap a call on the staking token that the DAO cannot inspect. On
    /// the staking token itself only CW20 `transfer`, `send` and `burn` are accepted (the DAO
    /// checks after execution that its balance still covers every stake, claim and deposit);
    /// allowances, `*_from` spends, minter or marketing changes, and wasm `migrate`,
    /// `update_admin` or `clear_admin` of the token are refused, since they could spend the
    /// stakers' locked tokens.
    Propose {
        title: String,
        description: String,
        msgs: Vec<CosmosMsg>,
    },
}

/// A voter's choice.
#[cw_serde]
#[derive(Copy, Eq)]
pub enum Vote {
    /// For the proposal.
    Yes,
    /// Against the proposal.
    No,
    /// Counts toward quorum only.
    Abstain,
}

/// Where a proposal is in its life.
#[cw_serde]
#[derive(Copy, Eq)]
pub enum Status {
    /// Accepting votes.
    Open,
    /// Passed; executable once the timelock (if any) has passed, until its execution window
    /// ends.
    Passed,
    /// Failed quorum or threshold; can be closed.
    Rejected,
    /// Its messages ran successfully.
    Executed,
    /// Rejected or expired, then closed; its deposit settled.
    Closed,
    /// Passed but not executed before its execution window ended; can be closed, which
    /// refunds the deposit if it is still held.
    Expired,
}

/// What happened to a proposal's deposit.
#[cw_serde]
#[derive(Copy, Eq)]
pub enum DepositStatus {
    /// Held by the DAO until the proposal is executed or closed.
    Held,
    /// Returned to the proposer.
    Refunded,
    /// Kept by the DAO treasury (the proposal ended without quorum).
    Forfeited,
}

/// Vote tallies of a proposal.
#[cw_serde]
#[derive(Copy, Default, Eq)]
pub struct Tally {
    pub yes: Uint128,
    pub no: Uint128,
    pub abstain: Uint128,
}

#[cw_serde]
#[derive(QueryResponses)]
pub enum QueryMsg {
    /// The DAO's current rules.
    #[returns(Config)]
    Config {},
    /// One proposal, with its status at the current block.
    #[returns(ProposalResponse)]
    Proposal { proposal_id: u64 },
    /// Proposals in ascending id order, optionally only those with a given status.
    #[returns(ProposalsResponse)]
    Proposals {
        status: Option<Status>,
        start_after: Option<u64>,
        limit: Option<u32>,
    },
    /// One voter's ballot on a proposal, if any. (Named `vote_of`, not `vote`, so that a
    /// generated client's query and execute methods do not collide.)
    #[returns(VoteResponse)]
    VoteOf { proposal_id: u64, voter: String },
    /// Ballots of a proposal in voter address order.
    #[returns(VotesResponse)]
    Votes {
        proposal_id: u64,
        start_after: Option<String>,
        limit: Option<u32>,
    },
    /// An address's voting power at the start of block `height` (the current block when
    /// omitted).
    #[returns(PowerResponse)]
    VotingPower {
        address: String,
        height: Option<u64>,
    },
    /// Total voting power at the start of block `height` (the current block when omitted).
    #[returns(PowerResponse)]
    TotalPower { height: Option<u64> },
    /// An address's current stake and unbonding claims.
    #[returns(StakeResponse)]
    Stake { address: String },
    /// The tokens the DAO holds for others (stakes, claims, deposits): it never spends them.
    #[returns(LockedResponse)]
    Locked {},
}

#[cw_serde]
pub struct ProposalResponse {
    pub id: u64,
    pub proposer: Addr,
    pub title: String,
    pub description: String,
    pub msgs: Vec<CosmosMsg>,
    /// Status at the current block.
    pub status: Status,
    /// Votes read voting power at the start of this block.
    pub start_height: u64,
    /// End of the voting period.
    pub expires: Expiration,
    /// Total voting power at `start_height`.
    pub total_power: Uint128,
    pub tally: Tally,
    /// Rules copied from the config when the proposal opened.
    pub quorum: Decimal,
    pub threshold: Decimal,
    pub allow_revoting: bool,
    /// When a passed proposal becomes executable (`None` until it has passed).
    pub executable_at: Option<Expiration>,
    /// When a passed proposal stops being executable and becomes [`Status::Expired`]
    /// (`None` until it has passed).
    pub executable_until: Option<Expiration>,
    pub deposit: Uint128,
    pub deposit_status: DepositStatus,
    /// Error of the last failed execution, if any.
    pub execution_error: Option<String>,
}

#[cw_serde]
pub struct ProposalsResponse {
    pub proposals: Vec<ProposalResponse>,
}

/// One ballot.
#[cw_serde]
pub struct VoteInfo {
    pub voter: Addr,
    pub vote: Vote,
    pub power: Uint128,
}

#[cw_serde]
pub struct VoteResponse {
    pub vote: Option<VoteInfo>,
}

#[cw_serde]
pub struct VotesResponse {
    pub votes: Vec<VoteInfo>,
}

#[cw_serde]
pub struct PowerResponse {
    pub power: Uint128,
    pub height: u64,
}

/// Unstaked tokens waiting for their unbonding period.
#[cw_serde]
pub struct Claim {
    pub amount: Uint128,
    pub release_at: Expiration,
}

#[cw_serde]
pub struct StakeResponse {
    pub staked: Uint128,
    pub claims: Vec<Claim>,
}

#[cw_serde]
pub struct LockedResponse {
    /// Tokens staked for voting power.
    pub staked: Uint128,
    /// Tokens unstaked and not yet claimed.
    pub unbonding: Uint128,
    /// Deposits of proposals not yet executed or closed.
    pub deposits: Uint128,
}

#[cw_serde]
pub struct MigrateMsg {}

impl std::fmt::Display for Duration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Duration::Height(blocks) => write!(f, "{blocks} blocks"),
            Duration::Time(seconds) => write!(f, "{seconds} seconds"),
        }
    }
}

impl std::fmt::Display for Expiration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expiration::AtHeight(height) => write!(f, "height {height}"),
            Expiration::AtTime(time) => write!(f, "time {} s", time.seconds()),
            Expiration::Never {} => write!(f, "never"),
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Open => "open",
            Status::Passed => "passed",
            Status::Rejected => "rejected",
            Status::Executed => "executed",
            Status::Closed => "closed",
            Status::Expired => "expired",
        })
    }
}

impl std::fmt::Display for Vote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Vote::Yes => "yes",
            Vote::No => "no",
            Vote::Abstain => "abstain",
        })
    }
}

impl std::fmt::Display for DepositStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DepositStatus::Held => "held",
            DepositStatus::Refunded => "refunded",
            DepositStatus::Forfeited => "forfeited",
        })
    }
}
