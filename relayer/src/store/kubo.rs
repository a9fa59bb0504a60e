//! Bundles in IPFS through a kubo node's HTTP RPC (`POST /api/v0/...`).
//!
//! Archives are added as UnixFS files with CIDv1 and raw leaves and pinned; the index from update
//! hash to CID is kept in the node's MFS under `/fairshare/by-hash/<update hash>`, which only
//! that node sees (other parties learn the CID from the relayer, see [`crate::relay`]).
//! Evaluators' utility tables are added the same way and indexed by their table hash under
//! `/fairshare/tables/<table hash>`.

use std::time::Duration;

use reqwest::blocking::{multipart, Client};
use serde::Deserialize;

use super::{parse_table, BundleStore, Cid, StoreError, MAX_BUNDLE_BYTES, MAX_TABLE_BYTES};

const INDEX_DIR: &str = "/fairshare/by-hash";
const TABLE_DIR: &str = "/fairshare/tables";

/// A kubo node's RPC endpoint.
#[derive(Debug, Clone)]
pub struct KuboStore {
    api: String,
    client: Client,
    /// How long a read may search the network for a CID before it counts as unavailable.
    pub fetch_timeout: Duration,
}

#[derive(Deserialize)]
struct AddResponse {
    #[serde(rename = "Hash")]
    hash: String,
}

#[derive(Deserialize)]
struct StatResponse {
    #[serde(rename = "Hash")]
    hash: String,
}

impl KuboStore {
    /// A client of the RPC at `api` (`http://127.0.0.1:5001`).
    pub fn new(api: &str) -> Result<Self, StoreError> {
        let api = api.trim_end_matches('/').to_string();
        if !(api.starts_with("http://") || api.starts_with("https://")) {
            return Err(StoreError::Unreachable {
                store: format!("kubo {api}"),
                reason: "the RPC address must be an http(s) URL".into(),
            });
        }
        let client = Client::builder()
            .timeout(Duration::from_secs(600))
            .build()
            .map_err(|e| StoreError::Unreachable {
                store: format!("kubo {api}"),
                reason: e.to_string(),
            })?;
        Ok(Self {
            api,
            client,
            fetch_timeout: Duration::from_secs(30),
        })
    }

    /// Whether the node answers (`/api/v0/id`).
    pub fn ping(&self) -> Result<(), StoreError> {
        self.call("id", &[], None).map(|_| ())
    }

    /// Adds `bytes` as a pinned UnixFS file (CIDv1, raw leaves); its CID.
    fn add(&self, bytes: &[u8], name: &str) -> Result<Cid, StoreError> {
        let part = multipart::Part::bytes(bytes.to_vec()).file_name(name.to_string());
        let form = multipart::Form::new().part("file", part);
        let resp = self.call(
            "add",
            &[
                ("cid-version", "1"),
                ("raw-leaves", "true"),
                ("pin", "true"),
                ("quieter", "true"),
            ],
            Some(form),
        )?;
        let body = resp.text().map_err(|e| StoreError::Io {
            store: self.describe(),
            reason: format!("add: {e}"),
        })?;
        // One JSON object per line; the last names the file.
        let last = body.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
        let added: AddResponse = serde_json::from_str(last).map_err(|e| StoreError::Io {
            store: self.describe(),
            reason: format!("add answered {last:?}: {e}"),
        })?;
        Cid::parse(&added.hash)
    }

    /// Records under `dir/<key>` (MFS) that `key` is held by `cid`.
    fn index_in(&self, dir: &str, key: &str, cid: &Cid) -> Result<(), StoreError> {
        if !super::dir::is_hex_hash(key) {
            return Err(StoreError::Io {
                store: self.describe(),
                reason: format!("{key:?} is not a hex sha256"),
            });
        }
        if self.lookup_in(dir, key)?.as_ref() == Some(cid) {
            return Ok(());
        }
        self.call("files/mkdir", &[("arg", dir), ("parents", "true")], None)?;
        let path = format!("{dir}/{key}");
        // An entry pointing elsewhere is replaced.
        let _ = self.call("files/rm", &[("arg", &path), ("force", "true")], None);
        let src = format!("/ipfs/{cid}");
        self.call("files/cp", &[("arg", &src), ("arg", &path)], None)
            .map(|_| ())
    }

    /// The CID recorded under `dir/<key>`, if any.
    fn lookup_in(&self, dir: &str, key: &str) -> Result<Option<Cid>, StoreError> {
        if !super::dir::is_hex_hash(key) {
            return Ok(None);
        }
        let path = format!("{dir}/{key}");
        match self.call("files/stat", &[("arg", &path)], None) {
            Ok(resp) => {
                let s: StatResponse = resp.json().map_err(|e| StoreError::Io {
                    store: self.describe(),
                    reason: format!("files/stat: {e}"),
                })?;
                Ok(Some(Cid::parse(&s.hash)?))
            }
            Err(StoreError::Io { reason, .. }) if reason.contains("does not exist") => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn call(
        &self,
        cmd: &str,
        args: &[(&str, &str)],
        form: Option<multipart::Form>,
    ) -> Result<reqwest::blocking::Response, StoreError> {
        let mut req = self
            .client
            .post(format!("{}/api/v0/{cmd}", self.api))
            .query(args);
        if let Some(f) = form {
            req = req.multipart(f);
        }
        let resp = req.send().map_err(|e| StoreError::Unreachable {
            store: self.describe(),
            reason: format!("{cmd}: {e}"),
        })?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let text = resp.text().unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| {
                v.get("Message")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .unwrap_or(text);
        Err(StoreError::Io {
            store: self.describe(),
            reason: format!("{cmd} answered {status}: {message}"),
        })
    }
}

impl BundleStore for KuboStore {
    fn describe(&self) -> String {
        format!("kubo {}", self.api)
    }

    fn put(&self, archive: &[u8]) -> Result<Cid, StoreError> {
        if archive.len() as u64 > MAX_BUNDLE_BYTES {
            return Err(StoreError::TooLarge {
                size: archive.len() as u64,
            });
        }
        self.add(archive, "bundle.tar")
    }

    fn get(&self, cid: &Cid) -> Result<Vec<u8>, StoreError> {
        let timeout = format!("{}s", self.fetch_timeout.as_secs().max(1));
        let limit = (MAX_BUNDLE_BYTES + 1).to_string();
        let resp = self
            .call(
                "cat",
                &[
                    ("arg", cid.as_str()),
                    ("length", &limit),
                    ("timeout", &timeout),
                ],
                None,
            )
            .map_err(|e| match e {
                StoreError::Io { reason, .. }
                    if reason.contains("deadline") || reason.contains("not found") =>
                {
                    StoreError::NotFound {
                        store: self.describe(),
                        what: format!("with CID {cid} (not found within {timeout})"),
                    }
                }
                other => other,
            })?;
        let bytes = resp.bytes().map_err(|e| StoreError::Io {
            store: self.describe(),
            reason: format!("cat {cid}: {e}"),
        })?;
        if bytes.len() as u64 > MAX_BUNDLE_BYTES {
            return Err(StoreError::TooLarge {
                size: bytes.len() as u64,
            });
        }
        Ok(bytes.to_vec())
    }

    fn index(&self, update_hash: &str, cid: &Cid) -> Result<(), StoreError> {
        self.index_in(INDEX_DIR, update_hash, cid)
    }

    fn lookup(&self, update_hash: &str) -> Result<Option<Cid>, StoreError> {
        self.lookup_in(INDEX_DIR, update_hash)
    }

    fn pin(&self, cid: &Cid) -> Result<(), StoreError> {
        self.call("pin/add", &[("arg", cid.as_str())], None)
            .map(|_| ())
    }

    fn put_table(&self, json: &[u8], _round_id: u64) -> Result<String, StoreError> {
        let (_, hash) = parse_table(json)?;
        let cid = self.add(json, "table.json")?;
        self.index_in(TABLE_DIR, &hash, &cid)?;
        Ok(hash)
    }

    fn get_table(&self, table_hash: &str) -> Result<Vec<u8>, StoreError> {
        let cid =
            self.lookup_in(TABLE_DIR, table_hash)?
                .ok_or_else(|| StoreError::TableNotFound {
                    store: self.describe(),
                    hash: table_hash.to_string(),
                })?;
        let bytes = self.get(&cid)?;
        if bytes.len() as u64 > MAX_TABLE_BYTES {
            return Err(StoreError::TooLarge {
                size: bytes.len() as u64,
            });
        }
        Ok(bytes)
    }
}

/// Tests against a real kubo node: they run when `ipfs` (kubo) is found in
/// `$FAIRSHARE_CACHE/kubo/<version>/bin` or on PATH (`make kubo` builds it); otherwise they say
/// so and return.
#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::{fetch_bundle, publish_bundle, testing, Wanted};
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};

    /// The kubo binary, if one was built.
    pub fn kubo_binary() -> Option<PathBuf> {
        let cache = std::env::var_os("FAIRSHARE_CACHE")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/fairshare"))
            })?;
        let built = cache.join("kubo/v0.42.0/bin/ipfs");
        if built.is_file() {
            return Some(built);
        }
        std::env::var_os("PATH")?
            .to_string_lossy()
            .split(':')
            .map(|d| Path::new(d).join("ipfs"))
            .find(|p| p.is_file())
    }

    /// A throwaway kubo daemon on a free port, killed on drop.
    pub struct TestNode {
        child: Child,
        pub api: String,
        _repo: tempfile::TempDir,
    }

    impl Drop for TestNode {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free local port")
    }

    /// Starts a kubo node with the `test` profile (127.0.0.1 only, no bootstrap peers).
    pub fn start_node(bin: &Path) -> TestNode {
        let repo = tempfile::tempdir().expect("tempdir");
        let run = |args: &[&str]| {
            let st = Command::new(bin)
                .args(args)
                .env("IPFS_PATH", repo.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("runs ipfs");
            assert!(st.success(), "ipfs {args:?} failed");
        };
        run(&["init", "--profile=test"]);
        let api_port = free_port();
        run(&[
            "config",
            "Addresses.API",
            &format!("/ip4/127.0.0.1/tcp/{api_port}"),
        ]);
        run(&["config", "Addresses.Gateway", "/ip4/127.0.0.1/tcp/0"]);
        run(&[
            "config",
            "--json",
            "Addresses.Swarm",
            "[\"/ip4/127.0.0.1/tcp/0\"]",
        ]);
        let child = Command::new(bin)
            .args(["daemon", "--offline"])
            .env("IPFS_PATH", repo.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starts the daemon");
        let node = TestNode {
            child,
            api: format!("http://127.0.0.1:{api_port}"),
            _repo: repo,
        };
        let store = KuboStore::new(&node.api).expect("client");
        for _ in 0..300 {
            if store.ping().is_ok() {
                return node;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("kubo did not answer on {} within 30 s", node.api);
    }

    #[test]
    fn kubo_publishes_fetches_and_refuses_a_wrong_bundle() {
        let Some(bin) = kubo_binary() else {
            eprintln!("kubo not built (make kubo); skipping the kubo store test");
            return;
        };
        let node = start_node(&bin);
        let store = KuboStore::new(&node.api).expect("client");
        let t = tempfile::tempdir().expect("tempdir");
        let h = hex::encode(testing::small_bundle(&t.path().join("a"), "wasm1a", 1, 1.0));
        let r = publish_bundle(&store, &t.path().join("a")).expect("publishes");
        assert_eq!(r.update_hash, h);
        // A small archive is one raw block: kubo's CID is the one the directory store computes.
        let archive = crate::store::pack(&t.path().join("a")).expect("packs");
        assert_eq!(r.cid, Cid::of_raw(&archive));
        assert_eq!(store.lookup(&h).expect("lookup"), Some(r.cid.clone()));
        let f = fetch_bundle(
            &store,
            &Wanted {
                update_hash: &h,
                cid: None,
            },
            &t.path().join("out"),
        )
        .expect("fetches by hash");
        assert_eq!(f.bytes, archive.len() as u64);
        // A node whose index lies is caught by the update-hash check.
        testing::small_bundle(&t.path().join("b"), "wasm1a", 1, 2.0);
        let other = publish_bundle(&store, &t.path().join("b")).expect("publishes");
        store.index(&h, &other.cid).expect("re-indexes");
        let e = fetch_bundle(
            &store,
            &Wanted {
                update_hash: &h,
                cid: None,
            },
            &t.path().join("x"),
        )
        .expect_err("refused");
        assert!(matches!(e, StoreError::WrongBundle { .. }), "{e}");
        // Tables: kept under their hash in the node's index, re-checked when read.
        let table = testing::small_table(3);
        let th = crate::store::publish_table(&store, &table, 1).expect("publishes a table");
        assert_eq!(th, hex::encode(table.hash()));
        assert_eq!(
            crate::store::fetch_table(&store, &th).expect("reads it"),
            table
        );
        let oh = crate::store::publish_table(&store, &testing::small_table(4), 1).expect("another");
        let other_cid = store
            .lookup_in(TABLE_DIR, &oh)
            .expect("lookup")
            .expect("indexed");
        store
            .index_in(TABLE_DIR, &th, &other_cid)
            .expect("re-indexes");
        let e = crate::store::fetch_table(&store, &th).expect_err("refused");
        assert!(matches!(e, StoreError::WrongTable { .. }), "{e}");
        // An unknown CID is not found (offline node: fails fast).
        let mut quick = store.clone();
        quick.fetch_timeout = Duration::from_secs(1);
        let unknown = Cid::of_raw(b"nobody stored this");
        assert!(quick.get(&unknown).is_err());
    }
}
