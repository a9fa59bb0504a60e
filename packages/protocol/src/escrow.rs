//! Messages of the escrow contract: stakes, slashing, rewards and pull claims.

use cosmwasm_schema::{cw_serde, QueryResponses};
use cosmwasm_std::{Addr, HexBinary, Uint128};
use cw20::Cw20ReceiveMsg;

use crate::asset::StakeAsset;
use crate::report::UtilityTable;

#[cw_serde]
pub struct InstantiateMsg {
    /// Who may change the config (the DAO); the sender when omitted.
    pub owner: Option<String>,
    /// The round-manager, which alone reports outcomes.
    pub round_manager: String,
    /// The CW20 whose minter this contract is; rewards are minted in it.
    pub reward_token: String,
    /// What stakes are paid in.
    pub stake_asset: StakeAsset,
    /// Smallest stake an identity may bond.
    pub min_stake: Uint128,
    /// Where slashed stakes and rounding dust go.
    pub treasury: String,
}

#[cw_serde]
pub enum ExecuteMsg {
    /// Bond a native-coin stake and join a round (attach exactly one coin of the stake denom).
    Join { round_id: u64, pubkey: HexBinary },
    /// Bond a native-coin stake as an evaluator of a round (the sender must be on the round's
    /// evaluator list; at least its `min_bond`).
    Serve { round_id: u64 },
    /// Dispute an evaluator's revealed report with the utility table it committed to,
    /// attaching the round's dispute deposit in the native stake coin (see the round-manager's
    /// `dispute`).
    Dispute {
        round_id: u64,
        evaluator: String,
        table: UtilityTable,
    },
    /// CW20 hook: `Send` the stake token with a [`ReceiveMsg`].
    Receive(Cw20ReceiveMsg),
    /// Round-manager only, when a round's pool is fixed: set aside `amount` of the token's
    /// remaining cap for the round's rewards and dust, so no later claim can fail. Refused
    /// if the cap has no room for it.
    ReserveRewards { round_id: u64, amount: Uint128 },
    /// Round-manager only, when a paged settlement completes: the round's totals. Each
    /// participant's share is read from the round-manager's `Result` query when it claims;
    /// `rewards + dust` must equal the reservation, `slashed` at most the round's stakes.
    SettleRound {
        round_id: u64,
        rewards: Uint128,
        slashed: Uint128,
        dust: Uint128,
    },
    /// Round-manager only: a failed round; participants' stakes become claimable in full, any
    /// reservation is released, and `slashed` (evaluator no-shows and struck-out reports, net
    /// of challengers' bounties, plus forfeited dispute deposits) goes to the treasury.
    RefundRound { round_id: u64, slashed: Uint128 },
    /// Take back what one bonded in an ended round, in every role (participant stake,
    /// evaluator bond, dispute deposits) less slashes, with any reward. An evaluator's bond
    /// waits out the round's appeal window.
    Claim { round_id: u64 },
    /// Owner (the DAO) only, during an ended round's appeal window: take `amount` of an
    /// evaluator's bond (beyond what settlement slashed) into the treasury, on evidence the
    /// DAO has weighed, e.g. a re-execution of its utility table on the revealed validation
    /// text that disagrees beyond tolerance (`fairshare dispute propose` prepares it).
    PenalizeEvaluator {
        round_id: u64,
        evaluator: String,
        amount: Uint128,
        reason: String,
    },
    /// Owner only.
    UpdateConfig {
        owner: Option<String>,
        round_manager: Option<String>,
        treasury: Option<String>,
        min_stake: Option<Uint128>,
    },
}

/// Messages carried by a CW20 `Send` to the escrow.
#[cw_serde]
pub enum ReceiveMsg {
    /// Bond the sent tokens and join a round.
    Join { round_id: u64, pubkey: HexBinary },
    /// Bond the sent tokens as an evaluator of a round.
    Serve { round_id: u64 },
    /// The sent tokens are the deposit of a dispute.
    Dispute {
        round_id: u64,
        evaluator: String,
        table: UtilityTable,
    },
}

/// The part someone plays in a round, each with its own bond.
#[cw_serde]
#[derive(Copy, Eq)]
pub enum Role {
    Participant,
    Evaluator,
    Challenger,
}

#[cw_serde]
#[derive(QueryResponses)]
pub enum QueryMsg {
    #[returns(ConfigResponse)]
    Config {},
    /// A participant's stake in a round.
    #[returns(StakeResponse)]
    Stake { round_id: u64, participant: String },
    /// What an address has bonded in a round in one role.
    #[returns(StakeResponse)]
    Bond {
        round_id: u64,
        address: String,
        role: Role,
    },
    /// Stakes of a round in participant order.
    #[returns(StakesResponse)]
    Stakes {
        round_id: u64,
        start_after: Option<String>,
        limit: Option<u32>,
    },
    /// What the escrow owes, for the holdings invariant.
    #[returns(TotalsResponse)]
    Totals {},
    /// Tokens the escrow can still reserve for rewards under the reward token's cap.
    #[returns(RewardRoomResponse)]
    RewardRoom {},
}

#[cw_serde]
pub struct RewardRoomResponse {
    /// `cap − supply − rewards owed` (the token's maximum when it has no cap).
    pub room: Uint128,
}

#[cw_serde]
pub struct ConfigResponse {
    pub owner: Addr,
    pub round_manager: Addr,
    pub reward_token: Addr,
    pub stake_asset: StakeAsset,
    pub min_stake: Uint128,
    pub treasury: Addr,
}

/// Where a stake is in its life.
#[cw_serde]
pub enum StakeStatus {
    /// Bonded in a round that has not ended.
    Locked,
    /// The round ended; this much can be claimed.
    Claimable {
        stake_return: Uint128,
        reward: Uint128,
    },
    /// Paid out.
    Claimed {
        stake_return: Uint128,
        reward: Uint128,
    },
}

#[cw_serde]
pub struct StakeResponse {
    pub participant: Addr,
    pub round_id: u64,
    pub amount: Uint128,
    pub status: StakeStatus,
}

#[cw_serde]
pub struct StakesResponse {
    pub stakes: Vec<StakeResponse>,
}

#[cw_serde]
pub struct TotalsResponse {
    /// Stakes of rounds that have not ended.
    pub locked: Uint128,
    /// Stakes of ended rounds not yet claimed (after slashes).
    pub claimable_stake: Uint128,
    /// Rewards reserved or fixed but not yet minted.
    pub unclaimed_rewards: Uint128,
    /// Everything ever slashed into the treasury.
    pub slashed_total: Uint128,
    /// Everything ever minted as rewards and dust.
    pub minted_total: Uint128,
}

#[cw_serde]
pub struct MigrateMsg {}
