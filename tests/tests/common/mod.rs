//! Helpers that let scenarios read like the story they tell.
#![allow(dead_code)]

use std::fmt::Debug;

use cosmwasm_std::{Addr, Decimal, HexBinary, SignedDecimal};
use fairshare_protocol::commitment::update_hash;
use fairshare_protocol::round_manager::{self as rm, ParticipantScore, Report, SignedCommitment};
use fairshare_relayer::embedded::{DeployOptions, EmbeddedChain, StakeKind};
use fairshare_relayer::keys::ParticipantKey;

/// Bond each evaluator posts by default (the default `min_bond`).
pub const BOND: u128 = 1_000;

/// A deployed chain with named, funded evaluators.
pub struct Scenario {
    pub chain: EmbeddedChain,
    pub evaluators: Vec<Addr>,
    pub relayer: Addr,
    /// Reports committed and not yet revealed: `(evaluator index, round, report, salt)`.
    pub pending: Vec<(usize, u64, Report, [u8; 32])>,
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
        let mut chain = EmbeddedChain::deploy(opts).expect("deploys");
        for e in &evaluators {
            chain.fund(e.as_str(), 100 * BOND).expect("funds evaluator");
        }
        let relayer = chain.addr("relayer");
        Self {
            chain,
            evaluators,
            relayer,
            pending: vec![],
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

    /// Evaluator `i` bonds [`BOND`] for `round` unless it already has.
    pub fn serve(&mut self, i: usize, round: u64) -> anyhow::Result<()> {
        let e = self.evaluators[i].clone();
        let bonded: rm::EvaluatorsResponse = self.chain.app.wrap().query_wasm_smart(
            self.chain.d.round_manager.clone(),
            &rm::QueryMsg::Evaluators { round_id: round },
        )?;
        if !bonded.evaluators.iter().any(|b| b.evaluator == e) {
            self.chain.serve(&e, round, BOND)?;
        }
        Ok(())
    }

    /// Evaluator `i` (bonding first if it has not) commits to reporting `values`
    /// (participant, φ) with ΔU `delta_u`; the report is revealed by [`Self::reveal_all`]
    /// (which [`Self::settle`] calls).
    pub fn report(
        &mut self,
        i: usize,
        round: u64,
        delta_u: &str,
        values: &[(&ParticipantKey, &str)],
    ) -> anyhow::Result<cw_multi_test::AppResponse> {
        self.commit_report(i, round, report_of(delta_u, values))
    }

    /// Every evaluator commits to the same report (an honest, unanimous panel).
    pub fn report_all(
        &mut self,
        round: u64,
        delta_u: &str,
        values: &[(&ParticipantKey, &str)],
    ) -> anyhow::Result<()> {
        for i in 0..self.evaluators.len() {
            self.report(i, round, delta_u, values)?;
        }
        Ok(())
    }

    /// Evaluator `i` (bonding first if it has not) commits to `report`.
    pub fn commit_report(
        &mut self,
        i: usize,
        round: u64,
        report: Report,
    ) -> anyhow::Result<cw_multi_test::AppResponse> {
        self.serve(i, round)?;
        let salt =
            fairshare_protocol::commitment::update_hash(format!("salt/{i}/{round}").as_bytes());
        let e = self.evaluators[i].clone();
        let res = self.chain.commit_report(&e, round, &report, &salt)?;
        self.pending.push((i, round, report, salt));
        Ok(res)
    }

    /// Moves to the reveal window (if before it) and reveals every pending report of `round`.
    pub fn reveal_all(&mut self, round: u64) -> anyhow::Result<()> {
        let r = self.chain.round(round)?;
        let h = self.chain.height();
        self.chain
            .advance(r.deadlines.report_until.saturating_sub(h));
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.1 == round);
        self.pending = rest;
        for (i, _, report, salt) in mine {
            let e = self.evaluators[i].clone();
            self.chain.reveal_report(&e, round, report, &salt)?;
        }
        Ok(())
    }

    /// Reveals the pending reports of `round` and moves past its dispute deadline, where
    /// settlement may start.
    pub fn to_settling(&mut self, round: u64) -> anyhow::Result<()> {
        self.reveal_all(round)?;
        let r = self.chain.round(round)?;
        let h = self.chain.height();
        self.chain
            .advance(r.deadlines.dispute_until.saturating_sub(h));
        Ok(())
    }

    /// Reveals what is pending, waits out the dispute window, then settles page after page.
    pub fn settle(&mut self, round: u64) -> anyhow::Result<cw_multi_test::AppResponse> {
        let r = self.chain.round(round)?;
        if matches!(
            r.phase,
            rm::Phase::Evaluating | rm::Phase::Revealing | rm::Phase::Challenging
        ) {
            self.to_settling(round)?;
        }
        self.settle_now(round)
    }

    /// Waits out the round's appeal window and has every bonded evaluator claim its bond
    /// and pay.
    pub fn claim_evaluators(&mut self, round: u64) -> anyhow::Result<()> {
        let r = self.chain.round(round)?;
        self.chain.advance(r.params.evaluation.appeal_blocks);
        let bonded: rm::EvaluatorsResponse = self.chain.app.wrap().query_wasm_smart(
            self.chain.d.round_manager.clone(),
            &rm::QueryMsg::Evaluators { round_id: round },
        )?;
        for b in bonded.evaluators {
            self.chain.claim(&b.evaluator, round)?;
        }
        Ok(())
    }

    /// Settles (page after page) at the current height, without moving time.
    pub fn settle_now(&mut self, round: u64) -> anyhow::Result<cw_multi_test::AppResponse> {
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

/// The standard error [`report_of`] gives every score: small enough that the verdicts' tests
/// decide on the values the scenarios choose.
pub fn default_se() -> Decimal {
    Decimal::from_atomics(1u128, 5).expect("0.00001")
}

pub fn report_of(delta_u: &str, values: &[(&ParticipantKey, &str)]) -> Report {
    Report {
        aggregate_hash: HexBinary::from(update_hash(b"aggregate").to_vec()),
        table_hash: HexBinary::from(update_hash(b"table").to_vec()),
        delta_u: delta_u.parse::<SignedDecimal>().expect("decimal"),
        dof: 7,
        scores: values
            .iter()
            .map(|(k, v)| ParticipantScore {
                participant: k.address().to_string(),
                value: v.parse().expect("decimal"),
                std_error: default_se(),
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
