//! Messages of the escrow contract: stakes, slashing, rewards and pull claims.

use cosmwasm_schema::{cw_serde, QueryResponses};
use cosmwasm_std::{Addr, HexBinary, Uint128};
use cw20::Cw20ReceiveMsg;

use crate::asset::StakeAsset;

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
    /// Round-manager only: a failed round; every stake becomes claimable in full and any
    /// reservation is released.
    RefundRound { round_id: u64 },
    /// Take back one's stake (less any slash) and reward of a settled or failed round.
    Claim { round_id: u64 },
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
}

#[cw_serde]
#[derive(QueryResponses)]
pub enum QueryMsg {
    #[returns(ConfigResponse)]
    Config {},
    #[returns(StakeResponse)]
    Stake { round_id: u64, participant: String },
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
