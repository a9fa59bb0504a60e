//! The evaluator's real [`Valuer`]: the base model with the round's global adapter, the
//! held-out text, and [`crate::valuation`] (exact or sampled Shapley values of every coalition
//! of the round's updates, near-duplicates grouped, no-shows as null players), the same code
//! `fairshare demo` values its rounds with.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use fairshare_protocol::report::{self, UtilityTable};
use fairshare_protocol::round_manager::{self as rm, Report};
use fairshare_shapley::groups::{self, Groups};
use fairshare_trainer::bundle::{read_bundle, Bundle};
use fairshare_trainer::lora::LoraAdapter;
use fairshare_trainer::model::LlamaModel;

use super::Valuer;
use crate::bundle::VerifiedBundle;
use crate::store::{fetch_bundle, BundleStore, StoreError, Wanted};
use crate::valuation::{self, Job, Valuation, ValuationError};

/// Why a [`ModelValuer`] could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ValuerError {
    #[error("loading the base model {path}: {reason}")]
    Model { path: PathBuf, reason: String },
    #[error("reading the validation text {path}: {reason}")]
    Validation { path: PathBuf, reason: String },
}

/// What a [`ModelValuer`] measures with.
pub struct ValuerSettings {
    /// Shown on the progress bar.
    pub name: String,
    pub seq_len: usize,
    pub batch_windows: usize,
    /// ΔW cosine at or above which updates are near-duplicates (valued as one player).
    pub duplicate_threshold: f64,
    /// Where the round's global adapter is fetched to and tables are written.
    pub work_dir: PathBuf,
    /// Progress bars while valuing.
    pub progress: bool,
}

/// One round as a [`ModelValuer`] valued it (for publication and for the demo's record).
#[derive(Debug, Clone)]
pub struct ValuedRound {
    pub round_id: u64,
    /// The players in table order (the round's committed participants, by address).
    pub participants: Vec<String>,
    /// Which of them brought a usable update (the others are null players).
    pub present: Vec<bool>,
    pub groups: Groups,
    /// ΔW cosine of every pair of the present players' updates (in table order).
    pub similarity: Vec<Vec<f64>>,
    pub valuation: Valuation,
    pub table: UtilityTable,
    /// Where the table was written for challengers.
    pub table_file: PathBuf,
}

/// Values rounds with the base model on a held-out text.
pub struct ModelValuer {
    base: LlamaModel,
    base_model_hash: String,
    /// The held-out texts it holds: each one's sha256 and tokens. A round is measured on the
    /// one whose hash the round names.
    texts: Vec<([u8; 32], Vec<u32>)>,
    round_manager: String,
    /// Where the round's global adapter is fetched from.
    store: Option<Box<dyn BundleStore>>,
    settings: ValuerSettings,
    /// The last round valued.
    pub last: Option<ValuedRound>,
}

impl ModelValuer {
    /// Loads `model` (a Hugging Face directory or .gguf) and tokenizes the held-out text at
    /// `validation`: one file, or a directory whose every file is a candidate (a round is
    /// measured on the one whose sha256 it names, so a directory can hold a text per round).
    pub fn load(
        model: &Path,
        validation: &Path,
        round_manager: &str,
        store: Option<Box<dyn BundleStore>>,
        settings: ValuerSettings,
    ) -> Result<Self, ValuerError> {
        let loaded = fairshare_trainer::model::load_model(model, DType::F32, &Device::Cpu)
            .map_err(|e| ValuerError::Model {
                path: model.to_path_buf(),
                reason: e.to_string(),
            })?;
        let bad = |path: &Path, reason: String| ValuerError::Validation {
            path: path.to_path_buf(),
            reason,
        };
        let files = if validation.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(validation)
                .map_err(|e| bad(validation, e.to_string()))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(bad(validation, "the directory holds no text file".into()));
            }
            files
        } else {
            vec![validation.to_path_buf()]
        };
        let mut texts = Vec::with_capacity(files.len());
        for f in &files {
            let text = std::fs::read_to_string(f).map_err(|e| bad(f, e.to_string()))?;
            let tokens = loaded
                .tokenizer
                .encode(&text)
                .map_err(|e| bad(f, e.to_string()))?;
            texts.push((
                fairshare_protocol::commitment::update_hash(text.as_bytes()),
                tokens,
            ));
        }
        let mut me = Self::new(
            loaded.model,
            loaded.base_model_hash,
            vec![],
            [0; 32],
            round_manager,
            store,
            settings,
        );
        me.texts = texts;
        Ok(me)
    }

    /// From a model already loaded (`base_model_hash` its weights' hash) and validation
    /// tokens of the text whose sha256 is `validation_hash`.
    pub fn new(
        base: LlamaModel,
        base_model_hash: String,
        tokens: Vec<u32>,
        validation_hash: [u8; 32],
        round_manager: &str,
        store: Option<Box<dyn BundleStore>>,
        settings: ValuerSettings,
    ) -> Self {
        Self {
            base,
            base_model_hash,
            texts: vec![(validation_hash, tokens)],
            round_manager: round_manager.to_string(),
            store,
            settings,
            last: None,
        }
    }

    /// Measures on this held-out text from now on (instead of those it held): its tokens and
    /// the sha256 of the text.
    pub fn set_validation(&mut self, tokens: Vec<u32>, text_hash: [u8; 32]) {
        self.texts = vec![(text_hash, tokens)];
    }

    /// The tokens of the held-out text whose sha256 is `hash`, if it holds it.
    pub fn validation_tokens(&self, hash: &[u8]) -> Option<&[u32]> {
        self.texts
            .iter()
            .find(|(h, _)| h.as_slice() == hash)
            .map(|(_, t)| t.as_slice())
    }

    /// The base model with the round's global adapter merged (none while its hash is zero).
    pub fn round_model(&self, r: &rm::RoundResponse) -> Result<LlamaModel, String> {
        let mut model = self.base.clone();
        let want = r.spec.global_adapter_hash.to_hex();
        if r.spec.global_adapter_hash.iter().all(|&b| b == 0) {
            return Ok(model);
        }
        let store = self.store.as_ref().ok_or_else(|| {
            format!(
                "round {} builds on global adapter {want}, and no store is set",
                r.id
            )
        })?;
        let dest = self
            .settings
            .work_dir
            .join(format!("round-{}", r.id))
            .join("global");
        fetch_bundle(
            store.as_ref(),
            &Wanted {
                update_hash: &want,
                cid: None,
            },
            &dest,
        )
        .map_err(|e| match e {
            StoreError::NotFound { .. } => format!(
                "the round's global adapter {want} is not in {} yet",
                store.describe()
            ),
            e => e.to_string(),
        })?;
        let g = read_bundle(&dest, model.config(), DType::F32, &Device::Cpu)
            .map_err(|e| format!("the global adapter {want}: {e}"))?;
        model
            .merge_adapter(&g.adapter)
            .map_err(|e| format!("merging the global adapter {want}: {e}"))?;
        Ok(model)
    }

    /// Measures a round: every committed participant (the bundles' and the no-shows', in
    /// address order) is a player, no-shows null players; near-duplicate updates are grouped
    /// unless `grouped` is false. Checks the round's base model and validation set first.
    pub fn measure(
        &self,
        r: &rm::RoundResponse,
        bundles: &[VerifiedBundle],
        no_shows: &[String],
        grouped: bool,
    ) -> Result<ValuedRound, String> {
        if r.spec.base_model_hash.to_hex() != self.base_model_hash {
            return Err(format!(
                "round {} is for base model {}, but this evaluator's model has hash {} ([valuation] model)",
                r.id,
                r.spec.base_model_hash.to_hex(),
                self.base_model_hash
            ));
        }
        let want = r.spec.validation_set_hash.as_slice();
        let tokens = self.validation_tokens(want).ok_or_else(|| {
            format!(
                "round {} is measured on validation set {}, but none of this evaluator's texts has that sha256 (it holds {}; [valuation] validation)",
                r.id,
                r.spec.validation_set_hash.to_hex(),
                self.texts
                    .iter()
                    .map(|(h, _)| hex::encode(h))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        let mut validation_hash = [0u8; 32];
        validation_hash.copy_from_slice(want);
        let model = self.round_model(r)?;
        let mut participants: Vec<String> = bundles
            .iter()
            .map(|b| b.manifest.participant.clone())
            .chain(no_shows.iter().cloned())
            .collect();
        participants.sort();
        participants.dedup();
        let mut updates = Vec::with_capacity(bundles.len());
        let mut present = Vec::with_capacity(participants.len());
        for p in &participants {
            match bundles.iter().find(|b| &b.manifest.participant == p) {
                Some(b) => {
                    updates.push(
                        read_bundle(&b.dir, model.config(), DType::F32, &Device::Cpu)
                            .map_err(|e| format!("{p}'s bundle {}: {e}", b.dir.display()))?,
                    );
                    present.push(true);
                }
                None => present.push(false),
            }
        }
        let err = |e: ValuationError| e.to_string();
        let similarity = similarity(&updates).map_err(err)?;
        let groups = if grouped {
            groups::near_duplicates(&similarity, self.settings.duplicate_threshold)
                .map_err(|e| e.to_string())?
        } else {
            Groups::singletons(updates.len())
        };
        let job = Job {
            name: &self.settings.name,
            model: &model,
            validation: tokens,
            seq_len: self.settings.seq_len,
            batch_windows: self.settings.batch_windows,
            seed: report::round_seed(&self.round_manager, r.id, &validation_hash),
            progress: self.settings.progress,
        };
        let v = valuation::value_round(&job, updates, &present, &groups).map_err(err)?;
        let table = valuation::to_table(&v, &participants, validation_hash).map_err(err)?;
        Ok(ValuedRound {
            round_id: r.id,
            participants,
            present,
            groups,
            similarity,
            valuation: v,
            table,
            table_file: self
                .settings
                .work_dir
                .join("tables")
                .join(format!("round-{}.json", r.id)),
        })
    }
}

/// ΔW cosine of every pair of `updates` (empty for none).
fn similarity(updates: &[Bundle]) -> Result<Vec<Vec<f64>>, ValuationError> {
    if updates.is_empty() {
        return Ok(vec![]);
    }
    let adapters: Vec<&LoraAdapter> = updates.iter().map(|b| &b.adapter).collect();
    Ok(fairshare_trainer::aggregate::similarity_matrix(&adapters)?)
}

impl Valuer for ModelValuer {
    fn value(
        &mut self,
        r: &rm::RoundResponse,
        bundles: &[VerifiedBundle],
        no_shows: &[String],
    ) -> Result<Report, String> {
        let valued = self.measure(r, bundles, no_shows, true)?;
        let report =
            valuation::to_report(&valued.valuation, &valued.table).map_err(|e| e.to_string())?;
        // The table is published for challengers: a dispute needs it.
        write_json(&valued.table_file, &valued.table)?;
        let v = &valued.valuation;
        tracing::info!(
            round = r.id,
            method = %v.method,
            evaluations = v.evaluations,
            delta_u = v.delta_u,
            null_players = valued.present.iter().filter(|p| !**p).count(),
            table = %valued.table_file.display(),
            "valued"
        );
        self.last = Some(valued);
        Ok(report)
    }

    fn table(&self, round_id: u64) -> Result<Option<UtilityTable>, String> {
        // From disk, not memory: a restarted evaluator still publishes the table it wrote.
        let path = self
            .settings
            .work_dir
            .join("tables")
            .join(format!("round-{round_id}.json"));
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("creating {}: {e}", parent.display()))?;
    }
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| e.to_string())?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, bytes).map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("writing {}: {e}", path.display()))
}
