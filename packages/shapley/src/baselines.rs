//! Cheap deterministic allocations to compare Shapley estimates against.

use std::time::Instant;

use crate::coalition::Coalition;
use crate::error::{Result, ShapleyError};
use crate::estimate::Estimate;
use crate::sampling::{checked_len, endpoints};
use crate::stop::StopReason;
use crate::utility::Utility;

/// Leave-one-out values `U(N) − U(N ∖ i)`: `n + 2` evaluations in one batch.
pub fn leave_one_out<U: Utility + ?Sized>(u: &U) -> Result<Estimate> {
    let start = Instant::now();
    let n = u.n_players();
    let mut batch = vec![Coalition::empty(n), Coalition::full(n)];
    for i in 0..n {
        let mut c = Coalition::full(n);
        c.remove(i);
        batch.push(c);
    }
    let v = u.values(&batch)?;
    checked_len(&v, batch.len())?;
    let (empty, grand) = (v[0], v[1]);
    Ok(Estimate {
        method: "leave_one_out".into(),
        values: v[2..].iter().map(|x| grand - x).collect(),
        std_errors: vec![0.0; n],
        evaluations: batch.len() as u64,
        samples: n as u64,
        stop_reason: StopReason::Complete,
        elapsed_ms: start.elapsed().as_secs_f64() * 1e3,
        grand_value: grand,
        empty_value: empty,
    })
}

/// Shares `U(N) − U(∅)` in proportion to each player's data size (2 evaluations).
pub fn data_size_shares<U: Utility + ?Sized>(u: &U, sizes: &[f64]) -> Result<Estimate> {
    let start = Instant::now();
    let n = u.n_players();
    if sizes.len() != n {
        return Err(ShapleyError::InvalidParameter(format!(
            "data-size weights need one size per player: got {} sizes for {n} players",
            sizes.len()
        )));
    }
    if sizes.iter().any(|s| !s.is_finite() || *s < 0.0) {
        return Err(ShapleyError::InvalidParameter(
            "data sizes must be finite and non-negative".into(),
        ));
    }
    let total: f64 = sizes.iter().sum();
    if total <= 0.0 && n > 0 {
        return Err(ShapleyError::InvalidParameter(
            "data sizes must not all be zero".into(),
        ));
    }
    let (empty, grand) = endpoints(u)?;
    Ok(Estimate {
        method: "data_size".into(),
        values: sizes.iter().map(|s| (grand - empty) * s / total).collect(),
        std_errors: vec![0.0; n],
        evaluations: 2,
        samples: 0,
        stop_reason: StopReason::Complete,
        elapsed_ms: start.elapsed().as_secs_f64() * 1e3,
        grand_value: grand,
        empty_value: empty,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::games::AdditiveGame;

    #[test]
    fn loo_and_data_size_on_additive_game() {
        let g = AdditiveGame::new(vec![1.0, 2.0, 3.0]);
        assert_eq!(leave_one_out(&g).expect("ok").values, vec![1.0, 2.0, 3.0]);
        let d = data_size_shares(&g, &[1.0, 1.0, 2.0]).expect("ok");
        assert_eq!(d.values, vec![1.5, 1.5, 3.0]);
        assert!(data_size_shares(&g, &[1.0]).is_err());
        assert!(data_size_shares(&g, &[0.0, 0.0, 0.0]).is_err());
    }
}
