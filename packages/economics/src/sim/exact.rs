//! Exact Shapley values from a complete table of coalition utilities, in `O(2^k·k)`.
//!
//! With `w(s) = s!(k−s−1)!/k!`, `φᵢ = Σ_{T∋i} w(|T|−1)·U(T) − Σ_{T∌i} w(|T|)·U(T)`: one pass over
//! the table adds each coalition's value to its members and subtracts it from the others.

/// Shapley weights for `k` players, indexed by coalition size: `w[s] = s!(k−s−1)!/k!`.
#[derive(Debug, Clone)]
pub struct ShapleyWeights {
    k: usize,
    w: Vec<f64>,
    noise_factor: f64,
}

impl ShapleyWeights {
    /// Weights for `k ≥ 1` players.
    pub fn new(k: usize) -> Self {
        let k = k.max(1);
        // w(s) = 1 / (k · C(k−1, s)).
        let mut binom = vec![1.0f64; k];
        for s in 1..k {
            binom[s] = binom[s - 1] * (k - s) as f64 / s as f64;
        }
        let w: Vec<f64> = binom.iter().map(|c| 1.0 / (k as f64 * c)).collect();
        // Var(φᵢ)/σ² when every non-empty coalition carries independent noise of sd σ:
        // Σ_{T∋i} w(|T|−1)² + Σ_{T∌i, T≠∅} w(|T|)², grouped by size.
        let mut v = 0.0;
        for s in 0..k {
            v += binom[s] * w[s] * w[s]; // T ∋ i with |T| = s + 1
            if s >= 1 {
                v += binom[s] * w[s] * w[s]; // T ∌ i with |T| = s
            }
        }
        Self {
            k,
            w,
            noise_factor: v.sqrt(),
        }
    }

    /// Number of players.
    pub fn players(&self) -> usize {
        self.k
    }

    /// The standard error of an exact Shapley value computed from a table whose non-empty
    /// entries carry independent noise of standard deviation 1.
    pub fn noise_factor(&self) -> f64 {
        self.noise_factor
    }
}

/// Exact Shapley values of the `k`-player game whose utility of mask `m` is `table[m]`
/// (`table.len() == 2^k`), written into `out`.
pub fn shapley_from_table(table: &[f64], weights: &ShapleyWeights, out: &mut Vec<f64>) {
    let k = weights.k;
    debug_assert_eq!(table.len(), 1 << k);
    out.clear();
    out.resize(k, 0.0);
    let full = (1usize << k) - 1;
    let w = &weights.w;
    // φᵢ = Σ_{T∋i} (w(|T|−1) + w(|T|))·U(T) − Σ_T w(|T|)·U(T), with w(k) = 0.
    let mut common = 0.0;
    for (m, &u) in table.iter().enumerate().skip(1) {
        let s = m.count_ones() as usize;
        let w_out = if s < k { w[s] } else { 0.0 };
        common += w_out * u;
        let add = (w[s - 1] + w_out) * u;
        let mut bits = m & full;
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            out[i] += add;
            bits &= bits - 1;
        }
    }
    for v in out.iter_mut() {
        *v -= common;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(k: usize, f: impl Fn(usize) -> f64) -> Vec<f64> {
        (0..1usize << k).map(f).collect()
    }

    fn shapley(k: usize, t: &[f64]) -> Vec<f64> {
        let mut out = Vec::new();
        shapley_from_table(t, &ShapleyWeights::new(k), &mut out);
        out
    }

    #[test]
    fn additive_game_gives_the_weights() {
        let wts = [1.5, -2.0, 0.25, 4.0, 0.0];
        let t = table(5, |m| {
            (0..5).filter(|i| m >> i & 1 == 1).map(|i| wts[i]).sum()
        });
        for (phi, w) in shapley(5, &t).iter().zip(wts) {
            assert!((phi - w).abs() < 1e-12, "{phi} vs {w}");
        }
    }

    #[test]
    fn symmetric_players_are_equal_and_values_are_efficient() {
        // Players 0 and 2 are symmetric; the game is otherwise arbitrary and non-additive.
        let f = |m: usize| {
            let a = (m & 1) + (m >> 2 & 1);
            let b = m >> 1 & 1;
            let c = m >> 3 & 1;
            ((a * a) as f64 + 3.0 * b as f64 * a as f64 - c as f64)
                .sqrt()
                .max(0.0)
                + b as f64
        };
        let t = table(4, f);
        let phi = shapley(4, &t);
        assert!((phi[0] - phi[2]).abs() < 1e-12);
        let total: f64 = phi.iter().sum();
        assert!((total - (t[15] - t[0])).abs() < 1e-12, "efficiency");
    }

    #[test]
    fn matches_the_reference_estimator() {
        use fairshare_shapley::{exact_shapley, FnUtility};
        let k = 7;
        let f = |m: usize| ((m * 2654435761) % 1000) as f64 / 100.0 * (m != 0) as u8 as f64;
        let t = table(k, f);
        let ours = shapley(k, &t);
        let theirs = exact_shapley(&FnUtility::new(k, |c: &fairshare_shapley::Coalition| {
            f(c.first_word() as usize)
        }))
        .expect("exact");
        for (a, b) in ours.iter().zip(&theirs.values) {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
    }

    #[test]
    fn single_player_gets_the_grand_value() {
        assert_eq!(shapley(1, &[0.0, 0.7]), vec![0.7]);
        assert!((ShapleyWeights::new(1).noise_factor() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn noise_factor_matches_the_sum_of_squared_coefficients() {
        // φ₀ is linear in the table; its coefficient vector's norm is the noise factor.
        let k = 4;
        let w = ShapleyWeights::new(k);
        let mut sq = 0.0;
        for m in 1..1usize << k {
            let mut t = vec![0.0; 1 << k];
            t[m] = 1.0;
            sq += shapley(k, &t)[0].powi(2);
        }
        assert!((sq.sqrt() - w.noise_factor()).abs() < 1e-12);
    }
}
