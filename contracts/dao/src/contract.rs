//! Entry points: each dispatches to [`crate::execute`] or [`crate::query`].

#[cfg(not(feature = "library"))]
use cosmwasm_std::entry_point;
use cosmwasm_std::{to_json_binary, Binary, Deps, DepsMut, Env, MessageInfo, Reply, Response};
use cosmwasm_std::{StdResult, Uint128};
use cw2::set_contract_version;
use fairshare_protocol::dao::{ExecuteMsg, InstantiateMsg, MigrateMsg, QueryMsg};

use crate::error::ContractError;
use crate::execute;
use crate::query;
use crate::state::{CONFIG, PROPOSAL_COUNT, TOTAL_DEPOSITS, TOTAL_STAKED, TOTAL_UNBONDING};

pub const CONTRACT_NAME: &str = "crates.io:fairshare-dao";
pub const CONTRACT_VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg_attr(not(feature = "library"), entry_point)]
pub fn instantiate(
    deps: DepsMut,
    env: Env,
    _info: MessageInfo,
    msg: InstantiateMsg,
) -> Result<Response, ContractError> {
    set_contract_version(deps.storage, CONTRACT_NAME, CONTRACT_VERSION)?;
    let token = deps.api.addr_validate(&msg.token)?;
    let config = execute::validate_rules(token, msg.rules)?;
    CONFIG.save(deps.storage, &config)?;
    TOTAL_STAKED.save(deps.storage, &Uint128::zero(), env.block.height)?;
    TOTAL_UNBONDING.save(deps.storage, &Uint128::zero())?;
    TOTAL_DEPOSITS.save(deps.storage, &Uint128::zero())?;
    PROPOSAL_COUNT.save(deps.storage, &0)?;
    Ok(Response::new()
        .add_attribute("action", "instantiate")
        .add_attribute("token", config.token))
}

#[cfg_attr(not(feature = "library"), entry_point)]
pub fn execute(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    msg: ExecuteMsg,
) -> Result<Response, ContractError> {
    match msg {
        ExecuteMsg::Receive(wrapper) => execute::receive(deps, env, info, wrapper),
        ExecuteMsg::Unstake { amount } => execute::unstake(deps, env, info, amount),
        ExecuteMsg::Claim {} => execute::claim(deps, env, info),
        ExecuteMsg::Vote { proposal_id, vote } => execute::vote(deps, env, info, proposal_id, vote),
        ExecuteMsg::Execute { proposal_id } => execute::execute(deps, env, info, proposal_id),
        ExecuteMsg::Close { proposal_id } => execute::close(deps, env, info, proposal_id),
        ExecuteMsg::UpdateConfig { rules } => execute::update_config(deps, env, info, rules),
        ExecuteMsg::RunProposal { proposal_id } => {
            execute::run_proposal(deps, env, info, proposal_id)
        }
    }
}

/// Learns how a proposal's messages ended (the reply id is the proposal id).
#[cfg_attr(not(feature = "library"), entry_point)]
pub fn reply(deps: DepsMut, env: Env, msg: Reply) -> Result<Response, ContractError> {
    execute::proposal_ran(deps, env, msg)
}

#[cfg_attr(not(feature = "library"), entry_point)]
pub fn query(deps: Deps, env: Env, msg: QueryMsg) -> StdResult<Binary> {
    match msg {
        QueryMsg::Config {} => to_json_binary(&CONFIG.load(deps.storage)?),
        QueryMsg::Proposal { proposal_id } => {
            to_json_binary(&query::proposal(deps, env, proposal_id)?)
        }
        QueryMsg::Proposals {
            status,
            start_after,
            limit,
        } => to_json_binary(&query::proposals(deps, env, status, start_after, limit)?),
        QueryMsg::VoteOf { proposal_id, voter } => {
            to_json_binary(&query::vote(deps, proposal_id, voter)?)
        }
        QueryMsg::Votes {
            proposal_id,
            start_after,
            limit,
        } => to_json_binary(&query::votes(deps, proposal_id, start_after, limit)?),
        QueryMsg::VotingPower { address, height } => {
            to_json_binary(&query::voting_power(deps, env, address, height)?)
        }
        QueryMsg::TotalPower { height } => to_json_binary(&query::total_power(deps, env, height)?),
        QueryMsg::Stake { address } => to_json_binary(&query::stake(deps, address)?),
        QueryMsg::Locked {} => to_json_binary(&query::locked(deps)?),
    }
}

/// Checks that the stored contract is a DAO (so the DAO's code never lands on another
/// contract's storage) and not newer than this code, then records the new version.
#[cfg_attr(not(feature = "library"), entry_point)]
pub fn migrate(deps: DepsMut, _env: Env, _msg: MigrateMsg) -> Result<Response, ContractError> {
    let stored = cw2::get_contract_version(deps.storage)?;
    if stored.contract != CONTRACT_NAME {
        return Err(ContractError::WrongContract {
            expected: CONTRACT_NAME,
            found: stored.contract,
        });
    }
    // Refuses a downgrade from a newer version.
    let from = cw2::ensure_from_older_version(deps.storage, CONTRACT_NAME, CONTRACT_VERSION)?;
    Ok(Response::new()
        .add_attribute("action", "migrate")
        .add_attribute("from_version", from.to_string())
        .add_attribute("to_version", CONTRACT_VERSION))
}
