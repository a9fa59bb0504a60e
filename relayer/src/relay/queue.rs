//! The relayer's durable queue of accepted commitments.
//!
//! ```text
//! <dir>/round-<id>/pending/<participant>.json   accepted, not yet seen on chain
//! <dir>/round-<id>/done/<participant>.json      seen on chain (kept for the round's record)
//! <dir>/round-<id>/quarantine/<file>.<unix-ms>   an entry that could not be read (set aside)
//! ```
//! A corrupt or partial entry (a disk error, an edit by hand, a file from another version) does
//! not stop the round: it is moved to `quarantine/` with an error log naming the file and the
//! reason, and the other entries are posted. Its participant can resubmit, or post itself.
//! An entry is written to a temporary file, flushed to disk and renamed into place before the
//! relayer answers the participant, so a killed relayer loses nothing it acknowledged. Nothing
//! is posted twice: before every batch the chain is asked which participants already committed
//! (the chain is the source of truth) and those entries move to `done/` unposted; the
//! round-manager itself also skips a participant that committed already.

use std::path::{Path, PathBuf};

use fairshare_protocol::round_manager::{self as rm, SignedCommitment};
use serde::{Deserialize, Serialize};

use crate::chain::{Chain, ChainError, ChainExt};
use crate::keys::ParticipantKey;
use crate::ops::{round, Deployment};
use crate::store::Cid;

/// One accepted commitment and where its bundle is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub round_id: u64,
    pub commitment: SignedCommitment,
    /// Hex update hash of the bundle (checked against the commitment when accepted).
    pub update_hash: String,
    pub cid: Cid,
    /// Bytes of the bundle archive.
    pub bytes: u64,
}

/// Why the queue failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("relayer queue {path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error("relayer queue entry {path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// The queue under one directory.
#[derive(Debug, Clone)]
pub struct Queue {
    dir: PathBuf,
}

/// What one pass of [`Queue::drain`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Drained {
    /// Commitments posted in this pass.
    pub posted: usize,
    /// Entries found already on chain (posted before a restart, or by the participant itself).
    pub already_on_chain: usize,
    /// Transactions sent.
    pub batches: usize,
    /// Entries left pending (their round no longer takes commitments, or a batch failed).
    pub left: usize,
}

fn file_name(participant: &str) -> String {
    // Bech32 addresses are lowercase alphanumerics; anything else is refused upstream.
    format!("{participant}.json")
}

impl Queue {
    /// The queue at `dir` (created on first write).
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    fn round_dir(&self, round_id: u64, state: &str) -> PathBuf {
        self.dir.join(format!("round-{round_id}")).join(state)
    }

    fn io(path: &Path, e: std::io::Error) -> QueueError {
        QueueError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    }

    /// Adds an entry durably (fsync of the file and its directory). Idempotent for the same
    /// participant: a newer entry replaces an older pending one; an entry already done stays.
    pub fn put(&self, e: &Entry) -> Result<(), QueueError> {
        let participant = &e.commitment.participant;
        if !participant
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(QueueError::Corrupt {
                path: self.dir.clone(),
                reason: format!("{participant:?} is not a bech32 address"),
            });
        }
        if self
            .round_dir(e.round_id, "done")
            .join(file_name(participant))
            .exists()
        {
            return Ok(());
        }
        let dir = self.round_dir(e.round_id, "pending");
        std::fs::create_dir_all(&dir).map_err(|err| Self::io(&dir, err))?;
        let path = dir.join(file_name(participant));
        // Unique per call: two concurrent requests for one participant must not interleave.
        let tmp = dir.join(format!(".{participant}.{:016x}.tmp", rand::random::<u64>()));
        let bytes = serde_json::to_vec_pretty(e).map_err(|err| QueueError::Corrupt {
            path: path.clone(),
            reason: err.to_string(),
        })?;
        {
            use std::io::Write as _;
            let mut f = std::fs::File::create(&tmp).map_err(|err| Self::io(&tmp, err))?;
            f.write_all(&bytes).map_err(|err| Self::io(&tmp, err))?;
            f.sync_all().map_err(|err| Self::io(&tmp, err))?;
        }
        std::fs::rename(&tmp, &path).map_err(|err| Self::io(&path, err))?;
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|err| Self::io(&dir, err))
    }

    /// Sets a file that cannot be read as an entry aside under the round's `quarantine/`,
    /// logging the file and the reason. A file that cannot even be moved stays where it is
    /// (skipped, and logged again on the next pass).
    fn quarantine(&self, round_dir: &Path, path: &Path, reason: &str) {
        let qdir = round_dir
            .parent()
            .map(|r| r.join("quarantine"))
            .unwrap_or_else(|| self.dir.join("quarantine"));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "entry".into());
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let to = qdir.join(format!("{name}.{stamp}"));
        let moved = std::fs::create_dir_all(&qdir).and_then(|()| std::fs::rename(path, &to));
        match moved {
            Ok(()) => tracing::error!(
                file = %path.display(),
                moved_to = %to.display(),
                reason,
                "relayer queue: a corrupt entry was set aside; the round goes on without it \
                 (its participant may resubmit or post its commitment itself)"
            ),
            Err(e) => tracing::error!(
                file = %path.display(),
                reason,
                error = %e,
                "relayer queue: a corrupt entry is skipped and could not be moved aside"
            ),
        }
    }

    /// The files set aside as corrupt for a round.
    pub fn quarantined(&self, round_id: u64) -> Vec<PathBuf> {
        let dir = self
            .dir
            .join(format!("round-{round_id}"))
            .join("quarantine");
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    fn read_dir_entries(&self, dir: &Path) -> Result<Vec<Entry>, QueueError> {
        let mut out = vec![];
        let Ok(rd) = std::fs::read_dir(dir) else {
            return Ok(out);
        };
        let mut paths: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        let round_id: Option<u64> = dir
            .parent()
            .and_then(|r| r.file_name())
            .and_then(|n| n.to_string_lossy().strip_prefix("round-")?.parse().ok());
        for p in paths {
            let bytes = match std::fs::read(&p) {
                Ok(b) => b,
                // Gone meanwhile (moved to done/ by another pass): nothing to read.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Self::io(&p, e)),
            };
            let entry = serde_json::from_slice::<Entry>(&bytes)
                .map_err(|e| e.to_string())
                .and_then(|e| {
                    let expected = file_name(&e.commitment.participant);
                    let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
                    if name.as_deref() != Some(expected.as_str()) {
                        Err(format!(
                            "it holds the commitment of {} under another file name",
                            e.commitment.participant
                        ))
                    } else if round_id.is_some_and(|r| r != e.round_id) {
                        Err(format!("it is an entry of round {}", e.round_id))
                    } else {
                        Ok(e)
                    }
                });
            match entry {
                Ok(e) => out.push(e),
                Err(reason) => self.quarantine(dir, &p, &reason),
            }
        }
        Ok(out)
    }

    /// The pending entries of a round, in participant order.
    pub fn pending(&self, round_id: u64) -> Result<Vec<Entry>, QueueError> {
        self.read_dir_entries(&self.round_dir(round_id, "pending"))
    }

    /// The entries of a round seen on chain.
    pub fn done(&self, round_id: u64) -> Result<Vec<Entry>, QueueError> {
        self.read_dir_entries(&self.round_dir(round_id, "done"))
    }

    /// Every entry of a round, pending or done.
    pub fn all(&self, round_id: u64) -> Result<Vec<Entry>, QueueError> {
        let mut v = self.done(round_id)?;
        v.extend(self.pending(round_id)?);
        v.sort_by(|a, b| a.commitment.participant.cmp(&b.commitment.participant));
        Ok(v)
    }

    /// Rounds with a directory in the queue, ascending.
    pub fn rounds(&self) -> Vec<u64> {
        let mut v: Vec<u64> = std::fs::read_dir(&self.dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter_map(|e| {
                        e.file_name()
                            .to_string_lossy()
                            .strip_prefix("round-")
                            .and_then(|n| n.parse().ok())
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort_unstable();
        v
    }

    /// Moves a pending entry to `done/`.
    pub fn mark_done(&self, round_id: u64, participant: &str) -> Result<(), QueueError> {
        let from = self
            .round_dir(round_id, "pending")
            .join(file_name(participant));
        let dir = self.round_dir(round_id, "done");
        std::fs::create_dir_all(&dir).map_err(|e| Self::io(&dir, e))?;
        match std::fs::rename(&from, dir.join(file_name(participant))) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Self::io(&from, e)),
        }
    }

    /// Posts the pending commitments of every round in batches of `batch_size`, after asking
    /// the chain which are already there. A round that no longer takes commitments keeps its
    /// entries pending (reported in `left`); a failed batch stops the pass with its error after
    /// recording what went through.
    pub fn drain(
        &self,
        chain: &mut dyn Chain,
        d: &Deployment,
        poster: &ParticipantKey,
        batch_size: usize,
    ) -> Result<Drained, QueueError> {
        let mut out = Drained::default();
        for round_id in self.rounds() {
            let pending = self.pending(round_id)?;
            if pending.is_empty() {
                continue;
            }
            let mut todo = vec![];
            for e in pending {
                let p: Result<rm::ParticipantResponse, _> = chain.query(
                    d.round_manager.as_str(),
                    &rm::QueryMsg::Participant {
                        round_id,
                        participant: e.commitment.participant.clone(),
                    },
                );
                match p {
                    Ok(p) if p.commitment.is_some() => {
                        self.mark_done(round_id, &e.commitment.participant)?;
                        out.already_on_chain += 1;
                    }
                    Ok(_) => todo.push(e),
                    // Unknown to the chain yet (not joined): keep it, it may join later.
                    Err(ChainError::Query(_)) => out.left += 1,
                    Err(err) => return Err(err.into()),
                }
            }
            let status = round::status(chain, d, round_id)?;
            if !matches!(status.phase, rm::Phase::Open | rm::Phase::Training) {
                out.left += todo.len();
                continue;
            }
            for chunk in todo.chunks(batch_size.max(1)) {
                let batch: Vec<SignedCommitment> =
                    chunk.iter().map(|e| e.commitment.clone()).collect();
                round::commit(chain, d, poster, round_id, batch, chunk.len())?;
                out.batches += 1;
                for e in chunk {
                    self.mark_done(round_id, &e.commitment.participant)?;
                    out.posted += 1;
                }
            }
        }
        Ok(out)
    }
}
