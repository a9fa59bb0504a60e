//! The default store: a content-addressed directory on one machine.
//!
//! ```text
//! <root>/blobs/<cid>          archives, named by the raw CIDv1 of their bytes
//! <root>/by-hash/<update hash> the CID that holds that update hash (one line)
//! <root>/tables/<table hash>.json  evaluators' utility tables, by the hash reports commit to
//! <root>/staged/<cid>         uploads not yet vouched for by a commitment (see [`super::staging`])
//! ```
//! Writes go to a temporary file and are renamed into place, so a killed writer leaves no
//! half-written blob under a real name. Reads check the bytes against the CID.

use std::path::{Path, PathBuf};

use super::{parse_table, BundleStore, Cid, StoreError, MAX_BUNDLE_BYTES};

/// A content-addressed directory of bundle archives.
#[derive(Debug, Clone)]
pub struct DirStore {
    root: PathBuf,
}

impl DirStore {
    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        let me = Self {
            root: root.to_path_buf(),
        };
        for sub in ["blobs", "by-hash", "tables"] {
            std::fs::create_dir_all(root.join(sub)).map_err(|e| me.io(e, &root.join(sub)))?;
        }
        Ok(me)
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn io(&self, e: std::io::Error, path: &Path) -> StoreError {
        StoreError::Io {
            store: self.describe(),
            reason: format!("{}: {e}", path.display()),
        }
    }

    fn table_path(&self, table_hash: &str) -> PathBuf {
        self.root.join("tables").join(format!("{table_hash}.json"))
    }

    fn blob_path(&self, cid: &Cid) -> PathBuf {
        self.root.join("blobs").join(cid.as_str())
    }

    fn write_atomically(&self, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        // A unique temporary name: the relayer writes from several threads at once, and two
        // uploads of the same bundle must not truncate each other's half-written file.
        let tmp = path.with_extension(format!(
            "tmp{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let written = std::fs::File::create(&tmp).and_then(|mut f| {
            use std::io::Write as _;
            f.write_all(bytes)?;
            // On disk before the rename: an acknowledged upload survives a power cut.
            f.sync_all()
        });
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(self.io(e, &tmp));
        }
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            self.io(e, path)
        })?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| self.io(e, dir))?;
        }
        Ok(())
    }

    /// Whether the blob `cid` is here (not checked against its bytes).
    pub fn contains(&self, cid: &Cid) -> bool {
        self.blob_path(cid).exists()
    }

    /// Removes the blob `cid` (nothing if absent).
    pub fn remove(&self, cid: &Cid) -> Result<(), StoreError> {
        remove_if_there(&self.blob_path(cid)).map_err(|e| self.io(e, &self.blob_path(cid)))
    }

    /// Forgets which CID holds `update_hash` (nothing if unknown).
    pub fn unindex(&self, update_hash: &str) -> Result<(), StoreError> {
        if !is_hex_hash(update_hash) {
            return Ok(());
        }
        let path = self.root.join("by-hash").join(update_hash);
        remove_if_there(&path).map_err(|e| self.io(e, &path))
    }

    /// Every update hash in the index, sorted.
    pub fn indexed(&self) -> Result<Vec<String>, StoreError> {
        let dir = self.root.join("by-hash");
        let mut out: Vec<String> = std::fs::read_dir(&dir)
            .map_err(|e| self.io(e, &dir))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| is_hex_hash(n))
            .collect();
        out.sort();
        Ok(out)
    }
}

fn remove_if_there(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Whether `s` is 64 lowercase hex digits (an update hash, safe as a file name).
pub fn is_hex_hash(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl BundleStore for DirStore {
    fn describe(&self) -> String {
        format!("bundle store {}", self.root.display())
    }

    fn put(&self, archive: &[u8]) -> Result<Cid, StoreError> {
        if archive.len() as u64 > MAX_BUNDLE_BYTES {
            return Err(StoreError::TooLarge {
                size: archive.len() as u64,
            });
        }
        let cid = Cid::of_raw(archive);
        let path = self.blob_path(&cid);
        if !path.exists() {
            self.write_atomically(&path, archive)?;
        }
        Ok(cid)
    }

    fn get(&self, cid: &Cid) -> Result<Vec<u8>, StoreError> {
        let path = self.blob_path(cid);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound {
                    store: self.describe(),
                    what: format!("with CID {cid}"),
                })
            }
            Err(e) => return Err(self.io(e, &path)),
        };
        let actual = Cid::of_raw(&bytes);
        if &actual != cid {
            return Err(StoreError::WrongBlob {
                store: self.describe(),
                cid: cid.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(bytes)
    }

    fn index(&self, update_hash: &str, cid: &Cid) -> Result<(), StoreError> {
        if !is_hex_hash(update_hash) {
            return Err(StoreError::Io {
                store: self.describe(),
                reason: format!("{update_hash:?} is not a hex sha256"),
            });
        }
        let path = self.root.join("by-hash").join(update_hash);
        self.write_atomically(&path, format!("{cid}\n").as_bytes())
    }

    fn lookup(&self, update_hash: &str) -> Result<Option<Cid>, StoreError> {
        if !is_hex_hash(update_hash) {
            return Ok(None);
        }
        let path = self.root.join("by-hash").join(update_hash);
        match std::fs::read_to_string(&path) {
            Ok(s) => Ok(Some(Cid::parse(s.trim())?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(e, &path)),
        }
    }

    fn pin(&self, cid: &Cid) -> Result<(), StoreError> {
        // Only staged uploads are ever collected; a pinned one is no longer staged.
        let marker = self.root.join("staged").join(cid.as_str());
        remove_if_there(&marker).map_err(|e| self.io(e, &marker))
    }

    fn put_table(&self, json: &[u8], _round_id: u64) -> Result<String, StoreError> {
        // Only a table is kept, under the hash computed here: the directory never holds a
        // table under another table's name.
        let (_, hash) = parse_table(json)?;
        let path = self.table_path(&hash);
        if !path.exists() {
            self.write_atomically(&path, json)?;
        }
        Ok(hash)
    }

    fn get_table(&self, table_hash: &str) -> Result<Vec<u8>, StoreError> {
        let not_found = || StoreError::TableNotFound {
            store: self.describe(),
            hash: table_hash.to_string(),
        };
        if !is_hex_hash(table_hash) {
            return Err(not_found());
        }
        let path = self.table_path(table_hash);
        match std::fs::read(&path) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(not_found()),
            Err(e) => Err(self.io(e, &path)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{fetch_bundle, pack, publish_bundle, testing, Wanted};

    #[test]
    fn publish_fetch_by_hash_and_by_cid() {
        let t = tempfile::tempdir().expect("tempdir");
        let h = hex::encode(testing::small_bundle(&t.path().join("b"), "wasm1a", 1, 1.0));
        let store = DirStore::open(&t.path().join("store")).expect("opens");
        let r = publish_bundle(&store, &t.path().join("b")).expect("publishes");
        assert_eq!(r.update_hash, h);
        assert_eq!(
            r.cid,
            Cid::of_raw(&pack(&t.path().join("b")).expect("packs"))
        );
        // Publishing twice is harmless.
        assert_eq!(
            publish_bundle(&store, &t.path().join("b")).expect("again"),
            r
        );
        let by_hash = Wanted {
            update_hash: &h,
            cid: None,
        };
        let f = fetch_bundle(&store, &by_hash, &t.path().join("out1")).expect("by hash");
        assert_eq!(f.cid, r.cid);
        let by_cid = Wanted {
            update_hash: &h,
            cid: Some(&r.cid),
        };
        fetch_bundle(&store, &by_cid, &t.path().join("out2")).expect("by cid");
        for name in crate::store::BUNDLE_FILES {
            assert_eq!(
                std::fs::read(t.path().join("out2").join(name)).expect("written"),
                std::fs::read(t.path().join("b").join(name)).expect("source"),
            );
        }
        assert_eq!(store.indexed().expect("index"), vec![h]);
        let missing = "00".repeat(32);
        let e = fetch_bundle(
            &store,
            &Wanted {
                update_hash: &missing,
                cid: None,
            },
            &t.path().join("x"),
        )
        .expect_err("unknown hash");
        assert!(matches!(e, StoreError::NotFound { .. }), "{e}");
    }

    #[test]
    fn tables_are_kept_by_their_hash_and_a_swapped_one_is_refused() {
        use crate::store::{fetch_table, publish_table};
        let t = tempfile::tempdir().expect("tempdir");
        let store = DirStore::open(&t.path().join("store")).expect("opens");
        let table = testing::small_table(5);
        let h = publish_table(&store, &table, 1).expect("publishes");
        assert_eq!(h, hex::encode(table.hash()));
        assert_eq!(
            publish_table(&store, &table, 1).expect("again"),
            h,
            "idempotent"
        );
        assert_eq!(fetch_table(&store, &h).expect("fetches"), table);
        let missing = "00".repeat(32);
        let e = fetch_table(&store, &missing).expect_err("unknown");
        assert!(matches!(e, StoreError::TableNotFound { .. }), "{e}");
        assert!(
            store.put_table(b"{\"not\": 1}", 1).is_err(),
            "only tables are kept"
        );
        // Another table swapped in on disk under this hash is refused by the reader.
        let other = testing::small_table(6);
        let oh = publish_table(&store, &other, 1).expect("publishes");
        std::fs::copy(
            store.root().join("tables").join(format!("{oh}.json")),
            store.root().join("tables").join(format!("{h}.json")),
        )
        .expect("swaps");
        let e = fetch_table(&store, &h).expect_err("refused");
        assert!(matches!(e, StoreError::WrongTable { .. }), "{e}");
        assert!(e.to_string().contains(&h), "{e}");
    }

    #[test]
    fn a_lying_store_cannot_pass_off_another_bundle() {
        let t = tempfile::tempdir().expect("tempdir");
        let honest = hex::encode(testing::small_bundle(&t.path().join("a"), "wasm1a", 1, 1.0));
        testing::small_bundle(&t.path().join("b"), "wasm1a", 1, 2.0);
        let store = DirStore::open(&t.path().join("store")).expect("opens");
        let other = publish_bundle(&store, &t.path().join("b")).expect("publishes");
        // The index claims the honest hash is held by the other bundle's CID.
        store.index(&honest, &other.cid).expect("indexes");
        let dest = t.path().join("out");
        let e = fetch_bundle(
            &store,
            &Wanted {
                update_hash: &honest,
                cid: None,
            },
            &dest,
        )
        .expect_err("refused");
        assert!(matches!(e, StoreError::WrongBundle { .. }), "{e}");
        assert!(!dest.exists(), "nothing written for a wrong bundle");
        // A blob swapped on disk under a CID is caught by the CID check.
        let good = publish_bundle(&store, &t.path().join("a")).expect("publishes");
        std::fs::copy(
            store.root().join("blobs").join(other.cid.as_str()),
            store.root().join("blobs").join(good.cid.as_str()),
        )
        .expect("swaps");
        let e = store.get(&good.cid).expect_err("refused");
        assert!(matches!(e, StoreError::WrongBlob { .. }), "{e}");
    }
}
