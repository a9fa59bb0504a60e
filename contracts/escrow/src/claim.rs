//! Pull claims: whoever bonded in a round takes back what it bonded, in every role it played
//! (participant stake, evaluator bond, dispute deposits), less slashes, with its reward. The
//! figures are the round-manager's, read at claim time.

use cosmwasm_std::{
    to_json_binary, Addr, BankMsg, Coin, CosmosMsg, Deps, DepsMut, Env, MessageInfo, Response,
    StdResult, Uint128, WasmMsg,
};
use cw20::Cw20ExecuteMsg;
use fairshare_protocol::escrow::{Role, StakeStatus};
use fairshare_protocol::round_manager::{
    ChallengerResult, EvaluatorResult, ParticipantResult, QueryMsg as RoundQuery,
};

use crate::error::ContractError;
use crate::settle::mint;
use crate::state::{
    add, records, sub, Asset, Config, Ending, Stake, BONDS, CONFIG, ROUNDS, TOTALS,
};

const ROLES: [Role; 3] = [Role::Participant, Role::Evaluator, Role::Challenger];

/// What a bond of a round that has ended pays back.
pub struct Payable {
    pub stake_return: Uint128,
    pub reward: Uint128,
    /// Height from which it can be claimed (an evaluator's bond waits out the appeal window).
    pub from: u64,
}

/// What a bond of a round that has ended pays back; `None` while the round has not ended. A
/// participant's stake comes back whole from a failed round; evaluators and challengers are
/// judged by the round-manager whatever the ending.
pub fn payable(
    deps: Deps,
    cfg: &Config,
    round_id: u64,
    who: &Addr,
    role: Role,
    stake: &Stake,
) -> Result<Option<Payable>, ContractError> {
    let ending = ROUNDS
        .may_load(deps.storage, round_id)?
        .and_then(|r| r.ending);
    let Some(ending) = ending else {
        return Ok(None);
    };
    let rm = &cfg.round_manager;
    let mut from = 0;
    let (slash, bonus, reward) = match (role, ending) {
        (Role::Participant, Ending::Refunded) => {
            (Uint128::zero(), Uint128::zero(), Uint128::zero())
        }
        (Role::Participant, Ending::Settled) => {
            let r: ParticipantResult = deps.querier.query_wasm_smart(
                rm,
                &RoundQuery::Result {
                    round_id,
                    participant: who.to_string(),
                },
            )?;
            (r.slash, Uint128::zero(), r.reward)
        }
        (Role::Evaluator, _) => {
            let r: EvaluatorResult = deps.querier.query_wasm_smart(
                rm,
                &RoundQuery::EvaluatorResult {
                    round_id,
                    evaluator: who.to_string(),
                },
            )?;
            from = r.claimable_from;
            (add(r.slash, stake.penalty)?, Uint128::zero(), r.reward)
        }
        (Role::Challenger, _) => {
            let r: ChallengerResult = deps.querier.query_wasm_smart(
                rm,
                &RoundQuery::ChallengerResult {
                    round_id,
                    challenger: who.to_string(),
                },
            )?;
            // Forfeited deposits are the slash; bounties come on top of the deposit.
            let kept = r.stake_return.min(r.deposits);
            (
                sub(r.deposits, kept)?,
                sub(r.stake_return, kept)?,
                Uint128::zero(),
            )
        }
    };
    let stake_return =
        stake
            .amount
            .checked_sub(slash)
            .map_err(|_| ContractError::SlashExceedsStake {
                participant: who.to_string(),
                slash,
                stake: stake.amount,
            })?;
    Ok(Some(Payable {
        stake_return: add(stake_return, bonus)?,
        reward,
        from,
    }))
}

pub fn claim(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    round_id: u64,
) -> Result<Response, ContractError> {
    let cfg = CONFIG.load(deps.storage)?;
    let who = info.sender;
    let mut total_return = Uint128::zero();
    let mut total_reward = Uint128::zero();
    let (mut held, mut paid) = (0u32, 0u32);
    for role in ROLES {
        let map = records(role);
        let Some(mut stake) = map.may_load(deps.storage, (round_id, &who))? else {
            continue;
        };
        held += 1;
        if let StakeStatus::Claimed { .. } = stake.status {
            continue;
        }
        let Payable {
            stake_return,
            reward,
            from,
        } = payable(deps.as_ref(), &cfg, round_id, &who, role, &stake)?
            .ok_or(ContractError::RoundNotEnded(round_id))?;
        if env.block.height < from {
            return Err(ContractError::InAppeal {
                evaluator: who.into_string(),
                round_id,
                until: from,
            });
        }
        stake.status = StakeStatus::Claimed {
            stake_return,
            reward,
        };
        map.save(deps.storage, (round_id, &who), &stake)?;
        total_return = add(total_return, stake_return)?;
        total_reward = add(total_reward, reward)?;
        paid += 1;
    }
    if held == 0 {
        return Err(ContractError::NothingToClaim(who.into_string(), round_id));
    }
    if paid == 0 {
        return Err(ContractError::AlreadyClaimed(who.into_string(), round_id));
    }
    let mut t = TOTALS.load(deps.storage)?;
    t.claimable_stake = sub(t.claimable_stake, total_return)?;
    t.unclaimed_rewards = sub(t.unclaimed_rewards, total_reward)?;
    t.minted_total = add(t.minted_total, total_reward)?;
    TOTALS.save(deps.storage, &t)?;
    let mut msgs = vec![];
    if !total_return.is_zero() {
        msgs.push(pay_stake(&cfg.stake_asset, &who, total_return)?);
    }
    if !total_reward.is_zero() {
        msgs.push(mint(&cfg, who.as_str(), total_reward)?);
    }
    Ok(Response::new()
        .add_messages(msgs)
        .add_attribute("action", "claim")
        .add_attribute("round_id", round_id.to_string())
        .add_attribute("participant", who)
        .add_attribute("stake_return", total_return)
        .add_attribute("reward", total_reward))
}

/// The DAO takes `amount` of an evaluator's bond into the treasury during the appeal window.
pub fn penalize_evaluator(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    round_id: u64,
    evaluator: String,
    amount: Uint128,
    reason: String,
) -> Result<Response, ContractError> {
    let cfg = CONFIG.load(deps.storage)?;
    if info.sender != cfg.owner {
        return Err(ContractError::NotOwner);
    }
    let who = deps.api.addr_validate(&evaluator)?;
    let mut bond = match BONDS.may_load(deps.storage, (round_id, &who))? {
        Some(b) if !matches!(b.status, StakeStatus::Claimed { .. }) => b,
        _ => return Err(ContractError::NoBond(evaluator, round_id)),
    };
    let p = payable(deps.as_ref(), &cfg, round_id, &who, Role::Evaluator, &bond)?
        .ok_or(ContractError::RoundNotEnded(round_id))?;
    if env.block.height >= p.from {
        return Err(ContractError::AppealClosed {
            evaluator,
            round_id,
            until: p.from,
        });
    }
    if amount > p.stake_return || amount.is_zero() {
        return Err(ContractError::PenaltyTooLarge {
            amount,
            left: p.stake_return,
        });
    }
    bond.penalty = add(bond.penalty, amount)?;
    BONDS.save(deps.storage, (round_id, &who), &bond)?;
    let mut t = TOTALS.load(deps.storage)?;
    t.claimable_stake = sub(t.claimable_stake, amount)?;
    t.slashed_total = add(t.slashed_total, amount)?;
    TOTALS.save(deps.storage, &t)?;
    Ok(Response::new()
        .add_message(pay_stake(&cfg.stake_asset, &cfg.treasury, amount)?)
        .add_attribute("action", "penalize_evaluator")
        .add_attribute("round_id", round_id.to_string())
        .add_attribute("evaluator", who)
        .add_attribute("amount", amount)
        .add_attribute("reason", reason))
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
