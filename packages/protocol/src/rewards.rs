//! The reward and slashing rule of a settled round (DESIGN §4), in exact integer arithmetic.
//!
//! With φᵢ each participant's consensus Shapley value, seᵢ its standard error and
//! `t = t(α, ν)` the one-sided Student-t critical value at the round's level α
//! ([`crate::tdist`]):
//! - a participant is *harmful* when `φᵢ + t · seᵢ < 0` (below zero by a one-sided test at
//!   level α, so an honest participant worth nothing is slashed in at most α of rounds) and
//!   forfeits `slash_harmful` of its stake;
//! - `G = Σ φᵢ⁺` over the evaluated participants that are not harmful: the value the round's
//!   useful updates created (by efficiency it equals ΔU = U(N) when nobody is harmful);
//! - `pool = floor(budget · clamp(G / ΔU_target, 0, 1))`: a round that creates nothing pays
//!   nothing, and a poisoner cannot zero the honest participants' pool by dragging ΔU below 0;
//! - a non-harmful participant is a *free-rider* when `φᵢ + t · seᵢ ≤ τ · G / n` (at or
//!   below the threshold by the same test) and forfeits `slash_free_rider`; one with
//!   `φᵢ ≤ τ · G / n` that the test cannot convict is *unpaid* (no reward, no slash); a
//!   *no-show* (joined, never committed) forfeits `slash_no_show`; everyone else is a
//!   *contributor*;
//! - contributors share the pool in proportion to φᵢ⁺, rounded down; the rounding dust goes to
//!   the treasury. Harmful participants and free-riders earn nothing.
//!
//! So `Σ rewards + dust = pool ≤ budget` and `slash ≤ stake` always hold.

use cosmwasm_schema::cw_serde;
use cosmwasm_std::{Decimal, SignedDecimal, Uint128, Uint256};

/// DAO-governed constants of the reward rule.
#[cw_serde]
pub struct RewardParams {
    /// Tokens a round can pay out at most.
    pub budget: Uint128,
    /// The utility gain at which a round earns its whole budget (must be > 0).
    pub delta_u_target: Decimal,
    /// τ: a participant whose value is below τ · ΔU / n is a free-rider.
    pub free_rider_tau: Decimal,
    /// Fraction of its stake a free-rider forfeits (≤ 1).
    pub slash_free_rider: Decimal,
    /// Fraction of its stake a harmful participant forfeits (≤ 1).
    pub slash_harmful: Decimal,
    /// Fraction of its stake a no-show forfeits (≤ 1).
    pub slash_no_show: Decimal,
    /// α: the level of the one-sided tests behind the harmful and free-rider verdicts, one of
    /// [`crate::tdist::LEVELS_PER_MILLE`] (0.1%, 0.5%, 1%, 2.5%, 5%, 10%).
    pub harm_alpha: Decimal,
}

/// Why a set of reward parameters is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RewardParamsError {
    #[error("delta_u_target must be greater than zero")]
    ZeroTarget,
    #[error("{name} must be at most 1 (a fraction of the stake), got {value}")]
    RateAboveOne { name: &'static str, value: Decimal },
    #[error("harm_alpha must be one of 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, got {0}")]
    Alpha(Decimal),
}

impl RewardParams {
    /// Checks the constants once, where they enter the system.
    pub fn validate(&self) -> Result<(), RewardParamsError> {
        if self.delta_u_target.is_zero() {
            return Err(RewardParamsError::ZeroTarget);
        }
        if crate::tdist::level_per_mille(self.harm_alpha).is_none() {
            return Err(RewardParamsError::Alpha(self.harm_alpha));
        }
        for (name, value) in [
            ("slash_free_rider", self.slash_free_rider),
            ("slash_harmful", self.slash_harmful),
            ("slash_no_show", self.slash_no_show),
        ] {
            if value > Decimal::one() {
                return Err(RewardParamsError::RateAboveOne { name, value });
            }
        }
        Ok(())
    }

    /// The critical value of the verdicts' tests for standard errors with `dof` degrees of
    /// freedom (the most cautious tabulated value if α is somehow not tabulated).
    pub fn critical_t(&self, dof: u32) -> Decimal {
        crate::tdist::critical(self.harm_alpha, dof)
            .unwrap_or_else(|| Decimal::from_ratio(3_183_089u32, 10_000u32))
    }
}

/// An evaluated participant's consensus score.
#[cw_serde]
#[derive(Copy)]
pub struct Score {
    /// φᵢ, the participant's Shapley value.
    pub value: SignedDecimal,
    /// The standard error of φᵢ.
    pub std_error: Decimal,
}

/// One joined participant as the rule sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Entry {
    /// Tokens bonded by the participant.
    pub stake: Uint128,
    /// Its median score, or `None` for a no-show.
    pub score: Option<Score>,
}

/// How the rule classed a participant.
#[cw_serde]
#[derive(Copy, Eq)]
pub enum Verdict {
    /// Earns a share of the pool.
    Contributor,
    /// Contributed significantly below the free-rider threshold.
    FreeRider,
    /// At or below the free-rider threshold, but not significantly: neither paid nor slashed.
    Unpaid,
    /// Made the model worse: below zero by the one-sided test at level α.
    Harmful,
    /// Joined but never committed an update.
    NoShow,
}

/// What one participant gets and forfeits.
#[cw_serde]
#[derive(Copy, Eq)]
pub struct Outcome {
    pub verdict: Verdict,
    pub reward: Uint128,
    pub slash: Uint128,
}

/// The whole round's payout, with outcomes in the order of the entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payout {
    pub outcomes: Vec<Outcome>,
    /// Tokens the round pays in all (rewards plus dust).
    pub pool: Uint128,
    /// `pool - Σ rewards`, paid to the treasury.
    pub dust: Uint128,
}

/// The figures a round's settlement fixes after its first pass over the participants: the
/// created value `G` and the number of evaluated participants. Paged settlement accumulates
/// them page by page with [`Gain::add`].
#[cw_serde]
#[derive(Copy, Default)]
pub struct Gain {
    /// Participants with a score (not no-shows).
    pub evaluated: u32,
    /// `G = Σ φᵢ⁺` over evaluated, non-harmful participants (saturating).
    pub value: SignedDecimal,
}

impl Gain {
    /// Counts one participant's score (`None` for a no-show); `t` is the tests' critical value.
    pub fn add(&mut self, score: Option<Score>, t: Decimal) {
        if let Some(s) = score {
            self.evaluated = self.evaluated.saturating_add(1);
            if !is_harmful(s, t) && s.value > SignedDecimal::zero() {
                self.value = self.value.saturating_add(s.value);
            }
        }
    }

    /// τ · G / n: at or below it a non-harmful participant is a free-rider.
    pub fn threshold(&self, params: &RewardParams) -> SignedDecimal {
        free_rider_threshold(params.free_rider_tau, self.value, self.evaluated as usize)
    }
}

/// A participant's verdict and the fraction of its stake it forfeits; `t` is the tests'
/// critical value.
pub fn classify(
    params: &RewardParams,
    score: Option<Score>,
    threshold: SignedDecimal,
    t: Decimal,
) -> (Verdict, Decimal) {
    match score {
        None => (Verdict::NoShow, params.slash_no_show),
        Some(s) if is_harmful(s, t) => (Verdict::Harmful, params.slash_harmful),
        Some(s) if upper_bound(s, t) <= threshold => (Verdict::FreeRider, params.slash_free_rider),
        // A zero value is never a contribution, even when the threshold is zero.
        Some(s) if s.value <= threshold => (Verdict::Unpaid, Decimal::zero()),
        Some(_) => (Verdict::Contributor, Decimal::zero()),
    }
}

/// `φ + t · se`: the one-sided upper confidence bound of a score (saturating).
pub fn upper_bound(s: Score, t: Decimal) -> SignedDecimal {
    let margin = s.std_error.checked_mul(t).unwrap_or(Decimal::MAX);
    let margin = SignedDecimal::try_from(margin).unwrap_or(SignedDecimal::MAX);
    s.value.saturating_add(margin)
}

/// A participant's weight in the pool: φᵢ⁺ for a contributor, zero for everyone else.
pub fn weight(verdict: Verdict, score: Option<Score>) -> Uint256 {
    match (verdict, score) {
        (Verdict::Contributor, Some(s)) if s.value > SignedDecimal::zero() => {
            Uint256::from(s.value.atomics().unsigned_abs())
        }
        _ => Uint256::zero(),
    }
}

/// `floor(budget · clamp(G / ΔU_target, 0, 1))`, or zero when no contributor has weight.
pub fn pool(params: &RewardParams, gain: &Gain, total_weight: Uint256) -> Uint128 {
    if total_weight.is_zero() {
        return Uint128::zero();
    }
    params
        .budget
        .mul_floor(gain_fraction(gain.value, params.delta_u_target))
}

/// `floor(pool · w / Σw)`: a contributor's reward.
pub fn share(pool: Uint128, weight: Uint256, total_weight: Uint256) -> Uint128 {
    if total_weight.is_zero() || pool.is_zero() {
        return Uint128::zero();
    }
    // pool · w / Σw ≤ pool whenever w ≤ Σw; a larger w is clamped to the pool.
    Uint128::try_from(Uint256::from(pool).multiply_ratio(weight.min(total_weight), total_weight))
        .unwrap_or(pool)
}

/// What the whole round fixes before paying anyone: enough to compute any participant's
/// outcome on its own.
#[cw_serde]
#[derive(Copy)]
pub struct Fixed {
    /// The tests' critical value t(α, ν).
    pub t: Decimal,
    pub threshold: SignedDecimal,
    pub total_weight: Uint256,
    pub pool: Uint128,
}

/// One participant's outcome under the round's fixed figures.
pub fn outcome(params: &RewardParams, fixed: &Fixed, entry: &Entry) -> Outcome {
    let (verdict, rate) = classify(params, entry.score, fixed.threshold, fixed.t);
    let reward = share(fixed.pool, weight(verdict, entry.score), fixed.total_weight);
    Outcome {
        verdict,
        reward,
        slash: entry.stake.mul_floor(rate),
    }
}

/// Applies the rule to the round's entries in one pass over them, with standard errors of
/// `dof` degrees of freedom (the paged settlement on chain computes the same figures with
/// [`Gain`], [`weight`] and [`outcome`]).
pub fn compute_payout(params: &RewardParams, entries: &[Entry], dof: u32) -> Payout {
    let t = params.critical_t(dof);
    let mut gain = Gain::default();
    for e in entries {
        gain.add(e.score, t);
    }
    let threshold = gain.threshold(params);
    let total_weight = entries.iter().fold(Uint256::zero(), |a, e| {
        a + weight(classify(params, e.score, threshold, t).0, e.score)
    });
    let fixed = Fixed {
        t,
        threshold,
        total_weight,
        pool: pool(params, &gain, total_weight),
    };
    let outcomes: Vec<Outcome> = entries.iter().map(|e| outcome(params, &fixed, e)).collect();
    let paid = outcomes.iter().fold(Uint128::zero(), |a, o| a + o.reward);
    Payout {
        outcomes,
        pool: fixed.pool,
        dust: fixed.pool - paid,
    }
}

/// `clamp(G / target, 0, 1)`.
fn gain_fraction(delta_u: SignedDecimal, target: Decimal) -> Decimal {
    if delta_u <= SignedDecimal::zero() || target.is_zero() {
        return Decimal::zero();
    }
    let gain = Decimal::new(delta_u.atomics().unsigned_abs());
    match gain.checked_div(target) {
        Ok(f) if f < Decimal::one() => f,
        _ => Decimal::one(),
    }
}

/// τ · G / n (G ≥ 0).
fn free_rider_threshold(tau: Decimal, delta_u: SignedDecimal, n: usize) -> SignedDecimal {
    if n == 0 {
        return SignedDecimal::zero();
    }
    let tau = SignedDecimal::try_from(tau).unwrap_or(SignedDecimal::MAX);
    let n = SignedDecimal::from_atomics(i128::try_from(n).unwrap_or(i128::MAX), 0)
        .unwrap_or(SignedDecimal::MAX);
    delta_u
        .checked_mul(tau)
        .ok()
        .and_then(|x| x.checked_div(n).ok())
        .unwrap_or(if delta_u.is_negative() {
            SignedDecimal::MIN
        } else {
            SignedDecimal::MAX
        })
}

/// Below zero by the one-sided test with critical value `t`: `φ + t · se < 0`.
pub fn is_harmful(s: Score, t: Decimal) -> bool {
    s.value.is_negative() && upper_bound(s, t).is_negative()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::str::FromStr;

    fn params(budget: u128) -> RewardParams {
        RewardParams {
            budget: Uint128::new(budget),
            delta_u_target: Decimal::from_str("1").expect("decimal"),
            free_rider_tau: Decimal::from_str("0.1").expect("decimal"),
            slash_free_rider: Decimal::from_str("0.5").expect("decimal"),
            slash_harmful: Decimal::one(),
            slash_no_show: Decimal::from_str("0.25").expect("decimal"),
            harm_alpha: Decimal::percent(1),
        }
    }

    /// Standard errors from so many batches that t is the normal quantile (2.3263 at 1%).
    const LARGE_DOF: u32 = 1_000_000;

    fn compute_payout(params: &RewardParams, entries: &[Entry]) -> Payout {
        super::compute_payout(params, entries, LARGE_DOF)
    }

    fn sd(s: &str) -> SignedDecimal {
        SignedDecimal::from_str(s).expect("signed decimal")
    }

    fn scored(stake: u128, value: &str, se: &str) -> Entry {
        Entry {
            stake: Uint128::new(stake),
            score: Some(Score {
                value: sd(value),
                std_error: Decimal::from_str(se).expect("dec"),
            }),
        }
    }

    #[test]
    fn contributors_share_pool_by_value() {
        let entries = [
            scored(100, "0.3", "0"),
            scored(100, "0.1", "0"),
            scored(100, "0.1", "0"),
        ];
        let p = compute_payout(&params(1000), &entries);
        assert_eq!(p.pool, Uint128::new(500), "ΔU/target = 0.5 of the budget");
        let rewards: Vec<u128> = p.outcomes.iter().map(|o| o.reward.u128()).collect();
        assert_eq!(rewards, vec![300, 100, 100]);
        assert_eq!(p.dust, Uint128::zero());
        assert!(p
            .outcomes
            .iter()
            .all(|o| o.verdict == Verdict::Contributor && o.slash.is_zero()));
    }

    #[test]
    fn rounding_dust_goes_to_treasury() {
        let entries = [
            scored(1, "1", "0"),
            scored(1, "1", "0"),
            scored(1, "1", "0"),
        ];
        let p = compute_payout(&params(100), &entries);
        assert_eq!(
            p.pool,
            Uint128::new(100),
            "gain above target pays the whole budget"
        );
        assert!(p.outcomes.iter().all(|o| o.reward == Uint128::new(33)));
        assert_eq!(p.dust, Uint128::new(1));
    }

    #[test]
    fn free_rider_harmful_and_no_show_are_slashed_and_unpaid() {
        let entries = [
            scored(1000, "0.9", "0.01"),
            scored(1000, "0.001", "0.01"), // below τ·ΔU/n = 0.1·0.8/3
            scored(1000, "-0.1", "0.01"),  // negative beyond its error
            Entry {
                stake: Uint128::new(1000),
                score: None,
            },
        ];
        let p = compute_payout(&params(1000), &entries);
        let v: Vec<Verdict> = p.outcomes.iter().map(|o| o.verdict).collect();
        assert_eq!(
            v,
            vec![
                Verdict::Contributor,
                Verdict::FreeRider,
                Verdict::Harmful,
                Verdict::NoShow
            ]
        );
        let slash: Vec<u128> = p.outcomes.iter().map(|o| o.slash.u128()).collect();
        assert_eq!(slash, vec![0, 500, 1000, 250]);
        // G = 0.9 + 0.001 (the harmful −0.1 does not count): 901 of 1000.
        assert_eq!(p.outcomes[0].reward, Uint128::new(901));
        assert!(p.outcomes[1..].iter().all(|o| o.reward.is_zero()));
    }

    #[test]
    fn negative_within_error_is_unpaid_not_slashed() {
        let entries = [scored(10, "1", "0"), scored(10, "-0.01", "0.05")];
        let p = compute_payout(&params(100), &entries);
        assert_eq!(p.outcomes[1].verdict, Verdict::Unpaid);
        assert!(p.outcomes[1].slash.is_zero() && p.outcomes[1].reward.is_zero());
    }

    #[test]
    fn a_zero_value_is_never_paid_even_when_nothing_was_created() {
        let entries = [scored(10, "0", "0.001"), scored(10, "-0.001", "0.01")];
        let p = compute_payout(&params(1000), &entries);
        assert!(p.outcomes.iter().all(|o| o.verdict == Verdict::Unpaid));
        let entries = [scored(10, "0", "0"), scored(10, "1", "0")];
        let p = compute_payout(&params(1000), &entries);
        assert_eq!(
            p.outcomes[0].verdict,
            Verdict::FreeRider,
            "exactly zero, no doubt"
        );
    }

    /// Deterministic standard normals (splitmix64 + Box–Muller).
    struct Normals(u64);
    impl Normals {
        fn uniform(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        }
        fn next(&mut self) -> f64 {
            let (u, v) = (self.uniform().max(1e-300), self.uniform());
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        }
    }

    /// An honest participant worth exactly nothing, valued on 8 validation batches (φ the
    /// batch mean, se its standard error, 7 degrees of freedom), is judged harmful in at most
    /// α of rounds; the old rule (one standard error, t = 1) convicted it in ≈ 17.5%.
    #[test]
    fn a_worthless_honest_participant_is_convicted_at_rate_alpha() {
        let trials = 40_000;
        let batches = 8;
        for (alpha, spread) in [(Decimal::percent(1), 0.01), (Decimal::percent(5), 0.3)] {
            let mut p = params(1000);
            p.harm_alpha = alpha;
            let t = p.critical_t(batches - 1);
            let mut rng = Normals(alpha.atomics().u128() as u64);
            let (mut convicted, mut old_rule) = (0u32, 0u32);
            for _ in 0..trials {
                let xs: Vec<f64> = (0..batches).map(|_| spread * rng.next()).collect();
                let mean = xs.iter().sum::<f64>() / batches as f64;
                let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (batches - 1) as f64;
                let se = (var / batches as f64).sqrt();
                let score = Score {
                    value: SignedDecimal::from_str(&format!("{mean:.12}")).expect("finite"),
                    std_error: Decimal::from_str(&format!("{se:.12}")).expect("finite"),
                };
                convicted += u32::from(is_harmful(score, t));
                old_rule += u32::from(is_harmful(score, Decimal::one()));
            }
            let a: f64 = alpha.to_string().parse().expect("decimal");
            let rate = convicted as f64 / trials as f64;
            let half_width = 1.96 * (a * (1.0 - a) / trials as f64).sqrt();
            assert!(rate <= a + half_width, "α = {a}: convicted {rate}");
            assert!(
                rate >= a - 3.0 * half_width,
                "α = {a}: the test is calibrated ({rate})"
            );
            let old = old_rule as f64 / trials as f64;
            assert!(
                (old - 0.175).abs() < 0.01,
                "the one-standard-error rule: {old}"
            );
        }
    }

    #[test]
    fn round_that_creates_nothing_pays_nothing() {
        for entries in [
            vec![scored(10, "0.0", "0"), scored(10, "-0.0", "0")],
            vec![scored(10, "-0.2", "0"), scored(10, "-0.01", "0.1")],
        ] {
            let p = compute_payout(&params(1000), &entries);
            assert_eq!(p.pool, Uint128::zero());
            assert_eq!(p.dust, Uint128::zero());
            assert!(p.outcomes.iter().all(|o| o.reward.is_zero()));
        }
    }

    #[test]
    fn a_poisoner_cannot_zero_the_honest_pool() {
        // ΔU = 0.3 + 0.2 − 0.9 < 0, yet the honest pair created 0.5 of value.
        let entries = [
            scored(10, "0.3", "0"),
            scored(10, "0.2", "0"),
            scored(10, "-0.9", "0"),
        ];
        let p = compute_payout(&params(1000), &entries);
        assert_eq!(p.pool, Uint128::new(500));
        let rewards: Vec<u128> = p.outcomes.iter().map(|o| o.reward.u128()).collect();
        assert_eq!(rewards, vec![300, 200, 0]);
        assert_eq!(p.outcomes[2].verdict, Verdict::Harmful);
        assert_eq!(p.outcomes[2].slash.u128(), 10);
    }

    #[test]
    fn huge_numbers_do_not_overflow() {
        let entries = [
            scored(u128::MAX, "1000000000", "0"),
            scored(u128::MAX, "1", "0"),
        ];
        let mut pr = params(u128::MAX);
        pr.slash_free_rider = Decimal::one();
        let p = compute_payout(&pr, &entries);
        assert_eq!(p.pool, Uint128::MAX);
        let total: u128 = p.outcomes.iter().map(|o| o.reward.u128()).sum::<u128>() + p.dust.u128();
        assert_eq!(total, u128::MAX);
    }

    #[test]
    fn validate_rejects_bad_constants() {
        let mut p = params(1);
        p.delta_u_target = Decimal::zero();
        assert_eq!(p.validate(), Err(RewardParamsError::ZeroTarget));
        let mut p = params(1);
        p.slash_harmful = Decimal::from_str("1.5").expect("dec");
        assert!(matches!(
            p.validate(),
            Err(RewardParamsError::RateAboveOne {
                name: "slash_harmful",
                ..
            })
        ));
        assert_eq!(params(1).validate(), Ok(()));
    }

    proptest! {
        #[test]
        fn pool_is_conserved_and_bounded(
            budget in 0u128..=u128::MAX,
            rows in prop::collection::vec((0u128..=u128::MAX, proptest::option::of((-1_000_000i64..1_000_000, 0u64..1000))), 0..40),
        ) {
            let entries: Vec<Entry> = rows.iter().map(|(stake, s)| Entry {
                stake: Uint128::new(*stake),
                score: s.map(|(v, se)| Score {
                    value: SignedDecimal::from_atomics(v, 3).expect("fits"),
                    std_error: Decimal::from_atomics(se as u128, 3).expect("fits"),
                }),
            }).collect();
            let p = compute_payout(&params(budget), &entries);
            prop_assert!(p.pool.u128() <= budget);
            let paid = p.outcomes.iter().fold(Uint256::zero(), |a, o| a + Uint256::from(o.reward));
            prop_assert_eq!(paid + Uint256::from(p.dust), Uint256::from(p.pool));
            for (o, e) in p.outcomes.iter().zip(&entries) {
                prop_assert!(o.slash <= e.stake);
                if o.verdict != Verdict::Contributor { prop_assert!(o.reward.is_zero()); }
            }
        }
    }
}
