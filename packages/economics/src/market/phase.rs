//! Phase diagrams (issue #15, item 8): every claim's verdict over two parameter planes,
//! (participation cost × budget) and (data spread × adversary share), each cell a smaller
//! market run of its own (`fairshare simulate phase`).

use serde::{Deserialize, Serialize};

use super::config::{MarketConfig, MarketError, MarketScheme};
use super::experiment::{market_jobs, simulate_market};
use super::verdict::{claims, incentives, Label};

/// One cell: its coordinates and each claim's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// x value.
    pub x: f64,
    /// y value.
    pub y: f64,
    /// (claim, verdict label, code) in the order of [`CLAIMS`].
    pub verdicts: Vec<(String, String, f64)>,
    /// Shapley's Spearman ρ minus the best baseline's (mean over seeds).
    pub fairness_margin: f64,
    /// Share joining at full effort under Shapley.
    pub join_share: f64,
}

/// One plane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plane {
    /// Short name.
    pub name: String,
    /// x axis.
    pub x_label: String,
    /// y axis.
    pub y_label: String,
    /// x values.
    pub xs: Vec<f64>,
    /// y values.
    pub ys: Vec<f64>,
    /// Cells, row by row (y outer, x inner).
    pub cells: Vec<Cell>,
}

/// The phase diagrams.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseReport {
    /// The base configuration of every cell (before the plane's two values are set).
    pub base: MarketConfig,
    /// The planes.
    pub planes: Vec<Plane>,
    /// Wall time, seconds.
    pub wall_time_s: f64,
}

/// Claims in the diagrams.
pub const CLAIMS: [&str; 4] = [
    "Fairness",
    "Participation stability",
    "Burden concentration (net)",
    "Incentive compatibility",
];

/// The base configuration of the phase cells: a smaller market.
pub fn base(cfg: &MarketConfig) -> MarketConfig {
    let agents = 300;
    MarketConfig {
        agents,
        rounds: 100,
        seeds: 4,
        probes: 15,
        tail_rounds: 25,
        reruns: 0,
        budget_utoken: cfg.budget_utoken * agents as f64 / cfg.agents as f64,
        evaluators: super::config::EvaluatorConfig {
            pool: 20,
            ..cfg.evaluators
        },
        schemes: vec![
            MarketScheme::Equal,
            MarketScheme::DataSize,
            MarketScheme::Loo,
            MarketScheme::Shapley,
        ],
        ..cfg.clone()
    }
}

type Setter = fn(&mut MarketConfig, f64);
/// A plane: name, x label, y label, x values, y values and how each sets the configuration.
type PlaneSpec = (
    &'static str,
    &'static str,
    &'static str,
    Vec<f64>,
    Vec<f64>,
    Setter,
    Setter,
);

/// Cells in all.
pub fn phase_jobs(base: &MarketConfig) -> u64 {
    50 * market_jobs(base)
}

/// Runs both planes from `base`, ticking once per run.
pub fn phase(base: &MarketConfig, tick: &(dyn Fn() + Sync)) -> Result<PhaseReport, MarketError> {
    base.validate()?;
    let start = std::time::Instant::now();
    let budget0 = base.budget_utoken;
    let planes: [PlaneSpec; 2] = [
        (
            "cost_budget",
            "participation cost (× default compute cost)",
            "budget per round (× default)",
            vec![0.25, 0.5, 1.0, 2.0, 4.0],
            vec![0.25, 0.5, 1.0, 2.0, 4.0],
            |c, x| c.cost_scale = x,
            |c, y| c.budget_utoken *= y,
        ),
        (
            "spread_adversaries",
            "data spread (σ of log tokens)",
            "adversary share",
            vec![0.25, 0.5, 1.0, 1.5, 2.0],
            vec![0.0, 0.05, 0.1, 0.2, 0.3],
            |c, x| c.data_spread = x,
            |c, y| c.adversary_share = y,
        ),
    ];
    let mut out = Vec::new();
    for (name, xl, yl, xs, ys, sx, sy) in planes {
        let mut cells = Vec::new();
        for &y in &ys {
            for &x in &xs {
                let mut c = MarketConfig {
                    budget_utoken: budget0,
                    ..base.clone()
                };
                sx(&mut c, x);
                sy(&mut c, y);
                let r = simulate_market(&c, tick)?;
                let mut verdicts: Vec<(String, String, f64)> = claims(&r)
                    .iter()
                    .map(|cl| {
                        (
                            cl.name.to_string(),
                            cl.verdict.text().to_string(),
                            cl.verdict.code(),
                        )
                    })
                    .collect();
                let ic = r
                    .scheme("shapley")
                    .map_or(Label::NotAssessed, |s| incentives(s).verdict);
                verdicts.push((CLAIMS[3].into(), ic.text().into(), ic.code()));
                let sp = |n: &str| {
                    r.scheme(n)
                        .map_or(f64::NAN, |s| s.get("fairness_spearman").mean)
                };
                let best = ["equal", "data_size", "loo"]
                    .iter()
                    .map(|n| sp(n))
                    .fold(f64::NEG_INFINITY, f64::max);
                cells.push(Cell {
                    x,
                    y,
                    verdicts,
                    fairness_margin: sp("shapley") - best,
                    join_share: r
                        .scheme("shapley")
                        .map_or(f64::NAN, |s| s.get("join_share").mean),
                });
            }
        }
        out.push(Plane {
            name: name.into(),
            x_label: xl.into(),
            y_label: yl.into(),
            xs,
            ys,
            cells,
        });
    }
    Ok(PhaseReport {
        base: base.clone(),
        planes: out,
        wall_time_s: start.elapsed().as_secs_f64(),
    })
}

/// Where claim `claim` holds on `plane`, in words (naming the region, not a point).
pub fn region(plane: &Plane, claim: &str) -> String {
    let holds = |c: &Cell| {
        c.verdicts
            .iter()
            .find(|(n, _, _)| n == claim)
            .is_some_and(|(_, _, code)| *code >= 1.0)
    };
    let fails = |c: &Cell| {
        c.verdicts
            .iter()
            .find(|(n, _, _)| n == claim)
            .is_some_and(|(_, _, code)| *code < 0.0)
    };
    let partly = |c: &Cell| {
        c.verdicts
            .iter()
            .find(|(n, _, _)| n == claim)
            .is_some_and(|(_, _, code)| *code > 0.0 && *code < 1.0)
    };
    let n = plane.cells.len();
    let h = plane.cells.iter().filter(|c| holds(c)).count();
    let f = plane.cells.iter().filter(|c| fails(c)).count();
    let p = plane.cells.iter().filter(|c| partly(c)).count();
    if h == n {
        return format!(
            "holds in all {n} cells of {} × {}",
            plane.x_label, plane.y_label
        );
    }
    if h == 0 {
        return format!(
            "holds in none of the {n} cells of {} × {} (partly holds in {p}, fails in {f}, unresolved in {})",
            plane.x_label,
            plane.y_label,
            n - f - p
        );
    }
    let rows: Vec<String> = plane
        .ys
        .iter()
        .map(|&y| {
            let xs: Vec<String> = plane
                .cells
                .iter()
                .filter(|c| c.y == y && holds(c))
                .map(|c| format!("{}", c.x))
                .collect();
            format!(
                "{} = {}: {}",
                plane.y_label.split(" (").next().unwrap_or(""),
                y,
                if xs.is_empty() {
                    "nowhere".to_string()
                } else {
                    format!(
                        "{} ∈ {{{}}}",
                        plane.x_label.split(" (").next().unwrap_or("x"),
                        xs.join(", ")
                    )
                }
            )
        })
        .collect();
    format!(
        "holds in {h} of {n} cells of {} × {} (partly holds in {p}, fails in {f}) — {}",
        plane.x_label,
        plane.y_label,
        rows.join("; ")
    )
}

/// A plane as a Markdown grid, one symbol per cell and claim: ✓ holds, ◐ partly, · unresolved
/// (inconclusive or not established), ✗ does not hold.
pub fn grid(plane: &Plane, claim: &str) -> String {
    let mut s = format!("| {} ↓ / {} → |", plane.y_label, plane.x_label);
    for x in &plane.xs {
        s.push_str(&format!(" {x} |"));
    }
    s.push_str("\n|---|");
    for _ in &plane.xs {
        s.push_str("---|");
    }
    s.push('\n');
    for &y in plane.ys.iter().rev() {
        s.push_str(&format!("| **{y}** |"));
        for &x in &plane.xs {
            let sym = plane
                .cells
                .iter()
                .find(|c| c.x == x && c.y == y)
                .and_then(|c| c.verdicts.iter().find(|(n, _, _)| n == claim))
                .map_or("", |(_, _, code)| match code {
                    c if *c >= 1.0 => "✓",
                    c if *c > 0.0 => "◐",
                    c if *c < 0.0 => "✗",
                    _ => "·",
                });
            s.push_str(&format!(" {sym} |"));
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plane(codes: &[f64]) -> Plane {
        let xs = vec![1.0, 2.0];
        let ys = vec![10.0, 20.0];
        let mut cells = Vec::new();
        let mut i = 0;
        for &y in &ys {
            for &x in &xs {
                cells.push(Cell {
                    x,
                    y,
                    verdicts: vec![("Fairness".into(), "x".into(), codes[i])],
                    fairness_margin: 0.0,
                    join_share: 0.0,
                });
                i += 1;
            }
        }
        Plane {
            name: "p".into(),
            x_label: "cost (×)".into(),
            y_label: "budget (×)".into(),
            xs,
            ys,
            cells,
        }
    }

    #[test]
    fn region_names_where_a_claim_holds() {
        let p = plane(&[1.0, -1.0, 1.0, 1.0]);
        let r = region(&p, "Fairness");
        assert!(r.starts_with("holds in 3 of 4 cells"), "{r}");
        assert!(r.contains("budget = 10: cost ∈ {1}"), "{r}");
        assert!(r.contains("budget = 20: cost ∈ {1, 2}"), "{r}");
        assert!(region(&plane(&[1.0; 4]), "Fairness").starts_with("holds in all 4"));
        let g = grid(&p, "Fairness");
        assert!(g.contains("| **10** | ✓ | ✗ |"), "{g}");
    }
}
