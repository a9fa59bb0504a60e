//! A proposal and the rules that decide it: quorum, threshold, early decisions, timelock.

use cosmwasm_schema::cw_serde;
use cosmwasm_std::{Addr, BlockInfo, CosmosMsg, Decimal, StdResult, Uint128, Uint256};
use fairshare_protocol::dao::{
    DepositStatus, Duration, Expiration, ProposalResponse, Status, Tally, Vote,
};

use crate::time;

/// A stored proposal. The rules it is decided by are copied from the config when it opens.
#[cw_serde]
pub struct Proposal {
    pub proposer: Addr,
    pub title: String,
    pub description: String,
    pub msgs: Vec<CosmosMsg>,
    pub start_height: u64,
    pub expires: Expiration,
    pub total_power: Uint128,
    pub tally: Tally,
    pub quorum: Decimal,
    pub threshold: Decimal,
    pub allow_revoting: bool,
    pub timelock: Option<Duration>,
    /// As last written; an `Open` proposal past `expires` is decided by [`Proposal::refresh`].
    pub status: Status,
    pub executable_at: Option<Expiration>,
    pub deposit: Uint128,
    pub deposit_status: DepositStatus,
    pub execution_error: Option<String>,
}

/// `part ≥ share · whole`, exactly.
fn at_least_share(part: Uint128, share: Decimal, whole: Uint128) -> bool {
    Uint256::from(part) * Uint256::from(Decimal::one().atomics())
        >= Uint256::from(share.atomics()) * Uint256::from(whole)
}

/// Whether `yes` exceeds `threshold` of `yes + no` (at 100%: all of it, and not nothing).
pub fn threshold_met(yes: Uint128, no: Uint128, threshold: Decimal) -> bool {
    if yes.is_zero() {
        return false;
    }
    if threshold >= Decimal::one() {
        return no.is_zero();
    }
    let voted = Uint256::from(yes) + Uint256::from(no);
    Uint256::from(yes) * Uint256::from(Decimal::one().atomics())
        > Uint256::from(threshold.atomics()) * voted
}

/// Power that has voted, abstentions included.
fn turnout(tally: &Tally) -> StdResult<Uint128> {
    Ok(tally
        .yes
        .checked_add(tally.no)?
        .checked_add(tally.abstain)?)
}

/// Adds (or with `remove`, takes back) a ballot's power to a tally.
pub fn count(tally: &mut Tally, vote: Vote, power: Uint128, remove: bool) -> StdResult<()> {
    let slot = match vote {
        Vote::Yes => &mut tally.yes,
        Vote::No => &mut tally.no,
        Vote::Abstain => &mut tally.abstain,
    };
    *slot = if remove {
        slot.checked_sub(power)?
    } else {
        slot.checked_add(power)?
    };
    Ok(())
}

impl Proposal {
    /// Whether enough of the snapshotted power has voted.
    pub fn quorum_met(&self) -> StdResult<bool> {
        let turnout = turnout(&self.tally)?;
        Ok(!turnout.is_zero() && at_least_share(turnout, self.quorum, self.total_power))
    }

    fn passes(&self) -> StdResult<bool> {
        Ok(self.quorum_met()? && threshold_met(self.tally.yes, self.tally.no, self.threshold))
    }

    /// Where the timelock of a proposal passed at `from` ends.
    fn unlock_after(&self, from: Expiration) -> StdResult<Expiration> {
        match self.timelock {
            Some(d) => time::add(from, d),
            None => Ok(from),
        }
    }

    /// Decides an open proposal whose voting period has ended.
    pub fn refresh(&mut self, block: &BlockInfo) -> StdResult<()> {
        if self.status == Status::Open && time::is_expired(self.expires, block) {
            if self.passes()? {
                self.status = Status::Passed;
                self.executable_at = Some(self.unlock_after(self.expires)?);
            } else {
                self.status = Status::Rejected;
            }
        }
        Ok(())
    }

    /// Decides an open proposal early once no remaining vote could change the outcome.
    /// With revoting allowed, cast votes can still change, so only expiry decides.
    pub fn decide_early(&mut self, block: &BlockInfo) -> StdResult<()> {
        if self.status != Status::Open || self.allow_revoting {
            return Ok(());
        }
        let remaining = self.total_power.checked_sub(turnout(&self.tally)?)?;
        let Tally { yes, no, .. } = self.tally;
        if self.quorum_met()? && threshold_met(yes, no.checked_add(remaining)?, self.threshold) {
            self.status = Status::Passed;
            let now = Expiration::AtHeight(block.height);
            self.executable_at = Some(match self.timelock {
                Some(d) => time::after(d, block),
                None => now,
            });
        } else if !threshold_met(yes.checked_add(remaining)?, no, self.threshold) {
            self.status = Status::Rejected;
        }
        Ok(())
    }

    pub fn into_response(self, id: u64, block: &BlockInfo) -> StdResult<ProposalResponse> {
        let mut p = self;
        p.refresh(block)?;
        Ok(ProposalResponse {
            id,
            proposer: p.proposer,
            title: p.title,
            description: p.description,
            msgs: p.msgs,
            status: p.status,
            start_height: p.start_height,
            expires: p.expires,
            total_power: p.total_power,
            tally: p.tally,
            quorum: p.quorum,
            threshold: p.threshold,
            allow_revoting: p.allow_revoting,
            executable_at: p.executable_at,
            deposit: p.deposit,
            deposit_status: p.deposit_status,
            execution_error: p.execution_error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cosmwasm_std::testing::mock_env;

    fn proposal(total: u128, quorum: u64, threshold: u64, revoting: bool) -> Proposal {
        Proposal {
            proposer: Addr::unchecked("p"),
            title: "t".into(),
            description: String::new(),
            msgs: vec![],
            start_height: 1,
            expires: Expiration::AtHeight(100),
            total_power: Uint128::new(total),
            tally: Tally::default(),
            quorum: Decimal::percent(quorum),
            threshold: Decimal::percent(threshold),
            allow_revoting: revoting,
            timelock: Some(Duration::Height(10)),
            status: Status::Open,
            executable_at: None,
            deposit: Uint128::one(),
            deposit_status: DepositStatus::Held,
            execution_error: None,
        }
    }

    fn tally(yes: u128, no: u128, abstain: u128) -> Tally {
        Tally {
            yes: Uint128::new(yes),
            no: Uint128::new(no),
            abstain: Uint128::new(abstain),
        }
    }

    #[test]
    fn threshold_is_strict_except_at_one_hundred_percent() {
        let t = |y, n, pct| threshold_met(Uint128::new(y), Uint128::new(n), Decimal::percent(pct));
        assert!(!t(50, 50, 50), "a tie does not pass a majority");
        assert!(t(51, 49, 50));
        assert!(t(10, 0, 100));
        assert!(!t(99, 1, 100));
        assert!(!t(0, 0, 50), "no yes votes never pass");
        assert!(threshold_met(
            Uint128::MAX,
            Uint128::MAX,
            Decimal::percent(49)
        ));
    }

    #[test]
    fn quorum_counts_abstentions() {
        let mut p = proposal(100, 30, 50, false);
        p.tally = tally(0, 0, 29);
        assert!(!p.quorum_met().expect("no overflow"));
        p.tally = tally(0, 0, 30);
        assert!(p.quorum_met().expect("no overflow"));
    }

    #[test]
    fn passes_early_once_the_remaining_power_cannot_change_it() {
        let block = mock_env().block;
        let mut p = proposal(100, 30, 50, false);
        p.tally = tally(50, 0, 0);
        p.decide_early(&block).expect("no overflow");
        assert_eq!(p.status, Status::Open, "50 remaining no votes would tie");
        p.tally = tally(51, 0, 0);
        p.decide_early(&block).expect("no overflow");
        assert_eq!(p.status, Status::Passed);
        assert_eq!(
            p.executable_at,
            Some(Expiration::AtHeight(block.height + 10))
        );
    }

    #[test]
    fn rejects_early_once_yes_cannot_win() {
        let block = mock_env().block;
        let mut p = proposal(100, 30, 50, false);
        p.tally = tally(0, 49, 0);
        p.decide_early(&block).expect("no overflow");
        assert_eq!(p.status, Status::Open);
        p.tally = tally(0, 50, 0);
        p.decide_early(&block).expect("no overflow");
        assert_eq!(p.status, Status::Rejected);
    }

    #[test]
    fn revoting_defers_the_decision_to_expiry() {
        let mut block = mock_env().block;
        let mut p = proposal(100, 30, 50, true);
        p.tally = tally(100, 0, 0);
        p.decide_early(&block).expect("no overflow");
        assert_eq!(p.status, Status::Open);
        block.height = 100;
        p.refresh(&block).expect("same units");
        assert_eq!(p.status, Status::Passed);
        assert_eq!(p.executable_at, Some(Expiration::AtHeight(110)));
    }

    #[test]
    fn expiry_without_quorum_rejects() {
        let mut block = mock_env().block;
        block.height = 100;
        let mut p = proposal(100, 30, 50, false);
        p.tally = tally(29, 0, 0);
        p.refresh(&block).expect("same units");
        assert_eq!(p.status, Status::Rejected);
        assert!(!p.quorum_met().expect("no overflow"));
    }
}
