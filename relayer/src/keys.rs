//! Participant keys: secp256k1 signing keys, the Cosmos address they derive and the
//! commitment signatures the round-manager verifies.

use bech32::{Bech32, Hrp};
use cosmwasm_std::HexBinary;
use fairshare_protocol::commitment::{address_bytes, binding, CommitmentContext};
use fairshare_protocol::round_manager::SignedCommitment;
use k256::ecdsa::{Signature, SigningKey};
use sha2::{Digest, Sha256};

/// Why a key cannot be made or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("address prefix {0:?} is not a valid bech32 prefix")]
    Prefix(String),
    #[error("could not encode the address: {0}")]
    Encode(String),
    #[error("signing failed: {0}")]
    Sign(String),
}

/// A participant's secp256k1 key and the address it controls on one chain.
#[derive(Clone)]
pub struct ParticipantKey {
    signing: SigningKey,
    address: String,
}

impl std::fmt::Debug for ParticipantKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParticipantKey")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl ParticipantKey {
    /// A deterministic key derived from `seed` (for tests, demos and local accounts).
    pub fn from_seed(seed: &[u8], prefix: &str) -> Result<Self, KeyError> {
        let mut material: [u8; 32] = Sha256::digest(seed).into();
        // A SHA-256 output is a valid scalar with overwhelming probability; rehash otherwise.
        let signing = loop {
            match SigningKey::from_slice(&material) {
                Ok(k) => break k,
                Err(_) => material = Sha256::digest(material).into(),
            }
        };
        Self::from_signing_key(signing, prefix)
    }

    /// Wraps an existing signing key.
    pub fn from_signing_key(signing: SigningKey, prefix: &str) -> Result<Self, KeyError> {
        let hrp = Hrp::parse(prefix).map_err(|_| KeyError::Prefix(prefix.to_string()))?;
        let pubkey = compressed(&signing);
        let raw = address_bytes(&pubkey).map_err(|e| KeyError::Encode(e.to_string()))?;
        let address =
            bech32::encode::<Bech32>(hrp, &raw).map_err(|e| KeyError::Encode(e.to_string()))?;
        Ok(Self { signing, address })
    }

    /// The bech32 address this key controls.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The compressed public key (33 bytes).
    pub fn pubkey(&self) -> HexBinary {
        HexBinary::from(compressed(&self.signing).to_vec())
    }

    /// Commits to `update_hash` in `round_id` on `chain_id` / `contract`: binds this key's
    /// address to the hash and signs the commitment digest of that binding.
    pub fn sign_commitment(
        &self,
        chain_id: &str,
        contract: &str,
        round_id: u64,
        update_hash: &[u8; 32],
    ) -> Result<SignedCommitment, KeyError> {
        let commitment = binding(&self.address, update_hash);
        let digest = CommitmentContext {
            chain_id,
            contract,
            round_id,
            participant: &self.address,
        }
        .digest(&commitment);
        Ok(SignedCommitment {
            participant: self.address.clone(),
            commitment: HexBinary::from(commitment.to_vec()),
            signature: self.sign_digest(&digest)?,
        })
    }

    /// A 64-byte low-S signature of a 32-byte digest.
    pub fn sign_digest(&self, digest: &[u8; 32]) -> Result<HexBinary, KeyError> {
        let (sig, _): (Signature, _) = self
            .signing
            .sign_prehash_recoverable(digest)
            .map_err(|e| KeyError::Sign(e.to_string()))?;
        let sig = sig.normalize_s().unwrap_or(sig);
        Ok(HexBinary::from(sig.to_bytes().to_vec()))
    }
}

fn compressed(k: &SigningKey) -> [u8; 33] {
    let point = k.verifying_key().to_encoded_point(true);
    let mut out = [0u8; 33];
    out.copy_from_slice(point.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_derives_from_pubkey() {
        let k = ParticipantKey::from_seed(b"alice", "wasm").expect("key");
        assert!(k.address().starts_with("wasm1"));
        assert_eq!(k.address().len(), 43, "20-byte bech32 address");
        let other = ParticipantKey::from_seed(b"bob", "wasm").expect("key");
        assert_ne!(k.address(), other.address());
        assert_eq!(k.pubkey().len(), 33);
    }

    #[test]
    fn bad_prefix_is_an_error() {
        assert!(matches!(
            ParticipantKey::from_seed(b"x", "UPPER lower"),
            Err(KeyError::Prefix(_))
        ));
    }
}
