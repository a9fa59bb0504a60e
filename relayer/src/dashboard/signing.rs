//! Transactions from the page: the server builds the sign document (direct mode), the browser's
//! wallet signs it, the server broadcasts. The wallet sees and may change the fee: the
//! broadcast takes the body and auth-info bytes the wallet returns with its signature.
//!
//! `/api/dev/*` (only with `--dev-signer`) signs with the localnet's public test keys instead, so
//! that tests and a developer without a browser wallet can vote and stake.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::Json;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use cosmrs::crypto::PublicKey;
use cosmrs::proto::cosmos::base::v1beta1::Coin as ProtoCoin;
use cosmrs::proto::cosmos::tx::v1beta1::{SimulateRequest, SimulateResponse, TxRaw};
use cosmrs::proto::cosmwasm::wasm::v1::MsgExecuteContract;
use cosmrs::proto::traits::Message;
use cosmrs::tx::{Body, Fee, SignDoc, SignerInfo};
use cosmrs::Any;
use cosmwasm_std::Uint128;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{ApiResult, Dashboard, DashboardError};
use crate::wasmd::GasPrice;

fn bad(what: &str) -> impl Fn(String) -> DashboardError + '_ {
    move |e| DashboardError::BadRequest(format!("{what}: {e}"))
}

fn b64(field: &str, text: &str) -> Result<Vec<u8>, DashboardError> {
    B64.decode(text)
        .map_err(|e| DashboardError::BadRequest(format!("{field} is not base64: {e}")))
}

/// A contract call the page wants signed.
#[derive(Deserialize)]
pub struct PrepareReq {
    /// The signer's address.
    pub sender: String,
    /// Its compressed secp256k1 public key, base64 (what the wallet's `getAccounts` gives).
    pub pubkey: String,
    /// `round_manager`, `escrow`, `token` or `dao`.
    pub contract: String,
    pub msg: Value,
}

/// A sign document, every byte field base64, as a cosmjs/Keplr `SignDoc` wants it.
#[derive(Serialize, Deserialize)]
pub struct Prepared {
    pub body_bytes: String,
    pub auth_info_bytes: String,
    pub chain_id: String,
    pub account_number: String,
    pub gas_limit: u64,
}

/// The fee for `gas_limit` at `price`, rounded up; no amount at a zero price.
fn fee(price: &GasPrice, gas_limit: u64) -> Result<Fee, DashboardError> {
    let amount = Uint128::from(gas_limit).mul_ceil(price.amount);
    let mut fee = Fee::from_amount_and_gas(
        cosmrs::Coin {
            denom: price
                .denom
                .parse()
                .map_err(|e| bad("gas price")(format!("{e}")))?,
            amount: amount.u128(),
        },
        gas_limit,
    );
    if amount.is_zero() {
        fee.amount.clear();
    }
    Ok(fee)
}

pub async fn prepare(
    State(d): State<Arc<Dashboard>>,
    Json(r): Json<PrepareReq>,
) -> ApiResult<Prepared> {
    let contract = d.address_of(&r.contract).await?;
    let pk_bytes = b64("pubkey", &r.pubkey)?;
    let pubkey = cosmrs::tendermint::PublicKey::from_raw_secp256k1(&pk_bytes)
        .map(PublicKey::from)
        .ok_or_else(|| {
            DashboardError::BadRequest("pubkey is not a compressed secp256k1 key".into())
        })?;
    let derived = pubkey
        .account_id(&d.prefix)
        .map_err(|e| bad("pubkey")(e.to_string()))?;
    if derived.as_ref() != r.sender {
        return Err(DashboardError::BadRequest(format!(
            "the public key is {derived}'s, not {}'s",
            r.sender
        )));
    }
    let msg = MsgExecuteContract {
        sender: r.sender.clone(),
        contract,
        msg: serde_json::to_vec(&r.msg).map_err(|e| bad("msg")(e.to_string()))?,
        funds: Vec::<ProtoCoin>::new(),
    };
    let any = Any::from_msg(&msg).map_err(|e| bad("msg")(e.to_string()))?;
    let (account_number, sequence) = account_info(&d, &r.sender).await?;
    let body = Body::new(vec![any], "", 0u32);
    let body_bytes = body
        .into_bytes()
        .map_err(|e| DashboardError::Chain(e.to_string()))?;
    let signer = SignerInfo::single_direct(Some(pubkey), sequence);
    // Simulate with an empty signature: the node skips signature checks in simulation.
    let sim_auth = signer
        .clone()
        .auth_info(fee(&d.gas_price, 0)?)
        .into_bytes()
        .map_err(|e| DashboardError::Chain(e.to_string()))?;
    let sim = TxRaw {
        body_bytes: body_bytes.clone(),
        auth_info_bytes: sim_auth,
        signatures: vec![vec![0u8; 64]],
    };
    #[allow(deprecated)]
    let req = SimulateRequest {
        tx: None,
        tx_bytes: sim.encode_to_vec(),
    };
    let res: SimulateResponse = d
        .rpc
        .abci_query("/cosmos.tx.v1beta1.Service/Simulate", &req)
        .await
        .map_err(DashboardError::from_chain)?
        .map_err(|refused| DashboardError::Chain(refused.log))?;
    let gas_used = res.gas_info.map(|g| g.gas_used).unwrap_or(0);
    let gas_limit = ((gas_used as f64) * d.gas_adjustment).ceil() as u64;
    let auth_info_bytes = signer
        .auth_info(fee(&d.gas_price, gas_limit)?)
        .into_bytes()
        .map_err(|e| DashboardError::Chain(e.to_string()))?;
    Ok(Json(Prepared {
        body_bytes: B64.encode(body_bytes),
        auth_info_bytes: B64.encode(auth_info_bytes),
        chain_id: d.chain_id.clone(),
        account_number: account_number.to_string(),
        gas_limit,
    }))
}

async fn account_info(d: &Dashboard, address: &str) -> Result<(u64, u64), DashboardError> {
    use cosmrs::proto::cosmos::auth::v1beta1::{
        BaseAccount, QueryAccountRequest, QueryAccountResponse,
    };
    let res: QueryAccountResponse = d
        .rpc
        .abci_query(
            "/cosmos.auth.v1beta1.Query/Account",
            &QueryAccountRequest {
                address: address.to_string(),
            },
        )
        .await
        .map_err(DashboardError::from_chain)?
        .map_err(|_| {
            DashboardError::BadRequest(format!(
                "account {address} is unknown to the chain: it needs some funds first"
            ))
        })?;
    let base: BaseAccount = res
        .account
        .ok_or_else(|| DashboardError::Chain(format!("no account {address}")))?
        .to_msg()
        .map_err(|e| DashboardError::Chain(format!("account {address}: {e}")))?;
    Ok((base.account_number, base.sequence))
}

/// What the wallet signed: possibly changed body and auth-info bytes, and its signature.
#[derive(Deserialize)]
pub struct BroadcastReq {
    pub body_bytes: String,
    pub auth_info_bytes: String,
    pub signature: String,
}

pub async fn broadcast(
    State(d): State<Arc<Dashboard>>,
    Json(r): Json<BroadcastReq>,
) -> ApiResult<Value> {
    let raw = TxRaw {
        body_bytes: b64("body_bytes", &r.body_bytes)?,
        auth_info_bytes: b64("auth_info_bytes", &r.auth_info_bytes)?,
        signatures: vec![b64("signature", &r.signature)?],
    };
    let bytes = raw.encode_to_vec();
    let hash = hex::encode_upper(Sha256::digest(&bytes));
    let (code, codespace, log, _) = d
        .rpc
        .broadcast_sync(bytes)
        .await
        .map_err(DashboardError::from_chain)?;
    if code != 0 {
        return Err(DashboardError::Chain(format!(
            "check_tx failed with code {code} ({codespace}): {log}"
        )));
    }
    let inc = d
        .rpc
        .wait_for_tx(&hash, Duration::from_secs(30))
        .await
        .map_err(DashboardError::from_chain)?;
    Ok(Json(json!({
        "tx_hash": inc.hash,
        "height": inc.height,
        "gas_used": inc.gas_used,
    })))
}

/// The development signer's accounts (name, address, public key), test keys of the localnet.
pub async fn dev_accounts(State(d): State<Arc<Dashboard>>) -> ApiResult<Value> {
    let accounts = d
        .dev_accounts
        .as_ref()
        .ok_or(DashboardError::DevSignerOff)?;
    let list: Vec<Value> = accounts
        .iter()
        .map(|a| {
            json!({
                "name": a.name,
                "address": a.address(),
                "pubkey": B64.encode(a.tx_signing_key().public_key().to_bytes()),
            })
        })
        .collect();
    Ok(Json(json!({ "accounts": list })))
}

/// A sign document for the development signer.
#[derive(Deserialize)]
pub struct DevSignReq {
    pub address: String,
    pub body_bytes: String,
    pub auth_info_bytes: String,
    pub chain_id: String,
    pub account_number: String,
}

pub async fn dev_sign(
    State(d): State<Arc<Dashboard>>,
    Json(r): Json<DevSignReq>,
) -> ApiResult<Value> {
    let accounts = d
        .dev_accounts
        .as_ref()
        .ok_or(DashboardError::DevSignerOff)?;
    let account = accounts
        .iter()
        .find(|a| a.address() == r.address)
        .ok_or_else(|| {
            DashboardError::BadRequest(format!("{} is not a test account", r.address))
        })?;
    if r.chain_id != d.chain_id {
        return Err(DashboardError::BadRequest(format!(
            "the development signer signs for {} only",
            d.chain_id
        )));
    }
    let doc = SignDoc {
        body_bytes: b64("body_bytes", &r.body_bytes)?,
        auth_info_bytes: b64("auth_info_bytes", &r.auth_info_bytes)?,
        chain_id: r.chain_id.clone(),
        account_number: r
            .account_number
            .parse()
            .map_err(|e| bad("account_number")(format!("{e}")))?,
    };
    let bytes = doc
        .into_bytes()
        .map_err(|e| DashboardError::Chain(e.to_string()))?;
    let key = account.tx_signing_key();
    let sig = key
        .sign(&bytes)
        .map_err(|e| DashboardError::Chain(e.to_string()))?;
    Ok(Json(json!({
        "signature": B64.encode(sig.to_bytes()),
        "pub_key": B64.encode(key.public_key().to_bytes()),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cosmwasm_std::Decimal;

    #[test]
    fn fee_is_empty_at_zero_price_and_rounds_up() {
        let zero = GasPrice {
            amount: Decimal::zero(),
            denom: "stake".into(),
        };
        let f = fee(&zero, 150_000).expect("fee");
        assert!(f.amount.is_empty());
        assert_eq!(f.gas_limit, 150_000);
        let p = GasPrice {
            amount: Decimal::permille(25),
            denom: "ustake".into(),
        };
        assert_eq!(fee(&p, 100_001).expect("fee").amount[0].amount, 2_501);
    }

    /// A signature made by the development signer verifies against the sign document's bytes
    /// under the account's public key (what the chain's ante handler checks).
    #[test]
    fn dev_signature_verifies_over_the_sign_doc() {
        use k256::ecdsa::signature::Verifier as _;
        let accounts =
            crate::wasmd::LocalnetAccounts::load(&crate::wasmd::LocalnetAccounts::default_path())
                .expect("accounts file");
        let a = accounts.account("participant1").expect("participant1");
        let doc = SignDoc {
            body_bytes: vec![1, 2, 3],
            auth_info_bytes: vec![4, 5],
            chain_id: "fairshare-local-1".into(),
            account_number: 7,
        };
        let bytes = doc.into_bytes().expect("bytes");
        let sig = a.tx_signing_key().sign(&bytes).expect("signs");
        let vk =
            k256::ecdsa::VerifyingKey::from_sec1_bytes(&a.tx_signing_key().public_key().to_bytes())
                .expect("key");
        let sig = k256::ecdsa::Signature::from_slice(&sig.to_bytes()).expect("64 bytes");
        assert!(vk.verify(&bytes, &sig).is_ok());
    }
}
