//! Running an order's shell commands: the `exec` action (output to a log file, a deadline, its
//! own process group) and the `condition` gate's check.
//!
//! Both are the city owner's own commands, so they get `sh -c`; everything else reaches them
//! as environment variables (`GC_CITY`, `GC_ORDER`, `GC_ORDER_RUN`, `GC_EVENT_SEQ`,
//! `GC_EVENT_TYPE`), never spliced into their text.
//!
//! An exec writes straight to its log file (not through a pipe to gc), so it keeps running and
//! its output is kept when the controller that started it dies; the next controller finds it
//! by pid (checked against the process start time, so a reused pid is not mistaken for it).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wait_timeout::ChildExt;

use super::gate::CheckOutcome;
use crate::beads::process;

/// How long an `exec` may run when the order sets no `timeout`.
pub const DEFAULT_EXEC_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a condition check may run when the gate sets no `timeout`.
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(10);
/// How many lines of output go into an `order.failed` / `order.completed` event.
pub const TAIL_LINES: usize = 20;

/// One exec to start.
#[derive(Clone, Debug)]
pub struct ExecRequest<'a> {
    /// The city directory: the working directory and `GC_CITY`.
    pub city_dir: &'a Path,
    /// The order (`GC_ORDER`).
    pub order: &'a str,
    /// The run id (`GC_ORDER_RUN`).
    pub run: &'a str,
    /// The user's command.
    pub command: &'a str,
    /// The event consumed, for an event gate (`GC_EVENT_SEQ`, `GC_EVENT_TYPE`).
    pub event: Option<(u64, &'a str)>,
    /// Where stdout and stderr go (created with its directories, appended to).
    pub log: &'a Path,
}

/// Starts the exec in a process group of its own with stdin empty and output to the log.
/// Returns at once; wait with [`wait`].
pub fn spawn(req: &ExecRequest<'_>) -> io::Result<Child> {
    if let Some(dir) = req.log.parent() {
        fs::create_dir_all(dir)?;
    }
    let out = OpenOptions::new().create(true).append(true).open(req.log)?;
    let err = out.try_clone()?;
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg(req.command)
        .current_dir(req.city_dir)
        .env("GC_CITY", req.city_dir)
        .env("GC_ORDER", req.order)
        .env("GC_ORDER_RUN", req.run)
        .env_remove("GC_EVENT_SEQ")
        .env_remove("GC_EVENT_TYPE")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
    if let Some((seq, event_type)) = req.event {
        sh.env("GC_EVENT_SEQ", seq.to_string()).env("GC_EVENT_TYPE", event_type);
    }
    sh.spawn()
}

/// How an exec ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecEnd {
    /// It exited (`None`: ended by a signal).
    Exited(Option<i32>),
    /// It was still running at its deadline; its process group was killed.
    TimedOut(Duration),
    /// Waiting for it failed; its process group was killed.
    WaitFailed(String),
}

impl ExecEnd {
    /// Whether the run completed (exit status 0).
    pub fn succeeded(&self) -> bool {
        *self == ExecEnd::Exited(Some(0))
    }

    /// For people: `exit status 0`, `killed after 5m`, ….
    pub fn describe(&self) -> String {
        match self {
            ExecEnd::Exited(Some(code)) => format!("exit status {code}"),
            ExecEnd::Exited(None) => "killed by a signal".to_owned(),
            ExecEnd::TimedOut(after) => {
                format!("did not finish within {} and was killed", crate::api::Duration(*after))
            }
            ExecEnd::WaitFailed(e) => format!("could not be waited for: {e}"),
        }
    }
}

/// Waits for `child` until `deadline`, then kills its whole process group. `timeout` is only
/// what the result reports.
pub fn wait(child: &mut Child, deadline: Instant, timeout: Duration) -> ExecEnd {
    let remaining = deadline.saturating_duration_since(Instant::now());
    match child.wait_timeout(remaining) {
        Ok(Some(status)) => ExecEnd::Exited(status.code()),
        Ok(None) => {
            process::kill_and_reap(child);
            ExecEnd::TimedOut(timeout)
        }
        Err(e) => {
            process::kill_and_reap(child);
            ExecEnd::WaitFailed(e.to_string())
        }
    }
}

/// The last `lines` lines of `log` (at most 64 KiB read), lossily decoded; empty when missing.
pub fn tail(log: &Path, lines: usize) -> String {
    const MAX: u64 = 64 * 1024;
    let Ok(mut file) = File::open(log) else { return String::new() };
    let len = file.metadata().map_or(0, |m| m.len());
    if file.seek(SeekFrom::Start(len.saturating_sub(MAX))).is_err() {
        return String::new();
    }
    let mut bytes = Vec::new();
    if file.read_to_end(&mut bytes).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// When process `pid` started, in clock ticks since boot, or `None` when it does not exist
/// (or is a zombie: it has ended, only its parent has not reaped it).
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces and parentheses): state is the
    // first, start time the 20th.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if matches!(fields.first(), Some(&"Z") | Some(&"X")) {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// Whether `pid` still runs and is the process that started at `start` (when known).
pub fn alive(pid: u32, start: Option<u64>) -> bool {
    match (start_time(pid), start) {
        (None, _) => false,
        (Some(now), Some(then)) => now == then,
        (Some(_), None) => true,
    }
}

/// Runs a condition gate's `check` with `sh -c` in the city directory (env `GC_CITY`,
/// `GC_ORDER`), killing its process group at `timeout`.
///
/// **Warning:** blocks for up to `timeout`; call it from a blocking thread in async code.
pub fn run_check(city_dir: &Path, order: &str, check: &str, timeout: Duration) -> CheckOutcome {
    let mut sh = Command::new("sh");
    sh.arg("-c").arg(check).current_dir(city_dir).env("GC_CITY", city_dir).env("GC_ORDER", order);
    match process::run(sh, b"", timeout) {
        Ok(done) if done.code == Some(0) => CheckOutcome::Passed,
        Ok(done) => CheckOutcome::Failed(done.code),
        Err(process::RunError::TimedOut(_)) => CheckOutcome::TimedOut,
        Err(e) => CheckOutcome::Error(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request<'a>(dir: &'a Path, command: &'a str, log: &'a Path) -> ExecRequest<'a> {
        ExecRequest {
            city_dir: dir,
            order: "nightly",
            run: "3",
            command,
            event: Some((41, "bead.closed")),
            log,
        }
    }

    #[test]
    fn an_exec_sees_its_env_and_writes_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("runs/3.log");
        let cmd =
            "echo \"$GC_ORDER $GC_ORDER_RUN $GC_EVENT_SEQ $GC_EVENT_TYPE\"; pwd; echo err >&2";
        let mut child = spawn(&request(dir.path(), cmd, &log)).unwrap();
        let end =
            wait(&mut child, Instant::now() + Duration::from_secs(30), Duration::from_secs(30));
        assert!(end.succeeded(), "{end:?}");
        let text = fs::read_to_string(&log).unwrap();
        assert!(text.starts_with("nightly 3 41 bead.closed\n"), "{text}");
        assert!(text.contains("err"), "{text}");
        assert_eq!(tail(&log, 1), "err");
    }

    #[test]
    fn a_hung_exec_and_its_children_are_killed_at_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("1.log");
        let cmd = "echo started; sleep 30 & echo $! > child; sleep 30";
        let mut child = spawn(&request(dir.path(), cmd, &log)).unwrap();
        let pid = child.id();
        let started = Instant::now();
        let end = wait(
            &mut child,
            Instant::now() + Duration::from_millis(500),
            Duration::from_millis(500),
        );
        assert!(matches!(end, ExecEnd::TimedOut(_)), "{end:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(!alive(pid, None));
        let deadline = Instant::now() + Duration::from_secs(10);
        let grandchild: Option<u32> =
            fs::read_to_string(dir.path().join("child")).ok().and_then(|s| s.trim().parse().ok());
        if let Some(grandchild) = grandchild {
            while alive(grandchild, None) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(!alive(grandchild, None), "the exec's child outlived it");
        }
        assert_eq!(tail(&log, 5), "started");
    }

    #[test]
    fn exit_statuses_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("1.log");
        let mut child = spawn(&request(dir.path(), "exit 3", &log)).unwrap();
        let end =
            wait(&mut child, Instant::now() + Duration::from_secs(30), Duration::from_secs(30));
        assert_eq!(end, ExecEnd::Exited(Some(3)));
        assert_eq!(end.describe(), "exit status 3");
    }

    #[test]
    fn checks_pass_fail_and_time_out() {
        let dir = tempfile::tempdir().unwrap();
        let quick = Duration::from_secs(30);
        assert_eq!(
            run_check(dir.path(), "o", "test \"$GC_ORDER\" = o", quick),
            CheckOutcome::Passed
        );
        assert_eq!(run_check(dir.path(), "o", "exit 2", quick), CheckOutcome::Failed(Some(2)));
        assert_eq!(
            run_check(dir.path(), "o", "sleep 30", Duration::from_millis(300)),
            CheckOutcome::TimedOut
        );
    }

    #[test]
    fn this_process_is_alive_and_a_wrong_start_time_is_not() {
        let me = std::process::id();
        let start = start_time(me);
        assert!(start.is_some());
        assert!(alive(me, start));
        assert!(!alive(me, start.map(|s| s + 1)));
        assert!(tail(Path::new("/nonexistent/log"), 3).is_empty());
    }
}
