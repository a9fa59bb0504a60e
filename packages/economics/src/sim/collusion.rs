//! The collusion experiment's economics: what a colluding group of evaluators gains for its
//! partners, what it earns or loses as evaluators, and what it expects to lose to re-execution.
//!
//! A lie whose φ does not follow from the liar's own committed utility table is struck out and
//! slashed by an on-chain dispute with certainty, so a rational colluder fabricates a
//! consistent table (see [`super::panel`]). Such a table is caught only by re-execution:
//! someone recomputes `U(S)` on the validation text revealed after settlement and the DAO
//! slashes `slash_disputed` of every fabricating evaluator's bond. With `p` the chance of that
//! per round in which they lie, the colluders' expected profit per such round is
//!
//! `gain + Δpay − p · slash_disputed · bond · colluders`,
//!
//! where `gain` is the partners' extra reward (assumed handed over in full as a side payment)
//! and `Δpay` the change of the colluders' own net pay as evaluators, both against the same
//! seed run with an honest panel, per round in which they lied. It is linear and decreasing in
//! `p`; the break-even is `p* = (gain + Δpay) / (slash_disputed · bond · colluders)`, or, at a
//! given `p`, the bond `(gain + Δpay) / (p · slash_disputed · colluders)`.

use serde::{Deserialize, Serialize};

use super::panel::Role;
use super::world::RunRecord;
use crate::stats::{summarize, Summary};

/// What one collusion run (or its honest baseline) produced.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CollusionRun {
    /// Σ of the partners' rewards, utoken.
    pub partner_reward: f64,
    /// Net pay of each evaluator seat over the run, utoken.
    pub seat_net: Vec<f64>,
    /// Net pay per cohort served of each seat, utoken.
    pub seat_net_per_cohort: Vec<f64>,
    /// Per seat: share of its settled reports judged outlier or deviant.
    pub seat_outlier_rate: Vec<f64>,
    /// Per seat: its role.
    pub roles: Vec<Role>,
    /// Cohorts in which the colluders fabricated scores.
    pub lying_cohorts: f64,
}

impl CollusionRun {
    /// Reduces a run record; `partner` says whether each party is a partner.
    pub fn from_record(record: &RunRecord, partner: impl Fn(usize) -> bool) -> Self {
        let partner_reward = record
            .parties
            .iter()
            .enumerate()
            .filter(|(i, _)| partner(*i))
            .map(|(_, t)| t.reward_utoken)
            .sum();
        let ev = &record.evaluators;
        Self {
            partner_reward,
            seat_net: ev.iter().map(|e| e.net_utoken()).collect(),
            seat_net_per_cohort: ev.iter().map(|e| e.net_per_cohort()).collect(),
            seat_outlier_rate: ev
                .iter()
                .map(|e| {
                    let judged = e.consensus + e.outliers + e.deviants;
                    if judged == 0 {
                        f64::NAN
                    } else {
                        f64::from(e.outliers + e.deviants) / f64::from(judged)
                    }
                })
                .collect(),
            roles: ev.iter().map(|e| e.role).collect(),
            lying_cohorts: ev
                .iter()
                .filter(|e| e.role == Role::Colluder)
                .map(|e| f64::from(e.fabricated))
                .fold(0.0, f64::max),
        }
    }

    fn seats(&self, role: Role) -> impl Iterator<Item = usize> + '_ {
        (0..self.roles.len()).filter(move |&i| self.roles[i] == role)
    }

    fn mean_over(&self, role: Role, xs: &[f64]) -> f64 {
        crate::stats::mean(&self.seats(role).map(|i| xs[i]).collect::<Vec<_>>())
    }
}

/// One seed's colluding run against its honest baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollusionSeed {
    /// The run with colluders.
    pub colluding: CollusionRun,
    /// The same seed with an honest panel of the same size.
    pub honest: CollusionRun,
}

impl CollusionSeed {
    fn colluders(&self) -> usize {
        self.colluding.seats(Role::Colluder).count()
    }

    /// Partners' reward relative to the honest run, minus one.
    pub fn relative_gain(&self) -> f64 {
        self.colluding.partner_reward / self.honest.partner_reward - 1.0
    }

    /// Partners' extra reward plus the colluders' change of net pay as evaluators, per round
    /// in which they lied (`NaN` if they never lied).
    pub fn gain_per_lie(&self) -> f64 {
        if self.colluding.lying_cohorts <= 0.0 {
            return f64::NAN;
        }
        let gain = self.colluding.partner_reward - self.honest.partner_reward;
        (gain + self.pay_change()) / self.colluding.lying_cohorts
    }

    /// The partners' extra reward alone, per round in which the colluders lied.
    pub fn partner_gain_per_lie(&self) -> f64 {
        if self.colluding.lying_cohorts <= 0.0 {
            return f64::NAN;
        }
        (self.colluding.partner_reward - self.honest.partner_reward) / self.colluding.lying_cohorts
    }

    /// Σ over the colluders' seats of their net pay, minus the same seats' in the honest run.
    pub fn pay_change(&self) -> f64 {
        self.colluding
            .seats(Role::Colluder)
            .map(|i| {
                self.colluding.seat_net[i] - self.honest.seat_net.get(i).copied().unwrap_or(0.0)
            })
            .sum()
    }

    /// Expected profit per round in which they lie, at detection probability `p`.
    pub fn expected_profit(&self, p: f64, slash_disputed: f64, bond: f64) -> f64 {
        expected_profit(
            self.gain_per_lie(),
            p,
            slash_disputed,
            bond,
            self.colluders(),
        )
    }

    /// The detection probability at which the expected profit is zero (may exceed 1: then
    /// even certain detection does not deter at this bond).
    pub fn break_even_p(&self, slash_disputed: f64, bond: f64) -> f64 {
        self.gain_per_lie() / (slash_disputed * bond * self.colluders() as f64)
    }

    /// The bond at which the expected profit is zero when detection has probability `p`.
    pub fn break_even_bond(&self, p: f64, slash_disputed: f64) -> f64 {
        self.gain_per_lie() / (p * slash_disputed * self.colluders() as f64)
    }
}

/// `gain − p · slash_disputed · bond · colluders`.
pub fn expected_profit(gain: f64, p: f64, slash_disputed: f64, bond: f64, colluders: usize) -> f64 {
    gain - p * slash_disputed * bond * colluders as f64
}

/// A figure at one detection probability.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AtP {
    /// Probability that re-execution catches a fabricated table in a round.
    pub p_detect: f64,
    /// The figure, over seeds.
    pub value: Summary,
}

/// One cell of the collusion experiment: a panel size and a number of colluders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollusionRow {
    /// Evaluators per cohort.
    pub evaluators: usize,
    /// Colluding evaluators among them.
    pub colluders: usize,
    /// Partners' cumulative reward relative to the honest run, minus one.
    pub partner_gain: Summary,
    /// Partners' extra reward per round in which the colluders lied, utoken.
    pub partner_gain_per_lie_utoken: Summary,
    /// Σ of the colluders' change of net pay as evaluators per round in which they lied.
    pub pay_change_per_lie_utoken: Summary,
    /// A colluder's net pay per cohort served, utoken.
    pub colluder_net_utoken: Summary,
    /// An honest evaluator's net pay per cohort served on the same panel, utoken.
    pub honest_net_utoken: Summary,
    /// An honest evaluator's net pay per cohort served on the all-honest panel, utoken.
    pub baseline_net_utoken: Summary,
    /// Share of the colluders' reports judged outlier or deviant.
    pub colluder_outlier_rate: Summary,
    /// Share of the honest evaluators' reports judged outlier or deviant.
    pub honest_outlier_rate: Summary,
    /// Rounds per run in which the colluders lied.
    pub lying_cohorts: Summary,
    /// Expected profit per round in which they lie, at each swept detection probability.
    pub expected_profit_utoken: Vec<AtP>,
    /// Detection probability at which the expected profit turns negative.
    pub break_even_p: Summary,
    /// Bond at which the expected profit turns negative, at each swept `p > 0`.
    pub break_even_bond_utoken: Vec<AtP>,
    /// Each seed's runs.
    pub per_seed: Vec<CollusionSeed>,
}

impl CollusionRow {
    /// Whether the colluders hold a majority of the panel.
    pub fn majority(&self) -> bool {
        2 * self.colluders > self.evaluators
    }

    /// Summarises the seeds of one cell (`p_detect` swept, `bond` and `slash_disputed` the
    /// evaluator layer's).
    pub fn new(
        evaluators: usize,
        colluders: usize,
        per_seed: Vec<CollusionSeed>,
        p_detect: &[f64],
        slash_disputed: f64,
        bond: f64,
    ) -> Self {
        let over = |f: &dyn Fn(&CollusionSeed) -> f64| -> Summary {
            summarize(&per_seed.iter().map(f).collect::<Vec<_>>())
        };
        let per_lie = |x: f64, s: &CollusionSeed| {
            if s.colluding.lying_cohorts > 0.0 {
                x / s.colluding.lying_cohorts
            } else {
                f64::NAN
            }
        };
        Self {
            evaluators,
            colluders,
            partner_gain: over(&|s| s.relative_gain()),
            partner_gain_per_lie_utoken: over(&|s| s.partner_gain_per_lie()),
            pay_change_per_lie_utoken: over(&|s| per_lie(s.pay_change(), s)),
            colluder_net_utoken: over(&|s| {
                s.colluding
                    .mean_over(Role::Colluder, &s.colluding.seat_net_per_cohort)
            }),
            honest_net_utoken: over(&|s| {
                s.colluding
                    .mean_over(Role::Honest, &s.colluding.seat_net_per_cohort)
            }),
            baseline_net_utoken: over(&|s| {
                s.honest
                    .mean_over(Role::Honest, &s.honest.seat_net_per_cohort)
            }),
            colluder_outlier_rate: over(&|s| {
                s.colluding
                    .mean_over(Role::Colluder, &s.colluding.seat_outlier_rate)
            }),
            honest_outlier_rate: over(&|s| {
                s.colluding
                    .mean_over(Role::Honest, &s.colluding.seat_outlier_rate)
            }),
            lying_cohorts: over(&|s| s.colluding.lying_cohorts),
            expected_profit_utoken: p_detect
                .iter()
                .map(|&p| AtP {
                    p_detect: p,
                    value: over(&|s| s.expected_profit(p, slash_disputed, bond)),
                })
                .collect(),
            break_even_p: over(&|s| s.break_even_p(slash_disputed, bond)),
            break_even_bond_utoken: p_detect
                .iter()
                .filter(|&&p| p > 0.0)
                .map(|&p| AtP {
                    p_detect: p,
                    value: over(&|s| s.break_even_bond(p, slash_disputed)),
                })
                .collect(),
            per_seed,
        }
    }
}

/// Colluder counts of the experiment for a panel of `m`: none (the honest baseline), the
/// largest minority and the smallest majority.
pub fn colluder_counts(m: usize) -> Vec<usize> {
    let mut v = vec![0, (m - 1) / 2, m / 2 + 1];
    v.retain(|&c| c <= m);
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(partner_reward: f64, roles: &[Role], nets: &[f64], lies: f64) -> CollusionRun {
        CollusionRun {
            partner_reward,
            seat_net: nets.to_vec(),
            seat_net_per_cohort: nets.iter().map(|n| n / 10.0).collect(),
            seat_outlier_rate: vec![0.0; nets.len()],
            roles: roles.to_vec(),
            lying_cohorts: lies,
        }
    }

    fn seed() -> CollusionSeed {
        use Role::{Colluder, Honest};
        CollusionSeed {
            colluding: run(
                3_000.0,
                &[Colluder, Colluder, Honest],
                &[600.0, 600.0, -100.0],
                10.0,
            ),
            honest: run(
                1_000.0,
                &[Honest, Honest, Honest],
                &[300.0, 300.0, 300.0],
                0.0,
            ),
        }
    }

    #[test]
    fn gain_counts_partners_and_pay_per_lie() {
        let s = seed();
        assert_eq!(s.relative_gain(), 2.0);
        assert_eq!(s.pay_change(), 600.0);
        assert_eq!(s.partner_gain_per_lie(), 200.0);
        assert_eq!(s.gain_per_lie(), 260.0);
    }

    #[test]
    fn expected_profit_decreases_in_p_and_crosses_zero_at_break_even() {
        let s = seed();
        let (slash, bond) = (1.0, 1_000.0);
        let profits: Vec<f64> = [0.0, 0.05, 0.1, 0.5, 1.0]
            .iter()
            .map(|&p| s.expected_profit(p, slash, bond))
            .collect();
        assert!(profits.windows(2).all(|w| w[1] < w[0]), "{profits:?}");
        assert_eq!(
            profits[0],
            s.gain_per_lie(),
            "undetected, the gain is all profit"
        );
        let p = s.break_even_p(slash, bond);
        assert!((s.expected_profit(p, slash, bond)).abs() < 1e-9);
        assert_eq!(p, 260.0 / 2_000.0);
        let b = s.break_even_bond(0.5, slash);
        assert!((s.expected_profit(0.5, slash, b)).abs() < 1e-9);
    }

    #[test]
    fn rows_summarise_seeds() {
        let row = CollusionRow::new(3, 2, vec![seed(), seed()], &[0.0, 0.5], 1.0, 1_000.0);
        assert!(row.majority());
        assert_eq!(row.partner_gain.mean, 2.0);
        assert_eq!(row.expected_profit_utoken.len(), 2);
        assert_eq!(
            row.break_even_bond_utoken.len(),
            1,
            "no break-even bond at p = 0"
        );
        assert_eq!(row.colluder_net_utoken.mean, 60.0);
        assert_eq!(row.honest_net_utoken.mean, -10.0);
        assert_eq!(row.baseline_net_utoken.mean, 30.0);
    }

    /// Runs the small configuration for `rounds` rounds with `colluders` of `m` evaluators.
    fn simulate(
        cfg: &crate::sim::SimConfig,
        m: usize,
        colluders: usize,
    ) -> (CollusionRun, RunRecord) {
        use crate::sim::experiment::seed_population;
        use crate::sim::panel::Panel;
        use crate::sim::world::{run, RunOptions};
        let parties = seed_population(cfg, 0);
        let opts = RunOptions {
            panel: Panel::with(m, 3, Role::Colluder, colluders, cfg.collusion.factor),
            rounds: cfg.rounds,
        };
        let r = run(cfg, &parties, crate::sim::Scheme::ShapleyExact, 0, &opts).expect("runs");
        (CollusionRun::from_record(&r, |i| parties[i].partner), r)
    }

    #[test]
    fn a_minority_of_colluders_cannot_raise_anyones_pay_when_honest_evaluators_agree() {
        let mut cfg = crate::sim::world::tests::small();
        cfg.evaluator_noise = 0.0;
        for (m, c) in [(3, 1), (5, 2)] {
            let (honest_run, honest) = simulate(&cfg, m, 0);
            let (colluding_run, colluding) = simulate(&cfg, m, c);
            assert!(
                colluding_run.lying_cohorts > 0.0,
                "they had partners to favour"
            );
            let pay = |r: &RunRecord| {
                r.parties
                    .iter()
                    .map(|p| p.reward_utoken)
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                pay(&colluding),
                pay(&honest),
                "{c} of {m}: every participant paid the same"
            );
            let s = CollusionSeed {
                colluding: colluding_run,
                honest: honest_run,
            };
            assert_eq!(s.relative_gain(), 0.0);
            assert!(
                s.pay_change() < 0.0,
                "{c} of {m}: the colluders lose pay as outliers"
            );
            assert!(
                s.break_even_p(1.0, 1.0) < 0.0,
                "unprofitable even undetected"
            );
        }
    }

    #[test]
    fn a_colluding_majority_profits_until_detection_makes_it_lose() {
        let cfg = crate::sim::world::tests::small();
        let s = CollusionSeed {
            colluding: simulate(&cfg, 3, 2).0,
            honest: simulate(&cfg, 3, 0).0,
        };
        assert!(
            s.relative_gain() > 0.2,
            "the partners gain: {}",
            s.relative_gain()
        );
        assert!(
            s.pay_change() > 0.0,
            "the colluders take the honest evaluator's pay"
        );
        let (slash, bond) = (
            cfg.evaluation.slash_disputed,
            cfg.evaluation.bond_utoken as f64,
        );
        let profits: Vec<f64> = cfg
            .collusion
            .p_detect
            .iter()
            .map(|&p| s.expected_profit(p, slash, bond))
            .collect();
        assert!(profits[0] > 0.0, "undetected, it pays: {profits:?}");
        assert!(profits.windows(2).all(|w| w[1] < w[0]), "{profits:?}");
        let p = s.break_even_p(slash, bond);
        assert!(p > 0.0 && s.expected_profit(p, slash, bond).abs() < 1e-6);
    }

    #[test]
    fn colluder_counts_straddle_one_half() {
        assert_eq!(colluder_counts(3), vec![0, 1, 2]);
        assert_eq!(colluder_counts(5), vec![0, 2, 3]);
        assert_eq!(colluder_counts(7), vec![0, 3, 4]);
        assert_eq!(colluder_counts(4), vec![0, 1, 3]);
    }
}
