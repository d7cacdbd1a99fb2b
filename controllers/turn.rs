//! Whether an agent is in a turn, as its CLI's own hooks say: the prompt hook marks the turn
//! begun, the Stop hook marks it ended (or begun again when it sends the agent on), the
//! SessionStart hook marks a new session idle. Kept in `.gc/state/turn/<session>`.
//!
//! The screen alone cannot say it: Claude Code hides its busy marker while text sits on its
//! input line, and a CLI running a hook shows its prompt with no marker at all. Text typed in
//! such a moment is queued by the CLI and merged into one turn with whatever follows. So a
//! nudge waits for both: an idle screen and, when the hooks report, an ended turn.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A turn mark older than this no longer holds nudges back: a turn interrupted by a person
/// (Esc) may never run the Stop hook.
pub const STALE: Duration = Duration::from_secs(600);

/// What the hooks last said about a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Turn {
    /// Its CLI has no hooks gc installed (or none has run yet).
    Unknown,
    /// The last turn ended.
    Ended,
    /// A turn began at `since`.
    Running {
        /// When the hook said so.
        since: SystemTime,
    },
}

impl Turn {
    /// Whether it keeps a nudge from being typed at `now`.
    pub fn holds_nudges(self, now: SystemTime) -> bool {
        match self {
            Turn::Running { since } => now.duration_since(since).unwrap_or_default() < STALE,
            Turn::Unknown | Turn::Ended => false,
        }
    }
}

fn path(city_dir: &Path, session: &str) -> PathBuf {
    city_dir.join(".gc").join("state").join("turn").join(session)
}

/// Records that `session`'s turn began (`running`) or ended.
pub fn mark(city_dir: &Path, session: &str, running: bool) -> io::Result<()> {
    crate::runtime::validate_name(session).map_err(io::Error::other)?;
    let file = path(city_dir, session);
    std::fs::create_dir_all(file.parent().unwrap_or(city_dir))?;
    std::fs::write(file, if running { "running\n" } else { "ended\n" })
}

/// What the hooks last said about `session`.
pub fn read(city_dir: &Path, session: &str) -> Turn {
    if crate::runtime::validate_name(session).is_err() {
        return Turn::Unknown;
    }
    let file = path(city_dir, session);
    let (Ok(text), Ok(meta)) = (std::fs::read_to_string(&file), std::fs::metadata(&file)) else {
        return Turn::Unknown;
    };
    match text.trim() {
        "running" => Turn::Running { since: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH) },
        _ => Turn::Ended,
    }
}

/// Whether a hook reported on `session` at `since` or later (a turn began, or began and
/// already ended).
pub fn reported_since(city_dir: &Path, session: &str, since: SystemTime) -> bool {
    if crate::runtime::validate_name(session).is_err() {
        return false;
    }
    std::fs::metadata(path(city_dir, session))
        .and_then(|m| m.modified())
        .is_ok_and(|modified| modified >= since)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hooks_mark_turns_and_an_old_mark_holds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path(), "gc-town-solo"), Turn::Unknown);
        let before = SystemTime::now() - Duration::from_secs(1);
        mark(dir.path(), "gc-town-solo", true).unwrap();
        assert!(reported_since(dir.path(), "gc-town-solo", before));
        assert!(!reported_since(dir.path(), "gc-town-solo", SystemTime::now() + STALE));
        let running = read(dir.path(), "gc-town-solo");
        assert!(running.holds_nudges(SystemTime::now()));
        assert!(!running.holds_nudges(SystemTime::now() + STALE));
        mark(dir.path(), "gc-town-solo", false).unwrap();
        assert_eq!(read(dir.path(), "gc-town-solo"), Turn::Ended);
        assert!(mark(dir.path(), "../x", true).is_err());
    }
}
