//! `bd show ID…`: beads in full, with the beads they depend on and the beads that depend on them.

use super::output::{Details, Related};
use super::{Ctx, Failure, Report, output};
use crate::beads::{BeadStore, Result};

/// Show issues (`--json`: an array of issues with nested `dependencies` and `dependents`).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The issues.
    #[arg(required = true, value_name = "ID")]
    ids: Vec<String>,
}

/// A bead with the beads at the other end of its edges. An edge to a bead this store does not
/// hold (bd's external references) is left out, as bd leaves it out.
pub fn details(store: &dyn BeadStore, id: &str) -> Result<Details> {
    let bead = store.get(id)?;
    let mut dependencies = Vec::new();
    let mut dependents = Vec::new();
    for edge in store.dep_list(&bead.id)? {
        let (list, other) = if edge.issue_id == bead.id {
            (&mut dependencies, &edge.depends_on_id)
        } else {
            (&mut dependents, &edge.issue_id)
        };
        if let Ok(other) = store.get(other) {
            list.push(Related { bead: other, dep_type: edge.dep_type });
        }
    }
    Ok(Details { bead, dependencies, dependents })
}

/// Runs `bd show`: every id that exists is shown; the others are errors (exit 1).
pub fn run(args: Args, ctx: &Ctx) -> Result<Report, Failure> {
    let (shown, errors) = super::each_id(&args.ids, |id| details(ctx.store.as_ref(), id))?;
    Ok(output::shown(&shown).with_errors(errors))
}
