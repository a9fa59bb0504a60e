//! Commands of the long-running services and their keys: `fairshare relayer serve`,
//! `fairshare participant run`, `fairshare evaluator run`,
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
            staging: crate::store::staging::StagingLimits {
                bytes: cfg.staging_bytes,
                ttl: Duration::from_secs(cfg.staging_ttl_secs),
            },
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
    step_until_stopped(once, cfg.step_interval_ms, || match p.step(&mut chain) {
        Ok(crate::participant::Action::Idle) => {}
        Ok(a) => tracing::info!(action = ?a, "step"),
        Err(e) => tracing::warn!(error = %e, "step failed; retrying at the next step"),
    });
    Ok(())
}

/// Options of `fairshare evaluator run` (the config comes with the global `--config`).
#[derive(Args, Debug, Clone)]
pub struct EvaluatorRunArgs {
    #[command(flatten)]
    pub logs: LogArgs,
    /// Do one step and exit (for scripts and checks).
    #[arg(long)]
    pub once: bool,
}

/// Runs `fairshare evaluator run` with the service config at `config` until stopped.
pub fn evaluator(a: EvaluatorRunArgs, config: Option<&std::path::Path>) -> Result<()> {
    use crate::evaluator::config::EvaluatorConfig;
    use crate::evaluator::{Action, Evaluator, EvaluatorOptions, ModelValuer, ValuerSettings};
    init_logs(a.logs);
    let path = config.context("`evaluator run` needs --config <evaluator.toml>")?;
    let cfg = EvaluatorConfig::load(path)?;
    let account = cfg.key.open("evaluator", &cfg.chain.prefix)?;
    let d = cfg.chain.load_deployment()?;
    let open_store = || {
        cfg.store
            .open()
            .with_context(|| format!("opening the bundle store of {}", path.display()))
    };
    let relayer = crate::relay::client::RelayClient::new(&cfg.relayer)?;
    let v = &cfg.valuation;
    tracing::info!(model = %v.model.display(), "loading the base model");
    let valuer = ModelValuer::load(
        &v.model,
        &v.validation,
        d.round_manager.as_str(),
        Some(open_store()?),
        ValuerSettings {
            name: "valuing".into(),
            seq_len: v.seq_len,
            batch_windows: v.batch_windows,
            duplicate_threshold: v.duplicate_threshold,
            work_dir: cfg.data_dir.clone(),
            progress: !a.logs.json_logs,
        },
    )?;
    let mut chain = connect_to_deployment(&cfg.chain, &account, &d)?;
    let mut e = Evaluator {
        key: account.key.clone(),
        d,
        opts: EvaluatorOptions {
            data_dir: cfg.data_dir.clone(),
            bond: u128::from(cfg.bond),
            stake_kind: crate::ops::StakeKind::Native(cfg.chain.stake_denom.clone()),
            fetch_margin_blocks: cfg.fetch_margin_blocks,
        },
        store: open_store()?,
        relayer,
        valuer,
    };
    tracing::info!(address = %account.address(), node = %chain.current(), "evaluator running");
    step_until_stopped(a.once, cfg.step_interval_ms, || match e.step(&mut chain) {
        Ok(Action::Idle) => {}
        Ok(act) => tracing::info!(action = ?act, "step"),
        Err(err) => tracing::warn!(error = %err, "step failed; retrying at the next step"),
    });
    Ok(())
}

/// The config's nodes behind one fail-over chain, signing as `account`, checked to serve the
/// deployment's chain.
fn connect_to_deployment(
    chain_cfg: &crate::relay::config::ChainConfig,
    account: &crate::wasmd::Account,
    d: &crate::ops::Deployment,
) -> Result<crate::relay::worker::Failover> {
    let chain = chain_cfg
        .connect(std::slice::from_ref(account))
        .with_context(|| format!("connecting to {}", chain_cfg.nodes.join(", ")))?;
    let chain_id = chain.chain_id()?;
    if chain_id != d.chain_id {
        bail!(
            "the nodes serve chain {chain_id}, but the deployment {} is on {}",
            chain_cfg.deployment.display(),
            d.chain_id
        );
    }
    Ok(chain)
}

/// Calls `step` every `interval_ms` (at least 100) until SIGTERM/Ctrl-C, or once with `once`.
fn step_until_stopped(once: bool, interval_ms: u64, mut step: impl FnMut()) {
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
        step();
        if once || stop.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        std::thread::sleep(Duration::from_millis(interval_ms.max(100)));
    }
}

/// `fairshare round aggregate`: the operator's merge of a settled round.
#[derive(Args, Debug, Clone)]
pub struct AggregateArgs {
    /// The settled round to merge.
    #[arg(long)]
    pub round: u64,
    /// The base model (Hugging Face directory or .gguf); its hash must be the round's.
    #[arg(long)]
    pub model: PathBuf,
    /// The relayer whose round listing says where each bundle is (`http://host:port`); also
    /// the store bundles are read from and the global adapter is published to, unless --kubo.
    #[arg(long)]
    pub relayer: String,
    /// Read bundles from and publish to this kubo node's RPC instead (`http://127.0.0.1:5001`).
    #[arg(long)]
    pub kubo: Option<String>,
    /// Where fetched bundles and the global adapter (`<work>/global`) are written
    /// (default: ./aggregate/round-N).
    #[arg(long)]
    pub work: Option<PathBuf>,
    /// The evaluators' near-duplicate threshold (ΔW cosine), as in their `[valuation]`.
    #[arg(long, default_value_t = crate::valuation::DUPLICATE_THRESHOLD)]
    pub duplicate_threshold: f64,
    /// Publish the global adapter to the store (without it, it is only written and hashed).
    #[arg(long)]
    pub publish: bool,
}

/// Runs `fairshare round aggregate` against `chain`: the text and JSON to print.
pub fn round_aggregate(
    chain: &dyn Chain,
    d: &crate::ops::Deployment,
    a: &AggregateArgs,
) -> Result<(String, serde_json::Value)> {
    use crate::operator::{aggregate_round, AggregateRequest};
    use crate::store::BundleStore;
    if !(a.duplicate_threshold > 0.0 && a.duplicate_threshold <= 1.0) {
        bail!(
            "--duplicate-threshold {} must be in (0, 1]",
            a.duplicate_threshold
        );
    }
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.enable_steady_tick(Duration::from_millis(200));
    spinner.set_message(format!("loading the base model {}", a.model.display()));
    let loaded = fairshare_trainer::model::load_model(
        &a.model,
        candle_core::DType::F32,
        &candle_core::Device::Cpu,
    )
    .with_context(|| format!("loading the base model {}", a.model.display()))?;
    let relayer = crate::relay::client::RelayClient::new(&a.relayer)
        .with_context(|| format!("the relayer address {:?}", a.relayer))?;
    let store: Box<dyn BundleStore> = match &a.kubo {
        Some(api) => Box::new(
            crate::store::kubo::KuboStore::new(api)
                .with_context(|| format!("the kubo address {api:?}"))?,
        ),
        None => Box::new(
            crate::store::http::HttpStore::new(&a.relayer)
                .with_context(|| format!("the relayer address {:?}", a.relayer))?,
        ),
    };
    let work = a
        .work
        .clone()
        .unwrap_or_else(|| PathBuf::from("aggregate").join(format!("round-{}", a.round)));
    spinner.set_message(format!(
        "fetching round {}'s bundles from {} and merging",
        a.round,
        store.describe()
    ));
    let done = aggregate_round(
        chain,
        d,
        &relayer,
        store.as_ref(),
        &AggregateRequest {
            round_id: a.round,
            base: loaded.model.config(),
            base_model_hash: &loaded.base_model_hash,
            duplicate_threshold: a.duplicate_threshold,
            work_dir: work,
            publish: a.publish,
        },
    )
    .with_context(|| format!("aggregating round {}", a.round))?;
    spinner.finish_and_clear();
    let mut text = if done.new_adapter {
        format!(
            "round {}: merged {} contributor(s) into global adapter {}{}",
            done.round_id,
            done.merged.len(),
            done.global_adapter_hash,
            match (&done.published, &done.dir) {
                (Some(p), _) => format!(" (published as CID {}, {} bytes)", p.cid, p.bytes),
                (None, Some(dir)) => format!(
                    " (written to {}; not published: add --publish)",
                    dir.display()
                ),
                (None, None) => String::new(),
            }
        )
    } else {
        format!(
            "round {}: no contributor; the global adapter stays {}",
            done.round_id, done.global_adapter_hash
        )
    };
    for g in &done.duplicate_groups {
        text.push_str(&format!(
            "\n  near-duplicates counted once: {}",
            g.join(", ")
        ));
    }
    for (p, why) in &done.skipped {
        text.push_str(&format!("\n  left out (not a contributor): {p}: {why}"));
    }
    text.push_str(&format!(
        "\nopen the next round with --global-adapter-hash {}",
        done.global_adapter_hash
    ));
    Ok((text, serde_json::to_value(&done)?))
}

#[derive(Subcommand, Debug)]
pub enum ChallengerCmd {
    /// Run the challenger (config: the global --config <challenger.toml>): watch the latest
    /// rounds, fetch each revealed report's table from the store by its committed hash, and
    /// dispute (with the round's deposit) a report that does not follow from it. Never
    /// disputes a report twice, across restarts.
    Run(EvaluatorRunArgs),
}

/// Runs `fairshare challenger run` with the service config at `config` until stopped.
pub fn challenger(cmd: ChallengerCmd, config: Option<&std::path::Path>) -> Result<()> {
    use crate::challenger::config::ChallengerConfig;
    use crate::challenger::{Action, Challenger, ChallengerOptions};
    let ChallengerCmd::Run(a) = cmd;
    init_logs(a.logs);
    let path = config.context("`challenger run` needs --config <challenger.toml>")?;
    let cfg = ChallengerConfig::load(path)?;
    let account = cfg.key.open("challenger", &cfg.chain.prefix)?;
    let d = cfg.chain.load_deployment()?;
    let store = cfg
        .store
        .open()
        .with_context(|| format!("opening the store of {}", path.display()))?;
    let mut chain = connect_to_deployment(&cfg.chain, &account, &d)?;
    let mut c = Challenger {
        key: account.key.clone(),
        d,
        opts: ChallengerOptions {
            data_dir: cfg.data_dir.clone(),
            stake_kind: crate::ops::StakeKind::Native(cfg.chain.stake_denom.clone()),
        },
        store,
    };
    tracing::info!(address = %account.address(), node = %chain.current(), "challenger running");
    step_until_stopped(a.once, cfg.step_interval_ms, || match c.step(&mut chain) {
        Ok(actions) => {
            for act in actions {
                match act {
                    Action::TableUnavailable { .. } => {
                        tracing::warn!(action = ?act, "table not fetched; retrying at the next step")
                    }
                    act => tracing::info!(action = ?act, "examined"),
                }
            }
        }
        Err(err) => tracing::warn!(error = %err, "step failed; retrying at the next step"),
    });
    Ok(())
}
