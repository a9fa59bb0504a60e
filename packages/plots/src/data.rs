//! Checks on chart data and the axis ranges derived from it, kept apart from drawing so they are easy to test.

use std::ops::Range;

use crate::{BarGroup, Chart, PlotError, Series};

/// Fraction of the data span added on each side of an axis.
const MARGIN_FRACTION: f64 = 0.05;

/// Rejects charts with nothing to draw or with NaN/infinite values, naming where the bad value is.
pub(crate) fn validate(chart: &Chart) -> Result<(), PlotError> {
    match chart {
        Chart::Line { title, series, .. } | Chart::Scatter { title, series, .. } => {
            for s in series {
                validate_series(s)?;
            }
            if series
                .iter()
                .all(|s| s.points.is_empty() && s.band.is_empty())
            {
                return Err(PlotError::NoData(title.clone()));
            }
        }
        Chart::Bars { title, groups, .. } => {
            for g in groups {
                validate_group(g)?;
            }
            if groups.iter().all(|g| g.bars.is_empty()) {
                return Err(PlotError::NoData(title.clone()));
            }
        }
        Chart::Heatmap {
            title,
            xs,
            ys,
            values,
            range,
            ..
        } => {
            if xs.is_empty() || ys.is_empty() {
                return Err(PlotError::NoData(title.clone()));
            }
            if values.len() != ys.len() {
                return Err(PlotError::Shape(format!(
                    "heat map {title:?}: {} rows of values for {} row labels",
                    values.len(),
                    ys.len()
                )));
            }
            for (r, row) in values.iter().enumerate() {
                if row.len() != xs.len() {
                    return Err(PlotError::Shape(format!(
                        "heat map {title:?}: row {r} has {} values for {} column labels",
                        row.len(),
                        xs.len()
                    )));
                }
                if let Some((c, v)) = row.iter().enumerate().find(|(_, v)| v.is_infinite()) {
                    return Err(PlotError::NonFinite(format!(
                        "heat map {title:?}: cell (row {r}, column {c}) is {v}; use NaN for a missing cell"
                    )));
                }
            }
            if let Some((lo, hi)) = range {
                if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                    return Err(PlotError::NonFinite(format!(
                        "heat map {title:?}: colour range ({lo}, {hi}) must be finite and increasing"
                    )));
                }
            }
        }
    }
    Ok(())
}

fn validate_series(s: &Series) -> Result<(), PlotError> {
    for (i, &(x, y)) in s.points.iter().enumerate() {
        for (axis, v) in [("x", x), ("y", y)] {
            if !v.is_finite() {
                return Err(PlotError::NonFinite(format!(
                    "series {:?}: point {i} has {axis} = {v}; drop or fix it before plotting",
                    s.name
                )));
            }
        }
    }
    for (i, &(x, low, high)) in s.band.iter().enumerate() {
        for (field, v) in [("x", x), ("low", low), ("high", high)] {
            if !v.is_finite() {
                return Err(PlotError::NonFinite(format!(
                    "series {:?}: band entry {i} has {field} = {v}; drop or fix it before plotting",
                    s.name
                )));
            }
        }
    }
    Ok(())
}

fn validate_group(g: &BarGroup) -> Result<(), PlotError> {
    for (i, bar) in g.bars.iter().enumerate() {
        let mut fields = vec![("value", bar.value)];
        if let Some((low, high)) = bar.ci {
            fields.extend([("ci low", low), ("ci high", high)]);
        }
        for (field, v) in fields {
            if !v.is_finite() {
                return Err(PlotError::NonFinite(format!(
                    "series {:?}: bar {i} of group {:?} has {field} = {v}; drop or fix it before plotting",
                    bar.series, g.label
                )));
            }
        }
    }
    Ok(())
}

/// Smallest and largest of `values`, or `None` if there are none.
pub(crate) fn extent(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values.into_iter().fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// An axis range covering `lo..=hi` with a small margin; a zero-width span is widened around its value.
pub(crate) fn padded(lo: f64, hi: f64) -> Range<f64> {
    let span = hi - lo;
    let pad = if span > 0.0 {
        span * MARGIN_FRACTION
    } else if lo != 0.0 {
        // All values equal: show them in the middle of a ±10% window.
        lo.abs() * 0.1
    } else {
        1.0
    };
    (lo - pad)..(hi + pad)
}

/// The x and y ranges of a line or scatter chart, covering points and bands.
pub(crate) fn series_ranges(series: &[Series]) -> Option<(Range<f64>, Range<f64>)> {
    let xs = series.iter().flat_map(|s| {
        s.points
            .iter()
            .map(|p| p.0)
            .chain(s.band.iter().map(|b| b.0))
    });
    let ys = series.iter().flat_map(|s| {
        s.points
            .iter()
            .map(|p| p.1)
            .chain(s.band.iter().flat_map(|b| [b.1, b.2]))
    });
    let (x_lo, x_hi) = extent(xs)?;
    let (y_lo, y_hi) = extent(ys)?;
    Some((padded(x_lo, x_hi), padded(y_lo, y_hi)))
}

/// The value range of a bar chart: always includes zero (the bars' base) and every error bar.
pub(crate) fn bar_value_range(groups: &[BarGroup]) -> Range<f64> {
    let values = groups.iter().flat_map(|g| {
        g.bars.iter().flat_map(|b| {
            let (low, high) = b.ci.unwrap_or((b.value, b.value));
            [b.value, low, high]
        })
    });
    let (lo, hi) = extent(values.chain([0.0])).unwrap_or((0.0, 0.0));
    if lo == hi {
        // Every bar is zero: any range with zero at the bottom will do.
        return 0.0..1.0;
    }
    let pad = (hi - lo) * MARGIN_FRACTION;
    let lo = if lo < 0.0 { lo - pad } else { 0.0 };
    let hi = if hi > 0.0 { hi + pad } else { 0.0 };
    lo..hi
}

/// Names of the series in a bar chart, in order of first appearance; a bar's slot and colour come from here.
pub(crate) fn bar_series_names(groups: &[BarGroup]) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for bar in groups.iter().flat_map(|g| &g.bars) {
        if !names.contains(&bar.series.as_str()) {
            names.push(&bar.series);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Bar;

    #[test]
    fn padded_adds_margin_and_widens_degenerate_spans() {
        assert_eq!(padded(0.0, 10.0), -0.5..10.5);
        assert_eq!(padded(5.0, 5.0), 4.5..5.5);
        assert_eq!(padded(-2.0, -2.0), -2.2..-1.8);
        assert_eq!(padded(0.0, 0.0), -1.0..1.0);
    }

    #[test]
    fn series_ranges_cover_bands() {
        let mut s = Series::new("a", [(1.0, 1.0), (3.0, 2.0)].to_vec());
        s.band = vec![(0.0, 0.0, 1.0), (3.0, 1.0, 4.0)];
        let (x, y) = series_ranges(&[s]).unwrap();
        assert!(x.start < 0.0 && x.end > 3.0, "{x:?}");
        assert!(y.start < 0.0 && y.end > 4.0, "{y:?}");
    }

    #[test]
    fn bar_range_includes_zero_and_error_bars() {
        let pos = [BarGroup {
            label: "g".into(),
            bars: vec![Bar::new("a", 2.0, Some((1.0, 3.0)))],
        }];
        let r = bar_value_range(&pos);
        assert_eq!(r.start, 0.0);
        assert!(r.end > 3.0);

        let neg = [BarGroup {
            label: "g".into(),
            bars: vec![
                Bar::new("a", -2.0, Some((-4.0, -1.0))),
                Bar::new("b", -1.0, None),
            ],
        }];
        let r = bar_value_range(&neg);
        assert!(r.start < -4.0);
        assert_eq!(r.end, 0.0);

        let zero = [BarGroup {
            label: "g".into(),
            bars: vec![Bar::new("a", 0.0, None)],
        }];
        assert_eq!(bar_value_range(&zero), 0.0..1.0);
    }

    #[test]
    fn bar_series_keep_first_appearance_order() {
        let groups = [
            BarGroup {
                label: "1".into(),
                bars: vec![Bar::new("b", 1.0, None), Bar::new("a", 1.0, None)],
            },
            BarGroup {
                label: "2".into(),
                bars: vec![Bar::new("c", 1.0, None), Bar::new("a", 1.0, None)],
            },
        ];
        assert_eq!(bar_series_names(&groups), ["b", "a", "c"]);
    }

    #[test]
    fn non_finite_band_and_ci_values_are_named() {
        let mut s = Series::new("loss", [(0.0, 1.0)].to_vec());
        s.band = vec![(0.0, 0.5, f64::INFINITY)];
        let chart = Chart::Line {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            series: vec![s],
        };
        let msg = validate(&chart).unwrap_err().to_string();
        assert!(msg.contains("\"loss\"") && msg.contains("band entry 0") && msg.contains("high"));

        let chart = Chart::Bars {
            title: "t".into(),
            y_label: "y".into(),
            groups: vec![BarGroup {
                label: "gini".into(),
                bars: vec![
                    Bar::new("ok", 1.0, None),
                    Bar::new("shapley", 1.0, Some((f64::NAN, 2.0))),
                ],
            }],
        };
        let msg = validate(&chart).unwrap_err().to_string();
        assert!(
            msg.contains("\"shapley\"") && msg.contains("bar 1") && msg.contains("\"gini\""),
            "{msg}"
        );
    }
}
