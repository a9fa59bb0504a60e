//! Built-in games whose Shapley values are known in closed form: references for tests and
//! benchmarks.

use crate::coalition::Coalition;
use crate::error::{Result, ShapleyError};
use crate::utility::Utility;

/// `U(S) = Σ_{i∈S} w_i`: every player's Shapley and Banzhaf value is its own weight.
#[derive(Debug, Clone)]
pub struct AdditiveGame {
    weights: Vec<f64>,
}

impl AdditiveGame {
    /// A game with one weight per player.
    pub fn new(weights: Vec<f64>) -> Self {
        Self { weights }
    }

    /// The exact Shapley values (the weights).
    pub fn shapley_values(&self) -> Vec<f64> {
        self.weights.clone()
    }

    /// The exact Banzhaf values (the weights).
    pub fn banzhaf_values(&self) -> Vec<f64> {
        self.weights.clone()
    }
}

impl Utility for AdditiveGame {
    fn n_players(&self) -> usize {
        self.weights.len()
    }
    fn value(&self, s: &Coalition) -> Result<f64> {
        Ok(s.players().map(|i| self.weights[i]).sum())
    }
}

/// The airport game: `U(S) = max_{i∈S} c_i` (runway cost shared by the planes that need it).
#[derive(Debug, Clone)]
pub struct AirportGame {
    costs: Vec<f64>,
}

impl AirportGame {
    /// A game with one non-negative runway cost per player.
    pub fn new(costs: Vec<f64>) -> Result<Self> {
        if costs.iter().any(|c| !c.is_finite() || *c < 0.0) {
            return Err(ShapleyError::InvalidParameter(
                "airport costs must be finite and non-negative".into(),
            ));
        }
        Ok(Self { costs })
    }

    /// The exact Shapley values (Littlechild–Owen): each segment of runway is split equally
    /// among the players that need it.
    pub fn shapley_values(&self) -> Vec<f64> {
        let n = self.costs.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| self.costs[a].total_cmp(&self.costs[b]));
        let mut out = vec![0.0; n];
        let mut acc = 0.0;
        let mut prev = 0.0;
        for (k, &i) in order.iter().enumerate() {
            acc += (self.costs[i] - prev) / (n - k) as f64;
            prev = self.costs[i];
            out[i] = acc;
        }
        out
    }
}

impl Utility for AirportGame {
    fn n_players(&self) -> usize {
        self.costs.len()
    }
    fn value(&self, s: &Coalition) -> Result<f64> {
        Ok(s.players().map(|i| self.costs[i]).fold(0.0, f64::max))
    }
}

/// A weighted majority game: `U(S) = 1` when `Σ_{i∈S} w_i ≥ quota`, else 0.
#[derive(Debug, Clone)]
pub struct WeightedVotingGame {
    weights: Vec<u64>,
    quota: u64,
}

/// Largest `n · quota` cell count the exact dynamic programme accepts.
const VOTING_DP_MAX_CELLS: u64 = 50_000_000;

impl WeightedVotingGame {
    /// A game with integer weights and a quota of at least 1.
    pub fn new(weights: Vec<u64>, quota: u64) -> Result<Self> {
        if quota == 0 {
            return Err(ShapleyError::InvalidParameter(
                "weighted voting quota must be at least 1".into(),
            ));
        }
        Ok(Self { weights, quota })
    }

    /// The exact Shapley–Shubik index by dynamic programming over (coalition size, weight).
    ///
    /// For each distinct weight `w`, it computes the probability that the players before a
    /// weight-`w` player in a random order weigh in `[quota − w, quota)`. Probabilities are kept
    /// normalised per size (counts divided by binomials), so nothing overflows. Cost is
    /// `O(distinct weights · n² · quota)`; games with `n · quota` above 5·10⁷ are refused.
    pub fn shapley_values(&self) -> Result<Vec<f64>> {
        let n = self.weights.len();
        let q = self.quota as usize;
        if (n as u64).saturating_mul(self.quota) > VOTING_DP_MAX_CELLS {
            return Err(ShapleyError::TooManyPlayers {
                method: "exact weighted voting (n · quota ≤ 5e7)",
                n,
                max: (VOTING_DP_MAX_CELLS / self.quota) as usize,
            });
        }
        let mut distinct: Vec<u64> = self.weights.clone();
        distinct.sort_unstable();
        distinct.dedup();
        let mut by_weight = std::collections::HashMap::new();
        for &w in &distinct {
            by_weight.insert(w, self.pivot_probability(w, q));
        }
        Ok(self.weights.iter().map(|w| by_weight[w]).collect())
    }

    fn pivot_probability(&self, w_i: u64, q: usize) -> f64 {
        let n = self.weights.len();
        if w_i == 0 || n == 0 {
            return 0.0;
        }
        // f[s * q + w] = P(weight of a uniform size-s subset of the processed players = w),
        // restricted to w < q (heavier subsets never make player i pivotal).
        let mut f = vec![0.0f64; n * q];
        f[0] = 1.0;
        let mut skipped = false;
        let mut m = 0usize;
        for &wj in &self.weights {
            if !skipped && wj == w_i {
                skipped = true;
                continue;
            }
            let wj = wj as usize;
            let denom = (m + 1) as f64;
            for s in (1..=m + 1).rev() {
                let keep = (m + 1 - s) as f64 / denom;
                let add = s as f64 / denom;
                for w in (0..q).rev() {
                    let from = if w >= wj {
                        f[(s - 1) * q + w - wj]
                    } else {
                        0.0
                    };
                    f[s * q + w] = f[s * q + w] * keep + from * add;
                }
            }
            m += 1;
        }
        let lo = q.saturating_sub(w_i as usize);
        let total: f64 = (0..n)
            .map(|s| f[s * q + lo..s * q + q].iter().sum::<f64>())
            .sum();
        total / n as f64
    }
}

impl Utility for WeightedVotingGame {
    fn n_players(&self) -> usize {
        self.weights.len()
    }
    fn value(&self, s: &Coalition) -> Result<f64> {
        let w: u64 = s.players().map(|i| self.weights[i]).sum();
        Ok(if w >= self.quota { 1.0 } else { 0.0 })
    }
}

/// The glove game: `U(S) = min(|S ∩ L|, |S ∩ R|)` (pairs of left and right gloves).
#[derive(Debug, Clone)]
pub struct GloveGame {
    n: usize,
    left: Vec<bool>,
    right: Vec<bool>,
}

impl GloveGame {
    /// `n` players, the listed ones holding a left or right glove (the rest are null players).
    pub fn new(n: usize, left: &[usize], right: &[usize]) -> Result<Self> {
        let mut l = vec![false; n];
        let mut r = vec![false; n];
        for &i in left {
            *l.get_mut(i)
                .ok_or(ShapleyError::PlayerOutOfRange { player: i, n })? = true;
        }
        for &i in right {
            let slot = r
                .get_mut(i)
                .ok_or(ShapleyError::PlayerOutOfRange { player: i, n })?;
            if l[i] {
                return Err(ShapleyError::InvalidParameter(format!(
                    "player {i} cannot hold both a left and a right glove"
                )));
            }
            *slot = true;
        }
        Ok(Self {
            n,
            left: l,
            right: r,
        })
    }

    /// The exact Shapley values by a hypergeometric sum over the gloves before a player.
    pub fn shapley_values(&self) -> Vec<f64> {
        let l = self.left.iter().filter(|&&b| b).count();
        let r = self.right.iter().filter(|&&b| b).count();
        let phi_left = glove_share(l, r);
        let phi_right = glove_share(r, l);
        (0..self.n)
            .map(|i| {
                if self.left[i] {
                    phi_left
                } else if self.right[i] {
                    phi_right
                } else {
                    0.0
                }
            })
            .collect()
    }
}

/// Shapley value of a holder of one of `own` gloves facing `other` gloves of the other hand
/// (null players do not change it, so they are left out).
fn glove_share(own: usize, other: usize) -> f64 {
    if own == 0 {
        return 0.0;
    }
    let n = own + other;
    let ln_fact = ln_factorials(n);
    let ln_choose = |a: usize, b: usize| ln_fact[a] - ln_fact[b] - ln_fact[a - b];
    let mut p = 0.0;
    for a in 0..own {
        for b in a + 1..=other {
            p += (ln_choose(own - 1, a) + ln_choose(other, b) - ln_choose(n - 1, a + b)).exp();
        }
    }
    p / n as f64
}

/// `ln k!` for `k = 0..=n`.
pub(crate) fn ln_factorials(n: usize) -> Vec<f64> {
    let mut v = Vec::with_capacity(n + 1);
    let mut acc = 0.0;
    v.push(0.0);
    for k in 1..=n {
        acc += (k as f64).ln();
        v.push(acc);
    }
    v
}

impl Utility for GloveGame {
    fn n_players(&self) -> usize {
        self.n
    }
    fn value(&self, s: &Coalition) -> Result<f64> {
        let (mut a, mut b) = (0usize, 0usize);
        for i in s.players() {
            a += self.left[i] as usize;
            b += self.right[i] as usize;
        }
        Ok(a.min(b) as f64)
    }
}

/// The unanimity game on a carrier `T`: `U(S) = 1` when `T ⊆ S`, else 0.
#[derive(Debug, Clone)]
pub struct UnanimityGame {
    carrier: Coalition,
}

impl UnanimityGame {
    /// `n` players with a non-empty carrier.
    pub fn new(n: usize, carrier: &[usize]) -> Result<Self> {
        let carrier = Coalition::from_players(n, carrier)?;
        if carrier.is_empty() {
            return Err(ShapleyError::InvalidParameter(
                "the unanimity carrier must not be empty".into(),
            ));
        }
        Ok(Self { carrier })
    }

    /// The exact Shapley values: `1/|T|` for carrier members, 0 otherwise.
    pub fn shapley_values(&self) -> Vec<f64> {
        let t = self.carrier.len() as f64;
        (0..self.carrier.n_players())
            .map(|i| {
                if self.carrier.contains(i) {
                    1.0 / t
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// The exact Banzhaf values: `2^{1−|T|}` for carrier members, 0 otherwise.
    pub fn banzhaf_values(&self) -> Vec<f64> {
        let b = 0.5f64.powi(self.carrier.len() as i32 - 1);
        (0..self.carrier.n_players())
            .map(|i| if self.carrier.contains(i) { b } else { 0.0 })
            .collect()
    }
}

impl Utility for UnanimityGame {
    fn n_players(&self) -> usize {
        self.carrier.n_players()
    }
    fn value(&self, s: &Coalition) -> Result<f64> {
        Ok(if self.carrier.is_subset(s) { 1.0 } else { 0.0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exact::exact_shapley;

    fn assert_close(a: &[f64], b: &[f64], tol: f64) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tol, "player {i}: {x} vs {y}");
        }
    }

    #[test]
    fn closed_forms_match_enumeration() {
        let airport = AirportGame::new(vec![3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]).expect("ok");
        let e = exact_shapley(&airport).expect("ok");
        assert_close(&e.values, &airport.shapley_values(), 1e-12);

        let voting = WeightedVotingGame::new(vec![4, 3, 3, 2, 1, 1, 0, 5, 2], 11).expect("ok");
        let e = exact_shapley(&voting).expect("ok");
        assert_close(&e.values, &voting.shapley_values().expect("ok"), 1e-12);

        let glove = GloveGame::new(9, &[0, 2, 4], &[1, 3, 5, 6, 8]).expect("ok");
        let e = exact_shapley(&glove).expect("ok");
        assert_close(&e.values, &glove.shapley_values(), 1e-12);

        let un = UnanimityGame::new(7, &[1, 4, 5]).expect("ok");
        let e = exact_shapley(&un).expect("ok");
        assert_close(&e.values, &un.shapley_values(), 1e-12);

        let add = AdditiveGame::new(vec![1.0, -2.0, 0.5]);
        let e = exact_shapley(&add).expect("ok");
        assert_close(&e.values, &add.shapley_values(), 1e-12);
    }

    #[test]
    fn closed_forms_are_efficient_at_scale() {
        let n = 1000;
        let costs: Vec<f64> = (0..n).map(|i| ((i * 37) % 101) as f64).collect();
        let a = AirportGame::new(costs.clone()).expect("ok");
        let sum: f64 = a.shapley_values().iter().sum();
        assert!((sum - 100.0).abs() < 1e-9);

        let g = GloveGame::new(
            n,
            &(0..300).collect::<Vec<_>>(),
            &(300..700).collect::<Vec<_>>(),
        )
        .expect("ok");
        let sum: f64 = g.shapley_values().iter().sum();
        assert!((sum - 300.0).abs() < 1e-6, "glove efficiency {sum}");

        let w: Vec<u64> = (0..200).map(|i| 1 + (i % 5) as u64).collect();
        let v = WeightedVotingGame::new(w, 301).expect("ok");
        let sum: f64 = v.shapley_values().expect("ok").iter().sum();
        assert!((sum - 1.0).abs() < 1e-9, "voting efficiency {sum}");
    }

    #[test]
    fn bad_parameters_are_errors() {
        assert!(AirportGame::new(vec![-1.0]).is_err());
        assert!(WeightedVotingGame::new(vec![1], 0).is_err());
        assert!(GloveGame::new(3, &[0], &[0]).is_err());
        assert!(GloveGame::new(3, &[5], &[0]).is_err());
        assert!(UnanimityGame::new(3, &[]).is_err());
    }
}
