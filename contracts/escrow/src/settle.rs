//! A round's end, as the round-manager reports it: the reward reservation when its pool is
//! fixed, the totals when its paged settlement completes, or a refund when it failed.
//!
//! Per-participant figures are never sent here: a claim reads them from the round-manager's
//! `Result` query, so the escrow pays exactly what every query shows.

use cosmwasm_std::{
    to_json_binary, CosmosMsg, Deps, DepsMut, MessageInfo, Response, StdResult, Uint128, WasmMsg,
};
use cw20::{Cw20ExecuteMsg, Cw20QueryMsg, MinterResponse, TokenInfoResponse};

use crate::claim::pay_stake;
use crate::error::ContractError;
use crate::state::{add, sub, Config, Ending, RoundStakes, CONFIG, ROUNDS, TOTALS};

fn open_round(
    deps: &DepsMut,
    info: &MessageInfo,
    round_id: u64,
) -> Result<(Config, RoundStakes), ContractError> {
    let cfg = CONFIG.load(deps.storage)?;
    if info.sender != cfg.round_manager {
        return Err(ContractError::NotRoundManager);
    }
    let round = ROUNDS.may_load(deps.storage, round_id)?.unwrap_or_default();
    if round.ending.is_some() {
        return Err(ContractError::RoundAlreadyEnded(round_id));
    }
    Ok((cfg, round))
}

pub fn reserve_rewards(
    deps: DepsMut,
    info: MessageInfo,
    round_id: u64,
    amount: Uint128,
) -> Result<Response, ContractError> {
    let (cfg, mut round) = open_round(&deps, &info, round_id)?;
    if !round.reserved.is_zero() {
        return Err(ContractError::AlreadyReserved(round_id));
    }
    let room = reward_room(deps.as_ref(), &cfg)?;
    if amount > room {
        return Err(ContractError::OverCap { amount, room });
    }
    round.reserved = amount;
    ROUNDS.save(deps.storage, round_id, &round)?;
    let mut totals = TOTALS.load(deps.storage)?;
    totals.unclaimed_rewards = add(totals.unclaimed_rewards, amount)?;
    TOTALS.save(deps.storage, &totals)?;
    Ok(Response::new()
        .add_attribute("action", "reserve_rewards")
        .add_attribute("round_id", round_id.to_string())
        .add_attribute("reserved", amount))
}

pub fn settle_round(
    deps: DepsMut,
    info: MessageInfo,
    round_id: u64,
    rewards: Uint128,
    slashed: Uint128,
    dust: Uint128,
) -> Result<Response, ContractError> {
    let (cfg, mut round) = open_round(&deps, &info, round_id)?;
    if add(rewards, dust)? != round.reserved {
        return Err(ContractError::ReservationMismatch {
            round_id,
            rewards,
            dust,
            reserved: round.reserved,
        });
    }
    if slashed > round.locked {
        return Err(ContractError::SlashExceedsStakes {
            round_id,
            slashed,
            locked: round.locked,
        });
    }
    let mut totals = TOTALS.load(deps.storage)?;
    totals.locked = sub(totals.locked, round.locked)?;
    totals.claimable_stake = add(totals.claimable_stake, sub(round.locked, slashed)?)?;
    totals.slashed_total = add(totals.slashed_total, slashed)?;
    totals.unclaimed_rewards = sub(totals.unclaimed_rewards, dust)?;
    totals.minted_total = add(totals.minted_total, dust)?;
    TOTALS.save(deps.storage, &totals)?;
    round.ending = Some(Ending::Settled);
    round.slashed = slashed;
    ROUNDS.save(deps.storage, round_id, &round)?;

    let mut msgs: Vec<CosmosMsg> = vec![];
    if !slashed.is_zero() {
        msgs.push(pay_stake(&cfg.stake_asset, &cfg.treasury, slashed)?);
    }
    if !dust.is_zero() {
        msgs.push(mint(&cfg, cfg.treasury.as_str(), dust)?);
    }
    Ok(Response::new()
        .add_messages(msgs)
        .add_attribute("action", "settle_round")
        .add_attribute("round_id", round_id.to_string())
        .add_attribute("rewards", rewards)
        .add_attribute("slashed", slashed)
        .add_attribute("dust", dust))
}

pub fn refund_round(
    deps: DepsMut,
    info: MessageInfo,
    round_id: u64,
    slashed: Uint128,
) -> Result<Response, ContractError> {
    let (cfg, mut round) = open_round(&deps, &info, round_id)?;
    if slashed > round.locked {
        return Err(ContractError::SlashExceedsStakes {
            round_id,
            slashed,
            locked: round.locked,
        });
    }
    let refundable = sub(round.locked, slashed)?;
    let mut totals = TOTALS.load(deps.storage)?;
    totals.locked = sub(totals.locked, round.locked)?;
    totals.claimable_stake = add(totals.claimable_stake, refundable)?;
    totals.slashed_total = add(totals.slashed_total, slashed)?;
    totals.unclaimed_rewards = sub(totals.unclaimed_rewards, round.reserved)?;
    TOTALS.save(deps.storage, &totals)?;
    round.reserved = Uint128::zero();
    round.slashed = slashed;
    round.ending = Some(Ending::Refunded);
    ROUNDS.save(deps.storage, round_id, &round)?;
    let mut response = Response::new();
    if !slashed.is_zero() {
        response = response.add_message(pay_stake(&cfg.stake_asset, &cfg.treasury, slashed)?);
    }
    Ok(response
        .add_attribute("action", "refund_round")
        .add_attribute("round_id", round_id.to_string())
        .add_attribute("refundable", refundable)
        .add_attribute("slashed", slashed))
}

/// A mint of the reward token.
pub fn mint(cfg: &Config, recipient: &str, amount: Uint128) -> StdResult<CosmosMsg> {
    Ok(WasmMsg::Execute {
        contract_addr: cfg.reward_token.to_string(),
        msg: to_json_binary(&Cw20ExecuteMsg::Mint {
            recipient: recipient.to_string(),
            amount,
        })?,
        funds: vec![],
    }
    .into())
}

/// What can still be reserved for rewards: `cap − supply − owed`, where `owed` counts every
/// reservation and fixed reward not yet minted (the token's maximum when it has no cap).
pub fn reward_room(deps: Deps, cfg: &Config) -> Result<Uint128, ContractError> {
    let owed = TOTALS.load(deps.storage)?.unclaimed_rewards;
    let minter: Option<MinterResponse> = deps
        .querier
        .query_wasm_smart(&cfg.reward_token, &Cw20QueryMsg::Minter {})?;
    let Some(cap) = minter.and_then(|m| m.cap) else {
        return Ok(Uint128::MAX.saturating_sub(owed));
    };
    let info: TokenInfoResponse = deps
        .querier
        .query_wasm_smart(&cfg.reward_token, &Cw20QueryMsg::TokenInfo {})?;
    Ok(cap.saturating_sub(info.total_supply).saturating_sub(owed))
}
