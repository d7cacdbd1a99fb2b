//! A city directory whose sessions run on a tmux server of their own, for the end-to-end
//! tests: a unique socket per city, the `gc` to run in it, and cleanup (controller killed,
//! tmux server killed) when it is dropped — with the controller log and events printed when
//! the test failed.
#![allow(dead_code)] // each test crate uses its own subset

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;
use serde_json::Value;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// An agent program that answers like an agent CLI behind a `ready> ` prompt.
pub const PROMPT_AGENT: &str = r#"#!/usr/bin/env bash
# Answers like an agent CLI behind a "ready> " prompt.
while true; do
  printf 'ready> '
  IFS= read -r line || exit 0
  echo "heard $line"
done
"#;

/// A CLI that asks which mode to run in (`> fast` preselected) before its prompt, which
/// nothing declares (so its session is Blocked until a person answers): Down picks
/// `careful`, Enter confirms, and then it says which mode it runs in.
pub const ASKS_FIRST: &str = r#"#!/usr/bin/env bash
printf 'Pick a mode for this run:\n> fast\n  careful\n'
mode=fast
while IFS= read -rsn1 key; do
  if [ "$key" = $'\e' ]; then
    read -rsn2 _
    mode=careful
    printf '\033[2J\033[HPick a mode for this run:\n  fast\n> careful\n'
  elif [ -z "$key" ]; then
    break
  fi
done
printf '\033[2J\033[Hmode %s\nready> ' "$mode"
exec sleep 1000
"#;

/// See the module documentation.
pub struct TmuxCity {
    dir: tempfile::TempDir,
    /// The tmux socket (`tmux -L`) the city's sessions must use.
    pub socket: String,
}

impl TmuxCity {
    /// An empty city directory and a fresh socket named `<tag>-<pid>-<n>`. Panics when tmux
    /// is missing (`scripts/test.sh` installs it).
    pub fn new(tag: &str) -> TmuxCity {
        if Command::new("tmux").arg("-V").output().is_err() {
            panic!("these tests need tmux on PATH (scripts/test.sh installs it)");
        }
        let socket =
            format!("{tag}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
        TmuxCity { dir: tempfile::tempdir().unwrap(), socket }
    }

    /// A city `town` whose default provider `probe` runs `script` (written to
    /// `scripts/agent.sh`) and is ready at the prompt `ready> `; sessions on `backend`.
    pub fn with_probe(tag: &str, backend: &str, script: &str) -> TmuxCity {
        let city = TmuxCity::new(tag);
        city.write(
            "city.yaml",
            &format!(
                "apiVersion: gascity.dev/v1alpha1\nkind: City\nmetadata:\n  name: town\nspec:\n  \
                 defaultProvider: probe\n  session:\n    backend: {backend}\n    socket: {}\n    \
                 startupTimeout: 20s\n  controller:\n    shutdownTimeout: 2s\n---\n\
                 apiVersion: gascity.dev/v1alpha1\nkind: Provider\nmetadata:\n  name: probe\nspec:\n  \
                 command: scripts/agent.sh\n  readyPromptPrefix: \"ready> \"\n",
                city.socket
            ),
        );
        city.write_script("scripts/agent.sh", script);
        city
    }

    /// The city directory, with symlinks resolved (as the sessions see it).
    pub fn path(&self) -> PathBuf {
        std::fs::canonicalize(self.dir.path()).unwrap()
    }

    /// Writes `text` to `path` below the city, creating directories.
    pub fn write(&self, path: &str, text: &str) {
        let path = self.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Writes an executable script.
    pub fn write_script(&self, path: &str, text: &str) {
        self.write(path, text);
        let full = self.path().join(path);
        std::fs::set_permissions(full, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }

    /// `gc`, run in the city, ignoring the caller's `GC_CITY` and `BEADS_DIR`.
    pub fn gc(&self) -> Command {
        let mut cmd = Command::new(cargo_bin("gc"));
        cmd.current_dir(self.path()).env_remove("GC_CITY").env_remove("BEADS_DIR");
        cmd
    }

    /// Runs gc and asserts it succeeded.
    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.gc().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "gc {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs a tmux command on the city's socket.
    pub fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux").arg("-L").arg(&self.socket).args(args).output().unwrap()
    }

    /// The events of `event_type`, in log order.
    pub fn events(&self, event_type: &str) -> Vec<Value> {
        let text =
            std::fs::read_to_string(self.path().join(".gc/events.jsonl")).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["type"] == event_type)
            .collect()
    }

    /// The recorded status of `plural/name` (`agents`, `rigs`, …), or null.
    pub fn status(&self, plural: &str, name: &str) -> Value {
        let path = self.path().join(format!(".gc/status/{plural}/{name}.json"));
        std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null)
    }

    /// Kills the controller with SIGKILL (as a crash would: sessions stay) and waits until it
    /// is gone.
    pub fn kill_controller(&self) {
        let pid = self.controller_pid().expect("a controller runs").to_string();
        Command::new("kill").args(["-9", &pid]).output().unwrap();
        wait_until("the controller to die", Duration::from_secs(30), || {
            Command::new("kill").args(["-0", &pid]).output().map_or(true, |o| !o.status.success())
        });
    }

    /// The running controller's pid, from its lock file.
    pub fn controller_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.path().join(".gc/controller.lock")).ok()?.trim().parse().ok()
    }
}

impl Drop for TmuxCity {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let read = |p: &str| std::fs::read_to_string(self.path().join(p)).unwrap_or_default();
            eprintln!(
                "--- controller.log\n{}\n--- events\n{}",
                read(".gc/controller.log"),
                read(".gc/events.jsonl")
            );
        }
        if let Some(pid) = self.controller_pid() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).output();
        }
        self.tmux(&["kill-server"]);
    }
}

/// Runs git with `args` in `dir` (a test's own repository: no user config needed), asserting
/// it succeeded; its stdout, trimmed.
pub fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Polls `condition` until it holds or `timeout` passes; panics with `what` then.
pub fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
