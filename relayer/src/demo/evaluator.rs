//! An evaluator's work in a round: value the round's verified updates on its own held-out text
//! with Shapley values (exact for up to 8 updates, truncated Monte Carlo above) and turn them
//! into the report it posts on chain.

use std::str::FromStr;

use cosmwasm_std::{Decimal, HexBinary, SignedDecimal};
use fairshare_protocol::round_manager::{ParticipantScore, Report};
use fairshare_shapley::{estimate, Coalition, Method, SamplerOptions, StopRule, Utility};
use fairshare_trainer::bundle::{safetensors_bytes, update_hash, Bundle};
use fairshare_trainer::eval::{CoalitionEvaluator, Weighting};
use fairshare_trainer::model::LlamaModel;
use indicatif::{ProgressBar, ProgressStyle};

use super::DemoError;

/// Smallest standard error an evaluator reports (nats per token): loss differences below this
/// are float noise of f32 evaluation (rank stacking reorders sums), not evidence of harm.
pub const RESOLUTION_NATS: f64 = 1e-4;

/// Exact enumeration up to this many updates; sampling above.
pub const EXACT_MAX: usize = 8;

/// One evaluator's valuation of a round.
#[derive(Debug, Clone)]
pub struct Valuation {
    pub method: String,
    /// φᵢ per update, in the order given.
    pub values: Vec<f64>,
    pub std_errors: Vec<f64>,
    /// U(N): the validation-loss drop of the aggregate of every update.
    pub delta_u: f64,
    /// U({i}): each update alone.
    pub alone: Vec<f64>,
    /// Distinct coalitions evaluated.
    pub evaluations: usize,
    /// sha256 of the aggregate of every update.
    pub aggregate_hash: [u8; 32],
    /// `(training tokens, utility)` of every evaluated coalition of the given members only.
    pub subsets: Vec<(Vec<bool>, f64)>,
}

/// Counts evaluations on a progress bar.
struct Ticking<'a> {
    inner: &'a CoalitionEvaluator,
    bar: &'a ProgressBar,
}

impl Utility for Ticking<'_> {
    fn n_players(&self) -> usize {
        self.inner.n_players()
    }
    fn value(&self, c: &Coalition) -> fairshare_shapley::Result<f64> {
        let v = self.inner.value(c);
        self.bar.set_position(self.inner.evaluations() as u64);
        v
    }
    fn values(&self, cs: &[Coalition]) -> fairshare_shapley::Result<Vec<f64>> {
        cs.iter().map(|c| self.value(c)).collect()
    }
}

/// Windows per validation batch: each batch gives one estimate of every φ, and their spread
/// gives the standard error the chain uses to tell harm from noise.
const BATCH_WINDOWS: usize = 8;

/// Values `updates` on `validation` tokens against `model` (base plus the global adapter).
///
/// Up to [`EXACT_MAX`] updates, every coalition is evaluated once per validation batch: φ is
/// exact on the whole text and its standard error comes from the spread of the per-batch exact
/// values (validation sampling noise). Above, truncated Monte Carlo reports its own error.
pub fn value_round(
    name: &str,
    model: &LlamaModel,
    validation: &[u32],
    seq_len: usize,
    updates: Vec<Bundle>,
    seed: u64,
    progress: bool,
) -> Result<Valuation, DemoError> {
    let n = updates.len();
    let ev = CoalitionEvaluator::new(
        model.clone(),
        validation,
        seq_len,
        BATCH_WINDOWS,
        updates,
        Weighting::RoundTokens,
    )?;
    let expected = if n <= EXACT_MAX {
        1u64 << n
    } else {
        40 * n as u64
    };
    let bar = if progress {
        ProgressBar::new(expected)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "  {name:<12} [{{elapsed_precise}}] {{bar:30}} {{pos}}/{{len}} coalitions"
        ))
        .expect("the progress template is valid"),
    );
    let members = |m: u64| -> Vec<bool> { (0..n).map(|i| m >> i & 1 == 1).collect() };
    let (method, values, std_errors, table) = if n <= EXACT_MAX {
        let global = ev.global_batch_losses().to_vec();
        let total: usize = global.iter().map(|b| b.1).sum();
        let weights: Vec<f64> = global
            .iter()
            .map(|b| b.1 as f64 / total.max(1) as f64)
            .collect();
        // per_batch[j][mask] = U_j(mask), the loss drop on batch j.
        let mut per_batch = vec![vec![0.0; 1 << n]; global.len()];
        for m in 1..(1u64 << n) {
            let losses = ev.coalition_batch_losses(&members(m))?;
            for (j, ((g, _), (l, _))) in global.iter().zip(&losses).enumerate() {
                per_batch[j][m as usize] = g - l;
            }
            bar.inc(1);
        }
        let phis: Vec<Vec<f64>> = per_batch
            .iter()
            .map(|t| fairshare_trainer::cli::exact_shapley(t, n))
            .collect();
        let b = phis.len() as f64;
        let mut values = vec![0.0; n];
        let mut ses = vec![0.0; n];
        for i in 0..n {
            values[i] = phis.iter().zip(&weights).map(|(p, w)| w * p[i]).sum();
            let var: f64 = phis
                .iter()
                .zip(&weights)
                .map(|(p, w)| w * w * (p[i] - values[i]).powi(2))
                .sum();
            ses[i] = if b > 1.0 {
                (var * b / (b - 1.0)).sqrt()
            } else {
                0.0
            };
        }
        let table: Vec<f64> = (0..(1usize << n))
            .map(|m| per_batch.iter().zip(&weights).map(|(t, w)| w * t[m]).sum())
            .collect();
        ("exact".to_string(), values, ses, Some(table))
    } else {
        let opts = SamplerOptions {
            seed,
            stop: StopRule {
                max_evaluations: Some(expected),
                target_std_error: Some(1e-3),
                ..StopRule::default()
            },
        };
        let est = estimate(
            &Ticking {
                inner: &ev,
                bar: &bar,
            },
            &Method::Tmc { tolerance: 0.01 },
            &opts,
        )?;
        (est.method, est.values, est.std_errors, None)
    };
    bar.finish_and_clear();
    let utility = |m: u64| -> Result<f64, DemoError> {
        Ok(match &table {
            Some(t) => t[m as usize],
            None => ev.utility(&members(m))?,
        })
    };
    let alone = (0..n)
        .map(|i| utility(1 << i))
        .collect::<Result<Vec<_>, _>>()?;
    let all = vec![true; n];
    let aggregate = ev
        .coalition_adapter(&all)?
        .ok_or_else(|| DemoError::Config("a round with no updates has no aggregate".into()))?;
    let aggregate_hash = update_hash(&safetensors_bytes(&aggregate.peft_tensors()?)?);
    let subsets = match &table {
        Some(t) => (1u64..(1 << n))
            .map(|m| (members(m), t[m as usize]))
            .collect(),
        None => Vec::new(),
    };
    Ok(Valuation {
        method,
        delta_u: utility((1u64 << n) - 1)?,
        values,
        std_errors,
        alone,
        evaluations: if table.is_some() {
            (1usize << n) - 1
        } else {
            ev.evaluations()
        },
        aggregate_hash,
        subsets,
    })
}

/// Scores go on chain with 9 decimals: float noise far below any real loss difference (an
/// exact Shapley value of a null player comes out as ±1e-17) is not a signal.
fn signed(v: f64) -> Result<SignedDecimal, DemoError> {
    if !v.is_finite() {
        return Err(DemoError::Config(format!("a valuation produced {v}")));
    }
    SignedDecimal::from_str(&format!("{v:.9}"))
        .map_err(|e| DemoError::Config(format!("{v} is not a decimal: {e}")))
}

/// The on-chain report of a valuation; `participants[i]` is the address of update `i`.
pub fn to_report(v: &Valuation, participants: &[String]) -> Result<Report, DemoError> {
    let scores = participants
        .iter()
        .zip(v.values.iter().zip(&v.std_errors))
        .map(|(p, (&value, &se))| {
            let se = if se.is_finite() {
                se.max(RESOLUTION_NATS)
            } else {
                RESOLUTION_NATS
            };
            Ok(ParticipantScore {
                participant: p.clone(),
                value: signed(value)?,
                std_error: Decimal::from_str(&format!("{se:.9}"))
                    .map_err(|e| DemoError::Config(format!("{se}: {e}")))?,
            })
        })
        .collect::<Result<Vec<_>, DemoError>>()?;
    Ok(Report {
        aggregate_hash: HexBinary::from(v.aggregate_hash.to_vec()),
        delta_u: signed(v.delta_u)?,
        scores,
    })
}
