//! Checks applied once where parameters enter the contract.

use std::collections::BTreeSet;

use cosmwasm_std::{Api, HexBinary};
use fairshare_protocol::evaluation::{quorum_allowed, MIN_QUORUM};
use fairshare_protocol::round_manager::{RoundParams, RoundSpec};

use crate::error::ContractError;

/// Hard ceiling on participants per round: every loop over a round is bounded by it.
pub const MAX_PARTICIPANTS_CAP: u32 = 1000;
/// Hard ceiling on the evaluator set.
pub const MAX_EVALUATORS: usize = 50;
/// Longest task URI accepted.
pub const MAX_URI_LEN: usize = 512;

/// Validates `params` and normalises evaluator addresses.
pub fn params(api: &dyn Api, mut p: RoundParams) -> Result<RoundParams, ContractError> {
    let bad = |m: String| Err(ContractError::InvalidParams(m));
    let s = p.schedule;
    let windows = [
        s.join_blocks,
        s.train_blocks,
        s.eval_blocks,
        s.reveal_blocks,
        s.dispute_blocks,
        s.settle_blocks,
    ];
    if windows.contains(&0) {
        return bad("every schedule window must last at least one block".into());
    }
    if windows
        .iter()
        .try_fold(0u64, |acc, &w| acc.checked_add(w))
        .is_none()
    {
        return bad("schedule windows overflow the block height".into());
    }
    if p.min_participants == 0 {
        return bad("min_participants must be at least 1".into());
    }
    if p.max_participants < p.min_participants || p.max_participants > MAX_PARTICIPANTS_CAP {
        return bad(format!(
            "max_participants must be between min_participants ({}) and {MAX_PARTICIPANTS_CAP}",
            p.min_participants
        ));
    }
    if p.evaluators.is_empty() || p.evaluators.len() > MAX_EVALUATORS {
        return bad(format!("there must be 1 to {MAX_EVALUATORS} evaluators"));
    }
    let mut seen = BTreeSet::new();
    let mut evaluators = Vec::with_capacity(p.evaluators.len());
    for e in &p.evaluators {
        let addr = api.addr_validate(e)?;
        if !seen.insert(addr.clone()) {
            return bad(format!("evaluator {addr} is listed twice"));
        }
        evaluators.push(addr.into_string());
    }
    p.evaluators = evaluators;
    if !quorum_allowed(p.evaluator_quorum) || p.evaluator_quorum as usize > p.evaluators.len() {
        return bad(format!(
            "evaluator_quorum must be odd, at least {MIN_QUORUM} (2f + 1 with f ≥ 1: fewer \
             reports would let one evaluator set a median) and at most the number of \
             evaluators ({}); got {}",
            p.evaluators.len(),
            p.evaluator_quorum
        ));
    }
    p.rewards.validate()?;
    p.evaluation
        .validate()
        .map_err(|e| ContractError::InvalidParams(e.to_string()))?;
    Ok(p)
}

/// Checks a round's spec: three sha256 hashes and a bounded URI.
pub fn spec(spec: &RoundSpec) -> Result<(), ContractError> {
    hash32("base_model_hash", &spec.base_model_hash)?;
    hash32("global_adapter_hash", &spec.global_adapter_hash)?;
    hash32("validation_set_hash", &spec.validation_set_hash)?;
    if spec.task_uri.len() > MAX_URI_LEN {
        return Err(ContractError::InvalidParams(format!(
            "task_uri is longer than {MAX_URI_LEN} bytes"
        )));
    }
    Ok(())
}

/// Errors unless `value` is exactly `expected` bytes.
pub fn length(
    field: &'static str,
    value: &HexBinary,
    expected: usize,
) -> Result<(), ContractError> {
    if value.len() != expected {
        return Err(ContractError::BadLength {
            field,
            expected,
            got: value.len(),
        });
    }
    Ok(())
}

fn hash32(field: &'static str, value: &HexBinary) -> Result<(), ContractError> {
    length(field, value, 32)
}
