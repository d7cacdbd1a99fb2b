//! The tmux runtime (the default): one tmux server per city on its own socket (`tmux -L`),
//! one session per agent, dead panes kept for forensics (`remain-on-exit`).
//!
//! Every tmux call is a `std::process::Command` with separate arguments; nothing goes through
//! a shell. The program, its arguments and environment are not on the tmux command line
//! either (a prompt easily exceeds tmux's message size): they are in a launch file run by
//! `<launcher> internal exec FILE` (see [`super::launch`]), which also records the program's
//! exit status in `<name>.exit` (tmux 3.3 occasionally reports a pane dead without ever
//! learning its status; the file fills that gap). Session metadata is one tmux user
//! option, `@gc-meta`, holding hex-encoded JSON, so one `list-panes -a` reads every session with
//! all its metadata, and no format or shell character in a value can ever be interpreted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::launch::{LaunchSpec, create_state_dir, write_launch_file};
use super::{
    Runtime, RuntimeError, SessionConfig, SessionInfo, last_lines, procs, validate_config,
    validate_meta_key, validate_name,
};

/// The tmux user option holding a session's metadata.
const META_OPTION: &str = "@gc-meta";

/// Everything [`TmuxRuntime::list`] reads, in one `list-panes -a` call. Tab-separated: session
/// names cannot contain tabs, hex-encoded metadata neither.
const LIST_FORMAT: &str = "#{session_name}\t#{pane_pid}\t#{pane_dead}\t#{pane_dead_status}\t\
                           #{pane_dead_signal}\t#{session_created}\t#{window_activity}\t\
                           #{session_attached}\t#{@gc-meta}";

/// Pause between typing a nudge and pressing Enter: agent TUIs treat an Enter arriving in the
/// same burst as the text as part of a paste (a newline), not as "submit".
const DEFAULT_NUDGE_DELAY: Duration = Duration::from_millis(500);

/// Largest piece of nudge text sent in one tmux call; tmux refuses messages over 16 KiB.
const NUDGE_CHUNK: usize = 8 * 1024;

/// `tmux -u -L socket`, for a server of its own.
fn server_command(socket: &str) -> Command {
    let mut command = Command::new("tmux");
    command.args(["-u", "-L", socket]);
    // A caller inside another tmux must not make this one think it is nested.
    command.env_remove("TMUX");
    command
}

/// Several tmux commands for the server on `socket` as one invocation (one round trip, run by
/// the server without interleaving other clients' commands), every argument read literally.
pub(crate) fn chain_command(socket: &str, commands: &[&[&str]]) -> Command {
    let mut command = server_command(socket);
    for (i, args) in commands.iter().enumerate() {
        if i > 0 {
            command.arg(";");
        }
        for arg in *args {
            command.arg(literal(arg).as_ref());
        }
    }
    command
}

/// `text` in pieces small enough for one `send-keys` each, cut between characters.
pub(crate) fn text_chunks(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut cut = rest.len().min(NUDGE_CHUNK);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (chunk, tail) = rest.split_at(cut);
        rest = tail;
        Some(chunk)
    })
}

/// Sessions in tmux, on a private server per city.
#[derive(Debug)]
pub struct TmuxRuntime {
    socket: String,
    launcher: PathBuf,
    state_dir: PathBuf,
    nudge_delay: Duration,
    /// Serialises read-modify-write of `@gc-meta` within this process.
    meta_lock: Mutex<()>,
}

impl TmuxRuntime {
    /// A runtime on the tmux server `tmux -L socket`, starting programs with
    /// `launcher internal exec FILE` (`launcher` is the `gc` binary), launch files kept in
    /// `state_dir` (e.g. `<city>/.gc/sessions/`, created when first needed).
    pub fn new(socket: String, launcher: PathBuf, state_dir: PathBuf) -> Self {
        TmuxRuntime {
            socket,
            launcher,
            state_dir,
            nudge_delay: DEFAULT_NUDGE_DELAY,
            meta_lock: Mutex::new(()),
        }
    }

    /// Sets the pause between a nudge's text and its Enter (default 500 ms; tests use less).
    pub fn with_nudge_delay(mut self, delay: Duration) -> Self {
        self.nudge_delay = delay;
        self
    }

    /// The socket name of this runtime's tmux server.
    pub fn socket(&self) -> &str {
        &self.socket
    }

    /// Kills the whole tmux server of this city (every session on it). A server that is not
    /// running is `Ok`.
    ///
    /// **Warning:** this does not stop process trees gracefully as [`Runtime::stop`] does;
    /// programs get SIGHUP from their terminal closing. Use it for tests and as the last step
    /// of `gc stop`.
    pub fn kill_server(&self) -> Result<(), RuntimeError> {
        self.run_allow_missing(&["kill-server"]).map(drop)
    }

    fn command(&self) -> Command {
        server_command(&self.socket)
    }

    fn output(&self, args: &[&str]) -> Result<Output, RuntimeError> {
        let mut command = self.command();
        for arg in args {
            command.arg(literal(arg).as_ref());
        }
        command.output().map_err(RuntimeError::io(format!(
            "running tmux {} (is tmux installed?)",
            args.first().copied().unwrap_or("")
        )))
    }

    /// Runs several tmux commands in one invocation (one server round trip, run by the server
    /// without interleaving other clients' commands).
    fn run_chain(&self, commands: &[&[&str]]) -> Result<String, RuntimeError> {
        let output = chain_command(&self.socket, commands)
            .output()
            .map_err(RuntimeError::io("running tmux (is tmux installed?)"))?;
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        let all: Vec<&str> = commands.join(&";");
        Err(self.command_error(&all, &output))
    }

    /// [`TmuxRuntime::run_chain`], with "no server" or "no such session" as `Ok(None)`.
    fn run_chain_allow_missing(
        &self,
        commands: &[&[&str]],
    ) -> Result<Option<String>, RuntimeError> {
        match self.run_chain(commands) {
            Ok(out) => Ok(Some(out)),
            Err(RuntimeError::Command { stderr, .. }) if is_missing(&stderr) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Runs tmux; a failure is an error.
    fn run(&self, args: &[&str]) -> Result<String, RuntimeError> {
        let output = self.output(args)?;
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        Err(self.command_error(args, &output))
    }

    /// Runs tmux; "no server" or "no such session" is `Ok(None)`, other failures are errors.
    fn run_allow_missing(&self, args: &[&str]) -> Result<Option<String>, RuntimeError> {
        let output = self.output(args)?;
        if output.status.success() {
            return Ok(Some(String::from_utf8_lossy(&output.stdout).into_owned()));
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        if is_missing(&stderr) {
            return Ok(None);
        }
        Err(self.command_error(args, &output))
    }

    fn command_error(&self, args: &[&str], output: &Output) -> RuntimeError {
        // Nudge text can be long; the error names the command, not the whole payload.
        let shown: Vec<&str> = args.iter().map(|a| if a.len() > 80 { "…" } else { *a }).collect();
        RuntimeError::Command {
            cmd: format!("tmux -L {} {}", self.socket, shown.join(" ")),
            status: output.status.code(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        }
    }

    /// The session `name` as tmux sees it now, `None` when there is none.
    fn info(&self, name: &str) -> Result<Option<SessionInfo>, RuntimeError> {
        validate_name(name)?;
        let target = target(name);
        let Some(out) =
            self.run_allow_missing(&["list-panes", "-s", "-t", &target, "-F", LIST_FORMAT])?
        else {
            return Ok(None);
        };
        let info = parse_list(&out).into_iter().find(|info| info.name == name);
        Ok(info.map(|info| self.with_exit_status(info)))
    }

    fn require(&self, name: &str) -> Result<SessionInfo, RuntimeError> {
        self.info(name)?.ok_or_else(|| RuntimeError::NotFound(name.to_owned()))
    }

    /// A new launch file for one start of session `name`.
    fn launch_file(&self, name: &str) -> PathBuf {
        self.state_dir.join(format!("{name}.{}.launch", uuid::Uuid::new_v4().simple()))
    }

    /// Where the launcher records the program's exit status.
    fn exit_file(&self, name: &str) -> PathBuf {
        self.state_dir.join(format!("{name}.exit"))
    }

    /// Removes the launch and exit files of session `name` (missing ones are fine).
    fn remove_files(&self, name: &str) -> Result<(), RuntimeError> {
        // `<name>.launch` is where builds before per-start launch files kept it.
        let legacy_launch = self.state_dir.join(format!("{name}.launch"));
        for path in [legacy_launch, self.exit_file(name)] {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(RuntimeError::io(format!("removing {}", path.display()))(e));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Fills in the exit status of dead sessions from the launcher's exit file when tmux did
    /// not learn it.
    fn with_exit_status(&self, mut info: SessionInfo) -> SessionInfo {
        if !info.alive && info.exit_status.is_none() {
            info.exit_status = std::fs::read_to_string(self.exit_file(&info.name))
                .ok()
                .and_then(|text| text.trim().parse().ok());
        }
        info
    }

    fn write_meta(&self, name: &str, meta: &BTreeMap<String, String>) -> Result<(), RuntimeError> {
        let target = pane_target(name);
        self.run(&["set-option", "-t", &target, META_OPTION, &encode_meta(meta)]).map(drop)
    }
}

/// An exact-match session target: a bare name would also match a session whose name merely
/// starts with it.
fn target(name: &str) -> String {
    format!("={name}")
}

/// An exact-match target for the current pane of session `name`, for commands whose target is
/// a pane (`capture-pane`, `send-keys`, `set-option`): there `=name` alone does not resolve.
fn pane_target(name: &str) -> String {
    format!("={name}:")
}

/// An argument as tmux must receive it to read it literally: tmux takes an argument ending in
/// `;` as the end of a command (so `tmux a \; b` works), and reads a final `\;` as a literal
/// `;`. Nudge text or a directory ending in `;` would otherwise lose it and split the command.
pub(crate) fn literal(arg: &str) -> std::borrow::Cow<'_, str> {
    match arg.strip_suffix(';') {
        Some(head) => format!("{head}\\;").into(),
        None => arg.into(),
    }
}

/// tmux's wording for "there is nothing there": no server on the socket, or no such session.
pub(crate) fn is_missing(stderr: &str) -> bool {
    stderr.contains("no server running")
        || stderr.contains("error connecting to")
        // `kill-server` returns before the server is gone; a client that connects meanwhile
        // hears this.
        || stderr.contains("server exited unexpectedly")
        || stderr.contains("can't find session")
        || stderr.contains("session not found")
        || stderr.contains("can't find pane")
        || stderr.contains("can't find window")
        // A server with no sessions left, about to exit.
        || stderr.contains("no current target")
}

/// Metadata as the value of `@gc-meta`: JSON, hex-encoded so that tmux formats, tabs and
/// newlines in values are inert.
fn encode_meta(meta: &BTreeMap<String, String>) -> String {
    let json = serde_json::to_string(meta).unwrap_or_default();
    json.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The inverse of [`encode_meta`]; anything unreadable (set by hand?) reads as no metadata.
fn decode_meta(hex: &str) -> BTreeMap<String, String> {
    let hex = hex.trim();
    if hex.is_empty() || !hex.len().is_multiple_of(2) {
        return BTreeMap::new();
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| hex.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect();
    bytes.and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}

fn epoch(text: &str) -> Option<SystemTime> {
    let secs: u64 = text.trim().parse().ok()?;
    (secs > 0).then(|| UNIX_EPOCH + Duration::from_secs(secs))
}

/// Parses [`LIST_FORMAT`] lines into sessions, one per session name (a session with several
/// panes — a user split it — is alive when any pane is).
fn parse_list(out: &str) -> Vec<SessionInfo> {
    let mut sessions: BTreeMap<String, SessionInfo> = BTreeMap::new();
    for line in out.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        let [name, pid, dead, status, signal, created, activity, attached, meta] = fields[..]
        else {
            continue;
        };
        let alive = dead != "1";
        let exit_status = if alive {
            None
        } else {
            status.parse().ok().or_else(|| signal.parse::<i32>().ok().map(|s| 128 + s))
        };
        let pane = SessionInfo {
            name: name.to_owned(),
            alive,
            pid: pid.parse().ok(),
            exit_status,
            created: epoch(created),
            last_activity: epoch(activity),
            attached: attached.parse::<u32>().is_ok_and(|n| n > 0),
            meta: decode_meta(meta),
        };
        match sessions.get_mut(name) {
            Some(existing) if !existing.alive && pane.alive => *existing = pane,
            Some(_) => {}
            None => {
                sessions.insert(name.to_owned(), pane);
            }
        }
    }
    sessions.into_values().collect()
}

/// A directory for tmux's `-c`, which expands formats (`#{…}`, and `#(…)` runs a shell
/// command): `##` is a literal `#`.
fn escape_format(text: &str) -> String {
    text.replace('#', "##")
}

impl Runtime for TmuxRuntime {
    fn start(&self, config: &SessionConfig) -> Result<(), RuntimeError> {
        validate_config(config)?;
        let name = config.name.as_str();
        create_state_dir(&self.state_dir)?;
        // The exit status of a previous incarnation must not be taken for this one's (a live
        // session has none yet, so this cannot touch one).
        self.remove_files(name)?;
        // A launch file of this start's own, consumed by the launcher: a start refused because
        // the name is taken must not touch the file a live session may be reading right now.
        let launch_file = self.launch_file(name);
        let spec = LaunchSpec {
            argv: config.argv.clone(),
            env: super::launch::marked_env(&config.env, &self.state_dir, name),
            work_dir: config.work_dir.clone(),
            exit_file: Some(self.exit_file(name)),
            clean_env: config.clean_env,
        };
        write_launch_file(&launch_file, &spec)?;
        let work_dir = escape_format(config.work_dir.to_str().unwrap_or("."));
        let launcher = self.launcher.to_str().ok_or_else(|| {
            RuntimeError::InvalidConfig(format!(
                "launcher {} is not UTF-8",
                self.launcher.display()
            ))
        })?;
        let launch_file = launch_file.to_str().ok_or_else(|| {
            RuntimeError::InvalidConfig(format!(
                "state dir {} is not UTF-8",
                self.state_dir.display()
            ))
        })?;
        let pane = pane_target(name);
        let meta = encode_meta(&config.meta);
        // One tmux invocation: the server runs the whole list before it handles the program's
        // exit or another client's command, so nobody sees the session without remain-on-exit
        // or without its metadata. Several arguments after the session options are exec'd
        // directly by tmux, never through a shell.
        #[rustfmt::skip]
        let new_session: &[&str] = &[
            "new-session", "-d", "-s", name, "-c", &work_dir, "-x", "200", "-y", "50",
            launcher, "internal", "exec", "--consume", launch_file,
        ];
        let session = target(name);
        let kill_dead: &[&str] = &["kill-session", "-t", &session];
        let chain: &[&[&str]] = &[
            kill_dead,
            new_session,
            &["set-option", "-t", &pane, "remain-on-exit", "on"],
            &["set-option", "-t", &pane, META_OPTION, &meta],
        ];
        // Usually there is no such session (the caller looked): start it straight away, and
        // look only when tmux says the name is taken.
        let started = match self.run_chain(&chain[1..]) {
            Err(RuntimeError::Command { stderr, .. }) if stderr.contains("duplicate session") => {
                match self.info(name) {
                    Ok(Some(info)) if info.alive => Err(RuntimeError::Exists(name.to_owned())),
                    // A dead pane kept for forensics: replaced in the same invocation as the
                    // start. Killed alone, the city's last session would take the server with
                    // it, and the start would race the exiting server ("server exited
                    // unexpectedly").
                    Ok(Some(_)) => self.run_chain(chain).map(drop),
                    Ok(None) => self.run_chain(&chain[1..]).map(drop),
                    Err(e) => Err(e),
                }
            }
            other => other.map(drop),
        };
        if started.is_err() {
            let _ = std::fs::remove_file(launch_file);
        }
        started
    }

    fn pids_are_local(&self) -> bool {
        true
    }

    fn stop(&self, name: &str, grace: Duration) -> Result<(), RuntimeError> {
        validate_name(name)?;
        // What kept the session's mark: also processes that left its tree and group (a
        // daemon the CLI started), and those that outlived a program that already exited.
        let mut roots = procs::marked(&super::launch::mark(&self.state_dir, name));
        let mut groups = Vec::new();
        if let Some(info) = self.info(name)?
            && info.alive
            && let Some(pid) = info.pid
        {
            // tmux makes the pane process a session and group leader: the group catches
            // children that left the tree (their parent died) but not the group.
            roots.push(pid);
            groups.push(pid);
        }
        if !roots.is_empty() {
            procs::terminate(&roots, &groups, grace);
        }
        self.run_allow_missing(&["kill-session", "-t", &target(name)])?;
        self.remove_files(name)
    }

    fn is_running(&self, name: &str) -> Result<bool, RuntimeError> {
        Ok(self.info(name)?.is_some_and(|info| info.alive))
    }

    fn list(&self, prefix: &str) -> Result<Vec<SessionInfo>, RuntimeError> {
        let out = self.run_allow_missing(&["list-panes", "-a", "-F", LIST_FORMAT])?;
        let mut sessions = parse_list(out.as_deref().unwrap_or(""));
        sessions.retain(|info| info.name.starts_with(prefix));
        Ok(sessions.into_iter().map(|info| self.with_exit_status(info)).collect())
    }

    fn peek(&self, name: &str, lines: usize) -> Result<String, RuntimeError> {
        validate_name(name)?;
        // Blank screen rows below the output count as lines for tmux: ask for the screen plus
        // `lines` of history, then keep the last `lines` non-blank-tail lines.
        let start = format!("-{lines}");
        let out = self
            .run_allow_missing(&[
                "capture-pane",
                "-p",
                "-J",
                "-t",
                &pane_target(name),
                "-S",
                &start,
            ])?
            .ok_or_else(|| RuntimeError::NotFound(name.to_owned()))?;
        Ok(last_lines(&out, lines))
    }

    fn nudge(&self, name: &str, text: &str) -> Result<(), RuntimeError> {
        self.type_text(name, text)?;
        if !text.is_empty() && !self.nudge_delay.is_zero() {
            std::thread::sleep(self.nudge_delay);
        }
        self.run(&["send-keys", "-t", &pane_target(name), "Enter"]).map(drop)
    }

    fn type_text(&self, name: &str, text: &str) -> Result<(), RuntimeError> {
        if !self.require(name)?.alive {
            return Err(RuntimeError::NotRunning(name.to_owned()));
        }
        let target = pane_target(name);
        for chunk in text_chunks(text) {
            self.run(&["send-keys", "-t", &target, "-l", "--", chunk])?;
        }
        Ok(())
    }

    fn send_keys(
        &self,
        name: &str,
        key: crate::agentcli::screen::Key,
        times: usize,
    ) -> Result<(), RuntimeError> {
        if !self.require(name)?.alive {
            return Err(RuntimeError::NotRunning(name.to_owned()));
        }
        let target = pane_target(name);
        let times = times.to_string();
        // `-N` repeats the key; a named key is never typed as text.
        self.run(&["send-keys", "-t", &target, "-N", &times, key.tmux_name()]).map(drop)
    }

    fn screen(&self, name: &str) -> Result<String, RuntimeError> {
        validate_name(name)?;
        self.run_allow_missing(&["capture-pane", "-p", "-J", "-t", &pane_target(name)])?
            .ok_or_else(|| RuntimeError::NotFound(name.to_owned()))
    }

    fn attach(&self, name: &str) -> Result<(), RuntimeError> {
        self.require(name)?;
        let args = ["attach-session", "-t", &target(name)];
        let status = Command::new("tmux")
            .args(["-u", "-L", &self.socket])
            .args(args)
            .status()
            .map_err(RuntimeError::io("running tmux attach-session (is tmux installed?)"))?;
        if status.success() {
            return Ok(());
        }
        Err(RuntimeError::Command {
            cmd: format!("tmux -L {} {}", self.socket, args.join(" ")),
            status: status.code(),
            stderr: String::new(),
        })
    }

    fn set_meta(&self, name: &str, key: &str, value: &str) -> Result<(), RuntimeError> {
        validate_meta_key(key)?;
        let _guard = self.meta_lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut meta = self.require(name)?.meta;
        meta.insert(key.to_owned(), value.to_owned());
        self.write_meta(name, &meta)
    }

    fn get_meta(&self, name: &str, key: &str) -> Result<Option<String>, RuntimeError> {
        validate_meta_key(key)?;
        Ok(self.require(name)?.meta.remove(key))
    }

    fn last_activity(&self, name: &str) -> Result<Option<SystemTime>, RuntimeError> {
        Ok(self.require(name)?.last_activity)
    }

    fn look(&self, name: &str) -> Result<Option<(SessionInfo, String)>, RuntimeError> {
        validate_name(name)?;
        let pane = pane_target(name);
        // One invocation: the pane's line (display prints exactly one, also for a session a
        // person split), then its screen.
        let chain: &[&[&str]] = &[
            &["display-message", "-p", "-t", &pane, LIST_FORMAT],
            &["capture-pane", "-p", "-J", "-t", &pane],
        ];
        let Some(out) = self.run_chain_allow_missing(chain)? else { return Ok(None) };
        let (line, screen) = out.split_once('\n').unwrap_or((&out, ""));
        let Some(info) = parse_list(line).into_iter().find(|info| info.name == name) else {
            return Ok(None);
        };
        Ok(Some((self.with_exit_status(info), screen.to_owned())))
    }

    fn edit_meta(
        &self,
        name: &str,
        known: Option<&BTreeMap<String, String>>,
        edit: &mut dyn FnMut(&mut BTreeMap<String, String>),
    ) -> Result<(), RuntimeError> {
        let _guard = self.meta_lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        validate_name(name)?;
        let before = match known {
            Some(known) => known.clone(),
            None => self.require(name)?.meta,
        };
        let mut meta = before.clone();
        edit(&mut meta);
        for key in meta.keys() {
            validate_meta_key(key)?;
        }
        if meta == before {
            return Ok(());
        }
        self.write_meta(name, &meta)
    }
}

/// Where a city's tmux launch files go by default: `<city>/.gc/sessions/`.
pub fn default_state_dir(city_dir: &Path) -> PathBuf {
    city_dir.join(".gc").join("sessions")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_cut_for_tmux_between_characters_and_nothing_is_lost() {
        let text = format!("{}é{}", "a".repeat(NUDGE_CHUNK - 1), "b".repeat(NUDGE_CHUNK + 3));
        let chunks: Vec<&str> = text_chunks(&text).collect();
        assert!(chunks.iter().all(|c| c.len() <= NUDGE_CHUNK && !c.is_empty()));
        assert_eq!(chunks.concat(), text);
        assert_eq!(chunks[0].len(), NUDGE_CHUNK - 1, "the é is not split");
        assert_eq!(text_chunks("").count(), 0);
    }

    #[test]
    fn meta_round_trips_through_hex() {
        let meta = BTreeMap::from([
            ("token".to_owned(), "a\tb\n#{pane_pid}#(rm -rf /)'\"".to_owned()),
            ("generation".to_owned(), "3".to_owned()),
        ]);
        let encoded = encode_meta(&meta);
        assert!(encoded.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(decode_meta(&encoded), meta);
        assert!(decode_meta("zz").is_empty());
        assert!(decode_meta("abc").is_empty());
        assert!(decode_meta("").is_empty());
    }

    #[test]
    fn list_output_is_parsed() {
        let meta = encode_meta(&BTreeMap::from([("k".to_owned(), "v".to_owned())]));
        let out = format!(
            "b\t20\t1\t3\t\t1700000000\t1700000001\t0\t\n\
             a\t10\t0\t\t\t1700000000\t1700000002\t1\t{meta}\n\
             c\t30\t1\t\t15\t0\t0\t0\t\n\
             garbage line\n"
        );
        let list = parse_list(&out);
        let names: Vec<&str> = list.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert!(list[0].alive && list[0].pid == Some(10) && list[0].meta["k"] == "v");
        assert!(list[0].attached && !list[1].attached);
        assert_eq!((list[1].alive, list[1].exit_status), (false, Some(3)));
        assert_eq!(list[2].exit_status, Some(128 + 15));
        assert_eq!(list[2].created, None);
    }

    #[test]
    fn final_semicolons_are_escaped() {
        assert_eq!(literal("a ;"), "a \\;");
        assert_eq!(literal(";"), "\\;");
        assert_eq!(literal("a\\;"), "a\\\\;");
        assert_eq!(literal("a; b"), "a; b");
    }

    #[test]
    fn formats_in_work_dirs_are_escaped() {
        assert_eq!(escape_format("/tmp/#(touch x)/#{a}"), "/tmp/##(touch x)/##{a}");
    }
}
