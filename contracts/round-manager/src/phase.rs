//! A round's phase, derived from its closure and the block height, so no message is needed
//! to move a round along.

use fairshare_protocol::round_manager::Phase;

use crate::error::ContractError;
use crate::state::{Closure, Round};

/// The phase of `round` at block `height`.
pub fn phase_at(round: &Round, height: u64) -> Phase {
    match round.closure {
        Closure::Settled(_) => Phase::Settled,
        Closure::Failed { .. } => Phase::Failed,
        Closure::Active => {
            let d = round.deadlines;
            if height < d.join_until {
                Phase::Open
            } else if height < d.commit_until {
                Phase::Training
            } else if round.committed < round.params.min_participants || height >= d.settle_until {
                Phase::Failed
            } else if round.settling.is_some() {
                Phase::Settling
            } else if height < d.report_until {
                Phase::Evaluating
            } else if height < d.reveal_until {
                Phase::Revealing
            } else if round.reports() < round.params.evaluator_quorum {
                // Too few revealed reports (or too many struck out by disputes) to decide.
                Phase::Failed
            } else if height < d.dispute_until {
                Phase::Challenging
            } else {
                Phase::Settling
            }
        }
    }
}

/// Errors unless `round` is in one of `allowed` at `height`.
pub fn require(
    round: &Round,
    height: u64,
    allowed: &[Phase],
    expected: &'static str,
) -> Result<Phase, ContractError> {
    let phase = phase_at(round, height);
    if allowed.contains(&phase) {
        Ok(phase)
    } else {
        Err(ContractError::WrongPhase {
            round_id: round.id,
            phase,
            expected,
        })
    }
}
