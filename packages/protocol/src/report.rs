//! Evaluator reports that can be checked: the commit–reveal digest of a report, the coalition
//! utility table a report commits to, and the Shapley values that follow from such a table.
//!
//! During evaluation an evaluator posts only
//!
//! ```text
//! digest = sha256( REPORT_DOMAIN || lp(contract) || round_id (u64 BE) || lp(evaluator)
//!                  || lp(aggregate_hash) || lp(table_hash) || delta_u (i128 BE atomics)
//!                  || dof (u32 BE) || n (u32 BE)
//!                  || n × ( lp(participant) || value (i128 BE atomics) || std_error (u128 BE atomics) )
//!                  || lp(salt) )
//! ```
//!
//! (`lp(x)` = `x`'s length as u32 big-endian, then its bytes; decimals are their 18-decimal
//! atomics). The digest names the evaluator, so another evaluator can neither reuse the
//! commitment nor open it with a copy of the report once it is revealed.
//!
//! A report's `table_hash` is the hash of its [`UtilityTable`]: the coalitions the evaluator
//! valued and U(S) for each, in nano-units (U × 10⁹ rounded, i64 big-endian), with the
//! validation-set hash and the estimator (exact enumeration, permutations drawn from a seed, or
//! the regression-adjusted estimator on coalitions drawn from a seed, [`crate::sampled`]).
//! Anyone holding the table recomputes φ with [`shapley`]; a report whose scores or ΔU differ
//! from its own table's by more than [`TABLE_TOLERANCE`] is provably wrong, and the
//! round-manager slashes it on a dispute.

use cosmwasm_schema::cw_serde;
use cosmwasm_std::{Binary, HexBinary, Int128, Int256, SignedDecimal};
use sha2::{Digest, Sha256};

use crate::round_manager::Report;

/// Domain tag of a report commitment.
pub const REPORT_DOMAIN: &[u8] = b"fairshare/report-commitment/v1";
/// Domain tag of a utility table's hash.
pub const TABLE_DOMAIN: &[u8] = b"fairshare/utility-table/v1";
/// Domain tag of the permutation stream of a sampled table.
pub const PERMUTATION_DOMAIN: &[u8] = b"fairshare/permutations/v1";
/// Domain tag of a round's permutation seed.
pub const SEED_DOMAIN: &[u8] = b"fairshare/round-seed/v1";
/// Length of a report's salt.
pub const SALT_LEN: usize = 32;
/// Most players an exact table may have on chain (2¹² utilities).
pub const MAX_EXACT_PLAYERS: usize = 12;
/// Most utilities a sampled table may carry on chain.
pub const MAX_SAMPLED_UTILITIES: usize = 8_192;
/// How far (absolute, in utility units) a reported φ or ΔU may be from what its table gives:
/// utilities are rounded to 10⁻⁹ (φ moves by at most 10⁻⁹), the report rounds again.
pub const TABLE_TOLERANCE_NANOS: i128 = 3;

/// What produced a table's utilities.
#[cw_serde]
#[derive(Copy, Eq)]
pub enum Estimator {
    /// U(S) for every coalition S, indexed by its bit mask (bit i = `participants[i]`).
    Exact,
    /// `count` permutations drawn by [`permutation`] from `seed`; for each, U of its prefixes
    /// of length 1..=n in order.
    Permutations { seed: u64, count: u32 },
    /// The first `count` coalitions of the coalition stream drawn from `seed` (the grand
    /// coalition first; `fairshare_protocol::sampled`), U of each in that order; φ by the
    /// regression-adjusted stratified estimator. Used when `2ⁿ` coalitions are too many to
    /// evaluate: the same error as permutations with far fewer coalitions. `absent` declares
    /// the players that brought no update (bit i = `participants[i]`; U(S) = U(S ∖ i) in the
    /// table, which the check verifies): their φ is exactly 0.
    RegressionAdjusted { seed: u64, count: u32, absent: u64 },
}

impl Estimator {
    /// The seed a sampled table was drawn from (`None` for an exact table): it must be the
    /// round's, [`round_seed`].
    pub fn seed(&self) -> Option<u64> {
        match *self {
            Estimator::Exact => None,
            Estimator::Permutations { seed, .. } | Estimator::RegressionAdjusted { seed, .. } => {
                Some(seed)
            }
        }
    }
}

/// An evaluator's coalition utility table, published with the round's bundles.
#[cw_serde]
pub struct UtilityTable {
    /// The players in bit order.
    pub participants: Vec<String>,
    /// sha256 of the validation text the utilities were measured on.
    pub validation_set_hash: HexBinary,
    pub estimator: Estimator,
    /// The utilities, each U × 10⁹ rounded to an integer, as i64 big-endian.
    pub utilities: Binary,
}

/// Why a table cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("a table needs at least one participant")]
    Empty,
    #[error("an exact table of {0} players is too large to check on chain (at most {MAX_EXACT_PLAYERS})")]
    TooManyPlayers(usize),
    #[error("a sampled table of {0} utilities is too large to check on chain (at most {MAX_SAMPLED_UTILITIES})")]
    TooManyUtilities(usize),
    #[error("the table holds {got} bytes of utilities, its estimator needs {expected}")]
    Shape { expected: usize, got: usize },
    #[error("an exact table must give the empty coalition utility 0, it gives {0} nano-units")]
    EmptyCoalition(i64),
    #[error("participant {0} appears twice in the table")]
    DuplicateParticipant(String),
    #[error("the table's participants are not the report's: {0}")]
    Participants(String),
    #[error("a sampled table needs at least one permutation")]
    NoPermutations,
    #[error("a regression-adjusted table of {0} players is too large (at most {max})", max = crate::sampled::MAX_PLAYERS)]
    TooManySampledPlayers(usize),
    #[error("a regression-adjusted table holds {count} coalitions, but {n} players have only {available}")]
    TooManyCoalitions {
        count: u32,
        n: usize,
        available: u64,
    },
    #[error("the sampled table cannot be solved: {0}")]
    Sampled(String),
}

impl UtilityTable {
    /// The table's hash, which its report commits to.
    pub fn hash(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(TABLE_DOMAIN);
        lp(&mut h, self.validation_set_hash.as_slice());
        h.update((self.participants.len() as u32).to_be_bytes());
        for p in &self.participants {
            lp(&mut h, p.as_bytes());
        }
        match self.estimator {
            Estimator::Exact => h.update([0u8]),
            Estimator::Permutations { seed, count } => {
                h.update([1u8]);
                h.update(seed.to_be_bytes());
                h.update(count.to_be_bytes());
            }
            Estimator::RegressionAdjusted {
                seed,
                count,
                absent,
            } => {
                h.update([2u8]);
                h.update(seed.to_be_bytes());
                h.update(count.to_be_bytes());
                h.update(absent.to_be_bytes());
            }
        }
        lp(&mut h, self.utilities.as_slice());
        h.finalize().into()
    }

    /// The utilities in nano-units, after checking the table's shape.
    pub fn nanos(&self) -> Result<Vec<i64>, TableError> {
        let n = self.participants.len();
        if n == 0 {
            return Err(TableError::Empty);
        }
        let expected = match self.estimator {
            Estimator::Exact => {
                if n > MAX_EXACT_PLAYERS {
                    return Err(TableError::TooManyPlayers(n));
                }
                1usize << n
            }
            Estimator::Permutations { count, .. } => {
                if count == 0 {
                    return Err(TableError::NoPermutations);
                }
                let total = (count as usize).saturating_mul(n);
                if total > MAX_SAMPLED_UTILITIES {
                    return Err(TableError::TooManyUtilities(total));
                }
                total
            }
            Estimator::RegressionAdjusted { count, .. } => {
                if n > crate::sampled::MAX_PLAYERS {
                    return Err(TableError::TooManySampledPlayers(n));
                }
                if count == 0 {
                    return Err(TableError::NoPermutations);
                }
                let available = crate::sampled::available(n);
                if count as u64 > available {
                    return Err(TableError::TooManyCoalitions {
                        count,
                        n,
                        available,
                    });
                }
                if count as usize > MAX_SAMPLED_UTILITIES {
                    return Err(TableError::TooManyUtilities(count as usize));
                }
                count as usize
            }
        };
        let bytes = self.utilities.as_slice();
        if bytes.len() != expected * 8 {
            return Err(TableError::Shape {
                expected: expected * 8,
                got: bytes.len(),
            });
        }
        let values: Vec<i64> = bytes
            .chunks_exact(8)
            .map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                i64::from_be_bytes(b)
            })
            .collect();
        if self.estimator == Estimator::Exact && values[0] != 0 {
            return Err(TableError::EmptyCoalition(values[0]));
        }
        let mut seen = std::collections::BTreeSet::new();
        for p in &self.participants {
            if !seen.insert(p.as_str()) {
                return Err(TableError::DuplicateParticipant(p.clone()));
            }
        }
        Ok(values)
    }
}

/// Packs utilities (in utility units) into a table's `utilities` field, rounding each to 10⁻⁹.
/// Non-finite values are refused by name of their index.
pub fn pack_utilities(values: &[f64]) -> Result<Binary, usize> {
    let mut out = Vec::with_capacity(values.len() * 8);
    for (i, v) in values.iter().enumerate() {
        let nanos = v * 1e9;
        if !nanos.is_finite() || nanos.abs() >= i64::MAX as f64 {
            return Err(i);
        }
        out.extend_from_slice(&(nanos.round() as i64).to_be_bytes());
    }
    Ok(Binary::from(out))
}

/// The seed every evaluator of a round draws its permutations from: the first 8 bytes
/// (big-endian) of `sha256(SEED_DOMAIN || lp(round_manager) || round_id || validation_set_hash)`.
/// A common seed means honest evaluators on the round's validation text report the same
/// estimates, and no evaluator can shop for a seed that favours someone; a sampled table drawn
/// from another seed does not count as the round's valuation.
pub fn round_seed(round_manager: &str, round_id: u64, validation_set_hash: &[u8]) -> u64 {
    let mut h = Sha256::new();
    h.update(SEED_DOMAIN);
    lp(&mut h, round_manager.as_bytes());
    h.update(round_id.to_be_bytes());
    h.update(validation_set_hash);
    let d: [u8; 32] = h.finalize().into();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_be_bytes(b)
}

/// The `k`-th permutation of `0..n` drawn from `seed`: Fisher–Yates driven by
/// `sha256(PERMUTATION_DOMAIN || seed || k || j)` for step j (the first 8 bytes, big-endian,
/// modulo j + 1). Contract and evaluators draw the same permutations.
pub fn permutation(seed: u64, k: u32, n: usize) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    for j in (1..n).rev() {
        let mut h = Sha256::new();
        h.update(PERMUTATION_DOMAIN);
        h.update(seed.to_be_bytes());
        h.update(k.to_be_bytes());
        h.update((j as u32).to_be_bytes());
        let d: [u8; 32] = h.finalize().into();
        let mut r = [0u8; 8];
        r.copy_from_slice(&d[..8]);
        let pick = (u64::from_be_bytes(r) % (j as u64 + 1)) as usize;
        p.swap(j, pick);
    }
    p
}

/// The Shapley values a table gives, exactly: each φᵢ as `numerator / denominator` in
/// nano-units. Returns `(numerators, denominator)`.
///
/// Exact tables: `φᵢ = Σ_{S ∌ i} |S|! (n − |S| − 1)! (U(S ∪ i) − U(S)) / n!`. Permutation
/// tables: the mean over the permutations of each player's marginal contribution along it.
/// Regression-adjusted tables: [`crate::sampled::regression_adjusted`] on the redrawn
/// coalitions (in nano-units, f64), each φ rounded to a thousandth of a nano-unit.
pub fn shapley(table: &UtilityTable) -> Result<(Vec<i128>, i128), TableError> {
    let u = table.nanos()?;
    let n = table.participants.len();
    match table.estimator {
        Estimator::Exact => {
            let mut fact = vec![1i128; n + 1];
            for k in 1..=n {
                fact[k] = fact[k - 1] * k as i128;
            }
            let mut num = vec![0i128; n];
            for mask in 0..(1usize << n) {
                let s = mask.count_ones() as usize;
                if s == n {
                    continue;
                }
                let w = fact[s] * fact[n - s - 1];
                for (i, acc) in num.iter_mut().enumerate() {
                    if mask & (1 << i) == 0 {
                        let diff = u[mask | (1 << i)] as i128 - u[mask] as i128;
                        *acc += w * diff;
                    }
                }
            }
            Ok((num, fact[n]))
        }
        Estimator::Permutations { seed, count } => {
            let mut num = vec![0i128; n];
            for k in 0..count {
                let order = permutation(seed, k, n);
                let row = &u[k as usize * n..(k as usize + 1) * n];
                let mut before = 0i128;
                for (pos, &player) in order.iter().enumerate() {
                    let now = row[pos] as i128;
                    num[player] += now - before;
                    before = now;
                }
            }
            Ok((num, count as i128))
        }
        Estimator::RegressionAdjusted { .. } => {
            let e = sampled_estimate(table)?;
            let num = e
                .values
                .iter()
                .map(|&v| {
                    let x = (v * SAMPLED_DENOMINATOR as f64).round();
                    if x.is_finite() && x.abs() < 1e30 {
                        Ok(x as i128)
                    } else {
                        Err(TableError::Sampled("a value is not a finite number".into()))
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((num, SAMPLED_DENOMINATOR))
        }
    }
}

/// φ of a regression-adjusted table are rounded to `1 / SAMPLED_DENOMINATOR` nano-units.
pub const SAMPLED_DENOMINATOR: i128 = 1_000;

/// The estimate a regression-adjusted table gives, in nano-units, with its standard errors
/// (anyone can recompute a report's sampling error from its table).
pub fn sampled_estimate(
    table: &UtilityTable,
) -> Result<crate::sampled::SampledEstimate, TableError> {
    let u = table.nanos()?;
    let n = table.participants.len();
    let Estimator::RegressionAdjusted {
        seed,
        count,
        absent,
    } = table.estimator
    else {
        return Err(TableError::Sampled(
            "the table is not regression-adjusted".into(),
        ));
    };
    let masks = crate::sampled::coalitions(seed, n, count as u64)
        .map_err(|e| TableError::Sampled(e.to_string()))?;
    let values: Vec<f64> = u.iter().map(|&x| x as f64).collect();
    crate::sampled::regression_adjusted(n, &masks, &values, absent)
        .map_err(|e| TableError::Sampled(e.to_string()))
}

/// U(N) of a table in nano-units: the full coalition (exact; the first utility of a
/// regression-adjusted table), or the mean of every permutation's last prefix (each is U(N)).
pub fn grand_value(table: &UtilityTable) -> Result<(i128, i128), TableError> {
    let u = table.nanos()?;
    let n = table.participants.len();
    Ok(match table.estimator {
        Estimator::Exact => (u[(1usize << n) - 1] as i128, 1),
        Estimator::Permutations { count, .. } => {
            let sum = (0..count as usize).map(|k| u[k * n + n - 1] as i128).sum();
            (sum, count as i128)
        }
        Estimator::RegressionAdjusted { .. } => (u[0] as i128, 1),
    })
}

/// `numerator / denominator` nano-units as a [`SignedDecimal`] (rounded toward zero).
pub fn nanos_to_decimal(numerator: i128, denominator: i128) -> SignedDecimal {
    let atomics = Int256::from(numerator) * Int256::from(1_000_000_000i128)
        / Int256::from(denominator.max(1));
    let clamped = Int128::try_from(atomics).unwrap_or(if numerator < 0 {
        Int128::MIN
    } else {
        Int128::MAX
    });
    SignedDecimal::new(clamped)
}

/// Whether `value` is within [`TABLE_TOLERANCE_NANOS`] of `numerator / denominator` nanos.
fn close(value: SignedDecimal, numerator: i128, denominator: i128) -> bool {
    let den = Int256::from(denominator.max(1));
    let reported = Int256::from(value.atomics().i128()); // 10⁻¹⁸ units
    let exact = Int256::from(numerator) * Int256::from(1_000_000_000i128); // × den, 10⁻¹⁸
    let diff = reported * den - exact;
    let tol = Int256::from(TABLE_TOLERANCE_NANOS) * Int256::from(1_000_000_000i128) * den;
    diff <= tol && diff >= -tol
}

/// What a check of a report against its table found wrong.
#[cw_serde]
pub enum Discrepancy {
    /// The report's ΔU is not the table's U(N).
    DeltaU {
        reported: SignedDecimal,
        table: SignedDecimal,
    },
    /// A participant's φ is not the table's.
    Score {
        participant: String,
        reported: SignedDecimal,
        table: SignedDecimal,
    },
}

/// Checks a report against a table (already matched to its `table_hash` by the caller):
/// the same participants, and every φ and ΔU within tolerance of what the table gives.
/// Returns what does not follow (empty: the report is consistent with its table).
pub fn check(report: &Report, table: &UtilityTable) -> Result<Vec<Discrepancy>, TableError> {
    let (num, den) = shapley(table)?;
    let mut reported: Vec<(&str, SignedDecimal)> = report
        .scores
        .iter()
        .map(|s| (s.participant.as_str(), s.value))
        .collect();
    reported.sort_by(|a, b| a.0.cmp(b.0));
    let mut players: Vec<(&str, usize)> = table
        .participants
        .iter()
        .enumerate()
        .map(|(i, p)| (p.as_str(), i))
        .collect();
    players.sort();
    if reported.len() != players.len() || reported.iter().zip(&players).any(|(r, p)| r.0 != p.0) {
        return Err(TableError::Participants(format!(
            "the report scores {} participants, the table values {}",
            reported.len(),
            players.len()
        )));
    }
    let mut found = vec![];
    let (g_num, g_den) = grand_value(table)?;
    if !close(report.delta_u, g_num, g_den) {
        found.push(Discrepancy::DeltaU {
            reported: report.delta_u,
            table: nanos_to_decimal(g_num, g_den),
        });
    }
    for ((name, value), (_, i)) in reported.iter().zip(&players) {
        if !close(*value, num[*i], den) {
            found.push(Discrepancy::Score {
                participant: name.to_string(),
                reported: *value,
                table: nanos_to_decimal(num[*i], den),
            });
        }
    }
    Ok(found)
}

/// The digest an evaluator commits for `report` with `salt` (see the module docs).
pub fn digest(
    contract: &str,
    round_id: u64,
    evaluator: &str,
    report: &Report,
    salt: &[u8],
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(REPORT_DOMAIN);
    lp(&mut h, contract.as_bytes());
    h.update(round_id.to_be_bytes());
    lp(&mut h, evaluator.as_bytes());
    lp(&mut h, report.aggregate_hash.as_slice());
    lp(&mut h, report.table_hash.as_slice());
    h.update(report.delta_u.atomics().i128().to_be_bytes());
    h.update(report.dof.to_be_bytes());
    h.update((report.scores.len() as u32).to_be_bytes());
    for s in &report.scores {
        lp(&mut h, s.participant.as_bytes());
        h.update(s.value.atomics().i128().to_be_bytes());
        h.update(s.std_error.atomics().u128().to_be_bytes());
    }
    lp(&mut h, salt);
    h.finalize().into()
}

fn lp(h: &mut Sha256, bytes: &[u8]) {
    h.update(u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
    h.update(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::round_manager::ParticipantScore;
    use cosmwasm_std::Decimal;

    fn table(n: usize, estimator: Estimator, u: &[f64]) -> UtilityTable {
        UtilityTable {
            participants: (0..n).map(|i| format!("p{i}")).collect(),
            validation_set_hash: HexBinary::from(vec![7u8; 32]),
            estimator,
            utilities: pack_utilities(u).expect("finite"),
        }
    }

    fn report_of(t: &UtilityTable) -> Report {
        let (num, den) = shapley(t).expect("valid");
        let (g, gd) = grand_value(t).expect("valid");
        Report {
            aggregate_hash: HexBinary::from(vec![1u8; 32]),
            table_hash: HexBinary::from(t.hash().to_vec()),
            delta_u: nanos_to_decimal(g, gd),
            dof: 7,
            scores: t
                .participants
                .iter()
                .zip(&num)
                .map(|(p, &x)| ParticipantScore {
                    participant: p.clone(),
                    value: nanos_to_decimal(x, den),
                    std_error: Decimal::permille(1),
                })
                .collect(),
        }
    }

    /// U(S) = (Σ weights)^0.5: concave, so values differ from any additive split.
    fn game(n: usize) -> Vec<f64> {
        (0..1usize << n)
            .map(|m| {
                let s: f64 = (0..n)
                    .filter(|i| m >> i & 1 == 1)
                    .map(|i| (i + 1) as f64)
                    .sum();
                s.sqrt() / 10.0
            })
            .collect()
    }

    #[test]
    fn exact_values_are_efficient_and_match_enumeration_by_permutations() {
        let n = 4;
        let t = table(n, Estimator::Exact, &game(n));
        let (num, den) = shapley(&t).expect("valid");
        let (g, _) = grand_value(&t).expect("valid");
        // Efficiency, exactly: Σ φ = U(N).
        assert_eq!(num.iter().sum::<i128>(), g * den);
        // Against the average over all n! orders.
        let u = t.nanos().expect("valid");
        let mut perms = vec![vec![]];
        for _ in 0..n {
            perms = perms
                .into_iter()
                .flat_map(|p: Vec<usize>| {
                    let rest: Vec<usize> = (0..n).filter(|x| !p.contains(x)).collect();
                    rest.into_iter().map(move |x| {
                        let mut q = p.clone();
                        q.push(x);
                        q
                    })
                })
                .collect();
        }
        let mut by_orders = vec![0i128; n];
        for p in &perms {
            let mut mask = 0usize;
            for &i in p {
                by_orders[i] += (u[mask | 1 << i] - u[mask]) as i128;
                mask |= 1 << i;
            }
        }
        assert_eq!(by_orders, num, "24 orders, n! = 24: numerators agree");
    }

    #[test]
    fn an_honest_report_follows_from_its_table_and_a_lie_does_not() {
        for t in [
            table(5, Estimator::Exact, &game(5)),
            {
                let n = 6;
                let count = 30u32;
                let full = game(n);
                let mut u = vec![];
                for k in 0..count {
                    let mut mask = 0usize;
                    for i in permutation(99, k, n) {
                        mask |= 1 << i;
                        u.push(full[mask]);
                    }
                }
                table(n, Estimator::Permutations { seed: 99, count }, &u)
            },
            {
                let n = 10;
                let count = 200u32;
                let full = game(n);
                let masks = crate::sampled::coalitions(99, n, count as u64).expect("drawable");
                let u: Vec<f64> = masks.iter().map(|&m| full[m as usize]).collect();
                table(
                    n,
                    Estimator::RegressionAdjusted {
                        seed: 99,
                        count,
                        absent: 0,
                    },
                    &u,
                )
            },
        ] {
            let honest = report_of(&t);
            assert_eq!(check(&honest, &t), Ok(vec![]));
            let mut lie = honest.clone();
            lie.scores[2].value += SignedDecimal::percent(1);
            let found = check(&lie, &t).expect("same participants");
            assert!(
                matches!(&found[..], [Discrepancy::Score { participant, .. }] if participant == "p2"),
                "{found:?}"
            );
            let mut lie = honest.clone();
            lie.delta_u = SignedDecimal::one();
            assert!(matches!(
                check(&lie, &t).expect("ok")[..],
                [Discrepancy::DeltaU { .. }]
            ));
            let mut other = honest.clone();
            other.scores.pop();
            assert!(matches!(
                check(&other, &t),
                Err(TableError::Participants(_))
            ));
        }
    }

    #[test]
    fn a_regression_adjusted_table_replays_the_estimator_and_is_exact_when_complete() {
        let n = 6;
        let full = game(n);
        let all = crate::sampled::available(n) as u32;
        let masks = crate::sampled::coalitions(5, n, all as u64).expect("drawable");
        let u: Vec<f64> = masks.iter().map(|&m| full[m as usize]).collect();
        let sampled = table(
            n,
            Estimator::RegressionAdjusted {
                seed: 5,
                count: all,
                absent: 0,
            },
            &u,
        );
        let exact = table(n, Estimator::Exact, &full);
        let (num, den) = shapley(&sampled).expect("valid");
        let (want, want_den) = shapley(&exact).expect("valid");
        for (a, b) in num.iter().zip(&want) {
            let diff =
                Int256::from(*a) * Int256::from(want_den) - Int256::from(*b) * Int256::from(den);
            assert!(
                diff.abs() <= Int256::from(want_den),
                "{a}/{den} vs {b}/{want_den}"
            );
        }
        assert_eq!(grand_value(&sampled), grand_value(&exact));
        // A prefix: the values and errors are the sampled module's on the redrawn coalitions.
        let part = table(
            n,
            Estimator::RegressionAdjusted {
                seed: 5,
                count: 30,
                absent: 0,
            },
            &u[..30],
        );
        let e = sampled_estimate(&part).expect("solvable");
        let (num, den) = shapley(&part).expect("valid");
        for (x, v) in num.iter().zip(&e.values) {
            assert_eq!(*x, (v * den as f64).round() as i128);
        }
        assert!(e.std_errors.iter().any(|&s| s > 0.0));
        // The hash binds the estimator and its seed.
        let other = UtilityTable {
            estimator: Estimator::RegressionAdjusted {
                seed: 6,
                count: 30,
                absent: 0,
            },
            ..part.clone()
        };
        assert_ne!(part.hash(), other.hash());
        assert_eq!(other.estimator.seed(), Some(6));
        assert_eq!(Estimator::Exact.seed(), None);
    }

    #[test]
    fn permutations_are_deterministic_and_cover_every_player() {
        let a = permutation(7, 3, 12);
        assert_eq!(a, permutation(7, 3, 12));
        assert_ne!(a, permutation(7, 4, 12));
        let mut s = a.clone();
        s.sort();
        assert_eq!(s, (0..12).collect::<Vec<_>>());
        // First position is uniform-ish over many draws.
        let mut firsts = [0u32; 4];
        for k in 0..4000 {
            firsts[permutation(1, k, 4)[0]] += 1;
        }
        assert!(
            firsts.iter().all(|&c| (850..1150).contains(&c)),
            "{firsts:?}"
        );
    }

    #[test]
    fn malformed_tables_are_named() {
        let mut t = table(3, Estimator::Exact, &game(3));
        assert!(t.nanos().is_ok());
        t.utilities = Binary::from(vec![0u8; 9]);
        assert!(matches!(
            t.nanos(),
            Err(TableError::Shape {
                expected: 64,
                got: 9
            })
        ));
        let t = table(3, Estimator::Exact, &[1.0; 8]);
        assert_eq!(t.nanos(), Err(TableError::EmptyCoalition(1_000_000_000)));
        let t = table(13, Estimator::Exact, &[]);
        assert_eq!(t.nanos(), Err(TableError::TooManyPlayers(13)));
        let t = table(
            3,
            Estimator::RegressionAdjusted {
                seed: 1,
                count: 8,
                absent: 0,
            },
            &[0.0; 8],
        );
        assert!(matches!(
            t.nanos(),
            Err(TableError::TooManyCoalitions {
                count: 8,
                n: 3,
                available: 7
            })
        ));
        let t = table(
            64,
            Estimator::RegressionAdjusted {
                seed: 1,
                count: 1,
                absent: 0,
            },
            &[0.0],
        );
        assert_eq!(t.nanos(), Err(TableError::TooManySampledPlayers(64)));
        let t = table(
            3,
            Estimator::RegressionAdjusted {
                seed: 1,
                count: 0,
                absent: 0,
            },
            &[],
        );
        assert_eq!(t.nanos(), Err(TableError::NoPermutations));
        assert_eq!(pack_utilities(&[0.0, f64::NAN]), Err(1));
    }

    #[test]
    fn the_digest_binds_evaluator_salt_and_every_score() {
        let t = table(3, Estimator::Exact, &game(3));
        let r = report_of(&t);
        let base = digest("rm", 1, "alice", &r, &[0u8; 32]);
        assert_ne!(base, digest("rm", 1, "bob", &r, &[0u8; 32]));
        assert_ne!(base, digest("rm", 2, "alice", &r, &[0u8; 32]));
        assert_ne!(base, digest("rm", 1, "alice", &r, &[1u8; 32]));
        let mut r2 = r.clone();
        r2.scores[0].std_error = Decimal::permille(2);
        assert_ne!(base, digest("rm", 1, "alice", &r2, &[0u8; 32]));
    }
}

#[cfg(test)]
mod readme {
    use super::*;
    use crate::round_manager::ParticipantScore;
    use cosmwasm_std::Decimal;
    use std::str::FromStr;

    /// The worked example in README's protocol section.
    pub fn example() -> (UtilityTable, Report) {
        let table = UtilityTable {
            participants: vec!["wasm1alice".into(), "wasm1bob".into()],
            validation_set_hash: HexBinary::from(vec![0u8; 32]),
            estimator: Estimator::Exact,
            // U(∅) = 0, U({alice}) = 0.3, U({bob}) = 0.1, U({alice, bob}) = 0.5.
            utilities: pack_utilities(&[0.0, 0.3, 0.1, 0.5]).expect("finite"),
        };
        let d = |s: &str| SignedDecimal::from_str(s).expect("decimal");
        let report = Report {
            aggregate_hash: HexBinary::from(vec![0u8; 32]),
            table_hash: HexBinary::from(table.hash().to_vec()),
            delta_u: d("0.5"),
            dof: 7,
            scores: vec![
                ParticipantScore {
                    participant: "wasm1alice".into(),
                    value: d("0.35"),
                    std_error: Decimal::permille(10),
                },
                ParticipantScore {
                    participant: "wasm1bob".into(),
                    value: d("0.15"),
                    std_error: Decimal::permille(10),
                },
            ],
        };
        (table, report)
    }

    #[test]
    fn readme_worked_example() {
        let (table, report) = example();
        assert_eq!(check(&report, &table), Ok(vec![]));
        let table_hash = HexBinary::from(table.hash().to_vec()).to_hex();
        let d =
            HexBinary::from(digest("wasm1contract", 7, "wasm1eve", &report, &[1u8; 32]).to_vec())
                .to_hex();
        let readme = include_str!("../../../README.md");
        for hex in [table_hash, d] {
            assert!(readme.contains(&hex), "README's worked example shows {hex}");
        }
    }
}
