//! Read-only views, paginated where a list can grow.

use cosmwasm_std::{Addr, Deps, Env, Order, StdError, StdResult};
use cw_storage_plus::{Bound, Map};
use fairshare_protocol::round_manager::{
    CommitmentInfo, CommitmentsResponse, ConfigResponse, ParticipantResponse, ParticipantsResponse,
    ReportInfo, ReportsResponse, ResultsResponse, RoundResponse, RoundsResponse,
};

use crate::phase::phase_at;
use crate::state::{
    Closure, Participant, Round, COMMITMENTS, CONFIG, NEXT_ROUND_ID, PARAMS, PARTICIPANTS, REPORTS,
    RESULTS, ROUNDS,
};

const DEFAULT_LIMIT: u32 = 30;
const MAX_LIMIT: u32 = 100;

fn limit(l: Option<u32>) -> usize {
    l.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT) as usize
}

pub fn config(deps: Deps) -> StdResult<ConfigResponse> {
    let cfg = CONFIG.load(deps.storage)?;
    Ok(ConfigResponse {
        owner: cfg.owner,
        operator: cfg.operator,
        escrow: cfg.escrow,
        params: PARAMS.load(deps.storage)?,
        next_round_id: NEXT_ROUND_ID.load(deps.storage)?,
    })
}

fn round_response(round: Round, height: u64) -> RoundResponse {
    let phase = phase_at(&round, height);
    let settlement = match round.closure {
        Closure::Settled(s) => Some(s),
        _ => None,
    };
    RoundResponse {
        id: round.id,
        spec: round.spec,
        params: round.params,
        deadlines: round.deadlines,
        phase,
        joined: round.joined,
        committed: round.committed,
        reports: round.reports,
        settlement,
    }
}

pub fn round(deps: Deps, env: &Env, round_id: u64) -> StdResult<RoundResponse> {
    let round = ROUNDS
        .may_load(deps.storage, round_id)?
        .ok_or_else(|| StdError::not_found(format!("round {round_id}")))?;
    Ok(round_response(round, env.block.height))
}

pub fn rounds(
    deps: Deps,
    env: &Env,
    start_after: Option<u64>,
    lim: Option<u32>,
) -> StdResult<RoundsResponse> {
    let rounds = ROUNDS
        .range(
            deps.storage,
            start_after.map(Bound::exclusive),
            None,
            Order::Ascending,
        )
        .take(limit(lim))
        .map(|r| r.map(|(_, round)| round_response(round, env.block.height)))
        .collect::<StdResult<_>>()?;
    Ok(RoundsResponse { rounds })
}

fn participant_response(
    deps: Deps,
    round_id: u64,
    addr: Addr,
    p: Participant,
) -> StdResult<ParticipantResponse> {
    let update_hash = COMMITMENTS
        .may_load(deps.storage, (round_id, &addr))?
        .map(|c| c.update_hash);
    Ok(ParticipantResponse {
        participant: addr,
        pubkey: p.pubkey,
        stake: p.stake,
        joined_at: p.joined_at,
        update_hash,
    })
}

pub fn participant(
    deps: Deps,
    round_id: u64,
    participant: String,
) -> StdResult<ParticipantResponse> {
    let addr = deps.api.addr_validate(&participant)?;
    let p = PARTICIPANTS
        .may_load(deps.storage, (round_id, &addr))?
        .ok_or_else(|| {
            StdError::not_found(format!("participant {participant} of round {round_id}"))
        })?;
    participant_response(deps, round_id, addr, p)
}

/// One page of a round's entries keyed by address, in address order, mapped by `f`.
fn page<T, R>(
    deps: Deps,
    map: Map<(u64, &Addr), T>,
    round_id: u64,
    start_after: Option<String>,
    lim: Option<u32>,
    f: impl Fn(Addr, T) -> StdResult<R>,
) -> StdResult<Vec<R>>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let start = start_after
        .map(|s| deps.api.addr_validate(&s))
        .transpose()?;
    map.prefix(round_id)
        .range(
            deps.storage,
            start.as_ref().map(Bound::exclusive),
            None,
            Order::Ascending,
        )
        .take(limit(lim))
        .map(|r| r.and_then(|(a, v)| f(a, v)))
        .collect()
}

pub fn participants(
    deps: Deps,
    round_id: u64,
    start_after: Option<String>,
    lim: Option<u32>,
) -> StdResult<ParticipantsResponse> {
    let participants = page(deps, PARTICIPANTS, round_id, start_after, lim, |a, p| {
        participant_response(deps, round_id, a, p)
    })?;
    Ok(ParticipantsResponse { participants })
}

pub fn commitments(
    deps: Deps,
    round_id: u64,
    start_after: Option<String>,
    lim: Option<u32>,
) -> StdResult<CommitmentsResponse> {
    let commitments = page(
        deps,
        COMMITMENTS,
        round_id,
        start_after,
        lim,
        |participant, c| {
            Ok(CommitmentInfo {
                participant,
                update_hash: c.update_hash,
                committed_at: c.committed_at,
            })
        },
    )?;
    Ok(CommitmentsResponse { commitments })
}

pub fn reports(
    deps: Deps,
    round_id: u64,
    start_after: Option<String>,
    lim: Option<u32>,
) -> StdResult<ReportsResponse> {
    let reports = page(deps, REPORTS, round_id, start_after, lim, |evaluator, s| {
        Ok(ReportInfo {
            evaluator,
            report: s.report,
            reported_at: s.reported_at,
        })
    })?;
    Ok(ReportsResponse { reports })
}

pub fn results(
    deps: Deps,
    round_id: u64,
    start_after: Option<String>,
    lim: Option<u32>,
) -> StdResult<ResultsResponse> {
    let results = page(deps, RESULTS, round_id, start_after, lim, |_, r| Ok(r))?;
    Ok(ResultsResponse { results })
}
