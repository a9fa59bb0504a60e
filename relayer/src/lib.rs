//! Fairshare relayer: the bridge between participants, evaluators and the chain.
//!
//! - [`keys`]: participant keys, their chain addresses and commitment signatures;
//! - [`embedded`]: the embedded chain (cw-multi-test running the real contract code), used by
//!   the demo and the cross-contract tests;
//! - [`demo`]: a scripted round, printed step by step.

pub mod demo;
pub mod embedded;
pub mod keys;
