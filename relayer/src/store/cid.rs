//! Content identifiers: IPFS CIDs as strings, and the CIDv1 of raw bytes that the directory
//! store computes itself (`b` + base32 of version 1, codec raw 0x55, multihash sha2-256).

use sha2::{Digest, Sha256};

use super::StoreError;

/// A CID as its string form (CIDv1 base32 here; kubo may hand back any valid CID).
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Cid(String);

const RAW_PREFIX: [u8; 4] = [0x01, 0x55, 0x12, 0x20];
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

impl Cid {
    /// Parses a CID string: lowercase base32 (`b…`) or base58 v0 (`Qm…`) characters only, so a
    /// CID can be a file name and a URL segment without escaping.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        let ok_chars = s.chars().all(|c| c.is_ascii_alphanumeric());
        let ok_prefix =
            (s.starts_with('b') && s.len() > 8) || (s.starts_with("Qm") && s.len() == 46);
        if ok_chars && ok_prefix && s.len() <= 128 {
            Ok(Self(s.to_string()))
        } else {
            Err(StoreError::BadCid(s.to_string()))
        }
    }

    /// The CIDv1 (raw codec, sha2-256) of `bytes`.
    pub fn of_raw(bytes: &[u8]) -> Self {
        let mut raw = RAW_PREFIX.to_vec();
        raw.extend_from_slice(&Sha256::digest(bytes));
        Self(format!("b{}", base32(&raw)))
    }

    /// The sha2-256 digest inside a raw-codec CIDv1, or `None` for any other kind of CID (for
    /// those, only the update-hash check applies).
    pub fn raw_sha256(&self) -> Option<[u8; 32]> {
        let body = self.0.strip_prefix('b')?;
        let bytes = unbase32(body)?;
        if bytes.len() != 36 || bytes[..4] != RAW_PREFIX {
            return None;
        }
        bytes[4..].try_into().ok()
    }

    /// The string form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Cid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// RFC 4648 base32, lowercase, no padding (multibase `b`).
fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn unbase32(s: &str) -> Option<Vec<u8>> {
    let mut out = vec![];
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_cid_matches_ipfs() {
        // `ipfs add --only-hash --cid-version 1 --raw-leaves` of "hello\n" with kubo 0.42.0.
        assert_eq!(
            Cid::of_raw(b"hello\n").as_str(),
            "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am"
        );
        let c = Cid::of_raw(b"abc");
        assert_eq!(c.raw_sha256(), Some(Sha256::digest(b"abc").into()));
        assert_eq!(Cid::parse(c.as_str()).expect("parses"), c);
    }

    #[test]
    fn odd_strings_are_not_cids() {
        for s in ["", "b", "../etc", "bafy/../x", "Qmshort", "B0000000000"] {
            assert!(Cid::parse(s).is_err(), "{s:?}");
        }
        let v0 = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o";
        assert!(Cid::parse(v0).expect("v0").raw_sha256().is_none());
    }
}
