//! The generic operations of `fairshare_relayer::ops` (the same code the wasmd backend runs),
//! driven on the embedded chain: a DAO-owned deployment plays a round and changes a parameter
//! by proposal.

use cosmwasm_std::{coins, to_json_binary, CosmosMsg, Decimal, HexBinary, Uint128, WasmMsg};
use cw_multi_test::{App, BankSudo, SudoMsg};
use fairshare_protocol::commitment::update_hash;
use fairshare_protocol::dao::Vote;
use fairshare_protocol::round_manager::{self as rm, ParticipantScore, Phase, Report};
use fairshare_relayer::chain::{Chain, ChainExt};
use fairshare_relayer::embedded::ADDRESS_PREFIX;
use fairshare_relayer::keys::ParticipantKey;
use fairshare_relayer::ops::{self, governance, round, DeployOptions, Roles, StakeKind};

fn key(seed: &str) -> ParticipantKey {
    ParticipantKey::from_seed(seed.as_bytes(), ADDRESS_PREFIX).expect("valid prefix")
}

#[test]
fn dao_owned_deployment_plays_a_round_and_changes_the_budget() {
    let mut app = App::default();
    let deployer = key("deployer");
    let operator = key("operator");
    let evaluators = [key("eval-0"), key("eval-1"), key("eval-2")];
    let voters = [key("voter-0"), key("voter-1")];
    let participants = [key("p0"), key("p1"), key("p2")];
    let denom = "ustake";
    let opts = DeployOptions {
        params: ops::default_params(
            evaluators.iter().map(|e| e.address().to_string()).collect(),
            3,
        ),
        min_stake: Uint128::new(100),
        token_cap: None,
        stake: StakeKind::Native(denom.into()),
        initial_tokens: voters
            .iter()
            .map(|v| (v.address().to_string(), Uint128::new(10_000)))
            .collect(),
        dao: Some(ops::default_dao_rules()),
    };
    let roles = Roles {
        operator: operator.address().to_string(),
        treasury: deployer.address().to_string(),
    };
    let d = ops::deploy(&mut app, &deployer, &roles, &opts).expect("deploys");
    let dao = d.dao.clone().expect("has a DAO");
    assert_eq!(d.owner, dao, "the DAO owns every parameter");
    assert_eq!(d.treasury, dao, "the DAO is the treasury");
    for c in [&d.round_manager, &d.escrow, &d.token, &dao] {
        let info = app
            .wrap()
            .query_wasm_contract_info(c.as_str())
            .expect("info");
        assert_eq!(
            info.admin.as_ref(),
            Some(&dao),
            "the DAO is wasm admin of {c}"
        );
    }

    // A round, through the generic operations.
    for p in participants.iter().chain(&evaluators) {
        app.sudo(SudoMsg::Bank(BankSudo::Mint {
            to_address: p.address().to_string(),
            amount: coins(1_000, denom),
        }))
        .expect("funds");
    }
    let id = round::open(&mut app, &d, &operator, ops::spec_for("governed")).expect("opens");
    for e in &evaluators {
        round::serve(&mut app, &d, &opts.stake, e, id, 1_000).expect("bonds");
    }
    for p in &participants {
        round::join(&mut app, &d, &opts.stake, p, id, 1_000).expect("joins");
    }
    app.wait_blocks(10).expect("moves");
    let chain_id = app.chain_id().expect("chain id");
    let signed = participants
        .iter()
        .map(|p| {
            p.sign_commitment(
                &chain_id,
                d.round_manager.as_str(),
                id,
                &update_hash(p.address().as_bytes()),
            )
            .expect("signs")
        })
        .collect();
    round::commit(&mut app, &d, &deployer, id, signed, 2).expect("two batches");
    app.wait_blocks(20).expect("moves");
    let report = Report {
        aggregate_hash: HexBinary::from(update_hash(b"agg").to_vec()),
        table_hash: HexBinary::from(update_hash(b"table").to_vec()),
        delta_u: "0.5".parse().expect("decimal"),
        dof: 7,
        scores: participants
            .iter()
            .zip(["0.3", "0.2", "0.0"])
            .map(|(p, v)| ParticipantScore {
                participant: p.address().to_string(),
                value: v.parse().expect("decimal"),
                std_error: Decimal::from_atomics(1u128, 5).expect("decimal"),
            })
            .collect(),
    };
    for (i, e) in evaluators.iter().enumerate() {
        round::commit_report(&mut app, &d, e, id, &report, &[i as u8; 32]).expect("commits");
    }
    let deadlines = round::status(&app, &d, id).expect("status").deadlines;
    let h = app.block_info().height;
    app.wait_blocks(deadlines.report_until - h).expect("moves");
    for (i, e) in evaluators.iter().enumerate() {
        round::reveal_report(&mut app, &d, e, id, report.clone(), &[i as u8; 32]).expect("reveals");
    }
    let h = app.block_info().height;
    app.wait_blocks(deadlines.dispute_until - h).expect("moves");
    round::settle(&mut app, &d, &deployer, id).expect("settles");
    assert_eq!(
        round::status(&app, &d, id).expect("status").phase,
        Phase::Settled
    );
    for p in &participants {
        round::claim(&mut app, &d, p, id).expect("claims");
    }
    // The free-rider's slash reached the DAO treasury.
    assert_eq!(app.balance(dao.as_str(), denom).expect("balance"), 500);
    // The evaluators take back their bonds with a third each of their 100,000 once the
    // appeal window (in which the DAO could still penalise them) has passed.
    let appeal = round::status(&app, &d, id)
        .expect("status")
        .params
        .evaluation
        .appeal_blocks;
    app.wait_blocks(appeal).expect("moves");
    for e in &evaluators {
        round::claim(&mut app, &d, e, id).expect("evaluator claims");
        assert_eq!(app.balance(e.address(), denom).expect("balance"), 1_000);
        let pay: cw20::BalanceResponse = app
            .query(
                d.token.as_str(),
                &cw20::Cw20QueryMsg::Balance {
                    address: e.address().to_string(),
                },
            )
            .expect("balance");
        assert_eq!(pay.balance.u128(), 33_333);
    }

    // The DAO raises the budget; the next round uses it.
    for v in &voters {
        governance::stake(&mut app, &d, v, 5_000).expect("stakes");
    }
    app.wait_blocks(1).expect("moves");
    let mut params: rm::ConfigResponse = app
        .query(d.round_manager.as_str(), &rm::QueryMsg::Config {})
        .expect("config");
    params.params.rewards.budget = Uint128::new(2_000_000);
    let msg: CosmosMsg = WasmMsg::Execute {
        contract_addr: d.round_manager.to_string(),
        msg: to_json_binary(&rm::ExecuteMsg::UpdateParams {
            params: params.params,
        })
        .expect("json"),
        funds: vec![],
    }
    .into();
    let proposal = governance::propose(
        &mut app,
        &d,
        &voters[0],
        1_000,
        "Double the budget",
        "More rewards.",
        vec![msg],
    )
    .expect("proposes");
    for v in &voters {
        governance::vote(&mut app, &d, v, proposal, Vote::Yes).expect("votes");
    }
    let early =
        governance::execute(&mut app, &d, &voters[1], proposal).expect_err("inside the timelock");
    assert!(early.to_string().contains("timelock"), "{early}");
    app.wait_blocks(3).expect("moves");
    governance::execute(&mut app, &d, &voters[1], proposal).expect("executes");
    let next = round::open(&mut app, &d, &operator, ops::spec_for("after")).expect("opens");
    assert_eq!(
        round::status(&app, &d, next)
            .expect("status")
            .params
            .rewards
            .budget
            .u128(),
        2_000_000
    );
    assert_eq!(
        round::status(&app, &d, id)
            .expect("status")
            .params
            .rewards
            .budget
            .u128(),
        1_000_000
    );
}
