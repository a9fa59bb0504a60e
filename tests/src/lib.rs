//! Cross-contract scenarios, adversarial cases and invariants live in `tests/`; this library
//! holds what they share with the schema generator: every contract's rendered JSON schema.

use cosmwasm_schema::generate_api;

/// `(file name, JSON)` of every contract's API schema, as committed under `schema/`.
pub fn schemas() -> Vec<(&'static str, String)> {
    use fairshare_protocol::{dao, escrow, round_manager};
    let render = |api: cosmwasm_schema::Api| api.render().to_string().unwrap_or_default() + "\n";
    vec![
        (
            "round-manager.json",
            render(generate_api! {
                name: "fairshare-round-manager",
                instantiate: round_manager::InstantiateMsg,
                execute: round_manager::ExecuteMsg,
                query: round_manager::QueryMsg,
                migrate: round_manager::MigrateMsg,
            }),
        ),
        (
            "escrow.json",
            render(generate_api! {
                name: "fairshare-escrow",
                instantiate: escrow::InstantiateMsg,
                execute: escrow::ExecuteMsg,
                query: escrow::QueryMsg,
                migrate: escrow::MigrateMsg,
            }),
        ),
        (
            "dao.json",
            render(generate_api! {
                name: "fairshare-dao",
                instantiate: dao::InstantiateMsg,
                execute: dao::ExecuteMsg,
                query: dao::QueryMsg,
                migrate: dao::MigrateMsg,
            }),
        ),
        (
            "incentive-token.json",
            render(generate_api! {
                name: "fairshare-incentive-token",
                instantiate: cw20_base::msg::InstantiateMsg,
                execute: cw20_base::msg::ExecuteMsg,
                query: cw20_base::msg::QueryMsg,
                migrate: cw20_base::msg::MigrateMsg,
            }),
        ),
    ]
}
