//! The relayer's bundle store seen from another host: a client of its HTTP API
//! (`POST /v1/bundles`, `GET /v1/bundles/cid/{cid}`, `GET /v1/bundles/hash/{update hash}`,
//! and for evaluators' utility tables `POST /v1/tables?round=N`, `GET /v1/tables/{table hash}`).
//! The relayer indexes an upload by the update hash it computes itself, so [`BundleStore::index`]
//! here only checks that the relayer agrees.

use std::time::Duration;

use reqwest::blocking::Client;
use reqwest::StatusCode;

use super::{BundleRef, BundleStore, Cid, StoreError, MAX_BUNDLE_BYTES, MAX_TABLE_BYTES};

/// A client of a relayer's bundle API.
#[derive(Debug, Clone)]
pub struct HttpStore {
    base: String,
    client: Client,
}

#[derive(serde::Deserialize)]
struct TableAnswer {
    table_hash: String,
}

#[derive(serde::Deserialize)]
struct CidAnswer {
    cid: Cid,
}

impl HttpStore {
    /// A client of the relayer at `base` (`http://127.0.0.1:8700`).
    pub fn new(base: &str) -> Result<Self, StoreError> {
        let base = base.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(StoreError::Unreachable {
                store: format!("relayer {base}"),
                reason: "the relayer address must be an http(s) URL".into(),
            });
        }
        let client = Client::builder()
            .timeout(Duration::from_secs(600))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| StoreError::Unreachable {
                store: format!("relayer {base}"),
                reason: e.to_string(),
            })?;
        Ok(Self { base, client })
    }

    fn unreachable(&self, e: reqwest::Error) -> StoreError {
        StoreError::Unreachable {
            store: self.describe(),
            reason: e.to_string(),
        }
    }

    fn refused(&self, what: &str, resp: reqwest::blocking::Response) -> StoreError {
        let status = resp.status();
        let text = resp.text().unwrap_or_default();
        StoreError::Io {
            store: self.describe(),
            reason: format!("{what} answered {status}: {}", text.trim()),
        }
    }

    /// Uploads an archive; the relayer answers with the CID and the update hash it computed.
    pub fn upload(&self, archive: &[u8]) -> Result<BundleRef, StoreError> {
        let resp = self
            .client
            .post(format!("{}/v1/bundles", self.base))
            .header("content-type", "application/x-tar")
            .body(archive.to_vec())
            .send()
            .map_err(|e| self.unreachable(e))?;
        if !resp.status().is_success() {
            return Err(self.refused("upload", resp));
        }
        resp.json().map_err(|e| self.unreachable(e))
    }
}

impl BundleStore for HttpStore {
    fn describe(&self) -> String {
        format!("relayer {}", self.base)
    }

    fn put(&self, archive: &[u8]) -> Result<Cid, StoreError> {
        self.upload(archive).map(|r| r.cid)
    }

    fn get(&self, cid: &Cid) -> Result<Vec<u8>, StoreError> {
        let resp = self
            .client
            .get(format!("{}/v1/bundles/cid/{cid}", self.base))
            .send()
            .map_err(|e| self.unreachable(e))?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(StoreError::NotFound {
                store: self.describe(),
                what: format!("with CID {cid}"),
            });
        }
        if !resp.status().is_success() {
            return Err(self.refused("get", resp));
        }
        // Read at most one byte past the limit: a hostile relayer must not be able to make us
        // buffer an endless body.
        let mut bytes = Vec::new();
        {
            use std::io::Read as _;
            resp.take(MAX_BUNDLE_BYTES + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| StoreError::Io {
                    store: self.describe(),
                    reason: format!("reading bundle {cid}: {e}"),
                })?;
        }
        if bytes.len() as u64 > MAX_BUNDLE_BYTES {
            return Err(StoreError::TooLarge {
                size: bytes.len() as u64,
            });
        }
        // Raw CIDs name their bytes: check them here too.
        if cid.raw_sha256().is_some() && &Cid::of_raw(&bytes) != cid {
            return Err(StoreError::WrongBlob {
                store: self.describe(),
                cid: cid.to_string(),
                actual: Cid::of_raw(&bytes).to_string(),
            });
        }
        Ok(bytes)
    }

    fn index(&self, update_hash: &str, cid: &Cid) -> Result<(), StoreError> {
        match self.lookup(update_hash)? {
            Some(c) if &c == cid => Ok(()),
            other => Err(StoreError::Io {
                store: self.describe(),
                reason: format!(
                    "the relayer indexes update {update_hash} as {}, not {cid}",
                    other
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "nothing".into())
                ),
            }),
        }
    }

    fn lookup(&self, update_hash: &str) -> Result<Option<Cid>, StoreError> {
        if !super::dir::is_hex_hash(update_hash) {
            return Ok(None);
        }
        let resp = self
            .client
            .get(format!("{}/v1/bundles/hash/{update_hash}", self.base))
            .send()
            .map_err(|e| self.unreachable(e))?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(self.refused("lookup", resp));
        }
        let a: CidAnswer = resp.json().map_err(|e| self.unreachable(e))?;
        Ok(Some(a.cid))
    }

    fn pin(&self, _cid: &Cid) -> Result<(), StoreError> {
        // The relayer keeps every bundle it was given.
        Ok(())
    }

    fn put_table(&self, json: &[u8], round_id: u64) -> Result<String, StoreError> {
        let resp = self
            .client
            .post(format!("{}/v1/tables?round={round_id}", self.base))
            .header("content-type", "application/json")
            .body(json.to_vec())
            .send()
            .map_err(|e| self.unreachable(e))?;
        if !resp.status().is_success() {
            return Err(self.refused("table upload", resp));
        }
        let a: TableAnswer = resp.json().map_err(|e| self.unreachable(e))?;
        Ok(a.table_hash)
    }

    fn get_table(&self, table_hash: &str) -> Result<Vec<u8>, StoreError> {
        let not_found = || StoreError::TableNotFound {
            store: self.describe(),
            hash: table_hash.to_string(),
        };
        if !super::dir::is_hex_hash(table_hash) {
            return Err(not_found());
        }
        let resp = self
            .client
            .get(format!("{}/v1/tables/{table_hash}", self.base))
            .send()
            .map_err(|e| self.unreachable(e))?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(not_found());
        }
        if !resp.status().is_success() {
            return Err(self.refused("table", resp));
        }
        let mut bytes = Vec::new();
        {
            use std::io::Read as _;
            resp.take(MAX_TABLE_BYTES + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| StoreError::Io {
                    store: self.describe(),
                    reason: format!("reading table {table_hash}: {e}"),
                })?;
        }
        if bytes.len() as u64 > MAX_TABLE_BYTES {
            return Err(StoreError::TooLarge {
                size: bytes.len() as u64,
            });
        }
        Ok(bytes)
    }
}
