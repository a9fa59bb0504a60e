//! Exact aggregation of LoRA updates by **rank stacking**.
//!
//! Averaging `A`s and `B`s separately is not the average of the updates (`Σ wₖBₖ · Σ wₖAₖ ≠
//! Σ wₖBₖAₖ`). Instead, for adapters `k = 1..n` with scalings `sₖ = αₖ/rₖ` and weights `wₖ`, the
//! aggregate of each projection is
//!
//! ```text
//! A = [A₁; A₂; …; Aₙ]                      (Σrₖ × in)
//! B = [w₁s₁B₁, w₂s₂B₂, …, wₙsₙBₙ]          (out × Σrₖ)
//! r = α = Σrₖ  (so PEFT's scaling α/r is 1)
//! ```
//!
//! so that `B·A = Σ wₖ sₖ Bₖ Aₖ` exactly: an ordinary LoRA adapter of rank `Σrₖ` that PEFT
//! loads as it is, whose update is the weighted average of the participants' `ΔW` (up to float
//! rounding), rebuilt from the updates alone.
//!
//! When every update carries the same `A` in every projection, bit for bit (the protocol's
//! shared frozen `A`, [`crate::lora::round_lora_a`]: participants train `B` only), the same sum
//! needs no stacking: `Σ wₖsₖBₖA = (Σ wₖsₖBₖ)·A`, so the aggregate keeps rank `r` with
//! `B = Σ wₖsₖBₖ`. Then FedAvg of the `B`s *is* the average update, the global adapter grows by
//! `r` per round rather than `n·r`, and a coalition model costs no more than one update.
//! Updates with different `A`s (older bundles, experiments with `--train-a`) are stacked.

use std::collections::BTreeMap;

use candle_core::Tensor;

use crate::config::LoraConfig;
use crate::error::{Result, TrainerError};
use crate::lora::{LoraAdapter, LoraPair, ModuleKey};

/// FedAvg weights: each update's share of the training tokens (uniform if all are zero).
pub fn token_weights(tokens: &[u64]) -> Vec<f64> {
    let total: u64 = tokens.iter().sum();
    if total == 0 {
        let n = tokens.len().max(1) as f64;
        return tokens.iter().map(|_| 1.0 / n).collect();
    }
    tokens.iter().map(|&t| t as f64 / total as f64).collect()
}

/// The exact weighted sum `Σ wₖ ΔWₖ` of `adapters` as one stacked adapter; `None` when every
/// weight is zero (the empty coalition). Weights are used as given (normalise them first for
/// an average). All adapters must adapt the same set of projections.
pub fn aggregate(adapters: &[&LoraAdapter], weights: &[f64]) -> Result<Option<LoraAdapter>> {
    if adapters.len() != weights.len() {
        return Err(TrainerError::Mismatch(format!(
            "{} adapters but {} weights",
            adapters.len(),
            weights.len()
        )));
    }
    if let Some(w) = weights.iter().find(|w| !w.is_finite()) {
        return Err(TrainerError::NonFinite(format!(
            "aggregation weight {w} is not finite"
        )));
    }
    let chosen: Vec<(&LoraAdapter, f64)> = adapters
        .iter()
        .zip(weights)
        .filter(|(_, &w)| w != 0.0)
        .map(|(a, &w)| (*a, w))
        .collect();
    let Some((first, _)) = chosen.first() else {
        return Ok(None);
    };
    let keys: Vec<&ModuleKey> = first.modules.keys().collect();
    for (a, _) in &chosen[1..] {
        let other: Vec<&ModuleKey> = a.modules.keys().collect();
        if other != keys {
            return Err(TrainerError::Mismatch(
                "updates adapt different projections (target modules or layers differ)".into(),
            ));
        }
    }
    let mut shared_a = true;
    for key in &keys {
        let a0 = &first.modules[*key].a;
        for (a, _) in &chosen[1..] {
            if !same_values(a0, &a.modules[*key].a)? {
                shared_a = false;
                break;
            }
        }
    }
    let mut modules = BTreeMap::new();
    let mut rank = 0;
    for key in keys {
        let scaled =
            |adapter: &LoraAdapter, w: f64| &adapter.modules[key].b * (w * adapter.scaling());
        let (a, b) = if shared_a {
            let mut b = scaled(first, chosen[0].1)?;
            for (adapter, w) in &chosen[1..] {
                b = (b + scaled(adapter, *w)?)?;
            }
            (first.modules[key].a.clone(), b)
        } else {
            let a_parts: Vec<Tensor> = chosen
                .iter()
                .map(|(adapter, _)| adapter.modules[key].a.clone())
                .collect();
            let b_parts = chosen
                .iter()
                .map(|(adapter, w)| scaled(adapter, *w))
                .collect::<candle_core::Result<Vec<_>>>()?;
            (Tensor::cat(&a_parts, 0)?, Tensor::cat(&b_parts, 1)?)
        };
        rank = a.dim(0)?;
        modules.insert(key.clone(), LoraPair { a, b });
    }
    let config = LoraConfig {
        r: rank,
        alpha: rank as f64,
        dropout: 0.0,
        target_modules: first.config.target_modules.clone(),
    };
    Ok(Some(LoraAdapter::from_modules(config, modules)))
}

/// Whether `x` and `y` hold the same shape and the same values, bit for bit up to the sign of
/// zero (no tolerance: a shared `A` is generated, not approximated).
fn same_values(x: &Tensor, y: &Tensor) -> Result<bool> {
    if x.dims() != y.dims() {
        return Ok(false);
    }
    let values = |t: &Tensor| -> Result<Vec<f64>> {
        Ok(t.flatten_all()?
            .to_dtype(candle_core::DType::F64)?
            .to_vec1::<f64>()?)
    };
    Ok(values(x)? == values(y)?)
}

/// Dense updates `ΔW = s·B·A` of every adapted projection (for checks and merging).
pub fn dense_deltas(adapter: &LoraAdapter) -> Result<BTreeMap<ModuleKey, Tensor>> {
    let mut out = BTreeMap::new();
    for key in adapter.modules.keys() {
        let d = adapter
            .delta(key)?
            .expect("key comes from the adapter's own modules");
        out.insert(key.clone(), d);
    }
    Ok(out)
}

/// How alike two updates are: the cosine similarity of their dense updates `ΔW = s·B·A`, per
/// adapted projection and on average. Near-duplicates (a copy with small noise, the same data
/// trained again) score near 1; it is what evaluators group Sybil identities by.
#[derive(Debug, Clone, PartialEq)]
pub struct DeltaSimilarity {
    /// Cosine of `ΔW` per projection (`layer.module`), in the adapters' module order; 0 where
    /// either update is zero (an untrained update resembles nothing).
    pub per_module: Vec<(String, f64)>,
    /// The mean over projections.
    pub mean: f64,
}

/// The cosine similarity of `a`'s and `b`'s `ΔW`, projection by projection. Both must adapt
/// the same projections.
pub fn delta_similarity(a: &LoraAdapter, b: &LoraAdapter) -> Result<DeltaSimilarity> {
    let (ka, kb): (Vec<&ModuleKey>, Vec<&ModuleKey>) =
        (a.modules.keys().collect(), b.modules.keys().collect());
    if ka != kb {
        return Err(TrainerError::Mismatch(
            "updates adapt different projections (target modules or layers differ)".into(),
        ));
    }
    let mut per_module = Vec::with_capacity(ka.len());
    for key in ka {
        let da = a
            .delta(key)?
            .expect("key comes from the adapter's own modules")
            .to_dtype(candle_core::DType::F64)?;
        let db = b
            .delta(key)?
            .expect("both adapters adapt the same modules")
            .to_dtype(candle_core::DType::F64)?;
        if da.dims() != db.dims() {
            return Err(TrainerError::Mismatch(format!(
                "ΔW of layer {} {} has shape {:?} in one update and {:?} in the other",
                key.layer,
                key.module,
                da.dims(),
                db.dims()
            )));
        }
        let dot = (&da * &db)?.sum_all()?.to_scalar::<f64>()?;
        let na = da.sqr()?.sum_all()?.to_scalar::<f64>()?.sqrt();
        let nb = db.sqr()?.sum_all()?.to_scalar::<f64>()?.sqrt();
        let cos = if na > 0.0 && nb > 0.0 {
            (dot / (na * nb)).clamp(-1.0, 1.0)
        } else {
            0.0
        };
        per_module.push((format!("{}.{}", key.layer, key.module), cos));
    }
    let mean = if per_module.is_empty() {
        0.0
    } else {
        per_module.iter().map(|(_, c)| c).sum::<f64>() / per_module.len() as f64
    };
    Ok(DeltaSimilarity { per_module, mean })
}

/// Every pair's [`delta_similarity`] mean as a symmetric matrix (1 on the diagonal).
pub fn similarity_matrix(adapters: &[&LoraAdapter]) -> Result<Vec<Vec<f64>>> {
    let n = adapters.len();
    let mut m = vec![vec![1.0; n]; n];
    for i in 0..n {
        for j in i + 1..n {
            let s = delta_similarity(adapters[i], adapters[j])?.mean;
            m[i][j] = s;
            m[j][i] = s;
        }
    }
    Ok(m)
}

#[cfg(test)]
mod similarity_tests {
    use super::*;
    use crate::config::LoraConfig;
    use crate::testing::{random_adapter, tiny_config};
    use candle_core::DType;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn lora() -> LoraConfig {
        LoraConfig {
            r: 4,
            alpha: 8.0,
            dropout: 0.0,
            target_modules: vec!["q_proj".into(), "v_proj".into()],
        }
    }

    /// `a` with Gaussian noise of `rel` times each factor's RMS added to every A and B.
    fn noisy(a: &LoraAdapter, rel: f64, seed: u64) -> LoraAdapter {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut noise = |t: &Tensor| -> Tensor {
            let v: Vec<f32> = t.flatten_all().expect("flat").to_vec1().expect("f32");
            let rms = (v.iter().map(|x| (x * x) as f64).sum::<f64>() / v.len() as f64).sqrt();
            let out: Vec<f32> = v
                .iter()
                .map(|x| {
                    let (u1, u2): (f64, f64) = (rng.random_range(1e-12..1.0), rng.random());
                    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                    x + (rel * rms * z) as f32
                })
                .collect();
            Tensor::from_vec(out, t.shape(), t.device()).expect("same shape")
        };
        with_pairs(a, |_, p| LoraPair {
            a: noise(&p.a),
            b: noise(&p.b),
        })
    }

    /// `a` with every projection's pair replaced by `f(key, pair)`.
    fn with_pairs(
        a: &LoraAdapter,
        mut f: impl FnMut(&ModuleKey, &LoraPair) -> LoraPair,
    ) -> LoraAdapter {
        let modules = a
            .modules
            .iter()
            .map(|(k, p)| (k.clone(), f(k, p)))
            .collect();
        LoraAdapter::from_modules(a.config.clone(), modules)
    }

    #[test]
    fn a_noisy_copy_is_near_one_and_an_unrelated_update_near_zero() {
        let cfg = tiny_config(true);
        let a = random_adapter(&cfg, &lora(), 1, DType::F32).expect("adapter");
        let b = random_adapter(&cfg, &lora(), 2, DType::F32).expect("adapter");
        let same = delta_similarity(&a, &a).expect("sim");
        assert!((same.mean - 1.0).abs() < 1e-9);
        for rel in [0.01, 0.05, 0.1] {
            let copy = noisy(&a, rel, 9);
            let s = delta_similarity(&a, &copy).expect("sim").mean;
            assert!(s > 0.95, "copy with {rel} noise: {s}");
        }
        let other = delta_similarity(&a, &b).expect("sim").mean;
        assert!(other.abs() < 0.3, "independent updates: {other}");
        let m = similarity_matrix(&[&a, &b, &noisy(&a, 0.05, 3)]).expect("matrix");
        assert!(m[0][2] > 0.95 && m[1][2].abs() < 0.3 && m[0][1] == m[1][0]);
    }

    /// `a`'s A in every projection with B taken from `b` (same shapes): an update trained from
    /// the same shared A.
    fn with_a_of(a: &LoraAdapter, b: &LoraAdapter) -> LoraAdapter {
        with_pairs(a, |k, p| LoraPair {
            a: p.a.clone(),
            b: b.modules[k].b.clone(),
        })
    }

    #[test]
    fn updates_sharing_a_merge_at_their_rank_and_others_stack() {
        let cfg = tiny_config(true);
        let x = random_adapter(&cfg, &lora(), 1, DType::F32).expect("adapter");
        let y = with_a_of(
            &x,
            &random_adapter(&cfg, &lora(), 2, DType::F32).expect("adapter"),
        );
        let z = with_a_of(
            &x,
            &random_adapter(&cfg, &lora(), 3, DType::F32).expect("adapter"),
        );
        let own = random_adapter(&cfg, &lora(), 4, DType::F32).expect("adapter");
        let w = [0.5, 0.3, 0.2];
        let dense = |ads: &[&LoraAdapter]| -> BTreeMap<ModuleKey, Tensor> {
            let parts: Vec<_> = ads
                .iter()
                .map(|a| dense_deltas(a).expect("dense"))
                .collect();
            parts[0]
                .keys()
                .map(|k| {
                    let mut sum = (&parts[0][k] * w[0]).expect("scale");
                    for (i, p) in parts.iter().enumerate().skip(1) {
                        sum = (sum + (&p[k] * w[i]).expect("scale")).expect("sum");
                    }
                    (k.clone(), sum)
                })
                .collect()
        };
        let max_diff = |agg: &LoraAdapter, want: &BTreeMap<ModuleKey, Tensor>| -> f32 {
            let got = dense_deltas(agg).expect("dense");
            want.iter()
                .map(|(k, t)| {
                    (&got[k] - t)
                        .and_then(|d| d.abs()?.max_all()?.to_scalar::<f32>())
                        .expect("diff")
                })
                .fold(0.0, f32::max)
        };
        // Shared A: rank r, and the update is the weighted sum of the ΔWs.
        let shared = aggregate(&[&x, &y, &z], &w)
            .expect("aggregate")
            .expect("some");
        assert_eq!(shared.config.r, lora().r);
        assert!(max_diff(&shared, &dense(&[&x, &y, &z])) < 1e-6);
        for (k, p) in &shared.modules {
            assert!(
                same_values(&p.a, &x.modules[k].a).expect("compare"),
                "A kept as is"
            );
        }
        // One update with its own A: everything is stacked, the sum is the same kind of exact.
        let mixed = aggregate(&[&x, &y, &own], &w)
            .expect("aggregate")
            .expect("some");
        assert_eq!(mixed.config.r, 3 * lora().r);
        assert!(max_diff(&mixed, &dense(&[&x, &y, &own])) < 1e-6);
    }

    #[test]
    fn a_zero_update_resembles_nothing() {
        let cfg = tiny_config(true);
        let a = random_adapter(&cfg, &lora(), 1, DType::F32).expect("adapter");
        let zero = LoraAdapter::init(&cfg, &lora(), 5, DType::F32, &candle_core::Device::Cpu)
            .expect("adapter");
        assert_eq!(delta_similarity(&a, &zero).expect("sim").mean, 0.0);
    }
}
