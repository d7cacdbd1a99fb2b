//! The city's append-only event log, `.gc/events.jsonl`: one JSON object per line with a `seq`
//! that strictly increases across every process writing to it.
//!
//! A stored event looks like this (one line in the file):
//!
//! ```json
//! {"seq":7,"ts":"2026-11-24T08:30:00.125Z","type":"session.crashed","object":{"kind":"Agent","name":"worker"},"reason":"ProcessExited","message":"session gc-town-worker exited with status 1","actor":"controller","payload":{"exitCode":1}}
//! ```
//!
//! Writers build [`NewEvent`]s with [`Event::new`] and hand them to [`append`], which numbers
//! and stamps them under an exclusive lock. Readers use [`read_all`], [`read_last`] and
//! [`read_since`] (the last two read from the end of the file, so they stay cheap on a large
//! log), [`scan_back`] for their own filtering, and [`Tail`] / [`Follower`] to follow new lines.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::api::Kind;

/// The object an event is about: a resource kind and name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    /// The resource kind, as in a resource's `kind:` field (`Agent`).
    pub kind: Kind,
    /// The resource name.
    pub name: String,
}

impl ObjectRef {
    /// `agent/worker`, as the CLI prints and reads it.
    pub fn key(&self) -> String {
        self.kind.key(&self.name)
    }
}

/// One event, as stored in the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the log, from 1, strictly increasing across processes.
    pub seq: u64,
    /// When it was recorded: RFC 3339, UTC, milliseconds (`2026-11-24T08:30:00.125Z`).
    /// Non-decreasing along `seq` as long as the system clock does not go back. (Read from
    /// `time` in logs written before the typed format.)
    #[serde(alias = "time")]
    pub ts: String,
    /// Dotted type, e.g. `resource.configured`, `session.crashed`, `controller.started`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The object it is about; `None` for city- or controller-level events. (Logs written
    /// before the typed format held a `kind/name` string here; it is read as the same object.)
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "object_or_key")]
    pub object: Option<ObjectRef>,
    /// Why, as one CamelCase word in kubectl's habit (`Created`, `ProcessExited`).
    #[serde(default)]
    pub reason: String,
    /// What happened, for people.
    pub message: String,
    /// Who caused it (`gc apply`, `controller`, an agent).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub actor: String,
    /// Details whose shape depends on `type` (e.g. `{"fields": […]}` for
    /// `resource.configured`). Omitted when empty.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub payload: Map<String, Value>,
}

/// `{"kind": "Agent", "name": "worker"}`, or the older `"agent/worker"`.
fn object_or_key<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<ObjectRef>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Ref(ObjectRef),
        Key(String),
    }
    Ok(match Option::<Repr>::deserialize(d)? {
        None => None,
        Some(Repr::Ref(r)) => Some(r),
        Some(Repr::Key(key)) => key.split_once('/').and_then(|(kind, name)| {
            Some(ObjectRef { kind: Kind::from_cli_name(kind)?, name: name.to_owned() })
        }),
    })
}

impl Event {
    /// Starts building an event to [`append`]: its type, reason and message. Add the object
    /// with [`NewEvent::object`] and details with [`NewEvent::payload`].
    ///
    /// ```
    /// use gascity::api::Kind;
    /// use gascity::events::Event;
    /// let e = Event::new("session.crashed", "ProcessExited", "worker exited with status 1")
    ///     .object(Kind::Agent, "worker")
    ///     .payload(serde_json::json!({"exitCode": 1}));
    /// assert_eq!(e.reason, "ProcessExited");
    /// ```
    // Named `new` on `Event` so call sites read as the event they record.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(
        event_type: impl Into<String>,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> NewEvent {
        NewEvent {
            event_type: event_type.into(),
            object: None,
            reason: reason.into(),
            message: message.into(),
            payload: Map::new(),
        }
    }

    /// `kind/name` of the object, or `None` for an event about no object.
    pub fn object_key(&self) -> Option<String> {
        self.object.as_ref().map(ObjectRef::key)
    }

    /// Whether the event is about `kind`/`name`.
    pub fn is_about(&self, kind: Kind, name: &str) -> bool {
        self.object.as_ref().is_some_and(|o| o.kind == kind && o.name == name)
    }
}

/// An event not yet in the log: [`append`] gives it its `seq`, time and actor. Build one with
/// [`Event::new`].
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    /// Dotted type, e.g. `resource.created`.
    pub event_type: String,
    /// The object it is about, if any.
    pub object: Option<ObjectRef>,
    /// One CamelCase word.
    pub reason: String,
    /// What happened, for people.
    pub message: String,
    /// Details; empty for none.
    pub payload: Map<String, Value>,
}

impl NewEvent {
    /// Sets the object the event is about.
    pub fn object(mut self, kind: Kind, name: impl Into<String>) -> Self {
        self.object = Some(ObjectRef { kind, name: name.into() });
        self
    }

    /// Sets the details. Pass a JSON object, or any value that serialises to one (a typed
    /// payload struct). `null` means no payload; any other non-object value is stored as
    /// `{"value": …}`, and a value that cannot be serialised as `{"error": "…"}`, so recording
    /// an event never fails because of its payload.
    pub fn payload(mut self, payload: impl Serialize) -> Self {
        self.payload = match serde_json::to_value(payload) {
            Ok(Value::Object(map)) => map,
            Ok(Value::Null) => Map::new(),
            Ok(other) => Map::from_iter([("value".to_owned(), other)]),
            Err(e) => Map::from_iter([("error".to_owned(), Value::String(e.to_string()))]),
        };
        self
    }
}

/// The log of the city in `city_dir`.
pub fn log_path(city_dir: &Path) -> PathBuf {
    city_dir.join(".gc").join("events.jsonl")
}

/// Appends events, numbering them after the last one in the log, and returns them as stored.
/// Writers are serialised by an exclusive lock on the log file, so numbers never repeat or go
/// back across processes; the time is taken under the lock, so it does not go back along `seq`
/// either (unless the clock does). A torn last line left by a crashed writer is closed off first
/// so it cannot swallow the new events.
pub fn append(city_dir: &Path, events: Vec<NewEvent>, actor: &str) -> io::Result<Vec<Event>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let path = log_path(city_dir);
    fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
    let mut file = OpenOptions::new().create(true).read(true).append(true).open(&path)?;
    file.lock()?;
    let (last, end) = last_seq(&mut file)?;
    let len = file.seek(SeekFrom::End(0))?;
    let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut buf = Vec::new();
    if end < len {
        buf.push(b'\n');
    }
    let mut stored = Vec::with_capacity(events.len());
    for (seq, new) in (last + 1..).zip(events) {
        let event = Event {
            seq,
            ts: ts.clone(),
            event_type: new.event_type,
            object: new.object,
            reason: new.reason,
            message: new.message,
            actor: actor.to_owned(),
            payload: new.payload,
        };
        serde_json::to_writer(&mut buf, &event).map_err(io::Error::other)?;
        buf.push(b'\n');
        stored.push(event);
    }
    file.write_all(&buf)?;
    file.sync_data()?;
    Ok(stored)
}

/// The `seq` of the last line that has one (0 for none), and the offset just past the last
/// complete line. Only `seq` is read, so a line this version cannot otherwise parse (a newer or
/// older format) still counts and numbers never repeat.
fn last_seq(file: &mut File) -> io::Result<(u64, u64)> {
    #[derive(Deserialize)]
    struct Seq {
        seq: u64,
    }
    let mut last = 0;
    let end = scan_back_lines(file, |line| match serde_json::from_slice::<Seq>(line) {
        Ok(s) => {
            last = s.seq;
            ControlFlow::Break(())
        }
        Err(_) => ControlFlow::Continue(()),
    })?;
    Ok((last, end))
}

/// Every event in the log, oldest first. Lines that do not parse (a torn last line, a line
/// from a newer gc) are skipped; a missing log is empty.
pub fn read_all(city_dir: &Path) -> io::Result<Vec<Event>> {
    let mut out = Vec::new();
    let mut tail = Tail::new(city_dir, 0);
    loop {
        let batch = tail.read_new()?;
        if batch.is_empty() {
            return Ok(out);
        }
        out.extend(batch);
    }
}

/// The last `n` events, oldest first, read from the end of the file: the cost depends on `n`,
/// not on the size of the log.
pub fn read_last(city_dir: &Path, n: usize) -> io::Result<Vec<Event>> {
    let mut out = Vec::new();
    if n > 0 {
        scan_back(city_dir, |e| {
            out.push(e);
            if out.len() >= n { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        })?;
    }
    out.reverse();
    Ok(out)
}

/// Every event with `seq > after_seq`, oldest first, read from the end of the file: cheap when
/// `after_seq` is recent (a follower catching up). `read_since(dir, 0)` is the whole log.
pub fn read_since(city_dir: &Path, after_seq: u64) -> io::Result<Vec<Event>> {
    let mut out = Vec::new();
    scan_back(city_dir, |e| {
        if e.seq <= after_seq {
            return ControlFlow::Break(());
        }
        out.push(e);
        ControlFlow::Continue(())
    })?;
    out.reverse();
    Ok(out)
}

/// Visits events from the newest back towards the oldest until `visit` breaks, reading the
/// file backwards in blocks. Returns the offset just past the last complete line: start a
/// [`Tail`] there to see exactly the events appended after the ones visited. A missing log
/// visits nothing and returns 0.
pub fn scan_back(city_dir: &Path, visit: impl FnMut(Event) -> ControlFlow<()>) -> io::Result<u64> {
    match File::open(log_path(city_dir)) {
        Ok(mut file) => scan_back_file(&mut file, visit),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
    }
}

/// How much [`scan_back`] reads at a time.
const BLOCK: u64 = 64 * 1024;

fn scan_back_file(
    file: &mut File,
    mut visit: impl FnMut(Event) -> ControlFlow<()>,
) -> io::Result<u64> {
    scan_back_lines(file, |line| match serde_json::from_slice::<Event>(line) {
        Ok(event) => visit(event),
        Err(_) => ControlFlow::Continue(()),
    })
}

/// [`scan_back_file`] over raw complete lines (without their `\n`), newest first.
fn scan_back_lines(
    file: &mut File,
    mut emit: impl FnMut(&[u8]) -> ControlFlow<()>,
) -> io::Result<u64> {
    let len = file.seek(SeekFrom::End(0))?;
    let mut pos = len;
    // Bytes from `pos` up to the end of the line being assembled (its start not yet read).
    let mut pending: Vec<u8> = Vec::new();
    // Offset just past the last '\n': what follows it is a torn line, not an event.
    let mut end: Option<u64> = None;
    while pos > 0 {
        let start = pos.saturating_sub(BLOCK);
        let mut block = vec![0; usize::try_from(pos - start).map_err(io::Error::other)?];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block)?;
        pos = start;
        block.extend_from_slice(&pending);
        pending = block;
        while let Some(i) = pending.iter().rposition(|&b| b == b'\n') {
            if end.is_none() {
                end = Some(pos + i as u64 + 1);
            } else if i + 1 < pending.len() && emit(&pending[i + 1..]).is_break() {
                return Ok(end.unwrap_or(0));
            }
            pending.truncate(i);
        }
    }
    if end.is_some() && !pending.is_empty() {
        let _ = emit(&pending);
    }
    Ok(end.unwrap_or(0))
}

/// Reads the events appended to a log after a given offset, one complete line at a time: a
/// line still being written is left for the next read. Cheap to call repeatedly.
#[derive(Debug)]
pub struct Tail {
    path: PathBuf,
    offset: u64,
}

impl Tail {
    /// A reader of the log of `city_dir` starting at byte `offset` (0 for the whole log, or
    /// what [`scan_back`] returned). The log need not exist yet.
    pub fn new(city_dir: &Path, offset: u64) -> Tail {
        Tail { path: log_path(city_dir), offset }
    }

    /// The offset the next read starts at.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The events in complete lines appended since the last read, oldest first (at most a few
    /// MiB per call; call again until it returns nothing to drain a large backlog). A log that
    /// shrank (replaced) is read again from its start.
    pub fn read_new(&mut self) -> io::Result<Vec<Event>> {
        const MAX_READ: u64 = 4 * 1024 * 1024;
        let mut file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let len = file.seek(SeekFrom::End(0))?;
        if len < self.offset {
            self.offset = 0;
        }
        if len == self.offset {
            return Ok(Vec::new());
        }
        file.seek(SeekFrom::Start(self.offset))?;
        let mut buf = Vec::new();
        file.take(MAX_READ.max(1)).read_to_end(&mut buf)?;
        let complete = match buf.iter().rposition(|&b| b == b'\n') {
            Some(i) => i + 1,
            None if buf.len() as u64 >= MAX_READ => {
                // One line longer than a whole read: not an event gc wrote; skip past it.
                self.offset += buf.len() as u64;
                return Ok(Vec::new());
            }
            None => return Ok(Vec::new()),
        };
        self.offset += complete as u64;
        Ok(buf[..complete]
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .filter_map(|l| serde_json::from_slice(l).ok())
            .collect())
    }
}

/// Follows a log as it grows: a [`Tail`] woken by file-system notifications (notify), with a
/// poll as a fallback, so new events show up at once without busy-waiting. Works before the
/// log (or `.gc/`) exists.
pub struct Follower {
    tail: Tail,
    city_dir: PathBuf,
    wake_tx: mpsc::Sender<()>,
    wake_rx: mpsc::Receiver<()>,
    watcher: Option<notify::RecommendedWatcher>,
    watching_state_dir: bool,
}

impl Follower {
    /// Follows the log of `city_dir` from byte `offset` (see [`Tail::new`]). If notifications
    /// cannot be set up, [`Follower::wait`] still works by polling.
    pub fn new(city_dir: &Path, offset: u64) -> Follower {
        let (wake_tx, wake_rx) = mpsc::channel();
        let mut follower = Follower {
            tail: Tail::new(city_dir, offset),
            city_dir: city_dir.to_path_buf(),
            wake_tx,
            wake_rx,
            watcher: None,
            watching_state_dir: false,
        };
        follower.watch();
        follower
    }

    /// Watches `.gc/` when it exists, else the city directory (to see `.gc/` appear).
    fn watch(&mut self) {
        use notify::Watcher as _;
        let state_dir = self.city_dir.join(".gc");
        let (dir, is_state_dir) =
            if state_dir.is_dir() { (state_dir, true) } else { (self.city_dir.clone(), false) };
        let tx = self.wake_tx.clone();
        let handler = move |res: notify::Result<notify::Event>| {
            let relevant = match res {
                Ok(event) => {
                    !matches!(event.kind, notify::EventKind::Access(_))
                        && (event.paths.is_empty()
                            || event.paths.iter().any(|p| {
                                p.file_name().is_some_and(|n| n == "events.jsonl" || n == ".gc")
                            }))
                }
                Err(_) => true,
            };
            if relevant {
                let _ = tx.send(());
            }
        };
        self.watcher = notify::recommended_watcher(handler)
            .and_then(|mut w| w.watch(&dir, notify::RecursiveMode::NonRecursive).map(|()| w))
            .ok();
        // A watcher that could not be set up (e.g. inotify limits) is not retried: polling
        // still sees every event.
        self.watching_state_dir = is_state_dir;
    }

    /// Waits until the log changes or `poll` has passed, then returns the events appended
    /// since the last call (possibly none). Blocks; never spins.
    pub fn wait(&mut self, poll: Duration) -> io::Result<Vec<Event>> {
        let new = self.tail.read_new()?;
        if !new.is_empty() {
            return Ok(new);
        }
        let _ = self.wake_rx.recv_timeout(poll);
        while self.wake_rx.try_recv().is_ok() {}
        if !self.watching_state_dir && self.city_dir.join(".gc").is_dir() {
            self.watch();
        }
        self.tail.read_new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(i: usize) -> NewEvent {
        Event::new("test.happened", "Tested", format!("{i}")).object(Kind::Agent, format!("a{i}"))
    }

    #[test]
    fn seq_increases_across_appends_and_concurrent_writers() {
        let dir = tempfile::tempdir().unwrap();
        let city = dir.path().to_path_buf();
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let city = city.clone();
                std::thread::spawn(move || {
                    for _ in 0..10 {
                        append(&city, vec![event(i)], "test").unwrap();
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let seqs: Vec<u64> = read_all(&city).unwrap().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=80).collect::<Vec<_>>());
    }

    #[test]
    fn events_are_stored_in_the_documented_shape() {
        let dir = tempfile::tempdir().unwrap();
        let stored = append(
            dir.path(),
            vec![
                Event::new("session.crashed", "ProcessExited", "boom")
                    .object(Kind::Agent, "worker")
                    .payload(serde_json::json!({"exitCode": 1})),
                Event::new("controller.started", "Started", "up"),
            ],
            "controller",
        )
        .unwrap();
        assert_eq!(stored.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
        let text = fs::read_to_string(log_path(dir.path())).unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let first = lines[0].as_object().unwrap();
        let keys: Vec<&str> = first.keys().map(String::as_str).collect();
        assert_eq!(keys, ["seq", "ts", "type", "object", "reason", "message", "actor", "payload"]);
        assert_eq!(first["object"], serde_json::json!({"kind": "Agent", "name": "worker"}));
        assert!(chrono::DateTime::parse_from_rfc3339(first["ts"].as_str().unwrap()).is_ok());
        assert!(first["ts"].as_str().unwrap().ends_with('Z'));
        // No object and no payload: both omitted.
        assert!(lines[1].get("object").is_none() && lines[1].get("payload").is_none());
        assert_eq!(read_all(dir.path()).unwrap(), stored);
    }

    #[test]
    fn logs_in_the_untyped_format_are_read_and_numbered_after() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_path(dir.path());
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(
            &path,
            "{\"seq\":1,\"time\":\"2026-01-01T00:00:00.000Z\",\"type\":\"resource.created\",\"object\":\"agent/worker\",\"message\":\"created\",\"actor\":\"gc apply\"}\n\
             {\"seq\":2,\"from\":\"a future gc\"}\n",
        )
        .unwrap();
        let old = &read_all(dir.path()).unwrap()[0];
        assert!(old.is_about(Kind::Agent, "worker"));
        assert_eq!(old.ts, "2026-01-01T00:00:00.000Z");
        let new = append(dir.path(), vec![event(1)], "test").unwrap();
        assert_eq!(new[0].seq, 3);
    }

    #[test]
    fn payloads_that_are_not_objects_are_wrapped() {
        assert!(Event::new("t", "R", "m").payload(Value::Null).payload.is_empty());
        assert_eq!(Event::new("t", "R", "m").payload(3).payload["value"], 3);
    }

    #[test]
    fn reads_from_the_end_see_the_last_events_across_blocks() {
        let dir = tempfile::tempdir().unwrap();
        // Long messages so the log spans several read blocks.
        let long = "x".repeat(1000);
        let batch: Vec<NewEvent> =
            (0..300).map(|i| Event::new("t.t", "R", format!("{i} {long}"))).collect();
        append(dir.path(), batch, "test").unwrap();
        let last = read_last(dir.path(), 150).unwrap();
        assert_eq!(last.iter().map(|e| e.seq).collect::<Vec<_>>(), (151..=300).collect::<Vec<_>>());
        assert_eq!(read_last(dir.path(), 1000).unwrap().len(), 300);
        assert!(read_last(dir.path(), 0).unwrap().is_empty());
        let since = read_since(dir.path(), 295).unwrap();
        assert_eq!(since.iter().map(|e| e.seq).collect::<Vec<_>>(), [296, 297, 298, 299, 300]);
        assert_eq!(read_since(dir.path(), 0).unwrap().len(), 300);
        assert!(read_since(dir.path(), 300).unwrap().is_empty());
    }

    #[test]
    fn a_missing_log_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_all(dir.path()).unwrap().is_empty());
        assert!(read_last(dir.path(), 5).unwrap().is_empty());
        assert!(read_since(dir.path(), 0).unwrap().is_empty());
        assert_eq!(scan_back(dir.path(), |_| ControlFlow::Continue(())).unwrap(), 0);
    }

    #[test]
    fn a_torn_last_line_is_not_read_and_is_closed_off_by_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        append(dir.path(), vec![event(1)], "test").unwrap();
        let path = log_path(dir.path());
        let complete = fs::metadata(&path).unwrap().len();
        OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"seq\":2,\"ts").unwrap();
        let end = scan_back(dir.path(), |_| ControlFlow::Continue(())).unwrap();
        assert_eq!(end, complete);
        let mut tail = Tail::new(dir.path(), 0);
        assert_eq!(tail.read_new().unwrap().len(), 1);
        assert_eq!(tail.offset(), complete);
        assert_eq!(read_last(dir.path(), 5).unwrap().len(), 1);
        append(dir.path(), vec![event(2)], "test").unwrap();
        let seqs: Vec<u64> = read_all(dir.path()).unwrap().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [1, 2]);
        assert_eq!(tail.read_new().unwrap().iter().map(|e| e.seq).collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn a_follower_sees_events_appended_later_even_before_the_log_exists() {
        let dir = tempfile::tempdir().unwrap();
        let mut follower = Follower::new(dir.path(), 0);
        assert!(follower.wait(Duration::from_millis(10)).unwrap().is_empty());
        let city = dir.path().to_path_buf();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            append(&city, vec![event(1)], "test").unwrap();
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        while seen.is_empty() && std::time::Instant::now() < deadline {
            seen = follower.wait(Duration::from_secs(1)).unwrap();
        }
        writer.join().unwrap();
        assert_eq!(seen.iter().map(|e| e.seq).collect::<Vec<_>>(), [1]);
    }
}
