//! The crash-loop ledger: each session's restarts after dying and its quarantine, kept on disk
//! so crash-loop backoff survives a controller restart, and lifted by `gc session reset`.
//!
//! # On disk
//!
//! Everything lives in `<city>/.gc/state/crashloop/`; times are unix milliseconds (UTC).
//!
//! - `<session>.json`: one session's record, written atomically (temp file + rename):
//!   ```json
//!   {
//!     "restarts": [1767225600000, 1767225630000],
//!     "quarantinedUntil": 1767229200000,
//!     "quarantinedAt": 1767225660000,
//!     "quarantineReason": "5 restarts within 1h"
//!   }
//!   ```
//!   `restarts` is oldest first; every field may be left out (no restarts, not quarantined).
//! - `<session>.reset`: the time of the last `gc session reset` of the session, one number
//!   (`1767226000000`). Restarts and quarantines stamped at or before it do not count.
//! - `.lock`: taken around every read-modify-write, by the controller and by `gc session reset`.
//!
//! Session names are `[A-Za-z0-9][A-Za-z0-9_-]*` (see [`validate_name`]); any other name is
//! refused before a path is built from it. Files that match neither pattern are ignored, and a
//! record that is not valid JSON is reported and treated as empty.
//!
//! # Why a reset marker
//!
//! The controller decides from what it read at the start of a pass, so it may record a restart
//! or a quarantine decided before a `gc session reset` (from another process) and written after
//! it. The marker makes such late writes harmless: anything stamped at or before the reset is
//! dropped, by readers and writers alike. A marker goes away once it cannot matter any more: the
//! session's record holds something newer (the controller's clock has moved past the reset, and
//! one session is only ever written from one thread at a time), or it is a day old.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::runtime::validate_name;
use crate::store::atomic;

/// Most restarts one record keeps (the newest), so a record cannot grow without bound when a
/// session keeps dying more slowly than its crash-loop window.
pub const MAX_RESTARTS_KEPT: usize = 1000;

/// How long a reset marker outlives its reset at most: far longer than any controller pass
/// that began before the reset could still be writing.
const MARKER_TTL: Duration = Duration::from_secs(24 * 60 * 60);

const RECORD_EXT: &str = "json";
const MARKER_EXT: &str = "reset";
const LOCK_FILE: &str = ".lock";

/// What the ledger knows about one session.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "RecordFile", try_from = "RecordFile")]
pub struct CrashRecord {
    /// When it was restarted after dying, oldest first.
    pub restarts: Vec<SystemTime>,
    /// Quarantined until then (no restarts), when set.
    pub quarantined_until: Option<SystemTime>,
    /// When the quarantine began.
    pub quarantined_at: Option<SystemTime>,
    /// Why it was quarantined (e.g. "5 restarts within 1h").
    pub quarantine_reason: Option<String>,
}

impl CrashRecord {
    /// Restarts within `window` before `now`. Restarts stamped after `now` count too: the
    /// clock stepped back, and forgetting them would let a crash loop run unchecked.
    pub fn recent(&self, now: SystemTime, window: Duration) -> usize {
        match now.checked_sub(window) {
            Some(since) => self.restarts.iter().filter(|&&at| at >= since).count(),
            None => self.restarts.len(),
        }
    }

    /// Whether quarantined at `now`.
    pub fn is_quarantined(&self, now: SystemTime) -> bool {
        self.quarantined_until.is_some_and(|until| now < until)
    }

    /// The record without what happened at or before a reset at `reset_ms`.
    fn after_reset(mut self, reset_ms: u64) -> CrashRecord {
        self.restarts.retain(|&at| to_ms(at) > reset_ms);
        // A quarantine without a start time was written by hand; a reset lifts it too.
        if self.quarantined_at.is_none_or(|at| to_ms(at) <= reset_ms) {
            self.quarantined_until = None;
            self.quarantined_at = None;
            self.quarantine_reason = None;
        }
        self
    }

    /// The newest time the record holds, in unix milliseconds.
    fn newest_ms(&self) -> Option<u64> {
        self.restarts.iter().chain(&self.quarantined_at).map(|&at| to_ms(at)).max()
    }

    fn is_empty(&self) -> bool {
        *self == CrashRecord::default()
    }
}

/// [`CrashRecord`] as written to disk (see the module documentation).
#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct RecordFile {
    restarts: Vec<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    quarantined_until: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    quarantined_at: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    quarantine_reason: Option<String>,
}

impl From<CrashRecord> for RecordFile {
    fn from(record: CrashRecord) -> RecordFile {
        RecordFile {
            restarts: record.restarts.into_iter().map(to_ms).collect(),
            quarantined_until: record.quarantined_until.map(to_ms),
            quarantined_at: record.quarantined_at.map(to_ms),
            quarantine_reason: record.quarantine_reason,
        }
    }
}

impl TryFrom<RecordFile> for CrashRecord {
    type Error = String;

    fn try_from(file: RecordFile) -> Result<CrashRecord, String> {
        let time = |ms: u64| from_ms(ms).ok_or_else(|| format!("time {ms} is out of range"));
        let mut restarts = file.restarts.into_iter().map(time).collect::<Result<Vec<_>, _>>()?;
        restarts.sort();
        Ok(CrashRecord {
            restarts,
            quarantined_until: file.quarantined_until.map(time).transpose()?,
            quarantined_at: file.quarantined_at.map(time).transpose()?,
            quarantine_reason: file.quarantine_reason,
        })
    }
}

/// Unix milliseconds; times before 1970 count as 1970.
fn to_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn from_ms(ms: u64) -> Option<SystemTime> {
    UNIX_EPOCH.checked_add(Duration::from_millis(ms))
}

/// `at` as it reads back from disk, so what a writer compares is what a reader will see.
fn whole_ms(at: SystemTime) -> SystemTime {
    from_ms(to_ms(at)).unwrap_or(at)
}

/// Whether the reset marker at `marker_ms` can no longer change anything for `record` (the
/// session's record with the marker applied).
fn marker_spent(record: &CrashRecord, marker_ms: u64, now: SystemTime) -> bool {
    let ttl_ms = u64::try_from(MARKER_TTL.as_millis()).unwrap_or(u64::MAX);
    record.newest_ms().is_some_and(|newest| newest > marker_ms)
        || to_ms(now).saturating_sub(marker_ms) >= ttl_ms
}

/// The crash-loop ledger of one city. See the module documentation.
#[derive(Clone, Debug)]
pub struct CrashLedger {
    dir: PathBuf,
}

impl CrashLedger {
    /// The ledger of the city in `city_dir`; nothing is read or created yet.
    pub fn new(city_dir: &Path) -> CrashLedger {
        CrashLedger { dir: city_dir.join(".gc").join("state").join("crashloop") }
    }

    /// Every record, with `gc session reset` markers applied. Sessions with nothing left to
    /// remember are left out; a missing directory is an empty ledger; unreadable or corrupt
    /// records are reported and skipped.
    pub fn load(&self) -> io::Result<BTreeMap<String, CrashRecord>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(e),
        };
        let mut records = BTreeMap::new();
        let mut markers = BTreeMap::new();
        for entry in entries {
            let entry = entry?;
            let Some((session, ext)) = split_name(&entry.file_name()) else { continue };
            match ext.as_str() {
                RECORD_EXT => match read_record(&entry.path(), false) {
                    Ok(Some(record)) => {
                        records.insert(session, record);
                    }
                    // Damaged (or gone): set it aside under the lock, so it is said once.
                    Ok(None) => {
                        let _lock = self.lock()?;
                        read_record(&entry.path(), true)?;
                    }
                    Err(e) => tracing::warn!("skipping {}: {e}", entry.path().display()),
                },
                MARKER_EXT => match read_marker(&entry.path()) {
                    Ok(Some(marker)) => {
                        markers.insert(session, marker);
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!("skipping {}: {e}", entry.path().display()),
                },
                _ => {}
            }
        }
        let now = SystemTime::now();
        for (session, &marker) in &markers {
            let record = records.remove(session).unwrap_or_default().after_reset(marker);
            if marker_spent(&record, marker, now) {
                // Under the lock, in case a new reset replaced the marker since it was read.
                if let Err(e) = self.tidy(session) {
                    tracing::warn!("cannot drop the reset marker of {session}: {e}");
                }
            }
            records.insert(session.clone(), record);
        }
        records.retain(|_, record| !record.is_empty());
        Ok(records)
    }

    /// Records that `session` was restarted after dying at `at` (kept to the millisecond). A
    /// restart stamped at or before the session's last reset is ignored.
    pub fn record_restart(&self, session: &str, at: SystemTime) -> io::Result<()> {
        self.update(session, |record, marker| {
            let at = whole_ms(at);
            if marker.is_none_or(|marker| to_ms(at) > marker) {
                record.restarts.push(at);
                record.restarts.sort();
                let excess = record.restarts.len().saturating_sub(MAX_RESTARTS_KEPT);
                record.restarts.drain(..excess);
            }
        })
    }

    /// Quarantines `session` from `at` until `until`, for `reason`. A quarantine decided before
    /// the session's last reset is ignored.
    pub fn quarantine(
        &self,
        session: &str,
        at: SystemTime,
        until: SystemTime,
        reason: &str,
    ) -> io::Result<()> {
        self.update(session, |record, marker| {
            let at = whole_ms(at);
            if marker.is_none_or(|marker| to_ms(at) > marker) {
                record.quarantined_at = Some(at);
                record.quarantined_until = Some(whole_ms(until));
                record.quarantine_reason = Some(reason.to_owned());
            }
        })
    }

    /// Drops the session's history (a stable run, or its quarantine is over).
    pub fn forget(&self, session: &str) -> io::Result<()> {
        self.update(session, |record, _| *record = CrashRecord::default())
    }

    /// `gc session reset`: lifts a quarantine and clears the restart history; returns the
    /// record as it was (`None` when there was nothing to clear).
    ///
    /// The reset also holds for restarts and quarantines the controller decided before `at` but
    /// writes after it (see the module documentation).
    pub fn reset(&self, session: &str, at: SystemTime) -> io::Result<Option<CrashRecord>> {
        let (record_path, marker_path) = self.paths(session)?;
        let _lock = self.lock()?;
        let previous = read_marker(&marker_path)?;
        let record = read_record(&record_path, true)?.unwrap_or_default();
        let record = match previous {
            Some(marker) => record.after_reset(marker),
            None => record,
        };
        // Marker first: if the removal below is cut short, readers already ignore the record.
        let marker = previous.unwrap_or(0).max(to_ms(at));
        atomic::write(&marker_path, format!("{marker}\n").as_bytes())?;
        atomic::remove(&record_path)?;
        Ok((!record.is_empty()).then_some(record))
    }

    /// Changes one session's record under the lock: `change` gets the record with the reset
    /// marker applied, and the marker's time.
    fn update(
        &self,
        session: &str,
        change: impl FnOnce(&mut CrashRecord, Option<u64>),
    ) -> io::Result<()> {
        let (record_path, marker_path) = self.paths(session)?;
        let _lock = self.lock()?;
        let marker = read_marker(&marker_path)?;
        let found = read_record(&record_path, true)?;
        let mut record = found.clone().unwrap_or_default();
        if let Some(marker) = marker {
            record = record.after_reset(marker);
        }
        change(&mut record, marker);
        if found.is_some_and(|found| found == record) {
            // Unchanged; skip the write.
        } else if record.is_empty() {
            atomic::remove(&record_path)?;
        } else {
            let mut bytes = serde_json::to_vec_pretty(&record).map_err(io::Error::other)?;
            bytes.push(b'\n');
            atomic::write(&record_path, &bytes)?;
        }
        // Only after the record no longer holds anything the marker hides.
        if marker.is_some_and(|marker| marker_spent(&record, marker, SystemTime::now())) {
            atomic::remove(&marker_path)?;
        }
        Ok(())
    }

    /// Rewrites the session's record without what its marker hides, dropping the marker when
    /// it is spent.
    fn tidy(&self, session: &str) -> io::Result<()> {
        self.update(session, |_, _| {})
    }

    /// The record and marker paths of `session`, refusing names that are not session names.
    fn paths(&self, session: &str) -> io::Result<(PathBuf, PathBuf)> {
        validate_name(session).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok((
            self.dir.join(format!("{session}.{RECORD_EXT}")),
            self.dir.join(format!("{session}.{MARKER_EXT}")),
        ))
    }

    /// Serialises read-modify-write with other threads and processes; released on drop.
    fn lock(&self) -> io::Result<File> {
        atomic::lock_file(&self.dir.join(LOCK_FILE))
    }
}

/// `(session, extension)` of a ledger file name, `None` for anything else.
fn split_name(name: &std::ffi::OsStr) -> Option<(String, String)> {
    let (session, ext) = name.to_str()?.rsplit_once('.')?;
    validate_name(session).ok()?;
    Some((session.to_owned(), ext.to_owned()))
}

/// The record at `path`: `None` when there is none, or when it is corrupt. Under the ledger's
/// lock a corrupt record is set aside (once, with an event); without it, it only reads as none.
fn read_record(path: &Path, locked: bool) -> io::Result<Option<CrashRecord>> {
    if locked {
        return Ok(crate::store::set_aside::read_json(path, "crash-loop record")?.found());
    }
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(serde_json::from_slice(&bytes).ok())
}

/// The reset time in the marker at `path`: `None` when there is none, or when it is corrupt
/// (reported).
fn read_marker(path: &Path) -> io::Result<Option<u64>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => String::new(),
        Err(e) => return Err(e),
    };
    match text.trim().parse() {
        Ok(ms) => Ok(Some(ms)),
        Err(_) => {
            tracing::warn!("ignoring corrupt reset marker {}", path.display());
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &str = "gc-town-worker-1";

    /// A time `secs` seconds after a whole second two hours ago (the same one throughout a
    /// run), so reset markers are fresh and times are whole milliseconds like those read back.
    fn t(secs: u64) -> SystemTime {
        static BASE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
        let base = *BASE.get_or_init(|| to_ms(SystemTime::now()) / 1000 - 7200);
        UNIX_EPOCH + Duration::from_secs(base + secs)
    }

    /// A time `secs` seconds into 2026.
    fn t2026(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_767_225_600 + secs)
    }

    fn ledger() -> (tempfile::TempDir, CrashLedger) {
        let tmp = tempfile::tempdir().unwrap();
        let ledger = CrashLedger::new(tmp.path());
        (tmp, ledger)
    }

    fn dir(tmp: &tempfile::TempDir) -> PathBuf {
        tmp.path().join(".gc/state/crashloop")
    }

    fn files(tmp: &tempfile::TempDir) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir(tmp))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| name != LOCK_FILE)
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_missing_directory_is_an_empty_ledger() {
        let (tmp, ledger) = ledger();
        assert_eq!(ledger.load().unwrap(), BTreeMap::new());
        assert!(!dir(&tmp).exists(), "loading creates nothing");
    }

    #[test]
    fn restarts_survive_a_controller_restart() {
        let (tmp, ledger) = ledger();
        ledger.record_restart(S, t(20)).unwrap();
        ledger.record_restart(S, t(10)).unwrap();
        // A new process: a fresh ledger on the same city.
        let records = CrashLedger::new(tmp.path()).load().unwrap();
        assert_eq!(records[S].restarts, vec![t(10), t(20)], "oldest first");
        assert!(!records[S].is_quarantined(t(30)));
    }

    #[test]
    fn times_are_kept_to_the_millisecond() {
        let (_tmp, ledger) = ledger();
        ledger.record_restart(S, t(1) + Duration::from_micros(2_500)).unwrap();
        assert_eq!(ledger.load().unwrap()[S].restarts, vec![t(1) + Duration::from_millis(2)]);
    }

    #[test]
    fn recent_counts_only_restarts_within_the_window() {
        let record = CrashRecord { restarts: vec![t(0), t(50), t(90)], ..Default::default() };
        assert_eq!(record.recent(t(100), Duration::from_secs(60)), 2);
        assert_eq!(record.recent(t(100), Duration::from_secs(5)), 0);
        // A window reaching before the epoch counts everything.
        assert_eq!(record.recent(t(100), Duration::from_secs(u64::MAX / 4)), 3);
        // The clock stepped back: restarts "from the future" still count.
        assert_eq!(record.recent(t(10), Duration::from_secs(5)), 2);
    }

    #[test]
    fn a_quarantine_holds_until_its_end() {
        let (_tmp, ledger) = ledger();
        for s in 0..5 {
            ledger.record_restart(S, t(s)).unwrap();
        }
        ledger.quarantine(S, t(5), t(3605), "5 restarts within 1h").unwrap();
        let record = &ledger.load().unwrap()[S];
        assert!(record.is_quarantined(t(5)));
        assert!(record.is_quarantined(t(3604)));
        assert!(!record.is_quarantined(t(3605)));
        assert_eq!(record.quarantined_at, Some(t(5)));
        assert_eq!(record.quarantine_reason.as_deref(), Some("5 restarts within 1h"));
        assert_eq!(record.restarts.len(), 5);
    }

    #[test]
    fn forget_drops_the_history() {
        let (tmp, ledger) = ledger();
        ledger.record_restart(S, t(1)).unwrap();
        ledger.record_restart("gc-town-mayor", t(1)).unwrap();
        ledger.forget(S).unwrap();
        assert_eq!(ledger.load().unwrap().keys().collect::<Vec<_>>(), ["gc-town-mayor"]);
        assert_eq!(files(&tmp), ["gc-town-mayor.json"]);
        ledger.forget("gc-town-never-seen").unwrap();
    }

    #[test]
    fn reset_lifts_a_quarantine_and_returns_what_it_was() {
        let (_tmp, ledger) = ledger();
        ledger.record_restart(S, t(1)).unwrap();
        ledger.quarantine(S, t(2), t(3602), "1 restart within 1h").unwrap();
        let was = ledger.reset(S, t(10)).unwrap().unwrap();
        assert!(was.is_quarantined(t(10)));
        assert_eq!(was.restarts, vec![t(1)]);
        assert_eq!(ledger.load().unwrap(), BTreeMap::new());
        assert_eq!(ledger.reset(S, t(11)).unwrap(), None, "nothing left to reset");
    }

    #[test]
    fn a_reset_wins_over_a_controller_writing_back_what_it_decided_before() {
        let (_tmp, ledger) = ledger();
        for s in 0..4 {
            ledger.record_restart(S, t(s)).unwrap();
        }
        // The controller reads the ledger and decides on a fifth restart and a quarantine…
        let seen = ledger.load().unwrap();
        assert_eq!(seen[S].recent(t(5), Duration::from_secs(3600)), 4);
        // …a person runs `gc session reset` from another process…
        ledger.reset(S, t(6)).unwrap();
        // …and the controller writes what it decided, stamped before the reset.
        ledger.record_restart(S, t(5)).unwrap();
        ledger.quarantine(S, t(5), t(3605), "5 restarts within 1h").unwrap();
        assert_eq!(ledger.load().unwrap().get(S), None, "the reset took effect");

        // Restarts after the reset count again.
        ledger.record_restart(S, t(7)).unwrap();
        assert_eq!(ledger.load().unwrap()[S].restarts, vec![t(7)]);
    }

    #[test]
    fn a_record_written_behind_the_ledgers_back_is_still_reset() {
        let (tmp, ledger) = ledger();
        ledger.reset(S, t(6)).unwrap();
        // Say a writer raced the reset's removal and put back its old record.
        let stale = CrashRecord { restarts: vec![t(1), t(8)], ..Default::default() };
        fs::write(dir(&tmp).join(format!("{S}.json")), serde_json::to_vec(&stale).unwrap())
            .unwrap();
        assert_eq!(ledger.load().unwrap()[S].restarts, vec![t(8)]);
    }

    #[test]
    fn a_reset_marker_is_dropped_once_the_record_moves_past_it() {
        let now = SystemTime::now();
        let (tmp, ledger) = ledger();
        ledger.record_restart(S, now - Duration::from_secs(10)).unwrap();
        ledger.reset(S, now - Duration::from_secs(5)).unwrap();
        assert_eq!(files(&tmp), [format!("{S}.reset")]);
        ledger.record_restart(S, now - Duration::from_secs(7)).unwrap();
        assert_eq!(files(&tmp), [format!("{S}.reset")], "a stale write keeps the marker");
        ledger.record_restart(S, now).unwrap();
        assert_eq!(files(&tmp), [format!("{S}.json")]);
        assert_eq!(ledger.load().unwrap()[S].restarts, vec![whole_ms(now)]);
    }

    #[test]
    fn an_old_reset_marker_is_dropped_without_bringing_history_back() {
        let long_ago = SystemTime::now() - MARKER_TTL - Duration::from_secs(60);
        let (tmp, ledger) = ledger();
        ledger.reset(S, long_ago).unwrap();
        let stale =
            CrashRecord { restarts: vec![long_ago - Duration::from_secs(1)], ..Default::default() };
        fs::write(dir(&tmp).join(format!("{S}.json")), serde_json::to_vec(&stale).unwrap())
            .unwrap();
        assert_eq!(ledger.load().unwrap(), BTreeMap::new());
        assert_eq!(files(&tmp), Vec::<String>::new(), "marker and hidden history are gone");
        assert_eq!(ledger.load().unwrap(), BTreeMap::new());
    }

    #[test]
    fn resets_from_another_thread_are_never_lost() {
        let (_tmp, ledger) = ledger();
        let controller = {
            let ledger = ledger.clone();
            std::thread::spawn(move || {
                for _ in 0..200 {
                    ledger.record_restart(S, SystemTime::now()).unwrap();
                }
            })
        };
        std::thread::sleep(Duration::from_millis(5));
        let reset_at = SystemTime::now();
        ledger.reset(S, reset_at).unwrap();
        controller.join().unwrap();
        let left = ledger.load().unwrap().remove(S).unwrap_or_default();
        assert!(left.restarts.iter().all(|&at| to_ms(at) > to_ms(reset_at)), "{left:?}");
    }

    #[test]
    fn a_corrupt_record_is_skipped_and_replaced_by_the_next_write() {
        let (tmp, ledger) = ledger();
        ledger.record_restart("gc-town-mayor", t(1)).unwrap();
        fs::write(dir(&tmp).join(format!("{S}.json")), "{\"restarts\": [1, 2").unwrap();
        fs::write(dir(&tmp).join("gc-town-x.json"), "{\"restarts\": [-1]}").unwrap();
        fs::write(dir(&tmp).join("gc-town-y.reset"), "yesterday").unwrap();
        let records = ledger.load().unwrap();
        assert_eq!(records.keys().collect::<Vec<_>>(), ["gc-town-mayor"]);
        // Set aside once, bytes kept, so later loads do not trip on it again.
        let aside = dir(&tmp).join(format!("{S}.json.damaged"));
        assert_eq!(fs::read_to_string(&aside).unwrap(), "{\"restarts\": [1, 2");
        assert!(!dir(&tmp).join(format!("{S}.json")).exists());
        ledger.record_restart(S, t(2)).unwrap();
        assert_eq!(ledger.load().unwrap()[S].restarts, vec![t(2)]);
    }

    #[test]
    fn unknown_files_are_ignored() {
        let (tmp, ledger) = ledger();
        ledger.record_restart(S, t(1)).unwrap();
        for name in ["README", "notes.txt", ".hidden.json", "bad name.json", ".gc-x.json.1.tmp"] {
            fs::write(dir(&tmp).join(name), "{}").unwrap();
        }
        fs::create_dir(dir(&tmp).join("sub.json")).unwrap();
        assert_eq!(ledger.load().unwrap().keys().collect::<Vec<_>>(), [S]);
    }

    #[test]
    fn names_that_are_not_session_names_are_refused() {
        let (tmp, ledger) = ledger();
        for bad in ["", "../escape", "a/b", ".hidden", "-x", "a b", "x.json"] {
            let err = ledger.record_restart(bad, t(1)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad}");
            assert!(ledger.reset(bad, t(1)).is_err());
            assert!(ledger.quarantine(bad, t(1), t(2), "r").is_err());
            assert!(ledger.forget(bad).is_err());
        }
        assert!(!tmp.path().join(".gc/state/escape.json").exists());
        assert!(!dir(&tmp).exists(), "nothing was created");
    }

    #[test]
    fn a_record_in_the_documented_format_loads() {
        let (tmp, ledger) = ledger();
        fs::create_dir_all(dir(&tmp)).unwrap();
        let text = r#"{
            "restarts": [1767225600000, 1767225630000],
            "quarantinedUntil": 1767229200000,
            "quarantinedAt": 1767225660000,
            "quarantineReason": "5 restarts within 1h"
        }"#;
        fs::write(dir(&tmp).join(format!("{S}.json")), text).unwrap();
        fs::write(dir(&tmp).join("gc-town-mayor.json"), "{}").unwrap();
        let records = ledger.load().unwrap();
        assert_eq!(
            records[S],
            CrashRecord {
                restarts: vec![t2026(0), t2026(30)],
                quarantined_until: Some(t2026(3600)),
                quarantined_at: Some(t2026(60)),
                quarantine_reason: Some("5 restarts within 1h".to_owned()),
            }
        );
        assert!(!records.contains_key("gc-town-mayor"), "an empty record is no record");
        // And what the ledger writes reads back the same way.
        ledger.record_restart(S, t2026(61)).unwrap();
        let written: serde_json::Value =
            serde_json::from_slice(&fs::read(dir(&tmp).join(format!("{S}.json"))).unwrap())
                .unwrap();
        assert_eq!(written["restarts"][2], 1_767_225_661_000u64);
        assert_eq!(written["quarantinedUntil"], 1_767_229_200_000u64);
    }
}
