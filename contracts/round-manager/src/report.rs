//! Evaluator reports: each score is stored on its own, keyed by evaluator and participant, so
//! settlement reads one participant's scores without reading whole reports.

use std::collections::BTreeSet;

use cosmwasm_std::{DepsMut, Env, MessageInfo, Response};
use fairshare_protocol::rewards::Score;
use fairshare_protocol::round_manager::{Phase, Report};

use crate::compact::{encode_score, COMMITMENTS, SCORES};
use crate::error::ContractError;
use crate::lifecycle::load_round;
use crate::phase;
use crate::state::{StoredReport, REPORTS, ROUNDS};
use crate::validate;

pub fn submit_report(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    round_id: u64,
    report: Report,
) -> Result<Response, ContractError> {
    let mut round = load_round(&deps, round_id)?;
    let index = round
        .params
        .evaluators
        .iter()
        .position(|e| e == info.sender.as_str())
        .ok_or_else(|| ContractError::NotEvaluator(info.sender.to_string(), round_id))?;
    let phase = phase::require(&round, env.block.height, &[Phase::Evaluating], "Evaluating")?;
    if env.block.height >= round.deadlines.report_until {
        return Err(ContractError::WrongPhase {
            round_id,
            phase,
            expected: "Evaluating before its report deadline",
        });
    }
    let bit = 1u64 << index;
    if round.reporters & bit != 0 {
        return Err(ContractError::AlreadyReported(
            info.sender.into_string(),
            round_id,
        ));
    }
    validate::length("aggregate_hash", &report.aggregate_hash, 32)?;
    if report.scores.len() != round.committed as usize {
        return Err(ContractError::ReportIncomplete {
            round_id,
            expected: round.committed,
            got: report.scores.len(),
        });
    }
    let mut seen = BTreeSet::new();
    let evaluator = [u8::try_from(index)
        .map_err(|_| ContractError::InvalidParams("evaluator index does not fit a byte".into()))?];
    for s in report.scores {
        let addr = deps.api.addr_validate(&s.participant)?;
        let canon = deps.api.addr_canonicalize(addr.as_str())?;
        if COMMITMENTS.get(deps.storage, round_id, &canon).is_none() {
            return Err(ContractError::ReportUnknownParticipant(
                s.participant,
                round_id,
            ));
        }
        if !seen.insert(canon.to_vec()) {
            return Err(ContractError::ReportDuplicate(s.participant));
        }
        let mut key = evaluator.to_vec();
        key.extend_from_slice(&canon);
        SCORES.set(
            deps.storage,
            round_id,
            &key,
            &encode_score(&Score {
                value: s.value,
                std_error: s.std_error,
            }),
        );
    }
    REPORTS.save(
        deps.storage,
        (round_id, &info.sender),
        &StoredReport {
            index: evaluator[0],
            aggregate_hash: report.aggregate_hash,
            delta_u: report.delta_u,
            reported_at: env.block.height,
        },
    )?;
    round.reporters |= bit;
    ROUNDS.save(deps.storage, round_id, &round)?;
    Ok(Response::new()
        .add_attribute("action", "submit_report")
        .add_attribute("round_id", round_id.to_string())
        .add_attribute("evaluator", info.sender)
        .add_attribute("reports", round.reports().to_string()))
}
