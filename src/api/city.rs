//! `City`: the city-wide settings (one per city directory).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Duration;

/// Pattern for the tmux socket name; it is passed to `tmux -L`, so it is kept to safe characters.
pub const SOCKET_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$";

/// City-wide settings: default provider, session backend, bead store, controller timing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CitySpec {
    /// Provider for agents that name none. Default: none, so every Agent must set `provider`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_provider: Option<String>,
    /// Where agent sessions run. Default: tmux on a socket named after the city.
    #[serde(default)]
    pub session: SessionSpec,
    /// Where beads (work items) are stored. Default: the embedded SQLite store.
    #[serde(default)]
    pub beads: BeadsSpec,
    /// Controller timing and crash-loop policy.
    #[serde(default)]
    pub controller: ControllerSpec,
    /// Most agent sessions running at once across the whole city: further starts wait (a
    /// restart in place or a crashed session being replaced does not count as one more).
    /// Agents reconciled at the same moment may overshoot it by a session. Default: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_active_sessions: Option<u32>,
    /// When true every session is stopped and none is started. Default: `false`.
    #[serde(default)]
    pub suspended: bool,
    /// What happens to claimed work whose holder is gone: leases, attempts, escalation.
    #[serde(default)]
    pub leases: LeaseSpec,
    /// A ceiling on the whole city's tokens and spend per window (every agent together); when
    /// it is reached, every agent stops as its own budget would stop it. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetSpec>,
}

/// A ceiling on tokens and spend per window, counted from the agents' own transcripts (the
/// Provider's `usage`). At 80 % it warns (an event and a mail); at 100 % the agent's sessions
/// finish their turn and stop, no new ones start, and it resumes when the window rolls over.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BudgetSpec {
    /// Most tokens (of every kind) per window. Default: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub tokens: Option<u64>,
    /// Most US dollars per window, priced from the Providers' tables. Default: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub cost: Option<f64>,
    /// The window: whole hours, counted from midnight UTC (`1d` is each UTC day, `1h` each
    /// hour). Default: `1d`.
    #[serde(default = "default_budget_window")]
    pub window: Duration,
}

fn default_budget_window() -> Duration {
    Duration::from_secs(86_400)
}

/// Leases on claimed work. A bead in progress whose holder (an agent or pool member) has had
/// no running session for `grace` goes back to ready for another session; each return is an
/// attempt, and a bead returned `maxAttempts` times is parked (blocked, with one escalation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LeaseSpec {
    /// How long a holder may be without a running session before its beads go back to ready
    /// (a crash restart within it keeps them); `0s` never takes work back. Rigs may set
    /// their own. Default: `10m`.
    #[serde(default = "default_lease_grace")]
    pub grace: Duration,
    /// Returns after which a bead is parked (blocked, not retried) instead; `0` never parks.
    /// Rigs may set their own. Default: `3`.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Who is told when a bead is parked: a mail to this agent or person (read with
    /// `gc mail inbox NAME`), besides the `bead.parked` event. Default: `human`.
    #[serde(default = "default_escalate_to")]
    #[schemars(length(min = 1))]
    pub escalate_to: String,
}

impl Default for LeaseSpec {
    fn default() -> Self {
        LeaseSpec {
            grace: default_lease_grace(),
            max_attempts: default_max_attempts(),
            escalate_to: default_escalate_to(),
        }
    }
}

fn default_lease_grace() -> Duration {
    Duration::from_secs(600)
}
fn default_max_attempts() -> u32 {
    3
}
fn default_escalate_to() -> String {
    "human".to_owned()
}

/// How sessions are run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionSpec {
    /// Session runtime. Default: `tmux`.
    #[serde(default)]
    pub backend: SessionBackend,
    /// The script spoken to when `backend` is `exec` (required then, ignored otherwise), a
    /// path relative to the city directory; the protocol is in `docs/exec-session.md`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// How long one operation of the `exec` script may take before it is killed and counts
    /// as failed (`stop` gets the shutdown grace on top). Default: `10s`.
    #[serde(default = "default_command_timeout")]
    pub command_timeout: Duration,
    /// tmux socket name (`tmux -L <socket>`), one tmux server per city. Default:
    /// `gc-<city name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = SOCKET_PATTERN))]
    pub socket: Option<String>,
    /// How long a session may take to become ready before it counts as failed. Default: `60s`.
    #[serde(default = "default_startup_timeout")]
    pub startup_timeout: Duration,
    /// Stop sessions on the city's tmux server that belong to no agent. Default: `false`
    /// (they are reported with a `session.orphaned` event and left running).
    #[serde(default)]
    pub stop_orphans: bool,
    /// The pods sessions run in when `backend` is `kubernetes` (required then, with an
    /// `image`; read by no other backend). See "Sessions as pods" in `docs/kubernetes.md`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<KubernetesSessionSpec>,
}

/// Session pods (`session.backend: kubernetes`): one Pod per session, running the agent CLI
/// in tmux inside it, started by the same gc binary as the controller's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubernetesSessionSpec {
    /// The container image of every session pod. It must hold gc at the same path as in the
    /// controller's image, tmux, and the agent CLIs the Providers run. Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub image: Option<String>,
    /// The namespace session pods are created in. Default: the Kubernetes client's own (the
    /// controller pod's namespace in a cluster, the kubeconfig context's outside).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = LABEL_PATTERN))]
    pub namespace: Option<String>,
    /// A PersistentVolumeClaim holding the city directory, mounted in each session pod at the
    /// city directory's absolute path (mount the same claim at the same path in the
    /// controller's pod), so work dirs, prompts and `.gc/` paths are the same in both.
    /// Default: none (the image must then provide the city directory itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = SUBDOMAIN_PATTERN))]
    pub workspace_claim: Option<String>,
    /// A Secret whose keys become environment variables of every session (`envFrom`): the
    /// agents' credentials. Its values never appear in a pod spec. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = SUBDOMAIN_PATTERN))]
    pub secret_name: Option<String>,
    /// The ServiceAccount session pods run as. Default: the namespace's `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = SUBDOMAIN_PATTERN))]
    pub service_account_name: Option<String>,
    /// CPU and memory each session pod requests and may use at most. Default: none (the
    /// namespace's defaults apply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<PodResources>,
}

/// Pattern of a Kubernetes namespace (an RFC 1123 label).
pub const LABEL_PATTERN: &str = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$";

/// Pattern of a Kubernetes object name (an RFC 1123 subdomain).
pub const SUBDOMAIN_PATTERN: &str =
    "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// Pattern of a Kubernetes resource quantity (`500m`, `2`, `1.5`, `512Mi`, `1G`, `1e3`).
pub const QUANTITY_PATTERN: &str =
    "^[+]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][-+]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$";

/// Requests and limits of a session pod's container.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodResources {
    /// What the scheduler reserves for the pod. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<ResourceAmounts>,
    /// What the pod may use at most. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<ResourceAmounts>,
}

/// Amounts of CPU and memory, as Kubernetes quantities.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceAmounts {
    /// CPU, e.g. `500m` (half a core) or `2`. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = QUANTITY_PATTERN))]
    pub cpu: Option<String>,
    /// Memory, e.g. `512Mi` or `2Gi`. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = QUANTITY_PATTERN))]
    pub memory: Option<String>,
}

impl Default for SessionSpec {
    fn default() -> Self {
        SessionSpec {
            backend: SessionBackend::default(),
            command: None,
            command_timeout: default_command_timeout(),
            socket: None,
            startup_timeout: default_startup_timeout(),
            stop_orphans: false,
            kubernetes: None,
        }
    }
}

fn default_command_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_startup_timeout() -> Duration {
    Duration::from_secs(60)
}

/// Session runtimes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SessionBackend {
    /// One tmux server per city on its own socket.
    #[default]
    Tmux,
    /// Plain child processes with output to log files, for hosts without tmux.
    Subprocess,
    /// A script implementing the session protocol (`session.command`).
    Exec,
    /// One Kubernetes Pod per session, with the agent CLI in tmux inside it
    /// (`session.kubernetes`).
    Kubernetes,
}

/// Where beads live.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BeadsSpec {
    /// Bead store. Default: `embedded`.
    #[serde(default)]
    pub backend: BeadsBackend,
    /// The script spoken to when `backend` is `exec` (required then, ignored otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The environment variable holding the PostgreSQL connection string when `backend` is
    /// `postgres` (`postgres://user:password@host/db`; in a cluster, set it from a Secret). gc
    /// passes it into every session so `bd` there reaches the same store, and never prints it.
    /// Default: `GC_BEADS_POSTGRES_URL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = super::agent::ENV_NAME_PATTERN))]
    pub url_env: Option<String>,
}

impl BeadsSpec {
    /// The variable holding the PostgreSQL connection string.
    pub fn url_env(&self) -> &str {
        self.url_env.as_deref().unwrap_or(crate::beads::postgres::DEFAULT_URL_ENV)
    }
}

/// Bead store backends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BeadsBackend {
    /// SQLite databases under `.gc/` and each rig's `.beads/`; needs nothing installed.
    #[default]
    Embedded,
    /// A real `bd` on PATH.
    Bd,
    /// A script implementing the bead store protocol (`beads.command`).
    Exec,
    /// A PostgreSQL database every machine (or pod) of the city reaches (`beads.urlEnv`
    /// names the variable holding its connection string); one schema per store.
    Postgres,
}

/// Controller timing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ControllerSpec {
    /// Full re-reconcile of everything even when nothing changed. Default: `30s`.
    #[serde(default = "default_resync")]
    pub resync_interval: Duration,
    /// Restart backoff and quarantine for sessions that keep dying.
    #[serde(default)]
    pub crash_loop: CrashLoopSpec,
    /// Most session starts per second across the city; a start beyond waits for the next
    /// second (`gc diff` says so). Set it to keep many real agent CLIs from starting at once
    /// (each is a node process loading for seconds). Default: `0`, no limit.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_starts_per_second: u32,
    /// Grace period between TERM and KILL when stopping a session. Default: `5s`.
    #[serde(default = "default_shutdown_timeout")]
    pub shutdown_timeout: Duration,
}

impl Default for ControllerSpec {
    fn default() -> Self {
        ControllerSpec {
            resync_interval: default_resync(),
            crash_loop: CrashLoopSpec::default(),
            max_starts_per_second: 0,
            shutdown_timeout: default_shutdown_timeout(),
        }
    }
}

fn default_resync() -> Duration {
    Duration::from_secs(30)
}
fn default_shutdown_timeout() -> Duration {
    Duration::from_secs(5)
}

/// What happens to a session that keeps dying.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CrashLoopSpec {
    /// Restarts allowed within `window` before the agent is quarantined; `0` never
    /// quarantines. Default: `5`.
    #[serde(default = "default_max_restarts")]
    pub max_restarts: u32,
    /// The sliding window restarts are counted in. Default: `1h`.
    #[serde(default = "default_window")]
    pub window: Duration,
    /// Delay before each restart, doubling from `initial` up to `max`.
    #[serde(default)]
    pub backoff: BackoffSpec,
    /// How long a quarantined agent stays stopped (`gc session reset` lifts it early).
    /// Default: `30m`.
    #[serde(default = "default_quarantine")]
    pub quarantine: Duration,
    /// A session that has run this long since its last restart has its restart count reset.
    /// Default: `5m`.
    #[serde(default = "default_stable_after")]
    pub stable_after: Duration,
}

fn default_stable_after() -> Duration {
    Duration::from_secs(300)
}

impl Default for CrashLoopSpec {
    fn default() -> Self {
        CrashLoopSpec {
            max_restarts: default_max_restarts(),
            window: default_window(),
            backoff: BackoffSpec::default(),
            quarantine: default_quarantine(),
            stable_after: default_stable_after(),
        }
    }
}

fn default_max_restarts() -> u32 {
    5
}
fn default_window() -> Duration {
    Duration::from_secs(3600)
}
fn default_quarantine() -> Duration {
    Duration::from_secs(1800)
}

/// Exponential restart backoff.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackoffSpec {
    /// Delay before the first restart. Default: `1s`.
    #[serde(default = "default_backoff_initial")]
    pub initial: Duration,
    /// Longest delay between restarts. Default: `5m`.
    #[serde(default = "default_backoff_max")]
    pub max: Duration,
}

impl Default for BackoffSpec {
    fn default() -> Self {
        BackoffSpec { initial: default_backoff_initial(), max: default_backoff_max() }
    }
}

fn default_backoff_initial() -> Duration {
    Duration::from_secs(1)
}
fn default_backoff_max() -> Duration {
    Duration::from_secs(300)
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}
