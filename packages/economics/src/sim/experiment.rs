//! Runs every (scheme, seed) pair and the collusion experiment in parallel and gathers the
//! figures into a [`SimReport`]. Each run has its own seeded generator, so results do not
//! depend on thread scheduling.

use std::collections::BTreeMap;
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::agent::{population, Party, Strategy};
use super::config::{ConfigError, SimConfig};
use super::noise::derive;
use super::outcome::{run_metrics, RunMetrics, LORENZ_GRID};
use super::schemes::{Aggregator, Collusion, Scheme};
use super::world::{main_options, run, RunError, RunOptions, RunRecord};
use crate::stats::{summarize, Summary};

/// One party's totals in the example run (seed 0) of a scheme, for the scatter plot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartyRow {
    /// Party index.
    pub id: usize,
    /// Its strategy.
    pub strategy: Strategy,
    /// Its data, tokens.
    pub tokens: f64,
    /// Its data quality.
    pub quality: f64,
    /// Cumulative true contribution (Σ exact noise-free Shapley values).
    pub true_contribution: f64,
    /// Cumulative reward, utoken.
    pub reward_utoken: f64,
    /// Cumulative slash, utoken.
    pub slash_utoken: f64,
    /// Net payoff, utoken.
    pub net_utoken: f64,
    /// Rounds joined.
    pub rounds_joined: u32,
    /// Tokens trained in all.
    pub compute_tokens: f64,
    /// Stake bonded, utoken·rounds.
    pub stake_bonded_utoken: f64,
}

/// All runs of one scheme.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchemeReport {
    /// The scheme.
    pub scheme: Scheme,
    /// Each seed's figures.
    pub runs: Vec<RunMetrics>,
    /// Mean and 95% CI over seeds of every scalar metric.
    pub summary: BTreeMap<String, Summary>,
    /// Participation per round over seeds.
    pub participation: Vec<Summary>,
    /// Mean cohort utility per round over seeds.
    pub cohort_utility: Vec<Summary>,
    /// Lorenz curve of compute burden over seeds.
    pub lorenz_compute: Vec<Summary>,
    /// Lorenz curve of stake over seeds.
    pub lorenz_stake: Vec<Summary>,
    /// Per-party totals of seed 0.
    pub example: Vec<PartyRow>,
}

impl SchemeReport {
    /// Per-seed values of scalar `key`, in seed order.
    pub fn values(&self, key: &str) -> Vec<f64> {
        self.runs
            .iter()
            .map(|r| r.scalars.get(key).copied().unwrap_or(f64::NAN))
            .collect()
    }

    /// Summary of scalar `key` (an undefined summary when the key is unknown).
    pub fn get(&self, key: &str) -> Summary {
        self.summary
            .get(key)
            .copied()
            .unwrap_or_else(|| summarize(&[]))
    }
}

/// One cell of the collusion experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollusionRow {
    /// How reports were aggregated.
    pub aggregator: Aggregator,
    /// Colluding evaluators per cohort.
    pub colluders: usize,
    /// Evaluators per cohort.
    pub evaluators: usize,
    /// Partners' cumulative reward relative to the same seed without collusion, minus 1.
    pub partner_gain: Summary,
    /// Per seed.
    pub partner_gain_per_seed: Vec<f64>,
}

impl CollusionRow {
    /// Colluding share of each cohort's evaluators.
    pub fn fraction(&self) -> f64 {
        self.colluders as f64 / self.evaluators as f64
    }
}

/// Where the surrogate came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationInfo {
    /// The calibration file.
    pub source: String,
    /// Samples fitted.
    pub samples: usize,
    /// Root-mean-square error of the fit.
    pub rmse: f64,
    /// The samples themselves.
    pub data: Vec<super::surrogate::CalibrationSample>,
}

/// Everything a `fairshare simulate` run produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimReport {
    /// The configuration simulated (its surrogate is the calibrated one when there is one).
    pub config: SimConfig,
    /// The calibration, when the surrogate was fitted.
    pub calibration: Option<CalibrationInfo>,
    /// One entry per scheme, in configuration order.
    pub schemes: Vec<SchemeReport>,
    /// The collusion experiment (empty when disabled).
    pub collusion: Vec<CollusionRow>,
    /// Wall time of all runs, seconds.
    pub wall_time_s: f64,
    /// Worker threads used.
    pub threads: usize,
}

impl SimReport {
    /// The report of `scheme`, if it was run.
    pub fn scheme(&self, scheme: Scheme) -> Option<&SchemeReport> {
        self.schemes.iter().find(|s| s.scheme == scheme)
    }
}

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A run failed.
    #[error("run of {scheme} with seed {seed}: {source}")]
    Run {
        /// The scheme.
        scheme: Scheme,
        /// The seed index.
        seed: usize,
        /// What failed.
        source: RunError,
    },
}

/// The population of seed `seed_index`.
pub fn seed_population(cfg: &SimConfig, seed_index: usize) -> Vec<Party> {
    let mut rng = ChaCha8Rng::seed_from_u64(derive(cfg.base_seed, &[seed_index as u64, 0x9091]));
    population(cfg, &mut rng)
}

/// Colluder counts of the experiment: none, the largest minority and the smallest majority.
pub fn colluder_counts(evaluators: usize) -> Vec<usize> {
    let mut v = vec![0, (evaluators - 1) / 2, evaluators / 2 + 1];
    v.retain(|&c| c <= evaluators);
    v.dedup();
    v
}

enum Job {
    Main(Scheme, usize),
    Collude(Aggregator, usize, usize),
}

enum JobOut {
    Main(Scheme, RunMetrics, Option<Vec<PartyRow>>),
    Collude(Aggregator, usize, usize, f64),
}

fn rows(record: &RunRecord, parties: &[Party]) -> Vec<PartyRow> {
    record
        .parties
        .iter()
        .zip(parties)
        .map(|(t, p)| PartyRow {
            id: p.id,
            strategy: p.strategy,
            tokens: p.tokens,
            quality: p.quality,
            true_contribution: t.true_contribution,
            reward_utoken: t.reward_utoken,
            slash_utoken: t.slash_utoken,
            net_utoken: t.net_utoken(),
            rounds_joined: t.rounds_joined,
            compute_tokens: t.compute_tokens,
            stake_bonded_utoken: t.stake_bonded_utoken,
        })
        .collect()
}

fn band(series: &[&Vec<f64>], len: usize) -> Vec<Summary> {
    (0..len)
        .map(|i| {
            let xs: Vec<f64> = series
                .iter()
                .map(|s| s.get(i).copied().unwrap_or(f64::NAN))
                .collect();
            summarize(&xs)
        })
        .collect()
}

/// Number of runs [`simulate`] performs (for a progress bar).
pub fn job_count(cfg: &SimConfig) -> u64 {
    let main = cfg.schemes.len() * cfg.seeds;
    let collusion = if cfg.collusion.enabled {
        2 * colluder_counts(cfg.evaluators).len() * cfg.seeds
    } else {
        0
    };
    (main + collusion) as u64
}

/// Validates `cfg`, runs every scheme on every seed and the collusion experiment, calling
/// `tick` after each run.
pub fn simulate(cfg: &SimConfig, tick: &(dyn Fn() + Sync)) -> Result<SimReport, SimError> {
    cfg.validate()?;
    let start = Instant::now();
    let populations: Vec<Vec<Party>> = (0..cfg.seeds)
        .into_par_iter()
        .map(|s| seed_population(cfg, s))
        .collect();
    let mut jobs = Vec::new();
    // Slowest first, so the tail of the queue is short runs.
    let mut order = cfg.schemes.clone();
    order.sort_by_key(|s| std::cmp::Reverse(*s));
    for &scheme in &order {
        for seed in 0..cfg.seeds {
            jobs.push(Job::Main(scheme, seed));
        }
    }
    if cfg.collusion.enabled {
        for agg in [Aggregator::Median, Aggregator::Mean] {
            for c in colluder_counts(cfg.evaluators) {
                for seed in 0..cfg.seeds {
                    jobs.push(Job::Collude(agg, c, seed));
                }
            }
        }
    }
    let outs: Vec<JobOut> = jobs
        .par_iter()
        .map(|job| {
            let out = match *job {
                Job::Main(scheme, seed) => {
                    let parties = &populations[seed];
                    let record =
                        run(cfg, parties, scheme, seed, main_options(cfg)).map_err(|source| {
                            SimError::Run {
                                scheme,
                                seed,
                                source,
                            }
                        })?;
                    let example = (seed == 0).then(|| rows(&record, parties));
                    JobOut::Main(scheme, run_metrics(&record, parties), example)
                }
                Job::Collude(agg, colluders, seed) => {
                    let parties = &populations[seed];
                    let opts = RunOptions {
                        collusion: Some(Collusion {
                            colluders,
                            factor: cfg.collusion.factor,
                        }),
                        aggregator: agg,
                        rounds: cfg.collusion.rounds,
                    };
                    let scheme = Scheme::ShapleyExact;
                    let record =
                        run(cfg, parties, scheme, seed, opts).map_err(|source| SimError::Run {
                            scheme,
                            seed,
                            source,
                        })?;
                    let partner_reward: f64 = record
                        .parties
                        .iter()
                        .zip(parties)
                        .filter(|(_, p)| p.partner)
                        .map(|(t, _)| t.reward_utoken)
                        .sum();
                    JobOut::Collude(agg, colluders, seed, partner_reward)
                }
            };
            tick();
            Ok(out)
        })
        .collect::<Result<_, SimError>>()?;

    let mut schemes = Vec::new();
    for &scheme in &cfg.schemes {
        let mut runs: Vec<RunMetrics> = Vec::new();
        let mut example = Vec::new();
        for o in &outs {
            if let JobOut::Main(s, m, ex) = o {
                if *s == scheme {
                    runs.push(m.clone());
                    if let Some(ex) = ex {
                        example = ex.clone();
                    }
                }
            }
        }
        runs.sort_by_key(|r| r.seed_index);
        let keys: Vec<String> = runs
            .first()
            .map(|r| r.scalars.keys().cloned().collect())
            .unwrap_or_default();
        let summary = keys
            .into_iter()
            .map(|k| {
                let xs: Vec<f64> = runs
                    .iter()
                    .map(|r| r.scalars.get(&k).copied().unwrap_or(f64::NAN))
                    .collect();
                let s = summarize(&xs);
                (k, s)
            })
            .collect();
        let part: Vec<&Vec<f64>> = runs.iter().map(|r| &r.participation).collect();
        let util: Vec<&Vec<f64>> = runs.iter().map(|r| &r.mean_cohort_utility).collect();
        let lc: Vec<&Vec<f64>> = runs.iter().map(|r| &r.lorenz_compute).collect();
        let ls: Vec<&Vec<f64>> = runs.iter().map(|r| &r.lorenz_stake).collect();
        schemes.push(SchemeReport {
            scheme,
            participation: band(&part, cfg.rounds),
            cohort_utility: band(&util, cfg.rounds),
            lorenz_compute: band(&lc, LORENZ_GRID),
            lorenz_stake: band(&ls, LORENZ_GRID),
            runs,
            summary,
            example,
        });
    }

    let mut collusion = Vec::new();
    if cfg.collusion.enabled {
        let reward = |agg: Aggregator, c: usize, seed: usize| -> f64 {
            outs.iter()
                .find_map(|o| match o {
                    JobOut::Collude(a, cc, s, r) if *a == agg && *cc == c && *s == seed => Some(*r),
                    _ => None,
                })
                .unwrap_or(f64::NAN)
        };
        for agg in [Aggregator::Median, Aggregator::Mean] {
            for c in colluder_counts(cfg.evaluators)
                .into_iter()
                .filter(|&c| c > 0)
            {
                let gains: Vec<f64> = (0..cfg.seeds)
                    .map(|s| reward(agg, c, s) / reward(agg, 0, s) - 1.0)
                    .collect();
                collusion.push(CollusionRow {
                    aggregator: agg,
                    colluders: c,
                    evaluators: cfg.evaluators,
                    partner_gain: summarize(&gains),
                    partner_gain_per_seed: gains,
                });
            }
        }
    }
    Ok(SimReport {
        config: cfg.clone(),
        calibration: None,
        schemes,
        collusion,
        wall_time_s: start.elapsed().as_secs_f64(),
        threads: rayon::current_num_threads(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::sim::world::tests::small;

    #[test]
    fn results_do_not_depend_on_thread_scheduling() {
        let cfg = SimConfig {
            schemes: vec![Scheme::Equal, Scheme::ShapleySampled],
            collusion: crate::sim::config::CollusionConfig {
                rounds: 10,
                ..Default::default()
            },
            ..small()
        };
        let on = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool")
                .install(|| simulate(&cfg, &|| {}).expect("simulates"))
        };
        let (a, b) = (on(1), on(2));
        assert_eq!(a.schemes, b.schemes);
        assert_eq!(a.collusion, b.collusion);
        assert_eq!(a.schemes.len(), 2);
        assert_eq!(a.schemes[0].runs.len(), 2);
        assert_eq!(
            a.collusion.len(),
            4,
            "median and mean, minority and majority"
        );
    }

    #[test]
    fn invalid_config_is_rejected_before_running() {
        let cfg = SimConfig {
            agents: 0,
            ..small()
        };
        assert!(matches!(
            simulate(&cfg, &|| {}),
            Err(SimError::Config(ConfigError::NoAgents))
        ));
    }

    #[test]
    fn colluder_counts_straddle_one_half() {
        assert_eq!(colluder_counts(3), vec![0, 1, 2]);
        assert_eq!(colluder_counts(5), vec![0, 2, 3]);
        assert_eq!(colluder_counts(4), vec![0, 1, 3]);
        assert_eq!(colluder_counts(1), vec![0, 1]);
    }
}
