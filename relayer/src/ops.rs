//! Deployment and wiring, written once against [`Chain`] so the embedded chain and a wasmd
//! node are set up the same way.

use cosmwasm_std::{Addr, Decimal, Uint128};
use cw20::{Cw20Coin, Cw20ExecuteMsg, MinterResponse};
use fairshare_protocol::asset::StakeAsset;
use fairshare_protocol::dao::{self, ConfigUpdate, Duration};
use fairshare_protocol::escrow;
use fairshare_protocol::evaluation::EvaluatorParams;
use fairshare_protocol::rewards::RewardParams;
use fairshare_protocol::round_manager::{self as rm, RoundParams, Schedule};

use crate::chain::{Chain, ChainError, ChainExt, ContractKind};
use crate::keys::ParticipantKey;

/// How stakes are paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StakeKind {
    /// A native coin, by denom.
    Native(String),
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
    /// CW20 balances at genesis of the token: `(address, amount)`.
    pub initial_tokens: Vec<(String, Uint128)>,
    /// Deploy the DAO and hand it ownership, treasury and wasm admin of every contract.
    pub dao: Option<ConfigUpdate>,
}

/// Round parameters used by the demo and tests unless they say otherwise.
pub fn default_params(evaluators: Vec<String>, quorum: u32) -> RoundParams {
    RoundParams {
        schedule: Schedule {
            join_blocks: 10,
            train_blocks: 20,
            eval_blocks: 20,
            reveal_blocks: 10,
            dispute_blocks: 5,
            settle_blocks: 20,
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
            harm_alpha: Decimal::percent(1),
        },
        evaluation: default_evaluator_params(),
        max_update_norm: Decimal::from_ratio(100u128, 1u128),
    }
}

/// Evaluator-layer parameters used by the demo and tests unless they say otherwise: a bond of
/// at least 1,000 stake units, 10% of the budget for the evaluators, outliers beyond 10% of
/// the round's Σ|φ| unpaid and beyond 50% slashed by half, no-shows slashed by a quarter, a
/// report that does not follow from its own table slashed whole (half of that to its
/// challenger), a dispute deposit of 500, and evaluator bonds held 10 blocks after a round
/// ends for the DAO to penalise on re-execution evidence.
pub fn default_evaluator_params() -> EvaluatorParams {
    EvaluatorParams {
        min_bond: Uint128::new(1_000),
        share: Decimal::percent(10),
        outlier_fraction: Decimal::percent(10),
        slash_outlier_above: Decimal::percent(50),
        slash_outlier: Decimal::percent(50),
        slash_no_show: Decimal::percent(25),
        slash_disputed: Decimal::one(),
        dispute_deposit: Uint128::new(500),
        challenger_share: Decimal::percent(50),
        appeal_blocks: 10,
    }
}

/// DAO rules used by the demo and tests unless they say otherwise (block-based periods; the
/// timelock is at least the unbonding period, as the DAO requires).
pub fn default_dao_rules() -> ConfigUpdate {
    ConfigUpdate {
        unbonding_period: Duration::Height(2),
        voting_period: Duration::Height(20),
        quorum: Decimal::percent(30),
        threshold: Decimal::percent(50),
        allow_revoting: false,
        timelock: Some(Duration::Height(2)),
        execution_window: Duration::Height(100),
        deposit: Uint128::new(1_000),
    }
}

/// An appeal window (blocks an evaluator's bond stays locked after its round ends) long enough
/// for a DAO with `rules` to pass and execute a `penalize_evaluator` proposal opened when the
/// round ends: its voting period and timelock, plus as many blocks again for someone to
/// re-execute the table and propose. Block counts only; a time-based period counts 5 s blocks.
pub fn appeal_blocks_for(rules: &ConfigUpdate) -> u64 {
    let blocks = |d: &Duration| match d {
        Duration::Height(h) => *h,
        Duration::Time(s) => s.div_ceil(5),
    };
    let vote = blocks(&rules.voting_period) + rules.timelock.as_ref().map_or(0, blocks);
    2 * vote + 1
}

/// Who plays the deployment's fixed roles.
#[derive(Debug, Clone)]
pub struct Roles {
    /// Opens rounds besides the owner.
    pub operator: String,
    /// Receives slashes and dust when there is no DAO.
    pub treasury: String,
}

/// Addresses and code ids of a deployment.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Deployment {
    pub chain_id: String,
    /// Owner of every parameter: the DAO when deployed, else the deployer.
    pub owner: Addr,
    pub operator: Addr,
    pub treasury: Addr,
    pub round_manager: Addr,
    pub escrow: Addr,
    pub token: Addr,
    pub dao: Option<Addr>,
    pub code_ids: Vec<(String, u64)>,
}

/// Stores, instantiates and wires the contracts: the escrow is the token's minter and the
/// round-manager's registrar; with a DAO, the DAO owns every parameter, is the treasury and
/// the wasm admin of every contract.
pub fn deploy(
    chain: &mut dyn Chain,
    deployer: &ParticipantKey,
    roles: &Roles,
    opts: &DeployOptions,
) -> Result<Deployment, ChainError> {
    let me = deployer.address().to_string();
    let code =
        |chain: &mut dyn Chain, k: ContractKind| chain.store_code(deployer, k).map(|id| (k, id));
    let (_, rm_code) = code(chain, ContractKind::RoundManager)?;
    let (_, escrow_code) = code(chain, ContractKind::Escrow)?;
    let (_, token_code) = code(chain, ContractKind::IncentiveToken)?;
    let mut code_ids = vec![
        ("round-manager".to_string(), rm_code),
        ("escrow".to_string(), escrow_code),
        ("incentive-token".to_string(), token_code),
    ];

    let token = chain.init(
        deployer,
        token_code,
        &cw20_base::msg::InstantiateMsg {
            name: "Fairshare".into(),
            symbol: "FAIR".into(),
            decimals: 6,
            initial_balances: opts
                .initial_tokens
                .iter()
                .map(|(address, amount)| Cw20Coin {
                    address: address.clone(),
                    amount: *amount,
                })
                .collect(),
            mint: Some(MinterResponse {
                minter: me.clone(),
                cap: opts.token_cap,
            }),
            marketing: None,
        },
        ContractKind::IncentiveToken.label(),
        Some(&me),
    )?;
    let dao = match &opts.dao {
        Some(rules) => {
            let dao_code = chain.store_code(deployer, ContractKind::Dao)?;
            code_ids.push(("dao".to_string(), dao_code));
            Some(chain.init(
                deployer,
                dao_code,
                &dao::InstantiateMsg {
                    token: token.clone(),
                    rules: rules.clone(),
                },
                ContractKind::Dao.label(),
                Some(&me),
            )?)
        }
        None => None,
    };
    let treasury = dao.clone().unwrap_or_else(|| roles.treasury.clone());
    let round_manager = chain.init(
        deployer,
        rm_code,
        &rm::InstantiateMsg {
            owner: None,
            operator: Some(roles.operator.clone()),
            escrow: None,
            params: opts.params.clone(),
        },
        ContractKind::RoundManager.label(),
        Some(&me),
    )?;
    let stake_asset = match &opts.stake {
        StakeKind::Native(denom) => StakeAsset::Native {
            denom: denom.clone(),
        },
        StakeKind::Cw20 => StakeAsset::Cw20 {
            address: token.clone(),
        },
    };
    let escrow = chain.init(
        deployer,
        escrow_code,
        &escrow::InstantiateMsg {
            owner: None,
            round_manager: round_manager.clone(),
            reward_token: token.clone(),
            stake_asset,
            min_stake: opts.min_stake,
            treasury: treasury.clone(),
        },
        ContractKind::Escrow.label(),
        Some(&me),
    )?;
    chain.exec(
        deployer,
        &round_manager,
        &rm::ExecuteMsg::UpdateConfig {
            owner: dao.clone(),
            operator: None,
            escrow: Some(escrow.clone()),
        },
        &[],
    )?;
    chain.exec(
        deployer,
        &token,
        &Cw20ExecuteMsg::UpdateMinter {
            new_minter: Some(escrow.clone()),
        },
        &[],
    )?;
    if let Some(dao) = &dao {
        chain.exec(
            deployer,
            &escrow,
            &escrow::ExecuteMsg::UpdateConfig {
                owner: Some(dao.clone()),
                round_manager: None,
                treasury: None,
                min_stake: None,
            },
            &[],
        )?;
        for contract in [&token, dao, &round_manager, &escrow] {
            chain.update_admin(deployer, contract, dao)?;
        }
    }
    Ok(Deployment {
        chain_id: chain.chain_id()?,
        owner: Addr::unchecked(dao.clone().unwrap_or(me)),
        operator: Addr::unchecked(&roles.operator),
        treasury: Addr::unchecked(treasury),
        round_manager: Addr::unchecked(round_manager),
        escrow: Addr::unchecked(escrow),
        token: Addr::unchecked(token),
        dao: dao.map(Addr::unchecked),
        code_ids,
    })
}

/// A round spec whose hashes are derived from `label` (for demos and tests). It names no
/// global adapter (an all-zero hash, as the first round of a run has): a hash derived from a
/// label is no adapter anyone holds, and participants wait for the adapter a non-zero hash
/// names.
pub fn spec_for(label: &str) -> rm::RoundSpec {
    let h = |s: &str| {
        cosmwasm_std::HexBinary::from(
            fairshare_protocol::commitment::update_hash(s.as_bytes()).to_vec(),
        )
    };
    rm::RoundSpec {
        base_model_hash: h("base-model"),
        global_adapter_hash: cosmwasm_std::HexBinary::from(vec![0u8; 32]),
        validation_set_hash: h("validation-set"),
        task_uri: format!("fairshare://tasks/{label}"),
    }
}

/// Round operations, written once for every backend.
pub mod round {
    use cosmwasm_std::HexBinary;
    use cosmwasm_std::{coins, to_json_binary, Uint128};
    use cw20::Cw20ExecuteMsg;
    use fairshare_protocol::escrow;
    use fairshare_protocol::report::{digest, UtilityTable};
    use fairshare_protocol::round_manager::{self as rm, Report, RoundResponse, SignedCommitment};

    use super::{Deployment, StakeKind};
    use crate::chain::{Chain, ChainError, ChainExt, TxOutcome};
    use crate::keys::ParticipantKey;

    /// The operator (or owner) opens a round; returns its id.
    pub fn open(
        chain: &mut dyn Chain,
        d: &Deployment,
        operator: &ParticipantKey,
        spec: rm::RoundSpec,
    ) -> Result<u64, ChainError> {
        let out = chain.exec(
            operator,
            d.round_manager.as_str(),
            &rm::ExecuteMsg::OpenRound { spec },
            &[],
        )?;
        out.attribute("round_id")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| ChainError::Other("OpenRound returned no round_id attribute".into()))
    }

    /// `key` bonds `stake` with the escrow and joins `round_id`.
    pub fn join(
        chain: &mut dyn Chain,
        d: &Deployment,
        stake_kind: &StakeKind,
        key: &ParticipantKey,
        round_id: u64,
        stake: u128,
    ) -> Result<TxOutcome, ChainError> {
        let pubkey = key.pubkey();
        pay_escrow(
            chain,
            d,
            stake_kind,
            key,
            stake,
            &escrow::ExecuteMsg::Join {
                round_id,
                pubkey: pubkey.clone(),
            },
            &escrow::ReceiveMsg::Join { round_id, pubkey },
        )
    }

    /// Posts signed commitments in batches of `batch_size` (anyone may post).
    pub fn commit(
        chain: &mut dyn Chain,
        d: &Deployment,
        poster: &ParticipantKey,
        round_id: u64,
        commitments: Vec<SignedCommitment>,
        batch_size: usize,
    ) -> Result<Vec<TxOutcome>, ChainError> {
        commitments
            .chunks(batch_size.max(1))
            .map(|batch| {
                chain.exec(
                    poster,
                    d.round_manager.as_str(),
                    &rm::ExecuteMsg::CommitUpdates {
                        round_id,
                        commitments: batch.to_vec(),
                    },
                    &[],
                )
            })
            .collect()
    }

    /// Sends `amount` of the stake asset to the escrow with `native` (native coin) or
    /// `hook` (CW20 `Send`).
    fn pay_escrow(
        chain: &mut dyn Chain,
        d: &Deployment,
        stake_kind: &StakeKind,
        key: &ParticipantKey,
        amount: u128,
        native: &escrow::ExecuteMsg,
        hook: &escrow::ReceiveMsg,
    ) -> Result<TxOutcome, ChainError> {
        match stake_kind {
            StakeKind::Native(denom) => {
                chain.exec(key, d.escrow.as_str(), native, &coins(amount, denom))
            }
            StakeKind::Cw20 => chain.exec(
                key,
                d.token.as_str(),
                &Cw20ExecuteMsg::Send {
                    contract: d.escrow.to_string(),
                    amount: Uint128::new(amount),
                    msg: to_json_binary(hook).map_err(|e| ChainError::Other(e.to_string()))?,
                },
                &[],
            ),
        }
    }

    /// An evaluator of the round's list bonds `bond` to serve in `round_id`.
    pub fn serve(
        chain: &mut dyn Chain,
        d: &Deployment,
        stake_kind: &StakeKind,
        evaluator: &ParticipantKey,
        round_id: u64,
        bond: u128,
    ) -> Result<TxOutcome, ChainError> {
        pay_escrow(
            chain,
            d,
            stake_kind,
            evaluator,
            bond,
            &escrow::ExecuteMsg::Serve { round_id },
            &escrow::ReceiveMsg::Serve { round_id },
        )
    }

    /// A bonded evaluator commits to `report` with `salt` (only the digest goes on chain).
    pub fn commit_report(
        chain: &mut dyn Chain,
        d: &Deployment,
        evaluator: &ParticipantKey,
        round_id: u64,
        report: &Report,
        salt: &[u8; 32],
    ) -> Result<TxOutcome, ChainError> {
        let digest = digest(
            d.round_manager.as_str(),
            round_id,
            evaluator.address(),
            report,
            salt,
        );
        chain.exec(
            evaluator,
            d.round_manager.as_str(),
            &rm::ExecuteMsg::CommitReport {
                round_id,
                digest: HexBinary::from(digest.to_vec()),
            },
            &[],
        )
    }

    /// The evaluator opens the report it committed to.
    pub fn reveal_report(
        chain: &mut dyn Chain,
        d: &Deployment,
        evaluator: &ParticipantKey,
        round_id: u64,
        report: Report,
        salt: &[u8; 32],
    ) -> Result<TxOutcome, ChainError> {
        chain.exec(
            evaluator,
            d.round_manager.as_str(),
            &rm::ExecuteMsg::RevealReport {
                round_id,
                report,
                salt: HexBinary::from(salt.to_vec()),
            },
            &[],
        )
    }

    /// `challenger` disputes `evaluator`'s revealed report with the table it committed to,
    /// bonding `deposit`.
    #[allow(clippy::too_many_arguments)]
    pub fn dispute(
        chain: &mut dyn Chain,
        d: &Deployment,
        stake_kind: &StakeKind,
        challenger: &ParticipantKey,
        round_id: u64,
        evaluator: &str,
        table: UtilityTable,
        deposit: u128,
    ) -> Result<TxOutcome, ChainError> {
        pay_escrow(
            chain,
            d,
            stake_kind,
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
    pub fn evaluator_result(
        chain: &dyn Chain,
        d: &Deployment,
        round_id: u64,
        evaluator: &str,
    ) -> Result<rm::EvaluatorResult, ChainError> {
        chain.query(
            d.round_manager.as_str(),
            &rm::QueryMsg::EvaluatorResult {
                round_id,
                evaluator: evaluator.to_string(),
            },
        )
    }

    /// The report `evaluator` revealed in `round_id`, read back from the chain (its summary and
    /// every score, across pages); `None` before its reveal.
    pub fn revealed_report(
        chain: &dyn Chain,
        d: &Deployment,
        round_id: u64,
        evaluator: &str,
    ) -> Result<Option<Report>, ChainError> {
        let Some(info) = find_report(chain, d, round_id, |r| r.evaluator.as_str() == evaluator)?
        else {
            return Ok(None);
        };
        let mut scores: Vec<rm::ParticipantScore> = Vec::new();
        loop {
            let page: rm::ReportScoresResponse = chain.query(
                d.round_manager.as_str(),
                &rm::QueryMsg::ReportScores {
                    round_id,
                    evaluator: evaluator.to_string(),
                    start_after: scores.last().map(|s| s.participant.clone()),
                    limit: Some(100),
                },
            )?;
            if page.scores.is_empty() {
                break;
            }
            scores.extend(page.scores);
        }
        Ok(Some(Report {
            aggregate_hash: info.aggregate_hash,
            table_hash: info.table_hash,
            delta_u: info.delta_u,
            dof: info.dof,
            scores,
        }))
    }

    /// Whether a report revealed in `round_id` commits to the utility table `table_hash` (hex).
    pub fn table_is_committed(
        chain: &dyn Chain,
        d: &Deployment,
        round_id: u64,
        table_hash: &str,
    ) -> Result<bool, ChainError> {
        Ok(find_report(chain, d, round_id, |r| r.table_hash.to_hex() == table_hash)?.is_some())
    }

    /// The first report revealed in `round_id` (in the contract's order, across pages) that
    /// `wanted` accepts.
    fn find_report(
        chain: &dyn Chain,
        d: &Deployment,
        round_id: u64,
        wanted: impl Fn(&rm::ReportInfo) -> bool,
    ) -> Result<Option<rm::ReportInfo>, ChainError> {
        let mut after: Option<String> = None;
        loop {
            let page: rm::ReportsResponse = chain.query(
                d.round_manager.as_str(),
                &rm::QueryMsg::Reports {
                    round_id,
                    start_after: after.clone(),
                    limit: Some(30),
                },
            )?;
            let Some(last) = page.reports.last() else {
                return Ok(None);
            };
            after = Some(last.evaluator.to_string());
            if let Some(found) = page.reports.into_iter().find(|r| wanted(r)) {
                return Ok(Some(found));
            }
        }
    }

    /// The disputes heard in a round.
    pub fn disputes(
        chain: &dyn Chain,
        d: &Deployment,
        round_id: u64,
    ) -> Result<Vec<rm::DisputeInfo>, ChainError> {
        let r: rm::DisputesResponse = chain.query(
            d.round_manager.as_str(),
            &rm::QueryMsg::Disputes { round_id },
        )?;
        Ok(r.disputes)
    }

    /// The bonded evaluators of a round.
    pub fn evaluators(
        chain: &dyn Chain,
        d: &Deployment,
        round_id: u64,
    ) -> Result<Vec<rm::EvaluatorInfo>, ChainError> {
        let r: rm::EvaluatorsResponse = chain.query(
            d.round_manager.as_str(),
            &rm::QueryMsg::Evaluators { round_id },
        )?;
        Ok(r.evaluators)
    }

    /// One page of a round's settlement (or its failure); `limit` in work units.
    pub fn settle_page(
        chain: &mut dyn Chain,
        d: &Deployment,
        caller: &ParticipantKey,
        round_id: u64,
        limit: Option<u32>,
    ) -> Result<TxOutcome, ChainError> {
        chain.exec(
            caller,
            d.round_manager.as_str(),
            &rm::ExecuteMsg::Settle { round_id, limit },
            &[],
        )
    }

    /// Settles (or fails) a round, page after page until it is done; the outcome of every
    /// page, in order.
    pub fn settle(
        chain: &mut dyn Chain,
        d: &Deployment,
        caller: &ParticipantKey,
        round_id: u64,
    ) -> Result<Vec<TxOutcome>, ChainError> {
        let mut pages = vec![];
        loop {
            let tx = settle_page(chain, d, caller, round_id, None)?;
            let more = tx.attribute("outcome") == Some("in_progress");
            pages.push(tx);
            if !more {
                return Ok(pages);
            }
        }
    }

    /// Claims `key`'s stake and reward of a round.
    pub fn claim(
        chain: &mut dyn Chain,
        d: &Deployment,
        key: &ParticipantKey,
        round_id: u64,
    ) -> Result<TxOutcome, ChainError> {
        chain.exec(
            key,
            d.escrow.as_str(),
            &escrow::ExecuteMsg::Claim { round_id },
            &[],
        )
    }

    /// Every settled result of a round, across pages.
    pub fn results(
        chain: &dyn Chain,
        d: &Deployment,
        round_id: u64,
    ) -> Result<Vec<rm::ParticipantResult>, ChainError> {
        let mut out: Vec<rm::ParticipantResult> = Vec::new();
        loop {
            let page: rm::ResultsResponse = chain.query(
                d.round_manager.as_str(),
                &rm::QueryMsg::Results {
                    round_id,
                    start_after: out.last().map(|r| r.participant.to_string()),
                    limit: Some(100),
                },
            )?;
            if page.results.is_empty() {
                return Ok(out);
            }
            out.extend(page.results);
        }
    }

    /// A round's state.
    pub fn status(
        chain: &dyn Chain,
        d: &Deployment,
        round_id: u64,
    ) -> Result<RoundResponse, ChainError> {
        chain.query(d.round_manager.as_str(), &rm::QueryMsg::Round { round_id })
    }
}

/// DAO operations, written once for every backend.
pub mod governance {
    use cosmwasm_std::{to_json_binary, CosmosMsg, Uint128};
    use cw20::Cw20ExecuteMsg;
    use fairshare_protocol::dao;

    use super::Deployment;
    use crate::chain::{Chain, ChainError, ChainExt, TxOutcome};
    use crate::keys::ParticipantKey;

    fn dao_addr(d: &Deployment) -> Result<String, ChainError> {
        d.dao
            .as_ref()
            .map(|a| a.to_string())
            .ok_or_else(|| ChainError::Other("this deployment has no DAO".into()))
    }

    fn send(
        chain: &mut dyn Chain,
        d: &Deployment,
        key: &ParticipantKey,
        amount: u128,
        hook: &dao::ReceiveMsg,
    ) -> Result<TxOutcome, ChainError> {
        let msg = Cw20ExecuteMsg::Send {
            contract: dao_addr(d)?,
            amount: Uint128::new(amount),
            msg: to_json_binary(hook).map_err(|e| ChainError::Other(e.to_string()))?,
        };
        chain.exec(key, d.token.as_str(), &msg, &[])
    }

    /// Stakes `amount` of the token for voting power.
    pub fn stake(
        chain: &mut dyn Chain,
        d: &Deployment,
        key: &ParticipantKey,
        amount: u128,
    ) -> Result<TxOutcome, ChainError> {
        send(chain, d, key, amount, &dao::ReceiveMsg::Stake {})
    }

    /// Opens a proposal, paying the configured deposit; returns its id.
    pub fn propose(
        chain: &mut dyn Chain,
        d: &Deployment,
        key: &ParticipantKey,
        deposit: u128,
        title: &str,
        description: &str,
        msgs: Vec<CosmosMsg>,
    ) -> Result<u64, ChainError> {
        let hook = dao::ReceiveMsg::Propose {
            title: title.into(),
            description: description.into(),
            msgs,
        };
        let out = send(chain, d, key, deposit, &hook)?;
        out.attribute("proposal_id")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| {
                ChainError::Other("the proposal returned no proposal_id attribute".into())
            })
    }

    /// Votes on a proposal.
    pub fn vote(
        chain: &mut dyn Chain,
        d: &Deployment,
        key: &ParticipantKey,
        proposal_id: u64,
        vote: dao::Vote,
    ) -> Result<TxOutcome, ChainError> {
        chain.exec(
            key,
            &dao_addr(d)?,
            &dao::ExecuteMsg::Vote { proposal_id, vote },
            &[],
        )
    }

    /// Executes a passed proposal.
    pub fn execute(
        chain: &mut dyn Chain,
        d: &Deployment,
        key: &ParticipantKey,
        proposal_id: u64,
    ) -> Result<TxOutcome, ChainError> {
        chain.exec(
            key,
            &dao_addr(d)?,
            &dao::ExecuteMsg::Execute { proposal_id },
            &[],
        )
    }
}

#[cfg(test)]
mod spec_tests {
    /// `fairshare round open` opens rounds with [`super::spec_for`]: the first round of a run
    /// has no global adapter, and a participant waits for the adapter of any non-zero hash.
    #[test]
    fn a_labelled_spec_names_no_global_adapter() {
        let s = super::spec_for("round");
        assert_eq!(s.global_adapter_hash.as_slice(), &[0u8; 32][..]);
        assert_ne!(s.base_model_hash.as_slice(), &[0u8; 32][..]);
        assert_ne!(s.validation_set_hash.as_slice(), &[0u8; 32][..]);
    }
}
