//! What an attacker would try against the round-manager. Each case asserts the exact error
//! and that nothing observable changed.

mod common;

use common::{assert_rejected, report_of, Scenario};
use cosmwasm_std::{Addr, HexBinary, Uint128, WasmMsg};
use cw_multi_test::Executor;
use fairshare_protocol::round_manager::{ExecuteMsg, Phase};
use fairshare_relayer::keys::ParticipantKey;
use fairshare_round_manager::ContractError;

/// A round in Training with `alice` and `bob` joined and nothing committed.
fn training_round() -> (Scenario, u64, ParticipantKey, ParticipantKey) {
    let mut s = Scenario::new(3, 3);
    let alice = s.participant("alice", 1_000);
    let bob = s.participant("bob", 1_000);
    let round = s.open();
    s.join_all(&[alice.clone(), bob.clone()], round, 1_000);
    s.advance_to_training(round);
    (s, round, alice, bob)
}

/// A round in Evaluating where alice and bob committed.
fn evaluating_round() -> (Scenario, u64, ParticipantKey, ParticipantKey) {
    let (mut s, round, alice, bob) = training_round();
    s.commit_all(&[alice.clone(), bob.clone()], round);
    s.advance_to_evaluating(round);
    (s, round, alice, bob)
}

#[test]
fn forged_signature_is_rejected() {
    let (mut s, round, alice, _) = training_round();
    let mallory = s.chain.key("mallory");
    // Mallory signs alice's commitment with her own key.
    let mut forged = s.signed(&mallory, round, "update");
    forged.participant = alice.address().to_string();
    let relayer = s.relayer.clone();
    assert_rejected(
        &mut s,
        ContractError::BadSignature {
            index: 0,
            participant: alice.address().to_string(),
        },
        |s| s.chain.commit(&relayer, round, vec![forged]),
    );
}

#[test]
fn tampered_commitment_is_rejected() {
    let (mut s, round, alice, _) = training_round();
    let mut c = s.signed(&alice, round, "update");
    c.commitment = HexBinary::from(
        fairshare_protocol::commitment::binding(
            alice.address(),
            &fairshare_protocol::commitment::update_hash(b"another"),
        )
        .to_vec(),
    );
    let relayer = s.relayer.clone();
    assert_rejected(
        &mut s,
        ContractError::BadSignature {
            index: 0,
            participant: alice.address().to_string(),
        },
        |s| s.chain.commit(&relayer, round, vec![c]),
    );
}

#[test]
fn signature_replayed_into_another_round_is_rejected() {
    let (mut s, round, alice, _) = training_round();
    let old = s.signed(&alice, round, "update");
    // A second round alice joins too; the round-1 signature must not count there.
    let round2 = s.open();
    s.chain.fund(alice.address(), 1_000).expect("funds");
    s.chain.join(&alice, round2, 1_000).expect("joins");
    let relayer = s.relayer.clone();
    assert_rejected(
        &mut s,
        ContractError::BadSignature {
            index: 0,
            participant: alice.address().to_string(),
        },
        |s| s.chain.commit(&relayer, round2, vec![old]),
    );
}

#[test]
fn signature_for_another_contract_or_chain_is_rejected() {
    let (mut s, round, alice, _) = training_round();
    let hash = fairshare_protocol::commitment::update_hash(b"update");
    let chain_id = s.chain.chain_id();
    let other_contract = s.chain.addr("other-round-manager");
    let wrong_contract = alice
        .sign_commitment(&chain_id, other_contract.as_str(), round, &hash)
        .expect("signs");
    let wrong_chain = alice
        .sign_commitment(
            "another-chain-1",
            s.chain.d.round_manager.as_str(),
            round,
            &hash,
        )
        .expect("signs");
    let relayer = s.relayer.clone();
    for c in [wrong_contract, wrong_chain] {
        assert_rejected(
            &mut s,
            ContractError::BadSignature {
                index: 0,
                participant: alice.address().to_string(),
            },
            |s| s.chain.commit(&relayer, round, vec![c]),
        );
    }
}

/// Finding 1 (high): a commitment seen in the mempool could be squatted by a second identity,
/// which made the honest participant's batch revert and left it a no-show. The committed value
/// is now the participant's binding to its update, and nobody owns a value by committing first.
#[test]
fn a_squatted_commitment_neither_blocks_nor_profits() {
    let mut s = Scenario::new(3, 3);
    let alice = s.participant("alice", 1_000);
    let bob = s.participant("bob", 1_000);
    // The squatter joined in time with a cheap second identity.
    let squatter = s.participant("squatter", 1_000);
    let round = s.open();
    s.join_all(&[alice.clone(), bob, squatter.clone()], round, 1_000);
    s.advance_to_training(round);
    let honest = s.signed(&alice, round, "alice's adapter");
    // The squatter copies alice's committed value out of the pending batch and signs it as
    // its own, landing first.
    let chain_id = s.chain.chain_id();
    let contract = s.chain.d.round_manager.to_string();
    let digest = fairshare_protocol::commitment::CommitmentContext {
        chain_id: &chain_id,
        contract: &contract,
        round_id: round,
        participant: squatter.address(),
    }
    .digest(&honest.commitment.to_array().expect("32 bytes"));
    let copied = fairshare_protocol::round_manager::SignedCommitment {
        participant: squatter.address().to_string(),
        commitment: honest.commitment.clone(),
        signature: squatter.sign_digest(&digest).expect("signs"),
    };
    let relayer = s.relayer.clone();
    s.chain
        .commit(&relayer, round, vec![copied])
        .expect("anyone may commit any value of their own");
    // The honest batch still lands: nothing is owned by committing it first.
    s.chain
        .commit(&relayer, round, vec![honest.clone()])
        .expect("alice's commitment is not blocked");
    let p = s
        .chain
        .participant(round, alice.address())
        .expect("alice is a participant");
    assert_eq!(p.commitment, Some(honest.commitment.clone()));
    // What the squatter committed opens to no bundle of its own: a bundle holding alice's
    // adapter binds to alice, never to the squatter.
    let adapter = fairshare_protocol::commitment::update_hash(b"alice's adapter");
    assert_ne!(
        fairshare_protocol::commitment::binding(squatter.address(), &adapter).to_vec(),
        honest.commitment.to_vec()
    );
}

/// Copied *content* is a valuation matter: two participants may commit the same update
/// bytes (each bound to itself), and the chain accepts both.
#[test]
fn identical_content_is_committed_by_each_for_valuation() {
    let (mut s, round, alice, bob) = training_round();
    let a = s.signed(&alice, round, "the same bytes");
    let b = s.signed(&bob, round, "the same bytes");
    assert_ne!(
        a.commitment, b.commitment,
        "each binding names its participant"
    );
    let relayer = s.relayer.clone();
    s.chain
        .commit(&relayer, round, vec![a, b])
        .expect("both commit");
    assert_eq!(s.chain.round(round).expect("round").committed, 2);
}

/// Finding 2 (medium): re-posting a commitment already stored used to fail the whole batch.
#[test]
fn a_commitment_already_on_chain_is_skipped_not_fatal() {
    let (mut s, round, alice, bob) = training_round();
    let a = s.signed(&alice, round, "a");
    let relayer = s.relayer.clone();
    s.chain
        .commit(&relayer, round, vec![a.clone()])
        .expect("first commit");
    let b = s.signed(&bob, round, "b");
    let res = s
        .chain
        .commit(&relayer, round, vec![a, b])
        .expect("the batch lands despite the repeat");
    let attr = |k: &str| {
        res.events
            .iter()
            .flat_map(|e| e.attributes.iter())
            .find(|a| a.key == k)
            .map(|a| a.value.clone())
            .expect("attribute present")
    };
    assert_eq!(attr("skipped"), alice.address());
    assert_eq!(attr("stored"), "1");
    assert_eq!(s.chain.round(round).expect("round").committed, 2);
}

#[test]
fn high_s_signature_is_rejected() {
    let (mut s, round, alice, _) = training_round();
    let mut c = s.signed(&alice, round, "a");
    // n − s: the same signature in its high-S form, which secp256k1_verify would accept.
    let n: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36,
        0x41, 0x41,
    ];
    let mut sig = c.signature.to_vec();
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = n[i] as i16 - sig[32 + i] as i16 - borrow;
        borrow = i16::from(d < 0);
        sig[32 + i] = d.rem_euclid(256) as u8;
    }
    c.signature = HexBinary::from(sig);
    let relayer = s.relayer.clone();
    assert_rejected(
        &mut s,
        ContractError::HighS {
            index: 0,
            participant: alice.address().to_string(),
        },
        |s| s.chain.commit(&relayer, round, vec![c]),
    );
}

#[test]
fn batch_is_all_or_nothing_and_names_the_bad_index() {
    let (mut s, round, alice, bob) = training_round();
    let good = s.signed(&alice, round, "a");
    let mut bad = s.signed(&bob, round, "b");
    bad.signature = HexBinary::from(vec![7u8; 64]);
    let relayer = s.relayer.clone();
    assert_rejected(
        &mut s,
        ContractError::BadSignature {
            index: 1,
            participant: bob.address().to_string(),
        },
        |s| s.chain.commit(&relayer, round, vec![good, bad]),
    );
    assert_eq!(s.chain.round(round).expect("round").committed, 0);
}

#[test]
fn double_commit_is_skipped_and_stranger_commit_is_rejected() {
    let (mut s, round, alice, _) = training_round();
    let relayer = s.relayer.clone();
    let first = s.signed(&alice, round, "a");
    s.chain
        .commit(&relayer, round, vec![first.clone()])
        .expect("commits");
    // A second, different commitment does not replace the first: commitments are final.
    let again = s.signed(&alice, round, "a2");
    s.chain
        .commit(&relayer, round, vec![again])
        .expect("skipped, not fatal");
    let p = s.chain.participant(round, alice.address()).expect("alice");
    assert_eq!(p.commitment, Some(first.commitment));
    let stranger = s.chain.key("stranger");
    let c = s.signed(&stranger, round, "x");
    assert_rejected(
        &mut s,
        ContractError::NotParticipant {
            index: 0,
            participant: stranger.address().to_string(),
            round_id: round,
        },
        |s| s.chain.commit(&relayer, round, vec![c]),
    );
}

#[test]
fn commit_after_the_deadline_is_rejected() {
    let (mut s, round, alice, _) = training_round();
    let c = s.signed(&alice, round, "late");
    s.advance_to_evaluating(round);
    let relayer = s.relayer.clone();
    // Nobody committed, so the round can no longer reach its minimum: it is Failed.
    assert_rejected(
        &mut s,
        ContractError::WrongPhase {
            round_id: round,
            phase: Phase::Failed,
            expected: "Open or Training",
        },
        |s| s.chain.commit(&relayer, round, vec![c]),
    );
}

#[test]
fn malformed_lengths_are_rejected() {
    let (mut s, round, alice, _) = training_round();
    let mut c = s.signed(&alice, round, "a");
    c.commitment = HexBinary::from(vec![1u8; 31]);
    let relayer = s.relayer.clone();
    assert_rejected(
        &mut s,
        ContractError::BadLength {
            field: "commitment",
            expected: 32,
            got: 31,
        },
        |s| s.chain.commit(&relayer, round, vec![c]),
    );
}

/// A stranger can neither bond as an evaluator nor report without a bond (evaluators' own
/// bonding rules are in `accountable_valuation`).
#[test]
fn report_by_a_non_evaluator_is_rejected() {
    let (mut s, round, alice, bob) = evaluating_round();
    let mallory = s.chain.addr("mallory");
    let report = report_of("0.5", &[(&alice, "0.1"), (&bob, "0.4")]);
    assert_rejected(
        &mut s,
        ContractError::NotBonded(mallory.to_string(), round),
        |s| s.chain.commit_report(&mallory, round, &report, &[0; 32]),
    );
    s.chain.fund(mallory.as_str(), 10_000).expect("funds");
    assert_rejected(
        &mut s,
        ContractError::NotEvaluator(mallory.to_string(), round),
        |s| s.chain.serve(&mallory, round, 1_000),
    );
}

#[test]
fn double_report_commitment_or_reveal_is_rejected() {
    let (mut s, round, alice, bob) = evaluating_round();
    s.report(0, round, "0.5", &[(&alice, "0.1"), (&bob, "0.4")])
        .expect("first report");
    let e = s.evaluators[0].to_string();
    assert_rejected(
        &mut s,
        ContractError::AlreadyCommitted(e.clone(), round),
        |s| s.report(0, round, "0.5", &[(&alice, "0.4"), (&bob, "0.1")]),
    );
    let (_, _, report, salt) = s.pending[0].clone();
    s.reveal_all(round).expect("reveals");
    let e0 = s.evaluators[0].clone();
    assert_rejected(&mut s, ContractError::AlreadyReported(e, round), |s| {
        s.chain.reveal_report(&e0, round, report, &salt)
    });
}

#[test]
fn incomplete_or_padded_reports_are_rejected_at_reveal() {
    let (mut s, round, alice, bob) = evaluating_round();
    let cases = [
        (
            report_of("0.5", &[(&alice, "0.5")]),
            ContractError::ReportIncomplete {
                round_id: round,
                expected: 2,
                got: 1,
            },
        ),
        (
            report_of("0.5", &[(&alice, "0.5"), (&alice, "0.5")]),
            ContractError::ReportDuplicate(alice.address().to_string()),
        ),
        (
            report_of("0.5", &[(&alice, "0.5"), (&s.chain.key("ghost"), "0.5")]),
            ContractError::ReportUnknownParticipant(
                s.chain.key("ghost").address().to_string(),
                round,
            ),
        ),
    ];
    for (i, (report, _)) in cases.iter().enumerate() {
        s.commit_report(i, round, report.clone()).expect("commits");
    }
    s.past_report_deadline(round);
    for (i, (report, err)) in cases.into_iter().enumerate() {
        let e = s.evaluators[i].clone();
        let salt = s.pending[i].3;
        assert_rejected(&mut s, err, |s| {
            s.chain.reveal_report(&e, round, report, &salt)
        });
    }
    let _ = bob;
}

#[test]
fn report_before_evaluation_is_rejected() {
    let (mut s, round, alice, bob) = training_round();
    s.serve(0, round).expect("an evaluator may bond early");
    assert_rejected(
        &mut s,
        ContractError::WrongPhase {
            round_id: round,
            phase: Phase::Training,
            expected: "Evaluating",
        },
        |s| s.report(0, round, "0.5", &[(&alice, "0.1"), (&bob, "0.4")]),
    );
}

#[test]
fn settlement_before_the_dispute_deadline_is_rejected() {
    let (mut s, round, alice, bob) = evaluating_round();
    s.report_all(round, "0.5", &[(&alice, "0.1"), (&bob, "0.4")])
        .expect("reports");
    s.reveal_all(round).expect("reveals");
    assert_rejected(
        &mut s,
        ContractError::WrongPhase {
            round_id: round,
            phase: Phase::Revealing,
            expected: "Settling (after the dispute deadline)",
        },
        |s| s.settle_now(round),
    );
}

#[test]
fn a_round_short_of_quorum_at_the_reveal_deadline_fails() {
    let (mut s, round, alice, bob) = evaluating_round();
    for e in 0..2 {
        s.report(e, round, "0.5", &[(&alice, "0.1"), (&bob, "0.4")])
            .expect("two of three");
    }
    s.past_dispute_deadline(round).expect("reveals");
    assert_eq!(s.chain.round(round).expect("round").phase, Phase::Failed);
}

#[test]
fn double_settlement_is_rejected() {
    let (mut s, round, alice, bob) = evaluating_round();
    s.report_all(round, "0.5", &[(&alice, "0.1"), (&bob, "0.4")])
        .expect("reports");
    s.settle(round).expect("settles");
    assert_rejected(
        &mut s,
        ContractError::AlreadyFinal(round, Phase::Settled),
        |s| s.settle(round),
    );
}

#[test]
fn parameter_and_config_changes_by_a_non_owner_are_rejected() {
    let mut s = Scenario::new(3, 3);
    let mallory = s.chain.addr("mallory");
    let params = s.chain.rm_config().expect("config").params;
    let rm = s.chain.d.round_manager.clone();
    assert_rejected(&mut s, ContractError::NotOwner, |s| {
        s.chain.app.execute_contract(
            mallory.clone(),
            rm.clone(),
            &ExecuteMsg::UpdateParams { params },
            &[],
        )
    });
    assert_rejected(&mut s, ContractError::NotOwner, |s| {
        s.chain.app.execute_contract(
            mallory.clone(),
            rm.clone(),
            &ExecuteMsg::UpdateConfig {
                owner: Some(mallory.to_string()),
                operator: None,
                escrow: None,
            },
            &[],
        )
    });
    let spec = s.chain.round_spec_for_tests();
    assert_rejected(&mut s, ContractError::NotOperator, |s| {
        s.chain.app.execute_contract(
            mallory.clone(),
            rm.clone(),
            &ExecuteMsg::OpenRound { spec },
            &[],
        )
    });
}

#[test]
fn only_the_escrow_registers_participants() {
    let mut s = Scenario::new(3, 3);
    let round = s.open();
    let mallory = s.chain.key("mallory");
    let rm = s.chain.d.round_manager.clone();
    assert_rejected(&mut s, ContractError::NotEscrow, |s| {
        s.chain.app.execute_contract(
            Addr::unchecked(mallory.address()),
            rm.clone(),
            &ExecuteMsg::RegisterParticipant {
                round_id: round,
                participant: mallory.address().to_string(),
                pubkey: mallory.pubkey(),
                stake: Uint128::new(1_000_000),
            },
            &[],
        )
    });
}

#[test]
fn a_key_that_does_not_derive_the_sender_is_rejected() {
    let mut s = Scenario::new(3, 3);
    let round = s.open();
    let alice = s.participant("alice", 1_000);
    let other = s.chain.key("other");
    let escrow = s.chain.d.escrow.clone();
    assert_rejected(
        &mut s,
        ContractError::PubkeyMismatch(alice.address().to_string()),
        |s| {
            s.chain.app.execute_contract(
                Addr::unchecked(alice.address()),
                escrow.clone(),
                &fairshare_protocol::escrow::ExecuteMsg::Join {
                    round_id: round,
                    pubkey: other.pubkey(),
                },
                &cosmwasm_std::coins(1_000, fairshare_relayer::embedded::STAKE_DENOM),
            )
        },
    );
}

#[test]
fn joining_twice_or_late_is_rejected() {
    let mut s = Scenario::new(3, 3);
    let round = s.open();
    let alice = s.participant("alice", 3_000);
    s.chain.join(&alice, round, 1_000).expect("joins");
    assert_rejected(
        &mut s,
        fairshare_escrow::ContractError::AlreadyStaked(alice.address().to_string(), round),
        |s| s.chain.join(&alice, round, 1_000),
    );
    let bob = s.participant("bob", 1_000);
    s.advance_to_training(round);
    assert_rejected(
        &mut s,
        ContractError::WrongPhase {
            round_id: round,
            phase: Phase::Training,
            expected: "Open",
        },
        |s| s.chain.join(&bob, round, 1_000),
    );
}

#[test]
fn amounts_near_u128_max_settle_without_overflow() {
    let mut s = Scenario::with(3, 3, |o| {
        o.params.rewards.budget = Uint128::MAX;
        o.token_cap = None;
        o.faucet_tokens = Uint128::zero();
    });
    // Stakes as large as the bank allows beside the evaluators' bonds.
    let stake = u128::MAX / 2 - 1_000_000;
    let [a, b] = ["a", "b"].map(|n| s.participant(n, stake));
    let round = s.open();
    s.join_all(&[a.clone(), b.clone()], round, stake);
    s.advance_to_training(round);
    s.commit_all(&[a.clone(), b.clone()], round);
    s.advance_to_evaluating(round);
    s.report_all(round, "1", &[(&a, "0.5"), (&b, "0.5")])
        .expect("reports");
    s.settle(round).expect("settles");
    let summary = s
        .chain
        .round(round)
        .expect("round")
        .settlement
        .expect("settled");
    // The evaluators' 10% first, the participants' pool on the rest (all of it: G ≥ target).
    let evaluators = Uint128::MAX.mul_floor(cosmwasm_std::Decimal::percent(10));
    assert_eq!(summary.pool, Uint128::MAX - evaluators);
    s.claim(&a, round).expect("claims");
    s.claim(&b, round).expect("claims");
    let r = s.chain.round(round).expect("round");
    s.chain.advance(r.params.evaluation.appeal_blocks);
    for e in s.evaluators.clone() {
        s.chain.claim(&e, round).expect("evaluator claims");
    }
    let supply = s.chain.token_info().expect("info").total_supply;
    // Everything reserved is minted exactly once: rewards to the claimants, dust to the
    // treasury.
    assert_eq!(supply, Uint128::MAX);
    assert_eq!(
        s.chain
            .token_balance(s.chain.d.treasury.as_str())
            .expect("balance"),
        summary.dust.u128()
    );
}

#[test]
fn malformed_json_is_rejected_without_change() {
    let mut s = Scenario::new(3, 3);
    let before = s.snapshot();
    let mallory = s.chain.addr("mallory");
    for raw in [
        &b"{not json"[..],
        br#"{"settle":{"round_id":"one"}}"#,
        br#"{"launch_missiles":{}}"#,
    ] {
        let msg = WasmMsg::Execute {
            contract_addr: s.chain.d.round_manager.to_string(),
            msg: cosmwasm_std::Binary::from(raw),
            funds: vec![],
        };
        let err = s
            .chain
            .app
            .execute(mallory.clone(), msg.into())
            .expect_err("malformed");
        let text = format!("{err:#}");
        assert!(
            text.contains("Error parsing into type"),
            "names the parse failure: {text}"
        );
    }
    assert_eq!(s.snapshot(), before);
}

#[test]
fn invalid_params_are_refused_with_a_reason() {
    let mut s = Scenario::new(3, 3);
    let owner = s.chain.d.owner.clone();
    let rm = s.chain.d.round_manager.clone();
    let base = s.chain.rm_config().expect("config").params;
    type Tweak = Box<dyn Fn(&mut fairshare_protocol::round_manager::RoundParams)>;
    let cases: Vec<(Tweak, &str)> = vec![
        (
            Box::new(|p| p.evaluator_quorum = 5),
            "at most the number of evaluators (3); got 5",
        ),
        (
            Box::new(|p| p.evaluator_quorum = 2),
            "evaluator_quorum must be odd, at least 3",
        ),
        (
            Box::new(|p| p.evaluator_quorum = 1),
            "evaluator_quorum must be odd, at least 3",
        ),
        (
            Box::new(|p| p.evaluation.outlier_fraction = cosmwasm_std::Decimal::zero()),
            "outlier_fraction must be greater than zero",
        ),
        (
            Box::new(|p| p.schedule.reveal_blocks = 0),
            "every schedule window must last at least one block",
        ),
        (
            Box::new(|p| p.min_participants = 0),
            "min_participants must be at least 1",
        ),
        (
            Box::new(|p| p.schedule.eval_blocks = 0),
            "every schedule window must last at least one block",
        ),
        (
            Box::new(|p| p.evaluators.push(p.evaluators[0].clone())),
            "is listed twice",
        ),
    ];
    for (tweak, reason) in cases {
        let mut p = base.clone();
        tweak(&mut p);
        let before = s.snapshot();
        let err = s
            .chain
            .app
            .execute_contract(
                owner.clone(),
                rm.clone(),
                &ExecuteMsg::UpdateParams { params: p },
                &[],
            )
            .expect_err("invalid");
        let e = err.root_cause().to_string();
        assert!(
            e.starts_with("invalid parameters: ") && e.contains(reason),
            "{e}"
        );
        assert_eq!(s.snapshot(), before);
    }
    let mut p = base;
    p.rewards.slash_harmful = cosmwasm_std::Decimal::percent(150);
    let err = s
        .chain
        .app
        .execute_contract(owner, rm, &ExecuteMsg::UpdateParams { params: p }, &[])
        .expect_err("invalid");
    assert_eq!(
        err.root_cause().to_string(),
        "slash_harmful must be at most 1 (a fraction of the stake), got 1.5"
    );
}
