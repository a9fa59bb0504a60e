//! The relayer's queue: bundles that passed every check, stored by update hash with their
//! signed commitment, so a restarted relayer neither loses nor double-posts one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use fairshare_protocol::round_manager::SignedCommitment;

use crate::bundle::{VerifiedBundle, ADAPTER_CONFIG_FILE, ADAPTER_FILE, MANIFEST_FILE};

/// File holding a queued bundle's signed commitment.
pub const COMMITMENT_FILE: &str = "commitment.json";

/// One round's queue.
pub struct Spool {
    dir: PathBuf,
}

impl Spool {
    pub fn new(root: &Path, round_id: u64) -> Self {
        Self {
            dir: root.join(format!("round-{round_id}")),
        }
    }

    /// Copies a verified bundle and its commitment into the queue (idempotent: same hash,
    /// same place). Returns where it is.
    pub fn put(&self, bundle: &VerifiedBundle, commitment: &SignedCommitment) -> Result<PathBuf> {
        let dest = self.dir.join(hex::encode(bundle.update_hash));
        std::fs::create_dir_all(&dest).with_context(|| format!("creating {}", dest.display()))?;
        for f in [ADAPTER_FILE, ADAPTER_CONFIG_FILE, MANIFEST_FILE] {
            std::fs::copy(bundle.dir.join(f), dest.join(f))
                .with_context(|| format!("copying {f}"))?;
        }
        // Written last and atomically: a bundle without its commitment is not pending yet.
        let tmp = dest.join(format!("{COMMITMENT_FILE}.tmp"));
        std::fs::write(&tmp, serde_json::to_vec_pretty(commitment)?)?;
        std::fs::rename(&tmp, dest.join(COMMITMENT_FILE))?;
        Ok(dest)
    }

    /// Every queued commitment, in update-hash order.
    pub fn pending(&self) -> Result<Vec<SignedCommitment>> {
        let mut out = vec![];
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Ok(out);
        };
        let mut dirs: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        dirs.sort();
        for d in dirs {
            let f = d.join(COMMITMENT_FILE);
            if f.exists() {
                let c: SignedCommitment = serde_json::from_slice(&std::fs::read(&f)?)
                    .with_context(|| format!("{} is corrupt", f.display()))?;
                out.push(c);
            }
        }
        Ok(out)
    }

    /// Tensor shapes of the first queued bundle, which every later bundle must match.
    pub fn shapes(&self) -> Result<Option<BTreeMap<String, Vec<usize>>>> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Ok(None);
        };
        let mut dirs: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        dirs.sort();
        for d in dirs {
            let f = d.join(ADAPTER_FILE);
            if let Ok(bytes) = std::fs::read(&f) {
                let t = safetensors::SafeTensors::deserialize(&bytes)
                    .with_context(|| format!("{} is corrupt", f.display()))?;
                return Ok(Some(
                    t.tensors()
                        .into_iter()
                        .map(|(n, v)| (n, v.shape().to_vec()))
                        .collect(),
                ));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::{verify, write, Expectation};
    use crate::keys::ParticipantKey;

    #[test]
    fn queue_survives_a_restart_and_is_idempotent() {
        let root = std::env::temp_dir().join(format!("fairshare-spool-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let k = ParticipantKey::from_seed(b"alice", "wasm").expect("key");
        let src = root.join("src");
        let seed = fairshare_trainer::lora::round_init_seed(5, "aa", None);
        let m = write::Module::with_round_a(
            "base_model.model.model.layers.0.self_attn.q_proj",
            seed,
            2,
            3,
            vec![0.2; 6],
        );
        write::bundle(&src, &[m], 2, 2.0, &["q_proj"], 5, "aa", k.address(), 10).expect("writes");
        let v = verify(
            &src,
            &Expectation {
                round_id: 5,
                base_model_hash: "aa".into(),
                max_update_norm: 10.0,
                shapes: None,
                lora_a_seed: seed,
            },
        )
        .expect("valid");
        let c = k
            .sign_commitment("c", "rm", 5, &v.update_hash)
            .expect("signs");
        let spool = Spool::new(&root.join("q"), 5);
        assert!(spool.pending().expect("empty").is_empty());
        spool.put(&v, &c).expect("queues");
        spool.put(&v, &c).expect("queues again");
        // A new Spool value is what a restarted relayer sees.
        let again = Spool::new(&root.join("q"), 5);
        assert_eq!(again.pending().expect("reads"), vec![c]);
        assert_eq!(again.shapes().expect("reads").expect("known").len(), 2);
        assert!(Spool::new(&root.join("q"), 6)
            .pending()
            .expect("other round")
            .is_empty());
    }
}
