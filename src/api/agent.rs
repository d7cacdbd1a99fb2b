//! `Agent`: one AI coding agent (or a pool of identical ones) run in sessions.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Duration;
use super::provider::PermissionMode;

/// Environment variable names accepted in `env` maps: they are exported into sessions, so they
/// must be names a shell accepts.
pub const ENV_NAME_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_]*$";

/// The desired state of an agent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentSpec {
    /// What the agent is for; shown by `gc describe`. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Name of the Provider that launches it. Default: the City's `defaultProvider`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Name of the Rig (project repository) it works on. Default: none (a city-wide agent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rig: Option<String>,
    /// Directory the session starts in, relative to the rig's path (or the city directory for
    /// city-wide agents). Default: the rig's path, or the city directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_dir: Option<String>,
    /// The prompt handed to the agent at start. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<PromptSpec>,
    /// Text typed into the session when work is slung to it. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nudge: Option<String>,
    /// Extra arguments appended to the provider's. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Environment for the session, on top of the provider's and gc's own `GC_*`. Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("propertyNames" = {"pattern": ENV_NAME_PATTERN}))]
    pub env: BTreeMap<String, String>,
    /// Agents that must be running before this one starts (stopped after it). Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// When true the agent's sessions are stopped and not restarted. Default: `false`.
    #[serde(default)]
    pub suspended: bool,
    /// Makes the agent a pool of sessions. Default: absent, meaning exactly one session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaling: Option<ScalingSpec>,
    /// What to do when a running session no longer matches its spec.
    #[serde(default)]
    pub restart_policy: RestartPolicy,
    /// Stop the agent's session once it has shown no output, had nobody attached and held no
    /// in-progress bead for this long; it starts again when work is routed to it. Pools
    /// scale down by work instead (members without work stop). Default: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<Duration>,
    /// Whether each session gets its own git worktree of the rig. Default: `none`.
    #[serde(default)]
    pub isolation: Isolation,
    /// Which ready beads are this agent's work, as `bd ready` flags (`--label frontend
    /// --type bug`; a leading `bd ready` is allowed). It selects what `gc hook`, `gc prime`,
    /// the Stop hook and the pool's demand count offer, after the work a member already holds
    /// in progress. Default: ready beads assigned to the agent (or a member), then ready
    /// unassigned beads routed to it with `gc sling`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_query: Option<String>,
    /// How much the agent may do without asking a person; its Provider maps the mode to the
    /// CLI's flags (`permissionModes`). Default: `autonomous` (it never waits on a
    /// permission prompt).
    #[serde(default, skip_serializing_if = "is_autonomous")]
    pub permission_mode: PermissionMode,
    /// When a new session continues the agent's last conversation rather than starting a fresh
    /// one (for CLIs whose Provider says how to resume). Default: resume after a crash and a
    /// drift restart, fresh after an idle stop, no age limit.
    #[serde(default, skip_serializing_if = "ConversationPolicy::is_default")]
    pub conversation: ConversationPolicy,
    /// A ceiling on the agent's tokens and spend per window (a pool's members share it). At
    /// 80 % the agent is mailed; at 100 % its sessions finish their turn and stop, none
    /// starts until the window rolls over. Default: none (the City's budget still applies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<crate::api::city::BudgetSpec>,
    /// Skills the agent's CLI offers the model: directories holding a `SKILL.md` (front matter
    /// `name` and `description`), relative to the city directory or absolute. Each is linked
    /// into the directory gc owns for the CLI (the Provider's `home.skillsDir`), never into the
    /// rig. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skills: Vec<String>,
    /// Slash commands the agent's CLI offers: Markdown files (front matter `description`),
    /// relative to the city directory or absolute, put where the Provider's `home.commandsDir`
    /// says, in the form its `home.commandsFormat` names. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
    /// MCP servers the agent's CLI connects to, by name. gc writes them where the CLI reads
    /// them (the Provider's `home.mcp`), in the directory it owns for the session, never in the
    /// rig. Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mcp_servers: BTreeMap<String, crate::api::mcp::McpServer>,
    /// The agent's session pods, when the City runs sessions as pods
    /// (`session.backend: kubernetes`; read by no other backend). Default: the City's
    /// `session.kubernetes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<AgentPodSpec>,
}

/// What an agent's session pods take instead of the City's `session.kubernetes`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentPodSpec {
    /// CPU and memory of each of the agent's session pods. Default: the City's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<crate::api::city::PodResources>,
}

/// Per cause of a restart, whether the session resumes its conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConversationPolicy {
    /// After its program exited (crashed or was killed). Default: `true`.
    #[serde(default = "yes")]
    pub resume_on_crash: bool,
    /// After a restart because its launch drifted from its spec. Default: `true`.
    #[serde(default = "yes")]
    pub resume_on_drift: bool,
    /// When it starts again after an idle stop, because work arrived. Default: `false`.
    #[serde(default)]
    pub resume_on_wake: bool,
    /// A conversation older than this (from its first start) is never resumed. Default: no
    /// limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<Duration>,
}

fn yes() -> bool {
    true
}

impl Default for ConversationPolicy {
    fn default() -> Self {
        ConversationPolicy {
            resume_on_crash: true,
            resume_on_drift: true,
            resume_on_wake: false,
            max_age: None,
        }
    }
}

impl ConversationPolicy {
    fn is_default(&self) -> bool {
        *self == ConversationPolicy::default()
    }
}

fn is_autonomous(mode: &PermissionMode) -> bool {
    *mode == PermissionMode::Autonomous
}

/// Where the prompt comes from: exactly one of `template` or `inline`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("oneOf" = [{"required": ["template"]}, {"required": ["inline"]}]))]
pub struct PromptSpec {
    /// Path of a template file, relative to the city directory. Templates use Jinja syntax
    /// (`{{ agent.name }}`) and are checked by `gc validate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The template text itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<String>,
}

/// Pool sizing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScalingSpec {
    /// Sessions always kept running. Default: `0`.
    #[serde(default)]
    pub min: u32,
    /// Most sessions run at once. Default: `1`.
    #[serde(default = "default_max")]
    #[schemars(range(min = 1))]
    pub max: u32,
    /// Shell command whose stdout is the number of sessions wanted (clamped to min..max).
    /// Default: the number of ready beads routed to the agent plus those its members hold
    /// in progress. A failing check counts as `min` (and is recorded as an event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_check: Option<String>,
    /// How long `scaleCheck` may run before it is killed and counts as failed. Default: `30s`.
    #[serde(default = "default_scale_check_timeout")]
    pub scale_check_timeout: Duration,
}

fn default_scale_check_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_max() -> u32 {
    1
}

/// Restart rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RestartPolicy {
    /// When a session drifts from its spec (its command, arguments, environment, work
    /// directory, prompt or provider changed): restart at once, when idle, or never.
    /// Default: `WhenIdle`.
    #[serde(default)]
    pub on_drift: OnDrift,
    /// For `WhenIdle`: how long a drifted session must have shown no output (and had nobody
    /// attached) before it is restarted. Default: `1m`.
    #[serde(default = "default_quiet_period")]
    pub quiet_period: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy { on_drift: OnDrift::default(), quiet_period: default_quiet_period() }
    }
}

fn default_quiet_period() -> Duration {
    Duration::from_secs(60)
}

/// Drift restart policies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum OnDrift {
    /// Restart as soon as drift is seen.
    Immediate,
    /// Restart once the session is detached and quiet.
    #[default]
    WhenIdle,
    /// Only report the drift.
    Never,
}

/// Session isolation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// Sessions share the rig's checkout.
    #[default]
    None,
    /// Each session works in its own git worktree.
    Worktree,
}
