//! Allocation schemes as evaluators apply them to one cohort: each evaluator measures coalition
//! utilities and reports a score and standard error per member; the evaluator layer
//! ([`super::panel`]) turns the reports into the consensus the reward rule pays on.
//!
//! **Noise.** Every evaluator of a cohort measures on the same validation text, so the
//! validation-sampling error of a coalition's utility (sd `shared_sd`) is *shared* by all of
//! them; on top of it each evaluator has its own small measurement error (sd `own_sd`:
//! kernels, hardware), independent between evaluators. A utility is the mean over `batches`
//! validation batches, so a reported standard error is *estimated* from the batches: the true
//! standard error times `√(χ²₍B−1₎ / (B − 1))` (for normal batch errors the batch mean and
//! the batch variance are independent, and every scheme's score is linear in the batch
//! utilities, so this is the distribution of the batch estimate), with `B − 1` degrees of
//! freedom. The estimate is shared by the evaluators, like the batches.
//!
//! Every scheme's score is passed to the reward rule as `φ` (the rule sizes the pool from
//! `G = Σ φ⁺` of the non-harmful scores, so each baseline's scores sum to `max(ΔU, 0)`: a
//! baseline is a way to divide the round's gain, and every scheme pays the same for the same
//! model improvement):
//! - `equal`: `φᵢ = max(ΔU, 0)/k` for each of the `k` committers, standard error 0 — nobody is
//!   judged, so nobody is a free-rider or harmful, and a round that gains nothing pays nothing;
//! - `data_size`: `φᵢ = max(ΔU, 0) · claimᵢ / Σ claims`, standard error 0 (claims are what
//!   parties say they hold: free-riders and Sybils claim too);
//! - `loo`: `lᵢ = max(0, U(N) − U(N∖i))` on the evaluator's noisy utilities, rescaled to
//!   `φᵢ = max(ΔU, 0) · lᵢ / Σ l`; standard error `σ√2` (two independent measurements) times
//!   the same scale;
//! - `shapley_exact`: exact Shapley values of the noisy table of all `2^k` coalitions,
//!   standard error `σ·√(Σ squared coefficients)` (see [`ShapleyWeights`]); an evaluator's own
//!   error enters its φ directly with the same factor (exact Shapley is linear in the table,
//!   so this is its distribution member by member, without a table per evaluator);
//! - `shapley_sampled`: `fairshare_shapley`'s truncated Monte Carlo on the evaluator's noisy
//!   utility with a small permutation budget and its own permutation seed; standard error the
//!   estimator's, combined with the noise term.

use std::fmt;
use std::str::FromStr;

use fairshare_shapley::{
    estimate, Coalition, FnUtility, Method, SamplerOptions, ShapleyError, StopRule,
};
use serde::{Deserialize, Serialize};

use super::config::{ConfigError, SampledConfig};
use super::exact::{shapley_from_table, ShapleyWeights};
use super::noise::{chi_factor, derive, gaussian};

/// How a cohort's pool is divided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    /// Split equally among committers.
    Equal,
    /// In proportion to claimed token counts.
    DataSize,
    /// Leave-one-out marginal utility, clipped at 0.
    Loo,
    /// Exact Shapley values from all coalition utilities.
    ShapleyExact,
    /// Sampled Shapley values (TMC) under a small permutation budget.
    ShapleySampled,
}

impl Scheme {
    /// Every scheme, in report order.
    pub const ALL: [Scheme; 5] = [
        Scheme::Equal,
        Scheme::DataSize,
        Scheme::Loo,
        Scheme::ShapleyExact,
        Scheme::ShapleySampled,
    ];

    /// The snake_case name used in flags, JSON and tables.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Equal => "equal",
            Scheme::DataSize => "data_size",
            Scheme::Loo => "loo",
            Scheme::ShapleyExact => "shapley_exact",
            Scheme::ShapleySampled => "shapley_sampled",
        }
    }

    /// Whether the scheme is a Shapley estimate.
    pub fn is_shapley(self) -> bool {
        matches!(self, Scheme::ShapleyExact | Scheme::ShapleySampled)
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scheme {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Scheme::ALL
            .into_iter()
            .find(|x| x.name() == s || x.name().replace('_', "-") == s)
            .ok_or_else(|| ConfigError::UnknownScheme(s.to_string()))
    }
}

/// The measurement noise of evaluators (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Noise {
    /// sd of a coalition utility from the validation text's sampling, shared by evaluators.
    pub shared_sd: f64,
    /// sd of each evaluator's own error on a utility, independent between evaluators.
    pub own_sd: f64,
    /// Validation batches behind each utility (standard errors have `batches − 1` dof).
    pub batches: usize,
}

impl Noise {
    /// No noise at all (and standard errors of zero).
    pub fn none() -> Self {
        Self {
            shared_sd: 0.0,
            own_sd: 0.0,
            batches: 2,
        }
    }
}

/// One cohort's game as the evaluators see it.
#[derive(Debug, Clone, Copy)]
pub struct Cohort<'a> {
    /// Noise-free `U` of every mask over the committed members.
    pub table: &'a [f64],
    /// Shapley weights for this many members.
    pub weights: &'a ShapleyWeights,
    /// Claimed tokens per member.
    pub claims: &'a [f64],
    /// The cohort's seed: its validation text's noise derives from it, and evaluator `e`'s
    /// own noise from `derive(seed, [e])`.
    pub seed: u64,
}

/// One evaluator's honest measurement of a cohort.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measurement {
    /// ΔU = U(N) − U(∅) as it measured it.
    pub delta_u: f64,
    /// φ per member.
    pub phi: Vec<f64>,
    /// Estimated standard error per member.
    pub se: Vec<f64>,
}

/// Key offsets separating the noise streams drawn from one seed.
const SHARED_STREAM: u64 = 0x5EED;
const CHI_STREAM: u64 = 0xC415;
const OWN_PHI_STREAM: u64 = 0x0FF5E7;

/// Measures cohorts under one scheme; holds buffers reused between cohorts.
#[derive(Debug)]
pub struct Scorer {
    scheme: Scheme,
    noise: Noise,
    sampled: SampledConfig,
    noisy: Vec<f64>,
    phi: Vec<f64>,
    chi: Vec<f64>,
}

impl Scorer {
    /// A scorer for `scheme` with evaluators measuring with `noise`.
    pub fn new(scheme: Scheme, noise: Noise, sampled: SampledConfig) -> Self {
        Self {
            scheme,
            noise,
            sampled,
            noisy: Vec::new(),
            phi: Vec::new(),
            chi: Vec::new(),
        }
    }

    /// The honest measurements of `evaluators` evaluators on `cohort`, into `out` (resized).
    pub fn measure(
        &mut self,
        cohort: &Cohort<'_>,
        evaluators: usize,
        out: &mut Vec<Measurement>,
    ) -> Result<(), ShapleyError> {
        let k = cohort.weights.players();
        debug_assert_eq!(cohort.table.len(), 1 << k);
        let full = (1usize << k) - 1;
        let Noise {
            shared_sd,
            own_sd,
            batches,
        } = self.noise;
        let shared_seed = derive(cohort.seed, &[SHARED_STREAM]);
        let table = cohort.table;
        let shared = |m: usize| -> f64 {
            if m == 0 {
                0.0
            } else {
                table[m] + shared_sd * gaussian(shared_seed, m as u64)
            }
        };
        // The batch estimate of each member's standard error, relative to the true one
        // (schemes without a standard error skip it).
        self.chi.clear();
        if matches!(
            self.scheme,
            Scheme::Loo | Scheme::ShapleyExact | Scheme::ShapleySampled
        ) {
            let chi_seed = derive(cohort.seed, &[CHI_STREAM]);
            let dof = batches.saturating_sub(1);
            self.chi
                .extend((0..k).map(|i| chi_factor(chi_seed, i as u64, dof)));
        }
        // Exact and sampled Shapley read much of the table: measure the shared part once.
        self.noisy.clear();
        if matches!(self.scheme, Scheme::ShapleyExact | Scheme::ShapleySampled) {
            self.noisy.extend((0..=full).map(shared));
        }
        if self.scheme == Scheme::ShapleyExact {
            shapley_from_table(&self.noisy, cohort.weights, &mut self.phi);
        }
        let noisy = &self.noisy;
        out.resize_with(evaluators, Default::default);
        for (e, report) in out.iter_mut().enumerate() {
            let own_seed = derive(cohort.seed, &[e as u64]);
            let measure = |m: usize| -> f64 {
                if m == 0 {
                    0.0
                } else {
                    let common = noisy.get(m).copied().unwrap_or_else(|| shared(m));
                    common + own_sd * gaussian(own_seed, m as u64)
                }
            };
            self.report(cohort, own_seed, &measure, report)?;
        }
        Ok(())
    }

    /// One evaluator's `(ΔU, φ, se)` from its utility `measure`.
    fn report(
        &self,
        cohort: &Cohort<'_>,
        own_seed: u64,
        measure: &(dyn Fn(usize) -> f64 + Sync),
        out: &mut Measurement,
    ) -> Result<(), ShapleyError> {
        let k = cohort.weights.players();
        let full = (1usize << k) - 1;
        let sd = self.noise.shared_sd;
        let grand = measure(full);
        let (phi, se) = (&mut out.phi, &mut out.se);
        phi.clear();
        se.clear();
        match self.scheme {
            Scheme::Equal => {
                phi.resize(k, grand.max(0.0) / k as f64);
                se.resize(k, 0.0);
            }
            Scheme::DataSize => {
                let total: f64 = cohort.claims.iter().sum();
                phi.extend(cohort.claims.iter().map(|c| {
                    if total > 0.0 {
                        grand.max(0.0) * c / total
                    } else {
                        grand.max(0.0) / k as f64
                    }
                }));
                se.resize(k, 0.0);
            }
            Scheme::Loo => {
                // Clipped leave-one-out values, rescaled to divide max(ΔU, 0) like the others.
                phi.extend((0..k).map(|i| (grand - measure(full & !(1 << i))).max(0.0)));
                let total: f64 = phi.iter().sum();
                let scale = if total > 0.0 {
                    grand.max(0.0) / total
                } else {
                    0.0
                };
                phi.iter_mut().for_each(|p| *p *= scale);
                let two = if k == 1 { 1.0 } else { 2f64.sqrt() };
                se.extend(self.chi.iter().map(|c| sd * two * scale * c));
            }
            Scheme::ShapleyExact => {
                let own = self.noise.own_sd * cohort.weights.noise_factor();
                phi.extend(
                    self.phi
                        .iter()
                        .enumerate()
                        .map(|(i, p)| p + own * gaussian(own_seed, OWN_PHI_STREAM + i as u64)),
                );
                let factor = sd * cohort.weights.noise_factor();
                se.extend(self.chi.iter().map(|c| factor * c));
            }
            Scheme::ShapleySampled => {
                let noise_se = sd * cohort.weights.noise_factor();
                if k == 1 {
                    phi.push(grand);
                    se.push(noise_se * self.chi[0]);
                } else {
                    let u = FnUtility::new(k, |c: &Coalition| measure(c.first_word() as usize));
                    let opts = SamplerOptions {
                        seed: derive(own_seed, &[0x5A4D]),
                        stop: StopRule {
                            max_evaluations: Some(2 + self.sampled.permutations * (k as u64 - 1)),
                            max_time_ms: None,
                            target_std_error: None,
                        },
                    };
                    let est = estimate(
                        &u,
                        &Method::Tmc {
                            tolerance: self.sampled.tolerance,
                        },
                        &opts,
                    )?;
                    phi.extend_from_slice(&est.values);
                    se.extend(est.std_errors.iter().zip(&self.chi).map(|(s, c)| {
                        let s = if s.is_finite() { *s } else { 0.0 };
                        let n = noise_se * c;
                        (s * s + n * n).sqrt()
                    }));
                }
            }
        }
        out.delta_u = grand;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::surrogate::Surrogate;

    fn cohort_table(plus: &[f64], minus: &[f64]) -> Vec<f64> {
        let (mut s, mut t) = (Vec::new(), Vec::new());
        Surrogate::default().table(plus, minus, &mut s, &mut t);
        t
    }

    fn run(scheme: Scheme, noise: Noise, evaluators: usize) -> Vec<Measurement> {
        let plus = [100_000.0, 50_000.0, 0.0, 0.0];
        let minus = [0.0, 0.0, 0.0, 80_000.0];
        let table = cohort_table(&plus, &minus);
        let w = ShapleyWeights::new(4);
        let claims = [100_000.0, 50_000.0, 70_000.0, 80_000.0];
        let cohort = Cohort {
            table: &table,
            weights: &w,
            claims: &claims,
            seed: 11,
        };
        let mut out = Vec::new();
        Scorer::new(scheme, noise, SampledConfig::default())
            .measure(&cohort, evaluators, &mut out)
            .expect("evaluates");
        out
    }

    fn noisy(shared_sd: f64, own_sd: f64) -> Noise {
        Noise {
            shared_sd,
            own_sd,
            batches: 8,
        }
    }

    #[test]
    fn noise_free_schemes_score_as_documented() {
        let eq = &run(Scheme::Equal, Noise::none(), 3)[0];
        assert!(eq
            .phi
            .iter()
            .all(|p| (p - eq.delta_u.max(0.0) / 4.0).abs() < 1e-15));
        let ds = &run(Scheme::DataSize, Noise::none(), 3)[0];
        assert!((ds.phi[0] / ds.phi[1] - 2.0).abs() < 1e-12);
        let ex = &run(Scheme::ShapleyExact, Noise::none(), 3)[0];
        assert!(ex.phi[2].abs() < 1e-15, "a free-rider is a null player");
        assert!(ex.phi[3] < 0.0, "a poisoner has a negative value");
        assert!((ex.phi.iter().sum::<f64>() - ex.delta_u).abs() < 1e-12);
        let loo = &run(Scheme::Loo, Noise::none(), 3)[0];
        assert_eq!(loo.phi[3], 0.0, "leave-one-out clips at zero");
        assert!(
            (loo.phi.iter().sum::<f64>() - loo.delta_u).abs() < 1e-12,
            "and divides ΔU"
        );
        assert!(loo.phi[0] > loo.phi[1] && loo.phi[1] > 0.0);
        let sampled = &run(Scheme::ShapleySampled, Noise::none(), 3)[0];
        assert!(sampled.phi[0] > sampled.phi[1] && sampled.phi[3] < 0.0);
    }

    #[test]
    fn evaluators_share_the_validation_noise_and_differ_by_their_own() {
        let a = run(Scheme::ShapleyExact, noisy(0.01, 0.001), 3);
        assert_eq!(
            a,
            run(Scheme::ShapleyExact, noisy(0.01, 0.001), 3),
            "seeded"
        );
        let clean = &run(Scheme::ShapleyExact, Noise::none(), 3)[0];
        // Without their own error, honest evaluators report the same thing, off the truth.
        let shared = run(Scheme::ShapleyExact, noisy(0.01, 0.0), 3);
        assert!(shared.iter().all(|m| *m == shared[0]));
        assert!(shared[0].phi.iter().zip(&clean.phi).any(|(x, y)| x != y));
        // With it they differ, by far less than the shared error moves them from the truth.
        let spread: f64 = (0..4).map(|i| (a[0].phi[i] - a[1].phi[i]).abs()).sum();
        let off: f64 = (0..4)
            .map(|i| (shared[0].phi[i] - clean.phi[i]).abs())
            .sum();
        assert!(spread > 0.0 && spread < off, "{spread} vs {off}");
        // The estimated standard errors are shared and positive.
        assert!(a.iter().all(|m| m.se == a[0].se));
        assert!(a[0].se.iter().all(|s| *s > 0.0));
    }

    /// The batch estimate of a standard error is unbiased in its square: the mean of
    /// `se² / σ²` over many cohorts is 1.
    #[test]
    fn estimated_standard_errors_scatter_around_the_true_one() {
        let w = ShapleyWeights::new(3);
        let table = cohort_table(&[10_000.0, 20_000.0, 30_000.0], &[0.0; 3]);
        let claims = [1.0; 3];
        let sd = 0.01;
        let mut scorer = Scorer::new(
            Scheme::ShapleyExact,
            noisy(sd, 0.0),
            SampledConfig::default(),
        );
        let mut out = Vec::new();
        let (mut sum, mut n) = (0.0, 0usize);
        for seed in 0..3000u64 {
            let cohort = Cohort {
                table: &table,
                weights: &w,
                claims: &claims,
                seed,
            };
            scorer.measure(&cohort, 1, &mut out).expect("measures");
            for s in &out[0].se {
                sum += (s / (sd * w.noise_factor())).powi(2);
                n += 1;
            }
        }
        let mean = sum / n as f64;
        // Var of χ²₇/7 is 2/7; the mean of 9000 has sd ≈ 0.0056.
        assert!((mean - 1.0).abs() < 0.02, "mean se²/σ² = {mean}");
    }
}
