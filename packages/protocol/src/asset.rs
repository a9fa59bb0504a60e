//! The asset a stake is paid in.

use cosmwasm_schema::cw_serde;

/// A stake is either a native coin or a CW20 token.
#[cw_serde]
pub enum StakeAsset {
    /// A native coin of the chain, by denom.
    Native { denom: String },
    /// A CW20 token, by contract address; stakes arrive through its `Send` + `Receive` hook.
    Cw20 { address: String },
}

impl std::fmt::Display for StakeAsset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StakeAsset::Native { denom } => write!(f, "native coin {denom}"),
            StakeAsset::Cw20 { address } => write!(f, "CW20 token {address}"),
        }
    }
}
