//! Typed configuration: the model architecture (read from a Hugging Face `config.json` or GGUF
//! metadata), the LoRA adapter shape, and the training run (TOML file + CLI flags).

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use crate::error::{Result, TrainerError};

/// How the two halves of each rotary pair are laid out inside a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RopeLayout {
    /// Hugging Face Llama: element `j` pairs with `j + head_dim/2` (`rotate_half`).
    #[default]
    SplitHalf,
    /// GGUF / Meta original: element `2j` pairs with `2j + 1`.
    Interleaved,
}

/// Architecture of a Llama-family causal LM, in the field names of Hugging Face's `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    #[serde(default)]
    pub head_dim: Option<usize>,
    #[serde(default = "default_rms_eps")]
    pub rms_norm_eps: f64,
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f64,
    #[serde(default = "default_max_pos")]
    pub max_position_embeddings: usize,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    #[serde(default)]
    pub eos_token_id: Option<u32>,
    /// Not a Hugging Face field: the rotary layout the weights expect (split-half for HF).
    #[serde(default, skip_serializing_if = "is_split_half")]
    pub rope_layout: RopeLayout,
}

fn is_split_half(l: &RopeLayout) -> bool {
    *l == RopeLayout::SplitHalf
}
fn default_rms_eps() -> f64 {
    1e-5
}
fn default_rope_theta() -> f64 {
    10_000.0
}
fn default_max_pos() -> usize {
    2048
}

impl ModelConfig {
    /// Number of key/value heads (grouped-query attention), defaulting to the query head count.
    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// Checks the shape constraints the model code relies on.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(TrainerError::Config(m));
        if self.num_attention_heads == 0 || self.hidden_size == 0 || self.num_hidden_layers == 0 {
            return bad(
                "hidden_size, num_attention_heads and num_hidden_layers must be > 0".into(),
            );
        }
        if !self.num_attention_heads.is_multiple_of(self.kv_heads()) {
            return bad(format!(
                "num_attention_heads ({}) must be a multiple of num_key_value_heads ({})",
                self.num_attention_heads,
                self.kv_heads()
            ));
        }
        if !self.head_dim().is_multiple_of(2) {
            return bad(format!(
                "head_dim ({}) must be even for RoPE",
                self.head_dim()
            ));
        }
        Ok(())
    }

    /// Reads a Hugging Face `config.json`.
    pub fn from_json_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainerError::io(path, e))?;
        let cfg: Self = serde_json::from_str(&text).map_err(|e| {
            TrainerError::Config(format!(
                "{} is not a Llama config.json: {e}",
                path.display()
            ))
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The `config.json` a Hugging Face `LlamaForCausalLM` accepts.
    pub fn to_hf_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).expect("ModelConfig serialises to JSON");
        let obj = v.as_object_mut().expect("ModelConfig is a JSON object");
        obj.insert(
            "architectures".into(),
            serde_json::json!(["LlamaForCausalLM"]),
        );
        obj.insert("model_type".into(), serde_json::json!("llama"));
        obj.insert("hidden_act".into(), serde_json::json!("silu"));
        obj.insert("attention_bias".into(), serde_json::json!(false));
        obj.insert("mlp_bias".into(), serde_json::json!(false));
        obj.insert("torch_dtype".into(), serde_json::json!("float32"));
        obj.insert(
            "num_key_value_heads".into(),
            serde_json::json!(self.kv_heads()),
        );
        obj.insert("head_dim".into(), serde_json::json!(self.head_dim()));
        v
    }
}

/// Projections that can carry a LoRA adapter, in PEFT's module names.
pub const LORA_MODULES: [&str; 7] = [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
];

/// Shape of a LoRA adapter: rank, scaling, dropout and which projections carry one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraConfig {
    #[serde(default = "default_rank")]
    pub r: usize,
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    #[serde(default)]
    pub dropout: f64,
    #[serde(default = "default_targets")]
    pub target_modules: Vec<String>,
}

fn default_rank() -> usize {
    8
}
fn default_alpha() -> f64 {
    16.0
}
fn default_targets() -> Vec<String> {
    vec!["q_proj".into(), "v_proj".into()]
}

impl Default for LoraConfig {
    fn default() -> Self {
        Self {
            r: default_rank(),
            alpha: default_alpha(),
            dropout: 0.0,
            target_modules: default_targets(),
        }
    }
}

impl LoraConfig {
    /// `alpha / r`, the factor PEFT multiplies `B·A` by.
    pub fn scaling(&self) -> f64 {
        self.alpha / self.r as f64
    }

    /// Checks rank, dropout and module names.
    pub fn validate(&self) -> Result<()> {
        if self.r == 0 {
            return Err(TrainerError::Config(
                "LoRA rank r must be at least 1".into(),
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(TrainerError::Config(format!(
                "LoRA dropout must be in [0, 1), got {}",
                self.dropout
            )));
        }
        if self.target_modules.is_empty() {
            return Err(TrainerError::Config("LoRA target_modules is empty".into()));
        }
        for m in &self.target_modules {
            if !LORA_MODULES.contains(&m.as_str()) {
                return Err(TrainerError::Config(format!(
                    "unknown LoRA target module `{m}` (expected one of {})",
                    LORA_MODULES.join(", ")
                )));
            }
        }
        Ok(())
    }
}

/// One training run: where the model and data are, the adapter, and the optimiser schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Hugging Face directory or `.gguf` file of the frozen base model.
    pub model: PathBuf,
    /// A text file or a directory of `.txt` files (read recursively, in sorted order).
    pub data: PathBuf,
    /// Where the update bundle is written.
    pub output: PathBuf,
    /// Optional global adapter (a bundle directory) merged into the base before training.
    #[serde(default)]
    pub global_adapter: Option<PathBuf>,
    #[serde(default)]
    pub lora: LoraConfig,
    #[serde(default = "default_seq_len")]
    pub seq_len: usize,
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Optimiser steps; 0 means one pass over the data.
    #[serde(default)]
    pub steps: usize,
    #[serde(default = "default_lr")]
    pub learning_rate: f64,
    #[serde(default)]
    pub weight_decay: f64,
    #[serde(default = "default_warmup")]
    pub warmup_steps: usize,
    /// Cosine decay floor as a fraction of the peak learning rate.
    #[serde(default = "default_min_lr_ratio")]
    pub min_lr_ratio: f64,
    /// Global-norm gradient clipping; 0 disables it.
    #[serde(default = "default_clip")]
    pub grad_clip: f64,
    /// Seed of the data order and dropout (a participant's own choice).
    #[serde(default)]
    pub seed: u64,
    /// Seed of the adapter's initial `A` (`B` starts at zero). `None`, the protocol's rule:
    /// the round's public seed [`crate::lora::round_init_seed`] of the round id, base-model
    /// hash and global-adapter hash, so every participant of a round starts from the same
    /// adapter and their updates `ΔW = s·B·A` share one row space (two trainings of the same
    /// text then give similar updates, which near-duplicate grouping needs). Set it only for
    /// experiments: a bundle whose `A` is not the round's is refused.
    #[serde(default)]
    pub init_seed: Option<u64>,
    /// Train only `B` and keep `A` at the round's initialisation (FFA-LoRA). On by default and
    /// required by the protocol: every update of a round then has the round's `A`, averaging
    /// the `B`s is averaging the updates, two trainings of one text give near-identical
    /// updates (near-duplicate grouping), and the relayer and evaluators recompute `A` from
    /// the round's public seed and refuse a bundle whose `A` differs. `false` (both factors
    /// train) is for experiments only: such bundles are refused.
    #[serde(default = "default_true")]
    pub freeze_a: bool,
    /// Save a resumable checkpoint every this many steps; 0 disables it.
    #[serde(default)]
    pub checkpoint_every: usize,
    /// Directory for checkpoints (default: `<output>/checkpoint`).
    #[serde(default)]
    pub checkpoint_dir: Option<PathBuf>,
    /// Resume from the checkpoint directory if one is there.
    #[serde(default)]
    pub resume: bool,
    #[serde(default)]
    pub round: u64,
    #[serde(default)]
    pub participant: String,
    /// Number of worker threads for candle (0: candle's default).
    #[serde(default)]
    pub threads: usize,
    #[serde(default = "default_true")]
    pub progress: bool,
}

fn default_seq_len() -> usize {
    128
}
fn default_batch() -> usize {
    4
}
fn default_lr() -> f64 {
    2e-4
}
fn default_warmup() -> usize {
    10
}
fn default_min_lr_ratio() -> f64 {
    0.1
}
fn default_clip() -> f64 {
    1.0
}
fn default_true() -> bool {
    true
}

impl TrainConfig {
    /// A configuration with defaults for everything but the three paths.
    pub fn new(model: PathBuf, data: PathBuf, output: PathBuf) -> Self {
        Self {
            model,
            data,
            output,
            global_adapter: None,
            lora: LoraConfig::default(),
            seq_len: default_seq_len(),
            batch_size: default_batch(),
            steps: 0,
            learning_rate: default_lr(),
            weight_decay: 0.0,
            warmup_steps: default_warmup(),
            min_lr_ratio: default_min_lr_ratio(),
            grad_clip: default_clip(),
            seed: 0,
            init_seed: None,
            freeze_a: true,
            checkpoint_every: 0,
            checkpoint_dir: None,
            resume: false,
            round: 0,
            participant: String::new(),
            threads: 0,
            progress: true,
        }
    }

    /// Reads a TOML file with the fields of this struct.
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainerError::io(path, e))?;
        toml::from_str(&text).map_err(|e| TrainerError::Config(format!("{}: {e}", path.display())))
    }

    /// Checks every field once, so the training loop can trust them.
    pub fn validate(&self) -> Result<()> {
        self.lora.validate()?;
        let bad = |m: &str| Err(TrainerError::Config(m.to_string()));
        if self.seq_len < 2 {
            return bad("seq_len must be at least 2");
        }
        if self.batch_size == 0 {
            return bad("batch_size must be at least 1");
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad("learning_rate must be a positive number");
        }
        if !(0.0..=1.0).contains(&self.min_lr_ratio) {
            return bad("min_lr_ratio must be in [0, 1]");
        }
        if !(self.grad_clip >= 0.0 && self.weight_decay >= 0.0) {
            return bad("grad_clip and weight_decay must be >= 0");
        }
        Ok(())
    }

    /// Where checkpoints go.
    pub fn checkpoint_path(&self) -> PathBuf {
        self.checkpoint_dir
            .clone()
            .unwrap_or_else(|| self.output.join("checkpoint"))
    }
}
