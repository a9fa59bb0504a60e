//! Every scheme × seed of the market model in parallel, reduced to per-run metrics, summaries
//! over seeds and verdicts (issue #15, items 0, 2, 4 and 6).

use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

use super::config::{Action, MarketConfig, MarketError};
use super::run::{run, world, RunRecord, SIZE_TYPES};
use crate::metrics::{pearson, spearman};
use crate::sim::noise::derive;
use crate::stats::{mean, paired_difference, summarize, Summary};

/// The per-run metrics, in this order in [`RunMetrics::values`].
pub const MARKET_METRICS: [(&str, &str); 18] = [
    ("fairness_spearman", "Spearman ρ between a party's cumulative reward and its leave-one-party-out contribution to the test utility (parties that were in a cohort at least once)"),
    ("fairness_pearson", "Pearson r of the same"),
    ("rerun_spearman", "Spearman ρ between reward and the whole-run rerun counterfactual: total test utility of the run minus that of the whole run re-simulated without the party (parties sampled evenly per data-size tercile; NaN without --reruns)"),
    ("rerun_pearson", "Pearson r of the same"),
    ("static_vs_rerun", "Pearson r between the in-cohort counterfactual and the whole-run rerun one (sampled parties)"),
    ("join_share", "share of learning parties playing join (full effort) in the final rounds"),
    ("contributing_share", "share playing join, low effort, split or copy in the final rounds"),
    ("churn", "share of learning parties switching between in and out per round, final rounds"),
    ("welfare", "model quality: Σ over cohorts of the test utility per round, final rounds"),
    ("net_burden_top10", "top-10% share of the positive net burden (compute + stake cost + slash − reward) among parties that trained"),
    ("net_payers", "share of parties that trained whose net burden is positive (they paid more than they got)"),
    ("burden_vs_alone", "median over parties that trained of net burden / compute (1 = as costly as training alone, < 1 lighter, < 0 profitable)"),
    ("gross_compute_top10", "top-10% share of gross compute (the old, gross burden metric)"),
    ("mean_net", "mean net payoff per learning party over the run, utoken"),
    ("collusion_share", "share of evaluators colluding in the final rounds"),
    ("evaluator_collusion_gain", "an evaluator's mean gain per round from colluding instead of reporting honestly (others fixed), utoken"),
    ("waitlisted", "identity-rounds that waited because their cohort was full, per round"),
    ("free_ride_share", "share of learning parties free-riding in the final rounds"),
];

/// One run's metrics and its deviation table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunMetrics {
    /// Values in the order of [`MARKET_METRICS`].
    pub values: Vec<f64>,
    /// Final-round share of each learned action.
    pub shares: [f64; 6],
    /// Mean gain per round of each learned action over `join`, per size type (NaN: no probe).
    pub deviation: [[f64; 6]; 3],
    /// Mean share of each learned action per round (for the convergence chart).
    pub share_path: Vec<[f64; 6]>,
    /// Welfare per round.
    pub welfare_path: Vec<f64>,
}

fn top10(mut xs: Vec<f64>) -> f64 {
    let total: f64 = xs.iter().sum();
    if xs.is_empty() || total <= 0.0 {
        return f64::NAN;
    }
    xs.sort_by(|a, b| b.total_cmp(a));
    let k = (xs.len() as f64 * 0.1).ceil() as usize;
    xs[..k].iter().sum::<f64>() / total
}

fn metrics_of(
    cfg: &MarketConfig,
    rec: &RunRecord,
    w: &super::run::World,
    rerun: &[(usize, f64)],
) -> RunMetrics {
    let tail = cfg.tail_rounds.min(rec.shares.len()).max(1);
    let tail_mean = |f: &dyn Fn(usize) -> f64| -> f64 {
        let s = rec.shares.len() - tail;
        (s..rec.shares.len()).map(f).sum::<f64>() / tail as f64
    };
    let shares: [f64; 6] = std::array::from_fn(|a| tail_mean(&|t| rec.shares[t][a]));
    let active: Vec<usize> = (0..rec.parties.len())
        .filter(|&p| rec.parties[p].rounds_in > 0)
        .collect();
    let rewards: Vec<f64> = active.iter().map(|&p| rec.parties[p].reward).collect();
    let cf: Vec<f64> = active
        .iter()
        .map(|&p| rec.parties[p].counterfactual)
        .collect();
    let sp = spearman(&rewards, &cf).unwrap_or(f64::NAN);
    let pe = pearson(&rewards, &cf).unwrap_or(f64::NAN);
    let (rr, rp, sr) = if rerun.len() >= 3 {
        let r: Vec<f64> = rerun.iter().map(|(p, _)| rec.parties[*p].reward).collect();
        let c: Vec<f64> = rerun.iter().map(|(_, c)| *c).collect();
        let s: Vec<f64> = rerun
            .iter()
            .map(|(p, _)| rec.parties[*p].counterfactual)
            .collect();
        (
            spearman(&r, &c).unwrap_or(f64::NAN),
            pearson(&r, &c).unwrap_or(f64::NAN),
            pearson(&s, &c).unwrap_or(f64::NAN),
        )
    } else {
        (f64::NAN, f64::NAN, f64::NAN)
    };
    let trained: Vec<usize> = (0..rec.parties.len())
        .filter(|&p| rec.parties[p].compute > 0.0 && !w.agents[p].adversary)
        .collect();
    let burden: Vec<f64> = trained
        .iter()
        .map(|&p| {
            let r = &rec.parties[p];
            r.compute + r.stake_cost + r.slash - r.reward
        })
        .collect();
    let payers = burden.iter().filter(|&&b| b > 0.0).count() as f64 / trained.len().max(1) as f64;
    let mut ratio: Vec<f64> = trained
        .iter()
        .zip(&burden)
        .map(|(&p, b)| b / rec.parties[p].compute)
        .collect();
    let ratio_median = crate::stats::median(&mut ratio);
    let learners: Vec<usize> = (0..rec.parties.len())
        .filter(|&p| !w.agents[p].adversary)
        .collect();
    let mean_net = mean(
        &learners
            .iter()
            .map(|&p| rec.parties[p].net())
            .collect::<Vec<_>>(),
    );
    let welfare = {
        let s = rec.welfare.len() - tail;
        rec.welfare[s..].iter().sum::<f64>() / tail as f64
    };
    let collusion = {
        let s = rec.collusion.len() - tail;
        rec.collusion[s..].iter().sum::<f64>() / tail as f64
    };
    let churn = {
        let s = rec.churn.len() - tail;
        rec.churn[s..].iter().sum::<f64>() / tail as f64
    };
    let mut dev_sum = [[0.0; 6]; 3];
    let mut dev_n = [0usize; 3];
    for &(p, a, g) in &rec.probes {
        let ty = w.agents[p].size_type;
        dev_sum[ty][a] += g;
        if a == 0 {
            dev_n[ty] += 1;
        }
    }
    let deviation = std::array::from_fn(|ty| {
        std::array::from_fn(|a| {
            if dev_n[ty] == 0 {
                f64::NAN
            } else {
                dev_sum[ty][a] / dev_n[ty] as f64
            }
        })
    });
    let values = vec![
        sp,
        pe,
        rr,
        rp,
        sr,
        shares[Action::Join.index().unwrap_or(1)],
        shares[1] + shares[2] + shares[4] + shares[5],
        churn,
        welfare,
        top10(burden.iter().map(|b| b.max(0.0)).collect()),
        payers,
        ratio_median,
        top10(trained.iter().map(|&p| rec.parties[p].compute).collect()),
        mean_net,
        collusion,
        mean(&rec.evaluator_gain),
        rec.waitlisted as f64 / cfg.rounds as f64,
        shares[3],
    ];
    RunMetrics {
        values,
        shares,
        deviation,
        share_path: rec.shares.clone(),
        welfare_path: rec.welfare.clone(),
    }
}

/// One scheme's runs over seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MarketSchemeReport {
    /// Scheme name.
    pub scheme: String,
    /// Per seed.
    #[serde(skip)]
    pub runs: Vec<RunMetrics>,
    /// Per metric: the values of every seed.
    pub per_seed: serde_json::Map<String, serde_json::Value>,
    /// Per metric: mean and 95% interval over seeds.
    pub summary: serde_json::Map<String, serde_json::Value>,
    /// Final-round strategy shares: action → summary over seeds.
    pub strategy_shares: serde_json::Map<String, serde_json::Value>,
    /// Deviation table: size type → action → gain over `join` (utoken per round), summary over seeds.
    pub deviations: serde_json::Map<String, serde_json::Value>,
}

impl MarketSchemeReport {
    /// Per-seed values of a metric.
    pub fn values(&self, key: &str) -> Vec<f64> {
        let i = MARKET_METRICS.iter().position(|(k, _)| *k == key);
        self.runs
            .iter()
            .map(|r| i.map_or(f64::NAN, |i| r.values[i]))
            .collect()
    }

    /// Summary of a metric over seeds.
    pub fn get(&self, key: &str) -> Summary {
        summarize(&self.values(key))
    }

    /// Summary over seeds of the deviation gain of `action` for size type `ty`.
    pub fn deviation(&self, ty: usize, action: usize) -> Summary {
        summarize(
            &self
                .runs
                .iter()
                .map(|r| r.deviation[ty][action])
                .collect::<Vec<_>>(),
        )
    }

    /// Summary over seeds of the final-round share of `action`.
    pub fn share(&self, action: usize) -> Summary {
        summarize(
            &self
                .runs
                .iter()
                .map(|r| r.shares[action])
                .collect::<Vec<_>>(),
        )
    }
}

/// The market model's results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MarketReport {
    /// The configuration run.
    pub config: MarketConfig,
    /// Per scheme.
    pub schemes: Vec<MarketSchemeReport>,
    /// Wall time, seconds.
    pub wall_time_s: f64,
}

impl MarketReport {
    /// The report of a scheme by name.
    pub fn scheme(&self, name: &str) -> Option<&MarketSchemeReport> {
        self.schemes.iter().find(|s| s.scheme == name)
    }
}

fn s_json(s: Summary) -> serde_json::Value {
    serde_json::to_value(s).unwrap_or(serde_json::Value::Null)
}

/// `m` of the `active` parties for whole-run reruns, stratified by data-size tercile: the
/// strata take turns (small, mid, large, small, …), each drawing without replacement; a stratum
/// that runs out passes its turn. The draw depends only on the seed's stream, so every scheme
/// would sample alike were its active set the same.
pub fn rerun_sample(
    rng: &mut ChaCha8Rng,
    active: &[usize],
    w: &super::run::World,
    m: usize,
) -> Vec<usize> {
    let mut strata: Vec<Vec<usize>> = (0..SIZE_TYPES.len())
        .map(|t| {
            let members: Vec<usize> = active
                .iter()
                .copied()
                .filter(|&p| w.agents[p].size_type == t)
                .collect();
            let k = members.len();
            sample(rng, k, k).into_iter().map(|j| members[j]).collect()
        })
        .collect();
    let mut out = Vec::with_capacity(m);
    while out.len() < m && strata.iter().any(|s| !s.is_empty()) {
        for s in strata.iter_mut() {
            if out.len() < m {
                if let Some(p) = s.pop() {
                    out.push(p);
                }
            }
        }
    }
    out
}

/// Runs every scheme × seed (and the whole-run reruns if asked), calling `tick` after each.
pub fn simulate_market(
    cfg: &MarketConfig,
    tick: &(dyn Fn() + Sync),
) -> Result<MarketReport, MarketError> {
    cfg.validate()?;
    let start = std::time::Instant::now();
    let worlds: Vec<_> = (0..cfg.seeds).map(|s| world(cfg, s)).collect();
    let jobs: Vec<(usize, usize)> = (0..cfg.schemes.len())
        .flat_map(|i| (0..cfg.seeds).map(move |s| (i, s)))
        .collect();
    let runs: Vec<RunMetrics> = jobs
        .par_iter()
        .map(|&(i, s)| {
            let scheme = cfg.schemes[i];
            let rec = run(cfg, &worlds[s], scheme, s, None);
            let rerun: Vec<(usize, f64)> = if cfg.reruns > 0 {
                let mut r = ChaCha8Rng::seed_from_u64(derive(cfg.base_seed, &[s as u64, 0x2E2E]));
                let active: Vec<usize> = (0..cfg.agents)
                    .filter(|&p| rec.parties[p].rounds_in > 0)
                    .collect();
                let w0 = rec.total_welfare();
                rerun_sample(&mut r, &active, &worlds[s], cfg.reruns)
                    .into_iter()
                    .map(|p| {
                        let without = run(cfg, &worlds[s], scheme, s, Some(p));
                        (p, w0 - without.total_welfare())
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let m = metrics_of(cfg, &rec, &worlds[s], &rerun);
            tick();
            m
        })
        .collect();
    let mut schemes = Vec::new();
    for (i, scheme) in cfg.schemes.iter().enumerate() {
        let rs: Vec<RunMetrics> = runs[i * cfg.seeds..(i + 1) * cfg.seeds].to_vec();
        let mut rep = MarketSchemeReport {
            scheme: scheme.name(),
            runs: rs,
            per_seed: Default::default(),
            summary: Default::default(),
            strategy_shares: Default::default(),
            deviations: Default::default(),
        };
        for (k, _) in MARKET_METRICS {
            let v = rep.values(k);
            rep.summary.insert(k.to_string(), s_json(summarize(&v)));
            rep.per_seed.insert(k.to_string(), serde_json::json!(v));
        }
        for (a, act) in Action::LEARNED.iter().enumerate() {
            rep.strategy_shares
                .insert(act.name().to_string(), s_json(rep.share(a)));
        }
        for (ty, name) in SIZE_TYPES.iter().enumerate() {
            let row: serde_json::Map<String, serde_json::Value> = Action::LEARNED
                .iter()
                .enumerate()
                .map(|(a, act)| (act.name().to_string(), s_json(rep.deviation(ty, a))))
                .collect();
            rep.deviations
                .insert(name.to_string(), serde_json::Value::Object(row));
        }
        schemes.push(rep);
    }
    Ok(MarketReport {
        config: cfg.clone(),
        schemes,
        wall_time_s: start.elapsed().as_secs_f64(),
    })
}

/// The paired per-seed difference `a − b` of a metric between two schemes.
pub fn paired(a: &MarketSchemeReport, b: &MarketSchemeReport, key: &str) -> (Summary, Vec<f64>) {
    let (x, y) = (a.values(key), b.values(key));
    let d: Vec<f64> = x.iter().zip(&y).map(|(p, q)| p - q).collect();
    (paired_difference(&x, &y), d)
}

/// Jobs [`simulate_market`] ticks for.
pub fn market_jobs(cfg: &MarketConfig) -> u64 {
    (cfg.schemes.len() * cfg.seeds) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::MarketScheme;

    #[test]
    fn tiny_market_reports_every_metric() {
        let cfg = MarketConfig {
            agents: 80,
            rounds: 40,
            seeds: 2,
            probes: 6,
            tail_rounds: 10,
            reruns: 3,
            schemes: vec![MarketScheme::Equal, MarketScheme::Shapley],
            evaluators: crate::market::config::EvaluatorConfig {
                pool: 9,
                ..Default::default()
            },
            ..MarketConfig::default()
        };
        let r = simulate_market(&cfg, &|| {}).expect("runs");
        assert_eq!(r.schemes.len(), 2);
        let s = r.scheme("shapley").expect("shapley");
        assert_eq!(s.runs.len(), 2);
        assert!(s.get("fairness_spearman").mean.is_finite());
        assert!(s.get("rerun_spearman").mean.is_finite(), "reruns asked for");
        assert!(s.get("rerun_pearson").mean.is_finite(), "reruns asked for");
        let shares: f64 = (0..6).map(|a| s.share(a).mean).sum();
        assert!((shares - 1.0).abs() < 1e-9);
        assert!(s.deviations.contains_key("large data"));
    }

    #[test]
    fn rerun_sample_takes_every_size_tercile_in_turn() {
        let cfg = MarketConfig {
            agents: 60,
            ..MarketConfig::default()
        };
        let w = world(&cfg, 0);
        let active: Vec<usize> = (0..60).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let picked = rerun_sample(&mut rng, &active, &w, 9);
        assert_eq!(picked.len(), 9);
        let mut per = [0usize; 3];
        for &p in &picked {
            per[w.agents[p].size_type] += 1;
        }
        assert_eq!(per, [3, 3, 3], "three per tercile");
        let distinct: std::collections::HashSet<_> = picked.iter().collect();
        assert_eq!(distinct.len(), 9, "no party twice");
        // A stratum that runs out passes its turn; asking for more than exist gives them all.
        let small: Vec<usize> = active
            .iter()
            .copied()
            .filter(|&p| w.agents[p].size_type == 0)
            .take(1)
            .chain(
                active
                    .iter()
                    .copied()
                    .filter(|&p| w.agents[p].size_type == 2),
            )
            .collect();
        let all = rerun_sample(&mut rng, &small, &w, 1000);
        assert_eq!(all.len(), small.len());
        assert_eq!(w.agents[all[0]].size_type, 0);
    }
}
