//! Reading and writing Hugging Face checkpoint directories (`config.json`, `model.safetensors`
//! or sharded `model-*.safetensors`, `tokenizer.json`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use crate::config::ModelConfig;
use crate::error::{Result, TrainerError};

/// The safetensors files of a checkpoint directory, in sorted order.
pub fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| TrainerError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "safetensors")
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("model"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(TrainerError::Format(format!(
            "{} has no model.safetensors (expected a Hugging Face checkpoint directory)",
            dir.display()
        )));
    }
    Ok(files)
}

/// Reads the config and all weights of a checkpoint directory.
pub fn load_dir(dir: &Path, device: &Device) -> Result<(ModelConfig, HashMap<String, Tensor>)> {
    let config = ModelConfig::from_json_file(&dir.join("config.json"))?;
    let mut weights = HashMap::new();
    for f in weight_files(dir)? {
        let part = candle_core::safetensors::load(&f, device)
            .map_err(|e| TrainerError::Format(format!("{}: {e}", f.display())))?;
        weights.extend(part);
    }
    Ok((config, weights))
}

/// Writes `config.json` and `model.safetensors` (f32) so that both this crate and
/// `transformers.LlamaForCausalLM.from_pretrained` can load them.
pub fn save_dir(dir: &Path, config: &ModelConfig, weights: &HashMap<String, Tensor>) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| TrainerError::io(dir, e))?;
    let cfg_path = dir.join("config.json");
    let text = serde_json::to_string_pretty(&config.to_hf_json())?;
    std::fs::write(&cfg_path, text).map_err(|e| TrainerError::io(&cfg_path, e))?;
    let mut f32_weights: Vec<(String, Tensor)> = Vec::with_capacity(weights.len());
    for (k, v) in weights {
        f32_weights.push((k.clone(), v.to_dtype(DType::F32)?));
    }
    crate::bundle::write_safetensors(&dir.join("model.safetensors"), &f32_weights)
}
