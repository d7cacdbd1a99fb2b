//! The bd verbs for looking over and sorting work: `children`, `blocked`, `stale`, `search`,
//! `defer` and `undefer`, with bd's flags and JSON shapes (arrays; `[]` when nothing matches).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{Ctx, Failure, Report, each_id, output};
use crate::beads::model::{dep_type, status};
use crate::beads::{Bead, BeadUpdate, Dependency, ListQuery};

/// bd's default page size for `children`, `stale` and `search`.
const PAGE: usize = 50;

/// `0` means no limit, as in bd.
fn limit(n: usize) -> Option<usize> {
    (n > 0).then_some(n)
}

/// List the children of an issue (closed ones too): `bd list --parent ID --all`.
#[derive(Debug, clap::Args)]
pub struct ChildrenArgs {
    /// The parent issue.
    parent: String,
    /// At most this many (0: no limit).
    #[arg(short = 'n', long, default_value_t = PAGE)]
    limit: usize,
}

/// Runs `bd children`.
pub fn children(args: ChildrenArgs, ctx: &Ctx) -> Result<Report, Failure> {
    let query = ListQuery {
        all: true,
        parent: Some(args.parent.clone()),
        limit: limit(args.limit),
        ..ListQuery::default()
    };
    let beads = ctx.store.list(&query)?;
    if beads.is_empty() {
        return Ok(Report::new(json!([]), format!("Issue '{}' has no children\n", args.parent)));
    }
    Ok(output::listed(&beads, query.limit))
}

/// Whether a bead still counts: bd leaves closed and pinned beads out of blocking.
pub(super) fn active(bead: &Bead) -> bool {
    bead.status != status::CLOSED && bead.status != status::PINNED
}

/// The active beads that cannot start, each with the active beads that hold it (bd's rule, as
/// the store's ready query applies it): an active `blocks` / `conditional-blocks` blocker, a
/// `waits-for` gate whose spawner's children are not done (`all-children`, the default: any
/// open; `any-children`: none closed yet), or a parent that is itself blocked (held by that
/// parent). Pure, so it is tested without a store.
pub fn blocked(all: &[Bead]) -> BTreeMap<String, Vec<String>> {
    let by_id: BTreeMap<&str, &Bead> = all.iter().map(|b| (b.id.as_str(), b)).collect();
    let mut children: BTreeMap<&str, Vec<&Bead>> = BTreeMap::new();
    for bead in all {
        for dep in bead.dependencies.iter().filter(|d| d.dep_type == dep_type::PARENT_CHILD) {
            children.entry(dep.depends_on_id.as_str()).or_default().push(bead);
        }
    }
    let mut held: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for bead in all.iter().filter(|b| active(b)) {
        let mut by = Vec::new();
        for dep in &bead.dependencies {
            let other = by_id.get(dep.depends_on_id.as_str());
            let holds = match dep.dep_type.as_str() {
                dep_type::BLOCKS | dep_type::CONDITIONAL_BLOCKS => other.is_some_and(|b| active(b)),
                dep_type::WAITS_FOR => waiting(dep, &children),
                _ => false,
            };
            if holds && other.is_none_or(|b| active(b)) {
                by.push(dep.depends_on_id.clone());
            }
        }
        if !by.is_empty() {
            held.insert(bead.id.clone(), by);
        }
    }
    // Children of blocked beads are blocked by their parent, however deep.
    let mut queue: Vec<String> = held.keys().cloned().collect();
    while let Some(parent) = queue.pop() {
        for child in children.get(parent.as_str()).into_iter().flatten() {
            if active(child) && !held.contains_key(&child.id) {
                held.insert(child.id.clone(), vec![parent.clone()]);
                queue.push(child.id.clone());
            }
        }
    }
    held
}

/// Whether a `waits-for` edge still holds: its spawner's children are not done
/// (`all-children`, the default: one is not closed; `any-children`: none is closed yet).
pub(super) fn waiting(dep: &Dependency, children: &BTreeMap<&str, Vec<&Bead>>) -> bool {
    let kids = children.get(dep.depends_on_id.as_str()).map_or(&[][..], |k| k);
    let closed = |k: &&Bead| k.status == status::CLOSED;
    if gate(dep.metadata.as_ref()).as_deref() == Some("any-children") {
        !kids.iter().any(closed)
    } else {
        !kids.iter().all(closed)
    }
}

/// The `gate` of a `waits-for` edge's metadata (an object, or JSON text holding one).
fn gate(metadata: Option<&Value>) -> Option<String> {
    let parsed;
    let object = match metadata? {
        Value::String(text) => {
            parsed = serde_json::from_str::<Value>(text).ok()?;
            &parsed
        }
        other => other,
    };
    object.get("gate")?.as_str().map(str::to_owned)
}

/// List blocked issues and what blocks each (`--json`: the issues with `blocked_by` and
/// `blocked_by_count`).
#[derive(Debug, clap::Args)]
pub struct BlockedArgs {
    /// Only children of this issue (and ids below it, `ID.…`).
    #[arg(long, value_name = "ID")]
    parent: Option<String>,
}

/// Runs `bd blocked`.
pub fn blocked_list(args: BlockedArgs, ctx: &Ctx) -> Result<Report, Failure> {
    let all = ctx.store.export()?;
    let held = blocked(&all);
    let under = |bead: &Bead| match &args.parent {
        None => true,
        Some(p) => {
            bead.id.starts_with(&format!("{p}."))
                || bead
                    .dependencies
                    .iter()
                    .any(|d| d.dep_type == dep_type::PARENT_CHILD && d.depends_on_id == *p)
        }
    };
    let mut rows: Vec<(&Bead, &Vec<String>)> =
        all.iter().filter(|b| under(b)).filter_map(|b| held.get(&b.id).map(|by| (b, by))).collect();
    rows.sort_by(|(a, _), (b, _)| {
        a.priority.cmp(&b.priority).then(b.created_at.cmp(&a.created_at)).then(a.id.cmp(&b.id))
    });
    let json = rows
        .iter()
        .map(|(bead, by)| {
            let mut value = output::bead_json(bead);
            value["blocked_by"] = json!(by);
            value["blocked_by_count"] = json!(by.len());
            value
        })
        .collect();
    let text = if rows.is_empty() {
        "No blocked issues\n".to_owned()
    } else {
        let mut text = format!("Blocked issues ({}):\n", rows.len());
        for (bead, by) in &rows {
            text.push_str(&format!(
                "{} {}: {}\n  blocked by {}\n",
                output::priority_label(bead.priority),
                bead.id,
                bead.title,
                by.join(", ")
            ));
        }
        text
    };
    Ok(Report::new(Value::Array(json), text))
}

/// List issues nobody has touched for a while, stalest first.
#[derive(Debug, clap::Args)]
pub struct StaleArgs {
    /// Not updated for at least this many days.
    #[arg(short = 'd', long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    days: u32,
    /// Only this status (open, in_progress, blocked or deferred). Default: open and in_progress.
    #[arg(short = 's', long, value_parser = ["open", "in_progress", "blocked", "deferred"])]
    status: Option<String>,
    /// At most this many (0: no limit).
    #[arg(short = 'n', long, default_value_t = PAGE)]
    limit: usize,
}

/// Runs `bd stale`.
pub fn stale(args: StaleArgs, ctx: &Ctx) -> Result<Report, Failure> {
    let now = Utc::now();
    let statuses = match args.status {
        Some(s) => vec![s],
        None => vec![status::OPEN.to_owned(), status::IN_PROGRESS.to_owned()],
    };
    let cutoff = now - chrono::Duration::days(i64::from(args.days));
    let updated = |b: &Bead| DateTime::parse_from_rfc3339(&b.updated_at).map(|t| t.to_utc()).ok();
    let mut beads: Vec<Bead> = ctx
        .store
        .list(&ListQuery { statuses, ..ListQuery::default() })?
        .into_iter()
        .filter(|b| !b.ephemeral && updated(b).is_some_and(|t| t < cutoff))
        .collect();
    beads.sort_by_key(|b| updated(b));
    beads.truncate(limit(args.limit).unwrap_or(usize::MAX));
    let text = if beads.is_empty() {
        format!("No issues untouched for {}+ days\n", args.days)
    } else {
        let mut text =
            format!("Stale issues ({} not updated in {}+ days):\n", beads.len(), args.days);
        for b in &beads {
            let days = updated(b).map_or(0, |t| (now - t).num_days());
            text.push_str(&format!(
                "{} {}: {}\n  {}, last updated {days} days ago{}\n",
                output::priority_label(b.priority),
                b.id,
                b.title,
                b.status,
                if b.assignee.is_empty() { String::new() } else { format!(", {}", b.assignee) }
            ));
        }
        text
    };
    Ok(Report::new(output::beads_json(&beads), text))
}

/// Find issues whose id, title, description or notes contain every word of the query (any
/// case).
#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// The words to find.
    #[arg(required = true)]
    query: Vec<String>,
    /// Only this status. Default: any.
    #[arg(short = 's', long)]
    status: Option<String>,
    /// At most this many (0: no limit).
    #[arg(short = 'n', long, default_value_t = PAGE)]
    limit: usize,
}

/// Runs `bd search`.
pub fn search(args: SearchArgs, ctx: &Ctx) -> Result<Report, Failure> {
    let words: Vec<String> = args.query.iter().map(|w| w.to_lowercase()).collect();
    let query = ListQuery {
        all: true,
        statuses: args.status.into_iter().collect(),
        ..ListQuery::default()
    };
    let mut beads: Vec<Bead> = ctx
        .store
        .list(&query)?
        .into_iter()
        .filter(|b| {
            let text =
                [&b.id, &b.title, &b.description, &b.notes].map(|s| s.to_lowercase()).join("\n");
            words.iter().all(|w| text.contains(w.as_str()))
        })
        .collect();
    beads.truncate(limit(args.limit).unwrap_or(usize::MAX));
    Ok(output::listed(&beads, None))
}

/// Put issues aside: status `deferred`, never ready until undeferred (or, with `--until`, a
/// deferred time after which they are due again).
#[derive(Debug, clap::Args)]
pub struct DeferArgs {
    /// The issues.
    #[arg(required = true)]
    ids: Vec<String>,
    /// Until when: a duration from now (`2h`, `3d`) or an RFC 3339 time.
    #[arg(long, value_name = "WHEN")]
    until: Option<String>,
}

/// Runs `bd defer`.
pub fn defer(args: DeferArgs, ctx: &Ctx) -> Result<Report, Failure> {
    let until = match &args.until {
        None => None,
        Some(text) => Some(until(text, Utc::now()).map_err(Failure::Usage)?),
    };
    // Every id must exist before anything changes, as bd checks.
    let missing: BTreeSet<&String> =
        args.ids.iter().filter(|id| ctx.store.get(id).is_err()).collect();
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        return Err(Failure::Failed(format!("no issue {}: nothing deferred", names.join(", "))));
    }
    let change = BeadUpdate {
        status: Some(status::DEFERRED.to_owned()),
        defer_until: until.map(Some),
        ..BeadUpdate::default()
    };
    let (done, errors) = each_id(&args.ids, |id| ctx.store.update(id, &change, &ctx.actor))?;
    Ok(output::changed("Deferred", &done).with_errors(errors))
}

/// `--until`: a duration from `now` (`2h`, `+3d`) or an RFC 3339 time; RFC 3339, UTC.
fn until(text: &str, now: DateTime<Utc>) -> Result<String, String> {
    let at = match text.trim_start_matches('+').parse::<crate::api::Duration>() {
        Ok(d) => chrono::Duration::from_std(d.get()).ok().and_then(|d| now.checked_add_signed(d)),
        Err(_) => DateTime::parse_from_rfc3339(text).map(|t| t.to_utc()).ok(),
    };
    at.map(crate::orders::gate::rfc3339).ok_or_else(|| {
        format!("--until `{text}`: neither a duration (2h, 3d) nor an RFC 3339 time")
    })
}

/// Bring deferred issues back: status `open`, the deferred time cleared.
#[derive(Debug, clap::Args)]
pub struct UndeferArgs {
    /// The issues.
    #[arg(required = true)]
    ids: Vec<String>,
}

/// Runs `bd undefer`: issues that are not deferred are left as they are (said on stderr).
pub fn undefer(args: UndeferArgs, ctx: &Ctx) -> Result<Report, Failure> {
    let change = BeadUpdate {
        status: Some(status::OPEN.to_owned()),
        defer_until: Some(None),
        ..BeadUpdate::default()
    };
    let mut notes = Vec::new();
    let mut done = Vec::new();
    let mut errors = Vec::new();
    for id in &args.ids {
        match ctx.store.get(id) {
            Err(e) => errors.push(e.to_string()),
            Ok(bead) if bead.status != status::DEFERRED => {
                notes.push(format!("{id} is not deferred (status: {})", bead.status));
            }
            Ok(_) => match ctx.store.update(id, &change, &ctx.actor) {
                Ok(bead) => done.push(bead),
                Err(e) => errors.push(e.to_string()),
            },
        }
    }
    for note in notes {
        eprintln!("{note}");
    }
    Ok(output::changed("Undeferred", &done).with_errors(errors))
}

#[cfg(test)]
#[path = "triage_tests.rs"]
mod tests;
