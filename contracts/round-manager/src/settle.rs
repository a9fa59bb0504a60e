//! Paged settlement. Each `Settle` call does a bounded amount of work, so a round of any
//! allowed size settles within any block's gas limit, and state stays consistent between
//! calls. Three passes over the participants:
//!
//! 1. **scoring**: each participant's median score across the reports (stored compactly),
//!    the created value G and the evaluated count (→ the free-rider threshold);
//! 2. **weighing**: verdicts, the total slash and the pool's total weight; at its end the
//!    pool is fixed, capped by what the escrow can still mint, and reserved there;
//! 3. **paying**: the rewards, summed to fix the rounding dust; at its end the round is
//!    Settled and the escrow is told the totals.
//!
//! Every result (verdict, reward, slash) is a pure function of the participant's median and
//! the round's fixed figures, so queries and the escrow's claims compute the same numbers.
//! A round not settled by its settle deadline fails and every stake comes back.

use cosmwasm_std::{
    to_json_binary, Addr, Binary, CosmosMsg, Deps, DepsMut, Env, Order, Response, StdResult,
    Uint128, Uint256, WasmMsg,
};
use cw_storage_plus::Bound;
use fairshare_protocol::escrow::{
    ExecuteMsg as EscrowMsg, QueryMsg as EscrowQuery, RewardRoomResponse,
};
use fairshare_protocol::rewards::{self, Entry, Fixed, Gain, Score};
use fairshare_protocol::round_manager::{Phase, SettlementSummary};

use crate::compact::{
    decode_median, decode_score, encode_median, Median, COMMITMENTS, MEDIANS, SCORES,
};
use crate::error::ContractError;
use crate::lifecycle::load_round;
use crate::median::{median_signed, median_unsigned};
use crate::phase;
use crate::state::{Closure, Pass, Round, Settling, CONFIG, PARTICIPANTS, REPORTS, ROUNDS};

/// Work units one `Settle` call may do at most (and does when no limit is given). A unit is
/// about 2,700 gas on wasmd, so a full page stays well under 2 M gas.
pub const MAX_SETTLE_UNITS: u32 = 600;

/// Units a participant costs in the scoring pass: it reads its record and commitment and
/// writes its median (3), and reads one score per report (half a unit each). The two later
/// passes read one record and cost 1.
pub fn scoring_units(reports: u32) -> u32 {
    3 + reports.div_ceil(2)
}

pub fn settle(
    mut deps: DepsMut,
    env: Env,
    round_id: u64,
    limit: Option<u32>,
) -> Result<Response, ContractError> {
    let mut round = load_round(&deps, round_id)?;
    let height = env.block.height;
    let escrow = CONFIG
        .load(deps.storage)?
        .escrow
        .ok_or(ContractError::EscrowNotSet)?;
    match phase::phase_at(&round, height) {
        p @ Phase::Settled => return Err(ContractError::AlreadyFinal(round_id, p)),
        Phase::Failed if !matches!(round.closure, Closure::Active) => {
            return Err(ContractError::AlreadyFinal(round_id, Phase::Failed))
        }
        Phase::Failed => {
            round.closure = Closure::Failed { at: height };
            ROUNDS.save(deps.storage, round_id, &round)?;
            return Ok(Response::new()
                .add_message(escrow_msg(&escrow, &EscrowMsg::RefundRound { round_id })?)
                .add_attribute("action", "settle")
                .add_attribute("round_id", round_id.to_string())
                .add_attribute("outcome", "failed"));
        }
        p @ (Phase::Open | Phase::Training) => {
            return Err(ContractError::WrongPhase {
                round_id,
                phase: p,
                expected: "Evaluating",
            })
        }
        Phase::Evaluating => round.settling = Some(begin(&deps, &round, height)?),
        Phase::Settling => {}
    }
    let mut s = round
        .settling
        .take()
        .expect("a round past Evaluating has begun settling");
    let per_scoring = scoring_units(round.reports());
    let mut units = limit
        .unwrap_or(MAX_SETTLE_UNITS)
        .clamp(per_scoring, MAX_SETTLE_UNITS);
    let mut msgs: Vec<CosmosMsg> = vec![];
    let mut finished = false;
    while units > 0 && !finished {
        match s.pass {
            Pass::Scoring => {
                let want = units / per_scoring;
                if want == 0 {
                    break;
                }
                let (done, ended) = score_page(&mut deps, &round, &mut s, want as usize)?;
                units -= done * per_scoring;
                if ended {
                    next_pass(&mut s, Pass::Weighing);
                }
            }
            Pass::Weighing => {
                let (done, ended) = weigh_page(&deps, &round, &mut s, units as usize)?;
                units -= done;
                if ended {
                    s.pool = capped_pool(deps.as_ref(), &escrow, &round, &s)?;
                    if !s.pool.is_zero() {
                        msgs.push(escrow_msg(
                            &escrow,
                            &EscrowMsg::ReserveRewards {
                                round_id,
                                amount: s.pool,
                            },
                        )?);
                    }
                    next_pass(&mut s, Pass::Paying);
                }
            }
            Pass::Paying => {
                let (done, ended) = pay_page(&deps, &round, &mut s, units as usize)?;
                units -= done;
                if ended {
                    finished = true;
                }
            }
        }
    }
    let mut response = Response::new()
        .add_attribute("action", "settle")
        .add_attribute("round_id", round_id.to_string());
    if finished {
        let dust = s
            .pool
            .checked_sub(s.paid)
            .map_err(cosmwasm_std::StdError::from)?;
        let outliers = round
            .params
            .evaluators
            .iter()
            .enumerate()
            .filter(|(i, _)| s.outliers & (1u64 << i) != 0)
            .map(|(_, e)| Addr::unchecked(e))
            .collect::<Vec<_>>();
        msgs.push(escrow_msg(
            &escrow,
            &EscrowMsg::SettleRound {
                round_id,
                rewards: s.paid,
                slashed: s.slashed,
                dust,
            },
        )?);
        response = response
            .add_attribute("outcome", "settled")
            .add_attribute("pool", s.pool)
            .add_attribute("dust", dust)
            .add_attribute("slashed", s.slashed)
            .add_attribute("outliers", outliers.len().to_string());
        round.closure = Closure::Settled(SettlementSummary {
            delta_u: s.delta_u,
            pool: s.pool,
            dust,
            total_slashed: s.slashed,
            outliers,
            settled_at: height,
        });
    } else {
        let pass = match s.pass {
            Pass::Scoring => "scoring",
            Pass::Weighing => "weighing",
            Pass::Paying => "paying",
        };
        response = response
            .add_attribute("outcome", "in_progress")
            .add_attribute("pass", pass)
            .add_attribute("done", s.done.to_string());
    }
    round.settling = Some(s);
    ROUNDS.save(deps.storage, round_id, &round)?;
    Ok(response.add_messages(msgs))
}

/// Checks that the round may settle now and starts its first pass.
fn begin(deps: &DepsMut, round: &Round, height: u64) -> Result<Settling, ContractError> {
    let quorum = round.params.evaluator_quorum;
    if round.reports() < quorum {
        return Err(ContractError::QuorumNotReached {
            round_id: round.id,
            reports: round.reports(),
            quorum,
        });
    }
    let evaluators = round.params.evaluators.len() as u32;
    if round.reports() < evaluators && height < round.deadlines.report_until {
        return Err(ContractError::ReportsStillDue {
            round_id: round.id,
            until: round.deadlines.report_until,
            missing: evaluators - round.reports(),
        });
    }
    let mut delta_us = REPORTS
        .prefix(round.id)
        .range(deps.storage, None, None, Order::Ascending)
        .map(|r| r.map(|(_, rep)| rep.delta_u))
        .collect::<StdResult<Vec<_>>>()?;
    Ok(Settling {
        pass: Pass::Scoring,
        cursor: None,
        done: 0,
        delta_u: median_signed(&mut delta_us).unwrap_or_default(),
        gain: Gain::default(),
        total_weight: Uint256::zero(),
        slashed: Uint128::zero(),
        pool: Uint128::zero(),
        paid: Uint128::zero(),
        outliers: 0,
    })
}

fn next_pass(s: &mut Settling, pass: Pass) {
    s.pass = pass;
    s.cursor = None;
    s.done = 0;
}

/// Pass 1 over up to `n` participants: median score, outliers, G. Returns how many it did
/// and whether the pass has ended.
fn score_page(
    deps: &mut DepsMut,
    round: &Round,
    s: &mut Settling,
    n: usize,
) -> Result<(u32, bool), ContractError> {
    let after = s
        .cursor
        .as_ref()
        .map(|c| Addr::unchecked(String::from_utf8_lossy(c.as_slice())));
    // One more than the page, to know whether the pass ends with it.
    let mut page = PARTICIPANTS
        .prefix(round.id)
        .range(
            deps.storage,
            after.as_ref().map(Bound::exclusive),
            None,
            Order::Ascending,
        )
        .take(n + 1)
        .collect::<StdResult<Vec<_>>>()?;
    let ended = page.len() <= n;
    page.truncate(n);
    let reporters: Vec<u8> = (0..64u8)
        .filter(|i| round.reporters & (1u64 << i) != 0)
        .collect();
    let tolerance = cosmwasm_std::SignedDecimal::try_from(round.params.outlier_tolerance)
        .unwrap_or(cosmwasm_std::SignedDecimal::MAX);
    for (addr, p) in &page {
        let canon = deps.api.addr_canonicalize(addr.as_str())?;
        let score = if COMMITMENTS.get(deps.storage, round.id, &canon).is_some() {
            let mut scores: Vec<(u8, Score)> = Vec::with_capacity(reporters.len());
            for &i in &reporters {
                let mut key = vec![i];
                key.extend_from_slice(&canon);
                if let Some(b) = SCORES.get(deps.storage, round.id, &key) {
                    scores.push((i, decode_score(&b)?));
                }
            }
            let median = median_of(&scores);
            if let Some(m) = median {
                for (i, sc) in &scores {
                    let far = match sc.value.checked_sub(m.value) {
                        Ok(d) => d > tolerance || d < -tolerance,
                        Err(_) => true,
                    };
                    if far {
                        s.outliers |= 1u64 << i;
                    }
                }
            }
            median
        } else {
            None
        };
        MEDIANS.set(
            deps.storage,
            round.id,
            &canon,
            &encode_median(&Median {
                stake: p.stake,
                score,
            }),
        );
        s.gain.add(score);
    }
    if let Some((last, _)) = page.last() {
        s.cursor = Some(Binary::from(last.as_bytes()));
    }
    let done = page.len() as u32;
    s.done += done;
    Ok((done, ended))
}

/// The median value and median standard error of one participant's scores.
fn median_of(scores: &[(u8, Score)]) -> Option<Score> {
    let mut values: Vec<_> = scores.iter().map(|(_, s)| s.value).collect();
    let mut errors: Vec<_> = scores.iter().map(|(_, s)| s.std_error).collect();
    Some(Score {
        value: median_signed(&mut values)?,
        std_error: median_unsigned(&mut errors)?,
    })
}

/// One page of stored medians after the pass's cursor, and whether the pass ends with it;
/// advances the cursor.
fn medians_page(
    deps: &DepsMut,
    round: &Round,
    s: &mut Settling,
    n: usize,
) -> Result<(Vec<Median>, bool), ContractError> {
    let mut page = MEDIANS.page(
        deps.storage,
        round.id,
        &[],
        s.cursor.as_ref().map(|c| c.as_slice()),
        n + 1,
    );
    let ended = page.len() <= n;
    page.truncate(n);
    if let Some((last, _)) = page.last() {
        s.cursor = Some(Binary::from(last.as_slice()));
    }
    s.done += page.len() as u32;
    let medians = page
        .iter()
        .map(|(_, v)| decode_median(v).map_err(ContractError::from))
        .collect::<Result<_, _>>()?;
    Ok((medians, ended))
}

/// Pass 2: verdicts, slashes, total weight.
fn weigh_page(
    deps: &DepsMut,
    round: &Round,
    s: &mut Settling,
    n: usize,
) -> Result<(u32, bool), ContractError> {
    let params = &round.params.rewards;
    let threshold = s.gain.threshold(params);
    let (page, ended) = medians_page(deps, round, s, n)?;
    for m in &page {
        let (verdict, rate) = rewards::classify(params, m.score, threshold);
        s.total_weight += rewards::weight(verdict, m.score);
        s.slashed = s
            .slashed
            .checked_add(m.stake.mul_floor(rate))
            .map_err(|_| ContractError::StakeOverflow(s.slashed))?;
    }
    Ok((page.len() as u32, ended))
}

/// Pass 3: rewards, summed.
fn pay_page(
    deps: &DepsMut,
    round: &Round,
    s: &mut Settling,
    n: usize,
) -> Result<(u32, bool), ContractError> {
    let fixed = fixed(round, s);
    let (page, ended) = medians_page(deps, round, s, n)?;
    for m in &page {
        let o = rewards::outcome(
            &round.params.rewards,
            &fixed,
            &Entry {
                stake: m.stake,
                score: m.score,
            },
        );
        s.paid = s
            .paid
            .checked_add(o.reward)
            .map_err(|_| ContractError::StakeOverflow(s.paid))?;
    }
    Ok((page.len() as u32, ended))
}

/// The round's figures that price every participant's outcome.
pub fn fixed(round: &Round, s: &Settling) -> Fixed {
    Fixed {
        threshold: s.gain.threshold(&round.params.rewards),
        total_weight: s.total_weight,
        pool: s.pool,
    }
}

/// The pool of the rule, capped by what the escrow can still mint under the token's cap.
fn capped_pool(
    deps: Deps,
    escrow: &Addr,
    round: &Round,
    s: &Settling,
) -> Result<Uint128, ContractError> {
    let pool = rewards::pool(&round.params.rewards, &s.gain, s.total_weight);
    if pool.is_zero() {
        return Ok(pool);
    }
    let room: RewardRoomResponse = deps
        .querier
        .query_wasm_smart(escrow, &EscrowQuery::RewardRoom {})?;
    Ok(pool.min(room.room))
}

fn escrow_msg(escrow: &Addr, msg: &EscrowMsg) -> StdResult<CosmosMsg> {
    Ok(WasmMsg::Execute {
        contract_addr: escrow.to_string(),
        msg: to_json_binary(msg)?,
        funds: vec![],
    }
    .into())
}
