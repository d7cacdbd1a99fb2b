//! `gc doctor`: checks what breaks a city and says how to fix each: tmux, each Provider's CLI
//! (there, its version, a key or a login), the bead stores, orphaned sessions and a controller
//! that does not answer, `.gc/` permissions, disk space. Reads only, unless `--fix` (safe fixes:
//! stop orphaned sessions, take world-write off `.gc/`).
//!
//! Each check is a pure function of facts gathered beforehand ([`Facts`]), so the verdicts are
//! tested without a machine in a given state.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;

use super::present::ListOutput;
use crate::controllers::model::CityModel;

/// Check what breaks a city, and how to fix each problem.
///
/// Each check prints one line: ok, warn or fail, with what to do. Exits 1 when any check fails.
/// Nothing changes unless --fix is given, which applies the safe fixes only: stopping sessions
/// no agent owns, and taking world-write permission off .gc/.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  gc doctor\n  gc doctor -o json\n  gc doctor --fix")]
pub struct Args {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = ListOutput::Table)]
    output: ListOutput,
    /// Apply the safe fixes.
    #[arg(long)]
    fix: bool,
}

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Fine.
    Ok,
    /// Works, but may not for long, or not everywhere.
    Warn,
    /// Broken.
    Fail,
}

/// One check's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked (`tmux`, `provider/claude`, …).
    pub name: String,
    /// How it came out.
    pub level: Level,
    /// What was found.
    pub message: String,
    /// How to fix it, when it needs fixing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// Whether `--fix` fixed it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub fixed: bool,
}

fn check(name: &str, level: Level, message: String, fix: Option<String>) -> Check {
    Check { name: name.to_owned(), level, message, fix, fixed: false }
}

/// The versions of the agent CLIs gc was last tested with (the test suite pins them).
const TESTED: &[(&str, &str)] = &[("claude", "2.1"), ("codex", "0.171"), ("gemini", "0.61")];

/// Where each agent CLI keeps a login, and the keys that stand for one.
const CREDENTIALS: &[(&str, &[&str], &[&str])] = &[
    (
        "claude",
        &["ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"],
        &[".claude/.credentials.json", ".claude.json"],
    ),
    ("codex", &["OPENAI_API_KEY"], &[".codex/auth.json"]),
    ("gemini", &["GEMINI_API_KEY", "GOOGLE_API_KEY"], &[".gemini/oauth_creds.json"]),
];

/// tmux from `tmux -V` (`tmux 3.3a`), or `None` when it is not installed.
pub fn tmux(version: Option<&str>) -> Check {
    let Some(version) = version else {
        return check(
            "tmux",
            Level::Fail,
            "tmux is not installed".into(),
            Some("install tmux (apt-get install tmux, brew install tmux)".into()),
        );
    };
    let number = version.trim().trim_start_matches("tmux ").trim_start_matches("next-");
    let major_minor: Option<(u32, u32)> = number.split_once('.').and_then(|(a, b)| {
        let minor: String = b.chars().take_while(char::is_ascii_digit).collect();
        Some((a.parse().ok()?, minor.parse().ok()?))
    });
    match major_minor {
        Some(v) if v >= (3, 0) => check("tmux", Level::Ok, version.trim().into(), None),
        Some(_) => check(
            "tmux",
            Level::Fail,
            format!("{} is too old: gc needs tmux 3.0 or newer", version.trim()),
            Some("upgrade tmux".into()),
        ),
        None => check(
            "tmux",
            Level::Warn,
            format!("cannot read the version in `{}`", version.trim()),
            None,
        ),
    }
}

/// What is known about one Provider's CLI.
#[derive(Clone, Debug, Default)]
pub struct ProviderFacts {
    /// The Provider's name.
    pub name: String,
    /// Its command as written.
    pub command: String,
    /// Where it was found, if it was.
    pub found: Option<PathBuf>,
    /// What `COMMAND --version` printed.
    pub version: Option<String>,
    /// How to install it (the Provider's `install`).
    pub install: Option<String>,
    /// The credential keys set in the environment.
    pub keys: Vec<String>,
    /// The login files found in the home directory.
    pub logins: Vec<String>,
}

/// A Provider's CLI: there, at a version gc was tested with, with a key or a login.
pub fn provider(facts: &ProviderFacts) -> Vec<Check> {
    let name = format!("provider/{}", facts.name);
    let Some(path) = &facts.found else {
        let fix = facts
            .install
            .clone()
            .unwrap_or_else(|| format!("install `{}` and put it on PATH", facts.command));
        return vec![check(
            &name,
            Level::Fail,
            format!("`{}` is not installed", facts.command),
            Some(fix),
        )];
    };
    let program = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let mut out = Vec::new();
    let version = facts.version.as_deref().map(str::trim).filter(|v| !v.is_empty());
    match (TESTED.iter().find(|(p, _)| *p == program), version) {
        (_, None) => out.push(check(
            &name,
            Level::Warn,
            format!("{} does not say its version", path.display()),
            None,
        )),
        (Some((_, tested)), Some(v)) if !v.split_whitespace().any(|w| w.starts_with(tested)) => out
            .push(check(
                &name,
                Level::Warn,
                format!("{} is {v}; gc was last tested with {tested}.x", path.display()),
                Some(format!("if its screens or flags changed, pin {program} to {tested}.x")),
            )),
        (_, Some(v)) => {
            out.push(check(&name, Level::Ok, format!("{} ({v})", path.display()), None))
        }
    }
    if let Some((_, keys, files)) = CREDENTIALS.iter().find(|(p, _, _)| *p == program) {
        if facts.keys.is_empty() && facts.logins.is_empty() {
            out.push(check(
                &format!("{name}/login"),
                Level::Warn,
                format!(
                    "no {} set and no login found (~/{})",
                    keys.join(" or "),
                    files.join(", ~/")
                ),
                Some(format!(
                    "log in once with `{program}`, or set {} for the city (passEnv)",
                    keys[0]
                )),
            ));
        } else {
            let how =
                facts.keys.iter().chain(&facts.logins).cloned().collect::<Vec<_>>().join(", ");
            out.push(check(
                &format!("{name}/login"),
                Level::Ok,
                format!("credentials: {how}"),
                None,
            ));
        }
    }
    out
}

/// What gc doctor found of a bead store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreState {
    /// It opens and its schema is current.
    Current,
    /// Its schema (the first number) is older than this gc's (the second); opening it with
    /// any gc command upgrades it.
    Older(i64, i64),
    /// It does not open, or cannot be read: why, and how to fix it.
    Broken(String, String),
}

/// A bead store's verdict.
pub fn store(place: &str, state: &StoreState) -> Check {
    let name = format!("beads/{place}");
    match state {
        StoreState::Current => check(&name, Level::Ok, "opens; schema current".into(), None),
        StoreState::Older(old, new) => check(
            &name,
            Level::Warn,
            format!(
                "schema {old} is older than this gc's ({new}); the next gc command that opens it upgrades it"
            ),
            Some("gc doctor --fix upgrades it now".into()),
        ),
        StoreState::Broken(why, fix) => check(&name, Level::Fail, why.clone(), Some(fix.clone())),
    }
}

/// Sessions on the city's socket that no agent owns.
pub fn orphans(orphaned: &[String]) -> Check {
    if orphaned.is_empty() {
        return check("sessions", Level::Ok, "no orphaned sessions".into(), None);
    }
    check(
        "sessions",
        Level::Warn,
        format!("{} session(s) no agent owns: {}", orphaned.len(), orphaned.join(", ")),
        Some("gc doctor --fix stops them".into()),
    )
}

/// A process started for one of the city's sessions that outlived it (its session is gone).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stray {
    /// Its pid.
    pub pid: u32,
    /// The session it was started for (`GC_SESSION`).
    pub session: String,
    /// Its command line.
    pub command: String,
}

/// Processes left running for sessions that are gone (an old controller's, or a CLI's
/// helpers that outlived their session).
pub fn strays(found: &[Stray]) -> Check {
    if found.is_empty() {
        return check(
            "processes",
            Level::Ok,
            "nothing left running from gone sessions".into(),
            None,
        );
    }
    let listed: Vec<String> = found
        .iter()
        .map(|s| {
            let command: String = s.command.chars().take(60).collect();
            format!("{} ({}: {command})", s.pid, s.session)
        })
        .collect();
    check(
        "processes",
        Level::Warn,
        format!("{} process(es) of gone sessions still run: {}", found.len(), listed.join(", ")),
        Some("gc doctor --fix stops them (TERM, then KILL)".into()),
    )
}

/// The controller: none, one that answers, or one holding the lock without answering.
pub fn controller(pid: Option<u32>, answering: bool) -> Check {
    match (pid, answering) {
        (None, _) => check("controller", Level::Ok, "not running (gc start runs it)".into(), None),
        (Some(pid), true) => {
            check("controller", Level::Ok, format!("running (pid {pid}), answering"), None)
        }
        (Some(pid), false) => check(
            "controller",
            Level::Fail,
            format!("pid {pid} holds the city's lock but does not answer on .gc/controller.sock"),
            Some(format!("kill {pid} (it may be stuck or left from an old gc), then gc start")),
        ),
    }
}

/// `.gc/`: there and writable by you, not by everyone (`mode`: its permission bits).
pub fn state_dir(mode: Option<u32>, writable: bool) -> Check {
    match mode {
        None => check(".gc", Level::Ok, "not created yet (gc apply makes it)".into(), None),
        Some(_) if !writable => check(
            ".gc",
            Level::Fail,
            ".gc/ is not writable by you".into(),
            Some("chown it to the user who runs gc".into()),
        ),
        Some(m) if m & 0o002 != 0 => check(
            ".gc",
            Level::Fail,
            format!(
                ".gc/ is writable by everyone (mode {:o}): anyone could change the city's state",
                m & 0o777
            ),
            Some("gc doctor --fix takes world-write off (chmod o-w .gc)".into()),
        ),
        Some(m) => check(".gc", Level::Ok, format!("mode {:o}", m & 0o777), None),
    }
}

/// Free space where the city is.
pub fn disk(free_bytes: Option<u64>) -> Check {
    const MIB: u64 = 1024 * 1024;
    match free_bytes {
        None => check("disk", Level::Warn, "cannot read the free space".into(), None),
        Some(b) if b < 100 * MIB => check(
            "disk",
            Level::Fail,
            format!("{} MiB free: stores and logs will fail to write", b / MIB),
            Some("free some space".into()),
        ),
        Some(b) if b < 1024 * MIB => check(
            "disk",
            Level::Warn,
            format!("{} MiB free", b / MIB),
            Some("free some space before it runs out".into()),
        ),
        Some(b) => check(
            "disk",
            Level::Ok,
            format!("{:.1} GiB free", b as f64 / (1024.0 * MIB as f64)),
            None,
        ),
    }
}

/// Runs `gc doctor`.
pub fn run(args: Args, city: Option<PathBuf>) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let city_dir = std::path::absolute(super::city_dir_or_cwd(city)?)?;
    let mut checks = vec![tmux(version_of("tmux", &["-V"]).as_deref())];
    let store = crate::store::Store::new(&city_dir);
    match CityModel::load_specs(&city_dir, &store) {
        Ok(model) => {
            for facts in providers(&city_dir, &model) {
                checks.extend(provider(&facts));
            }
            for (rig, state) in stores(&model, false) {
                let place = rig.as_deref().unwrap_or("city");
                let mut verdict = self::store(place, &state);
                if args.fix && matches!(state, StoreState::Older(..)) {
                    verdict.fixed = stores(&model, true)
                        .iter()
                        .any(|(r, s)| r == &rig && *s == StoreState::Current);
                }
                checks.push(verdict);
            }
            let (live, orphaned) = sessions(&city_dir, &model);
            let mut sessions = orphans(&orphaned);
            if args.fix && !orphaned.is_empty() {
                sessions.fixed = stop_sessions(&city_dir, &orphaned);
            }
            checks.push(sessions);
            let found = stray_processes(&city_dir, &live);
            let mut processes = strays(&found);
            if args.fix && !found.is_empty() {
                let pids: Vec<u32> = found.iter().map(|s| s.pid).collect();
                crate::runtime::procs::terminate(&pids, &[], Duration::from_secs(5));
                processes.fixed = stray_processes(&city_dir, &live).is_empty();
            }
            checks.push(processes);
        }
        Err(e) => checks.push(check(
            "city",
            Level::Fail,
            format!("cannot read the applied city: {e}"),
            Some("gc validate, then gc apply".into()),
        )),
    }
    let pid = crate::controllers::manager::running_pid(&city_dir);
    let answering = pid.is_some()
        && crate::notify::request(&city_dir, "ping", Duration::from_secs(2)).is_some();
    checks.push(controller(pid, answering));
    let gc_dir = city_dir.join(".gc");
    let mode = std::fs::metadata(&gc_dir)
        .ok()
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()));
    let writable = rustix::fs::access(&gc_dir, rustix::fs::Access::WRITE_OK).is_ok();
    let mut dir = state_dir(mode, writable);
    if args.fix && mode.is_some_and(|m| m & 0o002 != 0) {
        let m = mode.unwrap_or_default() & !0o002;
        dir.fixed =
            std::fs::set_permissions(&gc_dir, std::os::unix::fs::PermissionsExt::from_mode(m))
                .is_ok();
    }
    checks.push(dir);
    let free = rustix::fs::statvfs(&city_dir).ok().map(|s| s.f_bavail * s.f_frsize);
    checks.push(disk(free));

    let failed = checks.iter().any(|c| c.level == Level::Fail && !c.fixed);
    if let Some(document) = args.output.document(&checks) {
        print!("{document}");
    } else {
        for c in &checks {
            let level = match (c.level, c.fixed) {
                (_, true) => "fixed",
                (Level::Ok, _) => "ok",
                (Level::Warn, _) => "warn",
                (Level::Fail, _) => "FAIL",
            };
            let mut line = format!("{level:<5} {:<24} {}", c.name, c.message);
            if let (Some(fix), false) = (&c.fix, c.fixed) {
                line.push_str(&format!("\n      fix: {fix}"));
            }
            println!("{line}");
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// The first line of `program ARGS`, run with a deadline in its own process group.
fn version_of(program: &str, args: &[&str]) -> Option<String> {
    let mut command = std::process::Command::new(program);
    command.args(args);
    let done = crate::beads::process::run(command, b"", Duration::from_secs(10)).ok()?;
    let text = String::from_utf8_lossy(&done.stdout).into_owned();
    let text = if text.trim().is_empty() {
        String::from_utf8_lossy(&done.stderr).into_owned()
    } else {
        text
    };
    text.lines().find(|l| !l.trim().is_empty()).map(str::to_owned)
}

fn providers(city_dir: &Path, model: &CityModel) -> Vec<ProviderFacts> {
    let used = crate::controllers::provider::used_providers(model);
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    used.into_iter()
        .filter_map(|name| {
            let spec = &model.providers.get(&name)?.spec;
            let found = crate::controllers::provider::resolve(city_dir, &spec.command);
            let program = found
                .as_ref()
                .and_then(|p| p.file_name())
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            let version =
                found.as_ref().and_then(|p| version_of(&p.to_string_lossy(), &["--version"]));
            let (keys, logins) = match CREDENTIALS.iter().find(|(p, _, _)| *p == program) {
                Some((_, keys, files)) => (
                    keys.iter()
                        .filter(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()))
                        .map(|k| k.to_string())
                        .collect(),
                    files
                        .iter()
                        .filter(|f| home.join(f).is_file())
                        .map(|f| format!("~/{f}"))
                        .collect(),
                ),
                None => (Vec::new(), Vec::new()),
            };
            Some(ProviderFacts {
                name,
                command: spec.command.clone(),
                found,
                version,
                install: spec.install.clone(),
                keys,
                logins,
            })
        })
        .collect()
}

/// Every bead store of the city and its state. An embedded store's schema is read without
/// opening it, so an older one is not upgraded unless `upgrade`.
fn stores(model: &CityModel, upgrade: bool) -> Vec<(Option<String>, StoreState)> {
    use crate::beads::layout;
    let rigs = std::iter::once(None).chain(model.rigs.keys().map(|r| Some(r.as_str())));
    let mut out = Vec::new();
    for rig in rigs {
        let Ok((dir, config)) = crate::work::stores::store_config(model, rig) else { continue };
        if !dir.join(layout::CONFIG_FILE).is_file() {
            continue;
        }
        let db = dir.join(layout::DB_FILE);
        let embedded = config.backend == crate::api::city::BeadsBackend::Embedded;
        let versions =
            (embedded && db.is_file()).then(|| crate::beads::embedded::schema_versions(&db));
        let broken = |why: String| StoreState::Broken(why, store_fix(&config));
        let state = match versions {
            Some(Err(e)) => broken(format!("{}: {e}", db.display())),
            Some(Ok((old, new))) if old < new && !upgrade => StoreState::Older(old, new),
            _ => match layout::open_with(&dir, &config).and_then(|s| {
                s.list(&crate::beads::ListQuery { limit: Some(1), ..Default::default() })
            }) {
                Ok(_) => StoreState::Current,
                Err(e) => broken(format!("{}: {e}", dir.display())),
            },
        };
        out.push((rig.map(str::to_owned), state));
    }
    out
}

/// How to mend a store of `config`'s backend that does not open.
fn store_fix(config: &crate::beads::layout::StoreConfig) -> String {
    use crate::api::city::BeadsBackend;
    match config.backend {
        BeadsBackend::Postgres => {
            let var = config.url_env.as_deref().unwrap_or(crate::beads::postgres::DEFAULT_URL_ENV);
            format!(
                "export {var} (the City's beads.urlEnv) with the connection string, \
                 postgres://USER:PASSWORD@HOST/DB, where gc runs; check the server is up"
            )
        }
        BeadsBackend::Exec => "run `gc bd list` to see the store script's own error".into(),
        BeadsBackend::Bd => "run `bd list` in that store to see bd's own error".into(),
        BeadsBackend::Embedded => {
            "see `gc bd list` in that store; restore .gc/beads from a backup \
                                   or `bd import` an export"
                .into()
        }
    }
}

/// Sessions with the city's prefix on its socket: all of them, and those no applied agent owns.
fn sessions(city_dir: &Path, model: &CityModel) -> (Vec<String>, Vec<String>) {
    let Ok((ctx, _)) = crate::controllers::reconcile::Context::with_model(city_dir, "gc doctor")
    else {
        return (Vec::new(), Vec::new());
    };
    let city = model.city_name();
    let Ok(listed) = ctx.runtime.list(&model.session_prefix()) else {
        return (Vec::new(), Vec::new());
    };
    let live: Vec<String> = listed.into_iter().map(|s| s.name).collect();
    let orphaned = live
        .iter()
        .filter(|name| {
            !model.agents.keys().any(|a| crate::controllers::launch::is_session_of(&city, a, name))
        })
        .cloned()
        .collect();
    (live, orphaned)
}

/// Processes started for a session of this city (gc sets `GC_CITY` and `GC_SESSION` in every
/// session) whose session is not among `live`.
fn stray_processes(city_dir: &Path, live: &[String]) -> Vec<Stray> {
    use crate::runtime::procs;
    let me = std::process::id();
    // Sessions see the city directory as gc resolved it; look for either spelling.
    let mut dirs = vec![city_dir.to_path_buf()];
    dirs.extend(std::fs::canonicalize(city_dir).ok().filter(|c| c != city_dir));
    let mut pids: Vec<u32> =
        dirs.iter().flat_map(|d| procs::marked(&format!("GC_CITY={}", d.display()))).collect();
    pids.sort_unstable();
    pids.dedup();
    pids.into_iter()
        .filter(|&pid| pid != me)
        .filter_map(|pid| {
            let session = procs::env_var(pid, "GC_SESSION")?;
            (!live.contains(&session)).then(|| Stray {
                pid,
                session,
                command: procs::command_line(pid),
            })
        })
        .collect()
}

fn stop_sessions(city_dir: &Path, names: &[String]) -> bool {
    let Ok((ctx, _)) = crate::controllers::reconcile::Context::with_model(city_dir, "gc doctor")
    else {
        return false;
    };
    names.iter().all(|n| ctx.runtime.stop(n, Duration::from_secs(5)).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmux_must_be_there_and_3_0_or_newer() {
        assert_eq!(tmux(None).level, Level::Fail);
        assert_eq!(tmux(Some("tmux 3.3a")).level, Level::Ok);
        assert_eq!(tmux(Some("tmux next-3.6")).level, Level::Ok);
        assert_eq!(tmux(Some("tmux 2.9")).level, Level::Fail);
        assert_eq!(tmux(Some("weird")).level, Level::Warn);
    }

    #[test]
    fn a_provider_cli_is_checked_for_presence_version_and_credentials() {
        let missing = ProviderFacts {
            name: "claude".into(),
            command: "claude".into(),
            install: Some("npm i -g @anthropic-ai/claude-code".into()),
            ..Default::default()
        };
        let checks = provider(&missing);
        assert_eq!((checks.len(), checks[0].level), (1, Level::Fail));
        assert_eq!(checks[0].fix.as_deref(), Some("npm i -g @anthropic-ai/claude-code"));
        let there = ProviderFacts {
            found: Some("/usr/bin/claude".into()),
            version: Some("2.1.332 (Claude Code)".into()),
            ..missing.clone()
        };
        let checks = provider(&there);
        assert_eq!(checks[0].level, Level::Ok);
        assert_eq!(checks[1].level, Level::Warn, "no key and no login");
        let logged_in = ProviderFacts { keys: vec!["ANTHROPIC_API_KEY".into()], ..there.clone() };
        assert_eq!(provider(&logged_in)[1].level, Level::Ok);
        assert!(!provider(&logged_in)[1].message.contains("sk-"), "only the key's name is shown");
        let newer = ProviderFacts { version: Some("3.0.1 (Claude Code)".into()), ..logged_in };
        assert_eq!(provider(&newer)[0].level, Level::Warn);
        let shell = ProviderFacts {
            name: "shell".into(),
            command: "bash".into(),
            found: Some("/bin/bash".into()),
            version: Some("GNU bash, version 5.2".into()),
            ..Default::default()
        };
        assert_eq!(provider(&shell).len(), 1, "no credentials to check for a plain program");
    }

    #[test]
    fn state_disk_and_controller_verdicts() {
        assert_eq!(state_dir(Some(0o40755), true).level, Level::Ok);
        assert_eq!(state_dir(Some(0o40777), true).level, Level::Fail);
        assert_eq!(state_dir(Some(0o40755), false).level, Level::Fail);
        assert_eq!(state_dir(None, false).level, Level::Ok);
        assert_eq!(disk(Some(50 * 1024 * 1024)).level, Level::Fail);
        assert_eq!(disk(Some(500 * 1024 * 1024)).level, Level::Warn);
        assert_eq!(disk(Some(5 << 30)).level, Level::Ok);
        assert_eq!(controller(Some(7), false).level, Level::Fail);
        assert_eq!(controller(None, false).level, Level::Ok);
        assert_eq!(orphans(&["gc-x-old".into()]).level, Level::Warn);
        assert_eq!(strays(&[]).level, Level::Ok);
        let stray = Stray { pid: 42, session: "gc-x-gone".into(), command: "node mcp".into() };
        let verdict = strays(&[stray]);
        assert_eq!(verdict.level, Level::Warn);
        assert!(verdict.message.contains("42 (gc-x-gone: node mcp)"), "{}", verdict.message);
        assert_eq!(store("city", &StoreState::Older(0, 1)).level, Level::Warn);
        let broken = store("city", &StoreState::Broken("x".into(), "y".into()));
        assert_eq!((broken.level, broken.fix.as_deref()), (Level::Fail, Some("y")));
        assert_eq!(store("city", &StoreState::Current).level, Level::Ok);
    }
}
