//! An evaluator as a long-running service (`fairshare evaluator run`). [`Evaluator::step`] looks
//! at the chain once and does the next thing due for the latest round: bond while the round
//! takes bonds; after the commit deadline fetch every committed bundle (each checked against the
//! participant's on-chain commitment and the round's rules), value the round with its
//! [`Valuer`], seal the report and commit its digest; reveal it in the reveal window.
//!
//! A participant whose bundle cannot be fetched (not in the store, or the store returns a
//! wrong one) or that fails a check is valued as a no-show: it stays in the report, which must
//! score every committed participant, with the [`Valuer`] told it brought nothing.
//!
//! At reveal the valuer's utility table is published to the store under the table hash the
//! report commits to, so a challenger on another host can fetch and check it.
//!
//! Restarts are safe: bonding and committing are checked on chain first, and the sealed report
//! (report and salt) is written before its digest is posted, so a restarted evaluator reveals
//! the report it committed to, never a new one.

pub mod config;
#[cfg(test)]
pub(crate) mod tests;
mod valuer;

pub use valuer::{ModelValuer, ValuedRound, ValuerError, ValuerSettings};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fairshare_protocol::commitment::binding;
use fairshare_protocol::report::UtilityTable;
use fairshare_protocol::round_manager::{self as rm, Phase, Report};

use crate::bundle::{self, Expectation, VerifiedBundle};
use crate::chain::{Chain, ChainError, ChainExt};
use crate::keys::ParticipantKey;
use crate::ops::{round, Deployment, StakeKind};
use crate::relay::client::RelayClient;
use crate::sealed::SealedReport;
use crate::store::{fetch_bundle, publish_table, BundleStore, Cid, Wanted};

/// Values a round from its verified bundles.
pub trait Valuer {
    /// A report scoring every participant of `bundles` and `no_shows` (exactly the round's
    /// committed participants); no-shows contributed nothing. The utility table the report
    /// commits to must list every committed participant too (a dispute upholds against a table
    /// of fewer players), so a no-show enters it as a null player.
    fn value(
        &mut self,
        round: &rm::RoundResponse,
        bundles: &[VerifiedBundle],
        no_shows: &[String],
    ) -> Result<Report, String>;

    /// The utility table of round `round_id`'s report, if this valuer keeps one (it is
    /// published to the store at reveal so challengers on other hosts can check the report).
    fn table(&self, round_id: u64) -> Result<Option<UtilityTable>, String> {
        let _ = round_id;
        Ok(None)
    }
}

/// Why a step failed. The service logs it and tries again at its next step.
#[derive(Debug, thiserror::Error)]
pub enum EvaluatorError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error("valuing round {round}: {reason}")]
    Value { round: u64, reason: String },
    #[error(transparent)]
    Sealed(#[from] crate::sealed::SealedError),
    #[error("salt: {0}")]
    Salt(String),
    #[error("round {round}: {missing} bundle(s) not fetched yet (retrying until {margin} blocks before the report deadline): {reasons}")]
    Unavailable {
        round: u64,
        missing: usize,
        margin: u64,
        reasons: String,
    },
}

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Idle,
    Bonded {
        round: u64,
    },
    /// Committed to a report valuing `valued` bundles, with `no_shows` participants whose
    /// bundle was missing or bad.
    Committed {
        round: u64,
        valued: usize,
        no_shows: Vec<String>,
    },
    Revealed {
        round: u64,
    },
}

/// Settings of an evaluator.
#[derive(Debug, Clone)]
pub struct EvaluatorOptions {
    pub data_dir: PathBuf,
    /// Bond posted per round (at least the round's minimum bond).
    pub bond: u128,
    pub stake_kind: StakeKind,
    /// A bundle that cannot be fetched yet is retried at later steps until this few blocks
    /// remain before the report deadline; then its participant is valued as a no-show.
    pub fetch_margin_blocks: u64,
}

/// One evaluator: key, deployment, where bundles are, and how it values them.
pub struct Evaluator<V: Valuer> {
    pub key: ParticipantKey,
    pub d: Deployment,
    pub opts: EvaluatorOptions,
    pub store: Box<dyn BundleStore>,
    /// Where to learn each participant's update hash and CID.
    pub relayer: RelayClient,
    pub valuer: V,
}

impl<V: Valuer> Evaluator<V> {
    fn sealed_path(&self, round_id: u64) -> PathBuf {
        self.opts
            .data_dir
            .join("sealed")
            .join(format!("round-{round_id}.json"))
    }

    fn me(
        &self,
        chain: &dyn Chain,
        round_id: u64,
    ) -> Result<Option<rm::EvaluatorInfo>, ChainError> {
        Ok(round::evaluators(chain, &self.d, round_id)?
            .into_iter()
            .find(|e| e.evaluator.as_str() == self.key.address()))
    }

    /// Looks at the chain once and does the next thing due for the latest round.
    pub fn step(&mut self, chain: &mut dyn Chain) -> Result<Action, EvaluatorError> {
        let c: rm::ConfigResponse =
            chain.query(self.d.round_manager.as_str(), &rm::QueryMsg::Config {})?;
        if c.next_round_id <= 1 {
            return Ok(Action::Idle);
        }
        let r = round::status(chain, &self.d, c.next_round_id - 1)?;
        let id = r.id;
        if !r.params.evaluators.iter().any(|e| e == self.key.address()) {
            return Ok(Action::Idle);
        }
        let me = self.me(chain, id)?;
        match (&r.phase, &me) {
            (Phase::Open | Phase::Training | Phase::Evaluating, None) => {
                round::serve(
                    chain,
                    &self.d,
                    &self.opts.stake_kind,
                    &self.key,
                    id,
                    self.opts.bond,
                )?;
                Ok(Action::Bonded { round: id })
            }
            (Phase::Evaluating, Some(info)) if info.digest.is_none() => self.commit(chain, &r),
            (Phase::Revealing, Some(info))
                if info.digest.is_some() && info.revealed_at.is_none() =>
            {
                let sealed = SealedReport::read(&self.sealed_path(id))?;
                let salt = sealed.salt_bytes()?;
                round::reveal_report(chain, &self.d, &self.key, id, sealed.report.clone(), &salt)?;
                // Then the table: a relayer keeps only a table a revealed report commits to.
                // Challengers that look before it arrives retry at their next step.
                self.publish_table(id, &sealed.report);
                Ok(Action::Revealed { round: id })
            }
            (Phase::Revealing | Phase::Challenging, Some(info)) if info.revealed_at.is_some() => {
                // A table whose publication failed at reveal (or before a restart) is retried
                // while it can still serve a dispute.
                if !self.table_marker(id).exists() {
                    if let Ok(sealed) = SealedReport::read(&self.sealed_path(id)) {
                        self.publish_table(id, &sealed.report);
                    }
                }
                Ok(Action::Idle)
            }
            _ => Ok(Action::Idle),
        }
    }

    fn table_marker(&self, round_id: u64) -> PathBuf {
        self.opts
            .data_dir
            .join("tables")
            .join(format!("round-{round_id}.published"))
    }

    /// Publishes the valuer's table of `round_id` to the store if it is the one `report`
    /// commits to; a failure is logged (the reveal must not wait for the store) and retried
    /// at later steps until a marker file records success.
    fn publish_table(&self, round_id: u64, report: &Report) {
        let table = match self.valuer.table(round_id) {
            Ok(Some(t)) => t,
            Ok(None) => return,
            Err(reason) => {
                tracing::warn!(round = round_id, %reason, "the utility table cannot be read; not published");
                return;
            }
        };
        if table.hash().as_slice() != report.table_hash.as_slice() {
            tracing::warn!(
                round = round_id,
                committed = %report.table_hash.to_hex(),
                "the utility table on disk is not the one the report commits to; not published"
            );
            return;
        }
        match publish_table(self.store.as_ref(), &table, round_id) {
            Ok(hash) => {
                let marker = self.table_marker(round_id);
                let written = marker
                    .parent()
                    .map(std::fs::create_dir_all)
                    .transpose()
                    .and_then(|_| std::fs::write(&marker, format!("{hash}\n")));
                if let Err(e) = written {
                    tracing::warn!(round = round_id, error = %e, "cannot record the table's publication");
                }
                tracing::info!(round = round_id, table_hash = %hash, store = %self.store.describe(), "utility table published");
            }
            Err(e) => {
                tracing::warn!(round = round_id, error = %e, "publishing the utility table failed; retrying at the next step")
            }
        }
    }

    fn commit(
        &mut self,
        chain: &mut dyn Chain,
        r: &rm::RoundResponse,
    ) -> Result<Action, EvaluatorError> {
        let id = r.id;
        let path = self.sealed_path(id);
        // A report sealed before a restart is the one committed to: never value twice.
        let (sealed, valued, no_shows) = match SealedReport::read(&path) {
            Ok(s) => (s, 0, vec![]),
            Err(_) => {
                let (bundles, no_shows) = self.collect(chain, r)?;
                let report = self
                    .valuer
                    .value(r, &bundles, &no_shows)
                    .map_err(|reason| EvaluatorError::Value { round: id, reason })?;
                let s = SealedReport::new(
                    self.d.round_manager.as_str(),
                    id,
                    self.key.address(),
                    report,
                );
                s.write(&path)?;
                (s, bundles.len(), no_shows)
            }
        };
        let salt = sealed.salt_bytes()?;
        round::commit_report(chain, &self.d, &self.key, id, &sealed.report, &salt)?;
        Ok(Action::Committed {
            round: id,
            valued,
            no_shows,
        })
    }

    /// Every committed participant's bundle, fetched and checked; the rest are no-shows.
    pub fn collect(
        &self,
        chain: &dyn Chain,
        r: &rm::RoundResponse,
    ) -> Result<(Vec<VerifiedBundle>, Vec<String>), EvaluatorError> {
        let committed = committed(chain, &self.d, r.id)?;
        // Where the relayer says each bundle is; an unreachable relayer makes everyone
        // unfetchable for now, so the step fails and is retried rather than valuing no-shows.
        let view = self
            .relayer
            .round(r.id)
            .map_err(|e| EvaluatorError::Value {
                round: r.id,
                reason: e.to_string(),
            })?;
        let located: BTreeMap<String, (String, Cid)> = view
            .bundles
            .into_iter()
            .map(|b| (b.participant, (b.update_hash, b.cid)))
            .collect();
        let expect = Expectation::for_round(r, None);
        let mut ok: Vec<VerifiedBundle> = vec![];
        let mut failed = vec![];
        for (participant, on_chain) in committed {
            let at = located.get(&participant);
            match self.fetch_one(r.id, &participant, &on_chain, at, &expect, &ok) {
                Ok(v) => ok.push(v),
                Err(reason) => failed.push((participant, reason)),
            }
        }
        // Unavailable until the evaluation deadline nears: data availability is part of the
        // commitment, but a store that is slow now gets until then.
        let height = chain.height()?;
        if !failed.is_empty() && height + self.opts.fetch_margin_blocks < r.deadlines.report_until {
            return Err(EvaluatorError::Unavailable {
                round: r.id,
                missing: failed.len(),
                margin: self.opts.fetch_margin_blocks,
                reasons: failed
                    .iter()
                    .map(|(p, why)| format!("{p}: {why}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            });
        }
        let mut no_shows = vec![];
        for (participant, reason) in failed {
            tracing::warn!(round = r.id, %participant, %reason, "valued as a no-show");
            no_shows.push(participant);
        }
        Ok((ok, no_shows))
    }

    fn fetch_one(
        &self,
        round_id: u64,
        participant: &str,
        on_chain: &[u8],
        located: Option<&(String, Cid)>,
        expect: &Expectation,
        so_far: &[VerifiedBundle],
    ) -> Result<VerifiedBundle, String> {
        let (hash, cid) = located.ok_or("the relayer knows no bundle for it")?;
        let mut h = [0u8; 32];
        hex::decode_to_slice(hash, &mut h).map_err(|e| e.to_string())?;
        if binding(participant, &h).as_slice() != on_chain {
            return Err(format!(
                "update {hash} is not the one it committed to on chain"
            ));
        }
        let dest = self
            .opts
            .data_dir
            .join(format!("round-{round_id}"))
            .join(participant);
        fetch_bundle(
            self.store.as_ref(),
            &Wanted {
                update_hash: hash,
                cid: Some(cid),
            },
            &dest,
        )
        .map_err(|e| e.to_string())?;
        let mut expect = expect.clone();
        expect.shapes = so_far.first().map(|b| b.shapes.clone());
        let v = bundle::verify(&dest, &expect).map_err(|e| e.to_string())?;
        if v.manifest.participant != participant {
            return Err(format!("its bundle names {}", v.manifest.participant));
        }
        Ok(v)
    }
}

/// The round's committed participants and their on-chain bindings, in address order.
pub fn committed(
    chain: &dyn Chain,
    d: &Deployment,
    round_id: u64,
) -> Result<Vec<(String, Vec<u8>)>, ChainError> {
    let mut out = vec![];
    let mut after: Option<String> = None;
    loop {
        let page: rm::CommitmentsResponse = chain.query(
            d.round_manager.as_str(),
            &rm::QueryMsg::Commitments {
                round_id,
                start_after: after.clone(),
                limit: Some(100),
            },
        )?;
        let Some(last) = page.commitments.last() else {
            return Ok(out);
        };
        after = Some(last.participant.to_string());
        out.extend(
            page.commitments
                .into_iter()
                .map(|c| (c.participant.into_string(), c.commitment.to_vec())),
        );
    }
}

/// Reads a sealed report path (for status output).
pub fn sealed_report(data_dir: &Path, round_id: u64) -> Option<SealedReport> {
    SealedReport::read(
        &data_dir
            .join("sealed")
            .join(format!("round-{round_id}.json")),
    )
    .ok()
}
