//! GTG-Shapley-style guided sampling: in each round every player leads one permutation, and
//! each permutation stops once the remaining gain is below ε.

use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::error::{Result, ShapleyError};
use crate::estimate::{Estimate, PlayerStats};
use crate::sampling::{endpoints, rng, truncated_marginals, SamplerOptions};
use crate::stop::StopReason;
use crate::utility::Utility;

/// Parameters of [`gtg_shapley`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GtgOptions {
    /// Absolute truncation threshold ε on `|U(N) − U(prefix)|`; `None` means
    /// `1e-3 · |U(N) − U(∅)|`.
    pub epsilon: Option<f64>,
}

/// Shapley values by guided permutation sampling (after GTG-Shapley, Liu et al. 2022).
///
/// Between-round truncation: if `|U(N) − U(∅)| ≤ ε`, nothing is shared and every value is 0.
/// Otherwise each round draws `n` permutations, the `k`-th led by player `k` with the others
/// shuffled (leaders in a random order), so every player is seen early as often as late;
/// within a permutation the walk
/// stops once `|U(N) − U(prefix)| ≤ ε`. Standard errors treat permutations as independent,
/// which overstates them slightly (leading positions are balanced, not random).
pub fn gtg_shapley<U: Utility + ?Sized>(
    u: &U,
    gtg: &GtgOptions,
    opts: &SamplerOptions,
) -> Result<Estimate> {
    let n = u.n_players();
    let mut budget = crate::stop::Budget::start(&opts.stop)?;
    let per_sample = n.saturating_sub(1) as u64;
    budget.require("gtg", 2 + 2 * per_sample)?;
    let mut rng = rng(opts.seed);
    let (empty, grand) = endpoints(u)?;
    budget.spend(2);
    let epsilon = match gtg.epsilon {
        Some(e) if e.is_finite() && e >= 0.0 => e,
        Some(e) => {
            return Err(ShapleyError::InvalidParameter(format!(
                "GTG epsilon must be finite and non-negative, got {e}"
            )))
        }
        None => 1e-3 * (grand - empty).abs(),
    };
    let mut stats = PlayerStats::new(n);
    let mut samples = 0u64;
    let finish = |stats: &PlayerStats, samples, budget: &crate::stop::Budget, reason| Estimate {
        method: "gtg".into(),
        values: stats.means(),
        std_errors: stats.std_errors(),
        evaluations: budget.evaluations(),
        samples,
        stop_reason: reason,
        elapsed_ms: budget.elapsed().as_secs_f64() * 1e3,
        grand_value: grand,
        empty_value: empty,
    };
    if n == 0 || (grand - empty).abs() <= epsilon {
        let mut zero = finish(&stats, 0, &budget, StopReason::NothingToShare);
        zero.values = vec![0.0; n];
        zero.std_errors = vec![0.0; n];
        return Ok(zero);
    }
    let mut others: Vec<usize> = Vec::with_capacity(n);
    let mut leaders: Vec<usize> = (0..n).collect();
    let reason = 'rounds: loop {
        // A shuffled leader order makes every permutation marginally uniform, so stopping
        // part-way through a round leaves no bias towards the players that led early.
        leaders.shuffle(&mut rng);
        for &leader in &leaders {
            let se = if samples >= 2 {
                stats.max_std_error()
            } else {
                None
            };
            if let Some(r) = budget.should_stop(per_sample, se) {
                if samples >= 2 {
                    break 'rounds r;
                }
            }
            others.clear();
            others.push(leader);
            others.extend((0..n).filter(|&j| j != leader));
            others[1..].shuffle(&mut rng);
            let (marg, spent) = truncated_marginals(u, &others, empty, grand, epsilon)?;
            budget.spend(spent);
            stats.push_all(&marg);
            samples += 1;
        }
    };
    Ok(finish(&stats, samples, &budget, reason))
}
