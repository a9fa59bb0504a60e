//! Entry points: each dispatches to the module that does the work.

#[cfg(not(feature = "library"))]
use cosmwasm_std::entry_point;
use cosmwasm_std::{to_json_binary, Binary, Deps, DepsMut, Env, MessageInfo, Response, StdResult};
use fairshare_protocol::round_manager::{ExecuteMsg, InstantiateMsg, MigrateMsg, QueryMsg};

use crate::error::ContractError;
use crate::state::{Config, CONFIG, NEXT_ROUND_ID, PARAMS};
use crate::{
    commit, dispute, lifecycle, query, report, settle, validate, CONTRACT_NAME, CONTRACT_VERSION,
};

#[cfg_attr(not(feature = "library"), entry_point)]
pub fn instantiate(
    deps: DepsMut,
    _env: Env,
    info: MessageInfo,
    msg: InstantiateMsg,
) -> Result<Response, ContractError> {
    cw2::set_contract_version(deps.storage, CONTRACT_NAME, CONTRACT_VERSION)?;
    let params = validate::params(deps.api, msg.params)?;
    let owner = match msg.owner {
        Some(o) => deps.api.addr_validate(&o)?,
        None => info.sender,
    };
    let operator = msg
        .operator
        .map(|o| deps.api.addr_validate(&o))
        .transpose()?;
    let escrow = msg.escrow.map(|e| deps.api.addr_validate(&e)).transpose()?;
    CONFIG.save(
        deps.storage,
        &Config {
            owner: owner.clone(),
            operator,
            escrow,
        },
    )?;
    PARAMS.save(deps.storage, &params)?;
    NEXT_ROUND_ID.save(deps.storage, &1)?;
    Ok(Response::new()
        .add_attribute("action", "instantiate")
        .add_attribute("owner", owner))
}

#[cfg_attr(not(feature = "library"), entry_point)]
pub fn execute(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    msg: ExecuteMsg,
) -> Result<Response, ContractError> {
    match msg {
        ExecuteMsg::UpdateConfig {
            owner,
            operator,
            escrow,
        } => lifecycle::update_config(deps, info, owner, operator, escrow),
        ExecuteMsg::UpdateParams { params } => lifecycle::update_params(deps, info, params),
        ExecuteMsg::OpenRound { spec } => lifecycle::open_round(deps, env, info, spec),
        ExecuteMsg::RegisterParticipant {
            round_id,
            participant,
            pubkey,
            stake,
        } => lifecycle::register(deps, env, info, round_id, participant, pubkey, stake),
        ExecuteMsg::CommitUpdates {
            round_id,
            commitments,
        } => commit::commit_updates(deps, env, round_id, commitments),
        ExecuteMsg::RegisterEvaluator {
            round_id,
            evaluator,
            bond,
        } => lifecycle::register_evaluator(deps, env, info, round_id, evaluator, bond),
        ExecuteMsg::CommitReport { round_id, digest } => {
            report::commit_report(deps, env, info, round_id, digest)
        }
        ExecuteMsg::RevealReport {
            round_id,
            report,
            salt,
        } => report::reveal_report(deps, env, info, round_id, report, salt),
        ExecuteMsg::Dispute {
            round_id,
            evaluator,
            challenger,
            deposit,
            table,
        } => dispute::dispute(
            deps, env, info, round_id, evaluator, challenger, deposit, table,
        ),
        ExecuteMsg::Settle { round_id, limit } => settle::settle(deps, env, round_id, limit),
    }
}

#[cfg_attr(not(feature = "library"), entry_point)]
pub fn query(deps: Deps, env: Env, msg: QueryMsg) -> StdResult<Binary> {
    match msg {
        QueryMsg::Config {} => to_json_binary(&query::config(deps)?),
        QueryMsg::Round { round_id } => to_json_binary(&query::round(deps, &env, round_id)?),
        QueryMsg::Rounds { start_after, limit } => {
            to_json_binary(&query::rounds(deps, &env, start_after, limit)?)
        }
        QueryMsg::Participant {
            round_id,
            participant,
        } => to_json_binary(&query::participant(deps, round_id, participant)?),
        QueryMsg::Participants {
            round_id,
            start_after,
            limit,
        } => to_json_binary(&query::participants(deps, round_id, start_after, limit)?),
        QueryMsg::Commitments {
            round_id,
            start_after,
            limit,
        } => to_json_binary(&query::commitments(deps, round_id, start_after, limit)?),
        QueryMsg::Evaluators { round_id } => to_json_binary(&query::evaluators(deps, round_id)?),
        QueryMsg::EvaluatorResult {
            round_id,
            evaluator,
        } => to_json_binary(&query::evaluator_result(deps, round_id, evaluator)?),
        QueryMsg::Disputes { round_id } => to_json_binary(&query::disputes(deps, round_id)?),
        QueryMsg::ChallengerResult {
            round_id,
            challenger,
        } => to_json_binary(&query::challenger_result(deps, round_id, challenger)?),
        QueryMsg::Reports {
            round_id,
            start_after,
            limit,
        } => to_json_binary(&query::reports(deps, round_id, start_after, limit)?),
        QueryMsg::ReportScores {
            round_id,
            evaluator,
            start_after,
            limit,
        } => to_json_binary(&query::report_scores(
            deps,
            round_id,
            evaluator,
            start_after,
            limit,
        )?),
        QueryMsg::Result {
            round_id,
            participant,
        } => to_json_binary(&query::result(deps, round_id, participant)?),
        QueryMsg::Results {
            round_id,
            start_after,
            limit,
        } => to_json_binary(&query::results(deps, round_id, start_after, limit)?),
    }
}

#[cfg_attr(not(feature = "library"), entry_point)]
pub fn migrate(deps: DepsMut, _env: Env, _msg: MigrateMsg) -> Result<Response, ContractError> {
    cw2::ensure_from_older_version(deps.storage, CONTRACT_NAME, CONTRACT_VERSION)
        .map_err(|e| ContractError::Migration(e.to_string()))?;
    Ok(Response::new().add_attribute("action", "migrate"))
}
