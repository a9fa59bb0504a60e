//! Exact Shapley values by enumerating every coalition (the reference for small games).

use std::time::Instant;

use rayon::prelude::*;

use crate::coalition::Coalition;
use crate::error::{Result, ShapleyError};
use crate::estimate::Estimate;
use crate::stop::StopReason;
use crate::utility::Utility;

/// Largest number of players exact enumeration accepts (2²⁵ values, 256 MiB).
pub const EXACT_MAX_PLAYERS: usize = 25;

/// Coalitions per batch handed to [`Utility::values`].
const BATCH: usize = 4096;

/// Exact Shapley values of a game with at most [`EXACT_MAX_PLAYERS`] players.
///
/// Evaluates all 2ⁿ coalitions once (in parallel batches), then for each player sums the
/// marginal differences `U(S ∪ i) − U(S)` per coalition size with compensated summation and
/// weighs size `s` by `1 / (n · C(n−1, s))`, an exact binomial in f64 that cannot overflow
/// at this size. Pairing differences before weighting keeps large utilities from cancelling.
pub fn exact_shapley<U: Utility + ?Sized>(u: &U) -> Result<Estimate> {
    let start = Instant::now();
    let n = u.n_players();
    if n > EXACT_MAX_PLAYERS {
        return Err(ShapleyError::TooManyPlayers {
            method: "exact enumeration",
            n,
            max: EXACT_MAX_PLAYERS,
        });
    }
    let table = evaluate_all(u, n)?;
    let weights = size_weights(n);
    let values: Vec<f64> = (0..n)
        .into_par_iter()
        .map(|i| {
            let bit = 1usize << i;
            let mut sums = vec![Neumaier::default(); n.max(1)];
            for mask in 0..table.len() {
                if mask & bit == 0 {
                    let s = mask.count_ones() as usize;
                    sums[s].add(table[mask | bit] - table[mask]);
                }
            }
            sums.iter().zip(&weights).map(|(d, w)| d.sum() * w).sum()
        })
        .collect();
    Ok(Estimate {
        method: "exact".into(),
        std_errors: vec![0.0; n],
        values,
        evaluations: table.len() as u64,
        samples: table.len() as u64,
        stop_reason: StopReason::Complete,
        elapsed_ms: start.elapsed().as_secs_f64() * 1e3,
        grand_value: table[table.len() - 1],
        empty_value: table[0],
    })
}

/// `U(S)` for every mask `S` in `0..2ⁿ`, evaluated in parallel batches.
pub(crate) fn evaluate_all<U: Utility + ?Sized>(u: &U, n: usize) -> Result<Vec<f64>> {
    let mut table = vec![0.0f64; 1usize << n];
    table
        .par_chunks_mut(BATCH)
        .enumerate()
        .try_for_each(|(chunk, out)| -> Result<()> {
            let first = chunk * BATCH;
            let batch = (0..out.len())
                .map(|k| Coalition::from_mask(n, (first + k) as u64))
                .collect::<Result<Vec<_>>>()?;
            let vals = u.values(&batch)?;
            if vals.len() != batch.len() {
                return Err(ShapleyError::Utility(format!(
                    "values() returned {} results for {} coalitions",
                    vals.len(),
                    batch.len()
                )));
            }
            out.copy_from_slice(&vals);
            Ok(())
        })?;
    Ok(table)
}

/// `w[s] = s!(n−1−s)!/n! = 1 / (n · C(n−1, s))` for `s = 0..n`.
pub(crate) fn size_weights(n: usize) -> Vec<f64> {
    let mut binom = 1.0f64; // C(n−1, s)
    (0..n)
        .map(|s| {
            if s > 0 {
                binom = binom * (n - s) as f64 / s as f64;
            }
            1.0 / (n as f64 * binom.round())
        })
        .collect()
}

/// Neumaier's compensated sum.
#[derive(Debug, Clone, Copy, Default)]
struct Neumaier {
    sum: f64,
    comp: f64,
}

impl Neumaier {
    fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.comp += (self.sum - t) + x;
        } else {
            self.comp += (x - t) + self.sum;
        }
        self.sum = t;
    }

    fn sum(&self) -> f64 {
        self.sum + self.comp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_one_over_sizes_times_counts() {
        for n in 1..=25usize {
            let w = size_weights(n);
            // Σ_s C(n−1, s) · w[s] = 1.
            let mut binom = 1.0f64;
            let mut total = 0.0;
            for (s, ws) in w.iter().enumerate() {
                if s > 0 {
                    binom = binom * (n - s) as f64 / s as f64;
                }
                total += binom.round() * ws;
            }
            assert!((total - 1.0).abs() < 1e-12, "n={n}: {total}");
        }
    }

    #[test]
    fn too_many_players_is_an_error() {
        let u = crate::utility::FnUtility::new(26, |_: &Coalition| 0.0);
        assert!(matches!(
            exact_shapley(&u),
            Err(ShapleyError::TooManyPlayers { .. })
        ));
    }

    #[test]
    fn zero_players() {
        let u = crate::utility::FnUtility::new(0, |_: &Coalition| 0.0);
        let e = exact_shapley(&u).expect("empty game");
        assert!(e.values.is_empty());
    }
}

#[cfg(test)]
mod property_tests {
    use super::*;
    use crate::testing::{mask_game, random_values};

    fn exact_of(n: usize, values: Vec<f64>) -> Vec<f64> {
        exact_shapley(&mask_game(n, values))
            .expect("small game")
            .values
    }

    #[test]
    fn efficiency_on_random_games() {
        for (n, seed) in [(1, 1), (2, 2), (5, 3), (9, 4), (13, 5)] {
            let v = random_values(n, seed);
            let grand = v[(1 << n) - 1];
            let phi = exact_of(n, v);
            let sum: f64 = phi.iter().sum();
            assert!((sum - grand).abs() < 1e-10, "n={n}: Σφ={sum}, U(N)={grand}");
        }
    }

    #[test]
    fn symmetry_on_random_games() {
        // U(S) = g(S) + g(swap(S)) with players 2 and 5 exchanged makes them symmetric.
        let n = 10;
        let g = random_values(n, 7);
        let swap = |m: usize| {
            let (a, b) = (m >> 2 & 1, m >> 5 & 1);
            (m & !(1 << 2) & !(1 << 5)) | (b << 2) | (a << 5)
        };
        let v: Vec<f64> = (0..1usize << n).map(|m| g[m] + g[swap(m)]).collect();
        let phi = exact_of(n, v);
        assert!((phi[2] - phi[5]).abs() < 1e-12, "{} vs {}", phi[2], phi[5]);
    }

    #[test]
    fn null_player_on_random_games() {
        // U(S) = g(S ∖ {3}): player 3 never changes anything.
        let n = 11;
        let g = random_values(n, 8);
        let v: Vec<f64> = (0..1usize << n).map(|m| g[m & !(1 << 3)]).collect();
        let phi = exact_of(n, v);
        assert!(phi[3].abs() < 1e-12, "null player got {}", phi[3]);
    }

    #[test]
    fn additivity_on_random_games() {
        let n = 10;
        let (a, b) = (random_values(n, 9), random_values(n, 10));
        let sum: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
        let (pa, pb, ps) = (exact_of(n, a), exact_of(n, b), exact_of(n, sum));
        for i in 0..n {
            assert!((pa[i] + pb[i] - ps[i]).abs() < 1e-12, "player {i}");
        }
    }

    #[test]
    fn large_offset_does_not_swamp_small_marginals() {
        // Adding 1e9 to every non-empty coalition moves only the value of U(N) − U(∅);
        // pairing differences keeps the small marginals exact to ~1e-6 relative to 1e9.
        let n = 12;
        let g = random_values(n, 11);
        let shifted: Vec<f64> = g
            .iter()
            .enumerate()
            .map(|(m, x)| if m == 0 { *x } else { x + 1e9 })
            .collect();
        let (p, q) = (exact_of(n, g), exact_of(n, shifted));
        for i in 0..n {
            assert!(
                (q[i] - p[i] - 1e9 / n as f64).abs() < 1e-5,
                "player {i}: {} vs {}",
                q[i],
                p[i]
            );
        }
    }

    #[test]
    fn batch_evaluation_is_used() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        struct Counting(AtomicUsize);
        impl Utility for Counting {
            fn n_players(&self) -> usize {
                14
            }
            fn value(&self, _: &Coalition) -> Result<f64> {
                panic!("exact enumeration should call values() in batches")
            }
            fn values(&self, cs: &[Coalition]) -> Result<Vec<f64>> {
                self.0.fetch_add(1, Ordering::Relaxed);
                Ok(cs.iter().map(|c| c.len() as f64).collect())
            }
        }
        let u = Counting(AtomicUsize::new(0));
        let e = exact_shapley(&u).expect("ok");
        assert_eq!(u.0.load(Ordering::Relaxed), (1 << 14) / BATCH);
        assert!(e.values.iter().all(|v| (v - 1.0).abs() < 1e-12));
    }
}
