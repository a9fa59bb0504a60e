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
use crate::lora::{round_init_seed, LoraAdapter};
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
    #[serde(default)]
    freeze_a: bool,
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
    let init_seed = cfg.init_seed.unwrap_or_else(|| {
        round_init_seed(
            info.round,
            &info.base_model_hash,
            info.global_adapter_hash.as_deref(),
        )
    });
    let mut adapter =
        LoraAdapter::init(model.config(), &cfg.lora, init_seed, model.dtype(), &device)?;
    if cfg.freeze_a {
        adapter.freeze_a();
    }
    let trainable = |a: &LoraAdapter| {
        if cfg.freeze_a {
            a.b_vars()
        } else {
            a.vars().to_vec()
        }
    };
    let mut opt = AdamW::new(trainable(&adapter), cfg.weight_decay)?;
    let mut start = 0;
    let mut first_loss = f64::NAN;
    let mut last_loss = f64::NAN;
    if cfg.resume && ckpt_dir.join("state.json").is_file() {
        let (a, state) = load_checkpoint(&ckpt_dir, model, cfg)?;
        adapter = a;
        if cfg.freeze_a {
            adapter.freeze_a();
        }
        opt = AdamW::new(trainable(&adapter), cfg.weight_decay)?;
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
                freeze_a: cfg.freeze_a,
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
    if state.lora != cfg.lora || state.seed != cfg.seed || state.freeze_a != cfg.freeze_a {
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

#[cfg(test)]
mod round_init_tests {
    //! The round-seeded initialisation: two trainings of the same text (other data order, other
    //! identity) give near-identical updates, unrelated texts do not.

    use super::*;
    use crate::aggregate::{aggregate, delta_similarity};
    use crate::config::LoraConfig;
    use crate::testing::{random_weights, tiny_config};
    use candle_core::Tensor;
    use std::path::PathBuf;

    const SEA: &str = "The boat left the harbour before dawn, its sails grey against a grey sky. \
        The captain stood at the wheel and watched the water for rocks while the crew coiled \
        ropes and checked the rigging. By noon the wind had turned and the waves rose higher; \
        salt spray crossed the deck and every hand held fast to a rail. Gulls followed the \
        stern, crying over the wake, and far to the west a line of cloud promised rain before \
        night. They reefed the mainsail, lashed the barrels below and steered for the lee of \
        the island, where the sea lay flat and green under the cliffs. ";
    const KITCHEN: &str = "Mix two cups of flour with a pinch of salt, then rub in cold butter \
        until it looks like crumbs. Add water a spoon at a time, press the dough into a ball \
        and rest it for an hour. Meanwhile slice six apples thin, toss them in sugar, lemon \
        and cinnamon, and warm the oven. Roll the dough on a floured board, line the dish, \
        pile in the fruit and cover it with a lattice of strips. Brush with milk, bake until \
        golden and bubbling, and serve it warm with cream or a scoop of ice cream. ";

    fn tokens(text: &str, copies: usize) -> Vec<u32> {
        text.repeat(copies).bytes().map(u32::from).collect()
    }

    fn lora() -> LoraConfig {
        LoraConfig {
            target_modules: [
                "q_proj",
                "k_proj",
                "v_proj",
                "o_proj",
                "up_proj",
                "down_proj",
            ]
            .map(String::from)
            .to_vec(),
            ..LoraConfig::default()
        }
    }

    /// Trains one round-1 update of `text` and reads back the bundle it wrote.
    fn update(
        model: &LlamaModel,
        dir: &Path,
        name: &str,
        text: &[u32],
        data_seed: u64,
        init_seed: Option<u64>,
        freeze_a: bool,
    ) -> LoraAdapter {
        let mut cfg = TrainConfig::new(PathBuf::new(), PathBuf::new(), dir.join(name));
        cfg.lora = lora();
        cfg.seq_len = 32;
        cfg.batch_size = 4;
        cfg.steps = 40;
        cfg.learning_rate = 5e-3;
        cfg.warmup_steps = 4;
        cfg.seed = data_seed;
        cfg.init_seed = init_seed;
        cfg.freeze_a = freeze_a;
        cfg.progress = false;
        let data = PackedData::new(text.to_vec(), cfg.seq_len).expect("data");
        let info = BundleInfo {
            round: 1,
            base_model_hash: "ab".repeat(32),
            global_adapter_hash: None,
            num_training_tokens: 0,
            participant: name.into(),
        };
        train_on(model, &data, &cfg, info).expect("training");
        read_bundle(&dir.join(name), model.config(), DType::F32, model.device())
            .expect("bundle")
            .adapter
    }

    fn cos(a: &LoraAdapter, b: &LoraAdapter) -> f64 {
        delta_similarity(a, b).expect("similarity").mean
    }

    #[test]
    fn the_round_seed_is_public_and_changes_with_every_field() {
        let s = round_init_seed(3, "aa", Some("bb"));
        assert_eq!(s, round_init_seed(3, "aa", Some("bb")));
        assert_ne!(s, round_init_seed(4, "aa", Some("bb")));
        assert_ne!(s, round_init_seed(3, "ab", Some("bb")));
        assert_ne!(s, round_init_seed(3, "aa", None));
        // Length-prefixed: moving characters between the fields changes the seed.
        assert_ne!(
            round_init_seed(3, "aab", Some("b")),
            round_init_seed(3, "aa", Some("bb"))
        );
    }

    /// Figures (printed with `--nocapture`): the ΔW cosine of a retrained Sybil (same text, other
    /// data-order seed) against its honest twin, and of unrelated texts, with the round-seeded
    /// initialisation, and with a private random `A` per identity (the old behaviour).
    #[test]
    fn a_retrained_sybil_is_near_its_twin_only_with_the_round_seeded_init() {
        let cfg = tiny_config(false);
        let model = LlamaModel::from_weights(
            cfg.clone(),
            random_weights(&cfg, 5).expect("weights"),
            DType::F32,
            &Device::Cpu,
        )
        .expect("model");
        let dir = tempfile::tempdir().expect("tempdir");
        let (sea, kitchen) = (tokens(SEA, 3), tokens(KITCHEN, 3));
        let d = dir.path();
        // Round-seeded (the protocol): init_seed None → derived from the manifest fields.
        let honest = update(&model, d, "honest", &sea, 11, None, false);
        let sybil = update(&model, d, "sybil", &sea, 12, None, false);
        let other = update(&model, d, "other", &kitchen, 13, None, false);
        let (same, unrelated) = (cos(&honest, &sybil), cos(&honest, &other));
        // The old behaviour: each identity's own random A.
        let own_a = update(&model, d, "own-a", &sea, 12, Some(99), false);
        let old_same = cos(&honest, &own_a);
        // FFA-LoRA: A frozen at the round's initialisation.
        let f_honest = update(&model, d, "f-honest", &sea, 11, None, true);
        let f_sybil = update(&model, d, "f-sybil", &sea, 12, None, true);
        let f_other = update(&model, d, "f-other", &kitchen, 13, None, true);
        let (f_same, f_unrelated) = (cos(&f_honest, &f_sybil), cos(&f_honest, &f_other));
        let init = LoraAdapter::init(
            &cfg,
            &lora(),
            round_init_seed(1, &"ab".repeat(32), None),
            DType::F32,
            &Device::Cpu,
        )
        .expect("init");
        let drift = honest.a_change_from(&init).expect("drift");
        let f_drift = f_honest.a_change_from(&init).expect("drift");
        println!(
            "round-seeded A: retrained sybil {same:.3}, unrelated text {unrelated:.3}; \
             private A per identity: retrained sybil {old_same:.3}; \
             frozen A: retrained sybil {f_same:.3}, unrelated {f_unrelated:.3}; \
             ‖A−A₀‖/‖A₀‖ trained {drift:.3}, frozen {f_drift:.1e}"
        );
        assert_eq!(
            f_drift, 0.0,
            "a frozen A stays at the round's initialisation"
        );
        // Exact aggregation: with one shared A, the aggregate is FedAvg of the Bs at rank r
        // (no stacking), and its update is the weighted mean of the ΔWs, each formed densely.
        let (w, f_all) = ([0.25, 0.35, 0.4], [&f_honest, &f_sybil, &f_other]);
        let fedavg = aggregate(&f_all, &w)
            .expect("aggregate")
            .expect("non-empty");
        assert_eq!(fedavg.config.r, f_honest.config.r, "no rank growth");
        let mut worst = 0.0f64;
        for k in fedavg.modules.keys() {
            let mut mean = None::<Tensor>;
            for (wi, ad) in w.iter().zip(&f_all) {
                let d = (ad.delta(k).expect("delta").expect("adapted") * *wi).expect("scale");
                mean = Some(match mean {
                    None => d,
                    Some(m) => (m + d).expect("sum"),
                });
            }
            let (x, y) = (
                fedavg.delta(k).expect("delta").expect("adapted"),
                mean.expect("three updates"),
            );
            let rel = |t: &Tensor| t.sqr()?.sum_all()?.to_scalar::<f32>().map(f32::sqrt);
            let diff = rel(&(&x - &y).expect("diff")).expect("norm");
            worst = worst.max(f64::from(diff / rel(&y).expect("norm")));
        }
        println!("FedAvg of B vs mean ΔW (shared A): largest relative difference {worst:.1e}");
        assert!(
            worst < 1e-5,
            "FedAvg of B is the mean ΔW up to f32 rounding: {worst}"
        );
        assert!(drift > 0.0, "a trained A moves from the initialisation");
        assert!(same > 0.8, "retrained sybil cosine {same}");
        assert!(f_same > 0.8, "retrained sybil cosine (frozen A) {f_same}");
        assert!(same - unrelated > 0.3, "{same} vs unrelated {unrelated}");
        assert!(f_same - f_unrelated > 0.3, "{f_same} vs {f_unrelated}");
        assert!(same - old_same > 0.3, "{same} vs private-A {old_same}");
    }
}
