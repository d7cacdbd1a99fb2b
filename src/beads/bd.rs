//! The bd bead store: every operation runs a real `bd` from PATH with `--json` (argv only,
//! never a shell; `BEADS_DIR` names the store), and reads bd's JSON ([`super::bd_json`]).
//!
//! Values go in `--flag=value` form and ids after `--`, so a title or id that starts with `-`
//! is never taken for a flag. Where bd's CLI cannot say something the trait asks for, the store
//! either does it in two steps (closing an already closed bead is answered from `show`; an
//! import's summary is computed from an export taken first) or filters bd's answer itself
//! (several statuses, metadata in `list`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Map, Value};

use super::bd_json::{self, Direction, Subject};
use super::model::{DepDirection, dep_type, status};
use super::process::{self, RunError};
use super::{
    Bead, BeadError, BeadStore, BeadUpdate, Dependency, ImportSummary, ListQuery, NewBead,
    ReadyQuery, Result,
};

/// How long one bd command may take (bd may start a Dolt server on first use).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A store kept by a real `bd`.
#[derive(Clone, Debug)]
pub struct BdStore {
    program: PathBuf,
    dir: PathBuf,
    timeout: Duration,
}

impl BdStore {
    /// The store in the beads directory `dir`, through `bd` on PATH.
    pub fn new(dir: &Path) -> BdStore {
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        BdStore { program: PathBuf::from("bd"), dir, timeout: DEFAULT_TIMEOUT }
    }

    /// The same store through another bd binary.
    pub fn with_program(mut self, program: impl Into<PathBuf>) -> BdStore {
        self.program = program.into();
        self
    }

    /// The same store with another per-command timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> BdStore {
        self.timeout = timeout;
        self
    }

    /// Runs `bd <args>` and returns its JSON answer (envelope removed). Failures are mapped
    /// through [`bd_json::classify`] with `subject`.
    fn run(&self, args: &[String], subject: Subject<'_>) -> Result<Value> {
        let what = args.iter().take_while(|a| !a.starts_with('-')).cloned().collect::<Vec<_>>();
        let what = format!("bd {}", what.join(" "));
        let mut command = Command::new(&self.program);
        command.args(args).env("BEADS_DIR", &self.dir);
        let done = process::run(command, b"", self.timeout).map_err(|e| match e {
            RunError::Spawn(e) if e.kind() == std::io::ErrorKind::NotFound => {
                BeadError::Backend(format!(
                    "{what}: `{}` is not on PATH (beads.backend is bd)",
                    self.program.display()
                ))
            }
            e => BeadError::Backend(format!("{what}: {e}")),
        })?;
        let parsed = bd_json::parse_output(&done.stdout);
        // bd reports errors as {"error": …} on stdout (or stderr) under --json, else as text.
        let error = parsed.as_ref().ok().and_then(bd_json::error_message).or_else(|| {
            serde_json::from_slice(&done.stderr).ok().as_ref().and_then(bd_json::error_message)
        });
        if done.code == Some(0) && error.is_none() {
            return parsed.map_err(|e| BeadError::Backend(format!("{what}: {e}")));
        }
        let message = error.unwrap_or_else(|| {
            let text = done.stderr_text();
            let text = text.strip_prefix("Error: ").unwrap_or(&text).to_owned();
            if text.is_empty() {
                format!("exited with status {:?} and no message", done.code)
            } else {
                text
            }
        });
        Err(bd_json::classify(&message, subject)
            .unwrap_or_else(|| BeadError::Backend(format!("{what}: {message}"))))
    }

    fn one(&self, args: &[String], id: &str) -> Result<Bead> {
        let value = self.run(args, Subject { id: Some(id), edge: None })?;
        let mut beads = bd_json::beads(value).map_err(|e| self.shape(args, e))?;
        if beads.is_empty() {
            return Err(BeadError::NotFound(id.to_owned()));
        }
        Ok(beads.swap_remove(0))
    }

    fn many(&self, args: &[String]) -> Result<Vec<Bead>> {
        let value = self.run(args, Subject::default())?;
        bd_json::beads(value).map_err(|e| self.shape(args, e))
    }

    fn shape(&self, args: &[String], message: String) -> BeadError {
        BeadError::Backend(format!("bd {}: {message}", args.first().map_or("", String::as_str)))
    }
}

/// Builds one bd argv: the subcommand, `--json`, flags, then `--` and the positionals.
#[derive(Debug, Default)]
struct Argv {
    words: Vec<String>,
    positionals: Vec<String>,
}

impl Argv {
    fn new(subcommand: &[&str]) -> Argv {
        let mut words: Vec<String> = subcommand.iter().map(|s| (*s).to_owned()).collect();
        words.push("--json".into());
        Argv { words, positionals: Vec::new() }
    }

    fn actor(self, actor: &str) -> Argv {
        self.flag("actor", actor)
    }

    fn flag(mut self, name: &str, value: &str) -> Argv {
        self.words.push(format!("--{name}={value}"));
        self
    }

    fn opt(self, name: &str, value: Option<&str>) -> Argv {
        match value {
            Some(value) => self.flag(name, value),
            None => self,
        }
    }

    fn switch(mut self, name: &str, on: bool) -> Argv {
        if on {
            self.words.push(format!("--{name}"));
        }
        self
    }

    fn each(self, name: &str, values: &[String]) -> Argv {
        values.iter().fold(self, |argv, v| argv.flag(name, v))
    }

    fn arg(mut self, value: &str) -> Argv {
        self.positionals.push(value.to_owned());
        self
    }

    fn build(mut self) -> Vec<String> {
        if !self.positionals.is_empty() {
            self.words.push("--".into());
            self.words.append(&mut self.positionals);
        }
        self.words
    }
}

/// bd takes lists as comma-separated values, so an item with a comma cannot be passed.
fn no_commas(what: &str, items: &[String]) -> Result<()> {
    match items.iter().find(|i| i.contains(',')) {
        Some(item) => Err(BeadError::Invalid(format!(
            "{what} `{item}` contains a comma, which bd's command line cannot carry"
        ))),
        None => Ok(()),
    }
}

/// A metadata value as `--set-metadata k=v` carries it: strings as they are, anything else as
/// JSON text.
fn meta_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn create_args(new: &NewBead, actor: &str) -> Result<Vec<String>> {
    no_commas("label", &new.labels)?;
    let mut deps = Vec::new();
    for dep in &new.deps {
        if dep.metadata.is_some() {
            return Err(BeadError::Invalid(format!(
                "bd create cannot give the edge to {} data; add it with dep_add after creating",
                dep.other
            )));
        }
        // bd's --deps: `X` (new depends on X, blocks), `TYPE:X` (new has a TYPE edge to X),
        // `blocks:X` (X depends on new). Other reversed types have no spelling.
        let entry = match (dep.direction, dep.dep_type.as_str()) {
            (DepDirection::NewDependsOnOther, dep_type::BLOCKS) => dep.other.clone(),
            (DepDirection::NewDependsOnOther, t) => format!("{t}:{}", dep.other),
            (DepDirection::OtherDependsOnNew, dep_type::BLOCKS) => format!("blocks:{}", dep.other),
            (DepDirection::OtherDependsOnNew, t) => {
                return Err(BeadError::Invalid(format!(
                    "bd create cannot add a `{t}` edge from {} to the new bead; add it with \
                     dep_add after creating",
                    dep.other
                )));
            }
        };
        deps.push(entry);
    }
    no_commas("dependency", &deps)?;
    let priority = new.priority.map(|p| p.to_string());
    let metadata =
        (!new.metadata.is_empty()).then(|| Value::Object(new.metadata.clone()).to_string());
    let argv = Argv::new(&["create"])
        .actor(actor)
        .opt("id", new.id.as_deref())
        .opt("type", new.issue_type.as_deref())
        .opt("priority", priority.as_deref())
        .opt("description", (!new.description.is_empty()).then_some(new.description.as_str()))
        .opt("notes", (!new.notes.is_empty()).then_some(new.notes.as_str()))
        .opt("acceptance", (!new.acceptance.is_empty()).then_some(new.acceptance.as_str()))
        .opt("assignee", new.assignee.as_deref())
        .opt("labels", (!new.labels.is_empty()).then(|| new.labels.join(",")).as_deref())
        .opt("parent", new.parent.as_deref())
        .opt("deps", (!deps.is_empty()).then(|| deps.join(",")).as_deref())
        .opt("metadata", metadata.as_deref())
        .switch("ephemeral", new.ephemeral)
        .opt("defer", new.defer_until.as_deref())
        .arg(&new.title);
    Ok(argv.build())
}

fn update_args(id: &str, change: &BeadUpdate, actor: &str) -> Vec<String> {
    let priority = change.priority.map(|p| p.to_string());
    let mut argv = Argv::new(&["update"])
        .actor(actor)
        .opt("title", change.title.as_deref())
        .opt("description", change.description.as_deref())
        .opt("notes", change.notes.as_deref())
        .opt("status", change.status.as_deref())
        .opt("priority", priority.as_deref())
        .opt("assignee", change.assignee.as_deref())
        .each("add-label", &change.add_labels)
        .each("remove-label", &change.remove_labels);
    for (key, value) in &change.set_metadata {
        argv = match value {
            Value::Null => argv.flag("unset-metadata", key),
            value => argv.flag("set-metadata", &format!("{key}={}", meta_value(value))),
        };
    }
    match &change.defer_until {
        Some(Some(at)) => argv = argv.flag("defer", at),
        // An empty value clears the defer time.
        Some(None) => argv = argv.flag("defer", ""),
        None => {}
    }
    argv.arg(id).build()
}

/// `bd list` flags for `query`. Several statuses and metadata filters are applied by the
/// caller ([`filter_listed`]), so bd is asked for everything those could keep.
fn list_args(query: &ListQuery) -> Vec<String> {
    let client_side = query.statuses.len() > 1 || !query.metadata.is_empty();
    let limit = if client_side { None } else { query.limit };
    Argv::new(&["list"])
        .opt(
            "status",
            match query.statuses.as_slice() {
                [one] => Some(one.as_str()),
                _ => None,
            },
        )
        .switch("all", query.all || query.statuses.len() > 1)
        .opt("assignee", query.assignee.as_deref())
        .switch("no-assignee", query.no_assignee)
        .each("label", &query.labels)
        .opt("type", query.issue_type.as_deref())
        .opt("parent", query.parent.as_deref())
        .flag("limit", &limit.unwrap_or(0).to_string())
        .build()
}

/// What bd could not filter itself: several statuses, metadata, and then the limit.
fn filter_listed(query: &ListQuery, beads: Vec<Bead>) -> Vec<Bead> {
    let kept = beads.into_iter().filter(|b| {
        (query.statuses.len() <= 1 || query.statuses.contains(&b.status))
            && query.metadata.iter().all(|(k, v)| b.meta_str(k) == Some(v.as_str()))
    });
    kept.take(query.limit.unwrap_or(usize::MAX)).collect()
}

fn ready_args(query: &ReadyQuery, claim_as: Option<&str>) -> Vec<String> {
    let metadata: Vec<String> = query.metadata.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let argv = Argv::new(&["ready"]);
    let argv = match claim_as {
        Some(actor) => argv.actor(actor).switch("claim", true),
        None => argv.opt("assignee", query.assignee.as_deref()),
    };
    argv.switch("unassigned", query.unassigned)
        .each("label", &query.labels)
        .opt("type", query.issue_type.as_deref())
        .each("metadata-field", &metadata)
        .flag("limit", &query.limit.unwrap_or(0).to_string())
        .build()
}

impl BeadStore for BdStore {
    fn create(&self, new: NewBead, actor: &str) -> Result<Bead> {
        if new.title.trim().is_empty() {
            return Err(BeadError::Invalid("a bead needs a title".into()));
        }
        let id = new.id.clone().unwrap_or_default();
        self.one(&create_args(&new, actor)?, &id)
    }

    fn get(&self, id: &str) -> Result<Bead> {
        self.one(&Argv::new(&["show"]).arg(id).build(), id)
    }

    fn update(&self, id: &str, change: &BeadUpdate, actor: &str) -> Result<Bead> {
        if change.is_empty() {
            // bd refuses an update with nothing to change; the trait answers with the bead.
            return self.get(id);
        }
        self.one(&update_args(id, change, actor), id)
    }

    fn claim(&self, id: &str, actor: &str) -> Result<Bead> {
        self.one(&Argv::new(&["update"]).actor(actor).switch("claim", true).arg(id).build(), id)
    }

    fn claim_ready(&self, query: &ReadyQuery, actor: &str) -> Result<Option<Bead>> {
        if query.assignee.is_some() {
            return Err(BeadError::Invalid(
                "bd ready --claim takes unassigned work; it cannot filter by assignee".into(),
            ));
        }
        Ok(self.many(&ready_args(query, Some(actor)))?.into_iter().next())
    }

    fn close(&self, id: &str, reason: Option<&str>, actor: &str) -> Result<Bead> {
        // Closing a closed bead must change nothing (not even the reason) and succeed.
        let current = self.get(id)?;
        if current.status == status::CLOSED {
            return Ok(current);
        }
        let argv = Argv::new(&["close"]).actor(actor).opt("reason", reason).arg(id).build();
        self.one(&argv, id)
    }

    fn list(&self, query: &ListQuery) -> Result<Vec<Bead>> {
        Ok(filter_listed(query, self.many(&list_args(query))?))
    }

    fn ready(&self, query: &ReadyQuery) -> Result<Vec<Bead>> {
        self.many(&ready_args(query, None))
    }

    fn children(&self, id: &str) -> Result<Vec<Bead>> {
        self.get(id)?;
        let argv = Argv::new(&["list"]).switch("all", true).flag("parent", id).flag("limit", "0");
        self.many(&argv.build())
    }

    fn dep_add(&self, dep: &Dependency, actor: &str) -> Result<()> {
        let argv = Argv::new(&["dep", "add"])
            .actor(actor)
            .flag("type", &dep.dep_type)
            .arg(&dep.issue_id)
            .arg(&dep.depends_on_id)
            .build();
        let edge = Some((dep.issue_id.as_str(), dep.depends_on_id.as_str()));
        self.run(&argv, Subject { id: Some(&dep.issue_id), edge }).map(drop)
    }

    fn dep_remove(&self, issue: &str, depends_on: &str, actor: &str) -> Result<()> {
        let argv = Argv::new(&["dep", "remove"]).actor(actor).arg(issue).arg(depends_on).build();
        self.run(&argv, Subject { id: Some(issue), edge: None }).map(drop)
    }

    fn dep_list(&self, id: &str) -> Result<Vec<Dependency>> {
        let subject = Subject { id: Some(id), edge: None };
        let mut edges = Vec::new();
        for (direction, flag) in [(Direction::Down, "down"), (Direction::Up, "up")] {
            let argv = Argv::new(&["dep", "list"]).flag("direction", flag).arg(id).build();
            let value = self.run(&argv, subject)?;
            edges.extend(
                bd_json::dependencies(id, value, direction).map_err(|e| self.shape(&argv, e))?,
            );
        }
        Ok(edges)
    }

    fn delete(&self, id: &str, actor: &str) -> Result<()> {
        let argv = Argv::new(&["delete"]).actor(actor).switch("force", true).arg(id).build();
        self.run(&argv, Subject { id: Some(id), edge: None }).map(drop)
    }

    fn export(&self) -> Result<Vec<Bead>> {
        // `bd export` prints JSONL (one bead per line), not one JSON document.
        let mut command = Command::new(&self.program);
        command.arg("export").env("BEADS_DIR", &self.dir);
        let done = process::run(command, b"", self.timeout)
            .map_err(|e| BeadError::Backend(format!("bd export: {e}")))?;
        if done.code != Some(0) {
            return Err(BeadError::Backend(format!("bd export: {}", done.stderr_text())));
        }
        let mut beads = parse_jsonl(&done.stdout)?;
        beads.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(beads)
    }

    fn import(&self, beads: Vec<Bead>, actor: &str) -> Result<ImportSummary> {
        let before: std::collections::HashMap<String, Bead> =
            self.export()?.into_iter().map(|b| (b.id.clone(), b)).collect();
        let mut summary = ImportSummary::default();
        let mut jsonl = String::new();
        for bead in &beads {
            match before.get(&bead.id) {
                None => summary.created += 1,
                Some(old) if old == bead => summary.unchanged += 1,
                Some(_) => summary.updated += 1,
            }
            let line = serde_json::to_string(bead)
                .map_err(|e| BeadError::Invalid(format!("bead {}: {e}", bead.id)))?;
            jsonl.push_str(&line);
            jsonl.push('\n');
        }
        let file = self.dir.join(format!(".gc-import-{}.jsonl", uuid::Uuid::new_v4()));
        std::fs::write(&file, jsonl)?;
        let argv =
            Argv::new(&["import"]).actor(actor).flag("input", &file.to_string_lossy()).build();
        let result = self.run(&argv, Subject::default());
        let _ = std::fs::remove_file(&file);
        result.map(|_| summary)
    }

    fn set_metadata(&self, id: &str, values: Map<String, Value>, actor: &str) -> Result<Bead> {
        self.update(id, &BeadUpdate { set_metadata: values, ..BeadUpdate::default() }, actor)
    }
}

/// Beads from JSONL (blank lines skipped); a bad line is an error naming its number.
fn parse_jsonl(bytes: &[u8]) -> Result<Vec<Bead>> {
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| {
            serde_json::from_str(line)
                .map_err(|e| e.to_string())
                .and_then(bd_json::bead)
                .map_err(|e| BeadError::Backend(format!("bd export: line {}: {e}", n + 1)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::beads::NewDep;

    fn words(argv: &[String]) -> Vec<&str> {
        argv.iter().map(String::as_str).collect()
    }

    #[test]
    fn create_passes_values_as_flag_equals_and_the_title_after_a_double_dash() {
        let mut metadata = Map::new();
        metadata.insert("gc.routed_to".into(), Value::String("mayor".into()));
        let new = NewBead {
            title: "--rm -rf; $(boom)".into(),
            description: "-starts with a dash".into(),
            issue_type: Some("bug".into()),
            priority: Some(0),
            labels: vec!["a".into(), "b".into()],
            parent: Some("gc-ep".into()),
            deps: vec![
                NewDep::parse("gc-1").unwrap(),
                NewDep::parse("blocks:gc-2").unwrap(),
                NewDep::parse("discovered-from:gc-3").unwrap(),
            ],
            metadata,
            ..NewBead::default()
        };
        let argv = create_args(&new, "alice").unwrap();
        assert_eq!(
            words(&argv),
            [
                "create",
                "--json",
                "--actor=alice",
                "--type=bug",
                "--priority=0",
                "--description=-starts with a dash",
                "--labels=a,b",
                "--parent=gc-ep",
                "--deps=gc-1,blocks:gc-2,discovered-from:gc-3",
                r#"--metadata={"gc.routed_to":"mayor"}"#,
                "--",
                "--rm -rf; $(boom)",
            ]
        );
    }

    #[test]
    fn what_bd_cannot_spell_is_refused_before_running_it() {
        let comma = NewBead { title: "t".into(), labels: vec!["a,b".into()], ..NewBead::default() };
        assert!(matches!(create_args(&comma, "a"), Err(BeadError::Invalid(_))));
        let reversed = NewBead {
            title: "t".into(),
            deps: vec![NewDep::new("gc-1", "related", DepDirection::OtherDependsOnNew)],
            ..NewBead::default()
        };
        assert!(matches!(create_args(&reversed, "a"), Err(BeadError::Invalid(_))));
    }

    #[test]
    fn update_sets_unsets_and_clears() {
        let mut set = Map::new();
        set.insert("k".into(), Value::String("v=1".into()));
        set.insert("n".into(), serde_json::json!(3));
        set.insert("gone".into(), Value::Null);
        let change = BeadUpdate {
            status: Some("in_progress".into()),
            assignee: Some(String::new()),
            add_labels: vec!["x".into()],
            remove_labels: vec!["y".into()],
            set_metadata: set,
            defer_until: Some(None),
            ..BeadUpdate::default()
        };
        assert_eq!(
            words(&update_args("gc-1", &change, "bob")),
            [
                "update",
                "--json",
                "--actor=bob",
                "--status=in_progress",
                "--assignee=",
                "--add-label=x",
                "--remove-label=y",
                "--set-metadata=k=v=1",
                "--set-metadata=n=3",
                "--unset-metadata=gone",
                "--defer=",
                "--",
                "gc-1",
            ]
        );
    }

    #[test]
    fn list_asks_bd_for_everything_it_cannot_filter_and_filters_the_rest() {
        let simple = ListQuery {
            statuses: vec!["open".into()],
            labels: vec!["a".into(), "b".into()],
            limit: Some(5),
            ..ListQuery::default()
        };
        assert_eq!(
            words(&list_args(&simple)),
            ["list", "--json", "--status=open", "--label=a", "--label=b", "--limit=5"]
        );
        let hard = ListQuery {
            statuses: vec!["open".into(), "closed".into()],
            metadata: vec![("k".into(), "v".into())],
            limit: Some(1),
            ..ListQuery::default()
        };
        assert_eq!(words(&list_args(&hard)), ["list", "--json", "--all", "--limit=0"]);
        let bead = |id: &str, status: &str, k: &str| {
            let mut b = Bead { id: id.into(), status: status.into(), ..Bead::default() };
            b.metadata.insert("k".into(), Value::String(k.into()));
            b
        };
        let kept = filter_listed(
            &hard,
            vec![
                bead("1", "blocked", "v"),
                bead("2", "open", "w"),
                bead("3", "closed", "v"),
                bead("4", "open", "v"),
            ],
        );
        assert_eq!(kept.iter().map(|b| b.id.as_str()).collect::<Vec<_>>(), ["3"]);
    }

    #[test]
    fn ready_and_claim_ready_argv() {
        let query = ReadyQuery {
            unassigned: true,
            metadata: vec![("gc.routed_to".into(), "mayor".into())],
            ..ReadyQuery::default()
        };
        assert_eq!(
            words(&ready_args(&query, None)),
            ["ready", "--json", "--unassigned", "--metadata-field=gc.routed_to=mayor", "--limit=0"]
        );
        let claim = ready_args(&ReadyQuery::default(), Some("w1"));
        assert_eq!(words(&claim), ["ready", "--json", "--actor=w1", "--claim", "--limit=0"]);
    }

    #[test]
    fn export_lines_parse_and_a_bad_line_is_named() {
        let ok = b"{\"id\":\"gc-1\",\"title\":\"t\",\"status\":\"open\",\"created_at\":\"a\",\"updated_at\":\"a\"}\n\n";
        assert_eq!(parse_jsonl(ok).unwrap()[0].id, "gc-1");
        let err = parse_jsonl(b"{}\n").unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn a_missing_bd_is_a_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let store = BdStore::new(tmp.path()).with_program("/nonexistent/bd");
        let err = store.get("gc-1").unwrap_err().to_string();
        assert!(err.contains("is not on PATH"), "{err}");
    }

    /// A fake bd (a sh script) shows the wiring: BEADS_DIR, argv, error mapping.
    #[test]
    fn a_fake_bd_sees_beads_dir_and_its_errors_map() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let fake = tmp.path().join("bd");
        std::fs::write(
            &fake,
            "#!/bin/sh\nprintf '%s\\n' \"$BEADS_DIR\" \"$@\" > \"$BEADS_DIR/argv\"\n\
             case \"$1\" in\n\
               show) echo '[]' ;;\n\
               update) echo '{\"error\":\"issue already claimed by w9\"}'; exit 1 ;;\n\
               dep) echo 'Error: adding dependency would create a cycle' >&2; exit 1 ;;\n\
               *) echo 'Error: database is locked' >&2; exit 1 ;;\n\
             esac\n",
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let store = BdStore::new(tmp.path()).with_program(&fake);
        assert!(matches!(store.get("gc-1"), Err(BeadError::NotFound(id)) if id == "gc-1"));
        let argv = std::fs::read_to_string(tmp.path().join("argv")).unwrap();
        let dir = std::path::absolute(tmp.path()).unwrap();
        assert_eq!(argv, format!("{}\nshow\n--json\n--\ngc-1\n", dir.display()));
        assert!(
            matches!(store.claim("gc-1", "me"), Err(BeadError::AlreadyClaimed { by, .. }) if by == "w9")
        );
        let dep = Dependency {
            issue_id: "a".into(),
            depends_on_id: "b".into(),
            dep_type: "blocks".into(),
            ..Dependency::default()
        };
        assert!(matches!(store.dep_add(&dep, "me"), Err(BeadError::Cycle { .. })));
        let err = store.ready(&ReadyQuery::default()).unwrap_err().to_string();
        assert_eq!(err, "bead store: bd ready: database is locked");
    }
}
