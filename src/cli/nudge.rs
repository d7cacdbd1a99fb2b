//! `gc nudge`: the per-session nudge queues — what waits, what was delivered, what died — and
//! draining them (the controller does it by itself; the CLI's prompt hook does it with
//! `--inject`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::controllers::model::CityModel;
use crate::controllers::nudge_queue::{NudgeState, QueuedNudge, Queues};

/// Queued nudges: list them, or deliver them now.
///
/// `gc session nudge NAME TEXT --delivery queue` (or a `wait-idle` nudge whose agent stayed
/// busy) puts a nudge in its session's queue under `.gc/state/nudge/`. The controller types
/// each as a turn of its own once the agent is idle; the agent's prompt hook hands every
/// queued one over with a turn someone else submitted — whichever comes first, never both.
/// A nudge still queued at its deadline is dead-lettered (a `nudge.dead` event).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: NudgeCommand,
}

#[derive(Debug, clap::Subcommand)]
enum NudgeCommand {
    /// List queued, delivered and dead nudges (of one session, or all).
    Status {
        /// A session or agent (default: every session with a queue).
        session: Option<String>,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = super::present::ListOutput::Table)]
        output: super::present::ListOutput,
        /// Print JSON (the same as `-o json`).
        #[arg(long)]
        json: bool,
    },
    /// Deliver a session's queued nudges now, each as a turn once the agent is idle; with
    /// --inject, as the CLI's prompt hook: print them for the turn being submitted.
    Drain {
        /// The session or agent (default: GC_SESSION, inside a session).
        session: Option<String>,
        /// Answer as the CLI's prompt hook (reads the hook's JSON on stdin; always exits 0).
        #[arg(long)]
        inject: bool,
        /// The answer's form for `--inject`: `claude` (Claude Code, Codex) or `gemini`.
        #[arg(long, value_enum, default_value = "claude", requires = "inject")]
        format: super::hook::Format,
    },
}

/// Runs `gc nudge`.
pub fn run(args: Args, city: Option<PathBuf>) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let city_dir = std::path::absolute(super::city_dir_or_cwd(city)?)?;
    match args.command {
        NudgeCommand::Status { session, output, json } => {
            let output = if json { super::present::ListOutput::Json } else { output };
            status(&city_dir, session.as_deref(), output)
        }
        NudgeCommand::Drain { session, inject: true, format } => {
            let input = super::hook_input::read();
            let text = session
                .or_else(super::work_context::session_from_env)
                .and_then(|s| take(&city_dir, &s, input.prompt.as_deref()))
                .unwrap_or_default();
            let format = crate::api::provider::HookFormat::from(format);
            let answer = crate::agentcli::hooks::prompt_answer(format, &text);
            if !answer.is_empty() {
                println!("{answer}");
            }
            Ok(ExitCode::SUCCESS)
        }
        NudgeCommand::Drain { session, inject: false, .. } => {
            let session = session
                .or_else(super::work_context::session_from_env)
                .ok_or("name the session to drain (or run it inside one)")?;
            let ctx = crate::controllers::reconcile::Context::for_city(&city_dir, "gc nudge")?;
            let model = CityModel::load(&city_dir, &ctx.store)?;
            let session = resolve(&model, &session)?;
            let rules = crate::controllers::nudge::rules_for(&model, &session);
            let queues = Queues::new(&city_dir, "gc nudge");
            let n = crate::controllers::nudge::drain(
                &city_dir,
                ctx.runtime.as_ref(),
                &session,
                &rules,
                &queues,
            )?;
            let left = queues.load(&session)?.nudges.iter().filter(|n| n.is_pending()).count();
            println!("delivered {n} nudge(s) to {session}; {left} still queued");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// What the prompt hook of `session` hands the model for the turn whose prompt is `prompt`:
/// the queued nudges it takes, or `None`. Problems go to stderr: a hook never fails a turn.
fn take(city_dir: &Path, session: &str, prompt: Option<&str>) -> Option<String> {
    let taken = Queues::new(city_dir, "gc nudge")
        .take_for_prompt(session, prompt)
        .map_err(|e| eprintln!("gc nudge drain: {e}"))
        .ok()?;
    if taken.is_empty() {
        return None;
    }
    let mut text = String::from("Queued messages for you (oldest first):");
    for nudge in &taken {
        text.push_str(&format!("\n\n{}", nudge.text));
    }
    Some(text)
}

/// The queued nudges of the session this prompt hook runs in (GC_SESSION), as text for the
/// turn whose prompt is `prompt`; `None` when there are none.
pub(super) fn for_prompt_hook(city: Option<PathBuf>, prompt: Option<&str>) -> Option<String> {
    let session = super::work_context::session_from_env()?;
    let city_dir = super::city_dir_or_cwd(city).ok()?;
    take(&city_dir, &session, prompt)
}

/// Says so on stderr when no controller runs to drain a queue.
pub(super) fn warn_without_controller(city_dir: &Path) {
    if crate::controllers::manager::running_pid(city_dir).is_none() {
        eprintln!(
            "no controller is running: the nudge waits until `gc start` (or the agent's next \
             prompt, which its prompt hook hands it over with)"
        );
    }
}

/// A session name from a session or agent name.
fn resolve(model: &CityModel, name: &str) -> Result<String, Box<dyn std::error::Error>> {
    let session = if model.agents.contains_key(name) {
        crate::controllers::launch::session_name(&model.city_name(), name, 0)
    } else {
        name.to_owned()
    };
    crate::runtime::validate_name(&session)?;
    Ok(session)
}

fn status(
    city_dir: &Path,
    session: Option<&str>,
    output: super::present::ListOutput,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let queues = Queues::new(city_dir, "gc nudge");
    let sessions = match session {
        Some(name) => {
            let model = CityModel::load_specs(city_dir, &crate::store::Store::new(city_dir))?;
            vec![resolve(&model, name)?]
        }
        None => queues.sessions(),
    };
    let mut rows: Vec<(String, QueuedNudge)> = Vec::new();
    for session in sessions {
        for nudge in queues.load(&session)?.nudges {
            rows.push((session.clone(), nudge));
        }
    }
    let items: Vec<serde_json::Value> = rows
        .iter()
        .map(|(session, nudge)| {
            let mut value = serde_json::to_value(nudge).unwrap_or_default();
            value["session"] = session.clone().into();
            value
        })
        .collect();
    if let Some(document) = output.document(&items) {
        print!("{document}");
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!("No nudges.");
        return Ok(ExitCode::SUCCESS);
    }
    let now = chrono::Utc::now();
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|(session, n)| {
            let state = match &n.state {
                NudgeState::Queued if n.expires_at <= now => "queued (expired)".to_owned(),
                NudgeState::Queued => "queued".to_owned(),
                NudgeState::Sending { .. } => "sending".to_owned(),
                NudgeState::Delivered { by, .. } => {
                    format!(
                        "delivered ({})",
                        serde_json::to_value(by).unwrap_or_default().as_str().unwrap_or("-")
                    )
                }
                NudgeState::Dead { reason, .. } => format!("dead: {reason}"),
            };
            let text: String = n.text.chars().take(48).collect();
            let text = if text.len() < n.text.len() { format!("{text}…") } else { text };
            vec![
                session.clone(),
                n.id.clone(),
                state,
                n.from.clone(),
                n.queued_at.format("%H:%M:%S").to_string(),
                text.replace('\n', " "),
            ]
        })
        .collect();
    print!(
        "{}",
        super::present::table(&["SESSION", "ID", "STATE", "FROM", "QUEUED", "TEXT"], &table)
    );
    Ok(ExitCode::SUCCESS)
}
