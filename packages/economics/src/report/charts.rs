//! The report's charts as data for `fairshare_plots::render`. Undefined values are dropped,
//! never plotted.

use fairshare_plots::{Bar, BarGroup, Chart, Series};

use crate::sim::agent::Strategy;
use crate::sim::experiment::SchemeReport;
use crate::sim::outcome::LORENZ_GRID;
use crate::sim::{Scheme, SimReport};
use crate::stats::Summary;

fn line_series(name: &str, xs: impl Iterator<Item = f64>, ys: &[Summary], scale: f64) -> Series {
    let mut points = Vec::new();
    let mut band = Vec::new();
    for (x, s) in xs.zip(ys) {
        if s.mean.is_finite() {
            points.push((x, s.mean * scale));
            if s.low.is_finite() && s.high.is_finite() {
                band.push((x, s.low * scale, s.high * scale));
            }
        }
    }
    Series {
        name: name.to_string(),
        points,
        band,
    }
}

fn bar(series: &str, s: Summary, scale: f64) -> Option<Bar> {
    s.mean.is_finite().then(|| Bar {
        series: series.to_string(),
        value: s.mean * scale,
        ci: (s.low.is_finite() && s.high.is_finite()).then_some((s.low * scale, s.high * scale)),
    })
}

/// Bars grouped by metric, one bar per scheme.
fn metric_bars(
    report: &SimReport,
    title: &str,
    y_label: &str,
    metrics: &[(&str, &str)],
    scale: f64,
) -> Chart {
    Chart::Bars {
        title: title.into(),
        y_label: y_label.into(),
        groups: metrics
            .iter()
            .map(|(key, label)| BarGroup {
                label: label.to_string(),
                bars: report
                    .schemes
                    .iter()
                    .filter_map(|s| bar(s.scheme.name(), s.get(key), scale))
                    .collect(),
            })
            .collect(),
    }
}

fn per_round(
    report: &SimReport,
    title: &str,
    y_label: &str,
    pick: fn(&SchemeReport) -> &[Summary],
) -> Chart {
    Chart::Line {
        title: title.into(),
        x_label: "round".into(),
        y_label: y_label.into(),
        series: report
            .schemes
            .iter()
            .map(|s| line_series(s.scheme.name(), (1..).map(f64::from), pick(s), 1.0))
            .collect(),
    }
}

fn lorenz(report: &SimReport, what: &str, pick: fn(&SchemeReport) -> &[Summary]) -> Chart {
    let grid = || (0..LORENZ_GRID).map(|i| i as f64 / (LORENZ_GRID - 1) as f64);
    let mut series: Vec<Series> = report
        .schemes
        .iter()
        .map(|s| line_series(s.scheme.name(), grid(), pick(s), 1.0))
        .collect();
    series.push(Series::new("equal burden", vec![(0.0, 0.0), (1.0, 1.0)]));
    Chart::Line {
        title: format!("Lorenz curve of {what}"),
        x_label: "share of parties (smallest first)".into(),
        y_label: format!("cumulative share of {what}"),
        series,
    }
}

fn scatter(s: &SchemeReport) -> Chart {
    let series = Strategy::ALL
        .into_iter()
        .map(|st| Series {
            name: st.name().into(),
            points: s
                .example
                .iter()
                .filter(|p| p.strategy == st && p.rounds_joined > 0)
                .map(|p| (p.true_contribution, p.reward_utoken / 1e6))
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect(),
            band: vec![],
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    Chart::Scatter {
        title: format!(
            "Reward against true contribution ({}, seed 0)",
            s.scheme.name()
        ),
        x_label: "cumulative true contribution (Σ exact Shapley, noise-free)".into(),
        y_label: "cumulative reward (M utoken)".into(),
        series,
    }
}

/// The evaluator layer's charts: collusion gains, the majority's expected profit against
/// the detection probability, evaluator incentives and the harmful verdict's false positives.
fn evaluator_charts(report: &SimReport) -> Vec<(String, Chart)> {
    let mut out = Vec::new();
    if !report.collusion.is_empty() {
        let mut groups: Vec<BarGroup> = Vec::new();
        for row in &report.collusion {
            let label = format!("{} evaluators", row.evaluators);
            let name = if row.majority() {
                "colluding majority"
            } else {
                "colluding minority"
            };
            let b = bar(name, row.partner_gain, 100.0);
            match groups.iter_mut().find(|g| g.label == label) {
                Some(g) => g.bars.extend(b),
                None => groups.push(BarGroup {
                    label,
                    bars: b.into_iter().collect(),
                }),
            }
        }
        out.push((
            "collusion".to_string(),
            Chart::Bars {
                title:
                    "Partners' reward gain from colluding evaluators (shapley_exact, mean, 95% CI)"
                        .into(),
                y_label: "% over an honest panel".into(),
                groups,
            },
        ));
        let mut series: Vec<Series> = report
            .collusion
            .iter()
            .filter(|r| r.majority())
            .map(|r| {
                let xs: Vec<f64> = r
                    .expected_profit_utoken
                    .iter()
                    .map(|p| p.p_detect)
                    .collect();
                let ys: Vec<Summary> = r.expected_profit_utoken.iter().map(|p| p.value).collect();
                line_series(
                    &format!("{} of {} colluding", r.colluders, r.evaluators),
                    xs.into_iter(),
                    &ys,
                    1e-3,
                )
            })
            .collect();
        let ps: Vec<f64> = report
            .collusion
            .first()
            .map(|r| {
                r.expected_profit_utoken
                    .iter()
                    .map(|p| p.p_detect)
                    .collect()
            })
            .unwrap_or_default();
        if let (Some(lo), Some(hi)) = (ps.first(), ps.last()) {
            series.push(Series::new("break-even", vec![(*lo, 0.0), (*hi, 0.0)]));
        }
        out.push((
            "collusion_profit".to_string(),
            Chart::Line {
                title: "A colluding majority's expected profit per lying round (mean, 95% CI)"
                    .into(),
                x_label: "p_detect: chance re-execution catches a fabricated table".into(),
                y_label: "k utoken".into(),
                series,
            },
        ));
    }
    let mut bars: Vec<BarGroup> = Vec::new();
    if let Some(s) = report.scheme(Scheme::ShapleyExact) {
        bars.push(BarGroup {
            label: "honest".into(),
            bars: bar("net per cohort", s.get("evaluator_payoff"), 1e-3)
                .into_iter()
                .collect(),
        });
    }
    for row in &report.lazy {
        bars.push(BarGroup {
            label: row.role.name().replace('_', "-"),
            bars: bar("net per cohort", row.net_utoken, 1e-3)
                .into_iter()
                .collect(),
        });
    }
    if bars.len() > 1 {
        out.push((
            "evaluator_incentives".to_string(),
            Chart::Bars {
                title: "Evaluators' net pay per cohort served (shapley_exact, mean, 95% CI)".into(),
                y_label: "k utoken".into(),
                groups: bars,
            },
        ));
    }
    if let Some(fp) = &report.false_positives {
        let xs: Vec<f64> = fp.new_rule.iter().map(|l| l.alpha).collect();
        let ys: Vec<Summary> = fp.new_rule.iter().map(|l| l.rate).collect();
        let (lo, hi) = (
            xs.first().copied().unwrap_or(0.0),
            xs.last().copied().unwrap_or(0.0),
        );
        let mut series = vec![
            line_series(
                &format!("new rule: t(α, ν = {})", fp.dof),
                xs.iter().copied(),
                &ys,
                100.0,
            ),
            Series::new("α itself", vec![(lo, lo * 100.0), (hi, hi * 100.0)]),
        ];
        if fp.old_rule.mean.is_finite() {
            series.push(Series::new(
                "old rule: one standard error",
                vec![
                    (lo, fp.old_rule.mean * 100.0),
                    (hi, fp.old_rule.mean * 100.0),
                ],
            ));
        }
        out.push((
            "false_positives".to_string(),
            Chart::Line {
                title: "Worthless honest updates judged harmful (mean, 95% CI)".into(),
                x_label: "α, the level of the harmful test".into(),
                y_label: "% judged harmful".into(),
                series,
            },
        ));
    }
    out
}

/// Every chart with its file stem (relative to the plots directory).
pub fn charts(report: &SimReport) -> Vec<(String, Chart)> {
    let mut out = vec![
        (
            "participation".to_string(),
            per_round(
                report,
                "Participation over rounds (mean, 95% CI)",
                "share of parties joining",
                |s| &s.participation,
            ),
        ),
        (
            "model_quality".to_string(),
            per_round(
                report,
                "Cohort utility over rounds (mean, 95% CI)",
                "mean noise-free U(N) of a cohort",
                |s| &s.cohort_utility,
            ),
        ),
        (
            "lorenz_compute".to_string(),
            lorenz(report, "compute (tokens trained)", |s| &s.lorenz_compute),
        ),
        (
            "lorenz_stake".to_string(),
            lorenz(report, "stake bonded", |s| &s.lorenz_stake),
        ),
        (
            "fairness".to_string(),
            metric_bars(
                report,
                "Fairness by scheme (mean, 95% CI)",
                "value",
                &[
                    ("spearman", "Spearman"),
                    ("pearson", "Pearson"),
                    ("jain", "Jain (rewards)"),
                    ("gini", "Gini (rewards)"),
                ],
                1.0,
            ),
        ),
        (
            "stability".to_string(),
            metric_bars(
                report,
                "Participation stability by scheme (mean, 95% CI)",
                "share",
                &[
                    ("retention", "honest retention"),
                    ("churn", "churn / round"),
                    ("participation", "participation"),
                    ("honest_join_rate", "honest join rate"),
                ],
                1.0,
            ),
        ),
        (
            "concentration".to_string(),
            metric_bars(
                report,
                "Burden concentration by scheme (mean, 95% CI)",
                "share held by the top 10% of parties",
                &[("top10_compute", "compute"), ("top10_stake", "stake")],
                1.0,
            ),
        ),
        (
            "hhi".to_string(),
            metric_bars(
                report,
                "Herfindahl–Hirschman index of burden (mean, 95% CI)",
                "HHI × 1000",
                &[("hhi_compute", "compute"), ("hhi_stake", "stake")],
                1000.0,
            ),
        ),
        (
            "payoffs".to_string(),
            metric_bars(
                report,
                "Mean net payoff per party by strategy (mean, 95% CI)",
                "M utoken over the run",
                &[
                    ("honest_payoff", "honest"),
                    ("free_rider_payoff", "free-rider"),
                    ("low_effort_payoff", "low-effort"),
                    ("poisoner_payoff", "poisoner"),
                    ("dropout_payoff", "dropout"),
                    ("sybil_payoff", "Sybil"),
                ],
                1e-6,
            ),
        ),
        (
            "sybil".to_string(),
            metric_bars(
                report,
                "Net payoff per 1k tokens of data: Sybils vs honest parties of similar data",
                "utoken per 1k tokens",
                &[
                    ("sybil_payoff_per_ktok", "Sybil parties"),
                    ("matched_honest_payoff_per_ktok", "matched honest"),
                ],
                1.0,
            ),
        ),
    ];
    out.extend(evaluator_charts(report));
    for s in &report.schemes {
        out.push((
            format!("reward_vs_contribution_{}", s.scheme.name()),
            scatter(s),
        ));
    }
    out
}
