//! When a sampler stops: an evaluation budget, a time budget or a target standard error,
//! whichever comes first.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Result, ShapleyError};

/// Limits on a sampling run; at least one must be set. Exact methods ignore them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StopRule {
    /// Stop before the utility evaluations would exceed this many.
    pub max_evaluations: Option<u64>,
    /// Stop once this much wall time has passed (checked between samples).
    pub max_time_ms: Option<u64>,
    /// Stop once every player's standard error is at most this.
    pub target_std_error: Option<f64>,
}

impl StopRule {
    /// A rule with only an evaluation budget.
    pub fn evaluations(max: u64) -> Self {
        Self {
            max_evaluations: Some(max),
            ..Self::default()
        }
    }

    /// Checks that the rule can end a run and its numbers make sense.
    pub fn validate(&self) -> Result<()> {
        if self.max_evaluations.is_none()
            && self.max_time_ms.is_none()
            && self.target_std_error.is_none()
        {
            return Err(ShapleyError::InvalidParameter(
                "a sampler needs a stopping rule: an evaluation budget, a time budget or a target standard error".into(),
            ));
        }
        if let Some(t) = self.target_std_error {
            if !(t.is_finite() && t > 0.0) {
                return Err(ShapleyError::InvalidParameter(format!(
                    "target standard error must be positive and finite, got {t}"
                )));
            }
        }
        Ok(())
    }
}

/// Why an estimate stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The method is deterministic and finished (exact, leave-one-out, data size).
    Complete,
    /// The next sample would have exceeded the evaluation budget.
    EvaluationBudget,
    /// The time budget ran out.
    TimeBudget,
    /// Every standard error reached the target.
    TargetStdError,
    /// GTG between-round truncation: the grand coalition gains less than ε over the empty one,
    /// so every value is zero.
    NothingToShare,
}

/// Tracks spending against a [`StopRule`] during one run.
#[derive(Debug)]
pub(crate) struct Budget {
    rule: StopRule,
    start: Instant,
    evaluations: u64,
}

impl Budget {
    /// Starts the clock; the rule must be valid.
    pub(crate) fn start(rule: &StopRule) -> Result<Self> {
        rule.validate()?;
        Ok(Self {
            rule: rule.clone(),
            start: Instant::now(),
            evaluations: 0,
        })
    }

    /// Errors when the evaluation budget cannot pay for `needed` evaluations.
    pub(crate) fn require(&self, method: &'static str, needed: u64) -> Result<()> {
        match self.rule.max_evaluations {
            Some(budget) if budget < needed => Err(ShapleyError::BudgetTooSmall {
                method,
                needed,
                budget,
            }),
            _ => Ok(()),
        }
    }

    /// Records `k` utility evaluations.
    pub(crate) fn spend(&mut self, k: u64) {
        self.evaluations += k;
    }

    /// Evaluations so far.
    pub(crate) fn evaluations(&self) -> u64 {
        self.evaluations
    }

    /// Wall time so far.
    pub(crate) fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Whether to stop before a sample costing at most `next_cost` evaluations, given the
    /// current largest standard error (`None` while it cannot be computed yet).
    pub(crate) fn should_stop(
        &self,
        next_cost: u64,
        max_std_error: Option<f64>,
    ) -> Option<StopReason> {
        if let (Some(target), Some(se)) = (self.rule.target_std_error, max_std_error) {
            if se <= target {
                return Some(StopReason::TargetStdError);
            }
        }
        if let Some(max) = self.rule.max_evaluations {
            if self.evaluations + next_cost > max {
                return Some(StopReason::EvaluationBudget);
            }
        }
        if let Some(ms) = self.rule.max_time_ms {
            if self.start.elapsed() >= Duration::from_millis(ms) {
                return Some(StopReason::TimeBudget);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_without_limit_is_rejected() {
        assert!(StopRule::default().validate().is_err());
        let bad = StopRule {
            target_std_error: Some(-1.0),
            ..StopRule::default()
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn budget_stops_before_overspending() {
        let mut b = Budget::start(&StopRule::evaluations(10)).expect("valid rule");
        assert_eq!(b.should_stop(10, None), None);
        b.spend(6);
        assert_eq!(b.should_stop(5, None), Some(StopReason::EvaluationBudget));
        assert!(b.require("x", 11).is_err());
        let se = Budget::start(&StopRule {
            target_std_error: Some(0.1),
            ..StopRule::default()
        })
        .expect("valid rule");
        assert_eq!(se.should_stop(1, Some(0.2)), None);
        assert_eq!(
            se.should_stop(1, Some(0.05)),
            Some(StopReason::TargetStdError)
        );
    }
}
