//! The demo's relayer: the relayer service (`crate::relay::Relayer`, what `fairshare relayer
//! serve` runs) on the demo's chain: its HTTP API takes bundle uploads and signed commitments
//! (checked as `fairshare submit` checks them), serves bundles and round listings, and its
//! durable queue is posted to the chain in batches.

use std::path::Path;

use anyhow::{Context, Result};

use crate::keys::ParticipantKey;
use crate::ops::Deployment;
use crate::relay::worker::ChainHandle;
use crate::relay::{RelayOptions, Relayer};

/// Commitments per batch transaction.
const BATCH: usize = 50;

/// The running relayer service and the key that pays for its batches.
pub struct DemoRelayer {
    pub service: Relayer,
    pub key: ParticipantKey,
}

/// Starts the relayer on 127.0.0.1 (a free port), keeping its store and queue under `dir`.
/// It posts only when told ([`DemoRelayer::post`]), so the run's order stays deterministic.
pub fn start(
    chain: &ChainHandle,
    d: &Deployment,
    key: &ParticipantKey,
    dir: &Path,
) -> Result<DemoRelayer> {
    let service = Relayer::start(
        chain.clone(),
        RelayOptions {
            listen: "127.0.0.1:0".into(),
            data_dir: dir.to_path_buf(),
            deployment: d.clone(),
            poster: key.clone(),
            batch_size: BATCH,
            batch_interval: None,
            kubo: None,
            staging: Default::default(),
        },
    )
    .context("starting the relayer service")?;
    Ok(DemoRelayer {
        service,
        key: key.clone(),
    })
}

impl DemoRelayer {
    /// The base URL of its API (bundle store, commitments, round listings).
    pub fn url(&self) -> String {
        self.service.url()
    }

    /// Posts every queued commitment to the chain in batches; returns how many it posted.
    pub fn post(&self, out: &mut dyn std::io::Write) -> Result<usize> {
        let d = self
            .service
            .drain_now(&self.key, BATCH)
            .context("the relayer posts its queue")?;
        writeln!(
            out,
            "  relayer posted {} signed commitments in {} batch(es)",
            d.posted, d.batches
        )?;
        Ok(d.posted)
    }

    /// Stops its HTTP server.
    pub fn stop(self) {
        self.service.stop();
    }
}
