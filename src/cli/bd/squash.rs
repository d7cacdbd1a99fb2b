//! `bd mol squash`: a molecule's short-lived (ephemeral) steps replaced by one persistent,
//! closed digest bead under its root, so the record of the work outlives the wisps.

use serde_json::json;

use super::{Ctx, Failure, Report};
use crate::beads::{Bead, NewBead};

/// `bd mol squash`.
#[derive(Debug, clap::Args)]
pub struct SquashArgs {
    /// The molecule (its root).
    pub id: String,
    /// Only say what would be done.
    #[arg(long)]
    dry_run: bool,
    /// Keep the ephemeral steps (the digest is still made).
    #[arg(long)]
    keep_children: bool,
    /// The digest's text (default: a list of the steps and how they ended).
    #[arg(long, value_name = "TEXT")]
    summary: Option<String>,
}

/// The digest's text when none is given: each squashed step, done or not, with its reason.
fn summary(root: &Bead, steps: &[&Bead]) -> String {
    let mut text = format!("# {}\n\n{} step(s) squashed.\n\n", root.title, steps.len());
    for step in steps {
        let mark = if step.is_closed() { "x" } else { " " };
        text.push_str(&format!("- [{mark}] {}: {}", step.id, step.title));
        if !step.close_reason.is_empty() {
            text.push_str(&format!(" ({})", step.close_reason));
        }
        text.push('\n');
    }
    text
}

/// Runs `bd mol squash` on `members` (the root first, then every bead below it).
///
/// The digest is created and closed before any step is deleted, so a failure part way leaves
/// the steps and a digest, never neither.
pub fn squash(args: &SquashArgs, ctx: &Ctx, members: &[&Bead]) -> Result<Report, Failure> {
    let root = members[0];
    let steps: Vec<&Bead> = members[1..].iter().copied().filter(|b| b.ephemeral).collect();
    let ids: Vec<&str> = steps.iter().map(|b| b.id.as_str()).collect();
    if steps.is_empty() {
        let body = json!({
            "molecule_id": root.id, "digest_id": "", "squashed_ids": [], "squashed_count": 0,
            "deleted_count": 0, "kept_children": false,
        });
        return Ok(Report::new(body, format!("{}: no ephemeral steps to squash\n", root.id)));
    }
    if args.dry_run {
        let text = format!(
            "Would squash {} step(s) of {} into a digest: {}\n",
            steps.len(),
            root.id,
            ids.join(", ")
        );
        return Ok(Report { json: None, text, errors: Vec::new() });
    }
    let digest = NewBead {
        title: format!("Digest: {}", root.title),
        description: args.summary.clone().unwrap_or_else(|| summary(root, &steps)),
        issue_type: Some("task".into()),
        priority: Some(root.priority),
        parent: Some(root.id.clone()),
        ..NewBead::default()
    };
    let digest = ctx.store.create(digest, &ctx.actor)?;
    let reason = format!("Squashed from {} wisps", steps.len());
    ctx.store.close(&digest.id, Some(&reason), &ctx.actor)?;
    let mut deleted = 0;
    if !args.keep_children {
        // Deepest first, so no step is deleted while a step below it remains.
        for id in ids.iter().rev() {
            ctx.store.delete(id, &ctx.actor)?;
            deleted += 1;
        }
    }
    if root.ephemeral {
        let reason = format!("Squashed: {} steps → digest {}", steps.len(), digest.id);
        ctx.store.close(&root.id, Some(&reason), &ctx.actor)?;
    }
    let mut body = json!({
        "molecule_id": root.id,
        "digest_id": digest.id,
        "squashed_ids": ids,
        "squashed_count": steps.len(),
        "deleted_count": deleted,
        "kept_children": args.keep_children,
    });
    if root.ephemeral {
        body["wisp_squash"] = json!(true);
    }
    let text =
        format!("Squashed {} step(s) of {} into digest {}\n", steps.len(), root.id, digest.id);
    Ok(Report::new(body, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_lists_each_step_and_how_it_ended() {
        let root = Bead { id: "gc-1".into(), title: "Patrol".into(), ..Bead::default() };
        let done = Bead {
            id: "gc-1.1".into(),
            title: "Check".into(),
            status: "closed".into(),
            close_reason: "all clear".into(),
            ..Bead::default()
        };
        let open = Bead {
            id: "gc-1.2".into(),
            title: "Report".into(),
            status: "open".into(),
            ..Bead::default()
        };
        let text = summary(&root, &[&done, &open]);
        assert!(text.starts_with("# Patrol\n\n2 step(s) squashed."), "{text}");
        assert!(text.contains("- [x] gc-1.1: Check (all clear)\n"), "{text}");
        assert!(text.contains("- [ ] gc-1.2: Report\n"), "{text}");
    }
}
