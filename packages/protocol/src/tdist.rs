//! One-sided critical values of Student's t, for verdicts at a DAO-set level α.
//!
//! A participant is judged *harmful* only when its score is below zero by a one-sided t-test at
//! level α: `φ + t(α, ν) · se < 0`, with ν the degrees of freedom of the standard error (the
//! evaluators' validation batches, or sampled permutations, less one). Contracts cannot call a
//! quantile function, so the values are tabulated for the levels a DAO may choose
//! ([`LEVELS_PER_MILLE`]) at ν = 1..30, 40, 60, 120 and ∞, in ten-thousandths rounded *up*. A ν
//! between two columns uses the smaller (a larger critical value: the test errs toward not
//! slashing). The unit tests recompute every entry by integrating the t density.

use cosmwasm_std::Decimal;

/// Degrees of freedom of the table's columns (the last column, ∞, is not listed).
const DFS: [u32; 33] = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26,
    27, 28, 29, 30, 40, 60, 120,
];
/// `(α in per mille, t(α, ν) · 10⁴ for ν in DFS then ∞)`.
const TABLE: [(u32, [u32; 34]); 6] = [
    (
        1,
        [
            3183089, 223272, 102146, 71732, 58935, 52077, 47853, 45008, 42969, 41438, 40248, 39297,
            38520, 37874, 37329, 36862, 36458, 36105, 35795, 35519, 35272, 35050, 34850, 34668,
            34502, 34350, 34211, 34082, 33963, 33852, 33069, 32318, 31596, 30903,
        ],
    ),
    (
        5,
        [
            636568, 99249, 58410, 46041, 40322, 37075, 34995, 33554, 32499, 31693, 31059, 30546,
            30123, 29769, 29468, 29208, 28983, 28785, 28610, 28454, 28314, 28188, 28074, 27970,
            27875, 27788, 27707, 27633, 27564, 27500, 27045, 26603, 26175, 25759,
        ],
    ),
    (
        10,
        [
            318206, 69646, 45408, 37470, 33650, 31427, 29980, 28965, 28215, 27638, 27181, 26810,
            26504, 26245, 26025, 25835, 25670, 25524, 25395, 25280, 25177, 25084, 24999, 24922,
            24852, 24787, 24727, 24672, 24621, 24573, 24233, 23902, 23579, 23264,
        ],
    ),
    (
        25,
        [
            127063, 43027, 31825, 27765, 25706, 24470, 23647, 23061, 22622, 22282, 22010, 21789,
            21604, 21448, 21315, 21200, 21099, 21010, 20931, 20860, 20797, 20739, 20687, 20639,
            20596, 20556, 20519, 20485, 20453, 20423, 20211, 20003, 19800, 19600,
        ],
    ),
    (
        50,
        [
            63138, 29200, 23534, 21319, 20151, 19432, 18946, 18596, 18332, 18125, 17959, 17823,
            17710, 17614, 17531, 17459, 17397, 17341, 17292, 17248, 17208, 17172, 17139, 17109,
            17082, 17057, 17033, 17012, 16992, 16973, 16839, 16707, 16577, 16449,
        ],
    ),
    (
        100,
        [
            30777, 18857, 16378, 15333, 14759, 14398, 14150, 13969, 13831, 13722, 13635, 13563,
            13502, 13451, 13407, 13368, 13334, 13304, 13278, 13254, 13232, 13213, 13195, 13179,
            13164, 13150, 13138, 13126, 13115, 13105, 13031, 12959, 12887, 12816,
        ],
    ),
];

/// The levels α (per mille) a round may use: 0.1%, 0.5%, 1%, 2.5%, 5% and 10%.
pub const LEVELS_PER_MILLE: [u32; 6] = [1, 5, 10, 25, 50, 100];

/// α as a [`Decimal`], if it is one of the tabulated levels; its per-mille value.
pub fn level_per_mille(alpha: Decimal) -> Option<u32> {
    LEVELS_PER_MILLE
        .into_iter()
        .find(|&pm| Decimal::permille(pm as u64) == alpha)
}

/// The one-sided critical value `t(α, ν)` (so `P(T > t) = α` for T ~ Student-t with ν degrees
/// of freedom), or `None` if α is not a tabulated level. ν = 0 (a single batch: no estimate
/// of the spread) has no finite critical value and is treated as ν = 1, the most cautious.
pub fn critical(alpha: Decimal, dof: u32) -> Option<Decimal> {
    let pm = level_per_mille(alpha)?;
    let row = TABLE.iter().find(|(p, _)| *p == pm)?.1;
    let column = if dof > DFS[DFS.len() - 1] * 10 {
        // Far past the last column: the normal quantile.
        DFS.len()
    } else {
        DFS.iter().rposition(|&d| d <= dof.max(1)).unwrap_or(0)
    };
    Some(Decimal::from_ratio(row[column], 10_000u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// P(T ≤ t) for Student-t with ν degrees of freedom, by Simpson's rule on the density
    /// (ν = ∞: the normal).
    fn cdf(t: f64, nu: Option<f64>) -> f64 {
        let density = |x: f64| -> f64 {
            match nu {
                Some(v) => {
                    let c = (ln_gamma((v + 1.0) / 2.0) - ln_gamma(v / 2.0)).exp()
                        / (v * std::f64::consts::PI).sqrt();
                    c * (1.0 + x * x / v).powf(-(v + 1.0) / 2.0)
                }
                None => (-x * x / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt(),
            }
        };
        // P(0 ≤ T ≤ t) on a substitution x = t·u that keeps the heavy tail out of the grid.
        let steps = 200_000;
        let h = t / steps as f64;
        let mut sum = density(0.0) + density(t);
        for k in 1..steps {
            let w = if k % 2 == 1 { 4.0 } else { 2.0 };
            sum += w * density(k as f64 * h);
        }
        0.5 + sum * h / 3.0
    }

    /// ln Γ(x) by Lanczos (g = 7, n = 9), ample for half-integers.
    fn ln_gamma(x: f64) -> f64 {
        const C: [f64; 9] = [
            0.999_999_999_999_809_9,
            676.520_368_121_885_1,
            -1_259.139_216_722_402_8,
            771.323_428_777_653_1,
            -176.615_029_162_140_6,
            12.507_343_278_686_905,
            -0.138_571_095_265_720_12,
            9.984_369_578_019_572e-6,
            1.505_632_735_149_311_6e-7,
        ];
        let x = x - 1.0;
        let mut a = C[0];
        let t = x + 7.5;
        for (i, c) in C.iter().enumerate().skip(1) {
            a += c / (x + i as f64);
        }
        0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
    }

    #[test]
    fn every_entry_has_its_tail_probability() {
        for (pm, row) in TABLE {
            let alpha = pm as f64 / 1000.0;
            for (i, &v) in row.iter().enumerate() {
                let nu = DFS.get(i).map(|&d| d as f64);
                let t = v as f64 / 10_000.0;
                let tail = 1.0 - cdf(t, nu);
                // Rounded up by less than 10⁻⁴: the tail is at most α and only just below it.
                assert!(
                    tail <= alpha * (1.0 + 1e-6),
                    "α={alpha} ν={nu:?}: tail {tail}"
                );
                let below = 1.0 - cdf(t - 1e-4, nu);
                assert!(
                    below > alpha,
                    "α={alpha} ν={nu:?}: {t} is not the smallest such value"
                );
            }
        }
    }

    #[test]
    fn lookup_rounds_toward_caution() {
        let one = Decimal::percent(1);
        assert_eq!(
            critical(one, 7),
            Some(Decimal::from_ratio(29980u32, 10_000u32))
        );
        // ν = 35 uses ν = 30's (larger) value; ν = 0 uses ν = 1's.
        assert_eq!(critical(one, 35), critical(one, 30));
        assert_eq!(critical(one, 0), critical(one, 1));
        assert!(critical(one, 10_000) < critical(one, 120));
        assert_eq!(critical(Decimal::percent(3), 7), None);
        for pm in LEVELS_PER_MILLE {
            let a = Decimal::permille(pm as u64);
            let mut last = Decimal::MAX;
            for nu in 0..2_000 {
                let t = critical(a, nu).expect("tabulated level");
                assert!(t <= last, "critical values shrink as ν grows");
                last = t;
            }
        }
    }
}
