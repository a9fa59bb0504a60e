//! The market model of issue #15: data holders with structured data (domains, content
//! identities, concave per-domain returns) learn each round whether to stay out, train at some
//! effort, free-ride, split or copy their data over identities; evaluators learn whether to
//! collude; one budget per round is shared by all cohorts; fairness is judged against
//! leave-one-party-out counterfactuals on a test utility the evaluators never see.
//!
//! - [`utility`]: the structured utility (the 1-D surrogate is its special case);
//! - [`value`]: a cohort's valuation under each scheme, the common checks, group Shapley;
//! - [`learn`]: the learning rule;
//! - [`config`]: configuration, actions, schemes;
//! - [`run`]: one run, with per-party random streams, probes and reruns;
//! - [`experiment`]: all runs, metrics, summaries;
//! - [`calibrate`]: profile-likelihood calibration with identification checks;
//! - [`verdict`]: the claims' verdicts (with seed-flip detection);
//! - [`phase`]: phase diagrams over two parameter planes;
//! - [`report`]: the market's sections of `summary.md`, `metrics.json` and plots.

pub mod calibrate;
pub mod config;
pub mod experiment;
pub mod learn;
pub mod phase;
pub mod report;
pub mod run;
pub mod utility;
pub mod value;
pub mod verdict;

pub use config::{Action, MarketConfig, MarketError, MarketScheme};
pub use experiment::{simulate_market, MarketReport};
