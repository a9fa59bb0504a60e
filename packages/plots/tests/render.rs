//! End-to-end rendering: every chart kind to real SVG and PNG files, and every way a chart is rejected.

use std::collections::HashSet;
use std::path::Path;

use fairshare_plots::{
    png_bytes, render, render_with_size, svg_string, Bar, BarGroup, Chart, PlotError, Series, Size,
};
use image::{ImageFormat, Rgb, RgbImage};

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
/// The first three palette colours, i.e. series 0, 1 and 2.
const BLUE: Rgb<u8> = Rgb([0x00, 0x72, 0xB2]);
const VERMILLION: Rgb<u8> = Rgb([0xD5, 0x5E, 0x00]);
const GREEN: Rgb<u8> = Rgb([0x00, 0x9E, 0x73]);

fn line(title: &str, series: Vec<Series>) -> Chart {
    Chart::Line {
        title: title.into(),
        x_label: "round".into(),
        y_label: "validation loss".into(),
        series,
    }
}

fn scatter(title: &str, series: Vec<Series>) -> Chart {
    Chart::Scatter {
        title: title.into(),
        x_label: "contribution".into(),
        y_label: "reward".into(),
        series,
    }
}

/// Checks the PNG file's signature and size and returns its pixels.
fn read_png(path: &Path, size: Size) -> RgbImage {
    let bytes = std::fs::read(path).unwrap();
    assert!(
        bytes.starts_with(PNG_SIGNATURE),
        "{} is not a PNG",
        path.display()
    );
    let img = image::load_from_memory_with_format(&bytes, ImageFormat::Png)
        .unwrap()
        .to_rgb8();
    assert_eq!(img.dimensions(), (size.width_px, size.height_px));
    img
}

fn distinct_colours(img: &RgbImage) -> usize {
    img.pixels().map(|p| p.0).collect::<HashSet<_>>().len()
}

/// Pixels of exactly colour `c`, as (x, y).
fn pixels_of(img: &RgbImage, c: Rgb<u8>) -> Vec<(u32, u32)> {
    img.enumerate_pixels()
        .filter(|(_, _, p)| **p == c)
        .map(|(x, y, _)| (x, y))
        .collect()
}

/// Renders into a fresh nested directory and checks both files; returns the PNG pixels and SVG text.
fn render_checked(chart: &Chart) -> (RgbImage, String) {
    let dir = tempfile::tempdir().unwrap();
    let stem = dir.path().join("figures/nested/chart");
    let paths = render(chart, &stem).unwrap();
    assert_eq!(
        paths,
        vec![stem.with_extension("svg"), stem.with_extension("png")]
    );
    let img = read_png(&paths[1], Size::default());
    assert!(
        distinct_colours(&img) > 50,
        "PNG looks blank: {} colours",
        distinct_colours(&img)
    );
    let svg = std::fs::read_to_string(&paths[0]).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains(r#"width="900" height="600""#));
    (img, svg)
}

#[test]
fn line_chart_with_bands_renders_every_series_and_label() {
    let mut shapley = Series::new(
        "shapley",
        [(0.0, 2.0), (1.0, 1.2), (2.0, 0.9), (3.0, 0.8)].to_vec(),
    );
    shapley.band = vec![(0.0, 1.8, 2.2), (3.0, 0.6, 1.0), (1.0, 1.0, 1.4)];
    let equal = Series::new(
        "equal split",
        vec![(0.0, 2.0), (1.0, 1.6), (2.0, 1.4), (3.0, 1.3)],
    );
    let chart = line("Validation loss per round", vec![shapley, equal]);
    let (img, svg) = render_checked(&chart);
    for text in [
        "Validation loss per round",
        "shapley",
        "equal split",
        "round",
        "validation loss",
    ] {
        assert!(svg.contains(text), "SVG lacks {text:?}");
    }
    assert!(pixels_of(&img, BLUE).len() > 100, "series 0 not drawn");
    assert!(
        pixels_of(&img, VERMILLION).len() > 100,
        "series 1 not drawn"
    );
    // The band is a translucent blue: bluish pixels that are not the line colour.
    let band = img
        .pixels()
        .filter(|p| {
            let [r, _, b] = p.0.map(i32::from);
            b > r + 20 && b > 150 && **p != BLUE
        })
        .count();
    assert!(band > 1000, "band not drawn ({band} pixels)");
}

#[test]
fn scatter_chart_gives_each_series_its_colour() {
    let chart = scatter(
        "Reward against contribution",
        vec![
            Series::new("honest", [(0.1, 10.0), (0.5, 50.0), (0.9, 90.0)].to_vec()),
            Series::new("free rider", [(0.0, 30.0), (0.05, 35.0)].to_vec()),
            Series::new("noisy", [(0.3, 20.0), (0.7, 80.0)].to_vec()),
        ],
    );
    let (img, svg) = render_checked(&chart);
    for text in [
        "Reward against contribution",
        "honest",
        "free rider",
        "noisy",
    ] {
        assert!(svg.contains(text), "SVG lacks {text:?}");
    }
    for (c, name) in [
        (BLUE, "honest"),
        (VERMILLION, "free rider"),
        (GREEN, "noisy"),
    ] {
        assert!(pixels_of(&img, c).len() > 30, "{name} markers missing");
    }
}

#[test]
fn grouped_bars_render_with_legend_labels_and_error_bars() {
    let chart = Chart::Bars {
        title: "Gini by scheme".into(),
        y_label: "Gini coefficient".into(),
        groups: vec![
            BarGroup {
                label: "round 1".into(),
                bars: vec![
                    Bar::new("shapley", 0.3, Some((0.25, 0.35))),
                    Bar::new("leave-one-out", 0.4, None),
                ],
            },
            BarGroup {
                label: "round 2".into(),
                bars: vec![
                    Bar::new("shapley", 0.2, Some((0.1, 0.3))),
                    Bar::new("leave-one-out", 0.5, Some((0.45, 0.55))),
                ],
            },
        ],
    };
    let (img, svg) = render_checked(&chart);
    for text in [
        "Gini by scheme",
        "Gini coefficient",
        "round 1",
        "round 2",
        "shapley",
        "leave-one-out",
    ] {
        assert!(svg.contains(text), "SVG lacks {text:?}");
    }
    assert!(pixels_of(&img, BLUE).len() > 2000, "shapley bars missing");
    assert!(
        pixels_of(&img, VERMILLION).len() > 2000,
        "leave-one-out bars missing"
    );
    // Four bars, two of one series and two of the other, plus a legend swatch each.
    assert_eq!(svg.matches(r##"fill="#0072B2""##).count(), 3, "{svg}");
    assert_eq!(svg.matches(r##"fill="#D55E00""##).count(), 3);
    // Three error bars of three strokes each.
    assert!(svg.matches(r##"stroke="#000000""##).count() >= 9);
}

#[test]
fn negative_bars_hang_below_positive_ones() {
    // One series, so no legend: every blue pixel belongs to a bar.
    let chart = Chart::Bars {
        title: "Change vs. equal split".into(),
        y_label: "delta".into(),
        groups: vec![
            BarGroup {
                label: "gain".into(),
                bars: vec![Bar::new("delta", 2.0, None)],
            },
            BarGroup {
                label: "loss".into(),
                bars: vec![Bar::new("delta", -1.0, Some((-1.5, -0.5)))],
            },
        ],
    };
    let (img, _) = render_checked(&chart);
    let blue = pixels_of(&img, BLUE);
    let mid = img.width() / 2;
    let rows = |left: bool| -> Vec<u32> {
        blue.iter()
            .filter(|(x, _)| (*x < mid) == left)
            .map(|&(_, y)| y)
            .collect()
    };
    let (gain, loss) = (rows(true), rows(false));
    assert!(!gain.is_empty() && !loss.is_empty());
    let gain_bottom = *gain.iter().max().unwrap();
    let loss_top = *loss.iter().min().unwrap();
    assert!(
        loss_top + 2 >= gain_bottom,
        "negative bar (top y {loss_top}) should start where the positive one ends (y {gain_bottom})"
    );
    // The positive bar is twice as tall as the negative one.
    let height = |rows: &[u32]| rows.iter().max().unwrap() - rows.iter().min().unwrap();
    let ratio = f64::from(height(&gain)) / f64::from(height(&loss));
    assert!((1.8..2.2).contains(&ratio), "height ratio {ratio}");
}

#[test]
fn single_point_series_render_as_markers() {
    for chart in [
        line(
            "One round",
            vec![Series::new("only", [(1.0, 0.5)].to_vec())],
        ),
        scatter(
            "One client",
            vec![Series::new("only", [(1.0, 0.5)].to_vec())],
        ),
    ] {
        let (img, svg) = render_checked(&chart);
        assert!(!pixels_of(&img, BLUE).is_empty(), "point not drawn");
        assert!(svg.contains("One "));
    }
}

#[test]
fn all_equal_values_render() {
    let flat = line(
        "Flat",
        vec![
            Series::new("a", [(0.0, 3.0), (1.0, 3.0), (2.0, 3.0)].to_vec()),
            Series::new("b", [(0.0, 3.0), (1.0, 3.0)].to_vec()),
        ],
    );
    let (img, _) = render_checked(&flat);
    assert!(!pixels_of(&img, VERMILLION).is_empty());

    let same_x = scatter(
        "Same x",
        vec![Series::new("a", [(2.0, 1.0), (2.0, 5.0)].to_vec())],
    );
    render_checked(&same_x);

    let zeros = Chart::Bars {
        title: "Zeros".into(),
        y_label: "v".into(),
        groups: vec![BarGroup {
            label: "g".into(),
            bars: vec![
                Bar::new("a", 0.0, None),
                Bar::new("b", 0.0, Some((0.0, 0.0))),
            ],
        }],
    };
    render_checked(&zeros);
}

#[test]
fn nan_is_rejected_naming_series_and_index_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let chart = line(
        "Loss",
        vec![
            Series::new("good", [(0.0, 1.0)].to_vec()),
            Series::new(
                "diverged",
                [(0.0, 1.0), (1.0, 2.0), (2.0, f64::NAN)].to_vec(),
            ),
        ],
    );
    let err = render(&chart, &dir.path().join("out/loss")).unwrap_err();
    assert!(matches!(err, PlotError::NonFinite(_)), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("\"diverged\"") && msg.contains("point 2") && msg.contains("NaN"),
        "{msg}"
    );
    assert!(
        !dir.path().join("out").exists(),
        "rejected chart created files"
    );

    let bars = Chart::Bars {
        title: "t".into(),
        y_label: "y".into(),
        groups: vec![BarGroup {
            label: "g".into(),
            bars: vec![Bar::new("exploded", f64::INFINITY, None)],
        }],
    };
    let msg = svg_string(&bars, Size::default()).unwrap_err().to_string();
    assert!(
        msg.contains("\"exploded\"") && msg.contains("bar 0"),
        "{msg}"
    );
}

#[test]
fn empty_charts_are_no_data() {
    let empties = [
        line("No series", vec![]),
        scatter(
            "Empty series",
            vec![Series::new("a", [].to_vec()), Series::new("b", [].to_vec())],
        ),
        Chart::Bars {
            title: "No bars".into(),
            y_label: "y".into(),
            groups: vec![BarGroup {
                label: "g".into(),
                bars: vec![],
            }],
        },
    ];
    for chart in empties {
        let err = png_bytes(&chart, Size::default()).unwrap_err();
        assert!(matches!(err, PlotError::NoData(_)), "{err:?}");
    }
}

#[test]
fn custom_size_is_honoured_and_bad_sizes_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let size = Size {
        width_px: 640,
        height_px: 360,
    };
    let chart = line(
        "Small",
        vec![Series::new("a", [(0.0, 1.0), (1.0, 0.0)].to_vec())],
    );
    let paths = render_with_size(&chart, &dir.path().join("small"), size).unwrap();
    read_png(&paths[1], size);
    assert!(std::fs::read_to_string(&paths[0])
        .unwrap()
        .contains(r#"width="640" height="360""#));

    let tiny = Size {
        width_px: 10,
        height_px: 10,
    };
    let err = png_bytes(&chart, tiny).unwrap_err();
    assert!(matches!(err, PlotError::Size { .. }), "{err:?}");
}

#[test]
fn stem_keeps_its_dots_and_write_errors_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let chart = line("t", vec![Series::new("a", [(0.0, 1.0)].to_vec())]);
    let paths = render(&chart, &dir.path().join("loss.v2")).unwrap();
    assert_eq!(paths[0], dir.path().join("loss.v2.svg"));
    assert_eq!(paths[1], dir.path().join("loss.v2.png"));

    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let err = render(&chart, &blocker.join("chart")).unwrap_err();
    match err {
        PlotError::Io { path, .. } => assert_eq!(path, blocker),
        other => panic!("expected Io, got {other:?}"),
    }
}

#[test]
fn charts_round_trip_through_tagged_json() {
    let json = r#"{"kind":"scatter","title":"t","x_label":"x","y_label":"y",
                   "series":[{"name":"a","points":[[1.0,2.0]]}]}"#;
    let chart: Chart = serde_json::from_str(json).unwrap();
    assert_eq!(
        chart,
        scatter_xy("t", vec![Series::new("a", [(1.0, 2.0)].to_vec())])
    );
    let back = serde_json::to_string(&chart).unwrap();
    assert!(back.contains(r#""kind":"scatter""#) && back.contains(r#""band":[]"#));

    let bars = r#"{"kind":"bars","title":"t","y_label":"y",
                   "groups":[{"label":"g","bars":[{"series":"s","value":1.0,"ci":[0.5,1.5]}]}]}"#;
    let chart: Chart = serde_json::from_str(bars).unwrap();
    let Chart::Bars { groups, .. } = chart else {
        panic!("expected bars");
    };
    assert_eq!(groups[0].bars[0].ci, Some((0.5, 1.5)));
}

fn scatter_xy(title: &str, series: Vec<Series>) -> Chart {
    Chart::Scatter {
        title: title.into(),
        x_label: "x".into(),
        y_label: "y".into(),
        series,
    }
}

#[test]
fn the_font_is_found_on_this_machine() {
    let path = fairshare_plots::ensure_font().unwrap();
    assert!(path.is_file(), "{}", path.display());
}

fn heatmap(values: Vec<Vec<f64>>) -> Chart {
    Chart::Heatmap {
        title: "fairness holds".into(),
        x_label: "participation cost".into(),
        y_label: "budget".into(),
        xs: vec!["0.2".into(), "0.8".into()],
        ys: vec!["1".into(), "3".into()],
        values,
        range: Some((-1.0, 1.0)),
    }
}

#[test]
fn heatmap_colours_cells_by_value_and_prints_labels_and_values() {
    let chart = heatmap(vec![vec![1.0, -1.0], vec![0.5, f64::NAN]]);
    let (img, svg) = render_checked(&chart);
    for text in [
        "participation cost",
        "budget",
        "0.8",
        "1.00",
        "-1.00",
        "0.50",
    ] {
        assert!(svg.contains(text), "SVG lacks {text:?}");
    }
    // A holding cell is green, a failing one red, the missing one grey.
    let green = Rgb([26, 152, 80]);
    let red = Rgb([215, 48, 39]);
    let grey = Rgb([200, 200, 200]);
    for c in [green, red, grey] {
        assert!(pixels_of(&img, c).len() > 1000, "too few pixels of {c:?}");
    }
    // Each cell's colour is where its row and column put it: red right of green in the bottom row.
    let mean_x = |c| {
        let p = pixels_of(&img, c);
        p.iter().map(|(x, _)| f64::from(*x)).sum::<f64>() / p.len() as f64
    };
    assert!(mean_x(red) > mean_x(green));
    // The cells fill the plot: no empty column or row beyond the last label.
    let p = pixels_of(&img, red);
    let right_edge = p.iter().map(|(x, _)| *x).max().unwrap();
    assert!(
        right_edge > img.width() * 4 / 5,
        "right edge at {right_edge}"
    );

    // A single cell renders too.
    let one = Chart::Heatmap {
        title: String::new(),
        x_label: "x".into(),
        y_label: "y".into(),
        xs: vec!["a".into()],
        ys: vec!["b".into()],
        values: vec![vec![1.0]],
        range: None,
    };
    assert!(svg_string(&one, Size::default()).unwrap().contains("1.00"));
}

#[test]
fn heatmap_with_ragged_rows_or_infinite_cells_is_rejected() {
    let msg = svg_string(&heatmap(vec![vec![1.0, 0.0], vec![0.5]]), Size::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("row 1 has 1 values for 2"), "{msg}");
    let msg = svg_string(&heatmap(vec![vec![1.0]]), Size::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("1 rows of values for 2 row labels"), "{msg}");
    let err = svg_string(
        &heatmap(vec![vec![1.0, f64::INFINITY], vec![0.5, 0.0]]),
        Size::default(),
    )
    .unwrap_err();
    assert!(matches!(err, PlotError::NonFinite(_)), "{err}");
}
