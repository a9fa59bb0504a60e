//! The embedded chain: cw-multi-test running the real contract code, deployed and wired the
//! way `fairshare deploy` wires a real chain (escrow as the token's minter, the owner — the
//! DAO once it exists — owning every parameter).

use anyhow::{anyhow, Context, Result};
use cosmwasm_std::{coins, Addr, Coin, CosmosMsg, Empty, Uint128, WasmMsg};
use cw20::{
    AllAccountsResponse, BalanceResponse, Cw20ExecuteMsg, MinterResponse, TokenInfoResponse,
};
use cw_multi_test::{App, AppResponse, BankSudo, Contract, ContractWrapper, Executor, SudoMsg};
use fairshare_protocol::dao::ConfigUpdate;
use fairshare_protocol::escrow::{self, StakeResponse, TotalsResponse};
use fairshare_protocol::round_manager::{
    self as rm, Report, RoundParams, RoundResponse, RoundSpec, SignedCommitment,
};
use serde::Serialize;

use crate::chain::{Chain, ChainError, ContractKind, TxOutcome};
use crate::keys::ParticipantKey;
use crate::ops::{self, Roles};
pub use crate::ops::{default_params, spec_for, Deployment, StakeKind};

/// Native denom of stakes on the embedded chain.
pub const STAKE_DENOM: &str = "ufair";
/// Bech32 prefix of the embedded chain's addresses.
pub const ADDRESS_PREFIX: &str = "cosmwasm";

/// The round-manager's code, for cw-multi-test.
pub fn round_manager_code() -> Box<dyn Contract<Empty>> {
    use fairshare_round_manager::contract as c;
    Box::new(ContractWrapper::new(c::execute, c::instantiate, c::query).with_migrate(c::migrate))
}

/// The escrow's code, for cw-multi-test.
pub fn escrow_code() -> Box<dyn Contract<Empty>> {
    use fairshare_escrow::contract as c;
    Box::new(ContractWrapper::new(c::execute, c::instantiate, c::query).with_migrate(c::migrate))
}

/// The incentive token's code, for cw-multi-test.
pub fn token_code() -> Box<dyn Contract<Empty>> {
    use fairshare_incentive_token as c;
    Box::new(ContractWrapper::new(c::execute, c::instantiate, c::query).with_migrate(c::migrate))
}

/// What to deploy with on the embedded chain.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    pub params: RoundParams,
    pub min_stake: Uint128,
    pub token_cap: Option<Uint128>,
    /// Native coin [`STAKE_DENOM`] or the CW20.
    pub stake: StakeKind,
    /// CW20 minted to the faucet at genesis (for CW20 stakes).
    pub faucet_tokens: Uint128,
    /// Deploy the DAO and hand it every parameter.
    pub dao: Option<ConfigUpdate>,
}

impl DeployOptions {
    /// Sensible defaults with the given evaluators (addresses).
    pub fn with_evaluators(evaluators: Vec<String>, quorum: u32) -> Self {
        Self {
            params: default_params(evaluators, quorum),
            min_stake: Uint128::new(100),
            token_cap: Some(Uint128::new(1_000_000_000_000)),
            stake: StakeKind::Native(STAKE_DENOM.into()),
            faucet_tokens: Uint128::new(1_000_000_000),
            dao: None,
        }
    }
}

/// A deployed Fairshare on cw-multi-test.
pub struct EmbeddedChain {
    pub app: App,
    pub d: Deployment,
    pub stake: StakeKind,
    /// Holds the CW20 minted at genesis.
    pub faucet: Addr,
    /// The deployer, which owns every parameter when there is no DAO.
    pub owner_key: ParticipantKey,
    /// Opens rounds.
    pub operator_key: ParticipantKey,
}

fn rejected(err: anyhow::Error) -> ChainError {
    ChainError::Rejected {
        tx_hash: None,
        log: err.root_cause().to_string(),
    }
}

fn outcome(app: &App, res: AppResponse) -> TxOutcome {
    TxOutcome {
        tx_hash: None,
        height: app.block_info().height,
        gas_used: None,
        attributes: res
            .events
            .into_iter()
            .flat_map(|e| {
                let ty = e.ty;
                e.attributes
                    .into_iter()
                    .map(move |a| (ty.clone(), a.key, a.value))
            })
            .collect(),
    }
}

/// The DAO's code, for cw-multi-test.
pub fn dao_code() -> Box<dyn Contract<Empty>> {
    use fairshare_dao::contract as c;
    Box::new(
        ContractWrapper::new(c::execute, c::instantiate, c::query)
            .with_reply(c::reply)
            .with_migrate(c::migrate),
    )
}

impl Chain for App {
    fn chain_id(&self) -> Result<String, ChainError> {
        Ok(self.block_info().chain_id)
    }

    fn address_prefix(&self) -> &str {
        ADDRESS_PREFIX
    }

    fn height(&self) -> Result<u64, ChainError> {
        Ok(self.block_info().height)
    }

    fn store_code(
        &mut self,
        signer: &ParticipantKey,
        kind: ContractKind,
    ) -> Result<u64, ChainError> {
        let code = match kind {
            ContractKind::RoundManager => round_manager_code(),
            ContractKind::Escrow => escrow_code(),
            ContractKind::IncentiveToken => token_code(),
            ContractKind::Dao => dao_code(),
        };
        Ok(self.store_code_with_creator(Addr::unchecked(signer.address()), code))
    }

    fn instantiate(
        &mut self,
        signer: &ParticipantKey,
        code_id: u64,
        msg: &serde_json::Value,
        label: &str,
        admin: Option<&str>,
    ) -> Result<String, ChainError> {
        self.instantiate_contract(
            code_id,
            Addr::unchecked(signer.address()),
            msg,
            &[],
            label,
            admin.map(str::to_string),
        )
        .map(|a| a.into_string())
        .map_err(rejected)
    }

    fn execute(
        &mut self,
        signer: &ParticipantKey,
        contract: &str,
        msg: &serde_json::Value,
        funds: &[Coin],
    ) -> Result<TxOutcome, ChainError> {
        let res = self
            .execute_contract(
                Addr::unchecked(signer.address()),
                Addr::unchecked(contract),
                msg,
                funds,
            )
            .map_err(rejected)?;
        Ok(outcome(self, res))
    }

    fn migrate(
        &mut self,
        signer: &ParticipantKey,
        contract: &str,
        code_id: u64,
        msg: &serde_json::Value,
    ) -> Result<TxOutcome, ChainError> {
        let res = self
            .migrate_contract(
                Addr::unchecked(signer.address()),
                Addr::unchecked(contract),
                msg,
                code_id,
            )
            .map_err(rejected)?;
        Ok(outcome(self, res))
    }

    fn update_admin(
        &mut self,
        signer: &ParticipantKey,
        contract: &str,
        new_admin: &str,
    ) -> Result<TxOutcome, ChainError> {
        let msg = CosmosMsg::Wasm(WasmMsg::UpdateAdmin {
            contract_addr: contract.to_string(),
            admin: new_admin.to_string(),
        });
        let res =
            Executor::execute(self, Addr::unchecked(signer.address()), msg).map_err(rejected)?;
        Ok(outcome(self, res))
    }

    fn query_raw(
        &self,
        contract: &str,
        msg: &serde_json::Value,
    ) -> Result<serde_json::Value, ChainError> {
        self.wrap()
            .query_wasm_smart(contract, msg)
            .map_err(|e| ChainError::Query(e.to_string()))
    }

    fn balance(&self, address: &str, denom: &str) -> Result<u128, ChainError> {
        self.wrap()
            .query_balance(address, denom)
            .map(|c| c.amount.u128())
            .map_err(|e| ChainError::Query(e.to_string()))
    }

    fn wait_blocks(&mut self, n: u64) -> Result<(), ChainError> {
        self.update_block(|b| {
            b.height += n;
            b.time = b.time.plus_seconds(5 * n);
        });
        Ok(())
    }
}

impl EmbeddedChain {
    /// Deploys and wires every contract through [`ops::deploy`], as on a real chain.
    pub fn deploy(opts: DeployOptions) -> Result<Self> {
        let mut app = App::default();
        let key = |seed: &str| {
            ParticipantKey::from_seed(seed.as_bytes(), ADDRESS_PREFIX)
                .expect("the embedded chain's prefix is valid bech32")
        };
        let owner_key = key("owner");
        let operator_key = key("operator");
        let faucet = app.api().addr_make("faucet");
        let roles = Roles {
            operator: operator_key.address().to_string(),
            treasury: app.api().addr_make("treasury").to_string(),
        };
        let ops_opts = ops::DeployOptions {
            params: opts.params,
            min_stake: opts.min_stake,
            token_cap: opts.token_cap,
            stake: opts.stake.clone(),
            initial_tokens: vec![(faucet.to_string(), opts.faucet_tokens)],
            dao: opts.dao,
        };
        let d =
            ops::deploy(&mut app, &owner_key, &roles, &ops_opts).context("deploying Fairshare")?;
        Ok(Self {
            app,
            d,
            stake: opts.stake,
            faucet,
            owner_key,
            operator_key,
        })
    }

    /// A well-formed address for `name` on this chain.
    pub fn addr(&self, name: &str) -> Addr {
        self.app.api().addr_make(name)
    }

    /// A participant key derived from `seed`, with an address on this chain.
    pub fn key(&self, seed: &str) -> ParticipantKey {
        ParticipantKey::from_seed(seed.as_bytes(), ADDRESS_PREFIX)
            .expect("the embedded chain's prefix is valid bech32")
    }

    pub fn chain_id(&self) -> String {
        self.app.block_info().chain_id
    }

    pub fn height(&self) -> u64 {
        self.app.block_info().height
    }

    /// Moves the chain `blocks` blocks (5 s each) forward.
    pub fn advance(&mut self, blocks: u64) {
        let _ = Chain::wait_blocks(&mut self.app, blocks);
    }

    /// Gives `to` `amount` of the stake asset (native mint, or a CW20 transfer from the faucet).
    pub fn fund(&mut self, to: &str, amount: u128) -> Result<()> {
        match self.stake.clone() {
            StakeKind::Native(denom) => {
                self.app
                    .sudo(SudoMsg::Bank(BankSudo::Mint {
                        to_address: to.to_string(),
                        amount: coins(amount, denom.as_str()),
                    }))
                    .context("minting stake coins")?;
            }
            StakeKind::Cw20 => {
                self.app
                    .execute_contract(
                        self.faucet.clone(),
                        self.d.token.clone(),
                        &Cw20ExecuteMsg::Transfer {
                            recipient: to.to_string(),
                            amount: Uint128::new(amount),
                        },
                        &[],
                    )
                    .context("sending stake tokens from the faucet")?;
            }
        }
        Ok(())
    }

    fn exec<M: Serialize + std::fmt::Debug>(
        &mut self,
        sender: &Addr,
        contract: &Addr,
        msg: &M,
        funds: &[Coin],
    ) -> Result<AppResponse> {
        self.app
            .execute_contract(sender.clone(), contract.clone(), msg, funds)
    }

    /// A round spec whose hashes are derived from `label`.
    pub fn round_spec_for_tests(&self) -> RoundSpec {
        spec_for("test")
    }

    /// The operator opens a round with a spec derived from `label`.
    pub fn open_round(&mut self, label: &str) -> Result<u64> {
        let spec = spec_for(label);
        let operator = self.d.operator.clone();
        let rm = self.d.round_manager.clone();
        let res = self.exec(&operator, &rm, &rm::ExecuteMsg::OpenRound { spec }, &[])?;
        res.events
            .iter()
            .flat_map(|e| e.attributes.iter())
            .find(|a| a.key == "round_id")
            .and_then(|a| a.value.parse().ok())
            .ok_or_else(|| anyhow!("OpenRound returned no round_id"))
    }

    /// Pays `amount` of the stake asset into the escrow with `native` (native coin) or
    /// `hook` (CW20 `Send`).
    fn pay_escrow(
        &mut self,
        who: &Addr,
        amount: u128,
        native: &escrow::ExecuteMsg,
        hook: &escrow::ReceiveMsg,
    ) -> Result<AppResponse> {
        let escrow_addr = self.d.escrow.clone();
        match self.stake.clone() {
            StakeKind::Native(denom) => {
                self.exec(who, &escrow_addr, native, &coins(amount, denom.as_str()))
            }
            StakeKind::Cw20 => {
                let token = self.d.token.clone();
                self.exec(
                    who,
                    &token,
                    &Cw20ExecuteMsg::Send {
                        contract: escrow_addr.to_string(),
                        amount: Uint128::new(amount),
                        msg: cosmwasm_std::to_json_binary(hook)?,
                    },
                    &[],
                )
            }
        }
    }

    /// `key` bonds `stake` and joins `round_id`.
    pub fn join(
        &mut self,
        key: &ParticipantKey,
        round_id: u64,
        stake: u128,
    ) -> Result<AppResponse> {
        let who = Addr::unchecked(key.address());
        let pubkey = key.pubkey();
        self.pay_escrow(
            &who,
            stake,
            &escrow::ExecuteMsg::Join {
                round_id,
                pubkey: pubkey.clone(),
            },
            &escrow::ReceiveMsg::Join { round_id, pubkey },
        )
    }

    /// `evaluator` bonds `bond` to serve in `round_id`.
    pub fn serve(&mut self, evaluator: &Addr, round_id: u64, bond: u128) -> Result<AppResponse> {
        self.pay_escrow(
            evaluator,
            bond,
            &escrow::ExecuteMsg::Serve { round_id },
            &escrow::ReceiveMsg::Serve { round_id },
        )
    }

    /// `evaluator` commits to `report` with `salt` (only its digest goes on chain).
    pub fn commit_report(
        &mut self,
        evaluator: &Addr,
        round_id: u64,
        report: &Report,
        salt: &[u8; 32],
    ) -> Result<AppResponse> {
        let rm = self.d.round_manager.clone();
        let digest = fairshare_protocol::report::digest(
            rm.as_str(),
            round_id,
            evaluator.as_str(),
            report,
            salt,
        );
        self.exec(
            evaluator,
            &rm,
            &rm::ExecuteMsg::CommitReport {
                round_id,
                digest: cosmwasm_std::HexBinary::from(digest.to_vec()),
            },
            &[],
        )
    }

    /// `evaluator` reveals the report it committed to.
    pub fn reveal_report(
        &mut self,
        evaluator: &Addr,
        round_id: u64,
        report: Report,
        salt: &[u8; 32],
    ) -> Result<AppResponse> {
        let rm = self.d.round_manager.clone();
        self.exec(
            evaluator,
            &rm,
            &rm::ExecuteMsg::RevealReport {
                round_id,
                report,
                salt: cosmwasm_std::HexBinary::from(salt.to_vec()),
            },
            &[],
        )
    }

    /// `challenger` disputes `evaluator`'s report with `table`, bonding `deposit`.
    pub fn dispute(
        &mut self,
        challenger: &Addr,
        round_id: u64,
        evaluator: &Addr,
        table: fairshare_protocol::report::UtilityTable,
        deposit: u128,
    ) -> Result<AppResponse> {
        self.pay_escrow(
            challenger,
            deposit,
            &escrow::ExecuteMsg::Dispute {
                round_id,
                evaluator: evaluator.to_string(),
                table: table.clone(),
            },
            &escrow::ReceiveMsg::Dispute {
                round_id,
                evaluator: evaluator.to_string(),
                table,
            },
        )
    }

    /// An evaluator's standing in an ended round.
    pub fn evaluator_result(&self, round_id: u64, evaluator: &Addr) -> Result<rm::EvaluatorResult> {
        Ok(self.app.wrap().query_wasm_smart(
            self.d.round_manager.clone(),
            &rm::QueryMsg::EvaluatorResult {
                round_id,
                evaluator: evaluator.to_string(),
            },
        )?)
    }

    /// `key`'s signed commitment to `update_hash` in `round_id` on this chain.
    pub fn sign(
        &self,
        key: &ParticipantKey,
        round_id: u64,
        update_hash: &[u8; 32],
    ) -> SignedCommitment {
        key.sign_commitment(
            &self.chain_id(),
            self.d.round_manager.as_str(),
            round_id,
            update_hash,
        )
        .expect("signing a 32-byte digest cannot fail")
    }

    /// `poster` (anyone) posts a batch of commitments.
    pub fn commit(
        &mut self,
        poster: &Addr,
        round_id: u64,
        commitments: Vec<SignedCommitment>,
    ) -> Result<AppResponse> {
        let rm = self.d.round_manager.clone();
        self.exec(
            poster,
            &rm,
            &rm::ExecuteMsg::CommitUpdates {
                round_id,
                commitments,
            },
            &[],
        )
    }

    /// One page of a round's settlement; `limit` in work units.
    pub fn settle_page(
        &mut self,
        caller: &Addr,
        round_id: u64,
        limit: Option<u32>,
    ) -> Result<AppResponse> {
        let rm = self.d.round_manager.clone();
        self.exec(
            caller,
            &rm,
            &rm::ExecuteMsg::Settle { round_id, limit },
            &[],
        )
    }

    /// Settles (or fails) a round page after page; the last page's response.
    pub fn settle(&mut self, caller: &Addr, round_id: u64) -> Result<AppResponse> {
        loop {
            let res = self.settle_page(caller, round_id, None)?;
            let more = res.events.iter().any(|e| {
                e.attributes
                    .iter()
                    .any(|a| a.key == "outcome" && a.value == "in_progress")
            });
            if !more {
                return Ok(res);
            }
        }
    }

    pub fn claim(&mut self, who: &Addr, round_id: u64) -> Result<AppResponse> {
        let e = self.d.escrow.clone();
        self.exec(who, &e, &escrow::ExecuteMsg::Claim { round_id }, &[])
    }

    pub fn round(&self, round_id: u64) -> Result<RoundResponse> {
        Ok(self
            .app
            .wrap()
            .query_wasm_smart(&self.d.round_manager, &rm::QueryMsg::Round { round_id })?)
    }

    /// A participant of a round, with its commitment once committed.
    pub fn participant(&self, round_id: u64, who: &str) -> Result<rm::ParticipantResponse> {
        Ok(self.app.wrap().query_wasm_smart(
            &self.d.round_manager,
            &rm::QueryMsg::Participant {
                round_id,
                participant: who.to_string(),
            },
        )?)
    }

    pub fn rm_config(&self) -> Result<rm::ConfigResponse> {
        Ok(self
            .app
            .wrap()
            .query_wasm_smart(&self.d.round_manager, &rm::QueryMsg::Config {})?)
    }

    /// Every settled result of a round, across pages.
    pub fn results(&self, round_id: u64) -> Result<Vec<rm::ParticipantResult>> {
        Ok(crate::ops::round::results(&self.app, &self.d, round_id)?)
    }

    pub fn stake_of(&self, round_id: u64, who: &str) -> Result<StakeResponse> {
        Ok(self.app.wrap().query_wasm_smart(
            &self.d.escrow,
            &escrow::QueryMsg::Stake {
                round_id,
                participant: who.to_string(),
            },
        )?)
    }

    pub fn totals(&self) -> Result<TotalsResponse> {
        Ok(self
            .app
            .wrap()
            .query_wasm_smart(&self.d.escrow, &escrow::QueryMsg::Totals {})?)
    }

    /// Balance of `who` in the stake asset.
    pub fn stake_balance(&self, who: &str) -> Result<u128> {
        match &self.stake {
            StakeKind::Native(denom) => {
                Ok(self.app.wrap().query_balance(who, denom)?.amount.u128())
            }
            StakeKind::Cw20 => self.token_balance(who),
        }
    }

    /// Balance of `who` in the incentive token.
    pub fn token_balance(&self, who: &str) -> Result<u128> {
        let b: BalanceResponse = self.app.wrap().query_wasm_smart(
            &self.d.token,
            &cw20::Cw20QueryMsg::Balance {
                address: who.to_string(),
            },
        )?;
        Ok(b.balance.u128())
    }

    pub fn token_info(&self) -> Result<TokenInfoResponse> {
        Ok(self
            .app
            .wrap()
            .query_wasm_smart(&self.d.token, &cw20::Cw20QueryMsg::TokenInfo {})?)
    }

    pub fn minter(&self) -> Result<Option<MinterResponse>> {
        Ok(self
            .app
            .wrap()
            .query_wasm_smart(&self.d.token, &cw20::Cw20QueryMsg::Minter {})?)
    }

    /// Sum of every CW20 balance (for the supply invariant).
    pub fn token_balances_sum(&self) -> Result<u128> {
        let mut sum = 0u128;
        let mut start_after = None;
        loop {
            let page: AllAccountsResponse = self.app.wrap().query_wasm_smart(
                &self.d.token,
                &cw20::Cw20QueryMsg::AllAccounts {
                    start_after: start_after.clone(),
                    limit: Some(30),
                },
            )?;
            if page.accounts.is_empty() {
                return Ok(sum);
            }
            for a in &page.accounts {
                sum = sum
                    .checked_add(self.token_balance(a)?)
                    .ok_or_else(|| anyhow!("token balances overflow u128"))?;
            }
            start_after = page.accounts.last().cloned();
        }
    }
}
