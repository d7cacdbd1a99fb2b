//! `gc describe`: one resource in detail: spec, status conditions, recent events.

use std::fmt::Write as _;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::Value;

use super::present::{age, table};
use crate::store::Store;

/// Show one resource in detail: metadata, spec, status conditions and recent events.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// KIND/NAME (e.g. agent/mayor), or KIND followed by NAME.
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(super::completion::targets))]
    target: String,

    /// NAME, when the first argument is only a KIND.
    name: Option<String>,
}

/// How many of the object's latest events are shown.
const RECENT_EVENTS: usize = 10;

/// Runs `gc describe`.
pub fn run(args: Args, city: Option<PathBuf>) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let (kind, name) = super::parse_target(&args.target, args.name.as_deref())?;
    let city_dir = super::city_dir_or_cwd(city)?;
    let store = Store::new(&city_dir);
    let object = match store.get(kind, &name) {
        Ok(Some(object)) => object,
        Ok(None) => {
            eprintln!("gc: {} not found", kind.key(&name));
            return Ok(ExitCode::from(1));
        }
        Err(e @ crate::store::StoreError::Corrupt { .. }) => {
            let damaged = crate::store::Damaged { kind, name: name.clone(), error: e.to_string() };
            println!("Name:              {name}");
            println!("Kind:              {}", kind.as_str());
            println!("Status:            Degraded");
            println!("Message:           {}", super::present::damaged_hint(&damaged));
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => return Err(e.into()),
    };
    let status = store.status_value(kind, &name)?;
    let now = chrono::Utc::now();
    let meta = &object.metadata;
    let pairs = |m: &std::collections::BTreeMap<String, String>| {
        if m.is_empty() {
            "<none>".to_owned()
        } else {
            m.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
        }
    };
    let mut out = String::new();
    let _ = writeln!(out, "Name:              {}", meta.name);
    let _ = writeln!(out, "Kind:              {}", kind.as_str());
    let _ = writeln!(out, "Labels:            {}", pairs(&meta.labels));
    let _ = writeln!(out, "Annotations:       {}", pairs(&meta.annotations));
    let _ = writeln!(out, "Source:            {}", object.source.as_deref().unwrap_or("<unknown>"));
    let _ = writeln!(out, "Generation:        {}", meta.generation);
    let _ = writeln!(out, "Resource Version:  {}", meta.resource_version);
    let _ = writeln!(
        out,
        "Created:           {} ({} ago)",
        meta.creation_timestamp,
        age(&meta.creation_timestamp, now)
    );
    let _ = writeln!(out, "UID:               {}", meta.uid);
    if let Some(line) = cli_line(&city_dir, kind, &object) {
        out.push_str(&line);
    }
    out.push_str("Spec:\n");
    out.push_str(&indent(&serde_yaml_ng::to_string(&object.spec).unwrap_or_default()));
    out.push_str("Status:\n");
    match &status {
        None => out.push_str("  <none: no controller has reported on it yet>\n"),
        Some(status) => {
            let conditions = status.get("conditions").and_then(Value::as_array);
            match conditions {
                Some(conditions) if !conditions.is_empty() => {
                    let rows: Vec<Vec<String>> = conditions
                        .iter()
                        .map(|c| {
                            let f = |k: &str| {
                                c.get(k).and_then(Value::as_str).unwrap_or("-").to_owned()
                            };
                            vec![f("type"), f("status"), f("reason"), f("message")]
                        })
                        .collect();
                    out.push_str("  Conditions:\n");
                    let table =
                        super::present::table(&["TYPE", "STATUS", "REASON", "MESSAGE"], &rows);
                    out.push_str(&indent(&indent(&table)));
                }
                _ => out.push_str("  Conditions:  <none>\n"),
            }
            let mut rest = status.clone();
            if let Value::Object(m) = &mut rest {
                m.remove("conditions");
                if !m.is_empty() {
                    out.push_str(&indent(&serde_yaml_ng::to_string(&rest).unwrap_or_default()));
                }
            }
        }
    }
    if kind == crate::api::Kind::Agent {
        out.push_str(&sessions_section(&city_dir, &name, status.as_ref()));
        out.push_str(&usage_section(&city_dir, &name));
    }
    let mut events = Vec::new();
    crate::events::scan_back(&city_dir, |e| {
        if e.is_about(kind, &name) {
            events.push(e);
        }
        if events.len() < RECENT_EVENTS {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    })?;
    if events.is_empty() {
        out.push_str("Events:            <none>\n");
    } else {
        out.push_str("Events:\n");
        let rows: Vec<Vec<String>> = events
            .iter()
            .rev()
            .map(|e| {
                vec![age(&e.ts, now), e.event_type.clone(), e.reason.clone(), e.message.clone()]
            })
            .collect();
        out.push_str(&indent(&table(&["AGE", "TYPE", "REASON", "MESSAGE"], &rows)));
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// For a Provider, or an Agent through its provider: whether the CLI is installed here, and
/// how to install it when it is not — said now, not only once a controller reported.
fn cli_line(
    city_dir: &std::path::Path,
    kind: crate::api::Kind,
    object: &crate::store::StoredObject,
) -> Option<String> {
    use crate::api::Kind;
    let store = Store::new(city_dir);
    let (name, spec) = match kind {
        Kind::Provider => (object.metadata.name.clone(), object.spec.clone()),
        Kind::Agent => {
            let named = object.spec.get("provider").and_then(Value::as_str).map(str::to_owned);
            let name = named.or_else(|| {
                let city = store.list_kind(Kind::City).ok()?.objects.into_iter().next()?;
                city.spec.get("defaultProvider")?.as_str().map(str::to_owned)
            })?;
            (name.clone(), store.get(Kind::Provider, &name).ok()??.spec)
        }
        _ => return None,
    };
    let spec: crate::api::provider::ProviderSpec = serde_json::from_value(spec).ok()?;
    let line = match crate::controllers::provider::resolve(city_dir, &spec.command) {
        Some(path) => format!("CLI:               {} (provider {name})\n", path.display()),
        None => format!(
            "CLI:               NOT INSTALLED: {}\n",
            crate::controllers::provider::missing_message(&name, &spec)
        ),
    };
    Some(line)
}

/// What the agent's sessions run with: command line and environment, secrets masked — as each
/// running session was started (its launch file), or for an agent with none running, as
/// `gc start` from this shell would start it.
fn sessions_section(city_dir: &std::path::Path, agent: &str, status: Option<&Value>) -> String {
    use crate::runtime::launch::LaunchSpec;
    let mut out = String::new();
    let names: Vec<String> = status
        .and_then(|s| s.get("sessions"))
        .and_then(Value::as_array)
        .map(|rows| {
            rows.iter().filter_map(|r| r.get("name")?.as_str().map(str::to_owned)).collect()
        })
        .unwrap_or_default();
    let sessions = crate::runtime::tmux::default_state_dir(city_dir);
    let mut shown = false;
    for name in names {
        let Ok(text) = std::fs::read(sessions.join(format!("{name}.launch"))) else { continue };
        let Ok(spec) = serde_json::from_slice::<LaunchSpec>(&text) else { continue };
        let _ = writeln!(out, "Session {name}:");
        out.push_str(&launch_lines(&spec.argv, &spec.env));
        shown = true;
    }
    if shown {
        return out;
    }
    let store = Store::new(city_dir);
    let Ok(model) = crate::controllers::model::CityModel::load(city_dir, &store) else {
        return out;
    };
    let members = [1];
    if let Ok(launches) = crate::controllers::launch::launches(&model, agent, &members)
        && let Some(launch) = launches.first()
    {
        let env = crate::agentcli::env::build(&launch.env, &launch.pass_env, std::env::vars());
        let config = launch.config(&model.city_name(), "<time>", &[], Default::default());
        let _ = writeln!(
            out,
            "Session {} (not running; as `gc start` from this shell starts it):",
            launch.session
        );
        out.push_str(&launch_lines(&config.argv, &env));
    }
    out
}

/// A command line (long arguments cut) and an environment (secrets masked), indented.
/// An agent's tokens and spend, per model, today (UTC) and over the last 7 days (nothing when
/// its Provider does not count usage).
fn usage_section(city_dir: &std::path::Path, agent: &str) -> String {
    use crate::usage::report::{self, By};
    let Ok(model) =
        crate::controllers::model::CityModel::load_specs(city_dir, &Store::new(city_dir))
    else {
        return String::new();
    };
    let mine = crate::usage::ledger::current(city_dir, &model).of_agent(agent);
    let now = chrono::Utc::now();
    let today = report::report(&mine, &model, Some(report::start_of_day(now)), By::Model);
    let week = report::report(&mine, &model, Some(now - chrono::Duration::days(7)), By::Model);
    if week.rows.is_empty() {
        return String::new();
    }
    let rows: Vec<Vec<String>> = week
        .rows
        .iter()
        .chain(std::iter::once(&week.total))
        .map(|row| {
            let day = if row.key == "total" {
                Some(&today.total)
            } else {
                today.rows.iter().find(|r| r.key == row.key)
            };
            vec![
                row.key.clone(),
                day.map_or("0".into(), |d| d.tokens.to_string()),
                super::costs::dollars(day.map_or(0.0, |d| d.cost)),
                row.tokens.to_string(),
                super::costs::dollars(row.cost),
            ]
        })
        .collect();
    let headers = ["MODEL", "TOKENS TODAY", "COST TODAY", "TOKENS 7D", "COST 7D"];
    format!("Usage:\n{}", indent(&table(&headers, &rows)))
}

fn launch_lines(argv: &[String], env: &std::collections::BTreeMap<String, String>) -> String {
    let cut = |arg: &String| {
        let line = arg.lines().next().unwrap_or_default();
        if line.chars().count() > 60 || arg.contains('\n') {
            format!("{}…", line.chars().take(60).collect::<String>())
        } else {
            arg.clone()
        }
    };
    let words: Vec<String> = argv.iter().map(cut).map(|a| shell_word(&a)).collect();
    let mut out = format!("  Command:  {}\n  Environment:\n", words.join(" "));
    for (name, value) in env {
        out.push_str(&format!("    {name}={}\n", crate::agentcli::env::shown(name, value)));
    }
    out
}

/// `word` quoted for a shell when it needs it (for people reading a command line).
fn shell_word(word: &str) -> String {
    shlex::try_quote(word).map(|q| q.into_owned()).unwrap_or_else(|_| word.to_owned())
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}
