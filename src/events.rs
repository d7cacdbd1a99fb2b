//! The city's append-only event log, `.gc/events.jsonl`: one JSON object per line with a `seq`
//! that strictly increases across every process writing to it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Position in the log, from 1, strictly increasing.
    pub seq: u64,
    /// When it happened (RFC 3339, UTC).
    pub time: String,
    /// Dotted type, e.g. `resource.configured`, `session.started`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The object it is about, `kind/name`.
    pub object: String,
    /// What happened, for people.
    pub message: String,
    /// Who caused it (`gc apply`, a controller, an agent).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub actor: String,
}

/// The log of the city in `city_dir`.
pub fn log_path(city_dir: &Path) -> PathBuf {
    city_dir.join(".gc").join("events.jsonl")
}

/// Appends events, numbering them after the last one in the log. Writers are serialised by an
/// exclusive lock on the log file, so numbers never repeat across processes.
pub fn append(
    city_dir: &Path,
    events: Vec<(String, String, String)>,
    actor: &str,
) -> io::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let path = log_path(city_dir);
    fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
    let mut file = OpenOptions::new().create(true).read(true).append(true).open(&path)?;
    file.lock()?;
    let first = last_seq(&mut file)? + 1;
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut buf = Vec::new();
    for (seq, (event_type, object, message)) in (first..).zip(events) {
        let event =
            Event { seq, time: time.clone(), event_type, object, message, actor: actor.to_owned() };
        serde_json::to_writer(&mut buf, &event).expect("events serialise");
        buf.push(b'\n');
    }
    file.write_all(&buf)?;
    file.sync_data()
}

/// The `seq` of the last complete line (0 for an empty log).
fn last_seq(file: &mut File) -> io::Result<u64> {
    let len = file.seek(SeekFrom::End(0))?;
    let tail_start = len.saturating_sub(64 * 1024);
    file.seek(SeekFrom::Start(tail_start))?;
    let mut last = 0;
    for line in BufReader::new(&mut *file).lines() {
        if let Ok(event) = serde_json::from_str::<Event>(&line?) {
            last = event.seq;
        }
    }
    Ok(last)
}

/// Every event in the log (lines that do not parse, such as a torn last line, are skipped).
pub fn read_all(city_dir: &Path) -> io::Result<Vec<Event>> {
    let file = match File::open(log_path(city_dir)) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for line in BufReader::new(file).lines() {
        if let Ok(event) = serde_json::from_str(&line?) {
            out.push(event);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_increases_across_appends_and_concurrent_writers() {
        let dir = tempfile::tempdir().unwrap();
        let city = dir.path().to_path_buf();
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let city = city.clone();
                std::thread::spawn(move || {
                    for j in 0..10 {
                        let e = ("t".to_owned(), format!("agent/a{i}"), format!("{j}"));
                        append(&city, vec![e], "test").unwrap();
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let seqs: Vec<u64> = read_all(&city).unwrap().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=80).collect::<Vec<_>>());
    }
}
