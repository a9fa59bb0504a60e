//! Every way a DAO message can fail, each with what to do about it.

use cosmwasm_std::{Addr, Decimal, OverflowError, StdError, Uint128};
use fairshare_protocol::dao::{Duration, Expiration, Status};
use thiserror::Error;

#[derive(Error, Debug, PartialEq)]
pub enum ContractError {
    #[error(transparent)]
    Std(#[from] StdError),

    #[error(transparent)]
    Overflow(#[from] OverflowError),

    #[error("only the DAO itself may do this: submit it as a proposal")]
    NotDao,

    #[error("RunProposal is internal to Execute: call Execute {{ proposal_id }} instead")]
    InternalOnly,

    #[error("this DAO only accepts its token {token}; the hook came from {sender}")]
    WrongToken { token: Addr, sender: Addr },

    #[error("{name} must be greater than 0 and at most 1 (0.5 is 50%), got {value}")]
    InvalidShare { name: &'static str, value: Decimal },

    #[error("{name} must be longer than zero")]
    ZeroDuration { name: &'static str },

    #[error("{name} is too long: at most {max_blocks} blocks or {max_seconds} seconds")]
    DurationTooLong {
        name: &'static str,
        max_blocks: u64,
        max_seconds: u64,
    },

    #[error("{name} must be counted in the same unit (blocks or seconds) as {other}")]
    UnitMismatch {
        name: &'static str,
        other: &'static str,
    },

    #[error("with an unbonding period of {unbonding_period}, a timelock of at least that long is required, so that stakers who oppose a passed proposal can unstake and claim before it runs")]
    MissingTimelock { unbonding_period: Duration },

    #[error("the timelock ({timelock}) is shorter than the unbonding period ({unbonding_period}): stakers who oppose a passed proposal could not unstake and claim before it runs; set a timelock of at least {unbonding_period}")]
    TimelockShorterThanUnbonding {
        timelock: Duration,
        unbonding_period: Duration,
    },

    #[error("the proposal deposit must be greater than zero")]
    ZeroDeposit,

    #[error("a proposal needs a deposit of exactly {required} tokens; {sent} were sent")]
    WrongDeposit { required: Uint128, sent: Uint128 },

    #[error("a proposal needs a non-empty title")]
    EmptyTitle,

    #[error("nothing is staked yet, so no one could vote: stake tokens before proposing")]
    NoTotalPower,

    #[error("the amount must be greater than zero")]
    ZeroAmount,

    #[error("cannot unstake {requested}: only {staked} is staked")]
    InsufficientStake { requested: Uint128, staked: Uint128 },

    #[error("{max} unbonding claims are pending: claim the matured ones before unstaking again")]
    TooManyClaims { max: usize },

    #[error("no unbonding claim has matured yet")]
    NothingToClaim,

    #[error("proposal {0} does not exist")]
    NoSuchProposal(u64),

    #[error("proposal {proposal_id} is {status}, not open for votes")]
    NotOpen { proposal_id: u64, status: Status },

    #[error("{voter} had no stake when proposal {proposal_id} opened (height {height}): only stake held before a proposal opens can vote on it")]
    NoVotingPower {
        voter: Addr,
        proposal_id: u64,
        height: u64,
    },

    #[error("{voter} already voted on proposal {proposal_id}, and this proposal does not allow revoting")]
    AlreadyVoted { voter: Addr, proposal_id: u64 },

    #[error("{voter} already votes {vote} on proposal {proposal_id}")]
    VoteUnchanged {
        voter: Addr,
        proposal_id: u64,
        vote: fairshare_protocol::dao::Vote,
    },

    #[error("proposal {proposal_id} is {status}: only a passed proposal can be executed")]
    NotPassed { proposal_id: u64, status: Status },

    #[error("proposal {proposal_id} is timelocked: it can be executed from {until}")]
    Timelocked { proposal_id: u64, until: Expiration },

    #[error(
        "proposal {proposal_id} is {status}: only a rejected or expired proposal can be closed"
    )]
    NotClosable { proposal_id: u64, status: Status },

    #[error("these messages would leave the DAO {balance} tokens while it holds {locked} for stakers, unbonding claims and deposits; spend only the treasury")]
    WouldSpendLocked { balance: Uint128, locked: Uint128 },

    #[error("msgs[{index}] is a `{kind}` message: a proposal may carry only bank and wasm messages, because other kinds (stargate, any, custom, ...) could wrap a call on the staking token that the DAO cannot inspect")]
    MessageKindNotAllowed { index: usize, kind: String },

    #[error("msgs[{index}] is a `{kind}` on the staking token {token}: toward its own token a proposal may only `transfer`, `send` or `burn` (the DAO checks afterwards that its balance still covers the stakes); allowances, `*_from` spends, minter or marketing changes, migrations and admin changes could spend the stakers' locked tokens")]
    StakingTokenMessageNotAllowed {
        index: usize,
        kind: String,
        token: Addr,
    },

    #[error("this address holds the contract {found}, not {expected}: the DAO's code can only replace a DAO")]
    WrongContract {
        expected: &'static str,
        found: String,
    },
}
