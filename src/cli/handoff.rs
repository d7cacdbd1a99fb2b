//! `gc handoff`: an agent hands its work over to a fresh session of itself.

use std::path::PathBuf;
use std::process::ExitCode;

use super::work_context::WorkContext;
use crate::controllers::holds::Marks;
use crate::work::{mail, stores};

/// Subject of the mail a handoff leaves for the next session.
pub const HANDOFF_SUBJECT: &str = "handoff";

/// Hand your work over to a fresh session of yourself: NOTE (what you were doing, what is
/// next) is mailed to you, and the controller restarts this session with a fresh conversation,
/// once; the new session's SessionStart hook (`gc prime --hook`) shows it the note.
///
/// Run inside an agent's session, where GC_AGENT, GC_SESSION and BEADS_ACTOR say who you are.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example (inside a session):\n  gc handoff \"Parser half done: see \
                        demo-a1b2; tests in tests/parse.rs still fail\"")]
pub struct Args {
    /// What the next session needs to know.
    note: Option<String>,
    /// The session to hand over (default: GC_SESSION).
    #[arg(long)]
    session: Option<String>,
    /// Run as the CLI's compaction hook (Claude's PreCompact; gc installs it): hand over to a
    /// fresh session instead of compacting the conversation. Reads the hook's JSON on stdin;
    /// always exits 0.
    #[arg(long, conflicts_with = "note")]
    compaction: bool,
}

/// Runs `gc handoff`.
pub fn run(mut args: Args, city: Option<PathBuf>) -> Result<ExitCode, Box<dyn std::error::Error>> {
    if args.compaction {
        let input = super::hook_input::read();
        let how = match input.trigger.as_deref() {
            Some("manual") => "compaction was asked for",
            _ => "the conversation filled up",
        };
        args.note = Some(format!(
            "Your previous session was handed over because {how}; the work on your hook \
             (`gc hook`) and your beads' notes carry on from there."
        ));
        args.compaction = false;
        // A hook never fails the CLI's turn.
        if let Err(e) = run(args, city) {
            eprintln!("gc handoff --compaction: {e}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let ctx = WorkContext::load(city)?;
    let agent = ctx.agent(None)?;
    let session = match args.session {
        Some(named) => {
            crate::runtime::validate_name(&named)?;
            named
        }
        None => super::work_context::session_from_env()
            .ok_or("name the session (--session), or run this inside one (GC_SESSION)")?,
    };
    let actor = super::work_context::member_of(&agent);
    if let Some(note) = args.note.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        // Mail lives in the city's own store, where `gc mail` reads it.
        let (_, store) = stores::open(&ctx.model, None)?;
        mail::send(&*store, &actor, &actor, HANDOFF_SUBJECT, note)?;
    }
    Marks::fresh(&ctx.city_dir).set(&session)?;
    crate::notify::poke(&ctx.city_dir);
    println!("{session} restarts with a fresh conversation; the note waits in {actor}'s mail");
    Ok(ExitCode::SUCCESS)
}

/// The handoff notes waiting for `actor` (oldest first), marked read: what its new session's
/// prime shows.
pub fn take_notes(ctx: &WorkContext, actor: &str) -> Vec<String> {
    let Ok((_, store)) = stores::open(&ctx.model, None) else { return Vec::new() };
    let Ok(mut waiting) = mail::inbox(&*store, actor, false) else { return Vec::new() };
    waiting.retain(|m| m.title == HANDOFF_SUBJECT);
    waiting.reverse();
    waiting
        .into_iter()
        .filter_map(|m| mail::read(&*store, &m.id, actor).ok().map(|m| m.description))
        .collect()
}
