//! One simulation run: a population under one scheme for all rounds. Each round the parties
//! decide whether to join, joiners' identities are shuffled into cohorts, each cohort is scored
//! by its evaluators and paid by the on-chain reward rule, and every party learns from what it
//! got.

use cosmwasm_std::{Decimal, SignedDecimal, Uint128};
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
use super::schemes::{Aggregator, Cohort, Collusion, Scheme, Scorer};

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
    /// Identity-rounds it joined and never committed.
    pub no_shows: u32,
    /// Identity-rounds classed as free-rider by the reward rule.
    pub flagged_free_rider: u32,
    /// Identity-rounds classed as harmful.
    pub flagged_harmful: u32,
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
    /// Budget available in all (cohorts · budget), utoken.
    pub budget_available_utoken: f64,
    /// Rewards paid in all, utoken.
    pub paid_utoken: f64,
    /// Slashes in all, utoken.
    pub slashed_utoken: f64,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The sampled-Shapley estimator refused a cohort.
    #[error("sampled Shapley estimator failed: {0}")]
    Shapley(#[from] ShapleyError),
}

/// The collusion set-up of a run, if any.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunOptions {
    /// Colluding evaluators (none in the main runs).
    pub collusion: Option<Collusion>,
    /// How reports are aggregated (the contract's median in the main runs).
    pub aggregator: Aggregator,
    /// Rounds to run.
    pub rounds: usize,
}

fn signed(x: f64) -> SignedDecimal {
    let atomics = (x * 1e18).round();
    let atomics = atomics.clamp(i128::MIN as f64, i128::MAX as f64) as i128;
    SignedDecimal::from_atomics(atomics, 18).unwrap_or(if x < 0.0 {
        SignedDecimal::MIN
    } else {
        SignedDecimal::MAX
    })
}

fn unsigned(x: f64) -> Decimal {
    let atomics = (x.max(0.0) * 1e18).round().min(u128::MAX as f64) as u128;
    Decimal::from_atomics(atomics, 18).unwrap_or(Decimal::MAX)
}

/// Balanced cohort sizes for `n` identities with at most `cap` per cohort.
fn cohort_sizes(n: usize, cap: usize) -> impl Iterator<Item = usize> {
    let m = n.div_ceil(cap);
    let (base, extra) = (n.checked_div(m).unwrap_or(0), n.checked_rem(m).unwrap_or(0));
    (0..m).map(move |c| base + usize::from(c < extra))
}

/// Runs `scheme` on `parties` (the population of seed `seed_index`).
pub fn run(
    cfg: &SimConfig,
    parties: &[Party],
    scheme: Scheme,
    seed_index: usize,
    opts: RunOptions,
) -> Result<RunRecord, RunError> {
    let run_seed = derive(cfg.base_seed, &[seed_index as u64, 0xD1CE]);
    let mut rng = ChaCha8Rng::seed_from_u64(run_seed);
    let params: RewardParams = cfg.reward_params();
    let min_stake = Uint128::new(cfg.rewards.min_stake_utoken);
    let min_stake_f = cfg.rewards.min_stake_utoken as f64;
    let mut scorer = Scorer::new(
        scheme,
        cfg.noise_sd(),
        cfg.evaluators,
        cfg.sampled.clone(),
        opts.collusion,
        opts.aggregator,
    );
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
        participation: Vec::with_capacity(opts.rounds),
        mean_cohort_utility: Vec::with_capacity(opts.rounds),
        total_utility: Vec::with_capacity(opts.rounds),
        cohorts_per_round: Vec::with_capacity(opts.rounds),
        cohorts: 0,
        budget_available_utoken: 0.0,
        paid_utoken: 0.0,
        slashed_utoken: 0.0,
    };

    let mut joiners: Vec<usize> = Vec::new();
    let mut round_reward = vec![0.0; parties.len()];
    let mut round_slash = vec![0.0; parties.len()];
    let (mut plus, mut minus, mut claims, mut partners, mut members) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut scratch, mut table, mut truth) = (Vec::new(), Vec::new(), Vec::new());
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
                }
            }
            let k = members.len();
            let evaluation = if k > 0 {
                cfg.surrogate.table(&plus, &minus, &mut scratch, &mut table);
                shapley_from_table(&table, &weights[k], &mut truth);
                utility_sum += table[(1 << k) - 1];
                let cohort = Cohort {
                    table: &table,
                    weights: &weights[k],
                    claims: &claims,
                    partners: &partners,
                    seed: derive(run_seed, &[t as u64, c as u64]),
                };
                Some(scorer.evaluate(&cohort)?)
            } else {
                None
            };
            // The reward rule, exactly as the contract applies it.
            entries.clear();
            let mut next = 0;
            for &commits in &committed_flags {
                let score = if commits {
                    let ev = evaluation.as_ref().expect("a committed member means k > 0");
                    let s = Score {
                        value: signed(ev.phi[next]),
                        std_error: unsigned(ev.se[next]),
                    };
                    next += 1;
                    Some(s)
                } else {
                    None
                };
                entries.push(Entry {
                    stake: min_stake,
                    score,
                });
            }
            // The on-chain rule sizes the pool from the non-harmful scores themselves.
            let payout = compute_payout(&params, &entries);
            let mut next = 0;
            for ((&id, outcome), &commits) in
                chunk.iter().zip(&payout.outcomes).zip(&committed_flags)
            {
                let p = identities[id].party;
                let party = &parties[p];
                let (reward, slash) = (outcome.reward.u128() as f64, outcome.slash.u128() as f64);
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
                match outcome.verdict {
                    Verdict::FreeRider => tot.flagged_free_rider += 1,
                    Verdict::Harmful => tot.flagged_harmful += 1,
                    Verdict::NoShow => tot.no_shows += 1,
                    Verdict::Contributor => {}
                }
                if commits {
                    let compute_tokens = party.identity_compute_tokens();
                    let compute = compute_tokens * party.cost_per_token_utoken;
                    idt.compute_cost_utoken += compute;
                    idt.true_contribution += truth[next];
                    tot.compute_cost_utoken += compute;
                    tot.compute_tokens += compute_tokens;
                    tot.true_contribution += truth[next];
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

/// The run options of the main comparison: no collusion, the contract's median.
pub fn main_options(cfg: &SimConfig) -> RunOptions {
    RunOptions {
        collusion: None,
        aggregator: Aggregator::Median,
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
        let r = run(&cfg, &parties, scheme, 0, main_options(&cfg)).expect("runs");
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
    fn decimals_round_trip() {
        assert_eq!(
            signed(-0.25),
            SignedDecimal::from_atomics(-25i128, 2).expect("fits")
        );
        assert_eq!(unsigned(-1.0), Decimal::zero());
        assert_eq!(unsigned(0.5), Decimal::percent(50));
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
            main_options(&cfg),
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
                r.paid_utoken <= r.budget_available_utoken,
                "{scheme}: pays at most the budgets"
            );
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
