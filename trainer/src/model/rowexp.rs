//! Row kernels of the softmax over the 49,152-wide vocabulary: the row maximum and
//! `Σ exp(z − max)`, optionally storing the exponentials in place.
//!
//! Scalar `f64::exp` on every logit took ~9% of an evaluation pass. For f32 rows the
//! exponential here is a fixed polynomial (Cephes' `expf`, within 1e-6 relative) over plain arithmetic in
//! 8-lane arrays, so the compiler vectorises it; the same operations run in the same order on
//! every machine (no fused multiply-add, no libm), so every evaluator gets the same bits. The
//! sum is taken in f32 over 32 values per lane, then in f64.

/// Lanes of the f32 kernels (one AVX register).
const LANES: usize = 8;
/// Values per lane summed in f32 before the partial sums move to f64.
const BLOCK: usize = 32 * LANES;

/// `exp(x)` in f32 for `x` clamped to [−87, 88] (below −87 it gives ≈ 1e-38 instead of
/// underflowing to 0, above 88 ≈ 1.7e38 instead of overflowing).
#[inline(always)]
fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const C1: f32 = 0.693_359_4;
    const C2: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5·2²³ rounds to the nearest integer in the default rounding mode.
    const ROUND: f32 = 12_582_912.0;
    let x = if x > -87.0 { x } else { -87.0 };
    let x = if x < 88.0 { x } else { 88.0 };
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * C1 - n * C2;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_2e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    y * f32::from_bits((((n as i32) + 127) as u32) << 23)
}

#[inline(always)]
fn max_f32_body(row: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for c in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a = if v > *a { v } else { *a };
        }
    }
    let mut m = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
    for a in acc {
        m = if a > m { a } else { m };
    }
    m
}

#[inline(always)]
fn exp_sum_f32_body(row: &mut [f32], max: f32, store: bool) -> f64 {
    let mut total = [0.0f64; LANES];
    let mut blocks = row.chunks_exact_mut(BLOCK);
    for block in &mut blocks {
        let mut acc = [0.0f32; LANES];
        for c in block.chunks_exact_mut(LANES) {
            for (a, v) in acc.iter_mut().zip(c.iter_mut()) {
                let e = exp_f32(*v - max);
                if store {
                    *v = e;
                }
                *a += e;
            }
        }
        for (t, a) in total.iter_mut().zip(acc) {
            *t += a as f64;
        }
    }
    let mut sum: f64 = total.iter().sum();
    for v in blocks.into_remainder() {
        let e = exp_f32(*v - max);
        if store {
            *v = e;
        }
        sum += e as f64;
    }
    sum
}

#[inline(always)]
fn sigmoid_f32(x: f32) -> f32 {
    1.0 / (1.0 + exp_f32(-x))
}

#[inline(always)]
fn silu_mul_body(g: &[f32], u: &[f32], out: &mut [f32]) {
    let n = out.len().min(g.len()).min(u.len());
    let (g, u, out) = (&g[..n], &u[..n], &mut out[..n]);
    for i in 0..n {
        out[i] = g[i] * sigmoid_f32(g[i]) * u[i];
    }
}

#[inline(always)]
fn silu_mul_bwd_body(g: &[f32], u: &[f32], d: &[f32], dg: &mut [f32], du: &mut [f32]) {
    let n = g
        .len()
        .min(u.len())
        .min(d.len())
        .min(dg.len())
        .min(du.len());
    let (g, u, d, dg, du) = (&g[..n], &u[..n], &d[..n], &mut dg[..n], &mut du[..n]);
    for i in 0..n {
        let s = sigmoid_f32(g[i]);
        dg[i] = d[i] * u[i] * s * (1.0 + g[i] * (1.0 - s));
        du[i] = d[i] * g[i] * s;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn silu_mul_avx2(g: &[f32], u: &[f32], out: &mut [f32]) {
    silu_mul_body(g, u, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn silu_mul_bwd_avx2(g: &[f32], u: &[f32], d: &[f32], dg: &mut [f32], du: &mut [f32]) {
    silu_mul_bwd_body(g, u, d, dg, du)
}

/// `out = silu(g) · u` elementwise over f32 slices of one length.
pub(crate) fn silu_mul_f32(g: &[f32], u: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { silu_mul_avx2(g, u, out) };
    }
    silu_mul_body(g, u, out)
}

/// Gradients of `silu(g) · u` for the upstream gradient `d`: `dg` and `du`.
pub(crate) fn silu_mul_bwd_f32(g: &[f32], u: &[f32], d: &[f32], dg: &mut [f32], du: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { silu_mul_bwd_avx2(g, u, d, dg, du) };
    }
    silu_mul_bwd_body(g, u, d, dg, du)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn max_f32_avx2(row: &[f32]) -> f32 {
    max_f32_body(row)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn exp_sum_f32_avx2(row: &mut [f32], max: f32, store: bool) -> f64 {
    exp_sum_f32_body(row, max, store)
}

#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    std::is_x86_feature_detected!("avx2")
}

/// Largest value of an f32 row (−∞ for an empty one).
pub(crate) fn max_f32(row: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { max_f32_avx2(row) };
    }
    max_f32_body(row)
}

/// `Σ exp(v − max)` over an f32 row, replacing each value by its exponential when `store`.
pub(crate) fn exp_sum_f32(row: &mut [f32], max: f32, store: bool) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { exp_sum_f32_avx2(row, max, store) };
    }
    exp_sum_f32_body(row, max, store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_rounding_of_f64_exp_on_the_softmax_range() {
        let mut worst = 0.0f64;
        for i in 0..200_000 {
            let x = -(i as f32) * 4.3e-4; // 0 … −86
            let want = (x as f64).exp();
            let got = exp_f32(x) as f64;
            worst = worst.max((got - want).abs() / want);
        }
        assert!(worst < 2.5e-7, "relative error {worst}");
        assert!(exp_f32(-1e4) < 1e-37 && exp_f32(-1e4) >= 0.0);
        assert!(exp_f32(1e4).is_finite() && exp_f32(1e4) > 1e38);
        for i in 0..20_000 {
            let x = (i as f32) * 4.3e-3; // 0 … 86
            let want = (x as f64).exp();
            assert!(
                ((exp_f32(x) as f64) - want).abs() <= 1e-6 * want,
                "exp({x})"
            );
        }
    }

    #[test]
    fn silu_mul_and_its_gradient_match_f64() {
        let n = 1003;
        let g: Vec<f32> = (0..n).map(|i| (i as f32 - 500.0) * 0.031).collect();
        let u: Vec<f32> = (0..n).map(|i| ((i * 13) % 17) as f32 * 0.2 - 1.5).collect();
        let d: Vec<f32> = (0..n).map(|i| ((i * 7) % 11) as f32 * 0.3 - 1.4).collect();
        let mut out = vec![0.0; n];
        let (mut dg, mut du) = (vec![0.0; n], vec![0.0; n]);
        silu_mul_f32(&g, &u, &mut out);
        silu_mul_bwd_f32(&g, &u, &d, &mut dg, &mut du);
        for i in 0..n {
            let (g, u, d) = (g[i] as f64, u[i] as f64, d[i] as f64);
            let s = 1.0 / (1.0 + (-g).exp());
            let close =
                |got: f32, want: f64| (got as f64 - want).abs() <= 1e-5 * want.abs().max(1e-3);
            assert!(close(out[i], g * s * u), "silu·mul at {g}");
            assert!(
                close(dg[i], d * u * s * (1.0 + g * (1.0 - s))),
                "d gate at {g}"
            );
            assert!(close(du[i], d * g * s), "d up at {g}");
        }
    }

    #[test]
    fn row_kernels_match_the_f64_reference_with_and_without_avx2() {
        for n in [1, 7, 8, 255, 256, 1000, 49_152] {
            let row: Vec<f32> = (0..n)
                .map(|i| ((i * 7919) % 1000) as f32 * 0.013 - 6.0)
                .collect();
            let want_max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let want_sum: f64 = row
                .iter()
                .map(|&v| (v as f64 - want_max as f64).exp())
                .sum();
            assert_eq!(max_f32(&row), want_max);
            assert_eq!(max_f32_body(&row), want_max);
            let mut stored = row.clone();
            let sum = exp_sum_f32(&mut stored, want_max, true);
            assert!(
                (sum - want_sum).abs() <= 1e-6 * want_sum,
                "{sum} vs {want_sum}"
            );
            let mut portable = row.clone();
            assert_eq!(exp_sum_f32_body(&mut portable, want_max, true), sum);
            assert_eq!(portable, stored);
            for (s, v) in stored.iter().zip(&row) {
                let e = (*v as f64 - want_max as f64).exp();
                assert!((*s as f64 - e).abs() <= 1e-6 * e, "{s} vs {e}");
            }
            let mut untouched = row.clone();
            assert_eq!(exp_sum_f32(&mut untouched, want_max, false), sum);
            assert_eq!(untouched, row);
        }
    }
}
