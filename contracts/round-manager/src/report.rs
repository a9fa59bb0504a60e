//! Evaluator reports by commit–reveal. While the round is Evaluating a bonded evaluator posts
//! only a digest of its report (`fairshare_protocol::report::digest`, which names the
//! evaluator and a salt); once commitments close it reveals the report, which must hash to the
//! digest. Nobody sees a report before every report is fixed, and nobody can open another's
//! digest. Each revealed score is stored on its own, keyed by evaluator and participant, so
//! settlement reads one participant's scores without reading whole reports.

use std::collections::BTreeSet;

use cosmwasm_std::{DepsMut, Env, HexBinary, MessageInfo, Response};
use fairshare_protocol::report::{digest, SALT_LEN};
use fairshare_protocol::rewards::Score;
use fairshare_protocol::round_manager::{Phase, Report};

use crate::compact::{encode_score, COMMITMENTS, SCORES};
use crate::error::ContractError;
use crate::lifecycle::load_round;
use crate::phase;
use crate::state::{StoredReport, EVALUATORS, REPORTS, ROUNDS};
use crate::validate;

pub fn commit_report(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    round_id: u64,
    report_digest: HexBinary,
) -> Result<Response, ContractError> {
    let mut round = load_round(&deps, round_id)?;
    let mut bond = EVALUATORS
        .may_load(deps.storage, (round_id, &info.sender))?
        .ok_or_else(|| ContractError::NotBonded(info.sender.to_string(), round_id))?;
    phase::require(&round, env.block.height, &[Phase::Evaluating], "Evaluating")?;
    if bond.digest.is_some() {
        return Err(ContractError::AlreadyCommitted(
            info.sender.into_string(),
            round_id,
        ));
    }
    validate::length("digest", &report_digest, 32)?;
    bond.digest = Some(report_digest);
    EVALUATORS.save(deps.storage, (round_id, &info.sender), &bond)?;
    round.report_commits |= 1u64 << bond.index;
    ROUNDS.save(deps.storage, round_id, &round)?;
    Ok(Response::new()
        .add_attribute("action", "commit_report")
        .add_attribute("round_id", round_id.to_string())
        .add_attribute("evaluator", info.sender)
        .add_attribute(
            "report_commitments",
            round.report_commits.count_ones().to_string(),
        ))
}

pub fn reveal_report(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    round_id: u64,
    report: Report,
    salt: HexBinary,
) -> Result<Response, ContractError> {
    let mut round = load_round(&deps, round_id)?;
    let bond = EVALUATORS
        .may_load(deps.storage, (round_id, &info.sender))?
        .ok_or_else(|| ContractError::NotBonded(info.sender.to_string(), round_id))?;
    phase::require(&round, env.block.height, &[Phase::Revealing], "Revealing")?;
    let Some(committed) = &bond.digest else {
        return Err(ContractError::NothingToReveal(
            info.sender.into_string(),
            round_id,
        ));
    };
    if REPORTS.has(deps.storage, (round_id, &info.sender)) {
        return Err(ContractError::AlreadyReported(
            info.sender.into_string(),
            round_id,
        ));
    }
    validate::length("salt", &salt, SALT_LEN)?;
    validate::length("aggregate_hash", &report.aggregate_hash, 32)?;
    validate::length("table_hash", &report.table_hash, 32)?;
    let opened = digest(
        env.contract.address.as_str(),
        round_id,
        info.sender.as_str(),
        &report,
        salt.as_slice(),
    );
    if opened.as_slice() != committed.as_slice() {
        return Err(ContractError::RevealMismatch(info.sender.into_string()));
    }
    if report.scores.len() != round.committed as usize {
        return Err(ContractError::ReportIncomplete {
            round_id,
            expected: round.committed,
            got: report.scores.len(),
        });
    }
    let mut seen = BTreeSet::new();
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
        let mut key = vec![bond.index];
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
            index: bond.index,
            aggregate_hash: report.aggregate_hash,
            table_hash: report.table_hash,
            delta_u: report.delta_u,
            dof: report.dof,
            revealed_at: env.block.height,
        },
    )?;
    round.reporters |= 1u64 << bond.index;
    ROUNDS.save(deps.storage, round_id, &round)?;
    Ok(Response::new()
        .add_attribute("action", "reveal_report")
        .add_attribute("round_id", round_id.to_string())
        .add_attribute("evaluator", info.sender)
        .add_attribute("reports", round.reports().to_string()))
}
