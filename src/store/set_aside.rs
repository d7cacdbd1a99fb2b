//! Runtime state files that do not read (crash ledger, order state, nudge queues) are set
//! aside rather than failing every command that touches them: the file moves to
//! `<file>.damaged` (kept for a person to look at), a `state.damaged` event says so, and the
//! state starts afresh. Only callers holding the file's lock set a file aside, so a good file
//! written by someone else in between is never moved away.

use std::io;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// What reading a state file found.
#[derive(Debug, PartialEq)]
pub enum Recovered<T> {
    /// The file read.
    Found(T),
    /// There is no file.
    Missing,
    /// The file did not read and was set aside (to the path given); start afresh.
    SetAside(PathBuf),
}

impl<T> Recovered<T> {
    /// The value found, if any.
    pub fn found(self) -> Option<T> {
        match self {
            Recovered::Found(value) => Some(value),
            Recovered::Missing | Recovered::SetAside(_) => None,
        }
    }
}

/// Where a damaged `path` is kept.
pub fn aside_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".damaged");
    path.with_file_name(name)
}

/// Reads the JSON state file at `path` (`what` says what it holds, for the event). The caller
/// holds the file's lock. A file that does not parse is set aside.
pub fn read_json<T: DeserializeOwned>(path: &Path, what: &str) -> io::Result<Recovered<T>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Recovered::Missing),
        Err(e) => return Err(e),
    };
    match serde_json::from_slice(&bytes) {
        Ok(value) => Ok(Recovered::Found(value)),
        Err(e) => set_aside(path, what, &e.to_string()).map(Recovered::SetAside),
    }
}

/// Moves the damaged file at `path` aside and records a `state.damaged` event in the city the
/// file belongs to (found from its `.gc` directory). Returns where it went.
pub fn set_aside(path: &Path, what: &str, why: &str) -> io::Result<PathBuf> {
    let aside = aside_path(path);
    std::fs::rename(path, &aside)?;
    let message = format!(
        "{what} {} did not read ({why}); kept as {} and started afresh",
        path.display(),
        aside.display()
    );
    tracing::warn!("{message}");
    if let Some(city_dir) = city_of(path) {
        let event = crate::events::Event::new("state.damaged", "Unreadable", message)
            .payload(serde_json::json!({"path": path, "keptAs": aside}));
        if let Err(e) = crate::events::append(city_dir, vec![event], "gc") {
            tracing::warn!("cannot record event: {e}");
        }
    }
    Ok(aside)
}

/// The city directory holding `path` (the parent of its nearest `.gc` ancestor).
fn city_of(path: &Path) -> Option<&Path> {
    path.ancestors().find(|p| p.file_name().is_some_and(|n| n == ".gc"))?.parent()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_file_is_kept_aside_with_an_event_and_reads_as_fresh_state() {
        let city = tempfile::tempdir().unwrap();
        let dir = city.path().join(".gc/state/orders");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("patrol.json");
        std::fs::write(&path, "{torn").unwrap();
        let read: Recovered<serde_json::Value> = read_json(&path, "order state").unwrap();
        let aside = dir.join("patrol.json.damaged");
        assert_eq!(read, Recovered::SetAside(aside.clone()));
        assert_eq!(std::fs::read_to_string(&aside).unwrap(), "{torn", "the bytes are kept");
        assert!(!path.exists());
        let events = crate::events::read_all(city.path()).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_type, "state.damaged");
        assert!(events[0].message.contains("patrol.json.damaged"), "{}", events[0].message);
        // Now absent: the state starts afresh.
        let again: Recovered<serde_json::Value> = read_json(&path, "order state").unwrap();
        assert_eq!(again, Recovered::Missing);
    }

    #[test]
    fn a_good_file_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.json");
        std::fs::write(&path, "[1,2]").unwrap();
        let read: Recovered<Vec<u32>> = read_json(&path, "queue").unwrap();
        assert_eq!(read, Recovered::Found(vec![1, 2]));
    }
}
