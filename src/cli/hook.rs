//! `gc hook`: the agent's next work.

use std::path::PathBuf;
use std::process::ExitCode;

use super::work_context::WorkContext;
use crate::controllers::launch::is_base_or_member;
use crate::work::hook::next_work;
use crate::work::stores;

/// Print an agent's next work, in Gas City's order: its in-progress work, ready work
/// assigned to it, ready unassigned work routed to it (`gc sling`), open workflows routed to
/// it. Exit 0 when there is work, 1 when there is none.
///
/// Inside an agent's session the agent (GC_AGENT) and actor (BEADS_ACTOR, e.g. `worker-2`
/// for a pool member) come from the environment.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The agent (default: GC_AGENT).
    agent: Option<String>,
    /// Whose work (default: BEADS_ACTOR inside the agent's session, else the agent's name).
    #[arg(long)]
    actor: Option<String>,
    /// Print the bead as JSON.
    #[arg(long, conflicts_with = "inject")]
    json: bool,
    /// Print the work as a reminder for a provider hook (e.g. Claude's Stop hook) and exit 0
    /// whether or not there is work, so an empty hook is not reported as a failing hook.
    #[arg(long)]
    inject: bool,
}

/// Runs `gc hook`.
pub fn run(args: Args, city: Option<PathBuf>) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let ctx = WorkContext::load(city)?;
    let agent = ctx.agent(args.agent.as_deref())?;
    let actor = args.actor.clone().unwrap_or_else(|| default_actor(&agent));
    let (_, store) = stores::open_for_agent(&ctx.model, &agent)?;
    let Some((bead, reason)) = next_work(&*store, &agent, &actor)? else {
        if !args.json && !args.inject {
            eprintln!("no work on {actor}'s hook");
        }
        return Ok(if args.inject { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    };
    if args.json {
        println!("{}", serde_json::to_string(&bead)?);
    } else if args.inject {
        println!("<system-reminder>");
        println!("Work is on your hook ({}): {} {}", reason.describe(), bead.id, bead.title);
        if !bead.description.is_empty() {
            println!("{}", bead.description);
        }
        println!(
            "If you find work on your hook, you run it: `bd update {} --claim`, do it, then \
             `bd close {}`.",
            bead.id, bead.id
        );
        println!("</system-reminder>");
    } else {
        println!("{}  {}  ({})", bead.id, bead.title, reason.describe());
        if !bead.description.is_empty() {
            println!("\n{}", bead.description);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// BEADS_ACTOR when it is one of `agent`'s session actors (`agent` or `agent-<n>`), else the
/// agent's own name.
fn default_actor(agent: &str) -> String {
    std::env::var("BEADS_ACTOR")
        .ok()
        .filter(|actor| is_base_or_member(agent, actor))
        .unwrap_or_else(|| agent.to_owned())
}
