//! Fairshare's economics (DESIGN §4): the metrics that judge an allocation scheme, and the
//! strategic-agent simulation behind `fairshare simulate`.
//!
//! - [`metrics`]: fairness of rewards against true contribution (Pearson, Spearman), equality
//!   (Jain's index, Gini), and concentration of burden (HHI, top-k share, Lorenz curve);
//! - [`stats`]: means with Student-t confidence intervals over seeds;
//! - [`sim`]: the simulation (agents, surrogate utility, schemes, rounds, metrics per run);
//! - [`report`]: `summary.md`, `metrics.json` and plots of a simulation;
//! - [`cli`]: the `simulate` command's arguments and entry point.

#![warn(missing_docs)]

pub mod cli;
pub mod market;
pub mod metrics;
pub mod report;
pub mod sim;
pub mod stats;

pub use metrics::{gini, hhi, jain, lorenz, pearson, spearman, top_share, MetricError};
pub use report::write_report;
pub use sim::{fit_surrogate, CalibrationSample, SimConfig, SimReport, Surrogate};
