//! `fairshare demo` (`make demo`): a whole federated run on the embedded chain with real
//! training. Participants hold different Shakespeare plays; each round they bond a stake, train
//! a LoRA update of a small Llama model on their own text, and the relayer checks every bundle
//! and posts its signed commitment; evaluators value the updates with Shapley values on their
//! own held-out text and report; the round settles and everyone claims. Mid-run the DAO changes
//! a parameter and the next round uses it. The run ends with a table and writes `run.json`,
//! `calibration.json` (for `fairshare simulate`) and plots.

pub mod base;
pub mod corpus;
pub mod evaluator;
pub mod net;
pub mod output;
pub mod participant;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::{DType, Device};
use clap::Args;
use cosmwasm_std::{to_json_binary, CosmosMsg, Decimal, HexBinary, Uint128, WasmMsg};
use fairshare_protocol::dao::Vote;
use fairshare_protocol::rewards::Verdict;
use fairshare_protocol::round_manager::{self as rm, RoundSpec};
use fairshare_trainer::aggregate::aggregate;
use fairshare_trainer::bundle::read_bundle;
use fairshare_trainer::eval::evaluate_loss;
use fairshare_trainer::lora::LoraAdapter;
use fairshare_trainer::pretrain::PretrainConfig;

use crate::bundle::{self, Expectation};
use crate::chain::ChainExt;
use crate::ops::{self, governance, round, StakeKind};
use base::ModelChoice;
use corpus::Corpus;
use output::{DaoRecord, EntryRecord, RoundRecord, RunRecord};
use participant::Participant;

/// What can go wrong before the chain is involved.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{0}")]
    Assets(String),
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Trainer(#[from] fairshare_trainer::TrainerError),
    #[error(transparent)]
    Shapley(#[from] fairshare_shapley::ShapleyError),
}

/// Options of `fairshare demo`.
#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Participants (4–14): the last three are a free-rider, one with corrupted data and one
    /// that drops out; the others are honest with different data sizes.
    #[arg(long, default_value_t = 6)]
    pub participants: usize,
    /// Rounds (at least 2; the DAO changes a parameter after round 1).
    #[arg(long, default_value_t = 3)]
    pub rounds: u64,
    /// Evaluators (1–5), each with its own slice of the held-out play.
    #[arg(long, default_value_t = 2)]
    pub evaluators: usize,
    /// Base model: `tiny` (pretrained here on generic text, cached), `smollm2` (from `make
    /// assets`), or a path to a Hugging Face directory or .gguf file.
    #[arg(long, default_value = "tiny")]
    pub model: ModelChoice,
    /// Characters of text of the largest honest participant (the others hold less); each round
    /// it trains on the next 1/rounds of it.
    #[arg(long, default_value_t = 60_000)]
    pub max_chars: usize,
    /// Characters of held-out text per evaluator.
    #[arg(long, default_value_t = 8_000)]
    pub valid_chars: usize,
    /// Local epochs over a participant's text per round.
    #[arg(long, default_value_t = 2)]
    pub epochs: usize,
    /// Peak learning rate of local LoRA training.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Pretraining steps of the tiny base model.
    #[arg(long, default_value_t = 1000)]
    pub pretrain_steps: usize,
    /// Where `make assets` put the corpus (default $FAIRSHARE_ASSETS or ~/.cache/fairshare/assets).
    #[arg(long)]
    pub assets: Option<PathBuf>,
    /// Where to cache the pretrained base model and keep the run's bundles (default
    /// ~/.cache/fairshare).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Output directory: run.json, calibration.json, plots/.
    #[arg(long, default_value = "report/demo")]
    pub out: PathBuf,
    /// Seed of pretraining, the corrupted participant's shuffle, LoRA initialisation and
    /// sampled valuation: the same seed gives the same run.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// The chain: the embedded one, or a wasmd node (`--config`, default the localnet).
    #[arg(long, value_enum, default_value = "embedded")]
    pub chain: net::ChainChoice,
    /// No progress bars (logs only).
    #[arg(long)]
    pub quiet: bool,
}

impl DemoArgs {
    fn validate(&self) -> Result<(), DemoError> {
        let bad = |m: String| Err(DemoError::Config(m));
        if !(4..=corpus::PARTICIPANT_PLAYS.len()).contains(&self.participants) {
            return bad(format!(
                "--participants must be between 4 and {}, got {}",
                corpus::PARTICIPANT_PLAYS.len(),
                self.participants
            ));
        }
        if self.rounds < 2 {
            return bad(format!("--rounds must be at least 2, got {}", self.rounds));
        }
        if !(1..=5).contains(&self.evaluators) {
            return bad(format!(
                "--evaluators must be between 1 and 5, got {}",
                self.evaluators
            ));
        }
        if self.max_chars < 2_000 || self.valid_chars < 1_000 || self.epochs == 0 {
            return bad(
                "--max-chars ≥ 2000, --valid-chars ≥ 1000 and --epochs ≥ 1 are needed".into(),
            );
        }
        Ok(())
    }
}

/// Sequence length of local training and evaluation.
const SEQ_LEN: usize = 64;
/// Stake every participant bonds per round (ufair) and what it starts with.
const STAKE: u128 = 10_000;
const FUNDS: u128 = 100_000;
/// Governance tokens (uFAIR) each honest participant holds from genesis.
const FOUNDING_TOKENS: u128 = 5_000;
/// The round after which the DAO proposal runs.
const DAO_AFTER_ROUND: usize = 1;

fn default_cache() -> PathBuf {
    std::env::var_os("HOME")
        .map_or_else(|| PathBuf::from("."), PathBuf::from)
        .join(".cache/fairshare")
}

/// Runs the demo, printing progress and the final table to `out`.
pub fn run(
    args: &DemoArgs,
    config: Option<&std::path::Path>,
    out: &mut dyn std::io::Write,
) -> Result<RunRecord> {
    args.validate()?;
    let t0 = Instant::now();
    let progress = !args.quiet;
    let assets = args
        .assets
        .clone()
        .unwrap_or_else(corpus::default_assets_dir);
    let corpus = Corpus::open(&assets)?;
    let cache = args.cache.clone().unwrap_or_else(default_cache);
    let pc = PretrainConfig {
        steps: args.pretrain_steps,
        batch_size: 16,
        seq_len: SEQ_LEN,
        learning_rate: 3e-3,
        warmup_steps: 30,
        seed: args.seed,
        progress,
        ..PretrainConfig::default()
    };
    let base = base::prepare(&args.model, &corpus, &cache, &pc, out)?;
    let tokenizer = &base.tokenizer;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    // Update bundles (real PEFT adapters) stay outside the report.
    let work = cache.join("demo-run");
    let _ = std::fs::remove_dir_all(&work);

    // Held-out text: the second half of every participant's play (participants only ever hold
    // text from the first half) and of one play nobody holds, sliced among the evaluators.
    let valid_texts = corpus.validation_texts(
        &corpus::PARTICIPANT_PLAYS[..args.participants],
        args.valid_chars,
        args.evaluators,
    )?;
    let valid_text = valid_texts.concat();
    let valid: Vec<Vec<u32>> = valid_texts
        .iter()
        .map(|t| tokenizer.encode(t))
        .collect::<Result<_, _>>()?;
    let valid_all: Vec<u32> = valid.concat();

    // Participants and their private text.
    let mut people = participant::roster(
        args.participants,
        &corpus,
        tokenizer,
        args.max_chars,
        args.rounds as usize,
        args.seed,
    )?;

    // The chain: keys derived from names, funded, and the contracts deployed through the same
    // code on either backend, owned by a DAO.
    let mut seeds: Vec<String> = people
        .iter()
        .map(|p| format!("fairshare-demo/participant-{}", p.name))
        .collect();
    seeds.extend((0..args.evaluators).map(|k| format!("fairshare-demo/evaluator-{k}")));
    seeds.push("fairshare-demo/relayer".into());
    let honest: Vec<bool> = people.iter().map(|p| p.role.is_honest()).collect();
    let (n_people, n_eval) = (people.len(), args.evaluators);
    let (mut chain, mut keys) =
        net::connect_and_deploy(args.chain, config, &seeds, FUNDS, |keys, denom| {
            let evaluators = keys[n_people..n_people + n_eval]
                .iter()
                .map(|k| k.address().to_string())
                .collect();
            let mut params = ops::default_params(evaluators, n_eval as u32);
            params.schedule = net::schedule(args.chain);
            params.rewards.delta_u_target = Decimal::percent(10);
            ops::DeployOptions {
                params,
                min_stake: Uint128::new(100),
                token_cap: Some(Uint128::new(1_000_000_000_000)),
                stake: StakeKind::Native(denom.to_string()),
                // Founding members hold some governance tokens from genesis, so the DAO can
                // act before anyone has earned rewards.
                initial_tokens: keys[..n_people]
                    .iter()
                    .zip(&honest)
                    .filter(|(_, &h)| h)
                    .map(|(k, _)| (k.address().to_string(), Uint128::new(FOUNDING_TOKENS)))
                    .collect(),
                dao: Some(ops::default_dao_rules()),
            }
        })?;
    let relayer_key = keys.pop().context("the relayer key was derived")?;
    let chain_id = chain.chain_id()?;
    let d = chain.d.clone();
    let evaluator_keys = keys.split_off(n_people);
    writeln!(
        out,
        "chain ({:?}): round-manager {}, escrow {}, token {}, DAO {}",
        args.chain,
        chain.d.round_manager,
        chain.d.escrow,
        chain.d.token,
        chain.d.dao.as_ref().map_or("-".into(), |a| a.to_string())
    )?;
    for (p, k) in people.iter_mut().zip(keys) {
        p.key = Some(k);
        writeln!(
            out,
            "  {:<7} {:<10} {:>7} tokens of {}",
            p.name,
            p.role.label(),
            p.tokens.len(),
            p.play
        )?;
    }

    let device = Device::Cpu;
    let mut global = base.model.clone();
    let mut global_hash: Option<String> = None;
    let mut rounds = Vec::new();
    let mut calibration = Vec::new();
    let mut dao_record = None;
    let validation_hash = hex::encode(fairshare_protocol::commitment::update_hash(
        valid_text.as_bytes(),
    ));
    for r in 1..=args.rounds as usize {
        let loss_before = evaluate_loss(&global, None, &valid_all, SEQ_LEN, 16)?.mean_loss;
        writeln!(
            out,
            "\nround {r}/{}: validation loss of the global model {loss_before:.4}",
            args.rounds
        )?;
        let spec = RoundSpec {
            base_model_hash: HexBinary::from_hex(&base.hash)?,
            global_adapter_hash: HexBinary::from(
                fairshare_protocol::commitment::update_hash(
                    global_hash.as_deref().unwrap_or("none").as_bytes(),
                )
                .to_vec(),
            ),
            validation_set_hash: HexBinary::from_hex(&validation_hash)?,
            task_uri: "fairshare://demo/shakespeare".into(),
        };
        let operator = chain.operator_key.clone();
        let id = round::open(chain.c(), &d, &operator, spec)?;
        let params = round::status(chain.v(), &chain.d, id)?.params;

        // Join.
        let joiners: Vec<usize> = (0..people.len()).filter(|&i| people[i].joins(r)).collect();
        for &i in &joiners {
            let stake = chain.stake.clone();
            round::join(chain.c(), &d, &stake, people[i].key(), id, STAKE)
                .with_context(|| format!("{} joins round {id}", people[i].name))?;
        }
        writeln!(
            out,
            "  round {id} opened; {} joined with {STAKE} ufair each",
            joiners.len()
        )?;
        let deadlines = round::status(chain.v(), &chain.d, id)?.deadlines;
        chain.wait_past(deadlines.join_until)?;

        // Local training, then the relayer checks each bundle and its signature.
        let round_dir = work.join(format!("bundles/round-{r}"));
        let mut entries: Vec<EntryRecord> = people.iter().map(EntryRecord::new).collect();
        let mut committed: Vec<usize> = Vec::new();
        let mut commitments = Vec::new();
        let mut shapes = None;
        for &i in &joiners {
            entries[i].joined = true;
            let p = &people[i];
            let Some(update) = p.local_update(
                r,
                id,
                &global,
                &base.hash,
                global_hash.clone(),
                &round_dir.join(&p.name),
                args.epochs,
                args.lr,
                progress,
            )?
            else {
                writeln!(out, "  {:<7} dropped out: no update", p.name)?;
                continue;
            };
            entries[i].train_loss = update.train_loss;
            entries[i].tokens_claimed = update.tokens_claimed;
            let vb = bundle::verify(
                &update.dir,
                &Expectation {
                    round_id: id,
                    base_model_hash: base.hash.clone(),
                    max_update_norm: params
                        .max_update_norm
                        .to_string()
                        .parse()
                        .unwrap_or(f64::MAX),
                    shapes: shapes.clone(),
                },
            )
            .with_context(|| format!("the relayer refuses {}'s bundle", p.name))?;
            shapes.get_or_insert(vb.shapes.clone());
            let signed = p.key().sign_commitment(
                &chain_id,
                chain.d.round_manager.as_str(),
                id,
                &vb.update_hash,
            )?;
            bundle::verify_commitment(
                &vb,
                &signed,
                p.key().pubkey().as_slice(),
                &chain_id,
                chain.d.round_manager.as_str(),
            )?;
            writeln!(
                out,
                "  {:<7} {}: ‖ΔW‖ {:.3}, update {}…, signed and queued",
                p.name,
                update.summary,
                vb.norm,
                &hex::encode(vb.update_hash)[..12]
            )?;
            entries[i].committed = true;
            entries[i].update_norm = Some(vb.norm);
            committed.push(i);
            commitments.push(signed);
        }
        round::commit(chain.c(), &d, &relayer_key, id, commitments, 50)?;
        writeln!(
            out,
            "  relayer posted {} signed commitments",
            committed.len()
        )?;
        chain.wait_past(deadlines.commit_until)?;

        // Evaluators value the committed updates on their own held-out text.
        // The round's verified bundles, read once for every evaluator and for the merge.
        let round_bundles = committed
            .iter()
            .map(|&i| {
                let dir = round_dir.join(&people[i].name);
                read_bundle(&dir, global.config(), DType::F32, &device).map(|b| (i, b))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut valuations = Vec::new();
        for (k, key) in evaluator_keys.iter().enumerate() {
            let bundles = round_bundles.iter().map(|(_, b)| b.clone()).collect();
            let v = evaluator::value_round(
                &format!("evaluator-{k}"),
                &global,
                &valid[k],
                SEQ_LEN,
                bundles,
                args.seed + r as u64,
                progress,
            )?;
            let addrs: Vec<String> = committed
                .iter()
                .map(|&i| people[i].address().to_string())
                .collect();
            let report = evaluator::to_report(&v, &addrs)?;
            round::report(chain.c(), &d, key, id, report)?;
            writeln!(
                out,
                "  evaluator-{k} reported ΔU {:.4} ({} Shapley, {} coalitions on {} tokens)",
                v.delta_u,
                v.method,
                v.evaluations,
                valid[k].len()
            )?;
            for (j, &i) in committed.iter().enumerate() {
                entries[i].shapley.push(v.values[j]);
                entries[i].alone.push(v.alone[j]);
            }
            // Round 1 measures what data buys on the base model: the surrogate's question.
            if k == 0 && r == 1 {
                for (members, u) in &v.subsets {
                    let honest = members
                        .iter()
                        .zip(&committed)
                        .all(|(&m, &i)| !m || people[i].role.is_honest());
                    if honest {
                        let tokens: usize = members
                            .iter()
                            .zip(&committed)
                            .filter(|(&m, _)| m)
                            .map(|(_, &i)| people[i].round_tokens(r).len() * args.epochs)
                            .sum();
                        calibration.push(output::CalibrationPoint {
                            tokens: tokens as f64,
                            utility: *u,
                        });
                    }
                }
            }
            valuations.push(v);
        }

        // Settle, claim, and fold the contributors' updates into the global model.
        round::settle(chain.c(), &d, &relayer_key, id)?;
        let st = round::status(chain.v(), &chain.d, id)?;
        let summary = st
            .settlement
            .clone()
            .context("a settled round has a settlement summary")?;
        let results = chain.results(id)?;
        for &i in &joiners {
            round::claim(chain.c(), &d, people[i].key(), id)?;
        }
        let mut contributors = Vec::new();
        for res in &results {
            let Some(i) = people
                .iter()
                .position(|p| p.address() == res.participant.as_str())
            else {
                continue;
            };
            entries[i].verdict = Some(res.verdict);
            entries[i].reward = res.reward.u128();
            entries[i].slash = res.slash.u128();
            entries[i].score = res
                .score
                .map(|s| s.value.to_string().parse().unwrap_or(f64::NAN));
            if res.verdict == Verdict::Contributor {
                contributors.push(i);
            }
        }
        let merged: Vec<&fairshare_trainer::bundle::Bundle> = round_bundles
            .iter()
            .filter(|(i, _)| contributors.contains(i))
            .map(|(_, b)| b)
            .collect();
        let adapters: Vec<&LoraAdapter> = merged.iter().map(|b| &b.adapter).collect();
        let weights: Vec<u64> = merged
            .iter()
            .map(|b| b.manifest.num_training_tokens)
            .collect();
        if let Some(agg) = aggregate(
            &adapters,
            &fairshare_trainer::aggregate::token_weights(&weights),
        )? {
            global.merge_adapter(&agg)?;
            let m = fairshare_trainer::bundle::write_bundle(
                &work.join(format!("global/round-{r}")),
                &agg,
                &fairshare_trainer::bundle::BundleInfo {
                    round: id,
                    base_model_hash: base.hash.clone(),
                    global_adapter_hash: global_hash.clone(),
                    num_training_tokens: weights.iter().sum(),
                    participant: "aggregate".into(),
                },
            )?;
            global_hash = Some(m.update_hash);
        }
        let loss_after = evaluate_loss(&global, None, &valid_all, SEQ_LEN, 16)?.mean_loss;
        writeln!(
            out,
            "  settled: ΔU {}, pool {}, slashed {}, outliers {}; {} contributors merged; validation loss {loss_before:.4} → {loss_after:.4}",
            summary.delta_u,
            summary.pool,
            summary.total_slashed,
            summary.outliers.len(),
            contributors.len()
        )?;
        for (i, p) in people.iter().enumerate() {
            let e = &entries[i];
            if e.joined {
                writeln!(
                    out,
                    "    {:<7} {:<10} φ {:>9} verdict {:<12} reward {:>7} slash {:>6}",
                    p.name,
                    p.role.label(),
                    e.score.map_or("-".into(), |s| format!("{s:.4}")),
                    e.verdict.map_or("-".into(), |v| format!("{v:?}")),
                    e.reward,
                    e.slash
                )?;
            }
        }
        rounds.push(RoundRecord {
            round: r,
            round_id: id,
            validation_loss_before: loss_before,
            validation_loss_after: loss_after,
            delta_u: summary.delta_u.to_string().parse().unwrap_or(f64::NAN),
            pool: summary.pool.u128(),
            dust: summary.dust.u128(),
            slashed: summary.total_slashed.u128(),
            slash_no_show: params.rewards.slash_no_show.to_string(),
            valuation_method: valuations
                .first()
                .map(|v| v.method.clone())
                .unwrap_or_default(),
            evaluations: valuations.iter().map(|v| v.evaluations).sum(),
            entries,
        });

        if r == DAO_AFTER_ROUND && (r as u64) < args.rounds {
            dao_record = governance_step(&mut chain, &people, &relayer_key, out)?;
        }
    }

    // Balances and the final table.
    let mut finals = Vec::new();
    for p in &people {
        finals.push((
            chain.stake_balance(p.address())?,
            chain.token_balance(p.address())?,
        ));
    }
    let treasury = chain.d.treasury.to_string();
    let record = output::finish(
        args,
        base.record(),
        &people,
        rounds,
        dao_record,
        &finals,
        (
            chain.stake_balance(&treasury)?,
            chain.token_balance(&treasury)?,
        ),
        calibration,
        FUNDS,
        t0.elapsed().as_secs_f64(),
    );
    output::write(&record, &args.out, out)?;
    Ok(record)
}

/// Honest participants stake their tokens (genesis allocation and rewards) in the DAO; the best-rewarded proposes raising the
/// no-show slash to 100%; all vote yes; after the timelock anyone executes it.
fn governance_step(
    chain: &mut net::DemoChain,
    people: &[Participant],
    executor: &crate::keys::ParticipantKey,
    out: &mut dyn std::io::Write,
) -> Result<Option<DaoRecord>> {
    let rules = ops::default_dao_rules();
    let d = chain.d.clone();
    let deposit = rules.deposit.u128();
    let mut voters = Vec::new();
    for p in people.iter().filter(|p| p.role.is_honest()) {
        let bal = chain.token_balance(p.address())?;
        if bal > deposit {
            voters.push((p, bal));
        }
    }
    voters.sort_by_key(|v| std::cmp::Reverse(v.1));
    let Some(&(proposer, _)) = voters.first() else {
        writeln!(
            out,
            "\nDAO: no honest participant earned the proposal deposit ({deposit} uFAIR); no proposal this run"
        )?;
        return Ok(None);
    };
    for (p, bal) in &voters {
        let amount = if p.name == proposer.name {
            bal - deposit
        } else {
            *bal
        };
        governance::stake(chain.c(), &d, p.key(), amount)?;
    }
    chain.c().wait_blocks(1)?;
    let cfg: rm::ConfigResponse = chain
        .v()
        .query(chain.d.round_manager.as_str(), &rm::QueryMsg::Config {})?;
    let mut params = cfg.params;
    let before = params.rewards.slash_no_show;
    params.rewards.slash_no_show = Decimal::one();
    let msg: CosmosMsg = WasmMsg::Execute {
        contract_addr: chain.d.round_manager.to_string(),
        msg: to_json_binary(&rm::ExecuteMsg::UpdateParams { params })?,
        funds: vec![],
    }
    .into();
    let title = "Raise the no-show slash to 100%";
    let id = governance::propose(
        chain.c(),
        &d,
        proposer.key(),
        deposit,
        title,
        "Participants who join and never commit an update forfeit their whole stake.",
        vec![msg],
    )?;
    // Votes until the outcome is decided (the DAO closes a proposal early once the remaining
    // power cannot change it).
    let mut voted = Vec::new();
    for (p, _) in &voters {
        match governance::vote(chain.c(), &d, p.key(), id, Vote::Yes) {
            Ok(_) => voted.push(p.name.clone()),
            Err(e) if e.to_string().contains("not open for votes") => break,
            Err(e) => return Err(e.into()),
        }
    }
    let wait = |d: &fairshare_protocol::dao::Duration| match d {
        fairshare_protocol::dao::Duration::Height(h) => *h,
        fairshare_protocol::dao::Duration::Time(s) => s.div_ceil(5),
    };
    chain
        .c()
        .wait_blocks(wait(&rules.voting_period) + rules.timelock.as_ref().map_or(0, wait) + 1)?;
    governance::execute(chain.c(), &d, executor, id)?;
    let staked: u128 = voters
        .iter()
        .map(|(p, b)| {
            if p.name == proposer.name {
                b - deposit
            } else {
                *b
            }
        })
        .sum();
    writeln!(
        out,
        "\nDAO: {} staked {staked} uFAIR; {} proposed “{title}” (slash_no_show {before} → 1); {} voted yes and decided it; executed — rounds from now on use it",
        voters.iter().map(|(p, _)| p.name.as_str()).collect::<Vec<_>>().join(", "),
        proposer.name,
        voted.join(", ")
    )?;
    Ok(Some(DaoRecord {
        proposal_id: id,
        title: title.into(),
        proposer: proposer.name.clone(),
        voters: voted,
        staked: Uint128::new(staked).u128(),
        parameter: "slash_no_show".into(),
        before: before.to_string(),
        after: "1".into(),
    }))
}
