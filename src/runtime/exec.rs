//! The exec runtime: sessions run by a script of the user's (`session.command`), spoken to
//! through the protocol in `docs/exec-session.md` — one operation per invocation
//! (`<command> start|stop|list|peek|nudge|set-meta`), a JSON request on stdin, a JSON answer on
//! stdout, the outcome in the exit code. Every invocation runs in a process group of its own
//! with a deadline; a script that hangs is killed, and one that crashes or answers garbage is
//! a clear error naming the script and the operation, never a wedged controller.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    Runtime, RuntimeError, SessionConfig, SessionInfo, validate_config, validate_meta_key,
    validate_name,
};
use crate::beads::process::{self, RunError};

/// Exit code: the operation is not implemented by the script.
pub const EXIT_UNSUPPORTED: i32 = 2;
/// Exit code: no session has that name.
pub const EXIT_NOT_FOUND: i32 = 3;
/// Exit code: `start` found a live session with that name.
pub const EXIT_EXISTS: i32 = 4;

/// Sessions run by an external script.
#[derive(Debug)]
pub struct ExecRuntime {
    command: PathBuf,
    dir: PathBuf,
    timeout: Duration,
}

/// One session as `list` reports it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Listed {
    name: String,
    #[serde(default)]
    alive: bool,
    #[serde(default)]
    pid: Option<u32>,
    #[serde(default)]
    exit_status: Option<i32>,
    /// Seconds since the Unix epoch.
    #[serde(default)]
    created: Option<f64>,
    #[serde(default)]
    last_activity: Option<f64>,
    #[serde(default)]
    attached: bool,
    #[serde(default)]
    meta: BTreeMap<String, String>,
}

fn time(seconds: Option<f64>) -> Option<SystemTime> {
    let seconds = seconds.filter(|s| s.is_finite() && *s >= 0.0)?;
    UNIX_EPOCH.checked_add(Duration::try_from_secs_f64(seconds).ok()?)
}

impl ExecRuntime {
    /// A runtime speaking to `command` (run in `dir`, the city directory), each operation
    /// given at most `timeout`.
    pub fn new(command: PathBuf, dir: PathBuf, timeout: Duration) -> ExecRuntime {
        ExecRuntime { command, dir, timeout }
    }

    /// Runs `operation` with `request` on stdin and returns its JSON answer (`null` for an
    /// empty stdout).
    fn call(
        &self,
        operation: &str,
        request: &Value,
        timeout: Duration,
    ) -> Result<Value, RuntimeError> {
        let what = format!("{} {operation}", self.command.display());
        let mut command = Command::new(&self.command);
        command.arg(operation).current_dir(&self.dir);
        let input = serde_json::to_vec(request).unwrap_or_default();
        let done = process::run(command, &input, timeout).map_err(|e| match e {
            RunError::Spawn(source) => RuntimeError::Io { what: format!("running {what}"), source },
            RunError::Io(source) => RuntimeError::Io { what: format!("running {what}"), source },
            e @ RunError::TimedOut(_) => {
                RuntimeError::Command { cmd: what.clone(), status: None, stderr: e.to_string() }
            }
        })?;
        let name = || request["name"].as_str().unwrap_or_default().to_owned();
        match done.code {
            Some(0) => {}
            Some(EXIT_UNSUPPORTED) => {
                return Err(RuntimeError::Unsupported(
                    "the exec session script does not implement this operation",
                ));
            }
            Some(EXIT_NOT_FOUND) => return Err(RuntimeError::NotFound(name())),
            Some(EXIT_EXISTS) => return Err(RuntimeError::Exists(name())),
            status => {
                return Err(RuntimeError::Command {
                    cmd: what,
                    status,
                    stderr: done.stderr_text(),
                });
            }
        }
        let text = String::from_utf8_lossy(&done.stdout);
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(text.trim()).map_err(|e| RuntimeError::Command {
            cmd: what,
            status: Some(0),
            stderr: format!("answered with invalid JSON ({e}): {}", excerpt(&text)),
        })
    }

    fn find(&self, name: &str) -> Result<Option<SessionInfo>, RuntimeError> {
        validate_name(name)?;
        Ok(self.list(name)?.into_iter().find(|s| s.name == name))
    }
}

/// The start of `text`, for an error message.
fn excerpt(text: &str) -> String {
    let line: String = text.trim().chars().take(120).collect();
    if line.len() < text.trim().len() { format!("{line}…") } else { line }
}

impl Runtime for ExecRuntime {
    fn start(&self, config: &SessionConfig) -> Result<(), RuntimeError> {
        validate_config(config)?;
        let request = json!({
            "name": config.name,
            "workDir": config.work_dir,
            "argv": config.argv,
            "env": config.env,
            "cleanEnv": config.clean_env,
            "meta": config.meta,
        });
        self.call("start", &request, self.timeout).map(drop)
    }

    fn stop(&self, name: &str, grace: Duration) -> Result<(), RuntimeError> {
        validate_name(name)?;
        let request = json!({"name": name, "graceMs": grace.as_millis() as u64});
        match self.call("stop", &request, self.timeout + grace) {
            Ok(_) | Err(RuntimeError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn is_running(&self, name: &str) -> Result<bool, RuntimeError> {
        Ok(self.find(name)?.is_some_and(|s| s.alive))
    }

    fn list(&self, prefix: &str) -> Result<Vec<SessionInfo>, RuntimeError> {
        let answer = self.call("list", &json!({"prefix": prefix}), self.timeout)?;
        let listed: Vec<Listed> =
            serde_json::from_value(answer["sessions"].clone()).map_err(|e| {
                RuntimeError::Command {
                    cmd: format!("{} list", self.command.display()),
                    status: Some(0),
                    stderr: format!("answered without a valid `sessions` list: {e}"),
                }
            })?;
        let mut sessions: Vec<SessionInfo> = listed
            .into_iter()
            // A script's stray or malformed names never reach the controller.
            .filter(|s| s.name.starts_with(prefix) && validate_name(&s.name).is_ok())
            .map(|s| SessionInfo {
                name: s.name,
                alive: s.alive,
                pid: s.pid,
                exit_status: s.exit_status,
                created: time(s.created),
                last_activity: time(s.last_activity),
                attached: s.attached,
                meta: s.meta,
            })
            .collect();
        sessions.sort_by(|a, b| a.name.cmp(&b.name));
        sessions.dedup_by(|a, b| a.name == b.name);
        Ok(sessions)
    }

    fn peek(&self, name: &str, lines: usize) -> Result<String, RuntimeError> {
        validate_name(name)?;
        let answer = self.call("peek", &json!({"name": name, "lines": lines}), self.timeout)?;
        Ok(answer["output"].as_str().unwrap_or_default().to_owned())
    }

    fn nudge(&self, name: &str, text: &str) -> Result<(), RuntimeError> {
        match self.find(name)? {
            None => return Err(RuntimeError::NotFound(name.to_owned())),
            Some(session) if !session.alive => {
                return Err(RuntimeError::NotRunning(name.to_owned()));
            }
            Some(_) => {}
        }
        self.call("nudge", &json!({"name": name, "text": text}), self.timeout).map(drop)
    }

    fn attach(&self, name: &str) -> Result<(), RuntimeError> {
        validate_name(name)?;
        if self.find(name)?.is_none() {
            return Err(RuntimeError::NotFound(name.to_owned()));
        }
        Err(RuntimeError::Unsupported(
            "the exec session backend has no terminal to attach to; use `gc session peek`",
        ))
    }

    fn set_meta(&self, name: &str, key: &str, value: &str) -> Result<(), RuntimeError> {
        validate_name(name)?;
        validate_meta_key(key)?;
        let request = json!({"name": name, "key": key, "value": value});
        self.call("set-meta", &request, self.timeout).map(drop)
    }

    fn get_meta(&self, name: &str, key: &str) -> Result<Option<String>, RuntimeError> {
        validate_meta_key(key)?;
        let session = self.find(name)?.ok_or_else(|| RuntimeError::NotFound(name.to_owned()))?;
        Ok(session.meta.get(key).cloned())
    }

    fn last_activity(&self, name: &str) -> Result<Option<SystemTime>, RuntimeError> {
        let session = self.find(name)?.ok_or_else(|| RuntimeError::NotFound(name.to_owned()))?;
        Ok(session.last_activity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_from_the_script_are_read_leniently() {
        assert_eq!(time(Some(1.5)), UNIX_EPOCH.checked_add(Duration::from_millis(1500)));
        assert_eq!(time(Some(-1.0)), None);
        assert_eq!(time(Some(f64::NAN)), None);
        assert_eq!(time(Some(f64::MAX)), None);
        assert_eq!(time(None), None);
    }

    #[test]
    fn long_garbage_is_cut_for_the_message() {
        let garbage = "x".repeat(500);
        assert_eq!(excerpt(&garbage).chars().count(), 121);
        assert_eq!(excerpt(" short \n"), "short");
    }
}
