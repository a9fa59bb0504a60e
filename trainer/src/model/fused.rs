//! Fused CPU kernels with their own backward passes, for what [`super::ops`] composes from
//! primitives: frozen projections, RMSNorm, RoPE, the causal softmax, SiLU·mul and the output
//! projection fused with cross-entropy.
//!
//! candle's own fused kernels record no gradient (DESIGN §5), and its composed ops keep every
//! intermediate alive and compute gradients for frozen weights too (a matmul's backward fills
//! both sides). These are candle custom ops whose `bwd` returns only what training needs: the
//! gradient of the activation, never of a frozen weight. Each is tested against the composed
//! version in [`super::ops`]; they run in f32 or f64 (other dtypes fall back to the composed ops).
//! Without a variable upstream (evaluation) no backward state is kept.

use std::sync::{Arc, Mutex};

use candle_core::backend::BackendStorage;
use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, DType, Device, Error, Layout, Shape, Tensor, WithDType,
};
use rayon::prelude::*;

use super::gemm::{matmul_into, Mat};
use super::ops::Rope;
use crate::config::RopeLayout;
use crate::error::{Result, TrainerError};

type CResult<T> = candle_core::Result<T>;

/// Rows handed to one rayon task at a time (keeps task overhead small on short rows).
const MIN_ROWS_PER_TASK: usize = 8;

/// Rows of the output projection computed at once by [`linear_cross_entropy`]: the logits held
/// at any time are `LOGIT_CHUNK_ROWS × vocab` instead of `batch × seq × vocab`.
pub const LOGIT_CHUNK_ROWS: usize = 256;

/// Floating-point element types the kernels run in.
pub(super) trait Real: WithDType + Send + Sync {
    /// Largest value of a softmax row.
    fn row_max(row: &[Self]) -> f64;
    /// `Σ exp(v − max)` over a row, replacing each value by its exponential when `store`.
    fn exp_sum(row: &mut [Self], max: f64, store: bool) -> f64;
    /// `out = silu(g) · u` elementwise.
    fn silu_mul(g: &[Self], u: &[Self], out: &mut [Self]);
    /// Gradients of `silu(g) · u` for the upstream gradient `d`.
    fn silu_mul_bwd(g: &[Self], u: &[Self], d: &[Self], dg: &mut [Self], du: &mut [Self]);
}

impl Real for f32 {
    fn row_max(row: &[f32]) -> f64 {
        super::rowexp::max_f32(row) as f64
    }

    fn exp_sum(row: &mut [f32], max: f64, store: bool) -> f64 {
        super::rowexp::exp_sum_f32(row, max as f32, store)
    }

    fn silu_mul(g: &[f32], u: &[f32], out: &mut [f32]) {
        super::rowexp::silu_mul_f32(g, u, out)
    }

    fn silu_mul_bwd(g: &[f32], u: &[f32], d: &[f32], dg: &mut [f32], du: &mut [f32]) {
        super::rowexp::silu_mul_bwd_f32(g, u, d, dg, du)
    }
}

impl Real for f64 {
    fn row_max(row: &[f64]) -> f64 {
        row.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    }

    fn exp_sum(row: &mut [f64], max: f64, store: bool) -> f64 {
        let mut sum = 0.0;
        for z in row.iter_mut() {
            let e = (*z - max).exp();
            sum += e;
            if store {
                *z = e;
            }
        }
        sum
    }

    fn silu_mul(g: &[f64], u: &[f64], out: &mut [f64]) {
        for ((o, &g), &u) in out.iter_mut().zip(g).zip(u) {
            *o = g * sigmoid(g) * u;
        }
    }

    fn silu_mul_bwd(g: &[f64], u: &[f64], d: &[f64], dg: &mut [f64], du: &mut [f64]) {
        for (((dg, du), &g), (&u, &d)) in dg.iter_mut().zip(du).zip(g).zip(u.iter().zip(d)) {
            let s = sigmoid(g);
            *dg = d * u * s * (1.0 + g * (1.0 - s));
            *du = d * g * s;
        }
    }
}

/// Whether the fused kernels handle `dtype`.
pub fn supported(dtype: DType) -> bool {
    matches!(dtype, DType::F32 | DType::F64)
}

pub(super) fn unsupported(op: &str, dtype: DType) -> Error {
    Error::Msg(format!(
        "{op}: fused kernels run in f32 or f64, not {dtype:?}"
    ))
}

/// The contiguous slice of `storage` that `layout` describes.
pub(super) fn slice<'a, T: Real>(
    storage: &'a CpuStorage,
    layout: &Layout,
    op: &str,
) -> CResult<&'a [T]> {
    let data = T::cpu_storage_as_slice(storage)?;
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| Error::Msg(format!("{op}: input must be contiguous")))?;
    Ok(&data[start..end])
}

/// The contiguous CPU slice behind a tensor's storage.
pub(super) fn cpu_slice<'a, T: Real>(
    storage: &'a candle_core::Storage,
    layout: &Layout,
    op: &str,
) -> CResult<&'a [T]> {
    match storage {
        candle_core::Storage::Cpu(c) => slice::<T>(c, layout, op),
        _ => Err(Error::Msg(format!("{op}: tensor is not on the CPU"))),
    }
}

fn last_dim(shape: &Shape, op: &str) -> CResult<usize> {
    match shape.dims().last() {
        Some(&d) if d > 0 => Ok(d),
        _ => Err(Error::Msg(format!("{op}: input has no last dimension"))),
    }
}

// ---------------------------------------------------------------------------------------------
// Frozen projection.

/// `x · Wᵀ` for a frozen weight `W` (out, in); backward gives `dy · W` and nothing for `W`.
struct FrozenLinear {
    w: Tensor,
}

impl FrozenLinear {
    /// `x · Wᵀ` for `x` (n × k), written straight into the result.
    fn fwd<T: Real>(&self, x: &[T], n: usize, k: usize) -> CResult<Vec<T>> {
        let (out, w_in) = self.w.dims2()?;
        if w_in != k {
            return Err(Error::Msg(format!(
                "frozen-linear: input has {k} features, the weight expects {w_in}"
            )));
        }
        let (storage, layout) = self.w.storage_and_layout();
        let w = cpu_slice::<T>(&storage, layout, "frozen-linear")?;
        let mut y = vec![T::zero(); n * out];
        matmul_into(&mut y, Mat::rows(x, n, k), Mat::rows(w, out, k).t(), false)?;
        Ok(y)
    }

    /// `dy · W` for `dy` (n × out), written straight into the input gradient.
    fn bwd_t<T: Real>(&self, grad: &Tensor) -> CResult<Tensor> {
        let (n, out) = grad.dims2()?;
        let (w_out, k) = self.w.dims2()?;
        if w_out != out {
            return Err(Error::Msg(format!(
                "frozen-linear: gradient has {out} features, the weight gives {w_out}"
            )));
        }
        let (g_storage, g_layout) = grad.storage_and_layout();
        let g = cpu_slice::<T>(&g_storage, g_layout, "frozen-linear")?;
        let (w_storage, w_layout) = self.w.storage_and_layout();
        let w = cpu_slice::<T>(&w_storage, w_layout, "frozen-linear")?;
        let mut dx = vec![T::zero(); n * k];
        matmul_into(&mut dx, Mat::rows(g, n, out), Mat::rows(w, out, k), false)?;
        Tensor::from_vec(dx, (n, k), grad.device())
    }
}

impl CustomOp1 for FrozenLinear {
    fn name(&self) -> &'static str {
        "frozen-linear"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> CResult<(CpuStorage, Shape)> {
        let (n, k) = layout.shape().dims2()?;
        let out = self.w.dim(0)?;
        let y = match storage.dtype() {
            DType::F32 => f32::to_cpu_storage_owned(self.fwd(
                slice::<f32>(storage, layout, self.name())?,
                n,
                k,
            )?),
            DType::F64 => f64::to_cpu_storage_owned(self.fwd(
                slice::<f64>(storage, layout, self.name())?,
                n,
                k,
            )?),
            d => return Err(unsupported(self.name(), d)),
        };
        Ok((y, Shape::from((n, out))))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> CResult<Option<Tensor>> {
        let grad = grad.contiguous()?;
        Ok(Some(match grad.dtype() {
            DType::F32 => self.bwd_t::<f32>(&grad)?,
            DType::F64 => self.bwd_t::<f64>(&grad)?,
            d => return Err(unsupported(self.name(), d)),
        }))
    }
}

/// `x · Wᵀ` (x is (..., in), `w` is (out, in)); no gradient is computed for a frozen `w`. A
/// trainable `w` (pretraining makes every base weight a `Var`) takes candle's matmul, whose
/// backward covers both sides.
pub fn linear(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let mut out_dims = x.dims().to_vec();
    let fan_in = out_dims.pop().unwrap_or(1);
    let (fan_out, w_in) = w.dims2()?;
    if fan_in != w_in {
        return Err(TrainerError::Mismatch(format!(
            "projection input has {fan_in} features, the weight expects {w_in}"
        )));
    }
    out_dims.push(fan_out);
    let x2 = x.reshape(((), fan_in))?;
    let y = if x.track_op() && !w.track_op() && supported(x.dtype()) {
        x2.contiguous()?
            .apply_op1(FrozenLinear { w: w.contiguous()? })?
    } else {
        x2.matmul(&w.t()?)?
    };
    Ok(y.reshape(out_dims)?)
}

// ---------------------------------------------------------------------------------------------
// RMSNorm with a frozen scale.

struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    fn fwd<T: Real>(&self, x: &[T], h: usize) -> CResult<Vec<T>> {
        with_slice::<T, _>(&self.weight, "rms-norm", |w| self.fwd_with(x, w, h))
    }

    fn fwd_with<T: Real>(&self, x: &[T], w: &[T], h: usize) -> CResult<Vec<T>> {
        let mut out = vec![T::from_f64(0.0); x.len()];
        out.par_chunks_mut(h)
            .zip(x.par_chunks(h))
            .with_min_len(MIN_ROWS_PER_TASK)
            .for_each(|(o, xr)| {
                let r = inv_rms(xr, self.eps);
                for ((o, &xv), &wv) in o.iter_mut().zip(xr).zip(w) {
                    *o = T::from_f64(xv.to_f64() * r) * wv;
                }
            });
        Ok(out)
    }

    fn bwd_t<T: Real>(&self, x: &Tensor, grad: &Tensor) -> CResult<Tensor> {
        let h = last_dim(x.shape(), "rms-norm")?;
        let dx = with_slice::<T, _>(x, "rms-norm", |xs| {
            with_slice::<T, _>(grad, "rms-norm", |gs| {
                with_slice::<T, _>(&self.weight, "rms-norm", |w| Ok(self.dx(xs, gs, w, h)))
            })
        })?;
        Tensor::from_vec(dx, x.shape(), x.device())
    }

    /// The input gradient of rows `xs` for the output gradient `gs`.
    fn dx<T: Real>(&self, xs: &[T], gs: &[T], w: &[T], h: usize) -> Vec<T> {
        let mut dx = vec![T::from_f64(0.0); xs.len()];
        dx.par_chunks_mut(h)
            .zip(xs.par_chunks(h).zip(gs.par_chunks(h)))
            .with_min_len(MIN_ROWS_PER_TASK)
            .for_each(|(d, (xr, gr))| {
                let r = inv_rms(xr, self.eps);
                // dy/dx_j = r·w_j·g_j − x_j·r³/h · Σ_i w_i·g_i·x_i
                let s: f64 = xr
                    .iter()
                    .zip(gr)
                    .zip(w)
                    .map(|((x, g), w)| x.to_f64() * g.to_f64() * w.to_f64())
                    .sum();
                let c = r * r * r * s / h as f64;
                for (((d, x), g), w) in d.iter_mut().zip(xr).zip(gr).zip(w) {
                    *d = T::from_f64(r * w.to_f64() * g.to_f64() - x.to_f64() * c);
                }
            });
        dx
    }
}

fn inv_rms<T: Real>(row: &[T], eps: f64) -> f64 {
    let ms = row.iter().map(|v| v.to_f64() * v.to_f64()).sum::<f64>() / row.len() as f64;
    1.0 / (ms + eps).sqrt()
}

impl CustomOp1 for RmsNorm {
    fn name(&self) -> &'static str {
        "rms-norm"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> CResult<(CpuStorage, Shape)> {
        let h = last_dim(layout.shape(), self.name())?;
        let out = match storage.dtype() {
            DType::F32 => {
                f32::to_cpu_storage_owned(self.fwd(slice::<f32>(storage, layout, self.name())?, h)?)
            }
            DType::F64 => {
                f64::to_cpu_storage_owned(self.fwd(slice::<f64>(storage, layout, self.name())?, h)?)
            }
            d => return Err(unsupported(self.name(), d)),
        };
        Ok((out, layout.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> CResult<Option<Tensor>> {
        Ok(Some(match arg.dtype() {
            DType::F32 => self.bwd_t::<f32>(arg, grad)?,
            DType::F64 => self.bwd_t::<f64>(arg, grad)?,
            d => return Err(unsupported(self.name(), d)),
        }))
    }
}

/// Root-mean-square normalisation over the last dimension, scaled by `weight` (a trainable
/// `weight` takes the composed op, which gives it a gradient).
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    if !supported(x.dtype()) || weight.track_op() {
        return super::ops::rms_norm(x, weight, eps);
    }
    Ok(x.contiguous()?.apply_op1(RmsNorm {
        weight: weight.clone(),
        eps,
    })?)
}

// ---------------------------------------------------------------------------------------------
// SiLU(gate) · up.

struct SiluMul;

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Elements handed to one rayon task at a time by the element-wise kernels.
const ELEMS_PER_TASK: usize = 4096;

impl SiluMul {
    fn fwd<T: Real>(g: &[T], u: &[T]) -> Vec<T> {
        let mut out = vec![T::zero(); g.len()];
        out.par_chunks_mut(ELEMS_PER_TASK)
            .zip(
                g.par_chunks(ELEMS_PER_TASK)
                    .zip(u.par_chunks(ELEMS_PER_TASK)),
            )
            .for_each(|(o, (g, u))| T::silu_mul(g, u, o));
        out
    }

    fn bwd_t<T: Real>(gate: &Tensor, up: &Tensor, grad: &Tensor) -> CResult<(Tensor, Tensor)> {
        let (dg, du) = with_slice::<T, _>(gate, "silu-mul", |g| {
            with_slice::<T, _>(up, "silu-mul", |u| {
                with_slice::<T, _>(grad, "silu-mul", |d| {
                    let mut dg = vec![T::zero(); g.len()];
                    let mut du = vec![T::zero(); g.len()];
                    let e = ELEMS_PER_TASK;
                    dg.par_chunks_mut(e)
                        .zip(du.par_chunks_mut(e))
                        .zip(g.par_chunks(e).zip(u.par_chunks(e)).zip(d.par_chunks(e)))
                        .for_each(|((dg, du), ((g, u), d))| T::silu_mul_bwd(g, u, d, dg, du));
                    Ok((dg, du))
                })
            })
        })?;
        Ok((
            Tensor::from_vec(dg, gate.shape(), gate.device())?,
            Tensor::from_vec(du, up.shape(), up.device())?,
        ))
    }
}

impl CustomOp2 for SiluMul {
    fn name(&self) -> &'static str {
        "silu-mul"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        if l1.shape() != l2.shape() {
            return Err(Error::Msg(format!(
                "silu-mul: gate {:?} and up {:?} differ in shape",
                l1.shape(),
                l2.shape()
            )));
        }
        let out = match s1.dtype() {
            DType::F32 => f32::to_cpu_storage_owned(Self::fwd(
                slice::<f32>(s1, l1, self.name())?,
                slice::<f32>(s2, l2, self.name())?,
            )),
            DType::F64 => f64::to_cpu_storage_owned(Self::fwd(
                slice::<f64>(s1, l1, self.name())?,
                slice::<f64>(s2, l2, self.name())?,
            )),
            d => return Err(unsupported(self.name(), d)),
        };
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        gate: &Tensor,
        up: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> CResult<(Option<Tensor>, Option<Tensor>)> {
        let (dg, du) = match gate.dtype() {
            DType::F32 => Self::bwd_t::<f32>(gate, up, grad)?,
            DType::F64 => Self::bwd_t::<f64>(gate, up, grad)?,
            d => return Err(unsupported(self.name(), d)),
        };
        Ok((Some(dg), Some(du)))
    }
}

/// `silu(gate) · up`, the SwiGLU activation.
pub fn silu_mul(gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    if !supported(gate.dtype()) {
        return Ok((super::ops::silu(gate)? * up)?);
    }
    Ok(gate.contiguous()?.apply_op2(&up.contiguous()?, SiluMul)?)
}

// ---------------------------------------------------------------------------------------------
// Causal softmax of attention scores.

/// `softmax(scale · s + causal mask)` over the last dimension of (..., T, T) scores.
struct CausalSoftmax {
    scale: f64,
}

impl CausalSoftmax {
    fn fwd<T: Real>(&self, s: &[T], t: usize) -> Vec<T> {
        let mut out = vec![T::from_f64(0.0); s.len()];
        out.par_chunks_mut(t)
            .zip(s.par_chunks(t))
            .enumerate()
            .with_min_len(MIN_ROWS_PER_TASK)
            .for_each(|(row, (o, sr))| {
                let i = row % t;
                let (o, sr) = (&mut o[..=i], &sr[..=i]);
                let scale = T::from_f64(self.scale);
                for (o, &v) in o.iter_mut().zip(sr) {
                    *o = v * scale;
                }
                let max = T::row_max(o);
                let inv = T::from_f64(1.0 / T::exp_sum(o, max, true));
                for o in o.iter_mut() {
                    *o *= inv;
                }
            });
        out
    }

    fn bwd_t<T: Real>(&self, p: &Tensor, grad: &Tensor) -> CResult<Tensor> {
        let t = last_dim(p.shape(), "causal-softmax")?;
        let ds = with_slice::<T, _>(p, "causal-softmax", |ps| {
            with_slice::<T, _>(grad, "causal-softmax", |gs| Ok(self.ds(ps, gs, t)))
        })?;
        Tensor::from_vec(ds, p.shape(), p.device())
    }

    /// The gradient of the scores for probabilities `ps` and their gradient `gs`.
    fn ds<T: Real>(&self, ps: &[T], gs: &[T], t: usize) -> Vec<T> {
        let mut ds = vec![T::from_f64(0.0); ps.len()];
        ds.par_chunks_mut(t)
            .zip(ps.par_chunks(t).zip(gs.par_chunks(t)))
            .enumerate()
            .with_min_len(MIN_ROWS_PER_TASK)
            .for_each(|(row, (d, (pr, gr)))| {
                let i = row % t;
                let dot: f64 = pr[..=i]
                    .iter()
                    .zip(&gr[..=i])
                    .map(|(p, g)| p.to_f64() * g.to_f64())
                    .sum();
                for ((d, p), g) in d[..=i].iter_mut().zip(&pr[..=i]).zip(&gr[..=i]) {
                    *d = T::from_f64(self.scale * p.to_f64() * (g.to_f64() - dot));
                }
            });
        ds
    }
}

impl CustomOp1 for CausalSoftmax {
    fn name(&self) -> &'static str {
        "causal-softmax"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> CResult<(CpuStorage, Shape)> {
        let dims = layout.shape().dims();
        let t = last_dim(layout.shape(), self.name())?;
        if dims.len() < 2 || dims[dims.len() - 2] != t {
            return Err(Error::Msg(format!(
                "causal-softmax: scores must be (..., T, T), got {dims:?}"
            )));
        }
        let out = match storage.dtype() {
            DType::F32 => {
                f32::to_cpu_storage_owned(self.fwd(slice::<f32>(storage, layout, self.name())?, t))
            }
            DType::F64 => {
                f64::to_cpu_storage_owned(self.fwd(slice::<f64>(storage, layout, self.name())?, t))
            }
            d => return Err(unsupported(self.name(), d)),
        };
        Ok((out, layout.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad: &Tensor) -> CResult<Option<Tensor>> {
        Ok(Some(match res.dtype() {
            DType::F32 => self.bwd_t::<f32>(res, grad)?,
            DType::F64 => self.bwd_t::<f64>(res, grad)?,
            d => return Err(unsupported(self.name(), d)),
        }))
    }
}

/// Attention probabilities `softmax(scale · scores + causal mask)` for scores (..., T, T):
/// query `i` attends to keys `0..=i`.
pub fn causal_softmax(scores: &Tensor, scale: f64) -> Result<Tensor> {
    if !supported(scores.dtype()) {
        let t = scores.dim(candle_core::D::Minus1)?;
        let mask = super::ops::causal_mask(t, scores.dtype(), scores.device())?;
        return super::ops::softmax_last(&(scores * scale)?.broadcast_add(&mask)?);
    }
    Ok(scores.contiguous()?.apply_op1(CausalSoftmax { scale })?)
}

// ---------------------------------------------------------------------------------------------
// Rotary position embeddings.

struct RopeOp {
    /// (T, head_dim / 2) for positions `0..T`.
    cos: Tensor,
    sin: Tensor,
    layout: RopeLayout,
}

impl RopeOp {
    /// Rotates every (position, head_dim) row of `x` by `sign ·` its angle.
    fn rotate<T: Real>(&self, x: &[T], t: usize, d: usize, sign: f64) -> CResult<Vec<T>> {
        with_slice::<T, _>(&self.cos, "rope", |cos| {
            with_slice::<T, _>(&self.sin, "rope", |sin| {
                Ok(self.rotate_with(x, cos, sin, t, d, sign))
            })
        })
    }

    fn rotate_with<T: Real>(
        &self,
        x: &[T],
        cos: &[T],
        sin: &[T],
        t: usize,
        d: usize,
        sign: f64,
    ) -> Vec<T> {
        let half = d / 2;
        let layout = self.layout;
        let mut out = vec![T::from_f64(0.0); x.len()];
        out.par_chunks_mut(d)
            .zip(x.par_chunks(d))
            .enumerate()
            .with_min_len(MIN_ROWS_PER_TASK)
            .for_each(|(row, (o, xr))| {
                let p = row % t;
                let (c, s) = (
                    &cos[p * half..(p + 1) * half],
                    &sin[p * half..(p + 1) * half],
                );
                rotate_row(xr, o, c, s, layout, sign);
            });
        out
    }

    fn bwd_t<T: Real>(&self, grad: &Tensor) -> CResult<Tensor> {
        let (_b, _h, t, d) = grad.dims4()?;
        let g = with_slice::<T, _>(grad, "rope", |g| self.rotate(g, t, d, -1.0))?;
        Tensor::from_vec(g, grad.shape(), grad.device())
    }
}

impl CustomOp1 for RopeOp {
    fn name(&self) -> &'static str {
        "rope"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> CResult<(CpuStorage, Shape)> {
        let (_b, _h, t, d) = layout.shape().dims4()?;
        let out = match storage.dtype() {
            DType::F32 => f32::to_cpu_storage_owned(self.rotate(
                slice::<f32>(storage, layout, self.name())?,
                t,
                d,
                1.0,
            )?),
            DType::F64 => f64::to_cpu_storage_owned(self.rotate(
                slice::<f64>(storage, layout, self.name())?,
                t,
                d,
                1.0,
            )?),
            dt => return Err(unsupported(self.name(), dt)),
        };
        Ok((out, layout.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> CResult<Option<Tensor>> {
        // The rotation is orthogonal: its transpose rotates by the opposite angle.
        Ok(Some(match grad.dtype() {
            DType::F32 => self.bwd_t::<f32>(grad)?,
            DType::F64 => self.bwd_t::<f64>(grad)?,
            d => return Err(unsupported(self.name(), d)),
        }))
    }
}

/// Rotates `x` (B, H, T, head_dim) for positions `0..T` with `rope`'s tables and layout.
pub fn rope(x: &Tensor, rope: &Rope) -> Result<Tensor> {
    if !supported(x.dtype()) {
        return rope.apply(x);
    }
    let (_b, _h, t, d) = x.dims4()?;
    if d % 2 != 0 {
        return Err(TrainerError::Config(format!(
            "head dimension {d} must be even for rotary embeddings"
        )));
    }
    let (cos, sin, layout) = rope.tables(t)?;
    Ok(x.contiguous()?.apply_op1(RopeOp { cos, sin, layout })?)
}

// ---------------------------------------------------------------------------------------------
// Output projection fused with cross-entropy.

/// Mean cross-entropy of `x · headᵀ` against `targets`, computed `LOGIT_CHUNK_ROWS` rows at a
/// time. When `x` needs a gradient, `dx` is computed chunk by chunk in the same pass and kept
/// (N × hidden, small) for the backward pass; the logits are never kept.
struct LinearCrossEntropy {
    head: Tensor,
    targets: Arc<Vec<u32>>,
    want_grad: bool,
    dx: Mutex<Option<Tensor>>,
}

impl LinearCrossEntropy {
    fn fwd<T: Real>(&self, x: &[T], n: usize, h: usize) -> CResult<f64> {
        let v = self.head.dim(0)?;
        let (storage, layout) = self.head.storage_and_layout();
        let head = cpu_slice::<T>(&storage, layout, "linear-cross-entropy")?;
        let inv_n = 1.0 / n as f64;
        let mut total = 0.0;
        // One logits buffer for every chunk, and the input gradient written in place.
        let mut buf = vec![T::zero(); LOGIT_CHUNK_ROWS.min(n) * v];
        let mut dx = vec![T::zero(); if self.want_grad { n * h } else { 0 }];
        for r0 in (0..n).step_by(LOGIT_CHUNK_ROWS) {
            let c = LOGIT_CHUNK_ROWS.min(n - r0);
            let logits = &mut buf[..c * v];
            matmul_into(
                logits,
                Mat::rows(&x[r0 * h..(r0 + c) * h], c, h),
                Mat::rows(head, v, h).t(),
                false,
            )?;
            let targets = &self.targets[r0..r0 + c];
            let want_grad = self.want_grad;
            let losses: Vec<f64> = logits
                .par_chunks_mut(v)
                .zip(targets.par_iter())
                .map(|(row, &tgt)| {
                    let tgt = tgt as usize;
                    let picked = row[tgt].to_f64();
                    let max = T::row_max(row);
                    let sum = T::exp_sum(row, max, want_grad);
                    if want_grad {
                        // d loss / d logit = (softmax − onehot) / N
                        let k = T::from_f64(inv_n / sum);
                        for z in row.iter_mut() {
                            *z *= k;
                        }
                        row[tgt] = T::from_f64(row[tgt].to_f64() - inv_n);
                    }
                    max + sum.ln() - picked
                })
                .collect();
            total += losses.iter().sum::<f64>();
            if want_grad {
                matmul_into(
                    &mut dx[r0 * h..(r0 + c) * h],
                    Mat::rows(logits, c, v),
                    Mat::rows(head, v, h),
                    false,
                )?;
            }
        }
        if self.want_grad {
            let t = Tensor::from_vec(dx, (n, h), &Device::Cpu)?;
            *self
                .dx
                .lock()
                .map_err(|_| Error::Msg("linear-cross-entropy: state lock poisoned".into()))? =
                Some(t);
        }
        Ok(total * inv_n)
    }
}

impl CustomOp1 for LinearCrossEntropy {
    fn name(&self) -> &'static str {
        "linear-cross-entropy"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> CResult<(CpuStorage, Shape)> {
        let (n, h) = layout.shape().dims2()?;
        let out = match storage.dtype() {
            DType::F32 => {
                let l = self.fwd(slice::<f32>(storage, layout, self.name())?, n, h)?;
                f32::to_cpu_storage_owned(vec![l as f32])
            }
            DType::F64 => {
                let l = self.fwd(slice::<f64>(storage, layout, self.name())?, n, h)?;
                f64::to_cpu_storage_owned(vec![l])
            }
            d => return Err(unsupported(self.name(), d)),
        };
        Ok((out, Shape::from(())))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> CResult<Option<Tensor>> {
        let dx = self
            .dx
            .lock()
            .map_err(|_| Error::Msg("linear-cross-entropy: state lock poisoned".into()))?
            .clone()
            .ok_or_else(|| Error::Msg("linear-cross-entropy: forward kept no gradient".into()))?;
        Ok(Some(dx.broadcast_mul(&grad.reshape((1, 1))?)?))
    }
}

/// Mean next-token cross-entropy of the logits `x · headᵀ` (x: (N, hidden), head: (vocab,
/// hidden)) against `targets` (N ids), without ever holding the (N, vocab) logits or asking for
/// the head's gradient. A trainable `head` takes the composed path (full logits, both gradients).
pub fn linear_cross_entropy(x: &Tensor, head: &Tensor, targets: &[u32]) -> Result<Tensor> {
    let (n, h) = x.dims2()?;
    let (v, hh) = head.dims2()?;
    if h != hh || targets.len() != n {
        return Err(TrainerError::Mismatch(format!(
            "cross-entropy of {n} rows × {h} features against a ({v}, {hh}) head and {} targets",
            targets.len()
        )));
    }
    if let Some(bad) = targets.iter().find(|&&t| t as usize >= v) {
        return Err(TrainerError::Data(format!(
            "target token {bad} is outside the vocabulary ({v})"
        )));
    }
    if !supported(x.dtype()) || head.track_op() {
        let logits = x.matmul(&head.t()?)?;
        let t = Tensor::from_slice(targets, n, x.device())?;
        return super::ops::cross_entropy(&logits, &t);
    }
    let op = LinearCrossEntropy {
        head: head.contiguous()?,
        targets: Arc::new(targets.to_vec()),
        want_grad: x.track_op(),
        dx: Mutex::new(None),
    };
    Ok(x.contiguous()?.apply_op1(op)?)
}

// ---------------------------------------------------------------------------------------------
// Shared helpers of the backward passes.

/// Runs `f` on the elements of `t` in row-major order, read in place from its CPU storage (one
/// copy only when `t` is not contiguous).
fn with_slice<T: Real, R>(t: &Tensor, op: &str, f: impl FnOnce(&[T]) -> CResult<R>) -> CResult<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    f(cpu_slice::<T>(&storage, layout, op)?)
}

/// Rotates one head row `x` (`head_dim` values at one position, whose angles have the cosines
/// `cos` and sines `sin`, `head_dim / 2` each) by `sign ·` its angles into `out`.
#[inline]
pub(super) fn rotate_row<T: Real>(
    x: &[T],
    out: &mut [T],
    cos: &[T],
    sin: &[T],
    layout: RopeLayout,
    sign: f64,
) {
    let half = cos.len();
    for j in 0..half {
        let (cj, sj) = (cos[j].to_f64(), sign * sin[j].to_f64());
        let (a, b) = match layout {
            RopeLayout::SplitHalf => (j, j + half),
            RopeLayout::Interleaved => (2 * j, 2 * j + 1),
        };
        let (x1, x2) = (x[a].to_f64(), x[b].to_f64());
        out[a] = T::from_f64(x1 * cj - x2 * sj);
        out[b] = T::from_f64(x2 * cj + x1 * sj);
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use candle_core::{backprop::GradStore, Var, D};

    /// Gradients of `Σ y ⊙ w`: a random `w` makes every output element's gradient matter.
    pub(in crate::model) fn weighted_backward(y: Tensor, w: &Tensor) -> GradStore {
        (y * w)
            .and_then(|t| t.sum_all())
            .and_then(|t| t.backward())
            .expect("backward")
    }

    fn rand(shape: &[usize], seed: u64) -> Tensor {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).expect("shape matches")
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        (a - b)
            .and_then(|d| d.abs())
            .and_then(|d| d.flatten_all())
            .and_then(|d| d.max(0))
            .and_then(|d| d.to_dtype(DType::F64))
            .and_then(|d| d.to_scalar::<f64>())
            .expect("same shapes")
    }

    /// Checks value and input gradient of `fused` against `composed` on `x`, weighting the
    /// output by a random tensor so every output element's gradient matters.
    fn check(
        x: &Tensor,
        fused: impl Fn(&Tensor) -> Result<Tensor>,
        composed: impl Fn(&Tensor) -> Result<Tensor>,
    ) {
        let var = Var::from_tensor(x).expect("var");
        let yf = fused(var.as_tensor()).expect("fused forward");
        let yc = composed(var.as_tensor()).expect("composed forward");
        assert_eq!(yf.dims(), yc.dims());
        assert!(
            max_diff(&yf, &yc) < 1e-10,
            "values differ: {}",
            max_diff(&yf, &yc)
        );
        let w = rand(yf.dims(), 99);
        let gf = weighted_backward(yf, &w);
        let gc = weighted_backward(yc, &w);
        let (gf, gc) = (
            gf.get(var.as_tensor()).expect("fused gradient"),
            gc.get(var.as_tensor()).expect("composed gradient"),
        );
        assert!(
            max_diff(gf, gc) < 1e-10,
            "gradients differ: {}",
            max_diff(gf, gc)
        );
        assert!(
            max_diff(gf, &gf.zeros_like().expect("zeros")) > 0.0,
            "gradient is zero"
        );
    }

    #[test]
    fn frozen_linear_matches_matmul() {
        let w = rand(&[5, 7], 1);
        check(
            &rand(&[2, 3, 7], 2),
            |x| linear(x, &w),
            |x| Ok(x.broadcast_matmul(&w.t()?)?),
        );
    }

    #[test]
    fn trainable_weights_still_get_their_gradients() {
        let w = Var::from_tensor(&rand(&[5, 7], 1)).expect("var");
        let x = Var::from_tensor(&rand(&[3, 7], 2)).expect("var");
        let y = linear(x.as_tensor(), w.as_tensor()).expect("linear");
        let g = y.sum_all().and_then(|l| l.backward()).expect("backward");
        assert!(g.get(w.as_tensor()).is_some() && g.get(x.as_tensor()).is_some());
        let scale = Var::from_tensor(&rand(&[7], 3)).expect("var");
        let y = rms_norm(x.as_tensor(), scale.as_tensor(), 1e-6).expect("norm");
        let g = y.sum_all().and_then(|l| l.backward()).expect("backward");
        assert!(g.get(scale.as_tensor()).is_some());
        let l = linear_cross_entropy(x.as_tensor(), w.as_tensor(), &[0, 1, 4]).expect("loss");
        let g = l.backward().expect("backward");
        assert!(g.get(w.as_tensor()).is_some());
    }

    #[test]
    fn rms_norm_matches_the_composed_op() {
        let w = rand(&[16], 3);
        check(
            &rand(&[2, 3, 16], 4),
            |x| rms_norm(x, &w, 1e-5),
            |x| super::super::ops::rms_norm(x, &w, 1e-5),
        );
    }

    #[test]
    fn silu_mul_matches_the_composed_op_in_both_inputs() {
        let up = rand(&[3, 10], 5);
        let gate = rand(&[3, 10], 6);
        check(
            &gate,
            |g| silu_mul(g, &up),
            |g| Ok((super::super::ops::silu(g)? * &up)?),
        );
        check(
            &up,
            |u| silu_mul(&gate, u),
            |u| Ok((super::super::ops::silu(&gate)? * u)?),
        );
    }

    #[test]
    fn causal_softmax_matches_masked_softmax() {
        let composed = |s: &Tensor| -> Result<Tensor> {
            let t = s.dim(D::Minus1)?;
            let mask = super::super::ops::causal_mask(t, s.dtype(), s.device())?;
            super::super::ops::softmax_last(&(s * 0.3)?.broadcast_add(&mask)?)
        };
        check(
            &rand(&[2, 3, 6, 6], 7),
            |s| causal_softmax(s, 0.3),
            composed,
        );
    }

    #[test]
    fn rope_matches_the_composed_op_in_both_layouts() {
        for layout in [RopeLayout::SplitHalf, RopeLayout::Interleaved] {
            let r = Rope::new(8, 16, 10000.0, layout, DType::F64, &Device::Cpu).expect("rope");
            check(&rand(&[2, 3, 5, 8], 8), |x| rope(x, &r), |x| r.apply(x));
        }
    }

    #[test]
    fn linear_cross_entropy_matches_logits_then_cross_entropy() {
        let head = rand(&[11, 6], 9);
        let n = LOGIT_CHUNK_ROWS + 5; // two chunks, the second partial
        let targets: Vec<u32> = (0..n as u32).map(|i| (i * 7) % 11).collect();
        let t = Tensor::from_slice(&targets, n, &Device::Cpu).expect("targets");
        check(
            &rand(&[n, 6], 10),
            |x| linear_cross_entropy(x, &head, &targets),
            |x| super::super::ops::cross_entropy(&x.matmul(&head.t()?)?, &t),
        );
        assert!(matches!(
            linear_cross_entropy(&rand(&[1, 6], 1), &head, &[11]),
            Err(TrainerError::Data(_))
        ));
    }

    #[test]
    fn evaluation_without_variables_keeps_no_backward_state() {
        let head = rand(&[11, 6], 9);
        let loss = linear_cross_entropy(&rand(&[4, 6], 2), &head, &[1, 2, 3, 4]).expect("loss");
        assert!(!loss.track_op());
        let y = rms_norm(&rand(&[4, 6], 3), &rand(&[6], 4), 1e-6).expect("norm");
        assert!(!y.track_op());
    }
}
