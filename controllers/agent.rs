//! The Agent planner: an agent's desired sessions against the sessions observed, as actions
//! with reasons and the status to record. Pure: the executor and `gc diff` share it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::launch::{Launch, meta};
use crate::api::agent::OnDrift;
use crate::runtime::SessionInfo;

/// Everything the planner decides from.
#[derive(Clone, Debug)]
pub struct AgentInput<'a> {
    /// The agent's name.
    pub name: &'a str,
    /// Its generation (0 when the agent is deleted).
    pub generation: u64,
    /// Why it has no sessions on purpose: `Suspended`, `CitySuspended`, `Deleted`; else none.
    pub off: Option<&'static str>,
    /// What it should run, or why that cannot be worked out.
    pub launches: Result<Vec<Launch>, String>,
    /// Its drift policy.
    pub on_drift: OnDrift,
    /// The sessions that belong to it (by name or by their `agent` metadata).
    pub observed: Vec<&'a SessionInfo>,
    /// Sessions the last status recorded as up: one of them missing now was killed, which
    /// counts as a crash, not a first start.
    pub was_up: &'a BTreeSet<String>,
    /// Sessions a person stopped with `gc session stop` (not started until `gc session start`).
    pub held: &'a BTreeSet<String>,
    /// `Err(dependency)` while an agent it depends on is not ready.
    pub dependencies: Result<(), String>,
    /// `Err` while its rig cannot take sessions (path missing, store not initialised, not a
    /// git repository for worktrees): nothing starts, running sessions are left alone.
    pub rig: Result<(), RigBlock>,
    /// Recent restarts per session, oldest first.
    pub restarts: &'a BTreeMap<String, Vec<SystemTime>>,
    /// Crash-loop backoff: first and largest delay, and the window restarts are counted in.
    pub backoff: Backoff,
    /// Now.
    pub now: SystemTime,
}

/// Why an agent's rig cannot take sessions now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RigBlock {
    /// A CamelCase reason for the agent's conditions (`RigPathMissing`, …).
    pub reason: &'static str,
    /// What is wrong, naming the rig and its path.
    pub message: String,
}

/// Restart backoff after crashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the second restart within the window (the first is immediate).
    pub initial: Duration,
    /// Largest delay.
    pub max: Duration,
    /// Restarts older than this are forgotten.
    pub window: Duration,
}

impl Backoff {
    /// The delay before the next restart after `count` recent restarts.
    pub fn delay(&self, count: usize) -> Duration {
        if count == 0 {
            return Duration::ZERO;
        }
        let factor = 1u32.checked_shl(count.saturating_sub(1).min(20) as u32).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// Why a session starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartReason {
    /// It is not running.
    NotRunning,
    /// Its program exited (the pane is dead); the exit status when known.
    Crashed(Option<i32>),
    /// It was restarted because its launch no longer matches the spec.
    Drifted,
}

/// Why a session stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The agent (or the City) is suspended or the agent was deleted; the word says which.
    Off(&'static str),
    /// A person stopped it with `gc session stop`.
    Held,
    /// The pool has fewer members now.
    ScaledDown,
    /// Its launch no longer matches the spec and the policy restarts it.
    Drifted,
}

impl StopReason {
    /// A CamelCase reason for events and conditions.
    pub fn word(self) -> &'static str {
        match self {
            StopReason::Off(word) => word,
            StopReason::Held => "StoppedByUser",
            StopReason::ScaledDown => "ScaledDown",
            StopReason::Drifted => "ConfigDrift",
        }
    }
}

/// One thing to do.
#[derive(Clone, Debug, PartialEq)]
pub enum SessionAction {
    /// Start (or replace a dead) session.
    Start {
        /// What to start.
        launch: Box<Launch>,
        /// Why.
        reason: StartReason,
    },
    /// Stop a running session, fenced by the instance token it was observed with.
    Stop {
        /// The session.
        session: String,
        /// Its `instance` metadata when observed; the stop is skipped if it changed since.
        instance: Option<String>,
        /// Why.
        reason: StopReason,
    },
    /// Clear away a dead session nobody wants any more (its last output was read).
    Remove {
        /// The session.
        session: String,
    },
    /// Wait for a running session to become ready, then mark it so.
    AwaitReady {
        /// The session's launch (for its readiness rule).
        launch: Box<Launch>,
    },
}

impl SessionAction {
    /// One line for `gc diff` and logs: `start gc-sample-mayor (not running)`.
    pub fn describe(&self) -> String {
        match self {
            SessionAction::Start { launch, reason } => {
                let why = match reason {
                    StartReason::NotRunning => "not running".to_owned(),
                    StartReason::Crashed(Some(code)) => format!("exited with status {code}"),
                    StartReason::Crashed(None) => "it died".to_owned(),
                    StartReason::Drifted => "its spec changed".to_owned(),
                };
                format!("start {} ({why})", launch.session)
            }
            SessionAction::Stop { session, reason, .. } => {
                format!("stop {session} ({})", reason.word())
            }
            SessionAction::Remove { session } => format!("remove dead session {session}"),
            SessionAction::AwaitReady { launch } => {
                format!("wait for {} to be ready", launch.session)
            }
        }
    }
}

/// The planner's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentPlan {
    /// What to do, in order.
    pub actions: Vec<SessionAction>,
    /// The status to record (`.gc/status/agents/<name>.json`).
    pub status: Value,
    /// Look again after this long even if nothing changes (backoff, waiting on dependencies).
    pub requeue_after: Option<Duration>,
}

/// Plans one agent.
pub fn plan(input: &AgentInput<'_>) -> AgentPlan {
    let mut actions = Vec::new();
    let mut requeue_after: Option<Duration> = None;
    let mut requeue = |d: Duration| {
        requeue_after = Some(requeue_after.map_or(d, |r| r.min(d)));
    };
    let observed: BTreeMap<&str, &SessionInfo> =
        input.observed.iter().map(|s| (s.name.as_str(), *s)).collect();
    let launches: &[Launch] = match (&input.launches, input.off) {
        (Ok(launches), None) => launches,
        _ => &[],
    };
    let wanted: BTreeSet<&str> = launches.iter().map(|l| l.session.as_str()).collect();
    let mut session_rows = Vec::new();
    let mut ready = 0usize;
    let mut blocked_by_backoff = false;

    // Sessions that should not run: stop the live ones, clear away the dead ones.
    for (name, info) in &observed {
        if wanted.contains(name) && !input.held.contains(*name) {
            continue;
        }
        let reason = if let Some(word) = input.off {
            StopReason::Off(word)
        } else if input.held.contains(*name) {
            StopReason::Held
        } else {
            StopReason::ScaledDown
        };
        if info.alive {
            actions.push(SessionAction::Stop {
                session: (*name).to_owned(),
                instance: info.meta.get(meta::INSTANCE).cloned(),
                reason,
            });
        } else {
            actions.push(SessionAction::Remove { session: (*name).to_owned() });
        }
    }

    for launch in launches {
        let name = launch.session.as_str();
        let info = observed.get(name).copied();
        let recent: Vec<&SystemTime> = input
            .restarts
            .get(name)
            .map(|times| {
                times
                    .iter()
                    .filter(|t| {
                        input.now.duration_since(**t).unwrap_or_default() < input.backoff.window
                    })
                    .collect()
            })
            .unwrap_or_default();
        let state;
        if input.held.contains(name) {
            state = "held";
        } else {
            match info {
                Some(info) if info.alive => {
                    let drifted = info
                        .meta
                        .get(meta::FINGERPRINT)
                        .is_some_and(|fingerprint| *fingerprint != launch.fingerprint);
                    let is_ready = info.meta.get(meta::READY).is_some_and(|v| v == "1");
                    if drifted && input.on_drift == OnDrift::Immediate {
                        actions.push(SessionAction::Stop {
                            session: name.to_owned(),
                            instance: info.meta.get(meta::INSTANCE).cloned(),
                            reason: StopReason::Drifted,
                        });
                        actions.push(SessionAction::Start {
                            launch: Box::new(launch.clone()),
                            reason: StartReason::Drifted,
                        });
                        state = "restarting";
                    } else if is_ready {
                        ready += 1;
                        state = if drifted { "drifted" } else { "running" };
                    } else {
                        actions
                            .push(SessionAction::AwaitReady { launch: Box::new(launch.clone()) });
                        state = "starting";
                    }
                }
                _ => {
                    let reason = match info {
                        Some(dead) => StartReason::Crashed(dead.exit_status),
                        None if input.was_up.contains(name) => StartReason::Crashed(None),
                        None => StartReason::NotRunning,
                    };
                    let wait = input.backoff.delay(recent.len());
                    let since_last = recent.last().map_or(Duration::MAX, |t| {
                        input.now.duration_since(**t).unwrap_or_default()
                    });
                    if input.rig.is_err() {
                        // The rig may be fixed without any applied change (a clone finishing,
                        // a directory created): look again soon.
                        requeue(Duration::from_secs(2));
                        state = "blocked";
                    } else if input.dependencies.is_err() {
                        requeue(Duration::from_secs(1));
                        state = "waiting";
                    } else if since_last < wait {
                        requeue(wait - since_last);
                        blocked_by_backoff = true;
                        state = "backoff";
                    } else {
                        actions.push(SessionAction::Start {
                            launch: Box::new(launch.clone()),
                            reason,
                        });
                        state = "starting";
                    }
                }
            }
        }
        let mut row = json!({"name": name, "state": state, "restarts": recent.len()});
        if let Some(info) = info {
            if let Some(pid) = info.pid {
                row["pid"] = json!(pid);
            }
            if !info.alive {
                row["lastExit"] = json!(info.exit_status);
            }
        }
        session_rows.push(row);
    }

    let desired = launches.len();
    let (phase, ready_condition, reason, message) = match (&input.launches, input.off) {
        (_, Some(word)) if input.observed.iter().any(|s| s.alive) => {
            ("Stopping", "False", word, format!("{word}: stopping its sessions"))
        }
        (_, Some(word)) => ("Stopped", "False", word, format!("{word}: no sessions run")),
        (Err(e), None) => ("Degraded", "False", "LaunchError", e.clone()),
        (Ok(_), None) if input.rig.is_err() && ready < desired => {
            let block = input
                .rig
                .clone()
                .err()
                .unwrap_or(RigBlock { reason: "RigNotReady", message: String::new() });
            ("Blocked", "False", block.reason, block.message)
        }
        (Ok(_), None) if input.dependencies.is_err() && ready < desired => {
            let dep = input.dependencies.clone().err().unwrap_or_default();
            (
                "Waiting",
                "False",
                "WaitingForDependency",
                format!("waiting for agent {dep} to be ready"),
            )
        }
        (Ok(_), None) if blocked_by_backoff => {
            ("CrashLoop", "False", "BackOff", "restarting after crashes, with backoff".to_owned())
        }
        (Ok(_), None) if ready == desired => {
            ("Running", "True", "AllReady", format!("{ready}/{desired} sessions ready"))
        }
        (Ok(_), None) => {
            ("Starting", "False", "Starting", format!("{ready}/{desired} sessions ready"))
        }
    };
    let degraded = matches!(phase, "Degraded" | "CrashLoop" | "Blocked");
    let restarts: usize =
        launches.iter().map(|l| input.restarts.get(&l.session).map_or(0, Vec::len)).sum();
    let status = json!({
        "observedGeneration": input.generation,
        "phase": phase,
        "desiredSessions": desired,
        "readySessions": ready,
        "restarts": restarts,
        "sessions": session_rows,
        "conditions": [
            {"type": "Ready", "status": ready_condition, "reason": reason, "message": message},
            {"type": "Progressing", "status": if actions.is_empty() { "False" } else { "True" },
             "reason": if actions.is_empty() { "Settled" } else { "Reconciling" },
             "message": actions.iter().map(SessionAction::describe).collect::<Vec<_>>().join("; ")},
            {"type": "Degraded", "status": if degraded { "True" } else { "False" },
             "reason": reason, "message": if degraded { message.clone() } else { String::new() }},
        ],
    });
    AgentPlan { actions, status, requeue_after }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::api::provider::PromptMode;
    use crate::runtime::Readiness;

    fn launch(session: &str, fingerprint: &str) -> Launch {
        Launch {
            agent: "worker".into(),
            session: session.into(),
            index: 0,
            work_dir: PathBuf::from("/city"),
            worktree: None,
            program: vec!["agent-cli".into()],
            prompt: None,
            prompt_mode: PromptMode::Arg,
            prompt_flag: None,
            env: BTreeMap::new(),
            readiness: Readiness::None,
            fingerprint: fingerprint.into(),
        }
    }

    fn session(name: &str, alive: bool, fingerprint: &str, ready: bool) -> SessionInfo {
        let mut meta = BTreeMap::from([
            (meta::AGENT.to_owned(), "worker".to_owned()),
            (meta::FINGERPRINT.to_owned(), fingerprint.to_owned()),
            (meta::INSTANCE.to_owned(), format!("{name}-token")),
        ]);
        if ready {
            meta.insert(meta::READY.into(), "1".into());
        }
        SessionInfo {
            name: name.into(),
            alive,
            pid: alive.then_some(42),
            exit_status: (!alive).then_some(3),
            created: None,
            last_activity: None,
            meta,
        }
    }

    struct Case {
        launches: Vec<Launch>,
        observed: Vec<SessionInfo>,
        held: BTreeSet<String>,
        was_up: BTreeSet<String>,
        restarts: BTreeMap<String, Vec<SystemTime>>,
        off: Option<&'static str>,
        on_drift: OnDrift,
        dependencies: Result<(), String>,
        rig: Result<(), RigBlock>,
    }

    impl Case {
        fn new(launches: Vec<Launch>, observed: Vec<SessionInfo>) -> Case {
            Case {
                launches,
                observed,
                held: BTreeSet::new(),
                was_up: BTreeSet::new(),
                restarts: BTreeMap::new(),
                off: None,
                on_drift: OnDrift::Immediate,
                dependencies: Ok(()),
                rig: Ok(()),
            }
        }

        fn plan(&self) -> AgentPlan {
            plan(&AgentInput {
                name: "worker",
                generation: 4,
                off: self.off,
                launches: Ok(self.launches.clone()),
                on_drift: self.on_drift,
                observed: self.observed.iter().collect(),
                was_up: &self.was_up,
                held: &self.held,
                dependencies: self.dependencies.clone(),
                rig: self.rig.clone(),
                restarts: &self.restarts,
                backoff: Backoff {
                    initial: Duration::from_secs(1),
                    max: Duration::from_secs(60),
                    window: Duration::from_secs(3600),
                },
                now: SystemTime::UNIX_EPOCH + Duration::from_secs(10_000),
            })
        }
    }

    fn described(plan: &AgentPlan) -> Vec<String> {
        plan.actions.iter().map(SessionAction::describe).collect()
    }

    #[test]
    fn a_missing_session_starts_and_a_ready_one_is_left_alone() {
        let plan = Case::new(vec![launch("gc-c-worker", "f1")], vec![]).plan();
        assert_eq!(described(&plan), ["start gc-c-worker (not running)"]);
        assert_eq!(plan.status["phase"], "Starting");
        assert_eq!(plan.status["observedGeneration"], 4);

        let running = vec![session("gc-c-worker", true, "f1", true)];
        let plan = Case::new(vec![launch("gc-c-worker", "f1")], running).plan();
        assert!(plan.actions.is_empty(), "running twice changes nothing: {:?}", described(&plan));
        assert_eq!(plan.status["phase"], "Running");
        assert_eq!(plan.status["readySessions"], 1);
    }

    #[test]
    fn a_live_session_not_yet_ready_is_awaited_not_restarted() {
        let observed = vec![session("gc-c-worker", true, "f1", false)];
        let plan = Case::new(vec![launch("gc-c-worker", "f1")], observed).plan();
        assert_eq!(described(&plan), ["wait for gc-c-worker to be ready"]);
    }

    #[test]
    fn a_crashed_session_restarts_at_once_then_with_backoff() {
        let dead = vec![session("gc-c-worker", false, "f1", false)];
        let plan = Case::new(vec![launch("gc-c-worker", "f1")], dead.clone()).plan();
        assert_eq!(described(&plan), ["start gc-c-worker (exited with status 3)"]);
        // Up at the last look and gone now (its tmux session was killed): also a crash.
        let mut vanished = Case::new(vec![launch("gc-c-worker", "f1")], vec![]);
        vanished.was_up.insert("gc-c-worker".into());
        assert_eq!(described(&vanished.plan()), ["start gc-c-worker (it died)"]);

        let mut case = Case::new(vec![launch("gc-c-worker", "f1")], dead);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(10_000);
        // Two restarts in the window, the last 1s ago: the next waits 2s, so 1s more.
        case.restarts.insert(
            "gc-c-worker".into(),
            vec![now - Duration::from_secs(5), now - Duration::from_secs(1)],
        );
        let plan = case.plan();
        assert!(plan.actions.is_empty());
        assert_eq!(plan.requeue_after, Some(Duration::from_secs(1)));
        assert_eq!(plan.status["phase"], "CrashLoop");
        assert_eq!(plan.status["restarts"], 2);
    }

    #[test]
    fn suspended_agents_stop_and_are_not_started() {
        let observed = vec![
            session("gc-c-worker", true, "f1", true),
            session("gc-c-worker-2", false, "f1", false),
        ];
        let mut case = Case::new(vec![launch("gc-c-worker", "f1")], observed);
        case.off = Some("Suspended");
        let plan = case.plan();
        assert_eq!(
            described(&plan),
            ["stop gc-c-worker (Suspended)", "remove dead session gc-c-worker-2"]
        );
        // Not "Stopped" until nothing runs: the status is shown while the stop is under way.
        assert_eq!(plan.status["phase"], "Stopping");
        // The stop is fenced by the instance token it was planned against.
        assert!(
            matches!(&plan.actions[0], SessionAction::Stop { instance: Some(t), .. } if t == "gc-c-worker-token")
        );

        let mut case = Case::new(vec![launch("gc-c-worker", "f1")], vec![]);
        case.off = Some("Suspended");
        let plan = case.plan();
        assert!(plan.actions.is_empty(), "a stopped, suspended agent stays stopped");
        assert_eq!(plan.status["phase"], "Stopped");
    }

    #[test]
    fn a_held_session_is_stopped_and_never_resurrected() {
        let mut case = Case::new(
            vec![launch("gc-c-worker", "f1")],
            vec![session("gc-c-worker", true, "f1", true)],
        );
        case.held.insert("gc-c-worker".into());
        assert_eq!(described(&case.plan()), ["stop gc-c-worker (StoppedByUser)"]);
        case.observed.clear();
        let plan = case.plan();
        assert!(plan.actions.is_empty());
        assert_eq!(plan.status["sessions"][0]["state"], "held");
    }

    #[test]
    fn drift_restarts_only_as_the_policy_allows() {
        let observed = vec![session("gc-c-worker", true, "old", true)];
        let case = Case::new(vec![launch("gc-c-worker", "new")], observed.clone());
        assert_eq!(
            described(&case.plan()),
            ["stop gc-c-worker (ConfigDrift)", "start gc-c-worker (its spec changed)"]
        );
        let mut case = Case::new(vec![launch("gc-c-worker", "new")], observed);
        case.on_drift = OnDrift::WhenIdle;
        let plan = case.plan();
        assert!(plan.actions.is_empty());
        assert_eq!(plan.status["sessions"][0]["state"], "drifted");
        // A session started without a fingerprint (adopted) is never restarted for drift.
        let mut adopted = session("gc-c-worker", true, "x", true);
        adopted.meta.remove(meta::FINGERPRINT);
        assert!(
            Case::new(vec![launch("gc-c-worker", "new")], vec![adopted]).plan().actions.is_empty()
        );
    }

    #[test]
    fn pools_scale_down_and_dependencies_gate_starts() {
        let observed = vec![
            session("gc-c-worker-1", true, "f", true),
            session("gc-c-worker-2", true, "f", true),
        ];
        let plan = Case::new(vec![launch("gc-c-worker-1", "f")], observed).plan();
        assert_eq!(described(&plan), ["stop gc-c-worker-2 (ScaledDown)"]);

        let mut case = Case::new(vec![launch("gc-c-worker", "f")], vec![]);
        case.dependencies = Err("mayor".into());
        let plan = case.plan();
        assert!(plan.actions.is_empty());
        assert_eq!(plan.status["phase"], "Waiting");
        assert!(plan.requeue_after.is_some());
    }

    #[test]
    fn a_blocked_rig_keeps_new_sessions_from_starting_but_leaves_running_ones() {
        let block = RigBlock { reason: "RigPathMissing", message: "rig `demo`: gone".into() };
        let mut case = Case::new(vec![launch("gc-c-worker", "f")], vec![]);
        case.rig = Err(block.clone());
        let plan = case.plan();
        assert!(plan.actions.is_empty(), "{:?}", described(&plan));
        assert_eq!(plan.status["phase"], "Blocked");
        assert_eq!(plan.status["conditions"][0]["reason"], "RigPathMissing");
        assert_eq!(plan.status["conditions"][2]["status"], "True");
        assert!(plan.requeue_after.is_some(), "a rig fixed on disk is noticed without an apply");

        let mut case = Case::new(
            vec![launch("gc-c-worker", "f")],
            vec![session("gc-c-worker", true, "f", true)],
        );
        case.rig = Err(block);
        let plan = case.plan();
        assert!(plan.actions.is_empty(), "a running session is not stopped for its rig");
        assert_eq!(plan.status["phase"], "Running");
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let b = Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(5),
            window: Duration::ZERO,
        };
        let delays: Vec<u64> = (0..6).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(delays, [0, 1, 2, 4, 5, 5]);
        assert_eq!(b.delay(usize::MAX), Duration::from_secs(5));
    }
}
