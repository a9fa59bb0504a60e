//! The participant's step function on the embedded chain: join, train, publish, commit through
//! the relayer or by itself, and restarts mid-round that neither join nor commit twice.

use super::*;
use crate::embedded::STAKE_DENOM;
use crate::relay::tests::start;
use crate::relay::tests::{bundle_for, chain_with_round_funded};
use crate::relay::worker::{ChainHandle, SharedChain};
use crate::store::dir::DirStore;
use crate::store::http::HttpStore;

/// Writes a small valid bundle and counts its calls.
struct CountingTrainer {
    key: ParticipantKey,
    calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Trainer for CountingTrainer {
    fn train(&mut self, job: &TrainJob) -> Result<(), String> {
        let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        bundle_for(&job.output, &self.key, job.round_id, 1.0 + n as f32);
        Ok(())
    }
}

fn participant(
    key: &ParticipantKey,
    d: &Deployment,
    data: &Path,
    store: Box<dyn BundleStore>,
    relayer: Option<RelayClient>,
    calls: &std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> Participant<CountingTrainer> {
    Participant::new(
        key.clone(),
        d.clone(),
        ParticipantOptions {
            data_dir: data.to_path_buf(),
            stake: 500,
            stake_kind: StakeKind::Native(STAKE_DENOM.into()),
            self_post_margin_blocks: 2,
        },
        store,
        relayer,
        CountingTrainer {
            key: key.clone(),
            calls: calls.clone(),
        },
    )
    .expect("participant state")
}

/// Runs one step, the participant talking to the shared chain like any other party.
fn step(
    h: &ChainHandle,
    mut p: Participant<CountingTrainer>,
) -> (Participant<CountingTrainer>, Action) {
    let mut chain = SharedChain::new(h.clone()).expect("shared chain");
    let a = p.step(&mut chain).expect("a step succeeds");
    (p, a)
}

fn round_counts(h: &ChainHandle, d: &Deployment, id: u64) -> (u32, u32) {
    let d = d.clone();
    h.call(move |c| round::status(c, &d, id).map(|r| (r.joined, r.committed)))
        .expect("thread")
        .expect("status")
}

#[test]
fn a_participant_joins_trains_publishes_and_commits_once_across_restarts() {
    let (h, d, id, _, poster) = chain_with_round_funded(&[], &["pat"]);
    let key = crate::keys::ParticipantKey::from_seed(b"pat", crate::embedded::ADDRESS_PREFIX)
        .expect("key");
    let t = tempfile::tempdir().expect("tempdir");
    let relayer = start(&h, &d, &poster, &t.path().join("relayer"), None);
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let data = t.path().join("pat");
    let mk = || {
        participant(
            &key,
            &d,
            &data,
            Box::new(HttpStore::new(&relayer.url()).expect("store")),
            Some(RelayClient::new(&relayer.url()).expect("client")),
            &calls,
        )
    };
    let (p, a) = step(&h, mk());
    assert_eq!(a, Action::Joined { round: id });
    drop(p);
    // Restart after joining: the chain says it joined; it trains instead of joining again.
    let (p, a) = step(&h, mk());
    assert!(
        matches!(a, Action::Trained { round, .. } if round == id),
        "{a:?}"
    );
    drop(p);
    // Restart after training: the state says what was trained; no second training.
    let (p, a) = step(&h, mk());
    assert!(matches!(a, Action::Published { .. }), "{a:?}");
    let (p, a) = step(&h, p);
    assert_eq!(a, Action::HandedToRelayer { round: id });
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "trained once"
    );
    // Restart after handing over: it waits for the relayer, posts nothing.
    drop(p);
    let (p, a) = step(&h, mk());
    assert_eq!(a, Action::Idle);
    relayer.drain_now(&poster, 50).expect("relayer posts");
    let (_, a) = step(&h, p);
    assert_eq!(a, Action::Idle);
    assert_eq!(
        round_counts(&h, &d, id),
        (1, 1),
        "joined once, committed once"
    );
}

#[test]
fn a_participant_posts_itself_when_the_relayer_is_down_or_late() {
    let (h, d, id, _, _) = chain_with_round_funded(&[], &["quinn", "rae"]);
    let t = tempfile::tempdir().expect("tempdir");
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // quinn: no relayer answers at this address.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        let a = l.local_addr().expect("addr");
        drop(l);
        format!("http://{a}")
    };
    let q = crate::keys::ParticipantKey::from_seed(b"quinn", crate::embedded::ADDRESS_PREFIX)
        .expect("key");
    // The store is the one the relayer started below serves (as a kubo node both reach).
    let store = || {
        Box::new(DirStore::open(&t.path().join("relay-q/store")).expect("store"))
            as Box<dyn BundleStore>
    };
    let mut p = participant(
        &q,
        &d,
        &t.path().join("q"),
        store(),
        Some(RelayClient::new(&dead).expect("client")),
        &calls,
    );
    let mut last = Action::Idle;
    for _ in 0..5 {
        let (np, a) = step(&h, p);
        p = np;
        if a == (Action::PostedItself { round: id }) {
            last = a;
            break;
        }
    }
    assert_eq!(last, Action::PostedItself { round: id });
    assert_eq!(round_counts(&h, &d, id).1, 1);
    let (np, a) = step(&h, p);
    assert_eq!(a, Action::Idle, "the relayer is still down");
    p = np;
    // The relayer is back: quinn tells it where the bundle is, once.
    let back = start(&h, &d, &q, &t.path().join("relay-q"), None);
    p.relayer = Some(RelayClient::new(&back.url()).expect("client"));
    let (np, a) = step(&h, p);
    assert_eq!(a, Action::ToldRelayer { round: id });
    let (np, a) = step(&h, np);
    assert_eq!(a, Action::Idle, "told once");
    drop(np);
    let view = RelayClient::new(&back.url())
        .expect("client")
        .round(id)
        .expect("round view");
    assert!(
        view.bundles
            .iter()
            .any(|b| b.participant == q.address() && b.on_chain),
        "listed for evaluators: {:?}",
        view.bundles
    );
    assert_eq!(round_counts(&h, &d, id).1, 1, "nothing posted twice");

    // rae: handed to a relayer that never posts; near the commit deadline she posts herself.
    let r = crate::keys::ParticipantKey::from_seed(b"rae", crate::embedded::ADDRESS_PREFIX)
        .expect("key");
    let lazy = start(&h, &d, &r, &t.path().join("lazy"), None);
    let mut p = participant(
        &r,
        &d,
        &t.path().join("r"),
        Box::new(HttpStore::new(&lazy.url()).expect("store")),
        Some(RelayClient::new(&lazy.url()).expect("client")),
        &calls,
    );
    for _ in 0..4 {
        let (np, _) = step(&h, p);
        p = np;
    }
    assert!(p.state().rounds[&id].handed_to_relayer);
    let (p, a) = step(&h, p);
    assert_eq!(a, Action::Idle, "waits for the relayer while there is time");
    let dd = d.clone();
    let until = h
        .call(move |c| {
            let r = round::status(c, &dd, id)?;
            let now = c.height()?;
            c.wait_blocks(r.deadlines.commit_until - now - 1)
        })
        .expect("thread");
    until.expect("moves");
    let (_, a) = step(&h, p);
    assert_eq!(a, Action::PostedItself { round: id });
    assert_eq!(round_counts(&h, &d, id), (2, 2));
}
