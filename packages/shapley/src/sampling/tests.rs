//! Samplers against closed forms (up to 1,000 players), stopping rules and convergence.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::exact::exact_shapley;
use crate::games::{AdditiveGame, AirportGame, UnanimityGame, WeightedVotingGame};
use crate::stop::StopReason;
use crate::testing::{assert_within_se, mask_game, random_values};
use crate::utility::CachedUtility;
use crate::{estimate, Method};

const SIGMAS: f64 = 5.0;

fn airport(n: usize, seed: u64) -> AirportGame {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    AirportGame::new((0..n).map(|_| rng.gen_range(1.0..10.0)).collect()).expect("valid costs")
}

fn shapley_samplers() -> Vec<Method> {
    vec![
        Method::Permutation { antithetic: false },
        Method::Permutation { antithetic: true },
        Method::Tmc { tolerance: 0.0 },
        Method::Gtg(GtgOptions { epsilon: Some(0.0) }),
    ]
}

/// An airport at 1,000 players where five planes need runway (costs 1..5) and the rest
/// need none: every sampler must find the five shares and give the rest exactly zero. With
/// dense random costs a few dozen permutations see almost no non-zero marginal of the cheap
/// planes, so no standard error could cover them.
#[test]
fn samplers_match_airport_at_1000_players() {
    let mut costs = vec![0.0; 1000];
    for (k, i) in [7, 130, 555, 640, 999].into_iter().enumerate() {
        costs[i] = (k + 1) as f64;
    }
    let g = AirportGame::new(costs).expect("valid costs");
    let truth = g.shapley_values();
    for (k, m) in shapley_samplers().iter().enumerate() {
        let e = estimate(&g, m, &SamplerOptions::with_budget(10 + k as u64, 40_000)).expect("runs");
        assert!(e.evaluations <= 40_000);
        assert_within_se(&e, &truth, SIGMAS, 0.02);
    }
}

#[test]
fn samplers_match_unanimity_at_1000_players() {
    let g = UnanimityGame::new(1000, &[3, 500, 999]).expect("valid carrier");
    let truth = g.shapley_values();
    for (k, m) in shapley_samplers().iter().enumerate() {
        let e = estimate(&g, m, &SamplerOptions::with_budget(20 + k as u64, 60_000)).expect("runs");
        assert_within_se(&e, &truth, SIGMAS, 1e-9);
    }
    let b = msr_banzhaf(&g, &SamplerOptions::with_budget(5, 4_000)).expect("runs");
    assert_within_se(&b, &g.banzhaf_values(), SIGMAS, 1e-9);
}

#[test]
fn samplers_match_small_weighted_voting() {
    let g = WeightedVotingGame::new(vec![10, 8, 6, 5, 5, 4, 3, 2, 2, 1, 1, 1], 25).expect("valid");
    let truth = g.shapley_values().expect("small game");
    let mut methods = shapley_samplers();
    methods.push(Method::Stratified);
    for (k, m) in methods.iter().enumerate() {
        let e = estimate(&g, m, &SamplerOptions::with_budget(30 + k as u64, 20_000)).expect("runs");
        assert_within_se(&e, &truth, SIGMAS, 1e-9);
    }
}

#[test]
fn stratified_matches_airport_and_additive() {
    let g = airport(60, 2);
    let e = stratified_shapley(&g, &SamplerOptions::with_budget(3, 30_000)).expect("runs");
    assert_within_se(&e, &g.shapley_values(), SIGMAS, 0.02);
    let a = AdditiveGame::new((0..30).map(|i| i as f64 - 10.0).collect());
    let e = stratified_shapley(&a, &SamplerOptions::with_budget(4, 10_000)).expect("runs");
    assert_within_se(&e, &a.shapley_values(), SIGMAS, 1e-9);
}

#[test]
fn banzhaf_matches_additive_at_1000_players() {
    let a = AdditiveGame::new((0..1000).map(|i| (i % 7) as f64 * 0.1).collect());
    let e = msr_banzhaf(&a, &SamplerOptions::with_budget(6, 3_000)).expect("runs");
    assert_within_se(&e, &a.banzhaf_values(), SIGMAS, 1e-9);
}

#[test]
fn samplers_on_random_game_within_errors() {
    let n = 8;
    let u = mask_game(n, random_values(n, 40));
    let truth = exact_shapley(&u).expect("small").values;
    let mut methods = shapley_samplers();
    methods.push(Method::Stratified);
    for (k, m) in methods.iter().enumerate() {
        let e = estimate(&u, m, &SamplerOptions::with_budget(50 + k as u64, 20_000)).expect("runs");
        assert_within_se(&e, &truth, SIGMAS, 1e-9);
    }
}

#[test]
fn same_seed_same_estimate_and_budget_respected() {
    let n = 10;
    let u = mask_game(n, random_values(n, 41));
    let mut methods = shapley_samplers();
    methods.extend([
        Method::Stratified,
        Method::BanzhafMsr,
        Method::Tmc { tolerance: 0.05 },
    ]);
    for m in &methods {
        let opts = SamplerOptions::with_budget(7, 3_000);
        let a = estimate(&u, m, &opts).expect("runs");
        let b = estimate(&u, m, &opts).expect("runs");
        assert_eq!(a.values, b.values, "{m:?}");
        assert!(a.evaluations <= 3_000, "{m:?} spent {}", a.evaluations);
        assert_eq!(a.stop_reason, StopReason::EvaluationBudget, "{m:?}");
        let c = estimate(&u, m, &SamplerOptions::with_budget(8, 3_000)).expect("runs");
        assert_ne!(a.values, c.values, "{m:?}: another seed should differ");
    }
}

#[test]
fn reported_evaluations_match_utility_calls() {
    let n = 9;
    let cached = CachedUtility::new(mask_game(n, random_values(n, 42)));
    let counting = Counting {
        inner: &cached,
        calls: Default::default(),
    };
    for m in shapley_samplers() {
        counting
            .calls
            .store(0, std::sync::atomic::Ordering::Relaxed);
        let e = estimate(&counting, &m, &SamplerOptions::with_budget(1, 2_000)).expect("runs");
        assert_eq!(
            e.evaluations,
            counting.calls.load(std::sync::atomic::Ordering::Relaxed),
            "{m:?}"
        );
    }
    assert!(
        cached.misses() <= 1 << n,
        "the cache evaluates each coalition at most once"
    );
}

struct Counting<U> {
    inner: U,
    calls: std::sync::atomic::AtomicU64,
}

impl<U: crate::Utility> crate::Utility for Counting<U> {
    fn n_players(&self) -> usize {
        self.inner.n_players()
    }
    fn value(&self, c: &crate::Coalition) -> crate::Result<f64> {
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.value(c)
    }
    fn values(&self, cs: &[crate::Coalition]) -> crate::Result<Vec<f64>> {
        self.calls
            .fetch_add(cs.len() as u64, std::sync::atomic::Ordering::Relaxed);
        self.inner.values(cs)
    }
}

#[test]
fn target_std_error_and_time_budget_stop() {
    let g = airport(20, 3);
    let opts = SamplerOptions {
        seed: 1,
        stop: StopRule {
            target_std_error: Some(0.05),
            ..StopRule::default()
        },
    };
    for m in shapley_samplers() {
        let e = estimate(&g, &m, &opts).expect("runs");
        assert_eq!(e.stop_reason, StopReason::TargetStdError, "{m:?}");
        assert!(e.max_std_error() <= 0.05);
    }
    let timed = SamplerOptions {
        seed: 1,
        stop: StopRule {
            max_time_ms: Some(0),
            ..StopRule::default()
        },
    };
    let e = permutation_shapley(&g, false, &timed).expect("runs");
    assert_eq!(e.stop_reason, StopReason::TimeBudget);
    assert_eq!(
        e.samples, 2,
        "two samples always run so a standard error exists"
    );
}

#[test]
fn too_small_budget_and_missing_rule_are_errors() {
    let g = airport(50, 4);
    let tiny = SamplerOptions::with_budget(0, 10);
    for m in [
        Method::Permutation { antithetic: false },
        Method::Tmc { tolerance: 0.01 },
        Method::Gtg(GtgOptions::default()),
        Method::Stratified,
        Method::BanzhafMsr,
    ] {
        assert!(
            matches!(
                estimate(&g, &m, &tiny),
                Err(crate::ShapleyError::BudgetTooSmall { .. })
            ),
            "{m:?}"
        );
    }
    let none = SamplerOptions {
        seed: 0,
        stop: StopRule::default(),
    };
    assert!(permutation_shapley(&g, false, &none).is_err());
    assert!(tmc_shapley(&g, -1.0, &SamplerOptions::with_budget(0, 10_000)).is_err());
}

#[test]
fn gtg_between_round_truncation_gives_zeros() {
    let flat = crate::utility::FnUtility::new(5, |_: &crate::Coalition| 0.0);
    let e = gtg_shapley(
        &flat,
        &GtgOptions::default(),
        &SamplerOptions::with_budget(0, 1_000),
    )
    .expect("runs");
    assert_eq!(e.stop_reason, StopReason::NothingToShare);
    assert_eq!(e.values, vec![0.0; 5]);
    assert_eq!(e.evaluations, 2);
}

/// Root mean squared error over players and independent runs.
fn rmse(
    u: &(impl crate::Utility + ?Sized),
    m: &Method,
    truth: &[f64],
    budget: u64,
    runs: u64,
) -> f64 {
    let mut sq = 0.0;
    for seed in 0..runs {
        let e = estimate(u, m, &SamplerOptions::with_budget(1000 + seed, budget)).expect("runs");
        sq += e
            .values
            .iter()
            .zip(truth)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>();
    }
    (sq / (runs as usize * truth.len()) as f64).sqrt()
}

#[test]
fn error_shrinks_like_one_over_root_budget() {
    let n = 10;
    let u = mask_game(n, random_values(n, 43));
    let truth = exact_shapley(&u).expect("small").values;
    let per_perm = (n - 1) as u64;
    for m in [
        Method::Permutation { antithetic: false },
        Method::Tmc { tolerance: 0.0 },
    ] {
        let k = 2 + 16 * per_perm;
        let small = rmse(&u, &m, &truth, k, 40);
        let large = rmse(&u, &m, &truth, 2 + 256 * per_perm, 40);
        let ratio = small / large;
        assert!(
            (2.8..=5.7).contains(&ratio),
            "{m:?}: RMSE ratio {ratio} (expected ≈ 4)"
        );
    }
}
