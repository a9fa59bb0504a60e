//! Validation loss, perplexity, and coalition utilities for Shapley valuation.
//!
//! The utility of a coalition `S` of a round's updates is the drop in validation loss when the
//! global model (base + global adapter, merged) is extended with the token-weighted aggregate of
//! `S`'s updates (DESIGN §4): `U(S) = L(global) − L(global + agg(S))`, `U(∅) = 0`. Coalition
//! models are rebuilt from the updates by exact rank stacking ([`crate::aggregate`]), never
//! retrained.

use std::collections::HashMap;
use std::sync::Mutex;

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use crate::aggregate::{aggregate, token_weights};
use crate::bundle::Bundle;
use crate::data::eval_windows;
use crate::error::{Result, TrainerError};
use crate::lora::LoraAdapter;
use crate::model::LlamaModel;

/// Mean next-token loss over a text, and its perplexity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossReport {
    /// Mean negative log-likelihood per predicted token (nats).
    pub mean_loss: f64,
    /// `exp(mean_loss)`.
    pub perplexity: f64,
    /// Number of predicted tokens.
    pub tokens: usize,
}

/// Loss of `model` (+ optional `adapter`) on `tokens`, scored in windows of `seq_len` predicted
/// tokens, `batch_size` windows at a time.
pub fn evaluate_loss(
    model: &LlamaModel,
    adapter: Option<&LoraAdapter>,
    tokens: &[u32],
    seq_len: usize,
    batch_size: usize,
) -> Result<LossReport> {
    let windows = eval_windows(tokens, seq_len);
    evaluate_windows(model, adapter, &windows, batch_size.max(1))
}

/// Mean loss and predicted tokens of each batch of `windows` (windows of equal length, at most
/// `batch_size` per batch): the pieces a validation loss and its sampling error are made of.
pub fn batch_losses(
    model: &LlamaModel,
    adapter: Option<&LoraAdapter>,
    windows: &[Vec<u32>],
    batch_size: usize,
) -> Result<Vec<(f64, usize)>> {
    if windows.is_empty() {
        return Err(TrainerError::Data(
            "validation text has fewer than 2 tokens".into(),
        ));
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < windows.len() {
        let len = windows[i].len();
        let mut j = i;
        while j < windows.len() && j - i < batch_size.max(1) && windows[j].len() == len {
            j += 1;
        }
        let flat: Vec<u32> = windows[i..j].iter().flatten().copied().collect();
        let batch = Tensor::from_vec(flat, (j - i, len), model.device())?;
        let loss = model
            .loss(&batch, adapter, None)?
            .to_dtype(candle_core::DType::F64)?
            .to_scalar::<f64>()?;
        if !loss.is_finite() {
            return Err(TrainerError::NonFinite(format!(
                "validation loss is {loss}: the model or adapter produces NaN/Inf"
            )));
        }
        out.push((loss, (j - i) * (len - 1)));
        i = j;
    }
    Ok(out)
}

/// Token-weighted mean of per-batch losses.
fn pooled(batches: &[(f64, usize)]) -> LossReport {
    let count: usize = batches.iter().map(|b| b.1).sum();
    let mean = batches.iter().map(|(l, n)| l * *n as f64).sum::<f64>() / count.max(1) as f64;
    LossReport {
        mean_loss: mean,
        perplexity: mean.exp(),
        tokens: count,
    }
}

fn evaluate_windows(
    model: &LlamaModel,
    adapter: Option<&LoraAdapter>,
    windows: &[Vec<u32>],
    batch_size: usize,
) -> Result<LossReport> {
    Ok(pooled(&batch_losses(model, adapter, windows, batch_size)?))
}

/// How a coalition's updates are weighted inside its aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Weighting {
    /// FedAvg: proportional to each update's `num_training_tokens`.
    #[default]
    Tokens,
    /// Every member counts the same.
    Uniform,
    /// Each member keeps its FedAvg weight in the whole round (`tokens_i / Σ_N tokens`), so a
    /// coalition's aggregate is a partial sum of the round's aggregate: an update that changes
    /// nothing is a null player (φ = 0) instead of diluting the others, and `U(N)` is FedAvg's.
    RoundTokens,
}

/// Evaluates coalitions of one round's updates on a held-out text; the batch utility function
/// a Shapley estimator calls. Results are cached by coalition, so repeated queries are free.
pub struct CoalitionEvaluator {
    model: LlamaModel,
    windows: Vec<Vec<u32>>,
    batch_size: usize,
    updates: Vec<LoraAdapter>,
    tokens: Vec<u64>,
    weighting: Weighting,
    /// Each update's token count is divided by this (its near-duplicate group's size), so a
    /// group of copies weighs what one member would: see [`Self::count_groups_once`].
    divisor: Vec<f64>,
    global: LossReport,
    global_batches: Vec<(f64, usize)>,
    cache: Mutex<HashMap<Vec<bool>, f64>>,
}

impl std::fmt::Debug for CoalitionEvaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoalitionEvaluator")
            .field("updates", &self.updates.len())
            .field("windows", &self.windows.len())
            .field("global", &self.global)
            .finish()
    }
}

impl CoalitionEvaluator {
    /// `model` must already include the round's global adapter (see
    /// [`LlamaModel::merge_adapter`]); `updates` are the round's verified bundles in a fixed
    /// order (player `i` is `updates[i]`).
    pub fn new(
        model: LlamaModel,
        validation_tokens: &[u32],
        seq_len: usize,
        batch_size: usize,
        updates: Vec<Bundle>,
        weighting: Weighting,
    ) -> Result<Self> {
        if updates.is_empty() {
            return Err(TrainerError::Data("no updates to evaluate".into()));
        }
        let windows = eval_windows(validation_tokens, seq_len);
        let global_batches = batch_losses(&model, None, &windows, batch_size.max(1))?;
        let global = pooled(&global_batches);
        let tokens = updates
            .iter()
            .map(|b| b.manifest.num_training_tokens)
            .collect();
        let mut adapters = Vec::with_capacity(updates.len());
        for b in updates {
            adapters.push(b.adapter.to_dtype(model.dtype())?);
        }
        let n = adapters.len();
        Ok(Self {
            model,
            windows,
            batch_size: batch_size.max(1),
            updates: adapters,
            tokens,
            divisor: vec![1.0; n],
            weighting,
            global,
            global_batches,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Number of players (updates).
    pub fn n(&self) -> usize {
        self.updates.len()
    }

    /// Validation loss of the global model, the reference `U(∅) = 0` is measured against.
    pub fn global_loss(&self) -> LossReport {
        self.global
    }

    /// Per-batch `(mean loss, tokens)` of the global model on the validation windows.
    pub fn global_batch_losses(&self) -> &[(f64, usize)] {
        &self.global_batches
    }

    /// Per-batch `(mean loss, tokens)` of the coalition's model, in the batches of
    /// [`Self::global_batch_losses`]; their spread is the sampling error of a utility.
    pub fn coalition_batch_losses(&self, members: &[bool]) -> Result<Vec<(f64, usize)>> {
        match self.coalition_model(members)? {
            None => Ok(self.global_batches.clone()),
            Some(m) => batch_losses(&m, None, &self.windows, self.batch_size),
        }
    }

    /// The global model with the coalition's aggregate merged into its weights (`None` for
    /// the empty coalition). Evaluating merged weights costs one plain forward pass, where the
    /// rank-stacked adapter of a large coalition would add matmuls as wide as the base's.
    fn coalition_model(&self, members: &[bool]) -> Result<Option<LlamaModel>> {
        let Some(a) = self.coalition_adapter(members)? else {
            return Ok(None);
        };
        let mut m = self.model.clone();
        m.merge_adapter(&a)?;
        Ok(Some(m))
    }

    /// Distinct coalitions evaluated so far (the valuation's cost).
    pub fn evaluations(&self) -> usize {
        self.cache.lock().map(|c| c.len()).unwrap_or(0)
    }

    fn check(&self, members: &[bool]) -> Result<()> {
        if members.len() != self.n() {
            return Err(TrainerError::Mismatch(format!(
                "coalition has {} entries but the round has {} updates",
                members.len(),
                self.n()
            )));
        }
        Ok(())
    }

    /// Weighs every near-duplicate group as one update: update `i` in group `group_of[i]` of
    /// size k keeps 1/k of its weight, so a group's aggregate is its members' average with the
    /// weight of one member (copies count once). Clears the cache of utilities.
    pub fn count_groups_once(&mut self, group_of: &[usize]) -> Result<()> {
        self.check_len(group_of.len())?;
        self.divisor = group_of
            .iter()
            .map(|g| group_of.iter().filter(|h| *h == g).count() as f64)
            .collect();
        if let Ok(mut c) = self.cache.lock() {
            c.clear();
        }
        Ok(())
    }

    fn check_len(&self, len: usize) -> Result<()> {
        if len != self.n() {
            return Err(TrainerError::Mismatch(format!(
                "{len} entries given but the round has {} updates",
                self.n()
            )));
        }
        Ok(())
    }

    /// Aggregation weights of the members of a coalition (0 for non-members; members sum to 1,
    /// except with [`Weighting::RoundTokens`]).
    pub fn coalition_weights(&self, members: &[bool]) -> Vec<f64> {
        if self.divisor.iter().any(|&d| d != 1.0) {
            return self.grouped_weights(members);
        }
        let raw: Vec<u64> = match self.weighting {
            Weighting::Tokens | Weighting::RoundTokens => self.tokens.clone(),
            Weighting::Uniform => vec![1; self.n()],
        };
        if self.weighting == Weighting::RoundTokens {
            let all = token_weights(&raw);
            return members
                .iter()
                .zip(all)
                .map(|(&m, w)| if m { w } else { 0.0 })
                .collect();
        }
        let picked: Vec<u64> = raw
            .iter()
            .zip(members)
            .filter(|(_, &m)| m)
            .map(|(&t, _)| t)
            .collect();
        let w = token_weights(&picked);
        let mut it = w.into_iter();
        members
            .iter()
            .map(|&m| if m { it.next().unwrap_or(0.0) } else { 0.0 })
            .collect()
    }

    /// [`Self::coalition_weights`] with the group divisors applied.
    fn grouped_weights(&self, members: &[bool]) -> Vec<f64> {
        let raw: Vec<f64> = (0..self.n())
            .map(|i| {
                let t = match self.weighting {
                    Weighting::Tokens | Weighting::RoundTokens => self.tokens[i] as f64,
                    Weighting::Uniform => 1.0,
                };
                t / self.divisor[i]
            })
            .collect();
        let normalise = |xs: Vec<f64>| -> Vec<f64> {
            let total: f64 = xs.iter().sum();
            if total > 0.0 {
                xs.iter().map(|x| x / total).collect()
            } else {
                let k = xs.len().max(1) as f64;
                xs.iter().map(|_| 1.0 / k).collect()
            }
        };
        if self.weighting == Weighting::RoundTokens {
            return normalise(raw)
                .into_iter()
                .zip(members)
                .map(|(w, &m)| if m { w } else { 0.0 })
                .collect();
        }
        let picked: Vec<f64> = raw
            .iter()
            .zip(members)
            .filter(|(_, &m)| m)
            .map(|(&t, _)| t)
            .collect();
        let mut it = normalise(picked).into_iter();
        members
            .iter()
            .map(|&m| if m { it.next().unwrap_or(0.0) } else { 0.0 })
            .collect()
    }

    /// The coalition's aggregate adapter (`None` for the empty coalition).
    pub fn coalition_adapter(&self, members: &[bool]) -> Result<Option<LoraAdapter>> {
        self.check(members)?;
        let refs: Vec<&LoraAdapter> = self.updates.iter().collect();
        aggregate(&refs, &self.coalition_weights(members))
    }

    /// Validation loss of the global model extended with the coalition's aggregate.
    pub fn coalition_loss(&self, members: &[bool]) -> Result<LossReport> {
        match self.coalition_model(members)? {
            None => Ok(self.global),
            Some(m) => evaluate_windows(&m, None, &self.windows, self.batch_size),
        }
    }

    /// `U(S) = L(global) − L(global + agg(S))`; `U(∅) = 0`.
    pub fn utility(&self, members: &[bool]) -> Result<f64> {
        self.check(members)?;
        if let Some(u) = self.cache.lock().ok().and_then(|c| c.get(members).copied()) {
            return Ok(u);
        }
        let u = if members.iter().any(|&m| m) {
            self.global.mean_loss - self.coalition_loss(members)?.mean_loss
        } else {
            0.0
        };
        if let Ok(mut c) = self.cache.lock() {
            c.insert(members.to_vec(), u);
        }
        Ok(u)
    }

    /// Utilities of many coalitions at once (the batch API for Shapley estimators).
    pub fn utilities(&self, coalitions: &[Vec<bool>]) -> Result<Vec<f64>> {
        coalitions.iter().map(|c| self.utility(c)).collect()
    }
}

/// Bitset helper: coalition `mask` over `n` players (bit `i` = player `i`).
pub fn coalition_from_mask(mask: u64, n: usize) -> Vec<bool> {
    (0..n).map(|i| mask >> i & 1 == 1).collect()
}

#[cfg(test)]
mod group_tests {
    use super::*;
    use crate::bundle::{Bundle, Manifest};
    use crate::config::LoraConfig;
    use crate::testing::{random_adapter, random_weights, tiny_config};
    use candle_core::{DType, Device};

    fn bundle(adapter: LoraAdapter, tokens: u64) -> Bundle {
        Bundle {
            adapter,
            manifest: Manifest {
                format: "fairshare-update/1".into(),
                round: 1,
                base_model_hash: String::new(),
                global_adapter_hash: None,
                num_training_tokens: tokens,
                participant: String::new(),
                update_hash: String::new(),
            },
        }
    }

    #[test]
    fn a_group_of_copies_weighs_and_scores_what_one_member_would() {
        let cfg = tiny_config(false);
        let model = LlamaModel::from_weights(
            cfg.clone(),
            random_weights(&cfg, 3).expect("weights"),
            DType::F32,
            &Device::Cpu,
        )
        .expect("model");
        let lora = LoraConfig::default();
        let a = random_adapter(&cfg, &lora, 10, DType::F32).expect("adapter");
        let b = random_adapter(&cfg, &lora, 11, DType::F32).expect("adapter");
        let tokens: Vec<u32> = (0..400u32).map(|i| (i * 7 + 3) % 200).collect();
        let eval = |bundles: Vec<Bundle>| {
            CoalitionEvaluator::new(
                model.clone(),
                &tokens,
                16,
                4,
                bundles,
                Weighting::RoundTokens,
            )
            .expect("evaluator")
        };
        // Player 0 entered twice (0 and 2 are the same update).
        let mut grouped = eval(vec![
            bundle(a.clone(), 100),
            bundle(b.clone(), 300),
            bundle(a.clone(), 100),
        ]);
        grouped.count_groups_once(&[0, 1, 0]).expect("groups");
        assert_eq!(
            grouped.coalition_weights(&[true, true, true]),
            vec![0.125, 0.75, 0.125]
        );
        let single = eval(vec![bundle(a, 100), bundle(b, 300)]);
        let u_grouped = grouped.utility(&[true, true, true]).expect("utility");
        let u_single = single.utility(&[true, true]).expect("utility");
        assert!(
            (u_grouped - u_single).abs() < 1e-5,
            "{u_grouped} vs {u_single}"
        );
        assert!(grouped.count_groups_once(&[0, 1]).is_err());
    }
}
