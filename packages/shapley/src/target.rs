//! Valuing a game with the fewest utility evaluations that reach a target standard error.

use crate::error::{Result, ShapleyError};
use crate::estimate::Estimate;
use crate::exact::{exact_shapley, EXACT_MAX_PLAYERS};
use crate::sampling::{regression_adjusted_shapley, SamplerOptions, STRATIFIED_MAX_PLAYERS};
use crate::stop::StopRule;
use crate::utility::{CachedUtility, Utility};
use crate::Method;

/// The estimator [`estimate_to_target_se`] samples with.
pub const DEFAULT_METHOD: Method = Method::RegressionAdjusted;

/// Shapley values whose largest standard error is at most `target_se`, spending as few
/// utility evaluations as the default estimator needs (never more than `max_evaluations`).
///
/// Picks the estimator from the game's size: exact enumeration when all `2ⁿ` coalitions cost
/// no more than the sampled estimator's pilot rounds would (`2ⁿ ≤ 4n²`, so n ≤ 8) or fit in
/// `max_evaluations` when that is what the target would need anyway; otherwise
/// [`DEFAULT_METHOD`] in rounds that stop as soon as the target is met (the stop reason says
/// whether it was, or whether the budget ran out first). The utility sits behind a cache, so
/// no coalition is evaluated twice whatever the estimator asks.
pub fn estimate_to_target_se<U: Utility + ?Sized>(
    u: &U,
    target_se: f64,
    max_evaluations: Option<u64>,
    seed: u64,
) -> Result<Estimate> {
    let stop = StopRule {
        max_evaluations,
        max_time_ms: None,
        target_std_error: Some(target_se),
    };
    stop.validate()?;
    let n = u.n_players();
    let cached = CachedUtility::new(u);
    let all = if n < 64 { Some(1u64 << n) } else { None };
    let cheap_exact = all.is_some_and(|a| a <= 4 * (n * n) as u64);
    if n <= EXACT_MAX_PLAYERS && cheap_exact {
        return exact_shapley(&cached);
    }
    if n > STRATIFIED_MAX_PLAYERS {
        return Err(ShapleyError::TooManyPlayers {
            method: "estimate_to_target_se",
            n,
            max: STRATIFIED_MAX_PLAYERS,
        });
    }
    // A budget covering every coalition is no reason to spend it: sample in rounds, which
    // end in complete enumeration (exact values) only if the target needs it.
    let stop = StopRule {
        max_evaluations: max_evaluations.filter(|&m| all.is_none_or(|a| m < a)),
        ..stop
    };
    let mut e = regression_adjusted_shapley(&cached, &SamplerOptions { seed, stop })?;
    e.evaluations = cached.misses();
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::games::AirportGame;
    use crate::stop::StopReason;

    #[test]
    fn small_games_are_exact_and_larger_ones_stop_at_the_target() {
        let small = AirportGame::new((1..=6).map(f64::from).collect()).expect("valid");
        let e = estimate_to_target_se(&small, 0.01, None, 1).expect("runs");
        assert_eq!(e.method, "exact");
        assert_eq!(e.evaluations, 64);

        let costs: Vec<f64> = (0..14).map(|i| 1.0 + (i * 7 % 11) as f64).collect();
        let g = AirportGame::new(costs).expect("valid");
        let truth = g.shapley_values();
        let e = estimate_to_target_se(&g, 0.05, Some(16_384), 2).expect("runs");
        assert_eq!(e.stop_reason, StopReason::TargetStdError);
        assert!(e.max_std_error() <= 0.05);
        assert!(e.evaluations < 16_384, "spent {}", e.evaluations);
        let worst = e
            .values
            .iter()
            .zip(&truth)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(worst < 4.0 * 0.05, "worst error {worst}");
    }
}
