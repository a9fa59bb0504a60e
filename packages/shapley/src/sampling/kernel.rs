//! Paired KernelSHAP with leverage-score sampling.
//!
//! The Shapley values solve the weighted least-squares problem
//! `min Σ_S μ(S) (U(S) − U(∅) − Σ_{i∈S} φᵢ)²` subject to `Σφᵢ = U(N) − U(∅)`, with the
//! Shapley kernel `μ(S) ∝ (n − 1) / (C(n,|S|) |S| (n − |S|))` (Lundberg & Lee 2017). Following
//! Musco & Witter ("Provably accurate Shapley value estimation via leverage score sampling",
//! 2025) coalitions are drawn with the leverage scores of that problem, which give every size
//! the same total probability, uniformly within a size, **without replacement**, each paired
//! with its complement; sizes whose share covers all their coalitions are enumerated. Each
//! coalition is weighted by `μ(S)` over its sampling rate (`C(n,k)/m_k` for `m_k` draws of
//! size k), and the constrained problem is solved in closed form. The standard errors are a
//! delete-a-group jackknife over ten groups of sampled pairs.

use crate::coalition::Coalition;
use crate::error::{Result, ShapleyError};
use crate::estimate::{max_or_nan, Estimate};
use crate::exact::{exact_shapley, EXACT_MAX_PLAYERS};
use crate::sampling::surrogate::solve;
use crate::sampling::svarm::{allocate, stratified_min_evaluations, SizeStratum};
use crate::sampling::{checked_len, endpoints, rng, SamplerOptions, STRATIFIED_MAX_PLAYERS};
use crate::stop::{Budget, StopReason};
use crate::utility::Utility;

const GROUPS: usize = 10;

/// Paired KernelSHAP with leverage-score sampling (n ≤ 63).
pub fn kernel_shap<U: Utility + ?Sized>(u: &U, opts: &SamplerOptions) -> Result<Estimate> {
    let n = u.n_players();
    if n > STRATIFIED_MAX_PLAYERS {
        return Err(ShapleyError::TooManyPlayers {
            method: "kernel_shap",
            n,
            max: STRATIFIED_MAX_PLAYERS,
        });
    }
    opts.stop.validate()?;
    let all = 1u64 << n;
    if n <= 1 || (n <= EXACT_MAX_PLAYERS && opts.stop.max_evaluations.is_some_and(|m| m >= all)) {
        return exact_shapley(u);
    }
    let mut budget = Budget::start(&opts.stop)?;
    budget.require("kernel_shap", stratified_min_evaluations(n))?;
    let mut rng = rng(opts.seed);
    let (empty, grand) = endpoints(u)?;
    budget.spend(2);
    let mut strata: Vec<SizeStratum> = (0..=n).map(|k| SizeStratum::new(n, k)).collect();
    // Group of each coalition (same index as strata[k].masks), for the jackknife.
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); n + 1];
    let budget_middle = opts
        .stop
        .max_evaluations
        .map(|m| (m - 2).min(all - 2))
        .unwrap_or(all - 2);
    let min_middle = 2 * (n as u64 - 1);
    let mut target = if opts.stop.max_evaluations.is_some() {
        (budget_middle / 4).max(min_middle).min(budget_middle)
    } else {
        (4 * min_middle).min(budget_middle)
    };
    // Equal total probability per size: π_k ∝ sd_k/√(k(n−k)) is constant with this sd.
    let sd: Vec<f64> = (0..=n).map(|k| ((k * (n - k)) as f64).sqrt()).collect();
    let mut pairs = 0usize;
    let mut spent_middle = 0u64;
    let (result, stop_reason) = loop {
        let want = allocate(&strata, &sd, n, target);
        let mut new_masks: Vec<(usize, u64, usize)> = Vec::new();
        for k in 1..=n / 2 {
            let have = strata[k].masks.len() as u64;
            let mut need = want[k].saturating_sub(have);
            if 2 * k == n {
                need = need.div_ceil(2);
            }
            for m in strata[k].draw(&mut rng, n, need) {
                let g = pairs % GROUPS;
                pairs += 1;
                new_masks.push((k, m, g));
                let c = (all - 1) ^ m;
                if strata[n - k].seen.insert(c) {
                    new_masks.push((n - k, c, g));
                }
            }
        }
        // Never overshoot the budget with the complements (only the last round truncates,
        // so coalitions marked seen but dropped here are never needed again).
        let room = (budget_middle - spent_middle) as usize;
        new_masks.truncate(room);
        let batch = new_masks
            .iter()
            .map(|&(_, m, _)| Coalition::from_mask(n, m))
            .collect::<Result<Vec<_>>>()?;
        let vals = if batch.is_empty() {
            Vec::new()
        } else {
            u.values(&batch)?
        };
        checked_len(&vals, batch.len())?;
        budget.spend(vals.len() as u64);
        spent_middle += vals.len() as u64;
        for (&(k, m, g), v) in new_masks.iter().zip(vals) {
            strata[k].masks.push(m);
            strata[k].values.push(v);
            groups[k].push(g);
        }
        let est = solve_kernel(&strata, &groups, n, empty, grand, None)
            .ok_or_else(|| ShapleyError::Utility("KernelSHAP system is singular".into()))?;
        let reps: Vec<Vec<f64>> = (0..GROUPS)
            .filter_map(|g| solve_kernel(&strata, &groups, n, empty, grand, Some(g)))
            .collect();
        let ses: Vec<f64> = (0..n)
            .map(|i| {
                if reps.len() < 2 {
                    return f64::NAN;
                }
                let gm = reps.len() as f64;
                let mean = reps.iter().map(|r| r[i]).sum::<f64>() / gm;
                ((gm - 1.0) / gm * reps.iter().map(|r| (r[i] - mean).powi(2)).sum::<f64>()).sqrt()
            })
            .collect();
        if strata[1..n].iter().all(SizeStratum::full) {
            break ((est, vec![0.0; n]), StopReason::Complete);
        }
        let se = max_or_nan(ses.iter().copied());
        let mut next = ((spent_middle as f64 * 1.5) as u64).max(spent_middle + n as u64);
        if let (Some(t), false) = (opts.stop.target_std_error, se.is_nan()) {
            let need = (spent_middle as f64 * (se / t).powi(2) * 1.1) as u64;
            next = need.clamp(spent_middle + n as u64, 2 * spent_middle.max(1));
        }
        next = next.min(budget_middle);
        let add = next.saturating_sub(spent_middle);
        if add == 0 {
            break ((est, ses), StopReason::EvaluationBudget);
        }
        if let Some(r) = budget.should_stop(add, (!se.is_nan()).then_some(se)) {
            break ((est, ses), r);
        }
        target = next;
    };
    Ok(Estimate {
        method: "kernel_shap".into(),
        values: result.0,
        std_errors: result.1,
        evaluations: budget.evaluations(),
        samples: spent_middle,
        stop_reason,
        elapsed_ms: budget.elapsed().as_secs_f64() * 1e3,
        grand_value: grand,
        empty_value: empty,
    })
}

/// The constrained weighted least-squares solution, leaving out jackknife group `skip`.
fn solve_kernel(
    strata: &[SizeStratum],
    groups: &[Vec<usize>],
    n: usize,
    empty: f64,
    grand: f64,
    skip: Option<usize>,
) -> Option<Vec<f64>> {
    let mut a = vec![0.0; n * n];
    let mut c = vec![0.0; n];
    for s in &strata[1..n] {
        let keep = |j: usize| skip.is_none_or(|g| groups[s.k][j] != g);
        let m = (0..s.masks.len()).filter(|&j| keep(j)).count();
        if m == 0 {
            continue;
        }
        // μ(S)·C(n,k)/m with μ(S) ∝ 1/(C(n,k) k (n−k)).
        let w = 1.0 / ((s.k * (n - s.k)) as f64 * m as f64);
        for (j, (&mask, &v)) in s.masks.iter().zip(&s.values).enumerate() {
            if !keep(j) {
                continue;
            }
            let y = v - empty;
            let members: Vec<usize> = (0..n).filter(|i| mask >> i & 1 == 1).collect();
            for &p in &members {
                c[p] += w * y;
                for &q in &members {
                    a[p * n + q] += w;
                }
            }
        }
    }
    // A whisper of ridge keeps the system solvable when a small budget left some player in
    // no sampled coalition (its value then comes from the efficiency constraint alone).
    let ridge = 1e-9 * (0..n).map(|i| a[i * n + i]).sum::<f64>().max(1e-300) / n as f64;
    for i in 0..n {
        a[i * n + i] += ridge;
    }
    let ainv_c = solve(a.clone(), c, n)?;
    let ainv_1 = solve(a, vec![1.0; n], n)?;
    let total = grand - empty;
    let lambda = (ainv_c.iter().sum::<f64>() - total) / ainv_1.iter().sum::<f64>();
    Some(
        ainv_c
            .iter()
            .zip(&ainv_1)
            .map(|(x, y)| x - lambda * y)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::games::{AdditiveGame, WeightedVotingGame};
    use crate::testing::{mask_game, random_values, Recording};
    use std::collections::HashMap;
    use std::sync::Mutex;

    #[test]
    fn exact_on_additive_games_and_when_the_budget_covers_everything() {
        let g = AdditiveGame::new((0..12).map(|i| i as f64 - 3.0).collect());
        let e = kernel_shap(&g, &SamplerOptions::with_budget(1, 300)).expect("runs");
        assert!(e
            .values
            .iter()
            .zip(g.shapley_values())
            .all(|(a, b)| (a - b).abs() < 1e-6));
        let r = mask_game(8, random_values(8, 2));
        let e = kernel_shap(&r, &SamplerOptions::with_budget(1, 256)).expect("runs");
        let truth = exact_shapley(&r).expect("small").values;
        assert_eq!(e.method, "exact");
        assert!(e
            .values
            .iter()
            .zip(&truth)
            .all(|(a, b)| (a - b).abs() < 1e-12));
    }

    #[test]
    fn accurate_with_calibrated_errors_and_no_repeats() {
        let g =
            WeightedVotingGame::new(vec![9, 7, 6, 5, 5, 4, 3, 3, 2, 1, 1, 1], 24).expect("valid");
        let truth = g.shapley_values().expect("small");
        let (mut inside, mut total, mut err) = (0, 0, 0.0);
        for s in 0..6 {
            let r = Recording(g.clone(), Mutex::new(HashMap::new()));
            let e = kernel_shap(&r, &SamplerOptions::with_budget(s, 1500)).expect("runs");
            let seen = r.1.lock().expect("not poisoned");
            assert!(seen.values().all(|&c| c == 1));
            assert_eq!(seen.len() as u64, e.evaluations);
            assert!(e.evaluations <= 1500);
            for ((v, se), t) in e.values.iter().zip(&e.std_errors).zip(&truth) {
                inside += usize::from((v - t).abs() <= 2.0 * se);
                total += 1;
                err += (v - t).powi(2);
            }
        }
        let rmse = (err / total as f64).sqrt();
        assert!(rmse < 0.02, "rmse {rmse}");
        assert!(
            inside as f64 / total as f64 >= 0.7,
            "coverage {inside}/{total}"
        );
    }
}
