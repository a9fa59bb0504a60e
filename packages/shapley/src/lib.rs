//! Shapley values of cooperative games for Fairshare's contribution assessment.
//!
//! A game is anything implementing [`Utility`] (coalition → value, with batch evaluation);
//! [`estimate`] runs one [`Method`] on it and returns an [`Estimate`] with values, standard
//! errors, the evaluations spent and why it stopped. Built-in games with closed forms live in
//! [`games`], tables of values in [`table`], and the command-line front end in [`cli`].
//!
//! To value a game with as few utility evaluations as a target standard error needs, call
//! [`estimate_to_target_se`]: exact enumeration for small games, otherwise the default
//! [`Method::RegressionAdjusted`] estimator in rounds that stop at the target.

#![warn(missing_docs)]

pub mod baselines;
pub mod cli;
pub mod coalition;
pub mod error;
pub mod estimate;
pub mod exact;
pub mod games;
pub mod groups;
pub mod sampling;
pub mod stop;
pub mod table;
pub mod target;
pub mod utility;

#[cfg(test)]
mod testing;

pub use baselines::{data_size_shares, leave_one_out};
pub use coalition::Coalition;
pub use error::{Result, ShapleyError};
pub use estimate::Estimate;
pub use exact::{exact_shapley, EXACT_MAX_PLAYERS};
pub use sampling::{
    gtg_shapley, kernel_shap, msr_banzhaf, permutation_shapley, regression_adjusted_shapley,
    replayable_neyman_shapley, replayable_shapley, stratified_shapley, stratified_svarm,
    tmc_shapley, GtgOptions, SamplerOptions,
};
pub use stop::{StopReason, StopRule};
pub use table::TableUtility;
pub use target::{estimate_to_target_se, DEFAULT_METHOD};
pub use utility::{CachedUtility, FnUtility, Utility};

use serde::{Deserialize, Serialize};

/// Which estimator to run, with its own parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Method {
    /// Enumeration of all coalitions (n ≤ 25).
    Exact,
    /// Permutation Monte Carlo, optionally with antithetic pairs.
    Permutation {
        /// Pair each permutation with its reverse.
        antithetic: bool,
    },
    /// Truncated Monte Carlo with a tolerance relative to |U(N)|.
    Tmc {
        /// Truncate once `|U(N) − U(prefix)| ≤ tolerance · |U(N)|`.
        tolerance: f64,
    },
    /// GTG-Shapley guided sampling.
    Gtg(GtgOptions),
    /// Stratified by coalition size.
    Stratified,
    /// Stratified SVARM: stratum means per coalition size, coalitions drawn without
    /// replacement, border sizes enumerated, Neyman allocation (n ≤ 63).
    StratifiedSvarm,
    /// Regression-adjusted stratified SVARM, the default: closed-form Shapley values of a
    /// fitted single-index surrogate plus stratified SVARM on the residual (n ≤ 63).
    RegressionAdjusted,
    /// The regression-adjusted estimator a round's utility table records and the contract
    /// replays (`fairshare_protocol::sampled`): seed-determined coalitions, a linear control
    /// variate, stratified means on the residual (n ≤ 63; a budget or a target, not time).
    Replayable,
    /// A prototype of [`Method::Replayable`] on a value-adaptive (block-wise Neyman) coalition
    /// stream; the protocol does not replay it (benchmark comparisons, #16).
    ReplayableNeyman,
    /// Paired KernelSHAP with leverage-score sampling and a jackknife standard error
    /// (n ≤ 63).
    KernelShap,
    /// Banzhaf values by maximum sample reuse (a baseline, not Shapley).
    BanzhafMsr,
    /// Leave-one-out (a baseline).
    LeaveOneOut,
    /// Proportional to data sizes (a baseline).
    DataSize {
        /// One size per player.
        sizes: Vec<f64>,
    },
}

/// Runs `method` on `u`. Deterministic methods ignore `opts`.
pub fn estimate<U: Utility + ?Sized>(
    u: &U,
    method: &Method,
    opts: &SamplerOptions,
) -> Result<Estimate> {
    match method {
        Method::Exact => exact_shapley(u),
        Method::Permutation { antithetic } => permutation_shapley(u, *antithetic, opts),
        Method::Tmc { tolerance } => tmc_shapley(u, *tolerance, opts),
        Method::Gtg(g) => gtg_shapley(u, g, opts),
        Method::Stratified => stratified_shapley(u, opts),
        Method::StratifiedSvarm => stratified_svarm(u, opts),
        Method::RegressionAdjusted => regression_adjusted_shapley(u, opts),
        Method::KernelShap => kernel_shap(u, opts),
        Method::Replayable => replayable_shapley(u, opts),
        Method::ReplayableNeyman => replayable_neyman_shapley(u, opts),
        Method::BanzhafMsr => msr_banzhaf(u, opts),
        Method::LeaveOneOut => leave_one_out(u),
        Method::DataSize { sizes } => data_size_shares(u, sizes),
    }
}
