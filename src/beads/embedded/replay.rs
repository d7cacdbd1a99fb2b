//! The store's own SQL as text the `sqlite3` command-line tool can replay, so a bench can time
//! the store against the very statements it runs (`benches/beads.rs`). Not an API: nothing here
//! is stable, and nothing in gc uses it.
//!
//! A [`Statement`] is the SQL text the store prepares and the values it binds, by position.
//! [`Shell::script`] turns one into lines for `sqlite3`: the values go into the shell's
//! parameter table (`temp.sqlite_parameters`, what `.parameter set` writes), so the statement
//! itself is replayed byte for byte.

use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;

use super::schema::{PRAGMAS, TABLES, VERSION};
use super::sql::{self, Time};
use super::{BUSY_TIMEOUT, check_priority};
use crate::beads::{BeadError, NewBead, ReadyQuery, Result};

/// SQL text and the values bound to its parameters 1, 2, … in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    /// The statement, exactly as the store prepares it.
    pub sql: String,
    /// The value of parameter `n` is `params[n - 1]`.
    pub params: Vec<SqlValue>,
}

/// The lines that give a `sqlite3` connection the store's settings ([`PRAGMAS`], busy timeout).
pub fn pragmas() -> String {
    let mut out = String::new();
    for (name, value) in PRAGMAS {
        out.push_str(&format!("PRAGMA {name} = {value};\n"));
    }
    out.push_str(&format!("PRAGMA busy_timeout = {};\n", BUSY_TIMEOUT.as_millis()));
    out
}

/// What the store runs on a new database: its tables, at its schema version.
pub fn schema() -> String {
    format!("BEGIN IMMEDIATE;\n{TABLES}\nPRAGMA user_version = {VERSION};\nCOMMIT;\n")
}

/// The row insert of `create` for a bead given `id` (no labels, parent or dependencies: those
/// are separate statements), created by `actor` at `now` (RFC 3339).
pub fn create(id: &str, new: &NewBead, actor: &str, now: &str) -> Result<Statement> {
    let priority = check_priority(new.priority.unwrap_or(crate::beads::model::DEFAULT_PRIORITY))?;
    let defer = new.defer_until.as_deref().map(Time::parse).transpose()?;
    let now = Time::parse(now)?;
    Ok(Statement {
        sql: sql::INSERT_ISSUE.to_owned(),
        params: sql::new_issue_params(id, new, priority, actor, &now, defer.as_ref()),
    })
}

/// The main statement of `ready` at `now` (RFC 3339); the store then reads each returned bead's
/// labels with [`labels`].
pub fn ready(query: &ReadyQuery, now: &str) -> Result<Statement> {
    let (sql, params) = sql::ready_sql(query, &Time::parse(now)?);
    Ok(Statement { sql, params })
}

/// The labels `ready` and `list` read for each bead they return.
pub fn labels(id: &str) -> Statement {
    Statement { sql: sql::LABELS_OF.to_owned(), params: vec![id.to_owned().into()] }
}

/// `claim_ready` as one statement: the store's guarded claim `UPDATE` whose target is its ready
/// query (`LIMIT 1`), `RETURNING id`. The store runs the two as separate statements in one
/// `BEGIN IMMEDIATE` transaction; the `sqlite3` shell cannot carry the picked id from one
/// statement to the next, so it runs them nested.
pub fn claim_ready(query: &ReadyQuery, actor: &str, now: &str) -> Result<Statement> {
    let now = Time::parse(now)?;
    // As the store's claim_ready narrows the query.
    let query = ReadyQuery { unassigned: true, assignee: None, limit: Some(1), ..query.clone() };
    let (ready, ready_params) = sql::ready_ids_sql(&query, &now);
    let sql = format!("{} RETURNING id", sql::claim_sql(&format!("({ready})")));
    // The claim's own parameters are ?2 (actor) and ?3 (time); ?1, the id, is the subquery.
    // The subquery's anonymous `?`s come after them: SQLite numbers each one past the largest
    // number seen so far, and the SET clause (?2, ?3) comes first. Shell::script checks the
    // count against the prepared statement.
    let mut params = vec![SqlValue::Null, actor.to_owned().into(), now.text.into()];
    params.extend(ready_params);
    Ok(Statement { sql, params })
}

/// Writes [`Statement`]s as `sqlite3` input. Holds an in-memory database with the store's
/// tables, used to ask SQLite the name of each parameter of a statement.
pub struct Shell {
    conn: Connection,
}

impl Shell {
    /// A writer for the current schema.
    pub fn new() -> Result<Shell> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(TABLES)?;
        Ok(Shell { conn })
    }

    /// The first lines of every script: the parameter table and [`pragmas`] (whose answers,
    /// such as `wal`, are not printed).
    pub fn prelude(&self) -> String {
        format!(".parameter init\n.output /dev/null\n{}.output stdout\n", pragmas())
    }

    /// Lines binding `stmt`'s values (into `temp.sqlite_parameters`, by the name the shell looks
    /// each parameter up by: its own name, or `?N` for an anonymous `?`), then the statement.
    pub fn script(&self, stmt: &Statement) -> Result<String> {
        Ok(format!("{}{};\n", self.bind(stmt)?, stmt.sql))
    }

    /// Just the binding lines of [`Shell::script`] (empty when the statement has no parameters).
    pub fn bind(&self, stmt: &Statement) -> Result<String> {
        let prepared = self.conn.prepare_cached(&stmt.sql)?;
        let count = prepared.parameter_count();
        if count != stmt.params.len() {
            return Err(BeadError::Backend(format!(
                "the statement has {count} parameters, {} values given: {}",
                stmt.params.len(),
                stmt.sql
            )));
        }
        if count == 0 {
            return Ok(String::new());
        }
        let mut rows = Vec::with_capacity(count);
        for (n, value) in (1..=count).zip(&stmt.params) {
            let name = prepared.parameter_name(n).map_or_else(|| format!("?{n}"), str::to_owned);
            rows.push(format!("({}, {})", literal(&name.into())?, literal(value)?));
        }
        Ok(format!(
            "REPLACE INTO temp.sqlite_parameters (key, value) VALUES {};\n",
            rows.join(", ")
        ))
    }
}

/// `value` as an SQL literal.
fn literal(value: &SqlValue) -> Result<String> {
    Ok(match value {
        SqlValue::Null => "NULL".to_owned(),
        SqlValue::Integer(n) => n.to_string(),
        SqlValue::Real(x) if x.is_finite() => format!("{x:e}"),
        SqlValue::Text(t) if !t.contains('\0') => format!("'{}'", t.replace('\'', "''")),
        SqlValue::Blob(b) => {
            format!("X'{}'", b.iter().map(|byte| format!("{byte:02x}")).collect::<String>())
        }
        other => return Err(BeadError::Invalid(format!("no SQL literal for {other:?}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::beads::embedded::EmbeddedStore;
    use crate::beads::{Bead, BeadStore};

    fn bead(id: &str, priority: i64) -> Bead {
        Bead {
            id: id.into(),
            title: format!("bead {id}"),
            status: "open".into(),
            priority,
            issue_type: "task".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
            ..Bead::default()
        }
    }

    #[test]
    fn the_nested_claim_takes_what_claim_ready_takes() {
        let beads = || {
            let mut blocked = bead("t-1", 0);
            blocked.dependencies = vec![crate::beads::Dependency {
                depends_on_id: "t-3".into(),
                dep_type: "blocks".into(),
                ..Default::default()
            }];
            vec![blocked, bead("t-2", 1), bead("t-3", 2)]
        };
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(&dir.path().join("a.db"), "t").unwrap();
        store.import(beads(), "setup").unwrap();
        let expected = store.claim_ready(&ReadyQuery::default(), "me").unwrap().unwrap().id;
        assert_eq!(expected, "t-2");

        let other = dir.path().join("b.db");
        EmbeddedStore::open(&other, "t").unwrap().import(beads(), "setup").unwrap();
        let stmt = claim_ready(&ReadyQuery::default(), "me", "2026-02-01T00:00:00Z").unwrap();
        Shell::new().unwrap().bind(&stmt).unwrap(); // the parameter count is right
        let conn = Connection::open(&other).unwrap();
        let got: String = conn
            .query_row(&stmt.sql, rusqlite::params_from_iter(&stmt.params), |r| r.get(0))
            .unwrap();
        assert_eq!(got, expected);
        let assignee: String = conn
            .query_row("SELECT assignee FROM issues WHERE id = 't-2'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(assignee, "me");
    }

    #[test]
    fn parameters_are_bound_by_the_names_the_shell_looks_up() {
        let shell = Shell::new().unwrap();
        let lines = shell.script(&labels("it's")).unwrap();
        assert!(lines.starts_with(
            "REPLACE INTO temp.sqlite_parameters (key, value) VALUES ('?1', 'it''s');\n"
        ));
        let ready = ready(&ReadyQuery::default(), "2026-02-01T00:00:00Z").unwrap();
        let lines = shell.bind(&ready).unwrap();
        assert!(lines.contains("('?1', 'merge-request')"), "{lines}");
        let wrong = Statement { params: vec![], ..ready };
        assert!(shell.bind(&wrong).is_err());
    }
}
