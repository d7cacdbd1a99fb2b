//! What each order remembers between controller passes and across restarts: when it last
//! fired, the last cron slot and event it consumed, the run in progress and the last result.
//!
//! # On disk
//!
//! Everything lives in `<city>/.gc/state/orders/`:
//!
//! - `<name>.json`: the [`OrderState`], replaced atomically (temp file + rename):
//!   ```json
//!   {"uid": "…", "firstSeen": "2026-11-24T08:00:00Z", "lastFired": "2026-11-24T08:30:00Z",
//!    "eventCursor": 41, "runs": 3,
//!    "current": {"id": "3", "started": "2026-11-24T08:30:00Z", "reason": "event bead.closed #41",
//!                "eventSeq": 41, "action": {"kind": "exec", "pid": 4242, "pidStart": 991,
//!                "supervisor": 4100, "supervisorStart": 500, "deadline": "2026-11-24T08:35:00Z"}},
//!    "lastResult": {"run": "2", "outcome": "completed", "at": "2026-11-24T08:10:02Z",
//!                   "detail": "exit status 0"}}
//!   ```
//! - `<name>.lock`: held (an exclusive file lock) around every read-modify-write, by the
//!   controller and by `gc order run`, so a run is never reserved twice.
//! - `<name>/runs/<run>.log`: what an `exec` run printed (stdout and stderr together).
//!
//! Names are resource names (`[a-z0-9]([-a-z0-9]*[a-z0-9])?`); any other name is refused
//! before a path is built from it.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::store::atomic;
use crate::store::set_aside::{self, Recovered};

/// One order's memory. See the module documentation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderState {
    /// `metadata.uid` of the order this state belongs to: a deleted and re-created order of
    /// the same name starts afresh.
    #[serde(default)]
    pub uid: String,
    /// When a controller (or `gc order run`) first saw the order. A cron order never fires for
    /// slots before this.
    pub first_seen: DateTime<Utc>,
    /// When it last fired, by its gate or by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_fired: Option<DateTime<Utc>>,
    /// The last cron slot considered (fired, or skipped while disabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_slot: Option<DateTime<Utc>>,
    /// `seq` of the last event consumed (or skipped as not matching): only later events count.
    #[serde(default)]
    pub event_cursor: u64,
    /// How many runs were started; the next run's id is this plus one.
    #[serde(default)]
    pub runs: u64,
    /// The run whose work is still open, if any: the order does not fire while it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<Run>,
    /// How the last finished run ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_result: Option<RunResult>,
}

impl OrderState {
    /// A fresh state for an order (with `uid`) first seen at `now`, consuming only events
    /// after `event_cursor`.
    pub fn new(uid: &str, now: DateTime<Utc>, event_cursor: u64) -> OrderState {
        OrderState {
            uid: uid.to_owned(),
            first_seen: now,
            last_fired: None,
            last_slot: None,
            event_cursor,
            runs: 0,
            current: None,
            last_result: None,
        }
    }

    /// Ends the current run `run` with `outcome`; returns false (and changes nothing) when
    /// `run` is not the current run (it was already ended, e.g. by a sweep).
    pub fn finish(&mut self, run: &str, outcome: Outcome, at: DateTime<Utc>, detail: &str) -> bool {
        if self.current.as_ref().is_none_or(|c| c.id != run) {
            return false;
        }
        self.current = None;
        self.last_result =
            Some(RunResult { run: run.to_owned(), outcome, at, detail: detail.to_owned() });
        true
    }
}

/// A run in progress.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    /// Its id: the order's run counter (`"1"`, `"2"`, …).
    pub id: String,
    /// When it was fired.
    pub started: DateTime<Utc>,
    /// Why it fired, for people (`cron slot 2026-11-24T08:30:00Z`).
    pub reason: String,
    /// The event it consumed, for an event gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_seq: Option<u64>,
    /// What it is doing.
    pub action: RunAction,
}

/// What a run in progress is: a process, or a cooked molecule whose beads are being worked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum RunAction {
    /// An `exec` command.
    Exec {
        /// Its pid (also its process group id).
        pid: u32,
        /// Its start time in clock ticks since boot (`/proc/<pid>/stat`), so a reused pid is
        /// not mistaken for it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pid_start: Option<u64>,
        /// The process waiting for it (a controller or `gc order run`).
        supervisor: u32,
        /// The supervisor's start time, as for `pid_start`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        supervisor_start: Option<u64>,
        /// When it is killed if still running.
        deadline: DateTime<Utc>,
        /// Where its output goes.
        log: PathBuf,
    },
    /// A cooked formula: open until every bead below `root` is closed.
    Molecule {
        /// The molecule's root bead.
        root: String,
        /// The `.beads` directory of the store holding it.
        store_dir: PathBuf,
    },
}

/// How a finished run ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunResult {
    /// The run's id.
    pub run: String,
    /// Completed or failed.
    pub outcome: Outcome,
    /// When it ended (or was found ended).
    pub at: DateTime<Utc>,
    /// Why, for people (`exit status 0`, `killed after 5m`, `interrupted`).
    pub detail: String,
}

/// Whether a run did its job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// It finished: exit status 0, or every bead of its molecule closed.
    Completed,
    /// It did not: non-zero exit, killed at its timeout, interrupted, or the cook failed.
    Failed,
}

impl Outcome {
    /// `completed` / `failed`, as printed and in event types (`order.completed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Failed => "failed",
        }
    }
}

/// The order states of one city. See the module documentation.
#[derive(Clone, Debug)]
pub struct OrderLedger {
    dir: PathBuf,
}

/// An order's lock, held while it lives; read and write the order's state through it.
pub struct Held<'a> {
    ledger: &'a OrderLedger,
    name: String,
    _file: File,
}

impl OrderLedger {
    /// The ledger of the city in `city_dir`; nothing is read or created yet.
    pub fn new(city_dir: &Path) -> OrderLedger {
        OrderLedger { dir: city_dir.join(".gc").join("state").join("orders") }
    }

    /// Takes `name`'s lock, waiting for another holder (the controller or `gc order run`) to
    /// let go. Refuses names that are not resource names.
    pub fn lock(&self, name: &str) -> io::Result<Held<'_>> {
        check_name(name)?;
        let file = atomic::lock_file(&self.dir.join(format!("{name}.lock")))?;
        Ok(Held { ledger: self, name: name.to_owned(), _file: file })
    }

    /// `name`'s state without taking its lock (a reader that only shows it). `None` when the
    /// order never ran or was seen, or its file is damaged.
    pub fn peek(&self, name: &str) -> io::Result<Option<OrderState>> {
        check_name(name)?;
        // Without the lock a damaged file is not moved: it reads as no state until the next
        // locked read sets it aside.
        match read(&self.state_path(name)) {
            Err(e) if e.kind() == io::ErrorKind::InvalidData => Ok(None),
            other => other,
        }
    }

    /// The orders that have a state file.
    pub fn names(&self) -> io::Result<Vec<String>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut names = Vec::new();
        for entry in entries {
            let file = entry?.file_name();
            let file = file.to_string_lossy();
            if let Some(name) = file.strip_suffix(".json")
                && check_name(name).is_ok()
            {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Where run `run` of `name` keeps its output.
    pub fn log_path(&self, name: &str, run: &str) -> PathBuf {
        self.dir.join(name).join("runs").join(format!("{run}.log"))
    }

    fn state_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }
}

impl Held<'_> {
    /// The order's state, `None` when it has none yet (or it was damaged and set aside).
    pub fn read(&self) -> io::Result<Option<OrderState>> {
        self.recover().map(Recovered::found)
    }

    /// The order's state; a state file that does not read is set aside (kept as
    /// `<name>.json.damaged`, with a `state.damaged` event) rather than failing the order.
    pub fn recover(&self) -> io::Result<Recovered<OrderState>> {
        set_aside::read_json(&self.ledger.state_path(&self.name), "order state")
    }

    /// Where run `run` of this order keeps its output.
    pub fn log_path(&self, run: &str) -> PathBuf {
        self.ledger.log_path(&self.name, run)
    }

    /// Replaces the order's state.
    pub fn write(&self, state: &OrderState) -> io::Result<()> {
        let bytes = serde_json::to_vec_pretty(state).map_err(io::Error::other)?;
        atomic::write(&self.ledger.state_path(&self.name), &bytes)
    }

    /// Forgets the order: its state and its run logs (the lock file goes too, once released;
    /// a process waiting for it gets a fresh one).
    pub fn remove(self) -> io::Result<()> {
        atomic::remove(&self.ledger.state_path(&self.name))?;
        match fs::remove_dir_all(self.ledger.dir.join(&self.name)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        atomic::remove(&self.ledger.dir.join(format!("{}.lock", self.name)))
    }
}

fn read(path: &Path) -> io::Result<Option<OrderState>> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display()))
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn check_name(name: &str) -> io::Result<()> {
    if crate::api::meta::is_valid_name(name) {
        Ok(())
    } else {
        Err(io::Error::new(io::ErrorKind::InvalidInput, format!("`{name}` is not an order name")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, s).unwrap()
    }

    fn exec_run(id: &str) -> Run {
        Run {
            id: id.to_owned(),
            started: t(1),
            reason: "by hand".to_owned(),
            event_seq: Some(4),
            action: RunAction::Exec {
                pid: 42,
                pid_start: Some(7),
                supervisor: 41,
                supervisor_start: None,
                deadline: t(30),
                log: PathBuf::from("/x/1.log"),
            },
        }
    }

    #[test]
    fn state_round_trips_under_the_lock_and_peek_sees_it() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = OrderLedger::new(dir.path());
        let held = ledger.lock("nightly").unwrap();
        assert_eq!(held.read().unwrap(), None);
        let mut state = OrderState::new("u1", t(0), 9);
        state.current = Some(exec_run("1"));
        held.write(&state).unwrap();
        drop(held);
        assert_eq!(ledger.peek("nightly").unwrap(), Some(state.clone()));
        assert_eq!(ledger.names().unwrap(), ["nightly"]);
        let text = fs::read_to_string(dir.path().join(".gc/state/orders/nightly.json")).unwrap();
        assert!(text.contains("\"kind\": \"exec\"") && text.contains("\"pidStart\": 7"), "{text}");
    }

    #[test]
    fn finishing_ends_only_the_current_run() {
        let mut state = OrderState::new("u1", t(0), 0);
        state.current = Some(exec_run("2"));
        assert!(!state.finish("1", Outcome::Completed, t(5), "exit status 0"));
        assert!(state.current.is_some());
        assert!(state.finish("2", Outcome::Failed, t(5), "interrupted"));
        assert_eq!(state.current, None);
        assert_eq!(state.last_result.as_ref().unwrap().outcome, Outcome::Failed);
        assert!(!state.finish("2", Outcome::Completed, t(6), "again"));
    }

    #[test]
    fn remove_forgets_state_and_logs() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = OrderLedger::new(dir.path());
        let held = ledger.lock("a").unwrap();
        held.write(&OrderState::new("u", t(0), 0)).unwrap();
        let log = ledger.log_path("a", "1");
        fs::create_dir_all(log.parent().unwrap()).unwrap();
        fs::write(&log, "out").unwrap();
        held.remove().unwrap();
        assert_eq!(ledger.peek("a").unwrap(), None);
        assert!(!log.exists());
        assert!(ledger.names().unwrap().is_empty());
    }

    #[test]
    fn bad_names_are_errors_and_a_corrupt_state_is_set_aside_under_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = OrderLedger::new(dir.path());
        assert!(ledger.lock("../etc").is_err());
        assert!(ledger.peek("A B").is_err());
        let states = dir.path().join(".gc/state/orders");
        fs::create_dir_all(&states).unwrap();
        fs::write(states.join("x.json"), "{not json").unwrap();
        // A reader without the lock sees no state and moves nothing.
        assert_eq!(ledger.peek("x").unwrap(), None);
        assert!(states.join("x.json").exists());
        let held = ledger.lock("x").unwrap();
        assert_eq!(held.recover().unwrap(), Recovered::SetAside(states.join("x.json.damaged")));
        assert_eq!(held.read().unwrap(), None);
        assert_eq!(ledger.names().unwrap(), Vec::<String>::new(), "the kept copy is no state");
    }
}
