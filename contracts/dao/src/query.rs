//! Read-only views of proposals, votes, voting power and stakes.

use cosmwasm_std::{Deps, Env, Order, StdResult};
use cw_storage_plus::Bound;
use fairshare_protocol::dao::{
    LockedResponse, PowerResponse, ProposalResponse, ProposalsResponse, StakeResponse, Status,
    VoteInfo, VoteResponse, VotesResponse,
};

use crate::state::{
    BALLOTS, CLAIMS, PROPOSALS, STAKES, TOTAL_DEPOSITS, TOTAL_STAKED, TOTAL_UNBONDING,
};

const DEFAULT_LIMIT: u32 = 10;
const MAX_LIMIT: u32 = 30;

fn page_size(limit: Option<u32>) -> usize {
    limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT) as usize
}

pub fn proposal(deps: Deps, env: Env, proposal_id: u64) -> StdResult<ProposalResponse> {
    PROPOSALS
        .load(deps.storage, proposal_id)?
        .into_response(proposal_id, &env.block)
}

/// Proposals after `start_after`, filtered by their status at the current block. Statuses
/// change with time alone, so they cannot be indexed: the filter scans.
pub fn proposals(
    deps: Deps,
    env: Env,
    status: Option<Status>,
    start_after: Option<u64>,
    limit: Option<u32>,
) -> StdResult<ProposalsResponse> {
    let start = start_after.map(Bound::exclusive);
    let proposals = PROPOSALS
        .range(deps.storage, start, None, Order::Ascending)
        .map(|item| item.and_then(|(id, p)| p.into_response(id, &env.block)))
        .filter(|p| match (p, status) {
            (Ok(p), Some(wanted)) => p.status == wanted,
            _ => true,
        })
        .take(page_size(limit))
        .collect::<StdResult<_>>()?;
    Ok(ProposalsResponse { proposals })
}

pub fn vote(deps: Deps, proposal_id: u64, voter: String) -> StdResult<VoteResponse> {
    let voter = deps.api.addr_validate(&voter)?;
    let vote = BALLOTS
        .may_load(deps.storage, (proposal_id, &voter))?
        .map(|b| VoteInfo {
            voter,
            vote: b.vote,
            power: b.power,
        });
    Ok(VoteResponse { vote })
}

pub fn votes(
    deps: Deps,
    proposal_id: u64,
    start_after: Option<String>,
    limit: Option<u32>,
) -> StdResult<VotesResponse> {
    let start_after = start_after
        .map(|a| deps.api.addr_validate(&a))
        .transpose()?;
    let votes = BALLOTS
        .prefix(proposal_id)
        .range(
            deps.storage,
            start_after.as_ref().map(Bound::exclusive),
            None,
            Order::Ascending,
        )
        .take(page_size(limit))
        .map(|item| {
            item.map(|(voter, b)| VoteInfo {
                voter,
                vote: b.vote,
                power: b.power,
            })
        })
        .collect::<StdResult<_>>()?;
    Ok(VotesResponse { votes })
}

pub fn voting_power(
    deps: Deps,
    env: Env,
    address: String,
    height: Option<u64>,
) -> StdResult<PowerResponse> {
    let address = deps.api.addr_validate(&address)?;
    let height = height.unwrap_or(env.block.height);
    let power = STAKES
        .may_load_at_height(deps.storage, &address, height)?
        .unwrap_or_default();
    Ok(PowerResponse { power, height })
}

pub fn total_power(deps: Deps, env: Env, height: Option<u64>) -> StdResult<PowerResponse> {
    let height = height.unwrap_or(env.block.height);
    let power = TOTAL_STAKED
        .may_load_at_height(deps.storage, height)?
        .unwrap_or_default();
    Ok(PowerResponse { power, height })
}

pub fn stake(deps: Deps, address: String) -> StdResult<StakeResponse> {
    let address = deps.api.addr_validate(&address)?;
    Ok(StakeResponse {
        staked: STAKES.may_load(deps.storage, &address)?.unwrap_or_default(),
        claims: CLAIMS.may_load(deps.storage, &address)?.unwrap_or_default(),
    })
}

pub fn locked(deps: Deps) -> StdResult<LockedResponse> {
    Ok(LockedResponse {
        staked: TOTAL_STAKED.load(deps.storage)?,
        unbonding: TOTAL_UNBONDING.load(deps.storage)?,
        deposits: TOTAL_DEPOSITS.load(deps.storage)?,
    })
}
