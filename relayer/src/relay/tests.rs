//! The relayer service on the embedded chain: the API's checks, the durable queue across a
//! simulated kill, batching, and fail-over.

use std::path::Path;
use std::time::Duration;

use fairshare_protocol::round_manager as rm;

use super::api::CommitRequest;
use super::client::RelayClient;
use super::queue::{Entry, Queue};
use super::worker::{ChainHandle, Failover};
use super::{RelayOptions, Relayer};
use crate::bundle::write;
use crate::chain::{Chain, ChainError, ChainExt, ContractKind, TxOutcome};
use crate::embedded::{DeployOptions, EmbeddedChain};
use crate::keys::ParticipantKey;
use crate::ops::{round, Deployment};
use crate::store::http::HttpStore;
use crate::store::{fetch_bundle, pack, BundleStore, Cid, Wanted};

/// A deployed embedded chain with one open round that `participants` have joined, owned by
/// a chain thread. Returns the handle, the deployment, the round id and the keys.
pub(crate) fn chain_with_round(
    participants: &[&str],
) -> (
    ChainHandle,
    Deployment,
    u64,
    Vec<ParticipantKey>,
    ParticipantKey,
) {
    chain_with_round_funded(participants, &[])
}

/// As [`chain_with_round`], and `funded` get stake coins without joining.
pub(crate) fn chain_with_round_funded(
    participants: &[&str],
    funded: &[&str],
) -> (
    ChainHandle,
    Deployment,
    u64,
    Vec<ParticipantKey>,
    ParticipantKey,
) {
    let names: Vec<String> = participants.iter().map(|s| s.to_string()).collect();
    let funded: Vec<String> = funded.iter().map(|s| s.to_string()).collect();
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = ChainHandle::spawn(move || {
        let evaluators: Vec<String> = (1..=3)
            .map(|i| evaluator_key(i).address().to_string())
            .collect();
        let mut e = EmbeddedChain::deploy(DeployOptions::with_evaluators(evaluators, 3))
            .map_err(|e| ChainError::Other(e.to_string()))?;
        // Round one: no global adapter yet (all-zero hash).
        let mut spec = crate::ops::spec_for("services");
        spec.global_adapter_hash = cosmwasm_std::HexBinary::from(vec![0u8; 32]);
        let operator = e.operator_key.clone();
        let id = round::open(&mut e.app, &e.d, &operator, spec)?;
        let mut keys = vec![];
        for n in &names {
            let k = e.key(n);
            e.fund(k.address(), 1_000)
                .map_err(|e| ChainError::Other(e.to_string()))?;
            e.join(&k, id, 100)
                .map_err(|e| ChainError::Other(e.to_string()))?;
            keys.push(k);
        }
        for n in &funded {
            let k = e.key(n);
            e.fund(k.address(), 10_000)
                .map_err(|e| ChainError::Other(e.to_string()))?;
        }
        for i in 1..=3 {
            e.fund(evaluator_key(i).address(), 10_000)
                .map_err(|e| ChainError::Other(e.to_string()))?;
        }
        let poster = e.key("relayer");
        let _ = tx.send((e.d.clone(), id, keys, poster));
        Ok(Box::new(e.app) as Box<dyn Chain>)
    })
    .expect("the embedded chain starts");
    let (d, id, keys, poster) = rx.recv().expect("setup done");
    (handle, d, id, keys, poster)
}

/// The key of evaluator `i` (1 to 3) of [`chain_with_round`]'s deployment (funded).
pub(crate) fn evaluator_key(i: u32) -> ParticipantKey {
    ParticipantKey::from_seed(
        format!("evaluator{i}").as_bytes(),
        crate::embedded::ADDRESS_PREFIX,
    )
    .expect("the embedded chain's prefix is valid bech32")
}

/// A valid bundle of `key` for the round (the spec's base-model hash, the round's shared A, no
/// global adapter), B's values from `seed`.
pub(crate) fn bundle_for(dir: &Path, key: &ParticipantKey, round_id: u64, seed: f32) -> [u8; 32] {
    let spec = crate::ops::spec_for("services");
    let base = spec.base_model_hash.to_hex();
    let m = write::Module::with_round_a(
        "base_model.model.model.layers.0.self_attn.q_proj",
        crate::bundle::round_lora_seed(round_id, &spec),
        2,
        3,
        vec![0.02 * seed; 6],
    );
    write::bundle(
        dir,
        &[m],
        2,
        2.0,
        &["q_proj"],
        round_id,
        &base,
        key.address(),
        10,
    )
    .expect("a test bundle is written")
}

fn committed(h: &ChainHandle, d: &Deployment, id: u64) -> u32 {
    let d = d.clone();
    h.call(move |c| round::status(c, &d, id).map(|r| r.committed))
        .expect("chain thread")
        .expect("status")
}

fn sign(
    h: &ChainHandle,
    d: &Deployment,
    k: &ParticipantKey,
    id: u64,
    hash: [u8; 32],
) -> rm::SignedCommitment {
    let chain_id = h.call(|c| c.chain_id()).expect("thread").expect("chain id");
    k.sign_commitment(&chain_id, d.round_manager.as_str(), id, &hash)
        .expect("signs")
}

#[test]
fn a_killed_relayer_loses_nothing_and_posts_nothing_twice() {
    let (h, d, id, keys, poster) = chain_with_round(&["p1", "p2", "p3"]);
    let t = tempfile::tempdir().expect("tempdir");
    let entries: Vec<Entry> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let hash = bundle_for(&t.path().join(format!("b{i}")), k, id, i as f32 + 1.0);
            Entry {
                round_id: id,
                commitment: sign(&h, &d, k, id, hash),
                update_hash: hex::encode(hash),
                cid: Cid::of_raw(&[i as u8]),
                bytes: 1,
            }
        })
        .collect();
    let q = Queue::new(&t.path().join("queue"));
    for e in &entries {
        q.put(e).expect("queued");
    }
    // The relayer posts the first two and is killed before it records them as done.
    let first_two: Vec<_> = entries[..2].iter().map(|e| e.commitment.clone()).collect();
    let (dd, pk) = (d.clone(), poster.clone());
    h.call(move |c| round::commit(c, &dd, &pk, id, first_two, 2))
        .expect("thread")
        .expect("posted");
    drop(q);
    assert_eq!(committed(&h, &d, id), 2);
    // A restarted relayer sees the same three pending entries, posts only the third.
    let q = Queue::new(&t.path().join("queue"));
    assert_eq!(q.pending(id).expect("reads").len(), 3, "nothing lost");
    let (q2, dd, pk) = (q.clone(), d.clone(), poster.clone());
    let drained = h
        .call(move |c| q2.drain(c, &dd, &pk, 50))
        .expect("thread")
        .expect("drains");
    assert_eq!(
        (drained.posted, drained.already_on_chain, drained.batches),
        (1, 2, 1)
    );
    assert_eq!(committed(&h, &d, id), 3);
    assert!(q.pending(id).expect("reads").is_empty());
    assert_eq!(q.done(id).expect("reads").len(), 3);
    // Draining again posts nothing; re-queuing a done entry is a no-op.
    q.put(&entries[0]).expect("idempotent");
    let (q3, dd, pk) = (q.clone(), d.clone(), poster.clone());
    let again = h
        .call(move |c| q3.drain(c, &dd, &pk, 50))
        .expect("thread")
        .expect("drains");
    assert_eq!((again.posted, again.batches), (0, 0));
}

/// A `MakeWriter` into a shared buffer, to read what was logged.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_corrupt_queue_entry_is_set_aside_and_the_round_goes_on() {
    let (h, d, id, keys, poster) = chain_with_round(&["p1", "p2", "p3"]);
    let t = tempfile::tempdir().expect("tempdir");
    let q = Queue::new(&t.path().join("queue"));
    for (i, k) in keys.iter().enumerate() {
        let hash = bundle_for(&t.path().join(format!("b{i}")), k, id, i as f32 + 1.0);
        q.put(&Entry {
            round_id: id,
            commitment: sign(&h, &d, k, id, hash),
            update_hash: hex::encode(hash),
            cid: Cid::of_raw(&[i as u8]),
            bytes: 1,
        })
        .expect("queued");
    }
    let pending = t.path().join(format!("queue/round-{id}/pending"));
    // p2's entry cut in half (a partial write), and a stray file with another participant's
    // entry under a foreign name.
    let p2 = pending.join(format!("{}.json", keys[1].address()));
    let bytes = std::fs::read(&p2).expect("reads");
    std::fs::write(&p2, &bytes[..bytes.len() / 2]).expect("truncates");
    let p3 = pending.join(format!("{}.json", keys[2].address()));
    let stray = pending.join("wasm1stray.json");
    std::fs::copy(&p3, &stray).expect("copies");

    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(move || writer.clone())
        .finish();
    let left = tracing::subscriber::with_default(subscriber, || q.pending(id)).expect("reads");
    let mut left: Vec<String> = left.into_iter().map(|e| e.commitment.participant).collect();
    let mut want = vec![keys[0].address().to_string(), keys[2].address().to_string()];
    left.sort();
    want.sort();
    assert_eq!(left, want);
    // Both files are set aside, each named in an error line.
    let quarantined = q.quarantined(id);
    assert_eq!(quarantined.len(), 2, "{quarantined:?}");
    assert!(!p2.exists() && !stray.exists());
    let text = String::from_utf8(logs.0.lock().expect("not poisoned").clone()).expect("utf-8");
    for f in [&p2, &stray] {
        let line = text
            .lines()
            .find(|l| l.contains(&f.display().to_string()))
            .unwrap_or_else(|| panic!("no log line names {}: {text}", f.display()));
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        assert_eq!(v["level"], "ERROR", "{line}");
    }
    // The round goes on: the two good entries are posted.
    let (q2, dd) = (q.clone(), d.clone());
    let drained = h
        .call(move |c| q2.drain(c, &dd, &poster, 50))
        .expect("thread")
        .expect("a corrupt entry does not stop the drain");
    assert_eq!((drained.posted, drained.batches), (2, 1));
    assert_eq!(committed(&h, &d, id), 2);
}

#[test]
fn batches_respect_the_batch_size() {
    let (h, d, id, keys, poster) = chain_with_round(&["a", "b", "c", "d", "e"]);
    let t = tempfile::tempdir().expect("tempdir");
    let q = Queue::new(&t.path().join("queue"));
    for (i, k) in keys.iter().enumerate() {
        let hash = bundle_for(&t.path().join(format!("b{i}")), k, id, i as f32 + 1.0);
        q.put(&Entry {
            round_id: id,
            commitment: sign(&h, &d, k, id, hash),
            update_hash: hex::encode(hash),
            cid: Cid::of_raw(&[i as u8]),
            bytes: 1,
        })
        .expect("queued");
    }
    let (q2, dd) = (q.clone(), d.clone());
    let drained = h
        .call(move |c| q2.drain(c, &dd, &poster, 2))
        .expect("thread")
        .expect("drains");
    assert_eq!((drained.posted, drained.batches), (5, 3));
    assert_eq!(committed(&h, &d, id), 5);
}

/// A relayer on `data` (no kubo), posting every `batch_interval` (never by itself if `None`).
pub(crate) fn start(
    h: &ChainHandle,
    d: &Deployment,
    poster: &ParticipantKey,
    data: &Path,
    batch_interval: Option<Duration>,
) -> Relayer {
    start_staging(h, d, poster, data, batch_interval, None, Default::default())
}

/// As [`start`], pinning accepted bundles in the kubo node at `kubo` and staging uploads
/// nobody committed to within `staging`.
pub(crate) fn start_staging(
    h: &ChainHandle,
    d: &Deployment,
    poster: &ParticipantKey,
    data: &Path,
    batch_interval: Option<Duration>,
    kubo: Option<String>,
    staging: crate::store::staging::StagingLimits,
) -> Relayer {
    Relayer::start(
        h.clone(),
        RelayOptions {
            listen: "127.0.0.1:0".into(),
            data_dir: data.to_path_buf(),
            deployment: d.clone(),
            poster: poster.clone(),
            batch_size: 50,
            batch_interval,
            kubo,
            staging,
        },
    )
    .expect("the relayer starts")
}

/// A utility table no revealed report commits to is refused, with the reason: anyone can reach
/// the relayer, so only tables the chain vouches for take its disk.
#[test]
fn a_table_no_revealed_report_commits_to_is_refused() {
    let (h, d, id, _, poster) = chain_with_round(&["alice"]);
    let t = tempfile::tempdir().expect("tempdir");
    let relayer = start(&h, &d, &poster, &t.path().join("relayer"), None);
    let store = HttpStore::new(&relayer.url()).expect("store client");
    let table = crate::store::testing::small_table(3);
    let err = crate::store::publish_table(&store, &table, id)
        .expect_err("no report commits to it")
        .to_string();
    assert!(
        err.contains("no report revealed in round") && err.contains(&hex::encode(table.hash())),
        "{err}"
    );
    let hash = hex::encode(table.hash());
    assert!(matches!(
        crate::store::fetch_table(&store, &hash),
        Err(crate::store::StoreError::TableNotFound { .. })
    ));
    relayer.stop();
}

/// Anyone may upload, but uploads no commitment vouches for are bounded: an attacker who floods
/// the relayer with junk only pushes out other unvouched uploads, never a bundle an accepted
/// commitment pinned, and cannot lock honest participants out (their uploads still go in, and
/// survive a restart); an archive larger than the whole limit is refused with 507 and why.
#[test]
fn uploads_nobody_commits_to_cannot_fill_the_relayers_disk() {
    let (h, d, id, keys, poster) = chain_with_round(&["alice", "bob", "mallory"]);
    let t = tempfile::tempdir().expect("tempdir");
    let bundle = |dir: &str, k: usize, seed: f32| {
        let hash = bundle_for(&t.path().join(dir), &keys[k], id, seed);
        (hash, pack(&t.path().join(dir)).expect("packs"))
    };
    let (a_hash, a) = bundle("a", 0, 1.0);
    let (b_hash, b) = bundle("b", 1, 2.0);
    let junk: Vec<Vec<u8>> = (0..4)
        .map(|i| bundle(&format!("j{i}"), 2, 3.0 + i as f32).1)
        .collect();
    // Room for one bundle and a half.
    let limits = crate::store::staging::StagingLimits {
        bytes: (a.len() + a.len() / 2) as u64,
        ttl: Duration::from_secs(3600),
    };
    let data = t.path().join("relayer");
    let relayer = start_staging(&h, &d, &poster, &data, None, None, limits);
    let store = HttpStore::new(&relayer.url()).expect("store client");
    let api = RelayClient::new(&relayer.url()).expect("client");
    let commit = |api: &RelayClient, r: &crate::store::BundleRef, k: usize, hash: [u8; 32]| {
        let req = CommitRequest {
            round_id: id,
            update_hash: r.update_hash.clone(),
            cid: None,
            commitment: sign(&h, &d, &keys[k], id, hash),
        };
        api.commit(&req).expect("accepted").status
    };
    // alice uploads and commits: pinned.
    let a_ref = store.upload(&a).expect("alice's upload");
    assert_eq!(commit(&api, &a_ref, 0, a_hash), "queued");
    // mallory floods the relayer with uploads she never commits to.
    for j in &junk {
        store
            .upload(j)
            .expect("junk is taken in, evicting older junk");
    }
    let staged = relayer
        .state
        .staging
        .used(&relayer.state.store)
        .expect("used");
    assert!(
        staged <= limits.bytes,
        "{staged} staged over a limit of {}",
        limits.bytes
    );
    assert!(
        relayer.state.store.contains(&a_ref.cid),
        "alice's pinned bundle is kept"
    );
    // A restart forgets nothing, and bob's upload still goes in and is committed.
    relayer.stop();
    let relayer = start_staging(&h, &d, &poster, &data, None, None, limits);
    let store = HttpStore::new(&relayer.url()).expect("store client");
    let api = RelayClient::new(&relayer.url()).expect("client");
    assert!(
        relayer
            .state
            .staging
            .used(&relayer.state.store)
            .expect("used")
            > 0
    );
    let b_ref = store.upload(&b).expect("bob is not locked out");
    assert_eq!(commit(&api, &b_ref, 1, b_hash), "queued");
    assert!(relayer.state.store.contains(&a_ref.cid) && relayer.state.store.contains(&b_ref.cid));
    // One archive larger than the whole limit is refused, saying why.
    let mut huge = b.clone();
    huge.extend(std::iter::repeat_n(0u8, limits.bytes as usize));
    let err = store.upload(&huge).expect_err("too large").to_string();
    assert!(err.contains(&limits.bytes.to_string()), "{err}");
    relayer.stop();
}

#[test]
fn an_upload_committed_without_the_relayer_is_listed_for_evaluators() {
    let (h, d, id, keys, poster) = chain_with_round(&["alice", "bob"]);
    let t = tempfile::tempdir().expect("tempdir");
    let relayer = start(&h, &d, &poster, &t.path().join("relayer"), None);
    let api = RelayClient::new(&relayer.url()).expect("client");
    let store = HttpStore::new(&relayer.url()).expect("store client");
    // alice uploads, then finds the relayer down and posts her commitment herself.
    let a_hash = bundle_for(&t.path().join("a"), &keys[0], id, 1.0);
    let a_ref = store
        .upload(&pack(&t.path().join("a")).expect("packs"))
        .expect("uploads");
    let a_commit = sign(&h, &d, &keys[0], id, a_hash);
    let (dd, k) = (d.clone(), keys[0].clone());
    h.call(move |c| round::commit(c, &dd, &k, id, vec![a_commit], 1))
        .expect("thread")
        .expect("alice posts herself");
    // bob uploads two bundles and commits to the second one himself: only that one is his.
    let b1 = bundle_for(&t.path().join("b1"), &keys[1], id, 2.0);
    let b2 = bundle_for(&t.path().join("b2"), &keys[1], id, 3.0);
    for dir in ["b1", "b2"] {
        store
            .upload(&pack(&t.path().join(dir)).expect("packs"))
            .expect("uploads");
    }
    let b_commit = sign(&h, &d, &keys[1], id, b2);
    let (dd, k) = (d.clone(), keys[1].clone());
    h.call(move |c| round::commit(c, &dd, &k, id, vec![b_commit], 1))
        .expect("thread")
        .expect("bob posts himself");
    let view = api.round(id).expect("the round listing");
    let listed: Vec<(String, String, bool)> = view
        .bundles
        .iter()
        .map(|b| (b.participant.clone(), b.update_hash.clone(), b.on_chain))
        .collect();
    let mut want = vec![
        (keys[0].address().to_string(), hex::encode(a_hash), true),
        (keys[1].address().to_string(), hex::encode(b2), true),
    ];
    want.sort();
    assert_eq!(
        listed, want,
        "each committed upload, and not bob's other bundle"
    );
    assert!(!listed.iter().any(|(_, h, _)| *h == hex::encode(b1)));
    let alice = view
        .bundles
        .iter()
        .find(|b| b.participant == keys[0].address())
        .expect("alice is listed");
    assert_eq!(alice.cid, a_ref.cid, "where her bundle is");
    relayer.stop();
}

/// The Sybil that draws its second identity's LoRA A from a seed of its own (so that its two
/// updates of one text look unrelated to near-duplicate grouping) is refused at the relayer:
/// the A is not the round's, and the error says so.
#[test]
fn a_sybil_with_its_own_lora_a_is_refused_at_the_relayer() {
    let (h, d, id, keys, poster) = chain_with_round(&["alice", "mallory"]);
    let t = tempfile::tempdir().expect("tempdir");
    let relayer = start(&h, &d, &poster, &t.path().join("relayer"), None);
    let api = RelayClient::new(&relayer.url()).expect("client");
    let store = HttpStore::new(&relayer.url()).expect("store client");
    // The honest identity, with the round's shared A: accepted.
    let a_hash = bundle_for(&t.path().join("a"), &keys[0], id, 1.0);
    let a_ref = store
        .upload(&pack(&t.path().join("a")).expect("packs"))
        .expect("uploads");
    let honest = CommitRequest {
        round_id: id,
        update_hash: a_ref.update_hash,
        cid: None,
        commitment: sign(&h, &d, &keys[0], id, a_hash),
    };
    assert_eq!(api.commit(&honest).expect("accepted").status, "queued");
    // The second identity, with its own A.
    let spec = crate::ops::spec_for("services");
    let own_seed = crate::bundle::round_lora_seed(id, &spec) ^ 0xa11ce;
    let dir = t.path().join("m");
    let m = write::Module::with_round_a(
        "base_model.model.model.layers.0.self_attn.q_proj",
        own_seed,
        2,
        3,
        vec![0.02; 6],
    );
    let m_hash = write::bundle(
        &dir,
        &[m],
        2,
        2.0,
        &["q_proj"],
        id,
        &spec.base_model_hash.to_hex(),
        keys[1].address(),
        10,
    )
    .expect("writes");
    store.upload(&pack(&dir).expect("packs")).expect("uploads");
    let sybil = CommitRequest {
        round_id: id,
        update_hash: hex::encode(m_hash),
        cid: None,
        commitment: sign(&h, &d, &keys[1], id, m_hash),
    };
    let e = api.commit(&sybil).expect_err("refused").to_string();
    assert!(e.contains("shared LoRA A"), "{e}");
    assert!(e.contains("q_proj.lora_A.weight"), "{e}");
    assert_eq!(
        api.health().expect("health")["pending"],
        1,
        "only alice queued"
    );
    relayer.stop();
}

#[test]
fn the_api_checks_queues_serves_and_survives_a_restart() {
    let (h, d, id, keys, poster) = chain_with_round(&["alice", "bob", "carol"]);
    let t = tempfile::tempdir().expect("tempdir");
    let data = t.path().join("relayer");
    // No batcher: this relayer accepts but is "killed" before it posts.
    let relayer = start(&h, &d, &poster, &data, None);
    let api = RelayClient::new(&relayer.url()).expect("client");
    let store = HttpStore::new(&relayer.url()).expect("store client");
    assert_eq!(api.health().expect("health")["pending"], 0);

    // alice: upload, then commit; accepted and queued.
    let a_hash = bundle_for(&t.path().join("a"), &keys[0], id, 1.0);
    let a_ref = store
        .upload(&pack(&t.path().join("a")).expect("packs"))
        .expect("uploads");
    assert_eq!(a_ref.update_hash, hex::encode(a_hash));
    let req = CommitRequest {
        round_id: id,
        update_hash: a_ref.update_hash.clone(),
        cid: None,
        commitment: sign(&h, &d, &keys[0], id, a_hash),
    };
    let ans = api.commit(&req).expect("accepted");
    assert_eq!(ans.status, "queued");
    assert_eq!(ans.cid, a_ref.cid);

    // bob signs someone else's update: refused with the reason, nothing queued.
    let b_hash = bundle_for(&t.path().join("b"), &keys[1], id, 2.0);
    store
        .upload(&pack(&t.path().join("b")).expect("packs"))
        .expect("uploads");
    let forged = CommitRequest {
        round_id: id,
        update_hash: hex::encode(b_hash),
        cid: None,
        commitment: sign(&h, &d, &keys[2], id, b_hash),
    };
    let e = api.commit(&forged).expect_err("refused");
    assert!(e.to_string().contains("participant"), "{e}");
    // carol commits before uploading: refused, says what to do.
    let c_hash = bundle_for(&t.path().join("c"), &keys[2], id, 3.0);
    let early = CommitRequest {
        round_id: id,
        update_hash: hex::encode(c_hash),
        cid: None,
        commitment: sign(&h, &d, &keys[2], id, c_hash),
    };
    let e = api.commit(&early.clone()).expect_err("no bundle yet");
    assert!(e.to_string().contains("upload it"), "{e}");
    // bob's own commitment is fine.
    let bob = CommitRequest {
        commitment: sign(&h, &d, &keys[1], id, b_hash),
        ..forged
    };
    assert_eq!(api.commit(&bob).expect("accepted").status, "queued");

    // The relayer is killed before it posts anything; a new one on the same directory
    // finds both commitments at start and posts them once.
    relayer.stop();
    assert_eq!(committed(&h, &d, id), 0);
    assert_eq!(
        Queue::new(&data.join("queue"))
            .pending(id)
            .expect("reads")
            .len(),
        2,
        "nothing lost"
    );
    // Long interval: it posts at start (and when woken by a new commitment).
    let relayer = start(&h, &d, &poster, &data, Some(Duration::from_secs(3600)));
    let api = RelayClient::new(&relayer.url()).expect("client");
    wait_until(|| committed(&h, &d, id) == 2);
    let view = api.round(id).expect("round view");
    assert_eq!(view.pending, 0);
    assert_eq!(
        relayer.drain_now(&poster, 50).expect("drains").posted,
        0,
        "nothing twice"
    );
    // Handing alice's commitment over again is answered from the chain, not posted.
    assert_eq!(api.commit(&req).expect("answered").status, "on_chain");
    assert_eq!(relayer.drain_now(&poster, 50).expect("drains").posted, 0);

    // An evaluator fetches both bundles by update hash through the API and re-checks them.
    let view = api.round(id).expect("round view");
    assert_eq!(view.bundles.len(), 2);
    assert!(view.bundles.iter().all(|b| b.on_chain));
    let store = HttpStore::new(&relayer.url()).expect("store client");
    for b in &view.bundles {
        let dest = t.path().join("eval").join(&b.participant);
        let f = fetch_bundle(
            &store,
            &Wanted {
                update_hash: &b.update_hash,
                cid: None,
            },
            &dest,
        )
        .expect("fetched and checked");
        assert_eq!(f.cid, b.cid);
    }
    // The relayer's store cannot pass off bob's bundle as alice's.
    let e = fetch_bundle(
        &store,
        &Wanted {
            update_hash: &hex::encode(a_hash),
            cid: Some(
                &store
                    .lookup(&hex::encode(b_hash))
                    .expect("lookup")
                    .expect("known"),
            ),
        },
        &t.path().join("x"),
    )
    .expect_err("refused");
    assert!(
        matches!(e, crate::store::StoreError::WrongBundle { .. }),
        "{e}"
    );
    // After the commit deadline the relayer refuses commitments rather than queue them.
    store
        .upload(&pack(&t.path().join("c")).expect("packs"))
        .expect("uploads");
    let dd = d.clone();
    h.call(move |c| {
        let r = round::status(c, &dd, id)?;
        let now = c.height()?;
        c.wait_blocks(r.deadlines.commit_until.saturating_sub(now) + 1)
    })
    .expect("thread")
    .expect("moves");
    let e = api.commit(&early).expect_err("too late");
    assert!(e.to_string().contains("no longer takes commitments"), "{e}");
}

#[test]
fn the_batcher_posts_on_its_own() {
    let (h, d, id, keys, poster) = chain_with_round(&["solo"]);
    let t = tempfile::tempdir().expect("tempdir");
    let relayer = start(
        &h,
        &d,
        &poster,
        &t.path().join("relayer"),
        Some(Duration::from_millis(100)),
    );
    let hash = bundle_for(&t.path().join("s"), &keys[0], id, 1.0);
    HttpStore::new(&relayer.url())
        .expect("client")
        .upload(&pack(&t.path().join("s")).expect("packs"))
        .expect("uploads");
    RelayClient::new(&relayer.url())
        .expect("client")
        .commit(&CommitRequest {
            round_id: id,
            update_hash: hex::encode(hash),
            cid: None,
            commitment: sign(&h, &d, &keys[0], id, hash),
        })
        .expect("queued");
    wait_until(|| committed(&h, &d, id) == 1);
}

/// Polls `cond` (no timing is asserted: only that it happens within a generous bound).
fn wait_until(cond: impl Fn() -> bool) {
    for _ in 0..600 {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the condition did not come true within 30 s");
}

/// A node that never answers.
struct DeadNode;

impl Chain for DeadNode {
    fn chain_id(&self) -> Result<String, ChainError> {
        Err(dead())
    }
    fn address_prefix(&self) -> &str {
        "cosmwasm"
    }
    fn height(&self) -> Result<u64, ChainError> {
        Err(dead())
    }
    fn store_code(&mut self, _: &ParticipantKey, _: ContractKind) -> Result<u64, ChainError> {
        Err(dead())
    }
    fn instantiate(
        &mut self,
        _: &ParticipantKey,
        _: u64,
        _: &serde_json::Value,
        _: &str,
        _: Option<&str>,
    ) -> Result<String, ChainError> {
        Err(dead())
    }
    fn execute(
        &mut self,
        _: &ParticipantKey,
        _: &str,
        _: &serde_json::Value,
        _: &[cosmwasm_std::Coin],
    ) -> Result<TxOutcome, ChainError> {
        Err(dead())
    }
    fn migrate(
        &mut self,
        _: &ParticipantKey,
        _: &str,
        _: u64,
        _: &serde_json::Value,
    ) -> Result<TxOutcome, ChainError> {
        Err(dead())
    }
    fn update_admin(
        &mut self,
        _: &ParticipantKey,
        _: &str,
        _: &str,
    ) -> Result<TxOutcome, ChainError> {
        Err(dead())
    }
    fn query_raw(&self, _: &str, _: &serde_json::Value) -> Result<serde_json::Value, ChainError> {
        Err(dead())
    }
    fn balance(&self, _: &str, _: &str) -> Result<u128, ChainError> {
        Err(dead())
    }
    fn wait_blocks(&mut self, _: u64) -> Result<(), ChainError> {
        Err(dead())
    }
}

fn dead() -> ChainError {
    ChainError::Unreachable {
        url: "http://10.9.9.9:26657".into(),
        reason: "connection refused".into(),
    }
}

#[test]
fn failover_moves_to_a_live_node_and_names_every_dead_one() {
    let mut e = EmbeddedChain::deploy(DeployOptions::with_evaluators(
        (1..=3)
            .map(|i| {
                cw_multi_test::App::default()
                    .api()
                    .addr_make(&format!("ev{i}"))
                    .to_string()
            })
            .collect(),
        3,
    ))
    .expect("deploys");
    let id = e.open_round("services").expect("opens");
    let d = e.d.clone();
    let mut f = Failover::new(vec![
        ("http://10.9.9.9:26657".into(), Box::new(DeadNode)),
        ("embedded".into(), Box::new(e.app)),
    ])
    .expect("two nodes");
    let r: rm::RoundResponse = f
        .query(
            d.round_manager.as_str(),
            &rm::QueryMsg::Round { round_id: id },
        )
        .expect("answered by the live node");
    assert_eq!(r.id, id);
    assert_eq!(f.current(), "embedded");
    f.wait_blocks(1).expect("moves");
    let mut all_dead = Failover::new(vec![
        ("a".into(), Box::new(DeadNode)),
        ("b".into(), Box::new(DeadNode)),
    ])
    .expect("two nodes");
    let err = all_dead.height().expect_err("nobody answers");
    assert!(matches!(err, ChainError::Unreachable { .. }), "{err}");
    assert!(all_dead.wait_blocks(1).is_err());
}

#[test]
fn bundles_published_to_ipfs_are_fetched_checked_and_pinned_by_the_relayer() {
    let Some(bin) = crate::store::kubo::tests::kubo_binary() else {
        eprintln!("kubo not built (make kubo); skipping the IPFS relay test");
        return;
    };
    let node = crate::store::kubo::tests::start_node(&bin);
    let (h, d, id, keys, poster) = chain_with_round(&["ipfs-alice"]);
    let t = tempfile::tempdir().expect("tempdir");
    let relayer = start_staging(
        &h,
        &d,
        &poster,
        &t.path().join("relayer"),
        None,
        Some(node.api.clone()),
        Default::default(),
    );
    let kubo = crate::store::kubo::KuboStore::new(&node.api).expect("kubo client");
    let hash = bundle_for(&t.path().join("a"), &keys[0], id, 1.0);
    let published =
        crate::store::publish_bundle(&kubo, &t.path().join("a")).expect("published to IPFS");
    // The commitment names the CID only; the relayer reads the bundle from IPFS and checks it.
    let ans = RelayClient::new(&relayer.url())
        .expect("client")
        .commit(&CommitRequest {
            round_id: id,
            update_hash: hex::encode(hash),
            cid: Some(published.cid.clone()),
            commitment: sign(&h, &d, &keys[0], id, hash),
        })
        .expect("accepted from IPFS");
    assert_eq!(ans.status, "queued");
    relayer.drain_now(&poster, 50).expect("posted");
    assert_eq!(committed(&h, &d, id), 1);
    // An evaluator with its own view of IPFS gets it by the CID the relayer lists.
    let view = RelayClient::new(&relayer.url())
        .expect("client")
        .round(id)
        .expect("view");
    let b = &view.bundles[0];
    fetch_bundle(
        &kubo,
        &Wanted {
            update_hash: &b.update_hash,
            cid: Some(&published.cid),
        },
        &t.path().join("e"),
    )
    .expect("fetched from IPFS and checked");
    // A CID whose bundle is not the committed one is refused, even from the relayer's listing.
    let other = {
        bundle_for(&t.path().join("o"), &keys[0], id, 9.0);
        crate::store::publish_bundle(&kubo, &t.path().join("o")).expect("published")
    };
    let e = fetch_bundle(
        &kubo,
        &Wanted {
            update_hash: &b.update_hash,
            cid: Some(&other.cid),
        },
        &t.path().join("x"),
    )
    .expect_err("refused");
    assert!(
        matches!(e, crate::store::StoreError::WrongBundle { .. }),
        "{e}"
    );
}

#[test]
fn oversized_json_is_refused_and_concurrent_uploads_of_one_bundle_agree() {
    let (h, d, id, keys, poster) = chain_with_round(&["alice"]);
    let t = tempfile::tempdir().expect("tempdir");
    let relayer = start(&h, &d, &poster, &t.path().join("relayer"), None);

    // A commitment body far beyond any real one is refused before it is parsed.
    let huge = format!("{{\"round_id\":{id},\"pad\":\"{}\"}}", "x".repeat(2 << 20));
    let resp = reqwest::blocking::Client::new()
        .post(format!("{}/v1/commitments", relayer.url()))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .expect("the relayer answers");
    assert_eq!(resp.status(), reqwest::StatusCode::PAYLOAD_TOO_LARGE);

    // The same bundle uploaded from several threads at once: every upload succeeds with the same
    // CID, and the stored blob is whole (fetching re-checks it).
    let hash = bundle_for(&t.path().join("a"), &keys[0], id, 1.0);
    let archive = pack(&t.path().join("a")).expect("packs");
    let refs: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    HttpStore::new(&relayer.url())
                        .expect("store client")
                        .upload(&archive)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|j| j.join().expect("thread"))
            .collect()
    });
    let first = refs[0].as_ref().expect("uploaded").cid.clone();
    for r in &refs {
        assert_eq!(r.as_ref().expect("every upload succeeds").cid, first);
    }
    let store = HttpStore::new(&relayer.url()).expect("store client");
    fetch_bundle(
        &store,
        &Wanted {
            update_hash: &hex::encode(hash),
            cid: None,
        },
        &t.path().join("out"),
    )
    .expect("the stored bundle is whole");
}
