//! `gc status`: the city at a glance: controller, agents, sessions.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;

use crate::api::Kind;
use crate::controllers::manager;
use crate::store::Store;

/// Show the city at a glance: whether its controller runs, each agent's phase and sessions.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `gc status`.
pub fn run(_args: Args, city: Option<PathBuf>) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let city_dir = super::city_dir_or_cwd(city)?;
    match manager::running_pid(&city_dir) {
        Some(pid) => {
            let answer = crate::notify::request(&city_dir, "ping", Duration::from_secs(2));
            let health = if answer.is_some() { "answering" } else { "NOT answering on its socket" };
            println!("Controller: running (pid {pid}), {health}");
        }
        None => println!("Controller: not running (start it with `gc start`)"),
    }
    println!();
    print_agents(&city_dir)?;
    print_problems(&city_dir)?;
    Ok(ExitCode::SUCCESS)
}

/// What keeps agents from running, one paragraph each: a provider's CLI that is not installed,
/// an agent that is not healthy (its Ready condition), and the screen a blocked session is
/// stopped at.
pub fn print_problems(city_dir: &Path) -> Result<(), crate::store::StoreError> {
    let store = Store::new(city_dir);
    let model = crate::controllers::model::CityModel::load_specs(city_dir, &store)?;
    let mut lines = crate::controllers::provider::missing_commands(&model);
    for agent in store.list_kind(Kind::Agent)? {
        let name = &agent.metadata.name;
        let Some(status) = store.status(Kind::Agent, name)? else { continue };
        let phase = status.get("phase").and_then(Value::as_str).unwrap_or_default();
        if !matches!(phase, "Blocked" | "Degraded" | "Quarantined" | "CrashLoop") {
            continue;
        }
        let ready = status.get("conditions").and_then(Value::as_array).and_then(|c| {
            c.iter().find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
        });
        let message = ready.and_then(|c| c.get("message")).and_then(Value::as_str);
        let mut line = format!("agent/{name} is {phase}: {}", message.unwrap_or("-"));
        let rows = status.get("sessions").and_then(Value::as_array).cloned().unwrap_or_default();
        for row in rows {
            let Some(screen) = row.get("screen").and_then(Value::as_str) else { continue };
            let session = row.get("name").and_then(Value::as_str).unwrap_or("?");
            line.push_str(&format!("\n  {session} shows:"));
            for text in screen.lines() {
                line.push_str(&format!("\n  │ {text}"));
            }
        }
        lines.push(line);
    }
    if !lines.is_empty() {
        println!();
        for line in lines {
            println!("{line}");
        }
    }
    Ok(())
}

/// A table of the agents with their status: phase, ready sessions, restarts, sessions.
pub fn print_agents(city_dir: &Path) -> Result<(), crate::store::StoreError> {
    let store = Store::new(city_dir);
    let mut rows = Vec::new();
    for agent in store.list_kind(Kind::Agent)? {
        let name = agent.metadata.name.clone();
        let status = store.status(Kind::Agent, &name)?.unwrap_or(Value::Null);
        let get = |key: &str| status.get(key).cloned().unwrap_or(Value::Null);
        let text = |v: Value| match v {
            Value::Null => "-".to_owned(),
            Value::String(s) => s,
            other => other.to_string(),
        };
        let ready = match (get("readySessions"), get("desiredSessions")) {
            (Value::Null, _) | (_, Value::Null) => "-".to_owned(),
            (r, d) => format!("{r}/{d}"),
        };
        let sessions = status
            .get("sessions")
            .and_then(Value::as_array)
            .map(|rows| {
                rows.iter()
                    .map(|s| {
                        format!(
                            "{} {}",
                            s.get("name").and_then(Value::as_str).unwrap_or("?"),
                            s.get("state").and_then(Value::as_str).unwrap_or("?")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "-".to_owned());
        rows.push(vec![name, text(get("phase")), ready, text(get("restarts")), sessions]);
    }
    if rows.is_empty() {
        println!("No agents applied.");
        return Ok(());
    }
    print!(
        "{}",
        super::present::table(&["AGENT", "PHASE", "READY", "RESTARTS", "SESSIONS"], &rows)
    );
    Ok(())
}
