//! Issue #11: the valuation itself is no longer trusted. Each test fails on the old design
//! (unbonded evaluators, public reports, a quorum of 2 whose "median" was a mean, score and
//! error medianed apart, an absolute outlier tolerance, no way to check a report) and passes
//! now.

mod common;

use common::{
    assert_err, assert_rejected, exact_table, pairs, report_from_table, report_of, Scenario, BOND,
};
use cosmwasm_std::{Addr, Decimal, HexBinary, SignedDecimal, Uint128};
use cw_multi_test::Executor;
use fairshare_protocol::escrow::{self, Role, StakeStatus};
use fairshare_protocol::evaluation::EvaluatorVerdict;
use fairshare_protocol::report::{digest, pack_utilities, UtilityTable};
use fairshare_protocol::rewards::Verdict;
use fairshare_protocol::round_manager::{self as rm, ExecuteMsg, Phase, Report};
use fairshare_relayer::chain::ChainError;
use fairshare_relayer::embedded::{DeployOptions, EmbeddedChain};
use fairshare_relayer::keys::ParticipantKey;
use fairshare_round_manager::ContractError;

/// What each participant of these scenarios holds of the stake asset, and bonds of it.
const FUNDS: u128 = 10_000;
const STAKE: u128 = 1_000;

/// A round of `n_eval` evaluators (quorum 3) with `n` committed participants, in Evaluating.
fn evaluating(n_eval: usize, n: usize) -> (Scenario, u64, Vec<ParticipantKey>) {
    let mut s = Scenario::new(n_eval, 3);
    let keys = s.participants(n, FUNDS);
    let round = s.open();
    s.join_all(&keys, round, STAKE);
    s.advance_to_training(round);
    s.commit_all(&keys, round);
    s.advance_to_evaluating(round);
    (s, round, keys)
}

fn dec(v: &str) -> SignedDecimal {
    v.parse().expect("decimal")
}

/// The refusal of a quorum that is even, below 3 or above the number of evaluators.
fn quorum_refused(evaluators: usize, quorum: u32) -> ContractError {
    ContractError::InvalidParams(format!(
        "evaluator_quorum must be odd, at least 3 (2f + 1 with f ≥ 1: fewer reports would let \
         one evaluator set a median) and at most the number of evaluators ({evaluators}); got \
         {quorum}"
    ))
}

/// One evaluator of two set every score: with quorum 2 the "median" of two reports was their
/// mean. No deployment or parameter change can set up a quorum below 3 or an even one.
#[test]
fn a_quorum_that_lets_fewer_than_three_reports_decide_is_refused() {
    let mut s = Scenario::new(3, 3);
    let owner = s.chain.d.owner.clone();
    let base = s.chain.rm_config().expect("config").params;
    for (n, quorum) in [(2, 2), (2, 1), (1, 1), (3, 1), (4, 2), (4, 4), (3, 5)] {
        let evaluators: Vec<String> = common::evaluator_addrs(n)
            .iter()
            .map(Addr::to_string)
            .collect();
        let expected = quorum_refused(n, quorum);
        // Refused at deployment...
        let Err(err) =
            EmbeddedChain::deploy(DeployOptions::with_evaluators(evaluators.clone(), quorum))
        else {
            panic!("{n} evaluators with quorum {quorum} deployed");
        };
        let log = err
            .chain()
            .find_map(|e| match e.downcast_ref::<ChainError>() {
                Some(ChainError::Rejected { log, .. }) => Some(log.clone()),
                _ => None,
            })
            .expect("the round-manager refused to instantiate");
        assert_eq!(log, expected.to_string());
        // ...and as a change of parameters.
        let mut params = base.clone();
        params.evaluators = evaluators;
        params.evaluator_quorum = quorum;
        assert_rejected(&mut s, expected, |s| s.update_params(&owner, params));
    }
}

/// Three evaluators, the third lying with a bond of `liar_bond`: it calls the honest p0
/// hugely harmful and the free-rider p2 hugely valuable. Nothing moves, and the liar is
/// slashed and unpaid.
fn a_liar_of_three_moves_nothing(liar_bond: u128) {
    let (mut s, round, keys) = evaluating(3, 3);
    let liar_addr = s.evaluators[2].clone();
    s.chain.serve(&liar_addr, round, liar_bond).expect("bonds");
    let honest = ["0.3", "0.2", "0.0"];
    for e in 0..2 {
        s.report(e, round, "0.5", &pairs(&keys, &honest))
            .expect("honest");
    }
    s.report(2, round, "0.5", &pairs(&keys, &["-5", "0.2", "5"]))
        .expect("liar");
    s.settle(round).expect("settles");

    let [r0, r1, r2] = [0, 1, 2].map(|i| s.result_of(round, &keys[i]));
    assert_eq!(r0.score.expect("scored").value, dec("0.3"));
    assert_eq!(r2.score.expect("scored").value, dec("0"));
    // G = 0.5 reaches the target: the participants' whole 900,000 in proportion 3 : 2.
    assert_eq!(
        (r0.verdict, r0.reward.u128(), r0.slash.u128()),
        (Verdict::Contributor, 540_000, 0)
    );
    assert_eq!(
        (r1.verdict, r1.reward.u128()),
        (Verdict::Contributor, 360_000)
    );
    // 0 is significantly below τ·G/n = 0.1 · 0.5 / 3: a free-rider, half its stake slashed.
    assert_eq!(
        (r2.verdict, r2.reward.u128(), r2.slash.u128()),
        (Verdict::FreeRider, 0, STAKE / 2)
    );

    // The liar's deviation, 5.3 + 5, is twenty times the round's scale 0.5: deviant.
    let liar = s.evaluator_result(round, 2);
    assert_eq!(liar.verdict, EvaluatorVerdict::Deviant);
    assert_eq!((liar.reward.u128(), liar.slash.u128()), (0, liar_bond / 2));
    for e in 0..2 {
        let r = s.evaluator_result(round, e);
        assert_eq!(r.verdict, EvaluatorVerdict::Consensus);
        assert_eq!(r.agreement, Decimal::one());
        assert_eq!((r.reward.u128(), r.slash.u128()), (50_000, 0));
    }
    assert_eq!(s.treasury_balance(), STAKE / 2 + liar_bond / 2);
}

/// With two reports a liar moved every score halfway to its own: it made an honest
/// participant harmful (slashed whole) and paid a free-rider. With three, one liar moves
/// nothing and is slashed.
#[test]
fn one_lying_evaluator_of_three_moves_nothing_and_is_slashed() {
    a_liar_of_three_moves_nothing(BOND);
}

/// With the median weighted by uncapped bonds, an evaluator that bonded more than the others
/// together (2,001 against 1,000 + 1,000) held the weighted majority alone and set every
/// score: the honest p0 slashed whole as harmful, the free-rider paid 865,384, both honest
/// evaluators slashed as deviant. A bond now counts in the consensus only up to `min_bond`.
#[test]
fn one_evaluator_cannot_buy_the_median_with_a_larger_bond() {
    a_liar_of_three_moves_nothing(2 * BOND + 1);
}

/// Whether any value the round-manager stores holds `needle`.
fn stored(s: &Scenario, needle: &[u8]) -> bool {
    s.chain
        .app
        .dump_wasm_raw(&s.chain.d.round_manager)
        .iter()
        .any(|(_, v)| v.windows(needle.len()).any(|w| w == needle))
}

/// Reports used to be public as soon as they were posted, so a late evaluator could copy or
/// position against the others. Now only a digest is on chain until the reveal.
#[test]
fn no_score_is_visible_before_its_reveal() {
    let (mut s, round, keys) = evaluating(3, 2);
    let secret = dec("0.123456789");
    s.report(0, round, "0.5", &pairs(&keys, &["0.123456789", "0.2"]))
        .expect("commits");
    let needle = secret.atomics().i128().to_be_bytes();
    assert!(!stored(&s, &needle), "the score is in the contract's state");
    let r = s.chain.round(round).expect("round");
    assert_eq!((r.report_commitments, r.reports), (1, 0));
    let reports: rm::ReportsResponse = s
        .query_rm(&rm::QueryMsg::Reports {
            round_id: round,
            start_after: None,
            limit: None,
        })
        .expect("reports");
    assert!(reports.reports.is_empty());
    let scores = |s: &Scenario| {
        s.query_rm::<rm::ReportScoresResponse>(&rm::QueryMsg::ReportScores {
            round_id: round,
            evaluator: s.evaluators[0].to_string(),
            start_after: None,
            limit: None,
        })
        .map(|r| r.scores)
    };
    assert!(scores(&s).is_err(), "there is no report to show yet");
    let bonded = s.bonded(round).expect("evaluators");
    assert!(bonded[0].digest.is_some() && bonded[0].revealed_at.is_none());

    // Reveals open only once every commitment is fixed.
    assert_rejected(
        &mut s,
        ContractError::WrongPhase {
            round_id: round,
            phase: Phase::Evaluating,
            expected: "Revealing",
        },
        |s| s.reveal(0, round),
    );
    s.past_report_deadline(round);
    s.reveal(0, round).expect("opens");
    assert!(stored(&s, &needle));
    let shown = scores(&s).expect("scores");
    assert!(shown
        .iter()
        .any(|p| p.participant == keys[0].address() && p.value == secret));
}

#[test]
fn a_reveal_that_does_not_match_its_commitment_is_refused() {
    let (mut s, round, keys) = evaluating(3, 2);
    s.report(0, round, "0.5", &pairs(&keys, &["0.3", "0.2"]))
        .expect("commits");
    let (_, _, report, salt) = s.pending[0].clone();
    let e0 = s.evaluators[0].clone();
    s.past_report_deadline(round);
    let mut changed_score = report.clone();
    changed_score.scores[0].value = dec("0.9");
    let mut changed_error = report.clone();
    changed_error.scores[1].std_error = Decimal::percent(50);
    for (shown, salt) in [
        (changed_score, salt),
        (changed_error, salt),
        (report.clone(), [9; 32]),
    ] {
        assert_rejected(&mut s, ContractError::RevealMismatch(e0.to_string()), |s| {
            s.chain.reveal_report(&e0, round, shown, &salt)
        });
    }
    s.reveal(0, round).expect("the committed report opens");
}

/// A lazy evaluator cannot copy: a digest copied from the mempool opens only with the
/// address of the evaluator that made it, and once reports are revealed commitments are
/// closed. The copier ends a no-show.
#[test]
fn a_copied_digest_opens_nothing_and_its_copier_is_a_no_show() {
    let (mut s, round, keys) = evaluating(4, 2);
    for e in 0..3 {
        s.report(e, round, "0.5", &pairs(&keys, &["0.3", "0.2"]))
            .expect("honest");
    }
    s.serve(3, round).expect("the copier bonds");
    let (_, _, report, salt) = s.pending[0].clone();
    let copied = digest(
        s.chain.d.round_manager.as_str(),
        round,
        s.evaluators[0].as_str(),
        &report,
        &salt,
    );
    let copier = s.evaluators[3].clone();
    let rm_addr = s.chain.d.round_manager.clone();
    s.chain
        .app
        .execute_contract(
            copier.clone(),
            rm_addr,
            &ExecuteMsg::CommitReport {
                round_id: round,
                digest: HexBinary::from(copied.to_vec()),
            },
            &[],
        )
        .expect("a digest is only bytes");
    s.reveal_all(round).expect("the others reveal");
    // Evaluator 0's report and salt are public now; they do not open the copier's digest.
    assert_rejected(
        &mut s,
        ContractError::RevealMismatch(copier.to_string()),
        |s| s.chain.reveal_report(&copier, round, report.clone(), &salt),
    );
    // Nor can it commit again.
    assert_rejected(
        &mut s,
        ContractError::WrongPhase {
            round_id: round,
            phase: Phase::Revealing,
            expected: "Evaluating",
        },
        |s| s.chain.commit_report(&copier, round, &report, &[7; 32]),
    );
    s.settle(round)
        .expect("settles on the three honest reports");
    let r = s.evaluator_result(round, 3);
    assert_eq!(r.verdict, EvaluatorVerdict::NoShow);
    assert_eq!((r.reward.u128(), r.slash.u128()), (0, BOND / 4));
    for e in 0..3 {
        assert_eq!(s.evaluator_result(round, e).reward.u128(), 33_333);
    }
}

/// An evaluator that committed a lazy report and sees an honest one revealed cannot open its
/// commitment with the honest report: it reveals its own (and is judged by it) or nothing.
#[test]
fn a_report_revealed_after_anothers_cannot_be_changed_to_copy_it() {
    let (mut s, round, keys) = evaluating(3, 2);
    let honest = pairs(&keys, &["0.3", "0.2"]);
    for e in 0..2 {
        s.report(e, round, "0.5", &honest).expect("honest");
    }
    s.report(2, round, "0", &pairs(&keys, &["0", "0"]))
        .expect("lazy");
    let lazy_salt = s.pending[2].3;
    let (_, _, seen, seen_salt) = s.pending[0].clone();
    s.past_report_deadline(round);
    s.reveal(0, round).expect("the honest report is public");
    let lazy = s.evaluators[2].clone();
    for salt in [lazy_salt, seen_salt] {
        assert_rejected(
            &mut s,
            ContractError::RevealMismatch(lazy.to_string()),
            |s| s.chain.reveal_report(&lazy, round, seen.clone(), &salt),
        );
    }
    s.reveal(2, round).expect("its own report opens");
    s.reveal(1, round).expect("honest");
    s.settle(round).expect("settles");
    // Its deviation, 0.3 + 0.2, is the whole of the round's scale: deviant.
    let r = s.evaluator_result(round, 2);
    assert_eq!(r.verdict, EvaluatorVerdict::Deviant);
    assert_eq!((r.reward.u128(), r.slash.u128()), (0, BOND / 2));
    assert_eq!(
        s.result_of(round, &keys[0]).score.expect("scored").value,
        dec("0.3")
    );
}

/// Score and standard error were medianed apart, and "the error of the median report" would
/// let a liar in the middle choose it. A colluder that reports the poisoner's φ between the
/// honest two, with a standard error of 1000, does not shield it.
#[test]
fn an_inflated_standard_error_does_not_shield_a_harmful_update() {
    let (mut s, round, keys) = evaluating(3, 2);
    s.report(0, round, "0.2", &pairs(&keys, &["0.4", "-0.2"]))
        .expect("honest");
    s.report(1, round, "0.18", &pairs(&keys, &["0.4", "-0.22"]))
        .expect("honest");
    let mut shield = report_of("0.19", &pairs(&keys, &["0.4", "-0.21"]));
    shield.scores[1].std_error = Decimal::from_ratio(1_000u32, 1u32);
    s.commit_report(2, round, shield).expect("colluder");
    s.settle(round).expect("settles");
    let poisoner = s.result_of(round, &keys[1]);
    let score = poisoner.score.expect("scored");
    // The colluder's value is the median, but not its error: the larger of the median
    // error (0.00001) and 1.4826 × the median absolute deviation (0.01).
    assert_eq!(score.value, dec("-0.21"));
    assert_eq!(
        score.std_error,
        Decimal::from_ratio(14_826u32, 1_000_000u32)
    );
    // −0.21 + t(1%, 7) · 0.014826 = −0.21 + 2.998 · 0.014826 < 0.
    assert_eq!(poisoner.verdict, Verdict::Harmful);
    assert_eq!((poisoner.reward.u128(), poisoner.slash.u128()), (0, STAKE));
}

/// Utilities U(S) = √(w(S)/10) / 5 with w(S) = Σ (i + 1) over S: concave, so the Shapley
/// values differ from any even split.
fn utilities(n: usize) -> Vec<f64> {
    (0..1usize << n)
        .map(|m| {
            let w: f64 = (0..n)
                .filter(|i| m >> i & 1 == 1)
                .map(|i| (i + 1) as f64)
                .sum();
            (w / 10.0).sqrt() / 5.0
        })
        .collect()
}

/// `n_eval` evaluators (quorum 3) over three participants: all but the last report what
/// their common utility table gives; the last commits to the same table but adds 0.1 to p0's
/// φ. Every report is revealed and a funded challenger stands by.
struct Disputable {
    s: Scenario,
    round: u64,
    keys: Vec<ParticipantKey>,
    table: UtilityTable,
    honest: Report,
    challenger: Addr,
}

fn disputable(n_eval: usize) -> Disputable {
    let (mut s, round, keys) = evaluating(n_eval, 3);
    let table = exact_table(
        &keys.iter().collect::<Vec<_>>(),
        s.validation_set_hash(round),
        &utilities(keys.len()),
    );
    let honest = report_from_table(&table);
    for e in 0..n_eval - 1 {
        s.commit_report(e, round, honest.clone()).expect("honest");
    }
    let mut lie = honest.clone();
    lie.scores[0].value += SignedDecimal::percent(10);
    s.commit_report(n_eval - 1, round, lie).expect("liar");
    s.reveal_all(round).expect("reveals");
    let challenger = s.chain.addr("challenger");
    s.chain.fund(challenger.as_str(), FUNDS).expect("funds");
    Disputable {
        s,
        round,
        keys,
        table,
        honest,
        challenger,
    }
}

impl Disputable {
    /// The challenger disputes evaluator `e`'s report with the committed table: the
    /// dispute's outcome.
    fn dispute(&mut self, e: usize) -> String {
        let ev = self.s.evaluators[e].clone();
        let res = self
            .s
            .chain
            .dispute(&self.challenger, self.round, &ev, self.table.clone(), 500)
            .expect("the dispute is heard");
        res.events
            .iter()
            .flat_map(|e| &e.attributes)
            .find(|a| a.key == "outcome")
            .map(|a| a.value.clone())
            .expect("an outcome")
    }

    /// What the challenger's disputes come to.
    fn challenger_result(&self) -> rm::ChallengerResult {
        self.s
            .challenger_result(self.round, self.challenger.as_str())
    }
}

#[test]
fn a_dispute_with_a_consistent_table_costs_the_challenger_its_deposit() {
    let mut d = disputable(4);
    assert_eq!(d.dispute(0), "rejected");
    let Disputable {
        s,
        round,
        keys,
        honest,
        challenger,
        ..
    } = &mut d;
    let round = *round;
    let heard = s.disputes(round);
    assert_eq!(heard.len(), 1);
    assert!(!heard[0].upheld && heard[0].findings.is_empty());
    assert_eq!(s.chain.round(round).expect("round").reports, 4);
    s.settle(round).expect("settles");
    // The report stands: evaluator 0 is paid like its two honest peers.
    let r = s.evaluator_result(round, 0);
    assert_eq!(
        (r.verdict, r.reward.u128(), r.slash.u128()),
        (EvaluatorVerdict::Consensus, 33_333, 0)
    );
    assert_eq!(
        s.result_of(round, &keys[0]).score.expect("scored").value,
        honest.scores[0].value
    );
    // The forfeited deposit reached the treasury beside the undisputed liar's slash (its
    // 0.1 is 64% of the round's scale U(N) = 0.155: deviant, half its bond).
    assert_eq!(
        s.evaluator_result(round, 3).verdict,
        EvaluatorVerdict::Deviant
    );
    assert_eq!(s.treasury_balance(), 500 + BOND / 2);
    s.chain
        .claim(challenger, round)
        .expect("claims nothing back");
    assert_eq!(s.balance(challenger.as_str()), FUNDS - 500);
    let c = d.challenger_result();
    assert_eq!(
        (
            c.deposits.u128(),
            c.upheld,
            c.rejected,
            c.stake_return.u128()
        ),
        (500, 0, 1, 0)
    );
}

#[test]
fn a_dispute_with_an_inconsistent_table_strikes_the_report_out_and_pays_the_challenger() {
    let mut d = disputable(4);
    assert_eq!(d.dispute(3), "upheld");
    let c = d.challenger_result();
    let Disputable {
        s,
        round,
        keys,
        table,
        honest,
        challenger,
    } = &mut d;
    let round = *round;
    let liar = s.evaluators[3].clone();
    let heard = s.disputes(round);
    assert!(heard[0].upheld);
    assert_eq!(heard[0].findings.len(), 1, "{:?}", heard[0].findings);
    assert!(heard[0].findings[0].starts_with(keys[0].address()));
    assert_eq!(
        s.chain.round(round).expect("round").reports,
        3,
        "the liar's report no longer counts"
    );
    // One dispute per report: its table fixed the outcome.
    assert_rejected(
        s,
        ContractError::AlreadyDisputed(liar.to_string(), round),
        |s| {
            s.chain
                .dispute(challenger, round, &liar, table.clone(), 500)
        },
    );
    s.settle(round).expect("settles on the three others");
    let lr = s.evaluator_result(round, 3);
    assert_eq!(lr.verdict, EvaluatorVerdict::Disputed);
    assert_eq!((lr.reward.u128(), lr.slash.u128()), (0, BOND));
    // The honest three share the evaluators' pool; participants are paid on their consensus.
    for e in 0..3 {
        assert_eq!(s.evaluator_result(round, e).reward.u128(), 33_333);
    }
    for (k, reported) in keys.iter().zip(&honest.scores) {
        let r = s.result_of(round, k);
        assert_eq!(r.score.expect("scored").value, reported.value);
        assert_eq!(r.verdict, Verdict::Contributor);
    }
    // Deposit back plus the bounty: half of the liar's slashed bond; the other half is the
    // treasury's.
    assert_eq!((c.upheld, c.stake_return.u128()), (1, 500 + BOND / 2));
    s.chain.claim(challenger, round).expect("claims");
    assert_eq!(s.balance(challenger.as_str()), FUNDS + BOND / 2);
    assert_eq!(s.treasury_balance(), BOND / 2);
    // The liar gets nothing back.
    let before = s.balance(liar.as_str());
    s.claim_evaluators(round).expect("evaluators claim");
    assert_eq!(s.balance(liar.as_str()), before);
    for k in keys.iter() {
        s.claim(k, round).expect("claims");
    }
    assert_eq!(s.escrow_balance(), 0);
}

#[test]
fn a_table_that_is_not_the_committed_one_is_refused_and_changes_nothing() {
    let Disputable {
        mut s,
        round,
        keys,
        mut table,
        honest,
        challenger,
    } = disputable(4);
    let liar = s.evaluators[3].clone();
    // A table of zeros, which would make any positive φ look wrong.
    table.utilities = pack_utilities(&vec![0.0; 1 << keys.len()]).expect("finite");
    assert_rejected(
        &mut s,
        ContractError::TableMismatch {
            committed: honest.table_hash.to_hex(),
            got: HexBinary::from(table.hash().to_vec()).to_hex(),
        },
        |s| {
            s.chain
                .dispute(&challenger, round, &liar, table.clone(), 500)
        },
    );
    // A deposit below the round's is refused too.
    assert_rejected(
        &mut s,
        ContractError::DepositTooSmall {
            got: Uint128::new(499),
            min: Uint128::new(500),
        },
        |s| s.chain.dispute(&challenger, round, &liar, table, 499),
    );
    assert!(s.disputes(round).is_empty());
}

/// A dispute that leaves fewer revealed reports than the quorum fails the round: the
/// participants are refunded in full, and the struck-out evaluator is slashed all the same,
/// paying the challenger's bounty.
#[test]
fn an_upheld_dispute_that_breaks_the_quorum_fails_the_round_and_still_slashes() {
    let mut d = disputable(3);
    assert_eq!(d.dispute(2), "upheld");
    let Disputable {
        s,
        round,
        keys,
        challenger,
        ..
    } = &mut d;
    let round = *round;
    let mut everyone = s.stake_holders(keys);
    everyone.push(challenger.to_string());
    let before = s.held_by(&everyone);
    s.past_dispute_deadline(round).expect("waits");
    assert_eq!(s.chain.round(round).expect("round").phase, Phase::Failed);
    s.settle_now(round).expect("fails the round");
    assert_eq!(
        [0, 1, 2].map(|e| s.evaluator_result(round, e).slash.u128()),
        [0, 0, BOND]
    );
    for k in keys.iter() {
        s.claim(k, round).expect("refund");
        assert_eq!(s.balance(k.address()), FUNDS);
    }
    s.chain.claim(challenger, round).expect("claims");
    assert_eq!(s.balance(challenger.as_str()), FUNDS + BOND / 2);
    s.claim_evaluators(round).expect("evaluators claim");
    assert_eq!(s.treasury_balance(), BOND / 2);
    assert_eq!(s.escrow_balance(), 0);
    assert_eq!(s.held_by(&everyone), before, "stake tokens are conserved");
}

/// Evaluators used to be unbonded and unpaid. Now honest ones share the evaluators' pool by
/// bond × agreement, a no-show forfeits a quarter of its bond, and rewards and dust are
/// exactly what the round reserved.
#[test]
fn honest_evaluators_are_paid_by_bond_and_agreement_and_no_shows_slashed() {
    let (mut s, round, keys) = evaluating(4, 2);
    for (e, bond) in [(0, 1_000), (1, 2_000), (2, 1_000), (3, 1_000)] {
        let ev = s.evaluators[e].clone();
        s.chain.serve(&ev, round, bond).expect("bonds");
    }
    // Exact reports (standard errors 0), so the scale is Σ|φ*| = 0.5 alone.
    let exact = |values: &[&str]| {
        let mut r = report_of("0.5", &pairs(&keys, values));
        for p in &mut r.scores {
            p.std_error = Decimal::zero();
        }
        r
    };
    s.commit_report(0, round, exact(&["0.3", "0.2"]))
        .expect("honest");
    s.commit_report(1, round, exact(&["0.3", "0.2"]))
        .expect("honest");
    // Off by 0.01 = 2% of the scale: agreement 1 − 0.02 / 0.1 = 0.8.
    s.commit_report(2, round, exact(&["0.31", "0.2"]))
        .expect("close");
    // Evaluator 3 bonded and never reports.
    s.settle(round).expect("settles");

    let summary = s.summary(round);
    assert_eq!(
        (summary.pool.u128(), summary.evaluator_pool.u128()),
        (900_000, 100_000)
    );
    let results = [0, 1, 2, 3].map(|e| s.evaluator_result(round, e));
    assert_eq!(
        results.each_ref().map(|r| r.agreement),
        [
            Decimal::one(),
            Decimal::one(),
            Decimal::percent(80),
            Decimal::zero()
        ]
    );
    // Weights 1,000 : 2,000 : 800 of 3,800.
    assert_eq!(
        results.each_ref().map(|r| r.reward.u128()),
        [26_315, 52_631, 21_052, 0]
    );
    assert_eq!(results[3].verdict, EvaluatorVerdict::NoShow);
    assert_eq!(
        results.each_ref().map(|r| r.slash.u128()),
        [0, 0, 0, BOND / 4]
    );
    let participants: Vec<u128> = keys
        .iter()
        .map(|k| s.result_of(round, k).reward.u128())
        .collect();
    assert_eq!(participants, vec![540_000, 360_000]);
    assert_eq!(summary.evaluator_rewards.u128(), 99_998);
    assert_eq!(summary.dust.u128(), 2);
    let reserved = summary.pool.u128() + summary.evaluator_pool.u128();
    assert_eq!(
        participants.iter().sum::<u128>() + summary.evaluator_rewards.u128() + summary.dust.u128(),
        reserved
    );
    let t = s.chain.totals().expect("totals");
    assert_eq!(
        (t.unclaimed_rewards.u128(), t.minted_total.u128()),
        (reserved - 2, 2)
    );

    // Bonds wait out the appeal window.
    let e1 = s.evaluators[1].clone();
    assert_err(
        &s.chain.claim(&e1, round).expect_err("in appeal"),
        &fairshare_escrow::ContractError::InAppeal {
            evaluator: e1.to_string(),
            round_id: round,
            until: results[1].claimable_from,
        },
    );
    for k in &keys {
        s.claim(k, round).expect("claims");
    }
    s.claim_evaluators(round).expect("claims after the window");
    // Every bond comes back whole but the no-show's, less its quarter.
    for (e, (lost, reward)) in [(0, 26_315), (0, 52_631), (0, 21_052), (BOND / 4, 0)]
        .into_iter()
        .enumerate()
    {
        let ev = s.evaluators[e].as_str();
        assert_eq!(s.balance(ev), 100 * BOND - lost);
        assert_eq!(s.chain.token_balance(ev).expect("balance"), reward);
    }
    assert_eq!(s.treasury_balance(), BOND / 4);
    assert_eq!(s.escrow_balance(), 0);
    assert_eq!(
        s.chain.totals().expect("totals").minted_total.u128(),
        reserved
    );
}

/// A round that fails for lack of reveals pays no one and refunds its participants in full,
/// but still slashes the evaluator that committed and stayed away; nothing is created or lost.
#[test]
fn a_round_short_of_reveals_refunds_participants_and_still_slashes_no_shows() {
    let (mut s, round, keys) = evaluating(3, 2);
    let everyone = s.stake_holders(&keys);
    let before = s.held_by(&everyone);
    for e in 0..3 {
        s.report(e, round, "0.5", &pairs(&keys, &["0.3", "0.2"]))
            .expect("commits");
    }
    s.withhold(2, round);
    s.past_dispute_deadline(round).expect("two reveal");
    assert_eq!(s.chain.round(round).expect("round").phase, Phase::Failed);
    s.settle_now(round).expect("fails the round");
    assert_eq!(s.treasury_balance(), BOND / 4);
    let results = [0, 1, 2].map(|e| s.evaluator_result(round, e));
    assert_eq!(
        results
            .each_ref()
            .map(|r| (r.verdict, r.reward.u128(), r.slash.u128())),
        [
            (EvaluatorVerdict::Consensus, 0, 0),
            (EvaluatorVerdict::Consensus, 0, 0),
            (EvaluatorVerdict::NoShow, 0, BOND / 4),
        ]
    );
    for k in &keys {
        s.claim(k, round).expect("refund");
        assert_eq!(s.balance(k.address()), FUNDS);
    }
    s.claim_evaluators(round).expect("evaluators claim");
    assert_eq!(s.balance(s.evaluators[2].as_str()), 100 * BOND - BOND / 4);
    let t = s.chain.totals().expect("totals");
    assert_eq!(
        (
            t.locked.u128(),
            t.claimable_stake.u128(),
            t.minted_total.u128()
        ),
        (0, 0, 0)
    );
    assert_eq!(s.escrow_balance(), 0);
    assert_eq!(s.held_by(&everyone), before, "stake tokens are conserved");
}

/// Whoever is on the evaluator list evaluates and nothing else; it evaluates only once
/// bonded, with at least the round's minimum, once, and before reveals open.
#[test]
fn evaluators_bond_before_they_report_and_never_join() {
    // A key whose address is on the evaluator list.
    let eve = fairshare_relayer::keys::ParticipantKey::from_seed(
        b"eve",
        fairshare_relayer::embedded::ADDRESS_PREFIX,
    )
    .expect("key");
    let eve_addr = Addr::unchecked(eve.address());
    let mut s = Scenario::with(3, 3, |o| o.params.evaluators[0] = eve.address().to_string());
    s.evaluators[0] = eve_addr.clone();
    s.chain.fund(eve.address(), 100 * BOND).expect("funds");
    let keys = s.participants(2, FUNDS);
    let round = s.open();
    assert_rejected(
        &mut s,
        ContractError::EvaluatorCannotJoin(eve.address().to_string(), round),
        |s| s.chain.join(&eve, round, STAKE),
    );
    assert_rejected(
        &mut s,
        ContractError::BondTooSmall {
            bond: Uint128::new(BOND - 1),
            min: Uint128::new(BOND),
        },
        |s| s.chain.serve(&eve_addr, round, BOND - 1),
    );
    s.serve(0, round).expect("bonds");
    assert_rejected(
        &mut s,
        fairshare_escrow::ContractError::AlreadyStaked(eve.address().to_string(), round),
        |s| s.chain.serve(&eve_addr, round, BOND),
    );
    let bond = s.bond(round, eve.address(), Role::Evaluator).expect("bond");
    assert_eq!(
        (bond.amount.u128(), bond.status),
        (BOND, StakeStatus::Locked)
    );
    s.join_all(&keys, round, STAKE);
    s.advance_to_training(round);
    s.commit_all(&keys, round);
    s.advance_to_evaluating(round);
    let report = report_of("0.5", &pairs(&keys, &["0.3", "0.2"]));
    let e1 = s.evaluators[1].clone();
    assert_rejected(
        &mut s,
        ContractError::NotBonded(e1.to_string(), round),
        |s| s.chain.commit_report(&e1, round, &report, &[1; 32]),
    );
    s.past_report_deadline(round);
    assert_rejected(
        &mut s,
        ContractError::WrongPhase {
            round_id: round,
            phase: Phase::Revealing,
            expected: "Open, Training or Evaluating",
        },
        |s| s.chain.serve(&e1, round, BOND),
    );
}

/// The DAO may still penalise an evaluator on re-execution evidence, but only during the
/// appeal window and never beyond what is left of its bond.
#[test]
fn the_owner_can_penalise_an_evaluator_only_within_the_appeal_window() {
    let (mut s, round, keys) = evaluating(3, 2);
    s.report_all(round, "0.5", &pairs(&keys, &["0.3", "0.2"]))
        .expect("reports");
    s.settle(round).expect("settles");
    let owner = s.chain.d.owner.clone();
    let escrow_addr = s.chain.d.escrow.clone();
    let e1 = s.evaluators[1].clone();
    let penalize = |amount: u128| escrow::ExecuteMsg::PenalizeEvaluator {
        round_id: round,
        evaluator: e1.to_string(),
        amount: Uint128::new(amount),
        reason: "re-execution of its table disagrees".into(),
    };
    let stranger = s.chain.addr("stranger");
    assert_rejected(&mut s, fairshare_escrow::ContractError::NotOwner, |s| {
        s.chain
            .app
            .execute_contract(stranger, escrow_addr.clone(), &penalize(100), &[])
    });
    assert_rejected(
        &mut s,
        fairshare_escrow::ContractError::PenaltyTooLarge {
            amount: Uint128::new(BOND + 1),
            left: Uint128::new(BOND),
        },
        |s| {
            s.chain.app.execute_contract(
                owner.clone(),
                escrow_addr.clone(),
                &penalize(BOND + 1),
                &[],
            )
        },
    );
    s.chain
        .app
        .execute_contract(owner.clone(), escrow_addr.clone(), &penalize(400), &[])
        .expect("the DAO penalises");
    let until = s.evaluator_result(round, 1).claimable_from;
    s.chain.advance(until - s.chain.height());
    assert_rejected(
        &mut s,
        fairshare_escrow::ContractError::AppealClosed {
            evaluator: e1.to_string(),
            round_id: round,
            until,
        },
        |s| {
            s.chain
                .app
                .execute_contract(owner, escrow_addr, &penalize(100), &[])
        },
    );
    let before = s.balance(e1.as_str());
    s.chain.claim(&e1, round).expect("claims");
    assert_eq!(s.balance(e1.as_str()) - before, BOND - 400);
    assert_eq!(s.treasury_balance(), 400);
}

/// A liar could once make its report indisputable by committing to a table too large for the
/// chain to check (every dispute was refused). Such a table now counts against its report.
#[test]
fn a_table_too_large_to_check_counts_against_its_report() {
    let (mut s, round, keys) = evaluating(4, 3);
    for e in 0..3 {
        s.report(e, round, "0.5", &pairs(&keys, &["0.3", "0.2", "0.0"]))
            .expect("honest");
    }
    let spec = s.chain.round(round).expect("round").spec;
    let seed = fairshare_protocol::report::round_seed(
        s.chain.d.round_manager.as_str(),
        round,
        spec.validation_set_hash.as_slice(),
    );
    let count = 3_000u32; // 3,000 permutations × 3 players > 8,192 utilities
    let table = UtilityTable {
        participants: keys.iter().map(|k| k.address().to_string()).collect(),
        validation_set_hash: spec.validation_set_hash,
        estimator: fairshare_protocol::report::Estimator::Permutations { seed, count },
        utilities: pack_utilities(&vec![0.1; count as usize * keys.len()]).expect("finite"),
    };
    let mut lie = report_of("0.5", &pairs(&keys, &["0.0", "0.0", "0.5"]));
    lie.table_hash = HexBinary::from(table.hash().to_vec());
    s.commit_report(3, round, lie).expect("commits");
    s.past_report_deadline(round);
    for e in 0..4 {
        s.reveal(e, round).expect("reveals");
    }
    let challenger = s.chain.addr("challenger");
    s.chain.fund(challenger.as_str(), 10_000).expect("funds");
    let liar = s.evaluators[3].clone();
    let res = s
        .chain
        .dispute(&challenger, round, &liar, table, 500)
        .expect("the dispute is heard");
    assert!(res
        .events
        .iter()
        .flat_map(|e| &e.attributes)
        .any(|a| a.key == "outcome" && a.value == "upheld"));
    assert_eq!(s.chain.round(round).expect("round").reports, 3);
}
