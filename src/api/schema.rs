//! JSON Schemas (draft 2020-12) generated from the resource types, one per kind plus a combined
//! schema that accepts any kind (for yaml-language-server and taplo).

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use super::status;
use super::{
    API_VERSION, AgentSpec, CitySpec, FormulaSpec, Kind, ObjectMeta, OrderSpec, ProviderSpec,
    RigSpec, VERSION,
};

const DRAFT: &str = "https://json-schema.org/draft/2020-12/schema";
const BASE_URL: &str = "https://gascity.dev/schemas";

/// File name of a kind's schema under `schemas/<version>/`.
pub fn file_name(kind: Kind) -> String {
    format!("{}.json", kind.as_str().to_ascii_lowercase())
}

/// File name of the combined schema under `schemas/<version>/`.
pub const COMBINED_FILE: &str = "all.json";

/// The complete schema of one kind: envelope (`apiVersion`, `kind`, `metadata`, `spec`,
/// `status`) with the spec and metadata types under `$defs`.
pub fn kind_schema(kind: Kind) -> Value {
    let mut defs = Map::new();
    let envelope = envelope(kind, &mut defs);
    let mut schema = Map::new();
    schema.insert("$schema".into(), DRAFT.into());
    schema.insert("$id".into(), format!("{BASE_URL}/{VERSION}/{}", file_name(kind)).into());
    schema.insert("title".into(), format!("{} ({API_VERSION})", kind.as_str()).into());
    schema.extend(envelope);
    schema.insert("$defs".into(), Value::Object(defs));
    Value::Object(schema)
}

/// One schema accepting a resource of any kind, chosen by its `kind` field.
pub fn combined_schema() -> Value {
    let mut defs = Map::new();
    let mut branches = Vec::new();
    for kind in Kind::ALL {
        let envelope = envelope(kind, &mut defs);
        defs.insert(kind.as_str().into(), Value::Object(envelope));
        branches.push(json!({
            "if": {"properties": {"kind": {"const": kind.as_str()}}, "required": ["kind"]},
            "then": {"$ref": format!("#/$defs/{}", kind.as_str())}
        }));
    }
    let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
    json!({
        "$schema": DRAFT,
        "$id": format!("{BASE_URL}/{VERSION}/{COMBINED_FILE}"),
        "title": format!("Any gc resource ({API_VERSION})"),
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": API_VERSION},
            "kind": {"enum": kinds}
        },
        "allOf": branches,
        "$defs": defs
    })
}

/// The envelope object schema for `kind`; the definitions it refers to are added to `defs`.
fn envelope(kind: Kind, defs: &mut Map<String, Value>) -> Map<String, Value> {
    let spec_name = format!("{}Spec", kind.as_str());
    let spec = match kind {
        Kind::City => root_schema::<CitySpec>(),
        Kind::Agent => root_schema::<AgentSpec>(),
        Kind::Rig => root_schema::<RigSpec>(),
        Kind::Provider => root_schema::<ProviderSpec>(),
        Kind::Formula => root_schema::<FormulaSpec>(),
        Kind::Order => root_schema::<OrderSpec>(),
    };
    hoist(&spec_name, spec, defs);
    hoist("ObjectMeta", root_schema::<ObjectMeta>(), defs);
    let status_name = format!("{}Status", kind.as_str());
    let status = match kind {
        Kind::City => root_schema::<status::CityStatus>(),
        Kind::Agent => root_schema::<status::AgentStatus>(),
        Kind::Rig => root_schema::<status::RigStatus>(),
        Kind::Provider => root_schema::<status::ProviderStatus>(),
        Kind::Formula => root_schema::<status::FormulaStatus>(),
        Kind::Order => root_schema::<status::OrderStatus>(),
    };
    hoist(&status_name, status, defs);

    let mut envelope = Map::new();
    envelope.insert("type".into(), "object".into());
    envelope.insert("required".into(), json!(["apiVersion", "kind", "metadata", "spec"]));
    envelope.insert("additionalProperties".into(), false.into());
    envelope.insert(
        "properties".into(),
        json!({
            "apiVersion": {"const": API_VERSION, "description": "The API version; this build serves gascity.dev/v1alpha1."},
            "kind": {"const": kind.as_str()},
            "metadata": {"$ref": "#/$defs/ObjectMeta"},
            "spec": {"$ref": format!("#/$defs/{spec_name}")},
            "status": {"$ref": format!("#/$defs/{status_name}"), "description": "Written by controllers (`.gc/status/`); ignored in files."}
        }),
    );
    envelope
}

/// The schema of `T`. Optional fields are not made nullable: a file that writes `null` for a
/// field gets a type error rather than a silent default, and error messages stay direct
/// (nullable wrappers turn every nested error into "not valid under any of the schemas").
fn root_schema<T: JsonSchema>() -> Value {
    let schema = SchemaSettings::draft2020_12().into_generator().into_root_schema_for::<T>();
    let mut value = schema.to_value();
    strip_null(&mut value);
    value
}

/// Removes the `null` alternative schemars adds for `Option` fields, and the Rust integer
/// formats (`uint32`) that are not JSON Schema formats: strict validators such as ajv refuse
/// unknown formats. Their bounds are stated with `minimum` (schemars) and `maximum` (here).
fn strip_null(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let max = match map.get("format").and_then(Value::as_str) {
                Some("uint8") => Some(u64::from(u8::MAX)),
                Some("uint16") => Some(u64::from(u16::MAX)),
                Some("uint32") => Some(u64::from(u32::MAX)),
                Some("uint64" | "uint") => Some(u64::MAX),
                _ => None,
            };
            if let Some(max) = max {
                map.remove("format");
                map.entry("maximum").or_insert(max.into());
            }
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".into(), only);
                }
            }
            let null_branch = json!({"type": "null"});
            if let Some(Value::Array(branches)) = map.get("anyOf")
                && branches.len() == 2
                && branches.contains(&null_branch)
            {
                let Some(Value::Array(branches)) = map.remove("anyOf") else { unreachable!() };
                let kept = branches.into_iter().find(|b| *b != null_branch).unwrap_or_default();
                if let Value::Object(kept) = kept {
                    map.extend(kept);
                }
            }
            map.values_mut().for_each(strip_null);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_null),
        _ => {}
    }
}

/// Moves a generated root schema into `defs[name]`, together with its own `$defs`.
fn hoist(name: &str, schema: Value, defs: &mut Map<String, Value>) {
    let Value::Object(mut schema) = schema else {
        unreachable!("schemars generates object schemas for structs")
    };
    schema.remove("$schema");
    if let Some(Value::Object(inner)) = schema.remove("$defs") {
        for (def_name, def) in inner {
            if let Some(existing) = defs.get(&def_name) {
                assert_eq!(existing, &def, "two different types share the schema name {def_name}");
            }
            defs.insert(def_name, def);
        }
    }
    defs.insert(name.into(), Value::Object(schema));
}

/// The schema files to commit: `(relative path, pretty JSON)`.
pub fn schema_files() -> Vec<(String, String)> {
    let pretty = |v: &Value| serde_json::to_string_pretty(v).expect("schemas serialise") + "\n";
    let mut files: Vec<(String, String)> = Kind::ALL
        .iter()
        .map(|k| (format!("{VERSION}/{}", file_name(*k)), pretty(&kind_schema(*k))))
        .collect();
    files.push((format!("{VERSION}/{COMBINED_FILE}"), pretty(&combined_schema())));
    files
}
