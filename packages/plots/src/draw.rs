//! Drawing a validated chart onto any plotters backend, so SVG and PNG share one code path.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::data::{bar_series_names, bar_value_range, series_ranges};
use crate::font::FAMILY;
use crate::palette::{colour, Marker};
use crate::{BarGroup, Chart, PlotError, Series, Size};

/// Line series with at most this many points also get a marker on every point.
const MAX_MARKED_LINE_POINTS: usize = 50;

/// Fraction of each group's slot that its bars occupy (the rest separates groups).
const GROUP_WIDTH: f64 = 0.8;

/// Pixel sizes of text and furniture, scaled from the 900×600 default.
struct Metrics {
    scale: f64,
}

impl Metrics {
    fn new(size: Size) -> Self {
        let scale = (f64::from(size.width_px) / 900.0).min(f64::from(size.height_px) / 600.0);
        Metrics { scale }
    }

    /// `base` pixels at the default size, scaled and rounded, never below 1.
    fn px(&self, base: f64) -> u32 {
        // Sizes are bounded by `Size::validate`, so the product fits in u32.
        (base * self.scale).round().max(1.0) as u32
    }

    fn title(&self) -> u32 {
        self.px(26.0)
    }
    fn tick_label(&self) -> u32 {
        self.px(15.0)
    }
    fn axis_desc(&self) -> u32 {
        self.px(17.0)
    }
}

/// Maps plotters' drawing errors (generic over the backend) to ours.
fn draw_err<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> PlotError {
    PlotError::Draw(e.to_string())
}

/// Draws `chart` onto `root`, which must be blank and of `size`; the chart must already be validated.
pub(crate) fn chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &Chart,
    size: Size,
) -> Result<(), PlotError> {
    root.fill(&WHITE).map_err(draw_err)?;
    let m = Metrics::new(size);
    match chart {
        Chart::Line {
            title,
            x_label,
            y_label,
            series,
        } => xy(root, &m, title, x_label, y_label, series, XyKind::Line),
        Chart::Scatter {
            title,
            x_label,
            y_label,
            series,
        } => xy(root, &m, title, x_label, y_label, series, XyKind::Scatter),
        Chart::Bars {
            title,
            y_label,
            groups,
        } => bars(root, &m, title, y_label, groups),
        Chart::Heatmap {
            title,
            x_label,
            y_label,
            xs,
            ys,
            values,
            range,
        } => heatmap(
            root,
            &m,
            HeatmapData {
                title,
                x_label,
                y_label,
                xs,
                ys,
                values,
                range: *range,
            },
        ),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum XyKind {
    Line,
    Scatter,
}

/// A chart builder with the caption and label areas every chart kind shares.
fn builder<'a, 'b, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    m: &Metrics,
    title: &'b str,
    has_x_desc: bool,
) -> ChartBuilder<'a, 'b, DB> {
    let mut b = ChartBuilder::on(root);
    b.margin(m.px(20.0))
        .x_label_area_size(m.px(if has_x_desc { 60.0 } else { 40.0 }))
        .y_label_area_size(m.px(80.0));
    if !title.is_empty() {
        b.caption(title, (FAMILY, m.title()));
    }
    b
}

fn xy<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    m: &Metrics,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    kind: XyKind,
) -> Result<(), PlotError> {
    let (x_range, y_range) =
        series_ranges(series).ok_or_else(|| PlotError::NoData(title.to_string()))?;
    let mut cc = builder(root, m, title, true)
        .build_cartesian_2d(x_range.clone(), y_range.clone())
        .map_err(draw_err)?;
    cc.configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .label_style((FAMILY, m.tick_label()))
        .axis_desc_style((FAMILY, m.axis_desc()))
        .bold_line_style(RGBColor(215, 215, 215))
        .light_line_style(RGBColor(244, 244, 244))
        .max_light_lines(2)
        .draw()
        .map_err(draw_err)?;

    // Bands first, so no band hides another series' line.
    for (i, s) in series.iter().enumerate() {
        if s.band.is_empty() {
            continue;
        }
        let mut band = s.band.clone();
        band.sort_by(|a, b| a.0.total_cmp(&b.0));
        let outline: Vec<(f64, f64)> = band
            .iter()
            .map(|&(x, _, high)| (x, high))
            .chain(band.iter().rev().map(|&(x, low, _)| (x, low)))
            .collect();
        cc.draw_series(std::iter::once(Polygon::new(
            outline,
            colour(i).mix(0.2).filled(),
        )))
        .map_err(draw_err)?;
    }

    let stroke = m.px(2.0);
    let radius = m.px(if kind == XyKind::Line { 3.0 } else { 4.0 }) as i32;
    for (i, s) in series.iter().enumerate() {
        let c = colour(i);
        match kind {
            XyKind::Line => {
                if s.points.len() > 1 {
                    cc.draw_series(LineSeries::new(
                        s.points.iter().copied(),
                        c.stroke_width(stroke),
                    ))
                    .map_err(draw_err)?;
                }
                // A lone point has no line, so it always gets a marker.
                if s.points.len() <= MAX_MARKED_LINE_POINTS {
                    cc.draw_series(s.points.iter().map(|&p| Circle::new(p, radius, c.filled())))
                        .map_err(draw_err)?;
                }
            }
            XyKind::Scatter => {
                Marker::for_series(i).draw(&mut cc, &s.points, c, radius)?;
            }
        }
    }

    if series.len() > 1 {
        for (i, s) in series.iter().enumerate() {
            let c = colour(i);
            let anno = cc
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
                .map_err(draw_err)?;
            anno.label(s.name.as_str());
            match kind {
                XyKind::Line => {
                    let len = m.px(22.0) as i32;
                    anno.legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + len, y)], c.stroke_width(stroke))
                    });
                }
                XyKind::Scatter => {
                    Marker::for_series(i).legend(anno, c, radius);
                }
            }
        }
        let occupied = occupied_points(series, kind);
        legend(&mut cc, m, legend_corner(occupied, &x_range, &y_range))?;
    }
    Ok(())
}

/// Points (in data coordinates) the legend should avoid covering.
fn occupied_points(series: &[Series], kind: XyKind) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for s in series {
        out.extend(s.points.iter().copied());
        out.extend(s.band.iter().flat_map(|&(x, lo, hi)| [(x, lo), (x, hi)]));
        if kind == XyKind::Line {
            // Lines cross the space between their points too.
            for w in s.points.windows(2) {
                let ((x0, y0), (x1, y1)) = (w[0], w[1]);
                out.extend((1..10).map(|k| {
                    let t = f64::from(k) / 10.0;
                    (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t)
                }));
            }
        }
    }
    out
}

/// The corner of the plot holding the fewest data points, where the legend hides the least.
fn legend_corner(
    points: impl IntoIterator<Item = (f64, f64)>,
    x: &Range<f64>,
    y: &Range<f64>,
) -> SeriesLabelPosition {
    // Candidates in order of preference when counts tie.
    let corners = [
        SeriesLabelPosition::UpperRight,
        SeriesLabelPosition::UpperLeft,
        SeriesLabelPosition::LowerRight,
        SeriesLabelPosition::LowerLeft,
    ];
    let mut counts = [0usize; 4];
    let (w, h) = (x.end - x.start, y.end - y.start);
    for (px, py) in points {
        let fx = (px - x.start) / w;
        let fy = (py - y.start) / h;
        let (right, left) = (fx > 0.55, fx < 0.45);
        let (top, bottom) = (fy > 0.6, fy < 0.4);
        let hits = [top && right, top && left, bottom && right, bottom && left];
        for (count, hit) in counts.iter_mut().zip(hits) {
            *count += usize::from(hit);
        }
    }
    let best = (0..corners.len())
        .min_by_key(|&i| counts[i])
        .expect("the corner list is a non-empty constant");
    corners[best].clone()
}

/// Draws the series legend in `corner` with the shared look.
fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    cc: &mut ChartContext<'a, DB, CT>,
    m: &Metrics,
    corner: SeriesLabelPosition,
) -> Result<(), PlotError> {
    cc.configure_series_labels()
        .position(corner)
        .margin(m.px(12.0))
        .legend_area_size(m.px(30.0))
        .label_font((FAMILY, m.tick_label()))
        .background_style(WHITE.mix(0.85).filled())
        .border_style(BLACK.mix(0.4).stroke_width(1))
        .draw()
        .map_err(draw_err)
}

fn bars<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    m: &Metrics,
    title: &str,
    y_label: &str,
    groups: &[BarGroup],
) -> Result<(), PlotError> {
    let names = bar_series_names(groups);
    let y_range = bar_value_range(groups);
    let n_groups = groups.len() as f64;
    let x_range = 0.0..n_groups;
    let x_coord = GroupAxis {
        groups: groups.len(),
    };
    let group_label = |v: &f64| {
        let g = v.floor().max(0.0) as usize;
        groups.get(g).map(|g| g.label.clone()).unwrap_or_default()
    };

    let mut cc = builder(root, m, title, false)
        .build_cartesian_2d(x_coord, y_range.clone())
        .map_err(draw_err)?;
    cc.configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&group_label)
        .y_desc(y_label)
        .label_style((FAMILY, m.tick_label()))
        .axis_desc_style((FAMILY, m.axis_desc()))
        .bold_line_style(RGBColor(215, 215, 215))
        .light_line_style(RGBColor(244, 244, 244))
        .max_light_lines(2)
        .draw()
        .map_err(draw_err)?;

    // Every series keeps its slot (and colour) in every group, so groups line up.
    let slot = GROUP_WIDTH / names.len().max(1) as f64;
    let mut occupied = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        for bar in &group.bars {
            let s = names
                .iter()
                .position(|n| *n == bar.series)
                .expect("bar_series_names lists the series of every bar");
            let left = g as f64 + (1.0 - GROUP_WIDTH) / 2.0 + s as f64 * slot + slot * 0.1;
            let right = left + slot * 0.8;
            cc.draw_series(std::iter::once(Rectangle::new(
                [(left, 0.0), (right, bar.value)],
                colour(s).filled(),
            )))
            .map_err(draw_err)?;
            let mid = (left + right) / 2.0;
            occupied.push((mid, bar.value));
            if let Some((low, high)) = bar.ci {
                let cap = slot * 0.15;
                let style = BLACK.stroke_width(m.px(1.5));
                let whisker = [
                    vec![(mid, low), (mid, high)],
                    vec![(mid - cap, low), (mid + cap, low)],
                    vec![(mid - cap, high), (mid + cap, high)],
                ];
                cc.draw_series(whisker.into_iter().map(|p| PathElement::new(p, style)))
                    .map_err(draw_err)?;
                occupied.extend([(mid, low), (mid, high)]);
            }
        }
    }
    // The bars' common base, visible when some bars go below it.
    if y_range.start < 0.0 {
        cc.draw_series(std::iter::once(PathElement::new(
            vec![(0.0, 0.0), (n_groups, 0.0)],
            BLACK.stroke_width(1),
        )))
        .map_err(draw_err)?;
    }

    if names.len() > 1 {
        let half = m.px(7.0) as i32;
        for (s, name) in names.iter().enumerate() {
            let c = colour(s);
            cc.draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
                .map_err(draw_err)?
                .label(*name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - half), (x + 2 * half, y + half)], c.filled())
                });
        }
        // Bars are solid from the base up, so count their whole height as occupied.
        for &(x, v) in occupied.clone().iter() {
            occupied.extend((1..10).map(|k| (x, v * f64::from(k) / 10.0)));
        }
        legend(&mut cc, m, legend_corner(occupied, &x_range, &y_range))?;
    }
    Ok(())
}

/// The x axis of a bar chart: group `g` spans `g..g+1`, with its one tick at the centre.
///
/// plotters' `with_key_points` would do, but on `f64` it loses the label formatter support.
struct GroupAxis {
    groups: usize,
}

impl Ranged for GroupAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let fraction = value / self.groups.max(1) as f64;
        limit.0 + (fraction * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            // Only bold ticks: one per group, none in between.
            return Vec::new();
        }
        (0..self.groups).map(|g| g as f64 + 0.5).collect()
    }

    fn range(&self) -> Range<f64> {
        0.0..self.groups as f64
    }
}

/// A heat map's borrowed parts.
struct HeatmapData<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    xs: &'a [String],
    ys: &'a [String],
    values: &'a [Vec<f64>],
    range: Option<(f64, f64)>,
}

/// The colour of `v` on a red–white–green scale over `lo..hi` (grey for NaN).
pub(crate) fn heat_colour(v: f64, lo: f64, hi: f64) -> RGBColor {
    if v.is_nan() {
        return RGBColor(200, 200, 200);
    }
    let t = if hi > lo {
        ((v - lo) / (hi - lo)).clamp(0.0, 1.0)
    } else {
        0.5
    };
    let mix = |a: (f64, f64, f64), b: (f64, f64, f64), u: f64| {
        RGBColor(
            (a.0 + (b.0 - a.0) * u).round() as u8,
            (a.1 + (b.1 - a.1) * u).round() as u8,
            (a.2 + (b.2 - a.2) * u).round() as u8,
        )
    };
    let (red, white, green) = (
        (215.0, 48.0, 39.0),
        (250.0, 250.0, 250.0),
        (26.0, 152.0, 80.0),
    );
    if t < 0.5 {
        mix(red, white, t * 2.0)
    } else {
        mix(white, green, (t - 0.5) * 2.0)
    }
}

fn heatmap<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    m: &Metrics,
    d: HeatmapData<'_>,
) -> Result<(), PlotError> {
    let (lo, hi) = d
        .range
        .or_else(|| {
            crate::data::extent(d.values.iter().flatten().copied().filter(|v| v.is_finite()))
        })
        .unwrap_or((0.0, 1.0));
    let (nx, ny) = (d.xs.len() as u32, d.ys.len() as u32);
    let mut cc = builder(root, m, d.title, true)
        // An integer range's segments include its end, so `0..n−1` gives the n cells.
        .build_cartesian_2d(
            (0u32..nx.saturating_sub(1)).into_segmented(),
            (0u32..ny.saturating_sub(1)).into_segmented(),
        )
        .map_err(draw_err)?;
    let label = |labels: &[String], v: &SegmentValue<u32>| match v {
        SegmentValue::CenterOf(i) => labels.get(*i as usize).cloned().unwrap_or_default(),
        _ => String::new(),
    };
    let x_fmt = |v: &SegmentValue<u32>| label(d.xs, v);
    let y_fmt = |v: &SegmentValue<u32>| label(d.ys, v);
    cc.configure_mesh()
        .disable_mesh()
        .x_labels(d.xs.len())
        .y_labels(d.ys.len())
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .x_desc(d.x_label)
        .y_desc(d.y_label)
        .label_style((FAMILY, m.tick_label()))
        .axis_desc_style((FAMILY, m.axis_desc()))
        .draw()
        .map_err(draw_err)?;
    let cells = d.values.iter().enumerate().flat_map(|(r, row)| {
        row.iter()
            .enumerate()
            .map(move |(c, &v)| (c as u32, r as u32, v))
    });
    cc.draw_series(cells.clone().map(|(c, r, v)| {
        Rectangle::new(
            [
                (SegmentValue::Exact(c), SegmentValue::Exact(r)),
                (SegmentValue::Exact(c + 1), SegmentValue::Exact(r + 1)),
            ],
            heat_colour(v, lo, hi).filled(),
        )
    }))
    .map_err(draw_err)?;
    let style = TextStyle::from((FAMILY, m.tick_label()).into_font()).pos(
        plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Center,
        ),
    );
    cc.draw_series(cells.filter(|(_, _, v)| v.is_finite()).map(|(c, r, v)| {
        Text::new(
            format!("{v:.2}"),
            (SegmentValue::CenterOf(c), SegmentValue::CenterOf(r)),
            style.clone(),
        )
    }))
    .map_err(draw_err)?;
    Ok(())
}
