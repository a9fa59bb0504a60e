//! Reproducible randomness: seed derivation, and evaluation noise that is a pure function of
//! (evaluator seed, coalition) so an evaluator measures the same coalition the same way however
//! often or in whatever order an estimator asks.

use rand::RngCore;
use rand_distr::{ChiSquared, Distribution, StandardNormal};

/// SplitMix64's finaliser: a bijective 64-bit mixer.
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seed derived from a parent seed and a list of indices (order matters).
pub fn derive(parent: u64, parts: &[u64]) -> u64 {
    parts
        .iter()
        .fold(splitmix64(parent), |h, &p| splitmix64(h ^ splitmix64(p)))
}

/// A SplitMix64 stream, used only to feed the normal sampler from a hashed state.
struct SplitMix(u64);

impl RngCore for SplitMix {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let b = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&b[..chunk.len()]);
        }
    }
}

/// A standard normal draw that depends only on `(seed, key)`.
pub fn gaussian(seed: u64, key: u64) -> f64 {
    StandardNormal.sample(&mut SplitMix(seed ^ splitmix64(key)))
}

/// `√(X / dof)` for `X ~ χ²(dof)`, depending only on `(seed, key)`: how far a standard
/// error estimated from `dof + 1` normal batches is from the true one. `dof` 0 is taken as 1.
pub fn chi_factor(seed: u64, key: u64, dof: usize) -> f64 {
    let k = dof.max(1) as f64;
    let x: f64 = ChiSquared::new(k)
        .expect("a positive number of degrees of freedom")
        .sample(&mut SplitMix(seed ^ splitmix64(key)));
    (x / k).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaussian_is_a_function_of_its_inputs_and_roughly_standard() {
        assert_eq!(gaussian(7, 99), gaussian(7, 99));
        assert_ne!(gaussian(7, 99), gaussian(8, 99));
        let xs: Vec<f64> = (0..20_000).map(|k| gaussian(3, k)).collect();
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!(m.abs() < 0.03, "mean {m}");
        assert!((v - 1.0).abs() < 0.05, "variance {v}");
    }

    #[test]
    fn chi_factor_squares_to_one_on_average() {
        assert_eq!(chi_factor(5, 1, 7), chi_factor(5, 1, 7));
        let xs: Vec<f64> = (0..20_000).map(|k| chi_factor(9, k, 7).powi(2)).collect();
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / xs.len() as f64;
        // χ²₇/7 has mean 1 and variance 2/7.
        assert!((m - 1.0).abs() < 0.02, "mean {m}");
        assert!((v - 2.0 / 7.0).abs() < 0.02, "variance {v}");
    }

    #[test]
    fn derived_seeds_depend_on_every_part() {
        let a = derive(1, &[2, 3]);
        assert_ne!(a, derive(1, &[3, 2]));
        assert_ne!(a, derive(2, &[2, 3]));
        assert_eq!(a, derive(1, &[2, 3]));
    }
}
