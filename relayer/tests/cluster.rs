//! The cluster (`make cluster`, `make cluster-test`): four wasmd validators, a kubo node, the
//! relayer, three participants and three evaluators, each a separate process in its own network
//! namespace (`localnet/cluster/`). Every test here is `#[ignore]`d: they need root (network
//! namespaces), the cached wasmd and kubo builds, and minutes.
//!
//! - `cluster_assets` writes what the parties need on disk (a tiny base model, each
//!   participant's private text, the validation text, the round spec's hashes);
//! - `cluster_two_rounds_with_faults` brings the cluster up, plays two rounds through the
//!   services alone while injecting faults, asserts the outcome, records figures and tears
//!   everything down (also when it fails).
//!
//! The driver plays only the round operator (opening rounds, as the DAO's operator account
//! would, and merging round 1's contributors into the global adapter round 2 builds on, with the
//! demo operator's code) and anyone's `settle` and `claim` (the `fairshare` command); joining,
//! training, publishing, relaying, valuing, reporting and revealing are the services' work.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use candle_core::{DType, Device};
use cosmwasm_std::HexBinary;
use fairshare_protocol::round_manager::{self as rm, Phase};
use fairshare_relayer::chain::{Chain, ChainExt};
use fairshare_relayer::ops::{round, Deployment};
use fairshare_relayer::store::{http::HttpStore, kubo::KuboStore, BundleStore, Cid};
use fairshare_relayer::wasmd::{LocalnetAccounts, WasmdChain, WasmdConfig};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn cache_dir() -> PathBuf {
    std::env::var_os("FAIRSHARE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/fairshare")
        })
}

fn cluster_dir() -> PathBuf {
    std::env::var_os("FAIRSHARE_CLUSTER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("cluster"))
}

/// Plain sentences from a small grammar, different per seed: enough structure for a tiny
/// model to learn something in a few steps.
fn text(seed: u64, sentences: usize) -> String {
    let subjects = [
        "the king",
        "the queen",
        "a soldier",
        "my lord",
        "the fool",
        "her father",
        "the nurse",
    ];
    let verbs = [
        "speaks to",
        "loves",
        "fears",
        "follows",
        "betrays",
        "calls",
        "forgives",
    ];
    let objects = [
        "the prince",
        "his brother",
        "the castle",
        "a stranger",
        "the crown",
        "our friend",
        "the sea",
    ];
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = |n: usize| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((x >> 33) as usize) % n
    };
    let mut s = String::new();
    for _ in 0..sentences {
        s.push_str(&format!(
            "{} {} {}.\n",
            subjects[next(subjects.len())],
            verbs[next(verbs.len())],
            objects[next(objects.len())]
        ));
    }
    s
}

/// What `cluster_assets` wrote: paths and the spec's hashes.
#[derive(Debug, Clone)]
struct Assets {
    base_model_hash: String,
    validation_set_hash: String,
}

/// Writes the tiny base model, the participants' texts and the validation text into
/// `<dir>` and `spec.json` with the round spec's hashes; returns the hashes.
fn write_assets(dir: &Path) -> Assets {
    let model = dir.join("model");
    if !model.join("config.json").exists() {
        let tmp = dir.join("model.partial");
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).expect("makes the model folder");
        let cfg = fairshare_trainer::testing::tiny_config(false);
        fairshare_trainer::testing::write_tiny_model(&tmp, &cfg, 11).expect("writes the model");
        std::fs::rename(&tmp, &model).expect("moves the model into place");
    }
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("makes the data folder");
    for (i, p) in ["p1", "p2", "p3"].iter().enumerate() {
        std::fs::write(data.join(format!("{p}.txt")), text(100 + i as u64, 300))
            .expect("writes a private text");
    }
    let validation = dir.join("validation.txt");
    std::fs::write(&validation, text(7, 120)).expect("writes the validation text");
    let loaded = fairshare_trainer::model::load_model(&model, DType::F32, &Device::Cpu)
        .expect("the tiny model loads");
    let validation_set_hash = hex::encode(Sha256::digest(
        std::fs::read(&validation).expect("reads the validation text"),
    ));
    let assets = Assets {
        base_model_hash: loaded.base_model_hash.clone(),
        validation_set_hash,
    };
    std::fs::write(
        dir.join("spec.json"),
        serde_json::to_vec_pretty(&json!({
            "base_model_hash": assets.base_model_hash,
            "validation_set_hash": assets.validation_set_hash,
        }))
        .expect("json"),
    )
    .expect("writes spec.json");
    assets
}

/// Writes the assets `make cluster` gives the parties (run by that target).
#[test]
#[ignore = "run by `make cluster`"]
fn cluster_assets() {
    let dir = cluster_dir().join("assets");
    let a = write_assets(&dir);
    println!(
        "cluster assets in {}: base model {}, validation set {}",
        dir.display(),
        a.base_model_hash,
        a.validation_set_hash
    );
}

/// The running cluster; dropping it stops every process and removes the network.
struct Cluster {
    dir: PathBuf,
    scripts: PathBuf,
    netns: bool,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::env::var_os("FAIRSHARE_CLUSTER_KEEP").is_some() {
            eprintln!("FAIRSHARE_CLUSTER_KEEP is set: the cluster stays up (make cluster-stop)");
            return;
        }
        let _ = Command::new("bash")
            .arg(self.scripts.join("down.sh"))
            .status();
    }
}

impl Cluster {
    /// Writes the assets and runs `up.sh` with `env` (every service started).
    fn up(env: &[(&str, &str)]) -> Self {
        let dir = cluster_dir();
        write_assets(&dir.join("assets"));
        let scripts = Path::new(REPO).join("localnet/cluster");
        let mut c = Cluster {
            dir: dir.clone(),
            scripts,
            netns: false,
        };
        c.sh("up.sh", &[], env);
        let net = std::fs::read_to_string(dir.join("net.env")).expect("up.sh wrote net.env");
        c.netns = net.contains("NET_MODE=netns");
        c
    }

    /// Runs a cluster script and asserts it succeeded.
    fn sh(&self, script: &str, args: &[&str], env: &[(&str, &str)]) {
        let mut cmd = Command::new("bash");
        cmd.arg(self.scripts.join(script))
            .args(args)
            .env("FAIRSHARE_BIN", env!("CARGO_BIN_EXE_fairshare"))
            .env("FAIRSHARE_CLUSTER_DIR", &self.dir);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let status = cmd.status().expect("bash runs");
        assert!(status.success(), "{script} {args:?} failed: {status}");
    }

    fn addr(&self, host: &str) -> String {
        let octet = match host {
            "val1" => 11,
            "val2" => 12,
            "val3" => 13,
            "val4" => 14,
            "kubo" => 20,
            "relayer" => 30,
            other => panic!("no host {other}"),
        };
        if self.netns {
            format!("10.77.0.{octet}")
        } else {
            format!("127.0.0.{octet}")
        }
    }

    fn rpc(&self, host: &str) -> String {
        format!("http://{}:26657", self.addr(host))
    }

    fn relayer_url(&self) -> String {
        format!("http://{}:8700", self.addr("relayer"))
    }

    fn kubo_api(&self) -> String {
        format!("http://{}:5001", self.addr("kubo"))
    }

    /// The `fairshare` command with the operator's config (the deployer's node, val1).
    fn fairshare(&self, args: &[&str]) -> Value {
        let out = Command::new(env!("CARGO_BIN_EXE_fairshare"))
            .arg("--config")
            .arg(self.dir.join("config/operator.toml"))
            .arg("--json")
            .args(args)
            .current_dir(REPO)
            .output()
            .expect("fairshare runs");
        assert!(
            out.status.success(),
            "fairshare {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }
}

/// The latest height a node reports, if it answers.
fn height_of(rpc: &str) -> Option<u64> {
    let v: Value = reqwest::blocking::Client::new()
        .get(format!("{rpc}/status"))
        .timeout(Duration::from_secs(2))
        .send()
        .ok()?
        .json()
        .ok()?;
    v["result"]["sync_info"]["latest_block_height"]
        .as_str()?
        .parse()
        .ok()
}

/// The header time of block `h` (RFC 3339 with nanoseconds), as seconds since the epoch.
fn block_time(rpc: &str, h: u64) -> Option<f64> {
    let v: Value = reqwest::blocking::Client::new()
        .get(format!("{rpc}/block?height={h}"))
        .timeout(Duration::from_secs(2))
        .send()
        .ok()?
        .json()
        .ok()?;
    let t = v["result"]["block"]["header"]["time"].as_str()?;
    let dt = chrono_like_parse(t)?;
    Some(dt)
}

/// Parses `2026-11-28T12:25:29.343734675Z` to seconds since 1970 (UTC, no leap seconds).
fn chrono_like_parse(t: &str) -> Option<f64> {
    let (date, time) = t.trim_end_matches('Z').split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut h = hms.split(':').map(|x| x.parse::<i64>());
    let (hh, mm, ss) = (h.next()?.ok()?, h.next()?.ok()?, h.next()?.ok()?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let frac: f64 = format!("0.{frac}").parse().ok()?;
    Some((days * 86400 + hh * 3600 + mm * 60 + ss) as f64 + frac)
}

/// Polls `cond` every `every` until it holds or `timeout` passes (then panics naming `what`).
fn wait_for<T>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut cond: impl FnMut() -> Option<T>,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = cond() {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {:.0} s waiting for {what}",
            timeout.as_secs_f64()
        );
        std::thread::sleep(every);
    }
}

/// The round operator's view of the chain (the deployer's key, on val1).
struct Operator {
    chain: WasmdChain,
    d: Deployment,
    accounts: LocalnetAccounts,
}

impl Operator {
    fn connect(c: &Cluster) -> Self {
        let accounts = LocalnetAccounts::load(&Path::new(REPO).join("localnet/accounts.toml"))
            .expect("the localnet accounts");
        let mut cfg = WasmdConfig::localnet();
        cfg.rpc_url = c.rpc("val1");
        cfg.chain_id = Some("fairshare-cluster-1".into());
        let mut chain = WasmdChain::connect(cfg).expect("connects to val1");
        chain.add_account(&accounts.account("deployer").expect("deployer"));
        let d: Deployment = serde_json::from_slice(
            &std::fs::read(c.dir.join("deployment.json")).expect("the deployment"),
        )
        .expect("a deployment");
        Operator { chain, d, accounts }
    }

    fn address(&self, name: &str) -> String {
        self.accounts
            .account(name)
            .expect("a localnet account")
            .address()
            .to_string()
    }

    fn round(&self, id: u64) -> rm::RoundResponse {
        round::status(&self.chain, &self.d, id).expect("round status")
    }

    fn participant(&self, id: u64, name: &str) -> Option<rm::ParticipantResponse> {
        self.chain
            .query(
                self.d.round_manager.as_str(),
                &rm::QueryMsg::Participant {
                    round_id: id,
                    participant: self.address(name),
                },
            )
            .ok()
    }

    fn evaluator(&self, id: u64, name: &str) -> Option<rm::EvaluatorInfo> {
        let addr = self.address(name);
        round::evaluators(&self.chain, &self.d, id)
            .ok()?
            .into_iter()
            .find(|e| e.evaluator.as_str() == addr)
    }

    fn native(&self, name: &str) -> u128 {
        self.chain
            .balance(&self.address(name), "stake")
            .expect("a balance")
    }

    fn tokens(&self, name: &str) -> u128 {
        let b: cw20::BalanceResponse = self
            .chain
            .query(
                self.d.token.as_str(),
                &cw20::Cw20QueryMsg::Balance {
                    address: self.address(name),
                },
            )
            .expect("a token balance");
        b.balance.u128()
    }

    /// Opens a round on the base model and `global`, the hex update hash of the global
    /// adapter to build on (none in round one: the all-zero hash).
    fn open(&mut self, a: &Assets, label: &str, global: Option<&str>) -> u64 {
        let spec = rm::RoundSpec {
            base_model_hash: HexBinary::from_hex(&a.base_model_hash).expect("hex"),
            global_adapter_hash: match global {
                Some(h) => HexBinary::from_hex(h).expect("hex"),
                None => HexBinary::from(vec![0u8; 32]),
            },
            validation_set_hash: HexBinary::from_hex(&a.validation_set_hash).expect("hex"),
            task_uri: format!("fairshare://tasks/cluster/{label}"),
        };
        let key = self.accounts.account("deployer").expect("deployer").key;
        round::open(&mut self.chain, &self.d, &key, spec).expect("opens a round")
    }
}

/// Merges round `id`'s contributors into the global adapter (the demo operator's FedAvg, with
/// near-duplicate updates counted once) from the bundles the relayer lists, publishes it to the
/// relayer's store and to kubo, and returns its hex update hash.
fn publish_global_adapter(
    c: &Cluster,
    op: &Operator,
    id: u64,
    results: &BTreeMap<String, rm::ParticipantResult>,
) -> String {
    use fairshare_relayer::demo::roles::operator::Operator as Merger;
    let model = c.dir.join("assets/model");
    let loaded = fairshare_trainer::model::load_model(&model, DType::F32, &Device::Cpu)
        .expect("the base model loads");
    let mut merger = Merger::new(
        op.accounts.account("deployer").expect("deployer").key,
        &c.relayer_url(),
        &loaded.model,
        &loaded.base_model_hash,
    )
    .expect("the operator's store");
    let names: std::collections::HashMap<String, String> =
        ["participant1", "participant2", "participant3"]
            .iter()
            .map(|n| (op.address(n), n.to_string()))
            .collect();
    let work = c.dir.join(format!("data/operator/round-{id}"));
    let _ = std::fs::remove_dir_all(&work);
    let bundles = merger
        .fetch_bundles(id, &names, &work.join("bundles"))
        .expect("round 1's bundles");
    let order: Vec<&String> = bundles.keys().collect();
    let updates: Vec<&fairshare_trainer::bundle::Bundle> =
        order.iter().map(|a| &bundles[*a]).collect();
    let contributor: Vec<bool> = order
        .iter()
        .map(|a| {
            results
                .get(*a)
                .is_some_and(|r| r.verdict == fairshare_protocol::rewards::Verdict::Contributor)
        })
        .collect();
    let adapters: Vec<&fairshare_trainer::lora::LoraAdapter> =
        updates.iter().map(|b| &b.adapter).collect();
    let similarity =
        fairshare_trainer::aggregate::similarity_matrix(&adapters).expect("similarities");
    let groups = fairshare_shapley::groups::near_duplicates(
        &similarity,
        fairshare_relayer::valuation::DUPLICATE_THRESHOLD,
    )
    .expect("groups");
    let dir = work.join("global");
    let merged = merger
        .merge(id, &updates, &contributor, &groups, &dir)
        .expect("merges and publishes");
    assert!(merged > 0, "round {id} had contributors to merge");
    let kubo = KuboStore::new(&c.kubo_api()).expect("kubo store");
    fairshare_relayer::store::publish_bundle(&kubo, &dir).expect("published to IPFS too");
    merger.global_hash.expect("a global adapter")
}

/// Reads the participant → update hash listing of the relayer for a round.
fn relayer_bundles(c: &Cluster, id: u64) -> Vec<Value> {
    reqwest::blocking::get(format!("{}/v1/rounds/{id}", c.relayer_url()))
        .and_then(|r| r.json::<Value>())
        .ok()
        .and_then(|v| v["bundles"].as_array().cloned())
        .unwrap_or_default()
}

/// The figures the run records (printed as JSON at the end, for BENCHMARKS.md).
#[derive(Default, Debug, serde::Serialize)]
struct Figures {
    net_mode: String,
    bring_up_s: f64,
    two_rounds_s: f64,
    round_s: Vec<f64>,
    relayer_pending_at_kill: usize,
    relayer_recovery_s: f64,
    validator_killed_at_height: u64,
    blocks_in_20s_before_kill: u64,
    blocks_in_20s_after_kill: u64,
    longest_block_gap_after_kill_s: f64,
    heights_missing_after_kill: u64,
    bundle_bytes: Vec<u64>,
    dir_store_get_s: f64,
    dir_store_put_s: f64,
    kubo_get_s: f64,
    kubo_put_s: f64,
}

/// Two rounds through the services alone, with every fault of issue #14 item 5.
#[test]
#[ignore = "needs root, wasmd and kubo: run by `make cluster-test`"]
fn cluster_two_rounds_with_faults() {
    let t_all = Instant::now();
    let mut fig = Figures::default();
    // p3 trains long in round 1, so it can be stopped after joining and before committing.
    let c = Cluster::up(&[("FAIRSHARE_CLUSTER_P3_STEPS", "40000")]);
    fig.net_mode = if c.netns { "netns" } else { "loopback" }.into();
    fig.bring_up_s = t_all.elapsed().as_secs_f64();
    let spec: Value =
        serde_json::from_slice(&std::fs::read(c.dir.join("assets/spec.json")).expect("spec.json"))
            .expect("json");
    let assets = Assets {
        base_model_hash: spec["base_model_hash"].as_str().expect("hash").into(),
        validation_set_hash: spec["validation_set_hash"].as_str().expect("hash").into(),
    };
    let mut op = Operator::connect(&c);
    let people = [
        "participant1",
        "participant2",
        "participant3",
        "evaluator1",
        "evaluator2",
        "evaluator3",
    ];
    let native0: BTreeMap<&str, u128> = people.iter().map(|p| (*p, op.native(p))).collect();
    let tokens0: BTreeMap<&str, u128> = people.iter().map(|p| (*p, op.tokens(p))).collect();
    let queue_dir = c.dir.join("data/relayer/queue");

    // ---------------- Round 1 ----------------
    let t_rounds = Instant::now();
    let r1 = op.open(&assets, "round-1", None);
    println!("round {r1} opened: {:?}", op.round(r1).deadlines);

    // Fault: participant 3 stopped after joining, before committing.
    wait_for(
        "participant3 to join round 1",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || op.participant(r1, "participant3"),
    );
    c.sh("services.sh", &["kill", "p3"], &[]);
    assert!(
        op.participant(r1, "participant3")
            .expect("joined")
            .commitment
            .is_none(),
        "participant3 committed before it was stopped"
    );
    println!("participant3 killed after joining, before committing");

    // Fault: the relayer killed mid-batch, i.e. with accepted commitments not yet recorded as
    // on chain (its queue has pending entries).
    let pending_dir = queue_dir.join(format!("round-{r1}/pending"));
    let pending = wait_for(
        "the relayer to accept a commitment",
        Duration::from_secs(120),
        Duration::from_millis(5),
        || {
            let n = std::fs::read_dir(&pending_dir)
                .map(|rd| {
                    rd.filter_map(|e| e.ok())
                        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                        .count()
                })
                .unwrap_or(0);
            (n > 0).then_some(n)
        },
    );
    c.sh("services.sh", &["kill", "relayer"], &[]);
    let pending_files: Vec<String> = std::fs::read_dir(&pending_dir)
        .expect("pending dir")
        .filter_map(|e| e.ok())
        .map(|e| {
            e.file_name()
                .to_string_lossy()
                .trim_end_matches(".json")
                .to_string()
        })
        .filter(|n| !n.starts_with('.'))
        .collect();
    fig.relayer_pending_at_kill = pending_files.len().max(pending);
    println!(
        "relayer killed with {} pending: {pending_files:?}",
        pending_files.len()
    );
    std::thread::sleep(Duration::from_secs(2));
    let t_restart = Instant::now();
    c.sh("services.sh", &["start", "relayer"], &[]);
    let accounts_by_addr: BTreeMap<String, &str> = ["participant1", "participant2", "participant3"]
        .iter()
        .map(|p| (op.address(p), *p))
        .collect();
    for addr in &pending_files {
        let name = accounts_by_addr
            .get(addr)
            .unwrap_or_else(|| panic!("a pending entry of an unknown participant {addr}"));
        wait_for(
            "the pending commitments on chain after the relayer's restart",
            Duration::from_secs(60),
            Duration::from_millis(20),
            || {
                op.participant(r1, name)
                    .and_then(|p| p.commitment)
                    .map(|_| ())
            },
        );
    }
    fig.relayer_recovery_s = t_restart.elapsed().as_secs_f64();
    println!("relayer recovery: {:.2} s", fig.relayer_recovery_s);

    // Fault: one validator of four killed mid-round.
    let h_kill = height_of(&c.rpc("val1")).expect("val1 answers");
    let h_before = height_of(&c.rpc("val1")).expect("val1 answers");
    let before_20 = {
        let t0 = block_time(&c.rpc("val1"), h_before.saturating_sub(1)).unwrap_or(0.0);
        // blocks in the 20 s before the kill, from header times
        let mut n = 0;
        let mut h = h_before.saturating_sub(1);
        while h > 1 {
            match block_time(&c.rpc("val1"), h) {
                Some(t) if t0 - t <= 20.0 => {
                    n += 1;
                    h -= 1;
                }
                _ => break,
            }
        }
        n
    };
    c.sh("svc.sh", &["kill", "val2"], &[]);
    fig.validator_killed_at_height = h_kill;
    let t_kill = Instant::now();
    println!("validator val2 killed at height {h_kill}");

    // Round 1 runs to its end: the commit deadline, valuation, reports, reveals.
    let d1 = op.round(r1).deadlines;
    wait_for(
        "round 1 to reach its dispute window's end",
        Duration::from_secs(600),
        Duration::from_millis(500),
        || {
            let h = height_of(&c.rpc("val1"))?;
            (h >= d1.dispute_until).then_some(())
        },
    );
    // Blocks after the kill, over 20 s from it.
    let h_now = height_of(&c.rpc("val1")).expect("val1 answers");
    let t_k = block_time(&c.rpc("val1"), h_kill).expect("block time");
    let mut after = 0;
    let mut longest: f64 = 0.0;
    let mut missing = 0;
    let mut prev = t_k;
    for h in h_kill + 1..=h_now {
        match block_time(&c.rpc("val1"), h) {
            Some(t) => {
                if t - t_k <= 20.0 {
                    after += 1;
                }
                longest = longest.max(t - prev);
                prev = t;
            }
            None => missing += 1,
        }
    }
    fig.blocks_in_20s_before_kill = before_20;
    fig.blocks_in_20s_after_kill = after;
    fig.longest_block_gap_after_kill_s = longest;
    fig.heights_missing_after_kill = missing;
    assert_eq!(missing, 0, "every height after the kill has a block");
    assert!(
        h_now > h_kill + 20,
        "the chain went on with three validators of four ({h_kill} → {h_now} in {:.0} s)",
        t_kill.elapsed().as_secs_f64()
    );

    let r = op.round(r1);
    assert_eq!(r.committed, 2, "participants 1 and 2 committed, 3 did not");
    assert_eq!(r.reports, 3, "three evaluators revealed");
    c.fairshare(&["settle", "--as", "deployer", "--round", &r1.to_string()]);
    let r = op.round(r1);
    assert_eq!(r.phase, Phase::Settled, "round 1 settles");
    fig.round_s.push(t_rounds.elapsed().as_secs_f64());
    println!("round 1 settled after {:.1} s", fig.round_s[0]);

    // Exactly once: the chain's bindings are the participants' own commitments, one each,
    // and the relayer's queue has nothing left for round 1.
    // Data availability: every committed participant's bundle is listed by the relayer, also
    // one whose participant posted its commitment itself while the relayer was down.
    let bundles1 = relayer_bundles(&c, r1);
    for name in ["participant1", "participant2"] {
        let p = op.participant(r1, name).expect("joined");
        assert!(p.commitment.is_some(), "{name} is on chain");
        assert!(
            bundles1
                .iter()
                .any(|b| b["participant"] == op.address(name) && b["on_chain"] == true),
            "{name}'s bundle is listed for the evaluators: {bundles1:?}"
        );
    }
    assert!(
        std::fs::read_dir(&pending_dir)
            .map(|rd| rd
                .filter_map(|e| e.ok())
                .all(|e| e.file_name().to_string_lossy().starts_with('.')))
            .unwrap_or(true),
        "nothing is left pending for round 1"
    );
    let results1: BTreeMap<String, rm::ParticipantResult> = round::results(&op.chain, &op.d, r1)
        .expect("results")
        .into_iter()
        .map(|r| (r.participant.to_string(), r))
        .collect();
    let p3 = &results1[&op.address("participant3")];
    assert_eq!(p3.verdict, fairshare_protocol::rewards::Verdict::NoShow);
    for name in ["participant1", "participant2"] {
        let r = &results1[&op.address(name)];
        assert_ne!(
            r.verdict,
            fairshare_protocol::rewards::Verdict::NoShow,
            "{name}"
        );
        assert!(r.score.is_some(), "{name} was valued");
    }

    // ---------------- Round 2 ----------------
    let t_r2 = Instant::now();
    // The validator comes back and catches up; participant 3 comes back with a normal config.
    c.sh(
        "svc.sh",
        &[
            "start",
            "val2",
            "val2",
            &format!("{}/wasmd/v0.70.3/bin/wasmd", cache_dir().display()),
            "start",
            "--home",
            &c.dir.join("chain/val2").display().to_string(),
            "--log_no_color",
        ],
        &[],
    );
    c.sh("configs.sh", &[], &[]);
    c.sh("services.sh", &["start", "p3"], &[]);
    // The operator merges round 1's contributors (FedAvg, near-duplicates counted once) into the
    // global adapter and publishes it to the relayer's store and to IPFS; round 2 builds on it.
    let global = publish_global_adapter(&c, &op, r1, &results1);
    println!("global adapter {global} published for round 2");
    let r2 = op.open(&assets, "round-2", Some(&global));
    println!("round {r2} opened: {:?}", op.round(r2).deadlines);
    let d2 = op.round(r2).deadlines;

    // Fault: participant 2's bundle withheld from the store once its commitment is on chain.
    let p2_hash = wait_for(
        "participant2's commitment in round 2",
        Duration::from_secs(120),
        Duration::from_millis(100),
        || {
            op.participant(r2, "participant2")?.commitment?;
            relayer_bundles(&c, r2)
                .into_iter()
                .find(|b| b["participant"] == op.address("participant2"))
                .map(|b| {
                    (
                        b["update_hash"].as_str().unwrap_or_default().to_string(),
                        b["cid"].as_str().unwrap_or_default().to_string(),
                    )
                })
        },
    );
    let store = c.dir.join("data/relayer/store");
    let _ = std::fs::remove_file(store.join("by-hash").join(&p2_hash.0));
    let _ = std::fs::remove_file(store.join("blobs").join(&p2_hash.1));
    // The relayer also pinned it in kubo: unpin and collect it there too.
    let http = reqwest::blocking::Client::new();
    let kubo = c.kubo_api();
    let _ = http
        .post(format!("{kubo}/api/v0/pin/rm?arg={}", p2_hash.1))
        .send();
    let _ = http.post(format!("{kubo}/api/v0/repo/gc")).send();
    let withheld = http
        .get(format!("{}/v1/bundles/hash/{}", c.relayer_url(), p2_hash.0))
        .send()
        .expect("the relayer answers");
    assert_eq!(withheld.status().as_u16(), 404, "p2's bundle is withheld");
    println!("participant2's bundle {} withheld", p2_hash.0);

    // Fault: evaluator 3 cut off from the network (link down) once bonded, until 30 blocks
    // into the evaluation window: its report comes late (if the rules leave it time).
    wait_for(
        "evaluator3 to bond in round 2",
        Duration::from_secs(120),
        Duration::from_millis(200),
        || op.evaluator(r2, "evaluator3"),
    );
    let cut = c.netns;
    if cut {
        c.sh("net.sh", &["link-down", "e3"], &[]);
        println!("evaluator3 cut off");
        wait_for(
            "30 blocks into round 2's evaluation window",
            Duration::from_secs(300),
            Duration::from_millis(300),
            || (height_of(&c.rpc("val1"))? >= d2.commit_until + 30).then_some(()),
        );
        assert!(
            op.evaluator(r2, "evaluator3")
                .expect("bonded")
                .digest
                .is_none(),
            "evaluator3 cannot have committed while cut off"
        );
        c.sh("net.sh", &["link-up", "e3"], &[]);
        println!("evaluator3 reconnected");
    } else {
        println!("loopback mode: the evaluator cut-off cannot be injected (no namespaces)");
    }
    wait_for(
        "round 2 to reach its dispute window's end",
        Duration::from_secs(600),
        Duration::from_millis(500),
        || (height_of(&c.rpc("val1"))? >= d2.dispute_until).then_some(()),
    );
    // val2 caught up with the others.
    let (h1, h2) = (
        height_of(&c.rpc("val1")).expect("val1"),
        height_of(&c.rpc("val2")).expect("val2 answers again"),
    );
    assert!(h2 + 5 >= h1, "val2 caught up ({h2} vs {h1})");

    let r = op.round(r2);
    assert_eq!(r.committed, 3, "all three committed in round 2");
    let e3 = op.evaluator(r2, "evaluator3").expect("bonded");
    println!(
        "round 2: {} reports; evaluator3 revealed: {:?}",
        r.reports, e3.revealed_at
    );
    if r.reports >= 3 {
        // Evaluator 3 reported late: nothing while cut off, its report after reconnecting.
        assert!(
            e3.revealed_at.is_some(),
            "evaluator3 revealed after reconnecting"
        );
        c.fairshare(&["settle", "--as", "deployer", "--round", &r2.to_string()]);
        assert_eq!(op.round(r2).phase, Phase::Settled);
    } else {
        // Too few reports: the round fails by the rules (quorum 3 of 3).
        assert_eq!(r.phase, Phase::Failed);
        c.fairshare(&["settle", "--as", "deployer", "--round", &r2.to_string()]);
    }
    fig.round_s.push(t_r2.elapsed().as_secs_f64());
    fig.two_rounds_s = t_rounds.elapsed().as_secs_f64();
    let bundles2 = relayer_bundles(&c, r2);
    // Round 2's updates were trained on the global adapter.
    let http_store = HttpStore::new(&c.relayer_url()).expect("http store");
    for b in bundles2
        .iter()
        .filter(|b| b["participant"] != op.address("participant2"))
    {
        let cid = Cid::parse(b["cid"].as_str().unwrap_or_default()).expect("a cid");
        let archive = http_store.get(&cid).expect("the relayer serves it");
        let manifest: Value = fairshare_relayer::store::unpack(&archive)
            .expect("a bundle")
            .into_iter()
            .find(|(name, _)| *name == "manifest.json")
            .map(|(_, bytes)| serde_json::from_slice(&bytes).expect("json"))
            .expect("a manifest");
        assert_eq!(
            manifest["global_adapter_hash"].as_str(),
            Some(global.as_str()),
            "{} trained on the global adapter",
            b["participant"]
        );
    }
    let results2: BTreeMap<String, rm::ParticipantResult> = round::results(&op.chain, &op.d, r2)
        .expect("results")
        .into_iter()
        .map(|r| (r.participant.to_string(), r))
        .collect();
    if op.round(r2).phase == Phase::Settled {
        let p2 = &results2[&op.address("participant2")];
        assert_eq!(p2.reward.u128(), 0, "a withheld bundle earns nothing");
        let p1 = &results2[&op.address("participant1")];
        assert!(p1.score.is_some());
    }
    for (id, results) in [(r1, &results1), (r2, &results2)] {
        for (addr, r) in results.iter() {
            println!(
                "round {id} {addr}: {:?}, score {:?}, reward {}, slash {}",
                r.verdict,
                r.score.map(|s| s.value.to_string()),
                r.reward,
                r.slash
            );
        }
    }

    // Claims and balances: native stake back less slashes (fees are zero on this chain);
    // rewards minted in the incentive token.
    for id in [r1, r2] {
        for p in ["participant1", "participant2", "participant3"] {
            c.fairshare(&["claim", "--as", p, "--round", &id.to_string()]);
        }
    }
    for name in ["participant1", "participant2", "participant3"] {
        let a = op.address(name);
        let slash: u128 = [&results1, &results2]
            .iter()
            .filter_map(|r| r.get(&a))
            .map(|r| r.slash.u128())
            .sum();
        let reward: u128 = [&results1, &results2]
            .iter()
            .filter_map(|r| r.get(&a))
            .map(|r| r.reward.u128())
            .sum();
        assert_eq!(
            native0[name] - op.native(name),
            slash,
            "{name}: stake back less its slashes"
        );
        assert_eq!(op.tokens(name) - tokens0[name], reward, "{name}: rewards");
        println!("{name}: slashed {slash}, rewarded {reward}");
    }
    assert!(
        results1[&op.address("participant1")].reward.u128() > 0
            || results1[&op.address("participant2")].reward.u128() > 0,
        "round 1 paid a contributor"
    );
    // Evaluators' bonds are held through the appeal window (the DAO may still penalise them);
    // they claim from `claimable_from` on.
    for name in ["evaluator1", "evaluator2", "evaluator3"] {
        let mut slash = 0u128;
        let mut reward = 0u128;
        for id in [r1, r2] {
            let er: rm::EvaluatorResult = op
                .chain
                .query(
                    op.d.round_manager.as_str(),
                    &rm::QueryMsg::EvaluatorResult {
                        round_id: id,
                        evaluator: op.address(name),
                    },
                )
                .expect("evaluator result");
            slash += er.slash.u128();
            reward += er.reward.u128();
            println!(
                "round {id} {name}: {:?}, reward {}, slash {}",
                er.verdict, er.reward, er.slash
            );
            wait_for(
                "the evaluators' appeal window to end",
                Duration::from_secs(300),
                Duration::from_millis(500),
                || (height_of(&c.rpc("val1"))? >= er.claimable_from).then_some(()),
            );
            c.fairshare(&["claim", "--as", name, "--round", &id.to_string()]);
        }
        assert_eq!(
            native0[name] - op.native(name),
            slash,
            "{name}: bond back less slashes"
        );
        assert_eq!(op.tokens(name) - tokens0[name], reward, "{name}: rewards");
    }

    // Bundle transfer through the relayer's store and kubo, from this host across the bridge.
    let dir_store = HttpStore::new(&c.relayer_url()).expect("http store");
    let kubo_store = KuboStore::new(&c.kubo_api()).expect("kubo store");
    let mut n = 0;
    for b in bundles1.iter().chain(bundles2.iter()) {
        let cid = Cid::parse(b["cid"].as_str().unwrap_or_default()).expect("a cid");
        if b["participant"] == op.address("participant2") && bundles2.contains(b) {
            continue; // withheld
        }
        let t = Instant::now();
        let archive = dir_store.get(&cid).expect("the relayer serves it");
        fig.dir_store_get_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        dir_store.put(&archive).expect("re-put");
        fig.dir_store_put_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let kcid = kubo_store.put(&archive).expect("kubo add");
        fig.kubo_put_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let back = kubo_store.get(&kcid).expect("kubo cat");
        fig.kubo_get_s += t.elapsed().as_secs_f64();
        assert_eq!(back, archive);
        fig.bundle_bytes.push(archive.len() as u64);
        n += 1;
    }
    assert!(n > 0, "round 1's bundles are listed");
    for x in [
        &mut fig.dir_store_get_s,
        &mut fig.dir_store_put_s,
        &mut fig.kubo_get_s,
        &mut fig.kubo_put_s,
    ] {
        *x /= n as f64;
    }
    println!(
        "CLUSTER FIGURES {}",
        serde_json::to_string(&fig).expect("json")
    );
    let _ = std::fs::write(
        c.dir.join("figures.json"),
        serde_json::to_vec_pretty(&fig).expect("json"),
    );
    drop(op);
    drop(c);
}
