//! cw-multi-test scenarios: a CW20 (cw20-base), the DAO, and a small target contract the DAO
//! owns.

mod adversarial;
mod invariants;
mod lifecycle;

use anyhow::Result as AnyResult;
use cosmwasm_std::{to_json_binary, Addr, CosmosMsg, Decimal, Empty, Uint128, WasmMsg};
use cw20::{BalanceResponse, Cw20Coin, Cw20ExecuteMsg, Cw20QueryMsg};
use cw_multi_test::{App, AppResponse, Contract, ContractWrapper, Executor};
use fairshare_protocol::dao::{
    Config, ConfigUpdate, Duration, ExecuteMsg, InstantiateMsg, LockedResponse, PowerResponse,
    ProposalResponse, ProposalsResponse, QueryMsg, ReceiveMsg, StakeResponse, Vote, VoteInfo,
    VotesResponse,
};

use crate::ContractError;

pub fn dao_contract() -> Box<dyn Contract<Empty>> {
    Box::new(
        ContractWrapper::new(
            crate::contract::execute,
            crate::contract::instantiate,
            crate::contract::query,
        )
        .with_reply(crate::contract::reply)
        .with_migrate(crate::contract::migrate),
    )
}

pub fn cw20_contract() -> Box<dyn Contract<Empty>> {
    Box::new(ContractWrapper::new(
        cw20_base::contract::execute,
        cw20_base::contract::instantiate,
        cw20_base::contract::query,
    ))
}

/// A contract with one owner-only setting, which an operator can pause: the thing a DAO
/// governs, and a way to make an execution fail and later succeed.
pub mod target {
    use cosmwasm_schema::cw_serde;
    use cosmwasm_std::{
        to_json_binary, Binary, Deps, DepsMut, Empty, Env, MessageInfo, Response, StdError,
        StdResult,
    };
    use cw_multi_test::{Contract, ContractWrapper};
    use cw_storage_plus::Item;

    #[cw_serde]
    pub struct InstantiateMsg {
        pub owner: String,
        pub operator: String,
    }

    #[cw_serde]
    pub enum ExecuteMsg {
        Set { value: String },
        Pause { paused: bool },
    }

    #[cw_serde]
    pub enum QueryMsg {
        Value {},
    }

    const OWNER: Item<String> = Item::new("owner");
    const OPERATOR: Item<String> = Item::new("operator");
    const PAUSED: Item<bool> = Item::new("paused");
    const VALUE: Item<String> = Item::new("value");

    fn instantiate(
        deps: DepsMut,
        _env: Env,
        _info: MessageInfo,
        msg: InstantiateMsg,
    ) -> StdResult<Response> {
        OWNER.save(deps.storage, &msg.owner)?;
        OPERATOR.save(deps.storage, &msg.operator)?;
        PAUSED.save(deps.storage, &false)?;
        VALUE.save(deps.storage, &String::new())?;
        Ok(Response::new())
    }

    fn execute(
        deps: DepsMut,
        _env: Env,
        info: MessageInfo,
        msg: ExecuteMsg,
    ) -> StdResult<Response> {
        match msg {
            ExecuteMsg::Set { value } => {
                if info.sender.as_str() != OWNER.load(deps.storage)? {
                    return Err(StdError::generic_err("target: not the owner"));
                }
                if PAUSED.load(deps.storage)? {
                    return Err(StdError::generic_err("target: paused"));
                }
                VALUE.save(deps.storage, &value)?;
            }
            ExecuteMsg::Pause { paused } => {
                if info.sender.as_str() != OPERATOR.load(deps.storage)? {
                    return Err(StdError::generic_err("target: not the operator"));
                }
                PAUSED.save(deps.storage, &paused)?;
            }
        }
        Ok(Response::new())
    }

    fn query(deps: Deps, _env: Env, msg: QueryMsg) -> StdResult<Binary> {
        match msg {
            QueryMsg::Value {} => to_json_binary(&VALUE.load(deps.storage)?),
        }
    }

    pub fn contract() -> Box<dyn Contract<Empty>> {
        Box::new(ContractWrapper::new(execute, instantiate, query))
    }
}

/// Default rules of the test DAO: votes over 20 blocks, quorum 30%, majority, 5-block
/// timelock and unbonding, 20-block execution window, deposit 100.
pub fn rules() -> ConfigUpdate {
    ConfigUpdate {
        unbonding_period: Duration::Height(5),
        voting_period: Duration::Height(20),
        quorum: Decimal::percent(30),
        threshold: Decimal::percent(50),
        allow_revoting: false,
        timelock: Some(Duration::Height(5)),
        execution_window: Duration::Height(20),
        deposit: Uint128::new(100),
    }
}

/// Everyone the tests name, each holding 1000 tokens at the start.
pub const PEOPLE: [&str; 5] = ["alice", "bob", "carol", "dave", "mallory"];
pub const INITIAL_BALANCE: u128 = 1000;

pub struct Suite {
    pub app: App,
    pub token: Addr,
    pub dao: Addr,
    pub dao_code: u64,
    pub deployer: Addr,
}

/// Everything a failed message must leave unchanged.
#[derive(Debug, PartialEq)]
pub struct Observed {
    pub config: Config,
    pub proposals: Vec<ProposalResponse>,
    pub votes: Vec<Vec<VoteInfo>>,
    pub stakes: Vec<StakeResponse>,
    pub locked: LockedResponse,
    pub total_power: PowerResponse,
    pub balances: Vec<u128>,
}

impl Suite {
    pub fn new() -> Self {
        Self::with_rules(rules()).expect("default rules are valid")
    }

    pub fn with_rules(rules: ConfigUpdate) -> AnyResult<Self> {
        let mut app = App::default();
        let deployer = app.api().addr_make("deployer");
        let cw20_code = app.store_code(cw20_contract());
        let dao_code = app.store_code(dao_contract());
        let initial_balances = PEOPLE
            .iter()
            .map(|name| Cw20Coin {
                address: app.api().addr_make(name).to_string(),
                amount: Uint128::new(INITIAL_BALANCE),
            })
            .collect();
        let token = app.instantiate_contract(
            cw20_code,
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
        )?;
        let dao = app.instantiate_contract(
            dao_code,
            deployer.clone(),
            &InstantiateMsg {
                token: token.to_string(),
                rules,
            },
            &[],
            "dao",
            Some(deployer.to_string()),
        )?;
        // The DAO is its own wasm admin, so only a proposal can migrate it.
        app.execute(
            deployer.clone(),
            WasmMsg::UpdateAdmin {
                contract_addr: dao.to_string(),
                admin: dao.to_string(),
            }
            .into(),
        )?;
        Ok(Suite {
            app,
            token,
            dao,
            dao_code,
            deployer,
        })
    }

    pub fn addr(&self, name: &str) -> Addr {
        self.app.api().addr_make(name)
    }

    /// Moves to the next `blocks` blocks (5 s each).
    pub fn advance(&mut self, blocks: u64) {
        self.app.update_block(|b| {
            b.height += blocks;
            b.time = b.time.plus_seconds(5 * blocks);
        });
    }

    pub fn height(&self) -> u64 {
        self.app.block_info().height
    }

    fn send(&mut self, who: &str, amount: u128, msg: &ReceiveMsg) -> AnyResult<AppResponse> {
        let sender = self.addr(who);
        let send = Cw20ExecuteMsg::Send {
            contract: self.dao.to_string(),
            amount: Uint128::new(amount),
            msg: to_json_binary(msg)?,
        };
        self.app
            .execute_contract(sender, self.token.clone(), &send, &[])
    }

    pub fn stake(&mut self, who: &str, amount: u128) -> AnyResult<AppResponse> {
        self.send(who, amount, &ReceiveMsg::Stake {})
    }

    pub fn dao_exec(&mut self, who: &str, msg: &ExecuteMsg) -> AnyResult<AppResponse> {
        let sender = self.addr(who);
        self.app
            .execute_contract(sender, self.dao.clone(), msg, &[])
    }

    pub fn unstake(&mut self, who: &str, amount: u128) -> AnyResult<AppResponse> {
        self.dao_exec(
            who,
            &ExecuteMsg::Unstake {
                amount: Uint128::new(amount),
            },
        )
    }

    pub fn claim(&mut self, who: &str) -> AnyResult<AppResponse> {
        self.dao_exec(who, &ExecuteMsg::Claim {})
    }

    /// Opens a proposal with the given deposit; returns its id.
    pub fn propose_with_deposit(
        &mut self,
        who: &str,
        deposit: u128,
        title: &str,
        msgs: Vec<CosmosMsg>,
    ) -> AnyResult<u64> {
        let res = self.send(
            who,
            deposit,
            &ReceiveMsg::Propose {
                title: title.into(),
                description: format!("{title}, proposed by {who}"),
                msgs,
            },
        )?;
        let id = res
            .events
            .iter()
            .filter(|e| e.ty == "wasm")
            .flat_map(|e| e.attributes.iter())
            .find(|a| a.key == "proposal_id")
            .expect("propose emits proposal_id")
            .value
            .parse()?;
        Ok(id)
    }

    /// Opens a proposal with the configured deposit; returns its id.
    pub fn propose(&mut self, who: &str, title: &str, msgs: Vec<CosmosMsg>) -> AnyResult<u64> {
        let deposit = self.config().deposit.u128();
        self.propose_with_deposit(who, deposit, title, msgs)
    }

    pub fn vote(&mut self, who: &str, proposal_id: u64, vote: Vote) -> AnyResult<AppResponse> {
        self.dao_exec(who, &ExecuteMsg::Vote { proposal_id, vote })
    }

    pub fn execute(&mut self, who: &str, proposal_id: u64) -> AnyResult<AppResponse> {
        self.dao_exec(who, &ExecuteMsg::Execute { proposal_id })
    }

    pub fn close(&mut self, who: &str, proposal_id: u64) -> AnyResult<AppResponse> {
        self.dao_exec(who, &ExecuteMsg::Close { proposal_id })
    }

    pub fn transfer(&mut self, from: &str, to: &str, amount: u128) -> AnyResult<AppResponse> {
        let msg = Cw20ExecuteMsg::Transfer {
            recipient: self.addr(to).to_string(),
            amount: Uint128::new(amount),
        };
        let sender = self.addr(from);
        self.app
            .execute_contract(sender, self.token.clone(), &msg, &[])
    }

    pub fn query<T: serde::de::DeserializeOwned>(&self, msg: &QueryMsg) -> T {
        self.app
            .wrap()
            .query_wasm_smart(&self.dao, msg)
            .expect("DAO query succeeds")
    }

    pub fn config(&self) -> Config {
        self.query(&QueryMsg::Config {})
    }

    pub fn proposal(&self, proposal_id: u64) -> ProposalResponse {
        self.query(&QueryMsg::Proposal { proposal_id })
    }

    pub fn proposals(&self) -> Vec<ProposalResponse> {
        let mut all = vec![];
        loop {
            let page: ProposalsResponse = self.query(&QueryMsg::Proposals {
                status: None,
                start_after: all.last().map(|p: &ProposalResponse| p.id),
                limit: None,
            });
            if page.proposals.is_empty() {
                return all;
            }
            all.extend(page.proposals);
        }
    }

    pub fn votes(&self, proposal_id: u64) -> Vec<VoteInfo> {
        let mut all = vec![];
        loop {
            let page: VotesResponse = self.query(&QueryMsg::Votes {
                proposal_id,
                start_after: all.last().map(|v: &VoteInfo| v.voter.to_string()),
                limit: Some(2),
            });
            if page.votes.is_empty() {
                return all;
            }
            all.extend(page.votes);
        }
    }

    pub fn power(&self, who: &str, height: Option<u64>) -> u128 {
        let res: PowerResponse = self.query(&QueryMsg::VotingPower {
            address: self.addr(who).to_string(),
            height,
        });
        res.power.u128()
    }

    pub fn total_power(&self, height: Option<u64>) -> u128 {
        let res: PowerResponse = self.query(&QueryMsg::TotalPower { height });
        res.power.u128()
    }

    pub fn staked(&self, who: &str) -> StakeResponse {
        self.query(&QueryMsg::Stake {
            address: self.addr(who).to_string(),
        })
    }

    pub fn locked(&self) -> LockedResponse {
        self.query(&QueryMsg::Locked {})
    }

    pub fn balance_of(&self, addr: &Addr) -> u128 {
        let res: BalanceResponse = self
            .app
            .wrap()
            .query_wasm_smart(
                &self.token,
                &Cw20QueryMsg::Balance {
                    address: addr.to_string(),
                },
            )
            .expect("balance query succeeds");
        res.balance.u128()
    }

    pub fn balance(&self, who: &str) -> u128 {
        self.balance_of(&self.addr(who))
    }

    pub fn observe(&self) -> Observed {
        let proposals = self.proposals();
        Observed {
            config: self.config(),
            votes: proposals.iter().map(|p| self.votes(p.id)).collect(),
            proposals,
            stakes: PEOPLE.iter().map(|p| self.staked(p)).collect(),
            locked: self.locked(),
            total_power: self.query(&QueryMsg::TotalPower { height: None }),
            balances: PEOPLE
                .iter()
                .map(|p| self.balance(p))
                .chain([self.balance_of(&self.dao)])
                .collect(),
        }
    }

    /// Deploys a target contract owned by the DAO and operated by `deployer`.
    pub fn deploy_target(&mut self) -> Addr {
        let code = self.app.store_code(target::contract());
        self.app
            .instantiate_contract(
                code,
                self.deployer.clone(),
                &target::InstantiateMsg {
                    owner: self.dao.to_string(),
                    operator: self.deployer.to_string(),
                },
                &[],
                "target",
                None,
            )
            .expect("target instantiates")
    }

    pub fn target_value(&self, target: &Addr) -> String {
        self.app
            .wrap()
            .query_wasm_smart(target, &target::QueryMsg::Value {})
            .expect("target query succeeds")
    }
}

/// A message from the DAO to its target contract.
pub fn set_value(target: &Addr, value: &str) -> CosmosMsg {
    WasmMsg::Execute {
        contract_addr: target.to_string(),
        msg: to_json_binary(&target::ExecuteMsg::Set {
            value: value.into(),
        })
        .expect("serializable"),
        funds: vec![],
    }
    .into()
}

/// The DAO's own error inside an app error.
pub fn contract_error(err: anyhow::Error) -> ContractError {
    match err.downcast::<ContractError>() {
        Ok(e) => e,
        Err(other) => panic!("expected a ContractError, got {other:?}"),
    }
}

/// Alice, bob and carol stake 500, 300 and 200 (total 1000), then a block passes so the
/// stakes count for proposals opened from now on.
pub fn staked_suite() -> Suite {
    let mut suite = Suite::new();
    for (who, amount) in [("alice", 500), ("bob", 300), ("carol", 200)] {
        suite.stake(who, amount).expect("stake succeeds");
    }
    suite.advance(1);
    suite
}
