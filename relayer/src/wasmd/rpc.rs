//! The node connection: CometBFT RPC over HTTP (0.38 compat mode) with retries and backoff on
//! connection errors, typed ABCI gRPC queries, and broadcast-then-poll for inclusion.

use std::future::Future;
use std::time::{Duration, Instant};

use cosmrs::proto::traits::Message;
use cosmrs::rpc::client::{Client, CompatMode, HttpClient, HttpClientUrl};
use cosmrs::rpc::error::ErrorDetail;
use cosmrs::tendermint::Hash;

use crate::chain::ChainError;

/// How hard to try when the node does not answer.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per request (1 = no retry).
    pub attempts: u32,
    /// Wait after the first failure; doubled after each further one.
    pub first_backoff_ms: u64,
    /// Upper bound of one wait.
    pub max_backoff_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        // 0.25 + 0.5 + 1 + 2 + 4 + 4 + 4 ≈ 16 s before giving up.
        Self {
            attempts: 8,
            first_backoff_ms: 250,
            max_backoff_ms: 4_000,
        }
    }
}

/// A CometBFT RPC connection that retries connection errors.
pub struct Rpc {
    client: HttpClient,
    url: String,
    retry: RetryPolicy,
    request_timeout: Duration,
}

/// A transaction found in a block.
#[derive(Debug, Clone)]
pub struct Included {
    pub hash: String,
    pub height: u64,
    pub gas_wanted: u64,
    pub gas_used: u64,
    /// `TxMsgData` bytes: one `msg_responses` entry per message.
    pub data: Vec<u8>,
    pub events: Vec<(String, String, String)>,
}

/// The tx result's `data`: CometBFT's JSON carries it base64-encoded and tendermint-rpc 0.40
/// hands over the text as it is; raw bytes (should a later version decode it) pass through.
fn result_data(data: &[u8]) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap_or_else(|_| data.to_vec())
}

/// What went wrong with a request, with the transport's cause (e.g. "Connection refused"):
/// the error's trace holds the whole chain.
fn describe(e: &cosmrs::rpc::Error) -> String {
    format!("{:#}", e.trace())
}

/// The gRPC services a Cosmos SDK node registers only once CometBFT is running (the transaction,
/// CometBFT and node services need a client of the node itself): for a moment after a (re)start
/// their paths are unknown although blocks are being made.
fn registered_after_start(path: &str) -> bool {
    [
        "/cosmos.tx.v1beta1.Service/",
        "/cosmos.base.tendermint.v1beta1.Service/",
        "/cosmos.base.node.v1beta1.Service/",
    ]
    .iter()
    .any(|prefix| path.starts_with(prefix))
}

/// Transport failures that a retry may cure (the node is down, restarting or slow).
fn is_connection_error(e: &cosmrs::rpc::Error) -> bool {
    matches!(
        e.detail(),
        ErrorDetail::Http(_)
            | ErrorDetail::Io(_)
            | ErrorDetail::Timeout(_)
            | ErrorDetail::HttpRequestFailed(_)
    )
}

/// Whether a `tracing` subscriber is installed (the services install one, JSON under
/// `--json-logs`): retry notices then go through it as structured events; the one-shot commands
/// install none and get plain lines on stderr.
fn logs_through_tracing() -> bool {
    tracing::dispatcher::get_default(|d| !d.is::<tracing::subscriber::NoSubscriber>())
}

impl Rpc {
    /// A client for `url` (e.g. `http://127.0.0.1:26657`). CometBFT 0.39 speaks the 0.38 RPC
    /// dialect, which tendermint-rpc 0.40 cannot detect, so it is set explicitly.
    pub fn new(
        url: &str,
        retry: RetryPolicy,
        request_timeout: Duration,
    ) -> Result<Self, ChainError> {
        let parsed: HttpClientUrl = url
            .parse()
            .map_err(|e| ChainError::Other(format!("invalid node URL {url:?}: {e}")))?;
        let client = HttpClient::builder(parsed)
            .compat_mode(CompatMode::V0_38)
            .timeout(request_timeout)
            .build()
            .map_err(|e| ChainError::Other(format!("cannot make an RPC client for {url}: {e}")))?;
        Ok(Self {
            client,
            url: url.to_string(),
            retry,
            request_timeout,
        })
    }

    /// The node URL, for messages.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs `call` until it succeeds, fails with a non-connection error, or attempts run out.
    pub async fn with_retry<T, F, Fut>(&self, what: &str, call: F) -> Result<T, ChainError>
    where
        F: Fn(HttpClient) -> Fut,
        Fut: Future<Output = Result<T, cosmrs::rpc::Error>>,
    {
        let mut backoff = Duration::from_millis(self.retry.first_backoff_ms);
        let started = Instant::now();
        let attempts = self.retry.attempts.max(1);
        for attempt in 1..=attempts {
            match call(self.client.clone()).await {
                Ok(v) => return Ok(v),
                Err(e) if is_connection_error(&e) && attempt < attempts => {
                    let reason = describe(&e);
                    if logs_through_tracing() {
                        tracing::warn!(
                            node = %self.url,
                            call = what,
                            reason = %reason,
                            retry = attempt,
                            of = attempts - 1,
                            backoff_ms = backoff.as_millis() as u64,
                            "wasmd: the node did not answer; retrying"
                        );
                    } else {
                        eprintln!(
                            "wasmd: node at {} did not answer {what} ({reason}); retry {attempt}/{} in {} ms",
                            self.url,
                            attempts - 1,
                            backoff.as_millis()
                        );
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(self.retry.max_backoff_ms));
                }
                Err(e) if is_connection_error(&e) => {
                    return Err(ChainError::Unreachable {
                        url: self.url.clone(),
                        reason: format!(
                            "{what}: {} (gave up after {attempts} attempts over {:.1} s; is the node running? \
                             `make localnet` starts one)",
                            describe(&e),
                            started.elapsed().as_secs_f64()
                        ),
                    })
                }
                Err(e) => return Err(ChainError::Query(format!("{what} at {}: {e}", self.url))),
            }
        }
        unreachable!("the loop returns on its last attempt")
    }

    /// A gRPC query through ABCI (`path` like `/cosmos.auth.v1beta1.Query/Account`). A refusal
    /// by the app comes back as [`QueryRefused`] with the node's log verbatim.
    pub async fn abci_query<Req: Message, Resp: Message + Default>(
        &self,
        path: &str,
        req: &Req,
    ) -> Result<Result<Resp, QueryRefused>, ChainError> {
        let data = req.encode_to_vec();
        let mut backoff = Duration::from_millis(self.retry.first_backoff_ms);
        let mut attempt = 1;
        let res = loop {
            let res = self
                .with_retry(path, |c| {
                    let data = data.clone();
                    async move {
                        c.abci_query(Some(path.to_string()), data, None, false)
                            .await
                    }
                })
                .await?;
            let unknown = res.code.is_err() && res.log.contains("unknown query path");
            if !(unknown && registered_after_start(path)) || attempt >= self.retry.attempts.max(1) {
                break res;
            }
            if logs_through_tracing() {
                tracing::warn!(
                    node = %self.url,
                    call = path,
                    retry = attempt,
                    of = self.retry.attempts.max(1) - 1,
                    backoff_ms = backoff.as_millis() as u64,
                    "wasmd: the node does not serve this query yet (it registers the service \
                     after starting); retrying"
                );
            } else {
                eprintln!(
                    "wasmd: node at {} does not serve {path} yet (it registers that service after \
                     starting); retry {attempt}/{} in {} ms",
                    self.url,
                    self.retry.attempts.max(1) - 1,
                    backoff.as_millis()
                );
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(self.retry.max_backoff_ms));
            attempt += 1;
        };
        if res.code.is_err() {
            return Ok(Err(QueryRefused {
                code: res.code.value(),
                codespace: res.codespace,
                log: res.log,
            }));
        }
        Resp::decode(res.value.as_slice())
            .map(Ok)
            .map_err(|e| ChainError::Query(format!("{path}: cannot decode the response: {e}")))
    }

    /// Latest block height.
    pub async fn height(&self) -> Result<u64, ChainError> {
        let status = self
            .with_retry("status", |c| async move { c.status().await })
            .await?;
        Ok(status.sync_info.latest_block_height.value())
    }

    /// The node's chain id.
    pub async fn chain_id(&self) -> Result<String, ChainError> {
        let status = self
            .with_retry("status", |c| async move { c.status().await })
            .await?;
        Ok(status.node_info.network.to_string())
    }

    /// `broadcast_tx_sync`: the CheckTx verdict (code, codespace, log) and the tx hash.
    pub async fn broadcast_sync(
        &self,
        tx: Vec<u8>,
    ) -> Result<(u32, String, String, String), ChainError> {
        let res = self
            .with_retry("broadcast_tx_sync", |c| {
                let tx = tx.clone();
                async move { c.broadcast_tx_sync(tx).await }
            })
            .await?;
        Ok((
            res.code.value(),
            res.codespace,
            res.log,
            res.hash.to_string(),
        ))
    }

    /// Whether the transaction `hash` is in a block already (one look, no waiting).
    pub async fn is_included(&self, hash: &str) -> Result<bool, ChainError> {
        let h: Hash = hash
            .parse()
            .map_err(|e| ChainError::Other(format!("bad tx hash {hash}: {e}")))?;
        match self
            .with_retry("tx", |c| async move { c.tx(h, false).await })
            .await
        {
            Ok(_) => Ok(true),
            Err(ChainError::Query(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Polls `/tx` until the transaction is in a block or `timeout` passes.
    pub async fn wait_for_tx(&self, hash: &str, timeout: Duration) -> Result<Included, ChainError> {
        let h: Hash = hash
            .parse()
            .map_err(|e| ChainError::Other(format!("bad tx hash {hash}: {e}")))?;
        let started = Instant::now();
        loop {
            // A missing tx is a JSON-RPC error ("tx (…) not found"), not a connection error.
            match self
                .with_retry("tx", |c| async move { c.tx(h, false).await })
                .await
            {
                Ok(res) => {
                    let r = res.tx_result;
                    if r.code.is_err() {
                        return Err(ChainError::Rejected {
                            tx_hash: Some(hash.to_string()),
                            log: format!(
                                "deliver_tx failed at height {} with code {} (codespace {:?}): {}",
                                res.height,
                                r.code.value(),
                                r.codespace,
                                r.log
                            ),
                        });
                    }
                    let events = r
                        .events
                        .iter()
                        .flat_map(|ev| {
                            ev.attributes.iter().map(move |a| {
                                (
                                    ev.kind.clone(),
                                    String::from_utf8_lossy(a.key_bytes()).into_owned(),
                                    String::from_utf8_lossy(a.value_bytes()).into_owned(),
                                )
                            })
                        })
                        .collect();
                    return Ok(Included {
                        hash: hash.to_string(),
                        height: res.height.value(),
                        gas_wanted: u64::try_from(r.gas_wanted).unwrap_or(0),
                        gas_used: u64::try_from(r.gas_used).unwrap_or(0),
                        data: result_data(&r.data),
                        events,
                    });
                }
                Err(ChainError::Query(_)) if started.elapsed() < timeout => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(ChainError::Query(e)) => {
                    return Err(ChainError::Other(format!(
                        "tx {hash} was accepted by {} but is not in a block after {:.0} s ({e})",
                        self.url,
                        timeout.as_secs_f64()
                    )))
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The request timeout this client was built with.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }
}

/// The app refused an ABCI query: its code and log, verbatim.
#[derive(Debug, Clone)]
pub struct QueryRefused {
    pub code: u32,
    pub codespace: String,
    pub log: String,
}

impl std::fmt::Display for QueryRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "code {} (codespace {:?}): {}",
            self.code, self.codespace, self.log
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use cosmrs::proto::cosmos::base::abci::v1beta1::GasInfo;
    use cosmrs::proto::cosmos::tx::v1beta1::{SimulateRequest, SimulateResponse};
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A node on a loopback port that answers every `abci_query` with `answers[k]` (the last
    /// one repeated), counting the requests.
    fn fake_node(answers: Vec<(u32, String, Vec<u8>)>) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("bound"));
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; len];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                let req: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let k = seen.fetch_add(1, Ordering::SeqCst).min(answers.len() - 1);
                let (code, log, value) = &answers[k];
                let reply = serde_json::json!({
                    "jsonrpc": "2.0",
                    "id": req["id"],
                    "result": {"response": {
                        "code": code, "log": log, "info": "", "index": "0", "key": null,
                        "value": base64::engine::general_purpose::STANDARD.encode(value),
                        "proofOps": null, "height": "5",
                        "codespace": if *code == 0 { "" } else { "sdk" },
                    }},
                })
                .to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                    reply.len()
                );
            }
        });
        (url, count)
    }

    fn quick_rpc(url: &str) -> Rpc {
        let retry = RetryPolicy {
            attempts: 4,
            first_backoff_ms: 5,
            max_backoff_ms: 10,
        };
        Rpc::new(url, retry, Duration::from_secs(5)).expect("a client")
    }

    fn block_on<T>(f: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(f)
    }

    const UNKNOWN: &str = "unknown query path: unknown request";

    #[test]
    fn a_service_registered_after_start_is_asked_again() {
        let gas = SimulateResponse {
            gas_info: Some(GasInfo {
                gas_wanted: 0,
                gas_used: 1234,
            }),
            result: None,
        };
        let (url, count) = fake_node(vec![
            (6, UNKNOWN.into(), vec![]),
            (6, UNKNOWN.into(), vec![]),
            (0, String::new(), gas.encode_to_vec()),
        ]);
        let rpc = quick_rpc(&url);
        #[allow(deprecated)]
        let req = SimulateRequest {
            tx: None,
            tx_bytes: vec![1],
        };
        let res: SimulateResponse =
            block_on(rpc.abci_query("/cosmos.tx.v1beta1.Service/Simulate", &req))
                .expect("the node answers")
                .expect("the third answer is accepted");
        assert_eq!(res.gas_info.map(|g| g.gas_used), Some(1234));
        assert_eq!(count.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn an_unknown_path_is_refused_at_once_and_a_late_service_after_the_attempts() {
        let (url, count) = fake_node(vec![(6, UNKNOWN.into(), vec![])]);
        let rpc = quick_rpc(&url);
        #[allow(deprecated)]
        let req = SimulateRequest {
            tx: None,
            tx_bytes: vec![1],
        };
        // A path the app registers when it is built: unknown means unknown, no retry.
        let refused =
            block_on(rpc.abci_query::<_, SimulateResponse>("/no.such.v1.Query/Thing", &req))
                .expect("the node answers")
                .expect_err("refused");
        assert!(
            refused.log.contains("unknown query path"),
            "{}",
            refused.log
        );
        assert_eq!(count.load(Ordering::SeqCst), 1);
        // The transaction service: asked `attempts` times, then the refusal is passed on.
        let refused = block_on(
            rpc.abci_query::<_, SimulateResponse>("/cosmos.tx.v1beta1.Service/Simulate", &req),
        )
        .expect("the node answers")
        .expect_err("still refused");
        assert_eq!(refused.code, 6);
        assert_eq!(count.load(Ordering::SeqCst), 1 + 4);
    }

    /// A `MakeWriter` into a shared buffer.
    #[derive(Clone, Default)]
    struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("not poisoned").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn retry_notices_are_json_lines_under_a_json_subscriber() {
        // Nothing listens on a port we bound and released.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let rpc = Rpc::new(
            &format!("http://127.0.0.1:{port}"),
            RetryPolicy {
                attempts: 3,
                first_backoff_ms: 1,
                max_backoff_ms: 2,
            },
            Duration::from_secs(2),
        )
        .expect("client");
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(move || writer.clone())
            .finish();
        let err = tracing::subscriber::with_default(subscriber, || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(rpc.height())
                .expect_err("nothing listens")
        });
        assert!(matches!(err, ChainError::Unreachable { .. }), "{err}");
        let text = String::from_utf8(out.0.lock().expect("not poisoned").clone()).expect("utf-8");
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        // Two retries before the third, last attempt; each one JSON object naming the node.
        assert_eq!(lines.len(), 2, "{text}");
        for (k, line) in lines.iter().enumerate() {
            let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            assert_eq!(v["level"], "WARN", "{line}");
            assert_eq!(v["fields"]["retry"], k as u64 + 1, "{line}");
            assert_eq!(v["fields"]["of"], 2, "{line}");
            assert!(
                v["fields"]["node"]
                    .as_str()
                    .is_some_and(|n| n.contains(&port.to_string())),
                "{line}"
            );
        }
    }
}
