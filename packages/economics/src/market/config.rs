//! The market model's configuration, actions and schemes.

use serde::{Deserialize, Serialize};

use super::learn::LearnConfig;
use crate::sim::Surrogate;

/// What a data holder does in a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Stays out.
    Out,
    /// Joins and trains on all its data at full effort.
    Join,
    /// Joins and trains at low effort (a fraction of its data's worth, cheaper).
    JoinLow,
    /// Joins, trains nothing, claims its data size.
    FreeRide,
    /// Splits its data over `k` identities (disjoint shards, one stake each).
    Split,
    /// Copies its data to `k` identities (same content, one stake each).
    Copy,
    /// Submits poisoned updates (the fixed adversaries; not learned).
    Poison,
}

impl Action {
    /// The actions a data holder learns over, in the learner's order.
    pub const LEARNED: [Action; 6] = [
        Action::Out,
        Action::Join,
        Action::JoinLow,
        Action::FreeRide,
        Action::Split,
        Action::Copy,
    ];

    /// Snake-case name.
    pub fn name(self) -> &'static str {
        match self {
            Action::Out => "out",
            Action::Join => "join",
            Action::JoinLow => "join_low_effort",
            Action::FreeRide => "free_ride",
            Action::Split => "split",
            Action::Copy => "copy",
            Action::Poison => "poison",
        }
    }

    /// Index in [`Action::LEARNED`] (`None` for [`Action::Poison`]).
    pub fn index(self) -> Option<usize> {
        Action::LEARNED.iter().position(|&a| a == self)
    }
}

/// How the round's pool is split among a cohort's players (every scheme gets the same
/// evaluators, measurement, standard errors, significance tests and slashing).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarketScheme {
    /// One equal share per player that passes the tests.
    Equal,
    /// Shares by claimed data size.
    DataSize,
    /// Leave-one-out values, tested with their own standard errors (not clipped before the test).
    Loo,
    /// Group Shapley values: near-duplicate identities are one player.
    Shapley,
    /// Shapley without near-duplicate grouping (copies are separate players, placed apart):
    /// the ablation that shows what grouping buys.
    ShapleyNoGroup,
    /// Group Shapley with the pool split by `φ^ρ` (concave, `ρ` in hundredths).
    ShapleyRho(u8),
}

impl MarketScheme {
    /// Name used in the report and JSON.
    pub fn name(self) -> String {
        match self {
            MarketScheme::Equal => "equal".into(),
            MarketScheme::DataSize => "data_size".into(),
            MarketScheme::Loo => "loo".into(),
            MarketScheme::Shapley => "shapley".into(),
            MarketScheme::ShapleyNoGroup => "shapley_nogroup".into(),
            MarketScheme::ShapleyRho(r) => format!("shapley_rho{r:02}"),
        }
    }

    /// Whether evaluators group near-duplicate identities into one player.
    pub fn groups(self) -> bool {
        !matches!(self, MarketScheme::ShapleyNoGroup)
    }

    /// The schemes compared by default.
    pub fn defaults() -> Vec<MarketScheme> {
        vec![
            MarketScheme::Equal,
            MarketScheme::DataSize,
            MarketScheme::Loo,
            MarketScheme::Shapley,
            MarketScheme::ShapleyNoGroup,
            MarketScheme::ShapleyRho(50),
        ]
    }

    /// Parses a name as written by [`MarketScheme::name`].
    pub fn parse(s: &str) -> Option<MarketScheme> {
        Some(match s {
            "equal" => MarketScheme::Equal,
            "data_size" => MarketScheme::DataSize,
            "loo" => MarketScheme::Loo,
            "shapley" => MarketScheme::Shapley,
            "shapley_nogroup" => MarketScheme::ShapleyNoGroup,
            _ => {
                let r: u8 = s.strip_prefix("shapley_rho")?.parse().ok()?;
                if r == 0 || r > 200 {
                    return None;
                }
                MarketScheme::ShapleyRho(r)
            }
        })
    }
}

/// Evaluators: a pool that learns to report honestly or collude with partner parties.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EvaluatorConfig {
    /// Evaluators in the pool.
    pub pool: usize,
    /// Evaluators per cohort (consensus = median).
    pub panel: usize,
    /// Share of the round's budget paid to evaluators (evenly per seat that agrees).
    pub share: f64,
    /// Compute cost of evaluating one cohort, utoken.
    pub cost_utoken: f64,
    /// Bond per cohort, utoken.
    pub bond_utoken: f64,
    /// Fraction of the bond a report outside the consensus forfeits.
    pub slash_deviant: f64,
    /// Share of the parties that bribe colluding evaluators.
    pub partner_share: f64,
    /// Inflation colluders add to a partner's value, in units of the cohort's mean value.
    pub inflation: f64,
    /// Share of a partner's extra reward paid to the colluders of its cohort.
    pub bribe_share: f64,
    /// Probability that a settled cohort is re-executed on its revealed validation text
    /// (DESIGN §5): colluders behind an inflated consensus then forfeit their whole bond.
    pub audit: f64,
}

impl Default for EvaluatorConfig {
    fn default() -> Self {
        Self {
            pool: 60,
            panel: 3,
            share: 0.1,
            cost_utoken: 5_000.0,
            bond_utoken: 1_000_000.0,
            slash_deviant: 0.05,
            partner_share: 0.07,
            inflation: 1.0,
            bribe_share: 0.5,
            audit: 0.1,
        }
    }
}

/// Everything one market run depends on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarketConfig {
    /// Data holders.
    pub agents: usize,
    /// Rounds per run.
    pub rounds: usize,
    /// Independent populations per scheme.
    pub seeds: usize,
    /// Base seed.
    pub base_seed: u64,
    /// Domains of the data and of the test distribution.
    pub domains: usize,
    /// Dirichlet concentration of a party's data over the domains (small = specialised).
    pub domain_concentration: f64,
    /// Dirichlet concentration of the evaluators' validation weights around the test weights
    /// (large = close). The test weights are never shown to evaluators.
    pub validation_concentration: f64,
    /// `A`, `κ`, poisoning harm (calibrated).
    pub surrogate: Surrogate,
    /// Median tokens per party.
    pub median_tokens: f64,
    /// σ of log tokens (data spread).
    pub data_spread: f64,
    /// Lowest data quality (uniform up to 1).
    pub quality_min: f64,
    /// Median compute cost per token, utoken (log-normal, σ 0.4).
    pub cost_per_token_utoken: f64,
    /// Multiplier on every compute cost (phase-diagram axis).
    pub cost_scale: f64,
    /// Stake per identity per round, utoken.
    pub stake_utoken: f64,
    /// Opportunity cost of stake per round (fraction).
    pub stake_rate: f64,
    /// Fixed cost per identity per round (transactions), utoken.
    pub identity_cost_utoken: f64,
    /// Budget of one round for the whole market, utoken (crowding: joiners share it).
    pub budget_utoken: f64,
    /// Share of parties that are fixed adversaries (poison every round).
    pub adversary_share: f64,
    /// Effort (fraction of data's worth and compute) of the low-effort action.
    pub low_effort: f64,
    /// Identities of the split and copy actions.
    pub identities: usize,
    /// Target identities per cohort (cohort slots = ⌈agents / target⌉).
    pub cohort_target: usize,
    /// Largest cohort; later identities wait a round.
    pub max_cohort: usize,
    /// Validation noise of a coalition utility, sd as a fraction of `A`.
    pub eval_noise: f64,
    /// Validation batches (standard errors with `batches − 1` dof).
    pub batches: usize,
    /// τ of the free-rider threshold.
    pub free_rider_tau: f64,
    /// Stake fraction a free-rider forfeits.
    pub slash_free_rider: f64,
    /// Stake fraction a harmful update forfeits.
    pub slash_harmful: f64,
    /// One-sided critical value of the tests (t at α = 1% with `batches − 1` dof).
    pub critical_t: f64,
    /// The learning rule.
    pub learning: LearnConfig,
    /// Evaluators.
    pub evaluators: EvaluatorConfig,
    /// Schemes compared.
    pub schemes: Vec<MarketScheme>,
    /// Parties probed for unilateral deviations per seed.
    pub probes: usize,
    /// Final rounds in which probes are taken (and strategy shares averaged).
    pub tail_rounds: usize,
    /// Parties per seed whose whole run is re-simulated without them (0 = none).
    pub reruns: usize,
}

impl Default for MarketConfig {
    fn default() -> Self {
        Self {
            agents: 1000,
            rounds: 200,
            seeds: 10,
            base_seed: 42,
            domains: 4,
            domain_concentration: 0.5,
            validation_concentration: 20.0,
            surrogate: Surrogate::default(),
            median_tokens: 50_000.0,
            data_spread: 1.0,
            quality_min: 0.3,
            cost_per_token_utoken: 0.8,
            cost_scale: 1.0,
            stake_utoken: 100_000.0,
            stake_rate: 0.02,
            identity_cost_utoken: 1_000.0,
            budget_utoken: 40_000_000.0,
            adversary_share: 0.05,
            low_effort: 0.3,
            identities: 3,
            cohort_target: 4,
            max_cohort: 10,
            eval_noise: 0.01,
            batches: 8,
            free_rider_tau: 0.1,
            slash_free_rider: 0.5,
            slash_harmful: 1.0,
            // t(0.99, 7 dof).
            critical_t: 2.998,
            learning: LearnConfig::default(),
            evaluators: EvaluatorConfig::default(),
            schemes: MarketScheme::defaults(),
            probes: 30,
            tail_rounds: 30,
            reruns: 0,
        }
    }
}

/// A setting the market cannot run with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MarketError {
    /// A value is out of range (the message names the flag).
    #[error("invalid market setting: {0}")]
    Invalid(String),
}

impl MarketConfig {
    /// Checks every value once, before running.
    pub fn validate(&self) -> Result<(), MarketError> {
        let bad = |m: &str| Err(MarketError::Invalid(m.to_string()));
        if self.agents < 10 {
            return bad("--agents must be at least 10");
        }
        if self.rounds < 2 || self.seeds < 2 {
            return bad("--rounds and --seeds must be at least 2 (intervals need two seeds)");
        }
        if self.domains == 0 || self.domains > 16 {
            return bad("domains must be 1 to 16");
        }
        if !(2..=4).contains(&self.identities) {
            return bad("--sybil-identities must be 2 to 4 for the market model");
        }
        if self.max_cohort < 2 || self.max_cohort > 14 || self.cohort_target > self.max_cohort {
            return bad("cohorts: 2 ≤ target ≤ max ≤ 14");
        }
        if !(0.0..0.5).contains(&self.adversary_share)
            || !(0.0..0.5).contains(&self.evaluators.partner_share)
        {
            return bad("adversary and partner shares must be in [0, 0.5)");
        }
        if self.evaluators.panel < 3 || self.evaluators.panel.is_multiple_of(2) {
            return bad("the evaluator panel must be odd and at least 3");
        }
        if self.evaluators.pool < self.evaluators.panel {
            return bad("the evaluator pool must be at least the panel");
        }
        let positive = [
            self.budget_utoken,
            self.median_tokens,
            self.cost_scale,
            self.surrogate.a,
            self.surrogate.kappa_tokens,
            self.domain_concentration,
            self.validation_concentration,
        ];
        if positive.iter().any(|x| !(x.is_finite() && *x > 0.0)) {
            return bad("budget, tokens, costs, A, κ and concentrations must be positive");
        }
        if self.batches < 2 || self.tail_rounds == 0 || self.tail_rounds > self.rounds {
            return bad("batches ≥ 2 and 1 ≤ tail rounds ≤ rounds");
        }
        if self.schemes.is_empty() {
            return bad("no scheme to run");
        }
        Ok(())
    }

    /// Cohort slots per round.
    pub fn slots(&self) -> usize {
        self.agents.div_ceil(self.cohort_target)
    }
}
