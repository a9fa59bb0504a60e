//! A packed, cache-blocked f32 product with an AVX-512 microkernel, for CPUs that have
//! AVX-512F (the `gemm` crate's f32 kernels are AVX2-only on stable Rust; AVX-512 doubles the
//! FMA width, and on cores with 512-bit FMA units such as Zen 5 the throughput).
//!
//! Layout (BLIS-style): `C (m × n) += A (m × k) · B (k × n)` is cut into column blocks of
//! [`NC`] and depth panels of `kc ≤` [`KC_MAX`]. For each (column block, depth panel) the
//! threads first pack the `kc × NC` panel of B together (micro-panels of [`NR`] columns, k-major,
//! zero-padded), then split the rows of C: each packs its own `MC × kc` blocks of A (micro-panels
//! of [`MR`] rows, k-major) and runs the `MR × NR` register tile over them.
//!
//! Determinism: every element of C is the sum, in depth-panel order, of one FMA chain per panel
//! (k ascending) started from zero; the threads split only rows of C, never the depth, and the
//! panel cuts depend only on `k`. So the bits do not depend on the number of threads.

use std::arch::x86_64::*;
use std::cell::RefCell;

use super::Mat;

/// Rows of the register tile (broadcast from packed A).
pub(super) const MR: usize = 12;
/// Columns of the register tile (two 16-lane vectors of packed B).
pub(super) const NR: usize = 32;
/// Deepest depth panel (a `kc × NR` micro-panel of B is then ≤ 48 KB, Zen 5's L1D); `k` is
/// cut into equal panels of at most this depth.
const KC_MAX: usize = 384;
/// Rows of A packed at a time per thread (a multiple of `MR`; `MC × kc` ≤ 288 KB, in L2).
const MC: usize = 16 * MR;
/// Columns of B packed at a time (a multiple of `NR`; `kc × NC` ≤ 1.2 MB, in L2/L3).
const NC: usize = 24 * NR;
// Block sizes picked from `speed gemm` runs of 256/384/512 × 8/16/32 × 16…128 on SmolLM2's
// shapes (differences between the good ones were within the noise of a shared machine).

/// Whether this CPU can run the kernel.
pub(super) fn available() -> bool {
    is_x86_feature_detected!("avx512f")
}

thread_local! {
    /// Packing buffers kept between calls (fresh pages cost more than the packing). A call takes
    /// the buffer out while it runs, so a nested call on the same thread gets its own.
    static PACK_A: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static PACK_B: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

fn take(cell: &'static std::thread::LocalKey<RefCell<Vec<f32>>>, len: usize) -> Vec<f32> {
    let mut v = cell.with(|c| std::mem::take(&mut *c.borrow_mut()));
    if v.len() < len {
        v.resize(len, 0.0);
    }
    v
}

fn give_back(cell: &'static std::thread::LocalKey<RefCell<Vec<f32>>>, v: Vec<f32>) {
    cell.with(|c| {
        let mut slot = c.borrow_mut();
        if slot.len() < v.len() {
            *slot = v;
        }
    });
}

/// The output pointer shared by the threads, which write disjoint rows.
#[derive(Clone, Copy)]
struct Out(*mut f32);
// SAFETY: the threads write disjoint row ranges of the buffer behind the pointer (see
// `matmul`), and the buffer outlives them (they are joined before `matmul` returns).
unsafe impl Send for Out {}
unsafe impl Sync for Out {}

impl Out {
    fn at(self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}

/// `dst (m × n, row-major) = a · b`, or `+=` when `accumulate`, on `threads` rayon threads.
///
/// The caller has checked the shapes and bounds (`dst.len() == m·n`, every element of the views
/// inside their slices), that `m, n, k > 0` and that [`available`] holds.
pub(super) fn matmul(
    dst: &mut [f32],
    a: Mat<'_, f32>,
    b: Mat<'_, f32>,
    accumulate: bool,
    threads: usize,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    debug_assert!(m > 0 && n > 0 && k > 0 && dst.len() == m * n && b.rows == k);
    let parts = threads.clamp(1, m.div_ceil(MR));
    if parts > 1 && rayon::current_thread_index().is_none() {
        // Called from outside rayon's pool: run the whole product as one job on the pool, so
        // that its two parallel steps per panel are joined by the workers themselves instead
        // of waking this thread each time.
        rayon::scope(|_| drive(dst, a, b, accumulate, parts));
    } else {
        drive(dst, a, b, accumulate, parts);
    }
}

/// [`matmul`] with the rows of C split into `parts` runs of whole tiles.
fn drive(dst: &mut [f32], a: Mat<'_, f32>, b: Mat<'_, f32>, accumulate: bool, parts: usize) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let panels = k.div_ceil(KC_MAX);
    let kc_max = k.div_ceil(panels);
    let m_tiles = m.div_ceil(MR);
    let out = Out(dst.as_mut_ptr());
    let mut bp = take(&PACK_B, kc_max * NC.min(n.div_ceil(NR) * NR));
    for jc in (0..n).step_by(NC) {
        let nc = NC.min(n - jc);
        let n_tiles = nc.div_ceil(NR);
        for p in 0..panels {
            let pc = p * kc_max;
            let kc = kc_max.min(k - pc);
            let first = p == 0 && !accumulate;
            let bpanel = &mut bp[..n_tiles * kc * NR];
            if parts > 1 {
                use rayon::prelude::*;
                bpanel
                    .par_chunks_mut(kc * NR)
                    .enumerate()
                    .for_each(|(t, dstp)| pack::<NR>(dstp, b, pc, kc, jc + t * NR));
            } else {
                for (t, dstp) in bpanel.chunks_mut(kc * NR).enumerate() {
                    pack::<NR>(dstp, b, pc, kc, jc + t * NR);
                }
            }
            let bpanel = &*bpanel;
            let run = |part: usize| {
                let t0 = m_tiles * part / parts;
                let t1 = m_tiles * (part + 1) / parts;
                let (r0, r1) = (t0 * MR, (t1 * MR).min(m));
                let mut ap = take(&PACK_A, MC.min(r1 - r0).div_ceil(MR) * MR * kc);
                for ic in (r0..r1).step_by(MC) {
                    let mc = MC.min(r1 - ic);
                    let m_sub = mc.div_ceil(MR);
                    let apanel = &mut ap[..m_sub * MR * kc];
                    for (t, dstp) in apanel.chunks_mut(MR * kc).enumerate() {
                        pack::<MR>(dstp, a.t(), pc, kc, ic + t * MR);
                    }
                    for jt in 0..n_tiles {
                        let j = jc + jt * NR;
                        let nr = NR.min(n - j);
                        let bmp = &bpanel[jt * kc * NR..(jt + 1) * kc * NR];
                        for it in 0..m_sub {
                            let i = ic + it * MR;
                            let mr = MR.min(m - i);
                            let amp = &apanel[it * MR * kc..(it + 1) * MR * kc];
                            // SAFETY: the caller checked AVX-512F; `amp`/`bmp` hold `kc`
                            // packed steps; the tile (i.., j..) of `mr × nr` lies inside the
                            // m × n output, rows `r0..r1` belong to this part alone.
                            unsafe { kernel(kc, amp, bmp, out.at(i * n + j), n, mr, nr, first) };
                        }
                    }
                }
                give_back(&PACK_A, ap);
            };
            if parts > 1 {
                use rayon::prelude::*;
                (0..parts).into_par_iter().for_each(run);
            } else {
                run(0);
            }
        }
    }
    give_back(&PACK_B, bp);
}

/// Packs rows `pc..pc+kc` of columns `j0..j0+W` of `v` (zero past its last column) as `kc`
/// steps of `W` values: B's micro-panels are `W = NR` columns of B, A's are `W = MR` columns of
/// Aᵀ (rows of A).
fn pack<const W: usize>(dst: &mut [f32], v: Mat<'_, f32>, pc: usize, kc: usize, j0: usize) {
    let w = W.min(v.cols - j0);
    if v.cs == 1 {
        for (l, step) in dst.chunks_exact_mut(W).enumerate() {
            let s = (pc + l) * v.rs + j0;
            step[..w].copy_from_slice(&v.data[s..s + w]);
            step[w..].fill(0.0);
        }
    } else if v.rs == 1 {
        // Columns are contiguous: transpose blocks of 16 columns × 16 rows.
        for c0 in (0..W).step_by(16) {
            let lanes = 16.min(W - c0);
            let mut cols: [&[f32]; 16] = [&[]; 16];
            for l0 in (0..kc).step_by(16) {
                let len = 16.min(kc - l0);
                for (jj, col) in cols.iter_mut().enumerate().take(lanes) {
                    let j = c0 + jj;
                    *col = if j < w {
                        let s = (j0 + j) * v.cs + pc + l0;
                        &v.data[s..s + len]
                    } else {
                        &[]
                    };
                }
                // SAFETY: `available()` was checked by the caller of `matmul`.
                unsafe { transpose16(&cols, len, &mut dst[l0 * W + c0..], W, lanes) };
            }
        }
    } else {
        if w < W {
            dst.fill(0.0);
        }
        for j in 0..w {
            let col = (j0 + j) * v.cs;
            for l in 0..kc {
                dst[l * W + j] = v.data[col + (pc + l) * v.rs];
            }
        }
    }
}

/// `out[l·stride + i] = src[i][l]` for `l < len ≤ 16` and `i < lanes ≤ 16`, where a source
/// shorter than `len` (empty) stands for zeros.
///
/// # Safety
/// AVX-512F must be available.
#[target_feature(enable = "avx512f")]
unsafe fn transpose16(
    src: &[&[f32]; 16],
    len: usize,
    out: &mut [f32],
    stride: usize,
    lanes: usize,
) {
    assert!(len > 0 && len <= 16 && lanes <= 16 && out.len() >= (len - 1) * stride + lanes);
    let load_mask: __mmask16 = if len == 16 { 0xffff } else { (1u16 << len) - 1 };
    let mut r = [_mm512_setzero_ps(); 16];
    for (v, s) in r.iter_mut().zip(src) {
        if s.len() >= len {
            // SAFETY: the `len` lanes enabled by the mask lie inside `s`.
            *v = unsafe { _mm512_maskz_loadu_ps(load_mask, s.as_ptr()) };
        }
    }
    // 32-bit, then 64-bit interleaves inside 128-bit lanes: afterwards lane L of b[4i + q]
    // holds column 4L + q of rows 4i..4i+4.
    let mut a = [_mm512_setzero_ps(); 16];
    for i in 0..8 {
        a[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        a[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    let mut b = [_mm512_setzero_ps(); 16];
    for i in 0..4 {
        let pd = |x: __m512| _mm512_castps_pd(x);
        let ps = |x: __m512d| _mm512_castpd_ps(x);
        b[4 * i] = ps(_mm512_unpacklo_pd(pd(a[4 * i]), pd(a[4 * i + 2])));
        b[4 * i + 1] = ps(_mm512_unpackhi_pd(pd(a[4 * i]), pd(a[4 * i + 2])));
        b[4 * i + 2] = ps(_mm512_unpacklo_pd(pd(a[4 * i + 1]), pd(a[4 * i + 3])));
        b[4 * i + 3] = ps(_mm512_unpackhi_pd(pd(a[4 * i + 1]), pd(a[4 * i + 3])));
    }
    // Gather the 128-bit lanes: column 4L + q = lane L of b[q], b[4 + q], b[8 + q], b[12 + q].
    let mut t = [_mm512_setzero_ps(); 16];
    for q in 0..4 {
        let c0 = _mm512_shuffle_f32x4::<0b10_00_10_00>(b[q], b[4 + q]);
        let c1 = _mm512_shuffle_f32x4::<0b11_01_11_01>(b[q], b[4 + q]);
        let d0 = _mm512_shuffle_f32x4::<0b10_00_10_00>(b[8 + q], b[12 + q]);
        let d1 = _mm512_shuffle_f32x4::<0b11_01_11_01>(b[8 + q], b[12 + q]);
        t[q] = _mm512_shuffle_f32x4::<0b10_00_10_00>(c0, d0);
        t[8 + q] = _mm512_shuffle_f32x4::<0b11_01_11_01>(c0, d0);
        t[4 + q] = _mm512_shuffle_f32x4::<0b10_00_10_00>(c1, d1);
        t[12 + q] = _mm512_shuffle_f32x4::<0b11_01_11_01>(c1, d1);
    }
    let store_mask: __mmask16 = if lanes == 16 {
        0xffff
    } else {
        (1u16 << lanes) - 1
    };
    for (l, v) in t.iter().enumerate().take(len) {
        let o = &mut out[l * stride..l * stride + lanes];
        // SAFETY: the `lanes` lanes enabled by the mask lie inside `o`.
        unsafe { _mm512_mask_storeu_ps(o.as_mut_ptr(), store_mask, *v) };
    }
}

/// The `MR × NR` register tile: `c[0..mr, 0..nr] (=|+=) Σ_l a[l] ⊗ b[l]` over `kc` packed
/// steps, `c` row-major with row stride `ldc`.
///
/// # Safety
/// AVX-512F must be available; `a` and `b` hold `kc·MR` and `kc·NR` values; `c` is valid for
/// the `mr × nr` tile (`mr ≤ MR`, `nr ≤ NR`) and nothing else touches it during the call.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel(
    kc: usize,
    a: &[f32],
    b: &[f32],
    c: *mut f32,
    ldc: usize,
    mr: usize,
    nr: usize,
    first: bool,
) {
    debug_assert!(a.len() >= kc * MR && b.len() >= kc * NR);
    let mut acc = [[_mm512_setzero_ps(); 2]; MR];
    let (mut pa, mut pb) = (a.as_ptr(), b.as_ptr());
    for _ in 0..kc {
        // SAFETY: `l < kc` steps of MR (a) and NR (b) values lie inside the slices.
        unsafe {
            let b0 = _mm512_loadu_ps(pb);
            let b1 = _mm512_loadu_ps(pb.add(16));
            for (i, row) in acc.iter_mut().enumerate() {
                let ai = _mm512_set1_ps(*pa.add(i));
                row[0] = _mm512_fmadd_ps(ai, b0, row[0]);
                row[1] = _mm512_fmadd_ps(ai, b1, row[1]);
            }
            pa = pa.add(MR);
            pb = pb.add(NR);
        }
    }
    let m0: __mmask16 = if nr >= 16 {
        0xffff
    } else {
        (1u32 << nr) as u16 - 1
    };
    let m1: __mmask16 = if nr >= 32 {
        0xffff
    } else if nr > 16 {
        (1u32 << (nr - 16)) as u16 - 1
    } else {
        0
    };
    for (i, row) in acc.iter().enumerate().take(mr) {
        // SAFETY: row i < mr of the tile, columns masked to nr (see the function's contract).
        unsafe {
            let p = c.add(i * ldc);
            if first {
                _mm512_mask_storeu_ps(p, m0, row[0]);
                _mm512_mask_storeu_ps(p.wrapping_add(16), m1, row[1]);
            } else {
                let c0 = _mm512_maskz_loadu_ps(m0, p);
                let c1 = _mm512_maskz_loadu_ps(m1, p.wrapping_add(16));
                _mm512_mask_storeu_ps(p, m0, _mm512_add_ps(c0, row[0]));
                _mm512_mask_storeu_ps(p.wrapping_add(16), m1, _mm512_add_ps(c1, row[1]));
            }
        }
    }
}
