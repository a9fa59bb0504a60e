//! The demo's participants: who holds which text and how each behaves in a round.

use std::path::{Path, PathBuf};

use fairshare_trainer::bundle::{write_bundle, BundleInfo};
use fairshare_trainer::config::{LoraConfig, TrainConfig};
use fairshare_trainer::data::PackedData;
use fairshare_trainer::lora::LoraAdapter;
use fairshare_trainer::model::LlamaModel;
use fairshare_trainer::tokenizer::TextTokenizer;
use fairshare_trainer::train::train_on;
use serde::Serialize;

use super::corpus::{self, Corpus, PARTICIPANT_PLAYS};
use super::DemoError;
use crate::keys::ParticipantKey;

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
    /// Trains again on the same text with another seed (a different LoRA initialisation and
    /// batch order): two genuine updates of one party's data.
    Retrain,
    /// Copies the first identity's update with small Gaussian noise (2% of each factor's RMS),
    /// so the bytes, and so the hash, differ.
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
    pub play: String,
    /// Its private text, tokenized (already shuffled for the corrupted participant); round `r`
    /// of `R` trains on the `r`-th of `R` equal parts (data that arrives over time).
    pub tokens: Vec<u32>,
    /// Rounds the run has, to cut `tokens` into.
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
/// and a dropout, each with its own play; with `sybil`, two more identities of one party that
/// share the next play.
pub fn roster(
    n: usize,
    corpus: &Corpus,
    tokenizer: &TextTokenizer,
    max_chars: usize,
    rounds: usize,
    seed: u64,
    sybil: Option<SybilKind>,
) -> Result<Vec<Participant>, DemoError> {
    let honest = n.saturating_sub(3);
    let mut out = Vec::with_capacity(n);
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
        let play = PARTICIPANT_PLAYS[i];
        let text = corpus.private_part(play, (max_chars as f64 * share) as usize)?;
        let mut tokens = tokenizer.encode(&text)?;
        let pseed = seed.wrapping_mul(1000).wrapping_add(i as u64);
        if role == Role::Corrupted {
            tokens = corpus::shuffled(&tokens, pseed);
        }
        out.push(Participant {
            name: NAMES[i].into(),
            role,
            play: play.into(),
            tokens,
            rounds: rounds.max(1),
            key: None,
            seed: pseed,
            twin: None,
        });
    }
    if let Some(kind) = sybil {
        let play = sybil_play(n)?;
        let text = corpus.private_part(play, (max_chars as f64 * SYBIL_SHARE) as usize)?;
        let tokens = tokenizer.encode(&text)?;
        for (k, name) in SYBIL_NAMES.iter().enumerate() {
            out.push(Participant {
                name: (*name).into(),
                role: Role::Sybil,
                play: play.into(),
                tokens: tokens.clone(),
                rounds: rounds.max(1),
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

/// `adapter` with Gaussian noise of `rel` times each factor's RMS added to every A and B.
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
                a: noisy(&p.a)?,
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

    /// The part of its text it trains on in round `r` (1-based).
    pub fn round_tokens(&self, r: usize) -> &[u32] {
        let k = (r.max(1) - 1).min(self.rounds - 1);
        let len = self.tokens.len();
        &self.tokens[len * k / self.rounds..len * (k + 1) / self.rounds]
    }

    /// Whether it joins round `r`.
    pub fn joins(&self, r: usize) -> bool {
        self.role != Role::Dropout || r <= DROPOUT_ROUND
    }

    /// Its update for round `r` (on-chain id `round_id`), written as a bundle in `dir`; `None`
    /// when it does not commit.
    #[allow(clippy::too_many_arguments)]
    pub fn local_update(
        &self,
        r: usize,
        round_id: u64,
        global: &LlamaModel,
        base_hash: &str,
        global_hash: Option<String>,
        dir: &Path,
        epochs: usize,
        lr: f64,
        progress: bool,
    ) -> Result<Option<Update>, DemoError> {
        let seq_len = super::SEQ_LEN;
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
                let twin_dir = dir
                    .parent()
                    .map(|p| p.join(SYBIL_NAMES[0]))
                    .ok_or_else(|| DemoError::Config("a bundle directory has a parent".into()))?;
                let twin = fairshare_trainer::bundle::read_bundle(
                    &twin_dir,
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
                // A freshly initialised adapter: B = 0, so ΔW = 0.
                let adapter = LoraAdapter::init(
                    global.config(),
                    &lora(),
                    self.seed,
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
