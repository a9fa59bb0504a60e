//! Full-parameter training of a small base model from scratch, so demos and tests have a model
//! that already knows a language without downloading one. LoRA training ([`crate::train`])
//! freezes the base; here every base weight is a `Var`.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::config::ModelConfig;
use crate::data::PackedData;
use crate::error::{Result, TrainerError};
use crate::model::LlamaModel;
use crate::optim::{lr_at, AdamW};

/// Optimiser schedule of a pretraining run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainConfig {
    pub steps: usize,
    pub batch_size: usize,
    pub seq_len: usize,
    pub learning_rate: f64,
    pub warmup_steps: usize,
    pub weight_decay: f64,
    pub grad_clip: f64,
    /// Seed of the initial weights and of the batch order.
    pub seed: u64,
    pub progress: bool,
}

impl Default for PretrainConfig {
    fn default() -> Self {
        Self {
            steps: 300,
            batch_size: 8,
            seq_len: 64,
            learning_rate: 3e-3,
            warmup_steps: 20,
            weight_decay: 0.01,
            grad_clip: 1.0,
            seed: 0,
            progress: true,
        }
    }
}

impl PretrainConfig {
    /// Checks the schedule once.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(TrainerError::Config(m.to_string()));
        if self.steps == 0 || self.batch_size == 0 {
            return bad("pretraining needs at least one step and a batch size of at least 1");
        }
        if self.seq_len < 2 {
            return bad("pretraining seq_len must be at least 2");
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad("pretraining learning_rate must be a positive number");
        }
        Ok(())
    }
}

/// What a pretraining run reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PretrainReport {
    pub steps: usize,
    pub parameters: usize,
    pub first_loss: f64,
    pub final_loss: f64,
    pub tokens_per_sec: f64,
}

/// Initial weights for training from scratch: small normal projections (std 0.02, GPT-2's
/// choice), unit norms.
fn initial_weights(cfg: &ModelConfig, seed: u64) -> Result<HashMap<String, Tensor>> {
    let mut w = crate::testing::random_weights(cfg, seed)?;
    for (name, t) in w.iter_mut() {
        if name.ends_with("norm.weight") {
            *t = t.ones_like()?;
        } else {
            // random_weights draws projections with std 1/sqrt(fan_in) and embeddings with
            // std 0.5; rescale both to std 0.02.
            let std = t
                .to_dtype(DType::F64)?
                .sqr()?
                .mean_all()?
                .sqrt()?
                .to_scalar::<f64>()?;
            if std > 0.0 {
                *t = (t.clone() * (0.02 / std))?;
            }
        }
    }
    Ok(w)
}

/// Trains every weight of a freshly initialised `cfg` model on `tokens` and returns the model.
pub fn pretrain(
    cfg: &ModelConfig,
    tokens: Vec<u32>,
    pc: &PretrainConfig,
) -> Result<(LlamaModel, PretrainReport)> {
    pc.validate()?;
    cfg.validate()?;
    if let Some(max) = tokens.iter().max() {
        if *max as usize >= cfg.vocab_size {
            return Err(TrainerError::Data(format!(
                "token id {max} is outside the model's vocabulary ({})",
                cfg.vocab_size
            )));
        }
    }
    let device = Device::Cpu;
    let data = PackedData::new(tokens, pc.seq_len)?;
    let mut vars = Vec::new();
    let mut weights = HashMap::new();
    for (name, t) in initial_weights(cfg, pc.seed)? {
        let v = Var::from_tensor(&t.to_dtype(DType::F32)?)?;
        weights.insert(name, v.as_tensor().clone());
        vars.push(v);
    }
    let parameters = vars.iter().map(|v| v.elem_count()).sum();
    // Same dtype and device: `from_weights` keeps the very tensors, so gradients reach `vars`.
    let model = LlamaModel::from_weights(cfg.clone(), weights, DType::F32, &device)?;
    let mut opt = AdamW::new(vars, pc.weight_decay)?;
    let bar = if pc.progress {
        ProgressBar::new(pc.steps as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "  pretraining [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
        )
        .expect("the progress template is valid"),
    );
    let t0 = Instant::now();
    let (mut first_loss, mut final_loss) = (f64::NAN, f64::NAN);
    for step in 0..pc.steps {
        let lr = lr_at(step, pc.steps, pc.warmup_steps, pc.learning_rate, 0.1);
        let batch = data.batch(step, pc.batch_size, pc.seed, &device)?;
        let loss = model.loss(&batch, None, None)?;
        let l = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        if !l.is_finite() {
            return Err(TrainerError::NonFinite(format!(
                "pretraining loss became {l} at step {}: lower the learning rate",
                step + 1
            )));
        }
        if first_loss.is_nan() {
            first_loss = l;
        }
        final_loss = l;
        let grads = loss.backward()?;
        opt.step(&grads, lr, pc.grad_clip)?;
        bar.set_message(format!("loss {l:.3}"));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let secs = t0.elapsed().as_secs_f64().max(1e-9);
    // Detach the trained weights from the optimiser's variables.
    let trained: HashMap<String, Tensor> = model
        .hf_weights()
        .into_iter()
        .map(|(k, v)| Ok((k, v.detach().copy()?)))
        .collect::<Result<_>>()?;
    let model = LlamaModel::from_weights(cfg.clone(), trained, DType::F32, &device)?;
    Ok((
        model,
        PretrainReport {
            steps: pc.steps,
            parameters,
            first_loss,
            final_loss,
            tokens_per_sec: (pc.steps * pc.batch_size * pc.seq_len) as f64 / secs,
        },
    ))
}

/// Writes a pretrained model as a Hugging Face directory (`config.json`, `model.safetensors`).
pub fn save(model: &LlamaModel, dir: &Path) -> Result<()> {
    crate::model::hf::save_dir(dir, model.config(), &model.hf_weights())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::tiny_config;

    #[test]
    fn pretraining_lowers_the_loss_of_a_repetitive_text() {
        let cfg = tiny_config(false);
        let text = "the theatre of the other mother ".repeat(40);
        let tokens: Vec<u32> = text.bytes().map(u32::from).collect();
        let pc = PretrainConfig {
            steps: 40,
            batch_size: 4,
            seq_len: 32,
            learning_rate: 1e-2,
            warmup_steps: 5,
            progress: false,
            ..PretrainConfig::default()
        };
        let (model, report) = pretrain(&cfg, tokens.clone(), &pc).expect("pretrains");
        assert!(
            report.final_loss < 0.5 * report.first_loss,
            "loss {} → {}",
            report.first_loss,
            report.final_loss
        );
        let eval = crate::eval::evaluate_loss(&model, None, &tokens, 32, 4).expect("evaluates");
        assert!(eval.mean_loss < report.first_loss * 0.5, "{eval:?}");
        // The saved directory loads back to the same loss.
        let dir = tempfile::tempdir().expect("tempdir");
        save(&model, dir.path()).expect("saves");
        let loaded = crate::model::load_model(dir.path(), DType::F32, &Device::Cpu).expect("loads");
        let again =
            crate::eval::evaluate_loss(&loaded.model, None, &tokens, 32, 4).expect("evaluates");
        assert!((again.mean_loss - eval.mean_loss).abs() < 1e-5);
    }

    #[test]
    fn a_token_outside_the_vocabulary_is_refused() {
        let cfg = tiny_config(true);
        let tokens = vec![0, 1, 2, cfg.vocab_size as u32, 3, 4];
        let pc = PretrainConfig {
            seq_len: 2,
            progress: false,
            ..PretrainConfig::default()
        };
        let err = pretrain(&cfg, tokens, &pc).expect_err("refused");
        assert!(
            err.to_string().contains("outside the model's vocabulary"),
            "{err}"
        );
    }

    #[test]
    fn a_learned_bpe_compresses_its_text() {
        let text = "To be, or not to be, that is the question. ".repeat(20);
        let tok = crate::tokenizer::learn_byte_level_bpe(&[text.as_str()], 300).expect("learns");
        let t = crate::tokenizer::TextTokenizer::Hf(Box::new(tok));
        let ids = t.encode(&text).expect("encodes");
        assert!(
            ids.len() * 3 < text.len(),
            "{} tokens for {} bytes",
            ids.len(),
            text.len()
        );
        assert_eq!(t.decode(&ids).expect("decodes"), text);
        assert!(t.token_id("<|endoftext|>").is_some());
        assert!(t.vocab_size() <= 300);
    }
}
