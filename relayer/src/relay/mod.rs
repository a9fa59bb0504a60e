//! The relayer as a service (`fairshare relayer serve`): an HTTP API that accepts bundles and
//! signed commitments with the checks `fairshare submit` makes, serves bundles from its
//! content-addressed store, and shows rounds as JSON ([`api`]); a durable queue
//! ([`queue`]) drained to the chain in batches by a background thread; several nodes' RPC
//! addresses with fail-over ([`worker::Failover`]).

pub mod api;
pub mod client;
pub mod config;
pub mod queue;
pub mod worker;

#[cfg(test)]
pub(crate) mod tests;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::keys::ParticipantKey;
use crate::ops::Deployment;
use crate::store::dir::DirStore;
use crate::store::kubo::KuboStore;
use crate::store::staging::{Staging, StagingLimits};
use api::RelayState;
use queue::Queue;
use worker::ChainHandle;

/// Why the relayer cannot start.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: String, reason: String },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Other(String),
}

/// What a running relayer needs besides its chain.
pub struct RelayOptions {
    pub listen: String,
    pub data_dir: PathBuf,
    pub deployment: Deployment,
    /// Signs the commitment batches (pays their gas).
    pub poster: ParticipantKey,
    pub batch_size: usize,
    /// How often the queue is drained to the chain (also at start and whenever a commitment
    /// arrives); `None`: never by itself, only by [`Relayer::drain_now`].
    pub batch_interval: Option<Duration>,
    pub kubo: Option<String>,
    /// How much upload not yet vouched for by a commitment is kept, and for how long.
    pub staging: StagingLimits,
}

/// A running relayer: HTTP server and batcher. Stops when dropped or on [`Relayer::stop`].
pub struct Relayer {
    pub addr: SocketAddr,
    pub state: Arc<RelayState>,
    stop: Arc<AtomicBool>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Relayer {
    /// Opens the store and queue under `data_dir`, binds the listener and starts the server
    /// and the batcher on their own threads.
    pub fn start(chain: ChainHandle, o: RelayOptions) -> Result<Self, RelayError> {
        let store = DirStore::open(&o.data_dir.join("store"))?;
        let staging = Staging::open(&store, o.staging)?;
        let kubo = o.kubo.as_deref().map(KuboStore::new).transpose()?;
        let work_dir = o.data_dir.join("work");
        std::fs::create_dir_all(&work_dir)
            .map_err(|e| RelayError::Other(format!("{}: {e}", work_dir.display())))?;
        let (wake_tx, wake_rx) = std::sync::mpsc::channel::<()>();
        let state = Arc::new(RelayState {
            chain: chain.clone(),
            deployment: o.deployment.clone(),
            store,
            staging,
            kubo,
            queue: Queue::new(&o.data_dir.join("queue")),
            work_dir,
            wake: wake_tx,
        });
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| RelayError::Other(format!("cannot start the async runtime: {e}")))?;
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(&o.listen))
            .map_err(|e| RelayError::Listen {
                addr: o.listen.clone(),
                reason: e.to_string(),
            })?;
        let addr = listener.local_addr().map_err(|e| RelayError::Listen {
            addr: o.listen.clone(),
            reason: e.to_string(),
        })?;
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let app = api::router(state.clone());
        let server = std::thread::Builder::new()
            .name("fairshare-relayer-http".into())
            .spawn(move || {
                let r = rt.block_on(async move {
                    axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = shutdown_rx.await;
                        })
                        .await
                });
                if let Err(e) = r {
                    tracing::error!(error = %e, "the HTTP server stopped");
                }
            })
            .map_err(|e| RelayError::Other(e.to_string()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = vec![server];
        if let Some(every) = o.batch_interval {
            let (stop, state) = (stop.clone(), state.clone());
            let (poster, batch) = (o.poster.clone(), o.batch_size);
            threads.push(
                std::thread::Builder::new()
                    .name("fairshare-relayer-batcher".into())
                    .spawn(move || batch_loop(&state, &poster, batch, every, &wake_rx, &stop))
                    .map_err(|e| RelayError::Other(e.to_string()))?,
            );
        }
        tracing::info!(%addr, "relayer listening");
        Ok(Self {
            addr,
            state,
            stop,
            shutdown: Some(shutdown_tx),
            threads,
        })
    }

    /// The base URL of the API.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Drains the queue once now, on the calling thread (the batcher does this on its own).
    pub fn drain_now(
        &self,
        poster: &ParticipantKey,
        batch: usize,
    ) -> Result<queue::Drained, queue::QueueError> {
        drain_once(&self.state, poster, batch)
    }

    /// Stops the server and the batcher and waits for them.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // The batcher wakes on a closed or signalled channel within one interval.
        let _ = self.state.wake.send(());
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Relayer {
    fn drop(&mut self) {
        self.halt();
    }
}

fn drain_once(
    state: &RelayState,
    poster: &ParticipantKey,
    batch: usize,
) -> Result<queue::Drained, queue::QueueError> {
    let (q, d, k) = (
        state.queue.clone(),
        state.deployment.clone(),
        poster.clone(),
    );
    state
        .chain
        .call(move |c| q.drain(c, &d, &k, batch))
        .map_err(|e| queue::QueueError::Chain(crate::chain::ChainError::Other(e.to_string())))?
}

fn batch_loop(
    state: &RelayState,
    poster: &ParticipantKey,
    batch: usize,
    every: Duration,
    wake: &std::sync::mpsc::Receiver<()>,
    stop: &AtomicBool,
) {
    let mut backoff = every;
    while !stop.load(Ordering::SeqCst) {
        match drain_once(state, poster, batch) {
            Ok(d) => {
                backoff = every;
                if d.posted + d.already_on_chain > 0 {
                    tracing::info!(
                        posted = d.posted,
                        already_on_chain = d.already_on_chain,
                        batches = d.batches,
                        left = d.left,
                        "queue drained"
                    );
                }
            }
            Err(e) => {
                backoff = (backoff * 2).min(Duration::from_secs(60));
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "posting commitments failed; they stay queued");
            }
        }
        // Wait for the interval or a new commitment, whichever comes first; gather what
        // arrives within the same moment into one batch.
        if wake.recv_timeout(backoff).is_ok() {
            std::thread::sleep(Duration::from_millis(50));
            while wake.try_recv().is_ok() {}
        }
    }
}
