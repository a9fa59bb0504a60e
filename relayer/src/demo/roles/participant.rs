//! The demo's participants: who holds which text and how each behaves in a round, and the
//! participant service (`crate::participant::Participant`, what `fairshare participant run`
//! runs) that carries each of them through a round: join, fetch the global adapter by its hash,
//! train, publish the bundle to the relayer's store and hand the signed commitment to the
//! relayer. Only the training itself is the demo's ([`DemoTrainer`]: each role's behaviour).

use std::path::{Path, PathBuf};

use fairshare_trainer::bundle::{write_bundle, BundleInfo};
use fairshare_trainer::config::{LoraConfig, TrainConfig};
use fairshare_trainer::data::PackedData;
use fairshare_trainer::lora::{round_init_seed, LoraAdapter};
use fairshare_trainer::model::LlamaModel;
use fairshare_trainer::tokenizer::TextTokenizer;
use fairshare_trainer::train::train_on;
use serde::Serialize;

use std::cell::RefCell;
use std::rc::Rc;

use anyhow::Context;
use candle_core::{DType, Device};
use fairshare_protocol::round_manager as rm;

use crate::bundle::{self, Expectation};
use crate::chain::Chain;
use crate::demo::corpus::{self, Corpus, PARTICIPANT_PLAYS};
use crate::demo::output::EntryRecord;
use crate::demo::DemoError;
use crate::keys::ParticipantKey;
use crate::ops::{round, Deployment, StakeKind};
use crate::participant::{self as service, Action, ParticipantOptions, TrainJob, Trainer};

/// How a participant behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Trains on its own text every round.
    Honest,
    /// Joins and bonds, but submits an untrained (zero) update while claiming its data size.
    FreeRider,
    /// Trains on its text with the tokens shuffled: no language left in it.
    Corrupted,
    /// Honest in round 1; joins round 2 and never commits; gone afterwards.
    Dropout,
    /// One party under two identities that both submit updates of the same text
    /// (`--sybil`): it holds its own play and trains honestly, but enters twice.
    Sybil,
}

/// How the `--sybil` party makes its second identity's update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum SybilKind {
    /// Trains again on the same text with another data-order seed (the LoRA initialisation is
    /// the round's, the same for everyone): two genuine updates of one party's data.
    Retrain,
    /// Copies the first identity's update with small Gaussian noise on B (2% of its RMS; A is
    /// the round's shared A, which the relayer checks), so the bytes, and so the hash, differ.
    Copy,
}

/// Relative noise of a [`SybilKind::Copy`] update.
pub const COPY_NOISE: f64 = 0.02;

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Self::Honest => "honest",
            Self::FreeRider => "free-rider",
            Self::Corrupted => "corrupted",
            Self::Dropout => "dropout",
            Self::Sybil => "sybil",
        }
    }

    pub fn is_honest(self) -> bool {
        self == Self::Honest
    }
}

/// The round in which the dropout joins and then never commits.
pub const DROPOUT_ROUND: usize = 2;

/// One participant: a name, a role, a key and the tokens of its private text.
#[derive(Debug, Clone)]
pub struct Participant {
    pub name: String,
    pub role: Role,
    /// The plays it holds text of, one per round, joined by `+`.
    pub play: String,
    /// Its private text of every round, tokenized (already shuffled for the corrupted
    /// participant), one round after another: fresh text each round (data that arrives over
    /// time), see [`corpus::shard`].
    pub tokens: Vec<u32>,
    /// Where each round's tokens end in `tokens`.
    pub round_ends: Vec<usize>,
    /// Rounds the run has.
    pub rounds: usize,
    pub key: Option<ParticipantKey>,
    pub seed: u64,
    /// A Sybil identity's twin (the identity whose data it shares) and how it makes its update.
    pub twin: Option<(String, SybilKind)>,
}

/// What a participant produced in a round.
#[derive(Debug, Clone)]
pub struct Update {
    pub dir: PathBuf,
    pub tokens_claimed: u64,
    /// Local training loss, first and last step (`None` for an untrained update).
    pub train_loss: Option<(f64, f64)>,
    pub summary: String,
}

/// Writes `adapter` as an untrained bundle claiming `claimed` training tokens.
fn untrained_update(
    dir: &Path,
    adapter: &LoraAdapter,
    info: BundleInfo,
    claimed: u64,
    summary: String,
) -> Result<Option<Update>, DemoError> {
    write_bundle(
        dir,
        adapter,
        &BundleInfo {
            num_training_tokens: claimed,
            ..info
        },
    )?;
    Ok(Some(Update {
        dir: dir.to_path_buf(),
        tokens_claimed: claimed,
        train_loss: None,
        summary,
    }))
}

/// The `--sybil` party's two identities.
pub const SYBIL_NAMES: [&str; 2] = ["sybil-1", "sybil-2"];

/// Share of `max_chars` the Sybil party holds.
const SYBIL_SHARE: f64 = 0.5;

const NAMES: [&str; 14] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "niaj", "olivia", "peggy",
];

/// Fractions of `max_chars` the honest participants hold, in order.
const HONEST_SHARES: [f64; 11] = [1.0, 0.5, 0.25, 0.75, 0.4, 0.6, 0.3, 0.9, 0.35, 0.8, 0.45];

/// `n` participants: honest ones with different data sizes, then a free-rider, a corrupted one
/// and a dropout, each one party with its own text every round ([`Corpus::party_rounds`]:
/// round 1 its play of [`PARTICIPANT_PLAYS`], later rounds plays nobody had); with `sybil`,
/// two more identities of one more party that share its text.
pub fn roster(
    n: usize,
    corpus: &Corpus,
    tokenizer: &TextTokenizer,
    max_chars: usize,
    rounds: usize,
    seed: u64,
    sybil: Option<SybilKind>,
) -> Result<Vec<Participant>, DemoError> {
    let rounds = rounds.max(1);
    let parties = n + usize::from(sybil.is_some());
    // A party's text of every round, tokenized (shuffled per round with `shuffle`).
    let texts = |party: usize, share: f64, shuffle: Option<u64>| {
        let per_round = (max_chars as f64 * share) as usize / rounds;
        let mut tokens = Vec::new();
        let mut ends = Vec::with_capacity(rounds);
        let mut plays = Vec::with_capacity(rounds);
        for (r, (shard, text)) in corpus
            .party_rounds(party, parties, rounds, per_round)?
            .into_iter()
            .enumerate()
        {
            let t = tokenizer.encode(&text)?;
            match shuffle {
                Some(s) => tokens.extend(corpus::shuffled(&t, s.wrapping_add(r as u64))),
                None => tokens.extend(t),
            }
            ends.push(tokens.len());
            plays.push(shard.play);
        }
        Ok::<_, DemoError>((tokens, ends, plays.join("+")))
    };
    let honest = n.saturating_sub(3);
    let mut out = Vec::with_capacity(parties + 1);
    for i in 0..n {
        let (role, share) = if i < honest {
            (Role::Honest, HONEST_SHARES[i % HONEST_SHARES.len()])
        } else {
            match i - honest {
                0 => (Role::FreeRider, 0.5),
                1 => (Role::Corrupted, 0.5),
                _ => (Role::Dropout, 0.5),
            }
        };
        let pseed = seed.wrapping_mul(1000).wrapping_add(i as u64);
        let shuffle = (role == Role::Corrupted).then_some(pseed);
        let (tokens, round_ends, play) = texts(i, share, shuffle)?;
        out.push(Participant {
            name: NAMES[i].into(),
            role,
            play,
            tokens,
            round_ends,
            rounds,
            key: None,
            seed: pseed,
            twin: None,
        });
    }
    if let Some(kind) = sybil {
        sybil_play(n)?;
        let (tokens, round_ends, play) = texts(n, SYBIL_SHARE, None)?;
        for (k, name) in SYBIL_NAMES.iter().enumerate() {
            out.push(Participant {
                name: (*name).into(),
                role: Role::Sybil,
                play: play.clone(),
                tokens: tokens.clone(),
                round_ends: round_ends.clone(),
                rounds,
                key: None,
                seed: seed.wrapping_mul(1000).wrapping_add(500 + k as u64),
                twin: Some((SYBIL_NAMES[1 - k].into(), kind)),
            });
        }
    }
    Ok(out)
}

/// The play the Sybil party holds in a run of `n` other participants.
pub fn sybil_play(n: usize) -> Result<&'static str, DemoError> {
    PARTICIPANT_PLAYS.get(n).copied().ok_or_else(|| {
        DemoError::Config(format!(
            "--sybil needs a play of its own: use at most {} participants",
            PARTICIPANT_PLAYS.len() - 1
        ))
    })
}

/// `adapter` with Gaussian noise of `rel` times each B's RMS added to every B; A is kept (it is
/// the round's shared A, which every bundle must carry).
pub fn with_noise(adapter: &LoraAdapter, rel: f64, seed: u64) -> Result<LoraAdapter, DemoError> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut noisy = |t: &candle_core::Tensor| -> Result<candle_core::Tensor, DemoError> {
        let dtype = t.dtype();
        let v: Vec<f32> = t
            .to_dtype(candle_core::DType::F32)
            .and_then(|x| x.flatten_all())
            .and_then(|x| x.to_vec1())
            .map_err(fairshare_trainer::TrainerError::from)?;
        let rms =
            (v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() / v.len().max(1) as f64).sqrt();
        let out: Vec<f32> = v
            .iter()
            .map(|x| {
                let (u1, u2): (f64, f64) = (rng.random_range(1e-12..1.0), rng.random());
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                x + (rel * rms * z) as f32
            })
            .collect();
        candle_core::Tensor::from_vec(out, t.shape(), t.device())
            .and_then(|x| x.to_dtype(dtype))
            .map_err(|e| fairshare_trainer::TrainerError::from(e).into())
    };
    let mut modules = std::collections::BTreeMap::new();
    for (k, p) in &adapter.modules {
        modules.insert(
            k.clone(),
            fairshare_trainer::lora::LoraPair {
                a: p.a.clone(),
                b: noisy(&p.b)?,
            },
        );
    }
    Ok(LoraAdapter::from_modules(adapter.config.clone(), modules))
}

/// The LoRA shape every participant trains.
pub fn lora() -> LoraConfig {
    LoraConfig {
        r: 8,
        alpha: 16.0,
        dropout: 0.0,
        target_modules: [
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "up_proj",
            "down_proj",
        ]
        .map(String::from)
        .to_vec(),
    }
}

impl Participant {
    pub fn key(&self) -> &ParticipantKey {
        self.key
            .as_ref()
            .expect("every participant gets a key before the first round")
    }

    pub fn address(&self) -> &str {
        self.key().address()
    }

    /// The text it trains on in round `r` (1-based; the last round's for later ones).
    pub fn round_tokens(&self, r: usize) -> &[u32] {
        let k = (r.max(1) - 1).min(self.round_ends.len().saturating_sub(1));
        let start = if k == 0 { 0 } else { self.round_ends[k - 1] };
        let end = self.round_ends.get(k).copied().unwrap_or(start);
        &self.tokens[start..end]
    }

    /// Whether it joins round `r`.
    pub fn joins(&self, r: usize) -> bool {
        self.role != Role::Dropout || r <= DROPOUT_ROUND
    }

    /// Whether it is gone in round `r` (joined, never commits).
    pub fn drops_out(&self, r: usize) -> bool {
        self.role == Role::Dropout && r >= DROPOUT_ROUND
    }

    /// Its update for round `r` (on-chain id `round_id`), written as a bundle in `dir`; `None`
    /// when it does not commit. A copying Sybil identity copies the bundle in `twin_dir`.
    #[allow(clippy::too_many_arguments)]
    pub fn local_update(
        &self,
        r: usize,
        round_id: u64,
        global: &LlamaModel,
        base_hash: &str,
        global_hash: Option<String>,
        dir: &Path,
        twin_dir: Option<&Path>,
        epochs: usize,
        lr: f64,
        progress: bool,
    ) -> Result<Option<Update>, DemoError> {
        let seq_len = crate::demo::SEQ_LEN;
        let batch = 8;
        let info = BundleInfo {
            round: round_id,
            base_model_hash: base_hash.to_string(),
            global_adapter_hash: global_hash,
            num_training_tokens: 0,
            participant: self.address().to_string(),
        };
        match self.role {
            Role::Dropout if r >= DROPOUT_ROUND => Ok(None),
            Role::Sybil
                if self.name == SYBIL_NAMES[1]
                    && matches!(self.twin, Some((_, SybilKind::Copy))) =>
            {
                // The first identity trained already; copy its bundle with a little noise.
                let twin_dir = twin_dir.ok_or_else(|| {
                    DemoError::Config(format!("{} has no twin to copy", self.name))
                })?;
                let twin = fairshare_trainer::bundle::read_bundle(
                    twin_dir,
                    global.config(),
                    global.dtype(),
                    global.device(),
                )?;
                let adapter =
                    with_noise(&twin.adapter, COPY_NOISE, self.seed.wrapping_add(r as u64))?;
                let claimed = twin.manifest.num_training_tokens;
                untrained_update(
                    dir,
                    &adapter,
                    info,
                    claimed,
                    format!(
                        "copy of {}'s update with {:.0}% noise, claiming {claimed} tokens",
                        SYBIL_NAMES[0],
                        COPY_NOISE * 100.0
                    ),
                )
            }
            Role::FreeRider => {
                // The round's initial adapter (the shared A, as every bundle must carry):
                // B = 0, so ΔW = 0.
                let adapter = LoraAdapter::init(
                    global.config(),
                    &lora(),
                    round_init_seed(
                        info.round,
                        &info.base_model_hash,
                        info.global_adapter_hash.as_deref(),
                    ),
                    global.dtype(),
                    global.device(),
                )?;
                let claimed = (self.round_tokens(r).len() * epochs) as u64;
                untrained_update(
                    dir,
                    &adapter,
                    info,
                    claimed,
                    format!("untrained update claiming {claimed} tokens"),
                )
            }
            _ => {
                let data = PackedData::new(self.round_tokens(r).to_vec(), seq_len)?;
                let steps = (data.num_windows() * epochs).div_ceil(batch).max(1);
                let mut cfg = TrainConfig::new(PathBuf::new(), PathBuf::new(), dir.to_path_buf());
                cfg.lora = lora();
                cfg.seq_len = seq_len;
                cfg.batch_size = batch;
                cfg.steps = steps;
                cfg.learning_rate = lr;
                cfg.warmup_steps = (steps / 10).max(1);
                cfg.seed = self.seed.wrapping_add(r as u64);
                // The protocol: A frozen at the round's public initialisation (the default).
                cfg.freeze_a = true;
                cfg.progress = progress;
                let report = train_on(global, &data, &cfg, info)?;
                Ok(Some(Update {
                    dir: dir.to_path_buf(),
                    tokens_claimed: report.training_tokens,
                    train_loss: Some((report.first_loss, report.final_loss)),
                    summary: format!(
                        "trained {steps} steps, loss {:.3} → {:.3} ({:.0} tok/s)",
                        report.first_loss, report.final_loss, report.tokens_per_sec
                    ),
                }))
            }
        }
    }
}

/// The base model with the global adapter of the round merged, shared by the participants of
/// one process (each would load it itself on its own host): `(adapter hash, model)`.
pub type GlobalCache = Rc<RefCell<Option<(String, LlamaModel)>>>;

/// A demo participant's training, behind the participant service's [`Trainer`]: the service
/// decides when to train and where the bundle goes; this decides what the update is (honest
/// training, a free-rider's zero update, shuffled data, a Sybil's copy).
pub struct DemoTrainer {
    pub person: Participant,
    /// The demo's round number (1-based; the person's data of that round), set by the driver.
    pub round: usize,
    base: LlamaModel,
    base_hash: String,
    epochs: usize,
    lr: f64,
    progress: bool,
    /// The data directory of the identity whose bundle a copying Sybil copies.
    twin_data_dir: Option<PathBuf>,
    global: GlobalCache,
    /// What the last training produced.
    pub last: Option<Update>,
}

impl DemoTrainer {
    /// The model to train on: the base with the adapter at `path` (hash from its manifest)
    /// merged, or the base alone in the first round.
    fn model(&self, path: Option<&Path>) -> Result<(LlamaModel, Option<String>), DemoError> {
        let Some(path) = path else {
            return Ok((self.base.clone(), None));
        };
        let dev = Device::Cpu;
        let g = fairshare_trainer::bundle::read_bundle(path, self.base.config(), DType::F32, &dev)?;
        let hash = g.manifest.update_hash.clone();
        if let Some((h, m)) = self.global.borrow().as_ref() {
            if *h == hash {
                return Ok((m.clone(), Some(hash)));
            }
        }
        let mut m = self.base.clone();
        m.merge_adapter(&g.adapter)?;
        *self.global.borrow_mut() = Some((hash.clone(), m.clone()));
        Ok((m, Some(hash)))
    }
}

impl Trainer for DemoTrainer {
    fn train(&mut self, job: &TrainJob) -> Result<(), String> {
        let (model, global_hash) = self
            .model(job.global_adapter.as_deref())
            .map_err(|e| e.to_string())?;
        let twin = self
            .twin_data_dir
            .as_ref()
            .map(|d| service::bundle_dir(d, job.round_id));
        match self
            .person
            .local_update(
                self.round,
                job.round_id,
                &model,
                &self.base_hash,
                global_hash,
                &job.output,
                twin.as_deref(),
                self.epochs,
                self.lr,
                self.progress,
            )
            .map_err(|e| e.to_string())?
        {
            Some(u) => {
                self.last = Some(u);
                Ok(())
            }
            None => Err(format!("{} has no update this round", self.person.name)),
        }
    }
}

/// The participant service running one demo participant.
pub type Service = service::Participant<DemoTrainer>;

/// How the demo's participant services are set up.
pub struct Setup<'a> {
    pub d: &'a Deployment,
    pub stake_kind: &'a StakeKind,
    pub stake: u128,
    pub base: &'a LlamaModel,
    pub base_hash: &'a str,
    /// Each participant's data directory is `<work>/<name>`.
    pub work: &'a Path,
    /// The relayer's API: its bundle store and its commitment queue.
    pub relayer_url: &'a str,
    pub epochs: usize,
    pub lr: f64,
    pub progress: bool,
}

/// One participant service per person, each with its own data directory, the relayer's
/// store, and the relayer to hand commitments to.
pub fn start(people: &[Participant], s: &Setup) -> anyhow::Result<Vec<Service>> {
    let global: GlobalCache = Rc::default();
    people
        .iter()
        .map(|p| {
            let twin_data_dir = match &p.twin {
                Some((twin, SybilKind::Copy)) if p.name == SYBIL_NAMES[1] => {
                    Some(s.work.join(twin))
                }
                _ => None,
            };
            let trainer = DemoTrainer {
                person: p.clone(),
                round: 1,
                base: s.base.clone(),
                base_hash: s.base_hash.to_string(),
                epochs: s.epochs,
                lr: s.lr,
                progress: s.progress,
                twin_data_dir,
                global: global.clone(),
                last: None,
            };
            Ok(service::Participant::new(
                p.key().clone(),
                s.d.clone(),
                ParticipantOptions {
                    data_dir: s.work.join(&p.name),
                    stake: s.stake,
                    stake_kind: s.stake_kind.clone(),
                    self_post_margin_blocks: 1,
                },
                Box::new(crate::store::http::HttpStore::new(s.relayer_url)?),
                Some(crate::relay::client::RelayClient::new(s.relayer_url)?),
                trainer,
            )?)
        })
        .collect()
}

/// Every participant that takes part in round `r` joins it (one service step each, which
/// bonds its stake); `excluded` never does. Returns who joined.
pub fn join(
    chain: &mut dyn Chain,
    services: &mut [Service],
    r: usize,
    id: u64,
    excluded: Option<&str>,
) -> anyhow::Result<Vec<usize>> {
    let mut joined = vec![];
    for (i, s) in services.iter_mut().enumerate() {
        if !s.trainer.person.joins(r) || excluded == Some(s.trainer.person.name.as_str()) {
            continue;
        }
        s.trainer.round = r;
        let name = s.trainer.person.name.clone();
        match s
            .step(chain)
            .with_context(|| format!("{name} joins round {id}"))?
        {
            Action::Joined { round } if round == id => joined.push(i),
            other => anyhow::bail!("{name} was to join round {id} but did {other:?}"),
        }
    }
    Ok(joined)
}

/// Most service steps a participant takes to get from training to a handed-over commitment
/// (train, publish, hand over).
const STEPS_TO_COMMIT: usize = 4;

/// Every joined participant trains, publishes its bundle and hands its signed commitment to
/// the relayer, by stepping its service; a dropout has stopped running and does nothing.
/// Fills `entries` and returns who handed a commitment over.
pub fn train_and_commit(
    chain: &mut dyn Chain,
    services: &mut [Service],
    joined: &[usize],
    round: &rm::RoundResponse,
    entries: &mut [EntryRecord],
    out: &mut dyn std::io::Write,
) -> anyhow::Result<Vec<usize>> {
    let mut committed = vec![];
    let mut shapes = None;
    for &i in joined {
        let s = &mut services[i];
        entries[i].joined = true;
        let name = s.trainer.person.name.clone();
        if s.trainer.person.drops_out(s.trainer.round) {
            writeln!(out, "  {name:<7} dropped out: no update")?;
            continue;
        }
        s.trainer.last = None;
        let mut handed = None;
        for _ in 0..STEPS_TO_COMMIT {
            match s
                .step(chain)
                .with_context(|| format!("{name} in round {}", round.id))?
            {
                Action::HandedToRelayer { .. } => {
                    handed = Some("handed to the relayer");
                    break;
                }
                Action::PostedItself { .. } => {
                    handed = Some("posted by itself (the relayer refused it)");
                    break;
                }
                Action::Trained { .. } | Action::Published { .. } => {}
                other => anyhow::bail!("{name} in round {}: unexpected {other:?}", round.id),
            }
        }
        let Some(how) = handed else {
            anyhow::bail!("{name} did not commit in round {}", round.id);
        };
        let update = s
            .trainer
            .last
            .clone()
            .with_context(|| format!("{name} trained in round {}", round.id))?;
        // The figures the relayer checked, for the record.
        let vb = bundle::verify(
            &service::bundle_dir(&s.opts.data_dir, round.id),
            &Expectation::for_round(round, shapes.clone()),
        )
        .with_context(|| format!("{name}'s bundle"))?;
        shapes.get_or_insert(vb.shapes.clone());
        writeln!(
            out,
            "  {name:<7} {}: ‖ΔW‖ {:.3}, update {}…, published, signed and {how}",
            update.summary,
            vb.norm,
            &hex::encode(vb.update_hash)[..12]
        )?;
        entries[i].train_loss = update.train_loss;
        entries[i].tokens_claimed = update.tokens_claimed;
        entries[i].committed = true;
        entries[i].update_norm = Some(vb.norm);
        committed.push(i);
    }
    Ok(committed)
}

/// Every participant of the round claims what the escrow holds for it.
pub fn claim(
    chain: &mut dyn Chain,
    services: &[Service],
    joined: &[usize],
    id: u64,
) -> anyhow::Result<()> {
    for &i in joined {
        let s = &services[i];
        round::claim(chain, &s.d, &s.key, id)
            .with_context(|| format!("{} claims in round {id}", s.trainer.person.name))?;
    }
    Ok(())
}
