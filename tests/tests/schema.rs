//! The committed schemas in `schema/` must match the messages: regenerate with `make schema`.

use std::path::{Path, PathBuf};

fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema")
}

#[test]
fn committed_schemas_are_current() {
    let dir = schema_dir();
    for (name, json) in fairshare_integration_tests::schemas() {
        let committed = std::fs::read_to_string(dir.join(&name))
            .unwrap_or_else(|e| panic!("schema/{name} is missing ({e}); run `make schema`"));
        assert!(
            committed == json,
            "schema/{name} is stale: the messages changed; run `make schema` and commit it"
        );
    }
}

/// One folder per contract holding `<contract>.json` (a whole rendered API named after the
/// contract), as `@cosmwasm/ts-codegen` requires, and nothing else at the top level.
#[test]
fn one_folder_per_contract() {
    let files = fairshare_integration_tests::schemas();
    let apis: Vec<_> = files.iter().filter(|(n, _)| !n.contains("/raw/")).collect();
    assert_eq!(apis.len(), 4, "four contracts");
    for (name, json) in apis {
        let (folder, file) = name.split_once('/').expect("folder/file");
        assert_eq!(file, format!("{folder}.json"));
        let api: serde_json::Value = serde_json::from_str(json).expect("valid JSON");
        assert_eq!(api["contract_name"], format!("fairshare-{folder}"));
        for part in ["instantiate", "execute", "query", "migrate", "responses"] {
            assert!(api[part].is_object(), "{name} has {part}");
        }
    }
    for entry in std::fs::read_dir(schema_dir()).expect("schema/ exists") {
        let path = entry.expect("entry").path();
        assert!(
            path.is_dir(),
            "{} is a stray file at the top of schema/; run `make schema`",
            path.display()
        );
    }
}

/// A query and an execute message with the same name make generated clients fail to compile
/// (their read-only interface is extended by the signing one).
#[test]
fn no_query_shares_a_name_with_an_execute_message() {
    for (name, json) in fairshare_integration_tests::schemas() {
        if name.contains("/raw/") {
            continue;
        }
        let api: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        let variants = |part: &str| -> Vec<String> {
            api[part]["oneOf"]
                .as_array()
                .map(|all| {
                    all.iter()
                        .filter_map(|v| v["required"][0].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let (execute, query) = (variants("execute"), variants("query"));
        assert!(!query.is_empty(), "{name} has queries");
        for q in &query {
            assert!(
                !execute.contains(q),
                "{name}: `{q}` is both a query and an execute message"
            );
        }
    }
    let dao = fairshare_integration_tests::schemas()
        .into_iter()
        .find(|(n, _)| n == "dao/dao.json")
        .expect("dao schema")
        .1;
    assert!(
        dao.contains("\"vote_of\""),
        "the DAO's ballot query is `vote_of`"
    );
}

/// The CW20 hook payloads are typed: every variant the contracts accept inside a `Send`.
#[test]
fn receive_hooks_are_typed() {
    let files = fairshare_integration_tests::schemas();
    let hook = |name: &str| -> Vec<String> {
        let json = &files.iter().find(|(n, _)| n == name).expect(name).1;
        let schema: serde_json::Value = serde_json::from_str(json).expect("valid JSON");
        assert_eq!(schema["title"], "ReceiveMsg");
        let mut variants: Vec<String> = schema["oneOf"]
            .as_array()
            .expect("an enum")
            .iter()
            .filter_map(|v| v["required"][0].as_str().map(str::to_owned))
            .collect();
        variants.sort();
        variants
    };
    assert_eq!(
        hook("escrow/raw/receive.json"),
        ["dispute", "join", "serve"]
    );
    assert_eq!(hook("dao/raw/receive.json"), ["propose", "stake"]);
}
