//! The agents' learning rule (issue #15, item 4): Hedge (multiplicative weights) over each
//! action's estimated payoff, with bandit feedback.
//!
//! An agent sees only the payoff of the action it played. It keeps, per action, the running
//! mean of the payoffs it realised with it (normalised by its own scale, e.g. its compute cost
//! per round), plays action `a` with probability `∝ exp(η_t · Q_a)` mixed with exploration
//! `ε_t`, and `η_t = η · √t` grows while `ε_t = ε / √t` shrinks, so play concentrates on the
//! best estimated action (a smooth, bandit version of fictitious play against the realised
//! population). Untried actions start at `Q = prior`.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Constants of the learning rule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LearnConfig {
    /// `η`: inverse temperature at round 1 (payoffs in units of the agent's scale).
    pub eta: f64,
    /// `ε`: exploration at round 1.
    pub explore: f64,
    /// Weight of a new payoff in an action's estimate (exponential recency; `0` = plain mean).
    pub recency: f64,
    /// Initial estimate of an untried action (optimism draws agents to try it).
    pub prior: f64,
}

impl Default for LearnConfig {
    fn default() -> Self {
        Self {
            eta: 2.0,
            explore: 0.3,
            recency: 0.1,
            prior: 0.2,
        }
    }
}

/// One agent's state over `n` actions.
#[derive(Debug, Clone, PartialEq)]
pub struct Learner {
    q: Vec<f64>,
    plays: Vec<u32>,
    t: u32,
    /// Actions it may play (others have probability 0).
    allowed: Vec<bool>,
}

impl Learner {
    /// A learner over `n` actions; `allowed[a]` says whether action `a` is available.
    pub fn new(allowed: Vec<bool>, cfg: &LearnConfig) -> Self {
        let n = allowed.len();
        Self {
            q: vec![cfg.prior; n],
            plays: vec![0; n],
            t: 0,
            allowed,
        }
    }

    /// Fixes an action's estimate as known without playing it (e.g. staying out pays 0).
    pub fn know(&mut self, action: usize, value: f64) {
        self.q[action] = value;
        self.plays[action] = u32::MAX / 2;
    }

    /// Sets an action's estimate without counting a play (an initial belief).
    pub fn set_estimate(&mut self, action: usize, value: f64) {
        self.q[action] = value;
    }

    /// The current mixed strategy.
    pub fn probabilities(&self, cfg: &LearnConfig, out: &mut Vec<f64>) {
        let t = f64::from(self.t.max(1));
        let eta = cfg.eta * t.sqrt();
        let eps = (cfg.explore / t.sqrt()).min(1.0);
        let n_allowed = self.allowed.iter().filter(|&&a| a).count().max(1) as f64;
        let best = self
            .q
            .iter()
            .zip(&self.allowed)
            .filter(|(_, &a)| a)
            .map(|(q, _)| *q)
            .fold(f64::NEG_INFINITY, f64::max);
        out.clear();
        let mut z = 0.0;
        for (q, &a) in self.q.iter().zip(&self.allowed) {
            let w = if a { (eta * (q - best)).exp() } else { 0.0 };
            z += w;
            out.push(w);
        }
        for (p, &a) in out.iter_mut().zip(&self.allowed) {
            *p = if a {
                (1.0 - eps) * *p / z + eps / n_allowed
            } else {
                0.0
            };
        }
    }

    /// Draws an action from the current mixed strategy (`scratch` is reused).
    pub fn choose<R: Rng>(&self, cfg: &LearnConfig, rng: &mut R, scratch: &mut Vec<f64>) -> usize {
        self.probabilities(cfg, scratch);
        let mut u: f64 = rng.random();
        for (a, p) in scratch.iter().enumerate() {
            if u < *p {
                return a;
            }
            u -= p;
        }
        scratch.iter().rposition(|&p| p > 0.0).unwrap_or(0)
    }

    /// Folds in the normalised payoff of the action played this round.
    pub fn update(&mut self, action: usize, payoff: f64, cfg: &LearnConfig) {
        self.t += 1;
        if self.plays[action] >= u32::MAX / 2 {
            return;
        }
        self.plays[action] += 1;
        let n = f64::from(self.plays[action]);
        let step = (1.0 / n).max(cfg.recency);
        self.q[action] += step * (payoff - self.q[action]);
    }

    /// Counts one round in which the agent played nothing it learns from.
    pub fn tick(&mut self) {
        self.t += 1;
    }

    /// The estimated payoffs.
    pub fn estimates(&self) -> &[f64] {
        &self.q
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, Normal};

    #[test]
    fn learns_the_best_arm_under_noise() {
        let cfg = LearnConfig::default();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let noise = Normal::new(0.0, 0.5).expect("sd > 0");
        let means = [0.0, 0.3, -0.2, 0.1];
        let mut l = Learner::new(vec![true; 4], &cfg);
        let mut s = Vec::new();
        let mut best = 0;
        for t in 0..400 {
            let a = l.choose(&cfg, &mut rng, &mut s);
            if t >= 300 && a == 1 {
                best += 1;
            }
            l.update(a, means[a] + noise.sample(&mut rng), &cfg);
        }
        assert!(
            best > 80,
            "plays the best arm {best} of the last 100 rounds"
        );
        let mut p = Vec::new();
        l.probabilities(&cfg, &mut p);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn population_converges_to_the_crowding_equilibrium() {
        // Congestion game: joining pays B/n − c with n joiners, staying out 0. The Nash
        // equilibrium has n* = B/c joiners.
        let cfg = LearnConfig::default();
        let (agents, budget, cost) = (200usize, 60.0, 1.0);
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut ls: Vec<Learner> = (0..agents)
            .map(|_| {
                let mut l = Learner::new(vec![true, true], &cfg);
                l.know(0, 0.0);
                l
            })
            .collect();
        let mut s = Vec::new();
        let mut tail = Vec::new();
        for t in 0..400 {
            let acts: Vec<usize> = ls
                .iter()
                .map(|l| l.choose(&cfg, &mut rng, &mut s))
                .collect();
            let n = acts.iter().filter(|&&a| a == 1).count();
            for (l, &a) in ls.iter_mut().zip(&acts) {
                let pay = if a == 1 {
                    budget / n as f64 - cost
                } else {
                    0.0
                };
                l.update(a, pay, &cfg);
            }
            if t >= 300 {
                tail.push(n as f64);
            }
        }
        let mean = tail.iter().sum::<f64>() / tail.len() as f64;
        assert!(
            (mean - 60.0).abs() < 8.0,
            "mean joiners {mean}, equilibrium 60"
        );
    }

    #[test]
    fn disallowed_actions_are_never_played() {
        let cfg = LearnConfig::default();
        let l = Learner::new(vec![true, false, true], &cfg);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut s = Vec::new();
        assert!((0..500).all(|_| l.choose(&cfg, &mut rng, &mut s) != 1));
    }
}
