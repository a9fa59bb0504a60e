//! Tiny random-weight models for tests, examples and the PEFT interoperability check: no test
//! needs a download.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::{ModelConfig, RopeLayout, LORA_MODULES};
use crate::error::{Result, TrainerError};
use crate::lora::{module_dims, LoraAdapter, ModuleKey};

/// Merges of the tiny test tokenizer (on top of the 256 byte symbols).
pub const TINY_MERGES: [(&str, &str); 4] = [("t", "h"), ("th", "e"), ("Ġ", "th"), ("e", "r")];

/// A 2-layer model with grouped-query attention (4 query heads, 2 key/value heads) whose
/// vocabulary matches [`crate::tokenizer::tiny_bpe`] over [`TINY_MERGES`].
pub fn tiny_config(tied: bool) -> ModelConfig {
    ModelConfig {
        vocab_size: 256 + TINY_MERGES.len() + 1,
        hidden_size: 32,
        intermediate_size: 64,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: Some(2),
        head_dim: None,
        rms_norm_eps: 1e-5,
        rope_theta: 10_000.0,
        max_position_embeddings: 128,
        tie_word_embeddings: tied,
        bos_token_id: None,
        eos_token_id: Some((256 + TINY_MERGES.len()) as u32),
        rope_layout: RopeLayout::SplitHalf,
    }
}

fn normal(rng: &mut StdRng, n: usize, std: f64) -> Vec<f32> {
    (0..n)
        .map(|_| {
            // Box–Muller.
            let u1: f64 = rng.random::<f64>().max(1e-12);
            let u2: f64 = rng.random();
            ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos() * std) as f32
        })
        .collect()
}

/// Random Hugging Face-named weights for `cfg` (normal, std 0.1 for projections; norms near 1).
pub fn random_weights(cfg: &ModelConfig, seed: u64) -> Result<HashMap<String, Tensor>> {
    let dev = Device::Cpu;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut w = HashMap::new();
    let (v, h) = (cfg.vocab_size, cfg.hidden_size);
    w.insert(
        "model.embed_tokens.weight".to_string(),
        Tensor::from_vec(normal(&mut rng, v * h, 0.5), (v, h), &dev)?,
    );
    let norm = |rng: &mut StdRng| -> Result<Tensor> {
        let vals: Vec<f32> = normal(rng, h, 0.1).iter().map(|x| 1.0 + x).collect();
        Ok(Tensor::from_vec(vals, h, &dev)?)
    };
    for i in 0..cfg.num_hidden_layers {
        let p = format!("model.layers.{i}");
        w.insert(format!("{p}.input_layernorm.weight"), norm(&mut rng)?);
        w.insert(
            format!("{p}.post_attention_layernorm.weight"),
            norm(&mut rng)?,
        );
        for m in LORA_MODULES {
            let (fan_in, fan_out) = module_dims(cfg, m)?;
            let std = 1.0 / (fan_in as f64).sqrt();
            let t = Tensor::from_vec(
                normal(&mut rng, fan_in * fan_out, std),
                (fan_out, fan_in),
                &dev,
            )?;
            w.insert(ModuleKey::new(i, m).base_weight_name(), t);
        }
    }
    w.insert("model.norm.weight".to_string(), norm(&mut rng)?);
    if !cfg.tie_word_embeddings {
        w.insert(
            "lm_head.weight".to_string(),
            Tensor::from_vec(normal(&mut rng, v * h, 0.2), (v, h), &dev)?,
        );
    }
    Ok(w)
}

/// Writes a tiny Hugging Face checkpoint directory (config, weights and a byte-level BPE
/// `tokenizer.json`) that both this crate and `transformers` load.
pub fn write_tiny_model(dir: &Path, cfg: &ModelConfig, seed: u64) -> Result<()> {
    let weights = random_weights(cfg, seed)?;
    crate::model::hf::save_dir(dir, cfg, &weights)?;
    let tok = crate::tokenizer::tiny_bpe(&TINY_MERGES)?;
    let path = dir.join("tokenizer.json");
    tok.save(&path, false)
        .map_err(|e| TrainerError::Tokenizer(format!("{}: {e}", path.display())))?;
    Ok(())
}

/// Gives every `B` of an adapter random values (std `std`), so that an untrained adapter
/// changes the model and every factor receives a gradient.
pub fn randomize_b(adapter: &LoraAdapter, std: f64, seed: u64) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    for var in adapter.vars() {
        let is_b = adapter
            .modules
            .values()
            .any(|p| p.b.id() == var.as_tensor().id());
        if is_b {
            let n = var.elem_count();
            let t = Tensor::from_vec(normal(&mut rng, n, std), var.shape(), var.device())?
                .to_dtype(var.dtype())?;
            var.set(&t)?;
        }
    }
    Ok(())
}

/// A frozen adapter whose `A` is the shared `A` of `a_seed` (a round's
/// [`crate::lora::round_init_seed`]) and whose `B` is random from `b_seed`: an honest
/// participant's update of that round, as the relayer accepts it.
pub fn round_adapter(
    model: &ModelConfig,
    lora: &crate::config::LoraConfig,
    a_seed: u64,
    b_seed: u64,
    dtype: DType,
) -> Result<LoraAdapter> {
    let a = LoraAdapter::init(model, lora, a_seed, dtype, &Device::Cpu)?;
    randomize_b(&a, 0.05, b_seed)?;
    a.to_dtype(dtype)
}

/// A frozen adapter with random `A` and `B` for `cfg`.
pub fn random_adapter(
    model: &ModelConfig,
    lora: &crate::config::LoraConfig,
    seed: u64,
    dtype: DType,
) -> Result<LoraAdapter> {
    let a = LoraAdapter::init(model, lora, seed, dtype, &Device::Cpu)?;
    randomize_b(&a, 0.05, seed.wrapping_add(1))?;
    a.to_dtype(dtype)
}
