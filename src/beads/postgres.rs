//! The PostgreSQL bead store: the store many machines (or pods) share. Each store (the city's,
//! each rig's) lives in a schema of its own in one database, named from the city and the id
//! prefix. Guarantees are the embedded store's: every write runs in one transaction holding the
//! store's advisory lock (so two writers never both read-then-write, claims are
//! compare-and-swap, ids never collide), and every multi-query read sees one snapshot.
//! The connection string comes from an environment variable (a Secret in a cluster) and is
//! never printed.

mod sql;

use std::sync::Mutex;

use postgres::{Client, GenericClient, IsolationLevel, NoTls, Transaction};
use serde_json::{Map, Value};

use super::embedded::ids;
use super::embedded::sql::{BLOCKING_TYPES, Time, same_for_import};
use super::model::{DEFAULT_PRIORITY, dep_type, status};
use super::rules::{
    Conditions, check_imported, check_priority, checked_defer, claim_refused, list_filter,
    require_title,
};
use super::{
    Bead, BeadError, BeadStore, BeadUpdate, DepDirection, Dependency, ImportSummary, ListQuery,
    NewBead, ReadyQuery, Result, resolve_batch_refs,
};
use sql::Filter;

/// The variable holding the connection string when the City names none.
pub const DEFAULT_URL_ENV: &str = "GC_BEADS_POSTGRES_URL";

/// A PostgreSQL bead store.
pub struct PostgresStore {
    client: Mutex<Client>,
    /// The single-statement reads' prepared statements, by their text (see
    /// [`sql::Statements`]); locked after `client`, when both are.
    statements: Mutex<sql::Statements>,
    prefix: String,
    /// The advisory lock every write of this store holds.
    lock_key: i64,
}

impl From<postgres::Error> for BeadError {
    fn from(e: postgres::Error) -> BeadError {
        // The message names the failing statement's error, never the connection string.
        let detail = e.as_db_error().map(|db| db.message().to_owned());
        BeadError::Backend(detail.unwrap_or_else(|| e.to_string()))
    }
}

/// The schema a store lives in: `gc_<city>_<prefix>`, lowercase letters, digits and `_`.
pub fn schema_name(city: &str, prefix: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
            .collect()
    };
    let name = format!("gc_{}_{}", clean(city), clean(prefix));
    // PostgreSQL cuts identifiers at 63 bytes; keep the prefix (the part that differs).
    if name.len() <= 63 {
        name
    } else {
        let hash = xxhash_rust::xxh3::xxh3_64(name.as_bytes());
        format!("gc_{:016x}_{}", hash, clean(prefix)).chars().take(63).collect()
    }
}

impl PostgresStore {
    /// Connects to `url` and opens (creating when missing) the store in `schema`; new ids get
    /// `prefix`.
    pub fn open(url: &str, schema: &str, prefix: &str) -> Result<PostgresStore> {
        if !schema.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            return Err(BeadError::Invalid(format!("`{schema}` is not a store schema name")));
        }
        let mut client = Client::connect(url, NoTls).map_err(|e| {
            BeadError::Backend(format!("cannot connect to the PostgreSQL bead store: {e}"))
        })?;
        let lock_key = xxhash_rust::xxh3::xxh3_64(schema.as_bytes()) as i64;
        // Two processes opening a new store at once: one creates, the other waits.
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&lock_key])?;
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}; SET LOCAL search_path TO {schema}"
        ))?;
        tx.batch_execute(sql::TABLES)?;
        let version: Option<String> = tx
            .query_opt("SELECT value FROM store_info WHERE key = 'schema_version'", &[])?
            .map(|r| r.get(0));
        match version.and_then(|v| v.parse::<i64>().ok()) {
            Some(v) if v > sql::VERSION => {
                return Err(BeadError::Backend(format!(
                    "schema {schema} was written by a newer gc (version {v}, this gc knows {})",
                    sql::VERSION
                )));
            }
            Some(v) if v == sql::VERSION => {}
            _ => {
                tx.execute(
                    "INSERT INTO store_info (key, value) VALUES ('schema_version', $1)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    &[&sql::VERSION.to_string()],
                )?;
            }
        }
        tx.commit()?;
        client.batch_execute(&format!("SET search_path TO {schema}"))?;
        Ok(PostgresStore {
            client: Mutex::new(client),
            statements: Mutex::default(),
            prefix: prefix.to_owned(),
            lock_key,
        })
    }

    /// Runs `f` in one transaction holding the store's write lock.
    fn write<T>(&self, f: impl FnOnce(&mut Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut client = self.client.lock().unwrap_or_else(|p| p.into_inner());
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&self.lock_key])?;
        let out = f(&mut tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f`, which makes exactly one statement. One statement sees one snapshot of the
    /// store, so it needs no transaction of its own: two round trips fewer than
    /// [`PostgresStore::read`] (the `ready` an agent asks again and again is one).
    /// Its statement is prepared once per text and kept ([`sql::Statements`]): the
    /// server parses and plans it once, not on every call.
    fn read_statement<T>(
        &self,
        f: impl FnOnce(&mut Client, &mut sql::Statements) -> Result<T>,
    ) -> Result<T> {
        let mut client = self.client.lock().unwrap_or_else(|p| p.into_inner());
        let mut statements = self.statements.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut client, &mut statements)
    }

    /// Runs `f` in one read-only snapshot.
    fn read<T>(&self, f: impl FnOnce(&mut Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut client = self.client.lock().unwrap_or_else(|p| p.into_inner());
        let mut tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let out = f(&mut tx)?;
        tx.commit()?;
        Ok(out)
    }
}

fn exists(c: &mut impl GenericClient, id: &str) -> Result<bool> {
    Ok(c.query_opt("SELECT 1 FROM issues WHERE id = $1", &[&id])?.is_some())
}

fn require(c: &mut impl GenericClient, id: &str) -> Result<()> {
    if exists(c, id)? { Ok(()) } else { Err(BeadError::NotFound(id.to_owned())) }
}

fn add_dep(c: &mut impl GenericClient, dep: &Dependency, actor: &str, now: &Time) -> Result<()> {
    if dep.issue_id == dep.depends_on_id {
        return Err(BeadError::SelfDependency(dep.issue_id.clone()));
    }
    require(c, &dep.issue_id)?;
    require(c, &dep.depends_on_id)?;
    if BLOCKING_TYPES.contains(&dep.dep_type.as_str())
        && sql::reaches(c, &dep.depends_on_id, &dep.issue_id)?
    {
        return Err(BeadError::Cycle { from: dep.issue_id.clone(), to: dep.depends_on_id.clone() });
    }
    let created_at =
        if dep.created_at.is_empty() { now.text.clone() } else { dep.created_at.clone() };
    let created_by = if dep.created_by.is_empty() { actor } else { &dep.created_by };
    c.execute(
        "INSERT INTO dependencies (issue_id, depends_on_id, type, created_at, created_by, metadata)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (issue_id, depends_on_id) DO UPDATE SET type = excluded.type,
           metadata = excluded.metadata",
        &[
            &dep.issue_id,
            &dep.depends_on_id,
            &dep.dep_type,
            &created_at,
            &created_by,
            &dep.metadata.as_ref().map(Value::to_string),
        ],
    )?;
    Ok(())
}

fn loaded(c: &mut impl GenericClient, id: &str) -> Result<Bead> {
    sql::load_full(c, id)?.ok_or_else(|| BeadError::NotFound(id.to_owned()))
}

fn touch(c: &mut impl GenericClient, id: &str, now: &Time) -> Result<()> {
    c.execute("UPDATE issues SET updated_at = $2 WHERE id = $1", &[&id, &now.text])?;
    Ok(())
}

fn generate_id(
    c: &mut impl GenericClient,
    prefix: &str,
    new: &NewBead,
    actor: &str,
    now: &Time,
) -> Result<String> {
    let size: i64 = c.query_one("SELECT count(*) FROM issues", &[])?.get(0);
    for nonce in 0..ids::NONCES {
        let id = ids::candidate(prefix, &new.title, &new.description, actor, now, size, nonce);
        if !exists(c, &id)? {
            return Ok(id);
        }
    }
    Err(BeadError::Backend(format!("no free id found with prefix `{prefix}`")))
}

fn next_child(c: &mut impl GenericClient, parent: &str) -> Result<String> {
    loop {
        let n: i64 = c
            .query_one(
                "UPDATE issues SET child_count = child_count + 1 WHERE id = $1
                 RETURNING child_count",
                &[&parent],
            )?
            .get(0);
        let id = format!("{parent}.{n}");
        if !exists(c, &id)? {
            return Ok(id);
        }
    }
}

fn insert(
    c: &mut impl GenericClient,
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
            if exists(c, id)? {
                return Err(BeadError::Exists(id.clone()));
            }
            id.clone()
        }
        (None, Some(parent)) => {
            require(c, parent)?;
            next_child(c, parent)?
        }
        (None, None) => generate_id(c, prefix, new, actor, now)?,
    };
    sql::insert_issue(c, &id, new, priority, actor, now, defer.as_ref())?;
    sql::add_labels(c, &id, &new.labels)?;
    if let Some(parent) = &new.parent {
        let edge = Dependency {
            issue_id: id.clone(),
            depends_on_id: parent.clone(),
            dep_type: dep_type::PARENT_CHILD.into(),
            ..Dependency::default()
        };
        add_dep(c, &edge, actor, now)?;
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
        add_dep(c, &edge, actor, now)?;
    }
    Ok(id)
}

fn apply_update(
    c: &mut impl GenericClient,
    id: &str,
    change: &BeadUpdate,
    defer: Option<&Option<Time>>,
    now: &Time,
) -> Result<()> {
    for (column, value) in [
        ("title", &change.title),
        ("description", &change.description),
        ("notes", &change.notes),
        ("assignee", &change.assignee),
    ] {
        if let Some(value) = value {
            c.execute(&format!("UPDATE issues SET {column} = $2 WHERE id = $1"), &[&id, value])?;
        }
    }
    if let Some(priority) = change.priority {
        c.execute("UPDATE issues SET priority = $2 WHERE id = $1", &[&id, &priority])?;
    }
    if let Some(new_status) = &change.status {
        sql::set_status(c, id, new_status, None, now)?;
    }
    if let Some(defer) = defer {
        c.execute(
            "UPDATE issues SET defer_until = $2, defer_ns = $3 WHERE id = $1",
            &[&id, &defer.as_ref().map(|t| t.text.clone()), &defer.as_ref().map(|t| t.ns)],
        )?;
    }
    sql::add_labels(c, id, &change.add_labels)?;
    for label in &change.remove_labels {
        c.execute("DELETE FROM labels WHERE issue_id = $1 AND label = $2", &[&id, label])?;
    }
    if !change.set_metadata.is_empty() {
        let current: String =
            c.query_one("SELECT metadata FROM issues WHERE id = $1", &[&id])?.get(0);
        let mut map: Map<String, Value> = serde_json::from_str(&current).unwrap_or_default();
        for (key, value) in &change.set_metadata {
            if value.is_null() {
                map.remove(key);
            } else {
                map.insert(key.clone(), value.clone());
            }
        }
        let text = Value::Object(map).to_string();
        c.execute("UPDATE issues SET metadata = $2 WHERE id = $1", &[&id, &text])?;
    }
    touch(c, id, now)
}

impl BeadStore for PostgresStore {
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
            let mut made: Vec<String> = Vec::with_capacity(beads.len());
            for new in beads {
                let new = resolve_batch_refs(new, &made)?;
                made.push(insert(tx, &self.prefix, &new, actor, &now)?);
            }
            made.iter().map(|id| loaded(tx, id)).collect()
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
            let held: bool = tx
                .query_one(
                    "SELECT status = $2 AND assignee = $3 FROM issues WHERE id = $1",
                    &[&id, &status::IN_PROGRESS, &holder],
                )?
                .get(0);
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
            let row = tx.query_opt("SELECT status, assignee FROM issues WHERE id = $1", &[&id])?;
            let row: Option<(String, String)> = row.map(|r| (r.get(0), r.get(1)));
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
            // The store's lock is held: nobody else can have taken it since the select.
            sql::claim_row(tx, &id, actor, &now)?;
            loaded(tx, &id).map(Some)
        })
    }

    fn close(&self, id: &str, reason: Option<&str>, _actor: &str) -> Result<Bead> {
        let now = Time::now();
        self.write(|tx| {
            require(tx, id)?;
            let current: String =
                tx.query_one("SELECT status FROM issues WHERE id = $1", &[&id])?.get(0);
            if current != status::CLOSED {
                sql::set_status(tx, id, status::CLOSED, reason, &now)?;
                touch(tx, id, &now)?;
            }
            loaded(tx, id)
        })
    }

    fn list(&self, query: &ListQuery) -> Result<Vec<Bead>> {
        let filter: Filter = list_filter(query);
        self.read_statement(|c, kept| sql::load_listed(c, Some(kept), &filter, query.limit))
    }

    fn ready(&self, query: &ReadyQuery) -> Result<Vec<Bead>> {
        let now = Time::now();
        self.read_statement(|c, kept| sql::load_ready(c, Some(kept), query, &now))
    }

    fn children(&self, id: &str) -> Result<Vec<Bead>> {
        self.read(|tx| {
            require(tx, id)?;
            let mut filter = Filter::default();
            filter.child_of(id);
            sql::load_listed(tx, None, &filter, None)
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
                "DELETE FROM dependencies WHERE issue_id = $1 AND depends_on_id = $2",
                &[&issue, &depends_on],
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
            tx.execute(
                "DELETE FROM dependencies WHERE issue_id = $1 OR depends_on_id = $1",
                &[&id],
            )?;
            tx.execute("DELETE FROM labels WHERE issue_id = $1", &[&id])?;
            tx.execute("DELETE FROM issues WHERE id = $1", &[&id])?;
            Ok(())
        })
    }

    fn export(&self) -> Result<Vec<Bead>> {
        self.read_statement(|c, _| sql::load_everything(c))
    }

    fn import(&self, beads: Vec<Bead>, _actor: &str) -> Result<ImportSummary> {
        check_imported(&beads)?;
        self.write(|tx| {
            let mut summary = ImportSummary::default();
            for bead in &beads {
                match sql::load_full(tx, &bead.id)? {
                    Some(existing) if same_for_import(&existing, bead) => summary.unchanged += 1,
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
            for bead in &beads {
                sql::replace_imported_deps(tx, bead)?;
            }
            Ok(summary)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_safe_identifiers_that_keep_the_prefix() {
        assert_eq!(schema_name("town", "gc"), "gc_town_gc");
        assert_eq!(schema_name("My-Town", "api"), "gc_my_town_api");
        let long = schema_name(&"x".repeat(80), "api");
        assert!(long.len() <= 63 && long.ends_with("_api"), "{long}");
        assert!(long.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
    }
}
