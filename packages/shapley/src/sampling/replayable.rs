//! The replayable regression-adjusted estimator: the coalition stream and the solver of
//! [`fairshare_protocol::sampled`], which a round's utility table records and the
//! round-manager recomputes on a dispute, run on this crate's [`Utility`] and [`StopRule`]s.
//! One implementation serves the evaluator, the contract and this crate's benchmarks.
//!
//! It differs from [`regression_adjusted_shapley`](super::regression_adjusted_shapley) in
//! what a contract can replay: its coalitions depend only on the seed (a fixed allocation over
//! sizes instead of Neyman allocation on observed spreads), and its control variate is one of
//! two stand-ins with closed-form Shapley values (a per-size quadratic in one additive index,
//! or a peak game), chosen in-sample with a penalty, instead of a cross-validated choice of
//! nonlinear surrogates with shrinkage.
//!
//! [`StopRule`]: crate::stop::StopRule

use std::time::Instant;

use fairshare_protocol::sampled::{self, SampledError, MAX_PLAYERS};

use crate::coalition::Coalition;
use crate::error::{Result, ShapleyError};
use crate::estimate::Estimate;
use crate::sampling::{checked_len, SamplerOptions};
use crate::stop::StopReason;
use crate::utility::Utility;

impl From<SampledError> for ShapleyError {
    fn from(e: SampledError) -> Self {
        ShapleyError::InvalidParameter(e.to_string())
    }
}

/// Shapley values by [`fairshare_protocol::sampled::sample_to_target`] on `u`: coalitions of
/// the stream drawn from `opts.seed` until every standard error reaches
/// `opts.stop.target_std_error` or `opts.stop.max_evaluations` (counting U(∅)) is spent; with
/// a budget covering all `2ⁿ` coalitions and no target, every coalition (exact values). A time
/// limit is not supported (the sample must be a prefix of the stream, whatever the machine).
pub fn replayable_shapley<U: Utility + ?Sized>(u: &U, opts: &SamplerOptions) -> Result<Estimate> {
    let start = Instant::now();
    opts.stop.validate()?;
    let n = u.n_players();
    if n == 0 || n > MAX_PLAYERS {
        return Err(ShapleyError::TooManyPlayers {
            method: "replayable",
            n,
            max: MAX_PLAYERS,
        });
    }
    if opts.stop.max_evaluations.is_none() && opts.stop.target_std_error.is_none() {
        return Err(ShapleyError::InvalidParameter(
            "the replayable estimator stops on an evaluation budget or a target standard error, not on time".into(),
        ));
    }
    let needed = sampled::min_count(n) + 1;
    let budget = opts.stop.max_evaluations.unwrap_or(u64::MAX);
    if budget < needed {
        return Err(ShapleyError::BudgetTooSmall {
            method: "replayable",
            needed,
            budget,
        });
    }
    let empty = u.value(&Coalition::empty(n))?;
    // No target: spend the budget (a negative target is never reached).
    let target = opts.stop.target_std_error.unwrap_or(-1.0);
    let run = sampled::sample_to_target(n, opts.seed, 0, target, budget - 1, |masks: &[u64]| {
        let batch = masks
            .iter()
            .map(|&m| Coalition::from_mask(n, m))
            .collect::<Result<Vec<_>>>()?;
        let v = u.values(&batch)?;
        checked_len(&v, batch.len())?;
        Ok::<_, ShapleyError>(v.into_iter().map(|x| x - empty).collect())
    })?;
    let evaluations = run.masks.len() as u64 + 1;
    let stop_reason = if run.estimate.complete {
        StopReason::Complete
    } else if run.reached && opts.stop.target_std_error.is_some() {
        StopReason::TargetStdError
    } else {
        StopReason::EvaluationBudget
    };
    Ok(Estimate {
        method: if run.estimate.complete {
            "exact".into()
        } else {
            "replayable".into()
        },
        values: run.estimate.values.clone(),
        std_errors: run.estimate.std_errors.clone(),
        evaluations,
        samples: run.masks.len() as u64,
        stop_reason,
        elapsed_ms: start.elapsed().as_secs_f64() * 1e3,
        grand_value: run.values[0] + empty,
        empty_value: empty,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exact::exact_shapley;
    use crate::games::AirportGame;
    use crate::sampling::regression_adjusted_shapley;
    use crate::stop::StopRule;
    use crate::utility::{CachedUtility, FnUtility};

    /// A concave data game of 14 players with a symmetric pair, a null and a harmful player,
    /// and U(∅) ≠ 0.
    fn concave(c: &Coalition) -> f64 {
        let w = [
            2.0, 2.0, 0.0, 0.5, 1.0, 3.0, 0.5, 1.5, 2.5, 1.0, 4.0, 0.5, 2.0, 1.0,
        ];
        let t: f64 = c.players().map(|i| w[i]).sum();
        let harm = if c.contains(3) { 0.3 } else { 0.0 };
        1.0 + t.sqrt() - harm
    }

    fn rel_err(a: &[f64], b: &[f64]) -> f64 {
        let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
        let den: f64 = b.iter().map(|y| y * y).sum();
        (num / den).sqrt()
    }

    #[test]
    fn it_is_the_protocols_estimator_on_the_protocols_coalitions() {
        let g = FnUtility::new(14, concave);
        let cached = CachedUtility::new(&g);
        let e = replayable_shapley(&cached, &SamplerOptions::with_budget(3, 301)).expect("runs");
        assert_eq!(e.evaluations, 301);
        assert_eq!(cached.misses(), 301, "no coalition evaluated twice");
        // The same numbers as the protocol's solver on the redrawn coalitions (what the
        // round-manager computes from a table).
        let masks = sampled::coalitions(3, 14, 300).expect("drawable");
        let values: Vec<f64> = masks
            .iter()
            .map(|&m| concave(&Coalition::from_mask(14, m).expect("mask")) - 1.0)
            .collect();
        let replay = sampled::regression_adjusted(14, &masks, &values, 0).expect("solvable");
        assert_eq!(e.values, replay.values);
        assert_eq!(e.std_errors, replay.std_errors);
        assert_eq!(e.grand_value - e.empty_value, values[0]);
    }

    #[test]
    fn it_reaches_the_error_of_the_crates_default_on_concave_games() {
        let g = FnUtility::new(14, concave);
        let truth = exact_shapley(&g).expect("exact").values;
        let mut mine = 0.0;
        let mut default = 0.0;
        let mut perms = 0.0;
        for seed in 0..5 {
            let opts = SamplerOptions::with_budget(seed, 600);
            mine += rel_err(&replayable_shapley(&g, &opts).expect("runs").values, &truth);
            default += rel_err(
                &regression_adjusted_shapley(&g, &opts).expect("runs").values,
                &truth,
            );
            perms += rel_err(
                &crate::sampling::permutation_shapley(&g, true, &opts)
                    .expect("runs")
                    .values,
                &truth,
            );
        }
        assert!(
            mine < 0.25 * perms,
            "replayable {mine} vs antithetic permutations {perms}"
        );
        assert!(
            mine < 2.0 * default,
            "replayable {mine} vs the crate's default {default}"
        );
    }

    #[test]
    fn a_target_stops_early_and_a_full_budget_is_exact() {
        let costs: Vec<f64> = (0..12).map(|i| 1.0 + (i * 7 % 11) as f64).collect();
        let g = AirportGame::new(costs).expect("valid");
        let truth = g.shapley_values();
        let opts = SamplerOptions {
            seed: 1,
            stop: StopRule {
                max_evaluations: Some(4096),
                max_time_ms: None,
                target_std_error: Some(0.05),
            },
        };
        let e = replayable_shapley(&g, &opts).expect("runs");
        assert_eq!(e.stop_reason, StopReason::TargetStdError);
        assert!(e.evaluations < 4096 && e.max_std_error() <= 0.05);
        let worst = rel_err(&e.values, &truth);
        assert!(worst < 0.1, "relative error {worst}");
        let all = replayable_shapley(&g, &SamplerOptions::with_budget(1, 4096)).expect("runs");
        assert_eq!(
            (all.method.as_str(), all.stop_reason),
            ("exact", StopReason::Complete)
        );
        assert!(rel_err(&all.values, &truth) < 1e-12);
        assert!(matches!(
            replayable_shapley(&g, &SamplerOptions::with_budget(1, 10)),
            Err(ShapleyError::BudgetTooSmall { .. })
        ));
    }
}
