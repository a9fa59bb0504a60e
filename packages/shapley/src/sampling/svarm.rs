//! Stratified SVARM and its regression-adjusted form, the crate's default sampled estimator.
//!
//! Both write the Shapley value as a difference of stratum means,
//! `φᵢ = (1/n) Σ_{k=1}^{n} E[U(S) | |S| = k, i ∈ S] − (1/n) Σ_{k=0}^{n−1} E[U(S) | |S| = k, i ∉ S]`
//! (Kolpaczki et al., "Approximating the Shapley value without marginal contributions", 2024),
//! and estimate every mean from coalitions drawn uniformly **without replacement** within each
//! size: every drawn coalition of size k updates the "in" stratum of each member and the "out"
//! stratum of each non-member, so one evaluation informs all n players. Sizes whose share of
//! the budget covers all their coalitions are enumerated (the border sizes 1 and n − 1 first),
//! and the budget is spread over the other sizes by Neyman allocation on the observed spread,
//! in rounds, so a target standard error stops the run as soon as it is reached.
//!
//! The regression-adjusted form first fits a cheap surrogate g (a single-index cubic, see
//! [`surrogate`](super::surrogate)) to the evaluated coalitions, takes g's Shapley values in
//! closed form and estimates only the residual game `U − g` by the stratified means. On the
//! concave data games of federated valuation the residual is a small fraction of the game,
//! and so is the error; on games the surrogate cannot fit, the estimate degrades to plain
//! stratified SVARM. Finally both forms project the estimate onto efficiency
//! (`Σφᵢ = U(N) − U(∅)`) weighting each player by its variance.
//!
//! No coalition is evaluated twice, and when the evaluation budget covers all `2ⁿ`
//! coalitions the run is exact enumeration instead.

use std::collections::HashSet;

use rand::Rng as _;

use crate::coalition::Coalition;
use crate::error::{Result, ShapleyError};
use crate::estimate::{max_or_nan, Estimate};
use crate::exact::{exact_shapley, EXACT_MAX_PLAYERS};
use crate::games::AirportGame;
use crate::sampling::surrogate::{Sample, SingleIndex};
use crate::sampling::{checked_len, endpoints, rng, Rng, SamplerOptions};
use crate::stop::{Budget, StopReason};
use crate::utility::Utility;

/// Largest number of players of the stratified estimators (coalitions are 64-bit masks).
pub const STRATIFIED_MAX_PLAYERS: usize = 63;

/// Stratified SVARM: stratum means of coalition values per size, no surrogate.
pub fn stratified_svarm<U: Utility + ?Sized>(u: &U, opts: &SamplerOptions) -> Result<Estimate> {
    run(u, false, opts, "stratified_svarm")
}

/// Regression-adjusted stratified estimator (the default): closed-form Shapley values of a
/// fitted surrogate plus stratified SVARM on the residual game.
pub fn regression_adjusted_shapley<U: Utility + ?Sized>(
    u: &U,
    opts: &SamplerOptions,
) -> Result<Estimate> {
    run(u, true, opts, "regression_adjusted")
}

/// Evaluations the stratified estimators need at least: both endpoints and two coalitions of
/// every size in `1..n` (or all `2ⁿ` coalitions when that is fewer).
pub fn stratified_min_evaluations(n: usize) -> u64 {
    let all = if n >= 64 { u64::MAX } else { 1u64 << n };
    all.min(2 + 2 * n.saturating_sub(1) as u64)
}

/// All size-k coalitions of one size drawn so far.
pub(crate) struct SizeStratum {
    pub(crate) k: usize,
    pub(crate) population: u64,
    pub(crate) masks: Vec<u64>,
    pub(crate) values: Vec<f64>,
    pub(crate) seen: HashSet<u64>,
}

impl SizeStratum {
    pub(crate) fn new(n: usize, k: usize) -> Self {
        Self {
            k,
            population: binomial(n, k),
            masks: Vec::new(),
            values: Vec::new(),
            seen: HashSet::new(),
        }
    }

    pub(crate) fn full(&self) -> bool {
        self.masks.len() as u64 >= self.population
    }
}

pub(crate) fn binomial(n: usize, k: usize) -> u64 {
    if k > n {
        return 0;
    }
    let k = k.min(n - k);
    let mut c: u128 = 1;
    for j in 0..k {
        c = c * (n - j) as u128 / (j + 1) as u128;
    }
    u64::try_from(c).unwrap_or(u64::MAX)
}

/// A uniform k-subset of `0..n` as a mask (Floyd's algorithm).
fn random_subset(rng: &mut Rng, n: usize, k: usize) -> u64 {
    let mut mask = 0u64;
    for j in n - k..n {
        let t = rng.gen_range(0..=j);
        mask |= if mask >> t & 1 == 1 { 1 << j } else { 1 << t };
    }
    mask
}

/// Every k-subset of `0..n` in increasing order (Gosper's hack); `1 ≤ k < n ≤ 63`.
fn all_subsets(n: usize, k: usize) -> impl Iterator<Item = u64> {
    let limit = 1u64 << n;
    let mut x = (1u64 << k) - 1;
    std::iter::from_fn(move || {
        if x >= limit {
            return None;
        }
        let cur = x;
        let c = x & x.wrapping_neg();
        let r = x + c;
        x = (((r ^ x) >> 2) / c) | r;
        if r >= limit || r == 0 {
            x = limit;
        }
        Some(cur)
    })
}

impl SizeStratum {
    /// Draws `count` coalitions of this size not drawn before.
    pub(crate) fn draw(&mut self, rng: &mut Rng, n: usize, count: u64) -> Vec<u64> {
        let remaining = self.population - self.masks.len() as u64;
        let count = count.min(remaining);
        if count == 0 {
            return Vec::new();
        }
        let mut fresh = Vec::with_capacity(count as usize);
        if remaining <= 4 * count || remaining <= 64 {
            // Few left: list them all and pick, so rejection never spins.
            let mut left: Vec<u64> = all_subsets(n, self.k)
                .filter(|m| !self.seen.contains(m))
                .collect();
            for j in 0..count as usize {
                let pick = rng.gen_range(j..left.len());
                left.swap(j, pick);
            }
            fresh.extend_from_slice(&left[..count as usize]);
        } else {
            let mut local = HashSet::with_capacity(count as usize);
            while (fresh.len() as u64) < count {
                let m = random_subset(rng, n, self.k);
                if !self.seen.contains(&m) && local.insert(m) {
                    fresh.push(m);
                }
            }
        }
        self.seen.extend(fresh.iter().copied());
        fresh
    }
}

/// The control variate: whichever closed-form model fits the evaluated coalitions best.
enum Surrogate {
    /// Single-index cubic (additive and concave data games).
    Index(SingleIndex),
    /// `U(∅) + max_{i∈S} cᵢ` with `cᵢ = U({i}) − U(∅) ≥ 0` (airport and other cost-of-the-
    /// largest-need games), Shapley values by Littlechild–Owen.
    Max { empty: f64, costs: Vec<f64> },
}

impl Surrogate {
    /// Picks among no surrogate, the single-index model and the max model by the spread of
    /// their residuals within coalition sizes (what the stratified means still have to
    /// estimate): out of fold (5 folds) for the fitted single-index model while samples are
    /// few, in sample with a `(m/(m − p))²` penalty once they are many; the fitted model
    /// must cut the spread by a fifth to be used. The max model has no
    /// parameter beyond the singletons, which are always in the data.
    fn fit(n: usize, pts: &[Sample], singletons: Option<&SizeStratum>) -> Option<Self> {
        let empty = pts.first().map_or(0.0, |p| p.1);
        let within = |resid: &dyn Fn(usize) -> f64| -> f64 {
            let mut by_size = vec![Sums::default(); n + 1];
            for (j, &(m, _)) in pts.iter().enumerate() {
                by_size[m.count_ones() as usize].push(resid(j));
            }
            by_size
                .iter()
                .filter(|s| s.count >= 2.0)
                .map(|s| s.ss() * s.count / (s.count - 1.0))
                .sum()
        };
        let none_score = within(&|j| pts[j].1);
        let mut best: (f64, Option<Surrogate>) = (none_score, None);

        // Below three samples per parameter even the fit's out-of-fold error is unreliable.
        let enough = pts.len() >= 3 * (n + 4);
        if let Some(full) = SingleIndex::fit(n, pts).filter(|_| enough) {
            let m = pts.len();
            let score = if m < 3000 {
                let folds = 5;
                let mut pred = vec![f64::NAN; m];
                let mut ok = true;
                for f in 0..folds {
                    let train: Vec<Sample> = pts
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| j % folds != f)
                        .map(|(_, p)| *p)
                        .collect();
                    match SingleIndex::fit(n, &train) {
                        Some(g) => {
                            for j in (f..m).step_by(folds) {
                                pred[j] = g.value(pts[j].0);
                            }
                        }
                        None => ok = false,
                    }
                }
                if ok {
                    within(&|j| pts[j].1 - pred[j])
                } else {
                    f64::INFINITY
                }
            } else {
                let p = (n + 4) as f64;
                let pen = (m as f64 / (m as f64 - p)).powi(2);
                within(&|j| pts[j].1 - full.value(pts[j].0)) * pen
            };
            // A fitted model must beat no model clearly: on games without structure a lucky
            // fold can make noise look like signal, and a wrong surrogate costs more than
            // none.
            if score < 0.8 * best.0 {
                best = (score, Some(Surrogate::Index(full)));
            }
        }
        let max = singletons.filter(|s| s.full()).and_then(|s| {
            let mut costs = vec![0.0; n];
            for (&m, &v) in s.masks.iter().zip(&s.values) {
                costs[m.trailing_zeros() as usize] = v - empty;
            }
            costs
                .iter()
                .all(|c| c.is_finite() && *c >= 0.0)
                .then_some(Surrogate::Max { empty, costs })
        });
        if let Some(g) = max {
            let score = within(&|j| pts[j].1 - g.value(pts[j].0));
            if score < best.0 {
                best = (score, Some(g));
            }
        }
        best.1
    }

    fn value(&self, mask: u64) -> f64 {
        match self {
            Surrogate::Index(g) => g.value(mask),
            Surrogate::Max { empty, costs } => {
                let mut m = mask;
                let mut best = 0.0f64;
                while m != 0 {
                    best = best.max(costs[m.trailing_zeros() as usize]);
                    m &= m - 1;
                }
                empty + best
            }
        }
    }

    fn shapley(&self) -> Vec<f64> {
        match self {
            Surrogate::Index(g) => g.shapley(),
            Surrogate::Max { costs, .. } => AirportGame::new(costs.clone())
                .map(|a| a.shapley_values())
                .unwrap_or_else(|_| vec![0.0; costs.len()]),
        }
    }
}

/// Running sums of one stratum of residuals.
#[derive(Clone, Copy, Default)]
struct Sums {
    count: f64,
    sum: f64,
    sq: f64,
}

impl Sums {
    fn push(&mut self, x: f64) {
        self.count += 1.0;
        self.sum += x;
        self.sq += x * x;
    }
    fn mean(&self) -> f64 {
        self.sum / self.count
    }
    /// Sum of squared deviations from the mean.
    fn ss(&self) -> f64 {
        (self.sq - self.sum * self.sum / self.count).max(0.0)
    }
}

/// The estimate after a round, with what the next allocation needs.
struct RoundEstimate {
    values: Vec<f64>,
    std_errors: Vec<f64>,
    /// Spread of the residuals per size (index k).
    size_sd: Vec<f64>,
}

fn run<U: Utility + ?Sized>(
    u: &U,
    use_surrogate: bool,
    opts: &SamplerOptions,
    name: &'static str,
) -> Result<Estimate> {
    let n = u.n_players();
    if n > STRATIFIED_MAX_PLAYERS {
        return Err(ShapleyError::TooManyPlayers {
            method: "stratified and regression-adjusted estimators",
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
    budget.require(name, stratified_min_evaluations(n))?;
    let mut rng = rng(opts.seed);
    let (empty, grand) = endpoints(u)?;
    budget.spend(2);
    let full_mask = all - 1;

    let mut strata: Vec<SizeStratum> = (0..=n).map(|k| SizeStratum::new(n, k)).collect();
    let middle_all = all - 2;
    let budget_middle = opts
        .stop
        .max_evaluations
        .map(|m| (m - 2).min(middle_all))
        .unwrap_or(middle_all);
    let min_middle = 2 * (n as u64 - 1);
    let mut target_middle = if opts.stop.max_evaluations.is_some() {
        (budget_middle / 4).max(min_middle).min(budget_middle)
    } else {
        (4 * min_middle).min(budget_middle)
    };
    let mut size_sd: Vec<f64> = vec![1.0; n + 1];
    let mut samples = 0u64;
    let (est, stop_reason) = loop {
        // Allocate and evaluate this round's new coalitions in one batch.
        let want = allocate(&strata, &size_sd, n, target_middle);
        let mut batch_masks = Vec::new();
        let mut batch_sizes = Vec::new();
        for (k, &w) in want.iter().enumerate() {
            let have = strata[k].masks.len() as u64;
            if w > have {
                for m in strata[k].draw(&mut rng, n, w - have) {
                    batch_masks.push(m);
                    batch_sizes.push(k);
                }
            }
        }
        let batch = batch_masks
            .iter()
            .map(|&m| Coalition::from_mask(n, m))
            .collect::<Result<Vec<_>>>()?;
        let vals = if batch.is_empty() {
            Vec::new()
        } else {
            u.values(&batch)?
        };
        checked_len(&vals, batch.len())?;
        budget.spend(vals.len() as u64);
        samples += vals.len() as u64;
        for ((m, k), v) in batch_masks.into_iter().zip(batch_sizes).zip(vals) {
            strata[k].masks.push(m);
            strata[k].values.push(v);
        }
        let est = round_estimate(&strata, n, empty, grand, full_mask, use_surrogate);
        size_sd.clone_from(&est.size_sd);
        if strata[1..n].iter().all(SizeStratum::full) {
            break (est, StopReason::Complete);
        }
        let se = max_or_nan(est.std_errors.iter().copied());
        let spent_middle = samples;
        let mut next = ((spent_middle as f64 * 1.5) as u64).max(spent_middle + n as u64);
        if let (Some(t), false) = (opts.stop.target_std_error, se.is_nan()) {
            let need = (spent_middle as f64 * (se / t).powi(2) * 1.1) as u64;
            next = need.clamp(spent_middle + n as u64, 2 * spent_middle.max(1));
        }
        next = next.min(budget_middle);
        let add = next.saturating_sub(spent_middle);
        if add == 0 {
            break (est, StopReason::EvaluationBudget);
        }
        let se_opt = (!se.is_nan()).then_some(se);
        if let Some(r) = budget.should_stop(add, se_opt) {
            break (est, r);
        }
        target_middle = next;
    };
    Ok(Estimate {
        method: name.into(),
        values: est.values,
        std_errors: est.std_errors,
        evaluations: budget.evaluations(),
        samples,
        stop_reason,
        elapsed_ms: budget.elapsed().as_secs_f64() * 1e3,
        grand_value: grand,
        empty_value: empty,
    })
}

/// Target number of coalitions per size (index k, sizes 1..n−1) summing to `total`:
/// Neyman allocation `m_k ∝ s_k / √(k(n−k))`, never below what is already drawn and never
/// above the size's population (water-filling by bisection on the proportionality constant).
pub(crate) fn allocate(strata: &[SizeStratum], sd: &[f64], n: usize, total: u64) -> Vec<u64> {
    let pi: Vec<f64> = (0..=n)
        .map(|k| {
            if k == 0 || k == n {
                0.0
            } else {
                sd[k].max(1e-12) / ((k * (n - k)) as f64).sqrt()
            }
        })
        .collect();
    // Border sizes 1 and n − 1 are enumerated as soon as the round can afford four times
    // their size: they carry the largest Shapley weights and pin the surrogate's per-player
    // parameters.
    let border = total >= 4 * n as u64;
    let have: Vec<f64> = strata
        .iter()
        .map(|s| {
            if border && (s.k == 1 || s.k + 1 == n) {
                s.population as f64
            } else {
                s.masks.len() as f64
            }
        })
        .collect();
    let cap: Vec<f64> = strata.iter().map(|s| s.population as f64).collect();
    let fill = |c: f64| -> Vec<f64> {
        (0..=n)
            .map(|k| {
                if pi[k] == 0.0 {
                    0.0
                } else {
                    (c * pi[k]).max(have[k]).min(cap[k])
                }
            })
            .collect()
    };
    let total_f = total as f64;
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while fill(hi).iter().sum::<f64>() < total_f && hi < 1e30 {
        hi *= 2.0;
    }
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if fill(mid).iter().sum::<f64>() < total_f {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let x = fill(hi);
    let mut out: Vec<u64> = x.iter().map(|v| v.floor() as u64).collect();
    // Every middle size gets at least two coalitions (or all it has).
    for k in 1..n {
        out[k] = out[k].max(2.min(strata[k].population));
    }
    let mut left = total.saturating_sub(out.iter().sum());
    let mut order: Vec<usize> = (1..n).collect();
    order.sort_by(|&a, &b| (x[b] - x[b].floor()).total_cmp(&(x[a] - x[a].floor())));
    while left > 0 {
        let mut gave = false;
        for &k in &order {
            if left == 0 {
                break;
            }
            if out[k] < strata[k].population {
                out[k] += 1;
                left -= 1;
                gave = true;
            }
        }
        if !gave {
            break;
        }
    }
    out
}

fn round_estimate(
    strata: &[SizeStratum],
    n: usize,
    empty: f64,
    grand: f64,
    full_mask: u64,
    use_surrogate: bool,
) -> RoundEstimate {
    let surrogate = if use_surrogate {
        let mut pts: Vec<Sample> =
            Vec::with_capacity(2 + strata.iter().map(|s| s.masks.len()).sum::<usize>());
        pts.push((0, empty));
        pts.push((full_mask, grand));
        for s in strata {
            pts.extend(s.masks.iter().copied().zip(s.values.iter().copied()));
        }
        Surrogate::fit(n, &pts, strata.get(1)).map(|g| (g, pts.len()))
    } else {
        None
    };
    let g_val = |m: u64| surrogate.as_ref().map_or(0.0, |(g, _)| g.value(m));
    // In-sample residuals shrink by about p/m; inflate variances to compensate.
    let inflate = match &surrogate {
        Some((_, m)) => {
            let p = (n + 4) as f64;
            let m = *m as f64;
            if m > p + 1.0 {
                m / (m - p)
            } else {
                2.0
            }
        }
        None => 1.0,
    };
    let r0 = empty - g_val(0);
    let rn = grand - g_val(full_mask);

    let mut size_sd = vec![0.0; n + 1];
    let mut size_var = vec![0.0; n + 1];
    let mut size_mean = vec![0.0; n + 1];
    // sums[(k * n + i) * 2 + in?]
    let mut sums = vec![Sums::default(); (n + 1) * n * 2];
    for s in &strata[1..n] {
        let mut all = Sums::default();
        for (&m, &v) in s.masks.iter().zip(&s.values) {
            let r = v - g_val(m);
            all.push(r);
            for i in 0..n {
                let inside = (m >> i & 1) as usize;
                sums[(s.k * n + i) * 2 + inside].push(r);
            }
        }
        if all.count > 0.0 {
            size_mean[s.k] = all.mean();
        }
        if all.count >= 2.0 {
            size_var[s.k] = all.ss() / (all.count - 1.0);
        }
    }
    // Pooled spread over sizes: a prior for thinly sampled strata.
    let pooled = {
        let (mut num, mut den) = (0.0, 0.0);
        for s in &strata[1..n] {
            if s.masks.len() >= 2 {
                num += size_var[s.k] * (s.masks.len() - 1) as f64;
                den += (s.masks.len() - 1) as f64;
            }
        }
        if den > 0.0 {
            num / den
        } else {
            0.0
        }
    };
    for k in 1..n {
        let c = strata[k].masks.len() as f64;
        let v = (size_var[k] * (c - 1.0).max(0.0) + 2.0 * pooled) / ((c - 1.0).max(0.0) + 2.0);
        size_var[k] = v;
        size_sd[k] = v.sqrt().max(1e-3 * pooled.sqrt());
    }

    // φᵢ(r) = (1/n)[r(N) − r(∅) + Σ_k (μ⁺_{ik} − μ⁻_{ik})]. Each stratum mean is shrunk
    // towards the mean of its size by empirical Bayes: the weight of a player's own mean is
    // τ²/(τ² + its noise), τ² the spread of the true means across players (between-player
    // variance minus the noise). Where the residual has no player effect left (random
    // games, a well-fitting surrogate), the unobserved coalitions are imputed by the size
    // mean; where it has, the stratum means stand almost unshrunk.
    let mut values = vec![(rn - r0) / n as f64; n];
    let mut vars = vec![0.0; n];
    let mut mean = vec![0.0; n];
    let mut noise = vec![0.0; n];
    // Shrinkage bias per player, summed over strata with its sign (a player's effect has
    // the same sign at every size, so these biases add up rather than average out), and the
    // sampling noise in that sum, to report a standard error that covers the bias too.
    let mut bias = vec![0.0; n];
    let mut bias_noise = vec![0.0; n];
    for k in 1..n {
        if strata[k].full() {
            for i in 0..n {
                let (pin, pout) = (sums[(k * n + i) * 2 + 1], sums[(k * n + i) * 2]);
                values[i] += (pin.mean() - pout.mean()) / n as f64;
            }
            continue;
        }
        for (inside, pop) in [(1usize, binomial(n - 1, k - 1)), (0, binomial(n - 1, k))] {
            let sign = if inside == 1 { 1.0 } else { -1.0 };
            let (mut wsum, mut wcount) = (0.0, 0.0);
            for i in 0..n {
                let st = sums[(k * n + i) * 2 + inside];
                wsum += st.sum;
                wcount += st.count;
                let c = st.count.max(1.0);
                let s2 = (st.ss() + 2.0 * size_var[k]) / ((st.count - 1.0).max(0.0) + 2.0);
                let fpc = (1.0 - st.count / pop as f64).max(0.0);
                mean[i] = if st.count > 0.0 {
                    st.mean()
                } else {
                    size_mean[k]
                };
                noise[i] = if st.count > 0.0 {
                    s2 / c * fpc
                } else {
                    f64::INFINITY
                };
            }
            let centre = if wcount > 0.0 {
                wsum / wcount
            } else {
                size_mean[k]
            };
            let seen: Vec<usize> = (0..n).filter(|&i| noise[i].is_finite()).collect();
            let tau2 = if seen.len() >= 2 {
                let m = seen.len() as f64;
                let between = seen
                    .iter()
                    .map(|&i| (mean[i] - centre).powi(2))
                    .sum::<f64>()
                    / (m - 1.0);
                let avg_noise = seen.iter().map(|&i| noise[i]).sum::<f64>() / m;
                (between - avg_noise).max(0.0)
            } else {
                0.0
            };
            let centre_var = if seen.is_empty() {
                size_var[k]
            } else {
                seen.iter().map(|&i| noise[i]).sum::<f64>() / (seen.len() * seen.len()) as f64
            };
            for i in 0..n {
                let lambda = if noise[i].is_finite() && tau2 + noise[i] > 0.0 {
                    tau2 / (tau2 + noise[i])
                } else if noise[i].is_finite() {
                    1.0
                } else {
                    0.0
                };
                let est = centre + lambda * (mean[i] - centre);
                values[i] += sign * est / n as f64;
                if noise[i].is_finite() {
                    bias[i] += sign * (1.0 - lambda) * (mean[i] - centre) / n as f64;
                    bias_noise[i] += ((1.0 - lambda) / n as f64).powi(2) * noise[i];
                }
                let post = if noise[i].is_finite() {
                    lambda * noise[i]
                } else {
                    tau2 + size_var[k]
                };
                vars[i] += (post + (1.0 - lambda).powi(2) * centre_var) * inflate / (n * n) as f64;
            }
        }
    }
    for i in 0..n {
        vars[i] += (bias[i] * bias[i] - bias_noise[i]).max(0.0);
    }
    // Efficiency: Σφ(residual) = r(N) − r(∅), spread by variance.
    let total_var: f64 = vars.iter().sum();
    if total_var > 0.0 {
        let gap = (rn - r0) - values.iter().sum::<f64>();
        for i in 0..n {
            values[i] += gap * vars[i] / total_var;
            vars[i] -= vars[i] * vars[i] / total_var;
        }
    }
    if let Some((g, _)) = &surrogate {
        for (v, s) in values.iter_mut().zip(g.shapley()) {
            *v += s;
        }
    }
    RoundEstimate {
        values,
        std_errors: vars.iter().map(|v| v.max(0.0).sqrt()).collect(),
        size_sd,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsets_are_uniform_and_complete() {
        for (n, k) in [(5, 2), (8, 1), (8, 7), (12, 6)] {
            let all: Vec<u64> = all_subsets(n, k).collect();
            assert_eq!(all.len() as u64, binomial(n, k));
            assert!(all
                .iter()
                .all(|m| m.count_ones() as usize == k && m >> n == 0));
            let distinct: HashSet<u64> = all.iter().copied().collect();
            assert_eq!(distinct.len(), all.len());
        }
        let mut r = rng(1);
        let mut hits = [0u32; 6];
        for _ in 0..6000 {
            let m = random_subset(&mut r, 6, 2);
            assert_eq!(m.count_ones(), 2);
            for (i, h) in hits.iter_mut().enumerate() {
                *h += (m >> i & 1) as u32;
            }
        }
        // Each player is in a uniform 2-subset of 6 with probability 1/3: 2000 ± ~4 sd.
        assert!(hits.iter().all(|&h| (1830..2170).contains(&h)), "{hits:?}");
    }

    use std::collections::HashMap;
    use std::sync::Mutex;

    use crate::games::{AirportGame, WeightedVotingGame};
    use crate::stop::StopRule;
    use crate::testing::{mask_game, random_values, Recording};
    use crate::utility::FnUtility;

    /// A concave data game: value 1 − e^{−Σc/scale} with a symmetric pair (0, 1), a null
    /// player (2) and a harmful one (3).
    fn concave(n: usize) -> FnUtility<impl Fn(&Coalition) -> f64 + Sync> {
        let c: Vec<f64> = (0..n)
            .map(|i| match i {
                0 | 1 => 1.0,
                2 => 0.0,
                3 => -0.6,
                _ => 0.3 + 0.17 * i as f64,
            })
            .collect();
        FnUtility::new(n, move |s: &Coalition| {
            1.0 - (-s.players().map(|i| c[i]).sum::<f64>() / 3.0).exp()
        })
    }

    fn rel_err(e: &Estimate, truth: &[f64]) -> f64 {
        let d: f64 = e
            .values
            .iter()
            .zip(truth)
            .map(|(a, b)| (a - b).powi(2))
            .sum();
        let t: f64 = truth.iter().map(|x| x * x).sum();
        (d / t).sqrt()
    }

    type Runner = fn(&dyn Utility, &SamplerOptions) -> Result<Estimate>;
    const BOTH: [Runner; 2] = [
        |u, o| stratified_svarm(u, o),
        |u, o| regression_adjusted_shapley(u, o),
    ];

    #[test]
    fn exact_when_the_budget_covers_every_coalition() {
        let v = random_values(8, 3);
        let g = mask_game(8, v);
        let truth = exact_shapley(&g).expect("small").values;
        for run in BOTH {
            for budget in [256, 5000] {
                let e = run(&g, &SamplerOptions::with_budget(1, budget)).expect("runs");
                assert_eq!(e.method, "exact");
                assert_eq!(e.evaluations, 256);
                assert!(e
                    .values
                    .iter()
                    .zip(&truth)
                    .all(|(a, b)| (a - b).abs() < 1e-12));
            }
        }
    }

    #[test]
    fn no_coalition_is_evaluated_twice() {
        let stops = [
            StopRule::evaluations(3000),
            StopRule {
                target_std_error: Some(1e-3),
                max_evaluations: Some(4000),
                ..StopRule::default()
            },
        ];
        for run in BOTH {
            for stop in &stops {
                let r = Recording(concave(12), Mutex::new(HashMap::new()));
                let e = run(
                    &r,
                    &SamplerOptions {
                        seed: 5,
                        stop: stop.clone(),
                    },
                )
                .expect("runs");
                let seen = r.1.lock().expect("not poisoned");
                assert!(
                    seen.values().all(|&c| c == 1),
                    "{}: a coalition twice",
                    e.method
                );
                assert_eq!(seen.len() as u64, e.evaluations);
                assert!(e.evaluations <= stop.max_evaluations.unwrap_or(u64::MAX));
            }
        }
    }

    #[test]
    fn accurate_on_games_with_known_values() {
        let air =
            AirportGame::new((0..14).map(|i| 1.0 + (i * 5 % 9) as f64).collect()).expect("valid");
        let vote =
            WeightedVotingGame::new(vec![9, 7, 6, 5, 5, 4, 3, 3, 2, 1, 1, 1], 24).expect("valid");
        let con = concave(12);
        let rnd = mask_game(10, random_values(10, 9));
        type Case<'a> = (&'a dyn Utility, Vec<f64>, u64, [f64; 2]);
        let cases: Vec<Case> = vec![
            (&air, air.shapley_values(), 600, [0.15, 1e-9]),
            (
                &vote,
                vote.shapley_values().expect("small"),
                1500,
                [0.25, 0.25],
            ),
            (
                &con,
                exact_shapley(&con).expect("small").values,
                600,
                [0.25, 0.03],
            ),
            (
                &rnd,
                exact_shapley(&rnd).expect("small").values,
                400,
                [0.5, 0.5],
            ),
        ];
        for (g, truth, budget, tol) in &cases {
            for (run, tol) in BOTH.iter().zip(tol) {
                let mean: f64 = (0..3)
                    .map(|s| {
                        rel_err(
                            &run(*g, &SamplerOptions::with_budget(s, *budget)).expect("runs"),
                            truth,
                        )
                    })
                    .sum::<f64>()
                    / 3.0;
                assert!(mean <= *tol, "relative error {mean} above {tol}");
            }
        }
    }

    #[test]
    fn consistent_as_the_budget_grows() {
        // Empirical-Bayes shrinkage trades a small bias for variance at small budgets; both
        // vanish as the sampled fraction grows, and the average over seeds tracks the truth.
        let g = WeightedVotingGame::new(vec![6, 5, 4, 3, 3, 2, 1, 1, 1, 1], 14).expect("valid");
        let truth = g.shapley_values().expect("small");
        for run in BOTH {
            let mean_err = |budget: u64| -> f64 {
                (0..8)
                    .map(|s| {
                        rel_err(
                            &run(&g, &SamplerOptions::with_budget(100 + s, budget)).expect("runs"),
                            &truth,
                        )
                    })
                    .sum::<f64>()
                    / 8.0
            };
            let (small, large) = (mean_err(150), mean_err(800));
            assert!(large < 0.5 * small, "error {small} at 150, {large} at 800");
        }
    }

    #[test]
    fn standard_errors_cover_the_true_error() {
        let vote = WeightedVotingGame::new(vec![6, 5, 4, 3, 3, 2, 1, 1, 1, 1], 14).expect("valid");
        let con = concave(10);
        let rnd = mask_game(10, random_values(10, 4));
        let games: Vec<(&dyn Utility, Vec<f64>)> = vec![
            (&vote, vote.shapley_values().expect("small")),
            (&con, exact_shapley(&con).expect("small").values),
            (&rnd, exact_shapley(&rnd).expect("small").values),
        ];
        for run in BOTH {
            let (mut inside, mut total) = (0, 0);
            for (g, truth) in &games {
                for s in 0..6 {
                    let e = run(*g, &SamplerOptions::with_budget(s, 300)).expect("runs");
                    for ((v, se), t) in e.values.iter().zip(&e.std_errors).zip(truth) {
                        assert!(se.is_finite());
                        inside += usize::from((v - t).abs() <= 2.0 * se + 1e-12);
                        total += 1;
                    }
                }
            }
            let cover = inside as f64 / total as f64;
            assert!(cover >= 0.7, "2-SE coverage {cover}");
        }
    }

    #[test]
    fn target_standard_error_stops_the_run() {
        let g = concave(14);
        let truth = exact_shapley(&g).expect("small").values;
        let opts = SamplerOptions {
            seed: 2,
            stop: StopRule {
                target_std_error: Some(2e-3),
                max_evaluations: Some(16_000),
                ..StopRule::default()
            },
        };
        let e = regression_adjusted_shapley(&g, &opts).expect("runs");
        assert_eq!(e.stop_reason, StopReason::TargetStdError);
        assert!(e.max_std_error() <= 2e-3 && e.evaluations < 16_000);
        assert!(e
            .values
            .iter()
            .zip(&truth)
            .all(|(a, b)| (a - b).abs() < 8e-3));
        let small = regression_adjusted_shapley(&g, &SamplerOptions::with_budget(1, 10));
        assert!(matches!(small, Err(ShapleyError::BudgetTooSmall { .. })));
    }

    #[test]
    fn binomials() {
        assert_eq!(binomial(63, 31), 916_312_070_471_295_267);
        assert_eq!(binomial(10, 3), 120);
        assert_eq!(binomial(3, 5), 0);
    }
}
