//! Runtime providers: where agent sessions actually run. The [`Runtime`] trait is the one
//! interface controllers use to start, observe and stop sessions; [`tmux`] (the default),
//! [`subprocess`] (headless hosts), [`exec`] (a script of the user's, `docs/exec-session.md`),
//! [`kubernetes`] (one Pod per session) and [`fake`] (unit tests) implement it, and
//! `tests/runtime_conformance.rs` holds every implementation to the same behaviour.
//!
//! The API is synchronous: controllers call it from `spawn_blocking`. Implementations are
//! `Send + Sync` and safe for concurrent calls on distinct session names.

pub mod exec;
pub mod fake;
pub mod kubernetes;
pub mod launch;
pub mod pod_session;
pub(crate) mod procs;
pub mod shared_listing;
pub use procs::runs_named;
pub mod subprocess;
pub mod terminal;
pub mod tmux;

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

pub use exec::ExecRuntime;
pub use fake::FakeRuntime;
pub use kubernetes::KubernetesRuntime;
pub use shared_listing::SharedListing;
pub use subprocess::SubprocessRuntime;
pub use tmux::TmuxRuntime;

/// What to start. The controller builds it; the runtime just carries it out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionConfig {
    /// Session name: `^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$` (see [`validate_name`]).
    pub name: String,
    /// Directory the program starts in; it must exist.
    pub work_dir: PathBuf,
    /// Program and arguments, never passed through a shell (the prompt is already among them
    /// when the provider takes it as an argument).
    pub argv: Vec<String>,
    /// The extra environment of the session (`GC_CITY`, `GC_AGENT`, …), added to the
    /// runtime's own environment — or, with [`SessionConfig::clean_env`], its whole
    /// environment.
    pub env: BTreeMap<String, String>,
    /// When set, the program gets `env` and nothing else, bar the terminal's `TERM` and
    /// `COLORTERM` (see [`crate::agentcli::env`]): agent sessions are built, not inherited.
    pub clean_env: bool,
    /// Session metadata (instance token, fingerprint, generation), set atomically with the
    /// start so that nobody ever observes the session without it. Keys: see
    /// [`validate_meta_key`].
    pub meta: BTreeMap<String, String>,
    /// The pod the session runs in, read only by the kubernetes runtime (`None`: the City's
    /// `session.kubernetes` as the runtime was made with).
    pub pod: Option<kubernetes::PodSettings>,
}

/// What a runtime observed about one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// Session name.
    pub name: String,
    /// Whether a live process runs in it. A dead pane kept for forensics (tmux
    /// `remain-on-exit`) is **not** alive.
    pub alive: bool,
    /// Process id of the session's top process, when known.
    pub pid: Option<u32>,
    /// Exit status of a dead session, when known (128 + signal number for a signal). tmux may
    /// report a pane dead a moment before it has reaped the process, so the status can appear
    /// an observation after `alive` turns false.
    pub exit_status: Option<i32>,
    /// When the session was started.
    pub created: Option<SystemTime>,
    /// When the session last produced output.
    pub last_activity: Option<SystemTime>,
    /// Whether a person's terminal is attached to it now (never for runtimes without
    /// attachable terminals).
    pub attached: bool,
    /// Every metadata key of the session.
    pub meta: BTreeMap<String, String>,
}

/// How [`Runtime::wait_ready`] decides that a freshly started program is ready for input.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Readiness {
    /// Ready at once (as long as it runs).
    #[default]
    None,
    /// Ready after this long (as long as it still runs then).
    Delay(Duration),
    /// Ready when a line of its output starts with one of these texts (leading blanks
    /// ignored), e.g. the `❯` of an agent's input prompt.
    PromptPrefix(Vec<String>),
}

/// Errors of runtime operations.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A session name that could become a tmux target or a path was refused; nothing was done.
    #[error(
        "invalid session name `{0}`: use 1-100 letters, digits, `_` or `-`, starting with a \
         letter or digit"
    )]
    InvalidName(String),
    /// A metadata key outside `[a-z0-9-]+` was refused; nothing was done.
    #[error("invalid metadata key `{0}`: use lowercase letters, digits and `-`")]
    InvalidMetaKey(String),
    /// The session config cannot be carried out (empty argv, missing work dir, NUL bytes…);
    /// nothing was started.
    #[error("invalid session config: {0}")]
    InvalidConfig(String),
    /// A live session already has this name; it was left alone.
    #[error("session `{0}` already exists and is running")]
    Exists(String),
    /// No session has this name.
    #[error("no session `{0}`")]
    NotFound(String),
    /// The session exists but its program has exited, so it cannot take input.
    #[error("session `{0}` is not running (its program exited)")]
    NotRunning(String),
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: io::Error,
    },
    /// An external command (tmux) exited unsuccessfully.
    #[error("`{cmd}` failed ({status}): {stderr}", status = status_text(*.status))]
    Command {
        /// The command line, for people.
        cmd: String,
        /// Its exit status (`None`: killed by a signal).
        status: Option<i32>,
        /// What it printed on stderr.
        stderr: String,
    },
    /// The runtime cannot do this at all; the message says what to use instead.
    #[error("{0}")]
    Unsupported(&'static str),
}

fn status_text(status: Option<i32>) -> String {
    match status {
        Some(code) => format!("exit status {code}"),
        None => "killed by a signal".to_owned(),
    }
}

impl RuntimeError {
    /// An [`RuntimeError::Io`] saying what was being done.
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> RuntimeError {
        let what = what.into();
        move |source| RuntimeError::Io { what, source }
    }
}

/// Where agent sessions run. See the module documentation.
pub trait Runtime: Send + Sync {
    /// Starts a session. [`RuntimeError::Exists`] if a live session has that name; a dead one
    /// (kept for forensics) is replaced. The metadata is visible from the first moment the
    /// session is.
    fn start(&self, config: &SessionConfig) -> Result<(), RuntimeError>;

    /// Stops the session's whole process tree — SIGTERM, up to `grace` for it to exit
    /// (returning early when it has), then SIGKILL — and removes the session. Stopping a
    /// missing session is `Ok`.
    fn stop(&self, name: &str, grace: Duration) -> Result<(), RuntimeError>;

    /// Whether the session exists **and** its program is alive.
    fn is_running(&self, name: &str) -> Result<bool, RuntimeError>;

    /// Every session whose name starts with `prefix`, sorted by name, read in one observation.
    fn list(&self, prefix: &str) -> Result<Vec<SessionInfo>, RuntimeError>;

    /// The last `lines` lines of the session's output (also of a dead session).
    fn peek(&self, name: &str, lines: usize) -> Result<String, RuntimeError>;

    /// Types `text` literally into the session, then Enter.
    fn nudge(&self, name: &str, text: &str) -> Result<(), RuntimeError>;

    /// Types `text` literally into the session (never read as key names), without Enter.
    fn type_text(&self, name: &str, text: &str) -> Result<(), RuntimeError> {
        let _ = (name, text);
        Err(RuntimeError::Unsupported("this session backend has no terminal to type into"))
    }

    /// Presses `key` `times` times in the session (to move through a CLI's dialog).
    fn send_keys(
        &self,
        name: &str,
        key: crate::agentcli::screen::Key,
        times: usize,
    ) -> Result<(), RuntimeError> {
        let _ = (name, key, times);
        Err(RuntimeError::Unsupported(
            "this session backend cannot press keys; answer the dialog with `gc session attach`",
        ))
    }

    /// What the session's terminal shows now (the visible screen, without scrollback): what
    /// gc reads to tell a dialog, a busy agent and a ready one apart.
    fn screen(&self, name: &str) -> Result<String, RuntimeError> {
        self.peek(name, READY_LINES)
    }

    /// Hands the terminal to the session (inheriting stdio); blocks until the user detaches.
    fn attach(&self, name: &str) -> Result<(), RuntimeError>;

    /// Sets one metadata key of the session.
    fn set_meta(&self, name: &str, key: &str, value: &str) -> Result<(), RuntimeError>;

    /// One metadata key of the session, `None` when unset.
    fn get_meta(&self, name: &str, key: &str) -> Result<Option<String>, RuntimeError>;

    /// When the session last produced output.
    fn last_activity(&self, name: &str) -> Result<Option<SystemTime>, RuntimeError>;

    /// The session as the runtime sees it and what its terminal shows, in one observation
    /// where the backend can (`None`: no such session). What gc reads, again and again, while
    /// a session starts.
    fn look(&self, name: &str) -> Result<Option<(SessionInfo, String)>, RuntimeError> {
        let Some(info) = self.list(name)?.into_iter().find(|s| s.name == name) else {
            return Ok(None);
        };
        Ok(Some((info, self.screen(name)?)))
    }

    /// Changes several metadata keys of the session with one read of its metadata (none when
    /// the caller `known` them from a look it just took, and nothing else changes them): `edit`
    /// gets the current keys and changes them; the keys it changed are written.
    fn edit_meta(
        &self,
        name: &str,
        known: Option<&BTreeMap<String, String>>,
        edit: &mut dyn FnMut(&mut BTreeMap<String, String>),
    ) -> Result<(), RuntimeError> {
        let before = match known {
            Some(known) => known.clone(),
            None => match self.list(name)?.into_iter().find(|s| s.name == name) {
                Some(info) => info.meta,
                None => return Err(RuntimeError::NotFound(name.to_owned())),
            },
        };
        let mut meta = before.clone();
        edit(&mut meta);
        for (key, value) in &meta {
            if before.get(key) != Some(value) {
                self.set_meta(name, key, value)?;
            }
        }
        Ok(())
    }

    /// Whether [`SessionInfo::pid`] is a process on this machine, which the controller can
    /// watch to hear of its exit at once (tmux, subprocess). A backend whose sessions may run
    /// elsewhere (exec) says no and is polled.
    fn pids_are_local(&self) -> bool {
        false
    }

    /// Asks the runtime to wake `changed` whenever one of the city's sessions changes (a
    /// backend with a change feed of its own: kubernetes watches its pods). Returns whether it
    /// will; one that does not is listed often instead. Call it once.
    fn notify_changes(&self, changed: std::sync::Arc<tokio::sync::Notify>) -> bool {
        let _ = changed;
        false
    }

    /// Waits until the session is ready for input as `ready` defines. Returns `false` when
    /// `timeout` passes first or the session dies.
    fn wait_ready(
        &self,
        name: &str,
        ready: &Readiness,
        timeout: Duration,
    ) -> Result<bool, RuntimeError> {
        wait_ready_by_polling(self, name, ready, timeout)
    }
}

/// How often [`Runtime::wait_ready`] looks at the output: often enough that agents do not wait
/// noticeably, rarely enough that a city of them does not keep tmux busy.
const READY_POLL: Duration = Duration::from_millis(50);

/// How many lines of output [`Runtime::wait_ready`] searches for the prompt: the prompt of an
/// agent's TUI sits near the bottom of the screen.
const READY_LINES: usize = 100;

/// [`Runtime::wait_ready`] in terms of [`Runtime::is_running`] and [`Runtime::peek`], shared by
/// every implementation so they cannot disagree on what "ready" means.
pub fn wait_ready_by_polling<R: Runtime + ?Sized>(
    runtime: &R,
    name: &str,
    ready: &Readiness,
    timeout: Duration,
) -> Result<bool, RuntimeError> {
    validate_name(name)?;
    match ready {
        Readiness::None => runtime.is_running(name),
        Readiness::Delay(delay) => {
            if *delay > timeout {
                std::thread::sleep(timeout);
                return Ok(false);
            }
            std::thread::sleep(*delay);
            runtime.is_running(name)
        }
        Readiness::PromptPrefix(prefix) => {
            let deadline = Instant::now() + timeout;
            loop {
                if !runtime.is_running(name)? {
                    return Ok(false);
                }
                if crate::agentcli::screen::shows_prompt(&runtime.screen(name)?, prefix) {
                    return Ok(true);
                }
                let now = Instant::now();
                if now >= deadline {
                    return Ok(false);
                }
                std::thread::sleep(READY_POLL.min(deadline - now));
            }
        }
    }
}

/// Checks a session name: 1-100 characters of `[A-Za-z0-9_-]`, the first a letter or digit —
/// safe as a tmux target (no `:`, `.`, `=` or format characters) and as a file name (no `/`,
/// no leading `-` or `.`).
pub fn validate_name(name: &str) -> Result<(), RuntimeError> {
    let bytes = name.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= 100
        && bytes[0].is_ascii_alphanumeric()
        && bytes.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok { Ok(()) } else { Err(RuntimeError::InvalidName(name.to_owned())) }
}

/// Checks a metadata key: one or more of `[a-z0-9-]`.
pub fn validate_meta_key(key: &str) -> Result<(), RuntimeError> {
    let ok = !key.is_empty()
        && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok { Ok(()) } else { Err(RuntimeError::InvalidMetaKey(key.to_owned())) }
}

/// Checks everything in a [`SessionConfig`] before anything is created, so a bad config never
/// leaves half a session behind.
pub(crate) fn validate_config(config: &SessionConfig) -> Result<(), RuntimeError> {
    validate_name(&config.name)?;
    for key in config.meta.keys() {
        validate_meta_key(key)?;
    }
    let invalid = |msg: String| Err(RuntimeError::InvalidConfig(msg));
    let Some(program) = config.argv.first() else {
        return invalid("argv is empty: no program to run".to_owned());
    };
    if program.is_empty() {
        return invalid("the program (argv[0]) is empty".to_owned());
    }
    if config.argv.iter().any(|arg| arg.contains('\0')) {
        return invalid("an argument contains a NUL byte".to_owned());
    }
    for (key, value) in &config.env {
        if key.is_empty() || key.contains(['=', '\0']) || value.contains('\0') {
            return invalid(format!("environment variable `{key}`: bad name or NUL in value"));
        }
    }
    if config.work_dir.to_str().is_none() {
        return invalid(format!("work dir {} is not UTF-8", config.work_dir.display()));
    }
    if !config.work_dir.is_dir() {
        return invalid(format!("work dir {} is not a directory", config.work_dir.display()));
    }
    Ok(())
}

/// The last `lines` lines of `text`, after dropping blank lines at the end (a terminal screen
/// is padded with them).
pub(crate) fn last_lines(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().map(str::trim_end).collect();
    let end = all.iter().rposition(|line| !line.is_empty()).map_or(0, |i| i + 1);
    let start = end.saturating_sub(lines);
    let mut out = all[start..end].join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in ["a", "gc-town-mayor", "A_1-b", &"x".repeat(100)] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in ["", "-a", "_a", "a.b", "a:b", "a b", "=a", "a/b", "é", &"x".repeat(101)] {
            assert!(matches!(validate_name(bad), Err(RuntimeError::InvalidName(_))), "{bad}");
        }
    }

    #[test]
    fn meta_keys_are_checked() {
        assert!(validate_meta_key("instance-token").is_ok());
        for bad in ["", "Token", "a_b", "a b", "a.b"] {
            assert!(validate_meta_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn last_lines_skips_trailing_blank_lines() {
        assert_eq!(last_lines("a\nb\nc\n\n   \n", 2), "b\nc\n");
        assert_eq!(last_lines("a\n", 0), "");
        assert_eq!(last_lines("", 5), "");
        assert_eq!(last_lines("a  \nb", 5), "a\nb\n");
    }
}
