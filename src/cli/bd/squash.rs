//! `bd mol squash`: a molecule's short-lived (ephemeral) steps replaced by one persistent,
//! closed digest bead under its root, so the record of the work outlives the wisps.

use serde_json::json;

use super::{Ctx, Failure, Report};
use crate::beads::Bead;

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

/// Runs `bd mol squash` on `members` (the root first, then every bead below it). As bd's, it
/// sums up the ephemeral steps only: a molecule without any is left as it is.
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
    let done = crate::formula::squash::squash(
        &*ctx.store,
        root,
        &steps,
        args.summary.clone(),
        args.keep_children,
        &ctx.actor,
    )?
    .ok_or_else(|| Failure::Failed(format!("{}: nothing to squash", root.id)))?;
    let mut body = json!({
        "molecule_id": root.id,
        "digest_id": done.digest.id,
        "squashed_ids": done.steps,
        "squashed_count": done.steps.len(),
        "deleted_count": done.deleted.len(),
        "kept_children": args.keep_children,
    });
    if root.ephemeral {
        body["wisp_squash"] = json!(true);
    }
    let text = format!(
        "Squashed {} step(s) of {} into digest {}\n",
        done.steps.len(),
        root.id,
        done.digest.id
    );
    Ok(Report::new(body, text))
}
