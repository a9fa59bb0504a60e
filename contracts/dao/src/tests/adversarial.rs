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
        let expected = ContractError::NotRejected {
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
    let expected = ContractError::NotRejected {
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
            ContractError::TimelockUnitMismatch,
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
