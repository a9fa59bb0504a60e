//! The `fairshare` configuration: one TOML file, validated once. Every field has a default
//! that targets `make localnet`, so the file is optional there.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::wasmd::{Account, GasPrice, LocalnetAccounts, WasmdConfig};

/// Environment variable holding a 24-word mnemonic for `--as env`.
pub const MNEMONIC_ENV: &str = "FAIRSHARE_MNEMONIC";

/// Settings of the `fairshare` command.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// CometBFT RPC of the node.
    pub rpc: String,
    /// Expected chain id.
    pub chain_id: String,
    /// Bech32 prefix of addresses.
    pub prefix: String,
    /// Gas price, e.g. `0.025ustake`.
    pub gas_price: String,
    /// Simulated gas × this = gas limit.
    pub gas_adjustment: f64,
    /// Native denom of stakes.
    pub stake_denom: String,
    /// Folder of the checked wasm artifacts.
    pub artifacts: PathBuf,
    /// Named accounts (name → mnemonic), e.g. `localnet/accounts.toml`.
    pub accounts: PathBuf,
    /// Deployment file written by `fairshare deploy`.
    pub deployment: PathBuf,
    /// Where `submit` queues checked bundles for `relay`.
    pub spool: PathBuf,
    /// Where `evaluator commit` keeps each sealed report (report and salt, readable by its
    /// owner only) until `evaluator reveal`.
    pub sealed: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        let data = dirs_home().join(".cache/fairshare/relayer");
        Self {
            rpc: "http://127.0.0.1:26657".into(),
            chain_id: "fairshare-local-1".into(),
            prefix: "wasm".into(),
            gas_price: "0stake".into(),
            gas_adjustment: 1.3,
            stake_denom: "stake".into(),
            artifacts: PathBuf::from("artifacts"),
            accounts: PathBuf::from("localnet/accounts.toml"),
            deployment: data.join("deployment.json"),
            spool: data.join("spool"),
            sealed: data.join("sealed"),
        }
    }
}

fn dirs_home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

impl Config {
    /// Reads `path` (or the defaults when `None`) and validates it.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let cfg: Config = match path {
            None => Config::default(),
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading {}", p.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("{} is not a valid fairshare config", p.display()))?
            }
        };
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<()> {
        if !(self.rpc.starts_with("http://") || self.rpc.starts_with("https://")) {
            bail!("rpc must be an http(s) URL, got {:?}", self.rpc);
        }
        if !(self.gas_adjustment >= 1.0 && self.gas_adjustment.is_finite()) {
            bail!(
                "gas_adjustment must be at least 1.0, got {}",
                self.gas_adjustment
            );
        }
        GasPrice::from_str(&self.gas_price)?;
        Ok(())
    }

    /// The wasmd backend's settings.
    pub fn wasmd(&self) -> Result<WasmdConfig> {
        let mut w = WasmdConfig::localnet();
        w.rpc_url = self.rpc.clone();
        w.chain_id = Some(self.chain_id.clone());
        w.address_prefix = self.prefix.clone();
        w.gas_price = GasPrice::from_str(&self.gas_price)?;
        w.gas_adjustment = self.gas_adjustment;
        w.artifacts_dir = self.artifacts.clone();
        Ok(w)
    }

    /// The signing account called `name` (`env`: the mnemonic in [`MNEMONIC_ENV`]).
    pub fn account(&self, name: &str) -> Result<Account> {
        if name == "env" {
            let phrase = std::env::var(MNEMONIC_ENV)
                .with_context(|| format!("--as env needs a 24-word mnemonic in {MNEMONIC_ENV}"))?;
            return Ok(Account::from_mnemonic(
                "env",
                phrase.trim(),
                crate::wasmd::accounts::COSMOS_HD_PATH,
                &self.prefix,
            )?);
        }
        let accounts = LocalnetAccounts::load(&self.accounts).with_context(|| {
            format!(
                "loading accounts from {} (set `accounts` in the config)",
                self.accounts.display()
            )
        })?;
        Ok(accounts.account(name)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_target_the_localnet_and_validate() {
        let c = Config::load(None).expect("defaults are valid");
        assert_eq!(c.rpc, "http://127.0.0.1:26657");
        assert_eq!(c.wasmd().expect("wasmd").gas_price.denom, "stake");
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let dir = std::env::temp_dir().join(format!("fairshare-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let write = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::write(&p, text).expect("writes");
            p
        };
        let e = Config::load(Some(&write("a.toml", "rpc = \"127.0.0.1:26657\"")))
            .expect_err("no scheme");
        assert!(
            e.to_string().contains("rpc must be an http(s) URL"),
            "{e:#}"
        );
        let e =
            Config::load(Some(&write("b.toml", "gas_price = \"cheap\""))).expect_err("bad price");
        assert!(format!("{e:#}").contains("gas price"), "{e:#}");
        let e = Config::load(Some(&write("c.toml", "nodes = 3"))).expect_err("unknown field");
        assert!(format!("{e:#}").contains("unknown field"), "{e:#}");
        let ok = Config::load(Some(&write(
            "d.toml",
            "rpc = \"http://127.0.0.1:1\"\ngas_price = \"0.025ustake\"",
        )))
        .expect("valid");
        assert_eq!(
            ok.wasmd().expect("wasmd").gas_price.to_string(),
            "0.025ustake"
        );
    }
}
