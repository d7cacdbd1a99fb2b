//! Reading what a real `bd … --json` prints: beads (objects or arrays, possibly inside a
//! `{"schema_version": N, "data": …}` envelope), dependency listings, and error messages, which
//! are mapped to [`BeadError`] variants. Pure functions, tested on recorded samples, because
//! `bd` itself is not available where gc's tests run.

use serde_json::{Map, Value};

use super::{Bead, BeadError, Dependency};

/// Removes bd's optional output envelope.
pub fn unwrap_envelope(value: Value) -> Value {
    match value {
        Value::Object(mut map)
            if map.contains_key("schema_version") && map.contains_key("data") =>
        {
            map.remove("data").unwrap_or(Value::Null)
        }
        other => other,
    }
}

/// The message of an error object (`{"error": "…"}`), if `value` is one.
pub fn error_message(value: &Value) -> Option<String> {
    let error = value.as_object()?.get("error")?;
    Some(match error {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// Parses stdout as JSON, unwrapped; `Err` holds the parse error.
pub fn parse_output(stdout: &[u8]) -> Result<Value, String> {
    let text = String::from_utf8_lossy(stdout);
    let text = text.trim();
    if text.is_empty() {
        return Err("printed nothing".into());
    }
    serde_json::from_str(text).map(unwrap_envelope).map_err(|e| {
        let shown: String = text.chars().take(200).collect();
        format!("printed invalid JSON ({e}): {shown}")
    })
}

/// One bead from bd's JSON. Newer bd prints a bead's `dependencies` as the beads it depends on
/// (each with a `dependency_type`) rather than as edges; both forms become edges here.
/// Metadata printed as a JSON string is decoded; labels are sorted.
pub fn bead(value: Value) -> Result<Bead, String> {
    let Value::Object(mut map) = value else {
        return Err(format!("expected a bead object, got {}", kind(&value)));
    };
    let id = map.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
    if let Some(Value::Array(deps)) = map.get_mut("dependencies") {
        for dep in deps.iter_mut() {
            if let Some(edge) = dependency_from_issue(&id, dep, Direction::Down) {
                *dep = serde_json::to_value(edge).unwrap_or(Value::Null);
            }
        }
    }
    if let Some(Value::String(text)) = map.get("metadata") {
        let decoded = serde_json::from_str::<Map<String, Value>>(text).unwrap_or_default();
        map.insert("metadata".into(), Value::Object(decoded));
    }
    if map.get("metadata").is_some_and(Value::is_null) {
        map.remove("metadata");
    }
    let mut bead: Bead = serde_json::from_value(Value::Object(map))
        .map_err(|e| format!("bead {id:?} does not have bd's shape: {e}"))?;
    bead.labels.sort();
    bead.labels.dedup();
    Ok(bead)
}

/// Every bead in an array (or a single object, as `bd create` prints).
pub fn beads(value: Value) -> Result<Vec<Bead>, String> {
    match value {
        Value::Array(items) => items.into_iter().map(bead).collect(),
        Value::Object(_) => Ok(vec![bead(value)?]),
        Value::Null => Ok(Vec::new()),
        other => Err(format!("expected beads, got {}", kind(&other))),
    }
}

/// Which way `bd dep list` looked from the bead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// What the bead depends on (`--direction=down`, the default).
    Down,
    /// What depends on the bead (`--direction=up`).
    Up,
}

/// The edges in `bd dep list <id> --json` output (issues with a `dependency_type`).
pub fn dependencies(
    id: &str,
    value: Value,
    direction: Direction,
) -> Result<Vec<Dependency>, String> {
    let Value::Array(items) = value else {
        return Err(format!("expected an array of dependencies, got {}", kind(&value)));
    };
    items
        .iter()
        .map(|item| {
            dependency_from_issue(id, item, direction)
                .or_else(|| serde_json::from_value(item.clone()).ok())
                .ok_or_else(|| format!("not a dependency: {item}"))
        })
        .collect()
}

/// An edge from an issue-with-dependency-type object; `None` when `value` is not one.
fn dependency_from_issue(id: &str, value: &Value, direction: Direction) -> Option<Dependency> {
    let map = value.as_object()?;
    if map.contains_key("issue_id") && map.contains_key("depends_on_id") {
        return None;
    }
    let other = map.get("id")?.as_str()?.to_owned();
    let dep_type = map
        .get("dependency_type")
        .or_else(|| map.get("type"))
        .and_then(Value::as_str)
        .unwrap_or(super::model::dep_type::BLOCKS)
        .to_owned();
    let (issue_id, depends_on_id) = match direction {
        Direction::Down => (id.to_owned(), other),
        Direction::Up => (other, id.to_owned()),
    };
    Some(Dependency { issue_id, depends_on_id, dep_type, ..Dependency::default() })
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// What a failing command was about, so a message can become the right [`BeadError`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Subject<'a> {
    /// The bead the command names.
    pub id: Option<&'a str>,
    /// `dep add`: the dependent and its dependency.
    pub edge: Option<(&'a str, &'a str)>,
}

/// The [`BeadError`] for bd's error `message`; `None` when it is no known kind (the caller
/// then reports it as a store failure).
pub fn classify(message: &str, subject: Subject<'_>) -> Option<BeadError> {
    let lower = message.to_lowercase();
    let id = subject.id.unwrap_or_default().to_owned();
    if let Some(at) = lower.find("already claimed by ") {
        let rest = &message[at + "already claimed by ".len()..];
        let by = rest.split_whitespace().next().unwrap_or_default();
        let by = by.trim_end_matches(['.', ',', ';', ':', ')']);
        return Some(BeadError::AlreadyClaimed { id, by: by.to_owned() });
    }
    if lower.contains("not claimable")
        || lower.contains("cannot claim")
        || lower.contains("cannot be claimed")
    {
        let status = lower
            .rfind("status")
            .map(|at| &message[at + "status".len()..])
            .and_then(|rest| {
                rest.split(|c: char| c.is_whitespace() || c == ':' || c == '=')
                    .find(|w| !w.is_empty())
            })
            .unwrap_or("unknown")
            .trim_end_matches(['.', ',', ')']);
        return Some(BeadError::NotClaimable { id, status: status.to_owned() });
    }
    if let Some((from, to)) = subject.edge {
        if lower.contains("cycle") {
            return Some(BeadError::Cycle { from: from.to_owned(), to: to.to_owned() });
        }
        if lower.contains("itself")
            || lower.contains("self-dependency")
            || lower.contains("self dependency")
        {
            return Some(BeadError::SelfDependency(from.to_owned()));
        }
    }
    if lower.contains("already exists") {
        return Some(BeadError::Exists(id));
    }
    if lower.contains("not found")
        || lower.contains("no issue found")
        || lower.contains("no issues found")
    {
        return Some(BeadError::NotFound(id));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `bd create --json` (an object), as recorded from bd 0.5x.
    const CREATE: &str = r#"{"id":"bd-main-idj","title":"Pattern-collapse pass","description":"…","status":"open","priority":2,"issue_type":"chore","owner":"x@example.com","created_at":"2026-04-18T16:19:12Z","created_by":"matt","updated_at":"2026-04-18T16:19:12Z","labels":["z","a"]}"#;

    /// `bd show --json` (an array), dependencies as beads with a `dependency_type`.
    const SHOW: &str = r#"[{"id":"gc-b2","title":"b","status":"in_progress","priority":1,"issue_type":"task","assignee":"w1","created_at":"2026-04-18T16:19:12Z","updated_at":"2026-04-18T16:30:16Z","started_at":"2026-04-18T16:30:16Z","metadata":{"gc.routed_to":"mayor"},"dependencies":[{"id":"gc-a1","title":"a","status":"open","priority":2,"issue_type":"task","created_at":"2026-04-18T16:19:12Z","updated_at":"2026-04-18T16:19:12Z","dependency_type":"blocks"}],"dependents":[]}]"#;

    /// `bd list --json` rows (edges stored as bd's JSONL export has them, plus counts).
    const LIST: &str = r#"[{"id":"gc-c3","title":"c","status":"open","priority":0,"issue_type":"bug","created_at":"2026-04-18T16:19:12Z","updated_at":"2026-04-18T16:19:12Z","dependencies":[{"issue_id":"gc-c3","depends_on_id":"gc-a1","type":"parent-child","created_at":"2026-04-18T16:19:12Z"}],"dependency_count":1,"dependent_count":0,"comment_count":0,"parent":"gc-a1"}]"#;

    #[test]
    fn create_show_and_list_shapes_parse() {
        let created = beads(parse_output(CREATE.as_bytes()).unwrap()).unwrap();
        assert_eq!(created[0].id, "bd-main-idj");
        assert_eq!(created[0].labels, ["a", "z"]);
        let shown = beads(parse_output(SHOW.as_bytes()).unwrap()).unwrap();
        assert_eq!(shown[0].meta_str("gc.routed_to"), Some("mayor"));
        assert_eq!(
            shown[0].dependencies,
            [Dependency {
                issue_id: "gc-b2".into(),
                depends_on_id: "gc-a1".into(),
                dep_type: "blocks".into(),
                ..Dependency::default()
            }]
        );
        let listed = beads(parse_output(LIST.as_bytes()).unwrap()).unwrap();
        assert_eq!(listed[0].parent.as_deref(), Some("gc-a1"));
        assert_eq!(listed[0].dependencies[0].dep_type, "parent-child");
        assert_eq!(listed[0].dependency_count, Some(1));
    }

    #[test]
    fn envelopes_and_string_metadata_are_unwrapped() {
        let wrapped = format!(r#"{{"schema_version":1,"data":{SHOW}}}"#);
        assert_eq!(beads(parse_output(wrapped.as_bytes()).unwrap()).unwrap().len(), 1);
        let text = json!({"id":"x","title":"t","status":"open","created_at":"a","updated_at":"a","metadata":"{\"k\":\"v\"}"});
        assert_eq!(bead(text).unwrap().meta_str("k"), Some("v"));
        assert_eq!(beads(parse_output(b"[]").unwrap()).unwrap(), []);
    }

    #[test]
    fn bad_output_is_an_error_not_a_panic() {
        assert!(parse_output(b"").is_err());
        assert!(parse_output(b"{oops").is_err());
        assert!(parse_output(&[0xff, 0xfe]).is_err());
        assert!(beads(json!(3)).is_err());
        assert!(beads(json!([{"id": 1}])).is_err());
        assert!(beads(json!([{"title": "no id or times"}])).is_err());
        assert!(dependencies("x", json!({}), Direction::Down).is_err());
        assert!(dependencies("x", json!([7]), Direction::Down).is_err());
    }

    #[test]
    fn dep_list_rows_become_edges_in_both_directions() {
        let rows =
            json!([{"id":"gc-a1","title":"a","status":"open","dependency_type":"waits-for"}]);
        let down = dependencies("gc-b2", rows.clone(), Direction::Down).unwrap();
        assert_eq!((down[0].issue_id.as_str(), down[0].depends_on_id.as_str()), ("gc-b2", "gc-a1"));
        assert_eq!(down[0].dep_type, "waits-for");
        let up = dependencies("gc-b2", rows, Direction::Up).unwrap();
        assert_eq!((up[0].issue_id.as_str(), up[0].depends_on_id.as_str()), ("gc-a1", "gc-b2"));
    }

    #[test]
    fn bd_error_messages_map_to_bead_errors() {
        let one = Subject { id: Some("gc-1"), edge: None };
        let err = error_message(&json!({"error": "issue already claimed by worker-1"})).unwrap();
        assert!(
            matches!(classify(&err, one), Some(BeadError::AlreadyClaimed { by, .. }) if by == "worker-1")
        );
        assert!(matches!(
            classify("issue not claimable: status closed", one),
            Some(BeadError::NotClaimable { status, .. }) if status == "closed"
        ));
        assert!(
            matches!(classify("no issue found matching \"gc-1\"", one), Some(BeadError::NotFound(id)) if id == "gc-1")
        );
        assert!(matches!(
            classify("resolving gc-1: issue not found", one),
            Some(BeadError::NotFound(_))
        ));
        let edge = Subject { id: Some("a"), edge: Some(("a", "b")) };
        assert!(matches!(
            classify("adding dependency would create a cycle", edge),
            Some(BeadError::Cycle { from, to }) if from == "a" && to == "b"
        ));
        assert!(matches!(
            classify("issue cannot depend on itself", edge),
            Some(BeadError::SelfDependency(_))
        ));
        assert!(classify("database is locked", one).is_none());
    }
}
