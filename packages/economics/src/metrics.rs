//! Fairness and concentration metrics, each defined on plain slices so the simulation, the
//! demo's report and tests share one implementation.

/// Why a metric is undefined for the input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricError {
    /// No values at all.
    #[error("the input is empty")]
    Empty,
    /// Paired series of different lengths.
    #[error("the two series have different lengths ({0} and {1})")]
    LengthMismatch(usize, usize),
    /// A NaN or infinite value.
    #[error("value {value} at index {index} is not a finite number")]
    NotFinite {
        /// Where.
        index: usize,
        /// The value.
        value: f64,
    },
    /// A negative value where shares are needed.
    #[error("value {value} at index {index} is negative; this metric needs non-negative shares")]
    Negative {
        /// Where.
        index: usize,
        /// The value.
        value: f64,
    },
    /// A constant series has no correlation.
    #[error("the series is constant, so its correlation is undefined")]
    Constant,
    /// Shares of a zero total.
    #[error("the total is zero, so shares are undefined")]
    ZeroTotal,
}

type Result<T> = std::result::Result<T, MetricError>;

fn check(xs: &[f64]) -> Result<()> {
    if xs.is_empty() {
        return Err(MetricError::Empty);
    }
    match xs.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        Some((index, &value)) => Err(MetricError::NotFinite { index, value }),
        None => Ok(()),
    }
}

fn check_shares(xs: &[f64]) -> Result<f64> {
    check(xs)?;
    if let Some((index, &value)) = xs.iter().enumerate().find(|(_, v)| **v < 0.0) {
        return Err(MetricError::Negative { index, value });
    }
    let total: f64 = xs.iter().sum();
    if total == 0.0 {
        return Err(MetricError::ZeroTotal);
    }
    Ok(total)
}

/// Pearson correlation of `xs` and `ys`.
pub fn pearson(xs: &[f64], ys: &[f64]) -> Result<f64> {
    check(xs)?;
    check(ys)?;
    if xs.len() != ys.len() {
        return Err(MetricError::LengthMismatch(xs.len(), ys.len()));
    }
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in xs.iter().zip(ys) {
        let (dx, dy) = (x - mx, y - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx == 0.0 || syy == 0.0 {
        return Err(MetricError::Constant);
    }
    Ok((sxy / (sxx.sqrt() * syy.sqrt())).clamp(-1.0, 1.0))
}

/// Ranks with ties given their average rank (1-based).
fn ranks(xs: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..xs.len()).collect();
    idx.sort_by(|&a, &b| xs[a].total_cmp(&xs[b]));
    let mut out = vec![0.0; xs.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && xs[idx[j + 1]] == xs[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            out[k] = avg;
        }
        i = j + 1;
    }
    out
}

/// Spearman rank correlation (Pearson on average ranks, so ties are handled).
pub fn spearman(xs: &[f64], ys: &[f64]) -> Result<f64> {
    check(xs)?;
    check(ys)?;
    if xs.len() != ys.len() {
        return Err(MetricError::LengthMismatch(xs.len(), ys.len()));
    }
    pearson(&ranks(xs), &ranks(ys))
}

/// Kendall's τ-b: (concordant − discordant pairs) / √((n₀ − ties in x)(n₀ − ties in y)), with
/// n₀ = n(n−1)/2; undefined (`Constant`) when either series is constant.
pub fn kendall(xs: &[f64], ys: &[f64]) -> Result<f64> {
    check(xs)?;
    check(ys)?;
    if xs.len() != ys.len() {
        return Err(MetricError::LengthMismatch(xs.len(), ys.len()));
    }
    let (mut s, mut tx, mut ty, mut n0) = (0i64, 0i64, 0i64, 0i64);
    for i in 0..xs.len() {
        for j in i + 1..xs.len() {
            n0 += 1;
            let (dx, dy) = (xs[i].total_cmp(&xs[j]), ys[i].total_cmp(&ys[j]));
            use std::cmp::Ordering::Equal;
            if dx == Equal {
                tx += 1;
            }
            if dy == Equal {
                ty += 1;
            }
            if dx != Equal && dy != Equal {
                s += if dx == dy { 1 } else { -1 };
            }
        }
    }
    let den = (((n0 - tx) * (n0 - ty)) as f64).sqrt();
    if den == 0.0 {
        return Err(MetricError::Constant);
    }
    Ok((s as f64 / den).clamp(-1.0, 1.0))
}

/// Jain's fairness index `(Σx)² / (n·Σx²)`: 1 for equal shares, 1/n when one takes all.
pub fn jain(xs: &[f64]) -> Result<f64> {
    let total = check_shares(xs)?;
    let sq: f64 = xs.iter().map(|x| x * x).sum();
    Ok(total * total / (xs.len() as f64 * sq))
}

/// Gini coefficient of non-negative shares: 0 for equal shares, (n−1)/n when one takes all.
pub fn gini(xs: &[f64]) -> Result<f64> {
    let total = check_shares(xs)?;
    let mut s = xs.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len() as f64;
    // G = Σ (2i − n − 1)·x_(i) / (n·Σx), i = 1..n over sorted values.
    let weighted: f64 = s
        .iter()
        .enumerate()
        .map(|(i, x)| (2.0 * (i as f64 + 1.0) - n - 1.0) * x)
        .sum();
    Ok(weighted / (n * total))
}

/// Herfindahl–Hirschman index: Σ sᵢ² of the shares, from 1/n (equal) to 1 (one holds all).
pub fn hhi(xs: &[f64]) -> Result<f64> {
    let total = check_shares(xs)?;
    Ok(xs.iter().map(|x| (x / total).powi(2)).sum())
}

/// Share of the total held by the largest `fraction` of holders (at least one holder).
pub fn top_share(xs: &[f64], fraction: f64) -> Result<f64> {
    let total = check_shares(xs)?;
    let mut s = xs.to_vec();
    s.sort_by(|a, b| b.total_cmp(a));
    let k = ((fraction.clamp(0.0, 1.0) * s.len() as f64).ceil() as usize).max(1);
    Ok(s[..k].iter().sum::<f64>() / total)
}

/// Lorenz curve: `(population share, cumulative share)` points from (0, 0) to (1, 1).
pub fn lorenz(xs: &[f64]) -> Result<Vec<(f64, f64)>> {
    let total = check_shares(xs)?;
    let mut s = xs.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len() as f64;
    let mut acc = 0.0;
    let mut out = vec![(0.0, 0.0)];
    for (i, x) in s.iter().enumerate() {
        acc += x;
        out.push(((i as f64 + 1.0) / n, acc / total));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn equal_shares_are_perfectly_fair() {
        let eq = [3.0; 5];
        assert!(close(gini(&eq).expect("defined"), 0.0));
        assert!(close(jain(&eq).expect("defined"), 1.0));
        assert!(close(hhi(&eq).expect("defined"), 0.2));
        assert!(close(top_share(&eq, 0.2).expect("defined"), 0.2));
        let l = lorenz(&eq).expect("defined");
        assert!(
            l.iter().all(|(p, c)| close(*p, *c)),
            "the Lorenz curve is the diagonal"
        );
    }

    #[test]
    fn one_takes_all_is_maximally_unequal() {
        let xs = [0.0, 0.0, 0.0, 8.0];
        assert!(close(gini(&xs).expect("defined"), 0.75), "(n−1)/n");
        assert!(close(jain(&xs).expect("defined"), 0.25), "1/n");
        assert!(close(hhi(&xs).expect("defined"), 1.0));
        assert!(close(top_share(&xs, 0.1).expect("defined"), 1.0));
    }

    #[test]
    fn kendall_counts_concordant_pairs_and_handles_ties() {
        assert!(close(
            kendall(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]).expect("defined"),
            1.0
        ));
        assert!(close(
            kendall(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]).expect("defined"),
            -1.0
        ));
        // (1,2,3,4) vs (1,3,2,4): 5 concordant, 1 discordant of 6 → 4/6.
        let t = kendall(&[1.0, 2.0, 3.0, 4.0], &[1.0, 3.0, 2.0, 4.0]).expect("defined");
        assert!(close(t, 4.0 / 6.0), "{t}");
        // τ-b with a tie in y: pairs 6, ties in y 1, S = 5 → 5/√(6·5).
        let t = kendall(&[1.0, 2.0, 3.0, 4.0], &[1.0, 2.0, 2.0, 4.0]).expect("defined");
        assert!(close(t, 5.0 / 30f64.sqrt()), "{t}");
        assert_eq!(
            kendall(&[1.0, 1.0], &[1.0, 2.0]),
            Err(MetricError::Constant)
        );
    }

    #[test]
    fn known_values() {
        // Gini of (1, 2, 3, 4): Σ|xi − xj| / (2n²·mean) = 20 / (2·16·2.5) = 0.25.
        assert!(close(gini(&[4.0, 1.0, 3.0, 2.0]).expect("defined"), 0.25));
        // Jain of (1, 3): 16 / (2·10) = 0.8.
        assert!(close(jain(&[1.0, 3.0]).expect("defined"), 0.8));
        assert!(close(
            pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]).expect("defined"),
            1.0
        ));
        assert!(close(
            pearson(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]).expect("defined"),
            -1.0
        ));
        // Monotone but not linear: Spearman 1, Pearson below 1.
        let (x, y) = ([1.0, 2.0, 3.0, 4.0], [1.0, 4.0, 9.0, 100.0]);
        assert!(close(spearman(&x, &y).expect("defined"), 1.0));
        assert!(pearson(&x, &y).expect("defined") < 0.99);
        // Ties get average ranks: ranks of (1, 1, 2) are (1.5, 1.5, 3).
        assert_eq!(ranks(&[1.0, 1.0, 2.0]), vec![1.5, 1.5, 3.0]);
    }

    #[test]
    fn undefined_inputs_say_why() {
        assert_eq!(gini(&[]), Err(MetricError::Empty));
        assert_eq!(gini(&[0.0, 0.0]), Err(MetricError::ZeroTotal));
        assert_eq!(
            jain(&[1.0, -1.0]),
            Err(MetricError::Negative {
                index: 1,
                value: -1.0
            })
        );
        assert!(matches!(
            hhi(&[1.0, f64::NAN]),
            Err(MetricError::NotFinite { index: 1, .. })
        ));
        assert_eq!(
            pearson(&[1.0, 2.0], &[1.0]),
            Err(MetricError::LengthMismatch(2, 1))
        );
        assert_eq!(
            pearson(&[1.0, 1.0], &[1.0, 2.0]),
            Err(MetricError::Constant)
        );
    }

    proptest! {
        #[test]
        fn metrics_stay_in_their_ranges(xs in prop::collection::vec(0.0f64..1e6, 1..50)) {
            prop_assume!(xs.iter().sum::<f64>() > 0.0);
            let n = xs.len() as f64;
            let g = gini(&xs).expect("defined");
            prop_assert!((-1e-12..=(n - 1.0) / n + 1e-12).contains(&g));
            let j = jain(&xs).expect("defined");
            prop_assert!(j >= 1.0 / n - 1e-12 && j <= 1.0 + 1e-12);
            let h = hhi(&xs).expect("defined");
            prop_assert!(h >= 1.0 / n - 1e-12 && h <= 1.0 + 1e-12);
            let l = lorenz(&xs).expect("defined");
            prop_assert!(l.windows(2).all(|w| w[1].1 >= w[0].1 - 1e-12), "Lorenz is non-decreasing");
            prop_assert!(l.iter().all(|(p, c)| *c <= p + 1e-9), "Lorenz lies under the diagonal");
            // Scale invariance.
            prop_assert!((gini(&xs.iter().map(|x| x * 7.0).collect::<Vec<_>>()).expect("defined") - g).abs() < 1e-9);
        }
    }
}
