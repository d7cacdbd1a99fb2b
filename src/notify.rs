//! Telling a running controller that the desired state changed (`poke` on its unix socket).

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The controller's socket in a city's state directory.
pub fn socket_path(city_dir: &Path) -> PathBuf {
    city_dir.join(".gc").join("controller.sock")
}

/// Sends `poke` to the city's controller. Returns whether one was listening; no controller
/// is not an error (the next `gc start` reads the store anyway).
pub fn poke(city_dir: &Path) -> bool {
    let Ok(mut stream) = UnixStream::connect(socket_path(city_dir)) else { return false };
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    stream.write_all(b"poke\n").is_ok()
}

/// Sends one command (`ping`, `poke`, `reload`, `stop`) to the city's controller and returns
/// its one-line answer; `None` when no controller answers within `timeout`.
pub fn request(city_dir: &Path, command: &str, timeout: Duration) -> Option<String> {
    use std::io::{BufRead, BufReader};
    let mut stream = UnixStream::connect(socket_path(city_dir)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.write_all(format!("{command}\n").as_bytes()).ok()?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).ok()?;
    let line = line.trim().to_owned();
    (!line.is_empty()).then_some(line)
}
