//! No Gas City formula or order, however odd its shape, makes the translation, the span
//! mapping or the validation of translated documents panic; findings always point inside the
//! file. Values are arbitrary TOML trees built from the keys the translation looks at, plus
//! mutations of the real fixtures.

mod common;

use std::path::Path;
use std::sync::Arc;

use gascity::manifest::gascity::{translate, translate_spans};
use gascity::manifest::{Format, SourceFile, SpanMap};
use gascity::validate::validate_sources;
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Keys the translation gives meaning to, at any level, so generated trees reach its paths.
const KEYS: &[&str] = &[
    "formula",
    "order",
    "description",
    "version",
    "type",
    "extends",
    "vars",
    "steps",
    "id",
    "title",
    "notes",
    "priority",
    "tags",
    "labels",
    "metadata",
    "assignee",
    "needs",
    "depends_on",
    "condition",
    "children",
    "default",
    "required",
    "enum",
    "pattern",
    "gate",
    "trigger",
    "interval",
    "schedule",
    "check",
    "on",
    "pool",
    "timeout",
    "enabled",
    "exec",
    "ralph",
    "retry",
    "loop",
    "phase",
    "tz",
    "env",
    "a/b~c",
    "é",
];

/// Strings the translation compares against, plus anything.
fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "cooldown",
            "cron",
            "condition",
            "event",
            "manual",
            "webhook",
            "workflow",
            "expansion",
            "string",
            "int",
            "5m",
            "* * * * *",
            "",
            "x",
            "a b",
        ])
        .prop_map(str::to_owned),
        "\\PC{0,12}",
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![4 => prop::sample::select(KEYS).prop_map(str::to_owned), 1 => "[a-z_]{1,6}"]
}

/// TOML-shaped JSON: no nulls, finite floats.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A top-level table that is a Gas City formula or order most of the time.
fn document() -> impl Strategy<Value = Value> {
    (prop::collection::btree_map(key(), value(), 0..8), 0u8..3, string(), value()).prop_map(
        |(entries, shape, name, order)| {
            let mut map: Map<String, Value> = entries.into_iter().collect();
            map.remove("apiVersion");
            match shape {
                0 => {
                    map.insert("formula".into(), Value::String(name));
                }
                1 => {
                    let order = match order {
                        Value::Object(o) => Value::Object(o),
                        other => Value::Object(Map::from_iter([("gate".into(), other)])),
                    };
                    map.insert("order".into(), order);
                }
                _ => {}
            }
            Value::Object(map)
        },
    )
}

/// `value` as TOML text: top-level tables as `[k]` sections, lists of tables as `[[k]]`,
/// everything below inline. (JSON's string escapes are valid TOML basic strings.)
fn to_toml(doc: &Value) -> String {
    fn inline(v: &Value) -> String {
        match v {
            Value::Object(m) => {
                let entries: Vec<String> = m
                    .iter()
                    .map(|(k, v)| format!("{} = {}", Value::from(k.as_str()), inline(v)))
                    .collect();
                format!("{{ {} }}", entries.join(", "))
            }
            Value::Array(items) => {
                format!("[{}]", items.iter().map(inline).collect::<Vec<_>>().join(", "))
            }
            Value::Number(n) if n.is_f64() => {
                let f = n.as_f64().unwrap_or(0.0);
                format!("{f:?}")
            }
            other => other.to_string(),
        }
    }
    let Value::Object(map) = doc else { return String::new() };
    let mut head = String::new();
    let mut sections = String::new();
    for (k, v) in map {
        let key = Value::from(k.as_str());
        match v {
            Value::Object(m) => {
                sections.push_str(&format!("[{key}]\n"));
                for (k2, v2) in m {
                    sections.push_str(&format!("{} = {}\n", Value::from(k2.as_str()), inline(v2)));
                }
            }
            Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_object) => {
                for item in items {
                    sections.push_str(&format!("[[{key}]]\n"));
                    for (k2, v2) in item.as_object().into_iter().flatten() {
                        sections.push_str(&format!(
                            "{} = {}\n",
                            Value::from(k2.as_str()),
                            inline(v2)
                        ));
                    }
                }
            }
            other => head.push_str(&format!("{key} = {}\n", inline(other))),
        }
    }
    head + &sections
}

fn validate_toml(name: &str, text: String) {
    let file = Arc::new(SourceFile::new(name, text));
    let validation = validate_sources(
        vec![(file, Format::Toml)],
        Vec::new(),
        None,
        Path::new(env!("CARGO_MANIFEST_DIR")),
        true,
    );
    for d in &validation.diagnostics {
        if let Some((file, span)) = &d.location {
            assert!(span.start <= span.end && span.end <= file.text.len(), "{d:?}");
        }
    }
    let _ = gascity::validate::render::render(
        &validation,
        gascity::validate::render::OutputFormat::Human,
        false,
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn translation_never_panics_on_arbitrary_values(doc in document(), name in "\\PC{0,16}") {
        if let Some(t) = translate(&doc, &name) {
            prop_assert!(t.value.get("kind").is_some());
            let spans = translate_spans(&t.value, &t.remap, &SpanMap::whole(0..10));
            let _ = spans.value_span("/spec/steps/0/needs/3");
            for f in &t.findings {
                let _ = t.remap.original(&f.pointer);
            }
        }
    }

    #[test]
    fn translated_documents_validate_without_panicking(doc in document()) {
        // The text must be TOML the loader reads back as `doc`, or this tests nothing.
        let text = to_toml(&doc);
        let parsed = gascity::manifest::parse(&Arc::new(SourceFile::new("t.toml", text.clone())), Format::Toml);
        prop_assert!(parsed.is_ok(), "{text}");
        validate_toml("orders/o.order.toml", to_toml(&doc));
    }
}

/// Each real fixture with one line deleted at a time: every partial file still validates
/// without panicking (a deleted `[order]` or `[[steps]]` header reshapes the whole document).
#[test]
fn fixtures_with_any_one_line_deleted_never_panic() {
    let Some(root) = common::gascity_fixtures() else {
        eprintln!("skipped: no Gas City fixtures (set GC_GASCITY_FIXTURES)");
        return;
    };
    for name in [
        "cmd/gc/testdata/formulas/ralph-demo.toml",
        "internal/bootstrap/packs/core/orders/beads-health.toml",
        "examples/dolt/formulas/mol-dog-doctor.toml",
    ] {
        let text = std::fs::read_to_string(root.join(name)).unwrap();
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        for i in 0..lines.len() {
            let mut cut = lines.clone();
            cut.remove(i);
            validate_toml(name, cut.concat());
        }
    }
}
