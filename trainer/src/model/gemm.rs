//! Matrix products written straight into caller-owned buffers, through the `gemm` crate (the
//! kernels candle's CPU matmul runs on).
//!
//! Going through candle's `Tensor::matmul` from inside a custom op costs a copy of the input
//! into a new tensor and a copy of the result out of it, and every call takes fresh pages from
//! the allocator; the fused ops call [`matmul_into`] on the slices they already hold instead.

use candle_core::{DType, Error, WithDType};

type CResult<T> = candle_core::Result<T>;

/// A matrix viewed in a slice: element (i, j) sits at `i·rs + j·cs`.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a, T> Mat<'a, T> {
    /// A row-major (rows × cols) matrix stored contiguously in `data`.
    pub(crate) fn rows(data: &'a [T], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The transposed view (no data moves).
    pub(crate) fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
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
pub(crate) fn matmul_into<T: WithDType>(
    dst: &mut [T],
    a: Mat<'_, T>,
    b: Mat<'_, T>,
    accumulate: bool,
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
