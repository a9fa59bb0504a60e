//! How often the harmful verdict convicts an honest participant whose update is worth exactly
//! nothing, with the simulation's own noise model: cohorts of `cohort_size − 1` honest parties
//! of the population plus one null member, measured by an honest panel under
//! `shapley_exact`, settled by the evaluator layer. The rule of #11 (`φ + t(α, ν)·se < 0` on
//! the consensus) is compared with the old one (`φ + se < 0` on the separate medians of the
//! reported φ and standard errors).

use cosmwasm_std::{Decimal, Uint128};
use fairshare_protocol::rewards::is_harmful;
use fairshare_protocol::tdist::{critical, LEVELS_PER_MILLE};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::agent::{Party, Strategy};
use super::config::SimConfig;
use super::exact::ShapleyWeights;
use super::noise::derive;
use super::panel::{reveal, settle, Panel, Role};
use super::schemes::{Cohort, Measurement, Scheme, Scorer};
use super::world::noise;
use crate::stats::{median, summarize, Summary};

/// The levels α a DAO may choose, as fractions.
pub fn levels() -> Vec<f64> {
    LEVELS_PER_MILLE
        .iter()
        .map(|&pm| f64::from(pm) / 1000.0)
        .collect()
}

/// One seed's conviction rates of the null member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedRates {
    /// Under the new rule, at each level of [`levels`].
    pub new_rule: Vec<f64>,
    /// Under the old one-standard-error rule.
    pub old_rule: f64,
    /// Cohorts tried.
    pub cohorts: usize,
}

/// Conviction rates of the null member over `cfg.false_positives.cohorts` cohorts drawn
/// from `parties` (the population of seed `seed_index`); `None` when the population has no
/// honest party to fill a cohort with.
pub fn seed_rates(
    cfg: &SimConfig,
    parties: &[Party],
    seed_index: usize,
) -> Result<Option<SeedRates>, fairshare_shapley::ShapleyError> {
    let honest: Vec<f64> = parties
        .iter()
        .filter(|p| p.strategy == Strategy::Honest)
        .map(Party::identity_effective_tokens)
        .collect();
    if honest.is_empty() && cfg.cohort_size > 1 {
        return Ok(None);
    }
    let seed = derive(cfg.base_seed, &[seed_index as u64, 0xFA15]);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let k = cfg.cohort_size;
    let null = k - 1;
    let weights = ShapleyWeights::new(k);
    let panel = Panel::honest(cfg.evaluators, cfg.evaluation.quorum);
    let params = cfg.evaluator_params();
    let bond = Uint128::new(cfg.evaluation.bond_utoken);
    let budget = Uint128::new(cfg.rewards.budget_utoken);
    let ts: Vec<Decimal> = LEVELS_PER_MILLE
        .iter()
        .map(|&pm| {
            critical(Decimal::permille(u64::from(pm)), cfg.dof()).expect("a tabulated level")
        })
        .collect();
    let mut scorer = Scorer::new(Scheme::ShapleyExact, noise(cfg), cfg.sampled.clone());
    let (mut plus, minus) = (vec![0.0; k], vec![0.0; k]);
    let claims = vec![1.0; k];
    let (mut scratch, mut table) = (Vec::new(), Vec::new());
    let mut measurements: Vec<Measurement> = Vec::new();
    let mut reports: Vec<Option<Vec<_>>> = vec![None; panel.size()];
    let no_partners = vec![false; k];
    let no_history = vec![None; k];
    let (mut new_hits, mut old_hits) = (vec![0usize; ts.len()], 0usize);
    let mut column = Vec::with_capacity(panel.size());
    let n = cfg.false_positives.cohorts;
    for c in 0..n {
        for p in plus.iter_mut().take(null) {
            *p = honest[rng.random_range(0..honest.len())];
        }
        plus[null] = 0.0;
        cfg.surrogate.table(&plus, &minus, &mut scratch, &mut table);
        let cohort = Cohort {
            table: &table,
            weights: &weights,
            claims: &claims,
            seed: derive(seed, &[c as u64]),
        };
        scorer.measure(&cohort, panel.size(), &mut measurements)?;
        for (slot, m) in reports.iter_mut().zip(&measurements) {
            let mut out = slot.take().unwrap_or_default();
            reveal(Role::Honest, m, &no_partners, &no_history, 1.0, &mut out);
            *slot = Some(out);
        }
        let s = settle(&params, bond, panel.quorum, budget, &reports, k);
        if let Some(score) = s.scores.get(null) {
            for (hit, &t) in new_hits.iter_mut().zip(&ts) {
                *hit += usize::from(is_harmful(*score, t));
            }
        }
        column.clear();
        column.extend(measurements.iter().map(|m| m.phi[null]));
        let phi = median(&mut column);
        column.clear();
        column.extend(measurements.iter().map(|m| m.se[null]));
        let se = median(&mut column);
        old_hits += usize::from(phi + se < 0.0);
    }
    let rate = |hits: usize| {
        if n == 0 {
            f64::NAN
        } else {
            hits as f64 / n as f64
        }
    };
    Ok(Some(SeedRates {
        new_rule: new_hits.into_iter().map(rate).collect(),
        old_rule: rate(old_hits),
        cohorts: n,
    }))
}

/// The conviction rate at one level α.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelRate {
    /// α.
    pub alpha: f64,
    /// Share of null members judged harmful, over seeds.
    pub rate: Summary,
}

/// The experiment's figures over seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FalsePositiveReport {
    /// Cohorts per seed.
    pub cohorts_per_seed: usize,
    /// Degrees of freedom of the standard errors.
    pub dof: u32,
    /// The configured level α of the reward rule.
    pub alpha: f64,
    /// The new rule at every level a DAO may choose.
    pub new_rule: Vec<LevelRate>,
    /// The old one-standard-error rule.
    pub old_rule: Summary,
    /// Each seed's rates.
    pub per_seed: Vec<SeedRates>,
}

impl FalsePositiveReport {
    /// Summarises the seeds.
    pub fn new(cfg: &SimConfig, per_seed: Vec<SeedRates>) -> Self {
        let new_rule = levels()
            .into_iter()
            .enumerate()
            .map(|(j, alpha)| LevelRate {
                alpha,
                rate: summarize(
                    &per_seed
                        .iter()
                        .map(|s| s.new_rule.get(j).copied().unwrap_or(f64::NAN))
                        .collect::<Vec<_>>(),
                ),
            })
            .collect();
        Self {
            cohorts_per_seed: cfg.false_positives.cohorts,
            dof: cfg.dof(),
            alpha: cfg.rewards.harm_alpha,
            new_rule,
            old_rule: summarize(&per_seed.iter().map(|s| s.old_rule).collect::<Vec<_>>()),
            per_seed,
        }
    }

    /// The new rule's rate at the configured α.
    pub fn at_configured_alpha(&self) -> Option<&LevelRate> {
        self.new_rule
            .iter()
            .find(|l| (l.alpha - self.alpha).abs() < 1e-12)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::experiment::seed_population;
    use crate::sim::world::tests::small;

    /// The new rule convicts a worthless honest update at about α; the old one at about
    /// P(t₇ < −1) ≈ 17.5%.
    #[test]
    fn the_new_rule_convicts_at_alpha_and_the_old_one_far_more() {
        let mut cfg = small();
        cfg.false_positives.cohorts = 4000;
        let parties = seed_population(&cfg, 0);
        let r = seed_rates(&cfg, &parties, 0)
            .expect("measures")
            .expect("honest parties");
        let n = r.cohorts as f64;
        for (alpha, rate) in levels().into_iter().zip(&r.new_rule) {
            let half = 3.0 * (alpha * (1.0 - alpha) / n).sqrt();
            assert!(*rate <= alpha + half, "α = {alpha}: {rate}");
        }
        let at_five = r.new_rule[4];
        assert!(
            at_five >= 0.05 - 3.0 * (0.05 * 0.95 / n).sqrt(),
            "calibrated: {at_five}"
        );
        assert!(
            (r.old_rule - 0.175).abs() < 0.03,
            "old rule: {}",
            r.old_rule
        );
        assert!(r.new_rule.windows(2).all(|w| w[0] <= w[1]), "monotone in α");
    }
}
