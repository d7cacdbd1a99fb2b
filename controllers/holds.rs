//! Marks on sessions kept on disk, one file per session, so they outlive the controller:
//! - holds (`.gc/holds/`): a person stopped the session on purpose (`gc session stop`); the
//!   controller leaves it stopped until `gc session start`;
//! - idle marks (`.gc/state/idle/`): the controller stopped it after its `idleTimeout`; it is
//!   started again when work arrives;
//! - fresh marks (`.gc/state/fresh/`): a fresh conversation was asked for (`gc handoff`,
//!   `gc session reset --fresh`); the controller restarts the session fresh, once.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

/// A directory of per-session marker files.
#[derive(Clone, Debug)]
pub struct Marks {
    dir: PathBuf,
}

impl Marks {
    /// Sessions stopped by a person.
    pub fn holds(city_dir: &Path) -> Marks {
        Marks { dir: city_dir.join(".gc").join("holds") }
    }

    /// Sessions stopped for idleness.
    pub fn idle(city_dir: &Path) -> Marks {
        Marks { dir: city_dir.join(".gc").join("state").join("idle") }
    }

    /// Sessions whose next start begins a fresh conversation.
    pub fn fresh(city_dir: &Path) -> Marks {
        Marks { dir: city_dir.join(".gc").join("state").join("fresh") }
    }

    /// Marks `session` (a validated session name), recording when.
    pub fn set(&self, session: &str) -> io::Result<()> {
        crate::runtime::validate_name(session).map_err(io::Error::other)?;
        std::fs::create_dir_all(&self.dir)?;
        let when = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        std::fs::write(self.dir.join(session), format!("{when}\n"))
    }

    /// Removes the mark of `session`. Returns whether it was marked.
    pub fn clear(&self, session: &str) -> io::Result<bool> {
        crate::runtime::validate_name(session).map_err(io::Error::other)?;
        match std::fs::remove_file(self.dir.join(session)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every marked session.
    pub fn all(&self) -> io::Result<BTreeSet<String>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
            Err(e) => return Err(e),
        };
        Ok(entries.flatten().filter_map(|e| e.file_name().into_string().ok()).collect())
    }
}

/// Records that `session` must stay stopped.
pub fn hold(city_dir: &Path, session: &str) -> io::Result<()> {
    Marks::holds(city_dir).set(session)
}

/// Lets the controller run `session` again. Returns whether it was held.
pub fn release(city_dir: &Path, session: &str) -> io::Result<bool> {
    Marks::holds(city_dir).clear(session)
}

/// Every held session.
pub fn held(city_dir: &Path) -> io::Result<BTreeSet<String>> {
    Marks::holds(city_dir).all()
}
