//! The challenger service on the embedded chain: tables fetched from the relayer's store by
//! their committed hash, a liar disputed (and upheld), honest reports left alone, and restarts
//! that never dispute twice.

use std::collections::BTreeMap;

use cosmwasm_std::{Decimal, HexBinary, SignedDecimal};
use fairshare_protocol::report::Estimator;
use fairshare_protocol::round_manager::ParticipantScore;

use super::*;
use crate::bundle::VerifiedBundle;
use crate::embedded::STAKE_DENOM;
use crate::evaluator::tests::{advance_past, evaluators_of, tiny_round};
use crate::evaluator::{Action as EvaluatorAction, Valuer};
use crate::store::http::HttpStore;

/// Values every present update at 0.1 (an additive exact table over the committed
/// participants, no-shows null players) and reports what follows from it, except that a liar
/// adds 0.05 to one present participant's score. Keeps its tables for publication.
struct TableValuer {
    lie: bool,
    tables: BTreeMap<u64, UtilityTable>,
}

impl Valuer for TableValuer {
    fn value(
        &mut self,
        r: &rm::RoundResponse,
        bundles: &[VerifiedBundle],
        no_shows: &[String],
    ) -> Result<Report, String> {
        let mut participants: Vec<String> = bundles
            .iter()
            .map(|b| b.manifest.participant.clone())
            .chain(no_shows.iter().cloned())
            .collect();
        participants.sort();
        let present: Vec<bool> = participants
            .iter()
            .map(|p| bundles.iter().any(|b| &b.manifest.participant == p))
            .collect();
        let n = participants.len();
        let utilities: Vec<f64> = (0..1usize << n)
            .map(|mask| (0..n).filter(|&i| mask >> i & 1 == 1 && present[i]).count() as f64 * 0.1)
            .collect();
        let table = UtilityTable {
            participants: participants.clone(),
            validation_set_hash: r.spec.validation_set_hash.clone(),
            estimator: Estimator::Exact,
            utilities: crate::valuation::pack(&utilities).map_err(|e| e.to_string())?,
        };
        let (phi, delta_u) = crate::valuation::decimals(&table).map_err(|e| e.to_string())?;
        let mut scores: Vec<ParticipantScore> = participants
            .iter()
            .zip(&phi)
            .map(|(p, v)| ParticipantScore {
                participant: p.clone(),
                value: *v,
                std_error: Decimal::percent(1),
            })
            .collect();
        if self.lie {
            let j = present.iter().position(|&p| p).ok_or("nobody present")?;
            scores[j].value += SignedDecimal::percent(5);
        }
        self.tables.insert(r.id, table.clone());
        Ok(Report {
            aggregate_hash: HexBinary::from(vec![0u8; 32]),
            table_hash: HexBinary::from(table.hash().to_vec()),
            delta_u,
            dof: 1,
            scores,
        })
    }

    fn table(&self, round_id: u64) -> Result<Option<UtilityTable>, String> {
        Ok(self.tables.get(&round_id).cloned())
    }
}

#[test]
fn a_challenger_disputes_a_report_that_does_not_follow_from_its_published_table_once() {
    let t = tempfile::tempdir().expect("tempdir");
    let r = tiny_round(t.path(), &["p1", "p2", "p3"], [9u8; 32], 60);
    // Evaluator 2 lies about one score.
    let mut evaluators = evaluators_of(t.path(), &r, |i| TableValuer {
        lie: i == 2,
        tables: BTreeMap::new(),
    });
    let mut chain = crate::relay::worker::SharedChain::new(r.h.clone()).expect("chain");
    for e in &mut evaluators {
        assert_eq!(
            e.step(&mut chain).expect("bonds"),
            EvaluatorAction::Bonded { round: r.id }
        );
    }
    let challenger = |dir: &str| Challenger {
        key: r.challenger.clone(),
        d: r.d.clone(),
        opts: ChallengerOptions {
            data_dir: t.path().join(dir),
            stake_kind: StakeKind::Native(STAKE_DENOM.into()),
        },
        store: Box::new(HttpStore::new(&r.relayer.url()).expect("store")),
    };
    let addresses: Vec<String> = evaluators
        .iter()
        .map(|e| e.key.address().to_string())
        .collect();
    let address = |i: usize| addresses[i].clone();
    let mut c = challenger("challenger");
    assert!(
        c.step(&mut chain).expect("step").is_empty(),
        "nothing revealed yet"
    );
    advance_past(&r.h, &r.d, r.id, |dl| dl.report_until - 3);
    for e in &mut evaluators {
        assert!(matches!(
            e.step(&mut chain).expect("commits"),
            EvaluatorAction::Committed { .. }
        ));
    }
    advance_past(&r.h, &r.d, r.id, |dl| dl.report_until);
    // Evaluator 1 reveals first: its table is in the store by then, and it is honest.
    assert_eq!(
        evaluators[0].step(&mut chain).expect("reveals"),
        EvaluatorAction::Revealed { round: r.id }
    );
    let first = c.step(&mut chain).expect("step");
    assert_eq!(
        first,
        vec![Action::Found {
            round: r.id,
            evaluator: address(0),
            finding: Finding::Consistent
        }]
    );
    for e in &mut evaluators[1..] {
        assert_eq!(
            e.step(&mut chain).expect("reveals"),
            EvaluatorAction::Revealed { round: r.id }
        );
    }
    let second = c.step(&mut chain).expect("step");
    assert_eq!(second.len(), 2, "{second:?}");
    assert!(second.contains(&Action::Found {
        round: r.id,
        evaluator: address(1),
        finding: Finding::Disputed {
            outcome: "upheld".into()
        }
    }));
    assert!(second.contains(&Action::Found {
        round: r.id,
        evaluator: address(2),
        finding: Finding::Consistent
    }));
    // Nothing left to do; a restarted challenger (same data) does nothing either.
    assert!(c.step(&mut chain).expect("step").is_empty());
    assert!(challenger("challenger")
        .step(&mut chain)
        .expect("step")
        .is_empty());
    // One that lost its record sees the dispute on chain and does not dispute again.
    let mut fresh = challenger("other");
    let again = fresh.step(&mut chain).expect("step");
    assert!(again.contains(&Action::Found {
        round: r.id,
        evaluator: address(1),
        finding: Finding::AlreadyDisputed
    }));
    // One whose store lacks the tables examines nothing it cannot check, and records nothing.
    let mut blind = Challenger {
        store: Box::new(crate::store::dir::DirStore::open(&t.path().join("empty")).expect("store")),
        ..challenger("blind")
    };
    let unavailable = blind.step(&mut chain).expect("step");
    assert_eq!(unavailable.len(), 3, "{unavailable:?}");
    for i in [0, 2] {
        assert!(
            unavailable.iter().any(|a| matches!(a,
            Action::TableUnavailable { evaluator, reason, .. }
                if *evaluator == address(i) && reason.contains("no utility table"))),
            "{unavailable:?}"
        );
    }
    assert_eq!(
        blind.step(&mut chain).expect("step").len(),
        2,
        "retried, not recorded"
    );
    let disputes = round::disputes(&chain, &r.d, r.id).expect("disputes");
    assert_eq!(disputes.len(), 1, "disputed exactly once");
    assert!(disputes[0].upheld);
    assert_eq!(disputes[0].challenger.as_str(), r.challenger.address());
}
