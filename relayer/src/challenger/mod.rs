//! A challenger as a long-running service (`fairshare challenger run`): [`Challenger::step`]
//! looks at the latest rounds once and, while disputes are taken (Revealing, Challenging),
//! fetches each revealed report's utility table from the store by the table hash the report
//! commits to (re-checked on arrival), checks the report against it exactly as
//! `fairshare verify-report` and the round-manager do ([`crate::audit::check`]), and disputes,
//! with the round's deposit, a report that does not follow from its own table.
//!
//! [`examine`] is the one decision (check, then dispute if disputable) that the demo's
//! challenger calls too.
//!
//! Restarts are safe: a report already disputed on chain (by anyone) is never disputed again,
//! and what each report came to is written to `<data_dir>/round-N.json` after the fact, so a
//! restarted challenger neither re-checks a settled finding nor disputes twice.

pub mod config;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fairshare_protocol::report::UtilityTable;
use fairshare_protocol::round_manager::{self as rm, Phase, Report};
use serde::{Deserialize, Serialize};

use crate::audit;
use crate::chain::{Chain, ChainError, ChainExt};
use crate::keys::ParticipantKey;
use crate::ops::{round, Deployment, StakeKind};
use crate::store::{fetch_table, BundleStore};

/// How many of the latest rounds each step looks at.
const RECENT_ROUNDS: u64 = 3;

/// Why a step failed. The service logs it and tries again at its next step.
#[derive(Debug, thiserror::Error)]
pub enum ChallengerError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error("the challenger's record {path}: {reason}")]
    State { path: PathBuf, reason: String },
}

/// What a report came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "finding")]
pub enum Finding {
    /// It follows from its committed table: nothing to dispute.
    Consistent,
    /// It does not: disputed; `outcome` as the round-manager judged (`upheld`/`rejected`).
    Disputed { outcome: String },
    /// Someone else disputed it first.
    AlreadyDisputed,
}

/// What one step did, per evaluator examined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Found {
        round: u64,
        evaluator: String,
        finding: Finding,
    },
    /// Its table is not in the store (yet): retried at the next step.
    TableUnavailable {
        round: u64,
        evaluator: String,
        reason: String,
    },
}

/// Settings of a challenger.
#[derive(Debug, Clone)]
pub struct ChallengerOptions {
    pub data_dir: PathBuf,
    pub stake_kind: StakeKind,
}

/// One challenger: key, deployment, and the store tables are read from.
pub struct Challenger {
    pub key: ParticipantKey,
    pub d: Deployment,
    pub opts: ChallengerOptions,
    pub store: Box<dyn BundleStore>,
}

/// Checks `report` (revealed by `evaluator` in round `round_id`) against `table` as the
/// round-manager would, and disputes it with `deposit` if a dispute would be upheld. Returns
/// the check and, when it disputed, the round-manager's outcome.
#[allow(clippy::too_many_arguments)]
pub fn examine(
    chain: &mut dyn Chain,
    d: &Deployment,
    stake: &StakeKind,
    key: &ParticipantKey,
    round_id: u64,
    validation_set_hash: &[u8],
    evaluator: &str,
    report: &Report,
    table: &UtilityTable,
    deposit: u128,
) -> Result<(audit::Check, Option<String>), ChainError> {
    let check = audit::check(
        report,
        table,
        Some(audit::RoundContext {
            round_manager: d.round_manager.as_str(),
            round_id,
            validation_set_hash,
        }),
    );
    if !check.disputable() {
        return Ok((check, None));
    }
    let tx = round::dispute(
        chain,
        d,
        stake,
        key,
        round_id,
        evaluator,
        table.clone(),
        deposit,
    )?;
    let outcome = tx.attribute("outcome").unwrap_or("unknown").to_string();
    Ok((check, Some(outcome)))
}

impl Challenger {
    fn record_path(&self, round_id: u64) -> PathBuf {
        self.opts.data_dir.join(format!("round-{round_id}.json"))
    }

    /// Looks at the chain once and examines every revealed report of the latest round not
    /// examined yet.
    pub fn step(&mut self, chain: &mut dyn Chain) -> Result<Vec<Action>, ChallengerError> {
        let c: rm::ConfigResponse =
            chain.query(self.d.round_manager.as_str(), &rm::QueryMsg::Config {})?;
        let latest = c.next_round_id.saturating_sub(1);
        let mut actions = vec![];
        // Rounds overlap (the next may open while one is still disputable): the latest few.
        for id in latest.saturating_sub(RECENT_ROUNDS - 1).max(1)..=latest {
            let r = round::status(chain, &self.d, id)?;
            if matches!(r.phase, Phase::Revealing | Phase::Challenging) {
                actions.extend(self.examine_round(chain, &r)?);
            }
        }
        Ok(actions)
    }

    /// Examines every revealed report of round `r` not examined yet.
    fn examine_round(
        &mut self,
        chain: &mut dyn Chain,
        r: &rm::RoundResponse,
    ) -> Result<Vec<Action>, ChallengerError> {
        let id = r.id;
        let path = self.record_path(id);
        let mut record = read_record(&path)?;
        let disputed: Vec<String> = round::disputes(chain, &self.d, id)?
            .into_iter()
            .map(|x| x.evaluator.into_string())
            .collect();
        let deposit = r.params.evaluation.dispute_deposit.u128();
        let mut actions = vec![];
        for e in round::evaluators(chain, &self.d, id)? {
            let evaluator = e.evaluator.into_string();
            if e.revealed_at.is_none() || record.contains_key(&evaluator) {
                continue;
            }
            let finding = if e.struck_out || disputed.contains(&evaluator) {
                Finding::AlreadyDisputed
            } else {
                let Some(report) = round::revealed_report(chain, &self.d, id, &evaluator)? else {
                    continue;
                };
                let table = match fetch_table(self.store.as_ref(), &report.table_hash.to_hex()) {
                    Ok(t) => t,
                    Err(err) => {
                        actions.push(Action::TableUnavailable {
                            round: id,
                            evaluator,
                            reason: err.to_string(),
                        });
                        continue;
                    }
                };
                let (check, outcome) = examine(
                    chain,
                    &self.d,
                    &self.opts.stake_kind,
                    &self.key,
                    id,
                    r.spec.validation_set_hash.as_slice(),
                    &evaluator,
                    &report,
                    &table,
                    deposit,
                )?;
                match outcome {
                    Some(outcome) => {
                        tracing::warn!(round = id, %evaluator, %outcome, finding = %check.describe(), "disputed");
                        Finding::Disputed { outcome }
                    }
                    None => Finding::Consistent,
                }
            };
            record.insert(evaluator.clone(), finding.clone());
            write_record(&path, &record)?;
            actions.push(Action::Found {
                round: id,
                evaluator,
                finding,
            });
        }
        Ok(actions)
    }
}

fn read_record(path: &Path) -> Result<BTreeMap<String, Finding>, ChallengerError> {
    let bad = |reason: String| ChallengerError::State {
        path: path.to_path_buf(),
        reason,
    };
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| bad(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(bad(e.to_string())),
    }
}

fn write_record(path: &Path, record: &BTreeMap<String, Finding>) -> Result<(), ChallengerError> {
    let bad = |reason: String| ChallengerError::State {
        path: path.to_path_buf(),
        reason,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| bad(e.to_string()))?;
    }
    let json = serde_json::to_vec_pretty(record).map_err(|e| bad(e.to_string()))?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, json).map_err(|e| bad(e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| bad(e.to_string()))
}
