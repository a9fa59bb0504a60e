//! `shapley-bench`: the Rust side of `bench/shapley/run.sh` (not part of `make test`).
//!
//! Subcommands write tables of a synthetic game, time the per-evaluation overhead of a
//! sampler, measure error against exact values for a list of budgets, and time exact
//! enumeration. Every result is one JSON object on stdout.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use fairshare_shapley::games::AdditiveGame;
use fairshare_shapley::{
    estimate, exact_shapley, Coalition, FnUtility, GtgOptions, Method, SamplerOptions,
    TableUtility, Utility,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

#[derive(Parser)]
#[command(name = "shapley-bench", about = "Rust side of the Shapley benchmark")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Tabulate the synthetic game as CSV and write its exact values as JSON.
    Table {
        #[arg(long)]
        players: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        exact_out: PathBuf,
    },
    /// Time per utility evaluation of permutation sampling on a table (or, with
    /// `--additive N`, on an additive game of N players when no table fits in memory).
    Overhead {
        #[arg(long)]
        table: Option<PathBuf>,
        #[arg(long)]
        additive: Option<usize>,
        #[arg(long)]
        evaluations: u64,
        #[arg(long, default_value = "permutation")]
        method: String,
    },
    /// RMSE against exact values for each method and evaluation budget over several seeds.
    Errors {
        #[arg(long)]
        table: PathBuf,
        #[arg(long)]
        exact: PathBuf,
        #[arg(long, value_delimiter = ',')]
        budgets: Vec<u64>,
        #[arg(long, value_delimiter = ',')]
        methods: Vec<String>,
        #[arg(long, default_value_t = 8)]
        runs: u64,
    },
    /// Generate the game families (random tables, concave data games, weighted voting,
    /// airport), write each game's values (raw little-endian f64 by mask) and exact Shapley
    /// values for the Python side, and print one JSON line per (game, method, budget) with
    /// the relative L2 error of this crate's estimators.
    Families {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, value_delimiter = ',', default_value = "8,12,16,20")]
        sizes: Vec<usize>,
        #[arg(long, value_delimiter = ',', default_value = "100,300,1000,3000,10000")]
        budgets: Vec<u64>,
        #[arg(long, default_value_t = 3)]
        seeds: u64,
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "regression_adjusted,replayable,stratified_svarm,kernel_shap,stratified,antithetic"
        )]
        methods: Vec<String>,
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "random,concave,voting,airport"
        )]
        families: Vec<String>,
    },
    /// Wall time of exact enumeration on a table, or on the synthetic game computed on the fly.
    Exact {
        #[arg(long)]
        table: Option<PathBuf>,
        #[arg(long)]
        synthetic: Option<usize>,
    },
}

/// A data-valuation-like game: players hold data of some size and quality (a fifth are
/// noisy and hurt), the coalition's model improves with diminishing returns in the total
/// useful data, plus a small deterministic per-coalition noise like evaluation noise.
fn synthetic(n: usize, seed: u64) -> FnUtility<impl Fn(&Coalition) -> f64 + Sync> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let contrib: Vec<f64> = (0..n)
        .map(|_| {
            let size: f64 = rng.gen_range(0.5..2.0);
            let quality: f64 = if rng.gen_bool(0.2) {
                rng.gen_range(-0.5..0.0)
            } else {
                rng.gen_range(0.5..1.0)
            };
            size * quality
        })
        .collect();
    let scale = 0.3 * n as f64;
    FnUtility::new(n, move |c: &Coalition| {
        if c.is_empty() {
            return 0.0;
        }
        let s: f64 = c.players().map(|i| contrib[i]).sum();
        let mut h = c.first_word() ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h = (h ^ (h >> 33)).wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        h = (h ^ (h >> 33)).wrapping_mul(0xC4CE_B9FE_1A85_EC53);
        h ^= h >> 33;
        let noise = (h >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
        1.0 - (-s / scale).exp() + 0.01 * noise
    })
}

fn method(name: &str) -> Result<Method> {
    Ok(match name {
        "permutation" => Method::Permutation { antithetic: false },
        "antithetic" => Method::Permutation { antithetic: true },
        "tmc" => Method::Tmc { tolerance: 0.01 },
        "gtg" => Method::Gtg(GtgOptions::default()),
        "stratified" => Method::Stratified,
        "stratified_svarm" => Method::StratifiedSvarm,
        "regression_adjusted" => Method::RegressionAdjusted,
        "kernel_shap" => Method::KernelShap,
        "replayable" => Method::Replayable,
        "replayable_neyman" => Method::ReplayableNeyman,
        other => bail!("unknown method {other}"),
    })
}

/// One game of a family as a value per coalition mask (n ≤ 20).
fn family_game(family: &str, n: usize, seed: u64) -> Result<Vec<f64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_mul(7919).wrapping_add(n as u64));
    let masks = 0..1u64 << n;
    let sum_of =
        |w: &[f64], m: u64| -> f64 { (0..n).filter(|i| m >> i & 1 == 1).map(|i| w[i]).sum() };
    Ok(match family {
        "random" => {
            let mut v: Vec<f64> = masks.map(|_| rng.gen_range(-1.0..1.0)).collect();
            v[0] = 0.0;
            v
        }
        "concave" => {
            // Data game: player i brings c_i useful data; players 0 and 1 are a symmetric
            // pair, 2 is null, 3 is harmful (noisy data lowers the model's value).
            let mut c: Vec<f64> = (0..n).map(|_| rng.gen_range(0.2..2.0)).collect();
            c[1] = c[0];
            c[2] = 0.0;
            c[3] = -rng.gen_range(0.3..1.0);
            let total: f64 = c.iter().filter(|x| **x > 0.0).sum();
            let scale = total * rng.gen_range(0.15..0.6);
            let shape = rng.gen_range(0..3u32);
            masks
                .map(|m| {
                    let x = sum_of(&c, m) / scale;
                    match shape {
                        0 => 1.0 - (-x).exp(),
                        1 => x.tanh(),
                        _ => x / (1.0 + x.abs()),
                    }
                })
                .collect()
        }
        "voting" => {
            let w: Vec<f64> = (0..n).map(|_| rng.gen_range(1..=10) as f64).collect();
            let quota = (w.iter().sum::<f64>() * rng.gen_range(0.5..0.7)).floor();
            masks
                .map(|m| if sum_of(&w, m) >= quota { 1.0 } else { 0.0 })
                .collect()
        }
        "airport" => {
            let c: Vec<f64> = (0..n).map(|_| rng.gen_range(1.0..10.0)).collect();
            masks
                .map(|m| {
                    (0..n)
                        .filter(|i| m >> i & 1 == 1)
                        .map(|i| c[i])
                        .fold(0.0, f64::max)
                })
                .collect()
        }
        // Families the estimators were not tuned on (not in `bench/shapley/run.sh`'s list).
        "glove" => {
            // Glove game: a third of the players hold left gloves, the rest right ones; a
            // coalition is worth its matched pairs.
            let left: Vec<bool> = (0..n).map(|i| i % 3 == 0).collect();
            masks
                .map(|m| {
                    let l = (0..n).filter(|&i| m >> i & 1 == 1 && left[i]).count();
                    let r = (0..n).filter(|&i| m >> i & 1 == 1 && !left[i]).count();
                    l.min(r) as f64
                })
                .collect()
        }
        "unanimity" => {
            // A sum of n/2 unanimity games on random carriers of 2 to 5 players.
            let games: Vec<(u64, f64)> = (0..n / 2)
                .map(|_| {
                    let size = rng.gen_range(2..=5usize.min(n));
                    let mut carrier = 0u64;
                    while carrier.count_ones() < size as u32 {
                        carrier |= 1 << rng.gen_range(0..n);
                    }
                    (carrier, rng.gen_range(0.5..2.0))
                })
                .collect();
            masks
                .map(|m| games.iter().filter(|g| m & g.0 == g.0).map(|g| g.1).sum())
                .collect()
        }
        "noisy" => {
            // A concave data game measured with evaluation noise (2 % of the range per
            // coalition, fixed by the mask), as a validation loss on a small text would be.
            let c: Vec<f64> = (0..n).map(|_| rng.gen_range(0.2..2.0)).collect();
            let scale = c.iter().sum::<f64>() * rng.gen_range(0.15..0.6);
            let noise: Vec<f64> = (0..1u64 << n).map(|_| rng.gen_range(-0.02..0.02)).collect();
            masks
                .map(|m| {
                    if m == 0 {
                        0.0
                    } else {
                        1.0 - (-sum_of(&c, m) / scale).exp() + noise[m as usize]
                    }
                })
                .collect()
        }
        other => bail!("unknown game family {other}"),
    })
}

fn load(path: &Path) -> Result<TableUtility> {
    TableUtility::from_path(path).with_context(|| format!("loading {}", path.display()))
}

fn main() -> Result<()> {
    let out = match Cli::parse().cmd {
        Cmd::Table {
            players,
            seed,
            out,
            exact_out,
        } => {
            let g = synthetic(players, seed);
            let t = TableUtility::tabulate(&g)?;
            std::fs::write(&out, t.to_csv())?;
            let e = exact_shapley(&t)?;
            std::fs::write(&exact_out, serde_json::to_string(&e.values)?)?;
            json!({ "players": players, "coalitions": t.len(), "exact_ms": e.elapsed_ms })
        }
        Cmd::Overhead {
            table,
            additive,
            evaluations,
            method: m,
        } => {
            let u: Box<dyn Utility + Send> = match (table, additive) {
                (Some(p), None) => Box::new(load(&p)?),
                (None, Some(n)) => Box::new(AdditiveGame::new((0..n).map(|i| i as f64).collect())),
                _ => bail!("give exactly one of --table or --additive"),
            };
            let start = Instant::now();
            let e = estimate(
                u.as_ref(),
                &method(&m)?,
                &SamplerOptions::with_budget(1, evaluations),
            )?;
            let secs = start.elapsed().as_secs_f64();
            json!({
                "players": u.n_players(), "method": m, "evaluations": e.evaluations,
                "seconds": secs, "us_per_evaluation": secs * 1e6 / e.evaluations as f64,
            })
        }
        Cmd::Errors {
            table,
            exact,
            budgets,
            methods,
            runs,
        } => {
            let u = load(&table)?;
            let truth: Vec<f64> = serde_json::from_str(&std::fs::read_to_string(&exact)?)?;
            let mut rows = Vec::new();
            for name in &methods {
                let m = method(name)?;
                for &b in &budgets {
                    let mut sq = 0.0;
                    let mut evals = 0u64;
                    let mut ok_runs = 0u64;
                    for seed in 0..runs {
                        match estimate(&u, &m, &SamplerOptions::with_budget(seed, b)) {
                            Ok(e) => {
                                sq += e
                                    .values
                                    .iter()
                                    .zip(&truth)
                                    .map(|(a, t)| (a - t).powi(2))
                                    .sum::<f64>();
                                evals += e.evaluations;
                                ok_runs += 1;
                            }
                            Err(fairshare_shapley::ShapleyError::BudgetTooSmall { .. }) => break,
                            Err(e) => return Err(e.into()),
                        }
                    }
                    if ok_runs > 0 {
                        rows.push(json!({
                            "method": name, "budget": b,
                            "mean_evaluations": evals as f64 / ok_runs as f64,
                            "rmse": (sq / (ok_runs as usize * truth.len()) as f64).sqrt(),
                            "runs": ok_runs,
                        }));
                    }
                }
            }
            json!({ "players": u.n_players(), "rows": rows })
        }
        Cmd::Families {
            dir,
            sizes,
            budgets,
            seeds,
            methods,
            families,
        } => {
            std::fs::create_dir_all(&dir)?;
            for fam in &families {
                for &n in &sizes {
                    for seed in 0..seeds {
                        let v = family_game(fam, n, seed)?;
                        let game = FnUtility::new(n, |c: &Coalition| v[c.first_word() as usize]);
                        let truth = exact_shapley(&game)?.values;
                        let stem = dir.join(format!("{fam}_n{n}_s{seed}"));
                        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                        std::fs::write(stem.with_extension("f64"), bytes)?;
                        std::fs::write(
                            stem.with_extension("json"),
                            serde_json::to_string(&truth)?,
                        )?;
                        let norm = truth.iter().map(|t| t * t).sum::<f64>().sqrt();
                        for name in &methods {
                            let m = method(name)?;
                            for &b in &budgets {
                                let t0 = Instant::now();
                                let e = match estimate(
                                    &game,
                                    &m,
                                    &SamplerOptions::with_budget(1000 + seed, b),
                                ) {
                                    Ok(e) => e,
                                    Err(fairshare_shapley::ShapleyError::BudgetTooSmall {
                                        ..
                                    }) => continue,
                                    Err(e) => return Err(e.into()),
                                };
                                let err = e
                                    .values
                                    .iter()
                                    .zip(&truth)
                                    .map(|(a, t)| (a - t).powi(2))
                                    .sum::<f64>()
                                    .sqrt();
                                let se_cover = e
                                    .values
                                    .iter()
                                    .zip(&truth)
                                    .zip(&e.std_errors)
                                    .filter(|((a, t), s)| (*a - *t).abs() <= 2.0 * **s + 1e-12)
                                    .count();
                                println!(
                                    "{}",
                                    json!({
                                        "family": fam, "n": n, "seed": seed, "method": name, "budget": b,
                                        "evaluations": e.evaluations, "rel_l2": err / norm.max(1e-300),
                                        "within_2se": se_cover, "seconds": t0.elapsed().as_secs_f64(),
                                    })
                                );
                            }
                        }
                    }
                }
            }
            return Ok(());
        }
        Cmd::Exact {
            table,
            synthetic: s,
        } => {
            let (e, n, load_s) = match (table, s) {
                (Some(p), None) => {
                    let t0 = Instant::now();
                    let u = load(&p)?;
                    let load_s = t0.elapsed().as_secs_f64();
                    (exact_shapley(&u)?, u.n_players(), load_s)
                }
                (None, Some(n)) => (exact_shapley(&synthetic(n, 1))?, n, 0.0),
                _ => bail!("give exactly one of --table or --synthetic"),
            };
            json!({
                "players": n, "exact_seconds": e.elapsed_ms / 1e3, "load_seconds": load_s,
                "threads": rayon::current_num_threads(),
                "efficiency_gap": e.values.iter().sum::<f64>() - (e.grand_value - e.empty_value),
            })
        }
    };
    println!("{out}");
    Ok(())
}
