//! `aggregate_round` on the embedded chain against the demo's operator, and a lying store.

use std::collections::HashMap;

use fairshare_shapley::groups;

use super::*;
use crate::evaluator::tests::{advance_past, evaluators_of, tiny_round, FlatValuer, TinyRound};
use crate::evaluator::Action;
use crate::store::http::HttpStore;
use crate::store::Cid;

/// A store that answers every read with one fixed archive (another bundle's).
struct LyingStore {
    inner: HttpStore,
    answer: Vec<u8>,
}

impl BundleStore for LyingStore {
    fn describe(&self) -> String {
        "a lying store".into()
    }
    fn put(&self, archive: &[u8]) -> Result<Cid, StoreError> {
        self.inner.put(archive)
    }
    fn get(&self, _cid: &Cid) -> Result<Vec<u8>, StoreError> {
        Ok(self.answer.clone())
    }
    fn index(&self, update_hash: &str, cid: &Cid) -> Result<(), StoreError> {
        self.inner.index(update_hash, cid)
    }
    fn lookup(&self, update_hash: &str) -> Result<Option<Cid>, StoreError> {
        self.inner.lookup(update_hash)
    }
    fn pin(&self, cid: &Cid) -> Result<(), StoreError> {
        self.inner.pin(cid)
    }
    fn put_table(&self, json: &[u8], round_id: u64) -> Result<String, StoreError> {
        self.inner.put_table(json, round_id)
    }
    fn get_table(&self, table_hash: &str) -> Result<Vec<u8>, StoreError> {
        self.inner.get_table(table_hash)
    }
}

#[test]
fn the_command_merges_a_settled_round_exactly_as_the_demo_operator_and_refuses_a_lying_store() {
    let t = tempfile::tempdir().expect("tempdir");
    // p1 and p2 publish and commit through the relayer; p3 commits by itself and withholds its
    // bundle (a no-show: not a contributor, not merged).
    let r = tiny_round(t.path(), &["p1", "p2", "p3"], [7u8; 32], 40);
    let mut evaluators = evaluators_of(t.path(), &r, |_| FlatValuer {
        calls: 0,
        seen_no_shows: vec![],
    });
    let TinyRound {
        h,
        d,
        id,
        keys,
        challenger: settler,
        relayer,
        mut chain,
        model,
        base_hash,
        archives,
    } = r;
    let store = HttpStore::new(&relayer.url()).expect("store");
    let api = RelayClient::new(&relayer.url()).expect("client");
    for e in &mut evaluators {
        assert_eq!(
            e.step(&mut chain).expect("bonds"),
            Action::Bonded { round: id }
        );
    }
    advance_past(&h, &d, id, |dl| dl.report_until - 3);
    for e in &mut evaluators {
        assert!(matches!(
            e.step(&mut chain).expect("commits"),
            Action::Committed { valued: 2, .. }
        ));
    }
    advance_past(&h, &d, id, |dl| dl.report_until);
    for e in &mut evaluators {
        assert_eq!(
            e.step(&mut chain).expect("reveals"),
            Action::Revealed { round: id }
        );
    }
    let req = |work: &str, publish: bool| AggregateRequest {
        round_id: id,
        base: model.config(),
        base_model_hash: &base_hash,
        duplicate_threshold: crate::valuation::DUPLICATE_THRESHOLD,
        work_dir: t.path().join(work),
        publish,
    };
    // Not before settlement.
    let early = aggregate_round(&chain, &d, &api, &store, &req("early", true))
        .expect_err("not settled yet");
    assert!(matches!(early, OperatorError::NotSettled { .. }), "{early}");
    advance_past(&h, &d, id, |dl| dl.dispute_until - 1);
    round::settle(&mut chain, &d, &settler, id).expect("settles");

    let done =
        aggregate_round(&chain, &d, &api, &store, &req("command", true)).expect("aggregates");
    let mut expected_merged: Vec<String> =
        keys[..2].iter().map(|k| k.address().to_string()).collect();
    expected_merged.sort();
    assert_eq!(done.merged, expected_merged, "the no-show is not merged");
    assert!(done.new_adapter);
    assert_eq!(done.skipped.len(), 1, "the withheld bundle is left out");
    assert_eq!(done.skipped[0].0, keys[2].address());
    let published = done.published.as_ref().expect("published");
    assert_eq!(published.update_hash, done.global_adapter_hash);
    // Anyone can fetch it from the store by the hash the next round names.
    fetch_bundle(
        &store,
        &Wanted {
            update_hash: &done.global_adapter_hash,
            cid: None,
        },
        &t.path().join("fetched-global"),
    )
    .expect("the global adapter is in the store under its hash");

    // The demo's operator, given the same round (its bundles from the store, the evaluators'
    // grouping as `ModelValuer` makes it), publishes the same global adapter.
    let mut demo = crate::demo::roles::operator::Operator::new(
        settler.clone(),
        &relayer.url(),
        &model,
        &base_hash,
    )
    .expect("operator");
    let by_address = demo
        .fetch_bundles(id, &HashMap::new(), &t.path().join("demo-bundles"))
        .expect("fetched");
    let mut present: Vec<&String> = by_address.keys().collect();
    present.sort();
    let updates: Vec<&Bundle> = present.iter().map(|a| &by_address[*a]).collect();
    let adapters: Vec<&LoraAdapter> = updates.iter().map(|b| &b.adapter).collect();
    let grouping = groups::near_duplicates(
        &similarity_matrix(&adapters).expect("similarity"),
        crate::valuation::DUPLICATE_THRESHOLD,
    )
    .expect("groups");
    let merged = demo
        .merge(
            id,
            &updates,
            &[true, true],
            &grouping,
            &t.path().join("demo-global"),
        )
        .expect("merges");
    assert_eq!(merged, 2);
    assert_eq!(
        demo.global_hash.as_deref(),
        Some(done.global_adapter_hash.as_str())
    );

    // The next round stacks on this one: the command reads the previous global adapter back
    // from the store, the demo keeps it in memory; both make the same stacked adapter.
    let previous = fetch_previous(&store, &done.global_adapter_hash, &req("prev", false))
        .expect("the previous global adapter is read back");
    let singles = Groups::singletons(1);
    let from_store = merge_updates(Some(&previous.adapter), &updates[..1], &[true], &singles)
        .expect("merges")
        .expect("something merged");
    let (a, _) = publish_global(
        None,
        &t.path().join("s1"),
        &from_store,
        id + 1,
        &base_hash,
        None,
    )
    .expect("written");
    let in_memory = demo.merge(
        id + 1,
        &updates[..1],
        &[true],
        &singles,
        &t.path().join("s2"),
    );
    assert_eq!(in_memory.expect("merges"), 1);
    assert_eq!(demo.global_hash.as_deref(), Some(a.as_str()));

    // `fairshare round aggregate` (its handler, on this chain) prints the same hash, as JSON too.
    let args = crate::cli::services::AggregateArgs {
        round: id,
        model: t.path().join("model"),
        relayer: relayer.url(),
        kubo: None,
        work: Some(t.path().join("cli")),
        duplicate_threshold: crate::valuation::DUPLICATE_THRESHOLD,
        publish: false,
    };
    let (text, json) = crate::cli::services::round_aggregate(&chain, &d, &args).expect("runs");
    assert_eq!(
        json["global_adapter_hash"],
        done.global_adapter_hash.as_str()
    );
    assert!(
        text.contains(&format!(
            "--global-adapter-hash {}",
            done.global_adapter_hash
        )),
        "{text}"
    );
    assert!(text.contains("not published: add --publish"), "{text}");

    // A store that answers with another bundle is refused, naming the participant and hash.
    let liar = LyingStore {
        inner: HttpStore::new(&relayer.url()).expect("store"),
        answer: archives[2].clone(),
    };
    let err = aggregate_round(&chain, &d, &api, &liar, &req("lied", false))
        .expect_err("a wrong bundle is refused");
    let text = err.to_string();
    assert!(matches!(err, OperatorError::Bundle { .. }), "{text}");
    let first = &expected_merged[0];
    let first_hash = &relayer_hash(&api, id, first);
    assert!(
        text.contains(first.as_str()) && text.contains(first_hash.as_str()),
        "{text}"
    );
}

/// The update hash the relayer lists for `participant` in round `id`.
fn relayer_hash(api: &RelayClient, id: u64, participant: &str) -> String {
    api.round(id)
        .expect("listing")
        .bundles
        .into_iter()
        .find(|b| b.participant == participant)
        .expect("listed")
        .update_hash
}

#[test]
fn merge_rules_weight_as_documented() {
    let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12);
    // Three updates, the last two one near-duplicate group.
    let tokens = [100, 300, 300];
    let group_of = [0, 1, 1];
    let fedavg = merge_shares(&tokens, &group_of, MergeRule::Tokens, 0);
    // 100/700, and 300/700 halved for each group member, renormalised over 400/700.
    assert!(close(&fedavg, &[0.25, 0.375, 0.375]), "{fedavg:?}");
    let equal = merge_shares(&tokens, &group_of, MergeRule::Equal, 0);
    assert!(close(&equal, &[0.5, 0.25, 0.25]), "{equal:?}");
    let roster = merge_shares(&tokens, &group_of, MergeRule::Roster, 8);
    assert!(close(&roster, &[0.125, 0.0625, 0.0625]), "{roster:?}");
    // Leaving a party out changes no one else's weight under `roster`, but does under FedAvg.
    let without = merge_shares(&tokens[1..], &group_of[1..], MergeRule::Roster, 8);
    assert!(close(&without, &roster[1..]), "{without:?}");
    let fedavg_without = merge_shares(&tokens[1..], &group_of[1..], MergeRule::Tokens, 0);
    assert!(close(&fedavg_without, &[0.5, 0.5]), "{fedavg_without:?}");
}
