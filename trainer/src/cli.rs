//! The `fairshare-trainer` command line: `train`, `evaluate`, `perplexity`. Each prints one JSON
//! document on stdout; logs and the progress bar go to stderr.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::json;

use crate::aggregate::aggregate;
use crate::bundle::{find_bundles, read_bundle, write_bundle, BundleInfo};
use crate::config::TrainConfig;
use crate::data::{read_texts, tokenize_documents};
use crate::eval::{coalition_from_mask, evaluate_loss, CoalitionEvaluator, Weighting};
use crate::model::load_model;

/// Fairshare's participant and evaluator tool: train a LoRA update on local text, evaluate a
/// round's updates, measure perplexity.
#[derive(Debug, Parser)]
#[command(name = "fairshare-trainer", version, about)]
pub struct Cli {
    /// Worker threads for the tensor kernels (default: all cores).
    #[arg(long, global = true)]
    pub threads: Option<usize>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a LoRA adapter on local text and write an update bundle.
    Train(Box<TrainArgs>),
    /// Aggregate a round's update bundles and value coalitions on a held-out text.
    Evaluate(EvaluateArgs),
    /// Validation loss and perplexity of a model (optionally with an adapter) on a text.
    Perplexity(PerplexityArgs),
    /// Shapley values of a utility table (JSON/CSV) or a built-in game.
    Shapley(fairshare_shapley::cli::ShapleyArgs),
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// TOML file with the fields of the training configuration; flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Hugging Face checkpoint directory or .gguf file of the base model.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Text file or directory of .txt files.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Output bundle directory.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Global adapter bundle to merge into the base before training.
    #[arg(long)]
    pub global_adapter: Option<PathBuf>,
    /// LoRA rank.
    #[arg(long)]
    pub rank: Option<usize>,
    /// LoRA alpha (scaling = alpha / rank).
    #[arg(long)]
    pub alpha: Option<f64>,
    /// LoRA dropout probability.
    #[arg(long)]
    pub dropout: Option<f64>,
    /// Comma-separated projections to adapt (q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj).
    #[arg(long, value_delimiter = ',')]
    pub targets: Option<Vec<String>>,
    #[arg(long)]
    pub seq_len: Option<usize>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Optimiser steps (0: one pass over the data).
    #[arg(long)]
    pub steps: Option<usize>,
    #[arg(long)]
    pub learning_rate: Option<f64>,
    #[arg(long)]
    pub warmup_steps: Option<usize>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Round id written into the manifest.
    #[arg(long)]
    pub round: Option<u64>,
    /// Participant address written into the manifest.
    #[arg(long)]
    pub participant: Option<String>,
    /// Save a checkpoint every N steps.
    #[arg(long)]
    pub checkpoint_every: Option<usize>,
    /// Continue from the checkpoint in <output>/checkpoint (or --checkpoint-dir).
    #[arg(long)]
    pub resume: bool,
    #[arg(long)]
    pub checkpoint_dir: Option<PathBuf>,
    /// Hide the progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Train `A` too (experiments and like-for-like benchmarks only). By default `A` stays
    /// frozen at the round's public initialisation, as the protocol requires: the relayer and
    /// evaluators refuse a bundle whose `lora_A` differs from it.
    #[arg(long)]
    pub train_a: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum WeightingArg {
    /// FedAvg within each coalition.
    Tokens,
    /// Equal weights within each coalition.
    Uniform,
    /// Each update keeps its FedAvg weight in the whole round (zero updates are null players).
    RoundTokens,
}

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Base model (Hugging Face directory or .gguf).
    #[arg(long)]
    pub model: PathBuf,
    /// Held-out validation text (file or directory).
    #[arg(long)]
    pub validation: PathBuf,
    /// Update bundles, or directories holding one bundle per subdirectory.
    #[arg(long, required = true, num_args = 1..)]
    pub updates: Vec<PathBuf>,
    /// The round's global adapter, merged into the base before evaluating; several are merged
    /// in the order given (a global model built over rounds: round 1's aggregate, then round 2's, …).
    #[arg(long, num_args = 1..)]
    pub global_adapter: Vec<PathBuf>,
    #[arg(long, default_value_t = 256)]
    pub seq_len: usize,
    #[arg(long, default_value_t = 4)]
    pub batch_size: usize,
    /// Only score the first N validation tokens.
    #[arg(long)]
    pub max_tokens: Option<usize>,
    #[arg(long, value_enum, default_value = "tokens")]
    pub weighting: WeightingArg,
    /// Evaluate every coalition (2^n; n ≤ 12) and report the table and exact Shapley values.
    #[arg(long)]
    pub table: bool,
    /// Write the aggregate of all updates as a bundle here.
    #[arg(long)]
    pub aggregate_out: Option<PathBuf>,
    /// A coalition to value: a comma-separated list of participant addresses (as the bundles'
    /// manifests name them) or update indices (0-based, in the order of "updates"); repeat the
    /// flag for more. U(S) of each is reported under "coalitions": a re-execution that
    /// `fairshare dispute propose --reexecution` compares with an evaluator's published table.
    #[arg(long = "coalition", value_name = "MEMBERS")]
    pub coalitions: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PerplexityArgs {
    /// Model (Hugging Face directory or .gguf).
    #[arg(long)]
    pub model: PathBuf,
    /// Text file or directory.
    #[arg(long)]
    pub text: PathBuf,
    /// Adapter bundle to apply.
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    #[arg(long, default_value_t = 512)]
    pub seq_len: usize,
    #[arg(long, default_value_t = 1)]
    pub batch_size: usize,
    /// Only score the first N tokens.
    #[arg(long)]
    pub max_tokens: Option<usize>,
}

/// Runs a parsed command and returns its JSON report.
pub fn run(cli: Cli) -> Result<serde_json::Value> {
    if let Some(t) = cli.threads {
        if t == 0 {
            bail!("--threads must be at least 1");
        }
        // candle's CPU kernels read the same variable as rayon; set before any work starts.
        std::env::set_var("RAYON_NUM_THREADS", t.to_string());
    }
    match cli.command {
        Command::Train(a) => train(*a),
        Command::Evaluate(a) => evaluate(a),
        Command::Perplexity(a) => perplexity(a),
        Command::Shapley(a) => Ok(fairshare_shapley::cli::run(&a)?),
    }
}

fn train(a: TrainArgs) -> Result<serde_json::Value> {
    let mut cfg = match &a.config {
        Some(p) => TrainConfig::from_toml_file(p)?,
        None => {
            let (Some(m), Some(d), Some(o)) = (&a.model, &a.data, &a.output) else {
                bail!("give --model, --data and --output (or a --config file that sets them)");
            };
            TrainConfig::new(m.clone(), d.clone(), o.clone())
        }
    };
    macro_rules! set {
        ($field:expr, $val:expr) => {
            if let Some(v) = $val {
                $field = v;
            }
        };
    }
    set!(cfg.model, a.model);
    set!(cfg.data, a.data);
    set!(cfg.output, a.output);
    if a.global_adapter.is_some() {
        cfg.global_adapter = a.global_adapter;
    }
    set!(cfg.lora.r, a.rank);
    set!(cfg.lora.alpha, a.alpha);
    set!(cfg.lora.dropout, a.dropout);
    set!(cfg.lora.target_modules, a.targets);
    set!(cfg.seq_len, a.seq_len);
    set!(cfg.batch_size, a.batch_size);
    set!(cfg.steps, a.steps);
    set!(cfg.learning_rate, a.learning_rate);
    set!(cfg.warmup_steps, a.warmup_steps);
    set!(cfg.seed, a.seed);
    set!(cfg.round, a.round);
    set!(cfg.participant, a.participant);
    set!(cfg.checkpoint_every, a.checkpoint_every);
    if a.checkpoint_dir.is_some() {
        cfg.checkpoint_dir = a.checkpoint_dir;
    }
    cfg.resume |= a.resume;
    if a.no_progress {
        cfg.progress = false;
    }
    if a.train_a {
        cfg.freeze_a = false;
    }
    cfg.validate()?;
    let report = crate::train::train(&cfg).context("training failed")?;
    Ok(serde_json::to_value(report)?)
}

fn read_tokens(
    path: &std::path::Path,
    loaded: &crate::model::LoadedModel,
    max: Option<usize>,
) -> Result<Vec<u32>> {
    let docs = read_texts(path)?;
    let mut tokens =
        tokenize_documents(&docs, &loaded.tokenizer, loaded.model.config().eos_token_id)?;
    if let Some(m) = max {
        tokens.truncate(m);
    }
    Ok(tokens)
}

fn perplexity(a: PerplexityArgs) -> Result<serde_json::Value> {
    let device = Device::Cpu;
    let loaded = load_model(&a.model, DType::F32, &device)
        .with_context(|| format!("cannot load model {}", a.model.display()))?;
    let adapter = match &a.adapter {
        Some(p) => Some(
            read_bundle(p, loaded.model.config(), DType::F32, &device)
                .with_context(|| format!("cannot load adapter {}", p.display()))?
                .adapter,
        ),
        None => None,
    };
    let tokens = read_tokens(&a.text, &loaded, a.max_tokens)?;
    let r = evaluate_loss(
        &loaded.model,
        adapter.as_ref(),
        &tokens,
        a.seq_len,
        a.batch_size,
    )?;
    Ok(json!({
        "model": a.model.display().to_string(),
        "base_model_hash": loaded.base_model_hash,
        "adapter": a.adapter.map(|p| p.display().to_string()),
        "seq_len": a.seq_len,
        "mean_loss": r.mean_loss,
        "perplexity": r.perplexity,
        "tokens": r.tokens,
    }))
}

/// Exact Shapley values from a full utility table indexed by bitmask (reference for small n,
/// until the `fairshare-shapley` estimators are wired in).
pub fn exact_shapley(table: &[f64], n: usize) -> Vec<f64> {
    let fact = |k: usize| (1..=k).map(|x| x as f64).product::<f64>();
    let nf = fact(n);
    (0..n)
        .map(|i| {
            (0..table.len())
                .filter(|s| s >> i & 1 == 0)
                .map(|s| {
                    let k = (s as u64).count_ones() as usize;
                    fact(k) * fact(n - k - 1) / nf * (table[s | 1 << i] - table[s])
                })
                .sum()
        })
        .collect()
}

fn evaluate(a: EvaluateArgs) -> Result<serde_json::Value> {
    let device = Device::Cpu;
    let loaded = load_model(&a.model, DType::F32, &device)
        .with_context(|| format!("cannot load model {}", a.model.display()))?;
    let tokens = read_tokens(&a.validation, &loaded, a.max_tokens)?;
    let mut model = loaded.model;
    for g in &a.global_adapter {
        let b = read_bundle(g, model.config(), DType::F32, &device)
            .with_context(|| format!("cannot load global adapter {}", g.display()))?;
        model.merge_adapter(&b.adapter)?;
    }
    let paths = find_bundles(&a.updates)?;
    let mut bundles = Vec::with_capacity(paths.len());
    for p in &paths {
        let b = read_bundle(p, model.config(), DType::F32, &device)
            .with_context(|| format!("update {} is unusable", p.display()))?;
        if !b.manifest.base_model_hash.is_empty()
            && b.manifest.base_model_hash != loaded.base_model_hash
        {
            bail!(
                "update {} was trained on base model {}, not {}",
                p.display(),
                b.manifest.base_model_hash,
                loaded.base_model_hash
            );
        }
        bundles.push(b);
    }
    let n = bundles.len();
    let updates: Vec<_> = paths
        .iter()
        .zip(&bundles)
        .map(|(p, b)| {
            json!({
                "path": p.display().to_string(),
                "participant": b.manifest.participant,
                "update_hash": b.manifest.update_hash,
                "num_training_tokens": b.manifest.num_training_tokens,
            })
        })
        .collect();
    let weighting = match a.weighting {
        WeightingArg::Tokens => Weighting::Tokens,
        WeightingArg::Uniform => Weighting::Uniform,
        WeightingArg::RoundTokens => Weighting::RoundTokens,
    };
    let eval = CoalitionEvaluator::new(
        model,
        &tokens,
        a.seq_len,
        a.batch_size,
        bundles.clone(),
        weighting,
    )?;
    let full = vec![true; n];
    let full_loss = eval.coalition_loss(&full)?;
    let singles: Vec<Vec<bool>> = (0..n).map(|i| (0..n).map(|j| i == j).collect()).collect();
    let loo: Vec<Vec<bool>> = (0..n).map(|i| (0..n).map(|j| i != j).collect()).collect();
    let u_full = eval.utility(&full)?;
    let u_single = eval.utilities(&singles)?;
    let u_loo: Vec<f64> = eval.utilities(&loo)?.iter().map(|u| u_full - u).collect();
    let mut report = json!({
        "n": n,
        "validation_tokens": eval.global_loss().tokens,
        "weighting": format!("{:?}", weighting).to_lowercase(),
        "updates": updates,
        "global_loss": eval.global_loss().mean_loss,
        "full_coalition_loss": full_loss.mean_loss,
        "utility_all": u_full,
        "utility_single": u_single,
        "leave_one_out": u_loo,
    });
    if a.table {
        if n > 12 {
            bail!("--table evaluates 2^n coalitions; {n} updates is too many (at most 12)");
        }
        let all: Vec<Vec<bool>> = (0..1u64 << n).map(|m| coalition_from_mask(m, n)).collect();
        let table = eval.utilities(&all)?;
        report["table"] = json!(table);
        report["shapley_exact"] = json!(exact_shapley(&table, n));
    }
    if !a.coalitions.is_empty() {
        let names: Vec<&str> = bundles
            .iter()
            .map(|b| b.manifest.participant.as_str())
            .collect();
        let mut valued = Vec::with_capacity(a.coalitions.len());
        for spec in &a.coalitions {
            let members = parse_coalition(spec, &names)?;
            let utility = eval.utility(&members)?;
            let participants: Vec<&str> = names
                .iter()
                .zip(&members)
                .filter(|(_, &m)| m)
                .map(|(p, _)| *p)
                .collect();
            valued.push(json!({ "participants": participants, "utility": utility }));
        }
        report["coalitions"] = json!(valued);
    }
    if let Some(out) = &a.aggregate_out {
        let refs: Vec<_> = bundles.iter().map(|b| &b.adapter).collect();
        let agg = aggregate(&refs, &eval.coalition_weights(&full))?
            .context("the aggregate of the updates is empty")?;
        let tokens_total = bundles.iter().map(|b| b.manifest.num_training_tokens).sum();
        let m = write_bundle(
            out,
            &agg,
            &BundleInfo {
                round: bundles[0].manifest.round,
                base_model_hash: loaded.base_model_hash.clone(),
                global_adapter_hash: None,
                num_training_tokens: tokens_total,
                participant: String::new(),
            },
        )?;
        report["aggregate"] = json!({
            "path": out.display().to_string(),
            "update_hash": m.update_hash,
            "rank": agg.config.r,
        });
    }
    report["coalitions_evaluated"] = json!(eval.evaluations());
    Ok(report)
}

/// The members of a `--coalition` list: each entry an update's participant address or its
/// 0-based index among the updates.
pub fn parse_coalition(spec: &str, participants: &[&str]) -> Result<Vec<bool>> {
    let mut members = vec![false; participants.len()];
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let i = match participants.iter().position(|p| *p == item) {
            Some(i) => i,
            None => match item.parse::<usize>() {
                Ok(i) if i < participants.len() => i,
                _ => bail!(
                    "--coalition {spec:?}: {item:?} is neither a participant of the updates ({}) nor an index below {}",
                    participants.join(", "),
                    participants.len()
                ),
            },
        };
        members[i] = true;
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalitions_name_updates_by_participant_or_index() {
        let names = ["wasm1a", "wasm1b", "wasm1c"];
        assert_eq!(
            parse_coalition("wasm1c, 0", &names).unwrap(),
            vec![true, false, true]
        );
        assert_eq!(parse_coalition("", &names).unwrap(), vec![false; 3]);
        let err = parse_coalition("wasm1z", &names).unwrap_err().to_string();
        assert!(err.contains("neither a participant"), "{err}");
    }

    #[test]
    fn exact_shapley_is_efficient_and_additive_games_give_their_weights() {
        // U(S) = Σ_{i∈S} v_i.
        let v = [0.5, -0.2, 1.0];
        let table: Vec<f64> = (0..8u64)
            .map(|m| (0..3).filter(|i| m >> i & 1 == 1).map(|i| v[i]).sum())
            .collect();
        let phi = exact_shapley(&table, 3);
        for i in 0..3 {
            assert!((phi[i] - v[i]).abs() < 1e-12);
        }
    }

    #[test]
    fn cli_parses_and_explains_missing_paths() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["fairshare-trainer", "train", "--rank", "4"]).unwrap();
        let err = run(cli).unwrap_err().to_string();
        assert!(err.contains("--model, --data and --output"), "{err}");
    }
}
