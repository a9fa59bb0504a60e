//! Which messages a proposal may carry, so that no majority can reach the stakers' tokens.
//!
//! After a proposal runs, the DAO checks that its balance of the staking token still covers
//! every stake, claim and deposit; that check sees only the balance. So toward the staking
//! token a proposal may only move the DAO's own tokens (`transfer`, `send`, `burn`), never
//! grant an allowance, spend someone else's, change the minter or the code; and it may not
//! carry message kinds whose content the DAO cannot read (`stargate`, `any`, `custom`), since
//! those could wrap the same calls.

use cosmwasm_std::{from_json, to_json_string, Addr, Api, CosmosMsg, WasmMsg};
use cw20::Cw20ExecuteMsg;
use serde::Serialize;

use crate::error::ContractError;

/// The `snake_case` name a message carries in JSON (`{"wasm": ...}` is `wasm`); `unknown` if
/// it cannot be read, which is refused like any other name outside the whitelist.
fn kind<T: Serialize>(msg: &T) -> String {
    to_json_string(msg)
        .ok()
        .and_then(|json| {
            json.strip_prefix("{\"")
                .and_then(|rest| rest.split('"').next())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Whether `addr` names the staking token in any spelling the chain would accept (bech32 is
/// case-insensitive, so the text alone is not enough).
fn is_token(api: &dyn Api, token: &Addr, addr: &str) -> bool {
    let addr = addr.trim();
    if addr.eq_ignore_ascii_case(token.as_str()) {
        return true;
    }
    match (
        api.addr_canonicalize(addr),
        api.addr_canonicalize(token.as_str()),
    ) {
        (Ok(a), Ok(t)) => a == t,
        _ => false,
    }
}

/// The name of a CW20 call on the staking token if it is not one the DAO allows.
fn refused_token_call(msg: &cosmwasm_std::Binary) -> Option<String> {
    match from_json::<Cw20ExecuteMsg>(msg) {
        Ok(Cw20ExecuteMsg::Transfer { .. })
        | Ok(Cw20ExecuteMsg::Send { .. })
        | Ok(Cw20ExecuteMsg::Burn { .. }) => None,
        Ok(other) => Some(format!("cw20 {}", kind(&other))),
        Err(_) => Some("cw20 message that is not a standard CW20 call".to_owned()),
    }
}

/// The name of a wasm message if it acts on the staking token in a way the DAO refuses.
fn refused_wasm(api: &dyn Api, token: &Addr, msg: &WasmMsg) -> Option<String> {
    match msg {
        WasmMsg::Execute {
            contract_addr, msg, ..
        } if is_token(api, token, contract_addr) => refused_token_call(msg),
        WasmMsg::Execute { .. } | WasmMsg::Instantiate { .. } | WasmMsg::Instantiate2 { .. } => {
            None
        }
        WasmMsg::Migrate { contract_addr, .. }
        | WasmMsg::UpdateAdmin { contract_addr, .. }
        | WasmMsg::ClearAdmin { contract_addr }
            if !is_token(api, token, contract_addr) =>
        {
            None
        }
        // Migrate, UpdateAdmin or ClearAdmin of the token, or a wasm message this code does
        // not know.
        other => Some(format!("wasm {}", kind(other))),
    }
}

/// Refuses a proposal whose messages could spend the stakers' tokens (see the module doc).
/// Checked when a proposal opens and again when it executes.
pub fn check_msgs(api: &dyn Api, token: &Addr, msgs: &[CosmosMsg]) -> Result<(), ContractError> {
    for (index, msg) in msgs.iter().enumerate() {
        match msg {
            CosmosMsg::Bank(_) => {}
            CosmosMsg::Wasm(wasm) => {
                if let Some(kind) = refused_wasm(api, token, wasm) {
                    return Err(ContractError::StakingTokenMessageNotAllowed {
                        index,
                        kind,
                        token: token.clone(),
                    });
                }
            }
            other => {
                return Err(ContractError::MessageKindNotAllowed {
                    index,
                    kind: kind(other),
                })
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cosmwasm_std::testing::MockApi;
    use cosmwasm_std::{to_json_binary, Uint128};

    #[test]
    fn kinds_are_the_json_names() {
        let msg: CosmosMsg = WasmMsg::ClearAdmin {
            contract_addr: "x".into(),
        }
        .into();
        assert_eq!(kind(&msg), "wasm");
        let call = Cw20ExecuteMsg::IncreaseAllowance {
            spender: "s".into(),
            amount: Uint128::one(),
            expires: None,
        };
        assert_eq!(kind(&call), "increase_allowance");
    }

    #[test]
    fn the_token_is_recognised_in_upper_case() {
        let api = MockApi::default();
        let token = api.addr_make("token");
        assert!(is_token(&api, &token, &token.as_str().to_uppercase()));
        assert!(is_token(&api, &token, &format!(" {token} ")));
        assert!(!is_token(&api, &token, api.addr_make("other").as_str()));
    }

    #[test]
    fn unparseable_token_calls_are_refused() {
        let garbage = to_json_binary(&"transfer").expect("serializable");
        assert!(refused_token_call(&garbage).is_some());
    }
}
