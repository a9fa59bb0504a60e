//! Read-only views.

use cosmwasm_std::{Addr, Deps, Order, StdError, StdResult};
use cw_storage_plus::Bound;
use fairshare_protocol::asset::StakeAsset;
use fairshare_protocol::escrow::{
    ConfigResponse, Role, StakeResponse, StakeStatus, StakesResponse,
};

use crate::claim::payable;

use crate::state::{records, Asset, Stake, CONFIG, STAKES};

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
fn response(
    deps: Deps,
    round_id: u64,
    participant: Addr,
    role: Role,
    s: Stake,
) -> StdResult<StakeResponse> {
    let status = match s.status {
        StakeStatus::Locked => {
            let cfg = CONFIG.load(deps.storage)?;
            match payable(deps, &cfg, round_id, &participant, role, &s)
                .map_err(|e| StdError::generic_err(e.to_string()))?
            {
                Some(p) => StakeStatus::Claimable {
                    stake_return: p.stake_return,
                    reward: p.reward,
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

/// What `address` has bonded in `round_id` as `role`.
pub fn bond(deps: Deps, round_id: u64, address: String, role: Role) -> StdResult<StakeResponse> {
    let addr = deps.api.addr_validate(&address)?;
    let s = records(role)
        .may_load(deps.storage, (round_id, &addr))?
        .ok_or_else(|| {
            StdError::not_found(format!("{role:?} bond of {address} in round {round_id}"))
        })?;
    response(deps, round_id, addr, role, s)
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
        .map(|r| r.and_then(|(a, s)| response(deps, round_id, a, Role::Participant, s)))
        .collect::<StdResult<_>>()?;
    Ok(StakesResponse { stakes })
}
