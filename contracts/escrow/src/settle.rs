//! Applying a round's outcome, as reported by the round-manager.

use cosmwasm_std::{
    to_json_binary, CosmosMsg, DepsMut, Env, MessageInfo, Response, StdResult, Uint128, Uint256,
    WasmMsg,
};
use cw20::{Cw20ExecuteMsg, Cw20QueryMsg, MinterResponse, TokenInfoResponse};
use fairshare_protocol::escrow::{StakeOutcome, StakeStatus};

use crate::claim::pay_stake;
use crate::error::ContractError;
use crate::state::{Config, Ending, CONFIG, ROUNDS, STAKES, TOTALS};

pub fn settle_round(
    deps: DepsMut,
    _env: Env,
    info: MessageInfo,
    round_id: u64,
    mut outcomes: Vec<StakeOutcome>,
    mut dust: Uint128,
) -> Result<Response, ContractError> {
    let cfg = CONFIG.load(deps.storage)?;
    if info.sender != cfg.round_manager {
        return Err(ContractError::NotRoundManager);
    }
    let mut round = ROUNDS.may_load(deps.storage, round_id)?.unwrap_or_default();
    if round.ending.is_some() {
        return Err(ContractError::RoundAlreadyEnded(round_id));
    }
    if outcomes.len() != round.stakers as usize {
        return Err(ContractError::OutcomeCount {
            round_id,
            expected: round.stakers,
            got: outcomes.len(),
        });
    }

    // Rewards are minted at claim time; make sure the token's cap can honour every one of
    // them, scaling the round down if it cannot, so that no claim can ever fail.
    let scaled = fit_under_cap(&deps, &cfg, &mut outcomes, &mut dust)?;

    let mut totals = TOTALS.load(deps.storage)?;
    let mut slashed = Uint128::zero();
    for o in &outcomes {
        let addr = deps.api.addr_validate(&o.participant)?;
        let mut stake = match STAKES.may_load(deps.storage, (round_id, &addr))? {
            Some(s) if s.status == StakeStatus::Locked => s,
            _ => {
                return Err(ContractError::UnknownStaker(
                    o.participant.clone(),
                    round_id,
                ))
            }
        };
        if o.slash > stake.amount {
            return Err(ContractError::SlashExceedsStake {
                participant: o.participant.clone(),
                slash: o.slash,
                stake: stake.amount,
            });
        }
        let stake_return = stake.amount - o.slash;
        stake.status = StakeStatus::Claimable {
            stake_return,
            reward: o.reward,
        };
        STAKES.save(deps.storage, (round_id, &addr), &stake)?;
        slashed += o.slash;
        totals.claimable_stake += stake_return;
        totals.unclaimed_rewards = totals
            .unclaimed_rewards
            .checked_add(o.reward)
            .map_err(|_| ContractError::Overflow)?;
    }
    totals.locked -= round.locked;
    totals.slashed_total += slashed;
    totals.minted_total += dust;
    TOTALS.save(deps.storage, &totals)?;
    round.ending = Some(Ending::Settled);
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
        .add_attribute("slashed", slashed)
        .add_attribute("dust", dust)
        .add_attribute("scaled_to_cap", scaled.to_string()))
}

pub fn refund_round(
    deps: DepsMut,
    info: MessageInfo,
    round_id: u64,
) -> Result<Response, ContractError> {
    let cfg = CONFIG.load(deps.storage)?;
    if info.sender != cfg.round_manager {
        return Err(ContractError::NotRoundManager);
    }
    let mut round = ROUNDS.may_load(deps.storage, round_id)?.unwrap_or_default();
    if round.ending.is_some() {
        return Err(ContractError::RoundAlreadyEnded(round_id));
    }
    TOTALS.update(deps.storage, |mut t| -> StdResult<_> {
        t.locked -= round.locked;
        t.claimable_stake += round.locked;
        Ok(t)
    })?;
    round.ending = Some(Ending::Refunded);
    ROUNDS.save(deps.storage, round_id, &round)?;
    Ok(Response::new()
        .add_attribute("action", "refund_round")
        .add_attribute("round_id", round_id.to_string())
        .add_attribute("refundable", round.locked))
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

/// Scales rewards and dust down proportionally when minting them all would pass the token's
/// cap (counting rewards already owed). Returns whether it scaled.
fn fit_under_cap(
    deps: &DepsMut,
    cfg: &Config,
    outcomes: &mut [StakeOutcome],
    dust: &mut Uint128,
) -> Result<bool, ContractError> {
    let minter: Option<MinterResponse> = deps
        .querier
        .query_wasm_smart(&cfg.reward_token, &Cw20QueryMsg::Minter {})?;
    let Some(cap) = minter.and_then(|m| m.cap) else {
        return Ok(false);
    };
    let info: TokenInfoResponse = deps
        .querier
        .query_wasm_smart(&cfg.reward_token, &Cw20QueryMsg::TokenInfo {})?;
    let owed = TOTALS.load(deps.storage)?.unclaimed_rewards;
    let room = cap.saturating_sub(info.total_supply).saturating_sub(owed);
    let wanted = outcomes
        .iter()
        .fold(Uint256::from(*dust), |a, o| a + Uint256::from(o.reward));
    if wanted <= Uint256::from(room) {
        return Ok(false);
    }
    let scale = |x: Uint128| -> Result<Uint128, ContractError> {
        Uint128::try_from(Uint256::from(x).multiply_ratio(room, wanted))
            .map_err(|_| ContractError::Overflow)
    };
    for o in outcomes.iter_mut() {
        o.reward = scale(o.reward)?;
    }
    *dust = scale(*dust)?;
    Ok(true)
}
