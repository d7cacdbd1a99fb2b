//! `gc convoy create|add|status|list|land`: tracked batches of beads across the city's stores.

use std::path::PathBuf;
use std::process::ExitCode;

use super::present::{ListOutput, table};
use super::work_context::{WorkContext, actor};
use crate::work::convoy::{self, ConvoyView};

/// Track a batch of beads, across rigs, as one convoy with progress.
///
/// A convoy's members are ordinary beads: routed to an agent (`--route`), they are fed to it
/// as they become ready. `gc convoy status` shows where each stands; `gc convoy land` closes
/// the convoy once every member is closed. Cooking a convoy formula (legs and a synthesis)
/// makes a convoy too.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  gc convoy create \"Release 1.4\" dm-12 dm-13 --route worker\n  \
                        gc convoy add gc-7 api-3 --rig api\n  gc convoy status gc-7\n  \
                        gc convoy list -o json\n  gc convoy land gc-7"
)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Create a convoy tracking beads.
    Create(CreateArgs),
    /// Add beads to a convoy.
    Add(AddArgs),
    /// Show a convoy's members and progress.
    Status(StatusArgs),
    /// List the convoys with their progress.
    List(ListArgs),
    /// Close a convoy whose members are all closed.
    Land(LandArgs),
}

/// Members to track: ids, where to find them, whom to route them to.
#[derive(Debug, clap::Args)]
struct Members {
    /// The beads (found in the city's store or any rig's).
    #[arg(value_name = "BEAD")]
    beads: Vec<String>,
    /// Look the beads up in this rig's store only.
    #[arg(long, value_name = "RIG")]
    rig: Option<String>,
    /// Route members not routed yet to this agent (metadata gc.routed_to).
    #[arg(long, value_name = "AGENT")]
    route: Option<String>,
    /// Who acts (default: BEADS_ACTOR, BD_ACTOR, USER).
    #[arg(long)]
    actor: Option<String>,
}

#[derive(Debug, clap::Args)]
struct CreateArgs {
    /// The convoy's title.
    title: String,
    #[command(flatten)]
    members: Members,
    /// Output format (`json`, `yaml`: the convoy with its members).
    #[arg(short, long, value_enum, default_value_t = ListOutput::Table)]
    output: ListOutput,
}

#[derive(Debug, clap::Args)]
struct AddArgs {
    /// The convoy.
    convoy: String,
    #[command(flatten)]
    members: Members,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = ListOutput::Table)]
    output: ListOutput,
}

#[derive(Debug, clap::Args)]
struct StatusArgs {
    /// The convoy.
    convoy: String,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = ListOutput::Table)]
    output: ListOutput,
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    /// Landed convoys too.
    #[arg(long)]
    all: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = ListOutput::Table)]
    output: ListOutput,
}

#[derive(Debug, clap::Args)]
struct LandArgs {
    /// The convoy.
    convoy: String,
    /// Land it even with members still open.
    #[arg(long)]
    force: bool,
    /// Who acts.
    #[arg(long)]
    actor: Option<String>,
}

/// Runs `gc convoy`.
pub fn run(args: Args, city: Option<PathBuf>) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let ctx = WorkContext::load(city)?;
    let model = &ctx.model;
    let view = match args.command {
        Command::Create(a) => {
            let m = &a.members;
            let who = actor(m.actor.as_deref());
            let made = convoy::create(
                model,
                &a.title,
                &m.beads,
                m.rig.as_deref(),
                m.route.as_deref(),
                &who,
            )?;
            crate::notify::poke(&ctx.city_dir);
            return show(&convoy::status(model, &made.id)?, a.output, "Created convoy");
        }
        Command::Add(a) => {
            let m = &a.members;
            let who = actor(m.actor.as_deref());
            convoy::add(model, &a.convoy, &m.beads, m.rig.as_deref(), m.route.as_deref(), &who)?;
            crate::notify::poke(&ctx.city_dir);
            return show(&convoy::status(model, &a.convoy)?, a.output, "Convoy");
        }
        Command::Status(a) => return show(&convoy::status(model, &a.convoy)?, a.output, "Convoy"),
        Command::List(a) => {
            let all = convoy::list(model, a.all)?;
            if let Some(document) = a.output.document(&all) {
                print!("{document}");
            } else if all.is_empty() {
                println!("No convoys. Create one with `gc convoy create TITLE BEAD…`.");
            } else {
                let rows: Vec<Vec<String>> = all
                    .iter()
                    .map(|c| vec![c.id.clone(), c.status.clone(), progress(c), c.title.clone()])
                    .collect();
                print!("{}", table(&["CONVOY", "STATUS", "PROGRESS", "TITLE"], &rows));
            }
            return Ok(ExitCode::SUCCESS);
        }
        Command::Land(a) => convoy::land(model, &a.convoy, a.force, &actor(a.actor.as_deref()))?,
    };
    println!("Landed convoy {}: {} ({})", view.id, view.title, progress(&view));
    Ok(ExitCode::SUCCESS)
}

/// `3/5 closed, 1 in progress`.
fn progress(view: &ConvoyView) -> String {
    let p = view.progress;
    let mut text = format!("{}/{} closed", p.closed, p.total);
    if p.in_progress > 0 {
        text.push_str(&format!(", {} in progress", p.in_progress));
    }
    text
}

fn show(
    view: &ConvoyView,
    output: ListOutput,
    what: &str,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    if let Some(document) = output.document(view) {
        print!("{document}");
        return Ok(ExitCode::SUCCESS);
    }
    println!("{what} {}: {} [{}] {}", view.id, view.title, view.status, progress(view));
    let rows: Vec<Vec<String>> = view
        .members
        .iter()
        .map(|m| {
            vec![
                m.id.clone(),
                m.rig.clone().unwrap_or_else(|| "-".into()),
                m.status.clone(),
                if m.assignee.is_empty() { "-".into() } else { m.assignee.clone() },
                m.title.clone(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        print!("{}", table(&["BEAD", "RIG", "STATUS", "ASSIGNEE", "TITLE"], &rows));
    }
    Ok(ExitCode::SUCCESS)
}
