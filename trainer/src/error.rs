//! The library's error type: one variant per kind of failure, each with a message a user can act
//! on.

use std::path::{Path, PathBuf};

/// Everything that can go wrong inside the trainer library.
#[derive(Debug, thiserror::Error)]
pub enum TrainerError {
    #[error("cannot access {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("malformed model or adapter file: {0}")]
    Format(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("training data: {0}")]
    Data(String),
    #[error("{0}")]
    NonFinite(String),
    #[error("adapters do not match: {0}")]
    Mismatch(String),
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl TrainerError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Result alias for the library.
pub type Result<T, E = TrainerError> = std::result::Result<T, E>;
