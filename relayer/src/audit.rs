//! Auditing evaluators: whether a report follows from the utility table it committed to (what
//! `fairshare verify-report` says, what a `dispute` proves on chain, what the demo's challenger
//! checks), and whether a published table agrees with a re-execution of U(S) on the validation
//! text revealed after settlement (the evidence `fairshare dispute propose` turns into a DAO
//! slashing proposal).

use std::fmt::Write as _;

use cosmwasm_std::{to_json_binary, CosmosMsg, SignedDecimal, Uint128, WasmMsg};
use fairshare_protocol::escrow;
use fairshare_protocol::report::{self, Estimator, TableError, UtilityTable};
use fairshare_protocol::round_manager::Report;
use serde::{Deserialize, Serialize};

/// One figure of a report set against what its table gives.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    /// A participant's address, or `ΔU`.
    pub what: String,
    pub reported: SignedDecimal,
    /// What the table gives (`None` when the table does not value this participant).
    pub table: Option<SignedDecimal>,
    pub follows: bool,
}

/// What checking a report against a table found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// The table hashes to the report's `table_hash`: it is the table the report committed to.
    pub table_is_committed: bool,
    /// Why the table cannot be read at all (malformed, too large, other participants).
    pub problem: Option<String>,
    /// ΔU first, then every participant in the report's order.
    pub lines: Vec<Line>,
    /// What does not belong to the round (another validation set, another seed); `None` when
    /// the table was not checked against a round.
    pub round_findings: Option<Vec<String>>,
}

/// The round a table must belong to: the round-manager draws a sampled table's permutations
/// from `report::round_seed(round_manager, round_id, validation_set_hash)` and refuses a table
/// measured on any other validation set.
#[derive(Debug, Clone, Copy)]
pub struct RoundContext<'a> {
    pub round_manager: &'a str,
    pub round_id: u64,
    pub validation_set_hash: &'a [u8],
}

impl Check {
    /// The report follows from its own committed table: a dispute with this table fails.
    pub fn consistent(&self) -> bool {
        self.table_is_committed
            && self.problem.is_none()
            && self.lines.iter().all(|l| l.follows)
            && self.round_findings.as_ref().is_none_or(Vec::is_empty)
    }

    /// A dispute with this table would be upheld on chain (the table is the committed one and
    /// the report does not follow from it, or the committed table is unreadable).
    pub fn disputable(&self) -> bool {
        self.table_is_committed && !self.consistent()
    }

    /// The finding in plain words, one line per figure.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        if !self.table_is_committed {
            s.push_str(
                "the table is NOT the one this report committed to (its hash differs from the report's table_hash): \
                 nothing follows either way, and a dispute with it would be refused\n",
            );
        }
        if let Some(p) = &self.problem {
            let _ = writeln!(s, "the table cannot be used: {p}");
        }
        match &self.round_findings {
            None => s.push_str(
                "(not checked against the round: its validation set and sampling seed need --round and a node)\n",
            ),
            Some(f) => {
                for x in f {
                    let _ = writeln!(s, "  DOES NOT belong to the round: {x}");
                }
            }
        }
        for l in &self.lines {
            let table = l
                .table
                .map_or("(not in the table)".to_string(), |t| t.to_string());
            let _ = writeln!(
                s,
                "  {:<8} {:<46} reported {:>24}  table gives {:>24}",
                if l.follows { "follows" } else { "DOES NOT" },
                l.what,
                l.reported.to_string(),
                table
            );
        }
        let verdict = if self.consistent() {
            "every φ and ΔU follows from the table (within 3·10⁻⁹): a dispute would fail and forfeit its deposit"
        } else if self.disputable() {
            "the report does NOT follow from its own table: a dispute with this table would be upheld"
        } else {
            "no conclusion: this is not the committed table"
        };
        let _ = write!(s, "{verdict}");
        s
    }
}

/// Every φ (in the table's player order) and U(N) that `table` gives, as decimals rounded the
/// way the round-manager rounds them: what an honest report states.
pub fn table_values(
    table: &UtilityTable,
) -> Result<(Vec<SignedDecimal>, SignedDecimal), TableError> {
    let (num, den) = report::shapley(table)?;
    let (g_num, g_den) = report::grand_value(table)?;
    Ok((
        num.iter()
            .map(|&x| report::nanos_to_decimal(x, den))
            .collect(),
        report::nanos_to_decimal(g_num, g_den),
    ))
}

/// Checks `report` against `table` exactly as the round-manager's `dispute` does, and, with
/// `round`, that the table belongs to that round (its validation set, its seed).
pub fn check(report: &Report, table: &UtilityTable, round: Option<RoundContext>) -> Check {
    let table_is_committed = table.hash().as_slice() == report.table_hash.as_slice();
    let mut out = Check {
        table_is_committed,
        problem: None,
        lines: vec![],
        round_findings: round.map(|r| round_findings(table, r)),
    };
    let given = match table_values(table) {
        Ok(v) => Some(v),
        Err(e) => {
            out.problem = Some(e.to_string());
            None
        }
    };
    let findings = match report::check(report, table) {
        Ok(f) => f,
        Err(e) => {
            if out.problem.is_none() {
                out.problem = Some(e.to_string());
            }
            vec![]
        }
    };
    let off = |what: &str| {
        findings.iter().any(|d| match d {
            report::Discrepancy::DeltaU { .. } => what == "ΔU",
            report::Discrepancy::Score { participant, .. } => participant == what,
        })
    };
    let readable = out.problem.is_none();
    out.lines.push(Line {
        what: "ΔU".into(),
        reported: report.delta_u,
        table: given.as_ref().map(|g| g.1),
        follows: readable && !off("ΔU"),
    });
    for s in &report.scores {
        let at = table.participants.iter().position(|p| *p == s.participant);
        out.lines.push(Line {
            what: s.participant.clone(),
            reported: s.value,
            table: match (&given, at) {
                (Some(g), Some(i)) => g.0.get(i).copied(),
                _ => None,
            },
            follows: readable && at.is_some() && !off(&s.participant),
        });
    }
    out
}

/// What in `table` does not belong to `round`, in words (as the round-manager says it).
pub fn round_findings(table: &UtilityTable, round: RoundContext) -> Vec<String> {
    let mut out = vec![];
    if table.validation_set_hash.as_slice() != round.validation_set_hash {
        out.push(format!(
            "the table was measured on validation set {}, not the round's {}",
            table.validation_set_hash.to_hex(),
            hex::encode(round.validation_set_hash)
        ));
    }
    if let Some(seed) = table.estimator.seed() {
        let expected = report::round_seed(
            round.round_manager,
            round.round_id,
            round.validation_set_hash,
        );
        if seed != expected {
            let what = match table.estimator {
                Estimator::Permutations { .. } => "permutations",
                _ => "coalitions",
            };
            out.push(format!(
                "the table's {what} were drawn from seed {seed}, not the round's seed {expected}"
            ));
        }
    }
    out
}

/// U(S) of a coalition as measured by a re-execution (`fairshare-trainer evaluate
/// --coalition …` writes these under "coalitions").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    pub participants: Vec<String>,
    pub utility: f64,
}

/// The coalitions of a `fairshare-trainer evaluate` report.
pub fn measurements_from_trainer(json: &serde_json::Value) -> Result<Vec<Measurement>, String> {
    let list = json.get("coalitions").ok_or_else(|| {
        "the re-execution has no \"coalitions\": run `fairshare-trainer evaluate` with --coalition for each coalition to check".to_string()
    })?;
    serde_json::from_value(list.clone())
        .map_err(|e| format!("the re-execution's \"coalitions\" are malformed: {e}"))
}

/// Every U(S) a table records for `coalition` (an exact table: once; a sampled one: every
/// permutation prefix that is this coalition), in utility units.
pub fn table_utilities(table: &UtilityTable, coalition: &[String]) -> Result<Vec<f64>, TableError> {
    let u = table.nanos()?;
    let n = table.participants.len();
    let mut mask = 0usize;
    for p in coalition {
        let i = table
            .participants
            .iter()
            .position(|q| q == p)
            .ok_or_else(|| TableError::Participants(format!("{p} is not a player of the table")))?;
        mask |= 1 << i;
    }
    let to_units = |x: i64| x as f64 / 1e9;
    Ok(match table.estimator {
        Estimator::Exact => vec![to_units(u[mask])],
        Estimator::Permutations { seed, count } => {
            let size = mask.count_ones() as usize;
            if size == 0 {
                return Ok(vec![0.0]);
            }
            (0..count)
                .filter_map(|k| {
                    let order = report::permutation(seed, k, n);
                    let prefix = order[..size].iter().fold(0usize, |m, &i| m | 1 << i);
                    (prefix == mask).then(|| to_units(u[k as usize * n + size - 1]))
                })
                .collect()
        }
        Estimator::RegressionAdjusted { seed, count, .. } => {
            let masks = fairshare_protocol::sampled::coalitions(seed, n, count as u64)
                .map_err(|e| TableError::Sampled(e.to_string()))?;
            if mask == 0 {
                return Ok(vec![0.0]);
            }
            masks
                .iter()
                .zip(&u)
                .filter(|(&m, _)| m == mask as u64)
                .map(|(_, &x)| to_units(x))
                .collect()
        }
    })
}

/// A coalition's U(S) in the table set against its re-execution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub participants: Vec<String>,
    /// What the table records (`None`: the table does not value this coalition).
    pub table: Option<f64>,
    pub measured: f64,
    /// `|table − measured|` (0 when the table does not value it).
    pub difference: f64,
    pub beyond_tolerance: bool,
}

/// Compares a table's utilities with re-executed ones, coalition by coalition.
pub fn compare(
    table: &UtilityTable,
    measured: &[Measurement],
    tolerance: f64,
) -> Result<Vec<Comparison>, TableError> {
    measured
        .iter()
        .map(|m| {
            let recorded = table_utilities(table, &m.participants)?;
            // A sampled table may hold a coalition more than once; its worst record counts.
            let worst = recorded.iter().copied().max_by(|a, b| {
                (a - m.utility)
                    .abs()
                    .partial_cmp(&(b - m.utility).abs())
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
            let difference = worst.map_or(0.0, |t| (t - m.utility).abs());
            Ok(Comparison {
                participants: m.participants.clone(),
                table: worst,
                measured: m.utility,
                difference,
                beyond_tolerance: difference > tolerance,
            })
        })
        .collect()
}

/// A DAO proposal, ready for `fairshare dao propose --title … --msgs …`.
#[derive(Debug, Clone, Serialize)]
pub struct Proposal {
    pub title: String,
    pub description: String,
    pub msgs: Vec<CosmosMsg>,
}

/// What a slashing proposal is about.
pub struct Evidence<'a> {
    pub escrow: &'a str,
    pub round_id: u64,
    pub evaluator: &'a str,
    pub table_hash: &'a str,
    pub validation_set_hash: &'a str,
    pub tolerance: f64,
    pub comparisons: &'a [Comparison],
    /// What to take from the evaluator's bond.
    pub amount: Uint128,
}

/// The proposal that asks the DAO to penalise an evaluator whose table disagrees with a
/// re-execution beyond `tolerance` (`None` when nothing disagrees).
pub fn slashing_proposal(e: &Evidence) -> Result<Option<Proposal>, cosmwasm_std::StdError> {
    let beyond: Vec<&Comparison> = e
        .comparisons
        .iter()
        .filter(|c| c.beyond_tolerance)
        .collect();
    if beyond.is_empty() {
        return Ok(None);
    }
    let mut d = format!(
        "Evaluator {} published, for round {}, the coalition utility table {} (measured, it says, on the validation text with sha256 {}). \
         That text was revealed after settlement, and re-executing `fairshare-trainer evaluate` on it gives other utilities for {} of the {} coalitions checked, \
         by more than the tolerance of {:e} nats per token (the resolution of f32 evaluation):\n",
        e.evaluator,
        e.round_id,
        e.table_hash,
        e.validation_set_hash,
        beyond.len(),
        e.comparisons.len(),
        e.tolerance
    );
    for c in &beyond {
        let _ = writeln!(
            d,
            "- U({{{}}}): table {}, re-executed {:.9} (off by {:.9})",
            c.participants.join(", "),
            c.table.map_or("-".into(), |t| format!("{t:.9}")),
            c.measured,
            c.difference
        );
    }
    let _ = write!(
        d,
        "A table that misstates U(S) makes every φ computed from it wrong, even when the φ follow from the table (which a dispute on chain checks). \
         This proposal takes {} of the evaluator's bond into the treasury through the escrow's penalize_evaluator; it must execute within the round's appeal window. \
         Anyone can repeat the check: run `fairshare-trainer evaluate` with the round's bundles, global adapter and the revealed validation text, \
         `--coalition` for each coalition above, and compare.",
        e.amount
    );
    let msg = WasmMsg::Execute {
        contract_addr: e.escrow.to_string(),
        msg: to_json_binary(&escrow::ExecuteMsg::PenalizeEvaluator {
            round_id: e.round_id,
            evaluator: e.evaluator.to_string(),
            amount: e.amount,
            reason: format!(
                "table {} disagrees with re-execution on {} coalition(s) beyond {:e}",
                e.table_hash,
                beyond.len(),
                e.tolerance
            ),
        })?,
        funds: vec![],
    };
    Ok(Some(Proposal {
        title: format!(
            "Penalise evaluator {} for round {}: its utility table disagrees with re-execution",
            e.evaluator, e.round_id
        ),
        description: d,
        msgs: vec![msg.into()],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cosmwasm_std::{Decimal, HexBinary};
    use fairshare_protocol::round_manager::ParticipantScore;
    use std::str::FromStr;

    fn sd(s: &str) -> SignedDecimal {
        SignedDecimal::from_str(s).expect("decimal")
    }

    fn table() -> UtilityTable {
        UtilityTable {
            participants: vec!["wasm1alice".into(), "wasm1bob".into()],
            validation_set_hash: HexBinary::from(vec![0u8; 32]),
            estimator: Estimator::Exact,
            utilities: report::pack_utilities(&[0.0, 0.3, 0.1, 0.5]).expect("finite"),
        }
    }

    fn report_of(t: &UtilityTable, alice: &str, bob: &str) -> Report {
        Report {
            aggregate_hash: HexBinary::from(vec![0u8; 32]),
            table_hash: HexBinary::from(t.hash().to_vec()),
            delta_u: sd("0.5"),
            dof: 7,
            scores: vec![
                ParticipantScore {
                    participant: "wasm1alice".into(),
                    value: sd(alice),
                    std_error: Decimal::permille(1),
                },
                ParticipantScore {
                    participant: "wasm1bob".into(),
                    value: sd(bob),
                    std_error: Decimal::permille(1),
                },
            ],
        }
    }

    #[test]
    fn a_report_that_follows_is_consistent_and_one_that_does_not_is_disputable() {
        let t = table();
        let ok = check(&report_of(&t, "0.35", "0.15"), &t, None);
        assert!(ok.consistent(), "{}", ok.describe());
        assert!(ok.describe().contains("a dispute would fail"));
        let round = RoundContext {
            round_manager: "wasm1rm",
            round_id: 1,
            validation_set_hash: &[0u8; 32],
        };
        assert!(check(&report_of(&t, "0.35", "0.15"), &t, Some(round)).consistent());
        let elsewhere = check(
            &report_of(&t, "0.35", "0.15"),
            &t,
            Some(RoundContext {
                validation_set_hash: &[1u8; 32],
                ..round
            }),
        );
        assert!(elsewhere.disputable(), "another validation set");
        let bad = check(&report_of(&t, "0.35", "0.45"), &t, None);
        assert!(!bad.consistent() && bad.disputable());
        assert_eq!(
            bad.lines
                .iter()
                .filter(|l| !l.follows)
                .map(|l| l.what.as_str())
                .collect::<Vec<_>>(),
            vec!["wasm1bob"]
        );
        let mut other = t.clone();
        other.utilities = report::pack_utilities(&[0.0, 0.2, 0.1, 0.5]).expect("finite");
        let wrong = check(&report_of(&t, "0.35", "0.15"), &other, None);
        assert!(!wrong.table_is_committed && !wrong.disputable());
        assert!(wrong
            .describe()
            .contains("NOT the one this report committed to"));
    }

    #[test]
    fn a_re_execution_beyond_tolerance_makes_a_proposal() {
        let t = table();
        let measured = vec![
            Measurement {
                participants: vec!["wasm1alice".into()],
                utility: 0.3000004,
            },
            Measurement {
                participants: vec!["wasm1bob".into(), "wasm1alice".into()],
                utility: 0.2,
            },
        ];
        let c = compare(&t, &measured, 1e-4).expect("comparable");
        assert!(!c[0].beyond_tolerance && c[1].beyond_tolerance, "{c:?}");
        assert_eq!(c[1].table, Some(0.5));
        let p = slashing_proposal(&Evidence {
            escrow: "wasm1escrow",
            round_id: 3,
            evaluator: "wasm1eve",
            table_hash: "abcd",
            validation_set_hash: "ef01",
            tolerance: 1e-4,
            comparisons: &c,
            amount: Uint128::new(500),
        })
        .expect("serialises")
        .expect("a proposal");
        assert!(
            p.description.contains("1 of the 2 coalitions"),
            "{}",
            p.description
        );
        let json = serde_json::to_string(&p.msgs).expect("json");
        assert!(json.contains("wasm1escrow"), "{json}");
        assert!(compare(&t, &measured[..1], 1e-4)
            .map(|c| slashing_proposal(&Evidence {
                escrow: "e",
                round_id: 1,
                evaluator: "v",
                table_hash: "",
                validation_set_hash: "",
                tolerance: 1e-4,
                comparisons: &c,
                amount: Uint128::one(),
            }))
            .expect("comparable")
            .expect("serialises")
            .is_none());
    }

    #[test]
    fn sampled_tables_are_searched_by_prefix() {
        let n = 3;
        let (seed, count) = (5, 4);
        let mut u = vec![];
        for k in 0..count {
            let mut acc = 0.0;
            for p in report::permutation(seed, k, n) {
                acc += [0.1, 0.2, 0.4][p];
                u.push(acc);
            }
        }
        let t = UtilityTable {
            participants: vec!["a".into(), "b".into(), "c".into()],
            validation_set_hash: HexBinary::from(vec![0u8; 32]),
            estimator: Estimator::Permutations { seed, count },
            utilities: report::pack_utilities(&u).expect("finite"),
        };
        let all = table_utilities(&t, &["c".into(), "a".into(), "b".into()]).expect("valued");
        assert_eq!(all.len(), count as usize);
        assert!(all.iter().all(|x| (x - 0.7).abs() < 1e-9));
        assert!(table_utilities(&t, &["z".into()]).is_err());
    }
}
