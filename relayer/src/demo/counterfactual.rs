//! `fairshare demo --counterfactual`: a ground truth for the real run that is not the scheme.
//!
//! Beside the full federated run it plays the n leave-one-participant-out runs (the same run
//! with one participant never joining; everyone else keeps their names, seeds and text), keeps
//! each run's final global model, and scores every final model on a **test text no one trains
//! or validates on** (the ends of the plays' second halves; participants hold first halves and
//! validation slices come from the start of the second halves). A participant's
//! counterfactual contribution is how much worse the final model is without it:
//! `c_i = L_test(run without i) − L_test(full run)`, with a paired standard error over the
//! test batches. The report then ranks each scheme's cumulative rewards of the full run
//! against the c_i (Spearman, Kendall, Pearson): Shapley as paid on chain, the raw settled
//! scores, and the baselines applied to the same per-round pools (in-round leave-one-out from
//! an honest evaluator's published table, equal split, data size).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::DType;
use fairshare_protocol::report::{Estimator, UtilityTable};
use fairshare_trainer::data::eval_windows;
use fairshare_trainer::eval::batch_losses;
use fairshare_trainer::model::load_model;
use serde::Serialize;

use super::output::RunRecord;
use super::participant::Role;
use super::{corpus, DemoArgs, SEQ_LEN};

/// Characters of test text per play.
pub const TEST_CHARS_PER_PLAY: usize = 3_000;

/// The test text the final models are scored on.
#[derive(Debug, Clone, Serialize)]
pub struct TestText {
    pub plays: Vec<String>,
    pub chars: usize,
    pub tokens: usize,
    pub sha256: String,
    /// How it is kept apart from training and validation text.
    pub disjoint_by: String,
}

/// One participant's counterfactual contribution and what each scheme paid it.
#[derive(Debug, Clone, Serialize)]
pub struct Contribution {
    pub name: String,
    pub role: Role,
    /// Test loss of the run without it.
    pub loss_without: f64,
    /// `loss_without − full_loss` (positive: the run is better with it).
    pub contribution: f64,
    /// Paired standard error of `contribution` over the test batches.
    pub std_error: f64,
}

/// How one scheme's cumulative rewards rank the participants against their contributions.
#[derive(Debug, Clone, Serialize)]
pub struct SchemeAgreement {
    pub scheme: String,
    pub description: String,
    /// Cumulative reward (uFAIR, or the score for the unpaid scheme) per participant, in the
    /// order of [`CounterfactualRecord::participants`].
    pub rewards: Vec<f64>,
    /// `None` when undefined (a constant series), with the reason in `note`.
    pub spearman: Option<f64>,
    pub kendall: Option<f64>,
    pub pearson: Option<f64>,
    pub note: Option<String>,
}

/// Everything `--counterfactual` measured (`<out>/counterfactual.json`).
#[derive(Debug, Clone, Serialize)]
pub struct CounterfactualRecord {
    /// The command that reproduces it.
    pub command: String,
    pub test: TestText,
    /// Test loss of the base model and of the full run's final model.
    pub base_loss: f64,
    pub full_loss: f64,
    pub participants: Vec<Contribution>,
    pub schemes: Vec<SchemeAgreement>,
    /// How the operator weighted the merged updates (`--merge`).
    pub merge: crate::operator::MergeRule,
    /// The evaluators' near-duplicate threshold on the ΔW cosine.
    pub duplicate_threshold: f64,
    /// Seconds of each federated run (full first).
    pub run_seconds: Vec<f64>,
    pub elapsed_s: f64,
}

/// Runs the full demo and its n leave-one-out runs, then writes `counterfactual.json` and
/// `counterfactual.md` into `args.out`. The full run's own outputs are in `args.out` as
/// usual; each leave-one-out run's stay in the cache (`<cache>/demo-counterfactual/runs/`),
/// since the report reads only their final models' test losses (in `counterfactual.json`).
pub fn run(
    args: &DemoArgs,
    config: Option<&Path>,
    out: &mut dyn std::io::Write,
) -> Result<(RunRecord, CounterfactualRecord)> {
    if args.sybil == Some(super::participant::SybilKind::Copy) {
        anyhow::bail!(
            "--counterfactual needs every participant to train its own update, but a copying \
             Sybil's second identity cannot run without the first: use --sybil retrain (or no \
             --sybil)"
        );
    }
    let t0 = Instant::now();
    let cache = args.cache.clone().unwrap_or_else(super::default_cache);
    let models = cache.join("demo-counterfactual");
    let _ = std::fs::remove_dir_all(&models);
    let one =
        |exclude: Option<String>, dir: PathBuf, out_dir: PathBuf, out: &mut dyn std::io::Write| {
            let a = DemoArgs {
                counterfactual: false,
                exclude,
                save_global: Some(dir),
                out: out_dir,
                ..args.clone()
            };
            super::run(&a, config, out)
        };
    writeln!(
        out,
        "counterfactual: the full run, then one run without each participant"
    )?;
    let t = Instant::now();
    let full = one(None, models.join("full"), args.out.clone(), out)?;
    let mut run_seconds = vec![t.elapsed().as_secs_f64()];
    let names: Vec<String> = full.participants.iter().map(|p| p.name.clone()).collect();
    for (k, name) in names.iter().enumerate() {
        writeln!(
            out,
            "\ncounterfactual run {}/{}: without {name}",
            k + 1,
            names.len()
        )?;
        let t = Instant::now();
        let mut sink = std::io::sink();
        let log: &mut dyn std::io::Write = if args.quiet { &mut sink } else { out };
        // Its outputs stay in the cache: the report needs only its final model's test loss.
        one(
            Some(name.clone()),
            models.join(format!("without-{name}")),
            models.join("runs").join(format!("without-{name}")),
            log,
        )
        .with_context(|| format!("the run without {name}"))?;
        run_seconds.push(t.elapsed().as_secs_f64());
        writeln!(out, "  done in {:.0} s", run_seconds[k + 1])?;
    }

    // The test text: the ends of every play anyone held or validated on.
    let assets = args
        .assets
        .clone()
        .unwrap_or_else(corpus::default_assets_dir);
    let corpus = corpus::Corpus::open(&assets)?;
    let parties = args.participants + usize::from(args.sybil.is_some());
    let mut plays = corpus::held_plays(parties, args.rounds as usize);
    for p in corpus::PARTICIPANT_PLAYS
        .iter()
        .take(parties)
        .chain([&corpus::VALIDATION_PLAY])
    {
        if !plays.contains(p) {
            plays.push(p);
        }
    }
    plays.sort_unstable();
    // Validation takes at most valid_chars per evaluator from the start of each second half.
    let reserved = args.valid_chars * args.evaluators.max(1);
    let text = corpus.test_text(&plays, TEST_CHARS_PER_PLAY, reserved)?;

    // Score every final model on it.
    let load = |dir: &Path| {
        load_model(dir, DType::F32, &candle_core::Device::Cpu)
            .with_context(|| format!("the final global model in {}", dir.display()))
    };
    let full_model = load(&models.join("full"))?;
    let tokens = full_model.tokenizer.encode(&text)?;
    let windows = eval_windows(&tokens, SEQ_LEN);
    let score = |m: &fairshare_trainer::model::LlamaModel| batch_losses(m, None, &windows, 16);
    let full_batches = score(&full_model.model)?;
    let base = super::base::prepare(
        &args.model,
        &corpus,
        &cache,
        &super::pretrain_config(args, false),
        &mut std::io::sink(),
    )?;
    let base_loss = pooled(&score(&base.model)?);
    let full_loss = pooled(&full_batches);
    let mut participants = Vec::with_capacity(names.len());
    for (name, summary) in names.iter().zip(&full.participants) {
        let m = load(&models.join(format!("without-{name}")))?;
        let batches = score(&m.model)?;
        let (contribution, std_error) = paired_difference(&batches, &full_batches);
        participants.push(Contribution {
            name: name.clone(),
            role: summary.role,
            loss_without: pooled(&batches),
            contribution,
            std_error,
        });
    }
    let contributions: Vec<f64> = participants.iter().map(|c| c.contribution).collect();
    let schemes = scheme_rewards(&full)?
        .into_iter()
        .map(|(scheme, description, rewards)| {
            agreement(scheme, description, rewards, &contributions)
        })
        .collect();
    let record = CounterfactualRecord {
        command: format!(
            "fairshare demo --counterfactual --seed {}{} --participants {} --rounds {}{}{} --out {}",
            args.seed,
            args.base_seed
                .map_or(String::new(), |b| format!(" --base-seed {b}")),
            args.participants,
            args.rounds,
            match args.sybil {
                Some(super::participant::SybilKind::Retrain) => " --sybil retrain",
                Some(super::participant::SybilKind::Copy) => " --sybil",
                None => "",
            },
            match args.merge {
                crate::operator::MergeRule::Tokens => String::new(),
                m => format!(" --merge {}", m.name()),
            },
            args.out.display()
        ),
        test: TestText {
            plays: plays.iter().map(|p| p.to_string()).collect(),
            chars: text.len(),
            tokens: tokens.len(),
            sha256: hex::encode(fairshare_protocol::commitment::update_hash(text.as_bytes())),
            disjoint_by: format!(
                "the last {TEST_CHARS_PER_PLAY} characters of each play's second half, after \
                 its first {reserved} characters and its first half (participants hold first \
                 halves; validation slices start each second half)"
            ),
        },
        base_loss,
        full_loss,
        participants,
        schemes,
        merge: args.merge,
        duplicate_threshold: args.duplicate_threshold,
        run_seconds,
        elapsed_s: t0.elapsed().as_secs_f64(),
    };
    let md = markdown(&record);
    std::fs::write(
        args.out.join("counterfactual.json"),
        serde_json::to_string_pretty(&record)?,
    )
    .context("writing counterfactual.json")?;
    std::fs::write(args.out.join("counterfactual.md"), &md).context("writing counterfactual.md")?;
    writeln!(out, "\n{md}")?;
    Ok((full, record))
}

/// Removes a sub-run's plots, per-round tables and calibration from `dir`, keeping its
/// records (`run.json`, and `counterfactual.{json,md}` when present): what the spread and
/// the report read.
pub fn keep_only_records(dir: &Path) -> Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
    for e in entries {
        let e = e.with_context(|| format!("listing {}", dir.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        if name == "plots" || name.starts_with("round-") {
            if path.is_dir() {
                std::fs::remove_dir_all(&path)
                    .with_context(|| format!("removing {}", path.display()))?;
            }
        } else if name == "calibration.json" || name == "duplicates.json" {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    Ok(())
}

/// Token-weighted mean of per-batch losses.
fn pooled(batches: &[(f64, usize)]) -> f64 {
    let n: usize = batches.iter().map(|b| b.1).sum();
    batches.iter().map(|(l, k)| l * *k as f64).sum::<f64>() / n.max(1) as f64
}

/// Token-weighted mean of `a − b` over paired batches and its standard error (the batches are
/// the same windows for both models).
pub fn paired_difference(a: &[(f64, usize)], b: &[(f64, usize)]) -> (f64, f64) {
    let pairs: Vec<(f64, f64)> = a
        .iter()
        .zip(b)
        .map(|((la, n), (lb, _))| (la - lb, *n as f64))
        .collect();
    let w: f64 = pairs.iter().map(|p| p.1).sum();
    if pairs.is_empty() || w == 0.0 {
        return (0.0, 0.0);
    }
    let mean = pairs.iter().map(|(d, n)| d * n).sum::<f64>() / w;
    let k = pairs.len() as f64;
    if k < 2.0 {
        return (mean, 0.0);
    }
    // Weighted variance of the batch differences, then the error of their weighted mean.
    let var = pairs
        .iter()
        .map(|(d, n)| n * (d - mean).powi(2))
        .sum::<f64>()
        / w
        * k
        / (k - 1.0);
    let eff = w * w / pairs.iter().map(|p| p.1 * p.1).sum::<f64>();
    (mean, (var / eff).sqrt())
}

/// Cumulative rewards of the full run under each scheme, per participant: `(scheme,
/// description, rewards)`. Baselines share each round's actual pool.
pub fn scheme_rewards(rec: &RunRecord) -> Result<Vec<(String, String, Vec<f64>)>> {
    let n = rec.participants.len();
    let mut paid = vec![0.0; n];
    let mut loo = Some(vec![0.0; n]);
    let mut equal = vec![0.0; n];
    let mut size = vec![0.0; n];
    for r in &rec.rounds {
        let pool: f64 = r.entries.iter().map(|e| e.reward as f64).sum();
        for (i, e) in r.entries.iter().enumerate() {
            paid[i] += e.reward as f64;
        }
        let committed: Vec<usize> = (0..n).filter(|&i| r.entries[i].committed).collect();
        if committed.is_empty() || pool == 0.0 {
            continue;
        }
        split(&mut equal, &committed, &vec![1.0; committed.len()], pool);
        let tokens: Vec<f64> = committed
            .iter()
            .map(|&i| r.entries[i].tokens_claimed as f64)
            .collect();
        split(&mut size, &committed, &tokens, pool);
        if let Some(acc) = loo.as_mut() {
            match round_loo(rec, r)? {
                Some(values) => {
                    let v: Vec<f64> = committed.iter().map(|&i| values[i].max(0.0)).collect();
                    split(acc, &committed, &v, pool);
                }
                None => loo = None,
            }
        }
    }
    let scores: Vec<f64> = rec.participants.iter().map(|p| p.shapley).collect();
    let mut out = vec![
        (
            "shapley".to_string(),
            "Shapley as paid on chain (reward rule: pool × φ⁺ share, verdicts, slashes)"
                .to_string(),
            paid,
        ),
        (
            "shapley_score".to_string(),
            "Σ settled Shapley scores φ (unclipped, before the reward rule)".to_string(),
            scores,
        ),
        (
            "equal".to_string(),
            "each round's pool split equally among those who committed".to_string(),
            equal,
        ),
        (
            "data_size".to_string(),
            "each round's pool by claimed training tokens".to_string(),
            size,
        ),
    ];
    if let Some(l) = loo {
        out.push((
            "loo".to_string(),
            "each round's pool by in-round leave-one-out U(N) − U(N∖i) ⁺ from an honest evaluator's published table".to_string(),
            l,
        ));
    }
    Ok(out)
}

/// Adds `pool × w_k / Σw` to `acc[idx[k]]` (nothing when Σw ≤ 0).
fn split(acc: &mut [f64], idx: &[usize], w: &[f64], pool: f64) {
    let total: f64 = w.iter().filter(|x| **x > 0.0).sum();
    if total <= 0.0 {
        return;
    }
    for (&i, &x) in idx.iter().zip(w) {
        acc[i] += pool * x.max(0.0) / total;
    }
}

/// In-round leave-one-out `U(N) − U(N∖i)` per participant (entries order) from the first
/// honest evaluator's exact table; `None` when the round's table is sampled. Participants not
/// in the table get 0.
fn round_loo(rec: &RunRecord, r: &super::output::RoundRecord) -> Result<Option<Vec<f64>>> {
    let Some(ev) = r.evaluators.iter().find(|e| e.lie.is_none()) else {
        return Ok(None);
    };
    let bytes = std::fs::read(&ev.table).with_context(|| format!("reading {}", ev.table))?;
    let table: UtilityTable =
        serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", ev.table))?;
    if table.estimator != Estimator::Exact {
        return Ok(None);
    }
    let u = table
        .nanos()
        .map_err(|e| anyhow::anyhow!("{}: {e}", ev.table))?;
    let m = table.participants.len();
    let all = (1usize << m) - 1;
    let prefix = table
        .participants
        .first()
        .and_then(|a| a.rfind('1').map(|k| a[..k].to_string()))
        .unwrap_or_default();
    let mut out = vec![0.0; rec.participants.len()];
    for (i, p) in rec.participants.iter().enumerate() {
        let address = crate::keys::ParticipantKey::from_seed(
            format!("fairshare-demo/participant-{}", p.name).as_bytes(),
            &prefix,
        )?
        .address()
        .to_string();
        if let Some(b) = table.participants.iter().position(|a| *a == address) {
            out[i] = (u[all] - u[all ^ (1 << b)]) as f64 / 1e9;
        }
    }
    Ok(Some(out))
}

fn agreement(
    scheme: String,
    description: String,
    rewards: Vec<f64>,
    contributions: &[f64],
) -> SchemeAgreement {
    use fairshare_economics::metrics::{kendall, pearson, spearman};
    let note = spearman(&rewards, contributions)
        .err()
        .map(|e| e.to_string());
    SchemeAgreement {
        scheme,
        description,
        spearman: spearman(&rewards, contributions).ok(),
        kendall: kendall(&rewards, contributions).ok(),
        pearson: pearson(&rewards, contributions).ok(),
        rewards,
        note,
    }
}

fn fmt_opt(x: Option<f64>) -> String {
    x.map_or("—".into(), |v| format!("{v:+.3}"))
}

/// The report section.
pub fn markdown(rec: &CounterfactualRecord) -> String {
    let mut s = String::from("## Counterfactual contributions (whole-run leave-one-out)\n\n");
    s.push_str(&format!(
        "Each participant's contribution is the test loss of the federated run played without \
         it minus that of the full run (positive: it helped), on {} tokens of text no one trains \
         or validates on ({}). Base model {:.4}, full run {:.4}. Reproduce: `{}`.\n\n",
        rec.test.tokens, rec.test.disjoint_by, rec.base_loss, rec.full_loss, rec.command
    ));
    s.push_str("| participant | role | test loss without | contribution ± SE |");
    for sc in &rec.schemes {
        s.push_str(&format!(" {} |", sc.scheme));
    }
    s.push_str("\n|---|---|---:|---:|");
    for _ in &rec.schemes {
        s.push_str("---:|");
    }
    s.push('\n');
    for (i, c) in rec.participants.iter().enumerate() {
        s.push_str(&format!(
            "| {} | {} | {:.4} | {:+.4} ± {:.4} |",
            c.name,
            c.role.label(),
            c.loss_without,
            c.contribution,
            c.std_error
        ));
        for sc in &rec.schemes {
            let v = sc.rewards.get(i).copied().unwrap_or(f64::NAN);
            if sc.scheme == "shapley_score" {
                s.push_str(&format!(" {v:+.4} |"));
            } else {
                s.push_str(&format!(" {v:.0} |"));
            }
        }
        s.push('\n');
    }
    s.push_str(&format!(
        "\nHow well each scheme's cumulative rewards rank the {} participants by their \
         counterfactual contribution:\n\n| scheme | Spearman | Kendall τ-b | Pearson | what it pays by |\n|---|---:|---:|---:|---|\n",
        rec.participants.len()
    ));
    for sc in &rec.schemes {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {}{} |\n",
            sc.scheme,
            fmt_opt(sc.spearman),
            fmt_opt(sc.kendall),
            fmt_opt(sc.pearson),
            sc.description,
            sc.note
                .as_ref()
                .map_or(String::new(), |n| format!(" ({n})"))
        ));
    }
    let exact = rec
        .participants
        .iter()
        .filter(|c| c.contribution == 0.0)
        .count();
    let noisy = rec
        .participants
        .iter()
        .filter(|c| c.contribution != 0.0 && c.contribution.abs() < 2.0 * c.std_error)
        .count();
    s.push_str(&format!(
        "\n{exact} of {n} contributions are exactly zero (the run without them is the same run: \
         their updates were never merged) and {noisy} more are within two standard errors of \
         zero; with n = {n} a rank correlation is a small-sample figure (one run, one seed).\n",
        n = rec.participants.len()
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paired_difference_of_equal_batches_is_zero_and_a_shift_has_no_spread() {
        let a = [(2.0, 10), (3.0, 10), (4.0, 5)];
        assert_eq!(paired_difference(&a, &a), (0.0, 0.0));
        let b: Vec<(f64, usize)> = a.iter().map(|(l, n)| (l - 0.5, *n)).collect();
        let (d, se) = paired_difference(&a, &b);
        assert!((d - 0.5).abs() < 1e-12 && se.abs() < 1e-12, "{d} {se}");
        let c = [(2.0, 10), (3.5, 10), (4.0, 5)];
        let (d, se) = paired_difference(&c, &a);
        assert!((d - 0.2).abs() < 1e-12 && se > 0.0, "{d} {se}");
    }

    #[test]
    fn a_pool_is_split_by_positive_weights_only() {
        let mut acc = vec![0.0; 4];
        split(&mut acc, &[0, 2, 3], &[1.0, 3.0, -2.0], 100.0);
        assert_eq!(acc, vec![25.0, 0.0, 75.0, 0.0]);
        split(&mut acc, &[1], &[0.0], 50.0);
        assert_eq!(acc[1], 0.0, "nothing to split by: nothing paid");
    }

    #[test]
    fn agreement_is_perfect_for_a_monotone_scheme_and_undefined_for_a_constant_one() {
        let c = [0.3, -0.1, 0.05, 0.0];
        let a = agreement("x".into(), String::new(), vec![30.0, 0.0, 5.0, 1.0], &c);
        assert!((a.spearman.expect("defined") - 1.0).abs() < 1e-12);
        assert!((a.kendall.expect("defined") - 1.0).abs() < 1e-12);
        let flat = agreement("y".into(), String::new(), vec![1.0; 4], &c);
        assert!(flat.spearman.is_none() && flat.note.is_some());
    }
}
