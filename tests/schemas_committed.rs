//! The committed JSON Schemas under `schemas/` are exactly what the Rust types generate.

use std::path::Path;

use gascity::api::schema::schema_files;

#[test]
fn committed_schemas_match_the_types() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let mut stale = Vec::new();
    for (path, generated) in schema_files() {
        let committed = std::fs::read_to_string(root.join(&path)).unwrap_or_default();
        if committed != generated {
            stale.push(path);
        }
    }
    assert!(
        stale.is_empty(),
        "schemas/ is out of date for {stale:?}; regenerate with `cargo run -- schema --write schemas`"
    );
}

#[test]
fn schemas_are_valid_draft_2020_12_and_accept_the_sample_city() {
    let combined = gascity::api::schema::combined_schema();
    let validator = jsonschema::draft202012::new(&combined).expect("combined schema compiles");
    let agent = serde_json::json!({
        "apiVersion": "gascity.dev/v1alpha1", "kind": "Agent",
        "metadata": {"name": "mayor"}, "spec": {"provider": "claude"}
    });
    assert!(validator.is_valid(&agent));
    let typo = serde_json::json!({
        "apiVersion": "gascity.dev/v1alpha1", "kind": "Agent",
        "metadata": {"name": "mayor"}, "spec": {"provder": "claude"}
    });
    assert!(!validator.is_valid(&typo), "the combined schema must reject unknown fields");
    let wrong_kind = serde_json::json!({
        "apiVersion": "gascity.dev/v1alpha1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {}
    });
    assert!(!validator.is_valid(&wrong_kind));
}
