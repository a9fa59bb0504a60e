//! Property test: over random sequences of staking, unstaking, claims, transfers, proposals,
//! votes, executions, closes and block advances, the DAO's books stay consistent.

use cosmwasm_std::{to_json_binary, CosmosMsg, Decimal, Uint128, WasmMsg};
use cw20::{Cw20ExecuteMsg, Cw20QueryMsg, TokenInfoResponse};
use fairshare_protocol::dao::{ConfigUpdate, DepositStatus, Duration, Vote};
use proptest::prelude::*;

use super::*;

#[derive(Debug, Clone)]
enum Op {
    Stake {
        who: usize,
        amount: u128,
    },
    Unstake {
        who: usize,
        amount: u128,
    },
    Claim {
        who: usize,
    },
    Transfer {
        from: usize,
        to: usize,
        amount: u128,
    },
    /// A proposal that pays `grant` from the DAO's balance to `who` (none when 0).
    Propose {
        who: usize,
        grant: u128,
    },
    Vote {
        who: usize,
        proposal: u64,
        vote: Vote,
    },
    Execute {
        who: usize,
        proposal: u64,
    },
    Close {
        who: usize,
        proposal: u64,
    },
    Advance {
        blocks: u64,
    },
}

fn person() -> impl Strategy<Value = usize> {
    0..PEOPLE.len()
}

/// Which proposal an op targets, counted back from the latest one (0 is the latest).
fn proposal() -> impl Strategy<Value = u64> {
    0u64..4
}

/// The id `back` proposals before the latest of `count`, or one that does not exist.
fn resolve(count: u64, back: u64) -> u64 {
    count
        .checked_sub(back)
        .filter(|id| *id > 0)
        .unwrap_or(count + 1)
}

fn op() -> impl Strategy<Value = Op> {
    let vote = prop_oneof![3 => Just(Vote::Yes), 1 => Just(Vote::No), 1 => Just(Vote::Abstain)];
    prop_oneof![
        3 => (person(), 0u128..400).prop_map(|(who, amount)| Op::Stake { who, amount }),
        2 => (person(), 0u128..300).prop_map(|(who, amount)| Op::Unstake { who, amount }),
        1 => person().prop_map(|who| Op::Claim { who }),
        2 => (person(), person(), 0u128..500)
            .prop_map(|(from, to, amount)| Op::Transfer { from, to, amount }),
        2 => (person(), prop_oneof![3 => Just(0u128), 1 => 1u128..150])
            .prop_map(|(who, grant)| Op::Propose { who, grant }),
        12 => (person(), proposal(), vote)
            .prop_map(|(who, proposal, vote)| Op::Vote { who, proposal, vote }),
        3 => (person(), proposal()).prop_map(|(who, proposal)| Op::Execute { who, proposal }),
        2 => (person(), proposal()).prop_map(|(who, proposal)| Op::Close { who, proposal }),
        4 => (1u64..6).prop_map(|blocks| Op::Advance { blocks }),
    ]
}

/// Applies `op`; `count` is the number of proposals made so far.
fn apply(suite: &mut Suite, count: &mut u64, op: &Op) {
    // Failures are expected (no stake, proposal not open, ...): an attempt either applies
    // whole or not at all, and the invariants must hold either way.
    let _ = match *op {
        Op::Stake { who, amount } => suite.stake(PEOPLE[who], amount).map(drop),
        Op::Unstake { who, amount } => suite.unstake(PEOPLE[who], amount).map(drop),
        Op::Claim { who } => suite.claim(PEOPLE[who]).map(drop),
        Op::Transfer { from, to, amount } => {
            suite.transfer(PEOPLE[from], PEOPLE[to], amount).map(drop)
        }
        Op::Propose { who, grant } => {
            let msgs: Vec<CosmosMsg> = if grant == 0 {
                vec![]
            } else {
                vec![WasmMsg::Execute {
                    contract_addr: suite.token.to_string(),
                    msg: to_json_binary(&Cw20ExecuteMsg::Transfer {
                        recipient: suite.addr(PEOPLE[who]).to_string(),
                        amount: Uint128::new(grant),
                    })
                    .expect("serializable"),
                    funds: vec![],
                }
                .into()]
            };
            suite
                .propose(PEOPLE[who], "random", msgs)
                .map(|id| *count = id)
        }
        Op::Vote {
            who,
            proposal,
            vote,
        } => suite
            .vote(PEOPLE[who], resolve(*count, proposal), vote)
            .map(drop),
        Op::Execute { who, proposal } => suite
            .execute(PEOPLE[who], resolve(*count, proposal))
            .map(drop),
        Op::Close { who, proposal } => suite
            .close(PEOPLE[who], resolve(*count, proposal))
            .map(drop),
        Op::Advance { blocks } => {
            suite.advance(blocks);
            Ok(())
        }
    };
}

fn check_invariants(suite: &Suite) -> Result<(), TestCaseError> {
    let observed = suite.observe();

    // Votes never exceed the power snapshotted when the proposal opened, and every ballot
    // carries exactly its voter's power at that height.
    for (p, votes) in observed.proposals.iter().zip(&observed.votes) {
        let t = p.tally;
        prop_assert!(
            t.yes + t.no + t.abstain <= p.total_power,
            "proposal {}",
            p.id
        );
        prop_assert_eq!(
            p.total_power.u128(),
            suite.total_power(Some(p.start_height))
        );
        let ballots: u128 = votes.iter().map(|v| v.power.u128()).sum();
        prop_assert_eq!(ballots, (t.yes + t.no + t.abstain).u128());
        for v in votes {
            let res: PowerResponse = suite.query(&QueryMsg::VotingPower {
                address: v.voter.to_string(),
                height: Some(p.start_height),
            });
            prop_assert_eq!(res.power, v.power);
        }
    }

    // The token's supply is exactly what everyone holds, the DAO included.
    let info: TokenInfoResponse = suite
        .app
        .wrap()
        .query_wasm_smart(&suite.token, &Cw20QueryMsg::TokenInfo {})
        .expect("token info");
    let held: u128 = observed.balances.iter().sum();
    prop_assert_eq!(info.total_supply.u128(), held);

    // The DAO's books match its parts, and it holds at least what it owes.
    let locked = &observed.locked;
    let staked: u128 = observed.stakes.iter().map(|s| s.staked.u128()).sum();
    prop_assert_eq!(locked.staked.u128(), staked);
    let unbonding: u128 = observed
        .stakes
        .iter()
        .flat_map(|s| s.claims.iter())
        .map(|c| c.amount.u128())
        .sum();
    prop_assert_eq!(locked.unbonding.u128(), unbonding);
    let deposits: u128 = observed
        .proposals
        .iter()
        .filter(|p| p.deposit_status == DepositStatus::Held)
        .map(|p| p.deposit.u128())
        .sum();
    prop_assert_eq!(locked.deposits.u128(), deposits);
    let dao_balance = *observed.balances.last().expect("DAO balance is last");
    prop_assert!(dao_balance >= staked + unbonding + deposits);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn books_stay_consistent(
        revoting in any::<bool>(),
        initial_stakes in prop::collection::vec(0u128..400, PEOPLE.len()),
        ops in prop::collection::vec(op(), 1..80),
    ) {
        let mut suite = Suite::with_rules(ConfigUpdate {
            unbonding_period: Duration::Height(2),
            voting_period: Duration::Height(8),
            quorum: Decimal::percent(20),
            timelock: Some(Duration::Height(2)),
            allow_revoting: revoting,
            ..rules()
        })
        .expect("valid rules");
        // Most people start with some stake, so that votes have power to carry.
        for (who, amount) in PEOPLE.iter().zip(&initial_stakes) {
            let _ = suite.stake(who, *amount);
        }
        suite.advance(1);
        let mut count = 0;
        for op in &ops {
            apply(&mut suite, &mut count, op);
            check_invariants(&suite)?;
        }
    }
}
