//! Keys that are safe on a party's own host: an encrypted keystore file.
//!
//! A service's signing key is imported once from a BIP-39 mnemonic (12 or 24 words, Cosmos HD
//! path) and kept as a JSON file holding the secret encrypted with XChaCha20-Poly1305 under a
//! key stretched from a passphrase by scrypt. The file must be readable by its owner only; the
//! passphrase comes from an environment variable (for services) or a prompt. Neither the
//! mnemonic, the passphrase nor the secret appears in any message this module makes.

use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::wasmd::accounts::COSMOS_HD_PATH;
use crate::wasmd::Account;

/// The environment variable a service reads its keystore passphrase from, unless its config
/// names another.
pub const PASSPHRASE_ENV: &str = "FAIRSHARE_KEY_PASSPHRASE";

const FORMAT_VERSION: u32 = 1;

/// Why a keystore cannot be made or opened. No variant carries secret material.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error("{path} is readable by others (mode {mode:o}); run `chmod 600 {path}`", path = .path.display())]
    Permissions { path: PathBuf, mode: u32 },
    #[error("{path} is not a fairshare keystore: {reason}", path = .path.display())]
    Format { path: PathBuf, reason: String },
    #[error("wrong passphrase for {path} (or the file was altered)", path = .path.display())]
    WrongPassphrase { path: PathBuf },
    #[error("the mnemonic is not a valid BIP-39 English phrase of 12 or 24 words ({0})")]
    Mnemonic(String),
    #[error("cannot derive the key: {0}")]
    Derive(String),
    #[error("{path} already exists; remove it first to replace the key", path = .0.display())]
    Exists(PathBuf),
    #[error("no passphrase: set {env} or run in a terminal to be asked")]
    NoPassphrase { env: String },
    #[error("the passphrase must be at least 8 characters")]
    WeakPassphrase,
    #[error("{path} is in a keyring format this build cannot read: {reason}", path = .path.display())]
    Keyring { path: PathBuf, reason: String },
}

/// scrypt cost (stored in the file, so it can be raised later without breaking old files).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    pub log_n: u8,
    pub r: u32,
    pub p: u32,
}

impl Default for KdfParams {
    /// 2^15 × 8 × 128 B = 32 MiB of memory per attempt (~0.1 s here).
    fn default() -> Self {
        Self {
            log_n: 15,
            r: 8,
            p: 1,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeystoreFile {
    version: u32,
    /// The address the key controls, in clear so a file can be identified without the passphrase.
    address: String,
    kdf: String,
    kdf_params: KdfParams,
    salt: String,
    cipher: String,
    nonce: String,
    ciphertext: String,
}

/// The most memory a keystore's scrypt parameters may ask for.
const MAX_KDF_MEMORY: u128 = 1 << 30;

fn derive_key(
    passphrase: &str,
    salt: &[u8],
    p: KdfParams,
) -> Result<Zeroizing<[u8; 32]>, KeystoreError> {
    // The parameters come from the file: bound the memory (128·r·2^log_n bytes) and work so an
    // edited or hostile file cannot make opening it allocate gigabytes or spin for hours.
    let memory = (128u128 * u128::from(p.r)) << u32::from(p.log_n.min(64));
    if p.log_n > 22 || memory > MAX_KDF_MEMORY || p.p > 16 {
        return Err(KeystoreError::Derive(format!(
            "scrypt parameters log_n={} r={} p={} exceed this build's limits (log_n ≤ 22, \
             memory ≤ 1 GiB, p ≤ 16)",
            p.log_n, p.r, p.p
        )));
    }
    let params = scrypt::Params::new(p.log_n, p.r, p.p, 32)
        .map_err(|e| KeystoreError::Derive(format!("scrypt parameters: {e}")))?;
    let mut key = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(passphrase.as_bytes(), salt, &params, key.as_mut())
        .map_err(|e| KeystoreError::Derive(format!("scrypt: {e}")))?;
    Ok(key)
}

/// The secp256k1 secret of `mnemonic` (12 or 24 English words) at the Cosmos HD path.
fn secret_from_mnemonic(mnemonic: &str) -> Result<Zeroizing<[u8; 32]>, KeystoreError> {
    let normalized = Zeroizing::new(mnemonic.split_whitespace().collect::<Vec<_>>().join(" "));
    let words = normalized.split(' ').count();
    if words != 12 && words != 24 {
        return Err(KeystoreError::Mnemonic(format!("it has {words} words")));
    }
    let m = bip39::Mnemonic::parse_in_normalized(bip39::Language::English, &normalized)
        // The parser's message names no word of the phrase, only its kind of fault.
        .map_err(|e| KeystoreError::Mnemonic(bip39_reason(&e)))?;
    let seed = Zeroizing::new(m.to_seed(""));
    let path: bip32::DerivationPath = COSMOS_HD_PATH
        .parse()
        .map_err(|e: bip32::Error| KeystoreError::Derive(e.to_string()))?;
    let xprv = bip32::XPrv::derive_from_path(seed.as_ref(), &path)
        .map_err(|e| KeystoreError::Derive(e.to_string()))?;
    Ok(Zeroizing::new(xprv.to_bytes()))
}

fn bip39_reason(e: &bip39::Error) -> String {
    match e {
        bip39::Error::BadWordCount(n) => format!("it has {n} words"),
        bip39::Error::UnknownWord(i) => format!("word number {} is not in the word list", i + 1),
        bip39::Error::InvalidChecksum => "its checksum does not match".into(),
        _ => "it cannot be parsed".into(),
    }
}

/// Writes a new keystore at `path` (mode 0600) holding the key of `mnemonic`, encrypted under
/// `passphrase`; returns the address. Refuses to overwrite an existing file.
pub fn import_mnemonic(
    path: &Path,
    mnemonic: &str,
    passphrase: &str,
    prefix: &str,
    params: KdfParams,
) -> Result<String, KeystoreError> {
    if passphrase.chars().count() < 8 {
        return Err(KeystoreError::WeakPassphrase);
    }
    if path.exists() {
        return Err(KeystoreError::Exists(path.to_path_buf()));
    }
    let secret = secret_from_mnemonic(mnemonic)?;
    let account = Account::from_secret("keystore", *secret, prefix)
        .map_err(|e| KeystoreError::Derive(e.to_string()))?;
    let address = account.address().to_string();
    let salt: [u8; 32] = rand::random();
    let nonce: [u8; 24] = rand::random();
    let key = derive_key(passphrase, &salt, params)?;
    let cipher = XChaCha20Poly1305::new(key.as_ref().into());
    let aad = aad(&address);
    let ciphertext = cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: secret.as_ref(),
                aad: &aad,
            },
        )
        .map_err(|_| KeystoreError::Derive("encryption failed".into()))?;
    let file = KeystoreFile {
        version: FORMAT_VERSION,
        address: address.clone(),
        kdf: "scrypt".into(),
        kdf_params: params,
        salt: hex::encode(salt),
        cipher: "xchacha20poly1305".into(),
        nonce: hex::encode(nonce),
        ciphertext: hex::encode(ciphertext),
    };
    let io = |e: std::io::Error| KeystoreError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let bytes = serde_json::to_vec_pretty(&file).map_err(|e| KeystoreError::Format {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    write_atomically(path, &bytes).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            KeystoreError::Exists(path.to_path_buf())
        } else {
            io(e)
        }
    })?;
    Ok(address)
}

/// Writes `bytes` to `path` so that a reader sees either no file or the whole file: a
/// temporary file (mode 0600, created new) beside it is written and fsynced, then linked to
/// `path` without replacing anything (`AlreadyExists` if `path` appeared meanwhile), then the
/// directory is fsynced. On any failure the temporary file is removed.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "keystore".into());
    let tmp = dir.join(format!(".{name}.{:016x}.tmp", rand::random::<u64>()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let result = opts
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        // A hard link never replaces an existing key (a rename would); then drop the temp name.
        .and_then(|()| std::fs::hard_link(&tmp, path))
        .and_then(|()| std::fs::File::open(&dir)?.sync_all());
    // The temporary name goes in every case (after a link, the key stays under `path`).
    let _ = std::fs::remove_file(&tmp);
    result
}

fn aad(address: &str) -> Vec<u8> {
    format!("fairshare-keystore/{FORMAT_VERSION}/{address}").into_bytes()
}

/// The address a keystore holds (no passphrase needed).
pub fn address_of(path: &Path) -> Result<String, KeystoreError> {
    Ok(read_file(path)?.address)
}

fn read_file(path: &Path) -> Result<KeystoreFile, KeystoreError> {
    check_permissions(path)?;
    let bytes = std::fs::read(path).map_err(|e| KeystoreError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let file: KeystoreFile = serde_json::from_slice(&bytes).map_err(|e| KeystoreError::Format {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if file.version != FORMAT_VERSION || file.kdf != "scrypt" || file.cipher != "xchacha20poly1305"
    {
        return Err(KeystoreError::Format {
            path: path.to_path_buf(),
            reason: format!(
                "version {} with {}/{} (this build reads version {FORMAT_VERSION}, scrypt/xchacha20poly1305)",
                file.version, file.kdf, file.cipher
            ),
        });
    }
    Ok(file)
}

/// Refuses a key file that anyone but its owner can read or write.
pub fn check_permissions(path: &Path) -> Result<(), KeystoreError> {
    let meta = std::fs::metadata(path).map_err(|e| KeystoreError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeystoreError::Permissions {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    Ok(())
}

/// Opens a keystore: checks its permissions, decrypts the key with `passphrase` and returns
/// the signing account (named `name` in messages) for addresses with `prefix`.
pub fn open(
    path: &Path,
    passphrase: &str,
    name: &str,
    prefix: &str,
) -> Result<Account, KeystoreError> {
    let file = read_file(path)?;
    let bad = |what: &str| KeystoreError::Format {
        path: path.to_path_buf(),
        reason: format!("{what} is not valid hex of the right length"),
    };
    let salt = hex::decode(&file.salt).map_err(|_| bad("salt"))?;
    let nonce: [u8; 24] = hex::decode(&file.nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or_else(|| bad("nonce"))?;
    let ciphertext = hex::decode(&file.ciphertext).map_err(|_| bad("ciphertext"))?;
    let key = derive_key(passphrase, &salt, file.kdf_params)?;
    let cipher = XChaCha20Poly1305::new(key.as_ref().into());
    let mut plain = cipher
        .decrypt(
            &XNonce::from(nonce),
            Payload {
                msg: &ciphertext,
                aad: &aad(&file.address),
            },
        )
        .map_err(|_| KeystoreError::WrongPassphrase {
            path: path.to_path_buf(),
        })?;
    let secret: Result<[u8; 32], _> = plain.as_slice().try_into();
    plain.zeroize();
    let secret = Zeroizing::new(secret.map_err(|_| bad("secret"))?);
    let account = Account::from_secret(name, *secret, prefix)
        .map_err(|e| KeystoreError::Derive(e.to_string()))?;
    if prefix_of(&file.address) == Some(prefix) && account.address() != file.address {
        return Err(KeystoreError::Format {
            path: path.to_path_buf(),
            reason: format!(
                "it says it holds {} but its key controls {}",
                file.address,
                account.address()
            ),
        });
    }
    Ok(account)
}

fn prefix_of(address: &str) -> Option<&str> {
    address.rsplit_once('1').map(|(p, _)| p)
}

/// The passphrase from `env` if set, else from a prompt on the terminal (asked twice when
/// `confirm`). Services run without a terminal and must set the variable.
pub fn read_passphrase(env: &str, confirm: bool) -> Result<Zeroizing<String>, KeystoreError> {
    if let Ok(p) = std::env::var(env) {
        return Ok(Zeroizing::new(p));
    }
    let no = || KeystoreError::NoPassphrase {
        env: env.to_string(),
    };
    let first =
        Zeroizing::new(rpassword::prompt_password("keystore passphrase: ").map_err(|_| no())?);
    if confirm {
        let again = Zeroizing::new(rpassword::prompt_password("again: ").map_err(|_| no())?);
        if *again != *first {
            return Err(KeystoreError::Derive("the two passphrases differ".into()));
        }
    }
    Ok(first)
}

/// Where a service's key comes from, as written in its config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySource {
    /// The keystore file (`fairshare keys import` writes one).
    pub keystore: PathBuf,
    /// The environment variable holding its passphrase.
    #[serde(default = "default_env")]
    pub passphrase_env: String,
}

fn default_env() -> String {
    PASSPHRASE_ENV.into()
}

impl KeySource {
    /// Opens the key (prompting when the variable is unset and a terminal is there).
    pub fn open(&self, name: &str, prefix: &str) -> Result<Account, KeystoreError> {
        // Checked before asking for anything.
        check_permissions(&self.keystore)?;
        let pass = read_passphrase(&self.passphrase_env, false)?;
        open(&self.keystore, &pass, name, prefix)
    }
}

/// Keys people already have: wasmd's `--keyring-backend file` (`<dir>/keyring-file/<name>.info`,
/// a JWE with PBES2-HS256+A128KW key wrapping and A256GCM content encryption, holding the
/// keyring item whose data is a `cosmos.crypto.keyring.v1.Record`).
pub mod wasmd_keyring {
    use std::path::{Path, PathBuf};

    use aes_gcm::aead::{Aead, KeyInit, Payload};
    use aes_gcm::{Aes256Gcm, Nonce};
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use base64::Engine as _;
    use zeroize::Zeroizing;

    use super::{check_permissions, KeystoreError};
    use crate::wasmd::Account;

    #[derive(serde::Deserialize)]
    struct Header {
        alg: String,
        enc: String,
        p2c: u32,
        p2s: String,
    }

    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Item {
        data: String,
    }

    /// The file holding key `name` in a wasmd keyring directory (`--keyring-dir`).
    pub fn item_path(keyring_dir: &Path, name: &str) -> PathBuf {
        keyring_dir
            .join("keyring-file")
            .join(format!("{name}.info"))
    }

    /// Opens key `name` of the file keyring at `keyring_dir` with its passphrase.
    pub fn open(
        keyring_dir: &Path,
        name: &str,
        passphrase: &str,
        prefix: &str,
    ) -> Result<Account, KeystoreError> {
        let path = item_path(keyring_dir, name);
        check_permissions(&path)?;
        let fmt = |reason: &str| KeystoreError::Keyring {
            path: path.clone(),
            reason: reason.to_string(),
        };
        let text = std::fs::read_to_string(&path).map_err(|e| KeystoreError::Io {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let parts: Vec<&str> = text.trim().split('.').collect();
        let [h64, ek64, iv64, ct64, tag64] = parts[..] else {
            return Err(fmt("not a compact JWE (five dot-separated parts)"));
        };
        let b64 = |s: &str, what: &str| {
            URL_SAFE_NO_PAD
                .decode(s)
                .map_err(|_| fmt(&format!("{what} is not base64url")))
        };
        let header: Header = serde_json::from_slice(&b64(h64, "the header")?)
            .map_err(|e| fmt(&format!("header: {e}")))?;
        if header.alg != "PBES2-HS256+A128KW" || header.enc != "A256GCM" {
            return Err(fmt(&format!(
                "{} / {} (this build reads PBES2-HS256+A128KW / A256GCM)",
                header.alg, header.enc
            )));
        }
        if header.p2c == 0 || header.p2c > 10_000_000 {
            return Err(fmt("unreasonable PBES2 iteration count"));
        }
        // RFC 7518 §4.8.1.1: salt = alg || 0x00 || p2s.
        let mut salt = header.alg.as_bytes().to_vec();
        salt.push(0);
        salt.extend(b64(&header.p2s, "p2s")?);
        let mut kek = Zeroizing::new([0u8; 16]);
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(passphrase.as_bytes(), &salt, header.p2c, kek.as_mut());
        let wrapped = b64(ek64, "the encrypted key")?;
        let mut cek = Zeroizing::new([0u8; 32]);
        let wrong = || KeystoreError::WrongPassphrase { path: path.clone() };
        if wrapped.len() != 40 {
            return Err(fmt("the wrapped key is not 40 bytes"));
        }
        aes_kw::KekAes128::from(*kek)
            .unwrap(&wrapped, cek.as_mut())
            .map_err(|_| wrong())?;
        let iv: [u8; 12] = b64(iv64, "the IV")?
            .try_into()
            .map_err(|_| fmt("the IV is not 12 bytes"))?;
        let mut ct = b64(ct64, "the ciphertext")?;
        ct.extend(b64(tag64, "the tag")?);
        let plain = Zeroizing::new(
            Aes256Gcm::new(cek.as_ref().into())
                .decrypt(
                    &Nonce::from(iv),
                    Payload {
                        msg: &ct,
                        aad: h64.as_bytes(),
                    },
                )
                .map_err(|_| wrong())?,
        );
        let item: Item =
            serde_json::from_slice(&plain).map_err(|_| fmt("the decrypted item is not JSON"))?;
        let data = Zeroizing::new(
            STANDARD
                .decode(&item.data)
                .map_err(|_| fmt("the item's data is not base64"))?,
        );
        // Record { local (3): Local { priv_key (1): Any { type_url (1), value (2):
        // PrivKey { key (1) } } } }
        let local = proto_field(&data, 3).ok_or_else(|| {
            fmt("not a local key (ledger, multisig and offline keys cannot sign here)")
        })?;
        let any = proto_field(local, 1).ok_or_else(|| fmt("the record has no private key"))?;
        let type_url = proto_field(any, 1).unwrap_or_default();
        if type_url != b"/cosmos.crypto.secp256k1.PrivKey" {
            return Err(fmt(&format!(
                "a {} key; only secp256k1 keys are supported",
                String::from_utf8_lossy(type_url)
            )));
        }
        let key = proto_field(any, 2)
            .and_then(|v| proto_field(v, 1))
            .ok_or_else(|| fmt("bad secp256k1 key"))?;
        let secret: [u8; 32] = key
            .try_into()
            .map_err(|_| fmt("the secp256k1 key is not 32 bytes"))?;
        let secret = Zeroizing::new(secret);
        Account::from_secret(name, *secret, prefix)
            .map_err(|e| KeystoreError::Derive(e.to_string()))
    }

    /// The first length-delimited field `tag` of a protobuf message (other fields skipped).
    fn proto_field(mut buf: &[u8], tag: u64) -> Option<&[u8]> {
        fn varint(buf: &mut &[u8]) -> Option<u64> {
            let mut v = 0u64;
            for shift in (0..64).step_by(7) {
                let (&b, rest) = buf.split_first()?;
                *buf = rest;
                v |= u64::from(b & 0x7f) << shift;
                if b & 0x80 == 0 {
                    return Some(v);
                }
            }
            None
        }
        while !buf.is_empty() {
            let key = varint(&mut buf)?;
            match key & 7 {
                0 => {
                    varint(&mut buf)?;
                }
                1 => buf = buf.get(8..)?,
                5 => buf = buf.get(4..)?,
                2 => {
                    let len = usize::try_from(varint(&mut buf)?).ok()?;
                    let (field, rest) = (buf.get(..len)?, buf.get(len..)?);
                    if key >> 3 == tag {
                        return Some(field);
                    }
                    buf = rest;
                }
                _ => return None,
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The standard BIP-39 test vectors' phrases (public, hold nothing).
    const WORDS12: &str =
        "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
    const WORDS24: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon art";
    const FAST: KdfParams = KdfParams {
        log_n: 10,
        r: 8,
        p: 1,
    };

    #[test]
    fn a_key_round_trips_and_matches_the_plain_derivation() {
        let t = tempfile::tempdir().expect("tempdir");
        let path = t.path().join("k.json");
        let addr = import_mnemonic(&path, WORDS24, "correct horse", "wasm", FAST).expect("imports");
        // Same key as the plain-text accounts path derives from the same 24 words.
        let plain = Account::from_mnemonic("x", WORDS24, COSMOS_HD_PATH, "wasm").expect("derives");
        assert_eq!(addr, plain.address());
        let acc = open(&path, "correct horse", "svc", "wasm").expect("opens");
        assert_eq!(acc.address(), addr);
        assert_eq!(address_of(&path).expect("address"), addr);
        // Nothing secret is in the file in clear.
        let text = std::fs::read_to_string(&path).expect("reads");
        assert!(!text.contains("abandon") && !text.contains("correct horse"));
        assert!(matches!(
            import_mnemonic(&path, WORDS24, "correct horse", "wasm", FAST),
            Err(KeystoreError::Exists(_))
        ));
    }

    #[test]
    fn a_key_file_is_written_whole_or_not_at_all() {
        let t = tempfile::tempdir().expect("tempdir");
        let path = t.path().join("k.json");
        import_mnemonic(&path, WORDS24, "correct horse", "wasm", FAST).expect("imports");
        // Only the key is left in the folder: no temporary file.
        let names: Vec<String> = std::fs::read_dir(t.path())
            .expect("lists")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["k.json".to_string()]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        // A file that appears under the name while a key is written is never replaced, and
        // the temporary file does not stay behind.
        let other = t.path().join("other.json");
        std::fs::write(&other, b"someone else's").expect("writes");
        let e = write_atomically(&other, b"{}").expect_err("exists");
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&other).expect("reads"), b"someone else's");
        assert_eq!(std::fs::read_dir(t.path()).expect("lists").count(), 2);
        // A write that cannot finish leaves no file under the name (here: the folder is gone).
        let gone = t.path().join("missing-dir").join("k.json");
        assert!(write_atomically(&gone, b"{}").is_err());
        assert!(!gone.exists());
    }

    #[test]
    fn twelve_words_are_accepted_and_bad_phrases_refused() {
        let t = tempfile::tempdir().expect("tempdir");
        let addr = import_mnemonic(&t.path().join("a"), WORDS12, "long enough", "cosmos", FAST)
            .expect("12 words");
        // The address wallets derive for this test phrase on m/44'/118'/0'/0/0.
        assert_eq!(addr, "cosmos19rl4cm2hmr8afy4kldpxz3fka4jguq0auqdal4");
        let bad_checksum = WORDS12.replace("about", "abandon");
        let e = import_mnemonic(
            &t.path().join("b"),
            &bad_checksum,
            "long enough",
            "wasm",
            FAST,
        )
        .expect_err("checksum");
        assert!(matches!(e, KeystoreError::Mnemonic(_)), "{e}");
        assert!(
            !e.to_string().contains("abandon"),
            "no word in the error: {e}"
        );
        let e = import_mnemonic(
            &t.path().join("c"),
            "abandon about",
            "long enough",
            "wasm",
            FAST,
        )
        .expect_err("two words");
        assert!(e.to_string().contains("2 words"), "{e}");
        let e =
            import_mnemonic(&t.path().join("d"), WORDS12, "short", "wasm", FAST).expect_err("weak");
        assert!(matches!(e, KeystoreError::WeakPassphrase));
    }

    #[test]
    fn wrong_passphrase_and_loose_permissions_are_refused() {
        let t = tempfile::tempdir().expect("tempdir");
        let path = t.path().join("k.json");
        import_mnemonic(&path, WORDS24, "correct horse", "wasm", FAST).expect("imports");
        let e = open(&path, "wrong horse!", "svc", "wasm").expect_err("wrong passphrase");
        assert!(matches!(e, KeystoreError::WrongPassphrase { .. }), "{e}");
        assert!(!e.to_string().contains("wrong horse"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            let e = open(&path, "correct horse", "svc", "wasm").expect_err("group-readable");
            assert!(
                matches!(e, KeystoreError::Permissions { mode: 0o644, .. }),
                "{e}"
            );
            assert!(e.to_string().contains("chmod 600"));
        }
    }

    /// Imports the 24-word key, applies `edit` to the file's JSON, and opens it.
    fn open_edited(edit: impl FnOnce(&mut serde_json::Value)) -> KeystoreError {
        let t = tempfile::tempdir().expect("tempdir");
        let path = t.path().join("k.json");
        import_mnemonic(&path, WORDS24, "correct horse", "wasm", FAST).expect("imports");
        let mut f: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("reads")).expect("json");
        edit(&mut f);
        std::fs::write(&path, serde_json::to_vec(&f).expect("json")).expect("writes");
        open(&path, "correct horse", "svc", "wasm").expect_err("the edited file must not open")
    }

    #[test]
    fn an_altered_file_does_not_open() {
        // Claiming another address breaks the authenticated data.
        let e = open_edited(|f| f["address"] = "wasm1someoneelse".into());
        assert!(matches!(e, KeystoreError::WrongPassphrase { .. }), "{e}");
    }

    #[test]
    fn hostile_kdf_parameters_are_refused_before_deriving() {
        // 2^30 × 8 × 128 B = 1 TiB: must be refused, not attempted.
        let e = open_edited(|f| f["kdf_params"]["log_n"] = 30.into());
        assert!(e.to_string().contains("exceed"), "{e}");
    }

    /// A key made by the real wasmd (`wasmd keys add --recover --keyring-backend file`) opens
    /// to the same address; runs when `make wasmd` has built it.
    #[test]
    fn a_wasmd_file_keyring_key_opens() {
        let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
        let Some(wasmd) = home
            .map(|h| h.join(".cache/fairshare/wasmd/v0.70.3/bin/wasmd"))
            .filter(|p| p.is_file())
        else {
            eprintln!("wasmd not built (make wasmd); skipping the keyring test");
            return;
        };
        let t = tempfile::tempdir().expect("tempdir");
        let mut child = std::process::Command::new(&wasmd)
            .args([
                "keys",
                "add",
                "svc",
                "--recover",
                "--keyring-backend",
                "file",
                "--keyring-dir",
            ])
            .arg(t.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("runs wasmd");
        {
            use std::io::Write as _;
            let stdin = child.stdin.as_mut().expect("stdin");
            write!(stdin, "{WORDS24}\nkeyring pass 1\nkeyring pass 1\n").expect("writes");
        }
        assert!(
            child.wait().expect("waits").success(),
            "wasmd keys add failed"
        );
        let plain = Account::from_mnemonic("x", WORDS24, COSMOS_HD_PATH, "wasm").expect("derives");
        let acc = wasmd_keyring::open(t.path(), "svc", "keyring pass 1", "wasm").expect("opens");
        assert_eq!(acc.address(), plain.address());
        let e = wasmd_keyring::open(t.path(), "svc", "not the pass", "wasm").expect_err("wrong");
        assert!(matches!(e, KeystoreError::WrongPassphrase { .. }), "{e}");
    }
}
