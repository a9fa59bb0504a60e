//! The simulation's report: `summary.md` (claims with verdicts computed from the confidence
//! intervals), `metrics.json` (every figure of every seed, the configuration and the
//! calibration) and the plots under `plots/`.
//!
//! - [`claims`]: verdicts on the three claims from paired per-seed differences;
//! - [`charts`]: the charts as `fairshare_plots` data;
//! - [`markdown`]: the text of `summary.md`;
//! - [`evaluators`]: its sections on the evaluator layer;
//! - [`real`]: its "Real training" section, from the federated demo's spread and
//!   counterfactual records.

pub mod charts;
pub mod claims;
pub mod evaluators;
pub mod markdown;
pub mod real;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::sim::outcome::METRICS;
use crate::sim::SimReport;

/// Why the report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Creating a directory or writing a file failed.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The figures could not be serialised.
    #[error("cannot serialise the metrics: {0}")]
    Json(#[from] serde_json::Error),
}

/// What [`write_report`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportFiles {
    /// `dir/summary.md`.
    pub summary: PathBuf,
    /// `dir/metrics.json`.
    pub metrics: PathBuf,
    /// Every plot file (SVG and PNG).
    pub plots: Vec<PathBuf>,
    /// Plots that could not be drawn, with the reason (the rest of the report is still written:
    /// a machine without fonts still gets its figures).
    pub plot_errors: Vec<String>,
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    std::fs::write(path, bytes).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The JSON of every figure: the report itself plus the claims' verdicts and definitions.
pub fn metrics_json(report: &SimReport) -> Result<Value, ReportError> {
    let mut v = serde_json::to_value(report)?;
    if let Value::Object(map) = &mut v {
        map.insert(
            "claims".into(),
            serde_json::to_value(claims::claims(report))?,
        );
        map.insert(
            "definitions".into(),
            Value::Object(
                METRICS
                    .iter()
                    .map(|(k, d)| (k.to_string(), json!(d)))
                    .collect(),
            ),
        );
    }
    Ok(v)
}

/// Writes `dir/summary.md`, `dir/metrics.json` and `dir/plots/*.{svg,png}`.
///
/// `demos` are federated demos' JSON records: each one's `summary_markdown` string is pasted
/// into the "Federated run" section, else its top-level scalar fields are listed; anything else
/// is ignored.
pub fn write_report(
    report: &SimReport,
    dir: &Path,
    demos: &[Value],
) -> Result<ReportFiles, ReportError> {
    let plots_dir = dir.join("plots");
    std::fs::create_dir_all(&plots_dir).map_err(|source| ReportError::Io {
        path: plots_dir.clone(),
        source,
    })?;
    let mut plots = Vec::new();
    let mut plot_errors = Vec::new();
    for (stem, chart) in charts::charts(report) {
        match fairshare_plots::render(&chart, &plots_dir.join(&stem)) {
            Ok(files) => plots.extend(files),
            Err(e) => plot_errors.push(format!("{stem}: {e}")),
        }
    }
    let rel: Vec<String> = plots
        .iter()
        .map(|p| p.strip_prefix(dir).unwrap_or(p).display().to_string())
        .collect();
    let summary = dir.join("summary.md");
    write(
        &summary,
        markdown::summary(report, demos, &rel, &plot_errors).as_bytes(),
    )?;
    let metrics = dir.join("metrics.json");
    let mut json = metrics_json(report)?;
    if let Value::Object(map) = &mut json {
        map.insert("plots".into(), json!(rel));
        map.insert("plot_errors".into(), json!(plot_errors));
    }
    write(&metrics, &serde_json::to_vec_pretty(&json)?)?;
    Ok(ReportFiles {
        summary,
        metrics,
        plots,
        plot_errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::experiment::simulate;
    use crate::sim::world::tests::small;
    use crate::sim::SimConfig;

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("fs-econ-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn report_states_every_claim_and_its_json_parses() {
        let cfg = SimConfig {
            rounds: 20,
            collusion: crate::sim::config::CollusionConfig {
                rounds: 10,
                panels: vec![3, 5],
                ..Default::default()
            },
            lazy: crate::sim::config::LazyConfig {
                enabled: true,
                rounds: 10,
            },
            false_positives: crate::sim::config::FalsePositiveConfig { cohorts: 200 },
            ..small()
        };
        let report = simulate(&cfg, &|| {}).expect("simulates");
        let dir = temp_dir("report");
        let demo =
            json!({"summary_markdown": "Three parties trained SmolLM2 for 4 rounds.", "rounds": 4});
        let files = write_report(&report, &dir, &[demo]).expect("writes");
        let md = std::fs::read_to_string(&files.summary).expect("summary.md");
        for needle in [
            "## The three claims",
            "**Fairness —",
            "**Participation stability —",
            "**Burden concentration —",
            "Individual rationality",
            "Incentive compatibility",
            "Sybil splitting",
            "## Evaluators",
            "### Evaluator incentives",
            "lazy: reports zeros",
            "lazy: copies each participant's last consensus",
            "lazy: bonds, never reveals",
            "## Colluding evaluators",
            "| 1 of 3 (minority) |",
            "| 3 of 5 (majority) |",
            "### Colluders' expected profit and the break-even",
            "break-even p*",
            "## False positives of the harmful verdict",
            "| old: one standard error |",
            "## Federated run",
            "Three parties trained SmolLM2 for 4 rounds.",
            "shapley_exact",
            "shapley_sampled",
        ] {
            assert!(md.contains(needle), "summary.md lacks {needle:?}:\n{md}");
        }
        // A verdict is one of the computed labels, never left blank.
        assert!(["holds", "partly holds", "inconclusive", "does not hold"]
            .iter()
            .any(|v| md.contains(&format!("**Fairness — {v}.**"))));
        let v: Value =
            serde_json::from_slice(&std::fs::read(&files.metrics).expect("metrics.json"))
                .expect("metrics.json parses");
        assert_eq!(v["schemes"].as_array().map(Vec::len), Some(5));
        assert_eq!(v["config"]["agents"], 60);
        assert_eq!(v["schemes"][0]["runs"].as_array().map(Vec::len), Some(2));
        assert!(v["claims"].as_array().is_some_and(|c| c.len() == 3));
        assert!(v["schemes"][3]["summary"]["spearman"]["mean"].is_number());
        assert_eq!(v["collusion"].as_array().map(Vec::len), Some(4));
        assert!(v["collusion"][1]["break_even_p"]["mean"].is_number());
        assert_eq!(v["lazy"].as_array().map(Vec::len), Some(3));
        assert_eq!(
            v["false_positives"]["new_rule"].as_array().map(Vec::len),
            Some(6),
            "every level a DAO may choose"
        );
        // Every chart was either drawn (SVG + PNG) or reported as not drawn.
        let charts = charts::charts(&report).len();
        assert_eq!(files.plots.len() / 2 + files.plot_errors.len(), charts);
        for p in &files.plots {
            assert!(
                std::fs::metadata(p).map(|m| m.len() > 0).unwrap_or(false),
                "{}",
                p.display()
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn demo_without_markdown_is_listed_or_skipped() {
        let report = simulate(
            &SimConfig {
                rounds: 5,
                seeds: 2,
                schemes: vec![crate::sim::Scheme::Equal],
                collusion: crate::sim::config::CollusionConfig {
                    enabled: false,
                    ..Default::default()
                },
                lazy: crate::sim::config::LazyConfig {
                    enabled: false,
                    rounds: 1,
                },
                false_positives: crate::sim::config::FalsePositiveConfig { cohorts: 0 },
                ..small()
            },
            &|| {},
        )
        .expect("simulates");
        let fields = markdown::summary(
            &report,
            &[json!({"final_loss": 2.5, "nested": {"x": 1}})],
            &[],
            &[],
        );
        assert!(fields.contains("| final_loss | 2.5 |"));
        assert!(!fields.contains("nested"));
        let two = markdown::summary(
            &report,
            &[
                json!({"summary_markdown": "tiny model run"}),
                json!([1, 2]),
                json!({"summary_markdown": "SmolLM2 run"}),
            ],
            &[],
            &[],
        );
        assert!(two.contains(
            "## Federated runs\n\n### Run 1\n\ntiny model run\n\n### Run 2\n\nSmolLM2 run"
        ));
        let none = markdown::summary(&report, &[json!([1, 2])], &[], &[]);
        assert!(!none.contains("## Federated run"));
        assert!(
            none.contains("not assessed"),
            "no Shapley scheme: claims are not assessed"
        );
    }
}
