//! `bd dep add|remove|list`: edges between beads. `dep add A B` means A depends on (is blocked
//! by) B.

use super::output::Related;
use super::{Ctx, Failure, Report, flags, output};
use crate::beads::Dependency;
use crate::beads::model::dep_type;

/// Dependency commands.
#[derive(Debug, clap::Subcommand)]
pub enum DepCommand {
    /// ISSUE depends on DEPENDS_ON (with the default type `blocks`, ISSUE is not ready until
    /// DEPENDS_ON is closed). A blocks edge that would make a cycle is refused.
    Add {
        /// The dependent issue.
        issue: String,
        /// The issue it depends on.
        depends_on: String,
        /// blocks, conditional-blocks, waits-for, parent-child, related, discovered-from, …
        #[arg(short = 't', long = "type", default_value = dep_type::BLOCKS, value_parser = dep_type_name)]
        dep_type: String,
    },
    /// Remove the edge from ISSUE to DEPENDS_ON, whatever its type.
    #[command(alias = "rm")]
    Remove {
        /// The dependent issue.
        issue: String,
        /// The issue it depends on.
        depends_on: String,
    },
    /// List what an issue depends on (or, with --direction up, what depends on it).
    List {
        /// The issue.
        id: String,
        /// down: what ID depends on; up: what depends on ID.
        #[arg(long, value_enum, default_value_t = Direction::Down)]
        direction: Direction,
        /// Only edges of this type.
        #[arg(short = 't', long = "type", value_name = "TYPE", value_parser = flags::word)]
        dep_type: Option<String>,
    },
}

/// Which edges `dep list` follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Direction {
    /// The issues ID depends on.
    Down,
    /// The issues that depend on ID.
    Up,
}

/// bd accepts any dependency type name up to 50 characters.
fn dep_type_name(text: &str) -> Result<String, String> {
    let name = flags::word(text)?;
    if name.chars().count() > 50 {
        return Err("a dependency type is at most 50 characters".into());
    }
    Ok(name)
}

/// Runs a `bd dep` command.
pub fn run(command: DepCommand, ctx: &Ctx) -> Result<Report, Failure> {
    match command {
        DepCommand::Add { issue, depends_on, dep_type } => {
            let dep = Dependency {
                issue_id: issue,
                depends_on_id: depends_on,
                dep_type,
                created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                created_by: ctx.actor.clone(),
                metadata: None,
            };
            ctx.store.dep_add(&dep, &ctx.actor)?;
            Ok(output::dep_added(&dep))
        }
        DepCommand::Remove { issue, depends_on } => {
            ctx.store.dep_remove(&issue, &depends_on, &ctx.actor)?;
            Ok(output::dep_removed(&issue, &depends_on))
        }
        DepCommand::List { id, direction, dep_type } => {
            // Fails clearly on an unknown id instead of printing an empty list.
            let bead = ctx.store.get(&id)?;
            let up = direction == Direction::Up;
            let mut related = Vec::new();
            for edge in ctx.store.dep_list(&bead.id)? {
                let other = match (up, edge.issue_id == bead.id) {
                    (false, true) => &edge.depends_on_id,
                    (true, false) if edge.depends_on_id == bead.id => &edge.issue_id,
                    _ => continue,
                };
                if dep_type.as_ref().is_some_and(|t| *t != edge.dep_type) {
                    continue;
                }
                // Edges to beads this store does not hold (external references) are skipped,
                // as bd skips them.
                if let Ok(other) = ctx.store.get(other) {
                    related.push(Related { bead: other, dep_type: edge.dep_type });
                }
            }
            Ok(output::dep_listed(&bead.id, up, &related))
        }
    }
}
