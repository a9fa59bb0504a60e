//! One run of the market model: a population of data holders that learn, round by round,
//! which action pays (issue #15, item 4), under one fixed budget per round shared by every
//! cohort (crowding), with evaluators that learn whether to collude.
//!
//! Every party draws from its own random stream (its population draw, its action, its cohort
//! slot, its place in a full cohort's queue), evaluators from theirs, and each cohort slot's
//! panel and validation noise from a stream of (round, slot): removing a party therefore
//! changes nothing else's randomness, which makes a whole-run leave-one-party-out rerun a
//! clean counterfactual (item 2). Identities that a party copies are assigned one slot (data
//! fingerprints are committed before cohorts are formed) unless the scheme ignores
//! near-duplicates.

use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma, LogNormal};

use super::config::{Action, MarketConfig, MarketScheme};
use super::learn::{LearnConfig, Learner};
use super::utility::{split_masks, OwnerData, Player, Utility, ALL, SEGMENTS};
use super::value::{CohortPlayer, CohortResult, Evaluator, Rule, Settlement};
use crate::sim::noise::derive;

/// A data holder.
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    /// Tokens it holds.
    pub tokens: f64,
    /// Data quality in (0, 1].
    pub quality: f64,
    /// Share of its data in each domain.
    pub mix: Vec<f64>,
    /// Compute cost per token, utoken.
    pub cost_per_token: f64,
    /// A fixed adversary (poisons every round).
    pub adversary: bool,
    /// Bribes colluding evaluators.
    pub partner: bool,
    /// Data-size tercile: 0 small, 1 mid, 2 large.
    pub size_type: usize,
}

/// Names of the size types.
pub const SIZE_TYPES: [&str; 3] = ["small data", "mid data", "large data"];

/// A seed's world: its parties and the two utilities.
#[derive(Debug, Clone, PartialEq)]
pub struct World {
    /// Data holders.
    pub agents: Vec<Agent>,
    /// The evaluators' validation utility.
    pub validation: Utility,
    /// The test utility (never shown to evaluators).
    pub test: Utility,
}

fn dirichlet<R: Rng>(alpha: &[f64], rng: &mut R) -> Vec<f64> {
    let mut x: Vec<f64> = alpha
        .iter()
        .map(|&a| {
            Gamma::new(a.max(1e-3), 1.0)
                .map(|g| g.sample(rng))
                .unwrap_or(0.0)
        })
        .collect();
    let s: f64 = x.iter().sum();
    if s > 0.0 {
        x.iter_mut().for_each(|v| *v /= s);
    } else {
        let n = x.len() as f64;
        x.iter_mut().for_each(|v| *v = 1.0 / n);
    }
    x
}

/// The population and utilities of seed `seed_index` (the same for every scheme).
pub fn world(cfg: &MarketConfig, seed_index: usize) -> World {
    let d = cfg.domains;
    let mut wr = ChaCha8Rng::seed_from_u64(derive(cfg.base_seed, &[seed_index as u64, 0x7E57]));
    let test_w = if d == 1 {
        vec![1.0]
    } else {
        dirichlet(&vec![2.0; d], &mut wr)
    };
    let val_w = if d == 1 {
        vec![1.0]
    } else {
        let a: Vec<f64> = test_w
            .iter()
            .map(|w| w * cfg.validation_concentration)
            .collect();
        dirichlet(&a, &mut wr)
    };
    let tokens_dist = LogNormal::new(cfg.median_tokens.ln(), cfg.data_spread.max(0.0))
        .unwrap_or_else(|_| LogNormal::new(cfg.median_tokens.ln(), 1.0).expect("σ = 1 is valid"));
    let cost_dist = LogNormal::new(cfg.cost_per_token_utoken.ln(), 0.4)
        .unwrap_or_else(|_| LogNormal::new(0.0, 0.4).expect("σ = 0.4 is valid"));
    let mut agents: Vec<Agent> = (0..cfg.agents)
        .map(|p| {
            let mut r = ChaCha8Rng::seed_from_u64(derive(
                cfg.base_seed,
                &[seed_index as u64, p as u64, 0xA9E7],
            ));
            let tokens = tokens_dist.sample(&mut r).max(100.0);
            let quality = r.random_range(cfg.quality_min..=1.0);
            let mix = if d == 1 {
                vec![1.0]
            } else {
                dirichlet(&vec![cfg.domain_concentration; d], &mut r)
            };
            let cost_per_token = cost_dist.sample(&mut r);
            let adversary = r.random::<f64>() < cfg.adversary_share;
            let partner = !adversary && r.random::<f64>() < cfg.evaluators.partner_share;
            Agent {
                tokens,
                quality,
                mix,
                cost_per_token,
                adversary,
                partner,
                size_type: 0,
            }
        })
        .collect();
    let mut sorted: Vec<f64> = agents.iter().map(|a| a.tokens).collect();
    sorted.sort_by(f64::total_cmp);
    let (t1, t2) = (sorted[sorted.len() / 3], sorted[2 * sorted.len() / 3]);
    for a in &mut agents {
        a.size_type = usize::from(a.tokens >= t1) + usize::from(a.tokens >= t2);
    }
    let s = cfg.surrogate;
    World {
        agents,
        validation: Utility {
            surrogate: s,
            weights: val_w,
        },
        test: Utility {
            surrogate: s,
            weights: test_w,
        },
    }
}

/// What one party accumulated over a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartyRecord {
    /// Rewards, utoken.
    pub reward: f64,
    /// Slashes, utoken.
    pub slash: f64,
    /// Compute spent, utoken.
    pub compute: f64,
    /// Stake opportunity and per-identity costs, utoken.
    pub stake_cost: f64,
    /// Σ over rounds of its leave-one-party-out contribution on the test utility.
    pub counterfactual: f64,
    /// Rounds played per action (index of [`Action::LEARNED`], then poison).
    pub actions: [u32; 7],
    /// Rounds it had at least one identity in a cohort.
    pub rounds_in: u32,
}

impl PartyRecord {
    /// Reward minus slash, compute and stake costs.
    pub fn net(&self) -> f64 {
        self.reward - self.slash - self.compute - self.stake_cost
    }
}

/// A run's record.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// Per party.
    pub parties: Vec<PartyRecord>,
    /// Per round: share of the learning parties playing each learned action.
    pub shares: Vec<[f64; 6]>,
    /// Per round: Σ over cohorts of the test utility (model quality of the round).
    pub welfare: Vec<f64>,
    /// Per round: share of evaluators colluding.
    pub collusion: Vec<f64>,
    /// Per round: share of learning parties whose in/out choice changed from the last round.
    pub churn: Vec<f64>,
    /// Unilateral deviation gains: (party, action index, mean gain per round over the tail, utoken).
    pub probes: Vec<(usize, usize, f64)>,
    /// Evaluators' mean gain per round from colluding rather than reporting honestly (tail).
    pub evaluator_gain: Vec<f64>,
    /// Evaluators' payoff per round, mean over the tail.
    pub evaluator_payoff: Vec<f64>,
    /// Identity-rounds waiting because their cohort was full.
    pub waitlisted: u64,
}

impl RunRecord {
    /// Σ of the per-round welfare.
    pub fn total_welfare(&self) -> f64 {
        self.welfare.iter().sum()
    }
}

/// One identity of a round.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Ident {
    party: usize,
    mask: u8,
    slot: usize,
    key: u32,
}

/// The identities party `p` fields for `action`, with slots drawn from `rng`.
fn identities<R: Rng>(
    cfg: &MarketConfig,
    scheme: MarketScheme,
    p: usize,
    action: Action,
    rng: &mut R,
    out: &mut Vec<Ident>,
) {
    let slots = cfg.slots();
    let k = cfg.identities;
    // Always draw the same numbers so the stream stays aligned whatever the action.
    let draws: Vec<(usize, u32)> = (0..k)
        .map(|_| (rng.random_range(0..slots), rng.random::<u32>()))
        .collect();
    let mut push = |mask: u8, (slot, key): (usize, u32)| {
        out.push(Ident {
            party: p,
            mask,
            slot,
            key,
        })
    };
    match action {
        Action::Out => {}
        Action::Join | Action::JoinLow | Action::FreeRide | Action::Poison => push(ALL, draws[0]),
        Action::Split => {
            for (m, d) in split_masks(k).into_iter().zip(&draws) {
                push(m, *d);
            }
        }
        Action::Copy => {
            for (i, d) in draws.iter().enumerate() {
                let slot = if scheme.groups() { draws[0].0 } else { d.0 };
                push(ALL, (slot, draws[i].1));
            }
        }
    }
}

fn effort(cfg: &MarketConfig, a: Action) -> f64 {
    match a {
        Action::Out | Action::FreeRide | Action::Poison => 0.0,
        Action::JoinLow => cfg.low_effort,
        _ => 1.0,
    }
}

/// A cohort's inputs built from its identities.
#[allow(clippy::too_many_arguments)]
fn cohort(
    cfg: &MarketConfig,
    scheme: MarketScheme,
    agents: &[Agent],
    actions: &[Action],
    members: &[Ident],
    owners_of: &mut Vec<usize>,
    owners: &mut Vec<OwnerData>,
    players: &mut Vec<CohortPlayer>,
    player_party: &mut Vec<usize>,
) {
    owners_of.clear();
    owners.clear();
    players.clear();
    player_party.clear();
    for id in members {
        let o = match owners_of.iter().position(|&q| q == id.party) {
            Some(o) => o,
            None => {
                let a = &agents[id.party];
                let act = actions[id.party];
                let w = a.quality * a.tokens * effort(cfg, act);
                owners_of.push(id.party);
                owners.push(OwnerData {
                    e: a.mix.iter().map(|m| m * w).collect(),
                    poison: if act == Action::Poison { a.tokens } else { 0.0 },
                });
                owners_of.len() - 1
            }
        };
        let claim = agents[id.party].tokens * f64::from(id.mask.count_ones()) / f64::from(SEGMENTS);
        // Near-duplicates: the same owner's overlapping content is one player.
        if scheme.groups() {
            if let Some(pl) = players
                .iter_mut()
                .find(|pl| pl.player.owner == o && pl.player.mask & id.mask != 0)
            {
                pl.player.mask |= id.mask;
                pl.identities += 1;
                pl.claim = pl.claim.max(claim);
                continue;
            }
        }
        players.push(CohortPlayer {
            player: Player {
                owner: o,
                mask: id.mask,
            },
            identities: 1,
            claim,
            partner: agents[id.party].partner,
        });
        player_party.push(id.party);
    }
}

/// Per-cohort state of a round, kept for probes.
struct Slot {
    members: Vec<Ident>,
    result: Option<CohortResult>,
    colluders: usize,
    panel: Vec<usize>,
}

fn realised(r: &CohortResult, colluders: usize, majority: usize) -> &Settlement {
    match &r.inflated {
        Some(s) if colluders >= majority => s,
        _ => &r.honest,
    }
}

/// Runs `scheme` on seed `seed_index`, optionally without party `exclude`.
pub fn run(
    cfg: &MarketConfig,
    w: &World,
    scheme: MarketScheme,
    seed_index: usize,
    exclude: Option<usize>,
) -> RunRecord {
    let n = w.agents.len();
    let slots_n = cfg.slots();
    let ev_cfg = &cfg.evaluators;
    let majority = ev_cfg.panel / 2 + 1;
    let rule = Rule {
        coalition_sd: cfg.eval_noise * cfg.surrogate.a / (cfg.batches as f64).sqrt(),
        t: cfg.critical_t,
        tau: cfg.free_rider_tau,
        slash_free_rider: cfg.slash_free_rider,
        slash_harmful: cfg.slash_harmful,
        inflation: ev_cfg.inflation,
    };
    let participant_budget = cfg.budget_utoken * (1.0 - ev_cfg.share);
    let mut rngs: Vec<ChaCha8Rng> = (0..n)
        .map(|p| {
            ChaCha8Rng::seed_from_u64(derive(
                cfg.base_seed,
                &[seed_index as u64, p as u64, 0x5EED],
            ))
        })
        .collect();
    let mut learners: Vec<Learner> = (0..n)
        .map(|_| {
            let mut l = Learner::new(vec![true; 6], &cfg.learning);
            l.know(0, 0.0);
            l
        })
        .collect();
    let scale: Vec<f64> = w
        .agents
        .iter()
        .map(|a| {
            a.cost_per_token * cfg.cost_scale * a.tokens
                + cfg.stake_utoken * cfg.stake_rate
                + cfg.identity_cost_utoken
        })
        .collect();
    let mut ev_rngs: Vec<ChaCha8Rng> = (0..ev_cfg.pool)
        .map(|e| {
            ChaCha8Rng::seed_from_u64(derive(
                cfg.base_seed,
                &[seed_index as u64, e as u64, 0xE7A1],
            ))
        })
        .collect();
    // Evaluators start honest: colluding is only explored until it proves to pay.
    let mut ev_learners: Vec<Learner> = (0..ev_cfg.pool)
        .map(|_| {
            Learner::new(
                vec![true, true],
                &LearnConfig {
                    prior: cfg.learning.prior - 1.0,
                    ..cfg.learning
                },
            )
        })
        .collect();
    for l in &mut ev_learners {
        l.set_estimate(0, cfg.learning.prior);
    }
    let fee_scale = cfg.budget_utoken * ev_cfg.share / (slots_n * ev_cfg.panel) as f64;
    let probes: Vec<usize> = {
        let mut r = ChaCha8Rng::seed_from_u64(derive(cfg.base_seed, &[seed_index as u64, 0x9B0B]));
        let learners_idx: Vec<usize> = (0..n).filter(|&p| !w.agents[p].adversary).collect();
        let m = cfg.probes.min(learners_idx.len());
        sample(&mut r, learners_idx.len(), m)
            .into_iter()
            .map(|i| learners_idx[i])
            .collect()
    };
    let mut probe_sum = vec![[0.0f64; 6]; probes.len()];
    let tail_start = cfg.rounds - cfg.tail_rounds;

    let mut rec = RunRecord {
        parties: vec![PartyRecord::default(); n],
        shares: Vec::with_capacity(cfg.rounds),
        welfare: Vec::with_capacity(cfg.rounds),
        collusion: Vec::with_capacity(cfg.rounds),
        churn: Vec::with_capacity(cfg.rounds),
        probes: Vec::new(),
        evaluator_gain: vec![0.0; ev_cfg.pool],
        evaluator_payoff: vec![0.0; ev_cfg.pool],
        waitlisted: 0,
    };
    let mut evaluator = Evaluator::default();
    let mut scratch = Vec::new();
    let mut actions = vec![Action::Out; n];
    let mut was_in = vec![false; n];
    let mut idents: Vec<Ident> = Vec::new();
    let mut slots: Vec<Slot> = (0..slots_n)
        .map(|_| Slot {
            members: Vec::new(),
            result: None,
            colluders: 0,
            panel: Vec::new(),
        })
        .collect();
    let (mut owners_of, mut owners, mut players, mut player_party) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut payoff = vec![0.0; n];
    let mut kept_ids = vec![0u32; n];
    let mut ev_action = vec![0usize; ev_cfg.pool];
    let mut ev_pay = vec![0.0; ev_cfg.pool];
    let mut ev_gain = vec![0.0; ev_cfg.pool];

    for t in 0..cfg.rounds {
        // 1. Choices.
        idents.clear();
        let mut counts = [0usize; 6];
        let mut learning = 0usize;
        let mut switched = 0usize;
        for p in 0..n {
            if Some(p) == exclude {
                actions[p] = Action::Out;
                continue;
            }
            let a = if w.agents[p].adversary {
                Action::Poison
            } else {
                let i = learners[p].choose(&cfg.learning, &mut rngs[p], &mut scratch);
                counts[i] += 1;
                learning += 1;
                Action::LEARNED[i]
            };
            let now_in = a != Action::Out;
            if t > 0 && now_in != was_in[p] && !w.agents[p].adversary {
                switched += 1;
            }
            was_in[p] = now_in;
            actions[p] = a;
            identities(cfg, scheme, p, a, &mut rngs[p], &mut idents);
        }
        let lf = learning.max(1) as f64;
        rec.shares
            .push(std::array::from_fn(|i| counts[i] as f64 / lf));
        rec.churn.push(switched as f64 / lf);
        for (e, l) in ev_learners.iter().enumerate() {
            ev_action[e] = l.choose(&cfg.learning, &mut ev_rngs[e], &mut scratch);
        }
        rec.collusion
            .push(ev_action.iter().filter(|&&a| a == 1).count() as f64 / ev_cfg.pool as f64);

        // 2. Cohorts (a full cohort keeps the identities with the lowest keys).
        for s in &mut slots {
            s.members.clear();
            s.result = None;
        }
        for id in &idents {
            slots[id.slot].members.push(*id);
        }
        kept_ids.fill(0);
        for s in &mut slots {
            if s.members.len() > cfg.max_cohort {
                s.members.sort_by_key(|i| i.key);
                rec.waitlisted += (s.members.len() - cfg.max_cohort) as u64;
                s.members.truncate(cfg.max_cohort);
            }
            for id in &s.members {
                kept_ids[id.party] += 1;
            }
        }

        // 3. Evaluate every cohort.
        let mut g_total = 0.0;
        let mut welfare = 0.0;
        for (c, s) in slots.iter_mut().enumerate() {
            if s.members.is_empty() {
                continue;
            }
            cohort(
                cfg,
                scheme,
                &w.agents,
                &actions,
                &s.members,
                &mut owners_of,
                &mut owners,
                &mut players,
                &mut player_party,
            );
            let noise_seed = derive(
                cfg.base_seed,
                &[seed_index as u64, t as u64, c as u64, 0x401E],
            );
            let r = evaluator.evaluate(
                scheme,
                &rule,
                &w.validation,
                &w.test,
                &owners,
                &players,
                noise_seed,
            );
            let mut pr = ChaCha8Rng::seed_from_u64(derive(
                cfg.base_seed,
                &[seed_index as u64, t as u64, c as u64, 0x9A7E],
            ));
            s.panel = sample(&mut pr, ev_cfg.pool, ev_cfg.panel).into_vec();
            s.colluders = s.panel.iter().filter(|&&e| ev_action[e] == 1).count();
            g_total += realised(&r, s.colluders, majority).g;
            welfare += r.u_test;
            for (o, &party) in owners_of.iter().enumerate() {
                rec.parties[party].counterfactual += r.counterfactual[o];
            }
            s.result = Some(r);
        }
        rec.welfare.push(welfare);

        // 4. Pay, slash, charge.
        payoff.fill(0.0);
        ev_pay.fill(0.0);
        ev_gain.fill(0.0);
        let pool_of = |g: f64, total: f64| {
            if total > 0.0 {
                participant_budget * g.max(0.0) / total
            } else {
                0.0
            }
        };
        for (c, s) in slots.iter().enumerate() {
            let Some(r) = &s.result else { continue };
            cohort(
                cfg,
                scheme,
                &w.agents,
                &actions,
                &s.members,
                &mut owners_of,
                &mut owners,
                &mut players,
                &mut player_party,
            );
            let st = realised(r, s.colluders, majority);
            let pool = pool_of(st.g, g_total);
            for (i, &party) in player_party.iter().enumerate() {
                let reward = st.share[i] * pool;
                let slash = st.slash_stakes[i] * cfg.stake_utoken;
                rec.parties[party].reward += reward;
                rec.parties[party].slash += slash;
                payoff[party] += reward - slash;
            }
            // Evaluators: fee to those in the consensus, bribes, slashes.
            let extra = r.inflated.as_ref().map(|inf| {
                player_party
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| players[*i].partner)
                    .map(|(i, _)| (inf.share[i] - r.honest.share[i]) * pool_of(inf.g, g_total))
                    .sum::<f64>()
                    .max(0.0)
            });
            let audited = ChaCha8Rng::seed_from_u64(derive(
                cfg.base_seed,
                &[seed_index as u64, t as u64, c as u64, 0xA0D1],
            ))
            .random::<f64>()
                < ev_cfg.audit;
            let outcome = |collude: bool, m: usize| -> f64 {
                let base = -ev_cfg.cost_utoken - ev_cfg.bond_utoken * cfg.stake_rate;
                match extra {
                    None => base + fee_scale,
                    Some(x) => {
                        let inflated = m >= majority;
                        if collude && inflated && audited {
                            base - ev_cfg.bond_utoken
                        } else if collude == inflated {
                            base + fee_scale
                                + if collude {
                                    ev_cfg.bribe_share * x / m as f64
                                } else {
                                    0.0
                                }
                        } else {
                            base - ev_cfg.slash_deviant * ev_cfg.bond_utoken
                        }
                    }
                }
            };
            for &e in &s.panel {
                let mine = ev_action[e] == 1;
                let others = s.colluders - usize::from(mine);
                ev_pay[e] += outcome(mine, s.colluders);
                ev_gain[e] += outcome(true, others + 1) - outcome(false, others);
            }
        }
        for (e, l) in ev_learners.iter_mut().enumerate() {
            l.update(ev_action[e], ev_pay[e] / fee_scale.max(1.0), &cfg.learning);
            if t >= tail_start {
                rec.evaluator_gain[e] += ev_gain[e] / cfg.tail_rounds as f64;
                rec.evaluator_payoff[e] += ev_pay[e] / cfg.tail_rounds as f64;
            }
        }
        for p in 0..n {
            let a = actions[p];
            if a == Action::Out {
                if Some(p) != exclude {
                    learners[p].update(0, 0.0, &cfg.learning);
                }
                rec.parties[p].actions[0] += 1;
                continue;
            }
            let slot = a.index().unwrap_or(6);
            rec.parties[p].actions[slot] += 1;
            let fielded = match a {
                Action::Split | Action::Copy => cfg.identities as u32,
                _ => 1,
            };
            let kept = kept_ids[p];
            if kept > 0 {
                rec.parties[p].rounds_in += 1;
            }
            let a_ = &w.agents[p];
            let train = a_.cost_per_token * cfg.cost_scale * a_.tokens * effort(cfg, a);
            let compute = match a {
                Action::Split => train * f64::from(kept) / f64::from(fielded),
                _ if kept > 0 => train,
                _ => 0.0,
            };
            let stake =
                f64::from(kept) * (cfg.stake_utoken * cfg.stake_rate + cfg.identity_cost_utoken);
            rec.parties[p].compute += compute;
            rec.parties[p].stake_cost += stake;
            payoff[p] -= compute + stake;
            if let Some(i) = a.index() {
                learners[p].update(i, payoff[p] / scale[p], &cfg.learning);
            }
        }

        // 5. Unilateral deviations of the probed parties, others' play fixed.
        if t >= tail_start && exclude.is_none() {
            for (j, &p) in probes.iter().enumerate() {
                let pr = ChaCha8Rng::seed_from_u64(derive(
                    cfg.base_seed,
                    &[seed_index as u64, t as u64, p as u64, 0x9B0E],
                ));
                let mut base = None;
                let mut gains = [0.0; 6];
                for (ai, &a) in Action::LEARNED.iter().enumerate() {
                    let v = deviation_payoff(
                        cfg,
                        scheme,
                        w,
                        &rule,
                        &slots,
                        &actions,
                        g_total,
                        participant_budget,
                        majority,
                        seed_index,
                        t,
                        p,
                        a,
                        &mut pr.clone(),
                        &mut evaluator,
                    );
                    if a == Action::Join {
                        base = Some(v);
                    }
                    gains[ai] = v;
                }
                let b = base.unwrap_or(0.0);
                for ai in 0..6 {
                    probe_sum[j][ai] += (gains[ai] - b) / cfg.tail_rounds as f64;
                }
            }
        }
    }
    for (&p, sums) in probes.iter().zip(&probe_sum) {
        for (ai, &g) in sums.iter().enumerate() {
            rec.probes.push((p, ai, g));
        }
    }
    rec
}

/// Party `p`'s payoff this round had it played `action`, everyone else as they did.
#[allow(clippy::too_many_arguments)]
fn deviation_payoff(
    cfg: &MarketConfig,
    scheme: MarketScheme,
    w: &World,
    rule: &Rule,
    slots: &[Slot],
    actions: &[Action],
    g_total: f64,
    participant_budget: f64,
    majority: usize,
    seed_index: usize,
    t: usize,
    p: usize,
    action: Action,
    rng: &mut ChaCha8Rng,
    evaluator: &mut Evaluator,
) -> f64 {
    let mut mine = Vec::new();
    identities(cfg, scheme, p, action, rng, &mut mine);
    let mut affected: Vec<usize> = mine.iter().map(|i| i.slot).collect();
    affected.extend(
        slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.members.iter().any(|i| i.party == p))
            .map(|(c, _)| c),
    );
    affected.sort_unstable();
    affected.dedup();
    let mut acts = actions.to_vec();
    acts[p] = action;
    let (mut owners_of, mut owners, mut players, mut player_party) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut results = Vec::new();
    let mut g_new = g_total;
    let mut kept = 0u32;
    for &c in &affected {
        let s = &slots[c];
        if let Some(r) = &s.result {
            g_new -= realised(r, s.colluders, majority).g;
        }
        let mut members: Vec<Ident> = s.members.iter().filter(|i| i.party != p).copied().collect();
        for id in mine.iter().filter(|i| i.slot == c) {
            if members.len() < cfg.max_cohort {
                members.push(*id);
                kept += 1;
            }
        }
        if members.is_empty() {
            continue;
        }
        cohort(
            cfg,
            scheme,
            &w.agents,
            &acts,
            &members,
            &mut owners_of,
            &mut owners,
            &mut players,
            &mut player_party,
        );
        let noise_seed = derive(
            cfg.base_seed,
            &[seed_index as u64, t as u64, c as u64, 0x401E],
        );
        let r = evaluator.evaluate(
            scheme,
            rule,
            &w.validation,
            &w.test,
            &owners,
            &players,
            noise_seed,
        );
        let st = realised(&r, s.colluders, majority).clone();
        g_new += st.g;
        results.push((st, player_party.clone()));
    }
    let mut pay = 0.0;
    for (st, pp) in &results {
        let pool = if g_new > 0.0 {
            participant_budget * st.g.max(0.0) / g_new
        } else {
            0.0
        };
        for (i, &party) in pp.iter().enumerate() {
            if party == p {
                pay += st.share[i] * pool - st.slash_stakes[i] * cfg.stake_utoken;
            }
        }
    }
    if action == Action::Out {
        return 0.0;
    }
    let a = &w.agents[p];
    let fielded = mine.len().max(1) as f64;
    let train = a.cost_per_token * cfg.cost_scale * a.tokens * effort(cfg, action);
    let compute = match action {
        Action::Split => train * f64::from(kept) / fielded,
        _ if kept > 0 => train,
        _ => 0.0,
    };
    pay - compute - f64::from(kept) * (cfg.stake_utoken * cfg.stake_rate + cfg.identity_cost_utoken)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn tiny() -> MarketConfig {
        MarketConfig {
            agents: 60,
            rounds: 30,
            seeds: 2,
            probes: 5,
            tail_rounds: 10,
            evaluators: crate::market::config::EvaluatorConfig {
                pool: 9,
                ..Default::default()
            },
            ..MarketConfig::default()
        }
    }

    #[test]
    fn removing_a_party_changes_nobody_elses_randomness() {
        // Without learning feedback (everyone's choices fixed by exploration-free estimates
        // that never move), removing party 3 must leave every other cohort's welfare as it was.
        let cfg = MarketConfig {
            learning: crate::market::learn::LearnConfig {
                eta: 0.0,
                explore: 1.0,
                recency: 0.0,
                prior: 0.0,
            },
            cohort_target: 3,
            max_cohort: 14,
            ..tiny()
        };
        let w = world(&cfg, 0);
        let full = run(&cfg, &w, MarketScheme::Shapley, 0, None);
        let without = run(&cfg, &w, MarketScheme::Shapley, 0, Some(3));
        // Uniformly random play does not depend on payoffs: every other party plays the same,
        // so the whole-run difference equals party 3's summed in-cohort counterfactual.
        let diff = full.total_welfare() - without.total_welfare();
        let cf = full.parties[3].counterfactual;
        assert!(
            (diff - cf).abs() < 1e-9 * full.total_welfare().abs().max(1.0),
            "{diff} vs {cf}"
        );
        for p in (0..cfg.agents).filter(|&p| p != 3) {
            assert_eq!(
                full.parties[p].actions, without.parties[p].actions,
                "party {p}"
            );
        }
    }

    #[test]
    fn runs_are_reproducible_and_record_everything() {
        let cfg = tiny();
        let w = world(&cfg, 1);
        let a = run(&cfg, &w, MarketScheme::Loo, 1, None);
        let b = run(&cfg, &w, MarketScheme::Loo, 1, None);
        assert_eq!(a, b);
        assert_eq!(a.shares.len(), 30);
        assert_eq!(a.probes.len(), 5 * 6);
        assert!(a.welfare.iter().all(|x| x.is_finite()));
        assert!(a.parties.iter().any(|p| p.reward > 0.0));
        // The join-vs-join deviation is zero by construction.
        assert!(a
            .probes
            .iter()
            .filter(|(_, ai, _)| *ai == 1)
            .all(|(_, _, g)| g.abs() < 1e-9));
    }
}
