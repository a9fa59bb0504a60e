//! One cohort's valuation and settlement in the market model (issue #15, items 2 and 5).
//!
//! Evaluators measure every coalition of the cohort's players on their *validation* weights
//! with noise (independent per coalition, sd `σ/√batches`), and every scheme then gets the
//! same checks: a value with its standard error, the protocol's one-sided tests (harmful when
//! `v + t·se < 0`; free-rider when `v + t·se ≤ τ·G/n`; unpaid when `v ≤ τ·G/n` without
//! significance), the same slashes, and a share of the pool. Schemes differ only in the value
//! they test (Shapley φ, or leave-one-out with its own standard error; equal and data-size
//! have no value of their own and are tested on the evaluators' φ) and in the pay weight.
//!
//! Copy-proof valuation: evaluators group near-duplicate identities (the same owner's
//! overlapping content — in the product, near-identical LoRA deltas or data fingerprints)
//! into one player and value the group as one (group Shapley). The group's reward and slash
//! are shared *evenly* by its identities: an even split makes a copy's total exactly the
//! group's value whatever the copier stakes, whereas a split by stake would let whoever
//! bonds most on a copy take a larger part of a group it does not own.
//!
//! The ground truth is computed beside it from the *test* utility (weights the evaluators
//! never see), noise-free: each owner's leave-one-party-out counterfactual
//! `U_test(N) − U_test(N ∖ owner)` in this cohort.

use super::config::MarketScheme;
use super::utility::{OwnerData, Player, Utility};
use crate::sim::exact::{shapley_from_table, ShapleyWeights};
use crate::sim::noise::gaussian;

/// A player of a cohort with what the settlement needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CohortPlayer {
    /// Owner (index into the cohort's owners) and content.
    pub player: Player,
    /// Identities grouped in it (≥ 1).
    pub identities: u32,
    /// Tokens it claims (data-size scheme).
    pub claim: f64,
    /// Whether its owner bribes colluding evaluators.
    pub partner: bool,
}

/// How the rule classed a player.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Shares the pool.
    Contributor,
    /// Significantly at or below the free-rider threshold: slashed.
    FreeRider,
    /// At or below the threshold without significance: neither paid nor slashed.
    Unpaid,
    /// Significantly below zero: slashed.
    Harmful,
}

/// One consensus's settlement (before the pool is known).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settlement {
    /// `G`: the value the cohort's non-harmful players created (decides the pool share).
    pub g: f64,
    /// Each player's fraction of the cohort's pool.
    pub share: Vec<f64>,
    /// Each player's slash as a fraction of one identity's stake, times its identities.
    pub slash_stakes: Vec<f64>,
    /// Each player's class.
    pub class: Vec<Option<Class>>,
}

/// What a cohort's evaluation produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CohortResult {
    /// Settlement on the honest consensus.
    pub honest: Settlement,
    /// Settlement on the consensus inflated for partners (present only when a partner is).
    pub inflated: Option<Settlement>,
    /// Noise-free test utility of the whole cohort.
    pub u_test: f64,
    /// Per owner: `U_test(N) − U_test(N ∖ owner)`.
    pub counterfactual: Vec<f64>,
}

/// Scratch buffers for evaluating cohorts.
#[derive(Debug, Default)]
pub struct Evaluator {
    cover: Vec<u8>,
    e: Vec<f64>,
    eval: Vec<f64>,
    test: Vec<f64>,
    phi: Vec<f64>,
    weights: Vec<Option<ShapleyWeights>>,
}

/// Constants of the checks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    /// sd of one measured coalition utility (`σ/√batches`).
    pub coalition_sd: f64,
    /// One-sided critical value.
    pub t: f64,
    /// τ.
    pub tau: f64,
    /// Free-rider slash fraction.
    pub slash_free_rider: f64,
    /// Harmful slash fraction.
    pub slash_harmful: f64,
    /// Collusion inflation (units of the cohort's mean value).
    pub inflation: f64,
}

impl Evaluator {
    fn weights(&mut self, k: usize) -> &ShapleyWeights {
        if self.weights.len() <= k {
            self.weights.resize(k + 1, None);
        }
        self.weights[k].get_or_insert_with(|| ShapleyWeights::new(k))
    }

    /// Evaluates one cohort under `scheme`; `noise_seed` fixes the validation noise.
    #[allow(clippy::too_many_arguments)]
    pub fn evaluate(
        &mut self,
        scheme: MarketScheme,
        rule: &Rule,
        validation: &Utility,
        test: &Utility,
        owners: &[OwnerData],
        players: &[CohortPlayer],
        noise_seed: u64,
    ) -> CohortResult {
        let k = players.len();
        let ps: Vec<Player> = players.iter().map(|p| p.player).collect();
        validation.table(owners, &ps, &mut self.cover, &mut self.e, &mut self.eval);
        test.table(owners, &ps, &mut self.cover, &mut self.e, &mut self.test);
        for (m, v) in self.eval.iter_mut().enumerate().skip(1) {
            *v += rule.coalition_sd * gaussian(noise_seed, m as u64);
        }
        let full = (1usize << k) - 1;
        let mut counterfactual = vec![0.0; owners.len()];
        for (o, c) in counterfactual.iter_mut().enumerate() {
            let without = ps
                .iter()
                .enumerate()
                .filter(|(_, p)| p.owner != o)
                .fold(0usize, |m, (i, _)| m | 1 << i);
            *c = self.test[full] - self.test[without];
        }
        let u_test = self.test[full];
        let eval = std::mem::take(&mut self.eval);
        let mut phi = std::mem::take(&mut self.phi);
        let w = self.weights(k);
        shapley_from_table(&eval, w, &mut phi);
        let phi_se = rule.coalition_sd * w.noise_factor();
        // Leave-one-out with its own standard error (two noisy coalitions, one when k = 1).
        let loo: Vec<f64> = (0..k)
            .map(|i| eval[full] - eval[full & !(1 << i)])
            .collect();
        let loo_se = rule.coalition_sd * if k > 1 { 2f64.sqrt() } else { 1.0 };
        let (value, se): (&[f64], f64) = match scheme {
            MarketScheme::Loo => (&loo, loo_se),
            _ => (&phi, phi_se),
        };
        let pay = |v: &[f64], i: usize| -> f64 {
            match scheme {
                MarketScheme::Equal => 1.0,
                MarketScheme::DataSize => players[i].claim.max(0.0),
                MarketScheme::ShapleyRho(r) => v[i].max(0.0).powf(f64::from(r) / 100.0),
                _ => v[i].max(0.0),
            }
        };
        let honest = settle(value, se, players, rule, &pay);
        let inflated = players.iter().any(|p| p.partner).then(|| {
            let mean = (eval[full].abs() / k as f64).max(1e-12);
            let v: Vec<f64> = value
                .iter()
                .zip(players)
                .map(|(v, p)| {
                    if p.partner {
                        v + rule.inflation * mean
                    } else {
                        *v
                    }
                })
                .collect();
            settle(&v, se, players, rule, &pay)
        });
        self.eval = eval;
        self.phi = phi;
        CohortResult {
            honest,
            inflated,
            u_test,
            counterfactual,
        }
    }
}

/// The protocol's rule in floating point (see `fairshare_protocol::rewards`), on values `v`
/// with standard error `se`; `pay(v, i)` is player `i`'s weight in the pool.
fn settle(
    v: &[f64],
    se: f64,
    players: &[CohortPlayer],
    rule: &Rule,
    pay: &dyn Fn(&[f64], usize) -> f64,
) -> Settlement {
    let k = v.len();
    let harmful: Vec<bool> = v.iter().map(|x| x + rule.t * se < 0.0).collect();
    let g: f64 = v
        .iter()
        .zip(&harmful)
        .filter(|(_, h)| !**h)
        .map(|(x, _)| x.max(0.0))
        .sum();
    let threshold = rule.tau * g / k as f64;
    let mut class = Vec::with_capacity(k);
    let mut weight = vec![0.0; k];
    let mut slash = vec![0.0; k];
    for i in 0..k {
        let ids = f64::from(players[i].identities);
        let c = if harmful[i] {
            slash[i] = rule.slash_harmful * ids;
            Class::Harmful
        } else if v[i] + rule.t * se <= threshold {
            slash[i] = rule.slash_free_rider * ids;
            Class::FreeRider
        } else if v[i] <= threshold {
            Class::Unpaid
        } else {
            weight[i] = pay(v, i);
            Class::Contributor
        };
        class.push(Some(c));
    }
    let total: f64 = weight.iter().sum();
    let share = if total > 0.0 {
        weight.iter().map(|w| w / total).collect()
    } else {
        vec![0.0; k]
    };
    Settlement {
        g,
        share,
        slash_stakes: slash,
        class,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::utility::ALL;
    use crate::sim::Surrogate;

    fn rule(sd: f64) -> Rule {
        Rule {
            coalition_sd: sd,
            t: 2.998,
            tau: 0.1,
            slash_free_rider: 0.5,
            slash_harmful: 1.0,
            inflation: 1.0,
        }
    }

    fn utility() -> Utility {
        Utility {
            surrogate: Surrogate::default(),
            weights: vec![0.5, 0.5],
        }
    }

    fn player(owner: usize, identities: u32) -> CohortPlayer {
        CohortPlayer {
            player: Player { owner, mask: ALL },
            identities,
            claim: 1.0,
            partner: false,
        }
    }

    #[test]
    fn group_shapley_values_copies_as_one_player() {
        let u = utility();
        let owners = vec![
            OwnerData {
                e: vec![100_000.0, 0.0],
                poison: 0.0,
            },
            OwnerData {
                e: vec![60_000.0, 0.0],
                poison: 0.0,
            },
        ];
        let mut ev = Evaluator::default();
        // Grouped: owner 0's three copies are one player.
        let grouped = ev.evaluate(
            MarketScheme::Shapley,
            &rule(0.0),
            &u,
            &u,
            &owners,
            &[player(0, 3), player(1, 1)],
            1,
        );
        let alone = ev.evaluate(
            MarketScheme::Shapley,
            &rule(0.0),
            &u,
            &u,
            &owners,
            &[player(0, 1), player(1, 1)],
            1,
        );
        assert_eq!(
            grouped.honest.share, alone.honest.share,
            "copies earn one share"
        );
        // Ungrouped: the three copies are three players and take more of the pool.
        let ungrouped = ev.evaluate(
            MarketScheme::ShapleyNoGroup,
            &rule(0.0),
            &u,
            &u,
            &owners,
            &[player(0, 1), player(0, 1), player(0, 1), player(1, 1)],
            1,
        );
        let copies: f64 = ungrouped.honest.share[..3].iter().sum();
        assert!(
            copies > alone.honest.share[0] + 0.01,
            "ungrouped copies take {copies} of the pool, one identity {}",
            alone.honest.share[0]
        );
        // The counterfactual removes the whole owner.
        assert!((grouped.counterfactual[0] - alone.counterfactual[0]).abs() < 1e-15);
        assert!(grouped.counterfactual[0] > 0.0);
    }

    #[test]
    fn loo_is_tested_with_its_own_error_not_clipped() {
        let u = utility();
        // Two identical-domain parties: LOO of each is small but positive.
        let owners = vec![
            OwnerData {
                e: vec![400_000.0, 0.0],
                poison: 0.0,
            },
            OwnerData {
                e: vec![400_000.0, 0.0],
                poison: 0.0,
            },
        ];
        let mut ev = Evaluator::default();
        let r = ev.evaluate(
            MarketScheme::Loo,
            &rule(0.0),
            &u,
            &u,
            &owners,
            &[player(0, 1), player(1, 1)],
            3,
        );
        assert_eq!(r.honest.class, vec![Some(Class::Contributor); 2]);
        assert!((r.honest.share[0] - 0.5).abs() < 1e-12);
        // With noise far larger than the LOO value the test cannot convict: unpaid, not slashed.
        let noisy = ev.evaluate(
            MarketScheme::Loo,
            &rule(0.5),
            &u,
            &u,
            &owners,
            &[player(0, 1), player(1, 1)],
            3,
        );
        for (c, s) in noisy.honest.class.iter().zip(&noisy.honest.slash_stakes) {
            assert!(
                *c != Some(Class::FreeRider) && *c != Some(Class::Harmful) || *s > 0.0,
                "a slash comes only with a significant verdict"
            );
        }
    }

    #[test]
    fn poisoner_is_slashed_and_test_weights_differ_from_validation() {
        let val = utility();
        let test = Utility {
            surrogate: Surrogate::default(),
            weights: vec![0.9, 0.1],
        };
        let owners = vec![
            OwnerData {
                e: vec![0.0, 200_000.0],
                poison: 0.0,
            },
            OwnerData {
                e: vec![0.0, 0.0],
                poison: 200_000.0,
            },
        ];
        let mut ev = Evaluator::default();
        let r = ev.evaluate(
            MarketScheme::Shapley,
            &rule(0.001),
            &val,
            &test,
            &owners,
            &[player(0, 1), player(1, 1)],
            5,
        );
        assert_eq!(r.honest.class[1], Some(Class::Harmful));
        assert_eq!(r.honest.slash_stakes[1], 1.0);
        assert!(r.counterfactual[1] < 0.0);
        // The test distribution barely values domain 1: the true contribution is small
        // although the evaluators see a large one.
        assert!(r.counterfactual[0] < val.value(&[0.0, 200_000.0], 0.0));
    }

    #[test]
    fn float_rule_matches_the_protocol() {
        use cosmwasm_std::{Decimal, SignedDecimal, Uint128};
        use fairshare_protocol::rewards::{compute_payout, Entry, RewardParams, Score, Verdict};
        use std::str::FromStr;
        let params = RewardParams {
            budget: Uint128::new(1_000_000_000),
            delta_u_target: Decimal::from_str("0.000001").expect("dec"),
            free_rider_tau: Decimal::from_str("0.1").expect("dec"),
            slash_free_rider: Decimal::from_str("0.5").expect("dec"),
            slash_harmful: Decimal::one(),
            slash_no_show: Decimal::zero(),
            harm_alpha: Decimal::percent(1),
        };
        let t: f64 = params.critical_t(7).to_string().parse().expect("t");
        let r = Rule { t, ..rule(0.0) };
        let cases: [&[f64]; 4] = [
            &[0.3, 0.1, 0.1],
            &[0.9, 0.001, -0.1, 0.2],
            &[0.05, 0.02, 0.0],
            &[-0.01, 0.5, 0.012],
        ];
        for (ci, v) in cases.iter().enumerate() {
            let se = 0.004;
            let players: Vec<CohortPlayer> = (0..v.len()).map(|i| player(i, 1)).collect();
            let s = settle(v, se, &players, &r, &|v, i| v[i].max(0.0));
            let entries: Vec<Entry> = v
                .iter()
                .map(|x| Entry {
                    stake: Uint128::new(1_000_000),
                    score: Some(Score {
                        value: SignedDecimal::from_str(&format!("{x:.6}")).expect("dec"),
                        std_error: Decimal::from_str(&format!("{se:.6}")).expect("dec"),
                    }),
                })
                .collect();
            let p = compute_payout(&params, &entries, 7);
            let paid: f64 = p.outcomes.iter().map(|o| o.reward.u128() as f64).sum();
            for (i, o) in p.outcomes.iter().enumerate() {
                let want = match o.verdict {
                    Verdict::Contributor => Class::Contributor,
                    Verdict::FreeRider => Class::FreeRider,
                    Verdict::Unpaid => Class::Unpaid,
                    Verdict::Harmful => Class::Harmful,
                    Verdict::NoShow => unreachable!("every entry has a score"),
                };
                assert_eq!(s.class[i], Some(want), "case {ci} player {i}");
                if paid > 0.0 {
                    assert!((o.reward.u128() as f64 / paid - s.share[i]).abs() < 1e-6);
                }
                let slash = o.slash.u128() as f64 / 1e6;
                assert!(
                    (slash - s.slash_stakes[i]).abs() < 1e-9,
                    "case {ci} player {i}"
                );
            }
        }
    }
}
