//! The demo's results: the final table, `run.json`, `calibration.json` and the plots.

use std::path::Path;

use anyhow::{Context, Result};
use fairshare_plots::{render, Chart, Series};
use fairshare_protocol::rewards::Verdict;
use serde::Serialize;

use super::base::BaseRecord;
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
    /// φ by each evaluator.
    pub shapley: Vec<f64>,
    /// U({i}) by each evaluator: the validation-loss drop of its update alone.
    pub alone: Vec<f64>,
    /// The median score the chain settled on.
    pub score: Option<f64>,
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
            verdict: None,
            reward: 0,
            slash: 0,
        }
    }
}

/// One round.
#[derive(Debug, Clone, Serialize)]
pub struct RoundRecord {
    pub round: usize,
    pub round_id: u64,
    pub validation_loss_before: f64,
    pub validation_loss_after: f64,
    /// The settled (median) ΔU.
    pub delta_u: f64,
    pub pool: u128,
    pub dust: u128,
    pub slashed: u128,
    /// The no-show slash rate this round ran with (the DAO changes it).
    pub slash_no_show: String,
    pub valuation_method: String,
    pub evaluations: usize,
    pub entries: Vec<EntryRecord>,
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
    pub elapsed_s: f64,
    /// The final table and the round summary as Markdown (embedded by `fairshare simulate`).
    pub summary_markdown: String,
}

#[allow(clippy::too_many_arguments)]
pub fn finish(
    args: &DemoArgs,
    base: BaseRecord,
    people: &[Participant],
    rounds: Vec<RoundRecord>,
    dao: Option<DaoRecord>,
    finals: &[(u128, u128)],
    treasury: (u128, u128),
    calibration: Vec<CalibrationPoint>,
    funds: u128,
    elapsed_s: f64,
) -> RunRecord {
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
                loss_gain: es().filter_map(|e| e.alone.first()).sum(),
                shapley: es().filter_map(|e| e.score).sum(),
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
        elapsed_s,
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
            (Some(Verdict::Harmful), _) => 'H',
            (Some(Verdict::NoShow), _) => 'N',
            (None, false) => '·',
            (None, true) => '?',
        })
        .collect()
}

/// The final table as Markdown.
pub fn markdown(rec: &RunRecord) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "{} participants, {} rounds, {} evaluator{} on {} ({} parameters); {:.0} s.\n\n",
        rec.participants_n,
        rec.rounds_n,
        rec.evaluators,
        if rec.evaluators == 1 { "" } else { "s" },
        rec.base.description,
        rec.base.parameters,
        rec.elapsed_s
    ));
    s.push_str("| round | validation loss | ΔU settled | pool | slashed | no-show slash |\n|---|---|---|---|---|---|\n");
    for r in &rec.rounds {
        s.push_str(&format!(
            "| {} | {:.4} → {:.4} | {:.4} | {} | {} | {} |\n",
            r.round,
            r.validation_loss_before,
            r.validation_loss_after,
            r.delta_u,
            r.pool,
            r.slashed,
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
    s.push_str(&format!(
        "\nVerdicts per round: C contributor, F free-rider, H harmful, N no-show, · absent. Each participant started with {} ufair of stake coins, honest ones also with 5000 uFAIR of governance tokens; the treasury (the DAO) holds {} ufair of slashes and {} uFAIR of dust and deposits.\n",
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
    let reward = Chart::Scatter {
        title: "Reward against Shapley value (each participant, each round)".into(),
        x_label: "settled Shapley value φ (nats)".into(),
        y_label: "reward (uFAIR)".into(),
        series: by_role,
    };
    vec![
        ("demo_validation_loss", validation),
        ("demo_reward_vs_shapley", reward),
    ]
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
