//! Pull claims: each participant takes back its stake (less any slash) and its reward.

use cosmwasm_std::{
    to_json_binary, Addr, BankMsg, Coin, CosmosMsg, DepsMut, MessageInfo, Response, StdResult,
    Uint128, WasmMsg,
};
use cw20::Cw20ExecuteMsg;
use fairshare_protocol::escrow::StakeStatus;

use crate::error::ContractError;
use crate::settle::mint;
use crate::state::{Asset, Ending, CONFIG, ROUNDS, STAKES, TOTALS};

pub fn claim(deps: DepsMut, info: MessageInfo, round_id: u64) -> Result<Response, ContractError> {
    let cfg = CONFIG.load(deps.storage)?;
    let who = info.sender;
    let mut stake = STAKES
        .may_load(deps.storage, (round_id, &who))?
        .ok_or_else(|| ContractError::NothingToClaim(who.to_string(), round_id))?;
    let ending = ROUNDS
        .may_load(deps.storage, round_id)?
        .and_then(|r| r.ending);
    let (stake_return, reward) = match (&stake.status, ending) {
        (StakeStatus::Claimed { .. }, _) => {
            return Err(ContractError::AlreadyClaimed(who.into_string(), round_id))
        }
        (
            StakeStatus::Claimable {
                stake_return,
                reward,
            },
            _,
        ) => (*stake_return, *reward),
        (StakeStatus::Locked, Some(Ending::Refunded)) => (stake.amount, Uint128::zero()),
        (StakeStatus::Locked, _) => return Err(ContractError::RoundNotEnded(round_id)),
    };
    stake.status = StakeStatus::Claimed {
        stake_return,
        reward,
    };
    STAKES.save(deps.storage, (round_id, &who), &stake)?;
    TOTALS.update(deps.storage, |mut t| -> StdResult<_> {
        t.claimable_stake -= stake_return;
        t.unclaimed_rewards -= reward;
        t.minted_total += reward;
        Ok(t)
    })?;
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
