//! The DAO used as intended: stake, propose, vote, execute, close, unstake, claim, migrate.

use cosmwasm_std::{to_json_binary, CosmosMsg, Decimal, Uint128, WasmMsg};
use cw20::Cw20ExecuteMsg;
use fairshare_protocol::dao::{
    Claim, ConfigUpdate, DepositStatus, Duration, ExecuteMsg, Expiration, MigrateMsg,
    ProposalsResponse, QueryMsg, Status, Vote,
};

use super::*;

#[test]
fn full_lifecycle_executes_a_message_on_an_owned_contract() {
    let mut suite = staked_suite();
    let target = suite.deploy_target();

    let id = suite
        .propose("alice", "say hello", vec![set_value(&target, "hello")])
        .expect("alice proposes");
    assert_eq!(suite.balance("alice"), 1000 - 500 - 100);
    let p = suite.proposal(id);
    assert_eq!(p.status, Status::Open);
    assert_eq!(p.total_power, Uint128::new(1000));
    assert_eq!(p.deposit_status, DepositStatus::Held);
    assert_eq!(suite.locked().deposits, Uint128::new(100));

    suite.vote("alice", id, Vote::Yes).expect("alice votes");
    assert_eq!(
        suite.proposal(id).status,
        Status::Open,
        "500 no votes remain"
    );
    suite.vote("bob", id, Vote::Yes).expect("bob votes");
    let p = suite.proposal(id);
    assert_eq!(
        p.status,
        Status::Passed,
        "carol's 200 cannot change 800 yes"
    );
    let unlock = suite.height() + 5;
    assert_eq!(p.executable_at, Some(Expiration::AtHeight(unlock)));
    assert_eq!(
        contract_error(suite.vote("carol", id, Vote::No).unwrap_err()),
        ContractError::NotOpen {
            proposal_id: id,
            status: Status::Passed
        }
    );

    suite.advance(5);
    suite.execute("carol", id).expect("anyone executes");
    assert_eq!(suite.target_value(&target), "hello");
    let p = suite.proposal(id);
    assert_eq!(p.status, Status::Executed);
    assert_eq!(p.deposit_status, DepositStatus::Refunded);
    assert_eq!(p.execution_error, None);
    assert_eq!(suite.balance("alice"), 500, "deposit refunded");
    assert_eq!(suite.locked().deposits, Uint128::zero());
    assert_eq!(suite.balance_of(&suite.dao.clone()), 1000);
}

#[test]
fn votes_are_listed_and_powers_read_at_the_start_height() {
    let mut suite = staked_suite();
    let start = suite.height();
    let id = suite.propose("carol", "signal", vec![]).expect("proposes");
    for who in ["alice", "carol"] {
        suite.vote(who, id, Vote::Abstain).expect("votes");
    }
    suite.stake("alice", 100).expect("stakes more");
    suite.advance(1);
    assert_eq!(suite.power("alice", Some(start)), 500);
    assert_eq!(suite.power("alice", None), 600);
    assert_eq!(suite.total_power(Some(start)), 1000);
    assert_eq!(suite.total_power(None), 1100);
    let votes = suite.votes(id);
    assert_eq!(votes.len(), 2);
    assert_eq!(
        votes.iter().map(|v| v.power.u128()).sum::<u128>(),
        700,
        "alice's later stake does not count"
    );
    let p = suite.proposal(id);
    assert_eq!(p.tally.abstain, Uint128::new(700));
}

#[test]
fn revoting_changes_the_tally_and_decides_at_expiry() {
    let mut suite = Suite::with_rules(ConfigUpdate {
        allow_revoting: true,
        timelock: None,
        unbonding_period: Duration::Height(0),
        ..rules()
    })
    .expect("valid rules");
    suite.stake("alice", 600).expect("stakes");
    suite.stake("bob", 400).expect("stakes");
    suite.advance(1);
    let id = suite.propose("bob", "revote", vec![]).expect("proposes");
    suite.vote("alice", id, Vote::No).expect("votes");
    suite.vote("bob", id, Vote::Yes).expect("votes");
    suite.vote("alice", id, Vote::Yes).expect("revotes");
    let p = suite.proposal(id);
    assert_eq!(p.tally.yes, Uint128::new(1000));
    assert_eq!(p.tally.no, Uint128::zero());
    assert_eq!(p.status, Status::Open, "revoting defers the decision");
    assert_eq!(
        contract_error(suite.vote("alice", id, Vote::Yes).unwrap_err()),
        ContractError::VoteUnchanged {
            voter: suite.addr("alice"),
            proposal_id: id,
            vote: Vote::Yes
        }
    );
    suite.advance(20);
    let p = suite.proposal(id);
    assert_eq!(p.status, Status::Passed);
    assert_eq!(p.executable_at, Some(p.expires), "no timelock");
    suite.execute("mallory", id).expect("executes");
    assert_eq!(suite.proposal(id).status, Status::Executed);
}

#[test]
fn rejected_with_quorum_is_closed_with_refund() {
    let mut suite = staked_suite();
    let id = suite
        .propose("carol", "bad idea", vec![])
        .expect("proposes");
    suite.vote("alice", id, Vote::No).expect("votes");
    assert_eq!(
        suite.proposal(id).status,
        Status::Rejected,
        "500 no of 1000: yes cannot exceed half"
    );
    suite.close("bob", id).expect("anyone closes");
    let p = suite.proposal(id);
    assert_eq!(p.status, Status::Closed);
    assert_eq!(p.deposit_status, DepositStatus::Refunded);
    assert_eq!(suite.balance("carol"), 800);
}

#[test]
fn proposal_without_quorum_forfeits_its_deposit_to_the_treasury() {
    let mut suite = staked_suite();
    let id = suite.propose("carol", "ignored", vec![]).expect("proposes");
    suite.vote("carol", id, Vote::Yes).expect("votes");
    suite.advance(20);
    let p = suite.proposal(id);
    assert_eq!(p.status, Status::Rejected, "200 of 1000 is below 30%");
    suite.close("carol", id).expect("closes");
    let p = suite.proposal(id);
    assert_eq!(p.deposit_status, DepositStatus::Forfeited);
    assert_eq!(suite.balance("carol"), 700);
    let locked = suite.locked();
    assert_eq!(locked.deposits, Uint128::zero());
    assert_eq!(
        suite.balance_of(&suite.dao.clone()),
        locked.staked.u128() + 100,
        "the forfeited deposit is treasury"
    );
}

#[test]
fn the_treasury_can_be_spent_by_proposal() {
    let mut suite = staked_suite();
    let id = suite.propose("carol", "ignored", vec![]).expect("proposes");
    suite.advance(20);
    suite.close("carol", id).expect("closes, forfeiting 100");
    let pay_dave: CosmosMsg = WasmMsg::Execute {
        contract_addr: suite.token.to_string(),
        msg: to_json_binary(&Cw20ExecuteMsg::Transfer {
            recipient: suite.addr("dave").to_string(),
            amount: Uint128::new(100),
        })
        .expect("serializable"),
        funds: vec![],
    }
    .into();
    let id = suite
        .propose("alice", "grant", vec![pay_dave])
        .expect("proposes");
    suite.vote("alice", id, Vote::Yes).expect("votes");
    suite.vote("bob", id, Vote::Yes).expect("votes");
    suite.advance(5);
    suite.execute("alice", id).expect("executes");
    assert_eq!(suite.balance("dave"), 1100);
}

#[test]
fn failed_execution_records_the_error_and_can_be_retried() {
    let mut suite = staked_suite();
    let target = suite.deploy_target();
    let operator = suite.deployer.clone();
    let pause = |paused| target::ExecuteMsg::Pause { paused };
    suite
        .app
        .execute_contract(operator.clone(), target.clone(), &pause(true), &[])
        .expect("operator pauses");

    let id = suite
        .propose("bob", "set while paused", vec![set_value(&target, "v1")])
        .expect("proposes");
    suite.vote("alice", id, Vote::Yes).expect("votes");
    suite.vote("bob", id, Vote::Yes).expect("votes");
    suite.advance(5);
    suite.execute("carol", id).expect("execute itself succeeds");
    let p = suite.proposal(id);
    assert_eq!(p.status, Status::Passed, "executable again");
    let error = p.execution_error.expect("error recorded");
    assert!(error.contains("target: paused"), "{error}");
    assert_eq!(p.deposit_status, DepositStatus::Refunded, "refunded once");
    assert_eq!(suite.balance("bob"), 700);
    assert_eq!(suite.target_value(&target), "");

    suite
        .app
        .execute_contract(operator, target.clone(), &pause(false), &[])
        .expect("operator unpauses");
    suite.execute("carol", id).expect("retry");
    let p = suite.proposal(id);
    assert_eq!(p.status, Status::Executed);
    assert_eq!(p.execution_error, None);
    assert_eq!(suite.target_value(&target), "v1");
    assert_eq!(suite.balance("bob"), 700, "not refunded twice");
}

#[test]
fn messages_run_atomically() {
    let mut suite = staked_suite();
    let target = suite.deploy_target();
    let not_owned = suite.addr("nobody");
    let msgs = vec![
        set_value(&target, "half"),
        WasmMsg::Execute {
            contract_addr: not_owned.to_string(),
            msg: to_json_binary(&target::ExecuteMsg::Set { value: "x".into() })
                .expect("serializable"),
            funds: vec![],
        }
        .into(),
    ];
    let id = suite
        .propose("alice", "half broken", msgs)
        .expect("proposes");
    suite.vote("alice", id, Vote::Yes).expect("votes");
    suite.vote("bob", id, Vote::Yes).expect("votes");
    suite.advance(5);
    suite.execute("alice", id).expect("execute returns");
    assert_eq!(suite.proposal(id).status, Status::Passed);
    assert_eq!(suite.target_value(&target), "", "first message rolled back");
}

#[test]
fn the_dao_changes_its_own_config_only_by_proposal() {
    let mut suite = staked_suite();
    let new_rules = ConfigUpdate {
        quorum: Decimal::percent(60),
        deposit: Uint128::new(50),
        ..rules()
    };
    let update = ExecuteMsg::UpdateConfig {
        rules: new_rules.clone(),
    };
    assert_eq!(
        contract_error(suite.dao_exec("alice", &update).unwrap_err()),
        ContractError::NotDao
    );
    let msg = WasmMsg::Execute {
        contract_addr: suite.dao.to_string(),
        msg: to_json_binary(&update).expect("serializable"),
        funds: vec![],
    };
    let id = suite
        .propose("alice", "raise quorum", vec![msg.into()])
        .expect("proposes");
    suite.vote("alice", id, Vote::Yes).expect("votes");
    suite.vote("bob", id, Vote::Yes).expect("votes");
    suite.advance(5);
    suite.execute("alice", id).expect("executes");
    let config = suite.config();
    assert_eq!(config.quorum, Decimal::percent(60));
    assert_eq!(config.deposit, Uint128::new(50));
    let id = suite
        .propose_with_deposit("bob", 50, "cheaper now", vec![])
        .expect("new deposit applies");
    assert_eq!(suite.proposal(id).quorum, Decimal::percent(60));
}

#[test]
fn unstaking_waits_for_the_unbonding_period() {
    let mut suite = staked_suite();
    suite.unstake("alice", 200).expect("unstakes");
    let release_at = Expiration::AtHeight(suite.height() + 5);
    let stake = suite.staked("alice");
    assert_eq!(stake.staked, Uint128::new(300));
    assert_eq!(
        stake.claims,
        vec![Claim {
            amount: Uint128::new(200),
            release_at
        }]
    );
    assert_eq!(suite.locked().unbonding, Uint128::new(200));
    assert_eq!(suite.total_power(Some(suite.height() + 1)), 800);
    assert_eq!(
        contract_error(suite.claim("alice").unwrap_err()),
        ContractError::NothingToClaim
    );
    suite.advance(5);
    suite.claim("alice").expect("claims");
    assert_eq!(suite.balance("alice"), 700);
    assert!(suite.staked("alice").claims.is_empty());
    assert_eq!(suite.locked().unbonding, Uint128::zero());
}

#[test]
fn proposals_are_filtered_by_status() {
    let mut suite = staked_suite();
    let passed = suite.propose("alice", "a", vec![]).expect("proposes");
    let rejected = suite.propose("alice", "b", vec![]).expect("proposes");
    let open = suite.propose("alice", "c", vec![]).expect("proposes");
    suite.vote("alice", passed, Vote::Yes).expect("votes");
    suite.vote("bob", passed, Vote::Yes).expect("votes");
    suite.vote("alice", rejected, Vote::No).expect("votes");
    let ids = |suite: &Suite, status| {
        let res: ProposalsResponse = suite.query(&QueryMsg::Proposals {
            status: Some(status),
            start_after: None,
            limit: None,
        });
        res.proposals.iter().map(|p| p.id).collect::<Vec<_>>()
    };
    assert_eq!(ids(&suite, Status::Passed), vec![passed]);
    assert_eq!(ids(&suite, Status::Rejected), vec![rejected]);
    assert_eq!(ids(&suite, Status::Open), vec![open]);
    suite.advance(20);
    assert_eq!(ids(&suite, Status::Rejected), vec![rejected, open]);
}

#[test]
fn time_based_periods_work() {
    let mut suite = Suite::with_rules(ConfigUpdate {
        voting_period: Duration::Time(3600),
        timelock: Some(Duration::Time(600)),
        unbonding_period: Duration::Time(60),
        execution_window: Duration::Time(3600),
        ..rules()
    })
    .expect("valid rules");
    suite.stake("alice", 500).expect("stakes");
    suite.stake("bob", 500).expect("stakes");
    suite.advance(1);
    let id = suite.propose("alice", "timed", vec![]).expect("proposes");
    suite.vote("alice", id, Vote::Yes).expect("votes");
    suite.advance(720); // one hour of 5 s blocks
    let p = suite.proposal(id);
    assert_eq!(p.status, Status::Passed);
    assert!(matches!(p.executable_at, Some(Expiration::AtTime(_))));
    assert_eq!(
        contract_error(suite.execute("alice", id).unwrap_err()),
        ContractError::Timelocked {
            proposal_id: id,
            until: p.executable_at.expect("set")
        }
    );
    suite.advance(120);
    suite
        .execute("alice", id)
        .expect("executes after the timelock");
}

#[test]
fn the_dao_migrates_itself_by_proposal_and_keeps_its_state() {
    let mut suite = staked_suite();
    let new_code = suite.app.store_code(dao_contract());
    let old_id = suite.propose("carol", "old", vec![]).expect("proposes");
    let migrate = WasmMsg::Migrate {
        contract_addr: suite.dao.to_string(),
        new_code_id: new_code,
        msg: to_json_binary(&MigrateMsg {}).expect("serializable"),
    };
    let id = suite
        .propose("alice", "upgrade", vec![migrate.into()])
        .expect("proposes");
    suite.vote("alice", id, Vote::Yes).expect("votes");
    suite.vote("bob", id, Vote::Yes).expect("votes");
    suite.advance(5);
    let before = suite.observe();
    let old = suite.proposal(old_id);
    suite.execute("carol", id).expect("executes");
    let info = suite
        .app
        .wrap()
        .query_wasm_contract_info(&suite.dao)
        .expect("contract info");
    assert_eq!(info.code_id, new_code);
    assert_ne!(new_code, suite.dao_code);
    assert_eq!(info.admin, Some(suite.dao.clone()));
    let after = suite.observe();
    assert_eq!(after.stakes, before.stakes);
    assert_eq!(after.config, before.config);
    assert_eq!(suite.proposal(old.id), old);
    assert_eq!(suite.proposal(id).status, Status::Executed);
    let version = cw2::query_contract_info(&suite.app.wrap(), &suite.dao).expect("cw2 info");
    assert_eq!(version.contract, crate::contract::CONTRACT_NAME);
}
