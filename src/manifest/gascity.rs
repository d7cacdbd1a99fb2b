//! Gas City's own `formulas/*.toml` and `orders/*.toml`, read as they are on disk: translated
//! into `Formula` and `Order` resources, with a map from every translated JSON pointer back to
//! the key or value it came from (so findings point into the original file), and a finding for
//! every Gas City feature gc does not support (so such a file is never half-applied).
//!
//! [`translate`] is a pure function of the parsed TOML value and the file name.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Map, Value, json};

use super::spans::{SpanMap, push_pointer};
use crate::api::API_VERSION;

/// Which Gas City file a document is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GasCityKind {
    /// A formula: a top-level string `formula` key.
    Formula,
    /// An order: an `[order]` table; its name is the file's stem.
    Order,
}

/// What kind of problem a [`Finding`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FindingKind {
    /// A Gas City feature gc does not support (or a key Gas City itself does not know):
    /// an error, so the file is never applied without it.
    Unsupported,
    /// A value Gas City would reject or that cannot mean anything here: an error.
    Invalid,
    /// Two settings that contradict each other: an error.
    Conflict,
    /// A value gc stores in another form than written (a warning).
    Converted,
}

/// A problem found while translating, located in the ORIGINAL document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// What kind of problem.
    pub kind: FindingKind,
    /// JSON pointer into the original document (as parsed from the file).
    pub pointer: String,
    /// Whether to underline the key (an unwanted key) rather than the value.
    pub on_key: bool,
    /// The Gas City key or value concerned, e.g. `ralph`.
    pub feature: String,
    /// One sentence saying what is wrong.
    pub message: String,
    /// What to do instead, when there is something.
    pub help: Option<String>,
    /// For an unknown key: the keys allowed at that place, to suggest the nearest one.
    pub known_keys: &'static [&'static str],
}

/// Translated pointer → original pointer, for the nodes of a translated document.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Remap {
    map: HashMap<String, String>,
}

impl Remap {
    /// Records that the node at `translated` (and, unless recorded otherwise, everything below
    /// it) came from `original`.
    fn insert(&mut self, translated: String, original: String) {
        self.map.insert(translated, original);
    }

    /// The original pointer a translated pointer came from: the nearest recorded ancestor,
    /// with the rest of the path appended (subtrees are copied as they are). Pointers with no
    /// recorded ancestor (the synthesised envelope) map to the document root.
    pub fn original(&self, pointer: &str) -> String {
        let mut prefix = pointer;
        loop {
            if let Some(original) = self.map.get(prefix) {
                return format!("{original}{}", &pointer[prefix.len()..]);
            }
            match prefix.rfind('/') {
                Some(i) => prefix = &prefix[..i],
                None => return String::new(),
            }
        }
    }
}

/// A Gas City document translated into a gc resource.
#[derive(Clone, Debug, PartialEq)]
pub struct Translation {
    /// Which Gas City file it was.
    pub kind: GasCityKind,
    /// The resource: `apiVersion`, `kind`, `metadata`, `spec`.
    pub value: Value,
    /// Where each node of `value` came from.
    pub remap: Remap,
    /// Unsupported features and other problems, in file order of discovery.
    pub findings: Vec<Finding>,
}

/// Whether `value` is a Gas City formula or order: a mapping without `apiVersion` and `kind`
/// whose top level has a string `formula` (formula) or an `order` table (order).
pub fn detect(value: &Value) -> Option<GasCityKind> {
    let map = value.as_object()?;
    if map.contains_key("apiVersion") || map.contains_key("kind") {
        return None;
    }
    if map.get("formula").is_some_and(Value::is_string) {
        Some(GasCityKind::Formula)
    } else if map.get("order").is_some_and(Value::is_object) {
        Some(GasCityKind::Order)
    } else {
        None
    }
}

/// Translates a Gas City formula or order (see [`detect`]); `file_name` gives an order its
/// name (`orders/dolt-health.toml` and `dolt-health.order.toml` → `dolt-health`).
pub fn translate(value: &Value, file_name: &str) -> Option<Translation> {
    let kind = detect(value)?;
    let map = value.as_object()?;
    let mut t = Translator::default();
    let value = match kind {
        GasCityKind::Formula => t.formula(map),
        GasCityKind::Order => t.order(map, &stem(file_name)),
    };
    Some(Translation { kind, value, remap: t.remap, findings: t.findings })
}

/// The span map of a translated document: each translated node gets the span of the original
/// node it came from. Nodes with no original of their own (a default filled in) are left out,
/// so lookups fall back to their nearest ancestor, which has one.
pub fn translate_spans(value: &Value, remap: &Remap, original: &SpanMap) -> SpanMap {
    let mut out = SpanMap::default();
    if let Some(root) = original.get("") {
        out.insert(String::new(), root.clone());
    } else {
        out.insert(String::new(), super::spans::NodeSpan { key: None, value: 0..0 });
    }
    fn walk(value: &Value, pointer: &str, remap: &Remap, original: &SpanMap, out: &mut SpanMap) {
        if !pointer.is_empty()
            && let Some(span) = original.get(&remap.original(pointer))
        {
            out.insert(pointer.to_owned(), span.clone());
        }
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    walk(v, &push_pointer(pointer, k), remap, original, out);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(v, &push_pointer(pointer, &i.to_string()), remap, original, out);
                }
            }
            _ => {}
        }
    }
    walk(value, "", remap, original, &mut out);
    out
}

/// `orders/dolt-health.toml` → `dolt-health`; a `.order` or `.formula` infix goes too.
fn stem(file_name: &str) -> String {
    let base = Path::new(file_name).file_name().and_then(|n| n.to_str()).unwrap_or(file_name);
    let base = base.strip_suffix(".toml").unwrap_or(base);
    let base =
        base.strip_suffix(".order").or_else(|| base.strip_suffix(".formula")).unwrap_or(base);
    base.to_owned()
}

/// Formula keys gc reads.
const FORMULA_KEYS: &[&str] = &[
    "formula",
    "description",
    "version",
    "type",
    "extends",
    "vars",
    "steps",
    "phase",
    "pour",
    "review_only",
    "squash",
    "template",
    "advice",
    "pointcuts",
    "compose",
    "inputs",
    "agent",
    "prompts",
    "legs",
    "synthesis",
    "output",
    "presets",
];
/// Step keys gc reads.
const STEP_KEYS: &[&str] = &[
    "id",
    "title",
    "description",
    "notes",
    "type",
    "priority",
    "tags",
    "labels",
    "metadata",
    "assignee",
    "needs",
    "depends_on",
    "condition",
    "children",
    "gate",
    "acceptance",
    "retry",
    "ralph",
    "expand",
    "expand_vars",
    "waits_for",
    "on_complete",
    "loop",
];
/// Keys of a `[vars.NAME]` table gc reads.
const VAR_KEYS: &[&str] =
    &["description", "default", "required", "enum", "pattern", "type", "required_unless"];
/// `[order]` keys gc reads.
const ORDER_KEYS: &[&str] = &[
    "description",
    "formula",
    "exec",
    "gate",
    "trigger",
    "interval",
    "schedule",
    "check",
    "on",
    "pool",
    "timeout",
    "enabled",
    "vars",
];
/// The gates gc runs, and the `[order]` key each one reads.
const GATES: &[(&str, Option<&str>)] = &[
    ("cooldown", Some("interval")),
    ("cron", Some("schedule")),
    ("condition", Some("check")),
    ("event", Some("on")),
    ("manual", None),
];

/// Gas City formula keys gc does not support: (key, what it does in Gas City, what to do).
const UNSUPPORTED_FORMULA: &[(&str, &str, &str)] = &[
    ("requires", "minimum host capabilities needed to compile the formula", "remove it"),
    ("contract", "the runtime contract (e.g. graph.v2) the formula opts into", "remove it"),
    (
        "catalog",
        "user-facing workflow catalog entry",
        "remove it; `gc formula list` lists every formula",
    ),
    (
        "metadata",
        "formula-level metadata for inspection APIs",
        "move it into the description, or onto steps' `metadata`",
    ),
];

/// Gas City step keys gc does not support.
const UNSUPPORTED_STEP: &[(&str, &str, &str)] = &[
    (
        "check",
        "retry a step until a check passes",
        "remove it and add a follow-up step that checks the work",
    ),
    ("drain", "run an item formula per convoy member (graph.v2)", "remove it"),
    ("timeout", "the time limit of a step's check script", "remove it"),
    ("description_file", "read a step's description from a file", "put the text in `description`"),
    ("tally", "aggregate votes (already removed from Gas City)", "remove it"),
];

/// Gas City order keys gc does not support.
const UNSUPPORTED_ORDER: &[(&str, &str, &str)] = &[
    (
        "scope",
        "instantiate the order once per city or once per rig importing its pack",
        "remove it; a gc order runs once for the city",
    ),
    ("tz", "the time zone a cron schedule is read in", "remove it and write the schedule in UTC"),
    ("idempotent", "let the order dispatch when its single-flight check times out", "remove it"),
    (
        "env",
        "environment variables for an exec order's command",
        "set them in the command itself, e.g. `exec = \"VAR=x script.sh\"`",
    ),
    (
        "params",
        "named arguments the order accepts from webhooks and `gc order run --var`",
        "remove it",
    ),
    ("skip_aliases", "other names that `[orders].skip` matches", "remove it"),
];

#[derive(Default)]
struct Translator {
    remap: Remap,
    findings: Vec<Finding>,
}

impl Translator {
    /// Maps `to` back to `from` and returns a copy of `value` for it.
    fn copy(&mut self, to: &str, from: &str, value: &Value) -> Value {
        self.remap.insert(to.to_owned(), from.to_owned());
        value.clone()
    }

    fn unsupported(
        &mut self,
        pointer: &str,
        key: &str,
        table: &[(&str, &str, &str)],
        known: &'static [&'static str],
        place: &str,
    ) {
        let finding = match table.iter().find(|(k, _, _)| *k == key) {
            Some((_, what, help)) => Finding {
                kind: FindingKind::Unsupported,
                pointer: pointer.to_owned(),
                on_key: true,
                feature: key.to_owned(),
                message: format!("`{key}` ({what}) is a Gas City feature gc does not support"),
                help: Some((*help).to_owned()),
                known_keys: &[],
            },
            None => Finding {
                kind: FindingKind::Unsupported,
                pointer: pointer.to_owned(),
                on_key: true,
                feature: key.to_owned(),
                message: format!(
                    "unknown key `{key}` in a Gas City {place}; gc does not support it"
                ),
                help: None,
                known_keys: known,
            },
        };
        self.findings.push(finding);
    }

    fn formula(&mut self, map: &Map<String, Value>) -> Value {
        let mut spec = Map::new();
        for (key, value) in map {
            let from = push_pointer("", key);
            let to = push_pointer("/spec", key);
            match key.as_str() {
                "formula" => {}
                "description" | "version" | "extends" | "phase" | "pour" => {
                    spec.insert(key.clone(), self.copy(&to, &from, value));
                }
                "review_only" => {
                    spec.insert(
                        "reviewOnly".into(),
                        self.copy(&push_pointer("/spec", "reviewOnly"), &from, value),
                    );
                }
                "squash" => {
                    let renames = [
                        ("trigger", "trigger"),
                        ("template_type", "templateType"),
                        ("include_metrics", "includeMetrics"),
                    ];
                    let mut table = self.renamed(value, &from, &to, &renames, "squash table");
                    if let Some(t) = table.get_mut("trigger")
                        && t == "on_complete"
                    {
                        *t = Value::String("onComplete".into());
                    }
                    spec.insert(key.clone(), table);
                }
                "type" => {
                    spec.insert(key.clone(), self.copy(&to, &from, value));
                }
                "vars" => {
                    let vars = self.vars(value, &from, &to);
                    spec.insert(key.clone(), vars);
                }
                "steps" | "template" => {
                    self.remap.insert(to.clone(), from.clone());
                    let steps = self.steps(value, &from, &to);
                    spec.insert(key.clone(), steps);
                }
                "advice" => {
                    let advice = self.advice(value, &from, &to);
                    spec.insert(key.clone(), advice);
                }
                // Gas Town's convoy formulas.
                "inputs" => {
                    let to = push_pointer("/spec", "vars");
                    let vars = self.vars(value, &from, &to);
                    spec.insert("vars".into(), vars);
                }
                "agent" | "prompts" => {
                    spec.insert(key.clone(), self.copy(&to, &from, value));
                }
                "legs" => {
                    let renames = [
                        ("id", "id"),
                        ("title", "title"),
                        ("focus", "focus"),
                        ("description", "description"),
                        ("agent", "agent"),
                        ("review_only", "reviewOnly"),
                    ];
                    let legs = self.each(value, &from, &to, &renames, "convoy leg");
                    spec.insert(key.clone(), legs);
                }
                "synthesis" => {
                    let renames = [
                        ("title", "title"),
                        ("description", "description"),
                        ("depends_on", "dependsOn"),
                    ];
                    let synthesis = self.renamed(value, &from, &to, &renames, "convoy synthesis");
                    spec.insert(key.clone(), synthesis);
                }
                "output" => {
                    let renames = [
                        ("directory", "directory"),
                        ("leg_pattern", "legPattern"),
                        ("synthesis", "synthesis"),
                    ];
                    let output = self.renamed(value, &from, &to, &renames, "convoy output");
                    spec.insert(key.clone(), output);
                }
                "presets" => {
                    self.remap.insert(to.clone(), from.clone());
                    let mut presets = Map::new();
                    for (name, preset) in value.as_object().into_iter().flatten() {
                        let (pfrom, pto) = (push_pointer(&from, name), push_pointer(&to, name));
                        presets.insert(
                            name.clone(),
                            self.renamed(
                                preset,
                                &pfrom,
                                &pto,
                                &[("legs", "legs"), ("description", "description")],
                                "preset",
                            ),
                        );
                    }
                    spec.insert(key.clone(), Value::Object(presets));
                }
                "pointcuts" => {
                    let renames = [("glob", "glob"), ("type", "type"), ("label", "label")];
                    let cuts = self.each(value, &from, &to, &renames, "pointcut");
                    spec.insert(key.clone(), cuts);
                }
                "compose" => {
                    let compose = self.compose(value, &from, &to);
                    spec.insert(key.clone(), compose);
                }
                _ => self.unsupported(&from, key, UNSUPPORTED_FORMULA, FORMULA_KEYS, "formula"),
            }
        }
        self.remap.insert("/metadata/name".into(), "/formula".into());
        self.remap.insert("/spec".into(), String::new());
        let name = map.get("formula").cloned().unwrap_or(Value::Null);
        json!({
            "apiVersion": API_VERSION,
            "kind": "Formula",
            "metadata": {"name": name},
            "spec": spec,
        })
    }

    fn vars(&mut self, value: &Value, from: &str, to: &str) -> Value {
        self.remap.insert(to.to_owned(), from.to_owned());
        let Value::Object(vars) = value else { return value.clone() };
        let mut out = Map::new();
        for (name, var) in vars {
            let vfrom = push_pointer(from, name);
            let vto = push_pointer(to, name);
            self.remap.insert(vto.clone(), vfrom.clone());
            let translated = match var {
                // `name = "x"` is Gas City's short form for a default.
                Value::String(_) => {
                    self.remap.insert(format!("{vto}/default"), vfrom.clone());
                    json!({"default": var})
                }
                Value::Object(fields) => {
                    let mut def = Map::new();
                    for (key, v) in fields {
                        let ffrom = push_pointer(&vfrom, key);
                        match key.as_str() {
                            "type" if v.as_str() == Some("string") => {}
                            // A number is a string of digits; gc checks it with a pattern.
                            "type" if matches!(v.as_str(), Some("number" | "int" | "integer")) => {
                                let fto = push_pointer(&vto, "pattern");
                                def.insert("pattern".into(), self.copy(&fto, &ffrom, &json!("-?[0-9]+")));
                            }
                            "required_unless" => {
                                let fto = push_pointer(&vto, "requiredUnless");
                                def.insert("requiredUnless".into(), self.copy(&fto, &ffrom, v));
                            }
                            "type" => self.findings.push(Finding {
                                kind: FindingKind::Unsupported,
                                pointer: ffrom,
                                on_key: false,
                                feature: format!("var type {v}"),
                                message: format!(
                                    "var type {v} (a typed, checked variable) is a Gas City feature gc does not support"
                                ),
                                help: Some(
                                    "remove `type`, or write `type = \"string\"`: gc vars are strings"
                                        .into(),
                                ),
                                known_keys: &[],
                            }),
                            "description" | "default" | "required" | "enum" | "pattern" => {
                                let fto = push_pointer(&vto, key);
                                def.insert(key.clone(), self.copy(&fto, &ffrom, v));
                            }
                            _ => self.unsupported(&ffrom, key, &[], VAR_KEYS, "formula variable"),
                        }
                    }
                    Value::Object(def)
                }
                other => other.clone(),
            };
            out.insert(name.clone(), translated);
        }
        Value::Object(out)
    }

    fn steps(&mut self, value: &Value, from: &str, to: &str) -> Value {
        let Value::Array(steps) = value else { return value.clone() };
        let mut out = Vec::with_capacity(steps.len());
        for (i, step) in steps.iter().enumerate() {
            let sfrom = push_pointer(from, &i.to_string());
            let sto = push_pointer(to, &i.to_string());
            self.remap.insert(sto.clone(), sfrom.clone());
            out.push(match step {
                Value::Object(fields) => self.step(fields, &sfrom, &sto),
                other => other.clone(),
            });
        }
        Value::Array(out)
    }

    fn step(&mut self, fields: &Map<String, Value>, from: &str, to: &str) -> Value {
        let mut out = Map::new();
        for (key, value) in fields {
            let kfrom = push_pointer(from, key);
            let kto = push_pointer(to, key);
            match key.as_str() {
                "id" | "title" | "description" | "notes" | "type" | "priority" | "assignee"
                | "condition" | "acceptance" | "expand" => {
                    out.insert(key.clone(), self.copy(&kto, &kfrom, value));
                }
                "expand_vars" => {
                    let kto = push_pointer(to, "expandVars");
                    out.insert("expandVars".into(), self.copy(&kto, &kfrom, value));
                }
                "waits_for" => {
                    let kto = push_pointer(to, "waitsFor");
                    out.insert("waitsFor".into(), self.copy(&kto, &kfrom, value));
                }
                "loop" => {
                    let kto = push_pointer(to, "loop");
                    self.remap.insert(kto.clone(), kfrom.clone());
                    let mut looped = Map::new();
                    for (k, v) in value.as_object().into_iter().flatten() {
                        let (lfrom, lto) = (push_pointer(&kfrom, k), push_pointer(&kto, k));
                        match k.as_str() {
                            "count" | "range" | "var" => {
                                looped.insert(k.clone(), self.copy(&lto, &lfrom, v));
                            }
                            "body" => {
                                looped.insert(k.clone(), self.steps(v, &lfrom, &lto));
                            }
                            // `until` loops have no runner in Gas City either.
                            _ => self.unsupported(
                                &lfrom,
                                k,
                                &[],
                                &["count", "range", "var", "body"],
                                "loop",
                            ),
                        }
                    }
                    out.insert("loop".into(), Value::Object(looped));
                }
                "on_complete" => {
                    let renames = [
                        ("for_each", "forEach"),
                        ("bond", "bond"),
                        ("vars", "vars"),
                        ("sequential", "sequential"),
                    ];
                    // `parallel = true` is the default way; written out, it says nothing more.
                    let mut value = value.clone();
                    if let Value::Object(fields) = &mut value
                        && fields.get("parallel") == Some(&Value::Bool(true))
                        && fields.get("sequential") != Some(&Value::Bool(true))
                    {
                        fields.remove("parallel");
                    }
                    let kto = push_pointer(to, "onComplete");
                    let fanout = self.renamed(&value, &kfrom, &kto, &renames, "on_complete");
                    out.insert("onComplete".into(), fanout);
                }
                "gate" => {
                    // Gas City names what a gate waits on `id` (beads: `await_id`).
                    let renames = [
                        ("type", "type"),
                        ("id", "awaitId"),
                        ("await_id", "awaitId"),
                        ("timeout", "timeout"),
                        ("condition", "condition"),
                    ];
                    let gate = self.renamed(value, &kfrom, &kto, &renames, "step gate");
                    out.insert(key.clone(), gate);
                }
                "retry" => {
                    let renames =
                        [("max_attempts", "maxAttempts"), ("on_exhausted", "onExhausted")];
                    let mut retry = self.renamed(value, &kfrom, &kto, &renames, "step retry");
                    if let Some(on) = retry.get_mut("onExhausted") {
                        match on.as_str() {
                            Some("hard_fail") => *on = Value::String("hardFail".into()),
                            Some("soft_fail") => *on = Value::String("softFail".into()),
                            _ => {}
                        }
                    }
                    out.insert(key.clone(), retry);
                }
                "ralph" => {
                    let renames = [("max_attempts", "maxAttempts"), ("check", "check")];
                    let mut ralph = self.renamed(value, &kfrom, &kto, &renames, "step ralph");
                    if let (Some(check), Value::Object(_)) =
                        (fields.get("ralph").and_then(|r| r.get("check")), &ralph)
                    {
                        let renames = [("mode", "mode"), ("path", "path"), ("timeout", "timeout")];
                        let (cfrom, cto) =
                            (push_pointer(&kfrom, "check"), push_pointer(&kto, "check"));
                        ralph["check"] = self.renamed(check, &cfrom, &cto, &renames, "ralph check");
                    }
                    out.insert(key.clone(), ralph);
                }
                "tags" | "labels" | "needs" | "depends_on" => {}
                "metadata" => {
                    let metadata = self.metadata(value, &kfrom, &kto);
                    out.insert(key.clone(), metadata);
                }
                "children" => {
                    self.remap.insert(kto.clone(), kfrom.clone());
                    let children = self.steps(value, &kfrom, &kto);
                    out.insert(key.clone(), children);
                }
                _ => self.unsupported(&kfrom, key, UNSUPPORTED_STEP, STEP_KEYS, "formula step"),
            }
        }
        // Gas City's TOML calls labels `tags`, and merges `depends_on` into `needs`.
        self.merge_lists(fields, &["tags", "labels"], "labels", from, to, &mut out);
        self.merge_lists(fields, &["needs", "depends_on"], "needs", from, to, &mut out);
        // Gas City lets a step go without a title; its bead is then titled by the id.
        if !fields.contains_key("title")
            && let Some(id) = fields.get("id").filter(|id| id.is_string())
        {
            self.remap.insert(format!("{to}/title"), push_pointer(from, "id"));
            out.insert("title".into(), id.clone());
        }
        Value::Object(out)
    }

    /// Concatenates the lists at `keys` of `fields` into `into`, without repeats, remembering
    /// where each element came from. A key that holds no list is copied as it is, so the
    /// schema reports it where it was written.
    fn merge_lists(
        &mut self,
        fields: &Map<String, Value>,
        keys: &[&str],
        into: &str,
        from: &str,
        to: &str,
        out: &mut Map<String, Value>,
    ) {
        let present: Vec<&str> = keys.iter().copied().filter(|k| fields.contains_key(*k)).collect();
        let Some(first) = present.first() else { return };
        let lto = push_pointer(to, into);
        if let Some(bad) = present.iter().find(|k| !fields[**k].is_array()) {
            let value = self.copy(&lto, &push_pointer(from, bad), &fields[*bad]);
            out.insert(into.to_owned(), value);
            return;
        }
        self.remap.insert(lto.clone(), push_pointer(from, first));
        let mut items: Vec<Value> = Vec::new();
        for key in present {
            let kfrom = push_pointer(from, key);
            for (i, item) in fields[key].as_array().into_iter().flatten().enumerate() {
                if items.contains(item) {
                    continue;
                }
                self.remap.insert(
                    push_pointer(&lto, &items.len().to_string()),
                    push_pointer(&kfrom, &i.to_string()),
                );
                items.push(item.clone());
            }
        }
        out.insert(into.to_owned(), Value::Array(items));
    }

    /// Each table of an array, its keys renamed (see [`Translator::renamed`]).
    fn each(
        &mut self,
        value: &Value,
        from: &str,
        to: &str,
        renames: &[(&str, &str)],
        place: &str,
    ) -> Value {
        self.remap.insert(to.to_owned(), from.to_owned());
        let Value::Array(items) = value else { return value.clone() };
        let out = items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let (ifrom, ito) =
                    (push_pointer(from, &i.to_string()), push_pointer(to, &i.to_string()));
                self.renamed(item, &ifrom, &ito, renames, place)
            })
            .collect();
        Value::Array(out)
    }

    /// `[[advice]]`: target, before, after, around (before/after lists of steps).
    fn advice(&mut self, value: &Value, from: &str, to: &str) -> Value {
        const STEP: &[(&str, &str)] =
            &[("id", "id"), ("title", "title"), ("description", "description"), ("type", "type")];
        self.remap.insert(to.to_owned(), from.to_owned());
        let Value::Array(rules) = value else { return value.clone() };
        let mut out = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            let (rfrom, rto) =
                (push_pointer(from, &i.to_string()), push_pointer(to, &i.to_string()));
            self.remap.insert(rto.clone(), rfrom.clone());
            let Value::Object(fields) = rule else {
                out.push(rule.clone());
                continue;
            };
            let mut translated = Map::new();
            for (key, item) in fields {
                let (kfrom, kto) = (push_pointer(&rfrom, key), push_pointer(&rto, key));
                let value = match key.as_str() {
                    "target" => self.copy(&kto, &kfrom, item),
                    "before" | "after" => self.renamed(item, &kfrom, &kto, STEP, "advice step"),
                    "around" => {
                        self.remap.insert(kto.clone(), kfrom.clone());
                        let Value::Object(sides) = item else {
                            translated.insert(key.clone(), item.clone());
                            continue;
                        };
                        let mut around = Map::new();
                        for (side, steps) in sides {
                            let (sfrom, sto) =
                                (push_pointer(&kfrom, side), push_pointer(&kto, side));
                            if matches!(side.as_str(), "before" | "after") {
                                around.insert(
                                    side.clone(),
                                    self.each(steps, &sfrom, &sto, STEP, "advice step"),
                                );
                            } else {
                                self.unsupported(&sfrom, side, &[], &[], "advice");
                            }
                        }
                        Value::Object(around)
                    }
                    _ => {
                        self.unsupported(&kfrom, key, &[], &[], "advice rule");
                        continue;
                    }
                };
                translated.insert(key.clone(), value);
            }
            out.push(Value::Object(translated));
        }
        Value::Array(out)
    }

    /// `[compose]`: expand, map, aspects and branch (its `gate`, `bond_points` and `hooks`
    /// have no effect in Gas City either, and are reported).
    fn compose(&mut self, value: &Value, from: &str, to: &str) -> Value {
        self.remap.insert(to.to_owned(), from.to_owned());
        let Value::Object(fields) = value else { return value.clone() };
        let mut out = Map::new();
        for (key, item) in fields {
            let (kfrom, kto) = (push_pointer(from, key), push_pointer(to, key));
            let value = match key.as_str() {
                "expand" => self.each(
                    item,
                    &kfrom,
                    &kto,
                    &[("target", "target"), ("with", "with"), ("vars", "vars")],
                    "compose.expand rule",
                ),
                "map" => self.each(
                    item,
                    &kfrom,
                    &kto,
                    &[("select", "select"), ("with", "with"), ("vars", "vars")],
                    "compose.map rule",
                ),
                "branch" => self.each(
                    item,
                    &kfrom,
                    &kto,
                    &[("from", "from"), ("steps", "steps"), ("join", "join")],
                    "compose.branch rule",
                ),
                "aspects" => self.copy(&kto, &kfrom, item),
                _ => {
                    self.unsupported(&kfrom, key, &[], &[], "compose table");
                    continue;
                }
            };
            out.insert(key.clone(), value);
        }
        Value::Object(out)
    }

    /// A table whose keys are renamed (`renames`: Gas City's key, gc's key); other keys are
    /// reported unsupported. A value that is not a table is copied for the schema to report.
    fn renamed(
        &mut self,
        value: &Value,
        from: &str,
        to: &str,
        renames: &[(&str, &str)],
        place: &str,
    ) -> Value {
        self.remap.insert(to.to_owned(), from.to_owned());
        let Value::Object(entries) = value else { return value.clone() };
        let mut out = Map::new();
        for (key, item) in entries {
            let kfrom = push_pointer(from, key);
            match renames.iter().find(|(k, _)| k == key) {
                Some((_, ours)) => {
                    let item = self.copy(&push_pointer(to, ours), &kfrom, item);
                    out.insert((*ours).to_owned(), item);
                }
                None => self.unsupported(&kfrom, key, &[], &[], place),
            }
        }
        Value::Object(out)
    }

    fn metadata(&mut self, value: &Value, from: &str, to: &str) -> Value {
        self.remap.insert(to.to_owned(), from.to_owned());
        let Value::Object(entries) = value else { return value.clone() };
        let mut out = Map::new();
        for (key, v) in entries {
            let efrom = push_pointer(from, key);
            let eto = push_pointer(to, key);
            self.remap.insert(eto, efrom.clone());
            let text = match v {
                Value::String(_) => v.clone(),
                other => {
                    // Bead metadata is text; keep the value rather than lose it.
                    let text = other.to_string();
                    self.findings.push(Finding {
                        kind: FindingKind::Converted,
                        pointer: efrom,
                        on_key: false,
                        feature: key.clone(),
                        message: format!(
                            "step metadata `{key}` is not a string; gc stores it as the text `{text}`"
                        ),
                        help: Some(format!("write it as a string: \"{}\"", text.replace('"', "\\\""))),
                        known_keys: &[],
                    });
                    Value::String(text)
                }
            };
            out.insert(key.clone(), text);
        }
        Value::Object(out)
    }

    fn order(&mut self, map: &Map<String, Value>, name: &str) -> Value {
        for key in map.keys().filter(|k| *k != "order") {
            self.unsupported(&push_pointer("", key), key, &[], &["order"], "order file");
        }
        let order = map.get("order").and_then(Value::as_object).cloned().unwrap_or_default();
        let mut spec = Map::new();
        self.remap.insert("/spec".into(), "/order".into());
        // Newer Gas City calls the gate `trigger`; it reads `trigger` when both are set.
        let gate_key = if order.contains_key("trigger") { "trigger" } else { "gate" };
        if gate_key == "trigger"
            && let Some(gate) = order.get("gate")
            && Some(gate) != order.get("trigger")
        {
            self.findings.push(Finding {
                kind: FindingKind::Conflict,
                pointer: "/order/gate".into(),
                on_key: true,
                feature: "gate".into(),
                message: "both `trigger` and `gate` are set, to different values".into(),
                help: Some("keep one: `gate` is the older name of `trigger`".into()),
                known_keys: &[],
            });
        }
        let gate_from = push_pointer("/order", gate_key);
        let gate_type = match order.get(gate_key) {
            Some(Value::String(g)) => match GATES.iter().find(|(name, _)| name == g) {
                Some((name, field)) => Some((*name, *field)),
                None => {
                    let (kind, message, help) = if g == "webhook" {
                        (
                            FindingKind::Unsupported,
                            format!(
                                "`{gate_key} = \"webhook\"` (fire on an incoming webhook) is a Gas City feature gc does not support"
                            ),
                            "use an event gate, or a manual gate fired by `gc order run`"
                                .to_owned(),
                        )
                    } else {
                        (
                            FindingKind::Invalid,
                            format!("`{g}` is not an order {gate_key}"),
                            format!(
                                "one of {}",
                                GATES
                                    .iter()
                                    .map(|(n, _)| format!("`{n}`"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        )
                    };
                    self.findings.push(Finding {
                        kind,
                        pointer: gate_from.clone(),
                        on_key: false,
                        feature: format!("{gate_key} = \"{g}\""),
                        message,
                        help: Some(help),
                        known_keys: &[],
                    });
                    None
                }
            },
            // A gate written as gc's own table (`[order.gate.cooldown]`) is read as it is.
            Some(other) => {
                spec.insert("gate".into(), self.copy("/spec/gate", &gate_from, other));
                None
            }
            None => None,
        };
        if let Some((gate_name, _)) = gate_type {
            // The gate's name and its table both come from the one `gate = "…"` value.
            self.remap.insert("/spec/gate".into(), gate_from.clone());
            self.remap.insert(format!("/spec/gate/{gate_name}"), gate_from.clone());
            if let Some(field) = gate_type.and_then(|(_, f)| f) {
                // So a missing `interval` is named as the `[order]` key it should be.
                self.remap
                    .insert(format!("/spec/gate/{gate_name}/{field}"), format!("/order/{field}"));
            }
            spec.insert("gate".into(), json!({ gate_name: {} }));
        }
        for (key, value) in &order {
            let from = push_pointer("/order", key);
            match key.as_str() {
                "description" | "formula" | "exec" | "timeout" | "enabled" | "vars" => {
                    let to = push_pointer("/spec", key);
                    spec.insert(key.clone(), self.copy(&to, &from, value));
                }
                "pool" => {
                    spec.insert("target".into(), self.copy("/spec/target", &from, value));
                }
                "gate" | "trigger" => {}
                "interval" | "schedule" | "check" | "on" => {
                    let owner = GATES.iter().find(|(_, f)| *f == Some(key.as_str()));
                    match (gate_type, owner) {
                        (Some((gate_name, Some(field))), _) if field == key => {
                            let to = format!("/spec/gate/{gate_name}/{key}");
                            let v = self.copy(&to, &from, value);
                            if let Some(Value::Object(g)) =
                                spec.get_mut("gate").and_then(|g| g.get_mut(gate_name))
                            {
                                g.insert(key.clone(), v);
                            }
                        }
                        // The gate itself is already reported when it is unknown.
                        (None, _) if order.get(gate_key).is_some_and(Value::is_string) => {}
                        (_, Some((owner, _))) => self.findings.push(Finding {
                            kind: FindingKind::Conflict,
                            pointer: from,
                            on_key: true,
                            feature: key.clone(),
                            message: format!(
                                "`{key}` is only read by a `{owner}` gate, and this order's gate is {}",
                                match (gate_type, order.get(gate_key)) {
                                    (Some((g, _)), _) => format!("`{g}`"),
                                    (None, None) => "not set".into(),
                                    (None, Some(_)) => "not one of gc's gate names".into(),
                                }
                            ),
                            help: Some(format!(
                                "remove `{key}`, or set `{gate_key} = \"{owner}\"`"
                            )),
                            known_keys: &[],
                        }),
                        (_, None) => {}
                    }
                }
                _ => self.unsupported(&from, key, UNSUPPORTED_ORDER, ORDER_KEYS, "order"),
            }
        }
        json!({
            "apiVersion": API_VERSION,
            "kind": "Order",
            "metadata": {"name": name},
            "spec": spec,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toml(text: &str) -> Value {
        let parsed = super::super::toml::parse(text, false).unwrap();
        parsed.into_iter().next().unwrap().value
    }

    fn features(t: &Translation) -> Vec<(&str, &str)> {
        t.findings.iter().map(|f| (f.feature.as_str(), f.pointer.as_str())).collect()
    }

    #[test]
    fn detects_formulas_and_orders_by_content_only() {
        assert_eq!(detect(&toml("formula = \"x\"\n")), Some(GasCityKind::Formula));
        assert_eq!(detect(&toml("[order]\nexec = \"x\"\n")), Some(GasCityKind::Order));
        assert_eq!(detect(&toml("formula = 1\n")), None);
        assert_eq!(detect(&toml("order = \"x\"\n")), None);
        assert_eq!(detect(&toml("kind = \"Formula\"\nformula = \"x\"\n")), None);
        assert_eq!(detect(&toml("apiVersion = \"v\"\n[order]\n")), None);
        assert_eq!(detect(&json!([1])), None);
    }

    #[test]
    fn a_formula_becomes_a_formula_resource() {
        let text = r#"
formula = "pancakes"
description = "Make pancakes"
version = 2

[vars]
flavour = "plain"
[vars.size]
description = "how big"
required = true
type = "string"

[[steps]]
id = "dry"
title = "Mix dry"
tags = ["a"]
labels = ["b", "a"]
metadata = { "gc.kind" = "scope", "n" = 3 }

[[steps]]
id = "cook"
needs = ["dry"]
depends_on = ["wet", "dry"]

[[steps.children]]
id = "flip"
title = "Flip"
"#;
        let t = translate(&toml(text), "formulas/pancakes.formula.toml").unwrap();
        assert_eq!(t.kind, GasCityKind::Formula);
        assert_eq!(
            t.value,
            json!({
                "apiVersion": API_VERSION,
                "kind": "Formula",
                "metadata": {"name": "pancakes"},
                "spec": {
                    "description": "Make pancakes",
                    "version": 2,
                    "vars": {
                        "flavour": {"default": "plain"},
                        "size": {"description": "how big", "required": true},
                    },
                    "steps": [
                        {"id": "dry", "title": "Mix dry", "labels": ["a", "b"],
                         "metadata": {"gc.kind": "scope", "n": "3"}},
                        {"id": "cook", "title": "cook", "needs": ["dry", "wet"],
                         "children": [{"id": "flip", "title": "Flip"}]},
                    ],
                },
            })
        );
        assert_eq!(features(&t), [("n", "/steps/0/metadata/n")]);
        assert_eq!(t.findings[0].kind, FindingKind::Converted);
        let r = &t.remap;
        assert_eq!(r.original("/metadata/name"), "/formula");
        assert_eq!(r.original("/spec/description"), "/description");
        assert_eq!(r.original("/spec/vars/flavour/default"), "/vars/flavour");
        assert_eq!(r.original("/spec/vars/size/required"), "/vars/size/required");
        assert_eq!(r.original("/spec/steps/0/labels/1"), "/steps/0/labels/0");
        assert_eq!(r.original("/spec/steps/1/needs/1"), "/steps/1/depends_on/0");
        assert_eq!(r.original("/spec/steps/1/title"), "/steps/1/id");
        assert_eq!(r.original("/spec/steps/1/children/0/id"), "/steps/1/children/0/id");
        assert_eq!(r.original("/kind"), "");
    }

    #[test]
    fn gates_acceptance_review_only_and_squash_take_gcs_names() {
        let text = r#"
formula = "x"
review_only = true
[squash]
trigger = "on_complete"
template_type = "work"
include_metrics = true

[[steps]]
id = "a"
title = "A"
acceptance = "it works"
gate = { type = "gh:run", id = "ci.yml", timeout = "2h" }

[[steps]]
id = "b"
[steps.retry]
max_attempts = 3
on_exhausted = "soft_fail"

[[steps]]
id = "c"
[steps.ralph]
max_attempts = 2
[steps.ralph.check]
mode = "exec"
path = "check.sh"
timeout = "30s"

[[steps]]
id = "d"
waits_for = "any-children"
[steps.on_complete]
for_each = "output.items"
bond = "per-item"
vars = { name = "{item.name}" }
parallel = true
"#;
        let t = translate(&toml(text), "x.toml").unwrap();
        assert!(t.findings.is_empty(), "{:?}", t.findings);
        let spec = &t.value["spec"];
        assert_eq!(spec["reviewOnly"], true);
        assert_eq!(
            spec["squash"],
            json!({"trigger": "onComplete", "templateType": "work", "includeMetrics": true})
        );
        assert_eq!(spec["steps"][0]["acceptance"], "it works");
        assert_eq!(
            spec["steps"][0]["gate"],
            json!({"type": "gh:run", "awaitId": "ci.yml", "timeout": "2h"})
        );
        assert_eq!(spec["steps"][1]["retry"], json!({"maxAttempts": 3, "onExhausted": "softFail"}));
        assert_eq!(
            spec["steps"][2]["ralph"],
            json!({"maxAttempts": 2, "check": {"mode": "exec", "path": "check.sh", "timeout": "30s"}})
        );
        let spec: crate::api::FormulaSpec = serde_json::from_value(spec.clone()).unwrap();
        assert!(spec.review_only && spec.steps[0].gate.is_some());
        assert!(spec.steps[1].retry.is_some() && spec.steps[2].ralph.is_some());
        assert_eq!(spec.steps[3].on_complete.as_ref().unwrap().for_each, "output.items");
        assert_eq!(spec.steps[3].waits_for.as_deref(), Some("any-children"));
        assert_eq!(t.remap.original("/spec/steps/0/gate/awaitId"), "/steps/0/gate/id");
    }

    #[test]
    fn every_unsupported_formula_feature_is_reported() {
        let text = r#"
formula = "x"
frobnicate = 1

[vars.n]
type = "object"
secret = true

[[steps]]
id = "a"
title = "A"
[steps.drain]
formula = "x"
[steps.tally]
votes = 2
"#;
        let t = translate(&toml(text), "x.toml").unwrap();
        let mut got = features(&t);
        got.sort();
        assert_eq!(
            got,
            [
                ("drain", "/steps/0/drain"),
                ("frobnicate", "/frobnicate"),
                ("secret", "/vars/n/secret"),
                ("tally", "/steps/0/tally"),
                ("var type \"object\"", "/vars/n/type"),
            ]
        );
        assert!(t.findings.iter().all(|f| f.kind == FindingKind::Unsupported));
        let looped = t.findings.iter().find(|f| f.feature == "drain").unwrap();
        assert_eq!(
            looped.message,
            "`drain` (run an item formula per convoy member (graph.v2)) is a Gas City feature gc \
             does not support"
        );
        assert!(looped.help.is_some());
        let unknown = t.findings.iter().find(|f| f.feature == "frobnicate").unwrap();
        assert_eq!(unknown.known_keys, FORMULA_KEYS);
    }

    #[test]
    fn an_order_takes_its_name_from_the_file_and_its_gate_from_flat_keys() {
        let text = "[order]\ndescription = \"d\"\nformula = \"mol-x\"\ngate = \"cooldown\"\ninterval = \"24h\"\npool = \"dog\"\ntimeout = \"1m\"\nenabled = false\n";
        let t = translate(&toml(text), "packs/p/orders/digest.order.toml").unwrap();
        assert!(t.findings.is_empty(), "{:?}", t.findings);
        assert_eq!(
            t.value,
            json!({
                "apiVersion": API_VERSION,
                "kind": "Order",
                "metadata": {"name": "digest"},
                "spec": {
                    "description": "d",
                    "formula": "mol-x",
                    "gate": {"cooldown": {"interval": "24h"}},
                    "target": "dog",
                    "timeout": "1m",
                    "enabled": false,
                },
            })
        );
        let r = &t.remap;
        assert_eq!(r.original("/spec/gate/cooldown/interval"), "/order/interval");
        assert_eq!(r.original("/spec/gate/cooldown"), "/order/gate");
        assert_eq!(r.original("/spec/target"), "/order/pool");
        assert_eq!(r.original("/spec"), "/order");
        assert_eq!(r.original("/metadata/name"), "");
    }

    #[test]
    fn order_gates_translate_and_misplaced_keys_are_reported() {
        for (gate, key, value, expected) in [
            ("cron", "schedule", "0 * * * *", json!({"cron": {"schedule": "0 * * * *"}})),
            ("condition", "check", "true", json!({"condition": {"check": "true"}})),
            ("event", "on", "bead.closed", json!({"event": {"on": "bead.closed"}})),
        ] {
            let text =
                format!("[order]\nexec = \"x\"\ntrigger = \"{gate}\"\n{key} = \"{value}\"\n");
            let t = translate(&toml(&text), "o.toml").unwrap();
            assert!(t.findings.is_empty(), "{:?}", t.findings);
            assert_eq!(t.value["spec"]["gate"], expected);
        }
        let t = translate(
            &toml("[order]\nexec = \"x\"\ngate = \"manual\"\ninterval = \"1m\"\n"),
            "o.toml",
        )
        .unwrap();
        assert_eq!(t.value["spec"]["gate"], json!({"manual": {}}));
        assert_eq!(features(&t), [("interval", "/order/interval")]);
        assert_eq!(t.findings[0].kind, FindingKind::Conflict);

        let t = translate(
            &toml("[order]\nexec = \"x\"\ngate = \"cooldwn\"\ninterval = \"1m\"\n"),
            "o.toml",
        )
        .unwrap();
        assert_eq!(features(&t), [("gate = \"cooldwn\"", "/order/gate")]);
        assert_eq!(t.findings[0].kind, FindingKind::Invalid);
    }

    #[test]
    fn unsupported_order_features_are_reported() {
        let text = "extra = 1\n[order]\nexec = \"x\"\ntrigger = \"webhook\"\ntz = \"UTC\"\n[order.env]\nA = \"b\"\n";
        let t = translate(&toml(text), "o.toml").unwrap();
        let mut got = features(&t);
        got.sort();
        assert_eq!(
            got,
            [
                ("env", "/order/env"),
                ("extra", "/extra"),
                ("trigger = \"webhook\"", "/order/trigger"),
                ("tz", "/order/tz"),
            ]
        );
        assert!(t.findings.iter().all(|f| f.kind == FindingKind::Unsupported));
    }

    #[test]
    fn spans_of_translated_nodes_are_those_of_their_originals() {
        let text = "[order]\nexec = \"x\"\ngate = \"cooldown\"\ninterval = \"soon\"\n";
        let parsed = super::super::toml::parse(text, true).unwrap().pop().unwrap();
        let t = translate(&parsed.value, "o.toml").unwrap();
        let spans = translate_spans(&t.value, &t.remap, parsed.spans.as_ref().unwrap());
        let interval = spans.get("/spec/gate/cooldown/interval").unwrap();
        assert_eq!(&text[interval.value.clone()], "\"soon\"");
        assert_eq!(&text[interval.key.clone().unwrap()], "interval");
        assert_eq!(&text[spans.key_span("/spec/gate/cooldown")], "gate");
        // A node that is missing falls back to its nearest translated ancestor.
        assert_eq!(&text[spans.value_span("/spec/gate/cooldown/nope")], "\"cooldown\"");
        assert_eq!(spans.value_span("/kind"), 0..text.len());
    }

    #[test]
    fn never_panics_on_odd_shapes() {
        for text in [
            "formula = \"x\"\nsteps = 3\nvars = [1]\n",
            "formula = \"x\"\nsteps = [1, \"a\", [2]]\n[vars]\na = 1\n",
            "formula = \"x\"\n[[steps]]\ntags = \"t\"\nneeds = [1]\ndepends_on = 2\nmetadata = 3\nchildren = {}\n",
            "[order]\ngate = 3\ninterval = 4\ntrigger = [1]\n",
            "[order]\n",
        ] {
            let t = translate(&toml(text), "").unwrap();
            assert!(t.value.is_object());
        }
    }
}
