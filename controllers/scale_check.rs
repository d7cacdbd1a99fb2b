//! An agent's `scaleCheck`: the city owner's shell command whose stdout says how many sessions
//! a pool wants, run with a deadline and a process-wide bound on how many run at once.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::process::Command;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

use crate::beads::process::{self, RunError};

/// Most scale checks running at once in this process (Gas City's bound too): a city with many
/// pools must not fork them all in one tick.
pub const LIMIT: usize = 8;

/// Most bytes of a command's output quoted in an error.
const QUOTE_BYTES: usize = 300;

/// Why a scale check gave no number. Each is reported on the agent; the planner keeps the pool
/// as it is rather than guess.
#[derive(Debug, thiserror::Error)]
pub enum ScaleCheckError {
    /// `sh` could not be started (no such directory, out of processes, …).
    #[error("scale check could not be started: {0}")]
    Spawn(io::Error),
    /// It was still running at the deadline; it and everything it started were killed.
    #[error("scale check did not finish within {0:?} and was killed")]
    Timeout(Duration),
    /// It exited unsuccessfully (`status` is `None` when a signal ended it).
    #[error("scale check failed ({}){}", describe_status(.status), quote(.stderr))]
    Failed {
        /// Its exit code.
        status: Option<i32>,
        /// The start of what it printed on stderr.
        stderr: String,
    },
    /// It succeeded but the first line of its output is not a non-negative integer.
    #[error("scale check printed {stdout:?}, not a number of sessions")]
    NotANumber {
        /// The start of what it printed on stdout.
        stdout: String,
    },
    /// Waiting for it or reading its output failed.
    #[error("scale check could not be read: {0}")]
    Io(io::Error),
}

fn describe_status(status: &Option<i32>) -> String {
    status.map_or_else(|| "killed by a signal".to_owned(), |code| format!("exit status {code}"))
}

fn quote(stderr: &str) -> String {
    if stderr.is_empty() { String::new() } else { format!(": {stderr}") }
}

/// Runs `command` with `sh -c` in `dir` with `env` added, at most [`LIMIT`] at once
/// process-wide, killing its whole process group at `timeout`, and parses the first line of
/// stdout as a non-negative integer (surrounding whitespace ok).
///
/// The command is the city owner's own configuration, like a provider command, so it gets a
/// shell; `env` values reach it as environment variables and are never spliced into its text.
///
/// **Warning:** this blocks the calling thread, first for a free slot (not counted in
/// `timeout`) and then for the command. Call it from `spawn_blocking` in async code.
pub fn run(
    command: &str,
    dir: &Path,
    env: &BTreeMap<String, String>,
    timeout: Duration,
) -> Result<u32, ScaleCheckError> {
    let mut sh = Command::new("sh");
    sh.arg("-c").arg(command).current_dir(dir).envs(env);
    let finished = {
        let _slot = Slot::acquire();
        process::run(sh, b"", timeout)
    }
    .map_err(|e| match e {
        RunError::Spawn(e) => ScaleCheckError::Spawn(e),
        RunError::TimedOut(after) => ScaleCheckError::Timeout(after),
        RunError::Io(e) => ScaleCheckError::Io(e),
    })?;
    if finished.code != Some(0) {
        return Err(ScaleCheckError::Failed {
            status: finished.code,
            stderr: clip(&finished.stderr_text()),
        });
    }
    let stdout = String::from_utf8_lossy(&finished.stdout);
    parse(&stdout).ok_or_else(|| ScaleCheckError::NotANumber { stdout: clip(stdout.trim()) })
}

/// Clamps a wanted count into `min..=max`. A `max` below `min` (which validation refuses)
/// gives `min`: the floor the owner asked to keep running wins.
pub fn clamp(wanted: u32, min: u32, max: u32) -> u32 {
    wanted.min(max).max(min)
}

/// The number on the first line of `stdout`; leading blank lines and spaces are tolerated.
fn parse(stdout: &str) -> Option<u32> {
    stdout.trim_start().lines().next()?.trim().parse().ok()
}

/// The start of `text`, cut on a character boundary, marked when cut.
fn clip(text: &str) -> String {
    if text.len() <= QUOTE_BYTES {
        return text.to_owned();
    }
    let end = (0..=QUOTE_BYTES).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    format!("{}…", &text[..end])
}

/// Scale checks running now in this process.
static RUNNING: Mutex<usize> = Mutex::new(0);
/// Signalled when a check finishes and frees its slot.
static FREED: Condvar = Condvar::new();

/// One of the [`LIMIT`] slots, given back when dropped (also when the check fails).
struct Slot;

impl Slot {
    fn acquire() -> Slot {
        // A poisoned lock only means a holder panicked between two lines that cannot leave the
        // count inconsistent, so the count is still right.
        let mut running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
        while *running >= LIMIT {
            running = FREED.wait(running).unwrap_or_else(PoisonError::into_inner);
        }
        *running += 1;
        Slot
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
        *running = running.saturating_sub(1);
        FREED.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn check(command: &str) -> Result<u32, ScaleCheckError> {
        let dir = tempfile::tempdir().unwrap();
        run(command, dir.path(), &BTreeMap::new(), Duration::from_secs(30))
    }

    /// Waits (up to a generous deadline) for `pid` to be gone: no such process, or a zombie
    /// waiting for its new parent to reap it. SIGKILL is delivered asynchronously.
    fn gone(pid: u32) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| s[s.rfind(')')? + 1..].split_whitespace().next().map(str::to_owned));
            if !matches!(state.as_deref(), Some(s) if s != "Z" && s != "X") {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `command` (which writes a pid to `file` first thing) with a short deadline it
    /// overruns, and returns that pid. A machine too loaded to reach the write before the
    /// deadline gets a longer one, so the test checks a kill and never depends on timing.
    fn pid_after_timeout(command: &str, file: &str) -> u32 {
        let dir = tempfile::tempdir().unwrap();
        let mut timeout = Duration::from_millis(300);
        loop {
            let err = run(command, dir.path(), &BTreeMap::new(), timeout).unwrap_err();
            assert!(matches!(err, ScaleCheckError::Timeout(_)), "{err}");
            let written = std::fs::read_to_string(dir.path().join(file)).unwrap_or_default();
            if let Ok(pid) = written.trim().parse() {
                return pid;
            }
            assert!(timeout < Duration::from_secs(20), "`{command}` never wrote {file}");
            timeout *= 2;
        }
    }

    #[test]
    fn the_printed_number_is_the_wanted_count() {
        assert_eq!(check("echo 3").unwrap(), 3);
        assert_eq!(check("echo '  7  '").unwrap(), 7);
        assert_eq!(check("printf '\\n 2\\nignored\\n'").unwrap(), 2);
    }

    #[test]
    fn env_and_dir_reach_the_command_without_becoming_shell_text() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("wanted"), "4\n").unwrap();
        let env = BTreeMap::from([("GC_AGENT".to_owned(), "a b; exit 9".to_owned())]);
        let command = "test \"$GC_AGENT\" = 'a b; exit 9' && cat wanted";
        assert_eq!(run(command, dir.path(), &env, Duration::from_secs(30)).unwrap(), 4);
    }

    #[test]
    fn a_failing_check_names_its_status_and_stderr() {
        let err = check("echo 5; echo 'no store' >&2; exit 1").unwrap_err();
        match &err {
            ScaleCheckError::Failed { status, stderr } => {
                assert_eq!(*status, Some(1));
                assert_eq!(stderr, "no store");
            }
            other => panic!("expected Failed, got {other:?}"),
        }
        let message = err.to_string();
        assert!(message.contains("exit status 1") && message.contains("no store"), "{message}");
    }

    #[test]
    fn long_stderr_is_cut_in_messages() {
        let err = check("head -c 5000 /dev/zero | tr '\\0' x >&2; exit 2").unwrap_err();
        let ScaleCheckError::Failed { stderr, .. } = err else { panic!("expected Failed") };
        assert!(stderr.len() < 400 && stderr.ends_with('…'), "{stderr}");
    }

    #[test]
    fn output_that_is_not_a_count_is_refused() {
        for command in ["echo lots", "echo -1", "true", "echo 3.5"] {
            let err = check(command).unwrap_err();
            assert!(matches!(err, ScaleCheckError::NotANumber { .. }), "{command}: {err}");
        }
        let err = check("echo lots").unwrap_err();
        assert!(err.to_string().contains("lots"), "{err}");
    }

    #[test]
    fn a_missing_directory_is_a_spawn_error() {
        let err =
            run("echo 1", Path::new("/nonexistent/gc"), &BTreeMap::new(), Duration::from_secs(30));
        assert!(matches!(err, Err(ScaleCheckError::Spawn(_))), "{err:?}");
    }

    #[test]
    fn a_hung_check_is_killed_at_its_deadline() {
        let pid = pid_after_timeout("echo $$ > pid; exec sleep 30", "pid");
        assert!(gone(pid), "the hung check is still running");
    }

    #[test]
    fn what_a_hung_check_started_is_killed_too() {
        let pid = pid_after_timeout("sleep 30 & echo $! > child; sleep 30", "child");
        assert!(gone(pid), "the check's child outlived it");
    }

    #[test]
    fn no_more_than_the_limit_run_at_once() {
        // Each check logs `start`, waits until LIMIT checks have started, logs `end`. The first
        // LIMIT therefore all run together (so the bound is reached, whatever the timing), and
        // the rest may only start once a slot is free. Appends of one short line are atomic,
        // so the log's order is the order things happened while their slots were held.
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let command = format!(
            "echo start >> log; \
             until [ \"$(grep -c start log)\" -ge {LIMIT} ]; do sleep 0.02; done; \
             echo end >> log; echo 1"
        );
        let results: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..LIMIT + 4)
                .map(|_| {
                    scope.spawn(|| {
                        run(&command, dir.path(), &BTreeMap::new(), Duration::from_secs(120))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(results.iter().all(|r| matches!(r, Ok(1))), "{results:?}");

        let (mut running, mut most) = (0usize, 0usize);
        for line in std::fs::read_to_string(&log).unwrap().lines() {
            if line == "start" {
                running += 1;
                most = most.max(running);
            } else {
                running -= 1;
            }
        }
        assert_eq!(most, LIMIT, "at most {LIMIT} checks may run at once");
    }

    #[test]
    fn clamp_keeps_the_count_between_min_and_max() {
        assert_eq!(clamp(5, 1, 3), 3);
        assert_eq!(clamp(0, 1, 3), 1);
        assert_eq!(clamp(2, 1, 3), 2);
        assert_eq!(clamp(2, 4, 3), 4);
    }
}
