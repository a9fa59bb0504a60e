//! Helpers shared by the unit tests: random games and tolerance checks.

use std::collections::HashMap;
use std::sync::Mutex;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::coalition::Coalition;
use crate::error::Result;
use crate::estimate::Estimate;
use crate::utility::{FnUtility, Utility};

/// A random game on `n ≤ 20` players: an independent value per coalition, U(∅) = 0.
pub(crate) fn random_values(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut v: Vec<f64> = (0..1usize << n).map(|_| rng.gen_range(-1.0..1.0)).collect();
    v[0] = 0.0;
    v
}

/// Wraps a value per mask as a utility.
pub(crate) fn mask_game(
    n: usize,
    values: Vec<f64>,
) -> FnUtility<impl Fn(&Coalition) -> f64 + Sync> {
    FnUtility::new(n, move |c: &Coalition| values[c.first_word() as usize])
}

/// Asserts every estimated value is within `sigmas` standard errors plus `abs_eps` of `truth`.
pub(crate) fn assert_within_se(e: &Estimate, truth: &[f64], sigmas: f64, abs_eps: f64) {
    assert_eq!(e.values.len(), truth.len());
    for (i, ((v, se), t)) in e.values.iter().zip(&e.std_errors).zip(truth).enumerate() {
        assert!(
            se.is_finite(),
            "{}: player {i} has no standard error",
            e.method
        );
        let tol = sigmas * se + abs_eps;
        assert!(
            (v - t).abs() <= tol,
            "{}: player {i} estimated {v}, true {t}, se {se} (tolerance {tol})",
            e.method
        );
    }
}

/// A utility that counts how often each coalition (by its first mask word) is evaluated.
pub(crate) struct Recording<U>(pub U, pub Mutex<HashMap<u64, u32>>);

impl<U: Utility> Utility for Recording<U> {
    fn n_players(&self) -> usize {
        self.0.n_players()
    }
    fn value(&self, c: &Coalition) -> Result<f64> {
        *self
            .1
            .lock()
            .expect("not poisoned")
            .entry(c.first_word())
            .or_default() += 1;
        self.0.value(c)
    }
}
