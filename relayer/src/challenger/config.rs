//! `challenger.toml`: a challenger service's settings, validated once.
//!
//! ```toml
//! data_dir = "/var/lib/fairshare/challenger"    # what each report came to, per round
//! step_interval_ms = 2000
//! nodes = ["http://127.0.0.1:26657"]
//! chain_id = "fairshare-local-1"
//! deployment = "/var/lib/fairshare/deployment.json"
//! [store]                                       # where evaluators publish their tables
//! kind = "http"
//! url = "http://relayer.example:8700"
//! [key]                                         # pays the dispute deposits (funded)
//! keystore = "/etc/fairshare/challenger.key"
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::relay::config::{read_toml, ChainConfig, ConfigError, KeyConfig};
use crate::store::StoreConfig;

/// The challenger service's config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengerConfig {
    pub data_dir: PathBuf,
    #[serde(default = "default_interval")]
    pub step_interval_ms: u64,
    #[serde(flatten)]
    pub chain: ChainConfig,
    pub store: StoreConfig,
    pub key: KeyConfig,
}

fn default_interval() -> u64 {
    2000
}

impl ChallengerConfig {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let c: Self = read_toml(path)?;
        c.chain.validate(path)?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_parses_and_bad_ones_name_the_problem() {
        let t = tempfile::tempdir().expect("tempdir");
        let good = r#"
data_dir = "/tmp/c"
nodes = ["http://127.0.0.1:26657"]
chain_id = "c"
deployment = "/tmp/d.json"
[store]
kind = "http"
url = "http://127.0.0.1:8700"
[key]
keystore = "/tmp/k.json"
"#;
        let p = t.path().join("c.toml");
        std::fs::write(&p, good).expect("writes");
        let c = ChallengerConfig::load(&p).expect("valid");
        assert_eq!(c.step_interval_ms, 2000);
        std::fs::write(&p, good.replace("data_dir", "datadir")).expect("writes");
        let e = ChallengerConfig::load(&p).expect_err("data_dir is missing");
        assert!(e.to_string().contains("data_dir"), "{e}");
        std::fs::write(
            &p,
            good.replace("[store]\nkind = \"http\"", "[store]\nkind = \"ftp\""),
        )
        .expect("writes");
        let e = ChallengerConfig::load(&p).expect_err("bad store kind");
        assert!(e.to_string().contains("ftp"), "{e}");
    }
}
