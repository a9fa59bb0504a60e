//! The evaluator-layer commands: an evaluator bonds, commits to its report and reveals it
//! (`fairshare evaluator serve|commit|reveal`); anyone checks a revealed report against its
//! published table (`fairshare verify-report`), disputes one that does not follow
//! (`fairshare dispute`), or turns a re-execution that disagrees with a table into a DAO
//! slashing proposal (`fairshare dispute propose`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use cosmwasm_std::Uint128;
use fairshare_protocol::report::UtilityTable;
use fairshare_protocol::round_manager::{self as rm, Phase, Report};
use serde_json::json;

use super::{out, tx_json, Output, Session, Who};
use crate::audit;
use crate::chain::Chain;
use crate::ops::{round, StakeKind};
use crate::sealed::SealedReport;

/// Default tolerance of a re-execution, in nats per token: the resolution of f32 evaluation
/// (sums reordered by rank stacking and threads move a loss by less).
pub const REEXECUTION_TOLERANCE: f64 = 1e-4;

#[derive(Subcommand, Debug)]
pub enum EvaluatorCmd {
    /// Run one evaluator as a service: bond for each round it is listed for, fetch and check
    /// every committed bundle after the commit deadline, value the round (Shapley values on
    /// its held-out text; a participant whose bundle is missing is a no-show), commit to the
    /// report and reveal it. The TOML config (data_dir, relayer, bond, nodes, chain_id,
    /// deployment, [store], [key], [valuation]) is given with the global `--config` (see
    /// `relayer/src/evaluator/config.rs`). Safe to stop and restart.
    Run(super::services::EvaluatorRunArgs),
    /// Bond a stake to serve as an evaluator of a round (you must be on the round's evaluator
    /// list; before its commit deadline).
    Serve {
        #[command(flatten)]
        who: Who,
        /// The round to evaluate.
        #[arg(long)]
        round: u64,
        /// Bond in the native stake denom (default: the round's minimum bond).
        #[arg(long)]
        bond: Option<u128>,
    },
    /// Commit to a report: posts only its digest (the report with a fresh random salt) and keeps
    /// the report and salt in a private file until `evaluator reveal`. Checks first that the
    /// report scores exactly the round's committed participants and, with --table, that every
    /// φ and ΔU follows from the table it commits to (or a dispute would slash you).
    Commit {
        #[command(flatten)]
        who: Who,
        /// The round the report is for.
        #[arg(long)]
        round: u64,
        /// The report (JSON of the round-manager's `Report`: aggregate_hash, table_hash,
        /// delta_u, dof, scores).
        #[arg(long)]
        report: PathBuf,
        /// The utility table the report commits to (publish it with the round's bundles).
        #[arg(long)]
        table: Option<PathBuf>,
    },
    /// Reveal the report committed to in a round (after its commit deadline, before its reveal
    /// deadline), from the sealed file `evaluator commit` kept.
    Reveal {
        #[command(flatten)]
        who: Who,
        /// The round whose committed report to reveal.
        #[arg(long)]
        round: u64,
        /// The sealed report (default: the one `evaluator commit` wrote for this round).
        #[arg(long)]
        sealed: Option<PathBuf>,
    },
}

/// Options of `fairshare verify-report`.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The published utility table (JSON of `UtilityTable`).
    #[arg(long)]
    pub table: PathBuf,
    /// The report: a JSON `Report`, or a sealed report file. Without it, the report is read
    /// from the chain with --round and --evaluator.
    #[arg(long, conflicts_with_all = ["round", "evaluator"], required_unless_present_all = ["round", "evaluator"])]
    pub report: Option<PathBuf>,
    /// Round whose revealed report to read from the chain.
    #[arg(long, requires = "evaluator")]
    pub round: Option<u64>,
    /// Evaluator (address or account name) whose revealed report to read.
    #[arg(long, requires = "round")]
    pub evaluator: Option<String>,
}

/// Options of `fairshare dispute`.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct DisputeArgs {
    #[command(subcommand)]
    pub command: Option<DisputeCmd>,
    #[command(flatten)]
    pub who: Who,
    /// The round of the report.
    #[arg(long, required = true)]
    pub round: Option<u64>,
    /// The evaluator whose revealed report is disputed (address or account name).
    #[arg(long, required = true)]
    pub evaluator: Option<String>,
    /// The utility table the report committed to, as published with the round's bundles.
    #[arg(long, required = true)]
    pub table: Option<PathBuf>,
    /// Post even though the table shows the report follows from it (the deposit is then
    /// forfeited).
    #[arg(long)]
    pub force: bool,
}

#[derive(Subcommand, Debug)]
pub enum DisputeCmd {
    /// Prepare a DAO proposal that penalises an evaluator whose published table disagrees
    /// with a re-execution of U(S) on the validation text revealed after settlement (run
    /// `fairshare-trainer evaluate … --coalition MEMBERS` for the coalitions to check). Writes
    /// the proposal's messages and its plain-language description; propose it with
    /// `fairshare dao propose` within the round's appeal window.
    Propose(ProposeArgs),
}

/// Options of `fairshare dispute propose`.
#[derive(Args, Debug)]
pub struct ProposeArgs {
    /// The round whose evaluator is to be penalised (within its appeal window).
    #[arg(long)]
    pub round: u64,
    /// The evaluator (address or account name).
    #[arg(long)]
    pub evaluator: String,
    /// Its published utility table.
    #[arg(long)]
    pub table: PathBuf,
    /// The output of `fairshare-trainer evaluate --coalition …` on the revealed validation text.
    #[arg(long)]
    pub reexecution: Option<PathBuf>,
    /// A coalition you measured yourself (comma-separated participant addresses); pair each
    /// with a --measured value, in order.
    #[arg(long = "coalition", value_name = "MEMBERS")]
    pub coalitions: Vec<String>,
    /// U(S) you measured for the --coalition of the same position (nats per token).
    #[arg(long = "measured", value_name = "U", allow_negative_numbers = true)]
    pub measured: Vec<f64>,
    /// Largest difference (nats per token) still counted as agreement.
    #[arg(long, default_value_t = REEXECUTION_TOLERANCE)]
    pub tolerance: f64,
    /// What to take from the bond (default: all the evaluator has left after settlement).
    #[arg(long)]
    pub penalty: Option<u128>,
    /// Prefix of the files written: PREFIX.msgs.json (for `dao propose --msgs`) and PREFIX.md.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not {what}", path.display()))
}

fn read_table(path: &Path) -> Result<UtilityTable> {
    read_json(
        path,
        "a utility table (participants, validation_set_hash, estimator, utilities)",
    )
}

/// A report from a file: a plain `Report`, or a sealed report (which holds one).
fn read_report(path: &Path) -> Result<Report> {
    let v: serde_json::Value = read_json(path, "JSON")?;
    let inner = v.get("report").cloned().unwrap_or(v);
    serde_json::from_value(inner).with_context(|| {
        format!(
            "{} is not a report (aggregate_hash, table_hash, delta_u, dof, scores) or a sealed report",
            path.display()
        )
    })
}

/// An address as given, or the address of the account of that name.
fn address_of(s: &Session, who: &str) -> Result<String> {
    if who.starts_with(&format!("{}1", s.cfg.prefix)) {
        return Ok(who.to_string());
    }
    s.cfg
        .account(who)
        .map(|a| a.address().to_string())
        .with_context(|| format!("{who} is neither an address nor an account name"))
}

/// `fairshare verify-report` from files only (no node needed).
pub(super) fn verify_offline(a: &VerifyArgs) -> Result<Output> {
    let table = read_table(&a.table)?;
    let path = a
        .report
        .as_ref()
        .ok_or_else(|| anyhow!("--report is missing"))?;
    let report = read_report(path)?;
    verified(&report, &table, None)
}

/// `fairshare verify-report --round N --evaluator E`: the report as revealed on chain.
pub(super) fn verify_on_chain(s: &mut Session, a: &VerifyArgs) -> Result<Output> {
    let table = read_table(&a.table)?;
    let (Some(id), Some(e)) = (a.round, a.evaluator.as_deref()) else {
        bail!("give --report, or --round and --evaluator");
    };
    let d = s.deployment()?;
    let evaluator = address_of(s, e)?;
    let report = round::revealed_report(&s.chain, &d, id, &evaluator)?
        .ok_or_else(|| anyhow!("{evaluator} has revealed no report in round {id} (yet)"))?;
    let r = round::status(&s.chain, &d, id)?;
    let ctx = audit::RoundContext {
        round_manager: d.round_manager.as_str(),
        round_id: id,
        validation_set_hash: r.spec.validation_set_hash.as_slice(),
    };
    verified(&report, &table, Some(ctx))
}

fn verified(
    report: &Report,
    table: &UtilityTable,
    round: Option<audit::RoundContext>,
) -> Result<Output> {
    let check = audit::check(report, table, round);
    let mut o = out(check.describe(), serde_json::to_value(&check)?)?;
    if !check.consistent() {
        o.failure = Some(if check.table_is_committed {
            "the report does not follow from its table".into()
        } else {
            "the table is not the one the report committed to".into()
        });
    }
    Ok(o)
}

pub(super) fn evaluator(s: &mut Session, cmd: EvaluatorCmd) -> Result<Output> {
    let d = s.deployment()?;
    let kind = StakeKind::Native(s.cfg.stake_denom.clone());
    match cmd {
        EvaluatorCmd::Run(_) => bail!("`evaluator run` is a service: it runs without a session"),
        EvaluatorCmd::Serve {
            who,
            round: id,
            bond,
        } => {
            let k = s.account(&who)?;
            let r = round::status(&s.chain, &d, id)?;
            if !r.params.evaluators.iter().any(|e| e == k.address()) {
                bail!(
                    "{} is not on round {id}'s evaluator list ({}); the DAO sets that list",
                    k.address(),
                    r.params.evaluators.join(", ")
                );
            }
            let bond = bond.unwrap_or(r.params.evaluation.min_bond.u128());
            let tx = round::serve(&mut s.chain, &d, &kind, &k.key, id, bond)?;
            out(
                format!(
                    "{} bonded {bond}{} to evaluate round {id}",
                    k.address(),
                    s.cfg.stake_denom
                ),
                tx_json(&tx),
            )
        }
        EvaluatorCmd::Commit {
            who,
            round: id,
            report,
            table,
        } => {
            let k = s.account(&who)?;
            let report = read_report(&report)?;
            let r = round_in(s, &d, id, Phase::Evaluating, "reports are committed")?;
            let committed = committed_participants(s, &d, id)?;
            let scored: BTreeSet<String> = report
                .scores
                .iter()
                .map(|p| p.participant.clone())
                .collect();
            if scored != committed || scored.len() != report.scores.len() {
                let missing: Vec<&String> = committed.difference(&scored).collect();
                let extra: Vec<&String> = scored.difference(&committed).collect();
                bail!(
                    "the report must score each of round {id}'s {} committed participants once: missing {missing:?}, not committed {extra:?}{}",
                    committed.len(),
                    if scored.len() != report.scores.len() { ", and some appear twice" } else { "" }
                );
            }
            if let Some(t) = &table {
                let ctx = audit::RoundContext {
                    round_manager: d.round_manager.as_str(),
                    round_id: id,
                    validation_set_hash: r.spec.validation_set_hash.as_slice(),
                };
                let check = audit::check(&report, &read_table(t)?, Some(ctx));
                if !check.consistent() {
                    bail!(
                        "refusing to commit a report a dispute would strike out:\n{}",
                        check.describe()
                    );
                }
            }
            let sealed = SealedReport::new(d.round_manager.as_str(), id, k.address(), report);
            let path = sealed_path(s, id, k.address());
            sealed.write(&path)?;
            let tx = round::commit_report(
                &mut s.chain,
                &d,
                &k.key,
                id,
                &sealed.report,
                &sealed.salt_bytes()?,
            )?;
            let mut j = tx_json(&tx);
            j["digest"] = json!(sealed.digest.to_hex());
            j["sealed"] = json!(path);
            out(
                format!(
                    "{} committed to its report for round {id} (digest {}); the report and salt stay in {} until `fairshare evaluator reveal` after block {}",
                    k.address(),
                    sealed.digest.to_hex(),
                    path.display(),
                    r.deadlines.report_until
                ),
                j,
            )
        }
        EvaluatorCmd::Reveal {
            who,
            round: id,
            sealed,
        } => {
            let k = s.account(&who)?;
            let path = sealed.unwrap_or_else(|| sealed_path(s, id, k.address()));
            let sealed = SealedReport::read(&path).with_context(|| {
                format!("no sealed report for round {id}: did `fairshare evaluator commit` run with this config?")
            })?;
            if sealed.round_id != id || sealed.evaluator != k.address() {
                bail!(
                    "{} seals round {}'s report of {}, not round {id}'s of {}",
                    path.display(),
                    sealed.round_id,
                    sealed.evaluator,
                    k.address()
                );
            }
            round_in(s, &d, id, Phase::Revealing, "reports are revealed")?;
            let tx = round::reveal_report(
                &mut s.chain,
                &d,
                &k.key,
                id,
                sealed.report.clone(),
                &sealed.salt_bytes()?,
            )?;
            out(
                format!("{} revealed its report for round {id}", k.address()),
                tx_json(&tx),
            )
        }
    }
}

/// The round's state, or a plain error unless it is in `phase` (when `doing` is allowed).
fn round_in(
    s: &Session,
    d: &crate::ops::Deployment,
    id: u64,
    phase: Phase,
    doing: &str,
) -> Result<rm::RoundResponse> {
    let r = round::status(&s.chain, d, id)?;
    if r.phase != phase {
        let dl = r.deadlines;
        let (from, until) = match phase {
            Phase::Evaluating => (dl.commit_until, dl.report_until),
            Phase::Revealing => (dl.report_until, dl.reveal_until),
            _ => (dl.opened_at, dl.settle_until),
        };
        bail!(
            "round {id} is {:?}: {doing} while it is {phase:?} (blocks {from}..{until}; now {})",
            r.phase,
            s.chain.height()?
        );
    }
    Ok(r)
}

fn sealed_path(s: &Session, round_id: u64, evaluator: &str) -> PathBuf {
    s.cfg
        .sealed
        .join(format!("round-{round_id}-{evaluator}.json"))
}

fn committed_participants(
    s: &Session,
    d: &crate::ops::Deployment,
    round_id: u64,
) -> Result<BTreeSet<String>> {
    Ok(crate::evaluator::committed(&s.chain, d, round_id)?
        .into_iter()
        .map(|(participant, _)| participant)
        .collect())
}

pub(super) fn dispute(s: &mut Session, a: DisputeArgs) -> Result<Output> {
    if let Some(DisputeCmd::Propose(p)) = a.command {
        return propose(s, p);
    }
    let (Some(id), Some(e), Some(table_file)) = (a.round, a.evaluator.as_deref(), &a.table) else {
        bail!("give --round, --evaluator and --table (or `dispute propose`)");
    };
    let d = s.deployment()?;
    let evaluator = address_of(s, e)?;
    let table = read_table(table_file)?;
    let r = round::status(&s.chain, &d, id)?;
    if !matches!(r.phase, Phase::Revealing | Phase::Challenging) {
        bail!(
            "round {id} is {:?}: disputes are heard from a report's reveal until block {} (now {})",
            r.phase,
            r.deadlines.dispute_until,
            s.chain.height()?
        );
    }
    let report = round::revealed_report(&s.chain, &d, id, &evaluator)?.ok_or_else(|| {
        anyhow!("{evaluator} has revealed no report in round {id}: nothing to dispute")
    })?;
    let ctx = audit::RoundContext {
        round_manager: d.round_manager.as_str(),
        round_id: id,
        validation_set_hash: r.spec.validation_set_hash.as_slice(),
    };
    let check = audit::check(&report, &table, Some(ctx));
    if !check.table_is_committed {
        bail!(
            "{} is not the table {evaluator} committed to (its hash {} differs from the report's {}); the round-manager would refuse it",
            table_file.display(),
            hex::encode(table.hash()),
            report.table_hash.to_hex()
        );
    }
    let deposit = r.params.evaluation.dispute_deposit.u128();
    if check.consistent() && !a.force {
        bail!(
            "the report follows from its table, so a dispute would fail and forfeit your deposit of {deposit}{}:\n{}\n(--force posts it anyway)",
            s.cfg.stake_denom,
            check.describe()
        );
    }
    let k = s.account(&a.who)?;
    let kind = StakeKind::Native(s.cfg.stake_denom.clone());
    let tx = round::dispute(
        &mut s.chain,
        &d,
        &kind,
        &k.key,
        id,
        &evaluator,
        table,
        deposit,
    )?;
    let outcome = tx.attribute("outcome").unwrap_or("?").to_string();
    let text = match outcome.as_str() {
        "upheld" => format!(
            "dispute upheld: {evaluator}'s report in round {id} is struck out and its evaluator slashed; claim your deposit of {deposit}{} and the bounty with `fairshare claim --round {id}` once the round ends",
            s.cfg.stake_denom
        ),
        "rejected" => format!(
            "dispute rejected: the report follows from its table; your deposit of {deposit}{} is forfeited",
            s.cfg.stake_denom
        ),
        o => format!("dispute posted (outcome {o})"),
    };
    let mut j = tx_json(&tx);
    j["outcome"] = json!(outcome);
    out(text, j)
}

fn propose(s: &mut Session, a: ProposeArgs) -> Result<Output> {
    let d = s.deployment()?;
    let evaluator = address_of(s, &a.evaluator)?;
    let table = read_table(&a.table)?;
    if !(a.tolerance >= 0.0 && a.tolerance.is_finite()) {
        bail!(
            "--tolerance must be a non-negative number, got {}",
            a.tolerance
        );
    }
    let mut measured = match &a.reexecution {
        Some(p) => {
            let v: serde_json::Value = read_json(p, "JSON")?;
            audit::measurements_from_trainer(&v).map_err(|e| anyhow!("{}: {e}", p.display()))?
        }
        None => vec![],
    };
    if a.coalitions.len() != a.measured.len() {
        bail!(
            "give one --measured value per --coalition ({} coalitions, {} values)",
            a.coalitions.len(),
            a.measured.len()
        );
    }
    for (c, &u) in a.coalitions.iter().zip(&a.measured) {
        measured.push(audit::Measurement {
            participants: c
                .split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(String::from)
                .collect(),
            utility: u,
        });
    }
    if measured.is_empty() {
        bail!("nothing to compare: give --reexecution (from `fairshare-trainer evaluate --coalition …`) or --coalition/--measured pairs");
    }
    // The table must be the one the evaluator committed to, or the evidence is about nothing.
    if let Some(report) = round::revealed_report(&s.chain, &d, a.round, &evaluator)? {
        if report.table_hash.as_slice() != table.hash().as_slice() {
            bail!(
                "{} is not the table {evaluator} committed to in round {} (hash {} vs the report's {})",
                a.table.display(),
                a.round,
                hex::encode(table.hash()),
                report.table_hash.to_hex()
            );
        }
    }
    let comparisons = audit::compare(&table, &measured, a.tolerance)
        .map_err(|e| anyhow!("cannot compare with the table: {e}"))?;
    let standing = round::evaluator_result(&s.chain, &d, a.round, &evaluator)?;
    let left = standing.bond.saturating_sub(standing.slash);
    let amount = Uint128::new(a.penalty.unwrap_or(left.u128()));
    let height = s.chain.height()?;
    let mut lines: Vec<String> = comparisons
        .iter()
        .map(|c| {
            format!(
                "  {:<9} U({{{}}}): table {}, re-executed {:.9}, off by {:.9}",
                if c.beyond_tolerance {
                    "DISAGREES"
                } else {
                    "agrees"
                },
                c.participants.join(", "),
                c.table
                    .map_or("(not in the table)".into(), |t| format!("{t:.9}")),
                c.measured,
                c.difference
            )
        })
        .collect();
    let table_hash = hex::encode(table.hash());
    let proposal = audit::slashing_proposal(&audit::Evidence {
        escrow: d.escrow.as_str(),
        round_id: a.round,
        evaluator: &evaluator,
        table_hash: &table_hash,
        validation_set_hash: &table.validation_set_hash.to_hex(),
        tolerance: a.tolerance,
        comparisons: &comparisons,
        amount,
    })?;
    let Some(p) = proposal else {
        lines.push(format!(
            "every coalition agrees within {:e}: no evidence for a penalty, no proposal written",
            a.tolerance
        ));
        return out(
            lines.join("\n"),
            json!({ "comparisons": comparisons, "proposal": null }),
        );
    };
    if amount.is_zero() || amount > left {
        bail!("the penalty must be between 1 and what is left of the bond ({left}), got {amount}");
    }
    let prefix = a.out.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "penalize-round-{}-{}",
            a.round,
            &evaluator[evaluator.len().saturating_sub(8)..]
        ))
    });
    let msgs_file = prefix.with_extension("msgs.json");
    let md_file = prefix.with_extension("md");
    std::fs::write(&msgs_file, serde_json::to_vec_pretty(&p.msgs)?)
        .with_context(|| format!("writing {}", msgs_file.display()))?;
    std::fs::write(&md_file, format!("# {}\n\n{}\n", p.title, p.description))
        .with_context(|| format!("writing {}", md_file.display()))?;
    if height >= standing.claimable_from {
        lines.push(format!(
            "WARNING: the appeal window of round {} closed at block {} (now {height}); the escrow will refuse this penalty",
            a.round, standing.claimable_from
        ));
    } else {
        lines.push(format!(
            "the appeal window is open until block {} (now {height}): the proposal must pass and execute before then",
            standing.claimable_from
        ));
    }
    lines.push(format!(
        "proposal written: {} (messages) and {} (description). Submit it with\n  fairshare dao propose --as <member> --title {:?} --description \"$(cat {})\" --msgs {}",
        msgs_file.display(),
        md_file.display(),
        p.title,
        md_file.display(),
        msgs_file.display()
    ));
    out(
        lines.join("\n"),
        json!({
            "comparisons": comparisons,
            "proposal": p,
            "msgs_file": msgs_file,
            "description_file": md_file,
            "appeal_until": standing.claimable_from,
        }),
    )
}
