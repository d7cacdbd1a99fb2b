//! The embedded bead store: one SQLite database (WAL) per beads directory. Needs nothing
//! installed; claims are atomic across processes because every write runs in a
//! `BEGIN IMMEDIATE` transaction and the claim itself is a guarded `UPDATE`.

pub(crate) mod ids;
#[doc(hidden)]
pub mod replay;
mod schema;
pub(crate) mod sql;

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{
    Connection, OptionalExtension, Transaction, TransactionBehavior, params, params_from_iter,
};
use serde_json::{Map, Value};

use super::model::{DEFAULT_PRIORITY, dep_type, status};
use super::rules::{
    Conditions, check_imported, check_priority, checked_defer, claim_refused, list_filter,
    require_title,
};
use super::{
    Bead, BeadError, BeadStore, BeadUpdate, DepDirection, Dependency, ImportSummary, ListQuery,
    NewBead, ReadyQuery, Result, resolve_batch_refs,
};
use sql::{Filter, Time};

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// A SQLite bead store.
pub struct EmbeddedStore {
    conn: Mutex<Connection>,
    prefix: String,
}

impl From<rusqlite::Error> for BeadError {
    fn from(e: rusqlite::Error) -> BeadError {
        BeadError::Backend(e.to_string())
    }
}

/// The schema version of the database at `path` and the one this build writes, read without
/// changing anything (opening a store upgrades an older schema).
pub fn schema_versions(path: &Path) -> Result<(i64, i64)> {
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    Ok((version, schema::VERSION))
}

impl EmbeddedStore {
    /// Opens (creating when missing) the database at `path`; new ids get `prefix`.
    pub fn open(path: &Path, prefix: &str) -> Result<EmbeddedStore> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let conn = Connection::open(path)
            .map_err(|e| BeadError::Backend(format!("{}: {e}", path.display())))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        schema::prepare(&conn)
            .map_err(|e| BeadError::Backend(format!("{}: {e}", path.display())))?;
        Ok(EmbeddedStore { conn: Mutex::new(conn), prefix: prefix.to_owned() })
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction (the write lock is taken up front, so two
    /// writers never both read-then-write).
    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f` in one read transaction, so a multi-query read sees one snapshot.
    fn read<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        let out = f(&tx)?;
        tx.finish()?;
        Ok(out)
    }
}

fn exists(tx: &Transaction<'_>, id: &str) -> Result<bool> {
    Ok(tx.query_row("SELECT 1 FROM issues WHERE id = ?1", [id], |_| Ok(())).optional()?.is_some())
}

fn require(tx: &Transaction<'_>, id: &str) -> Result<()> {
    if exists(tx, id)? { Ok(()) } else { Err(BeadError::NotFound(id.to_owned())) }
}

/// Adds an edge after checking both ends, self-loops and (for blocking edges) cycles.
fn add_dep(tx: &Transaction<'_>, dep: &Dependency, actor: &str, now: &Time) -> Result<()> {
    if dep.issue_id == dep.depends_on_id {
        return Err(BeadError::SelfDependency(dep.issue_id.clone()));
    }
    require(tx, &dep.issue_id)?;
    require(tx, &dep.depends_on_id)?;
    if sql::BLOCKING_TYPES.contains(&dep.dep_type.as_str())
        && sql::reaches(tx, &dep.depends_on_id, &dep.issue_id)?
    {
        return Err(BeadError::Cycle { from: dep.issue_id.clone(), to: dep.depends_on_id.clone() });
    }
    let created_at =
        if dep.created_at.is_empty() { now.text.clone() } else { dep.created_at.clone() };
    let created_by = if dep.created_by.is_empty() { actor } else { &dep.created_by };
    tx.execute(
        "INSERT INTO dependencies (issue_id, depends_on_id, type, created_at, created_by, metadata)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (issue_id, depends_on_id) DO UPDATE SET type = excluded.type,
           metadata = excluded.metadata",
        params![
            dep.issue_id,
            dep.depends_on_id,
            dep.dep_type,
            created_at,
            created_by,
            dep.metadata.as_ref().map(Value::to_string)
        ],
    )?;
    Ok(())
}

/// The bead as the current transaction sees it (what a mutation returns: no later change by
/// another process can slip in between).
fn loaded(tx: &Transaction<'_>, id: &str) -> Result<Bead> {
    sql::load_full(tx, id)?.ok_or_else(|| BeadError::NotFound(id.to_owned()))
}

fn touch(tx: &Transaction<'_>, id: &str, now: &Time) -> Result<()> {
    tx.execute("UPDATE issues SET updated_at = ?2 WHERE id = ?1", params![id, now.text])?;
    Ok(())
}

/// Inserts `new` (its labels, parent edge and dependencies) and returns its id.
fn insert(
    tx: &Transaction<'_>,
    prefix: &str,
    new: &NewBead,
    actor: &str,
    now: &Time,
) -> Result<String> {
    require_title(&new.title)?;
    let priority = check_priority(new.priority.unwrap_or(DEFAULT_PRIORITY))?;
    let defer = new.defer_until.as_deref().map(Time::parse).transpose()?;
    let id = match (&new.id, &new.parent) {
        (Some(id), _) => {
            if exists(tx, id)? {
                return Err(BeadError::Exists(id.clone()));
            }
            id.clone()
        }
        (None, Some(parent)) => {
            require(tx, parent)?;
            ids::next_child(tx, parent)?
        }
        (None, None) => ids::generate(tx, prefix, &new.title, &new.description, actor, now)?,
    };
    let row = sql::new_issue_params(&id, new, priority, actor, now, defer.as_ref());
    tx.execute(sql::INSERT_ISSUE, params_from_iter(row))?;
    sql::add_labels(tx, &id, &new.labels)?;
    if let Some(parent) = &new.parent {
        let edge = Dependency {
            issue_id: id.clone(),
            depends_on_id: parent.clone(),
            dep_type: dep_type::PARENT_CHILD.into(),
            ..Dependency::default()
        };
        add_dep(tx, &edge, actor, now)?;
    }
    for dep in &new.deps {
        let (issue_id, depends_on_id) = match dep.direction {
            DepDirection::NewDependsOnOther => (id.clone(), dep.other.clone()),
            DepDirection::OtherDependsOnNew => (dep.other.clone(), id.clone()),
        };
        let edge = Dependency {
            issue_id,
            depends_on_id,
            dep_type: dep.dep_type.clone(),
            metadata: dep.metadata.clone(),
            ..Dependency::default()
        };
        add_dep(tx, &edge, actor, now)?;
    }
    Ok(id)
}

/// Applies `change` to the bead `id` inside `tx` (which knows the bead exists) and bumps its
/// `updated_at`; `defer` is `change.defer_until` parsed.
fn apply_update(
    tx: &Transaction<'_>,
    id: &str,
    change: &BeadUpdate,
    defer: Option<&Option<Time>>,
    now: &Time,
) -> Result<()> {
    let set = |column: &str, value: &dyn rusqlite::ToSql| -> Result<()> {
        tx.execute(&format!("UPDATE issues SET {column} = ?2 WHERE id = ?1"), params![id, value])?;
        Ok(())
    };
    if let Some(title) = &change.title {
        set("title", title)?;
    }
    if let Some(description) = &change.description {
        set("description", description)?;
    }
    if let Some(notes) = &change.notes {
        set("notes", notes)?;
    }
    if let Some(priority) = change.priority {
        set("priority", &priority)?;
    }
    if let Some(assignee) = &change.assignee {
        set("assignee", assignee)?;
    }
    if let Some(new_status) = &change.status {
        sql::set_status(tx, id, new_status, None, now)?;
    }
    if let Some(defer) = defer {
        set("defer_until", &defer.as_ref().map(|t| t.text.clone()))?;
        set("defer_ns", &defer.as_ref().map(|t| t.ns))?;
    }
    sql::add_labels(tx, id, &change.add_labels)?;
    for label in &change.remove_labels {
        tx.execute("DELETE FROM labels WHERE issue_id = ?1 AND label = ?2", params![id, label])?;
    }
    if !change.set_metadata.is_empty() {
        let current: String =
            tx.query_row("SELECT metadata FROM issues WHERE id = ?1", [id], |r| r.get(0))?;
        let mut map: Map<String, Value> = serde_json::from_str(&current).unwrap_or_default();
        for (key, value) in &change.set_metadata {
            if value.is_null() {
                map.remove(key);
            } else {
                map.insert(key.clone(), value.clone());
            }
        }
        set("metadata", &Value::Object(map).to_string())?;
    }
    touch(tx, id, now)
}

impl BeadStore for EmbeddedStore {
    fn create(&self, new: NewBead, actor: &str) -> Result<Bead> {
        let now = Time::now();
        self.write(|tx| {
            let id = insert(tx, &self.prefix, &new, actor, &now)?;
            loaded(tx, &id)
        })
    }

    fn create_all(&self, beads: Vec<NewBead>, actor: &str) -> Result<Vec<Bead>> {
        let now = Time::now();
        self.write(|tx| {
            let mut ids: Vec<String> = Vec::with_capacity(beads.len());
            for new in beads {
                let new = resolve_batch_refs(new, &ids)?;
                ids.push(insert(tx, &self.prefix, &new, actor, &now)?);
            }
            ids.iter().map(|id| loaded(tx, id)).collect()
        })
    }

    fn get(&self, id: &str) -> Result<Bead> {
        self.read(|tx| loaded(tx, id))
    }

    fn update(&self, id: &str, change: &BeadUpdate, _actor: &str) -> Result<Bead> {
        let defer = checked_defer(change)?;
        let now = Time::now();
        self.write(|tx| {
            require(tx, id)?;
            apply_update(tx, id, change, defer.as_ref(), &now)?;
            loaded(tx, id)
        })
    }

    fn update_if_held(
        &self,
        id: &str,
        holder: &str,
        change: &BeadUpdate,
        _actor: &str,
    ) -> Result<Option<Bead>> {
        let defer = checked_defer(change)?;
        let now = Time::now();
        self.write(|tx| {
            require(tx, id)?;
            let held: bool = tx.query_row(
                "SELECT status = ?2 AND assignee = ?3 FROM issues WHERE id = ?1",
                params![id, status::IN_PROGRESS, holder],
                |r| r.get(0),
            )?;
            if !held {
                return Ok(None);
            }
            apply_update(tx, id, change, defer.as_ref(), &now)?;
            loaded(tx, id).map(Some)
        })
    }

    fn claim(&self, id: &str, actor: &str) -> Result<Bead> {
        let now = Time::now();
        self.write(|tx| {
            if sql::claim_row(tx, id, actor, &now)? {
                return loaded(tx, id);
            }
            let row: Option<(String, String)> = tx
                .query_row("SELECT status, assignee FROM issues WHERE id = ?1", [id], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            claim_refused(id, actor, row)?;
            loaded(tx, id)
        })
    }

    fn claim_ready(&self, query: &ReadyQuery, actor: &str) -> Result<Option<Bead>> {
        let now = Time::now();
        let query =
            ReadyQuery { unassigned: true, assignee: None, limit: Some(1), ..query.clone() };
        self.write(|tx| {
            let Some(id) = sql::ready_ids(tx, &query, &now)?.into_iter().next() else {
                return Ok(None);
            };
            // Inside the write transaction nobody else can have taken it since the select.
            sql::claim_row(tx, &id, actor, &now)?;
            loaded(tx, &id).map(Some)
        })
    }

    fn close(&self, id: &str, reason: Option<&str>, _actor: &str) -> Result<Bead> {
        let now = Time::now();
        self.write(|tx| {
            require(tx, id)?;
            let current: String =
                tx.query_row("SELECT status FROM issues WHERE id = ?1", [id], |r| r.get(0))?;
            if current != status::CLOSED {
                sql::set_status(tx, id, status::CLOSED, reason, &now)?;
                touch(tx, id, &now)?;
            }
            loaded(tx, id)
        })
    }

    fn list(&self, query: &ListQuery) -> Result<Vec<Bead>> {
        let filter: Filter = list_filter(query);
        self.read(|tx| sql::load_listed(tx, &filter, query.limit))
    }

    fn ready(&self, query: &ReadyQuery) -> Result<Vec<Bead>> {
        let now = Time::now();
        self.read(|tx| sql::load_ready(tx, query, &now))
    }

    fn children(&self, id: &str) -> Result<Vec<Bead>> {
        self.read(|tx| {
            require(tx, id)?;
            let mut filter = Filter::default();
            filter.child_of(id);
            sql::load_listed(tx, &filter, None)
        })
    }

    fn dep_add(&self, dep: &Dependency, actor: &str) -> Result<()> {
        let now = Time::now();
        self.write(|tx| {
            add_dep(tx, dep, actor, &now)?;
            touch(tx, &dep.issue_id, &now)
        })
    }

    fn dep_remove(&self, issue: &str, depends_on: &str, _actor: &str) -> Result<()> {
        let now = Time::now();
        self.write(|tx| {
            let removed = tx.execute(
                "DELETE FROM dependencies WHERE issue_id = ?1 AND depends_on_id = ?2",
                params![issue, depends_on],
            )?;
            if removed == 0 {
                require(tx, issue)?;
                require(tx, depends_on)?;
                return Err(BeadError::Invalid(format!("{issue} does not depend on {depends_on}")));
            }
            touch(tx, issue, &now)
        })
    }

    fn dep_list(&self, id: &str) -> Result<Vec<Dependency>> {
        self.read(|tx| {
            require(tx, id)?;
            sql::deps_touching(tx, id)
        })
    }

    fn delete(&self, id: &str, _actor: &str) -> Result<()> {
        self.write(|tx| {
            require(tx, id)?;
            tx.execute("DELETE FROM dependencies WHERE issue_id = ?1 OR depends_on_id = ?1", [id])?;
            tx.execute("DELETE FROM labels WHERE issue_id = ?1", [id])?;
            tx.execute("DELETE FROM issues WHERE id = ?1", [id])?;
            Ok(())
        })
    }

    fn export(&self) -> Result<Vec<Bead>> {
        self.read(sql::load_everything)
    }

    fn import(&self, beads: Vec<Bead>, _actor: &str) -> Result<ImportSummary> {
        check_imported(&beads)?;
        self.write(|tx| {
            let mut summary = ImportSummary::default();
            for bead in &beads {
                match sql::load_full(tx, &bead.id)? {
                    Some(existing) if sql::same_for_import(&existing, bead) => {
                        summary.unchanged += 1
                    }
                    Some(_) => {
                        sql::store_imported(tx, bead)?;
                        summary.updated += 1;
                    }
                    None => {
                        sql::store_imported(tx, bead)?;
                        summary.created += 1;
                    }
                }
            }
            // Edges last, so a line may depend on a bead that comes later in the file.
            for bead in &beads {
                sql::replace_imported_deps(tx, bead)?;
            }
            Ok(summary)
        })
    }
}
