//! What the controllers observed and did, one type per kind: written only by the controller
//! (`.gc/status/<kind>/<name>.json`), read by `gc status`, `gc get`, `gc describe` and the
//! API, and shown in `gc schema` as each kind's `status`.
//!
//! Every status has `observedGeneration` (the spec generation it is the outcome of) and
//! Kubernetes-style conditions. Fields are optional where older files may lack them, so a
//! status written by an earlier build still reads.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// What a condition is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ConditionType {
    /// The object does its job (an agent's sessions are ready, a rig's store exists, …).
    Ready,
    /// The controller is changing something for it right now.
    Progressing,
    /// Something is wrong that needs a person (a crash loop, a blocked screen, an unreadable
    /// stored file).
    Degraded,
    /// Its budget (or the City's) for the window is used up: its sessions finish their turn
    /// and stop, none starts until the window rolls over.
    BudgetExceeded,
}

/// Whether a condition holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ConditionStatus {
    /// It holds.
    True,
    /// It does not hold.
    False,
    /// Nobody knows now (no controller is running to look).
    Unknown,
}

impl From<bool> for ConditionStatus {
    fn from(holds: bool) -> Self {
        if holds { ConditionStatus::True } else { ConditionStatus::False }
    }
}

/// One observation about an object, as in Kubernetes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// What it is about.
    #[serde(rename = "type")]
    pub kind: ConditionType,
    /// Whether it holds.
    pub status: ConditionStatus,
    /// A CamelCase word saying why (`AllReady`, `CrashLoop`, `CommandNotFound`, …).
    pub reason: String,
    /// For people.
    #[serde(default)]
    pub message: String,
    /// When `status` last changed (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

impl Condition {
    /// A condition of `kind` that holds or not, for `reason`.
    pub fn new(
        kind: ConditionType,
        holds: bool,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Condition {
        Condition {
            kind,
            status: holds.into(),
            reason: reason.into(),
            message: message.into(),
            last_transition_time: None,
        }
    }
}

/// A time as status fields write it: RFC 3339, UTC, whole seconds.
pub fn timestamp(time: impl Into<chrono::DateTime<chrono::Utc>>) -> String {
    time.into().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The `Progressing` condition: true while `changes` (what is under way, `; `-joined) is not
/// empty.
pub fn progressing(changes: String) -> Condition {
    let settled = changes.is_empty();
    let reason = if settled { "Settled" } else { "Reconciling" };
    Condition::new(ConditionType::Progressing, !settled, reason, changes)
}

/// The condition of `kind` in `conditions`.
pub fn condition(conditions: &[Condition], kind: ConditionType) -> Option<&Condition> {
    conditions.iter().find(|c| c.kind == kind)
}

/// A kind's status type.
pub trait Status: Serialize + DeserializeOwned + Clone + PartialEq {
    /// Its conditions, for stamping transition times.
    fn conditions_mut(&mut self) -> &mut Vec<Condition>;
}

/// Gives each condition of `current` its `lastTransitionTime`: the previous one's when its
/// status did not change, else `now`.
pub fn carry_transitions(previous: &[Condition], current: &mut [Condition], now: &str) {
    for condition in current {
        let before = previous.iter().find(|p| p.kind == condition.kind);
        condition.last_transition_time = match before {
            Some(p) if p.status == condition.status && p.last_transition_time.is_some() => {
                p.last_transition_time.clone()
            }
            _ => Some(now.to_owned()),
        };
    }
}

macro_rules! status_kind {
    ($($ty:ty),*) => {$(
        impl Status for $ty {
            fn conditions_mut(&mut self) -> &mut Vec<Condition> {
                &mut self.conditions
            }
        }
    )*};
}
status_kind!(AgentStatus, RigStatus, ProviderStatus, FormulaStatus, OrderStatus, CityStatus);

/// An agent's phase, from its sessions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum AgentPhase {
    /// Sessions are being started or are not ready yet.
    Starting,
    /// Every wanted session is ready.
    Running,
    /// Waits for an agent it depends on to be ready.
    Waiting,
    /// Restarting after crashes, with backoff.
    CrashLoop,
    /// Stopped after its idle timeout; starts again when work arrives.
    Idle,
    /// A session crashed too often and is not restarted until the quarantine ends.
    Quarantined,
    /// A session stopped at a screen gc cannot answer, or its rig is not ready.
    Blocked,
    /// It cannot be launched (a bad prompt, a missing provider, …), or its stored object is
    /// unreadable.
    Degraded,
    /// Suspended, stopped or deleted: its sessions are being stopped.
    Stopping,
    /// No sessions run, on purpose (suspended, `gc stop`).
    Stopped,
    /// Its budget for the window is used up: sessions finish their turn and stop; it resumes
    /// when the window rolls over.
    OverBudget,
    /// No controller is running to know (see `lastSeen`).
    #[default]
    Unknown,
}

impl AgentPhase {
    /// The phase as written.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentPhase::Starting => "Starting",
            AgentPhase::Running => "Running",
            AgentPhase::Waiting => "Waiting",
            AgentPhase::CrashLoop => "CrashLoop",
            AgentPhase::Idle => "Idle",
            AgentPhase::Quarantined => "Quarantined",
            AgentPhase::Blocked => "Blocked",
            AgentPhase::Degraded => "Degraded",
            AgentPhase::Stopping => "Stopping",
            AgentPhase::Stopped => "Stopped",
            AgentPhase::OverBudget => "OverBudget",
            AgentPhase::Unknown => "Unknown",
        }
    }
}

/// What an agent's controller observed and did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentStatus {
    /// The spec generation this status is the outcome of.
    pub observed_generation: u64,
    /// The agent at a glance.
    pub phase: AgentPhase,
    /// Sessions it should run now.
    #[serde(default)]
    pub desired_sessions: usize,
    /// Of those, the ones that are ready.
    #[serde(default)]
    pub ready_sessions: usize,
    /// Restarts within the crash-loop window, over all its sessions.
    #[serde(default)]
    pub restarts: usize,
    /// One row per session it runs or should run.
    #[serde(default)]
    pub sessions: Vec<SessionStatus>,
    /// `Ready`, `Progressing`, `Degraded`.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// For a pool: how many members it wants and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<PoolStatus>,
    /// Drift left running, one clause per session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<String>,
    /// What is deliberately not done now and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The generations of everything this status derives from (`gc apply --wait` compares).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_inputs: Option<String>,
    /// When the controller last confirmed this status (set when it stops, or when it is found
    /// gone): with phase `Stopped` or `Unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
}

/// A session's phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SessionPhase {
    /// Being started; not ready yet.
    Starting,
    /// Up and ready.
    Running,
    /// Up and ready, but its launch differs from the spec (a restart is pending or declined).
    Drifted,
    /// Being restarted (drift or crash).
    Restarting,
    /// Being stopped.
    Stopping,
    /// Stopped by `gc session stop`; kept stopped.
    Held,
    /// Crashed too often; not restarted until the quarantine ends.
    Quarantined,
    /// Stopped at a screen gc cannot answer, or not started because its rig is not ready.
    Blocked,
    /// Not started until an agent it depends on is ready.
    Waiting,
    /// Stopped after its idle timeout.
    Idle,
    /// Waiting out a crash backoff.
    Backoff,
    /// Not started yet: a start limit or the wave before it.
    Pending,
    /// Not running, on purpose.
    Stopped,
    /// Not started (or stopped at its turn's end): the budget for the window is used up.
    OverBudget,
    /// No controller is running to know.
    Unknown,
}

impl SessionPhase {
    /// The phase as written.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionPhase::Starting => "starting",
            SessionPhase::Running => "running",
            SessionPhase::Drifted => "drifted",
            SessionPhase::Restarting => "restarting",
            SessionPhase::Stopping => "stopping",
            SessionPhase::Held => "held",
            SessionPhase::Quarantined => "quarantined",
            SessionPhase::Blocked => "blocked",
            SessionPhase::Waiting => "waiting",
            SessionPhase::Idle => "idle",
            SessionPhase::Backoff => "backoff",
            SessionPhase::Pending => "pending",
            SessionPhase::Stopped => "stopped",
            SessionPhase::OverBudget => "overbudget",
            SessionPhase::Unknown => "unknown",
        }
    }
}

/// One session of an agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionStatus {
    /// The session (tmux session) name.
    pub name: String,
    /// What it is doing.
    pub phase: SessionPhase,
    /// Whether it showed its ready prompt.
    #[serde(default)]
    pub ready: bool,
    /// Restarts within the crash-loop window.
    #[serde(default)]
    pub restarts: usize,
    /// Its program's pid, while it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// How its program last exited, when it is dead and that is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_exit: Option<i32>,
    /// When its quarantine ends (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantined_until: Option<String>,
    /// How its launch differs from the spec, and what the drift policy does about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<SessionDrift>,
    /// The conversation it runs (the CLI's session id), when gc knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<String>,
    /// While `blocked`: the screen it is stopped at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screen: Option<String>,
}

/// A session's drift.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionDrift {
    /// The launch fields that changed (`env`, `prompt`, …).
    pub changed: Vec<String>,
    /// The agent's `restartPolicy.onDrift`.
    pub policy: String,
    /// Why the restart has not happened yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<String>,
}

/// A pool's wanted size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PoolStatus {
    /// Members it wants now.
    pub wanted: u32,
    /// Where the number came from.
    pub why: String,
}

/// Whether a rig's bead store is as its spec says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StoreState {
    /// Initialised with the rig's prefix and backend.
    Ready,
    /// Initialised, but differently.
    Differs,
    /// Not initialised.
    Missing,
}

/// What the rig controller observed and did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RigStatus {
    /// The spec generation this status is the outcome of.
    pub observed_generation: u64,
    /// The rig's directory.
    pub path: String,
    /// Whether that directory exists.
    pub path_exists: bool,
    /// Whether it is a git repository.
    pub git: bool,
    /// Its beads' id prefix.
    pub prefix: String,
    /// Its `.beads` directory.
    pub store_dir: String,
    /// Its bead store backend.
    pub backend: crate::api::city::BeadsBackend,
    /// Whether the store is as the spec says.
    pub store: StoreState,
    /// `Ready`, `Progressing`.
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// What the provider controller found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderStatus {
    /// The spec generation this status is the outcome of.
    pub observed_generation: u64,
    /// Whether its command is installed.
    pub available: bool,
    /// Where the command is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// What `command --version` printed (first line), when it answered in time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `Ready`.
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// What the formula controller found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FormulaStatus {
    /// The spec generation this status is the outcome of.
    pub observed_generation: u64,
    /// Whether it compiles (with the formulas it extends) and can be cooked.
    pub usable: bool,
    /// Its compiled steps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<FormulaStepStatus>,
    /// Variables that must be given (required, no default).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_vars: Vec<String>,
    /// The formulas it extends, transitively.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extends: Vec<String>,
    /// Why it does not compile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<FormulaErrorStatus>,
    /// `Ready`.
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// One compiled step of a formula.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FormulaStepStatus {
    /// Its id.
    pub id: String,
    /// Its title (may hold `{{var}}`).
    pub title: String,
    /// Steps it waits for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
    /// The step it is a child of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The formula it comes from, when not this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// When it is cooked only if a condition holds: the condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

/// A formula's compile error and where it is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FormulaErrorStatus {
    /// What is wrong.
    pub message: String,
    /// The formula it is in (maybe one this one extends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formula: Option<String>,
    /// JSON pointer into that formula.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `file:line:col`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

/// What the order controller observed and did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderStatus {
    /// The spec generation this status is the outcome of.
    pub observed_generation: u64,
    /// Its gate, for people.
    pub gate: String,
    /// Its action, for people.
    pub action: String,
    /// How many times it fired.
    #[serde(default)]
    pub runs: u64,
    /// When it is next due (RFC 3339); absent when it is not due at any known time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_due: Option<String>,
    /// When it is next due, for people.
    #[serde(default)]
    pub next_due_text: String,
    /// When it last fired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_fired: Option<String>,
    /// For an event gate: the last event it has looked at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_cursor: Option<u64>,
    /// Whether a run is in progress.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub running: bool,
    /// The run in progress, or the last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<OrderRunStatus>,
    /// How the last finished run ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_result: Option<OrderResultStatus>,
    /// `Ready`.
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// An order's run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderRunStatus {
    /// Its id (the order's run counter).
    pub id: String,
    /// When it fired (while running).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// Why it fired (while running).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// An exec run's process (group) id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// An exec run's log file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// A formula run's molecule root bead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub molecule: Option<String>,
}

/// How an order's run ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderResultStatus {
    /// The run's id.
    pub run: String,
    /// `completed` or `failed`.
    pub outcome: String,
    /// When it ended.
    pub at: String,
    /// Why, for people.
    pub detail: String,
}

/// Whether the city's controller runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ControllerPhase {
    /// It runs and reconciles.
    Running,
    /// It was stopped (`gc stop`).
    Stopped,
    /// It is gone without saying so (killed, crashed): what the status says may be stale.
    Unknown,
}

/// The city's controller, as it last recorded itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CityStatus {
    /// The spec generation this status is the outcome of.
    pub observed_generation: u64,
    /// Whether the controller runs.
    pub controller: ControllerPhase,
    /// Its pid while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// When it started (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When it stopped (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<String>,
    /// `Ready`: the controller runs.
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transition_time_is_kept_while_the_status_holds_and_moves_when_it_changes() {
        let mut before = vec![Condition::new(ConditionType::Ready, true, "AllReady", "1/1")];
        carry_transitions(&[], &mut before, "t1");
        assert_eq!(before[0].last_transition_time.as_deref(), Some("t1"));

        let mut same = vec![Condition::new(ConditionType::Ready, true, "AllReady", "2/2")];
        carry_transitions(&before, &mut same, "t2");
        assert_eq!(same[0].last_transition_time.as_deref(), Some("t1"));

        let mut flipped = vec![Condition::new(ConditionType::Ready, false, "Starting", "1/2")];
        carry_transitions(&same, &mut flipped, "t3");
        assert_eq!(flipped[0].last_transition_time.as_deref(), Some("t3"));
    }

    #[test]
    fn an_agent_status_reads_back_as_written() {
        let status = AgentStatus {
            observed_generation: 2,
            phase: AgentPhase::Blocked,
            desired_sessions: 1,
            ready_sessions: 0,
            restarts: 0,
            sessions: vec![SessionStatus {
                name: "gc-c-a".into(),
                phase: SessionPhase::Blocked,
                ready: false,
                restarts: 0,
                pid: Some(7),
                last_exit: None,
                quarantined_until: None,
                drift: None,
                conversation: Some("3f2a".into()),
                screen: Some("Trust this folder?".into()),
            }],
            conditions: vec![Condition::new(ConditionType::Ready, false, "SessionBlocked", "")],
            pool: None,
            drift: None,
            notes: vec![],
            observed_inputs: None,
            last_seen: None,
        };
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["sessions"][0]["phase"], "blocked");
        assert_eq!(json["conditions"][0]["type"], "Ready");
        assert_eq!(serde_json::from_value::<AgentStatus>(json).unwrap(), status);
    }
}
