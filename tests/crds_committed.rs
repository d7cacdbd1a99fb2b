//! The Kubernetes CRDs: the committed files under `manifests/kubernetes/crds/` are exactly what
//! the Rust types generate, their schemas are structural (the API server's rules), a city's
//! resource files validate against them as they are, and `gc crds` prints one per kind. The
//! hand-written controller manifests beside them grant what every kind needs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use gascity::api::{GROUP, Kind, VERSION};
use gascity::kubernetes::crd::{crd_files, definition, definitions, version_schema};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::Deserialize;
use serde_json::{Value, json};

#[path = "common/documents.rs"]
mod documents;
use documents::{documents, sample_city_documents};

fn manifests() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests")
}

const REGENERATE: &str = "cargo run -- crds --write manifests/kubernetes";

#[test]
fn committed_crds_match_the_types() {
    let root = manifests().join("kubernetes");
    let files = crd_files().expect("the CRDs generate");
    let mut stale = Vec::new();
    for (path, generated) in &files {
        let committed = std::fs::read_to_string(root.join(path)).unwrap_or_default();
        if committed != *generated {
            stale.push(path.clone());
        }
    }
    assert!(
        stale.is_empty(),
        "manifests/kubernetes/ is out of date for {stale:?}; regenerate with `{REGENERATE}`"
    );
    let expected: BTreeSet<String> = files.iter().map(|(p, _)| p.clone()).collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(root.join("crds"))
        .unwrap()
        .map(|e| format!("crds/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    assert_eq!(on_disk, expected, "manifests/kubernetes/crds/ holds files no kind generates");
}

/// Every place a structural-schema rule was broken, as `path: rule`.
fn structural_violations(root: &Value) -> Vec<String> {
    let mut found = Vec::new();
    if root.get("type") != Some(&json!("object")) {
        found.push("/: the root must be of type object".into());
    }
    check_node(root, "", &mut found);
    if let Some(metadata) = root.pointer("/properties/metadata") {
        // Only `metadata.name` and `metadata.generateName` may be restricted.
        let keys: BTreeSet<&str> =
            metadata.as_object().unwrap().keys().map(String::as_str).collect();
        if !keys.is_subset(&BTreeSet::from(["type", "properties", "description"])) {
            found.push(format!("/properties/metadata: only name restrictions allowed: {keys:?}"));
        }
        for name in metadata.get("properties").and_then(Value::as_object).into_iter().flatten() {
            if !matches!(name.0.as_str(), "name" | "generateName") {
                found.push(format!("/properties/metadata: restricts {}", name.0));
            }
        }
    }
    found
}

/// The rules of a structural schema that apply at every node (Kubernetes' documentation,
/// "Specifying a structural schema", and the API server's refusals).
fn check_node(node: &Value, path: &str, found: &mut Vec<String>) {
    let Some(map) = node.as_object() else {
        found.push(format!("{path}: a schema must be an object, not {node}"));
        return;
    };
    let flag = |key: &str| map.get(key) == Some(&Value::Bool(true));
    let typed = map.get("type").and_then(Value::as_str).is_some_and(|t| !t.is_empty());
    // 1. Every specified field and item has a non-empty type, unless int-or-string or free-form.
    if !typed
        && !flag("x-kubernetes-int-or-string")
        && !flag("x-kubernetes-preserve-unknown-fields")
    {
        found.push(format!("{path}: no type"));
    }
    for refused in [
        "$ref",
        "$defs",
        "definitions",
        "$schema",
        "const",
        "prefixItems",
        "propertyNames",
        "patternProperties",
        "id",
        "examples",
    ] {
        if map.contains_key(refused) {
            found.push(format!("{path}: `{refused}` is not allowed"));
        }
    }
    if map.get("additionalProperties") == Some(&Value::Bool(false)) {
        found.push(format!("{path}: additionalProperties: false is not allowed"));
    }
    if map.contains_key("additionalProperties") && map.contains_key("properties") {
        found.push(format!("{path}: additionalProperties beside properties"));
    }
    if map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(false)) {
        found.push(format!("{path}: x-kubernetes-preserve-unknown-fields: false"));
    }
    if flag("uniqueItems") {
        found.push(format!("{path}: uniqueItems: true is not allowed"));
    }
    if let Some(t) = map.get("type")
        && !t.is_string()
    {
        found.push(format!("{path}: type must be one string: {t}"));
    }
    if map.get("type") == Some(&json!("array")) && !map.get("items").is_some_and(Value::is_object) {
        found.push(format!("{path}: an array needs one items schema"));
    }
    if map.get("x-kubernetes-list-type") == Some(&json!("set")) {
        let item_type = map.get("items").and_then(|i| i.get("type")).and_then(Value::as_str);
        if !matches!(item_type, Some("string" | "integer" | "number" | "boolean")) {
            found.push(format!("{path}: a set's items must be scalars"));
        }
    }
    for (key, child) in map.get("properties").and_then(Value::as_object).into_iter().flatten() {
        check_node(child, &format!("{path}/properties/{key}"), found);
    }
    if let Some(values @ Value::Object(_)) = map.get("additionalProperties") {
        check_node(values, &format!("{path}/additionalProperties"), found);
    }
    if let Some(items) = map.get("items") {
        check_node(items, &format!("{path}/items"), found);
    }
    // 2. and 3. Inside junctors: no description, type, default, additionalProperties or
    // nullable, and every field or item named there is also specified outside.
    let junctor_branches = ["allOf", "anyOf", "oneOf"]
        .iter()
        .flat_map(|j| {
            map.get(*j).and_then(Value::as_array).into_iter().flatten().map(move |b| (*j, b))
        })
        .chain(map.get("not").map(|b| ("not", b)));
    for (junctor, branch) in junctor_branches {
        check_junctor_branch(branch, map, &format!("{path}/{junctor}"), found);
    }
}

fn check_junctor_branch(
    branch: &Value,
    outside: &serde_json::Map<String, Value>,
    path: &str,
    found: &mut Vec<String>,
) {
    let Some(b) = branch.as_object() else { return };
    for forbidden in ["description", "type", "default", "additionalProperties", "nullable"] {
        if b.contains_key(forbidden) {
            found.push(format!("{path}: `{forbidden}` inside a junctor"));
        }
    }
    for key in b.get("properties").and_then(Value::as_object).into_iter().flatten().map(|p| p.0) {
        if outside.get("properties").and_then(|p| p.get(key)).is_none() {
            found.push(format!("{path}: field `{key}` is not specified outside the junctor"));
        }
    }
    if b.contains_key("items") && !outside.contains_key("items") {
        found.push(format!("{path}: items not specified outside the junctor"));
    }
}

/// Every number as a float, so a schema compares equal after a trip through `JSONSchemaProps`
/// (whose bounds are `f64`).
fn floats(value: &Value) -> Value {
    match value {
        Value::Number(n) => json!(n.as_f64()),
        Value::Array(a) => Value::Array(a.iter().map(floats).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), floats(v))).collect()),
        other => other.clone(),
    }
}

#[test]
fn crd_schemas_are_structural_and_nothing_is_lost_in_them() {
    for kind in Kind::ALL {
        let crd = definition(kind).unwrap();
        assert_eq!(crd.spec.versions.len(), 1, "{kind}: one served version today");
        for version in &crd.spec.versions {
            let props = version.schema.as_ref().unwrap().open_api_v3_schema.as_ref().unwrap();
            let schema = serde_json::to_value(props).unwrap();
            let violations = structural_violations(&schema);
            assert!(violations.is_empty(), "{kind} {}:\n{}", version.name, violations.join("\n"));
            // Every keyword the conversion writes is one JSONSchemaProps holds: none is dropped
            // on the way into the CRD.
            let generated = version_schema(kind, &version.name).unwrap();
            assert_eq!(floats(&schema), floats(&generated), "{kind}: a keyword was dropped");
        }
    }
}

#[test]
fn the_structural_checker_catches_what_the_api_server_refuses() {
    let bad = json!({
        "type": "object",
        "properties": {
            "a": {"description": "no type"},
            "b": {"$ref": "#/definitions/B"},
            "c": {"type": "object", "additionalProperties": false, "properties": {}},
            "d": {"type": "string", "oneOf": [{"type": "string"}]},
            "e": {"type": "object", "anyOf": [{"properties": {"x": {"type": "string"}}}]},
            "f": {"type": "array"}
        }
    });
    let found = structural_violations(&bad).join("\n");
    for rule in [
        "/a: no type",
        "`$ref`",
        "additionalProperties: false",
        "`type` inside",
        "field `x`",
        "/f: an array needs",
    ] {
        assert!(found.contains(rule), "missed {rule}:\n{found}");
    }
}

/// The CRD schema of `kind` as a JSON Schema the jsonschema crate checks as the API server
/// would: OpenAPI's `nullable` becomes "or null".
fn as_json_schema(node: &Value) -> Value {
    match node {
        Value::Object(map) => {
            let mut out: serde_json::Map<String, Value> =
                map.iter().map(|(k, v)| (k.clone(), as_json_schema(v))).collect();
            if out.remove("nullable") == Some(Value::Bool(true)) {
                return json!({"anyOf": [{"type": "null"}, Value::Object(out)]});
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(as_json_schema).collect()),
        other => other.clone(),
    }
}

fn validator(kind: Kind) -> jsonschema::Validator {
    let schema = as_json_schema(&version_schema(kind, VERSION).unwrap());
    jsonschema::draft4::new(&schema).expect("the CRD schema compiles")
}

#[test]
fn every_sample_city_and_catalog_resource_is_a_valid_custom_resource() {
    let mut docs = sample_city_documents();
    docs.extend(documents(&manifests().join("providers")));
    let mut kinds_seen = BTreeSet::new();
    let mut failures = Vec::new();
    for (file, doc) in &docs {
        let kind = doc["kind"].as_str().and_then(Kind::from_kind_field);
        let kind = kind.unwrap_or_else(|| panic!("{file}: no gc kind"));
        kinds_seen.insert(kind);
        assert_eq!(doc["apiVersion"], format!("{GROUP}/{VERSION}"), "{file}");
        for error in validator(kind).iter_errors(doc) {
            failures.push(format!("{file}: {} at {}", error, error.instance_path()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(kinds_seen, Kind::ALL.into_iter().collect(), "the sample city has every kind");
    assert!(docs.len() >= 10, "read {} documents", docs.len());
}

#[test]
fn crd_schemas_refuse_what_gc_refuses_where_the_api_server_can_tell() {
    let agent = |spec: Value, name: &str| json!({"apiVersion": "gascity.dev/v1alpha1", "kind": "Agent", "metadata": {"name": name}, "spec": spec});
    let v = validator(Kind::Agent);
    assert!(v.is_valid(&agent(json!({"provider": "claude"}), "mayor")));
    // An Option field may be null (gc reads that as unset).
    assert!(v.is_valid(&agent(json!({"provider": null}), "mayor")));
    assert!(!v.is_valid(&agent(json!({"restartPolicy": {"onDrift": "Sometimes"}}), "mayor")));
    assert!(!v.is_valid(&agent(json!({}), "Mayor_1")), "gc names are RFC 1123 labels");
    assert!(!v.is_valid(&json!({"apiVersion": "gascity.dev/v1alpha1", "kind": "Agent", "metadata": {"name": "x"}})), "spec is required");
}

#[test]
fn gc_crds_prints_one_definition_per_kind() {
    let output = Command::cargo_bin("gc").unwrap().arg("crds").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    let crds: Vec<CustomResourceDefinition> = serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| CustomResourceDefinition::deserialize(doc).expect("a CRD"))
        .collect();
    let kinds: Vec<&str> = crds.iter().map(|c| c.spec.names.kind.as_str()).collect();
    assert_eq!(kinds, Kind::ALL.map(Kind::as_str));
    for (crd, kind) in crds.iter().zip(Kind::ALL) {
        assert_eq!(
            crd.metadata.name.as_deref(),
            Some(format!("{}.{GROUP}", kind.plural()).as_str())
        );
        assert_eq!(crd.spec.group, GROUP);
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(crd.spec.names.plural, kind.plural());
        let version = &crd.spec.versions[0];
        assert!(version.served && version.storage && version.name == VERSION);
        assert!(
            version.subresources.as_ref().unwrap().status.is_some(),
            "{kind}: status subresource"
        );
        let columns = version.additional_printer_columns.as_ref().unwrap();
        assert!(columns.len() >= 2, "{kind}: printer columns");
        assert_eq!(columns.last().unwrap().json_path, ".metadata.creationTimestamp");
    }
    // What is printed is what `definitions()` builds, read back unchanged.
    let built: Vec<Value> =
        definitions().unwrap().iter().map(|c| floats(&serde_json::to_value(c).unwrap())).collect();
    let printed: Vec<Value> =
        crds.iter().map(|c| floats(&serde_json::to_value(c).unwrap())).collect();
    assert_eq!(printed, built);
}

#[test]
fn gc_crds_write_writes_the_committed_layout() {
    let tmp = tempfile::tempdir().unwrap();
    Command::cargo_bin("gc")
        .unwrap()
        .args(["crds", "--write"])
        .arg(tmp.path())
        .assert()
        .success()
        .stdout(predicates::str::contains("crds/agents.gascity.dev.yaml"));
    for (path, text) in crd_files().unwrap() {
        assert_eq!(std::fs::read_to_string(tmp.path().join(&path)).unwrap(), text, "{path}");
    }
}

#[test]
fn printer_columns_point_at_fields_the_schema_has() {
    for kind in Kind::ALL {
        let crd = definition(kind).unwrap();
        let version = &crd.spec.versions[0];
        let schema = serde_json::to_value(version.schema.as_ref().unwrap()).unwrap();
        let schema = &schema["openAPIV3Schema"];
        for column in version.additional_printer_columns.as_ref().unwrap() {
            if column.json_path.starts_with(".metadata.") {
                continue;
            }
            let mut node = schema;
            for field in column.json_path.trim_start_matches('.').split('.') {
                node = &node["properties"][field];
            }
            let t = node["type"].as_str().unwrap_or("string");
            assert!(!node.is_null(), "{kind}: {} has no field", column.json_path);
            assert_eq!(
                column.type_,
                if matches!(t, "integer" | "number" | "boolean") { t } else { "string" }
            );
        }
    }
}

/// The YAML documents of a hand-written manifest.
fn read_manifest(name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(manifests().join("kubernetes").join(name)).unwrap();
    serde_yaml_ng::Deserializer::from_str(&text).map(|d| Value::deserialize(d).unwrap()).collect()
}

#[test]
fn the_controller_may_do_what_it_needs_with_every_kind() {
    let rbac = read_manifest("20-rbac.yaml");
    let role: Role = serde_json::from_value(rbac[0].clone()).unwrap();
    let binding: RoleBinding = serde_json::from_value(rbac[1].clone()).unwrap();
    let account = &read_manifest("10-serviceaccount.yaml")[0];
    assert_eq!(account["kind"], "ServiceAccount");
    let allows = |group: &str, resource: &str, verb: &str| {
        role.rules.iter().flatten().any(|r| {
            r.api_groups.iter().flatten().any(|g| g == group)
                && r.resources.iter().flatten().any(|x| x == resource)
                && r.verbs.iter().any(|v| v == verb)
        })
    };
    for kind in Kind::ALL {
        for verb in ["get", "list", "watch", "patch"] {
            assert!(allows(GROUP, kind.plural(), verb), "{verb} {}", kind.plural());
        }
        assert!(allows(GROUP, &format!("{}/status", kind.plural()), "patch"), "{kind} status");
    }
    for (group, resource, verb) in [
        ("", "pods", "create"),
        ("", "pods", "delete"),
        ("", "pods/exec", "create"),
        ("", "events", "create"),
        ("", "pods", "watch"),
        ("", "pods/log", "get"),
        ("coordination.k8s.io", "leases", "update"),
    ] {
        assert!(allows(group, resource, verb), "{verb} {resource}");
    }
    assert!(!allows("", "secrets", "get"), "session pods name their Secret; gc reads none");
    assert_eq!(binding.role_ref.name, role.metadata.name.clone().unwrap());
    let subject = &binding.subjects.as_ref().unwrap()[0];
    assert_eq!(
        (subject.kind.as_str(), subject.name.as_str()),
        ("ServiceAccount", account["metadata"]["name"].as_str().unwrap())
    );
    assert_eq!(subject.namespace.as_deref(), account["metadata"]["namespace"].as_str());

    let deployment: Deployment =
        serde_json::from_value(read_manifest("30-deployment.yaml")[0].clone()).unwrap();
    let spec = deployment.spec;
    assert_eq!(spec.replicas, Some(2));
    let pod = spec.template.spec.unwrap();
    assert_eq!(pod.service_account_name.as_deref(), account["metadata"]["name"].as_str());
    let container = &pod.containers[0];
    assert_eq!(
        container.command.as_deref().unwrap(),
        ["gc", "controller", "--kubernetes", "--city", "/workspace"]
    );
    let mounted = container.volume_mounts.iter().flatten().find(|m| m.mount_path == "/workspace");
    let claim = pod
        .volumes
        .iter()
        .flatten()
        .find(|v| Some(&v.name) == mounted.map(|m| &m.name))
        .and_then(|v| v.persistent_volume_claim.as_ref())
        .map(|c| c.claim_name.clone());
    let workspace = &read_manifest("40-workspace.yaml")[0];
    assert_eq!(claim.as_deref(), workspace["metadata"]["name"].as_str(), "the workspace claim");
    assert_eq!(container.image.as_deref(), Some("ghcr.io/OWNER/gc:VERSION"));
}
