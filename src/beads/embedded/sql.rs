//! The SQL behind the embedded store: times, filters, the ready query, and row loading.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, Row, Transaction, params, params_from_iter};
use serde_json::{Map, Value};

use crate::beads::model::{DEFAULT_TYPE, NOT_WORK_TYPES, dep_type, status};
use crate::beads::rules::{Conditions, ImportedFields, imported_fields};
use crate::beads::{Bead, BeadError, Dependency, NewBead, ReadyQuery, Result};

/// Edge types that make a bead wait for another; cycles among them are refused.
pub const BLOCKING_TYPES: &[&str] = &["blocks", "conditional-blocks"];

/// A moment as bd prints it (RFC 3339, UTC, fractional seconds only when non-zero) and as the
/// store sorts it (nanoseconds since the epoch).
#[derive(Clone, Debug)]
pub struct Time {
    pub text: String,
    pub ns: i64,
}

impl Time {
    pub fn now() -> Time {
        Time::from(Utc::now())
    }

    /// Reads an RFC 3339 time or a plain date (midnight UTC).
    pub fn parse(text: &str) -> Result<Time> {
        let text = text.trim();
        if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            return Ok(Time::from(t.with_timezone(&Utc)));
        }
        if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            let midnight = d.and_hms_opt(0, 0, 0).expect("midnight exists");
            return Ok(Time::from(midnight.and_utc()));
        }
        Err(BeadError::Invalid(format!(
            "`{text}` is not a time: expected RFC 3339 (2026-11-24T09:00:00Z) or a date (2026-11-24)"
        )))
    }

    /// Like [`Time::parse`], but an unreadable time is ordered as the epoch instead of
    /// failing (imported data keeps its text).
    pub(crate) fn ns_of(text: &str) -> i64 {
        Time::parse(text).map(|t| t.ns).unwrap_or(0)
    }
}

impl From<DateTime<Utc>> for Time {
    fn from(t: DateTime<Utc>) -> Time {
        Time {
            text: t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            ns: t.timestamp_nanos_opt().unwrap_or(i64::MAX),
        }
    }
}

/// `WHERE` clauses (all must hold) and their parameters.
#[derive(Default)]
pub struct Filter {
    clauses: Vec<String>,
    params: Vec<SqlValue>,
}

impl Filter {
    pub fn push(&mut self, clause: &str, params: Vec<SqlValue>) {
        self.clauses.push(clause.to_owned());
        self.params.extend(params);
    }

    /// `column` is none of `values`.
    pub fn none_of(&mut self, column: &str, values: &[impl AsRef<str>]) {
        self.in_list(column, "NOT IN", values);
    }

    fn in_list(&mut self, column: &str, op: &str, values: &[impl AsRef<str>]) {
        let marks = vec!["?"; values.len()].join(", ");
        self.push(
            &format!("{column} {op} ({marks})"),
            values.iter().map(|v| SqlValue::Text(v.as_ref().to_owned())).collect(),
        );
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() { "1".to_owned() } else { self.clauses.join(" AND ") }
    }
}

impl crate::beads::rules::Conditions for Filter {
    fn push_sql(&mut self, clause: &str) {
        self.push(clause, Vec::new());
    }

    fn any_of(&mut self, column: &str, values: &[impl AsRef<str>]) {
        self.in_list(column, "IN", values);
    }

    fn common(
        &mut self,
        assignee: Option<&str>,
        unassigned: bool,
        labels: &[String],
        issue_type: Option<&str>,
        metadata: &[(String, String)],
    ) {
        if let Some(assignee) = assignee {
            self.push("i.assignee = ?", vec![assignee.to_owned().into()]);
        }
        if unassigned {
            self.push("i.assignee = ''", vec![]);
        }
        for label in labels {
            self.push(
                "EXISTS (SELECT 1 FROM labels l WHERE l.issue_id = i.id AND l.label = ?)",
                vec![label.clone().into()],
            );
        }
        if let Some(t) = issue_type {
            self.push("i.issue_type = ?", vec![t.to_owned().into()]);
        }
        for (key, value) in metadata {
            // Quoted so keys with dots (`gc.routed_to`) are one key, not a path.
            let path = format!("$.\"{}\"", key.replace('"', ""));
            self.push(
                "CAST(json_extract(i.metadata, ?) AS TEXT) = ?",
                vec![path.into(), value.clone().into()],
            );
        }
    }

    fn child_of(&mut self, parent: &str) {
        self.push(
            "i.id IN (SELECT issue_id FROM dependencies
                      WHERE depends_on_id = ? AND type = 'parent-child')",
            vec![parent.to_owned().into()],
        );
    }
}

/// Every bead that cannot start (see [`crate::beads::rules::blocked_cte`]), in SQLite.
static BLOCKED_CTE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    crate::beads::rules::blocked_cte("b.pinned = 0", "json_extract(d.metadata, '$.gate')")
});

const ORDER: &str = "ORDER BY i.priority ASC, i.created_ns DESC, i.id ASC";

/// The ready filter: open, real work, not deferred, not blocked (needs [`BLOCKED_CTE`]).
fn ready_filter(query: &ReadyQuery, now: &Time) -> Filter {
    let mut filter = Filter::default();
    filter.push(
        "i.status = 'open' AND i.pinned = 0 AND i.ephemeral = 0 AND i.is_template = 0",
        vec![],
    );
    filter.none_of("i.issue_type", NOT_WORK_TYPES);
    filter.push("(i.defer_ns IS NULL OR i.defer_ns <= ?)", vec![now.ns.into()]);
    filter.push("i.id NOT IN (SELECT id FROM blocked)", vec![]);
    filter.common(
        query.assignee.as_deref(),
        query.unassigned,
        &query.labels,
        query.issue_type.as_deref(),
        &query.metadata,
    );
    filter
}

fn limit_sql(limit: Option<usize>) -> String {
    limit.map(|n| format!(" LIMIT {n}")).unwrap_or_default()
}

/// The statement selecting the ids of ready beads, in ready order, and its parameters.
pub fn ready_ids_sql(query: &ReadyQuery, now: &Time) -> (String, Vec<SqlValue>) {
    let filter = ready_filter(query, now);
    let sql = format!(
        "{} SELECT i.id FROM issues i WHERE {} {ORDER}{}",
        *BLOCKED_CTE,
        filter.sql(),
        limit_sql(query.limit)
    );
    (sql, filter.params)
}

/// Ids of ready beads, in ready order.
pub fn ready_ids(tx: &Transaction<'_>, query: &ReadyQuery, now: &Time) -> Result<Vec<String>> {
    let (sql, params) = ready_ids_sql(query, now);
    let mut stmt = tx.prepare_cached(&sql)?;
    let ids = stmt
        .query_map(params_from_iter(params.iter()), |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(ids)
}

/// The statement selecting ready beads with list fields, and its parameters ([`load_ready`]
/// then reads each bead's labels with [`LABELS_OF`]).
pub fn ready_sql(query: &ReadyQuery, now: &Time) -> (String, Vec<SqlValue>) {
    let filter = ready_filter(query, now);
    (listed_sql(&BLOCKED_CTE, &filter, query.limit), filter.params)
}

/// Ready beads with list fields (counts, parent, labels), in ready order.
pub fn load_ready(tx: &Transaction<'_>, query: &ReadyQuery, now: &Time) -> Result<Vec<Bead>> {
    let (sql, params) = ready_sql(query, now);
    select_listed(tx, &sql, &params)
}

/// Whether `to` can be reached from `from` along blocking edges.
pub fn reaches(tx: &Transaction<'_>, from: &str, to: &str) -> Result<bool> {
    let found = tx
        .query_row(
            "WITH RECURSIVE reach(id) AS (
                 SELECT ?1
                 UNION
                 SELECT d.depends_on_id FROM dependencies d JOIN reach r ON d.issue_id = r.id
                 WHERE d.type IN ('blocks', 'conditional-blocks'))
             SELECT 1 FROM reach WHERE id = ?2 LIMIT 1",
            params![from, to],
            |_| Ok(()),
        )
        .optional()?;
    Ok(found.is_some())
}

pub fn add_labels(tx: &Transaction<'_>, id: &str, labels: &[String]) -> Result<()> {
    let mut stmt =
        tx.prepare_cached("INSERT OR IGNORE INTO labels (issue_id, label) VALUES (?1, ?2)")?;
    for label in labels.iter().map(|l| l.trim()).filter(|l| !l.is_empty()) {
        stmt.execute(params![id, label])?;
    }
    Ok(())
}

/// Sets the status with its bookkeeping: `closed_at` exactly while closed, `started_at` the
/// first time work starts.
pub fn set_status(
    tx: &Transaction<'_>,
    id: &str,
    new_status: &str,
    reason: Option<&str>,
    now: &Time,
) -> Result<()> {
    if new_status.trim().is_empty() {
        return Err(BeadError::Invalid("a status cannot be empty".into()));
    }
    if new_status == status::CLOSED {
        tx.execute(
            "UPDATE issues SET status = ?2, closed_at = ?3, close_reason = ?4 WHERE id = ?1",
            params![id, new_status, now.text, reason.unwrap_or("")],
        )?;
    } else {
        tx.execute(
            "UPDATE issues SET status = ?2, closed_at = NULL, close_reason = '',
               started_at = CASE WHEN ?2 = 'in_progress' THEN COALESCE(started_at, ?3)
                                 ELSE started_at END
             WHERE id = ?1",
            params![id, new_status, now.text],
        )?;
    }
    Ok(())
}

/// The compare-and-swap at the heart of a claim, taking the bead whose id `target` gives (`?1`
/// in [`claim_row`]); its parameters are `?2` the actor and `?3` the time, as text.
pub fn claim_sql(target: &str) -> String {
    format!(
        "UPDATE issues SET assignee = ?2, status = 'in_progress', updated_at = ?3,
           started_at = COALESCE(started_at, ?3)
         WHERE id = {target} AND status = 'open' AND (assignee = '' OR assignee = ?2)"
    )
}

/// The compare-and-swap at the heart of a claim; true when this call took the bead.
pub fn claim_row(tx: &Transaction<'_>, id: &str, actor: &str, now: &Time) -> Result<bool> {
    let changed = tx.execute(&claim_sql("?1"), params![id, actor, now.text])?;
    Ok(changed == 1)
}

/// A new bead's row; its parameters are [`new_issue_params`].
pub const INSERT_ISSUE: &str =
    "INSERT INTO issues (id, title, description, status, priority, issue_type, assignee,
       created_at, created_ns, created_by, updated_at, defer_until, defer_ns, metadata, ephemeral,
       notes, acceptance_criteria)
     VALUES (?1, ?2, ?3, 'open', ?4, ?5, ?6, ?7, ?8, ?9, ?7, ?10, ?11, ?12, ?13, ?14, ?15)";

/// What [`INSERT_ISSUE`] binds for `new` (its priority checked and its defer time parsed by the
/// caller).
pub fn new_issue_params(
    id: &str,
    new: &NewBead,
    priority: i64,
    actor: &str,
    now: &Time,
    defer: Option<&Time>,
) -> Vec<SqlValue> {
    vec![
        id.to_owned().into(),
        new.title.clone().into(),
        new.description.clone().into(),
        priority.into(),
        new.issue_type.as_deref().unwrap_or(DEFAULT_TYPE).to_owned().into(),
        new.assignee.clone().unwrap_or_default().into(),
        now.text.clone().into(),
        now.ns.into(),
        actor.to_owned().into(),
        defer.map(|t| t.text.clone()).into(),
        defer.map(|t| t.ns).into(),
        Value::Object(new.metadata.clone()).to_string().into(),
        new.ephemeral.into(),
        new.notes.clone().into(),
        new.acceptance.clone().into(),
    ]
}

const COLUMNS: &str = "i.id, i.title, i.description, i.design, i.acceptance_criteria, i.notes,
    i.status, i.priority, i.issue_type, i.assignee, i.owner, i.created_at, i.created_by,
    i.updated_at, i.started_at, i.closed_at, i.close_reason, i.due_at, i.defer_until,
    i.external_ref, i.metadata, i.comments, i.ephemeral, i.pinned, i.is_template,
    i.source_formula, i.mol_type";

const LIST_COLUMNS: &str = "
    (SELECT count(*) FROM dependencies d WHERE d.issue_id = i.id),
    (SELECT count(*) FROM dependencies d WHERE d.depends_on_id = i.id),
    (SELECT d.depends_on_id FROM dependencies d
       WHERE d.issue_id = i.id AND d.type = 'parent-child' LIMIT 1)";

fn json_object(text: &str) -> Map<String, Value> {
    serde_json::from_str(text).unwrap_or_default()
}

fn bead_from_row(r: &Row<'_>) -> rusqlite::Result<Bead> {
    let comments: Vec<Value> = serde_json::from_str(&r.get::<_, String>(21)?).unwrap_or_default();
    Ok(Bead {
        id: r.get(0)?,
        title: r.get(1)?,
        description: r.get(2)?,
        design: r.get(3)?,
        acceptance_criteria: r.get(4)?,
        notes: r.get(5)?,
        status: r.get(6)?,
        priority: r.get(7)?,
        issue_type: r.get(8)?,
        assignee: r.get(9)?,
        owner: r.get(10)?,
        created_at: r.get(11)?,
        created_by: r.get(12)?,
        updated_at: r.get(13)?,
        started_at: r.get(14)?,
        closed_at: r.get(15)?,
        close_reason: r.get(16)?,
        due_at: r.get(17)?,
        defer_until: r.get(18)?,
        external_ref: r.get(19)?,
        metadata: json_object(&r.get::<_, String>(20)?),
        comments,
        ephemeral: r.get(22)?,
        pinned: r.get(23)?,
        is_template: r.get(24)?,
        source_formula: r.get(25)?,
        mol_type: r.get(26)?,
        ..Bead::default()
    })
}

/// A bead's labels, sorted; `?1` is its id.
pub const LABELS_OF: &str = "SELECT label FROM labels WHERE issue_id = ?1 ORDER BY label";

fn labels_of(tx: &Transaction<'_>, id: &str) -> Result<Vec<String>> {
    let mut stmt = tx.prepare_cached(LABELS_OF)?;
    let labels = stmt.query_map([id], |r| r.get(0))?.collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(labels)
}

fn dep_from_row(r: &Row<'_>) -> rusqlite::Result<Dependency> {
    let metadata: Option<String> = r.get(5)?;
    Ok(Dependency {
        issue_id: r.get(0)?,
        depends_on_id: r.get(1)?,
        dep_type: r.get(2)?,
        created_at: r.get(3)?,
        created_by: r.get(4)?,
        metadata: metadata.and_then(|m| serde_json::from_str(&m).ok()),
    })
}

const DEP_COLUMNS: &str = "issue_id, depends_on_id, type, created_at, created_by, metadata";

fn deps_of(tx: &Transaction<'_>, id: &str) -> Result<Vec<Dependency>> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {DEP_COLUMNS} FROM dependencies WHERE issue_id = ?1 ORDER BY depends_on_id"
    ))?;
    let deps = stmt.query_map([id], dep_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(deps)
}

/// Every edge starting or ending at `id`.
pub fn deps_touching(tx: &Transaction<'_>, id: &str) -> Result<Vec<Dependency>> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {DEP_COLUMNS} FROM dependencies WHERE issue_id = ?1 OR depends_on_id = ?1
         ORDER BY issue_id = ?1 DESC, issue_id, depends_on_id"
    ))?;
    let deps = stmt.query_map([id], dep_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(deps)
}

/// One bead with its labels and dependencies.
pub fn load_full(tx: &Transaction<'_>, id: &str) -> Result<Option<Bead>> {
    let mut stmt = tx.prepare_cached(&format!("SELECT {COLUMNS} FROM issues i WHERE i.id = ?1"))?;
    let Some(mut bead) = stmt.query_row([id], bead_from_row).optional()? else {
        return Ok(None);
    };
    bead.labels = labels_of(tx, id)?;
    bead.dependencies = deps_of(tx, id)?;
    Ok(Some(bead))
}

/// Beads matching `filter` as `list` shows them: labels, counts and parent, in list order.
pub fn load_listed(
    tx: &Transaction<'_>,
    filter: &Filter,
    limit: Option<usize>,
) -> Result<Vec<Bead>> {
    select_listed(tx, &listed_sql("", filter, limit), &filter.params)
}

/// The statement selecting beads as `list` shows them, after the `with` clause (or "").
fn listed_sql(with: &str, filter: &Filter, limit: Option<usize>) -> String {
    format!(
        "{with} SELECT {COLUMNS}, {LIST_COLUMNS} FROM issues i WHERE {} {ORDER}{}",
        filter.sql(),
        limit_sql(limit)
    )
}

/// Runs a [`listed_sql`] statement and reads each bead's labels.
fn select_listed(tx: &Transaction<'_>, sql: &str, params: &[SqlValue]) -> Result<Vec<Bead>> {
    let mut stmt = tx.prepare_cached(sql)?;
    let mut beads = stmt
        .query_map(params_from_iter(params.iter()), |r| {
            let mut bead = bead_from_row(r)?;
            bead.dependency_count = Some(r.get::<_, i64>(27)?.unsigned_abs());
            bead.dependent_count = Some(r.get::<_, i64>(28)?.unsigned_abs());
            bead.parent = r.get(29)?;
            bead.comment_count = Some(bead.comments.len() as u64);
            Ok(bead)
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for bead in &mut beads {
        bead.labels = labels_of(tx, &bead.id)?;
    }
    Ok(beads)
}

/// Every bead, with labels and dependencies, in id order (export).
pub fn load_everything(tx: &Transaction<'_>) -> Result<Vec<Bead>> {
    let mut stmt = tx.prepare(&format!("SELECT {COLUMNS} FROM issues i ORDER BY i.id"))?;
    let mut beads = stmt.query_map([], bead_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    for bead in &mut beads {
        bead.labels = labels_of(tx, &bead.id)?;
        bead.dependencies = deps_of(tx, &bead.id)?;
    }
    Ok(beads)
}

/// The parts of a bead an import writes, in a comparable form.
fn import_form(bead: &Bead) -> Bead {
    let mut bead = bead.clone();
    bead.labels.sort();
    bead.labels.dedup();
    for dep in &mut bead.dependencies {
        if dep.issue_id.is_empty() {
            dep.issue_id = bead.id.clone();
        }
    }
    bead.dependencies.sort_by(|a, b| a.depends_on_id.cmp(&b.depends_on_id));
    bead.dependency_count = None;
    bead.dependent_count = None;
    bead.comment_count = None;
    bead.parent = None;
    bead
}

/// Whether importing `line` would leave `existing` as it is.
pub fn same_for_import(existing: &Bead, line: &Bead) -> bool {
    import_form(existing) == import_form(line)
}

/// The columns an import writes, in the order of [`store_imported`]'s parameters.
pub(crate) const IMPORTED_COLUMNS: [&str; 29] = [
    "id",
    "title",
    "description",
    "design",
    "acceptance_criteria",
    "notes",
    "status",
    "priority",
    "issue_type",
    "assignee",
    "owner",
    "created_at",
    "created_ns",
    "created_by",
    "updated_at",
    "started_at",
    "closed_at",
    "close_reason",
    "due_at",
    "defer_until",
    "defer_ns",
    "external_ref",
    "metadata",
    "comments",
    "ephemeral",
    "pinned",
    "is_template",
    "source_formula",
    "mol_type",
];

/// Inserts an imported row, or replaces every imported column of an existing one (its child
/// counter is kept, so child numbers are never reused).
static UPSERT_IMPORTED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let marks: Vec<String> = (1..=IMPORTED_COLUMNS.len()).map(|n| format!("?{n}")).collect();
    let updates: Vec<String> =
        IMPORTED_COLUMNS[1..].iter().map(|c| format!("{c} = excluded.{c}")).collect();
    format!(
        "INSERT INTO issues ({}) VALUES ({}) ON CONFLICT (id) DO UPDATE SET {}",
        IMPORTED_COLUMNS.join(", "),
        marks.join(", "),
        updates.join(", ")
    )
});

/// Writes an imported bead's row and labels (its edges come later).
pub fn store_imported(tx: &Transaction<'_>, bead: &Bead) -> Result<()> {
    let ImportedFields { created_at, updated_at, status, closed_at, issue_type } =
        imported_fields(bead);
    tx.execute(
        &UPSERT_IMPORTED,
        params![
            bead.id,
            bead.title,
            bead.description,
            bead.design,
            bead.acceptance_criteria,
            bead.notes,
            status,
            bead.priority,
            issue_type,
            bead.assignee,
            bead.owner,
            created_at,
            Time::ns_of(&created_at),
            bead.created_by,
            updated_at,
            bead.started_at,
            closed_at,
            bead.close_reason,
            bead.due_at,
            bead.defer_until,
            bead.defer_until.as_deref().map(Time::ns_of),
            bead.external_ref,
            Value::Object(bead.metadata.clone()).to_string(),
            Value::Array(bead.comments.clone()).to_string(),
            bead.ephemeral,
            bead.pinned,
            bead.is_template,
            bead.source_formula,
            bead.mol_type,
        ],
    )?;
    tx.execute("DELETE FROM labels WHERE issue_id = ?1", [&bead.id])?;
    add_labels(tx, &bead.id, &bead.labels)
}

/// Replaces the edges out of an imported bead with the line's.
pub fn replace_imported_deps(tx: &Transaction<'_>, bead: &Bead) -> Result<()> {
    tx.execute("DELETE FROM dependencies WHERE issue_id = ?1", [&bead.id])?;
    let mut stmt = tx.prepare_cached(
        "INSERT OR REPLACE INTO dependencies
           (issue_id, depends_on_id, type, created_at, created_by, metadata)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for dep in &bead.dependencies {
        if dep.depends_on_id.is_empty() || dep.depends_on_id == bead.id {
            continue;
        }
        let dep_type = if dep.dep_type.is_empty() { dep_type::BLOCKS } else { &dep.dep_type };
        stmt.execute(params![
            bead.id,
            dep.depends_on_id,
            dep_type,
            if dep.created_at.is_empty() { &bead.created_at } else { &dep.created_at },
            dep.created_by,
            dep.metadata.as_ref().map(Value::to_string),
        ])?;
    }
    Ok(())
}
