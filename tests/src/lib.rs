//! Cross-contract scenarios, adversarial cases and invariants live in `tests/`; this library
//! holds what they share with the schema generator: every contract's rendered JSON schema.
//!
//! Layout under `schema/` (what `@cosmwasm/ts-codegen` and other generators expect): one folder
//! per contract holding `<contract>.json`, the contract's whole API (instantiate, execute, query,
//! migrate and every query response); and `<contract>/raw/receive.json` for the contracts that
//! take CW20 `Send`s, the JSON Schema of the message carried inside `Cw20ReceiveMsg.msg`
//! (base64-encoded JSON), which the API file can only type as `Binary`.

use cosmwasm_schema::{generate_api, schema_for};

/// `(path relative to schema/, JSON)` of every committed schema file.
pub fn schemas() -> Vec<(String, String)> {
    use fairshare_protocol::{dao, escrow, round_manager};
    let render = |api: cosmwasm_schema::Api| api.render().to_string().unwrap_or_default() + "\n";
    let hook = |schema: cosmwasm_schema::schemars::schema::RootSchema| {
        serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
    };
    let apis = vec![
        (
            "round-manager",
            render(generate_api! {
                name: "fairshare-round-manager",
                instantiate: round_manager::InstantiateMsg,
                execute: round_manager::ExecuteMsg,
                query: round_manager::QueryMsg,
                migrate: round_manager::MigrateMsg,
            }),
        ),
        (
            "escrow",
            render(generate_api! {
                name: "fairshare-escrow",
                instantiate: escrow::InstantiateMsg,
                execute: escrow::ExecuteMsg,
                query: escrow::QueryMsg,
                migrate: escrow::MigrateMsg,
            }),
        ),
        (
            "dao",
            render(generate_api! {
                name: "fairshare-dao",
                instantiate: dao::InstantiateMsg,
                execute: dao::ExecuteMsg,
                query: dao::QueryMsg,
                migrate: dao::MigrateMsg,
            }),
        ),
        (
            "incentive-token",
            render(generate_api! {
                name: "fairshare-incentive-token",
                instantiate: cw20_base::msg::InstantiateMsg,
                execute: cw20_base::msg::ExecuteMsg,
                query: cw20_base::msg::QueryMsg,
                migrate: cw20_base::msg::MigrateMsg,
            }),
        ),
    ];
    let mut files: Vec<(String, String)> = apis
        .into_iter()
        .map(|(name, json)| (format!("{name}/{name}.json"), json))
        .collect();
    files.push((
        "escrow/raw/receive.json".into(),
        hook(schema_for!(escrow::ReceiveMsg)),
    ));
    files.push((
        "dao/raw/receive.json".into(),
        hook(schema_for!(dao::ReceiveMsg)),
    ));
    files
}
