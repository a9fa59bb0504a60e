use cosmwasm_std::{StdError, Uint128};
use fairshare_protocol::commitment::PubkeyError;
use fairshare_protocol::rewards::RewardParamsError;
use fairshare_protocol::round_manager::Phase;
use thiserror::Error;

/// Everything the round-manager refuses, with a message a user can act on.
#[derive(Error, Debug, PartialEq)]
pub enum ContractError {
    #[error(transparent)]
    Std(#[from] StdError),

    #[error("only the owner may do this")]
    NotOwner,
    #[error("only the owner or the operator may open a round")]
    NotOperator,
    #[error("only the escrow contract may register participants and evaluators and file disputes")]
    NotEscrow,
    #[error("no escrow contract is configured yet")]
    EscrowNotSet,
    #[error("{0} is not an evaluator of round {1}")]
    NotEvaluator(String, u64),

    #[error("invalid parameters: {0}")]
    InvalidParams(String),
    #[error(transparent)]
    InvalidRewardParams(#[from] RewardParamsError),
    #[error("{field} must be {expected} bytes, got {got}")]
    BadLength {
        field: &'static str,
        expected: usize,
        got: usize,
    },

    #[error("round {0} does not exist")]
    RoundNotFound(u64),
    #[error("round {round_id} is {phase:?}; this needs it to be {expected}")]
    WrongPhase {
        round_id: u64,
        phase: Phase,
        expected: &'static str,
    },
    #[error("round {0} is full ({1} participants)")]
    RoundFull(u64, u32),
    #[error("{0} has already joined round {1}")]
    AlreadyJoined(String, u64),
    #[error("stake must be greater than zero")]
    ZeroStake,
    #[error("public key does not derive address {0}")]
    PubkeyMismatch(String),
    #[error("bad public key: {0}")]
    BadPubkey(#[from] PubkeyError),

    #[error("the batch is empty")]
    EmptyBatch,
    #[error("the batch has {0} commitments; at most {1} are allowed")]
    BatchTooLarge(usize, u32),
    #[error("commitment {index}: {participant} has not joined round {round_id}")]
    NotParticipant {
        index: usize,
        participant: String,
        round_id: u64,
    },
    #[error("commitment {index}: the signature of {participant} has a high S; sign again and normalise it to low S (s ≤ n/2)")]
    HighS { index: usize, participant: String },
    #[error("commitment {index}: the signature of {participant} does not verify")]
    BadSignature { index: usize, participant: String },

    #[error("{0} is an evaluator of round {1} and cannot also join it as a participant")]
    EvaluatorCannotJoin(String, u64),
    #[error("{0} has already bonded for round {1}")]
    AlreadyBonded(String, u64),
    #[error("an evaluator bond of {bond} is below the round's minimum of {min}")]
    BondTooSmall { bond: Uint128, min: Uint128 },
    #[error(
        "{0} has not bonded for round {1}; bond in the escrow (serve) before committing a report"
    )]
    NotBonded(String, u64),
    #[error("{0} has already committed a report for round {1}")]
    AlreadyCommitted(String, u64),
    #[error("{0} committed no report in round {1}, so there is nothing to reveal")]
    NothingToReveal(String, u64),
    #[error("{0} has already revealed its report for round {1}")]
    AlreadyReported(String, u64),
    #[error("the revealed report and salt do not hash to the digest {0} committed; a report can only be opened by the evaluator that committed it, with the exact report and salt")]
    RevealMismatch(String),
    #[error("{0} has revealed no report in round {1} to dispute")]
    NoReportToDispute(String, u64),
    #[error(
        "the report of {0} in round {1} has already been disputed; its table fixes the outcome"
    )]
    AlreadyDisputed(String, u64),
    #[error("a dispute needs a deposit of at least {min}, got {got}")]
    DepositTooSmall { got: Uint128, min: Uint128 },
    #[error("the table does not hash to the report's table_hash {committed} (it hashes to {got}): it is not the table the evaluator committed to")]
    TableMismatch { committed: String, got: String },

    #[error("the report scores {got} participants; round {round_id} has {expected} committed")]
    ReportIncomplete {
        round_id: u64,
        expected: u32,
        got: usize,
    },
    #[error("the report scores {0}, which has not committed in round {1}")]
    ReportUnknownParticipant(String, u64),
    #[error("the report scores {0} twice")]
    ReportDuplicate(String),

    #[error("round {round_id} has {reports} of {quorum} reports needed to settle")]
    QuorumNotReached {
        round_id: u64,
        reports: u32,
        quorum: u32,
    },
    #[error("round {0} is already {1:?}")]
    AlreadyFinal(u64, Phase),
    #[error("round {0} has no settled result for {1}")]
    NoResult(u64, String),
    #[error("migration refused: {0}")]
    Migration(String),
    #[error("stake total overflows: {0} + more")]
    StakeOverflow(Uint128),
}
