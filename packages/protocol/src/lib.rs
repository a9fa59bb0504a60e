//! Fairshare's shared interface.
//!
//! Everything that crosses a boundary lives here, so that contracts never depend on each
//! other's internals and off-chain code (relayer, trainer, tests) speaks the same types:
//! - [`commitment`]: the signed digest that binds an update to one chain, contract, round and
//!   participant, and address derivation from a secp256k1 key;
//! - [`rewards`]: the reward and slashing rule of a settled round, in exact integer arithmetic;
//! - [`evaluation`]: the evaluator layer's consensus, agreement and pay; [`report`]: report
//!   commitments, utility tables and the Shapley values that follow from them; [`sampled`]: the
//!   replayable coalition sample and regression-adjusted estimator of large rounds; [`tdist`]: the
//!   t critical values of the harmful test;
//! - [`round_manager`], [`escrow`], [`dao`]: each contract's messages;
//! - [`asset`]: the stake asset (native coin or CW20).

pub mod asset;
pub mod commitment;
pub mod dao;
pub mod escrow;
pub mod evaluation;
pub mod report;
pub mod rewards;
pub mod round_manager;
pub mod sampled;
pub mod tdist;
