//! AdamW with decoupled weight decay, global-norm gradient clipping and a warm-up + cosine
//! learning-rate schedule. The moments are plain tensors, so a checkpoint can save and restore
//! them exactly.

use std::collections::HashMap;
use std::path::Path;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

use crate::error::{Result, TrainerError};

/// Learning rate at `step` (0-based): linear warm-up to `peak` over `warmup` steps, then cosine
/// decay to `peak · min_ratio` at `total` steps.
pub fn lr_at(step: usize, total: usize, warmup: usize, peak: f64, min_ratio: f64) -> f64 {
    if warmup > 0 && step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1) as f64;
    let progress = ((step - warmup.min(step)) as f64 / span).clamp(0.0, 1.0);
    let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
    peak * (min_ratio + (1.0 - min_ratio) * cosine)
}

/// AdamW over a fixed list of variables.
#[derive(Debug)]
pub struct AdamW {
    vars: Vec<Var>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Number of updates applied so far.
    pub step: u64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl AdamW {
    /// An optimiser with zero moments for `vars`.
    pub fn new(vars: Vec<Var>, weight_decay: f64) -> Result<Self> {
        let m = vars
            .iter()
            .map(|v| v.as_tensor().zeros_like())
            .collect::<candle_core::Result<Vec<_>>>()?;
        let v = m.clone();
        Ok(Self {
            vars,
            m,
            v,
            step: 0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
        })
    }

    /// Global L2 norm of the gradients of this optimiser's variables.
    pub fn grad_norm(&self, grads: &GradStore) -> Result<f64> {
        let mut sq = 0.0;
        for var in &self.vars {
            if let Some(g) = grads.get(var.as_tensor()) {
                sq += g
                    .sqr()?
                    .sum_all()?
                    .to_dtype(candle_core::DType::F64)?
                    .to_scalar::<f64>()?;
            }
        }
        Ok(sq.sqrt())
    }

    /// One update with learning rate `lr`, gradients clipped to global norm `clip` (0: no
    /// clipping). Returns the gradient norm before clipping.
    pub fn step(&mut self, grads: &GradStore, lr: f64, clip: f64) -> Result<f64> {
        let norm = self.grad_norm(grads)?;
        if !norm.is_finite() {
            return Err(TrainerError::NonFinite(format!(
                "gradient norm is {norm} at step {}: training diverged (lower the learning rate)",
                self.step + 1
            )));
        }
        let factor = if clip > 0.0 && norm > clip {
            clip / norm
        } else {
            1.0
        };
        self.step += 1;
        let t = self.step as i32;
        let bc1 = 1.0 - self.beta1.powi(t);
        let bc2 = 1.0 - self.beta2.powi(t);
        for (i, var) in self.vars.iter().enumerate() {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            let g = (g * factor)?;
            let m = ((&self.m[i] * self.beta1)? + (&g * (1.0 - self.beta1))?)?;
            let v = ((&self.v[i] * self.beta2)? + (g.sqr()? * (1.0 - self.beta2))?)?;
            let m_hat = (&m / bc1)?;
            let v_hat = (&v / bc2)?;
            let update = (m_hat / (v_hat.sqrt()? + self.eps)?)?;
            let theta = var.as_tensor();
            let decayed = (theta * (1.0 - lr * self.weight_decay))?;
            var.set(&(decayed - (update * lr)?)?)?;
            self.m[i] = m;
            self.v[i] = v;
        }
        Ok(norm)
    }

    /// Saves the moments (names `m.<i>`, `v.<i>`) to a safetensors file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut tensors = Vec::with_capacity(2 * self.vars.len());
        for i in 0..self.vars.len() {
            tensors.push((format!("m.{i}"), self.m[i].clone()));
            tensors.push((format!("v.{i}"), self.v[i].clone()));
        }
        crate::bundle::write_safetensors(path, &tensors)
    }

    /// Restores moments written by [`AdamW::save`] for the same list of variables.
    pub fn load(&mut self, path: &Path, step: u64) -> Result<()> {
        let bytes = std::fs::read(path).map_err(|e| TrainerError::io(path, e))?;
        let dtype = self
            .vars
            .first()
            .map(|v| v.dtype())
            .unwrap_or(candle_core::DType::F32);
        let device = self
            .vars
            .first()
            .map(|v| v.device().clone())
            .unwrap_or(candle_core::Device::Cpu);
        let mut map: HashMap<String, Tensor> =
            crate::bundle::parse_safetensors(&bytes, dtype, &device)?;
        for i in 0..self.vars.len() {
            let shape = self.vars[i].shape().clone();
            for (name, slot) in [
                (format!("m.{i}"), &mut self.m[i]),
                (format!("v.{i}"), &mut self.v[i]),
            ] {
                let t = map.remove(&name).ok_or_else(|| {
                    TrainerError::Format(format!("{}: `{name}` is missing", path.display()))
                })?;
                if t.shape() != &shape {
                    return Err(TrainerError::Format(format!(
                        "{}: `{name}` has shape {:?}, expected {:?}",
                        path.display(),
                        t.dims(),
                        shape.dims()
                    )));
                }
                *slot = t;
            }
        }
        self.step = step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays_to_the_floor() {
        assert!((lr_at(0, 100, 10, 1.0, 0.1) - 0.1).abs() < 1e-12);
        assert!((lr_at(9, 100, 10, 1.0, 0.1) - 1.0).abs() < 1e-12);
        assert!((lr_at(10, 100, 10, 1.0, 0.1) - 1.0).abs() < 1e-12);
        assert!((lr_at(100, 100, 10, 1.0, 0.1) - 0.1).abs() < 1e-12);
        let mid = lr_at(55, 100, 10, 1.0, 0.1);
        assert!((mid - 0.55).abs() < 1e-12, "{mid}");
    }
}
