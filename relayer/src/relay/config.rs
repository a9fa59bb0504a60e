//! `relayer.toml`: the relayer service's settings, validated once.
//!
//! ```toml
//! listen = "127.0.0.1:8700"
//! data_dir = "/var/lib/fairshare/relayer"
//! nodes = ["http://10.0.0.1:26657", "http://10.0.0.2:26657"]   # fail-over in this order
//! chain_id = "fairshare-local-1"
//! deployment = "/var/lib/fairshare/deployment.json"
//! batch_size = 50
//! batch_interval_ms = 2000
//! kubo = "http://127.0.0.1:5001"        # optional: pin every accepted bundle in IPFS too
//! staging_bytes = 8589934592            # uploads no commitment vouched for: at most this many
//! staging_ttl_secs = 86400               # bytes, each kept this long (defaults shown)
//! [key]
//! keystore = "/etc/fairshare/relayer.key"   # `fairshare keys import` writes it
//! passphrase_env = "FAIRSHARE_KEY_PASSPHRASE"
//! ```

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;

use crate::keystore::{KeySource, KeystoreError};
use crate::wasmd::{Account, GasPrice, LocalnetAccounts, WasmdConfig};

/// Where a service's signing key comes from: an encrypted keystore (for real use) or, on the
/// localnet only, a named test account of a plain accounts file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    #[serde(default)]
    pub keystore: Option<PathBuf>,
    #[serde(default = "default_env")]
    pub passphrase_env: String,
    /// A plain accounts file (localnet test accounts) and the name in it.
    #[serde(default)]
    pub accounts: Option<PathBuf>,
    #[serde(default)]
    pub account: Option<String>,
    /// A key of wasmd's file keyring (`wasmd keys add NAME --keyring-backend file
    /// --keyring-dir DIR`): the directory and the key's name; the passphrase as for `keystore`.
    #[serde(default)]
    pub wasmd_keyring_dir: Option<PathBuf>,
    #[serde(default)]
    pub wasmd_key: Option<String>,
}

fn default_env() -> String {
    crate::keystore::PASSPHRASE_ENV.into()
}

/// Why a config is refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path} is not a valid config: {reason}", path = .path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error(transparent)]
    Key(#[from] KeystoreError),
    #[error("the key: {0}")]
    Account(String),
}

impl KeyConfig {
    /// Opens the key; `name` labels it in messages.
    pub fn open(&self, name: &str, prefix: &str) -> Result<Account, ConfigError> {
        let k = self;
        match (
            &k.keystore,
            &k.accounts,
            &k.account,
            &k.wasmd_keyring_dir,
            &k.wasmd_key,
        ) {
            (Some(ks), None, None, None, None) => Ok(KeySource {
                keystore: ks.clone(),
                passphrase_env: self.passphrase_env.clone(),
            }
            .open(name, prefix)?),
            (None, Some(file), Some(n), None, None) => LocalnetAccounts::load(file)
                .and_then(|a| a.account(n))
                .map_err(|e| ConfigError::Account(e.to_string())),
            (None, None, None, Some(dir), Some(key)) => {
                let path = crate::keystore::wasmd_keyring::item_path(dir, key);
                crate::keystore::check_permissions(&path)?;
                let pass = crate::keystore::read_passphrase(&self.passphrase_env, false)?;
                Ok(crate::keystore::wasmd_keyring::open(
                    dir, key, &pass, prefix,
                )?)
            }
            _ => Err(ConfigError::Account(
                "[key] needs exactly one of: `keystore`; `accounts` and `account`; \
                 `wasmd_keyring_dir` and `wasmd_key`"
                    .into(),
            )),
        }
    }
}

/// Reads and parses a TOML file into `T`, naming the file in every error.
pub fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Invalid {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// The chain settings every service shares.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    /// CometBFT RPC addresses of one or more nodes, tried in order.
    pub nodes: Vec<String>,
    pub chain_id: String,
    #[serde(default = "default_prefix")]
    pub prefix: String,
    #[serde(default = "default_gas_price")]
    pub gas_price: String,
    #[serde(default = "default_gas_adjustment")]
    pub gas_adjustment: f64,
    /// Native denom of stakes and bonds.
    #[serde(default = "default_denom")]
    pub stake_denom: String,
    /// The deployment file `fairshare deploy` wrote.
    pub deployment: PathBuf,
}

fn default_prefix() -> String {
    "wasm".into()
}
fn default_gas_price() -> String {
    "0stake".into()
}
fn default_gas_adjustment() -> f64 {
    1.3
}
fn default_denom() -> String {
    "stake".into()
}

impl ChainConfig {
    /// Checks what can be checked without a network.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        if self.nodes.is_empty() {
            return Err(invalid("`nodes` lists no RPC address".into()));
        }
        for n in &self.nodes {
            if !(n.starts_with("http://") || n.starts_with("https://")) {
                return Err(invalid(format!("node {n:?} is not an http(s) URL")));
            }
        }
        if !(self.gas_adjustment >= 1.0 && self.gas_adjustment.is_finite()) {
            return Err(invalid(format!(
                "gas_adjustment must be at least 1.0, got {}",
                self.gas_adjustment
            )));
        }
        GasPrice::from_str(&self.gas_price).map_err(|e| invalid(format!("gas_price: {e}")))?;
        Ok(())
    }

    /// The wasmd backend's settings for node `url`.
    pub fn wasmd(&self, url: &str) -> Result<WasmdConfig, ConfigError> {
        let mut w = WasmdConfig::localnet();
        w.rpc_url = url.to_string();
        w.chain_id = Some(self.chain_id.clone());
        w.address_prefix = self.prefix.clone();
        w.gas_price =
            GasPrice::from_str(&self.gas_price).map_err(|e| ConfigError::Account(e.to_string()))?;
        w.gas_adjustment = self.gas_adjustment;
        Ok(w)
    }

    /// The deployment.
    pub fn load_deployment(&self) -> Result<crate::ops::Deployment, ConfigError> {
        let text = std::fs::read_to_string(&self.deployment).map_err(|e| ConfigError::Read {
            path: self.deployment.clone(),
            reason: format!("{e} (run `fairshare deploy` first)"),
        })?;
        serde_json::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: self.deployment.clone(),
            reason: e.to_string(),
        })
    }

    /// Connects to every node (those that do not answer yet are retried on use) behind one
    /// fail-over chain with `accounts` registered for signing.
    pub fn connect(
        &self,
        accounts: &[Account],
    ) -> Result<super::worker::Failover, crate::chain::ChainError> {
        let mut nodes: Vec<(String, Box<dyn crate::chain::Chain>)> = vec![];
        let mut errors = vec![];
        for url in &self.nodes {
            let cfg = self
                .wasmd(url)
                .map_err(|e| crate::chain::ChainError::Other(e.to_string()))?;
            match crate::wasmd::WasmdChain::connect(cfg) {
                Ok(mut c) => {
                    for a in accounts {
                        c.add_account(a);
                    }
                    nodes.push((url.clone(), Box::new(c)));
                }
                Err(e) => errors.push(format!("{url}: {e}")),
            }
        }
        if nodes.is_empty() {
            return Err(crate::chain::ChainError::Unreachable {
                url: self.nodes.join(", "),
                reason: errors.join("; "),
            });
        }
        for e in errors {
            tracing::warn!(node = %e, "a node did not answer at start; using the others");
        }
        super::worker::Failover::new(nodes)
    }
}

/// The relayer service's config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayConfig {
    #[serde(default = "default_listen")]
    pub listen: String,
    pub data_dir: PathBuf,
    #[serde(flatten)]
    pub chain: ChainConfig,
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    #[serde(default = "default_interval")]
    pub batch_interval_ms: u64,
    #[serde(default)]
    pub kubo: Option<String>,
    /// Most bytes of uploads no commitment has vouched for yet (default 8 GiB).
    #[serde(default = "default_staging_bytes")]
    pub staging_bytes: u64,
    /// How long such an upload is kept (default 86,400 s, a day).
    #[serde(default = "default_staging_ttl")]
    pub staging_ttl_secs: u64,
    pub key: KeyConfig,
}

fn default_staging_bytes() -> u64 {
    crate::store::staging::StagingLimits::default().bytes
}
fn default_staging_ttl() -> u64 {
    crate::store::staging::StagingLimits::default()
        .ttl
        .as_secs()
}

fn default_listen() -> String {
    "127.0.0.1:8700".into()
}
fn default_batch() -> usize {
    50
}
fn default_interval() -> u64 {
    2000
}

impl RelayConfig {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let c: Self = read_toml(path)?;
        c.chain.validate(path)?;
        if c.batch_size == 0 {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                reason: "batch_size must be at least 1".into(),
            });
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORDS24: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon art";

    #[test]
    fn a_key_comes_from_exactly_one_source() {
        let t = tempfile::tempdir().expect("tempdir");
        let ks = t.path().join("k.json");
        let fast = crate::keystore::KdfParams {
            log_n: 10,
            r: 8,
            p: 1,
        };
        let addr = crate::keystore::import_mnemonic(&ks, WORDS24, "correct horse", "wasm", fast)
            .expect("imports");
        // A variable only this test uses, so parallel tests do not race on it.
        std::env::set_var("FAIRSHARE_TEST_RELAY_CONFIG_PASS", "correct horse");
        let k = KeyConfig {
            keystore: Some(ks.clone()),
            passphrase_env: "FAIRSHARE_TEST_RELAY_CONFIG_PASS".into(),
            accounts: None,
            account: None,
            wasmd_keyring_dir: None,
            wasmd_key: None,
        };
        assert_eq!(k.open("svc", "wasm").expect("opens").address(), addr);
        let both = KeyConfig {
            account: Some("relayer".into()),
            accounts: Some("localnet/accounts.toml".into()),
            ..k
        };
        let e = both.open("svc", "wasm").expect_err("two sources");
        assert!(e.to_string().contains("exactly one"), "{e}");
        assert!(!e.to_string().contains("correct horse"));
    }

    #[test]
    fn a_relayer_config_parses_and_bad_ones_name_the_problem() {
        let t = tempfile::tempdir().expect("tempdir");
        let p = t.path().join("relayer.toml");
        let good = r#"
data_dir = "/tmp/r"
nodes = ["http://10.0.0.1:26657", "http://10.0.0.2:26657"]
chain_id = "c"
deployment = "/tmp/d.json"
batch_size = 20
kubo = "http://127.0.0.1:5001"
[key]
keystore = "/tmp/k.json"
"#;
        std::fs::write(&p, good).expect("writes");
        let c = RelayConfig::load(&p).expect("valid");
        assert_eq!(c.listen, "127.0.0.1:8700");
        assert_eq!(c.chain.nodes.len(), 2);
        assert_eq!(c.batch_size, 20);
        for (bad, why) in [
            (
                good.replace("batch_size = 20", "batch_size = 0"),
                "batch_size",
            ),
            (
                good.replace("nodes = [", "nodes = [\"ftp://x\", "),
                "not an http(s) URL",
            ),
            (
                good.replace("chain_id = \"c\"", "chain_id = \"c\"\nnode = \"x\""),
                "unknown field",
            ),
            (
                good.replace(
                    "nodes = [\"http://10.0.0.1:26657\", \"http://10.0.0.2:26657\"]",
                    "nodes = []",
                ),
                "no RPC address",
            ),
        ] {
            std::fs::write(&p, bad).expect("writes");
            let e = RelayConfig::load(&p).expect_err(why);
            assert!(e.to_string().contains(why), "{why}: {e}");
        }
    }
}
