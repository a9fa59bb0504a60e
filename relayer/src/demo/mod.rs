//! `fairshare demo` (`make demo`): a whole federated run on the embedded chain with real
//! training. Participants hold different Shakespeare plays; each round they bond a stake, train
//! a LoRA update of a small Llama model on their own text, and the relayer checks every bundle
//! and posts its signed commitment; bonded evaluators value the updates with Shapley values on
//! their own held-out text, publish their coalition utility tables, commit to their reports and
//! reveal them after the commit deadline; a challenger checks every revealed report against its
//! table and disputes one that does not follow; the round settles and everyone (participants,
//! evaluators, challenger) claims. Mid-run the DAO changes a parameter and the next round uses
//! it. `--lying-evaluator` makes the last evaluator lie. The run ends with a table and writes
//! `run.json`, `calibration.json` (for `fairshare simulate`), the published tables and revealed
//! reports, and plots.

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

use crate::audit;
use crate::bundle::{self, Expectation};
use crate::chain::ChainExt;
use crate::ops::{self, governance, round, StakeKind};
use crate::sealed::SealedReport;
use base::ModelChoice;
use corpus::Corpus;
use fairshare_protocol::report::UtilityTable;
use output::{DaoRecord, EntryRecord, EvaluatorRecord, RoundRecord, RunRecord};
use participant::{Participant, Role, SybilKind};

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
    /// Evaluators (3–7), each with its own slice of the held-out text; the quorum is 3, so a
    /// median of at least three reports decides every score.
    #[arg(long, default_value_t = 3)]
    pub evaluators: usize,
    /// The last evaluator lies in every round: honest participants' φ pushed below zero and the
    /// free-rider credited with their value. `inconsistent`: its report does not follow from
    /// its (honest) published table, so a challenger's dispute strikes it out and slashes it
    /// (with exactly 3 evaluators the round then lacks a quorum and fails: stakes back, no
    /// rewards; use --evaluators 4 to see it settle without the liar). `consistent`: it
    /// fabricates a table its lies follow from; no dispute can catch it, the median outvotes it,
    /// and a re-execution of its table prepares a DAO slashing proposal.
    #[arg(long, value_enum)]
    pub lying_evaluator: Option<evaluator::Lie>,
    /// Base model: `tiny` (pretrained here on generic text, cached), `smollm2` (from `make
    /// assets`), or a path to a Hugging Face directory or .gguf file.
    #[arg(long, default_value = "tiny")]
    pub model: ModelChoice,
    /// Characters of text of the largest honest participant (the others hold less); each round
    /// it trains on the next 1/rounds of it.
    #[arg(long, default_value_t = 60_000)]
    pub max_chars: usize,
    /// Characters of the round's held-out validation text, which every evaluator measures on
    /// (its hash is fixed when the round opens; it is revealed after settlement).
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
    /// Adds a Sybil: one more party, with its own play, entering under two identities that
    /// both submit updates of its text (`copy`, the default: the second is the first with 2%
    /// noise; `retrain`: trained twice with different seeds, which ΔW similarity does not
    /// catch, see the README). Evaluators group near-duplicate updates and value the group
    /// as one player, so grouped identities earn together what one would (and bond two
    /// stakes); the report shows both figures.
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "copy")]
    pub sybil: Option<SybilKind>,
    /// Cosine similarity of ΔW at or above which evaluators treat two updates as
    /// near-duplicates (complete linkage), calibrated from the similarities of same-data and
    /// distinct-data pairs that every run records in duplicates.json.
    #[arg(long, default_value_t = DUPLICATE_THRESHOLD)]
    pub duplicate_threshold: f64,
    /// Every evaluator measures its table itself. By default evaluators after the first
    /// reuse the first one's measurement when they are honest: same code, same text, same
    /// table (the run records it the same), at a third of the time.
    #[arg(long)]
    pub independent_evaluators: bool,
}

/// The demo's near-duplicate threshold on the mean ΔW cosine (see `duplicates.json` of a
/// run for the distributions it separates).
pub const DUPLICATE_THRESHOLD: f64 = 0.5;

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
        if self.sybil.is_some() {
            participant::sybil_play(self.participants)?;
        }
        if !(self.duplicate_threshold > 0.0 && self.duplicate_threshold <= 1.0) {
            return bad(format!(
                "--duplicate-threshold is a cosine similarity in (0, 1], got {}",
                self.duplicate_threshold
            ));
        }
        if self.rounds < 2 {
            return bad(format!("--rounds must be at least 2, got {}", self.rounds));
        }
        if !(QUORUM as usize..=7).contains(&self.evaluators) {
            return bad(format!(
                "--evaluators must be between {QUORUM} and 7 (the quorum is {QUORUM}: a median of fewer reports lets one evaluator set the scores), got {}",
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
/// Revealed reports a round needs (odd, at least 3).
pub const QUORUM: u32 = 3;
/// What each evaluator bonds per round (ufair).
const EVALUATOR_BOND: u128 = 10_000;

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
    // text from the first half) and of one play nobody holds. Every evaluator measures on this
    // one text, so honest evaluators agree and anyone can re-execute their tables once it is
    // revealed after settlement.
    let held_plays = args.participants + usize::from(args.sybil.is_some());
    let valid_text = corpus
        .validation_texts(
            &corpus::PARTICIPANT_PLAYS[..held_plays],
            args.valid_chars,
            1,
        )?
        .concat();
    let valid_all: Vec<u32> = tokenizer.encode(&valid_text)?;

    // Participants and their private text.
    let mut people = participant::roster(
        args.participants,
        &corpus,
        tokenizer,
        args.max_chars,
        args.rounds as usize,
        args.seed,
        args.sybil,
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
            let mut params = ops::default_params(evaluators, QUORUM);
            params.schedule = net::schedule(args.chain);
            params.rewards.delta_u_target = Decimal::percent(10);
            let dao = ops::default_dao_rules();
            // The DAO must be able to penalise an evaluator on re-execution evidence before
            // its bond can be claimed.
            params.evaluation.appeal_blocks = ops::appeal_blocks_for(&dao);
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
                dao: Some(dao),
            }
        })?;
    let relayer_key = keys.pop().context("the relayer key was derived")?;
    let chain_id = chain.chain_id()?;
    let d = chain.d.clone();
    let evaluator_keys = keys.split_off(n_people);
    let liar = args.lying_evaluator.map(|how| (n_eval - 1, how));
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
    for (k, key) in evaluator_keys.iter().enumerate() {
        writeln!(
            out,
            "  evaluator-{k} {:<10} {}",
            if liar.is_some_and(|(l, _)| l == k) {
                "LIES"
            } else {
                "honest"
            },
            key.address()
        )?;
    }
    writeln!(
        out,
        "  validation text: {} tokens, sha256 {}…",
        valid_all.len(),
        &hex::encode(fairshare_protocol::commitment::update_hash(
            valid_text.as_bytes()
        ))[..12]
    )?;

    let device = Device::Cpu;
    let mut global = base.model.clone();
    let mut global_hash: Option<String> = None;
    let mut rounds = Vec::new();
    let mut calibration = Vec::new();
    let mut dao_record = None;
    let mut timing = output::Timing::default();
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
        let spec_validation_hash = spec.validation_set_hash.clone();
        let operator = chain.operator_key.clone();
        let id = round::open(chain.c(), &d, &operator, spec)?;
        let params = round::status(chain.v(), &chain.d, id)?.params;

        // Join; the evaluators bond to serve.
        let joiners: Vec<usize> = (0..people.len()).filter(|&i| people[i].joins(r)).collect();
        let stake = chain.stake.clone();
        for &i in &joiners {
            round::join(chain.c(), &d, &stake, people[i].key(), id, STAKE)
                .with_context(|| format!("{} joins round {id}", people[i].name))?;
        }
        let bond = EVALUATOR_BOND.max(params.evaluation.min_bond.u128());
        for (k, key) in evaluator_keys.iter().enumerate() {
            round::serve(chain.c(), &d, &stake, key, id, bond)
                .with_context(|| format!("evaluator-{k} bonds for round {id}"))?;
        }
        writeln!(
            out,
            "  round {id} opened; {} joined with {STAKE} ufair each; {} evaluators bonded {bond} ufair each",
            joiners.len(),
            evaluator_keys.len()
        )?;
        let deadlines = round::status(chain.v(), &chain.d, id)?.deadlines;
        chain.wait_past(deadlines.join_until)?;

        // Local training, then the relayer checks each bundle and its signature.
        let t_train = Instant::now();
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
        timing.training_s += t_train.elapsed().as_secs_f64();
        round::commit(chain.c(), &d, &relayer_key, id, commitments, 50)?;
        writeln!(
            out,
            "  relayer posted {} signed commitments",
            committed.len()
        )?;
        chain.wait_past(deadlines.commit_until)?;

        // Evaluators value the committed updates on their own held-out text, publish their
        // tables and commit to their reports.
        let t_value = Instant::now();
        let round_bundles = committed
            .iter()
            .map(|&i| {
                let dir = round_dir.join(&people[i].name);
                read_bundle(&dir, global.config(), DType::F32, &device).map(|b| (i, b))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let addrs: Vec<String> = committed
            .iter()
            .map(|&i| people[i].address().to_string())
            .collect();
        let favoured: Vec<bool> = committed
            .iter()
            .map(|&i| people[i].role == Role::FreeRider)
            .collect();
        let published = args.out.join(format!("round-{r}"));
        std::fs::create_dir_all(&published)
            .with_context(|| format!("creating {}", published.display()))?;
        // Near-duplicates: every pair of updates compared by the cosine of their ΔW; a group
        // whose every pair reaches the threshold is valued as one player.
        let adapters: Vec<&LoraAdapter> = round_bundles.iter().map(|(_, b)| &b.adapter).collect();
        let similarity = fairshare_trainer::aggregate::similarity_matrix(&adapters)?;
        let groups =
            fairshare_shapley::groups::near_duplicates(&similarity, args.duplicate_threshold)?;
        let duplicates = duplicate_record(
            &people,
            &committed,
            &entries,
            &similarity,
            &groups,
            args.duplicate_threshold,
        );
        for g in &duplicates.groups {
            writeln!(
                out,
                "  near-duplicates: {} (ΔW cosine ≥ {:.2}) valued as one player, its value split evenly",
                g.join(" + "),
                args.duplicate_threshold
            )?;
        }
        let mut works = Vec::new();
        let mut measured: Option<evaluator::Valuation> = None;
        for (k, key) in evaluator_keys.iter().enumerate() {
            let v = match &measured {
                Some(v) if !args.independent_evaluators => v.clone(),
                _ => {
                    let bundles = round_bundles.iter().map(|(_, b)| b.clone()).collect();
                    let v = evaluator::value_round(
                        &format!("evaluator-{k}"),
                        &global,
                        &valid_all,
                        SEQ_LEN,
                        bundles,
                        &groups,
                        fairshare_protocol::report::round_seed(
                            chain.d.round_manager.as_str(),
                            id,
                            spec_validation_hash.as_slice(),
                        ),
                        progress,
                    )?;
                    measured = Some(v.clone());
                    v
                }
            };
            let text_hash = fairshare_protocol::commitment::update_hash(valid_text.as_bytes());
            debug_assert_eq!(text_hash.as_slice(), spec_validation_hash.as_slice());
            let honest_table = evaluator::to_table(&v, &addrs, text_hash)?;
            let lie = liar.and_then(|(l, how)| (l == k).then_some(how));
            let (table, report) = match lie {
                Some(how) => evaluator::lying_report(&v, &honest_table, &favoured, how)?,
                None => {
                    let report = evaluator::to_report(&v, &honest_table)?;
                    (honest_table.clone(), report)
                }
            };
            let table_file = published.join(format!("evaluator-{k}.table.json"));
            write_json(&table_file, &table)?;
            let sealed = SealedReport::new(
                chain.d.round_manager.as_str(),
                id,
                key.address(),
                report.clone(),
            );
            let sealed_file = work.join(format!("sealed/round-{r}/evaluator-{k}.json"));
            sealed.write(&sealed_file)?;
            round::commit_report(chain.c(), &d, key, id, &report, &sealed.salt_bytes()?)?;
            writeln!(
                out,
                "  evaluator-{k} committed {} ({} Shapley, {} coalitions on {} tokens, ΔU {:.4}); table published, digest {}…",
                if lie.is_some() { "its LIES" } else { "its report" },
                v.method,
                v.evaluations,
                valid_all.len(),
                v.delta_u,
                &sealed.digest.to_hex()[..12]
            )?;
            for (j, &i) in committed.iter().enumerate() {
                entries[i].shapley.push(decimal_f64(report.scores[j].value));
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
            works.push(EvaluatorWork {
                reported_delta_u: report.delta_u,
                valuation: v,
                honest_table,
                table_file,
                sealed_file,
                lie,
            });
        }
        // For the report only: the same round valued without grouping (what the Sybil would
        // have earned if evaluators did not detect near-duplicates).
        let ungrouped = if args.sybil.is_some() && !groups.is_trivial() {
            let bundles = round_bundles.iter().map(|(_, b)| b.clone()).collect();
            Some(evaluator::value_round(
                "no grouping",
                &global,
                &valid_all,
                SEQ_LEN,
                bundles,
                &fairshare_shapley::groups::Groups::singletons(committed.len()),
                fairshare_protocol::report::round_seed(
                    chain.d.round_manager.as_str(),
                    id,
                    spec_validation_hash.as_slice(),
                ),
                progress,
            )?)
        } else {
            None
        };
        timing.valuation_s += t_value.elapsed().as_secs_f64();

        // After the commit deadline every evaluator opens its sealed report.
        chain.wait_past(deadlines.report_until - 1)?;
        for (k, (key, w)) in evaluator_keys.iter().zip(&works).enumerate() {
            let sealed = SealedReport::read(&w.sealed_file)?;
            round::reveal_report(
                chain.c(),
                &d,
                key,
                id,
                sealed.report.clone(),
                &sealed.salt_bytes()?,
            )
            .with_context(|| format!("evaluator-{k} reveals in round {id}"))?;
            write_json(
                &published.join(format!("evaluator-{k}.report.json")),
                &sealed.report,
            )?;
        }
        writeln!(
            out,
            "  {} reports revealed after the commit deadline (block {})",
            works.len(),
            deadlines.report_until
        )?;

        // A challenger (the relayer here; anyone can) checks every revealed report, read back
        // from the chain, against its published table and disputes those that do not follow.
        let mut checks = Vec::new();
        for (k, (key, w)) in evaluator_keys.iter().zip(&works).enumerate() {
            let report = round::revealed_report(chain.v(), &chain.d, id, key.address())?
                .with_context(|| format!("evaluator-{k}'s revealed report is on chain"))?;
            let table: UtilityTable = read_json(&w.table_file)?;
            let check = audit::check(
                &report,
                &table,
                Some(audit::RoundContext {
                    round_manager: chain.d.round_manager.as_str(),
                    round_id: id,
                    validation_set_hash: spec_validation_hash.as_slice(),
                }),
            );
            if check.disputable() {
                let deposit = params.evaluation.dispute_deposit.u128();
                let tx = round::dispute(
                    chain.c(),
                    &d,
                    &stake,
                    &relayer_key,
                    id,
                    key.address(),
                    table,
                    deposit,
                )?;
                writeln!(
                    out,
                    "  challenger: evaluator-{k}'s report does not follow from its own table ({} of {} figures off); disputed with a deposit of {deposit} ufair → {}",
                    check.lines.iter().filter(|l| !l.follows).count(),
                    check.lines.len(),
                    tx.attribute("outcome").unwrap_or("?")
                )?;
            }
            checks.push(check.consistent());
        }
        if checks.iter().all(|&c| c) {
            writeln!(
                out,
                "  challenger: every revealed report follows from its published table; nothing to dispute"
            )?;
        }

        // Settle after the dispute window; claims for every role.
        chain.wait_past(deadlines.dispute_until - 1)?;
        round::settle(chain.c(), &d, &relayer_key, id)?;
        let st = round::status(chain.v(), &chain.d, id)?;
        let settled = st.phase == rm::Phase::Settled;
        let results = chain.results(id)?;
        for &i in &joiners {
            round::claim(chain.c(), &d, people[i].key(), id)?;
        }
        let disputes = round::disputes(chain.v(), &chain.d, id)?;
        let mut ev_results = Vec::new();
        for key in &evaluator_keys {
            ev_results.push(round::evaluator_result(
                chain.v(),
                &chain.d,
                id,
                key.address(),
            )?);
        }
        let claimable = ev_results
            .iter()
            .map(|e| e.claimable_from)
            .max()
            .unwrap_or(0);
        chain.wait_past(claimable.saturating_sub(1))?;
        for key in &evaluator_keys {
            round::claim(chain.c(), &d, key, id)?;
        }
        let mut challenger = None;
        if !disputes.is_empty() {
            let c: rm::ChallengerResult = chain.v().query(
                chain.d.round_manager.as_str(),
                &rm::QueryMsg::ChallengerResult {
                    round_id: id,
                    challenger: relayer_key.address().to_string(),
                },
            )?;
            round::claim(chain.c(), &d, &relayer_key, id)?;
            challenger = Some(c);
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
            entries[i].score = res.score.map(|s| decimal_f64(s.value));
            entries[i].std_error = res.score.map(|s| decimal_f64(s.std_error));
            if res.verdict == Verdict::Contributor {
                contributors.push(i);
            }
        }
        let evaluators: Vec<EvaluatorRecord> = evaluator_keys
            .iter()
            .zip(&works)
            .zip(&ev_results)
            .zip(&checks)
            .enumerate()
            .map(|(k, (((key, w), res), &consistent))| {
                let dispute = disputes
                    .iter()
                    .find(|x| x.evaluator.as_str() == key.address());
                EvaluatorRecord {
                    name: format!("evaluator-{k}"),
                    address: key.address().to_string(),
                    lie: w.lie,
                    method: w.valuation.method.clone(),
                    evaluations: w.valuation.evaluations,
                    dof: w.valuation.dof,
                    delta_u: decimal_f64(w.reported_delta_u),
                    consistent,
                    disputed: dispute.map(|x| x.upheld),
                    bond: res.bond.u128(),
                    verdict: res.verdict,
                    agreement: decimal_f64(res.agreement),
                    reward: res.reward.u128(),
                    slash: res.slash.u128(),
                    table: w.table_file.display().to_string(),
                }
            })
            .collect();

        // A consistent liar cannot be disputed on chain; re-executing its table on the
        // validation text (revealed after settlement) shows the lie and prepares a proposal.
        let mut proposals = Vec::new();
        for (k, w) in works.iter().enumerate() {
            if w.lie != Some(evaluator::Lie::Consistent) {
                continue;
            }
            let table: UtilityTable = read_json(&w.table_file)?;
            let path = reexecution_proposal(
                &chain,
                id,
                evaluator_keys[k].address(),
                &table,
                &w.honest_table,
                ev_results[k].bond,
                &published.join(format!("evaluator-{k}.proposal.json")),
            )?;
            if let Some((beyond, checked, path)) = path {
                writeln!(
                    out,
                    "  re-execution: evaluator-{k}'s table disagrees with U(S) re-measured on its revealed validation text for {beyond} of {checked} coalitions; DAO slashing proposal prepared at {}",
                    path.display()
                )?;
                proposals.push(path.display().to_string());
            }
        }

        // The contributors' updates merged by FedAvg, near-duplicates counted once (a group's
        // members share one member's weight).
        let merged: Vec<(usize, &fairshare_trainer::bundle::Bundle)> = round_bundles
            .iter()
            .enumerate()
            .filter(|(_, (i, _))| contributors.contains(i))
            .map(|(j, (_, b))| (j, b))
            .collect();
        let adapters: Vec<&LoraAdapter> = merged.iter().map(|(_, b)| &b.adapter).collect();
        let weights: Vec<u64> = merged
            .iter()
            .map(|(_, b)| b.manifest.num_training_tokens)
            .collect();
        let shares: Vec<f64> = merged
            .iter()
            .zip(fairshare_trainer::aggregate::token_weights(&weights))
            .map(|((j, _), w)| {
                let g = groups.group_of(*j);
                let k = merged
                    .iter()
                    .filter(|(x, _)| groups.group_of(*x) == g)
                    .count();
                w / k as f64
            })
            .collect();
        let total_share: f64 = shares.iter().sum();
        let shares: Vec<f64> = shares.iter().map(|w| w / total_share).collect();
        if let Some(agg) = aggregate(&adapters, &shares)? {
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
        // The validation text is revealed once the round is over: anyone can re-execute.
        let revealed = work.join(format!("validation/round-{r}.txt"));
        if let Some(parent) = revealed.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&revealed, &valid_text)
            .with_context(|| format!("writing {}", revealed.display()))?;
        let loss_after = evaluate_loss(&global, None, &valid_all, SEQ_LEN, 16)?.mean_loss;
        let summary = st.settlement.clone();
        let sybil = match (&summary, args.sybil) {
            (Some(sm), Some(_)) => Some(sybil_record(
                &people,
                &entries,
                &committed,
                works.first().map(|w| &w.valuation),
                ungrouped.as_ref(),
                &duplicates,
                &params.rewards,
                params.evaluation.budget(params.rewards.budget),
                sm.t_critical,
            )?),
            _ => None,
        };
        if let Some(x) = &sybil {
            writeln!(
                out,
                "  sybil: two identities ({}) earned {} uFAIR (φ {:+.4}) on {} ufair of stake; one identity would have earned {} uFAIR (φ {:+.4}) on {}",
                if x.grouped { "grouped" } else { "NOT grouped" },
                x.reward_total,
                x.phi_total,
                x.stake_total,
                x.reward_one,
                x.phi_one,
                x.stake_one
            )?;
        }
        match &summary {
            Some(s) => writeln!(
                out,
                "  settled: ΔU {}, pool {}, evaluators paid {}, slashed {}, outliers {}; {} contributors merged; validation loss {loss_before:.4} → {loss_after:.4}",
                s.delta_u,
                s.pool,
                s.evaluator_rewards,
                s.total_slashed,
                s.outliers.len(),
                contributors.len()
            )?,
            None => writeln!(
                out,
                "  FAILED: {} of {QUORUM} needed reports left after disputes; participants' stakes back, no rewards, nothing merged",
                st.reports
            )?,
        }
        for (i, p) in people.iter().enumerate() {
            let e = &entries[i];
            if e.joined {
                writeln!(
                    out,
                    "    {:<7} {:<10} φ {:>9} ± {:<7} verdict {:<12} reward {:>7} slash {:>6}",
                    p.name,
                    p.role.label(),
                    e.score.map_or("-".into(), |s| format!("{s:.4}")),
                    e.std_error.map_or("-".into(), |s| format!("{s:.4}")),
                    e.verdict.map_or("-".into(), |v| format!("{v:?}")),
                    e.reward,
                    e.slash
                )?;
            }
        }
        for e in &evaluators {
            writeln!(
                out,
                "    {:<12} {:<6} bond {:>6} verdict {:<10} agreement {:.2} reward {:>6} slash {:>6}{}",
                e.name,
                if e.lie.is_some() { "liar" } else { "honest" },
                e.bond,
                format!("{:?}", e.verdict),
                e.agreement,
                e.reward,
                e.slash,
                match e.disputed {
                    Some(true) => " (dispute upheld)",
                    Some(false) => " (dispute rejected)",
                    None => "",
                }
            )?;
        }
        if let Some(c) = &challenger {
            writeln!(
                out,
                "    challenger   deposits {} → claimed back {} ({} upheld, {} rejected)",
                c.deposits, c.stake_return, c.upheld, c.rejected
            )?;
        }
        rounds.push(RoundRecord {
            round: r,
            round_id: id,
            settled,
            validation_loss_before: loss_before,
            validation_loss_after: loss_after,
            delta_u: summary
                .as_ref()
                .map_or(f64::NAN, |s| decimal_f64(s.delta_u)),
            pool: summary.as_ref().map_or(0, |s| s.pool.u128()),
            evaluator_pool: summary.as_ref().map_or(0, |s| s.evaluator_rewards.u128()),
            dust: summary.as_ref().map_or(0, |s| s.dust.u128()),
            slashed: summary.as_ref().map_or(0, |s| s.total_slashed.u128()),
            t_critical: summary
                .as_ref()
                .map_or(f64::NAN, |s| decimal_f64(s.t_critical)),
            slash_no_show: params.rewards.slash_no_show.to_string(),
            valuation_method: works
                .first()
                .map(|w| w.valuation.method.clone())
                .unwrap_or_default(),
            evaluations: works.iter().map(|w| w.valuation.evaluations).sum(),
            entries,
            evaluators,
            disputes: disputes
                .iter()
                .map(|x| output::DisputeRecord {
                    evaluator: evaluator_keys
                        .iter()
                        .position(|k| k.address() == x.evaluator.as_str())
                        .map_or(x.evaluator.to_string(), |k| format!("evaluator-{k}")),
                    challenger: x.challenger.to_string(),
                    deposit: x.deposit.u128(),
                    upheld: x.upheld,
                    findings: x.findings.clone(),
                })
                .collect(),
            challenger: challenger.map(|c| output::ChallengerRecord {
                deposits: c.deposits.u128(),
                returned: c.stake_return.u128(),
                upheld: c.upheld,
                rejected: c.rejected,
            }),
            proposals,
            duplicates,
            sybil,
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
    let mut evaluator_finals = Vec::new();
    for k in &evaluator_keys {
        evaluator_finals.push((
            chain.stake_balance(k.address())?,
            chain.token_balance(k.address())?,
        ));
    }
    let treasury = chain.d.treasury.to_string();
    timing.total_s = t0.elapsed().as_secs_f64();
    let record = output::finish(
        args,
        output::Inputs {
            base: base.record(),
            people: &people,
            rounds,
            dao: dao_record,
            finals: &finals,
            evaluator_finals: &evaluator_finals,
            treasury: (
                chain.stake_balance(&treasury)?,
                chain.token_balance(&treasury)?,
            ),
            calibration,
            funds: FUNDS,
            timing,
        },
    );
    output::write(&record, &args.out, out)?;
    Ok(record)
}

/// What one evaluator produced in a round, between its commit and the round's end.
struct EvaluatorWork {
    valuation: evaluator::Valuation,
    /// The ΔU it reported (a liar's may not be what it measured).
    reported_delta_u: cosmwasm_std::SignedDecimal,
    /// Its honest table (what it measured), whatever it published.
    honest_table: UtilityTable,
    /// The table it published (and committed to).
    table_file: PathBuf,
    /// Its report and salt, kept privately until the reveal.
    sealed_file: PathBuf,
    lie: Option<evaluator::Lie>,
}

/// A decimal's value as a float (for the record and the plots).
fn decimal_f64(d: impl std::fmt::Display) -> f64 {
    d.to_string().parse().unwrap_or(f64::NAN)
}

fn write_json<T: serde::Serialize>(path: &std::path::Path, value: &T) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, serde_json::to_vec_pretty(value)?)
        .with_context(|| format!("writing {}", path.display()))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} is malformed", path.display()))
}

/// Re-executes a published table on the revealed validation text — here the U(S) the
/// evaluator itself measured before fabricating, which any re-execution with `fairshare-trainer
/// evaluate` reproduces — for every single update and the grand coalition, and, if the table
/// disagrees beyond [`evaluator::RESOLUTION_NATS`], writes the DAO slashing proposal to `path`.
/// Returns (coalitions beyond tolerance, coalitions checked, path).
fn reexecution_proposal(
    chain: &net::DemoChain,
    round_id: u64,
    evaluator_addr: &str,
    table: &UtilityTable,
    measured_on: &UtilityTable,
    bond: Uint128,
    path: &std::path::Path,
) -> Result<Option<(usize, usize, PathBuf)>> {
    let n = measured_on.participants.len();
    let mut coalitions: Vec<Vec<String>> = (0..n)
        .map(|i| vec![measured_on.participants[i].clone()])
        .collect();
    coalitions.push(measured_on.participants.clone());
    let mut measured = Vec::new();
    for c in coalitions {
        let u = audit::table_utilities(measured_on, &c)
            .map_err(|e| anyhow::anyhow!("re-execution: {e}"))?;
        if let Some(&utility) = u.first() {
            measured.push(audit::Measurement {
                participants: c,
                utility,
            });
        }
    }
    let tolerance = evaluator::RESOLUTION_NATS;
    let comparisons = audit::compare(table, &measured, tolerance)
        .map_err(|e| anyhow::anyhow!("comparing the table: {e}"))?;
    let table_hash = hex::encode(table.hash());
    let Some(p) = audit::slashing_proposal(&audit::Evidence {
        escrow: chain.d.escrow.as_str(),
        round_id,
        evaluator: evaluator_addr,
        table_hash: &table_hash,
        validation_set_hash: &table.validation_set_hash.to_hex(),
        tolerance,
        comparisons: &comparisons,
        amount: bond,
    })?
    else {
        return Ok(None);
    };
    write_json(path, &p)?;
    Ok(Some((
        comparisons.iter().filter(|c| c.beyond_tolerance).count(),
        comparisons.len(),
        path.to_path_buf(),
    )))
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

/// The round's pairwise similarities labelled by what the pairs are, and its groups by name.
fn duplicate_record(
    people: &[Participant],
    committed: &[usize],
    entries: &[EntryRecord],
    similarity: &[Vec<f64>],
    groups: &fairshare_shapley::groups::Groups,
    threshold: f64,
) -> output::DuplicateRecord {
    let mut pairs = Vec::new();
    for (a, &i) in committed.iter().enumerate() {
        for (b, &j) in committed.iter().enumerate().skip(a + 1) {
            let untrained = |k: usize| entries[k].update_norm.is_none_or(|n| n == 0.0);
            let kind = if untrained(i) || untrained(j) {
                output::PairKind::Untrained
            } else if people[i].play == people[j].play {
                output::PairKind::SameData
            } else {
                output::PairKind::DistinctData
            };
            pairs.push(output::PairRecord {
                a: people[i].name.clone(),
                b: people[j].name.clone(),
                kind,
                cosine: similarity[a][b],
            });
        }
    }
    output::DuplicateRecord {
        threshold,
        pairs,
        groups: groups
            .members()
            .iter()
            .filter(|g| g.len() > 1)
            .map(|g| {
                g.iter()
                    .map(|&j| people[committed[j]].name.clone())
                    .collect()
            })
            .collect(),
    }
}

/// The Sybil's identities against one identity submitting the group's update: the reward rule
/// (the contract's, from `fairshare_protocol::rewards`) applied to the settled scores, once as
/// they are (which must reproduce the chain) and once with the second identity absent and the
/// first holding the identities' summed φ (their standard errors add: an even split gives both
/// the same share of the group in every validation batch).
#[allow(clippy::too_many_arguments)]
fn sybil_record(
    people: &[Participant],
    entries: &[EntryRecord],
    committed: &[usize],
    valuation: Option<&evaluator::Valuation>,
    ungrouped: Option<&evaluator::Valuation>,
    duplicates: &output::DuplicateRecord,
    rewards: &fairshare_protocol::rewards::RewardParams,
    evaluator_budget: Uint128,
    t: Decimal,
) -> Result<output::SybilRecord> {
    use fairshare_protocol::rewards::{self as rw, Entry, Score};
    use std::str::FromStr;
    let ids: Vec<usize> = (0..people.len())
        .filter(|&i| people[i].role == Role::Sybil && entries[i].joined)
        .collect();
    let score = |e: &EntryRecord| -> Result<Option<Score>> {
        match (e.score, e.std_error) {
            (Some(v), Some(se)) => Ok(Some(Score {
                value: cosmwasm_std::SignedDecimal::from_str(&format!("{v:.18}"))?,
                std_error: Decimal::from_str(&format!("{se:.18}"))?,
            })),
            _ => Ok(None),
        }
    };
    let mut params = rewards.clone();
    params.budget = rewards.budget - evaluator_budget;
    let payout = |list: &[(Uint128, Option<Score>)]| -> Vec<rw::Outcome> {
        let mut gain = rw::Gain::default();
        for (_, sc) in list {
            gain.add(*sc, t);
        }
        let threshold = gain.threshold(&params);
        let total_weight = list
            .iter()
            .fold(cosmwasm_std::Uint256::zero(), |a, (_, sc)| {
                a + rw::weight(rw::classify(&params, *sc, threshold, t).0, *sc)
            });
        let fixed = rw::Fixed {
            t,
            threshold,
            total_weight,
            pool: rw::pool(&params, &gain, total_weight),
        };
        list.iter()
            .map(|(stake, sc)| {
                rw::outcome(
                    &params,
                    &fixed,
                    &Entry {
                        stake: *stake,
                        score: *sc,
                    },
                )
            })
            .collect()
    };
    let joined: Vec<usize> = (0..people.len()).filter(|&i| entries[i].joined).collect();
    let mut actual = Vec::new();
    for &i in &joined {
        actual.push((Uint128::new(STAKE), score(&entries[i])?));
    }
    // Without grouping: every committed participant scored by the ungrouped valuation.
    let without = match ungrouped {
        Some(v) => {
            let mut list = Vec::new();
            for &i in &joined {
                let sc = match committed.iter().position(|&c| c == i) {
                    Some(j) => {
                        let e = EntryRecord {
                            score: Some(v.values[j]),
                            std_error: Some(v.std_errors[j].max(evaluator::RESOLUTION_NATS)),
                            ..entries[i].clone()
                        };
                        score(&e)?
                    }
                    None => None,
                };
                list.push((Uint128::new(STAKE), sc));
            }
            let out = payout(&list);
            let mut phi = 0.0;
            let (mut reward, mut slash) = (0u128, 0u128);
            for (k, &i) in joined.iter().enumerate() {
                if ids.contains(&i) {
                    if let Some(j) = committed.iter().position(|&c| c == i) {
                        phi += v.values[j];
                    }
                    reward += out[k].reward.u128();
                    slash += out[k].slash.u128();
                }
            }
            Some((phi, reward, slash))
        }
        None => None,
    };
    let reproduced = payout(&actual)
        .iter()
        .zip(&joined)
        .all(|(o, &i)| o.reward.u128() == entries[i].reward && o.slash.u128() == entries[i].slash);
    let names: Vec<String> = ids.iter().map(|&i| people[i].name.clone()).collect();
    let grouped = duplicates
        .groups
        .iter()
        .any(|g| names.iter().all(|n| g.contains(n)));
    let phi_total: f64 = ids.iter().map(|&i| entries[i].score.unwrap_or(0.0)).sum();
    // One identity. Grouped: it holds the group's φ (the second identity absent, the group's
    // value unchanged). Not grouped: its Shapley value in the measured table's sub-game
    // without the second identity (members keep their weights of the round).
    let (phi_one, se_one) = if grouped {
        ids.iter().fold((0.0, 0.0), |(p, s), &i| {
            (
                p + entries[i].score.unwrap_or(0.0),
                s + entries[i].std_error.unwrap_or(0.0),
            )
        })
    } else {
        let pos = |i: usize| committed.iter().position(|&c| c == i);
        let se = ids
            .first()
            .and_then(|&i| entries[i].std_error)
            .unwrap_or(0.0);
        match (
            valuation,
            ids.first().and_then(|&i| pos(i)),
            ids.get(1).and_then(|&i| pos(i)),
        ) {
            (Some(v), Some(a), Some(b))
                if v.estimator == fairshare_protocol::report::Estimator::Exact =>
            {
                let n = committed.len();
                let keep: Vec<usize> = (0..n).filter(|&j| j != b).collect();
                let sub: Vec<f64> = (0u64..(1 << (n - 1)))
                    .map(|m| {
                        let full: usize = keep
                            .iter()
                            .enumerate()
                            .filter(|(bit, _)| m >> bit & 1 == 1)
                            .map(|(_, &j)| 1usize << j)
                            .sum();
                        v.utilities[full]
                    })
                    .collect();
                let phi = fairshare_trainer::cli::exact_shapley(&sub, n - 1);
                let at = keep.iter().position(|&j| j == a).unwrap_or(0);
                (phi[at], se)
            }
            _ => (phi_total, se),
        }
    };
    let first = ids.first().copied();
    let mut one = Vec::new();
    let mut at = None;
    for &i in &joined {
        if ids.contains(&i) && Some(i) != first {
            continue;
        }
        if Some(i) == first {
            at = Some(one.len());
            let e = EntryRecord {
                score: Some(phi_one),
                std_error: Some(se_one),
                ..entries[i].clone()
            };
            one.push((Uint128::new(STAKE), score(&e)?));
        } else {
            one.push((Uint128::new(STAKE), score(&entries[i])?));
        }
    }
    let one_out = payout(&one);
    let (reward_one, slash_one) = at
        .and_then(|k| one_out.get(k))
        .map_or((0, 0), |o| (o.reward.u128(), o.slash.u128()));
    Ok(output::SybilRecord {
        grouped,
        identities: names,
        phi_total,
        reward_total: ids.iter().map(|&i| entries[i].reward).sum(),
        slash_total: ids.iter().map(|&i| entries[i].slash).sum(),
        stake_total: STAKE * ids.len() as u128,
        phi_one,
        reward_one,
        slash_one,
        stake_one: if ids.is_empty() { 0 } else { STAKE },
        rule_reproduces_chain: reproduced,
        phi_ungrouped: without.map(|w| w.0),
        reward_ungrouped: without.map(|w| w.1),
        slash_ungrouped: without.map(|w| w.2),
    })
}
