//! Benchmark: wall time and peak memory of whole rounds on the embedded chain, against a
//! baseline of as many plain CW20 transfers measured in the same run.
//!
//! `cargo run --release -p fairshare-relayer --example round_bench -- 3 50 100`

use std::time::Instant;

use anyhow::Result;
use cosmwasm_std::{Addr, Decimal, HexBinary, Uint128};
use cw20::Cw20ExecuteMsg;
use cw_multi_test::Executor;
use fairshare_protocol::commitment::update_hash;
use fairshare_protocol::round_manager::{ParticipantScore, Report};
use fairshare_relayer::embedded::{DeployOptions, EmbeddedChain};

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Messages sent and seconds taken by one whole round with `n` participants.
fn round(n: usize) -> Result<(usize, f64)> {
    let app = cw_multi_test::App::default();
    let evaluators: Vec<Addr> = (0..3)
        .map(|i| app.api().addr_make(&format!("ev{i}")))
        .collect();
    let mut chain = EmbeddedChain::deploy(DeployOptions::with_evaluators(
        evaluators.iter().map(|a| a.to_string()).collect(),
        3,
    ))?;
    let keys: Vec<_> = (0..n).map(|i| chain.key(&format!("p{i}"))).collect();
    for k in &keys {
        chain.fund(k.address(), 1_000)?;
    }
    let bond = chain.rm_config()?.params.evaluation.min_bond.u128();
    for e in &evaluators {
        chain.fund(e.as_str(), bond)?;
    }
    let t = Instant::now();
    let mut msgs = 0;
    let round = chain.open_round("bench")?;
    for k in &keys {
        chain.join(k, round, 1_000)?;
        msgs += 1;
    }
    for e in &evaluators {
        chain.serve(e, round, bond)?;
        msgs += 1;
    }
    chain.advance(10);
    let relayer = chain.addr("relayer");
    for batch in keys.chunks(100) {
        let signed = batch
            .iter()
            .map(|k| chain.sign(k, round, &update_hash(k.address().as_bytes())))
            .collect();
        chain.commit(&relayer, round, signed)?;
        msgs += 1;
    }
    chain.advance(20);
    let salt = [7u8; 32];
    let mut reports = vec![];
    for e in &evaluators {
        let report = Report {
            aggregate_hash: HexBinary::from(update_hash(b"agg").to_vec()),
            table_hash: HexBinary::from(update_hash(b"table").to_vec()),
            delta_u: "0.5".parse()?,
            dof: 7,
            scores: keys
                .iter()
                .map(|k| ParticipantScore {
                    participant: k.address().to_string(),
                    value: Decimal::permille(10).try_into().expect("fits"),
                    std_error: Decimal::permille(1),
                })
                .collect(),
        };
        chain.commit_report(e, round, &report, &salt)?;
        reports.push(report);
        msgs += 1;
    }
    chain.advance(20);
    for (e, report) in evaluators.iter().zip(reports) {
        chain.reveal_report(e, round, report, &salt)?;
        msgs += 1;
    }
    // Past the reveal and dispute windows.
    chain.advance(15);
    chain.settle(&relayer, round)?;
    msgs += 1;
    for k in &keys {
        chain.claim(&Addr::unchecked(k.address()), round)?;
        msgs += 1;
    }
    Ok((msgs, t.elapsed().as_secs_f64()))
}

/// Seconds for `msgs` CW20 transfers on a fresh deployment (the baseline).
fn transfers(msgs: usize) -> Result<f64> {
    let app = cw_multi_test::App::default();
    let mut chain = EmbeddedChain::deploy(DeployOptions::with_evaluators(
        (0..3)
            .map(|i| app.api().addr_make(&format!("ev{i}")).to_string())
            .collect(),
        3,
    ))?;
    let to = chain.addr("to");
    let t = Instant::now();
    for _ in 0..msgs {
        chain.app.execute_contract(
            chain.faucet.clone(),
            chain.d.token.clone(),
            &Cw20ExecuteMsg::Transfer {
                recipient: to.to_string(),
                amount: Uint128::one(),
            },
            &[],
        )?;
    }
    Ok(t.elapsed().as_secs_f64())
}

fn main() -> Result<()> {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![3, 50, 100]
    } else {
        sizes
    };
    println!("| participants | messages | round (ms) | per message (µs) | baseline: same number of CW20 transfers (ms) | ratio | peak RSS (MiB) |");
    println!("|---|---|---|---|---|---|---|");
    for n in sizes {
        let (msgs, secs) = round(n)?;
        let base = transfers(msgs)?;
        println!(
            "| {n} | {msgs} | {:.1} | {:.0} | {:.1} | {:.2} | {:.1} |",
            secs * 1e3,
            secs * 1e6 / msgs as f64,
            base * 1e3,
            secs / base,
            peak_rss_kib() as f64 / 1024.0
        );
    }
    Ok(())
}
