//! Bonding a stake and joining a round: the escrow records the stake, then asks the
//! round-manager to register the participant; if that fails, the whole join reverts.

use cosmwasm_std::{
    to_json_binary, Addr, DepsMut, HexBinary, MessageInfo, Response, Uint128, WasmMsg,
};
use cw20::Cw20ReceiveMsg;
use fairshare_protocol::escrow::StakeStatus;
use fairshare_protocol::round_manager::ExecuteMsg as RoundMsg;

use crate::error::ContractError;
use crate::state::{Asset, Stake, CONFIG, ROUNDS, STAKES, TOTALS};

pub fn join_native(
    deps: DepsMut,
    info: MessageInfo,
    round_id: u64,
    pubkey: HexBinary,
) -> Result<Response, ContractError> {
    let cfg = CONFIG.load(deps.storage)?;
    let denom = match &cfg.stake_asset {
        Asset::Native(d) => d.clone(),
        Asset::Cw20(addr) => {
            return Err(ContractError::WrongAsset {
                expected: format!("CW20 {addr} (send it with a Join hook)"),
                got: "native coins".into(),
            })
        }
    };
    let amount = cw_utils::must_pay(&info, &denom)?;
    bond(deps, info.sender, amount, round_id, pubkey)
}

pub fn join_cw20(
    deps: DepsMut,
    info: MessageInfo,
    wrapper: Cw20ReceiveMsg,
    round_id: u64,
    pubkey: HexBinary,
) -> Result<Response, ContractError> {
    let cfg = CONFIG.load(deps.storage)?;
    match &cfg.stake_asset {
        Asset::Cw20(token) if *token == info.sender => {}
        other => {
            return Err(ContractError::WrongAsset {
                expected: match other {
                    Asset::Native(d) => format!("native {d}"),
                    Asset::Cw20(t) => format!("CW20 {t}"),
                },
                got: format!("CW20 {}", info.sender),
            })
        }
    }
    let staker = deps.api.addr_validate(&wrapper.sender)?;
    bond(deps, staker, wrapper.amount, round_id, pubkey)
}

fn bond(
    deps: DepsMut,
    staker: Addr,
    amount: Uint128,
    round_id: u64,
    pubkey: HexBinary,
) -> Result<Response, ContractError> {
    let cfg = CONFIG.load(deps.storage)?;
    if amount < cfg.min_stake {
        return Err(ContractError::StakeTooLow {
            got: amount,
            min: cfg.min_stake,
        });
    }
    if STAKES.has(deps.storage, (round_id, &staker)) {
        return Err(ContractError::AlreadyStaked(staker.into_string(), round_id));
    }
    let mut round = ROUNDS.may_load(deps.storage, round_id)?.unwrap_or_default();
    if round.ending.is_some() {
        return Err(ContractError::RoundAlreadyEnded(round_id));
    }
    round.stakers += 1;
    round.locked = round
        .locked
        .checked_add(amount)
        .map_err(|_| ContractError::Overflow)?;
    ROUNDS.save(deps.storage, round_id, &round)?;
    STAKES.save(
        deps.storage,
        (round_id, &staker),
        &Stake {
            amount,
            status: StakeStatus::Locked,
        },
    )?;
    TOTALS.update(deps.storage, |mut t| -> Result<_, ContractError> {
        t.locked = t
            .locked
            .checked_add(amount)
            .map_err(|_| ContractError::Overflow)?;
        Ok(t)
    })?;
    let register = WasmMsg::Execute {
        contract_addr: cfg.round_manager.into_string(),
        msg: to_json_binary(&RoundMsg::RegisterParticipant {
            round_id,
            participant: staker.to_string(),
            pubkey,
            stake: amount,
        })?,
        funds: vec![],
    };
    Ok(Response::new()
        .add_message(register)
        .add_attribute("action", "join")
        .add_attribute("round_id", round_id.to_string())
        .add_attribute("participant", staker)
        .add_attribute("stake", amount))
}
