//! How bd results look: bd's JSON shapes (`--json`) and short, aligned text for people. Pure
//! functions of beads, so the shapes are tested without a store.

use serde_json::{Value, json};

use crate::beads::model::dep_type;
use crate::beads::{Bead, Dependency, ImportSummary};
use crate::cli::present::table;

/// A command's result in both forms (`--json` chooses), plus per-item errors for commands that
/// take several ids (printed on stderr; they make the exit status 1).
#[derive(Debug, Default)]
pub struct Report {
    /// What `--json` prints; `None` when the text is the only form (export to stdout).
    pub json: Option<Value>,
    /// What is printed otherwise (ends with a newline when not empty).
    pub text: String,
    /// Items that failed while others succeeded.
    pub errors: Vec<String>,
}

impl Report {
    /// A report with both forms.
    pub fn new(json: Value, text: String) -> Report {
        Report { json: Some(json), text, errors: Vec::new() }
    }

    /// The same report with these per-item errors.
    pub fn with_errors(mut self, errors: Vec<String>) -> Report {
        self.errors = errors;
        self
    }
}

/// A bead seen from another one, with the type of the edge between them (bd's
/// `IssueWithDependencyMetadata`).
#[derive(Clone, Debug, PartialEq)]
pub struct Related {
    /// The other bead.
    pub bead: Bead,
    /// The edge's type (`blocks`, `parent-child`, …).
    pub dep_type: String,
}

/// What `show` prints for one bead: the bead, what it depends on and what depends on it.
#[derive(Clone, Debug, PartialEq)]
pub struct Details {
    /// The bead itself.
    pub bead: Bead,
    /// The beads it depends on.
    pub dependencies: Vec<Related>,
    /// The beads that depend on it.
    pub dependents: Vec<Related>,
}

/// JSON as bd prints it: indented by two spaces.
pub fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// A bead's JSON object (bd's field names; empty fields left out, `priority` always there).
pub fn bead_json(bead: &Bead) -> Value {
    // Serialising plain strings, numbers and maps cannot fail; Null is only a type-level fallback.
    serde_json::to_value(bead).unwrap_or(Value::Null)
}

/// A JSON array of beads (`[]` when there are none, never `null`).
pub fn beads_json(beads: &[Bead]) -> Value {
    Value::Array(beads.iter().map(bead_json).collect())
}

/// A related bead as bd nests it in `show` and prints it in `dep list`: the bead's fields (without
/// its own edges) plus `dependency_type`.
pub fn related_json(related: &Related) -> Value {
    let mut value = bead_json(&related.bead);
    if let Value::Object(map) = &mut value {
        map.remove("dependencies");
        map.insert("dependency_type".into(), json!(related.dep_type));
    }
    value
}

/// The parent named by a bead's `parent-child` edge, or the `parent` the store filled in.
pub fn parent_of(bead: &Bead) -> Option<String> {
    bead.parent.clone().or_else(|| {
        bead.dependencies
            .iter()
            .find(|d| d.dep_type == dep_type::PARENT_CHILD && d.issue_id == bead.id)
            .map(|d| d.depends_on_id.clone())
    })
}

/// `show`'s JSON for one bead (bd's `IssueDetails`): the bead's fields, `dependencies` and
/// `dependents` as nested beads with `dependency_type`, and `parent`. Empty lists are left out,
/// as bd leaves them out.
pub fn details_json(details: &Details) -> Value {
    let mut value = bead_json(&details.bead);
    if let Value::Object(map) = &mut value {
        map.remove("dependencies");
        let nested = |list: &[Related]| Value::Array(list.iter().map(related_json).collect());
        if !details.dependencies.is_empty() {
            map.insert("dependencies".into(), nested(&details.dependencies));
        }
        if !details.dependents.is_empty() {
            map.insert("dependents".into(), nested(&details.dependents));
        }
        if let Some(parent) = parent_of(&details.bead) {
            map.insert("parent".into(), json!(parent));
        }
    }
    value
}

fn or_dash(s: &str) -> String {
    if s.is_empty() { "-".into() } else { s.to_owned() }
}

/// `P0` … `P4`.
pub fn priority_label(priority: i64) -> String {
    format!("P{priority}")
}

/// An aligned table of beads: id, priority, status, type, assignee, title.
pub fn bead_table(beads: &[Bead]) -> String {
    let rows: Vec<Vec<String>> = beads
        .iter()
        .map(|b| {
            vec![
                b.id.clone(),
                priority_label(b.priority),
                b.status.clone(),
                or_dash(&b.issue_type),
                or_dash(&b.assignee),
                b.title.clone(),
            ]
        })
        .collect();
    table(&["ID", "PRI", "STATUS", "TYPE", "ASSIGNEE", "TITLE"], &rows)
}

/// `create`: the bead as an object. The text follows bd's (`Created issue: ID`, then the
/// title, priority and status), without its check mark, so scripts that read it keep working.
pub fn created(bead: &Bead) -> Report {
    let mut text = format!(
        "Created issue: {}\n  Title: {}\n  Priority: {}\n  Status: {}\n",
        bead.id,
        bead.title,
        priority_label(bead.priority),
        bead.status
    );
    if !bead.assignee.is_empty() {
        text.push_str(&format!("  Assignee: {}\n", bead.assignee));
    }
    Report::new(bead_json(bead), text)
}

/// `update` and `close`: the changed beads as an array, one line each (`Updated gc-1: title`).
pub fn changed(verb: &str, beads: &[Bead]) -> Report {
    let text: String = beads.iter().map(|b| format!("{verb} {}: {}\n", b.id, b.title)).collect();
    Report::new(beads_json(beads), text)
}

/// `update --claim`: the claimed beads as an array.
pub fn claimed(beads: &[Bead]) -> Report {
    let text = beads
        .iter()
        .map(|b| format!("Claimed {}: {} (in_progress, assignee {})\n", b.id, b.title, b.assignee))
        .collect();
    Report::new(beads_json(beads), text)
}

/// `list`: an array; a table, or a line saying there is nothing. When the list is as long as
/// the limit, the text says more may exist.
pub fn listed(beads: &[Bead], limit: Option<usize>) -> Report {
    let mut text =
        if beads.is_empty() { "No issues found.\n".to_owned() } else { bead_table(beads) };
    if let Some(limit) = limit.filter(|l| beads.len() >= *l && *l > 0) {
        text.push_str(&format!("(showing at most {limit}; --limit 0 shows all)\n"));
    }
    Report::new(beads_json(beads), text)
}

/// `ready`: an array; a count and a table, or "No ready work.".
pub fn ready(beads: &[Bead]) -> Report {
    let text = if beads.is_empty() {
        "No ready work.\n".to_owned()
    } else {
        format!("Ready work ({}):\n{}", beads.len(), bead_table(beads))
    };
    Report::new(beads_json(beads), text)
}

/// `ready --claim`: an array holding the claimed bead, or `[]`.
pub fn claimed_ready(bead: Option<&Bead>) -> Report {
    match bead {
        Some(b) => claimed(std::slice::from_ref(b)),
        None => Report::new(json!([]), "No ready work to claim.\n".into()),
    }
}

/// `show`: an array of details; a block of text per bead.
pub fn shown(all: &[Details]) -> Report {
    let json = Value::Array(all.iter().map(details_json).collect());
    let text = all.iter().map(details_text).collect::<Vec<_>>().join("\n");
    Report::new(json, text)
}

fn details_text(details: &Details) -> String {
    let b = &details.bead;
    let mut s = format!("{}: {}\n", b.id, b.title);
    let mut field = |name: &str, value: String| {
        if !value.is_empty() {
            s.push_str(&format!("  {name:<10}{value}\n"));
        }
    };
    field("Status:", b.status.clone());
    field("Priority:", priority_label(b.priority));
    field("Type:", b.issue_type.clone());
    field("Assignee:", b.assignee.clone());
    field("Owner:", b.owner.clone());
    field("Parent:", parent_of(b).unwrap_or_default());
    field("Labels:", b.labels.join(", "));
    let by = if b.created_by.is_empty() { String::new() } else { format!(" by {}", b.created_by) };
    field("Created:", format!("{}{by}", b.created_at));
    field("Updated:", b.updated_at.clone());
    field("Started:", b.started_at.clone().unwrap_or_default());
    let reason =
        if b.close_reason.is_empty() { String::new() } else { format!(" ({})", b.close_reason) };
    field("Closed:", b.closed_at.as_ref().map(|c| format!("{c}{reason}")).unwrap_or_default());
    field("Deferred:", b.defer_until.clone().unwrap_or_default());
    // What the lease sweep did to it: how often it was taken back, and whether it is parked.
    let attempts = crate::controllers::lease::attempts_of(&b.metadata);
    if attempts > 0 {
        let from = crate::controllers::lease::taken_from(b).join(", ");
        field("Attempts:", format!("{attempts} (taken back from {from})"));
    }
    if let Some(commit) = b.meta_str(crate::work::proof::COMMIT) {
        let on = b.meta_str(crate::work::proof::COMMIT_ON).map(|o| format!(" (on {o})"));
        field("Proof:", format!("commit {commit}{}", on.unwrap_or_default()));
    }
    if let Some(why) = b.meta_str(crate::controllers::lease::PARKED) {
        field("Parked:", format!("{why}; `bd reopen {}` brings it back", b.id));
    }
    let meta: Vec<String> = b
        .metadata
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect();
    field("Metadata:", meta.join(", "));
    for (name, body) in
        [("Description", &b.description), ("Design", &b.design), ("Notes", &b.notes)]
    {
        if !body.is_empty() {
            s.push_str(&format!("\n{name}:\n"));
            for line in body.lines() {
                s.push_str(&format!("  {line}\n"));
            }
        }
    }
    for (name, list) in [("Depends on", &details.dependencies), ("Dependents", &details.dependents)]
    {
        if !list.is_empty() {
            s.push_str(&format!("\n{name} ({}):\n", list.len()));
            s.push_str(&indent(&related_table(list)));
        }
    }
    s
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

fn related_table(list: &[Related]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|r| {
            vec![
                r.bead.id.clone(),
                priority_label(r.bead.priority),
                r.bead.status.clone(),
                r.dep_type.clone(),
                r.bead.title.clone(),
            ]
        })
        .collect();
    // Without the header line: the section title says what the rows are.
    table(&["", "", "", "", ""], &rows).lines().skip(1).map(|l| format!("{l}\n")).collect()
}

/// `dep add`: bd's `{"status":"added",…}` object.
pub fn dep_added(dep: &Dependency) -> Report {
    Report::new(
        json!({
            "status": "added",
            "issue_id": dep.issue_id,
            "depends_on_id": dep.depends_on_id,
            "type": dep.dep_type,
        }),
        format!(
            "Added dependency: {} depends on {} ({})\n",
            dep.issue_id, dep.depends_on_id, dep.dep_type
        ),
    )
}

/// `dep remove`: bd's `{"status":"removed",…}` object.
pub fn dep_removed(issue: &str, depends_on: &str) -> Report {
    Report::new(
        json!({ "status": "removed", "issue_id": issue, "depends_on_id": depends_on }),
        format!("Removed dependency: {issue} no longer depends on {depends_on}\n"),
    )
}

/// `dep list`: an array of related beads; `up` lists what depends on `id`.
pub fn dep_listed(id: &str, up: bool, related: &[Related]) -> Report {
    let json = Value::Array(related.iter().map(related_json).collect());
    let text = match (related.is_empty(), up) {
        (true, false) => format!("{id} has no dependencies\n"),
        (true, true) => format!("No issues depend on {id}\n"),
        (false, false) => format!("{id} depends on:\n{}", indent(&related_table(related))),
        (false, true) => {
            format!("Issues that depend on {id}:\n{}", indent(&related_table(related)))
        }
    };
    Report::new(json, text)
}

/// `label add` / `label remove`: one `{"status","issue_id","label"}` object per label.
pub fn labels_changed(status: &str, id: &str, labels: &[String]) -> Report {
    let json = labels
        .iter()
        .map(|l| json!({ "status": status, "issue_id": id, "label": l }))
        .collect::<Vec<_>>();
    let (verb, preposition) = if status == "added" { ("Added", "to") } else { ("Removed", "from") };
    let text = labels.iter().map(|l| format!("{verb} label '{l}' {preposition} {id}\n")).collect();
    Report::new(Value::Array(json), text)
}

/// `label list`: an array of strings.
pub fn label_listed(id: &str, labels: &[String]) -> Report {
    let text = if labels.is_empty() {
        format!("{id} has no labels\n")
    } else {
        format!(
            "Labels for {id}:\n{}",
            labels.iter().map(|l| format!("  - {l}\n")).collect::<String>()
        )
    };
    Report::new(json!(labels), text)
}

/// `import`: the counts.
pub fn imported(summary: &ImportSummary) -> Report {
    Report::new(
        json!({
            "created": summary.created,
            "updated": summary.updated,
            "unchanged": summary.unchanged,
        }),
        format!(
            "Imported: {} created, {} updated, {} unchanged\n",
            summary.created, summary.updated, summary.unchanged
        ),
    )
}

/// `export -o FILE`: how many beads went where.
pub fn exported(count: usize, path: &str) -> Report {
    Report::new(
        json!({ "exported": count, "path": path }),
        format!("Exported {count} issue(s) to {path}\n"),
    )
}

/// `init`: where the store is and its prefix.
pub fn initialized(dir: &str, prefix: &str) -> Report {
    Report::new(
        json!({ "path": dir, "prefix": prefix }),
        format!("Initialized bead store in {dir} (ids: {prefix}-…)\n"),
    )
}

/// `install-shim`: the link and what it points at.
pub fn shim_installed(link: &str, target: &str, already: bool) -> Report {
    let what = if already { "already installed" } else { "installed" };
    Report::new(
        json!({ "path": link, "target": target, "created": !already }),
        format!(
            "bd shim {what}: {link} -> {target}\nMake sure its directory is on PATH; `bd …` then \
             runs gc's bd.\n"
        ),
    )
}

/// The keys of a JSON object, for shape tests.
#[cfg(test)]
fn keys(value: &Value) -> Vec<&str> {
    value.as_object().map(|m| m.keys().map(String::as_str).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bead(id: &str, title: &str) -> Bead {
        Bead {
            id: id.into(),
            title: title.into(),
            status: "open".into(),
            priority: 2,
            issue_type: "task".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
            ..Bead::default()
        }
    }

    fn edge(from: &str, to: &str, t: &str) -> Dependency {
        Dependency {
            issue_id: from.into(),
            depends_on_id: to.into(),
            dep_type: t.into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            ..Dependency::default()
        }
    }

    #[test]
    fn empty_lists_are_arrays_not_null() {
        for report in
            [listed(&[], Some(50)), ready(&[]), claimed_ready(None), changed("Closed", &[])]
        {
            assert_eq!(report.json, Some(json!([])));
        }
        assert_eq!(dep_listed("gc-1", false, &[]).json, Some(json!([])));
        assert_eq!(label_listed("gc-1", &[]).json, Some(json!([])));
        assert_eq!(shown(&[]).json, Some(json!([])));
    }

    #[test]
    fn create_prints_an_object_with_priority_even_when_zero() {
        let mut b = bead("gc-a1", "Fix it");
        b.priority = 0;
        let json = created(&b).json.unwrap();
        assert!(json.is_object());
        assert_eq!(json["priority"], 0);
        assert!(json.get("closed_at").is_none());
    }

    #[test]
    fn show_nests_dependencies_and_dependents_as_beads_with_their_edge_type() {
        let mut child = bead("gc-a1.1", "Child");
        child.dependencies =
            vec![edge("gc-a1.1", "gc-a1", "parent-child"), edge("gc-a1.1", "gc-b2", "blocks")];
        let details = Details {
            bead: child,
            dependencies: vec![
                Related { bead: bead("gc-a1", "Parent"), dep_type: "parent-child".into() },
                Related { bead: bead("gc-b2", "Blocker"), dep_type: "blocks".into() },
            ],
            dependents: vec![Related { bead: bead("gc-c3", "Later"), dep_type: "blocks".into() }],
        };
        let json = shown(std::slice::from_ref(&details)).json.unwrap();
        let one = &json[0];
        assert_eq!(one["parent"], "gc-a1");
        assert_eq!(one["dependencies"][1]["id"], "gc-b2");
        assert_eq!(one["dependencies"][1]["dependency_type"], "blocks");
        assert_eq!(one["dependencies"][1]["priority"], 2);
        assert_eq!(one["dependents"][0]["id"], "gc-c3");
        assert!(keys(&one["dependents"][0]).contains(&"dependency_type"));

        let lonely =
            Details { bead: bead("gc-z", "Alone"), dependencies: vec![], dependents: vec![] };
        let json = details_json(&lonely);
        assert!(json.get("dependencies").is_none() && json.get("dependents").is_none());
        assert!(json.get("parent").is_none());
    }

    #[test]
    fn dependency_and_label_changes_use_bds_status_objects() {
        let added = dep_added(&edge("gc-2", "gc-1", "blocks")).json.unwrap();
        assert_eq!(keys(&added), ["status", "issue_id", "depends_on_id", "type"]);
        assert_eq!(added["status"], "added");
        let removed = dep_removed("gc-2", "gc-1").json.unwrap();
        assert_eq!(removed["status"], "removed");
        let labels = labels_changed("added", "gc-1", &["a".into(), "b".into()]);
        assert_eq!(
            labels.json.unwrap()[1],
            json!({"status":"added","issue_id":"gc-1","label":"b"})
        );
        assert_eq!(labels.text, "Added label 'a' to gc-1\nAdded label 'b' to gc-1\n");
    }

    #[test]
    fn tables_align_and_show_dashes_for_blanks() {
        let mut a = bead("gc-a1", "First");
        a.assignee = "ann".into();
        let text = listed(&[a, bead("gc-bbbb", "Second")], Some(50)).text;
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "ID        PRI   STATUS   TYPE   ASSIGNEE   TITLE");
        assert_eq!(lines[1], "gc-a1     P2    open     task   ann        First");
        assert_eq!(lines[2], "gc-bbbb   P2    open     task   -          Second");
        assert_eq!(lines.len(), 3);
    }

    #[test]
    fn a_full_page_says_more_may_exist() {
        let text = listed(&[bead("gc-1", "a")], Some(1)).text;
        assert!(text.contains("--limit 0 shows all"), "{text}");
        assert!(!listed(&[bead("gc-1", "a")], None).text.contains("--limit"));
    }

    #[test]
    fn show_text_has_fields_body_and_edges() {
        let mut b = bead("gc-a1", "Title");
        b.description = "line one\nline two".into();
        b.labels = vec!["x".into(), "y".into()];
        let details = Details {
            bead: b,
            dependencies: vec![Related {
                bead: bead("gc-b2", "Blocker"),
                dep_type: "blocks".into(),
            }],
            dependents: vec![],
        };
        let text = shown(&[details]).text;
        assert!(text.starts_with("gc-a1: Title\n"), "{text}");
        assert!(text.contains("  Labels:   x, y\n"), "{text}");
        assert!(text.contains("\nDescription:\n  line one\n  line two\n"), "{text}");
        assert!(
            text.contains("Depends on (1):\n  gc-b2   P2   open   blocks   Blocker\n"),
            "{text}"
        );
    }
}
