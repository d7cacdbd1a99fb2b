//! Runs one helper program (an exec store script, `bd`, an agent's scale check) to completion:
//! bytes on stdin, stdout and stderr captured, and a deadline after which the program and
//! everything it started are killed, so a hung script is an error and never a hang. The caller
//! builds the command (store helpers get argv only, never a shell).

use std::io::{self, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};
use wait_timeout::ChildExt;

/// What a finished program left behind.
#[derive(Debug)]
pub struct Finished {
    /// The exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    /// Everything it printed on stdout.
    pub stdout: Vec<u8>,
    /// Everything it printed on stderr.
    pub stderr: Vec<u8>,
}

impl Finished {
    /// Stderr as text, trimmed (invalid UTF-8 replaced, so any bytes can be shown).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).trim().to_owned()
    }
}

/// Why a program could not be run to the end.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// It could not be started (missing, not executable, …).
    #[error("could not be started: {0}")]
    Spawn(io::Error),
    /// It was still running (or still held its output open) at the deadline; it was killed.
    #[error("did not finish within {0:?} and was killed")]
    TimedOut(Duration),
    /// Waiting for it or reading its output failed.
    #[error("{0}")]
    Io(io::Error),
}

/// Runs `command` with `input` on its stdin and waits at most `timeout` for it to exit and
/// close its output. The program runs in a process group of its own so that, on timeout, its
/// children die with it (a script's `sleep` would otherwise keep the pipes open).
pub fn run(mut command: Command, input: &[u8], timeout: Duration) -> Result<Finished, RunError> {
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    let deadline = Instant::now() + timeout;
    let mut child = command.spawn().map_err(RunError::Spawn)?;

    // Each pipe gets its own thread: a program that fills stdout before reading stdin (or
    // stderr before stdout) must not deadlock against us.
    let stdin = child.stdin.take();
    let input = input.to_vec();
    thread::spawn(move || {
        if let Some(mut stdin) = stdin {
            // A program that exits without reading its input is not an error (BrokenPipe).
            let _ = stdin.write_all(&input);
        }
    });
    let stdout = reader(child.stdout.take());
    let stderr = reader(child.stderr.take());

    let remaining = || deadline.saturating_duration_since(Instant::now());
    let status = match child.wait_timeout(remaining()) {
        Ok(Some(status)) => status,
        Ok(None) => return Err(kill(&mut child, timeout)),
        Err(e) => {
            let _ = kill(&mut child, timeout);
            return Err(RunError::Io(e));
        }
    };
    // The program has exited, but something it started may still hold the pipes open.
    let stdout = collect(&stdout, remaining());
    let stderr = collect(&stderr, remaining());
    match (stdout, stderr) {
        (Some(stdout), Some(stderr)) => {
            Ok(Finished { code: status.code(), stdout: stdout?, stderr: stderr? })
        }
        _ => {
            kill_group(&child);
            Err(RunError::TimedOut(timeout))
        }
    }
}

/// Reads a pipe to its end on a thread; the result arrives on the returned channel.
fn reader<R: Read + Send + 'static>(pipe: Option<R>) -> mpsc::Receiver<io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let result = match pipe {
            Some(mut pipe) => pipe.read_to_end(&mut bytes).map(|_| bytes),
            None => Ok(bytes),
        };
        let _ = tx.send(result);
    });
    rx
}

/// The pipe's contents, or `None` when it is still open after `wait`.
fn collect(
    rx: &mpsc::Receiver<io::Result<Vec<u8>>>,
    wait: Duration,
) -> Option<Result<Vec<u8>, RunError>> {
    match rx.recv_timeout(wait) {
        Ok(result) => Some(result.map_err(RunError::Io)),
        Err(mpsc::RecvTimeoutError::Timeout) => None,
        // The reader thread always sends; a disconnect means it died, so report no output.
        Err(mpsc::RecvTimeoutError::Disconnected) => Some(Ok(Vec::new())),
    }
}

/// Kills the program's process group and reaps the program.
fn kill(child: &mut Child, timeout: Duration) -> RunError {
    kill_and_reap(child);
    RunError::TimedOut(timeout)
}

/// Kills a child started in a process group of its own, with everything it started, and
/// reaps it.
pub fn kill_and_reap(child: &mut Child) {
    kill_group(child);
    let _ = child.kill();
    let _ = child.wait();
}

fn kill_group(child: &Child) {
    kill_process_group(child.id());
}

/// Kills (SIGKILL) the process group led by `pid`: a program started in a group of its own
/// (as [`run`] and the order executor start them) and everything it started. A group that is
/// already gone is fine.
pub fn kill_process_group(pid: u32) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        // The group may already be gone; ESRCH is fine.
        let _ = rustix::process::kill_process_group(pid, Signal::KILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    #[test]
    fn stdin_reaches_the_program_and_both_outputs_come_back() {
        let done =
            run(sh("cat; echo oops >&2; exit 3"), b"hello", Duration::from_secs(10)).unwrap();
        assert_eq!(done.code, Some(3));
        assert_eq!(done.stdout, b"hello");
        assert_eq!(done.stderr_text(), "oops");
    }

    #[test]
    fn a_hung_program_and_its_children_are_killed_at_the_deadline() {
        let started = Instant::now();
        let err = run(sh("sleep 30 & sleep 30"), b"", Duration::from_millis(300)).unwrap_err();
        assert!(matches!(err, RunError::TimedOut(_)), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_child_left_holding_the_output_open_does_not_hang_the_caller() {
        let started = Instant::now();
        let err = run(sh("sleep 30 & exit 0"), b"", Duration::from_millis(300)).unwrap_err();
        assert!(matches!(err, RunError::TimedOut(_)), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let err = run(Command::new("/nonexistent/gc-test-program"), b"", Duration::from_secs(1))
            .unwrap_err();
        assert!(matches!(err, RunError::Spawn(_)), "{err}");
    }

    #[test]
    fn a_program_that_ignores_a_large_input_is_fine() {
        let input = vec![b'x'; 1 << 20];
        let done = run(sh("exit 0"), &input, Duration::from_secs(10)).unwrap();
        assert_eq!(done.code, Some(0));
    }
}
