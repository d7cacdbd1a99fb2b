//! `bd delete ID… [--force]`: without `--force` a preview of what would go; with it, the issues
//! and their edges are removed, and mentions of them in the issues they were connected to are
//! rewritten to `[deleted:ID]`, as bd does.

use std::collections::BTreeSet;

use serde_json::json;

use super::{Ctx, Failure, Report};
use crate::beads::{BeadUpdate, Dependency};

/// Delete issues (only with `--force`; otherwise show what would be deleted).
#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// The issues.
    #[arg(value_name = "ID")]
    ids: Vec<String>,
    /// Also the ids in this file, one per line (blank lines and `#` comments skipped).
    #[arg(long, value_name = "FILE")]
    from_file: Option<std::path::PathBuf>,
    /// Delete for real; without it nothing changes.
    #[arg(short = 'f', long)]
    force: bool,
    /// Show what would be deleted, even with `--force`.
    #[arg(long)]
    dry_run: bool,
}

/// Runs `bd delete`.
pub fn delete(args: DeleteArgs, ctx: &Ctx) -> Result<Report, Failure> {
    let mut ids = args.ids.clone();
    if let Some(file) = &args.from_file {
        let text = std::fs::read_to_string(file)
            .map_err(|e| Failure::Failed(format!("{}: {e}", file.display())))?;
        ids.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned),
        );
    }
    let mut seen = BTreeSet::new();
    ids.retain(|id| seen.insert(id.clone()));
    if ids.is_empty() {
        return Err(Failure::Usage("no issue ids given".into()));
    }
    let missing: Vec<&str> =
        ids.iter().filter(|id| ctx.store.get(id).is_err()).map(String::as_str).collect();
    if !missing.is_empty() {
        return Err(Failure::Failed(format!("issues not found: {}", missing.join(", "))));
    }
    let (edges, connected) = survey(ctx, &ids)?;
    if !args.force || args.dry_run {
        let text = format!(
            "Would delete {} issue(s): {}\n  {} dependency edge(s) removed, {} connected issue(s) \
             have their mentions rewritten\nRun again with --force to delete.\n",
            ids.len(),
            ids.join(", "),
            edges.len(),
            connected.len()
        );
        // bd prints its preview as text even under --json.
        return Ok(Report { json: None, text, errors: Vec::new() });
    }
    let rewritten = remove(ctx, &ids, &connected)?;
    let text = format!("Deleted {}\n", ids.join(", "));
    // One id: `deleted` is the id; several: an array with a count, as bd prints them.
    let json = if ids.len() == 1 {
        json!({
            "deleted": ids[0],
            "dependencies_removed": edges.len(),
            "references_updated": rewritten,
        })
    } else {
        json!({
            "deleted": ids,
            "deleted_count": ids.len(),
            "dependencies_removed": edges.len(),
            "references_updated": rewritten,
        })
    };
    Ok(Report::new(json, text))
}

/// The edges that deleting `ids` removes, and the other issues they connect to.
pub(super) fn survey(
    ctx: &Ctx,
    ids: &[String],
) -> Result<(Vec<Dependency>, BTreeSet<String>), Failure> {
    let mut edges: Vec<Dependency> = Vec::new();
    for id in ids {
        edges.extend(ctx.store.dep_list(id)?);
    }
    edges.sort_by(|a, b| (&a.issue_id, &a.depends_on_id).cmp(&(&b.issue_id, &b.depends_on_id)));
    edges.dedup_by(|a, b| a.issue_id == b.issue_id && a.depends_on_id == b.depends_on_id);
    let doomed: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    let connected = edges
        .iter()
        .flat_map(|e| [e.issue_id.as_str(), e.depends_on_id.as_str()])
        .filter(|id| !doomed.contains(id))
        .map(str::to_owned)
        .collect();
    Ok((edges, connected))
}

/// Deletes `ids` with their edges, first writing their mentions in `connected` issues as
/// `[deleted:ID]`; how many issues were rewritten.
pub(super) fn remove(
    ctx: &Ctx,
    ids: &[String],
    connected: &BTreeSet<String>,
) -> Result<usize, Failure> {
    let mut rewritten = 0;
    for other in connected {
        let bead = ctx.store.get(other)?;
        let rewrite = |text: &str| ids.iter().fold(text.to_owned(), |t, id| mark_deleted(&t, id));
        let (description, notes) = (rewrite(&bead.description), rewrite(&bead.notes));
        if description != bead.description || notes != bead.notes {
            let change = BeadUpdate {
                description: Some(description),
                notes: Some(notes),
                ..BeadUpdate::default()
            };
            ctx.store.update(other, &change, &ctx.actor)?;
            rewritten += 1;
        }
    }
    for id in ids {
        ctx.store.delete(id, &ctx.actor)?;
    }
    Ok(rewritten)
}

/// `text` with every mention of `id` as a whole id (not part of a longer one, such as `id`'s
/// children `id.1` or `gc-12` for `gc-1`) written `[deleted:id]`.
fn mark_deleted(text: &str, id: &str) -> String {
    let id_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(id) {
        let (before, after) = (&rest[..at], &rest[at + id.len()..]);
        let mut next = after.chars();
        let whole = !before.ends_with(id_char)
            && match next.next() {
                None => true,
                Some('.') => !next.next().is_some_and(id_char),
                Some(c) => !id_char(c),
            };
        out.push_str(before);
        if whole {
            out.push_str(&format!("[deleted:{id}]"));
        } else {
            out.push_str(id);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::mark_deleted;

    #[test]
    fn only_whole_mentions_are_marked() {
        assert_eq!(
            mark_deleted("see gc-1, gc-12 and gc-1.2; after gc-1.", "gc-1"),
            "see [deleted:gc-1], gc-12 and gc-1.2; after [deleted:gc-1]."
        );
        assert_eq!(mark_deleted("xgc-1 gc-1", "gc-1"), "xgc-1 [deleted:gc-1]");
        assert_eq!(mark_deleted("nothing here", "gc-1"), "nothing here");
    }
}
