//! JSON Schemas as schemars writes them (draft 2020-12, subschemas under `$defs`) turned into
//! the OpenAPI v3 *structural* schemas a CustomResourceDefinition carries.
//!
//! The API server only accepts a schema in which every node states its `type` (or is marked
//! free-form), nothing is referenced (`$ref`) and no logical junctor (`oneOf`, `anyOf`, …)
//! carries types of its own. What the two dialects say differently is rewritten here:
//!
//! | draft 2020-12 (schemars)                       | OpenAPI v3 structural                          |
//! |------------------------------------------------|------------------------------------------------|
//! | `{"$ref": "#/$defs/X"}`                        | `X` inlined (a recursive type is cut, below)   |
//! | `"type": ["string", "null"]`, `anyOf [X, null]`| `X` with `nullable: true`                      |
//! | `oneOf` of string `const`s (a Rust enum)       | `type: string` with `enum`                     |
//! | `const: v`                                     | `enum: [v]`                                    |
//! | `true`, `{}` (a `serde_json::Value`)           | `x-kubernetes-preserve-unknown-fields: true`   |
//! | `additionalProperties: true` / `false`         | preserve unknown fields / left out (pruning)   |
//! | `exclusiveMinimum: n`                          | `minimum: n`, `exclusiveMinimum: true`         |
//! | `uniqueItems: true` on scalars                 | `x-kubernetes-list-type: set`                  |
//!
//! Keywords Kubernetes does not know (`default`, `examples`, `propertyNames`, `$schema`, …)
//! are left out: defaults are applied by gc's own deserialisation, so an object stored in a
//! cluster stays what its author wrote, as a local city's files do.

use serde_json::{Map, Value, json};

/// Formats the API server knows; others (`uint32`, Rust's names) are dropped, their range being
/// stated with `minimum`/`maximum`.
const KNOWN_FORMATS: &[&str] = &[
    "int32",
    "int64",
    "float",
    "double",
    "byte",
    "date",
    "date-time",
    "password",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "uuid",
];

/// Validation keywords that mean the same in both dialects and are copied as they are.
const COPIED: &[&str] = &[
    "pattern",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "multipleOf",
];

/// The structural OpenAPI v3 schema of a draft 2020-12 root schema: every `$ref` into the
/// root's `$defs` inlined, the result free of everything the API server refuses.
///
/// Never fails: a reference that cannot be resolved, or a construct with no structural form
/// (a value that may be a string or a list), becomes a free-form node
/// (`x-kubernetes-preserve-unknown-fields: true`), which the API server stores as it is and gc
/// checks when it reads the object.
pub fn structural(root: &Value) -> Value {
    let defs = root.get("$defs").and_then(Value::as_object);
    Converter { defs, stack: Vec::new() }.convert(root)
}

/// One conversion: the definitions references point into, and the ones being inlined right now
/// (to cut recursion).
struct Converter<'a> {
    defs: Option<&'a Map<String, Value>>,
    stack: Vec<String>,
}

impl Converter<'_> {
    fn convert(&mut self, node: &Value) -> Value {
        let Value::Object(map) = node else {
            // `true` accepts anything; `false` is never generated for a type that deserialises.
            return free_form(None, None);
        };
        if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
            return self.inline(reference, map);
        }
        let mut map = map.clone();
        let mut nullable = false;
        // `Option<T>`: schemars writes `anyOf: [T, {"type": "null"}]` for named types.
        for junctor in ["anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = map.get(junctor)
                && branches.iter().any(is_null_schema)
            {
                nullable = true;
                let rest: Vec<Value> =
                    branches.iter().filter(|b| !is_null_schema(b)).cloned().collect();
                map.remove(junctor);
                match <[Value; 1]>::try_from(rest) {
                    Ok([only]) => {
                        // The field's own keywords (its description) win over the type's.
                        let mut merged = match only {
                            Value::Object(m) => m,
                            _ => Map::new(),
                        };
                        merged.extend(map);
                        let converted = self.convert(&Value::Object(merged));
                        return make_nullable(converted);
                    }
                    Err(rest) => {
                        map.insert(junctor.into(), Value::Array(rest));
                    }
                }
            }
        }
        if let Some(Value::Array(branches)) = map.remove("allOf") {
            // Flattened structs: their properties merged into this node, then converted once.
            for branch in branches {
                let raw = self.resolve(&branch);
                merge_object(&mut map, raw);
            }
            let converted = self.convert(&Value::Object(map));
            return with_nullable(converted, nullable);
        }
        // The types the node allows, `null` taken out into `nullable`.
        let mut types: Vec<String> = match map.get("type") {
            Some(Value::String(t)) => vec![t.clone()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).map(Into::into).collect(),
            _ => Vec::new(),
        };
        if types.iter().any(|t| t == "null") {
            nullable = true;
            types.retain(|t| t != "null");
        }
        if types.iter().any(|t| t == "integer") && types.iter().any(|t| t == "number") {
            types.retain(|t| t != "integer");
        }
        let mut values: Option<Vec<Value>> = match (map.get("enum"), map.get("const")) {
            (Some(Value::Array(v)), _) => Some(v.clone()),
            (_, Some(c)) => Some(vec![c.clone()]),
            _ => None,
        };
        if let Some(all) = ["oneOf", "anyOf"].iter().find_map(|j| enum_branches(map.get(*j))) {
            values = Some(all);
            map.remove("oneOf");
            map.remove("anyOf");
        }
        if types.is_empty()
            && let Some(t) = values.as_deref().and_then(scalar_type_of)
        {
            types.push(t.into());
        }
        let description = map.get("description");
        // Branches of different forms (a string or a list; variants of a tagged enum) cannot be
        // told apart structurally: the node is stored as written.
        let typed_junctor =
            ["oneOf", "anyOf"].iter().any(|j| map.get(*j).is_some_and(|b| !constraint_only(b)));
        if typed_junctor {
            let shared = self.shared_type(&map);
            return with_nullable(free_form(description, shared.as_deref()), nullable);
        }
        let mut out = Map::new();
        if let Some(description) = description {
            out.insert("description".into(), description.clone());
        }
        let single = match types.as_slice() {
            [one] => Some(one.clone()),
            [a, b] if (a == "integer" && b == "string") || (a == "string" && b == "integer") => {
                out.insert("x-kubernetes-int-or-string".into(), true.into());
                None
            }
            // No type at all (a `serde_json::Value`), or several with no structural form.
            _ => return with_nullable(free_form(description, None), nullable),
        };
        if let Some(t) = &single {
            out.insert("type".into(), t.clone().into());
        }
        if let Some(values) = values {
            out.insert("enum".into(), Value::Array(values));
        }
        for key in COPIED {
            if let Some(v) = map.get(*key) {
                out.insert((*key).into(), v.clone());
            }
        }
        self.numbers(&map, &mut out);
        match single.as_deref() {
            Some("object") => self.object(&map, &mut out),
            Some("array") => self.array(&map, &mut out),
            _ => {}
        }
        // Junctors that only constrain (`oneOf: [{required: [a]}, {required: [b]}]`) are
        // structural as they are.
        for junctor in ["oneOf", "anyOf"] {
            if let Some(Value::Array(branches)) = map.get(junctor) {
                let kept: Vec<Value> = branches.iter().map(constraint_branch).collect();
                out.insert(junctor.into(), Value::Array(kept));
            }
        }
        with_nullable(Value::Object(out), nullable)
    }

    /// Inlines the definition `reference` names; the referring node's own keywords (a field's
    /// description) win. A type that contains itself (a formula step's `children`) cannot be
    /// written out without end: at its second occurrence it becomes a free-form object.
    fn inline(&mut self, reference: &str, node: &Map<String, Value>) -> Value {
        let name = reference.strip_prefix("#/$defs/").unwrap_or(reference);
        let Some(Value::Object(target)) = self.defs.and_then(|d| d.get(name)) else {
            return free_form(node.get("description"), None);
        };
        let mut merged = target.clone();
        merged
            .extend(node.iter().filter(|(k, _)| *k != "$ref").map(|(k, v)| (k.clone(), v.clone())));
        if self.stack.iter().any(|s| s == name) {
            let description = merged.get("description").and_then(Value::as_str).unwrap_or("");
            let note = format!(
                "{description}{}(A nested {name}: the schema cannot repeat itself without end, so \
                 the API server stores it as written and gc checks it when it reads the object.)",
                if description.is_empty() { "" } else { "\n" }
            );
            let t = merged.get("type").and_then(Value::as_str).map(str::to_owned);
            return free_form(Some(&note.into()), t.as_deref());
        }
        self.stack.push(name.to_owned());
        let converted = self.convert(&Value::Object(merged));
        self.stack.pop();
        converted
    }

    /// `branch` itself, or the definition it refers to with its own keywords over it (for
    /// merging `allOf` branches before conversion).
    fn resolve(&self, branch: &Value) -> Map<String, Value> {
        let Value::Object(node) = branch else { return Map::new() };
        let Some(reference) = node.get("$ref").and_then(Value::as_str) else { return node.clone() };
        let name = reference.strip_prefix("#/$defs/").unwrap_or(reference);
        let mut merged = match self.defs.and_then(|d| d.get(name)) {
            Some(Value::Object(target)) => target.clone(),
            _ => Map::new(),
        };
        merged
            .extend(node.iter().filter(|(k, _)| *k != "$ref").map(|(k, v)| (k.clone(), v.clone())));
        merged
    }

    /// The one type every branch of the node's junctors has, if they agree.
    fn shared_type(&mut self, map: &Map<String, Value>) -> Option<String> {
        let mut shared: Option<String> = None;
        for junctor in ["oneOf", "anyOf"] {
            let Some(Value::Array(branches)) = map.get(junctor) else { continue };
            for branch in branches {
                let converted = self.convert(branch);
                let t = converted.get("type").and_then(Value::as_str)?;
                match &shared {
                    Some(s) if s != t => return None,
                    _ => shared = Some(t.to_owned()),
                }
            }
        }
        shared
    }

    /// Numeric bounds, in OpenAPI v3's form (boolean `exclusive*`), and the format if the API
    /// server knows it.
    fn numbers(&mut self, map: &Map<String, Value>, out: &mut Map<String, Value>) {
        for key in ["minimum", "maximum"] {
            if let Some(v) = map.get(key) {
                out.insert(key.into(), v.clone());
            }
        }
        for (exclusive, bound) in [("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")]
        {
            match map.get(exclusive) {
                Some(Value::Number(n)) => {
                    out.insert(bound.into(), Value::Number(n.clone()));
                    out.insert(exclusive.into(), true.into());
                }
                Some(Value::Bool(true)) => {
                    out.insert(exclusive.into(), true.into());
                }
                _ => {}
            }
        }
        let Some(format) = map.get("format").and_then(Value::as_str) else { return };
        let max = match format {
            "uint8" => Some(u64::from(u8::MAX)),
            "uint16" => Some(u64::from(u16::MAX)),
            "uint32" => Some(u64::from(u32::MAX)),
            _ => None,
        };
        if let Some(max) = max {
            out.entry("maximum").or_insert(max.into());
        }
        if KNOWN_FORMATS.contains(&format) {
            out.insert("format".into(), format.into());
        }
    }

    fn object(&mut self, map: &Map<String, Value>, out: &mut Map<String, Value>) {
        let properties = map.get("properties").and_then(Value::as_object);
        if let Some(properties) = properties {
            let converted: Map<String, Value> =
                properties.iter().map(|(k, v)| (k.clone(), self.convert(v))).collect();
            out.insert("properties".into(), Value::Object(converted));
        }
        if let Some(Value::Array(required)) = map.get("required")
            && !required.is_empty()
        {
            out.insert("required".into(), Value::Array(required.clone()));
        }
        match map.get("additionalProperties") {
            // A map: its values' schema. Kubernetes does not take it beside `properties`.
            Some(values @ Value::Object(_)) if properties.is_none() => {
                let converted = self.convert(values);
                out.insert("additionalProperties".into(), converted);
            }
            Some(Value::Bool(true)) => {
                out.insert("x-kubernetes-preserve-unknown-fields".into(), true.into());
            }
            // `false` is what pruning does anyway; the API server refuses it written out.
            _ if properties.is_none() && !map.contains_key("additionalProperties") => {
                out.insert("x-kubernetes-preserve-unknown-fields".into(), true.into());
            }
            _ => {}
        }
    }

    fn array(&mut self, map: &Map<String, Value>, out: &mut Map<String, Value>) {
        let items = match map.get("items") {
            Some(items @ (Value::Object(_) | Value::Bool(true))) => self.convert(items),
            // A tuple (`prefixItems`) or no item schema: items of any form.
            _ => free_form(None, None),
        };
        let scalar = items
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| matches!(t, "string" | "integer" | "number" | "boolean"));
        out.insert("items".into(), items);
        // The API server refuses `uniqueItems: true` (quadratic to check); a set of scalars is
        // its own way of saying the same.
        if map.get("uniqueItems") == Some(&Value::Bool(true)) && scalar {
            out.insert("x-kubernetes-list-type".into(), "set".into());
        }
    }
}

/// Whether `schema` is schemars' `{"type": "null"}` branch of an `Option`.
fn is_null_schema(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("null")
}

/// The values of a junctor whose every branch is one constant (a unit-variant Rust enum, each
/// variant with its own doc comment).
fn enum_branches(junctor: Option<&Value>) -> Option<Vec<Value>> {
    let Value::Array(branches) = junctor? else { return None };
    let mut values = Vec::new();
    for branch in branches {
        match (branch.get("const"), branch.get("enum")) {
            (Some(c), _) => values.push(c.clone()),
            (None, Some(Value::Array(vs))) => values.extend(vs.iter().cloned()),
            _ => return None,
        }
    }
    (!values.is_empty()).then_some(values)
}

/// The one JSON type all of `values` have, if they are scalars of one type.
fn scalar_type_of(values: &[Value]) -> Option<&'static str> {
    let type_of = |v: &Value| match v {
        Value::String(_) => Some("string"),
        Value::Bool(_) => Some("boolean"),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some("integer"),
        Value::Number(_) => Some("number"),
        _ => None,
    };
    let first = type_of(values.first()?)?;
    values.iter().all(|v| type_of(v) == Some(first)).then_some(first)
}

/// Whether every branch of a junctor only constrains (`required`, counts) and so may stay.
fn constraint_only(branches: &Value) -> bool {
    let Value::Array(branches) = branches else { return false };
    branches.iter().all(|b| {
        b.as_object().is_some_and(|m| {
            m.keys().all(|k| {
                matches!(k.as_str(), "required" | "minProperties" | "maxProperties" | "description")
            })
        })
    })
}

/// A constraint-only junctor branch without what Kubernetes forbids inside junctors
/// (`description` among them).
fn constraint_branch(branch: &Value) -> Value {
    let Value::Object(m) = branch else { return json!({}) };
    Value::Object(
        m.iter()
            .filter(|(k, _)| matches!(k.as_str(), "required" | "minProperties" | "maxProperties"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

/// Properties and `required` of `from` added to `into` (for `allOf`).
fn merge_object(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (key, value) in from {
        match (key.as_str(), into.get_mut(&key), value) {
            ("properties", Some(Value::Object(mine)), Value::Object(theirs)) => mine.extend(theirs),
            ("required", Some(Value::Array(mine)), Value::Array(theirs)) => {
                mine.extend(theirs.into_iter().filter(|t| !mine.contains(t)).collect::<Vec<_>>());
            }
            (_, Some(_), _) => {}
            (_, None, value) => {
                into.insert(key, value);
            }
        }
    }
}

/// A node the API server keeps as written: any JSON value, or any value of type `of`.
fn free_form(description: Option<&Value>, of: Option<&str>) -> Value {
    let mut out = Map::new();
    if let Some(d) = description {
        out.insert("description".into(), d.clone());
    }
    if let Some(t) = of {
        out.insert("type".into(), t.into());
    }
    out.insert("x-kubernetes-preserve-unknown-fields".into(), true.into());
    Value::Object(out)
}

fn with_nullable(node: Value, nullable: bool) -> Value {
    if nullable { make_nullable(node) } else { node }
}

/// `node` that also accepts `null`. OpenAPI v3 wants `null` listed too when there is an `enum`.
fn make_nullable(mut node: Value) -> Value {
    if let Value::Object(map) = &mut node {
        map.insert("nullable".into(), true.into());
        if let Some(Value::Array(values)) = map.get_mut("enum")
            && !values.contains(&Value::Null)
        {
            values.push(Value::Null);
        }
    }
    node
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use schemars::JsonSchema;
    use schemars::generate::SchemaSettings;
    use serde::{Deserialize, Serialize};

    use super::*;

    /// Whether a CPU core is busy.
    #[derive(Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "lowercase")]
    enum Load {
        /// Nothing to do.
        Idle,
        /// Working.
        Busy,
    }

    /// A tree node.
    #[derive(Serialize, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Node {
        /// Its children.
        #[serde(default)]
        children: Vec<Node>,
    }

    /// A string or several.
    #[derive(Serialize, Deserialize, JsonSchema)]
    #[serde(untagged)]
    enum OneOrMany {
        /// One.
        One(String),
        /// Several.
        Many(Vec<String>),
    }

    #[derive(Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Sample {
        /// A nickname, if any.
        nickname: Option<String>,
        /// How busy, if known.
        load: Option<Load>,
        /// The current load.
        #[serde(default = "idle")]
        now: Load,
        /// Labels.
        #[serde(default)]
        labels: BTreeMap<String, String>,
        /// Anything at all.
        settings: serde_json::Value,
        /// A free-form object.
        extra: serde_json::Map<String, serde_json::Value>,
        /// A port.
        port: u16,
        /// A tree.
        tree: Option<Node>,
        /// Names.
        names: OneOrMany,
    }

    fn idle() -> Load {
        Load::Idle
    }

    fn converted() -> Value {
        let root = SchemaSettings::draft2020_12().into_generator().into_root_schema_for::<Sample>();
        structural(&root.to_value())
    }

    fn field(name: &str) -> Value {
        converted()["properties"][name].clone()
    }

    #[test]
    fn an_option_field_is_nullable_with_its_own_type() {
        assert_eq!(
            field("nickname"),
            json!({"description": "A nickname, if any.", "type": "string", "nullable": true})
        );
    }

    #[test]
    fn an_optional_enum_is_a_nullable_string_enum_that_lists_null() {
        assert_eq!(
            field("load"),
            json!({
                "description": "How busy, if known.",
                "type": "string",
                "enum": ["idle", "busy", null],
                "nullable": true
            })
        );
        // A required enum: the variants, no null, no default (gc's serde fills it in).
        assert_eq!(
            field("now"),
            json!({"description": "The current load.", "type": "string", "enum": ["idle", "busy"]})
        );
    }

    #[test]
    fn a_map_states_its_values_schema() {
        assert_eq!(
            field("labels"),
            json!({
                "description": "Labels.",
                "type": "object",
                "additionalProperties": {"type": "string"}
            })
        );
    }

    #[test]
    fn free_form_values_keep_unknown_fields() {
        assert_eq!(
            field("settings"),
            json!({"description": "Anything at all.", "x-kubernetes-preserve-unknown-fields": true})
        );
        assert_eq!(
            field("extra"),
            json!({
                "description": "A free-form object.",
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": true
            })
        );
    }

    #[test]
    fn rust_integer_formats_become_bounds() {
        let port = field("port");
        assert_eq!(port["type"], "integer");
        assert_eq!(port["minimum"], 0);
        assert_eq!(port["maximum"], 65535);
        assert!(port.get("format").is_none(), "{port}");
    }

    #[test]
    fn a_recursive_type_is_cut_at_its_second_occurrence() {
        let tree = field("tree");
        assert_eq!(tree["nullable"], true);
        let nested = &tree["properties"]["children"]["items"];
        assert_eq!(nested["type"], "object");
        assert_eq!(nested["x-kubernetes-preserve-unknown-fields"], true);
        assert!(nested.get("properties").is_none(), "{nested}");
    }

    #[test]
    fn a_string_or_list_is_stored_as_written() {
        let names = field("names");
        assert_eq!(names["x-kubernetes-preserve-unknown-fields"], true);
        assert!(names.get("type").is_none() && names.get("anyOf").is_none(), "{names}");
    }

    #[test]
    fn nothing_kubernetes_refuses_is_left() {
        let text = converted().to_string();
        for refused in
            ["$ref", "$defs", "$schema", "\"const\"", "\"default\"", "\"title\"", "false"]
        {
            assert!(!text.contains(refused), "{refused} in {text}");
        }
        assert_eq!(converted()["required"], json!(["settings", "extra", "port", "names"]));
    }

    #[test]
    fn junctors_that_only_require_stay_and_lose_their_descriptions() {
        let schema = json!({
            "type": "object",
            "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
            "oneOf": [
                {"required": ["a"], "description": "with a"},
                {"required": ["b"]}
            ]
        });
        let out = structural(&schema);
        assert_eq!(out["oneOf"], json!([{"required": ["a"]}, {"required": ["b"]}]));
    }

    #[test]
    fn int_or_string_is_named_as_kubernetes_names_it() {
        let out = structural(&json!({"type": ["integer", "string"], "description": "port"}));
        assert_eq!(out, json!({"description": "port", "x-kubernetes-int-or-string": true}));
    }

    #[test]
    fn unresolvable_references_and_odd_input_never_fail() {
        for odd in [json!({"$ref": "#/$defs/Nope"}), json!(true), json!(7), json!({"type": 3})] {
            let out = structural(&odd);
            assert_eq!(out["x-kubernetes-preserve-unknown-fields"], true, "{odd} → {out}");
        }
    }
}
