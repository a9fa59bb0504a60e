//! The chain the demo runs on: the embedded chain (cw-multi-test running the contract code) or a
//! wasmd node such as `make localnet`, behind one small interface; every round and DAO step goes
//! through the backend-generic [`crate::ops`].

use std::path::Path;

use anyhow::{Context, Result};
use cosmwasm_std::{coins, Coin, Uint128};
use cw20::{BalanceResponse, Cw20QueryMsg};
use cw_multi_test::{App, BankSudo, SudoMsg};
use fairshare_protocol::round_manager::{self as rm, Schedule};

use crate::chain::{Chain, ChainError, ChainExt};
use crate::keys::ParticipantKey;
use crate::ops::{self, Deployment, Roles, StakeKind};
use crate::relay::worker::{ChainHandle, SharedChain};
use crate::wasmd::{Account, WasmdChain};

/// Which chain `fairshare demo` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ChainChoice {
    /// cw-multi-test in this process, running the contracts' code.
    Embedded,
    /// A wasmd node (the `--config` file, by default the localnet of `make localnet`).
    Wasmd,
}

enum Backend {
    Embedded(Box<App>),
    /// Either backend, owned by a chain thread (see [`connect_and_deploy_shared`]).
    Shared(Box<SharedChain>),
    Wasmd {
        node: Box<WasmdChain>,
        /// Pays gas money and stakes to the demo's fresh keys.
        funder: ParticipantKey,
    },
}

/// A deployed Fairshare on either backend.
pub struct DemoChain {
    backend: Backend,
    pub d: Deployment,
    pub stake: StakeKind,
    pub denom: String,
    prefix: String,
    pub operator_key: ParticipantKey,
}

/// Round schedule for a backend: a node's blocks pass while participants train, so its phases
/// are long enough for local training; the embedded chain moves only when told.
pub fn schedule(choice: ChainChoice) -> Schedule {
    match choice {
        ChainChoice::Embedded => Schedule {
            join_blocks: 10,
            train_blocks: 20,
            eval_blocks: 20,
            reveal_blocks: 10,
            dispute_blocks: 5,
            settle_blocks: 20,
        },
        // 0.5 s blocks on the localnet: 10 s to join, 4 min to train, 4 min to value and commit
        // reports, 30 s to reveal them, 30 s more for disputes, 4 min to settle.
        ChainChoice::Wasmd => Schedule {
            join_blocks: 20,
            train_blocks: 480,
            eval_blocks: 480,
            reveal_blocks: 60,
            dispute_blocks: 60,
            settle_blocks: 480,
        },
    }
}

/// Connects to (or creates) the chain, derives the demo's keys from `seeds`, funds them, and
/// deploys the contracts owned by a DAO. Returns the chain and the keys in `seeds` order.
pub fn connect_and_deploy(
    choice: ChainChoice,
    config: Option<&Path>,
    seeds: &[String],
    funds: u128,
    opts: impl FnOnce(&[ParticipantKey], &str) -> ops::DeployOptions,
) -> Result<(DemoChain, Vec<ParticipantKey>)> {
    let (mut backend, prefix, denom, deployer) = match choice {
        ChainChoice::Embedded => {
            let prefix = crate::embedded::ADDRESS_PREFIX.to_string();
            let deployer = ParticipantKey::from_seed(b"owner", &prefix)?;
            (
                Backend::Embedded(Box::default()),
                prefix,
                crate::embedded::STAKE_DENOM.to_string(),
                deployer,
            )
        }
        ChainChoice::Wasmd => {
            let cfg = crate::cli::config::Config::load(config)?;
            let mut node = WasmdChain::connect(cfg.wasmd()?).with_context(|| {
                format!("connecting to {} (is `make localnet` running?)", cfg.rpc)
            })?;
            let deployer = cfg.account("deployer")?;
            node.add_account(&deployer);
            (
                Backend::Wasmd {
                    node: Box::new(node),
                    funder: deployer.key.clone(),
                },
                cfg.prefix.clone(),
                cfg.stake_denom.clone(),
                deployer.key,
            )
        }
    };
    let mut keys = Vec::with_capacity(seeds.len());
    for s in seeds {
        keys.push(match &mut backend {
            Backend::Embedded(_) | Backend::Shared(_) => {
                ParticipantKey::from_seed(s.as_bytes(), &prefix)?
            }
            Backend::Wasmd { node, .. } => {
                let a = Account::from_seed(s, s.as_bytes(), &prefix)?;
                node.add_account(&a);
                a.key
            }
        });
    }
    let addrs: Vec<String> = keys.iter().map(|k| k.address().to_string()).collect();
    match &mut backend {
        Backend::Embedded(app) => {
            for a in &addrs {
                app.sudo(SudoMsg::Bank(BankSudo::Mint {
                    to_address: a.clone(),
                    amount: coins(funds, denom.as_str()),
                }))
                .context("minting stake coins")?;
            }
        }
        Backend::Shared(_) => anyhow::bail!("a chain being deployed is not shared yet"),
        Backend::Wasmd { node, funder } => {
            node.fund_many(
                funder,
                &addrs,
                &Coin {
                    denom: denom.clone(),
                    amount: Uint128::new(funds),
                },
            )?;
        }
    }
    let roles = Roles {
        operator: deployer.address().to_string(),
        treasury: deployer.address().to_string(),
    };
    let deploy_opts = opts(&keys, &denom);
    let stake = deploy_opts.stake.clone();
    let mut me = DemoChain {
        backend,
        d: Deployment {
            chain_id: String::new(),
            owner: cosmwasm_std::Addr::unchecked(""),
            operator: cosmwasm_std::Addr::unchecked(""),
            treasury: cosmwasm_std::Addr::unchecked(""),
            round_manager: cosmwasm_std::Addr::unchecked(""),
            escrow: cosmwasm_std::Addr::unchecked(""),
            token: cosmwasm_std::Addr::unchecked(""),
            dao: None,
            code_ids: vec![],
        },
        stake,
        denom,
        prefix,
        operator_key: deployer.clone(),
    };
    me.d = ops::deploy(me.c(), &deployer, &roles, &deploy_opts).context("deploying Fairshare")?;
    Ok((me, keys))
}

/// As [`connect_and_deploy`], with the chain owned by its own thread, so that the services the
/// demo composes (the relayer's HTTP API and queue, participants, evaluators) share it as they
/// would share a node: returns the demo's view of the chain (a [`SharedChain`] proxy), the
/// handle the services take, and the keys in `seeds` order.
pub fn connect_and_deploy_shared(
    choice: ChainChoice,
    config: Option<std::path::PathBuf>,
    seeds: Vec<String>,
    funds: u128,
    opts: impl FnOnce(&[ParticipantKey], &str) -> ops::DeployOptions + Send + 'static,
) -> Result<(DemoChain, ChainHandle, Vec<ParticipantKey>)> {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = ChainHandle::spawn(move || {
        let (me, keys) = connect_and_deploy(choice, config.as_deref(), &seeds, funds, opts)
            .map_err(|e| ChainError::Other(format!("{e:#}")))?;
        let DemoChain {
            backend,
            d,
            stake,
            denom,
            prefix,
            operator_key,
        } = me;
        let _ = tx.send((d, stake, denom, prefix, operator_key, keys));
        Ok(match backend {
            Backend::Embedded(app) => app as Box<dyn Chain>,
            Backend::Wasmd { node, .. } => node as Box<dyn Chain>,
            Backend::Shared(c) => c as Box<dyn Chain>,
        })
    })?;
    let (d, stake, denom, prefix, operator_key, keys) = rx
        .recv()
        .context("the chain thread stopped while deploying")?;
    let shared = SharedChain::new(handle.clone())?;
    Ok((
        DemoChain {
            backend: Backend::Shared(Box::new(shared)),
            d,
            stake,
            denom,
            prefix,
            operator_key,
        },
        handle,
        keys,
    ))
}

impl DemoChain {
    /// The chain, for the generic operations.
    pub fn c(&mut self) -> &mut dyn Chain {
        match &mut self.backend {
            Backend::Embedded(app) => app.as_mut(),
            Backend::Wasmd { node, .. } => node.as_mut(),
            Backend::Shared(c) => c.as_mut(),
        }
    }

    /// The chain, read-only.
    pub fn v(&self) -> &dyn Chain {
        match &self.backend {
            Backend::Embedded(app) => app.as_ref(),
            Backend::Wasmd { node, .. } => node.as_ref(),
            Backend::Shared(c) => c.as_ref(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn chain_id(&self) -> Result<String> {
        Ok(self.v().chain_id()?)
    }

    /// Waits until the chain is past `height`.
    pub fn wait_past(&mut self, height: u64) -> Result<()> {
        let now = self.v().height()?;
        if now <= height {
            self.c().wait_blocks(height + 1 - now)?;
        }
        Ok(())
    }

    /// Every settled result of a round, across pages.
    pub fn results(&self, round_id: u64) -> Result<Vec<rm::ParticipantResult>> {
        Ok(ops::round::results(self.v(), &self.d, round_id)?)
    }

    /// Native stake coins of `who`.
    pub fn stake_balance(&self, who: &str) -> Result<u128> {
        Ok(self.v().balance(who, &self.denom)?)
    }

    /// Incentive tokens of `who`.
    pub fn token_balance(&self, who: &str) -> Result<u128> {
        let b: BalanceResponse = self.v().query(
            self.d.token.as_str(),
            &Cw20QueryMsg::Balance {
                address: who.to_string(),
            },
        )?;
        Ok(b.balance.u128())
    }
}
