//! The strategic-agent simulation (DESIGN §4): a population of parties with heterogeneous data,
//! quality, costs and strategies decides round by round whether to join; joiners are shuffled
//! into cohorts, each an on-chain round measured by a panel of bonded evaluators under one
//! allocation scheme, settled by the evaluator layer and paid by the real reward rule of
//! `fairshare-protocol`.
//!
//! - [`config`]: the one typed configuration and its validation;
//! - [`agent`]: parties, strategies and their join decisions;
//! - [`surrogate`]: the utility surrogate and its calibration;
//! - [`exact`]: exact Shapley values from a utility table;
//! - [`noise`]: seed derivation and reproducible evaluation noise;
//! - [`decimals`]: floats to the chain's decimals and back;
//! - [`schemes`]: the allocation schemes as evaluators measure them;
//! - [`panel`]: the evaluator layer of one round (reveal, consensus, standing, pay, slash);
//! - [`world`]: one run of rounds;
//! - [`outcome`]: a run's metrics;
//! - [`collusion`], [`lazy`], [`false_positive`]: the evaluator experiments' figures;
//! - [`experiment`]: all runs in parallel and the collected report.

pub mod agent;
pub mod collusion;
pub mod config;
pub mod decimals;
pub mod exact;
pub mod experiment;
pub mod false_positive;
pub mod lazy;
pub mod noise;
pub mod outcome;
pub mod panel;
pub mod schemes;
pub mod surrogate;
pub mod world;

pub use agent::{Party, Strategy};
pub use config::{ConfigError, Mix, SimConfig};
pub use experiment::{simulate, SchemeReport, SimError, SimReport};
pub use panel::Role;
pub use schemes::Scheme;
pub use surrogate::{fit_surrogate, CalibrationSample, FitError, Surrogate};
