//! `evaluator.toml`: an evaluator service's settings, validated once.
//!
//! ```toml
//! data_dir = "/var/lib/fairshare/evaluator"     # bundles, sealed reports, published tables
//! relayer = "http://relayer.example:8700"       # where each committed bundle is (round listing)
//! bond = 10000                                  # bonded per round (at least the round's minimum)
//! step_interval_ms = 2000
//! fetch_margin_blocks = 5                       # a missing bundle is a no-show this close to the report deadline
//! nodes = ["http://127.0.0.1:26657"]
//! chain_id = "fairshare-local-1"
//! deployment = "/var/lib/fairshare/deployment.json"
//! [store]                                       # where bundles are: the relayer, or IPFS
//! kind = "http"
//! url = "http://relayer.example:8700"
//! [key]
//! keystore = "/etc/fairshare/evaluator.key"
//! [valuation]
//! model = "/models/smollm2-135m"                # the round's base model: HF directory or .gguf
//! validation = "/data/validation.txt"           # its sha256 must be the round's validation_set_hash
//!                                               # (or a directory of texts: each round uses the one it names)
//! seq_len = 64
//! batch_windows = 8
//! duplicate_threshold = 0.63
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::relay::config::{read_toml, ChainConfig, ConfigError, KeyConfig};
use crate::store::StoreConfig;

/// The evaluator service's config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluatorConfig {
    pub data_dir: PathBuf,
    /// The relayer whose round listing says where each committed bundle is.
    pub relayer: String,
    /// Bonded per round, in the native stake denom (TOML integers are 64-bit).
    pub bond: u64,
    #[serde(default = "default_interval")]
    pub step_interval_ms: u64,
    #[serde(default = "default_margin")]
    pub fetch_margin_blocks: u64,
    #[serde(flatten)]
    pub chain: ChainConfig,
    pub store: StoreConfig,
    pub key: KeyConfig,
    pub valuation: ValuationConfig,
}

/// How rounds are valued: the model, the held-out text and the measurement's shape.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValuationConfig {
    /// The base model: a Hugging Face directory or a .gguf file.
    pub model: PathBuf,
    /// The held-out validation text (UTF-8), or a directory of such texts: a round is measured
    /// on the one whose sha256 is the round's validation-set hash.
    pub validation: PathBuf,
    #[serde(default = "default_seq_len")]
    pub seq_len: usize,
    #[serde(default = "default_batch_windows")]
    pub batch_windows: usize,
    /// ΔW cosine at or above which updates are near-duplicates valued as one player.
    #[serde(default = "default_threshold")]
    pub duplicate_threshold: f64,
}

fn default_interval() -> u64 {
    2000
}
fn default_margin() -> u64 {
    5
}
fn default_seq_len() -> usize {
    64
}
fn default_batch_windows() -> usize {
    crate::valuation::BATCH_WINDOWS
}
fn default_threshold() -> f64 {
    crate::valuation::DUPLICATE_THRESHOLD
}

impl EvaluatorConfig {
    /// Reads and validates `path`: the fields, and that the model and validation text exist.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let c: Self = read_toml(path)?;
        c.chain.validate(path)?;
        let invalid = |reason: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let v = &c.valuation;
        if !(v.model.is_dir() || v.model.is_file()) {
            return Err(invalid(format!(
                "[valuation] model: {} is neither a model directory nor a .gguf file",
                v.model.display()
            )));
        }
        if !(v.validation.is_file() || v.validation.is_dir()) {
            return Err(invalid(format!(
                "[valuation] validation: {} is neither a text file nor a directory of texts",
                v.validation.display()
            )));
        }
        if v.seq_len < 2 {
            return Err(invalid(format!(
                "[valuation] seq_len must be at least 2, got {}",
                v.seq_len
            )));
        }
        if v.batch_windows == 0 {
            return Err(invalid(
                "[valuation] batch_windows must be at least 1".into(),
            ));
        }
        if !(v.duplicate_threshold > 0.0 && v.duplicate_threshold <= 1.0) {
            return Err(invalid(format!(
                "[valuation] duplicate_threshold is a cosine similarity in (0, 1], got {}",
                v.duplicate_threshold
            )));
        }
        if c.bond == 0 {
            return Err(invalid("`bond` must be positive".into()));
        }
        if !(c.relayer.starts_with("http://") || c.relayer.starts_with("https://")) {
            return Err(invalid(format!(
                "`relayer` {:?} is not an http(s) URL",
                c.relayer
            )));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_parses_and_bad_ones_name_the_problem() {
        let t = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(t.path().join("model")).expect("mkdir");
        std::fs::write(t.path().join("valid.txt"), "text").expect("writes");
        let good = format!(
            r#"
data_dir = "/tmp/e"
relayer = "http://127.0.0.1:8700"
bond = 1000
nodes = ["http://127.0.0.1:26657"]
chain_id = "c"
deployment = "/tmp/d.json"
[store]
kind = "http"
url = "http://127.0.0.1:8700"
[key]
keystore = "/tmp/k.json"
[valuation]
model = "{m}"
validation = "{v}"
seq_len = 32
"#,
            m = t.path().join("model").display(),
            v = t.path().join("valid.txt").display()
        );
        let p = t.path().join("e.toml");
        std::fs::write(&p, &good).expect("writes");
        let c = EvaluatorConfig::load(&p).expect("valid");
        assert_eq!(c.valuation.seq_len, 32);
        assert_eq!(c.valuation.batch_windows, crate::valuation::BATCH_WINDOWS);
        assert_eq!(c.fetch_margin_blocks, 5);
        let bad = |from: &str, to: &str, says: &str| {
            std::fs::write(&p, good.replace(from, to)).expect("writes");
            let e = EvaluatorConfig::load(&p).expect_err(says);
            assert!(e.to_string().contains(says), "{e}");
        };
        bad("valid.txt", "missing.txt", "[valuation] validation");
        bad("/model\"", "/nomodel\"", "[valuation] model");
        bad("seq_len = 32", "seq_len = 1", "seq_len");
        bad("seq_len = 32", "seqlen = 32", "seqlen");
        bad("bond = 1000", "bond = 0", "`bond`");
        bad("relayer = \"http://", "relayer = \"ftp://", "`relayer`");
    }
}
