//! Training a LoRA adapter on local text and writing the update bundle.

use std::path::Path;
use std::time::Instant;

use candle_core::{DType, Device};
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::bundle::{read_bundle, write_bundle, BundleInfo, Manifest};
use crate::config::TrainConfig;
use crate::data::{read_texts, tokenize_documents, PackedData};
use crate::error::{Result, TrainerError};
use crate::lora::LoraAdapter;
use crate::model::{load_model, LlamaModel};
use crate::optim::{lr_at, AdamW};

/// What a finished run reports (the CLI prints it as JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainReport {
    pub steps: usize,
    /// Steps run in this invocation (fewer than `steps` after a resume).
    pub steps_this_run: usize,
    /// Tokens predicted over all steps (the manifest's `num_training_tokens`).
    pub training_tokens: u64,
    pub first_loss: f64,
    pub final_loss: f64,
    pub tokens_per_sec: f64,
    pub peak_rss_bytes: Option<u64>,
    /// Wall-clock seconds of this run's steps spent in each phase (the profile to attack).
    #[serde(default)]
    pub phase_seconds: PhaseSeconds,
    pub bundle: String,
    pub manifest: Manifest,
}

/// Seconds spent in the phases of the training steps.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct PhaseSeconds {
    /// Forward pass and loss (including the fused cross-entropy's input gradient).
    pub forward: f64,
    /// `backward()` through the graph.
    pub backward: f64,
    /// Gradient clipping and the AdamW update.
    pub optimizer: f64,
}

/// State saved next to a checkpoint's adapter and optimiser moments.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CheckpointState {
    step: usize,
    total_steps: usize,
    seed: u64,
    first_loss: f64,
    last_loss: f64,
    lora: crate::config::LoraConfig,
}

/// Peak resident memory of this process (Linux `VmHWM`), if the platform reports it.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn seed_for_step(seed: u64, step: usize) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (step as u64).wrapping_add(0xD1B5_4A32_D192_ED03)
}

/// Loads the model, data and (optionally) global adapter named by `cfg`, trains, and writes the
/// bundle to `cfg.output`.
pub fn train(cfg: &TrainConfig) -> Result<TrainReport> {
    cfg.validate()?;
    let device = Device::Cpu;
    let loaded = load_model(&cfg.model, DType::F32, &device)?;
    let mut model = loaded.model;
    let mut global_hash = None;
    if let Some(g) = &cfg.global_adapter {
        let bundle = read_bundle(g, model.config(), DType::F32, &device)?;
        model.merge_adapter(&bundle.adapter)?;
        global_hash = Some(bundle.manifest.update_hash);
    }
    let docs = read_texts(&cfg.data)?;
    let eos = model.config().eos_token_id;
    let tokens = tokenize_documents(&docs, &loaded.tokenizer, eos)?;
    if let Some(max) = tokens.iter().max() {
        if *max as usize >= model.config().vocab_size {
            return Err(TrainerError::Data(format!(
                "token id {max} is outside the model's vocabulary ({})",
                model.config().vocab_size
            )));
        }
    }
    let data = PackedData::new(tokens, cfg.seq_len)?;
    tracing::info!(
        files = docs.len(),
        windows = data.num_windows(),
        "packed training data"
    );
    let info = BundleInfo {
        round: cfg.round,
        base_model_hash: loaded.base_model_hash,
        global_adapter_hash: global_hash,
        num_training_tokens: 0,
        participant: cfg.participant.clone(),
    };
    train_on(&model, &data, cfg, info)
}

/// Trains an adapter for `model` on packed `data` and writes the bundle; `info` supplies the
/// manifest fields (its token count is filled in here).
pub fn train_on(
    model: &LlamaModel,
    data: &PackedData,
    cfg: &TrainConfig,
    mut info: BundleInfo,
) -> Result<TrainReport> {
    cfg.validate()?;
    let device = model.device().clone();
    let total = if cfg.steps > 0 {
        cfg.steps
    } else {
        data.num_windows().div_ceil(cfg.batch_size)
    };
    let ckpt_dir = cfg.checkpoint_path();
    let mut adapter =
        LoraAdapter::init(model.config(), &cfg.lora, cfg.seed, model.dtype(), &device)?;
    let mut opt = AdamW::new(adapter.vars().to_vec(), cfg.weight_decay)?;
    let mut start = 0;
    let mut first_loss = f64::NAN;
    let mut last_loss = f64::NAN;
    if cfg.resume && ckpt_dir.join("state.json").is_file() {
        let (a, state) = load_checkpoint(&ckpt_dir, model, cfg)?;
        adapter = a;
        opt = AdamW::new(adapter.vars().to_vec(), cfg.weight_decay)?;
        opt.load(&ckpt_dir.join("optimizer.safetensors"), state.step as u64)?;
        start = state.step;
        first_loss = state.first_loss;
        last_loss = state.last_loss;
        tracing::info!(step = start, "resumed from {}", ckpt_dir.display());
    }

    let bar = if cfg.progress {
        ProgressBar::new(total as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} steps  {msg}",
        )
        .expect("the progress template is valid"),
    );
    bar.set_position(start as u64);
    let tokens_per_step = (cfg.batch_size * cfg.seq_len) as u64;
    let t0 = Instant::now();
    let mut phases = PhaseSeconds::default();
    for step in start..total {
        let lr = lr_at(
            step,
            total,
            cfg.warmup_steps,
            cfg.learning_rate,
            cfg.min_lr_ratio,
        );
        let batch = data.batch(step, cfg.batch_size, cfg.seed, &device)?;
        let mut rng = StdRng::seed_from_u64(seed_for_step(cfg.seed, step));
        let t_fwd = Instant::now();
        let loss = model.loss(&batch, Some(&adapter), Some(&mut rng))?;
        let loss_val = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        phases.forward += t_fwd.elapsed().as_secs_f64();
        if !loss_val.is_finite() {
            return Err(TrainerError::NonFinite(format!(
                "loss became {loss_val} at step {}: training diverged (lower the learning rate)",
                step + 1
            )));
        }
        if first_loss.is_nan() {
            first_loss = loss_val;
        }
        last_loss = loss_val;
        let t_bwd = Instant::now();
        let grads = loss.backward()?;
        phases.backward += t_bwd.elapsed().as_secs_f64();
        let t_opt = Instant::now();
        opt.step(&grads, lr, cfg.grad_clip)?;
        phases.optimizer += t_opt.elapsed().as_secs_f64();
        let done = (step + 1 - start) as f64;
        let tps = done * tokens_per_step as f64 / t0.elapsed().as_secs_f64().max(1e-9);
        bar.set_message(format!("loss {loss_val:.4}  lr {lr:.2e}  {tps:.0} tok/s"));
        bar.inc(1);
        tracing::debug!(step = step + 1, loss = loss_val, lr, "step");
        if cfg.checkpoint_every > 0 && (step + 1) % cfg.checkpoint_every == 0 && step + 1 < total {
            let state = CheckpointState {
                step: step + 1,
                total_steps: total,
                seed: cfg.seed,
                first_loss,
                last_loss,
                lora: cfg.lora.clone(),
            };
            save_checkpoint(&ckpt_dir, &adapter, &opt, &state)?;
        }
    }
    bar.finish_and_clear();
    let elapsed = t0.elapsed().as_secs_f64();
    let steps_this_run = total.saturating_sub(start);
    info.num_training_tokens = total as u64 * tokens_per_step;
    let manifest = write_bundle(&cfg.output, &adapter, &info)?;
    Ok(TrainReport {
        steps: total,
        steps_this_run,
        training_tokens: info.num_training_tokens,
        first_loss,
        final_loss: last_loss,
        tokens_per_sec: steps_this_run as f64 * tokens_per_step as f64 / elapsed.max(1e-9),
        peak_rss_bytes: peak_rss_bytes(),
        phase_seconds: phases,
        bundle: cfg.output.display().to_string(),
        manifest,
    })
}

fn save_checkpoint(
    dir: &Path,
    adapter: &LoraAdapter,
    opt: &AdamW,
    state: &CheckpointState,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| TrainerError::io(dir, e))?;
    crate::bundle::write_safetensors(&dir.join("adapter.safetensors"), &adapter.peft_tensors()?)?;
    opt.save(&dir.join("optimizer.safetensors"))?;
    let p = dir.join("state.json");
    std::fs::write(&p, serde_json::to_string_pretty(state)?).map_err(|e| TrainerError::io(&p, e))
}

fn load_checkpoint(
    dir: &Path,
    model: &LlamaModel,
    cfg: &TrainConfig,
) -> Result<(LoraAdapter, CheckpointState)> {
    let p = dir.join("state.json");
    let text = std::fs::read_to_string(&p).map_err(|e| TrainerError::io(&p, e))?;
    let state: CheckpointState = serde_json::from_str(&text)
        .map_err(|e| TrainerError::Format(format!("{}: {e}", p.display())))?;
    if state.lora != cfg.lora || state.seed != cfg.seed {
        return Err(TrainerError::Config(format!(
            "checkpoint in {} was made with a different LoRA config or seed; \
             delete it or start without --resume",
            dir.display()
        )));
    }
    let a_path = dir.join("adapter.safetensors");
    let bytes = std::fs::read(&a_path).map_err(|e| TrainerError::io(&a_path, e))?;
    let tensors = crate::bundle::parse_safetensors(&bytes, model.dtype(), model.device())?;
    let adapter = LoraAdapter::from_peft_tensors(cfg.lora.clone(), tensors, model.config())?
        .to_trainable()?;
    Ok((adapter, state))
}
