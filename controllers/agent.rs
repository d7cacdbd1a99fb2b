//! The Agent planner: an agent's desired sessions against the sessions observed, as actions
//! with reasons and the status to record. Pure: the executor and `gc diff` share it, so what
//! the diff announces is what the controller does.
//!
//! Rules, per session the agent should run:
//! - missing → start, unless held (`gc session stop`), idle-stopped without work, quarantined,
//!   in crash backoff, blocked by its rig, waiting for a dependency, or over the per-pass start
//!   budget (each of these is said in the status and the plan's notes);
//! - dead (its program exited) → a crash: restart after backoff, or quarantine once
//!   `maxRestarts` restarts happened within the window;
//! - live with a launch fingerprint that differs from the one recorded at its start → drift,
//!   restarted as `restartPolicy.onDrift` allows (never compared when no fingerprint was
//!   recorded);
//! - live, quiet, detached, holding no in-progress work and with no ready work waiting past
//!   `idleTimeout` → stopped until work arrives.
//!
//! Sessions it should not run (suspended, deleted, held, scaled down) are stopped; when the
//! agent is being turned off, not before the agents depending on it have stopped.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use super::crash_ledger::CrashRecord;
use super::launch::{Launch, changed_fields, meta};
use crate::agentcli::conversation::{self, Cause, Continuation, Conversation};
use crate::api::agent::ConversationPolicy;
use crate::api::agent::OnDrift;
use crate::api::status::{
    self, AgentPhase, AgentStatus, Condition, ConditionType, PoolStatus, SessionDrift,
    SessionPhase, SessionStatus,
};
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
    /// While it is being turned off: an agent depending on it that still runs and is being
    /// turned off too. Its sessions stop first (stop order is the reverse of start order).
    pub dependent_up: Option<String>,
    /// What it should run, or why that cannot be worked out.
    pub launches: Result<Vec<Launch>, String>,
    /// For pools: how many members are wanted and why (`3 beads ready or in progress`).
    pub pool: Option<PoolWant>,
    /// Its drift policy.
    pub drift: DriftPolicy,
    /// `idleTimeout` (single-session agents).
    pub idle_timeout: Option<Duration>,
    /// The sessions that belong to it (by name or by their `agent` metadata).
    pub observed: Vec<&'a SessionInfo>,
    /// Sessions the last status recorded as up: one of them missing now was killed, which
    /// counts as a crash, not a first start.
    pub was_up: &'a BTreeSet<String>,
    /// Sessions a person stopped with `gc session stop` (not started until `gc session start`).
    pub held: &'a BTreeSet<String>,
    /// Sessions stopped for idleness (started again when work arrives).
    pub idle: &'a BTreeSet<String>,
    /// Sessions a fresh conversation was asked for (`gc handoff`, `gc session reset --fresh`):
    /// restarted fresh once, whatever the drift policy.
    pub fresh: &'a BTreeSet<String>,
    /// The recorded conversation of each session (`.gc/state/conversations/`).
    pub conversations: &'a BTreeMap<String, Conversation>,
    /// The agent's conversation policy: per cause, resume or start fresh.
    pub conversation_policy: &'a ConversationPolicy,
    /// The agent's work in the bead store.
    pub work: Work,
    /// `Err(dependency)` while an agent it depends on is not ready.
    pub dependencies: Result<(), String>,
    /// `Err` while its sessions cannot start: its provider's command is not installed, or its
    /// rig cannot take sessions (path missing, store not initialised, not a git repository
    /// for worktrees). Nothing starts; running sessions are left alone.
    pub gate: Result<(), StartBlock>,
    /// Crash history per session (persisted across controller restarts).
    pub crashes: &'a BTreeMap<String, CrashRecord>,
    /// The City's crash-loop policy.
    pub crash_loop: CrashLoop,
    /// Most sessions started (or restarted) by one plan (the City's `maxStartsPerSecond`; 0
    /// for no limit).
    pub max_starts: usize,
    /// Its budget (or the City's), when one applies.
    pub budget: Option<&'a Budget>,
    /// How many more sessions may run city-wide (the City's `maxActiveSessions` less those
    /// running), when it sets a limit.
    pub session_room: Option<usize>,
    /// Now.
    pub now: SystemTime,
}

/// How many members a pool wants, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolWant {
    /// Members wanted (already clamped to `min..=max`).
    pub wanted: u32,
    /// For people: where the number came from.
    pub why: String,
}

/// What `restartPolicy` says about drift.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DriftPolicy {
    /// The policy.
    pub on_drift: OnDrift,
    /// For `WhenIdle`: how long the session must be quiet (and detached).
    pub quiet_period: Duration,
}

impl Default for DriftPolicy {
    fn default() -> Self {
        DriftPolicy { on_drift: OnDrift::WhenIdle, quiet_period: Duration::from_secs(60) }
    }
}

/// An agent's work, as far as starting and stopping its sessions goes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Work {
    /// Whether ready work waits for it (routed to it, or assigned to it or a member).
    pub ready: bool,
    /// Sessions whose actor holds in-progress beads: never stopped for idleness or scaling.
    pub busy: BTreeSet<String>,
}

/// Where an agent's budget stands, as the planner needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Budget {
    /// Used up: no session starts, running ones stop as their turn ends.
    pub exceeded: bool,
    /// Past the warning share: a pool starts no new members (it spends what is left with the
    /// members it has).
    pub near_limit: bool,
    /// For people: whose budget, how much of it is used, when the window ends.
    pub message: String,
    /// When the window rolls over.
    pub until: Option<SystemTime>,
    /// Sessions whose hooks say a turn is under way.
    pub in_turn: BTreeSet<String>,
    /// Sessions whose hooks report turns; the others stop once quiet for the quiet period.
    pub turns_reported: BTreeSet<String>,
}

/// Why an agent's sessions cannot start now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartBlock {
    /// A CamelCase reason for the agent's conditions (`RigPathMissing`, …).
    pub reason: &'static str,
    /// What is wrong, naming the rig and its path.
    pub message: String,
}

/// The City's crash-loop policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrashLoop {
    /// Restart backoff and the window restarts are counted in.
    pub backoff: Backoff,
    /// Restarts within the window before quarantine; 0 never quarantines.
    pub max_restarts: u32,
    /// How long a quarantine lasts.
    pub quarantine: Duration,
    /// A session up this long has its restart history forgotten.
    pub stable_after: Duration,
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
    /// A pool grew.
    ScaledUp,
    /// It was stopped for idleness and work arrived.
    WorkArrived,
}

/// Why a session stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The agent (or the City) is suspended or the agent was deleted; the word says which.
    Off(&'static str),
    /// A person stopped it with `gc session stop`.
    Held,
    /// The pool wants fewer members.
    ScaledDown,
    /// It was idle for the agent's `idleTimeout`.
    IdleTimeout,
    /// Its budget is used up, and its turn has ended.
    OverBudget,
}

impl StopReason {
    /// A CamelCase reason for events and conditions.
    pub fn word(self) -> &'static str {
        match self {
            StopReason::Off(word) => word,
            StopReason::Held => "StoppedByUser",
            StopReason::ScaledDown => "ScaledDown",
            StopReason::IdleTimeout => "IdleTimeout",
            StopReason::OverBudget => "BudgetExceeded",
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
        /// For people: more on why (a pool's wanted count, a crash's exit status).
        detail: String,
        /// How its conversation starts (for CLIs whose Provider names conversations).
        conversation: Option<Continuation>,
    },
    /// Stop a live session whose launch drifted from its spec and start it anew.
    Restart {
        /// What to start in its place.
        launch: Box<Launch>,
        /// The instance token it was observed with; nothing is done if it changed since.
        instance: Option<String>,
        /// The launch fields that changed (`env.LOG_LEVEL`, `prompt`, …).
        changed: Vec<String>,
        /// The policy that allowed it.
        policy: OnDrift,
        /// How its conversation starts.
        conversation: Option<Continuation>,
    },
    /// Stop a live session and start it anew with a fresh conversation, as a person asked.
    RestartFresh {
        /// What to start in its place.
        launch: Box<Launch>,
        /// The instance token it was observed with; nothing is done if it changed since.
        instance: Option<String>,
        /// How its conversation starts (fresh).
        conversation: Option<Continuation>,
    },
    /// Stop a running session, fenced by the instance token it was observed with.
    Stop {
        /// The session.
        session: String,
        /// Its `instance` metadata when observed; the stop is skipped if it changed since.
        instance: Option<String>,
        /// Why.
        reason: StopReason,
        /// For people: more on why.
        detail: String,
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
    /// Stop restarting a session that keeps dying, until `until` or `gc session reset`.
    Quarantine {
        /// The session (dead; kept so its output can be read).
        session: String,
        /// When restarts may resume.
        until: SystemTime,
        /// For people: `5 restarts within 1h`.
        reason: String,
    },
}

/// `1h`, `5m`, `30s`, `1m30s`: a duration as people write it in specs.
pub fn human(d: Duration) -> String {
    crate::api::Duration::from_secs(d.as_secs()).to_string()
}

/// What a start says of its conversation (nothing when there was nothing to resume).
fn said(conversation: &Option<Continuation>) -> String {
    conversation.as_ref().map(Continuation::describe).unwrap_or_default()
}

fn policy_word(policy: OnDrift) -> &'static str {
    match policy {
        OnDrift::Immediate => "Immediate",
        OnDrift::WhenIdle => "WhenIdle",
        OnDrift::Never => "Never",
    }
}

impl SessionAction {
    /// One line for `gc diff` and logs: `start gc-sample-mayor (not running)`.
    pub fn describe(&self) -> String {
        match self {
            SessionAction::Start { launch, reason, detail, conversation } => {
                let why = match reason {
                    StartReason::NotRunning => "not running".to_owned(),
                    StartReason::Crashed(Some(code)) => format!("exited with status {code}"),
                    StartReason::Crashed(None) => "it died".to_owned(),
                    StartReason::ScaledUp => "pool scaled up".to_owned(),
                    StartReason::WorkArrived => "work arrived after an idle stop".to_owned(),
                };
                let detail = if detail.is_empty() { String::new() } else { format!(": {detail}") };
                format!("start {} ({why}{detail}){}", launch.session, said(conversation))
            }
            SessionAction::Restart { launch, changed, policy, conversation, .. } => format!(
                "restart {}: {} changed; policy {}{}",
                launch.session,
                changed.join(", "),
                policy_word(*policy),
                said(conversation)
            ),
            SessionAction::RestartFresh { launch, .. } => format!(
                "restart {}: a fresh conversation was asked for (gc handoff or gc session reset \
                 --fresh)",
                launch.session
            ),
            SessionAction::Stop { session, reason, detail, .. } => {
                let detail = if detail.is_empty() { String::new() } else { format!(": {detail}") };
                format!("stop {session} ({}{detail})", reason.word())
            }
            SessionAction::Remove { session } => format!("remove dead session {session}"),
            SessionAction::AwaitReady { launch } => {
                format!("wait for {} to be ready", launch.session)
            }
            SessionAction::Quarantine { session, reason, .. } => {
                format!("quarantine {session} ({reason})")
            }
        }
    }

    /// Whether this action changes what runs (as opposed to waiting for readiness).
    pub fn changes_sessions(&self) -> bool {
        !matches!(self, SessionAction::AwaitReady { .. })
    }
}

/// The planner's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentPlan {
    /// What to do, in order.
    pub actions: Vec<SessionAction>,
    /// What is deliberately not done now and why (drift left running, a start deferred or
    /// backed off, a quarantine in force), one line each, for `gc diff` and the status.
    pub notes: Vec<String>,
    /// Sessions whose crash history is to be forgotten (a stable run, a quarantine over).
    pub forget_crashes: Vec<String>,
    /// The status to record (`.gc/status/agents/<name>.json`).
    pub status: AgentStatus,
    /// Look again after this long even if nothing changes (backoff, waiting on dependencies).
    pub requeue_after: Option<Duration>,
}

/// The planner's running state while it walks one agent's sessions.
struct Planner<'i, 'a> {
    input: &'i AgentInput<'a>,
    actions: Vec<SessionAction>,
    notes: Vec<String>,
    forget_crashes: Vec<String>,
    requeue_after: Option<Duration>,
    rows: Vec<SessionStatus>,
    starts: usize,
    added: usize,
    ready: usize,
    idle: usize,
    backing_off: bool,
    /// Sessions held back by a used-up budget.
    over_budget: bool,
    quarantined: Vec<String>,
    blocked: Vec<String>,
    drift: Vec<String>,
}

/// Plans one agent.
pub fn plan(input: &AgentInput<'_>) -> AgentPlan {
    let mut p = Planner {
        input,
        actions: Vec::new(),
        notes: Vec::new(),
        forget_crashes: Vec::new(),
        requeue_after: None,
        rows: Vec::new(),
        starts: 0,
        added: 0,
        ready: 0,
        idle: 0,
        backing_off: false,
        over_budget: false,
        quarantined: Vec::new(),
        blocked: Vec::new(),
        drift: Vec::new(),
    };
    let launches: &[Launch] = match (&input.launches, input.off) {
        (Ok(launches), None) => launches,
        _ => &[],
    };
    p.unwanted(launches);
    for launch in launches {
        p.wanted(launch);
    }
    let status = p.status(launches.len());
    AgentPlan {
        actions: p.actions,
        notes: p.notes,
        forget_crashes: p.forget_crashes,
        status,
        requeue_after: p.requeue_after,
    }
}

/// An agent's status once `gc stop` stopped all its sessions: phase `Stopped`, every session
/// `stopped`, seen so at `now`. What the previous status knew (restarts, conversations) stays.
pub fn stopped_status(previous: Option<AgentStatus>, generation: u64, now: &str) -> AgentStatus {
    let message = "gc stop: the city is stopped; `gc start` starts it";
    let mut status = previous.unwrap_or(AgentStatus {
        observed_generation: generation,
        phase: AgentPhase::Stopped,
        desired_sessions: 0,
        ready_sessions: 0,
        restarts: 0,
        sessions: Vec::new(),
        conditions: Vec::new(),
        pool: None,
        drift: None,
        notes: Vec::new(),
        observed_inputs: None,
        last_seen: None,
    });
    status.phase = AgentPhase::Stopped;
    status.ready_sessions = 0;
    status.last_seen = Some(now.to_owned());
    status.notes.clear();
    for session in &mut status.sessions {
        session.phase = SessionPhase::Stopped;
        session.ready = false;
        session.pid = None;
        session.screen = None;
    }
    status.conditions = vec![
        Condition::new(ConditionType::Ready, false, "CityStopped", message),
        status::progressing(String::new()),
        Condition::new(ConditionType::Degraded, false, "CityStopped", ""),
    ];
    status
}

fn since(now: SystemTime, then: SystemTime) -> Duration {
    now.duration_since(then).unwrap_or_default()
}

fn clock(time: SystemTime) -> String {
    crate::api::status::timestamp(time)
}

impl Planner<'_, '_> {
    /// How `launch`'s conversation starts for `cause` (a fresh one when one was asked for),
    /// from its recorded conversation and, for a dead session, how that one had started.
    fn continuation(
        &self,
        launch: &Launch,
        cause: Cause,
        observed: Option<&SessionInfo>,
    ) -> Option<Continuation> {
        let spec = launch.conversation.as_ref()?;
        let input = self.input;
        let cause = if input.fresh.contains(&launch.session) { Cause::Requested } else { cause };
        let now = chrono::DateTime::<chrono::Utc>::from(input.now);
        let recorded =
            input.conversations.get(&launch.session).map(|c| (c, conversation::age(c, now)));
        let last = observed.and_then(|i| i.meta.get(meta::CONVERSATION)).map(String::as_str);
        let (decision, why) = conversation::plan(
            Some(spec),
            input.conversation_policy,
            &launch.provider,
            recorded,
            cause,
            last,
        );
        Some(Continuation { decision, why })
    }

    fn requeue(&mut self, after: Duration) {
        let after = after.max(Duration::from_millis(100));
        self.requeue_after = Some(self.requeue_after.map_or(after, |r| r.min(after)));
    }

    /// Whether the start budget of this plan has room for one more start; `adds` when the
    /// start makes one more session run (not a restart in place).
    fn take_start(&mut self, session: &str, adds: bool) -> bool {
        if adds && self.input.session_room.is_some_and(|room| self.added >= room) {
            self.notes
                .push(format!("{session}: start waits: the City's maxActiveSessions are running"));
            self.requeue(Duration::from_secs(2));
            return false;
        }
        if self.input.max_starts == 0 || self.starts < self.input.max_starts {
            self.added += usize::from(adds);
            self.starts += 1;
            return true;
        }
        self.notes.push(format!(
            "{session}: start deferred to the next second (controller.maxStartsPerSecond is {})",
            self.input.max_starts
        ));
        self.requeue(Duration::from_secs(1));
        false
    }

    /// Sessions that should not run: stop the live ones, clear away the dead ones.
    fn unwanted(&mut self, launches: &[Launch]) {
        let input = self.input;
        let wanted: BTreeSet<&str> = launches.iter().map(|l| l.session.as_str()).collect();
        for info in &input.observed {
            let name = info.name.as_str();
            let held = input.held.contains(name);
            if wanted.contains(name) && !held {
                continue;
            }
            let (reason, detail) = match (input.off, held) {
                (Some(word), _) => (StopReason::Off(word), String::new()),
                (None, true) => (StopReason::Held, String::new()),
                (None, false) => (
                    StopReason::ScaledDown,
                    input.pool.as_ref().map(|p| p.why.clone()).unwrap_or_default(),
                ),
            };
            if !info.alive {
                self.actions.push(SessionAction::Remove { session: name.to_owned() });
                continue;
            }
            if let (Some(_), Some(dependent)) = (input.off, &input.dependent_up) {
                self.notes.push(format!(
                    "{name}: stops after agent {dependent}, which depends on it, has stopped"
                ));
                self.requeue(Duration::from_secs(1));
                continue;
            }
            self.actions.push(SessionAction::Stop {
                session: name.to_owned(),
                instance: info.meta.get(meta::INSTANCE).cloned(),
                reason,
                detail,
            });
        }
    }

    /// One session the agent should run.
    fn wanted(&mut self, launch: &Launch) {
        let input = self.input;
        let name = launch.session.as_str();
        let mut history = input.crashes.get(name).cloned().unwrap_or_default();
        if history.quarantined_until.is_some_and(|until| until <= input.now) {
            // The quarantine is over: it starts with a clean slate.
            self.forget_crashes.push(name.to_owned());
            history = CrashRecord::default();
        }
        let recent = history.recent(input.now, input.crash_loop.backoff.window);
        // Restarts are kept oldest first: the last one is the latest, and is recent if any is.
        let last_restart = history.restarts.last().copied().filter(|_| recent > 0);
        let info = input.observed.iter().find(|s| s.name == name).copied();
        let mut row = SessionStatus {
            name: name.to_owned(),
            phase: SessionPhase::Pending,
            ready: info
                .is_some_and(|i| i.alive && i.meta.get(meta::READY).is_some_and(|v| v == "1")),
            restarts: recent,
            pid: None,
            last_exit: None,
            quarantined_until: None,
            drift: None,
            conversation: input.conversations.get(name).map(|c| c.id.clone()),
            screen: None,
        };
        row.phase = if input.held.contains(name) {
            SessionPhase::Held
        } else {
            match info {
                Some(info) if info.alive => self.live(launch, info, &history, &mut row),
                _ => self.not_running(launch, info, &history, recent, last_restart),
            }
        };
        if let Some(info) = info {
            row.pid = info.pid;
            if !info.alive {
                row.last_exit = info.exit_status;
            }
        }
        if let Some(until) = history.quarantined_until.filter(|u| *u > input.now) {
            row.quarantined_until = Some(clock(until));
        }
        self.rows.push(row);
    }

    fn live(
        &mut self,
        launch: &Launch,
        info: &SessionInfo,
        history: &CrashRecord,
        row: &mut SessionStatus,
    ) -> SessionPhase {
        let input = self.input;
        let name = launch.session.as_str();
        let is_ready = info.meta.get(meta::READY).is_some_and(|v| v == "1");
        let up_for = info.created.map(|c| since(input.now, c));
        if !history.restarts.is_empty()
            && is_ready
            && up_for.is_some_and(|d| d >= input.crash_loop.stable_after)
        {
            self.forget_crashes.push(name.to_owned());
        }
        // How long it has shown nothing: from its last output, else from its start.
        let quiet_for =
            info.last_activity.or(info.created).map_or(Duration::MAX, |t| since(input.now, t));
        if let Some(budget) = input.budget.filter(|b| b.exceeded) {
            return self.over_budget(name, info, budget, quiet_for);
        }
        if input.fresh.contains(name) && self.take_start(name, false) {
            self.actions.push(SessionAction::RestartFresh {
                launch: Box::new(launch.clone()),
                instance: info.meta.get(meta::INSTANCE).cloned(),
                conversation: self.continuation(launch, Cause::Requested, Some(info)),
            });
            return SessionPhase::Restarting;
        }
        let mut drifted = false;
        // Never compared before a fingerprint was recorded at its start (an adopted session).
        if let Some(recorded) = info.meta.get(meta::FINGERPRINT)
            && *recorded != launch.fingerprint
        {
            let changed = info
                .meta
                .get(meta::LAUNCH_FIELDS)
                .map(|fields| changed_fields(fields, launch))
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| vec!["launch".to_owned()]);
            let what = changed.join(", ");
            let policy = input.drift.on_drift;
            let pending = match policy {
                OnDrift::Immediate => None,
                OnDrift::WhenIdle if info.attached => {
                    self.requeue(Duration::from_secs(5));
                    Some(
                        "restart pending: policy WhenIdle waits until nobody is attached"
                            .to_owned(),
                    )
                }
                OnDrift::WhenIdle if quiet_for < input.drift.quiet_period => {
                    self.requeue(input.drift.quiet_period - quiet_for);
                    Some(format!(
                        "restart pending: policy WhenIdle waits until it has been quiet for {}",
                        human(input.drift.quiet_period)
                    ))
                }
                OnDrift::WhenIdle => None,
                OnDrift::Never => Some("not restarted: policy Never".to_owned()),
            };
            row.drift = Some(SessionDrift {
                changed: changed.clone(),
                policy: policy_word(policy).to_owned(),
                pending: None,
            });
            match pending {
                None if self.take_start(name, false) => {
                    let conversation = self.continuation(launch, Cause::Drift, Some(info));
                    self.actions.push(SessionAction::Restart {
                        launch: Box::new(launch.clone()),
                        instance: info.meta.get(meta::INSTANCE).cloned(),
                        changed,
                        policy,
                        conversation,
                    });
                    return SessionPhase::Restarting;
                }
                None => {
                    self.drift.push(format!("{name} drifted ({what} changed), restart deferred"));
                }
                Some(pending) => {
                    if let Some(drift) = row.drift.as_mut() {
                        drift.pending = Some(pending.clone());
                    }
                    let line = format!("{name} drifted ({what} changed), {pending}");
                    self.notes.push(line.clone());
                    self.drift.push(line);
                }
            }
            drifted = true;
        }
        if let Some(timeout) = input.idle_timeout
            && input.pool.is_none()
            && is_ready
            && !info.attached
            && !input.work.busy.contains(name)
            && !input.work.ready
        {
            if quiet_for >= timeout {
                self.actions.push(SessionAction::Stop {
                    session: name.to_owned(),
                    instance: info.meta.get(meta::INSTANCE).cloned(),
                    reason: StopReason::IdleTimeout,
                    detail: format!("quiet for {} with no work in progress", human(timeout)),
                });
                return SessionPhase::Stopping;
            }
            self.requeue(timeout - quiet_for);
        }
        if is_ready {
            self.ready += 1;
            if drifted { SessionPhase::Drifted } else { SessionPhase::Running }
        } else {
            // Still watched: it leaves Blocked by itself once it shows ready.
            self.actions.push(SessionAction::AwaitReady { launch: Box::new(launch.clone()) });
            if info.meta.get(meta::BLOCKED).is_some_and(|v| v == "1") {
                row.screen = Some(info.meta.get(meta::BLOCKED_SCREEN).cloned().unwrap_or_default());
                self.blocked.push(name.to_owned());
                SessionPhase::Blocked
            } else {
                SessionPhase::Starting
            }
        }
    }

    /// A live session of an agent whose budget is used up: stopped once its turn has ended
    /// (as its hooks say, or, without hooks, once it has been quiet for the quiet period).
    fn over_budget(
        &mut self,
        name: &str,
        info: &SessionInfo,
        budget: &Budget,
        quiet_for: Duration,
    ) -> SessionPhase {
        self.over_budget = true;
        let quiet_period = self.input.drift.quiet_period;
        let turn_over = if budget.turns_reported.contains(name) {
            !budget.in_turn.contains(name)
        } else {
            !info.attached && quiet_for >= quiet_period
        };
        if turn_over {
            self.actions.push(SessionAction::Stop {
                session: name.to_owned(),
                instance: info.meta.get(meta::INSTANCE).cloned(),
                reason: StopReason::OverBudget,
                detail: budget.message.clone(),
            });
            return SessionPhase::Stopping;
        }
        self.notes.push(format!("{name}: stops when its turn ends: {}", budget.message));
        self.requeue(if budget.turns_reported.contains(name) {
            Duration::from_secs(2)
        } else {
            quiet_period.saturating_sub(quiet_for).max(Duration::from_secs(2))
        });
        SessionPhase::Running
    }

    fn not_running(
        &mut self,
        launch: &Launch,
        info: Option<&SessionInfo>,
        history: &CrashRecord,
        recent: usize,
        last_restart: Option<SystemTime>,
    ) -> SessionPhase {
        let input = self.input;
        let name = launch.session.as_str();
        let crashed = match info {
            Some(dead) => Some(dead.exit_status),
            None if input.was_up.contains(name) => Some(None),
            None => None,
        };
        if let Some(budget) = input.budget.filter(|b| b.exceeded) {
            self.notes.push(format!("{name}: not started: {}", budget.message));
            if let Some(until) = budget.until {
                self.requeue(since(until, input.now) + Duration::from_millis(100));
            }
            self.over_budget = true;
            return SessionPhase::OverBudget;
        }
        if let Some(until) = history.quarantined_until.filter(|u| *u > input.now) {
            self.notes.push(format!(
                "{name}: quarantined until {} after crashing repeatedly; `gc session reset {name}` \
                 lifts it",
                clock(until)
            ));
            self.quarantined.push(name.to_owned());
            self.requeue(since(until, input.now) + Duration::from_millis(100));
            return SessionPhase::Quarantined;
        }
        let max = input.crash_loop.max_restarts as usize;
        if crashed.is_some() && max > 0 && recent >= max {
            let until = input.now + input.crash_loop.quarantine;
            let reason =
                format!("{} restarts within {}", recent, human(input.crash_loop.backoff.window));
            self.actions.push(SessionAction::Quarantine {
                session: name.to_owned(),
                until,
                reason,
            });
            self.quarantined.push(name.to_owned());
            self.requeue(input.crash_loop.quarantine);
            return SessionPhase::Quarantined;
        }
        if let Err(block) = &input.gate {
            // The rig may be fixed without any applied change (a clone finishing, a directory
            // created): look again soon.
            self.notes.push(format!("{name}: not started: {}", block.message));
            self.requeue(Duration::from_secs(2));
            return SessionPhase::Blocked;
        }
        if let Err(dependency) = &input.dependencies {
            self.notes.push(format!("{name}: waits for agent {dependency} to be ready"));
            self.requeue(Duration::from_secs(1));
            return SessionPhase::Waiting;
        }
        let idle_stopped = input.idle.contains(name) && crashed.is_none();
        if idle_stopped && !input.work.ready && input.work.busy.is_empty() {
            self.idle += 1;
            return SessionPhase::Idle;
        }
        let wait = input.crash_loop.backoff.delay(recent);
        let since_last = last_restart.map_or(Duration::MAX, |t| since(input.now, t));
        if since_last < wait {
            self.notes.push(format!(
                "{name}: restarts in {}s (crash backoff)",
                (wait - since_last).as_secs_f32().ceil()
            ));
            self.requeue(wait - since_last);
            self.backing_off = true;
            return SessionPhase::Backoff;
        }
        // A dead session being replaced does not add one.
        if !self.take_start(name, info.is_none()) {
            return SessionPhase::Pending;
        }
        let (reason, detail) = match (crashed, idle_stopped, &input.pool) {
            (Some(code), _, _) => (StartReason::Crashed(code), String::new()),
            (None, true, _) => (StartReason::WorkArrived, String::new()),
            (None, false, Some(pool)) => (StartReason::ScaledUp, pool.why.clone()),
            (None, false, None) => (StartReason::NotRunning, String::new()),
        };
        let cause = match reason {
            StartReason::Crashed(_) => Cause::Crash,
            StartReason::WorkArrived => Cause::Wake,
            StartReason::NotRunning | StartReason::ScaledUp => Cause::Fresh,
        };
        let conversation = self.continuation(launch, cause, info);
        self.actions.push(SessionAction::Start {
            launch: Box::new(launch.clone()),
            reason,
            detail,
            conversation,
        });
        SessionPhase::Starting
    }

    fn status(&self, wanted: usize) -> AgentStatus {
        let input = self.input;
        let desired = wanted - self.idle;
        let ready = self.ready;
        let alive = input.observed.iter().any(|s| s.alive);
        let (phase, ready_condition, reason, message) = match (&input.launches, input.off) {
            (_, Some(word)) if alive => {
                (AgentPhase::Stopping, false, word, format!("{word}: stopping its sessions"))
            }
            (_, Some(word)) => {
                (AgentPhase::Stopped, false, word, format!("{word}: no sessions run"))
            }
            (Err(e), None) => (AgentPhase::Degraded, false, "LaunchError", e.clone()),
            (Ok(_), None) if self.over_budget => (
                AgentPhase::OverBudget,
                false,
                "BudgetExceeded",
                input.budget.map(|b| b.message.clone()).unwrap_or_default(),
            ),
            (Ok(_), None) if !self.quarantined.is_empty() => (
                AgentPhase::Quarantined,
                false,
                "CrashLoop",
                format!(
                    "{} quarantined after crashing repeatedly; `gc session reset` lifts it",
                    self.quarantined.join(", ")
                ),
            ),
            (Ok(_), None) if !self.blocked.is_empty() => (
                AgentPhase::Blocked,
                false,
                "SessionBlocked",
                format!(
                    "{} stopped at a screen gc cannot answer (see its screen in the status); \
                     answer it with `gc session attach {}`",
                    self.blocked.join(", "),
                    self.blocked[0]
                ),
            ),
            (Ok(_), None) if input.gate.is_err() && ready < desired => {
                let block = input
                    .gate
                    .clone()
                    .err()
                    .unwrap_or(StartBlock { reason: "RigNotReady", message: String::new() });
                (AgentPhase::Blocked, false, block.reason, block.message)
            }
            (Ok(_), None) if input.dependencies.is_err() && ready < desired => {
                let dep = input.dependencies.clone().err().unwrap_or_default();
                (
                    AgentPhase::Waiting,
                    false,
                    "WaitingForDependency",
                    format!("waiting for agent {dep} to be ready"),
                )
            }
            (Ok(_), None) if self.backing_off => (
                AgentPhase::CrashLoop,
                false,
                "BackOff",
                "restarting after crashes, with backoff".to_owned(),
            ),
            (Ok(_), None) if desired == 0 && self.idle > 0 => (
                AgentPhase::Idle,
                true,
                "IdleStopped",
                "stopped after its idleTimeout; starts again when work arrives".to_owned(),
            ),
            (Ok(_), None) if ready >= desired => {
                (AgentPhase::Running, true, "AllReady", format!("{ready}/{desired} sessions ready"))
            }
            (Ok(_), None) => (
                AgentPhase::Starting,
                false,
                "Starting",
                format!("{ready}/{desired} sessions ready"),
            ),
        };
        let degraded = matches!(
            phase,
            AgentPhase::Degraded
                | AgentPhase::CrashLoop
                | AgentPhase::Blocked
                | AgentPhase::Quarantined
        );
        let changing: Vec<String> = self.actions.iter().map(SessionAction::describe).collect();
        let mut conditions = vec![
            Condition::new(ConditionType::Ready, ready_condition, reason, message.clone()),
            status::progressing(changing.join("; ")),
            Condition::new(
                ConditionType::Degraded,
                degraded,
                reason,
                if degraded { message } else { String::new() },
            ),
        ];
        if let Some(budget) = input.budget {
            let reason = if budget.exceeded { "BudgetExceeded" } else { "WithinBudget" };
            conditions.push(Condition::new(
                ConditionType::BudgetExceeded,
                budget.exceeded,
                reason,
                budget.message.clone(),
            ));
        }
        AgentStatus {
            observed_generation: input.generation,
            phase,
            desired_sessions: desired,
            ready_sessions: ready,
            restarts: self.rows.iter().map(|r| r.restarts).sum(),
            sessions: self.rows.clone(),
            conditions,
            pool: input.pool.as_ref().map(|p| PoolStatus { wanted: p.wanted, why: p.why.clone() }),
            drift: (!self.drift.is_empty()).then(|| self.drift.join("; ")),
            notes: self.notes.clone(),
            observed_inputs: None,
            last_seen: None,
        }
    }
}

#[cfg(test)]
#[path = "agent_tests.rs"]
mod tests;
