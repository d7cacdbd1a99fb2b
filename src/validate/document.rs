//! Checks one document on its own: the envelope (`apiVersion`, `kind`), then the kind's JSON
//! Schema, then typed deserialisation.

use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{ValidationError, Validator};
use serde_json::Value;

use super::diagnostic::{Code, Diagnostic, field_path};
use super::suggest::{did_you_mean, help_for, quoted_list};
use crate::api::meta::NAME_PATTERN;
use crate::api::{
    API_VERSION, DURATION_PATTERN, GROUP, Kind, Resource, SERVED_API_VERSIONS, schema,
};
use crate::manifest::{Document, FindingKind, push_pointer};

/// Checks `doc` and returns the typed resource when it is valid on its own, with every finding.
pub fn check(doc: &Document) -> (Option<Resource>, Vec<Diagnostic>) {
    // A translated Gas City file: its translation findings come first, and any error among
    // them (an unsupported feature) keeps the resource out, so it is never half-applied. The
    // schema still runs, so one pass reports everything.
    let translation = translation_findings(doc);
    let (resource, mut diagnostics) = check_resource(doc);
    let failed = translation.iter().any(Diagnostic::is_error);
    diagnostics.splice(0..0, translation);
    (resource.filter(|_| !failed), diagnostics)
}

/// The findings of translating a Gas City file, placed in the file as written.
fn translation_findings(doc: &Document) -> Vec<Diagnostic> {
    let Some(source) = doc.gascity() else { return Vec::new() };
    let spans = source.original_spans();
    source
        .findings
        .iter()
        .map(|f| {
            let diagnostic = match f.kind {
                FindingKind::Unsupported => {
                    Diagnostic::error(Code::UnsupportedGasCityFeature, f.message.clone())
                }
                FindingKind::Invalid => Diagnostic::error(Code::InvalidValue, f.message.clone()),
                FindingKind::Conflict => {
                    Diagnostic::error(Code::InconsistentSettings, f.message.clone())
                }
                FindingKind::Converted => {
                    Diagnostic::warning(Code::ConvertedValue, f.message.clone())
                }
            };
            let span =
                if f.on_key { spans.key_span(&f.pointer) } else { spans.value_span(&f.pointer) };
            let help = f.help.clone().or_else(|| {
                (!f.known_keys.is_empty())
                    .then(|| help_for(&f.feature, f.known_keys, "keys gc reads here"))
                    .flatten()
            });
            diagnostic.in_file(&doc.file, span).with_pointer(&f.pointer).with_help_opt(help)
        })
        .collect()
}

/// How findings name the field at `pointer` of `doc`: `spec.steps[0].id`, or for a
/// translated Gas City file the key as written there (`steps[0].id`, `order.interval`). `None`
/// when the field has no place of its own in a Gas City file (an order's name is its file name).
fn shown_path(doc: &Document, pointer: &str) -> Option<String> {
    if doc.gascity().is_none() {
        return Some(field_path(pointer));
    }
    let original = doc.pointer_in_file(pointer);
    (original.is_empty() == pointer.is_empty()).then(|| field_path(&original))
}

/// [`shown_path`] as the subject of a message: "`spec.gate`", "the resource".
fn shown_at(doc: &Document, pointer: &str) -> String {
    match shown_path(doc, pointer) {
        Some(path) if !path.is_empty() => format!("`{path}`"),
        Some(_) => "the resource".to_owned(),
        None if pointer == "/metadata/name" => "the name, taken from the file name".to_owned(),
        None => format!("`{}`", field_path(pointer)),
    }
}

/// The envelope, schema and typed checks of a resource document.
fn check_resource(doc: &Document) -> (Option<Resource>, Vec<Diagnostic>) {
    let kind = match envelope(doc) {
        Ok(kind) => kind,
        Err(diagnostics) => return (None, diagnostics),
    };
    let (schema, validator) = compiled(kind);
    // A status block is ignored in files (warned below), whatever it holds: the schema's
    // status is what controllers write, not something a file must get right.
    let mut diagnostics: Vec<Diagnostic> = validator
        .iter_errors(&doc.value)
        .filter(|e| !e.instance_path().as_str().starts_with("/status"))
        .flat_map(|e| describe(doc, schema, &e))
        .collect();
    if !diagnostics.is_empty() {
        return (None, diagnostics);
    }
    if doc.value.get("status").is_some() {
        diagnostics.push(
            Diagnostic::warning(
                Code::StatusIgnored,
                "`status` is written by controllers and ignored in files",
            )
            .at_key(doc, "/status")
            .with_help("remove the status block"),
        );
    }
    match Resource::from_value(kind, &doc.value) {
        Ok(resource) => (Some(resource), diagnostics),
        // The schema is generated from the types, so this is a gap in the schema; still report
        // it in place rather than fail.
        Err(e) => {
            diagnostics
                .push(Diagnostic::error(Code::InvalidValue, e.to_string()).at_value(doc, ""));
            (None, diagnostics)
        }
    }
}

/// The kind of a document whose `apiVersion` and `kind` are ones this build serves.
fn envelope(doc: &Document) -> Result<Kind, Vec<Diagnostic>> {
    let Value::Object(map) = &doc.value else {
        return Err(vec![
            Diagnostic::error(
                Code::NotAResource,
                "a resource must be a mapping with apiVersion, kind, metadata and spec",
            )
            .at_value(doc, ""),
        ]);
    };
    let mut errors = Vec::new();
    match map.get("apiVersion") {
        None => errors.push(
            Diagnostic::error(Code::MissingField, "missing `apiVersion`")
                .at_value(doc, "")
                .with_help(format!("add `apiVersion: {API_VERSION}`")),
        ),
        Some(Value::String(v)) if SERVED_API_VERSIONS.contains(&v.as_str()) => {}
        Some(v) => {
            let shown = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            let message = match shown.split_once('/') {
                Some((group, version)) if group == GROUP => {
                    format!("version `{version}` of {GROUP} is not served by this build of gc")
                }
                _ => format!("unknown apiVersion `{shown}`"),
            };
            errors.push(
                Diagnostic::error(Code::UnknownApiVersion, message)
                    .at_value(doc, "/apiVersion")
                    .with_help(format!(
                        "supported apiVersions: {}",
                        quoted_list(SERVED_API_VERSIONS)
                    )),
            );
        }
    }
    let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
    let kind = match map.get("kind") {
        None => {
            errors.push(
                Diagnostic::error(Code::MissingField, "missing `kind`")
                    .at_value(doc, "")
                    .with_help(format!("kinds: {}", quoted_list(&kinds))),
            );
            None
        }
        Some(Value::String(k)) => match Kind::from_kind_field(k) {
            Some(kind) => Some(kind),
            None => {
                errors.push(
                    Diagnostic::error(Code::UnknownKind, format!("unknown kind `{k}`"))
                        .at_value(doc, "/kind")
                        .with_help_opt(help_for(k, &kinds, "kinds")),
                );
                None
            }
        },
        Some(other) => {
            errors.push(
                Diagnostic::error(
                    Code::InvalidType,
                    format!("`kind` must be a string, found {}", json_type(other)),
                )
                .at_value(doc, "/kind"),
            );
            None
        }
    };
    match kind {
        Some(kind) if errors.is_empty() => Ok(kind),
        _ => Err(errors),
    }
}

/// A kind's schema and its compiled validator, built the first time a document of that kind
/// is checked (applying one agent file compiles only the Agent schema).
fn compiled(kind: Kind) -> &'static (Value, Validator) {
    static CACHE: [OnceLock<(Value, Validator)>; Kind::ALL.len()] =
        [const { OnceLock::new() }; Kind::ALL.len()];
    CACHE[kind as usize].get_or_init(|| {
        let schema = schema::kind_schema(kind);
        let validator =
            jsonschema::draft202012::options().build(&schema).expect("generated schemas compile");
        (schema, validator)
    })
}

/// Turns one JSON Schema error into findings placed where the user can see them.
fn describe(doc: &Document, schema: &Value, err: &ValidationError<'_>) -> Vec<Diagnostic> {
    let pointer = err.instance_path().as_str();
    let at = shown_at(doc, pointer);
    let keyword_schema = schema_at(schema, err.evaluation_path().as_str());
    let parent_schema = schema_at(schema, parent(err.evaluation_path().as_str()));
    match err.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let allowed = property_names(parent_schema);
            unexpected
                .iter()
                .map(|field| {
                    let p = push_pointer(pointer, field);
                    let where_ = match shown_path(doc, pointer) {
                        Some(path) if !path.is_empty() => format!(" in {path}"),
                        _ => String::new(),
                    };
                    Diagnostic::error(
                        Code::UnknownField,
                        format!("unknown field `{field}`{where_}"),
                    )
                    .at_key(doc, &p)
                    .with_help_opt(help_for(field, &allowed, "fields here"))
                })
                .collect()
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            // Named as the file would spell it: in a Gas City order a cooldown gate's missing
            // `interval` belongs under `[order]`.
            let missing = doc.pointer_in_file(&push_pointer(pointer, name));
            let message = match missing.rsplit_once('/') {
                Some((parent, key)) if doc.gascity().is_some() => {
                    let key = key.replace("~1", "/").replace("~0", "~");
                    let in_ = if parent.is_empty() {
                        "the file".to_owned()
                    } else {
                        format!("`{}`", field_path(parent))
                    };
                    format!("missing required field `{key}` in {in_}")
                }
                _ => format!("missing required field `{name}` in {at}"),
            };
            vec![
                Diagnostic::error(Code::MissingField, message)
                    .at_key(doc, pointer)
                    .with_pointer(&missing),
            ]
        }
        ValidationErrorKind::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(t) => t.to_string(),
                TypeKind::Multiple(ts) => {
                    ts.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(" or ")
                }
            };
            let found = json_type(err.instance());
            vec![
                Diagnostic::error(
                    Code::InvalidType,
                    format!("{at} must be {}, found {found}", article(&expected)),
                )
                .at_value(doc, pointer),
            ]
        }
        ValidationErrorKind::Enum { options } => {
            let allowed: Vec<&str> =
                options.as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            vec![enum_error(doc, pointer, &at, err.instance(), &allowed)]
        }
        ValidationErrorKind::Constant { expected_value } => vec![
            Diagnostic::error(Code::InvalidValue, format!("{at} must be {expected_value}"))
                .at_value(doc, pointer),
        ],
        ValidationErrorKind::Pattern { pattern } => {
            vec![pattern_error(doc, pointer, &at, pattern, err.instance())]
        }
        ValidationErrorKind::PropertyNames { error } => {
            let key = error.instance().as_str().unwrap_or_default().to_owned();
            let p = push_pointer(pointer, &key);
            let rule = match error.kind() {
                ValidationErrorKind::Pattern { pattern } => format!("must match {pattern}"),
                other => format!("{other:?}"),
            };
            vec![
                Diagnostic::error(
                    Code::InvalidValue,
                    format!("invalid key `{key}` in {at}: {rule}"),
                )
                .at_key(doc, &p),
            ]
        }
        ValidationErrorKind::OneOfNotValid { .. }
        | ValidationErrorKind::OneOfMultipleValid { .. }
            if !one_of_constants(keyword_schema).is_empty() =>
        {
            // schemars writes enums whose variants have doc comments as `oneOf` of constants.
            let allowed = one_of_constants(keyword_schema);
            vec![enum_error(doc, pointer, &at, err.instance(), &allowed)]
        }
        ValidationErrorKind::OneOfNotValid { .. }
        | ValidationErrorKind::OneOfMultipleValid { .. } => {
            let names = one_of_choices(keyword_schema);
            vec![
                Diagnostic::error(
                    Code::ExactlyOne,
                    format!("{at} must set exactly one of {}", quoted_list(&names)),
                )
                .at_key(doc, pointer),
            ]
        }
        ValidationErrorKind::MinProperties { .. } | ValidationErrorKind::MaxProperties { .. } => {
            let names = property_names(parent_schema);
            vec![
                Diagnostic::error(
                    Code::ExactlyOne,
                    format!("{at} must set exactly one of {}", quoted_list(&names)),
                )
                .at_key(doc, pointer),
            ]
        }
        ValidationErrorKind::Minimum { limit } => vec![
            Diagnostic::error(
                Code::InvalidValue,
                format!("{at} must be at least {limit}, found {}", err.instance()),
            )
            .at_value(doc, pointer),
        ],
        ValidationErrorKind::Maximum { limit } => vec![
            Diagnostic::error(
                Code::InvalidValue,
                format!("{at} must be at most {limit}, found {}", err.instance()),
            )
            .at_value(doc, pointer),
        ],
        ValidationErrorKind::MinLength { limit } => vec![
            Diagnostic::error(
                Code::InvalidValue,
                format!("{at} must be at least {limit} character(s) long"),
            )
            .at_value(doc, pointer),
        ],
        ValidationErrorKind::MaxLength { limit } => vec![
            Diagnostic::error(
                Code::InvalidValue,
                format!("{at} must be at most {limit} characters long"),
            )
            .at_value(doc, pointer),
        ],
        _ => vec![
            Diagnostic::error(Code::InvalidValue, format!("{at}: {err}")).at_value(doc, pointer),
        ],
    }
}

fn enum_error(
    doc: &Document,
    pointer: &str,
    at: &str,
    value: &Value,
    allowed: &[&str],
) -> Diagnostic {
    let help = value.as_str().and_then(|v| did_you_mean(v, allowed.iter().copied())).map_or_else(
        || format!("allowed: {}", quoted_list(allowed)),
        |b| format!("did you mean `{b}`? (allowed: {})", quoted_list(allowed)),
    );
    Diagnostic::error(
        Code::InvalidValue,
        format!("{} is not a valid value for {at}", display_value(value)),
    )
    .at_value(doc, pointer)
    .with_help(help)
}

/// The branches of a `oneOf` keyword's array.
fn one_of_branches(one_of: Option<&Value>) -> impl Iterator<Item = &Value> {
    one_of.and_then(Value::as_array).into_iter().flatten()
}

/// For `oneOf: [{const: a}, {const: b}]`, the values `a`, `b`.
fn one_of_constants(one_of: Option<&Value>) -> Vec<&str> {
    one_of_branches(one_of).filter_map(|branch| branch.get("const")?.as_str()).collect()
}

fn pattern_error(
    doc: &Document,
    pointer: &str,
    at: &str,
    pattern: &str,
    value: &Value,
) -> Diagnostic {
    let shown = display_value(value);
    let (message, help) = if pattern == DURATION_PATTERN {
        (
            format!("{shown} is not a duration ({at})"),
            "write parts like 30s, 5m, 1h30m (units ms, s, m, h, d)".to_owned(),
        )
    } else if pattern == NAME_PATTERN {
        let suggestion = value.as_str().map(suggest_name).filter(|s| !s.is_empty());
        (
            format!("{shown} is not a valid name ({at})"),
            match suggestion {
                Some(s) => format!("names are lowercase RFC 1123 labels: a-z, 0-9 and '-', starting and ending with a letter or digit; e.g. `{s}`"),
                None => "names are lowercase RFC 1123 labels: a-z, 0-9 and '-', starting and ending with a letter or digit".to_owned(),
            },
        )
    } else {
        (format!("{shown} is not valid for {at}"), format!("must match {pattern}"))
    };
    Diagnostic::error(Code::InvalidValue, message).at_value(doc, pointer).with_help(help)
}

/// The nearest valid resource name to `s` (`Mayor_Bot` → `mayor-bot`).
fn suggest_name(s: &str) -> String {
    let lowered: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect();
    lowered.trim_matches('-').chars().take(63).collect::<String>().trim_end_matches('-').to_owned()
}

/// The property names an object schema declares.
fn property_names(schema: Option<&Value>) -> Vec<&str> {
    schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// For `oneOf: [{required: [a]}, {required: [b]}]`, the names `a`, `b`.
fn one_of_choices(one_of: Option<&Value>) -> Vec<&str> {
    one_of_branches(one_of)
        .filter_map(|branch| branch.get("required")?.as_array())
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// Follows an evaluation path (which passes through `$ref`s) to the schema node it ends at.
fn schema_at<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let mut node = root;
    for token in path.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        node = if token == "$ref" {
            let target = node.get("$ref")?.as_str()?.strip_prefix('#')?;
            root.pointer(target)?
        } else {
            match node {
                Value::Object(m) => m.get(&token)?,
                Value::Array(a) => a.get(token.parse::<usize>().ok()?)?,
                _ => return None,
            }
        };
    }
    Some(node)
}

fn parent(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn article(type_name: &str) -> String {
    match type_name {
        "object" => "a mapping".into(),
        "array" => "a list".into(),
        "integer" => "an integer".into(),
        other => format!("a {other}"),
    }
}

fn display_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("`{s}`"),
        other => format!("`{other}`"),
    }
}
