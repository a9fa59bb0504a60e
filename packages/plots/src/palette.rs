//! Series colours and scatter markers, fixed per series index so a series looks the same in every chart.

use plotters::chart::SeriesAnno;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::PlotError;

/// The Okabe–Ito colour-blind-safe palette, reordered so the first colours contrast most on white
/// (yellow, the weakest on white, comes last).
const OKABE_ITO: [RGBColor; 8] = [
    RGBColor(0x00, 0x72, 0xB2), // blue
    RGBColor(0xD5, 0x5E, 0x00), // vermillion
    RGBColor(0x00, 0x9E, 0x73), // bluish green
    RGBColor(0xE6, 0x9F, 0x00), // orange
    RGBColor(0xCC, 0x79, 0xA7), // reddish purple
    RGBColor(0x56, 0xB4, 0xE9), // sky blue
    RGBColor(0x00, 0x00, 0x00), // black
    RGBColor(0xF0, 0xE4, 0x42), // yellow
];

/// The colour of series `index` (cycling after eight series).
pub(crate) fn colour(index: usize) -> RGBColor {
    OKABE_ITO[index % OKABE_ITO.len()]
}

/// Scatter marker shapes, so series stay distinguishable without colour.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Marker {
    Circle,
    Triangle,
    Square,
    Cross,
}

impl Marker {
    /// The marker of series `index` (cycling after four series; colour still differs up to eight).
    pub(crate) fn for_series(index: usize) -> Marker {
        [
            Marker::Circle,
            Marker::Triangle,
            Marker::Square,
            Marker::Cross,
        ][index % 4]
    }

    /// Draws one marker of radius `r` pixels at each point.
    pub(crate) fn draw<'a, DB: DrawingBackend + 'a>(
        self,
        cc: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
        points: &[(f64, f64)],
        c: RGBColor,
        r: i32,
    ) -> Result<(), PlotError> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| PlotError::Draw(e.to_string());
        let pts = points.iter().copied();
        match self {
            Marker::Circle => cc
                .draw_series(pts.map(|p| Circle::new(p, r, c.filled())))
                .map(drop),
            Marker::Triangle => cc
                .draw_series(pts.map(|p| TriangleMarker::new(p, r + 1, c.filled())))
                .map(drop),
            Marker::Square => cc
                .draw_series(
                    pts.map(|p| {
                        EmptyElement::at(p) + Rectangle::new([(-r, -r), (r, r)], c.filled())
                    }),
                )
                .map(drop),
            Marker::Cross => cc
                .draw_series(pts.map(|p| Cross::new(p, r, c.stroke_width(2))))
                .map(drop),
        }
        .map_err(err)
    }

    /// Sets the legend entry of `anno` to this marker in colour `c`, radius `r` pixels.
    pub(crate) fn legend<'a, DB: DrawingBackend + 'a>(
        self,
        anno: &mut SeriesAnno<'a, DB>,
        c: RGBColor,
        r: i32,
    ) {
        // Each shape is its own element type, so each arm has its own closure.
        match self {
            Marker::Circle => anno.legend(move |(x, y)| Circle::new((x + r, y), r, c.filled())),
            Marker::Triangle => {
                anno.legend(move |(x, y)| TriangleMarker::new((x + r, y), r + 1, c.filled()))
            }
            Marker::Square => anno
                .legend(move |(x, y)| Rectangle::new([(x, y - r), (x + 2 * r, y + r)], c.filled())),
            Marker::Cross => {
                anno.legend(move |(x, y)| Cross::new((x + r, y), r, c.stroke_width(2)))
            }
        };
    }
}
