//! `gc internal pod-session`, the entrypoint of session pods, run here with a real tmux on a
//! private socket: the program runs in tmux with its arguments exactly as given, the
//! container's environment and work dir, and the entrypoint exits with the program's status
//! after printing its last screen — what the pod's state and log then show.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;

/// A private tmux socket, its server killed when the test ends (also when it fails).
struct Socket(String);

impl Socket {
    fn new(test: &str) -> Socket {
        Socket(format!("gc-pod-session-{test}-{}", std::process::id()))
    }

    fn has_server(&self) -> bool {
        Command::new("tmux")
            .args(["-L", &self.0, "list-sessions"])
            .stderr(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success()
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.0, "kill-server"])
            .stderr(Stdio::null())
            .status();
    }
}

fn pod_session(socket: &Socket, state: &Path, argv: &[&str]) -> Command {
    let mut command = Command::new(cargo_bin("gc"));
    command
        .args(["internal", "pod-session", "--name", "gc-town-worker", "--socket", &socket.0])
        .arg("--state-dir")
        .arg(state)
        .arg("--")
        .args(argv)
        .env_remove("TMUX");
    command
}

fn run(socket: &Socket, argv: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    pod_session(socket, &dir.path().join("state"), argv).current_dir(dir.path()).output().unwrap()
}

#[test]
fn the_programs_exit_status_is_the_entrypoints() {
    let socket = Socket::new("status");
    let out = run(&socket, &["sh", "-c", "echo working; exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{}", String::from_utf8_lossy(&out.stderr));
    // The last screen is on stdout (the pod's log), without tmux's "Pane is dead" line.
    let log = String::from_utf8(out.stdout).unwrap();
    assert_eq!(log, "working\n");
    assert!(!socket.has_server(), "the tmux server is gone with the session");

    let socket = Socket::new("ok");
    assert_eq!(run(&socket, &["true"]).status.code(), Some(0));
}

#[test]
fn a_program_killed_by_a_signal_exits_as_a_shell_reports_it() {
    let socket = Socket::new("signal");
    let out = run(&socket, &["sh", "-c", "kill -9 $$"]);
    assert_eq!(out.status.code(), Some(128 + 9));
}

#[test]
fn arguments_arrive_literally_never_through_a_shell() {
    let socket = Socket::new("argv");
    let args = ["a b", "\"quoted\" 'single'", "x;", ";", "$HOME", "`id`", "#{pane_pid}", "-l"];
    let mut argv = vec!["sh", "-c", "printf '[%s]' \"$@\"; echo", "sh"];
    argv.extend(args);
    let out = run(&socket, &argv);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let expected: String = args.iter().map(|a| format!("[{a}]")).collect();
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim_end(), expected);
}

#[test]
fn the_program_gets_the_containers_environment_and_work_dir() {
    let socket = Socket::new("env");
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work #1");
    std::fs::create_dir(&work).unwrap();
    let out = pod_session(
        &socket,
        &dir.path().join("state"),
        &["sh", "-c", "echo \"$PWD|$FROM_SECRET\""],
    )
    .current_dir(&work)
    .env("FROM_SECRET", "s3cret value")
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let work = work.canonicalize().unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim_end(),
        format!("{}|s3cret value", work.display())
    );
}

#[test]
fn a_program_that_cannot_run_exits_127() {
    let socket = Socket::new("missing");
    let out = run(&socket, &["/nonexistent/agent-cli"]);
    assert_eq!(out.status.code(), Some(127));
}

#[test]
fn sigterm_from_a_deleted_pod_ends_the_session() {
    let socket = Socket::new("term");
    let dir = tempfile::tempdir().unwrap();
    let mut child = pod_session(&socket, &dir.path().join("state"), &["sleep", "300"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.has_server() {
        assert!(Instant::now() < deadline, "the session never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "pod-session ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(128 + 15));
    assert!(!socket.has_server(), "the session's tmux server was killed");
}
