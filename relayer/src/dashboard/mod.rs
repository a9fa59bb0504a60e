//! `fairshare dashboard`: a web page for participants and DAO members, served by this binary with
//! its assets embedded, and a small JSON API in front of the configured node.
//!
//! Everything the page shows comes from the chain through this API: `/api/info` (node, chain id,
//! height and the four contract addresses, the escrow and token read from the contracts' own
//! configs) and `/api/query` (a smart query on one of those four contracts). Nothing is read from
//! files on this machine except the configuration: the node, and the round-manager and DAO
//! addresses (from `--round-manager`/`--dao` or the deployment file `fairshare deploy` wrote).
//!
//! Read-only unless someone signs: `/api/tx/prepare` builds a transaction's sign document (direct
//! mode, gas simulated on the node) for the page to have signed by the browser wallet
//! (`window.keplr`'s offline signer), and `/api/tx/broadcast` sends the signed bytes and waits for
//! the block. The keys never reach this server. With `--dev-signer` (localnet only) the page can
//! also sign with the public test keys of the accounts file, through `/api/dev/*`.

pub mod signing;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cosmrs::proto::cosmwasm::wasm::v1::{
    QuerySmartContractStateRequest, QuerySmartContractStateResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::OnceCell;

use crate::chain::ChainError;
use crate::cli::config::Config;
use crate::wasmd::rpc::Rpc;
use crate::wasmd::{Account, GasPrice, RetryPolicy};

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");

/// Options of `fairshare dashboard`.
#[derive(clap::Args, Debug, Clone)]
pub struct DashboardArgs {
    /// Address to serve the page on (loopback by default; the page can sign nothing by itself).
    #[arg(long, default_value = "127.0.0.1:8686")]
    pub listen: SocketAddr,
    /// Round-manager contract address (default: the deployment file's).
    #[arg(long)]
    pub round_manager: Option<String>,
    /// DAO contract address (default: the deployment file's).
    #[arg(long)]
    pub dao: Option<String>,
    /// DEVELOPMENT ONLY (localnet): let the page sign with the test keys of the configured
    /// accounts file (`localnet/accounts.toml`, whose mnemonics are public). Never use it on a
    /// chain with real value.
    #[arg(long)]
    pub dev_signer: bool,
}

/// Why the dashboard cannot answer.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("cannot reach the node at {url}: {reason}")]
    NodeDown { url: String, reason: String },
    #[error(
        "the node at {url} runs chain {actual:?}, but the dashboard is configured for {expected:?}"
    )]
    WrongChain {
        url: String,
        actual: String,
        expected: String,
    },
    #[error("no {role} contract answers at {address:?} on chain {chain_id}: {reason}. Check the address (--{flag} or the deployment file)")]
    BadContract {
        role: &'static str,
        flag: &'static str,
        address: String,
        chain_id: String,
        reason: String,
    },
    #[error("no {0} address is configured: pass --{1} or run `fairshare deploy` (it writes the deployment file)")]
    NotConfigured(&'static str, &'static str),
    #[error("{0}")]
    BadRequest(String),
    #[error("the chain refused: {0}")]
    Chain(String),
    #[error(
        "the development signer is off: start the dashboard with --dev-signer (localnet only)"
    )]
    DevSignerOff,
    #[error(
        "refused: with --dev-signer this dashboard answers only requests addressed to a loopback \
         name or address (localhost, 127.0.0.1, [::1]), not Host {0:?} (a page on another site \
         may have rebound its name to this machine)"
    )]
    ForeignHost(String),
}

impl DashboardError {
    fn kind(&self) -> &'static str {
        match self {
            DashboardError::NodeDown { .. } => "node_down",
            DashboardError::WrongChain { .. } => "wrong_chain",
            DashboardError::BadContract { .. } | DashboardError::NotConfigured(..) => {
                "bad_contract"
            }
            DashboardError::BadRequest(_) => "bad_request",
            DashboardError::Chain(_) => "chain",
            DashboardError::DevSignerOff => "dev_signer_off",
            DashboardError::ForeignHost(_) => "foreign_host",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            DashboardError::NodeDown { .. } => StatusCode::SERVICE_UNAVAILABLE,
            DashboardError::BadRequest(_) | DashboardError::Chain(_) => StatusCode::BAD_REQUEST,
            DashboardError::DevSignerOff => StatusCode::NOT_FOUND,
            DashboardError::ForeignHost(_) => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_GATEWAY,
        }
    }

    fn from_chain(e: ChainError) -> Self {
        match e {
            ChainError::Unreachable { url, reason } => DashboardError::NodeDown { url, reason },
            ChainError::Rejected { log, .. } => DashboardError::Chain(log),
            other => DashboardError::Chain(other.to_string()),
        }
    }
}

impl IntoResponse for DashboardError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.to_string(), "kind": self.kind() });
        (self.status(), Json(body)).into_response()
    }
}

type ApiResult<T> = std::result::Result<Json<T>, DashboardError>;

/// The four contracts, as resolved on chain.
#[derive(Debug, Clone, Serialize)]
pub struct Contracts {
    pub round_manager: String,
    pub escrow: Option<String>,
    pub token: Option<String>,
    pub dao: Option<String>,
}

/// What the server knows: the node and the two configured addresses.
pub struct Dashboard {
    rpc: Rpc,
    chain_id: String,
    prefix: String,
    gas_price: GasPrice,
    gas_adjustment: f64,
    round_manager: Option<String>,
    dao: Option<String>,
    contracts: OnceCell<Contracts>,
    dev_accounts: Option<Vec<Account>>,
}

impl Dashboard {
    /// A dashboard for `cfg`'s node; the addresses from `args`, else from the deployment file.
    pub fn new(cfg: &Config, args: &DashboardArgs) -> Result<Self> {
        let deployment: Option<crate::ops::Deployment> = std::fs::read_to_string(&cfg.deployment)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok());
        let round_manager = args
            .round_manager
            .clone()
            .or_else(|| deployment.as_ref().map(|d| d.round_manager.to_string()));
        let dao = args.dao.clone().or_else(|| {
            deployment
                .as_ref()
                .and_then(|d| d.dao.as_ref().map(|a| a.to_string()))
        });
        let wasmd = cfg.wasmd()?;
        // A page waits on these calls: fail fast when the node is down rather than retry for 16 s.
        let retry = RetryPolicy {
            attempts: 2,
            first_backoff_ms: 100,
            max_backoff_ms: 200,
        };
        let rpc = Rpc::new(&cfg.rpc, retry, Duration::from_secs(5))
            .with_context(|| format!("node URL {}", cfg.rpc))?;
        if args.dev_signer && !args.listen.ip().is_loopback() {
            anyhow::bail!(
                "--dev-signer signs any transaction for the accounts file's keys, so it is only \
                 served on a loopback address; {} is not one (drop --dev-signer or use \
                 --listen 127.0.0.1:PORT)",
                args.listen
            );
        }
        let dev_accounts = if args.dev_signer {
            let accounts =
                crate::wasmd::LocalnetAccounts::load(&cfg.accounts).with_context(|| {
                    format!(
                        "--dev-signer reads the test keys in {}",
                        cfg.accounts.display()
                    )
                })?;
            let all = accounts
                .accounts
                .iter()
                .map(|e| accounts.account(&e.name))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Some(all)
        } else {
            None
        };
        Ok(Self {
            rpc,
            chain_id: cfg.chain_id.clone(),
            prefix: cfg.prefix.clone(),
            gas_price: wasmd.gas_price,
            gas_adjustment: cfg.gas_adjustment,
            round_manager,
            dao,
            contracts: OnceCell::new(),
            dev_accounts,
        })
    }

    /// The node's chain id, checked against the configured one.
    async fn check_chain(&self) -> std::result::Result<u64, DashboardError> {
        let actual = self
            .rpc
            .chain_id()
            .await
            .map_err(DashboardError::from_chain)?;
        if actual != self.chain_id {
            return Err(DashboardError::WrongChain {
                url: self.rpc.url().to_string(),
                actual,
                expected: self.chain_id.clone(),
            });
        }
        self.rpc.height().await.map_err(DashboardError::from_chain)
    }

    /// A smart query on `address`.
    pub async fn smart(
        &self,
        address: &str,
        msg: &Value,
    ) -> std::result::Result<Value, DashboardError> {
        let path = "/cosmwasm.wasm.v1.Query/SmartContractState";
        let req = QuerySmartContractStateRequest {
            address: address.to_string(),
            query_data: serde_json::to_vec(msg)
                .map_err(|e| DashboardError::BadRequest(e.to_string()))?,
        };
        let res: QuerySmartContractStateResponse = self
            .rpc
            .abci_query(path, &req)
            .await
            .map_err(DashboardError::from_chain)?
            .map_err(|refused| DashboardError::Chain(refused.to_string()))?;
        serde_json::from_slice(&res.data).map_err(|e| DashboardError::Chain(e.to_string()))
    }

    /// The contracts, resolved once: the escrow from the round-manager's config, the token from
    /// the DAO's (else the escrow's).
    async fn contracts(&self) -> std::result::Result<&Contracts, DashboardError> {
        self.contracts
            .get_or_try_init(|| async {
                let rm = self
                    .round_manager
                    .clone()
                    .ok_or(DashboardError::NotConfigured(
                        "round-manager",
                        "round-manager",
                    ))?;
                let bad = |role, flag, address: &str, e: DashboardError| match e {
                    DashboardError::Chain(reason) => DashboardError::BadContract {
                        role,
                        flag,
                        address: address.to_string(),
                        chain_id: self.chain_id.clone(),
                        reason,
                    },
                    other => other,
                };
                let cfg = self
                    .smart(&rm, &json!({ "config": {} }))
                    .await
                    .map_err(|e| bad("round-manager", "round-manager", &rm, e))?;
                if cfg.get("next_round_id").is_none() {
                    return Err(DashboardError::BadContract {
                        role: "round-manager",
                        flag: "round-manager",
                        address: rm,
                        chain_id: self.chain_id.clone(),
                        reason: "its config is not a round-manager's".into(),
                    });
                }
                let escrow = cfg["escrow"].as_str().map(str::to_owned);
                let mut token = None;
                if let Some(dao) = &self.dao {
                    let d = self
                        .smart(dao, &json!({ "config": {} }))
                        .await
                        .map_err(|e| bad("DAO", "dao", dao, e))?;
                    token = d["token"].as_str().map(str::to_owned);
                }
                if token.is_none() {
                    if let Some(escrow) = &escrow {
                        let e = self.smart(escrow, &json!({ "config": {} })).await?;
                        token = e["reward_token"].as_str().map(str::to_owned);
                    }
                }
                Ok(Contracts {
                    round_manager: rm,
                    escrow,
                    token,
                    dao: self.dao.clone(),
                })
            })
            .await
    }

    async fn address_of(&self, role: &str) -> std::result::Result<String, DashboardError> {
        let c = self.contracts().await?;
        let found = match role {
            "round_manager" => Some(c.round_manager.clone()),
            "escrow" => c.escrow.clone(),
            "token" => c.token.clone(),
            "dao" => c.dao.clone(),
            other => {
                return Err(DashboardError::BadRequest(format!(
                    "unknown contract {other:?}: one of round_manager, escrow, token, dao"
                )))
            }
        };
        found.ok_or_else(|| DashboardError::BadRequest(format!("no {role} contract is deployed")))
    }
}

/// Serves the dashboard until Ctrl-C.
pub fn run(cfg: &Config, args: &DashboardArgs) -> Result<()> {
    let dash = Arc::new(Dashboard::new(cfg, args)?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let local = listener.local_addr()?;
        eprintln!(
            "fairshare dashboard on http://{local}/ (node {}, chain {}){}",
            cfg.rpc,
            cfg.chain_id,
            if args.dev_signer {
                " — DEVELOPMENT SIGNER ON: the page can sign with the localnet's public test keys"
            } else {
                ""
            }
        );
        axum::serve(listener, router(dash))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("serving the dashboard")
    })
}

/// The page and its API.
pub fn router(dash: Arc<Dashboard>) -> Router {
    let asset = |ctype: &'static str, body: &'static str| {
        move || async move {
            (
                [
                    (header::CONTENT_TYPE, ctype),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                body,
            )
        }
    };
    Router::new()
        .route("/", get(asset("text/html; charset=utf-8", INDEX_HTML)))
        .route(
            "/app.js",
            get(asset("text/javascript; charset=utf-8", APP_JS)),
        )
        .route(
            "/style.css",
            get(asset("text/css; charset=utf-8", STYLE_CSS)),
        )
        .route("/api/info", get(info))
        .route("/api/query", post(query))
        .route("/api/tx/prepare", post(signing::prepare))
        .route("/api/tx/broadcast", post(signing::broadcast))
        .route("/api/dev/accounts", get(signing::dev_accounts))
        .route("/api/dev/sign", post(signing::dev_sign))
        .layer(axum::middleware::from_fn_with_state(
            dash.clone(),
            loopback_host_only,
        ))
        .with_state(dash)
}

/// With the dev signer on, refuses every request whose `Host` is not a loopback name or
/// address: a page on another site whose DNS name was rebound to 127.0.0.1 sends its own name
/// as Host, so it cannot read or sign through this server.
async fn loopback_host_only(
    State(d): State<Arc<Dashboard>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if d.dev_accounts.is_some() {
        let host = req
            .headers()
            .get(header::HOST)
            .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned())
            .or_else(|| req.uri().authority().map(|a| a.as_str().to_owned()))
            .unwrap_or_default();
        if !host_is_loopback(&host) {
            tracing::warn!(host = %host, "refused a request to the dev signer's dashboard");
            return DashboardError::ForeignHost(host).into_response();
        }
    }
    next.run(req).await
}

/// Whether an HTTP `Host` value (name or address, optional port) names this machine's loopback:
/// `localhost` and `*.localhost` (RFC 6761: never resolved through DNS), 127.0.0.0/8, `[::1]`.
pub fn host_is_loopback(host: &str) -> bool {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port or [v6]
        let Some((addr, tail)) = rest.split_once(']') else {
            return false;
        };
        if !(tail.is_empty() || tail.strip_prefix(':').is_some_and(is_port)) {
            return false;
        }
        return addr
            .parse::<std::net::Ipv6Addr>()
            .is_ok_and(|a| a.is_loopback());
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if is_port(port) => name,
            Some(_) => return false,
            None => host,
        }
    };
    if let Ok(a) = name.parse::<std::net::Ipv4Addr>() {
        return a.is_loopback();
    }
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    name == "localhost"
        || name.strip_suffix(".localhost").is_some_and(|sub| {
            !sub.is_empty()
                && sub
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        })
}

fn is_port(p: &str) -> bool {
    !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
}

async fn info(State(d): State<Arc<Dashboard>>) -> ApiResult<Value> {
    let height = d.check_chain().await?;
    let contracts = d.contracts().await?;
    Ok(Json(json!({
        "node": d.rpc.url(),
        "chain_id": d.chain_id,
        "prefix": d.prefix,
        "height": height,
        "contracts": contracts,
        "gas_price": d.gas_price.to_string(),
        "dev_signer": d.dev_accounts.is_some(),
    })))
}

#[derive(Deserialize)]
struct QueryReq {
    /// `round_manager`, `escrow`, `token` or `dao`.
    contract: String,
    msg: Value,
}

async fn query(State(d): State<Arc<Dashboard>>, Json(q): Json<QueryReq>) -> ApiResult<Value> {
    let address = d.address_of(&q.contract).await?;
    Ok(Json(d.smart(&address, &q.msg).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dash(rpc: &str, rm: Option<&str>) -> Arc<Dashboard> {
        let cfg = Config {
            rpc: rpc.into(),
            deployment: std::path::PathBuf::from("/nonexistent/deployment.json"),
            ..Config::default()
        };
        let args = DashboardArgs {
            listen: "127.0.0.1:0".parse().expect("addr"),
            round_manager: rm.map(str::to_owned),
            dao: None,
            dev_signer: false,
        };
        Arc::new(Dashboard::new(&cfg, &args).expect("dashboard"))
    }

    /// Serves `app` on a free loopback port and GETs `path` from it.
    async fn get(app: Router, path: &str) -> (StatusCode, Vec<u8>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        let res = reqwest::get(format!("http://{addr}{path}"))
            .await
            .expect("response");
        let status = res.status().as_u16();
        let body = res.bytes().await.expect("body").to_vec();
        (StatusCode::from_u16(status).expect("status"), body)
    }

    #[test]
    fn the_dev_signer_is_refused_beyond_loopback() {
        let cfg = Config {
            deployment: std::path::PathBuf::from("/nonexistent/deployment.json"),
            ..Config::default()
        };
        let args = DashboardArgs {
            listen: "0.0.0.0:8686".parse().expect("addr"),
            round_manager: Some("wasm1x".into()),
            dao: None,
            dev_signer: true,
        };
        let e = Dashboard::new(&cfg, &args)
            .err()
            .expect("refused on 0.0.0.0");
        assert!(e.to_string().contains("loopback"), "{e}");
        // Without the dev signer, any address is allowed.
        let open = DashboardArgs {
            dev_signer: false,
            ..args
        };
        assert!(Dashboard::new(&cfg, &open).is_ok());
    }

    #[tokio::test]
    async fn serves_the_embedded_page() {
        let app = router(dash("http://127.0.0.1:9", Some("wasm1x")));
        let (status, body) = get(app.clone(), "/").await;
        assert_eq!(status, StatusCode::OK);
        let html = String::from_utf8(body).expect("utf-8");
        assert!(html.contains("<script type=\"module\" src=\"/app.js\">"));
        let (status, js) = get(app, "/app.js").await;
        assert_eq!(status, StatusCode::OK);
        assert!(String::from_utf8(js).expect("utf-8").contains("/api/info"));
    }

    #[tokio::test]
    async fn a_node_that_is_down_is_named() {
        // Port 9 (discard) on loopback: nothing listens there.
        let (status, body) = get(
            router(dash("http://127.0.0.1:9", Some("wasm1x"))),
            "/api/info",
        )
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let v: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["kind"], "node_down");
        let msg = v["error"].as_str().expect("message");
        assert!(
            msg.contains("cannot reach the node at http://127.0.0.1:9"),
            "{msg}"
        );
    }

    #[test]
    fn loopback_hosts_are_told_from_other_names() {
        for ok in [
            "localhost",
            "localhost:8686",
            "LOCALHOST.:8686",
            "app.localhost:80",
            "127.0.0.1",
            "127.0.0.1:8686",
            "127.1.2.3:1",
            "[::1]",
            "[::1]:8686",
        ] {
            assert!(host_is_loopback(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.example",
            "evil.example:8686",
            "localhost.evil.example",
            "127.0.0.1.nip.io:8686",
            "10.0.0.1:8686",
            "0.0.0.0:8686",
            "[::2]:8686",
            "[::1]x",
            "localhost:http",
            "[::1",
        ] {
            assert!(!host_is_loopback(bad), "{bad}");
        }
    }

    #[tokio::test]
    async fn the_dev_signer_refuses_a_rebound_host() {
        let cfg = Config {
            rpc: "http://127.0.0.1:9".into(),
            accounts: std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../localnet/accounts.toml"),
            deployment: std::path::PathBuf::from("/nonexistent/deployment.json"),
            ..Config::default()
        };
        let args = DashboardArgs {
            listen: "127.0.0.1:0".parse().expect("addr"),
            round_manager: Some("wasm1x".into()),
            dao: None,
            dev_signer: true,
        };
        let dash = Arc::new(Dashboard::new(&cfg, &args).expect("dashboard"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let addr = listener.local_addr().expect("address");
        let app = router(dash);
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = reqwest::Client::new();
        let ask = |host: &'static str, path: &'static str| {
            let client = client.clone();
            async move {
                let res = client
                    .get(format!("http://{addr}{path}"))
                    .header(header::HOST, host)
                    .send()
                    .await
                    .expect("response");
                let status = res.status().as_u16();
                (status, res.bytes().await.expect("body").to_vec())
            }
        };
        // A page on a rebound name: refused, on the signer and on everything else.
        for path in ["/api/dev/accounts", "/api/info", "/"] {
            let (status, body) = ask("evil.example:8686", path).await;
            assert_eq!(status, 403, "{path}");
            let v: Value = serde_json::from_slice(&body).expect("json");
            assert_eq!(v["kind"], "foreign_host");
            assert!(
                v["error"]
                    .as_str()
                    .expect("message")
                    .contains("evil.example"),
                "{v}"
            );
        }
        // The same request addressed to localhost is served.
        let (status, body) = ask("localhost:8686", "/api/dev/accounts").await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let (status, _) = ask("127.0.0.1:8686", "/").await;
        assert_eq!(status, 200);
    }

    #[tokio::test]
    async fn dev_endpoints_are_off_by_default() {
        let (status, body) = get(
            router(dash("http://127.0.0.1:9", None)),
            "/api/dev/accounts",
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let v: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["kind"], "dev_signer_off");
    }
}
