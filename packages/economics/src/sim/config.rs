//! The simulation's one typed configuration, its defaults and its validation.

use std::str::FromStr;

use cosmwasm_std::{Decimal, Uint128};
use fairshare_protocol::evaluation::{quorum_allowed, EvaluatorParams, EvaluatorParamsError};
use fairshare_protocol::rewards::{RewardParams, RewardParamsError};
use serde::{Deserialize, Serialize};

use super::agent::Strategy;
use super::schemes::Scheme;
use super::surrogate::Surrogate;

/// Largest cohort: the exact Shapley tables grow as `2^cohort_size`.
pub const MAX_COHORT_SIZE: usize = 20;

/// Largest evaluator panel.
pub const MAX_EVALUATORS: usize = 25;

/// Share of the population following each strategy. Honest is the remainder.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Mix {
    /// Join and bond but send a zero or stale update.
    pub free_rider: f64,
    /// Train on a small fraction of their data.
    pub low_effort: f64,
    /// Train on shuffled or corrupted data: negative contribution.
    pub poisoner: f64,
    /// Honest when they commit, but often join and never commit.
    pub dropout: f64,
    /// Honest data split over several identities, each bonding the minimum stake.
    pub sybil: f64,
}

impl Default for Mix {
    fn default() -> Self {
        Self {
            free_rider: 0.08,
            low_effort: 0.07,
            poisoner: 0.05,
            dropout: 0.05,
            sybil: 0.05,
        }
    }
}

impl Mix {
    /// The share of `s` (honest: one minus the others).
    pub fn share(&self, s: Strategy) -> f64 {
        match s {
            Strategy::Honest => 1.0 - self.non_honest(),
            Strategy::FreeRider => self.free_rider,
            Strategy::LowEffort => self.low_effort,
            Strategy::Poisoner => self.poisoner,
            Strategy::Dropout => self.dropout,
            Strategy::Sybil => self.sybil,
        }
    }

    fn non_honest(&self) -> f64 {
        self.free_rider + self.low_effort + self.poisoner + self.dropout + self.sybil
    }

    fn set(&mut self, s: Strategy, v: f64) {
        match s {
            Strategy::Honest => {}
            Strategy::FreeRider => self.free_rider = v,
            Strategy::LowEffort => self.low_effort = v,
            Strategy::Poisoner => self.poisoner = v,
            Strategy::Dropout => self.dropout = v,
            Strategy::Sybil => self.sybil = v,
        }
    }
}

impl FromStr for Mix {
    type Err = ConfigError;

    /// `free_rider=0.1,poisoner=0.02,...`: strategies not named keep their defaults; `honest`
    /// may be given only as a check that it equals the remainder.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut mix = Mix::default();
        let mut honest = None;
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| ConfigError::MixSyntax(part.to_string()))?;
            let strategy: Strategy = name.trim().parse()?;
            let v: f64 = value
                .trim()
                .parse()
                .map_err(|_| ConfigError::MixSyntax(part.to_string()))?;
            if strategy == Strategy::Honest {
                honest = Some(v);
            } else {
                mix.set(strategy, v);
            }
        }
        if let Some(h) = honest {
            let rest = mix.share(Strategy::Honest);
            if (h - rest).abs() > 1e-6 {
                return Err(ConfigError::HonestMismatch { given: h, rest });
            }
        }
        Ok(mix)
    }
}

/// How parties differ: data, quality, costs, and the parameters of each strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PopulationConfig {
    /// Median training tokens of a party (log-normal).
    pub median_tokens: f64,
    /// Standard deviation of `ln(tokens)`.
    pub tokens_sigma: f64,
    /// Data quality is uniform on `[quality_min, 1]`.
    pub quality_min: f64,
    /// Median compute cost, utoken per trained token (log-normal).
    pub median_cost_per_token_utoken: f64,
    /// Standard deviation of `ln(cost per token)`.
    pub cost_sigma: f64,
    /// Opportunity cost of a bonded stake per round, as a fraction of it; uniform on this range.
    pub opportunity_rate_range: (f64, f64),
    /// Low-effort parties train on a fraction of their data, uniform on this range.
    pub low_effort_range: (f64, f64),
    /// Probability that a dropout, having joined, never commits.
    pub dropout_no_show: f64,
    /// Identities a Sybil party splits its data over.
    pub sybil_identities: usize,
}

impl Default for PopulationConfig {
    fn default() -> Self {
        Self {
            median_tokens: 50_000.0,
            tokens_sigma: 1.0,
            quality_min: 0.3,
            median_cost_per_token_utoken: 0.8,
            cost_sigma: 0.4,
            opportunity_rate_range: (0.01, 0.05),
            low_effort_range: (0.1, 0.3),
            dropout_no_show: 0.5,
            sybil_identities: 3,
        }
    }
}

/// How a party learns whether joining pays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LearningConfig {
    /// Weight of the latest round in the running estimates of reward and slash.
    pub rate: f64,
    /// Probability of joining anyway when the estimate says no.
    pub exploration: f64,
    /// The initial reward estimate is `optimism · max(budget / cohort_size, own cost)`.
    pub optimism: f64,
}

impl Default for LearningConfig {
    fn default() -> Self {
        Self {
            rate: 0.2,
            exploration: 0.05,
            optimism: 1.5,
        }
    }
}

/// The reward rule's DAO parameters as the simulation sets them (see
/// [`fairshare_protocol::rewards::RewardParams`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RewardConfig {
    /// Budget of each cohort's round, utoken (the deployed default).
    pub budget_utoken: u128,
    /// `ΔU_target = target_gain_fraction · A` (0.625 · 0.8 = 0.5, the deployed default).
    pub target_gain_fraction: f64,
    /// τ of the free-rider threshold `τ·ΔU/n`.
    pub free_rider_tau: f64,
    /// Stake fraction a free-rider forfeits.
    pub slash_free_rider: f64,
    /// Stake fraction a harmful participant forfeits.
    pub slash_harmful: f64,
    /// Stake fraction a no-show forfeits.
    pub slash_no_show: f64,
    /// Stake every identity bonds, utoken.
    pub min_stake_utoken: u128,
    /// α, the level of the one-sided t-tests behind the harmful and free-rider verdicts (one of
    /// the protocol's tabulated levels 0.001, 0.005, 0.01, 0.025, 0.05, 0.1).
    pub harm_alpha: f64,
}

impl Default for RewardConfig {
    fn default() -> Self {
        Self {
            budget_utoken: 1_000_000,
            target_gain_fraction: 0.625,
            free_rider_tau: 0.1,
            slash_free_rider: 0.5,
            slash_harmful: 1.0,
            slash_no_show: 0.25,
            min_stake_utoken: 100_000,
            harm_alpha: 0.01,
        }
    }
}

/// Parameters of the sampled-Shapley scheme.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampledConfig {
    /// Permutations per evaluator and cohort (the evaluation budget is `2 + p·(k−1)`).
    pub permutations: u64,
    /// TMC truncation tolerance relative to `|U(N)|`.
    pub tolerance: f64,
}

impl Default for SampledConfig {
    fn default() -> Self {
        Self {
            permutations: 16,
            tolerance: 0.02,
        }
    }
}

/// The evaluator layer's DAO parameters and the evaluators' own costs (see
/// [`fairshare_protocol::evaluation`]). Every evaluator of a cohort bonds `bond_utoken` for
/// that cohort's round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluatorConfig {
    /// Revealed reports a round needs to settle (odd, at least 3, at most the panel).
    pub quorum: usize,
    /// Bond each evaluator posts for each round it serves, utoken.
    pub bond_utoken: u128,
    /// Compute an evaluator spends evaluating one cohort (one round), utoken: an assumption,
    /// stated in the report next to the pay it is weighed against.
    pub compute_cost_utoken: f64,
    /// Opportunity cost of the bond per round, as a fraction of it.
    pub bond_opportunity_rate: f64,
    /// Fraction of each round's budget paid to its evaluators.
    pub share: f64,
    /// Beyond this fraction of the round's Σ|φ*| an evaluator is an outlier (unpaid).
    pub outlier_fraction: f64,
    /// Beyond this fraction it is deviant and slashed `slash_outlier` of its bond.
    pub slash_outlier_above: f64,
    /// Bond fraction a deviant evaluator forfeits.
    pub slash_outlier: f64,
    /// Bond fraction an evaluator forfeits when it bonded and did not reveal.
    pub slash_no_show: f64,
    /// Bond fraction forfeited when a dispute or the DAO (on re-execution evidence) shows a
    /// report does not follow from, or was not measured on, the round's data.
    pub slash_disputed: f64,
    /// Deposit a challenger bonds with a dispute, utoken.
    pub dispute_deposit_utoken: u128,
    /// Fraction of an upheld dispute's slash paid to the challenger.
    pub challenger_share: f64,
}

impl Default for EvaluatorConfig {
    fn default() -> Self {
        Self {
            quorum: 3,
            bond_utoken: 1_000_000,
            compute_cost_utoken: 10_000.0,
            bond_opportunity_rate: 0.01,
            share: 0.1,
            outlier_fraction: 0.1,
            slash_outlier_above: 0.5,
            slash_outlier: 0.5,
            slash_no_show: 0.25,
            slash_disputed: 1.0,
            dispute_deposit_utoken: 50_000,
            challenger_share: 0.5,
        }
    }
}

/// The collusion experiment (under `shapley_exact`): for each panel size, a colluding
/// minority and a colluding majority of evaluators inflate a partner group's scores with a
/// fabricated but self-consistent utility table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollusionConfig {
    /// Run it at all.
    pub enabled: bool,
    /// Colluding evaluators report `φ + (factor − 1)·|φ|` for their partners.
    pub factor: f64,
    /// Share of honest parties that are the colluders' partners.
    pub partner_fraction: f64,
    /// Rounds of each collusion run (shorter than the main runs to keep it cheap).
    pub rounds: usize,
    /// Panel sizes (evaluators per cohort) tried.
    pub panels: Vec<usize>,
    /// Probabilities that re-execution catches a fabricated table in a round, swept for the
    /// colluders' expected profit.
    pub p_detect: Vec<f64>,
}

impl Default for CollusionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            factor: 2.0,
            partner_fraction: 0.1,
            rounds: 40,
            panels: vec![3, 5, 7],
            p_detect: vec![0.0, 0.1, 0.25, 0.5, 1.0],
        }
    }
}

/// The lazy-evaluator experiment (under `shapley_exact`, on the main panel): one evaluator
/// of the panel reports zeros, copies the last consensus, or does not show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LazyConfig {
    /// Run it at all.
    pub enabled: bool,
    /// Rounds of each run.
    pub rounds: usize,
}

impl Default for LazyConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            rounds: 30,
        }
    }
}

/// The false-positive experiment: cohorts of honest parties plus one honest member whose
/// update is worth exactly nothing, scored by the main panel under `shapley_exact`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FalsePositiveConfig {
    /// Cohorts per seed (0: skip the experiment).
    pub cohorts: usize,
}

impl Default for FalsePositiveConfig {
    fn default() -> Self {
        Self { cohorts: 4000 }
    }
}

/// Everything one `fairshare simulate` run needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimConfig {
    /// Parties in the population.
    pub agents: usize,
    /// Rounds (each round, every joiner is placed in one cohort).
    pub rounds: usize,
    /// Independent populations per scheme.
    pub seeds: usize,
    /// Base seed; seed `s` of the runs derives from it.
    pub base_seed: u64,
    /// Largest number of identities in one cohort (one on-chain round).
    pub cohort_size: usize,
    /// Evaluators reporting on each cohort.
    pub evaluators: usize,
    /// Allocation schemes compared.
    pub schemes: Vec<Scheme>,
    /// Strategy shares.
    pub mix: Mix,
    /// Party heterogeneity.
    pub population: PopulationConfig,
    /// Join decisions.
    pub learning: LearningConfig,
    /// The utility surrogate (defaults or fitted from `--calibration`).
    pub surrogate: Surrogate,
    /// Validation noise: sd of a measured coalition utility as a fraction of `A`, from the
    /// sampling of the round's validation text. Every evaluator of a cohort measures on the
    /// same text, so they share it.
    pub eval_noise: f64,
    /// Each evaluator's own measurement error (kernels, hardware), sd as a fraction of `A`,
    /// independent between evaluators: what honest evaluators disagree by.
    pub evaluator_noise: f64,
    /// Validation batches a utility is averaged over: reported standard errors are
    /// estimated from them, with `validation_batches − 1` degrees of freedom.
    pub validation_batches: usize,
    /// The reward rule's parameters.
    pub rewards: RewardConfig,
    /// The evaluator layer's parameters and costs.
    pub evaluation: EvaluatorConfig,
    /// Sampled-Shapley parameters.
    pub sampled: SampledConfig,
    /// The collusion experiment.
    pub collusion: CollusionConfig,
    /// The lazy-evaluator experiment.
    pub lazy: LazyConfig,
    /// The false-positive experiment.
    pub false_positives: FalsePositiveConfig,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            agents: 1000,
            rounds: 200,
            seeds: 10,
            base_seed: 42,
            cohort_size: 8,
            evaluators: 3,
            schemes: Scheme::ALL.to_vec(),
            mix: Mix::default(),
            population: PopulationConfig::default(),
            learning: LearningConfig::default(),
            surrogate: Surrogate::default(),
            eval_noise: 0.01,
            evaluator_noise: 0.001,
            validation_batches: 8,
            rewards: RewardConfig::default(),
            evaluation: EvaluatorConfig::default(),
            sampled: SampledConfig::default(),
            collusion: CollusionConfig::default(),
            lazy: LazyConfig::default(),
            false_positives: FalsePositiveConfig::default(),
        }
    }
}

/// Why a configuration cannot be simulated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// No agents.
    #[error("--agents must be at least 1")]
    NoAgents,
    /// No rounds.
    #[error("--rounds must be at least 1")]
    NoRounds,
    /// No seeds.
    #[error("--seeds must be at least 1 (10 or more for meaningful confidence intervals)")]
    NoSeeds,
    /// Cohort size outside 1..=20.
    #[error("--cohort-size must be between 1 and {MAX_COHORT_SIZE} (exact Shapley enumerates 2^size coalitions), got {0}")]
    CohortSize(usize),
    /// Evaluators outside 3..=25.
    #[error("--evaluators must be between 3 and 25 (an odd quorum of at least 3 must be reachable), got {0}")]
    Evaluators(usize),
    /// A quorum the contracts refuse, or larger than the panel.
    #[error(
        "--quorum must be odd, at least 3 and at most the {evaluators} evaluators, got {quorum}"
    )]
    Quorum {
        /// The quorum given.
        quorum: usize,
        /// The panel size.
        evaluators: usize,
    },
    /// No scheme.
    #[error("--schemes names no scheme")]
    NoSchemes,
    /// A scheme listed twice.
    #[error("scheme {0} is listed twice")]
    DuplicateScheme(Scheme),
    /// An unknown scheme name.
    #[error("unknown scheme {0:?}; expected one of equal, data_size, loo, shapley_exact, shapley_sampled")]
    UnknownScheme(String),
    /// An unknown strategy name in `--mix`.
    #[error("unknown strategy {0:?}; expected one of honest, free_rider, low_effort, poisoner, dropout, sybil")]
    UnknownStrategy(String),
    /// A `--mix` entry that is not `name=fraction`.
    #[error("cannot read mix entry {0:?}; write it as name=fraction, e.g. free_rider=0.08")]
    MixSyntax(String),
    /// A strategy share outside `[0, 1]`.
    #[error("share of {name} must be between 0 and 1, got {value}")]
    MixFraction {
        /// The strategy.
        name: &'static str,
        /// The share given.
        value: f64,
    },
    /// Non-honest shares above 1.
    #[error("strategy shares sum to {0} > 1 (honest parties are the remainder)")]
    MixSum(f64),
    /// `honest=` given and not equal to the remainder.
    #[error("honest={given} does not match the remainder {rest} of the other shares")]
    HonestMismatch {
        /// The value given.
        given: f64,
        /// One minus the other shares.
        rest: f64,
    },
    /// A numeric parameter out of range.
    #[error("{name} = {value} is out of range: expected {expected}")]
    OutOfRange {
        /// The parameter.
        name: &'static str,
        /// Its value, printed.
        value: String,
        /// What would be accepted.
        expected: &'static str,
    },
    /// The reward parameters fail the protocol's own check.
    #[error("reward parameters: {0}")]
    Rewards(#[from] RewardParamsError),
    /// The evaluator parameters fail the protocol's own check.
    #[error("evaluator parameters: {0}")]
    Evaluation(#[from] EvaluatorParamsError),
}

fn check(
    ok: bool,
    name: &'static str,
    value: impl ToString,
    expected: &'static str,
) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange {
            name,
            value: value.to_string(),
            expected,
        })
    }
}

fn positive(name: &'static str, v: f64) -> Result<(), ConfigError> {
    check(
        v.is_finite() && v > 0.0,
        name,
        v,
        "a positive finite number",
    )
}

fn non_negative(name: &'static str, v: f64) -> Result<(), ConfigError> {
    check(v.is_finite() && v >= 0.0, name, v, "a non-negative number")
}

fn unit(name: &'static str, v: f64) -> Result<(), ConfigError> {
    check((0.0..=1.0).contains(&v), name, v, "a number in [0, 1]")
}

fn decimal(v: f64) -> Decimal {
    // Parameters are validated finite and in [0, 1] or small positives, so atomics fit.
    Decimal::from_atomics((v * 1e18).round().max(0.0) as u128, 18).unwrap_or(Decimal::MAX)
}

impl SimConfig {
    /// Checks every parameter once, where the configuration enters the system.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.agents == 0 {
            return Err(ConfigError::NoAgents);
        }
        if self.rounds == 0 {
            return Err(ConfigError::NoRounds);
        }
        if self.seeds == 0 {
            return Err(ConfigError::NoSeeds);
        }
        if self.cohort_size == 0 || self.cohort_size > MAX_COHORT_SIZE {
            return Err(ConfigError::CohortSize(self.cohort_size));
        }
        if !(3..=MAX_EVALUATORS).contains(&self.evaluators) {
            return Err(ConfigError::Evaluators(self.evaluators));
        }
        let quorum = self.evaluation.quorum;
        if quorum > self.evaluators || !quorum_allowed(quorum as u32) {
            return Err(ConfigError::Quorum {
                quorum,
                evaluators: self.evaluators,
            });
        }
        if self.schemes.is_empty() {
            return Err(ConfigError::NoSchemes);
        }
        for (i, s) in self.schemes.iter().enumerate() {
            if self.schemes[..i].contains(s) {
                return Err(ConfigError::DuplicateScheme(*s));
            }
        }
        for s in Strategy::ALL.into_iter().filter(|s| *s != Strategy::Honest) {
            let v = self.mix.share(s);
            if !(0.0..=1.0).contains(&v) {
                return Err(ConfigError::MixFraction {
                    name: s.name(),
                    value: v,
                });
            }
        }
        let rest = self.mix.non_honest();
        if rest > 1.0 + 1e-9 {
            return Err(ConfigError::MixSum(rest));
        }
        let p = &self.population;
        positive("median_tokens", p.median_tokens)?;
        non_negative("tokens_sigma", p.tokens_sigma)?;
        check(
            p.quality_min > 0.0 && p.quality_min <= 1.0,
            "quality_min",
            p.quality_min,
            "a number in (0, 1]",
        )?;
        non_negative(
            "median_cost_per_token_utoken",
            p.median_cost_per_token_utoken,
        )?;
        non_negative("cost_sigma", p.cost_sigma)?;
        let (lo, hi) = p.opportunity_rate_range;
        check(
            (0.0..=1.0).contains(&lo) && (lo..=1.0).contains(&hi),
            "opportunity_rate_range",
            format!("({lo}, {hi})"),
            "0 ≤ low ≤ high ≤ 1",
        )?;
        let (lo, hi) = p.low_effort_range;
        check(
            lo > 0.0 && lo <= hi && hi <= 1.0,
            "low_effort_range",
            format!("({lo}, {hi})"),
            "0 < low ≤ high ≤ 1",
        )?;
        unit("dropout_no_show", p.dropout_no_show)?;
        check(
            (2..=MAX_COHORT_SIZE).contains(&p.sybil_identities),
            "sybil_identities",
            p.sybil_identities,
            "2 to 20 identities",
        )?;
        let l = &self.learning;
        check(
            l.rate > 0.0 && l.rate <= 1.0,
            "learning rate",
            l.rate,
            "a number in (0, 1]",
        )?;
        unit("exploration", l.exploration)?;
        non_negative("optimism", l.optimism)?;
        positive("surrogate A", self.surrogate.a)?;
        positive("surrogate kappa_tokens", self.surrogate.kappa_tokens)?;
        non_negative("poison_harm", self.surrogate.poison_harm)?;
        non_negative("eval_noise", self.eval_noise)?;
        non_negative("evaluator_noise", self.evaluator_noise)?;
        check(
            (2..=1000).contains(&self.validation_batches),
            "validation_batches",
            self.validation_batches,
            "2 to 1000 batches (one batch has no estimate of its spread)",
        )?;
        let r = &self.rewards;
        check(
            r.budget_utoken > 0,
            "budget_utoken",
            r.budget_utoken,
            "at least 1",
        )?;
        check(
            r.min_stake_utoken > 0,
            "min_stake_utoken",
            r.min_stake_utoken,
            "at least 1",
        )?;
        positive("target_gain_fraction", r.target_gain_fraction)?;
        check(
            r.free_rider_tau.is_finite() && (0.0..=1e6).contains(&r.free_rider_tau),
            "free_rider_tau",
            r.free_rider_tau,
            "a non-negative number",
        )?;
        unit("slash_free_rider", r.slash_free_rider)?;
        unit("slash_harmful", r.slash_harmful)?;
        unit("slash_no_show", r.slash_no_show)?;
        self.reward_params().validate()?;
        let e = &self.evaluation;
        check(
            e.bond_utoken > 0,
            "evaluator bond_utoken",
            e.bond_utoken,
            "at least 1",
        )?;
        non_negative("evaluator compute_cost_utoken", e.compute_cost_utoken)?;
        unit("bond_opportunity_rate", e.bond_opportunity_rate)?;
        for (name, v) in [
            ("evaluator share", e.share),
            ("outlier_fraction", e.outlier_fraction),
            ("slash_outlier_above", e.slash_outlier_above),
            ("slash_outlier", e.slash_outlier),
            ("evaluator slash_no_show", e.slash_no_show),
            ("slash_disputed", e.slash_disputed),
            ("challenger_share", e.challenger_share),
        ] {
            unit(name, v)?;
        }
        self.evaluator_params().validate()?;
        check(
            self.sampled.permutations >= 2,
            "permutations",
            self.sampled.permutations,
            "at least 2",
        )?;
        non_negative("tolerance", self.sampled.tolerance)?;
        let c = &self.collusion;
        check(
            c.factor.is_finite() && c.factor >= 1.0,
            "collusion factor",
            c.factor,
            "at least 1",
        )?;
        unit("partner_fraction", c.partner_fraction)?;
        check(
            !c.enabled || c.rounds > 0,
            "collusion rounds",
            c.rounds,
            "at least 1",
        )?;
        for &m in &c.panels {
            check(
                (quorum..=MAX_EVALUATORS).contains(&m),
                "collusion panel",
                m,
                "at least the quorum and at most 25 evaluators",
            )?;
        }
        check(
            !c.enabled || !c.panels.is_empty(),
            "collusion panels",
            "none",
            "at least one panel size",
        )?;
        for &p in &c.p_detect {
            unit("p_detect", p)?;
        }
        check(
            !self.lazy.enabled || self.lazy.rounds > 0,
            "lazy rounds",
            self.lazy.rounds,
            "at least 1",
        )?;
        Ok(())
    }

    /// The on-chain reward parameters of every cohort's round.
    pub fn reward_params(&self) -> RewardParams {
        let r = &self.rewards;
        RewardParams {
            budget: Uint128::new(r.budget_utoken),
            delta_u_target: decimal(r.target_gain_fraction * self.surrogate.a),
            free_rider_tau: decimal(r.free_rider_tau),
            slash_free_rider: decimal(r.slash_free_rider),
            slash_harmful: decimal(r.slash_harmful),
            slash_no_show: decimal(r.slash_no_show),
            harm_alpha: decimal(r.harm_alpha),
        }
    }

    /// The on-chain evaluator parameters of every cohort's round (the simulation has no
    /// blocks, so no appeal window).
    pub fn evaluator_params(&self) -> EvaluatorParams {
        let e = &self.evaluation;
        EvaluatorParams {
            min_bond: Uint128::new(e.bond_utoken),
            share: decimal(e.share),
            outlier_fraction: decimal(e.outlier_fraction),
            slash_outlier_above: decimal(e.slash_outlier_above),
            slash_outlier: decimal(e.slash_outlier),
            slash_no_show: decimal(e.slash_no_show),
            slash_disputed: decimal(e.slash_disputed),
            dispute_deposit: Uint128::new(e.dispute_deposit_utoken),
            challenger_share: decimal(e.challenger_share),
            appeal_blocks: 0,
        }
    }

    /// Degrees of freedom of every reported standard error.
    pub fn dof(&self) -> u32 {
        u32::try_from(self.validation_batches.saturating_sub(1)).unwrap_or(u32::MAX)
    }

    /// Standard deviation of one measured coalition utility.
    pub fn noise_sd(&self) -> f64 {
        self.eval_noise * self.surrogate.a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid_and_matches_the_deployed_rule() {
        let c = SimConfig::default();
        c.validate().expect("defaults are valid");
        let p = c.reward_params();
        assert_eq!(p.delta_u_target, Decimal::percent(50));
        assert_eq!(p.free_rider_tau, Decimal::percent(10));
        assert_eq!(p.slash_no_show, Decimal::percent(25));
        assert_eq!(p.harm_alpha, Decimal::percent(1), "α is a tabulated level");
        let e = c.evaluator_params();
        assert_eq!(e.share, Decimal::percent(10));
        assert_eq!(e.slash_outlier_above, Decimal::percent(50));
        assert_eq!(c.dof(), 7, "8 validation batches");
        assert!((c.mix.share(Strategy::Honest) - 0.70).abs() < 1e-12);
    }

    #[test]
    fn validation_names_the_problem() {
        let with = |f: &dyn Fn(&mut SimConfig)| {
            let mut c = SimConfig::default();
            f(&mut c);
            c.validate()
        };
        assert_eq!(with(&|c| c.agents = 0), Err(ConfigError::NoAgents));
        assert_eq!(
            with(&|c| c.cohort_size = 0),
            Err(ConfigError::CohortSize(0))
        );
        assert_eq!(
            with(&|c| c.cohort_size = 21),
            Err(ConfigError::CohortSize(21))
        );
        assert!(matches!(
            with(&|c| c.mix.free_rider = 0.9),
            Err(ConfigError::MixSum(_))
        ));
        assert!(matches!(
            with(&|c| c.mix.poisoner = -0.1),
            Err(ConfigError::MixFraction {
                name: "poisoner",
                ..
            })
        ));
        assert_eq!(
            with(&|c| c.schemes = vec![Scheme::Equal, Scheme::Equal]),
            Err(ConfigError::DuplicateScheme(Scheme::Equal))
        );
        assert!(matches!(
            with(&|c| c.rewards.slash_harmful = 1.5),
            Err(ConfigError::OutOfRange {
                name: "slash_harmful",
                ..
            })
        ));
        assert_eq!(with(&|c| c.evaluators = 2), Err(ConfigError::Evaluators(2)));
        for quorum in [2, 4, 5] {
            assert_eq!(
                with(&|c| c.evaluation.quorum = quorum),
                Err(ConfigError::Quorum {
                    quorum,
                    evaluators: 3
                })
            );
        }
        assert!(with(&|c| {
            c.evaluators = 5;
            c.evaluation.quorum = 5;
            c.collusion.panels = vec![5, 7];
        })
        .is_ok());
        assert!(matches!(
            with(&|c| c.rewards.harm_alpha = 0.03),
            Err(ConfigError::Rewards(RewardParamsError::Alpha(_)))
        ));
        assert!(matches!(
            with(&|c| c.evaluation.slash_outlier_above = 0.05),
            Err(ConfigError::Evaluation(
                EvaluatorParamsError::SlashBelowOutlier { .. }
            ))
        ));
        assert!(matches!(
            with(&|c| c.collusion.p_detect = vec![0.5, 1.5]),
            Err(ConfigError::OutOfRange {
                name: "p_detect",
                ..
            })
        ));
        assert!(matches!(
            with(&|c| {
                c.evaluators = 5;
                c.evaluation.quorum = 5;
                c.collusion.panels = vec![3, 5];
            }),
            Err(ConfigError::OutOfRange {
                name: "collusion panel",
                ..
            })
        ));
        assert!(matches!(
            with(&|c| c.validation_batches = 1),
            Err(ConfigError::OutOfRange {
                name: "validation_batches",
                ..
            })
        ));
        assert!(matches!(
            with(&|c| c.sampled.permutations = 1),
            Err(ConfigError::OutOfRange {
                name: "permutations",
                ..
            })
        ));
    }

    #[test]
    fn mix_parses_and_checks_honest() {
        let m: Mix = "free_rider=0.2, sybil=0".parse().expect("parses");
        assert_eq!(m.free_rider, 0.2);
        assert_eq!(m.sybil, 0.0);
        assert_eq!(m.poisoner, Mix::default().poisoner);
        assert!((m.share(Strategy::Honest) - 0.63).abs() < 1e-12);
        assert!("honest=0.7".parse::<Mix>().is_ok());
        assert!(matches!(
            "honest=0.5".parse::<Mix>(),
            Err(ConfigError::HonestMismatch { .. })
        ));
        assert!(matches!(
            "whale=0.1".parse::<Mix>(),
            Err(ConfigError::UnknownStrategy(_))
        ));
        assert!(matches!(
            "poisoner".parse::<Mix>(),
            Err(ConfigError::MixSyntax(_))
        ));
    }
}
