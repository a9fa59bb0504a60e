//! The round operator's merge (`fairshare round aggregate`, and the demo's operator): after a
//! round settles, the contributors' updates are merged by FedAvg into the next global adapter,
//! which is published to the store by its update hash so the next round can name it.
//!
//! One code path: [`merge_updates`] (FedAvg with near-duplicate groups counted once, stacked on
//! the previous global adapter) and [`publish_global`] are what both the demo's operator and
//! [`aggregate_round`] call. [`aggregate_round`] gathers its inputs as a party on another host
//! would: the settled results and the on-chain commitments from the chain, where each bundle
//! is from the relayer's round listing, every bundle from the store by its committed hash
//! (re-checked on arrival), the previous global adapter by the round's `global_adapter_hash`,
//! and the evaluators' near-duplicate grouping recomputed from the same bundles with the same
//! rule ([`near_duplicate_groups`]).

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use fairshare_protocol::commitment::binding;
use fairshare_protocol::rewards::Verdict;
use fairshare_protocol::round_manager::Phase;
use fairshare_shapley::groups::{self, Groups};
use fairshare_trainer::aggregate::{aggregate, similarity_matrix, token_weights};
use fairshare_trainer::bundle::{read_bundle, write_bundle, Bundle, BundleInfo};
use fairshare_trainer::config::ModelConfig;
use fairshare_trainer::lora::LoraAdapter;
use fairshare_trainer::TrainerError;
use serde::Serialize;

use crate::chain::{Chain, ChainError};
use crate::ops::{round, Deployment};
use crate::relay::client::RelayClient;
use crate::store::{fetch_bundle, publish_bundle, BundleRef, BundleStore, StoreError, Wanted};

/// Why aggregating a round failed. Every variant names the round, participant or hash at fault.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error("round {round} is not settled (phase {phase}): aggregate it after `fairshare settle`")]
    NotSettled { round: u64, phase: String },
    #[error("round {round} is for base model {expected}, but the model given has hash {actual}")]
    BaseModel {
        round: u64,
        expected: String,
        actual: String,
    },
    #[error("the relayer's listing of round {round}: {reason}")]
    Listing { round: u64, reason: String },
    #[error("contributor {participant}'s bundle (update hash {hash}) of round {round} cannot be used: {reason}")]
    Bundle {
        round: u64,
        participant: String,
        hash: String,
        reason: String,
    },
    #[error("contributor {participant} of round {round}: {reason}")]
    Contributor {
        round: u64,
        participant: String,
        reason: String,
    },
    #[error("the previous global adapter {hash}: {reason}")]
    Previous { hash: String, reason: String },
    #[error("merging the updates: {0}")]
    Merge(#[from] TrainerError),
    #[error("publishing the global adapter: {0}")]
    Publish(#[from] StoreError),
    #[error("the store indexed the global adapter as {actual}, not {expected}")]
    Indexed { expected: String, actual: String },
    #[error("{0}")]
    Groups(String),
}

/// A round's merge: the new global adapter (the previous one with this round's FedAvg stacked
/// on it) and what went into it.
pub struct Merged {
    pub adapter: LoraAdapter,
    /// Training tokens of the merged updates.
    pub tokens: u64,
    /// How many updates were merged.
    pub count: usize,
}

/// The evaluators' near-duplicate grouping of `updates` (in table order): ΔW cosine of every
/// pair, grouped at `threshold` (what [`crate::evaluator::ModelValuer`] does).
pub fn near_duplicate_groups(updates: &[&Bundle], threshold: f64) -> Result<Groups, OperatorError> {
    if updates.is_empty() {
        return Ok(Groups::singletons(0));
    }
    let adapters: Vec<&LoraAdapter> = updates.iter().map(|b| &b.adapter).collect();
    let similarity = similarity_matrix(&adapters)?;
    groups::near_duplicates(&similarity, threshold)
        .map_err(|e| OperatorError::Groups(e.to_string()))
}

/// How the merged updates of a round are weighted (before a near-duplicate group's members
/// share one member's weight).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum MergeRule {
    /// FedAvg on training tokens over the merged updates (the protocol's rule).
    #[default]
    Tokens,
    /// Equal weights over the merged updates (`1/k` for k merged).
    Equal,
    /// A fixed `1/R` per merged update, R the roster size (everyone who may join): nobody's
    /// weight depends on who else is merged, so leaving a party out dilutes no one.
    Roster,
}

impl MergeRule {
    pub fn name(self) -> &'static str {
        match self {
            Self::Tokens => "tokens",
            Self::Equal => "equal",
            Self::Roster => "roster",
        }
    }
}

/// Merges the contributors' updates (`updates` in table order, `contributor[j]` whether update
/// `j` was paid, `groups` the near-duplicate groups over `updates`) by FedAvg on training
/// tokens, each near-duplicate group counted once (its members share one member's weight),
/// and stacks the result on `previous` (the round's global adapter), so ΔW adds up exactly:
/// base + the returned adapter is the next global model. `None` when nothing is merged.
pub fn merge_updates(
    previous: Option<&LoraAdapter>,
    updates: &[&Bundle],
    contributor: &[bool],
    groups: &Groups,
) -> Result<Option<Merged>, OperatorError> {
    merge_updates_by(previous, updates, contributor, groups, MergeRule::Tokens, 0)
}

/// The merge weight of each merged update (`tokens` its training tokens, `group_of` its
/// near-duplicate group) under `rule`: a group of k merged members shares one member's weight
/// (each gets 1/k of its own); `tokens` and `equal` then normalise to sum to 1, `roster`
/// divides by the roster size instead, so no one's weight depends on who else is merged.
pub fn merge_shares(
    tokens: &[u64],
    group_of: &[usize],
    rule: MergeRule,
    roster: usize,
) -> Vec<f64> {
    let base = match rule {
        MergeRule::Tokens => token_weights(tokens),
        MergeRule::Equal | MergeRule::Roster => vec![1.0; tokens.len()],
    };
    let shares: Vec<f64> = base
        .iter()
        .zip(group_of)
        .map(|(w, g)| w / group_of.iter().filter(|h| *h == g).count() as f64)
        .collect();
    let total: f64 = match rule {
        MergeRule::Roster => roster.max(1) as f64,
        MergeRule::Tokens | MergeRule::Equal => shares.iter().sum(),
    };
    shares.iter().map(|w| w / total).collect()
}

/// [`merge_updates`] under another weighting `rule` (`roster`: the roster size R for
/// [`MergeRule::Roster`], at least the number of updates; ignored otherwise).
pub fn merge_updates_by(
    previous: Option<&LoraAdapter>,
    updates: &[&Bundle],
    contributor: &[bool],
    groups: &Groups,
    rule: MergeRule,
    roster: usize,
) -> Result<Option<Merged>, OperatorError> {
    if rule == MergeRule::Roster && roster < updates.len() {
        return Err(OperatorError::Groups(format!(
            "a roster of {roster} for {} updates",
            updates.len()
        )));
    }
    if contributor.len() != updates.len() || groups.n_players() != updates.len() {
        return Err(OperatorError::Groups(format!(
            "{} updates, {} contributor flags and groups over {} players",
            updates.len(),
            contributor.len(),
            groups.n_players()
        )));
    }
    let merged: Vec<(usize, &Bundle)> = updates
        .iter()
        .enumerate()
        .filter(|(j, _)| contributor[*j])
        .map(|(j, b)| (j, *b))
        .collect();
    let adapters: Vec<&LoraAdapter> = merged.iter().map(|(_, b)| &b.adapter).collect();
    let tokens: Vec<u64> = merged
        .iter()
        .map(|(_, b)| b.manifest.num_training_tokens)
        .collect();
    let group_of: Vec<usize> = merged.iter().map(|(j, _)| groups.group_of(*j)).collect();
    let shares = merge_shares(&tokens, &group_of, rule, roster);
    let Some(agg) = aggregate(&adapters, &shares)? else {
        return Ok(None);
    };
    let adapter = match previous {
        None => agg,
        Some(prev) => aggregate(&[prev, &agg], &[1.0, 1.0])?.ok_or_else(|| {
            OperatorError::Groups("a global adapter and a merge stack to no adapter".into())
        })?,
    };
    Ok(Some(Merged {
        adapter,
        tokens: tokens.iter().sum(),
        count: merged.len(),
    }))
}

/// Writes the global adapter of round `round_id` to `dir` (a bundle named `aggregate`) and,
/// when `store` is given, publishes it there, checking the store indexed it under its hash.
/// Returns its update hash and where it was published.
pub fn publish_global(
    store: Option<&dyn BundleStore>,
    dir: &Path,
    merged: &Merged,
    round_id: u64,
    base_model_hash: &str,
    previous_hash: Option<&str>,
) -> Result<(String, Option<BundleRef>), OperatorError> {
    let m = write_bundle(
        dir,
        &merged.adapter,
        &BundleInfo {
            round: round_id,
            base_model_hash: base_model_hash.to_string(),
            global_adapter_hash: previous_hash.map(str::to_string),
            num_training_tokens: merged.tokens,
            participant: "aggregate".into(),
        },
    )?;
    let Some(store) = store else {
        return Ok((m.update_hash, None));
    };
    let published = publish_bundle(store, dir)?;
    if published.update_hash != m.update_hash {
        return Err(OperatorError::Indexed {
            expected: m.update_hash,
            actual: published.update_hash,
        });
    }
    Ok((m.update_hash, Some(published)))
}

/// What [`aggregate_round`] needs besides the chain, relayer and store.
pub struct AggregateRequest<'a> {
    pub round_id: u64,
    /// The base model's config (bundles are read against its shapes) and hash.
    pub base: &'a ModelConfig,
    pub base_model_hash: &'a str,
    /// The evaluators' near-duplicate threshold.
    pub duplicate_threshold: f64,
    /// Where bundles are fetched to and the global adapter is written (`<work>/global`).
    pub work_dir: PathBuf,
    /// Publish the global adapter to the store (otherwise it is only written and hashed).
    pub publish: bool,
}

/// What [`aggregate_round`] did.
#[derive(Debug, Clone, Serialize)]
pub struct Aggregated {
    pub round_id: u64,
    /// The global adapter the next round should open with (`--global-adapter-hash`): this
    /// round's new one, or the previous one (all zeros for none) when nothing was merged.
    pub global_adapter_hash: String,
    /// Whether a new global adapter was made (false: no contributor).
    pub new_adapter: bool,
    /// The round's own global adapter (all zeros for none).
    pub previous_hash: String,
    /// The merged contributors, in address order.
    pub merged: Vec<String>,
    /// Near-duplicate groups of more than one member (addresses).
    pub duplicate_groups: Vec<Vec<String>>,
    /// Committed non-contributors whose bundle could not be fetched (left out of the grouping).
    pub skipped: Vec<(String, String)>,
    /// Where the new global adapter was written.
    pub dir: Option<PathBuf>,
    /// Where it was published (with `publish`).
    pub published: Option<BundleRef>,
}

const ZERO_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The operator's merge of a settled round, from what is on chain, the relayer's listing and
/// the store (see the module docs). A contributor whose bundle is not listed, not the one it
/// committed to, or that the store returns wrong is an error naming it and the hash; a
/// non-contributor's missing bundle is only left out of the grouping (as the evaluators valued
/// it as a no-show).
pub fn aggregate_round(
    chain: &dyn Chain,
    d: &Deployment,
    relayer: &RelayClient,
    store: &dyn BundleStore,
    req: &AggregateRequest<'_>,
) -> Result<Aggregated, OperatorError> {
    let id = req.round_id;
    let status = round::status(chain, d, id)?;
    if status.phase != Phase::Settled || status.settlement.is_none() {
        return Err(OperatorError::NotSettled {
            round: id,
            phase: format!("{:?}", status.phase),
        });
    }
    let expected_base = status.spec.base_model_hash.to_hex();
    if expected_base != req.base_model_hash {
        return Err(OperatorError::BaseModel {
            round: id,
            expected: expected_base,
            actual: req.base_model_hash.to_string(),
        });
    }
    let contributors: Vec<String> = round::results(chain, d, id)?
        .into_iter()
        .filter(|r| r.verdict == Verdict::Contributor)
        .map(|r| r.participant.into_string())
        .collect();
    // In address order as text: the evaluators' table order (the chain lists by raw address).
    let mut committed = crate::evaluator::committed(chain, d, id)?;
    committed.sort();
    let view = relayer.round(id).map_err(|e| OperatorError::Listing {
        round: id,
        reason: e.to_string(),
    })?;
    let located: BTreeMap<String, (String, crate::store::Cid)> = view
        .bundles
        .into_iter()
        .map(|b| (b.participant, (b.update_hash, b.cid)))
        .collect();
    // Every committed participant's bundle, in address order (the evaluators' table order).
    let mut present: Vec<(String, Bundle)> = vec![];
    let mut skipped = vec![];
    for (participant, on_chain) in committed {
        let is_contributor = contributors.contains(&participant);
        match fetch_committed(
            store,
            id,
            &participant,
            &on_chain,
            located.get(&participant),
            req,
        ) {
            Ok(b) => present.push((participant, b)),
            Err(e) if is_contributor => return Err(e),
            Err(e) => {
                tracing::warn!(round = id, %participant, reason = %e, "left out of the grouping");
                skipped.push((participant, e.to_string()));
            }
        }
    }
    if let Some(c) = contributors
        .iter()
        .find(|c| !present.iter().any(|(p, _)| p == *c))
    {
        return Err(OperatorError::Contributor {
            round: id,
            participant: c.clone(),
            reason: "it has a settled result but no commitment on chain".into(),
        });
    }
    let previous_hash = status.spec.global_adapter_hash.to_hex();
    let previous = if previous_hash == ZERO_HASH {
        None
    } else {
        Some(fetch_previous(store, &previous_hash, req)?)
    };
    let updates: Vec<&Bundle> = present.iter().map(|(_, b)| b).collect();
    let paid: Vec<bool> = present
        .iter()
        .map(|(p, _)| contributors.contains(p))
        .collect();
    let groups = near_duplicate_groups(&updates, req.duplicate_threshold)?;
    let duplicate_groups: Vec<Vec<String>> = (0..groups.n_groups())
        .map(|g| {
            (0..present.len())
                .filter(|&j| groups.group_of(j) == g)
                .map(|j| present[j].0.clone())
                .collect::<Vec<_>>()
        })
        .filter(|m| m.len() > 1)
        .collect();
    let merged_names: Vec<String> = present
        .iter()
        .filter(|(p, _)| contributors.contains(p))
        .map(|(p, _)| p.clone())
        .collect();
    let Some(merged) = merge_updates(
        previous.as_ref().map(|b| &b.adapter),
        &updates,
        &paid,
        &groups,
    )?
    else {
        return Ok(Aggregated {
            round_id: id,
            global_adapter_hash: previous_hash.clone(),
            new_adapter: false,
            previous_hash,
            merged: vec![],
            duplicate_groups,
            skipped,
            dir: None,
            published: None,
        });
    };
    let dir = req.work_dir.join("global");
    let prev = (previous_hash != ZERO_HASH).then_some(previous_hash.as_str());
    let (hash, published) = publish_global(
        req.publish.then_some(store),
        &dir,
        &merged,
        id,
        req.base_model_hash,
        prev,
    )?;
    Ok(Aggregated {
        round_id: id,
        global_adapter_hash: hash,
        new_adapter: true,
        previous_hash,
        merged: merged_names,
        duplicate_groups,
        skipped,
        dir: Some(dir),
        published,
    })
}

/// One committed participant's bundle: listed by the relayer under the hash it committed to
/// on chain, fetched from the store by that hash (re-checked), read against the base model.
fn fetch_committed(
    store: &dyn BundleStore,
    round_id: u64,
    participant: &str,
    on_chain: &[u8],
    located: Option<&(String, crate::store::Cid)>,
    req: &AggregateRequest<'_>,
) -> Result<Bundle, OperatorError> {
    let Some((hash, cid)) = located else {
        return Err(OperatorError::Contributor {
            round: round_id,
            participant: participant.to_string(),
            reason: "the relayer's listing has no bundle for it".into(),
        });
    };
    let bad = |reason: String| OperatorError::Bundle {
        round: round_id,
        participant: participant.to_string(),
        hash: hash.clone(),
        reason,
    };
    let mut h = [0u8; 32];
    hex::decode_to_slice(hash, &mut h).map_err(|e| bad(format!("not a hex hash: {e}")))?;
    if binding(participant, &h).as_slice() != on_chain {
        return Err(bad(
            "it is not the update committed on chain (the relayer's listing is wrong)".into(),
        ));
    }
    let dest = req
        .work_dir
        .join(format!("round-{round_id}"))
        .join(participant);
    fetch_bundle(
        store,
        &Wanted {
            update_hash: hash,
            cid: Some(cid),
        },
        &dest,
    )
    .map_err(|e| bad(e.to_string()))?;
    let b =
        read_bundle(&dest, req.base, DType::F32, &Device::Cpu).map_err(|e| bad(e.to_string()))?;
    if b.manifest.participant != participant {
        return Err(bad(format!(
            "its manifest names {}",
            b.manifest.participant
        )));
    }
    Ok(b)
}

/// The round's global adapter, from the store by its hash (re-checked).
fn fetch_previous(
    store: &dyn BundleStore,
    hash: &str,
    req: &AggregateRequest<'_>,
) -> Result<Bundle, OperatorError> {
    let bad = |reason: String| OperatorError::Previous {
        hash: hash.to_string(),
        reason,
    };
    let dest = req.work_dir.join("previous-global");
    fetch_bundle(
        store,
        &Wanted {
            update_hash: hash,
            cid: None,
        },
        &dest,
    )
    .map_err(|e| bad(e.to_string()))?;
    read_bundle(&dest, req.base, DType::F32, &Device::Cpu).map_err(|e| bad(e.to_string()))
}
