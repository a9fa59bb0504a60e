//! Building, simulating and signing transactions (sign mode direct).

use cosmrs::crypto::secp256k1::SigningKey;
use cosmrs::proto::cosmos::tx::v1beta1::{SimulateRequest, SimulateResponse};
use cosmrs::tendermint::chain;
use cosmrs::tx::{Body, Fee, SignDoc, SignerInfo};
use cosmrs::{Any, Coin, Denom};
use cosmwasm_std::Uint128;

use super::rpc::Rpc;
use super::GasPrice;
use crate::chain::ChainError;

/// Messages and the numbers that bind them to one account and chain.
pub(super) struct Unsigned<'a> {
    pub msgs: Vec<Any>,
    pub account_number: u64,
    pub sequence: u64,
    pub chain_id: &'a str,
}

fn encode_err(e: impl std::fmt::Display) -> ChainError {
    ChainError::Other(format!("cannot build the transaction: {e}"))
}

impl Unsigned<'_> {
    /// The signed transaction's bytes.
    pub fn sign(&self, key: &SigningKey, fee: Fee) -> Result<Vec<u8>, ChainError> {
        let body = Body::new(self.msgs.clone(), "", 0u32);
        let auth_info =
            SignerInfo::single_direct(Some(key.public_key()), self.sequence).auth_info(fee);
        let chain_id: chain::Id = self.chain_id.parse().map_err(encode_err)?;
        let doc =
            SignDoc::new(&body, &auth_info, &chain_id, self.account_number).map_err(encode_err)?;
        doc.sign(key)
            .map_err(encode_err)?
            .to_bytes()
            .map_err(encode_err)
    }
}

/// The fee for `gas_limit` at `price`, rounded up; an empty amount when the price is zero.
pub(super) fn fee(price: &GasPrice, gas_limit: u64) -> Result<Fee, ChainError> {
    let amount = Uint128::from(gas_limit).mul_ceil(price.amount);
    let mut fee = Fee {
        amount: vec![],
        gas_limit,
        payer: None,
        granter: None,
    };
    if !amount.is_zero() {
        let denom: Denom = price
            .denom
            .parse()
            .map_err(|e| ChainError::Other(format!("gas price denom {:?}: {e}", price.denom)))?;
        fee.amount.push(Coin {
            denom,
            amount: amount.u128(),
        });
    }
    Ok(fee)
}

/// Gas the transaction uses, by `/cosmos.tx.v1beta1.Service/Simulate`. A message the chain
/// would refuse fails here, with the node's log verbatim.
pub(super) async fn simulate(
    rpc: &Rpc,
    key: &SigningKey,
    unsigned: &Unsigned<'_>,
) -> Result<u64, ChainError> {
    let path = "/cosmos.tx.v1beta1.Service/Simulate";
    // The ante handler skips signature checks in simulation but wants the signer info.
    let tx_bytes = unsigned.sign(
        key,
        Fee {
            amount: vec![],
            gas_limit: 0,
            payer: None,
            granter: None,
        },
    )?;
    #[allow(deprecated)]
    let req = SimulateRequest { tx: None, tx_bytes };
    let res: SimulateResponse =
        rpc.abci_query(path, &req)
            .await?
            .map_err(|refused| ChainError::Rejected {
                tx_hash: None,
                log: format!("simulation failed with {refused}"),
            })?;
    let gas = res
        .gas_info
        .ok_or_else(|| ChainError::Query(format!("{path}: no gas_info in the response")))?;
    Ok(gas.gas_used)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cosmwasm_std::Decimal;

    #[test]
    fn fee_rounds_up_and_is_empty_at_zero_price() {
        let zero = GasPrice {
            amount: Decimal::zero(),
            denom: "stake".into(),
        };
        let f = fee(&zero, 200_000).expect("fee");
        assert!(f.amount.is_empty());
        assert_eq!(f.gas_limit, 200_000);
        let p = GasPrice {
            amount: Decimal::permille(25),
            denom: "ustake".into(),
        };
        let f = fee(&p, 100_001).expect("fee");
        assert_eq!(f.amount[0].amount, 2_501);
        assert_eq!(f.amount[0].denom.as_ref(), "ustake");
    }
}
