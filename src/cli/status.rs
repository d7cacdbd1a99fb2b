//! `gc status`: the city at a glance: controller, agents, sessions.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;

use super::present::ListOutput;
use crate::api::Kind;
use crate::api::status::{
    AgentPhase, AgentStatus, Condition, ConditionStatus, ConditionType, SessionPhase, condition,
};
use crate::controllers::manager;
use crate::controllers::model::CityModel;
use crate::store::{Damaged, Store};

/// Show the city at a glance: whether its controller runs, each agent's phase and sessions.
///
/// With no controller running, what the last one recorded may be stale: agents it did not
/// leave `Stopped` show `Unknown`, with the time it last saw them.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  gc status\n  gc status -o json | jq '.agents[].status.phase'")]
pub struct Args {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = ListOutput::Table)]
    output: ListOutput,
}

/// The controller as `gc status` reports it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ControllerView {
    /// Whether a controller process holds the city's lock.
    pub running: bool,
    /// Its process id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Whether it answered on its socket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answering: Option<bool>,
}

/// One agent with the status `gc status` shows for it.
#[derive(Debug, Serialize)]
pub struct AgentView {
    /// The agent's name.
    pub name: String,
    /// Its status as it can be trusted now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<AgentStatus>,
    /// Why its recorded status could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Its tokens and spend today (UTC), read from its sessions' transcripts (agents whose
    /// Provider counts `usage`).
    #[serde(rename = "spendToday", skip_serializing_if = "Option::is_none")]
    pub spend_today: Option<crate::usage::report::Row>,
}

/// `gc status -o json|yaml`: the controller, each agent with its status, and what needs a
/// person.
#[derive(Debug, Serialize)]
pub struct CityView {
    /// The city's name.
    pub city: String,
    /// The controller.
    pub controller: ControllerView,
    /// Every applied agent.
    pub agents: Vec<AgentView>,
    /// What keeps agents from running, one paragraph each.
    pub problems: Vec<String>,
    /// The convoys not landed yet, with their progress.
    pub convoys: Vec<crate::work::convoy::ConvoyView>,
}

/// The city as `gc status -o json` and the dashboard's `/api/v1/status` show it.
pub fn city_view(city_dir: &Path) -> Result<CityView, crate::store::StoreError> {
    let pid = manager::running_pid(city_dir);
    let answering =
        pid.map(|_| crate::notify::request(city_dir, "ping", Duration::from_secs(2)).is_some());
    let controller = ControllerView { running: pid.is_some(), pid, answering };
    let store = Store::new(city_dir);
    let model = CityModel::load_specs(city_dir, &store)?;
    let mut agents = agent_views(&store, &model, controller.running)?;
    add_spend(city_dir, &model, &mut agents);
    let problems = problems(&model, &agents);
    let convoys = crate::work::convoy::list(&model, false).unwrap_or_default();
    Ok(CityView { city: model.city_name(), controller, agents, problems, convoys })
}

/// Runs `gc status`.
pub fn run(args: Args, city: Option<PathBuf>) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let city_dir = super::city_dir_or_cwd(city)?;
    let view = city_view(&city_dir)?;
    if let Some(document) = args.output.document(&view) {
        print!("{document}");
        return Ok(ExitCode::SUCCESS);
    }
    match (view.controller.pid, view.controller.answering) {
        (Some(pid), Some(true)) => println!("Controller: running (pid {pid}), answering"),
        (Some(pid), _) => println!("Controller: running (pid {pid}), NOT answering on its socket"),
        (None, _) => println!("Controller: not running (start it with `gc start`)"),
    }
    println!();
    print_table(&view.agents);
    if !view.convoys.is_empty() {
        println!();
        let rows: Vec<Vec<String>> = view
            .convoys
            .iter()
            .map(|c| {
                let p = c.progress;
                vec![
                    c.id.clone(),
                    format!("{}/{} closed", p.closed, p.total),
                    p.in_progress.to_string(),
                    c.title.clone(),
                ]
            })
            .collect();
        print!("{}", super::present::table(&["CONVOY", "PROGRESS", "WORKING", "TITLE"], &rows));
    }
    if !view.problems.is_empty() {
        println!();
        for line in &view.problems {
            println!("{line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Puts each agent's spend today on its view.
fn add_spend(city_dir: &Path, model: &CityModel, agents: &mut [AgentView]) {
    use crate::usage::report;
    let ledger = crate::usage::ledger::current(city_dir, model);
    let today = report::start_of_day(chrono::Utc::now());
    let mut spend = report::per_agent(&ledger, model, Some(today));
    for agent in agents {
        agent.spend_today = spend.remove(&agent.name);
    }
}

/// Each applied agent with its recorded status, as it stands when `controller_running` says
/// whether anyone keeps it current. An agent held by a damaged object (itself, the City, its
/// rig or provider) is `Degraded`, saying which and why.
fn agent_views(
    store: &Store,
    model: &CityModel,
    controller_running: bool,
) -> Result<Vec<AgentView>, crate::store::StoreError> {
    let mut views = Vec::new();
    for name in store.names(Kind::Agent)? {
        let (status, error) = match store.status::<AgentStatus>(Kind::Agent, &name) {
            Ok(status) => (status, None),
            Err(e) => (None, Some(e.to_string())),
        };
        let last_seen = store.status_modified(Kind::Agent, &name);
        let mut status = status.map(|s| as_seen(s, controller_running, last_seen.as_deref()));
        if let Some(why) = model.held_by_damage(&name) {
            let s = status.get_or_insert_with(AgentStatus::default);
            s.phase = AgentPhase::Degraded;
            s.conditions.retain(|c| c.kind != ConditionType::Degraded);
            s.conditions.push(Condition::new(ConditionType::Degraded, true, "Unreadable", why));
        }
        views.push(AgentView { name, status, error, spend_today: None });
    }
    Ok(views)
}

/// A recorded status as it can be trusted: with no controller running, an agent not left
/// `Stopped` is `Unknown` (and so are its sessions), last seen when the status was written.
pub fn as_seen(
    mut status: AgentStatus,
    controller_running: bool,
    last_seen: Option<&str>,
) -> AgentStatus {
    if controller_running || status.phase == AgentPhase::Stopped {
        return status;
    }
    status.phase = AgentPhase::Unknown;
    status.ready_sessions = 0;
    if status.last_seen.is_none() {
        status.last_seen = last_seen.map(str::to_owned);
    }
    for session in &mut status.sessions {
        session.phase = SessionPhase::Unknown;
        session.ready = false;
    }
    let seen = status.last_seen.clone().unwrap_or_else(|| "at an unknown time".to_owned());
    for c in &mut status.conditions {
        c.status = ConditionStatus::Unknown;
        c.reason = "ControllerNotRunning".to_owned();
        c.message = format!("no controller is running; last seen {seen}");
    }
    status
}

/// What keeps agents from running, one paragraph each: a provider's CLI that is not installed,
/// an agent that is not healthy (its Ready condition), the screen a blocked session is
/// stopped at, and a status that cannot be read.
fn problems(model: &CityModel, agents: &[AgentView]) -> Vec<String> {
    let mut lines: Vec<String> = model
        .damaged
        .iter()
        .map(|((kind, name), error)| {
            let damaged = Damaged { kind: *kind, name: name.clone(), error: error.clone() };
            format!("{} is Degraded: {}", damaged.key(), super::present::damaged_hint(&damaged))
        })
        .collect();
    lines.extend(crate::controllers::provider::missing_commands(model));
    for agent in agents {
        if let Some(error) = &agent.error {
            lines.push(format!("agent/{} status cannot be read: {error}", agent.name));
        }
        let Some(status) = &agent.status else { continue };
        let phase = status.phase;
        if !matches!(
            phase,
            AgentPhase::Blocked
                | AgentPhase::Degraded
                | AgentPhase::Quarantined
                | AgentPhase::CrashLoop
        ) {
            continue;
        }
        // A damaged object was said above; an agent it holds says which.
        if model.damaged.contains_key(&(Kind::Agent, agent.name.clone())) {
            continue;
        }
        let message = condition(&status.conditions, ConditionType::Degraded)
            .filter(|c| c.status == ConditionStatus::True)
            .or_else(|| condition(&status.conditions, ConditionType::Ready))
            .map(|c| c.message.as_str());
        let mut line =
            format!("agent/{} is {}: {}", agent.name, phase.as_str(), message.unwrap_or("-"));
        for row in &status.sessions {
            let Some(screen) = &row.screen else { continue };
            line.push_str(&format!("\n  {} shows:", row.name));
            for text in screen.lines() {
                line.push_str(&format!("\n  │ {text}"));
            }
        }
        lines.push(line);
    }
    lines
}

/// A table of the agents with their status: phase, ready sessions, restarts, sessions.
fn print_table(agents: &[AgentView]) {
    if agents.is_empty() {
        println!("No agents applied.");
        return;
    }
    let spending = agents.iter().any(|a| a.spend_today.is_some());
    let rows: Vec<Vec<String>> = agents
        .iter()
        .map(|agent| match &agent.status {
            None => {
                let phase = if agent.error.is_some() { "Degraded" } else { "-" };
                vec![agent.name.clone(), phase.into(), "-".into(), "-".into(), "-".into()]
            }
            Some(s) => {
                let sessions: Vec<String> =
                    s.sessions.iter().map(|r| format!("{} {}", r.name, r.phase.as_str())).collect();
                let mut phase = s.phase.as_str().to_owned();
                if let (AgentPhase::Unknown, Some(seen)) = (s.phase, &s.last_seen) {
                    phase = format!("Unknown (last seen {seen})");
                }
                vec![
                    agent.name.clone(),
                    phase,
                    format!("{}/{}", s.ready_sessions, s.desired_sessions),
                    s.restarts.to_string(),
                    if sessions.is_empty() { "-".into() } else { sessions.join(", ") },
                ]
            }
        })
        .zip(agents)
        .map(|(mut row, agent)| {
            if spending {
                row.insert(4, agent.spend_today.as_ref().map_or("-".into(), spend_cell));
            }
            row
        })
        .collect();
    let mut headers = vec!["AGENT", "PHASE", "READY", "RESTARTS", "SESSIONS"];
    if spending {
        headers.insert(4, "TODAY");
    }
    print!("{}", super::present::table(&headers, &rows));
}

/// `$0.2936 (75.5k tokens)`.
fn spend_cell(row: &crate::usage::report::Row) -> String {
    let tokens = match row.tokens {
        t if t >= 1_000_000 => format!("{:.1}M", t as f64 / 1e6),
        t if t >= 1_000 => format!("{:.1}k", t as f64 / 1e3),
        t => t.to_string(),
    };
    format!("{} ({tokens} tokens)", super::costs::dollars(row.cost))
}

/// The agents table and the problems paragraph, as `gc status` prints them (for `gc start`).
pub fn print_agents_and_problems(city_dir: &Path) -> Result<(), crate::store::StoreError> {
    let store = Store::new(city_dir);
    let model = CityModel::load_specs(city_dir, &store)?;
    let agents = agent_views(&store, &model, manager::running_pid(city_dir).is_some())?;
    print_table(&agents);
    let problems = problems(&model, &agents);
    if !problems.is_empty() {
        println!();
        for line in problems {
            println!("{line}");
        }
    }
    Ok(())
}
