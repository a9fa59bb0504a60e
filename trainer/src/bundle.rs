//! Update bundles: the directory a participant submits (DESIGN §3).
//!
//! ```text
//! <bundle>/adapter_model.safetensors   PEFT tensor names, f32, metadata {"format": "pt"}
//! <bundle>/adapter_config.json         PEFT LoraConfig (PeftModel.from_pretrained reads it)
//! <bundle>/manifest.json               round, base-model hash, training tokens, participant, update hash
//! ```
//! `update_hash = sha256(adapter_model.safetensors bytes)`, see [`update_hash`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{LoraConfig, ModelConfig};
use crate::error::{Result, TrainerError};
use crate::lora::LoraAdapter;

/// File name of the adapter tensors inside a bundle.
pub const ADAPTER_FILE: &str = "adapter_model.safetensors";
/// File name of the PEFT adapter configuration inside a bundle.
pub const ADAPTER_CONFIG_FILE: &str = "adapter_config.json";
/// File name of the manifest inside a bundle.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Format tag written into every manifest.
pub const MANIFEST_FORMAT: &str = "fairshare-update/1";

/// `sha256(adapter_model.safetensors bytes)`: the hash a participant signs and the chain stores.
pub fn update_hash(adapter_bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(adapter_bytes).into()
}

/// Hex `sha256` of a file's bytes (streamed, for large model files).
pub fn sha256_file(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| TrainerError::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| TrainerError::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// What a bundle says about itself; the relayer checks it against the round (DESIGN §3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`MANIFEST_FORMAT`].
    pub format: String,
    pub round: u64,
    /// Hex sha256 of the base model file(s) the adapter was trained on.
    pub base_model_hash: String,
    /// Hex update hash of the global adapter merged into the base before training, if any.
    #[serde(default)]
    pub global_adapter_hash: Option<String>,
    /// Tokens the participant trained on (the data-size weight in aggregation).
    pub num_training_tokens: u64,
    /// The participant's chain address.
    pub participant: String,
    /// Hex `sha256(adapter_model.safetensors)`.
    pub update_hash: String,
}

/// PEFT's `adapter_config.json` (the subset of `LoraConfig` fields this crate produces).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeftConfig {
    pub peft_type: String,
    pub task_type: String,
    pub r: usize,
    pub lora_alpha: f64,
    #[serde(default)]
    pub lora_dropout: f64,
    pub target_modules: Vec<String>,
    #[serde(default = "none_str")]
    pub bias: String,
    #[serde(default)]
    pub fan_in_fan_out: bool,
    #[serde(default)]
    pub base_model_name_or_path: Option<String>,
    #[serde(default)]
    pub inference_mode: bool,
    #[serde(default)]
    pub use_rslora: bool,
    #[serde(default)]
    pub use_dora: bool,
}

fn none_str() -> String {
    "none".into()
}

impl PeftConfig {
    /// The PEFT config for an adapter shaped by `lora`.
    pub fn from_lora(lora: &LoraConfig) -> Self {
        Self {
            peft_type: "LORA".into(),
            task_type: "CAUSAL_LM".into(),
            r: lora.r,
            lora_alpha: lora.alpha,
            lora_dropout: lora.dropout,
            target_modules: lora.target_modules.clone(),
            bias: none_str(),
            fan_in_fan_out: false,
            base_model_name_or_path: None,
            inference_mode: true,
            use_rslora: false,
            use_dora: false,
        }
    }

    /// Back to this crate's adapter shape, rejecting PEFT variants we do not implement.
    pub fn to_lora(&self) -> Result<LoraConfig> {
        if self.peft_type != "LORA" {
            return Err(TrainerError::Format(format!(
                "adapter is `{}`, only LORA is supported",
                self.peft_type
            )));
        }
        if self.use_rslora || self.use_dora || self.fan_in_fan_out || self.bias != "none" {
            return Err(TrainerError::Format(
                "adapter uses rsLoRA, DoRA, fan_in_fan_out or biases, which are not supported"
                    .into(),
            ));
        }
        let cfg = LoraConfig {
            r: self.r,
            alpha: self.lora_alpha,
            dropout: self.lora_dropout,
            target_modules: self.target_modules.clone(),
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

/// Serialises f32 tensors as safetensors bytes with PEFT's `{"format": "pt"}` metadata. The
/// bytes depend only on names and values (entries are sorted), so hashes are reproducible.
pub fn safetensors_bytes(tensors: &[(String, Tensor)]) -> Result<Vec<u8>> {
    let mut raw: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let values = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        raw.push((name.clone(), t.dims().to_vec(), bytes));
    }
    raw.sort_by(|a, b| a.0.cmp(&b.0));
    let mut views = Vec::with_capacity(raw.len());
    for (name, shape, bytes) in &raw {
        let view =
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                .map_err(|e| TrainerError::Format(format!("tensor `{name}`: {e}")))?;
        views.push((name.as_str(), view));
    }
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::tensor::serialize(views, Some(meta))
        .map_err(|e| TrainerError::Format(format!("cannot serialise safetensors: {e}")))
}

/// Writes [`safetensors_bytes`] to `path`.
pub fn write_safetensors(path: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
    let bytes = safetensors_bytes(tensors)?;
    std::fs::write(path, bytes).map_err(|e| TrainerError::io(path, e))
}

/// Parses safetensors bytes holding f32/f64/f16/bf16 tensors into candle tensors of `dtype`.
pub fn parse_safetensors(
    bytes: &[u8],
    dtype: DType,
    device: &Device,
) -> Result<HashMap<String, Tensor>> {
    let st = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| TrainerError::Format(format!("not a safetensors file: {e}")))?;
    let mut out = HashMap::new();
    for (name, view) in st.tensors() {
        let src = match view.dtype() {
            safetensors::Dtype::F32 => DType::F32,
            safetensors::Dtype::F64 => DType::F64,
            safetensors::Dtype::F16 => DType::F16,
            safetensors::Dtype::BF16 => DType::BF16,
            other => {
                return Err(TrainerError::Format(format!(
                    "tensor `{name}` has dtype {other:?}; expected a float type"
                )))
            }
        };
        let t = Tensor::from_raw_buffer(view.data(), src, view.shape(), device)?.to_dtype(dtype)?;
        out.insert(name, t);
    }
    Ok(out)
}

/// An adapter with its manifest, as written to or read from a bundle directory.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub adapter: LoraAdapter,
    pub manifest: Manifest,
}

/// Everything [`write_bundle`] needs besides the adapter.
#[derive(Debug, Clone, Default)]
pub struct BundleInfo {
    pub round: u64,
    pub base_model_hash: String,
    pub global_adapter_hash: Option<String>,
    pub num_training_tokens: u64,
    pub participant: String,
}

/// Writes `adapter_model.safetensors`, `adapter_config.json` and `manifest.json` into `dir`,
/// refusing an adapter that holds NaN or Inf, and returns the manifest.
pub fn write_bundle(dir: &Path, adapter: &LoraAdapter, info: &BundleInfo) -> Result<Manifest> {
    adapter.check_finite()?;
    std::fs::create_dir_all(dir).map_err(|e| TrainerError::io(dir, e))?;
    let bytes = safetensors_bytes(&adapter.peft_tensors()?)?;
    let path = dir.join(ADAPTER_FILE);
    std::fs::write(&path, &bytes).map_err(|e| TrainerError::io(&path, e))?;
    let cfg_path = dir.join(ADAPTER_CONFIG_FILE);
    let cfg = serde_json::to_string_pretty(&PeftConfig::from_lora(&adapter.config))?;
    std::fs::write(&cfg_path, cfg).map_err(|e| TrainerError::io(&cfg_path, e))?;
    let manifest = Manifest {
        format: MANIFEST_FORMAT.into(),
        round: info.round,
        base_model_hash: info.base_model_hash.clone(),
        global_adapter_hash: info.global_adapter_hash.clone(),
        num_training_tokens: info.num_training_tokens,
        participant: info.participant.clone(),
        update_hash: hex::encode(update_hash(&bytes)),
    };
    let m_path = dir.join(MANIFEST_FILE);
    std::fs::write(&m_path, serde_json::to_string_pretty(&manifest)?)
        .map_err(|e| TrainerError::io(&m_path, e))?;
    Ok(manifest)
}

/// Reads a PEFT adapter directory (manifest optional) into a frozen adapter checked against the
/// model's shapes. A manifest whose update hash disagrees with the file is an error, and so is
/// an adapter holding NaN or Inf.
pub fn read_bundle(
    dir: &Path,
    model: &ModelConfig,
    dtype: DType,
    device: &Device,
) -> Result<Bundle> {
    let cfg_path = dir.join(ADAPTER_CONFIG_FILE);
    let cfg_text =
        std::fs::read_to_string(&cfg_path).map_err(|e| TrainerError::io(&cfg_path, e))?;
    let peft: PeftConfig = serde_json::from_str(&cfg_text).map_err(|e| {
        TrainerError::Format(format!(
            "{} is not a PEFT adapter config: {e}",
            cfg_path.display()
        ))
    })?;
    let lora = peft.to_lora()?;
    let path = dir.join(ADAPTER_FILE);
    let bytes = std::fs::read(&path).map_err(|e| TrainerError::io(&path, e))?;
    let hash = hex::encode(update_hash(&bytes));
    let tensors = parse_safetensors(&bytes, dtype, device)
        .map_err(|e| TrainerError::Format(format!("{}: {e}", path.display())))?;
    let adapter = LoraAdapter::from_peft_tensors(lora, tensors, model)?;
    adapter.check_finite()?;
    let m_path = dir.join(MANIFEST_FILE);
    let manifest = if m_path.is_file() {
        let text = std::fs::read_to_string(&m_path).map_err(|e| TrainerError::io(&m_path, e))?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| {
            TrainerError::Format(format!(
                "{} is not a bundle manifest: {e}",
                m_path.display()
            ))
        })?;
        if m.update_hash != hash {
            return Err(TrainerError::Format(format!(
                "{}: manifest update_hash {} does not match the adapter file's sha256 {hash}",
                dir.display(),
                m.update_hash
            )));
        }
        m
    } else {
        Manifest {
            format: MANIFEST_FORMAT.into(),
            round: 0,
            base_model_hash: String::new(),
            global_adapter_hash: None,
            num_training_tokens: 0,
            participant: String::new(),
            update_hash: hash,
        }
    };
    Ok(Bundle { adapter, manifest })
}

/// Bundle directories listed on the command line or found one level below a directory.
pub fn find_bundles(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.join(ADAPTER_FILE).is_file() {
            out.push(p.clone());
            continue;
        }
        let mut found: Vec<PathBuf> = std::fs::read_dir(p)
            .map_err(|e| TrainerError::io(p, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|d| d.join(ADAPTER_FILE).is_file())
            .collect();
        if found.is_empty() {
            return Err(TrainerError::Format(format!(
                "{} is neither a bundle nor a directory of bundles (no {ADAPTER_FILE})",
                p.display()
            )));
        }
        found.sort();
        out.extend(found);
    }
    Ok(out)
}
