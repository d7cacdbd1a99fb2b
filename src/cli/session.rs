//! `gc session`: look at and steer the city's agent sessions.

pub mod actions;
pub mod reset;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use crate::controllers::holds;
use crate::controllers::launch::{is_session_of, meta, session_name};
use crate::controllers::model::CityModel;
use crate::controllers::nudge;
use crate::controllers::reconcile::Context;
use crate::runtime::validate_name;

/// Look at and steer agent sessions: list, peek, attach, nudge, stop, start, reset.
///
/// SESSION is a session name (gc-<city>-<agent>[-<n>]) or an agent name, which means the
/// agent's only session.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: SessionCommand,
}

#[derive(Debug, clap::Subcommand)]
enum SessionCommand {
    /// List the city's sessions.
    List {
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = super::present::ListOutput::Table)]
        output: super::present::ListOutput,
    },
    /// Print the last lines a session showed (also of one whose program exited).
    Peek {
        /// The session.
        session: String,
        /// How many lines.
        #[arg(short = 'n', long, default_value_t = 40)]
        lines: usize,
    },
    /// Attach your terminal to a session (detach with tmux's prefix, Ctrl-b d).
    Attach {
        /// The session.
        #[arg(add = clap_complete::engine::ArgValueCompleter::new(super::completion::sessions))]
        session: String,
    },
    /// Type text into a session and press Enter, once the agent is idle; or queue it.
    ///
    /// The text is typed literally, then Enter, and gc checks the CLI took it (it went busy or
    /// the text left its input line), pressing Enter again if not; a nudge that cannot be
    /// confirmed exits 1 with a `nudge.failed` event. `gc nudge status` shows the queue.
    Nudge {
        /// The session.
        #[arg(add = clap_complete::engine::ArgValueCompleter::new(super::completion::sessions))]
        session: String,
        /// The text.
        #[arg(required = true, num_args = 1..)]
        text: Vec<String>,
        /// `wait-idle` waits until the agent shows its prompt with no busy marker, so nothing
        /// is typed into a running turn, and queues the nudge if that takes longer than
        /// --timeout; `immediate` sends now; `queue` leaves it to the controller, which sends
        /// it as a turn of its own when the agent is idle (or the agent's prompt hook hands it
        /// over with the next turn, whichever comes first).
        #[arg(long, value_enum, default_value = "wait-idle")]
        delivery: crate::controllers::nudge::Delivery,
        /// How long `wait-idle` waits for idle before it queues the nudge.
        #[arg(long, default_value = "30s")]
        timeout: crate::api::Duration,
        /// How long a queued nudge may wait; then it is dead-lettered (a `nudge.dead` event).
        #[arg(long, default_value = "1h")]
        ttl: crate::api::Duration,
    },
    /// Stop a session and keep it stopped (the controller will not restart it) until
    /// `gc session start`.
    Stop {
        /// The session.
        session: String,
    },
    /// Let the controller run a session stopped with `gc session stop` (or stopped for
    /// idleness) again.
    Start {
        /// The session.
        session: String,
    },
    /// Answer what a session shows (a dialog gc cannot answer, a question the agent asked):
    /// type TEXT literally, then press the --key keys in order (default: Enter). Unlike a
    /// nudge it does not wait for idle: use it on a Blocked session (`gc status` shows its
    /// screen).
    #[command(
        after_help = "Examples:\n  gc session answer mayor 2\n  gc session answer mayor --key down --key enter"
    )]
    Answer {
        /// The session.
        session: String,
        /// Text to type first.
        text: Option<String>,
        /// Keys to press after it: enter, up, down (repeatable).
        #[arg(long = "key", value_name = "KEY")]
        keys: Vec<String>,
    },
    /// Lift a session's crash-loop quarantine and clear its restart count, so the controller
    /// starts it again. For a pool agent: every session of it.
    Reset {
        /// The session, or an agent.
        session: String,
        /// Also start a fresh conversation: the controller restarts the session (once) with a
        /// new one instead of resuming the recorded one.
        #[arg(long)]
        fresh: bool,
    },
}

/// Runs `gc session`.
pub fn run(args: Args, city: Option<PathBuf>) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let city_dir = std::path::absolute(super::city_dir_or_cwd(city)?)?;
    if let SessionCommand::Reset { session, fresh } = &args.command {
        // No runtime needed: the ledger and the marks are files under .gc/.
        let model = CityModel::load_specs(&city_dir, &crate::store::Store::new(&city_dir))?;
        for line in reset::run(&city_dir, &model, session, *fresh, "gc session")? {
            println!("{line}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (ctx, model) = Context::with_model(&city_dir, "gc session")?;
    let rt = &ctx.runtime;
    match args.command {
        SessionCommand::List { output } => {
            let rows = list_rows(&ctx, &model)?;
            if let Some(document) = output.document(&rows) {
                print!("{document}");
            } else if rows.is_empty() {
                println!("No sessions.");
            } else {
                let cells: Vec<Vec<String>> = rows.iter().map(SessionRow::cells).collect();
                print!(
                    "{}",
                    super::present::table(&["SESSION", "AGENT", "STATE", "PID", "AGE"], &cells)
                );
            }
        }
        SessionCommand::Peek { session, lines } => {
            let name = resolve(&model, &session)?;
            print!("{}", rt.peek(&name, lines)?);
        }
        SessionCommand::Attach { session } => rt.attach(&resolve(&model, &session)?)?,
        SessionCommand::Nudge { session, text, delivery, timeout, ttl } => {
            let name = resolve(&model, &session)?;
            let text = text.join(" ");
            let how = nudge::Sending {
                delivery,
                wait: timeout.get(),
                ttl: ttl.get(),
                from: super::work_context::actor(None),
            };
            match nudge::send_recorded(&city_dir, &model, rt.as_ref(), &name, &text, &how)? {
                nudge::Sent::Delivered => println!("nudged {name}"),
                nudge::Sent::Queued(queued) => {
                    println!("queued nudge {} for {name}", queued.id);
                    super::nudge::warn_without_controller(&city_dir);
                }
            }
        }
        SessionCommand::Stop { session } => {
            let name = resolve(&model, &session)?;
            println!("{}", actions::stop(&ctx, &model, &name, "gc session")?);
        }
        SessionCommand::Start { session } => {
            let name = resolve(&model, &session)?;
            println!("{}", actions::start(&ctx, &model, &name, "gc session")?);
        }
        SessionCommand::Answer { session, text, keys } => {
            let name = resolve(&model, &session)?;
            let mut strokes: Vec<actions::Keystroke> =
                text.into_iter().map(actions::Keystroke::Text).collect();
            if keys.is_empty() {
                strokes.push(actions::Keystroke::Key(crate::agentcli::screen::Key::Enter));
            }
            for key in &keys {
                let key = actions::Keystroke::parse_key(key)
                    .ok_or_else(|| format!("--key {key}: not one of enter, up, down"))?;
                strokes.push(actions::Keystroke::Key(key));
            }
            println!("{}", actions::answer(&ctx, &model, &name, &strokes, "gc session")?);
        }
        // Handled before the runtime was set up.
        SessionCommand::Reset { .. } => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// A session name, from a session name or an agent name.
pub(crate) fn resolve(
    model: &CityModel,
    session: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    let name = if model.agents.contains_key(session) {
        session_name(&model.city_name(), session, 0)
    } else {
        session.to_owned()
    };
    validate_name(&name)?;
    Ok(name)
}

/// The agent a session name belongs to.
fn owner(model: &CityModel, session: &str) -> Option<String> {
    let city = model.city_name();
    model.agents.keys().find(|agent| is_session_of(&city, agent, session)).cloned()
}

fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// One session as `gc session list -o json|yaml` and the dashboard's API show it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SessionRow {
    /// The tmux session name.
    pub name: String,
    /// The agent it belongs to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// `ready`, `starting`, `held`, `exited (CODE)`, `quarantined`, ….
    pub state: String,
    /// The pane's process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// How long it has run, kubectl style.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age: Option<String>,
}

impl SessionRow {
    fn cells(&self) -> Vec<String> {
        let dash = || "-".to_owned();
        vec![
            self.name.clone(),
            self.agent.clone().unwrap_or_else(dash),
            self.state.clone(),
            self.pid.map_or_else(dash, |p| p.to_string()),
            self.age.clone().unwrap_or_else(dash),
        ]
    }
}

/// Every session on the city's tmux server (and each quarantined one whose pane is gone: it is
/// why its agent runs nothing), in listing order.
pub fn list_rows(
    ctx: &Context,
    model: &CityModel,
) -> Result<Vec<SessionRow>, Box<dyn std::error::Error>> {
    let now = SystemTime::now();
    let held = holds::held(&model.dir)?;
    let crashes = ctx.ledger.load().unwrap_or_default();
    let listed = ctx.runtime.list(&model.session_prefix())?;
    let names: std::collections::BTreeSet<&str> = listed.iter().map(|s| s.name.as_str()).collect();
    let gone: Vec<SessionRow> = crashes
        .iter()
        .filter(|(name, record)| record.is_quarantined(now) && !names.contains(name.as_str()))
        .map(|(name, _)| SessionRow {
            name: name.clone(),
            agent: owner(model, name),
            state: "quarantined".into(),
            pid: None,
            age: None,
        })
        .collect();
    let mut rows: Vec<SessionRow> = listed
        .iter()
        .map(|s| {
            let state = match (s.alive, held.contains(&s.name)) {
                (_, true) => "held".to_owned(),
                (true, _) if s.meta.get(meta::READY).is_some_and(|v| v == "1") => {
                    "ready".to_owned()
                }
                (true, _) => "starting".to_owned(),
                (false, _) => match s.exit_status {
                    Some(code) => format!("exited ({code})"),
                    None => "exited".to_owned(),
                },
            };
            let state = match crashes.get(&s.name) {
                Some(record) if !s.alive && record.is_quarantined(now) => {
                    format!("{state}, quarantined")
                }
                _ => state,
            };
            SessionRow {
                name: s.name.clone(),
                agent: s.meta.get(meta::AGENT).cloned(),
                state,
                pid: s.pid,
                age: s.created.and_then(|c| now.duration_since(c).ok()).map(short_duration),
            }
        })
        .collect();
    rows.extend(gone);
    Ok(rows)
}
