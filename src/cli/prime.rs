//! `gc prime`: print an agent's rendered prompt — also the SessionStart hook that hands an
//! agent its instructions and current work.

use std::path::PathBuf;
use std::process::ExitCode;

use super::work_context::WorkContext;
use crate::agentcli::{conversation, hooks};
use crate::api::provider::HookFormat;
use crate::controllers::launch::launches;

/// Print the prompt an agent's sessions start with, rendered for this city (without the
/// startup beacon). Agents run it to (re)load their instructions; people run it to check a
/// template.
///
/// With `--hook` it is the agent CLI's SessionStart hook (gc installs it): it adds the work on
/// the agent's hook, prints both in the form the CLI passes to the model (`--format`), and
/// records the conversation id the CLI reports on stdin.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The agent (default: GC_AGENT).
    agent: Option<String>,
    /// Run as the CLI's SessionStart hook (reads the hook's JSON on stdin).
    #[arg(long)]
    hook: bool,
    /// The answer's form for `--hook`: `claude` (Claude Code, Codex) or `gemini`.
    #[arg(long, value_enum, default_value = "claude", requires = "hook")]
    format: super::hook::Format,
}

/// Runs `gc prime`.
pub fn run(args: Args, city: Option<PathBuf>) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let input = if args.hook { super::hook_input::read() } else { Default::default() };
    let ctx = WorkContext::load_with_templates(city)?;
    let agent = ctx.agent(args.agent.as_deref())?;
    let launch = launches(&ctx.model, &agent, &[1])?.into_iter().next();
    let prompt = match launch.as_ref().and_then(|l| l.prompt.clone()) {
        Some(prompt) => prompt.trim_end().to_owned(),
        None => format!(
            "You are {agent} in city {}. Find your work with `gc hook`, claim it with \
             `bd update <id> --claim`, and close it with `bd close <id>` when done.",
            ctx.model.city_name()
        ),
    };
    if !args.hook {
        println!("{prompt}");
        return Ok(ExitCode::SUCCESS);
    }
    // A new session (or one resumed or compacted) waits at its prompt until told otherwise.
    super::hook::mark_turn(Some(ctx.city_dir.clone()), false);
    if let (Some(id), Some(launch)) = (&input.session_id, &launch) {
        record_conversation(&ctx, &launch.provider, id);
    }
    let work = match super::hook::next_for(&ctx, &agent, None) {
        Ok(Some((bead, reason))) => super::hook::instruction(&bead, reason),
        Ok(None) => "No work is on your hook now. When work arrives you will be told; \
                     `gc hook` shows it."
            .to_owned(),
        Err(e) => format!("Your hook cannot be read now ({e}); try `gc hook`."),
    };
    let actor = super::work_context::member_of(&agent);
    // A session about to be restarted fresh (a handoff is pending, e.g. from the compaction
    // hook just before this compacted session's start) leaves the notes to its successor.
    let handing_over = super::work_context::session_from_env().is_some_and(|session| {
        crate::controllers::holds::Marks::fresh(&ctx.city_dir)
            .all()
            .is_ok_and(|marked| marked.contains(&session))
    });
    let notes = if handing_over { Vec::new() } else { super::handoff::take_notes(&ctx, &actor) };
    let handoff: String = notes
        .iter()
        .map(|note| format!("\n\nHandoff note from your previous session:\n{note}"))
        .collect();
    let text = format!("{prompt}{handoff}\n\n{work}");
    println!("{}", hooks::start_answer(HookFormat::from(args.format), "SessionStart", &text));
    Ok(ExitCode::SUCCESS)
}

/// Records the conversation id the CLI reported for this session (GC_SESSION), unless it is
/// already the recorded one.
fn record_conversation(ctx: &WorkContext, provider: &str, id: &str) {
    let Some(session) = super::work_context::session_from_env() else { return };
    if conversation::load(&ctx.city_dir, &session).is_some_and(|c| c.id == id) {
        return;
    }
    let record = conversation::Conversation {
        id: id.to_owned(),
        provider: provider.to_owned(),
        started: conversation::now(),
    };
    if let Err(e) = conversation::save(&ctx.city_dir, &session, &record) {
        eprintln!("gc prime --hook: cannot record the conversation id: {e}");
    }
}
