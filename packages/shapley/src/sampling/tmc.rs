//! Truncated Monte Carlo (TMC): permutation sampling that stops walking a permutation once
//! the prefix is already worth almost as much as everyone.

use crate::error::{Result, ShapleyError};
use crate::estimate::{Estimate, PlayerStats};
use crate::sampling::{endpoints, random_permutation, rng, truncated_marginals, SamplerOptions};
use crate::utility::Utility;

/// Shapley values by truncated permutation sampling.
///
/// Along each permutation, once `|U(N) − U(prefix)| ≤ tolerance · |U(N)|` the remaining
/// players get a zero marginal without being evaluated. Exact (no bias) when the utility is
/// monotone and reaches U(N) early; otherwise the bias is bounded by the tolerance.
pub fn tmc_shapley<U: Utility + ?Sized>(
    u: &U,
    tolerance: f64,
    opts: &SamplerOptions,
) -> Result<Estimate> {
    if !(tolerance.is_finite() && tolerance >= 0.0) {
        return Err(ShapleyError::InvalidParameter(format!(
            "TMC tolerance must be finite and non-negative, got {tolerance}"
        )));
    }
    let n = u.n_players();
    let mut budget = crate::stop::Budget::start(&opts.stop)?;
    let per_sample = n.saturating_sub(1) as u64;
    budget.require("tmc", 2 + 2 * per_sample)?;
    let mut rng = rng(opts.seed);
    let (empty, grand) = endpoints(u)?;
    budget.spend(2);
    let threshold = tolerance * grand.abs();
    let mut stats = PlayerStats::new(n);
    let mut samples = 0u64;
    let stop_reason = loop {
        let se = if samples >= 2 {
            stats.max_std_error()
        } else {
            None
        };
        if let Some(r) = budget.should_stop(per_sample, se) {
            if samples >= 2 {
                break r;
            }
        }
        let perm = random_permutation(&mut rng, n);
        let (marg, spent) = truncated_marginals(u, &perm, empty, grand, threshold)?;
        budget.spend(spent);
        stats.push_all(&marg);
        samples += 1;
    };
    Ok(Estimate {
        method: "tmc".into(),
        values: stats.means(),
        std_errors: stats.std_errors(),
        evaluations: budget.evaluations(),
        samples,
        stop_reason,
        elapsed_ms: budget.elapsed().as_secs_f64() * 1e3,
        grand_value: grand,
        empty_value: empty,
    })
}
