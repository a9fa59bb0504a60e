//! The one error type of the crate.

use thiserror::Error;

/// Everything that can go wrong when building a game or estimating values.
#[derive(Debug, Error)]
pub enum ShapleyError {
    /// A table utility has no value for a coalition an estimator asked for.
    #[error("the utility table has no value for coalition {coalition} (bitstring {bitstring})")]
    MissingCoalition {
        /// The coalition as `{0, 3, 5}`.
        coalition: String,
        /// The same coalition as a bitstring of length n.
        bitstring: String,
    },
    /// A player index outside `0..n`.
    #[error("player {player} is out of range: the game has {n} players (0..{n})")]
    PlayerOutOfRange {
        /// The offending index.
        player: usize,
        /// Number of players.
        n: usize,
    },
    /// A method cannot handle this many players.
    #[error("{method} supports at most {max} players, the game has {n}")]
    TooManyPlayers {
        /// The estimator or game.
        method: &'static str,
        /// Players in the game.
        n: usize,
        /// Largest supported.
        max: usize,
    },
    /// A parameter is out of its domain.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// The evaluation budget cannot pay for the fewest samples a standard error needs.
    #[error("{method} needs at least {needed} utility evaluations for a standard error; the budget is {budget}")]
    BudgetTooSmall {
        /// The estimator.
        method: &'static str,
        /// Evaluations needed.
        needed: u64,
        /// Evaluations allowed.
        budget: u64,
    },
    /// A table file could not be parsed.
    #[error("parse error at line {line}: {message}")]
    Parse {
        /// 1-based line number (0 when not line-based).
        line: usize,
        /// What was wrong.
        message: String,
    },
    /// A user-supplied utility failed.
    #[error("utility evaluation failed: {0}")]
    Utility(String),
    /// Reading a file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, ShapleyError>;
