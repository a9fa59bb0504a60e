//! Paged settlement. Each `Settle` call does a bounded amount of work, so a round of any
//! allowed size settles within any block's gas limit, and state stays consistent between
//! calls. Three passes over the participants:
//!
//! 1. **scoring**: each participant's consensus score across the revealed reports (bond-
//!    weighted median, see `fairshare_protocol::evaluation`; stored compactly), the created
//!    value G, the evaluated count (→ the free-rider threshold) and each evaluator's deviation
//!    from the consensus; at its end each evaluator's standing and the evaluators' pay weight;
//! 2. **weighing**: verdicts, the total slash and the pool's total weight; at its end the
//!    participants' and evaluators' pools are fixed, capped by what the escrow can still mint,
//!    and reserved there;
//! 3. **paying**: the rewards, summed to fix the rounding dust; at its end the round is
//!    Settled and the escrow is told the totals (evaluators' pay and slashes, challengers'
//!    bounties and forfeited deposits included).
//!
//! Every result (verdict, reward, slash) is a pure function of the participant's median and
//! the round's fixed figures, so queries and the escrow's claims compute the same numbers.
//! A round not settled by its settle deadline fails and every stake comes back.

use cosmwasm_std::{
    to_json_binary, Addr, Binary, CosmosMsg, Decimal, Deps, DepsMut, Env, Order, Response,
    StdResult, Uint128, Uint256, WasmMsg,
};
use cw_storage_plus::Bound;
use fairshare_protocol::escrow::{
    ExecuteMsg as EscrowMsg, QueryMsg as EscrowQuery, RewardRoomResponse,
};
use fairshare_protocol::evaluation::{
    abs_diff, consensus, judging_scale, magnitude, pay_weight, standing, weighted_median_index,
    Opinion,
};
use fairshare_protocol::rewards::{self, Entry, Fixed, Gain};
use fairshare_protocol::round_manager::{Phase, SettlementSummary};

use crate::compact::{
    decode_median, decode_score, encode_median, Median, COMMITMENTS, MEDIANS, SCORES,
};
use crate::error::ContractError;
use crate::evaluators;
use crate::lifecycle::load_round;
use crate::phase;
use crate::state::{
    Closure, Pass, Round, Settling, CONFIG, EVALUATORS, PARTICIPANTS, REPORTS, ROUNDS,
};

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
            let slashed = evaluators::totals(deps.storage, &round)?.to_treasury;
            return Ok(Response::new()
                .add_message(escrow_msg(
                    &escrow,
                    &EscrowMsg::RefundRound { round_id, slashed },
                )?)
                .add_attribute("action", "settle")
                .add_attribute("round_id", round_id.to_string())
                .add_attribute("outcome", "failed")
                .add_attribute("slashed", slashed));
        }
        p @ (Phase::Open
        | Phase::Training
        | Phase::Evaluating
        | Phase::Revealing
        | Phase::Challenging) => {
            return Err(ContractError::WrongPhase {
                round_id,
                phase: p,
                expected: "Settling (after the dispute deadline)",
            })
        }
        Phase::Settling => {
            if round.settling.is_none() {
                round.settling = Some(begin(&deps, &round)?);
            }
        }
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
                    weigh_evaluators(&round, &mut s);
                    next_pass(&mut s, Pass::Weighing);
                }
            }
            Pass::Weighing => {
                let (done, ended) = weigh_page(&deps, &round, &mut s, units as usize)?;
                units -= done;
                if ended {
                    fix_pools(deps.as_ref(), &escrow, &round, &mut s)?;
                    let reserved = s.pool + s.evaluator_pool;
                    if !reserved.is_zero() {
                        msgs.push(escrow_msg(
                            &escrow,
                            &EscrowMsg::ReserveRewards {
                                round_id,
                                amount: reserved,
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
        // The evaluators' figures are final now that the closure is Settled.
        round.closure = Closure::Settled(SettlementSummary {
            delta_u: s.delta_u,
            pool: s.pool,
            dust: Uint128::zero(),
            total_slashed: s.slashed,
            outliers: vec![],
            evaluator_pool: s.evaluator_pool,
            evaluator_rewards: Uint128::zero(),
            t_critical: s.t,
            settled_at: height,
        });
        round.settling = Some(s.clone());
        let ev = evaluators::totals(deps.storage, &round)?;
        let rewards = s
            .paid
            .checked_add(ev.rewards)
            .map_err(cosmwasm_std::StdError::from)?;
        let dust = s
            .pool
            .checked_add(s.evaluator_pool)
            .map_err(cosmwasm_std::StdError::from)?
            .checked_sub(rewards)
            .map_err(cosmwasm_std::StdError::from)?;
        let slashed = s
            .slashed
            .checked_add(ev.to_treasury)
            .map_err(cosmwasm_std::StdError::from)?;
        let outliers = EVALUATORS
            .prefix(round_id)
            .range(deps.storage, None, None, Order::Ascending)
            .filter_map(|r| match r {
                Ok((addr, bond)) => {
                    let v = evaluators::evaluator_result(&round, addr.clone(), &bond).verdict;
                    matches!(
                        v,
                        fairshare_protocol::evaluation::EvaluatorVerdict::Outlier
                            | fairshare_protocol::evaluation::EvaluatorVerdict::Deviant
                    )
                    .then_some(Ok(addr))
                }
                Err(e) => Some(Err(e)),
            })
            .collect::<StdResult<Vec<Addr>>>()?;
        msgs.push(escrow_msg(
            &escrow,
            &EscrowMsg::SettleRound {
                round_id,
                rewards,
                slashed,
                dust,
            },
        )?);
        response = response
            .add_attribute("outcome", "settled")
            .add_attribute("pool", s.pool)
            .add_attribute("evaluator_rewards", ev.rewards)
            .add_attribute("dust", dust)
            .add_attribute("slashed", slashed)
            .add_attribute("outliers", outliers.len().to_string());
        round.closure = Closure::Settled(SettlementSummary {
            delta_u: s.delta_u,
            pool: s.pool,
            dust,
            total_slashed: slashed,
            outliers,
            evaluator_pool: s.evaluator_pool,
            evaluator_rewards: ev.rewards,
            t_critical: s.t,
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

/// Starts the first pass: the figures every page needs from the revealed reports.
fn begin(deps: &DepsMut, round: &Round) -> Result<Settling, ContractError> {
    let quorum = round.params.evaluator_quorum;
    if round.reports() < quorum {
        return Err(ContractError::QuorumNotReached {
            round_id: round.id,
            reports: round.reports(),
            quorum,
        });
    }
    let slots = round.params.evaluators.len();
    let mut bonds = vec![Uint128::zero(); slots];
    let (mut delta_us, mut dofs, mut weights) = (vec![], vec![], vec![]);
    for item in REPORTS
        .prefix(round.id)
        .range(deps.storage, None, None, Order::Ascending)
    {
        let (addr, rep) = item?;
        if round.reporters & (1u64 << rep.index) == 0 {
            continue; // struck out by a dispute
        }
        let bond = EVALUATORS.load(deps.storage, (round.id, &addr))?.bond;
        if let Some(b) = bonds.get_mut(rep.index as usize) {
            *b = bond;
        }
        delta_us.push(rep.delta_u);
        dofs.push(rep.dof);
        weights.push(consensus_weight(round, bond));
    }
    let delta_u = weighted_median_index(&delta_us, &weights)
        .map(|i| delta_us[i])
        .unwrap_or_default();
    let dof = weighted_median_index(&dofs, &weights)
        .map(|i| dofs[i])
        .unwrap_or(0);
    Ok(Settling {
        pass: Pass::Scoring,
        cursor: None,
        done: 0,
        delta_u,
        gain: Gain::default(),
        total_weight: Uint256::zero(),
        slashed: Uint128::zero(),
        pool: Uint128::zero(),
        paid: Uint128::zero(),
        t: round.params.rewards.critical_t(dof),
        bonds,
        deviations: vec![Decimal::zero(); slots],
        scale: Decimal::zero(),
        noise: Decimal::zero(),
        evaluator_pool: Uint128::zero(),
        evaluator_weight: Uint256::zero(),
    })
}

/// An evaluator's weight in the consensus: its bond, counted up to the round's `min_bond`.
/// Evaluators are a DAO-listed panel, not an open set, so each listed evaluator counts once:
/// an uncapped weight would let one evaluator that bonds more than the others together set
/// every median alone, which the odd quorum of three is there to prevent. (Pay stays by bond ×
/// agreement.)
fn consensus_weight(round: &Round, bond: Uint128) -> Uint128 {
    bond.min(round.params.evaluation.min_bond)
}

/// At the end of scoring: the evaluators' total pay weight (bond × agreement).
fn weigh_evaluators(round: &Round, s: &mut Settling) {
    let params = &round.params.evaluation;
    let mut total = Uint256::zero();
    let scale = judging_scale(params, s.scale, s.noise);
    for i in round.positions(round.reporters) {
        let i = i as usize;
        let st = standing(
            params,
            s.deviations.get(i).copied().unwrap_or_default(),
            scale,
        );
        total += pay_weight(s.bonds.get(i).copied().unwrap_or_default(), st);
    }
    s.evaluator_weight = total;
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
    let reporters: Vec<u8> = round.positions(round.reporters).collect();
    for (addr, p) in &page {
        let canon = deps.api.addr_canonicalize(addr.as_str())?;
        let score = if COMMITMENTS.get(deps.storage, round.id, &canon).is_some() {
            let mut from: Vec<u8> = Vec::with_capacity(reporters.len());
            let mut opinions: Vec<Opinion> = Vec::with_capacity(reporters.len());
            for &i in &reporters {
                let mut key = vec![i];
                key.extend_from_slice(&canon);
                if let Some(b) = SCORES.get(deps.storage, round.id, &key) {
                    from.push(i);
                    opinions.push(Opinion {
                        bond: consensus_weight(
                            round,
                            s.bonds.get(i as usize).copied().unwrap_or_default(),
                        ),
                        score: decode_score(&b)?,
                    });
                }
            }
            let agreed = consensus(&opinions);
            if let Some(c) = agreed {
                s.scale = s.scale.saturating_add(magnitude(c.value));
                s.noise = s.noise.saturating_add(c.std_error);
                for (i, o) in from.iter().zip(&opinions) {
                    if let Some(d) = s.deviations.get_mut(*i as usize) {
                        *d = d.saturating_add(abs_diff(o.score.value, c.value));
                    }
                }
            }
            agreed
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
        s.gain.add(score, s.t);
    }
    if let Some((last, _)) = page.last() {
        s.cursor = Some(Binary::from(last.as_bytes()));
    }
    let done = page.len() as u32;
    s.done += done;
    Ok((done, ended))
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
        let (verdict, rate) = rewards::classify(params, m.score, threshold, s.t);
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
        t: s.t,
        threshold: s.gain.threshold(&round.params.rewards),
        total_weight: s.total_weight,
        pool: s.pool,
    }
}

/// Fixes the evaluators' pool (their share of the budget, if any of them earns pay) and the
/// participants' pool (the rule's, on the rest of the budget); if the escrow cannot mint both
/// under the token's cap, both shrink in proportion to fit.
fn fix_pools(
    deps: Deps,
    escrow: &Addr,
    round: &Round,
    s: &mut Settling,
) -> Result<(), ContractError> {
    let budget = round.params.rewards.budget;
    let evaluator_budget = round.params.evaluation.budget(budget);
    let mut params = round.params.rewards.clone();
    params.budget = budget - evaluator_budget;
    let pool = rewards::pool(&params, &s.gain, s.total_weight);
    let evaluator_pool = if s.evaluator_weight.is_zero() {
        Uint128::zero()
    } else {
        evaluator_budget
    };
    if pool.is_zero() && evaluator_pool.is_zero() {
        s.pool = pool;
        s.evaluator_pool = evaluator_pool;
        return Ok(());
    }
    let room: RewardRoomResponse = deps
        .querier
        .query_wasm_smart(escrow, &EscrowQuery::RewardRoom {})?;
    let total = pool.checked_add(evaluator_pool).unwrap_or(Uint128::MAX);
    if total <= room.room {
        s.pool = pool;
        s.evaluator_pool = evaluator_pool;
    } else {
        s.pool = pool.multiply_ratio(room.room, total);
        s.evaluator_pool = evaluator_pool.multiply_ratio(room.room, total);
    }
    Ok(())
}

fn escrow_msg(escrow: &Addr, msg: &EscrowMsg) -> StdResult<CosmosMsg> {
    Ok(WasmMsg::Execute {
        contract_addr: escrow.to_string(),
        msg: to_json_binary(msg)?,
        funds: vec![],
    }
    .into())
}
