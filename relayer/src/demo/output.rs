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
    /// Near-duplicate detection among the round's updates.
    pub duplicates: DuplicateRecord,
    /// The Sybil party's two identities against one (with `--sybil`).
    pub sybil: Option<SybilRecord>,
}

/// What two updates are known to be, for calibrating the near-duplicate threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PairKind {
    /// Trained by different parties on different plays.
    DistinctData,
    /// Two identities of one party, on the same text.
    SameData,
    /// One of them is untrained (zero ΔW): no similarity to speak of.
    Untrained,
}

/// The similarity of one pair of a round's updates.
#[derive(Debug, Clone, Serialize)]
pub struct PairRecord {
    pub a: String,
    pub b: String,
    pub kind: PairKind,
    /// Mean over adapted projections of the cosine of their ΔW = s·B·A.
    pub cosine: f64,
}

/// The evaluators' near-duplicate detection in one round.
#[derive(Debug, Clone, Serialize, Default)]
pub struct DuplicateRecord {
    pub threshold: f64,
    pub pairs: Vec<PairRecord>,
    /// Groups valued as one player (only groups of two or more).
    pub groups: Vec<Vec<String>>,
}

/// The Sybil party in one round: what its identities earned together, and what one identity
/// would have earned under the same rule (the other identity absent, every other score
/// unchanged): grouped, one identity holds the group's φ; not grouped, its φ is its Shapley
/// value in the measured table's sub-game without the other identity.
#[derive(Debug, Clone, Serialize)]
pub struct SybilRecord {
    pub identities: Vec<String>,
    /// Whether the evaluators grouped the identities as near-duplicates.
    pub grouped: bool,
    /// Σ of the identities' settled φ.
    pub phi_total: f64,
    /// Σ of the identities' rewards, as settled on chain.
    pub reward_total: u128,
    /// Σ of their slashes.
    pub slash_total: u128,
    /// Stake bonded in all (one stake per identity).
    pub stake_total: u128,
    /// One identity: φ, reward and slash by the reward rule.
    pub phi_one: f64,
    pub reward_one: u128,
    pub slash_one: u128,
    pub stake_one: u128,
    /// The rule re-applied to the settled scores reproduces the chain's rewards.
    pub rule_reproduces_chain: bool,
    /// When the identities were grouped: the round valued again without grouping (every
    /// update its own player, copies counted twice in the aggregate) and the rule applied to
    /// those scores: the identities' Σ φ, reward and slash had evaluators not grouped them.
    pub phi_ungrouped: Option<f64>,
    pub reward_ungrouped: Option<u128>,
    pub slash_ungrouped: Option<u128>,
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
    /// Near-duplicate similarities of the whole run by kind of pair, and the threshold they
    /// support.
    pub duplicates: DuplicateSummary,
    /// The final table and the round summary as Markdown (embedded by `fairshare simulate`).
    pub summary_markdown: String,
}

/// Similarities over the run by kind of pair.
#[derive(Debug, Clone, Serialize)]
pub struct DuplicateSummary {
    /// The threshold the evaluators grouped by.
    pub threshold: f64,
    pub distinct_data: Vec<f64>,
    pub same_data: Vec<f64>,
    /// The threshold midway between the two measured distributions, or why none separates
    /// them.
    pub calibrated: Result<f64, String>,
}

impl DuplicateSummary {
    fn of(threshold: f64, rounds: &[RoundRecord]) -> Self {
        let of_kind = |k: PairKind| -> Vec<f64> {
            rounds
                .iter()
                .flat_map(|r| r.duplicates.pairs.iter())
                .filter(|p| p.kind == k)
                .map(|p| p.cosine)
                .collect()
        };
        let (distinct_data, same_data) =
            (of_kind(PairKind::DistinctData), of_kind(PairKind::SameData));
        let calibrated = fairshare_shapley::groups::calibrate_threshold(&distinct_data, &same_data)
            .map(|c| c.threshold)
            .map_err(|e| e.to_string());
        Self {
            threshold,
            distinct_data,
            same_data,
            calibrated,
        }
    }
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
    let rounds_ref = rounds.clone();
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
        duplicates: DuplicateSummary::of(args.duplicate_threshold, &rounds_ref),
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
    s.push_str(&duplicates_markdown(rec));
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

/// Near-duplicate detection and the Sybil's earnings, as Markdown.
fn duplicates_markdown(rec: &RunRecord) -> String {
    let d = &rec.duplicates;
    let range = |xs: &[f64]| -> String {
        if xs.is_empty() {
            return "none measured".into();
        }
        let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        format!("{} pairs, {lo:.3} … {hi:.3} (mean {mean:.3})", xs.len())
    };
    let mut s = format!(
        "\n**Near-duplicate updates.** Evaluators compare every pair of a round's updates by the cosine of their ΔW = s·B·A (mean over the adapted projections) and value a group whose every pair reaches {:.2} as one player, its Shapley value split evenly among its members. Distinct-data pairs: {}; same-data pairs: {}; {}.\n",
        d.threshold,
        range(&d.distinct_data),
        range(&d.same_data),
        match &d.calibrated {
            Ok(t) => format!("a threshold midway between them would be {t:.3}"),
            Err(e) => format!("no threshold separates them ({e})"),
        }
    );
    let sybil: Vec<(usize, &SybilRecord)> = rec
        .rounds
        .iter()
        .filter_map(|r| r.sybil.as_ref().map(|x| (r.round, x)))
        .collect();
    if !sybil.is_empty() {
        s.push_str("\n| round | Sybil identities grouped | Σ φ of its identities | reward of both (uFAIR) | slash of both (ufair) | stake bonded | one identity: φ | reward | slash | stake | not grouped: Σ φ | reward of both |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        let (mut rt, mut r1, mut st, mut s1) = (0u128, 0u128, 0u128, 0u128);
        let mut ru = 0u128;
        for (round, x) in &sybil {
            rt += x.reward_total;
            r1 += x.reward_one;
            st += x.slash_total;
            s1 += x.slash_one;
            ru += x.reward_ungrouped.unwrap_or(0);
            s.push_str(&format!(
                "| {round} | {} | {:+.4} | {} | {} | {} | {:+.4} | {} | {} | {} | {} | {} |\n",
                if x.grouped { "yes" } else { "no" },
                x.phi_total,
                x.reward_total,
                x.slash_total,
                x.stake_total,
                x.phi_one,
                x.reward_one,
                x.slash_one,
                x.stake_one,
                x.phi_ungrouped.map_or("-".into(), |p| format!("{p:+.4}")),
                x.reward_ungrouped.map_or("-".into(), |r| r.to_string())
            ));
        }
        if sybil.iter().any(|(_, x)| x.reward_ungrouped.is_some()) {
            s.push_str(&format!(
                "\nWithout near-duplicate grouping (the same rounds valued with every update its own player) its two identities would have earned {ru} uFAIR.\n"
            ));
        }
        s.push_str(&format!(
            "\nOver the run the Sybil's two identities earned {rt} uFAIR and forfeited {st} ufair; one identity would have earned {r1} uFAIR and forfeited {s1} ufair (its φ: the group's when the identities were grouped, else its Shapley value in the measured table without the second identity; the reward rule re-applied to the settled scores with the second identity absent{}).\n",
            if sybil.iter().all(|(_, x)| x.rule_reproduces_chain) {
                "; re-applied to the actual scores it reproduces the chain's rewards exactly"
            } else {
                "; NOTE: re-applied to the actual scores it does not reproduce the chain's rewards exactly"
            }
        ));
    }
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
    let dup = dir.join("duplicates.json");
    std::fs::write(&dup, serde_json::to_vec_pretty(&rec.duplicates)?)
        .with_context(|| format!("writing {}", dup.display()))?;
    let mut written = vec![run, cal, dup];
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
