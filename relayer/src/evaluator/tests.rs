//! The evaluator's step function on the embedded chain: bond, fetch and check every committed
//! bundle (a withheld one makes a no-show), commit, reveal, and restarts that neither bond,
//! value nor commit twice.

use cosmwasm_std::{Decimal, HexBinary, SignedDecimal};
use fairshare_protocol::round_manager::ParticipantScore;

use super::*;
use crate::chain::ChainError;
use crate::embedded::STAKE_DENOM;
use crate::relay::api::CommitRequest;
use crate::relay::tests::start;
use crate::relay::tests::{bundle_for, chain_with_round, evaluator_key};
use crate::relay::worker::{ChainHandle, SharedChain};
use crate::relay::Relayer;
use crate::store::http::HttpStore;
use crate::store::pack;

/// Scores every valued bundle 0.1 and every no-show 0, and counts its calls.
pub(crate) struct FlatValuer {
    pub(crate) calls: usize,
    pub(crate) seen_no_shows: Vec<String>,
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

pub(crate) fn advance_past(
    h: &ChainHandle,
    d: &Deployment,
    id: u64,
    pick: fn(&rm::Deadlines) -> u64,
) {
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

/// A deployed embedded chain with one open round for the tiny model of
/// [`crate::valuation::tests::tiny_model`] (`base_hash`) on a validation text of sha256
/// `validation_hash`, joined by `participants`; evaluators 1–3 funded, quorum 3, and a funded
/// challenger. Returns the handle, the deployment, the round, the keys and the challenger.
pub(crate) fn chain_for_model(
    participants: &[&str],
    base_hash: &str,
    validation_hash: [u8; 32],
) -> (
    ChainHandle,
    Deployment,
    u64,
    Vec<ParticipantKey>,
    ParticipantKey,
) {
    use crate::embedded::{DeployOptions, EmbeddedChain};
    let names: Vec<String> = participants.iter().map(|s| s.to_string()).collect();
    let base = base_hash.to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = ChainHandle::spawn(move || {
        let other = |e: anyhow::Error| ChainError::Other(e.to_string());
        let evaluators: Vec<String> = (1..=3)
            .map(|i| evaluator_key(i).address().to_string())
            .collect();
        let mut e =
            EmbeddedChain::deploy(DeployOptions::with_evaluators(evaluators, 3)).map_err(other)?;
        let spec = rm::RoundSpec {
            base_model_hash: HexBinary::from_hex(&base)
                .map_err(|x| ChainError::Other(x.to_string()))?,
            global_adapter_hash: HexBinary::from(vec![0u8; 32]),
            validation_set_hash: HexBinary::from(validation_hash.to_vec()),
            task_uri: "fairshare://tasks/tiny".into(),
        };
        let operator = e.operator_key.clone();
        let id = round::open(&mut e.app, &e.d, &operator, spec)?;
        let mut keys = vec![];
        for n in &names {
            let k = e.key(n);
            e.fund(k.address(), 1_000).map_err(other)?;
            e.join(&k, id, 100).map_err(other)?;
            keys.push(k);
        }
        for i in 1..=3 {
            e.fund(evaluator_key(i).address(), 10_000).map_err(other)?;
        }
        let challenger = e.key("challenger");
        e.fund(challenger.address(), 1_000_000).map_err(other)?;
        let _ = tx.send((e.d.clone(), id, keys, challenger));
        Ok(Box::new(e.app) as Box<dyn Chain>)
    })
    .expect("the embedded chain starts");
    let (d, id, keys, challenger) = rx.recv().expect("setup done");
    (handle, d, id, keys, challenger)
}

/// A round on the tiny model ([`chain_for_model`]) joined by `names`: every one but the last
/// publishes its bundle (seed `seed + i`) and commits through a relayer; the last commits by
/// itself and withholds its bundle. `archives[i]` is participant `i`'s packed bundle.
pub(crate) struct TinyRound {
    pub h: ChainHandle,
    pub d: Deployment,
    pub id: u64,
    pub keys: Vec<ParticipantKey>,
    pub challenger: ParticipantKey,
    pub relayer: Relayer,
    pub chain: SharedChain,
    pub model: fairshare_trainer::model::LlamaModel,
    pub base_hash: String,
    pub archives: Vec<Vec<u8>>,
}

pub(crate) fn tiny_round(
    t: &Path,
    names: &[&str],
    validation_hash: [u8; 32],
    seed: u64,
) -> TinyRound {
    use crate::valuation::tests::{tiny_bundle, tiny_model};
    let (model, base_hash) = tiny_model(&t.join("model"));
    let (h, d, id, keys, challenger) = chain_for_model(names, &base_hash, validation_hash);
    let poster =
        ParticipantKey::from_seed(b"relayer", crate::embedded::ADDRESS_PREFIX).expect("key");
    let relayer = start(&h, &d, &poster, &t.join("relayer"), None);
    let mut chain = SharedChain::new(h.clone()).expect("shared chain");
    let chain_id = chain.chain_id().expect("chain id");
    let store = HttpStore::new(&relayer.url()).expect("store");
    let api = RelayClient::new(&relayer.url()).expect("client");
    let mut archives = vec![];
    for (i, k) in keys.iter().enumerate() {
        let dir = t.join(format!("b{i}"));
        let hex_hash = tiny_bundle(&dir, &model, &base_hash, id, k.address(), seed + i as u64);
        let mut hash = [0u8; 32];
        hex::decode_to_slice(&hex_hash, &mut hash).expect("hex");
        let c = k
            .sign_commitment(&chain_id, d.round_manager.as_str(), id, &hash)
            .expect("signs");
        archives.push(pack(&dir).expect("packs"));
        if i + 1 < keys.len() {
            store.upload(&archives[i]).expect("uploads");
            api.commit(&CommitRequest {
                round_id: id,
                update_hash: hex_hash,
                cid: None,
                commitment: c,
            })
            .expect("accepted");
        } else {
            round::commit(&mut chain, &d, k, id, vec![c], 1).expect("posted by itself");
        }
    }
    relayer.drain_now(&poster, 50).expect("posted");
    TinyRound {
        h,
        d,
        id,
        keys,
        challenger,
        relayer,
        chain,
        model,
        base_hash,
        archives,
    }
}

/// Evaluators 1–3 of `r` (data under `t/eval-i`, bundles from its relayer), valuing with
/// `valuer(i)`.
pub(crate) fn evaluators_of<V: Valuer>(
    t: &Path,
    r: &TinyRound,
    valuer: impl Fn(u32) -> V,
) -> Vec<Evaluator<V>> {
    (1..=3)
        .map(|i| Evaluator {
            key: evaluator_key(i),
            d: r.d.clone(),
            opts: EvaluatorOptions {
                data_dir: t.join(format!("eval-{i}")),
                bond: 1_000,
                stake_kind: StakeKind::Native(STAKE_DENOM.into()),
                fetch_margin_blocks: 3,
            },
            store: Box::new(HttpStore::new(&r.relayer.url()).expect("store")),
            relayer: RelayClient::new(&r.relayer.url()).expect("client"),
            valuer: valuer(i),
        })
        .collect()
}

#[test]
fn the_model_valuer_values_a_withheld_bundle_as_a_null_player_and_the_round_settles() {
    use crate::valuation::tests::tiny_text;
    let t = tempfile::tempdir().expect("tempdir");
    let text = tiny_text();
    let validation_hash = fairshare_protocol::commitment::update_hash(text.as_bytes());
    // p1 and p2 publish and commit through the relayer; p3 commits by itself and withholds
    // its bundle.
    let r = tiny_round(t.path(), &["p1", "p2", "p3"], validation_hash, 20);
    let tokens = fairshare_trainer::tokenizer::TextTokenizer::from_file(
        &t.path().join("model/tokenizer.json"),
    )
    .expect("tokenizer")
    .encode(&text)
    .expect("tokens");
    let mut evaluators = evaluators_of(t.path(), &r, |i| {
        ModelValuer::new(
            r.model.clone(),
            r.base_hash.clone(),
            tokens.clone(),
            validation_hash,
            r.d.round_manager.as_str(),
            None,
            ValuerSettings {
                name: format!("evaluator-{i}"),
                seq_len: 16,
                batch_windows: 2,
                duplicate_threshold: crate::valuation::DUPLICATE_THRESHOLD,
                work_dir: t.path().join(format!("eval-{i}")),
                progress: false,
            },
        )
    });
    let TinyRound {
        h,
        d,
        id,
        keys,
        challenger,
        relayer,
        mut chain,
        ..
    } = r;
    let store = HttpStore::new(&relayer.url()).expect("store");
    for e in &mut evaluators {
        assert_eq!(
            e.step(&mut chain).expect("step"),
            Action::Bonded { round: id }
        );
    }
    advance_past(&h, &d, id, |dl| dl.commit_until);
    for e in &mut evaluators {
        let err = e
            .step(&mut chain)
            .expect_err("waits for the withheld bundle");
        assert!(
            matches!(err, EvaluatorError::Unavailable { missing: 1, .. }),
            "{err}"
        );
    }
    advance_past(&h, &d, id, |dl| dl.report_until - 3);
    let no_show = keys[2].address().to_string();
    for e in &mut evaluators {
        assert_eq!(
            e.step(&mut chain).expect("values and commits"),
            Action::Committed {
                round: id,
                valued: 2,
                no_shows: vec![no_show.clone()]
            }
        );
        let last = e.valuer.last.as_ref().expect("a valued round");
        assert_eq!(
            last.table.participants.len(),
            3,
            "the no-show is in the table"
        );
        let at = last
            .participants
            .iter()
            .position(|p| *p == no_show)
            .expect("listed");
        assert!(!last.present[at]);
        assert_eq!(last.valuation.values[at], 0.0, "a null player");
        let written: fairshare_protocol::report::UtilityTable =
            serde_json::from_slice(&std::fs::read(&last.table_file).expect("the table is written"))
                .expect("a table");
        assert_eq!(written, last.table);
    }
    advance_past(&h, &d, id, |dl| dl.report_until);
    for e in &mut evaluators {
        assert_eq!(
            e.step(&mut chain).expect("step"),
            Action::Revealed { round: id }
        );
    }
    // A challenger reads every revealed report back from the chain and checks it against its
    // published table exactly as `fairshare verify-report` does; then disputes one on chain,
    // where the round-manager's own check (every committed participant in the table) rejects
    // the dispute.
    let params = round::status(&chain, &d, id).expect("status").params;
    for e in &evaluators {
        let last = e.valuer.last.as_ref().expect("valued");
        let report = round::revealed_report(&chain, &d, id, e.key.address())
            .expect("query")
            .expect("revealed");
        let check = crate::audit::check(
            &report,
            &last.table,
            Some(crate::audit::RoundContext {
                round_manager: d.round_manager.as_str(),
                round_id: id,
                validation_set_hash: &validation_hash,
            }),
        );
        assert!(check.consistent(), "{}", check.describe());
        // The table was published at reveal under the hash the report commits to: a
        // challenger on another host fetches it from the relayer (re-checked on arrival).
        let fetched = crate::store::fetch_table(&store, &report.table_hash.to_hex())
            .expect("the table is in the relayer's store");
        assert_eq!(fetched, last.table);
    }
    let first = &evaluators[0];
    let tx = round::dispute(
        &mut chain,
        &d,
        &StakeKind::Native(STAKE_DENOM.into()),
        &challenger,
        id,
        first.key.address(),
        first.valuer.last.as_ref().expect("valued").table.clone(),
        params.evaluation.dispute_deposit.u128(),
    )
    .expect("a dispute is accepted for judgement");
    assert_eq!(tx.attribute("outcome"), Some("rejected"));
    advance_past(&h, &d, id, |dl| dl.dispute_until - 1);
    round::settle(&mut chain, &d, &challenger, id).expect("settles");
    let st = round::status(&chain, &d, id).expect("status");
    assert_eq!(st.phase, Phase::Settled);
    let results = round::results(&chain, &d, id).expect("results");
    let r3 = results
        .iter()
        .find(|r| r.participant.as_str() == no_show)
        .expect("the no-show has a result");
    assert_eq!(
        r3.score.map(|s| s.value),
        Some(SignedDecimal::zero()),
        "valued at exactly 0 by the median"
    );
}

#[test]
fn a_valuer_holds_a_held_out_text_per_round_from_a_directory() {
    use crate::valuation::tests::tiny_model;
    let t = tempfile::tempdir().expect("tempdir");
    tiny_model(&t.path().join("model"));
    let texts = t.path().join("texts");
    std::fs::create_dir_all(&texts).expect("mkdir");
    let (a, b) = (
        "the first round's text. ",
        "the second round's other text. ",
    );
    std::fs::write(texts.join("round-1.txt"), a).expect("writes");
    std::fs::write(texts.join("round-2.txt"), b).expect("writes");
    let settings = |dir: &Path| ValuerSettings {
        name: "test".into(),
        seq_len: 16,
        batch_windows: 2,
        duplicate_threshold: crate::valuation::DUPLICATE_THRESHOLD,
        work_dir: dir.to_path_buf(),
        progress: false,
    };
    let v = ModelValuer::load(
        &t.path().join("model"),
        &texts,
        "wasm1rm",
        None,
        settings(t.path()),
    )
    .expect("loads");
    let tok = fairshare_trainer::tokenizer::TextTokenizer::from_file(
        &t.path().join("model/tokenizer.json"),
    )
    .expect("tokenizer");
    for text in [a, b] {
        let h = fairshare_protocol::commitment::update_hash(text.as_bytes());
        assert_eq!(
            v.validation_tokens(&h).expect("held"),
            tok.encode(text).expect("tokens").as_slice()
        );
    }
    assert!(v.validation_tokens(&[0u8; 32]).is_none());
    std::fs::create_dir_all(t.path().join("empty")).expect("mkdir");
    let e = ModelValuer::load(
        &t.path().join("model"),
        &t.path().join("empty"),
        "wasm1rm",
        None,
        settings(t.path()),
    )
    .err()
    .expect("an empty directory is refused");
    assert!(e.to_string().contains("no text file"), "{e}");
}
