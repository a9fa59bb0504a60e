//! Fairshare relayer: the bridge between participants, evaluators and the chain.
//!
//! - [`chain`]: one interface to a chain, with the embedded chain and a wasmd node behind it;
//! - [`ops`]: deployment and wiring, written once against [`chain::Chain`];
//! - [`keys`]: participant keys, their chain addresses and commitment signatures;
//! - [`embedded`]: the embedded chain (cw-multi-test running the real contract code), used by
//!   the demo and the cross-contract tests;
//! - [`audit`]: whether an evaluator's report follows from its utility table, and whether a
//!   table agrees with a re-execution (verify-report, disputes, slashing proposals);
//! - [`sealed`]: an evaluator's committed report and salt, kept privately until its reveal;
//! - [`demo`]: a scripted round, printed step by step.

pub mod audit;
pub mod bundle;
pub mod chain;
pub mod cli;
pub mod demo;
pub mod embedded;
pub mod keys;
pub mod ops;
pub mod sealed;
pub mod wasmd;
