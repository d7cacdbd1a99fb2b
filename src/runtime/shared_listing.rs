//! One listing of all sessions, shared by the many reconciles that want it at about the same
//! time.
//!
//! A city of N agents resyncs each agent now and then, and each resync observes its sessions.
//! Listing all sessions costs the runtime O(N) (tmux formats every pane), so N resyncs in a
//! burst cost O(N²) between the controller and the tmux server: at 200 agents that was most
//! of an idle city's CPU. [`SharedListing`] wraps the runtime, keeps the last full listing,
//! and hands it to [`SharedListing::list_shared`] callers for a short while, unless anything
//! changed a session since it was taken: every call through this wrapper that can change a
//! session (start, stop, keys, metadata) makes the kept listing stale, and so does
//! [`SharedListing::invalidate`] (the controller calls it when a session's program exits).
//! What other processes change (a hook marking a turn) shows up within the sharing window.
//!
//! Plain [`Runtime::list`] always asks the runtime; only `list_shared` shares, and only when
//! sharing was switched on ([`SharedListing::share_for`]); the controller does, one-shot
//! commands do not.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{Readiness, Runtime, RuntimeError, SessionConfig, SessionInfo};
use crate::kept::Kept;

/// A runtime that can share one full listing between callers; see the module documentation.
pub struct SharedListing {
    inner: Arc<dyn Runtime>,
    kept: Kept<Arc<Vec<SessionInfo>>>,
}

impl SharedListing {
    /// Wraps `inner`, not sharing until [`SharedListing::share_for`] says for how long.
    pub fn new(inner: Arc<dyn Runtime>) -> SharedListing {
        SharedListing { inner, kept: Kept::default() }
    }

    /// Shares a listing for up to `window` after it was asked for.
    pub fn share_for(&self, window: Duration) {
        self.kept.share_for(window);
    }

    /// Forgets the kept listing: something changed that this wrapper did not see.
    pub fn invalidate(&self) {
        self.kept.changed();
    }

    /// The sessions whose name starts with `prefix`, from a listing taken within the sharing
    /// window with nothing changed since, else from a new one (which is then kept).
    pub fn list_shared(&self, prefix: &str) -> Result<Vec<SessionInfo>, RuntimeError> {
        let all = self.kept.get_or_read(|| self.inner.list("").map(Arc::new))?;
        Ok(all.iter().filter(|s| s.name.starts_with(prefix)).cloned().collect())
    }

    /// Runs a call that can change a session, then makes the kept listing stale.
    fn changing<T>(&self, call: impl FnOnce() -> T) -> T {
        let result = call();
        self.invalidate();
        result
    }
}

impl Runtime for SharedListing {
    fn start(&self, config: &SessionConfig) -> Result<(), RuntimeError> {
        self.changing(|| self.inner.start(config))
    }

    fn stop(&self, name: &str, grace: Duration) -> Result<(), RuntimeError> {
        self.changing(|| self.inner.stop(name, grace))
    }

    fn is_running(&self, name: &str) -> Result<bool, RuntimeError> {
        self.inner.is_running(name)
    }

    fn list(&self, prefix: &str) -> Result<Vec<SessionInfo>, RuntimeError> {
        self.inner.list(prefix)
    }

    fn peek(&self, name: &str, lines: usize) -> Result<String, RuntimeError> {
        self.inner.peek(name, lines)
    }

    fn nudge(&self, name: &str, text: &str) -> Result<(), RuntimeError> {
        self.changing(|| self.inner.nudge(name, text))
    }

    fn type_text(&self, name: &str, text: &str) -> Result<(), RuntimeError> {
        self.changing(|| self.inner.type_text(name, text))
    }

    fn send_keys(
        &self,
        name: &str,
        key: crate::agentcli::screen::Key,
        times: usize,
    ) -> Result<(), RuntimeError> {
        self.changing(|| self.inner.send_keys(name, key, times))
    }

    fn screen(&self, name: &str) -> Result<String, RuntimeError> {
        self.inner.screen(name)
    }

    fn attach(&self, name: &str) -> Result<(), RuntimeError> {
        self.changing(|| self.inner.attach(name))
    }

    fn set_meta(&self, name: &str, key: &str, value: &str) -> Result<(), RuntimeError> {
        self.changing(|| self.inner.set_meta(name, key, value))
    }

    fn get_meta(&self, name: &str, key: &str) -> Result<Option<String>, RuntimeError> {
        self.inner.get_meta(name, key)
    }

    fn last_activity(&self, name: &str) -> Result<Option<SystemTime>, RuntimeError> {
        self.inner.last_activity(name)
    }

    fn look(&self, name: &str) -> Result<Option<(SessionInfo, String)>, RuntimeError> {
        self.inner.look(name)
    }

    fn edit_meta(
        &self,
        name: &str,
        known: Option<&BTreeMap<String, String>>,
        edit: &mut dyn FnMut(&mut BTreeMap<String, String>),
    ) -> Result<(), RuntimeError> {
        self.changing(|| self.inner.edit_meta(name, known, edit))
    }

    fn pids_are_local(&self) -> bool {
        self.inner.pids_are_local()
    }

    fn notify_changes(&self, changed: Arc<tokio::sync::Notify>) -> bool {
        self.inner.notify_changes(changed)
    }

    fn wait_ready(
        &self,
        name: &str,
        ready: &Readiness,
        timeout: Duration,
    ) -> Result<bool, RuntimeError> {
        self.inner.wait_ready(name, ready, timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::fake::FakeRuntime;

    fn config(name: &str) -> SessionConfig {
        SessionConfig {
            name: name.to_owned(),
            work_dir: std::env::temp_dir(),
            argv: vec!["agent".to_owned()],
            env: Default::default(),
            clean_env: false,
            meta: Default::default(),
            pod: None,
        }
    }

    #[test]
    fn a_shared_listing_is_reused_until_a_session_changes() {
        let fake = Arc::new(FakeRuntime::default());
        let shared = SharedListing::new(fake.clone());
        shared.share_for(Duration::from_secs(60));
        shared.start(&config("gc-a")).unwrap();
        assert_eq!(shared.list_shared("gc-").unwrap().len(), 1);
        // Started behind the wrapper's back: the kept listing is still handed out…
        fake.start(&config("gc-b")).unwrap();
        assert_eq!(shared.list_shared("gc-").unwrap().len(), 1);
        // …until something says the sessions changed.
        shared.invalidate();
        assert_eq!(shared.list_shared("gc-").unwrap().len(), 2);
        // A change through the wrapper is seen at once, and prefixes filter the kept listing.
        shared.start(&config("gc-c")).unwrap();
        let names: Vec<String> =
            shared.list_shared("gc-c").unwrap().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["gc-c"]);
        shared.stop("gc-c", Duration::ZERO).unwrap();
        assert!(shared.list_shared("gc-c").unwrap().is_empty());
    }

    #[test]
    fn without_a_sharing_window_every_listing_asks_the_runtime() {
        let fake = Arc::new(FakeRuntime::default());
        let shared = SharedListing::new(fake.clone());
        assert!(shared.list_shared("").unwrap().is_empty());
        fake.start(&config("gc-a")).unwrap();
        assert_eq!(shared.list_shared("").unwrap().len(), 1);
    }
}
