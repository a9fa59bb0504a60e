//! The demo's results: the final table, `run.json`, `calibration.json` and the plots.

use std::path::Path;

use anyhow::{Context, Result};
use fairshare_plots::{render, Chart, Series};
use fairshare_protocol::evaluation::EvaluatorVerdict;
use fairshare_protocol::rewards::Verdict;
use serde::Serialize;

use super::base::BaseRecord;
use super::evaluator::Lie;
use super::participant::{Participant, Role};
use super::DemoArgs;

/// One participant in one round.
#[derive(Debug, Clone, Serialize)]
pub struct EntryRecord {
    pub name: String,
    pub role: Role,
    pub joined: bool,
    pub committed: bool,
    pub tokens_claimed: u64,
    /// Local training loss, first and last step.
    pub train_loss: Option<(f64, f64)>,
    pub update_norm: Option<f64>,
    /// φ each evaluator reported (a lying evaluator's lies included).
    pub shapley: Vec<f64>,
    /// U({i}) by each evaluator: the validation-loss drop of its update alone.
    pub alone: Vec<f64>,
    /// The consensus score the chain settled on (bond-weighted median).
    pub score: Option<f64>,
    /// Its standard error (the median reported error or the evaluators' spread, the larger).
    pub std_error: Option<f64>,
    pub verdict: Option<Verdict>,
    pub reward: u128,
    pub slash: u128,
}

impl EntryRecord {
    pub fn new(p: &Participant) -> Self {
        Self {
            name: p.name.clone(),
            role: p.role,
            joined: false,
            committed: false,
            tokens_claimed: 0,
            train_loss: None,
            update_norm: None,
            shapley: Vec::new(),
            alone: Vec::new(),
            score: None,
            std_error: None,
            verdict: None,
            reward: 0,
            slash: 0,
        }
    }
}

/// One evaluator in one round.
#[derive(Debug, Clone, Serialize)]
pub struct EvaluatorRecord {
    pub name: String,
    pub address: String,
    /// How it lied, if it did.
    pub lie: Option<Lie>,
    pub method: String,
    pub evaluations: usize,
    /// Degrees of freedom of its standard errors.
    pub dof: u32,
    /// The ΔU it reported.
    pub delta_u: f64,
    /// Its revealed report follows from its published table (the challenger's check).
    pub consistent: bool,
    /// A dispute against it: upheld (true) or rejected (false).
    pub disputed: Option<bool>,
    pub bond: u128,
    pub verdict: EvaluatorVerdict,
    /// 1 − deviation / (outlier fraction · Σ|φ*|), clamped at zero.
    pub agreement: f64,
    pub reward: u128,
    pub slash: u128,
    /// Where its published table is.
    pub table: String,
}

/// A dispute heard in a round.
#[derive(Debug, Clone, Serialize)]
pub struct DisputeRecord {
    pub evaluator: String,
    pub challenger: String,
    pub deposit: u128,
    pub upheld: bool,
    pub findings: Vec<String>,
}

/// What the challenger put in and took back in a round.
#[derive(Debug, Clone, Serialize)]
pub struct ChallengerRecord {
    pub deposits: u128,
    /// Deposits of upheld disputes plus bounties.
    pub returned: u128,
    pub upheld: u32,
    pub rejected: u32,
}

/// One round.
#[derive(Debug, Clone, Serialize)]
pub struct RoundRecord {
    pub round: usize,
    pub round_id: u64,
    /// False: the round failed (too few reports left after disputes); stakes came back.
    pub settled: bool,
    pub validation_loss_before: f64,
    pub validation_loss_after: f64,
    /// The settled (consensus) ΔU.
    pub delta_u: f64,
    /// The participants' pool.
    pub pool: u128,
    /// What the evaluators were paid.
    pub evaluator_pool: u128,
    pub dust: u128,
    pub slashed: u128,
    /// The critical value of the verdicts' one-sided t-test.
    pub t_critical: f64,
    /// The no-show slash rate this round ran with (the DAO changes it).
    pub slash_no_show: String,
    pub valuation_method: String,
    pub evaluations: usize,
    pub entries: Vec<EntryRecord>,
    pub evaluators: Vec<EvaluatorRecord>,
    pub disputes: Vec<DisputeRecord>,
    pub challenger: Option<ChallengerRecord>,
    /// DAO slashing proposals prepared from re-execution (files).
    pub proposals: Vec<String>,
}

/// An evaluator over the whole run.
#[derive(Debug, Clone, Serialize)]
pub struct EvaluatorSummary {
    pub name: String,
    pub lie: Option<Lie>,
    /// Its verdict per round.
    pub verdicts: Vec<EvaluatorVerdict>,
    pub bonded: u128,
    pub reward: u128,
    pub slash: u128,
    /// Disputes against it: upheld, rejected.
    pub disputes_upheld: u32,
    pub disputes_rejected: u32,
    /// Native stake coins at the end (started with `funds`).
    pub stake_balance: u128,
    pub token_balance: u128,
}

/// Where the run's time went.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Timing {
    /// Local training of every participant.
    pub training_s: f64,
    /// Every evaluator's valuation.
    pub valuation_s: f64,
    pub total_s: f64,
}

/// The DAO proposal of the run.
#[derive(Debug, Clone, Serialize)]
pub struct DaoRecord {
    pub proposal_id: u64,
    pub title: String,
    pub proposer: String,
    pub voters: Vec<String>,
    pub staked: u128,
    pub parameter: String,
    pub before: String,
    pub after: String,
}

/// A participant over the whole run.
#[derive(Debug, Clone, Serialize)]
pub struct ParticipantSummary {
    pub name: String,
    pub role: Role,
    pub play: String,
    pub data_tokens: usize,
    /// Σ over rounds of U({i}) (first evaluator).
    pub loss_gain: f64,
    /// Σ over rounds of the settled score.
    pub shapley: f64,
    pub reward: u128,
    pub slash: u128,
    /// Native stake coins at the end (started with `funds`).
    pub stake_balance: u128,
    /// FAIR tokens at the end (after any DAO stake).
    pub token_balance: u128,
}

/// `(training tokens, validation-loss drop)` of a coalition of honest updates: what
/// `fairshare simulate --calibration` fits its utility surrogate to.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CalibrationPoint {
    pub tokens: f64,
    pub utility: f64,
}

/// Everything the run produced.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub participants_n: usize,
    pub rounds_n: u64,
    pub evaluators: usize,
    pub seed: u64,
    pub base: BaseRecord,
    pub rounds: Vec<RoundRecord>,
    pub dao: Option<DaoRecord>,
    pub participants: Vec<ParticipantSummary>,
    pub funds_per_participant: u128,
    pub treasury_stake: u128,
    pub treasury_tokens: u128,
    pub calibration: Vec<CalibrationPoint>,
    pub lying_evaluator: Option<Lie>,
    pub evaluator_summaries: Vec<EvaluatorSummary>,
    pub elapsed_s: f64,
    pub timing: Timing,
    /// The final table and the round summary as Markdown (embedded by `fairshare simulate`).
    pub summary_markdown: String,
}

/// What the run hands to [`finish`].
pub struct Inputs<'a> {
    pub base: BaseRecord,
    pub people: &'a [Participant],
    pub rounds: Vec<RoundRecord>,
    pub dao: Option<DaoRecord>,
    /// (stake coins, tokens) of each participant at the end.
    pub finals: &'a [(u128, u128)],
    /// (stake coins, tokens) of each evaluator at the end.
    pub evaluator_finals: &'a [(u128, u128)],
    pub treasury: (u128, u128),
    pub calibration: Vec<CalibrationPoint>,
    pub funds: u128,
    pub timing: Timing,
}

pub fn finish(args: &DemoArgs, inputs: Inputs) -> RunRecord {
    let Inputs {
        base,
        people,
        rounds,
        dao,
        finals,
        evaluator_finals,
        treasury,
        calibration,
        funds,
        timing,
    } = inputs;
    let evaluator_summaries = evaluator_finals
        .iter()
        .enumerate()
        .map(|(k, &(stake_balance, token_balance))| {
            let rs = || rounds.iter().filter_map(move |r| r.evaluators.get(k));
            EvaluatorSummary {
                name: format!("evaluator-{k}"),
                lie: rs().find_map(|e| e.lie),
                verdicts: rs().map(|e| e.verdict).collect(),
                bonded: rs().map(|e| e.bond).sum(),
                reward: rs().map(|e| e.reward).sum(),
                slash: rs().map(|e| e.slash).sum(),
                disputes_upheld: rs().filter(|e| e.disputed == Some(true)).count() as u32,
                disputes_rejected: rs().filter(|e| e.disputed == Some(false)).count() as u32,
                stake_balance,
                token_balance,
            }
        })
        .collect();
    let participants: Vec<ParticipantSummary> = people
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let es = || rounds.iter().map(move |r| &r.entries[i]);
            ParticipantSummary {
                name: p.name.clone(),
                role: p.role,
                play: p.play.clone(),
                data_tokens: p.tokens.len(),
                // `+ 0.0`: an empty float sum is −0.0.
                loss_gain: es().filter_map(|e| e.alone.first()).sum::<f64>() + 0.0,
                shapley: es().filter_map(|e| e.score).sum::<f64>() + 0.0,
                reward: es().map(|e| e.reward).sum(),
                slash: es().map(|e| e.slash).sum(),
                stake_balance: finals[i].0,
                token_balance: finals[i].1,
            }
        })
        .collect();
    let mut rec = RunRecord {
        participants_n: people.len(),
        rounds_n: args.rounds,
        evaluators: args.evaluators,
        seed: args.seed,
        base,
        rounds,
        dao,
        participants,
        funds_per_participant: funds,
        treasury_stake: treasury.0,
        treasury_tokens: treasury.1,
        calibration,
        lying_evaluator: args.lying_evaluator,
        evaluator_summaries,
        elapsed_s: timing.total_s,
        timing,
        summary_markdown: String::new(),
    };
    rec.summary_markdown = markdown(&rec);
    rec
}

fn verdict_letters(rec: &RunRecord, i: usize) -> String {
    rec.rounds
        .iter()
        .map(|r| match (&r.entries[i].verdict, r.entries[i].joined) {
            (Some(Verdict::Contributor), _) => 'C',
            (Some(Verdict::FreeRider), _) => 'F',
            (Some(Verdict::Unpaid), _) => 'U',
            (Some(Verdict::Harmful), _) => 'H',
            (Some(Verdict::NoShow), _) => 'N',
            (None, false) => '·',
            (None, true) if !r.settled => 'R',
            (None, true) => '?',
        })
        .collect()
}

fn evaluator_letter(v: EvaluatorVerdict) -> char {
    match v {
        EvaluatorVerdict::Consensus => 'C',
        EvaluatorVerdict::Outlier => 'O',
        EvaluatorVerdict::Deviant => 'D',
        EvaluatorVerdict::NoShow => 'N',
        EvaluatorVerdict::Disputed => 'X',
    }
}

fn lie_label(lie: Option<Lie>) -> &'static str {
    match lie {
        None => "honest",
        Some(Lie::Inconsistent) => "liar (φ not from its table)",
        Some(Lie::Consistent) => "liar (fabricated table)",
    }
}

/// The final table as Markdown.
pub fn markdown(rec: &RunRecord) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "{} participants, {} rounds, {} bonded evaluators (quorum {}{}) on {} ({} parameters); {:.0} s ({:.0} s training, {:.0} s valuation).\n\n",
        rec.participants_n,
        rec.rounds_n,
        rec.evaluators,
        super::QUORUM,
        match rec.lying_evaluator {
            None => String::new(),
            Some(l) => format!("; the last one lies, {}", lie_label(Some(l))),
        },
        rec.base.description,
        rec.base.parameters,
        rec.elapsed_s,
        rec.timing.training_s,
        rec.timing.valuation_s
    ));
    s.push_str("| round | outcome | validation loss | ΔU settled | participants' pool | evaluators paid | slashed | t(α, ν) | no-show slash |\n|---|---|---|---|---|---|---|---|---|\n");
    for r in &rec.rounds {
        s.push_str(&format!(
            "| {} | {} | {:.4} → {:.4} | {:.4} | {} | {} | {} | {:.3} | {} |\n",
            r.round,
            if r.settled {
                "settled"
            } else {
                "failed (no quorum)"
            },
            r.validation_loss_before,
            r.validation_loss_after,
            r.delta_u,
            r.pool,
            r.evaluator_pool,
            r.slashed,
            r.t_critical,
            r.slash_no_show
        ));
    }
    if let Some(d) = &rec.dao {
        s.push_str(&format!(
            "\nDAO proposal {} “{}” by {} (voted by {}; {} uFAIR staked in the DAO): {} {} → {}.\n",
            d.proposal_id,
            d.title,
            d.proposer,
            d.voters.join(", "),
            d.staked,
            d.parameter,
            d.before,
            d.after
        ));
    }
    for r in &rec.rounds {
        s.push_str(&format!(
            "\n**Round {}** ({}).\n\n| participant | role | φ each evaluator reported | consensus φ ± se | verdict | reward (uFAIR) | slash (ufair) |\n|---|---|---|---|---|---|---|\n",
            r.round,
            if r.settled { "settled" } else { "failed: too few reports left, stakes returned" }
        ));
        for e in r.entries.iter().filter(|e| e.joined) {
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                e.name,
                e.role.label(),
                if e.shapley.is_empty() {
                    "-".to_string()
                } else {
                    e.shapley
                        .iter()
                        .map(|v| format!("{v:+.4}"))
                        .collect::<Vec<_>>()
                        .join(" / ")
                },
                match (e.score, e.std_error) {
                    (Some(v), Some(se)) => format!("{v:+.4} ± {se:.4}"),
                    _ => "-".into(),
                },
                e.verdict.map_or("-".into(), |v| format!("{v:?}")),
                e.reward,
                e.slash
            ));
        }
        s.push_str("\n| evaluator | role | ΔU reported | bond (ufair) | verdict | agreement | reward (uFAIR) | slash (ufair) | dispute |\n|---|---|---|---|---|---|---|---|---|\n");
        for e in &r.evaluators {
            s.push_str(&format!(
                "| {} | {} | {:+.4} | {} | {} | {:.2} | {} | {} | {} |\n",
                e.name,
                lie_label(e.lie),
                e.delta_u,
                e.bond,
                match (r.settled, e.verdict) {
                    // A failed round neither pays nor slashes a revealed report.
                    (false, EvaluatorVerdict::Consensus) => "not judged (round failed)".into(),
                    (_, v) => format!("{v:?}"),
                },
                e.agreement,
                e.reward,
                e.slash,
                match e.disputed {
                    Some(true) => "upheld: struck out",
                    Some(false) => "rejected",
                    None if e.consistent => "none (report follows from its table)",
                    None => "none",
                }
            ));
        }
        if let Some(c) = &r.challenger {
            s.push_str(&format!(
                "\nChallenger: {} ufair of deposits, {} ufair back ({} upheld, {} rejected).\n",
                c.deposits, c.returned, c.upheld, c.rejected
            ));
        }
        for p in &r.proposals {
            s.push_str(&format!(
                "\nRe-execution disagrees with a published table: DAO slashing proposal prepared in `{p}`.\n"
            ));
        }
    }
    s.push_str("\n| participant | role | data tokens | loss gain Σ U({i}) | Shapley Σ φ | verdicts | reward (uFAIR) | slash (ufair) | stake balance (ufair) | FAIR balance (uFAIR) |\n|---|---|---|---|---|---|---|---|---|---|\n");
    for (i, p) in rec.participants.iter().enumerate() {
        s.push_str(&format!(
            "| {} | {} | {} | {:+.4} | {:+.4} | {} | {} | {} | {} | {} |\n",
            p.name,
            p.role.label(),
            p.data_tokens,
            p.loss_gain,
            p.shapley,
            verdict_letters(rec, i),
            p.reward,
            p.slash,
            p.stake_balance,
            p.token_balance
        ));
    }
    s.push_str("\n| evaluator | role | verdicts | bonded Σ (ufair) | reward (uFAIR) | slash (ufair) | disputes upheld / rejected | stake balance (ufair) | FAIR balance (uFAIR) |\n|---|---|---|---|---|---|---|---|---|\n");
    for e in &rec.evaluator_summaries {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} / {} | {} | {} |\n",
            e.name,
            lie_label(e.lie),
            rec.rounds
                .iter()
                .filter_map(|r| r
                    .evaluators
                    .iter()
                    .find(|x| x.name == e.name)
                    .map(|x| (r, x)))
                .map(
                    |(r, x)| if r.settled || x.verdict != EvaluatorVerdict::Consensus {
                        evaluator_letter(x.verdict)
                    } else {
                        '·'
                    }
                )
                .collect::<String>(),
            e.bonded,
            e.reward,
            e.slash,
            e.disputes_upheld,
            e.disputes_rejected,
            e.stake_balance,
            e.token_balance
        ));
    }
    s.push_str(&format!(
        "\nParticipant verdicts per round: C contributor, U unpaid (at or below the free-rider threshold, not significantly), F free-rider, H harmful, N no-show, R refunded (round failed), · absent. \
         Evaluator verdicts: C consensus (paid by bond × agreement), O outlier (unpaid), D deviant (slashed), N no-show, X disputed (struck out, slashed), · not judged (round failed). \
         Everyone started with {} ufair of stake coins, honest participants also with 5000 uFAIR of governance tokens; the treasury (the DAO) holds {} ufair of slashes and {} uFAIR of dust and deposits.\n",
        rec.funds_per_participant, rec.treasury_stake, rec.treasury_tokens
    ));
    s
}

fn charts(rec: &RunRecord) -> Vec<(&'static str, Chart)> {
    let mut loss = vec![(
        0.0,
        rec.rounds
            .first()
            .map_or(f64::NAN, |r| r.validation_loss_before),
    )];
    loss.extend(
        rec.rounds
            .iter()
            .map(|r| (r.round as f64, r.validation_loss_after)),
    );
    let validation = Chart::Line {
        title: "Validation loss of the global model".into(),
        x_label: "round".into(),
        y_label: "mean loss (nats/token)".into(),
        series: vec![Series::new(
            "global model (contributors' updates merged)",
            loss,
        )],
    };
    let mut by_role: Vec<Series> = Vec::new();
    for r in &rec.rounds {
        for e in &r.entries {
            let Some(score) = e.score else { continue };
            let name = e.role.label().to_string();
            let point = (score, e.reward as f64);
            match by_role.iter_mut().find(|s| s.name == name) {
                Some(s) => s.points.push(point),
                None => by_role.push(Series::new(name, vec![point])),
            }
        }
    }
    let by_role_empty = by_role.is_empty();
    let reward = Chart::Scatter {
        title: "Reward against Shapley value (each participant, each round)".into(),
        x_label: "settled Shapley value φ (nats)".into(),
        y_label: "reward (uFAIR)".into(),
        series: by_role,
    };
    let mut charts = vec![("demo_validation_loss", validation)];
    // A run whose every round failed has no settled score to plot against.
    if !by_role_empty {
        charts.push(("demo_reward_vs_shapley", reward));
    }
    charts
}

/// Prints the table and writes `run.json`, `calibration.json` and the plots under `dir`.
pub fn write(rec: &RunRecord, dir: &Path, out: &mut dyn std::io::Write) -> Result<()> {
    writeln!(out, "\n{}", rec.summary_markdown)?;
    let run = dir.join("run.json");
    std::fs::write(&run, serde_json::to_vec_pretty(rec)?)
        .with_context(|| format!("writing {}", run.display()))?;
    let cal = dir.join("calibration.json");
    std::fs::write(&cal, serde_json::to_vec_pretty(&rec.calibration)?)
        .with_context(|| format!("writing {}", cal.display()))?;
    let mut written = vec![run, cal];
    for (stem, chart) in charts(rec) {
        written.extend(
            render(&chart, &dir.join("plots").join(stem))
                .with_context(|| format!("drawing {stem}"))?,
        );
    }
    writeln!(
        out,
        "wrote {}",
        written
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    Ok(())
}
