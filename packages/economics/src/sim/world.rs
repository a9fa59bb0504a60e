//! One simulation run: a population under one scheme for all rounds. Each round the parties
//! decide whether to join, joiners' identities are shuffled into cohorts, each cohort is
//! measured by its panel of bonded evaluators, settled by the evaluator layer and paid by the
//! on-chain reward rule, and every party learns from what it got.

use cosmwasm_std::Uint128;
use fairshare_protocol::evaluation::EvaluatorVerdict;
use fairshare_protocol::rewards::{compute_payout, Entry, RewardParams, Score, Verdict};
use fairshare_shapley::ShapleyError;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::agent::{Learner, Party, Strategy};
use super::config::SimConfig;
use super::exact::{shapley_from_table, ShapleyWeights};
use super::noise::derive;
use super::panel::{reveal, settle, Panel, Reveal, Role};
use super::schemes::{Cohort, Measurement, Noise, Scheme, Scorer};

/// What one party accumulated over a run (Sybils: summed over their identities).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PartyTotals {
    /// Rewards received, utoken.
    pub reward_utoken: f64,
    /// Stake forfeited, utoken.
    pub slash_utoken: f64,
    /// Compute spent, utoken.
    pub compute_cost_utoken: f64,
    /// Opportunity cost of bonded stake, utoken.
    pub stake_cost_utoken: f64,
    /// Stake bonded, summed over rounds (utoken·rounds).
    pub stake_bonded_utoken: f64,
    /// Tokens trained, summed over rounds.
    pub compute_tokens: f64,
    /// Σ over rounds of its exact Shapley value under the noise-free surrogate.
    pub true_contribution: f64,
    /// Rounds it joined.
    pub rounds_joined: u32,
    /// Identity-rounds it committed an update in.
    pub committed: u32,
    /// Identity-rounds it joined and never committed.
    pub no_shows: u32,
    /// Identity-rounds classed as free-rider by the reward rule.
    pub flagged_free_rider: u32,
    /// Identity-rounds classed as harmful.
    pub flagged_harmful: u32,
    /// Identity-rounds left unpaid (at or below the threshold, not significantly).
    pub flagged_unpaid: u32,
    /// Whether it joined, round by round.
    pub joined: Vec<bool>,
}

impl PartyTotals {
    /// Reward minus slash, compute and stake opportunity cost.
    pub fn net_utoken(&self) -> f64 {
        self.reward_utoken - self.slash_utoken - self.compute_cost_utoken - self.stake_cost_utoken
    }
}

/// What one identity accumulated (a Sybil party's identities are listed separately).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IdentityTotals {
    /// The party it belongs to.
    pub party: usize,
    /// Rewards, utoken.
    pub reward_utoken: f64,
    /// Slashes, utoken.
    pub slash_utoken: f64,
    /// Compute spent, utoken.
    pub compute_cost_utoken: f64,
    /// Stake bonded, utoken·rounds.
    pub stake_bonded_utoken: f64,
    /// Σ of its true Shapley values.
    pub true_contribution: f64,
    /// Rounds it took part in.
    pub rounds: u32,
}

/// What one evaluator seat of the panel accumulated over a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluatorTotals {
    /// How it behaved.
    pub role: Role,
    /// Cohorts (rounds) it bonded for.
    pub cohorts: u32,
    /// Cohorts in which it revealed a report.
    pub revealed: u32,
    /// Cohorts in which it revealed a fabricated score.
    pub fabricated: u32,
    /// Verdicts: within the consensus band.
    pub consensus: u32,
    /// Verdicts: outlier (unpaid).
    pub outliers: u32,
    /// Verdicts: deviant (unpaid and slashed).
    pub deviants: u32,
    /// Verdicts: no-show.
    pub no_shows: u32,
    /// Σ of its agreement over settled cohorts.
    pub agreement: f64,
    /// Pay from the evaluators' pools, utoken.
    pub reward_utoken: f64,
    /// Bond forfeited, utoken.
    pub slash_utoken: f64,
    /// Compute spent evaluating, utoken.
    pub compute_cost_utoken: f64,
    /// Opportunity cost of its bonds, utoken.
    pub bond_cost_utoken: f64,
}

impl EvaluatorTotals {
    fn new(role: Role) -> Self {
        Self {
            role,
            cohorts: 0,
            revealed: 0,
            fabricated: 0,
            consensus: 0,
            outliers: 0,
            deviants: 0,
            no_shows: 0,
            agreement: 0.0,
            reward_utoken: 0.0,
            slash_utoken: 0.0,
            compute_cost_utoken: 0.0,
            bond_cost_utoken: 0.0,
        }
    }

    /// Reward minus slash, compute and bond opportunity cost, utoken.
    pub fn net_utoken(&self) -> f64 {
        self.reward_utoken - self.slash_utoken - self.compute_cost_utoken - self.bond_cost_utoken
    }

    /// Net per cohort it bonded for (`NaN` when it served none).
    pub fn net_per_cohort(&self) -> f64 {
        if self.cohorts == 0 {
            f64::NAN
        } else {
            self.net_utoken() / f64::from(self.cohorts)
        }
    }
}

/// Everything a run produced, before it is reduced to metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The scheme run.
    pub scheme: Scheme,
    /// Which seed.
    pub seed_index: usize,
    /// Per party.
    pub parties: Vec<PartyTotals>,
    /// Per identity.
    pub identities: Vec<IdentityTotals>,
    /// Per evaluator seat.
    pub evaluators: Vec<EvaluatorTotals>,
    /// Share of parties that joined, per round.
    pub participation: Vec<f64>,
    /// Mean noise-free U(N) of the round's cohorts (0 when none), per round.
    pub mean_cohort_utility: Vec<f64>,
    /// Σ of the cohorts' noise-free U(N), per round.
    pub total_utility: Vec<f64>,
    /// Cohorts run, per round.
    pub cohorts_per_round: Vec<u32>,
    /// Cohorts run, in all.
    pub cohorts: u64,
    /// Cohorts with at least one committed update (evaluated).
    pub evaluated_cohorts: u64,
    /// Evaluated cohorts that failed for lack of a quorum of revealed reports.
    pub failed_cohorts: u64,
    /// Budget available in all (cohorts · budget), utoken.
    pub budget_available_utoken: f64,
    /// Rewards paid to participants in all, utoken.
    pub paid_utoken: f64,
    /// Participants' slashes in all, utoken.
    pub slashed_utoken: f64,
    /// Pay to evaluators in all, utoken.
    pub evaluator_paid_utoken: f64,
    /// Evaluators' slashes in all, utoken.
    pub evaluator_slashed_utoken: f64,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The sampled-Shapley estimator refused a cohort.
    #[error("sampled Shapley estimator failed: {0}")]
    Shapley(#[from] ShapleyError),
}

/// The evaluator panel and length of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    /// The evaluators of every cohort (all honest in the main runs).
    pub panel: Panel,
    /// Rounds to run.
    pub rounds: usize,
}

/// Balanced cohort sizes for `n` identities with at most `cap` per cohort.
fn cohort_sizes(n: usize, cap: usize) -> impl Iterator<Item = usize> {
    let m = n.div_ceil(cap);
    let (base, extra) = (n.checked_div(m).unwrap_or(0), n.checked_rem(m).unwrap_or(0));
    (0..m).map(move |c| base + usize::from(c < extra))
}

/// The evaluators' measurement noise of `cfg`.
pub fn noise(cfg: &SimConfig) -> Noise {
    Noise {
        shared_sd: cfg.noise_sd(),
        own_sd: cfg.evaluator_noise * cfg.surrogate.a,
        batches: cfg.validation_batches,
    }
}

/// Runs `scheme` on `parties` (the population of seed `seed_index`).
pub fn run(
    cfg: &SimConfig,
    parties: &[Party],
    scheme: Scheme,
    seed_index: usize,
    opts: &RunOptions,
) -> Result<RunRecord, RunError> {
    let run_seed = derive(cfg.base_seed, &[seed_index as u64, 0xD1CE]);
    let mut rng = ChaCha8Rng::seed_from_u64(run_seed);
    let budget = Uint128::new(cfg.rewards.budget_utoken);
    let evaluation = cfg.evaluator_params();
    // Participants share what the evaluators' share leaves of the budget.
    let params = RewardParams {
        budget: budget - evaluation.budget(budget),
        ..cfg.reward_params()
    };
    let dof = cfg.dof();
    let bond = Uint128::new(cfg.evaluation.bond_utoken);
    let bond_f = cfg.evaluation.bond_utoken as f64;
    let min_stake = Uint128::new(cfg.rewards.min_stake_utoken);
    let min_stake_f = cfg.rewards.min_stake_utoken as f64;
    let panel = &opts.panel;
    let mut scorer = Scorer::new(scheme, noise(cfg), cfg.sampled.clone());
    let weights: Vec<ShapleyWeights> = (0..=cfg.cohort_size).map(ShapleyWeights::new).collect();

    // Identities: party p owns first_identity[p] .. first_identity[p] + identities.
    let mut first_identity = Vec::with_capacity(parties.len());
    let mut identities = Vec::new();
    for p in parties {
        first_identity.push(identities.len());
        for _ in 0..p.identities {
            identities.push(IdentityTotals {
                party: p.id,
                ..Default::default()
            });
        }
    }
    // The last consensus score of each identity, public on chain once its round settled.
    let mut last_score: Vec<Option<Score>> = vec![None; identities.len()];
    let mut totals: Vec<PartyTotals> = parties
        .iter()
        .map(|_| PartyTotals {
            joined: Vec::with_capacity(opts.rounds),
            ..Default::default()
        })
        .collect();
    let mut learners: Vec<Learner> = parties.iter().map(|p| Learner::new(p, cfg)).collect();
    let mut record = RunRecord {
        scheme,
        seed_index,
        parties: Vec::new(),
        identities: Vec::new(),
        evaluators: panel
            .roles
            .iter()
            .map(|&r| EvaluatorTotals::new(r))
            .collect(),
        participation: Vec::with_capacity(opts.rounds),
        mean_cohort_utility: Vec::with_capacity(opts.rounds),
        total_utility: Vec::with_capacity(opts.rounds),
        cohorts_per_round: Vec::with_capacity(opts.rounds),
        cohorts: 0,
        evaluated_cohorts: 0,
        failed_cohorts: 0,
        budget_available_utoken: 0.0,
        paid_utoken: 0.0,
        slashed_utoken: 0.0,
        evaluator_paid_utoken: 0.0,
        evaluator_slashed_utoken: 0.0,
    };

    let mut joiners: Vec<usize> = Vec::new();
    let mut round_reward = vec![0.0; parties.len()];
    let mut round_slash = vec![0.0; parties.len()];
    let (mut plus, mut minus, mut claims, mut partners, mut members, mut last) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let (mut scratch, mut table, mut truth) = (Vec::new(), Vec::new(), Vec::new());
    let mut measurements: Vec<Measurement> = Vec::new();
    let mut reports: Vec<Option<Vec<Score>>> = vec![None; panel.size()];
    let mut fabricated = vec![false; panel.size()];
    let mut entries: Vec<Entry> = Vec::new();
    let mut committed_flags: Vec<bool> = Vec::new();

    for t in 0..opts.rounds {
        joiners.clear();
        let mut joined_parties = 0usize;
        for (p, party) in parties.iter().enumerate() {
            let join = learners[p].decide(party, cfg, &mut rng);
            totals[p].joined.push(join);
            if join {
                joined_parties += 1;
                totals[p].rounds_joined += 1;
                round_reward[p] = 0.0;
                round_slash[p] = 0.0;
                let stake_cost = party.opportunity_rate * min_stake_f * party.identities as f64;
                totals[p].stake_cost_utoken += stake_cost;
                totals[p].stake_bonded_utoken += min_stake_f * party.identities as f64;
                joiners.extend(first_identity[p]..first_identity[p] + party.identities);
            }
        }
        record
            .participation
            .push(joined_parties as f64 / parties.len() as f64);
        joiners.shuffle(&mut rng);

        let (mut utility_sum, mut cohorts_this_round) = (0.0, 0usize);
        let mut start = 0;
        for (c, size) in cohort_sizes(joiners.len(), cfg.cohort_size).enumerate() {
            let chunk = &joiners[start..start + size];
            start += size;
            record.cohorts += 1;
            cohorts_this_round += 1;
            record.budget_available_utoken += cfg.rewards.budget_utoken as f64;
            // Who commits: dropouts may not.
            committed_flags.clear();
            plus.clear();
            minus.clear();
            claims.clear();
            partners.clear();
            members.clear();
            last.clear();
            for &id in chunk {
                let party = &parties[identities[id].party];
                let commits =
                    party.no_show_prob == 0.0 || rng.random::<f64>() >= party.no_show_prob;
                committed_flags.push(commits);
                identities[id].rounds += 1;
                identities[id].stake_bonded_utoken += min_stake_f;
                if commits {
                    members.push(id);
                    plus.push(party.identity_effective_tokens());
                    minus.push(party.identity_poison_tokens());
                    claims.push(party.identity_claim());
                    partners.push(party.partner);
                    last.push(last_score[id]);
                }
            }
            let k = members.len();
            // The evaluator layer: measure, reveal, settle (no cohort to evaluate: idle).
            let settlement = if k > 0 {
                cfg.surrogate.table(&plus, &minus, &mut scratch, &mut table);
                shapley_from_table(&table, &weights[k], &mut truth);
                utility_sum += table[(1 << k) - 1];
                let cohort = Cohort {
                    table: &table,
                    weights: &weights[k],
                    claims: &claims,
                    seed: derive(run_seed, &[t as u64, c as u64]),
                };
                scorer.measure(&cohort, panel.size(), &mut measurements)?;
                fabricated.fill(false);
                for (e, (&role, m)) in panel.roles.iter().zip(&measurements).enumerate() {
                    let mut out = reports[e].take().unwrap_or_default();
                    match reveal(role, m, &partners, &last, panel.factor, &mut out) {
                        Reveal::Absent => {}
                        r => {
                            fabricated[e] = r == Reveal::Fabricated;
                            reports[e] = Some(out);
                        }
                    }
                }
                let s = settle(&evaluation, bond, panel.quorum, budget, &reports, k);
                record.evaluated_cohorts += 1;
                record.failed_cohorts += u64::from(s.failed);
                for (e, o) in s.evaluators.iter().enumerate() {
                    let ev = &mut record.evaluators[e];
                    ev.cohorts += 1;
                    ev.revealed += u32::from(reports[e].is_some());
                    ev.fabricated += u32::from(fabricated[e]);
                    ev.bond_cost_utoken += cfg.evaluation.bond_opportunity_rate * bond_f;
                    if ev.role.computes() {
                        ev.compute_cost_utoken += cfg.evaluation.compute_cost_utoken;
                    }
                    if !s.failed {
                        match o.verdict {
                            EvaluatorVerdict::Consensus => ev.consensus += 1,
                            EvaluatorVerdict::Outlier => ev.outliers += 1,
                            EvaluatorVerdict::Deviant => ev.deviants += 1,
                            EvaluatorVerdict::NoShow => ev.no_shows += 1,
                            EvaluatorVerdict::Disputed => {}
                        }
                        ev.agreement += o.agreement;
                    } else if o.verdict == EvaluatorVerdict::NoShow {
                        ev.no_shows += 1;
                    }
                    ev.reward_utoken += o.reward as f64;
                    ev.slash_utoken += o.slash as f64;
                    record.evaluator_paid_utoken += o.reward as f64;
                    record.evaluator_slashed_utoken += o.slash as f64;
                }
                if !s.failed {
                    for (&id, score) in members.iter().zip(&s.scores) {
                        last_score[id] = Some(*score);
                    }
                }
                Some(s)
            } else {
                None
            };
            let failed = settlement.as_ref().is_some_and(|s| s.failed);
            // The reward rule, exactly as the contract applies it; a failed round returns
            // every stake and pays nobody.
            entries.clear();
            let mut next = 0;
            for &commits in &committed_flags {
                let score = if commits {
                    let s = settlement
                        .as_ref()
                        .and_then(|s| s.scores.get(next).copied());
                    next += 1;
                    s
                } else {
                    None
                };
                entries.push(Entry {
                    stake: min_stake,
                    score,
                });
            }
            let payout = (!failed).then(|| compute_payout(&params, &entries, dof));
            let mut next = 0;
            for (i, (&id, &commits)) in chunk.iter().zip(&committed_flags).enumerate() {
                let p = identities[id].party;
                let party = &parties[p];
                let outcome = payout.as_ref().map(|pay| pay.outcomes[i]);
                let (reward, slash) = outcome.map_or((0.0, 0.0), |o| {
                    (o.reward.u128() as f64, o.slash.u128() as f64)
                });
                record.paid_utoken += reward;
                record.slashed_utoken += slash;
                round_reward[p] += reward;
                round_slash[p] += slash;
                let idt = &mut identities[id];
                idt.reward_utoken += reward;
                idt.slash_utoken += slash;
                let tot = &mut totals[p];
                tot.reward_utoken += reward;
                tot.slash_utoken += slash;
                match outcome.map(|o| o.verdict) {
                    Some(Verdict::FreeRider) => tot.flagged_free_rider += 1,
                    Some(Verdict::Harmful) => tot.flagged_harmful += 1,
                    Some(Verdict::NoShow) => tot.no_shows += 1,
                    Some(Verdict::Unpaid) => tot.flagged_unpaid += 1,
                    Some(Verdict::Contributor) | None => {}
                }
                if commits {
                    let compute_tokens = party.identity_compute_tokens();
                    let compute = compute_tokens * party.cost_per_token_utoken;
                    idt.compute_cost_utoken += compute;
                    idt.true_contribution += truth[next];
                    tot.compute_cost_utoken += compute;
                    tot.compute_tokens += compute_tokens;
                    tot.true_contribution += truth[next];
                    tot.committed += 1;
                    next += 1;
                }
            }
        }
        record.mean_cohort_utility.push(if cohorts_this_round > 0 {
            utility_sum / cohorts_this_round as f64
        } else {
            0.0
        });
        record.total_utility.push(utility_sum);
        record.cohorts_per_round.push(cohorts_this_round as u32);
        for (p, l) in learners.iter_mut().enumerate() {
            if totals[p].joined[t] {
                l.update(round_reward[p], round_slash[p], cfg.learning.rate);
            }
        }
    }
    record.parties = totals;
    record.identities = identities;
    Ok(record)
}

/// The run options of the main comparison: an honest panel of `cfg.evaluators`.
pub fn main_options(cfg: &SimConfig) -> RunOptions {
    RunOptions {
        panel: Panel::honest(cfg.evaluators, cfg.evaluation.quorum),
        rounds: cfg.rounds,
    }
}

/// Parties of one strategy, by index.
pub fn of_strategy(parties: &[Party], s: Strategy) -> impl Iterator<Item = usize> + '_ {
    parties
        .iter()
        .filter(move |p| p.strategy == s)
        .map(|p| p.id)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::sim::experiment::seed_population;

    /// A small configuration the behavioural tests share: 60 agents × 30 rounds.
    pub(crate) fn small() -> SimConfig {
        SimConfig {
            agents: 60,
            rounds: 30,
            seeds: 2,
            ..SimConfig::default()
        }
    }

    fn run_small(scheme: Scheme) -> (Vec<Party>, RunRecord) {
        let cfg = small();
        let parties = seed_population(&cfg, 0);
        let r = run(&cfg, &parties, scheme, 0, &main_options(&cfg)).expect("runs");
        (parties, r)
    }

    fn mean_net(parties: &[Party], r: &RunRecord, s: Strategy) -> f64 {
        let ids: Vec<usize> = of_strategy(parties, s).collect();
        assert!(!ids.is_empty(), "the population has {s} parties");
        ids.iter().map(|&i| r.parties[i].net_utoken()).sum::<f64>() / ids.len() as f64
    }

    #[test]
    fn cohorts_are_balanced_and_capped() {
        let sizes: Vec<usize> = cohort_sizes(17, 8).collect();
        assert_eq!(sizes, vec![6, 6, 5]);
        assert_eq!(cohort_sizes(16, 8).collect::<Vec<_>>(), vec![8, 8]);
        assert_eq!(cohort_sizes(0, 8).count(), 0);
        assert_eq!(cohort_sizes(3, 1).collect::<Vec<_>>(), vec![1, 1, 1]);
    }

    #[test]
    fn a_run_is_deterministic_for_its_seed() {
        let (_, a) = run_small(Scheme::ShapleySampled);
        let (_, b) = run_small(Scheme::ShapleySampled);
        assert_eq!(a, b);
        let cfg = small();
        let other = run(
            &cfg,
            &seed_population(&cfg, 1),
            Scheme::ShapleySampled,
            1,
            &main_options(&cfg),
        )
        .expect("runs");
        assert_ne!(
            a.participation, other.participation,
            "another seed, another history"
        );
    }

    #[test]
    fn money_is_conserved_and_bounded() {
        for scheme in Scheme::ALL {
            let (parties, r) = run_small(scheme);
            let paid: f64 = r.parties.iter().map(|p| p.reward_utoken).sum();
            let slashed: f64 = r.parties.iter().map(|p| p.slash_utoken).sum();
            assert_eq!(paid, r.paid_utoken);
            assert_eq!(slashed, r.slashed_utoken);
            assert!(
                r.paid_utoken + r.evaluator_paid_utoken <= r.budget_available_utoken,
                "{scheme}: pays at most the budgets"
            );
            let to_evaluators: f64 = r.evaluators.iter().map(|e| e.reward_utoken).sum();
            assert_eq!(to_evaluators, r.evaluator_paid_utoken);
            // An honest panel is paid its share of every evaluated cohort's budget, bar
            // rounding, and never slashed.
            let cfg = small();
            let share = cfg.evaluation.share * cfg.rewards.budget_utoken as f64;
            let due = share * r.evaluated_cohorts as f64;
            assert!(
                to_evaluators <= due && to_evaluators >= due - 3.0 * r.evaluated_cohorts as f64,
                "{scheme}: {to_evaluators} of {due}"
            );
            assert_eq!(r.evaluator_slashed_utoken, 0.0);
            assert_eq!(r.failed_cohorts, 0);
            let ident: f64 = r.identities.iter().map(|i| i.reward_utoken).sum();
            assert_eq!(ident, paid);
            // Every identity-round bonds the minimum stake.
            let bonded: f64 = r.parties.iter().map(|p| p.stake_bonded_utoken).sum();
            let rounds: f64 = r
                .parties
                .iter()
                .zip(&parties)
                .map(|(t, p)| f64::from(t.rounds_joined) * p.identities as f64)
                .sum();
            assert_eq!(bonded, rounds * 100_000.0);
        }
    }

    #[test]
    fn under_shapley_poisoners_earn_less_than_honest_parties() {
        let (parties, r) = run_small(Scheme::ShapleyExact);
        let honest = mean_net(&parties, &r, Strategy::Honest);
        let poisoner = mean_net(&parties, &r, Strategy::Poisoner);
        assert!(poisoner < 0.0, "poisoners lose money: {poisoner}");
        assert!(poisoner < honest, "{poisoner} < {honest}");
        let flagged: u32 = of_strategy(&parties, Strategy::Poisoner)
            .map(|i| r.parties[i].flagged_harmful)
            .sum();
        assert!(flagged > 0, "the rule classes poisoners as harmful");
    }

    #[test]
    fn free_riding_loses_under_shapley_and_pays_under_equal() {
        let (parties, shapley) = run_small(Scheme::ShapleyExact);
        let (_, equal) = run_small(Scheme::Equal);
        let fr_shapley = mean_net(&parties, &shapley, Strategy::FreeRider);
        let fr_equal = mean_net(&parties, &equal, Strategy::FreeRider);
        assert!(
            fr_shapley < 0.0,
            "free-riding has negative payoff under Shapley: {fr_shapley}"
        );
        assert!(fr_equal > fr_shapley, "{fr_equal} > {fr_shapley}");
        assert!(fr_equal > 0.0, "equal split pays free-riders: {fr_equal}");
        // And they learn to stay away under Shapley.
        let joins = |r: &RunRecord| -> u32 {
            of_strategy(&parties, Strategy::FreeRider)
                .map(|i| r.parties[i].rounds_joined)
                .sum()
        };
        assert!(joins(&shapley) < joins(&equal));
    }

    #[test]
    fn sybils_profit_from_splitting_under_equal_but_not_under_data_size() {
        // Equal split pays per identity, so three identities take three shares.
        let (parties, equal) = run_small(Scheme::Equal);
        let (_, data) = run_small(Scheme::DataSize);
        let sybil_eq = mean_net(&parties, &equal, Strategy::Sybil);
        let honest_eq = mean_net(&parties, &equal, Strategy::Honest);
        assert!(sybil_eq > honest_eq, "{sybil_eq} > {honest_eq}");
        // Under data size the split claims add up to the same data, while each identity bonds
        // and pays the stake's opportunity cost: splitting gains less than under equal.
        let sybil_ds = mean_net(&parties, &data, Strategy::Sybil);
        let honest_ds = mean_net(&parties, &data, Strategy::Honest);
        assert!(sybil_eq - honest_eq > sybil_ds - honest_ds);
    }

    #[test]
    fn true_contribution_is_efficient_per_round() {
        // Σ of true Shapley values over identities = Σ of cohort utilities (efficiency).
        let (_, r) = run_small(Scheme::Loo);
        let contrib: f64 = r.identities.iter().map(|i| i.true_contribution).sum();
        let utility: f64 = r.total_utility.iter().sum();
        assert!(
            (contrib - utility).abs() < 1e-9 * utility.abs().max(1.0),
            "{contrib} vs {utility}"
        );
    }
}
