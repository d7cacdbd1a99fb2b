//! An in-memory runtime for controller unit tests: nothing runs, every call is recorded, and
//! tests decide what the world looks like — sessions that die ([`FakeRuntime::kill`]), output
//! ([`FakeRuntime::push_output`]), and failing starts ([`FakeRuntime::fail_next_start`]).

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use super::{
    Runtime, RuntimeError, SessionConfig, SessionInfo, last_lines, validate_meta_key, validate_name,
};

/// One call made to a [`FakeRuntime`], in the order made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// `start` of this session (recorded even when it failed).
    Start(String),
    /// `stop` of this session, with its grace period.
    Stop(String, Duration),
    /// `nudge` of this session with this text.
    Nudge(String, String),
    /// `attach` to this session.
    Attach(String),
    /// `set_meta(session, key, value)`.
    SetMeta(String, String, String),
    /// `send_keys(session, key, times)`.
    Keys(String, crate::agentcli::screen::Key, usize),
}

/// A fake session.
#[derive(Clone, Debug)]
struct Session {
    config: SessionConfig,
    alive: bool,
    pid: u32,
    exit_status: Option<i32>,
    created: SystemTime,
    last_activity: SystemTime,
    attached: bool,
    output: String,
}

#[derive(Debug, Default)]
struct State {
    sessions: BTreeMap<String, Session>,
    calls: Vec<Call>,
    start_errors: BTreeMap<String, RuntimeError>,
    next_pid: u32,
}

/// The in-memory runtime. See the module documentation.
#[derive(Debug, Default)]
pub struct FakeRuntime {
    state: Mutex<State>,
}

impl FakeRuntime {
    /// An empty fake: no sessions, no calls.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock must not hide the state from the rest.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every mutating call made so far (start, stop, nudge, attach, set_meta), in order.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// Forgets the recorded calls (sessions stay).
    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    /// The config session `name` was last started with.
    pub fn config(&self, name: &str) -> Option<SessionConfig> {
        self.lock().sessions.get(name).map(|s| s.config.clone())
    }

    /// Makes the program of session `name` exit with `exit_status`, as a crash would; the
    /// session stays, dead. Returns whether there was such a session.
    pub fn kill(&self, name: &str, exit_status: i32) -> bool {
        let mut state = self.lock();
        let Some(session) = state.sessions.get_mut(name) else { return false };
        session.alive = false;
        session.exit_status = Some(exit_status);
        true
    }

    /// Appends `text` to the output of session `name` (what peek and wait_ready see) and
    /// bumps its last activity. Returns whether there was such a session.
    pub fn push_output(&self, name: &str, text: &str) -> bool {
        let mut state = self.lock();
        let Some(session) = state.sessions.get_mut(name) else { return false };
        session.output.push_str(text);
        session.last_activity = SystemTime::now();
        true
    }

    /// Marks session `name` as having a person's terminal attached (or not). Returns whether
    /// there was such a session.
    pub fn set_attached(&self, name: &str, attached: bool) -> bool {
        let mut state = self.lock();
        let Some(session) = state.sessions.get_mut(name) else { return false };
        session.attached = attached;
        true
    }

    /// Sets when session `name` was created and last showed output, as a fake clock sees it.
    /// Returns whether there was such a session.
    pub fn set_times(&self, name: &str, created: SystemTime, last_activity: SystemTime) -> bool {
        let mut state = self.lock();
        let Some(session) = state.sessions.get_mut(name) else { return false };
        session.created = created;
        session.last_activity = last_activity;
        true
    }

    /// Makes the next start of session `name` fail with `error` (once).
    pub fn fail_next_start(&self, name: &str, error: RuntimeError) {
        self.lock().start_errors.insert(name.to_owned(), error);
    }

    fn with_session<T>(
        &self,
        name: &str,
        f: impl FnOnce(&mut Session) -> Result<T, RuntimeError>,
    ) -> Result<T, RuntimeError> {
        validate_name(name)?;
        let mut state = self.lock();
        let session =
            state.sessions.get_mut(name).ok_or_else(|| RuntimeError::NotFound(name.to_owned()))?;
        f(session)
    }
}

impl Runtime for FakeRuntime {
    fn start(&self, config: &SessionConfig) -> Result<(), RuntimeError> {
        let mut state = self.lock();
        state.calls.push(Call::Start(config.name.clone()));
        // Real runtimes check the config before anything else; so does the fake, so that
        // controller tests see the same errors.
        validate_name(&config.name)?;
        for key in config.meta.keys() {
            validate_meta_key(key)?;
        }
        if config.argv.is_empty() {
            return Err(RuntimeError::InvalidConfig("argv is empty: no program to run".into()));
        }
        if let Some(error) = state.start_errors.remove(&config.name) {
            return Err(error);
        }
        if state.sessions.get(&config.name).is_some_and(|s| s.alive) {
            return Err(RuntimeError::Exists(config.name.clone()));
        }
        state.next_pid += 1;
        let now = SystemTime::now();
        let session = Session {
            config: config.clone(),
            alive: true,
            pid: 10_000 + state.next_pid,
            exit_status: None,
            created: now,
            last_activity: now,
            attached: false,
            output: String::new(),
        };
        state.sessions.insert(config.name.clone(), session);
        Ok(())
    }

    fn stop(&self, name: &str, grace: Duration) -> Result<(), RuntimeError> {
        validate_name(name)?;
        let mut state = self.lock();
        state.calls.push(Call::Stop(name.to_owned(), grace));
        state.sessions.remove(name);
        Ok(())
    }

    fn is_running(&self, name: &str) -> Result<bool, RuntimeError> {
        validate_name(name)?;
        Ok(self.lock().sessions.get(name).is_some_and(|s| s.alive))
    }

    fn list(&self, prefix: &str) -> Result<Vec<SessionInfo>, RuntimeError> {
        let state = self.lock();
        Ok(state
            .sessions
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .map(|(name, s)| SessionInfo {
                name: name.clone(),
                alive: s.alive,
                pid: Some(s.pid),
                exit_status: if s.alive { None } else { s.exit_status },
                created: Some(s.created),
                last_activity: Some(s.last_activity),
                attached: s.attached,
                meta: s.config.meta.clone(),
            })
            .collect())
    }

    fn peek(&self, name: &str, lines: usize) -> Result<String, RuntimeError> {
        self.with_session(name, |s| Ok(last_lines(&s.output, lines)))
    }

    fn nudge(&self, name: &str, text: &str) -> Result<(), RuntimeError> {
        self.with_session(name, |s| {
            if s.alive { Ok(()) } else { Err(RuntimeError::NotRunning(name.to_owned())) }
        })?;
        self.lock().calls.push(Call::Nudge(name.to_owned(), text.to_owned()));
        Ok(())
    }

    fn send_keys(
        &self,
        name: &str,
        key: crate::agentcli::screen::Key,
        times: usize,
    ) -> Result<(), RuntimeError> {
        self.with_session(name, |s| {
            if s.alive { Ok(()) } else { Err(RuntimeError::NotRunning(name.to_owned())) }
        })?;
        self.lock().calls.push(Call::Keys(name.to_owned(), key, times));
        Ok(())
    }

    fn attach(&self, name: &str) -> Result<(), RuntimeError> {
        self.with_session(name, |_| Ok(()))?;
        self.lock().calls.push(Call::Attach(name.to_owned()));
        Ok(())
    }

    fn set_meta(&self, name: &str, key: &str, value: &str) -> Result<(), RuntimeError> {
        validate_meta_key(key)?;
        self.with_session(name, |s| {
            s.config.meta.insert(key.to_owned(), value.to_owned());
            Ok(())
        })?;
        self.lock().calls.push(Call::SetMeta(name.to_owned(), key.to_owned(), value.to_owned()));
        Ok(())
    }

    fn get_meta(&self, name: &str, key: &str) -> Result<Option<String>, RuntimeError> {
        validate_meta_key(key)?;
        self.with_session(name, |s| Ok(s.config.meta.get(key).cloned()))
    }

    fn last_activity(&self, name: &str) -> Result<Option<SystemTime>, RuntimeError> {
        self.with_session(name, |s| Ok(Some(s.last_activity)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(name: &str) -> SessionConfig {
        SessionConfig {
            name: name.to_owned(),
            work_dir: std::env::temp_dir(),
            argv: vec!["agent".to_owned()],
            ..SessionConfig::default()
        }
    }

    #[test]
    fn killed_sessions_are_dead_and_replaceable() {
        let fake = FakeRuntime::new();
        fake.start(&config("a")).unwrap();
        assert!(matches!(fake.start(&config("a")), Err(RuntimeError::Exists(_))));
        assert!(fake.kill("a", 3));
        let info = &fake.list("").unwrap()[0];
        assert_eq!((info.alive, info.exit_status), (false, Some(3)));
        fake.start(&config("a")).unwrap();
        assert!(fake.is_running("a").unwrap());
    }

    #[test]
    fn injected_start_errors_fire_once_and_calls_are_recorded() {
        let fake = FakeRuntime::new();
        fake.fail_next_start("a", RuntimeError::Unsupported("boom"));
        assert!(fake.start(&config("a")).is_err());
        fake.start(&config("a")).unwrap();
        fake.nudge("a", "hi").unwrap();
        fake.stop("a", Duration::ZERO).unwrap();
        assert_eq!(
            fake.calls(),
            [
                Call::Start("a".into()),
                Call::Start("a".into()),
                Call::Nudge("a".into(), "hi".into()),
                Call::Stop("a".into(), Duration::ZERO),
            ]
        );
    }

    #[test]
    fn wait_ready_sees_pushed_output() {
        let fake = FakeRuntime::new();
        fake.start(&config("a")).unwrap();
        fake.push_output("a", "loading\n  > ready\n");
        let ready = super::super::Readiness::PromptPrefix(vec![">".into()]);
        assert!(fake.wait_ready("a", &ready, Duration::from_secs(1)).unwrap());
    }
}
