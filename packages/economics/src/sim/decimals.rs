//! Conversions between the simulation's floating-point figures and the chain's fixed-point
//! decimals, so every score goes through the protocol's own arithmetic.

use cosmwasm_std::{Decimal, SignedDecimal};

/// `x` as a signed decimal with 18 places (saturating).
pub fn signed(x: f64) -> SignedDecimal {
    let atomics = (x * 1e18).round();
    let atomics = atomics.clamp(i128::MIN as f64, i128::MAX as f64) as i128;
    SignedDecimal::from_atomics(atomics, 18).unwrap_or(if x < 0.0 {
        SignedDecimal::MIN
    } else {
        SignedDecimal::MAX
    })
}

/// `max(x, 0)` as an unsigned decimal with 18 places (saturating).
pub fn unsigned(x: f64) -> Decimal {
    let atomics = (x.max(0.0) * 1e18).round().min(u128::MAX as f64) as u128;
    Decimal::from_atomics(atomics, 18).unwrap_or(Decimal::MAX)
}

/// A signed decimal as a float.
pub fn signed_f64(x: SignedDecimal) -> f64 {
    x.atomics().i128() as f64 / 1e18
}

/// A decimal as a float.
pub fn unsigned_f64(x: Decimal) -> f64 {
    x.atomics().u128() as f64 / 1e18
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_round_trip() {
        assert_eq!(
            signed(-0.25),
            SignedDecimal::from_atomics(-25i128, 2).expect("fits")
        );
        assert_eq!(unsigned(-1.0), Decimal::zero());
        assert_eq!(unsigned(0.5), Decimal::percent(50));
        assert_eq!(signed_f64(signed(-0.125)), -0.125);
        assert_eq!(unsigned_f64(unsigned(0.75)), 0.75);
    }
}
