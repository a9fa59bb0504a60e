//! Every storage item of the DAO, with its key.

use cosmwasm_schema::cw_serde;
use cosmwasm_std::{Addr, Uint128};
use cw_storage_plus::{Item, Map, SnapshotItem, SnapshotMap, Strategy};
use fairshare_protocol::dao::{Claim, Config, Vote};

use crate::proposal::Proposal;

/// Most pending unbonding claims one address may have (bounds the loop in `Claim`).
pub const MAX_CLAIMS: usize = 32;

pub const CONFIG: Item<Config> = Item::new("config");

/// Staked tokens (= voting power) per address, with a changelog on every block so that the
/// power at any past height can be read.
pub const STAKES: SnapshotMap<&Addr, Uint128> = SnapshotMap::new(
    "stakes",
    "stakes__checkpoints",
    "stakes__changelog",
    Strategy::EveryBlock,
);

/// Sum of [`STAKES`], snapshotted the same way.
pub const TOTAL_STAKED: SnapshotItem<Uint128> = SnapshotItem::new(
    "total_staked",
    "total_staked__checkpoints",
    "total_staked__changelog",
    Strategy::EveryBlock,
);

/// Unbonding claims per address.
pub const CLAIMS: Map<&Addr, Vec<Claim>> = Map::new("claims");

/// Sum of every unclaimed claim.
pub const TOTAL_UNBONDING: Item<Uint128> = Item::new("total_unbonding");

/// Sum of the deposits still held.
pub const TOTAL_DEPOSITS: Item<Uint128> = Item::new("total_deposits");

/// Number of proposals ever created; the last proposal's id.
pub const PROPOSAL_COUNT: Item<u64> = Item::new("proposal_count");

pub const PROPOSALS: Map<u64, Proposal> = Map::new("proposals");

/// One voter's ballot on a proposal.
#[cw_serde]
pub struct Ballot {
    pub vote: Vote,
    pub power: Uint128,
}

pub const BALLOTS: Map<(u64, &Addr), Ballot> = Map::new("ballots");

/// The proposal whose messages `Execute` has just dispatched: `RunProposal` runs only for it,
/// once, so no message can replay another proposal's messages.
pub const EXECUTING: Item<u64> = Item::new("executing");
