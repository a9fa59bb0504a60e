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
//! rounding). Participants keep full freedom over their `A` (no shared seed needed), and a
//! coalition model is rebuilt from the updates alone. The price is rank growth: a coalition of
//! `n` rank-`r` updates has rank `n·r`, which is small for the round sizes Fairshare targets
//! (the evaluator can also fold an aggregate into the base weights with
//! [`crate::model::LlamaModel::merge_adapter`]).

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
    let mut modules = BTreeMap::new();
    let mut rank = 0;
    for key in keys {
        let mut a_parts = Vec::with_capacity(chosen.len());
        let mut b_parts = Vec::with_capacity(chosen.len());
        for (adapter, w) in &chosen {
            let p = &adapter.modules[key];
            a_parts.push(p.a.clone());
            b_parts.push((&p.b * (w * adapter.scaling()))?);
        }
        let a = Tensor::cat(&a_parts, 0)?;
        let b = Tensor::cat(&b_parts, 1)?;
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
