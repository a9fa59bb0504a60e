//! Where update bundles live between the participant who wrote one and the evaluators who value
//! it: one [`BundleStore`] interface, three ways to reach it.
//!
//! - [`dir::DirStore`]: a content-addressed directory (the default; the relayer serves it over
//!   HTTP, see [`crate::relay`]);
//! - [`http::HttpStore`]: a client of that HTTP API, for parties on other hosts;
//! - [`kubo::KuboStore`]: an IPFS node (kubo) through its HTTP RPC, across organisations.
//!
//! A bundle travels as one archive ([`pack`]): a tar of its three files in a fixed order with
//! fixed metadata, so equal bundles make equal bytes and equal CIDs. It is addressed by its CID
//! and by its update hash (`sha256(adapter_model.safetensors)`, the hash committed on chain).
//! A store may lie: [`fetch_bundle`] re-checks the update hash of whatever it gets, so no store
//! can make anyone accept a bundle other than the committed one.
//!
//! Evaluators' utility tables live in the same stores ([`publish_table`], [`fetch_table`]),
//! addressed by the table hash their reports commit to on chain, so a challenger on another
//! host can check a report; [`fetch_table`] re-checks that hash.

pub mod cid;
pub mod dir;
pub mod http;
pub mod kubo;
pub mod staging;

#[cfg(test)]
mod bench;

use std::io::Read;
use std::path::{Path, PathBuf};

use fairshare_protocol::report::UtilityTable;
use sha2::{Digest, Sha256};

use crate::bundle::{ADAPTER_CONFIG_FILE, ADAPTER_FILE, MANIFEST_FILE};
pub use cid::Cid;

/// The largest bundle archive any store accepts or returns (a LoRA adapter of a 7B model at rank
/// 64 is ~320 MB in f16; the bound keeps a lying store from filling a disk).
pub const MAX_BUNDLE_BYTES: u64 = 1 << 30;

/// The files of a bundle, in archive order.
pub const BUNDLE_FILES: [&str; 3] = [ADAPTER_FILE, ADAPTER_CONFIG_FILE, MANIFEST_FILE];

/// Why a store operation failed. Every variant names the store and what was asked of it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{store}: no bundle {what}")]
    NotFound { store: String, what: String },
    #[error("{store}: cannot reach it: {reason}")]
    Unreachable { store: String, reason: String },
    #[error("{store}: {reason}")]
    Io { store: String, reason: String },
    #[error("{store} answered {what} with a bundle whose update hash is {actual}, not {expected}: the store is wrong or lying; the bundle was refused")]
    WrongBundle {
        store: String,
        what: String,
        expected: String,
        actual: String,
    },
    #[error(
        "{store} answered CID {cid} with bytes that hash to a different CID ({actual}); refused"
    )]
    WrongBlob {
        store: String,
        cid: String,
        actual: String,
    },
    #[error("not a bundle archive: {0}")]
    Archive(String),
    #[error("the bundle archive is {size} bytes, more than the {MAX_BUNDLE_BYTES}-byte limit")]
    TooLarge { size: u64 },
    #[error("bad CID {0:?}")]
    BadCid(String),
    #[error("{store} answered table {expected} with a table whose hash is {actual}: the store is wrong or lying; the table was refused")]
    WrongTable {
        store: String,
        expected: String,
        actual: String,
    },
    #[error("not a utility table: {0}")]
    Table(String),
    #[error("{store}: no utility table with hash {hash} (not published there yet)")]
    TableNotFound { store: String, hash: String },
    #[error("{store}: an upload of {size} bytes is more than the {limit} bytes kept for uploads no commitment has vouched for yet")]
    StagingFull {
        store: String,
        size: u64,
        limit: u64,
    },
}

/// A published bundle: the CID of its archive in one store and the update hash it commits to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BundleRef {
    pub cid: Cid,
    /// Hex sha256 of the adapter file.
    pub update_hash: String,
    /// Size of the archive in bytes.
    pub bytes: u64,
}

/// A place that keeps bundle archives by CID and knows which CID holds which update hash.
pub trait BundleStore: Send + Sync {
    /// A short description for messages (`dir /path`, `kubo http://127.0.0.1:5001`).
    fn describe(&self) -> String;
    /// Stores an archive; returns its CID. Idempotent.
    fn put(&self, archive: &[u8]) -> Result<Cid, StoreError>;
    /// The archive with `cid` (untrusted: callers check it, see [`fetch_bundle`]).
    fn get(&self, cid: &Cid) -> Result<Vec<u8>, StoreError>;
    /// Records that `update_hash` (hex) is held by `cid`.
    fn index(&self, update_hash: &str, cid: &Cid) -> Result<(), StoreError>;
    /// The CID recorded for `update_hash` (hex), if any.
    fn lookup(&self, update_hash: &str) -> Result<Option<Cid>, StoreError>;
    /// Keeps `cid` from being garbage-collected (a no-op where nothing is collected).
    fn pin(&self, cid: &Cid) -> Result<(), StoreError>;
    /// Stores an evaluator's utility table (its JSON) under its hash, the `table_hash` its
    /// report commits to on chain; returns that hash (hex). Idempotent. See [`publish_table`].
    /// `round_id` is the round whose revealed report commits to the table: the relayer keeps
    /// only such tables (so anyone cannot fill its disk with tables no report uses).
    fn put_table(&self, json: &[u8], round_id: u64) -> Result<String, StoreError>;
    /// The JSON of the table with hash `table_hash` (hex; untrusted: see [`fetch_table`]).
    fn get_table(&self, table_hash: &str) -> Result<Vec<u8>, StoreError>;
}

/// The largest utility table (JSON) any store accepts or returns: an exact table of the
/// largest size the chain checks is far smaller; the bound keeps a lying store from filling
/// memory.
pub const MAX_TABLE_BYTES: u64 = 64 << 20;

/// Reads a utility table's JSON and its hash (hex of [`UtilityTable::hash`], the hash a report
/// commits to).
pub fn parse_table(json: &[u8]) -> Result<(UtilityTable, String), StoreError> {
    if json.len() as u64 > MAX_TABLE_BYTES {
        return Err(StoreError::TooLarge {
            size: json.len() as u64,
        });
    }
    let table: UtilityTable =
        serde_json::from_slice(json).map_err(|e| StoreError::Table(e.to_string()))?;
    let hash = hex::encode(table.hash());
    Ok((table, hash))
}

/// Publishes a utility table for challengers on other hosts: stored under its hash, which the
/// store must agree on. Returns the hash (hex).
pub fn publish_table(
    store: &dyn BundleStore,
    table: &UtilityTable,
    round_id: u64,
) -> Result<String, StoreError> {
    let json = serde_json::to_vec(table).map_err(|e| StoreError::Table(e.to_string()))?;
    let want = hex::encode(table.hash());
    let got = store.put_table(&json, round_id)?;
    if got != want {
        return Err(StoreError::WrongTable {
            store: store.describe(),
            expected: want,
            actual: got,
        });
    }
    Ok(want)
}

/// Fetches the table with hash `table_hash` (hex, e.g. a revealed report's `table_hash`) and
/// checks that what the store returned hashes to it: no store can pass off another table.
pub fn fetch_table(store: &dyn BundleStore, table_hash: &str) -> Result<UtilityTable, StoreError> {
    let want = table_hash.to_ascii_lowercase();
    let json = store.get_table(&want)?;
    let (table, actual) = parse_table(&json)?;
    if actual != want {
        return Err(StoreError::WrongTable {
            store: store.describe(),
            expected: want,
            actual,
        });
    }
    Ok(table)
}

/// Packs a bundle directory into its archive: the three files in [`BUNDLE_FILES`] order, with
/// mode 0644, mtime 0 and no owner, so the same bundle always makes the same bytes.
pub fn pack(dir: &Path) -> Result<Vec<u8>, StoreError> {
    let mut builder = tar::Builder::new(Vec::new());
    for name in BUNDLE_FILES {
        let path = dir.join(name);
        let bytes = std::fs::read(&path).map_err(|e| StoreError::Io {
            store: "bundle".into(),
            reason: format!("reading {}: {e}", path.display()),
        })?;
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, name, bytes.as_slice())
            .map_err(|e| StoreError::Archive(e.to_string()))?;
    }
    builder
        .into_inner()
        .map_err(|e| StoreError::Archive(e.to_string()))
}

/// The three files of an archive, checked to be exactly [`BUNDLE_FILES`] with nothing else.
pub fn unpack(archive: &[u8]) -> Result<Vec<(&'static str, Vec<u8>)>, StoreError> {
    if archive.len() as u64 > MAX_BUNDLE_BYTES {
        return Err(StoreError::TooLarge {
            size: archive.len() as u64,
        });
    }
    let mut out: Vec<(&'static str, Vec<u8>)> = vec![];
    let mut ar = tar::Archive::new(archive);
    let entries = ar
        .entries()
        .map_err(|e| StoreError::Archive(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| StoreError::Archive(e.to_string()))?;
        let path = entry
            .path()
            .map_err(|e| StoreError::Archive(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        let Some(name) = BUNDLE_FILES.iter().find(|n| **n == path) else {
            return Err(StoreError::Archive(format!(
                "unexpected entry {path:?} (a bundle holds {BUNDLE_FILES:?} only)"
            )));
        };
        if out.iter().any(|(n, _)| n == name) {
            return Err(StoreError::Archive(format!("{name} appears twice")));
        }
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(StoreError::Archive(format!("{name} is not a regular file")));
        }
        let mut bytes = vec![];
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| StoreError::Archive(e.to_string()))?;
        out.push((name, bytes));
    }
    for name in BUNDLE_FILES {
        if !out.iter().any(|(n, _)| *n == name) {
            return Err(StoreError::Archive(format!("{name} is missing")));
        }
    }
    Ok(out)
}

/// The update hash (hex) of an archive: sha256 of its adapter file.
pub fn archive_update_hash(archive: &[u8]) -> Result<String, StoreError> {
    let files = unpack(archive)?;
    let adapter = files
        .iter()
        .find(|(n, _)| *n == ADAPTER_FILE)
        .map(|(_, b)| b)
        .ok_or_else(|| StoreError::Archive(format!("{ADAPTER_FILE} is missing")))?;
    Ok(hex::encode(Sha256::digest(adapter)))
}

/// Publishes a bundle directory: packs it, stores it, indexes it by its update hash and pins it.
pub fn publish_bundle(store: &dyn BundleStore, dir: &Path) -> Result<BundleRef, StoreError> {
    let archive = pack(dir)?;
    let update_hash = archive_update_hash(&archive)?;
    let cid = store.put(&archive)?;
    store.index(&update_hash, &cid)?;
    store.pin(&cid)?;
    Ok(BundleRef {
        cid,
        update_hash,
        bytes: archive.len() as u64,
    })
}

/// Where to find a bundle: by CID (checked against the expected update hash) or by the update
/// hash alone (the store's index says which CID).
#[derive(Debug, Clone)]
pub struct Wanted<'a> {
    /// Hex update hash the bundle must have (from the chain).
    pub update_hash: &'a str,
    /// A CID to read it from, if one is known (e.g. from the relayer).
    pub cid: Option<&'a Cid>,
}

/// Fetches a bundle into `dest` (created; its three files written) after checking that its
/// adapter hashes to the wanted update hash. A store that returns anything else gets
/// [`StoreError::WrongBundle`] and nothing is written.
pub fn fetch_bundle(
    store: &dyn BundleStore,
    wanted: &Wanted<'_>,
    dest: &Path,
) -> Result<FetchedBundle, StoreError> {
    let want = wanted.update_hash.to_ascii_lowercase();
    let cid = match wanted.cid {
        Some(c) => c.clone(),
        None => store.lookup(&want)?.ok_or_else(|| StoreError::NotFound {
            store: store.describe(),
            what: format!("with update hash {want}"),
        })?,
    };
    let archive = store.get(&cid)?;
    let actual = archive_update_hash(&archive)?;
    if actual != want {
        return Err(StoreError::WrongBundle {
            store: store.describe(),
            what: format!("CID {cid}"),
            expected: want,
            actual,
        });
    }
    let io = |e: std::io::Error| StoreError::Io {
        store: "local".into(),
        reason: format!("writing {}: {e}", dest.display()),
    };
    std::fs::create_dir_all(dest).map_err(io)?;
    for (name, bytes) in unpack(&archive)? {
        let tmp = dest.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, &bytes).map_err(io)?;
        std::fs::rename(&tmp, dest.join(name)).map_err(io)?;
    }
    Ok(FetchedBundle {
        dir: dest.to_path_buf(),
        cid,
        bytes: archive.len() as u64,
    })
}

/// A bundle fetched and checked against its update hash.
#[derive(Debug, Clone)]
pub struct FetchedBundle {
    pub dir: PathBuf,
    pub cid: Cid,
    pub bytes: u64,
}

/// Which store a service uses, as written in its TOML config.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum StoreConfig {
    /// A local content-addressed directory (the relayer's own store).
    Dir { path: PathBuf },
    /// The relayer's store over HTTP (`http://host:port`).
    Http { url: String },
    /// A kubo node's RPC (`http://127.0.0.1:5001`).
    Kubo { api: String },
}

impl StoreConfig {
    /// Opens the store this config names.
    pub fn open(&self) -> Result<Box<dyn BundleStore>, StoreError> {
        Ok(match self {
            StoreConfig::Dir { path } => Box::new(dir::DirStore::open(path)?),
            StoreConfig::Http { url } => Box::new(http::HttpStore::new(url)?),
            StoreConfig::Kubo { api } => Box::new(kubo::KuboStore::new(api)?),
        })
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use std::path::Path;

    use crate::bundle::write;

    /// An exact utility table of two players whose grand-coalition utility is `u` nano-units.
    pub fn small_table(u: i64) -> fairshare_protocol::report::UtilityTable {
        let utilities: Vec<u8> = [0i64, 1, 2, u]
            .iter()
            .flat_map(|x| x.to_be_bytes())
            .collect();
        fairshare_protocol::report::UtilityTable {
            participants: vec!["wasm1a".into(), "wasm1b".into()],
            validation_set_hash: cosmwasm_std::HexBinary::from(vec![7u8; 32]),
            estimator: fairshare_protocol::report::Estimator::Exact,
            utilities: cosmwasm_std::Binary::from(utilities),
        }
    }

    /// Writes a small valid bundle for `participant` in `round` whose values depend on `seed`.
    pub fn small_bundle(dir: &Path, participant: &str, round: u64, seed: f32) -> [u8; 32] {
        let m = write::Module::with_round_a(
            "base_model.model.model.layers.0.self_attn.q_proj",
            fairshare_trainer::lora::round_init_seed(round, "aa", None),
            2,
            3,
            vec![0.2 * seed; 6],
        );
        write::bundle(dir, &[m], 2, 2.0, &["q_proj"], round, "aa", participant, 10)
            .expect("a test bundle is written")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_is_deterministic_and_round_trips() {
        let t = tempfile::tempdir().expect("tempdir");
        let h = testing::small_bundle(&t.path().join("b"), "wasm1alice", 1, 1.0);
        let a = pack(&t.path().join("b")).expect("packs");
        let b = pack(&t.path().join("b")).expect("packs");
        assert_eq!(a, b, "same bundle, same bytes");
        assert_eq!(archive_update_hash(&a).expect("hash"), hex::encode(h));
        let files = unpack(&a).expect("unpacks");
        assert_eq!(
            files.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            BUNDLE_FILES.to_vec()
        );
    }

    #[test]
    fn archives_with_other_entries_are_refused() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_ustar();
        header.set_size(3);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, "run-me.sh", &b"abc"[..])
            .expect("appends");
        let bytes = builder.into_inner().expect("tar");
        let e = unpack(&bytes).expect_err("refused");
        assert!(e.to_string().contains("unexpected entry"), "{e}");
        assert!(unpack(b"not a tar at all").is_err());
    }
}
