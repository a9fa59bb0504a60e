use cosmwasm_std::{StdError, Uint128};
use cw_utils::PaymentError;
use thiserror::Error;

/// Everything the escrow refuses, with a message a user can act on.
#[derive(Error, Debug, PartialEq)]
pub enum ContractError {
    #[error(transparent)]
    Std(#[from] StdError),
    #[error("stake payment: {0}")]
    Payment(#[from] PaymentError),

    #[error("only the owner may do this")]
    NotOwner,
    #[error("only the round-manager may report round outcomes")]
    NotRoundManager,
    #[error("stakes are paid in {expected}; this came as {got}")]
    WrongAsset { expected: String, got: String },
    #[error("stake {got} is below the minimum stake {min}")]
    StakeTooLow { got: Uint128, min: Uint128 },
    #[error("{0} has already staked in round {1}")]
    AlreadyStaked(String, u64),
    #[error("malformed hook message: {0}")]
    BadHookMsg(String),

    #[error("round {0} has already ended in the escrow")]
    RoundAlreadyEnded(u64),
    #[error("round {0} already has a reward reservation")]
    AlreadyReserved(u64),
    #[error("cannot reserve {amount} for rewards: the reward token's cap leaves room for {room}")]
    OverCap { amount: Uint128, room: Uint128 },
    #[error(
        "round {round_id}: rewards {rewards} + dust {dust} must equal the reservation {reserved}"
    )]
    ReservationMismatch {
        round_id: u64,
        rewards: Uint128,
        dust: Uint128,
        reserved: Uint128,
    },
    #[error("round {round_id}: slashing {slashed} exceeds the round's stakes {locked}")]
    SlashExceedsStakes {
        round_id: u64,
        slashed: Uint128,
        locked: Uint128,
    },
    #[error("slash {slash} for {participant} exceeds its stake {stake}")]
    SlashExceedsStake {
        participant: String,
        slash: Uint128,
        stake: Uint128,
    },
    #[error("a running total overflows")]
    Overflow,
    #[error("a running total would go below zero; the escrow's books are inconsistent")]
    Underflow,
    #[error("migration refused: {0}")]
    Migration(String),

    #[error("{0} has nothing to claim in round {1}")]
    NothingToClaim(String, u64),
    #[error("round {0} has not ended yet; stakes are locked until it settles or fails")]
    RoundNotEnded(u64),
    #[error("{0} has already claimed round {1}")]
    AlreadyClaimed(String, u64),
    #[error("the bond of evaluator {evaluator} in round {round_id} is held for the appeal window until block {until}")]
    InAppeal {
        evaluator: String,
        round_id: u64,
        until: u64,
    },
    #[error("the appeal window of round {round_id} closed at block {until}; the bond of {evaluator} can no longer be penalised")]
    AppealClosed {
        evaluator: String,
        round_id: u64,
        until: u64,
    },
    #[error("{0} has no unclaimed evaluator bond in round {1}")]
    NoBond(String, u64),
    #[error("a penalty of {amount} exceeds what is left of the bond ({left})")]
    PenaltyTooLarge { amount: Uint128, left: Uint128 },
}
