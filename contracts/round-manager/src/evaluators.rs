//! What each bonded evaluator and each challenger comes to once a round has ended: a pure
//! function of their records and the round's fixed figures, so settlement totals, queries
//! and the escrow's claims agree.

use cosmwasm_std::{Addr, Decimal, Order, StdResult, Storage, Uint128};
use fairshare_protocol::evaluation::{
    judging_scale, pay_weight, slash_rate, standing, EvaluatorVerdict,
};
use fairshare_protocol::rewards::share;
use fairshare_protocol::round_manager::{ChallengerResult, EvaluatorResult};

use crate::state::{Closure, EvaluatorBond, Round, StoredDispute, DISPUTES, EVALUATORS};

/// One bonded evaluator's verdict, agreement, reward and slash. In a round that failed, a
/// revealed report is neither paid nor slashed (verdict Consensus, agreement 0); no-shows and
/// struck-out reports are slashed whatever the ending, except that nobody is a no-show in a
/// round that failed for lack of committed updates.
pub fn evaluator_result(round: &Round, evaluator: Addr, bond: &EvaluatorBond) -> EvaluatorResult {
    let params = &round.params.evaluation;
    let bit = 1u64 << bond.index;
    let (verdict, agreement, reward) = if round.struck & bit != 0 {
        (EvaluatorVerdict::Disputed, Decimal::zero(), Uint128::zero())
    } else if round.reporters & bit == 0 {
        if round.committed < round.params.min_participants {
            // The round failed before there was anything to evaluate: no one was due.
            (
                EvaluatorVerdict::Consensus,
                Decimal::zero(),
                Uint128::zero(),
            )
        } else {
            (EvaluatorVerdict::NoShow, Decimal::zero(), Uint128::zero())
        }
    } else {
        match (&round.closure, &round.settling) {
            (Closure::Settled(_), Some(s)) => {
                let i = bond.index as usize;
                let st = standing(
                    params,
                    s.deviations.get(i).copied().unwrap_or_default(),
                    judging_scale(params, s.scale, s.noise),
                );
                let reward = share(
                    s.evaluator_pool,
                    pay_weight(bond.bond, st),
                    s.evaluator_weight,
                );
                (st.verdict, st.agreement, reward)
            }
            _ => (
                EvaluatorVerdict::Consensus,
                Decimal::zero(),
                Uint128::zero(),
            ),
        }
    };
    let ended_at = match &round.closure {
        Closure::Settled(s) => s.settled_at,
        Closure::Failed { at } => *at,
        Closure::Active => u64::MAX,
    };
    EvaluatorResult {
        evaluator,
        bond: bond.bond,
        verdict,
        agreement,
        reward,
        slash: bond.bond.mul_floor(slash_rate(params, verdict)),
        claimable_from: ended_at.saturating_add(params.appeal_blocks),
    }
}

/// The challenger's bounty for an upheld dispute: its share of the evaluator's slash.
pub fn bounty(round: &Round, disputed_bond: Uint128) -> Uint128 {
    let p = &round.params.evaluation;
    disputed_bond
        .mul_floor(p.slash_disputed)
        .mul_floor(p.challenger_share)
}

/// What the evaluators and challengers of an ended round add to its totals: evaluator
/// rewards, and what goes to the treasury (evaluator slashes less bounties, plus forfeited
/// deposits).
pub struct EvaluatorTotals {
    pub rewards: Uint128,
    pub to_treasury: Uint128,
}

pub fn totals(storage: &dyn Storage, round: &Round) -> StdResult<EvaluatorTotals> {
    let mut rewards = Uint128::zero();
    let mut to_treasury = Uint128::zero();
    for item in EVALUATORS
        .prefix(round.id)
        .range(storage, None, None, Order::Ascending)
    {
        let (addr, bond) = item?;
        let r = evaluator_result(round, addr, &bond);
        rewards = rewards.checked_add(r.reward)?;
        to_treasury = to_treasury.checked_add(r.slash)?;
    }
    for item in DISPUTES
        .prefix(round.id)
        .range(storage, None, None, Order::Ascending)
    {
        let (evaluator, d) = item?;
        if d.upheld {
            let bond = EVALUATORS.load(storage, (round.id, &evaluator))?;
            to_treasury = to_treasury.checked_sub(bounty(round, bond.bond))?;
        } else {
            to_treasury = to_treasury.checked_add(d.deposit)?;
        }
    }
    Ok(EvaluatorTotals {
        rewards,
        to_treasury,
    })
}

/// A challenger's deposits in a round and what comes back to it.
pub fn challenger_result(
    storage: &dyn Storage,
    round: &Round,
    challenger: Addr,
) -> StdResult<ChallengerResult> {
    let mut out = ChallengerResult {
        challenger,
        deposits: Uint128::zero(),
        upheld: 0,
        rejected: 0,
        stake_return: Uint128::zero(),
    };
    let mine: Vec<(Addr, StoredDispute)> = DISPUTES
        .prefix(round.id)
        .range(storage, None, None, Order::Ascending)
        .filter(|r| {
            r.as_ref()
                .map_or(true, |(_, d)| d.challenger == out.challenger)
        })
        .collect::<StdResult<_>>()?;
    for (evaluator, d) in mine {
        out.deposits = out.deposits.checked_add(d.deposit)?;
        if d.upheld {
            out.upheld += 1;
            let bond = EVALUATORS.load(storage, (round.id, &evaluator))?;
            out.stake_return = out
                .stake_return
                .checked_add(d.deposit)?
                .checked_add(bounty(round, bond.bond))?;
        } else {
            out.rejected += 1;
        }
    }
    Ok(out)
}
