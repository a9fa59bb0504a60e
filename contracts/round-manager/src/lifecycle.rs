//! Configuration, parameters, opening rounds and registering participants.

use cosmwasm_std::{Addr, DepsMut, Env, HexBinary, MessageInfo, Response, Uint128};
use fairshare_protocol::commitment::{address_bytes, PUBKEY_LEN};
use fairshare_protocol::round_manager::{Deadlines, Phase, RoundParams, RoundSpec};

use crate::error::ContractError;
use crate::phase;
use crate::state::{
    Closure, EvaluatorBond, Participant, Round, CONFIG, EVALUATORS, NEXT_ROUND_ID, PARAMS,
    PARTICIPANTS, ROUNDS,
};
use crate::validate;

pub fn update_config(
    deps: DepsMut,
    info: MessageInfo,
    owner: Option<String>,
    operator: Option<String>,
    escrow: Option<String>,
) -> Result<Response, ContractError> {
    let mut cfg = CONFIG.load(deps.storage)?;
    if info.sender != cfg.owner {
        return Err(ContractError::NotOwner);
    }
    if let Some(o) = owner {
        cfg.owner = deps.api.addr_validate(&o)?;
    }
    if let Some(o) = operator {
        cfg.operator = Some(deps.api.addr_validate(&o)?);
    }
    if let Some(e) = escrow {
        cfg.escrow = Some(deps.api.addr_validate(&e)?);
    }
    CONFIG.save(deps.storage, &cfg)?;
    Ok(Response::new()
        .add_attribute("action", "update_config")
        .add_attribute("owner", cfg.owner))
}

pub fn update_params(
    deps: DepsMut,
    info: MessageInfo,
    params: RoundParams,
) -> Result<Response, ContractError> {
    let cfg = CONFIG.load(deps.storage)?;
    if info.sender != cfg.owner {
        return Err(ContractError::NotOwner);
    }
    let params = validate::params(deps.api, params)?;
    PARAMS.save(deps.storage, &params)?;
    Ok(Response::new()
        .add_attribute("action", "update_params")
        .add_attribute("reward_budget", params.rewards.budget))
}

pub fn open_round(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    spec: RoundSpec,
) -> Result<Response, ContractError> {
    let cfg = CONFIG.load(deps.storage)?;
    if info.sender != cfg.owner && Some(&info.sender) != cfg.operator.as_ref() {
        return Err(ContractError::NotOperator);
    }
    if cfg.escrow.is_none() {
        return Err(ContractError::EscrowNotSet);
    }
    validate::spec(&spec)?;
    let params = PARAMS.load(deps.storage)?;
    let id = NEXT_ROUND_ID.load(deps.storage)?;
    let h = env.block.height;
    let s = params.schedule;
    // validate::params bounds the sum of the windows; a height near u64::MAX saturates.
    let join_until = h.saturating_add(s.join_blocks);
    let commit_until = join_until.saturating_add(s.train_blocks);
    let report_until = commit_until.saturating_add(s.eval_blocks);
    let reveal_until = report_until.saturating_add(s.reveal_blocks);
    let dispute_until = reveal_until.saturating_add(s.dispute_blocks);
    let settle_until = dispute_until.saturating_add(s.settle_blocks);
    let round = Round {
        id,
        spec,
        params,
        deadlines: Deadlines {
            opened_at: h,
            join_until,
            commit_until,
            report_until,
            reveal_until,
            dispute_until,
            settle_until,
        },
        joined: 0,
        committed: 0,
        bonded: 0,
        report_commits: 0,
        reporters: 0,
        struck: 0,
        closure: Closure::Active,
        settling: None,
    };
    ROUNDS.save(deps.storage, id, &round)?;
    NEXT_ROUND_ID.save(deps.storage, &(id + 1))?;
    Ok(Response::new()
        .add_attribute("action", "open_round")
        .add_attribute("round_id", id.to_string())
        .add_attribute("join_until", join_until.to_string())
        .add_attribute("commit_until", commit_until.to_string())
        .add_attribute("report_until", report_until.to_string())
        .add_attribute("reveal_until", reveal_until.to_string())
        .add_attribute("dispute_until", dispute_until.to_string())
        .add_attribute("settle_until", settle_until.to_string()))
}

pub fn register(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    round_id: u64,
    participant: String,
    pubkey: HexBinary,
    stake: Uint128,
) -> Result<Response, ContractError> {
    require_escrow(&deps, &info)?;
    let mut round = load_round(&deps, round_id)?;
    phase::require(&round, env.block.height, &[Phase::Open], "Open")?;
    if round.joined >= round.params.max_participants {
        return Err(ContractError::RoundFull(
            round_id,
            round.params.max_participants,
        ));
    }
    if stake.is_zero() {
        return Err(ContractError::ZeroStake);
    }
    let addr = deps.api.addr_validate(&participant)?;
    if round.params.evaluators.iter().any(|e| e == addr.as_str()) {
        return Err(ContractError::EvaluatorCannotJoin(participant, round_id));
    }
    if PARTICIPANTS.has(deps.storage, (round_id, &addr)) {
        return Err(ContractError::AlreadyJoined(participant, round_id));
    }
    validate::length("pubkey", &pubkey, PUBKEY_LEN)?;
    let derived = address_bytes(pubkey.as_slice())?;
    if deps.api.addr_canonicalize(addr.as_str())?.as_slice() != derived {
        return Err(ContractError::PubkeyMismatch(participant));
    }
    PARTICIPANTS.save(
        deps.storage,
        (round_id, &addr),
        &Participant {
            pubkey,
            stake,
            joined_at: env.block.height,
        },
    )?;
    round.joined += 1;
    ROUNDS.save(deps.storage, round_id, &round)?;
    Ok(Response::new()
        .add_attribute("action", "register_participant")
        .add_attribute("round_id", round_id.to_string())
        .add_attribute("participant", addr)
        .add_attribute("stake", stake))
}

/// Escrow only: an evaluator of the round's list has bonded `bond`.
pub fn register_evaluator(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    round_id: u64,
    evaluator: String,
    bond: Uint128,
) -> Result<Response, ContractError> {
    require_escrow(&deps, &info)?;
    let mut round = load_round(&deps, round_id)?;
    phase::require(
        &round,
        env.block.height,
        &[Phase::Open, Phase::Training, Phase::Evaluating],
        "Open, Training or Evaluating",
    )?;
    let addr = deps.api.addr_validate(&evaluator)?;
    let index = evaluator_index(&round, &addr)?;
    if round.bonded & (1u64 << index) != 0 {
        return Err(ContractError::AlreadyBonded(evaluator, round_id));
    }
    let min = round.params.evaluation.min_bond;
    if bond < min {
        return Err(ContractError::BondTooSmall { bond, min });
    }
    EVALUATORS.save(
        deps.storage,
        (round_id, &addr),
        &EvaluatorBond {
            index,
            bond,
            digest: None,
        },
    )?;
    round.bonded |= 1u64 << index;
    ROUNDS.save(deps.storage, round_id, &round)?;
    Ok(Response::new()
        .add_attribute("action", "register_evaluator")
        .add_attribute("round_id", round_id.to_string())
        .add_attribute("evaluator", addr)
        .add_attribute("bond", bond))
}

/// Position of `addr` in the round's evaluator list.
pub fn evaluator_index(round: &Round, addr: &Addr) -> Result<u8, ContractError> {
    round
        .params
        .evaluators
        .iter()
        .position(|e| e == addr.as_str())
        .and_then(|i| u8::try_from(i).ok())
        .ok_or_else(|| ContractError::NotEvaluator(addr.to_string(), round.id))
}

/// Errors unless the sender is the configured escrow.
pub fn require_escrow(deps: &DepsMut, info: &MessageInfo) -> Result<(), ContractError> {
    match CONFIG.load(deps.storage)?.escrow {
        Some(e) if e == info.sender => Ok(()),
        Some(_) => Err(ContractError::NotEscrow),
        None => Err(ContractError::EscrowNotSet),
    }
}

/// Loads a round or says it does not exist.
pub fn load_round(deps: &DepsMut, round_id: u64) -> Result<Round, ContractError> {
    ROUNDS
        .may_load(deps.storage, round_id)?
        .ok_or(ContractError::RoundNotFound(round_id))
}
