//! Disputes: anyone may put a revealed report's utility table on chain (through the escrow,
//! which holds the deposit). The contract checks that the table is the one the report
//! committed to, recomputes every φ and ΔU from it exactly, and decides:
//!
//! - the report does not follow from its own table (or the committed table is malformed,
//!   values other participants, was measured on another validation set than the round's, or
//!   was sampled from another seed than the round's — permutations or regression-adjusted
//!   coalitions alike): *upheld* — the report is struck out of the round (it no
//!   longer counts toward quorum or consensus), its evaluator forfeits `slash_disputed` of its
//!   bond, and the challenger gets its deposit back with `challenger_share` of that slash;
//! - the report follows: *rejected* — the challenger's deposit is forfeited to the treasury.
//!
//! A table determines the outcome, so each report is disputed at most once. Disputes are
//! heard from a report's reveal until the dispute deadline; settlement starts after it.

use cosmwasm_std::{DepsMut, Env, HexBinary, MessageInfo, Response, Uint128};
use fairshare_protocol::report::{
    check, round_seed, Discrepancy, Estimator, TableError, UtilityTable,
};
use fairshare_protocol::round_manager::{ParticipantScore, Phase, Report};

use crate::compact::{decode_score, SCORES};
use crate::error::ContractError;
use crate::lifecycle::{load_round, require_escrow};
use crate::phase;
use crate::state::{StoredDispute, DISPUTES, REPORTS, ROUNDS};

#[allow(clippy::too_many_arguments)]
pub fn dispute(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    round_id: u64,
    evaluator: String,
    challenger: String,
    deposit: Uint128,
    table: UtilityTable,
) -> Result<Response, ContractError> {
    require_escrow(&deps, &info)?;
    let mut round = load_round(&deps, round_id)?;
    phase::require(
        &round,
        env.block.height,
        &[Phase::Revealing, Phase::Challenging],
        "Revealing or Challenging",
    )?;
    let evaluator = deps.api.addr_validate(&evaluator)?;
    let challenger = deps.api.addr_validate(&challenger)?;
    let min = round.params.evaluation.dispute_deposit;
    if deposit < min {
        return Err(ContractError::DepositTooSmall { got: deposit, min });
    }
    let report = REPORTS
        .may_load(deps.storage, (round_id, &evaluator))?
        .ok_or_else(|| ContractError::NoReportToDispute(evaluator.to_string(), round_id))?;
    if DISPUTES.has(deps.storage, (round_id, &evaluator)) {
        return Err(ContractError::AlreadyDisputed(
            evaluator.into_string(),
            round_id,
        ));
    }
    let hash = table.hash();
    if hash.as_slice() != report.table_hash.as_slice() {
        return Err(ContractError::TableMismatch {
            committed: report.table_hash.to_hex(),
            got: HexBinary::from(hash.to_vec()).to_hex(),
        });
    }
    let mut findings = findings(&deps, &round, report.index, &report, &table)?;
    if table.validation_set_hash != round.spec.validation_set_hash {
        findings.push(format!(
            "the table was measured on validation set {}, not the round's {}",
            table.validation_set_hash.to_hex(),
            round.spec.validation_set_hash.to_hex()
        ));
    }
    if let Some(seed) = table.estimator.seed() {
        let expected = round_seed(
            env.contract.address.as_str(),
            round_id,
            round.spec.validation_set_hash.as_slice(),
        );
        if seed != expected {
            let what = match table.estimator {
                Estimator::Permutations { .. } => "permutations",
                _ => "coalitions",
            };
            findings.push(format!(
                "the table's {what} were drawn from seed {seed}, not the round's seed {expected}"
            ));
        }
    }
    let upheld = !findings.is_empty();
    if upheld {
        let bit = 1u64 << report.index;
        round.reporters &= !bit;
        round.struck |= bit;
        ROUNDS.save(deps.storage, round_id, &round)?;
    }
    DISPUTES.save(
        deps.storage,
        (round_id, &evaluator),
        &StoredDispute {
            challenger: challenger.clone(),
            deposit,
            upheld,
            findings: findings.clone(),
            at: env.block.height,
        },
    )?;
    Ok(Response::new()
        .add_attribute("action", "dispute")
        .add_attribute("round_id", round_id.to_string())
        .add_attribute("evaluator", evaluator)
        .add_attribute("challenger", challenger)
        .add_attribute("outcome", if upheld { "upheld" } else { "rejected" })
        .add_attribute("findings", findings.len().to_string()))
}

/// What in the stored report does not follow from `table`, in words; empty if it all does.
fn findings(
    deps: &DepsMut,
    round: &crate::state::Round,
    index: u8,
    stored: &crate::state::StoredReport,
    table: &UtilityTable,
) -> Result<Vec<String>, ContractError> {
    let mut scores = Vec::with_capacity(table.participants.len());
    let mut missing = vec![];
    for p in &table.participants {
        let found = match deps.api.addr_canonicalize(p) {
            Ok(canon) => {
                let mut key = vec![index];
                key.extend_from_slice(&canon);
                SCORES.get(deps.storage, round.id, &key)
            }
            Err(_) => None,
        };
        match found {
            Some(b) => {
                let s = decode_score(&b)?;
                scores.push(ParticipantScore {
                    participant: p.clone(),
                    value: s.value,
                    std_error: s.std_error,
                });
            }
            None => missing.push(p.clone()),
        }
    }
    if !missing.is_empty() || table.participants.len() != round.committed as usize {
        return Ok(vec![format!(
            "the committed table values {} participants ({} of them not scored by the report); the report scores the round's {}",
            table.participants.len(),
            missing.len(),
            round.committed
        )]);
    }
    let report = Report {
        aggregate_hash: stored.aggregate_hash.clone(),
        table_hash: stored.table_hash.clone(),
        delta_u: stored.delta_u,
        dof: stored.dof,
        scores,
    };
    match check(&report, table) {
        Ok(found) => Ok(found.iter().map(describe).collect()),
        // A report must commit to a table the chain can check (an exact one up to 12 players,
        // or at most 8,192 sampled utilities, a regression-adjusted one of at most 63): one that cannot be checked would make its report
        // indisputable, so it counts against the report like a malformed one.
        Err(
            e @ (TableError::TooManyPlayers(_)
            | TableError::TooManyUtilities(_)
            | TableError::TooManySampledPlayers(_)),
        ) => Ok(vec![format!(
            "the committed table cannot be checked on chain: {e}"
        )]),
        Err(e) => Ok(vec![format!("the committed table is malformed: {e}")]),
    }
}

fn describe(d: &Discrepancy) -> String {
    match d {
        Discrepancy::DeltaU { reported, table } => {
            format!("delta_u: reported {reported}, the table gives {table}")
        }
        Discrepancy::Score {
            participant,
            reported,
            table,
        } => format!("{participant}: reported {reported}, the table gives {table}"),
    }
}
