//! The round operator: opens each round on chain (naming the base model, the global adapter
//! to build on and the held-out text), and after settlement merges the contributors' updates
//! by FedAvg into the next global adapter, which it publishes to the relayer's store by hash
//! (participants and evaluators fetch it from there, as they would on their own hosts).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use candle_core::{DType, Device};
use cosmwasm_std::HexBinary;
use fairshare_protocol::round_manager::RoundSpec;
use fairshare_shapley::groups::Groups;
use fairshare_trainer::bundle::{read_bundle, Bundle};
use fairshare_trainer::lora::LoraAdapter;
use fairshare_trainer::model::LlamaModel;

use crate::chain::Chain;
use crate::keys::ParticipantKey;
use crate::operator;
use crate::ops::{round, Deployment};
use crate::relay::client::RelayClient;
use crate::store::http::HttpStore;
use crate::store::{fetch_bundle, Wanted};

/// The operator: its key, where it publishes, and the global model so far.
pub struct Operator {
    pub key: ParticipantKey,
    store: HttpStore,
    relayer: RelayClient,
    base: LlamaModel,
    base_hash: String,
    /// Every round's merged update so far, as one stacked adapter (the global adapter).
    cumulative: Option<LoraAdapter>,
    /// The base with the global adapter merged.
    pub global: LlamaModel,
    /// Hex update hash of the global adapter (none before the first merge).
    pub global_hash: Option<String>,
    /// How the merge weights updates, and the roster size [`operator::MergeRule::Roster`]
    /// divides by (the demo's `--merge`; FedAvg on tokens by default).
    pub merge_rule: (operator::MergeRule, usize),
}

impl Operator {
    pub fn new(
        key: ParticipantKey,
        relayer_url: &str,
        base: &LlamaModel,
        base_hash: &str,
    ) -> Result<Self> {
        Ok(Self {
            key,
            store: HttpStore::new(relayer_url)?,
            relayer: RelayClient::new(relayer_url)?,
            base: base.clone(),
            base_hash: base_hash.to_string(),
            cumulative: None,
            global: base.clone(),
            global_hash: None,
            merge_rule: (operator::MergeRule::Tokens, 0),
        })
    }

    /// Opens a round on the base model and the current global adapter (all zeros before the
    /// first merge), measured on the text of sha256 `validation_hash`.
    pub fn open_round(
        &self,
        chain: &mut dyn Chain,
        d: &Deployment,
        validation_hash: [u8; 32],
    ) -> Result<u64> {
        let global = match &self.global_hash {
            Some(h) => HexBinary::from_hex(h)?,
            None => HexBinary::from(vec![0u8; 32]),
        };
        let spec = RoundSpec {
            base_model_hash: HexBinary::from_hex(&self.base_hash)?,
            global_adapter_hash: global,
            validation_set_hash: HexBinary::from(validation_hash.to_vec()),
            task_uri: "fairshare://demo/shakespeare".into(),
        };
        Ok(round::open(chain, d, &self.key, spec)?)
    }

    /// Fetches every committed bundle of round `id` from the store (where the relayer's round
    /// listing says each is; every fetch re-checks the hash) into `dest/<name>`, naming each
    /// by `names` (address → name). Returns them by address.
    pub fn fetch_bundles(
        &self,
        id: u64,
        names: &HashMap<String, String>,
        dest: &Path,
    ) -> Result<HashMap<String, Bundle>> {
        let view = self
            .relayer
            .round(id)
            .with_context(|| format!("the relayer's listing of round {id}"))?;
        let mut out = HashMap::new();
        for b in view.bundles {
            let name = names.get(&b.participant).unwrap_or(&b.participant);
            let dir = dest.join(name);
            fetch_bundle(
                &self.store,
                &Wanted {
                    update_hash: &b.update_hash,
                    cid: Some(&b.cid),
                },
                &dir,
            )
            .with_context(|| format!("fetching {name}'s bundle of round {id}"))?;
            let bundle = read_bundle(&dir, self.base.config(), DType::F32, &Device::Cpu)?;
            out.insert(b.participant, bundle);
        }
        Ok(out)
    }

    /// Merges the contributors' updates (`updates`, in the evaluators' table order, with the
    /// near-duplicate `groups` over them; `contributor[j]` says whether update `j` was paid)
    /// by FedAvg, each near-duplicate group counted once (its members share one member's
    /// weight), into the global adapter; writes it to `dir` and publishes it. Returns how many
    /// updates were merged.
    pub fn merge(
        &mut self,
        round_id: u64,
        updates: &[&Bundle],
        contributor: &[bool],
        groups: &Groups,
        dir: &Path,
    ) -> Result<usize> {
        // The same merge and publication `fairshare round aggregate` runs.
        let (rule, roster) = self.merge_rule;
        let Some(merged) = operator::merge_updates_by(
            self.cumulative.as_ref(),
            updates,
            contributor,
            groups,
            rule,
            roster,
        )?
        else {
            return Ok(0);
        };
        let (hash, _) = operator::publish_global(
            Some(&self.store),
            dir,
            &merged,
            round_id,
            &self.base_hash,
            self.global_hash.as_deref(),
        )
        .context("publishing the global adapter")?;
        let mut global = self.base.clone();
        global.merge_adapter(&merged.adapter)?;
        self.global = global;
        self.cumulative = Some(merged.adapter);
        self.global_hash = Some(hash);
        Ok(merged.count)
    }
}

/// Settles round `id` (anyone may; `caller` pays the gas), in as many pages as it takes.
pub fn settle(
    chain: &mut dyn Chain,
    d: &Deployment,
    caller: &ParticipantKey,
    id: u64,
) -> Result<()> {
    round::settle(chain, d, caller, id).with_context(|| format!("settling round {id}"))?;
    Ok(())
}

/// Writes `model` as a Hugging Face directory in `dir` (config, weights, and `tokenizer.json`
/// unless its tokens are plain bytes), so `load_model(dir)` reads it back.
pub fn save_model(
    dir: &Path,
    model: &LlamaModel,
    tokenizer: &fairshare_trainer::tokenizer::TextTokenizer,
) -> Result<()> {
    fairshare_trainer::model::hf::save_dir(dir, model.config(), &model.hf_weights())
        .with_context(|| format!("saving the global model to {}", dir.display()))?;
    if let fairshare_trainer::tokenizer::TextTokenizer::Hf(t) = tokenizer {
        let path = dir.join("tokenizer.json");
        t.save(&path, false)
            .map_err(|e| anyhow::anyhow!("saving {}: {e}", path.display()))?;
    }
    Ok(())
}
