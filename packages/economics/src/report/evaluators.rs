//! The evaluator sections of `summary.md`: the layer's parameters, evaluator incentives
//! (honest and lazy), the collusion experiment with the colluders' expected profit and its
//! break-even, and the false-positive rate of the harmful verdict. Every verdict is computed
//! from the confidence intervals.

use std::fmt::Write;

use fairshare_protocol::tdist::critical;

use super::claims::sign;
use super::markdown::{pct, scaled};
use crate::sim::decimals::unsigned_f64;
use crate::sim::false_positive::FalsePositiveReport;
use crate::sim::{Role, Scheme, SimReport};
use crate::stats::Summary;

/// `mean [low, high]` in thousands of utoken.
fn k(s: Summary) -> String {
    scaled(s, 1e-3).fmt(1)
}

/// `s − x`, interval and all.
fn minus(s: Summary, x: f64) -> Summary {
    Summary {
        mean: s.mean - x,
        low: s.low - x,
        high: s.high - x,
        ..s
    }
}

/// A share as a percentage with its interval, to one decimal.
fn share(s: Summary) -> String {
    share_to(s, 1)
}

/// A share as a percentage with its interval, to `d` decimals (a share is never below 0).
fn share_to(s: Summary, d: usize) -> String {
    let p = scaled(s, 100.0);
    if !p.mean.is_finite() {
        "n/a".into()
    } else if p.low.is_finite() {
        format!("{:.d$}% [{:.d$}%, {:.d$}%]", p.mean, p.low.max(0.0), p.high)
    } else {
        format!("{:.d$}%", p.mean)
    }
}

/// "holds" when the whole interval is on the wanted side of zero.
fn sided(s: &Summary, positive: bool) -> &'static str {
    match (sign(s), positive) {
        (Some(true), true) | (Some(false), false) => "holds",
        (Some(_), _) => "does not hold",
        (None, _) => "inconclusive (interval contains 0)",
    }
}

/// The layer's parameters and the noise model, in one paragraph.
fn parameters(out: &mut String, report: &SimReport) {
    let c = &report.config;
    let e = &c.evaluation;
    let t = critical(c.reward_params().harm_alpha, c.dof())
        .map(|t| format!("{:.3}", unsigned_f64(t)))
        .unwrap_or_else(|| "n/a".into());
    let _ = writeln!(
        out,
        "Each cohort is an on-chain round with a panel of {} evaluators and a quorum of {} revealed reports. Every evaluator bonds {} utoken per round, spends **{} utoken of compute per cohort it evaluates (an assumption, not a measurement: the tables show the pay it is weighed against)** and forgoes {}% of its bond per round as opportunity cost. The evaluators' pool is {}% of the budget, paid by bond × agreement to evaluators whose deviation Σ|φₑ − φ*| is within {}% of the round's Σ|φ*|; beyond that an evaluator is an outlier (unpaid), beyond {}% deviant (slashed {}% of its bond); a no-show forfeits {}%. Evaluators measure on the same validation text, so its sampling noise (sd {}·A per coalition utility) is shared; each evaluator adds its own error (sd {}·A). Standard errors are estimated from {} validation batches (ν = {}); verdicts test at α = {} (t = {}).\n",
        c.evaluators,
        e.quorum,
        e.bond_utoken,
        e.compute_cost_utoken,
        100.0 * e.bond_opportunity_rate,
        100.0 * e.share,
        100.0 * e.outlier_fraction,
        100.0 * e.slash_outlier_above,
        100.0 * e.slash_outlier,
        100.0 * e.slash_no_show,
        c.eval_noise,
        c.evaluator_noise,
        c.validation_batches,
        c.dof(),
        c.rewards.harm_alpha,
        t
    );
}

fn incentives(out: &mut String, report: &SimReport) {
    let c = &report.config;
    let honest = report.scheme(Scheme::ShapleyExact);
    if honest.is_none() && report.lazy.is_empty() {
        return;
    }
    out.push_str("### Evaluator incentives\n\n");
    let _ = writeln!(
        out,
        "Net pay per cohort served = pay − slash − compute − bond opportunity cost, under `shapley_exact`; lazy evaluators spend no compute. Each lazy row is a run of {} rounds in which one of the {} evaluators is lazy.\n",
        c.lazy.rounds, c.evaluators
    );
    out.push_str("| evaluator | net per cohort (k utoken) | pay per cohort (k utoken) | slash per cohort (k utoken) | reports judged outlier or deviant | honest seats' net on that panel (k utoken) | rounds failed (no quorum) |\n|---|---|---|---|---|---|---|\n");
    if let Some(s) = honest {
        let _ = writeln!(
            out,
            "| {} — all-honest panel, main runs ({} rounds) | {} | {} | 0 | {} | — | 0 |",
            Role::Honest.describe(),
            c.rounds,
            k(s.get("evaluator_payoff")),
            k(s.get("evaluator_reward")),
            share(s.get("evaluator_outlier_rate")),
        );
    }
    for row in &report.lazy {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            row.role.describe(),
            k(row.net_utoken),
            k(row.reward_utoken),
            k(row.slash_utoken),
            share(row.outlier_rate),
            k(row.honest_net_utoken),
            share(row.failed_rate),
        );
    }
    out.push('\n');
    if let Some(s) = honest {
        let net = s.get("evaluator_payoff");
        let _ = writeln!(
            out,
            "- **Honest evaluators' net pay is positive**: {} — {} k utoken per cohort; honest evaluation pays as long as its compute costs less than {} k utoken per cohort (its pay less the bond's opportunity cost).",
            sided(&net, true),
            k(net),
            k(minus(
                s.get("evaluator_reward"),
                c.evaluation.bond_opportunity_rate * c.evaluation.bond_utoken as f64
            ))
        );
    }
    let e = &c.evaluation;
    let per_cohort_cost = e.compute_cost_utoken + e.bond_opportunity_rate * e.bond_utoken as f64;
    if per_cohort_cost > 0.0 {
        let pool = e.share * c.rewards.budget_utoken as f64;
        let _ = writeln!(
            out,
            "- An honest panel of m evaluators in full agreement shares {:.0} utoken per cohort, {:.0}/m each, against {:.0} utoken of compute and bond cost each: honest evaluation pays on panels of fewer than {:.1} evaluators at these costs (the collusion table below shows the panels of {}).",
            pool,
            pool,
            per_cohort_cost,
            pool / per_cohort_cost,
            panel_list(report),
        );
    }
    for row in &report.lazy {
        let _ = writeln!(
            out,
            "- **{} loses**: {} — {} k utoken per cohort.",
            row.role.describe(),
            sided(&row.net_utoken, false),
            k(row.net_utoken)
        );
    }
    if let Some(row) = report
        .lazy
        .iter()
        .find(|r| r.role == Role::NoShow && r.failed_rate.mean > 0.0)
    {
        let _ = writeln!(
            out,
            "- With {} evaluators and a quorum of {}, one no-show leaves too few reports: {} of its rounds failed, and the honest evaluators of that panel net {} k utoken per cohort (their compute is spent, nobody is paid). A panel larger than the quorum settles without it.",
            row.evaluators,
            c.evaluation.quorum,
            share(row.failed_rate),
            k(row.honest_net_utoken)
        );
    }
    out.push('\n');
}

fn collusion_table(out: &mut String, report: &SimReport) {
    let c = &report.config;
    let e = &c.evaluation;
    out.push_str("## Colluding evaluators\n\n");
    let _ = writeln!(
        out,
        "A dedicated experiment under `shapley_exact` ({} rounds, same populations): for panels of {} evaluators, a colluding minority and a colluding majority report `φ + ({} − 1)·|φ|` for a partner group ({:.0}% of honest parties) and their measurement for everyone else. A lie whose φ does not follow from the liar's own committed utility table is struck out and slashed {}% of its bond ({} utoken) by an on-chain dispute with certainty (the challenger's deposit of {} utoken comes back with {}% of the slash), so rational colluders fabricate a table consistent with their φ (raise U(S) of every coalition holding a partner); only re-execution of U(S) on the validation text revealed after settlement, followed by a DAO slashing proposal, catches that. Gains are against the same seed with an all-honest panel of the same size; \"per lying round\" divides by the rounds in which the colluders fabricated a score.\n",
        c.collusion.rounds,
        panel_list(report),
        c.collusion.factor,
        100.0 * c.collusion.partner_fraction,
        100.0 * e.slash_disputed,
        (e.slash_disputed * e.bond_utoken as f64).floor(),
        e.dispute_deposit_utoken,
        100.0 * e.challenger_share,
    );
    out.push_str("| colluding evaluators | partners' reward gain | partners' gain per lying round (k utoken) | colluders' pay change per lying round (k utoken) | a colluder's net per cohort (k utoken) | colluders' reports judged outlier or deviant | an honest evaluator's net per cohort (k utoken) | the same on an all-honest panel (k utoken) |\n|---|---|---|---|---|---|---|---|\n");
    for row in &report.collusion {
        let _ = writeln!(
            out,
            "| {} of {} ({}) | {} | {} | {} | {} | {} | {} | {} |",
            row.colluders,
            row.evaluators,
            if row.majority() {
                "majority"
            } else {
                "minority"
            },
            pct(&row.partner_gain),
            k(row.partner_gain_per_lie_utoken),
            k(row.pay_change_per_lie_utoken),
            k(row.colluder_net_utoken),
            share(row.colluder_outlier_rate),
            k(row.honest_net_utoken),
            k(row.baseline_net_utoken),
        );
    }
    out.push('\n');
    for row in report.collusion.iter().filter(|r| !r.majority()) {
        let verdict = match sign(&row.partner_gain) {
            Some(true) => "does not hold — the partners gain",
            Some(false) => "holds — the partners lose",
            None => "holds — the interval includes 0",
        };
        let _ = writeln!(
            out,
            "- **A colluding minority ({} of {}) gains its partners nothing**: {}: {}; the colluders themselves net {} k utoken per cohort against {} k utoken when honest.",
            row.colluders,
            row.evaluators,
            verdict,
            pct(&row.partner_gain),
            k(row.colluder_net_utoken),
            k(row.baseline_net_utoken),
        );
    }
    if report.collusion.iter().any(|r| !r.majority()) {
        let _ = writeln!(
            out,
            "- A minority cannot move a consensus outside the range of the honest values, but it can pick the most favourable of them: its leverage is the honest evaluators' own disagreement (evaluator_noise = {}·A here); with evaluator_noise = 0 it is exactly nothing (a unit test checks that every participant is then paid the same as with an honest panel).",
            c.evaluator_noise
        );
    }
    for row in report.collusion.iter().filter(|r| r.majority()) {
        let _ = writeln!(
            out,
            "- A colluding majority ({} of {}) sets the median: partners' reward {}; the honest minority's net falls to {} k utoken per cohort ({} of its reports judged outlier or deviant).",
            row.colluders,
            row.evaluators,
            pct(&row.partner_gain),
            k(row.honest_net_utoken),
            share(row.honest_outlier_rate),
        );
    }
    out.push('\n');
}

fn panel_list(report: &SimReport) -> String {
    let mut panels: Vec<usize> = report.collusion.iter().map(|r| r.evaluators).collect();
    panels.dedup();
    let names: Vec<String> = panels.iter().map(|p| p.to_string()).collect();
    match names.len() {
        0 => String::new(),
        1 => names[0].clone(),
        n => format!("{} and {}", names[..n - 1].join(", "), names[n - 1]),
    }
}

fn break_even(out: &mut String, report: &SimReport) {
    let Some(first) = report.collusion.first() else {
        return;
    };
    let e = &report.config.evaluation;
    out.push_str("### Colluders' expected profit and the break-even\n\n");
    let _ = writeln!(
        out,
        "Per round in which they lie: partners' gain (assumed handed to the colluders in full) + the colluders' change of net pay as evaluators − p_detect × {} × bond ({} utoken) × colluders, where p_detect is the chance that re-execution catches the fabricated table that round. It is linear and decreasing in p_detect; the break-even p* is where it crosses zero (p* > 1: even certain detection does not deter at this bond; p* < 0: collusion loses money even undetected).\n",
        e.slash_disputed, e.bond_utoken
    );
    out.push_str("| colluding evaluators |");
    for p in &first.expected_profit_utoken {
        let _ = write!(out, " p_detect = {} (k utoken) |", p.p_detect);
    }
    out.push_str(" break-even p* |");
    for b in &first.break_even_bond_utoken {
        let _ = write!(out, " bond that deters at p = {} (k utoken) |", b.p_detect);
    }
    out.push_str("\n|---|");
    for _ in 0..first.expected_profit_utoken.len() + 1 + first.break_even_bond_utoken.len() {
        out.push_str("---|");
    }
    out.push('\n');
    for row in &report.collusion {
        let _ = write!(
            out,
            "| {} of {} ({}) |",
            row.colluders,
            row.evaluators,
            if row.majority() {
                "majority"
            } else {
                "minority"
            }
        );
        for p in &row.expected_profit_utoken {
            let _ = write!(out, " {} |", k(p.value));
        }
        let _ = write!(out, " {} |", row.break_even_p.fmt(3));
        for b in &row.break_even_bond_utoken {
            let bond = if row.break_even_p.high < 0.0 {
                "any".to_string()
            } else {
                k(b.value)
            };
            let _ = write!(out, " {bond} |");
        }
        out.push('\n');
    }
    out.push('\n');
    for row in &report.collusion {
        let undetected = row
            .expected_profit_utoken
            .iter()
            .find(|x| x.p_detect == 0.0)
            .map(|x| x.value)
            .unwrap_or_else(|| crate::stats::summarize(&[]));
        if !row.majority() {
            let word = match sign(&undetected) {
                Some(false) => "loses money even when never caught",
                Some(true) => "profits when never caught",
                None => "breaks even at best when never caught",
            };
            let _ = writeln!(
                out,
                "- **{} of {} (minority)** {}: {} k utoken per lying round at p_detect = 0.",
                row.colluders,
                row.evaluators,
                word,
                k(undetected)
            );
            continue;
        }
        let turns = row
            .expected_profit_utoken
            .iter()
            .find(|x| sign(&x.value) == Some(false))
            .map(|x| {
                format!(
                    "of the swept values, p_detect = {} is the first at which its whole interval is below zero",
                    x.p_detect
                )
            })
            .unwrap_or_else(|| "at no swept p_detect is its whole interval below zero".into());
        let _ = writeln!(
            out,
            "- **{} of {} (majority)**: break-even p* = {} with bonds of {} utoken; {}. Without re-execution (p_detect = 0) the consistent fabrication is free and nets the group {} k utoken per lying round; a lie inconsistent with its own table would instead cost each liar {} utoken for certain.",
            row.colluders,
            row.evaluators,
            row.break_even_p.fmt(3),
            e.bond_utoken,
            turns,
            k(undetected),
            (e.slash_disputed * e.bond_utoken as f64).floor(),
        );
    }
    out.push('\n');
}

fn false_positives(out: &mut String, fp: &FalsePositiveReport, report: &SimReport) {
    let c = &report.config;
    out.push_str("## False positives of the harmful verdict\n\n");
    let _ = writeln!(
        out,
        "{} cohorts per seed of {} honest parties of the population plus one honest member whose update is worth exactly nothing, measured by {} honest evaluators under `shapley_exact` with the noise model above. The share of those worthless updates judged **harmful** (stake slashed {}%): the old rule is `φ + se < 0` on the separate medians of the reported φ and se; the new rule is `φ + t(α, ν)·se < 0` on the evaluators' consensus, ν = {}. (A worthless update is below the free-rider threshold by design; this counts only the harmful verdict.)\n",
        fp.cohorts_per_seed,
        c.cohort_size.saturating_sub(1),
        c.evaluators,
        100.0 * c.rewards.slash_harmful,
        fp.dof
    );
    out.push_str("| rule | judged harmful |\n|---|---|\n");
    let _ = writeln!(
        out,
        "| old: one standard error | {} |",
        share_to(fp.old_rule, 2)
    );
    for l in &fp.new_rule {
        let mark = if (l.alpha - fp.alpha).abs() < 1e-12 {
            " (configured)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "| new: α = {}{} | {} |",
            l.alpha,
            mark,
            share_to(l.rate, 2)
        );
    }
    out.push('\n');
    if let Some(l) = fp.at_configured_alpha() {
        let verdict = if l.rate.low <= l.alpha {
            "holds"
        } else {
            "does not hold"
        };
        let _ = writeln!(
            out,
            "- **At most α of worthless honest updates are convicted** (α = {}): {} — {} under the new rule, against {} under the old one.\n",
            l.alpha,
            verdict,
            share_to(l.rate, 2),
            share_to(fp.old_rule, 2)
        );
    }
}

/// Everything about evaluators, in report order.
pub fn sections(out: &mut String, report: &SimReport) {
    out.push_str("## Evaluators\n\n");
    parameters(out, report);
    incentives(out, report);
    if !report.collusion.is_empty() {
        collusion_table(out, report);
        break_even(out, report);
    }
    if let Some(fp) = &report.false_positives {
        false_positives(out, fp, report);
    }
}
