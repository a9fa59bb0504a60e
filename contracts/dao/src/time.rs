//! The wire types `Duration`/`Expiration` of the protocol package, computed with `cw_utils`.
//!
//! The protocol package mirrors `cw_utils`' JSON without depending on it; arithmetic and
//! expiry checks are `cw_utils`'. Durations are bounded where they enter (config), so the
//! additions below cannot overflow.

use cosmwasm_std::{BlockInfo, StdResult};
use fairshare_protocol::dao::{Duration, Expiration};

use crate::ContractError;

/// Longest accepted duration in blocks (≈ 190 years at 6 s blocks).
pub const MAX_BLOCKS: u64 = 1_000_000_000;
/// Longest accepted duration in seconds (≈ 31 years).
pub const MAX_SECONDS: u64 = 1_000_000_000;

fn to_cw_duration(d: Duration) -> cw_utils::Duration {
    match d {
        Duration::Height(h) => cw_utils::Duration::Height(h),
        Duration::Time(t) => cw_utils::Duration::Time(t),
    }
}

fn to_cw_expiration(e: Expiration) -> cw_utils::Expiration {
    match e {
        Expiration::AtHeight(h) => cw_utils::Expiration::AtHeight(h),
        Expiration::AtTime(t) => cw_utils::Expiration::AtTime(t),
        Expiration::Never {} => cw_utils::Expiration::Never {},
    }
}

fn from_cw_expiration(e: cw_utils::Expiration) -> Expiration {
    match e {
        cw_utils::Expiration::AtHeight(h) => Expiration::AtHeight(h),
        cw_utils::Expiration::AtTime(t) => Expiration::AtTime(t),
        cw_utils::Expiration::Never {} => Expiration::Never {},
    }
}

/// The point `d` after the current block.
pub fn after(d: Duration, block: &BlockInfo) -> Expiration {
    from_cw_expiration(to_cw_duration(d).after(block))
}

/// Whether `e` has been reached at `block`.
pub fn is_expired(e: Expiration, block: &BlockInfo) -> bool {
    to_cw_expiration(e).is_expired(block)
}

/// `e + d`; fails when one counts blocks and the other seconds.
pub fn add(e: Expiration, d: Duration) -> StdResult<Expiration> {
    (to_cw_expiration(e) + to_cw_duration(d)).map(from_cw_expiration)
}

/// Whether two durations count the same unit.
pub fn same_unit(a: Duration, b: Duration) -> bool {
    matches!(
        (a, b),
        (Duration::Height(_), Duration::Height(_)) | (Duration::Time(_), Duration::Time(_))
    )
}

/// Rejects durations too long to add to a block height or time safely; `nonzero` also
/// rejects zero.
pub fn validate(name: &'static str, d: Duration, nonzero: bool) -> Result<(), ContractError> {
    let (value, max) = match d {
        Duration::Height(h) => (h, MAX_BLOCKS),
        Duration::Time(t) => (t, MAX_SECONDS),
    };
    if nonzero && value == 0 {
        return Err(ContractError::ZeroDuration { name });
    }
    if value > max {
        return Err(ContractError::DurationTooLong {
            name,
            max_blocks: MAX_BLOCKS,
            max_seconds: MAX_SECONDS,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cosmwasm_std::{from_json, to_json_vec, Timestamp};

    #[test]
    fn wire_types_match_cw_utils_json() {
        for d in [Duration::Height(7), Duration::Time(60)] {
            let ours = to_json_vec(&d).expect("serializable");
            let theirs: cw_utils::Duration = from_json(&ours).expect("same JSON");
            assert_eq!(theirs, to_cw_duration(d));
        }
        for e in [
            Expiration::AtHeight(9),
            Expiration::AtTime(Timestamp::from_seconds(5)),
            Expiration::Never {},
        ] {
            let ours = to_json_vec(&e).expect("serializable");
            let theirs: cw_utils::Expiration = from_json(&ours).expect("same JSON");
            assert_eq!(from_cw_expiration(theirs), e);
        }
    }

    #[test]
    fn adding_mixed_units_fails() {
        assert!(add(Expiration::AtHeight(1), Duration::Time(1)).is_err());
        assert_eq!(
            add(Expiration::AtHeight(1), Duration::Height(2)).expect("same unit"),
            Expiration::AtHeight(3)
        );
    }
}
