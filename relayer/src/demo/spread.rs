//! `fairshare demo --spread 1,2,3`: the same demo under several seeds, and which of its claims
//! hold in how many of them.
//!
//! A run is deterministic per machine and seed, but its figures move with the seed (data
//! order, the corrupted participant's shuffle, sampled valuation) and, at the float level,
//! with the CPU. So no verdict should rest on one run: every claim the demo makes is checked in
//! each seed's `run.json`, and one that holds in some seeds and not others is reported as
//! **not established**. Figures that move are given as their range over the seeds.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;

use super::DemoArgs;

/// How a claim fared over the seeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// True in every seed.
    Holds,
    /// False in every seed.
    DoesNotHold,
    /// True in some seeds, false in others.
    NotEstablished,
    /// Does not apply to these runs (e.g. no Sybil).
    NotApplicable,
}

impl Verdict {
    fn label(self) -> &'static str {
        match self {
            Self::Holds => "holds",
            Self::DoesNotHold => "does not hold",
            Self::NotEstablished => "**not established**",
            Self::NotApplicable => "n/a",
        }
    }
}

/// One claim over the seeds.
#[derive(Debug, Clone, Serialize)]
pub struct ClaimSpread {
    pub claim: String,
    /// Seeds where it holds, of those where it applies.
    pub holds_in: usize,
    pub of: usize,
    pub verdict: Verdict,
    /// Per seed: `Some(true/false)`, or `None` where it does not apply.
    pub per_seed: Vec<Option<bool>>,
}

/// One figure over the seeds.
#[derive(Debug, Clone, Serialize)]
pub struct FigureSpread {
    pub figure: String,
    pub values: Vec<f64>,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
}

/// The summary (`<out>/spread.json`).
#[derive(Debug, Clone, Serialize)]
pub struct SpreadRecord {
    pub command: String,
    pub seeds: Vec<u64>,
    pub base_seed: Option<u64>,
    /// The evaluators' near-duplicate threshold on the ΔW cosine (set by [`run`]).
    pub duplicate_threshold: Option<f64>,
    pub claims: Vec<ClaimSpread>,
    /// Each participant's verdict letters per round, per seed.
    pub verdicts: Vec<(String, Vec<String>)>,
    pub figures: Vec<FigureSpread>,
}

/// Runs the demo once per seed in `args.spread` into `<out>/seed-<s>/`, then writes
/// `<out>/spread.json` and `<out>/spread.md`.
pub fn run(
    args: &DemoArgs,
    config: Option<&Path>,
    out: &mut dyn std::io::Write,
) -> Result<SpreadRecord> {
    let mut runs = Vec::with_capacity(args.spread.len());
    for (k, &seed) in args.spread.iter().enumerate() {
        let dir = args.out.join(format!("seed-{seed}"));
        writeln!(
            out,
            "spread: seed {seed} ({}/{}) → {}",
            k + 1,
            args.spread.len(),
            dir.display()
        )?;
        let a = DemoArgs {
            spread: Vec::new(),
            seed,
            out: dir.clone(),
            ..args.clone()
        };
        let read = |name: &str| -> Result<Value> {
            let path = dir.join(name);
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
        };
        let mut v = if args.counterfactual {
            super::counterfactual::run(&a, config, out)
                .with_context(|| format!("the counterfactual runs with seed {seed}"))?;
            let mut v = read("run.json")?;
            if let Some(obj) = v.as_object_mut() {
                obj.insert("counterfactual".into(), read("counterfactual.json")?);
            }
            v
        } else {
            super::run(&a, config, out).with_context(|| format!("the run with seed {seed}"))?;
            read("run.json")?
        };
        if let Some(obj) = v.as_object_mut() {
            obj.entry("seed").or_insert(Value::from(seed));
        }
        // A seed's directory keeps its records (what spread.md and the report read).
        // (`--counterfactual` already slimmed its leave-one-out runs.)
        super::counterfactual::keep_only_records(&dir)?;
        runs.push((seed, v));
    }
    let seeds = args
        .spread
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let command = format!(
        "fairshare demo --spread {seeds}{}{}{}{} --out {}",
        args.base_seed
            .map_or(String::new(), |b| format!(" --base-seed {b}")),
        match args.merge {
            crate::operator::MergeRule::Tokens => String::new(),
            m => format!(" --merge {}", m.name()),
        },
        match args.sybil {
            Some(super::participant::SybilKind::Retrain) => " --sybil retrain",
            Some(super::participant::SybilKind::Copy) => " --sybil",
            None => "",
        },
        if args.counterfactual {
            " --counterfactual"
        } else {
            ""
        },
        args.out.display()
    );
    let rec = SpreadRecord {
        duplicate_threshold: Some(args.duplicate_threshold),
        ..summarize(&runs, args.base_seed, command)
    };
    std::fs::create_dir_all(&args.out)?;
    std::fs::write(
        args.out.join("spread.json"),
        serde_json::to_string_pretty(&rec)?,
    )
    .context("writing spread.json")?;
    let md = markdown(&rec);
    std::fs::write(args.out.join("spread.md"), &md).context("writing spread.md")?;
    writeln!(out, "\n{md}")?;
    Ok(rec)
}

fn arr(v: &Value, key: &str) -> Vec<Value> {
    v.get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Every claim of one run (`run.json`): `(claim, Some(holds) | None if it does not apply)`.
pub fn claims(run: &Value) -> Vec<(String, Option<bool>)> {
    let rounds = arr(run, "rounds");
    let people = arr(run, "participants");
    // (round, entry) pairs of a role.
    let entries = |role: &str| -> Vec<Value> {
        rounds
            .iter()
            .flat_map(|r| arr(r, "entries"))
            .filter(|e| text(e, "role") == role)
            .collect()
    };
    let any = |role: &str| !entries(role).is_empty();
    let paid = |e: &Value| e.get("reward").and_then(Value::as_u64).unwrap_or(0) > 0;
    let slashed = |e: &Value| e.get("slash").and_then(Value::as_u64).unwrap_or(0) > 0;
    let verdict = |e: &Value| text(e, "verdict").to_string();
    let honest_committed: Vec<Value> = entries("honest")
        .into_iter()
        .filter(|e| e.get("committed").and_then(Value::as_bool) == Some(true))
        .collect();
    let mut out = vec![
        (
            "every round improves the model (settled ΔU > 0)".to_string(),
            Some(
                !rounds.is_empty()
                    && rounds
                        .iter()
                        .all(|r| num(r, "delta_u").is_some_and(|d| d > 0.0)),
            ),
        ),
        (
            "every honest participant's consensus φ is positive in every round".to_string(),
            Some(
                honest_committed
                    .iter()
                    .all(|e| num(e, "score").is_some_and(|s| s > 0.0)),
            ),
        ),
        (
            "every honest participant is paid in every round (verdict contributor)".to_string(),
            Some(
                honest_committed
                    .iter()
                    .all(|e| verdict(e) == "contributor" && paid(e)),
            ),
        ),
        (
            "no honest participant is slashed".to_string(),
            Some(!entries("honest").iter().any(slashed)),
        ),
        (
            "the free-rider is never paid".to_string(),
            any("free_rider").then(|| !entries("free_rider").iter().any(paid)),
        ),
        (
            "the free-rider is slashed at least once".to_string(),
            any("free_rider").then(|| entries("free_rider").iter().any(slashed)),
        ),
        (
            "the participant with corrupted data is never paid".to_string(),
            any("corrupted").then(|| !entries("corrupted").iter().any(paid)),
        ),
        (
            "the dropout is slashed for its no-show".to_string(),
            any("dropout").then(|| {
                entries("dropout")
                    .iter()
                    .any(|e| verdict(e) == "no_show" && slashed(e))
            }),
        ),
    ];
    // Honest totals in the order of data size (ties in either break the claim).
    let honest: Vec<(f64, f64)> = people
        .iter()
        .filter(|p| text(p, "role") == "honest")
        .map(|p| {
            (
                num(p, "data_tokens").unwrap_or(0.0),
                num(p, "reward").unwrap_or(0.0),
            )
        })
        .collect();
    out.push((
        "honest participants' total rewards follow their data size".to_string(),
        (honest.len() >= 2).then(|| {
            let mut by_data = honest.clone();
            by_data.sort_by(|a, b| a.0.total_cmp(&b.0));
            by_data.windows(2).all(|w| w[0].1 < w[1].1)
        }),
    ));
    let sybil: Vec<Value> = rounds
        .iter()
        .filter_map(|r| r.get("sybil").filter(|s| !s.is_null()).cloned())
        .collect();
    out.push((
        "the Sybil's identities are grouped in every round".to_string(),
        (!sybil.is_empty()).then(|| {
            sybil
                .iter()
                .all(|s| s.get("grouped").and_then(Value::as_bool) == Some(true))
        }),
    ));
    out.push((
        "the Sybil's identities earn no more together than one identity would".to_string(),
        (!sybil.is_empty()).then(|| {
            let total: f64 = sybil.iter().filter_map(|s| num(s, "reward_total")).sum();
            let one: f64 = sybil.iter().filter_map(|s| num(s, "reward_one")).sum();
            total <= one
        }),
    ));
    if let Some(cf) = run.get("counterfactual") {
        let schemes = arr(cf, "schemes");
        let rho = |name: &str| {
            schemes
                .iter()
                .find(|s| text(s, "scheme") == name)
                .and_then(|s| num(s, "spearman"))
        };
        let paid = rho("shapley");
        out.push((
            "Shapley rewards rank participants by whole-run counterfactual contribution \
             (Spearman > 0)"
                .to_string(),
            paid.map(|r| r > 0.0),
        ));
        for s in &schemes {
            let name = text(s, "scheme");
            if name == "shapley" || name == "shapley_score" {
                continue;
            }
            out.push((
                format!(
                    "Shapley rewards rank by counterfactual contribution at least as well as \
                     {name} (Spearman)"
                ),
                paid.zip(num(s, "spearman")).map(|(a, b)| a >= b),
            ));
        }
    }
    let dup = run.get("duplicates");
    out.push((
        "a similarity threshold separates same-data from distinct-data update pairs".to_string(),
        dup.filter(|d| !arr(d, "same_data").is_empty())
            .map(|d| d.get("calibrated").and_then(|c| c.get("Ok")).is_some()),
    ));
    out
}

/// Verdict letters of each participant per round (C contributor, U unpaid, F free-rider,
/// H harmful, N no-show, · not joined, ? not settled).
fn verdict_letters(run: &Value) -> Vec<(String, String)> {
    let rounds = arr(run, "rounds");
    arr(run, "participants")
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let letters = rounds
                .iter()
                .map(|r| {
                    let e = arr(r, "entries").get(i).cloned().unwrap_or(Value::Null);
                    match text(&e, "verdict") {
                        "contributor" => 'C',
                        "unpaid" => 'U',
                        "free_rider" => 'F',
                        "harmful" => 'H',
                        "no_show" => 'N',
                        _ if e.get("joined").and_then(Value::as_bool) != Some(true) => '·',
                        _ => '?',
                    }
                })
                .collect();
            (text(p, "name").to_string(), letters)
        })
        .collect()
}

/// The figures that move with the seed.
fn figures(run: &Value) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    let rounds = arr(run, "rounds");
    for r in &rounds {
        let k = num(r, "round").unwrap_or(0.0);
        out.push((
            format!("ΔU round {k}"),
            num(r, "delta_u").unwrap_or(f64::NAN),
        ));
    }
    if let (Some(first), Some(last)) = (rounds.first(), rounds.last()) {
        out.push((
            "validation loss before round 1".into(),
            num(first, "validation_loss_before").unwrap_or(f64::NAN),
        ));
        out.push((
            "validation loss after the last round".into(),
            num(last, "validation_loss_after").unwrap_or(f64::NAN),
        ));
    }
    for p in arr(run, "participants") {
        out.push((
            format!("{} total reward (uFAIR)", text(&p, "name")),
            num(&p, "reward").unwrap_or(f64::NAN),
        ));
    }
    let same = run
        .get("duplicates")
        .map(|d| arr(d, "same_data"))
        .unwrap_or_default();
    if !same.is_empty() {
        let min = same
            .iter()
            .filter_map(Value::as_f64)
            .fold(f64::INFINITY, f64::min);
        out.push(("lowest same-data ΔW cosine".into(), min));
    }
    let distinct = run
        .get("duplicates")
        .map(|d| arr(d, "distinct_data"))
        .unwrap_or_default();
    if !distinct.is_empty() {
        let max = distinct
            .iter()
            .filter_map(Value::as_f64)
            .fold(f64::NEG_INFINITY, f64::max);
        out.push(("highest distinct-data ΔW cosine".into(), max));
    }
    if let Some(cf) = run.get("counterfactual") {
        for s in arr(cf, "schemes") {
            out.push((
                format!(
                    "Spearman(reward, counterfactual contribution): {}",
                    text(&s, "scheme")
                ),
                num(&s, "spearman").unwrap_or(f64::NAN),
            ));
        }
        for p in arr(cf, "participants") {
            out.push((
                format!("{} counterfactual contribution", text(&p, "name")),
                num(&p, "contribution").unwrap_or(f64::NAN),
            ));
        }
    }
    out.push((
        "wall time (s)".into(),
        num(run, "elapsed_s").unwrap_or(f64::NAN),
    ));
    out
}

/// The claims, verdict letters and figures of `runs` (`(seed, run.json)`) over the seeds.
pub fn summarize(runs: &[(u64, Value)], base_seed: Option<u64>, command: String) -> SpreadRecord {
    let per_run: Vec<Vec<(String, Option<bool>)>> = runs.iter().map(|(_, v)| claims(v)).collect();
    let names: Vec<String> = per_run
        .first()
        .map(|c| c.iter().map(|(n, _)| n.clone()).collect())
        .unwrap_or_default();
    let claims = names
        .iter()
        .map(|claim| {
            let per_seed: Vec<Option<bool>> = per_run
                .iter()
                .map(|c| c.iter().find(|(n, _)| n == claim).and_then(|(_, v)| *v))
                .collect();
            let applies: Vec<bool> = per_seed.iter().filter_map(|x| *x).collect();
            let holds_in = applies.iter().filter(|x| **x).count();
            let verdict = if applies.is_empty() {
                Verdict::NotApplicable
            } else if holds_in == applies.len() {
                Verdict::Holds
            } else if holds_in == 0 {
                Verdict::DoesNotHold
            } else {
                Verdict::NotEstablished
            };
            ClaimSpread {
                claim: claim.clone(),
                holds_in,
                of: applies.len(),
                verdict,
                per_seed,
            }
        })
        .collect();
    let letters: Vec<Vec<(String, String)>> =
        runs.iter().map(|(_, v)| verdict_letters(v)).collect();
    let verdicts = letters
        .first()
        .map(|first| {
            first
                .iter()
                .enumerate()
                .map(|(i, (name, _))| {
                    (
                        name.clone(),
                        letters
                            .iter()
                            .map(|l| l.get(i).map(|x| x.1.clone()).unwrap_or_default())
                            .collect(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let per_fig: Vec<Vec<(String, f64)>> = runs.iter().map(|(_, v)| figures(v)).collect();
    let figures = per_fig
        .first()
        .map(|first| {
            first
                .iter()
                .map(|(name, _)| {
                    let values: Vec<f64> = per_fig
                        .iter()
                        .map(|f| f.iter().find(|x| x.0 == *name).map_or(f64::NAN, |x| x.1))
                        .collect();
                    let finite: Vec<f64> =
                        values.iter().copied().filter(|x| x.is_finite()).collect();
                    let (min, max) = finite
                        .iter()
                        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                            (a.min(x), b.max(x))
                        });
                    let mean = finite.iter().sum::<f64>() / finite.len().max(1) as f64;
                    FigureSpread {
                        figure: name.clone(),
                        values,
                        min,
                        max,
                        mean,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    SpreadRecord {
        duplicate_threshold: None,
        command,
        seeds: runs.iter().map(|(s, _)| *s).collect(),
        base_seed,
        claims,
        verdicts,
        figures,
    }
}

/// The summary as Markdown.
pub fn markdown(rec: &SpreadRecord) -> String {
    let n = rec.seeds.len();
    let seeds: Vec<String> = rec.seeds.iter().map(u64::to_string).collect();
    let mut s = format!(
        "## The demo over {n} seeds ({})\n\nReproduce: `{}`. {}\n\n",
        seeds.join(", "),
        rec.command,
        match rec.base_seed {
            Some(b) => format!(
                "The base model is the same in every run (pretrained with seed {b}); the seed \
                 varies the federated run only: data order, the corrupted participant's \
                 shuffle and sampled valuation (the LoRA initialisation is the round's public \
                 seed)."
            ),
            None => "Each seed also pretrains its own base model.".to_string(),
        }
    );
    s.push_str("| claim | holds in | verdict |\n|---|---:|---|\n");
    for c in &rec.claims {
        s.push_str(&format!(
            "| {} | {} of {} | {} |\n",
            c.claim,
            c.holds_in,
            c.of,
            c.verdict.label()
        ));
    }
    s.push_str(&format!(
        "\nVerdicts per round (C contributor, U unpaid, F free-rider, H harmful, N no-show, \
         · absent), by seed:\n\n| participant | {} | same in every seed |\n|---|{}---|\n",
        seeds.join(" | "),
        "---|".repeat(n)
    ));
    for (name, v) in &rec.verdicts {
        let same = v.windows(2).all(|w| w[0] == w[1]);
        s.push_str(&format!(
            "| {name} | {} | {} |\n",
            v.join(" | "),
            if same { "yes" } else { "**no**" }
        ));
    }
    s.push_str(&format!(
        "\nFigures that move with the seed:\n\n| figure | {} | min | max |\n|---|{}---:|---:|\n",
        seeds.join(" | "),
        "---:|".repeat(n)
    ));
    for f in &rec.figures {
        let vals: Vec<String> = f.values.iter().map(|v| fmt_fig(*v)).collect();
        s.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            f.figure,
            vals.join(" | "),
            fmt_fig(f.min),
            fmt_fig(f.max)
        ));
    }
    s.push_str(
        "\nOn one machine a seed gives the same run every time; another CPU changes the \
         floating-point sums and so, like a new seed, every figure above a little. A claim \
         marked not established can go either way on a rerun and the report must not rest on it.\n",
    );
    s
}

fn fmt_fig(v: f64) -> String {
    if !v.is_finite() {
        "—".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.4}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(delta_u2: f64, alice_score2: f64, fr_reward: u64) -> Value {
        let entry = |name: &str, role: &str, score: f64, reward: u64, verdict: &str| {
            json!({"name": name, "role": role, "joined": true, "committed": true,
                   "score": score, "reward": reward, "slash": 0, "verdict": verdict})
        };
        json!({
            "elapsed_s": 30.0,
            "participants": [
                {"name": "alice", "role": "honest", "data_tokens": 200, "reward": 300},
                {"name": "bob", "role": "honest", "data_tokens": 100, "reward": 100},
                {"name": "dave", "role": "free_rider", "data_tokens": 100, "reward": fr_reward},
            ],
            "rounds": [
                {"round": 1, "delta_u": 0.02, "validation_loss_before": 4.0,
                 "validation_loss_after": 3.9, "sybil": null, "entries": [
                    entry("alice", "honest", 0.01, 200, "contributor"),
                    entry("bob", "honest", 0.005, 100, "contributor"),
                    entry("dave", "free_rider", 0.0, fr_reward, "unpaid")]},
                {"round": 2, "delta_u": delta_u2, "validation_loss_before": 3.9,
                 "validation_loss_after": 3.8, "sybil": null, "entries": [
                    entry("alice", "honest", alice_score2, 100,
                          if alice_score2 > 0.0 { "contributor" } else { "unpaid" }),
                    entry("bob", "honest", 0.001, 0, "contributor"),
                    entry("dave", "free_rider", 0.0, 0, "unpaid")]},
            ],
            "duplicates": {"same_data": [], "distinct_data": [0.1]}
        })
    }

    #[test]
    fn a_claim_that_differs_between_seeds_is_not_established() {
        let runs = vec![(1, run(0.01, 0.004, 0)), (2, run(-0.001, -0.002, 0))];
        let rec = summarize(&runs, Some(7), "cmd".into());
        let get = |prefix: &str| {
            rec.claims
                .iter()
                .find(|c| c.claim.starts_with(prefix))
                .unwrap_or_else(|| panic!("claim {prefix}"))
        };
        let du = get("every round improves");
        assert_eq!(
            (du.holds_in, du.of, du.verdict),
            (1, 2, Verdict::NotEstablished)
        );
        assert_eq!(get("the free-rider is never paid").verdict, Verdict::Holds);
        assert_eq!(
            get("the free-rider is slashed").verdict,
            Verdict::DoesNotHold
        );
        // bob is paid nothing in round 2 although a contributor: the claim fails everywhere.
        assert_eq!(
            get("every honest participant is paid").verdict,
            Verdict::DoesNotHold
        );
        assert_eq!(
            get("the Sybil's identities are grouped").verdict,
            Verdict::NotApplicable
        );
        assert_eq!(get("honest participants' total").verdict, Verdict::Holds);
        let alice = &rec.verdicts[0];
        assert_eq!(
            alice,
            &(
                "alice".to_string(),
                vec!["CC".to_string(), "CU".to_string()]
            )
        );
        let du2 = rec
            .figures
            .iter()
            .find(|f| f.figure == "ΔU round 2")
            .expect("figure");
        assert_eq!((du2.min, du2.max), (-0.001, 0.01));
        // With counterfactuals: Shapley beats data size in one seed only.
        let with_cf = |mut v: Value, size_rho: f64| {
            v["counterfactual"] = json!({"schemes": [
                {"scheme": "shapley", "spearman": 0.8},
                {"scheme": "data_size", "spearman": size_rho}],
                "participants": [{"name": "alice", "contribution": 0.01}]});
            v
        };
        let runs = vec![
            (1, with_cf(run(0.01, 0.004, 0), 0.9)),
            (2, with_cf(run(0.01, 0.004, 0), 0.5)),
        ];
        let cf = summarize(&runs, None, "cmd".into());
        let claim = |prefix: &str| {
            cf.claims
                .iter()
                .find(|c| c.claim.starts_with(prefix))
                .map(|c| c.verdict)
        };
        assert_eq!(
            claim("Shapley rewards rank participants"),
            Some(Verdict::Holds)
        );
        assert_eq!(
            claim(
                "Shapley rewards rank by counterfactual contribution at least as well as data_size"
            ),
            Some(Verdict::NotEstablished)
        );
        let md = markdown(&rec);
        assert!(
            md.contains("**not established**") && md.contains("| alice | CC | CU | **no** |"),
            "{md}"
        );
    }
}
