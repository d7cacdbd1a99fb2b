//! A city made by `gc init --provider NAME` for end-to-end tests of a real agent CLI: on its
//! own tmux socket, trimmed to one worker session on the demo rig (a git repository), with a
//! short startup timeout, run with a HOME of its own so no login of the machine's user leaks
//! in, and every process it leaves killed when dropped. Include next to `common/tmux.rs` (as
//! `tmux_city`) and `common/agent_clis.rs`.
#![allow(dead_code)] // each test crate uses its own subset

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::agent_clis;
use super::tmux_city::TmuxCity;

/// See the module documentation.
pub struct CliCity {
    /// The city.
    pub city: TmuxCity,
    /// The CLI's directory first, then the test's PATH.
    path: OsString,
    /// The HOME its sessions get.
    home: tempfile::TempDir,
    /// Extra environment for `gc start` (credentials, endpoints).
    env: Vec<(String, String)>,
}

impl CliCity {
    /// `city`, run with the CLI at `cli` first on PATH and a HOME of its own.
    fn around(city: TmuxCity, cli: &Path) -> CliCity {
        CliCity {
            city,
            path: agent_clis::path_with(cli),
            home: tempfile::tempdir().unwrap(),
            env: Vec::new(),
        }
    }

    /// `gc init --provider provider` with its CLI at `cli`.
    pub fn new(provider: &str, cli: &Path) -> CliCity {
        let city = TmuxCity::new(provider);
        let path = city.path();
        city.run(&["init", path.to_str().unwrap(), "--provider", provider, "--name", "town"]);
        for file in ["agents/mayor.yaml", "agents/reviewer.toml", "orders/nightly-patrol.yaml"] {
            std::fs::remove_file(path.join(file)).unwrap();
        }
        let cli_city = CliCity::around(city, cli);
        let socket = cli_city.city.socket.clone();
        cli_city.edit(
            "city.yaml",
            "    backend: tmux\n    startupTimeout: 30s\n",
            &format!("    backend: tmux\n    socket: {socket}\n    startupTimeout: 4s\n"),
        );
        cli_city.edit("agents/worker.yaml", "  dependsOn: [mayor]\n", "");
        cli_city.edit("agents/worker.yaml", "    max: 3\n", "    max: 1\n");
        cli_city
    }

    /// The city `gc import` makes of the Gas City city at `source` (whose default provider
    /// must be the CLI at `cli`), on its own tmux socket with a short startup timeout.
    pub fn imported(cli: &Path, source: &Path) -> CliCity {
        let city = TmuxCity::new("imported");
        let path = city.path();
        let out = city.gc().arg("import").arg(source).arg("--out").arg(&path).output().unwrap();
        assert!(
            out.status.success(),
            "gc import failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cli_city = CliCity::around(city, cli);
        let socket = cli_city.city.socket.clone();
        cli_city.edit(
            "city.yaml",
            "spec:\n",
            &format!("spec:\n  session:\n    backend: tmux\n    socket: {socket}\n    startupTimeout: 4s\n"),
        );
        cli_city
    }

    /// Points the codex Provider's Codex at the Responses API at `base_url` (a model provider
    /// in its config.toml: Codex does not take OPENAI_BASE_URL), model `gpt-5`, keyed by
    /// `OPENAI_API_KEY`.
    pub fn point_codex_at(&self, base_url: &str) {
        self.edit(
            "providers/codex.yaml",
            "              trust_level: trusted\n",
            &format!(
                "              trust_level: trusted\n          model: gpt-5\n          \
                 model_provider: standin\n          model_providers:\n            standin:\n              \
                 name: standin\n              base_url: {base_url}/v1\n              wire_api: responses\n              \
                 env_key: OPENAI_API_KEY\n"
            ),
        );
    }

    /// Replaces `from` (which must be there) by `to` in the city's `file`.
    pub fn edit(&self, file: &str, from: &str, to: &str) {
        let full = self.city.path().join(file);
        let text = std::fs::read_to_string(&full).unwrap();
        assert!(text.contains(from), "{file} changed shape: no {from:?} in\n{text}");
        std::fs::write(&full, text.replacen(from, to, 1)).unwrap();
    }

    /// Adds a variable to the environment `gc` runs with.
    pub fn with_env(mut self, name: &str, value: &str) -> CliCity {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// `gc` in the city, with the CLI on PATH, the city's HOME and the extra environment.
    pub fn gc(&self, args: &[&str]) -> Output {
        let mut cmd: Command = self.city.gc();
        cmd.args(args).env("PATH", &self.path).env("HOME", self.home.path());
        for (name, value) in &self.env {
            cmd.env(name, value);
        }
        cmd.output().unwrap()
    }

    /// [`CliCity::gc`], asserting success.
    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.gc(args);
        assert!(
            out.status.success(),
            "gc {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// `gc costs -o json ARGS`, parsed.
    pub fn costs(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["costs", "-o", "json"];
        all.extend_from_slice(args);
        serde_json::from_slice(&self.run(&all).stdout).unwrap()
    }

    /// Slings `text` to the worker (with `extra` flags); the new bead's id.
    pub fn sling(&self, text: &str, extra: &[&str]) -> String {
        let mut args = vec!["sling", "worker", text, "--json"];
        args.extend_from_slice(extra);
        let out = self.run(&args);
        let slung: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("gc sling --json: {e}: {}", String::from_utf8_lossy(&out.stdout))
        });
        slung["id"].as_str().expect("a bead id").to_owned()
    }

    /// Bead `id` of the demo rig as `gc bd show --json` shows it (null when it cannot).
    pub fn bead(&self, id: &str) -> serde_json::Value {
        let out = self
            .city
            .gc()
            .args(["bd", "show", id, "--json"])
            .current_dir(self.city.path().join("rigs/demo-repo"))
            .output()
            .unwrap();
        let shown: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        shown.get(0).cloned().unwrap_or(shown)
    }

    /// The worker's session name.
    pub fn session(&self) -> &'static str {
        "gc-town-worker-1"
    }

    /// The directory gc owns for the worker's CLI state.
    pub fn home_dir(&self) -> PathBuf {
        self.city.path().join(".gc/homes").join(self.session())
    }

    /// The worker's recorded status.
    pub fn worker(&self) -> serde_json::Value {
        self.city.status("agents", "worker")
    }

    /// `gc stop`, then waits until no process of the city is left.
    pub fn stop(&self) {
        self.run(&["stop"]);
        let dir = self.city.path().to_string_lossy().into_owned();
        super::tmux_city::wait_until(
            "every process of the city gone",
            std::time::Duration::from_secs(15),
            || agent_clis::processes_mentioning(&dir).is_empty(),
        );
    }
}

impl Drop for CliCity {
    fn drop(&mut self) {
        // The controller first, so nothing restarts what is killed next.
        if let Some(pid) = self.city.controller_pid() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).output();
        }
        self.city.tmux(&["kill-server"]);
        let dir = self.city.path().to_string_lossy().into_owned();
        for line in agent_clis::processes_mentioning(&dir) {
            if let Some(pid) = line.split_whitespace().next() {
                let _ = Command::new("kill").args(["-9", pid]).output();
            }
        }
    }
}
