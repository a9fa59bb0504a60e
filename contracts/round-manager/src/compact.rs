//! Fixed-width binary records under compact keys, for what every commitment, report and
//! settlement page writes: JSON would cost several times the gas per stored byte.
//!
//! A key is `namespace ‖ round_id (u64 BE) ‖ rest`, so one round's records are a contiguous
//! range. Namespaces start with 0xff, which no cw-storage-plus key of this contract does.

use cosmwasm_std::{Decimal, Order, SignedDecimal, StdError, StdResult, Storage, Uint128};
use fairshare_protocol::rewards::Score;

/// A map from `(round, suffix)` to raw bytes.
pub struct RawMap {
    namespace: &'static [u8],
}

impl RawMap {
    pub const fn new(namespace: &'static [u8]) -> Self {
        Self { namespace }
    }

    fn prefix(&self, round_id: u64) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.namespace.len() + 8 + 33);
        k.extend_from_slice(self.namespace);
        k.extend_from_slice(&round_id.to_be_bytes());
        k
    }

    fn key(&self, round_id: u64, suffix: &[u8]) -> Vec<u8> {
        let mut k = self.prefix(round_id);
        k.extend_from_slice(suffix);
        k
    }

    pub fn get(&self, s: &dyn Storage, round_id: u64, suffix: &[u8]) -> Option<Vec<u8>> {
        s.get(&self.key(round_id, suffix))
    }

    pub fn set(&self, s: &mut dyn Storage, round_id: u64, suffix: &[u8], value: &[u8]) {
        s.set(&self.key(round_id, suffix), value)
    }

    /// Up to `limit` records of a round whose suffix starts with `within`, after the suffix
    /// `start_after` (exclusive), in key order; suffixes are returned without `within`.
    pub fn page(
        &self,
        s: &dyn Storage,
        round_id: u64,
        within: &[u8],
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        let base = self.key(round_id, within);
        let start = match start_after {
            // The smallest key greater than base ‖ after: append a zero byte.
            Some(after) => {
                let mut k = base.clone();
                k.extend_from_slice(after);
                k.push(0);
                k
            }
            None => base.clone(),
        };
        let end = prefix_end(&base);
        s.range(Some(&start), end.as_deref(), Order::Ascending)
            .take(limit)
            .map(|(k, v)| (k[base.len()..].to_vec(), v))
            .collect()
    }
}

/// The first key after every key that starts with `prefix`.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Committed bindings: `(round, participant canonical address)` → commitment ‖ height.
pub const COMMITMENTS: RawMap = RawMap::new(b"\xffc");
/// Reported scores: `(round, evaluator index (1 byte) ‖ participant)` → [`encode_score`].
pub const SCORES: RawMap = RawMap::new(b"\xffs");
/// Settlement's first pass: `(round, participant)` → [`Median`].
pub const MEDIANS: RawMap = RawMap::new(b"\xffm");

/// A stored commitment.
pub struct StoredCommitment {
    pub commitment: [u8; 32],
    pub committed_at: u64,
}

pub fn encode_commitment(c: &StoredCommitment) -> [u8; 40] {
    let mut out = [0u8; 40];
    out[..32].copy_from_slice(&c.commitment);
    out[32..].copy_from_slice(&c.committed_at.to_be_bytes());
    out
}

pub fn decode_commitment(b: &[u8]) -> StdResult<StoredCommitment> {
    let bytes: &[u8; 40] = b.try_into().map_err(|_| corrupt("commitment"))?;
    let mut commitment = [0u8; 32];
    commitment.copy_from_slice(&bytes[..32]);
    Ok(StoredCommitment {
        commitment,
        committed_at: u64::from_be_bytes(bytes[32..].try_into().map_err(|_| corrupt("height"))?),
    })
}

/// A score as `value atomics (i128 BE) ‖ std_error atomics (u128 BE)`.
pub fn encode_score(s: &Score) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..16].copy_from_slice(&s.value.atomics().i128().to_be_bytes());
    out[16..].copy_from_slice(&s.std_error.atomics().u128().to_be_bytes());
    out
}

pub fn decode_score(b: &[u8]) -> StdResult<Score> {
    if b.len() != 32 {
        return Err(corrupt("score"));
    }
    let v = i128::from_be_bytes(b[..16].try_into().map_err(|_| corrupt("score"))?);
    let e = u128::from_be_bytes(b[16..].try_into().map_err(|_| corrupt("score"))?);
    Ok(Score {
        value: SignedDecimal::new(v.into()),
        std_error: Decimal::new(Uint128::new(e)),
    })
}

/// A participant's stake and median score (`None` for a no-show), as the first pass fixed it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Median {
    pub stake: Uint128,
    pub score: Option<Score>,
}

pub fn encode_median(m: &Median) -> Vec<u8> {
    let mut out = Vec::with_capacity(48);
    out.extend_from_slice(&m.stake.u128().to_be_bytes());
    if let Some(s) = &m.score {
        out.extend_from_slice(&encode_score(s));
    }
    out
}

pub fn decode_median(b: &[u8]) -> StdResult<Median> {
    let (stake, rest) = b.split_at_checked(16).ok_or_else(|| corrupt("median"))?;
    let stake = Uint128::new(u128::from_be_bytes(
        stake.try_into().map_err(|_| corrupt("median"))?,
    ));
    let score = match rest.len() {
        0 => None,
        _ => Some(decode_score(rest)?),
    };
    Ok(Median { stake, score })
}

fn corrupt(what: &str) -> StdError {
    StdError::generic_err(format!("stored {what} record is malformed"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cosmwasm_std::testing::MockStorage;
    use std::str::FromStr;

    #[test]
    fn records_round_trip() {
        let s = Score {
            value: SignedDecimal::from_str("-0.125").expect("decimal"),
            std_error: Decimal::from_str("0.5").expect("decimal"),
        };
        assert_eq!(decode_score(&encode_score(&s)).expect("decodes"), s);
        for m in [
            Median {
                stake: Uint128::new(7),
                score: Some(s),
            },
            Median {
                stake: Uint128::MAX,
                score: None,
            },
        ] {
            assert_eq!(decode_median(&encode_median(&m)).expect("decodes"), m);
        }
        let c = StoredCommitment {
            commitment: [9; 32],
            committed_at: 42,
        };
        let d = decode_commitment(&encode_commitment(&c)).expect("decodes");
        assert_eq!((d.commitment, d.committed_at), ([9; 32], 42));
        assert!(decode_score(&[0; 31]).is_err());
        assert!(decode_median(&[0; 3]).is_err());
    }

    #[test]
    fn pages_stay_inside_their_round_and_prefix() {
        let mut st = MockStorage::new();
        for round in [1u64, 2, u64::MAX] {
            for p in [[1u8, 0xff], [1, 0], [2, 5], [0xff, 0xff]] {
                SCORES.set(&mut st, round, &p, &[round as u8]);
            }
        }
        let all = SCORES.page(&st, 2, &[], None, 100);
        assert_eq!(all.len(), 4);
        assert!(all.iter().all(|(_, v)| v == &[2u8]));
        let e1 = SCORES.page(&st, 2, &[1], None, 100);
        assert_eq!(
            e1.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
            vec![vec![0u8], vec![0xff]]
        );
        let after = SCORES.page(&st, 2, &[1], Some(&[0]), 100);
        assert_eq!(after.len(), 1);
        assert_eq!(SCORES.page(&st, u64::MAX, &[0xff], None, 100).len(), 1);
        assert_eq!(SCORES.page(&st, 2, &[], None, 2).len(), 2);
    }
}
