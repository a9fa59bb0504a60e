//! Read-only views, paginated where a list can grow.

use cosmwasm_std::{Addr, CanonicalAddr, Deps, Env, HexBinary, Order, StdError, StdResult};
use cw_storage_plus::{Bound, Map};
use fairshare_protocol::rewards::{self, Entry};
use fairshare_protocol::round_manager::{
    ChallengerResult, CommitmentInfo, CommitmentsResponse, ConfigResponse, DisputeInfo,
    DisputesResponse, EvaluatorInfo, EvaluatorResult, EvaluatorsResponse, ParticipantResponse,
    ParticipantResult, ParticipantScore, ParticipantsResponse, ReportInfo, ReportScoresResponse,
    ReportsResponse, ResultsResponse, RoundResponse, RoundsResponse, SettleProgress,
};

use crate::compact::{
    decode_commitment, decode_median, decode_score, COMMITMENTS, MEDIANS, SCORES,
};
use crate::evaluators;
use crate::phase::phase_at;
use crate::settle::fixed;
use crate::state::{
    Closure, Participant, Pass, Round, CONFIG, DISPUTES, EVALUATORS, NEXT_ROUND_ID, PARAMS,
    PARTICIPANTS, REPORTS, ROUNDS,
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
    let reports = round.reports();
    let settle_progress = match (&round.closure, &round.settling) {
        (Closure::Active, Some(s)) => Some(SettleProgress {
            pass: match s.pass {
                Pass::Scoring => 1,
                Pass::Weighing => 2,
                Pass::Paying => 3,
            },
            done: s.done,
        }),
        _ => None,
    };
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
        evaluators_bonded: round.bonded.count_ones(),
        report_commitments: round.report_commits.count_ones(),
        reports,
        settle_progress,
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
    let canon = deps.api.addr_canonicalize(addr.as_str())?;
    let commitment = COMMITMENTS
        .get(deps.storage, round_id, &canon)
        .map(|b| decode_commitment(&b))
        .transpose()?
        .map(|c| HexBinary::from(c.commitment.to_vec()));
    Ok(ParticipantResponse {
        participant: addr,
        pubkey: p.pubkey,
        stake: p.stake,
        joined_at: p.joined_at,
        commitment,
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

/// Commitments in canonical-address order (the order they are stored in).
pub fn commitments(
    deps: Deps,
    round_id: u64,
    start_after: Option<String>,
    lim: Option<u32>,
) -> StdResult<CommitmentsResponse> {
    let after = start_after
        .map(|s| deps.api.addr_canonicalize(&s))
        .transpose()?;
    let commitments = COMMITMENTS
        .page(
            deps.storage,
            round_id,
            &[],
            after.as_ref().map(|a| a.as_slice()),
            limit(lim),
        )
        .into_iter()
        .map(|(k, v)| {
            let c = decode_commitment(&v)?;
            Ok(CommitmentInfo {
                participant: deps.api.addr_humanize(&CanonicalAddr::from(k))?,
                commitment: HexBinary::from(c.commitment.to_vec()),
                committed_at: c.committed_at,
            })
        })
        .collect::<StdResult<_>>()?;
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
            aggregate_hash: s.aggregate_hash,
            table_hash: s.table_hash,
            delta_u: s.delta_u,
            dof: s.dof,
            revealed_at: s.revealed_at,
        })
    })?;
    Ok(ReportsResponse { reports })
}

/// One evaluator's scores, in canonical-address order of the participants.
pub fn report_scores(
    deps: Deps,
    round_id: u64,
    evaluator: String,
    start_after: Option<String>,
    lim: Option<u32>,
) -> StdResult<ReportScoresResponse> {
    let evaluator = deps.api.addr_validate(&evaluator)?;
    let report = REPORTS
        .may_load(deps.storage, (round_id, &evaluator))?
        .ok_or_else(|| StdError::not_found(format!("report of {evaluator} in round {round_id}")))?;
    let after = start_after
        .map(|s| deps.api.addr_canonicalize(&s))
        .transpose()?;
    let scores = SCORES
        .page(
            deps.storage,
            round_id,
            &[report.index],
            after.as_ref().map(|a| a.as_slice()),
            limit(lim),
        )
        .into_iter()
        .map(|(k, v)| {
            let s = decode_score(&v)?;
            Ok(ParticipantScore {
                participant: deps
                    .api
                    .addr_humanize(&CanonicalAddr::from(k))?
                    .into_string(),
                value: s.value,
                std_error: s.std_error,
            })
        })
        .collect::<StdResult<_>>()?;
    Ok(ReportScoresResponse { scores })
}

/// A participant's result in a settled round: its median and the round's fixed figures
/// give its verdict, reward and slash.
fn result_of(deps: Deps, round: &Round, addr: Addr) -> StdResult<ParticipantResult> {
    let not_found =
        || StdError::not_found(format!("settled result of {addr} in round {}", round.id));
    let settling = match (&round.closure, &round.settling) {
        (Closure::Settled(_), Some(s)) => s,
        _ => return Err(not_found()),
    };
    let canon = deps.api.addr_canonicalize(addr.as_str())?;
    let m = MEDIANS
        .get(deps.storage, round.id, &canon)
        .ok_or_else(not_found)
        .and_then(|b| decode_median(&b))?;
    let o = rewards::outcome(
        &round.params.rewards,
        &fixed(round, settling),
        &Entry {
            stake: m.stake,
            score: m.score,
        },
    );
    Ok(ParticipantResult {
        participant: addr,
        score: m.score,
        verdict: o.verdict,
        stake: m.stake,
        reward: o.reward,
        slash: o.slash,
    })
}

fn load(deps: Deps, round_id: u64) -> StdResult<Round> {
    ROUNDS
        .may_load(deps.storage, round_id)?
        .ok_or_else(|| StdError::not_found(format!("round {round_id}")))
}

pub fn result(deps: Deps, round_id: u64, participant: String) -> StdResult<ParticipantResult> {
    let round = load(deps, round_id)?;
    let addr = deps.api.addr_validate(&participant)?;
    result_of(deps, &round, addr)
}

/// Results in participant order; empty until the round is settled.
pub fn results(
    deps: Deps,
    round_id: u64,
    start_after: Option<String>,
    lim: Option<u32>,
) -> StdResult<ResultsResponse> {
    let round = load(deps, round_id)?;
    if !matches!(round.closure, Closure::Settled(_)) {
        return Ok(ResultsResponse { results: vec![] });
    }
    let results = page(deps, PARTICIPANTS, round_id, start_after, lim, |a, _| {
        result_of(deps, &round, a)
    })?;
    Ok(ResultsResponse { results })
}

/// The round's bonded evaluators in address order (at most the evaluator list's length).
pub fn evaluators(deps: Deps, round_id: u64) -> StdResult<EvaluatorsResponse> {
    let round = load(deps, round_id)?;
    let evaluators = EVALUATORS
        .prefix(round_id)
        .range(deps.storage, None, None, Order::Ascending)
        .map(|r| {
            let (evaluator, b) = r?;
            let revealed_at = REPORTS
                .may_load(deps.storage, (round_id, &evaluator))?
                .map(|r| r.revealed_at);
            Ok(EvaluatorInfo {
                evaluator,
                bond: b.bond,
                digest: b.digest,
                revealed_at,
                struck_out: round.struck & (1u64 << b.index) != 0,
            })
        })
        .collect::<StdResult<_>>()?;
    Ok(EvaluatorsResponse { evaluators })
}

/// An evaluator's result once the round has ended.
pub fn evaluator_result(
    deps: Deps,
    round_id: u64,
    evaluator: String,
) -> StdResult<EvaluatorResult> {
    let round = load(deps, round_id)?;
    let addr = deps.api.addr_validate(&evaluator)?;
    if matches!(round.closure, Closure::Active) {
        return Err(StdError::not_found(format!(
            "result of evaluator {addr}: round {round_id} has not ended"
        )));
    }
    let bond = EVALUATORS
        .may_load(deps.storage, (round_id, &addr))?
        .ok_or_else(|| {
            StdError::not_found(format!("bond of evaluator {addr} in round {round_id}"))
        })?;
    Ok(evaluators::evaluator_result(&round, addr, &bond))
}

pub fn disputes(deps: Deps, round_id: u64) -> StdResult<DisputesResponse> {
    let disputes = DISPUTES
        .prefix(round_id)
        .range(deps.storage, None, None, Order::Ascending)
        .map(|r| {
            let (evaluator, d) = r?;
            Ok(DisputeInfo {
                evaluator,
                challenger: d.challenger,
                deposit: d.deposit,
                upheld: d.upheld,
                findings: d.findings,
                at: d.at,
            })
        })
        .collect::<StdResult<_>>()?;
    Ok(DisputesResponse { disputes })
}

/// A challenger's position; what comes back to it is payable once the round has ended.
pub fn challenger_result(
    deps: Deps,
    round_id: u64,
    challenger: String,
) -> StdResult<ChallengerResult> {
    let round = load(deps, round_id)?;
    let addr = deps.api.addr_validate(&challenger)?;
    evaluators::challenger_result(deps.storage, &round, addr)
}
