//! Crash-safe file replacement: write a temporary file, fsync it, rename it over the target,
//! fsync the directory. A reader sees the old content or the new, never a mix.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use crate::failpoint;

/// Suffix of temporary files; readers skip them and writers remove stale ones.
pub const TEMP_SUFFIX: &str = ".tmp";

/// Replaces `path` with `bytes` atomically and durably.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("object");
    let temp = dir.join(format!(".{file_name}.{}{TEMP_SUFFIX}", std::process::id()));
    {
        let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(&temp)?;
        // Half the bytes, so a crash here leaves a torn temporary file for the test to find.
        let half = bytes.len() / 2;
        file.write_all(&bytes[..half])?;
        failpoint::hit("store.mid-temp-write");
        file.write_all(&bytes[half..])?;
        file.sync_all()?;
    }
    failpoint::hit("store.before-rename");
    fs::rename(&temp, path)?;
    failpoint::hit("store.after-rename");
    sync_dir(dir)
}

/// Opens (creating it and its directory) the lock file `path` and takes an exclusive lock on
/// it, waiting for other holders in this and other processes; released when the file drops.
pub fn lock_file(path: &Path) -> io::Result<File> {
    fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
    let file = OpenOptions::new().create(true).truncate(false).write(true).open(path)?;
    file.lock()?;
    Ok(file)
}

/// Removes `path` durably; a missing file is not an error.
pub fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => sync_dir(path.parent().unwrap_or(Path::new("."))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Makes a rename or removal in `dir` survive power loss.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
