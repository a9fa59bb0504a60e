//! Property tests: random sequences of messages, and after every step the invariants of
//! DESIGN §2 — token supply equals the sum of balances; the escrow holds exactly its stakes
//! and unclaimed returns; nothing is claimed twice; a round never pays more than its budget;
//! only the owner changes parameters.

mod common;

use std::collections::BTreeMap;

use common::{report_of, Scenario};
use cosmwasm_std::{Addr, Uint128};
use cw_multi_test::Executor;
use fairshare_protocol::round_manager::ExecuteMsg;
use fairshare_relayer::keys::ParticipantKey;
use proptest::prelude::*;

const PARTICIPANTS: usize = 4;
const EVALUATORS: usize = 3;

#[derive(Debug, Clone)]
enum Action {
    Open,
    Join {
        p: usize,
        round: usize,
        stake: u128,
    },
    Commit {
        p: usize,
        round: usize,
        forged: bool,
        copy_of: Option<usize>,
    },
    Report {
        e: usize,
        round: usize,
        values: Vec<i64>,
        delta_u: i64,
    },
    Settle {
        round: usize,
    },
    Claim {
        p: usize,
        round: usize,
    },
    Advance {
        blocks: u64,
    },
    Transfer {
        from: usize,
        to: usize,
        amount: u128,
    },
    ChangeBudget {
        by_owner: bool,
        budget: u128,
    },
}

fn action() -> impl Strategy<Value = Action> {
    let p = 0..PARTICIPANTS;
    let r = 0usize..2;
    prop_oneof![
        1 => Just(Action::Open),
        6 => (p.clone(), r.clone(), 50u128..2_000).prop_map(|(p, round, stake)| Action::Join { p, round, stake }),
        6 => (p.clone(), r.clone(), prop::bool::weighted(0.2), proptest::option::weighted(0.2, 0..PARTICIPANTS))
            .prop_map(|(p, round, forged, copy_of)| Action::Commit { p, round, forged, copy_of }),
        9 => (0..EVALUATORS, r.clone(), prop::collection::vec(-200i64..1_000, PARTICIPANTS), -100i64..1_500)
            .prop_map(|(e, round, values, delta_u)| Action::Report { e, round, values, delta_u }),
        3 => r.clone().prop_map(|round| Action::Settle { round }),
        3 => (p.clone(), r).prop_map(|(p, round)| Action::Claim { p, round }),
        6 => (1u64..6).prop_map(|blocks| Action::Advance { blocks }),
        1 => (p.clone(), p, 0u128..500_000).prop_map(|(from, to, amount)| Action::Transfer { from, to, amount }),
        1 => (any::<bool>(), 0u128..5_000_000).prop_map(|(by_owner, budget)| Action::ChangeBudget { by_owner, budget }),
    ]
}

/// One round played through with random choices at every step, with random noise between
/// phases, so that sequences reach settlement and claims as well as every failure path.
fn cycle(k: usize) -> impl Strategy<Value = Vec<Action>> {
    let p = PARTICIPANTS;
    (
        prop::collection::vec((prop::bool::weighted(0.8), 50u128..2_000), p),
        prop::collection::vec(
            (
                prop::bool::weighted(0.8),
                prop::bool::weighted(0.15),
                proptest::option::weighted(0.15, 0..p),
            ),
            p,
        ),
        prop::collection::vec(
            (
                prop::bool::weighted(0.8),
                prop::collection::vec(-200i64..1_000, p),
                -100i64..1_500,
            ),
            EVALUATORS,
        ),
        any::<bool>(),
        prop::collection::vec(prop::bool::weighted(0.8), p),
        prop::collection::vec(prop::collection::vec(action(), 0..4), 4),
    )
        .prop_map(move |(joins, commits, reports, wait, claims, noise)| {
            let mut out = vec![Action::Open];
            out.extend(
                joins
                    .iter()
                    .enumerate()
                    .filter(|(_, j)| j.0)
                    .map(|(p, j)| Action::Join {
                        p,
                        round: k,
                        stake: j.1,
                    }),
            );
            out.extend(noise[0].clone());
            out.push(Action::Advance { blocks: 4 });
            out.extend(
                commits
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.0)
                    .map(|(p, c)| Action::Commit {
                        p,
                        round: k,
                        forged: c.1,
                        copy_of: c.2,
                    }),
            );
            out.extend(noise[1].clone());
            out.push(Action::Advance { blocks: 4 });
            out.extend(
                reports
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.0)
                    .map(|(e, r)| Action::Report {
                        e,
                        round: k,
                        values: r.1.clone(),
                        delta_u: r.2,
                    }),
            );
            out.extend(noise[2].clone());
            if wait {
                out.push(Action::Advance { blocks: 12 });
            }
            out.push(Action::Settle { round: k });
            out.extend(
                claims
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| **c)
                    .map(|(p, _)| Action::Claim { p, round: k }),
            );
            out.extend(noise[3].clone());
            out.push(Action::Advance { blocks: 12 });
            out.push(Action::Settle { round: k });
            out
        })
}

fn sequence() -> impl Strategy<Value = Vec<Action>> {
    (cycle(0), cycle(1), cycle(2), 1usize..=3).prop_map(|(a, b, c, n)| {
        let mut out = a;
        if n > 1 {
            out.extend(b);
        }
        if n > 2 {
            out.extend(c);
        }
        out
    })
}

struct Model {
    s: Scenario,
    keys: Vec<ParticipantKey>,
    rounds: Vec<u64>,
    claims: BTreeMap<(usize, u64), u32>,
    deposited: u128,
    initial_supply: u128,
}

impl Model {
    fn new() -> Self {
        let mut s = Scenario::with(EVALUATORS, 2, |o| {
            o.params.schedule = fairshare_protocol::round_manager::Schedule {
                join_blocks: 4,
                train_blocks: 4,
                eval_blocks: 12,
            };
            o.params.min_participants = 1;
        });
        let keys = s.participants(PARTICIPANTS, 1_000_000);
        let initial_supply = s.chain.token_info().expect("info").total_supply.u128();
        Self {
            s,
            keys,
            rounds: vec![],
            claims: BTreeMap::new(),
            deposited: 0,
            initial_supply,
        }
    }

    fn round(&self, i: usize) -> Option<u64> {
        self.rounds.get(i).copied()
    }

    fn apply(&mut self, a: &Action) {
        match a {
            Action::Open => {
                if let Ok(id) = self.s.chain.open_round("prop") {
                    self.rounds.push(id);
                }
            }
            Action::Join { p, round, stake } => {
                if let Some(r) = self.round(*round) {
                    let k = self.keys[*p].clone();
                    if self.s.chain.join(&k, r, *stake).is_ok() {
                        self.deposited += stake;
                    }
                }
            }
            Action::Commit {
                p,
                round,
                forged,
                copy_of,
            } => {
                if let Some(r) = self.round(*round) {
                    let label = format!("u/{}", copy_of.unwrap_or(*p));
                    let signer = if *forged {
                        self.s.chain.key("mallory")
                    } else {
                        self.keys[*p].clone()
                    };
                    let mut c = self.s.signed(&signer, r, &label);
                    c.participant = self.keys[*p].address().to_string();
                    let relayer = self.s.relayer.clone();
                    let res = self.s.chain.commit(&relayer, r, vec![c]);
                    assert!(!(*forged && res.is_ok()), "a forged signature was accepted");
                }
            }
            Action::Report {
                e,
                round,
                values,
                delta_u,
            } => {
                if let Some(r) = self.round(*round) {
                    let committed: Vec<(usize, String)> = self
                        .keys
                        .iter()
                        .enumerate()
                        .filter(|(_, k)| {
                            self.s
                                .chain
                                .app
                                .wrap()
                                .query_wasm_smart::<fairshare_protocol::round_manager::ParticipantResponse>(
                                    &self.s.chain.d.round_manager,
                                    &fairshare_protocol::round_manager::QueryMsg::Participant {
                                        round_id: r,
                                        participant: k.address().to_string(),
                                    },
                                )
                                .map(|p| p.update_hash.is_some())
                                .unwrap_or(false)
                        })
                        .map(|(i, _)| (i, format!("{}", values[i] as f64 / 1000.0)))
                        .collect();
                    let pairs: Vec<(&ParticipantKey, &str)> = committed
                        .iter()
                        .map(|(i, v)| (&self.keys[*i], v.as_str()))
                        .collect();
                    let report = report_of(&format!("{}", *delta_u as f64 / 1000.0), &pairs);
                    let ev = self.s.evaluators[*e].clone();
                    let _ = self.s.chain.report(&ev, r, report);
                }
            }
            Action::Settle { round } => {
                if let Some(r) = self.round(*round) {
                    let _ = self.s.settle(r);
                }
            }
            Action::Claim { p, round } => {
                if let Some(r) = self.round(*round) {
                    let k = self.keys[*p].clone();
                    if self.s.claim(&k, r).is_ok() {
                        *self.claims.entry((*p, r)).or_default() += 1;
                    }
                }
            }
            Action::Advance { blocks } => self.s.chain.advance(*blocks),
            Action::Transfer { from, to, amount } => {
                let _ = self.s.chain.app.execute_contract(
                    Addr::unchecked(self.keys[*from].address()),
                    self.s.chain.d.token.clone(),
                    &cw20::Cw20ExecuteMsg::Transfer {
                        recipient: self.keys[*to].address().to_string(),
                        amount: Uint128::new(*amount),
                    },
                    &[],
                );
            }
            Action::ChangeBudget { by_owner, budget } => {
                let before = self.s.chain.rm_config().expect("config").params;
                let mut params = before.clone();
                params.rewards.budget = Uint128::new(*budget);
                let sender = if *by_owner {
                    self.s.chain.d.owner.clone()
                } else {
                    self.s.chain.addr("mallory")
                };
                let res = self.s.chain.app.execute_contract(
                    sender,
                    self.s.chain.d.round_manager.clone(),
                    &ExecuteMsg::UpdateParams { params },
                    &[],
                );
                let after = self.s.chain.rm_config().expect("config").params;
                if *by_owner {
                    assert!(res.is_ok());
                    assert_eq!(after.rewards.budget.u128(), *budget);
                } else {
                    assert!(res.is_err(), "a stranger changed the parameters");
                    assert_eq!(after, before);
                }
            }
        }
    }

    fn check(&self) {
        let c = &self.s.chain;
        let info = c.token_info().expect("info");
        assert_eq!(
            info.total_supply.u128(),
            c.token_balances_sum().expect("sum"),
            "supply = Σ balances"
        );
        let t = c.totals().expect("totals");
        let escrow = c.stake_balance(c.d.escrow.as_str()).expect("balance");
        assert_eq!(
            escrow,
            t.locked.u128() + t.claimable_stake.u128(),
            "escrow holds stakes + unclaimed returns"
        );
        assert_eq!(
            info.total_supply.u128() - self.initial_supply,
            t.minted_total.u128(),
            "every minted token is a reward or dust"
        );
        assert!(
            self.claims.values().all(|&n| n == 1),
            "nothing is claimed twice"
        );
        let treasury = c.stake_balance(c.d.treasury.as_str()).expect("balance");
        assert_eq!(
            treasury,
            t.slashed_total.u128(),
            "slashes reach the treasury"
        );
        assert!(
            escrow + treasury <= self.deposited,
            "no stake appears from nowhere"
        );
        for &r in &self.rounds {
            let round = c.round(r).expect("round");
            if let Some(s) = round.settlement {
                assert!(
                    s.pool <= round.params.rewards.budget,
                    "a round paid more than its budget"
                );
                let paid: u128 = c
                    .results(r)
                    .expect("results")
                    .iter()
                    .map(|x| x.reward.u128())
                    .sum();
                assert_eq!(paid + s.dust.u128(), s.pool.u128());
            }
        }
    }
}

#[test]
fn invariants_hold_under_any_sequence() {
    use proptest::test_runner::{Config, TestRunner};
    use std::cell::Cell;
    let settled = Cell::new(0usize);
    let claimed = Cell::new(0usize);
    let mut runner = TestRunner::new(Config {
        cases: 48,
        max_shrink_iters: 200,
        ..Config::default()
    });
    runner
        .run(&sequence(), |actions| {
            let mut m = Model::new();
            for a in &actions {
                m.apply(a);
                m.check();
            }
            let n = m
                .rounds
                .iter()
                .filter(|r| {
                    m.s.chain
                        .round(**r)
                        .map(|x| x.settlement.is_some())
                        .unwrap_or(false)
                })
                .count();
            settled.set(settled.get() + n);
            claimed.set(claimed.get() + m.claims.len());
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    // The sequences must reach the interesting states, or the invariants were checked on nothing.
    assert!(settled.get() > 0, "no random sequence settled a round");
    assert!(claimed.get() > 0, "no random sequence claimed");
    println!(
        "settled rounds: {}, claims: {}",
        settled.get(),
        claimed.get()
    );
}

#[test]
fn a_scripted_sequence_reaches_settlement_and_claims() {
    let mut m = Model::new();
    let script = [
        Action::Open,
        Action::Join {
            p: 0,
            round: 0,
            stake: 500,
        },
        Action::Join {
            p: 1,
            round: 0,
            stake: 700,
        },
        Action::Commit {
            p: 0,
            round: 0,
            forged: false,
            copy_of: None,
        },
        Action::Commit {
            p: 1,
            round: 0,
            forged: false,
            copy_of: None,
        },
        Action::Advance { blocks: 4 },
        Action::Advance { blocks: 4 },
        Action::Report {
            e: 0,
            round: 0,
            values: vec![300, 100, 0, 0],
            delta_u: 400,
        },
        Action::Report {
            e: 1,
            round: 0,
            values: vec![300, 100, 0, 0],
            delta_u: 400,
        },
        Action::Settle { round: 0 }, // refused: the third evaluator is still due
        Action::Advance { blocks: 12 },
        Action::Settle { round: 0 },
        Action::Claim { p: 0, round: 0 },
        Action::Claim { p: 0, round: 0 },
        Action::Claim { p: 1, round: 0 },
    ];
    for a in &script {
        m.apply(a);
        m.check();
    }
    assert!(m
        .s
        .chain
        .round(m.rounds[0])
        .expect("round")
        .settlement
        .is_some());
    assert_eq!(m.claims.len(), 2);
}
