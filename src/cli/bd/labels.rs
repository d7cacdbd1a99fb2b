//! `bd label add|remove|list`: a bead's labels.

use super::{Ctx, Failure, Report, flags, output};
use crate::beads::BeadUpdate;

/// Label commands.
#[derive(Debug, clap::Subcommand)]
pub enum LabelCommand {
    /// Add labels to an issue.
    Add {
        /// The issue.
        id: String,
        /// The labels.
        #[arg(required = true, value_parser = flags::word)]
        labels: Vec<String>,
    },
    /// Remove labels from an issue.
    #[command(alias = "rm")]
    Remove {
        /// The issue.
        id: String,
        /// The labels.
        #[arg(required = true, value_parser = flags::word)]
        labels: Vec<String>,
    },
    /// List an issue's labels (`--json`: an array of strings).
    List {
        /// The issue.
        id: String,
    },
}

/// Runs a `bd label` command.
pub fn run(command: LabelCommand, ctx: &Ctx) -> Result<Report, Failure> {
    match command {
        LabelCommand::Add { id, labels } => {
            let change = BeadUpdate { add_labels: labels.clone(), ..BeadUpdate::default() };
            let bead = ctx.store.update(&id, &change, &ctx.actor)?;
            Ok(output::labels_changed("added", &bead.id, &labels))
        }
        LabelCommand::Remove { id, labels } => {
            let change = BeadUpdate { remove_labels: labels.clone(), ..BeadUpdate::default() };
            let bead = ctx.store.update(&id, &change, &ctx.actor)?;
            Ok(output::labels_changed("removed", &bead.id, &labels))
        }
        LabelCommand::List { id } => {
            let bead = ctx.store.get(&id)?;
            Ok(output::label_listed(&bead.id, &bead.labels))
        }
    }
}
