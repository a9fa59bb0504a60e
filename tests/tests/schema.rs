//! The committed schemas in `schema/` must match the messages: regenerate with `make schema`.

#[test]
fn committed_schemas_are_current() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema");
    for (name, json) in fairshare_integration_tests::schemas() {
        let committed = std::fs::read_to_string(dir.join(name))
            .unwrap_or_else(|e| panic!("schema/{name} is missing ({e}); run `make schema`"));
        assert!(
            committed == json,
            "schema/{name} is stale: the messages changed; run `make schema` and commit it"
        );
        assert!(
            json.contains("\"contract_name\""),
            "{name} is a rendered API"
        );
    }
}
