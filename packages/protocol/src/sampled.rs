//! Sampled Shapley values that anyone can replay: a stream of coalitions drawn from a seed, and
//! the regression-adjusted stratified estimator computed from the utilities of a prefix of it.
//!
//! An evaluator that cannot enumerate all `2ⁿ` coalitions values the first `count` coalitions of
//! [`CoalitionStream`] (drawn from the round seed, [`crate::report::round_seed`]) and publishes
//! their utilities in stream order; the table is [`crate::report::Estimator::RegressionAdjusted`].
//! The round-manager redraws the same coalitions and recomputes φ with [`regression_adjusted`],
//! so a report whose φ does not follow from its table is provably wrong, as with exact tables.
//!
//! The stream: the grand coalition N first (U(N) is ΔU), then every singleton and every
//! complement of a singleton (sizes 1 and n − 1 are enumerated), then one coalition at a time
//! of the middle size `k ∈ 2..=n−2` that is furthest behind the allocation
//! `m_k ∝ 1/√(k(n − k))` (the Neyman allocation of stratified SVARM when every size is equally
//! spread), drawn uniformly among the coalitions of that size not drawn yet. No coalition comes
//! twice, every prefix is a valid sample, and the whole stream (`2ⁿ − 1` coalitions) is every
//! non-empty coalition, on which the estimator is exact Shapley.
//! Coalitions are not drawn in complement pairs: in the stratified means below, a coalition and
//! its complement enter φᵢ with the same sign for additive games (S ∋ i adds U(S), N ∖ S ∌ i
//! subtracts U(N) − U(S)), so pairing would double the variance rather than cancel it.
//!
//! The estimator writes φᵢ as a difference of stratum means,
//! `φᵢ = (1/n) Σ_{k=1}^{n} E[U(S) | |S| = k, i ∈ S] − (1/n) Σ_{k=0}^{n−1} E[U(S) | |S| = k, i ∉ S]`
//! (stratified SVARM, Kolpaczki et al. 2024), applied to the residual of a fitted control
//! variate whose Shapley values are known in closed form: either the index stand-in
//! `g(S) = b_{|S|} t + c_{|S|} t²`, `t = Σ_{j∈S} wⱼ` (dropped per size where it does not shrink
//! that size's spread), or the peak stand-in `g(S) = b · max_{j∈S} U({j})` (airport and other
//! cost-sharing games); the one leaving the least spread within sizes after a penalty for its
//! parameters is used, if any beats the utilities alone, and its standard errors are inflated
//! by `m/(m − p)` for being fitted on the same sample. Finally the estimate is projected onto
//! efficiency (`Σφᵢ = U(N)`), each player moved in proportion to its variance.
//!
//! Everything here is integer arithmetic or IEEE `+ − × ÷ √` in a fixed order (no
//! transcendental functions, no hashing of floats, no unordered collections), so the contract
//! in wasm and an evaluator natively get the same bits from the same table.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

/// Domain tag of a coalition stream's generator seed.
pub const COALITION_DOMAIN: &[u8] = b"fairshare/coalitions/v1";
/// Most players of a sampled table (coalitions are 64-bit masks).
pub const MAX_PLAYERS: usize = 63;

/// Why a sample cannot be drawn or solved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SampledError {
    #[error("a sampled table needs 1 to {MAX_PLAYERS} players, this one has {0}")]
    Players(usize),
    #[error("{n} players have {available} non-empty coalitions, {asked} were asked for")]
    Exhausted {
        n: usize,
        available: u64,
        asked: u64,
    },
    #[error("{values} utilities for {coalitions} coalitions")]
    Shape { coalitions: usize, values: usize },
    #[error("coalition {mask:#x} is not a coalition of {n} players, or comes twice")]
    Coalition { mask: u64, n: usize },
    #[error("the sample does not contain the grand coalition")]
    NoGrandCoalition,
    #[error("absent players {mask:#x} are not players of {n}")]
    Absent { mask: u64, n: usize },
    #[error("player {player} is declared absent, but the utilities change with it (coalition {mask:#x})")]
    NotNull { player: usize, mask: u64 },
}

/// SplitMix64: a small, fast, portable generator (integer arithmetic only).
#[derive(Debug, Clone)]
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A draw from `0..m` (`m ≥ 1`), by the high half of a 128-bit product.
    fn below(&mut self, m: u64) -> u64 {
        ((self.next() as u128 * m as u128) >> 64) as u64
    }
}

/// `C(n, k)`, saturating at `u64::MAX`.
pub fn binomial(n: usize, k: usize) -> u64 {
    if k > n {
        return 0;
    }
    let k = k.min(n - k);
    let mut c: u128 = 1;
    for j in 0..k {
        c = c * (n - j) as u128 / (j + 1) as u128;
        if c > u64::MAX as u128 {
            return u64::MAX;
        }
    }
    c as u64
}

/// The non-empty coalitions of `n` players: `2ⁿ − 1`.
pub fn available(n: usize) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}

/// The coalitions the estimator needs before its standard errors mean anything: the opening
/// (N, sizes 1 and n − 1) and two coalitions of every middle size, or every coalition when
/// that is fewer.
pub fn min_count(n: usize) -> u64 {
    let opening = 1 + n as u64 + if n >= 3 { n as u64 } else { 0 };
    let middle = 2 * n.saturating_sub(3) as u64;
    available(n).min(opening + middle)
}

/// The coalitions of a sampled table, in order (see the module docs). Deterministic in
/// `(seed, n)`; the first `m` coalitions never depend on how many are drawn after them.
#[derive(Debug, Clone)]
pub struct CoalitionStream {
    n: usize,
    rng: SplitMix,
    opening: Vec<u64>,
    position: usize,
    /// Drawn so far per size (middle sizes only).
    drawn: Vec<u64>,
    population: Vec<u64>,
    seen: Vec<BTreeSet<u64>>,
}

impl CoalitionStream {
    /// The stream of `n` players drawn from `seed` (the round seed).
    pub fn new(seed: u64, n: usize) -> Result<Self, SampledError> {
        if n == 0 || n > MAX_PLAYERS {
            return Err(SampledError::Players(n));
        }
        let mut h = Sha256::new();
        h.update(COALITION_DOMAIN);
        h.update(seed.to_be_bytes());
        h.update((n as u32).to_be_bytes());
        let d: [u8; 32] = h.finalize().into();
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[..8]);
        let full = available(n);
        let mut opening = vec![full];
        if n >= 2 {
            opening.extend((0..n).map(|i| 1u64 << i));
        }
        if n >= 3 {
            opening.extend((0..n).map(|i| full & !(1u64 << i)));
        }
        Ok(Self {
            n,
            rng: SplitMix(u64::from_be_bytes(b)),
            opening,
            position: 0,
            drawn: vec![0; n + 1],
            population: (0..=n).map(|k| binomial(n, k)).collect(),
            seen: vec![BTreeSet::new(); n + 1],
        })
    }

    /// The middle size furthest behind its allocation, if any is not exhausted.
    fn next_size(&self) -> Option<usize> {
        let n = self.n;
        (2..n.saturating_sub(1))
            .filter(|&k| self.drawn[k] < self.population[k])
            .min_by_key(|&k| {
                let next = (self.drawn[k] + 1) as u128;
                next * next * (k * (n - k)) as u128
            })
    }

    /// A uniform k-subset (Floyd's algorithm).
    fn random_subset(&mut self, k: usize) -> u64 {
        let mut mask = 0u64;
        for j in self.n - k..self.n {
            let t = self.rng.below(j as u64 + 1);
            mask |= if mask >> t & 1 == 1 { 1 << j } else { 1 << t };
        }
        mask
    }

    /// A size-k coalition not drawn before, uniformly: by rejection while at least half are
    /// left, otherwise by index among those left (in increasing mask order).
    fn draw(&mut self, k: usize) -> u64 {
        let remaining = self.population[k] - self.drawn[k];
        let mask = if remaining.saturating_mul(2) > self.population[k] {
            loop {
                let m = self.random_subset(k);
                if !self.seen[k].contains(&m) {
                    break m;
                }
            }
        } else {
            let pick = self.rng.below(remaining);
            let seen = &self.seen[k];
            subsets(self.n, k)
                .filter(|m| !seen.contains(m))
                .nth(pick as usize)
                .expect("`remaining` unseen coalitions of this size exist")
        };
        self.seen[k].insert(mask);
        self.drawn[k] += 1;
        mask
    }
}

impl Iterator for CoalitionStream {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        if self.position < self.opening.len() {
            self.position += 1;
            return Some(self.opening[self.position - 1]);
        }
        let k = self.next_size()?;
        Some(self.draw(k))
    }
}

/// Every k-subset of `0..n` in increasing order (Gosper's hack), `1 ≤ k < n ≤ 63`.
fn subsets(n: usize, k: usize) -> impl Iterator<Item = u64> {
    let limit = 1u64 << n;
    let mut x = (1u64 << k) - 1;
    std::iter::from_fn(move || {
        if x >= limit {
            return None;
        }
        let cur = x;
        let c = x & x.wrapping_neg();
        let r = x + c;
        x = if r >= limit || r == 0 {
            limit
        } else {
            (((r ^ x) >> 2) / c) | r
        };
        Some(cur)
    })
}

/// The first `count` coalitions of the stream of `n` players drawn from `seed`.
pub fn coalitions(seed: u64, n: usize, count: u64) -> Result<Vec<u64>, SampledError> {
    let all = available(n);
    if count > all {
        return Err(SampledError::Exhausted {
            n,
            available: all,
            asked: count,
        });
    }
    Ok(CoalitionStream::new(seed, n)?
        .take(count as usize)
        .collect())
}

/// What [`regression_adjusted`] makes of a sample.
#[derive(Debug, Clone, PartialEq)]
pub struct SampledEstimate {
    /// φᵢ in the utilities' unit.
    pub values: Vec<f64>,
    /// The standard error of each φᵢ (0 where every stratum is complete; infinite where a
    /// stratum has too few coalitions to estimate a spread).
    pub std_errors: Vec<f64>,
    /// Whether the control variate was used.
    pub surrogate: bool,
    /// Whether every coalition was in the sample (then the values are exact Shapley values).
    pub complete: bool,
}

impl SampledEstimate {
    /// The largest standard error.
    pub fn max_std_error(&self) -> f64 {
        self.std_errors.iter().copied().fold(0.0, f64::max)
    }
}

/// Count, mean and sum of squared deviations of one stratum.
#[derive(Debug, Clone, Copy, Default)]
struct Moments {
    count: u64,
    sum: f64,
    ss: f64,
}

impl Moments {
    fn mean(&self) -> f64 {
        self.sum / self.count as f64
    }
}

/// Shapley values (with standard errors) from the utilities `values[j] = U(masks[j])` of
/// distinct non-empty coalitions of `n` players that include the grand coalition; `U(∅) = 0`.
/// See the module docs for the estimator.
///
/// `absent` declares players null (bit i: player i brought no update, so U(S) = U(S ∖ i)):
/// they get exactly 0, the others are valued on the game without them (a uniform size-k
/// sample of N is, given its size, a uniform sample of the players kept). A table whose
/// utilities contradict the declaration (two coalitions that differ only by absent players
/// with different utilities, or an absent-only coalition worth other than 0) is an error.
pub fn regression_adjusted(
    n: usize,
    masks: &[u64],
    values: &[f64],
    absent: u64,
) -> Result<SampledEstimate, SampledError> {
    if n == 0 || n > MAX_PLAYERS {
        return Err(SampledError::Players(n));
    }
    if masks.len() != values.len() {
        return Err(SampledError::Shape {
            coalitions: masks.len(),
            values: values.len(),
        });
    }
    let full = available(n);
    let mut by_size: Vec<Vec<(u64, f64)>> = vec![Vec::new(); n + 1];
    let mut seen = BTreeSet::new();
    for (&m, &v) in masks.iter().zip(values) {
        if m == 0 || m > full || !seen.insert(m) {
            return Err(SampledError::Coalition { mask: m, n });
        }
        by_size[m.count_ones() as usize].push((m, v));
    }
    let grand = by_size[n]
        .first()
        .map(|p| p.1)
        .ok_or(SampledError::NoGrandCoalition)?;
    if absent != 0 {
        if absent & !full != 0 {
            return Err(SampledError::Absent { mask: absent, n });
        }
        let kept: Vec<usize> = (0..n).filter(|&i| absent >> i & 1 == 0).collect();
        return without_absent(n, &kept, masks, values);
    }
    let complete = (1..n).all(|k| by_size[k].len() as u64 == binomial(n, k));
    if n == 1 {
        return Ok(SampledEstimate {
            values: vec![grand],
            std_errors: vec![0.0],
            surrogate: false,
            complete: true,
        });
    }

    // The control variate and its Shapley values; used if it shrinks the spread within the
    // sizes that are not enumerated.
    let candidates: Vec<StandIn> = if complete {
        Vec::new()
    } else {
        [
            fit_surrogate(n, &by_size).map(StandIn::Index),
            fit_peak(n, &by_size).map(StandIn::Peak),
        ]
        .into_iter()
        .flatten()
        .collect()
    };
    // Among the stand-ins that shrink the spread within the sampled sizes after the penalty,
    // the one that leaves the least (the first on a tie).
    let mut chosen: Option<StandIn> = None;
    let mut best = f64::INFINITY;
    for f in candidates {
        // The spread left within the sizes that are sampled, not enumerated; the penalty
        // counts every coalition the fit used (the enumerated sizes 1 and n − 1 too).
        let fitted_on: usize = by_size[1..n]
            .iter()
            .map(|s| s.len())
            .filter(|&m| m >= 2)
            .sum();
        let within = |r: &dyn Fn(u64, f64) -> f64| -> f64 {
            let mut ss = 0.0;
            for (k, size) in by_size.iter().enumerate().take(n).skip(1) {
                if size.len() < 2 || size.len() as u64 == binomial(n, k) {
                    continue;
                }
                let mean = size.iter().map(|&(s, v)| r(s, v)).sum::<f64>() / size.len() as f64;
                ss += size
                    .iter()
                    .map(|&(s, v)| {
                        let d = r(s, v) - mean;
                        d * d
                    })
                    .sum::<f64>();
            }
            ss
        };
        let ss_u = within(&|_, v| v);
        let ss_r = within(&|s, v| v - f.value(s));
        let p = f.parameters() as f64;
        let m = fitted_on as f64;
        let inflate = if m > p { m / (m - p) } else { f64::INFINITY };
        // … and, as strictly, by the degrees of freedom of the sampled sizes alone (their
        // coalitions less one mean per size), as if every parameter were spent on them: with
        // a few coalitions per size an in-sample fit looks far better than it is (random
        // tables near the smallest sample).
        let (mut sampled_on, mut sizes) = (0usize, 0usize);
        for (k, size) in by_size.iter().enumerate().take(n).skip(1) {
            if size.len() >= 2 && (size.len() as u64) < binomial(n, k) {
                sampled_on += size.len();
                sizes += 1;
            }
        }
        let dof_u = sampled_on as f64 - sizes as f64;
        let dof_r = dof_u - p;
        let strict = if dof_r > 0.0 {
            dof_u / dof_r
        } else {
            f64::INFINITY
        };
        let penalised = (ss_r * inflate * inflate).max(ss_r * strict * strict);
        if penalised < ss_u && penalised < best {
            best = penalised;
            chosen = Some(f);
        }
    }
    // Per size, the index stand-in is dropped where it does not shrink that size's spread
    // (weighted voting: sizes far from the quota are constant, and a curve smooth across
    // sizes would add spread there). Its closed-form Shapley values hold for any per-size
    // curves, so this costs no exactness.
    if let Some(StandIn::Index(f)) = chosen.as_mut() {
        for (k, size) in by_size.iter().enumerate().take(n).skip(1) {
            if size.len() < 2 || size.len() as u64 == binomial(n, k) {
                continue;
            }
            let spread = |r: &dyn Fn(u64, f64) -> f64| -> f64 {
                let mean = size.iter().map(|&(s, v)| r(s, v)).sum::<f64>() / size.len() as f64;
                size.iter()
                    .map(|&(s, v)| (r(s, v) - mean) * (r(s, v) - mean))
                    .sum::<f64>()
            };
            let ss_u = spread(&|_, v| v);
            let ss_r = spread(&|s, v| v - f.value(s));
            if ss_r >= ss_u {
                f.linear[k] = 0.0;
                f.quadratic[k] = 0.0;
            }
        }
    }
    let surrogate = chosen.is_some();
    let phi_g = chosen.as_ref().map_or(vec![0.0; n], |f| f.shapley(n));
    let residual = |s: u64, v: f64| v - chosen.as_ref().map_or(0.0, |f| f.value(s));

    // Stratified SVARM on the residual game.
    let nf = n as f64;
    let mut est: Vec<f64> = phi_g.clone();
    let mut var = vec![0.0f64; n];
    let r_grand = residual(full, grand);
    for e in est.iter_mut() {
        // The stratum of size n (i ∈ N) minus that of size 0 (U(∅) = g(∅) = 0).
        *e += r_grand / nf;
    }
    for (k, size) in by_size.iter().enumerate().take(n).skip(1) {
        let pop_in = binomial(n - 1, k - 1);
        let pop_out = binomial(n - 1, k);
        let mut inside = vec![Moments::default(); n];
        let mut outside = vec![Moments::default(); n];
        let mut all = Moments::default();
        for &(s, v) in size {
            let r = residual(s, v);
            all.count += 1;
            all.sum += r;
            for i in 0..n {
                let m = if s >> i & 1 == 1 {
                    &mut inside[i]
                } else {
                    &mut outside[i]
                };
                m.count += 1;
                m.sum += r;
            }
        }
        let size_mean = if all.count > 0 { all.mean() } else { 0.0 };
        for &(s, v) in size {
            let r = residual(s, v);
            all.ss += (r - size_mean) * (r - size_mean);
            for i in 0..n {
                let m = if s >> i & 1 == 1 {
                    &mut inside[i]
                } else {
                    &mut outside[i]
                };
                let d = r - m.mean();
                m.ss += d * d;
            }
        }
        let size_var = (all.count >= 2).then(|| all.ss / (all.count - 1) as f64);
        let mean_of = |m: &Moments| if m.count > 0 { m.mean() } else { size_mean };
        let var_of = |m: &Moments, population: u64| -> f64 {
            if m.count >= population {
                0.0
            } else if m.count >= 2 {
                let c = m.count as f64;
                m.ss / (c - 1.0) / c * (1.0 - c / population as f64)
            } else {
                match size_var {
                    Some(v) => v / m.count.max(1) as f64,
                    None => f64::INFINITY,
                }
            }
        };
        // Without a control variate, empirical Bayes: each player's stratum mean is shrunk
        // toward the size's mean by B = τ² / (τ² + v), τ² the spread of the players' means
        // beyond their sampling variances v (games with little structure, where most of that
        // spread is noise). The standard error stays the unshrunk one, which is conservative.
        // With a control variate the residual's player effects are what is left to estimate,
        // and shrinking them would bias it.
        let shrunk = |strata: &[Moments], population: u64| -> Vec<(f64, f64)> {
            let raw: Vec<(f64, f64)> = strata
                .iter()
                .map(|m| (mean_of(m), var_of(m, population)))
                .collect();
            let finite: Vec<&(f64, f64)> = raw.iter().filter(|r| r.1.is_finite()).collect();
            if finite.is_empty() || surrogate {
                return raw;
            }
            let k = finite.len() as f64;
            let spread = finite
                .iter()
                .map(|r| (r.0 - size_mean) * (r.0 - size_mean))
                .sum::<f64>()
                / k;
            let noise = finite.iter().map(|r| r.1).sum::<f64>() / k;
            let tau2 = (spread - noise).max(0.0);
            raw.iter()
                .map(|&(m, v)| {
                    if v == 0.0 || v.is_infinite() {
                        (m, v)
                    } else {
                        let b = tau2 / (tau2 + v);
                        (size_mean + b * (m - size_mean), v)
                    }
                })
                .collect()
        };
        let ins = shrunk(&inside, pop_in);
        let outs = shrunk(&outside, pop_out);
        for i in 0..n {
            est[i] += (ins[i].0 - outs[i].0) / nf;
            var[i] += ins[i].1 + outs[i].1;
        }
    }
    // The residuals of a stand-in fitted on the same sample are smaller than fresh ones: the
    // variance is inflated by m / (m − p), m the coalitions it was fitted on, p its parameters.
    let inflate_se = match &chosen {
        Some(f) => {
            let m = by_size[1..n]
                .iter()
                .map(|s| s.len())
                .filter(|&m| m >= 2)
                .sum::<usize>() as f64;
            let p = f.parameters() as f64;
            if m > p {
                m / (m - p)
            } else {
                1.0
            }
        }
        None => 1.0,
    };
    let std_errors: Vec<f64> = var.iter().map(|v| (v * inflate_se).sqrt() / nf).collect();

    // Efficiency: move each φᵢ toward Σφ = U(N) in proportion to its variance.
    let gap = grand - est.iter().sum::<f64>();
    let infinite = var.iter().filter(|v| v.is_infinite()).count();
    let total: f64 = var.iter().sum();
    if infinite > 0 {
        for (e, v) in est.iter_mut().zip(&var) {
            if v.is_infinite() {
                *e += gap / infinite as f64;
            }
        }
    } else if total > 0.0 {
        for (e, v) in est.iter_mut().zip(&var) {
            *e += gap * v / total;
        }
    }
    Ok(SampledEstimate {
        values: est,
        std_errors,
        surrogate,
        complete,
    })
}

/// The estimate of `n` players of whom only `kept` brought an update: the others get exactly
/// 0, the kept ones their values in the game of the kept players, each sampled coalition
/// standing for its kept members.
fn without_absent(
    n: usize,
    kept: &[usize],
    masks: &[u64],
    values: &[f64],
) -> Result<SampledEstimate, SampledError> {
    let compact = |s: u64| {
        kept.iter()
            .enumerate()
            .fold(0u64, |acc, (j, &i)| acc | ((s >> i & 1) << j))
    };
    let mut seen: std::collections::BTreeMap<u64, f64> = std::collections::BTreeMap::new();
    let (mut reduced_masks, mut reduced_values) = (vec![], vec![]);
    let kept_mask = kept.iter().fold(0u64, |acc, &i| acc | 1 << i);
    let not_null = |s: u64| SampledError::NotNull {
        player: (s & !kept_mask).trailing_zeros() as usize,
        mask: s,
    };
    for (&s, &v) in masks.iter().zip(values) {
        let c = compact(s);
        if c == 0 {
            if v != 0.0 {
                return Err(not_null(s));
            }
            continue;
        }
        match seen.get(&c) {
            Some(&before) if before != v => return Err(not_null(s)),
            Some(_) => {}
            None => {
                seen.insert(c, v);
                reduced_masks.push(c);
                reduced_values.push(v);
            }
        }
    }
    let mut out = SampledEstimate {
        values: vec![0.0; n],
        std_errors: vec![0.0; n],
        surrogate: false,
        complete: true,
    };
    if kept.is_empty() {
        return Ok(out);
    }
    let inner = regression_adjusted(kept.len(), &reduced_masks, &reduced_values, 0)?;
    for (j, &i) in kept.iter().enumerate() {
        out.values[i] = inner.values[j];
        out.std_errors[i] = inner.std_errors[j];
    }
    out.surrogate = inner.surrogate;
    out.complete = inner.complete;
    Ok(out)
}

/// `Σ_{j∈S} wⱼ`.
fn index(s: u64, w: &[f64]) -> f64 {
    let mut t = 0.0;
    for (j, wj) in w.iter().enumerate() {
        if s >> j & 1 == 1 {
            t += wj;
        }
    }
    t
}

/// The control variate `g(S) = b_k t + c_k t²` with `t = Σ_{j∈S} wⱼ` and `k = |S|` (a
/// per-size quadratic in one index: additive games, and the concave and averaging games of
/// federated valuation, whose curvature differs by coalition size).
struct Surrogate {
    weights: Vec<f64>,
    /// `b_k` for k = 0..=n (`b_0` unused; 1 where a size has too few samples).
    linear: Vec<f64>,
    /// `c_k` for k = 0..=n (0 where a size has too few samples).
    quadratic: Vec<f64>,
    /// Parameters fitted (the penalty of the in-sample comparison).
    parameters: usize,
}

impl Surrogate {
    fn value(&self, s: u64) -> f64 {
        let k = s.count_ones() as usize;
        let t = index(s, &self.weights);
        self.linear[k] * t + self.quadratic[k] * t * t
    }

    /// g's Shapley values in closed form:
    /// `φᵢ(g) = (1/n) (Σ_{k=1}^{n} E[g(S) | |S| = k, i ∈ S] − Σ_{k=0}^{n−1} E[g(S) | |S| = k, i ∉ S])`,
    /// with the first two moments of `t` over uniform subsets of the other players.
    fn shapley(&self, n: usize) -> Vec<f64> {
        let total: f64 = self.weights.iter().sum();
        let squares: f64 = self.weights.iter().map(|w| w * w).sum();
        let nf = n as f64;
        // E[Σa] and E[(Σa)²] over uniform m-subsets of the n − 1 others (sum a, squares q).
        let moments = |m: usize, a: f64, q: f64| -> (f64, f64) {
            let big_m = (n - 1) as f64;
            let mf = m as f64;
            let p1 = mf / big_m;
            let p2 = if n >= 3 {
                mf * (mf - 1.0) / (big_m * (big_m - 1.0))
            } else {
                0.0
            };
            (p1 * a, p1 * q + p2 * (a * a - q))
        };
        self.weights
            .iter()
            .map(|&w| {
                let (a, q) = (total - w, squares - w * w);
                let mut phi = 0.0;
                for k in 1..=n {
                    let (e1, e2) = moments(k - 1, a, q);
                    let t1 = w + e1;
                    let t2 = w * w + 2.0 * w * e1 + e2;
                    phi += self.linear[k] * t1 + self.quadratic[k] * t2;
                }
                for k in 1..n {
                    let (t1, t2) = moments(k, a, q);
                    phi -= self.linear[k] * t1 + self.quadratic[k] * t2;
                }
                phi / nf
            })
            .collect()
    }
}

/// A control variate whose Shapley values are known in closed form.
enum StandIn {
    /// The per-size quadratic in one additive index ([`Surrogate`]).
    Index(Surrogate),
    /// A scaled peak game ([`Peak`]).
    Peak(Peak),
}

impl StandIn {
    fn value(&self, s: u64) -> f64 {
        match self {
            StandIn::Index(f) => f.value(s),
            StandIn::Peak(f) => f.value(s),
        }
    }

    fn shapley(&self, n: usize) -> Vec<f64> {
        match self {
            StandIn::Index(f) => f.shapley(n),
            StandIn::Peak(f) => f.shapley(),
        }
    }

    fn parameters(&self) -> usize {
        match self {
            StandIn::Index(f) => f.parameters,
            StandIn::Peak(f) => f.heights.len() + 1,
        }
    }
}

/// The peak game `g(S) = slope · max_{j∈S} hⱼ` (`g(∅) = 0`, heights `hⱼ ≥ 0`): cost-sharing
/// games where a coalition pays for its most demanding member (airport games, the largest
/// single contribution, a best-of-members model), which no additive index follows. The
/// heights are the singletons' utilities (clamped at 0; sizes 1 and n − 1 are enumerated, so
/// they are always in the sample) and the slope is fitted by least squares within sizes.
struct Peak {
    heights: Vec<f64>,
    slope: f64,
}

impl Peak {
    fn value(&self, s: u64) -> f64 {
        let mut top = 0.0f64;
        for (j, &h) in self.heights.iter().enumerate() {
            if s >> j & 1 == 1 && h > top {
                top = h;
            }
        }
        self.slope * top
    }

    /// The airport-game Shapley values: with the heights in increasing order
    /// `h₍₁₎ ≤ … ≤ h₍ₙ₎` (`h₍₀₎ = 0`), the player of rank r gets
    /// `Σ_{j=1}^{r} (h₍ⱼ₎ − h₍ⱼ₋₁₎) / (n − j + 1)`: each increment is shared by everyone who needs it.
    fn shapley(&self) -> Vec<f64> {
        let n = self.heights.len();
        let mut order: Vec<usize> = (0..n).collect();
        // Heights are finite (checked by the fit); ties keep index order.
        order.sort_by(|&a, &b| {
            self.heights[a]
                .partial_cmp(&self.heights[b])
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(a.cmp(&b))
        });
        let mut phi = vec![0.0; n];
        let (mut below, mut share) = (0.0, 0.0);
        for (r, &i) in order.iter().enumerate() {
            share += (self.heights[i] - below) / (n - r) as f64;
            below = self.heights[i];
            phi[i] = self.slope * share;
        }
        phi
    }
}

/// The peak stand-in of a sample: heights from the singletons, slope by least squares on the
/// sizes 1 … n − 1 with at least two coalitions, each centred within its size. `None` without
/// every singleton, with non-finite utilities, or when the peak does not vary within any size.
fn fit_peak(n: usize, by_size: &[Vec<(u64, f64)>]) -> Option<Peak> {
    if n < 2 || by_size[1].len() != n {
        return None;
    }
    let mut heights = vec![0.0f64; n];
    for &(s, v) in &by_size[1] {
        if !v.is_finite() {
            return None;
        }
        heights[s.trailing_zeros() as usize] = v.max(0.0);
    }
    let unit = Peak {
        heights,
        slope: 1.0,
    };
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for size in by_size.iter().take(n).skip(1) {
        let m = size.len();
        if m < 2 {
            continue;
        }
        let mf = m as f64;
        let x_mean = size.iter().map(|&(s, _)| unit.value(s)).sum::<f64>() / mf;
        let y_mean = size.iter().map(|p| p.1).sum::<f64>() / mf;
        for &(s, y) in size {
            let d = unit.value(s) - x_mean;
            sxy += d * (y - y_mean);
            sxx += d * d;
        }
    }
    if sxx.is_nan() || sxx <= 0.0 || !sxy.is_finite() {
        return None;
    }
    Some(Peak {
        heights: unit.heights,
        slope: sxy / sxx,
    })
}

/// Fits the control variate: per-player weights by least squares on the coalitions'
/// indicators centred within each size (an effect of size alone, which the stratified means
/// remove exactly, is ignored), then the curves `b_k`, `c_k` as quadratics in `k/n` (smooth
/// across sizes, so the enumerated sizes 1 and n − 1 anchor the sparsely sampled middle), then
/// the weights again with those curves, then the curves again. `None` if the first normal
/// equations cannot be solved.
fn fit_surrogate(n: usize, by_size: &[Vec<(u64, f64)>]) -> Option<Surrogate> {
    let first = fit_weights(n, by_size, &|_| 1.0, &|_| 0.0)?;
    let (linear, quadratic) = fit_curves(n, by_size, &first);
    let weights = fit_weights(n, by_size, &|k| linear[k], &|s| {
        let t = index(s, &first);
        quadratic[s.count_ones() as usize] * t * t
    })
    .unwrap_or(first);
    let (linear, quadratic) = fit_curves(n, by_size, &weights);
    Some(Surrogate {
        weights,
        linear,
        quadratic,
        parameters: n + 6,
    })
}

/// w minimising `Σ (y_S − offset(S) − scale(|S|) Σ_{j∈S} wⱼ)²` with everything centred within
/// each size (sizes 1 … n − 1 with at least two coalitions).
fn fit_weights(
    n: usize,
    by_size: &[Vec<(u64, f64)>],
    scale: &dyn Fn(usize) -> f64,
    offset: &dyn Fn(u64) -> f64,
) -> Option<Vec<f64>> {
    let mut a = vec![vec![0.0f64; n]; n];
    let mut b = vec![0.0f64; n];
    for (k, size) in by_size.iter().enumerate().take(n).skip(1) {
        let m = size.len();
        if m < 2 {
            continue;
        }
        let sc = scale(k);
        let mut count = vec![0.0f64; n];
        let mut sum_y = 0.0;
        let mut xy = vec![0.0f64; n];
        for &(s, v) in size {
            let y = v - offset(s);
            sum_y += y;
            let members: Vec<usize> = (0..n).filter(|&j| s >> j & 1 == 1).collect();
            for &j in &members {
                count[j] += sc;
                xy[j] += sc * y;
                for &l in &members {
                    a[j][l] += sc * sc;
                }
            }
        }
        let mf = m as f64;
        for j in 0..n {
            b[j] += xy[j] - count[j] * sum_y / mf;
            for l in 0..n {
                a[j][l] -= count[j] * count[l] / mf;
            }
        }
    }
    // The all-ones direction is in the null space (centred indicators sum to zero); a small
    // ridge picks one solution.
    let trace: f64 = (0..n).map(|j| a[j][j]).sum();
    if trace.is_nan() || trace <= 0.0 {
        return None;
    }
    let ridge = 1e-9 * trace / n as f64;
    for (j, row) in a.iter_mut().enumerate() {
        row[j] += ridge;
    }
    solve(a, b)
}

/// `b_k` and `c_k` (k = 0 … n) of `y ≈ a_k + b_k t + c_k t²`, t = Σ_{j∈S} wⱼ, with
/// `b_k = Σ_p β_p (k/n)^p`, `c_k = Σ_p γ_p (k/n)^p` (p = 0, 1, 2) fitted by least squares on
/// everything centred within each size; `(1, 0)` everywhere if that system is singular.
fn fit_curves(n: usize, by_size: &[Vec<(u64, f64)>], w: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let fallback = (vec![1.0; n + 1], vec![0.0; n + 1]);
    // t scaled to at most 1 in magnitude, for conditioning.
    let big = by_size[1..n]
        .iter()
        .flatten()
        .map(|&(s, _)| index(s, w).abs())
        .fold(0.0, f64::max);
    if big.is_nan() || big <= 0.0 {
        return fallback;
    }
    let mut a = vec![vec![0.0f64; 6]; 6];
    let mut b = vec![0.0f64; 6];
    for (k, size) in by_size.iter().enumerate().take(n).skip(1) {
        let m = size.len();
        if m < 2 {
            continue;
        }
        let mf = m as f64;
        let x = k as f64 / n as f64;
        let us: Vec<f64> = size.iter().map(|&(s, _)| index(s, w) / big).collect();
        let u_mean = us.iter().sum::<f64>() / mf;
        let u2_mean = us.iter().map(|u| u * u).sum::<f64>() / mf;
        let y_mean = size.iter().map(|p| p.1).sum::<f64>() / mf;
        for (u, &(_, y)) in us.iter().zip(size) {
            let (d1, d2) = (u - u_mean, u * u - u2_mean);
            let f = [d1, d1 * x, d1 * x * x, d2, d2 * x, d2 * x * x];
            for r in 0..6 {
                b[r] += f[r] * (y - y_mean);
                for c in 0..6 {
                    a[r][c] += f[r] * f[c];
                }
            }
        }
    }
    let trace: f64 = (0..6).map(|j| a[j][j]).sum();
    if trace.is_nan() || trace <= 0.0 {
        return fallback;
    }
    for (j, row) in a.iter_mut().enumerate() {
        row[j] += 1e-12 * trace;
    }
    let Some(beta) = solve(a, b) else {
        return fallback;
    };
    let mut linear = vec![0.0; n + 1];
    let mut quadratic = vec![0.0; n + 1];
    for k in 0..=n {
        let x = k as f64 / n as f64;
        linear[k] = (beta[0] + beta[1] * x + beta[2] * x * x) / big;
        quadratic[k] = (beta[3] + beta[4] * x + beta[5] * x * x) / (big * big);
    }
    (linear, quadratic)
}

/// Solves `a x = b` by Gaussian elimination with partial pivoting; `None` if singular.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let mut pivot = col;
        for row in col + 1..n {
            if a[row][col].abs() > a[pivot][col].abs() {
                pivot = row;
            }
        }
        let p = a[pivot][col].abs();
        if p.is_nan() || p == 0.0 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..n {
            let f = a[row][col] / a[col][col];
            if f == 0.0 {
                continue;
            }
            let (top, bottom) = a.split_at_mut(row);
            for (x, y) in bottom[0][col..].iter_mut().zip(&top[col][col..]) {
                *x -= f * y;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let mut s = b[row];
        for c in row + 1..n {
            s -= a[row][c] * x[c];
        }
        x[row] = s / a[row][row];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// The result of [`sample_to_target`].
#[derive(Debug, Clone, PartialEq)]
pub struct TargetRun {
    /// The coalitions valued, in stream order (the table's order).
    pub masks: Vec<u64>,
    /// U of each, as the evaluation returned it.
    pub values: Vec<f64>,
    /// The estimate from all of them.
    pub estimate: SampledEstimate,
    /// Whether every standard error reached the target (otherwise the budget ran out).
    pub reached: bool,
}

/// Values coalitions of the stream of `n` players from `seed` in growing batches (each handed
/// to `evaluate` whole, which returns U of each in order) until every standard error is at
/// most `target_std_error` at two checks in a row — after at least [`min_count`] coalitions
/// and one batch more — or `max_count`
/// coalitions are spent, or the stream is exhausted (then the values are exact). `absent` as
/// in [`regression_adjusted`].
pub fn sample_to_target<E: From<SampledError>>(
    n: usize,
    seed: u64,
    absent: u64,
    target_std_error: f64,
    max_count: u64,
    mut evaluate: impl FnMut(&[u64]) -> Result<Vec<f64>, E>,
) -> Result<TargetRun, E> {
    let mut stream = CoalitionStream::new(seed, n)?;
    let cap = max_count
        .min(available(n))
        .max(min_count(n).min(available(n)));
    let mut masks: Vec<u64> = Vec::new();
    let mut values: Vec<f64> = Vec::new();
    let mut next = min_count(n);
    let mut below_before = false;
    loop {
        let batch: Vec<u64> = stream
            .by_ref()
            .take(next.min(cap - masks.len() as u64) as usize)
            .collect();
        let got = evaluate(&batch)?;
        if got.len() != batch.len() {
            return Err(SampledError::Shape {
                coalitions: batch.len(),
                values: got.len(),
            }
            .into());
        }
        masks.extend_from_slice(&batch);
        values.extend_from_slice(&got);
        let estimate = regression_adjusted(n, &masks, &values, absent)?;
        // The target must hold at two checks in a row: a spread estimated from a few
        // coalitions per stratum can be zero by chance (all equal), the next batch shows it.
        let below = estimate.max_std_error() <= target_std_error;
        let reached = below && below_before;
        below_before = below;
        if reached || estimate.complete || masks.len() as u64 >= cap {
            return Ok(TargetRun {
                masks,
                values,
                estimate,
                reached,
            });
        }
        next = (n as u64).max(masks.len() as u64 / 8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact Shapley values of a table indexed by mask.
    fn exact(n: usize, u: &[f64]) -> Vec<f64> {
        let mut fact = vec![1.0f64; n + 1];
        for k in 1..=n {
            fact[k] = fact[k - 1] * k as f64;
        }
        let mut phi = vec![0.0; n];
        for mask in 0..(1usize << n) {
            let s = mask.count_ones() as usize;
            if s == n {
                continue;
            }
            let w = fact[s] * fact[n - s - 1] / fact[n];
            for (i, p) in phi.iter_mut().enumerate() {
                if mask >> i & 1 == 0 {
                    *p += w * (u[mask | 1 << i] - u[mask]);
                }
            }
        }
        phi
    }

    /// A concave data game with a symmetric pair (0, 1), a null player (2) and a harmful one
    /// (3): U(S) = √(Σ wᵢ) − 0.4·[3 ∈ S] + a small interaction.
    fn concave(n: usize) -> Vec<f64> {
        let w: Vec<f64> = (0..n)
            .map(|i| match i {
                0 | 1 => 2.0,
                2 => 0.0,
                3 => 0.5,
                _ => 0.5 + (i * 7 % 5) as f64,
            })
            .collect();
        (0..1usize << n)
            .map(|m| {
                if m == 0 {
                    return 0.0;
                }
                let t: f64 = (0..n).filter(|i| m >> i & 1 == 1).map(|i| w[i]).sum();
                let harm = if m >> 3 & 1 == 1 { 0.4 } else { 0.0 };
                let pair = if m & 0b11_0000 == 0b11_0000 { 0.3 } else { 0.0 };
                t.sqrt() - harm + pair
            })
            .collect()
    }

    /// Weighted voting: 1 if the members' weights reach the quota.
    fn voting(n: usize) -> Vec<f64> {
        let w: Vec<u64> = (0..n as u64).map(|i| 1 + (i * 5 % 7)).collect();
        let quota = w.iter().sum::<u64>() / 2 + 1;
        (0..1usize << n)
            .map(|m| {
                let s: u64 = (0..n).filter(|i| m >> i & 1 == 1).map(|i| w[i]).sum();
                if s >= quota {
                    1.0
                } else {
                    0.0
                }
            })
            .collect()
    }

    fn run(n: usize, u: &[f64], seed: u64, count: u64) -> SampledEstimate {
        let masks = coalitions(seed, n, count).expect("drawable");
        let values: Vec<f64> = masks.iter().map(|&m| u[m as usize]).collect();
        regression_adjusted(n, &masks, &values, 0).expect("solvable")
    }

    fn max_err(a: &[f64], b: &[f64]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
    }

    #[test]
    fn the_stream_is_deterministic_prefix_stable_and_never_repeats() {
        for n in [1usize, 2, 3, 5, 9] {
            let all = coalitions(4, n, available(n)).expect("whole stream");
            let distinct: BTreeSet<u64> = all.iter().copied().collect();
            assert_eq!(distinct.len() as u64, available(n), "n = {n}");
            assert!(all.iter().all(|&m| m != 0 && m <= available(n)));
            assert_eq!(all[0], available(n), "the grand coalition first");
            assert_eq!(CoalitionStream::new(4, n).expect("n").count(), all.len());
            let head = coalitions(4, n, all.len() as u64 / 2).expect("prefix");
            assert_eq!(head[..], all[..head.len()]);
        }
        let a = coalitions(1, 20, 500).expect("draw");
        assert_eq!(a, coalitions(1, 20, 500).expect("draw"));
        assert_ne!(a, coalitions(2, 20, 500).expect("draw"));
        assert_eq!(a.iter().collect::<BTreeSet<_>>().len(), 500);
        assert!(matches!(
            coalitions(1, 3, 8),
            Err(SampledError::Exhausted { asked: 8, .. })
        ));
        assert_eq!(coalitions(1, 64, 1), Err(SampledError::Players(64)));
    }

    #[test]
    fn middle_sizes_follow_the_allocation_and_draws_are_uniform() {
        let n = 12;
        let masks = coalitions(3, n, 1000).expect("draw");
        let mut per_size = vec![0u64; n + 1];
        for m in &masks[1 + 2 * n..] {
            per_size[m.count_ones() as usize] += 1;
        }
        // m_k √(k(n−k)) roughly equal across middle sizes (within one draw).
        let scaled: Vec<f64> = (2..n - 1)
            .filter(|&k| per_size[k] < binomial(n, k))
            .map(|k| per_size[k] as f64 * ((k * (n - k)) as f64).sqrt())
            .collect();
        assert_eq!(
            scaled.len(),
            7,
            "sizes 2 and 10 are exhausted: {per_size:?}"
        );
        let (lo, hi) = scaled
            .iter()
            .fold((f64::MAX, 0.0f64), |(l, h), &x| (l.min(x), h.max(x)));
        assert!(
            hi - lo <= 2.0 * ((n / 2 * (n - n / 2)) as f64).sqrt(),
            "{per_size:?}"
        );
        // Each player is in about k/n of the size-k draws.
        let k = 6;
        let draws: Vec<u64> = masks
            .iter()
            .copied()
            .filter(|m| m.count_ones() as usize == k)
            .collect();
        for i in 0..n {
            let share =
                draws.iter().filter(|&&m| m >> i & 1 == 1).count() as f64 / draws.len() as f64;
            assert!((share - 0.5).abs() < 0.2, "player {i}: {share}");
        }
    }

    #[test]
    fn the_whole_stream_gives_exact_shapley_values() {
        for (n, u) in [
            (6, concave(6)),
            (7, voting(7)),
            (3, vec![0.0, 1.0, 2.0, 4.0, 0.5, 1.0, 3.0, 7.0]),
        ] {
            let e = run(n, &u, 11, available(n));
            assert!(e.complete);
            assert!(e.std_errors.iter().all(|&s| s == 0.0));
            let truth = exact(n, &u);
            assert!(
                max_err(&e.values, &truth) < 1e-12,
                "{:?} vs {truth:?}",
                e.values
            );
        }
        let e = regression_adjusted(1, &[1], &[0.25], 0).expect("one player");
        assert_eq!(e.values, vec![0.25]);
    }

    #[test]
    fn sampled_values_are_efficient_accurate_and_their_errors_are_honest() {
        let n = 14;
        let cases = [("concave", concave(n)), ("voting", voting(n))];
        for (name, u) in &cases {
            let truth = exact(n, u);
            let mut covered = 0;
            let mut total = 0;
            let mut errs = vec![];
            for seed in 0..6 {
                let e = run(n, u, seed, 600);
                assert!(!e.complete);
                let sum: f64 = e.values.iter().sum();
                assert!((sum - u[(1 << n) - 1]).abs() < 1e-9, "efficient");
                for ((v, t), s) in e.values.iter().zip(&truth).zip(&e.std_errors) {
                    total += 1;
                    if (v - t).abs() <= 2.0 * s {
                        covered += 1;
                    }
                }
                errs.push(max_err(&e.values, &truth));
            }
            let coverage = covered as f64 / total as f64;
            assert!(coverage >= 0.7, "{name}: 2-SE coverage {coverage}");
            let scale = truth.iter().map(|x| x.abs()).fold(0.0, f64::max);
            let worst = errs.iter().copied().fold(0.0, f64::max);
            assert!(
                worst < 0.25 * scale,
                "{name}: worst error {worst} of {scale}"
            );
        }
    }

    #[test]
    fn the_control_variate_helps_on_concave_games() {
        let n = 14;
        let u = concave(n);
        let truth = exact(n, &u);
        let mut with = 0.0;
        for seed in 0..4 {
            let e = run(n, &u, seed, 400);
            assert!(e.surrogate, "a concave data game takes the control variate");
            with += max_err(&e.values, &truth);
        }
        // Against plain permutation sampling at the same number of evaluations.
        let perms = 400 / n as u32;
        let mut plain = 0.0;
        for seed in 0..4u64 {
            let mut phi = vec![0.0; n];
            for k in 0..perms {
                let mut mask = 0usize;
                for i in crate::report::permutation(seed, k, n) {
                    phi[i] += u[mask | 1 << i] - u[mask];
                    mask |= 1 << i;
                }
            }
            phi.iter_mut().for_each(|p| *p /= perms as f64);
            plain += max_err(&phi, &truth);
        }
        assert!(
            with < 0.5 * plain,
            "regression-adjusted {with} vs permutations {plain}"
        );
    }

    #[test]
    fn sampling_to_a_target_stops_there_and_spends_no_more_than_allowed() {
        let n = 14;
        let u = concave(n);
        let eval = |batch: &[u64]| -> Result<Vec<f64>, SampledError> {
            Ok(batch.iter().map(|&m| u[m as usize]).collect())
        };
        let run = sample_to_target(n, 5, 0, 0.01, 4000, eval).expect("runs");
        assert!(run.reached);
        assert!(run.estimate.max_std_error() <= 0.01);
        assert!((run.masks.len() as u64) < 4000);
        assert_eq!(
            run.masks,
            coalitions(5, n, run.masks.len() as u64).expect("prefix")
        );
        let again = regression_adjusted(n, &run.masks, &run.values, 0).expect("replay");
        assert_eq!(
            again, run.estimate,
            "the table replays to the same estimate"
        );
        let capped = sample_to_target(n, 5, 0, 1e-9, 100, eval).expect("runs");
        assert!(!capped.reached);
        assert_eq!(capped.masks.len(), 100);
        // A small game that no control variate fits is enumerated, and exact.
        let v = voting(4);
        let small = sample_to_target(4, 5, 0, 1e-9, 1000, |b: &[u64]| {
            Ok::<_, SampledError>(b.iter().map(|&m| v[m as usize]).collect())
        })
        .expect("runs");
        assert!(small.estimate.complete && small.masks.len() == 15);
        assert!(max_err(&small.estimate.values, &exact(4, &v)) < 1e-12);
        // An additive game is fitted exactly: zero error long before the stream ends.
        let additive = sample_to_target(9, 5, 0, 1e-9, 1000, |b: &[u64]| {
            Ok::<_, SampledError>(
                b.iter()
                    .map(|&m| index(m, &[0.1, 0.2, 0.3, -0.1, 0.0, 1.0, 0.5, 0.25, 0.125]))
                    .collect(),
            )
        })
        .expect("runs");
        assert!(additive.reached && !additive.estimate.complete);
        // Zero error at the first check, confirmed by a second batch.
        assert!(additive.masks.len() as u64 > min_count(9));
        let want = [0.1, 0.2, 0.3, -0.1, 0.0, 1.0, 0.5, 0.25, 0.125];
        assert!(
            max_err(&additive.estimate.values, &want) < 1e-9,
            "{:?}",
            additive.estimate.values
        );
    }

    #[test]
    fn absent_players_get_exactly_zero_and_change_nobody_else() {
        // Players 3 and 7 of 12 brought nothing (no-shows): U(S) = U(S without them).
        let n = 12;
        let inner = concave(10);
        let keep = |m: usize| -> usize {
            let mut out = 0;
            let mut j = 0;
            for i in 0..n {
                if i == 3 || i == 7 {
                    continue;
                }
                out |= (m >> i & 1) << j;
                j += 1;
            }
            out
        };
        let u: Vec<f64> = (0..1usize << n).map(|m| inner[keep(m)]).collect();
        let absent = 1u64 << 3 | 1 << 7;
        let solve = |count: u64, absent: u64| {
            let masks = coalitions(2, n, count).expect("drawable");
            let values: Vec<f64> = masks.iter().map(|&m| u[m as usize]).collect();
            regression_adjusted(n, &masks, &values, absent)
        };
        let e = solve(300, absent).expect("consistent");
        assert_eq!((e.values[3], e.values[7]), (0.0, 0.0));
        assert_eq!((e.std_errors[3], e.std_errors[7]), (0.0, 0.0));
        let sum: f64 = e.values.iter().sum();
        assert!((sum - u[(1 << n) - 1]).abs() < 1e-9);
        let truth = exact(n, &u);
        assert!(
            max_err(&e.values, &truth) < 0.05,
            "{:?} vs {truth:?}",
            e.values
        );
        // Undeclared, the same players are estimated (near 0, not exactly).
        let plain = solve(300, 0).expect("solvable");
        assert!(plain.values[3] != 0.0 && plain.values[3].abs() < 0.05);
        // Every coalition: exact.
        let e = solve(available(n), absent).expect("consistent");
        assert!(e.complete);
        assert!(max_err(&e.values, &truth) < 1e-12);
        // Declaring a player absent whose coalitions differ is refused, naming it.
        assert!(matches!(
            solve(300, 1 << 5),
            Err(SampledError::NotNull { player: 5, .. })
        ));
        assert!(matches!(
            solve(300, 1 << 12),
            Err(SampledError::Absent { .. })
        ));
    }

    #[test]
    fn the_control_variates_shapley_values_are_those_of_enumeration() {
        for n in [2usize, 3, 6] {
            let g = Surrogate {
                weights: (0..n).map(|i| 0.3 + (i * 7 % 5) as f64 * 0.4).collect(),
                linear: (0..=n).map(|k| 1.0 + 0.2 * k as f64).collect(),
                quadratic: (0..=n).map(|k| 0.1 - 0.03 * k as f64).collect(),
                parameters: 0,
            };
            let table: Vec<f64> = (0..1u64 << n)
                .map(|m| if m == 0 { 0.0 } else { g.value(m) })
                .collect();
            assert!(max_err(&g.shapley(n), &exact(n, &table)) < 1e-12, "n = {n}");
        }
    }

    #[test]
    fn the_peak_stand_ins_shapley_values_are_those_of_enumeration() {
        for n in [2usize, 3, 7] {
            // Ties (players 0 and 1) and a zero height (player 2, when present).
            let heights: Vec<f64> = (0..n)
                .map(|i| match i {
                    0 | 1 => 2.5,
                    2 => 0.0,
                    _ => 0.5 + (i * 3 % 5) as f64,
                })
                .collect();
            let g = Peak {
                heights,
                slope: -1.5,
            };
            let table: Vec<f64> = (0..1u64 << n).map(|m| g.value(m)).collect();
            assert!(max_err(&g.shapley(), &exact(n, &table)) < 1e-12, "n = {n}");
        }
    }

    /// Airport (cost-sharing) games: the peak stand-in is chosen and the estimate is exact,
    /// with zero standard errors, from the smallest sample; the index stand-in stays on
    /// concave games.
    #[test]
    fn airport_games_are_exact_from_the_smallest_sample() {
        let n = 16;
        let cost: Vec<f64> = (0..n).map(|i| 1.0 + (i * 7 % 11) as f64 * 0.8).collect();
        let u: Vec<f64> = (0..1usize << n)
            .map(|m| {
                (0..n)
                    .filter(|i| m >> i & 1 == 1)
                    .map(|i| cost[i])
                    .fold(0.0, f64::max)
            })
            .collect();
        let truth = exact(n, &u);
        let est = run(n, &u, 9, min_count(n) + 20);
        assert!(est.surrogate && !est.complete);
        assert!(max_err(&est.values, &truth) < 1e-9, "{:?}", est.values);
        assert!(est.max_std_error() < 1e-9);
        // A concave game is still estimated well (the index stand-in leaves less spread).
        let c = concave(n);
        let est = run(n, &c, 9, 400);
        let t = exact(n, &c);
        let rel = (est
            .values
            .iter()
            .zip(&t)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
            / t.iter().map(|b| b * b).sum::<f64>())
        .sqrt();
        assert!(est.surrogate && rel < 0.03, "relative error {rel}");
    }

    #[test]
    fn malformed_samples_are_named() {
        assert_eq!(
            regression_adjusted(3, &[7, 1], &[1.0], 0),
            Err(SampledError::Shape {
                coalitions: 2,
                values: 1
            })
        );
        assert_eq!(
            regression_adjusted(3, &[7, 1, 1], &[1.0, 0.0, 0.0], 0),
            Err(SampledError::Coalition { mask: 1, n: 3 })
        );
        assert_eq!(
            regression_adjusted(3, &[8], &[1.0], 0),
            Err(SampledError::Coalition { mask: 8, n: 3 })
        );
        assert_eq!(
            regression_adjusted(3, &[1, 2], &[1.0, 0.0], 0),
            Err(SampledError::NoGrandCoalition)
        );
    }
}
