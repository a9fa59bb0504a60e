//! The embedded chain: cw-multi-test running the real contract code, deployed and wired the
//! way `fairshare deploy` wires a real chain (escrow as the token's minter, the owner — the
//! DAO once it exists — owning every parameter).

use anyhow::{anyhow, Context, Result};
use cosmwasm_std::{coins, Addr, Coin, Decimal, Empty, HexBinary, Uint128};
use cw20::{
    AllAccountsResponse, BalanceResponse, Cw20Coin, Cw20ExecuteMsg, MinterResponse,
    TokenInfoResponse,
};
use cw_multi_test::{App, AppResponse, BankSudo, Contract, ContractWrapper, Executor, SudoMsg};
use fairshare_protocol::asset::StakeAsset;
use fairshare_protocol::escrow::{self, StakeResponse, TotalsResponse};
use fairshare_protocol::rewards::RewardParams;
use fairshare_protocol::round_manager::{
    self as rm, Report, ResultsResponse, RoundParams, RoundResponse, RoundSpec, Schedule,
    SignedCommitment,
};
use serde::Serialize;

use crate::keys::ParticipantKey;

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

/// How stakes are paid on the embedded chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StakeKind {
    /// Native coin [`STAKE_DENOM`].
    Native,
    /// The incentive token itself, through its `Send` hook.
    Cw20,
}

/// What to deploy with.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    pub params: RoundParams,
    pub min_stake: Uint128,
    pub token_cap: Option<Uint128>,
    pub stake: StakeKind,
    /// CW20 minted to the faucet at genesis (for CW20 stakes).
    pub faucet_tokens: Uint128,
}

impl DeployOptions {
    /// Sensible defaults with the given evaluators (addresses).
    pub fn with_evaluators(evaluators: Vec<String>, quorum: u32) -> Self {
        Self {
            params: default_params(evaluators, quorum),
            min_stake: Uint128::new(100),
            token_cap: Some(Uint128::new(1_000_000_000_000)),
            stake: StakeKind::Native,
            faucet_tokens: Uint128::new(1_000_000_000),
        }
    }
}

/// Round parameters used by the demo and tests unless they say otherwise.
pub fn default_params(evaluators: Vec<String>, quorum: u32) -> RoundParams {
    RoundParams {
        schedule: Schedule {
            join_blocks: 10,
            train_blocks: 20,
            eval_blocks: 20,
        },
        min_participants: 2,
        max_participants: 100,
        evaluators,
        evaluator_quorum: quorum,
        rewards: RewardParams {
            budget: Uint128::new(1_000_000),
            delta_u_target: Decimal::percent(50),
            free_rider_tau: Decimal::percent(10),
            slash_free_rider: Decimal::percent(50),
            slash_harmful: Decimal::one(),
            slash_no_show: Decimal::percent(25),
        },
        outlier_tolerance: Decimal::percent(5),
        max_update_norm: Decimal::from_ratio(100u128, 1u128),
    }
}

/// A round spec whose hashes are derived from `label` (for demos and tests).
pub fn spec_for(label: &str) -> RoundSpec {
    let h = |s: &str| {
        HexBinary::from(fairshare_protocol::commitment::update_hash(s.as_bytes()).to_vec())
    };
    RoundSpec {
        base_model_hash: h("base-model"),
        global_adapter_hash: h(&format!("global-adapter/{label}")),
        validation_set_hash: h("validation-set"),
        task_uri: format!("fairshare://tasks/{label}"),
    }
}

/// Addresses of a deployment.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub owner: Addr,
    pub operator: Addr,
    pub treasury: Addr,
    pub faucet: Addr,
    pub round_manager: Addr,
    pub escrow: Addr,
    pub token: Addr,
    pub round_manager_code: u64,
    pub escrow_code: u64,
    pub token_code: u64,
}

/// A deployed Fairshare on cw-multi-test.
pub struct EmbeddedChain {
    pub app: App,
    pub d: Deployment,
    pub stake: StakeKind,
}

impl EmbeddedChain {
    /// Stores the three contracts, instantiates them and wires them together.
    pub fn deploy(opts: DeployOptions) -> Result<Self> {
        let mut app = App::default();
        let api = app.api();
        let owner = api.addr_make("owner");
        let operator = api.addr_make("operator");
        let treasury = api.addr_make("treasury");
        let faucet = api.addr_make("faucet");
        let rm_code = app.store_code(round_manager_code());
        let escrow_code_id = app.store_code(escrow_code());
        let token_code_id = app.store_code(token_code());

        let token = app
            .instantiate_contract(
                token_code_id,
                owner.clone(),
                &cw20_base::msg::InstantiateMsg {
                    name: "Fairshare".into(),
                    symbol: "FAIR".into(),
                    decimals: 6,
                    initial_balances: vec![Cw20Coin {
                        address: faucet.to_string(),
                        amount: opts.faucet_tokens,
                    }],
                    mint: Some(cw20::MinterResponse {
                        minter: owner.to_string(),
                        cap: opts.token_cap,
                    }),
                    marketing: None,
                },
                &[],
                "fairshare-token",
                Some(owner.to_string()),
            )
            .context("instantiating the incentive token")?;
        let round_manager = app
            .instantiate_contract(
                rm_code,
                owner.clone(),
                &rm::InstantiateMsg {
                    owner: None,
                    operator: Some(operator.to_string()),
                    escrow: None,
                    params: opts.params.clone(),
                },
                &[],
                "fairshare-round-manager",
                Some(owner.to_string()),
            )
            .context("instantiating the round-manager")?;
        let stake_asset = match opts.stake {
            StakeKind::Native => StakeAsset::Native {
                denom: STAKE_DENOM.into(),
            },
            StakeKind::Cw20 => StakeAsset::Cw20 {
                address: token.to_string(),
            },
        };
        let escrow = app
            .instantiate_contract(
                escrow_code_id,
                owner.clone(),
                &escrow::InstantiateMsg {
                    owner: None,
                    round_manager: round_manager.to_string(),
                    reward_token: token.to_string(),
                    stake_asset,
                    min_stake: opts.min_stake,
                    treasury: treasury.to_string(),
                },
                &[],
                "fairshare-escrow",
                Some(owner.to_string()),
            )
            .context("instantiating the escrow")?;
        app.execute_contract(
            owner.clone(),
            round_manager.clone(),
            &rm::ExecuteMsg::UpdateConfig {
                owner: None,
                operator: None,
                escrow: Some(escrow.to_string()),
            },
            &[],
        )
        .context("wiring the escrow into the round-manager")?;
        app.execute_contract(
            owner.clone(),
            token.clone(),
            &Cw20ExecuteMsg::UpdateMinter {
                new_minter: Some(escrow.to_string()),
            },
            &[],
        )
        .context("making the escrow the token's minter")?;
        Ok(Self {
            app,
            stake: opts.stake,
            d: Deployment {
                owner,
                operator,
                treasury,
                faucet,
                round_manager,
                escrow,
                token,
                round_manager_code: rm_code,
                escrow_code: escrow_code_id,
                token_code: token_code_id,
            },
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
        self.app.update_block(|b| {
            b.height += blocks;
            b.time = b.time.plus_seconds(5 * blocks);
        });
    }

    /// Gives `to` `amount` of the stake asset (native mint, or a CW20 transfer from the faucet).
    pub fn fund(&mut self, to: &str, amount: u128) -> Result<()> {
        match self.stake {
            StakeKind::Native => {
                self.app
                    .sudo(SudoMsg::Bank(BankSudo::Mint {
                        to_address: to.to_string(),
                        amount: coins(amount, STAKE_DENOM),
                    }))
                    .context("minting stake coins")?;
            }
            StakeKind::Cw20 => {
                self.app
                    .execute_contract(
                        self.d.faucet.clone(),
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

    /// `key` bonds `stake` and joins `round_id`.
    pub fn join(
        &mut self,
        key: &ParticipantKey,
        round_id: u64,
        stake: u128,
    ) -> Result<AppResponse> {
        let who = Addr::unchecked(key.address());
        let escrow_addr = self.d.escrow.clone();
        match self.stake {
            StakeKind::Native => self.exec(
                &who,
                &escrow_addr,
                &escrow::ExecuteMsg::Join {
                    round_id,
                    pubkey: key.pubkey(),
                },
                &coins(stake, STAKE_DENOM),
            ),
            StakeKind::Cw20 => {
                let hook = cosmwasm_std::to_json_binary(&escrow::ReceiveMsg::Join {
                    round_id,
                    pubkey: key.pubkey(),
                })?;
                let token = self.d.token.clone();
                self.exec(
                    &who,
                    &token,
                    &Cw20ExecuteMsg::Send {
                        contract: escrow_addr.to_string(),
                        amount: Uint128::new(stake),
                        msg: hook,
                    },
                    &[],
                )
            }
        }
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

    pub fn report(
        &mut self,
        evaluator: &Addr,
        round_id: u64,
        report: Report,
    ) -> Result<AppResponse> {
        let rm = self.d.round_manager.clone();
        self.exec(
            evaluator,
            &rm,
            &rm::ExecuteMsg::SubmitReport { round_id, report },
            &[],
        )
    }

    pub fn settle(&mut self, caller: &Addr, round_id: u64) -> Result<AppResponse> {
        let rm = self.d.round_manager.clone();
        self.exec(caller, &rm, &rm::ExecuteMsg::Settle { round_id }, &[])
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

    pub fn rm_config(&self) -> Result<rm::ConfigResponse> {
        Ok(self
            .app
            .wrap()
            .query_wasm_smart(&self.d.round_manager, &rm::QueryMsg::Config {})?)
    }

    /// Every settled result of a round, across pages.
    pub fn results(&self, round_id: u64) -> Result<Vec<rm::ParticipantResult>> {
        let mut out = Vec::new();
        loop {
            let page: ResultsResponse = self.app.wrap().query_wasm_smart(
                &self.d.round_manager,
                &rm::QueryMsg::Results {
                    round_id,
                    start_after: out
                        .last()
                        .map(|r: &rm::ParticipantResult| r.participant.to_string()),
                    limit: Some(100),
                },
            )?;
            if page.results.is_empty() {
                return Ok(out);
            }
            out.extend(page.results);
        }
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
        match self.stake {
            StakeKind::Native => Ok(self
                .app
                .wrap()
                .query_balance(who, STAKE_DENOM)?
                .amount
                .u128()),
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
