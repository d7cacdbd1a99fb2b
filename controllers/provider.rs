//! The Provider controller's probe: is the provider's command installed, where, which version.
//! Recorded in the provider's status so `gc get providers` says `claude` is missing before any
//! agent tries to start it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::api::status::{Condition, ConditionType, ProviderStatus};

use crate::store::StoredObject;

/// How long `--version` may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(3);

/// The status of the provider `stored`: `available`, `path`, `version`, `observedGeneration`
/// and a `Ready` condition.
pub fn probe(city_dir: &Path, stored: &StoredObject) -> ProviderStatus {
    let command = stored.spec.get("command").and_then(Value::as_str).unwrap_or_default();
    let generation = stored.metadata.generation;
    let Some(path) = resolve(city_dir, command) else {
        let spec: Option<crate::api::provider::ProviderSpec> =
            serde_json::from_value(stored.spec.clone()).ok();
        let message = match spec {
            Some(spec) => missing_message(&stored.metadata.name, &spec),
            None => format!("`{command}` is not on PATH"),
        };
        return ProviderStatus {
            observed_generation: generation,
            available: false,
            path: None,
            version: None,
            conditions: vec![Condition::new(
                ConditionType::Ready,
                false,
                "CommandNotFound",
                message,
            )],
        };
    };
    let version = version_of(&path);
    ProviderStatus {
        observed_generation: generation,
        available: true,
        path: Some(path.display().to_string()),
        version,
        conditions: vec![Condition::new(
            ConditionType::Ready,
            true,
            "CommandFound",
            format!("{} found", path.display()),
        )],
    }
}

/// What is said when provider `name`'s command cannot be found: which command, and how to
/// install it when the Provider says.
pub fn missing_message(name: &str, spec: &crate::api::provider::ProviderSpec) -> String {
    let command = &spec.command;
    let what = if command.contains('/') {
        format!(
            "provider `{name}`: {command} does not exist in the city directory or is not executable"
        )
    } else {
        format!("provider `{name}`: `{command}` is not installed (not on PATH)")
    };
    match &spec.install {
        Some(install) => format!("{what}; install it with `{install}`"),
        None => what,
    }
}

/// The providers the city's agents use (their own, else the City's default).
pub fn used_providers(model: &super::model::CityModel) -> std::collections::BTreeSet<String> {
    let default = model.city_spec().default_provider;
    model
        .agents
        .values()
        .filter_map(|a| a.spec.provider.clone().or_else(|| default.clone()))
        .collect()
}

/// For each provider some agent uses whose command is not installed: what is said of it.
pub fn missing_commands(model: &super::model::CityModel) -> Vec<String> {
    used_providers(model)
        .iter()
        .filter_map(|name| Some((name, &model.providers.get(name)?.spec)))
        .filter(|(_, spec)| resolve(&model.dir, &spec.command).is_none())
        .map(|(name, spec)| missing_message(name, spec))
        .collect()
}

/// Where `command` is: a path inside the city when it has a slash, else the first match on
/// PATH. Only executable files count.
pub fn resolve(city_dir: &Path, command: &str) -> Option<PathBuf> {
    if command.is_empty() {
        return None;
    }
    if command.contains('/') {
        let path = city_dir.join(command);
        return is_executable(&path).then_some(path);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(command))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The first line `PATH --version` prints, when it answers in time with success.
fn version_of(path: &Path) -> Option<String> {
    let mut command = Command::new(path);
    command
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0);
    // SAFETY: the closure runs in the forked child before exec and makes one prctl system
    // call, which is async-signal-safe; it allocates nothing and takes no locks.
    unsafe {
        // A controller killed while it asks must not leave the CLI behind (its own group is
        // out of reach of a kill of the controller's group).
        command.pre_exec(|| {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
                .map_err(std::io::Error::from)
        });
    }
    let mut child = command.spawn().ok()?;
    let deadline = Instant::now() + VERSION_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break,
            Ok(Some(_)) | Err(_) => return None,
            Ok(None) if Instant::now() >= deadline => {
                crate::beads::process::kill_and_reap(&mut child);
                return None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take()?, &mut out).ok()?;
    out.lines().map(str::trim).find(|l| !l.is_empty()).map(str::to_owned)
}

use std::os::unix::process::CommandExt as _;
