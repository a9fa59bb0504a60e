//! A Llama-architecture causal language model (RMSNorm, RoPE, grouped-query attention, SwiGLU)
//! whose projections can carry LoRA adapters. Base weights are plain tensors: only an adapter's
//! `Var`s receive gradients.

mod attention;
pub mod fused;
pub mod gemm;
pub mod hf;
pub mod load;
pub mod ops;
mod rowexp;

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use rand::rngs::StdRng;

use crate::config::{ModelConfig, LORA_MODULES};
use crate::error::{Result, TrainerError};
use crate::lora::{LoraAdapter, ModuleKey};
pub use load::{load_model, LoadedModel};
use ops::Rope;

/// Weights of one decoder layer, keyed by PEFT module name for the projections.
#[derive(Debug, Clone)]
struct Layer {
    input_norm: Tensor,
    post_attn_norm: Tensor,
    /// `q_proj`, `k_proj`, `v_proj`, `o_proj`, `gate_proj`, `up_proj`, `down_proj` → (out, in).
    proj: HashMap<&'static str, Tensor>,
}

static CPU_THREADS: std::sync::Once = std::sync::Once::new();

/// Keeps candle's element-wise thread pool on the calling thread unless `CANDLE_NUM_THREADS`
/// says otherwise.
///
/// candle 0.11 runs element-wise ops on a spinning thread pool of its own beside rayon's, which
/// runs the matmuls and the fused kernels; on 2 cores the two pools spin against each other and
/// the spin-waits took over half of a training step's CPU time (BENCHMARKS.md, Trainer). The
/// element-wise ops left are memory-bound and small. Runs once, before the first tensor op of a
/// model load; binaries that want it earlier can call it first thing.
pub fn init_cpu_threads() {
    CPU_THREADS.call_once(|| {
        if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
            std::env::set_var("CANDLE_NUM_THREADS", "1");
        }
    });
}

/// Which kernels a forward pass uses: the fused ones (default) or the ones composed from
/// candle primitives (the reference the fused ones are tested against).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kernels {
    Fused,
    /// Only the tests build models on this path.
    #[cfg_attr(not(test), allow(dead_code))]
    Composed,
}

/// The frozen base model.
#[derive(Debug, Clone)]
pub struct LlamaModel {
    config: ModelConfig,
    embed: Tensor,
    layers: Vec<Layer>,
    norm: Tensor,
    /// `None` when the output embedding is tied to the input one.
    lm_head: Option<Tensor>,
    rope: Rope,
    dtype: DType,
    device: Device,
}

fn take(weights: &mut HashMap<String, Tensor>, name: &str, shape: &[usize]) -> Result<Tensor> {
    let t = weights
        .remove(name)
        .ok_or_else(|| TrainerError::Format(format!("weight `{name}` is missing")))?;
    if t.dims() != shape {
        return Err(TrainerError::Format(format!(
            "weight `{name}` has shape {:?}, expected {shape:?}",
            t.dims()
        )));
    }
    Ok(t)
}

impl LlamaModel {
    /// Builds the model from Hugging Face-named weights (`model.layers.0.self_attn.q_proj.weight`,
    /// ...), converting them to `dtype` on `device`.
    pub fn from_weights(
        config: ModelConfig,
        mut weights: HashMap<String, Tensor>,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        init_cpu_threads();
        config.validate()?;
        let h = config.hidden_size;
        let v = config.vocab_size;
        let conv = |t: Tensor| -> Result<Tensor> { Ok(t.to_device(device)?.to_dtype(dtype)?) };
        let embed = conv(take(&mut weights, "model.embed_tokens.weight", &[v, h])?)?;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let p = format!("model.layers.{i}");
            let input_norm = conv(take(
                &mut weights,
                &format!("{p}.input_layernorm.weight"),
                &[h],
            )?)?;
            let post_attn_norm = conv(take(
                &mut weights,
                &format!("{p}.post_attention_layernorm.weight"),
                &[h],
            )?)?;
            let mut proj = HashMap::new();
            for m in LORA_MODULES {
                let key = ModuleKey::new(i, m);
                let (fan_in, fan_out) = crate::lora::module_dims(&config, m)?;
                let w = take(&mut weights, &key.base_weight_name(), &[fan_out, fan_in])?;
                proj.insert(m, conv(w)?);
            }
            layers.push(Layer {
                input_norm,
                post_attn_norm,
                proj,
            });
        }
        let norm = conv(take(&mut weights, "model.norm.weight", &[h])?)?;
        let lm_head = match weights.remove("lm_head.weight") {
            Some(t) if !config.tie_word_embeddings => {
                if t.dims() != [v, h] {
                    return Err(TrainerError::Format(format!(
                        "weight `lm_head.weight` has shape {:?}, expected [{v}, {h}]",
                        t.dims()
                    )));
                }
                Some(conv(t)?)
            }
            None if !config.tie_word_embeddings => {
                return Err(TrainerError::Format(
                    "weight `lm_head.weight` is missing and tie_word_embeddings is false".into(),
                ))
            }
            _ => None,
        };
        let rope = Rope::new(
            config.head_dim(),
            config.max_position_embeddings.max(1),
            config.rope_theta,
            config.rope_layout,
            dtype,
            device,
        )?;
        Ok(Self {
            config,
            embed,
            layers,
            norm,
            lm_head,
            rope,
            dtype,
            device: device.clone(),
        })
    }

    /// The architecture.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Floating-point type of the weights and activations.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Where the weights live.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Every base weight under its Hugging Face name (for writing a checkpoint).
    pub fn hf_weights(&self) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        out.insert("model.embed_tokens.weight".to_string(), self.embed.clone());
        for (i, l) in self.layers.iter().enumerate() {
            let p = format!("model.layers.{i}");
            out.insert(format!("{p}.input_layernorm.weight"), l.input_norm.clone());
            out.insert(
                format!("{p}.post_attention_layernorm.weight"),
                l.post_attn_norm.clone(),
            );
            for (m, w) in &l.proj {
                out.insert(ModuleKey::new(i, m).base_weight_name(), w.clone());
            }
        }
        out.insert("model.norm.weight".to_string(), self.norm.clone());
        if let Some(h) = &self.lm_head {
            out.insert("lm_head.weight".to_string(), h.clone());
        }
        out
    }

    /// Folds an adapter into the base weights (`W += s·B·A`), e.g. the round's global adapter.
    pub fn merge_adapter(&mut self, adapter: &LoraAdapter) -> Result<()> {
        for key in adapter.modules.keys() {
            let layer = self.layers.get_mut(key.layer).ok_or_else(|| {
                TrainerError::Mismatch(format!(
                    "adapter names layer {} but the model has {} layers",
                    key.layer, self.config.num_hidden_layers
                ))
            })?;
            let w = layer.proj.get_mut(key.module.as_str()).ok_or_else(|| {
                TrainerError::Mismatch(format!("adapter names unknown module `{}`", key.module))
            })?;
            let delta = adapter
                .delta(key)?
                .expect("key comes from the adapter's own modules")
                .to_dtype(self.dtype)?;
            if delta.dims() != w.dims() {
                return Err(TrainerError::Mismatch(format!(
                    "adapter update for `{}` has shape {:?}, the weight {:?}",
                    key.peft_prefix(),
                    delta.dims(),
                    w.dims()
                )));
            }
            *w = (&*w + delta)?;
        }
        Ok(())
    }

    fn project(
        &self,
        layer: usize,
        module: &'static str,
        x: &Tensor,
        adapter: Option<&LoraAdapter>,
        dropout: &mut Option<&mut StdRng>,
    ) -> Result<Tensor> {
        let w = &self.layers[layer].proj[module];
        let base = fused::linear(x, w)?;
        match adapter {
            None => Ok(base),
            Some(a) => {
                let key = ModuleKey::new(layer, module);
                match a.forward(&key, x, dropout.as_deref_mut())? {
                    Some(extra) => Ok((base + extra)?),
                    None => Ok(base),
                }
            }
        }
    }

    /// Logits (B, T, vocab) for token ids (B, T) of type u32. `dropout` is the RNG for LoRA
    /// dropout while training; `None` evaluates deterministically.
    pub fn forward(
        &self,
        input_ids: &Tensor,
        adapter: Option<&LoraAdapter>,
        dropout: Option<&mut StdRng>,
    ) -> Result<Tensor> {
        let (b, t) = input_ids.dims2()?;
        let x = self.hidden(input_ids, adapter, dropout, Kernels::Fused)?;
        Ok(fused::linear(&x, self.head())?.reshape((b, t, ()))?)
    }

    /// The output embedding (the input one when tied).
    fn head(&self) -> &Tensor {
        self.lm_head.as_ref().unwrap_or(&self.embed)
    }

    /// Final hidden states (B·T, hidden), after the last RMSNorm.
    ///
    /// Activations stay 2-D, one row per token, from the embedding to the last norm: every
    /// reshape is a node of candle's autograd graph, and each node costs a zeroed gradient
    /// buffer and an addition in the backward pass.
    fn hidden(
        &self,
        input_ids: &Tensor,
        adapter: Option<&LoraAdapter>,
        mut dropout: Option<&mut StdRng>,
        kernels: Kernels,
    ) -> Result<Tensor> {
        let fused = kernels == Kernels::Fused && fused::supported(self.dtype);
        let norm = |x: &Tensor, w: &Tensor| {
            if fused {
                fused::rms_norm(x, w, self.config.rms_norm_eps)
            } else {
                ops::rms_norm(x, w, self.config.rms_norm_eps)
            }
        };
        let (b, t) = input_ids.dims2()?;
        if t > self.rope.max_len() {
            return Err(TrainerError::Config(format!(
                "sequence of {t} tokens is longer than the model's {} positions",
                self.rope.max_len()
            )));
        }
        let cfg = &self.config;
        let (nh, nkv, hd) = (cfg.num_attention_heads, cfg.kv_heads(), cfg.head_dim());
        let mut x = self.embed.index_select(&input_ids.flatten_all()?, 0)?;
        let mask = if fused {
            None
        } else {
            Some(ops::causal_mask(t, self.dtype, &self.device)?)
        };
        let scale = 1.0 / (hd as f64).sqrt();
        for (i, layer) in self.layers.iter().enumerate() {
            // Attention block.
            let h = norm(&x, &layer.input_norm)?;
            let q = self.project(i, "q_proj", &h, adapter, &mut dropout)?;
            let k = self.project(i, "k_proj", &h, adapter, &mut dropout)?;
            let v = self.project(i, "v_proj", &h, adapter, &mut dropout)?;
            let attn = match &mask {
                // One fused op from the projections to the output projection's input.
                None => attention::causal_gqa(&q, &k, &v, &self.rope, nh, nkv, t)?,
                Some(mask) => {
                    let q = q.reshape((b, t, nh, hd))?.transpose(1, 2)?.contiguous()?;
                    let k = k.reshape((b, t, nkv, hd))?.transpose(1, 2)?.contiguous()?;
                    let v = v.reshape((b, t, nkv, hd))?.transpose(1, 2)?.contiguous()?;
                    let q = self.rope.apply(&q)?;
                    let k = repeat_kv(&self.rope.apply(&k)?, nh / nkv)?;
                    let v = repeat_kv(&v, nh / nkv)?;
                    let scores = q.matmul(&k.t()?.contiguous()?)?;
                    let probs = ops::softmax_last(&(scores * scale)?.broadcast_add(mask)?)?;
                    probs
                        .matmul(&v)?
                        .transpose(1, 2)?
                        .contiguous()?
                        .reshape((b * t, nh * hd))?
                }
            };
            let o = self.project(i, "o_proj", &attn, adapter, &mut dropout)?;
            x = (x + o)?;
            // SwiGLU MLP block.
            let h = norm(&x, &layer.post_attn_norm)?;
            let gate = self.project(i, "gate_proj", &h, adapter, &mut dropout)?;
            let up = self.project(i, "up_proj", &h, adapter, &mut dropout)?;
            let act = if fused {
                fused::silu_mul(&gate, &up)?
            } else {
                (ops::silu(&gate)? * up)?
            };
            let down = self.project(i, "down_proj", &act, adapter, &mut dropout)?;
            x = (x + down)?;
        }
        norm(&x, &self.norm)
    }

    /// Mean next-token loss of `tokens` (B, T+1): predicts positions 1..=T from 0..T.
    ///
    /// The output projection and cross-entropy run fused and in row chunks, so the (B·T, vocab)
    /// logits are never held whole; without trainable variables nothing is kept for a backward
    /// pass (the evaluation path).
    pub fn loss(
        &self,
        tokens: &Tensor,
        adapter: Option<&LoraAdapter>,
        dropout: Option<&mut StdRng>,
    ) -> Result<Tensor> {
        self.loss_with(tokens, adapter, dropout, Kernels::Fused)
    }

    fn loss_with(
        &self,
        tokens: &Tensor,
        adapter: Option<&LoraAdapter>,
        dropout: Option<&mut StdRng>,
        kernels: Kernels,
    ) -> Result<Tensor> {
        let (_b, t1) = tokens.dims2()?;
        if t1 < 2 {
            return Err(TrainerError::Data(
                "a sequence needs at least 2 tokens".into(),
            ));
        }
        let inputs = tokens.narrow(1, 0, t1 - 1)?;
        let targets = tokens.narrow(1, 1, t1 - 1)?.flatten_all()?;
        let x = self.hidden(&inputs, adapter, dropout, kernels)?;
        match kernels {
            Kernels::Fused => {
                fused::linear_cross_entropy(&x, self.head(), &targets.to_vec1::<u32>()?)
            }
            Kernels::Composed => {
                ops::cross_entropy(&x.broadcast_matmul(&self.head().t()?)?, &targets)
            }
        }
    }
}

/// Repeats each key/value head `n` times so grouped-query attention lines up with query heads.
fn repeat_kv(x: &Tensor, n: usize) -> Result<Tensor> {
    if n == 1 {
        return Ok(x.clone());
    }
    let (b, kv, t, d) = x.dims4()?;
    Ok(x.unsqueeze(2)?
        .broadcast_as((b, kv, n, t, d))?
        .contiguous()?
        .reshape((b, kv * n, t, d))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{LoraConfig, LORA_MODULES};
    use crate::testing::{random_weights, randomize_b, tiny_config};

    fn setup(dtype: DType, tied: bool) -> (LlamaModel, LoraAdapter, Tensor) {
        let cfg = tiny_config(tied);
        let w = random_weights(&cfg, 11).expect("random weights");
        let model = LlamaModel::from_weights(cfg, w, dtype, &Device::Cpu).expect("tiny model");
        let lora = LoraConfig {
            r: 2,
            alpha: 4.0,
            dropout: 0.0,
            target_modules: LORA_MODULES.iter().map(|s| s.to_string()).collect(),
        };
        let adapter =
            LoraAdapter::init(model.config(), &lora, 5, dtype, &Device::Cpu).expect("adapter");
        randomize_b(&adapter, 0.1, 6).expect("random B");
        let ids: Vec<u32> = (0..2 * 13).map(|i| (i * 37 + 5) % 200).collect();
        let tokens = Tensor::from_vec(ids, (2, 13), &Device::Cpu).expect("tokens");
        (model, adapter, tokens)
    }

    fn scalar(t: &Tensor) -> f64 {
        t.to_dtype(DType::F64)
            .and_then(|t| t.to_scalar::<f64>())
            .expect("scalar loss")
    }

    /// The fused path gives the composed path's loss and LoRA gradients: to rounding in f64,
    /// and within 1e-4 relative in f32 (the tolerance evaluation results are stated with).
    #[test]
    fn fused_kernels_match_the_composed_model_in_loss_and_gradients() {
        for (dtype, tol) in [(DType::F64, 1e-10), (DType::F32, 1e-4)] {
            for tied in [false, true] {
                let (model, adapter, tokens) = setup(dtype, tied);
                let lf = model
                    .loss_with(&tokens, Some(&adapter), None, Kernels::Fused)
                    .expect("fused loss");
                let lc = model
                    .loss_with(&tokens, Some(&adapter), None, Kernels::Composed)
                    .expect("composed loss");
                let (vf, vc) = (scalar(&lf), scalar(&lc));
                assert!((vf - vc).abs() <= tol * vc.abs(), "loss {vf} vs {vc}");
                let gf = lf.backward().expect("fused backward");
                let gc = lc.backward().expect("composed backward");
                for var in adapter.vars() {
                    let a = gf.get(var.as_tensor()).expect("fused gradient");
                    let b = gc.get(var.as_tensor()).expect("composed gradient");
                    let diff = scalar(
                        &(a - b)
                            .unwrap()
                            .abs()
                            .unwrap()
                            .max_keepdim(0)
                            .unwrap()
                            .max_keepdim(1)
                            .unwrap()
                            .squeeze(0)
                            .unwrap()
                            .squeeze(0)
                            .unwrap(),
                    );
                    let size = scalar(
                        &b.abs()
                            .unwrap()
                            .max_keepdim(0)
                            .unwrap()
                            .max_keepdim(1)
                            .unwrap()
                            .squeeze(0)
                            .unwrap()
                            .squeeze(0)
                            .unwrap(),
                    );
                    assert!(
                        diff <= tol * size.max(1e-3),
                        "gradient differs by {diff} (size {size})"
                    );
                }
                // Evaluation without an adapter and through `forward` agree with the composed path too.
                let inputs = tokens.narrow(1, 0, 12).expect("inputs");
                let logits = model.forward(&inputs, None, None).expect("logits");
                let x = model
                    .hidden(&inputs, None, None, Kernels::Composed)
                    .expect("hidden");
                let reference = x
                    .broadcast_matmul(&model.head().t().unwrap())
                    .unwrap()
                    .reshape(logits.dims())
                    .unwrap();
                let diff = scalar(
                    &(logits - reference)
                        .unwrap()
                        .abs()
                        .unwrap()
                        .flatten_all()
                        .unwrap()
                        .max(0)
                        .unwrap(),
                );
                assert!(diff <= tol * 10.0, "logits differ by {diff}");
            }
        }
    }
}
