//! `fairshare simulate`: flags, and the entry point that runs the simulation with a progress bar
//! and writes the report.
//!
//! [`run`] prints a short text summary (with the wall time) on stdout unless `--json` is set;
//! either way it returns the same facts as JSON for the caller to print.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use crate::report::{claims::claims, write_report};
use crate::sim::experiment::{job_count, simulate, CalibrationInfo};
use crate::sim::surrogate::{fit_rmse, fit_surrogate, CalibrationSample};
use crate::sim::{Mix, Scheme, SimConfig};

/// Flags of `fairshare simulate`.
#[derive(clap::Args, Debug, Clone)]
pub struct SimulateArgs {
    /// Parties in the population.
    #[arg(long, default_value_t = 1000)]
    pub agents: usize,
    /// Rounds per run.
    #[arg(long, default_value_t = 200)]
    pub rounds: usize,
    /// Independent populations (seeds) per scheme; confidence intervals are over these.
    #[arg(long, default_value_t = 10)]
    pub seeds: usize,
    /// Base seed from which every run's generator is derived.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Largest number of identities per cohort (one on-chain round each), 1 to 20.
    #[arg(long, default_value_t = 8)]
    pub cohort_size: usize,
    /// Bonded evaluators reporting on each cohort (3 to 25; settled by the evaluator layer).
    #[arg(long, default_value_t = 3)]
    pub evaluators: usize,
    /// Revealed reports a round needs to settle: odd, at least 3, at most --evaluators.
    #[arg(long, default_value_t = 3)]
    pub quorum: usize,
    /// Bond each evaluator posts per round, utoken.
    #[arg(long, default_value_t = 1_000_000)]
    pub evaluator_bond: u128,
    /// An evaluator's compute cost of evaluating one cohort, utoken (an assumption the report
    /// states).
    #[arg(long, default_value_t = 10_000.0)]
    pub evaluator_cost: f64,
    /// α of the harmful and free-rider tests: 0.001, 0.005, 0.01, 0.025, 0.05 or 0.1.
    #[arg(long, default_value_t = 0.01)]
    pub harm_alpha: f64,
    /// Validation batches behind every utility (standard errors have one fewer dof).
    #[arg(long, default_value_t = 8)]
    pub validation_batches: usize,
    /// Allocation schemes to compare, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "equal,data_size,loo,shapley_exact,shapley_sampled"
    )]
    pub schemes: Vec<Scheme>,
    /// Strategy shares, e.g. `free_rider=0.08,low_effort=0.07,poisoner=0.05,dropout=0.05,sybil=0.05`;
    /// strategies not named keep these defaults and honest parties are the remainder.
    #[arg(long)]
    pub mix: Option<Mix>,
    /// JSON array of `{"tokens": .., "utility": ..}` measured by the federated demo (honest
    /// coalitions: training tokens → validation-loss gain); fits the surrogate's A and κ.
    #[arg(long)]
    pub calibration: Option<PathBuf>,
    /// A federated demo's JSON (`run.json`), summarised in the report's "Federated run"
    /// section; repeat for several runs (e.g. the tiny model and SmolLM2).
    #[arg(long)]
    pub demo: Vec<PathBuf>,
    /// `spread.json` of `fairshare demo --spread` for the "Real training" section (default:
    /// <out>/demo-spread/spread.json and <out>/demo-spread-counterfactual/spread.json; the
    /// counterfactual.json of each seed beside it is read too).
    #[arg(long)]
    pub spread: Vec<PathBuf>,
    /// `counterfactual.json` of `fairshare demo --counterfactual` for the "Real training"
    /// section (default: <out>/demo-counterfactual/ and <out>/demo-merge/*/).
    #[arg(long)]
    pub counterfactual: Vec<PathBuf>,
    /// Directory for summary.md, metrics.json and plots/.
    #[arg(long, default_value = "report")]
    pub out: PathBuf,
    /// Validation noise: sd of a measured coalition utility as a fraction of A, shared by the
    /// evaluators of a cohort (they measure on the same validation text).
    #[arg(long, default_value_t = 0.01)]
    pub eval_noise: f64,
    /// Each evaluator's own measurement error, sd as a fraction of A.
    #[arg(long, default_value_t = 0.001)]
    pub evaluator_noise: f64,
    /// Permutations per evaluator and cohort for `shapley_sampled`.
    #[arg(long, default_value_t = 16)]
    pub permutations: u64,
    /// Identities each Sybil party splits its data over.
    #[arg(long, default_value_t = 3)]
    pub sybil_identities: usize,
    /// Rounds of each run of the collusion experiment.
    #[arg(long, default_value_t = 40)]
    pub collusion_rounds: usize,
    /// Skip the collusion experiment.
    #[arg(long)]
    pub no_collusion: bool,
    /// Panel sizes of the collusion experiment, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "3,5,7")]
    pub collusion_panels: Vec<usize>,
    /// Detection probabilities of re-execution swept for the colluders' expected profit.
    #[arg(long, value_delimiter = ',', default_value = "0,0.1,0.25,0.5,1")]
    pub p_detect: Vec<f64>,
    /// Rounds of each run of the lazy-evaluator experiment.
    #[arg(long, default_value_t = 30)]
    pub lazy_rounds: usize,
    /// Skip the lazy-evaluator experiment.
    #[arg(long)]
    pub no_lazy: bool,
    /// Cohorts per seed of the false-positive experiment (0 skips it).
    #[arg(long, default_value_t = 4000)]
    pub fpr_cohorts: usize,
    /// Skip the market model (structured utility, counterfactual ground truth, learning agents).
    #[arg(long)]
    pub no_market: bool,
    /// Market model: parties per seed whose whole run is re-simulated without them (a check
    /// of the in-cohort counterfactual; each costs one run).
    #[arg(long, default_value_t = 0)]
    pub reruns: usize,
    /// Market model: parties probed for unilateral deviations per seed.
    #[arg(long, default_value_t = 30)]
    pub probes: usize,
    /// Market model: budget of one round for the whole market, utoken.
    #[arg(long, default_value_t = 40_000_000.0)]
    pub market_budget: f64,
    /// Market model: schemes, comma-separated (equal, data_size, loo, shapley, shapley_nogroup,
    /// shapley_rhoNN for the pool split by φ^(NN/100)).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "equal,data_size,loo,shapley,shapley_nogroup,shapley_rho50"
    )]
    pub market_schemes: Vec<String>,
    /// `phase`: the phase diagrams (longer; written to <out>/phase.json for the next
    /// `fairshare simulate` to place in the report).
    #[command(subcommand)]
    pub command: Option<SimCommand>,
    /// Print nothing on stdout; the caller prints the returned JSON (set from the `fairshare`
    /// command's global `--json`).
    #[arg(skip)]
    pub json: bool,
}

/// Sub-commands of `fairshare simulate`.
#[derive(clap::Subcommand, Debug, Clone, PartialEq)]
pub enum SimCommand {
    /// Phase diagrams: every claim's verdict over (participation cost × budget) and (data
    /// spread × adversary share), each cell a smaller market (300 agents × 100 rounds × 4
    /// seeds); writes <out>/phase.json. Takes minutes.
    Phase,
}

impl Default for SimulateArgs {
    fn default() -> Self {
        let c = SimConfig::default();
        Self {
            agents: c.agents,
            rounds: c.rounds,
            seeds: c.seeds,
            seed: c.base_seed,
            cohort_size: c.cohort_size,
            evaluators: c.evaluators,
            quorum: c.evaluation.quorum,
            evaluator_bond: c.evaluation.bond_utoken,
            evaluator_cost: c.evaluation.compute_cost_utoken,
            harm_alpha: c.rewards.harm_alpha,
            validation_batches: c.validation_batches,
            schemes: c.schemes,
            mix: None,
            calibration: None,
            demo: Vec::new(),
            spread: Vec::new(),
            counterfactual: Vec::new(),
            out: PathBuf::from("report"),
            eval_noise: c.eval_noise,
            evaluator_noise: c.evaluator_noise,
            permutations: c.sampled.permutations,
            sybil_identities: c.population.sybil_identities,
            collusion_rounds: c.collusion.rounds,
            no_collusion: false,
            collusion_panels: c.collusion.panels,
            p_detect: c.collusion.p_detect,
            lazy_rounds: c.lazy.rounds,
            no_lazy: !c.lazy.enabled,
            fpr_cohorts: c.false_positives.cohorts,
            no_market: false,
            reruns: 0,
            probes: 30,
            market_budget: 40_000_000.0,
            market_schemes: crate::market::MarketScheme::defaults()
                .iter()
                .map(|s| s.name())
                .collect(),
            command: None,
            json: false,
        }
    }
}

impl SimulateArgs {
    /// The configuration these flags describe (not yet validated; surrogate not yet fitted).
    pub fn config(&self) -> SimConfig {
        let mut c = SimConfig {
            agents: self.agents,
            rounds: self.rounds,
            seeds: self.seeds,
            base_seed: self.seed,
            cohort_size: self.cohort_size,
            evaluators: self.evaluators,
            schemes: self.schemes.clone(),
            eval_noise: self.eval_noise,
            evaluator_noise: self.evaluator_noise,
            validation_batches: self.validation_batches,
            ..SimConfig::default()
        };
        c.evaluation.quorum = self.quorum;
        c.evaluation.bond_utoken = self.evaluator_bond;
        c.evaluation.compute_cost_utoken = self.evaluator_cost;
        c.rewards.harm_alpha = self.harm_alpha;
        if let Some(m) = self.mix {
            c.mix = m;
        }
        c.sampled.permutations = self.permutations;
        c.population.sybil_identities = self.sybil_identities;
        c.collusion.rounds = self.collusion_rounds;
        c.collusion.enabled = !self.no_collusion;
        c.collusion.panels = self.collusion_panels.clone();
        c.collusion.p_detect = self.p_detect.clone();
        c.lazy.rounds = self.lazy_rounds;
        c.lazy.enabled = !self.no_lazy;
        c.false_positives.cohorts = self.fpr_cohorts;
        c
    }
}

/// The market model's configuration these flags describe (surrogate not yet calibrated).
pub fn market_config(args: &SimulateArgs) -> Result<crate::market::MarketConfig> {
    use cosmwasm_std::Decimal;
    let schemes = args
        .market_schemes
        .iter()
        .map(|s| {
            crate::market::MarketScheme::parse(s.trim()).with_context(|| {
                format!("unknown market scheme {s:?} (equal, data_size, loo, shapley, shapley_nogroup, shapley_rhoNN)")
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let alpha: Decimal = format!("{}", args.harm_alpha)
        .parse()
        .with_context(|| format!("--harm-alpha {} is not a decimal", args.harm_alpha))?;
    let dof = u32::try_from(args.validation_batches.saturating_sub(1)).unwrap_or(u32::MAX);
    let t = fairshare_protocol::tdist::critical(alpha, dof)
        .with_context(|| format!("--harm-alpha {} is not a tabulated level", args.harm_alpha))?;
    let critical_t: f64 = t.to_string().parse().context("critical value")?;
    Ok(crate::market::MarketConfig {
        agents: args.agents,
        rounds: args.rounds,
        seeds: args.seeds,
        base_seed: args.seed,
        identities: args.sybil_identities,
        eval_noise: args.eval_noise,
        batches: args.validation_batches,
        critical_t,
        probes: args.probes,
        tail_rounds: (args.rounds * 3 / 20).clamp(1, 30),
        reruns: args.reruns,
        budget_utoken: args.market_budget,
        schemes,
        ..crate::market::MarketConfig::default()
    })
}

/// Reads a calibration file's samples (extra fields in each record are ignored).
pub fn read_calibration(path: &Path) -> Result<Vec<CalibrationSample>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read calibration file {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a JSON array of {{\"tokens\": number, \"utility\": number}}",
            path.display()
        )
    })
}

/// The command line that reproduces this run (`fairshare` plus the arguments given).
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "simulate") {
        format!("fairshare {}", args.join(" "))
    } else {
        "fairshare simulate".to_string()
    }
}

fn progress_bar(hidden: bool, len: u64, msg: &'static str) -> ProgressBar {
    let b = if hidden {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(len)
    };
    b.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} runs ({elapsed}, eta {eta})")
            .expect("the template is valid")
            .progress_chars("=> "),
    );
    b.set_message(msg);
    b
}

/// `fairshare simulate phase`: the phase diagrams into `<out>/phase.json`.
pub fn run_phase(args: &SimulateArgs) -> Result<Value> {
    let mut mc = market_config(args)?;
    if let Some(path) = &args.calibration {
        let samples = read_calibration(path)?;
        let typical = mc.cohort_target as f64 * mc.median_tokens * (1.0 + mc.quality_min) / 2.0;
        let d = crate::market::calibrate::decide(
            &path.display().to_string(),
            &samples,
            mc.surrogate,
            typical,
        );
        mc.surrogate = d.surrogate;
    }
    mc.validate().context("invalid market settings")?;
    let base = crate::market::phase::base(&mc);
    let b = progress_bar(
        args.json,
        crate::market::phase::phase_jobs(&base),
        "phase diagrams",
    );
    let tick = || b.inc(1);
    let p = crate::market::phase::phase(&base, &tick)?;
    b.finish_and_clear();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let path = args.out.join("phase.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&p)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    if !args.json {
        println!(
            "phase diagrams ({} cells) in {:.1} s → {}",
            p.planes.iter().map(|x| x.cells.len()).sum::<usize>(),
            p.wall_time_s,
            path.display()
        );
        for claim in crate::market::phase::CLAIMS {
            for plane in &p.planes {
                println!("{claim}: {}", crate::market::phase::region(plane, claim));
            }
        }
        println!(
            "run `fairshare simulate --out {}` (or `make simulate`) to place them in the report",
            args.out.display()
        );
    }
    Ok(json!({"phase": path, "wall_time_s": p.wall_time_s}))
}

/// Reads and fits a calibration file.
pub fn load_calibration(path: &Path) -> Result<(crate::sim::Surrogate, CalibrationInfo)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read calibration file {}", path.display()))?;
    let samples: Vec<CalibrationSample> = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a JSON array of {{\"tokens\": number, \"utility\": number}}",
            path.display()
        )
    })?;
    let s = fit_surrogate(&samples)
        .with_context(|| format!("cannot fit the surrogate to {}", path.display()))?;
    let info = CalibrationInfo {
        source: path.display().to_string(),
        samples: samples.len(),
        rmse: fit_rmse(&s, &samples),
        data: samples,
    };
    Ok((s, info))
}

/// Runs `fairshare simulate`: validates the flags, fits the calibration if given, runs every
/// scheme × seed in parallel with a progress bar on stderr, writes the report and returns its
/// headline figures.
pub fn run(args: &SimulateArgs) -> Result<Value> {
    if args.command == Some(SimCommand::Phase) {
        return run_phase(args);
    }
    let mut cfg = args.config();
    let mut mc = market_config(args)?;
    let mut decision = None;
    if let Some(path) = &args.calibration {
        let samples = read_calibration(path)?;
        let typical = mc.cohort_target as f64 * mc.median_tokens * (1.0 + mc.quality_min) / 2.0;
        let d = crate::market::calibrate::decide(
            &path.display().to_string(),
            &samples,
            mc.surrogate,
            typical,
        );
        if !args.json {
            eprintln!("calibration: {}", d.decision);
        }
        decision = Some(d);
    }
    let calibration = match &args.calibration {
        Some(path) => {
            match load_calibration(path) {
                Ok((s, info)) => {
                    cfg.surrogate = crate::sim::Surrogate {
                        poison_harm: cfg.surrogate.poison_harm,
                        ..s
                    };
                    Some(info)
                }
                // A run whose measurements carry no data-size signal must not silently
                // steer the economics: keep the documented defaults and say why.
                Err(e) if e.downcast_ref::<crate::sim::FitError>().is_some() => {
                    eprintln!("warning: calibration not used ({e:#}); simulating with the default surrogate");
                    None
                }
                Err(e) => return Err(e),
            }
        }
        None => None,
    };
    if let Some(d) = &decision {
        // The identified-calibration decision replaces the old least-squares fit in both models.
        cfg.surrogate = crate::sim::Surrogate {
            poison_harm: cfg.surrogate.poison_harm,
            ..d.surrogate
        };
        mc.surrogate = cfg.surrogate;
    }
    cfg.validate().context("invalid simulation settings")?;
    if !args.no_market {
        mc.validate().context("invalid market settings")?;
    }
    let demos = args
        .demo
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read demo record {}", path.display()))?;
            serde_json::from_str::<Value>(&text)
                .with_context(|| format!("{} is not JSON", path.display()))
        })
        .collect::<anyhow::Result<Vec<Value>>>()?;

    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(job_count(&cfg))
    };
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} runs ({elapsed}, eta {eta})")
            .expect("the template is valid")
            .progress_chars("=> "),
    );
    bar.set_message("simulating");
    let tick = || bar.inc(1);
    let mut report = simulate(&cfg, &tick)?;
    bar.finish_and_clear();
    report.calibration = calibration;

    let mut files = write_report(&report, &args.out, &demos)
        .with_context(|| format!("cannot write the report to {}", args.out.display()))?;

    let market = if args.no_market {
        None
    } else {
        let b = progress_bar(
            args.json,
            crate::market::experiment::market_jobs(&mc),
            "market model",
        );
        let tick = || b.inc(1);
        let m = crate::market::simulate_market(&mc, &tick)?;
        b.finish_and_clear();
        let phase_path = args.out.join("phase.json");
        let phase: Option<crate::market::phase::PhaseReport> = match std::fs::read(&phase_path) {
            Ok(bytes) => Some(serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "{} is not a phase-diagram file (rerun `fairshare simulate phase`)",
                    phase_path.display()
                )
            })?),
            Err(_) => None,
        };
        let command = command_line();
        let phase_command = format!(
            "fairshare simulate --out {}{} phase",
            args.out.display(),
            args.calibration
                .as_ref()
                .map_or(String::new(), |c| format!(" --calibration {}", c.display()))
        );
        let (plots, errors) = crate::market::report::augment(
            &args.out,
            &m,
            decision.as_ref(),
            phase.as_ref(),
            &command,
            &phase_command,
        )
        .with_context(|| format!("cannot add the market model to {}", args.out.display()))?;
        files.plots.extend(plots);
        files.plot_errors.extend(errors);
        Some(m)
    };
    // Real training: the federated demo's spread and counterfactual records.
    let (default_spreads, default_cfs) = crate::report::real::default_inputs(&args.out);
    let given = |paths: &[PathBuf], how: &str| -> Vec<crate::report::real::Input> {
        paths
            .iter()
            .map(|p| crate::report::real::Input::read(p, how))
            .collect()
    };
    let spreads = if args.spread.is_empty() {
        default_spreads
    } else {
        given(
            &args.spread,
            "fairshare demo --spread 1,2,3 --out <its directory>",
        )
    };
    let cfs = if args.counterfactual.is_empty() {
        default_cfs
    } else {
        given(
            &args.counterfactual,
            "fairshare demo --counterfactual --out <its directory>",
        )
    };
    crate::report::real::add_to_summary(&args.out, &spreads, &cfs).with_context(|| {
        format!(
            "cannot add the real-training section to {}",
            args.out.display()
        )
    })?;

    const HEADLINE: [&str; 9] = [
        "spearman",
        "pearson",
        "retention",
        "churn",
        "top10_compute",
        "honest_payoff",
        "free_rider_payoff",
        "budget_used",
        "mean_cohort_utility",
    ];
    let schemes: serde_json::Map<String, Value> = report
        .schemes
        .iter()
        .map(|s| {
            let m: serde_json::Map<String, Value> = HEADLINE
                .iter()
                .map(|k| {
                    (
                        k.to_string(),
                        serde_json::to_value(s.get(k)).unwrap_or(Value::Null),
                    )
                })
                .collect();
            (s.scheme.name().to_string(), Value::Object(m))
        })
        .collect();
    let verdicts = claims(&report);
    let out = json!({
        "out": args.out,
        "summary": files.summary,
        "metrics": files.metrics,
        "plots": files.plots.len(),
        "plot_errors": files.plot_errors,
        "wall_time_s": report.wall_time_s,
        "threads": report.threads,
        "runs": job_count(&cfg),
        "agents": cfg.agents,
        "rounds": cfg.rounds,
        "seeds": cfg.seeds,
        "claims": verdicts.iter().map(|c| json!({"claim": c.name, "verdict": c.primary.verdict.label()})).collect::<Vec<_>>(),
        "schemes": schemes,
        "evaluators": evaluator_headlines(&report),
        "market": market.as_ref().map(|m| json!({
            "wall_time_s": m.wall_time_s,
            "claims": crate::market::verdict::claims(m).iter().map(|c| json!({"claim": c.name, "verdict": c.verdict.text()})).collect::<Vec<_>>(),
            "incentives": m.scheme("shapley").map(|s| crate::market::verdict::incentives(s).verdict.text()),
        })),
    });

    if !args.json {
        println!(
            "simulated {} agents × {} rounds × {} seeds, {} schemes ({} runs) in {:.2} s on {} threads",
            cfg.agents,
            cfg.rounds,
            cfg.seeds,
            cfg.schemes.len(),
            job_count(&cfg),
            report.wall_time_s,
            report.threads
        );
        println!(
            "{:<16} {:>22} {:>22} {:>22} {:>22}",
            "scheme", "spearman", "honest retention", "top-10% compute", "free-rider payoff (M)"
        );
        for s in &report.schemes {
            let fr = s.get("free_rider_payoff");
            println!(
                "{:<16} {:>22} {:>22} {:>22} {:>22}",
                s.scheme.name(),
                s.get("spearman").fmt(3),
                s.get("retention").fmt(3),
                s.get("top10_compute").fmt(3),
                crate::stats::Summary {
                    mean: fr.mean / 1e6,
                    low: fr.low / 1e6,
                    high: fr.high / 1e6,
                    ..fr
                }
                .fmt(2)
            );
        }
        for c in &verdicts {
            println!("{}: {}", c.name, c.primary.verdict.label());
        }
        print_evaluators(&report);
        if let Some(m) = &market {
            println!(
                "market model: {} agents × {} rounds × {} seeds, {} schemes in {:.2} s",
                mc.agents,
                mc.rounds,
                mc.seeds,
                mc.schemes.len(),
                m.wall_time_s
            );
            for c in crate::market::verdict::claims(m) {
                println!("market {}: {}", c.name, c.verdict.text());
            }
            if let Some(s) = m.scheme("shapley") {
                println!(
                    "market incentive compatibility (shapley): {}",
                    crate::market::verdict::incentives(s).verdict.text()
                );
            }
        }
        for e in &files.plot_errors {
            eprintln!("warning: plot not drawn: {e}");
        }
        println!("report written to {}", files.summary.display());
    }
    Ok(out)
}

/// The evaluator layer's headline figures (k utoken per cohort, shares, break-evens).
fn evaluator_headlines(report: &crate::sim::SimReport) -> Value {
    let honest = report
        .scheme(Scheme::ShapleyExact)
        .map(|s| s.get("evaluator_payoff"));
    json!({
        "honest_net_per_cohort_utoken": honest,
        "lazy_net_per_cohort_utoken": report
            .lazy
            .iter()
            .map(|r| json!({"role": r.role, "net": r.net_utoken}))
            .collect::<Vec<_>>(),
        "collusion": report
            .collusion
            .iter()
            .map(|r| json!({
                "evaluators": r.evaluators,
                "colluders": r.colluders,
                "partner_gain": r.partner_gain,
                "break_even_p": r.break_even_p,
            }))
            .collect::<Vec<_>>(),
        "false_positives": report.false_positives.as_ref().map(|f| json!({
            "alpha": f.alpha,
            "new_rule": f.at_configured_alpha().map(|l| l.rate),
            "old_rule": f.old_rule,
        })),
    })
}

/// Prints the evaluator layer's headline figures.
fn print_evaluators(report: &crate::sim::SimReport) {
    let k = |s: crate::stats::Summary| {
        crate::stats::Summary {
            mean: s.mean / 1e3,
            low: s.low / 1e3,
            high: s.high / 1e3,
            ..s
        }
        .fmt(1)
    };
    if let Some(s) = report.scheme(Scheme::ShapleyExact) {
        println!(
            "honest evaluator net per cohort (k utoken): {}",
            k(s.get("evaluator_payoff"))
        );
    }
    for r in &report.lazy {
        println!(
            "{} evaluator net per cohort (k utoken): {}",
            r.role,
            k(r.net_utoken)
        );
    }
    for r in &report.collusion {
        println!(
            "{} of {} colluding: partners' gain {} (fraction), break-even p_detect {}",
            r.colluders,
            r.evaluators,
            r.partner_gain.fmt(3),
            r.break_even_p.fmt(3)
        );
    }
    if let Some(f) = &report.false_positives {
        if let Some(l) = f.at_configured_alpha() {
            println!(
                "worthless honest updates judged harmful: {} at α = {} (old rule {})",
                l.rate.fmt(4),
                l.alpha,
                f.old_rule.fmt(4)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sim: SimulateArgs,
    }

    #[test]
    fn flags_parse_into_a_config() {
        let cli = Cli::try_parse_from([
            "x",
            "--agents",
            "60",
            "--schemes",
            "equal,shapley_exact",
            "--mix",
            "free_rider=0.2",
            "--no-collusion",
            "--evaluators",
            "5",
            "--quorum",
            "3",
            "--p-detect",
            "0,0.5",
            "--harm-alpha",
            "0.05",
        ])
        .expect("parses");
        let c = cli.sim.config();
        assert_eq!(c.agents, 60);
        assert_eq!((c.evaluators, c.evaluation.quorum), (5, 3));
        assert_eq!(c.collusion.p_detect, vec![0.0, 0.5]);
        assert_eq!(c.rewards.harm_alpha, 0.05);
        c.validate().expect("a valid configuration");
        assert_eq!(c.schemes, vec![Scheme::Equal, Scheme::ShapleyExact]);
        assert_eq!(c.mix.free_rider, 0.2);
        assert!(!c.collusion.enabled);
        assert!(Cli::try_parse_from(["x", "--schemes", "shapley_magic"]).is_err());
        assert!(Cli::try_parse_from(["x", "--mix", "free_rider=lots"]).is_err());
        let defaults = Cli::try_parse_from(["x"]).expect("parses").sim.config();
        assert_eq!(defaults, SimConfig::default());
    }

    #[test]
    fn invalid_settings_are_reported_before_running() {
        let args = SimulateArgs {
            cohort_size: 0,
            ..SimulateArgs::default()
        };
        let err = run(&args).expect_err("cohort size 0 is rejected");
        assert!(format!("{err:#}").contains("--cohort-size"), "{err:#}");
    }

    #[test]
    fn calibration_file_errors_name_the_file() {
        let dir = std::env::temp_dir().join(format!("fs-econ-cal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let bad = dir.join("bad.json");
        std::fs::write(&bad, "{\"not\": \"an array\"}").expect("write");
        let err = load_calibration(&bad).expect_err("rejected");
        assert!(format!("{err:#}").contains("bad.json"));
        let good = dir.join("good.json");
        let samples: Vec<Value> = (1..=10)
            .map(|i| {
                let t = 10_000.0 * i as f64;
                json!({"tokens": t, "utility": 0.3 * (1.0 - (-t / 30_000.0f64).exp())})
            })
            .collect();
        std::fs::write(&good, serde_json::to_string(&samples).expect("json")).expect("write");
        let (s, info) = load_calibration(&good).expect("fits");
        assert!((s.a - 0.3).abs() < 1e-4 && (s.kappa_tokens / 30_000.0 - 1.0).abs() < 1e-3);
        assert_eq!(info.samples, 10);

        // End to end: a tiny run with the calibration and a demo record.
        let demo = dir.join("demo.json");
        std::fs::write(&demo, r#"{"summary_markdown": "federated: 3 parties"}"#).expect("write");
        let args = SimulateArgs {
            agents: 30,
            rounds: 8,
            seeds: 2,
            calibration: Some(good.clone()),
            demo: vec![demo],
            out: dir.join("report"),
            collusion_rounds: 4,
            collusion_panels: vec![3],
            lazy_rounds: 3,
            fpr_cohorts: 20,
            json: true,
            ..SimulateArgs::default()
        };
        let v = run(&args).expect("runs");
        assert_eq!(v["agents"], 30);
        assert_eq!(v["claims"].as_array().map(Vec::len), Some(3));
        assert_eq!(
            v["evaluators"]["collusion"].as_array().map(Vec::len),
            Some(2),
            "a minority and a majority of the panel of 3"
        );
        assert!(v["evaluators"]["false_positives"]["old_rule"]["mean"].is_number());
        assert!(v["wall_time_s"].as_f64().is_some_and(|t| t >= 0.0));
        let md = std::fs::read_to_string(dir.join("report/summary.md")).expect("summary");
        assert!(md.contains("calibrated on 10 measured coalitions"));
        assert!(md.contains("## Market model (issue #15)"));
        assert!(md.contains("### Calibration (profile likelihood)"));
        assert!(md.contains("federated: 3 parties"));
        let metrics: Value =
            serde_json::from_slice(&std::fs::read(dir.join("report/metrics.json")).expect("json"))
                .expect("parses");
        assert_eq!(metrics["calibration"]["samples"], 10);
        assert!(metrics["market"]["claims"]
            .as_array()
            .is_some_and(|c| c.len() == 3));
        assert_eq!(metrics["market"]["calibration"]["fit"]["identified"], true);
        assert!((metrics["config"]["surrogate"]["a"].as_f64().unwrap_or(0.0) - 0.3).abs() < 1e-4);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
