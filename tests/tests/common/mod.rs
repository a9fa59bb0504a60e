//! Helpers that let scenarios read like the story they tell.
#![allow(dead_code)]

use std::fmt::Debug;

use cosmwasm_std::{Addr, Decimal, HexBinary, SignedDecimal};
use fairshare_protocol::commitment::update_hash;
use fairshare_protocol::round_manager::{self as rm, ParticipantScore, Report, SignedCommitment};
use fairshare_relayer::embedded::{DeployOptions, EmbeddedChain, StakeKind};
use fairshare_relayer::keys::ParticipantKey;

/// A deployed chain with named evaluators.
pub struct Scenario {
    pub chain: EmbeddedChain,
    pub evaluators: Vec<Addr>,
    pub relayer: Addr,
}

pub fn evaluator_addrs(n: usize) -> Vec<Addr> {
    let app = cw_multi_test::App::default();
    (0..n)
        .map(|i| app.api().addr_make(&format!("evaluator-{i}")))
        .collect()
}

impl Scenario {
    /// A chain with `n_eval` evaluators of which `quorum` must report.
    pub fn new(n_eval: usize, quorum: u32) -> Self {
        Self::with(n_eval, quorum, |_| {})
    }

    pub fn with(n_eval: usize, quorum: u32, tweak: impl FnOnce(&mut DeployOptions)) -> Self {
        let evaluators = evaluator_addrs(n_eval);
        let mut opts = DeployOptions::with_evaluators(
            evaluators.iter().map(|a| a.to_string()).collect(),
            quorum,
        );
        tweak(&mut opts);
        let chain = EmbeddedChain::deploy(opts).expect("deploys");
        let relayer = chain.addr("relayer");
        Self {
            chain,
            evaluators,
            relayer,
        }
    }

    pub fn cw20(n_eval: usize, quorum: u32) -> Self {
        Self::with(n_eval, quorum, |o| o.stake = StakeKind::Cw20)
    }

    /// A funded participant key.
    pub fn participant(&mut self, name: &str, funds: u128) -> ParticipantKey {
        let k = self.chain.key(name);
        if funds > 0 {
            self.chain.fund(k.address(), funds).expect("funds");
        }
        k
    }

    /// `n` funded participants named `p0..`.
    pub fn participants(&mut self, n: usize, funds: u128) -> Vec<ParticipantKey> {
        (0..n)
            .map(|i| self.participant(&format!("p{i}"), funds))
            .collect()
    }

    pub fn open(&mut self) -> u64 {
        self.chain.open_round("test").expect("opens")
    }

    pub fn join_all(&mut self, keys: &[ParticipantKey], round: u64, stake: u128) {
        for k in keys {
            self.chain.join(k, round, stake).expect("joins");
        }
    }

    /// A signed commitment of `key` to an update whose bytes are `label`.
    pub fn signed(&self, key: &ParticipantKey, round: u64, label: &str) -> SignedCommitment {
        self.chain.sign(key, round, &update_hash(label.as_bytes()))
    }

    /// Every key commits a distinct update, in one batch.
    pub fn commit_all(&mut self, keys: &[ParticipantKey], round: u64) {
        let batch = keys
            .iter()
            .map(|k| self.signed(k, round, &format!("update/{}/{round}", k.address())))
            .collect();
        let relayer = self.relayer.clone();
        self.chain.commit(&relayer, round, batch).expect("commits");
    }

    pub fn advance_to_training(&mut self, round: u64) {
        let r = self.chain.round(round).expect("round");
        let h = self.chain.height();
        self.chain.advance(r.deadlines.join_until.saturating_sub(h));
    }

    pub fn advance_to_evaluating(&mut self, round: u64) {
        let r = self.chain.round(round).expect("round");
        let h = self.chain.height();
        self.chain
            .advance(r.deadlines.commit_until.saturating_sub(h));
    }

    pub fn past_report_deadline(&mut self, round: u64) {
        let r = self.chain.round(round).expect("round");
        let h = self.chain.height();
        self.chain
            .advance(r.deadlines.report_until.saturating_sub(h));
    }

    /// Evaluator `i` reports `values` (participant, φ) with ΔU `delta_u`.
    pub fn report(
        &mut self,
        i: usize,
        round: u64,
        delta_u: &str,
        values: &[(&ParticipantKey, &str)],
    ) -> anyhow::Result<cw_multi_test::AppResponse> {
        let report = report_of(delta_u, values);
        let e = self.evaluators[i].clone();
        self.chain.report(&e, round, report)
    }

    pub fn settle(&mut self, round: u64) -> anyhow::Result<cw_multi_test::AppResponse> {
        let anyone = self.chain.addr("anyone");
        self.chain.settle(&anyone, round)
    }

    pub fn claim(
        &mut self,
        key: &ParticipantKey,
        round: u64,
    ) -> anyhow::Result<cw_multi_test::AppResponse> {
        self.chain.claim(&Addr::unchecked(key.address()), round)
    }

    pub fn result_of(&self, round: u64, key: &ParticipantKey) -> rm::ParticipantResult {
        self.chain
            .results(round)
            .expect("results")
            .into_iter()
            .find(|r| r.participant.as_str() == key.address())
            .expect("participant has a result")
    }

    /// Everything observable about the deployment, to prove a failed message changed nothing.
    pub fn snapshot(&self) -> String {
        let c = &self.chain;
        let q = |contract: &Addr, msg: serde_json::Value| -> serde_json::Value {
            c.app
                .wrap()
                .query_wasm_smart(contract, &msg)
                .unwrap_or(serde_json::Value::Null)
        };
        let mut out = serde_json::Map::new();
        out.insert(
            "rm_config".into(),
            q(&c.d.round_manager, serde_json::json!({"config": {}})),
        );
        out.insert(
            "rounds".into(),
            q(
                &c.d.round_manager,
                serde_json::json!({"rounds": {"limit": 100}}),
            ),
        );
        let rounds = c.rm_config().map(|r| r.next_round_id).unwrap_or(1);
        for id in 1..rounds {
            for kind in ["participants", "commitments", "reports", "results"] {
                out.insert(
                    format!("{kind}/{id}"),
                    q(
                        &c.d.round_manager,
                        serde_json::json!({kind: {"round_id": id, "limit": 100}}),
                    ),
                );
            }
            out.insert(
                format!("stakes/{id}"),
                q(
                    &c.d.escrow,
                    serde_json::json!({"stakes": {"round_id": id, "limit": 100}}),
                ),
            );
        }
        out.insert(
            "escrow_config".into(),
            q(&c.d.escrow, serde_json::json!({"config": {}})),
        );
        out.insert(
            "totals".into(),
            q(&c.d.escrow, serde_json::json!({"totals": {}})),
        );
        out.insert(
            "token".into(),
            q(&c.d.token, serde_json::json!({"token_info": {}})),
        );
        out.insert(
            "accounts".into(),
            q(
                &c.d.token,
                serde_json::json!({"all_accounts": {"limit": 30}}),
            ),
        );
        out.insert(
            "escrow_balance".into(),
            serde_json::json!(c.stake_balance(c.d.escrow.as_str()).ok()),
        );
        out.insert("height".into(), serde_json::json!(c.height()));
        serde_json::Value::Object(out).to_string()
    }
}

pub fn report_of(delta_u: &str, values: &[(&ParticipantKey, &str)]) -> Report {
    Report {
        aggregate_hash: HexBinary::from(update_hash(b"aggregate").to_vec()),
        delta_u: delta_u.parse::<SignedDecimal>().expect("decimal"),
        scores: values
            .iter()
            .map(|(k, v)| ParticipantScore {
                participant: k.address().to_string(),
                value: v.parse().expect("decimal"),
                std_error: Decimal::permille(1),
            })
            .collect(),
    }
}

/// Asserts that the root cause of `err` is exactly `expected`.
///
/// cw-multi-test turns a contract's error into a message (its `anyhow!` sees a generic type),
/// so the comparison is on the message, which names every field of the error.
pub fn assert_err<E>(err: &anyhow::Error, expected: &E)
where
    E: std::error::Error + PartialEq + Debug + Send + Sync + 'static,
{
    assert_eq!(
        err.root_cause().to_string(),
        expected.to_string(),
        "full error: {err:?}"
    );
}

/// Asserts that `f` fails with exactly `expected` and leaves every observable state unchanged.
pub fn assert_rejected<E, T, F>(s: &mut Scenario, expected: E, f: F)
where
    E: std::error::Error + PartialEq + Debug + Send + Sync + 'static,
    T: Debug,
    F: FnOnce(&mut Scenario) -> anyhow::Result<T>,
{
    let before = s.snapshot();
    let err = f(s).expect_err("the message must fail");
    assert_err(&err, &expected);
    assert_eq!(
        s.snapshot(),
        before,
        "a rejected message must change nothing"
    );
}
