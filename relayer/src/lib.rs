//! Fairshare relayer: the bridge between participants, evaluators and the chain.
//!
//! - [`chain`]: one interface to a chain, with the embedded chain and a wasmd node behind it;
//! - [`ops`]: deployment and wiring, written once against [`chain::Chain`];
//! - [`keys`]: participant keys, their chain addresses and commitment signatures;
//! - [`keystore`]: a service's signing key, encrypted on its own host;
//! - [`embedded`]: the embedded chain (cw-multi-test running the real contract code), used by
//!   the demo and the cross-contract tests;
//! - [`audit`]: whether an evaluator's report follows from its utility table, and whether a
//!   table agrees with a re-execution (verify-report, disputes, slashing proposals);
//! - [`sealed`]: an evaluator's committed report and salt, kept privately until its reveal;
//! - [`demo`]: a scripted round, printed step by step;
//! - [`evaluator`]: an evaluator as a long-running service (bond, fetch and check bundles,
//!   value, commit, reveal);
//! - [`participant`]: a participant as a long-running service (join, train, publish, commit);
//! - [`relay`]: the relayer as a service (`fairshare relayer serve`): HTTP API, durable queue,
//!   batches to the chain, fail-over between nodes;
//! - [`valuation`]: how an evaluator values a round (Shapley values of every coalition, exact
//!   or sampled; near-duplicates grouped; no-shows as null players), for the service and demo;
//! - [`store`]: where update bundles live between parties (a directory served by the relayer,
//!   or IPFS through kubo), always re-checked against the committed hash.

pub mod audit;
pub mod bundle;
pub mod chain;
pub mod challenger;
pub mod cli;
pub mod dashboard;
pub mod demo;
pub mod embedded;
pub mod evaluator;
pub mod keys;
pub mod keystore;
pub mod operator;
pub mod ops;
pub mod participant;
pub mod relay;
pub mod sealed;
pub mod store;
pub mod valuation;
pub mod wasmd;
