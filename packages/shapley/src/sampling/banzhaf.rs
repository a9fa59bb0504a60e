//! Banzhaf values by maximum sample reuse (MSR): every sampled coalition informs every player.

use rand::Rng as _;

use crate::coalition::Coalition;
use crate::error::Result;
use crate::estimate::{max_or_nan, Estimate, RunningStat};
use crate::sampling::{checked_len, endpoints, rng, SamplerOptions};
use crate::utility::Utility;

/// Coalitions per batch.
const BATCH: usize = 64;

/// Banzhaf values `β_i = E[U(S) | i ∈ S] − E[U(S) | i ∉ S]` for uniform random `S ⊆ N`.
///
/// Each draw includes every player with probability ½ and costs one evaluation, which
/// updates the "with" mean of its members and the "without" mean of everyone else (MSR,
/// Wang & Jia 2023). The standard error is `sqrt(σ²₊/m₊ + σ²₋/m₋)`. A baseline, not an
/// efficient allocation: Banzhaf values need not sum to `U(N) − U(∅)`.
pub fn msr_banzhaf<U: Utility + ?Sized>(u: &U, opts: &SamplerOptions) -> Result<Estimate> {
    let n = u.n_players();
    let mut budget = crate::stop::Budget::start(&opts.stop)?;
    budget.require("banzhaf_msr", 2 + BATCH as u64)?;
    let mut rng = rng(opts.seed);
    let (empty, grand) = endpoints(u)?;
    budget.spend(2);
    let mut with = vec![RunningStat::default(); n];
    let mut without = vec![RunningStat::default(); n];
    let se = |with: &[RunningStat], without: &[RunningStat]| -> Vec<f64> {
        with.iter()
            .zip(without)
            .map(|(a, b)| {
                (a.variance() / a.count() as f64 + b.variance() / b.count() as f64).sqrt()
            })
            .collect()
    };
    let mut samples = 0u64;
    let stop_reason = loop {
        let max_se = if samples > 0 {
            let m = max_or_nan(se(&with, &without).into_iter());
            (!m.is_nan()).then_some(m)
        } else {
            None
        };
        if let Some(r) = budget.should_stop(BATCH as u64, max_se) {
            if samples > 0 {
                break r;
            }
        }
        let batch: Vec<Coalition> = (0..BATCH)
            .map(|_| {
                let mut c = Coalition::empty(n);
                for i in 0..n {
                    if rng.gen::<bool>() {
                        c.insert(i);
                    }
                }
                c
            })
            .collect();
        let v = u.values(&batch)?;
        checked_len(&v, batch.len())?;
        budget.spend(BATCH as u64);
        for (c, &x) in batch.iter().zip(&v) {
            for i in 0..n {
                if c.contains(i) {
                    with[i].push(x);
                } else {
                    without[i].push(x);
                }
            }
        }
        samples += BATCH as u64;
    };
    Ok(Estimate {
        method: "banzhaf_msr".into(),
        values: with
            .iter()
            .zip(&without)
            .map(|(a, b)| a.mean() - b.mean())
            .collect(),
        std_errors: se(&with, &without),
        evaluations: budget.evaluations(),
        samples,
        stop_reason,
        elapsed_ms: budget.elapsed().as_secs_f64() * 1e3,
        grand_value: grand,
        empty_value: empty,
    })
}
