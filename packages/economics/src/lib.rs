//! Fairshare's economics (DESIGN §4): the metrics that judge an allocation scheme.
//!
//! - [`metrics`]: fairness of rewards against true contribution (Pearson, Spearman), equality
//!   (Jain's index, Gini), and concentration of burden (HHI, top-k share, Lorenz curve).
//!
//! The strategic-agent simulation builds on these.

pub mod metrics;

pub use metrics::{gini, hhi, jain, lorenz, pearson, spearman, top_share, MetricError};
