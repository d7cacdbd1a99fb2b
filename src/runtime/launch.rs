//! Launch files: how a session's program, arguments and environment reach it without passing
//! through a shell or a tmux command line (agent prompts are far longer than tmux accepts, and
//! untrusted text must never be parsed by a shell).
//!
//! A runtime writes a [`LaunchSpec`] as JSON (mode 0600) and starts the fixed command
//! `gc internal exec FILE`, which calls [`exec_from_file`].

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::RuntimeError;

/// What `gc internal exec` runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchSpec {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Environment variables added to the inherited environment (or, with `clean_env`, the
    /// whole environment bar the terminal's).
    pub env: BTreeMap<String, String>,
    /// Whether the program gets `env` only, plus the terminal's `TERM` and `COLORTERM`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub clean_env: bool,
    /// Directory to run in.
    pub work_dir: PathBuf,
    /// When set, the launcher runs the program as its child, waits for it, and writes its exit
    /// status (decimal; 128 + signal number for a signal) to this file — so the status is known
    /// even after whoever started the session has gone, and even when tmux loses it (tmux 3.3
    /// sometimes reports a pane dead without ever learning its status). When unset, the
    /// launcher replaces itself with the program (`exec`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_file: Option<PathBuf>,
}

/// Writes `contents` to `path` atomically (temp file + rename) with mode 0600: launch and state
/// files may hold secrets from the environment, and a reader must never see half a file.
pub(crate) fn write_private(path: &Path, contents: &[u8]) -> Result<(), RuntimeError> {
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{file_name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let what = || format!("writing {}", path.display());
    let result = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        file.write_all(contents)?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(RuntimeError::io(what()))
}

/// Creates the state directory of a runtime, private to the user (launch files hold the
/// sessions' environments).
pub(crate) fn create_state_dir(dir: &Path) -> Result<(), RuntimeError> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(RuntimeError::io(format!("creating {}", dir.display())))
}

/// Writes `spec` to `path` (mode 0600, atomically).
pub fn write_launch_file(path: &Path, spec: &LaunchSpec) -> Result<(), RuntimeError> {
    let json = serde_json::to_vec(spec).map_err(|e| RuntimeError::Io {
        what: format!("encoding {}", path.display()),
        source: e.into(),
    })?;
    write_private(path, &json)
}

/// Runs the launch file at `path`: `gc internal exec [--consume] FILE`; with `consume` the
/// file is removed once read. Never returns. On any failure it prints what went wrong to
/// stderr (which the session's output shows) and exits 127, the shell's status for "command
/// not found or not runnable".
pub fn exec_from_file(path: &Path, consume: bool) -> ! {
    match run(path, consume) {
        Ok(code) => std::process::exit(code),
        Err(message) => {
            eprintln!("gc internal exec: {message}");
            std::process::exit(127)
        }
    }
}

fn run(path: &Path, consume: bool) -> Result<i32, String> {
    let text =
        fs::read(path).map_err(|e| format!("cannot read launch file {}: {e}", path.display()))?;
    if consume {
        let _ = fs::remove_file(path);
    }
    let spec: LaunchSpec = serde_json::from_slice(&text)
        .map_err(|e| format!("launch file {} is not valid: {e}", path.display()))?;
    let (program, args) =
        spec.argv.split_first().ok_or_else(|| "launch file has an empty argv".to_owned())?;
    let mut command = Command::new(program);
    if spec.clean_env {
        command.env_clear();
        for name in crate::agentcli::env::TERMINAL {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
    }
    command.args(args).envs(&spec.env).current_dir(&spec.work_dir);
    if let Some(bin) = spec.env.get(BIN_DIR_ENV).filter(|d| !d.is_empty()) {
        match install_shims(Path::new(bin)) {
            Ok(()) => {
                let base = spec.env.get("PATH").map(std::ffi::OsString::from);
                command.env("PATH", with_path_first(Path::new(bin), base));
            }
            Err(e) => eprintln!("gc internal exec: cannot install `bd` and `gc` in {bin}: {e}"),
        }
    }
    let Some(exit_file) = &spec.exit_file else {
        let err = command.exec();
        return Err(format!("cannot run `{program}` in {}: {err}", spec.work_dir.display()));
    };
    let status = command
        .spawn()
        .inspect(|_| ignore_terminal_signals())
        .and_then(|mut child| child.wait())
        .map_err(|e| format!("cannot run `{program}` in {}: {e}", spec.work_dir.display()));
    let code = match &status {
        Ok(status) => status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
        Err(_) => 127,
    };
    // Written even when the program could not start, so the session reads as exited with 127.
    if let Err(e) = write_private(exit_file, code.to_string().as_bytes()) {
        eprintln!("gc internal exec: {e}");
    }
    status.map(|_| code)
}

/// Environment variable every session's program gets, naming its session uniquely (the
/// runtime's state directory and the session's name): stopping a session also stops the
/// processes that escaped its process tree and group but kept this variable.
pub const MARK_ENV: &str = "GC_SESSION_MARK";

/// The [`MARK_ENV`] entry (`NAME=value`) of session `name` of the runtime with `state_dir`.
pub(crate) fn mark(state_dir: &Path, name: &str) -> String {
    format!("{MARK_ENV}={}", state_dir.join(name).display())
}

/// `env` with the [`MARK_ENV`] of session `name` added.
pub(crate) fn marked_env(
    env: &BTreeMap<String, String>,
    state_dir: &Path,
    name: &str,
) -> BTreeMap<String, String> {
    let mut env = env.clone();
    let entry = mark(state_dir, name);
    let (key, value) = entry.split_once('=').unwrap_or_default();
    env.insert(key.to_owned(), value.to_owned());
    env
}

/// Environment variable naming a directory where the launcher puts `bd` and `gc` (links to
/// this gc) and which it puts first on the program's PATH, so agents' `bd ready` and
/// `gc hook` work with nothing installed. Left unset when the City uses a real `bd`.
pub const BIN_DIR_ENV: &str = "GC_BIN";

/// Links `bd` and `gc` in `dir` to the running gc (replacing stale links).
fn install_shims(dir: &Path) -> std::io::Result<()> {
    let exe = std::env::current_exe()?;
    fs::create_dir_all(dir)?;
    for name in ["bd", "gc"] {
        let link = dir.join(name);
        if fs::read_link(&link).ok().as_deref() == Some(exe.as_path()) {
            continue;
        }
        // A unique temporary name, then rename: sessions starting together do not race.
        let temp = dir.join(format!(".{name}.{}", std::process::id()));
        let _ = fs::remove_file(&temp);
        std::os::unix::fs::symlink(&exe, &temp)?;
        fs::rename(&temp, &link)?;
    }
    Ok(())
}

/// `base` (the session's own PATH, else the launcher's) with `dir` first.
fn with_path_first(dir: &Path, base: Option<std::ffi::OsString>) -> std::ffi::OsString {
    let rest = base.or_else(|| std::env::var_os("PATH")).unwrap_or_default();
    let mut paths = vec![dir.to_path_buf()];
    paths.extend(std::env::split_paths(&rest).filter(|p| p != dir));
    std::env::join_paths(paths).unwrap_or(rest)
}

/// Makes the launcher immune to the signals a terminal sends its whole foreground group
/// (Ctrl-C, Ctrl-\\): they are meant for the program, which may well survive them (an agent
/// interrupts its current step on Ctrl-C), and the launcher must live on to record its exit.
/// Called only after the program was spawned, so the program keeps the default dispositions.
fn ignore_terminal_signals() {
    for signal in [libc::SIGINT, libc::SIGQUIT] {
        // SAFETY: setting a signal to SIG_IGN installs no handler code; it cannot violate
        // memory safety and has no async-signal-safety requirements.
        unsafe {
            libc::signal(signal, libc::SIG_IGN);
        }
    }
}
