//! Verdicts of the market model's claims (issue #15, items 0, 2, 4, 6): paired per-seed
//! comparisons of the Shapley scheme with every baseline, where a claim whose per-seed
//! differences disagree in sign is *not established*, and the incentive-compatibility check
//! on the unilateral deviation table.

use serde::Serialize;

use super::config::Action;
use super::experiment::{paired, MarketReport, MarketSchemeReport};
use super::run::SIZE_TYPES;
use crate::stats::Summary;

/// The primary scheme and the baselines it is compared with.
pub const PRIMARY: &str = "shapley";
/// Baselines of the claims.
pub const BASELINES: [&str; 3] = ["equal", "data_size", "loo"];

/// A verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    /// Holds against every baseline, in every seed.
    Holds,
    /// Holds against some baselines, no clear difference against the others.
    PartlyHolds,
    /// The interval favours Shapley but some seed's difference has the other sign.
    NotEstablished,
    /// No clear difference.
    Inconclusive,
    /// A baseline is significantly better.
    DoesNotHold,
    /// The schemes needed were not run.
    NotAssessed,
}

impl Label {
    /// Plain-text label.
    pub fn text(self) -> &'static str {
        match self {
            Label::Holds => "holds",
            Label::PartlyHolds => "partly holds",
            Label::NotEstablished => "not established",
            Label::Inconclusive => "inconclusive",
            Label::DoesNotHold => "does not hold",
            Label::NotAssessed => "not assessed",
        }
    }

    /// Number for heat maps: 1 holds, 0.5 partly, 0 inconclusive / not established, −1 fails.
    pub fn code(self) -> f64 {
        match self {
            Label::Holds => 1.0,
            Label::PartlyHolds => 0.5,
            Label::NotEstablished | Label::Inconclusive | Label::NotAssessed => 0.0,
            Label::DoesNotHold => -1.0,
        }
    }
}

/// How a claim's metric must compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    /// Shapley must be significantly higher.
    Higher,
    /// Shapley must be significantly lower.
    Lower,
    /// Shapley must not be significantly higher.
    NotHigher,
}

/// Shapley against one baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Versus {
    /// Baseline scheme.
    pub baseline: String,
    /// Baseline's value over seeds.
    pub baseline_value: Summary,
    /// Paired difference Shapley − baseline.
    pub difference: Summary,
    /// Seeds in which the difference has the favourable sign.
    pub seeds_favouring: usize,
    /// Seeds compared.
    pub seeds: usize,
    /// better / worse / no clear difference.
    pub status: &'static str,
}

/// One claim's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Claim {
    /// Short name.
    pub name: &'static str,
    /// The claim as stated.
    pub statement: &'static str,
    /// Metric key.
    pub metric: &'static str,
    /// Criterion.
    pub criterion: Criterion,
    /// Shapley's value.
    pub shapley: Option<Summary>,
    /// Per baseline.
    pub versus: Vec<Versus>,
    /// Shapley's per-seed values, min and max (the spread over seeds).
    pub seed_range: Option<(f64, f64)>,
    /// The verdict.
    pub verdict: Label,
}

fn compare(
    p: &MarketSchemeReport,
    b: &MarketSchemeReport,
    key: &'static str,
    c: Criterion,
) -> Versus {
    let (d, per_seed) = paired(p, b, key);
    let favour = |x: f64| match c {
        Criterion::Higher => x > 0.0,
        Criterion::Lower | Criterion::NotHigher => x < 0.0,
    };
    let status = match c {
        Criterion::Higher if d.low > 0.0 => "better",
        Criterion::Higher if d.high < 0.0 => "worse",
        Criterion::Lower | Criterion::NotHigher if d.high < 0.0 => "better",
        Criterion::Lower | Criterion::NotHigher if d.low > 0.0 => "worse",
        _ => "no clear difference",
    };
    Versus {
        baseline: b.scheme.clone(),
        baseline_value: b.get(key),
        difference: d,
        seeds_favouring: per_seed.iter().filter(|&&x| favour(x)).count(),
        seeds: per_seed.iter().filter(|x| x.is_finite()).count(),
        status,
    }
}

/// Judges one comparative claim.
pub fn judge(
    report: &MarketReport,
    name: &'static str,
    statement: &'static str,
    metric: &'static str,
    criterion: Criterion,
) -> Claim {
    let p = report.scheme(PRIMARY);
    let versus: Vec<Versus> = match p {
        Some(p) => BASELINES
            .iter()
            .filter_map(|b| report.scheme(b))
            .map(|b| compare(p, b, metric, criterion))
            .collect(),
        None => Vec::new(),
    };
    let better = versus.iter().filter(|v| v.status == "better").count();
    let worse = versus.iter().filter(|v| v.status == "worse").count();
    let flips = versus.iter().any(|v| v.seeds_favouring < v.seeds);
    let verdict = if p.is_none() || versus.is_empty() {
        Label::NotAssessed
    } else if worse > 0 {
        Label::DoesNotHold
    } else {
        match criterion {
            Criterion::NotHigher => Label::Holds,
            _ if better == versus.len() && flips => Label::NotEstablished,
            _ if better == versus.len() => Label::Holds,
            _ if better > 0 => Label::PartlyHolds,
            _ => Label::Inconclusive,
        }
    };
    let seed_range = p.map(|p| {
        let v = p.values(metric);
        (
            v.iter().copied().fold(f64::INFINITY, f64::min),
            v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        )
    });
    Claim {
        name,
        statement,
        metric,
        criterion,
        shapley: p.map(|p| p.get(metric)),
        versus,
        seed_range,
        verdict,
    }
}

/// A deviation that pays (or may) under a scheme.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deviation {
    /// Size type.
    pub party_type: &'static str,
    /// The deviation (an action other than `join`).
    pub action: &'static str,
    /// Gain per round over `join`, utoken, over seeds.
    pub gain: Summary,
}

/// Incentive compatibility of a scheme: which deviations gain significantly.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incentives {
    /// Scheme.
    pub scheme: String,
    /// Deviations whose whole interval is above zero.
    pub profitable: Vec<Deviation>,
    /// Deviations whose interval includes zero with a positive mean.
    pub unresolved: Vec<Deviation>,
    /// Verdict: holds when no deviation gains significantly and none is unresolved.
    pub verdict: Label,
}

/// The deviation check of a scheme.
pub fn incentives(s: &MarketSchemeReport) -> Incentives {
    let (mut profitable, mut unresolved) = (Vec::new(), Vec::new());
    for (ty, tname) in SIZE_TYPES.iter().enumerate() {
        for (a, act) in Action::LEARNED.iter().enumerate() {
            if *act == Action::Join {
                continue;
            }
            let g = s.deviation(ty, a);
            let d = Deviation {
                party_type: tname,
                action: act.name(),
                gain: g,
            };
            if g.low > 0.0 {
                profitable.push(d);
            } else if g.mean > 0.0 {
                unresolved.push(d);
            }
        }
    }
    let verdict = if !profitable.is_empty() {
        Label::DoesNotHold
    } else if !unresolved.is_empty() {
        Label::Inconclusive
    } else {
        Label::Holds
    };
    Incentives {
        scheme: s.scheme.clone(),
        profitable,
        unresolved,
        verdict,
    }
}

/// Every claim of the market model.
pub fn claims(report: &MarketReport) -> Vec<Claim> {
    let mut out = vec![judge(
            report,
            "Fairness",
            "Shapley rewards agree with each party's leave-one-party-out contribution to the test utility within its cohorts (in-cohort counterfactual) better than equal, data-size and leave-one-out rewards",
            "fairness_spearman",
            Criterion::Higher,
        ),
    ];
    // The whole-run reruns are the stricter ground truth: when they were run, their verdict is
    // stated beside the in-cohort one, never replaced by it.
    let reruns = judge(
        report,
        "Fairness (whole-run reruns)",
        "Shapley rewards agree with each party's contribution measured by re-simulating the whole run without it better than equal, data-size and leave-one-out rewards",
        "rerun_spearman",
        Criterion::Higher,
    );
    if reruns.shapley.is_some_and(|s| s.mean.is_finite()) {
        out.push(reruns);
    }
    out.extend([
        judge(
            report,
            "Participation stability",
            "Under Shapley rewards more learning parties end up joining at full effort",
            "join_share",
            Criterion::Higher,
        ),
        judge(
            report,
            "Burden concentration (net)",
            "Shapley rewards do not concentrate the net burden (compute + stake cost + slash − reward) on a few parties more than the baselines",
            "net_burden_top10",
            Criterion::NotHigher,
        ),
    ]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::experiment::{simulate_market, RunMetrics};
    use crate::market::{MarketConfig, MarketScheme};

    fn fake(name: &str, fair: &[f64]) -> MarketSchemeReport {
        MarketSchemeReport {
            scheme: name.into(),
            runs: fair
                .iter()
                .map(|&f| {
                    let mut values = vec![0.0; super::super::experiment::MARKET_METRICS.len()];
                    values[0] = f;
                    RunMetrics {
                        values,
                        shares: [0.0; 6],
                        deviation: [[0.0; 6]; 3],
                        share_path: Vec::new(),
                        welfare_path: Vec::new(),
                    }
                })
                .collect(),
            per_seed: Default::default(),
            summary: Default::default(),
            strategy_shares: Default::default(),
            deviations: Default::default(),
        }
    }

    fn report(schemes: Vec<MarketSchemeReport>) -> MarketReport {
        MarketReport {
            config: MarketConfig::default(),
            schemes,
            wall_time_s: 0.0,
        }
    }

    #[test]
    fn a_claim_that_flips_in_one_seed_is_not_established() {
        let base = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5];
        let steady = report(vec![
            fake("shapley", &[0.9, 0.91, 0.92, 0.9, 0.93, 0.9]),
            fake("equal", &base),
            fake("data_size", &base),
            fake("loo", &base),
        ]);
        let c = judge(&steady, "F", "", "fairness_spearman", Criterion::Higher);
        assert_eq!(c.verdict, Label::Holds);
        let flipping = report(vec![
            fake("shapley", &[0.9, 0.91, 0.92, 0.9, 0.93, 0.45]),
            fake("equal", &base),
            fake("data_size", &base),
            fake("loo", &base),
        ]);
        let c = judge(&flipping, "F", "", "fairness_spearman", Criterion::Higher);
        assert!(c.versus.iter().all(|v| v.status == "better"), "{c:?}");
        assert_eq!(c.verdict, Label::NotEstablished);
        let worse = report(vec![
            fake("shapley", &[0.4, 0.41, 0.42, 0.4, 0.43, 0.4]),
            fake("equal", &base),
            fake("data_size", &base),
            fake("loo", &base),
        ]);
        assert_eq!(
            judge(&worse, "F", "", "fairness_spearman", Criterion::Higher).verdict,
            Label::DoesNotHold
        );
        assert_eq!(
            judge(
                &report(vec![fake("equal", &base)]),
                "F",
                "",
                "fairness_spearman",
                Criterion::Higher
            )
            .verdict,
            Label::NotAssessed
        );
    }

    #[test]
    fn the_rerun_fairness_claim_is_stated_only_when_reruns_ran_and_judged_on_its_own_metric() {
        let metrics = super::super::experiment::MARKET_METRICS;
        let at = |key: &str| metrics.iter().position(|(k, _)| *k == key).expect("metric");
        let (fair, rerun) = (at("fairness_spearman"), at("rerun_spearman"));
        // Shapley leads in-cohort in every seed but not on the whole-run reruns.
        let scheme = |name: &str, f: &[f64], r: Option<&[f64]>| {
            let mut s = fake(name, f);
            for (i, run) in s.runs.iter_mut().enumerate() {
                run.values[fair] = f[i];
                run.values[rerun] = r.map_or(f64::NAN, |r| r[i]);
            }
            s
        };
        let build = |with_reruns: bool| {
            let r = |v: &'static [f64]| with_reruns.then_some(v);
            report(vec![
                scheme("shapley", &[0.9, 0.91, 0.92, 0.9], r(&[0.3, 0.1, 0.5, 0.2])),
                scheme("equal", &[0.5; 4], r(&[0.4, 0.2, 0.1, 0.3])),
                scheme("data_size", &[0.6; 4], r(&[0.2, 0.3, 0.4, 0.1])),
                scheme("loo", &[0.7; 4], r(&[0.3, 0.2, 0.3, 0.4])),
            ])
        };
        let without = claims(&build(false));
        assert!(without.iter().all(|c| c.metric != "rerun_spearman"));
        let with = claims(&build(true));
        let fairness = with.iter().find(|c| c.name == "Fairness").expect("claim");
        let reruns = with
            .iter()
            .find(|c| c.metric == "rerun_spearman")
            .expect("rerun claim stated");
        assert_eq!(fairness.verdict, Label::Holds);
        assert_ne!(reruns.verdict, Label::Holds, "{:?}", reruns.verdict);
        assert_eq!(with.len(), without.len() + 1);
    }

    #[test]
    fn claims_and_incentives_are_computed_on_a_small_market() {
        let cfg = MarketConfig {
            agents: 60,
            rounds: 30,
            seeds: 3,
            probes: 6,
            tail_rounds: 10,
            schemes: vec![
                MarketScheme::Equal,
                MarketScheme::DataSize,
                MarketScheme::Loo,
                MarketScheme::Shapley,
            ],
            evaluators: crate::market::config::EvaluatorConfig {
                pool: 9,
                ..Default::default()
            },
            ..MarketConfig::default()
        };
        let r = simulate_market(&cfg, &|| {}).expect("runs");
        let cs = claims(&r);
        assert_eq!(cs.len(), 3);
        assert!(cs
            .iter()
            .all(|c| c.verdict != Label::NotAssessed && c.versus.len() == 3));
        let inc = incentives(r.scheme("shapley").expect("run"));
        assert_eq!(inc.scheme, "shapley");
    }
}
