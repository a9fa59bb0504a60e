//! One entry point for every model source: a Hugging Face directory or a `.gguf` file.

use std::path::Path;

use candle_core::{DType, Device};
use sha2::{Digest, Sha256};

use super::LlamaModel;
use crate::bundle::sha256_file;
use crate::error::{Result, TrainerError};
use crate::tokenizer::TextTokenizer;

/// A loaded base model with its tokenizer and the hash that identifies it on chain.
#[derive(Debug)]
pub struct LoadedModel {
    pub model: LlamaModel,
    pub tokenizer: TextTokenizer,
    /// Hex sha256 of the weights file (for several shards: of their hashes, in order).
    pub base_model_hash: String,
}

/// Loads `path` (a Hugging Face checkpoint directory or a GGUF file) in `dtype`.
///
/// A directory without `tokenizer.json` falls back to byte tokens (ids 0..=255) when its
/// vocabulary has room for them, as toy and test models do.
pub fn load_model(path: &Path, dtype: DType, device: &Device) -> Result<LoadedModel> {
    super::init_cpu_threads();
    if path.is_dir() {
        let (config, weights) = super::hf::load_dir(path, device)?;
        let files = super::hf::weight_files(path)?;
        let base_model_hash = if files.len() == 1 {
            sha256_file(&files[0])?
        } else {
            let mut h = Sha256::new();
            for f in &files {
                h.update(sha256_file(f)?.as_bytes());
            }
            hex::encode(h.finalize())
        };
        let tok_path = path.join("tokenizer.json");
        let tokenizer = if tok_path.is_file() {
            TextTokenizer::from_file(&tok_path)?
        } else if config.vocab_size >= 256 {
            tracing::warn!(
                "{} has no tokenizer.json: using byte tokens",
                path.display()
            );
            TextTokenizer::Bytes
        } else {
            return Err(TrainerError::Tokenizer(format!(
                "{} has no tokenizer.json and its vocabulary ({}) is too small for byte tokens",
                path.display(),
                config.vocab_size
            )));
        };
        let model = LlamaModel::from_weights(config, weights, dtype, device)?;
        Ok(LoadedModel {
            model,
            tokenizer,
            base_model_hash,
        })
    } else if path.extension().is_some_and(|e| e == "gguf") {
        let g = crate::gguf::load_gguf(path, device, true)?;
        let base_model_hash = sha256_file(path)?;
        let model = LlamaModel::from_weights(g.config, g.weights, dtype, device)?;
        Ok(LoadedModel {
            model,
            tokenizer: g.tokenizer,
            base_model_hash,
        })
    } else if path.exists() {
        Err(TrainerError::Format(format!(
            "{} is neither a Hugging Face checkpoint directory nor a .gguf file",
            path.display()
        )))
    } else {
        Err(TrainerError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
        })
    }
}
