//! Property tests: random sequences of messages — joins, commits (forged, copied, repeated),
//! evaluator bonds, report commitments and reveals (honest, lying, tampered at reveal),
//! disputes with the committed utility tables, settlement pages of random sizes interleaved
//! with everything else, claims by participants, challengers and evaluators, and DAO
//! stakes, proposals, votes and executions — and after every step the invariants of
//! DESIGN §2: token supply equals the sum of balances; the escrow holds exactly its stakes and
//! unclaimed returns; rewards owed always fit under the token's cap (so no claim can fail);
//! nothing is claimed twice or before its round has ended, and a claim pays what the results
//! show; a round never pays more than its budget; only the owner changes parameters; the DAO
//! never holds less than its stakers' tokens and never grants an allowance on them.
//!
//! `FAIRSHARE_PROPTEST_CASES` sets the number of random sequences (default 10,000).

mod common;

use std::collections::BTreeMap;

use common::{report_of, Scenario, BOND};
use cosmwasm_std::{to_json_binary, Addr, CosmosMsg, HexBinary, Uint128, WasmMsg};
use cw_multi_test::Executor;
use fairshare_protocol::dao::{Duration, LockedResponse, Vote};
use fairshare_protocol::report::{
    grand_value, nanos_to_decimal, pack_utilities, shapley, Estimator, UtilityTable,
};
use fairshare_protocol::round_manager::{ExecuteMsg, Phase};
use fairshare_relayer::keys::ParticipantKey;
use fairshare_relayer::ops::governance;
use proptest::prelude::*;

const PARTICIPANTS: usize = 4;
/// One more than the quorum of 3, so a round survives one struck-out report or no-show.
const EVALUATORS: usize = 4;

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
    /// Evaluator `e` bonds (if it has not) and commits to a report derived from a utility
    /// table of random values; a liar's φ do not follow from its table.
    Report {
        e: usize,
        round: usize,
        values: Vec<i64>,
        lie: bool,
    },
    /// Evaluator `e` reveals its pending report, or a tampered copy of it.
    Reveal {
        e: usize,
        round: usize,
        tamper: bool,
    },
    /// Participant `p` disputes evaluator `e`'s report with the table it committed to.
    Dispute {
        p: usize,
        e: usize,
        round: usize,
    },
    ClaimEvaluator {
        e: usize,
        round: usize,
    },
    Settle {
        round: usize,
        /// Work units of one page; `None` settles to the end.
        limit: Option<u32>,
    },
    DaoStake {
        p: usize,
        amount: u128,
    },
    DaoPropose {
        p: usize,
        kind: ProposalKind,
    },
    DaoVote {
        p: usize,
        proposal: usize,
        yes: bool,
    },
    DaoExecute {
        proposal: usize,
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

#[derive(Debug, Clone, Copy)]
enum ProposalKind {
    /// Change the round budget (allowed).
    Budget(u128),
    /// Pay the proposer from the treasury's tokens (allowed; the balance check guards stakes).
    Spend(u128),
    /// Let the proposer spend the DAO's tokens: must be refused.
    Allowance(u128),
}

fn proposal_kind() -> impl Strategy<Value = ProposalKind> {
    prop_oneof![
        (0u128..5_000_000).prop_map(ProposalKind::Budget),
        (0u128..50_000).prop_map(ProposalKind::Spend),
        (1u128..1_000_000).prop_map(ProposalKind::Allowance),
    ]
}

fn settle_limit() -> impl Strategy<Value = Option<u32>> {
    proptest::option::weighted(0.7, 1u32..30)
}

fn action() -> impl Strategy<Value = Action> {
    let p = 0..PARTICIPANTS;
    let r = 0usize..2;
    prop_oneof![
        1 => Just(Action::Open),
        6 => (p.clone(), r.clone(), 50u128..2_000).prop_map(|(p, round, stake)| Action::Join { p, round, stake }),
        6 => (p.clone(), r.clone(), prop::bool::weighted(0.2), proptest::option::weighted(0.2, 0..PARTICIPANTS))
            .prop_map(|(p, round, forged, copy_of)| Action::Commit { p, round, forged, copy_of }),
        9 => (0..EVALUATORS, r.clone(), prop::collection::vec(-200i64..1_000, 1 << PARTICIPANTS), prop::bool::weighted(0.2))
            .prop_map(|(e, round, values, lie)| Action::Report { e, round, values, lie }),
        4 => (0..EVALUATORS, r.clone(), prop::bool::weighted(0.2)).prop_map(|(e, round, tamper)| Action::Reveal { e, round, tamper }),
        2 => (p.clone(), 0..EVALUATORS, r.clone()).prop_map(|(p, e, round)| Action::Dispute { p, e, round }),
        2 => (0..EVALUATORS, r.clone()).prop_map(|(e, round)| Action::ClaimEvaluator { e, round }),
        4 => (r.clone(), settle_limit()).prop_map(|(round, limit)| Action::Settle { round, limit }),
        2 => (p.clone(), 1u128..20_000).prop_map(|(p, amount)| Action::DaoStake { p, amount }),
        1 => (p.clone(), proposal_kind()).prop_map(|(p, kind)| Action::DaoPropose { p, kind }),
        2 => (p.clone(), 0usize..3, prop::bool::weighted(0.7)).prop_map(|(p, proposal, yes)| Action::DaoVote { p, proposal, yes }),
        1 => (0usize..3).prop_map(|proposal| Action::DaoExecute { proposal }),
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
                prop::bool::weighted(0.85),
                prop::collection::vec(-200i64..1_000, 1 << p),
                prop::bool::weighted(0.2),
                prop::bool::weighted(0.9),
                proptest::option::weighted(0.3, 0..p),
            ),
            EVALUATORS,
        ),
        any::<bool>(),
        prop::collection::vec(prop::bool::weighted(0.8), p),
        prop::collection::vec(prop::collection::vec(action(), 0..4), 4),
        prop::collection::vec(1u32..12, 0..4),
    )
        .prop_map(
            move |(joins, commits, reports, wait, claims, noise, pages)| {
                let mut out = vec![Action::Open];
                out.extend(joins.iter().enumerate().filter(|(_, j)| j.0).map(|(p, j)| {
                    Action::Join {
                        p,
                        round: k,
                        stake: j.1,
                    }
                }));
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
                            lie: r.2,
                        }),
                );
                out.extend(noise[2].clone());
                out.push(Action::Advance { blocks: 12 });
                // Reveals (most evaluators show up), then disputes.
                out.extend(
                    reports
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| r.3)
                        .map(|(e, _)| Action::Reveal {
                            e,
                            round: k,
                            tamper: false,
                        }),
                );
                out.extend(
                    reports
                        .iter()
                        .enumerate()
                        .filter_map(|(e, r)| r.4.map(|p| Action::Dispute { p, e, round: k })),
                );
                if wait {
                    out.push(Action::Advance { blocks: 8 });
                }
                // Pages of random sizes, with claims and noise between them.
                for (i, limit) in pages.iter().enumerate() {
                    out.push(Action::Settle {
                        round: k,
                        limit: Some(*limit),
                    });
                    if i == 0 {
                        out.push(Action::Claim { p: 0, round: k });
                    }
                }
                out.push(Action::Settle {
                    round: k,
                    limit: None,
                });
                out.extend(
                    claims
                        .iter()
                        .enumerate()
                        .filter(|(_, c)| **c)
                        .map(|(p, _)| Action::Claim { p, round: k }),
                );
                out.extend(noise[3].clone());
                out.push(Action::Advance { blocks: 24 });
                out.extend((0..EVALUATORS).map(|e| Action::ClaimEvaluator { e, round: k }));
                out.push(Action::Settle {
                    round: k,
                    limit: None,
                });
                out
            },
        )
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
    /// Evaluators' successful claims.
    evaluator_claims: BTreeMap<(usize, u64), u32>,
    /// Reports committed and not yet revealed, with their tables: `(evaluator, round)`.
    pending: BTreeMap<
        (usize, u64),
        (
            fairshare_protocol::round_manager::Report,
            [u8; 32],
            UtilityTable,
        ),
    >,
    /// Tables of revealed reports, for disputes.
    tables: BTreeMap<(usize, u64), UtilityTable>,
    /// Reward paid by each successful claim.
    claimed_rewards: BTreeMap<(usize, u64), u128>,
    proposals: Vec<u64>,
    deposited: u128,
    initial_supply: u128,
}

impl Model {
    fn new() -> Self {
        let mut s = Scenario::with(EVALUATORS, 3, |o| {
            o.params.schedule = fairshare_protocol::round_manager::Schedule {
                join_blocks: 4,
                train_blocks: 4,
                eval_blocks: 12,
                reveal_blocks: 6,
                dispute_blocks: 4,
                settle_blocks: 12,
            };
            o.params.min_participants = 1;
            let mut rules = fairshare_relayer::ops::default_dao_rules();
            rules.voting_period = Duration::Height(6);
            o.dao = Some(rules);
        });
        let keys = s.participants(PARTICIPANTS, 1_000_000);
        // Governance tokens to vote and propose with.
        for k in &keys {
            s.chain
                .app
                .execute_contract(
                    s.chain.faucet.clone(),
                    s.chain.d.token.clone(),
                    &cw20::Cw20ExecuteMsg::Transfer {
                        recipient: k.address().to_string(),
                        amount: Uint128::new(100_000),
                    },
                    &[],
                )
                .expect("faucet pays");
        }
        let initial_supply = s.chain.token_info().expect("info").total_supply.u128();
        Self {
            s,
            keys,
            rounds: vec![],
            claims: BTreeMap::new(),
            evaluator_claims: BTreeMap::new(),
            pending: BTreeMap::new(),
            tables: BTreeMap::new(),
            claimed_rewards: BTreeMap::new(),
            proposals: vec![],
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
                    let before = self.s.chain.participant(r, &c.participant).ok();
                    let res = self.s.chain.commit(&relayer, r, vec![c.clone()]);
                    let after = self.s.chain.participant(r, &c.participant).ok();
                    if *forged {
                        // Accepted only as a skip of a participant already committed.
                        assert!(
                            res.is_err()
                                || before.as_ref().and_then(|p| p.commitment.clone()).is_some(),
                            "a forged signature was accepted"
                        );
                    }
                    if let Some(prev) = before.and_then(|p| p.commitment) {
                        assert_eq!(
                            after.and_then(|p| p.commitment),
                            Some(prev),
                            "a commitment was replaced"
                        );
                    }
                }
            }
            Action::Report {
                e,
                round,
                values,
                lie,
            } => {
                if let Some(r) = self.round(*round) {
                    let committed: Vec<usize> = (0..self.keys.len())
                        .filter(|&i| {
                            self.s
                                .chain
                                .participant(r, self.keys[i].address())
                                .map(|p| p.commitment.is_some())
                                .unwrap_or(false)
                        })
                        .collect();
                    let n = committed.len();
                    let spec = self.s.chain.round(r).expect("round").spec;
                    let utilities: Vec<f64> = (0..1usize << n)
                        .map(|m| {
                            if m == 0 {
                                0.0
                            } else {
                                values[m] as f64 / 1000.0
                            }
                        })
                        .collect();
                    let table = UtilityTable {
                        participants: committed
                            .iter()
                            .map(|&i| self.keys[i].address().to_string())
                            .collect(),
                        validation_set_hash: spec.validation_set_hash,
                        estimator: Estimator::Exact,
                        utilities: pack_utilities(&utilities).expect("finite"),
                    };
                    let report = match (shapley(&table), grand_value(&table)) {
                        (Ok((num, den)), Ok((g, gd))) => {
                            let values: Vec<String> = num
                                .iter()
                                .enumerate()
                                .map(|(k, &x)| {
                                    let v = nanos_to_decimal(x, den);
                                    let v = if *lie && k == 0 {
                                        v + cosmwasm_std::SignedDecimal::percent(50)
                                    } else {
                                        v
                                    };
                                    v.to_string()
                                })
                                .collect();
                            let pairs: Vec<(&ParticipantKey, &str)> = committed
                                .iter()
                                .zip(&values)
                                .map(|(&i, v)| (&self.keys[i], v.as_str()))
                                .collect();
                            let mut report =
                                report_of(&nanos_to_decimal(g, gd).to_string(), &pairs);
                            report.table_hash = HexBinary::from(table.hash().to_vec());
                            report
                        }
                        // No one committed: an empty report (refused at reveal if anyone has).
                        _ => report_of("0", &[]),
                    };
                    let ev = self.s.evaluators[*e].clone();
                    if self.s.chain.serve(&ev, r, BOND).is_ok() {
                        self.deposited += BOND;
                    }
                    let salt = [*e as u8 + 1; 32];
                    if self.s.chain.commit_report(&ev, r, &report, &salt).is_ok() {
                        self.pending.insert((*e, r), (report, salt, table));
                    }
                }
            }
            Action::Reveal { e, round, tamper } => {
                if let Some(r) = self.round(*round) {
                    if let Some((report, salt, table)) = self.pending.get(&(*e, r)).cloned() {
                        let mut shown = report.clone();
                        if *tamper {
                            shown.delta_u += cosmwasm_std::SignedDecimal::percent(1);
                        }
                        let ev = self.s.evaluators[*e].clone();
                        let res = self.s.chain.reveal_report(&ev, r, shown, &salt);
                        if *tamper {
                            assert!(res.is_err(), "a tampered report opened a commitment");
                        } else if res.is_ok() {
                            self.pending.remove(&(*e, r));
                            self.tables.insert((*e, r), table);
                        }
                    }
                }
            }
            Action::Dispute { p, e, round } => {
                if let Some(r) = self.round(*round) {
                    if let Some(table) = self.tables.get(&(*e, r)).cloned() {
                        let who = Addr::unchecked(self.keys[*p].address());
                        let ev = self.s.evaluators[*e].clone();
                        if self.s.chain.dispute(&who, r, &ev, table, 500).is_ok() {
                            self.deposited += 500;
                        }
                    }
                }
            }
            Action::ClaimEvaluator { e, round } => {
                if let Some(r) = self.round(*round) {
                    let ev = self.s.evaluators[*e].clone();
                    let phase = self.s.chain.round(r).expect("round").phase;
                    if self.s.chain.claim(&ev, r).is_ok() {
                        assert!(
                            matches!(phase, Phase::Settled | Phase::Failed),
                            "an evaluator claimed while the round was {phase:?}"
                        );
                        *self.evaluator_claims.entry((*e, r)).or_default() += 1;
                    }
                }
            }
            Action::Settle { round, limit } => {
                if let Some(r) = self.round(*round) {
                    let anyone = self.s.chain.addr("anyone");
                    let _ = match limit {
                        Some(l) => self.s.chain.settle_page(&anyone, r, Some(*l)),
                        None => self.s.settle_now(r),
                    };
                }
            }
            Action::Claim { p, round } => {
                if let Some(r) = self.round(*round) {
                    let k = self.keys[*p].clone();
                    let phase = self.s.chain.round(r).expect("round").phase;
                    let before = self.s.chain.token_balance(k.address()).expect("balance");
                    if self.s.claim(&k, r).is_ok() {
                        assert!(
                            matches!(phase, Phase::Settled | Phase::Failed),
                            "a claim succeeded while the round was {phase:?}"
                        );
                        *self.claims.entry((*p, r)).or_default() += 1;
                        let after = self.s.chain.token_balance(k.address()).expect("balance");
                        self.claimed_rewards.insert((*p, r), after - before);
                    }
                }
            }
            Action::DaoStake { p, amount } => {
                let k = self.keys[*p].clone();
                let d = self.s.chain.d.clone();
                let _ = governance::stake(&mut self.s.chain.app, &d, &k, *amount);
            }
            Action::DaoPropose { p, kind } => {
                let k = self.keys[*p].clone();
                let d = self.s.chain.d.clone();
                let msg = |m: serde_json::Value, contract: &Addr| -> CosmosMsg {
                    WasmMsg::Execute {
                        contract_addr: contract.to_string(),
                        msg: to_json_binary(&m).expect("json"),
                        funds: vec![],
                    }
                    .into()
                };
                let msgs = match kind {
                    ProposalKind::Budget(b) => {
                        let mut params = self.s.chain.rm_config().expect("config").params;
                        params.rewards.budget = Uint128::new(*b);
                        vec![msg(
                            serde_json::to_value(ExecuteMsg::UpdateParams { params })
                                .expect("json"),
                            &d.round_manager,
                        )]
                    }
                    ProposalKind::Spend(a) => vec![msg(
                        serde_json::json!({"transfer": {"recipient": k.address(), "amount": a.to_string()}}),
                        &d.token,
                    )],
                    ProposalKind::Allowance(a) => vec![msg(
                        serde_json::json!({"increase_allowance": {"spender": k.address(), "amount": a.to_string()}}),
                        &d.token,
                    )],
                };
                let res = governance::propose(&mut self.s.chain.app, &d, &k, 1_000, "p", "", msgs);
                match (kind, res) {
                    (ProposalKind::Allowance(_), Ok(_)) => {
                        panic!("a proposal granting an allowance on the staking token was accepted")
                    }
                    (_, Ok(id)) => self.proposals.push(id),
                    _ => {}
                }
            }
            Action::DaoVote { p, proposal, yes } => {
                if let Some(&id) = self.proposals.get(*proposal) {
                    let k = self.keys[*p].clone();
                    let d = self.s.chain.d.clone();
                    let v = if *yes { Vote::Yes } else { Vote::No };
                    let _ = governance::vote(&mut self.s.chain.app, &d, &k, id, v);
                }
            }
            Action::DaoExecute { proposal } => {
                if let Some(&id) = self.proposals.get(*proposal) {
                    let k = self.keys[0].clone();
                    let d = self.s.chain.d.clone();
                    let _ = governance::execute(&mut self.s.chain.app, &d, &k, id);
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
            self.claims
                .values()
                .chain(self.evaluator_claims.values())
                .all(|&n| n == 1),
            "nothing is claimed twice"
        );
        let owed = t.unclaimed_rewards.u128();
        if let Some(cap) = c.minter().expect("minter").and_then(|m| m.cap) {
            assert!(
                info.total_supply.u128() + owed <= cap.u128(),
                "rewards owed no longer fit under the cap: a claim could fail"
            );
        }
        if let Some(dao) = &c.d.dao {
            let locked: LockedResponse = c
                .app
                .wrap()
                .query_wasm_smart(dao, &fairshare_protocol::dao::QueryMsg::Locked {})
                .expect("locked");
            let held = c.token_balance(dao.as_str()).expect("balance");
            assert!(
                held >= locked.staked.u128() + locked.unbonding.u128() + locked.deposits.u128(),
                "the DAO holds less than its stakers' tokens"
            );
            for k in &self.keys {
                let a: cw20::AllowanceResponse = c
                    .app
                    .wrap()
                    .query_wasm_smart(
                        &c.d.token,
                        &cw20::Cw20QueryMsg::Allowance {
                            owner: dao.to_string(),
                            spender: k.address().to_string(),
                        },
                    )
                    .expect("allowance");
                assert!(a.allowance.is_zero(), "the DAO granted an allowance");
            }
        }
        for (&(p, r), &got) in &self.claimed_rewards {
            if let Ok(res) = c
                .app
                .wrap()
                .query_wasm_smart::<fairshare_protocol::round_manager::ParticipantResult>(
                    &c.d.round_manager,
                    &fairshare_protocol::round_manager::QueryMsg::Result {
                        round_id: r,
                        participant: self.keys[p].address().to_string(),
                    },
                )
            {
                assert_eq!(res.reward.u128(), got, "a claim paid other than its result");
            }
        }
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
                    s.pool + s.evaluator_pool <= round.params.rewards.budget,
                    "a round paid more than its budget"
                );
                let paid: u128 = c
                    .results(r)
                    .expect("results")
                    .iter()
                    .map(|x| x.reward.u128())
                    .sum();
                assert_eq!(
                    paid + s.evaluator_rewards.u128() + s.dust.u128(),
                    s.pool.u128() + s.evaluator_pool.u128(),
                    "rewards and dust are exactly what was reserved"
                );
                let evaluators: u128 = self
                    .s
                    .evaluators
                    .iter()
                    .filter_map(|e| c.evaluator_result(r, e).ok())
                    .map(|x| x.reward.u128())
                    .sum();
                assert_eq!(evaluators, s.evaluator_rewards.u128());
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
    let cases = std::env::var("FAIRSHARE_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let mut runner = TestRunner::new(Config {
        cases,
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
            values: (0..16).map(|m| 100 * (m as i64 % 5)).collect(),
            lie: false,
        },
        Action::Report {
            e: 1,
            round: 0,
            values: (0..16).map(|m| 100 * (m as i64 % 5)).collect(),
            lie: false,
        },
        Action::Report {
            e: 2,
            round: 0,
            values: (0..16).map(|m| 100 * (m as i64 % 5)).collect(),
            lie: true,
        },
        Action::Report {
            e: 3,
            round: 0,
            values: (0..16).map(|m| 100 * (m as i64 % 5)).collect(),
            lie: false,
        },
        Action::Settle {
            round: 0,
            limit: None,
        }, // refused: the round is still Evaluating
        Action::Advance { blocks: 12 },
        Action::Reveal {
            e: 0,
            round: 0,
            tamper: true,
        }, // refused: it does not open the commitment
        Action::Reveal {
            e: 0,
            round: 0,
            tamper: false,
        },
        Action::Reveal {
            e: 1,
            round: 0,
            tamper: false,
        },
        Action::Reveal {
            e: 2,
            round: 0,
            tamper: false,
        },
        Action::Reveal {
            e: 3,
            round: 0,
            tamper: false,
        },
        Action::Dispute {
            p: 3,
            e: 0,
            round: 0,
        }, // rejected: consistent, deposit forfeited
        Action::Dispute {
            p: 2,
            e: 2,
            round: 0,
        }, // upheld: the liar is struck out
        Action::Advance { blocks: 12 },
        Action::Settle {
            round: 0,
            limit: Some(4),
        },
        Action::Claim { p: 0, round: 0 }, // refused: settlement is under way
        Action::Settle {
            round: 0,
            limit: None,
        },
        Action::Claim { p: 0, round: 0 },
        Action::Claim { p: 0, round: 0 },
        Action::Claim { p: 1, round: 0 },
        Action::Claim { p: 2, round: 0 }, // the challenger whose dispute was upheld
        Action::Claim { p: 3, round: 0 }, // pays nothing: its deposit was forfeited
        Action::ClaimEvaluator { e: 0, round: 0 }, // refused: the appeal window
        Action::Advance { blocks: 10 },
        Action::ClaimEvaluator { e: 0, round: 0 },
        Action::ClaimEvaluator { e: 1, round: 0 },
        Action::ClaimEvaluator { e: 2, round: 0 },
        Action::ClaimEvaluator { e: 3, round: 0 },
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
    assert_eq!(m.claims.len(), 4);
    assert_eq!(m.evaluator_claims.len(), 4);
    let disputes: fairshare_protocol::round_manager::DisputesResponse =
        m.s.chain
            .app
            .wrap()
            .query_wasm_smart(
                &m.s.chain.d.round_manager,
                &fairshare_protocol::round_manager::QueryMsg::Disputes {
                    round_id: m.rounds[0],
                },
            )
            .expect("disputes");
    let upheld: Vec<bool> = disputes.disputes.iter().map(|d| d.upheld).collect();
    assert_eq!(upheld.iter().filter(|u| **u).count(), 1, "{disputes:?}");
    assert_eq!(upheld.len(), 2);
}
