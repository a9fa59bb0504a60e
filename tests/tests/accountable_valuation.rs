//! Issue #11: the valuation itself is no longer trusted. Each test fails on the old design
//! (unbonded evaluators, public reports, a quorum of 2, score and error medianed apart, an
//! absolute outlier tolerance, no way to check a report) and passes now.

mod common;

use common::{assert_err, assert_rejected, report_of, Scenario, BOND};
use cosmwasm_std::{Addr, Decimal, HexBinary, SignedDecimal, Uint128};
use cw_multi_test::Executor;
use fairshare_protocol::evaluation::EvaluatorVerdict;
use fairshare_protocol::report::{
    grand_value, nanos_to_decimal, pack_utilities, shapley, Estimator, UtilityTable,
};
use fairshare_protocol::rewards::Verdict;
use fairshare_protocol::round_manager::{self as rm, ExecuteMsg, Phase, Report};
use fairshare_relayer::keys::ParticipantKey;
use fairshare_round_manager::ContractError;

/// A round with `n` committed participants, in Evaluating.
fn evaluating(n_eval: usize, n: usize) -> (Scenario, u64, Vec<ParticipantKey>) {
    let mut s = Scenario::with(n_eval, 3, |_| {});
    let keys = s.participants(n, 10_000);
    let round = s.open();
    s.join_all(&keys, round, 1_000);
    s.advance_to_training(round);
    s.commit_all(&keys, round);
    s.advance_to_evaluating(round);
    (s, round, keys)
}

fn pairs<'a>(keys: &'a [ParticipantKey], values: &[&'a str]) -> Vec<(&'a ParticipantKey, &'a str)> {
    keys.iter().zip(values.iter().copied()).collect()
}

#[test]
fn a_quorum_that_lets_fewer_than_three_reports_decide_is_refused() {
    let s = Scenario::new(3, 3);
    let owner = s.chain.d.owner.clone();
    let rm_addr = s.chain.d.round_manager.clone();
    let base = s.chain.rm_config().expect("config").params;
    let mut app = s.chain.app;
    for (evaluators, quorum) in [(2usize, 2u32), (2, 1), (4, 2), (4, 4), (3, 1)] {
        let mut p = base.clone();
        p.evaluators = (0..evaluators)
            .map(|i| app.api().addr_make(&format!("ev-{i}")).to_string())
            .collect();
        p.evaluator_quorum = quorum;
        let err = app
            .execute_contract(
                owner.clone(),
                rm_addr.clone(),
                &ExecuteMsg::UpdateParams { params: p },
                &[],
            )
            .expect_err("refused");
        assert!(
            err.root_cause()
                .to_string()
                .contains("evaluator_quorum must be odd, at least 3"),
            "{evaluators} evaluators, quorum {quorum}: {err}"
        );
    }
}

/// With two reports the "median" was their mean: one liar moved every score halfway, made an
/// honest participant harmful and paid a free-rider. With three, one liar moves nothing and
/// is slashed.
#[test]
fn one_lying_evaluator_of_three_moves_nothing_and_is_slashed() {
    let (mut s, round, keys) = evaluating(3, 3);
    let honest = ["0.3", "0.2", "0.0"];
    s.report(0, round, "0.5", &pairs(&keys, &honest))
        .expect("honest");
    s.report(1, round, "0.5", &pairs(&keys, &["0.3", "0.2", "0.0"]))
        .expect("honest");
    // The liar makes the honest p0 harmful and pays the free-rider p2.
    s.report(2, round, "0.5", &pairs(&keys, &["-5", "0.2", "5"]))
        .expect("liar");
    s.settle(round).expect("settles");
    let [r0, r1, r2] = [0, 1, 2].map(|i| s.result_of(round, &keys[i]));
    assert_eq!(r0.verdict, Verdict::Contributor);
    assert_eq!(
        r0.score.expect("scored").value,
        "0.3".parse::<SignedDecimal>().expect("decimal")
    );
    assert_eq!(r1.verdict, Verdict::Contributor);
    assert_eq!(r2.verdict, Verdict::FreeRider);
    assert!(r2.reward.is_zero());
    assert!(r0.reward > r1.reward && !r1.reward.is_zero());
    let liar = s
        .chain
        .evaluator_result(round, &s.evaluators[2])
        .expect("result");
    assert_eq!(liar.verdict, EvaluatorVerdict::Deviant);
    assert!(liar.reward.is_zero());
    assert_eq!(liar.slash.u128(), BOND / 2);
    for e in 0..2 {
        let r = s
            .chain
            .evaluator_result(round, &s.evaluators[e])
            .expect("result");
        assert_eq!(r.verdict, EvaluatorVerdict::Consensus);
        assert_eq!(r.agreement, Decimal::one());
        assert!(!r.reward.is_zero());
    }
}

#[test]
fn no_report_is_visible_before_its_reveal_and_a_changed_reveal_is_refused() {
    let (mut s, round, keys) = evaluating(3, 2);
    s.report(0, round, "0.5", &pairs(&keys, &["0.3", "0.2"]))
        .expect("commits");
    let scores: rm::ReportScoresResponse = s
        .chain
        .app
        .wrap()
        .query_wasm_smart(
            &s.chain.d.round_manager,
            &rm::QueryMsg::ReportScores {
                round_id: round,
                evaluator: s.evaluators[0].to_string(),
                start_after: None,
                limit: None,
            },
        )
        .unwrap_or(rm::ReportScoresResponse { scores: vec![] });
    assert!(scores.scores.is_empty(), "scores shown before the reveal");
    let r = s.chain.round(round).expect("round");
    assert_eq!((r.report_commitments, r.reports), (1, 0));
    // Reveals open only after the commit deadline.
    let (_, _, report, salt) = s.pending[0].clone();
    let e0 = s.evaluators[0].clone();
    assert!(s
        .chain
        .reveal_report(&e0, round, report.clone(), &salt)
        .is_err());
    s.chain.advance(r.deadlines.report_until - s.chain.height());
    let mut changed = report.clone();
    changed.scores[0].value = "0.9".parse().expect("decimal");
    assert_rejected(&mut s, ContractError::RevealMismatch(e0.to_string()), |s| {
        s.chain.reveal_report(&e0, round, changed, &salt)
    });
    assert_rejected(&mut s, ContractError::RevealMismatch(e0.to_string()), |s| {
        s.chain.reveal_report(&e0, round, report.clone(), &[9; 32])
    });
    s.chain
        .reveal_report(&e0, round, report, &salt)
        .expect("the committed report opens");
}

/// A lazy evaluator cannot copy: a copied digest opens only with the other evaluator's
/// address, and once the other reveals, commitments are closed.
#[test]
fn a_copied_report_is_worthless_and_its_copier_a_no_show() {
    let (mut s, round, keys) = evaluating(4, 2);
    for e in 0..3 {
        s.report(e, round, "0.5", &pairs(&keys, &["0.3", "0.2"]))
            .expect("honest");
    }
    // The copier bonds and commits evaluator 0's digest, seen in the mempool.
    let copier = s.evaluators[3].clone();
    s.serve(3, round).expect("bonds");
    let (_, _, report, salt) = s.pending[0].clone();
    let digest = fairshare_protocol::report::digest(
        s.chain.d.round_manager.as_str(),
        round,
        s.evaluators[0].as_str(),
        &report,
        &salt,
    );
    let rm_addr = s.chain.d.round_manager.clone();
    s.chain
        .app
        .execute_contract(
            copier.clone(),
            rm_addr,
            &ExecuteMsg::CommitReport {
                round_id: round,
                digest: HexBinary::from(digest.to_vec()),
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
    // Nor can it commit a fresh copy: commitments are closed.
    let err = s
        .chain
        .commit_report(&copier, round, &report, &[7; 32])
        .expect_err("too late");
    assert!(err.root_cause().to_string().contains("Revealing"), "{err}");
    s.settle(round)
        .expect("settles on the three honest reports");
    let r = s.chain.evaluator_result(round, &copier).expect("result");
    assert_eq!(r.verdict, EvaluatorVerdict::NoShow);
    assert_eq!(r.slash.u128(), BOND / 4);
    assert!(r.reward.is_zero());
}

/// Score and standard error were medianed apart, so colluders could inflate the error to
/// shield a poisoner. Now a minority cannot move the consensus error.
#[test]
fn an_inflated_standard_error_does_not_shield_a_harmful_update() {
    let (mut s, round, keys) = evaluating(3, 2);
    let honest = pairs(&keys, &["0.4", "-0.2"]);
    s.report(0, round, "0.2", &honest).expect("honest");
    s.report(1, round, "0.2", &honest).expect("honest");
    let mut shield = report_of("0.2", &honest);
    shield.scores[1].value = "-0.19".parse().expect("decimal");
    shield.scores[1].std_error = Decimal::from_ratio(1_000u32, 1u32);
    s.commit_report(2, round, shield).expect("colluder");
    s.settle(round).expect("settles");
    let poisoner = s.result_of(round, &keys[1]);
    assert_eq!(poisoner.verdict, Verdict::Harmful);
    assert!(poisoner.score.expect("scored").std_error < Decimal::percent(1));
    assert_eq!(poisoner.slash.u128(), 1_000);
}

/// A table of utilities for `keys` (bit i = keys[i]) on the round's validation set, and the
/// report that follows from it exactly.
fn table_and_report(s: &Scenario, round: u64, keys: &[ParticipantKey]) -> (UtilityTable, Report) {
    let n = keys.len();
    let utilities: Vec<f64> = (0..1usize << n)
        .map(|m| {
            let w: f64 = (0..n)
                .filter(|i| m >> i & 1 == 1)
                .map(|i| (i + 1) as f64)
                .sum();
            (w / 10.0).sqrt() / 5.0
        })
        .collect();
    let table = UtilityTable {
        participants: keys.iter().map(|k| k.address().to_string()).collect(),
        validation_set_hash: s
            .chain
            .round(round)
            .expect("round")
            .spec
            .validation_set_hash,
        estimator: Estimator::Exact,
        utilities: pack_utilities(&utilities).expect("finite"),
    };
    let (num, den) = shapley(&table).expect("valid");
    let (g, gd) = grand_value(&table).expect("valid");
    let values: Vec<String> = num
        .iter()
        .map(|&x| nanos_to_decimal(x, den).to_string())
        .collect();
    let mut report = report_of(
        &nanos_to_decimal(g, gd).to_string(),
        &keys
            .iter()
            .zip(values.iter().map(String::as_str))
            .collect::<Vec<_>>(),
    );
    report.table_hash = HexBinary::from(table.hash().to_vec());
    (table, report)
}

/// Four evaluators (quorum 3): evaluator 3's φ for p0 does not follow from its own table.
fn disputable() -> (Scenario, u64, Vec<ParticipantKey>, UtilityTable, Addr) {
    let (mut s, round, keys) = evaluating(4, 3);
    let (table, honest) = table_and_report(&s, round, &keys);
    for e in 0..3 {
        s.commit_report(e, round, honest.clone()).expect("honest");
    }
    let mut lie = honest.clone();
    lie.scores[0].value += SignedDecimal::percent(10);
    s.commit_report(3, round, lie).expect("liar");
    s.reveal_all(round).expect("reveals");
    let challenger = s.chain.addr("challenger");
    s.chain.fund(challenger.as_str(), 10_000).expect("funds");
    (s, round, keys, table, challenger)
}

#[test]
fn a_dispute_with_a_consistent_table_costs_the_challenger_its_deposit() {
    let (mut s, round, keys, table, challenger) = disputable();
    let honest = s.evaluators[0].clone();
    s.chain
        .dispute(&challenger, round, &honest, table, 500)
        .expect("the dispute is heard");
    let d: rm::DisputesResponse = s
        .chain
        .app
        .wrap()
        .query_wasm_smart(
            &s.chain.d.round_manager,
            &rm::QueryMsg::Disputes { round_id: round },
        )
        .expect("disputes");
    assert!(!d.disputes[0].upheld && d.disputes[0].findings.is_empty());
    s.settle(round).expect("settles");
    let treasury_before = s
        .chain
        .stake_balance(s.chain.d.treasury.as_str())
        .expect("balance");
    s.chain
        .claim(&challenger, round)
        .expect("claims nothing back");
    assert_eq!(
        s.chain.stake_balance(challenger.as_str()).expect("balance"),
        9_500
    );
    // The deposit went to the treasury at settlement, beside the liar's slash (undisputed,
    // the liar is only an outlier by its one lie).
    assert!(treasury_before >= 500);
    let r = s.chain.evaluator_result(round, &honest).expect("result");
    assert_eq!(r.verdict, EvaluatorVerdict::Consensus);
    assert!(r.slash.is_zero());
    let _ = keys;
}

#[test]
fn a_dispute_with_an_inconsistent_table_strikes_the_report_out_and_pays_the_challenger() {
    let (mut s, round, keys, table, challenger) = disputable();
    let liar = s.evaluators[3].clone();
    let res = s
        .chain
        .dispute(&challenger, round, &liar, table.clone(), 500)
        .expect("the dispute is heard");
    assert!(res
        .events
        .iter()
        .flat_map(|e| &e.attributes)
        .any(|a| a.key == "outcome" && a.value == "upheld"));
    let r = s.chain.round(round).expect("round");
    assert_eq!(r.reports, 3, "the liar's report no longer counts");
    // A second dispute of the same report is refused: the table fixed the outcome.
    assert_rejected(
        &mut s,
        ContractError::AlreadyDisputed(liar.to_string(), round),
        |s| s.chain.dispute(&challenger, round, &liar, table, 500),
    );
    s.settle(round).expect("settles on the three others");
    let lr = s.chain.evaluator_result(round, &liar).expect("result");
    assert_eq!(lr.verdict, EvaluatorVerdict::Disputed);
    assert_eq!(lr.slash.u128(), BOND);
    assert!(lr.reward.is_zero());
    s.chain.claim(&challenger, round).expect("claims");
    // Deposit back, plus half of the liar's slashed bond.
    assert_eq!(
        s.chain.stake_balance(challenger.as_str()).expect("balance"),
        10_000 + BOND / 2
    );
    // Participants are paid on the honest consensus.
    assert_eq!(s.result_of(round, &keys[0]).verdict, Verdict::Contributor);
}

#[test]
fn a_table_that_is_not_the_committed_one_is_refused_and_changes_nothing() {
    let (mut s, round, keys, mut table, challenger) = disputable();
    let liar = s.evaluators[3].clone();
    table.utilities = pack_utilities(&vec![0.0; 1 << keys.len()]).expect("finite");
    let err = s
        .chain
        .dispute(&challenger, round, &liar, table.clone(), 500)
        .expect_err("not the committed table");
    assert!(
        err.root_cause()
            .to_string()
            .contains("does not hash to the report's table_hash"),
        "{err}"
    );
    let before = s.snapshot();
    let _ = s.chain.dispute(&challenger, round, &liar, table, 500);
    assert_eq!(s.snapshot(), before);
}

#[test]
fn honest_evaluators_are_paid_no_shows_slashed_and_a_failed_round_still_slashes_them() {
    // Settled: three honest evaluators share the evaluators' pool; a fourth bonded and
    // never reported.
    let (mut s, round, keys) = evaluating(4, 2);
    for e in 0..3 {
        s.report(e, round, "0.5", &pairs(&keys, &["0.3", "0.2"]))
            .expect("honest");
    }
    s.serve(3, round).expect("bonds");
    s.settle(round).expect("settles");
    let summary = s
        .chain
        .round(round)
        .expect("round")
        .settlement
        .expect("settled");
    assert_eq!(summary.evaluator_pool.u128(), 100_000);
    let paid: Vec<u128> = (0..3)
        .map(|e| {
            s.chain
                .evaluator_result(round, &s.evaluators[e])
                .expect("result")
                .reward
                .u128()
        })
        .collect();
    assert_eq!(paid, vec![33_333; 3]);
    let ns = s
        .chain
        .evaluator_result(round, &s.evaluators[3])
        .expect("result");
    assert_eq!(
        (ns.verdict, ns.slash.u128()),
        (EvaluatorVerdict::NoShow, BOND / 4)
    );
    // Bonds wait out the appeal window.
    let e0 = s.evaluators[0].clone();
    assert_err(
        &s.chain.claim(&e0, round).expect_err("in appeal"),
        &fairshare_escrow::ContractError::InAppeal {
            evaluator: e0.to_string(),
            round_id: round,
            until: ns.claimable_from,
        },
    );
    let before = s.chain.token_balance(e0.as_str()).expect("balance");
    s.claim_evaluators(round).expect("claims after the window");
    assert_eq!(
        s.chain.token_balance(e0.as_str()).expect("balance") - before,
        33_333
    );

    // Failed for lack of reveals: participants are refunded in full, the no-shows slashed.
    let (mut s, round, keys) = evaluating(3, 2);
    for e in 0..2 {
        s.report(e, round, "0.5", &pairs(&keys, &["0.3", "0.2"]))
            .expect("two of three");
    }
    s.serve(2, round).expect("bonds and never reports");
    s.to_settling(round).expect("reveals");
    assert_eq!(s.chain.round(round).expect("round").phase, Phase::Failed);
    let treasury = s.chain.d.treasury.clone();
    s.settle_now(round).expect("fails the round");
    assert_eq!(
        s.chain.stake_balance(treasury.as_str()).expect("balance"),
        BOND / 4
    );
    for k in &keys {
        s.claim(k, round).expect("refund");
        assert_eq!(s.chain.stake_balance(k.address()).expect("balance"), 10_000);
    }
    s.claim_evaluators(round).expect("evaluators claim");
    let t = s.chain.totals().expect("totals");
    assert_eq!((t.locked.u128(), t.claimable_stake.u128()), (0, 0));
    assert_eq!(
        s.chain
            .stake_balance(s.chain.d.escrow.as_str())
            .expect("balance"),
        0
    );
}

#[test]
fn the_owner_can_penalise_an_evaluator_only_within_the_appeal_window() {
    let (mut s, round, keys) = evaluating(3, 2);
    s.report_all(round, "0.5", &pairs(&keys, &["0.3", "0.2"]))
        .expect("reports");
    s.settle(round).expect("settles");
    let owner = s.chain.d.owner.clone();
    let escrow = s.chain.d.escrow.clone();
    let e1 = s.evaluators[1].to_string();
    let penalize = |amount: u128| fairshare_protocol::escrow::ExecuteMsg::PenalizeEvaluator {
        round_id: round,
        evaluator: e1.clone(),
        amount: Uint128::new(amount),
        reason: "re-execution of its table disagrees".into(),
    };
    let stranger = s.chain.addr("stranger");
    assert!(s
        .chain
        .app
        .execute_contract(stranger, escrow.clone(), &penalize(100), &[])
        .is_err());
    s.chain
        .app
        .execute_contract(owner.clone(), escrow.clone(), &penalize(400), &[])
        .expect("the DAO penalises");
    let r = s.chain.round(round).expect("round");
    s.chain.advance(r.params.evaluation.appeal_blocks);
    let err = s
        .chain
        .app
        .execute_contract(owner, escrow, &penalize(100), &[])
        .expect_err("the window has closed");
    assert!(
        err.root_cause().to_string().contains("appeal window"),
        "{err}"
    );
    let e1 = s.evaluators[1].clone();
    let before = s.chain.stake_balance(e1.as_str()).expect("balance");
    s.chain.claim(&e1, round).expect("claims");
    assert_eq!(
        s.chain.stake_balance(e1.as_str()).expect("balance") - before,
        BOND - 400
    );
    assert_eq!(
        s.chain
            .stake_balance(s.chain.d.treasury.as_str())
            .expect("balance"),
        400
    );
}

#[test]
fn an_evaluator_cannot_also_be_a_participant() {
    let mut s = Scenario::new(3, 3);
    let round = s.open();
    let ev = s.evaluators[0].clone();
    // An evaluator's key: derive one whose address is on the list by listing it.
    let key = s.chain.key("evaluator-key");
    let mut params = s.chain.rm_config().expect("config").params;
    params.evaluators[0] = key.address().to_string();
    let owner = s.chain.d.owner.clone();
    let rm_addr = s.chain.d.round_manager.clone();
    s.chain
        .app
        .execute_contract(owner, rm_addr, &ExecuteMsg::UpdateParams { params }, &[])
        .expect("updates");
    let next = s.open();
    s.chain.fund(key.address(), 10_000).expect("funds");
    let err = s.chain.join(&key, next, 1_000).expect_err("refused");
    assert_err(
        &err,
        &ContractError::EvaluatorCannotJoin(key.address().to_string(), next),
    );
    let _ = (round, ev);
}
