//! Pull claims: each participant takes back its stake (less any slash) and its reward.

use cosmwasm_std::{
    to_json_binary, Addr, BankMsg, Coin, CosmosMsg, Deps, DepsMut, MessageInfo, Response,
    StdResult, Uint128, WasmMsg,
};
use cw20::Cw20ExecuteMsg;
use fairshare_protocol::escrow::StakeStatus;
use fairshare_protocol::round_manager::{ParticipantResult, QueryMsg as RoundQuery};

use crate::error::ContractError;
use crate::settle::mint;
use crate::state::{add, sub, Asset, Config, Ending, Stake, CONFIG, ROUNDS, STAKES, TOTALS};

/// What a stake of a round that has ended pays back: `(stake_return, reward)`. For a settled
/// round the figures are the round-manager's result for the participant.
pub fn payable(
    deps: Deps,
    cfg: &Config,
    round_id: u64,
    who: &Addr,
    stake: &Stake,
) -> Result<Option<(Uint128, Uint128)>, ContractError> {
    let ending = ROUNDS
        .may_load(deps.storage, round_id)?
        .and_then(|r| r.ending);
    match ending {
        None => Ok(None),
        Some(Ending::Refunded) => Ok(Some((stake.amount, Uint128::zero()))),
        Some(Ending::Settled) => {
            let r: ParticipantResult = deps.querier.query_wasm_smart(
                &cfg.round_manager,
                &RoundQuery::Result {
                    round_id,
                    participant: who.to_string(),
                },
            )?;
            let stake_return = stake.amount.checked_sub(r.slash).map_err(|_| {
                ContractError::SlashExceedsStake {
                    participant: who.to_string(),
                    slash: r.slash,
                    stake: stake.amount,
                }
            })?;
            Ok(Some((stake_return, r.reward)))
        }
    }
}

pub fn claim(deps: DepsMut, info: MessageInfo, round_id: u64) -> Result<Response, ContractError> {
    let cfg = CONFIG.load(deps.storage)?;
    let who = info.sender;
    let mut stake = STAKES
        .may_load(deps.storage, (round_id, &who))?
        .ok_or_else(|| ContractError::NothingToClaim(who.to_string(), round_id))?;
    if let StakeStatus::Claimed { .. } = stake.status {
        return Err(ContractError::AlreadyClaimed(who.into_string(), round_id));
    }
    let (stake_return, reward) = payable(deps.as_ref(), &cfg, round_id, &who, &stake)?
        .ok_or(ContractError::RoundNotEnded(round_id))?;
    stake.status = StakeStatus::Claimed {
        stake_return,
        reward,
    };
    STAKES.save(deps.storage, (round_id, &who), &stake)?;
    let mut t = TOTALS.load(deps.storage)?;
    t.claimable_stake = sub(t.claimable_stake, stake_return)?;
    t.unclaimed_rewards = sub(t.unclaimed_rewards, reward)?;
    t.minted_total = add(t.minted_total, reward)?;
    TOTALS.save(deps.storage, &t)?;
    let mut msgs = vec![];
    if !stake_return.is_zero() {
        msgs.push(pay_stake(&cfg.stake_asset, &who, stake_return)?);
    }
    if !reward.is_zero() {
        msgs.push(mint(&cfg, who.as_str(), reward)?);
    }
    Ok(Response::new()
        .add_messages(msgs)
        .add_attribute("action", "claim")
        .add_attribute("round_id", round_id.to_string())
        .add_attribute("participant", who)
        .add_attribute("stake_return", stake_return)
        .add_attribute("reward", reward))
}

/// A transfer of `amount` of the stake asset from the escrow to `to`.
pub fn pay_stake(asset: &Asset, to: &Addr, amount: Uint128) -> StdResult<CosmosMsg> {
    Ok(match asset {
        Asset::Native(denom) => BankMsg::Send {
            to_address: to.to_string(),
            amount: vec![Coin {
                denom: denom.clone(),
                amount,
            }],
        }
        .into(),
        Asset::Cw20(token) => WasmMsg::Execute {
            contract_addr: token.to_string(),
            msg: to_json_binary(&Cw20ExecuteMsg::Transfer {
                recipient: to.to_string(),
                amount,
            })?,
            funds: vec![],
        }
        .into(),
    })
}
