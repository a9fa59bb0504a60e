//! Entry points: each dispatches to the module that does the work.

#[cfg(not(feature = "library"))]
use cosmwasm_std::entry_point;
use cosmwasm_std::{
    from_json, to_json_binary, Binary, Deps, DepsMut, Env, MessageInfo, Response, StdResult,
    Uint128,
};
use fairshare_protocol::asset::StakeAsset;
use fairshare_protocol::escrow::{
    ExecuteMsg, InstantiateMsg, MigrateMsg, QueryMsg, ReceiveMsg, RewardRoomResponse, Role,
    TotalsResponse,
};

use crate::error::ContractError;
use crate::join::Purpose;
use crate::state::{Asset, Config, CONFIG, TOTALS};
use crate::{claim, join, query, settle, CONTRACT_NAME, CONTRACT_VERSION};

#[cfg_attr(not(feature = "library"), entry_point)]
pub fn instantiate(
    deps: DepsMut,
    _env: Env,
    info: MessageInfo,
    msg: InstantiateMsg,
) -> Result<Response, ContractError> {
    cw2::set_contract_version(deps.storage, CONTRACT_NAME, CONTRACT_VERSION)?;
    let owner = match msg.owner {
        Some(o) => deps.api.addr_validate(&o)?,
        None => info.sender,
    };
    let stake_asset = match msg.stake_asset {
        StakeAsset::Native { denom } => Asset::Native(denom),
        StakeAsset::Cw20 { address } => Asset::Cw20(deps.api.addr_validate(&address)?),
    };
    let cfg = Config {
        owner,
        round_manager: deps.api.addr_validate(&msg.round_manager)?,
        reward_token: deps.api.addr_validate(&msg.reward_token)?,
        stake_asset,
        min_stake: msg.min_stake,
        treasury: deps.api.addr_validate(&msg.treasury)?,
    };
    CONFIG.save(deps.storage, &cfg)?;
    TOTALS.save(
        deps.storage,
        &TotalsResponse {
            locked: Uint128::zero(),
            claimable_stake: Uint128::zero(),
            unclaimed_rewards: Uint128::zero(),
            slashed_total: Uint128::zero(),
            minted_total: Uint128::zero(),
        },
    )?;
    Ok(Response::new()
        .add_attribute("action", "instantiate")
        .add_attribute("owner", cfg.owner))
}

#[cfg_attr(not(feature = "library"), entry_point)]
pub fn execute(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    msg: ExecuteMsg,
) -> Result<Response, ContractError> {
    match msg {
        ExecuteMsg::Join { round_id, pubkey } => {
            let amount = join::native_payment(&deps, &info)?;
            join::bond(
                deps,
                info.sender,
                amount,
                round_id,
                Purpose::Join { pubkey },
            )
        }
        ExecuteMsg::Serve { round_id } => {
            let amount = join::native_payment(&deps, &info)?;
            join::bond(deps, info.sender, amount, round_id, Purpose::Serve)
        }
        ExecuteMsg::Dispute {
            round_id,
            evaluator,
            table,
        } => {
            let amount = join::native_payment(&deps, &info)?;
            join::bond(
                deps,
                info.sender,
                amount,
                round_id,
                Purpose::Dispute { evaluator, table },
            )
        }
        ExecuteMsg::Receive(wrapper) => {
            let hook: ReceiveMsg =
                from_json(&wrapper.msg).map_err(|e| ContractError::BadHookMsg(e.to_string()))?;
            let (staker, amount) = join::cw20_payment(&deps, &info, &wrapper)?;
            let (round_id, purpose) = match hook {
                ReceiveMsg::Join { round_id, pubkey } => (round_id, Purpose::Join { pubkey }),
                ReceiveMsg::Serve { round_id } => (round_id, Purpose::Serve),
                ReceiveMsg::Dispute {
                    round_id,
                    evaluator,
                    table,
                } => (round_id, Purpose::Dispute { evaluator, table }),
            };
            join::bond(deps, staker, amount, round_id, purpose)
        }
        ExecuteMsg::ReserveRewards { round_id, amount } => {
            settle::reserve_rewards(deps, info, round_id, amount)
        }
        ExecuteMsg::SettleRound {
            round_id,
            rewards,
            slashed,
            dust,
        } => settle::settle_round(deps, info, round_id, rewards, slashed, dust),
        ExecuteMsg::RefundRound { round_id, slashed } => {
            settle::refund_round(deps, info, round_id, slashed)
        }
        ExecuteMsg::Claim { round_id } => claim::claim(deps, env, info, round_id),
        ExecuteMsg::PenalizeEvaluator {
            round_id,
            evaluator,
            amount,
            reason,
        } => claim::penalize_evaluator(deps, env, info, round_id, evaluator, amount, reason),
        ExecuteMsg::UpdateConfig {
            owner,
            round_manager,
            treasury,
            min_stake,
        } => update_config(deps, info, owner, round_manager, treasury, min_stake),
    }
}

fn update_config(
    deps: DepsMut,
    info: MessageInfo,
    owner: Option<String>,
    round_manager: Option<String>,
    treasury: Option<String>,
    min_stake: Option<Uint128>,
) -> Result<Response, ContractError> {
    let mut cfg = CONFIG.load(deps.storage)?;
    if info.sender != cfg.owner {
        return Err(ContractError::NotOwner);
    }
    if let Some(o) = owner {
        cfg.owner = deps.api.addr_validate(&o)?;
    }
    if let Some(r) = round_manager {
        cfg.round_manager = deps.api.addr_validate(&r)?;
    }
    if let Some(t) = treasury {
        cfg.treasury = deps.api.addr_validate(&t)?;
    }
    if let Some(m) = min_stake {
        cfg.min_stake = m;
    }
    CONFIG.save(deps.storage, &cfg)?;
    Ok(Response::new().add_attribute("action", "update_config"))
}

#[cfg_attr(not(feature = "library"), entry_point)]
pub fn query(deps: Deps, _env: Env, msg: QueryMsg) -> StdResult<Binary> {
    match msg {
        QueryMsg::Config {} => to_json_binary(&query::config(deps)?),
        QueryMsg::Stake {
            round_id,
            participant,
        } => to_json_binary(&query::bond(
            deps,
            round_id,
            participant,
            Role::Participant,
        )?),
        QueryMsg::Bond {
            round_id,
            address,
            role,
        } => to_json_binary(&query::bond(deps, round_id, address, role)?),
        QueryMsg::Stakes {
            round_id,
            start_after,
            limit,
        } => to_json_binary(&query::stakes(deps, round_id, start_after, limit)?),
        QueryMsg::Totals {} => to_json_binary(&TOTALS.load(deps.storage)?),
        QueryMsg::RewardRoom {} => {
            let cfg = CONFIG.load(deps.storage)?;
            let room = settle::reward_room(deps, &cfg)
                .map_err(|e| cosmwasm_std::StdError::generic_err(e.to_string()))?;
            to_json_binary(&RewardRoomResponse { room })
        }
    }
}

#[cfg_attr(not(feature = "library"), entry_point)]
pub fn migrate(deps: DepsMut, _env: Env, _msg: MigrateMsg) -> Result<Response, ContractError> {
    cw2::ensure_from_older_version(deps.storage, CONTRACT_NAME, CONTRACT_VERSION)
        .map_err(|e| ContractError::Migration(e.to_string()))?;
    Ok(Response::new().add_attribute("action", "migrate"))
}
