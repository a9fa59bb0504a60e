//! Helpers that let scenarios read like the story they tell.
#![allow(dead_code)]

use std::fmt::Debug;

use cosmwasm_std::{Addr, Decimal, HexBinary, SignedDecimal};
use fairshare_protocol::commitment::update_hash;
use fairshare_protocol::escrow;
use fairshare_protocol::report::{
    grand_value, nanos_to_decimal, pack_utilities, shapley, Estimator, UtilityTable,
};
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

    /// Moves to the end of report commitments, where reveals open.
    pub fn past_report_deadline(&mut self, round: u64) {
        let r = self.chain.round(round).expect("round");
        let h = self.chain.height();
        self.chain
            .advance(r.deadlines.report_until.saturating_sub(h));
    }

    /// Evaluator `i` bonds [`BOND`] for `round` unless it already has.
    pub fn serve(&mut self, i: usize, round: u64) -> anyhow::Result<()> {
        let e = self.evaluators[i].clone();
        if !self.bonded(round)?.iter().any(|b| b.evaluator == e) {
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
        self.past_report_deadline(round);
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

    /// Evaluator `i` reveals its pending report of `round` (in the reveal window); the report
    /// stays pending if the reveal fails.
    pub fn reveal(&mut self, i: usize, round: u64) -> anyhow::Result<cw_multi_test::AppResponse> {
        let at = self
            .pending
            .iter()
            .position(|p| p.0 == i && p.1 == round)
            .expect("evaluator i has a pending report in the round");
        let (_, _, report, salt) = self.pending[at].clone();
        let e = self.evaluators[i].clone();
        let res = self.chain.reveal_report(&e, round, report, &salt)?;
        self.pending.remove(at);
        Ok(res)
    }

    /// Evaluator `i` keeps its committed report of `round` to itself: it will never reveal it.
    pub fn withhold(&mut self, i: usize, round: u64) {
        self.pending.retain(|p| !(p.0 == i && p.1 == round));
    }

    /// Reveals the pending reports of `round` and moves past its dispute deadline, where
    /// settlement may start.
    pub fn past_dispute_deadline(&mut self, round: u64) -> anyhow::Result<()> {
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
            self.past_dispute_deadline(round)?;
        }
        self.settle_now(round)
    }

    /// Waits out the round's appeal window and has every bonded evaluator claim its bond
    /// and pay.
    pub fn claim_evaluators(&mut self, round: u64) -> anyhow::Result<()> {
        let r = self.chain.round(round)?;
        self.chain.advance(r.params.evaluation.appeal_blocks);
        for b in self.bonded(round)? {
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

    /// `sender` asks the round-manager to use `params` from the next round on.
    pub fn update_params(
        &mut self,
        sender: &Addr,
        params: rm::RoundParams,
    ) -> anyhow::Result<cw_multi_test::AppResponse> {
        use cw_multi_test::Executor;
        let rm_addr = self.chain.d.round_manager.clone();
        self.chain.app.execute_contract(
            sender.clone(),
            rm_addr,
            &rm::ExecuteMsg::UpdateParams { params },
            &[],
        )
    }

    /// Everyone of the scenario who holds the stake asset: `keys`, the evaluators, the escrow
    /// and the treasury.
    pub fn stake_holders(&self, keys: &[ParticipantKey]) -> Vec<String> {
        keys.iter()
            .map(|k| k.address().to_string())
            .chain(self.evaluators.iter().map(Addr::to_string))
            .chain([
                self.chain.d.escrow.to_string(),
                self.chain.d.treasury.to_string(),
            ])
            .collect()
    }

    /// What `holders` hold of the stake asset together.
    pub fn held_by(&self, holders: &[String]) -> u128 {
        holders.iter().map(|h| self.balance(h)).sum()
    }

    /// Balance of `who` in the stake asset.
    pub fn balance(&self, who: &str) -> u128 {
        self.chain.stake_balance(who).expect("balance")
    }

    /// What the escrow holds in the stake asset.
    pub fn escrow_balance(&self) -> u128 {
        self.balance(self.chain.d.escrow.as_str())
    }

    /// What the treasury holds in the stake asset (slashes and forfeited deposits).
    pub fn treasury_balance(&self) -> u128 {
        self.balance(self.chain.d.treasury.as_str())
    }

    /// The settled figures of `round`.
    pub fn summary(&self, round: u64) -> rm::SettlementSummary {
        self.chain
            .round(round)
            .expect("round")
            .settlement
            .expect("settled")
    }

    /// Evaluator `i`'s standing in the ended `round`.
    pub fn evaluator_result(&self, round: u64, i: usize) -> rm::EvaluatorResult {
        self.chain
            .evaluator_result(round, &self.evaluators[i])
            .expect("evaluator result")
    }

    /// A query of the round-manager.
    pub fn query_rm<T: cosmwasm_schema::serde::de::DeserializeOwned>(
        &self,
        msg: &rm::QueryMsg,
    ) -> cosmwasm_std::StdResult<T> {
        self.chain
            .app
            .wrap()
            .query_wasm_smart(&self.chain.d.round_manager, msg)
    }

    /// The evaluators bonded for `round`, with where their reports are.
    pub fn bonded(&self, round: u64) -> cosmwasm_std::StdResult<Vec<rm::EvaluatorInfo>> {
        self.query_rm::<rm::EvaluatorsResponse>(&rm::QueryMsg::Evaluators { round_id: round })
            .map(|r| r.evaluators)
    }

    /// The disputes heard in `round`, by evaluator.
    pub fn disputes(&self, round: u64) -> Vec<rm::DisputeInfo> {
        self.query_rm::<rm::DisputesResponse>(&rm::QueryMsg::Disputes { round_id: round })
            .expect("disputes")
            .disputes
    }

    /// What `challenger`'s disputes in `round` come to.
    pub fn challenger_result(&self, round: u64, challenger: &str) -> rm::ChallengerResult {
        self.query_rm(&rm::QueryMsg::ChallengerResult {
            round_id: round,
            challenger: challenger.to_string(),
        })
        .expect("challenger result")
    }

    /// What `who` has bonded in `round` as `role`, as the escrow shows it (an error if
    /// nothing).
    pub fn bond(
        &self,
        round: u64,
        who: &str,
        role: escrow::Role,
    ) -> cosmwasm_std::StdResult<escrow::StakeResponse> {
        self.chain.app.wrap().query_wasm_smart(
            &self.chain.d.escrow,
            &escrow::QueryMsg::Bond {
                round_id: round,
                address: who.to_string(),
                role,
            },
        )
    }

    /// The hash of the validation set `round` was opened with.
    pub fn validation_set_hash(&self, round: u64) -> HexBinary {
        self.chain
            .round(round)
            .expect("round")
            .spec
            .validation_set_hash
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
            for kind in ["evaluators", "disputes"] {
                out.insert(
                    format!("{kind}/{id}"),
                    q(
                        &c.d.round_manager,
                        serde_json::json!({kind: {"round_id": id}}),
                    ),
                );
            }
            for e in &self.evaluators {
                out.insert(
                    format!("bond/{id}/{e}"),
                    q(
                        &c.d.escrow,
                        serde_json::json!({"bond": {"round_id": id, "address": e, "role": "evaluator"}}),
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

/// `keys` with the values an evaluator reports for them, in order.
pub fn pairs<'a>(
    keys: &'a [ParticipantKey],
    values: &[&'a str],
) -> Vec<(&'a ParticipantKey, &'a str)> {
    keys.iter().zip(values.iter().copied()).collect()
}

/// An exact coalition-utility table of `participants` (bit i of a coalition's index stands
/// for `participants[i]`; `utilities[0]`, the empty coalition, must be 0) measured on the
/// validation set `validation_set_hash`.
pub fn exact_table(
    participants: &[&ParticipantKey],
    validation_set_hash: HexBinary,
    utilities: &[f64],
) -> UtilityTable {
    UtilityTable {
        participants: participants
            .iter()
            .map(|k| k.address().to_string())
            .collect(),
        validation_set_hash,
        estimator: Estimator::Exact,
        utilities: pack_utilities(utilities).expect("finite utilities"),
    }
}

/// The report that follows from `table` exactly: each φ its Shapley value, ΔU its U(N), every
/// standard error [`default_se`], committed to the table's hash.
pub fn report_from_table(table: &UtilityTable) -> Report {
    let (num, den) = shapley(table).expect("a well-formed table");
    let (g, gd) = grand_value(table).expect("a well-formed table");
    Report {
        aggregate_hash: HexBinary::from(update_hash(b"aggregate").to_vec()),
        table_hash: HexBinary::from(table.hash().to_vec()),
        delta_u: nanos_to_decimal(g, gd),
        dof: 7,
        scores: table
            .participants
            .iter()
            .zip(&num)
            .map(|(p, &x)| ParticipantScore {
                participant: p.clone(),
                value: nanos_to_decimal(x, den),
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
