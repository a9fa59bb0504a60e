//! The result every estimator returns, and the running statistics behind its standard errors.

use serde::{Deserialize, Serialize};

use crate::stop::StopReason;

/// Values of every player with their standard errors and what the estimate cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Short name of the estimator (`exact`, `permutation`, `tmc`, ...).
    pub method: String,
    /// Estimated value per player.
    pub values: Vec<f64>,
    /// Standard error of each value (0 for deterministic methods; `NaN`, printed as `null`,
    /// when too few samples reached a player to estimate one).
    pub std_errors: Vec<f64>,
    /// Utility evaluations requested by the estimator.
    pub evaluations: u64,
    /// Samples drawn (permutations, antithetic pairs, coalitions or stratum draws).
    pub samples: u64,
    /// Why the estimator stopped.
    pub stop_reason: StopReason,
    /// Wall time of the run in milliseconds.
    pub elapsed_ms: f64,
    /// U(N), the grand coalition's value.
    pub grand_value: f64,
    /// U(∅), the empty coalition's value.
    pub empty_value: f64,
}

impl Estimate {
    /// Largest standard error over players (`NaN` if any is unknown).
    pub fn max_std_error(&self) -> f64 {
        max_or_nan(self.std_errors.iter().copied())
    }
}

pub(crate) fn max_or_nan(it: impl Iterator<Item = f64>) -> f64 {
    let mut m: f64 = 0.0;
    for x in it {
        if x.is_nan() {
            return f64::NAN;
        }
        m = m.max(x);
    }
    m
}

/// Welford's running mean and variance of one quantity.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RunningStat {
    count: u64,
    mean: f64,
    m2: f64,
}

impl RunningStat {
    pub(crate) fn push(&mut self, x: f64) {
        self.count += 1;
        let d = x - self.mean;
        self.mean += d / self.count as f64;
        self.m2 += d * (x - self.mean);
    }

    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    pub(crate) fn mean(&self) -> f64 {
        self.mean
    }

    /// Sample variance (`NaN` below two samples).
    pub(crate) fn variance(&self) -> f64 {
        if self.count < 2 {
            f64::NAN
        } else {
            self.m2 / (self.count - 1) as f64
        }
    }

    /// Standard error of the mean (`NaN` below two samples).
    pub(crate) fn std_error(&self) -> f64 {
        (self.variance() / self.count as f64).sqrt()
    }
}

/// One running statistic per player.
#[derive(Debug, Clone)]
pub(crate) struct PlayerStats {
    stats: Vec<RunningStat>,
}

impl PlayerStats {
    pub(crate) fn new(n: usize) -> Self {
        Self {
            stats: vec![RunningStat::default(); n],
        }
    }

    pub(crate) fn push_all(&mut self, xs: &[f64]) {
        for (s, &x) in self.stats.iter_mut().zip(xs) {
            s.push(x);
        }
    }

    pub(crate) fn means(&self) -> Vec<f64> {
        self.stats.iter().map(RunningStat::mean).collect()
    }

    pub(crate) fn std_errors(&self) -> Vec<f64> {
        self.stats.iter().map(RunningStat::std_error).collect()
    }

    /// Largest standard error, or `None` while some player has fewer than two samples.
    pub(crate) fn max_std_error(&self) -> Option<f64> {
        let m = max_or_nan(self.stats.iter().map(RunningStat::std_error));
        (!m.is_nan()).then_some(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn welford_matches_two_pass() {
        let xs = [1.0, 4.0, -2.0, 8.5, 3.0];
        let mut s = RunningStat::default();
        xs.iter().for_each(|&x| s.push(x));
        let mean = xs.iter().sum::<f64>() / 5.0;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 4.0;
        assert!((s.mean() - mean).abs() < 1e-12);
        assert!((s.variance() - var).abs() < 1e-12);
        assert!(RunningStat::default().std_error().is_nan());
    }
}
