//! The `fairshare` command against a real wasmd node, exactly as a user runs it:
//! deploy, open, join, submit bundles (a NaN-filled one is refused), relay (twice: the second
//! posts nothing), three evaluators bond, commit and reveal, verify-report (a lie is caught),
//! a pointless dispute refused before it costs a deposit, settle, claim in every role, a
//! re-execution turned into a slashing proposal, and a DAO proposal that changes the budget.
//! Needs `make localnet` (run by `make e2e`); ignored by a plain `cargo test`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cosmwasm_std::HexBinary;
use fairshare_protocol::report::{self, Estimator, UtilityTable};
use fairshare_relayer::bundle::write::{bundle, Module};
use serde_json::Value;

struct Cli {
    config: PathBuf,
}

impl Cli {
    /// Runs without --json: (success, stdout, stderr).
    fn plain(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_fairshare"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()
            .expect("runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn run(&self, args: &[&str]) -> Result<Value, String> {
        let out = Command::new(env!("CARGO_BIN_EXE_fairshare"))
            .arg("--config")
            .arg(&self.config)
            .arg("--json")
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
    }

    fn ok(&self, args: &[&str]) -> Value {
        self.run(args)
            .unwrap_or_else(|e| panic!("fairshare {args:?} failed: {e}"))
    }

    fn wait_phase(&self, round: &str, phase: &str) {
        let start = Instant::now();
        loop {
            let s = self.ok(&["round", "status", round]);
            if s["phase"] == phase {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "round {round} never reached {phase}: {s}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn address_of(name: &str) -> String {
    let accounts =
        fairshare_relayer::wasmd::LocalnetAccounts::load(&repo().join("localnet/accounts.toml"))
            .expect("accounts");
    accounts
        .account(name)
        .expect("account")
        .address()
        .to_string()
}

#[test]
#[ignore = "needs the localnet: make e2e"]
fn a_user_plays_a_round_with_the_fairshare_command() {
    let dir = std::env::temp_dir().join(format!("fairshare-cli-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("fairshare.toml");
    std::fs::write(
        &config,
        format!(
            "accounts = {:?}\nartifacts = {:?}\ndeployment = {:?}\nspool = {:?}\nsealed = {:?}\n",
            repo().join("localnet/accounts.toml"),
            repo().join("artifacts"),
            dir.join("deployment.json"),
            dir.join("spool"),
            dir.join("sealed"),
        ),
    )
    .expect("config");
    let cli = Cli { config };

    let d = cli.ok(&["deploy", "--as", "deployer"]);
    let record: Value =
        serde_json::from_slice(&std::fs::read(dir.join("deployment.json")).expect("written"))
            .expect("json");
    assert_eq!(
        record["checksums"]["fairshare_round_manager.wasm"]
            .as_str()
            .map(str::len),
        Some(64)
    );
    let again = cli.ok(&["deploy", "--as", "deployer"]);
    assert_eq!(
        again["round_manager"], d["round_manager"],
        "deploy is idempotent"
    );

    let round = cli.ok(&["round", "open", "--as", "deployer"])["round_id"]
        .as_u64()
        .expect("id")
        .to_string();
    let status = cli.ok(&["round", "status", &round]);
    let base_model = status["spec"]["base_model_hash"]
        .as_str()
        .expect("hash")
        .to_string();
    let validation_set = status["spec"]["validation_set_hash"]
        .as_str()
        .expect("hash")
        .to_string();

    // The round's shared LoRA A: every bundle must carry it (the relayer recomputes it).
    let global = status["spec"]["global_adapter_hash"]
        .as_str()
        .filter(|h| h.chars().any(|c| c != '0'));
    let a_seed =
        fairshare_trainer::lora::round_init_seed(round.parse().expect("id"), &base_model, global);
    let q0 = "base_model.model.model.layers.0.self_attn.q_proj";

    let players = ["participant4", "participant5"];
    for p in players {
        cli.ok(&["join", "--as", p, "--round", &round, "--stake", "1000"]);
    }
    for (i, p) in players.iter().enumerate() {
        let b = dir.join(format!("bundle-{p}"));
        let m = Module::with_round_a(
            q0,
            a_seed,
            2,
            4,
            (0..8).map(|x| 0.02 * (x as f32 - 3.0 + i as f32)).collect(),
        );
        bundle(
            &b,
            &[m],
            2,
            4.0,
            &["q_proj"],
            round.parse().expect("id"),
            &base_model,
            &address_of(p),
            500,
        )
        .expect("writes");
        let queued = cli.ok(&["submit", b.to_str().expect("utf-8"), "--as", p]);
        assert!(queued["norm"].as_f64().expect("norm") > 0.0);
    }
    // A NaN-filled update is refused before anything is queued or posted.
    let bad = dir.join("bundle-nan");
    let m = Module {
        path: "base_model.model.model.layers.0.self_attn.q_proj".into(),
        a: (2, 4, vec![f32::NAN; 8]),
        b: (4, 2, vec![0.1; 8]),
    };
    bundle(
        &bad,
        &[m],
        2,
        4.0,
        &["q_proj"],
        round.parse().expect("id"),
        &base_model,
        &address_of("participant4"),
        1,
    )
    .expect("writes");
    let err = cli
        .run(&[
            "submit",
            bad.to_str().expect("utf-8"),
            "--as",
            "participant4",
        ])
        .expect_err("NaN");
    assert!(err.contains("non-finite"), "{err}");
    // A Sybil identity that drew its own A (to look unlike its twin) is refused too.
    let foreign = dir.join("bundle-foreign-a");
    bundle(
        &foreign,
        &[Module::with_round_a(q0, a_seed ^ 1, 2, 4, vec![0.1; 8])],
        2,
        4.0,
        &["q_proj"],
        round.parse().expect("id"),
        &base_model,
        &address_of("participant4"),
        500,
    )
    .expect("writes");
    let err = cli
        .run(&[
            "submit",
            foreign.to_str().expect("utf-8"),
            "--as",
            "participant4",
        ])
        .expect_err("foreign A");
    assert!(err.contains("shared LoRA A"), "{err}");

    let posted = cli.ok(&["relay", "--as", "relayer", "--round", &round]);
    assert_eq!(posted["posted"], 2);
    let none = cli.ok(&["relay", "--as", "relayer", "--round", &round]);
    assert_eq!(
        none["posted"], 0,
        "a restarted relayer does not double-post"
    );

    let evaluators = ["evaluator1", "evaluator2", "evaluator3"];
    for e in evaluators {
        cli.ok(&["evaluator", "serve", "--as", e, "--round", &round]);
    }
    cli.wait_phase(&round, "evaluating");
    // Every evaluator measured the same exact table; the report follows from it.
    let names = [address_of("participant4"), address_of("participant5")];
    let table = UtilityTable {
        participants: names.to_vec(),
        validation_set_hash: HexBinary::from_hex(&validation_set).expect("hex"),
        estimator: Estimator::Exact,
        utilities: report::pack_utilities(&[0.0, 0.3, 0.1, 0.5]).expect("finite"),
    };
    let report = serde_json::json!({
        "aggregate_hash": "00".repeat(32),
        "table_hash": hex::encode(table.hash()),
        "delta_u": "0.5",
        "dof": 7,
        "scores": [
            {"participant": names[0], "value": "0.35", "std_error": "0.001"},
            {"participant": names[1], "value": "0.15", "std_error": "0.001"},
        ],
    });
    let table_file = dir.join("table.json");
    std::fs::write(&table_file, serde_json::to_vec(&table).expect("json")).expect("writes");
    let report_file = dir.join("report.json");
    std::fs::write(&report_file, report.to_string()).expect("writes");
    let (tf, rf) = (
        table_file.to_str().expect("utf-8"),
        report_file.to_str().expect("utf-8"),
    );
    let (ok, stdout, _) = cli.plain(&["verify-report", "--table", tf, "--report", rf]);
    assert!(ok && stdout.contains("every φ and ΔU follows"), "{stdout}");
    let mut lie = report.clone();
    lie["scores"][1]["value"] = Value::String("0.45".into());
    let lie_file = dir.join("lie.json");
    std::fs::write(&lie_file, lie.to_string()).expect("writes");
    let (ok, stdout, stderr) = cli.plain(&[
        "verify-report",
        "--table",
        tf,
        "--report",
        lie_file.to_str().expect("utf-8"),
    ]);
    assert!(!ok, "a lie exits non-zero");
    assert!(
        stdout.contains("DOES NOT") && stderr.contains("does not follow"),
        "{stdout}{stderr}"
    );
    // An evaluator cannot commit to a report its own table contradicts.
    let err = cli
        .run(&[
            "evaluator",
            "commit",
            "--as",
            "evaluator1",
            "--round",
            &round,
            "--report",
            lie_file.to_str().expect("utf-8"),
            "--table",
            tf,
        ])
        .expect_err("refused");
    assert!(err.contains("a dispute would strike out"), "{err}");
    for e in evaluators {
        let c = cli.ok(&[
            "evaluator",
            "commit",
            "--as",
            e,
            "--round",
            &round,
            "--report",
            rf,
            "--table",
            tf,
        ]);
        assert_eq!(c["digest"].as_str().map(str::len), Some(64));
    }
    let err = cli
        .run(&[
            "evaluator",
            "reveal",
            "--as",
            "evaluator1",
            "--round",
            &round,
        ])
        .expect_err("too early");
    assert!(err.contains("Revealing"), "{err}");
    cli.wait_phase(&round, "revealing");
    for e in evaluators {
        cli.ok(&["evaluator", "reveal", "--as", e, "--round", &round]);
    }
    cli.ok(&[
        "verify-report",
        "--table",
        tf,
        "--round",
        &round,
        "--evaluator",
        "evaluator2",
    ]);
    // A dispute of a consistent report is refused before it costs the deposit.
    let err = cli
        .run(&[
            "dispute",
            "--as",
            "relayer",
            "--round",
            &round,
            "--evaluator",
            "evaluator2",
            "--table",
            tf,
        ])
        .expect_err("pointless");
    assert!(err.contains("a dispute would fail"), "{err}");
    cli.wait_phase(&round, "settling");
    cli.ok(&["settle", "--as", "relayer", "--round", &round]);
    assert_eq!(cli.ok(&["round", "status", &round])["phase"], "settled");
    for p in players {
        cli.ok(&["claim", "--as", p, "--round", &round]);
    }
    let err = cli
        .run(&["claim", "--as", "participant4", "--round", &round])
        .expect_err("double claim");
    assert!(err.contains("already claimed"), "{err}");
    // Re-execution on the revealed text found U({participant4}) = 0.2, not 0.3: a slashing
    // proposal for the DAO, within the appeal window.
    let prefix = dir.join("penalty");
    let proposal = cli.ok(&[
        "dispute",
        "propose",
        "--round",
        &round,
        "--evaluator",
        "evaluator1",
        "--table",
        tf,
        "--coalition",
        &names[0],
        "--measured",
        "0.2",
        "--coalition",
        &format!("{},{}", names[0], names[1]),
        "--measured",
        "0.50000001",
        "--out",
        prefix.to_str().expect("utf-8"),
    ]);
    assert_eq!(proposal["comparisons"][0]["beyond_tolerance"], true);
    assert_eq!(proposal["comparisons"][1]["beyond_tolerance"], false);
    let msgs = std::fs::read_to_string(dir.join("penalty.msgs.json")).expect("written");
    assert!(
        msgs.contains("penalize_evaluator") || msgs.contains("execute"),
        "{msgs}"
    );
    // Evaluators take their bonds back (and their pay) once the appeal window is over.
    let start = Instant::now();
    for e in evaluators {
        loop {
            match cli.run(&["claim", "--as", e, "--round", &round]) {
                Ok(_) => break,
                Err(err) => {
                    assert!(err.contains("appeal window"), "{err}");
                    assert!(
                        start.elapsed() < Duration::from_secs(90),
                        "the appeal window never ended"
                    );
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        }
    }

    // Governance: the deployer holds the genesis tokens; it stakes, proposes, votes, executes.
    cli.ok(&["dao", "stake", "--as", "deployer", "--amount", "500000"]);
    let mut params = cli.ok(&["status"])["config"]["params"].clone();
    params["rewards"]["budget"] = Value::String("3000000".into());
    let msgs = serde_json::json!([{ "wasm": { "execute": {
        "contract_addr": d["round_manager"],
        "msg": base64_json(&serde_json::json!({"update_params": {"params": params}})),
        "funds": []
    }}}]);
    let msgs_file = dir.join("msgs.json");
    std::fs::write(&msgs_file, msgs.to_string()).expect("writes");
    // Voting power counts from the block after the stake: retry until the stake is visible.
    let propose = [
        "dao",
        "propose",
        "--as",
        "deployer",
        "--title",
        "Triple the budget",
        "--msgs",
        msgs_file.to_str().expect("utf-8"),
    ];
    let start = Instant::now();
    let id = loop {
        match cli.run(&propose) {
            Ok(v) => break v["proposal_id"].as_u64().expect("id").to_string(),
            Err(e) => {
                assert!(e.contains("nothing is staked yet"), "{e}");
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "the stake never became power"
                );
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    };
    cli.ok(&[
        "dao", "vote", "--as", "deployer", "--id", &id, "--vote", "yes",
    ]);
    let start = Instant::now();
    while let Err(e) = cli.run(&["dao", "execute", "--as", "relayer", "--id", &id]) {
        assert!(e.contains("timelock"), "{e}");
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timelock never passed"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let next = cli.ok(&["round", "open", "--as", "deployer"])["round_id"]
        .as_u64()
        .expect("id")
        .to_string();
    assert_eq!(
        cli.ok(&["round", "status", &next])["params"]["rewards"]["budget"],
        "3000000"
    );
}

fn base64_json(v: &Value) -> String {
    cosmwasm_std::to_json_binary(v).expect("json").to_base64()
}
