//! Permutation Monte Carlo, optionally with antithetic (reversed) pairs.

use crate::error::Result;
use crate::estimate::{Estimate, PlayerStats};
use crate::sampling::{endpoints, permutation_marginals, random_permutation, rng, SamplerOptions};
use crate::utility::Utility;

/// Shapley values by averaging marginal contributions over random permutations.
///
/// With `antithetic`, each sample is a permutation and its reverse, averaged: a player early
/// in one is late in the other, which cancels much of the variance for monotone utilities.
/// The standard error is that of the mean over samples (pairs when antithetic). Each
/// permutation costs `n − 1` evaluations, asked for in one batch; U(∅) and U(N) cost 2 once.
pub fn permutation_shapley<U: Utility + ?Sized>(
    u: &U,
    antithetic: bool,
    opts: &SamplerOptions,
) -> Result<Estimate> {
    let method = if antithetic {
        "permutation_antithetic"
    } else {
        "permutation"
    };
    let n = u.n_players();
    let mut budget = crate::stop::Budget::start(&opts.stop)?;
    let per_sample = (n.saturating_sub(1) as u64) * if antithetic { 2 } else { 1 };
    budget.require(method, 2 + 2 * per_sample)?;
    let mut rng = rng(opts.seed);
    let (empty, grand) = endpoints(u)?;
    budget.spend(2);
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
        let mut marg = permutation_marginals(u, &perm, empty, grand)?;
        if antithetic {
            let rev: Vec<usize> = perm.iter().rev().copied().collect();
            let back = permutation_marginals(u, &rev, empty, grand)?;
            marg.iter_mut()
                .zip(&back)
                .for_each(|(a, b)| *a = 0.5 * (*a + b));
        }
        budget.spend(per_sample);
        stats.push_all(&marg);
        samples += 1;
    };
    Ok(Estimate {
        method: method.into(),
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
