//! Verdicts on the paper's claims, derived from the confidence intervals of paired per-seed
//! differences between the Shapley scheme and each baseline. Nothing here is decided in
//! advance: a claim holds only when every interval says so.

use serde::Serialize;

use crate::sim::{Scheme, SimReport};
use crate::stats::{paired_difference, Summary};

/// Whether a larger value of a metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    /// Larger is better.
    Higher,
    /// Smaller is better.
    Lower,
}

/// How the Shapley scheme compares with one baseline on one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// The whole interval of the difference favours Shapley.
    Better,
    /// The whole interval favours the baseline.
    Worse,
    /// The interval contains zero (or is undefined).
    Inconclusive,
}

/// A claim's overall verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Shapley is better than every baseline.
    Holds,
    /// Better than some baselines, indistinguishable from the rest.
    PartlyHolds,
    /// No baseline is distinguishable from Shapley.
    Inconclusive,
    /// Some baseline is better than Shapley.
    DoesNotHold,
    /// No Shapley scheme or no baseline was run.
    NotAssessed,
}

impl Verdict {
    /// Plain-language label.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::PartlyHolds => "partly holds",
            Verdict::Inconclusive => "inconclusive",
            Verdict::DoesNotHold => "does not hold",
            Verdict::NotAssessed => "not assessed",
        }
    }
}

/// Shapley against one baseline on one metric.
#[derive(Debug, Clone, Serialize)]
pub struct Versus {
    /// The baseline.
    pub baseline: Scheme,
    /// The baseline's summary.
    pub baseline_value: Summary,
    /// Shapley minus baseline, per seed, summarised.
    pub difference: Summary,
    /// What the difference says.
    pub comparison: Comparison,
}

/// One metric's comparison.
#[derive(Debug, Clone, Serialize)]
pub struct MetricVerdict {
    /// Metric key.
    pub metric: &'static str,
    /// Human name.
    pub label: &'static str,
    /// Direction.
    pub better: Better,
    /// The Shapley scheme compared.
    pub shapley: Option<Scheme>,
    /// Its summary.
    pub shapley_value: Option<Summary>,
    /// Against each baseline.
    pub versus: Vec<Versus>,
    /// Overall.
    pub verdict: Verdict,
}

/// A claim: a primary metric that decides it and secondary ones reported beside it.
#[derive(Debug, Clone, Serialize)]
pub struct ClaimVerdict {
    /// Short name.
    pub name: &'static str,
    /// The claim in words.
    pub statement: &'static str,
    /// The deciding metric.
    pub primary: MetricVerdict,
    /// Supporting metrics.
    pub secondary: Vec<MetricVerdict>,
}

/// The Shapley scheme the claims are judged on: exact if run, else sampled.
pub fn primary_shapley(report: &SimReport) -> Option<Scheme> {
    [Scheme::ShapleyExact, Scheme::ShapleySampled]
        .into_iter()
        .find(|s| report.scheme(*s).is_some())
}

/// Compares the primary Shapley scheme with every non-Shapley scheme on `metric`.
pub fn judge(
    report: &SimReport,
    metric: &'static str,
    label: &'static str,
    better: Better,
) -> MetricVerdict {
    let shapley = primary_shapley(report);
    let Some(sh) = shapley.and_then(|s| report.scheme(s)) else {
        return MetricVerdict {
            metric,
            label,
            better,
            shapley,
            shapley_value: None,
            versus: Vec::new(),
            verdict: Verdict::NotAssessed,
        };
    };
    let ours = sh.values(metric);
    let versus: Vec<Versus> = report
        .schemes
        .iter()
        .filter(|s| !s.scheme.is_shapley())
        .map(|b| {
            let difference = paired_difference(&ours, &b.values(metric));
            let (good, bad) = match better {
                Better::Higher => (difference.above_zero(), difference.below_zero()),
                Better::Lower => (difference.below_zero(), difference.above_zero()),
            };
            Versus {
                baseline: b.scheme,
                baseline_value: b.get(metric),
                difference,
                comparison: if good {
                    Comparison::Better
                } else if bad {
                    Comparison::Worse
                } else {
                    Comparison::Inconclusive
                },
            }
        })
        .collect();
    let verdict = if versus.is_empty() {
        Verdict::NotAssessed
    } else if versus.iter().any(|v| v.comparison == Comparison::Worse) {
        Verdict::DoesNotHold
    } else if versus.iter().all(|v| v.comparison == Comparison::Better) {
        Verdict::Holds
    } else if versus.iter().any(|v| v.comparison == Comparison::Better) {
        Verdict::PartlyHolds
    } else {
        Verdict::Inconclusive
    };
    MetricVerdict {
        metric,
        label,
        better,
        shapley,
        shapley_value: Some(sh.get(metric)),
        versus,
        verdict,
    }
}

/// The paper's three claims, judged on the report.
pub fn claims(report: &SimReport) -> Vec<ClaimVerdict> {
    vec![
        ClaimVerdict {
            name: "Fairness",
            statement: "Shapley rewards track true contribution better than equal, data-size and leave-one-out rewards",
            primary: judge(report, "spearman", "Spearman ρ(reward, true contribution)", Better::Higher),
            secondary: vec![judge(report, "pearson", "Pearson r(reward, true contribution)", Better::Higher)],
        },
        ClaimVerdict {
            name: "Participation stability",
            statement: "Under Shapley rewards more honest parties keep participating, with less churn",
            primary: judge(report, "retention", "retention of honest parties", Better::Higher),
            secondary: vec![
                judge(
                    report,
                    "retention_large",
                    "retention of honest parties with above-median data",
                    Better::Higher,
                ),
                judge(report, "churn", "churn per round", Better::Lower),
                judge(report, "honest_join_rate", "share of rounds honest parties join", Better::Higher),
            ],
        },
        ClaimVerdict {
            name: "Burden concentration",
            statement: "Shapley rewards do not concentrate the compute and stake burden on a few parties",
            primary: judge(report, "top10_compute", "top-10% share of compute", Better::Lower),
            secondary: vec![
                judge(report, "hhi_compute", "HHI of compute", Better::Lower),
                judge(report, "top10_stake", "top-10% share of stake", Better::Lower),
            ],
        },
    ]
}

/// The sign of a summary's interval: `Some(true)` above zero, `Some(false)` below, `None`
/// when it contains zero or is undefined.
pub fn sign(s: &Summary) -> Option<bool> {
    if s.above_zero() {
        Some(true)
    } else if s.below_zero() {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::experiment::SchemeReport;
    use crate::sim::outcome::RunMetrics;
    use crate::sim::SimConfig;
    use crate::stats::summarize;
    use std::collections::BTreeMap;

    fn scheme(s: Scheme, values: &[f64]) -> SchemeReport {
        let runs: Vec<RunMetrics> = values
            .iter()
            .enumerate()
            .map(|(i, v)| RunMetrics {
                seed_index: i,
                scalars: BTreeMap::from([("spearman".to_string(), *v)]),
                participation: vec![],
                mean_cohort_utility: vec![],
                lorenz_compute: vec![],
                lorenz_stake: vec![],
            })
            .collect();
        SchemeReport {
            scheme: s,
            summary: BTreeMap::from([("spearman".to_string(), summarize(values))]),
            runs,
            participation: vec![],
            cohort_utility: vec![],
            lorenz_compute: vec![],
            lorenz_stake: vec![],
            example: vec![],
        }
    }

    fn report(schemes: Vec<SchemeReport>) -> SimReport {
        SimReport {
            config: SimConfig::default(),
            calibration: None,
            schemes,
            collusion: vec![],
            lazy: vec![],
            false_positives: None,
            wall_time_s: 0.0,
            threads: 1,
        }
    }

    #[test]
    fn verdicts_follow_the_intervals() {
        let sh = [0.9, 0.91, 0.92, 0.93];
        let r = report(vec![
            scheme(Scheme::Equal, &[0.1, 0.2, 0.1, 0.2]),
            scheme(Scheme::ShapleyExact, &sh),
        ]);
        assert_eq!(
            judge(&r, "spearman", "", Better::Higher).verdict,
            Verdict::Holds
        );
        assert_eq!(
            judge(&r, "spearman", "", Better::Lower).verdict,
            Verdict::DoesNotHold
        );
        let r = report(vec![
            scheme(Scheme::Equal, &[0.1, 0.2, 0.1, 0.2]),
            scheme(Scheme::Loo, &[0.95, 0.88, 0.93, 0.90]),
            scheme(Scheme::ShapleyExact, &sh),
        ]);
        let v = judge(&r, "spearman", "", Better::Higher);
        assert_eq!(v.verdict, Verdict::PartlyHolds);
        assert_eq!(v.versus[1].comparison, Comparison::Inconclusive);
        let only = report(vec![scheme(Scheme::ShapleyExact, &sh)]);
        assert_eq!(
            judge(&only, "spearman", "", Better::Higher).verdict,
            Verdict::NotAssessed
        );
    }
}
