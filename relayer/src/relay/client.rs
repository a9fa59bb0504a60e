//! A client of the relayer's API, for participants and evaluators on other hosts (blocking;
//! call it from plain threads, not from inside an async runtime).

use std::time::Duration;

use reqwest::blocking::Client;

use super::api::{CommitAnswer, CommitRequest, RoundView};

/// Why a call to the relayer failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the relayer at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the relayer at {url} refused {what} ({status}): {message}")]
    Refused {
        url: String,
        what: String,
        status: u16,
        message: String,
    },
}

impl ClientError {
    /// Whether the relayer could not be reached at all (then a party posts by itself).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ClientError::Unreachable { .. })
    }
}

/// The relayer at one base URL.
#[derive(Debug, Clone)]
pub struct RelayClient {
    base: String,
    client: Client,
}

impl RelayClient {
    pub fn new(base: &str) -> Result<Self, ClientError> {
        let base = base.trim_end_matches('/').to_string();
        let client = Client::builder()
            .timeout(Duration::from_secs(120))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| ClientError::Unreachable {
                url: base.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self { base, client })
    }

    fn unreachable(&self, e: reqwest::Error) -> ClientError {
        ClientError::Unreachable {
            url: self.base.clone(),
            reason: e.to_string(),
        }
    }

    fn answer<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        resp: reqwest::blocking::Response,
    ) -> Result<T, ClientError> {
        let status = resp.status();
        if !status.is_success() {
            let text = resp.text().unwrap_or_default();
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
                .unwrap_or(text);
            return Err(ClientError::Refused {
                url: self.base.clone(),
                what: what.into(),
                status: status.as_u16(),
                message,
            });
        }
        resp.json().map_err(|e| self.unreachable(e))
    }

    /// Hands over a signed commitment (its bundle must be uploaded first, or be in the
    /// relayer's IPFS node under `cid`).
    pub fn commit(&self, req: &CommitRequest) -> Result<CommitAnswer, ClientError> {
        let resp = self
            .client
            .post(format!("{}/v1/commitments", self.base))
            .json(req)
            .send()
            .map_err(|e| self.unreachable(e))?;
        self.answer("the commitment", resp)
    }

    /// The relayer's view of a round.
    pub fn round(&self, round_id: u64) -> Result<RoundView, ClientError> {
        let resp = self
            .client
            .get(format!("{}/v1/rounds/{round_id}", self.base))
            .send()
            .map_err(|e| self.unreachable(e))?;
        self.answer("the round query", resp)
    }

    /// Chain id, height and queue size.
    pub fn health(&self) -> Result<serde_json::Value, ClientError> {
        let resp = self
            .client
            .get(format!("{}/v1/health", self.base))
            .send()
            .map_err(|e| self.unreachable(e))?;
        self.answer("the health check", resp)
    }
}
