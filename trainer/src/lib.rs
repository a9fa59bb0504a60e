//! Fairshare's ML engine for participants and evaluators.
//!
//! - [`model`]: a Llama-architecture causal LM in candle with LoRA-carrying projections;
//! - [`lora`]: adapters in PEFT's layout; [`bundle`]: the update bundle a participant submits;
//! - [`gguf`], [`model::hf`], [`tokenizer`]: loading without downloads;
//! - [`data`], [`train`]: packing local text and training an adapter; [`pretrain`]: training a
//!   small base model from scratch;
//! - [`aggregate`], [`eval`]: exact aggregation, coalition models and the utility batch API a
//!   Shapley estimator calls; [`valuation`]: that API as a `fairshare_shapley::Utility`.

pub mod aggregate;
pub mod bundle;
pub mod cli;
pub mod config;
pub mod data;
pub mod error;
pub mod eval;
pub mod gguf;
pub mod lora;
pub mod model;
pub mod optim;
pub mod pretrain;
pub mod testing;
pub mod tokenizer;
pub mod train;
pub mod valuation;

pub use error::{Result, TrainerError};
