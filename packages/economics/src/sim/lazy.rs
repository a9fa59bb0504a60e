//! The lazy-evaluator experiment's figures: one seat of the main panel reports zeros, copies
//! each participant's last consensus, or does not show, under `shapley_exact`; its net pay
//! per cohort against the honest seats' on the same panel.

use serde::{Deserialize, Serialize};

use super::panel::Role;
use super::world::{EvaluatorTotals, RunRecord};
use crate::stats::{mean, summarize, Summary};

/// One lazy run reduced to its evaluators' figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LazyRun {
    /// The lazy seat's net pay per cohort served, utoken.
    pub lazy_net: f64,
    /// Its pay per cohort, utoken.
    pub lazy_reward: f64,
    /// Its slash per cohort, utoken.
    pub lazy_slash: f64,
    /// Share of its revealed, settled reports judged outlier or deviant.
    pub lazy_outlier_rate: f64,
    /// Share judged deviant (slashed).
    pub lazy_deviant_rate: f64,
    /// The honest seats' mean net pay per cohort, utoken.
    pub honest_net: f64,
    /// Share of evaluated cohorts that failed for lack of a quorum.
    pub failed_rate: f64,
}

fn per_cohort(x: f64, e: &EvaluatorTotals) -> f64 {
    if e.cohorts == 0 {
        f64::NAN
    } else {
        x / f64::from(e.cohorts)
    }
}

fn rate(x: u32, e: &EvaluatorTotals) -> f64 {
    let judged = e.consensus + e.outliers + e.deviants;
    if judged == 0 {
        f64::NAN
    } else {
        f64::from(x) / f64::from(judged)
    }
}

impl LazyRun {
    /// Reduces a run whose panel holds exactly one seat playing `role` (`None` if it has
    /// none).
    pub fn from_record(record: &RunRecord, role: Role) -> Option<Self> {
        let lazy = record.evaluators.iter().find(|e| e.role == role)?;
        let honest: Vec<f64> = record
            .evaluators
            .iter()
            .filter(|e| e.role == Role::Honest)
            .map(EvaluatorTotals::net_per_cohort)
            .collect();
        Some(Self {
            lazy_net: lazy.net_per_cohort(),
            lazy_reward: per_cohort(lazy.reward_utoken, lazy),
            lazy_slash: per_cohort(lazy.slash_utoken, lazy),
            lazy_outlier_rate: rate(lazy.outliers + lazy.deviants, lazy),
            lazy_deviant_rate: rate(lazy.deviants, lazy),
            honest_net: mean(&honest),
            failed_rate: if record.evaluated_cohorts == 0 {
                f64::NAN
            } else {
                record.failed_cohorts as f64 / record.evaluated_cohorts as f64
            },
        })
    }
}

/// One lazy role's figures over seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LazyRow {
    /// The lazy role.
    pub role: Role,
    /// Evaluators on the panel (one of them lazy).
    pub evaluators: usize,
    /// Its net pay per cohort served, utoken.
    pub net_utoken: Summary,
    /// Its pay per cohort, utoken.
    pub reward_utoken: Summary,
    /// Its slash per cohort, utoken.
    pub slash_utoken: Summary,
    /// Share of its settled reports judged outlier or deviant.
    pub outlier_rate: Summary,
    /// Share judged deviant.
    pub deviant_rate: Summary,
    /// The honest seats' net pay per cohort on the same panel, utoken.
    pub honest_net_utoken: Summary,
    /// Share of cohorts that failed for lack of a quorum.
    pub failed_rate: Summary,
    /// Each seed's run.
    pub per_seed: Vec<LazyRun>,
}

impl LazyRow {
    /// Summarises the seeds of one role.
    pub fn new(role: Role, evaluators: usize, per_seed: Vec<LazyRun>) -> Self {
        let over = |f: fn(&LazyRun) -> f64| summarize(&per_seed.iter().map(f).collect::<Vec<_>>());
        Self {
            role,
            evaluators,
            net_utoken: over(|r| r.lazy_net),
            reward_utoken: over(|r| r.lazy_reward),
            slash_utoken: over(|r| r.lazy_slash),
            outlier_rate: over(|r| r.lazy_outlier_rate),
            deviant_rate: over(|r| r.lazy_deviant_rate),
            honest_net_utoken: over(|r| r.honest_net),
            failed_rate: over(|r| r.failed_rate),
            per_seed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::experiment::seed_population;
    use crate::sim::panel::Panel;
    use crate::sim::world::tests::small;
    use crate::sim::world::{run, RunOptions};
    use crate::sim::Scheme;

    fn lazy_run(role: Role, evaluators: usize) -> LazyRun {
        let cfg = small();
        let parties = seed_population(&cfg, 0);
        let opts = RunOptions {
            panel: Panel::with(evaluators, cfg.evaluation.quorum, role, 1, 1.0),
            rounds: cfg.rounds,
        };
        let r = run(&cfg, &parties, Scheme::ShapleyExact, 0, &opts).expect("runs");
        LazyRun::from_record(&r, role).expect("one lazy seat")
    }

    #[test]
    fn lazy_evaluators_lose_and_honest_ones_gain() {
        for role in [Role::Zeros, Role::Copier] {
            let r = lazy_run(role, 3);
            assert!(r.lazy_net < 0.0, "{role}: {r:?}");
            assert!(r.honest_net > 0.0, "{role}: {r:?}");
            assert!(
                r.lazy_outlier_rate > 0.5,
                "{role} is mostly judged out: {r:?}"
            );
            assert_eq!(r.failed_rate, 0.0);
        }
        // A no-show on a panel of three leaves fewer reports than the quorum of three: every
        // round fails, it is slashed and nobody is paid.
        let absent = lazy_run(Role::NoShow, 3);
        assert_eq!(absent.failed_rate, 1.0);
        assert!(absent.lazy_net < 0.0 && absent.lazy_reward == 0.0);
        assert!(
            absent.honest_net < 0.0,
            "the honest seats paid compute for nothing"
        );
        // On a panel of four with a quorum of three, the round settles without it.
        let four = lazy_run(Role::NoShow, 4);
        assert_eq!(four.failed_rate, 0.0);
        assert!(four.lazy_net < 0.0 && four.honest_net > 0.0, "{four:?}");
    }
}
