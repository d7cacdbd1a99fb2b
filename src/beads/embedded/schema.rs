//! The embedded store's tables, created on first open.

use rusqlite::Connection;

/// Bumped when the tables change; `prepare` refuses a database from a newer gc.
pub const VERSION: i64 = 1;

/// The tables and indexes (run once, inside the transaction that sets the version).
pub const TABLES: &str = "
CREATE TABLE IF NOT EXISTS issues (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    design TEXT NOT NULL DEFAULT '',
    acceptance_criteria TEXT NOT NULL DEFAULT '',
    notes TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'open',
    priority INTEGER NOT NULL DEFAULT 2,
    issue_type TEXT NOT NULL DEFAULT 'task',
    assignee TEXT NOT NULL DEFAULT '',
    owner TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL,
    started_at TEXT,
    closed_at TEXT,
    close_reason TEXT NOT NULL DEFAULT '',
    due_at TEXT,
    defer_until TEXT,
    defer_ns INTEGER,
    external_ref TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    comments TEXT NOT NULL DEFAULT '[]',
    ephemeral INTEGER NOT NULL DEFAULT 0,
    pinned INTEGER NOT NULL DEFAULT 0,
    is_template INTEGER NOT NULL DEFAULT 0,
    source_formula TEXT NOT NULL DEFAULT '',
    mol_type TEXT NOT NULL DEFAULT '',
    child_count INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS issues_by_status ON issues (status, priority, created_ns DESC);
CREATE INDEX IF NOT EXISTS issues_by_assignee ON issues (assignee, status);
CREATE TABLE IF NOT EXISTS labels (
    issue_id TEXT NOT NULL,
    label TEXT NOT NULL,
    PRIMARY KEY (issue_id, label)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS labels_by_label ON labels (label, issue_id);
CREATE TABLE IF NOT EXISTS dependencies (
    issue_id TEXT NOT NULL,
    depends_on_id TEXT NOT NULL,
    type TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    metadata TEXT,
    PRIMARY KEY (issue_id, depends_on_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deps_by_target ON dependencies (depends_on_id, type);
";

/// Every connection's settings, in order: WAL lets readers run beside the one writer; FULL sync
/// makes a committed claim survive a power cut.
pub const PRAGMAS: &[(&str, &str)] = &[("journal_mode", "WAL"), ("synchronous", "FULL")];

/// Sets the connection up ([`PRAGMAS`]) and creates the tables when missing.
pub fn prepare(conn: &Connection) -> rusqlite::Result<()> {
    for (name, value) in PRAGMAS {
        // `journal_mode` answers with a row; execute_batch steps past it.
        conn.execute_batch(&format!("PRAGMA {name} = {value}"))?;
    }
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > VERSION {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "the database was written by a newer gc (schema {version}, this gc knows {VERSION})"
        )));
    }
    if version < VERSION {
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {TABLES} PRAGMA user_version = {VERSION}; COMMIT;"
        ))?;
    }
    Ok(())
}
