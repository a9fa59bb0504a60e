//! The utility surrogate `U(S) = A·(1 − exp(−E⁺(S)/κ)) − β·E⁻(S)`, its fit to measured runs,
//! and the table of all coalition utilities of a cohort.
//!
//! `E⁺(S)` is the sum of the effective tokens (quality · effort · tokens) of the contributing
//! members of `S`, `E⁻(S)` the sum of the poisoners' tokens, and `U(∅) = 0`. `A` is the
//! validation-loss gain a saturated federation reaches, `κ` the token count at which it reaches
//! `1 − 1/e` of that, and `β = poison_harm · A/κ` the harm of one poisoned token relative to
//! the gain of the first honest one.

use serde::{Deserialize, Serialize};

/// One measured coalition of an honest federated run: its training tokens and the validation
/// loss gain of the model aggregated from its updates. The federated demo writes these.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CalibrationSample {
    /// Total training tokens of the coalition's members.
    pub tokens: f64,
    /// Measured utility (validation-loss improvement over the base adapter).
    pub utility: f64,
}

/// The surrogate's constants.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Surrogate {
    /// `A`: the utility ceiling (validation-loss gain, nats).
    pub a: f64,
    /// `κ`: tokens at which the gain reaches `1 − 1/e` of `A`.
    pub kappa_tokens: f64,
    /// `β` in units of `A/κ`: the harm of one poisoned token relative to the first honest one.
    pub poison_harm: f64,
}

impl Default for Surrogate {
    /// Illustrative constants used without `--calibration`: a ceiling of 0.8 nats (the order of
    /// a LoRA fine-tune's validation-loss gain on a small model) reached at `κ` = 400k tokens,
    /// so a cohort of 8 parties with the default median of 50k tokens reaches about two thirds
    /// of it; a poisoned token does as much harm as the first honest token does good.
    fn default() -> Self {
        Self {
            a: 0.8,
            kappa_tokens: 400_000.0,
            poison_harm: 1.0,
        }
    }
}

impl Surrogate {
    /// `β`, the utility lost per poisoned token.
    pub fn beta(&self) -> f64 {
        self.poison_harm * self.a / self.kappa_tokens
    }

    /// `U` of a coalition with `e_plus` effective and `e_minus` poisoned tokens.
    pub fn utility(&self, e_plus: f64, e_minus: f64) -> f64 {
        self.a * (1.0 - (-e_plus / self.kappa_tokens).exp()) - self.beta() * e_minus
    }

    /// Fills `out` with `U(S)` for every mask `S` of the `k = e_plus.len()` members (bit `i` is
    /// member `i`), each sum built from the mask without its lowest bit: `O(2^k)`.
    /// `scratch` holds the running sums and is reused between calls.
    pub fn table(
        &self,
        e_plus: &[f64],
        e_minus: &[f64],
        scratch: &mut Vec<(f64, f64)>,
        out: &mut Vec<f64>,
    ) {
        let k = e_plus.len();
        debug_assert_eq!(k, e_minus.len());
        let n = 1usize << k;
        scratch.clear();
        scratch.resize(n, (0.0, 0.0));
        out.clear();
        out.resize(n, 0.0);
        let beta = self.beta();
        for m in 1..n {
            let low = m.trailing_zeros() as usize;
            let (p, q) = scratch[m & (m - 1)];
            let (p, q) = (p + e_plus[low], q + e_minus[low]);
            scratch[m] = (p, q);
            out[m] = self.a * (1.0 - (-p / self.kappa_tokens).exp()) - beta * q;
        }
    }
}

/// Why calibration samples cannot be fitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    /// Fewer than two samples with distinct token counts.
    #[error("need at least two calibration samples with different token counts, got {0}")]
    TooFewSamples(usize),
    /// A token count or utility is NaN or infinite.
    #[error("calibration sample {index} has a non-finite value")]
    NotFinite {
        /// Position of the sample.
        index: usize,
    },
    /// A token count is not positive.
    #[error("calibration sample {index} has {tokens} tokens; token counts must be positive")]
    NonPositiveTokens {
        /// Position of the sample.
        index: usize,
        /// The offending count.
        tokens: f64,
    },
    /// The best fit saturates below the smallest sample: over the sampled range utility does
    /// not grow with data, so the samples say nothing about κ.
    #[error("the samples show no growth with data: the fit saturates at κ = {kappa:.0} tokens, below the smallest sample ({t_min:.0} tokens)")]
    Saturated {
        /// The fitted κ.
        kappa: f64,
        /// The smallest sample's tokens.
        t_min: f64,
    },
    /// The best fit has a non-positive ceiling: utility does not grow with data.
    #[error("the samples show no utility gain with more tokens (fitted A = {0}); check the calibration file")]
    NoGain(f64),
}

/// Least-squares fit of `u = A·(1 − exp(−t/κ))` to honest-only samples, keeping the default
/// poisoning harm.
///
/// For each `κ` the best `A` is closed-form (`Σ u·g / Σ g²` with `g = 1 − exp(−t/κ)`), so the
/// fit searches `log κ` alone: a grid over `[t_min/20, 20·t_max]`, then golden-section search
/// between the best grid point's neighbours.
pub fn fit_surrogate(samples: &[CalibrationSample]) -> Result<Surrogate, FitError> {
    for (index, s) in samples.iter().enumerate() {
        if !(s.tokens.is_finite() && s.utility.is_finite()) {
            return Err(FitError::NotFinite { index });
        }
        if s.tokens <= 0.0 {
            return Err(FitError::NonPositiveTokens {
                index,
                tokens: s.tokens,
            });
        }
    }
    let t_min = samples
        .iter()
        .map(|s| s.tokens)
        .fold(f64::INFINITY, f64::min);
    let t_max = samples.iter().map(|s| s.tokens).fold(0.0, f64::max);
    if samples.len() < 2 || t_max <= t_min {
        return Err(FitError::TooFewSamples(samples.len()));
    }
    // (A, SSE) for κ = exp(x).
    let sse = |x: f64| -> (f64, f64) {
        let kappa = x.exp();
        let (mut ug, mut gg, mut uu) = (0.0, 0.0, 0.0);
        for s in samples {
            let g = 1.0 - (-s.tokens / kappa).exp();
            ug += s.utility * g;
            gg += g * g;
            uu += s.utility * s.utility;
        }
        let a = if gg > 0.0 { ug / gg } else { 0.0 };
        (a, uu - a * ug)
    };
    let (lo, hi) = ((t_min / 20.0).ln(), (t_max * 20.0).ln());
    const GRID: usize = 240;
    let xs: Vec<f64> = (0..=GRID)
        .map(|i| lo + (hi - lo) * i as f64 / GRID as f64)
        .collect();
    let best = (0..=GRID)
        .min_by(|&i, &j| sse(xs[i]).1.total_cmp(&sse(xs[j]).1))
        .expect("the grid is not empty");
    let (mut a, mut b) = (xs[best.saturating_sub(1)], xs[(best + 1).min(GRID)]);
    let phi = (5f64.sqrt() - 1.0) / 2.0;
    let (mut c, mut d) = (b - phi * (b - a), a + phi * (b - a));
    for _ in 0..100 {
        if sse(c).1 < sse(d).1 {
            b = d;
        } else {
            a = c;
        }
        c = b - phi * (b - a);
        d = a + phi * (b - a);
    }
    let x = (a + b) / 2.0;
    let (amp, _) = sse(x);
    if amp.is_nan() || amp <= 0.0 {
        return Err(FitError::NoGain(amp));
    }
    if x.exp() < t_min / 2.0 {
        return Err(FitError::Saturated {
            kappa: x.exp(),
            t_min,
        });
    }
    Ok(Surrogate {
        a: amp,
        kappa_tokens: x.exp(),
        poison_harm: Surrogate::default().poison_harm,
    })
}

/// Root-mean-square error of `s` on the samples (poisoned tokens none).
pub fn fit_rmse(s: &Surrogate, samples: &[CalibrationSample]) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let sq: f64 = samples
        .iter()
        .map(|c| (s.utility(c.tokens, 0.0) - c.utility).powi(2))
        .sum();
    (sq / samples.len() as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_without_growth_are_refused() {
        let flat: Vec<CalibrationSample> = (1..=10)
            .map(|i| CalibrationSample {
                tokens: 1_000.0 * i as f64,
                utility: if i % 2 == 0 { 0.011 } else { 0.009 },
            })
            .collect();
        assert!(matches!(
            fit_surrogate(&flat),
            Err(FitError::Saturated { .. })
        ));
    }

    fn samples(a: f64, kappa: f64, noise: impl Fn(usize) -> f64) -> Vec<CalibrationSample> {
        (1..=24)
            .map(|i| {
                let tokens = 20_000.0 * i as f64;
                CalibrationSample {
                    tokens,
                    utility: a * (1.0 - (-tokens / kappa).exp()) + noise(i),
                }
            })
            .collect()
    }

    #[test]
    fn fit_recovers_known_constants() {
        let s = fit_surrogate(&samples(0.6, 150_000.0, |_| 0.0)).expect("fits");
        assert!((s.a - 0.6).abs() < 1e-6, "A = {}", s.a);
        assert!(
            (s.kappa_tokens / 150_000.0 - 1.0).abs() < 1e-5,
            "κ = {}",
            s.kappa_tokens
        );
        assert!(fit_rmse(&s, &samples(0.6, 150_000.0, |_| 0.0)) < 1e-8);
    }

    #[test]
    fn fit_tolerates_measurement_noise() {
        // Deterministic ±0.01 wiggle, about 2% of the ceiling.
        let data = samples(0.4, 80_000.0, |i| if i % 2 == 0 { 0.01 } else { -0.01 });
        let s = fit_surrogate(&data).expect("fits");
        assert!((s.a - 0.4).abs() < 0.02, "A = {}", s.a);
        assert!(
            (s.kappa_tokens / 80_000.0 - 1.0).abs() < 0.1,
            "κ = {}",
            s.kappa_tokens
        );
    }

    #[test]
    fn fit_rejects_bad_input() {
        assert_eq!(fit_surrogate(&[]), Err(FitError::TooFewSamples(0)));
        let one = [CalibrationSample {
            tokens: 1.0,
            utility: 0.1,
        }];
        assert_eq!(fit_surrogate(&one), Err(FitError::TooFewSamples(1)));
        let neg = [
            CalibrationSample {
                tokens: 1.0,
                utility: 0.1,
            },
            CalibrationSample {
                tokens: -2.0,
                utility: 0.1,
            },
        ];
        assert!(matches!(
            fit_surrogate(&neg),
            Err(FitError::NonPositiveTokens { index: 1, .. })
        ));
        let nan = [
            CalibrationSample {
                tokens: 1.0,
                utility: f64::NAN,
            },
            CalibrationSample {
                tokens: 2.0,
                utility: 0.1,
            },
        ];
        assert_eq!(fit_surrogate(&nan), Err(FitError::NotFinite { index: 0 }));
        let falling = [
            CalibrationSample {
                tokens: 1.0,
                utility: -0.1,
            },
            CalibrationSample {
                tokens: 2.0,
                utility: -0.2,
            },
        ];
        assert!(matches!(fit_surrogate(&falling), Err(FitError::NoGain(_))));
    }

    #[test]
    fn table_matches_direct_evaluation() {
        let s = Surrogate::default();
        let plus = [10_000.0, 0.0, 250_000.0, 40_000.0];
        let minus = [0.0, 30_000.0, 0.0, 0.0];
        let (mut scratch, mut t) = (Vec::new(), Vec::new());
        s.table(&plus, &minus, &mut scratch, &mut t);
        assert_eq!(t.len(), 16);
        assert_eq!(t[0], 0.0);
        for (m, &v) in t.iter().enumerate() {
            let p: f64 = (0..4).filter(|i| m >> i & 1 == 1).map(|i| plus[i]).sum();
            let q: f64 = (0..4).filter(|i| m >> i & 1 == 1).map(|i| minus[i]).sum();
            assert!((v - s.utility(p, q)).abs() < 1e-12);
        }
        assert!(t[0b0010] < 0.0, "a lone poisoner makes the model worse");
    }
}
