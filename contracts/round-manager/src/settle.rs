//! Evaluator reports and settlement: each participant's score is the median across reports.

use std::collections::{BTreeMap, BTreeSet};

use cosmwasm_std::{
    to_json_binary, Addr, Decimal, DepsMut, Env, MessageInfo, Order, Response, SignedDecimal,
    StdResult, Uint128, WasmMsg,
};
use fairshare_protocol::escrow::{ExecuteMsg as EscrowMsg, StakeOutcome};
use fairshare_protocol::rewards::{compute_payout, Entry, Score};
use fairshare_protocol::round_manager::{ParticipantResult, Phase, Report, SettlementSummary};

use crate::error::ContractError;
use crate::lifecycle::load_round;
use crate::median::{median_signed, median_unsigned};
use crate::phase;
use crate::state::{
    Closure, Participant, StoredReport, COMMITMENTS, CONFIG, PARTICIPANTS, REPORTS, RESULTS, ROUNDS,
};
use crate::validate;

pub fn submit_report(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    round_id: u64,
    report: Report,
) -> Result<Response, ContractError> {
    let mut round = load_round(&deps, round_id)?;
    if !round
        .params
        .evaluators
        .iter()
        .any(|e| e == info.sender.as_str())
    {
        return Err(ContractError::NotEvaluator(
            info.sender.into_string(),
            round_id,
        ));
    }
    let phase = phase::require(&round, env.block.height, &[Phase::Evaluating], "Evaluating")?;
    if env.block.height >= round.deadlines.report_until {
        return Err(ContractError::WrongPhase {
            round_id,
            phase,
            expected: "Evaluating before its report deadline",
        });
    }
    if REPORTS.has(deps.storage, (round_id, &info.sender)) {
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
    let mut scores = Vec::with_capacity(report.scores.len());
    for mut s in report.scores {
        let addr = deps.api.addr_validate(&s.participant)?;
        if !COMMITMENTS.has(deps.storage, (round_id, &addr)) {
            return Err(ContractError::ReportUnknownParticipant(
                s.participant,
                round_id,
            ));
        }
        if !seen.insert(addr.clone()) {
            return Err(ContractError::ReportDuplicate(s.participant));
        }
        s.participant = addr.into_string();
        scores.push(s);
    }
    let report = Report { scores, ..report };
    REPORTS.save(
        deps.storage,
        (round_id, &info.sender),
        &StoredReport {
            report,
            reported_at: env.block.height,
        },
    )?;
    round.reports += 1;
    ROUNDS.save(deps.storage, round_id, &round)?;
    Ok(Response::new()
        .add_attribute("action", "submit_report")
        .add_attribute("round_id", round_id.to_string())
        .add_attribute("evaluator", info.sender)
        .add_attribute("reports", round.reports.to_string()))
}

pub fn settle(deps: DepsMut, env: Env, round_id: u64) -> Result<Response, ContractError> {
    let mut round = load_round(&deps, round_id)?;
    let height = env.block.height;
    let escrow = CONFIG
        .load(deps.storage)?
        .escrow
        .ok_or(ContractError::EscrowNotSet)?;
    match phase::phase_at(&round, height) {
        p @ Phase::Settled => return Err(ContractError::AlreadyFinal(round_id, p)),
        Phase::Failed if !matches!(round.closure, Closure::Active) => {
            return Err(ContractError::AlreadyFinal(round_id, Phase::Failed))
        }
        Phase::Failed => {
            round.closure = Closure::Failed { at: height };
            ROUNDS.save(deps.storage, round_id, &round)?;
            let refund = WasmMsg::Execute {
                contract_addr: escrow.into_string(),
                msg: to_json_binary(&EscrowMsg::RefundRound { round_id })?,
                funds: vec![],
            };
            return Ok(Response::new()
                .add_message(refund)
                .add_attribute("action", "settle")
                .add_attribute("round_id", round_id.to_string())
                .add_attribute("outcome", "failed"));
        }
        p @ (Phase::Open | Phase::Training) => {
            return Err(ContractError::WrongPhase {
                round_id,
                phase: p,
                expected: "Evaluating",
            })
        }
        Phase::Evaluating => {}
    }
    let quorum = round.params.evaluator_quorum;
    if round.reports < quorum {
        return Err(ContractError::QuorumNotReached {
            round_id,
            reports: round.reports,
            quorum,
        });
    }
    let evaluators = round.params.evaluators.len() as u32;
    if round.reports < evaluators && height < round.deadlines.report_until {
        return Err(ContractError::ReportsStillDue {
            round_id,
            until: round.deadlines.report_until,
            missing: evaluators - round.reports,
        });
    }

    let participants: Vec<(Addr, Participant)> = PARTICIPANTS
        .prefix(round_id)
        .range(deps.storage, None, None, Order::Ascending)
        .collect::<StdResult<_>>()?;
    let reports: Vec<(Addr, StoredReport)> = REPORTS
        .prefix(round_id)
        .range(deps.storage, None, None, Order::Ascending)
        .collect::<StdResult<_>>()?;

    let medians = median_scores(&reports);
    let delta_u = median_signed(
        &mut reports
            .iter()
            .map(|(_, r)| r.report.delta_u)
            .collect::<Vec<_>>(),
    )
    .unwrap_or_default();
    let entries: Vec<Entry> = participants
        .iter()
        .map(|(addr, p)| Entry {
            stake: p.stake,
            score: medians.get(addr.as_str()).copied(),
        })
        .collect();
    let payout = compute_payout(&round.params.rewards, &entries);
    let outliers = outliers(&reports, &medians, round.params.outlier_tolerance);

    let mut outcomes = Vec::with_capacity(participants.len());
    let mut total_slashed = Uint128::zero();
    for ((addr, p), (entry, o)) in participants
        .iter()
        .zip(entries.iter().zip(&payout.outcomes))
    {
        total_slashed += o.slash;
        RESULTS.save(
            deps.storage,
            (round_id, addr),
            &ParticipantResult {
                participant: addr.clone(),
                score: entry.score,
                verdict: o.verdict,
                stake: p.stake,
                reward: o.reward,
                slash: o.slash,
            },
        )?;
        outcomes.push(StakeOutcome {
            participant: addr.to_string(),
            reward: o.reward,
            slash: o.slash,
        });
    }
    round.closure = Closure::Settled(SettlementSummary {
        delta_u,
        pool: payout.pool,
        dust: payout.dust,
        total_slashed,
        outliers: outliers.clone(),
        settled_at: height,
    });
    ROUNDS.save(deps.storage, round_id, &round)?;
    let msg = WasmMsg::Execute {
        contract_addr: escrow.into_string(),
        msg: to_json_binary(&EscrowMsg::SettleRound {
            round_id,
            outcomes,
            dust: payout.dust,
        })?,
        funds: vec![],
    };
    Ok(Response::new()
        .add_message(msg)
        .add_attribute("action", "settle")
        .add_attribute("round_id", round_id.to_string())
        .add_attribute("outcome", "settled")
        .add_attribute("pool", payout.pool)
        .add_attribute("dust", payout.dust)
        .add_attribute("slashed", total_slashed)
        .add_attribute("outliers", outliers.len().to_string()))
}

/// Each scored participant's median value and median standard error across reports.
fn median_scores(reports: &[(Addr, StoredReport)]) -> BTreeMap<String, Score> {
    let mut columns: BTreeMap<&str, (Vec<SignedDecimal>, Vec<Decimal>)> = BTreeMap::new();
    for (_, r) in reports {
        for s in &r.report.scores {
            let col = columns.entry(s.participant.as_str()).or_default();
            col.0.push(s.value);
            col.1.push(s.std_error);
        }
    }
    columns
        .into_iter()
        .filter_map(|(p, (mut v, mut e))| {
            let value = median_signed(&mut v)?;
            let std_error = median_unsigned(&mut e)?;
            Some((p.to_string(), Score { value, std_error }))
        })
        .collect()
}

/// Evaluators whose score for some participant is further than `tolerance` from the median.
fn outliers(
    reports: &[(Addr, StoredReport)],
    medians: &BTreeMap<String, Score>,
    tolerance: Decimal,
) -> Vec<Addr> {
    let tolerance = SignedDecimal::try_from(tolerance).unwrap_or(SignedDecimal::MAX);
    reports
        .iter()
        .filter(|(_, r)| {
            r.report.scores.iter().any(|s| {
                medians
                    .get(&s.participant)
                    .is_some_and(|m| match s.value.checked_sub(m.value) {
                        Ok(d) => d > tolerance || d < -tolerance,
                        Err(_) => true,
                    })
            })
        })
        .map(|(a, _)| a.clone())
        .collect()
}
