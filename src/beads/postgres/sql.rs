//! The SQL behind the PostgreSQL store: its tables, filters, the ready query and row loading.
//! The same data model as the embedded store's (see `embedded/sql.rs`), in PostgreSQL's
//! dialect: `$n` parameters, `BOOLEAN` flags, `jsonb` for metadata lookups.

use postgres::types::ToSql;
use postgres::{GenericClient, Row};
use serde_json::{Map, Value};

use crate::beads::embedded::sql::Time;
use crate::beads::model::{DEFAULT_TYPE, NOT_WORK_TYPES, dep_type, status};
use crate::beads::rules::{Conditions, ImportedFields, imported_fields};
use crate::beads::{Bead, BeadError, Dependency, NewBead, ReadyQuery, Result};

/// Bumped when the tables change; opening refuses a schema from a newer gc.
pub const VERSION: i64 = 1;

/// The tables and indexes of one store (inside its own schema).
pub const TABLES: &str = "
CREATE TABLE IF NOT EXISTS issues (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    design TEXT NOT NULL DEFAULT '',
    acceptance_criteria TEXT NOT NULL DEFAULT '',
    notes TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'open',
    priority BIGINT NOT NULL DEFAULT 2,
    issue_type TEXT NOT NULL DEFAULT 'task',
    assignee TEXT NOT NULL DEFAULT '',
    owner TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    created_ns BIGINT NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL,
    started_at TEXT,
    closed_at TEXT,
    close_reason TEXT NOT NULL DEFAULT '',
    due_at TEXT,
    defer_until TEXT,
    defer_ns BIGINT,
    external_ref TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    comments TEXT NOT NULL DEFAULT '[]',
    ephemeral BOOLEAN NOT NULL DEFAULT FALSE,
    pinned BOOLEAN NOT NULL DEFAULT FALSE,
    is_template BOOLEAN NOT NULL DEFAULT FALSE,
    source_formula TEXT NOT NULL DEFAULT '',
    mol_type TEXT NOT NULL DEFAULT '',
    child_count BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS issues_by_status ON issues (status, priority, created_ns DESC);
CREATE INDEX IF NOT EXISTS issues_by_assignee ON issues (assignee, status);
CREATE TABLE IF NOT EXISTS labels (
    issue_id TEXT NOT NULL,
    label TEXT NOT NULL,
    PRIMARY KEY (issue_id, label)
);
CREATE INDEX IF NOT EXISTS labels_by_label ON labels (label, issue_id);
CREATE TABLE IF NOT EXISTS dependencies (
    issue_id TEXT NOT NULL,
    depends_on_id TEXT NOT NULL,
    type TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    metadata TEXT,
    PRIMARY KEY (issue_id, depends_on_id)
);
CREATE INDEX IF NOT EXISTS deps_by_target ON dependencies (depends_on_id, type);
CREATE TABLE IF NOT EXISTS store_info (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

/// A statement parameter.
pub type Param = Box<dyn ToSql + Sync + Send>;

/// `params` as the references the client takes.
pub fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect()
}

/// `sql` with each `?` replaced by `$1`, `$2`, … in order (the filters are written with `?`
/// so clauses can be combined; no statement here uses `?` otherwise).
pub fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

/// `WHERE` clauses (all must hold) and their parameters.
#[derive(Default)]
pub struct Filter {
    clauses: Vec<String>,
    pub params: Vec<Param>,
}

impl Filter {
    pub fn push(&mut self, clause: &str, params: Vec<Param>) {
        self.clauses.push(clause.to_owned());
        self.params.extend(params);
    }

    /// `column` is none of `values`.
    pub fn none_of(&mut self, column: &str, values: &[impl AsRef<str>]) {
        let values: Vec<String> = values.iter().map(|v| v.as_ref().to_owned()).collect();
        self.push(&format!("NOT ({column} = ANY(?))"), vec![Box::new(values)]);
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() { "TRUE".to_owned() } else { self.clauses.join(" AND ") }
    }
}

impl crate::beads::rules::Conditions for Filter {
    fn push_sql(&mut self, clause: &str) {
        self.push(clause, Vec::new());
    }

    fn any_of(&mut self, column: &str, values: &[impl AsRef<str>]) {
        let values: Vec<String> = values.iter().map(|v| v.as_ref().to_owned()).collect();
        self.push(&format!("{column} = ANY(?)"), vec![Box::new(values)]);
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
            self.push("i.assignee = ?", vec![Box::new(assignee.to_owned())]);
        }
        if unassigned {
            self.push("i.assignee = ''", vec![]);
        }
        for label in labels {
            self.push(
                "EXISTS (SELECT 1 FROM labels l WHERE l.issue_id = i.id AND l.label = ?)",
                vec![Box::new(label.clone())],
            );
        }
        if let Some(t) = issue_type {
            self.push("i.issue_type = ?", vec![Box::new(t.to_owned())]);
        }
        for (key, value) in metadata {
            // A key with dots (`gc.routed_to`) is one key: `->>` takes it whole.
            self.push(
                "(i.metadata::jsonb ->> ?) = ?",
                vec![Box::new(key.clone()), Box::new(value.clone())],
            );
        }
    }

    fn child_of(&mut self, parent: &str) {
        self.push(
            "i.id IN (SELECT issue_id FROM dependencies
                      WHERE depends_on_id = ? AND type = 'parent-child')",
            vec![Box::new(parent.to_owned())],
        );
    }
}

/// Every bead that cannot start (see [`crate::beads::rules::blocked_cte`]), in PostgreSQL.
static BLOCKED_CTE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    crate::beads::rules::blocked_cte("NOT b.pinned", "d.metadata::jsonb ->> 'gate'")
});

const ORDER: &str = "ORDER BY i.priority ASC, i.created_ns DESC, i.id ASC";

fn ready_filter(query: &ReadyQuery, now: &Time) -> Filter {
    let mut filter = Filter::default();
    filter.push(
        "i.status = 'open' AND NOT i.pinned AND NOT i.ephemeral AND NOT i.is_template",
        vec![],
    );
    filter.none_of("i.issue_type", NOT_WORK_TYPES);
    filter.push("(i.defer_ns IS NULL OR i.defer_ns <= ?)", vec![Box::new(now.ns)]);
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

/// Ids of ready beads, in ready order.
pub fn ready_ids(
    c: &mut impl GenericClient,
    query: &ReadyQuery,
    now: &Time,
) -> Result<Vec<String>> {
    let filter = ready_filter(query, now);
    let sql = format!(
        "{} SELECT i.id FROM issues i WHERE {} {ORDER}{}",
        *BLOCKED_CTE,
        filter.sql(),
        limit_sql(query.limit)
    );
    let rows = c.query(&numbered(&sql), &refs(&filter.params))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Ready beads with list fields, in ready order.
pub fn load_ready(
    c: &mut impl GenericClient,
    kept: Option<&mut Statements>,
    query: &ReadyQuery,
    now: &Time,
) -> Result<Vec<Bead>> {
    let filter = ready_filter(query, now);
    select_listed(c, kept, &listed_sql(&BLOCKED_CTE, &filter, query.limit), &filter.params)
}

/// Whether `to` can be reached from `from` along blocking edges.
pub fn reaches(c: &mut impl GenericClient, from: &str, to: &str) -> Result<bool> {
    let row = c.query_opt(
        "WITH RECURSIVE reach(id) AS (
             SELECT $1::text
             UNION
             SELECT d.depends_on_id FROM dependencies d JOIN reach r ON d.issue_id = r.id
             WHERE d.type IN ('blocks', 'conditional-blocks'))
         SELECT 1 FROM reach WHERE id = $2 LIMIT 1",
        &[&from, &to],
    )?;
    Ok(row.is_some())
}

pub fn add_labels(c: &mut impl GenericClient, id: &str, labels: &[String]) -> Result<()> {
    for label in labels.iter().map(|l| l.trim()).filter(|l| !l.is_empty()) {
        c.execute(
            "INSERT INTO labels (issue_id, label) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&id, &label],
        )?;
    }
    Ok(())
}

/// Sets the status with its bookkeeping (see the embedded store's `set_status`).
pub fn set_status(
    c: &mut impl GenericClient,
    id: &str,
    new_status: &str,
    reason: Option<&str>,
    now: &Time,
) -> Result<()> {
    if new_status.trim().is_empty() {
        return Err(BeadError::Invalid("a status cannot be empty".into()));
    }
    if new_status == status::CLOSED {
        c.execute(
            "UPDATE issues SET status = $2, closed_at = $3, close_reason = $4 WHERE id = $1",
            &[&id, &new_status, &now.text, &reason.unwrap_or("")],
        )?;
    } else {
        c.execute(
            "UPDATE issues SET status = $2, closed_at = NULL, close_reason = '',
               started_at = CASE WHEN $2 = 'in_progress' THEN COALESCE(started_at, $3)
                                 ELSE started_at END
             WHERE id = $1",
            &[&id, &new_status, &now.text],
        )?;
    }
    Ok(())
}

/// The compare-and-swap at the heart of a claim; true when this call took the bead.
pub fn claim_row(c: &mut impl GenericClient, id: &str, actor: &str, now: &Time) -> Result<bool> {
    let changed = c.execute(
        "UPDATE issues SET assignee = $2, status = 'in_progress', updated_at = $3,
           started_at = COALESCE(started_at, $3)
         WHERE id = $1 AND status = 'open' AND (assignee = '' OR assignee = $2)",
        &[&id, &actor, &now.text],
    )?;
    Ok(changed == 1)
}

/// Inserts a new bead's row (its priority checked and its defer time parsed by the caller).
pub fn insert_issue(
    c: &mut impl GenericClient,
    id: &str,
    new: &NewBead,
    priority: i64,
    actor: &str,
    now: &Time,
    defer: Option<&Time>,
) -> Result<()> {
    let issue_type = new.issue_type.as_deref().unwrap_or(DEFAULT_TYPE);
    let assignee = new.assignee.clone().unwrap_or_default();
    let metadata = Value::Object(new.metadata.clone()).to_string();
    c.execute(
        "INSERT INTO issues (id, title, description, status, priority, issue_type, assignee,
           created_at, created_ns, created_by, updated_at, defer_until, defer_ns, metadata,
           ephemeral, notes, acceptance_criteria)
         VALUES ($1, $2, $3, 'open', $4, $5, $6, $7, $8, $9, $7, $10, $11, $12, $13, $14, $15)",
        &[
            &id,
            &new.title,
            &new.description,
            &priority,
            &issue_type,
            &assignee,
            &now.text,
            &now.ns,
            &actor,
            &defer.map(|t| t.text.clone()),
            &defer.map(|t| t.ns),
            &metadata,
            &new.ephemeral,
            &new.notes,
            &new.acceptance,
        ],
    )?;
    Ok(())
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
       WHERE d.issue_id = i.id AND d.type = 'parent-child' LIMIT 1),
    ARRAY(SELECT l.label FROM labels l WHERE l.issue_id = i.id ORDER BY l.label)";

fn bead_from_row(r: &Row) -> Bead {
    let comments: Vec<Value> = serde_json::from_str(r.get::<_, &str>(21)).unwrap_or_default();
    Bead {
        id: r.get(0),
        title: r.get(1),
        description: r.get(2),
        design: r.get(3),
        acceptance_criteria: r.get(4),
        notes: r.get(5),
        status: r.get(6),
        priority: r.get(7),
        issue_type: r.get(8),
        assignee: r.get(9),
        owner: r.get(10),
        created_at: r.get(11),
        created_by: r.get(12),
        updated_at: r.get(13),
        started_at: r.get(14),
        closed_at: r.get(15),
        close_reason: r.get(16),
        due_at: r.get(17),
        defer_until: r.get(18),
        external_ref: r.get(19),
        metadata: serde_json::from_str::<Map<String, Value>>(r.get::<_, &str>(20))
            .unwrap_or_default(),
        comments,
        ephemeral: r.get(22),
        pinned: r.get(23),
        is_template: r.get(24),
        source_formula: r.get(25),
        mol_type: r.get(26),
        ..Bead::default()
    }
}

fn dep_from_row(r: &Row) -> Dependency {
    let metadata: Option<String> = r.get(5);
    Dependency {
        issue_id: r.get(0),
        depends_on_id: r.get(1),
        dep_type: r.get(2),
        created_at: r.get(3),
        created_by: r.get(4),
        metadata: metadata.and_then(|m| serde_json::from_str(&m).ok()),
    }
}

const DEP_COLUMNS: &str = "issue_id, depends_on_id, type, created_at, created_by, metadata";

/// Every edge starting or ending at `id`.
pub fn deps_touching(c: &mut impl GenericClient, id: &str) -> Result<Vec<Dependency>> {
    let rows = c.query(
        &format!(
            "SELECT {DEP_COLUMNS} FROM dependencies WHERE issue_id = $1 OR depends_on_id = $1
             ORDER BY issue_id = $1 DESC, issue_id, depends_on_id"
        ),
        &[&id],
    )?;
    Ok(rows.iter().map(dep_from_row).collect())
}

/// One bead with its labels and dependencies.
pub fn load_full(c: &mut impl GenericClient, id: &str) -> Result<Option<Bead>> {
    let sql = format!("SELECT {COLUMNS}, {FULL_COLUMNS} FROM issues i WHERE i.id = $1");
    Ok(c.query_opt(&sql, &[&id])?.map(|row| full_bead_from_row(&row)))
}

/// A bead's labels and the edges out of it, in the same row as its columns (one round trip
/// per bead instead of three): labels sorted, edges as a JSON array of
/// `[issue_id, depends_on_id, type, created_at, created_by, metadata]` by target.
const FULL_COLUMNS: &str = "
    ARRAY(SELECT l.label FROM labels l WHERE l.issue_id = i.id ORDER BY l.label),
    (SELECT COALESCE(json_agg(json_build_array(d.issue_id, d.depends_on_id, d.type,
        d.created_at, d.created_by, d.metadata) ORDER BY d.depends_on_id), '[]'::json)::text
     FROM dependencies d WHERE d.issue_id = i.id)";

/// A row of `{COLUMNS}, {FULL_COLUMNS}`.
fn full_bead_from_row(row: &Row) -> Bead {
    let mut bead = bead_from_row(row);
    bead.labels = row.get(27);
    let edges: Vec<Vec<Value>> = serde_json::from_str(row.get::<_, &str>(28)).unwrap_or_default();
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
    bead.dependencies = edges
        .iter()
        .map(|e| Dependency {
            issue_id: text(e.first()),
            depends_on_id: text(e.get(1)),
            dep_type: text(e.get(2)),
            created_at: text(e.get(3)),
            created_by: text(e.get(4)),
            metadata: e.get(5).and_then(Value::as_str).and_then(|m| serde_json::from_str(m).ok()),
        })
        .collect();
    bead
}

/// Beads matching `filter` as `list` shows them, in list order.
pub fn load_listed(
    c: &mut impl GenericClient,
    kept: Option<&mut Statements>,
    filter: &Filter,
    limit: Option<usize>,
) -> Result<Vec<Bead>> {
    select_listed(c, kept, &listed_sql("", filter, limit), &filter.params)
}

/// Prepared statements of one connection, by their text. A list or ready query's text depends
/// only on which filters it uses, so a store sees a handful of them again and again; preparing
/// each once saves the server parsing and planning it on every call (ready: about half its
/// time). Bounded: past [`Statements::MOST`] texts it starts afresh.
#[derive(Default)]
pub struct Statements {
    prepared: std::collections::HashMap<String, postgres::Statement>,
}

impl Statements {
    /// Most statements kept.
    const MOST: usize = 64;

    fn prepared(&mut self, c: &mut impl GenericClient, sql: &str) -> Result<postgres::Statement> {
        if let Some(statement) = self.prepared.get(sql) {
            return Ok(statement.clone());
        }
        if self.prepared.len() >= Self::MOST {
            self.prepared.clear();
        }
        let statement = c.prepare(sql)?;
        self.prepared.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

fn listed_sql(with: &str, filter: &Filter, limit: Option<usize>) -> String {
    format!(
        "{with} SELECT {COLUMNS}, {LIST_COLUMNS} FROM issues i WHERE {} {ORDER}{}",
        filter.sql(),
        limit_sql(limit)
    )
}

fn select_listed(
    c: &mut impl GenericClient,
    kept: Option<&mut Statements>,
    sql: &str,
    params: &[Param],
) -> Result<Vec<Bead>> {
    let sql = numbered(sql);
    let rows = match kept {
        Some(kept) => {
            let statement = kept.prepared(c, &sql)?;
            match c.query(&statement, &refs(params)) {
                // The tables changed shape under a kept statement (a schema upgrade by another
                // process): prepare it afresh, once.
                Err(e) if e.code() == Some(&postgres::error::SqlState::FEATURE_NOT_SUPPORTED) => {
                    kept.prepared.clear();
                    let statement = kept.prepared(c, &sql)?;
                    c.query(&statement, &refs(params))?
                }
                rows => rows?,
            }
        }
        None => c.query(&sql, &refs(params))?,
    };
    let beads: Vec<Bead> = rows
        .iter()
        .map(|r| {
            let mut bead = bead_from_row(r);
            bead.dependency_count = Some(r.get::<_, i64>(27).unsigned_abs());
            bead.dependent_count = Some(r.get::<_, i64>(28).unsigned_abs());
            bead.parent = r.get(29);
            // Labels come in the same row: one round trip for the whole list.
            bead.labels = r.get(30);
            bead.comment_count = Some(bead.comments.len() as u64);
            bead
        })
        .collect();
    Ok(beads)
}

/// Every bead, with labels and dependencies, in id order (export).
pub fn load_everything(c: &mut impl GenericClient) -> Result<Vec<Bead>> {
    let sql = format!("SELECT {COLUMNS}, {FULL_COLUMNS} FROM issues i ORDER BY i.id");
    Ok(c.query(&sql, &[])?.iter().map(full_bead_from_row).collect())
}

/// Inserts an imported row, or replaces every imported column of an existing one (the columns
/// are the embedded store's; built once).
static UPSERT_IMPORTED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let columns = crate::beads::embedded::sql::IMPORTED_COLUMNS;
    let marks: Vec<String> = (1..=columns.len()).map(|n| format!("${n}")).collect();
    let updates: Vec<String> = columns[1..].iter().map(|c| format!("{c} = excluded.{c}")).collect();
    format!(
        "INSERT INTO issues ({}) VALUES ({}) ON CONFLICT (id) DO UPDATE SET {}",
        columns.join(", "),
        marks.join(", "),
        updates.join(", ")
    )
});

/// Writes an imported bead's row and labels (its edges come later); an existing row keeps its
/// child counter, so child numbers are never reused.
pub fn store_imported(c: &mut impl GenericClient, bead: &Bead) -> Result<()> {
    let ImportedFields { created_at, updated_at, status, closed_at, issue_type } =
        imported_fields(bead);
    let metadata = Value::Object(bead.metadata.clone()).to_string();
    let comments = Value::Array(bead.comments.clone()).to_string();
    c.execute(
        UPSERT_IMPORTED.as_str(),
        &[
            &bead.id,
            &bead.title,
            &bead.description,
            &bead.design,
            &bead.acceptance_criteria,
            &bead.notes,
            &status,
            &bead.priority,
            &issue_type,
            &bead.assignee,
            &bead.owner,
            &created_at,
            &Time::ns_of(&created_at),
            &bead.created_by,
            &updated_at,
            &bead.started_at,
            &closed_at,
            &bead.close_reason,
            &bead.due_at,
            &bead.defer_until,
            &bead.defer_until.as_deref().map(Time::ns_of),
            &bead.external_ref,
            &metadata,
            &comments,
            &bead.ephemeral,
            &bead.pinned,
            &bead.is_template,
            &bead.source_formula,
            &bead.mol_type,
        ],
    )?;
    c.execute("DELETE FROM labels WHERE issue_id = $1", &[&bead.id])?;
    add_labels(c, &bead.id, &bead.labels)
}

/// Replaces the edges out of an imported bead with the line's.
pub fn replace_imported_deps(c: &mut impl GenericClient, bead: &Bead) -> Result<()> {
    c.execute("DELETE FROM dependencies WHERE issue_id = $1", &[&bead.id])?;
    for dep in &bead.dependencies {
        if dep.depends_on_id.is_empty() || dep.depends_on_id == bead.id {
            continue;
        }
        let dep_type = if dep.dep_type.is_empty() { dep_type::BLOCKS } else { &dep.dep_type };
        let created_at = if dep.created_at.is_empty() { &bead.created_at } else { &dep.created_at };
        c.execute(
            "INSERT INTO dependencies
               (issue_id, depends_on_id, type, created_at, created_by, metadata)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (issue_id, depends_on_id) DO UPDATE SET type = excluded.type,
               created_at = excluded.created_at, created_by = excluded.created_by,
               metadata = excluded.metadata",
            &[
                &bead.id,
                &dep.depends_on_id,
                &dep_type,
                created_at,
                &dep.created_by,
                &dep.metadata.as_ref().map(Value::to_string),
            ],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn question_marks_become_numbered_parameters_in_order() {
        assert_eq!(numbered("a = ? AND b = ANY(?) OR c = ?"), "a = $1 AND b = ANY($2) OR c = $3");
        assert_eq!(numbered("no parameters"), "no parameters");
    }
}
