//! The relayer's HTTP API (axum):
//!
//! | method | path | what |
//! |---|---|---|
//! | GET  | `/v1/health` | chain id, height, queue size |
//! | POST | `/v1/bundles` | upload a bundle archive (`application/x-tar`); answers its CID and update hash |
//! | GET  | `/v1/bundles/cid/{cid}` | the archive with that CID |
//! | GET  | `/v1/bundles/hash/{update_hash}` | `{"cid": …}` of the archive with that update hash |
//! | POST | `/v1/commitments` | a signed commitment ([`CommitRequest`]); checked like `fairshare submit`, then queued durably |
//! | GET  | `/v1/rounds/{id}` | the round's state on chain and the relayer's entries for it |
//! | POST | `/v1/tables` | store an evaluator's utility table (JSON); answers `{"table_hash": …}` (operator) |
//! | GET  | `/v1/tables/{table_hash}` | the table with that hash (the reader re-checks it) (operator) |
//!
//! Errors are JSON `{"error": "…"}` with a status that says whose fault it is (4xx: the
//! request; 502: the chain or the store behind the relayer).

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fairshare_protocol::round_manager::{self as rm, SignedCommitment};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::queue::{Entry, Queue};
use super::worker::ChainHandle;
use crate::bundle::{self, Expectation};
use crate::chain::ChainExt;
use crate::ops::{round, Deployment};
use crate::store::dir::{is_hex_hash, DirStore};
use crate::store::kubo::KuboStore;
use crate::store::staging::Staging;
use crate::store::{archive_update_hash, unpack, BundleRef, BundleStore, Cid, MAX_BUNDLE_BYTES};

/// A signed commitment handed to the relayer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommitRequest {
    pub round_id: u64,
    /// Hex update hash of the bundle (already uploaded, or in the relayer's kubo under `cid`).
    pub update_hash: String,
    /// Where the bundle is, when it was published to IPFS rather than uploaded.
    #[serde(default)]
    pub cid: Option<Cid>,
    pub commitment: SignedCommitment,
}

/// What the relayer answers to an accepted commitment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitAnswer {
    /// `queued` (will be posted) or `on_chain` (the chain has it already).
    pub status: String,
    pub cid: Cid,
    /// ‖ΔW‖_F of the update.
    pub norm: f64,
}

/// A bundle the relayer holds for a round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundBundle {
    pub participant: String,
    pub update_hash: String,
    pub cid: Cid,
    pub bytes: u64,
    /// Whether the chain holds its commitment (as far as the relayer has seen).
    pub on_chain: bool,
}

/// `GET /v1/rounds/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoundView {
    pub height: u64,
    pub round: rm::RoundResponse,
    pub pending: usize,
    pub bundles: Vec<RoundBundle>,
}

/// Everything a request handler needs.
pub struct RelayState {
    pub chain: ChainHandle,
    pub deployment: Deployment,
    pub store: DirStore,
    /// Bounds and expires uploads no accepted commitment has vouched for (pinned on accept).
    pub staging: Staging,
    /// Pins every accepted bundle in IPFS too, and reads bundles given by CID from there.
    pub kubo: Option<KuboStore>,
    pub queue: Queue,
    /// Scratch space for checking bundles.
    pub work_dir: PathBuf,
    /// Wakes the batcher when a commitment is queued.
    pub wake: std::sync::mpsc::Sender<()>,
}

/// An error as the API answers it.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

fn upstream(msg: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::BAD_GATEWAY, msg.to_string())
}

fn store_err(e: crate::store::StoreError) -> ApiError {
    use crate::store::StoreError as S;
    match e {
        S::NotFound { .. } | S::TableNotFound { .. } => {
            ApiError(StatusCode::NOT_FOUND, e.to_string())
        }
        S::Archive(_) | S::TooLarge { .. } | S::BadCid(_) | S::Table(_) => bad(e.to_string()),
        S::StagingFull { .. } => ApiError(StatusCode::INSUFFICIENT_STORAGE, e.to_string()),
        _ => upstream(e),
    }
}

/// The largest JSON request body (a signed commitment is well under a kilobyte).
const MAX_JSON_BYTES: usize = 1 << 20;

/// The router over `state`.
pub fn router(state: Arc<RelayState>) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/bundles", post(upload))
        .route("/v1/bundles/cid/{cid}", get(by_cid))
        .route("/v1/bundles/hash/{hash}", get(by_hash))
        .route("/v1/commitments", post(commit))
        .route("/v1/rounds/{id}", get(round_view))
        .route("/v1/tables", post(upload_table))
        .route("/v1/tables/{hash}", get(table_by_hash))
        // JSON requests (commitments) are small; bundle uploads read their body themselves, up
        // to MAX_BUNDLE_BYTES, a bounded number at a time (see `upload`).
        .layer(DefaultBodyLimit::max(MAX_JSON_BYTES))
        .with_state(state)
}

async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> Result<R, ApiError> + Send + 'static,
) -> Result<R, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
}

async fn health(State(s): State<Arc<RelayState>>) -> Result<Json<serde_json::Value>, ApiError> {
    let (chain_id, height) = s
        .chain
        .run(|c| Ok::<_, crate::chain::ChainError>((c.chain_id()?, c.height()?)))
        .await
        .map_err(upstream)?
        .map_err(upstream)?;
    let pending: usize = s
        .queue
        .rounds()
        .into_iter()
        .map(|r| s.queue.pending(r).map(|v| v.len()).unwrap_or(0))
        .sum();
    Ok(Json(
        json!({ "chain_id": chain_id, "height": height, "pending": pending }),
    ))
}

/// How many bundle uploads are held in memory at once. Each may be up to `MAX_BUNDLE_BYTES`, so
/// without this limit a few concurrent large uploads could exhaust the relayer's memory; further
/// uploads wait (their bodies unread) until one finishes.
const UPLOADS_AT_ONCE: usize = 2;
static UPLOAD_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(UPLOADS_AT_ONCE);

async fn upload(
    State(s): State<Arc<RelayState>>,
    body: axum::body::Body,
) -> Result<Json<BundleRef>, ApiError> {
    let _slot = UPLOAD_SLOTS.acquire().await.map_err(|e| {
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("upload slots closed: {e}"),
        )
    })?;
    let body: Bytes = axum::body::to_bytes(body, MAX_BUNDLE_BYTES as usize)
        .await
        .map_err(|e| {
            ApiError(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("cannot read the bundle upload (at most {MAX_BUNDLE_BYTES} bytes): {e}"),
            )
        })?;
    blocking(move || {
        let update_hash = archive_update_hash(&body).map_err(store_err)?;
        let cid = s
            .staging
            .admit(&s.store, &body, &update_hash)
            .map_err(store_err)?;
        s.note_upload(&body, &update_hash, &cid);
        tracing::info!(%cid, %update_hash, bytes = body.len(), "bundle stored");
        Ok(BundleRef {
            cid,
            update_hash,
            bytes: body.len() as u64,
        })
    })
    .await
    .map(Json)
}

async fn by_cid(
    State(s): State<Arc<RelayState>>,
    UrlPath(cid): UrlPath<String>,
) -> Result<Response, ApiError> {
    let cid = Cid::parse(&cid).map_err(store_err)?;
    let bytes = blocking(move || s.store.get(&cid).map_err(store_err)).await?;
    Ok(([(header::CONTENT_TYPE, "application/x-tar")], bytes).into_response())
}

async fn by_hash(
    State(s): State<Arc<RelayState>>,
    UrlPath(hash): UrlPath<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if !is_hex_hash(&hash) {
        return Err(bad(format!("{hash:?} is not a hex sha256")));
    }
    let h = hash.clone();
    match blocking(move || s.store.lookup(&h).map_err(store_err)).await? {
        Some(cid) => Ok(Json(json!({ "cid": cid }))),
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no bundle with update hash {hash}"),
        )),
    }
}

/// Which round's report a table upload belongs to.
#[derive(Deserialize)]
struct TableUpload {
    round: u64,
}

/// `POST /v1/tables?round=N`: an evaluator's utility table, kept under the hash the store
/// computes, if a report revealed in round N commits to that hash (evaluators publish right
/// after revealing). Anyone may upload, but only a table the chain vouches for is kept.
async fn upload_table(
    State(s): State<Arc<RelayState>>,
    axum::extract::Query(q): axum::extract::Query<TableUpload>,
    body: axum::body::Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    let max = crate::store::MAX_TABLE_BYTES as usize;
    let body: Bytes = axum::body::to_bytes(body, max).await.map_err(|e| {
        ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("cannot read the table upload (at most {max} bytes): {e}"),
        )
    })?;
    let round_id = q.round;
    let hash = blocking(move || {
        let (_, hash) = crate::store::parse_table(&body).map_err(store_err)?;
        let (d, h) = (s.deployment.clone(), hash.clone());
        let committed = s
            .chain
            .call(move |c| round::table_is_committed(c, &d, round_id, &h))
            .map_err(upstream)?
            .map_err(|e| upstream(format!("round {round_id}: {e}")))?;
        if !committed {
            return Err(ApiError(
                StatusCode::FORBIDDEN,
                format!("no report revealed in round {round_id} commits to table {hash}: a table is kept only once the report that commits to it is revealed"),
            ));
        }
        s.store.put_table(&body, round_id).map_err(store_err)
    })
    .await?;
    tracing::info!(round = round_id, table_hash = %hash, "table stored");
    Ok(Json(json!({ "table_hash": hash })))
}

/// `GET /v1/tables/{table_hash}` (added by "operator").
async fn table_by_hash(
    State(s): State<Arc<RelayState>>,
    UrlPath(hash): UrlPath<String>,
) -> Result<Response, ApiError> {
    if !is_hex_hash(&hash) {
        return Err(bad(format!("{hash:?} is not a hex sha256")));
    }
    let bytes = blocking(move || s.store.get_table(&hash).map_err(store_err)).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], bytes).into_response())
}

async fn commit(
    State(s): State<Arc<RelayState>>,
    Json(req): Json<CommitRequest>,
) -> Result<(StatusCode, Json<CommitAnswer>), ApiError> {
    let st = s.clone();
    let answer = blocking(move || accept(&st, &req)).await?;
    let code = if answer.status == "queued" {
        let _ = s.wake.send(());
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((code, Json(answer)))
}

/// Checks a commitment and its bundle as `fairshare submit` does (hash, round, base model,
/// tensor names, shapes, dtypes, finiteness, norm, signature against the registered key) and
/// queues it durably.
pub fn accept(s: &RelayState, req: &CommitRequest) -> Result<CommitAnswer, ApiError> {
    let want = req.update_hash.to_ascii_lowercase();
    if !is_hex_hash(&want) {
        return Err(bad(format!(
            "update_hash {:?} is not a hex sha256",
            req.update_hash
        )));
    }
    // The bundle: already in the relayer's store, or fetched from IPFS by its CID.
    let cid = match s.store.lookup(&want).map_err(store_err)? {
        Some(c) => c,
        None => {
            let (Some(cid), Some(kubo)) = (&req.cid, &s.kubo) else {
                return Err(ApiError(
                    StatusCode::NOT_FOUND,
                    format!("no bundle with update hash {want}: upload it (POST /v1/bundles) before its commitment"),
                ));
            };
            let archive = kubo.get(cid).map_err(store_err)?;
            let hash = archive_update_hash(&archive).map_err(store_err)?;
            s.staging
                .admit(&s.store, &archive, &hash)
                .map_err(store_err)?
        }
    };
    let archive = s.store.get(&cid).map_err(store_err)?;
    if archive_update_hash(&archive).map_err(store_err)? != want {
        return Err(upstream(format!(
            "the relayer's store holds a wrong bundle under {want}"
        )));
    }
    let dir = s
        .work_dir
        .join(format!("check-{}-{}", want, rand::random::<u32>()));
    let _cleanup = RemoveOnDrop(dir.clone());
    std::fs::create_dir_all(&dir).map_err(upstream)?;
    for (name, bytes) in unpack(&archive).map_err(store_err)? {
        std::fs::write(dir.join(name), bytes).map_err(upstream)?;
    }
    let d = s.deployment.clone();
    let (round_id, participant) = (req.round_id, req.commitment.participant.clone());
    let (status, p, chain_id) = s
        .chain
        .call(move |c| {
            let r = round::status(c, &d, round_id)?;
            let p: Result<rm::ParticipantResponse, _> = c.query(
                d.round_manager.as_str(),
                &rm::QueryMsg::Participant {
                    round_id,
                    participant,
                },
            );
            Ok::<_, crate::chain::ChainError>((r, p, c.chain_id()?))
        })
        .map_err(upstream)?
        .map_err(|e| upstream(format!("round {}: {e}", req.round_id)))?;
    if !matches!(status.phase, rm::Phase::Open | rm::Phase::Training) {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!(
                "round {} no longer takes commitments (it is {:?})",
                req.round_id, status.phase
            ),
        ));
    }
    let p = p.map_err(|e| {
        bad(format!(
            "{} has not joined round {}: {e}",
            req.commitment.participant, req.round_id
        ))
    })?;
    let shapes_file = s.queue_shapes_path(req.round_id);
    let shapes = std::fs::read(&shapes_file)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let expect = Expectation::for_round(&status, shapes);
    let verified = bundle::verify(&dir, &expect).map_err(|e| bad(e.to_string()))?;
    bundle::verify_commitment(
        &verified,
        &req.commitment,
        p.pubkey.as_slice(),
        &chain_id,
        s.deployment.round_manager.as_str(),
    )
    .map_err(|e| bad(e.to_string()))?;
    if !shapes_file.exists() {
        let _ = std::fs::create_dir_all(shapes_file.parent().unwrap_or(&s.work_dir));
        let _ = std::fs::write(
            &shapes_file,
            serde_json::to_vec(&verified.shapes).unwrap_or_default(),
        );
    }
    // A registered participant signed for it: kept for good, no longer staged.
    s.store.pin(&cid).map_err(store_err)?;
    if let Some(k) = &s.kubo {
        // Data availability across organisations: the relayer's IPFS node keeps the bundle.
        let kcid = k.put(&archive).map_err(store_err)?;
        k.pin(&kcid).map_err(store_err)?;
    }
    let answer = |status: &str| CommitAnswer {
        status: status.into(),
        cid: cid.clone(),
        norm: verified.norm,
    };
    let entry = Entry {
        round_id: req.round_id,
        commitment: req.commitment.clone(),
        update_hash: want.clone(),
        cid: cid.clone(),
        bytes: archive.len() as u64,
    };
    s.queue.put(&entry).map_err(upstream)?;
    if p.commitment.is_some() {
        s.queue
            .mark_done(req.round_id, &req.commitment.participant)
            .map_err(upstream)?;
        return Ok(answer("on_chain"));
    }
    tracing::info!(round = req.round_id, participant = %req.commitment.participant, update_hash = %want, "commitment queued");
    Ok(answer("queued"))
}

/// What the relayer notes of each uploaded bundle (under `work/uploads/round-N/`), so that its
/// round listing also shows a bundle whose commitment reached the chain without it: a
/// participant that uploaded, then found the relayer down and posted its commitment itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct UploadNote {
    participant: String,
    update_hash: String,
    cid: Cid,
    bytes: u64,
}

/// The two manifest fields an upload note needs (the rest is checked when committed).
#[derive(Deserialize)]
struct ManifestHead {
    round: u64,
    participant: String,
}

impl RelayState {
    fn uploads_dir(&self, round_id: u64) -> PathBuf {
        self.work_dir
            .join("uploads")
            .join(format!("round-{round_id}"))
    }

    /// Notes an uploaded bundle under the round and participant its manifest names. A bundle
    /// whose manifest cannot be read is stored all the same (and refused when committed).
    fn note_upload(&self, archive: &[u8], update_hash: &str, cid: &Cid) {
        let head = unpack(archive).ok().and_then(|files| {
            files
                .into_iter()
                .find(|(name, _)| *name == "manifest.json")
                .and_then(|(_, bytes)| serde_json::from_slice::<ManifestHead>(&bytes).ok())
        });
        let Some(head) = head else {
            tracing::warn!(%cid, "uploaded bundle without a readable manifest: not listed by round");
            return;
        };
        // Bech32 addresses only (they become file names): lowercase, with the `1` separator
        // (the operator's merged global adapter names no participant and is not listed).
        if !head.participant.contains('1')
            || head.participant.len() > 128
            || !head
                .participant
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            tracing::warn!(%cid, participant = %head.participant, "uploaded bundle names no valid participant");
            return;
        }
        let dir = self.uploads_dir(head.round);
        let note = UploadNote {
            participant: head.participant.clone(),
            update_hash: update_hash.to_string(),
            cid: cid.clone(),
            bytes: archive.len() as u64,
        };
        let path = dir.join(format!("{}-{update_hash}.json", head.participant));
        let tmp = dir.join(format!(
            ".{}.{:08x}.tmp",
            head.participant,
            rand::random::<u32>()
        ));
        let written = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&tmp, serde_json::to_vec(&note).unwrap_or_default()))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            tracing::warn!(file = %path.display(), error = %e, "cannot note an upload");
        }
    }

    /// Uploaded bundles of a round, by participant, whose participant is not in `listed`.
    fn uploads_beyond(
        &self,
        round_id: u64,
        listed: &[RoundBundle],
    ) -> std::collections::BTreeMap<String, Vec<UploadNote>> {
        let mut out: std::collections::BTreeMap<String, Vec<UploadNote>> = Default::default();
        let Ok(rd) = std::fs::read_dir(self.uploads_dir(round_id)) else {
            return out;
        };
        for e in rd.filter_map(|e| e.ok()) {
            let p = e.path();
            if p.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let Some(note) = std::fs::read(&p)
                .ok()
                .and_then(|b| serde_json::from_slice::<UploadNote>(&b).ok())
            else {
                continue;
            };
            if listed.iter().any(|b| b.participant == note.participant) {
                continue;
            }
            out.entry(note.participant.clone()).or_default().push(note);
        }
        out
    }

    fn queue_shapes_path(&self, round_id: u64) -> PathBuf {
        self.work_dir.join(format!("shapes-round-{round_id}.json"))
    }

    /// The relayer's view of a round (blocking).
    pub fn round_view(&self, round_id: u64) -> Result<RoundView, ApiError> {
        let d = self.deployment.clone();
        let (height, r) = self
            .chain
            .call(move |c| {
                Ok::<_, crate::chain::ChainError>((c.height()?, round::status(c, &d, round_id)?))
            })
            .map_err(upstream)?
            .map_err(|e| ApiError(StatusCode::NOT_FOUND, format!("round {round_id}: {e}")))?;
        let pending = self.queue.pending(round_id).map_err(upstream)?;
        let done = self.queue.done(round_id).map_err(upstream)?;
        let mut bundles: Vec<RoundBundle> = done
            .iter()
            .map(|e| (e, true))
            .chain(pending.iter().map(|e| (e, false)))
            .map(|(e, on_chain)| RoundBundle {
                participant: e.commitment.participant.clone(),
                update_hash: e.update_hash.clone(),
                cid: e.cid.clone(),
                bytes: e.bytes,
                on_chain,
            })
            .collect();
        // Bundles uploaded here whose commitment reached the chain by another way: listed
        // when the chain's binding for their participant is exactly theirs.
        let extra = self.uploads_beyond(round_id, &bundles);
        if !extra.is_empty() {
            let d = self.deployment.clone();
            let found = self
                .chain
                .call(move |c| {
                    let mut found = vec![];
                    for (participant, notes) in extra {
                        let p: Result<rm::ParticipantResponse, _> = c.query(
                            d.round_manager.as_str(),
                            &rm::QueryMsg::Participant {
                                round_id,
                                participant: participant.clone(),
                            },
                        );
                        let Ok(Some(on_chain)) = p.map(|p| p.commitment) else {
                            continue;
                        };
                        found.extend(notes.into_iter().find(|n| {
                            let mut h = [0u8; 32];
                            hex::decode_to_slice(&n.update_hash, &mut h).is_ok()
                                && on_chain.as_slice()
                                    == fairshare_protocol::commitment::binding(&participant, &h)
                        }));
                    }
                    Ok::<_, crate::chain::ChainError>(found)
                })
                .map_err(upstream)?
                .map_err(upstream)?;
            // The chain vouches for them: kept for good, like those committed through here.
            for n in &found {
                self.store.pin(&n.cid).map_err(store_err)?;
            }
            bundles.extend(found.into_iter().map(|n| RoundBundle {
                participant: n.participant,
                update_hash: n.update_hash,
                cid: n.cid,
                bytes: n.bytes,
                on_chain: true,
            }));
        }
        bundles.sort_by(|a, b| a.participant.cmp(&b.participant));
        Ok(RoundView {
            height,
            round: r,
            pending: pending.len(),
            bundles,
        })
    }
}

async fn round_view(
    State(s): State<Arc<RelayState>>,
    UrlPath(id): UrlPath<u64>,
) -> Result<Json<RoundView>, ApiError> {
    blocking(move || s.round_view(id)).await.map(Json)
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
