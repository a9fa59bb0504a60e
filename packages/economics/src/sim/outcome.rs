//! Reduces a run to the figures the report compares: fairness, participation stability, burden
//! concentration, payoffs by strategy, budget use and model quality.
//!
//! Definitions (all over the population of one seed):
//! - fairness is measured over the parties that joined at least once (a party that never joined
//!   has neither reward nor contribution, and counting those as agreeing pairs would flatter
//!   every scheme); reward is the cumulative gross reward, true contribution the cumulative exact
//!   Shapley value under the noise-free surrogate;
//! - `jain` is Jain's index `(Σr)²/(n·Σr²)` of cumulative rewards over the same parties and
//!   `gini` their Gini coefficient: both measure equality of pay, not its fairness — equal pay
//!   for unequal contributions scores high — so read them next to the correlations. (Jain's
//!   index of reward-to-contribution ratios was tried and rejected: parties with near-zero true
//!   contribution and a noisy reward dominate it, leaving it near 1/n for every scheme.)
//! - a party is *active* in a window when it joined in at least half of its rounds; `retention`
//!   is the share of honest parties active in the first 10% of rounds that are still active in
//!   the last 10%; `churn` the mean share of parties whose join decision changed from one round
//!   to the next;
//! - burden concentration (HHI, top-10% share, Lorenz curves) is over all parties, so schemes are
//!   compared on the same population: compute burden is tokens trained, stake burden the stake
//!   bonded summed over rounds;
//! - evaluators' figures are per cohort served (each cohort is one on-chain round with its own
//!   bond), over the honest seats of the panel;
//! - payoffs are net (reward − slash − compute − stake opportunity cost), utoken per party over
//!   the whole run; Sybil parties' payoff per 1k tokens of data (Σ net / Σ tokens) is compared
//!   with the same ratio for the five honest parties closest to each Sybil in data size.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::agent::{Party, Strategy};
use super::panel::Role;
use super::world::RunRecord;
use crate::metrics::{gini, hhi, jain, lorenz, pearson, spearman, top_share};

/// Points of the Lorenz-curve grid (population shares 0, 0.01, …, 1).
pub const LORENZ_GRID: usize = 101;

/// Names and meanings of the scalar metrics of a run, in report order.
pub const METRICS: &[(&str, &str)] = &[
    ("pearson", "Pearson correlation of cumulative reward with true contribution"),
    ("spearman", "Spearman correlation of cumulative reward with true contribution"),
    ("jain", "Jain's index of cumulative rewards (1 = everyone paid the same)"),
    ("gini", "Gini coefficient of cumulative rewards"),
    ("retention", "share of honest parties active in the first 10% of rounds still active in the last 10%"),
    ("retention_large", "the same for honest parties with above-median data"),
    ("churn", "mean share of parties changing join decision per round"),
    ("participation", "mean share of parties joining per round"),
    ("hhi_compute", "HHI of compute burden (tokens trained) over all parties"),
    ("top10_compute", "share of compute borne by the top 10% of parties"),
    ("hhi_stake", "HHI of stake bonded over all parties"),
    ("top10_stake", "share of stake bonded by the top 10% of parties"),
    ("top10_data", "share of all data held by the top 10% of parties (the population's own concentration, a reference)"),
    ("honest_payoff", "mean net payoff of honest parties, utoken"),
    ("honest_large_payoff", "mean net payoff of honest parties with above-median data, utoken"),
    ("free_rider_payoff", "mean net payoff of free-riders, utoken"),
    ("low_effort_payoff", "mean net payoff of low-effort parties, utoken"),
    ("poisoner_payoff", "mean net payoff of poisoners, utoken"),
    ("dropout_payoff", "mean net payoff of dropouts, utoken"),
    ("sybil_payoff", "mean net payoff of Sybil parties, utoken"),
    ("sybil_payoff_per_ktok", "Sybil parties' net payoff per 1k tokens of data, utoken"),
    ("matched_honest_payoff_per_ktok", "same for the honest parties closest in data size"),
    ("sybil_advantage_per_ktok", "Sybil minus matched honest payoff per 1k tokens, utoken"),
    ("free_rider_join_rate", "share of rounds free-riders joined"),
    ("poisoner_join_rate", "share of rounds poisoners joined"),
    ("honest_join_rate", "share of rounds honest parties joined"),
    ("honest_harmful_rate", "share of honest parties' committed updates judged harmful (slashed)"),
    ("honest_unpaid_rate", "share of honest parties' committed updates left unpaid (at or below the free-rider threshold, not significantly)"),
    ("evaluator_payoff", "mean net payoff of an honest evaluator per cohort it served: pay − slash − compute − bond opportunity cost, utoken"),
    ("evaluator_reward", "mean pay of an honest evaluator per cohort it served, utoken"),
    ("evaluator_outlier_rate", "share of honest evaluators' reports judged outlier or deviant"),
    ("evaluator_deviant_rate", "share of honest evaluators' reports judged deviant (slashed)"),
    ("budget_used", "rewards paid to participants / budget available"),
    ("mean_cohort_utility", "mean noise-free U(N) of a cohort, over all rounds"),
    ("final_cohort_utility", "mean noise-free U(N) of a cohort in the last 10% of rounds"),
    ("total_utility", "cumulative noise-free utility of all cohorts"),
];

/// The figures of one (scheme, seed) run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMetrics {
    /// Seed index.
    pub seed_index: usize,
    /// Scalar metrics by name (see [`METRICS`]); `NaN` (JSON `null`) when undefined.
    pub scalars: BTreeMap<String, f64>,
    /// Share of parties joining, per round.
    pub participation: Vec<f64>,
    /// Mean noise-free cohort utility, per round.
    pub mean_cohort_utility: Vec<f64>,
    /// Lorenz curve of compute burden on the grid of [`LORENZ_GRID`] points.
    pub lorenz_compute: Vec<f64>,
    /// Lorenz curve of stake bonded on the same grid.
    pub lorenz_stake: Vec<f64>,
}

fn or_nan<E>(r: Result<f64, E>) -> f64 {
    r.unwrap_or(f64::NAN)
}

fn mean(it: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = it.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 {
        f64::NAN
    } else {
        s / n as f64
    }
}

/// Lorenz curve of `xs` sampled on the grid (linear between the curve's points).
pub fn lorenz_on_grid(xs: &[f64]) -> Vec<f64> {
    let Ok(points) = lorenz(xs) else {
        return vec![f64::NAN; LORENZ_GRID];
    };
    let mut out = Vec::with_capacity(LORENZ_GRID);
    let mut j = 0;
    for g in 0..LORENZ_GRID {
        let x = g as f64 / (LORENZ_GRID - 1) as f64;
        while j + 1 < points.len() && points[j + 1].0 < x {
            j += 1;
        }
        let (x0, y0) = points[j];
        let (x1, y1) = points[(j + 1).min(points.len() - 1)];
        let y = if x1 > x0 {
            y0 + (y1 - y0) * (x - x0) / (x1 - x0)
        } else {
            y1
        };
        out.push(y.clamp(0.0, 1.0));
    }
    out
}

/// Whether a party joined in at least half the rounds of `range`.
fn active(joined: &[bool], range: std::ops::Range<usize>) -> bool {
    let len = range.len();
    let n = joined[range].iter().filter(|j| **j).count();
    2 * n >= len && len > 0
}

/// Reduces `record` (run on `parties`) to its metrics.
pub fn run_metrics(record: &RunRecord, parties: &[Party]) -> RunMetrics {
    let totals = &record.parties;
    let rounds = record.participation.len();
    let mut s = BTreeMap::new();
    let mut put = |k: &str, v: f64| {
        s.insert(k.to_string(), v);
    };

    // Fairness over parties that ever joined.
    let joined: Vec<usize> = (0..totals.len())
        .filter(|&i| totals[i].rounds_joined > 0)
        .collect();
    let rewards: Vec<f64> = joined.iter().map(|&i| totals[i].reward_utoken).collect();
    let contrib: Vec<f64> = joined
        .iter()
        .map(|&i| totals[i].true_contribution)
        .collect();
    put("pearson", or_nan(pearson(&rewards, &contrib)));
    put("spearman", or_nan(spearman(&rewards, &contrib)));
    put("gini", or_nan(gini(&rewards)));
    put("jain", or_nan(jain(&rewards)));

    // Participation stability.
    let w = (rounds / 10).max(1);
    let first = 0..w.min(rounds);
    let last = rounds.saturating_sub(w)..rounds;
    let honest: Vec<usize> = parties
        .iter()
        .filter(|p| p.strategy == Strategy::Honest)
        .map(|p| p.id)
        .collect();
    let retention = |group: &[usize]| -> f64 {
        let early: Vec<usize> = group
            .iter()
            .copied()
            .filter(|&i| active(&totals[i].joined, first.clone()))
            .collect();
        let kept = early
            .iter()
            .filter(|&&i| active(&totals[i].joined, last.clone()))
            .count();
        if early.is_empty() {
            f64::NAN
        } else {
            kept as f64 / early.len() as f64
        }
    };
    let mut honest_tokens: Vec<f64> = honest.iter().map(|&i| parties[i].tokens).collect();
    honest_tokens.sort_by(f64::total_cmp);
    let median_tokens = honest_tokens
        .get(honest_tokens.len() / 2)
        .copied()
        .unwrap_or(f64::NAN);
    let large: Vec<usize> = honest
        .iter()
        .copied()
        .filter(|&i| parties[i].tokens > median_tokens)
        .collect();
    put("retention", retention(&honest));
    put("retention_large", retention(&large));
    let changes: f64 = (1..rounds)
        .map(|t| {
            totals
                .iter()
                .filter(|p| p.joined[t] != p.joined[t - 1])
                .count() as f64
                / totals.len() as f64
        })
        .sum();
    put(
        "churn",
        if rounds > 1 {
            changes / (rounds - 1) as f64
        } else {
            f64::NAN
        },
    );
    put("participation", mean(record.participation.iter().copied()));

    // Burden concentration over all parties.
    let compute: Vec<f64> = totals.iter().map(|p| p.compute_tokens).collect();
    let stake: Vec<f64> = totals.iter().map(|p| p.stake_bonded_utoken).collect();
    put("hhi_compute", or_nan(hhi(&compute)));
    put("top10_compute", or_nan(top_share(&compute, 0.1)));
    put("hhi_stake", or_nan(hhi(&stake)));
    put("top10_stake", or_nan(top_share(&stake, 0.1)));
    let data: Vec<f64> = parties.iter().map(|p| p.tokens).collect();
    put("top10_data", or_nan(top_share(&data, 0.1)));

    // Payoffs.
    let by = |st: Strategy| {
        parties
            .iter()
            .filter(move |p| p.strategy == st)
            .map(|p| p.id)
    };
    for st in Strategy::ALL {
        put(
            &format!("{}_payoff", st.name()),
            mean(by(st).map(|i| totals[i].net_utoken())),
        );
    }
    put(
        "honest_large_payoff",
        mean(
            honest
                .iter()
                .filter(|&&i| parties[i].tokens > median_tokens)
                .map(|&i| totals[i].net_utoken()),
        ),
    );
    // Net payoff per 1k tokens of data, as a ratio of sums so small parties do not dominate.
    let per_ktok = |ids: &mut dyn Iterator<Item = usize>| {
        let (net, tok) = ids.fold((0.0, 0.0), |(n, t), i| {
            (n + totals[i].net_utoken(), t + parties[i].tokens)
        });
        if tok > 0.0 {
            1000.0 * net / tok
        } else {
            f64::NAN
        }
    };
    let sybils: Vec<usize> = by(Strategy::Sybil).collect();
    let mut matched = Vec::with_capacity(5 * sybils.len());
    for &sy in &sybils {
        let lt = parties[sy].tokens.ln();
        let mut near: Vec<usize> = honest.clone();
        near.sort_by(|&a, &b| {
            (parties[a].tokens.ln() - lt)
                .abs()
                .total_cmp(&(parties[b].tokens.ln() - lt).abs())
        });
        matched.extend(near.into_iter().take(5));
    }
    let sy = per_ktok(&mut sybils.iter().copied());
    let mh = per_ktok(&mut matched.iter().copied());
    put("sybil_payoff_per_ktok", sy);
    put("matched_honest_payoff_per_ktok", mh);
    put("sybil_advantage_per_ktok", sy - mh);
    let rate =
        |st: Strategy| mean(by(st).map(|i| totals[i].rounds_joined as f64 / rounds.max(1) as f64));
    put("free_rider_join_rate", rate(Strategy::FreeRider));
    put("poisoner_join_rate", rate(Strategy::Poisoner));
    put("honest_join_rate", rate(Strategy::Honest));

    // Verdicts on honest parties, and the honest evaluators' lot.
    let (mut committed, mut harmful, mut unpaid) = (0u64, 0u64, 0u64);
    for &i in &honest {
        committed += u64::from(totals[i].committed);
        harmful += u64::from(totals[i].flagged_harmful);
        unpaid += u64::from(totals[i].flagged_unpaid);
    }
    let share_of = |x: u64| {
        if committed > 0 {
            x as f64 / committed as f64
        } else {
            f64::NAN
        }
    };
    put("honest_harmful_rate", share_of(harmful));
    put("honest_unpaid_rate", share_of(unpaid));
    let honest_evaluators: Vec<_> = record
        .evaluators
        .iter()
        .filter(|e| e.role == Role::Honest && e.cohorts > 0)
        .collect();
    put(
        "evaluator_payoff",
        mean(honest_evaluators.iter().map(|e| e.net_per_cohort())),
    );
    put(
        "evaluator_reward",
        mean(
            honest_evaluators
                .iter()
                .map(|e| e.reward_utoken / f64::from(e.cohorts)),
        ),
    );
    let judged: u32 = honest_evaluators
        .iter()
        .map(|e| e.consensus + e.outliers + e.deviants)
        .sum();
    let rate = |x: u32| {
        if judged > 0 {
            f64::from(x) / f64::from(judged)
        } else {
            f64::NAN
        }
    };
    put(
        "evaluator_outlier_rate",
        rate(
            honest_evaluators
                .iter()
                .map(|e| e.outliers + e.deviants)
                .sum(),
        ),
    );
    put(
        "evaluator_deviant_rate",
        rate(honest_evaluators.iter().map(|e| e.deviants).sum()),
    );

    // Budget and model quality.
    put(
        "budget_used",
        if record.budget_available_utoken > 0.0 {
            record.paid_utoken / record.budget_available_utoken
        } else {
            f64::NAN
        },
    );
    let total: f64 = record.total_utility.iter().sum();
    put(
        "mean_cohort_utility",
        if record.cohorts > 0 {
            total / record.cohorts as f64
        } else {
            f64::NAN
        },
    );
    put(
        "final_cohort_utility",
        mean(record.mean_cohort_utility[last].iter().copied()),
    );
    put("total_utility", total);

    RunMetrics {
        seed_index: record.seed_index,
        scalars: s,
        participation: record.participation.clone(),
        mean_cohort_utility: record.mean_cohort_utility.clone(),
        lorenz_compute: lorenz_on_grid(&compute),
        lorenz_stake: lorenz_on_grid(&stake),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lorenz_grid_of_equal_shares_is_the_diagonal() {
        let g = lorenz_on_grid(&[1.0; 7]);
        assert_eq!(g.len(), LORENZ_GRID);
        for (i, y) in g.iter().enumerate() {
            assert!((y - i as f64 / 100.0).abs() < 1e-9);
        }
        let one = lorenz_on_grid(&[0.0, 0.0, 0.0, 5.0]);
        assert!(one[75].abs() < 1e-12 && (one[100] - 1.0).abs() < 1e-12);
        assert!(lorenz_on_grid(&[0.0, 0.0])[50].is_nan());
    }

    #[test]
    fn activity_needs_half_the_window() {
        assert!(active(&[true, false, true, false], 0..4));
        assert!(!active(&[true, false, false, false], 0..4));
        assert!(!active(&[true], 0..0));
    }
}
