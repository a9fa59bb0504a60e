//! Allocation schemes as evaluators apply them to one cohort: each evaluator measures coalition
//! utilities with its own noise and reports a score per member; the scores settled on chain are
//! the median over evaluators (or the mean, for the collusion comparison).
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
//! - `shapley_exact`: exact Shapley values of the evaluator's noisy table of all `2^k`
//!   coalitions, standard error `σ·√(Σ squared coefficients)` (see [`ShapleyWeights`]);
//! - `shapley_sampled`: `fairshare_shapley`'s truncated Monte Carlo on the noisy utility with a
//!   small permutation budget; standard error the estimator's, combined with the noise term.

use std::fmt;
use std::str::FromStr;

use fairshare_shapley::{
    estimate, Coalition, FnUtility, Method, SamplerOptions, ShapleyError, StopRule,
};
use serde::{Deserialize, Serialize};

use super::config::{ConfigError, SampledConfig};
use super::exact::{shapley_from_table, ShapleyWeights};
use super::noise::{derive, gaussian};
use crate::stats::median;

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

/// How evaluators' reports are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregator {
    /// The round-manager contract's rule.
    Median,
    /// The arithmetic mean (for comparison only).
    Mean,
}

impl Aggregator {
    fn apply(self, xs: &mut [f64]) -> f64 {
        match self {
            Aggregator::Median => median(xs),
            Aggregator::Mean => xs.iter().sum::<f64>() / xs.len() as f64,
        }
    }
}

/// Evaluators colluding with partner parties in one run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Collusion {
    /// Colluding evaluators among each cohort's evaluators.
    pub colluders: usize,
    /// A colluder reports `φ + (factor − 1)·|φ|` for a partner.
    pub factor: f64,
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
    /// Whether each member is a partner of colluding evaluators.
    pub partners: &'a [bool],
    /// The cohort's seed; evaluator `e` measures with a seed derived from it.
    pub seed: u64,
}

/// The settled (aggregated) evaluation of a cohort.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluation {
    /// ΔU = U(N) − U(∅), aggregated over evaluators.
    pub delta_u: f64,
    /// φ per member.
    pub phi: Vec<f64>,
    /// Standard error per member.
    pub se: Vec<f64>,
}

/// Scores cohorts under one scheme; holds buffers reused between cohorts.
#[derive(Debug)]
pub struct Scorer {
    scheme: Scheme,
    noise_sd: f64,
    evaluators: usize,
    sampled: SampledConfig,
    collusion: Option<Collusion>,
    aggregator: Aggregator,
    noisy: Vec<f64>,
    phi: Vec<f64>,
    reports: Vec<(f64, Vec<f64>, Vec<f64>)>,
    column: Vec<f64>,
}

impl Scorer {
    /// A scorer for `scheme` with `evaluators` evaluators measuring with noise `noise_sd`.
    pub fn new(
        scheme: Scheme,
        noise_sd: f64,
        evaluators: usize,
        sampled: SampledConfig,
        collusion: Option<Collusion>,
        aggregator: Aggregator,
    ) -> Self {
        Self {
            scheme,
            noise_sd,
            evaluators,
            sampled,
            collusion,
            aggregator,
            noisy: Vec::new(),
            phi: Vec::new(),
            reports: Vec::new(),
            column: Vec::new(),
        }
    }

    /// Every evaluator's report on `cohort`, aggregated member by member.
    pub fn evaluate(&mut self, cohort: &Cohort<'_>) -> Result<Evaluation, ShapleyError> {
        let k = cohort.weights.players();
        debug_assert_eq!(cohort.table.len(), 1 << k);
        self.reports.resize_with(self.evaluators, Default::default);
        for e in 0..self.evaluators {
            let seed = derive(cohort.seed, &[e as u64]);
            let mut report = std::mem::take(&mut self.reports[e]);
            self.report(cohort, seed, &mut report)?;
            if let Some(c) = self.collusion {
                if e < c.colluders {
                    for (phi, &partner) in report.1.iter_mut().zip(cohort.partners) {
                        if partner {
                            *phi += (c.factor - 1.0) * phi.abs();
                        }
                    }
                }
            }
            self.reports[e] = report;
        }
        let agg = self.aggregator;
        let mut col = std::mem::take(&mut self.column);
        col.clear();
        col.extend(self.reports.iter().map(|r| r.0));
        let delta_u = agg.apply(&mut col);
        let mut phi = Vec::with_capacity(k);
        let mut se = Vec::with_capacity(k);
        for i in 0..k {
            col.clear();
            col.extend(self.reports.iter().map(|r| r.1[i]));
            phi.push(agg.apply(&mut col));
            col.clear();
            col.extend(self.reports.iter().map(|r| r.2[i]));
            se.push(agg.apply(&mut col));
        }
        self.column = col;
        Ok(Evaluation { delta_u, phi, se })
    }

    /// One evaluator's `(U(N), φ, se)`.
    fn report(
        &mut self,
        cohort: &Cohort<'_>,
        seed: u64,
        out: &mut (f64, Vec<f64>, Vec<f64>),
    ) -> Result<(), ShapleyError> {
        let k = cohort.weights.players();
        let full = (1usize << k) - 1;
        let sd = self.noise_sd;
        let table = cohort.table;
        let measure = |m: usize| -> f64 {
            if m == 0 {
                0.0
            } else {
                table[m] + sd * gaussian(seed, m as u64)
            }
        };
        let grand = measure(full);
        let (phi, se) = (&mut out.1, &mut out.2);
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
                se.resize(k, sd * two * scale);
            }
            Scheme::ShapleyExact => {
                self.noisy.clear();
                self.noisy.extend((0..=full).map(measure));
                shapley_from_table(&self.noisy, cohort.weights, &mut self.phi);
                phi.extend_from_slice(&self.phi);
                se.resize(k, sd * cohort.weights.noise_factor());
            }
            Scheme::ShapleySampled => {
                let noise_se = sd * cohort.weights.noise_factor();
                if k == 1 {
                    phi.push(grand);
                    se.push(noise_se);
                } else {
                    let u = FnUtility::new(k, |c: &Coalition| measure(c.first_word() as usize));
                    let opts = SamplerOptions {
                        seed: derive(seed, &[0x5A4D]),
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
                    se.extend(est.std_errors.iter().map(|s| {
                        let s = if s.is_finite() { *s } else { 0.0 };
                        (s * s + noise_se * noise_se).sqrt()
                    }));
                }
            }
        }
        out.0 = grand;
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

    fn run(scheme: Scheme, sd: f64, collusion: Option<Collusion>, agg: Aggregator) -> Evaluation {
        let plus = [100_000.0, 50_000.0, 0.0, 0.0];
        let minus = [0.0, 0.0, 0.0, 80_000.0];
        let table = cohort_table(&plus, &minus);
        let w = ShapleyWeights::new(4);
        let claims = [100_000.0, 50_000.0, 70_000.0, 80_000.0];
        let partners = [false, true, false, false];
        let cohort = Cohort {
            table: &table,
            weights: &w,
            claims: &claims,
            partners: &partners,
            seed: 11,
        };
        Scorer::new(scheme, sd, 3, SampledConfig::default(), collusion, agg)
            .evaluate(&cohort)
            .expect("evaluates")
    }

    #[test]
    fn noise_free_schemes_score_as_documented() {
        let eq = run(Scheme::Equal, 0.0, None, Aggregator::Median);
        assert!(eq
            .phi
            .iter()
            .all(|p| (p - eq.delta_u.max(0.0) / 4.0).abs() < 1e-15));
        let ds = run(Scheme::DataSize, 0.0, None, Aggregator::Median);
        assert!((ds.phi[0] / ds.phi[1] - 2.0).abs() < 1e-12);
        let ex = run(Scheme::ShapleyExact, 0.0, None, Aggregator::Median);
        assert!(ex.phi[2].abs() < 1e-15, "a free-rider is a null player");
        assert!(ex.phi[3] < 0.0, "a poisoner has a negative value");
        assert!((ex.phi.iter().sum::<f64>() - ex.delta_u).abs() < 1e-12);
        let loo = run(Scheme::Loo, 0.0, None, Aggregator::Median);
        assert_eq!(loo.phi[3], 0.0, "leave-one-out clips at zero");
        assert!(
            (loo.phi.iter().sum::<f64>() - loo.delta_u).abs() < 1e-12,
            "and divides ΔU"
        );
        assert!(loo.phi[0] > loo.phi[1] && loo.phi[1] > 0.0);
        let sampled = run(Scheme::ShapleySampled, 0.0, None, Aggregator::Median);
        assert!(sampled.phi[0] > sampled.phi[1] && sampled.phi[3] < 0.0);
    }

    #[test]
    fn median_resists_a_minority_of_colluders_and_mean_does_not() {
        let honest = run(Scheme::ShapleyExact, 0.0, None, Aggregator::Median);
        let one = Some(Collusion {
            colluders: 1,
            factor: 3.0,
        });
        let two = Some(Collusion {
            colluders: 2,
            factor: 3.0,
        });
        let med1 = run(Scheme::ShapleyExact, 0.0, one, Aggregator::Median);
        let mean1 = run(Scheme::ShapleyExact, 0.0, one, Aggregator::Mean);
        let med2 = run(Scheme::ShapleyExact, 0.0, two, Aggregator::Median);
        assert_eq!(med1.phi[1], honest.phi[1]);
        assert!((mean1.phi[1] - honest.phi[1] * 5.0 / 3.0).abs() < 1e-12);
        assert!((med2.phi[1] - honest.phi[1] * 3.0).abs() < 1e-12);
        assert_eq!(med2.phi[0], honest.phi[0], "non-partners untouched");
    }

    #[test]
    fn evaluators_disagree_only_through_noise() {
        let a = run(Scheme::ShapleyExact, 0.01, None, Aggregator::Median);
        let b = run(Scheme::ShapleyExact, 0.01, None, Aggregator::Median);
        assert_eq!(a, b, "noise is a function of the seeds");
        let clean = run(Scheme::ShapleyExact, 0.0, None, Aggregator::Median);
        assert!(a.phi.iter().zip(&clean.phi).any(|(x, y)| x != y));
        assert!(a.se.iter().all(|s| *s > 0.0));
    }
}
