//! Issue #16: a round too large to enumerate is valued by the regression-adjusted estimator on
//! coalitions drawn from the round seed, and its table is as disputable as an exact one: the
//! contract redraws the coalitions, recomputes every φ and ΔU, and checks the seed.

mod common;

use common::{report_from_table, Scenario};
use cosmwasm_std::{Addr, HexBinary, SignedDecimal};
use fairshare_protocol::report::{pack_utilities, round_seed, Estimator, UtilityTable};
use fairshare_protocol::round_manager::Report;
use fairshare_protocol::sampled;
use fairshare_relayer::keys::ParticipantKey;

const FUNDS: u128 = 10_000;
const STAKE: u128 = 1_000;
const DEPOSIT: u128 = 500;

/// U(S) = √(w(S)) / 10 with w(S) = Σ (i mod 5 + 1) over S: a concave data game.
fn utility(mask: u64, n: usize) -> f64 {
    let w: f64 = (0..n)
        .filter(|i| mask >> i & 1 == 1)
        .map(|i| (i % 5 + 1) as f64)
        .sum();
    w.sqrt() / 10.0
}

/// A round of `n` committed participants and 4 evaluators (quorum 3), with the
/// regression-adjusted table of `count` coalitions drawn from `seed` (the round's when `None`).
struct Sampled {
    s: Scenario,
    round: u64,
    keys: Vec<ParticipantKey>,
    table: UtilityTable,
    challenger: Addr,
}

/// Players in `absent` brought no update (U ignores them); `declared` is what the table says.
fn sampled_round(n: usize, count: u32, seed: Option<u64>, absent: u64, declared: u64) -> Sampled {
    let mut s = Scenario::new(4, 3);
    let keys = s.participants(n, FUNDS);
    let round = s.open();
    s.join_all(&keys, round, STAKE);
    s.advance_to_training(round);
    s.commit_all(&keys, round);
    s.advance_to_evaluating(round);
    let validation_set_hash = s.validation_set_hash(round);
    let seed = seed.unwrap_or_else(|| {
        round_seed(
            s.chain.d.round_manager.as_str(),
            round,
            validation_set_hash.as_slice(),
        )
    });
    let masks = sampled::coalitions(seed, n, count as u64).expect("drawable");
    let u: Vec<f64> = masks.iter().map(|&m| utility(m & !absent, n)).collect();
    let table = UtilityTable {
        participants: keys.iter().map(|k| k.address().to_string()).collect(),
        validation_set_hash,
        estimator: Estimator::RegressionAdjusted {
            seed,
            count,
            absent: declared,
        },
        utilities: pack_utilities(&u).expect("finite"),
    };
    let challenger = s.chain.addr("challenger");
    s.chain.fund(challenger.as_str(), FUNDS).expect("funds");
    Sampled {
        s,
        round,
        keys,
        table,
        challenger,
    }
}

impl Sampled {
    /// Evaluators 0–2 report `honest`, evaluator 3 reports `last`; all reveal; the challenger
    /// disputes evaluator 3 with the table. The outcome and the findings.
    fn dispute_last(&mut self, honest: &Report, last: Report) -> (String, Vec<String>) {
        for e in 0..3 {
            self.s
                .commit_report(e, self.round, honest.clone())
                .expect("honest");
        }
        self.s.commit_report(3, self.round, last).expect("commits");
        self.s.reveal_all(self.round).expect("reveals");
        let ev = self.s.evaluators[3].clone();
        let res = self
            .s
            .chain
            .dispute(
                &self.challenger,
                self.round,
                &ev,
                self.table.clone(),
                DEPOSIT,
            )
            .expect("the dispute is heard");
        let outcome = res
            .events
            .iter()
            .flat_map(|e| &e.attributes)
            .find(|a| a.key == "outcome")
            .map(|a| a.value.clone())
            .expect("an outcome");
        let heard = self.s.disputes(self.round);
        (outcome, heard[0].findings.clone())
    }
}

#[test]
fn an_honest_regression_adjusted_report_of_sixteen_players_survives_a_dispute() {
    let mut r = sampled_round(16, 400, None, 0, 0);
    let honest = report_from_table(&r.table);
    // The table's φ are the estimator's (not a placeholder): efficient and ordered by weight.
    let total: SignedDecimal = honest
        .scores
        .iter()
        .fold(SignedDecimal::zero(), |a, s| a + s.value);
    let gap = total - honest.delta_u;
    assert!(gap < SignedDecimal::permille(1) && -gap < SignedDecimal::permille(1));
    assert!(honest.scores[4].value > honest.scores[0].value);
    let (outcome, findings) = r.dispute_last(&honest, honest.clone());
    assert_eq!(outcome, "rejected", "{findings:?}");
    assert!(findings.is_empty());
    assert_eq!(r.s.chain.round(r.round).expect("round").reports, 4);
}

#[test]
fn a_forged_score_in_a_regression_adjusted_report_is_upheld() {
    let mut r = sampled_round(14, 300, None, 0, 0);
    let honest = report_from_table(&r.table);
    let mut lie = honest.clone();
    // Less than one standard error of the estimate, still not what the table gives.
    lie.scores[5].value += SignedDecimal::permille(1);
    let (outcome, findings) = r.dispute_last(&honest, lie);
    assert_eq!(outcome, "upheld");
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(findings[0].starts_with(r.keys[5].address()), "{findings:?}");
    assert_eq!(r.s.chain.round(r.round).expect("round").reports, 3);
}

#[test]
fn a_regression_adjusted_table_drawn_from_another_seed_is_upheld() {
    // Consistent with its own table, but the evaluator chose the coalitions.
    let mut r = sampled_round(14, 300, Some(42), 0, 0);
    let shopped = report_from_table(&r.table);
    let (outcome, findings) = r.dispute_last(&shopped, shopped.clone());
    assert_eq!(outcome, "upheld");
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(
        findings[0].contains("coalitions were drawn from seed 42"),
        "{findings:?}"
    );
}

#[test]
fn a_regression_adjusted_table_with_a_forged_utility_is_upheld() {
    // The evaluator reports what the honest table gives but commits to a table with one
    // utility changed (as if a coalition had been measured differently): its φ no longer follow.
    let mut r = sampled_round(14, 300, None, 0, 0);
    let honest = report_from_table(&r.table);
    let mut bytes = r.table.utilities.to_vec();
    let off = 8 * 20; // coalition 20 of the stream: a size-(n−1) coalition
    let mut v = [0u8; 8];
    v.copy_from_slice(&bytes[off..off + 8]);
    let forged = i64::from_be_bytes(v) + 50_000_000; // +0.05
    bytes[off..off + 8].copy_from_slice(&forged.to_be_bytes());
    r.table.utilities = bytes.into();
    let mut committed = honest.clone();
    committed.table_hash = HexBinary::from(r.table.hash().to_vec());
    let (outcome, findings) = r.dispute_last(&honest, committed);
    assert_eq!(outcome, "upheld");
    assert!(!findings.is_empty());
}

#[test]
fn a_declared_no_show_is_valued_exactly_zero_and_the_report_survives_a_dispute() {
    let mut r = sampled_round(15, 400, None, 1 << 6, 1 << 6);
    let honest = report_from_table(&r.table);
    assert_eq!(honest.scores[6].value, SignedDecimal::zero());
    assert!(honest.scores.iter().filter(|s| s.value.is_zero()).count() == 1);
    let (outcome, findings) = r.dispute_last(&honest, honest.clone());
    assert_eq!(outcome, "rejected", "{findings:?}");
}

#[test]
fn declaring_a_contributor_absent_is_upheld() {
    // The evaluator zeroes participant 6, who did contribute, by declaring it absent.
    let mut r = sampled_round(15, 400, None, 0, 1 << 6);
    let honest = {
        let mut t = r.table.clone();
        if let Estimator::RegressionAdjusted { absent, .. } = &mut t.estimator {
            *absent = 0;
        }
        report_from_table(&t)
    };
    let mut claim = honest.clone();
    claim.table_hash = HexBinary::from(r.table.hash().to_vec());
    let (outcome, findings) = r.dispute_last(&honest, claim);
    assert_eq!(outcome, "upheld");
    assert!(
        findings[0].contains("player 6 is declared absent"),
        "{findings:?}"
    );
}

#[test]
fn a_null_update_declared_absent_is_valued_exactly_zero_and_survives_a_dispute() {
    // Participant 3 committed an update that is exactly null (ΔW = 0): the evaluator declares
    // it absent beside the no-show 9, and the table shows neither changing any coalition.
    let null = 1 << 3 | 1 << 9;
    let mut r = sampled_round(16, 400, None, null, null);
    let honest = report_from_table(&r.table);
    assert_eq!(honest.scores[3].value, SignedDecimal::zero());
    assert_eq!(honest.scores[9].value, SignedDecimal::zero());
    assert_eq!(
        honest.scores.iter().filter(|s| s.value.is_zero()).count(),
        2
    );
    let (outcome, findings) = r.dispute_last(&honest, honest.clone());
    assert_eq!(outcome, "rejected", "{findings:?}");
    assert!(findings.is_empty());
}
