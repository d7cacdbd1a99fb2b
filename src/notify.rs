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
