//! Who may do what on the dashboard: a pure decision over what a request presents, and the
//! token file it is checked against.
//!
//! On loopback, reading needs nothing (anyone who can reach it is on this machine). Every
//! action needs the token, and also the [`ACTION_HEADER`]: a page on another site can make a
//! browser send a simple cross-site POST, but not one with a custom header. Listening beyond
//! loopback, every request needs the token.

use std::io;
use std::path::{Path, PathBuf};

/// The header every action must carry (any value): the CSRF guard.
pub const ACTION_HEADER: &str = "x-gc-action";

/// What a request wants to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read the city.
    Read,
    /// Change something (nudge, stop, close, …).
    Act,
}

/// Why a request is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denied {
    /// No token, or the wrong one (HTTP 401).
    Token,
    /// An action without [`ACTION_HEADER`] (HTTP 403).
    ActionHeader,
}

impl Denied {
    /// What the client is told.
    pub fn message(self) -> &'static str {
        match self {
            Denied::Token => {
                "a valid token is needed (the one `gc dashboard` printed, as `Authorization: \
                 Bearer TOKEN` or `?token=TOKEN`)"
            }
            Denied::ActionHeader => "actions need the X-Gc-Action header",
        }
    }
}

/// Whether a request may go ahead: `loopback` says whether the dashboard listens on loopback
/// only, `presented` is the token the request carries, `action_header` whether it carries
/// [`ACTION_HEADER`].
pub fn authorize(
    access: Access,
    loopback: bool,
    token: &str,
    presented: Option<&str>,
    action_header: bool,
) -> Result<(), Denied> {
    let needs_token = access == Access::Act || !loopback;
    if needs_token && !presented.is_some_and(|p| same(p.as_bytes(), token.as_bytes())) {
        return Err(Denied::Token);
    }
    if access == Access::Act && !action_header {
        return Err(Denied::ActionHeader);
    }
    Ok(())
}

/// Whether `host` (a request's `Host` header) names this machine's loopback. On loopback the
/// dashboard serves reads without a token, so a page elsewhere must not reach it by pointing
/// its own name at 127.0.0.1 (DNS rebinding): its requests carry that name, not these.
pub fn is_loopback_host(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !name.ends_with(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Compares in time independent of where the inputs differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The city's dashboard token file.
pub fn token_path(city_dir: &Path) -> PathBuf {
    city_dir.join(".gc").join("dashboard.token")
}

/// The city's dashboard token: read from `.gc/dashboard.token`, or generated into it (mode
/// 0600, readable by its owner only) when there is none. The token stays the same across
/// restarts so open pages keep working; delete the file to make a new one.
pub fn load_or_create_token(city_dir: &Path) -> io::Result<String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = token_path(city_dir);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let token = text.trim();
        if token.len() >= 32 {
            return Ok(token.to_owned());
        }
    }
    std::fs::create_dir_all(path.parent().unwrap_or(city_dir))?;
    let token = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let tmp = path.with_extension("token.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
    file.write_all(format!("{token}\n").as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn loopback_reads_freely_and_acts_only_with_token_and_header() {
        assert_eq!(authorize(Access::Read, true, T, None, false), Ok(()));
        assert_eq!(authorize(Access::Act, true, T, None, true), Err(Denied::Token));
        assert_eq!(authorize(Access::Act, true, T, Some("nope"), true), Err(Denied::Token));
        assert_eq!(authorize(Access::Act, true, T, Some(T), false), Err(Denied::ActionHeader));
        assert_eq!(authorize(Access::Act, true, T, Some(T), true), Ok(()));
    }

    #[test]
    fn beyond_loopback_every_request_needs_the_token() {
        assert_eq!(authorize(Access::Read, false, T, None, false), Err(Denied::Token));
        assert_eq!(authorize(Access::Read, false, T, Some(&T[1..]), false), Err(Denied::Token));
        assert_eq!(authorize(Access::Read, false, T, Some(T), false), Ok(()));
        assert_eq!(authorize(Access::Act, false, T, Some(T), true), Ok(()));
    }

    #[test]
    fn only_loopback_names_are_loopback_hosts() {
        for host in ["127.0.0.1:7070", "localhost:7070", "LOCALHOST", "[::1]:7070", "127.0.0.2"] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in ["evil.example:7070", "10.0.0.1:7070", "127.0.0.1.evil.example", "", "[::2]:1"]
        {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn the_token_is_made_once_owner_only_and_kept() {
        use std::os::unix::fs::PermissionsExt;
        let city = tempfile::tempdir().unwrap();
        let token = load_or_create_token(city.path()).unwrap();
        assert_eq!(token.len(), 64);
        let mode = std::fs::metadata(token_path(city.path())).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(load_or_create_token(city.path()).unwrap(), token);
    }
}
