//! An evaluator's sealed report: the report it committed to and the salt that opens the
//! commitment, kept privately (a file only its owner can read) from commit until reveal.

use std::path::Path;

use cosmwasm_std::HexBinary;
use fairshare_protocol::report::{digest, SALT_LEN};
use fairshare_protocol::round_manager::Report;
use serde::{Deserialize, Serialize};

/// A report, its salt and the digest they make, for one evaluator in one round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SealedReport {
    pub round_manager: String,
    pub round_id: u64,
    pub evaluator: String,
    /// What goes on chain at commit time: `report::digest(round_manager, round_id, evaluator,
    /// report, salt)`.
    pub digest: HexBinary,
    pub salt: HexBinary,
    pub report: Report,
}

/// Why a sealed report cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SealedError {
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
    #[error("{path} is not a sealed report: {reason}")]
    Format { path: String, reason: String },
    #[error("{path}: the salt must be {SALT_LEN} bytes, it has {0}", path = .1)]
    Salt(usize, String),
    #[error("{path}: the report and salt do not make the recorded digest (the file was edited after the commit)")]
    Digest { path: String },
}

impl SealedReport {
    /// Seals `report` with a fresh random salt.
    pub fn new(round_manager: &str, round_id: u64, evaluator: &str, report: Report) -> Self {
        let salt: [u8; SALT_LEN] = rand::random();
        let d = digest(round_manager, round_id, evaluator, &report, &salt);
        Self {
            round_manager: round_manager.to_string(),
            round_id,
            evaluator: evaluator.to_string(),
            digest: HexBinary::from(d.to_vec()),
            salt: HexBinary::from(salt.to_vec()),
            report,
        }
    }

    /// The salt as the 32 bytes the round-manager expects.
    pub fn salt_bytes(&self) -> Result<[u8; SALT_LEN], SealedError> {
        self.salt
            .as_slice()
            .try_into()
            .map_err(|_| SealedError::Salt(self.salt.len(), self.evaluator.clone()))
    }

    /// Writes the file so that only its owner can read it (the salt must stay secret until
    /// the reveal, or anyone could open the commitment early).
    pub fn write(&self, path: &Path) -> Result<(), SealedError> {
        let io = |e: std::io::Error| SealedError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| SealedError::Format {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        use std::io::Write as _;
        opts.open(path)
            .and_then(|mut f| f.write_all(&bytes))
            .map_err(io)
    }

    /// Reads a sealed report back and checks that it still opens its digest.
    pub fn read(path: &Path) -> Result<Self, SealedError> {
        let p = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| SealedError::Io {
            path: p.clone(),
            reason: e.to_string(),
        })?;
        let me: Self = serde_json::from_slice(&bytes).map_err(|e| SealedError::Format {
            path: p.clone(),
            reason: e.to_string(),
        })?;
        let salt = me.salt_bytes()?;
        let d = digest(
            &me.round_manager,
            me.round_id,
            &me.evaluator,
            &me.report,
            &salt,
        );
        if d.as_slice() != me.digest.as_slice() {
            return Err(SealedError::Digest { path: p });
        }
        Ok(me)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cosmwasm_std::SignedDecimal;

    #[test]
    fn a_sealed_report_round_trips_and_detects_edits() {
        let report = Report {
            aggregate_hash: HexBinary::from(vec![0u8; 32]),
            table_hash: HexBinary::from(vec![1u8; 32]),
            delta_u: SignedDecimal::percent(5),
            dof: 7,
            scores: vec![],
        };
        let s = SealedReport::new("wasm1rm", 3, "wasm1eve", report);
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sealed/round-3.json");
        s.write(&path).expect("written");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o077, 0, "only the owner reads the salt");
        }
        assert_eq!(SealedReport::read(&path).expect("reads"), s);
        let mut edited = s.clone();
        edited.report.delta_u = SignedDecimal::percent(6);
        edited.write(&path).expect("written");
        assert!(matches!(
            SealedReport::read(&path),
            Err(SealedError::Digest { .. })
        ));
    }
}
