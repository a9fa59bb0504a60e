//! The `fairshare` command against a real wasmd node, exactly as a user runs it:
//! deploy, open, join, submit bundles (a NaN-filled one is refused), relay (twice: the second
//! posts nothing), report, settle, claim, and a DAO proposal that changes the budget.
//! Needs `make localnet` (run by `make e2e`); ignored by a plain `cargo test`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fairshare_relayer::bundle::write::{bundle, Module};
use serde_json::Value;

struct Cli {
    config: PathBuf,
}

impl Cli {
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
            "accounts = {:?}\nartifacts = {:?}\ndeployment = {:?}\nspool = {:?}\n",
            repo().join("localnet/accounts.toml"),
            repo().join("artifacts"),
            dir.join("deployment.json"),
            dir.join("spool"),
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

    let players = ["participant4", "participant5"];
    for p in players {
        cli.ok(&["join", "--as", p, "--round", &round, "--stake", "1000"]);
    }
    for (i, p) in players.iter().enumerate() {
        let b = dir.join(format!("bundle-{p}"));
        let m = Module {
            path: "base_model.model.model.layers.0.self_attn.q_proj".into(),
            a: (2, 4, (0..8).map(|x| 0.01 * (x + i) as f32).collect()),
            b: (4, 2, (0..8).map(|x| 0.02 * (x as f32 - 3.0)).collect()),
        };
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

    let posted = cli.ok(&["relay", "--as", "relayer", "--round", &round]);
    assert_eq!(posted["posted"], 2);
    let none = cli.ok(&["relay", "--as", "relayer", "--round", &round]);
    assert_eq!(
        none["posted"], 0,
        "a restarted relayer does not double-post"
    );

    cli.wait_phase(&round, "evaluating");
    let report = serde_json::json!({
        "aggregate_hash": "00".repeat(32),
        "delta_u": "0.5",
        "scores": [
            {"participant": address_of("participant4"), "value": "0.3", "std_error": "0.001"},
            {"participant": address_of("participant5"), "value": "0.2", "std_error": "0.001"},
        ],
    });
    let report_file = dir.join("report.json");
    std::fs::write(&report_file, report.to_string()).expect("writes");
    for e in ["evaluator1", "evaluator2"] {
        cli.ok(&[
            "report",
            "--as",
            e,
            "--round",
            &round,
            "--file",
            report_file.to_str().expect("utf-8"),
        ]);
    }
    cli.ok(&["settle", "--as", "relayer", "--round", &round]);
    assert_eq!(cli.ok(&["round", "status", &round])["phase"], "settled");
    for p in players {
        cli.ok(&["claim", "--as", p, "--round", &round]);
    }
    let err = cli
        .run(&["claim", "--as", "participant4", "--round", &round])
        .expect_err("double claim");
    assert!(err.contains("already claimed"), "{err}");

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
