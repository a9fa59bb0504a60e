//! The evaluator's step function on the embedded chain: bond, fetch and check every committed
//! bundle (a withheld one makes a no-show), commit, reveal, and restarts that neither bond,
//! value nor commit twice.

use cosmwasm_std::{Decimal, HexBinary, SignedDecimal};
use fairshare_protocol::round_manager::ParticipantScore;

use super::*;
use crate::embedded::STAKE_DENOM;
use crate::relay::api::CommitRequest;
use crate::relay::tests::start;
use crate::relay::tests::{bundle_for, chain_with_round, evaluator_key};
use crate::relay::worker::{ChainHandle, SharedChain};
use crate::relay::Relayer;
use crate::store::http::HttpStore;
use crate::store::pack;

/// Scores every valued bundle 0.1 and every no-show 0, and counts its calls.
struct FlatValuer {
    calls: usize,
    seen_no_shows: Vec<String>,
}

impl Valuer for FlatValuer {
    fn value(
        &mut self,
        _round: &rm::RoundResponse,
        bundles: &[VerifiedBundle],
        no_shows: &[String],
    ) -> Result<Report, String> {
        self.calls += 1;
        self.seen_no_shows = no_shows.to_vec();
        let mut scores: Vec<ParticipantScore> = bundles
            .iter()
            .map(|b| ParticipantScore {
                participant: b.manifest.participant.clone(),
                value: SignedDecimal::percent(10),
                std_error: Decimal::zero(),
            })
            .chain(no_shows.iter().map(|p| ParticipantScore {
                participant: p.clone(),
                value: SignedDecimal::zero(),
                std_error: Decimal::zero(),
            }))
            .collect();
        scores.sort_by(|a, b| a.participant.cmp(&b.participant));
        Ok(Report {
            aggregate_hash: HexBinary::from(vec![0u8; 32]),
            table_hash: HexBinary::from(vec![0u8; 32]),
            delta_u: SignedDecimal::percent(10 * bundles.len() as i64),
            dof: 1,
            scores,
        })
    }
}

fn evaluator(
    h: &ChainHandle,
    d: &Deployment,
    relayer: &Relayer,
    data: &Path,
) -> Evaluator<FlatValuer> {
    let _ = h;
    Evaluator {
        key: evaluator_key(1),
        d: d.clone(),
        opts: EvaluatorOptions {
            data_dir: data.to_path_buf(),
            bond: 1_000,
            stake_kind: StakeKind::Native(STAKE_DENOM.into()),
            fetch_margin_blocks: 3,
        },
        store: Box::new(HttpStore::new(&relayer.url()).expect("store")),
        relayer: RelayClient::new(&relayer.url()).expect("client"),
        valuer: FlatValuer {
            calls: 0,
            seen_no_shows: vec![],
        },
    }
}

fn advance_past(h: &ChainHandle, d: &Deployment, id: u64, pick: fn(&rm::Deadlines) -> u64) {
    let d = d.clone();
    h.call(move |c| {
        let r = round::status(c, &d, id)?;
        let now = c.height()?;
        c.wait_blocks(pick(&r.deadlines).saturating_sub(now) + 1)
    })
    .expect("thread")
    .expect("moves");
}

#[test]
fn an_evaluator_values_what_it_can_fetch_and_survives_restarts() {
    let (h, d, id, keys, poster) = chain_with_round(&["p1", "p2", "p3"]);
    let t = tempfile::tempdir().expect("tempdir");
    let relayer = start(&h, &d, &poster, &t.path().join("relayer"), None);
    let mut chain = SharedChain::new(h.clone()).expect("shared chain");
    let chain_id = chain.chain_id().expect("chain id");
    // p1 and p2 publish and commit through the relayer; p3 commits on chain by itself and
    // withholds its bundle.
    let store = HttpStore::new(&relayer.url()).expect("store");
    let api = RelayClient::new(&relayer.url()).expect("client");
    for (i, k) in keys.iter().enumerate() {
        let dir = t.path().join(format!("b{i}"));
        let hash = bundle_for(&dir, k, id, i as f32 + 1.0);
        let c = k
            .sign_commitment(&chain_id, d.round_manager.as_str(), id, &hash)
            .expect("signs");
        if i < 2 {
            store.upload(&pack(&dir).expect("packs")).expect("uploads");
            api.commit(&CommitRequest {
                round_id: id,
                update_hash: hex::encode(hash),
                cid: None,
                commitment: c,
            })
            .expect("accepted");
        } else {
            round::commit(&mut chain, &d, k, id, vec![c], 1).expect("posted by itself");
        }
    }
    relayer.drain_now(&poster, 50).expect("posted");

    let data = t.path().join("eve");
    let mut e = evaluator(&h, &d, &relayer, &data);
    assert_eq!(
        e.step(&mut chain).expect("step"),
        Action::Bonded { round: id }
    );
    assert_eq!(
        e.step(&mut chain).expect("step"),
        Action::Idle,
        "bonded once"
    );
    advance_past(&h, &d, id, |dl| dl.commit_until);
    // p3's bundle is missing: retried while there is time, nothing committed yet.
    let err = e
        .step(&mut chain)
        .expect_err("waits for the missing bundle");
    assert!(
        matches!(err, EvaluatorError::Unavailable { missing: 1, .. }),
        "{err}"
    );
    assert_eq!(e.valuer.calls, 0);
    advance_past(&h, &d, id, |dl| dl.report_until - 3);
    let a = e.step(&mut chain).expect("step");
    assert_eq!(
        a,
        Action::Committed {
            round: id,
            valued: 2,
            no_shows: vec![keys[2].address().to_string()]
        }
    );
    assert_eq!(e.valuer.calls, 1);
    // Restarted: the chain has its digest; nothing is valued or committed again.
    let mut e = evaluator(&h, &d, &relayer, &data);
    assert_eq!(e.step(&mut chain).expect("step"), Action::Idle);
    assert_eq!(e.valuer.calls, 0);
    advance_past(&h, &d, id, |dl| dl.report_until);
    assert_eq!(
        e.step(&mut chain).expect("step"),
        Action::Revealed { round: id }
    );
    let mut e = evaluator(&h, &d, &relayer, &data);
    assert_eq!(
        e.step(&mut chain).expect("step"),
        Action::Idle,
        "revealed once"
    );
    let me = round::evaluators(&chain, &d, id)
        .expect("evaluators")
        .into_iter()
        .find(|x| x.evaluator.as_str() == evaluator_key(1).address())
        .expect("bonded");
    assert!(me.revealed_at.is_some());
}
