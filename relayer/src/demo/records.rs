//! What the demo records and prints about a round: the near-duplicate pairs and groups, each
//! party's result as settled on chain, each evaluator's, and the Sybil comparison. Reporting
//! only: no party acts here.

use anyhow::Result;
use cosmwasm_std::{Decimal, Uint128};
use fairshare_protocol::rewards::Verdict;
use fairshare_protocol::round_manager as rm;

use super::evaluator::{EvaluatorWork, Valuation, RESOLUTION_NATS};
use super::output::{self, CalibrationPoint, EntryRecord, EvaluatorRecord};
use super::participant::{Participant, Role};
use super::{decimal_f64, STAKE};

/// What settlement and the claims left of a round.
pub struct Settled {
    pub id: u64,
    pub status: rm::RoundResponse,
    pub disputes: Vec<rm::DisputeInfo>,
    pub evaluators: Vec<rm::EvaluatorResult>,
    pub challenger: Option<rm::ChallengerResult>,
    /// The people the chain counted as contributors.
    pub contributors: Vec<usize>,
}

/// Everything a round's record is made of.
pub struct RoundFacts<'a> {
    pub round: usize,
    pub params: &'a rm::RoundParams,
    pub settled: &'a Settled,
    /// The global model's validation loss before and after the round.
    pub loss: (f64, f64),
    /// The evaluators' addresses.
    pub addresses: &'a [&'a str],
    pub works: &'a [EvaluatorWork],
    /// Whether each evaluator's report follows from its table.
    pub checks: &'a [bool],
    pub entries: Vec<EntryRecord>,
    pub proposals: Vec<String>,
    pub duplicates: output::DuplicateRecord,
    pub sybil: Option<output::SybilRecord>,
}

/// The round's record.
pub fn round_record(f: RoundFacts) -> output::RoundRecord {
    let s = f.settled;
    let summary = s.status.settlement.as_ref();
    output::RoundRecord {
        round: f.round,
        round_id: s.id,
        settled: s.status.phase == rm::Phase::Settled,
        validation_loss_before: f.loss.0,
        validation_loss_after: f.loss.1,
        delta_u: summary.map_or(f64::NAN, |s| decimal_f64(s.delta_u)),
        pool: summary.map_or(0, |s| s.pool.u128()),
        evaluator_pool: summary.map_or(0, |s| s.evaluator_rewards.u128()),
        dust: summary.map_or(0, |s| s.dust.u128()),
        slashed: summary.map_or(0, |s| s.total_slashed.u128()),
        t_critical: summary.map_or(f64::NAN, |s| decimal_f64(s.t_critical)),
        slash_no_show: f.params.rewards.slash_no_show.to_string(),
        valuation_method: f
            .works
            .first()
            .map(|w| w.valuation.method.clone())
            .unwrap_or_default(),
        evaluations: f.works.iter().map(|w| w.valuation.evaluations).sum(),
        entries: f.entries,
        evaluators: evaluator_records(f.addresses, f.works, &s.evaluators, f.checks, &s.disputes),
        disputes: s
            .disputes
            .iter()
            .map(|x| output::DisputeRecord {
                evaluator: f
                    .addresses
                    .iter()
                    .position(|a| *a == x.evaluator.as_str())
                    .map_or(x.evaluator.to_string(), |k| format!("evaluator-{k}")),
                challenger: x.challenger.to_string(),
                deposit: x.deposit.u128(),
                upheld: x.upheld,
                findings: x.findings.clone(),
            })
            .collect(),
        challenger: s.challenger.as_ref().map(|c| output::ChallengerRecord {
            deposits: c.deposits.u128(),
            returned: c.stake_return.u128(),
            upheld: c.upheld,
            rejected: c.rejected,
        }),
        proposals: f.proposals,
        duplicates: f.duplicates,
        sybil: f.sybil,
    }
}

/// Every evaluator's reported φ and measured U({i}) written into the entries of the committed
/// people (`committed`, in table order); the near-duplicate pairs and groups of the first
/// evaluator's measurement recorded and printed.
pub fn note_valuations(
    out: &mut dyn std::io::Write,
    people: &[Participant],
    committed: &[usize],
    works: &[EvaluatorWork],
    entries: &mut [EntryRecord],
    threshold: f64,
) -> Result<output::DuplicateRecord> {
    for w in works {
        for (j, &i) in committed.iter().enumerate() {
            entries[i]
                .shapley
                .push(decimal_f64(w.report.scores[j].value));
            entries[i].alone.push(w.valuation.alone[j]);
        }
    }
    let (similarity, groups) = match works.first() {
        Some(w) => (w.similarity.clone(), w.groups.clone()),
        None => (vec![], fairshare_shapley::groups::Groups::singletons(0)),
    };
    let duplicates = duplicate_record(people, committed, entries, &similarity, &groups, threshold);
    for g in &duplicates.groups {
        writeln!(
            out,
            "  near-duplicates: {} (ΔW cosine ≥ {threshold:.2}) valued as one player, its value split evenly",
            g.join(" + "),
        )?;
    }
    Ok(duplicates)
}

/// Each settled result of a round written into the entries of `people`; returns the people
/// the chain counted as contributors.
pub fn apply_results(
    people: &[Participant],
    entries: &mut [EntryRecord],
    results: &[rm::ParticipantResult],
) -> Vec<usize> {
    let mut contributors = Vec::new();
    for res in results {
        let Some(i) = people
            .iter()
            .position(|p| p.address() == res.participant.as_str())
        else {
            continue;
        };
        entries[i].verdict = Some(res.verdict);
        entries[i].reward = res.reward.u128();
        entries[i].slash = res.slash.u128();
        entries[i].score = res.score.map(|s| decimal_f64(s.value));
        entries[i].std_error = res.score.map(|s| decimal_f64(s.std_error));
        if res.verdict == Verdict::Contributor {
            contributors.push(i);
        }
    }
    contributors
}

/// Every evaluator's record of a round: what it reported, whether it follows from its table,
/// how a dispute went, and what it was paid or lost.
pub fn evaluator_records(
    addresses: &[&str],
    works: &[EvaluatorWork],
    results: &[rm::EvaluatorResult],
    consistent: &[bool],
    disputes: &[rm::DisputeInfo],
) -> Vec<EvaluatorRecord> {
    addresses
        .iter()
        .zip(works)
        .zip(results)
        .zip(consistent)
        .enumerate()
        .map(|(k, (((address, w), res), &consistent))| {
            let dispute = disputes.iter().find(|x| x.evaluator.as_str() == *address);
            EvaluatorRecord {
                name: format!("evaluator-{k}"),
                address: address.to_string(),
                lie: w.lie,
                method: w.valuation.method.clone(),
                evaluations: w.valuation.evaluations,
                dof: w.valuation.dof,
                delta_u: decimal_f64(w.reported_delta_u),
                consistent,
                disputed: dispute.map(|x| x.upheld),
                bond: res.bond.u128(),
                verdict: res.verdict,
                agreement: decimal_f64(res.agreement),
                reward: res.reward.u128(),
                slash: res.slash.u128(),
                table: w.table_file.display().to_string(),
            }
        })
        .collect()
}

/// What data buys on the base model (the surrogate's question, asked in round 1): every exact
/// coalition of honest participants with its training tokens and measured utility.
pub fn calibration(
    people: &[Participant],
    committed: &[usize],
    v: &Valuation,
    r: usize,
    epochs: usize,
) -> Vec<CalibrationPoint> {
    let mut out = Vec::new();
    for (members, u) in &v.subsets {
        let honest = members
            .iter()
            .zip(committed)
            .all(|(&m, &i)| !m || people[i].role.is_honest());
        if honest {
            let tokens: usize = members
                .iter()
                .zip(committed)
                .filter(|(&m, _)| m)
                .map(|(_, &i)| people[i].round_tokens(r).len() * epochs)
                .sum();
            out.push(CalibrationPoint {
                tokens: tokens as f64,
                utility: *u,
            });
        }
    }
    out
}

/// The round's pairwise similarities labelled by what the pairs are, and its groups by name.
pub fn duplicate_record(
    people: &[Participant],
    committed: &[usize],
    entries: &[EntryRecord],
    similarity: &[Vec<f64>],
    groups: &fairshare_shapley::groups::Groups,
    threshold: f64,
) -> output::DuplicateRecord {
    let mut pairs = Vec::new();
    for (a, &i) in committed.iter().enumerate() {
        for (b, &j) in committed.iter().enumerate().skip(a + 1) {
            let untrained = |k: usize| entries[k].update_norm.is_none_or(|n| n == 0.0);
            let kind = if untrained(i) || untrained(j) {
                output::PairKind::Untrained
            } else if people[i].play == people[j].play {
                output::PairKind::SameData
            } else {
                output::PairKind::DistinctData
            };
            pairs.push(output::PairRecord {
                a: people[i].name.clone(),
                b: people[j].name.clone(),
                kind,
                cosine: similarity[a][b],
            });
        }
    }
    output::DuplicateRecord {
        threshold,
        pairs,
        groups: groups
            .members()
            .iter()
            .filter(|g| g.len() > 1)
            .map(|g| {
                g.iter()
                    .map(|&j| people[committed[j]].name.clone())
                    .collect()
            })
            .collect(),
    }
}

/// The Sybil's identities against one identity submitting the group's update: the reward rule
/// (the contract's, from `fairshare_protocol::rewards`) applied to the settled scores, once as
/// they are (which must reproduce the chain) and once with the second identity absent and the
/// first holding the identities' summed φ (their standard errors add: an even split gives both
/// the same share of the group in every validation batch).
#[allow(clippy::too_many_arguments)]
pub fn sybil_record(
    people: &[Participant],
    entries: &[EntryRecord],
    committed: &[usize],
    valuation: Option<&Valuation>,
    ungrouped: Option<&Valuation>,
    duplicates: &output::DuplicateRecord,
    rewards: &fairshare_protocol::rewards::RewardParams,
    evaluator_budget: Uint128,
    t: Decimal,
) -> Result<output::SybilRecord> {
    use fairshare_protocol::rewards::{self as rw, Entry, Score};
    use std::str::FromStr;
    let ids: Vec<usize> = (0..people.len())
        .filter(|&i| people[i].role == Role::Sybil && entries[i].joined)
        .collect();
    let score = |e: &EntryRecord| -> Result<Option<Score>> {
        match (e.score, e.std_error) {
            (Some(v), Some(se)) => Ok(Some(Score {
                value: cosmwasm_std::SignedDecimal::from_str(&format!("{v:.18}"))?,
                std_error: Decimal::from_str(&format!("{se:.18}"))?,
            })),
            _ => Ok(None),
        }
    };
    let mut params = rewards.clone();
    params.budget = rewards.budget - evaluator_budget;
    let payout = |list: &[(Uint128, Option<Score>)]| -> Vec<rw::Outcome> {
        let mut gain = rw::Gain::default();
        for (_, sc) in list {
            gain.add(*sc, t);
        }
        let threshold = gain.threshold(&params);
        let total_weight = list
            .iter()
            .fold(cosmwasm_std::Uint256::zero(), |a, (_, sc)| {
                a + rw::weight(rw::classify(&params, *sc, threshold, t).0, *sc)
            });
        let fixed = rw::Fixed {
            t,
            threshold,
            total_weight,
            pool: rw::pool(&params, &gain, total_weight),
        };
        list.iter()
            .map(|(stake, sc)| {
                rw::outcome(
                    &params,
                    &fixed,
                    &Entry {
                        stake: *stake,
                        score: *sc,
                    },
                )
            })
            .collect()
    };
    let joined: Vec<usize> = (0..people.len()).filter(|&i| entries[i].joined).collect();
    let mut actual = Vec::new();
    for &i in &joined {
        actual.push((Uint128::new(STAKE), score(&entries[i])?));
    }
    // Without grouping: every committed participant scored by the ungrouped valuation.
    let without = match ungrouped {
        Some(v) => {
            let mut list = Vec::new();
            for &i in &joined {
                let sc = match committed.iter().position(|&c| c == i) {
                    Some(j) => {
                        let e = EntryRecord {
                            score: Some(v.values[j]),
                            std_error: Some(if v.values[j] == 0.0 && v.std_errors[j] == 0.0 {
                                0.0
                            } else {
                                v.std_errors[j].max(RESOLUTION_NATS)
                            }),
                            ..entries[i].clone()
                        };
                        score(&e)?
                    }
                    None => None,
                };
                list.push((Uint128::new(STAKE), sc));
            }
            let out = payout(&list);
            let mut phi = 0.0;
            let (mut reward, mut slash) = (0u128, 0u128);
            for (k, &i) in joined.iter().enumerate() {
                if ids.contains(&i) {
                    if let Some(j) = committed.iter().position(|&c| c == i) {
                        phi += v.values[j];
                    }
                    reward += out[k].reward.u128();
                    slash += out[k].slash.u128();
                }
            }
            Some((phi, reward, slash))
        }
        None => None,
    };
    let reproduced = payout(&actual)
        .iter()
        .zip(&joined)
        .all(|(o, &i)| o.reward.u128() == entries[i].reward && o.slash.u128() == entries[i].slash);
    let names: Vec<String> = ids.iter().map(|&i| people[i].name.clone()).collect();
    let grouped = duplicates
        .groups
        .iter()
        .any(|g| names.iter().all(|n| g.contains(n)));
    let phi_total: f64 = ids.iter().map(|&i| entries[i].score.unwrap_or(0.0)).sum();
    // One identity. Grouped: it holds the group's φ (the second identity absent, the group's
    // value unchanged). Not grouped: its Shapley value in the measured table's sub-game
    // without the second identity (members keep their weights of the round).
    let (phi_one, se_one) = if grouped {
        ids.iter().fold((0.0, 0.0), |(p, s), &i| {
            (
                p + entries[i].score.unwrap_or(0.0),
                s + entries[i].std_error.unwrap_or(0.0),
            )
        })
    } else {
        let pos = |i: usize| committed.iter().position(|&c| c == i);
        let se = ids
            .first()
            .and_then(|&i| entries[i].std_error)
            .unwrap_or(0.0);
        match (
            valuation,
            ids.first().and_then(|&i| pos(i)),
            ids.get(1).and_then(|&i| pos(i)),
        ) {
            (Some(v), Some(a), Some(b))
                if v.estimator == fairshare_protocol::report::Estimator::Exact =>
            {
                let n = committed.len();
                let keep: Vec<usize> = (0..n).filter(|&j| j != b).collect();
                let sub: Vec<f64> = (0u64..(1 << (n - 1)))
                    .map(|m| {
                        let full: usize = keep
                            .iter()
                            .enumerate()
                            .filter(|(bit, _)| m >> bit & 1 == 1)
                            .map(|(_, &j)| 1usize << j)
                            .sum();
                        v.utilities[full]
                    })
                    .collect();
                let phi = fairshare_trainer::cli::exact_shapley(&sub, n - 1);
                let at = keep.iter().position(|&j| j == a).unwrap_or(0);
                (phi[at], se)
            }
            _ => (phi_total, se),
        }
    };
    let first = ids.first().copied();
    let mut one = Vec::new();
    let mut at = None;
    for &i in &joined {
        if ids.contains(&i) && Some(i) != first {
            continue;
        }
        if Some(i) == first {
            at = Some(one.len());
            let e = EntryRecord {
                score: Some(phi_one),
                std_error: Some(se_one),
                ..entries[i].clone()
            };
            one.push((Uint128::new(STAKE), score(&e)?));
        } else {
            one.push((Uint128::new(STAKE), score(&entries[i])?));
        }
    }
    let one_out = payout(&one);
    let (reward_one, slash_one) = at
        .and_then(|k| one_out.get(k))
        .map_or((0, 0), |o| (o.reward.u128(), o.slash.u128()));
    Ok(output::SybilRecord {
        grouped,
        identities: names,
        phi_total,
        reward_total: ids.iter().map(|&i| entries[i].reward).sum(),
        slash_total: ids.iter().map(|&i| entries[i].slash).sum(),
        stake_total: STAKE * ids.len() as u128,
        phi_one,
        reward_one,
        slash_one,
        stake_one: if ids.is_empty() { 0 } else { STAKE },
        rule_reproduces_chain: reproduced,
        phi_ungrouped: without.map(|w| w.0),
        reward_ungrouped: without.map(|w| w.1),
        slash_ungrouped: without.map(|w| w.2),
    })
}

/// The round's outcome as the demo prints it: the Sybil comparison, the settlement, every
/// participant's and evaluator's result, and the challenger's.
pub fn print_round(
    out: &mut dyn std::io::Write,
    rec: &output::RoundRecord,
    people: &[Participant],
    st: &rm::RoundResponse,
    merged: usize,
) -> Result<()> {
    if let Some(x) = &rec.sybil {
        writeln!(
            out,
            "  sybil: two identities ({}) earned {} uFAIR (φ {:+.4}) on {} ufair of stake; one identity would have earned {} uFAIR (φ {:+.4}) on {}",
            if x.grouped { "grouped" } else { "NOT grouped" },
            x.reward_total,
            x.phi_total,
            x.stake_total,
            x.reward_one,
            x.phi_one,
            x.stake_one
        )?;
    }
    match &st.settlement {
        Some(s) => writeln!(
            out,
            "  settled: ΔU {}, pool {}, evaluators paid {}, slashed {}, outliers {}; {merged} contributors merged; validation loss {:.4} → {:.4}",
            s.delta_u,
            s.pool,
            s.evaluator_rewards,
            s.total_slashed,
            s.outliers.len(),
            rec.validation_loss_before,
            rec.validation_loss_after
        )?,
        None => writeln!(
            out,
            "  FAILED: {} of {} needed reports left after disputes; participants' stakes back, no rewards, nothing merged",
            st.reports,
            super::QUORUM
        )?,
    }
    for (p, e) in people.iter().zip(&rec.entries) {
        if e.joined {
            writeln!(
                out,
                "    {:<7} {:<10} φ {:>9} ± {:<7} verdict {:<12} reward {:>7} slash {:>6}",
                p.name,
                p.role.label(),
                e.score.map_or("-".into(), |s| format!("{s:.4}")),
                e.std_error.map_or("-".into(), |s| format!("{s:.4}")),
                e.verdict.map_or("-".into(), |v| format!("{v:?}")),
                e.reward,
                e.slash
            )?;
        }
    }
    for e in &rec.evaluators {
        writeln!(
            out,
            "    {:<12} {:<6} bond {:>6} verdict {:<10} agreement {:.2} reward {:>6} slash {:>6}{}",
            e.name,
            if e.lie.is_some() { "liar" } else { "honest" },
            e.bond,
            format!("{:?}", e.verdict),
            e.agreement,
            e.reward,
            e.slash,
            match e.disputed {
                Some(true) => " (dispute upheld)",
                Some(false) => " (dispute rejected)",
                None => "",
            }
        )?;
    }
    if let Some(c) = &rec.challenger {
        writeln!(
            out,
            "    challenger   deposits {} → claimed back {} ({} upheld, {} rejected)",
            c.deposits, c.returned, c.upheld, c.rejected
        )?;
    }
    Ok(())
}
