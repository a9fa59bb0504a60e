//! The challenger (the relayer's key here; anyone can be one): reads every revealed report
//! back from the chain, fetches the table it commits to from the relayer's store (where the
//! evaluator service published it at reveal), checks the report against it exactly as the
//! round-manager would (`fairshare verify-report`, [`crate::audit::check`]), and disputes those
//! that do not follow, with a deposit ([`crate::challenger::examine`], what
//! `fairshare challenger run` does); after settlement it claims its deposits back (and a
//! bounty for every upheld dispute).

use anyhow::{Context, Result};
use fairshare_protocol::round_manager::{self as rm, RoundParams};

use super::evaluator::Service;
use crate::chain::{Chain, ChainExt};
use crate::keys::ParticipantKey;
use crate::ops::{round, Deployment, StakeKind};
use crate::store::{fetch_table, BundleStore};

/// Checks every evaluator's revealed report of round `id` against the table it commits to
/// (fetched from `store` by the report's table hash) and disputes the ones that do not follow.
/// Returns, per evaluator, whether its report follows.
#[allow(clippy::too_many_arguments)]
pub fn check_and_dispute(
    chain: &mut dyn Chain,
    store: &dyn BundleStore,
    d: &Deployment,
    stake: &StakeKind,
    key: &ParticipantKey,
    id: u64,
    params: &RoundParams,
    evaluators: &[Service],
    out: &mut dyn std::io::Write,
) -> Result<Vec<bool>> {
    let validation_set_hash = round::status(chain, d, id)?.spec.validation_set_hash;
    let mut checks = Vec::new();
    for (k, e) in evaluators.iter().enumerate() {
        let report = round::revealed_report(chain, d, id, e.key.address())?
            .with_context(|| format!("evaluator-{k}'s revealed report is on chain"))?;
        let table = fetch_table(store, &report.table_hash.to_hex()).with_context(|| {
            format!(
                "evaluator-{k}'s table of round {id} from {}",
                store.describe()
            )
        })?;
        // The same check-and-dispute as `fairshare challenger run`.
        let deposit = params.evaluation.dispute_deposit.u128();
        let (check, outcome) = crate::challenger::examine(
            chain,
            d,
            stake,
            key,
            id,
            validation_set_hash.as_slice(),
            e.key.address(),
            &report,
            &table,
            deposit,
        )?;
        if let Some(outcome) = outcome {
            writeln!(
                out,
                "  challenger: evaluator-{k}'s report does not follow from its own table ({} of {} figures off); disputed with a deposit of {deposit} ufair → {outcome}",
                check.lines.iter().filter(|l| !l.follows).count(),
                check.lines.len(),
            )?;
        }
        checks.push(check.consistent());
    }
    if checks.iter().all(|&c| c) {
        writeln!(
            out,
            "  challenger: every revealed report follows from its published table; nothing to dispute"
        )?;
    }
    Ok(checks)
}

/// After settlement: what the challenger's disputes of round `id` earned, claimed (none if it
/// disputed nothing).
pub fn claim(
    chain: &mut dyn Chain,
    d: &Deployment,
    key: &ParticipantKey,
    id: u64,
) -> Result<Option<rm::ChallengerResult>> {
    if round::disputes(chain, d, id)?.is_empty() {
        return Ok(None);
    }
    let c: rm::ChallengerResult = chain.query(
        d.round_manager.as_str(),
        &rm::QueryMsg::ChallengerResult {
            round_id: id,
            challenger: key.address().to_string(),
        },
    )?;
    round::claim(chain, d, key, id)?;
    Ok(Some(c))
}
