//! Sampling stratified by coalition size.

use rand::seq::SliceRandom;

use crate::coalition::Coalition;
use crate::error::Result;
use crate::estimate::{max_or_nan, Estimate, RunningStat};
use crate::sampling::{checked_len, endpoints, rng, SamplerOptions};
use crate::utility::Utility;

/// Shapley values as `φ_i = (1/n) Σ_s E[U(S ∪ i) − U(S)]` over uniform `S ⊆ N∖i` of size `s`,
/// each size estimated separately.
///
/// Sizes 0 and `n − 1` are computed exactly (`2n` evaluations); every other (player, size)
/// stratum gets one draw per round (two evaluations each, one batch per player), so a round
/// costs `2n(n − 2)`. The variance is `(1/n²) Σ_s σ²_{i,s} / m_{i,s}`; at least two rounds run,
/// and the budget must pay for them.
pub fn stratified_shapley<U: Utility + ?Sized>(u: &U, opts: &SamplerOptions) -> Result<Estimate> {
    let n = u.n_players();
    let mut budget = crate::stop::Budget::start(&opts.stop)?;
    let middle = n.saturating_sub(2);
    let per_player = 2 * middle as u64;
    let exact_ends = if n >= 2 { 2 * n as u64 } else { 0 };
    budget.require("stratified", 2 + exact_ends + 2 * n as u64 * per_player)?;
    let mut rng = rng(opts.seed);
    let (empty, grand) = endpoints(u)?;
    budget.spend(2);

    // Deterministic strata: singletons and complements of singletons.
    let mut ends = vec![0.0; n];
    if n == 1 {
        ends[0] = grand - empty;
    } else if n >= 2 {
        let mut batch = Vec::with_capacity(2 * n);
        for i in 0..n {
            batch.push(Coalition::from_players(n, &[i])?);
            let mut c = Coalition::full(n);
            c.remove(i);
            batch.push(c);
        }
        let v = u.values(&batch)?;
        checked_len(&v, batch.len())?;
        budget.spend(batch.len() as u64);
        for i in 0..n {
            ends[i] = (v[2 * i] - empty) + (grand - v[2 * i + 1]);
        }
    }

    // strata[i * middle + (s − 1)] holds draws for size s in 1..=n−2.
    let mut strata = vec![RunningStat::default(); n * middle];
    let mut pool: Vec<usize> = Vec::with_capacity(n);
    let mut rounds = 0u64;
    let mut samples = 0u64;
    let std_errors = |strata: &[RunningStat]| -> Vec<f64> {
        (0..n)
            .map(|i| {
                let var: f64 = strata[i * middle..(i + 1) * middle]
                    .iter()
                    .map(|s| s.variance() / s.count() as f64)
                    .sum();
                var.sqrt() / n as f64
            })
            .collect()
    };
    let stop_reason = if middle == 0 {
        crate::stop::StopReason::Complete
    } else {
        'rounds: loop {
            for i in 0..n {
                if rounds >= 2 {
                    let se = if i == 0 {
                        Some(max_or_nan(std_errors(&strata).into_iter()))
                    } else {
                        None
                    };
                    if let Some(r) = budget.should_stop(per_player, se) {
                        break 'rounds r;
                    }
                }
                let mut batch = Vec::with_capacity(2 * middle);
                for s in 1..=middle {
                    pool.clear();
                    pool.extend((0..n).filter(|&j| j != i));
                    let (chosen, _) = pool.partial_shuffle(&mut rng, s);
                    let without = Coalition::from_players(n, chosen)?;
                    let mut with = without.clone();
                    with.insert(i);
                    batch.push(without);
                    batch.push(with);
                }
                let v = u.values(&batch)?;
                checked_len(&v, batch.len())?;
                budget.spend(batch.len() as u64);
                for s in 0..middle {
                    strata[i * middle + s].push(v[2 * s + 1] - v[2 * s]);
                }
                samples += middle as u64;
            }
            rounds += 1;
        }
    };
    let values: Vec<f64> = (0..n)
        .map(|i| {
            let mid: f64 = strata[i * middle..(i + 1) * middle]
                .iter()
                .map(RunningStat::mean)
                .sum();
            (ends[i] + mid) / n as f64
        })
        .collect();
    Ok(Estimate {
        method: "stratified".into(),
        values,
        std_errors: std_errors(&strata),
        evaluations: budget.evaluations(),
        samples,
        stop_reason,
        elapsed_ms: budget.elapsed().as_secs_f64() * 1e3,
        grand_value: grand,
        empty_value: empty,
    })
}
