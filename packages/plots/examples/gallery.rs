//! Renders one chart of each kind into a directory, to eyeball the look:
//! `cargo run -p fairshare-plots --example gallery -- /tmp/gallery`.

use std::path::PathBuf;

use fairshare_plots::{render, Bar, BarGroup, Chart, Series};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "gallery".into()));
    let loss = |name: &str, start: f64, rate: f64| {
        let points: Vec<(f64, f64)> = (0..30)
            .map(|r| (f64::from(r), start * (-rate * f64::from(r)).exp() + 0.4))
            .collect();
        let band = points
            .iter()
            .map(|&(x, y)| (x, y - 0.08, y + 0.08))
            .collect();
        Series {
            name: name.into(),
            points,
            band,
        }
    };
    let line = Chart::Line {
        title: "Validation loss per round".into(),
        x_label: "round".into(),
        y_label: "loss".into(),
        series: vec![
            loss("shapley", 2.0, 0.12),
            loss("equal split", 2.0, 0.08),
            loss("data size", 2.1, 0.10),
        ],
    };
    let scatter = Chart::Scatter {
        title: "Reward against contribution".into(),
        x_label: "Shapley value".into(),
        y_label: "reward (utoken)".into(),
        series: ["honest", "free rider", "noisy", "colluding", "late"]
            .iter()
            .enumerate()
            .map(|(i, name)| Series {
                name: (*name).into(),
                points: (0..8)
                    .map(|k| {
                        let x = f64::from(k) * 0.1 + i as f64 * 0.05;
                        (x, 1000.0 * x + 80.0 * (f64::from(k) * 1.7).sin())
                    })
                    .collect(),
                band: vec![],
            })
            .collect(),
    };
    let bars = Chart::Bars {
        title: "Fairness by allocation scheme".into(),
        y_label: "change vs. equal split".into(),
        groups: ["gini", "participation", "burden"]
            .iter()
            .zip([0.12, -0.05, 0.3])
            .map(|(label, base)| BarGroup {
                label: (*label).into(),
                bars: ["shapley", "loo", "data size"]
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        let value = base * (1.0 + i as f64) - 0.1;
                        Bar {
                            series: (*s).into(),
                            value,
                            ci: Some((value - 0.03, value + 0.04)),
                        }
                    })
                    .collect(),
            })
            .collect(),
    };
    for (stem, chart) in [("line", line), ("scatter", scatter), ("bars", bars)] {
        for path in render(&chart, &dir.join(stem))? {
            println!("{}", path.display());
        }
    }
    Ok(())
}
