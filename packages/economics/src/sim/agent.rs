//! Parties: their data, costs and strategy, and how each learns whether joining pays.

use std::fmt;
use std::str::FromStr;

use rand::seq::SliceRandom;
use rand::Rng;
use rand_distr::{Distribution, LogNormal};
use serde::{Deserialize, Serialize};

use super::config::{ConfigError, SimConfig};

/// How a party behaves once it has joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Trains on all its data and commits.
    Honest,
    /// Joins and bonds but sends a zero or stale update: contributes nothing.
    FreeRider,
    /// Trains on a fraction of its data (and claims all of it).
    LowEffort,
    /// Trains on shuffled or corrupted data: its update makes the model worse.
    Poisoner,
    /// Honest when it commits, but often joins and never commits (a no-show).
    Dropout,
    /// Honest data split over several identities, each bonding the minimum stake.
    Sybil,
}

impl Strategy {
    /// Every strategy, in report order.
    pub const ALL: [Strategy; 6] = [
        Strategy::Honest,
        Strategy::FreeRider,
        Strategy::LowEffort,
        Strategy::Poisoner,
        Strategy::Dropout,
        Strategy::Sybil,
    ];

    /// The snake_case name used in flags, JSON and tables.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Honest => "honest",
            Strategy::FreeRider => "free_rider",
            Strategy::LowEffort => "low_effort",
            Strategy::Poisoner => "poisoner",
            Strategy::Dropout => "dropout",
            Strategy::Sybil => "sybil",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Strategy {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Strategy::ALL
            .into_iter()
            .find(|x| x.name() == s || x.name().replace('_', "-") == s)
            .ok_or_else(|| ConfigError::UnknownStrategy(s.to_string()))
    }
}

/// One party of the population (a Sybil party has several identities).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Party {
    /// Index in the population.
    pub id: usize,
    /// Its behaviour.
    pub strategy: Strategy,
    /// Training tokens it holds.
    pub tokens: f64,
    /// Data quality in (0, 1]: the share of its tokens that help.
    pub quality: f64,
    /// Compute cost per trained token, utoken.
    pub cost_per_token_utoken: f64,
    /// Opportunity cost of bonded stake per round, as a fraction of it.
    pub opportunity_rate: f64,
    /// Share of its data it trains on (1 except for low-effort parties).
    pub effort: f64,
    /// Identities it joins with (1 except for Sybils).
    pub identities: usize,
    /// Probability that it joins and never commits (dropouts only).
    pub no_show_prob: f64,
    /// Whether colluding evaluators favour it (collusion experiment only).
    pub partner: bool,
}

impl Party {
    /// Effective tokens `quality · effort · tokens` one identity contributes (`E⁺`).
    pub fn identity_effective_tokens(&self) -> f64 {
        match self.strategy {
            Strategy::FreeRider | Strategy::Poisoner => 0.0,
            _ => self.quality * self.effort * self.tokens / self.identities as f64,
        }
    }

    /// Poisoned tokens one identity injects (`E⁻`).
    pub fn identity_poison_tokens(&self) -> f64 {
        match self.strategy {
            Strategy::Poisoner => self.tokens / self.identities as f64,
            _ => 0.0,
        }
    }

    /// Tokens one identity trains on when it commits (what it pays compute for).
    pub fn identity_compute_tokens(&self) -> f64 {
        match self.strategy {
            Strategy::FreeRider => 0.0,
            _ => self.effort * self.tokens / self.identities as f64,
        }
    }

    /// Tokens one identity claims (data-size scheme): everyone claims its whole data.
    pub fn identity_claim(&self) -> f64 {
        self.tokens / self.identities as f64
    }

    /// Expected compute plus stake opportunity cost of joining one round, utoken.
    pub fn expected_cost(&self, min_stake_utoken: f64) -> f64 {
        let compute = self.cost_per_token_utoken
            * self.identity_compute_tokens()
            * self.identities as f64
            * (1.0 - self.no_show_prob);
        compute + self.opportunity_rate * min_stake_utoken * self.identities as f64
    }
}

/// Draws the population of one seed: strategy counts from the mix (rounded, honest the
/// remainder), data and costs from the configured distributions.
pub fn population<R: Rng>(cfg: &SimConfig, rng: &mut R) -> Vec<Party> {
    let n = cfg.agents;
    let p = &cfg.population;
    let mut strategies = Vec::with_capacity(n);
    for s in Strategy::ALL.into_iter().skip(1) {
        let k = (cfg.mix.share(s) * n as f64).round() as usize;
        strategies.extend(std::iter::repeat_n(s, k.min(n - strategies.len())));
    }
    strategies.resize(n, Strategy::Honest);
    strategies.shuffle(rng);
    let tokens = LogNormal::new(p.median_tokens.ln(), p.tokens_sigma)
        .expect("validated: finite median and non-negative sigma");
    let cost = LogNormal::new(
        p.median_cost_per_token_utoken.max(1e-300).ln(),
        p.cost_sigma,
    )
    .expect("validated: finite median and non-negative sigma");
    let mut parties: Vec<Party> = strategies
        .into_iter()
        .enumerate()
        .map(|(id, strategy)| {
            let (olo, ohi) = p.opportunity_rate_range;
            let (elo, ehi) = p.low_effort_range;
            let tokens = tokens.sample(rng);
            let quality = p.quality_min + (1.0 - p.quality_min) * rng.random::<f64>();
            let cost = if p.median_cost_per_token_utoken > 0.0 {
                cost.sample(rng)
            } else {
                0.0
            };
            let opportunity_rate = olo + (ohi - olo) * rng.random::<f64>();
            let effort = elo + (ehi - elo) * rng.random::<f64>();
            Party {
                id,
                strategy,
                tokens,
                quality,
                cost_per_token_utoken: cost,
                opportunity_rate,
                effort: if strategy == Strategy::LowEffort {
                    effort
                } else {
                    1.0
                },
                identities: if strategy == Strategy::Sybil {
                    p.sybil_identities
                } else {
                    1
                },
                no_show_prob: if strategy == Strategy::Dropout {
                    p.dropout_no_show
                } else {
                    0.0
                },
                partner: false,
            }
        })
        .collect();
    // Partners of colluding evaluators: a random share of the honest parties.
    let mut honest: Vec<usize> = parties
        .iter()
        .filter(|p| p.strategy == Strategy::Honest)
        .map(|p| p.id)
        .collect();
    honest.shuffle(rng);
    let k = (cfg.collusion.partner_fraction * honest.len() as f64).round() as usize;
    for &i in &honest[..k.min(honest.len())] {
        parties[i].partner = true;
    }
    parties
}

/// A party's running estimates of what joining a round brings, per party and per run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Learner {
    /// Expected reward of a round joined, utoken.
    pub reward: f64,
    /// Expected slash of a round joined, utoken.
    pub slash: f64,
}

impl Learner {
    /// An optimistic start: `optimism · max(budget / cohort_size, own cost)`, no slash.
    pub fn new(party: &Party, cfg: &SimConfig) -> Self {
        let fair_share = cfg.rewards.budget_utoken as f64 / cfg.cohort_size as f64;
        let cost = party.expected_cost(cfg.rewards.min_stake_utoken as f64);
        Self {
            reward: cfg.learning.optimism * fair_share.max(cost),
            slash: 0.0,
        }
    }

    /// Joins when the expected reward beats cost and expected slash, or to explore.
    pub fn decide<R: Rng>(&self, party: &Party, cfg: &SimConfig, rng: &mut R) -> bool {
        let explore = rng.random::<f64>() < cfg.learning.exploration;
        let net =
            self.reward - self.slash - party.expected_cost(cfg.rewards.min_stake_utoken as f64);
        net > 0.0 || explore
    }

    /// Folds in the reward and slash of a round it joined (summed over its identities).
    pub fn update(&mut self, reward: f64, slash: f64, rate: f64) {
        self.reward += rate * (reward - self.reward);
        self.slash += rate * (slash - self.slash);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn population_follows_the_mix() {
        let cfg = SimConfig::default();
        let ps = population(&cfg, &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(ps.len(), 1000);
        let count = |s| ps.iter().filter(|p| p.strategy == s).count();
        assert_eq!(count(Strategy::FreeRider), 80);
        assert_eq!(count(Strategy::Sybil), 50);
        assert_eq!(count(Strategy::Honest), 700);
        assert!(ps
            .iter()
            .all(|p| p.tokens > 0.0 && p.quality > 0.0 && p.quality <= 1.0));
        assert_eq!(ps.iter().filter(|p| p.partner).count(), 70);
        assert!(ps
            .iter()
            .filter(|p| p.partner)
            .all(|p| p.strategy == Strategy::Honest));
        let sybil = ps
            .iter()
            .find(|p| p.strategy == Strategy::Sybil)
            .expect("one sybil");
        assert_eq!(sybil.identities, 3);
        assert!((sybil.identity_claim() * 3.0 - sybil.tokens).abs() < 1e-6);
    }

    #[test]
    fn contributions_follow_the_strategy() {
        let base = Party {
            id: 0,
            strategy: Strategy::Honest,
            tokens: 1000.0,
            quality: 0.5,
            cost_per_token_utoken: 1.0,
            opportunity_rate: 0.01,
            effort: 1.0,
            identities: 1,
            no_show_prob: 0.0,
            partner: false,
        };
        assert_eq!(base.identity_effective_tokens(), 500.0);
        let fr = Party {
            strategy: Strategy::FreeRider,
            ..base.clone()
        };
        assert_eq!(fr.identity_effective_tokens(), 0.0);
        assert_eq!(fr.identity_compute_tokens(), 0.0);
        assert_eq!(fr.identity_claim(), 1000.0);
        let po = Party {
            strategy: Strategy::Poisoner,
            ..base.clone()
        };
        assert_eq!(po.identity_poison_tokens(), 1000.0);
        assert_eq!(po.identity_effective_tokens(), 0.0);
        assert_eq!(base.expected_cost(100.0), 1000.0 + 1.0);
    }

    #[test]
    fn learner_stops_joining_when_it_loses() {
        let cfg = SimConfig {
            learning: crate::sim::config::LearningConfig {
                exploration: 0.0,
                ..Default::default()
            },
            ..SimConfig::default()
        };
        let p = population(&cfg, &mut ChaCha8Rng::seed_from_u64(2))
            .into_iter()
            .find(|p| p.strategy == Strategy::FreeRider)
            .expect("a free-rider");
        let mut l = Learner::new(&p, &cfg);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        assert!(l.decide(&p, &cfg, &mut rng), "optimistic start joins");
        for _ in 0..30 {
            l.update(0.0, 50_000.0, cfg.learning.rate);
        }
        assert!(
            !l.decide(&p, &cfg, &mut rng),
            "slashed every round, it stays out"
        );
    }
}
