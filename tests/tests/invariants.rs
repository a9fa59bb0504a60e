//! Property tests: random sequences of messages — joins, commits (forged, copied, repeated),
//! evaluator bonds (some below the minimum), report commitments and reveals (honest, lying,
//! and wrong reveals: a changed score, another salt, another evaluator's report), disputes
//! with the committed utility tables (consistent or not) and with tables that are not the
//! committed ones, settlement pages of random sizes interleaved with everything else, claims
//! by participants, challengers and evaluators, and DAO stakes, proposals, votes and
//! executions — and after every step that executes a message (a refused message and the
//! passing of time change no balance) the invariants of DESIGN §2:
//!
//! - tokens are conserved: the reward token's supply equals the sum of its balances and grows
//!   only by what the escrow minted; the stake asset only moves between its holders;
//! - the escrow holds exactly its locked stakes, bonds and deposits plus what ended rounds owe
//!   back, and what was paid in is held by the escrow, slashed to the treasury or paid back;
//! - slashes reach the treasury; rewards owed always fit under the token's cap (so no claim can
//!   fail);
//! - nothing is claimed twice or before its round has ended, and every claim pays exactly what
//!   the escrow showed as claimable in each of the claimant's roles;
//! - a settled round pays at most its budget, exactly its reservation in rewards and dust, and
//!   slashes exactly its participants', evaluators' and challengers' forfeits;
//! - a dispute is upheld exactly when the report does not follow from its table, a table other
//!   than the committed one is refused without effect, and no wrong reveal opens a commitment;
//! - only the owner changes parameters; the DAO never holds less than its stakers' tokens and
//!   never grants an allowance on them.
//!
//! `FAIRSHARE_PROPTEST_CASES` sets the number of random sequences (default 10,000).

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{exact_table, report_from_table, Scenario, BOND};
use cosmwasm_std::{to_json_binary, Addr, Binary, CosmosMsg, SignedDecimal, Uint128, WasmMsg};
use cw_multi_test::Executor;
use fairshare_protocol::dao::{Duration, LockedResponse, Vote};
use fairshare_protocol::escrow::{self, Role, StakeStatus};
use fairshare_protocol::report::UtilityTable;
use fairshare_protocol::round_manager::{self as rm, ExecuteMsg, Phase, Report};
use fairshare_relayer::keys::ParticipantKey;
use fairshare_relayer::ops::governance;
use proptest::prelude::*;

const PARTICIPANTS: usize = 4;
/// One more than the quorum of 3, so a round survives one struck-out report or no-show.
const EVALUATORS: usize = 4;
/// The default dispute deposit.
const DEPOSIT: u128 = 500;

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
    /// Evaluator `e` bonds `bond` (refused below the minimum).
    Serve {
        e: usize,
        round: usize,
        bond: u128,
    },
    /// Evaluator `e` bonds the minimum (if it has not bonded) and commits to a report derived
    /// from a utility table of random values; a liar's φ do not follow from its table.
    Report {
        e: usize,
        round: usize,
        values: Vec<i64>,
        lie: bool,
    },
    /// Evaluator `e` reveals its pending report, or tries a wrong reveal.
    Reveal {
        e: usize,
        round: usize,
        wrong: Option<WrongReveal>,
    },
    /// Participant `p` disputes evaluator `e`'s revealed report with the table it committed
    /// to, or with an altered table.
    Dispute {
        p: usize,
        e: usize,
        round: usize,
        altered: bool,
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

/// A reveal that must not open the commitment.
#[derive(Debug, Clone, Copy)]
enum WrongReveal {
    /// The committed report with its first score changed.
    Score,
    /// The committed report with another salt.
    Salt,
    /// Another evaluator's report and salt (copied once revealed, or leaked).
    CopyOf(usize),
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

/// A bond: the minimum or more, and now and then one short of it.
fn bond() -> impl Strategy<Value = u128> {
    prop_oneof![1 => Just(BOND - 1), 4 => BOND..3 * BOND]
}

fn wrong_reveal() -> impl Strategy<Value = WrongReveal> {
    prop_oneof![
        Just(WrongReveal::Score),
        Just(WrongReveal::Salt),
        (0..EVALUATORS).prop_map(WrongReveal::CopyOf),
    ]
}

/// Utilities of every coalition of the participants (in thousandths; the empty one is 0).
fn utilities() -> impl Strategy<Value = Vec<i64>> {
    prop::collection::vec(-200i64..1_000, 1 << PARTICIPANTS)
}

fn action() -> impl Strategy<Value = Action> {
    let p = 0..PARTICIPANTS;
    let e = 0..EVALUATORS;
    let r = 0usize..2;
    prop_oneof![
        1 => Just(Action::Open),
        6 => (p.clone(), r.clone(), 50u128..2_000).prop_map(|(p, round, stake)| Action::Join { p, round, stake }),
        6 => (p.clone(), r.clone(), prop::bool::weighted(0.2), proptest::option::weighted(0.2, 0..PARTICIPANTS))
            .prop_map(|(p, round, forged, copy_of)| Action::Commit { p, round, forged, copy_of }),
        2 => (e.clone(), r.clone(), bond()).prop_map(|(e, round, bond)| Action::Serve { e, round, bond }),
        6 => (e.clone(), r.clone(), utilities(), prop::bool::weighted(0.2))
            .prop_map(|(e, round, values, lie)| Action::Report { e, round, values, lie }),
        4 => (e.clone(), r.clone(), proptest::option::weighted(0.3, wrong_reveal()))
            .prop_map(|(e, round, wrong)| Action::Reveal { e, round, wrong }),
        2 => (p.clone(), e.clone(), r.clone(), prop::bool::weighted(0.3))
            .prop_map(|(p, e, round, altered)| Action::Dispute { p, e, round, altered }),
        2 => (e, r.clone()).prop_map(|(e, round)| Action::ClaimEvaluator { e, round }),
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

/// What one evaluator does in a scripted cycle.
#[derive(Debug, Clone)]
struct EvaluatorPlan {
    /// Bonds this much while the round is open (else the minimum when it reports).
    early_bond: Option<u128>,
    report: bool,
    values: Vec<i64>,
    lie: bool,
    /// A wrong reveal tried first.
    wrong: Option<WrongReveal>,
    reveal: bool,
    /// Disputed by participant `p`, with an altered table or the committed one.
    dispute: Option<(usize, bool)>,
}

fn evaluator_plan() -> impl Strategy<Value = EvaluatorPlan> {
    (
        proptest::option::weighted(0.3, bond()),
        prop::bool::weighted(0.85),
        utilities(),
        prop::bool::weighted(0.2),
        proptest::option::weighted(0.15, wrong_reveal()),
        prop::bool::weighted(0.9),
        proptest::option::weighted(0.3, (0..PARTICIPANTS, prop::bool::weighted(0.25))),
    )
        .prop_map(
            |(early_bond, report, values, lie, wrong, reveal, dispute)| EvaluatorPlan {
                early_bond,
                report,
                values,
                lie,
                wrong,
                reveal,
                dispute,
            },
        )
}

/// One round played through with random choices at every step, with random noise between
/// phases, so that sequences reach settlement and claims as well as every failure path. With
/// the schedule of [`Model::new`] (join 4, train 4, evaluate 12, reveal 6, dispute 4, settle
/// 12 blocks) and no noise, the reveals fall at the start of the reveal window and `wait`
/// reaches the dispute deadline, where settlement starts.
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
        prop::collection::vec(evaluator_plan(), EVALUATORS),
        prop::bool::weighted(0.8),
        prop::collection::vec(prop::bool::weighted(0.8), p),
        prop::collection::vec(prop::collection::vec(action(), 0..4), 4),
        prop::collection::vec(1u32..12, 0..4),
    )
        .prop_map(
            move |(joins, commits, evaluators, wait, claims, noise, pages)| {
                let mut out = vec![Action::Open];
                out.extend(joins.iter().enumerate().filter(|(_, j)| j.0).map(|(p, j)| {
                    Action::Join {
                        p,
                        round: k,
                        stake: j.1,
                    }
                }));
                out.extend(evaluators.iter().enumerate().filter_map(|(e, plan)| {
                    plan.early_bond
                        .map(|bond| Action::Serve { e, round: k, bond })
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
                    evaluators
                        .iter()
                        .enumerate()
                        .filter(|(_, plan)| plan.report)
                        .map(|(e, plan)| Action::Report {
                            e,
                            round: k,
                            values: plan.values.clone(),
                            lie: plan.lie,
                        }),
                );
                out.extend(noise[2].clone());
                out.push(Action::Advance { blocks: 12 });
                // Reveals (wrong ones first; most evaluators show up), then disputes.
                for (e, plan) in evaluators.iter().enumerate() {
                    if plan.wrong.is_some() {
                        out.push(Action::Reveal {
                            e,
                            round: k,
                            wrong: plan.wrong,
                        });
                    }
                    if plan.reveal {
                        out.push(Action::Reveal {
                            e,
                            round: k,
                            wrong: None,
                        });
                    }
                }
                out.extend(evaluators.iter().enumerate().filter_map(|(e, plan)| {
                    plan.dispute.map(|(p, altered)| Action::Dispute {
                        p,
                        e,
                        round: k,
                        altered,
                    })
                }));
                out.push(Action::Advance {
                    blocks: if wait { 10 } else { 4 },
                });
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

/// A committed report with what opens it and what it was derived from.
#[derive(Debug, Clone)]
struct Committed {
    report: Report,
    salt: [u8; 32],
    table: UtilityTable,
    /// Its φ do not follow from its table.
    lie: bool,
}

struct Model {
    s: Scenario,
    keys: Vec<ParticipantKey>,
    rounds: Vec<u64>,
    /// Successful claims by claimant and round.
    claims: BTreeMap<(Addr, u64), u32>,
    /// Reports committed and not yet revealed, by evaluator and round.
    pending: BTreeMap<(usize, u64), Committed>,
    /// Revealed reports, for disputes.
    revealed: BTreeMap<(usize, u64), Committed>,
    /// Rounds whose settled figures have been checked.
    audited: BTreeSet<u64>,
    /// Disputes heard: upheld, rejected.
    disputes: (usize, usize),
    proposals: Vec<u64>,
    /// Stake asset paid into the escrow (stakes, bonds and deposits)...
    deposited: u128,
    /// ...and paid back out of it by claims.
    returned: u128,
    /// Everyone who ever holds the stake asset, and what they hold together.
    holders: Vec<String>,
    stake_total: u128,
    initial_supply: u128,
}

impl Model {
    fn new() -> Self {
        let mut s = Scenario::with(EVALUATORS, 3, |o| {
            o.params.schedule = rm::Schedule {
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
        let holders = s.stake_holders(&keys);
        let stake_total = s.held_by(&holders);
        Self {
            s,
            keys,
            rounds: vec![],
            claims: BTreeMap::new(),
            pending: BTreeMap::new(),
            revealed: BTreeMap::new(),
            audited: BTreeSet::new(),
            disputes: (0, 0),
            proposals: vec![],
            deposited: 0,
            returned: 0,
            holders,
            stake_total,
            initial_supply,
        }
    }

    fn round(&self, i: usize) -> Option<u64> {
        self.rounds.get(i).copied()
    }

    fn phase(&self, round: u64) -> Phase {
        self.s.chain.round(round).expect("round").phase
    }

    /// What `who` can claim in `round` across its roles, as the escrow shows it:
    /// `(stake returned, reward)`.
    fn claimable(&self, who: &Addr, round: u64) -> (u128, u128) {
        let mut due = (0, 0);
        for role in [Role::Participant, Role::Evaluator, Role::Challenger] {
            if let Ok(escrow::StakeResponse {
                status:
                    StakeStatus::Claimable {
                        stake_return,
                        reward,
                    },
                ..
            }) = self.s.bond(round, who.as_str(), role)
            {
                due.0 += stake_return.u128();
                due.1 += reward.u128();
            }
        }
        due
    }

    /// `who` claims in `round`; a claim that succeeds must come after the round's end, be the
    /// claimant's first, and pay exactly what the escrow showed as claimable.
    fn claim(&mut self, who: Addr, round: u64) -> bool {
        let phase = self.phase(round);
        let due = self.claimable(&who, round);
        let balances = |m: &Self| {
            (
                m.s.balance(who.as_str()),
                m.s.chain.token_balance(who.as_str()).expect("balance"),
            )
        };
        let before = balances(self);
        let claimed = self.s.chain.claim(&who, round).is_ok();
        if claimed {
            assert!(
                matches!(phase, Phase::Settled | Phase::Failed),
                "a claim succeeded while the round was {phase:?}"
            );
            let after = balances(self);
            assert_eq!(
                (after.0 - before.0, after.1 - before.1),
                due,
                "a claim paid other than what the escrow showed"
            );
            self.returned += due.0;
            *self.claims.entry((who, round)).or_default() += 1;
        }
        claimed
    }

    /// Applies `a`; whether a message of it was executed (a refused message changes
    /// nothing, and neither does the passing of time, so only then can an invariant break).
    fn apply(&mut self, a: &Action) -> bool {
        let round = |i: &usize| self.round(*i);
        match a {
            Action::Open => match self.s.chain.open_round("prop") {
                Ok(id) => {
                    self.rounds.push(id);
                    true
                }
                Err(_) => false,
            },
            Action::Join { p, round: i, stake } => round(i).is_some_and(|r| {
                let k = self.keys[*p].clone();
                let joined = self.s.chain.join(&k, r, *stake).is_ok();
                if joined {
                    self.deposited += stake;
                }
                joined
            }),
            Action::Commit {
                p,
                round: i,
                forged,
                copy_of,
            } => round(i).is_some_and(|r| self.commit(*p, r, *forged, *copy_of)),
            Action::Serve { e, round: i, bond } => round(i).is_some_and(|r| {
                let ev = self.s.evaluators[*e].clone();
                let bonded = self.s.chain.serve(&ev, r, *bond).is_ok();
                if bonded {
                    assert!(*bond >= BOND, "a bond below the minimum was accepted");
                    self.deposited += bond;
                }
                bonded
            }),
            Action::Report {
                e,
                round: i,
                values,
                lie,
            } => round(i).is_some_and(|r| self.report(*e, r, values, *lie)),
            Action::Reveal { e, round: i, wrong } => {
                round(i).is_some_and(|r| self.reveal(*e, r, *wrong))
            }
            Action::Dispute {
                p,
                e,
                round: i,
                altered,
            } => round(i).is_some_and(|r| self.dispute(*p, *e, r, *altered)),
            Action::ClaimEvaluator { e, round: i } => {
                round(i).is_some_and(|r| self.claim(self.s.evaluators[*e].clone(), r))
            }
            Action::Settle { round: i, limit } => round(i).is_some_and(|r| {
                let anyone = self.s.chain.addr("anyone");
                match limit {
                    Some(l) => self.s.chain.settle_page(&anyone, r, Some(*l)).is_ok(),
                    None => self.s.settle_now(r).is_ok(),
                }
            }),
            Action::Claim { p, round: i } => {
                round(i).is_some_and(|r| self.claim(Addr::unchecked(self.keys[*p].address()), r))
            }
            Action::DaoStake { p, amount } => {
                let k = self.keys[*p].clone();
                let d = self.s.chain.d.clone();
                governance::stake(&mut self.s.chain.app, &d, &k, *amount).is_ok()
            }
            Action::DaoPropose { p, kind } => self.propose(*p, *kind),
            Action::DaoVote { p, proposal, yes } => {
                self.proposals.get(*proposal).copied().is_some_and(|id| {
                    let k = self.keys[*p].clone();
                    let d = self.s.chain.d.clone();
                    let v = if *yes { Vote::Yes } else { Vote::No };
                    governance::vote(&mut self.s.chain.app, &d, &k, id, v).is_ok()
                })
            }
            Action::DaoExecute { proposal } => {
                self.proposals.get(*proposal).copied().is_some_and(|id| {
                    let k = self.keys[0].clone();
                    let d = self.s.chain.d.clone();
                    governance::execute(&mut self.s.chain.app, &d, &k, id).is_ok()
                })
            }
            Action::Advance { blocks } => {
                self.s.chain.advance(*blocks);
                false
            }
            Action::Transfer { from, to, amount } => self
                .s
                .chain
                .app
                .execute_contract(
                    Addr::unchecked(self.keys[*from].address()),
                    self.s.chain.d.token.clone(),
                    &cw20::Cw20ExecuteMsg::Transfer {
                        recipient: self.keys[*to].address().to_string(),
                        amount: Uint128::new(*amount),
                    },
                    &[],
                )
                .is_ok(),
            Action::ChangeBudget { by_owner, budget } => self.change_budget(*by_owner, *budget),
        }
    }

    fn commit(&mut self, p: usize, r: u64, forged: bool, copy_of: Option<usize>) -> bool {
        let label = format!("u/{}", copy_of.unwrap_or(p));
        let signer = if forged {
            self.s.chain.key("mallory")
        } else {
            self.keys[p].clone()
        };
        let mut c = self.s.signed(&signer, r, &label);
        c.participant = self.keys[p].address().to_string();
        let relayer = self.s.relayer.clone();
        let before = self.s.chain.participant(r, &c.participant).ok();
        let res = self.s.chain.commit(&relayer, r, vec![c.clone()]);
        let after = self.s.chain.participant(r, &c.participant).ok();
        if forged {
            // Accepted only as a skip of a participant already committed.
            assert!(
                res.is_err() || before.as_ref().and_then(|p| p.commitment.clone()).is_some(),
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
        res.is_ok()
    }

    /// Evaluator `e` values the committed participants with a table of `values` (in
    /// thousandths) and commits to the report that follows from it (or, lying, to one whose
    /// first φ is 0.5 more).
    fn report(&mut self, e: usize, r: u64, values: &[i64], lie: bool) -> bool {
        let committed: Vec<&ParticipantKey> = self
            .keys
            .iter()
            .filter(|k| {
                self.s
                    .chain
                    .participant(r, k.address())
                    .map(|p| p.commitment.is_some())
                    .unwrap_or(false)
            })
            .collect();
        if committed.is_empty() {
            return false; // nothing to evaluate: the round cannot be Evaluating
        }
        let utilities: Vec<f64> = (0..1usize << committed.len())
            .map(|m| {
                if m == 0 {
                    0.0
                } else {
                    values[m] as f64 / 1000.0
                }
            })
            .collect();
        let table = exact_table(&committed, self.s.validation_set_hash(r), &utilities);
        let mut report = report_from_table(&table);
        if lie {
            report.scores[0].value += SignedDecimal::percent(50);
        }
        let ev = self.s.evaluators[e].clone();
        let bonded = self.s.chain.serve(&ev, r, BOND).is_ok();
        if bonded {
            self.deposited += BOND;
        }
        let salt = [e as u8 + 1; 32];
        let committed = self.s.chain.commit_report(&ev, r, &report, &salt).is_ok();
        if committed {
            self.pending.insert(
                (e, r),
                Committed {
                    report,
                    salt,
                    table,
                    lie,
                },
            );
        }
        bonded || committed
    }

    /// Evaluator `e` reveals its pending report; a wrong reveal must be refused and change
    /// nothing.
    fn reveal(&mut self, e: usize, r: u64, wrong: Option<WrongReveal>) -> bool {
        let Some(c) = self.pending.get(&(e, r)).cloned() else {
            return false;
        };
        let (shown, salt) = match wrong {
            None => (c.report.clone(), c.salt),
            Some(WrongReveal::Score) => {
                let mut changed = c.report.clone();
                changed.scores[0].value += SignedDecimal::permille(1);
                (changed, c.salt)
            }
            Some(WrongReveal::Salt) => (c.report.clone(), [0xee; 32]),
            Some(WrongReveal::CopyOf(o)) => {
                let other = (o + usize::from(o == e)) % EVALUATORS;
                match self
                    .revealed
                    .get(&(other, r))
                    .or_else(|| self.pending.get(&(other, r)))
                {
                    Some(copied) => (copied.report.clone(), copied.salt),
                    None => (c.report.clone(), [0xee; 32]),
                }
            }
        };
        let ev = self.s.evaluators[e].clone();
        let reports = self.s.chain.round(r).expect("round").reports;
        let res = self.s.chain.reveal_report(&ev, r, shown, &salt);
        if wrong.is_some() {
            assert!(res.is_err(), "a wrong reveal opened a commitment");
            assert_eq!(self.s.chain.round(r).expect("round").reports, reports);
        } else if res.is_ok() {
            self.pending.remove(&(e, r));
            self.revealed.insert((e, r), c);
        }
        res.is_ok()
    }

    /// Participant `p` disputes evaluator `e`'s revealed report. With the committed table the
    /// dispute is upheld exactly when the report lied; an altered table is refused and changes
    /// nothing.
    fn dispute(&mut self, p: usize, e: usize, r: u64, altered: bool) -> bool {
        let Some(c) = self.revealed.get(&(e, r)).cloned() else {
            return false;
        };
        let mut table = c.table;
        if altered {
            let mut bytes = table.utilities.to_vec();
            if let Some(last) = bytes.last_mut() {
                *last ^= 1;
            }
            table.utilities = Binary::from(bytes);
        }
        let who = Addr::unchecked(self.keys[p].address());
        let ev = self.s.evaluators[e].clone();
        let before = (self.s.chain.totals().expect("totals"), self.s.disputes(r));
        let res = self.s.chain.dispute(&who, r, &ev, table, DEPOSIT);
        if altered {
            assert!(
                res.is_err(),
                "a table other than the committed one was heard"
            );
            assert_eq!(
                (self.s.chain.totals().expect("totals"), self.s.disputes(r)),
                before
            );
        } else if res.is_ok() {
            self.deposited += DEPOSIT;
            let heard = self
                .s
                .disputes(r)
                .into_iter()
                .find(|d| d.evaluator == ev)
                .expect("the dispute is recorded");
            assert_eq!(
                heard.upheld, c.lie,
                "a dispute is upheld exactly when the report does not follow from its table"
            );
            if heard.upheld {
                self.disputes.0 += 1;
            } else {
                self.disputes.1 += 1;
            }
        }
        res.is_ok()
    }

    fn propose(&mut self, p: usize, kind: ProposalKind) -> bool {
        let k = self.keys[p].clone();
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
                params.rewards.budget = Uint128::new(b);
                vec![msg(
                    serde_json::to_value(ExecuteMsg::UpdateParams { params }).expect("json"),
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
            (_, Ok(id)) => {
                self.proposals.push(id);
                true
            }
            _ => false,
        }
    }

    fn change_budget(&mut self, by_owner: bool, budget: u128) -> bool {
        let before = self.s.chain.rm_config().expect("config").params;
        let mut params = before.clone();
        params.rewards.budget = Uint128::new(budget);
        let sender = if by_owner {
            self.s.chain.d.owner.clone()
        } else {
            self.s.chain.addr("mallory")
        };
        let res = self.s.update_params(&sender, params);
        let after = self.s.chain.rm_config().expect("config").params;
        if by_owner {
            assert!(res.is_ok());
            assert_eq!(after.rewards.budget.u128(), budget);
        } else {
            assert!(res.is_err(), "a stranger changed the parameters");
            assert_eq!(after, before);
        }
        res.is_ok()
    }

    /// The invariants after a step; a round's settled figures the first time it is settled.
    fn check(&mut self) {
        self.check_balances();
        for r in self.rounds.clone() {
            if !self.audited.contains(&r)
                && self.s.chain.round(r).expect("round").settlement.is_some()
            {
                self.audit(r);
                self.audited.insert(r);
            }
        }
    }

    fn check_balances(&self) {
        let c = &self.s.chain;
        let info = c.token_info().expect("info");
        assert_eq!(
            info.total_supply.u128(),
            c.token_balances_sum().expect("sum"),
            "supply = Σ balances"
        );
        let t = c.totals().expect("totals");
        assert_eq!(
            info.total_supply.u128() - self.initial_supply,
            t.minted_total.u128(),
            "every minted token is a reward or dust"
        );
        assert!(
            self.claims.values().all(|&n| n == 1),
            "nothing is claimed twice"
        );
        let owed = t.unclaimed_rewards.u128();
        if let Some(cap) = c.minter().expect("minter").and_then(|m| m.cap) {
            assert!(
                info.total_supply.u128() + owed <= cap.u128(),
                "rewards owed no longer fit under the cap: a claim could fail"
            );
        }
        let escrow = self.s.escrow_balance();
        assert_eq!(
            escrow,
            t.locked.u128() + t.claimable_stake.u128(),
            "the escrow holds its stakes, bonds and deposits and what ended rounds owe back"
        );
        let treasury = self.s.treasury_balance();
        assert_eq!(
            treasury,
            t.slashed_total.u128(),
            "slashes reach the treasury"
        );
        assert_eq!(
            escrow + treasury + self.returned,
            self.deposited,
            "what was paid in is held, slashed or paid back"
        );
        assert_eq!(
            self.s.held_by(&self.holders),
            self.stake_total,
            "the stake asset only moves between its holders"
        );
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
    }

    /// A settled round pays at most its budget, exactly its reservation in rewards and dust,
    /// and slashes exactly what its participants, evaluators and challengers forfeit.
    fn audit(&self, r: u64) {
        let c = &self.s.chain;
        let round = c.round(r).expect("round");
        let s = round.settlement.expect("settled");
        assert!(
            s.pool + s.evaluator_pool <= round.params.rewards.budget,
            "a round paid more than its budget"
        );
        let results = c.results(r).expect("results");
        let paid: u128 = results.iter().map(|x| x.reward.u128()).sum();
        assert_eq!(
            paid + s.evaluator_rewards.u128() + s.dust.u128(),
            s.pool.u128() + s.evaluator_pool.u128(),
            "rewards and dust are exactly what was reserved"
        );
        let evaluators: Vec<rm::EvaluatorResult> = self
            .s
            .evaluators
            .iter()
            .filter_map(|e| c.evaluator_result(r, e).ok())
            .collect();
        assert_eq!(
            evaluators.iter().map(|x| x.reward.u128()).sum::<u128>(),
            s.evaluator_rewards.u128()
        );
        // Challengers forfeit rejected deposits and are paid bounties out of upheld slashes.
        let challengers: i128 = self
            .keys
            .iter()
            .map(|k| {
                let x = self.s.challenger_result(r, k.address());
                x.deposits.u128() as i128 - x.stake_return.u128() as i128
            })
            .sum();
        let forfeits = results.iter().map(|x| x.slash.u128()).sum::<u128>()
            + evaluators.iter().map(|x| x.slash.u128()).sum::<u128>();
        assert_eq!(
            s.total_slashed.u128() as i128,
            forfeits as i128 + challengers,
            "a round slashes exactly what its parties forfeit"
        );
    }

    /// Every settled round once more at the end: nothing after settlement changed its figures.
    fn finish(&self) {
        for &r in &self.audited {
            self.audit(r);
        }
    }
}

#[test]
fn invariants_hold_under_any_sequence() {
    use proptest::test_runner::{Config, TestRunner};
    use std::cell::Cell;
    let settled = Cell::new(0usize);
    let claimed = Cell::new(0usize);
    let disputes = Cell::new((0usize, 0usize));
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
                if m.apply(a) {
                    m.check();
                }
            }
            m.check();
            m.finish();
            settled.set(settled.get() + m.audited.len());
            claimed.set(claimed.get() + m.claims.len());
            let (u, r) = disputes.get();
            disputes.set((u + m.disputes.0, r + m.disputes.1));
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    // The sequences must reach the interesting states, or the invariants were checked on nothing.
    assert!(settled.get() > 0, "no random sequence settled a round");
    assert!(claimed.get() > 0, "no random sequence claimed");
    let (upheld, rejected) = disputes.get();
    assert!(
        upheld > 0 && rejected > 0,
        "no random sequence had both an upheld and a rejected dispute"
    );
    println!(
        "settled rounds: {}, claims: {}, disputes upheld: {upheld}, rejected: {rejected}",
        settled.get(),
        claimed.get()
    );
}

#[test]
fn a_scripted_sequence_reaches_settlement_and_claims() {
    let mut m = Model::new();
    let honest: Vec<i64> = (0..16).map(|m| 100 * (m as i64 % 5)).collect();
    let report = |e: usize, lie: bool| Action::Report {
        e,
        round: 0,
        values: honest.clone(),
        lie,
    };
    let reveal = |e: usize, wrong: Option<WrongReveal>| Action::Reveal { e, round: 0, wrong };
    let dispute = |p: usize, e: usize, altered: bool| Action::Dispute {
        p,
        e,
        round: 0,
        altered,
    };
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
        Action::Serve {
            e: 3,
            round: 0,
            bond: BOND - 1,
        }, // refused: below the minimum
        Action::Serve {
            e: 3,
            round: 0,
            bond: 2 * BOND,
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
        Action::Advance { blocks: 8 },
        report(0, false),
        report(1, false),
        report(2, true),
        report(3, false),
        Action::Settle {
            round: 0,
            limit: None,
        }, // refused: the round is still Evaluating
        Action::Advance { blocks: 12 },
        reveal(0, Some(WrongReveal::Score)), // refused: each does not open the commitment
        reveal(0, Some(WrongReveal::Salt)),
        reveal(0, None),
        reveal(1, Some(WrongReveal::CopyOf(0))),
        reveal(1, None),
        reveal(2, None),
        reveal(3, None),
        dispute(3, 0, true),  // refused: not the committed table
        dispute(3, 0, false), // rejected: consistent, deposit forfeited
        dispute(2, 2, false), // upheld: the liar is struck out
        Action::Advance { blocks: 10 },
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
        Action::Claim { p: 0, round: 0 }, // refused: already claimed
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
    m.finish();
    let r = m.rounds[0];
    assert_eq!(m.phase(r), Phase::Settled);
    assert_eq!(m.audited.len(), 1);
    assert_eq!(m.claims.len(), 8, "four participants and four evaluators");
    let upheld: Vec<bool> = m.s.disputes(r).iter().map(|d| d.upheld).collect();
    assert_eq!(upheld.len(), 2);
    assert_eq!(upheld.iter().filter(|u| **u).count(), 1);
    assert_eq!(m.s.escrow_balance(), 0, "everything was claimed");
}
