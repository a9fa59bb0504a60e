//! Configuration, parameters, opening rounds and registering participants.

use cosmwasm_std::{DepsMut, Env, HexBinary, MessageInfo, Response, Uint128};
use fairshare_protocol::commitment::{address_bytes, PUBKEY_LEN};
use fairshare_protocol::round_manager::{Deadlines, Phase, RoundParams, RoundSpec};

use crate::error::ContractError;
use crate::phase;
use crate::state::{
    Closure, Participant, Round, CONFIG, NEXT_ROUND_ID, PARAMS, PARTICIPANTS, ROUNDS,
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
    let settle_until = report_until.saturating_add(s.settle_blocks);
    let round = Round {
        id,
        spec,
        params,
        deadlines: Deadlines {
            opened_at: h,
            join_until,
            commit_until,
            report_until,
            settle_until,
        },
        joined: 0,
        committed: 0,
        reporters: 0,
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
    let cfg = CONFIG.load(deps.storage)?;
    match cfg.escrow {
        Some(e) if e == info.sender => {}
        Some(_) => return Err(ContractError::NotEscrow),
        None => return Err(ContractError::EscrowNotSet),
    }
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

/// Loads a round or says it does not exist.
pub fn load_round(deps: &DepsMut, round_id: u64) -> Result<Round, ContractError> {
    ROUNDS
        .may_load(deps.storage, round_id)?
        .ok_or(ContractError::RoundNotFound(round_id))
}
