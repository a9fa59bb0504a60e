//! Governance: the DAO and those who hold it to account. Honest participants stake their
//! governance tokens, one proposes a parameter change, they vote, and after the timelock anyone
//! executes it. After settlement, when the validation text is revealed, anyone can re-execute
//! an evaluator's published table; a table that disagrees with the re-measured utilities (a
//! consistent liar, whom no dispute can catch) gets a DAO slashing proposal prepared.

use std::path::PathBuf;

use anyhow::Result;
use cosmwasm_std::{to_json_binary, CosmosMsg, Decimal, Uint128, WasmMsg};
use fairshare_protocol::dao::Vote;
use fairshare_protocol::report::UtilityTable;
use fairshare_protocol::round_manager as rm;

use super::evaluator::{EvaluatorWork, Lie, RESOLUTION_NATS};
use super::participant::Participant;
use crate::audit;
use crate::chain::ChainExt;
use crate::demo::net::DemoChain;
use crate::demo::output::DaoRecord;
use crate::ops::{self, governance, Deployment};

/// Re-executes every consistent liar's published table of round `id` (read from
/// `table_file`s) and prepares a slashing proposal for each that disagrees, written beside its
/// table in `published`. Returns the proposals' paths.
pub fn reexecute_liars(
    d: &Deployment,
    id: u64,
    evaluators: &[&str],
    bonds: &[Uint128],
    works: &[EvaluatorWork],
    published: &std::path::Path,
    out: &mut dyn std::io::Write,
) -> Result<Vec<String>> {
    let mut proposals = Vec::new();
    for (k, w) in works.iter().enumerate() {
        if w.lie != Some(Lie::Consistent) {
            continue;
        }
        let table: UtilityTable = crate::demo::read_json(&w.table_file)?;
        let found = reexecution_proposal(
            d,
            id,
            evaluators[k],
            &table,
            &w.honest_table,
            bonds[k],
            &published.join(format!("evaluator-{k}.proposal.json")),
        )?;
        if let Some((beyond, checked, path)) = found {
            writeln!(
                out,
                "  re-execution: evaluator-{k}'s table disagrees with U(S) re-measured on its revealed validation text for {beyond} of {checked} coalitions; DAO slashing proposal prepared at {}",
                path.display()
            )?;
            proposals.push(path.display().to_string());
        }
    }
    Ok(proposals)
}

/// Re-executes a published table on the revealed validation text — here the U(S) the
/// evaluator itself measured before fabricating, which any re-execution with `fairshare-trainer
/// evaluate` reproduces — for every single update and the grand coalition, and, if the table
/// disagrees beyond [`RESOLUTION_NATS`], writes the DAO slashing proposal to `path`.
/// Returns (coalitions beyond tolerance, coalitions checked, path).
fn reexecution_proposal(
    d: &Deployment,
    round_id: u64,
    evaluator_addr: &str,
    table: &UtilityTable,
    measured_on: &UtilityTable,
    bond: Uint128,
    path: &std::path::Path,
) -> Result<Option<(usize, usize, PathBuf)>> {
    let n = measured_on.participants.len();
    let mut coalitions: Vec<Vec<String>> = (0..n)
        .map(|i| vec![measured_on.participants[i].clone()])
        .collect();
    coalitions.push(measured_on.participants.clone());
    let mut measured = Vec::new();
    for c in coalitions {
        let u = audit::table_utilities(measured_on, &c)
            .map_err(|e| anyhow::anyhow!("re-execution: {e}"))?;
        if let Some(&utility) = u.first() {
            measured.push(audit::Measurement {
                participants: c,
                utility,
            });
        }
    }
    let tolerance = RESOLUTION_NATS;
    let comparisons = audit::compare(table, &measured, tolerance)
        .map_err(|e| anyhow::anyhow!("comparing the table: {e}"))?;
    let table_hash = hex::encode(table.hash());
    let Some(p) = audit::slashing_proposal(&audit::Evidence {
        escrow: d.escrow.as_str(),
        round_id,
        evaluator: evaluator_addr,
        table_hash: &table_hash,
        validation_set_hash: &table.validation_set_hash.to_hex(),
        tolerance,
        comparisons: &comparisons,
        amount: bond,
    })?
    else {
        return Ok(None);
    };
    crate::demo::write_json(path, &p)?;
    Ok(Some((
        comparisons.iter().filter(|c| c.beyond_tolerance).count(),
        comparisons.len(),
        path.to_path_buf(),
    )))
}

/// Honest participants stake their tokens (genesis allocation and rewards) in the DAO; the best-rewarded proposes raising the
/// no-show slash to 100%; all vote yes; after the timelock anyone executes it.
pub fn governance_step(
    chain: &mut DemoChain,
    people: &[Participant],
    executor: &crate::keys::ParticipantKey,
    out: &mut dyn std::io::Write,
) -> Result<Option<DaoRecord>> {
    let rules = ops::default_dao_rules();
    let d = chain.d.clone();
    let deposit = rules.deposit.u128();
    let mut voters = Vec::new();
    for p in people.iter().filter(|p| p.role.is_honest()) {
        let bal = chain.token_balance(p.address())?;
        if bal > deposit {
            voters.push((p, bal));
        }
    }
    voters.sort_by_key(|v| std::cmp::Reverse(v.1));
    let Some(&(proposer, _)) = voters.first() else {
        writeln!(
            out,
            "\nDAO: no honest participant earned the proposal deposit ({deposit} uFAIR); no proposal this run"
        )?;
        return Ok(None);
    };
    for (p, bal) in &voters {
        let amount = if p.name == proposer.name {
            bal - deposit
        } else {
            *bal
        };
        governance::stake(chain.c(), &d, p.key(), amount)?;
    }
    chain.c().wait_blocks(1)?;
    let cfg: rm::ConfigResponse = chain
        .v()
        .query(chain.d.round_manager.as_str(), &rm::QueryMsg::Config {})?;
    let mut params = cfg.params;
    let before = params.rewards.slash_no_show;
    params.rewards.slash_no_show = Decimal::one();
    let msg: CosmosMsg = WasmMsg::Execute {
        contract_addr: chain.d.round_manager.to_string(),
        msg: to_json_binary(&rm::ExecuteMsg::UpdateParams { params })?,
        funds: vec![],
    }
    .into();
    let title = "Raise the no-show slash to 100%";
    let id = governance::propose(
        chain.c(),
        &d,
        proposer.key(),
        deposit,
        title,
        "Participants who join and never commit an update forfeit their whole stake.",
        vec![msg],
    )?;
    // Votes until the outcome is decided (the DAO closes a proposal early once the remaining
    // power cannot change it).
    let mut voted = Vec::new();
    for (p, _) in &voters {
        match governance::vote(chain.c(), &d, p.key(), id, Vote::Yes) {
            Ok(_) => voted.push(p.name.clone()),
            Err(e) if e.to_string().contains("not open for votes") => break,
            Err(e) => return Err(e.into()),
        }
    }
    let wait = |d: &fairshare_protocol::dao::Duration| match d {
        fairshare_protocol::dao::Duration::Height(h) => *h,
        fairshare_protocol::dao::Duration::Time(s) => s.div_ceil(5),
    };
    chain
        .c()
        .wait_blocks(wait(&rules.voting_period) + rules.timelock.as_ref().map_or(0, wait) + 1)?;
    governance::execute(chain.c(), &d, executor, id)?;
    let staked: u128 = voters
        .iter()
        .map(|(p, b)| {
            if p.name == proposer.name {
                b - deposit
            } else {
                *b
            }
        })
        .sum();
    writeln!(
        out,
        "\nDAO: {} staked {staked} uFAIR; {} proposed “{title}” (slash_no_show {before} → 1); {} voted yes and decided it; executed — rounds from now on use it",
        voters.iter().map(|(p, _)| p.name.as_str()).collect::<Vec<_>>().join(", "),
        proposer.name,
        voted.join(", ")
    )?;
    Ok(Some(DaoRecord {
        proposal_id: id,
        title: title.into(),
        proposer: proposer.name.clone(),
        voters: voted,
        staked: Uint128::new(staked).u128(),
        parameter: "slash_no_show".into(),
        before: before.to_string(),
        after: "1".into(),
    }))
}
