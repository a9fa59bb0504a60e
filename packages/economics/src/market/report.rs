//! The market model's part of the report: its sections of `summary.md` (placed before the
//! 1-D cohort model's), its figures under `market` in `metrics.json`, and its charts.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use fairshare_plots::{Bar, BarGroup, Chart, Series};
use serde_json::{json, Value};

use super::calibrate::CalibrationUse;
use super::config::Action;
use super::experiment::{MarketReport, MARKET_METRICS};
use super::phase::{grid, region, PhaseReport, CLAIMS};
use super::run::SIZE_TYPES;
use super::verdict::{claims, incentives, Claim, PRIMARY};
use crate::report::ReportError;
use crate::stats::Summary;

fn m(s: Summary, scale: f64, d: usize) -> String {
    Summary {
        mean: s.mean / scale,
        low: s.low / scale,
        high: s.high / scale,
        ..s
    }
    .fmt(d)
}

fn signed(s: Summary, scale: f64, d: usize) -> String {
    if !s.mean.is_finite() {
        return "n/a".into();
    }
    format!(
        "{:+.d$} [{:+.d$}, {:+.d$}]",
        s.mean / scale,
        s.low / scale,
        s.high / scale,
        d = d
    )
}

fn claim_line(out: &mut String, c: &Claim, phase: Option<&PhaseReport>) {
    let d = 3;
    let _ = write!(
        out,
        "- **{} — {}.** _{}._ {} under shapley {}",
        c.name,
        c.verdict.text(),
        c.statement,
        c.metric,
        c.shapley.map_or("n/a".into(), |s| m(s, 1.0, d))
    );
    if let Some((lo, hi)) = c.seed_range {
        let _ = write!(out, " (seeds range {lo:.3} to {hi:.3})");
    }
    let parts: Vec<String> = c
        .versus
        .iter()
        .map(|v| {
            format!(
                "{} {} (difference {}: {}; {} of {} seeds favour shapley)",
                v.baseline,
                m(v.baseline_value, 1.0, d),
                signed(v.difference, 1.0, d),
                v.status,
                v.seeds_favouring,
                v.seeds
            )
        })
        .collect();
    let _ = write!(out, " vs {}.", parts.join(", "));
    if let Some(p) = phase {
        for plane in &p.planes {
            // A claim the phase cells did not judge (the reruns are too costly there) has no region.
            let judged = plane
                .cells
                .iter()
                .any(|cell| cell.verdicts.iter().any(|(n, _, _)| n == c.name));
            if judged {
                let _ = write!(out, " Region: {}.", region(plane, c.name));
            }
        }
    }
    out.push('\n');
}

/// A short row label for a metric.
fn label<'a>(key: &str, desc: &'a str) -> &'a str {
    match key {
        "fairness_spearman" => "**Fairness**: Spearman ρ(reward, counterfactual contribution)",
        "fairness_pearson" => "Pearson r(reward, counterfactual contribution)",
        "rerun_spearman" => "Spearman ρ(reward, whole-run rerun counterfactual)",
        "rerun_pearson" => "Pearson r(reward, whole-run rerun counterfactual)",
        "static_vs_rerun" => "r(in-cohort counterfactual, rerun counterfactual)",
        "join_share" => "**Participation**: share joining at full effort",
        "contributing_share" => "share contributing (join, low effort, split, copy)",
        "churn" => "churn (in/out switches per round)",
        "welfare" => "model quality (Σ cohort test utility per round)",
        "net_burden_top10" => "**Net burden**: top-10% share",
        "net_payers" => "share of trainers with positive net burden",
        "burden_vs_alone" => "net burden / compute (median; vs training alone)",
        "gross_compute_top10" => "gross compute: top-10% share",
        "mean_net" => "mean net payoff per learning party",
        "collusion_share" => "evaluators colluding (share)",
        "evaluator_collusion_gain" => "evaluator's gain from colluding per round",
        "waitlisted" => "identities waitlisted per round",
        "free_ride_share" => "share free-riding",
        _ => desc,
    }
}

/// The market's sections of `summary.md`.
pub fn sections(
    r: &MarketReport,
    calibration: Option<&CalibrationUse>,
    phase: Option<&PhaseReport>,
    command: &str,
    phase_command: &str,
    heatmaps: &[String],
) -> String {
    let c = &r.config;
    let mut out = String::new();
    out.push_str("## Market model (issue #15): structured utility, counterfactual ground truth, learning agents\n\n");
    let _ = writeln!(
        out,
        "Every number in this section is reproduced by `{command}`{}.\n",
        if phase.is_some() {
            format!(" after `{phase_command}` (the phase diagrams)")
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        out,
        "{} data holders × {} rounds × {} seeds per scheme ({:.1} s). Data lie in {} domains (a party's mix ~ Dirichlet({})); each party's data has content identities (8 segments), so a copy adds nothing and a split adds its shard; returns are concave per domain: `U_w(S) = A·Σ_d w_d·(1 − exp(−E_d(S)·D/κ)) − β·E⁻(S)` (with one domain and one identity per party it is exactly the 1-D surrogate below). Evaluators measure on validation weights drawn around the test weights (Dirichlet concentration {}) with noise; the **ground truth** is each party's leave-one-party-out contribution to the noise-free *test* utility, whose weights the evaluators never see, summed over the run. Every party draws from its own random stream, so removing it changes nothing else's draws. One budget of {:.0} M utoken per round is shared by all cohorts in proportion to the value they created (crowding); cohorts are random slots of about {} identities (at most {}).\n",
        c.agents, c.rounds, c.seeds, r.wall_time_s, c.domains, c.domain_concentration, c.validation_concentration,
        c.budget_utoken / 1e6, c.cohort_target, c.max_cohort
    );
    let _ = writeln!(
        out,
        "Each round every data holder picks an action — stay out, join at full effort, join at low effort ({}), free-ride, split its data over {k} identities, copy it to {k} identities — by Hedge (multiplicative weights) on its own realised payoffs (bandit feedback, exploration decaying as 1/√t); {:.0}% of parties are fixed adversaries that poison. A pool of {} evaluators (panels of {}) learns whether to report honestly or collude with partner parties ({:.0}%): a majority of colluders inflates a partner's value and shares its extra reward; a minority report is slashed {:.0}% of a {:.0} M bond; a settled cohort is re-executed with probability {} and colluders behind an inflated consensus then lose their whole bond. Every scheme gets the same evaluators, standard errors, one-sided tests (t = {:.3}), free-rider threshold and slashes; equal and data-size pay have no value of their own and are tested on the evaluators' Shapley values; leave-one-out is tested on its own value with its own standard error (not clipped at 0).\n",
        c.low_effort, c.adversary_share * 100.0, c.evaluators.pool, c.evaluators.panel,
        c.evaluators.partner_share * 100.0, c.evaluators.slash_deviant * 100.0, c.evaluators.bond_utoken / 1e6, c.evaluators.audit, c.critical_t,
        k = c.identities
    );
    out.push_str("**Copy-proof valuation (group Shapley).** Data fingerprints are committed before cohorts are formed, so a party's copies land in one cohort; evaluators group near-duplicate identities (the same content) into one player and compute Shapley values over groups. A group's reward and slash are split **evenly** among its identities: the copies' total is then exactly one player's value whatever they stake, whereas a split by stake would let whoever bonds most on a copy take more of a group it does not own. Disjoint shards (a split) are not near-duplicates and are valued separately; `shapley_nogroup` is the ablation without grouping.\n\n");

    if let Some(cal) = calibration {
        out.push_str("### Calibration (profile likelihood)\n\n");
        if let Some(f) = &cal.fit {
            let _ = writeln!(
                out,
                "Fitted to {} measured coalitions of `{}` ({:.0}–{:.0} tokens) over a κ grid of {:.0}–{:.0} tokens: A = {}, κ = {} tokens, initial slope A/κ = {} ×10⁻⁹ per token, residual sd {:.2e}; maximum {} the grid; 95% profile-likelihood intervals (Wilks, approximate with so few points). **{}.**\n",
                f.n, cal.source, f.tokens_range.0, f.tokens_range.1, f.grid.0, f.grid.1,
                f.a.fmt(1.0, 4), f.kappa.fmt(1.0, 0), f.slope.fmt(1e-9, 3), f.sigma,
                if f.interior { "inside" } else { "on the edge of" },
                if f.identified { "Identified" } else { "Not identified" }
            );
        }
        let _ = writeln!(
            out,
            "Decision: {}. Simulated surrogate: A = {:.4}, κ = {:.0} tokens.\n",
            cal.decision, cal.surrogate.a, cal.surrogate.kappa_tokens
        );
    }

    out.push_str("### Claims\n\nEach claim compares shapley with every baseline by the paired per-seed difference; it **holds** only when every interval favours shapley *and* every seed agrees; when the intervals favour shapley but some seed's difference has the other sign it is **not established**. The region lines come from the phase diagrams below.\n\n");
    let cs = claims(r);
    for cl in &cs {
        claim_line(&mut out, cl, phase);
    }
    if let Some(s) = r.scheme(PRIMARY) {
        let inc = incentives(s);
        let list = |v: &[super::verdict::Deviation]| {
            v.iter()
                .map(|d| {
                    format!(
                        "{} → {} {} k",
                        d.party_type,
                        d.action,
                        signed(d.gain, 1e3, 1)
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        let _ = write!(
            out,
            "- **Incentive compatibility (shapley) — {}.** _No unilateral deviation from joining at full effort gains._ ",
            inc.verdict.text()
        );
        if inc.profitable.is_empty() {
            out.push_str("No deviation gains significantly. ");
        } else {
            let _ = write!(
                out,
                "Deviations that gain (utoken per round, paired by party): {}. ",
                list(&inc.profitable)
            );
        }
        if !inc.unresolved.is_empty() {
            let _ = write!(
                out,
                "Positive but not significant: {}. ",
                list(&inc.unresolved)
            );
        }
        if let Some(p) = phase {
            for plane in &p.planes {
                let _ = write!(out, "Region: {}. ", region(plane, CLAIMS[3]));
            }
        }
        out.push('\n');
    }
    out.push('\n');

    // Metrics table.
    out.push_str("### Metrics by scheme\n\n| metric |");
    for s in &r.schemes {
        let _ = write!(out, " {} |", s.scheme);
    }
    out.push_str("\n|---|");
    for _ in &r.schemes {
        out.push_str("---|");
    }
    out.push('\n');
    for (k, desc) in MARKET_METRICS {
        let scale = if k == "mean_net" {
            1e6
        } else if k == "evaluator_collusion_gain" {
            1e3
        } else {
            1.0
        };
        let unit = if k == "mean_net" {
            " (M utoken)"
        } else if k == "evaluator_collusion_gain" {
            " (k utoken)"
        } else {
            ""
        };
        let short = label(k, desc);
        let _ = write!(out, "| {short}{unit} |");
        for s in &r.schemes {
            let _ = write!(out, " {} |", m(s.get(k), scale, 3));
        }
        out.push('\n');
    }
    out.push_str("\nDefinitions:\n\n");
    for (k, desc) in MARKET_METRICS {
        let _ = writeln!(out, "- `{k}`: {desc}.");
    }
    out.push('\n');
    out.push_str(&rerun_section(r, command));

    out.push_str("### Converged strategy shares\n\nShare of learning parties playing each action in the last rounds (mean over seeds, 95% interval).\n\n| scheme |");
    for a in Action::LEARNED {
        let _ = write!(out, " {} |", a.name());
    }
    out.push_str("\n|---|");
    for _ in Action::LEARNED {
        out.push_str("---|");
    }
    out.push('\n');
    for s in &r.schemes {
        let _ = write!(out, "| {} |", s.scheme);
        for a in 0..6 {
            let _ = write!(out, " {} |", m(s.share(a), 1.0, 3));
        }
        out.push('\n');
    }
    out.push('\n');

    let _ = writeln!(
        out,
        "### Unilateral deviations\n\nFor {} probed parties per seed, in each of the last {} rounds, the payoff of every action is computed with everyone else's play fixed (same cohort slot draws, same validation noise), minus the payoff of joining at full effort: gain per round in k utoken, mean over seeds with 95% interval. The mechanism is incentive-compatible for a type where no deviation gains.\n",
        c.probes, c.tail_rounds
    );
    for s in &r.schemes {
        let _ = write!(out, "**{}**\n\n| type |", s.scheme);
        for a in Action::LEARNED.iter().filter(|a| **a != Action::Join) {
            let _ = write!(out, " {} |", a.name());
        }
        out.push_str("\n|---|---|---|---|---|---|\n");
        for (ty, name) in SIZE_TYPES.iter().enumerate() {
            let _ = write!(out, "| {name} |");
            for (a, act) in Action::LEARNED.iter().enumerate() {
                if *act == Action::Join {
                    continue;
                }
                let g = s.deviation(ty, a);
                let mark = if g.low > 0.0 { " **gains**" } else { "" };
                let _ = write!(out, " {}{mark} |", signed(g, 1e3, 1));
            }
            out.push('\n');
        }
        out.push('\n');
    }

    // Net burden and φ^ρ.
    out.push_str("### Net burden and the concave split φ^ρ\n\nNet burden = compute + stake cost + slashes − rewards, per party that trained; `burden_vs_alone` divides it by the compute the party spent (training alone costs that compute and earns nothing from the pool: a ratio below 1 is lighter than training alone, below 0 profitable). Splitting the pool by φ^ρ with ρ < 1 favours small contributions. Model quality sums the test utility of every cohort's model: under `shapley_nogroup` copies sit in several cohorts and really do improve each of those models, so its higher quality is data reuse across cohorts paid k times, not a better mechanism:\n\n| scheme | net-burden top-10% share | net payers | burden vs alone (median) | model quality (welfare/round) | split gain, large data (k/round) | copy gain, large data (k/round) |\n|---|---|---|---|---|---|---|\n");
    for s in r.schemes.iter().filter(|s| s.scheme.starts_with("shapley")) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            s.scheme,
            m(s.get("net_burden_top10"), 1.0, 3),
            m(s.get("net_payers"), 1.0, 3),
            m(s.get("burden_vs_alone"), 1.0, 3),
            m(s.get("welfare"), 1.0, 2),
            signed(s.deviation(2, Action::Split.index().unwrap_or(4)), 1e3, 1),
            signed(s.deviation(2, Action::Copy.index().unwrap_or(5)), 1e3, 1),
        );
    }
    out.push('\n');

    if let Some(p) = phase {
        let _ = writeln!(
            out,
            "### Phase diagrams\n\nEach cell is a market of its own ({} agents × {} rounds × {} seeds, schemes equal, data_size, loo, shapley; {:.0} s in all); ✓ holds, ◐ partly holds, · inconclusive or not established, ✗ does not hold. With 4 seeds of 300 agents a cell has far less power than the main run, so · often means “too few seeds to tell” (fairness against leave-one-out in particular, where the main run's margin is tiny); ✗ and ✓ are resolved differences. The budget axis is a multiple of {:.1} M utoken per round; the cost axis multiplies every party's compute cost.\n",
            p.base.agents, p.base.rounds, p.base.seeds, p.wall_time_s, p.base.budget_utoken / 1e6
        );
        for claim in CLAIMS {
            let _ = writeln!(out, "**{claim}**\n");
            for plane in &p.planes {
                let stem = heatmap_stem(claim, plane);
                if let Some(svg) = heatmaps
                    .iter()
                    .find(|h| h.ends_with(&format!("{stem}.svg")))
                {
                    let _ = writeln!(
                        out,
                        "![{claim} over {} × {}]({svg})\n",
                        plane.x_label, plane.y_label
                    );
                }
                out.push_str(&grid(plane, claim));
                out.push('\n');
            }
        }
    } else {
        let _ = writeln!(out, "### Phase diagrams\n\nNot run: `{phase_command}` writes them, then `{command}` places them here.\n");
    }
    out
}

/// The market's charts.
pub fn charts(r: &MarketReport, calibration: Option<&CalibrationUse>) -> Vec<(String, Chart)> {
    let mut v = Vec::new();
    let bars = |key: &str| -> Vec<BarGroup> {
        r.schemes
            .iter()
            .map(|s| {
                let x = s.get(key);
                BarGroup {
                    label: s.scheme.clone(),
                    bars: vec![Bar::new(
                        key,
                        x.mean,
                        x.low.is_finite().then_some((x.low, x.high)),
                    )],
                }
            })
            .collect()
    };
    v.push((
        "market-fairness".to_string(),
        Chart::Bars {
            title: "Reward vs leave-one-party-out contribution (test utility)".into(),
            y_label: "Spearman ρ".into(),
            groups: bars("fairness_spearman"),
        },
    ));
    v.push((
        "market-net-burden".to_string(),
        Chart::Bars {
            title: "Top-10% share of net burden".into(),
            y_label: "share".into(),
            groups: bars("net_burden_top10"),
        },
    ));
    if let Some(s) = r.scheme(PRIMARY) {
        let rounds = s.runs.first().map_or(0, |x| x.share_path.len());
        let series: Vec<Series> = Action::LEARNED
            .iter()
            .enumerate()
            .map(|(a, act)| {
                Series::new(
                    act.name(),
                    (0..rounds)
                        .map(|t| {
                            let mean = s.runs.iter().map(|x| x.share_path[t][a]).sum::<f64>()
                                / s.runs.len().max(1) as f64;
                            (t as f64 + 1.0, mean)
                        })
                        .collect(),
                )
            })
            .collect();
        v.push((
            "market-strategies-shapley".to_string(),
            Chart::Line {
                title: "Strategy shares under shapley (mean over seeds)".into(),
                x_label: "round".into(),
                y_label: "share of learning parties".into(),
                series,
            },
        ));
    }
    if let Some(f) = calibration.and_then(|c| c.fit.as_ref()) {
        v.push((
            "calibration-profile".to_string(),
            Chart::Line {
                title: "Profile likelihood of κ (deviance; 3.84 = 95% bound)".into(),
                x_label: "log10 κ (tokens)".into(),
                y_label: "2(ℓ̂ − ℓ(κ))".into(),
                series: vec![
                    Series::new(
                        "deviance",
                        f.profile
                            .iter()
                            .map(|(k, d)| (k.log10(), d.min(20.0)))
                            .collect(),
                    ),
                    Series::new(
                        "95% bound",
                        vec![(f.grid.0.log10(), 3.841), (f.grid.1.log10(), 3.841)],
                    ),
                ],
            },
        ));
    }
    v
}

/// The file stem of a claim's heat map over a plane, e.g. `phase-fairness-cost_budget`.
pub fn heatmap_stem(claim: &str, plane: &super::phase::Plane) -> String {
    let slug: String = claim
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let plane_slug: String = plane
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("phase-{slug}-{plane_slug}")
}

/// One heat map per claim and plane: each cell's verdict code (1 holds, 0.5 partly holds,
/// 0 inconclusive or not established, −1 does not hold; the same codes as in `phase.json`).
pub fn phase_charts(p: &PhaseReport) -> Vec<(String, Chart)> {
    let mut out = Vec::new();
    for claim in CLAIMS {
        for plane in &p.planes {
            let values: Vec<Vec<f64>> = plane
                .ys
                .iter()
                .map(|&y| {
                    plane
                        .xs
                        .iter()
                        .map(|&x| {
                            plane
                                .cells
                                .iter()
                                .find(|c| c.x == x && c.y == y)
                                .and_then(|c| c.verdicts.iter().find(|(n, _, _)| n == claim))
                                .map_or(f64::NAN, |(_, _, code)| *code)
                        })
                        .collect()
                })
                .collect();
            out.push((
                heatmap_stem(claim, plane),
                Chart::Heatmap {
                    title: format!("{claim}: 1 holds, 0.5 partly, 0 unresolved, −1 fails"),
                    x_label: plane.x_label.clone(),
                    y_label: plane.y_label.clone(),
                    xs: plane.xs.iter().map(|x| format!("{x}")).collect(),
                    ys: plane.ys.iter().map(|y| format!("{y}")).collect(),
                    values,
                    range: Some((-1.0, 1.0)),
                },
            ));
        }
    }
    out
}

/// The whole-run rerun ground truth: how the parties were chosen, and each scheme's agreement
/// with it paired against shapley.
fn rerun_section(r: &MarketReport, command: &str) -> String {
    let c = &r.config;
    let mut out = String::from("### Whole-run leave-one-party-out ground truth\n\n");
    if c.reruns == 0 {
        let _ = writeln!(out, "Not run in this report (`--reruns 0`): the rerun rows above are n/a. `make simulate` passes `--reruns 6`.\n");
        return out;
    }
    let _ = writeln!(
        out,
        "For every scheme and seed, {} parties that were in a cohort at least once are drawn evenly over the data-size terciles (small, mid, large in turn, each without replacement, from the seed's own stream), and the whole {}-round run is re-simulated without each of them. Every party keeps its own random stream, so only the removed party changes; the others' learning may react to its absence. Its contribution is the run's total test utility minus the rerun's; the rows `rerun_spearman` and `rerun_pearson` above rank the scheme's cumulative rewards against it (mean over {} seeds, 95% interval over seeds). Costs {} extra runs per scheme and seed. Reproduced by `{command}`.\n",
        c.reruns, c.rounds, c.seeds, c.reruns
    );
    if let Some(sh) = r.scheme("shapley") {
        out.push_str(
            "| shapley − baseline | Δ Spearman ρ (rerun) | Δ Pearson r (rerun) |\n|---|---|---|\n",
        );
        for b in r.schemes.iter().filter(|b| b.scheme != "shapley") {
            let (ds, _) = super::experiment::paired(sh, b, "rerun_spearman");
            let (dp, _) = super::experiment::paired(sh, b, "rerun_pearson");
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                b.scheme,
                signed(ds, 1.0, 3),
                signed(dp, 1.0, 3)
            );
        }
        out.push('\n');
    }
    out
}

/// The market's JSON: per-scheme figures, claims, incentives, calibration and phase diagrams.
pub fn json(
    r: &MarketReport,
    calibration: Option<&CalibrationUse>,
    phase: Option<&PhaseReport>,
    command: &str,
) -> Value {
    json!({
        "command": command,
        "config": r.config,
        "wall_time_s": r.wall_time_s,
        "schemes": r.schemes,
        "claims": claims(r),
        "incentives": r.schemes.iter().map(incentives).collect::<Vec<_>>(),
        "definitions": MARKET_METRICS.iter().map(|(k, d)| (k.to_string(), json!(d))).collect::<serde_json::Map<_, _>>(),
        "calibration": calibration,
        "phase": phase,
    })
}

/// Adds the market to a report already written by [`crate::report::write_report`]: charts
/// into `dir/plots`, its sections into `summary.md` before the 1-D model's, and `market` into
/// `metrics.json`. Returns the plots written and those that could not be drawn.
pub fn augment(
    dir: &Path,
    r: &MarketReport,
    calibration: Option<&CalibrationUse>,
    phase: Option<&PhaseReport>,
    command: &str,
    phase_command: &str,
) -> Result<(Vec<PathBuf>, Vec<String>), ReportError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReportError::Io { path, source }
    };
    let plots_dir = dir.join("plots");
    let (mut plots, mut errors) = (Vec::new(), Vec::new());
    for (stem, chart) in charts(r, calibration) {
        match fairshare_plots::render(&chart, &plots_dir.join(&stem)) {
            Ok(f) => plots.extend(f),
            Err(e) => errors.push(format!("{stem}: {e}")),
        }
    }
    let summary = dir.join("summary.md");
    let old = std::fs::read_to_string(&summary).map_err(io(&summary))?;
    let mut heatmaps = Vec::new();
    for (stem, chart) in phase.map(phase_charts).unwrap_or_default() {
        match fairshare_plots::render(&chart, &plots_dir.join(&stem)) {
            Ok(f) => {
                heatmaps.extend(
                    f.iter()
                        .filter(|p| p.extension().is_some_and(|e| e == "svg"))
                        .map(|p| p.strip_prefix(dir).unwrap_or(p).display().to_string()),
                );
                plots.extend(f);
            }
            Err(e) => errors.push(format!("{stem}: {e}")),
        }
    }
    let mut market = sections(r, calibration, phase, command, phase_command, &heatmaps);
    if !plots.is_empty() {
        market.push_str("Figures: ");
        let rel: Vec<String> = plots
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "svg"))
            .map(|p| {
                let rel = p.strip_prefix(dir).unwrap_or(p).display().to_string();
                format!("[{rel}]({rel})")
            })
            .collect();
        market.push_str(&rel.join(", "));
        market.push_str(".\n\n");
    }
    const OLD_HEAD: &str = "## The three claims";
    let new = match old.find(OLD_HEAD) {
        Some(i) => format!(
            "{}{}## The 1-D cohort model (special case of the market model; earlier analysis)\n\nWhat follows is the earlier simulation: one data dimension, no content identities, strategies fixed for life and a budget per cohort. Its fairness figures compare rewards with exact Shapley values on the same surrogate the Shapley scheme measures, so they are close to 1 by construction; the market model above is the test that is not circular. Its evaluator experiments (collusion, lazy evaluators, false positives) stand on their own.\n\n### The three claims{}",
            &old[..i],
            market,
            &old[i + OLD_HEAD.len()..]
        ),
        None => format!("{old}\n{market}"),
    };
    std::fs::write(&summary, new).map_err(io(&summary))?;
    let metrics = dir.join("metrics.json");
    let text = std::fs::read(&metrics).map_err(io(&metrics))?;
    let mut v: Value = serde_json::from_slice(&text)?;
    if let Value::Object(map) = &mut v {
        map.insert("market".into(), json(r, calibration, phase, command));
        if let Some(Value::Array(p)) = map.get_mut("plots") {
            for f in &plots {
                p.push(json!(f
                    .strip_prefix(dir)
                    .unwrap_or(f)
                    .display()
                    .to_string()));
            }
        }
    }
    std::fs::write(&metrics, serde_json::to_vec_pretty(&v)?).map_err(io(&metrics))?;
    Ok((plots, errors))
}

#[cfg(test)]
mod tests {
    use super::super::phase::{Cell, Plane};
    use super::*;

    #[test]
    fn phase_heat_maps_place_each_cells_verdict_by_row_and_column() {
        let (xs, ys) = (vec![0.5, 1.0, 2.0], vec![1.0, 3.0]);
        let mut cells = Vec::new();
        for (r, &y) in ys.iter().enumerate() {
            for (c, &x) in xs.iter().enumerate() {
                // Fairness: code depends on the position; no verdict for the other claims.
                let code = [[1.0, 0.5, 0.0], [-1.0, 1.0, 0.5]][r][c];
                cells.push(Cell {
                    x,
                    y,
                    verdicts: vec![("Fairness".into(), "x".into(), code)],
                    fairness_margin: 0.0,
                    join_share: 0.0,
                });
            }
        }
        let p = PhaseReport {
            base: crate::market::MarketConfig::default(),
            planes: vec![Plane {
                name: "cost×budget".into(),
                x_label: "cost (×)".into(),
                y_label: "budget (×)".into(),
                xs,
                ys,
                cells,
            }],
            wall_time_s: 1.0,
        };
        let charts = phase_charts(&p);
        assert_eq!(charts.len(), CLAIMS.len(), "one per claim and plane");
        let (stem, chart) = &charts[0];
        assert_eq!(stem, "phase-fairness-cost_budget");
        let Chart::Heatmap { xs, ys, values, .. } = chart else {
            panic!("not a heat map: {chart:?}");
        };
        assert_eq!(xs, &["0.5", "1", "2"]);
        assert_eq!(ys, &["1", "3"]);
        assert_eq!(values, &vec![vec![1.0, 0.5, 0.0], vec![-1.0, 1.0, 0.5]]);
        // A claim without verdicts gives missing (NaN) cells, not zeros.
        let Chart::Heatmap { values, .. } = &charts[1].1 else {
            panic!("not a heat map");
        };
        assert!(values.iter().flatten().all(|v| v.is_nan()));
        assert_eq!(
            charts[2].0, "phase-burden-concentration-net-cost_budget",
            "claim names become file-safe slugs"
        );
        // The summary embeds a rendered heat map beside its grid.
        let svg = format!("plots/{stem}.svg");
        let r = MarketReport {
            config: crate::market::MarketConfig::default(),
            schemes: Vec::new(),
            wall_time_s: 0.0,
        };
        let md = sections(
            &r,
            None,
            Some(&p),
            "cmd",
            "phase-cmd",
            std::slice::from_ref(&svg),
        );
        assert!(
            md.contains(&format!("![Fairness over cost (×) × budget (×)]({svg})")),
            "{md}"
        );
    }
}
