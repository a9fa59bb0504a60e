//! Monte Carlo estimators: each takes a utility and [`SamplerOptions`] and returns an
//! [`Estimate`](crate::Estimate) with standard errors.

mod banzhaf;
mod gtg;
mod kernel;
mod permutation;
mod replayable;
mod stratified;
mod surrogate;
mod svarm;
mod tmc;

#[cfg(test)]
mod tests;

pub use banzhaf::msr_banzhaf;
pub use gtg::{gtg_shapley, GtgOptions};
pub use kernel::kernel_shap;
pub use permutation::permutation_shapley;
pub use replayable::{replayable_neyman_shapley, replayable_shapley};
pub use stratified::stratified_shapley;
pub use svarm::{
    regression_adjusted_shapley, stratified_min_evaluations, stratified_svarm,
    STRATIFIED_MAX_PLAYERS,
};
pub use tmc::tmc_shapley;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::coalition::Coalition;
use crate::error::Result;
use crate::stop::StopRule;
use crate::utility::Utility;

/// What every sampler needs: a seed for reproducibility and a stopping rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplerOptions {
    /// Seed of the ChaCha8 generator; the same seed gives the same estimate.
    pub seed: u64,
    /// When to stop.
    pub stop: StopRule,
}

impl SamplerOptions {
    /// Options with a seed and an evaluation budget only.
    pub fn with_budget(seed: u64, max_evaluations: u64) -> Self {
        Self {
            seed,
            stop: StopRule::evaluations(max_evaluations),
        }
    }
}

/// The generator all samplers use.
pub(crate) type Rng = ChaCha8Rng;

pub(crate) fn rng(seed: u64) -> Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// A uniformly random order of `0..n`.
pub(crate) fn random_permutation(rng: &mut Rng, n: usize) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    p.shuffle(rng);
    p
}

/// U(∅) and U(N), two evaluations in one batch.
pub(crate) fn endpoints<U: Utility + ?Sized>(u: &U) -> Result<(f64, f64)> {
    let n = u.n_players();
    let v = u.values(&[Coalition::empty(n), Coalition::full(n)])?;
    checked_len(&v, 2)?;
    Ok((v[0], v[1]))
}

/// Errors when a batch evaluation returned the wrong number of values.
pub(crate) fn checked_len(v: &[f64], expected: usize) -> Result<()> {
    if v.len() == expected {
        Ok(())
    } else {
        Err(crate::error::ShapleyError::Utility(format!(
            "values() returned {} results for {expected} coalitions",
            v.len()
        )))
    }
}

/// Marginal contributions along one permutation, evaluating all its proper prefixes in one
/// batch (U(∅) and U(N) are known). Costs `n − 1` evaluations.
pub(crate) fn permutation_marginals<U: Utility + ?Sized>(
    u: &U,
    perm: &[usize],
    empty: f64,
    grand: f64,
) -> Result<Vec<f64>> {
    let n = perm.len();
    let mut prefix = Coalition::empty(n);
    let mut batch = Vec::with_capacity(n.saturating_sub(1));
    for &p in &perm[..n.saturating_sub(1)] {
        prefix.insert(p);
        batch.push(prefix.clone());
    }
    let vals = u.values(&batch)?;
    checked_len(&vals, batch.len())?;
    let mut marg = vec![0.0; n];
    let mut prev = empty;
    for (k, &p) in perm.iter().enumerate() {
        let cur = if k + 1 == n { grand } else { vals[k] };
        marg[p] = cur - prev;
        prev = cur;
    }
    Ok(marg)
}

/// Marginal contributions along one permutation, one evaluation at a time, treating every
/// marginal after the first prefix with `|U(N) − U(prefix)| ≤ threshold` as zero.
/// Returns the marginals and the evaluations spent (at most `n − 1`).
pub(crate) fn truncated_marginals<U: Utility + ?Sized>(
    u: &U,
    perm: &[usize],
    empty: f64,
    grand: f64,
    threshold: f64,
) -> Result<(Vec<f64>, u64)> {
    let n = perm.len();
    let mut prefix = Coalition::empty(n);
    let mut marg = vec![0.0; n];
    let mut prev = empty;
    let mut spent = 0u64;
    for (k, &p) in perm.iter().enumerate() {
        if (grand - prev).abs() <= threshold {
            break;
        }
        prefix.insert(p);
        let cur = if k + 1 == n {
            grand
        } else {
            spent += 1;
            u.value(&prefix)?
        };
        marg[p] = cur - prev;
        prev = cur;
    }
    Ok((marg, spent))
}
