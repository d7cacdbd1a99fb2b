//! The exec bead store: every operation runs the user's script as `<script> <op> [args…]`
//! (argv, never a shell), with a JSON request on stdin and a JSON answer on stdout. The
//! protocol is written down in `docs/exec-bead-store.md`; its messages are in
//! [`super::protocol`], and `gc internal bead-exec-store` ([`super::exec_server`]) is a
//! reference implementation.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::process::{self, RunError};
use super::protocol::{
    self, ActorRequest, CreateRequest, DepAddRequest, ImportReply, ImportRequest, ListRequest,
    ReadyRequest, SetMetadataRequest, UpdateRequest, WireError,
};
use super::{
    Bead, BeadError, BeadStore, BeadUpdate, Dependency, ImportSummary, ListQuery, NewBead,
    ReadyQuery, Result,
};

/// How long one operation may take before the script is killed and the call fails.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A bead store served by a script.
#[derive(Clone, Debug)]
pub struct ExecStore {
    /// The command as configured, for messages.
    command: String,
    /// The program, then its own arguments (from splitting `command`).
    argv: Vec<String>,
    /// What a relative script path is relative to.
    base: PathBuf,
    dir: PathBuf,
    prefix: String,
    timeout: Duration,
}

/// How one call went wrong: the script does not know the op (exit 2), or anything else.
enum CallError {
    Unsupported,
    Failed(BeadError),
}

impl From<BeadError> for CallError {
    fn from(e: BeadError) -> CallError {
        CallError::Failed(e)
    }
}

impl ExecStore {
    /// A store served by `command` (split into words like a shell would, without running one:
    /// quotes group, nothing is expanded) for the beads directory `dir`, making ids with
    /// `prefix`. A bare program name is looked up on PATH; a relative path with a `/` is taken
    /// relative to `dir` (see [`Self::relative_to`]).
    pub fn new(command: &str, dir: &Path, prefix: &str) -> Result<ExecStore> {
        let argv = shlex::split(command).ok_or_else(|| {
            BeadError::Invalid(format!(
                "the exec bead store command `{command}` has an unclosed quote or a trailing \
                 backslash"
            ))
        })?;
        if argv.is_empty() {
            return Err(BeadError::Invalid(
                "the exec bead store command is empty: set beads.command to the script".into(),
            ));
        }
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        Ok(ExecStore {
            command: command.to_owned(),
            argv,
            base: dir.clone(),
            dir,
            prefix: prefix.to_owned(),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// The same store, with a relative script path taken relative to `base` (the city
    /// directory, where the City's `beads.command` was written).
    pub fn relative_to(mut self, base: &Path) -> ExecStore {
        self.base = base.to_path_buf();
        self
    }

    /// The same store with another per-operation timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> ExecStore {
        self.timeout = timeout;
        self
    }

    /// Runs `op` and returns its stdout, or why it failed.
    fn run(&self, op: &str, args: &[&str], input: Option<&Value>) -> Result<Vec<u8>, CallError> {
        let program = &self.argv[0];
        let mut command = if program.contains('/') && Path::new(program).is_relative() {
            Command::new(self.base.join(program))
        } else {
            Command::new(program)
        };
        command
            .args(&self.argv[1..])
            .arg(op)
            .args(args)
            .env(protocol::ENV_DIR, &self.dir)
            .env(protocol::ENV_PREFIX, &self.prefix);
        let stdin = match input {
            Some(value) => {
                serde_json::to_vec(value).map_err(|e| self.failure(op, e.to_string()))?
            }
            None => Vec::new(),
        };
        let done = process::run(command, &stdin, self.timeout).map_err(|e| match e {
            RunError::TimedOut(_) => self.failure(op, format!("{e} (a hung script?)")),
            e => self.failure(op, e.to_string()),
        })?;
        match done.code {
            Some(protocol::EXIT_OK) => Ok(done.stdout),
            Some(protocol::EXIT_UNSUPPORTED) => Err(CallError::Unsupported),
            Some(protocol::EXIT_ERROR) => {
                let message = done.stderr_text();
                // A structured error on stdout says which failure it is; anything else there is
                // ignored and stderr alone is the message.
                match serde_json::from_slice::<WireError>(&done.stdout) {
                    Ok(wire) => Err(wire.into_error(message).into()),
                    Err(_) if message.is_empty() => {
                        Err(self.failure(op, "failed without a message on stderr".into()).into())
                    }
                    Err(_) => Err(self.failure(op, message).into()),
                }
            }
            Some(code) => Err(self
                .failure(op, format!("exited with status {code}: {}", done.stderr_text()))
                .into()),
            None => Err(self
                .failure(op, format!("was killed by a signal: {}", done.stderr_text()))
                .into()),
        }
    }

    /// Runs `op` and parses its stdout as `T`.
    fn call<T: DeserializeOwned>(
        &self,
        op: &str,
        args: &[&str],
        input: Option<&Value>,
    ) -> Result<T, CallError> {
        let stdout = self.run(op, args, input)?;
        serde_json::from_slice(&stdout).map_err(|e| {
            let shown = String::from_utf8_lossy(&stdout);
            let shown: String = shown.chars().take(200).collect();
            CallError::Failed(self.failure(op, format!("printed invalid JSON ({e}): {shown}")))
        })
    }

    /// A store failure naming the script and the op.
    fn failure(&self, op: &str, message: String) -> BeadError {
        BeadError::Backend(format!("exec store `{}` {op}: {message}", self.command))
    }

    fn unsupported(&self, op: &str) -> BeadError {
        BeadError::Backend(format!(
            "the exec store script does not support {op} (`{}` exited 2)",
            self.command
        ))
    }

    /// Calls `op`; exit 2 is an error saying the script does not support it.
    fn required<T: DeserializeOwned>(
        &self,
        op: &str,
        args: &[&str],
        input: Option<&Value>,
    ) -> Result<T> {
        self.call(op, args, input).map_err(|e| match e {
            CallError::Unsupported => self.unsupported(op),
            CallError::Failed(e) => e,
        })
    }

    /// Like [`Self::required`] for ops whose stdout carries nothing.
    fn required_unit(&self, op: &str, args: &[&str], input: Option<&Value>) -> Result<()> {
        self.run(op, args, input).map(drop).map_err(|e| match e {
            CallError::Unsupported => self.unsupported(op),
            CallError::Failed(e) => e,
        })
    }
}

/// The request body as JSON (the wire types always serialise).
fn body(request: &impl Serialize) -> Value {
    serde_json::to_value(request).unwrap_or(Value::Null)
}

impl BeadStore for ExecStore {
    fn create(&self, new: NewBead, actor: &str) -> Result<Bead> {
        self.required("create", &[], Some(&body(&CreateRequest::new(new, actor))))
    }

    fn get(&self, id: &str) -> Result<Bead> {
        self.required("get", &[id], None)
    }

    fn update(&self, id: &str, change: &BeadUpdate, actor: &str) -> Result<Bead> {
        self.required("update", &[id], Some(&body(&UpdateRequest::new(change, actor))))
    }

    fn claim(&self, id: &str, actor: &str) -> Result<Bead> {
        let request = ActorRequest { actor: actor.to_owned(), reason: None };
        self.required("claim", &[id], Some(&body(&request)))
    }

    fn claim_ready(&self, query: &ReadyQuery, actor: &str) -> Result<Option<Bead>> {
        self.required("claim-ready", &[], Some(&body(&ReadyRequest::new(query, actor))))
    }

    fn close(&self, id: &str, reason: Option<&str>, actor: &str) -> Result<Bead> {
        let request = ActorRequest { actor: actor.to_owned(), reason: reason.map(str::to_owned) };
        self.required("close", &[id], Some(&body(&request)))
    }

    fn list(&self, query: &ListQuery) -> Result<Vec<Bead>> {
        let request = body(&ListRequest::from(query));
        match self.call("list", &[], Some(&request)) {
            Ok(beads) => Ok(beads),
            // Gas City's protocol has `list-by-label` but no general `list`: scripts written
            // for it still answer a query for one label.
            Err(CallError::Unsupported) => match only_label(query) {
                Some(label) => self.required("list-by-label", &[label], None),
                None => Err(self.unsupported("list")),
            },
            Err(CallError::Failed(e)) => Err(e),
        }
    }

    fn ready(&self, query: &ReadyQuery) -> Result<Vec<Bead>> {
        self.required("ready", &[], Some(&body(&ReadyRequest::new(query, ""))))
    }

    fn children(&self, id: &str) -> Result<Vec<Bead>> {
        self.required("children", &[id], None)
    }

    fn dep_add(&self, dep: &Dependency, actor: &str) -> Result<()> {
        let request = DepAddRequest {
            actor: actor.to_owned(),
            dep_type: dep.dep_type.clone(),
            metadata: dep.metadata.clone(),
            created_at: dep.created_at.clone(),
            created_by: dep.created_by.clone(),
        };
        self.required_unit("dep-add", &[&dep.issue_id, &dep.depends_on_id], Some(&body(&request)))
    }

    fn dep_remove(&self, issue: &str, depends_on: &str, actor: &str) -> Result<()> {
        let request = ActorRequest { actor: actor.to_owned(), reason: None };
        self.required_unit("dep-remove", &[issue, depends_on], Some(&body(&request)))
    }

    fn dep_list(&self, id: &str) -> Result<Vec<Dependency>> {
        self.required("dep-list", &[id], None)
    }

    fn delete(&self, id: &str, actor: &str) -> Result<()> {
        let request = ActorRequest { actor: actor.to_owned(), reason: None };
        self.required_unit("delete", &[id], Some(&body(&request)))
    }

    fn export(&self) -> Result<Vec<Bead>> {
        self.required("export", &[], None)
    }

    fn import(&self, beads: Vec<Bead>, actor: &str) -> Result<ImportSummary> {
        let request = ImportRequest { actor: actor.to_owned(), beads };
        let reply: ImportReply = self.required("import", &[], Some(&body(&request)))?;
        Ok(reply.into())
    }

    fn set_metadata(&self, id: &str, values: Map<String, Value>, actor: &str) -> Result<Bead> {
        let request = SetMetadataRequest { actor: actor.to_owned(), metadata: values.clone() };
        match self.call("set-metadata", &[id], Some(&body(&request))) {
            Ok(bead) => Ok(bead),
            // Optional op: `update` with `set_metadata` does the same.
            Err(CallError::Unsupported) => {
                let change = BeadUpdate { set_metadata: values, ..BeadUpdate::default() };
                self.update(id, &change, actor)
            }
            Err(CallError::Failed(e)) => Err(e),
        }
    }
}

/// The label of a query that asks for exactly one label and nothing else.
fn only_label(query: &ListQuery) -> Option<&str> {
    let rest = ListQuery { labels: Vec::new(), ..query.clone() };
    match query.labels.as_slice() {
        [label] if rest == ListQuery::default() => Some(label),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    /// A store whose script is `body` (a sh script) in a temp dir.
    fn scripted(body: &str) -> (tempfile::TempDir, ExecStore) {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("store.sh");
        fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        let store = ExecStore::new("./store.sh", tmp.path(), "gc").unwrap();
        (tmp, store.with_timeout(Duration::from_secs(10)))
    }

    #[test]
    fn argv_is_the_split_command_then_op_then_args_and_no_shell_sees_them() {
        let (tmp, _) = scripted("printf '%s\\n' \"$@\" > \"$GC_BEADS_DIR/argv\"; exit 1");
        let cmd = format!("'{}' 'two words' \"$HOME\"", tmp.path().join("store.sh").display());
        let store = ExecStore::new(&cmd, tmp.path(), "gc").unwrap();
        let _ = store.get("gc-1; rm -rf /");
        let argv = fs::read_to_string(tmp.path().join("argv")).unwrap();
        assert_eq!(argv, "two words\n$HOME\nget\ngc-1; rm -rf /\n");
    }

    #[test]
    fn a_relative_script_is_found_from_the_city_directory() {
        let (city, _) = scripted("echo '[]'");
        let beads = city.path().join(".gc/beads");
        fs::create_dir_all(&beads).unwrap();
        let store = ExecStore::new("./store.sh", &beads, "gc").unwrap();
        assert!(store.export().is_err(), "not relative to the beads directory");
        let store = store.relative_to(city.path());
        assert_eq!(store.export().unwrap(), []);
    }

    #[test]
    fn bad_commands_are_refused_up_front() {
        let dir = Path::new("/tmp");
        assert!(ExecStore::new("", dir, "gc").is_err());
        assert!(ExecStore::new("  ", dir, "gc").is_err());
        assert!(ExecStore::new("'unclosed", dir, "gc").is_err());
    }

    #[test]
    fn exit_2_says_the_script_does_not_support_the_op() {
        let (_tmp, store) = scripted("exit 2");
        let err = store.claim("gc-1", "me").unwrap_err().to_string();
        assert!(err.contains("the exec store script does not support claim"), "{err}");
    }

    #[test]
    fn structured_errors_map_to_their_variants_and_stderr_is_the_message() {
        let (_tmp, store) = scripted(
            r#"echo '{"code":"already_claimed","id":"gc-1","by":"bob"}'; echo held >&2; exit 1"#,
        );
        let err = store.claim("gc-1", "me").unwrap_err();
        assert!(matches!(&err, BeadError::AlreadyClaimed { by, .. } if by == "bob"), "{err}");

        let (_tmp, store) = scripted(r#"echo '{"code":"not_found","id":"gc-9"}'; exit 1"#);
        assert!(matches!(store.get("gc-9").unwrap_err(), BeadError::NotFound(id) if id == "gc-9"));

        let (_tmp, store) =
            scripted(r#"echo '{"code":"invalid"}'; echo 'title is empty' >&2; exit 1"#);
        let err = store.get("x").unwrap_err();
        assert!(matches!(&err, BeadError::Invalid(m) if m == "title is empty"), "{err}");

        let (_tmp, store) = scripted("echo 'disk on fire' >&2; exit 1");
        let err = store.get("gc-1").unwrap_err().to_string();
        assert!(err.contains("./store.sh` get: disk on fire"), "{err}");
    }

    #[test]
    fn bad_json_is_an_error_naming_the_script_and_op() {
        let (_tmp, store) = scripted("echo '{not json'");
        let err = store.get("gc-1").unwrap_err().to_string();
        assert!(err.contains("exec store `./store.sh` get: printed invalid JSON"), "{err}");
        let (_tmp, store) = scripted("echo '[1, 2]'");
        assert!(store.list(&ListQuery::default()).is_err());
    }

    #[test]
    fn a_hung_script_is_an_error_naming_it() {
        let (_tmp, store) = scripted("sleep 30");
        let store = store.with_timeout(Duration::from_millis(300));
        let err = store.ready(&ReadyQuery::default()).unwrap_err().to_string();
        assert!(err.contains("./store.sh` ready: did not finish"), "{err}");
    }

    #[test]
    fn other_exit_codes_and_missing_scripts_are_errors() {
        let (_tmp, store) = scripted("echo boom >&2; exit 7");
        let err = store.export().unwrap_err().to_string();
        assert!(err.contains("exited with status 7: boom"), "{err}");
        let store = ExecStore::new("/nonexistent/script", Path::new("/tmp"), "gc").unwrap();
        let err = store.export().unwrap_err().to_string();
        assert!(err.contains("could not be started"), "{err}");
    }

    #[test]
    fn set_metadata_falls_back_to_update_and_list_to_list_by_label() {
        let (_tmp, store) = scripted(
            r#"case "$1" in
                 update) echo '{"id":"gc-1","title":"t","status":"open","created_at":"x","updated_at":"x","metadata":{"k":"v"}}' ;;
                 list-by-label) echo "[{\"id\":\"$2\",\"title\":\"t\",\"status\":\"open\",\"created_at\":\"x\",\"updated_at\":\"x\"}]" ;;
                 *) exit 2 ;;
               esac"#,
        );
        let mut values = Map::new();
        values.insert("k".into(), Value::String("v".into()));
        let bead = store.set_metadata("gc-1", values, "me").unwrap();
        assert_eq!(bead.meta_str("k"), Some("v"));
        let query = ListQuery { labels: vec!["urgent".into()], ..ListQuery::default() };
        assert_eq!(store.list(&query).unwrap()[0].id, "urgent");
        let err = store.list(&ListQuery::default()).unwrap_err().to_string();
        assert!(err.contains("does not support list"), "{err}");
    }

    #[test]
    fn the_request_arrives_on_stdin_as_json() {
        let (tmp, store) = scripted(r#"cat > "$GC_BEADS_DIR/in"; echo null"#);
        let query = ReadyQuery { labels: vec!["x".into()], ..ReadyQuery::default() };
        assert_eq!(store.claim_ready(&query, "me").unwrap(), None);
        let sent: Value =
            serde_json::from_slice(&fs::read(tmp.path().join("in")).unwrap()).unwrap();
        assert_eq!(sent, serde_json::json!({"actor": "me", "labels": ["x"]}));
    }
}
