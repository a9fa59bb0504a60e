//! The `shapley` command: value a utility table or a built-in game and report JSON.
//!
//! [`ShapleyArgs`] derives `clap::Args`, so another binary (the trainer's `shapley`
//! subcommand) can embed it; [`run`] does the work and returns the JSON to print.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde_json::{json, Value};

use crate::error::{Result, ShapleyError};
use crate::games::{AdditiveGame, AirportGame, GloveGame, UnanimityGame, WeightedVotingGame};
use crate::sampling::{GtgOptions, SamplerOptions};
use crate::stop::StopRule;
use crate::table::TableUtility;
use crate::utility::Utility;
use crate::{estimate, Method};

/// Evaluation budget used when no stopping rule is given.
pub const DEFAULT_MAX_EVALUATIONS: u64 = 100_000;

/// Built-in games.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GameKind {
    /// U(S) = Σ weights; φ = weights.
    Additive,
    /// U(S) = max cost in S (`--weights` are the costs).
    Airport,
    /// U(S) = 1 if Σ weights ≥ quota (integer `--weights`, `--quota`).
    Voting,
    /// U(S) = min(left gloves, right gloves) (`--left`, `--right`).
    Glove,
    /// U(S) = 1 if the carrier ⊆ S (`--carrier`).
    Unanimity,
}

/// Estimators selectable on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MethodKind {
    /// Enumerate all coalitions (n ≤ 25).
    Exact,
    /// Permutation Monte Carlo.
    Permutation,
    /// Permutation Monte Carlo with antithetic (reversed) pairs.
    Antithetic,
    /// Truncated Monte Carlo (`--tolerance`).
    Tmc,
    /// GTG-Shapley guided sampling (`--epsilon`).
    Gtg,
    /// Stratified by coalition size.
    Stratified,
    /// Stratified SVARM (coalitions without replacement, Neyman allocation; n ≤ 63).
    StratifiedSvarm,
    /// Regression-adjusted stratified SVARM, the most accurate sampled estimator (n ≤ 63).
    RegressionAdjusted,
    /// Paired KernelSHAP with leverage-score sampling (n ≤ 63).
    KernelShap,
    /// The estimator round tables record and the contract replays (n ≤ 63).
    Replayable,
    /// Banzhaf values by maximum sample reuse (baseline).
    Banzhaf,
    /// Leave-one-out (baseline).
    Loo,
    /// Shares proportional to `--sizes` (baseline).
    DataSize,
}

/// Arguments of the `shapley` command.
#[derive(Debug, Clone, Args)]
pub struct ShapleyArgs {
    /// Utility table: CSV rows `coalition,value`, the coalition a bitstring (character i is
    /// player i) or `{0;2;5}`, optional `# n_players = N` line; or .json
    /// `{"n_players": N, "values": [{"coalition": [0, 2], "value": 1.5}, ...]}`.
    /// U(∅) is 0 unless listed; a coalition the method needs but the table lacks is an error.
    #[arg(long, conflicts_with = "game", required_unless_present = "game")]
    pub table: Option<PathBuf>,
    /// A built-in game instead of a table.
    #[arg(long, value_enum)]
    pub game: Option<GameKind>,
    /// Number of players of a built-in game (defaults to the length of --weights).
    #[arg(long)]
    pub players: Option<usize>,
    /// Weights (additive, voting) or costs (airport), comma-separated; default 1, 2, ..., n.
    #[arg(long, value_delimiter = ',')]
    pub weights: Vec<f64>,
    /// Quota of the voting game (default: half the total weight, rounded down, plus one).
    #[arg(long)]
    pub quota: Option<u64>,
    /// Players holding a left glove, comma-separated (default: the first half).
    #[arg(long, value_delimiter = ',')]
    pub left: Vec<usize>,
    /// Players holding a right glove, comma-separated (default: the second half).
    #[arg(long, value_delimiter = ',')]
    pub right: Vec<usize>,
    /// Carrier of the unanimity game, comma-separated (default: players 0 and 1).
    #[arg(long, value_delimiter = ',')]
    pub carrier: Vec<usize>,
    /// Estimator.
    #[arg(long, value_enum, default_value = "tmc")]
    pub method: MethodKind,
    /// Seed of the random generator.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Stop before exceeding this many utility evaluations.
    #[arg(long)]
    pub max_evaluations: Option<u64>,
    /// Stop after this many milliseconds.
    #[arg(long)]
    pub max_time_ms: Option<u64>,
    /// Stop once every standard error is at most this.
    #[arg(long)]
    pub target_se: Option<f64>,
    /// TMC truncation tolerance relative to |U(N)|.
    #[arg(long, default_value_t = 0.01)]
    pub tolerance: f64,
    /// GTG absolute truncation threshold (default 1e-3 · |U(N) − U(∅)|).
    #[arg(long)]
    pub epsilon: Option<f64>,
    /// Data sizes for `--method data-size`, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub sizes: Vec<f64>,
    /// Also report the closed-form values of a built-in game and the largest deviation.
    #[arg(long)]
    pub reference: bool,
}

/// A game built from the arguments, with its closed form when it has one.
struct Built {
    name: String,
    utility: Box<dyn Utility + Send>,
    reference: Option<Vec<f64>>,
}

/// Runs the command and returns the JSON report.
pub fn run(args: &ShapleyArgs) -> Result<Value> {
    let built = build_game(args)?;
    let method = method(args);
    let mut stop = StopRule {
        max_evaluations: args.max_evaluations,
        max_time_ms: args.max_time_ms,
        target_std_error: args.target_se,
    };
    if stop == StopRule::default() {
        stop.max_evaluations = Some(DEFAULT_MAX_EVALUATIONS);
    }
    let opts = SamplerOptions {
        seed: args.seed,
        stop,
    };
    let est = estimate(built.utility.as_ref(), &method, &opts)?;
    let mut report = json!({
        "game": built.name,
        "n_players": built.utility.n_players(),
        "seed": args.seed,
        "stop_rule": opts.stop,
    });
    let est_json = serde_json::to_value(&est)
        .map_err(|e| ShapleyError::InvalidParameter(format!("estimate not serialisable: {e}")))?;
    merge(&mut report, est_json);
    if args.reference {
        if let Some(r) = &built.reference {
            let max_dev = est
                .values
                .iter()
                .zip(r)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            merge(
                &mut report,
                json!({ "reference": r, "max_abs_deviation": max_dev }),
            );
        }
    }
    Ok(report)
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(a), Value::Object(b)) = (into, from) {
        a.extend(b);
    }
}

fn method(args: &ShapleyArgs) -> Method {
    match args.method {
        MethodKind::Exact => Method::Exact,
        MethodKind::Permutation => Method::Permutation { antithetic: false },
        MethodKind::Antithetic => Method::Permutation { antithetic: true },
        MethodKind::Tmc => Method::Tmc {
            tolerance: args.tolerance,
        },
        MethodKind::Gtg => Method::Gtg(GtgOptions {
            epsilon: args.epsilon,
        }),
        MethodKind::Stratified => Method::Stratified,
        MethodKind::StratifiedSvarm => Method::StratifiedSvarm,
        MethodKind::RegressionAdjusted => Method::RegressionAdjusted,
        MethodKind::KernelShap => Method::KernelShap,
        MethodKind::Replayable => Method::Replayable,
        MethodKind::Banzhaf => Method::BanzhafMsr,
        MethodKind::Loo => Method::LeaveOneOut,
        MethodKind::DataSize => Method::DataSize {
            sizes: args.sizes.clone(),
        },
    }
}

fn build_game(args: &ShapleyArgs) -> Result<Built> {
    if let Some(path) = &args.table {
        return Ok(Built {
            name: format!("table:{}", path.display()),
            utility: Box::new(TableUtility::from_path(path)?),
            reference: None,
        });
    }
    let kind = args
        .game
        .ok_or_else(|| ShapleyError::InvalidParameter("give --table FILE or --game NAME".into()))?;
    let n = args.players.unwrap_or(args.weights.len());
    if n == 0 {
        return Err(ShapleyError::InvalidParameter(
            "a built-in game needs --players N or --weights".into(),
        ));
    }
    let weights = || -> Result<Vec<f64>> {
        if args.weights.is_empty() {
            Ok((1..=n).map(|i| i as f64).collect())
        } else if args.weights.len() == n {
            Ok(args.weights.clone())
        } else {
            Err(ShapleyError::InvalidParameter(format!(
                "--weights has {} entries for {n} players",
                args.weights.len()
            )))
        }
    };
    let built = match kind {
        GameKind::Additive => {
            let g = AdditiveGame::new(weights()?);
            Built {
                name: "additive".into(),
                reference: Some(g.shapley_values()),
                utility: Box::new(g),
            }
        }
        GameKind::Airport => {
            let g = AirportGame::new(weights()?)?;
            Built {
                name: "airport".into(),
                reference: Some(g.shapley_values()),
                utility: Box::new(g),
            }
        }
        GameKind::Voting => {
            let w = weights()?
                .into_iter()
                .map(|x| {
                    if x >= 0.0 && x.fract() == 0.0 && x <= u32::MAX as f64 {
                        Ok(x as u64)
                    } else {
                        Err(ShapleyError::InvalidParameter(format!(
                            "voting weights must be non-negative integers, got {x}"
                        )))
                    }
                })
                .collect::<Result<Vec<u64>>>()?;
            let quota = args.quota.unwrap_or(w.iter().sum::<u64>() / 2 + 1);
            let g = WeightedVotingGame::new(w, quota)?;
            Built {
                name: "voting".into(),
                reference: if args.reference {
                    Some(g.shapley_values()?)
                } else {
                    None
                },
                utility: Box::new(g),
            }
        }
        GameKind::Glove => {
            let (left, right) = if args.left.is_empty() && args.right.is_empty() {
                ((0..n / 2).collect(), (n / 2..n).collect())
            } else {
                (args.left.clone(), args.right.clone())
            };
            let g = GloveGame::new(n, &left, &right)?;
            Built {
                name: "glove".into(),
                reference: Some(g.shapley_values()),
                utility: Box::new(g),
            }
        }
        GameKind::Unanimity => {
            let carrier = if args.carrier.is_empty() {
                vec![0, 1.min(n - 1)]
            } else {
                args.carrier.clone()
            };
            let g = UnanimityGame::new(n, &carrier)?;
            Built {
                name: "unanimity".into(),
                reference: Some(g.shapley_values()),
                utility: Box::new(g),
            }
        }
    };
    Ok(built)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ShapleyArgs,
    }

    fn run_cli(argv: &[&str]) -> Result<Value> {
        let cli = Cli::try_parse_from(std::iter::once("shapley").chain(argv.iter().copied()))
            .map_err(|e| ShapleyError::InvalidParameter(e.to_string()))?;
        run(&cli.args)
    }

    #[test]
    fn builtin_game_exact_report() {
        let v = run_cli(&[
            "--game",
            "airport",
            "--weights",
            "1,2,3",
            "--method",
            "exact",
            "--reference",
        ])
        .expect("runs");
        assert_eq!(v["n_players"], 3);
        assert_eq!(v["stop_reason"], "complete");
        assert!(v["max_abs_deviation"].as_f64().expect("number") < 1e-12);
    }

    #[test]
    fn sampler_report_has_errors_and_counts() {
        let v = run_cli(&[
            "--game",
            "voting",
            "--players",
            "9",
            "--method",
            "gtg",
            "--max-evaluations",
            "2000",
            "--seed",
            "3",
            "--reference",
        ])
        .expect("runs");
        assert!(v["evaluations"].as_u64().expect("count") <= 2000);
        assert_eq!(v["std_errors"].as_array().expect("array").len(), 9);
    }

    #[test]
    fn table_file_and_bad_input() {
        let dir =
            std::env::temp_dir().join(format!("fairshare-shapley-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("t.csv");
        std::fs::write(&path, "coalition,value\n10,1\n01,2\n11,4\n").expect("write");
        let p = path.to_str().expect("utf-8 temp path");
        let v = run_cli(&["--table", p, "--method", "exact"]).expect("runs");
        assert_eq!(v["values"], json!([1.5, 2.5]));
        std::fs::write(&path, "11,4\n").expect("write");
        let err = run_cli(&["--table", p, "--method", "exact"]).expect_err("incomplete table");
        assert!(err.to_string().contains("no value for coalition"));
        assert!(run_cli(&["--game", "additive"]).is_err());
        assert!(run_cli(&["--game", "voting", "--weights", "1.5,2"]).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
