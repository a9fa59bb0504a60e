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

/// Values `updates` on `validation` tokens against `model` (base plus the global adapter).
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
        16,
        updates,
        Weighting::RoundTokens,
    )?;
    let (method, expected) = if n <= EXACT_MAX {
        (Method::Exact, 1u64 << n)
    } else {
        (Method::Tmc { tolerance: 0.01 }, 40 * n as u64)
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
    let opts = SamplerOptions {
        seed,
        stop: StopRule {
            max_evaluations: Some(expected),
            target_std_error: Some(1e-3),
            ..StopRule::default()
        },
    };
    let est = estimate(&Ticking { inner: &ev, bar: &bar }, &method, &opts)?;
    bar.finish_and_clear();
    let alone = (0..n)
        .map(|i| ev.utility(&(0..n).map(|j| j == i).collect::<Vec<_>>()))
        .collect::<Result<Vec<_>, _>>()?;
    let all = vec![true; n];
    let aggregate = ev
        .coalition_adapter(&all)?
        .ok_or_else(|| DemoError::Config("a round with no updates has no aggregate".into()))?;
    let aggregate_hash = update_hash(&safetensors_bytes(&aggregate.peft_tensors()?)?);
    let subsets = if n <= EXACT_MAX {
        (1u64..(1 << n))
            .map(|m| {
                let members: Vec<bool> = (0..n).map(|i| m >> i & 1 == 1).collect();
                ev.utility(&members).map(|u| (members, u))
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        Vec::new()
    };
    Ok(Valuation {
        method: est.method.clone(),
        delta_u: ev.utility(&all)?,
        values: est.values,
        std_errors: est.std_errors,
        alone,
        evaluations: ev.evaluations(),
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
            let se = if se.is_finite() { se.max(RESOLUTION_NATS) } else { RESOLUTION_NATS };
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
