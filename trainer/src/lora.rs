//! LoRA adapters on the attention and MLP projections, in PEFT's tensor names and layout.
//!
//! A projection `W` (out × in) carrying an adapter computes `x·Wᵀ + s · dropout(x)·Aᵀ·Bᵀ` with
//! `A` (r × in), `B` (out × r) and `s = alpha / r`. Only `A` and `B` are trainable: the base
//! weights are plain tensors, never `Var`s.

use std::collections::{BTreeMap, HashMap};

use candle_core::{DType, Device, Tensor, Var};
use rand::rngs::StdRng;
use rand::Rng;

use crate::config::{LoraConfig, ModelConfig};
use crate::error::{Result, TrainerError};

/// One adapted projection: decoder layer index and PEFT module name (`q_proj`, ...).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ModuleKey {
    pub layer: usize,
    pub module: String,
}

impl ModuleKey {
    /// A key for `layer` and `module`.
    pub fn new(layer: usize, module: &str) -> Self {
        Self {
            layer,
            module: module.to_string(),
        }
    }

    /// `self_attn` or `mlp`: the submodule holding this projection.
    pub fn group(&self) -> &'static str {
        match self.module.as_str() {
            "gate_proj" | "up_proj" | "down_proj" => "mlp",
            _ => "self_attn",
        }
    }

    /// PEFT's tensor name prefix, e.g. `base_model.model.model.layers.3.self_attn.q_proj`.
    pub fn peft_prefix(&self) -> String {
        format!(
            "base_model.model.model.layers.{}.{}.{}",
            self.layer,
            self.group(),
            self.module
        )
    }

    /// The Hugging Face name of the base weight this adapter modifies.
    pub fn base_weight_name(&self) -> String {
        format!(
            "model.layers.{}.{}.{}.weight",
            self.layer,
            self.group(),
            self.module
        )
    }

    /// Parses a PEFT tensor name into (key, is_a).
    pub fn parse_peft(name: &str) -> Option<(Self, bool)> {
        let rest = name.strip_prefix("base_model.model.model.layers.")?;
        let (layer, rest) = rest.split_once('.')?;
        let layer: usize = layer.parse().ok()?;
        let (_group, rest) = rest.split_once('.')?;
        let (module, rest) = rest.split_once('.')?;
        let is_a = match rest {
            "lora_A.weight" => true,
            "lora_B.weight" => false,
            _ => return None,
        };
        Some((Self::new(layer, module), is_a))
    }
}

/// `(in_features, out_features)` of a projection.
pub fn module_dims(cfg: &ModelConfig, module: &str) -> Result<(usize, usize)> {
    let h = cfg.hidden_size;
    let q = cfg.num_attention_heads * cfg.head_dim();
    let kv = cfg.kv_heads() * cfg.head_dim();
    let i = cfg.intermediate_size;
    Ok(match module {
        "q_proj" => (h, q),
        "k_proj" | "v_proj" => (h, kv),
        "o_proj" => (q, h),
        "gate_proj" | "up_proj" => (h, i),
        "down_proj" => (i, h),
        other => {
            return Err(TrainerError::Config(format!(
                "unknown LoRA module `{other}`"
            )))
        }
    })
}

/// The public seed of a round's adapter initialisation: every participant of the round draws its
/// initial `A` from it (and starts `B` at zero), so all of the round's updates
/// `ΔW = s·B·A` start from one adapter. It is the first 8 bytes (little-endian) of
/// `sha256("fairshare/lora-init/v1" ‖ round ‖ base_model_hash ‖ global_adapter_hash)`, with the
/// round id as 8 big-endian bytes and the hashes as the hex strings a bundle's manifest carries
/// (an empty string when the round has no global adapter yet); anyone holding a manifest can
/// recompute it.
///
/// Why: with a private random `A` per participant, two trainings of the same text have
/// updates in unrelated rank-`r` row spaces and look dissimilar (ΔW cosine ≈ 0.1 on the demo),
/// so a party entering twice with retrained updates escapes near-duplicate grouping; averaging
/// `B`s across different `A`s is also not averaging updates (FFA-LoRA's point).
pub fn round_init_seed(
    round: u64,
    base_model_hash: &str,
    global_adapter_hash: Option<&str>,
) -> u64 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"fairshare/lora-init/v1");
    h.update(round.to_be_bytes());
    // Length-prefixed, so the two strings cannot trade characters; hex is case-insensitive,
    // so the digests are hashed in lower case (the chain prints them so, a manifest may not).
    for part in [base_model_hash, global_adapter_hash.unwrap_or("")] {
        let part = part.to_ascii_lowercase();
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    first_u64(&h.finalize())
}

fn first_u64(digest: &[u8]) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

/// The round's shared `A` (r × `fan_in`, row-major) of the projection whose PEFT prefix is
/// `module` (e.g. `base_model.model.model.layers.3.self_attn.q_proj`), drawn from the round's
/// public `seed` ([`round_init_seed`]): uniform in ±1/√fan_in, PEFT's default bound.
///
/// The protocol freezes `A` here (FFA-LoRA): a participant trains only `B`, and anyone
/// verifying a bundle recomputes this and compares `lora_A` bit for bit, so it must come out
/// the same on every machine. Each projection has its own stream, keyed by
/// `sha256("fairshare/lora-a/v1" ‖ seed ‖ module ‖ r ‖ fan_in)`, so a verifier needs no model
/// config, only the tensor's name and shape. The generator is SplitMix64 written out here
/// (no `rand` algorithm that may change between versions, no device RNG) and the arithmetic is
/// IEEE-exact: the top 24 bits of each draw give `u = k·2⁻²⁴` exactly in f32, `2u − 1` is exact,
/// and the one rounding left is the product with the bound (itself a correctly rounded
/// `1/√fan_in`, computed in f64 and rounded once to f32), so no libm call is involved.
pub fn round_lora_a(seed: u64, module: &str, r: usize, fan_in: usize) -> Vec<f32> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"fairshare/lora-a/v1");
    h.update(seed.to_be_bytes());
    h.update((module.len() as u64).to_be_bytes());
    h.update(module.as_bytes());
    h.update((r as u64).to_be_bytes());
    h.update((fan_in as u64).to_be_bytes());
    let mut state = first_u64(&h.finalize());
    let bound = (1.0 / (fan_in.max(1) as f64).sqrt()) as f32;
    (0..r * fan_in)
        .map(|_| {
            // SplitMix64 (Steele, Lea, Flood 2014).
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            let u = (z >> 40) as f32 * (1.0 / 16_777_216.0);
            (2.0 * u - 1.0) * bound
        })
        .collect()
}

/// The two low-rank factors of one adapted projection.
#[derive(Debug, Clone)]
pub struct LoraPair {
    /// (r, in)
    pub a: Tensor,
    /// (out, r)
    pub b: Tensor,
}

/// A full adapter: its shape and one `(A, B)` pair per adapted projection.
#[derive(Debug, Clone)]
pub struct LoraAdapter {
    pub config: LoraConfig,
    pub modules: BTreeMap<ModuleKey, LoraPair>,
    vars: Vec<Var>,
}

impl LoraAdapter {
    /// A fresh trainable adapter: `A` uniform in ±1/√in (PEFT's default bound), drawn by
    /// [`round_lora_a`] from `seed` (bit-reproducible on every machine), `B` zero, so the model
    /// starts exactly at the base. The protocol's `seed` is [`round_init_seed`].
    pub fn init(
        model: &ModelConfig,
        cfg: &LoraConfig,
        seed: u64,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        cfg.validate()?;
        let mut pairs = BTreeMap::new();
        for layer in 0..model.num_hidden_layers {
            for m in &cfg.target_modules {
                let (fan_in, fan_out) = module_dims(model, m)?;
                let key = ModuleKey::new(layer, m);
                let a = round_lora_a(seed, &key.peft_prefix(), cfg.r, fan_in);
                let a = Var::from_tensor(
                    &Tensor::from_vec(a, (cfg.r, fan_in), device)?.to_dtype(dtype)?,
                )?;
                let b = Var::zeros((fan_out, cfg.r), dtype, device)?;
                pairs.insert(key, (a, b));
            }
        }
        // Variables in module order, the same order `to_trainable` produces, so optimiser
        // state saved from one lines up with the other.
        let mut modules = BTreeMap::new();
        let mut vars = Vec::new();
        for (key, (a, b)) in pairs {
            modules.insert(
                key,
                LoraPair {
                    a: a.as_tensor().clone(),
                    b: b.as_tensor().clone(),
                },
            );
            vars.push(a);
            vars.push(b);
        }
        Ok(Self {
            config: cfg.clone(),
            modules,
            vars,
        })
    }

    /// A frozen adapter from tensors already in memory.
    pub fn from_modules(config: LoraConfig, modules: BTreeMap<ModuleKey, LoraPair>) -> Self {
        Self {
            config,
            modules,
            vars: Vec::new(),
        }
    }

    /// Builds a frozen adapter from PEFT-named tensors, checking names and shapes against the model.
    pub fn from_peft_tensors(
        config: LoraConfig,
        tensors: HashMap<String, Tensor>,
        model: &ModelConfig,
    ) -> Result<Self> {
        let mut a_map = BTreeMap::new();
        let mut b_map = BTreeMap::new();
        for (name, t) in tensors {
            let (key, is_a) = ModuleKey::parse_peft(&name).ok_or_else(|| {
                TrainerError::Format(format!("unexpected tensor `{name}` in adapter"))
            })?;
            if key.layer >= model.num_hidden_layers {
                return Err(TrainerError::Format(format!(
                    "adapter tensor `{name}` names layer {} but the model has {} layers",
                    key.layer, model.num_hidden_layers
                )));
            }
            let (fan_in, fan_out) = module_dims(model, &key.module)
                .map_err(|_| TrainerError::Format(format!("unknown module in `{name}`")))?;
            let want = if is_a {
                (config.r, fan_in)
            } else {
                (fan_out, config.r)
            };
            if t.dims2().ok() != Some(want) {
                return Err(TrainerError::Format(format!(
                    "adapter tensor `{name}` has shape {:?}, expected {want:?} (r = {})",
                    t.dims(),
                    config.r
                )));
            }
            if is_a {
                a_map.insert(key, t);
            } else {
                b_map.insert(key, t);
            }
        }
        let mut modules = BTreeMap::new();
        for (key, a) in a_map {
            let b = b_map.remove(&key).ok_or_else(|| {
                TrainerError::Format(format!("`{}.lora_B.weight` is missing", key.peft_prefix()))
            })?;
            modules.insert(key, LoraPair { a, b });
        }
        if let Some(key) = b_map.keys().next() {
            return Err(TrainerError::Format(format!(
                "`{}.lora_A.weight` is missing",
                key.peft_prefix()
            )));
        }
        if modules.is_empty() {
            return Err(TrainerError::Format("adapter holds no LoRA tensors".into()));
        }
        Ok(Self::from_modules(config, modules))
    }

    /// A trainable copy (new `Var`s holding the same values), e.g. to resume training.
    pub fn to_trainable(&self) -> Result<Self> {
        let mut vars = Vec::new();
        let mut modules = BTreeMap::new();
        for (k, p) in &self.modules {
            let a = Var::from_tensor(&p.a.copy()?)?;
            let b = Var::from_tensor(&p.b.copy()?)?;
            modules.insert(
                k.clone(),
                LoraPair {
                    a: a.as_tensor().clone(),
                    b: b.as_tensor().clone(),
                },
            );
            vars.push(a);
            vars.push(b);
        }
        Ok(Self {
            config: self.config.clone(),
            modules,
            vars,
        })
    }

    /// The trainable variables, in module order (A then B for each).
    pub fn vars(&self) -> &[Var] {
        &self.vars
    }

    /// Freezes every `A` where it is (FFA-LoRA, the protocol's rule): the forward pass then
    /// uses a detached copy, so `backward` computes no gradient for `A` and no optimiser can
    /// move it; train the [`Self::b_vars`] only.
    pub fn freeze_a(&mut self) {
        for p in self.modules.values_mut() {
            p.a = p.a.detach();
        }
    }

    /// The first projection whose `A` is not the round's shared `A` ([`round_lora_a`] of
    /// `seed`), as `(PEFT prefix, largest |difference|)`; `None` when every `A` matches bit for
    /// bit (after rounding the shared `A` to this adapter's dtype).
    pub fn foreign_a(&self, seed: u64) -> Result<Option<(String, f64)>> {
        for (k, p) in &self.modules {
            let (r, fan_in) = p.a.dims2()?;
            let prefix = k.peft_prefix();
            let want = Tensor::from_vec(
                round_lora_a(seed, &prefix, r, fan_in),
                (r, fan_in),
                p.a.device(),
            )?
            .to_dtype(p.a.dtype())?
            .to_dtype(DType::F64)?;
            let diff = (p.a.to_dtype(DType::F64)? - want)?
                .abs()?
                .flatten_all()?
                .max(0)?
                .to_scalar::<f64>()?;
            if diff != 0.0 {
                return Ok(Some((prefix, diff)));
            }
        }
        Ok(None)
    }

    /// The trainable `B` factors only (the variables to optimise when `A` stays frozen at its
    /// initialisation, as FFA-LoRA does).
    pub fn b_vars(&self) -> Vec<Var> {
        self.vars.iter().skip(1).step_by(2).cloned().collect()
    }

    /// The largest relative change `‖A − A₀‖ / ‖A₀‖` over the projections, from `init` (an
    /// adapter of the same shape, e.g. the round's initialisation) to this one: 0 when `A` was
    /// frozen, small when it was trained from `init`, about √2 for an unrelated random `A`.
    pub fn a_change_from(&self, init: &LoraAdapter) -> Result<f64> {
        let mut worst = 0.0f64;
        for (k, p) in &self.modules {
            let q = init.modules.get(k).ok_or_else(|| {
                TrainerError::Mismatch(format!(
                    "`{}` is adapted here but not in the initialisation",
                    k.peft_prefix()
                ))
            })?;
            let a0 = q.a.to_dtype(DType::F64)?;
            let diff = (p.a.to_dtype(DType::F64)? - &a0)?;
            let num = diff.sqr()?.sum_all()?.to_scalar::<f64>()?.sqrt();
            let den = a0.sqr()?.sum_all()?.to_scalar::<f64>()?.sqrt();
            worst = worst.max(if den > 0.0 { num / den } else { num });
        }
        Ok(worst)
    }

    /// `alpha / r`.
    pub fn scaling(&self) -> f64 {
        self.config.scaling()
    }

    /// The dense update `s · B·A` (out × in) that this adapter adds to one projection.
    pub fn delta(&self, key: &ModuleKey) -> Result<Option<Tensor>> {
        match self.modules.get(key) {
            None => Ok(None),
            Some(p) => Ok(Some((p.b.matmul(&p.a)? * self.scaling())?)),
        }
    }

    /// Every tensor under its PEFT name, as f32 (the layout of `adapter_model.safetensors`).
    pub fn peft_tensors(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = Vec::with_capacity(self.modules.len() * 2);
        for (k, p) in &self.modules {
            let prefix = k.peft_prefix();
            out.push((format!("{prefix}.lora_A.weight"), p.a.to_dtype(DType::F32)?));
            out.push((format!("{prefix}.lora_B.weight"), p.b.to_dtype(DType::F32)?));
        }
        Ok(out)
    }

    /// Fails with a plain message if any factor holds NaN or ±Inf.
    pub fn check_finite(&self) -> Result<()> {
        for (k, p) in &self.modules {
            for (t, which) in [(&p.a, "lora_A"), (&p.b, "lora_B")] {
                let ok = t
                    .to_dtype(DType::F64)?
                    .flatten_all()?
                    .to_vec1::<f64>()?
                    .iter()
                    .all(|v| v.is_finite());
                if !ok {
                    return Err(TrainerError::NonFinite(format!(
                        "adapter tensor `{}.{which}.weight` contains NaN or infinite values: \
                         the update is unusable (training diverged or the file is corrupt)",
                        k.peft_prefix()
                    )));
                }
            }
        }
        Ok(())
    }

    /// Converts every factor to `dtype` (frozen copy).
    pub fn to_dtype(&self, dtype: DType) -> Result<Self> {
        let mut modules = BTreeMap::new();
        for (k, p) in &self.modules {
            modules.insert(
                k.clone(),
                LoraPair {
                    a: p.a.to_dtype(dtype)?,
                    b: p.b.to_dtype(dtype)?,
                },
            );
        }
        Ok(Self::from_modules(self.config.clone(), modules))
    }

    /// The adapter's contribution to one projection's output, given that projection's input
    /// `x` (..., in). `dropout` carries the RNG while training.
    pub fn forward(
        &self,
        key: &ModuleKey,
        x: &Tensor,
        dropout: Option<&mut StdRng>,
    ) -> Result<Option<Tensor>> {
        let Some(p) = self.modules.get(key) else {
            return Ok(None);
        };
        let x = match dropout {
            Some(rng) if self.config.dropout > 0.0 => dropout_mask(x, self.config.dropout, rng)?,
            _ => x.clone(),
        };
        // (x·Aᵀ)·Bᵀ on the flattened rows: the dense B·A is never formed, and the factors are
        // not broadcast over the batch (their gradients need no reduction).
        let mut dims = x.dims().to_vec();
        let fan_in = dims.pop().unwrap_or(1);
        dims.push(p.b.dim(0)?);
        let h = x.reshape(((), fan_in))?.matmul(&p.a.t()?)?;
        let y = h.matmul(&p.b.t()?)?.reshape(dims)?;
        Ok(Some((y * self.scaling())?))
    }
}

/// Inverted dropout with a caller-owned RNG, so runs are reproducible from the seed.
fn dropout_mask(x: &Tensor, p: f64, rng: &mut StdRng) -> Result<Tensor> {
    let keep = 1.0 - p;
    let n = x.elem_count();
    let mask: Vec<f32> = (0..n)
        .map(|_| {
            if rng.random::<f64>() < keep {
                (1.0 / keep) as f32
            } else {
                0.0
            }
        })
        .collect();
    let mask = Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
    Ok((x * mask)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::tiny_config;

    const Q0: &str = "base_model.model.model.layers.0.self_attn.q_proj";

    /// The values are part of the protocol: every verifier must draw the same bits. These were
    /// also reproduced by an independent Python/NumPy float32 implementation of the same
    /// definition (sha256, SplitMix64, `(2u − 1)·bound`), so they pin the definition, not this
    /// code's output on one machine.
    #[test]
    fn the_shared_a_matches_its_golden_bits() {
        let seed = round_init_seed(1, &"ab".repeat(32), None);
        assert_eq!(seed, 0x9fea_3e5e_4811_2031);
        // Hex case does not change the seed.
        assert_eq!(seed, round_init_seed(1, &"AB".repeat(32), None));
        let bits: Vec<u32> = round_lora_a(seed, Q0, 2, 4)
            .iter()
            .map(|x| x.to_bits())
            .collect();
        assert_eq!(
            bits,
            [
                1045100812, 1040811904, 1051940700, 1050085328, 1033331944, 1045126460, 3188368116,
                1038575272
            ]
        );
    }

    #[test]
    fn the_shared_a_is_deterministic_bounded_and_keyed_by_every_input() {
        let a = round_lora_a(7, Q0, 8, 576);
        assert_eq!(a, round_lora_a(7, Q0, 8, 576));
        let bound = (1.0 / 576f64.sqrt()) as f32;
        assert!(a.iter().all(|x| (-bound..bound).contains(x)));
        let mean = a.iter().map(|x| f64::from(*x)).sum::<f64>() / a.len() as f64;
        // Uniform on ±bound: sd of the mean = bound/√(3n) ≈ 2.9e-4 here.
        assert!(mean.abs() < 2e-3, "mean {mean}");
        for other in [
            round_lora_a(8, Q0, 8, 576),
            round_lora_a(
                7,
                "base_model.model.model.layers.1.self_attn.q_proj",
                8,
                576,
            ),
        ] {
            assert_ne!(a, other);
        }
        // Another rank or width is another stream, not a prefix of this one.
        assert_ne!(a[..4 * 576], round_lora_a(7, Q0, 4, 576)[..]);
    }

    #[test]
    fn init_draws_the_shared_a_and_foreign_a_names_the_first_other_projection() {
        let cfg = tiny_config(false);
        let lora = LoraConfig::default();
        let seed = round_init_seed(2, "aa", Some("bb"));
        let ours = LoraAdapter::init(&cfg, &lora, seed, DType::F32, &Device::Cpu).expect("init");
        assert_eq!(ours.foreign_a(seed).expect("check"), None);
        let (key, p) = ours.modules.iter().next().expect("a module");
        let (r, fan_in) = p.a.dims2().expect("matrix");
        let want = round_lora_a(seed, &key.peft_prefix(), r, fan_in);
        let got: Vec<f32> = p.a.flatten_all().and_then(|t| t.to_vec1()).expect("values");
        assert_eq!(got, want);
        let theirs =
            LoraAdapter::init(&cfg, &lora, seed ^ 1, DType::F32, &Device::Cpu).expect("init");
        let (name, diff) = theirs.foreign_a(seed).expect("check").expect("foreign");
        assert_eq!(name, key.peft_prefix());
        assert!(diff > 0.0);
    }

    #[test]
    fn a_frozen_a_gets_no_gradient_and_b_does() {
        let cfg = tiny_config(false);
        let mut adapter =
            LoraAdapter::init(&cfg, &LoraConfig::default(), 3, DType::F32, &Device::Cpu)
                .expect("init");
        adapter.freeze_a();
        let key = adapter.modules.keys().next().expect("a module").clone();
        let x = Tensor::ones((2, 3, cfg.hidden_size), DType::F32, &Device::Cpu).expect("x");
        let y = adapter
            .forward(&key, &x, None)
            .expect("fwd")
            .expect("adapted");
        // B = 0, so weight the output to give B a non-zero gradient.
        let loss = (y.sqr().expect("sq") + y)
            .expect("add")
            .sum_all()
            .expect("sum");
        let grads = loss.backward().expect("backward");
        assert!(grads.get(adapter.vars()[0].as_tensor()).is_none());
        let gb = grads
            .get(adapter.vars()[1].as_tensor())
            .expect("B has a gradient");
        let norm = gb
            .sqr()
            .and_then(|t| t.sum_all())
            .and_then(|t| t.to_scalar::<f32>());
        assert!(norm.expect("norm") > 0.0);
    }
}
