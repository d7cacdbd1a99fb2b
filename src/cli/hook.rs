//! `gc hook`: the agent's next work — also the Stop hook that sends an agent on to it.

use std::path::PathBuf;
use std::process::ExitCode;

use super::work_context::WorkContext;
use crate::agentcli::hooks;
use crate::api::provider::HookFormat;
use crate::beads::Bead;
use crate::work::hook::{HookReason, next_work_by};
use crate::work::{query, stores};

/// Print an agent's next work, in Gas City's order: its in-progress work, ready work
/// assigned to it, ready unassigned work routed to it (`gc sling`), open workflows routed to
/// it — or, for an agent with a `workQuery`, after its in-progress work the ready beads the
/// query finds. Exit 0 when there is work, 1 when there is none.
///
/// Inside an agent's session the agent (GC_AGENT) and actor (BEADS_ACTOR, e.g. `worker-2`
/// for a pool member) come from the environment.
///
/// With `--stop` it is the agent CLI's Stop hook (gc installs it): when work is on the hook it
/// answers so that the CLI goes on with it (`--format` says in which form), otherwise it lets
/// the agent stop. It never sends the agent twice in a row to a bead it did not act on.
///
/// With `--prompt-submit` it is the CLI's prompt hook (UserPromptSubmit; Gemini's
/// BeforeAgent): the session's queued nudges (`gc nudge drain --inject`) and the agent's
/// unread mail (`gc mail check --inject`) join the turn being submitted, once.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The agent (default: GC_AGENT).
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(super::completion::agents))]
    agent: Option<String>,
    /// Whose work (default: BEADS_ACTOR inside the agent's session, else the agent's name).
    #[arg(long)]
    actor: Option<String>,
    /// Print the bead as JSON.
    #[arg(long, conflicts_with_all = ["inject", "stop"])]
    json: bool,
    /// Print the work as a reminder for a provider hook and exit 0 whether or not there is
    /// work, so an empty hook is not reported as a failing hook.
    #[arg(long, conflicts_with_all = ["stop", "prompt_submit"])]
    inject: bool,
    /// Answer as the CLI's Stop hook: continue with the next work, or stop (reads the hook's
    /// JSON on stdin; always exits 0).
    #[arg(long, conflicts_with = "prompt_submit")]
    stop: bool,
    /// Answer as the CLI's prompt hook: queued nudges and unread mail join the submitted turn
    /// (reads the hook's JSON on stdin; always exits 0).
    #[arg(long)]
    prompt_submit: bool,
    /// The hook answer's form: `claude` (Claude Code, Codex) or `gemini`.
    #[arg(long, value_enum, default_value = "claude")]
    format: Format,
}

/// Hook answer forms (see [`HookFormat`]).
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    /// Claude Code and Codex.
    Claude,
    /// Gemini CLI.
    Gemini,
}

impl From<Format> for HookFormat {
    fn from(format: Format) -> HookFormat {
        match format {
            Format::Claude => HookFormat::Claude,
            Format::Gemini => HookFormat::Gemini,
        }
    }
}

/// Runs `gc hook`.
pub fn run(args: Args, city: Option<PathBuf>) -> Result<ExitCode, Box<dyn std::error::Error>> {
    if args.stop {
        return Ok(stop_hook(&args, city));
    }
    if args.prompt_submit {
        mark_turn(city.clone(), true);
        let input = super::hook_input::read();
        let parts = [
            super::nudge::for_prompt_hook(city.clone(), input.prompt.as_deref()),
            super::mail::for_prompt_hook(city),
        ];
        let text = parts.into_iter().flatten().collect::<Vec<_>>().join("\n\n");
        let answer = hooks::prompt_answer(HookFormat::from(args.format), &text);
        if !answer.is_empty() {
            println!("{answer}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some((bead, reason)) = find(&args, city)? else {
        if !args.json && !args.inject {
            let who = args.actor.clone().or_else(|| args.agent.clone());
            let who = who.or_else(|| std::env::var("GC_AGENT").ok()).unwrap_or_default();
            eprintln!("no work on {who}'s hook");
        }
        return Ok(if args.inject { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    };
    if args.json {
        println!("{}", serde_json::to_string(&bead)?);
    } else if args.inject {
        println!("<system-reminder>\n{}\n</system-reminder>", instruction(&bead, reason));
    } else {
        println!("{}  {}  ({})", bead.id, bead.title, reason.describe());
        if !bead.description.is_empty() {
            println!("\n{}", bead.description);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The next work of the agent `args` names (or GC_AGENT), by its `workQuery` when it has one.
pub fn find(
    args: &Args,
    city: Option<PathBuf>,
) -> Result<Option<(Bead, HookReason)>, Box<dyn std::error::Error>> {
    let ctx = WorkContext::load(city)?;
    let agent = ctx.agent(args.agent.as_deref())?;
    next_for(&ctx, &agent, args.actor.as_deref())
}

/// The next work of `agent` acting as `actor` (default: BEADS_ACTOR when it is one of the
/// agent's, else the agent).
pub fn next_for(
    ctx: &WorkContext,
    agent: &str,
    actor: Option<&str>,
) -> Result<Option<(Bead, HookReason)>, Box<dyn std::error::Error>> {
    let actor = actor.map_or_else(|| super::work_context::member_of(agent), str::to_owned);
    let (_, store) = stores::open_for_agent(&ctx.model, agent)?;
    let query = ctx.model.agents.get(agent).and_then(|a| query::of(&a.spec));
    Ok(next_work_by(&*store, agent, &actor, query.as_ref())?)
}

/// What an agent is told about `bead`, its next work.
pub fn instruction(bead: &Bead, reason: HookReason) -> String {
    let mut text =
        format!("Work is on your hook ({}): {} {}", reason.describe(), bead.id, bead.title);
    if !bead.description.is_empty() {
        text.push('\n');
        text.push_str(&bead.description);
    }
    text.push_str(&format!(
        "\nIf you find work on your hook, you run it: `bd update {} --claim`, do it, then \
         `bd close {}`.",
        bead.id, bead.id
    ));
    text
}

/// The Stop hook: never fails the CLI's turn; problems go to stderr and the agent may stop.
fn stop_hook(args: &Args, city: Option<PathBuf>) -> ExitCode {
    let input = super::hook_input::read();
    let format = HookFormat::from(args.format);
    let next = match (over_budget(city.clone()), find(args, city.clone())) {
        // Used up: the turn ends here, and the controller stops the session.
        (Some(why), _) => {
            eprintln!("gc hook --stop: not sending you on: {why}");
            None
        }
        (None, Ok(next)) => next,
        (None, Err(e)) => {
            eprintln!("gc hook --stop: {e}");
            None
        }
    };
    let offered_file = offered_file(city.clone());
    let offered = offered_file.as_ref().and_then(|f| std::fs::read_to_string(f).ok());
    let id = next.as_ref().map(|(bead, _)| bead.id.as_str());
    let reason = match hooks::continue_with(&input, id, offered.as_deref().map(str::trim)) {
        Some(id) => {
            if let Some(file) = &offered_file {
                let _ = std::fs::create_dir_all(file.parent().unwrap_or(file));
                let _ = std::fs::write(file, id);
            }
            next.as_ref().map(|(bead, reason)| instruction(bead, *reason))
        }
        None => {
            if let Some(file) = &offered_file {
                let _ = std::fs::remove_file(file);
            }
            None
        }
    };
    mark_turn(city, reason.is_some());
    let answer = hooks::stop_answer(format, reason.as_deref());
    if !answer.is_empty() {
        println!("{answer}");
    }
    ExitCode::SUCCESS
}

/// Why the agent this hook runs for (GC_AGENT) must not go on: its budget, or the City's, is
/// used up.
fn over_budget(city: Option<PathBuf>) -> Option<String> {
    use crate::controllers::budget::Level;
    let agent = std::env::var("GC_AGENT").ok().filter(|a| !a.is_empty())?;
    let dir = super::city_dir_or_cwd(city).ok()?;
    let model =
        crate::controllers::model::CityModel::load_specs(&dir, &crate::store::Store::new(&dir))
            .ok()?;
    if !crate::controllers::budget::any_declared(&model) {
        return None;
    }
    // Read the transcripts now: the turn that just ended may be the one that used it up.
    let ledger = crate::usage::ledger::current(&dir, &model);
    let now = chrono::Utc::now();
    let (standing, scope) =
        crate::controllers::budget::agent_standing(&ledger, &model, &agent, now)?;
    (standing.level == Level::Exceeded)
        .then(|| format!("{} is used up: {}", scope.describe(), standing.message))
}

/// Records, for the session this hook runs in (GC_SESSION), that a turn began (`running`) or
/// ended: nudges wait for an ended turn ([`crate::controllers::turn`]).
pub(super) fn mark_turn(city: Option<PathBuf>, running: bool) {
    let Some(session) = super::work_context::session_from_env() else { return };
    let Ok(dir) = super::city_dir_or_cwd(city) else { return };
    if let Err(e) = crate::controllers::turn::mark(&dir, &session, running) {
        eprintln!("gc hook: cannot record the turn of {session}: {e}");
    }
}

/// Where the Stop hook remembers the bead it last sent this session to (GC_SESSION).
fn offered_file(city: Option<PathBuf>) -> Option<PathBuf> {
    let session = super::work_context::session_from_env()?;
    let dir = super::city_dir_or_cwd(city).ok()?;
    Some(dir.join(".gc").join("state").join("stop-hook").join(session))
}
