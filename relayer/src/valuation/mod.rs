//! How an evaluator values a round: measure every coalition of the round's verified updates on
//! the held-out text, write the coalition utility table its report commits to, and turn the
//! table into that report. One code path for `fairshare evaluator run`
//! ([`crate::evaluator::ModelValuer`]) and `fairshare demo`.
//!
//! The reported φ and ΔU follow *exactly* from the published table: the table's utilities are
//! rounded to nano-units first ([`report::pack_utilities`]) and φ is computed from the rounded
//! table with the contract's own arithmetic ([`report::shapley`]), so a dispute against an
//! honest report always fails. Which estimator a round gets is decided in one place,
//! [`choose_estimator`]: up to [`EXACT_MAX`] players the table is exact (every coalition);
//! above, it holds sampled permutations drawn by [`report::permutation`] from a seed, the same
//! permutations the contract redraws when it checks the table.
//!
//! Players whose update is missing (no-shows: committed, but their bundle could not be fetched
//! or failed a check) stay in the table as **null players**: U(S) = U(S without them), so their
//! φ is exactly 0 and everyone else's is what it would be without them. The contract upholds a
//! dispute against a table listing fewer players than the round committed, so they cannot
//! simply be left out.

use std::collections::HashMap;
use std::str::FromStr;

use cosmwasm_std::{Decimal, HexBinary, SignedDecimal};
use fairshare_protocol::report::{self, Estimator, UtilityTable, MAX_SAMPLED_UTILITIES};
use fairshare_protocol::round_manager::{ParticipantScore, Report};
use fairshare_shapley::groups::{self, Groups};
use fairshare_trainer::bundle::{safetensors_bytes, update_hash, Bundle};
use fairshare_trainer::eval::{CoalitionEvaluator, Weighting};
use fairshare_trainer::model::LlamaModel;
use indicatif::{ProgressBar, ProgressStyle};

/// Why a round could not be valued.
#[derive(Debug, thiserror::Error)]
pub enum ValuationError {
    #[error(transparent)]
    Trainer(#[from] fairshare_trainer::TrainerError),
    #[error(transparent)]
    Shapley(#[from] fairshare_shapley::ShapleyError),
    #[error("{0}")]
    Invalid(String),
}

/// Smallest standard error an evaluator reports (nats per token): loss differences below this
/// are float noise of f32 evaluation (rank stacking reorders sums), not evidence of harm.
pub const RESOLUTION_NATS: f64 = 1e-4;

/// Exact enumeration up to this many players; sampled permutations above.
pub const EXACT_MAX: usize = 8;

/// Sampled valuation: stop once every standard error is at most this (nats per token; the
/// reported error is floored there anyway) …
pub const TARGET_STD_ERROR_NATS: f64 = RESOLUTION_NATS;
/// … but draw at least this many permutations (the standard error needs a spread) …
pub const MIN_PERMUTATIONS: u32 = 8;
/// … and spend at most this many coalition evaluations per update.
pub const EVALUATIONS_PER_UPDATE: usize = 40;

/// Mean ΔW cosine at or above which two updates are near-duplicates, valued as one player
/// (calibrated on the demo's same-data and distinct-data pairs; see its `duplicates.json`):
/// with every round's LoRA A drawn from the round's seed, honest updates on different texts
/// reach 0.45 and a retrained Sybil stays above 0.81, so the midway point leaves margin both ways.
pub const DUPLICATE_THRESHOLD: f64 = 0.63;

/// Windows per validation batch: each batch gives one estimate of every φ, and their spread
/// gives the standard error the chain uses to tell harm from noise.
pub const BATCH_WINDOWS: usize = 8;

/// How a round of `n` players is valued (see [`choose_estimator`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Every coalition (2ⁿ utilities).
    Exact,
    /// Permutations of the round's seed, at most `max_count` of them (and at least
    /// [`MIN_PERMUTATIONS`]), until every standard error reaches [`TARGET_STD_ERROR_NATS`].
    Permutations { max_count: u32 },
    /// Coalitions of the round's seed ([`fairshare_protocol::sampled`]), at most `max_count`
    /// of them, valued by the regression-adjusted estimator until every sampling standard
    /// error reaches [`TARGET_STD_ERROR_NATS`].
    RegressionAdjusted { max_count: u32 },
}

/// Environment variable that picks the sampled estimator above [`EXACT_MAX`]:
/// `regression-adjusted` (the default) or `permutations` (the former estimator, kept for
/// comparison: BENCHMARKS.md measures both on the same round).
pub const SAMPLED_ESTIMATOR_ENV: &str = "FAIRSHARE_SAMPLED_ESTIMATOR";

/// The one place where the estimator of a round of `n` players is chosen: exact up to
/// [`EXACT_MAX`]; above, the regression-adjusted estimator on coalitions of the round's seed
/// (the same error as permutations with far fewer coalitions, BENCHMARKS.md) within
/// [`EVALUATIONS_PER_UPDATE`] coalition evaluations per player and [`MAX_SAMPLED_UTILITIES`]
/// utilities — or sampled permutations if [`SAMPLED_ESTIMATOR_ENV`] says `permutations`.
pub fn choose_estimator(n: usize) -> Plan {
    if n <= EXACT_MAX {
        return Plan::Exact;
    }
    let budget = EVALUATIONS_PER_UPDATE * n;
    let permutations = std::env::var(SAMPLED_ESTIMATOR_ENV).is_ok_and(|v| v == "permutations");
    if permutations || n > fairshare_protocol::sampled::MAX_PLAYERS {
        Plan::Permutations {
            max_count: (MAX_SAMPLED_UTILITIES / n).min(budget / (n - 1).max(1)) as u32,
        }
    } else {
        Plan::RegressionAdjusted {
            max_count: budget.min(MAX_SAMPLED_UTILITIES) as u32,
        }
    }
}

/// One evaluator's valuation of a round.
#[derive(Debug, Clone)]
pub struct Valuation {
    pub method: String,
    /// What the table's utilities are: every coalition, or permutations of a seed.
    pub estimator: Estimator,
    /// The table's utilities in its order (U by coalition mask, or by permutation prefix).
    pub utilities: Vec<f64>,
    /// φᵢ per player, in the order given, as they follow from the rounded table.
    pub values: Vec<f64>,
    pub std_errors: Vec<f64>,
    /// Degrees of freedom of the standard errors (batches or permutations, less one).
    pub dof: u32,
    /// U(N): the validation-loss drop of the aggregate of every update.
    pub delta_u: f64,
    /// U({i}): each player alone (0 for a null player).
    pub alone: Vec<f64>,
    /// Distinct coalitions evaluated.
    pub evaluations: usize,
    /// sha256 of the aggregate of every update (all zeros when no player brought one).
    pub aggregate_hash: [u8; 32],
    /// `(members, utility)` of every coalition (exact valuations only).
    pub subsets: Vec<(Vec<bool>, f64)>,
}

/// What to value and how.
pub struct Job<'a> {
    /// Shown on the progress bar.
    pub name: &'a str,
    /// The base model with the round's global adapter merged.
    pub model: &'a LlamaModel,
    /// The held-out validation tokens.
    pub validation: &'a [u32],
    pub seq_len: usize,
    /// Windows per validation batch ([`BATCH_WINDOWS`] by default).
    pub batch_windows: usize,
    /// The round's seed ([`report::round_seed`]): the contract redraws sampled permutations
    /// from it.
    pub seed: u64,
    pub progress: bool,
}

/// Values a round's players on `job.validation`. `present[i]` says whether player `i` brought
/// an update; `updates` holds those updates in player order (one per `true`), and `groups`
/// groups them (over the present players only) into near-duplicates valued as one player.
/// Absent players are null players: U(S) = U(S ∩ present).
///
/// Exact ([`Plan::Exact`]): every coalition is evaluated once per validation batch; the table
/// is the token-weighted U(S) on the whole text, and the standard errors come from the spread
/// of the per-batch exact values (validation sampling noise), with batches − 1 degrees of
/// freedom. Sampled ([`Plan::Permutations`]): plain permutation sampling with the permutations
/// [`report::permutation`] draws from the seed, until the spread of the per-permutation
/// marginal contributions puts every standard error at [`TARGET_STD_ERROR_NATS`] or the
/// budget is spent; the reported error adds the validation batches' spread in quadrature, with
/// the smaller of count − 1 and batches − 1 degrees of freedom.
pub fn value_round(
    job: &Job,
    updates: Vec<Bundle>,
    present: &[bool],
    groups: &Groups,
) -> Result<Valuation, ValuationError> {
    let n = present.len();
    let at: Vec<usize> = (0..n).filter(|&i| present[i]).collect();
    let p = at.len();
    if updates.len() != p {
        return Err(ValuationError::Invalid(format!(
            "{} updates for {p} players with an update",
            updates.len()
        )));
    }
    if groups.n_players() != p {
        return Err(ValuationError::Invalid(format!(
            "{p} updates but near-duplicate groups of {} players",
            groups.n_players()
        )));
    }
    if n == 0 {
        return Err(ValuationError::Invalid("a round with no players".into()));
    }
    if p == 0 {
        return Ok(nobody_brought_anything(n, job.seed));
    }
    // The coalition of present players inside `inside` (over all n players).
    let compress = |inside: &[bool]| -> Vec<bool> { at.iter().map(|&i| inside[i]).collect() };
    // Null updates (ΔW exactly zero, or no tokens while others have some) change no
    // coalition's aggregate: they are declared like no-shows, and every coalition is
    // evaluated without them, so the table shows them changing nothing, bit for bit (merging
    // a zero update can still reorder the sums of the others' weights by an ulp).
    let any_tokens = updates.iter().any(|b| b.manifest.num_training_tokens > 0);
    let mut null_mask = 0u64;
    for (&i, b) in at.iter().zip(&updates) {
        if is_null_update(b, any_tokens)? {
            null_mask |= 1 << i;
        }
    }
    let mut ev = CoalitionEvaluator::new(
        job.model.clone(),
        job.validation,
        job.seq_len,
        job.batch_windows,
        updates,
        Weighting::RoundTokens,
    )?;
    let group_of: Vec<usize> = (0..p).map(|i| groups.group_of(i)).collect();
    ev.count_groups_once(&group_of)?;
    let m = groups.n_groups();
    let plan = choose_estimator(n);
    let bar = if job.progress {
        ProgressBar::new(match plan {
            Plan::Exact => (1u64 << m) - 1,
            Plan::Permutations { .. } => (EVALUATIONS_PER_UPDATE * n) as u64,
            Plan::RegressionAdjusted { max_count } => max_count as u64,
        })
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "  {:<12} [{{elapsed_precise}}] {{bar:30}} {{pos}}/{{len}} coalitions",
            job.name
        ))
        .expect("the progress template is valid"),
    );
    let members =
        |m: u64| -> Vec<bool> { (0..n).map(|i| (m & !null_mask) >> i & 1 == 1).collect() };
    let global = ev.global_batch_losses().to_vec();
    let total: usize = global.iter().map(|b| b.1).sum();
    // Each batch's share of the validation tokens: the token-weighted mean of the batches'
    // loss drops is the drop of the pooled loss, U(S).
    let weights: Vec<f64> = global
        .iter()
        .map(|b| b.1 as f64 / total.max(1) as f64)
        .collect();
    let batch_dof = (global.len() as u32).saturating_sub(1);
    // v_j(T) for every batch j: the loss drop of the model with the groups in T (each group
    // counted once) on batch j.
    let group_batch_utilities = |groups_in: &[bool]| -> Result<Vec<f64>, ValuationError> {
        let losses = ev.coalition_batch_losses(&groups.players_of(groups_in))?;
        Ok(global
            .iter()
            .zip(&losses)
            .map(|((g, _), (l, _))| g - l)
            .collect())
    };
    let group_cache: std::cell::RefCell<HashMap<Vec<bool>, Vec<f64>>> = Default::default();
    // U_j(S) of the individual game over all n players (the group game's multilinear
    // extension over the present players; v itself when no update has a near-duplicate).
    let per_batch_utilities = |inside: &[bool]| -> Result<Vec<f64>, ValuationError> {
        let inside = compress(inside);
        let mut out = Vec::with_capacity(global.len());
        for j in 0..global.len() {
            out.push(groups::fractional_value(groups, &inside, |gin| {
                if let Some(u) = group_cache.borrow().get(gin) {
                    return Ok(u[j]);
                }
                let u = group_batch_utilities(gin)
                    .map_err(|e| fairshare_shapley::ShapleyError::Utility(e.to_string()))?;
                let x = u[j];
                group_cache.borrow_mut().insert(gin.to_vec(), u);
                Ok(x)
            })?);
        }
        Ok(out)
    };
    let pooled = |u: &[f64]| -> f64 { u.iter().zip(&weights).map(|(x, w)| w * x).sum() };
    // What the method line adds for a regression-adjusted table (how it stopped).
    let mut sampled_note: Option<String> = None;
    let (estimator, utilities, std_errors, dof) = match plan {
        Plan::Exact => {
            // per_group[j][T] = v_j(T), then per_present[j][mask] = U_j(mask) over the
            // present players, lifted to all n (absent players change nothing).
            let mut per_group = vec![vec![0.0; 1 << m]; global.len()];
            for t in 1..(1u64 << m) {
                let gin: Vec<bool> = (0..m).map(|g| t >> g & 1 == 1).collect();
                for (j, u) in group_batch_utilities(&gin)?.into_iter().enumerate() {
                    per_group[j][t as usize] = u;
                }
                bar.inc(1);
            }
            let per_present = per_group
                .iter()
                .map(|t| groups::expand_table(groups, t))
                .collect::<Result<Vec<_>, _>>()?;
            let lift = |mask: usize| -> usize {
                at.iter()
                    .enumerate()
                    .filter(|(_, &i)| mask >> i & 1 == 1)
                    .map(|(k, _)| 1usize << k)
                    .sum()
            };
            let per_batch: Vec<Vec<f64>> = per_present
                .iter()
                .map(|t| {
                    (0..(1usize << n))
                        .map(|mask| t[lift(mask & !(null_mask as usize))])
                        .collect()
                })
                .collect();
            let phis: Vec<Vec<f64>> = per_batch
                .iter()
                .map(|t| fairshare_trainer::cli::exact_shapley(t, n))
                .collect();
            let table: Vec<f64> = (0..(1usize << n))
                .map(|m| per_batch.iter().zip(&weights).map(|(t, w)| w * t[m]).sum())
                .collect();
            (
                Estimator::Exact,
                table,
                batch_spread(&phis, &weights, n),
                batch_dof,
            )
        }
        Plan::Permutations { max_count } => {
            let mut cache: HashMap<Vec<bool>, Vec<f64>> = HashMap::new();
            let mut utilities = Vec::new();
            // Each permutation's marginal contributions (pooled), and their sums per batch.
            let mut marginals: Vec<Vec<f64>> = vec![Vec::new(); n];
            let mut batch_sums = vec![vec![0.0; n]; global.len()];
            let mut count = 0u32;
            let mut ses = vec![f64::INFINITY; n];
            while count < max_count.max(MIN_PERMUTATIONS) {
                let order = report::permutation(job.seed, count, n);
                let mut inside = vec![false; n];
                let mut before = vec![0.0; global.len()];
                for &player in &order {
                    inside[player] = true;
                    let key = compress(&inside);
                    let now = match cache.get(&key) {
                        Some(u) => u.clone(),
                        None => {
                            let u = per_batch_utilities(&inside)?;
                            cache.insert(key, u.clone());
                            u
                        }
                    };
                    utilities.push(pooled(&now));
                    marginals[player].push(pooled(&now) - pooled(&before));
                    for (j, (x, b)) in now.iter().zip(&before).enumerate() {
                        batch_sums[j][player] += x - b;
                    }
                    before = now;
                }
                count += 1;
                bar.set_position(group_cache.borrow().len() as u64);
                ses = marginals.iter().map(|m| std_error_of_mean(m)).collect();
                if count >= MIN_PERMUTATIONS && ses.iter().all(|&s| s <= TARGET_STD_ERROR_NATS) {
                    break;
                }
            }
            // The estimate's error has two parts: the permutations drawn, and the validation
            // batches (the same spread the exact valuation reports).
            let phis: Vec<Vec<f64>> = batch_sums
                .iter()
                .map(|sums| sums.iter().map(|x| x / count as f64).collect())
                .collect();
            let validation = batch_spread(&phis, &weights, n);
            let ses = ses
                .iter()
                .zip(&validation)
                .map(|(p, v)| (p * p + v * v).sqrt())
                .collect();
            (
                Estimator::Permutations {
                    seed: job.seed,
                    count,
                },
                utilities,
                ses,
                // The smaller of the two: the more cautious critical value.
                count.saturating_sub(1).min(batch_dof),
            )
        }
        Plan::RegressionAdjusted { max_count } => {
            // U_j(S) of every valued coalition, per batch, in stream order.
            let mut per_batch: Vec<Vec<f64>> = Vec::new();
            // No-shows and null updates are declared: exactly 0, the others valued on the
            // game without them.
            let absent = (0..n)
                .filter(|&i| !present[i])
                .fold(null_mask, |acc, i| acc | 1 << i);
            let run = fairshare_protocol::sampled::sample_to_target(
                n,
                job.seed,
                absent,
                TARGET_STD_ERROR_NATS,
                max_count as u64,
                |masks: &[u64]| {
                    let mut pooled_values = Vec::with_capacity(masks.len());
                    for &mask in masks {
                        let u = per_batch_utilities(&members(mask))
                            .map_err(|e| fairshare_shapley::ShapleyError::Utility(e.to_string()))?;
                        pooled_values.push(pooled(&u));
                        per_batch.push(u);
                        bar.set_position(group_cache.borrow().len() as u64);
                    }
                    Ok::<_, fairshare_shapley::ShapleyError>(pooled_values)
                },
            )?;
            // The error has two parts: the coalitions drawn (the estimator's own standard
            // error) and the validation batches (each batch's table valued alike).
            let phis = (0..global.len())
                .map(|j| {
                    let values: Vec<f64> = per_batch.iter().map(|u| u[j]).collect();
                    fairshare_protocol::sampled::regression_adjusted(n, &run.masks, &values, absent)
                        .map(|e| e.values)
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ValuationError::Invalid(format!("the sampled table: {e}")))?;
            let validation = batch_spread(&phis, &weights, n);
            let ses = run
                .estimate
                .std_errors
                .iter()
                .zip(&validation)
                .map(|(p, v)| (p * p + v * v).sqrt())
                .collect();
            let count = run.masks.len() as u32;
            sampled_note = Some(if run.estimate.complete {
                "every coalition".to_string()
            } else if run.reached {
                format!("sampling SE ≤ {TARGET_STD_ERROR_NATS}")
            } else {
                format!(
                    "budget spent at sampling SE {:.2e} > {TARGET_STD_ERROR_NATS}",
                    run.estimate.max_std_error()
                )
            });
            (
                Estimator::RegressionAdjusted {
                    seed: job.seed,
                    count,
                    absent,
                },
                run.values,
                ses,
                count.saturating_sub(1).min(batch_dof),
            )
        }
    };
    bar.finish_and_clear();
    let (values, delta_u) = from_table(&utilities, estimator, n)?;
    let utility = |m: u64| -> Result<f64, ValuationError> {
        Ok(match estimator {
            Estimator::Exact => utilities[m as usize],
            _ => pooled(&per_batch_utilities(&members(m))?),
        })
    };
    let alone = (0..n)
        .map(|i| utility(1 << i))
        .collect::<Result<Vec<_>, _>>()?;
    let aggregate = ev.coalition_adapter(&vec![true; p])?.ok_or_else(|| {
        ValuationError::Invalid("a round with no updates has no aggregate".into())
    })?;
    let aggregate_hash = update_hash(&safetensors_bytes(&aggregate.peft_tensors()?)?);
    let subsets = match estimator {
        // Listed by who is in the coalition, null players included (their presence changes
        // no utility, but a reader that filters coalitions by member must see them).
        Estimator::Exact => (1u64..(1 << n))
            .map(|m| {
                let inside = (0..n).map(|i| m >> i & 1 == 1).collect();
                (inside, utilities[m as usize])
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(Valuation {
        method: match sampled_note {
            Some(note) => format!("{}, {note})", method(estimator).trim_end_matches(')')),
            None => method(estimator),
        },
        estimator,
        utilities,
        values,
        std_errors,
        dof,
        delta_u,
        alone,
        // Distinct coalition models evaluated (of groups: a group of copies is one update).
        evaluations: match estimator {
            Estimator::Exact => (1usize << m) - 1,
            _ => group_cache.borrow().len(),
        },
        aggregate_hash,
        subsets,
    })
}

/// Whether `update` is a null player whatever coalition it joins: its ΔW = s·B·A is exactly
/// zero in every adapted projection (B or A all zero), or it brought no training tokens while
/// some other update did (its aggregation weight is then 0). With no tokens anywhere the
/// weights fall back to uniform, so a token count of 0 alone does not make an update null.
pub fn is_null_update(update: &Bundle, others_have_tokens: bool) -> Result<bool, ValuationError> {
    if update.manifest.num_training_tokens == 0 && others_have_tokens {
        return Ok(true);
    }
    let all_zero = |t: &candle_core::Tensor| -> Result<bool, ValuationError> {
        let m = t
            .to_dtype(candle_core::DType::F32)
            .and_then(|x| x.abs())
            .and_then(|x| x.flatten_all())
            .and_then(|x| x.max(0))
            .and_then(|x| x.to_scalar::<f32>())
            .map_err(|e| ValuationError::Invalid(format!("reading an update's tensors: {e}")))?;
        Ok(m == 0.0)
    };
    for pair in update.adapter.modules.values() {
        if !(all_zero(&pair.b)? || all_zero(&pair.a)?) {
            return Ok(false);
        }
    }
    Ok(true)
}

fn method(estimator: Estimator) -> String {
    match estimator {
        Estimator::Exact => "exact".into(),
        Estimator::Permutations { count, .. } => format!("sampled ({count} permutations)"),
        Estimator::RegressionAdjusted { count, .. } => {
            format!("regression-adjusted ({count} coalitions)")
        }
        #[allow(unreachable_patterns)]
        other => format!("{other:?}"),
    }
}

/// The valuation of a round in which no committed participant's update could be used: every
/// utility is 0, so every φ and ΔU are 0.
fn nobody_brought_anything(n: usize, seed: u64) -> Valuation {
    let (estimator, utilities) = match choose_estimator(n) {
        Plan::Exact => (Estimator::Exact, vec![0.0; 1 << n]),
        Plan::Permutations { .. } => (
            Estimator::Permutations {
                seed,
                count: MIN_PERMUTATIONS,
            },
            vec![0.0; n * MIN_PERMUTATIONS as usize],
        ),
        Plan::RegressionAdjusted { .. } => {
            let count = fairshare_protocol::sampled::min_count(n);
            (
                Estimator::RegressionAdjusted {
                    seed,
                    count: count as u32,
                    // Nobody brought an update: everyone is absent.
                    absent: fairshare_protocol::sampled::available(n),
                },
                vec![0.0; count as usize],
            )
        }
    };
    Valuation {
        method: method(estimator),
        estimator,
        utilities,
        values: vec![0.0; n],
        std_errors: vec![0.0; n],
        dof: 1,
        delta_u: 0.0,
        alone: vec![0.0; n],
        evaluations: 0,
        aggregate_hash: [0; 32],
        subsets: vec![],
    }
}

/// The standard error of each player's φ from its per-batch estimates `phis[j][i]` (batch j
/// weighing `weights[j]`): the spread of validation sampling.
fn batch_spread(phis: &[Vec<f64>], weights: &[f64], n: usize) -> Vec<f64> {
    let b = phis.len() as f64;
    (0..n)
        .map(|i| {
            let mean: f64 = phis.iter().zip(weights).map(|(p, w)| w * p[i]).sum();
            let var: f64 = phis
                .iter()
                .zip(weights)
                .map(|(p, w)| w * w * (p[i] - mean).powi(2))
                .sum();
            if b > 1.0 {
                (var * b / (b - 1.0)).sqrt()
            } else {
                0.0
            }
        })
        .collect()
}

/// The sample standard deviation of `xs` over √len: the standard error of their mean.
fn std_error_of_mean(xs: &[f64]) -> f64 {
    let k = xs.len() as f64;
    if xs.len() < 2 {
        return f64::INFINITY;
    }
    let mean = xs.iter().sum::<f64>() / k;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (k - 1.0);
    (var / k).sqrt()
}

/// φ and U(N) as they follow from the table once rounded to nano-units (what any checker and
/// the contract compute).
pub fn from_table(
    utilities: &[f64],
    estimator: Estimator,
    n: usize,
) -> Result<(Vec<f64>, f64), ValuationError> {
    let table = UtilityTable {
        participants: (0..n).map(|i| i.to_string()).collect(),
        validation_set_hash: HexBinary::from(vec![0u8; 32]),
        estimator,
        utilities: pack(utilities)?,
    };
    let (phi, delta_u) = decimals(&table)?;
    Ok((phi.iter().map(|v| to_f64(*v)).collect(), to_f64(delta_u)))
}

/// Utilities packed as the table stores them (nano-units).
pub fn pack(utilities: &[f64]) -> Result<cosmwasm_std::Binary, ValuationError> {
    report::pack_utilities(utilities).map_err(|i| {
        ValuationError::Invalid(format!(
            "utility {i} of the table is {}: not a finite number",
            utilities[i]
        ))
    })
}

/// Every φ and ΔU of `table`, as decimals, exactly as the contract computes them.
pub fn decimals(
    table: &UtilityTable,
) -> Result<(Vec<SignedDecimal>, SignedDecimal), ValuationError> {
    crate::audit::table_values(table)
        .map_err(|e| ValuationError::Invalid(format!("the utility table: {e}")))
}

fn to_f64(d: SignedDecimal) -> f64 {
    d.to_string().parse().unwrap_or(f64::NAN)
}

/// The valuation's coalition utility table: `participants[i]` is the address of player `i`,
/// `validation_set_hash` the sha256 of the text the utilities were measured on.
pub fn to_table(
    v: &Valuation,
    participants: &[String],
    validation_set_hash: [u8; 32],
) -> Result<UtilityTable, ValuationError> {
    Ok(UtilityTable {
        participants: participants.to_vec(),
        validation_set_hash: HexBinary::from(validation_set_hash.to_vec()),
        estimator: v.estimator,
        utilities: pack(&v.utilities)?,
    })
}

/// A standard error as it goes on chain: at least [`RESOLUTION_NATS`], 9 decimals.
pub fn std_error(se: f64) -> Result<Decimal, ValuationError> {
    let se = if se.is_finite() {
        se.max(RESOLUTION_NATS)
    } else {
        RESOLUTION_NATS
    };
    Decimal::from_str(&format!("{se:.9}"))
        .map_err(|e| ValuationError::Invalid(format!("{se}: {e}")))
}

/// The standard error reported beside a score. A player with φ exactly 0 and no spread at all
/// changed no utility in any batch (a declared no-show or null update): it is certain, so it
/// gets no floor, and its upper bound 0 sits at or below the free-rider threshold (with the
/// floor, a zero update escaped as "unpaid" whenever t·1e-4 exceeded τ·G/n).
pub fn score_error(zero_score: bool, se: f64) -> Result<Decimal, ValuationError> {
    if zero_score && se == 0.0 {
        return Ok(Decimal::zero());
    }
    std_error(se)
}

/// The report of a valuation, committing to `table`: every φ and ΔU follow from it exactly.
pub fn to_report(v: &Valuation, table: &UtilityTable) -> Result<Report, ValuationError> {
    let (phi, delta_u) = decimals(table)?;
    let scores = table
        .participants
        .iter()
        .zip(phi.iter().zip(&v.std_errors))
        .map(|(p, (&value, &se))| {
            Ok(ParticipantScore {
                participant: p.clone(),
                value,
                std_error: score_error(value.is_zero(), se)?,
            })
        })
        .collect::<Result<Vec<_>, ValuationError>>()?;
    Ok(Report {
        aggregate_hash: HexBinary::from(v.aggregate_hash.to_vec()),
        table_hash: HexBinary::from(table.hash().to_vec()),
        delta_u,
        dof: v.dof,
        scores,
    })
}

#[cfg(test)]
pub(crate) mod tests;
