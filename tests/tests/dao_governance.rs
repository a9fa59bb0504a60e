//! The DAO governs the other contracts: it owns the round-manager and the escrow and is their
//! wasm admin, so parameter changes and code migrations happen only by passed proposals.

use anyhow::Result as AnyResult;
use cosmwasm_schema::serde::{de::DeserializeOwned, Serialize};
use cosmwasm_std::{to_json_binary, Addr, CosmosMsg, Decimal, HexBinary, Uint128, WasmMsg};
use cw20::Cw20Coin;
use cw_multi_test::{App, AppResponse, Executor};
use fairshare_protocol::asset::StakeAsset;
use fairshare_protocol::dao::{self, Duration, ReceiveMsg, Status, Vote};
use fairshare_protocol::escrow;
use fairshare_protocol::round_manager::{self as rm, RoundParams, RoundSpec};
use fairshare_relayer::embedded::{
    dao_code as dao_contract, escrow_code as escrow_contract,
    round_manager_code as round_manager_contract, token_code as token_contract,
};

/// The deployment's default round parameters with another budget and evaluator set.
fn params(budget: u128, evaluators: Vec<String>, evaluator_quorum: u32) -> RoundParams {
    let mut p = fairshare_relayer::ops::default_params(evaluators, evaluator_quorum);
    p.rewards.budget = Uint128::new(budget);
    p
}

fn spec(n: u8) -> RoundSpec {
    RoundSpec {
        base_model_hash: HexBinary::from(vec![1; 32]),
        global_adapter_hash: HexBinary::from(vec![n; 32]),
        validation_set_hash: HexBinary::from(vec![3; 32]),
        task_uri: format!("fairshare://tasks/{n}"),
    }
}

fn wasm_execute<T: Serialize>(contract: &Addr, msg: &T) -> CosmosMsg {
    WasmMsg::Execute {
        contract_addr: contract.to_string(),
        msg: to_json_binary(msg).expect("serializable"),
        funds: vec![],
    }
    .into()
}

/// A chain where the DAO owns (and is wasm admin of) the round-manager and the escrow.
/// Alice, bob and carol stake 500, 300 and 200 of the incentive token.
struct Governed {
    app: App,
    token: Addr,
    dao: Addr,
    round_manager: Addr,
    escrow: Addr,
    operator: Addr,
}

impl Governed {
    fn new() -> Self {
        let mut app = App::default();
        let deployer = app.api().addr_make("deployer");
        let operator = app.api().addr_make("operator");
        let evaluators = ["evaluator-0", "evaluator-1", "evaluator-2"]
            .map(|e| app.api().addr_make(e).to_string());
        let token_code = app.store_code(token_contract());
        let dao_code = app.store_code(dao_contract());
        let rm_code = app.store_code(round_manager_contract());
        let escrow_code = app.store_code(escrow_contract());

        let initial_balances = ["alice", "bob", "carol"]
            .map(|n| Cw20Coin {
                address: app.api().addr_make(n).to_string(),
                amount: Uint128::new(1_000),
            })
            .to_vec();
        let token = app
            .instantiate_contract(
                token_code,
                deployer.clone(),
                &cw20_base::msg::InstantiateMsg {
                    name: "Fairshare".into(),
                    symbol: "FAIR".into(),
                    decimals: 6,
                    initial_balances,
                    mint: None,
                    marketing: None,
                },
                &[],
                "token",
                None,
            )
            .expect("token instantiates");
        let rules = dao::ConfigUpdate {
            unbonding_period: Duration::Height(2),
            voting_period: Duration::Height(10),
            quorum: Decimal::percent(30),
            threshold: Decimal::percent(50),
            allow_revoting: false,
            timelock: Some(Duration::Height(2)),
            execution_window: Duration::Height(20),
            deposit: Uint128::new(10),
        };
        let dao = app
            .instantiate_contract(
                dao_code,
                deployer.clone(),
                &dao::InstantiateMsg {
                    token: token.to_string(),
                    rules,
                },
                &[],
                "dao",
                None,
            )
            .expect("DAO instantiates");
        let round_manager = app
            .instantiate_contract(
                rm_code,
                deployer.clone(),
                &rm::InstantiateMsg {
                    owner: Some(dao.to_string()),
                    operator: Some(operator.to_string()),
                    escrow: None,
                    params: params(1_000_000, evaluators.to_vec(), 3),
                },
                &[],
                "round-manager",
                Some(dao.to_string()),
            )
            .expect("round-manager instantiates");
        let escrow = app
            .instantiate_contract(
                escrow_code,
                deployer,
                &escrow::InstantiateMsg {
                    owner: Some(dao.to_string()),
                    round_manager: round_manager.to_string(),
                    reward_token: token.to_string(),
                    stake_asset: StakeAsset::Native {
                        denom: "ustake".into(),
                    },
                    min_stake: Uint128::new(100),
                    treasury: dao.to_string(),
                },
                &[],
                "escrow",
                Some(dao.to_string()),
            )
            .expect("escrow instantiates");
        let mut g = Governed {
            app,
            token,
            dao,
            round_manager,
            escrow,
            operator,
        };
        for (who, amount) in [("alice", 500), ("bob", 300), ("carol", 200)] {
            g.send(who, amount, &ReceiveMsg::Stake {}).expect("stakes");
        }
        g.advance(1);
        // Even wiring the escrow into the round-manager is the DAO's decision.
        let wire = rm::ExecuteMsg::UpdateConfig {
            owner: None,
            operator: None,
            escrow: Some(g.escrow.to_string()),
        };
        let msg = wasm_execute(&g.round_manager, &wire);
        g.pass("wire the escrow", vec![msg]);
        g
    }

    fn addr(&self, name: &str) -> Addr {
        self.app.api().addr_make(name)
    }

    fn advance(&mut self, blocks: u64) {
        self.app.update_block(|b| {
            b.height += blocks;
            b.time = b.time.plus_seconds(5 * blocks);
        });
    }

    fn send(&mut self, who: &str, amount: u128, msg: &ReceiveMsg) -> AnyResult<AppResponse> {
        let send = cw20::Cw20ExecuteMsg::Send {
            contract: self.dao.to_string(),
            amount: Uint128::new(amount),
            msg: to_json_binary(msg)?,
        };
        let sender = self.addr(who);
        self.app
            .execute_contract(sender, self.token.clone(), &send, &[])
    }

    fn dao_exec(&mut self, who: &str, msg: &dao::ExecuteMsg) -> AnyResult<AppResponse> {
        let sender = self.addr(who);
        self.app
            .execute_contract(sender, self.dao.clone(), msg, &[])
    }

    fn proposal(&self, proposal_id: u64) -> dao::ProposalResponse {
        self.app
            .wrap()
            .query_wasm_smart(&self.dao, &dao::QueryMsg::Proposal { proposal_id })
            .expect("proposal query")
    }

    /// Alice proposes `msgs`, alice and bob (800 of 1000) vote yes, the timelock passes and
    /// carol executes. Returns the proposal id.
    fn pass(&mut self, title: &str, msgs: Vec<CosmosMsg>) -> u64 {
        let propose = ReceiveMsg::Propose {
            title: title.into(),
            description: String::new(),
            msgs,
        };
        let res = self.send("alice", 10, &propose).expect("proposes");
        let id: u64 = res
            .events
            .iter()
            .flat_map(|e| e.attributes.iter())
            .find(|a| a.key == "proposal_id")
            .expect("proposal id")
            .value
            .parse()
            .expect("a number");
        for who in ["alice", "bob"] {
            self.dao_exec(
                who,
                &dao::ExecuteMsg::Vote {
                    proposal_id: id,
                    vote: Vote::Yes,
                },
            )
            .expect("votes");
        }
        assert_eq!(self.proposal(id).status, Status::Passed);
        self.advance(2);
        self.dao_exec("carol", &dao::ExecuteMsg::Execute { proposal_id: id })
            .expect("executes");
        id
    }

    /// The operator opens a round; returns its id.
    fn open_round(&mut self, n: u8) -> u64 {
        let operator = self.operator.clone();
        let open = rm::ExecuteMsg::OpenRound { spec: spec(n) };
        self.app
            .execute_contract(operator, self.round_manager.clone(), &open, &[])
            .expect("operator opens a round");
        let config: rm::ConfigResponse = self.rm_query(&rm::QueryMsg::Config {});
        config.next_round_id - 1
    }

    fn rm_query<T: DeserializeOwned>(&self, msg: &rm::QueryMsg) -> T {
        self.app
            .wrap()
            .query_wasm_smart(&self.round_manager, msg)
            .expect("round-manager query")
    }

    fn round(&self, round_id: u64) -> rm::RoundResponse {
        self.rm_query(&rm::QueryMsg::Round { round_id })
    }
}

#[test]
fn a_proposal_changes_the_reward_budget_and_evaluators_of_the_next_round() {
    let mut g = Governed::new();
    let first = g.open_round(1);
    assert_eq!(
        g.round(first).params.rewards.budget,
        Uint128::new(1_000_000)
    );

    let new_evaluators = ["evaluator-3", "evaluator-4", "evaluator-5"]
        .map(|e| g.addr(e).to_string())
        .to_vec();
    let new_params = params(2_500_000, new_evaluators.clone(), 3);
    let update = rm::ExecuteMsg::UpdateParams {
        params: new_params.clone(),
    };

    // Nobody but the DAO may change them, not even its biggest staker.
    let alice = g.addr("alice");
    let err = g
        .app
        .execute_contract(alice, g.round_manager.clone(), &update, &[])
        .expect_err("not the owner");
    assert_eq!(
        err.downcast::<fairshare_round_manager::ContractError>()
            .expect("round-manager error"),
        fairshare_round_manager::ContractError::NotOwner
    );

    let msg = wasm_execute(&g.round_manager, &update);
    let id = g.pass("raise the budget, rotate evaluators", vec![msg]);
    let p = g.proposal(id);
    assert_eq!(p.status, Status::Executed);
    assert_eq!(p.execution_error, None);

    let config: rm::ConfigResponse = g.rm_query(&rm::QueryMsg::Config {});
    assert_eq!(config.params, new_params);
    assert_eq!(
        g.round(first).params.rewards.budget,
        Uint128::new(1_000_000),
        "an open round keeps its params"
    );
    let next = g.open_round(2);
    let round = g.round(next);
    assert_eq!(round.params.rewards.budget, Uint128::new(2_500_000));
    assert_eq!(round.params.evaluators, new_evaluators);
    assert_eq!(round.params.evaluator_quorum, 3);
}

#[test]
fn invalid_params_fail_execution_and_change_nothing() {
    let mut g = Governed::new();
    let before: rm::ConfigResponse = g.rm_query(&rm::QueryMsg::Config {});
    // A quorum of 3 reports from 1 evaluator is refused by the round-manager.
    let bad = rm::ExecuteMsg::UpdateParams {
        params: params(5, vec![g.addr("evaluator-9").to_string()], 3),
    };
    let msg = wasm_execute(&g.round_manager, &bad);
    let id = g.pass("impossible quorum", vec![msg]);
    let p = g.proposal(id);
    assert_eq!(p.status, Status::Passed, "executable again once fixed");
    let error = p.execution_error.expect("error recorded");
    assert!(error.contains("evaluator_quorum"), "{error}");
    let after: rm::ConfigResponse = g.rm_query(&rm::QueryMsg::Config {});
    assert_eq!(after, before);
}

#[test]
fn a_proposal_changes_the_escrow_minimum_stake() {
    let mut g = Governed::new();
    let update = escrow::ExecuteMsg::UpdateConfig {
        owner: None,
        round_manager: None,
        treasury: None,
        min_stake: Some(Uint128::new(750)),
    };
    let msg = wasm_execute(&g.escrow, &update);
    g.pass("raise the bond", vec![msg]);
    let config: escrow::ConfigResponse = g
        .app
        .wrap()
        .query_wasm_smart(&g.escrow, &escrow::QueryMsg::Config {})
        .expect("escrow config");
    assert_eq!(config.min_stake, Uint128::new(750));
    assert_eq!(config.owner, g.dao);
}

#[test]
fn a_proposal_migrates_the_round_manager_and_its_state_survives() {
    let mut g = Governed::new();
    let round_id = g.open_round(1);
    let round_before = g.round(round_id);
    let config_before: rm::ConfigResponse = g.rm_query(&rm::QueryMsg::Config {});
    let old_code = g
        .app
        .wrap()
        .query_wasm_contract_info(&g.round_manager)
        .expect("info")
        .code_id;
    let new_code = g.app.store_code(round_manager_contract());
    assert_ne!(old_code, new_code);
    let migrate = WasmMsg::Migrate {
        contract_addr: g.round_manager.to_string(),
        new_code_id: new_code,
        msg: to_json_binary(&rm::MigrateMsg {}).expect("serializable"),
    };

    // Only the wasm admin (the DAO) can migrate.
    let alice = g.addr("alice");
    g.app
        .execute(alice, migrate.clone().into())
        .expect_err("alice is not the admin");

    let id = g.pass("upgrade the round-manager", vec![migrate.into()]);
    assert_eq!(g.proposal(id).status, Status::Executed);
    let info = g
        .app
        .wrap()
        .query_wasm_contract_info(&g.round_manager)
        .expect("info");
    assert_eq!(info.code_id, new_code);
    assert_eq!(info.admin, Some(g.dao.clone()));
    assert_eq!(g.round(round_id), round_before);
    let config_after: rm::ConfigResponse = g.rm_query(&rm::QueryMsg::Config {});
    assert_eq!(config_after, config_before);
    let version = cw2::query_contract_info(&g.app.wrap(), &g.round_manager).expect("cw2 info");
    assert_eq!(version.contract, fairshare_round_manager::CONTRACT_NAME);
    // The migrated contract keeps working: the next round opens with the next id.
    assert_eq!(g.open_round(2), round_id + 1);
}
