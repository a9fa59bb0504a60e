//! Accounts that sign on a wasmd node: keys from mnemonics or seeds, and the localnet's
//! genesis accounts listed in `localnet/accounts.toml`.

use std::path::{Path, PathBuf};

use bip32::{DerivationPath, Language, Mnemonic};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::keys::ParticipantKey;

/// The Cosmos SDK's default derivation path (coin type 118).
pub const COSMOS_HD_PATH: &str = "m/44'/118'/0'/0/0";

/// Why an account cannot be made or loaded.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(
        "invalid mnemonic for {name}: {reason} (bip32 0.5 accepts 24-word English phrases only)"
    )]
    Mnemonic { name: String, reason: String },
    #[error("cannot derive a key for {name}: {reason}")]
    Derive { name: String, reason: String },
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("no account named {0:?} in the accounts file")]
    Unknown(String),
    #[error("{name}: the mnemonic derives {derived}, but the accounts file says {listed}")]
    AddressMismatch {
        name: String,
        derived: String,
        listed: String,
    },
}

/// A key that can sign transactions and commitments, and the address it controls.
#[derive(Clone)]
pub struct Account {
    /// A name for messages (`deployer`, `participant1`, ...).
    pub name: String,
    /// The same secret as a participant key: address, commitment signatures.
    pub key: ParticipantKey,
    secret: [u8; 32],
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("name", &self.name)
            .field("address", &self.key.address())
            .finish_non_exhaustive()
    }
}

impl Account {
    /// Derives the key of a 24-word BIP-39 `mnemonic` at `hd_path` (no passphrase).
    pub fn from_mnemonic(
        name: &str,
        mnemonic: &str,
        hd_path: &str,
        prefix: &str,
    ) -> Result<Self, AccountError> {
        let phrase = Mnemonic::new(mnemonic.trim(), Language::English).map_err(|e| {
            AccountError::Mnemonic {
                name: name.to_string(),
                reason: e.to_string(),
            }
        })?;
        let path: DerivationPath =
            hd_path
                .parse()
                .map_err(|e: bip32::Error| AccountError::Derive {
                    name: name.to_string(),
                    reason: format!("path {hd_path}: {e}"),
                })?;
        let seed = phrase.to_seed("");
        let xprv =
            bip32::XPrv::derive_from_path(seed, &path).map_err(|e| AccountError::Derive {
                name: name.to_string(),
                reason: e.to_string(),
            })?;
        Self::from_secret(name, xprv.to_bytes(), prefix)
    }

    /// A deterministic key from `seed` (for generated test accounts, e.g. 100 participants).
    pub fn from_seed(name: &str, seed: &[u8], prefix: &str) -> Result<Self, AccountError> {
        let mut secret: [u8; 32] = Sha256::digest(seed).into();
        // A SHA-256 output is a valid scalar with overwhelming probability; rehash otherwise.
        while k256::ecdsa::SigningKey::from_slice(&secret).is_err() {
            secret = Sha256::digest(secret).into();
        }
        Self::from_secret(name, secret, prefix)
    }

    pub(crate) fn from_secret(
        name: &str,
        secret: [u8; 32],
        prefix: &str,
    ) -> Result<Self, AccountError> {
        let derive = |reason: String| AccountError::Derive {
            name: name.to_string(),
            reason,
        };
        let signing =
            k256::ecdsa::SigningKey::from_slice(&secret).map_err(|e| derive(e.to_string()))?;
        let key =
            ParticipantKey::from_signing_key(signing, prefix).map_err(|e| derive(e.to_string()))?;
        Ok(Self {
            name: name.to_string(),
            key,
            secret,
        })
    }

    /// The bech32 address this account controls.
    pub fn address(&self) -> &str {
        self.key.address()
    }

    /// The transaction signing key (cosmrs' type over the same secret).
    pub(crate) fn tx_signing_key(&self) -> cosmrs::crypto::secp256k1::SigningKey {
        cosmrs::crypto::secp256k1::SigningKey::from_slice(&self.secret).expect(
            "the secret was checked to be a valid secp256k1 scalar when the account was made",
        )
    }
}

/// One entry of `localnet/accounts.toml`.
#[derive(Debug, Clone, Deserialize)]
pub struct AccountEntry {
    pub name: String,
    pub role: String,
    /// Genesis balance in the chain's denom.
    pub balance: String,
    /// What the mnemonic derives; empty when not recorded.
    #[serde(default)]
    pub address: String,
    pub mnemonic: String,
}

/// `localnet/accounts.toml`: the localnet's chain id, denom and funded accounts.
#[derive(Debug, Clone, Deserialize)]
pub struct LocalnetAccounts {
    pub chain_id: String,
    pub denom: String,
    pub bech32_prefix: String,
    pub hd_path: String,
    #[serde(rename = "account")]
    pub accounts: Vec<AccountEntry>,
}

impl LocalnetAccounts {
    /// Reads and parses an accounts file.
    pub fn load(path: &Path) -> Result<Self, AccountError> {
        let read = |reason: String| AccountError::Read {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| read(e.to_string()))?;
        toml::from_str(&text).map_err(|e| read(e.to_string()))
    }

    /// The repository's `localnet/accounts.toml`.
    pub fn default_path() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../localnet/accounts.toml")
    }

    /// Derives the account called `name`, checking the recorded address if there is one.
    pub fn account(&self, name: &str) -> Result<Account, AccountError> {
        let entry = self
            .accounts
            .iter()
            .find(|a| a.name == name)
            .ok_or_else(|| AccountError::Unknown(name.to_string()))?;
        let account = Account::from_mnemonic(
            &entry.name,
            &entry.mnemonic,
            &self.hd_path,
            &self.bech32_prefix,
        )?;
        if !entry.address.is_empty() && entry.address != account.address() {
            return Err(AccountError::AddressMismatch {
                name: entry.name.clone(),
                derived: account.address().to_string(),
                listed: entry.address.clone(),
            });
        }
        Ok(account)
    }

    /// Every account with `role`, in file order.
    pub fn with_role(&self, role: &str) -> Result<Vec<Account>, AccountError> {
        self.accounts
            .iter()
            .filter(|a| a.role == role)
            .map(|a| self.account(&a.name))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localnet_accounts_derive_their_recorded_addresses() {
        let file =
            LocalnetAccounts::load(&LocalnetAccounts::default_path()).expect("accounts.toml");
        assert!(file.with_role("participant").expect("participants").len() >= 3);
        assert_eq!(file.with_role("evaluator").expect("evaluators").len(), 3);
        for entry in &file.accounts {
            let a = file.account(&entry.name).expect("derives");
            assert_eq!(entry.address, a.address(), "{} is recorded", entry.name);
            assert!(a.address().starts_with("wasm1"), "{}", a.address());
        }
    }

    #[test]
    fn seeded_accounts_are_deterministic_and_distinct() {
        let a = Account::from_seed("a", b"bench/1", "wasm").expect("key");
        let b = Account::from_seed("b", b"bench/1", "wasm").expect("key");
        let c = Account::from_seed("c", b"bench/2", "wasm").expect("key");
        assert_eq!(a.address(), b.address());
        assert_ne!(a.address(), c.address());
        assert_eq!(
            a.tx_signing_key().public_key().to_bytes(),
            a.key.pubkey().to_vec()
        );
    }

    #[test]
    fn short_mnemonic_is_refused_with_a_reason() {
        let err = Account::from_mnemonic("x", "abandon abandon about", COSMOS_HD_PATH, "wasm")
            .unwrap_err();
        assert!(err.to_string().contains("24-word"), "{err}");
    }
}
