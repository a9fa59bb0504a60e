//! Whole rounds on the embedded chain, read as stories.

mod common;

use common::{Scenario, BOND};
use fairshare_protocol::escrow::StakeStatus;
use fairshare_protocol::evaluation::EvaluatorVerdict;
use fairshare_protocol::rewards::Verdict;
use fairshare_protocol::round_manager::Phase;

#[test]
fn three_participants_settle_and_claim() {
    let mut s = Scenario::new(3, 3);
    let [alice, bob, carol] = ["alice", "bob", "carol"].map(|n| s.participant(n, 1_000));
    let round = s.open();
    assert_eq!(s.chain.round(round).expect("round").phase, Phase::Open);
    s.join_all(&[alice.clone(), bob.clone(), carol.clone()], round, 1_000);
    assert_eq!(s.escrow_balance(), 3_000);
    s.advance_to_training(round);
    assert_eq!(s.chain.round(round).expect("round").phase, Phase::Training);
    s.commit_all(&[alice.clone(), bob.clone(), carol.clone()], round);
    s.advance_to_evaluating(round);
    assert_eq!(
        s.chain.round(round).expect("round").phase,
        Phase::Evaluating
    );
    // The evaluators' share is 10% of the budget of 1,000,000; ΔU 0.25 is half the target
    // 0.5, so half of the other 900,000 is paid to the participants.
    let scores = [(&alice, "0.15"), (&bob, "0.075"), (&carol, "0.025")];
    s.report_all(round, "0.25", &scores).expect("reports");
    s.settle(round).expect("settles");
    let r = s.chain.round(round).expect("round");
    assert_eq!(r.phase, Phase::Settled);
    let summary = r.settlement.expect("settled");
    assert_eq!(summary.pool.u128(), 450_000);
    // 100,000 among three unanimous evaluators of equal bond: 33,333 each, 1 of dust.
    assert_eq!(summary.evaluator_rewards.u128(), 99_999);
    assert_eq!(summary.dust.u128(), 1);
    assert!(summary.outliers.is_empty());

    for (k, reward) in [(&alice, 270_000), (&bob, 135_000), (&carol, 45_000)] {
        let res = s.result_of(round, k);
        assert_eq!(res.verdict, Verdict::Contributor);
        assert_eq!(res.reward.u128(), reward);
        s.claim(k, round).expect("claims");
        assert_eq!(s.balance(k.address()), 1_000, "stake back");
        assert_eq!(s.chain.token_balance(k.address()).expect("balance"), reward);
        assert!(matches!(
            s.chain.stake_of(round, k.address()).expect("stake").status,
            StakeStatus::Claimed { .. }
        ));
    }
    // The evaluators' bonds and pay wait out the appeal window.
    assert_eq!(s.escrow_balance(), 3 * BOND);
    let t = s.chain.totals().expect("totals");
    assert_eq!(
        (
            t.locked.u128(),
            t.claimable_stake.u128(),
            t.unclaimed_rewards.u128()
        ),
        (0, 3 * BOND, 99_999)
    );
    // The participants' rewards and the evaluators' dust.
    assert_eq!(t.minted_total.u128(), 450_001);
    s.claim_evaluators(round).expect("evaluators claim");
    for e in s.evaluators.clone() {
        assert_eq!(s.balance(e.as_str()), 100 * BOND, "bond back");
        assert_eq!(s.chain.token_balance(e.as_str()).expect("balance"), 33_333);
    }
    let t = s.chain.totals().expect("totals");
    assert_eq!(
        t.minted_total.u128(),
        summary.pool.u128() + summary.evaluator_pool.u128(),
        "everything reserved is minted once"
    );
    assert_eq!(t.minted_total.u128(), 550_000);
    assert_eq!(s.escrow_balance(), 0);
}

#[test]
fn fifty_participants_with_free_riders_and_no_shows() {
    let mut s = Scenario::new(3, 3);
    let keys = s.participants(50, 10_000);
    let round = s.open();
    s.join_all(&keys, round, 1_000);
    // 40 commit in batches of 10; p40..p49 never commit (no-shows).
    s.advance_to_training(round);
    for chunk in keys[..40].chunks(10) {
        s.commit_all(chunk, round);
    }
    s.advance_to_evaluating(round);
    assert_eq!(s.chain.round(round).expect("round").committed, 40);
    // p0..p29 contribute 0.01 each, p30..p39 free-ride (0.0001 < τ·ΔU/n = 0.1·0.3/40).
    let values: Vec<String> = (0..40)
        .map(|i| {
            if i < 30 {
                "0.01".into()
            } else {
                "0.0001".into()
            }
        })
        .collect();
    let scores: Vec<(&_, &str)> = keys[..40]
        .iter()
        .zip(values.iter().map(String::as_str))
        .collect();
    for e in 0..3 {
        s.report(e, round, "0.3", &scores).expect("reports");
    }
    s.settle(round).expect("settles");
    let results = s.chain.results(round).expect("results");
    assert_eq!(results.len(), 50);
    let count = |v: Verdict| results.iter().filter(|r| r.verdict == v).count();
    assert_eq!(
        (
            count(Verdict::Contributor),
            count(Verdict::FreeRider),
            count(Verdict::NoShow)
        ),
        (30, 10, 10)
    );
    // G = 30 · 0.01 + 10 · 0.0001 = 0.301 of the target 0.5: 60.2% of the participants'
    // 900,000, shared by the 30 contributors in proportion to their equal values.
    let summary = s.summary(round);
    assert_eq!(summary.pool.u128(), 541_800);
    assert!(results
        .iter()
        .filter(|r| r.verdict == Verdict::Contributor)
        .all(|r| r.reward.u128() == 18_060));
    let paid: u128 = results.iter().map(|r| r.reward.u128()).sum();
    // Three unanimous evaluators of equal bond share their 100,000: 33,333 each, 1 of dust.
    assert_eq!(summary.evaluator_rewards.u128(), 99_999);
    assert_eq!(summary.dust.u128(), 1);
    assert_eq!(
        paid + summary.evaluator_rewards.u128() + summary.dust.u128(),
        summary.pool.u128() + summary.evaluator_pool.u128()
    );
    // Free-riders lose half their stake, no-shows a quarter.
    assert_eq!(summary.total_slashed.u128(), 10 * 500 + 10 * 250);
    assert_eq!(s.treasury_balance(), 7_500);
    for k in &keys {
        s.claim(k, round).expect("claims");
    }
    s.claim_evaluators(round).expect("evaluators claim");
    assert_eq!(s.escrow_balance(), 0);
    let supply = s.chain.token_info().expect("info").total_supply.u128();
    assert_eq!(
        supply,
        s.chain.token_balances_sum().expect("sum"),
        "supply = Σ balances"
    );
}

#[test]
fn round_without_quorum_fails_and_refunds_everyone() {
    let mut s = Scenario::new(3, 3);
    let keys = s.participants(3, 1_000);
    let round = s.open();
    s.join_all(&keys, round, 1_000);
    s.advance_to_training(round);
    s.commit_all(&keys, round);
    s.advance_to_evaluating(round);
    let scores: Vec<(&_, &str)> = keys.iter().map(|k| (k, "0.1")).collect();
    s.report(0, round, "0.3", &scores).expect("one report");
    s.past_dispute_deadline(round)
        .expect("reveals the one report");
    assert_eq!(s.chain.round(round).expect("round").phase, Phase::Failed);
    s.settle(round)
        .expect("failing a round is a settlement too");
    assert_eq!(s.chain.round(round).expect("round").phase, Phase::Failed);
    for k in &keys {
        s.claim(k, round).expect("refund");
        assert_eq!(s.balance(k.address()), 1_000);
        assert_eq!(s.chain.token_balance(k.address()).expect("balance"), 0);
    }
    // The one evaluator that revealed is neither paid nor slashed; its bond comes back.
    s.claim_evaluators(round).expect("claims its bond");
    assert_eq!(s.balance(s.evaluators[0].as_str()), 100 * BOND);
    assert_eq!(s.escrow_balance(), 0);
    assert_eq!(s.chain.totals().expect("totals").minted_total.u128(), 0);
}

#[test]
fn round_with_too_few_commitments_fails() {
    let mut s = Scenario::new(3, 3);
    let keys = s.participants(3, 1_000);
    let round = s.open();
    s.join_all(&keys, round, 500);
    // An evaluator bonded early; there will be nothing to evaluate.
    s.serve(0, round).expect("bonds");
    s.advance_to_training(round);
    s.commit_all(&keys[..1], round); // min_participants is 2
    s.advance_to_evaluating(round);
    assert_eq!(s.chain.round(round).expect("round").phase, Phase::Failed);
    s.settle(round).expect("fails the round");
    for k in &keys {
        s.claim(k, round).expect("refund");
        assert_eq!(
            s.balance(k.address()),
            1_000,
            "nobody is slashed in a failed round"
        );
    }
    let r = s.evaluator_result(round, 0);
    assert_eq!(
        (r.slash.u128(), r.reward.u128()),
        (0, 0),
        "nor is the evaluator a no-show"
    );
    s.claim_evaluators(round).expect("claims its bond");
    assert_eq!(s.balance(s.evaluators[0].as_str()), 100 * BOND);
    assert_eq!(s.treasury_balance(), 0);
}

#[test]
fn outlier_evaluator_is_overruled_by_the_median() {
    let mut s = Scenario::new(3, 3);
    let [a, b] = ["a", "b"].map(|n| s.participant(n, 1_000));
    let round = s.open();
    s.join_all(&[a.clone(), b.clone()], round, 1_000);
    s.advance_to_training(round);
    s.commit_all(&[a.clone(), b.clone()], round);
    s.advance_to_evaluating(round);
    s.report(0, round, "0.5", &[(&a, "0.4"), (&b, "0.1")])
        .expect("honest");
    s.report(1, round, "0.5", &[(&a, "0.41"), (&b, "0.09")])
        .expect("honest");
    // The liar claims b did everything.
    s.report(2, round, "0.5", &[(&a, "0.0"), (&b, "0.5")])
        .expect("liar");
    s.settle(round).expect("settles");
    let ra = s.result_of(round, &a);
    let rb = s.result_of(round, &b);
    assert_eq!(ra.score.expect("scored").value.to_string(), "0.4");
    assert_eq!(rb.score.expect("scored").value.to_string(), "0.1");
    // G = 0.5 reaches the target: the participants' whole 900,000 (the budget less the
    // evaluators' 10%).
    assert_eq!((ra.reward.u128(), rb.reward.u128()), (720_000, 180_000));
    assert_eq!(s.summary(round).outliers, vec![s.evaluators[2].clone()]);
    // The liar's deviation, 0.4 + 0.4, is beyond half the round's scale (Σ|φ*| = 0.5 plus
    // the noise floor Σse*/0.1 = 2 · 0.014826 / 0.1): deviant, half its bond slashed.
    let liar = s.evaluator_result(round, 2);
    assert_eq!(liar.verdict, EvaluatorVerdict::Deviant);
    assert_eq!((liar.reward.u128(), liar.slash.u128()), (0, BOND / 2));
    // Evaluator 1 is off by 0.02 of the scale 0.79652: agreement 1 − 0.02 / 0.079652, so
    // its weight is 748 to evaluator 0's 1,000 in the evaluators' 100,000.
    let paid = [0, 1].map(|e| s.evaluator_result(round, e).reward.u128());
    assert_eq!(paid, [57_208, 42_791]);
}

#[test]
fn harmful_update_loses_its_whole_stake() {
    let mut s = Scenario::new(3, 3);
    let [good, bad] = ["good", "bad"].map(|n| s.participant(n, 1_000));
    let round = s.open();
    s.join_all(&[good.clone(), bad.clone()], round, 1_000);
    s.advance_to_training(round);
    s.commit_all(&[good.clone(), bad.clone()], round);
    s.advance_to_evaluating(round);
    s.report_all(round, "0.2", &[(&good, "0.3"), (&bad, "-0.1")])
        .expect("reports");
    s.settle(round).expect("settles");
    assert_eq!(s.result_of(round, &bad).verdict, Verdict::Harmful);
    s.claim(&bad, round).expect("claims what is left (nothing)");
    assert_eq!(s.balance(bad.address()), 0);
    assert_eq!(s.treasury_balance(), 1_000);
}

#[test]
fn cw20_stakes_round_trip_through_the_receive_hook() {
    let mut s = Scenario::cw20(3, 3);
    let keys = s.participants(2, 5_000);
    let round = s.open();
    s.join_all(&keys, round, 5_000);
    assert_eq!(
        s.chain
            .token_balance(s.chain.d.escrow.as_str())
            .expect("balance"),
        10_000
    );
    s.advance_to_training(round);
    s.commit_all(&keys, round);
    s.advance_to_evaluating(round);
    s.report_all(round, "0.5", &[(&keys[0], "0.25"), (&keys[1], "0.25")])
        .expect("reports");
    s.settle(round).expect("settles");
    for k in &keys {
        s.claim(k, round).expect("claims");
        assert_eq!(
            s.chain.token_balance(k.address()).expect("balance"),
            5_000 + 450_000
        );
    }
    s.claim_evaluators(round).expect("evaluators claim");
    assert_eq!(
        s.chain
            .token_balance(s.chain.d.escrow.as_str())
            .expect("balance"),
        0
    );
    assert_eq!(
        s.chain.token_info().expect("info").total_supply.u128(),
        s.chain.token_balances_sum().expect("sum")
    );
}

#[test]
fn rewards_are_scaled_to_fit_the_token_cap() {
    let mut s = Scenario::with(3, 3, |o| {
        o.token_cap = Some(cosmwasm_std::Uint128::new(1_000_000_000 + 1_000)); // faucet holds 1e9
    });
    let keys = s.participants(2, 1_000);
    let round = s.open();
    s.join_all(&keys, round, 1_000);
    s.advance_to_training(round);
    s.commit_all(&keys, round);
    s.advance_to_evaluating(round);
    s.report_all(round, "1", &[(&keys[0], "0.75"), (&keys[1], "0.25")])
        .expect("reports");
    s.settle(round).expect("settles");
    // The budget (1,000,000: 100,000 for the evaluators, 900,000 for the participants) is
    // scaled to the 1,000 the token can still mint (100 and 900), and every query shows the
    // capped figures the escrow pays (finding 6: results used to show the unscaled rewards).
    let summary = s
        .chain
        .round(round)
        .expect("round")
        .settlement
        .expect("settled");
    assert_eq!(summary.pool.u128(), 900);
    let shown: Vec<u128> = keys
        .iter()
        .map(|k| s.result_of(round, k).reward.u128())
        .collect();
    assert_eq!(shown, vec![675, 225]);
    for k in &keys {
        s.claim(k, round)
            .expect("every claim succeeds under the cap");
    }
    let minter = s.chain.minter().expect("minter").expect("has a minter");
    let supply = s.chain.token_info().expect("info").total_supply;
    assert!(supply <= minter.cap.expect("capped"));
    assert_eq!(
        s.chain.token_balance(keys[0].address()).expect("balance"),
        675
    );
    assert_eq!(
        s.chain.token_balance(keys[1].address()).expect("balance"),
        225
    );
    s.claim_evaluators(round)
        .expect("evaluators claim under the cap too");
    let supply = s.chain.token_info().expect("info").total_supply;
    assert!(supply <= minter.cap.expect("capped"));
}

#[test]
fn a_parameter_change_applies_from_the_next_round() {
    let mut s = Scenario::new(3, 3);
    let first = s.open();
    let mut cfg = s.chain.rm_config().expect("config").params;
    cfg.rewards.budget = cosmwasm_std::Uint128::new(42);
    let owner = s.chain.d.owner.clone();
    let rm = s.chain.d.round_manager.clone();
    s.chain
        .app
        .execute_contract(
            owner,
            rm,
            &fairshare_protocol::round_manager::ExecuteMsg::UpdateParams { params: cfg },
            &[],
        )
        .expect("owner updates params");
    let second = s.open();
    assert_eq!(
        s.chain
            .round(first)
            .expect("round")
            .params
            .rewards
            .budget
            .u128(),
        1_000_000
    );
    assert_eq!(
        s.chain
            .round(second)
            .expect("round")
            .params
            .rewards
            .budget
            .u128(),
        42
    );
}

use cw_multi_test::Executor;
