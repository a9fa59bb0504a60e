//! Read-only views.

use cosmwasm_std::{Addr, Deps, Order, StdError, StdResult};
use cw_storage_plus::Bound;
use fairshare_protocol::asset::StakeAsset;
use fairshare_protocol::escrow::{ConfigResponse, StakeResponse, StakeStatus, StakesResponse};

use crate::claim::payable;

use crate::state::{Asset, Stake, CONFIG, STAKES};

const DEFAULT_LIMIT: u32 = 30;
const MAX_LIMIT: u32 = 100;

pub fn config(deps: Deps) -> StdResult<ConfigResponse> {
    let c = CONFIG.load(deps.storage)?;
    Ok(ConfigResponse {
        owner: c.owner,
        round_manager: c.round_manager,
        reward_token: c.reward_token,
        stake_asset: match c.stake_asset {
            Asset::Native(denom) => StakeAsset::Native { denom },
            Asset::Cw20(a) => StakeAsset::Cw20 {
                address: a.into_string(),
            },
        },
        min_stake: c.min_stake,
        treasury: c.treasury,
    })
}

/// A stake as it stands: a locked stake of a round that has ended shows what it can claim.
fn response(deps: Deps, round_id: u64, participant: Addr, s: Stake) -> StdResult<StakeResponse> {
    let status = match s.status {
        StakeStatus::Locked => {
            let cfg = CONFIG.load(deps.storage)?;
            match payable(deps, &cfg, round_id, &participant, &s)
                .map_err(|e| StdError::generic_err(e.to_string()))?
            {
                Some((stake_return, reward)) => StakeStatus::Claimable {
                    stake_return,
                    reward,
                },
                None => StakeStatus::Locked,
            }
        }
        other => other,
    };
    Ok(StakeResponse {
        participant,
        round_id,
        amount: s.amount,
        status,
    })
}

pub fn stake(deps: Deps, round_id: u64, participant: String) -> StdResult<StakeResponse> {
    let addr = deps.api.addr_validate(&participant)?;
    let s = STAKES
        .may_load(deps.storage, (round_id, &addr))?
        .ok_or_else(|| {
            StdError::not_found(format!("stake of {participant} in round {round_id}"))
        })?;
    response(deps, round_id, addr, s)
}

pub fn stakes(
    deps: Deps,
    round_id: u64,
    start_after: Option<String>,
    limit: Option<u32>,
) -> StdResult<StakesResponse> {
    let start = start_after
        .map(|s| deps.api.addr_validate(&s))
        .transpose()?;
    let stakes = STAKES
        .prefix(round_id)
        .range(
            deps.storage,
            start.as_ref().map(Bound::exclusive),
            None,
            Order::Ascending,
        )
        .take(limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT) as usize)
        .map(|r| r.and_then(|(a, s)| response(deps, round_id, a, s)))
        .collect::<StdResult<_>>()?;
    Ok(StakesResponse { stakes })
}
