//! Bundle transfer figures for BENCHMARKS.md (ignored; `cargo test -p fairshare-relayer --lib
//! --release -- store::bench --ignored --nocapture`): seconds and bytes per bundle published and
//! fetched (with the hash re-check) through the directory store on disk (baseline), the
//! relayer's store over HTTP, and a kubo node over its RPC.

use std::path::Path;
use std::time::{Duration, Instant};

use super::dir::DirStore;
use super::http::HttpStore;
use super::kubo::tests::{kubo_binary, start_node};
use super::kubo::KuboStore;
use super::{fetch_bundle, publish_bundle, BundleStore, Wanted};
use crate::bundle::write;

/// A bundle of `modules` rank-8 q/v modules of a 2048-wide model (~128 KiB of f32 each).
fn sized_bundle(dir: &Path, modules: usize) {
    let ms: Vec<write::Module> = (0..modules)
        .map(|i| write::Module {
            path: format!("base_model.model.model.layers.{i}.self_attn.q_proj"),
            a: (
                8,
                2048,
                (0..8 * 2048)
                    .map(|j| ((i * 7 + j) % 13) as f32 * 1e-4)
                    .collect(),
            ),
            b: (
                2048,
                8,
                (0..8 * 2048)
                    .map(|j| ((i + j) % 11) as f32 * 1e-4)
                    .collect(),
            ),
        })
        .collect();
    write::bundle(dir, &ms, 8, 16.0, &["q_proj"], 1, "aa", "wasm1bench", 1000)
        .expect("a bench bundle is written");
}

fn time(store: &dyn BundleStore, src: &Path, out: &Path, reps: u32) -> (u64, Duration, Duration) {
    let (mut put, mut get, mut bytes) = (Duration::ZERO, Duration::ZERO, 0);
    for r in 0..reps {
        let t = Instant::now();
        let b = publish_bundle(store, src).expect("published");
        put += t.elapsed();
        let t = Instant::now();
        fetch_bundle(
            store,
            &Wanted {
                update_hash: &b.update_hash,
                cid: Some(&b.cid),
            },
            &out.join(format!("{r}")),
        )
        .expect("fetched and checked");
        get += t.elapsed();
        bytes = b.bytes;
    }
    (bytes, put / reps, get / reps)
}

#[test]
#[ignore = "benchmark: prints the bundle transfer table for BENCHMARKS.md"]
fn bench_bundle_transfer() {
    let t = tempfile::tempdir().expect("tempdir");
    let (h, d, _, _, poster) = crate::relay::tests::chain_with_round(&[]);
    let relayer = crate::relay::Relayer::start(
        h,
        crate::relay::RelayOptions {
            listen: "127.0.0.1:0".into(),
            data_dir: t.path().join("relayer"),
            deployment: d,
            poster,
            batch_size: 50,
            batch_interval: None,
            kubo: None,
            staging: Default::default(),
        },
    )
    .expect("relayer");
    let node = kubo_binary().map(|b| start_node(&b));
    println!("| bundle | archive bytes | store | publish s | fetch + check s |");
    println!("|---|---:|---|---:|---:|");
    for modules in [4usize, 64] {
        let src = t.path().join(format!("src-{modules}"));
        sized_bundle(&src, modules);
        let mut stores: Vec<(&str, Box<dyn BundleStore>)> = vec![
            (
                "directory (local disk, baseline)",
                Box::new(DirStore::open(&t.path().join(format!("dir-{modules}"))).expect("dir")),
            ),
            (
                "relayer over HTTP (default)",
                Box::new(HttpStore::new(&relayer.url()).expect("http")),
            ),
        ];
        if let Some(n) = &node {
            stores.push(("kubo RPC", Box::new(KuboStore::new(&n.api).expect("kubo"))));
        }
        for (name, s) in &stores {
            let (bytes, put, get) = time(
                s.as_ref(),
                &src,
                &t.path().join(format!("out-{modules}-{name}")),
                5,
            );
            println!(
                "| {modules} modules | {bytes} | {name} | {:.4} | {:.4} |",
                put.as_secs_f64(),
                get.as_secs_f64()
            );
        }
    }
}
