//! `summary.md`: the three claims with their evidence, incentives, Sybils, the evaluator
//! layer ([`super::evaluators`]), the federated run and the definitions, every verdict
//! computed from the figures.

use std::fmt::Write;

use serde_json::Value;

use super::claims::{claims, sign, ClaimVerdict, Comparison, MetricVerdict, Verdict};
use crate::sim::outcome::METRICS;
use crate::sim::SimReport;
use crate::stats::Summary;

/// Rows of the claims table: (claim, metric key, label, decimals).
const CLAIM_ROWS: &[(&str, &str, &str, usize)] = &[
    (
        "Fairness",
        "spearman",
        "Spearman ρ(reward, contribution)",
        3,
    ),
    ("", "pearson", "Pearson r(reward, contribution)", 3),
    ("", "jain", "Jain's index of rewards", 3),
    ("", "gini", "Gini of rewards", 3),
    (
        "Participation stability",
        "retention",
        "retention of honest parties",
        3,
    ),
    (
        "",
        "retention_large",
        "retention of honest parties with above-median data",
        3,
    ),
    ("", "churn", "churn per round", 4),
    ("", "participation", "participation per round", 3),
    ("", "honest_join_rate", "honest join rate", 3),
    (
        "Burden concentration",
        "top10_compute",
        "top-10% share of compute",
        3,
    ),
    ("", "hhi_compute", "HHI of compute", 4),
    ("", "top10_stake", "top-10% share of stake", 3),
    ("", "hhi_stake", "HHI of stake", 4),
    ("", "top10_data", "reference: top-10% share of data held", 3),
];

/// Rows of the incentives table: (metric key, label, scale, unit suffix, decimals).
const INCENTIVE_ROWS: &[(&str, &str, f64, usize)] = &[
    (
        "honest_payoff",
        "honest parties' net payoff (M utoken)",
        1e-6,
        2,
    ),
    (
        "honest_large_payoff",
        "honest, above-median data (M utoken)",
        1e-6,
        2,
    ),
    (
        "free_rider_payoff",
        "free-riders' net payoff (M utoken)",
        1e-6,
        2,
    ),
    ("low_effort_payoff", "low-effort (M utoken)", 1e-6, 2),
    ("poisoner_payoff", "poisoners (M utoken)", 1e-6, 2),
    ("dropout_payoff", "dropouts (M utoken)", 1e-6, 2),
    ("sybil_payoff", "Sybil parties (M utoken)", 1e-6, 2),
    (
        "sybil_payoff_per_ktok",
        "Sybil payoff per 1k tokens (utoken)",
        1.0,
        0,
    ),
    (
        "matched_honest_payoff_per_ktok",
        "matched honest per 1k tokens (utoken)",
        1.0,
        0,
    ),
    ("free_rider_join_rate", "free-rider join rate", 1.0, 3),
    ("poisoner_join_rate", "poisoner join rate", 1.0, 3),
    (
        "honest_harmful_rate",
        "honest updates judged harmful (share)",
        1.0,
        4,
    ),
    (
        "honest_unpaid_rate",
        "honest updates left unpaid (share)",
        1.0,
        3,
    ),
    (
        "evaluator_payoff",
        "honest evaluator's net per cohort (k utoken)",
        1e-3,
        1,
    ),
    (
        "evaluator_outlier_rate",
        "honest evaluators' reports judged outlier or deviant (share)",
        1.0,
        4,
    ),
    (
        "budget_used",
        "budget used (paid to participants / available)",
        1.0,
        3,
    ),
    (
        "mean_cohort_utility",
        "model quality: mean cohort U(N)",
        1.0,
        3,
    ),
    (
        "final_cohort_utility",
        "model quality in the last 10% of rounds",
        1.0,
        3,
    ),
    ("total_utility", "cumulative utility of all cohorts", 1.0, 0),
];

/// `s` with every figure multiplied by `k`.
pub(super) fn scaled(s: Summary, k: f64) -> Summary {
    Summary {
        mean: s.mean * k,
        low: s.low * k,
        high: s.high * k,
        sd: s.sd * k.abs(),
        n: s.n,
    }
}

fn header(out: &mut String, report: &SimReport, first: &str) {
    let _ = write!(out, "| {first} |");
    for s in &report.schemes {
        let _ = write!(out, " {} |", s.scheme.name());
    }
    out.push('\n');
    out.push_str("|---|");
    for _ in &report.schemes {
        out.push_str("---|");
    }
    out.push('\n');
}

fn metric_sentence(m: &MetricVerdict, digits: usize) -> String {
    let Some(sh) = m.shapley else {
        return format!("{} was not compared: no Shapley scheme was run", m.label);
    };
    let ours = m.shapley_value.map(|s| s.fmt(digits)).unwrap_or_default();
    let parts: Vec<String> = m
        .versus
        .iter()
        .map(|v| {
            let word = match v.comparison {
                Comparison::Better => "better",
                Comparison::Worse => "worse",
                Comparison::Inconclusive => "no clear difference",
            };
            format!(
                "{} {} (difference {}: {word})",
                v.baseline,
                v.baseline_value.fmt(digits),
                signed(&v.difference, digits)
            )
        })
        .collect();
    format!("{} under {sh} {ours} vs {}", m.label, parts.join(", "))
}

fn signed(s: &Summary, digits: usize) -> String {
    if !s.mean.is_finite() {
        return "n/a".into();
    }
    if s.low.is_finite() {
        format!(
            "{:+.d$} [{:+.d$}, {:+.d$}]",
            s.mean,
            s.low,
            s.high,
            d = digits
        )
    } else {
        format!("{:+.d$}", s.mean, d = digits)
    }
}

fn claim_paragraph(out: &mut String, c: &ClaimVerdict) {
    let digits = if c.primary.metric.starts_with("hhi") {
        4
    } else {
        3
    };
    let _ = writeln!(
        out,
        "- **{} — {}.** _{}._ {}.",
        c.name,
        c.primary.verdict.label(),
        c.statement,
        metric_sentence(&c.primary, digits)
    );
    for m in &c.secondary {
        let d = if m.metric.starts_with("hhi") || m.metric == "churn" {
            4
        } else {
            3
        };
        let _ = writeln!(
            out,
            "  - {} ({}).",
            metric_sentence(m, d),
            m.verdict.label()
        );
    }
}

fn per_scheme_verdicts(
    out: &mut String,
    report: &SimReport,
    key: &str,
    positive_holds: bool,
    what: &str,
) {
    for s in &report.schemes {
        let v = s.get(key);
        let word = match (sign(&v), positive_holds) {
            (Some(true), true) | (Some(false), false) => "holds",
            (Some(_), _) => "does not hold",
            (None, _) => "inconclusive (interval contains 0)",
        };
        let _ = writeln!(
            out,
            "  - {}: {word} — {what} {} M utoken.",
            s.scheme,
            scaled(v, 1e-6).fmt(2)
        );
    }
}

/// The "Federated run" section: one part per demo record (its `summary_markdown`, else its
/// top-level scalar fields); records with neither are skipped.
fn demo_section(out: &mut String, demos: &[Value]) {
    let parts: Vec<String> = demos.iter().filter_map(demo_part).collect();
    if parts.is_empty() {
        return;
    }
    out.push_str(if parts.len() == 1 {
        "## Federated run\n\n"
    } else {
        "## Federated runs\n\n"
    });
    for (k, part) in parts.iter().enumerate() {
        if parts.len() > 1 {
            let _ = writeln!(out, "### Run {}\n", k + 1);
        }
        out.push_str(part);
    }
}

fn demo_part(demo: &Value) -> Option<String> {
    if let Some(md) = demo.get("summary_markdown").and_then(Value::as_str) {
        return Some(format!("{}\n\n", md.trim_end()));
    }
    let scalars: Vec<(&String, String)> = demo
        .as_object()?
        .iter()
        .filter_map(|(k, v)| match v {
            Value::String(s) if s.len() <= 200 => Some((k, s.replace('|', "\\|"))),
            Value::Number(n) => Some((k, n.to_string())),
            Value::Bool(b) => Some((k, b.to_string())),
            _ => None,
        })
        .take(40)
        .collect();
    if scalars.is_empty() {
        return None;
    }
    let mut out = String::from(
        "Fields of the federated demo's record, as given:\n\n| field | value |\n|---|---|\n",
    );
    for (k, v) in scalars {
        let _ = writeln!(out, "| {k} | {v} |");
    }
    out.push('\n');
    Some(out)
}

/// The whole `summary.md`.
pub fn summary(
    report: &SimReport,
    demos: &[Value],
    plots: &[String],
    plot_errors: &[String],
) -> String {
    let c = &report.config;
    let mut out = String::new();
    out.push_str("# Fairshare economics: strategic-agent simulation\n\n");
    let _ = writeln!(
        out,
        "{} parties × {} rounds × {} seeds per scheme; cohorts of at most {} identities, each an on-chain round with a budget of {} utoken paid by the protocol's reward rule; {} bonded evaluators per cohort (quorum {}), settled by the evaluator layer (bond-weighted median consensus, pay for agreement, slashes: see Evaluators). Schemes: {}. Wall time {:.1} s on {} threads.\n",
        c.agents,
        c.rounds,
        c.seeds,
        c.cohort_size,
        c.rewards.budget_utoken,
        c.evaluators,
        c.evaluation.quorum,
        report.schemes.iter().map(|s| s.scheme.name()).collect::<Vec<_>>().join(", "),
        report.wall_time_s,
        report.threads
    );
    let _ = writeln!(
        out,
        "Every figure is the mean over seeds with its 95% Student-t confidence interval `mean [low, high]`. Claims compare the Shapley scheme with each baseline by the paired per-seed difference (every scheme runs on the same populations); a claim **holds** only when the interval of every difference favours Shapley.\n"
    );
    let s = &c.surrogate;
    match &report.calibration {
        Some(cal) => {
            let _ = writeln!(
                out,
                "Utility surrogate `U = A·(1 − exp(−E⁺/κ)) − β·E⁻` calibrated on {} measured coalitions of `{}` by profile likelihood (whether A and κ are identified, and what is assumed when they are not, is stated under the market model's Calibration): A = {:.4}, κ = {:.0} tokens (RMSE {:.4}); β = {} · A/κ.\n",
                cal.samples, cal.source, s.a, s.kappa_tokens, cal.rmse, s.poison_harm
            );
        }
        None => {
            let _ = writeln!(
                out,
                "Utility surrogate `U = A·(1 − exp(−E⁺/κ)) − β·E⁻` with the default constants (no calibration file): A = {}, κ = {:.0} tokens, β = {} · A/κ. Evaluation noise sd = {} · A.\n",
                s.a, s.kappa_tokens, s.poison_harm, c.eval_noise
            );
        }
    }

    out.push_str("## The three claims\n\n");
    header(&mut out, report, "claim / metric");
    for (claim, key, label, digits) in CLAIM_ROWS {
        let first = if claim.is_empty() {
            label.to_string()
        } else {
            format!("**{claim}**: {label}")
        };
        let _ = write!(out, "| {first} |");
        for s in &report.schemes {
            let _ = write!(out, " {} |", s.get(key).fmt(*digits));
        }
        out.push('\n');
    }
    out.push('\n');
    let verdicts = claims(report);
    for v in &verdicts {
        claim_paragraph(&mut out, v);
    }
    out.push('\n');

    out.push_str("## Incentives\n\n");
    header(&mut out, report, "metric");
    for (key, label, scale, digits) in INCENTIVE_ROWS {
        let _ = write!(out, "| {label} |");
        for s in &report.schemes {
            let _ = write!(out, " {} |", scaled(s.get(key), *scale).fmt(*digits));
        }
        out.push('\n');
    }
    out.push('\n');
    out.push_str("- **Individual rationality** (honest parties' mean net payoff > 0):\n");
    per_scheme_verdicts(&mut out, report, "honest_payoff", true, "honest payoff");
    out.push_str("- **Incentive compatibility** (free-riders' mean net payoff < 0):\n");
    per_scheme_verdicts(
        &mut out,
        report,
        "free_rider_payoff",
        false,
        "free-rider payoff",
    );
    out.push_str("- **Sybil splitting** (does splitting data over identities pay more per token than holding it as one honest party of similar data?):\n");
    for s in &report.schemes {
        let adv = s.get("sybil_advantage_per_ktok");
        let word = match sign(&adv) {
            Some(true) => "splitting pays",
            Some(false) => "splitting costs",
            None => "no clear difference",
        };
        let _ = writeln!(
            out,
            "  - {}: {word} — Sybil minus matched honest payoff {} utoken per 1k tokens.",
            s.scheme,
            signed(&adv, 0)
        );
    }
    out.push('\n');

    super::evaluators::sections(&mut out, report);

    demo_section(&mut out, demos);

    out.push_str("## Definitions\n\n");
    out.push_str("- Fairness is measured over parties that joined at least once (never-joined parties have no reward and no contribution; counting them as agreeing pairs would flatter every scheme). True contribution is a party's cumulative exact Shapley value under the noise-free surrogate in its cohorts (Sybils: summed over identities). Jain and Gini measure equality of pay, not its fairness.\n");
    out.push_str("- Burden concentration is over all parties of the population, so schemes compare on the same denominator; compute burden is tokens trained, stake burden stake bonded × rounds.\n");
    out.push_str("- A party is active in a window if it joined at least half its rounds; windows are the first and last 10% of rounds.\n");
    out.push_str("- Scheme scores enter the protocol's reward rule as φ (the rule sizes each cohort's pool from the sum of non-harmful positive scores): equal → max(ΔU, 0)/k each; data_size → max(ΔU, 0)·claim/Σclaims; loo → max(0, U(N) − U(N∖i)) rescaled to sum to max(ΔU, 0); Shapley → the evaluators' estimates. The settled φ is the evaluators' consensus: the bond-weighted median of their reports, with standard error the larger of the median reported error and 1.4826 × the weighted median absolute deviation of their values. Participants share the budget less the evaluators' share.\n");
    for (k, d) in METRICS {
        let _ = writeln!(out, "- `{k}`: {d}.");
    }
    out.push('\n');

    out.push_str("## Files\n\n- `metrics.json`: every figure of every seed, the configuration and the calibration.\n");
    for p in plots {
        let _ = writeln!(out, "- `{p}`");
    }
    for e in plot_errors {
        let _ = writeln!(out, "- plot not drawn: {e}");
    }
    if verdicts
        .iter()
        .any(|v| v.primary.verdict == Verdict::NotAssessed)
    {
        out.push_str(
            "\nSome claims were not assessed: run at least one Shapley scheme and one baseline.\n",
        );
    }
    out
}

/// A relative change as a signed percentage with its interval.
pub(super) fn pct(s: &Summary) -> String {
    let s = scaled(*s, 100.0);
    if !s.mean.is_finite() {
        "n/a".into()
    } else if s.low.is_finite() {
        format!("{:+.1}% [{:+.1}%, {:+.1}%]", s.mean, s.low, s.high)
    } else {
        format!("{:+.1}%", s.mean)
    }
}
