//! The relayer service against a real wasmd node: participants upload bundles and hand signed
//! commitments to `fairshare relayer serve`'s API, the relayer is killed before posting and
//! restarted, every commitment lands on chain exactly once, through a fail-over list whose
//! first node is dead; an evaluator then fetches every bundle back by its committed hash.
//!
//! Ignored by plain `cargo test` (it needs a node): start a localnet (`make localnet`, or one on
//! other ports with FAIRSHARE_LOCALNET_HOME / FAIRSHARE_RPC_PORT), deploy nothing (the test
//! deploys), then `FAIRSHARE_RPC_URL=http://127.0.0.1:26657 cargo test -p fairshare-relayer
//! --test services_localnet -- --ignored --nocapture`. Prints the relayer's recovery time.

use std::path::Path;
use std::time::{Duration, Instant};

use cosmwasm_std::Uint128;
use fairshare_protocol::commitment::binding;
use fairshare_protocol::round_manager::{self as rm, Schedule};
use fairshare_relayer::bundle::write;
use fairshare_relayer::chain::Chain;
use fairshare_relayer::keys::ParticipantKey;
use fairshare_relayer::ops::{self, default_params, round, spec_for, Roles, StakeKind};
use fairshare_relayer::relay::api::CommitRequest;
use fairshare_relayer::relay::client::RelayClient;
use fairshare_relayer::relay::config::ChainConfig;
use fairshare_relayer::relay::worker::ChainHandle;
use fairshare_relayer::relay::{RelayOptions, Relayer};
use fairshare_relayer::store::http::HttpStore;
use fairshare_relayer::store::{fetch_bundle, pack, Wanted};
use fairshare_relayer::wasmd::{Account, LocalnetAccounts};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn bundle(dir: &Path, key: &ParticipantKey, round_id: u64, seed: f32) -> [u8; 32] {
    let spec = spec_for("services");
    let base = spec.base_model_hash.to_hex();
    let m = write::Module::with_round_a(
        "base_model.model.model.layers.0.self_attn.q_proj",
        fairshare_relayer::bundle::round_lora_seed(round_id, &spec),
        4,
        64,
        vec![0.002 * seed; 256],
    );
    write::bundle(
        dir,
        &[m],
        4,
        8.0,
        &["q_proj"],
        round_id,
        &base,
        key.address(),
        100,
    )
    .expect("a bundle is written")
}

#[test]
#[ignore = "needs a wasmd node (make localnet)"]
fn relayer_service_on_wasmd() -> Res<()> {
    let url =
        std::env::var("FAIRSHARE_RPC_URL").unwrap_or_else(|_| "http://127.0.0.1:26657".into());
    let accounts = LocalnetAccounts::load(&LocalnetAccounts::default_path())?;
    let names = [
        "deployer",
        "relayer",
        "participant1",
        "participant2",
        "participant3",
        "participant4",
        "participant5",
        "evaluator1",
        "evaluator2",
        "evaluator3",
    ];
    let signers: Vec<Account> = names
        .iter()
        .map(|n| accounts.account(n))
        .collect::<Result<_, _>>()?;
    let t = tempfile::tempdir()?;
    let deployment_path = t.path().join("deployment.json");
    // A dead node first: every call must fail over to the live one.
    let chain_cfg = ChainConfig {
        nodes: vec!["http://127.0.0.1:9".into(), url.clone()],
        chain_id: accounts.chain_id.clone(),
        prefix: "wasm".into(),
        gas_price: "0stake".into(),
        gas_adjustment: 1.3,
        stake_denom: "stake".into(),
        deployment: deployment_path.clone(),
    };
    let cc = chain_cfg.clone();
    let ss = signers.clone();
    let chain = ChainHandle::spawn(move || cc.connect(&ss).map(|f| Box::new(f) as Box<dyn Chain>))?;

    // Deploy and open a round with windows long enough for the test (blocks of ~0.5 s).
    let (deployer, poster) = (signers[0].clone(), signers[1].clone());
    let parts: Vec<Account> = signers[2..7].to_vec();
    let evaluators: Vec<String> = signers[7..]
        .iter()
        .map(|a| a.address().to_string())
        .collect();
    let dk = deployer.key.clone();
    let (d, id) = chain
        .call(
            move |c| -> Result<_, fairshare_relayer::chain::ChainError> {
                let mut params = default_params(evaluators, 3);
                params.schedule = Schedule {
                    join_blocks: 400,
                    train_blocks: 200,
                    eval_blocks: 40,
                    reveal_blocks: 30,
                    dispute_blocks: 20,
                    settle_blocks: 60,
                };
                let opts = ops::DeployOptions {
                    params,
                    min_stake: Uint128::new(100),
                    token_cap: Some(Uint128::new(1_000_000_000_000)),
                    stake: StakeKind::Native("stake".into()),
                    initial_tokens: vec![(dk.address().to_string(), Uint128::new(1_000_000))],
                    dao: None,
                };
                let roles = Roles {
                    operator: dk.address().to_string(),
                    treasury: dk.address().to_string(),
                };
                let d = ops::deploy(c, &dk, &roles, &opts)?;
                let id = round::open(c, &d, &dk, spec_for("services"))?;
                Ok((d, id))
            },
        )
        .map_err(|e| e.to_string())??;
    std::fs::write(&deployment_path, serde_json::to_vec(&d)?)?;
    for p in &parts {
        let (dd, k) = (d.clone(), p.key.clone());
        chain
            .call(move |c| round::join(c, &dd, &StakeKind::Native("stake".into()), &k, id, 1_000))
            .map_err(|e| e.to_string())??;
    }
    eprintln!("deployed, round {id} open, {} joined", parts.len());

    // Relayer 1 accepts every commitment and is killed before it posts (no batcher).
    let data = t.path().join("relayer");
    let opts = |interval: Option<Duration>| RelayOptions {
        listen: "127.0.0.1:0".into(),
        data_dir: data.clone(),
        deployment: d.clone(),
        poster: poster.key.clone(),
        batch_size: 2,
        batch_interval: interval,
        kubo: None,
        staging: Default::default(),
    };
    let r1 = Relayer::start(chain.clone(), opts(None))?;
    let api = RelayClient::new(&r1.url())?;
    let store = HttpStore::new(&r1.url())?;
    let chain_id = accounts.chain_id.clone();
    let mut hashes = vec![];
    for (i, p) in parts.iter().enumerate() {
        let dir = t.path().join(format!("b{i}"));
        let h = bundle(&dir, &p.key, id, i as f32 + 1.0);
        store.upload(&pack(&dir)?)?;
        let c = p
            .key
            .sign_commitment(&chain_id, d.round_manager.as_str(), id, &h)?;
        let ans = api.commit(&CommitRequest {
            round_id: id,
            update_hash: hex::encode(h),
            cid: None,
            commitment: c,
        })?;
        assert_eq!(ans.status, "queued");
        hashes.push((p.address().to_string(), h));
    }
    r1.stop();

    // Relayer 2 on the same directory: time from its start to the last commitment on chain.
    let started = Instant::now();
    let r2 = Relayer::start(chain.clone(), opts(Some(Duration::from_millis(500))))?;
    let dd = d.clone();
    let committed = loop {
        let dd = dd.clone();
        let n = chain
            .call(move |c| round::status(c, &dd, id).map(|r| r.committed))
            .map_err(|e| e.to_string())??;
        if n as usize == parts.len() || started.elapsed() > Duration::from_secs(120) {
            break n;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let recovery = started.elapsed();
    assert_eq!(committed as usize, parts.len(), "every commitment on chain");
    eprintln!("RECOVERY: {} pending commitments on chain {:.2} s after the relayer's restart (batches of 2, wasmd localnet)", parts.len(), recovery.as_secs_f64());
    // Exactly once: each participant's binding is its own update, and nothing is left.
    for (addr, h) in &hashes {
        let (dd, a) = (d.clone(), addr.clone());
        let p: rm::ParticipantResponse = chain
            .call(move |c| {
                fairshare_relayer::chain::ChainExt::query(
                    c,
                    dd.round_manager.as_str(),
                    &rm::QueryMsg::Participant {
                        round_id: id,
                        participant: a,
                    },
                )
            })
            .map_err(|e| e.to_string())??;
        assert_eq!(
            p.commitment.as_ref().map(|c| c.to_vec()),
            Some(binding(addr, h).to_vec())
        );
    }
    assert_eq!(
        r2.drain_now(&poster.key, 2)?.posted,
        0,
        "nothing posted twice"
    );

    // An evaluator on another host fetches every bundle by its hash and checks it.
    let view = RelayClient::new(&r2.url())?.round(id)?;
    assert_eq!(view.bundles.len(), parts.len());
    let store = HttpStore::new(&r2.url())?;
    for b in &view.bundles {
        fetch_bundle(
            &store,
            &Wanted {
                update_hash: &b.update_hash,
                cid: Some(&b.cid),
            },
            &t.path().join("eval").join(&b.participant),
        )?;
    }
    r2.stop();
    Ok(())
}
