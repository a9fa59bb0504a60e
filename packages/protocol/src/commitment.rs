//! The commitment scheme: what a participant signs to bind its update to a round.
//!
//! `update_hash = sha256(adapter_model.safetensors bytes)` never appears on chain before the
//! bundles are published. What a participant commits is its *binding*
//!
//! ```text
//! commitment = sha256( BINDING_DOMAIN || lp(participant) || update_hash )
//! ```
//!
//! so the committed value names its participant: someone who copies it from the mempool and
//! commits it under another identity holds a value no bundle of theirs can open, and is a
//! no-show. The participant signs (secp256k1, ECDSA over a SHA-256 prehash, 64-byte `r || s`,
//! low-S: `s ≤ n/2`, a high-S signature is refused) the digest
//!
//! ```text
//! sha256( DOMAIN || lp(chain_id) || lp(contract) || round_id (u64 BE) || lp(participant) || commitment )
//! ```
//!
//! where `lp(x)` is `x`'s length as u32 big-endian followed by its bytes. Every field is bound,
//! so a signature is valid for one chain, one round-manager contract, one round and one
//! participant only, and the length prefixes make the encoding injective.

use ripemd::Ripemd160;
use sha2::{Digest, Sha256};

/// Domain tag that separates Fairshare commitments from any other secp256k1 signature.
pub const COMMITMENT_DOMAIN: &[u8] = b"fairshare/update-commitment/v1";
/// Domain tag of the binding of a participant to its update hash.
pub const BINDING_DOMAIN: &[u8] = b"fairshare/update-binding/v1";
/// Length of an update hash (SHA-256).
pub const UPDATE_HASH_LEN: usize = 32;
/// Length of a compact secp256k1 signature (`r || s`).
pub const SIGNATURE_LEN: usize = 64;
/// Length of a compressed secp256k1 public key.
pub const PUBKEY_LEN: usize = 33;

/// What a commitment signature binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitmentContext<'a> {
    /// Chain id of the chain the round-manager lives on.
    pub chain_id: &'a str,
    /// Address of the round-manager contract.
    pub contract: &'a str,
    /// Round the update belongs to.
    pub round_id: u64,
    /// Address of the participant that trained the update.
    pub participant: &'a str,
}

impl CommitmentContext<'_> {
    /// The 32-byte digest a participant signs for its `commitment` (see [`binding`]).
    pub fn digest(&self, commitment: &[u8; UPDATE_HASH_LEN]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(COMMITMENT_DOMAIN);
        length_prefixed(&mut h, self.chain_id.as_bytes());
        length_prefixed(&mut h, self.contract.as_bytes());
        h.update(self.round_id.to_be_bytes());
        length_prefixed(&mut h, self.participant.as_bytes());
        h.update(commitment);
        h.finalize().into()
    }
}

/// The value `participant` commits for an update: its address bound to the update's hash.
pub fn binding(participant: &str, update_hash: &[u8; UPDATE_HASH_LEN]) -> [u8; UPDATE_HASH_LEN] {
    let mut h = Sha256::new();
    h.update(BINDING_DOMAIN);
    length_prefixed(&mut h, participant.as_bytes());
    h.update(update_hash);
    h.finalize().into()
}

/// Half the order of secp256k1, big-endian: a low-S signature has `s ≤` this.
pub const SECP256K1_HALF_ORDER: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
];

/// Whether a 64-byte `r || s` signature has a low S (`s ≤ n/2`), the one form accepted.
pub fn is_low_s(signature: &[u8]) -> bool {
    signature.len() == SIGNATURE_LEN && signature[32..] <= SECP256K1_HALF_ORDER[..]
}

fn length_prefixed(h: &mut Sha256, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    h.update(len.to_be_bytes());
    h.update(bytes);
}

/// SHA-256 of an update's `adapter_model.safetensors` bytes.
pub fn update_hash(adapter_bytes: &[u8]) -> [u8; UPDATE_HASH_LEN] {
    Sha256::digest(adapter_bytes).into()
}

/// Why a public key cannot be a participant's key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PubkeyError {
    #[error("public key must be {PUBKEY_LEN} bytes (compressed secp256k1), got {0}")]
    Length(usize),
    #[error("public key must start with 0x02 or 0x03 (compressed secp256k1), got 0x{0:02x}")]
    Prefix(u8),
}

/// The 20 address bytes a Cosmos SDK chain derives from a secp256k1 public key:
/// `ripemd160(sha256(compressed_pubkey))`.
pub fn address_bytes(pubkey: &[u8]) -> Result<[u8; 20], PubkeyError> {
    if pubkey.len() != PUBKEY_LEN {
        return Err(PubkeyError::Length(pubkey.len()));
    }
    if pubkey[0] != 0x02 && pubkey[0] != 0x03 {
        return Err(PubkeyError::Prefix(pubkey[0]));
    }
    let sha = Sha256::digest(pubkey);
    Ok(Ripemd160::digest(sha).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k256::ecdsa::signature::hazmat::PrehashVerifier;
    use k256::ecdsa::{Signature, SigningKey};

    fn ctx() -> CommitmentContext<'static> {
        CommitmentContext {
            chain_id: "fairshare-1",
            contract: "wasm1contract",
            round_id: 7,
            participant: "wasm1alice",
        }
    }

    #[test]
    fn digest_binds_every_field() {
        let h = [9u8; 32];
        let base = ctx().digest(&h);
        let variants = [
            CommitmentContext {
                chain_id: "fairshare-2",
                ..ctx()
            },
            CommitmentContext {
                contract: "wasm1other",
                ..ctx()
            },
            CommitmentContext {
                round_id: 8,
                ..ctx()
            },
            CommitmentContext {
                participant: "wasm1bob",
                ..ctx()
            },
        ];
        for v in variants {
            assert_ne!(v.digest(&h), base, "{v:?} must change the digest");
        }
        assert_ne!(ctx().digest(&[8u8; 32]), base);
        assert_eq!(ctx().digest(&h), base, "digest is deterministic");
    }

    #[test]
    fn length_prefix_makes_encoding_injective() {
        // Moving a byte from one string field to the next must change the digest.
        let a = CommitmentContext {
            chain_id: "ab",
            contract: "c",
            ..ctx()
        };
        let b = CommitmentContext {
            chain_id: "a",
            contract: "bc",
            ..ctx()
        };
        assert_ne!(a.digest(&[0; 32]), b.digest(&[0; 32]));
    }

    #[test]
    fn signature_over_digest_verifies_with_k256() {
        let sk = SigningKey::from_slice(&[7u8; 32]).expect("valid scalar");
        let digest = ctx().digest(&update_hash(b"adapter bytes"));
        let (sig, _): (Signature, _) = sk.sign_prehash_recoverable(&digest).expect("signs");
        sk.verifying_key()
            .verify_prehash(&digest, &sig)
            .expect("verifies");
        let other = CommitmentContext {
            round_id: 8,
            ..ctx()
        }
        .digest(&update_hash(b"adapter bytes"));
        assert!(sk.verifying_key().verify_prehash(&other, &sig).is_err());
    }

    /// The worked example of README's protocol section, computed independently there.
    #[test]
    fn readme_worked_example() {
        let h = update_hash(b"adapter bytes");
        assert_eq!(
            hex_encode(&h),
            "dd70d2c1a473d6e87c6dd52a250ca1c9f055a3910d10f1674121461cf6c96bf7"
        );
        let c = binding("wasm1alice", &h);
        assert_eq!(
            hex_encode(&c),
            "f9cf7ec884d9111d32f351df6149dddfae62c8f17a28d2ee8d919fdb51a5ed4f"
        );
        let ctx = CommitmentContext {
            chain_id: "fairshare-1",
            contract: "wasm1contract",
            round_id: 7,
            participant: "wasm1alice",
        };
        assert_eq!(
            hex_encode(&ctx.digest(&c)),
            "7cfbfa856ca35f1ea594b7d501ebcac3757a61e9e2db44f69cbba2c9e4049ba1"
        );
        let readme = include_str!("../../../README.md");
        for hex in [
            "dd70d2c1a473d6e87c6dd52a250ca1c9f055a3910d10f1674121461cf6c96bf7",
            "f9cf7ec884d9111d32f351df6149dddfae62c8f17a28d2ee8d919fdb51a5ed4f",
            "7cfbfa856ca35f1ea594b7d501ebcac3757a61e9e2db44f69cbba2c9e4049ba1",
        ] {
            assert!(readme.contains(hex), "README's worked example shows {hex}");
        }
    }

    #[test]
    fn binding_names_its_participant() {
        let h = [3u8; 32];
        assert_ne!(binding("wasm1alice", &h), binding("wasm1bob", &h));
        assert_ne!(binding("wasm1alice", &h), binding("wasm1alice", &[4u8; 32]));
        assert_ne!(binding("wasm1alice", &h), h);
    }

    #[test]
    fn low_s_is_the_normalised_form() {
        let sk = SigningKey::from_slice(&[7u8; 32]).expect("valid scalar");
        let digest = ctx().digest(&[1u8; 32]);
        let (sig, _): (Signature, _) = sk.sign_prehash_recoverable(&digest).expect("signs");
        let low = sig.normalize_s().unwrap_or(sig);
        assert!(is_low_s(&low.to_bytes()));
        // n − s is the high-S twin of the same signature.
        let (r, s) = low.split_scalars();
        let high = Signature::from_scalars(r, -*s).expect("valid scalars");
        assert!(!is_low_s(&high.to_bytes()));
        assert!(!is_low_s(&[0u8; 63]));
    }

    #[test]
    fn address_bytes_checks_key_shape() {
        assert_eq!(address_bytes(&[2u8; 32]), Err(PubkeyError::Length(32)));
        let mut k = [2u8; 33];
        k[0] = 4;
        assert_eq!(address_bytes(&k), Err(PubkeyError::Prefix(4)));
        k[0] = 3;
        let a = address_bytes(&k).expect("well-formed key");
        k[5] = 9;
        assert_ne!(address_bytes(&k).expect("well-formed key"), a);
    }

    #[test]
    fn address_bytes_known_vector() {
        // Cosmos SDK secp256k1 address of the generator point G (compressed):
        // ripemd160(sha256(0279be66...f81798)).
        let g = hex_decode("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798");
        let addr = address_bytes(&g).expect("G is a valid key");
        assert_eq!(
            hex_encode(&addr),
            "751e76e8199196d454941c45d1b3a323f1433bd6"
        );
    }

    fn hex_decode(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    fn hex_encode(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
