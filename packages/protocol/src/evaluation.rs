//! The evaluator layer's rule (DESIGN §4b): how revealed reports become one consensus score per
//! participant, and how each evaluator is judged and paid against that consensus.
//!
//! - **Consensus value**: the weighted median of the evaluators' values, each weighted by its
//!   bond counted up to the round's `min_bond` (the round-manager caps it: evaluators are a
//!   DAO-listed panel, and an uncapped weight would let one large bond set every median). It
//!   is always one of the reported values (no mean of two), and evaluators holding less than
//!   half the weight cannot move it outside the range the others reported.
//! - **Consensus standard error**, aggregated with the value: the larger of the bond-weighted
//!   median of the reported standard errors and the robust dispersion of the values across
//!   evaluators (1.4826 × their weighted median absolute deviation from the consensus). A
//!   minority can inflate neither, so an inflated standard error cannot shield a harmful update;
//!   and when honest evaluators disagree more than their own errors say, the disagreement is the
//!   error. (Taking "the standard error of the median report" would not do: a liar that places
//!   its value between two honest ones *is* the median report and would choose the error.)
//! - **Agreement**: an evaluator's deviation is `Σᵢ |φₑ,ᵢ − φ*ᵢ|` over the participants, judged
//!   against the round's scale `S = Σᵢ |φ*ᵢ| + Σᵢ se*ᵢ / f`, with `f = outlier_fraction`: the
//!   size of the scores, plus a noise floor so that in a round whose scores are all within
//!   their errors of zero honest measurement noise is not taken for a lie (one consensus
//!   standard error per participant is always within `f · S`). Its agreement is
//!   `1 − deviation / (f · S)`, clamped at zero: beyond `f · S` it is an *outlier* (recorded
//!   and unpaid), beyond `slash_outlier_above · S` it is *deviant* and forfeits `slash_outlier`
//!   of its bond. Evaluators share `share · budget` in proportion to bond × agreement.

use cosmwasm_schema::cw_serde;
use cosmwasm_std::{Decimal, SignedDecimal, Uint128, Uint256};

use crate::rewards::Score;

/// DAO-governed constants of the evaluator layer; a round copies them when it opens.
#[cw_serde]
pub struct EvaluatorParams {
    /// Smallest bond (in the stake asset) an evaluator posts in the escrow to serve in a round.
    pub min_bond: Uint128,
    /// Fraction of the round's budget paid to its evaluators (< 1).
    pub share: Decimal,
    /// Beyond this fraction of the round's scale Σ|φ*|, an evaluator is an outlier: recorded
    /// and unpaid (> 0).
    pub outlier_fraction: Decimal,
    /// Beyond this fraction of the scale (≥ `outlier_fraction`), an outlier is deviant and
    /// also forfeits `slash_outlier` of its bond.
    pub slash_outlier_above: Decimal,
    /// Fraction of its bond a deviant evaluator forfeits (≤ 1).
    pub slash_outlier: Decimal,
    /// Fraction of its bond an evaluator forfeits when it bonded but did not commit and
    /// reveal a report in time (≤ 1).
    pub slash_no_show: Decimal,
    /// Fraction of its bond an evaluator forfeits when a dispute shows that its scores do not
    /// follow from its own utility table (≤ 1).
    pub slash_disputed: Decimal,
    /// Deposit a challenger bonds with a dispute; forfeited if the report proves consistent.
    pub dispute_deposit: Uint128,
    /// Fraction of a disputed evaluator's slash paid to the challenger; the rest goes to the
    /// treasury (≤ 1).
    pub challenger_share: Decimal,
    /// Blocks after a round ends during which evaluators' bonds stay locked, so the DAO can
    /// still penalise one on evidence from re-execution (the escrow's `penalize_evaluator`).
    pub appeal_blocks: u64,
}

/// Why a set of evaluator parameters is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvaluatorParamsError {
    #[error("{0} must be greater than zero")]
    Zero(&'static str),
    #[error("{name} must be at most 1, got {value}")]
    AboveOne { name: &'static str, value: Decimal },
    #[error("the evaluators' share of the budget must be below 1, got {0}")]
    ShareTooLarge(Decimal),
    #[error("slash_outlier_above ({above}) must be at least outlier_fraction ({outlier})")]
    SlashBelowOutlier { above: Decimal, outlier: Decimal },
}

impl EvaluatorParams {
    /// Checks the constants once, where they enter the system.
    pub fn validate(&self) -> Result<(), EvaluatorParamsError> {
        if self.min_bond.is_zero() {
            return Err(EvaluatorParamsError::Zero("min_bond"));
        }
        if self.dispute_deposit.is_zero() {
            return Err(EvaluatorParamsError::Zero("dispute_deposit"));
        }
        if self.outlier_fraction.is_zero() {
            return Err(EvaluatorParamsError::Zero("outlier_fraction"));
        }
        if self.share >= Decimal::one() {
            return Err(EvaluatorParamsError::ShareTooLarge(self.share));
        }
        if self.slash_outlier_above < self.outlier_fraction {
            return Err(EvaluatorParamsError::SlashBelowOutlier {
                above: self.slash_outlier_above,
                outlier: self.outlier_fraction,
            });
        }
        for (name, value) in [
            ("slash_outlier", self.slash_outlier),
            ("slash_no_show", self.slash_no_show),
            ("slash_disputed", self.slash_disputed),
            ("challenger_share", self.challenger_share),
        ] {
            if value > Decimal::one() {
                return Err(EvaluatorParamsError::AboveOne { name, value });
            }
        }
        Ok(())
    }

    /// `floor(budget · share)`: what a round sets aside for its evaluators.
    pub fn budget(&self, round_budget: Uint128) -> Uint128 {
        round_budget.mul_floor(self.share)
    }
}

/// The smallest quorum the contracts accept: a median needs an odd count of at least three
/// (2f + 1 reports with f ≥ 1) before a minority cannot set it.
pub const MIN_QUORUM: u32 = 3;

/// Whether `quorum` is an allowed evaluator quorum (odd and at least [`MIN_QUORUM`]).
pub fn quorum_allowed(quorum: u32) -> bool {
    quorum >= MIN_QUORUM && quorum % 2 == 1
}

/// The scale factor that makes a median absolute deviation estimate a normal's σ.
fn mad_to_sigma() -> Decimal {
    Decimal::from_ratio(14_826u32, 10_000u32)
}

/// Index of the weighted lower median of `values` with `weights` (equal weights when they
/// sum to zero): the first value in ascending order at which the running weight reaches half
/// the total. `None` for no values.
pub fn weighted_median_index<T: Ord + Copy>(values: &[T], weights: &[Uint128]) -> Option<usize> {
    if values.is_empty() {
        return None;
    }
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by_key(|&i| values[i]);
    let equal = weights.iter().all(|w| w.is_zero());
    let w = |i: usize| -> Uint256 {
        if equal {
            Uint256::one()
        } else {
            Uint256::from(weights.get(i).copied().unwrap_or_default())
        }
    };
    let total: Uint256 = (0..values.len()).map(w).sum();
    let mut running = Uint256::zero();
    for &i in &order {
        running += w(i);
        if running + running >= total {
            return Some(i);
        }
    }
    order.last().copied()
}

/// One revealed report's score for a participant, with the evaluator's bond as its weight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Opinion {
    pub bond: Uint128,
    pub score: Score,
}

/// The consensus score of one participant from the revealed opinions (see the module docs);
/// `None` when there are none.
pub fn consensus(opinions: &[Opinion]) -> Option<Score> {
    let weights: Vec<Uint128> = opinions.iter().map(|o| o.bond).collect();
    let values: Vec<SignedDecimal> = opinions.iter().map(|o| o.score.value).collect();
    let value = values[weighted_median_index(&values, &weights)?];
    let errors: Vec<Decimal> = opinions.iter().map(|o| o.score.std_error).collect();
    let median_error = errors[weighted_median_index(&errors, &weights)?];
    let deviations: Vec<Decimal> = values.iter().map(|&v| abs_diff(v, value)).collect();
    let mad = deviations[weighted_median_index(&deviations, &weights)?];
    let spread = mad.checked_mul(mad_to_sigma()).unwrap_or(Decimal::MAX);
    Some(Score {
        value,
        std_error: median_error.max(spread),
    })
}

/// `|a − b|` as an unsigned decimal (saturating at its maximum).
pub fn abs_diff(a: SignedDecimal, b: SignedDecimal) -> Decimal {
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    let d = hi.atomics().i128().abs_diff(lo.atomics().i128());
    Decimal::new(Uint128::new(d))
}

/// `|x|` as an unsigned decimal.
pub fn magnitude(x: SignedDecimal) -> Decimal {
    Decimal::new(Uint128::new(x.atomics().i128().unsigned_abs()))
}

/// How the round judged one of its bonded evaluators.
#[cw_serde]
#[derive(Copy, Eq)]
pub enum EvaluatorVerdict {
    /// Within `outlier_fraction` of the consensus: paid by bond × agreement.
    Consensus,
    /// Beyond `outlier_fraction`: recorded and unpaid.
    Outlier,
    /// Beyond `slash_outlier_above`: unpaid and slashed.
    Deviant,
    /// Bonded but did not commit and reveal a report in time.
    NoShow,
    /// A dispute showed its scores do not follow from its own utility table.
    Disputed,
}

/// An evaluator's standing from its accumulated deviation and the round's scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub verdict: EvaluatorVerdict,
    /// `1 − deviation / (outlier_fraction · scale)`, in [0, 1]; zero unless Consensus.
    pub agreement: Decimal,
}

/// The scale a round judges deviations against: `Σ|φ*| + Σse* / outlier_fraction` (see the
/// module docs), from the sums of the consensus values' magnitudes and standard errors.
pub fn judging_scale(params: &EvaluatorParams, magnitudes: Decimal, errors: Decimal) -> Decimal {
    let floor = errors
        .checked_div(params.outlier_fraction)
        .unwrap_or(Decimal::MAX);
    magnitudes.saturating_add(floor)
}

/// Judges a revealed, undisputed report by its total deviation from the consensus, against the
/// round's [`judging_scale`].
pub fn standing(params: &EvaluatorParams, deviation: Decimal, scale: Decimal) -> Standing {
    let relative = if scale.is_zero() {
        if deviation.is_zero() {
            Decimal::zero()
        } else {
            Decimal::MAX
        }
    } else {
        deviation.checked_div(scale).unwrap_or(Decimal::MAX)
    };
    if relative > params.slash_outlier_above {
        return Standing {
            verdict: EvaluatorVerdict::Deviant,
            agreement: Decimal::zero(),
        };
    }
    if relative > params.outlier_fraction {
        return Standing {
            verdict: EvaluatorVerdict::Outlier,
            agreement: Decimal::zero(),
        };
    }
    let used = relative
        .checked_div(params.outlier_fraction)
        .unwrap_or(Decimal::one())
        .min(Decimal::one());
    Standing {
        verdict: EvaluatorVerdict::Consensus,
        agreement: Decimal::one() - used,
    }
}

/// The fraction of its bond an evaluator forfeits for `verdict`.
pub fn slash_rate(params: &EvaluatorParams, verdict: EvaluatorVerdict) -> Decimal {
    match verdict {
        EvaluatorVerdict::Consensus | EvaluatorVerdict::Outlier => Decimal::zero(),
        EvaluatorVerdict::Deviant => params.slash_outlier,
        EvaluatorVerdict::NoShow => params.slash_no_show,
        EvaluatorVerdict::Disputed => params.slash_disputed,
    }
}

/// An evaluator's weight in the evaluators' pool: bond × agreement (in the bond's atomics).
pub fn pay_weight(bond: Uint128, s: Standing) -> Uint256 {
    if s.verdict != EvaluatorVerdict::Consensus {
        return Uint256::zero();
    }
    Uint256::from(bond.mul_floor(s.agreement))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn sd(s: &str) -> SignedDecimal {
        SignedDecimal::from_str(s).expect("signed decimal")
    }
    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }
    fn op(bond: u128, v: &str, se: &str) -> Opinion {
        Opinion {
            bond: Uint128::new(bond),
            score: Score {
                value: sd(v),
                std_error: d(se),
            },
        }
    }
    pub fn params() -> EvaluatorParams {
        EvaluatorParams {
            min_bond: Uint128::new(100),
            share: d("0.1"),
            outlier_fraction: d("0.1"),
            slash_outlier_above: d("0.5"),
            slash_outlier: d("0.5"),
            slash_no_show: d("0.25"),
            slash_disputed: Decimal::one(),
            dispute_deposit: Uint128::new(50),
            challenger_share: d("0.5"),
            appeal_blocks: 10,
        }
    }

    #[test]
    fn only_odd_quorums_of_three_or_more() {
        let allowed: Vec<u32> = (0..10).filter(|&q| quorum_allowed(q)).collect();
        assert_eq!(allowed, vec![3, 5, 7, 9]);
    }

    #[test]
    fn the_weighted_median_is_a_reported_value() {
        let w = |v: &[u128]| v.iter().map(|&x| Uint128::new(x)).collect::<Vec<_>>();
        assert_eq!(weighted_median_index(&[5, 1, 3], &w(&[1, 1, 1])), Some(2));
        // Even count: the lower of the two middle values, never their mean.
        assert_eq!(
            weighted_median_index(&[4, 1, 2, 100], &w(&[1, 1, 1, 1])),
            Some(2)
        );
        // A heavy bond outweighs two light ones.
        assert_eq!(weighted_median_index(&[1, 2, 9], &w(&[1, 1, 10])), Some(2));
        assert_eq!(weighted_median_index(&[1, 2, 9], &w(&[0, 0, 0])), Some(1));
        assert_eq!(weighted_median_index::<u8>(&[], &[]), None);
    }

    #[test]
    fn a_minority_cannot_move_the_value_or_inflate_the_error() {
        let honest = [op(100, "-0.5", "0.01"), op(100, "-0.49", "0.012")];
        for liar in [
            op(100, "-0.495", "1000"),
            op(100, "1000", "1000"),
            op(100, "-1000", "0"),
        ] {
            let c = consensus(&[honest[0], liar, honest[1]]).expect("three opinions");
            assert!(c.value >= sd("-0.5") && c.value <= sd("-0.49"), "{c:?}");
            assert!(
                c.std_error <= d("0.02"),
                "the liar inflated the error: {c:?}"
            );
        }
    }

    #[test]
    fn disagreement_between_honest_evaluators_becomes_the_error() {
        let c = consensus(&[
            op(1, "0.1", "0.001"),
            op(1, "0.2", "0.001"),
            op(1, "0.3", "0.001"),
        ])
        .expect("opinions");
        assert_eq!(c.value, sd("0.2"));
        assert_eq!(c.std_error, d("0.14826"));
    }

    #[test]
    fn standing_is_relative_to_the_rounds_scale() {
        let p = params();
        let s = standing(&p, d("0.005"), d("0.1"));
        assert_eq!(s.verdict, EvaluatorVerdict::Consensus);
        assert_eq!(s.agreement, d("0.5"));
        assert_eq!(
            standing(&p, d("0.02"), d("0.1")).verdict,
            EvaluatorVerdict::Outlier
        );
        assert_eq!(
            standing(&p, d("0.06"), d("0.1")).verdict,
            EvaluatorVerdict::Deviant
        );
        // The same absolute deviation is agreement on a large scale.
        assert_eq!(
            standing(&p, d("0.06"), d("100")).verdict,
            EvaluatorVerdict::Consensus
        );
        assert_eq!(
            standing(&p, Decimal::zero(), Decimal::zero()).agreement,
            Decimal::one()
        );
        assert_eq!(
            standing(&p, d("0.1"), Decimal::zero()).verdict,
            EvaluatorVerdict::Deviant
        );
        assert_eq!(pay_weight(Uint128::new(1000), s), Uint256::from(500u32));
    }

    proptest::proptest! {
        /// Whatever evaluators holding less than half the bonded weight report, the consensus
        /// value stays within the range the others reported, and its standard error within
        /// the others' largest error or their spread.
        #[test]
        fn a_bonded_minority_moves_nothing(
            honest in proptest::collection::vec((1u128..1_000, -1_000_000i64..1_000_000, 0u64..10_000), 1..8),
            liars in proptest::collection::vec((-1_000_000_000i64..1_000_000_000, 0u64..1_000_000_000), 0..8),
        ) {
            let honest_weight: u128 = honest.iter().map(|h| h.0).sum();
            // The liars share strictly less than the honest weight between them.
            let liar_bond = if liars.is_empty() { 0 } else { (honest_weight - 1) / liars.len() as u128 };
            let to_score = |v: i64, se: u64| Score {
                value: SignedDecimal::from_atomics(v, 6).expect("fits"),
                std_error: Decimal::from_atomics(se as u128, 6).expect("fits"),
            };
            let mut opinions: Vec<Opinion> = honest
                .iter()
                .map(|&(b, v, se)| Opinion { bond: Uint128::new(b), score: to_score(v, se) })
                .collect();
            opinions.extend(liars.iter().map(|&(v, se)| Opinion {
                bond: Uint128::new(liar_bond),
                score: to_score(v, se),
            }));
            let c = consensus(&opinions).expect("opinions");
            let lo = honest.iter().map(|h| h.1).min().expect("one");
            let hi = honest.iter().map(|h| h.1).max().expect("one");
            proptest::prop_assert!(c.value >= to_score(lo, 0).value && c.value <= to_score(hi, 0).value);
            let max_se = honest.iter().map(|h| h.2).max().expect("one");
            let spread = to_score(0, (hi - lo) as u64).std_error * Decimal::from_ratio(14_826u32, 10_000u32);
            proptest::prop_assert!(c.std_error <= to_score(0, max_se).std_error.max(spread));
        }
    }

    #[test]
    fn noise_within_the_errors_is_not_a_lie() {
        let p = params();
        // Scores all near zero (Σ|φ*| = 0.001) with errors of 0.01 each over 4 participants:
        // an honest evaluator off by one error per participant is within tolerance.
        let scale = judging_scale(&p, d("0.001"), d("0.04"));
        assert_eq!(scale, d("0.401"));
        assert_eq!(
            standing(&p, d("0.04"), scale).verdict,
            EvaluatorVerdict::Consensus
        );
        // Without the floor it would have been deviant.
        assert_eq!(
            standing(&p, d("0.04"), d("0.001")).verdict,
            EvaluatorVerdict::Deviant
        );
        // A lie far beyond the noise still is.
        assert_eq!(
            standing(&p, d("1"), scale).verdict,
            EvaluatorVerdict::Deviant
        );
    }

    #[test]
    fn validate_rejects_bad_constants() {
        assert_eq!(params().validate(), Ok(()));
        let mut p = params();
        p.share = Decimal::one();
        assert!(matches!(
            p.validate(),
            Err(EvaluatorParamsError::ShareTooLarge(_))
        ));
        let mut p = params();
        p.slash_outlier_above = d("0.05");
        assert!(matches!(
            p.validate(),
            Err(EvaluatorParamsError::SlashBelowOutlier { .. })
        ));
        let mut p = params();
        p.min_bond = Uint128::zero();
        assert_eq!(p.validate(), Err(EvaluatorParamsError::Zero("min_bond")));
    }
}
