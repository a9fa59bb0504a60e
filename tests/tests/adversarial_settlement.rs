//! Finding 3 (medium): settlement read every report of every participant in one transaction,
//! and a round that reached quorum could never fail, so a round too large (or an escrow that
//! reverts) locked every stake. Settlement now goes in bounded pages, consistent between
//! them, and a round not settled by its settle deadline fails and refunds.

mod common;

use common::{assert_err, report_of, Scenario, BOND};
use cosmwasm_std::{SignedDecimal, Uint128};
use fairshare_protocol::evaluation::{consensus, EvaluatorVerdict, Opinion};
use fairshare_protocol::rewards::{compute_payout, Entry, Score};
use fairshare_protocol::round_manager::Phase;
use fairshare_relayer::keys::ParticipantKey;

/// φ that evaluator `e` reports for participant `i`: evaluators 0 and 1 agree; evaluator 2
/// lies on every third participant.
fn value(i: usize, e: usize) -> String {
    let honest = ((i % 13) as i64 - 2) * 125; // −0.25 … 1.25 in thousandths, with zeros
    let v = if e == 2 && i.is_multiple_of(3) {
        honest + 4_000
    } else {
        honest
    };
    format!("{}", v as f64 / 1000.0)
}

fn big_round(n: usize) -> (Scenario, u64, Vec<ParticipantKey>) {
    let mut s = Scenario::with(3, 3, |o| {
        o.params.max_participants = 1_000;
        o.params.min_participants = 1;
    });
    let keys = s.participants(n, 10_000);
    let round = s.open();
    s.join_all(&keys, round, 1_000);
    s.advance_to_training(round);
    for chunk in keys.chunks(250) {
        s.commit_all(chunk, round);
    }
    s.advance_to_evaluating(round);
    for e in 0..3 {
        let values: Vec<String> = (0..n).map(|i| value(i, e)).collect();
        let pairs: Vec<(&ParticipantKey, &str)> =
            keys.iter().zip(values.iter().map(String::as_str)).collect();
        s.report(e, round, "1", &pairs).expect("reports");
    }
    s.past_dispute_deadline(round)
        .expect("reveals and waits out the dispute window");
    (s, round, keys)
}

#[test]
fn a_round_of_1000_settles_in_pages_and_matches_the_one_shot_rule() {
    let n = 1_000;
    let (mut s, round, keys) = big_round(n);
    let totals_before = s.chain.totals().expect("totals");
    let anyone = s.chain.addr("anyone");
    let mut pages = 0;
    loop {
        let res = s
            .chain
            .settle_page(&anyone, round, Some(400))
            .expect("a page settles");
        pages += 1;
        let in_progress = res
            .events
            .iter()
            .flat_map(|e| &e.attributes)
            .any(|a| a.key == "outcome" && a.value == "in_progress");
        if !in_progress {
            break;
        }
        // Between pages the round is Settling: nobody claims, nobody reports, and the
        // escrow's books are those of an unsettled round.
        let r = s.chain.round(round).expect("round");
        assert_eq!(r.phase, Phase::Settling);
        assert!(r.settle_progress.is_some());
        let err = s
            .claim(&keys[0], round)
            .expect_err("no claim mid-settlement");
        assert_err(&err, &fairshare_escrow::ContractError::RoundNotEnded(round));
        let late = report_of("1", &[(&keys[0], "9")]);
        let e0 = s.evaluators[0].clone();
        assert!(s.chain.commit_report(&e0, round, &late, &[0; 32]).is_err());
        assert!(s.chain.reveal_report(&e0, round, late, &[0; 32]).is_err());
        let t = s.chain.totals().expect("totals");
        assert_eq!(t.locked, totals_before.locked);
        assert_eq!(t.claimable_stake, totals_before.claimable_stake);
        assert!(pages < 100, "settlement must make progress");
    }
    // 1000 participants × (5 + 1 + 1) units (3 reports) at 400 a page.
    assert_eq!(pages, 18);
    let r = s.chain.round(round).expect("round");
    assert_eq!(r.phase, Phase::Settled);
    let summary = r.settlement.expect("settled");

    // The same figures as the rule applied in one pass to the consensus scores, on the
    // participants' part of the budget.
    let results = s.chain.results(round).expect("results");
    assert_eq!(results.len(), n);
    let mut by_addr: Vec<(String, Entry)> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let opinions: Vec<Opinion> = (0..3)
                .map(|e| Opinion {
                    bond: Uint128::new(BOND),
                    score: Score {
                        value: value(i, e).parse::<SignedDecimal>().expect("decimal"),
                        std_error: common::default_se(),
                    },
                })
                .collect();
            (
                k.address().to_string(),
                Entry {
                    stake: Uint128::new(1_000),
                    score: consensus(&opinions),
                },
            )
        })
        .collect();
    by_addr.sort_by(|a, b| a.0.cmp(&b.0));
    let entries: Vec<Entry> = by_addr.iter().map(|(_, e)| *e).collect();
    let mut participants_rule = r.params.rewards.clone();
    participants_rule.budget -= r.params.evaluation.budget(r.params.rewards.budget);
    let expected = compute_payout(&participants_rule, &entries, 7);
    let mut got = results.clone();
    got.sort_by(|a, b| a.participant.cmp(&b.participant));
    for ((addr, _), (res, want)) in by_addr.iter().zip(got.iter().zip(&expected.outcomes)) {
        assert_eq!(res.participant.as_str(), addr);
        assert_eq!(
            (res.verdict, res.reward, res.slash),
            (want.verdict, want.reward, want.slash)
        );
    }
    assert_eq!(summary.pool, expected.pool);
    // The round's dust is the participants' and what the evaluators' pool leaves.
    assert_eq!(
        summary.dust,
        expected.dust + summary.evaluator_pool - summary.evaluator_rewards
    );
    // The liar (evaluator 2) is deviant (so an outlier); the honest pair shares the
    // evaluators' pool.
    assert_eq!(summary.outliers, vec![s.evaluators[2].clone()]);
    assert_eq!(
        [0, 1, 2].map(|e| s.evaluator_result(round, e).verdict),
        [
            EvaluatorVerdict::Consensus,
            EvaluatorVerdict::Consensus,
            EvaluatorVerdict::Deviant
        ]
    );
    assert_eq!(summary.evaluator_rewards.u128(), 100_000);

    // Claims pay exactly what the results show.
    for (k, res) in keys
        .iter()
        .zip(keys.iter().map(|k| {
            results
                .iter()
                .find(|r| r.participant.as_str() == k.address())
                .expect("result")
        }))
        .take(20)
        .map(|(k, r)| (k, r.clone()))
    {
        let before = s.chain.token_balance(k.address()).expect("balance");
        s.claim(k, round).expect("claims");
        let after = s.chain.token_balance(k.address()).expect("balance");
        assert_eq!(after - before, res.reward.u128());
    }
}

#[test]
fn a_settlement_not_done_by_its_deadline_fails_and_refunds_everyone() {
    let (mut s, round, keys) = big_round(5);
    let anyone = s.chain.addr("anyone");
    // Scoring for all five (5 units each with 3 reports), then weighing (the pool is
    // reserved) and one payment.
    s.chain
        .settle_page(&anyone, round, Some(25))
        .expect("scoring page");
    s.chain
        .settle_page(&anyone, round, Some(6))
        .expect("weighing page");
    let reserved = s.chain.totals().expect("totals").unclaimed_rewards;
    assert!(
        !reserved.is_zero(),
        "the pool is reserved when weighing ends"
    );
    assert_eq!(s.chain.round(round).expect("round").phase, Phase::Settling);

    // Nobody finishes the settlement before its deadline.
    let r = s.chain.round(round).expect("round");
    let h = s.chain.height();
    s.chain.advance(r.deadlines.settle_until - h);
    assert_eq!(s.chain.round(round).expect("round").phase, Phase::Failed);
    s.settle(round).expect("fails the round");
    assert!(s.chain.round(round).expect("round").settlement.is_none());
    assert_eq!(
        s.chain.totals().expect("totals").unclaimed_rewards,
        Uint128::zero(),
        "the reservation is released"
    );
    for k in &keys {
        let before = s.balance(k.address());
        s.claim(k, round).expect("refund");
        assert_eq!(
            s.balance(k.address()) - before,
            1_000,
            "the whole stake comes back"
        );
    }
    // The evaluators revealed in time: neither paid nor slashed, their bonds come back.
    s.claim_evaluators(round).expect("evaluators claim");
    assert_eq!(s.escrow_balance(), 0);
    assert_eq!(s.treasury_balance(), 0);
}

#[test]
fn a_quorate_round_left_unsettled_fails_at_its_deadline() {
    let (mut s, round, _) = big_round(2);
    let r = s.chain.round(round).expect("round");
    assert_eq!(r.phase, Phase::Settling);
    let h = s.chain.height();
    s.chain.advance(r.deadlines.settle_until - 1 - h);
    assert_eq!(s.chain.round(round).expect("round").phase, Phase::Settling);
    s.chain.advance(1);
    assert_eq!(s.chain.round(round).expect("round").phase, Phase::Failed);
}

/// Anyone may call `settle` with any limit: a griefer taking the smallest pages (a limit of
/// zero or one) still moves settlement forward every call and ends with exactly the figures
/// one large call gives.
#[test]
fn the_smallest_pages_neither_stall_nor_change_the_settlement() {
    let (mut big, round_a, keys_a) = big_round(12);
    let (mut tiny, round_b, keys_b) = big_round(12);
    big.settle(round_a).expect("settles in one call");
    let anyone = tiny.chain.addr("griefer");
    let mut calls = 0;
    for limit in [Some(0), Some(1)].into_iter().cycle() {
        let res = tiny
            .chain
            .settle_page(&anyone, round_b, limit)
            .expect("a tiny page settles");
        calls += 1;
        let more = res
            .events
            .iter()
            .flat_map(|e| &e.attributes)
            .any(|a| a.key == "outcome" && a.value == "in_progress");
        if !more {
            break;
        }
        assert!(calls <= 12 * 3 + 3, "every call must make progress");
    }
    assert_eq!(
        tiny.chain.round(round_b).expect("round").phase,
        Phase::Settled
    );
    let a = big.chain.round(round_a).expect("round").settlement;
    let b = tiny.chain.round(round_b).expect("round").settlement;
    assert_eq!(
        a.map(|s| (s.pool, s.dust, s.total_slashed)),
        b.map(|s| (s.pool, s.dust, s.total_slashed))
    );
    for (ka, kb) in keys_a.iter().zip(&keys_b) {
        let (ra, rb) = (big.result_of(round_a, ka), tiny.result_of(round_b, kb));
        assert_eq!(
            (ra.verdict, ra.reward, ra.slash),
            (rb.verdict, rb.reward, rb.slash)
        );
    }
}
