//! Commands of the long-running services and their keys: `fairshare relayer serve`,
//! `fairshare keys import|show`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};

use crate::chain::Chain;
use crate::keystore::{self, KdfParams};
use crate::relay::config::RelayConfig;
use crate::relay::worker::ChainHandle;
use crate::relay::{RelayOptions, Relayer};

/// How services log.
#[derive(Args, Debug, Clone, Copy)]
pub struct LogArgs {
    /// One JSON object per log line (for log collectors) instead of text.
    #[arg(long)]
    pub json_logs: bool,
}

/// Starts the log output (level from RUST_LOG, default info). Safe to call twice.
pub fn init_logs(a: LogArgs) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if a.json_logs {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

#[derive(Subcommand, Debug)]
pub enum RelayerCmd {
    /// Run the relayer service: HTTP API for bundles and signed commitments, a durable queue
    /// posted to the chain in batches, fail-over between the configured nodes. Stops on
    /// Ctrl-C / SIGTERM; a restart resumes from its data directory.
    /// The relayer's TOML config (listen, data_dir, nodes, chain_id, deployment, [key], …) is
    /// given with the global `--config` (see `relayer/src/relay/config.rs` for every field).
    Serve {
        #[command(flatten)]
        logs: LogArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum ParticipantCmd {
    /// Run one participant as a service: watch the chain, join each new round, fetch its
    /// global adapter, train on the private data, publish the bundle, hand the signed
    /// commitment to the relayer (or post it itself). The TOML config (data_dir, stake, nodes,
    /// chain_id, deployment, relayer, [store], [key], [train]) is given with the global
    /// `--config` (see `relayer/src/participant/config.rs`). Safe to stop and restart.
    Run {
        #[command(flatten)]
        logs: LogArgs,
        /// Do one step and exit (for scripts and checks).
        #[arg(long)]
        once: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCmd {
    /// Import a BIP-39 mnemonic (12 or 24 words; from FAIRSHARE_MNEMONIC or a prompt) into an
    /// encrypted keystore file (mode 0600); the passphrase from FAIRSHARE_KEY_PASSPHRASE or a
    /// prompt.
    Import {
        /// The keystore file to write.
        #[arg(long)]
        keystore: PathBuf,
        /// Bech32 prefix of the chain's addresses.
        #[arg(long, default_value = "wasm")]
        prefix: String,
    },
    /// The address a keystore holds (no passphrase needed).
    Show {
        #[arg(long)]
        keystore: PathBuf,
    },
}

/// Runs `fairshare keys …`; returns the line to print.
pub fn keys(cmd: KeysCmd) -> Result<(String, serde_json::Value)> {
    match cmd {
        KeysCmd::Import {
            keystore: path,
            prefix,
        } => {
            let phrase = match std::env::var(crate::cli::config::MNEMONIC_ENV) {
                Ok(p) => zeroize::Zeroizing::new(p),
                Err(_) => zeroize::Zeroizing::new(
                    rpassword::prompt_password("mnemonic (12 or 24 words, not echoed): ")
                        .context("no mnemonic: set FAIRSHARE_MNEMONIC or run in a terminal")?,
                ),
            };
            let pass = keystore::read_passphrase(keystore::PASSPHRASE_ENV, true)?;
            let address =
                keystore::import_mnemonic(&path, &phrase, &pass, &prefix, KdfParams::default())?;
            Ok((
                format!("imported {address} into {}", path.display()),
                serde_json::json!({ "address": address, "keystore": path }),
            ))
        }
        KeysCmd::Show { keystore: path } => {
            let address = keystore::address_of(&path)?;
            Ok((address.clone(), serde_json::json!({ "address": address })))
        }
    }
}

/// Runs `fairshare relayer …` with the service config at `config` until stopped.
pub fn relayer(cmd: RelayerCmd, config: Option<&std::path::Path>) -> Result<()> {
    let RelayerCmd::Serve { logs } = cmd;
    init_logs(logs);
    let config = config.context("`relayer serve` needs --config <relayer.toml>")?;
    let cfg = RelayConfig::load(config)?;
    let account = cfg.key.open("relayer", &cfg.chain.prefix)?;
    let deployment = cfg.chain.load_deployment()?;
    let chain_cfg = cfg.chain.clone();
    let acc = account.clone();
    let chain = ChainHandle::spawn(move || {
        chain_cfg
            .connect(&[acc])
            .map(|f| Box::new(f) as Box<dyn Chain>)
    })
    .with_context(|| format!("connecting to {}", cfg.chain.nodes.join(", ")))?;
    let chain_id = chain
        .call(|c| c.chain_id())
        .map_err(|e| anyhow::anyhow!(e))??;
    if chain_id != deployment.chain_id {
        bail!(
            "the nodes serve chain {chain_id}, but the deployment {} is on {}",
            cfg.chain.deployment.display(),
            deployment.chain_id
        );
    }
    let relayer = Relayer::start(
        chain,
        RelayOptions {
            listen: cfg.listen.clone(),
            data_dir: cfg.data_dir.clone(),
            deployment,
            poster: account.key.clone(),
            batch_size: cfg.batch_size,
            batch_interval: Some(Duration::from_millis(cfg.batch_interval_ms.max(100))),
            kubo: cfg.kubo.clone(),
        },
    )?;
    tracing::info!(url = %relayer.url(), poster = %account.address(), chain_id = %chain_id, "relayer serving");
    wait_for_stop()?;
    tracing::info!("stopping");
    relayer.stop();
    Ok(())
}

/// Blocks until Ctrl-C or SIGTERM.
fn wait_for_stop() -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the signal handler")?;
    rt.block_on(async {
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                r = tokio::signal::ctrl_c() => r,
                _ = term.recv() => Ok(()),
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await
        }
    })
    .context("waiting for a stop signal")
}

/// Runs `fairshare participant …` with the service config at `config`.
pub fn participant(cmd: ParticipantCmd, config: Option<&std::path::Path>) -> Result<()> {
    use crate::participant::config::ParticipantConfig;
    use crate::participant::{LoraTrainer, Participant, ParticipantOptions};
    let ParticipantCmd::Run { logs, once } = cmd;
    init_logs(logs);
    let path = config.context("`participant run` needs --config <participant.toml>")?;
    let cfg = ParticipantConfig::load(path)?;
    let account = cfg.key.open("participant", &cfg.chain.prefix)?;
    let d = cfg.chain.load_deployment()?;
    let store = cfg
        .store
        .open()
        .with_context(|| format!("opening the bundle store of {}", path.display()))?;
    let relayer = cfg
        .relayer
        .as_deref()
        .map(crate::relay::client::RelayClient::new)
        .transpose()?;
    let mut chain = cfg
        .chain
        .connect(std::slice::from_ref(&account))
        .with_context(|| format!("connecting to {}", cfg.chain.nodes.join(", ")))?;
    let mut p = Participant::new(
        account.key.clone(),
        d,
        ParticipantOptions {
            data_dir: cfg.data_dir.clone(),
            stake: u128::from(cfg.stake),
            stake_kind: crate::ops::StakeKind::Native(cfg.chain.stake_denom.clone()),
            self_post_margin_blocks: cfg.self_post_margin_blocks,
        },
        store,
        relayer,
        LoraTrainer {
            base: cfg.train_config(path)?,
        },
    )?;
    tracing::info!(address = %account.address(), node = %chain.current(), "participant running");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    if !once {
        let s = stop.clone();
        std::thread::spawn(move || {
            if wait_for_stop().is_ok() {
                s.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        });
    }
    loop {
        match p.step(&mut chain) {
            Ok(crate::participant::Action::Idle) => {}
            Ok(a) => tracing::info!(action = ?a, "step"),
            Err(e) => tracing::warn!(error = %e, "step failed; retrying at the next step"),
        }
        if once || stop.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(cfg.step_interval_ms.max(100)));
    }
}
