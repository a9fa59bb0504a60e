//! A proposal and the rules that decide it: quorum, threshold, early decisions, timelock,
//! execution window.

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
    /// How long it stays executable once its timelock has ended.
    pub execution_window: Duration,
    /// As last written; an `Open` proposal past `expires` is decided, and a `Passed` one past
    /// `executable_until` expires, by [`Proposal::refresh`].
    pub status: Status,
    pub executable_at: Option<Expiration>,
    /// End of the execution window (`None` until it has passed).
    pub executable_until: Option<Expiration>,
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

    /// Marks the proposal passed at `at`: executable once its timelock has ended, for its
    /// execution window.
    fn pass(&mut self, at: Expiration) -> StdResult<()> {
        let unlock = match self.timelock {
            Some(d) => time::add(at, d)?,
            None => at,
        };
        self.status = Status::Passed;
        self.executable_at = Some(unlock);
        self.executable_until = Some(time::add(unlock, self.execution_window)?);
        Ok(())
    }

    /// Decides an open proposal whose voting period has ended, and expires a passed one
    /// whose execution window has ended (a failed execution leaves it `Passed`, so it
    /// expires too).
    pub fn refresh(&mut self, block: &BlockInfo) -> StdResult<()> {
        if self.status == Status::Open && time::is_expired(self.expires, block) {
            if self.passes()? {
                self.pass(self.expires)?;
            } else {
                self.status = Status::Rejected;
            }
        }
        if self.status == Status::Passed
            && self
                .executable_until
                .is_some_and(|until| time::is_expired(until, block))
        {
            self.status = Status::Expired;
        }
        Ok(())
    }

    /// Decides an open proposal early once no remaining vote could change the outcome.
    /// With revoting allowed, cast votes can still change, so only expiry decides.
    ///
    /// Both early decisions wait for quorum. Passing needs it anyway; rejecting before it
    /// would let one holder of just over `1 − threshold` of the power vote no first and end
    /// the proposal without quorum, which forfeits the proposer's deposit, while the others
    /// could still have voted it to quorum (where a rejection refunds the deposit). Without
    /// quorum, the proposal stays open until its voting period ends.
    pub fn decide_early(&mut self, block: &BlockInfo) -> StdResult<()> {
        if self.status != Status::Open || self.allow_revoting || !self.quorum_met()? {
            return Ok(());
        }
        let remaining = self.total_power.checked_sub(turnout(&self.tally)?)?;
        let Tally { yes, no, .. } = self.tally;
        if threshold_met(yes, no.checked_add(remaining)?, self.threshold) {
            // The timelock and window count the voting period's unit, as the window does.
            let now = match self.execution_window {
                Duration::Height(_) => Expiration::AtHeight(block.height),
                Duration::Time(_) => Expiration::AtTime(block.time),
            };
            self.pass(now)?;
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
            executable_until: p.executable_until,
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
            execution_window: Duration::Height(30),
            status: Status::Open,
            executable_at: None,
            executable_until: None,
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
        assert_eq!(
            p.executable_until,
            Some(Expiration::AtHeight(block.height + 40))
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
    fn does_not_reject_early_before_quorum() {
        let block = mock_env().block;
        // At 90%, 11 no votes of 100 already make yes impossible, but 11 < 30 is no quorum.
        let mut p = proposal(100, 30, 90, false);
        p.tally = tally(0, 11, 0);
        p.decide_early(&block).expect("no overflow");
        assert_eq!(p.status, Status::Open, "the others may still reach quorum");
        p.tally = tally(0, 11, 19);
        p.decide_early(&block).expect("no overflow");
        assert_eq!(p.status, Status::Rejected, "quorum reached, yes cannot win");
        assert!(p.quorum_met().expect("no overflow"));
    }

    #[test]
    fn a_passed_proposal_expires_after_its_execution_window() {
        let mut block = mock_env().block;
        block.height = 100;
        let mut p = proposal(100, 30, 50, false);
        p.tally = tally(60, 0, 0);
        p.refresh(&block).expect("same units");
        assert_eq!(p.status, Status::Passed);
        assert_eq!(p.executable_at, Some(Expiration::AtHeight(110)));
        assert_eq!(p.executable_until, Some(Expiration::AtHeight(140)));
        block.height = 139;
        p.refresh(&block).expect("same units");
        assert_eq!(p.status, Status::Passed);
        block.height = 140;
        p.refresh(&block).expect("same units");
        assert_eq!(p.status, Status::Expired);
    }

    #[test]
    fn an_early_pass_counts_time_when_the_periods_do() {
        let block = mock_env().block;
        let mut p = proposal(100, 30, 50, false);
        p.timelock = None;
        p.execution_window = Duration::Time(60);
        p.tally = tally(51, 0, 0);
        p.decide_early(&block).expect("same units");
        assert_eq!(p.executable_at, Some(Expiration::AtTime(block.time)));
        assert_eq!(
            p.executable_until,
            Some(Expiration::AtTime(block.time.plus_seconds(60)))
        );
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
