//! A scripted round on the embedded chain: open, join, commit, report, settle, claim.

use anyhow::Result;
use cosmwasm_std::{Addr, Decimal, HexBinary, SignedDecimal};
use fairshare_protocol::commitment::update_hash;
use fairshare_protocol::round_manager::{ParticipantScore, Report};

use crate::embedded::{DeployOptions, EmbeddedChain};

/// One scripted participant: its name, stake and (if it commits) its contribution.
struct Actor {
    name: &'static str,
    stake: u128,
    value: Option<&'static str>,
}

/// Plays one round with three honest participants of different value, a free-rider and a
/// no-show, two honest evaluators and one outlier; prints every step and the balances.
pub fn run(out: &mut dyn std::io::Write) -> Result<()> {
    let evaluators = ["evaluator-a", "evaluator-b", "evaluator-c"];
    let mut chain = {
        let tmp = cw_multi_test::App::default();
        let addrs: Vec<String> = evaluators
            .iter()
            .map(|e| tmp.api().addr_make(e).to_string())
            .collect();
        EmbeddedChain::deploy(DeployOptions::with_evaluators(addrs, 2))?
    };
    writeln!(
        out,
        "deployed round-manager {}, escrow {}, token {}",
        chain.d.round_manager, chain.d.escrow, chain.d.token
    )?;
    let actors = [
        Actor {
            name: "alice",
            stake: 1_000,
            value: Some("0.30"),
        },
        Actor {
            name: "bob",
            stake: 1_000,
            value: Some("0.15"),
        },
        Actor {
            name: "carol",
            stake: 500,
            value: Some("0.05"),
        },
        Actor {
            name: "freddie (free-rider)",
            stake: 500,
            value: Some("0.0"),
        },
        Actor {
            name: "nora (no-show)",
            stake: 500,
            value: None,
        },
    ];
    let keys: Vec<_> = actors.iter().map(|a| chain.key(a.name)).collect();
    for (a, k) in actors.iter().zip(&keys) {
        chain.fund(k.address(), a.stake)?;
    }
    let round = chain.open_round("demo")?;
    writeln!(out, "round {round} opened at block {}", chain.height())?;
    for (a, k) in actors.iter().zip(&keys) {
        chain.join(k, round, a.stake)?;
        writeln!(out, "  {} joined with stake {}", a.name, a.stake)?;
    }
    chain.advance(10);
    let mut batch = vec![];
    for (a, k) in actors.iter().zip(&keys) {
        if a.value.is_some() {
            let hash = update_hash(format!("adapter of {}", a.name).as_bytes());
            batch.push(chain.sign(k, round, &hash));
        }
    }
    let relayer = chain.addr("relayer");
    chain.commit(&relayer, round, batch)?;
    writeln!(
        out,
        "  relayer posted {} signed commitments",
        chain.round(round)?.committed
    )?;
    chain.advance(20);
    let delta_u: SignedDecimal = "0.5".parse()?;
    for (i, e) in evaluators.iter().enumerate() {
        let lie = i == 2;
        let scores = actors
            .iter()
            .zip(&keys)
            .filter_map(|(a, k)| {
                a.value.map(|v| ParticipantScore {
                    participant: k.address().to_string(),
                    value: if lie {
                        "0.1".parse().expect("decimal")
                    } else {
                        v.parse().expect("decimal")
                    },
                    std_error: Decimal::permille(5),
                })
            })
            .collect();
        let report = Report {
            aggregate_hash: HexBinary::from(update_hash(b"aggregate").to_vec()),
            delta_u,
            scores,
        };
        let addr = chain.addr(e);
        chain.report(&addr, round, report)?;
        writeln!(
            out,
            "  {e} reported{}",
            if lie {
                " (an outlier: equal scores for all)"
            } else {
                ""
            }
        )?;
    }
    let anyone = chain.addr("anyone");
    chain.settle(&anyone, round)?;
    let summary = chain.round(round)?.settlement;
    if let Some(s) = &summary {
        writeln!(
            out,
            "round settled: ΔU {}, pool {}, dust {}, slashed {}, outliers {:?}",
            s.delta_u, s.pool, s.dust, s.total_slashed, s.outliers
        )?;
    }
    for k in &keys {
        chain.claim(&Addr::unchecked(k.address()), round)?;
    }
    writeln!(
        out,
        "\n{:<22} {:>6} {:>12} {:>8} {:>7} {:>8} {:>8}",
        "participant", "stake", "verdict", "reward", "slash", "stake now", "tokens"
    )?;
    let results = chain.results(round)?;
    for (a, k) in actors.iter().zip(&keys) {
        let r = results
            .iter()
            .find(|r| r.participant.as_str() == k.address());
        let (verdict, reward, slash) = r.map_or(("?".into(), 0, 0), |r| {
            (format!("{:?}", r.verdict), r.reward.u128(), r.slash.u128())
        });
        writeln!(
            out,
            "{:<22} {:>6} {:>12} {:>8} {:>7} {:>9} {:>8}",
            a.name,
            a.stake,
            verdict,
            reward,
            slash,
            chain.stake_balance(k.address())?,
            chain.token_balance(k.address())?
        )?;
    }
    let t = chain.totals()?;
    writeln!(
        out,
        "\ntreasury: {} stake, {} tokens; escrow still holds {} (locked {}, claimable {})",
        chain.stake_balance(chain.d.treasury.as_str())?,
        chain.token_balance(chain.d.treasury.as_str())?,
        chain.stake_balance(chain.d.escrow.as_str())?,
        t.locked,
        t.claimable_stake
    )?;
    writeln!(
        out,
        "token supply {} (minted as rewards and dust: {})",
        chain.token_info()?.total_supply,
        t.minted_total
    )?;
    Ok(())
}
