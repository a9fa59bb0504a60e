//! `participant.toml`: a participant service's settings, validated once.
//!
//! ```toml
//! data_dir = "/var/lib/fairshare/participant"   # state.json, bundles
//! relayer = "http://relayer.example:8700"       # optional: hand commitments to it
//! stake = 1000                                  # bonded when joining a round
//! step_interval_ms = 2000
//! self_post_margin_blocks = 10                  # post itself this close to the commit deadline
//! nodes = ["http://127.0.0.1:26657"]
//! chain_id = "fairshare-local-1"
//! deployment = "/var/lib/fairshare/deployment.json"
//! [store]                                       # where bundles go: the relayer, or IPFS
//! kind = "http"                                 # or kind = "kubo", api = "http://127.0.0.1:5001"
//! url = "http://relayer.example:8700"
//! [key]
//! keystore = "/etc/fairshare/participant.key"
//! [train]                                       # fairshare-trainer's TrainConfig, less paths it sets
//! model = "/models/smollm2-135m"
//! data = "/data/private-texts"
//! steps = 200
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::relay::config::{read_toml, ChainConfig, ConfigError, KeyConfig};
use crate::store::StoreConfig;

/// The participant service's config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParticipantConfig {
    pub data_dir: PathBuf,
    #[serde(default)]
    pub relayer: Option<String>,
    /// Bonded when joining a round, in the native stake denom (TOML integers are 64-bit).
    pub stake: u64,
    #[serde(default = "default_interval")]
    pub step_interval_ms: u64,
    #[serde(default = "default_margin")]
    pub self_post_margin_blocks: u64,
    #[serde(flatten)]
    pub chain: ChainConfig,
    pub store: StoreConfig,
    pub key: KeyConfig,
    /// Passed to the trainer; `output`, `round`, `participant` and `global_adapter` are set
    /// for each round.
    pub train: toml::Table,
}

fn default_interval() -> u64 {
    2000
}
fn default_margin() -> u64 {
    10
}

impl ParticipantConfig {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let c: Self = read_toml(path)?;
        c.chain.validate(path)?;
        c.train_config(path)?;
        Ok(c)
    }

    /// The trainer's settings from `[train]`.
    pub fn train_config(
        &self,
        path: &Path,
    ) -> Result<fairshare_trainer::config::TrainConfig, ConfigError> {
        let mut t = self.train.clone();
        t.entry("output").or_insert_with(|| {
            toml::Value::String(self.data_dir.join("bundle").display().to_string())
        });
        let cfg: fairshare_trainer::config::TrainConfig = toml::Value::Table(t)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid {
                path: path.to_path_buf(),
                reason: format!("[train]: {e}"),
            })?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_parses_and_bad_ones_name_the_problem() {
        let t = tempfile::tempdir().expect("tempdir");
        let good = r#"
data_dir = "/tmp/p"
stake = 1000
nodes = ["http://127.0.0.1:26657"]
chain_id = "c"
deployment = "/tmp/d.json"
[store]
kind = "kubo"
api = "http://127.0.0.1:5001"
[key]
keystore = "/tmp/k.json"
[train]
model = "/m"
data = "/d"
steps = 5
"#;
        let p = t.path().join("p.toml");
        std::fs::write(&p, good).expect("writes");
        let c = ParticipantConfig::load(&p).expect("valid");
        assert_eq!(c.train_config(&p).expect("train").steps, 5);
        assert!(matches!(c.store, StoreConfig::Kubo { .. }));
        std::fs::write(&p, good.replace("steps = 5", "stepz = 5")).expect("writes");
        let e = ParticipantConfig::load(&p).expect_err("unknown trainer field");
        assert!(e.to_string().contains("[train]"), "{e}");
        std::fs::write(
            &p,
            good.replace("http://127.0.0.1:26657", "127.0.0.1:26657"),
        )
        .expect("writes");
        let e = ParticipantConfig::load(&p).expect_err("bad node");
        assert!(e.to_string().contains("not an http(s) URL"), "{e}");
    }
}
