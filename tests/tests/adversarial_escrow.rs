//! What an attacker would try against the escrow. Each case asserts the exact error and that
//! nothing observable changed.

mod common;

use common::{assert_rejected, Scenario};
use cosmwasm_std::{coins, to_json_binary, Addr, Binary, Uint128, WasmMsg};
use cw20::Cw20ExecuteMsg;
use cw_multi_test::Executor;
use fairshare_escrow::ContractError;
use fairshare_protocol::escrow::ExecuteMsg;
use fairshare_relayer::embedded::STAKE_DENOM;
use fairshare_relayer::keys::ParticipantKey;

/// A settled round where alice contributed and bob free-rode.
fn settled() -> (Scenario, u64, ParticipantKey, ParticipantKey) {
    let mut s = Scenario::new(3, 3);
    let alice = s.participant("alice", 1_000);
    let bob = s.participant("bob", 1_000);
    let round = s.open();
    s.join_all(&[alice.clone(), bob.clone()], round, 1_000);
    s.advance_to_training(round);
    s.commit_all(&[alice.clone(), bob.clone()], round);
    s.advance_to_evaluating(round);
    s.report_all(round, "0.5", &[(&alice, "0.5"), (&bob, "0.0")])
        .expect("reports");
    s.settle(round).expect("settles");
    (s, round, alice, bob)
}

#[test]
fn double_claim_is_rejected() {
    let (mut s, round, alice, _) = settled();
    s.claim(&alice, round).expect("first claim");
    assert_rejected(
        &mut s,
        ContractError::AlreadyClaimed(alice.address().to_string(), round),
        |s| s.claim(&alice, round),
    );
    // An evaluator's bond and pay, likewise, once the appeal window has passed.
    s.claim_evaluators(round).expect("first claims");
    let e0 = s.evaluators[0].clone();
    assert_rejected(
        &mut s,
        ContractError::AlreadyClaimed(e0.to_string(), round),
        |s| s.chain.claim(&e0, round),
    );
}

#[test]
fn claim_by_a_stranger_is_rejected() {
    let (mut s, round, _, _) = settled();
    let stranger = s.chain.addr("stranger");
    assert_rejected(
        &mut s,
        ContractError::NothingToClaim(stranger.to_string(), round),
        |s| s.chain.claim(&stranger, round),
    );
}

#[test]
fn claim_before_the_round_ends_is_rejected() {
    let mut s = Scenario::new(3, 3);
    let alice = s.participant("alice", 1_000);
    let round = s.open();
    s.chain.join(&alice, round, 1_000).expect("joins");
    assert_rejected(&mut s, ContractError::RoundNotEnded(round), |s| {
        s.claim(&alice, round)
    });
}

#[test]
fn only_the_round_manager_reports_outcomes() {
    let mut s = Scenario::new(3, 3);
    let alice = s.participant("alice", 1_000);
    let round = s.open();
    s.chain.join(&alice, round, 1_000).expect("joins");
    let mallory = s.chain.addr("mallory");
    let escrow = s.chain.d.escrow.clone();
    let settle = ExecuteMsg::SettleRound {
        round_id: round,
        rewards: Uint128::zero(),
        slashed: Uint128::new(1_000),
        dust: Uint128::zero(),
    };
    let reserve = ExecuteMsg::ReserveRewards {
        round_id: round,
        amount: Uint128::new(1_000_000),
    };
    for msg in [settle, reserve] {
        assert_rejected(&mut s, ContractError::NotRoundManager, |s| {
            s.chain
                .app
                .execute_contract(mallory.clone(), escrow.clone(), &msg, &[])
        });
    }
    assert_rejected(&mut s, ContractError::NotRoundManager, |s| {
        s.chain.app.execute_contract(
            mallory.clone(),
            escrow.clone(),
            &ExecuteMsg::RefundRound {
                round_id: round,
                slashed: Uint128::zero(),
            },
            &[],
        )
    });
}

#[test]
fn config_change_by_a_non_owner_is_rejected() {
    let mut s = Scenario::new(3, 3);
    let mallory = s.chain.addr("mallory");
    let escrow = s.chain.d.escrow.clone();
    assert_rejected(&mut s, ContractError::NotOwner, |s| {
        s.chain.app.execute_contract(
            mallory.clone(),
            escrow.clone(),
            &ExecuteMsg::UpdateConfig {
                owner: None,
                round_manager: Some(mallory.to_string()),
                treasury: Some(mallory.to_string()),
                min_stake: Some(Uint128::zero()),
            },
            &[],
        )
    });
}

#[test]
fn stake_below_the_minimum_or_in_the_wrong_coin_is_rejected() {
    let mut s = Scenario::new(3, 3);
    let round = s.open();
    let alice = s.participant("alice", 1_000);
    assert_rejected(
        &mut s,
        ContractError::StakeTooLow {
            got: Uint128::new(99),
            min: Uint128::new(100),
        },
        |s| s.chain.join(&alice, round, 99),
    );
    s.chain
        .app
        .sudo(cw_multi_test::SudoMsg::Bank(
            cw_multi_test::BankSudo::Mint {
                to_address: alice.address().to_string(),
                amount: coins(1_000, "uother"),
            },
        ))
        .expect("mints");
    let escrow = s.chain.d.escrow.clone();
    let join = ExecuteMsg::Join {
        round_id: round,
        pubkey: alice.pubkey(),
    };
    assert_rejected(
        &mut s,
        ContractError::Payment(cw_utils::PaymentError::MissingDenom(STAKE_DENOM.into())),
        |s| {
            s.chain.app.execute_contract(
                Addr::unchecked(alice.address()),
                escrow.clone(),
                &join,
                &coins(1_000, "uother"),
            )
        },
    );
    assert_rejected(
        &mut s,
        ContractError::Payment(cw_utils::PaymentError::NoFunds {}),
        |s| {
            s.chain.app.execute_contract(
                Addr::unchecked(alice.address()),
                escrow.clone(),
                &join,
                &[],
            )
        },
    );
}

#[test]
fn a_cw20_that_is_not_the_stake_token_is_rejected() {
    let mut s = Scenario::new(3, 3); // native stakes
    let round = s.open();
    let alice = s.participant("alice", 0);
    let faucet = s.chain.faucet.clone();
    let token = s.chain.d.token.clone();
    s.chain
        .app
        .execute_contract(
            faucet,
            token.clone(),
            &Cw20ExecuteMsg::Transfer {
                recipient: alice.address().to_string(),
                amount: Uint128::new(1_000),
            },
            &[],
        )
        .expect("transfer");
    let hook = to_json_binary(&fairshare_protocol::escrow::ReceiveMsg::Join {
        round_id: round,
        pubkey: alice.pubkey(),
    })
    .expect("serialises");
    let escrow = s.chain.d.escrow.to_string();
    assert_rejected(
        &mut s,
        ContractError::WrongAsset {
            expected: format!("native {STAKE_DENOM}"),
            got: format!("CW20 {token}"),
        },
        |s| {
            s.chain.app.execute_contract(
                Addr::unchecked(alice.address()),
                token.clone(),
                &Cw20ExecuteMsg::Send {
                    contract: escrow.clone(),
                    amount: Uint128::new(1_000),
                    msg: hook.clone(),
                },
                &[],
            )
        },
    );
}

#[test]
fn malformed_hook_and_json_are_rejected() {
    let mut s = Scenario::cw20(3, 3);
    let alice = s.participant("alice", 1_000);
    s.open();
    let token = s.chain.d.token.clone();
    let escrow = s.chain.d.escrow.to_string();
    let before = s.snapshot();
    let err = s
        .chain
        .app
        .execute_contract(
            Addr::unchecked(alice.address()),
            token,
            &Cw20ExecuteMsg::Send {
                contract: escrow.clone(),
                amount: Uint128::new(1_000),
                msg: Binary::from(b"{\"join\":{}}"),
            },
            &[],
        )
        .expect_err("malformed hook");
    assert_eq!(
        err.root_cause().to_string(),
        "malformed hook message: Error parsing into type fairshare_protocol::escrow::ReceiveMsg: missing field `round_id`"
    );
    for raw in [&b"]["[..], br#"{"claim":{"round_id":-1}}"#] {
        let msg = WasmMsg::Execute {
            contract_addr: escrow.clone(),
            msg: Binary::from(raw),
            funds: vec![],
        };
        let err = s
            .chain
            .app
            .execute(Addr::unchecked(alice.address()), msg.into())
            .expect_err("malformed");
        assert!(
            format!("{err:#}").contains("Error parsing into type"),
            "{err:#}"
        );
    }
    assert_eq!(s.snapshot(), before);
}

#[test]
fn stake_near_u128_max_is_held_and_returned_exactly() {
    let mut s = Scenario::new(3, 3);
    let round = s.open();
    let whale = s.participant("whale", u128::MAX);
    s.chain
        .join(&whale, round, u128::MAX)
        .expect("joins with everything");
    assert_eq!(s.chain.totals().expect("totals").locked, Uint128::MAX);
    s.advance_to_evaluating(round);
    s.settle(round).expect("fails the round");
    s.claim(&whale, round).expect("refund");
    assert_eq!(
        s.chain.stake_balance(whale.address()).expect("balance"),
        u128::MAX
    );
}
