//! The evaluator layer of one cohort's round (DESIGN §4b) as the round-manager settles it:
//! what each evaluator of the panel reveals given its role, the consensus per participant
//! (`fairshare_protocol::evaluation::consensus`), and each evaluator's standing, pay and slash
//! from the evaluators' pool.
//!
//! Roles: an *honest* evaluator reveals its measurement; a *colluder* reveals
//! `φ + (factor − 1)·|φ|` for its partners and its measurement for everyone else, backed by a
//! fabricated utility table that is consistent with it (adding `δ` to `U(S)` for every
//! coalition `S` that holds a partner raises that partner's φ by `δ` and leaves everyone
//! else's unchanged), so an on-chain dispute cannot catch it — only re-execution on the
//! revealed validation text can; a *zeros* evaluator reveals 0 for everyone; a *copier*
//! reveals each participant's last consensus score from an earlier round (commit–reveal hides
//! this round's reports until its commitment is in) and 0 for newcomers; a *no-show* bonds
//! and reveals nothing. Lazy roles spend no compute.

use std::fmt;

use cosmwasm_std::{Decimal, SignedDecimal, Uint128, Uint256};
use fairshare_protocol::evaluation::{
    abs_diff, consensus, judging_scale, magnitude, pay_weight, slash_rate, standing,
    EvaluatorParams, EvaluatorVerdict, Opinion,
};
use fairshare_protocol::rewards::{share, Score};
use serde::{Deserialize, Serialize};

use super::decimals::{signed, unsigned, unsigned_f64};
use super::schemes::Measurement;

/// How an evaluator of a panel behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reveals what it measured.
    Honest,
    /// Inflates its partners' scores with a fabricated, self-consistent table.
    Colluder,
    /// Reveals zero for everyone without measuring.
    Zeros,
    /// Reveals each participant's last consensus score without measuring.
    Copier,
    /// Bonds and never reveals.
    NoShow,
}

impl Role {
    /// The lazy roles, in report order.
    pub const LAZY: [Role; 3] = [Role::Zeros, Role::Copier, Role::NoShow];

    /// The snake_case name used in JSON and tables.
    pub fn name(self) -> &'static str {
        match self {
            Role::Honest => "honest",
            Role::Colluder => "colluder",
            Role::Zeros => "zeros",
            Role::Copier => "copier",
            Role::NoShow => "no_show",
        }
    }

    /// A phrase for the report.
    pub fn describe(self) -> &'static str {
        match self {
            Role::Honest => "honest (measures and reveals)",
            Role::Colluder => "colluder (inflates its partners)",
            Role::Zeros => "lazy: reports zeros",
            Role::Copier => "lazy: copies each participant's last consensus",
            Role::NoShow => "lazy: bonds, never reveals",
        }
    }

    /// Whether it pays for measuring the cohort.
    pub fn computes(self) -> bool {
        matches!(self, Role::Honest | Role::Colluder)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The evaluators of every cohort of a run: one role per seat, the quorum, and how much
/// colluders inflate.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// One role per evaluator.
    pub roles: Vec<Role>,
    /// Revealed reports a round needs to settle.
    pub quorum: usize,
    /// A colluder reveals `φ + (factor − 1)·|φ|` for a partner.
    pub factor: f64,
}

impl Panel {
    /// `size` honest evaluators.
    pub fn honest(size: usize, quorum: usize) -> Self {
        Self {
            roles: vec![Role::Honest; size],
            quorum,
            factor: 1.0,
        }
    }

    /// `size` evaluators of which the first `count` play `role`, the rest honestly.
    pub fn with(size: usize, quorum: usize, role: Role, count: usize, factor: f64) -> Self {
        let mut p = Self::honest(size, quorum);
        for r in p.roles.iter_mut().take(count) {
            *r = role;
        }
        p.factor = factor;
        p
    }

    /// Evaluators on the panel.
    pub fn size(&self) -> usize {
        self.roles.len()
    }
}

/// What an evaluator revealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reveal {
    /// Nothing: a no-show.
    Absent,
    /// Its measurement, or a lazy guess that it did not disguise.
    Faithful,
    /// At least one score differs from its measurement on purpose (collusion).
    Fabricated,
}

/// Fills `out` with what an evaluator playing `role` reveals for the cohort's members, given
/// its honest `measurement`, which members are its `partners` and each member's `last`
/// consensus score.
pub fn reveal(
    role: Role,
    measurement: &Measurement,
    partners: &[bool],
    last: &[Option<Score>],
    factor: f64,
    out: &mut Vec<Score>,
) -> Reveal {
    out.clear();
    let zero = Score {
        value: SignedDecimal::zero(),
        std_error: Decimal::zero(),
    };
    let honest = |i: usize, value: f64| Score {
        value: signed(value),
        std_error: unsigned(measurement.se[i]),
    };
    match role {
        Role::NoShow => return Reveal::Absent,
        Role::Honest => out.extend(
            measurement
                .phi
                .iter()
                .enumerate()
                .map(|(i, &p)| honest(i, p)),
        ),
        Role::Zeros => out.extend(measurement.phi.iter().map(|_| zero)),
        Role::Copier => out.extend(
            (0..measurement.phi.len()).map(|i| last.get(i).copied().flatten().unwrap_or(zero)),
        ),
        Role::Colluder => {
            let mut lied = false;
            for (i, &p) in measurement.phi.iter().enumerate() {
                let partner = partners.get(i).copied().unwrap_or(false);
                let value = if partner {
                    p + (factor - 1.0) * p.abs()
                } else {
                    p
                };
                lied |= value != p;
                out.push(honest(i, value));
            }
            return if lied {
                Reveal::Fabricated
            } else {
                Reveal::Faithful
            };
        }
    }
    Reveal::Faithful
}

/// How the round judged, paid and slashed one evaluator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvaluatorOutcome {
    /// Its verdict (Consensus with agreement 0 when a round fails and it revealed).
    pub verdict: EvaluatorVerdict,
    /// Its agreement with the consensus, in [0, 1].
    pub agreement: f64,
    /// Pay from the evaluators' pool, utoken.
    pub reward: u128,
    /// Bond forfeited, utoken.
    pub slash: u128,
}

/// One round's evaluator settlement.
#[derive(Debug, Clone, PartialEq)]
pub struct Settlement {
    /// Fewer reports than the quorum were revealed: the round fails, no participant is paid
    /// or slashed, and only no-show evaluators are slashed.
    pub failed: bool,
    /// The consensus score of each committed member (empty when the round failed).
    pub scores: Vec<Score>,
    /// One outcome per evaluator of the panel.
    pub evaluators: Vec<EvaluatorOutcome>,
    /// The evaluators' pool paid out (before rounding), utoken.
    pub evaluator_pool: u128,
}

/// Settles the evaluator side of a round with `members` committed participants: `reports`
/// holds one entry per evaluator (`None` for a no-show), each with one score per member; every
/// evaluator bonded `bond`; `budget` is the round's whole budget.
pub fn settle(
    params: &EvaluatorParams,
    bond: Uint128,
    quorum: usize,
    budget: Uint128,
    reports: &[Option<Vec<Score>>],
    members: usize,
) -> Settlement {
    let revealed: Vec<usize> = (0..reports.len())
        .filter(|&e| reports[e].is_some())
        .collect();
    let slash_for = |v: EvaluatorVerdict| bond.mul_floor(slash_rate(params, v)).u128();
    let absent = EvaluatorOutcome {
        verdict: EvaluatorVerdict::NoShow,
        agreement: 0.0,
        reward: 0,
        slash: slash_for(EvaluatorVerdict::NoShow),
    };
    // A round is never decided by no report at all, whatever the quorum says.
    if revealed.len() < quorum.max(1) {
        let idle = EvaluatorOutcome {
            verdict: EvaluatorVerdict::Consensus,
            agreement: 0.0,
            reward: 0,
            slash: 0,
        };
        return Settlement {
            failed: true,
            scores: Vec::new(),
            evaluators: reports
                .iter()
                .map(|r| if r.is_some() { idle } else { absent })
                .collect(),
            evaluator_pool: 0,
        };
    }
    let mut deviations = vec![Decimal::zero(); reports.len()];
    let mut scale = Decimal::zero();
    let mut noise = Decimal::zero();
    let mut scores = Vec::with_capacity(members);
    let mut opinions = Vec::with_capacity(revealed.len());
    for i in 0..members {
        opinions.clear();
        opinions.extend(revealed.iter().filter_map(|&e| {
            let score = reports[e].as_ref()?.get(i).copied()?;
            Some(Opinion { bond, score })
        }));
        let c = consensus(&opinions).expect(
            "at least one report was revealed (checked above) and each scores every member",
        );
        scale = scale.saturating_add(magnitude(c.value));
        noise = noise.saturating_add(c.std_error);
        for (&e, o) in revealed.iter().zip(&opinions) {
            deviations[e] = deviations[e].saturating_add(abs_diff(o.score.value, c.value));
        }
        scores.push(c);
    }
    let scale = judging_scale(params, scale, noise);
    let standings: Vec<_> = (0..reports.len())
        .map(|e| standing(params, deviations[e], scale))
        .collect();
    let weights: Vec<Uint256> = (0..reports.len())
        .map(|e| {
            if reports[e].is_some() {
                pay_weight(bond, standings[e])
            } else {
                Uint256::zero()
            }
        })
        .collect();
    let total = weights.iter().fold(Uint256::zero(), |a, w| a + *w);
    let pool = if total.is_zero() {
        Uint128::zero()
    } else {
        params.budget(budget)
    };
    let evaluators = (0..reports.len())
        .map(|e| {
            if reports[e].is_none() {
                return absent;
            }
            let st = standings[e];
            EvaluatorOutcome {
                verdict: st.verdict,
                agreement: unsigned_f64(st.agreement),
                reward: share(pool, weights[e], total).u128(),
                slash: slash_for(st.verdict),
            }
        })
        .collect();
    Settlement {
        failed: false,
        scores,
        evaluators,
        evaluator_pool: pool.u128(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::config::SimConfig;
    use crate::sim::decimals::signed_f64;

    fn measurement(phi: &[f64], se: f64) -> Measurement {
        Measurement {
            delta_u: phi.iter().sum(),
            phi: phi.to_vec(),
            se: vec![se; phi.len()],
        }
    }

    /// Three honest measurements of four members that differ by their own small errors.
    fn honest_three() -> Vec<Measurement> {
        vec![
            measurement(&[0.10, 0.05, 0.02, -0.03], 0.002),
            measurement(&[0.101, 0.049, 0.021, -0.031], 0.002),
            measurement(&[0.099, 0.051, 0.019, -0.029], 0.002),
        ]
    }

    fn reveal_all(panel: &Panel, ms: &[Measurement], partners: &[bool]) -> Vec<Option<Vec<Score>>> {
        let last = vec![None; partners.len()];
        panel
            .roles
            .iter()
            .zip(ms)
            .map(|(&role, m)| {
                let mut out = Vec::new();
                match reveal(role, m, partners, &last, panel.factor, &mut out) {
                    Reveal::Absent => None,
                    _ => Some(out),
                }
            })
            .collect()
    }

    fn run(panel: &Panel, ms: &[Measurement], partners: &[bool]) -> Settlement {
        let cfg = SimConfig::default();
        settle(
            &cfg.evaluator_params(),
            Uint128::new(cfg.evaluation.bond_utoken),
            panel.quorum,
            Uint128::new(cfg.rewards.budget_utoken),
            &reveal_all(panel, ms, partners),
            partners.len(),
        )
    }

    #[test]
    fn honest_panel_agrees_and_shares_the_pool() {
        let s = run(&Panel::honest(3, 3), &honest_three(), &[false; 4]);
        assert!(!s.failed);
        let cfg = SimConfig::default();
        let pool = (cfg.rewards.budget_utoken as f64 * cfg.evaluation.share) as u128;
        assert_eq!(s.evaluator_pool, pool);
        let paid: u128 = s.evaluators.iter().map(|e| e.reward).sum();
        assert!(
            paid <= pool && paid + 3 >= pool,
            "rounding dust only: {paid}"
        );
        // Evaluator 0 is the median for every member; the others are off by 0.001 on each
        // of four members. The judging scale is Σ|φ*| = 0.2 plus the noise floor
        // Σse* / 10% = 4 × 0.002 / 0.1 = 0.08, so 0.004 uses 0.004 / (0.1 × 0.28) of the band.
        let agreement: Vec<f64> = s.evaluators.iter().map(|e| e.agreement).collect();
        assert!((agreement[0] - 1.0).abs() < 1e-12, "{agreement:?}");
        let expected = 1.0 - 0.004 / (0.1 * (0.2 + 4.0 * 0.002 / 0.1));
        assert!(
            agreement[1..].iter().all(|a| (a - expected).abs() < 1e-9),
            "{agreement:?} vs {expected}"
        );
        for e in &s.evaluators {
            assert_eq!(e.verdict, EvaluatorVerdict::Consensus);
            assert_eq!(e.slash, 0);
        }
        assert!(
            s.evaluators[0].reward > s.evaluators[1].reward,
            "paid by agreement"
        );
        // The consensus is the middle report for every member.
        assert!((signed_f64(s.scores[0].value) - 0.10).abs() < 1e-12);
        assert!((signed_f64(s.scores[3].value) + 0.03).abs() < 1e-12);
    }

    #[test]
    fn a_colluding_minority_moves_no_score_and_is_not_paid() {
        let ms = honest_three();
        let partners = [false, true, false, false];
        let honest = run(&Panel::honest(3, 3), &ms, &partners);
        let colluded = run(&Panel::with(3, 3, Role::Colluder, 1, 3.0), &ms, &partners);
        // The partner's consensus stays within what the honest evaluators measured.
        let p = signed_f64(colluded.scores[1].value);
        assert!((0.049..=0.051).contains(&p), "{p}");
        for i in [0, 2, 3] {
            assert_eq!(
                colluded.scores[i], honest.scores[i],
                "non-partners untouched"
            );
        }
        // Its deviation (0.1 of Σ|φ*| ≈ 0.2) makes it an outlier: unpaid.
        assert_ne!(colluded.evaluators[0].verdict, EvaluatorVerdict::Consensus);
        assert_eq!(colluded.evaluators[0].reward, 0);
        assert!(colluded.evaluators[1].reward > honest.evaluators[1].reward);
    }

    #[test]
    fn a_colluding_majority_sets_the_score_and_the_honest_become_outliers() {
        let ms = honest_three();
        let partners = [true, false, false, false];
        let s = run(&Panel::with(3, 3, Role::Colluder, 2, 3.0), &ms, &partners);
        assert!(
            signed_f64(s.scores[0].value) > 0.29,
            "the partner's φ tripled"
        );
        assert_eq!(s.evaluators[2].reward, 0);
        assert_ne!(s.evaluators[2].verdict, EvaluatorVerdict::Consensus);
        assert!(s.evaluators[0].reward > 0 && s.evaluators[1].reward > 0);
    }

    #[test]
    fn lazy_evaluators_are_judged() {
        let ms = honest_three();
        let none = [false; 4];
        let zeros = run(&Panel::with(3, 3, Role::Zeros, 1, 1.0), &ms, &none);
        assert_eq!(zeros.evaluators[0].verdict, EvaluatorVerdict::Deviant);
        let cfg = SimConfig::default();
        let bond = cfg.evaluation.bond_utoken as f64;
        assert_eq!(
            zeros.evaluators[0].slash as f64,
            (bond * cfg.evaluation.slash_outlier).floor()
        );
        // A no-show of three leaves two reports, below the quorum: the round fails.
        let absent = run(&Panel::with(3, 3, Role::NoShow, 1, 1.0), &ms, &none);
        assert!(absent.failed && absent.scores.is_empty());
        assert_eq!(absent.evaluators[0].verdict, EvaluatorVerdict::NoShow);
        assert_eq!(
            absent.evaluators[0].slash as f64,
            (bond * cfg.evaluation.slash_no_show).floor()
        );
        assert!(absent.evaluators[1..]
            .iter()
            .all(|e| e.reward == 0 && e.slash == 0));
        // With a panel of four and a quorum of three, the round settles without it.
        let mut four = honest_three();
        four.insert(0, measurement(&[0.0; 4], 0.0));
        let settled = run(&Panel::with(4, 3, Role::NoShow, 1, 1.0), &four, &none);
        assert!(!settled.failed);
        assert_eq!(settled.evaluators[0].reward, 0);
    }

    #[test]
    fn a_copier_reveals_the_last_consensus_or_zero() {
        let m = measurement(&[0.1, 0.2], 0.01);
        let last = [
            Some(Score {
                value: signed(0.3),
                std_error: unsigned(0.02),
            }),
            None,
        ];
        let mut out = Vec::new();
        assert_eq!(
            reveal(Role::Copier, &m, &[false; 2], &last, 1.0, &mut out),
            Reveal::Faithful
        );
        assert_eq!(out[0], last[0].expect("set"));
        assert!(out[1].value.is_zero() && out[1].std_error.is_zero());
        assert_eq!(
            reveal(Role::Colluder, &m, &[false, true], &last, 2.0, &mut out),
            Reveal::Fabricated
        );
        assert!((signed_f64(out[1].value) - 0.4).abs() < 1e-12);
        assert_eq!(
            reveal(Role::Colluder, &m, &[false; 2], &last, 2.0, &mut out),
            Reveal::Faithful,
            "no partner in the cohort: nothing to fabricate"
        );
    }
}
