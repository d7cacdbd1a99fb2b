//! The rules every SQL bead store applies the same way, whatever its database: what a title,
//! a priority and a defer time must be, what an import must carry, why a claim is refused, and
//! which beads `list` selects. Pure; each store renders the selection in its own SQL.

use super::embedded::sql::Time;
use super::model::status;
use super::{Bead, BeadError, BeadUpdate, ListQuery, Result};

/// A title must say something.
pub(crate) fn require_title(title: &str) -> Result<()> {
    if title.trim().is_empty() {
        return Err(BeadError::Invalid("a bead needs a non-empty title".into()));
    }
    Ok(())
}

/// Priorities run from 0 (highest) to 4.
pub(crate) fn check_priority(priority: i64) -> Result<i64> {
    if (0..=4).contains(&priority) {
        Ok(priority)
    } else {
        Err(BeadError::Invalid(format!(
            "priority {priority} is out of range (0 highest … 4 lowest)"
        )))
    }
}

/// Checks `change`'s title and priority, and parses its defer time (`Some(None)` clears it).
pub(crate) fn checked_defer(change: &BeadUpdate) -> Result<Option<Option<Time>>> {
    if let Some(title) = &change.title {
        require_title(title)?;
    }
    if let Some(priority) = change.priority {
        check_priority(priority)?;
    }
    Ok(match &change.defer_until {
        Some(Some(text)) => Some(Some(Time::parse(text)?)),
        Some(None) => Some(None),
        None => None,
    })
}

/// Every imported bead has an id and a title (checked before anything is written).
pub(crate) fn check_imported(beads: &[Bead]) -> Result<()> {
    for bead in beads {
        if bead.id.trim().is_empty() {
            return Err(BeadError::Invalid("an imported bead has no id".into()));
        }
        require_title(&bead.title)
            .map_err(|_| BeadError::Invalid(format!("imported bead {} has no title", bead.id)))?;
    }
    Ok(())
}

/// The fields of an imported bead a store fills in when the line leaves them empty.
pub(crate) struct ImportedFields<'a> {
    pub created_at: String,
    pub updated_at: String,
    pub status: String,
    pub closed_at: Option<String>,
    pub issue_type: &'a str,
}

/// What an imported `bead` is stored with: its own times and status, else now, its creation
/// and `open`; `closed_at` exactly while closed (bd guarantees it; data that broke it is
/// mended), the default type when it has none.
pub(crate) fn imported_fields(bead: &Bead) -> ImportedFields<'_> {
    let or = |text: &str, default: &str| {
        if text.is_empty() { default.to_owned() } else { text.to_owned() }
    };
    let created_at = or(&bead.created_at, &Time::now().text);
    let updated_at = or(&bead.updated_at, &created_at);
    let status = or(&bead.status, status::OPEN);
    let closed_at = match (status == status::CLOSED, &bead.closed_at) {
        (true, Some(t)) => Some(t.clone()),
        (true, None) => Some(updated_at.clone()),
        (false, _) => None,
    };
    let issue_type =
        if bead.issue_type.is_empty() { super::model::DEFAULT_TYPE } else { &bead.issue_type };
    ImportedFields { created_at, updated_at, status, closed_at, issue_type }
}

/// After a claim's compare-and-swap took nothing: fine when `actor` already holds the bead,
/// else why not. `row` is the bead's status and assignee, `None` when there is no such bead.
pub(crate) fn claim_refused(id: &str, actor: &str, row: Option<(String, String)>) -> Result<()> {
    match row {
        None => Err(BeadError::NotFound(id.to_owned())),
        Some((s, by)) if s == status::IN_PROGRESS && by == actor => Ok(()),
        Some((_, by)) if !by.is_empty() && by != actor => {
            Err(BeadError::AlreadyClaimed { id: id.to_owned(), by })
        }
        Some((status, _)) => Err(BeadError::NotClaimable { id: id.to_owned(), status }),
    }
}

/// What a store's `WHERE` builder offers for [`list_filter`].
pub(crate) trait Conditions: Default {
    /// A condition with no parameters.
    fn push_sql(&mut self, clause: &str);
    /// `column` is one of `values`.
    fn any_of(&mut self, column: &str, values: &[impl AsRef<str>]);
    /// The filters `list` and `ready` share.
    fn common(
        &mut self,
        assignee: Option<&str>,
        unassigned: bool,
        labels: &[String],
        issue_type: Option<&str>,
        metadata: &[(String, String)],
    );
    /// The bead is a direct child of `parent`.
    fn child_of(&mut self, parent: &str);
}

/// The beads `list` selects for `query`.
pub(crate) fn list_filter<F: Conditions>(query: &ListQuery) -> F {
    let mut filter = F::default();
    if !query.statuses.is_empty() {
        filter.any_of("i.status", &query.statuses);
    } else if !query.all {
        filter.push_sql("i.status <> 'closed'");
    }
    filter.common(
        query.assignee.as_deref(),
        query.no_assignee,
        &query.labels,
        query.issue_type.as_deref(),
        &query.metadata,
    );
    if let Some(parent) = &query.parent {
        filter.child_of(parent);
    }
    filter
}

/// The `WITH` clause defining `blocked`, every bead that cannot start (the ready rules both
/// SQL stores apply): blocked directly (an open `blocks` / `conditional-blocks` blocker, or a
/// `waits-for` gate whose spawner's children are not done) or a descendant of a blocked bead
/// through `parent-child` edges.
///
/// `blocked_directly` may list a bead twice (`UNION ALL`): `blocked`'s `UNION` removes the
/// duplicates anyway, and a `UNION` here made SQLite 3.54 sort both halves for a merge and scan
/// the whole dependencies table instead of its covering index (about 35% of a `ready` on a
/// 100,000-bead store; see benches/beads-vs-sqlite3.sh).
///
/// `blocker_not_pinned` and `gate` are the dialect's spelling of "the blocker `b` is not
/// pinned" and "the waits-for edge `d`'s gate (from its metadata)".
pub(crate) fn blocked_cte(blocker_not_pinned: &str, gate: &str) -> String {
    format!(
        "
WITH RECURSIVE
blocked_directly(id) AS (
    SELECT d.issue_id FROM dependencies d JOIN issues b ON b.id = d.depends_on_id
    WHERE d.type IN ('blocks', 'conditional-blocks')
      AND b.status NOT IN ('closed', 'pinned') AND {blocker_not_pinned}
    UNION ALL
    SELECT d.issue_id FROM dependencies d
    WHERE d.type = 'waits-for' AND CASE
        WHEN COALESCE({gate}, 'all-children') = 'any-children'
        THEN NOT EXISTS (
            SELECT 1 FROM dependencies c JOIN issues k ON k.id = c.issue_id
            WHERE c.depends_on_id = d.depends_on_id AND c.type = 'parent-child'
              AND k.status = 'closed')
        ELSE EXISTS (
            SELECT 1 FROM dependencies c JOIN issues k ON k.id = c.issue_id
            WHERE c.depends_on_id = d.depends_on_id AND c.type = 'parent-child'
              AND k.status <> 'closed')
        END
),
blocked(id, depth) AS (
    SELECT id, 0 FROM blocked_directly
    UNION
    SELECT c.issue_id, b.depth + 1 FROM dependencies c JOIN blocked b ON c.depends_on_id = b.id
    WHERE c.type = 'parent-child' AND b.depth < 50
)"
    )
}
