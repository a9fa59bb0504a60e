//! Differentiable building blocks written from primitive tensor ops.
//!
//! candle's fused kernels (`softmax_last_dim`, `rms_norm`, `rope`, `rope_i`) record no gradient,
//! so training through them would silently cut the graph (DESIGN §5). Every op here is composed
//! from ops that do have a backward pass.

use candle_core::{DType, Device, Tensor, D};

use crate::config::RopeLayout;
use crate::error::Result;

/// Root-mean-square normalisation over the last dimension, scaled by `weight`.
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    let mean_sq = x.sqr()?.mean_keepdim(D::Minus1)?;
    let denom = (mean_sq + eps)?.sqrt()?;
    Ok(x.broadcast_div(&denom)?.broadcast_mul(weight)?)
}

/// `x · sigmoid(x)`.
pub fn silu(x: &Tensor) -> Result<Tensor> {
    let denom = (x.neg()?.exp()? + 1.0)?;
    Ok((x / denom)?)
}

/// Softmax over the last dimension (max-shifted for stability; the shift carries no gradient).
pub fn softmax_last(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&max)?.exp()?;
    let sum = e.sum_keepdim(D::Minus1)?;
    Ok(e.broadcast_div(&sum)?)
}

/// Mean next-token cross-entropy of `logits` (N, V) against `targets` (N) of type u32.
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let max = logits.max_keepdim(D::Minus1)?.detach();
    let shifted = logits.broadcast_sub(&max)?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    let picked = shifted.gather(&targets.unsqueeze(1)?, 1)?;
    Ok((lse - picked)?.mean_all()?)
}

/// Additive causal mask (T, T): 0 on and below the diagonal, -inf above.
pub fn causal_mask(t: usize, dtype: DType, device: &Device) -> Result<Tensor> {
    let mask: Vec<f32> = (0..t)
        .flat_map(|i| (0..t).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Ok(Tensor::from_vec(mask, (t, t), device)?.to_dtype(dtype)?)
}

/// Cosine and sine tables of rotary position embeddings.
#[derive(Debug, Clone)]
pub struct Rope {
    /// (max_len, head_dim / 2)
    cos: Tensor,
    sin: Tensor,
    layout: RopeLayout,
}

impl Rope {
    /// Tables for positions `0..max_len` with base `theta`.
    pub fn new(
        head_dim: usize,
        max_len: usize,
        theta: f64,
        layout: RopeLayout,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        let half = head_dim / 2;
        let inv_freq: Vec<f64> = (0..half)
            .map(|j| 1.0 / theta.powf((2 * j) as f64 / head_dim as f64))
            .collect();
        let mut cos = Vec::with_capacity(max_len * half);
        let mut sin = Vec::with_capacity(max_len * half);
        for p in 0..max_len {
            for f in &inv_freq {
                let angle = p as f64 * f;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        let cos = Tensor::from_vec(cos, (max_len, half), device)?.to_dtype(dtype)?;
        let sin = Tensor::from_vec(sin, (max_len, half), device)?.to_dtype(dtype)?;
        Ok(Self { cos, sin, layout })
    }

    /// The cos and sin tables (T, head_dim / 2) for positions `0..t`, and the layout.
    pub(crate) fn tables(&self, t: usize) -> Result<(Tensor, Tensor, RopeLayout)> {
        Ok((
            self.cos.narrow(0, 0, t)?,
            self.sin.narrow(0, 0, t)?,
            self.layout,
        ))
    }

    /// Longest sequence these tables cover.
    pub fn max_len(&self) -> usize {
        self.cos.dim(0).unwrap_or(0)
    }

    /// Rotates `x` of shape (B, H, T, head_dim) for positions `0..T`.
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let (_b, _h, t, d) = x.dims4()?;
        let half = d / 2;
        let cos = self.cos.narrow(0, 0, t)?;
        let sin = self.sin.narrow(0, 0, t)?;
        match self.layout {
            RopeLayout::SplitHalf => {
                let cos = Tensor::cat(&[&cos, &cos], 1)?;
                let sin = Tensor::cat(&[&sin, &sin], 1)?;
                let x1 = x.narrow(D::Minus1, 0, half)?;
                let x2 = x.narrow(D::Minus1, half, half)?;
                let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
                Ok((x.broadcast_mul(&cos)? + rotated.broadcast_mul(&sin)?)?)
            }
            RopeLayout::Interleaved => {
                let shape = x.shape().clone();
                let pairs = x.reshape(((), t, half, 2))?;
                let even = pairs.narrow(D::Minus1, 0, 1)?;
                let odd = pairs.narrow(D::Minus1, 1, 1)?;
                let cos = cos.unsqueeze(2)?;
                let sin = sin.unsqueeze(2)?;
                let out_even = (even.broadcast_mul(&cos)? - odd.broadcast_mul(&sin)?)?;
                let out_odd = (even.broadcast_mul(&sin)? + odd.broadcast_mul(&cos)?)?;
                Ok(Tensor::cat(&[&out_even, &out_odd], D::Minus1)?.reshape(shape)?)
            }
        }
    }
}
