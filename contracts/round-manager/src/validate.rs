//! Checks applied once where parameters enter the contract.

use std::collections::BTreeSet;

use cosmwasm_std::{Api, HexBinary};
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
    if s.join_blocks == 0 || s.train_blocks == 0 || s.eval_blocks == 0 || s.settle_blocks == 0 {
        return bad("every schedule window must last at least one block".into());
    }
    if s.join_blocks
        .checked_add(s.train_blocks)
        .and_then(|x| x.checked_add(s.eval_blocks))
        .and_then(|x| x.checked_add(s.settle_blocks))
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
    if p.evaluator_quorum == 0 || p.evaluator_quorum as usize > p.evaluators.len() {
        return bad(format!(
            "evaluator_quorum must be between 1 and the number of evaluators ({})",
            p.evaluators.len()
        ));
    }
    p.rewards.validate()?;
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
