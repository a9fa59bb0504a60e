//! `fairshare demo` (`make demo`): a whole federated run on the embedded chain with real
//! training. Participants hold different Shakespeare plays; each round they bond a stake, train
//! a LoRA update of a small Llama model on their own text, and the relayer checks every bundle
//! and posts its signed commitment; bonded evaluators value the updates with Shapley values on
//! the round's held-out text, publish their coalition utility tables, commit to their reports
//! and reveal them after the commit deadline; a challenger checks every revealed report against
//! its table and disputes one that does not follow; the round settles and everyone
//! (participants, evaluators, challenger) claims; the operator merges the contributors' updates
//! into the next global adapter. Mid-run the DAO changes a parameter and the next round uses
//! it. `--lying-evaluator` makes the last evaluator lie. The run ends with a table and writes
//! `run.json`, `calibration.json` (for `fairshare simulate`), the published tables and revealed
//! reports, and plots.
//!
//! Each party is found by its name under [`roles`]; participants, evaluators and the relayer
//! are the very services separate parties run (`fairshare participant run`, `fairshare
//! evaluator run`, `fairshare relayer serve`), composed in this process on one chain that a
//! chain thread owns. [`run`] is the driver: it sets the world up and plays the rounds.

pub mod base;
pub mod corpus;
pub mod counterfactual;
pub mod net;
pub mod output;
pub mod records;
pub mod roles;

pub use roles::{evaluator, participant};
pub mod spread;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use cosmwasm_std::{Decimal, Uint128};
use fairshare_protocol::round_manager as rm;
use fairshare_trainer::bundle::Bundle;
use fairshare_trainer::eval::evaluate_loss;
use fairshare_trainer::pretrain::PretrainConfig;

use crate::ops::{self, round, Deployment, StakeKind};
use base::ModelChoice;
use corpus::Corpus;
use output::{CalibrationPoint, EntryRecord, RoundRecord, RunRecord};
use participant::{Participant, SybilKind};
use roles::{challenger, governance, operator::Operator, relayer::DemoRelayer};

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
    #[error(transparent)]
    Valuation(#[from] crate::valuation::ValuationError),
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
    /// Peak learning rate of local LoRA training (only B trains: A stays at the round's shared
    /// initialisation, which wants a higher rate than training both; 3e-3 measured best of
    /// 1e-3 / 2e-3 / 3e-3).
    #[arg(long, default_value_t = 3e-3)]
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
    /// noise; `retrain`: trained twice with different data-order seeds, caught too: every
    /// round's LoRA initialisation is the round's public seed). Evaluators group near-duplicate updates and value the group
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
    /// Also runs the n leave-one-participant-out federated runs (≈ n+1 times as long) and
    /// ranks every scheme's rewards against each participant's counterfactual contribution:
    /// the final models' loss on a test text no one trains or validates on
    /// (`<out>/counterfactual.json` and `.md`).
    #[arg(long)]
    pub counterfactual: bool,
    /// Leaves this participant out of every round (it never joins); the others are unchanged.
    #[arg(long, hide = true)]
    pub exclude: Option<String>,
    /// Writes the final global model (Hugging Face directory with tokenizer.json) here.
    #[arg(long, hide = true)]
    pub save_global: Option<PathBuf>,
    /// Seed of the tiny base model's pretraining (default: --seed); fix it to vary only the
    /// federated run between seeds and keep one cached base.
    #[arg(long)]
    pub base_seed: Option<u64>,
    /// Runs the demo once per seed (comma-separated) into `<out>/seed-<s>/` and writes
    /// `<out>/spread.md`: each claim holds in k of N seeds, and one that differs between seeds
    /// is reported as not established.
    #[arg(long, value_delimiter = ',')]
    pub spread: Vec<u64>,
    /// How the operator weights the merged updates: `tokens` (FedAvg on training tokens, the
    /// protocol's rule), `equal`, or `roster` (a fixed 1/R per update, R the roster size, so
    /// leaving a party out changes no one else's weight; for testing what --counterfactual
    /// charges to dilution). Evaluators' coalition values are the same under every rule (each
    /// member keeps its token share of the round).
    #[arg(long, value_enum, default_value = "tokens")]
    pub merge: crate::operator::MergeRule,
}

/// The near-duplicate threshold on the mean ΔW cosine (see `duplicates.json` of a run for the
/// distributions it separates); the evaluator service's default too.
pub use crate::valuation::DUPLICATE_THRESHOLD;

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

/// How the tiny base model is pretrained (its seed: `--base-seed`, else `--seed`).
pub fn pretrain_config(args: &DemoArgs, progress: bool) -> PretrainConfig {
    PretrainConfig {
        steps: args.pretrain_steps,
        batch_size: 16,
        seq_len: SEQ_LEN,
        learning_rate: 3e-3,
        warmup_steps: 30,
        seed: args.base_seed.unwrap_or(args.seed),
        progress,
        ..PretrainConfig::default()
    }
}

fn default_cache() -> PathBuf {
    std::env::var_os("HOME")
        .map_or_else(|| PathBuf::from("."), PathBuf::from)
        .join(".cache/fairshare")
}

/// Runs the demo, printing progress and the final table to `out`: sets up the text, the base
/// model, the chain and every party (each a service on the shared chain), plays the rounds and
/// writes the record.
pub fn run(
    args: &DemoArgs,
    config: Option<&Path>,
    out: &mut dyn std::io::Write,
) -> Result<RunRecord> {
    args.validate()?;
    let t0 = Instant::now();
    let mut w = World::set_up(args, config, out)?;
    let mut rounds = Vec::new();
    let mut dao = None;
    for r in 1..=args.rounds as usize {
        rounds.push(w.play_round(r, out)?);
        if r == DAO_AFTER_ROUND && (r as u64) < args.rounds {
            dao = governance::governance_step(&mut w.chain, &w.people, &w.relayer.key, out)?;
        }
    }
    let record = w.finish(rounds, dao, t0)?;
    output::write(&record, &args.out, out)?;
    Ok(record)
}

/// Everything a run holds: the text, the chain, and the parties.
struct World<'a> {
    args: &'a DemoArgs,
    base: base::Base,
    corpus: Corpus,
    /// Parties holding text (a Sybil's two identities are one).
    parties: usize,
    /// The round's held-out text: its tokens and sha256 (fixed when each round opens).
    valid_text: String,
    valid_all: Vec<u32>,
    validation_hash: [u8; 32],
    /// Bundles, service data directories and revealed texts (outside the report).
    work: PathBuf,
    chain: net::DemoChain,
    d: Deployment,
    people: Vec<Participant>,
    /// Address → index in `people`.
    by_address: HashMap<String, usize>,
    participants: Vec<participant::Service>,
    evaluators: Vec<evaluator::Service>,
    relayer: DemoRelayer,
    operator: Operator,
    calibration: Vec<CalibrationPoint>,
    timing: output::Timing,
}

impl<'a> World<'a> {
    /// The corpus, the base model, the held-out text, the participants and their text; the
    /// chain (keys derived from names, funded, the contracts deployed by the same code on
    /// either backend, owned by a DAO) on its own thread; and the parties: the relayer
    /// service, the operator, a participant service per participant and an evaluator service
    /// per evaluator.
    fn set_up(
        args: &'a DemoArgs,
        config: Option<&Path>,
        out: &mut dyn std::io::Write,
    ) -> Result<Self> {
        let progress = !args.quiet;
        let assets = args
            .assets
            .clone()
            .unwrap_or_else(corpus::default_assets_dir);
        let corpus = Corpus::open(&assets)?;
        let cache = args.cache.clone().unwrap_or_else(default_cache);
        let base = base::prepare(
            &args.model,
            &corpus,
            &cache,
            &pretrain_config(args, progress),
            out,
        )?;
        std::fs::create_dir_all(&args.out)
            .with_context(|| format!("creating {}", args.out.display()))?;
        let work = cache.join("demo-run");
        let _ = std::fs::remove_dir_all(&work);

        let mut people = participant::roster(
            args.participants,
            &corpus,
            &base.tokenizer,
            args.max_chars,
            args.rounds as usize,
            args.seed,
            args.sybil,
        )?;

        let mut seeds: Vec<String> = people
            .iter()
            .map(|p| format!("fairshare-demo/participant-{}", p.name))
            .collect();
        seeds.extend((0..args.evaluators).map(|k| format!("fairshare-demo/evaluator-{k}")));
        seeds.push("fairshare-demo/relayer".into());
        let honest: Vec<bool> = people.iter().map(|p| p.role.is_honest()).collect();
        let (n_people, n_eval, choice) = (people.len(), args.evaluators, args.chain);
        let (chain, handle, mut keys) = net::connect_and_deploy_shared(
            choice,
            config.map(Path::to_path_buf),
            seeds,
            FUNDS,
            move |keys, denom| deploy_options(keys, denom, &honest, n_people, n_eval, choice),
        )?;
        let relayer_key = keys.pop().context("the relayer key was derived")?;
        let d = chain.d.clone();
        let evaluator_keys = keys.split_off(n_people);
        for (p, k) in people.iter_mut().zip(keys) {
            p.key = Some(k);
        }
        if let Some(x) = &args.exclude {
            if !people.iter().any(|p| &p.name == x) {
                anyhow::bail!(
                    "--exclude {x}: no such participant (they are {})",
                    people
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        let liar = args.lying_evaluator.map(|how| (n_eval - 1, how));
        print_cast(out, choice, &chain, &people, &evaluator_keys, liar)?;

        let relayer = roles::relayer::start(&handle, &d, &relayer_key, &work.join("relayer"))?;
        let url = relayer.url();
        let mut operator =
            Operator::new(chain.operator_key.clone(), &url, &base.model, &base.hash)?;
        operator.merge_rule = (args.merge, people.len());
        let participants = participant::start(
            &people,
            &participant::Setup {
                d: &d,
                stake_kind: &chain.stake,
                stake: STAKE,
                base: &base.model,
                base_hash: &base.hash,
                work: &work.join("participants"),
                relayer_url: &url,
                epochs: args.epochs,
                lr: args.lr,
                progress,
            },
        )?;
        let evaluators = evaluator::start(
            &evaluator_keys,
            &evaluator::Setup {
                d: &d,
                stake_kind: &chain.stake,
                base: &base.model,
                base_hash: &base.hash,
                seq_len: SEQ_LEN,
                work: &work.join("evaluators"),
                relayer_url: &url,
                liar,
                favoured: people
                    .iter()
                    .filter(|p| p.role == participant::Role::FreeRider)
                    .map(|p| p.address().to_string())
                    .collect(),
                independent: args.independent_evaluators,
                sybil: args.sybil.is_some(),
                duplicate_threshold: args.duplicate_threshold,
                progress,
            },
        )?;
        let by_address = people
            .iter()
            .enumerate()
            .map(|(i, p)| (p.address().to_string(), i))
            .collect();
        Ok(Self {
            args,
            base,
            corpus,
            parties: n_people - usize::from(args.sybil.is_some()),
            valid_text: String::new(),
            valid_all: Vec::new(),
            validation_hash: [0; 32],
            work,
            chain,
            d,
            people,
            by_address,
            participants,
            evaluators,
            relayer,
            operator,
            calibration: Vec::new(),
            timing: output::Timing::default(),
        })
    }

    /// One round, party by party: the operator opens it; participants join and evaluators
    /// bond; participants train and hand their commitments to the relayer, which posts them;
    /// evaluators value and commit, then reveal; the challenger checks and disputes; the round
    /// settles and everyone claims; anyone re-executes a consistent liar's table; the operator
    /// merges the contributors' updates into the next global adapter.
    fn play_round(&mut self, r: usize, out: &mut dyn std::io::Write) -> Result<RoundRecord> {
        self.hold_out(r)?;
        let loss_before = self.loss()?;
        writeln!(
            out,
            "\nround {r}/{}: validation loss of the global model {loss_before:.4} on {} held-out tokens (sha256 {}…)",
            self.args.rounds,
            self.valid_all.len(),
            &hex::encode(self.validation_hash)[..12]
        )?;
        let (id, params, joined) = self.open(r, out)?;
        let deadlines = round::status(self.chain.v(), &self.d, id)?.deadlines;
        self.chain.wait_past(deadlines.join_until)?;
        let mut entries: Vec<EntryRecord> = self.people.iter().map(EntryRecord::new).collect();
        self.train(id, &joined, &mut entries, out)?;
        self.chain.wait_past(deadlines.commit_until)?;
        let published = self.args.out.join(format!("round-{r}"));
        let works = self.value(id, &published, out)?;
        let first = works.first().context("the demo has evaluators")?;
        let committed = self.in_table_order(&first.participants)?;
        let duplicates = records::note_valuations(
            out,
            &self.people,
            &committed,
            &works,
            &mut entries,
            self.args.duplicate_threshold,
        )?;
        if r == 1 {
            let v = &first.valuation;
            let points = records::calibration(&self.people, &committed, v, r, self.args.epochs);
            self.calibration.extend(points);
        }
        self.chain.wait_past(deadlines.report_until - 1)?;
        let checks = self.reveal_and_check(id, &params, &works, &published, out)?;
        self.chain.wait_past(deadlines.dispute_until - 1)?;
        let settled = self.settle_and_claim(id, &joined, &mut entries)?;
        let addresses: Vec<String> = self
            .evaluators
            .iter()
            .map(|e| e.key.address().to_string())
            .collect();
        let addresses: Vec<&str> = addresses.iter().map(String::as_str).collect();
        let bonds: Vec<Uint128> = settled.evaluators.iter().map(|e| e.bond).collect();
        let proposals =
            governance::reexecute_liars(&self.d, id, &addresses, &bonds, &works, &published, out)?;
        let merged = self.merge(r, id, first, &committed, &settled.contributors)?;
        // The validation text is revealed once the round is over: anyone can re-execute.
        write_text(
            &self.work.join(format!("validation/round-{r}.txt")),
            &self.valid_text,
        )?;
        let loss_after = self.loss()?;
        let sybil = match (&settled.status.settlement, self.args.sybil) {
            (Some(sm), Some(_)) => Some(records::sybil_record(
                &self.people,
                &entries,
                &committed,
                Some(&first.valuation),
                first.ungrouped.as_ref(),
                &duplicates,
                &params.rewards,
                params.evaluation.budget(params.rewards.budget),
                sm.t_critical,
            )?),
            _ => None,
        };
        let record = records::round_record(records::RoundFacts {
            round: r,
            params: &params,
            settled: &settled,
            loss: (loss_before, loss_after),
            addresses: &addresses,
            works: &works,
            checks: &checks,
            entries,
            proposals,
            duplicates,
            sybil,
        });
        records::print_round(out, &record, &self.people, &settled.status, merged)?;
        Ok(record)
    }

    /// The operator opens round `r`; participants join it and evaluators bond.
    fn open(
        &mut self,
        r: usize,
        out: &mut dyn std::io::Write,
    ) -> Result<(u64, rm::RoundParams, Vec<usize>)> {
        let id = self
            .operator
            .open_round(self.chain.c(), &self.d, self.validation_hash)?;
        let params = round::status(self.chain.v(), &self.d, id)?.params;
        let joined = participant::join(
            self.chain.c(),
            &mut self.participants,
            r,
            id,
            self.args.exclude.as_deref(),
        )?;
        let bond = EVALUATOR_BOND.max(params.evaluation.min_bond.u128());
        evaluator::bond(self.chain.c(), &mut self.evaluators, id, bond)?;
        writeln!(
            out,
            "  round {id} opened; {} joined with {STAKE} ufair each; {} evaluators bonded {bond} ufair each",
            joined.len(),
            self.evaluators.len()
        )?;
        Ok((id, params, joined))
    }

    /// Participants train and hand their commitments to the relayer; the relayer posts them.
    fn train(
        &mut self,
        id: u64,
        joined: &[usize],
        entries: &mut [EntryRecord],
        out: &mut dyn std::io::Write,
    ) -> Result<()> {
        let t = Instant::now();
        let status = round::status(self.chain.v(), &self.d, id)?;
        participant::train_and_commit(
            self.chain.c(),
            &mut self.participants,
            joined,
            &status,
            entries,
            out,
        )?;
        self.timing.training_s += t.elapsed().as_secs_f64();
        self.relayer.post(out)?;
        Ok(())
    }

    /// Evaluators value the committed updates, publish their tables in `published` and commit.
    fn value(
        &mut self,
        id: u64,
        published: &Path,
        out: &mut dyn std::io::Write,
    ) -> Result<Vec<evaluator::EvaluatorWork>> {
        let t = Instant::now();
        std::fs::create_dir_all(published)
            .with_context(|| format!("creating {}", published.display()))?;
        let works =
            evaluator::value_and_commit(self.chain.c(), &mut self.evaluators, id, published, out)?;
        self.timing.valuation_s += t.elapsed().as_secs_f64();
        Ok(works)
    }

    /// The people behind `addresses` (the evaluators' table order).
    fn in_table_order(&self, addresses: &[String]) -> Result<Vec<usize>> {
        addresses
            .iter()
            .map(|a| {
                self.by_address
                    .get(a)
                    .copied()
                    .with_context(|| format!("{a} is no participant of the demo"))
            })
            .collect()
    }

    /// Evaluators reveal their reports; the challenger checks each against its table and
    /// disputes those that do not follow. Returns whether each report follows.
    fn reveal_and_check(
        &mut self,
        id: u64,
        params: &rm::RoundParams,
        works: &[evaluator::EvaluatorWork],
        published: &Path,
        out: &mut dyn std::io::Write,
    ) -> Result<Vec<bool>> {
        evaluator::reveal(self.chain.c(), &mut self.evaluators, id, published)?;
        writeln!(
            out,
            "  {} reports revealed after the commit deadline, each evaluator's table published to the relayer",
            works.len()
        )?;
        let stake = self.chain.stake.clone();
        // The challenger reads each table where the evaluator published it, as on any host.
        let store = crate::store::http::HttpStore::new(&self.relayer.url())?;
        challenger::check_and_dispute(
            self.chain.c(),
            &store,
            &self.d,
            &stake,
            &self.relayer.key,
            id,
            params,
            &self.evaluators,
            out,
        )
    }

    /// The round settles (anyone may settle: the relayer's key here); participants, evaluators
    /// (once their bonds are claimable) and the challenger claim.
    fn settle_and_claim(
        &mut self,
        id: u64,
        joined: &[usize],
        entries: &mut [EntryRecord],
    ) -> Result<records::Settled> {
        roles::operator::settle(self.chain.c(), &self.d, &self.relayer.key, id)?;
        let status = round::status(self.chain.v(), &self.d, id)?;
        let results = self.chain.results(id)?;
        participant::claim(self.chain.c(), &self.participants, joined, id)?;
        let disputes = round::disputes(self.chain.v(), &self.d, id)?;
        let mut evaluators = Vec::new();
        for e in &self.evaluators {
            evaluators.push(round::evaluator_result(
                self.chain.v(),
                &self.d,
                id,
                e.key.address(),
            )?);
        }
        let claimable = evaluators
            .iter()
            .map(|e| e.claimable_from)
            .max()
            .unwrap_or(0);
        self.chain.wait_past(claimable.saturating_sub(1))?;
        evaluator::claim(self.chain.c(), &self.evaluators, id)?;
        let challenger = challenger::claim(self.chain.c(), &self.d, &self.relayer.key, id)?;
        let contributors = records::apply_results(&self.people, entries, &results);
        Ok(records::Settled {
            id,
            status,
            disputes,
            evaluators,
            challenger,
            contributors,
        })
    }

    /// The operator fetches the round's bundles from the store (as anyone can) and merges the
    /// contributors' into the next global adapter. Returns how many it merged.
    fn merge(
        &mut self,
        r: usize,
        id: u64,
        valued: &evaluator::EvaluatorWork,
        committed: &[usize],
        contributors: &[usize],
    ) -> Result<usize> {
        let names: HashMap<String, String> = self
            .people
            .iter()
            .map(|p| (p.address().to_string(), p.name.clone()))
            .collect();
        let bundles = self.operator.fetch_bundles(
            id,
            &names,
            &self.work.join(format!("bundles/round-{r}")),
        )?;
        let updates = valued
            .participants
            .iter()
            .map(|a| {
                bundles
                    .get(a)
                    .with_context(|| format!("{a}'s bundle is in the store"))
            })
            .collect::<Result<Vec<&Bundle>>>()?;
        let paid: Vec<bool> = committed.iter().map(|i| contributors.contains(i)).collect();
        self.operator.merge(
            id,
            &updates,
            &paid,
            &valued.groups,
            &self.work.join(format!("global/round-{r}")),
        )
    }

    /// Round `r`'s held-out text: the second halves of the plays trained on in this round
    /// (participants only ever hold first halves) and of one play nobody holds. Every evaluator
    /// measures on it, so honest evaluators agree, and anyone can re-execute their tables once
    /// it is revealed after settlement.
    fn hold_out(&mut self, r: usize) -> Result<()> {
        let rounds = self.args.rounds as usize;
        let plays = corpus::round_plays(self.parties, r, rounds);
        self.valid_text = self
            .corpus
            .validation_texts(&plays, self.args.valid_chars, 1)?
            .concat();
        self.valid_all = self.base.tokenizer.encode(&self.valid_text)?;
        self.validation_hash =
            fairshare_protocol::commitment::update_hash(self.valid_text.as_bytes());
        evaluator::set_validation(&mut self.evaluators, &self.valid_all, self.validation_hash);
        Ok(())
    }

    /// The global model's validation loss.
    fn loss(&self) -> Result<f64> {
        Ok(evaluate_loss(&self.operator.global, None, &self.valid_all, SEQ_LEN, 16)?.mean_loss)
    }

    /// Balances, the final table and the record; stops the relayer.
    fn finish(
        self,
        rounds: Vec<RoundRecord>,
        dao: Option<output::DaoRecord>,
        t0: Instant,
    ) -> Result<RunRecord> {
        let mut finals = Vec::new();
        for p in &self.people {
            finals.push((
                self.chain.stake_balance(p.address())?,
                self.chain.token_balance(p.address())?,
            ));
        }
        let mut evaluator_finals = Vec::new();
        for e in &self.evaluators {
            evaluator_finals.push((
                self.chain.stake_balance(e.key.address())?,
                self.chain.token_balance(e.key.address())?,
            ));
        }
        let treasury = self.d.treasury.to_string();
        let treasury = (
            self.chain.stake_balance(&treasury)?,
            self.chain.token_balance(&treasury)?,
        );
        let mut timing = self.timing;
        timing.total_s = t0.elapsed().as_secs_f64();
        let record = output::finish(
            self.args,
            output::Inputs {
                base: self.base.record(),
                people: &self.people,
                rounds,
                dao,
                finals: &finals,
                evaluator_finals: &evaluator_finals,
                treasury,
                calibration: self.calibration,
                funds: FUNDS,
                timing,
            },
        );
        if let Some(dir) = &self.args.save_global {
            roles::operator::save_model(dir, &self.operator.global, &self.base.tokenizer)?;
        }
        self.relayer.stop();
        Ok(record)
    }
}

/// The deployment: the round parameters (quorum, schedule for the backend, ΔU target), the
/// DAO's rules, and founding governance tokens for the honest participants.
fn deploy_options(
    keys: &[crate::keys::ParticipantKey],
    denom: &str,
    honest: &[bool],
    n_people: usize,
    n_eval: usize,
    choice: net::ChainChoice,
) -> ops::DeployOptions {
    let evaluators = keys[n_people..n_people + n_eval]
        .iter()
        .map(|k| k.address().to_string())
        .collect();
    let mut params = ops::default_params(evaluators, QUORUM);
    params.schedule = net::schedule(choice);
    params.rewards.delta_u_target = Decimal::percent(10);
    let dao = ops::default_dao_rules();
    // The DAO must be able to penalise an evaluator on re-execution evidence before its bond
    // can be claimed.
    params.evaluation.appeal_blocks = ops::appeal_blocks_for(&dao);
    ops::DeployOptions {
        params,
        min_stake: Uint128::new(100),
        token_cap: Some(Uint128::new(1_000_000_000_000)),
        stake: StakeKind::Native(denom.to_string()),
        // Founding members hold some governance tokens from genesis, so the DAO can act before
        // anyone has earned rewards.
        initial_tokens: keys[..n_people]
            .iter()
            .zip(honest)
            .filter(|(_, &h)| h)
            .map(|(k, _)| (k.address().to_string(), Uint128::new(FOUNDING_TOKENS)))
            .collect(),
        dao: Some(dao),
    }
}

/// Who plays: the contracts, every participant and evaluator, and the validation text.
fn print_cast(
    out: &mut dyn std::io::Write,
    choice: net::ChainChoice,
    chain: &net::DemoChain,
    people: &[Participant],
    evaluator_keys: &[crate::keys::ParticipantKey],
    liar: Option<(usize, evaluator::Lie)>,
) -> Result<()> {
    writeln!(
        out,
        "chain ({choice:?}): round-manager {}, escrow {}, token {}, DAO {}",
        chain.d.round_manager,
        chain.d.escrow,
        chain.d.token,
        chain.d.dao.as_ref().map_or("-".into(), |a| a.to_string())
    )?;
    for p in people {
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
    Ok(())
}

/// A decimal's value as a float (for the record and the plots).
fn decimal_f64(d: impl std::fmt::Display) -> f64 {
    d.to_string().parse().unwrap_or(f64::NAN)
}

pub(crate) fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, serde_json::to_vec_pretty(value)?)
        .with_context(|| format!("writing {}", path.display()))
}

fn write_text(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} is malformed", path.display()))
}
