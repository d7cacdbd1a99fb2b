//! `gc internal pod-session`: the entrypoint of a session pod's container (see
//! [`super::kubernetes`]). It starts the session's program in a tmux session on a private
//! server inside the pod — so that `exec` can peek at it, type into it and attach to it —,
//! waits until the program exits, prints its last screen (the pod's log then shows it) and
//! exits with the program's status, so the pod's terminated state is the session's.
//!
//! The program runs through a launch file and `gc internal exec` as under the tmux runtime
//! (see [`super::launch`]): nothing passes through a shell or a tmux command line (an agent's
//! prompt is longer than tmux accepts), and the exit status is recorded in a file. Its
//! environment is the container's: the pod spec's variables and the Secret's.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::launch::{BIN_DIR_ENV, LaunchSpec, create_state_dir, write_launch_file};
use super::tmux::is_missing;
use super::{RuntimeError, last_lines, validate_name};

/// How often the pane is looked at to learn whether the program has exited.
const POLL: Duration = Duration::from_millis(100);

/// Lines of the last screen (with scrollback) printed when the program has exited.
const LAST_SCREEN_LINES: usize = 2000;

/// Set by SIGTERM or SIGINT: the pod is being deleted.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// One session to run in this container.
#[derive(Clone, Debug)]
pub struct PodSession {
    /// The session's name (its tmux session's name).
    pub name: String,
    /// The tmux server's socket name (`tmux -L`).
    pub socket: String,
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// Where the launch and exit files go (private to the container's user).
    pub state_dir: PathBuf,
}

impl PodSession {
    /// Runs the session to its end and returns the status to exit with: the program's
    /// (128 + signal number for a signal), 143 when the pod was told to stop, 127 when the
    /// session could not be started (the reason is printed on stderr).
    pub fn run(&self) -> i32 {
        match self.run_to_end() {
            Ok(code) => code,
            Err(e) => {
                eprintln!("gc internal pod-session: {e}");
                127
            }
        }
    }

    fn tmux(&self, commands: &[&[&str]]) -> Result<String, RuntimeError> {
        let output = super::tmux::chain_command(&self.socket, commands)
            .output()
            .map_err(RuntimeError::io("running tmux (is tmux installed?)"))?;
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        let first = commands.first().and_then(|c| c.first()).copied().unwrap_or_default();
        Err(RuntimeError::Command {
            cmd: format!("tmux -L {} {first} …", self.socket),
            status: output.status.code(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }

    fn exit_file(&self) -> PathBuf {
        self.state_dir.join(format!("{}.exit", self.name))
    }

    fn run_to_end(&self) -> Result<i32, RuntimeError> {
        validate_name(&self.name)?;
        if self.argv.first().is_none_or(String::is_empty) {
            return Err(RuntimeError::InvalidConfig("no program to run".into()));
        }
        let work_dir = std::env::current_dir().map_err(RuntimeError::io("reading the work dir"))?;
        let launcher =
            std::env::current_exe().map_err(RuntimeError::io("finding the gc binary"))?;
        create_state_dir(&self.state_dir)?;
        let _ = std::fs::remove_file(self.exit_file());
        let launch_file = self.state_dir.join(format!("{}.launch", self.name));
        // The container's environment is inherited; only the directory for `bd` and `gc`
        // must be in the launch file for the launcher to install them.
        let env = std::env::var(BIN_DIR_ENV).map(|bin| (BIN_DIR_ENV.to_owned(), bin));
        let spec = LaunchSpec {
            argv: self.argv.clone(),
            env: env.into_iter().collect(),
            clean_env: false,
            work_dir: work_dir.clone(),
            exit_file: Some(self.exit_file()),
        };
        write_launch_file(&launch_file, &spec)?;
        let utf8 = |path: &Path| {
            path.to_str().map(str::to_owned).ok_or_else(|| {
                RuntimeError::InvalidConfig(format!("{} is not UTF-8", path.display()))
            })
        };
        let (launcher, launch_file, dir) =
            (utf8(&launcher)?, utf8(&launch_file)?, utf8(&work_dir)?);
        // `-c` expands tmux formats: `##` is a literal `#`.
        let dir = dir.replace('#', "##");
        let pane = format!("={}:", self.name);
        install_stop_handler();
        // One invocation, so the program cannot exit before remain-on-exit keeps its pane.
        #[rustfmt::skip]
        self.tmux(&[
            &[
                "new-session", "-d", "-s", &self.name, "-c", &dir, "-x", "200", "-y", "50",
                &launcher, "internal", "exec", "--consume", &launch_file,
            ],
            &["set-option", "-t", &pane, "remain-on-exit", "on"],
        ])?;
        let code = loop {
            if STOP.load(Ordering::SeqCst) {
                let _ = self.tmux(&[&["kill-server"]]);
                return Ok(128 + libc::SIGTERM);
            }
            match self.tmux(&[&[
                "display-message",
                "-p",
                "-t",
                &pane,
                "#{pane_dead}\t#{pane_dead_status}",
            ]]) {
                Ok(out) => {
                    let (dead, status) =
                        out.trim_end().split_once('\t').unwrap_or((out.trim(), ""));
                    if dead == "1" {
                        break status.parse().ok();
                    }
                }
                // Someone killed the session (or the server): it is over.
                Err(RuntimeError::Command { stderr, .. }) if is_missing(&stderr) => break None,
                Err(e) => return Err(e),
            }
            std::thread::sleep(POLL);
        };
        // The launcher's record is the reliable one (tmux may not learn the status).
        let recorded = std::fs::read_to_string(self.exit_file()).ok();
        let code = recorded.and_then(|t| t.trim().parse().ok()).or(code).unwrap_or(1);
        let start = format!("-{LAST_SCREEN_LINES}");
        if let Ok(screen) = self.tmux(&[&["capture-pane", "-p", "-J", "-t", &pane, "-S", &start]]) {
            print!("{}", last_screen(&screen));
        }
        let _ = self.tmux(&[&["kill-server"]]);
        let _ = std::fs::remove_file(self.exit_file());
        Ok(code)
    }
}

/// The screen to print at the end: without tmux's closing "Pane is dead" line, the blank
/// rows of the terminal after the output dropped.
fn last_screen(screen: &str) -> String {
    let mut lines: Vec<&str> = screen.lines().collect();
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    if lines.last().is_some_and(|l| l.starts_with("Pane is dead")) {
        lines.pop();
    }
    last_lines(&lines.join("\n"), LAST_SCREEN_LINES)
}

/// Makes SIGTERM (the pod being deleted) and SIGINT end the session: as the container's first
/// process, gc would otherwise ignore them.
fn install_stop_handler() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(
                signal,
                on_stop_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }
}
