//! What an attacker (or a careless user) would try. Each case checks the exact error and that
//! nothing observable changed.

use std::fmt::Debug;

use cosmwasm_std::{to_json_binary, Binary, CosmosMsg, Decimal, StdError, Uint128, WasmMsg};
use cw20::{Cw20ExecuteMsg, Cw20ReceiveMsg};
use fairshare_protocol::dao::{ConfigUpdate, DepositStatus, Duration, ExecuteMsg, Status, Vote};

use super::*;

/// Runs `attempt`, which must fail with `expected`, and checks that no state changed.
fn fails_cleanly<T: Debug>(
    suite: &mut Suite,
    expected: ContractError,
    attempt: impl FnOnce(&mut Suite) -> AnyResult<T>,
) {
    let before = suite.observe();
    let err = attempt(suite).expect_err("the attempt must fail");
    assert_eq!(contract_error(err), expected);
    assert_eq!(suite.observe(), before, "a failed message changed state");
}

/// A proposal by alice that alice and bob (800 of 1000) pass at once.
fn passed_proposal(suite: &mut Suite, msgs: Vec<CosmosMsg>) -> u64 {
    let id = suite.propose("alice", "passed", msgs).expect("proposes");
    suite.vote("alice", id, Vote::Yes).expect("votes");
    suite.vote("bob", id, Vote::Yes).expect("votes");
    assert_eq!(suite.proposal(id).status, Status::Passed);
    id
}

fn self_call(suite: &Suite, msg: &ExecuteMsg) -> CosmosMsg {
    WasmMsg::Execute {
        contract_addr: suite.dao.to_string(),
        msg: to_json_binary(msg).expect("serializable"),
        funds: vec![],
    }
    .into()
}

#[test]
fn voting_twice_without_revoting() {
    let mut suite = staked_suite();
    let id = suite.propose("carol", "p", vec![]).expect("proposes");
    suite.vote("carol", id, Vote::Yes).expect("first vote");
    for vote in [Vote::No, Vote::Yes] {
        let expected = ContractError::AlreadyVoted {
            voter: suite.addr("carol"),
            proposal_id: id,
        };
        fails_cleanly(&mut suite, expected, |s| s.vote("carol", id, vote));
    }
}

#[test]
fn voting_without_stake() {
    let mut suite = staked_suite();
    let id = suite.propose("carol", "p", vec![]).expect("proposes");
    let expected = ContractError::NoVotingPower {
        voter: suite.addr("dave"),
        proposal_id: id,
        height: suite.height(),
    };
    fails_cleanly(&mut suite, expected, |s| s.vote("dave", id, Vote::Yes));
}

#[test]
fn staking_after_the_start_does_not_buy_votes() {
    let mut suite = staked_suite();
    let start = suite.height();
    // Staking in the very block a proposal opens does not count either.
    let id = suite.propose("carol", "p", vec![]).expect("proposes");
    suite
        .stake("dave", 900)
        .expect("dave stakes in the same block");
    suite.advance(1);
    suite.stake("mallory", 900).expect("mallory stakes later");
    suite.advance(1);
    for who in ["dave", "mallory"] {
        let expected = ContractError::NoVotingPower {
            voter: suite.addr(who),
            proposal_id: id,
            height: start,
        };
        fails_cleanly(&mut suite, expected, |s| s.vote(who, id, Vote::Yes));
    }
    // Alice topping up her stake does not raise her weight on this proposal.
    suite.stake("alice", 400).expect("tops up");
    suite.advance(1);
    suite.vote("alice", id, Vote::Yes).expect("votes");
    assert_eq!(suite.proposal(id).tally.yes, Uint128::new(500));
    assert_eq!(suite.proposal(id).total_power, Uint128::new(1000));
}

#[test]
fn moving_tokens_to_another_account_does_not_vote_twice() {
    let mut suite = Suite::with_rules(ConfigUpdate {
        unbonding_period: Duration::Height(0),
        ..rules()
    })
    .expect("valid rules");
    for (who, amount) in [("alice", 500), ("bob", 300), ("carol", 200)] {
        suite.stake(who, amount).expect("stakes");
    }
    suite.advance(1);
    let id = suite.propose("carol", "p", vec![]).expect("proposes");
    suite.vote("alice", id, Vote::Yes).expect("alice votes");
    // Alice takes her stake back, moves it to mallory, who stakes and tries to vote.
    suite.unstake("alice", 500).expect("unstakes");
    suite.claim("alice").expect("claims at once");
    suite.transfer("alice", "mallory", 1000).expect("transfers");
    suite
        .stake("mallory", 2000)
        .expect("mallory stakes everything");
    suite.advance(1);
    let expected = ContractError::NoVotingPower {
        voter: suite.addr("mallory"),
        proposal_id: id,
        height: suite.proposal(id).start_height,
    };
    fails_cleanly(&mut suite, expected, |s| s.vote("mallory", id, Vote::Yes));
    let p = suite.proposal(id);
    assert_eq!(p.tally.yes, Uint128::new(500), "alice's vote stands, once");
    assert_eq!(p.status, Status::Open);
}

#[test]
fn executing_before_it_passed() {
    let mut suite = staked_suite();
    let target = suite.deploy_target();
    let id = suite
        .propose("carol", "p", vec![set_value(&target, "early")])
        .expect("proposes");
    suite.vote("alice", id, Vote::Yes).expect("votes");
    let expected = ContractError::NotPassed {
        proposal_id: id,
        status: Status::Open,
    };
    fails_cleanly(&mut suite, expected, |s| s.execute("carol", id));
    assert_eq!(suite.target_value(&target), "");
}

#[test]
fn executing_twice() {
    let mut suite = staked_suite();
    let id = passed_proposal(&mut suite, vec![]);
    suite.advance(5);
    suite.execute("carol", id).expect("first execution");
    let expected = ContractError::NotPassed {
        proposal_id: id,
        status: Status::Executed,
    };
    fails_cleanly(&mut suite, expected, |s| s.execute("carol", id));
}

#[test]
fn executing_inside_the_timelock() {
    let mut suite = staked_suite();
    let id = passed_proposal(&mut suite, vec![]);
    let until = suite.proposal(id).executable_at.expect("passed");
    suite.advance(4);
    let expected = ContractError::Timelocked {
        proposal_id: id,
        until,
    };
    fails_cleanly(&mut suite, expected, |s| s.execute("carol", id));
}

#[test]
fn executing_a_proposal_that_missed_quorum() {
    let mut suite = staked_suite();
    let id = suite.propose("carol", "p", vec![]).expect("proposes");
    suite.vote("carol", id, Vote::Yes).expect("votes");
    suite.advance(20);
    let expected = ContractError::NotPassed {
        proposal_id: id,
        status: Status::Rejected,
    };
    fails_cleanly(&mut suite, expected, |s| s.execute("carol", id));
}

#[test]
fn closing_what_is_not_rejected() {
    let mut suite = staked_suite();
    let open = suite.propose("carol", "p", vec![]).expect("proposes");
    let passed = passed_proposal(&mut suite, vec![]);
    for (id, status) in [(open, Status::Open), (passed, Status::Passed)] {
        let expected = ContractError::NotClosable {
            proposal_id: id,
            status,
        };
        fails_cleanly(&mut suite, expected, |s| s.close("mallory", id));
    }
    fails_cleanly(&mut suite, ContractError::NoSuchProposal(99), |s| {
        s.close("mallory", 99)
    });
}

#[test]
fn closing_twice_pays_once() {
    let mut suite = staked_suite();
    let id = suite.propose("carol", "p", vec![]).expect("proposes");
    suite.vote("alice", id, Vote::No).expect("votes");
    suite.close("carol", id).expect("closes");
    let expected = ContractError::NotClosable {
        proposal_id: id,
        status: Status::Closed,
    };
    fails_cleanly(&mut suite, expected, |s| s.close("carol", id));
}

#[test]
fn zero_or_wrong_deposit() {
    let zero = Suite::with_rules(ConfigUpdate {
        deposit: Uint128::zero(),
        ..rules()
    });
    assert_eq!(
        contract_error(zero.err().expect("zero deposit is refused")),
        ContractError::ZeroDeposit
    );

    let mut suite = staked_suite();
    // cw20-base 2 forwards a zero `Send`; the DAO refuses it.
    for sent in [0, 99, 101] {
        let expected = ContractError::WrongDeposit {
            required: Uint128::new(100),
            sent: Uint128::new(sent),
        };
        fails_cleanly(&mut suite, expected, |s| {
            s.propose_with_deposit("carol", sent, "cheap", vec![])
        });
    }
    fails_cleanly(&mut suite, ContractError::EmptyTitle, |s| {
        s.propose("carol", "  ", vec![])
    });
}

#[test]
fn proposing_before_anyone_staked() {
    let mut suite = Suite::new();
    fails_cleanly(&mut suite, ContractError::NoTotalPower, |s| {
        s.propose("alice", "p", vec![])
    });
}

#[test]
fn invalid_quorum_or_threshold_on_instantiate() {
    for (quorum, threshold, name, value) in [
        (0, 50, "quorum", 0),
        (101, 50, "quorum", 101),
        (30, 0, "threshold", 0),
        (30, 101, "threshold", 101),
    ] {
        let result = Suite::with_rules(ConfigUpdate {
            quorum: Decimal::percent(quorum),
            threshold: Decimal::percent(threshold),
            ..rules()
        });
        assert_eq!(
            contract_error(result.err().expect("refused")),
            ContractError::InvalidShare {
                name,
                value: Decimal::percent(value)
            }
        );
    }
}

#[test]
fn invalid_durations_on_instantiate() {
    let cases = [
        (
            ConfigUpdate {
                voting_period: Duration::Height(0),
                ..rules()
            },
            ContractError::ZeroDuration {
                name: "voting_period",
            },
        ),
        (
            ConfigUpdate {
                timelock: Some(Duration::Time(60)),
                ..rules()
            },
            ContractError::UnitMismatch {
                name: "timelock",
                other: "voting_period",
            },
        ),
        (
            ConfigUpdate {
                unbonding_period: Duration::Time(u64::MAX),
                ..rules()
            },
            ContractError::DurationTooLong {
                name: "unbonding_period",
                max_blocks: crate::time::MAX_BLOCKS,
                max_seconds: crate::time::MAX_SECONDS,
            },
        ),
    ];
    for (rules, expected) in cases {
        let result = Suite::with_rules(rules);
        assert_eq!(contract_error(result.err().expect("refused")), expected);
    }
}

#[test]
fn invalid_threshold_by_proposal_fails_execution_and_keeps_the_config() {
    let mut suite = staked_suite();
    let update = ExecuteMsg::UpdateConfig {
        rules: ConfigUpdate {
            threshold: Decimal::percent(101),
            ..rules()
        },
    };
    let msg = self_call(&suite, &update);
    let id = passed_proposal(&mut suite, vec![msg]);
    suite.advance(5);
    let config = suite.config();
    suite.execute("carol", id).expect("execute returns");
    let p = suite.proposal(id);
    assert_eq!(p.status, Status::Passed);
    let error = p.execution_error.expect("recorded");
    let expected = ContractError::InvalidShare {
        name: "threshold",
        value: Decimal::percent(101),
    };
    assert!(error.contains(&expected.to_string()), "{error}");
    assert_eq!(suite.config(), config);
}

#[test]
fn updating_config_directly() {
    let mut suite = staked_suite();
    let update = ExecuteMsg::UpdateConfig {
        rules: ConfigUpdate {
            quorum: Decimal::percent(1),
            ..rules()
        },
    };
    fails_cleanly(&mut suite, ContractError::NotDao, |s| {
        s.dao_exec("mallory", &update)
    });
}

#[test]
fn running_proposal_messages_directly_or_replaying_them() {
    let mut suite = staked_suite();
    let target = suite.deploy_target();
    let first = passed_proposal(&mut suite, vec![set_value(&target, "first")]);
    suite.advance(5);
    suite.execute("alice", first).expect("executes");
    fails_cleanly(&mut suite, ContractError::InternalOnly, |s| {
        s.dao_exec("mallory", &ExecuteMsg::RunProposal { proposal_id: first })
    });
    // A later proposal cannot replay an executed one's messages through the DAO itself.
    let replay = self_call(&suite, &ExecuteMsg::RunProposal { proposal_id: first });
    let unset = set_value(&target, "second");
    let second = passed_proposal(&mut suite, vec![unset, replay]);
    suite.advance(5);
    suite.execute("alice", second).expect("execute returns");
    let p = suite.proposal(second);
    assert_eq!(p.status, Status::Passed);
    let error = p.execution_error.expect("recorded");
    assert!(
        error.contains(&ContractError::InternalOnly.to_string()),
        "{error}"
    );
    assert_eq!(suite.target_value(&target), "first");
}

#[test]
fn spending_stakers_tokens() {
    let mut suite = staked_suite();
    let take_all = WasmMsg::Execute {
        contract_addr: suite.token.to_string(),
        msg: to_json_binary(&Cw20ExecuteMsg::Transfer {
            recipient: suite.addr("mallory").to_string(),
            amount: Uint128::new(500),
        })
        .expect("serializable"),
        funds: vec![],
    };
    let id = passed_proposal(&mut suite, vec![take_all.into()]);
    suite.advance(5);
    // The deposit is refunded first, so the DAO holds exactly its 1000 staked tokens.
    let expected = ContractError::WouldSpendLocked {
        balance: Uint128::new(500),
        locked: Uint128::new(1000),
    };
    fails_cleanly(&mut suite, expected, |s| s.execute("mallory", id));
    let p = suite.proposal(id);
    assert_eq!(p.status, Status::Passed);
    assert_eq!(p.deposit_status, DepositStatus::Held);
}

#[test]
fn unstaking_more_than_staked_or_nothing() {
    let mut suite = staked_suite();
    let expected = ContractError::InsufficientStake {
        requested: Uint128::new(201),
        staked: Uint128::new(200),
    };
    fails_cleanly(&mut suite, expected, |s| s.unstake("carol", 201));
    fails_cleanly(&mut suite, ContractError::ZeroAmount, |s| {
        s.unstake("carol", 0)
    });
    fails_cleanly(&mut suite, ContractError::ZeroAmount, |s| {
        s.stake("carol", 0)
    });
    let expected = ContractError::InsufficientStake {
        requested: Uint128::new(1),
        staked: Uint128::zero(),
    };
    fails_cleanly(&mut suite, expected, |s| s.unstake("mallory", 1));
    fails_cleanly(&mut suite, ContractError::NothingToClaim, |s| {
        s.claim("mallory")
    });
}

#[test]
fn too_many_unbonding_claims() {
    let mut suite = staked_suite();
    for _ in 0..crate::state::MAX_CLAIMS {
        suite.unstake("alice", 1).expect("unstakes");
    }
    let expected = ContractError::TooManyClaims {
        max: crate::state::MAX_CLAIMS,
    };
    fails_cleanly(&mut suite, expected, |s| s.unstake("alice", 1));
}

#[test]
fn forged_receive_from_another_contract() {
    let mut suite = staked_suite();
    let forged = ExecuteMsg::Receive(Cw20ReceiveMsg {
        sender: suite.addr("mallory").to_string(),
        amount: Uint128::new(1_000_000),
        msg: to_json_binary(&fairshare_protocol::dao::ReceiveMsg::Stake {}).expect("json"),
    });
    let expected = ContractError::WrongToken {
        token: suite.token.clone(),
        sender: suite.addr("mallory"),
    };
    fails_cleanly(&mut suite, expected, |s| s.dao_exec("mallory", &forged));
}

#[test]
fn malformed_messages() {
    let mut suite = staked_suite();
    // Raw JSON that does not parse never reaches the contract's code: the entry point's
    // deserialisation refuses it.
    let before = suite.observe();
    let mallory = suite.addr("mallory");
    for raw in [&b"{bad"[..], br#"{"vote":{"proposal_id":"one"}}"#, b"{}"] {
        let err = suite
            .app
            .execute(
                mallory.clone(),
                WasmMsg::Execute {
                    contract_addr: suite.dao.to_string(),
                    msg: Binary::from(raw),
                    funds: vec![],
                }
                .into(),
            )
            .expect_err("malformed");
        let std = err.downcast::<StdError>().expect("a parse error");
        assert!(matches!(std, StdError::ParseErr { .. }), "{std:?}");
    }
    assert_eq!(suite.observe(), before);

    // A malformed hook message inside a real CW20 send reaches the DAO, which refuses it.
    let send = Cw20ExecuteMsg::Send {
        contract: suite.dao.to_string(),
        amount: Uint128::new(100),
        msg: Binary::from(b"{\"stake\":"),
    };
    let token = suite.token.clone();
    let err = suite
        .app
        .execute_contract(mallory, token, &send, &[])
        .expect_err("malformed hook");
    assert!(matches!(
        contract_error(err),
        ContractError::Std(StdError::ParseErr { .. })
    ));
    assert_eq!(suite.observe(), before);
}

#[test]
fn voting_on_a_missing_or_finished_proposal() {
    let mut suite = staked_suite();
    fails_cleanly(&mut suite, ContractError::NoSuchProposal(7), |s| {
        s.vote("alice", 7, Vote::Yes)
    });
    let id = suite.propose("carol", "p", vec![]).expect("proposes");
    suite.advance(20);
    let expected = ContractError::NotOpen {
        proposal_id: id,
        status: Status::Rejected,
    };
    fails_cleanly(&mut suite, expected, |s| s.vote("alice", id, Vote::Yes));
}

// --- Security review fixes -------------------------------------------------------------------

fn token_call(suite: &Suite, call: &Cw20ExecuteMsg) -> CosmosMsg {
    WasmMsg::Execute {
        contract_addr: suite.token.to_string(),
        msg: to_json_binary(call).expect("serializable"),
        funds: vec![],
    }
    .into()
}

/// The attack: a majority passes `IncreaseAllowance { spender: mallory }` on the staking token.
/// The DAO's balance is unchanged, so the after-execution balance check passes, and mallory
/// then `TransferFrom`s the stakers' tokens. Every CW20 call but `transfer`, `send` and `burn`
/// toward the staking token is refused when proposed, at any position in the list.
#[test]
fn proposals_cannot_grant_allowances_or_otherwise_reach_the_staking_token() {
    let mut suite = staked_suite();
    let target = suite.deploy_target();
    let mallory = suite.addr("mallory").to_string();
    let alice = suite.addr("alice").to_string();
    let amount = Uint128::new(1000);
    let calls = [
        (
            Cw20ExecuteMsg::IncreaseAllowance {
                spender: mallory.clone(),
                amount,
                expires: None,
            },
            "increase_allowance",
        ),
        (
            Cw20ExecuteMsg::DecreaseAllowance {
                spender: mallory.clone(),
                amount,
                expires: None,
            },
            "decrease_allowance",
        ),
        (
            Cw20ExecuteMsg::TransferFrom {
                owner: alice.clone(),
                recipient: mallory.clone(),
                amount,
            },
            "transfer_from",
        ),
        (
            Cw20ExecuteMsg::SendFrom {
                owner: alice.clone(),
                contract: mallory.clone(),
                amount,
                msg: Binary::default(),
            },
            "send_from",
        ),
        (
            Cw20ExecuteMsg::BurnFrom {
                owner: alice,
                amount,
            },
            "burn_from",
        ),
        (
            Cw20ExecuteMsg::Mint {
                recipient: mallory.clone(),
                amount,
            },
            "mint",
        ),
        (
            Cw20ExecuteMsg::UpdateMinter {
                new_minter: Some(mallory),
            },
            "update_minter",
        ),
        (
            Cw20ExecuteMsg::UpdateMarketing {
                project: None,
                description: None,
                marketing: None,
            },
            "update_marketing",
        ),
    ];
    for (call, name) in calls {
        let msgs = vec![set_value(&target, "cover"), token_call(&suite, &call)];
        let expected = ContractError::StakingTokenMessageNotAllowed {
            index: 1,
            kind: format!("cw20 {name}"),
            token: suite.token.clone(),
        };
        fails_cleanly(&mut suite, expected, |s| s.propose("alice", "grab", msgs));
    }

    // The token's address in upper case is the same account to the chain (bech32).
    let mut shouted = token_call(
        &suite,
        &Cw20ExecuteMsg::IncreaseAllowance {
            spender: suite.addr("mallory").to_string(),
            amount,
            expires: None,
        },
    );
    if let CosmosMsg::Wasm(WasmMsg::Execute { contract_addr, .. }) = &mut shouted {
        *contract_addr = contract_addr.to_uppercase();
    }
    let expected = ContractError::StakingTokenMessageNotAllowed {
        index: 0,
        kind: "cw20 increase_allowance".into(),
        token: suite.token.clone(),
    };
    fails_cleanly(&mut suite, expected, |s| {
        s.propose("alice", "grab", vec![shouted])
    });

    // A message the DAO cannot read as a CW20 call is refused too.
    let unreadable: CosmosMsg = WasmMsg::Execute {
        contract_addr: suite.token.to_string(),
        msg: Binary::from(br#"{"approve":{"spender":"mallory"}}"#),
        funds: vec![],
    }
    .into();
    let expected = ContractError::StakingTokenMessageNotAllowed {
        index: 0,
        kind: "cw20 message that is not a standard CW20 call".into(),
        token: suite.token.clone(),
    };
    fails_cleanly(&mut suite, expected, |s| {
        s.propose("alice", "grab", vec![unreadable])
    });
}

#[test]
fn proposals_may_still_move_the_treasury_by_transfer_send_or_burn() {
    let mut suite = staked_suite();
    let dave = suite.addr("dave").to_string();
    let amount = Uint128::new(10);
    let msgs = vec![
        token_call(
            &suite,
            &Cw20ExecuteMsg::Transfer {
                recipient: dave.clone(),
                amount,
            },
        ),
        token_call(
            &suite,
            &Cw20ExecuteMsg::Send {
                contract: dave,
                amount,
                msg: Binary::default(),
            },
        ),
        token_call(&suite, &Cw20ExecuteMsg::Burn { amount }),
        // Other contracts, and the DAO itself, take any call.
        set_value(&suite.deploy_target(), "v"),
    ];
    suite
        .propose("alice", "spend the treasury", msgs)
        .expect("balance-checked token calls are accepted");
}

/// Replacing the token's code or admin would hand its balances to whoever writes the code.
#[test]
fn proposals_cannot_migrate_or_re_admin_the_staking_token() {
    let mut suite = staked_suite();
    let token = suite.token.to_string();
    let mallory = suite.addr("mallory").to_string();
    let cases: [(CosmosMsg, &str); 3] = [
        (
            WasmMsg::Migrate {
                contract_addr: token.clone(),
                new_code_id: suite.dao_code,
                msg: Binary::from(b"{}"),
            }
            .into(),
            "wasm migrate",
        ),
        (
            WasmMsg::UpdateAdmin {
                contract_addr: token.clone(),
                admin: mallory,
            }
            .into(),
            "wasm update_admin",
        ),
        (
            WasmMsg::ClearAdmin {
                contract_addr: token,
            }
            .into(),
            "wasm clear_admin",
        ),
    ];
    for (msg, kind) in cases {
        let expected = ContractError::StakingTokenMessageNotAllowed {
            index: 0,
            kind: kind.into(),
            token: suite.token.clone(),
        };
        fails_cleanly(&mut suite, expected, |s| {
            s.propose("alice", "take the token", vec![msg])
        });
    }
}

/// `any` (and `stargate`) can carry a `MsgExecuteContract` or an authz `MsgExec` on the token,
/// `custom` whatever the chain defines: the DAO cannot read them, so it refuses them.
#[test]
fn proposals_cannot_smuggle_calls_in_opaque_message_kinds() {
    let mut suite = staked_suite();
    let target = suite.deploy_target();
    let cases: [(CosmosMsg, &str); 2] = [
        (
            CosmosMsg::Any(cosmwasm_std::AnyMsg {
                type_url: "/cosmwasm.wasm.v1.MsgExecuteContract".into(),
                value: Binary::from(b"increase_allowance".to_vec()),
            }),
            "any",
        ),
        (CosmosMsg::Custom(cosmwasm_std::Empty {}), "custom"),
    ];
    for (msg, kind) in cases {
        let expected = ContractError::MessageKindNotAllowed {
            index: 2,
            kind: kind.into(),
        };
        let msgs = vec![
            set_value(&target, "a"),
            cosmwasm_std::BankMsg::Burn { amount: vec![] }.into(),
            msg,
        ];
        fails_cleanly(&mut suite, expected, |s| s.propose("alice", "opaque", msgs));
    }
}

/// A DAO instantiated on the mock chain, with alice's 500 staked a block ago.
fn mock_dao() -> (
    cosmwasm_std::OwnedDeps<
        cosmwasm_std::MemoryStorage,
        cosmwasm_std::testing::MockApi,
        cosmwasm_std::testing::MockQuerier,
    >,
    cosmwasm_std::Env,
    cosmwasm_std::Addr,
) {
    use cosmwasm_std::testing::{message_info, mock_dependencies, mock_env};
    let mut deps = mock_dependencies();
    let mut env = mock_env();
    let token = deps.api.addr_make("token");
    let creator = deps.api.addr_make("creator");
    crate::contract::instantiate(
        deps.as_mut(),
        env.clone(),
        message_info(&creator, &[]),
        fairshare_protocol::dao::InstantiateMsg {
            token: token.to_string(),
            rules: rules(),
        },
    )
    .expect("instantiates");
    let stake = ExecuteMsg::Receive(Cw20ReceiveMsg {
        sender: deps.api.addr_make("alice").to_string(),
        amount: Uint128::new(500),
        msg: to_json_binary(&fairshare_protocol::dao::ReceiveMsg::Stake {}).expect("json"),
    });
    crate::contract::execute(deps.as_mut(), env.clone(), message_info(&token, &[]), stake)
        .expect("stakes");
    env.block.height += 1;
    (deps, env, token)
}

fn mock_propose(
    deps: cosmwasm_std::DepsMut,
    env: &cosmwasm_std::Env,
    token: &cosmwasm_std::Addr,
) -> Result<cosmwasm_std::Response, ContractError> {
    use cosmwasm_std::testing::{message_info, MockApi};
    let alice = MockApi::default().addr_make("alice").to_string();
    let propose = ExecuteMsg::Receive(Cw20ReceiveMsg {
        sender: alice,
        amount: Uint128::new(100),
        msg: to_json_binary(&fairshare_protocol::dao::ReceiveMsg::Propose {
            title: "p".into(),
            description: String::new(),
            msgs: vec![],
        })
        .expect("json"),
    });
    crate::contract::execute(deps, env.clone(), message_info(token, &[]), propose)
}

/// Defence in depth: a passed proposal that carries an allowance (stored by code from before
/// the check, or written any other way) is refused again when executed.
#[test]
fn an_allowance_proposal_already_stored_cannot_execute() {
    use cosmwasm_std::testing::message_info;
    use fairshare_protocol::dao::Expiration;
    let (mut deps, env, token) = mock_dao();
    mock_propose(deps.as_mut(), &env, &token).expect("proposes");
    let mallory = deps.api.addr_make("mallory");
    let mut stored = crate::state::PROPOSALS
        .load(&deps.storage, 1)
        .expect("stored");
    stored.msgs = vec![WasmMsg::Execute {
        contract_addr: token.to_string(),
        msg: to_json_binary(&Cw20ExecuteMsg::IncreaseAllowance {
            spender: mallory.to_string(),
            amount: Uint128::new(500),
            expires: None,
        })
        .expect("json"),
        funds: vec![],
    }
    .into()];
    stored.status = Status::Passed;
    stored.executable_at = Some(Expiration::AtHeight(env.block.height));
    stored.executable_until = Some(Expiration::AtHeight(env.block.height + 20));
    crate::state::PROPOSALS
        .save(&mut deps.storage, 1, &stored)
        .expect("saves");
    let err = crate::contract::execute(
        deps.as_mut(),
        env,
        message_info(&mallory, &[]),
        ExecuteMsg::Execute { proposal_id: 1 },
    )
    .expect_err("refused at execution");
    assert_eq!(
        err,
        ContractError::StakingTokenMessageNotAllowed {
            index: 0,
            kind: "cw20 increase_allowance".into(),
            token,
        }
    );
}

/// With a timelock shorter than the unbonding period, stakers who oppose a passed proposal
/// cannot get their tokens out before it runs.
#[test]
fn a_timelock_shorter_than_unbonding_is_refused() {
    let cases = [
        (
            ConfigUpdate {
                timelock: Some(Duration::Height(4)),
                ..rules()
            },
            ContractError::TimelockShorterThanUnbonding {
                timelock: Duration::Height(4),
                unbonding_period: Duration::Height(5),
            },
        ),
        (
            ConfigUpdate {
                timelock: None,
                ..rules()
            },
            ContractError::MissingTimelock {
                unbonding_period: Duration::Height(5),
            },
        ),
        (
            ConfigUpdate {
                voting_period: Duration::Time(3600),
                timelock: Some(Duration::Time(3600)),
                execution_window: Duration::Time(3600),
                unbonding_period: Duration::Height(5),
                ..rules()
            },
            ContractError::UnitMismatch {
                name: "timelock",
                other: "unbonding_period",
            },
        ),
    ];
    for (rules, expected) in cases {
        let result = Suite::with_rules(rules.clone());
        assert_eq!(contract_error(result.err().expect("refused")), expected);

        // Nor can a proposal set such rules: its execution fails and the config stays.
        let mut suite = staked_suite();
        let msg = self_call(&suite, &ExecuteMsg::UpdateConfig { rules });
        let id = passed_proposal(&mut suite, vec![msg]);
        suite.advance(5);
        let config = suite.config();
        suite.execute("carol", id).expect("execute returns");
        let error = suite.proposal(id).execution_error.expect("recorded");
        assert!(error.contains(&expected.to_string()), "{error}");
        assert_eq!(suite.config(), config);
    }
    // Equal is enough; no timelock is fine when unstaked tokens are free at once.
    for rules in [
        ConfigUpdate {
            unbonding_period: Duration::Height(5),
            timelock: Some(Duration::Height(5)),
            ..rules()
        },
        ConfigUpdate {
            unbonding_period: Duration::Height(0),
            timelock: None,
            ..rules()
        },
    ] {
        Suite::with_rules(rules).expect("valid rules");
    }
}

/// At a 90% threshold, carol's 20% of no votes makes yes impossible, but 20% is below the 30%
/// quorum. Rejecting then would let her end the proposal without quorum, which forfeits the
/// proposer's deposit; it stays open instead, and once quorum is reached it is rejected and
/// closing it refunds the deposit.
#[test]
fn an_early_no_before_quorum_does_not_reject_and_forfeit_the_deposit() {
    let mut suite = Suite::with_rules(ConfigUpdate {
        threshold: Decimal::percent(90),
        ..rules()
    })
    .expect("valid rules");
    for (who, amount) in [("alice", 500), ("bob", 300), ("carol", 200)] {
        suite.stake(who, amount).expect("stakes");
    }
    suite.advance(1);
    let id = suite
        .propose("alice", "ambitious", vec![])
        .expect("proposes");
    suite.vote("carol", id, Vote::No).expect("votes");
    assert_eq!(suite.proposal(id).status, Status::Open, "no quorum yet");
    let expected = ContractError::NotClosable {
        proposal_id: id,
        status: Status::Open,
    };
    fails_cleanly(&mut suite, expected, |s| s.close("carol", id));

    suite.vote("bob", id, Vote::Abstain).expect("votes");
    assert_eq!(
        suite.proposal(id).status,
        Status::Rejected,
        "quorum reached, and yes can no longer reach 90%"
    );
    suite.close("carol", id).expect("closes");
    assert_eq!(suite.proposal(id).deposit_status, DepositStatus::Refunded);
    assert_eq!(suite.balance("alice"), 500, "deposit back");
}

/// A passed proposal that nobody executes in time expires; closing it refunds the deposit,
/// since it passed.
#[test]
fn a_passed_proposal_expires_unexecuted_and_closing_refunds_the_deposit() {
    use fairshare_protocol::dao::Expiration;
    let mut suite = staked_suite();
    let target = suite.deploy_target();
    let id = passed_proposal(&mut suite, vec![set_value(&target, "late")]);
    let p = suite.proposal(id);
    let unlock = suite.height() + 5;
    assert_eq!(p.executable_at, Some(Expiration::AtHeight(unlock)));
    assert_eq!(p.executable_until, Some(Expiration::AtHeight(unlock + 20)));
    let expected = ContractError::NotClosable {
        proposal_id: id,
        status: Status::Passed,
    };
    fails_cleanly(&mut suite, expected, |s| s.close("mallory", id));

    suite.advance(5 + 20);
    assert_eq!(suite.proposal(id).status, Status::Expired);
    let expected = ContractError::NotPassed {
        proposal_id: id,
        status: Status::Expired,
    };
    fails_cleanly(&mut suite, expected, |s| s.execute("mallory", id));
    assert_eq!(suite.balance("alice"), 400);
    suite.close("mallory", id).expect("anyone closes");
    let p = suite.proposal(id);
    assert_eq!(p.status, Status::Closed);
    assert_eq!(p.deposit_status, DepositStatus::Refunded);
    assert_eq!(suite.balance("alice"), 500);
    assert_eq!(suite.locked().deposits, Uint128::zero());
    assert_eq!(suite.target_value(&target), "", "never ran");
    let expected = ContractError::NotClosable {
        proposal_id: id,
        status: Status::Closed,
    };
    fails_cleanly(&mut suite, expected, |s| s.close("mallory", id));
}

/// The last block of the window still executes; a failed execution, already refunded, is not
/// refunded again when its expired proposal is closed.
#[test]
fn the_execution_window_bounds_retries_and_refunds_once() {
    let mut suite = staked_suite();
    let target = suite.deploy_target();
    let operator = suite.deployer.clone();
    let pause = |paused| target::ExecuteMsg::Pause { paused };
    suite
        .app
        .execute_contract(operator.clone(), target.clone(), &pause(true), &[])
        .expect("operator pauses");
    let id = passed_proposal(&mut suite, vec![set_value(&target, "v")]);
    suite.advance(5 + 19);
    suite
        .execute("carol", id)
        .expect("last block: runs and fails");
    let p = suite.proposal(id);
    assert_eq!(p.status, Status::Passed);
    assert_eq!(p.deposit_status, DepositStatus::Refunded);
    assert_eq!(suite.balance("alice"), 500);

    suite.advance(1);
    suite
        .app
        .execute_contract(operator, target.clone(), &pause(false), &[])
        .expect("operator unpauses");
    let expected = ContractError::NotPassed {
        proposal_id: id,
        status: Status::Expired,
    };
    fails_cleanly(&mut suite, expected, |s| s.execute("carol", id));
    suite.close("carol", id).expect("closes");
    let p = suite.proposal(id);
    assert_eq!(p.status, Status::Closed);
    assert_eq!(p.deposit_status, DepositStatus::Refunded);
    assert_eq!(suite.balance("alice"), 500, "not refunded twice");
    assert_eq!(suite.locked().deposits, Uint128::zero());
    assert_eq!(suite.target_value(&target), "");
}

#[test]
fn invalid_execution_window_on_instantiate() {
    let cases = [
        (
            ConfigUpdate {
                execution_window: Duration::Height(0),
                ..rules()
            },
            ContractError::ZeroDuration {
                name: "execution_window",
            },
        ),
        (
            ConfigUpdate {
                execution_window: Duration::Time(3600),
                ..rules()
            },
            ContractError::UnitMismatch {
                name: "execution_window",
                other: "voting_period",
            },
        ),
    ];
    for (rules, expected) in cases {
        let result = Suite::with_rules(rules);
        assert_eq!(contract_error(result.err().expect("refused")), expected);
    }
}

/// The DAO's code must not run on another contract's storage (here the token's), where it
/// would read whatever lies under its keys.
#[test]
fn the_dao_code_cannot_be_migrated_onto_another_contract() {
    let mut suite = staked_suite();
    let code = suite.app.store_code(cw20_contract());
    let deployer = suite.deployer.clone();
    let other = suite
        .app
        .instantiate_contract(
            code,
            deployer.clone(),
            &cw20_base::msg::InstantiateMsg {
                name: "Other".into(),
                symbol: "OTHER".into(),
                decimals: 6,
                initial_balances: vec![],
                mint: None,
                marketing: None,
            },
            &[],
            "other",
            Some(deployer.to_string()),
        )
        .expect("instantiates");
    let err = suite
        .app
        .migrate_contract(
            deployer,
            other.clone(),
            &fairshare_protocol::dao::MigrateMsg {},
            suite.dao_code,
        )
        .expect_err("refused");
    assert_eq!(
        contract_error(err),
        ContractError::WrongContract {
            expected: crate::contract::CONTRACT_NAME,
            found: "crates.io:cw20-base".into(),
        }
    );
    let info = suite
        .app
        .wrap()
        .query_wasm_contract_info(&other)
        .expect("info");
    assert_eq!(info.code_id, code, "still the token's code");
}

#[test]
fn the_dao_cannot_be_downgraded() {
    let (mut deps, env, _) = mock_dao();
    cw2::set_contract_version(&mut deps.storage, crate::contract::CONTRACT_NAME, "99.0.0")
        .expect("sets");
    let err = crate::contract::migrate(deps.as_mut(), env, fairshare_protocol::dao::MigrateMsg {})
        .expect_err("refused");
    assert!(err.to_string().contains("newer version"), "{err}");
}

/// Counters are checked: the proposal after id `u64::MAX` is an error, not a wrap or a panic.
#[test]
fn proposal_ids_do_not_overflow() {
    let (mut deps, env, token) = mock_dao();
    crate::state::PROPOSAL_COUNT
        .save(&mut deps.storage, &u64::MAX)
        .expect("saves");
    let err = mock_propose(deps.as_mut(), &env, &token).expect_err("refused");
    assert!(matches!(err, ContractError::Overflow(_)), "{err:?}");
}
