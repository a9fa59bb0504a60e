//! Runs every (scheme, seed) pair and the evaluator experiments (collusion, lazy evaluators,
//! false positives) in parallel and gathers the figures into a [`SimReport`]. Each run has its
//! own seeded generator, so results do not depend on thread scheduling.

use std::collections::BTreeMap;
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::agent::{population, Party, Strategy};
use super::collusion::{colluder_counts, CollusionRow, CollusionRun, CollusionSeed};
use super::config::{ConfigError, SimConfig};
use super::false_positive::{seed_rates, FalsePositiveReport, SeedRates};
use super::lazy::{LazyRow, LazyRun};
use super::noise::derive;
use super::outcome::{run_metrics, RunMetrics, LORENZ_GRID};
use super::panel::{Panel, Role};
use super::schemes::Scheme;
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
    /// The collusion experiment, by panel size then colluder count (empty when disabled).
    pub collusion: Vec<CollusionRow>,
    /// The lazy-evaluator experiment, one row per lazy role (empty when disabled).
    pub lazy: Vec<LazyRow>,
    /// The false-positive experiment (`None` when skipped).
    pub false_positives: Option<FalsePositiveReport>,
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

enum Job {
    Main(Scheme, usize),
    Collude(usize, usize, usize),
    Lazy(Role, usize),
    FalsePositive(usize),
}

enum JobOut {
    Main(Scheme, RunMetrics, Option<Vec<PartyRow>>),
    Collude(usize, usize, usize, CollusionRun),
    Lazy(Role, usize, Option<LazyRun>),
    FalsePositive(usize, Option<SeedRates>),
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
    (cfg.schemes.len() * cfg.seeds
        + collusion_cells(cfg).len() * cfg.seeds
        + lazy_roles(cfg).len() * cfg.seeds
        + usize::from(cfg.false_positives.cohorts > 0) * cfg.seeds) as u64
}

/// The (panel size, colluders) cells of the collusion experiment, baselines included.
fn collusion_cells(cfg: &SimConfig) -> Vec<(usize, usize)> {
    if !cfg.collusion.enabled {
        return Vec::new();
    }
    let mut panels = cfg.collusion.panels.clone();
    panels.sort_unstable();
    panels.dedup();
    panels
        .into_iter()
        .flat_map(|m| colluder_counts(m).into_iter().map(move |c| (m, c)))
        .collect()
}

fn lazy_roles(cfg: &SimConfig) -> Vec<Role> {
    if cfg.lazy.enabled {
        Role::LAZY.to_vec()
    } else {
        Vec::new()
    }
}

/// Validates `cfg`, runs every scheme on every seed and the evaluator experiments
/// (collusion, lazy evaluators, false positives), calling `tick` after each run.
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
    // Larger panels first: they are the slower runs.
    for &(m, c) in collusion_cells(cfg).iter().rev() {
        for seed in 0..cfg.seeds {
            jobs.push(Job::Collude(m, c, seed));
        }
    }
    for role in lazy_roles(cfg) {
        for seed in 0..cfg.seeds {
            jobs.push(Job::Lazy(role, seed));
        }
    }
    if cfg.false_positives.cohorts > 0 {
        for seed in 0..cfg.seeds {
            jobs.push(Job::FalsePositive(seed));
        }
    }
    let exact = |seed: usize, opts: &RunOptions| {
        let scheme = Scheme::ShapleyExact;
        run(cfg, &populations[seed], scheme, seed, opts).map_err(|source| SimError::Run {
            scheme,
            seed,
            source,
        })
    };
    let outs: Vec<JobOut> = jobs
        .par_iter()
        .map(|job| {
            let out = match *job {
                Job::Main(scheme, seed) => {
                    let parties = &populations[seed];
                    let record =
                        run(cfg, parties, scheme, seed, &main_options(cfg)).map_err(|source| {
                            SimError::Run {
                                scheme,
                                seed,
                                source,
                            }
                        })?;
                    let example = (seed == 0).then(|| rows(&record, parties));
                    JobOut::Main(scheme, run_metrics(&record, parties), example)
                }
                Job::Collude(m, colluders, seed) => {
                    let opts = RunOptions {
                        panel: Panel::with(
                            m,
                            cfg.evaluation.quorum,
                            Role::Colluder,
                            colluders,
                            cfg.collusion.factor,
                        ),
                        rounds: cfg.collusion.rounds,
                    };
                    let record = exact(seed, &opts)?;
                    let parties = &populations[seed];
                    let out = CollusionRun::from_record(&record, |i| parties[i].partner);
                    JobOut::Collude(m, colluders, seed, out)
                }
                Job::Lazy(role, seed) => {
                    let opts = RunOptions {
                        panel: Panel::with(cfg.evaluators, cfg.evaluation.quorum, role, 1, 1.0),
                        rounds: cfg.lazy.rounds,
                    };
                    let record = exact(seed, &opts)?;
                    JobOut::Lazy(role, seed, LazyRun::from_record(&record, role))
                }
                Job::FalsePositive(seed) => {
                    let rates =
                        seed_rates(cfg, &populations[seed], seed).map_err(|e| SimError::Run {
                            scheme: Scheme::ShapleyExact,
                            seed,
                            source: RunError::Shapley(e),
                        })?;
                    JobOut::FalsePositive(seed, rates)
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
    let find_collusion = |m: usize, c: usize, seed: usize| {
        outs.iter().find_map(|o| match o {
            JobOut::Collude(mm, cc, s, r) if (*mm, *cc, *s) == (m, c, seed) => Some(r.clone()),
            _ => None,
        })
    };
    for (m, c) in collusion_cells(cfg).into_iter().filter(|&(_, c)| c > 0) {
        let per_seed: Vec<CollusionSeed> = (0..cfg.seeds)
            .filter_map(|s| {
                Some(CollusionSeed {
                    colluding: find_collusion(m, c, s)?,
                    honest: find_collusion(m, 0, s)?,
                })
            })
            .collect();
        collusion.push(CollusionRow::new(
            m,
            c,
            per_seed,
            &cfg.collusion.p_detect,
            cfg.evaluation.slash_disputed,
            cfg.evaluation.bond_utoken as f64,
        ));
    }
    let lazy = lazy_roles(cfg)
        .into_iter()
        .map(|role| {
            let mut per_seed: Vec<(usize, LazyRun)> = outs
                .iter()
                .filter_map(|o| match o {
                    JobOut::Lazy(r, s, Some(run)) if *r == role => Some((*s, run.clone())),
                    _ => None,
                })
                .collect();
            per_seed.sort_by_key(|(s, _)| *s);
            LazyRow::new(
                role,
                cfg.evaluators,
                per_seed.into_iter().map(|(_, r)| r).collect(),
            )
        })
        .collect();
    let false_positives = (cfg.false_positives.cohorts > 0).then(|| {
        let mut per_seed: Vec<(usize, SeedRates)> = outs
            .iter()
            .filter_map(|o| match o {
                JobOut::FalsePositive(s, Some(r)) => Some((*s, r.clone())),
                _ => None,
            })
            .collect();
        per_seed.sort_by_key(|(s, _)| *s);
        FalsePositiveReport::new(cfg, per_seed.into_iter().map(|(_, r)| r).collect())
    });
    Ok(SimReport {
        config: cfg.clone(),
        calibration: None,
        schemes,
        collusion,
        lazy,
        false_positives,
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
                panels: vec![3, 5],
                ..Default::default()
            },
            lazy: crate::sim::config::LazyConfig {
                enabled: true,
                rounds: 5,
            },
            false_positives: crate::sim::config::FalsePositiveConfig { cohorts: 50 },
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
        // Compared as JSON: undefined figures are NaN, which is never equal to itself.
        let json = |r: &SimReport| {
            let mut r = r.clone();
            (r.wall_time_s, r.threads) = (0.0, 0);
            serde_json::to_string(&r).expect("serialises")
        };
        assert_eq!(json(&a), json(&b));
        assert_eq!(a.schemes.len(), 2);
        assert_eq!(a.schemes[0].runs.len(), 2);
        let cells: Vec<(usize, usize)> = a
            .collusion
            .iter()
            .map(|r| (r.evaluators, r.colluders))
            .collect();
        assert_eq!(
            cells,
            vec![(3, 1), (3, 2), (5, 2), (5, 3)],
            "minority and majority"
        );
        assert!(a.collusion.iter().all(|r| r.per_seed.len() == 2));
        assert_eq!(a.lazy.len(), 3);
        assert_eq!(
            a.false_positives.as_ref().map(|f| f.per_seed.len()),
            Some(2)
        );
        assert_eq!(job_count(&cfg), (2 + 6 + 3 + 1) * 2);
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
}
