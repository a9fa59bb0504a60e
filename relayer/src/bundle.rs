//! Update bundles as the relayer sees them (DESIGN §3): a PEFT adapter, its config and a
//! manifest. Nothing is posted for a bundle that fails a check, and the error names the check.
//!
//! ```text
//! <bundle>/adapter_model.safetensors   lora_A / lora_B tensors in PEFT naming
//! <bundle>/adapter_config.json         PEFT LoraConfig (r, lora_alpha, target_modules)
//! <bundle>/manifest.json               round, base-model hash, training tokens, participant, update hash
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fairshare_protocol::commitment::{binding, update_hash, CommitmentContext};
use fairshare_protocol::round_manager::SignedCommitment;
use k256::ecdsa::signature::hazmat::PrehashVerifier;
use k256::ecdsa::{Signature, VerifyingKey};
use safetensors::{Dtype, SafeTensors};
use serde::Deserialize;

/// File name of the adapter tensors inside a bundle.
pub const ADAPTER_FILE: &str = "adapter_model.safetensors";
/// File name of the PEFT adapter configuration.
pub const ADAPTER_CONFIG_FILE: &str = "adapter_config.json";
/// File name of the manifest.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Why a bundle is refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BundleError {
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{file} is malformed: {reason}")]
    Malformed { file: &'static str, reason: String },
    #[error(
        "update hash mismatch: the manifest says {claimed}, the adapter file hashes to {actual}"
    )]
    HashMismatch { claimed: String, actual: String },
    #[error("the bundle is for round {got}, not round {expected}")]
    WrongRound { expected: u64, got: u64 },
    #[error("the bundle was trained on base model {got}, the round uses {expected}")]
    WrongBaseModel { expected: String, got: String },
    #[error("the bundle names participant {got}, the commitment is for {expected}")]
    WrongParticipant { expected: String, got: String },
    #[error(
        "tensor {0:?} is not a PEFT LoRA weight (…<target module>.lora_A.weight / .lora_B.weight)"
    )]
    BadTensorName(String),
    #[error(
        "tensor {name:?} targets a module outside adapter_config.json's target_modules {targets:?}"
    )]
    UntargetedModule { name: String, targets: Vec<String> },
    #[error("tensor {name:?} has dtype {dtype}; only F32, F16 and BF16 adapters are accepted")]
    BadDtype { name: String, dtype: String },
    #[error("tensor {name:?} has shape {shape:?}; expected {expected}")]
    BadShape {
        name: String,
        shape: Vec<usize>,
        expected: String,
    },
    #[error("module {0:?} has lora_{1} but no lora_{2}")]
    Unpaired(String, char, char),
    #[error("tensor {name:?} holds a non-finite value ({value}) at index {index}")]
    NonFinite {
        name: String,
        index: usize,
        value: f64,
    },
    #[error("the update's norm ‖ΔW‖_F = {norm:.4} exceeds the round's bound {bound}")]
    NormTooLarge { norm: f64, bound: f64 },
    #[error("the adapter holds no LoRA tensors")]
    Empty,
    #[error("the commitment is for update {committed}, the bundle is {actual}")]
    CommitmentHashMismatch { committed: String, actual: String },
    #[error("the signature does not verify for {participant} with its registered key")]
    BadSignature { participant: String },
    #[error(
        "tensor {name:?} is not the round's shared LoRA A: {problem}. Every participant of \
         round {round} must keep A frozen at the round's public initialisation (drawn from \
         round_init_seed of the round id, base-model hash and global-adapter hash) and train \
         only B"
    )]
    ForeignLoraA {
        name: String,
        round: u64,
        problem: String,
    },
}

/// The manifest fields the relayer checks.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Manifest {
    pub round: u64,
    pub base_model_hash: String,
    pub num_training_tokens: u64,
    pub participant: String,
    pub update_hash: String,
}

#[derive(Debug, Clone, Deserialize)]
struct PeftConfig {
    r: usize,
    lora_alpha: f64,
    target_modules: Vec<String>,
}

/// What the round expects of every bundle.
#[derive(Debug, Clone)]
pub struct Expectation {
    pub round_id: u64,
    /// Hex sha256 of the base model.
    pub base_model_hash: String,
    /// Bound on the Frobenius norm of the whole update ΔW.
    pub max_update_norm: f64,
    /// Shapes every bundle of the round must have, when known (e.g. from the first bundle).
    pub shapes: Option<BTreeMap<String, Vec<usize>>>,
    /// The round's public LoRA initialisation seed ([`round_lora_seed`]): every `lora_A` must be
    /// the shared `A` drawn from it, bit for bit (DESIGN §4b, §5).
    pub lora_a_seed: u64,
}

/// The seed of round `r`'s shared LoRA `A`, from its on-chain spec: the round id, the base-model
/// hash and the global adapter's hash (none while it is all zeros), as the trainer computes it
/// from a bundle's manifest.
pub fn round_lora_seed(round_id: u64, spec: &fairshare_protocol::round_manager::RoundSpec) -> u64 {
    let global = spec.global_adapter_hash.to_hex();
    let global = (!spec.global_adapter_hash.iter().all(|&b| b == 0)).then_some(global);
    fairshare_trainer::lora::round_init_seed(
        round_id,
        &spec.base_model_hash.to_hex(),
        global.as_deref(),
    )
}

impl Expectation {
    /// What round `r` expects, read from its on-chain spec and parameters; an unparsable norm
    /// bound means no bound.
    pub fn for_round(
        r: &fairshare_protocol::round_manager::RoundResponse,
        shapes: Option<BTreeMap<String, Vec<usize>>>,
    ) -> Self {
        Self {
            round_id: r.id,
            base_model_hash: r.spec.base_model_hash.to_hex(),
            max_update_norm: r
                .params
                .max_update_norm
                .to_string()
                .parse()
                .unwrap_or(f64::INFINITY),
            shapes,
            lora_a_seed: round_lora_seed(r.id, &r.spec),
        }
    }
}

/// A bundle that passed every check.
#[derive(Debug, Clone)]
pub struct VerifiedBundle {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub update_hash: [u8; 32],
    /// ‖ΔW‖_F over every module.
    pub norm: f64,
    pub shapes: BTreeMap<String, Vec<usize>>,
}

fn read(path: &Path) -> Result<Vec<u8>, BundleError> {
    std::fs::read(path).map_err(|e| BundleError::Read {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Checks a bundle directory against the round: hash, round, base model, tensor names,
/// shapes, dtypes, finiteness, the round's shared `A` and norm.
pub fn verify(dir: &Path, expect: &Expectation) -> Result<VerifiedBundle, BundleError> {
    let manifest: Manifest =
        serde_json::from_slice(&read(&dir.join(MANIFEST_FILE))?).map_err(|e| {
            BundleError::Malformed {
                file: MANIFEST_FILE,
                reason: e.to_string(),
            }
        })?;
    let config: PeftConfig = serde_json::from_slice(&read(&dir.join(ADAPTER_CONFIG_FILE))?)
        .map_err(|e| BundleError::Malformed {
            file: ADAPTER_CONFIG_FILE,
            reason: e.to_string(),
        })?;
    let bytes = read(&dir.join(ADAPTER_FILE))?;
    let hash = update_hash(&bytes);
    let actual = hex::encode(hash);
    if manifest.update_hash.to_lowercase() != actual {
        return Err(BundleError::HashMismatch {
            claimed: manifest.update_hash.clone(),
            actual,
        });
    }
    if manifest.round != expect.round_id {
        return Err(BundleError::WrongRound {
            expected: expect.round_id,
            got: manifest.round,
        });
    }
    if manifest.base_model_hash.to_lowercase() != expect.base_model_hash.to_lowercase() {
        return Err(BundleError::WrongBaseModel {
            expected: expect.base_model_hash.clone(),
            got: manifest.base_model_hash.clone(),
        });
    }
    let tensors = SafeTensors::deserialize(&bytes).map_err(|e| BundleError::Malformed {
        file: ADAPTER_FILE,
        reason: e.to_string(),
    })?;
    let mut modules: BTreeMap<String, (Option<Matrix>, Option<Matrix>)> = BTreeMap::new();
    let mut shapes = BTreeMap::new();
    let mut names: Vec<String> = tensors.names().into_iter().map(str::to_string).collect();
    names.sort();
    for name in names {
        let view = tensors.tensor(&name).map_err(|e| BundleError::Malformed {
            file: ADAPTER_FILE,
            reason: e.to_string(),
        })?;
        let (module, which) = split_name(&name)?;
        if !config
            .target_modules
            .iter()
            .any(|t| module.ends_with(&format!(".{t}")))
        {
            return Err(BundleError::UntargetedModule {
                name,
                targets: config.target_modules.clone(),
            });
        }
        let shape = view.shape().to_vec();
        if shape.len() != 2 || shape.contains(&0) {
            return Err(BundleError::BadShape {
                name,
                shape,
                expected: "a non-empty matrix".into(),
            });
        }
        let rank_dim = if which == 'A' { shape[0] } else { shape[1] };
        if rank_dim != config.r {
            return Err(BundleError::BadShape {
                name,
                shape,
                expected: format!(
                    "rank {} on the {} axis",
                    config.r,
                    if which == 'A' { "first" } else { "second" }
                ),
            });
        }
        if let Some(expected) = expect.shapes.as_ref().and_then(|s| s.get(&name)) {
            if *expected != shape {
                return Err(BundleError::BadShape {
                    name,
                    shape,
                    expected: format!("{expected:?} like the round's other updates"),
                });
            }
        }
        let values = to_f64(&name, view.dtype(), view.data())?;
        if let Some((index, value)) = values
            .iter()
            .copied()
            .enumerate()
            .find(|(_, v)| !v.is_finite())
        {
            return Err(BundleError::NonFinite { name, index, value });
        }
        if which == 'A' {
            check_shared_a(&name, &module, view.dtype(), &shape, &values, expect)?;
        }
        shapes.insert(name.clone(), shape.clone());
        let m = Matrix {
            rows: shape[0],
            cols: shape[1],
            data: values,
        };
        let slot = modules.entry(module).or_default();
        if which == 'A' {
            slot.0 = Some(m);
        } else {
            slot.1 = Some(m);
        }
    }
    if modules.is_empty() {
        return Err(BundleError::Empty);
    }
    let scale = config.lora_alpha / config.r as f64;
    let mut total = 0.0;
    for (module, pair) in modules {
        let (a, b) = match pair {
            (Some(a), Some(b)) => (a, b),
            (Some(_), None) => return Err(BundleError::Unpaired(module, 'A', 'B')),
            (None, _) => return Err(BundleError::Unpaired(module, 'B', 'A')),
        };
        total += scale * scale * frobenius_sq_of_product(&b, &a);
    }
    let norm = total.sqrt();
    if norm.is_nan() || norm > expect.max_update_norm {
        return Err(BundleError::NormTooLarge {
            norm,
            bound: expect.max_update_norm,
        });
    }
    Ok(VerifiedBundle {
        dir: dir.to_path_buf(),
        manifest,
        update_hash: hash,
        norm,
        shapes,
    })
}

/// Fails unless `values` (a `lora_A` of `shape` = (r, in), read as `dtype`) are exactly the
/// round's shared `A` of `module`, rounded to `dtype`.
fn check_shared_a(
    name: &str,
    module: &str,
    dtype: Dtype,
    shape: &[usize],
    values: &[f64],
    expect: &Expectation,
) -> Result<(), BundleError> {
    let want =
        fairshare_trainer::lora::round_lora_a(expect.lora_a_seed, module, shape[0], shape[1]);
    let round_to = |x: f32| -> f64 {
        match dtype {
            Dtype::F16 => half::f16::from_f32(x).to_f64(),
            Dtype::BF16 => half::bf16::from_f32(x).to_f64(),
            _ => f64::from(x),
        }
    };
    let mut differ = 0usize;
    let mut first = None;
    let mut worst = 0.0f64;
    for (i, (&got, &w)) in values.iter().zip(&want).enumerate() {
        let w = round_to(w);
        if got != w {
            differ += 1;
            first.get_or_insert((i, got, w));
            worst = worst.max((got - w).abs());
        }
    }
    match first {
        None => Ok(()),
        Some((index, got, w)) => Err(BundleError::ForeignLoraA {
            name: name.to_string(),
            round: expect.round_id,
            problem: format!(
                "{differ} of its {} values differ (the first at index {index}: {got:e} where \
                 the round's A has {w:e}; largest difference {worst:.3e})",
                values.len()
            ),
        }),
    }
}

/// Checks a signed commitment against a verified bundle and the participant's registered key.
pub fn verify_commitment(
    bundle: &VerifiedBundle,
    commitment: &SignedCommitment,
    pubkey: &[u8],
    chain_id: &str,
    contract: &str,
) -> Result<(), BundleError> {
    if commitment.participant != bundle.manifest.participant {
        return Err(BundleError::WrongParticipant {
            expected: commitment.participant.clone(),
            got: bundle.manifest.participant.clone(),
        });
    }
    let expected = binding(&commitment.participant, &bundle.update_hash);
    if commitment.commitment.as_slice() != expected {
        return Err(BundleError::CommitmentHashMismatch {
            committed: commitment.commitment.to_hex(),
            actual: hex::encode(expected),
        });
    }
    let bad = || BundleError::BadSignature {
        participant: commitment.participant.clone(),
    };
    let digest = CommitmentContext {
        chain_id,
        contract,
        round_id: bundle.manifest.round,
        participant: &commitment.participant,
    }
    .digest(&expected);
    let key = VerifyingKey::from_sec1_bytes(pubkey).map_err(|_| bad())?;
    let sig = Signature::from_slice(commitment.signature.as_slice()).map_err(|_| bad())?;
    key.verify_prehash(&digest, &sig).map_err(|_| bad())
}

/// `(module path, 'A' | 'B')` of a PEFT LoRA tensor name.
fn split_name(name: &str) -> Result<(String, char), BundleError> {
    let bad = || BundleError::BadTensorName(name.to_string());
    if !name.starts_with("base_model.model.") {
        return Err(bad());
    }
    for (suffix, which) in [(".lora_A.weight", 'A'), (".lora_B.weight", 'B')] {
        if let Some(module) = name.strip_suffix(suffix) {
            if module.len() > "base_model.model.".len() {
                return Ok((module.to_string(), which));
            }
        }
    }
    Err(bad())
}

fn to_f64(name: &str, dtype: Dtype, data: &[u8]) -> Result<Vec<f64>, BundleError> {
    Ok(match dtype {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f64())
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f64())
            .collect(),
        other => {
            return Err(BundleError::BadDtype {
                name: name.to_string(),
                dtype: format!("{other:?}"),
            })
        }
    })
}

/// A dense row-major matrix.
struct Matrix {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

impl Matrix {
    fn at(&self, r: usize, c: usize) -> f64 {
        self.data[r * self.cols + c]
    }
}

/// ‖B·A‖_F² = tr((BᵀB)(AAᵀ)), computed on r×r Gram matrices without forming B·A.
fn frobenius_sq_of_product(b: &Matrix, a: &Matrix) -> f64 {
    let r = a.rows;
    let gram_a = |i: usize, j: usize| (0..a.cols).map(|k| a.at(i, k) * a.at(j, k)).sum::<f64>();
    let gram_b = |i: usize, j: usize| (0..b.rows).map(|k| b.at(k, i) * b.at(k, j)).sum::<f64>();
    let ga: Vec<f64> = (0..r * r).map(|x| gram_a(x / r, x % r)).collect();
    let gb: Vec<f64> = (0..r * r).map(|x| gram_b(x / r, x % r)).collect();
    (0..r)
        .flat_map(|i| (0..r).map(move |j| (i, j)))
        .map(|(i, j)| gb[i * r + j] * ga[j * r + i])
        .sum()
}

/// Writes a bundle (used by tests and by demos that have no trainer at hand).
pub mod write {
    use super::*;
    use safetensors::tensor::TensorView;

    /// One LoRA module: its PEFT path and its A (r×in) and B (out×r) matrices, row-major.
    pub struct Module {
        pub path: String,
        pub a: (usize, usize, Vec<f32>),
        pub b: (usize, usize, Vec<f32>),
    }

    impl Module {
        /// A module at `path` whose A (r × `fan_in`) is the round's shared A of `seed` (see
        /// [`round_lora_seed`]; `fairshare_trainer::lora::round_init_seed` from a round id and
        /// base-model hash) and whose B is `b` (out × r, `b.len() / r` rows): what an honest
        /// participant submits.
        pub fn with_round_a(path: &str, seed: u64, r: usize, fan_in: usize, b: Vec<f32>) -> Self {
            let a = fairshare_trainer::lora::round_lora_a(seed, path, r, fan_in);
            Self {
                path: path.to_string(),
                a: (r, fan_in, a),
                b: (b.len() / r.max(1), r, b),
            }
        }
    }

    /// Writes `adapter_model.safetensors`, `adapter_config.json` and `manifest.json`; returns
    /// the update hash.
    #[allow(clippy::too_many_arguments)]
    pub fn bundle(
        dir: &Path,
        modules: &[Module],
        r: usize,
        alpha: f64,
        targets: &[&str],
        round: u64,
        base_model_hash: &str,
        participant: &str,
        tokens: u64,
    ) -> std::io::Result<[u8; 32]> {
        std::fs::create_dir_all(dir)?;
        let bytes_of = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let owned: Vec<(String, Vec<usize>, Vec<u8>)> = modules
            .iter()
            .flat_map(|m| {
                [
                    (
                        format!("{}.lora_A.weight", m.path),
                        vec![m.a.0, m.a.1],
                        bytes_of(&m.a.2),
                    ),
                    (
                        format!("{}.lora_B.weight", m.path),
                        vec![m.b.0, m.b.1],
                        bytes_of(&m.b.2),
                    ),
                ]
            })
            .collect();
        let views: Vec<(String, TensorView<'_>)> = owned
            .iter()
            .map(|(n, s, d)| {
                TensorView::new(Dtype::F32, s.clone(), d)
                    .map(|v| (n.clone(), v))
                    .map_err(|e| std::io::Error::other(e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        let meta = Some(
            [("format".to_string(), "pt".to_string())]
                .into_iter()
                .collect(),
        );
        let bytes = safetensors::serialize(views, meta)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        std::fs::write(dir.join(ADAPTER_FILE), &bytes)?;
        let hash = update_hash(&bytes);
        let config = serde_json::json!({
            "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": r, "lora_alpha": alpha,
            "lora_dropout": 0.0, "target_modules": targets, "bias": "none",
            "fan_in_fan_out": false, "inference_mode": true,
        });
        std::fs::write(
            dir.join(ADAPTER_CONFIG_FILE),
            serde_json::to_vec_pretty(&config)?,
        )?;
        let manifest = serde_json::json!({
            "format": "fairshare-update/1", "round": round, "base_model_hash": base_model_hash,
            "num_training_tokens": tokens, "participant": participant, "update_hash": hex::encode(hash),
        });
        std::fs::write(
            dir.join(MANIFEST_FILE),
            serde_json::to_vec_pretty(&manifest)?,
        )?;
        Ok(hash)
    }
}

#[cfg(test)]
mod tests {
    use super::write::{bundle, Module};
    use super::*;
    use crate::keys::ParticipantKey;

    const BASE: &str = "ab12";

    fn tmp(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("fairshare-bundle-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn seed() -> u64 {
        fairshare_trainer::lora::round_init_seed(3, BASE, None)
    }

    /// A module of round 3 with the round's A (2 × 4) and a B (3 × 2) scaled by `fill`.
    fn module(layer: usize, proj: &str, fill: f32) -> Module {
        Module::with_round_a(
            &format!("base_model.model.model.layers.{layer}.self_attn.{proj}"),
            seed(),
            2,
            4,
            (0..6).map(|i| fill * (i as f32 - 2.0) / 6.0).collect(),
        )
    }

    fn expect() -> Expectation {
        Expectation {
            round_id: 3,
            base_model_hash: BASE.into(),
            max_update_norm: 100.0,
            shapes: None,
            lora_a_seed: seed(),
        }
    }

    fn good(name: &str) -> PathBuf {
        let d = tmp(name);
        bundle(
            &d,
            &[module(0, "q_proj", 1.0), module(0, "v_proj", 0.5)],
            2,
            4.0,
            &["q_proj", "v_proj"],
            3,
            BASE,
            "wasm1alice",
            100,
        )
        .expect("writes");
        d
    }

    #[test]
    fn a_good_bundle_passes_and_its_norm_matches_the_dense_product() {
        let d = good("ok");
        let v = verify(&d, &expect()).expect("valid");
        // Dense check: ΔW = (α/r)·B·A for each module.
        let dense = |m: &Module| {
            let (ar, ac, a) = &m.a;
            let (br, _, b) = &m.b;
            let mut s = 0.0f64;
            for i in 0..*br {
                for j in 0..*ac {
                    let x: f64 = (0..*ar)
                        .map(|k| b[i * ar + k] as f64 * a[k * ac + j] as f64)
                        .sum();
                    s += (2.0 * x).powi(2);
                }
            }
            s
        };
        let want = (dense(&module(0, "q_proj", 1.0)) + dense(&module(0, "v_proj", 0.5))).sqrt();
        assert!((v.norm - want).abs() < 1e-9, "{} vs {want}", v.norm);
        assert_eq!(v.shapes.len(), 4);
        assert_eq!(v.manifest.num_training_tokens, 100);
    }

    #[test]
    fn each_failed_check_is_named() {
        let d = good("tamper");
        std::fs::write(d.join(ADAPTER_FILE), b"not the signed bytes").expect("writes");
        assert!(matches!(
            verify(&d, &expect()),
            Err(BundleError::HashMismatch { .. })
        ));

        let d = good("round");
        assert_eq!(
            verify(
                &d,
                &Expectation {
                    round_id: 4,
                    ..expect()
                }
            )
            .err(),
            Some(BundleError::WrongRound {
                expected: 4,
                got: 3
            })
        );
        assert!(matches!(
            verify(
                &d,
                &Expectation {
                    base_model_hash: "ff".into(),
                    ..expect()
                }
            ),
            Err(BundleError::WrongBaseModel { .. })
        ));
        assert!(matches!(
            verify(
                &d,
                &Expectation {
                    max_update_norm: 0.01,
                    ..expect()
                }
            ),
            Err(BundleError::NormTooLarge { .. })
        ));
        let mut shapes = verify(&d, &expect()).expect("valid").shapes;
        shapes.insert(
            "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight".into(),
            vec![2, 5],
        );
        assert!(matches!(
            verify(
                &d,
                &Expectation {
                    shapes: Some(shapes),
                    ..expect()
                }
            ),
            Err(BundleError::BadShape { .. })
        ));
    }

    #[test]
    fn nan_filled_update_is_refused() {
        let d = tmp("nan");
        let mut m = module(1, "q_proj", 1.0);
        m.b.2[4] = f32::NAN;
        bundle(&d, &[m], 2, 4.0, &["q_proj"], 3, BASE, "wasm1alice", 1).expect("writes");
        match verify(&d, &expect()) {
            Err(BundleError::NonFinite { name, index, .. }) => {
                assert_eq!(
                    name,
                    "base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight"
                );
                assert_eq!(index, 4);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn names_ranks_and_pairs_are_checked() {
        let d = tmp("untargeted");
        bundle(
            &d,
            &[module(0, "k_proj", 1.0)],
            2,
            4.0,
            &["q_proj"],
            3,
            BASE,
            "p",
            1,
        )
        .expect("writes");
        assert!(matches!(
            verify(&d, &expect()),
            Err(BundleError::UntargetedModule { .. })
        ));

        let d = tmp("rank");
        bundle(
            &d,
            &[module(0, "q_proj", 1.0)],
            4,
            4.0,
            &["q_proj"],
            3,
            BASE,
            "p",
            1,
        )
        .expect("writes");
        assert!(matches!(
            verify(&d, &expect()),
            Err(BundleError::BadShape { .. })
        ));

        let d = tmp("badname");
        let mut m = module(0, "q_proj", 1.0);
        m.path = "model.layers.0.q_proj".into();
        bundle(&d, &[m], 2, 4.0, &["q_proj"], 3, BASE, "p", 1).expect("writes");
        assert!(matches!(
            verify(&d, &expect()),
            Err(BundleError::BadTensorName(_))
        ));
    }

    #[test]
    fn a_bundle_with_a_foreign_lora_a_is_refused_naming_the_tensor() {
        // The adversary's second identity: its own A (another seed), a trained-looking B.
        let d = tmp("foreign-a");
        let path = "base_model.model.model.layers.0.self_attn.q_proj";
        let own = Module::with_round_a(path, seed() ^ 0x5eed, 2, 4, vec![0.1; 6]);
        bundle(&d, &[own], 2, 4.0, &["q_proj"], 3, BASE, "wasm1sybil", 1).expect("writes");
        let err = verify(&d, &expect()).expect_err("a foreign A is refused");
        match &err {
            BundleError::ForeignLoraA { name, round, .. } => {
                assert_eq!(name, &format!("{path}.lora_A.weight"));
                assert_eq!(*round, 3);
            }
            other => panic!("{other:?}"),
        }
        let text = err.to_string();
        assert!(text.contains("8 of its 8 values differ"), "{text}");
        assert!(text.contains("shared LoRA A"), "{text}");

        // One value nudged by one ulp is enough.
        let d = tmp("nudged-a");
        let mut m = module(0, "q_proj", 1.0);
        m.a.2[5] = f32::from_bits(m.a.2[5].to_bits() + 1);
        bundle(&d, &[m], 2, 4.0, &["q_proj"], 3, BASE, "p", 1).expect("writes");
        match verify(&d, &expect()) {
            Err(BundleError::ForeignLoraA { problem, .. }) => {
                assert!(problem.starts_with("1 of its 8 values differ (the first at index 5"))
            }
            other => panic!("{other:?}"),
        }

        // The honest bundle of the same round passes, and is foreign to the next round (its
        // seed differs), so a round's A cannot be reused.
        let d = good("round-a");
        verify(&d, &expect()).expect("the round's A passes");
        let next = Expectation {
            lora_a_seed: fairshare_trainer::lora::round_init_seed(4, BASE, None),
            ..expect()
        };
        assert!(matches!(
            verify(&d, &next),
            Err(BundleError::ForeignLoraA { .. })
        ));
    }

    #[test]
    fn the_shared_a_check_uses_the_round_spec_and_keeps_the_nan_check_first() {
        // The seed a relayer derives from the chain's spec is the trainer's, from a manifest.
        let mut spec = crate::ops::spec_for("shared-a");
        assert_eq!(
            round_lora_seed(9, &spec),
            fairshare_trainer::lora::round_init_seed(9, &spec.base_model_hash.to_hex(), None)
        );
        spec.global_adapter_hash = cosmwasm_std::HexBinary::from(vec![0xcd; 32]);
        assert_eq!(
            round_lora_seed(9, &spec),
            fairshare_trainer::lora::round_init_seed(
                9,
                &spec.base_model_hash.to_hex(),
                Some(&"cd".repeat(32))
            )
        );
        // NaN in A is reported as NaN, not as a foreign A.
        let d = tmp("nan-a");
        let mut m = module(0, "q_proj", 1.0);
        m.a.2[1] = f32::NAN;
        bundle(&d, &[m], 2, 4.0, &["q_proj"], 3, BASE, "p", 1).expect("writes");
        assert!(matches!(
            verify(&d, &expect()),
            Err(BundleError::NonFinite { index: 1, .. })
        ));
    }

    #[test]
    fn commitment_must_match_bundle_and_key() {
        let alice = ParticipantKey::from_seed(b"alice", "wasm").expect("key");
        let d = tmp("sig");
        bundle(
            &d,
            &[module(0, "q_proj", 1.0)],
            2,
            4.0,
            &["q_proj"],
            3,
            BASE,
            alice.address(),
            1,
        )
        .expect("writes");
        let v = verify(&d, &expect()).expect("valid");
        let c = alice
            .sign_commitment("chain-1", "wasm1rm", 3, &v.update_hash)
            .expect("signs");
        let pk = alice.pubkey();
        verify_commitment(&v, &c, pk.as_slice(), "chain-1", "wasm1rm").expect("verifies");
        assert!(matches!(
            verify_commitment(&v, &c, pk.as_slice(), "chain-2", "wasm1rm"),
            Err(BundleError::BadSignature { .. })
        ));
        let mallory = ParticipantKey::from_seed(b"mallory", "wasm").expect("key");
        assert!(matches!(
            verify_commitment(&v, &c, mallory.pubkey().as_slice(), "chain-1", "wasm1rm"),
            Err(BundleError::BadSignature { .. })
        ));
        let mut other = c.clone();
        other.commitment = cosmwasm_std::HexBinary::from(vec![0u8; 32]);
        assert!(matches!(
            verify_commitment(&v, &other, pk.as_slice(), "chain-1", "wasm1rm"),
            Err(BundleError::CommitmentHashMismatch { .. })
        ));
        // The same bundle offered under another identity's commitment opens to nothing:
        // the binding names alice.
        let mut squatted = c.clone();
        squatted.participant = mallory.address().to_string();
        assert!(verify_commitment(
            &v,
            &squatted,
            mallory.pubkey().as_slice(),
            "chain-1",
            "wasm1rm"
        )
        .is_err());
    }
}
