//! Medians of evaluator reports: a minority of lying evaluators cannot move them far.

use cosmwasm_std::{Decimal, SignedDecimal};

/// Median of signed values; the mean of the two middle values for an even count.
/// `None` for an empty slice.
pub fn median_signed(values: &mut [SignedDecimal]) -> Option<SignedDecimal> {
    if values.is_empty() {
        return None;
    }
    values.sort();
    let n = values.len();
    if n % 2 == 1 {
        return Some(values[n / 2]);
    }
    let (a, b) = (values[n / 2 - 1], values[n / 2]);
    let two = SignedDecimal::from_atomics(2i128, 0).ok()?;
    // a/2 + b/2 cannot overflow where a + b could; lose at most one atomic unit.
    let half = |x: SignedDecimal| x.checked_div(two).unwrap_or(x);
    Some(half(a).checked_add(half(b)).unwrap_or(a))
}

/// Median of unsigned values, as [`median_signed`].
pub fn median_unsigned(values: &mut [Decimal]) -> Option<Decimal> {
    if values.is_empty() {
        return None;
    }
    values.sort();
    let n = values.len();
    if n % 2 == 1 {
        return Some(values[n / 2]);
    }
    let (a, b) = (values[n / 2 - 1], values[n / 2]);
    let half = |x: Decimal| x / cosmwasm_std::Uint128::new(2);
    Some(half(a).checked_add(half(b)).unwrap_or(a))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn s(v: &str) -> SignedDecimal {
        SignedDecimal::from_str(v).expect("decimal")
    }

    #[test]
    fn odd_and_even_counts() {
        assert_eq!(median_signed(&mut []), None);
        assert_eq!(median_signed(&mut [s("3"), s("-1"), s("2")]), Some(s("2")));
        assert_eq!(
            median_signed(&mut [s("4"), s("1"), s("2"), s("100")]),
            Some(s("3"))
        );
        assert_eq!(
            median_unsigned(&mut [Decimal::one(), Decimal::zero()]),
            Some(Decimal::from_str("0.5").expect("decimal"))
        );
    }

    #[test]
    fn a_lying_minority_does_not_move_the_median() {
        let honest = median_signed(&mut [s("0.2"), s("0.21"), s("0.19")]);
        let with_liar = median_signed(&mut [s("0.2"), s("0.21"), s("0.19"), s("1000"), s("0.2")]);
        assert_eq!(honest, Some(s("0.2")));
        assert_eq!(with_liar, Some(s("0.2")));
    }

    #[test]
    fn extremes_do_not_overflow() {
        let m = median_signed(&mut [SignedDecimal::MAX, SignedDecimal::MAX]).expect("non-empty");
        assert!(m > s("1000"));
        let m = median_signed(&mut [SignedDecimal::MIN, SignedDecimal::MIN]).expect("non-empty");
        assert!(m < s("-1000"));
    }
}
