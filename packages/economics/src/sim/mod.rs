//! The strategic-agent simulation (DESIGN §4): a population of parties with heterogeneous data,
//! quality, costs and strategies decides round by round whether to join; joiners are shuffled
//! into cohorts, each an on-chain round scored by noisy evaluators under one allocation scheme
//! and paid by the real reward rule of `fairshare-protocol`.
//!
//! - [`config`]: the one typed configuration and its validation;
//! - [`agent`]: parties, strategies and their join decisions;
//! - [`surrogate`]: the utility surrogate and its calibration;
//! - [`exact`]: exact Shapley values from a utility table;
//! - [`noise`]: seed derivation and reproducible evaluation noise;
//! - [`schemes`]: the allocation schemes as evaluators apply them;
//! - [`world`]: one run of rounds;
//! - [`outcome`]: a run's metrics;
//! - [`experiment`]: all runs in parallel and the collected report.

pub mod agent;
pub mod config;
pub mod exact;
pub mod experiment;
pub mod noise;
pub mod outcome;
pub mod schemes;
pub mod surrogate;
pub mod world;

pub use agent::{Party, Strategy};
pub use config::{ConfigError, Mix, SimConfig};
pub use experiment::{simulate, SchemeReport, SimError, SimReport};
pub use schemes::{Aggregator, Scheme};
pub use surrogate::{fit_surrogate, CalibrationSample, FitError, Surrogate};
