//! A cheap surrogate of a game with closed-form Shapley values, fitted by least squares to
//! the coalitions already evaluated: the control variate of the regression-adjusted estimator.
//!
//! The model is a single-index cubic, `g(S) = a₀ + a₁t + a₂t² + a₃t³` with `t = Σ_{i∈S} wᵢ`.
//! It contains the additive game (`a₂ = a₃ = 0`) and captures the diminishing returns of
//! data games, where the value of a coalition is a concave function of how much useful data
//! it pools (`1 − e^{−t}`, `log(1 + t)`, accuracy curves). Its Shapley values follow from the
//! unanimity decomposition of `t^d`, so no enumeration is needed at any `n`.

/// `g(S) = a₀ + a₁t + a₂t² + a₃t³`, `t = Σ_{i∈S} wᵢ`.
#[derive(Debug, Clone)]
pub(crate) struct SingleIndex {
    w: Vec<f64>,
    a: [f64; 4],
}

/// One evaluated coalition: its mask and value.
pub(crate) type Sample = (u64, f64);

impl SingleIndex {
    /// The surrogate's value on a coalition mask.
    pub(crate) fn value(&self, mask: u64) -> f64 {
        let t = index(&self.w, mask);
        self.a[0] + t * (self.a[1] + t * (self.a[2] + t * self.a[3]))
    }

    /// Exact Shapley values of the surrogate.
    ///
    /// `t^d` is a sum over ordered d-tuples of players of `Π w` times the unanimity game of
    /// the tuple's distinct players, which gives each of them `1/|distinct|`.
    pub(crate) fn shapley(&self) -> Vec<f64> {
        let big_w: f64 = self.w.iter().sum();
        let q: f64 = self.w.iter().map(|x| x * x).sum();
        self.w
            .iter()
            .map(|&wl| {
                let rest = big_w - wl;
                let rest_q = q - wl * wl;
                let cubic = wl.powi(3)
                    + 1.5 * wl * wl * rest
                    + 1.5 * wl * rest_q
                    + wl * (rest * rest - rest_q);
                self.a[1] * wl + self.a[2] * wl * big_w + self.a[3] * cubic
            })
            .collect()
    }

    /// Fits the surrogate to `samples` by least squares: a ridge-regularised additive fit,
    /// then Levenberg–Marquardt on all parameters when there are enough samples for the
    /// cubic. Returns `None` when there are too few samples for even the additive model.
    pub(crate) fn fit(n: usize, samples: &[Sample]) -> Option<Self> {
        if samples.len() < n + 2 {
            return None;
        }
        let scale = value_scale(samples);
        // Additive start: U ≈ a₀ + Σ wᵢ Sᵢ.
        let p = n + 1;
        let mut ata = vec![0.0; p * p];
        let mut atb = vec![0.0; p];
        let mut x = vec![0.0; p];
        for &(mask, v) in samples {
            x[0] = 1.0;
            for (i, xi) in x[1..].iter_mut().enumerate() {
                *xi = (mask >> i & 1) as f64;
            }
            accumulate(&mut ata, &mut atb, &x, v);
        }
        for d in 1..p {
            ata[d * p + d] += 1e-9 * samples.len() as f64;
        }
        let sol = solve(ata, atb, p)?;
        let linear = Self {
            w: sol[1..].to_vec(),
            a: [sol[0], 1.0, 0.0, 0.0],
        };
        if samples.len() < 2 * (n + 4) {
            return Some(linear);
        }
        let linear_sse = sse(&linear, samples);
        // Normalise the index to t(N) of order one so the polynomial is well conditioned.
        let mut model = linear.clone();
        let span: f64 = model.w.iter().map(|x| x.abs()).sum::<f64>().max(1e-300);
        model.w.iter_mut().for_each(|x| *x /= span);
        model.a[1] = span;
        let cubic = levenberg_marquardt(model, samples, scale);
        if sse(&cubic, samples) < linear_sse {
            Some(cubic)
        } else {
            Some(linear)
        }
    }
}

fn index(w: &[f64], mask: u64) -> f64 {
    let mut m = mask;
    let mut t = 0.0;
    while m != 0 {
        let b = m.trailing_zeros() as usize;
        m &= m - 1;
        t += w[b];
    }
    t
}

fn value_scale(samples: &[Sample]) -> f64 {
    let mean = samples.iter().map(|s| s.1).sum::<f64>() / samples.len() as f64;
    let var = samples.iter().map(|s| (s.1 - mean).powi(2)).sum::<f64>() / samples.len() as f64;
    var.sqrt().max(1e-300)
}

fn sse(g: &SingleIndex, samples: &[Sample]) -> f64 {
    samples.iter().map(|&(m, v)| (v - g.value(m)).powi(2)).sum()
}

fn accumulate(ata: &mut [f64], atb: &mut [f64], x: &[f64], y: f64) {
    let p = x.len();
    for r in 0..p {
        if x[r] == 0.0 {
            continue;
        }
        atb[r] += x[r] * y;
        let row = &mut ata[r * p..(r + 1) * p];
        for (c, xc) in x.iter().enumerate() {
            row[c] += x[r] * xc;
        }
    }
}

/// Levenberg–Marquardt on `(a₀..a₃, w)`; a step is kept only when it lowers the error.
fn levenberg_marquardt(mut g: SingleIndex, samples: &[Sample], scale: f64) -> SingleIndex {
    let n = g.w.len();
    let p = n + 4;
    let mut lambda = 1e-3;
    let mut cur = sse(&g, samples);
    let mut jac = vec![0.0; p];
    for _ in 0..30 {
        let mut jtj = vec![0.0; p * p];
        let mut jtr = vec![0.0; p];
        for &(mask, v) in samples {
            let t = index(&g.w, mask);
            let r = v - g.value(mask);
            let dh = g.a[1] + t * (2.0 * g.a[2] + 3.0 * t * g.a[3]);
            jac[0] = 1.0;
            jac[1] = t;
            jac[2] = t * t;
            jac[3] = t * t * t;
            for i in 0..n {
                jac[4 + i] = if mask >> i & 1 == 1 { dh } else { 0.0 };
            }
            accumulate(&mut jtj, &mut jtr, &jac, r);
        }
        let mut improved = false;
        for _ in 0..8 {
            let mut a = jtj.clone();
            for d in 0..p {
                a[d * p + d] += lambda * (jtj[d * p + d] + 1e-12 * scale * scale);
            }
            let Some(step) = solve(a, jtr.clone(), p) else {
                lambda *= 10.0;
                continue;
            };
            let mut trial = g.clone();
            for (a, d) in trial.a.iter_mut().zip(&step) {
                *a += d;
            }
            for (w, d) in trial.w.iter_mut().zip(&step[4..]) {
                *w += d;
            }
            let e = sse(&trial, samples);
            if e.is_finite() && e < cur {
                let gain = (cur - e) / cur.max(1e-300);
                g = trial;
                cur = e;
                lambda = (lambda / 3.0).max(1e-9);
                improved = gain > 1e-9;
                break;
            }
            lambda *= 10.0;
        }
        if !improved {
            break;
        }
    }
    g
}

/// Solves the symmetric system `a x = b` (`p × p`, row-major) by Gaussian elimination with
/// partial pivoting; `None` when it is singular.
pub(crate) fn solve(mut a: Vec<f64>, mut b: Vec<f64>, p: usize) -> Option<Vec<f64>> {
    let norm = a.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-300);
    for col in 0..p {
        let piv =
            (col..p).max_by(|&r, &s| a[r * p + col].abs().total_cmp(&a[s * p + col].abs()))?;
        if a[piv * p + col].abs() <= 1e-13 * norm {
            return None;
        }
        if piv != col {
            for c in 0..p {
                a.swap(piv * p + c, col * p + c);
            }
            b.swap(piv, col);
        }
        let d = a[col * p + col];
        for r in col + 1..p {
            let f = a[r * p + col] / d;
            if f == 0.0 {
                continue;
            }
            for c in col..p {
                a[r * p + c] -= f * a[col * p + c];
            }
            b[r] -= f * b[col];
        }
    }
    let mut x = vec![0.0; p];
    for r in (0..p).rev() {
        let s: f64 = (r + 1..p).map(|c| a[r * p + c] * x[c]).sum();
        x[r] = (b[r] - s) / a[r * p + r];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coalition::Coalition;
    use crate::exact::exact_shapley;
    use crate::utility::FnUtility;

    #[test]
    fn closed_form_matches_enumeration() {
        let g = SingleIndex {
            w: vec![0.3, -0.2, 0.5, 0.0, 0.9, 0.15, 0.4],
            a: [0.1, 1.2, -0.7, 0.25],
        };
        let u = FnUtility::new(7, |c: &Coalition| g.value(c.first_word()));
        let exact = exact_shapley(&u).expect("small game").values;
        for (a, b) in g.shapley().iter().zip(&exact) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }

    #[test]
    fn fit_recovers_a_concave_single_index_game() {
        let w = [0.5, 1.0, 0.2, 0.0, 0.8, -0.3, 0.6, 0.4];
        let f = |m: u64| 1.0 - (-index(&w, m)).exp();
        let samples: Vec<Sample> = (0..256u64).map(|m| (m, f(m))).collect();
        let g = SingleIndex::fit(8, &samples).expect("enough samples");
        let rms = (sse(&g, &samples) / 256.0).sqrt();
        assert!(rms < 0.02, "rms residual {rms}");
    }

    #[test]
    fn solve_rejects_singular_and_solves_regular() {
        assert!(solve(vec![1.0, 2.0, 2.0, 4.0], vec![1.0, 2.0], 2).is_none());
        let x = solve(vec![2.0, 1.0, 1.0, 3.0], vec![3.0, 5.0], 2).expect("regular");
        assert!((x[0] - 0.8).abs() < 1e-12 && (x[1] - 1.4).abs() < 1e-12);
    }
}
