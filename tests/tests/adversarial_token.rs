//! What an attacker would try against the incentive token as deployed: only the escrow mints,
//! and never past the cap.

mod common;

use common::Scenario;
use cosmwasm_std::Uint128;
use cw20::Cw20ExecuteMsg;
use cw_multi_test::Executor;

#[test]
fn only_the_escrow_can_mint() {
    let mut s = Scenario::new(3, 3);
    let before = s.snapshot();
    for who in [s.chain.d.owner.clone(), s.chain.addr("mallory")] {
        let err = s
            .chain
            .app
            .execute_contract(
                who.clone(),
                s.chain.d.token.clone(),
                &Cw20ExecuteMsg::Mint {
                    recipient: who.to_string(),
                    amount: Uint128::new(1),
                },
                &[],
            )
            .expect_err("not the minter");
        assert_eq!(err.root_cause().to_string(), "Unauthorized");
    }
    assert_eq!(s.snapshot(), before);
    let minter = s.chain.minter().expect("minter").expect("has one");
    assert_eq!(minter.minter, s.chain.d.escrow.to_string());
}

#[test]
fn nobody_moves_more_than_their_balance() {
    let mut s = Scenario::new(3, 3);
    let before = s.snapshot();
    let mallory = s.chain.addr("mallory");
    let err = s
        .chain
        .app
        .execute_contract(
            mallory.clone(),
            s.chain.d.token.clone(),
            &Cw20ExecuteMsg::Transfer {
                recipient: mallory.to_string(),
                amount: Uint128::new(1),
            },
            &[],
        )
        .expect_err("no balance");
    assert!(
        err.root_cause().to_string().contains("Cannot Sub"),
        "{err:#}"
    );
    let err = s
        .chain
        .app
        .execute_contract(
            mallory.clone(),
            s.chain.d.token.clone(),
            &Cw20ExecuteMsg::TransferFrom {
                owner: s.chain.faucet.to_string(),
                recipient: mallory.to_string(),
                amount: Uint128::new(1),
            },
            &[],
        )
        .expect_err("no allowance");
    assert_eq!(
        err.root_cause().to_string(),
        "No allowance for this account"
    );
    assert_eq!(s.snapshot(), before);
}
