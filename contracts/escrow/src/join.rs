//! Bonding: a participant's stake (joining a round), an evaluator's bond (serving in one) and
//! a challenger's deposit (disputing a report). The escrow records what it received, then asks
//! the round-manager to register it; if the round-manager refuses, the whole message reverts.

use cosmwasm_std::{
    to_json_binary, Addr, DepsMut, HexBinary, MessageInfo, Response, Uint128, WasmMsg,
};
use cw20::Cw20ReceiveMsg;
use fairshare_protocol::escrow::{Role, StakeStatus};
use fairshare_protocol::report::UtilityTable;
use fairshare_protocol::round_manager::ExecuteMsg as RoundMsg;

use crate::error::ContractError;
use crate::state::{add, records, Asset, Stake, CONFIG, ROUNDS, TOTALS};

/// What a bond is for, with what the round-manager needs to register it.
pub enum Purpose {
    Join {
        pubkey: HexBinary,
    },
    Serve,
    Dispute {
        evaluator: String,
        table: UtilityTable,
    },
}

impl Purpose {
    fn role(&self) -> Role {
        match self {
            Purpose::Join { .. } => Role::Participant,
            Purpose::Serve => Role::Evaluator,
            Purpose::Dispute { .. } => Role::Challenger,
        }
    }
}

/// The amount of native stake coin attached to `info`.
pub fn native_payment(deps: &DepsMut, info: &MessageInfo) -> Result<Uint128, ContractError> {
    let cfg = CONFIG.load(deps.storage)?;
    match &cfg.stake_asset {
        Asset::Native(denom) => Ok(cw_utils::must_pay(info, denom)?),
        Asset::Cw20(addr) => Err(ContractError::WrongAsset {
            expected: format!("CW20 {addr} (send it with a hook message)"),
            got: "native coins".into(),
        }),
    }
}

/// The sender and amount of a CW20 `Send`, if the token is the stake asset.
pub fn cw20_payment(
    deps: &DepsMut,
    info: &MessageInfo,
    wrapper: &Cw20ReceiveMsg,
) -> Result<(Addr, Uint128), ContractError> {
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
    Ok((deps.api.addr_validate(&wrapper.sender)?, wrapper.amount))
}

/// Locks `amount` from `staker` in `round_id` for `purpose` and registers it with the
/// round-manager.
pub fn bond(
    deps: DepsMut,
    staker: Addr,
    amount: Uint128,
    round_id: u64,
    purpose: Purpose,
) -> Result<Response, ContractError> {
    let cfg = CONFIG.load(deps.storage)?;
    let role = purpose.role();
    if role == Role::Participant && amount < cfg.min_stake {
        return Err(ContractError::StakeTooLow {
            got: amount,
            min: cfg.min_stake,
        });
    }
    let map = records(role);
    let existing = map.may_load(deps.storage, (round_id, &staker))?;
    let record = match (existing, role) {
        (None, _) => Stake {
            amount,
            status: StakeStatus::Locked,
            penalty: Uint128::zero(),
        },
        // A challenger may dispute several reports; its deposits add up.
        (Some(mut s), Role::Challenger) => {
            s.amount = add(s.amount, amount)?;
            s
        }
        (Some(_), _) => return Err(ContractError::AlreadyStaked(staker.into_string(), round_id)),
    };
    let mut round = ROUNDS.may_load(deps.storage, round_id)?.unwrap_or_default();
    if round.ending.is_some() {
        return Err(ContractError::RoundAlreadyEnded(round_id));
    }
    if record.amount == amount {
        round.stakers += 1;
    }
    round.locked = add(round.locked, amount)?;
    ROUNDS.save(deps.storage, round_id, &round)?;
    map.save(deps.storage, (round_id, &staker), &record)?;
    TOTALS.update(deps.storage, |mut t| -> Result<_, ContractError> {
        t.locked = add(t.locked, amount)?;
        Ok(t)
    })?;
    let (action, msg) = match purpose {
        Purpose::Join { pubkey } => (
            "join",
            RoundMsg::RegisterParticipant {
                round_id,
                participant: staker.to_string(),
                pubkey,
                stake: amount,
            },
        ),
        Purpose::Serve => (
            "serve",
            RoundMsg::RegisterEvaluator {
                round_id,
                evaluator: staker.to_string(),
                bond: amount,
            },
        ),
        Purpose::Dispute { evaluator, table } => (
            "dispute",
            RoundMsg::Dispute {
                round_id,
                evaluator,
                challenger: staker.to_string(),
                deposit: amount,
                table,
            },
        ),
    };
    let register = WasmMsg::Execute {
        contract_addr: cfg.round_manager.into_string(),
        msg: to_json_binary(&msg)?,
        funds: vec![],
    };
    Ok(Response::new()
        .add_message(register)
        .add_attribute("action", action)
        .add_attribute("round_id", round_id.to_string())
        .add_attribute("staker", staker)
        .add_attribute("amount", amount))
}
