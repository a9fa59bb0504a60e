//! A participant as a long-running service (`fairshare participant run`): one party, its key,
//! its private data and its model. [`Participant::step`] looks at the chain once and does the
//! next thing due: join an open round, fetch the round's global adapter by its hash, train,
//! publish the bundle to the store, sign the commitment and hand it to the relayer (or post it
//! itself when the relayer cannot be reached, or has not posted it as the deadline nears).
//!
//! Restarts are safe: the chain is asked before every action (joined? committed?), and the
//! little the chain cannot tell (the bundle trained for a round) is kept in `state.json`, so a
//! restarted participant neither joins twice, trains a second different update, nor commits
//! twice. The demo can drive the same struct in process: `step` takes the chain as an argument
//! and holds no global state.

pub mod config;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fairshare_protocol::round_manager::{self as rm, Phase};
use serde::{Deserialize, Serialize};

use crate::chain::{Chain, ChainError, ChainExt};
use crate::keys::ParticipantKey;
use crate::ops::{round, Deployment, StakeKind};
use crate::relay::api::CommitRequest;
use crate::relay::client::RelayClient;
use crate::store::{fetch_bundle, publish_bundle, BundleStore, StoreError, Wanted};

/// What a participant trains with for one round.
#[derive(Debug, Clone)]
pub struct TrainJob {
    pub round_id: u64,
    pub participant: String,
    /// The round's global adapter (fetched and checked), or none in round one.
    pub global_adapter: Option<PathBuf>,
    /// Where the bundle must be written.
    pub output: PathBuf,
}

/// Trains an update bundle: the real trainer in the service, a small writer in tests.
pub trait Trainer {
    /// Writes a bundle for `job` into `job.output`.
    fn train(&mut self, job: &TrainJob) -> Result<(), String>;
}

/// The LoRA trainer of `fairshare-trainer` on the participant's private data.
pub struct LoraTrainer {
    /// Base settings (model, data, LoRA shape, steps, …); round, paths and participant are set
    /// per job.
    pub base: fairshare_trainer::config::TrainConfig,
}

impl Trainer for LoraTrainer {
    fn train(&mut self, job: &TrainJob) -> Result<(), String> {
        let mut cfg = self.base.clone();
        // The protocol's rule (DESIGN §4b): A frozen at the round's public initialisation;
        // the relayer and evaluators refuse any other A.
        if !cfg.freeze_a || cfg.init_seed.is_some() {
            tracing::warn!(
                round = job.round_id,
                "ignoring freeze_a = false / init_seed in [train]: the round's shared A is required"
            );
        }
        cfg.freeze_a = true;
        cfg.init_seed = None;
        cfg.output = job.output.clone();
        cfg.global_adapter = job.global_adapter.clone();
        cfg.round = job.round_id;
        cfg.participant = job.participant.clone();
        fairshare_trainer::train::train(&cfg)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// Why a step failed. The service logs it and tries again at its next step.
#[derive(Debug, thiserror::Error)]
pub enum ParticipantError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("training for round {round}: {reason}")]
    Train { round: u64, reason: String },
    #[error("the trained bundle for round {round} is not valid: {reason}")]
    Bundle { round: u64, reason: String },
    #[error("participant state {path}: {reason}")]
    State { path: PathBuf, reason: String },
    #[error("signing: {0}")]
    Key(#[from] crate::keys::KeyError),
}

/// What the participant knows about one round beyond what the chain says.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoundProgress {
    /// Hex update hash of the bundle trained for this round (trained once, even across
    /// restarts).
    pub update_hash: Option<String>,
    /// CID under which it was published.
    pub cid: Option<String>,
    /// The relayer accepted the commitment.
    pub handed_to_relayer: bool,
    /// It posted the commitment itself; the relayer is told afterwards where the bundle is.
    #[serde(default)]
    pub posted_itself: bool,
    /// The relayer refused to list a commitment posted by the participant itself (logged; not
    /// retried).
    #[serde(default)]
    pub relayer_refused: bool,
}

/// The participant's on-disk state (`<data_dir>/state.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ParticipantState {
    pub rounds: BTreeMap<u64, RoundProgress>,
}

impl ParticipantState {
    fn load(path: &Path) -> Result<Self, ParticipantError> {
        match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| ParticipantError::State {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(ParticipantError::State {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }),
        }
    }

    fn save(&self, path: &Path) -> Result<(), ParticipantError> {
        let err = |e: String| ParticipantError::State {
            path: path.to_path_buf(),
            reason: e,
        };
        let tmp = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| err(e.to_string()))?;
        // On disk before the rename: the state records what was trained and committed, and a
        // restart after a power cut must not find it empty and train a second update.
        std::fs::File::create(&tmp)
            .and_then(|mut f| {
                use std::io::Write as _;
                f.write_all(&bytes)?;
                f.sync_all()
            })
            .map_err(|e| err(e.to_string()))?;
        std::fs::rename(&tmp, path).map_err(|e| err(e.to_string()))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| err(e.to_string()))?;
        }
        Ok(())
    }
}

/// What one step did (for logs and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing to do now.
    Idle,
    Joined {
        round: u64,
    },
    Trained {
        round: u64,
        update_hash: String,
    },
    Published {
        round: u64,
        cid: String,
    },
    HandedToRelayer {
        round: u64,
    },
    /// Posted its own commitment (relayer down, or late).
    PostedItself {
        round: u64,
    },
    /// Told the relayer (back up) about a commitment it had posted itself, so evaluators learn
    /// where its bundle is (its CID in IPFS).
    ToldRelayer {
        round: u64,
    },
    /// The round's global adapter is not in the store yet.
    WaitingForGlobalAdapter {
        round: u64,
    },
}

/// Settings of a participant.
#[derive(Debug, Clone)]
pub struct ParticipantOptions {
    pub data_dir: PathBuf,
    /// Stake bonded when joining a round.
    pub stake: u128,
    pub stake_kind: StakeKind,
    /// Post the commitment itself when this few blocks remain before the commit deadline and
    /// the chain still does not have it.
    pub self_post_margin_blocks: u64,
}

/// One participant: key, deployment, store, relayer, trainer and on-disk state.
pub struct Participant<T: Trainer> {
    pub key: ParticipantKey,
    pub d: Deployment,
    pub opts: ParticipantOptions,
    pub store: Box<dyn BundleStore>,
    pub relayer: Option<RelayClient>,
    pub trainer: T,
    state: ParticipantState,
}

const ZERO_HASH: [u8; 32] = [0; 32];

/// Where a participant with data directory `data_dir` keeps its bundle of round `round_id`.
pub fn bundle_dir(data_dir: &Path, round_id: u64) -> PathBuf {
    data_dir.join(format!("round-{round_id}")).join("bundle")
}

impl<T: Trainer> Participant<T> {
    /// Loads the state kept in `opts.data_dir` (created if needed).
    pub fn new(
        key: ParticipantKey,
        d: Deployment,
        opts: ParticipantOptions,
        store: Box<dyn BundleStore>,
        relayer: Option<RelayClient>,
        trainer: T,
    ) -> Result<Self, ParticipantError> {
        std::fs::create_dir_all(&opts.data_dir).map_err(|e| ParticipantError::State {
            path: opts.data_dir.clone(),
            reason: e.to_string(),
        })?;
        let state = ParticipantState::load(&opts.data_dir.join("state.json"))?;
        Ok(Self {
            key,
            d,
            opts,
            store,
            relayer,
            trainer,
            state,
        })
    }

    /// The state as it is on disk.
    pub fn state(&self) -> &ParticipantState {
        &self.state
    }

    fn save(&self) -> Result<(), ParticipantError> {
        self.state.save(&self.opts.data_dir.join("state.json"))
    }

    /// The latest round, if any was opened.
    fn latest_round(&self, chain: &dyn Chain) -> Result<Option<rm::RoundResponse>, ChainError> {
        let c: rm::ConfigResponse =
            chain.query(self.d.round_manager.as_str(), &rm::QueryMsg::Config {})?;
        if c.next_round_id <= 1 {
            return Ok(None);
        }
        round::status(chain, &self.d, c.next_round_id - 1).map(Some)
    }

    fn on_chain(
        &self,
        chain: &dyn Chain,
        round_id: u64,
    ) -> Result<Option<rm::ParticipantResponse>, ChainError> {
        let p: Result<rm::ParticipantResponse, _> = chain.query(
            self.d.round_manager.as_str(),
            &rm::QueryMsg::Participant {
                round_id,
                participant: self.key.address().to_string(),
            },
        );
        match p {
            Ok(p) => Ok(Some(p)),
            Err(ChainError::Query(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Looks at the chain once and does the next thing due for the latest round.
    pub fn step(&mut self, chain: &mut dyn Chain) -> Result<Action, ParticipantError> {
        let Some(r) = self.latest_round(chain)? else {
            return Ok(Action::Idle);
        };
        let id = r.id;
        let me = self.on_chain(chain, id)?;
        match (&r.phase, &me) {
            (Phase::Open, None) => {
                round::join(
                    chain,
                    &self.d,
                    &self.opts.stake_kind,
                    &self.key,
                    id,
                    self.opts.stake,
                )?;
                return Ok(Action::Joined { round: id });
            }
            (Phase::Open | Phase::Training, Some(p)) if p.commitment.is_none() => {}
            (Phase::Open | Phase::Training, Some(_)) => return self.tell_relayer(chain, id),
            _ => return Ok(Action::Idle),
        }
        let progress = self.state.rounds.get(&id).cloned().unwrap_or_default();
        let bundle_dir = bundle_dir(&self.opts.data_dir, id);

        // 1. Train once per round.
        let Some(update_hash) = progress.update_hash.clone() else {
            let global = if r.spec.global_adapter_hash.as_slice() == ZERO_HASH {
                None
            } else {
                let want = r.spec.global_adapter_hash.to_hex();
                let dest = self
                    .opts
                    .data_dir
                    .join(format!("round-{id}"))
                    .join("global");
                match fetch_bundle(
                    self.store.as_ref(),
                    &Wanted {
                        update_hash: &want,
                        cid: None,
                    },
                    &dest,
                ) {
                    Ok(_) => Some(dest),
                    Err(StoreError::NotFound { .. }) => {
                        return Ok(Action::WaitingForGlobalAdapter { round: id })
                    }
                    Err(e) => return Err(e.into()),
                }
            };
            let _ = std::fs::remove_dir_all(&bundle_dir);
            let job = TrainJob {
                round_id: id,
                participant: self.key.address().to_string(),
                global_adapter: global,
                output: bundle_dir.clone(),
            };
            self.trainer
                .train(&job)
                .map_err(|reason| ParticipantError::Train { round: id, reason })?;
            // The checks the relayer and evaluators will make (the round's shared A among
            // them): a bundle they would refuse is not published or committed.
            crate::bundle::verify(
                &bundle_dir,
                &crate::bundle::Expectation::for_round(&r, None),
            )
            .map_err(|e| ParticipantError::Bundle {
                round: id,
                reason: e.to_string(),
            })?;
            let archive = crate::store::pack(&bundle_dir)?;
            let h = crate::store::archive_update_hash(&archive)?;
            self.state.rounds.insert(
                id,
                RoundProgress {
                    update_hash: Some(h.clone()),
                    ..Default::default()
                },
            );
            self.save()?;
            return Ok(Action::Trained {
                round: id,
                update_hash: h,
            });
        };

        // 2. Publish (idempotent: same bytes, same CID).
        if progress.cid.is_none() {
            let b = publish_bundle(self.store.as_ref(), &bundle_dir)?;
            if b.update_hash != update_hash {
                return Err(ParticipantError::Bundle {
                    round: id,
                    reason: format!(
                        "{} changed since training (hash {} now, {update_hash} then)",
                        bundle_dir.display(),
                        b.update_hash
                    ),
                });
            }
            let e = self.state.rounds.entry(id).or_default();
            e.cid = Some(b.cid.to_string());
            self.save()?;
            return Ok(Action::Published {
                round: id,
                cid: b.cid.to_string(),
            });
        }

        // 3. Commit: through the relayer, or by itself.
        let mut hash = [0u8; 32];
        hex::decode_to_slice(&update_hash, &mut hash).map_err(|e| ParticipantError::Bundle {
            round: id,
            reason: e.to_string(),
        })?;
        let chain_id = chain.chain_id()?;
        let c = self
            .key
            .sign_commitment(&chain_id, self.d.round_manager.as_str(), id, &hash)?;
        if !progress.handed_to_relayer {
            if let Some(relayer) = &self.relayer {
                let req = CommitRequest {
                    round_id: id,
                    update_hash: update_hash.clone(),
                    cid: progress
                        .cid
                        .as_deref()
                        .and_then(|c| crate::store::Cid::parse(c).ok()),
                    commitment: c.clone(),
                };
                match relayer.commit(&req) {
                    Ok(_) => {
                        self.state.rounds.entry(id).or_default().handed_to_relayer = true;
                        self.save()?;
                        return Ok(Action::HandedToRelayer { round: id });
                    }
                    Err(e) if e.is_unreachable() => {
                        tracing::warn!(round = id, error = %e, "relayer unreachable; posting the commitment myself");
                    }
                    Err(e) => {
                        tracing::warn!(round = id, error = %e, "the relayer refused the commitment; posting it myself");
                    }
                }
            }
        } else {
            // Handed over: wait for the relayer unless the deadline is near.
            let height = chain.height()?;
            if height + self.opts.self_post_margin_blocks < r.deadlines.commit_until {
                return Ok(Action::Idle);
            }
        }
        round::commit(chain, &self.d, &self.key, id, vec![c], 1)?;
        self.state.rounds.entry(id).or_default().posted_itself = true;
        self.save()?;
        Ok(Action::PostedItself { round: id })
    }

    /// After posting its commitment itself, hands it to the relayer once the relayer answers
    /// again (while the round takes commitments), so the relayer lists where the bundle is
    /// (with a kubo store, only the participant knows its CID) and evaluators do not take it
    /// for a no-show.
    fn tell_relayer(&mut self, chain: &dyn Chain, id: u64) -> Result<Action, ParticipantError> {
        let progress = self.state.rounds.get(&id).cloned().unwrap_or_default();
        let (Some(relayer), Some(update_hash), true, false, false) = (
            &self.relayer,
            &progress.update_hash,
            progress.posted_itself,
            progress.handed_to_relayer,
            progress.relayer_refused,
        ) else {
            return Ok(Action::Idle);
        };
        let mut hash = [0u8; 32];
        hex::decode_to_slice(update_hash, &mut hash).map_err(|e| ParticipantError::Bundle {
            round: id,
            reason: e.to_string(),
        })?;
        let c = self.key.sign_commitment(
            &chain.chain_id()?,
            self.d.round_manager.as_str(),
            id,
            &hash,
        )?;
        let req = CommitRequest {
            round_id: id,
            update_hash: update_hash.clone(),
            cid: progress
                .cid
                .as_deref()
                .and_then(|c| crate::store::Cid::parse(c).ok()),
            commitment: c,
        };
        match relayer.commit(&req) {
            Ok(_) => {
                self.state.rounds.entry(id).or_default().handed_to_relayer = true;
                self.save()?;
                Ok(Action::ToldRelayer { round: id })
            }
            Err(e) if e.is_unreachable() => Ok(Action::Idle),
            Err(e) => {
                tracing::warn!(round = id, error = %e, "the relayer refused to list my self-posted commitment");
                self.state.rounds.entry(id).or_default().relayer_refused = true;
                self.save()?;
                Ok(Action::Idle)
            }
        }
    }
}
