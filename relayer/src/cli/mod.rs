//! The `fairshare` command: chain-side operations on a wasmd node, written against
//! [`crate::ops`], plus the embedded-chain demo.

pub mod config;
pub mod evaluation;
pub mod services;
pub mod spool;

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use cosmwasm_std::CosmosMsg;
use fairshare_protocol::dao;
use fairshare_protocol::round_manager as rm;
use serde_json::{json, Value};

use crate::bundle::{self, Expectation};
use crate::chain::{Chain, ChainExt};
use crate::ops::{self, governance, round, Deployment, Roles, StakeKind};
use crate::wasmd::{Account, WasmdChain};
use config::Config;

#[derive(Parser, Debug)]
#[command(
    name = "fairshare",
    version,
    about = "Fairshare: federated LoRA fine-tuning settled on a Cosmos chain"
)]
pub struct Cli {
    /// TOML configuration (node, chain id, gas price, accounts, deployment file).
    #[arg(long, global = true, env = "FAIRSHARE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// A whole federated run on the embedded chain: real LoRA training of a Llama model on
    /// Shakespeare plays, Shapley valuation by bonded evaluators (published utility tables,
    /// commit–reveal, disputes), settlement, claims and a DAO vote; ends with tables and writes
    /// run.json, calibration.json, the tables and reports, and plots.
    Demo(crate::demo::DemoArgs),
    /// The economics at scale: strategic agents under each allocation scheme, compared on
    /// fairness, participation stability and burden concentration; writes the report.
    Simulate(fairshare_economics::cli::SimulateArgs),
    /// Store, instantiate and wire the four contracts; writes the deployment file. Idempotent.
    Deploy(DeployArgs),
    /// Open a round or show its state.
    #[command(subcommand)]
    Round(RoundCmd),
    /// Bond a stake and join a round.
    Join {
        #[command(flatten)]
        who: Who,
        #[arg(long)]
        round: u64,
        /// Stake in the chain's native stake denom.
        #[arg(long)]
        stake: u128,
    },
    /// Check an update bundle against its round, sign its commitment and queue it for relaying.
    Submit {
        /// The bundle directory (adapter_model.safetensors, adapter_config.json, manifest.json).
        bundle: PathBuf,
        #[command(flatten)]
        who: Who,
    },
    /// Post the queued commitments of a round in batches; skips what the chain already has.
    Relay {
        #[command(flatten)]
        who: Who,
        #[arg(long)]
        round: u64,
        #[arg(long, default_value_t = 50)]
        batch: usize,
    },
    /// Evaluators: bond for a round, commit to a report (a digest only), reveal it after the
    /// commit deadline.
    #[command(subcommand)]
    Evaluator(evaluation::EvaluatorCmd),
    /// Recompute every φ and ΔU from a published utility table and say whether a report's
    /// follow from it (exit code 1 if not). The report comes from a file, or from the chain
    /// with --round and --evaluator.
    VerifyReport(evaluation::VerifyArgs),
    /// Dispute an evaluator's revealed report: post the utility table it committed to, with
    /// the round's dispute deposit, through the escrow; the contract recomputes φ and strikes
    /// the report out (slashing its evaluator, paying you a bounty) if they do not follow.
    /// `dispute propose` prepares a DAO slashing proposal from a re-execution instead.
    Dispute(evaluation::DisputeArgs),
    /// Settle a round whose reports reached quorum (or fail one that cannot).
    Settle {
        #[command(flatten)]
        who: Who,
        #[arg(long)]
        round: u64,
    },
    /// Take back one's stake and reward of an ended round.
    Claim {
        #[command(flatten)]
        who: Who,
        #[arg(long)]
        round: u64,
    },
    /// Governance: stake, propose, vote, execute, status.
    #[command(subcommand)]
    Dao(DaoCmd),
    /// The deployment and the latest rounds.
    Status,
    /// The relayer as a long-running service for parties on other hosts.
    #[command(subcommand)]
    Relayer(services::RelayerCmd),
    /// A service's signing key in an encrypted keystore.
    #[command(subcommand)]
    Keys(services::KeysCmd),
    /// A participant as a long-running service (its key, data, model and stake policy).
    #[command(subcommand)]
    Participant(services::ParticipantCmd),
    /// A challenger as a long-running service: checks every revealed report against its
    /// published table and disputes the ones that do not follow.
    #[command(subcommand)]
    Challenger(services::ChallengerCmd),
    /// Serve the web dashboard: rounds, scores, rewards against Shapley values, DAO proposals,
    /// treasury and supply, read from the chain; voting and staking through a browser wallet.
    Dashboard(crate::dashboard::DashboardArgs),
}

/// Which key signs.
#[derive(Args, Debug, Clone)]
pub struct Who {
    /// Account name in the accounts file, or `env` for the 24-word mnemonic in
    /// FAIRSHARE_MNEMONIC.
    #[arg(long = "as", default_value = "relayer")]
    pub name: String,
}

#[derive(Args, Debug)]
pub struct DeployArgs {
    #[command(flatten)]
    pub who: Who,
    /// Account names of the evaluators.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "evaluator1,evaluator2,evaluator3"
    )]
    pub evaluators: Vec<String>,
    /// Revealed reports a round needs: odd and at least 3 (the contracts refuse anything else).
    #[arg(long, default_value_t = 3)]
    pub quorum: u32,
    /// Account that opens rounds.
    #[arg(long, default_value = "deployer")]
    pub operator: String,
    /// Keep the deployer as owner instead of deploying the DAO.
    #[arg(long)]
    pub no_dao: bool,
    #[command(flatten)]
    pub schedule: ScheduleArgs,
}

/// Blocks of each window of a round (the localnet makes a block every ~0.5 s; the defaults
/// suit a round played by hand or by script there, not real training).
#[derive(Args, Debug, Clone, Copy)]
pub struct ScheduleArgs {
    /// Joining (and early commits) after a round opens.
    #[arg(long, default_value_t = 20)]
    pub join_blocks: u64,
    /// Commitments after joining closes.
    #[arg(long, default_value_t = 20)]
    pub train_blocks: u64,
    /// Evaluators value the updates and commit to their reports.
    #[arg(long, default_value_t = 40)]
    pub eval_blocks: u64,
    /// Evaluators reveal their reports.
    #[arg(long, default_value_t = 30)]
    pub reveal_blocks: u64,
    /// Anyone may dispute a revealed report.
    #[arg(long, default_value_t = 20)]
    pub dispute_blocks: u64,
    /// Settlement must be complete by then, or the round fails.
    #[arg(long, default_value_t = 60)]
    pub settle_blocks: u64,
}

impl From<ScheduleArgs> for rm::Schedule {
    fn from(a: ScheduleArgs) -> Self {
        rm::Schedule {
            join_blocks: a.join_blocks,
            train_blocks: a.train_blocks,
            eval_blocks: a.eval_blocks,
            reveal_blocks: a.reveal_blocks,
            dispute_blocks: a.dispute_blocks,
            settle_blocks: a.settle_blocks,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum RoundCmd {
    /// Open a round with the current parameters.
    Open {
        #[command(flatten)]
        who: Who,
        /// Label from which the spec's hashes not given below are derived (for tests).
        #[arg(long, default_value = "round")]
        label: String,
        /// The base model's hash (hex sha256 of its weights, as `fairshare-trainer` reports it).
        #[arg(long)]
        base_model_hash: Option<String>,
        /// The update hash of the global adapter participants build on (default: none, all
        /// zeros, as in a run's first round).
        #[arg(long)]
        global_adapter_hash: Option<String>,
        /// The sha256 of the held-out validation text evaluators measure on.
        #[arg(long)]
        validation_set_hash: Option<String>,
    },
    /// A round's phase, deadlines, counts and settlement.
    Status { round: u64 },
    /// After round N settles, merge its contributors' updates (fetched from the store by their
    /// committed hashes, re-checked) into the next global adapter, as the operator; prints its
    /// update hash for the next `round open --global-adapter-hash`.
    Aggregate(services::AggregateArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum VoteArg {
    Yes,
    No,
    Abstain,
}

#[derive(Subcommand, Debug)]
pub enum DaoCmd {
    /// Stake incentive tokens for voting power.
    Stake {
        #[command(flatten)]
        who: Who,
        #[arg(long)]
        amount: u128,
    },
    /// Open a proposal; MSGS is a JSON file with a list of CosmosMsg.
    Propose {
        #[command(flatten)]
        who: Who,
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long)]
        msgs: PathBuf,
    },
    /// Vote on a proposal.
    Vote {
        #[command(flatten)]
        who: Who,
        #[arg(long)]
        id: u64,
        #[arg(long, value_enum)]
        vote: VoteArg,
    },
    /// Execute a passed proposal.
    Execute {
        #[command(flatten)]
        who: Who,
        #[arg(long)]
        id: u64,
    },
    /// A proposal's state and tally.
    Status { id: u64 },
}

/// What a command prints: a line for people and a JSON value for programs, and, for a check
/// that failed, why (printed after the output; the command then exits with code 1).
struct Output {
    text: String,
    json: Value,
    failure: Option<String>,
}

fn out(text: impl Into<String>, json: Value) -> Result<Output> {
    Ok(Output {
        text: text.into(),
        json,
        failure: None,
    })
}

fn print(o: Output, as_json: bool) -> Result<()> {
    if as_json {
        println!("{}", serde_json::to_string_pretty(&o.json)?);
    } else {
        println!("{}", o.text);
    }
    match o.failure {
        Some(why) => Err(anyhow!(why)),
        None => Ok(()),
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    if let Command::Simulate(args) = &cli.command {
        let mut args = args.clone();
        args.json = cli.json;
        let summary = fairshare_economics::cli::run(&args)?;
        if cli.json {
            println!("{}", serde_json::to_string_pretty(&summary)?);
        }
        return Ok(());
    }
    if let Command::Demo(args) = &cli.command {
        if !args.spread.is_empty() {
            let spread =
                crate::demo::spread::run(args, cli.config.as_deref(), &mut std::io::stdout())?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&spread)?);
            }
            return Ok(());
        }
        if args.counterfactual {
            let (_, cf) = crate::demo::counterfactual::run(
                args,
                cli.config.as_deref(),
                &mut std::io::stdout(),
            )?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&cf)?);
            }
            return Ok(());
        }
        let record = crate::demo::run(args, cli.config.as_deref(), &mut std::io::stdout())?;
        if cli.json {
            println!("{}", serde_json::to_string_pretty(&record)?);
        }
        return Ok(());
    }
    let cli = match cli.command {
        Command::Relayer(cmd) => return services::relayer(cmd, cli.config.as_deref()),
        Command::Participant(cmd) => return services::participant(cmd, cli.config.as_deref()),
        Command::Challenger(cmd) => return services::challenger(cmd, cli.config.as_deref()),
        Command::Evaluator(evaluation::EvaluatorCmd::Run(a)) => {
            return services::evaluator(a, cli.config.as_deref())
        }
        Command::Keys(cmd) => {
            let (text, json) = services::keys(cmd)?;
            return print(out(text, json)?, cli.json);
        }
        command => Cli { command, ..cli },
    };
    if let Command::VerifyReport(a) = &cli.command {
        if a.report.is_some() {
            return print(evaluation::verify_offline(a)?, cli.json);
        }
    }
    let cfg = Config::load(cli.config.as_deref())?;
    if let Command::Dashboard(a) = &cli.command {
        // Starts even when the node is down: the page says so until it is back.
        return crate::dashboard::run(&cfg, a);
    }
    let o = dispatch(&cfg, cli.command)?;
    print(o, cli.json)
}

struct Session {
    cfg: Config,
    chain: WasmdChain,
}

impl Session {
    fn connect(cfg: &Config) -> Result<Self> {
        let chain = WasmdChain::connect(cfg.wasmd()?)
            .with_context(|| format!("connecting to {}", cfg.rpc))?;
        Ok(Self {
            cfg: cfg.clone(),
            chain,
        })
    }

    fn account(&mut self, who: &Who) -> Result<Account> {
        let a = self.cfg.account(&who.name)?;
        self.chain.add_account(&a);
        Ok(a)
    }

    fn deployment(&self) -> Result<Deployment> {
        let path = &self.cfg.deployment;
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "no deployment at {}: run `fairshare deploy` first",
                path.display()
            )
        })?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a deployment file", path.display()))
    }
}

fn dispatch(cfg: &Config, command: Command) -> Result<Output> {
    let mut s = Session::connect(cfg)?;
    match command {
        Command::Demo(_)
        | Command::Simulate(_)
        | Command::Relayer(_)
        | Command::Keys(_)
        | Command::Participant(_)
        | Command::Challenger(_)
        | Command::Dashboard(_) => {
            unreachable!("handled before connecting")
        }
        Command::Deploy(a) => deploy(&mut s, a),
        Command::Round(RoundCmd::Open {
            who,
            label,
            base_model_hash,
            global_adapter_hash,
            validation_set_hash,
        }) => {
            let d = s.deployment()?;
            let k = s.account(&who)?;
            let mut spec = ops::spec_for(&label);
            for (flag, given, field) in [
                (
                    "--base-model-hash",
                    base_model_hash,
                    &mut spec.base_model_hash,
                ),
                (
                    "--global-adapter-hash",
                    global_adapter_hash,
                    &mut spec.global_adapter_hash,
                ),
                (
                    "--validation-set-hash",
                    validation_set_hash,
                    &mut spec.validation_set_hash,
                ),
            ] {
                if let Some(h) = given {
                    let mut b = [0u8; 32];
                    hex::decode_to_slice(h.trim(), &mut b).with_context(|| {
                        format!("{flag} {h:?} is not a sha256 in hex (64 hex digits)")
                    })?;
                    *field = cosmwasm_std::HexBinary::from(b.to_vec());
                }
            }
            let id = round::open(&mut s.chain, &d, &k.key, spec)?;
            out(format!("opened round {id}"), json!({ "round_id": id }))
        }
        Command::Round(RoundCmd::Aggregate(a)) => {
            let d = s.deployment()?;
            let (text, json) = services::round_aggregate(&s.chain, &d, &a)?;
            out(text, json)
        }
        Command::Round(RoundCmd::Status { round: id }) => {
            let d = s.deployment()?;
            let r = round::status(&s.chain, &d, id)?;
            let dl = r.deadlines;
            let text = format!(
                "round {id}: {:?}, {} joined, {} committed, {} evaluators bonded, {} report commitments, {} reports revealed (quorum {}); \
                 join until {}, commit until {}, report commitments until {}, reveals until {}, disputes until {}, settle by {} (now {})",
                r.phase, r.joined, r.committed, r.evaluators_bonded, r.report_commitments, r.reports,
                r.params.evaluator_quorum, dl.join_until, dl.commit_until, dl.report_until, dl.reveal_until,
                dl.dispute_until, dl.settle_until, s.chain.height()?
            );
            out(text, serde_json::to_value(&r)?)
        }
        Command::Join {
            who,
            round: id,
            stake,
        } => {
            let d = s.deployment()?;
            let k = s.account(&who)?;
            let kind = StakeKind::Native(s.cfg.stake_denom.clone());
            let tx = round::join(&mut s.chain, &d, &kind, &k.key, id, stake)?;
            out(
                format!(
                    "{} joined round {id} with {stake}{}",
                    k.address(),
                    s.cfg.stake_denom
                ),
                tx_json(&tx),
            )
        }
        Command::Submit { bundle: dir, who } => submit(&mut s, &dir, &who),
        Command::Relay {
            who,
            round: id,
            batch,
        } => relay(&mut s, &who, id, batch),
        Command::Evaluator(cmd) => evaluation::evaluator(&mut s, cmd),
        Command::VerifyReport(a) => evaluation::verify_on_chain(&mut s, &a),
        Command::Dispute(a) => evaluation::dispute(&mut s, a),
        Command::Settle { who, round: id } => {
            let d = s.deployment()?;
            let k = s.account(&who)?;
            let pages = round::settle(&mut s.chain, &d, &k.key, id)?;
            let outcome = pages
                .last()
                .and_then(|tx| tx.attribute("outcome"))
                .unwrap_or("settled")
                .to_string();
            out(
                format!("round {id}: {outcome} in {} page(s)", pages.len()),
                json!({ "pages": pages.iter().map(tx_json).collect::<Vec<_>>() }),
            )
        }
        Command::Claim { who, round: id } => {
            let d = s.deployment()?;
            let k = s.account(&who)?;
            let tx = round::claim(&mut s.chain, &d, &k.key, id)?;
            let text = format!(
                "{} claimed round {id}: stake back {}, reward {}",
                k.address(),
                tx.attribute("stake_return").unwrap_or("0"),
                tx.attribute("reward").unwrap_or("0")
            );
            out(text, tx_json(&tx))
        }
        Command::Dao(cmd) => dao_cmd(&mut s, cmd),
        Command::Status => {
            let d = s.deployment()?;
            let cfgr: rm::ConfigResponse = s
                .chain
                .query(d.round_manager.as_str(), &rm::QueryMsg::Config {})?;
            let text = format!(
                "chain {} at height {}\nround-manager {}\nescrow {}\ntoken {}\ndao {}\nnext round id {}",
                d.chain_id,
                s.chain.height()?,
                d.round_manager,
                d.escrow,
                d.token,
                d.dao.as_ref().map(|a| a.to_string()).unwrap_or_else(|| "(none)".into()),
                cfgr.next_round_id
            );
            out(text, json!({ "deployment": d, "config": cfgr }))
        }
    }
}

fn tx_json(tx: &crate::chain::TxOutcome) -> Value {
    json!({ "tx_hash": tx.tx_hash, "height": tx.height, "gas_used": tx.gas_used })
}

fn deploy(s: &mut Session, a: DeployArgs) -> Result<Output> {
    if let Ok(d) = s.deployment() {
        let alive: Result<rm::ConfigResponse, _> = s
            .chain
            .query(d.round_manager.as_str(), &rm::QueryMsg::Config {});
        if alive.is_ok() && d.chain_id == s.chain.chain_id()? {
            return out(
                format!(
                    "already deployed on {} (round-manager {}); nothing to do",
                    d.chain_id, d.round_manager
                ),
                serde_json::to_value(&d)?,
            );
        }
    }
    let deployer = s.account(&a.who)?;
    let evaluators = a
        .evaluators
        .iter()
        .map(|n| s.cfg.account(n).map(|acc| acc.address().to_string()))
        .collect::<Result<Vec<_>>>()?;
    let operator = s.cfg.account(&a.operator)?.address().to_string();
    if !fairshare_protocol::evaluation::quorum_allowed(a.quorum) {
        bail!(
            "--quorum must be odd and at least 3 (a median of fewer reports lets one evaluator set the scores), got {}",
            a.quorum
        );
    }
    if (evaluators.len() as u32) < a.quorum {
        bail!(
            "{} evaluators cannot reach a quorum of {}",
            evaluators.len(),
            a.quorum
        );
    }
    let dao_rules = (!a.no_dao).then(ops::default_dao_rules);
    let mut params = ops::default_params(evaluators, a.quorum);
    params.schedule = a.schedule.into();
    if let Some(rules) = &dao_rules {
        // Long enough for the DAO to penalise an evaluator on re-execution evidence.
        params.evaluation.appeal_blocks = ops::appeal_blocks_for(rules);
    }
    let opts = ops::DeployOptions {
        params,
        min_stake: cosmwasm_std::Uint128::new(100),
        token_cap: Some(cosmwasm_std::Uint128::new(1_000_000_000_000)),
        stake: StakeKind::Native(s.cfg.stake_denom.clone()),
        initial_tokens: vec![(
            deployer.address().to_string(),
            cosmwasm_std::Uint128::new(1_000_000),
        )],
        dao: dao_rules,
    };
    let roles = Roles {
        operator,
        treasury: deployer.address().to_string(),
    };
    eprintln!("deploying to {} …", s.cfg.rpc);
    let d = ops::deploy(&mut s.chain, &deployer.key, &roles, &opts)?;
    if let Some(parent) = s.cfg.deployment.parent() {
        std::fs::create_dir_all(parent).ok();
    }
    let mut record = serde_json::to_value(&d)?;
    record["checksums"] = artifact_checksums(&s.cfg.artifacts)?;
    std::fs::write(&s.cfg.deployment, serde_json::to_vec_pretty(&record)?)
        .with_context(|| format!("writing {}", s.cfg.deployment.display()))?;
    out(
        format!(
            "deployed: round-manager {}, escrow {}, token {}; written to {}",
            d.round_manager,
            d.escrow,
            d.token,
            s.cfg.deployment.display()
        ),
        serde_json::to_value(&d)?,
    )
}

/// sha256 of every stored artifact, as recorded in the deployment file.
fn artifact_checksums(dir: &std::path::Path) -> Result<Value> {
    use crate::chain::ContractKind;
    use sha2::{Digest, Sha256};
    let mut out = serde_json::Map::new();
    for k in [
        ContractKind::RoundManager,
        ContractKind::Escrow,
        ContractKind::IncentiveToken,
        ContractKind::Dao,
    ] {
        let path = dir.join(k.artifact());
        if let Ok(bytes) = std::fs::read(&path) {
            out.insert(
                k.artifact().to_string(),
                Value::String(hex::encode(Sha256::digest(&bytes))),
            );
        }
    }
    Ok(Value::Object(out))
}

fn submit(s: &mut Session, dir: &std::path::Path, who: &Who) -> Result<Output> {
    let d = s.deployment()?;
    let k = s.account(who)?;
    let manifest: bundle::Manifest = serde_json::from_slice(
        &std::fs::read(dir.join(bundle::MANIFEST_FILE))
            .with_context(|| format!("reading the manifest of {}", dir.display()))?,
    )
    .context("the manifest is malformed")?;
    let r = round::status(&s.chain, &d, manifest.round)?;
    let spool = spool::Spool::new(&s.cfg.spool, manifest.round);
    let expect = Expectation::for_round(&r, spool.shapes()?);
    let verified = bundle::verify(dir, &expect)?;
    if verified.manifest.participant != k.address() {
        bail!(
            "the bundle names participant {}, but you sign as {}",
            verified.manifest.participant,
            k.address()
        );
    }
    let p: rm::ParticipantResponse = s
        .chain
        .query(
            d.round_manager.as_str(),
            &rm::QueryMsg::Participant {
                round_id: r.id,
                participant: k.address().to_string(),
            },
        )
        .map_err(|e| anyhow!("{} has not joined round {}: {e}", k.address(), r.id))?;
    let chain_id = s.chain.chain_id()?;
    let c = k.key.sign_commitment(
        &chain_id,
        d.round_manager.as_str(),
        r.id,
        &verified.update_hash,
    )?;
    bundle::verify_commitment(
        &verified,
        &c,
        p.pubkey.as_slice(),
        &chain_id,
        d.round_manager.as_str(),
    )?;
    let stored = spool.put(&verified, &c)?;
    out(
        format!(
            "bundle {} checked (‖ΔW‖ = {:.4}) and queued at {}",
            hex::encode(verified.update_hash),
            verified.norm,
            stored.display()
        ),
        json!({ "update_hash": hex::encode(verified.update_hash), "norm": verified.norm, "queued": stored }),
    )
}

fn relay(s: &mut Session, who: &Who, id: u64, batch: usize) -> Result<Output> {
    let d = s.deployment()?;
    let k = s.account(who)?;
    let queued = spool::Spool::new(&s.cfg.spool, id).pending()?;
    let mut todo = vec![];
    for c in queued {
        let p: Result<rm::ParticipantResponse, _> = s.chain.query(
            d.round_manager.as_str(),
            &rm::QueryMsg::Participant {
                round_id: id,
                participant: c.participant.clone(),
            },
        );
        match p {
            Ok(p) if p.commitment.is_some() => {}
            _ => todo.push(c),
        }
    }
    if todo.is_empty() {
        return out(
            format!("round {id}: nothing to relay"),
            json!({ "posted": 0 }),
        );
    }
    let total = todo.len();
    let mut posted = 0;
    let mut txs = vec![];
    for chunk in todo.chunks(batch.max(1)) {
        let tx = round::commit(&mut s.chain, &d, &k.key, id, chunk.to_vec(), chunk.len())?;
        posted += chunk.len();
        eprintln!("[{posted}/{total}] posted a batch of {}", chunk.len());
        txs.extend(tx.iter().map(tx_json));
    }
    out(
        format!("round {id}: posted {posted} commitments"),
        json!({ "posted": posted, "txs": txs }),
    )
}

fn dao_cmd(s: &mut Session, cmd: DaoCmd) -> Result<Output> {
    let d = s.deployment()?;
    match cmd {
        DaoCmd::Stake { who, amount } => {
            let k = s.account(&who)?;
            let tx = governance::stake(&mut s.chain, &d, &k.key, amount)?;
            out(format!("{} staked {amount}", k.address()), tx_json(&tx))
        }
        DaoCmd::Propose {
            who,
            title,
            description,
            msgs,
        } => {
            let k = s.account(&who)?;
            let text = std::fs::read_to_string(&msgs)
                .with_context(|| format!("reading {}", msgs.display()))?;
            let msgs: Vec<CosmosMsg> = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a JSON list of CosmosMsg", msgs.display()))?;
            let dao_addr = d
                .dao
                .as_ref()
                .ok_or_else(|| anyhow!("this deployment has no DAO"))?;
            let c: dao::Config = s
                .chain
                .query(dao_addr.as_str(), &dao::QueryMsg::Config {})?;
            let id = governance::propose(
                &mut s.chain,
                &d,
                &k.key,
                c.deposit.u128(),
                &title,
                &description,
                msgs,
            )?;
            out(
                format!("proposal {id} opened"),
                json!({ "proposal_id": id }),
            )
        }
        DaoCmd::Vote { who, id, vote } => {
            let k = s.account(&who)?;
            let v = match vote {
                VoteArg::Yes => dao::Vote::Yes,
                VoteArg::No => dao::Vote::No,
                VoteArg::Abstain => dao::Vote::Abstain,
            };
            let tx = governance::vote(&mut s.chain, &d, &k.key, id, v)?;
            out(
                format!("{} voted {vote:?} on proposal {id}", k.address()),
                tx_json(&tx),
            )
        }
        DaoCmd::Execute { who, id } => {
            let k = s.account(&who)?;
            let tx = governance::execute(&mut s.chain, &d, &k.key, id)?;
            out(format!("proposal {id} executed"), tx_json(&tx))
        }
        DaoCmd::Status { id } => {
            let dao_addr = d
                .dao
                .as_ref()
                .ok_or_else(|| anyhow!("this deployment has no DAO"))?;
            let p: Value = s.chain.query(
                dao_addr.as_str(),
                &dao::QueryMsg::Proposal { proposal_id: id },
            )?;
            out(serde_json::to_string_pretty(&p)?, p)
        }
    }
}
