//! Sessions a person stopped on purpose (`gc session stop`): the controller leaves them stopped
//! until `gc session start`. One marker file per session under `.gc/holds/`.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

fn dir(city_dir: &Path) -> PathBuf {
    city_dir.join(".gc").join("holds")
}

/// Records that `session` must stay stopped.
pub fn hold(city_dir: &Path, session: &str) -> io::Result<()> {
    let dir = dir(city_dir);
    std::fs::create_dir_all(&dir)?;
    let when = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    std::fs::write(dir.join(session), format!("{when}\n"))
}

/// Lets the controller run `session` again. Returns whether it was held.
pub fn release(city_dir: &Path, session: &str) -> io::Result<bool> {
    match std::fs::remove_file(dir(city_dir).join(session)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Every held session.
pub fn held(city_dir: &Path) -> io::Result<BTreeSet<String>> {
    let entries = match std::fs::read_dir(dir(city_dir)) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(e) => return Err(e),
    };
    Ok(entries.flatten().filter_map(|e| e.file_name().into_string().ok()).collect())
}
