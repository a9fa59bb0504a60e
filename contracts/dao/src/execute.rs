//! State-changing messages: staking, proposals, votes, execution and the DAO's own config.

use cosmwasm_std::{
    from_json, to_json_binary, Addr, CosmosMsg, Decimal, DepsMut, Env, MessageInfo, OverflowError,
    OverflowOperation, Reply, Response, StdResult, Storage, SubMsg, SubMsgResult, Uint128, WasmMsg,
};
use cw20::{BalanceResponse, Cw20ExecuteMsg, Cw20QueryMsg, Cw20ReceiveMsg};
use cw_storage_plus::Item;
use fairshare_protocol::dao::{
    Claim, Config, ConfigUpdate, DepositStatus, Duration, ExecuteMsg, ReceiveMsg, Status, Tally,
    Vote,
};

use crate::error::ContractError;
use crate::guard;
use crate::proposal::{count, Proposal};
use crate::state::{
    Ballot, BALLOTS, CLAIMS, CONFIG, EXECUTING, MAX_CLAIMS, PROPOSALS, PROPOSAL_COUNT, STAKES,
    TOTAL_DEPOSITS, TOTAL_STAKED, TOTAL_UNBONDING,
};
use crate::time;

/// Refuses `name` unless it counts the same unit as `other`.
fn ensure_same_unit(
    name: &'static str,
    value: Duration,
    other: &'static str,
    other_value: Duration,
) -> Result<(), ContractError> {
    if time::same_unit(value, other_value) {
        Ok(())
    } else {
        Err(ContractError::UnitMismatch { name, other })
    }
}

/// The timelock must outlast the unbonding period, so that stakers who oppose a passed
/// proposal can leave (unstake and claim) before it runs.
fn ensure_exit_before_execution(
    timelock: Option<Duration>,
    unbonding_period: Duration,
) -> Result<(), ContractError> {
    let unbonding = match unbonding_period {
        Duration::Height(0) | Duration::Time(0) => return Ok(()),
        Duration::Height(n) | Duration::Time(n) => n,
    };
    let Some(timelock) = timelock else {
        return Err(ContractError::MissingTimelock { unbonding_period });
    };
    ensure_same_unit("timelock", timelock, "unbonding_period", unbonding_period)?;
    let (Duration::Height(locked) | Duration::Time(locked)) = timelock;
    if locked < unbonding {
        return Err(ContractError::TimelockShorterThanUnbonding {
            timelock,
            unbonding_period,
        });
    }
    Ok(())
}

/// Checks a set of rules and makes them the config for `token`.
pub fn validate_rules(token: Addr, rules: ConfigUpdate) -> Result<Config, ContractError> {
    for (name, value) in [("quorum", rules.quorum), ("threshold", rules.threshold)] {
        if value.is_zero() || value > Decimal::one() {
            return Err(ContractError::InvalidShare { name, value });
        }
    }
    let voting_period = rules.voting_period;
    time::validate("voting_period", voting_period, true)?;
    time::validate("unbonding_period", rules.unbonding_period, false)?;
    if let Some(timelock) = rules.timelock {
        time::validate("timelock", timelock, false)?;
        ensure_same_unit("timelock", timelock, "voting_period", voting_period)?;
    }
    time::validate("execution_window", rules.execution_window, true)?;
    ensure_same_unit(
        "execution_window",
        rules.execution_window,
        "voting_period",
        voting_period,
    )?;
    ensure_exit_before_execution(rules.timelock, rules.unbonding_period)?;
    if rules.deposit.is_zero() {
        return Err(ContractError::ZeroDeposit);
    }
    Ok(Config {
        token,
        unbonding_period: rules.unbonding_period,
        voting_period: rules.voting_period,
        quorum: rules.quorum,
        threshold: rules.threshold,
        allow_revoting: rules.allow_revoting,
        timelock: rules.timelock,
        execution_window: rules.execution_window,
        deposit: rules.deposit,
    })
}

fn transfer(token: &Addr, recipient: &Addr, amount: Uint128) -> StdResult<CosmosMsg> {
    Ok(WasmMsg::Execute {
        contract_addr: token.to_string(),
        msg: to_json_binary(&Cw20ExecuteMsg::Transfer {
            recipient: recipient.to_string(),
            amount,
        })?,
        funds: vec![],
    }
    .into())
}

fn load_proposal(storage: &dyn Storage, id: u64) -> Result<Proposal, ContractError> {
    PROPOSALS
        .may_load(storage, id)?
        .ok_or(ContractError::NoSuchProposal(id))
}

fn add_to(item: &Item<Uint128>, store: &mut dyn Storage, delta: Uint128) -> StdResult<()> {
    let value = item.load(store)?.checked_add(delta)?;
    item.save(store, &value)
}

fn sub_from(item: &Item<Uint128>, store: &mut dyn Storage, delta: Uint128) -> StdResult<()> {
    let value = item.load(store)?.checked_sub(delta)?;
    item.save(store, &value)
}

/// The CW20 hook: stake, or open a proposal with the sent deposit.
pub fn receive(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    wrapper: Cw20ReceiveMsg,
) -> Result<Response, ContractError> {
    let config = CONFIG.load(deps.storage)?;
    if info.sender != config.token {
        return Err(ContractError::WrongToken {
            token: config.token,
            sender: info.sender,
        });
    }
    let sender = deps.api.addr_validate(&wrapper.sender)?;
    match from_json(&wrapper.msg)? {
        ReceiveMsg::Stake {} => stake(deps, env, sender, wrapper.amount),
        ReceiveMsg::Propose {
            title,
            description,
            msgs,
        } => propose(
            deps,
            env,
            config,
            sender,
            wrapper.amount,
            title,
            description,
            msgs,
        ),
    }
}

fn stake(
    deps: DepsMut,
    env: Env,
    staker: Addr,
    amount: Uint128,
) -> Result<Response, ContractError> {
    if amount.is_zero() {
        return Err(ContractError::ZeroAmount);
    }
    let height = env.block.height;
    let staked = STAKES.may_load(deps.storage, &staker)?.unwrap_or_default();
    STAKES.save(deps.storage, &staker, &staked.checked_add(amount)?, height)?;
    let total = TOTAL_STAKED.load(deps.storage)?.checked_add(amount)?;
    TOTAL_STAKED.save(deps.storage, &total, height)?;
    Ok(Response::new()
        .add_attribute("action", "stake")
        .add_attribute("staker", staker)
        .add_attribute("amount", amount))
}

#[allow(clippy::too_many_arguments)]
fn propose(
    deps: DepsMut,
    env: Env,
    config: Config,
    proposer: Addr,
    deposit: Uint128,
    title: String,
    description: String,
    msgs: Vec<CosmosMsg>,
) -> Result<Response, ContractError> {
    if deposit != config.deposit {
        return Err(ContractError::WrongDeposit {
            required: config.deposit,
            sent: deposit,
        });
    }
    if title.trim().is_empty() {
        return Err(ContractError::EmptyTitle);
    }
    guard::check_msgs(deps.api, &config.token, &msgs)?;
    // Power at the start of this block: stake moved in this very block does not count.
    let start_height = env.block.height;
    let total_power = TOTAL_STAKED
        .may_load_at_height(deps.storage, start_height)?
        .unwrap_or_default();
    if total_power.is_zero() {
        return Err(ContractError::NoTotalPower);
    }
    let id = PROPOSAL_COUNT
        .load(deps.storage)?
        .checked_add(1)
        .ok_or(OverflowError::new(OverflowOperation::Add))?;
    PROPOSAL_COUNT.save(deps.storage, &id)?;
    let proposal = Proposal {
        proposer: proposer.clone(),
        title,
        description,
        msgs,
        start_height,
        expires: time::after(config.voting_period, &env.block),
        total_power,
        tally: Tally::default(),
        quorum: config.quorum,
        threshold: config.threshold,
        allow_revoting: config.allow_revoting,
        timelock: config.timelock,
        execution_window: config.execution_window,
        status: Status::Open,
        executable_at: None,
        executable_until: None,
        deposit,
        deposit_status: DepositStatus::Held,
        execution_error: None,
    };
    PROPOSALS.save(deps.storage, id, &proposal)?;
    add_to(&TOTAL_DEPOSITS, deps.storage, deposit)?;
    Ok(Response::new()
        .add_attribute("action", "propose")
        .add_attribute("proposal_id", id.to_string())
        .add_attribute("proposer", proposer)
        .add_attribute("total_power", total_power))
}

pub fn unstake(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    amount: Uint128,
) -> Result<Response, ContractError> {
    if amount.is_zero() {
        return Err(ContractError::ZeroAmount);
    }
    let config = CONFIG.load(deps.storage)?;
    let staker = info.sender;
    let staked = STAKES.may_load(deps.storage, &staker)?.unwrap_or_default();
    let left = staked
        .checked_sub(amount)
        .map_err(|_| ContractError::InsufficientStake {
            requested: amount,
            staked,
        })?;
    let mut claims = CLAIMS.may_load(deps.storage, &staker)?.unwrap_or_default();
    if claims.len() >= MAX_CLAIMS {
        return Err(ContractError::TooManyClaims { max: MAX_CLAIMS });
    }
    let height = env.block.height;
    if left.is_zero() {
        STAKES.remove(deps.storage, &staker, height)?;
    } else {
        STAKES.save(deps.storage, &staker, &left, height)?;
    }
    let total = TOTAL_STAKED.load(deps.storage)?.checked_sub(amount)?;
    TOTAL_STAKED.save(deps.storage, &total, height)?;
    let release_at = time::after(config.unbonding_period, &env.block);
    claims.push(Claim { amount, release_at });
    CLAIMS.save(deps.storage, &staker, &claims)?;
    add_to(&TOTAL_UNBONDING, deps.storage, amount)?;
    Ok(Response::new()
        .add_attribute("action", "unstake")
        .add_attribute("staker", staker)
        .add_attribute("amount", amount)
        .add_attribute("release_at", release_at.to_string()))
}

pub fn claim(deps: DepsMut, env: Env, info: MessageInfo) -> Result<Response, ContractError> {
    let config = CONFIG.load(deps.storage)?;
    let claims = CLAIMS
        .may_load(deps.storage, &info.sender)?
        .unwrap_or_default();
    let (matured, pending): (Vec<Claim>, Vec<Claim>) = claims
        .into_iter()
        .partition(|c| time::is_expired(c.release_at, &env.block));
    let amount = matured
        .iter()
        .try_fold(Uint128::zero(), |sum, c| sum.checked_add(c.amount))?;
    if amount.is_zero() {
        return Err(ContractError::NothingToClaim);
    }
    if pending.is_empty() {
        CLAIMS.remove(deps.storage, &info.sender);
    } else {
        CLAIMS.save(deps.storage, &info.sender, &pending)?;
    }
    sub_from(&TOTAL_UNBONDING, deps.storage, amount)?;
    Ok(Response::new()
        .add_message(transfer(&config.token, &info.sender, amount)?)
        .add_attribute("action", "claim")
        .add_attribute("staker", info.sender)
        .add_attribute("amount", amount))
}

pub fn vote(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    proposal_id: u64,
    vote: Vote,
) -> Result<Response, ContractError> {
    let mut proposal = load_proposal(deps.storage, proposal_id)?;
    proposal.refresh(&env.block)?;
    if proposal.status != Status::Open {
        return Err(ContractError::NotOpen {
            proposal_id,
            status: proposal.status,
        });
    }
    let voter = info.sender;
    let power = STAKES
        .may_load_at_height(deps.storage, &voter, proposal.start_height)?
        .unwrap_or_default();
    if power.is_zero() {
        return Err(ContractError::NoVotingPower {
            voter,
            proposal_id,
            height: proposal.start_height,
        });
    }
    if let Some(previous) = BALLOTS.may_load(deps.storage, (proposal_id, &voter))? {
        if !proposal.allow_revoting {
            return Err(ContractError::AlreadyVoted { voter, proposal_id });
        }
        if previous.vote == vote {
            return Err(ContractError::VoteUnchanged {
                voter,
                proposal_id,
                vote,
            });
        }
        count(&mut proposal.tally, previous.vote, previous.power, true)?;
    }
    count(&mut proposal.tally, vote, power, false)?;
    BALLOTS.save(deps.storage, (proposal_id, &voter), &Ballot { vote, power })?;
    proposal.decide_early(&env.block)?;
    PROPOSALS.save(deps.storage, proposal_id, &proposal)?;
    Ok(Response::new()
        .add_attribute("action", "vote")
        .add_attribute("proposal_id", proposal_id.to_string())
        .add_attribute("voter", voter)
        .add_attribute("vote", vote.to_string())
        .add_attribute("power", power)
        .add_attribute("status", proposal.status.to_string()))
}

/// Runs a passed proposal: refunds its deposit (once), then dispatches its messages through
/// [`run_proposal`] as one sub-message, so they succeed or fail together. Its messages are
/// checked again here, as they were when it opened (a proposal stored by older code, or
/// before a rule tightened, cannot slip through).
pub fn execute(
    deps: DepsMut,
    env: Env,
    _info: MessageInfo,
    proposal_id: u64,
) -> Result<Response, ContractError> {
    let mut proposal = load_proposal(deps.storage, proposal_id)?;
    proposal.refresh(&env.block)?;
    if proposal.status != Status::Passed {
        return Err(ContractError::NotPassed {
            proposal_id,
            status: proposal.status,
        });
    }
    if let Some(until) = proposal.executable_at {
        if !time::is_expired(until, &env.block) {
            return Err(ContractError::Timelocked { proposal_id, until });
        }
    }
    let config = CONFIG.load(deps.storage)?;
    guard::check_msgs(deps.api, &config.token, &proposal.msgs)?;
    let mut response = Response::new()
        .add_attribute("action", "execute")
        .add_attribute("proposal_id", proposal_id.to_string());
    if proposal.deposit_status == DepositStatus::Held {
        proposal.deposit_status = DepositStatus::Refunded;
        sub_from(&TOTAL_DEPOSITS, deps.storage, proposal.deposit)?;
        response = response.add_message(transfer(
            &config.token,
            &proposal.proposer,
            proposal.deposit,
        )?);
    }
    proposal.status = Status::Executed;
    proposal.execution_error = None;
    PROPOSALS.save(deps.storage, proposal_id, &proposal)?;
    EXECUTING.save(deps.storage, &proposal_id)?;
    let run = WasmMsg::Execute {
        contract_addr: env.contract.address.to_string(),
        msg: to_json_binary(&ExecuteMsg::RunProposal { proposal_id })?,
        funds: vec![],
    };
    Ok(response.add_submessage(SubMsg::reply_always(run, proposal_id)))
}

/// The DAO calling itself from [`execute`]: returns the proposal's messages.
pub fn run_proposal(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    proposal_id: u64,
) -> Result<Response, ContractError> {
    if info.sender != env.contract.address || EXECUTING.may_load(deps.storage)? != Some(proposal_id)
    {
        return Err(ContractError::InternalOnly);
    }
    EXECUTING.remove(deps.storage);
    let proposal = load_proposal(deps.storage, proposal_id)?;
    Ok(Response::new()
        .add_attribute("action", "run_proposal")
        .add_attribute("proposal_id", proposal_id.to_string())
        .add_messages(proposal.msgs))
}

/// The reply to [`execute`]'s sub-message. On failure the proposal becomes executable again
/// and records the error; on success the DAO must still hold every token it owes.
pub fn proposal_ran(deps: DepsMut, env: Env, reply: Reply) -> Result<Response, ContractError> {
    let proposal_id = reply.id;
    EXECUTING.remove(deps.storage);
    let response = Response::new().add_attribute("proposal_id", proposal_id.to_string());
    match reply.result {
        SubMsgResult::Ok(_) => {
            let config = CONFIG.load(deps.storage)?;
            let balance: BalanceResponse = deps.querier.query_wasm_smart(
                &config.token,
                &Cw20QueryMsg::Balance {
                    address: env.contract.address.to_string(),
                },
            )?;
            let locked = locked_total(deps.storage)?;
            if balance.balance < locked {
                return Err(ContractError::WouldSpendLocked {
                    balance: balance.balance,
                    locked,
                });
            }
            Ok(response.add_attribute("result", "executed"))
        }
        SubMsgResult::Err(mut error) => {
            truncate(&mut error, MAX_ERROR_LEN);
            let mut proposal = load_proposal(deps.storage, proposal_id)?;
            proposal.status = Status::Passed;
            proposal.execution_error = Some(error.clone());
            PROPOSALS.save(deps.storage, proposal_id, &proposal)?;
            Ok(response
                .add_attribute("result", "failed")
                .add_attribute("error", error))
        }
    }
}

/// Longest execution error kept with a proposal, in bytes.
pub const MAX_ERROR_LEN: usize = 1024;

/// Cuts `s` to at most `max` bytes, at a character boundary.
fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let cut = (0..=max)
            .rev()
            .find(|&i| s.is_char_boundary(i))
            .unwrap_or(0);
        s.truncate(cut);
    }
}

/// Tokens the DAO holds for others: stakes, unbonding claims and held deposits.
pub fn locked_total(storage: &dyn Storage) -> StdResult<Uint128> {
    TOTAL_STAKED
        .load(storage)?
        .checked_add(TOTAL_UNBONDING.load(storage)?)?
        .checked_add(TOTAL_DEPOSITS.load(storage)?)
        .map_err(Into::into)
}

/// Closes a rejected or expired proposal and settles a deposit still held: a rejected
/// proposal's is refunded if it reached quorum, else the treasury keeps it; an expired
/// proposal passed, so its deposit is refunded (unless a failed execution already did).
pub fn close(
    deps: DepsMut,
    env: Env,
    _info: MessageInfo,
    proposal_id: u64,
) -> Result<Response, ContractError> {
    let mut proposal = load_proposal(deps.storage, proposal_id)?;
    proposal.refresh(&env.block)?;
    let refund = match proposal.status {
        Status::Rejected => proposal.quorum_met()?,
        Status::Expired => true,
        status => {
            return Err(ContractError::NotClosable {
                proposal_id,
                status,
            })
        }
    };
    proposal.status = Status::Closed;
    let mut response = Response::new()
        .add_attribute("action", "close")
        .add_attribute("proposal_id", proposal_id.to_string());
    if proposal.deposit_status == DepositStatus::Held {
        sub_from(&TOTAL_DEPOSITS, deps.storage, proposal.deposit)?;
        if refund {
            let config = CONFIG.load(deps.storage)?;
            proposal.deposit_status = DepositStatus::Refunded;
            response = response.add_message(transfer(
                &config.token,
                &proposal.proposer,
                proposal.deposit,
            )?);
        } else {
            proposal.deposit_status = DepositStatus::Forfeited;
        }
    }
    PROPOSALS.save(deps.storage, proposal_id, &proposal)?;
    Ok(response.add_attribute("deposit", proposal.deposit_status.to_string()))
}

pub fn update_config(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    rules: ConfigUpdate,
) -> Result<Response, ContractError> {
    if info.sender != env.contract.address {
        return Err(ContractError::NotDao);
    }
    let token = CONFIG.load(deps.storage)?.token;
    let config = validate_rules(token, rules)?;
    CONFIG.save(deps.storage, &config)?;
    Ok(Response::new().add_attribute("action", "update_config"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_whole_characters() {
        let mut s = "ééé".to_string(); // 2 bytes each
        truncate(&mut s, 3);
        assert_eq!(s, "é");
        let mut short = "ok".to_string();
        truncate(&mut short, 3);
        assert_eq!(short, "ok");
    }
}
