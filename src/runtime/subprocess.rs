//! The subprocess runtime, for hosts without tmux: each session is a process group of its own,
//! with its files in the state directory:
//!
//! - `<name>.json` — the session's state: pid and start time of its top process (so a reused
//!   pid is never mistaken for it), creation time, metadata. Written atomically; a session
//!   without it does not exist, so nobody sees a session without its metadata.
//! - `<name>.log` — stdout and stderr, appended; its mtime is the last activity.
//! - `<name>.in` — a FIFO that is the program's stdin; a nudge writes a line to it.
//! - `<name>.launch` — the launch file; `<name>.exit` — the exit status once the program ends.
//!
//! The top process is `<launcher> internal exec <name>.launch`, which runs the program, waits
//! for it and writes `<name>.exit`, so the status is known even when the process that started
//! the session is long gone. Sessions outlive the process that started them; a new runtime on
//! the same state directory finds them again.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use rustix::fs::{Mode, OFlags};
use serde::{Deserialize, Serialize};

use super::launch::{LaunchSpec, create_state_dir, write_launch_file, write_private};
use super::{
    Runtime, RuntimeError, SessionConfig, SessionInfo, last_lines, procs, validate_config,
    validate_meta_key, validate_name,
};

/// `<name>.json`: what the runtime remembers about a session.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct State {
    pid: u32,
    /// Field 22 of `/proc/<pid>/stat`: with the pid, the identity of the process.
    start_time: u64,
    /// Seconds since the Unix epoch.
    created: u64,
    meta: BTreeMap<String, String>,
}

/// Sessions as plain child processes, with output in log files.
#[derive(Debug)]
pub struct SubprocessRuntime {
    state_dir: PathBuf,
    launcher: PathBuf,
    /// Serialises read-modify-write of state files within this process.
    state_lock: Mutex<()>,
}

impl SubprocessRuntime {
    /// A runtime keeping its sessions' files in `state_dir` (created when first needed) and
    /// starting programs with `launcher internal exec FILE` (`launcher` is the `gc` binary).
    pub fn new(state_dir: PathBuf, launcher: PathBuf) -> Self {
        SubprocessRuntime { state_dir, launcher, state_lock: Mutex::new(()) }
    }

    fn path(&self, name: &str, ext: &str) -> PathBuf {
        self.state_dir.join(format!("{name}.{ext}"))
    }

    fn read_state(&self, name: &str) -> Result<Option<State>, RuntimeError> {
        let path = self.path(name, "json");
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(RuntimeError::io(format!("reading {}", path.display()))(e)),
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| RuntimeError::Io {
            what: format!("reading {}", path.display()),
            source: io::Error::new(io::ErrorKind::InvalidData, e),
        })
    }

    fn write_state(&self, name: &str, state: &State) -> Result<(), RuntimeError> {
        let json = serde_json::to_vec(state).unwrap_or_default();
        write_private(&self.path(name, "json"), &json)
    }

    fn require(&self, name: &str) -> Result<State, RuntimeError> {
        validate_name(name)?;
        self.read_state(name)?.ok_or_else(|| RuntimeError::NotFound(name.to_owned()))
    }

    fn info(&self, name: &str, state: State) -> SessionInfo {
        let alive = procs::alive(state.pid, state.start_time);
        let exit_status = if alive {
            None
        } else {
            fs::read_to_string(self.path(name, "exit")).ok().and_then(|s| s.trim().parse().ok())
        };
        SessionInfo {
            name: name.to_owned(),
            alive,
            pid: Some(state.pid),
            exit_status,
            created: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(state.created)),
            last_activity: self.log_mtime(name),
            attached: false,
            meta: state.meta,
        }
    }

    fn log_mtime(&self, name: &str) -> Option<SystemTime> {
        fs::metadata(self.path(name, "log")).and_then(|m| m.modified()).ok()
    }

    /// Removes every file of session `name` (missing files are fine).
    fn remove_files(&self, name: &str) -> Result<(), RuntimeError> {
        // The state file goes first: without it the session no longer exists for anyone.
        for ext in ["json", "in", "exit", "launch", "log"] {
            let path = self.path(name, ext);
            match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(RuntimeError::io(format!("removing {}", path.display()))(e));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn spawn(&self, config: &SessionConfig) -> Result<State, RuntimeError> {
        let name = config.name.as_str();
        let fifo = self.path(name, "in");
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, Mode::from_raw_mode(0o600))
            .map_err(|e| RuntimeError::io(format!("creating {}", fifo.display()))(e.into()))?;
        // Read-write, so opening does not wait for a writer and the program never reads EOF
        // between nudges: like a terminal, its input stays open.
        let stdin = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&fifo)
            .map_err(RuntimeError::io(format!("opening {}", fifo.display())))?;
        let log_path = self.path(name, "log");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(RuntimeError::io(format!("opening {}", log_path.display())))?;
        let log_err = log.try_clone().map_err(RuntimeError::io("duplicating the log file"))?;
        let launch_file = self.path(name, "launch");
        let spec = LaunchSpec {
            argv: config.argv.clone(),
            env: super::launch::marked_env(&config.env, &self.state_dir, name),
            work_dir: config.work_dir.clone(),
            exit_file: Some(self.path(name, "exit")),
            clean_env: config.clean_env,
        };
        write_launch_file(&launch_file, &spec)?;
        let mut child = {
            use std::os::unix::process::CommandExt;
            Command::new(&self.launcher)
                .args(["internal", "exec"])
                .arg(&launch_file)
                .current_dir(&config.work_dir)
                .stdin(Stdio::from(stdin))
                .stdout(Stdio::from(log))
                .stderr(Stdio::from(log_err))
                // Its own group: a Ctrl-C at the starter's terminal does not reach it, and stop
                // can signal the whole group, including children reparented away from the tree.
                .process_group(0)
                .spawn()
                .map_err(RuntimeError::io(format!("starting {}", self.launcher.display())))?
        };
        let pid = child.id();
        // Still our unreaped child, so /proc/<pid> exists even if it exited already.
        let start_time = procs::stat(pid).map_or(0, |s| s.start_time);
        // Reap it when it ends, so it does not linger as a zombie while this process lives;
        // when this process is gone, init reaps it instead.
        std::thread::spawn(move || child.wait());
        let created =
            SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Ok(State { pid, start_time, created, meta: config.meta.clone() })
    }
}

impl Runtime for SubprocessRuntime {
    fn start(&self, config: &SessionConfig) -> Result<(), RuntimeError> {
        validate_config(config)?;
        let name = config.name.as_str();
        let _guard = self.state_lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(state) = self.read_state(name)?
            && procs::alive(state.pid, state.start_time)
        {
            return Err(RuntimeError::Exists(name.to_owned()));
        }
        // A dead session (or debris of a failed start) is replaced.
        self.remove_files(name)?;
        create_state_dir(&self.state_dir)?;
        let state = match self.spawn(config) {
            Ok(state) => state,
            Err(e) => {
                let _ = self.remove_files(name);
                return Err(e);
            }
        };
        self.write_state(name, &state)
    }

    fn pids_are_local(&self) -> bool {
        true
    }

    fn stop(&self, name: &str, grace: Duration) -> Result<(), RuntimeError> {
        validate_name(name)?;
        // Whatever kept the session's mark (a daemon that left the tree and the group, also
        // after the program exited); the launcher leads its own process group.
        let mut roots = procs::marked(&super::launch::mark(&self.state_dir, name));
        let mut groups = Vec::new();
        if let Some(state) = self.read_state(name)?
            && procs::alive(state.pid, state.start_time)
        {
            roots.push(state.pid);
            groups.push(state.pid);
        }
        if !roots.is_empty() {
            procs::terminate(&roots, &groups, grace);
        }
        let _guard = self.state_lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.remove_files(name)
    }

    fn is_running(&self, name: &str) -> Result<bool, RuntimeError> {
        validate_name(name)?;
        Ok(self.read_state(name)?.is_some_and(|s| procs::alive(s.pid, s.start_time)))
    }

    fn list(&self, prefix: &str) -> Result<Vec<SessionInfo>, RuntimeError> {
        let entries = match fs::read_dir(&self.state_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(RuntimeError::io(format!("reading {}", self.state_dir.display()))(e));
            }
        };
        let mut sessions = Vec::new();
        for entry in entries {
            let entry = entry.map_err(RuntimeError::io("reading the state directory"))?;
            let file_name = entry.file_name();
            let Some(name) = file_name.to_str().and_then(|f| f.strip_suffix(".json")) else {
                continue;
            };
            if !name.starts_with(prefix) || validate_name(name).is_err() {
                continue;
            }
            // Removed by a concurrent stop since the directory was read: gone, not an error.
            if let Some(state) = self.read_state(name)? {
                sessions.push(self.info(name, state));
            }
        }
        sessions.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(sessions)
    }

    fn peek(&self, name: &str, lines: usize) -> Result<String, RuntimeError> {
        self.require(name)?;
        let path = self.path(name, "log");
        let text =
            tail(&path, lines).map_err(RuntimeError::io(format!("reading {}", path.display())))?;
        Ok(last_lines(&text, lines))
    }

    fn nudge(&self, name: &str, text: &str) -> Result<(), RuntimeError> {
        let state = self.require(name)?;
        if !procs::alive(state.pid, state.start_time) {
            return Err(RuntimeError::NotRunning(name.to_owned()));
        }
        let fifo = self.path(name, "in");
        // Non-blocking: a program that stopped reading must not hang the controller.
        let fd = rustix::fs::open(
            &fifo,
            OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| RuntimeError::io(format!("opening {}", fifo.display()))(e.into()))?;
        let mut line = text.as_bytes().to_vec();
        line.push(b'\n');
        File::from(fd).write_all(&line).map_err(RuntimeError::io(format!(
            "writing to {} (is its input full?)",
            fifo.display()
        )))
    }

    fn attach(&self, name: &str) -> Result<(), RuntimeError> {
        self.require(name)?;
        Err(RuntimeError::Unsupported(
            "the subprocess runtime has no terminal to attach to: use `gc session peek` to \
             see its output and `gc session nudge` to send it input",
        ))
    }

    fn set_meta(&self, name: &str, key: &str, value: &str) -> Result<(), RuntimeError> {
        validate_meta_key(key)?;
        let _guard = self.state_lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut state = self.require(name)?;
        state.meta.insert(key.to_owned(), value.to_owned());
        self.write_state(name, &state)
    }

    fn get_meta(&self, name: &str, key: &str) -> Result<Option<String>, RuntimeError> {
        validate_meta_key(key)?;
        Ok(self.require(name)?.meta.remove(key))
    }

    fn last_activity(&self, name: &str) -> Result<Option<SystemTime>, RuntimeError> {
        self.require(name)?;
        Ok(self.log_mtime(name))
    }
}

/// At least the last `lines` lines of the file at `path` (more when cheap), read backwards in
/// chunks so a long log is not read whole. A missing file is empty.
fn tail(path: &Path, lines: usize) -> io::Result<String> {
    const CHUNK: u64 = 16 * 1024;
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(String::new()),
        Err(e) => return Err(e),
    };
    let len = file.seek(SeekFrom::End(0))?;
    let mut start = len;
    let mut buf: Vec<u8> = Vec::new();
    // One more newline than lines: the text may end with one.
    while start > 0 && buf.iter().filter(|&&b| b == b'\n').count() <= lines {
        let from = start.saturating_sub(CHUNK);
        let mut chunk = vec![0; (start - from) as usize];
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&buf);
        buf = chunk;
        start = from;
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}
