//! Charts for Fairshare's report, rendered with `plotters` to both SVG and PNG.
//!
//! Describe a chart as data ([`Chart`], serialisable as JSON with a `kind` tag) and call
//! [`render`]. Text is drawn with a font found on disk at run time (see [`ensure_font`]).

mod data;
mod draw;
mod font;
mod palette;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use image::ImageEncoder;
use plotters::prelude::*;

pub use font::{ensure_font, FONT_ENV};

/// One named data series.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Series {
    /// Legend entry of the series.
    pub name: String,
    /// (x, y) points, joined in the given order by a line chart.
    pub points: Vec<(f64, f64)>,
    /// Optional confidence band drawn behind a line: (x, low, high).
    #[serde(default)]
    pub band: Vec<(f64, f64, f64)>,
}

impl Series {
    /// A series without a confidence band.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            name: name.into(),
            points,
            band: Vec::new(),
        }
    }
}

/// One bar of a group: series name, value, optional (low, high) confidence interval drawn as an error bar.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Bar {
    /// Series the bar belongs to; it sets the bar's colour, slot and legend entry.
    pub series: String,
    /// Height of the bar from zero (may be negative).
    pub value: f64,
    /// Confidence interval (low, high) drawn as an error bar.
    pub ci: Option<(f64, f64)>,
}

impl Bar {
    /// A bar of `series` with height `value` and an optional confidence interval.
    pub fn new(series: impl Into<String>, value: f64, ci: Option<(f64, f64)>) -> Self {
        Self {
            series: series.into(),
            value,
            ci,
        }
    }
}

/// A labelled group of bars drawn side by side.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BarGroup {
    /// Tick label under the group.
    pub label: String,
    /// Bars of the group, at most one per series.
    pub bars: Vec<Bar>,
}

/// A chart to render.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Chart {
    /// Lines (with optional bands), e.g. validation loss per round, participation over rounds, Lorenz curves.
    Line {
        /// Caption above the plot (omitted if empty).
        title: String,
        /// Description under the x axis.
        x_label: String,
        /// Description beside the y axis.
        y_label: String,
        /// Series, coloured by position; a legend appears when there are two or more.
        series: Vec<Series>,
    },
    /// Points, one colour/marker per series, e.g. reward against contribution.
    Scatter {
        /// Caption above the plot (omitted if empty).
        title: String,
        /// Description under the x axis.
        x_label: String,
        /// Description beside the y axis.
        y_label: String,
        /// Series, coloured by position; a legend appears when there are two or more.
        series: Vec<Series>,
    },
    /// Grouped bars with error bars, e.g. a metric per allocation scheme.
    Bars {
        /// Caption above the plot (omitted if empty).
        title: String,
        /// Description beside the value axis.
        y_label: String,
        /// Groups along x, in order; a legend appears when there are two or more series.
        groups: Vec<BarGroup>,
    },
    /// A grid of coloured cells with their values printed, e.g. a claim's verdict over two parameters.
    Heatmap {
        /// Caption above the plot (omitted if empty).
        title: String,
        /// Description under the x axis.
        x_label: String,
        /// Description beside the y axis.
        y_label: String,
        /// Column labels, left to right.
        xs: Vec<String>,
        /// Row labels, bottom to top.
        ys: Vec<String>,
        /// `values[row][column]`, rows in the order of `ys`; NaN marks a cell without a value (drawn grey).
        values: Vec<Vec<f64>>,
        /// The values mapped to the low (red) and high (green) ends of the colour scale, the
        /// midpoint to white; `None` uses the finite values' extent.
        range: Option<(f64, f64)>,
    },
}

/// Why a chart could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The chart has no point or bar at all (carries the chart title).
    #[error("chart {0:?} has no data to plot: every series (or group) is empty")]
    NoData(String),
    /// A value is NaN or infinite (the message names the series and index).
    #[error("non-finite value: {0}")]
    NonFinite(String),
    /// No usable font for chart text (the message says what to install or set).
    #[error("font: {0}")]
    Font(String),
    /// The requested image size is outside what the layout supports.
    #[error(
        "image size {width_px}x{height_px} px is unsupported: use {}..={} px wide and {}..={} px high",
        Size::MIN.width_px, Size::MAX.width_px, Size::MIN.height_px, Size::MAX.height_px
    )]
    Size {
        /// Requested width.
        width_px: u32,
        /// Requested height.
        height_px: u32,
    },
    /// Creating the output directory or writing a file failed.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// File or directory that could not be written.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The chart's parts do not fit together (e.g. a heat map row with the wrong number of cells).
    #[error("chart shape: {0}")]
    Shape(String),
    /// plotters or the PNG encoder failed while drawing.
    #[error("drawing failed: {0}")]
    Draw(String),
}

/// Output image size in pixels (the SVG's nominal size and the PNG's exact size).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Size {
    /// Width in pixels.
    pub width_px: u32,
    /// Height in pixels.
    pub height_px: u32,
}

impl Size {
    /// Smallest size whose layout still leaves room for the plot area.
    pub const MIN: Size = Size {
        width_px: 300,
        height_px: 200,
    };
    /// Largest size accepted, bounding the PNG buffer (about 200 MB of RGB).
    pub const MAX: Size = Size {
        width_px: 8192,
        height_px: 8192,
    };

    fn validate(self) -> Result<(), PlotError> {
        let ok = (Size::MIN.width_px..=Size::MAX.width_px).contains(&self.width_px)
            && (Size::MIN.height_px..=Size::MAX.height_px).contains(&self.height_px);
        if ok {
            Ok(())
        } else {
            Err(PlotError::Size {
                width_px: self.width_px,
                height_px: self.height_px,
            })
        }
    }
}

impl Default for Size {
    /// 900×600 px, the report's figure size.
    fn default() -> Self {
        Size {
            width_px: 900,
            height_px: 600,
        }
    }
}

/// Writes `<stem>.svg` and `<stem>.png` (creating the parent directory) and returns both paths.
pub fn render(chart: &Chart, stem: &Path) -> Result<Vec<PathBuf>, PlotError> {
    render_with_size(chart, stem, Size::default())
}

/// Like [`render`], at a chosen size; nothing is written unless both images draw.
pub fn render_with_size(chart: &Chart, stem: &Path, size: Size) -> Result<Vec<PathBuf>, PlotError> {
    let svg = svg_string(chart, size)?;
    let png = png_bytes(chart, size)?;
    if let Some(parent) = stem.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| PlotError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let svg_path = with_suffix(stem, ".svg");
    let png_path = with_suffix(stem, ".png");
    write(&svg_path, svg.as_bytes())?;
    write(&png_path, &png)?;
    Ok(vec![svg_path, png_path])
}

/// Renders `chart` as an SVG document, e.g. to embed in HTML.
pub fn svg_string(chart: &Chart, size: Size) -> Result<String, PlotError> {
    prepare(chart, size)?;
    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (size.width_px, size.height_px)).into_drawing_area();
        draw::chart(&root, chart, size)?;
        root.present().map_err(|e| PlotError::Draw(e.to_string()))?;
    }
    Ok(svg)
}

/// Renders `chart` as PNG file bytes.
pub fn png_bytes(chart: &Chart, size: Size) -> Result<Vec<u8>, PlotError> {
    prepare(chart, size)?;
    let (w, h) = (size.width_px, size.height_px);
    // Bounded by `Size::MAX`, so this cannot overflow.
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        draw::chart(&root, chart, size)?;
        root.present().map_err(|e| PlotError::Draw(e.to_string()))?;
    }
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&rgb, w, h, image::ColorType::Rgb8)
        .map_err(|e| PlotError::Draw(format!("PNG encoding failed: {e}")))?;
    Ok(png)
}

/// Checks everything that can fail before drawing: size, data, font.
fn prepare(chart: &Chart, size: Size) -> Result<(), PlotError> {
    size.validate()?;
    data::validate(chart)?;
    ensure_font()?;
    Ok(())
}

/// `stem` with `suffix` appended (not replacing an extension: `loss.v2` → `loss.v2.svg`).
fn with_suffix(stem: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(stem.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), PlotError> {
    std::fs::write(path, bytes).map_err(|source| PlotError::Io {
        path: path.to_path_buf(),
        source,
    })
}
