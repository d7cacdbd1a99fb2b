//! `gc prime`: print an agent's rendered prompt.

use std::path::PathBuf;
use std::process::ExitCode;

use super::work_context::WorkContext;
use crate::controllers::launch::launches;

/// Print the prompt an agent's sessions start with, rendered for this city (without the
/// startup beacon). Agents run it to (re)load their instructions, e.g. from a SessionStart
/// hook; people run it to check a template.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The agent (default: GC_AGENT).
    agent: Option<String>,
}

/// Runs `gc prime`.
pub fn run(args: Args, city: Option<PathBuf>) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let ctx = WorkContext::load_with_templates(city)?;
    let agent = ctx.agent(args.agent.as_deref())?;
    let launch = launches(&ctx.model, &agent, &[1])?.into_iter().next();
    match launch.and_then(|l| l.prompt) {
        Some(prompt) => println!("{}", prompt.trim_end()),
        None => println!(
            "You are {agent} in city {}. Find your work with `gc hook`, claim it with \
             `bd update <id> --claim`, and close it with `bd close <id>` when done.",
            ctx.model.city_name()
        ),
    }
    Ok(ExitCode::SUCCESS)
}
