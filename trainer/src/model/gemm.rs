//! Matrix products written straight into caller-owned buffers: f32 products of a useful size
//! run on this module's AVX-512 kernel ([`avx512`]) when the CPU has AVX-512F, everything else
//! on the `gemm` crate (the kernels candle's CPU matmul runs on, AVX2 at most on stable Rust).
//!
//! Going through candle's `Tensor::matmul` from inside a custom op costs a copy of the input
//! into a new tensor and a copy of the result out of it, and every call takes fresh pages from
//! the allocator; the fused ops call [`matmul_into`] on the slices they already hold instead.

use candle_core::{DType, Error, WithDType};

#[cfg(target_arch = "x86_64")]
mod avx512;

type CResult<T> = candle_core::Result<T>;

/// Which kernel [`matmul_into_with`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// The AVX-512 kernel for f32 products of at least [`AVX512_MIN_FLOPS`] when the CPU has
    /// AVX-512F, the `gemm` crate otherwise (what [`matmul_into`] runs).
    Auto,
    /// Always the `gemm` crate.
    Crate,
    /// The AVX-512 kernel (f32 only, CPUs with AVX-512F only: an error otherwise).
    Avx512,
}

/// Smallest product (m·n·k) [`Kernel::Auto`] sends to the AVX-512 kernel: below it the packing
/// and the threads' start-up cost more than the wider FMAs save.
pub const AVX512_MIN_FLOPS: usize = 1 << 18;

/// Whether [`Kernel::Auto`] may use the AVX-512 kernel: the CPU has AVX-512F and the
/// environment variable `FAIRSHARE_GEMM` is not `crate` (which keeps every product on the
/// `gemm` crate, e.g. to compare the two or to reproduce a run made on a CPU without AVX-512).
fn auto_uses_avx512() -> bool {
    static USE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *USE.get_or_init(|| {
        avx512_available() && std::env::var("FAIRSHARE_GEMM").as_deref() != Ok("crate")
    })
}

/// Whether this CPU can run [`Kernel::Avx512`].
pub fn avx512_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        avx512::available()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A matrix viewed in a slice: element (i, j) sits at `i·rs + j·cs`.
#[derive(Clone, Copy)]
pub struct Mat<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a, T> Mat<'a, T> {
    /// A row-major (rows × cols) matrix stored contiguously in `data`.
    pub fn rows(data: &'a [T], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The transposed view (no data moves).
    pub fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }

    /// The same view typed as f32 when `T` is f32.
    #[cfg(target_arch = "x86_64")]
    fn f32_view(self) -> Option<Mat<'a, f32>>
    where
        T: 'static,
    {
        if std::any::TypeId::of::<T>() != std::any::TypeId::of::<f32>() {
            return None;
        }
        // SAFETY: `T` is `f32` (same TypeId), so the slice's layout is unchanged.
        let data = unsafe { &*(self.data as *const [T] as *const [f32]) };
        Some(Mat {
            data,
            rows: self.rows,
            cols: self.cols,
            rs: self.rs,
            cs: self.cs,
        })
    }

    /// Whether every element the view names lies inside `data`.
    fn in_bounds(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1)
                .checked_mul(self.rs)
                .zip((self.cols - 1).checked_mul(self.cs))
                .and_then(|(a, b)| a.checked_add(b))
                .is_some_and(|last| last < self.data.len())
    }
}

/// `dst = a · b` (or `dst += a · b` when `accumulate`), `dst` row-major (a.rows × b.cols) and
/// contiguous, on rayon's threads as candle's matmul runs.
pub fn matmul_into<T: WithDType>(
    dst: &mut [T],
    a: Mat<'_, T>,
    b: Mat<'_, T>,
    accumulate: bool,
) -> CResult<()> {
    matmul_into_with(dst, a, b, accumulate, Kernel::Auto)
}

/// [`matmul_into`] on a chosen kernel (the speed probe and the tests compare them).
pub fn matmul_into_with<T: WithDType>(
    dst: &mut [T],
    a: Mat<'_, T>,
    b: Mat<'_, T>,
    accumulate: bool,
    kernel: Kernel,
) -> CResult<()> {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if !matches!(T::DTYPE, DType::F32 | DType::F64) {
        return Err(Error::Msg(format!(
            "matmul: {:?} is not f32 or f64",
            T::DTYPE
        )));
    }
    if b.rows != k || dst.len() != m * n || !a.in_bounds() || !b.in_bounds() {
        return Err(Error::Msg(format!(
            "matmul: ({m} × {k}) · ({} × {n}) into {} elements",
            b.rows,
            dst.len()
        )));
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        if !accumulate {
            dst.fill(T::zero());
        }
        return Ok(());
    }
    let threads = candle_core::utils::get_num_threads();
    let use_avx512 = match kernel {
        Kernel::Crate => false,
        Kernel::Avx512 => true,
        Kernel::Auto => {
            T::DTYPE == DType::F32
                && m.saturating_mul(n).saturating_mul(k) >= AVX512_MIN_FLOPS
                && auto_uses_avx512()
        }
    };
    if use_avx512 {
        #[cfg(target_arch = "x86_64")]
        if avx512::available() {
            if let (Some(dst32), Some(a32), Some(b32)) =
                (as_f32_mut(dst), a.f32_view(), b.f32_view())
            {
                avx512::matmul(dst32, a32, b32, accumulate, threads);
                return Ok(());
            }
        }
        return Err(Error::Msg(format!(
            "matmul: the AVX-512 kernel runs f32 on CPUs with AVX-512F ({:?}, AVX-512F {})",
            T::DTYPE,
            avx512_available()
        )));
    }
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the bounds of `a`, `b` and `dst` were checked above for the strides passed, the
    // output does not alias the inputs (`&mut` against `&`), and `T` is f32 or f64 here (the
    // checked above), which `gemm` dispatches on.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            T::one(),
            T::one(),
            false,
            false,
            false,
            parallelism,
        );
    }
    Ok(())
}

/// `dst` typed as f32 when `T` is f32.
#[cfg(target_arch = "x86_64")]
fn as_f32_mut<T: 'static>(dst: &mut [T]) -> Option<&mut [f32]> {
    if std::any::TypeId::of::<T>() != std::any::TypeId::of::<f32>() {
        return None;
    }
    // SAFETY: `T` is `f32` (same TypeId), so the slice's layout is unchanged.
    Some(unsafe { &mut *(dst as *mut [T] as *mut [f32]) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
        (0..m)
            .flat_map(|i| (0..n).map(move |j| (0..k).map(|l| a[i * k + l] * b[l * n + j]).sum()))
            .collect()
    }

    #[test]
    fn products_of_plain_and_transposed_views_match_the_naive_product() {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.37).sin()).collect();
        let b: Vec<f64> = (0..k * n).map(|i| (i as f64 * 0.11).cos()).collect();
        let want = naive(&a, &b, m, k, n);
        let mut got = vec![0.0; m * n];
        matmul_into(&mut got, Mat::rows(&a, m, k), Mat::rows(&b, k, n), false).expect("gemm");
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-12, "{g} vs {w}");
        }
        // bᵀ stored row-major (n × k), used through its transposed view; accumulating adds.
        let bt: Vec<f64> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
        matmul_into(
            &mut got,
            Mat::rows(&a, m, k),
            Mat::rows(&bt, n, k).t(),
            true,
        )
        .expect("gemm");
        for (g, w) in got.iter().zip(&want) {
            assert!((g - 2.0 * w).abs() < 1e-12, "{g} vs {}", 2.0 * w);
        }
        assert!(matmul_into(&mut got, Mat::rows(&a, m, k), Mat::rows(&b, n, k), false).is_err());
        assert!(matmul_into(
            &mut got[1..],
            Mat::rows(&a, m, k),
            Mat::rows(&b, k, n),
            false
        )
        .is_err());
    }
}

#[cfg(test)]
mod kernel_tests {
    use super::*;

    /// Deterministic values in [-1, 1).
    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    /// `a · b` in f64 for any strided views.
    fn naive(a: Mat<'_, f32>, b: Mat<'_, f32>) -> Vec<f64> {
        let at = |m: &Mat<'_, f32>, i: usize, j: usize| f64::from(m.data[i * m.rs + j * m.cs]);
        (0..a.rows)
            .flat_map(|i| {
                (0..b.cols).map(move |j| (0..a.cols).map(|l| at(&a, i, l) * at(&b, l, j)).sum())
            })
            .collect()
    }

    /// Checks `got` against the f64 product within f32 rounding of a k-term sum of products
    /// of values in [-1, 1): |error| ≤ 1e-6 · (k + |c|) (a wrong element is off by O(√k)).
    fn close(got: &[f32], want: &[f64], k: usize, what: &str) {
        assert_eq!(got.len(), want.len(), "{what}");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            let tol = 1e-6 * (k as f64 + w.abs());
            assert!(
                (f64::from(*g) - w).abs() <= tol,
                "{what}: element {i}: {g} against {w}"
            );
        }
    }

    /// A view of an (r × c) matrix laid out four ways: row-major, column-major (a transposed
    /// view), and with both strides > 1 (every other row of a wider buffer, or columns of one).
    fn layouts(r: usize, c: usize, seed: u64) -> Vec<(String, Vec<f32>, usize, usize)> {
        let v = values(2 * r * c + 2, seed);
        vec![
            ("row-major".into(), v[..r * c].to_vec(), c, 1),
            ("transposed".into(), v[..r * c].to_vec(), 1, r),
            ("strided".into(), v.clone(), 2 * c, 1),
            ("strided-t".into(), v, 1, 2 * r),
        ]
    }

    fn view(data: &[f32], rows: usize, cols: usize, rs: usize, cs: usize) -> Mat<'_, f32> {
        let m = Mat {
            data,
            rows,
            cols,
            rs,
            cs,
        };
        assert!(m.in_bounds());
        m
    }

    #[test]
    fn the_avx512_kernel_matches_the_naive_and_gemm_crate_products() {
        let fast = avx512_available();
        if !fast {
            eprintln!("note: this CPU has no AVX-512F: only the gemm-crate path is checked");
        }
        // (m, k, n): tiny, k = 1, not multiples of the 12 × 32 tile or the 16-wide transposes,
        // several depth panels (k > 384), several column blocks (n > 1024).
        let shapes = [
            (1, 1, 1),
            (3, 1, 5),
            (13, 17, 33),
            (12, 16, 32),
            (25, 385, 31),
            (37, 800, 70),
            (97, 64, 1100),
        ];
        for (si, &(m, k, n)) in shapes.iter().enumerate() {
            for (an, ad, ars, acs) in layouts(m, k, 10 + si as u64) {
                for (bn, bd, brs, bcs) in layouts(k, n, 20 + si as u64) {
                    let a = view(&ad, m, k, ars, acs);
                    let b = view(&bd, k, n, brs, bcs);
                    let what = format!("{m}×{k}×{n}, a {an}, b {bn}");
                    let want = naive(a, b);
                    let start = values(m * n, 99);
                    let plus: Vec<f64> = want
                        .iter()
                        .zip(&start)
                        .map(|(w, s)| w + f64::from(*s))
                        .collect();
                    let mut krate = vec![f32::NAN; m * n];
                    matmul_into_with(&mut krate, a, b, false, Kernel::Crate).expect("gemm crate");
                    close(&krate, &want, k, &format!("crate {what}"));
                    if !fast {
                        continue;
                    }
                    let mut one = vec![f32::NAN; m * n];
                    avx512::matmul(&mut one, a, b, false, 1);
                    close(&one, &want, k, &format!("avx512 {what}"));
                    let mut two = vec![f32::NAN; m * n];
                    avx512::matmul(&mut two, a, b, false, 2);
                    let mut three = vec![f32::NAN; m * n];
                    avx512::matmul(&mut three, a, b, false, 3);
                    // Same bits whatever the number of threads.
                    assert!(
                        one.iter().zip(&two).zip(&three).all(|((x, y), z)| {
                            x.to_bits() == y.to_bits() && x.to_bits() == z.to_bits()
                        }),
                        "{what}: threads change the bits"
                    );
                    let mut acc = start.clone();
                    matmul_into_with(&mut acc, a, b, true, Kernel::Avx512).expect("avx512");
                    close(&acc, &plus, k, &format!("avx512 accumulate {what}"));
                    // The two kernels agree with each other as closely as with the f64 product.
                    let krate64: Vec<f64> = krate.iter().map(|&x| f64::from(x)).collect();
                    close(&one, &krate64, k, &format!("avx512 against crate {what}"));
                }
            }
        }
    }

    #[test]
    fn auto_picks_a_kernel_that_agrees_with_the_gemm_crate_on_model_shapes() {
        // A projection-sized product (above the AVX-512 threshold) and a small one.
        for (m, k, n) in [(70, 576, 192), (8, 16, 8)] {
            let a = values(m * k, 1);
            let w = values(n * k, 2);
            let (av, wv) = (Mat::rows(&a, m, k), Mat::rows(&w, n, k).t());
            let mut auto = vec![0.0f32; m * n];
            let mut krate = vec![0.0f32; m * n];
            matmul_into(&mut auto, av, wv, false).expect("auto");
            matmul_into_with(&mut krate, av, wv, false, Kernel::Crate).expect("crate");
            for (x, y) in auto.iter().zip(&krate) {
                assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{x} vs {y}");
            }
        }
        let a = [1.0f64; 4];
        let mut d = [0.0f64; 4];
        let r = matmul_into_with(
            &mut d,
            Mat::rows(&a, 2, 2),
            Mat::rows(&a, 2, 2),
            false,
            Kernel::Avx512,
        );
        assert!(r.is_err(), "f64 has no AVX-512 kernel");
    }
}
