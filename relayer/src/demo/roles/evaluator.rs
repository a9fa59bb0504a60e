//! The demo's evaluators: each is the evaluator service (`crate::evaluator::Evaluator`, what
//! `fairshare evaluator run` runs: bond, fetch and check every committed bundle from the
//! relayer's store, value, seal and commit, reveal) with the service's valuer
//! ([`ModelValuer`], the shared [`crate::valuation`]) inside a [`DemoValuer`]. The demo's
//! extras live there: a lying evaluator (see [`Lie`]) wraps the honest valuation, honest
//! evaluators may reuse the first one's measurement, and the Sybil comparison (the round
//! valued without grouping) is measured once per round.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::str::FromStr;

use anyhow::Context;
use cosmwasm_std::{HexBinary, SignedDecimal};
use fairshare_protocol::report::{Estimator, UtilityTable};
use fairshare_protocol::round_manager as rm;
use fairshare_protocol::round_manager::{ParticipantScore, Report};
use fairshare_shapley::groups::Groups;
use serde::Serialize;

use crate::bundle::VerifiedBundle;
use crate::chain::Chain;
use crate::demo::DemoError;
use crate::evaluator::{
    self as service, Action, EvaluatorOptions, ModelValuer, ValuedRound, Valuer,
};
use crate::keys::ParticipantKey;
use crate::ops::{round, Deployment, StakeKind};
use crate::valuation::pack;
pub use crate::valuation::{
    decimals, std_error, to_report, to_table, Valuation, BATCH_WINDOWS, EXACT_MAX, RESOLUTION_NATS,
};

/// How the demo's lying evaluator lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Lie {
    /// It publishes its honest table but reports other φ: anyone can check the report against
    /// the table, and a dispute strikes it out and slashes the evaluator.
    Inconsistent,
    /// It fabricates a table from which its lies follow: no dispute can catch it, only the
    /// median outvotes it (and re-execution on the revealed validation text exposes it).
    Consistent,
}

/// The lies: every honest participant (`favoured[i]` false) pushed below zero by its own
/// value and a little more, every favoured one (the free-rider) credited with the honest
/// participants' whole value; standard errors at the resolution, so the lies look certain.
pub fn lie_values(v: &Valuation, favoured: &[bool]) -> Vec<f64> {
    let honest_total: f64 = v
        .values
        .iter()
        .zip(favoured)
        .filter(|(_, &f)| !f)
        .map(|(x, _)| x.abs())
        .sum();
    v.values
        .iter()
        .zip(favoured)
        .map(|(&x, &f)| {
            if f {
                honest_total.max(10.0 * RESOLUTION_NATS)
            } else {
                -x.abs() - 10.0 * RESOLUTION_NATS
            }
        })
        .collect()
}

/// A lying evaluator's table and report (see [`Lie`]); `honest` is its honest table.
pub fn lying_report(
    v: &Valuation,
    honest: &UtilityTable,
    favoured: &[bool],
    how: Lie,
) -> Result<(UtilityTable, Report), DemoError> {
    let lies = lie_values(v, favoured);
    let n = lies.len();
    let table = match how {
        Lie::Inconsistent => honest.clone(),
        // An additive game U(S) = Σ_{i ∈ S} lieᵢ: its Shapley values are the lies.
        Lie::Consistent => UtilityTable {
            estimator: Estimator::Exact,
            utilities: pack(
                &(0..(1usize << n))
                    .map(|m| (0..n).filter(|i| m >> i & 1 == 1).map(|i| lies[i]).sum())
                    .collect::<Vec<f64>>(),
            )?,
            ..honest.clone()
        },
    };
    let (from_table, delta_u) = decimals(&table)?;
    let scores = table
        .participants
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let value = match how {
                Lie::Consistent => from_table[i],
                Lie::Inconsistent => SignedDecimal::from_str(&format!("{:.9}", lies[i]))
                    .map_err(|e| DemoError::Config(format!("{}: {e}", lies[i])))?,
            };
            Ok(ParticipantScore {
                participant: p.clone(),
                value,
                std_error: std_error(RESOLUTION_NATS)?,
            })
        })
        .collect::<Result<Vec<_>, DemoError>>()?;
    let report = Report {
        aggregate_hash: HexBinary::from(v.aggregate_hash.to_vec()),
        table_hash: HexBinary::from(table.hash().to_vec()),
        delta_u,
        dof: v.dof,
        scores,
    };
    Ok((table, report))
}

/// A round measured once and shared by the honest evaluators of one process (unless
/// `--independent-evaluators`): same code, same text, same table. Also the Sybil comparison.
type SharedMeasurement = Rc<RefCell<Option<(ValuedRound, Option<Valuation>)>>>;

/// What a demo evaluator's valuer produced in its last round.
#[derive(Debug, Clone)]
pub struct Valued {
    /// The honest measurement (the table the honest report commits to).
    pub measured: ValuedRound,
    /// The table it published and committed to (a consistent liar's is fabricated).
    pub table: UtilityTable,
    pub report: Report,
    /// The same round valued without grouping near-duplicates (with `--sybil` only).
    pub ungrouped: Option<Valuation>,
}

/// The service's valuer with the demo's extras around it.
pub struct DemoValuer {
    pub inner: ModelValuer,
    pub lie: Option<Lie>,
    /// Addresses the liar credits with the honest participants' value.
    favoured: Vec<String>,
    shared: SharedMeasurement,
    independent: bool,
    /// Measure the round without grouping too (the Sybil's comparison).
    ungrouped: bool,
    pub last: Option<Valued>,
}

impl Valuer for DemoValuer {
    fn value(
        &mut self,
        r: &rm::RoundResponse,
        bundles: &[VerifiedBundle],
        no_shows: &[String],
    ) -> Result<Report, String> {
        let cached = self
            .shared
            .borrow()
            .as_ref()
            .filter(|(m, _)| m.round_id == r.id)
            .cloned();
        let (measured, ungrouped) = match cached {
            Some(c) if !self.independent => c,
            cached => {
                let m = self.inner.measure(r, bundles, no_shows, true)?;
                let ungrouped = match cached {
                    Some((_, u)) => u,
                    None if self.ungrouped && !m.groups.is_trivial() => {
                        Some(self.inner.measure(r, bundles, no_shows, false)?.valuation)
                    }
                    None => None,
                };
                *self.shared.borrow_mut() = Some((m.clone(), ungrouped.clone()));
                (m, ungrouped)
            }
        };
        let favoured: Vec<bool> = measured
            .participants
            .iter()
            .map(|p| self.favoured.contains(p))
            .collect();
        let err = |e: DemoError| e.to_string();
        let (table, report) = match self.lie {
            Some(how) => {
                lying_report(&measured.valuation, &measured.table, &favoured, how).map_err(err)?
            }
            None => (
                measured.table.clone(),
                to_report(&measured.valuation, &measured.table).map_err(|e| e.to_string())?,
            ),
        };
        self.last = Some(Valued {
            measured,
            table,
            report: report.clone(),
            ungrouped,
        });
        Ok(report)
    }

    /// The table this evaluator committed to (a consistent liar's fabricated one), which the
    /// service publishes to the relayer's store at reveal for challengers to fetch.
    fn table(&self, round_id: u64) -> Result<Option<UtilityTable>, String> {
        Ok(self
            .last
            .as_ref()
            .filter(|v| v.measured.round_id == round_id)
            .map(|v| v.table.clone()))
    }
}

/// The evaluator service running one demo evaluator.
pub type Service = service::Evaluator<DemoValuer>;

/// How the demo's evaluator services are set up.
pub struct Setup<'a> {
    pub d: &'a Deployment,
    pub stake_kind: &'a StakeKind,
    pub base: &'a fairshare_trainer::model::LlamaModel,
    pub base_hash: &'a str,
    pub seq_len: usize,
    /// Each evaluator's data directory is `<work>/evaluator-<k>`.
    pub work: &'a Path,
    /// The relayer: where each committed bundle is, and its store.
    pub relayer_url: &'a str,
    /// Which evaluator lies, and how.
    pub liar: Option<(usize, Lie)>,
    pub favoured: Vec<String>,
    pub independent: bool,
    pub sybil: bool,
    pub duplicate_threshold: f64,
    pub progress: bool,
}

/// One evaluator service per key.
pub fn start(keys: &[ParticipantKey], s: &Setup) -> anyhow::Result<Vec<Service>> {
    let shared: SharedMeasurement = Rc::default();
    keys.iter()
        .enumerate()
        .map(|(k, key)| {
            let data_dir = s.work.join(format!("evaluator-{k}"));
            let store = || crate::store::http::HttpStore::new(s.relayer_url);
            let inner = ModelValuer::new(
                s.base.clone(),
                s.base_hash.to_string(),
                Vec::new(),
                [0; 32],
                s.d.round_manager.as_str(),
                Some(Box::new(store()?)),
                service::ValuerSettings {
                    name: format!("evaluator-{k}"),
                    seq_len: s.seq_len,
                    batch_windows: BATCH_WINDOWS,
                    duplicate_threshold: s.duplicate_threshold,
                    work_dir: data_dir.clone(),
                    progress: s.progress,
                },
            );
            Ok(Service {
                key: key.clone(),
                d: s.d.clone(),
                opts: EvaluatorOptions {
                    data_dir,
                    bond: 0,
                    stake_kind: s.stake_kind.clone(),
                    fetch_margin_blocks: 1,
                },
                store: Box::new(store()?),
                relayer: crate::relay::client::RelayClient::new(s.relayer_url)?,
                valuer: DemoValuer {
                    inner,
                    lie: s.liar.and_then(|(l, how)| (l == k).then_some(how)),
                    favoured: s.favoured.clone(),
                    shared: shared.clone(),
                    independent: s.independent,
                    ungrouped: s.sybil,
                    last: None,
                },
            })
        })
        .collect()
}

/// Every evaluator measures on this held-out text from now on (the demo's text changes every
/// round; a service reads its text from its config).
pub fn set_validation(evaluators: &mut [Service], tokens: &[u32], text_hash: [u8; 32]) {
    for e in evaluators {
        e.valuer.inner.set_validation(tokens.to_vec(), text_hash);
    }
}

/// Every evaluator bonds `bond` to serve round `id` (one service step each).
pub fn bond(
    chain: &mut dyn Chain,
    evaluators: &mut [Service],
    id: u64,
    bond: u128,
) -> anyhow::Result<()> {
    for (k, e) in evaluators.iter_mut().enumerate() {
        e.opts.bond = bond;
        match e
            .step(chain)
            .with_context(|| format!("evaluator-{k} bonds for round {id}"))?
        {
            Action::Bonded { round } if round == id => {}
            other => anyhow::bail!("evaluator-{k} was to bond for round {id} but did {other:?}"),
        }
    }
    Ok(())
}

/// What one evaluator produced in a round, between its commit and the round's end.
pub struct EvaluatorWork {
    pub valuation: Valuation,
    /// The players in table order (addresses).
    pub participants: Vec<String>,
    pub groups: Groups,
    pub similarity: Vec<Vec<f64>>,
    /// The ΔU it reported (a liar's may not be what it measured).
    pub reported_delta_u: SignedDecimal,
    /// Its honest table (what it measured), whatever it published.
    pub honest_table: UtilityTable,
    /// The table it published (and committed to).
    pub table_file: PathBuf,
    pub report: Report,
    pub lie: Option<Lie>,
    /// The round valued without grouping (the Sybil comparison).
    pub ungrouped: Option<Valuation>,
}

/// After the commit deadline every evaluator steps its service: it fetches and checks every
/// committed bundle from the relayer's store, values the round, seals its report and commits
/// its digest. Each publishes its table in `published` (`evaluator-<k>.table.json`).
pub fn value_and_commit(
    chain: &mut dyn Chain,
    evaluators: &mut [Service],
    id: u64,
    published: &Path,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<Vec<EvaluatorWork>> {
    let mut works = vec![];
    for (k, e) in evaluators.iter_mut().enumerate() {
        e.valuer.last = None;
        match e
            .step(chain)
            .with_context(|| format!("evaluator-{k} values round {id}"))?
        {
            Action::Committed { round, .. } if round == id => {}
            other => anyhow::bail!("evaluator-{k} was to commit in round {id} but did {other:?}"),
        }
        let v = e
            .valuer
            .last
            .clone()
            .with_context(|| format!("evaluator-{k} valued round {id}"))?;
        let table_file = published.join(format!("evaluator-{k}.table.json"));
        crate::demo::write_json(&table_file, &v.table)?;
        let sealed = service::sealed_report(&e.opts.data_dir, id)
            .with_context(|| format!("evaluator-{k} sealed its report of round {id}"))?;
        let m = &v.measured;
        writeln!(
            out,
            "  evaluator-{k} committed {} ({} Shapley, {} coalitions on {} tokens, ΔU {:.4}); table saved, digest {}…",
            if e.valuer.lie.is_some() { "its LIES" } else { "its report" },
            m.valuation.method,
            m.valuation.evaluations,
            e.valuer
                .inner
                .validation_tokens(m.table.validation_set_hash.as_slice())
                .map_or(0, <[u32]>::len),
            m.valuation.delta_u,
            &sealed.digest.to_hex()[..12]
        )?;
        works.push(EvaluatorWork {
            valuation: m.valuation.clone(),
            participants: m.participants.clone(),
            groups: m.groups.clone(),
            similarity: m.similarity.clone(),
            reported_delta_u: v.report.delta_u,
            honest_table: m.table.clone(),
            table_file,
            report: v.report,
            lie: e.valuer.lie,
            ungrouped: v.ungrouped,
        });
    }
    Ok(works)
}

/// In the reveal window every evaluator steps its service, which reveals the report it sealed;
/// the revealed report is also written to `published` (`evaluator-<k>.report.json`).
pub fn reveal(
    chain: &mut dyn Chain,
    evaluators: &mut [Service],
    id: u64,
    published: &Path,
) -> anyhow::Result<()> {
    for (k, e) in evaluators.iter_mut().enumerate() {
        match e
            .step(chain)
            .with_context(|| format!("evaluator-{k} reveals in round {id}"))?
        {
            Action::Revealed { round } if round == id => {}
            other => anyhow::bail!("evaluator-{k} was to reveal in round {id} but did {other:?}"),
        }
        let sealed = service::sealed_report(&e.opts.data_dir, id)
            .with_context(|| format!("evaluator-{k}'s sealed report of round {id}"))?;
        crate::demo::write_json(
            &published.join(format!("evaluator-{k}.report.json")),
            &sealed.report,
        )?;
    }
    Ok(())
}

/// Every evaluator claims its bond back and its pay.
pub fn claim(chain: &mut dyn Chain, evaluators: &[Service], id: u64) -> anyhow::Result<()> {
    for (k, e) in evaluators.iter().enumerate() {
        round::claim(chain, &e.d, &e.key, id)
            .with_context(|| format!("evaluator-{k} claims in round {id}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::valuation::tests::{addrs, valuation};
    use fairshare_protocol::report;

    #[test]
    fn inconsistent_lies_are_caught_by_the_table_and_consistent_ones_are_not() {
        let u = vec![0.0, 0.01, 0.0, 0.01, 0.004, 0.014, 0.004, 0.014];
        let v = valuation(u, Estimator::Exact, 3);
        let honest = to_table(&v, &addrs(3), [0; 32]).expect("table");
        let favoured = [false, true, false];
        let (t, r) = lying_report(&v, &honest, &favoured, Lie::Inconsistent).expect("lie");
        assert_eq!(t, honest);
        let found = report::check(&r, &t).expect("checkable");
        assert_eq!(found.len(), 3, "every φ is off: {found:?}");
        let (t, r) = lying_report(&v, &honest, &favoured, Lie::Consistent).expect("lie");
        assert!(report::check(&r, &t).expect("checkable").is_empty());
        assert!(r.scores[0].value.is_negative() && r.scores[2].value.is_negative());
        assert!(r.scores[1].value > SignedDecimal::from_str("0.01").expect("decimal"));
    }
}
