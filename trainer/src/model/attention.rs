//! Fused causal grouped-query attention with rotary embeddings, and its backward pass.
//!
//! The composed attention ([`super::ops`] and candle primitives) transposes the projections to
//! (B, H, T, head_dim) with copies, repeats every key/value head for the query heads that share
//! it (`repeat_kv`, two more copies), transposes the keys once more, and candle's batched matmul
//! and its backward allocate a tensor per product. Here one custom op takes the query, key and
//! value projections as they come out of the linear layers (one row of heads · head_dim per
//! token), rotates queries and keys while packing them head by head, and runs each head's
//! products (two forward, four backward) through [`matmul_into`] on (transposed) views of
//! buffers it owns, one rayon task per head: query head `h` reads kv head
//! `h / (H / H_kv)` in place. The backward pass sums the key and value gradients over the query
//! heads of a group and rotates the query and key gradients back. What backward needs (rotated
//! queries and keys, values, the probabilities) is kept only when an input tracks a gradient,
//! and released by the backward pass (a second backward through the same graph is an error).
//!
//! Numerics are those of the composed fused path: scores `q·kᵀ`, `softmax(scale · s)` over keys
//! `0..=i` through the same row kernels ([`Real::row_max`], [`Real::exp_sum`]), then `p·v`.

use std::sync::Mutex;

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, DType, Error, Layout, Shape, Tensor, WithDType};
use rayon::prelude::*;

use super::fused::{cpu_slice, rotate_row, slice, unsupported, Real};
use super::gemm::{matmul_into, Mat};
use super::ops::Rope;
use crate::config::RopeLayout;
use crate::error::{Result, TrainerError};

type CResult<T> = candle_core::Result<T>;

const NAME: &str = "causal-gqa-attention";

/// Shapes of one attention call.
#[derive(Debug, Clone, Copy)]
struct Dims {
    b: usize,
    t: usize,
    /// Query heads.
    nh: usize,
    /// Key/value heads (divides `nh`).
    nkv: usize,
    /// Head dimension (even).
    hd: usize,
}

impl Dims {
    /// Query heads per key/value head.
    fn group(&self) -> usize {
        self.nh / self.nkv
    }
}

/// What the backward pass reads, in the forward's element type.
struct Saved {
    /// Rotated queries, head-major (B, nh, T, hd).
    q: CpuStorage,
    /// Rotated keys, (B, nkv, T, hd).
    k: CpuStorage,
    /// Values, (B, nkv, T, hd).
    v: CpuStorage,
    /// Attention probabilities (B, nh, T, T), zero above the diagonal.
    p: CpuStorage,
}

struct CausalGqa {
    dims: Dims,
    scale: f64,
    /// (T, hd / 2) tables for positions `0..T`.
    cos: Tensor,
    sin: Tensor,
    layout: RopeLayout,
    want_grad: bool,
    saved: Mutex<Option<Saved>>,
}

/// Packs `x` (B, T, heads · hd) into head-major (B, heads, T, hd), rotating each row by its
/// position when `rope` holds the tables.
fn pack<T: Real>(x: &[T], d: Dims, heads: usize, rope: Option<(&[T], &[T], RopeLayout)>) -> Vec<T> {
    let (t, hd) = (d.t, d.hd);
    let mut out = vec![T::zero(); x.len()];
    out.par_chunks_mut(t * hd)
        .enumerate()
        .for_each(|(bh, dst)| {
            let (b, h) = (bh / heads, bh % heads);
            for (p, row) in dst.chunks_exact_mut(hd).enumerate() {
                let src = &x[(b * t + p) * heads * hd + h * hd..][..hd];
                match rope {
                    Some((cos, sin, layout)) => {
                        let half = hd / 2;
                        let (c, s) = (&cos[p * half..][..half], &sin[p * half..][..half]);
                        rotate_row(src, row, c, s, layout, 1.0)
                    }
                    None => row.copy_from_slice(src),
                }
            }
        });
    out
}

/// The inverse of [`pack`]: head-major (B, heads, T, hd) back to (B, T, heads · hd), rotating
/// each row back by its position when `rope` holds the tables (the rotation is orthogonal, so
/// its transpose is the rotation by the opposite angle).
fn unpack<T: Real>(
    x: &[T],
    d: Dims,
    heads: usize,
    rope: Option<(&[T], &[T], RopeLayout)>,
) -> Vec<T> {
    let (t, hd) = (d.t, d.hd);
    let mut out = vec![T::zero(); x.len()];
    out.par_chunks_mut(heads * hd)
        .enumerate()
        .with_min_len(8)
        .for_each(|(bt, dst)| {
            let (b, p) = (bt / t, bt % t);
            for (h, row) in dst.chunks_exact_mut(hd).enumerate() {
                let src = &x[((b * heads + h) * t + p) * hd..][..hd];
                match rope {
                    Some((cos, sin, layout)) => {
                        let half = hd / 2;
                        let (c, s) = (&cos[p * half..][..half], &sin[p * half..][..half]);
                        rotate_row(src, row, c, s, layout, -1.0)
                    }
                    None => row.copy_from_slice(src),
                }
            }
        });
    out
}

impl CausalGqa {
    fn tables<'a, T: Real>(
        cos: &'a candle_core::Storage,
        cl: &Layout,
        sin: &'a candle_core::Storage,
        sl: &Layout,
    ) -> CResult<(&'a [T], &'a [T])> {
        Ok((
            cpu_slice::<T>(cos, cl, NAME)?,
            cpu_slice::<T>(sin, sl, NAME)?,
        ))
    }

    fn fwd<T: Real>(&self, q: &[T], k: &[T], v: &[T]) -> CResult<Vec<T>> {
        let d = self.dims;
        let (t, hd, nh, nkv, rep) = (d.t, d.hd, d.nh, d.nkv, d.group());
        let (cs, cl) = self.cos.storage_and_layout();
        let (ss, sl) = self.sin.storage_and_layout();
        let (cos, sin) = Self::tables::<T>(&cs, cl, &ss, sl)?;
        let rope = Some((cos, sin, self.layout));
        let qh = pack(q, d, nh, rope);
        let kh = pack(k, d, nkv, rope);
        let vh = pack(v, d, nkv, None);
        let mut p = vec![T::zero(); d.b * nh * t * t];
        let mut oh = vec![T::zero(); d.b * nh * t * hd];
        let scale = T::from_f64(self.scale);
        p.par_chunks_mut(t * t)
            .zip(oh.par_chunks_mut(t * hd))
            .enumerate()
            .try_for_each(|(bh, (s, o))| -> CResult<()> {
                let (b, h) = (bh / nh, bh % nh);
                let g = b * nkv + h / rep;
                let qs = &qh[bh * t * hd..][..t * hd];
                let ks = &kh[g * t * hd..][..t * hd];
                let vs = &vh[g * t * hd..][..t * hd];
                matmul_into(s, Mat::rows(qs, t, hd), Mat::rows(ks, t, hd).t(), false)?;
                for (i, row) in s.chunks_exact_mut(t).enumerate() {
                    let (live, dead) = row.split_at_mut(i + 1);
                    for z in live.iter_mut() {
                        *z *= scale;
                    }
                    let max = T::row_max(live);
                    let inv = T::from_f64(1.0 / T::exp_sum(live, max, true));
                    for z in live.iter_mut() {
                        *z *= inv;
                    }
                    dead.fill(T::zero());
                }
                matmul_into(o, Mat::rows(s, t, t), Mat::rows(vs, t, hd), false)
            })?;
        let out = unpack(&oh, d, nh, None);
        if self.want_grad {
            *self
                .saved
                .lock()
                .map_err(|_| Error::Msg(format!("{NAME}: state lock poisoned")))? = Some(Saved {
                q: T::to_cpu_storage_owned(qh),
                k: T::to_cpu_storage_owned(kh),
                v: T::to_cpu_storage_owned(vh),
                p: T::to_cpu_storage_owned(p),
            });
        }
        Ok(out)
    }

    /// Gradients of q, k and v (each in its input layout) for the output gradient `go`
    /// (B, T, nh · hd).
    fn bwd_t<T: Real>(&self, saved: &Saved, go: &[T]) -> CResult<(Vec<T>, Vec<T>, Vec<T>)> {
        let d = self.dims;
        let (t, hd, nh, rep) = (d.t, d.hd, d.nh, d.group());
        let qh = T::cpu_storage_as_slice(&saved.q)?;
        let kh = T::cpu_storage_as_slice(&saved.k)?;
        let vh = T::cpu_storage_as_slice(&saved.v)?;
        let p = T::cpu_storage_as_slice(&saved.p)?;
        let goh = pack(go, d, nh, None);
        let mut dqh = vec![T::zero(); qh.len()];
        let mut dkh = vec![T::zero(); kh.len()];
        let mut dvh = vec![T::zero(); vh.len()];
        // One task per (batch, kv head): it owns the gradients of that kv head and of the
        // query heads that read it, so the sums over a group need no synchronisation.
        dqh.par_chunks_mut(rep * t * hd)
            .zip(dkh.par_chunks_mut(t * hd))
            .zip(dvh.par_chunks_mut(t * hd))
            .enumerate()
            .try_for_each(|(g, ((dq, dk), dv))| -> CResult<()> {
                let ks = &kh[g * t * hd..][..t * hd];
                let vs = &vh[g * t * hd..][..t * hd];
                let mut ds = vec![T::zero(); t * t];
                for r in 0..rep {
                    let bh = g * rep + r;
                    let ps = &p[bh * t * t..][..t * t];
                    let qs = &qh[bh * t * hd..][..t * hd];
                    let gos = &goh[bh * t * hd..][..t * hd];
                    let acc = r > 0;
                    // dV += Pᵀ·dO; dP = dO·Vᵀ
                    matmul_into(dv, Mat::rows(ps, t, t).t(), Mat::rows(gos, t, hd), acc)?;
                    matmul_into(
                        &mut ds,
                        Mat::rows(gos, t, hd),
                        Mat::rows(vs, t, hd).t(),
                        false,
                    )?;
                    // dS = scale · P ⊙ (dP − Σ_j P·dP) on keys 0..=i, zero above the diagonal.
                    for (i, (row, pr)) in ds.chunks_exact_mut(t).zip(ps.chunks_exact(t)).enumerate()
                    {
                        let (live, dead) = row.split_at_mut(i + 1);
                        let pr = &pr[..=i];
                        let dot: f64 = live
                            .iter()
                            .zip(pr)
                            .map(|(g, p)| g.to_f64() * p.to_f64())
                            .sum();
                        for (z, p) in live.iter_mut().zip(pr) {
                            *z = T::from_f64(self.scale * p.to_f64() * (z.to_f64() - dot));
                        }
                        dead.fill(T::zero());
                    }
                    // dQ = dS·K; dK += dSᵀ·Q
                    matmul_into(
                        &mut dq[r * t * hd..][..t * hd],
                        Mat::rows(&ds, t, t),
                        Mat::rows(ks, t, hd),
                        false,
                    )?;
                    matmul_into(dk, Mat::rows(&ds, t, t).t(), Mat::rows(qs, t, hd), acc)?;
                }
                Ok(())
            })?;
        let (cs, cl) = self.cos.storage_and_layout();
        let (ss, sl) = self.sin.storage_and_layout();
        let (cos, sin) = Self::tables::<T>(&cs, cl, &ss, sl)?;
        let rope = Some((cos, sin, self.layout));
        Ok((
            unpack(&dqh, d, nh, rope),
            unpack(&dkh, d, d.nkv, rope),
            unpack(&dvh, d, d.nkv, None),
        ))
    }

    fn check(&self, l: &Layout, heads: usize, what: &str) -> CResult<()> {
        let d = self.dims;
        let dims = l.shape().dims();
        if dims.last() != Some(&(heads * d.hd))
            || l.shape().elem_count() != d.b * d.t * heads * d.hd
        {
            return Err(Error::Msg(format!(
                "{NAME}: {what} has shape {dims:?}, expected {} rows of {} features",
                d.b * d.t,
                heads * d.hd
            )));
        }
        Ok(())
    }
}

impl CustomOp3 for CausalGqa {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let d = self.dims;
        self.check(l1, d.nh, "query")?;
        self.check(l2, d.nkv, "key")?;
        self.check(l3, d.nkv, "value")?;
        let out = match s1.dtype() {
            DType::F32 => f32::to_cpu_storage_owned(self.fwd(
                slice::<f32>(s1, l1, NAME)?,
                slice::<f32>(s2, l2, NAME)?,
                slice::<f32>(s3, l3, NAME)?,
            )?),
            DType::F64 => f64::to_cpu_storage_owned(self.fwd(
                slice::<f64>(s1, l1, NAME)?,
                slice::<f64>(s2, l2, NAME)?,
                slice::<f64>(s3, l3, NAME)?,
            )?),
            dt => return Err(unsupported(NAME, dt)),
        };
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> CResult<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let saved = self
            .saved
            .lock()
            .map_err(|_| Error::Msg(format!("{NAME}: state lock poisoned")))?
            .take()
            .ok_or_else(|| {
                Error::Msg(format!(
                    "{NAME}: no saved state for backward (it is released by the first backward \
                     through this graph, to free memory early): run the forward again"
                ))
            })?;
        let grad = grad.contiguous()?;
        let (gs, gl) = grad.storage_and_layout();
        let (dq, dk, dv) = match grad.dtype() {
            DType::F32 => {
                let (a, b, c) = self.bwd_t::<f32>(&saved, cpu_slice::<f32>(&gs, gl, NAME)?)?;
                (
                    Tensor::from_vec(a, q.shape(), q.device())?,
                    Tensor::from_vec(b, k.shape(), k.device())?,
                    Tensor::from_vec(c, v.shape(), v.device())?,
                )
            }
            DType::F64 => {
                let (a, b, c) = self.bwd_t::<f64>(&saved, cpu_slice::<f64>(&gs, gl, NAME)?)?;
                (
                    Tensor::from_vec(a, q.shape(), q.device())?,
                    Tensor::from_vec(b, k.shape(), k.device())?,
                    Tensor::from_vec(c, v.shape(), v.device())?,
                )
            }
            dt => return Err(unsupported(NAME, dt)),
        };
        Ok((Some(dq), Some(dk), Some(dv)))
    }
}

/// Causal grouped-query attention of the projections `q` (B·T, nh · head_dim) or (B, T, nh ·
/// head_dim), `k` and `v` (the same with nkv heads), sequences of `seq_len` positions: queries and
/// keys rotated by `rope` for positions `0..T`, query `i` attending to keys `0..=i` with scores
/// scaled by `1/√head_dim`, query head `h` reading kv head `h / (nh / nkv)`. Returns the shape of
/// `q`, the input of the output projection.
pub fn causal_gqa(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    rope: &Rope,
    heads: usize,
    kv_heads: usize,
    seq_len: usize,
) -> Result<Tensor> {
    let qw = q.dims().last().copied().unwrap_or(0);
    let t = seq_len;
    if heads == 0
        || kv_heads == 0
        || t == 0
        || !heads.is_multiple_of(kv_heads)
        || !qw.is_multiple_of(heads)
    {
        return Err(TrainerError::Config(format!(
            "attention with {heads} query heads and {kv_heads} kv heads over {qw} features, \
             sequences of {t}"
        )));
    }
    let hd = qw / heads;
    if !hd.is_multiple_of(2) {
        return Err(TrainerError::Config(format!(
            "head dimension {hd} must be even for rotary embeddings"
        )));
    }
    let rows = q.elem_count() / qw.max(1);
    if !rows.is_multiple_of(t) {
        return Err(TrainerError::Mismatch(format!(
            "attention over {rows} rows is not a whole number of {t}-token sequences"
        )));
    }
    let b = rows / t;
    for (x, what) in [(k, "key"), (v, "value")] {
        if x.dims().last() != Some(&(kv_heads * hd)) || x.elem_count() != rows * kv_heads * hd {
            return Err(TrainerError::Mismatch(format!(
                "attention {what} has shape {:?}, expected {rows} rows of {} features",
                x.dims(),
                kv_heads * hd
            )));
        }
    }
    if t > rope.max_len() {
        return Err(TrainerError::Config(format!(
            "sequence of {t} tokens is longer than the rotary tables' {} positions",
            rope.max_len()
        )));
    }
    let (cos, sin, layout) = rope.tables(t)?;
    let op = CausalGqa {
        dims: Dims {
            b,
            t,
            nh: heads,
            nkv: kv_heads,
            hd,
        },
        scale: 1.0 / (hd as f64).sqrt(),
        cos: cos.contiguous()?,
        sin: sin.contiguous()?,
        layout,
        want_grad: q.track_op() || k.track_op() || v.track_op(),
        saved: Mutex::new(None),
    };
    Ok(q.contiguous()?
        .apply_op3(&k.contiguous()?, &v.contiguous()?, op)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fused::tests::weighted_backward;
    use candle_core::{Device, Var};

    fn rand(shape: &[usize], seed: u64, dtype: DType) -> Tensor {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
        Tensor::from_vec(v, shape, &Device::Cpu)
            .and_then(|t| t.to_dtype(dtype))
            .expect("shape matches")
    }

    fn max_abs(t: &Tensor) -> f64 {
        t.abs()
            .and_then(|d| d.flatten_all())
            .and_then(|d| d.max(0))
            .and_then(|d| d.to_dtype(DType::F64))
            .and_then(|d| d.to_scalar::<f64>())
            .expect("scalar")
    }

    /// The composed attention the model ran before: transposes, RoPE, `repeat_kv`, masked
    /// softmax and batched matmuls, all from candle primitives.
    fn composed(q: &Tensor, k: &Tensor, v: &Tensor, rope: &Rope, nh: usize, nkv: usize) -> Tensor {
        let (b, t, qw) = q.dims3().expect("q");
        let hd = qw / nh;
        let heads = |x: &Tensor, n: usize| {
            x.reshape((b, t, n, hd))
                .and_then(|x| x.transpose(1, 2))
                .and_then(|x| x.contiguous())
                .expect("heads")
        };
        let repeat = |x: Tensor| {
            x.unsqueeze(2)
                .and_then(|x| x.broadcast_as((b, nkv, nh / nkv, t, hd)))
                .and_then(|x| x.contiguous())
                .and_then(|x| x.reshape((b, nh, t, hd)))
                .expect("repeat")
        };
        let q = rope.apply(&heads(q, nh)).expect("rope q");
        let k = repeat(rope.apply(&heads(k, nkv)).expect("rope k"));
        let v = repeat(heads(v, nkv));
        let mask = crate::model::ops::causal_mask(t, q.dtype(), q.device()).expect("mask");
        let s = q.matmul(&k.t().expect("kt")).expect("scores");
        let s = ((s * (1.0 / (hd as f64).sqrt())).expect("scale"))
            .broadcast_add(&mask)
            .expect("mask");
        let p = crate::model::ops::softmax_last(&s).expect("softmax");
        p.matmul(&v)
            .and_then(|o| o.transpose(1, 2))
            .and_then(|o| o.contiguous())
            .and_then(|o| o.reshape((b, t, nh * hd)))
            .expect("output")
    }

    /// Value and q, k, v gradients against the composed attention, with query heads sharing kv
    /// heads (3 per group) and without (1 per group), in both RoPE layouts: to rounding in f64,
    /// within 1e-5 of the largest magnitude in f32.
    #[test]
    fn fused_attention_matches_the_composed_attention_in_value_and_gradients() {
        for (dtype, tol) in [(DType::F64, 1e-10), (DType::F32, 1e-5)] {
            for (nh, nkv) in [(6, 2), (2, 2)] {
                for layout in [RopeLayout::SplitHalf, RopeLayout::Interleaved] {
                    let (b, t, hd) = (2, 7, 8);
                    let rope =
                        Rope::new(hd, 16, 10000.0, layout, dtype, &Device::Cpu).expect("rope");
                    let q = Var::from_tensor(&rand(&[b, t, nh * hd], 1, dtype)).expect("q");
                    let k = Var::from_tensor(&rand(&[b, t, nkv * hd], 2, dtype)).expect("k");
                    let v = Var::from_tensor(&rand(&[b, t, nkv * hd], 3, dtype)).expect("v");
                    let w = rand(&[b, t, nh * hd], 4, dtype);
                    let of = causal_gqa(
                        q.as_tensor(),
                        k.as_tensor(),
                        v.as_tensor(),
                        &rope,
                        nh,
                        nkv,
                        t,
                    )
                    .expect("fused");
                    let oc = composed(q.as_tensor(), k.as_tensor(), v.as_tensor(), &rope, nh, nkv);
                    let size = max_abs(&oc);
                    let diff = max_abs(&(&of - &oc).expect("diff"));
                    assert!(
                        diff <= tol * size,
                        "{dtype:?} {nh}/{nkv} {layout:?}: {diff}"
                    );
                    let gf = weighted_backward(of, &w);
                    let gc = weighted_backward(oc, &w);
                    for var in [&q, &k, &v] {
                        let a = gf.get(var.as_tensor()).expect("fused gradient");
                        let c = gc.get(var.as_tensor()).expect("composed gradient");
                        let size = max_abs(c);
                        assert!(size > 0.0, "gradient is zero");
                        let diff = max_abs(&(a - c).expect("diff"));
                        assert!(
                            diff <= tol * size,
                            "{dtype:?} {nh}/{nkv} {layout:?}: gradient differs by {diff} (size {size})"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn evaluation_keeps_no_state_and_bad_shapes_are_errors() {
        let rope = Rope::new(
            4,
            8,
            10000.0,
            RopeLayout::SplitHalf,
            DType::F32,
            &Device::Cpu,
        )
        .expect("rope");
        let q = rand(&[1, 3, 8], 1, DType::F32);
        let kv = rand(&[1, 3, 4], 2, DType::F32);
        let o = causal_gqa(&q, &kv, &kv, &rope, 2, 1, 3).expect("attention");
        assert!(!o.track_op());
        assert_eq!(o.dims(), [1, 3, 8]);
        // Flattened rows give the same result in the same shape.
        let flat = |x: &Tensor| x.reshape((3, ())).expect("flat");
        let o2 = causal_gqa(&flat(&q), &flat(&kv), &flat(&kv), &rope, 2, 1, 3).expect("2-D");
        assert_eq!(o2.dims(), [3, 8]);
        assert_eq!(
            max_abs(&(o2.reshape((1, 3, 8)).expect("3-D") - &o).expect("diff")),
            0.0
        );
        // A second backward through the same graph is a plain error (the state is released).
        let qv = Var::from_tensor(&q).expect("var");
        let y = causal_gqa(qv.as_tensor(), &kv, &kv, &rope, 2, 1, 3)
            .and_then(|y| Ok(y.sum_all()?))
            .expect("loss");
        assert!(y.backward().is_ok());
        assert!(y.backward().is_err());
        assert!(causal_gqa(&q, &kv, &kv, &rope, 3, 1, 3).is_err());
        assert!(causal_gqa(&q, &q, &kv, &rope, 2, 1, 3).is_err());
        assert!(causal_gqa(&q, &kv, &kv, &rope, 2, 1, 2).is_err());
        assert!(causal_gqa(&q, &kv, &kv, &rope, 2, 1, 0).is_err());
    }
}
