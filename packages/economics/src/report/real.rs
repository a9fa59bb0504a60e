//! The report's "Real training" section: what the federated demo on a real (tiny) model shows
//! over several seeds and against its whole-run leave-one-out counterfactuals, read from the
//! demo's machine-readable records (`spread.json` of `fairshare demo --spread`,
//! `counterfactual.json` of `fairshare demo --counterfactual`). Nothing here is computed from
//! the simulation, and no figure is filled in when a record is missing: the section then says
//! which command writes it.
//!
//! Verdicts across seeds: a claim **holds** only if it holds in every seed (of at least two),
//! **does not hold** if it fails in every seed, and is **not established** when seeds disagree.
//! A single seed gives no verdict across seeds.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::ReportError;

/// A record read for the section, or the reason it is absent.
#[derive(Debug, Clone)]
pub struct Input {
    /// Where it was looked for.
    pub path: PathBuf,
    /// The command that writes it (shown when it is absent).
    pub produced_by: String,
    /// The parsed JSON, or why it could not be read.
    pub record: Result<Value, String>,
}

impl Input {
    /// Reads `path` (absent or unparsable files become an explained `Err`).
    pub fn read(path: &Path, produced_by: &str) -> Self {
        let record = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| format!("{} is not a JSON record ({e})", path.display())),
            Err(e) => Err(format!("{} is absent ({e})", path.display())),
        };
        Self {
            path: path.to_path_buf(),
            produced_by: produced_by.to_string(),
            record,
        }
    }
}

/// How a claim fared over seeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedVerdict {
    /// True in every seed (at least two).
    Holds,
    /// False in every seed (at least two).
    DoesNotHold,
    /// True in some seeds, false in others.
    NotEstablished,
    /// Only one seed: no verdict across seeds.
    OneSeed(bool),
    /// Applies to no seed.
    NotApplicable,
}

impl SeedVerdict {
    /// The verdict of per-seed outcomes (`None`: the claim does not apply in that seed).
    pub fn of(per_seed: &[Option<bool>]) -> Self {
        let known: Vec<bool> = per_seed.iter().flatten().copied().collect();
        match known.as_slice() {
            [] => Self::NotApplicable,
            [one] => Self::OneSeed(*one),
            all if all.iter().all(|&b| b) => Self::Holds,
            all if all.iter().all(|&b| !b) => Self::DoesNotHold,
            _ => Self::NotEstablished,
        }
    }

    /// The label printed in the report.
    pub fn label(self) -> &'static str {
        match self {
            Self::Holds => "holds",
            Self::DoesNotHold => "does not hold",
            Self::NotEstablished => "**not established**",
            Self::OneSeed(true) => "true in the one seed run (no verdict across seeds)",
            Self::OneSeed(false) => "false in the one seed run (no verdict across seeds)",
            Self::NotApplicable => "n/a",
        }
    }
}

fn arr<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

/// Mean and sample standard deviation (0 for one value).
fn mean_sd(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n.max(1.0);
    let sd = if xs.len() > 1 {
        (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    (mean, sd)
}

/// A figure with enough digits for its size.
fn fig(x: f64) -> String {
    let a = x.abs();
    if !x.is_finite() {
        "n/a".into()
    } else if a >= 1000.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 0.1 {
        format!("{x:.3}")
    } else {
        format!("{x:.4}")
    }
}

/// Whether a figure moves between seeds (beyond float noise).
fn moves(values: &[f64]) -> bool {
    let finite: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    let (lo, hi) = finite
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| {
            (l.min(x), h.max(x))
        });
    finite.len() > 1 && hi - lo > 1e-9 * lo.abs().max(hi.abs()).max(1.0)
}

/// The near-duplicate threshold a record was made with, in words.
fn threshold(rec: &Value) -> String {
    num(rec, "duplicate_threshold").map_or(
        "near-duplicate threshold not in this record (written before records kept it)".to_string(),
        |t| format!("near-duplicate threshold {t}"),
    )
}

/// The value after `flag` in a command line.
fn flag<'a>(command: &'a str, flag: &str) -> Option<&'a str> {
    let mut it = command.split_whitespace();
    it.by_ref().find(|w| *w == flag)?;
    it.next()
}

/// A command with the given flags (and their values) removed: what identifies a configuration.
fn without_flags(command: &str, flags: &[&str]) -> String {
    let mut out = Vec::new();
    let mut it = command.split_whitespace();
    while let Some(w) = it.next() {
        if flags.contains(&w) {
            it.next();
        } else {
            out.push(w);
        }
    }
    out.join(" ")
}

/// One counterfactual record, flattened.
#[derive(Debug, Clone)]
struct Counterfactual {
    command: String,
    seed: String,
    merge: String,
    /// The near-duplicate threshold, in words.
    threshold: String,
    /// The configuration without seed, merge rule and output directory.
    key: String,
    n: usize,
    negative: usize,
    /// Honest parties among the negative ones.
    negative_honest: usize,
    /// `(scheme, spearman, kendall)`.
    schemes: Vec<(String, Option<f64>, Option<f64>)>,
}

impl Counterfactual {
    fn from(v: &Value) -> Option<Self> {
        let command = text(v, "command").to_string();
        if command.is_empty() || arr(v, "schemes").is_empty() {
            return None;
        }
        let merge = v
            .get("merge")
            .and_then(Value::as_str)
            .or_else(|| flag(&command, "--merge"))
            .unwrap_or("tokens")
            .to_string();
        let people = arr(v, "participants");
        Some(Self {
            seed: flag(&command, "--seed").unwrap_or("?").to_string(),
            key: without_flags(&command, &["--seed", "--merge", "--out"]),
            merge,
            threshold: threshold(v),
            n: people.len(),
            negative: people
                .iter()
                .filter(|p| num(p, "contribution").is_some_and(|c| c < 0.0))
                .count(),
            negative_honest: people
                .iter()
                .filter(|p| {
                    text(p, "role") == "honest" && num(p, "contribution").is_some_and(|c| c < 0.0)
                })
                .count(),
            schemes: arr(v, "schemes")
                .iter()
                .map(|s| {
                    (
                        text(s, "scheme").to_string(),
                        num(s, "spearman"),
                        num(s, "kendall"),
                    )
                })
                .collect(),
            command,
        })
    }

    fn rank(&self, scheme: &str, kendall: bool) -> Option<f64> {
        self.schemes
            .iter()
            .find(|s| s.0 == scheme)
            .and_then(|s| if kendall { s.2 } else { s.1 })
    }

    /// Baselines: every scheme but the Shapley ones.
    fn baselines(&self) -> Vec<String> {
        self.schemes
            .iter()
            .map(|s| s.0.clone())
            .filter(|s| !s.starts_with("shapley"))
            .collect()
    }
}

/// The claims checked on each counterfactual record: `(claim, outcome)`.
fn ranking_claims(c: &Counterfactual) -> Vec<(String, Option<bool>)> {
    let mut out = vec![(
        "Shapley as paid ranks parties by counterfactual contribution (Spearman > 0)".to_string(),
        c.rank("shapley", false).map(|r| r > 0.0),
    )];
    for b in c.baselines() {
        for (kendall, name) in [(false, "Spearman"), (true, "Kendall τ")] {
            out.push((
                format!("Shapley ranks at least as well as {b} ({name})"),
                c.rank("shapley", kendall)
                    .zip(c.rank(&b, kendall))
                    .map(|(s, x)| s >= x),
            ));
        }
    }
    out
}

/// The section, from the records found (`spreads`: each `spread.json` with the counterfactual
/// records of its seeds; `counterfactuals`: stand-alone `counterfactual.json` records).
pub fn section(spreads: &[Input], counterfactuals: &[Input]) -> String {
    let mut out = String::from(
        "## Real training (the federated demo over seeds, and its counterfactuals)\n\n",
    );
    out.push_str(
        "Everything above is simulated. This section states what the federated demo shows on \
         a real (tiny) model, read from the demo's records; it computes no figure of its own \
         beyond means and spreads over seeds. A claim **holds** only if it holds in every seed \
         (of at least two), **does not hold** if it fails in every seed, and is **not \
         established** when seeds disagree; one seed gives no verdict across seeds.\n\n",
    );
    let missing: Vec<&Input> = spreads
        .iter()
        .chain(counterfactuals)
        .filter(|i| i.record.is_err())
        .collect();
    for m in &missing {
        let why = m.record.as_ref().err().cloned().unwrap_or_default();
        let _ = writeln!(out, "- Not stated: {why}. `{}` writes it.", m.produced_by);
    }
    if !missing.is_empty() {
        out.push('\n');
    }
    let mut short: Vec<String> = Vec::new();
    let mut body = String::new();
    let mut all_cf: Vec<Counterfactual> = Vec::new();
    for input in spreads {
        let Ok(rec) = &input.record else { continue };
        spread_part(&mut body, &mut short, input, rec);
        let dir = input.path.parent().unwrap_or(Path::new("."));
        for seed in arr(rec, "seeds") {
            let p = dir
                .join(format!("seed-{}", seed.as_u64().unwrap_or(0)))
                .join("counterfactual.json");
            if let Ok(bytes) = std::fs::read(&p) {
                if let Some(c) = serde_json::from_slice::<Value>(&bytes)
                    .ok()
                    .as_ref()
                    .and_then(Counterfactual::from)
                {
                    all_cf.push(c);
                }
            }
        }
    }
    for input in counterfactuals {
        if let Ok(rec) = &input.record {
            match Counterfactual::from(rec) {
                Some(c) => all_cf.push(c),
                None => {
                    let _ = writeln!(
                        body,
                        "- {} has no command or schemes: not a counterfactual record; skipped.\n",
                        input.path.display()
                    );
                }
            }
        }
    }
    counterfactual_part(&mut body, &mut short, &all_cf);
    if !short.is_empty() {
        out.push_str("In short:\n\n");
        for line in &short {
            let _ = writeln!(out, "- {line}");
        }
        out.push('\n');
    }
    out.push_str(&body);
    out
}

/// One spread: claims with their verdict across seeds, and the figures that move.
fn spread_part(out: &mut String, short: &mut Vec<String>, input: &Input, rec: &Value) {
    let seeds: Vec<String> = arr(rec, "seeds").iter().map(|s| s.to_string()).collect();
    let _ = writeln!(
        out,
        "### Over seeds {}: `{}`\n",
        seeds.join(", "),
        text(rec, "command")
    );
    let _ = writeln!(
        out,
        "From `{}`; {}{}.\n",
        input.path.display(),
        threshold(rec),
        num(rec, "base_seed").map_or(String::new(), |b| format!(
            "; one pretrained base (base seed {b}) for every seed, so the seed varies only the \
             federated run (data order, the corrupted participant's shuffle, sampled valuation)"
        ))
    );
    out.push_str("| claim | per seed | holds in | verdict |\n|---|---|---:|---|\n");
    let mut established = 0;
    let mut unsettled = Vec::new();
    for c in arr(rec, "claims") {
        let per: Vec<Option<bool>> = arr(c, "per_seed").iter().map(Value::as_bool).collect();
        let v = SeedVerdict::of(&per);
        let marks: String = per
            .iter()
            .map(|p| match p {
                Some(true) => '✓',
                Some(false) => '✗',
                None => '–',
            })
            .collect();
        let known = per.iter().flatten().count();
        let yes = per.iter().flatten().filter(|&&b| b).count();
        let _ = writeln!(
            out,
            "| {} | {marks} | {yes} of {known} | {} |",
            text(c, "claim"),
            v.label()
        );
        match v {
            SeedVerdict::Holds | SeedVerdict::DoesNotHold => established += 1,
            SeedVerdict::NotEstablished => unsettled.push(text(c, "claim").to_string()),
            _ => {}
        }
    }
    short.push(format!(
        "Seeds {} of `{}`: {established} claims have the same outcome in every seed; not \
         established: {}.",
        seeds.join(", "),
        text(rec, "command"),
        if unsettled.is_empty() {
            "none".to_string()
        } else {
            unsettled.join("; ")
        }
    ));
    let _ = writeln!(
        out,
        "\n{established} claims have the same outcome in every seed; {} {}.\n",
        unsettled.len(),
        if unsettled.is_empty() {
            "are not established".to_string()
        } else {
            format!("are not established: {}", unsettled.join("; "))
        }
    );
    let figures = arr(rec, "figures");
    if figures.is_empty() {
        return;
    }
    out.push_str(
        "Figures over the seeds (mean ± sample sd, and the range). \"Moves\" marks a figure that \
         differs between seeds. A different CPU changes float rounding, which perturbs a run as a \
         seed change does at a smaller scale, so the figures that move with the seed are the \
         ones to expect to move with the machine, and those equal in every seed (counts, \
         rewards fixed by verdicts) should not; wall times move with the machine's speed and \
         load. This is inferred from runs on one machine: the same seed on one machine gives \
         the same run.\n\n",
    );
    out.push_str("| figure | mean ± sd | min – max | moves with the seed (so with the machine) |\n|---|---:|---:|---|\n");
    for f in figures {
        let values: Vec<f64> = arr(f, "values").iter().filter_map(Value::as_f64).collect();
        if values.is_empty() {
            continue;
        }
        let (m, sd) = mean_sd(&values);
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let name = text(f, "figure");
        let word = if name.contains("wall time") {
            "yes (speed and load)"
        } else if moves(&values) {
            "yes"
        } else {
            "no"
        };
        let _ = writeln!(
            out,
            "| {name} | {} ± {} | {} – {} | {word} |",
            fig(m),
            fig(sd),
            fig(lo),
            fig(hi)
        );
    }
    out.push('\n');
}

/// The counterfactual records: rank agreement per record, verdicts across seeds per
/// configuration, and the merge-rule comparison.
fn counterfactual_part(out: &mut String, short: &mut Vec<String>, all: &[Counterfactual]) {
    if all.is_empty() {
        return;
    }
    out.push_str("### Rewards against whole-run counterfactual contributions\n\n");
    out.push_str(
        "A participant's counterfactual contribution is the test loss of the federated run \
         played without it minus that of the full run, on text no one trains or validates on. \
         Each scheme's cumulative rewards of the full run (Shapley as paid; the baselines split \
         the same per-round pools, under the same verdicts and slashes) are ranked against it: \
         Spearman ρ and Kendall τ-b, as the demo computed them.\n\n",
    );
    let mut schemes: Vec<String> = Vec::new();
    for c in all {
        for s in &c.schemes {
            if !schemes.contains(&s.0) {
                schemes.push(s.0.clone());
            }
        }
    }
    out.push_str("| seed | merge | parties (contribution < 0; of them honest) |");
    for s in &schemes {
        let _ = write!(out, " {s} ρ / τ |");
    }
    out.push_str(" reproduce |\n|---|---|---:|");
    for _ in &schemes {
        out.push_str("---:|");
    }
    out.push_str("---|\n");
    for c in all {
        let _ = write!(
            out,
            "| {} | {} | {} ({}; {}) |",
            c.seed, c.merge, c.n, c.negative, c.negative_honest
        );
        for s in &schemes {
            let f = |x: Option<f64>| x.map_or("–".to_string(), |x| format!("{x:+.2}"));
            let _ = write!(out, " {} / {} |", f(c.rank(s, false)), f(c.rank(s, true)));
        }
        let _ = writeln!(out, " `{}` |", c.command);
    }
    out.push('\n');

    // Verdicts across seeds, per configuration and merge rule.
    let mut groups: Vec<(String, String)> = Vec::new();
    for c in all {
        let g = (c.key.clone(), c.merge.clone());
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    for (key, merge) in &groups {
        let members: Vec<&Counterfactual> = all
            .iter()
            .filter(|c| &c.key == key && &c.merge == merge)
            .collect();
        let seeds: Vec<&str> = members.iter().map(|c| c.seed.as_str()).collect();
        let mut thresholds: Vec<&str> = members.iter().map(|c| c.threshold.as_str()).collect();
        thresholds.dedup();
        let _ = writeln!(
            out,
            "**`{key}`, merge {merge}, seed{} {}** ({}):\n",
            if seeds.len() == 1 { "" } else { "s" },
            seeds.join(", "),
            thresholds.join("; ")
        );
        let Some(first) = members.first() else {
            continue;
        };
        let mut verdicts = Vec::new();
        let (mut true_in_one, mut false_in_one) = (Vec::new(), Vec::new());
        let several = members.len() > 1;
        if several {
            out.push_str("| claim | per seed | verdict |\n|---|---|---|\n");
        }
        for (k, (claim, _)) in ranking_claims(first).iter().enumerate() {
            let per: Vec<Option<bool>> = members
                .iter()
                .map(|c| ranking_claims(c).get(k).and_then(|x| x.1))
                .collect();
            match SeedVerdict::of(&per) {
                SeedVerdict::OneSeed(true) => true_in_one.push(claim.clone()),
                SeedVerdict::OneSeed(false) => false_in_one.push(claim.clone()),
                v => verdicts.push(format!("{claim}: {}", v.label())),
            }
            if !several {
                continue;
            }
            let marks: String = per
                .iter()
                .map(|p| match p {
                    Some(true) => '✓',
                    Some(false) => '✗',
                    None => '–',
                })
                .collect();
            let _ = writeln!(
                out,
                "| {claim} | {marks} | {} |",
                SeedVerdict::of(&per).label()
            );
        }
        if several {
            short.push(format!(
                "`{key}`, merge {merge}, seeds {}: {}.",
                seeds.join(", "),
                verdicts.join("; ")
            ));
        } else {
            let list = |v: &[String]| {
                if v.is_empty() {
                    "none".to_string()
                } else {
                    v.join("; ")
                }
            };
            let line = format!(
                "one seed, so no verdict across seeds. True: {}. False: {}.",
                list(&true_in_one),
                list(&false_in_one)
            );
            let _ = writeln!(out, "{line}");
            short.push(format!(
                "`{key}`, merge {merge}, seed {}: {line}",
                seeds.join(", ")
            ));
        }
        if members.len() > 1 {
            out.push_str("\nSpearman over the seeds (mean ± sd, range):");
            for s in &schemes {
                let xs: Vec<f64> = members.iter().filter_map(|c| c.rank(s, false)).collect();
                if xs.is_empty() {
                    continue;
                }
                let (m, sd) = mean_sd(&xs);
                let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let _ = write!(out, " {s} {m:+.2} ± {sd:.2} [{lo:+.2}, {hi:+.2}];");
            }
            out.push('\n');
        }
        out.push('\n');
    }
    merge_comparison(out, short, all);
}

/// Records that differ only in the merge rule: does the ranking result change with it?
fn merge_comparison(out: &mut String, short: &mut Vec<String>, all: &[Counterfactual]) {
    let mut keys: Vec<(String, String)> = Vec::new();
    for c in all {
        let k = (c.key.clone(), c.seed.clone());
        let rules = all
            .iter()
            .filter(|d| d.key == k.0 && d.seed == k.1)
            .map(|d| d.merge.as_str())
            .collect::<std::collections::BTreeSet<_>>();
        if rules.len() > 1 && !keys.contains(&k) {
            keys.push(k);
        }
    }
    for (key, seed) in keys {
        let runs: Vec<&Counterfactual> = all
            .iter()
            .filter(|d| d.key == key && d.seed == seed)
            .collect();
        let _ = writeln!(
            out,
            "**Merge rule, `{key}` at seed {seed}.** The global model's merge weights decide \
             how much removing one party changes the weight of the others (FedAvg on tokens \
             renormalises over who is merged, so a weaker update dilutes the stronger ones and \
             a whole-run leave-one-out charges that to it; `roster` gives each merged update a \
             fixed 1/R, so nobody's weight depends on who else is merged):\n"
        );
        let baselines = runs.first().map(|c| c.baselines()).unwrap_or_default();
        out.push_str("| merge | contribution < 0 (honest) | Shapley ρ / τ |");
        for b in &baselines {
            let _ = write!(out, " {b} ρ / τ |");
        }
        out.push_str(
            " Shapley ≥ every baseline (ρ) | Shapley ≥ every baseline (τ) |\n|---|---:|---:|",
        );
        for _ in &baselines {
            out.push_str("---:|");
        }
        out.push_str("---|---|\n");
        let pair = |c: &Counterfactual, s: &str| {
            let f = |x: Option<f64>| x.map_or("–".to_string(), |x| format!("{x:+.2}"));
            format!("{} / {}", f(c.rank(s, false)), f(c.rank(s, true)))
        };
        let mut outcomes = Vec::new();
        for c in &runs {
            let claims = ranking_claims(c);
            let all_of = |name: &str| {
                let rel: Vec<Option<bool>> = claims
                    .iter()
                    .filter(|(t, _)| t.contains(name) && t.contains("at least as well"))
                    .map(|x| x.1)
                    .collect();
                (!rel.is_empty() && rel.iter().all(Option::is_some))
                    .then(|| rel.iter().all(|x| *x == Some(true)))
            };
            let rho = all_of("(Spearman)");
            let tau = all_of("(Kendall τ)");
            outcomes.push((c.merge.clone(), rho, tau));
            let yn = |x: Option<bool>| match x {
                Some(true) => "yes",
                Some(false) => "no",
                None => "n/a",
            };
            let _ = write!(
                out,
                "| {} | {} of {} ({}) | {} |",
                c.merge,
                c.negative,
                c.n,
                c.negative_honest,
                pair(c, "shapley")
            );
            for b in &baselines {
                let _ = write!(out, " {} |", pair(c, b));
            }
            let _ = writeln!(out, " {} | {} |", yn(rho), yn(tau));
        }
        let changes = outcomes.windows(2).any(|w| w[0].1 != w[1].1);
        let changes_tau = outcomes.windows(2).any(|w| w[0].2 != w[1].2);
        let word = |c: bool| if c { "changes" } else { "does not change" };
        let yn = |x: Option<bool>| match x {
            Some(true) => "yes",
            Some(false) => "no",
            None => "n/a",
        };
        let line = format!(
            "Shapley ranks at least as well as every baseline, ρ / τ: {}; the ρ result {} and \
             the τ result {} with the merge rule (one seed: suggestive, not established).",
            outcomes
                .iter()
                .map(|(m, r, t)| format!("{m} {} / {}", yn(*r), yn(*t)))
                .collect::<Vec<_>>()
                .join(", "),
            word(changes),
            word(changes_tau)
        );
        let _ = writeln!(out, "\n{line}\n");
        short.push(format!("Merge rule at seed {seed} (`{key}`): {line}"));
    }
}

/// Places `section` in `summary` before the federated runs (or the definitions; else at the
/// end), replacing an earlier "Real training" section.
pub fn insert(summary: &str, section: &str) -> String {
    const HEAD: &str = "## Real training";
    let mut base = summary.to_string();
    if let Some(i) = base.find(HEAD) {
        let rest = &base[i + HEAD.len()..];
        let end = rest
            .find("\n## ")
            .map_or(base.len(), |j| i + HEAD.len() + j + 1);
        base.replace_range(i..end, "");
    }
    let at = ["## Federated run", "## Definitions"]
        .iter()
        .find_map(|h| base.find(h))
        .unwrap_or(base.len());
    let mut sec = section.to_string();
    if !sec.ends_with("\n\n") {
        sec.push('\n');
    }
    base.insert_str(at, &sec);
    base
}

/// Reads the records and writes the section into `dir/summary.md`.
pub fn add_to_summary(
    dir: &Path,
    spreads: &[Input],
    counterfactuals: &[Input],
) -> Result<(), ReportError> {
    let path = dir.join("summary.md");
    let old = std::fs::read_to_string(&path).map_err(|source| ReportError::Io {
        path: path.clone(),
        source,
    })?;
    let new = insert(&old, &section(spreads, counterfactuals));
    std::fs::write(&path, new).map_err(|source| ReportError::Io { path, source })
}

/// The records read by default under the report directory `dir`, with the command that writes
/// each: the two spreads, the single counterfactual run, and the merge-rule runs.
pub fn default_inputs(dir: &Path) -> (Vec<Input>, Vec<Input>) {
    let spreads = vec![
        Input::read(&dir.join("demo-spread/spread.json"), "make demo-spread"),
        Input::read(
            &dir.join("demo-spread-counterfactual/spread.json"),
            "make demo-spread COUNTERFACTUAL=1",
        ),
    ];
    let mut cfs = vec![Input::read(
        &dir.join("demo-counterfactual/counterfactual.json"),
        "make demo-counterfactual",
    )];
    let merge = dir.join("demo-merge");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&merge)
        .map(|it| {
            it.flatten()
                .map(|e| e.path().join("counterfactual.json"))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    if found.is_empty() {
        cfs.push(Input::read(
            &merge.join("tokens/counterfactual.json"),
            "make demo-merge",
        ));
    }
    cfs.extend(found.iter().map(|p| Input::read(p, "make demo-merge")));
    (spreads, cfs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(path: &str, v: Value) -> Input {
        Input {
            path: PathBuf::from(path),
            produced_by: "make x".into(),
            record: Ok(v),
        }
    }

    fn cf(seed: u64, merge: &str, shapley: f64, data: f64, kendall_shapley: f64) -> Value {
        json!({
            "command": format!("fairshare demo --counterfactual --seed {seed} --sybil retrain --merge {merge} --out /x/{seed}"),
            "merge": merge,
            "participants": [
                {"name": "a", "role": "honest", "contribution": 0.01},
                {"name": "b", "role": "honest", "contribution": -0.002},
                {"name": "c", "contribution": 0.0}
            ],
            "schemes": [
                {"scheme": "shapley", "spearman": shapley, "kendall": kendall_shapley},
                {"scheme": "data_size", "spearman": data, "kendall": 0.3}
            ]
        })
    }

    #[test]
    fn verdicts_need_every_seed_to_agree() {
        assert_eq!(
            SeedVerdict::of(&[Some(true), Some(true), None]),
            SeedVerdict::Holds
        );
        assert_eq!(
            SeedVerdict::of(&[Some(true), Some(false), Some(true)]),
            SeedVerdict::NotEstablished
        );
        assert_eq!(
            SeedVerdict::of(&[Some(false), Some(false)]),
            SeedVerdict::DoesNotHold
        );
        assert_eq!(SeedVerdict::of(&[Some(true)]), SeedVerdict::OneSeed(true));
        assert_eq!(SeedVerdict::of(&[None, None]), SeedVerdict::NotApplicable);
    }

    #[test]
    fn the_section_states_spreads_flips_and_the_merge_comparison() {
        let spread = json!({
            "command": "fairshare demo --spread 1,2 --base-seed 7 --sybil --out r/demo-spread",
            "seeds": [1, 2],
            "base_seed": 7,
            "claims": [
                {"claim": "every round improves the model", "per_seed": [true, true], "verdict": "holds"},
                // The stored verdict says holds, but the seeds disagree: the section recomputes.
                {"claim": "the corrupted participant is never paid", "per_seed": [true, false], "verdict": "holds"},
                {"claim": "the Sybil is grouped", "per_seed": [null, null]}
            ],
            "figures": [
                {"figure": "ΔU round 1", "values": [0.0187, 0.0192]},
                {"figure": "free-rider total reward (uFAIR)", "values": [0.0, 0.0]},
                {"figure": "wall time (s)", "values": [160.0, 191.0]}
            ]
        });
        let cfs = vec![
            // Two seeds of one configuration: Shapley beats data size in one, not the other.
            input("a.json", cf(1, "tokens", 0.20, 0.49, 0.10)),
            input("b.json", cf(2, "tokens", 0.61, 0.20, 0.50)),
            // The same configuration at seed 1 with another merge rule: the result changes.
            input("c.json", cf(1, "roster", 0.70, 0.40, 0.55)),
            Input {
                path: PathBuf::from("r/demo-counterfactual/counterfactual.json"),
                produced_by: "make demo-counterfactual".into(),
                record: Err("r/demo-counterfactual/counterfactual.json is absent".into()),
            },
        ];
        let md = section(&[input("r/demo-spread/spread.json", spread)], &cfs);
        // Claims: recomputed verdicts, a flip is not established.
        assert!(
            md.contains("| every round improves the model | ✓✓ | 2 of 2 | holds |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| the corrupted participant is never paid | ✓✗ | 1 of 2 | **not established** |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| the Sybil is grouped | –– | 0 of 0 | n/a |"),
            "{md}"
        );
        assert!(md.contains("1 are not established: the corrupted participant is never paid"));
        // Figures: spread and which move.
        assert!(
            md.contains("| ΔU round 1 | 0.0190 ± 0.0004 | 0.0187 – 0.0192 | yes |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| free-rider total reward (uFAIR) | 0.0000 ± 0.0000 | 0.0000 – 0.0000 | no |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| wall time (s) | 175.5 ± 21.9 | 160.0 – 191.0 | yes (speed and load) |"),
            "{md}"
        );
        // Counterfactual: the flip against data size is not established; Spearman > 0 holds.
        let tokens_group = md
            .split("merge tokens, seeds 1, 2** (")
            .nth(1)
            .expect("the tokens group over two seeds");
        assert!(tokens_group.contains(
            "| Shapley ranks at least as well as data_size (Spearman) | ✗✓ | **not established** |"
        ), "{md}");
        assert!(tokens_group.contains(
            "| Shapley as paid ranks parties by counterfactual contribution (Spearman > 0) | ✓✓ | holds |"
        ));
        assert!(
            tokens_group.contains("shapley +0.41 ± 0.29 [+0.20, +0.61]"),
            "{md}"
        );
        // One seed is no verdict across seeds.
        assert!(md.contains("merge roster, seed 1**"));
        assert!(md.contains("one seed, so no verdict across seeds. True: Shapley as paid ranks"));
        // The merge comparison at seed 1: tokens loses to data size, roster beats it.
        assert!(
            md.contains("| tokens | 1 of 3 (1) | +0.20 / +0.10 | +0.49 / +0.30 | no | no |"),
            "{md}"
        );
        assert!(
            md.contains("| roster | 1 of 3 (1) | +0.70 / +0.55 | +0.40 / +0.30 | yes | yes |"),
            "{md}"
        );
        // The short list leads with the verdicts.
        let short = md.split("In short:").nth(1).expect("a short list");
        assert!(short.contains("not established: the corrupted participant is never paid."));
        assert!(short.contains(
            "Shapley ranks at least as well as data_size (Spearman): **not established**"
        ));
        assert!(
            short.contains("tokens no / no, roster yes / yes; the ρ result changes"),
            "{md}"
        );
        assert!(md.contains("the ρ result changes and the τ result changes with the merge rule"));
        // A missing record is named with the command that writes it, and no figure invented.
        assert!(md.contains("- Not stated: r/demo-counterfactual/counterfactual.json is absent. `make demo-counterfactual` writes it."));
    }

    #[test]
    fn insert_replaces_an_old_section_and_keeps_the_rest() {
        let summary = "# T\n\n## A\n\nx\n\n## Federated runs\n\ny\n\n## Definitions\n\nz\n";
        let once = insert(summary, "## Real training (v1)\n\none\n");
        assert!(once.contains("## A\n\nx\n\n## Real training (v1)\n\none\n\n## Federated runs"));
        let twice = insert(&once, "## Real training (v2)\n\ntwo\n");
        assert!(!twice.contains("v1"), "{twice}");
        assert_eq!(twice.matches("## Real training").count(), 1);
        assert!(twice.contains("## Definitions\n\nz\n"));
        let bare = insert("# T\n", "## Real training\n\nthree\n");
        assert!(bare.ends_with("## Real training\n\nthree\n\n"));
    }
}
