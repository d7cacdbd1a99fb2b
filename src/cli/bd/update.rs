//! `bd update ID…` (claim, status, fields, metadata, labels) and `bd close ID…`.

use serde_json::{Map, Value};

use super::{Ctx, Failure, Report, flags, output};
use crate::beads::{Bead, BeadError, BeadStore, BeadUpdate};

/// Change issues and print them (`--json`: an array).
#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// The issues.
    #[arg(required = true, value_name = "ID")]
    ids: Vec<String>,
    /// Claim the issue atomically: an open, unassigned issue becomes in_progress, assigned to
    /// the actor. Fails with "already claimed by X" when someone else holds it.
    #[arg(long)]
    claim: bool,
    /// New status (open, in_progress, blocked, deferred, closed, …).
    #[arg(short = 's', long, value_parser = flags::word)]
    status: Option<String>,
    /// New assignee ("" unassigns).
    #[arg(short = 'a', long)]
    assignee: Option<String>,
    /// New title.
    #[arg(long)]
    title: Option<String>,
    /// New priority, 0-4 or P0-P4.
    #[arg(short = 'p', long, value_parser = flags::priority)]
    priority: Option<i64>,
    /// New description.
    #[arg(short = 'd', long)]
    description: Option<String>,
    /// New notes.
    #[arg(long)]
    notes: Option<String>,
    /// Set a metadata key (repeatable).
    #[arg(long = "set-metadata", value_name = "KEY=VALUE", value_parser = flags::key_value)]
    set_metadata: Vec<(String, String)>,
    /// Remove a metadata key (repeatable).
    #[arg(long = "unset-metadata", value_name = "KEY")]
    unset_metadata: Vec<String>,
    /// Add labels (comma-separated or repeated).
    #[arg(long = "add-label", value_name = "LABEL", value_delimiter = ',', value_parser = flags::word)]
    add_label: Vec<String>,
    /// Remove labels (comma-separated or repeated).
    #[arg(long = "remove-label", value_name = "LABEL", value_delimiter = ',', value_parser = flags::word)]
    remove_label: Vec<String>,
}

impl UpdateArgs {
    /// The change besides the claim.
    fn change(&self) -> BeadUpdate {
        let mut metadata: Map<String, Value> =
            self.set_metadata.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        // A null value is how the store removes a key.
        metadata.extend(self.unset_metadata.iter().map(|k| (k.clone(), Value::Null)));
        BeadUpdate {
            title: self.title.clone(),
            description: self.description.clone(),
            notes: self.notes.clone(),
            status: self.status.clone(),
            priority: self.priority,
            assignee: self.assignee.clone(),
            add_labels: self.add_label.clone(),
            remove_labels: self.remove_label.clone(),
            set_metadata: metadata,
            defer_until: None,
        }
    }
}

/// Claims (when asked) and then applies `change` to one bead.
fn update_one(
    store: &dyn BeadStore,
    id: &str,
    claim: bool,
    change: &BeadUpdate,
    actor: &str,
) -> Result<Bead, BeadError> {
    // The claim goes first: it is the compare-and-swap, and nothing else should change when it
    // fails.
    let claimed = if claim { Some(store.claim(id, actor)?) } else { None };
    match claimed {
        Some(bead) if change.is_empty() => Ok(bead),
        _ => store.update(id, change, actor),
    }
}

/// Runs `bd update`.
pub fn update(args: UpdateArgs, ctx: &Ctx) -> Result<Report, Failure> {
    let change = args.change();
    if !args.claim && change.is_empty() {
        return Err(Failure::Usage(
            "nothing to update: give --claim, --status, --assignee, --title, --priority, \
             --description, --notes, --set-metadata, --add-label or --remove-label"
                .into(),
        ));
    }
    let (beads, errors) = super::each_id(&args.ids, |id| {
        update_one(ctx.store.as_ref(), id, args.claim, &change, &ctx.actor)
    })?;
    let report = if args.claim && change.is_empty() {
        output::claimed(&beads)
    } else {
        output::changed("Updated", &beads)
    };
    Ok(report.with_errors(errors))
}

/// Close issues and print them (`--json`: an array).
#[derive(Debug, clap::Args)]
pub struct CloseArgs {
    /// The issues.
    #[arg(required = true, value_name = "ID")]
    ids: Vec<String>,
    /// Why (recorded as close_reason).
    #[arg(short = 'r', long)]
    reason: Option<String>,
    /// The commit that did the work, checked against the rig's repository (and its target
    /// branch) and recorded on the bead. Where the rig or the formula step requires proof
    /// and none is named, the HEAD of the current checkout is offered.
    #[arg(long, value_name = "SHA")]
    commit: Option<String>,
    /// Also say which issues the close unblocked (one id only; `--json`: `{"closed": […],
    /// "unblocked": […]}` when there are any).
    #[arg(long)]
    suggest_next: bool,
    /// Close even an issue that open issues still block, an epic with open children, a
    /// pinned issue or a template.
    #[arg(short = 'f', long)]
    force: bool,
}

/// Why bd refuses to close `bead` without `--force`: it is pinned or a template, an epic with
/// open children, or open issues still block it. `open_blockers` are the ids of its open
/// `blocks` targets, `open_children` how many of its children are open.
fn close_refusal(bead: &Bead, open_blockers: &[String], open_children: usize) -> Option<String> {
    let id = &bead.id;
    if bead.is_closed() {
        return None;
    }
    if bead.pinned {
        return Some(format!("cannot close {id}: it is pinned (use --force to override)"));
    }
    if bead.is_template || bead.labels.iter().any(|l| l == "template") {
        return Some(format!("cannot close {id}: it is a template (use --force to override)"));
    }
    if bead.issue_type == "epic" && open_children > 0 {
        return Some(format!(
            "cannot close epic {id}: {open_children} open child issue(s) (use --force to override)"
        ));
    }
    if !open_blockers.is_empty() {
        return Some(format!(
            "cannot close {id}: blocked by open issues [{}] (use --force to override)",
            open_blockers.join(", ")
        ));
    }
    None
}

/// Checks [`close_refusal`] against the store.
fn may_close(ctx: &Ctx, id: &str) -> Result<(), crate::beads::BeadError> {
    use crate::beads::model::dep_type;
    let bead = ctx.store.get(id)?;
    let mut blockers = Vec::new();
    for dep in bead.dependencies.iter().filter(|d| d.dep_type == dep_type::BLOCKS) {
        if ctx.store.get(&dep.depends_on_id).is_ok_and(|b| !b.is_closed()) {
            blockers.push(dep.depends_on_id.clone());
        }
    }
    let children = if bead.issue_type == "epic" {
        ctx.store.children(id)?.iter().filter(|c| !c.is_closed()).count()
    } else {
        0
    };
    match close_refusal(&bead, &blockers, children) {
        Some(why) => Err(crate::beads::BeadError::Refused(why)),
        None => Ok(()),
    }
}

/// Runs `bd close`. Closing a closed issue succeeds and changes nothing.
pub fn close(args: CloseArgs, ctx: &Ctx) -> Result<Report, Failure> {
    use crate::work::proof::Offered;
    // bd records "Closed" when no reason is given, so a close always says why.
    let reason = Some(args.reason.as_deref().filter(|r| !r.is_empty()).unwrap_or("Closed"));
    let cwd = std::env::current_dir().unwrap_or_default();
    let offered = match &args.commit {
        Some(commit) => Offered::Commit(commit),
        None => Offered::Head(&cwd),
    };
    if args.suggest_next && args.ids.len() != 1 {
        return Err(Failure::Usage("--suggest-next works when closing a single issue".into()));
    }
    let rules = ctx.dir.as_deref().map(crate::work::proof::Rules::for_store).unwrap_or_default();
    let (beads, errors) = super::each_id(&args.ids, |id| {
        if !args.force {
            may_close(ctx, id)?;
        }
        crate::work::close(&*ctx.store, id, reason, &ctx.actor, &rules, offered)
    })?;
    let report = output::changed("Closed", &beads);
    if !args.suggest_next {
        return Ok(report.with_errors(errors));
    }
    let unblocked = unblocked_by(&ctx.store.export()?, &args.ids[0]);
    if unblocked.is_empty() {
        return Ok(report.with_errors(errors));
    }
    let mut text = report.text;
    text.push_str("Newly unblocked:\n");
    for bead in &unblocked {
        let priority = output::priority_label(bead.priority);
        text.push_str(&format!("  {}: {} ({priority})\n", bead.id, bead.title));
    }
    let json = serde_json::json!({
        "closed": output::beads_json(&beads),
        "unblocked": output::beads_json(&unblocked),
    });
    Ok(Report::new(json, text).with_errors(errors))
}

/// The active beads that `closed` blocked (a `blocks` edge) and that nothing else active
/// blocks now, as bd's `close --suggest-next` counts them.
fn unblocked_by(all: &[Bead], closed: &str) -> Vec<Bead> {
    use crate::beads::model::dep_type;
    let open: std::collections::BTreeSet<&str> =
        all.iter().filter(|b| super::triage::active(b)).map(|b| b.id.as_str()).collect();
    all.iter()
        .filter(|b| open.contains(b.id.as_str()))
        .filter(|b| {
            let mut on = b
                .dependencies
                .iter()
                .filter(|d| d.dep_type == dep_type::BLOCKS)
                .map(|d| d.depends_on_id.as_str());
            let was = on.clone().any(|id| id == closed);
            was && !on.any(|id| open.contains(id))
        })
        .cloned()
        .collect()
}

/// Reopen issues and print them (`--json`: an array).
#[derive(Debug, clap::Args)]
pub struct ReopenArgs {
    /// The issues: closed ones, ones parked after their sessions kept dying, or ones you hold.
    #[arg(required = true, value_name = "ID")]
    ids: Vec<String>,
}

/// Runs `bd reopen`.
pub fn reopen(args: ReopenArgs, ctx: &Ctx) -> Result<Report, Failure> {
    let (beads, errors) =
        super::each_id(&args.ids, |id| crate::work::reopen(&*ctx.store, id, &ctx.actor))?;
    Ok(output::changed("Reopened", &beads).with_errors(errors))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: UpdateArgs,
    }

    fn parse(argv: &[&str]) -> Result<UpdateArgs, String> {
        Cli::try_parse_from(std::iter::once("update").chain(argv.iter().copied()))
            .map(|c| c.args)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn close_refuses_pinned_templates_busy_epics_and_blocked_issues() {
        let bead = |f: &dyn Fn(&mut Bead)| {
            let mut b = Bead { id: "gc-1".into(), status: "open".into(), ..Bead::default() };
            f(&mut b);
            b
        };
        let none: &[String] = &[];
        assert_eq!(close_refusal(&bead(&|_| {}), none, 0), None);
        assert!(close_refusal(&bead(&|b| b.pinned = true), none, 0).unwrap().contains("pinned"));
        let template = bead(&|b| b.labels = vec!["template".into()]);
        assert!(close_refusal(&template, none, 0).unwrap().contains("template"));
        let epic = bead(&|b| b.issue_type = "epic".into());
        assert_eq!(close_refusal(&epic, none, 0), None);
        assert!(close_refusal(&epic, none, 2).unwrap().contains("2 open child issue(s)"));
        let blockers = ["gc-2".to_owned(), "gc-3".to_owned()];
        let why = close_refusal(&bead(&|_| {}), &blockers, 0).unwrap();
        assert_eq!(
            why,
            "cannot close gc-1: blocked by open issues [gc-2, gc-3] (use --force to override)"
        );
        // Closing again what is closed is never refused.
        assert_eq!(close_refusal(&bead(&|b| b.status = "closed".into()), &blockers, 0), None);
    }

    #[test]
    fn set_metadata_without_equals_is_a_usage_error_naming_the_flag() {
        let err = parse(&["gc-1", "--set-metadata", "gc.routed_to"]).unwrap_err();
        assert!(err.contains("--set-metadata"), "{err}");
        assert!(err.contains("KEY=VALUE"), "{err}");
        let err = Cli::try_parse_from(["update", "gc-1", "--set-metadata", "x"]).err().unwrap();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn flags_become_one_partial_change() {
        let args = parse(&[
            "gc-1",
            "gc-2",
            "--status",
            "blocked",
            "-p",
            "0",
            "--assignee",
            "",
            "--set-metadata",
            "a=1",
            "--set-metadata",
            "b=x=y",
            "--unset-metadata",
            "c",
            "--add-label",
            "l1,l2",
            "--remove-label",
            "old",
        ])
        .unwrap();
        assert_eq!(args.ids, ["gc-1", "gc-2"]);
        let change = args.change();
        assert_eq!(change.status.as_deref(), Some("blocked"));
        assert_eq!(change.priority, Some(0));
        assert_eq!(change.assignee.as_deref(), Some(""));
        assert_eq!(change.set_metadata["a"], "1");
        assert_eq!(change.set_metadata["b"], "x=y");
        assert_eq!(change.set_metadata["c"], Value::Null);
        assert_eq!(change.add_labels, ["l1", "l2"]);
        assert_eq!(change.remove_labels, ["old"]);
    }

    #[test]
    fn claim_alone_is_not_a_change() {
        let args = parse(&["gc-1", "--claim"]).unwrap();
        assert!(args.claim && args.change().is_empty());
        assert!(parse(&["--claim"]).is_err(), "an id is required");
    }
}
