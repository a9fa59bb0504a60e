//! Uploads nobody has vouched for yet: a bounded, expiring staging area of a [`DirStore`].
//!
//! Anyone can `POST /v1/bundles` to a relayer; a bundle only earns a permanent place once a
//! registered participant's signed commitment to it is accepted (then the relayer pins it,
//! [`BundleStore::pin`], which removes its staging marker). Until then it is *staged*: removed
//! (blob and update-hash index entry) once older than a time-to-live, and the staged bytes are
//! bounded: an upload that does not fit makes room by removing the oldest staged uploads.
//! Without this, anyone who can reach the relayer could fill its disk with archives no one will
//! ever commit to. Evicting rather than refusing means such an attacker cannot lock honest
//! participants out either: an honest upload is pinned by its commitment moments later, so to
//! evict it an attacker would have to push the whole limit through in that moment.
//!
//! ```text
//! <root>/staged/<cid>   "<update hash> <bytes>": a staged blob, its mtime the upload time
//! ```
//! Blobs without a marker (pinned ones, and those written before staging existed) are never
//! collected. A bundle uploaded again while staged is re-dated (its marker rewritten).

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::dir::{is_hex_hash, DirStore};
use super::{BundleStore, Cid, StoreError, MAX_BUNDLE_BYTES};

/// How much unvouched upload a relayer keeps, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagingLimits {
    /// Most bytes of staged archives at once; an upload past it is refused.
    pub bytes: u64,
    /// A staged archive older than this is collected (its commitment never came).
    pub ttl: Duration,
}

impl Default for StagingLimits {
    /// 8 GiB for a day: several rounds of many participants' adapters, and longer than a round
    /// stays open for commitments.
    fn default() -> Self {
        Self {
            bytes: 8 << 30,
            ttl: Duration::from_secs(24 * 3600),
        }
    }
}

/// The staging area of one store.
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
    limits: StagingLimits,
    /// Admissions one at a time, so two uploads cannot both fit in the last free bytes.
    lock: Mutex<()>,
}

/// One staged blob, as its marker records it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Staged {
    cid: Cid,
    update_hash: String,
    bytes: u64,
    at: SystemTime,
}

impl Staging {
    /// The staging area under `store`'s root (created if needed).
    pub fn open(store: &DirStore, limits: StagingLimits) -> Result<Self, StoreError> {
        let dir = store.root().join("staged");
        std::fs::create_dir_all(&dir).map_err(|e| io(store, &dir, e))?;
        Ok(Self {
            dir,
            limits,
            lock: Mutex::new(()),
        })
    }

    pub fn limits(&self) -> StagingLimits {
        self.limits
    }

    /// Stores `archive` (whose update hash is `update_hash`) as staged, after collecting what
    /// has expired and, if the staged bytes would pass the limit, the oldest staged uploads
    /// until it fits; refuses only an archive larger than the whole limit. An archive the store
    /// already keeps for good is not staged again.
    pub fn admit(
        &self,
        store: &DirStore,
        archive: &[u8],
        update_hash: &str,
    ) -> Result<Cid, StoreError> {
        if archive.len() as u64 > MAX_BUNDLE_BYTES {
            return Err(StoreError::TooLarge {
                size: archive.len() as u64,
            });
        }
        let _one_at_a_time = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let cid = Cid::of_raw(archive);
        let marker = self.dir.join(cid.as_str());
        let kept_for_good = store.contains(&cid) && !marker.exists();
        if kept_for_good {
            store.index(update_hash, &cid)?;
            return Ok(cid);
        }
        let size = archive.len() as u64;
        if size > self.limits.bytes {
            return Err(StoreError::StagingFull {
                store: store.describe(),
                size,
                limit: self.limits.bytes,
            });
        }
        let mut live: Vec<Staged> = self
            .collect(store, SystemTime::now())?
            .into_iter()
            .filter(|s| s.cid != cid)
            .collect();
        live.sort_by(|a, b| (a.at, a.cid.as_str()).cmp(&(b.at, b.cid.as_str())));
        let mut used: u64 = live.iter().map(|s| s.bytes).sum();
        for oldest in &live {
            if used.saturating_add(size) <= self.limits.bytes {
                break;
            }
            self.remove(store, oldest)?;
            used -= oldest.bytes;
            tracing::info!(cid = %oldest.cid, update_hash = %oldest.update_hash, bytes = oldest.bytes, "an upload nobody committed to was evicted to make room");
        }
        // The marker first: a crash between the two leaves a marker without a blob (dropped
        // at the next collection), never an unaccounted blob.
        std::fs::write(&marker, format!("{update_hash} {size}\n"))
            .map_err(|e| io(store, &marker, e))?;
        let put = store.put(archive)?;
        store.index(update_hash, &put)?;
        Ok(put)
    }

    /// Bytes staged now (expired ones not counted).
    pub fn used(&self, store: &DirStore) -> Result<u64, StoreError> {
        let now = SystemTime::now();
        Ok(self
            .read(store)?
            .iter()
            .filter(|s| !self.expired(s, now))
            .map(|s| s.bytes)
            .sum())
    }

    fn expired(&self, s: &Staged, now: SystemTime) -> bool {
        now.duration_since(s.at).unwrap_or_default() > self.limits.ttl
    }

    /// Removes every expired staged blob with its index entry and marker; returns the rest.
    fn collect(&self, store: &DirStore, now: SystemTime) -> Result<Vec<Staged>, StoreError> {
        let mut live = vec![];
        for s in self.read(store)? {
            if !self.expired(&s, now) {
                live.push(s);
                continue;
            }
            self.remove(store, &s)?;
            tracing::info!(cid = %s.cid, update_hash = %s.update_hash, bytes = s.bytes, "an upload nobody committed to expired; removed");
        }
        Ok(live)
    }

    /// Removes a staged blob, its index entry (only if it still points here: a later upload
    /// may own the hash) and its marker.
    fn remove(&self, store: &DirStore, s: &Staged) -> Result<(), StoreError> {
        if store.lookup(&s.update_hash)?.as_ref() == Some(&s.cid) {
            store.unindex(&s.update_hash)?;
        }
        store.remove(&s.cid)?;
        let marker = self.dir.join(s.cid.as_str());
        match std::fs::remove_file(&marker) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(store, &marker, e)),
            _ => Ok(()),
        }
    }

    /// Every marker; one that cannot be read is treated as expired garbage of size 0.
    fn read(&self, store: &DirStore) -> Result<Vec<Staged>, StoreError> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| io(store, &self.dir, e))?;
        let mut out = vec![];
        for e in entries.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(cid) = Cid::parse(&name) else {
                continue;
            };
            let at = e
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            let mut words = text.split_whitespace();
            let (hash, bytes) = match (words.next(), words.next().map(str::parse::<u64>)) {
                (Some(h), Some(Ok(b))) if is_hex_hash(h) => (h.to_string(), b),
                _ => (String::new(), 0),
            };
            let at = if hash.is_empty() {
                SystemTime::UNIX_EPOCH
            } else {
                at
            };
            out.push(Staged {
                cid,
                update_hash: hash,
                bytes,
                at,
            });
        }
        out.sort_by(|a, b| a.cid.as_str().cmp(b.cid.as_str()));
        Ok(out)
    }
}

fn io(store: &DirStore, path: &std::path::Path, e: std::io::Error) -> StoreError {
    StoreError::Io {
        store: store.describe(),
        reason: format!("{}: {e}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::archive_update_hash;

    fn archive(seed: u8, len: usize) -> (Vec<u8>, String) {
        // Not a bundle: staging only needs bytes and a hash to index them by.
        let bytes: Vec<u8> = (0..len).map(|i| seed.wrapping_add(i as u8)).collect();
        let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
        (bytes, hash)
    }

    fn age(staging: &Staging, cid: &Cid, by: Duration) {
        let f = std::fs::File::options()
            .write(true)
            .open(staging.dir.join(cid.as_str()))
            .expect("marker");
        f.set_modified(SystemTime::now() - by).expect("set mtime");
    }

    #[test]
    fn the_oldest_unvouched_uploads_make_room_and_expired_ones_go() {
        let t = tempfile::tempdir().expect("tempdir");
        let store = DirStore::open(t.path()).expect("store");
        let limits = StagingLimits {
            bytes: 2500,
            ttl: Duration::from_secs(60),
        };
        let staging = Staging::open(&store, limits).expect("staging");
        let (a, ha) = archive(1, 1000);
        let (b, hb) = archive(2, 1000);
        let (c, hc) = archive(3, 1000);
        let ca = staging.admit(&store, &a, &ha).expect("first fits");
        age(&staging, &ca, Duration::from_secs(20));
        let cb = staging.admit(&store, &b, &hb).expect("second fits");
        age(&staging, &cb, Duration::from_secs(10));
        assert_eq!(staging.used(&store).expect("used"), 2000);
        // The third does not fit: the oldest (a) goes, blob and index entry.
        let cc = staging.admit(&store, &c, &hc).expect("third makes room");
        assert!(store.lookup(&ha).expect("lookup").is_none());
        assert!(matches!(store.get(&ca), Err(StoreError::NotFound { .. })));
        assert_eq!(store.get(&cb).expect("b kept"), b);
        assert_eq!(store.get(&cc).expect("c kept"), c);
        assert_eq!(staging.used(&store).expect("used"), 2000);
        // One archive larger than the whole limit is refused, saying so, and evicts nothing.
        let (big, hbig) = archive(4, 3000);
        let msg = staging
            .admit(&store, &big, &hbig)
            .expect_err("too large")
            .to_string();
        assert!(msg.contains("3000") && msg.contains("2500"), "{msg}");
        assert_eq!(staging.used(&store).expect("used"), 2000);
        // Past the time-to-live an upload is collected at the next admission.
        age(&staging, &cb, Duration::from_secs(120));
        staging.admit(&store, &a, &ha).expect("a again");
        assert!(store.lookup(&hb).expect("lookup").is_none(), "b expired");
        assert_eq!(staging.used(&store).expect("used"), 2000);
    }

    #[test]
    fn a_pinned_upload_is_never_evicted_and_frees_its_room() {
        let t = tempfile::tempdir().expect("tempdir");
        let store = DirStore::open(t.path()).expect("store");
        let limits = StagingLimits {
            bytes: 1500,
            ttl: Duration::from_secs(60),
        };
        let staging = Staging::open(&store, limits).expect("staging");
        let (a, ha) = archive(7, 1000);
        let (b, hb) = archive(8, 1000);
        let (c, hc) = archive(9, 1000);
        let ca = staging.admit(&store, &a, &ha).expect("fits");
        store.pin(&ca).expect("pinned");
        assert_eq!(staging.used(&store).expect("used"), 0);
        // Uploads that are never committed push each other out, never the pinned one.
        let cb = staging.admit(&store, &b, &hb).expect("b");
        age(&staging, &cb, Duration::from_secs(5));
        staging.admit(&store, &c, &hc).expect("c evicts b");
        assert!(store.lookup(&hb).expect("lookup").is_none());
        assert_eq!(store.get(&ca).expect("pinned a kept"), a);
        // Uploading a kept archive again is free and keeps it for good.
        assert_eq!(staging.admit(&store, &a, &ha).expect("free"), ca);
        assert_eq!(staging.used(&store).expect("used"), 1000);
        assert_eq!(store.lookup(&ha).expect("lookup"), Some(ca));
    }

    #[test]
    fn a_real_bundle_archive_is_indexed_by_its_update_hash() {
        let t = tempfile::tempdir().expect("tempdir");
        let store = DirStore::open(&t.path().join("store")).expect("store");
        let staging = Staging::open(&store, StagingLimits::default()).expect("staging");
        let files = [
            (crate::bundle::ADAPTER_FILE, b"weights".to_vec()),
            (crate::bundle::ADAPTER_CONFIG_FILE, b"{}".to_vec()),
            (crate::bundle::MANIFEST_FILE, b"{}".to_vec()),
        ];
        let dir = t.path().join("bundle");
        std::fs::create_dir_all(&dir).expect("dir");
        for (name, bytes) in &files {
            std::fs::write(dir.join(name), bytes).expect("write");
        }
        let archive = crate::store::pack(&dir).expect("pack");
        let hash = archive_update_hash(&archive).expect("hash");
        let cid = staging.admit(&store, &archive, &hash).expect("admitted");
        assert_eq!(store.lookup(&hash).expect("lookup"), Some(cid));
        assert_eq!(staging.used(&store).expect("used"), archive.len() as u64);
    }
}
