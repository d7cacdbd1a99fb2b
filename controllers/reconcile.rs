//! One reconcile of an agent (and the sweeps around it): read the applied city and the live
//! sessions, plan with the pure planner, carry the plan out, record status and events.
//! Synchronous; the manager runs it on tokio's blocking pool, `gc apply --wait` and `gc stop`
//! call it directly.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::api::status::{AgentPhase, AgentStatus, Condition, ConditionType, SessionPhase};

use super::agent::{
    self, AgentInput, AgentPlan, Backoff, CrashLoop, DriftPolicy, SessionAction, StartBlock,
    StartReason, StopReason, Work,
};
use super::crash_ledger::{CrashLedger, CrashRecord};
use super::holds::Marks;
use super::launch::{self, Launch, meta};
use super::model::CityModel;
use crate::agentcli::conversation::{Continuation, Start, Why};
use crate::api::Kind;
use crate::api::agent::AgentSpec;
use crate::kept::Kept;
use crate::runtime::{Readiness, Runtime, SessionInfo, SharedListing};
use crate::store::{Store, StoreError};
use crate::work::demand::Demand;

/// How often a pool with a `scaleCheck` is looked at again when nothing else changes.
const SCALE_CHECK_EVERY: Duration = Duration::from_secs(10);

/// How many lines of a crashed session's output go into its `session.crashed` event.
const CRASH_TAIL_LINES: usize = 50;

/// Why a reconcile failed (it is retried).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The store could not be read or status not written.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The session runtime failed.
    #[error("{0}")]
    Runtime(#[from] crate::runtime::RuntimeError),
    /// Events or holds could not be read or written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A git command (clone, worktree) failed.
    #[error(transparent)]
    Git(#[from] super::git::GitError),
    /// A bead store could not be initialised.
    #[error(transparent)]
    Beads(#[from] crate::beads::BeadError),
    /// A session's worktree cannot be made (the message says why and what to do).
    #[error("{0}")]
    Worktree(String),
    /// The directory gc owns for a CLI's state cannot be prepared.
    #[error(transparent)]
    Home(#[from] crate::agentcli::home::HomeError),
}

/// How long the background sweeps keep one reading of the applied specs when nothing says
/// the store changed (the store watcher does; this is the net under it).
pub const SPECS_WINDOW: Duration = Duration::from_secs(30);

/// What the controllers share: where the city is and how sessions are run.
pub struct Context {
    /// The city directory.
    pub city_dir: PathBuf,
    /// Its store.
    pub store: Store,
    /// The session runtime (seen through [`Context::listing`]).
    pub runtime: Arc<dyn Runtime>,
    /// The same runtime, whose full listing a burst of reconciles can share.
    pub listing: Arc<SharedListing>,
    /// The applied resources as last read, shared the same way; the controller says when the
    /// store changed.
    pub models: Kept<Arc<CityModel>>,
    /// The applied resources without prompt templates, kept longer (until the store changes,
    /// or [`SPECS_WINDOW`]): for the background sweeps (leases, budgets), which run every few
    /// seconds and must not read the whole city each time.
    pub specs: Kept<Arc<CityModel>>,
    /// Restarts and quarantines per session, on disk so they outlive this controller.
    pub ledger: CrashLedger,
    /// Starts in the current second, against `controller.maxStartsPerSecond` across agents.
    starts: Mutex<(std::time::Instant, u32)>,
    /// Sessions this controller has seen up: one missing later died (a crash), while sessions
    /// stopped by `gc stop` before this controller started are simply started.
    pub seen_up: Mutex<BTreeSet<String>>,
    /// When each session was last known running (seen alive, or started by this
    /// controller): a holder that came back and went again between two lease sweeps counts as
    /// gone from its second going.
    pub last_running: Mutex<BTreeMap<String, SystemTime>>,
    /// The usage ledger as the budget watcher last read it (`None` until it has, or when no
    /// budget is declared): what agents' budgets are judged by.
    pub usage: Mutex<Option<Arc<crate::usage::ledger::Ledger>>>,
    /// Sessions already reported as not ready within the startup timeout.
    pub reported_unready: Mutex<BTreeSet<String>>,
    /// Dialogs answered (session, dialog) whose screen has not gone away since: not answered
    /// again while they still show (a CLI takes a moment to act on the key).
    pub answered_dialogs: Mutex<BTreeSet<(String, String)>>,
    /// The last failure of each agent's `scaleCheck` that was recorded as an event.
    pub failing_checks: Mutex<BTreeMap<String, String>>,
    /// Sessions already reported as belonging to no resource.
    pub reported_orphans: Mutex<BTreeSet<String>>,
    /// Worktrees already reported as kept, and worktree failures already reported.
    pub reported_worktrees: Mutex<BTreeSet<PathBuf>>,
    /// The last reconcile failure of each agent that was recorded as an event (cleared when
    /// a reconcile succeeds): a failure that repeats every retry is one event, not a flood.
    pub failing_reconciles: Mutex<BTreeMap<String, String>>,
    /// Notified when this controller started a session, so the observer lists the sessions
    /// and watches the new program's exit at once (see [`super::exit_watch`]).
    pub sessions_changed: Arc<tokio::sync::Notify>,
    /// Who the events are from.
    pub actor: String,
    /// Set for a dry run (`gc diff`): observing records no events (a failed `scaleCheck`) and
    /// creates no bead store. Only [`observe`] is meant to run with it.
    pub dry_run: bool,
}

impl Context {
    /// A context for the city in `city_dir` using `runtime`.
    pub fn new(city_dir: PathBuf, runtime: Arc<dyn Runtime>, actor: &str) -> Context {
        let listing = Arc::new(SharedListing::new(runtime));
        Context {
            store: Store::new(&city_dir),
            ledger: CrashLedger::new(&city_dir),
            city_dir,
            runtime: listing.clone(),
            listing,
            models: Kept::default(),
            specs: Kept::default(),
            starts: Mutex::new((std::time::Instant::now(), 0)),
            seen_up: Mutex::default(),
            last_running: Mutex::default(),
            usage: Mutex::default(),
            reported_unready: Mutex::default(),
            answered_dialogs: Mutex::default(),
            failing_checks: Mutex::default(),
            reported_orphans: Mutex::default(),
            reported_worktrees: Mutex::default(),
            failing_reconciles: Mutex::default(),
            sessions_changed: Arc::default(),
            actor: actor.to_owned(),
            dry_run: false,
        }
    }

    /// A context for the city in `city_dir` with the runtime its City selects (tmux on the
    /// City's socket by default). Session programs are started through this gc binary.
    pub fn for_city(city_dir: &std::path::Path, actor: &str) -> Result<Context, ReconcileError> {
        Ok(Context::with_model(city_dir, actor)?.0)
    }

    /// [`Context::for_city`], also handing back the applied city it read to choose the
    /// runtime (one read of the store instead of two).
    pub fn with_model(
        city_dir: &std::path::Path,
        actor: &str,
    ) -> Result<(Context, CityModel), ReconcileError> {
        let city_dir = std::path::absolute(city_dir)?;
        let model = CityModel::load(&city_dir, &Store::new(&city_dir))?;
        Ok((Context::new(city_dir.clone(), runtime_for(&model)?, actor), model))
    }

    /// Lets a burst of reconciles share one reading of the applied resources and one listing
    /// of the sessions for up to `window` (the controller; a one-shot command reads afresh).
    pub fn share_readings(&self, window: Duration) {
        self.listing.share_for(window);
        self.models.share_for(window);
        self.specs.share_for(window.max(SPECS_WINDOW));
    }

    /// The applied resources without prompt templates, for the background sweeps: kept until
    /// the store changes (see [`Context::specs`]).
    pub fn specs(&self) -> Result<Arc<CityModel>, StoreError> {
        self.specs.get_or_read(|| CityModel::load_specs(&self.city_dir, &self.store).map(Arc::new))
    }

    /// The applied resources with their prompt templates: a shared reading (see
    /// [`Context::share_readings`]) or a new one.
    pub fn model(&self) -> Result<Arc<CityModel>, StoreError> {
        self.models.get_or_read(|| CityModel::load(&self.city_dir, &self.store).map(Arc::new))
    }

    /// Takes one of the City's `maxStartsPerSecond` start permits of the current second;
    /// `false` when they are used up (the start waits for the next second). Always `true`
    /// without a limit.
    fn start_permit(&self, model: &CityModel) -> bool {
        let max = model.city_spec().controller.max_starts_per_second;
        if max == 0 {
            return true;
        }
        let mut starts = self.starts.lock().unwrap_or_else(|e| e.into_inner());
        if starts.0.elapsed() >= Duration::from_secs(1) {
            *starts = (std::time::Instant::now(), 0);
        }
        if starts.1 >= max {
            return false;
        }
        starts.1 += 1;
        true
    }

    /// Records `error` of reconciling `agent` as an `agent.reconcile_failed` event, unless it
    /// is the failure already recorded last.
    pub fn report_failure(&self, agent: &str, error: &ReconcileError) {
        let message = error.to_string();
        let mut failing = self.failing_reconciles.lock().unwrap_or_else(|e| e.into_inner());
        if failing.get(agent) == Some(&message) {
            return;
        }
        failing.insert(agent.to_owned(), message.clone());
        drop(failing);
        let payload = json!({"error": message});
        self.emit("agent.reconcile_failed", "ReconcileFailed", Some(agent), message, payload);
    }

    /// Notes that `sessions` run now (see [`Context::last_running`]).
    pub fn note_running<'a>(&self, sessions: impl IntoIterator<Item = &'a str>) {
        let now = SystemTime::now();
        let mut last = self.last_running.lock().unwrap_or_else(|e| e.into_inner());
        for session in sessions {
            last.insert(session.to_owned(), now);
        }
    }

    /// Forgets `agent`'s recorded failure: it reconciled.
    pub fn clear_failure(&self, agent: &str) {
        self.failing_reconciles.lock().unwrap_or_else(|e| e.into_inner()).remove(agent);
    }

    fn emit(
        &self,
        event_type: &str,
        reason: &str,
        agent: Option<&str>,
        message: String,
        payload: Value,
    ) {
        if self.dry_run {
            return;
        }
        let mut event = crate::events::Event::new(event_type, reason, message).payload(payload);
        if let Some(agent) = agent {
            event = event.object(Kind::Agent, agent);
        }
        if let Err(e) = crate::events::append(&self.city_dir, vec![event], &self.actor) {
            tracing::warn!("cannot record event {event_type}: {e}");
        }
    }
}

/// The session runtime the City selects.
pub fn runtime_for(model: &CityModel) -> Result<Arc<dyn Runtime>, ReconcileError> {
    use crate::api::city::SessionBackend;
    let launcher = std::env::current_exe()?;
    let state_dir = model.dir.join(".gc").join("sessions");
    Ok(match model.city_spec().session.backend {
        SessionBackend::Tmux => {
            Arc::new(crate::runtime::tmux::TmuxRuntime::new(model.socket(), launcher, state_dir))
        }
        SessionBackend::Subprocess => {
            Arc::new(crate::runtime::subprocess::SubprocessRuntime::new(state_dir, launcher))
        }
        SessionBackend::Kubernetes => {
            let context = crate::runtime::kubernetes::PodContext {
                city: model.city_name(),
                city_dir: model.dir.clone(),
                launcher,
            };
            let spec = model.city_spec().session.kubernetes;
            Arc::new(crate::runtime::KubernetesRuntime::new(context, spec.as_ref())?)
        }
        SessionBackend::Exec => {
            let Some(command) = model.city_spec().session.command.clone() else {
                return Err(ReconcileError::Runtime(crate::runtime::RuntimeError::InvalidConfig(
                    "session backend `exec` needs `session.command` (the script)".into(),
                )));
            };
            // Written relative to the city directory, like every path in a City.
            let command = model.dir.join(command);
            let timeout = model.city_spec().session.command_timeout.get();
            Arc::new(crate::runtime::ExecRuntime::new(command, model.dir.clone(), timeout))
        }
    })
}

/// Most agents reconciled at once (threads; each mostly waits on tmux). How many sessions
/// start per second is the City's `controller.maxStartsPerSecond`, not this.
pub const RECONCILE_PARALLEL: usize = 32;

/// What one pass did.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Actions carried out.
    pub actions: usize,
    /// Look again after this long.
    pub requeue_after: Option<Duration>,
}

/// What a pass read besides the applied city: the sessions, the marks on them, their crash
/// history, and the work and scale checks of the agents that scale by them.
#[derive(Clone, Debug, Default)]
pub struct World {
    /// The city's sessions.
    pub sessions: Vec<SessionInfo>,
    /// Sessions this controller saw up (one missing now died).
    pub was_up: BTreeSet<String>,
    /// Sessions stopped by a person.
    pub held: BTreeSet<String>,
    /// Sessions stopped for idleness.
    pub idle: BTreeSet<String>,
    /// Sessions a fresh conversation was asked for.
    pub fresh: BTreeSet<String>,
    /// The recorded conversation of each session.
    pub conversations: BTreeMap<String, crate::agentcli::conversation::Conversation>,
    /// Crash history per session.
    pub crashes: BTreeMap<String, CrashRecord>,
    /// Work per agent, for pools and agents with an `idleTimeout` (absent: not readable).
    pub work: BTreeMap<String, Demand>,
    /// `scaleCheck` answers per agent.
    pub checks: BTreeMap<String, Result<u32, String>>,
    /// Per agent with a budget (its own or the City's): where it stands, and what its
    /// sessions' hooks say about their turns.
    pub budgets: BTreeMap<String, agent::Budget>,
}

/// Whether `agent` scales by work (a pool without `scaleCheck`) or stops when idle: its work
/// is read each pass.
fn needs_work(spec: &AgentSpec) -> bool {
    match &spec.scaling {
        Some(scaling) => scaling.scale_check.is_none(),
        None => spec.idle_timeout.is_some(),
    }
}

/// Reads the world for `agents`: sessions, marks and crash history, plus the bead-store work
/// and `scaleCheck` answers of those that need them. A store that cannot be read, or a check
/// that fails, is recorded as an event and planned around (a pool falls back to its `min`).
pub fn observe(ctx: &Context, model: &CityModel, agents: &[&str]) -> Result<World, ReconcileError> {
    observe_with(ctx, model, agents, ctx.listing.list_shared(&model.session_prefix())?)
}

/// [`observe`] with the city's sessions as the caller just listed them.
fn observe_with(
    ctx: &Context,
    model: &CityModel,
    agents: &[&str],
    sessions: Vec<SessionInfo>,
) -> Result<World, ReconcileError> {
    let mut world = World {
        sessions,
        was_up: ctx.seen_up.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        held: super::holds::held(&ctx.city_dir)?,
        idle: Marks::idle(&ctx.city_dir).all()?,
        fresh: Marks::fresh(&ctx.city_dir).all()?,
        conversations: conversations_of(ctx, model, agents),
        crashes: crash_histories(ctx),
        ..World::default()
    };
    let usage = ctx.usage.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for agent in agents {
        let Some(applied) = model.agents.get(*agent) else { continue };
        if let Some(budget) = budget_of(ctx, model, usage.as_deref(), &world.sessions, agent) {
            world.budgets.insert((*agent).to_owned(), budget);
        }
        if needs_work(&applied.spec) {
            let read = if ctx.dry_run {
                crate::work::demand::demand_if_present
            } else {
                crate::work::demand::demand_of
            };
            match read(model, agent) {
                Ok(work) => {
                    world.work.insert((*agent).to_owned(), work);
                }
                Err(e) => tracing::warn!("agent/{agent}: cannot read its work: {e}"),
            }
        }
        if let Some(scaling) = &applied.spec.scaling
            && let Some(command) = &scaling.scale_check
        {
            let result =
                run_scale_check(ctx, model, agent, command, scaling.scale_check_timeout.get());
            world.checks.insert((*agent).to_owned(), result);
        }
    }
    Ok(world)
}

/// Where `agent`'s budget stands, with its sessions' turns when it is used up (they stop as
/// their turn ends).
fn budget_of(
    ctx: &Context,
    model: &CityModel,
    usage: Option<&crate::usage::ledger::Ledger>,
    sessions: &[SessionInfo],
    agent: &str,
) -> Option<agent::Budget> {
    use super::turn::Turn;
    let (standing, scope) = super::budget_watch::standing_of(usage, &ctx.city_dir, model, agent)?;
    let exceeded = standing.level == super::budget::Level::Exceeded;
    let mut budget = agent::Budget {
        exceeded,
        near_limit: standing.level >= super::budget::Level::Warning,
        message: format!("{} ({})", scope.describe(), standing.message),
        until: Some(standing.end.into()),
        ..agent::Budget::default()
    };
    if exceeded {
        let now = SystemTime::now();
        for session in sessions_of(model, sessions, agent) {
            match super::turn::read(&ctx.city_dir, &session.name) {
                Turn::Unknown => {}
                turn => {
                    budget.turns_reported.insert(session.name.clone());
                    if turn.holds_nudges(now) {
                        budget.in_turn.insert(session.name.clone());
                    }
                }
            }
        }
    }
    Some(budget)
}

/// The recorded conversations of `agents`' sessions — only of agents whose provider names
/// conversations, and not every record for every agent of a pass.
fn conversations_of(
    ctx: &Context,
    model: &CityModel,
    agents: &[&str],
) -> BTreeMap<String, crate::agentcli::conversation::Conversation> {
    let default = model.city_spec().default_provider;
    let naming: Vec<&str> = agents
        .iter()
        .copied()
        .filter(|agent| {
            let Some(applied) = model.agents.get(*agent) else { return false };
            let provider = applied.spec.provider.as_ref().or(default.as_ref());
            provider
                .and_then(|p| model.providers.get(p))
                .is_some_and(|p| p.spec.conversation.is_some())
        })
        .collect();
    if naming.is_empty() {
        return BTreeMap::new();
    }
    let city = model.city_name();
    crate::agentcli::conversation::load_where(&ctx.city_dir, |session| {
        naming.iter().any(|agent| launch::is_session_of(&city, agent, session))
    })
}

/// The crash ledger as the planner reads it (a ledger that cannot be read is empty: restarts
/// then start from a clean slate rather than stop).
fn crash_histories(ctx: &Context) -> BTreeMap<String, CrashRecord> {
    ctx.ledger.load().unwrap_or_else(|e| {
        tracing::warn!("cannot read the crash ledger: {e}");
        BTreeMap::new()
    })
}

/// Runs `agent`'s `scaleCheck` in the city directory; a failure is recorded as an event.
fn run_scale_check(
    ctx: &Context,
    model: &CityModel,
    agent: &str,
    command: &str,
    timeout: Duration,
) -> Result<u32, String> {
    let env = BTreeMap::from([
        ("GC_CITY".to_owned(), model.dir.to_string_lossy().into_owned()),
        ("GC_CITY_NAME".to_owned(), model.city_name()),
        ("GC_AGENT".to_owned(), agent.to_owned()),
    ]);
    let result = super::scale_check::run(command, &model.dir, &env, timeout);
    let mut failing = ctx.failing_checks.lock().unwrap_or_else(|e| e.into_inner());
    result
        .map_err(|e| {
            let message = e.to_string();
            // Once per failure, not once per pass: a broken check must not flood the log.
            if failing.insert(agent.to_owned(), message.clone()).as_ref() == Some(&message) {
                return message;
            }
            ctx.emit(
                "agent.scale_check_failed",
                "ScaleCheckFailed",
                Some(agent),
                format!("scaleCheck of {agent} failed: {message}; using scaling.min"),
                json!({"command": command, "error": message}),
            );
            message
        })
        .inspect(|_| {
            failing.remove(agent);
        })
}

/// The sessions of the city that belong to `agent`: by name, or by their `agent` metadata.
fn sessions_of<'a>(
    model: &CityModel,
    observed: &'a [SessionInfo],
    agent: &str,
) -> Vec<&'a SessionInfo> {
    let city = model.city_name();
    observed
        .iter()
        .filter(|s| match s.meta.get(meta::AGENT) {
            Some(owner) => owner == agent,
            None => launch::is_session_of(&city, agent, &s.name),
        })
        .collect()
}

/// The sessions [`plan_agent`] looks at for `agent`: its own and its dependents'.
fn sessions_planned_with(
    model: &CityModel,
    observed: &[SessionInfo],
    agent: &str,
) -> Vec<SessionInfo> {
    let dependents = model
        .agents
        .iter()
        .filter(|(_, a)| a.spec.depends_on.iter().any(|d| d == agent))
        .map(|(name, _)| name.as_str());
    std::iter::once(agent)
        .chain(dependents)
        .flat_map(|owner| sessions_of(model, observed, owner))
        .cloned()
        .collect()
}

/// Why `agent` runs no sessions on purpose, if it does not.
fn off_reason(model: &CityModel, agent: &str) -> Option<&'static str> {
    match model.agents.get(agent) {
        None => Some("Deleted"),
        Some(_) if model.city_spec().suspended => Some("CitySuspended"),
        Some(a) if a.spec.suspended => Some("Suspended"),
        Some(_) if rig_suspended(model, agent) => Some("RigSuspended"),
        Some(_) => None,
    }
}

/// Whether `agent` is up enough for agents depending on it to start: off agents hold nobody
/// up; otherwise at least its minimum of sessions (1, a pool's `min`, 0 when it was stopped
/// for idleness) runs and is ready.
fn is_ready(model: &CityModel, world: &World, agent: &str) -> bool {
    let Some(applied) = model.agents.get(agent) else { return true };
    if off_reason(model, agent).is_some() {
        return true;
    }
    let city = model.city_name();
    let required = match &applied.spec.scaling {
        Some(scaling) => scaling.min as usize,
        None if world.idle.contains(&launch::session_name(&city, agent, 0)) => 0,
        None => 1,
    };
    let ready = sessions_of(model, &world.sessions, agent)
        .iter()
        .filter(|s| s.alive && s.meta.get(meta::READY).is_some_and(|v| v == "1"))
        .count();
    ready >= required
}

/// Whether the rig `agent` works on is suspended.
fn rig_suspended(model: &CityModel, agent: &str) -> bool {
    let rig = model.agents.get(agent).and_then(|a| a.spec.rig.as_ref());
    rig.and_then(|r| model.rigs.get(r)).is_some_and(|r| r.spec.suspended)
}

/// Whether `agent`'s sessions can start now, from what is on disk: its provider's command is
/// installed (a missing CLI is a condition naming it and how to install it, not a crash
/// loop), and its rig's path is a directory, its bead store is initialised (so `bd` works from
/// the first moment), and, for worktree isolation, it is a git repository. Agents without a
/// rig (or whose rig or provider is not applied, which their launch reports) are never
/// blocked by it.
pub fn start_gate(model: &CityModel, agent: &str) -> Result<(), StartBlock> {
    let Some(applied) = model.agents.get(agent) else { return Ok(()) };
    let provider = applied.spec.provider.clone().or_else(|| model.city_spec().default_provider);
    if let Some((name, provider)) =
        provider.as_ref().and_then(|name| Some((name, &model.providers.get(name)?.spec)))
        && super::provider::resolve(&model.dir, &provider.command).is_none()
    {
        return Err(StartBlock {
            reason: "CommandNotFound",
            message: super::provider::missing_message(name, provider),
        });
    }
    let Some(name) = &applied.spec.rig else { return Ok(()) };
    let Some(rig) = model.rigs.get(name) else { return Ok(()) };
    let dir = model.rig_dir(&rig.spec);
    let see = format!("(`gc describe rig/{name}` says more)");
    if !dir.is_dir() {
        return Err(StartBlock {
            reason: "RigPathMissing",
            message: format!("rig `{name}`: {} is not a directory {see}", dir.display()),
        });
    }
    let store = crate::beads::layout::rig_beads_dir(&dir);
    if !store.join(crate::beads::layout::CONFIG_FILE).is_file() {
        return Err(StartBlock {
            reason: "RigStoreMissing",
            message: format!(
                "rig `{name}`: its bead store {} is not initialised yet {see}",
                store.display()
            ),
        });
    }
    if applied.spec.isolation == crate::api::agent::Isolation::Worktree
        && !super::git::is_repo(&dir)
    {
        return Err(StartBlock {
            reason: "RigNotGitRepo",
            message: format!(
                "rig `{name}`: {} is not the top of a git repository, which isolation: \
                 worktree needs {see}",
                dir.display()
            ),
        });
    }
    Ok(())
}

/// A pool near its budget's limit spends what is left with the members it has: it grows no
/// further (members already running are kept, so their work is not cut short).
fn within_budget(
    mut want: agent::PoolWant,
    budget: Option<&agent::Budget>,
    observed: &[&SessionInfo],
) -> agent::PoolWant {
    let Some(budget) = budget.filter(|b| b.near_limit && !b.exceeded) else { return want };
    let running = observed.iter().filter(|s| s.alive).count() as u32;
    if want.wanted > running {
        want.why = format!("{}; held at {running} running: {}", want.why, budget.message);
        want.wanted = running;
    }
    want
}

/// Plans `agent` against what `world` observed (pure, given the model and the rig gate): pool
/// size and members, work, dependencies and the City's crash-loop policy are worked out here,
/// the decisions are [`agent::plan`]'s.
pub fn plan_agent(
    model: &CityModel,
    world: &World,
    agent: &str,
    rig: Result<(), StartBlock>,
    now: SystemTime,
) -> AgentPlan {
    let city = model.city_spec();
    let city_name = model.city_name();
    let applied = model.agents.get(agent);
    let off = off_reason(model, agent);
    let observed = sessions_of(model, &world.sessions, agent);
    let work = world.work.get(agent);
    // Members holding in-progress beads, by index (`agent` is 0, `agent-<n>` is n).
    let busy: BTreeSet<u32> = work
        .map(|w| {
            w.busy
                .keys()
                .filter_map(|actor| {
                    launch::member_index(&city_name, agent, &format!("gc-{city_name}-{actor}"))
                })
                .collect()
        })
        .unwrap_or_default();
    let scaling = applied.and_then(|a| a.spec.scaling.as_ref());
    let pool = scaling.map(|s| {
        let want = super::pool::want(s, world.checks.get(agent), work);
        within_budget(want, world.budgets.get(agent), &observed)
    });
    let members = match &pool {
        Some(want) => {
            let existing: Vec<(u32, bool)> = observed
                .iter()
                .filter_map(|s| Some((launch::member_index(&city_name, agent, &s.name)?, s.alive)))
                .collect();
            let quarantined: BTreeSet<u32> = world
                .crashes
                .iter()
                .filter(|(_, history)| history.quarantined_until.is_some_and(|u| u > now))
                .filter_map(|(session, _)| launch::member_index(&city_name, agent, session))
                .collect();
            let max = scaling.map_or(1, |s| s.max.max(s.min));
            super::pool::members(&existing, &busy, &quarantined, want.wanted, max)
        }
        None => vec![0],
    };
    let launches = launch::launches(model, agent, &members).map_err(|e| e.to_string());
    let dependencies = applied
        .map(|a| a.spec.depends_on.clone())
        .unwrap_or_default()
        .into_iter()
        .find(|dep| !is_ready(model, world, dep))
        .map_or(Ok(()), Err);
    // Stop order is start order reversed: while both are being turned off, an agent waits for
    // those depending on it.
    let dependent_up = off.and_then(|_| {
        model
            .agents
            .iter()
            .filter(|(_, a)| a.spec.depends_on.iter().any(|d| d == agent))
            .map(|(name, _)| name)
            .find(|name| {
                off_reason(model, name).is_some()
                    && sessions_of(model, &world.sessions, name).iter().any(|s| s.alive)
            })
            .cloned()
    });
    let crash_loop = &city.controller.crash_loop;
    let conversation_policy = applied.map(|a| a.spec.conversation.clone()).unwrap_or_default();
    let policy = applied.map(|a| a.spec.restart_policy.clone()).unwrap_or_default();
    let input = AgentInput {
        name: agent,
        generation: applied.map_or(0, |a| a.generation),
        off,
        dependent_up,
        launches,
        pool,
        drift: DriftPolicy { on_drift: policy.on_drift, quiet_period: policy.quiet_period.get() },
        idle_timeout: applied.and_then(|a| a.spec.idle_timeout).map(|d| d.get()),
        observed,
        was_up: &world.was_up,
        held: &world.held,
        idle: &world.idle,
        fresh: &world.fresh,
        conversations: &world.conversations,
        conversation_policy: &conversation_policy,
        work: Work {
            ready: work.is_some_and(|w| w.ready > 0),
            busy: busy.iter().map(|i| launch::session_name(&city_name, agent, *i)).collect(),
        },
        dependencies,
        gate: rig,
        crashes: &world.crashes,
        crash_loop: CrashLoop {
            backoff: Backoff {
                initial: crash_loop.backoff.initial.get(),
                max: crash_loop.backoff.max.get(),
                window: crash_loop.window.get(),
            },
            max_restarts: crash_loop.max_restarts,
            quarantine: crash_loop.quarantine.get(),
            stable_after: crash_loop.stable_after.get(),
        },
        max_starts: city.controller.max_starts_per_second as usize,
        budget: world.budgets.get(agent),
        session_room: city.max_active_sessions.map(|max| {
            let running = world
                .sessions
                .iter()
                .filter(|s| s.alive && s.meta.contains_key(meta::AGENT))
                .count();
            (max as usize).saturating_sub(running)
        }),
        now,
    };
    agent::plan(&input)
}

/// Reconciles one agent: plan, act, record. Deleted agents have their sessions stopped and
/// their status removed.
pub fn reconcile_agent(ctx: &Context, agent: &str) -> Result<Outcome, ReconcileError> {
    let model = ctx.model()?;
    Ok(reconcile_agent_in(ctx, &model, agent, None)?.outcome)
}

/// [`reconcile_agent`] against an already loaded model (one load serves a whole pass).
///
/// With `listed` (a wave of [`reconcile_all`]), the sessions come from the wave's listing,
/// and the status of an agent that acted is left to the caller ([`Reconciled::after`]), which
/// records all of them from one listing once the wave is done.
fn reconcile_agent_in(
    ctx: &Context,
    model: &CityModel,
    agent: &str,
    listed: Option<&[SessionInfo]>,
) -> Result<Reconciled, ReconcileError> {
    if let Some(why) = model.held_by_damage(agent) {
        record_held(ctx, agent, &why)?;
        return Ok(Reconciled { outcome: Outcome::default(), after: None });
    }
    let world = match listed {
        Some(sessions) => observe_with(ctx, model, &[agent], sessions.to_vec())?,
        None => observe(ctx, model, &[agent])?,
    };
    let gate = start_gate(model, agent);
    let plan = plan_agent(model, &world, agent, gate.clone(), SystemTime::now());
    let actions = plan.actions.len();
    if actions > 0 && model.agents.contains_key(agent) {
        // Show what is under way while it happens (a start may wait for readiness). Without
        // `observedInputs`: it is not the outcome of these inputs yet.
        ctx.store.put_status(Kind::Agent, agent, &plan.status)?;
    }
    for session in &plan.forget_crashes {
        ctx.ledger.forget(session)?;
    }
    let mut requeue_after = plan.requeue_after;
    if model
        .agents
        .get(agent)
        .and_then(|a| a.spec.scaling.as_ref())
        .is_some_and(|s| s.scale_check.is_some())
    {
        // Nothing tells the controller that a scale check's answer changed: ask again soon.
        requeue_after = Some(requeue_after.map_or(SCALE_CHECK_EVERY, |r| r.min(SCALE_CHECK_EVERY)));
    }
    for action in &plan.actions {
        if let Some(again) = execute(ctx, model, agent, action)? {
            requeue_after = Some(requeue_after.map_or(again, |r| r.min(again)));
        }
    }
    let outcome = Outcome { actions, requeue_after };
    if !model.agents.contains_key(agent) {
        ctx.store.delete_status(Kind::Agent, agent)?;
        return Ok(Reconciled { outcome, after: None });
    }
    if actions == 0 {
        record_status(ctx, model, agent, plan.status)?;
        return Ok(Reconciled { outcome, after: None });
    }
    let after = AfterActions { agent: agent.to_owned(), world, gate };
    if listed.is_some() {
        return Ok(Reconciled { outcome, after: Some(after) });
    }
    let sessions = ctx.runtime.list(&model.session_prefix())?;
    after.record(ctx, model, sessions)?;
    Ok(Reconciled { outcome, after: None })
}

/// Marks the recorded status of an agent held by a damaged object `Degraded`, saying why; its
/// sessions and their recorded phases are left as they are.
fn record_held(ctx: &Context, agent: &str, why: &str) -> Result<(), ReconcileError> {
    let Some(mut status) = ctx.store.status::<AgentStatus>(Kind::Agent, agent).ok().flatten()
    else {
        return Ok(());
    };
    status.phase = AgentPhase::Degraded;
    let message = format!("left as it runs until repaired: {why}");
    status.conditions.retain(|c| c.kind != ConditionType::Degraded);
    status.conditions.push(Condition::new(ConditionType::Degraded, true, "Unreadable", message));
    ctx.store.put_status(Kind::Agent, agent, &status)?;
    Ok(())
}

/// What one agent's reconcile did, and what is left to record.
struct Reconciled {
    outcome: Outcome,
    /// The status still to record, from a listing taken after the actions.
    after: Option<AfterActions>,
}

/// An agent that acted, whose status is recorded from a listing taken after its actions.
struct AfterActions {
    agent: String,
    world: World,
    gate: Result<(), StartBlock>,
}

impl AfterActions {
    /// Records what the actions led to, not what was seen before them.
    fn record(
        self,
        ctx: &Context,
        model: &CityModel,
        sessions: Vec<SessionInfo>,
    ) -> Result<(), ReconcileError> {
        let mut world = self.world;
        world.sessions = sessions;
        world.was_up = BTreeSet::new();
        world.idle = Marks::idle(&ctx.city_dir).all()?;
        world.crashes = crash_histories(ctx);
        let status = plan_agent(model, &world, &self.agent, self.gate, SystemTime::now()).status;
        record_status(ctx, model, &self.agent, status)
    }
}

/// Writes `agent`'s status with the inputs it is the outcome of.
fn record_status(
    ctx: &Context,
    model: &CityModel,
    agent: &str,
    mut status: AgentStatus,
) -> Result<(), ReconcileError> {
    status.observed_inputs = Some(model.inputs_of(agent));
    ctx.store.put_status(Kind::Agent, agent, &status)?;
    remember_up(ctx, &status);
    Ok(())
}

/// Records which of the agent's sessions its new status shows up, and forgets the others.
fn remember_up(ctx: &Context, status: &AgentStatus) {
    let mut seen = ctx.seen_up.lock().unwrap_or_else(|e| e.into_inner());
    for row in &status.sessions {
        match row.phase {
            SessionPhase::Running
            | SessionPhase::Drifted
            | SessionPhase::Starting
            | SessionPhase::Restarting
            | SessionPhase::Blocked => seen.insert(row.name.clone()),
            _ => seen.remove(&row.name),
        };
    }
}

/// Forgets that `session` was seen up, once this controller stopped or removed it on purpose:
/// when it is started again later (the agent resumed, re-created or scaled back up), that is
/// a first start, not a restart after a crash.
fn forget_up(ctx: &Context, session: &str) {
    ctx.seen_up.lock().unwrap_or_else(|e| e.into_inner()).remove(session);
}

fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Carries out one planned action; returns when to look again if the action is not finished
/// (a session not ready yet, or no start permit left in this second).
fn execute(
    ctx: &Context,
    model: &CityModel,
    agent: &str,
    action: &SessionAction,
) -> Result<Option<Duration>, ReconcileError> {
    let rt = &ctx.runtime;
    match action {
        SessionAction::Start { launch, reason, conversation, .. } => {
            if !ctx.start_permit(model) {
                return Ok(Some(Duration::from_secs(1)));
            }
            if let StartReason::Crashed(code) = reason {
                let tail = rt.peek(&launch.session, CRASH_TAIL_LINES).unwrap_or_default();
                ctx.emit(
                    "session.crashed",
                    "ProcessExited",
                    Some(agent),
                    format!(
                        "{} exited (status {}); restarting",
                        launch.session,
                        code.map_or("unknown".into(), |c| c.to_string())
                    ),
                    json!({"session": launch.session, "exitStatus": code, "output": tail}),
                );
                ctx.ledger.record_restart(&launch.session, SystemTime::now())?;
            }
            return start(ctx, model, agent, launch, *reason, conversation.as_ref());
        }
        SessionAction::Restart { launch, instance, changed, policy, conversation } => {
            let payload = json!({"session": launch.session, "changed": changed,
                                 "policy": format!("{policy:?}")});
            let restart = Restart { launch, instance: instance.as_ref(), conversation, payload };
            let reasons = ("ConfigDrift", "RestartedForDrift");
            return restart_session(ctx, model, agent, action, restart, reasons);
        }
        SessionAction::RestartFresh { launch, instance, conversation } => {
            let payload = json!({"session": launch.session, "fresh": true});
            let restart = Restart { launch, instance: instance.as_ref(), conversation, payload };
            let reasons = ("FreshConversation", "RestartedFresh");
            return restart_session(ctx, model, agent, action, restart, reasons);
        }
        SessionAction::Stop { session, instance, reason, .. } => {
            if *reason == StopReason::ScaledDown && claimed_since_planned(model, agent, session) {
                // The plan saw this member idle, but it has claimed work since: stopping it
                // now would interrupt that work. The next pass sees it busy and keeps it.
                return Ok(Some(Duration::from_millis(100)));
            }
            if !fenced_stop(ctx, model, session, instance.as_ref())? {
                return Ok(None);
            }
            forget_up(ctx, session);
            if *reason == StopReason::IdleTimeout {
                Marks::idle(&ctx.city_dir).set(session)?;
            }
            ctx.emit(
                "session.stopped",
                reason.word(),
                Some(agent),
                action.describe().replacen("stop", "stopped", 1),
                json!({"session": session}),
            );
        }
        SessionAction::Remove { session } => {
            rt.stop(session, Duration::ZERO)?;
            forget_up(ctx, session);
        }
        SessionAction::AwaitReady { launch } => {
            return await_ready(ctx, model, agent, launch, Duration::ZERO);
        }
        SessionAction::Quarantine { session, until, reason } => {
            let tail = rt.peek(session, CRASH_TAIL_LINES).unwrap_or_default();
            let now = SystemTime::now();
            ctx.ledger.quarantine(session, now, *until, reason)?;
            let until = chrono::DateTime::<chrono::Utc>::from(*until)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            ctx.emit(
                "session.quarantined",
                "CrashLoop",
                Some(agent),
                format!(
                    "{session} quarantined until {until} ({reason}); `gc session reset {session}` \
                     lifts it"
                ),
                json!({"session": session, "until": until, "reason": reason, "output": tail}),
            );
        }
    }
    Ok(None)
}

/// Whether pool member `session` of `agent` holds in-progress work now, read afresh from the
/// store just before a scale-down stops it (a claim can land between the pass's observation
/// and the stop). A store that cannot be read counts as not busy: the plan stands.
fn claimed_since_planned(model: &CityModel, agent: &str, session: &str) -> bool {
    let Some(actor) = session.strip_prefix(&format!("gc-{}-", model.city_name())) else {
        return false;
    };
    crate::work::demand::demand_of(model, agent).is_ok_and(|work| work.busy.contains_key(actor))
}

/// A live session to stop and start anew, as a restart action says.
struct Restart<'a> {
    launch: &'a Launch,
    instance: Option<&'a String>,
    conversation: &'a Option<Continuation>,
    payload: Value,
}

/// Carries out a restart (for drift, or for a fresh conversation): a start permit, the
/// fenced stop, a `session.restarted` event with the first of `reasons`, the start (its
/// `session.started` with the second).
fn restart_session(
    ctx: &Context,
    model: &CityModel,
    agent: &str,
    action: &SessionAction,
    restart: Restart<'_>,
    (reason, why): (&str, &str),
) -> Result<Option<Duration>, ReconcileError> {
    if !ctx.start_permit(model) {
        return Ok(Some(Duration::from_secs(1)));
    }
    if !fenced_stop(ctx, model, &restart.launch.session, restart.instance)? {
        return Ok(None);
    }
    ctx.emit("session.restarted", reason, Some(agent), action.describe(), restart.payload);
    start_session(ctx, model, agent, restart.launch, why, restart.conversation.as_ref())
}

/// Stops `session` if it is still the incarnation `instance` planned against. Returns whether
/// it stopped (a session started anew since is left alone).
fn fenced_stop(
    ctx: &Context,
    model: &CityModel,
    session: &str,
    instance: Option<&String>,
) -> Result<bool, ReconcileError> {
    let live = ctx.runtime.get_meta(session, meta::INSTANCE).ok().flatten();
    if live.is_some() && live.as_ref() != instance {
        return Ok(false);
    }
    let grace = model.city_spec().controller.shutdown_timeout.get();
    ctx.runtime.stop(session, grace)?;
    Ok(true)
}

fn start(
    ctx: &Context,
    model: &CityModel,
    agent: &str,
    launch: &Launch,
    reason: StartReason,
    conversation: Option<&Continuation>,
) -> Result<Option<Duration>, ReconcileError> {
    let why = match reason {
        StartReason::NotRunning => "Started",
        StartReason::Crashed(_) => "Restarted",
        StartReason::ScaledUp => "ScaledUp",
        StartReason::WorkArrived => "WorkArrived",
    };
    start_session(ctx, model, agent, launch, why, conversation)
}

/// Starts `launch` with gc's metadata (fingerprint and its fields recorded at the start, a
/// new instance token) and its conversation as planned, records `session.started` with `why`,
/// and waits briefly for readiness.
fn start_session(
    ctx: &Context,
    model: &CityModel,
    agent: &str,
    launch: &Launch,
    why: &str,
    planned: Option<&Continuation>,
) -> Result<Option<Duration>, ReconcileError> {
    if let Some(tree) = &launch.worktree {
        prepare_worktree(ctx, agent, tree)?;
    }
    std::fs::create_dir_all(&launch.work_dir)?;
    let applied = model.agents.get(agent);
    let (conversation, conversation_why) = start_conversation(ctx, agent, launch, planned)?;
    let env = crate::agentcli::env::build(&launch.env, &launch.pass_env, std::env::vars());
    prepare_home(launch, agent, &env)?;
    let meta = BTreeMap::from([
        (meta::AGENT.to_owned(), agent.to_owned()),
        (meta::AGENT_UID.to_owned(), applied.map(|a| a.uid.clone()).unwrap_or_default()),
        (meta::GENERATION.to_owned(), applied.map_or(0, |a| a.generation).to_string()),
        (meta::FINGERPRINT.to_owned(), launch.fingerprint.clone()),
        (meta::LAUNCH_FIELDS.to_owned(), launch::encode_fields(&launch::launch_fields(launch))),
        (meta::INSTANCE.to_owned(), uuid::Uuid::new_v4().to_string()),
        (meta::CONVERSATION.to_owned(), conversation.meta()),
    ]);
    let args = conversation.args(launch.conversation.as_ref());
    let mut config = launch.config(&model.city_name(), &now_text(), &args, meta);
    // A session pod's environment is its container's (the image's, the Secret's) plus what
    // the launch declares: nothing of gc's own environment goes into a pod spec.
    if launch.pod.is_none() {
        config.env = env;
        config.clean_env = true;
    }
    match ctx.runtime.start(&config) {
        Ok(()) => {}
        // Someone else (a previous pass) started it: nothing to do.
        Err(crate::runtime::RuntimeError::Exists(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    ctx.sessions_changed.notify_one();
    ctx.note_running([launch.session.as_str()]);
    Marks::idle(&ctx.city_dir).clear(&launch.session)?;
    Marks::fresh(&ctx.city_dir).clear(&launch.session)?;
    let said = match (&conversation, &conversation_why) {
        (Start::Resume(id), why) => format!(", resuming conversation {id} ({})", why.describe()),
        (Start::New(Some(id)), Why::NothingToResume) => format!(", new conversation {id}"),
        (Start::New(Some(id)), why) => format!(", new conversation {id} ({})", why.describe()),
        (Start::New(None), Why::NothingToResume) => String::new(),
        (Start::New(None), why) => format!(", new conversation ({})", why.describe()),
    };
    ctx.emit(
        "session.started",
        why,
        Some(agent),
        format!("started {} in {}{said}", launch.session, launch.work_dir.display()),
        json!({"session": launch.session, "fingerprint": launch.fingerprint,
               "conversation": conversation.meta()}),
    );
    // Most programs are ready at once: look for a moment before handing over to requeues.
    await_ready(ctx, model, agent, launch, QUICK_READY_WAIT)
}

/// How the session's conversation starts (see [`crate::agentcli::conversation::plan`]); a
/// new id gc chose is recorded before the start, a record the CLI will replace is dropped.
fn start_conversation(
    ctx: &Context,
    agent: &str,
    launch: &Launch,
    planned: Option<&Continuation>,
) -> Result<(Start, Why), ReconcileError> {
    use crate::agentcli::conversation::{self, Conversation};
    let Some(planned) = planned else { return Ok((Start::New(None), Why::NothingToResume)) };
    let spec = launch.conversation.as_ref();
    let start = planned.decision.start(spec, uuid::Uuid::new_v4().to_string());
    if planned.why == Why::ResumeFailed
        && let Some(old) = conversation::load(&ctx.city_dir, &launch.session)
    {
        ctx.emit(
            "session.resume_failed",
            "ResumeFailed",
            Some(agent),
            format!(
                "{} exited after resuming conversation {}; starting a fresh one",
                launch.session, old.id
            ),
            json!({"session": launch.session, "conversation": old.id}),
        );
    }
    match &start {
        Start::New(Some(id)) => {
            let record = Conversation {
                id: id.clone(),
                provider: launch.provider.clone(),
                started: conversation::now(),
            };
            conversation::save(&ctx.city_dir, &launch.session, &record)?;
        }
        Start::New(None) => {
            // The CLI picks the id; the SessionStart hook records it.
            let _ = std::fs::remove_file(conversation::path(&ctx.city_dir, &launch.session));
        }
        Start::Resume(_) => {}
    }
    Ok((start, planned.why.clone()))
}

/// Prepares the directory gc owns for the session's CLI: links, seeds, hooks file, and the
/// agent's skills, commands and MCP servers.
fn prepare_home(
    launch: &Launch,
    agent: &str,
    env: &BTreeMap<String, String>,
) -> Result<(), ReconcileError> {
    use crate::agentcli::home;
    let Some((dir, spec)) = &launch.home else { return Ok(()) };
    let seed = home::SeedContext {
        work_dir: launch.work_dir.to_string_lossy().into_owned(),
        home: dir.to_string_lossy().into_owned(),
        user_home: env.get("HOME").cloned().unwrap_or_default(),
        session: launch.session.clone(),
        agent: agent.to_owned(),
        env: env.clone(),
    };
    // Hooks run this gc: the one starting the session.
    let gc = std::env::current_exe()?;
    let hooks = launch.hooks.as_ref().map(|h| (h.file.as_str(), home::hooks_file(h, &gc)));
    home::prepare(dir, spec, hooks.as_ref().map(|(f, c)| (*f, c)), &seed)?;
    crate::agentcli::home_content::materialise(dir, spec, &launch.content, env)?;
    Ok(())
}

/// Creates the session's worktree if needed, recording it; a failure is recorded once (it is
/// retried with the reconcile) and stops the start.
fn prepare_worktree(
    ctx: &Context,
    agent: &str,
    tree: &launch::Worktree,
) -> Result<(), ReconcileError> {
    match super::worktree::ensure(tree) {
        Ok(created) => {
            ctx.reported_worktrees.lock().unwrap_or_else(|e| e.into_inner()).remove(&tree.path);
            if created {
                ctx.emit(
                    "worktree.created",
                    "Created",
                    Some(agent),
                    format!(
                        "created worktree {} on branch {} of rig {}",
                        tree.path.display(),
                        tree.branch,
                        tree.rig
                    ),
                    json!({"path": tree.path.display().to_string(), "branch": tree.branch, "rig": tree.rig}),
                );
            }
            Ok(())
        }
        Err(e) => {
            let first = ctx
                .reported_worktrees
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(tree.path.clone());
            if first {
                ctx.emit(
                    "worktree.failed",
                    "WorktreeFailed",
                    Some(agent),
                    format!("cannot create worktree {}: {e}", tree.path.display()),
                    json!({"path": tree.path.display().to_string(), "branch": tree.branch, "rig": tree.rig}),
                );
            }
            Err(e)
        }
    }
}

/// How long a start waits for readiness before the reconcile ends and looks again later.
const QUICK_READY_WAIT: Duration = Duration::from_secs(2);

/// How often a session not yet ready is looked at.
const READY_RECHECK: Duration = Duration::from_millis(200);

/// How long a screen must stay unchanged, past the startup timeout, before the session counts
/// as stopped at it (`Blocked`) rather than still starting.
const BLOCKED_QUIET: Duration = Duration::from_secs(3);

/// How many lines of a blocked session's screen its status and event carry.
const BLOCKED_LINES: usize = 20;

/// How often gc presses Enter on one dialog in one session before it gives up on it (the
/// screen did not move on: a person must look).
const MAX_DIALOG_ANSWERS: usize = 3;

/// Marks the session ready if it is (waiting up to `wait`, answering declared dialogs on the
/// way); else says when to look again. A session still not ready after the City's
/// `startupTimeout`, at a screen that stopped changing, is `Blocked`: its screen goes into its
/// metadata and a `session.blocked` event; it is not restarted, and it leaves `Blocked` by
/// itself once it shows ready (after a person answered it through `gc session attach`).
fn await_ready(
    ctx: &Context,
    model: &CityModel,
    agent: &str,
    launch: &Launch,
    wait: Duration,
) -> Result<Option<Duration>, ReconcileError> {
    // The metadata as the last look saw it, when there was one: marking ready then needs no
    // second read.
    let (ready, seen_meta) = match &launch.readiness {
        Readiness::None => (true, None),
        Readiness::Delay(delay) => (session_age(ctx, &launch.session)? >= *delay, None),
        Readiness::PromptPrefix(_) => match watch_startup(ctx, agent, launch, wait)? {
            Some(info) => (true, Some(info.meta)),
            None => (false, None),
        },
    };
    if !ready {
        let timeout = model.city_spec().session.startup_timeout.get();
        let Some(info) = session_info(ctx, &launch.session)? else { return Ok(None) };
        let age = info.created.map_or(Duration::ZERO, since_now);
        if age <= timeout || !info.alive {
            return Ok(Some(READY_RECHECK));
        }
        let quiet = info.last_activity.map_or(Duration::MAX, since_now);
        if quiet >= BLOCKED_QUIET && matches!(launch.readiness, Readiness::PromptPrefix(_)) {
            block(ctx, agent, launch, &info)?;
            return Ok(Some(Duration::from_secs(2)));
        }
        let mut reported = ctx.reported_unready.lock().unwrap_or_else(|e| e.into_inner());
        if reported.insert(launch.session.clone()) {
            ctx.emit(
                "session.unready",
                "StartupTimeout",
                Some(agent),
                format!("{} not ready after {}s; still waiting", launch.session, timeout.as_secs()),
                json!({"session": launch.session}),
            );
        }
        return Ok(Some(Duration::from_secs(1)));
    }
    let mut was_blocked = false;
    ctx.runtime.edit_meta(&launch.session, seen_meta.as_ref(), &mut |keys| {
        was_blocked = keys.get(meta::BLOCKED).is_some_and(|v| v == "1");
        if was_blocked {
            keys.insert(meta::BLOCKED.to_owned(), String::new());
            keys.insert(meta::BLOCKED_SCREEN.to_owned(), String::new());
        }
        keys.insert(meta::READY.to_owned(), "1".to_owned());
    })?;
    ctx.reported_unready.lock().unwrap_or_else(|e| e.into_inner()).remove(&launch.session);
    let message = if was_blocked {
        format!("{} is ready (no longer blocked)", launch.session)
    } else {
        format!("{} is ready", launch.session)
    };
    ctx.emit("session.ready", "Ready", Some(agent), message, json!({"session": launch.session}));
    Ok(None)
}

/// Marks a session stopped at a screen nothing declares as `Blocked` (once per incarnation).
fn block(
    ctx: &Context,
    agent: &str,
    launch: &Launch,
    info: &SessionInfo,
) -> Result<(), ReconcileError> {
    if info.meta.get(meta::BLOCKED).is_some_and(|v| v == "1") {
        return Ok(());
    }
    let screen = ctx.runtime.screen(&launch.session).unwrap_or_default();
    let excerpt = crate::agentcli::screen::excerpt(&screen, BLOCKED_LINES);
    ctx.runtime.set_meta(&launch.session, meta::BLOCKED_SCREEN, &excerpt)?;
    ctx.runtime.set_meta(&launch.session, meta::BLOCKED, "1")?;
    ctx.emit(
        "session.blocked",
        "UnknownScreen",
        Some(agent),
        format!(
            "{} is stopped at a screen gc does not know how to answer; answer it with \
             `gc session attach {}` (it is not restarted)",
            launch.session, launch.session
        ),
        json!({"session": launch.session, "screen": excerpt}),
    );
    Ok(())
}

/// Watches a starting session's screen for up to `wait` (at least one look): answers the
/// dialogs its Provider declares (moving the cursor to the wanted option, confirming only once
/// it is there) and returns the session as its last look saw it when it shows ready.
fn watch_startup(
    ctx: &Context,
    agent: &str,
    launch: &Launch,
    wait: Duration,
) -> Result<Option<SessionInfo>, ReconcileError> {
    use crate::agentcli::screen::{self, DialogStep, Key, ScreenState};
    let rules = launch.screen_rules();
    let deadline = std::time::Instant::now() + wait;
    // A starting program usually shows its prompt within milliseconds: look again soon at
    // first, then less often up to DIALOG_POLL.
    let mut pause = FIRST_LOOK_AGAIN;
    loop {
        let Some((info, shown)) = ctx.runtime.look(&launch.session)? else { return Ok(None) };
        if !info.alive {
            return Ok(None);
        }
        let state = match cli_process_up(launch, info.pid, ctx.runtime.pids_are_local()) {
            true => screen::read(&shown, &rules),
            // A wrapper still starting the CLI: whatever it shows is not the CLI's prompt.
            false => ScreenState::Unknown,
        };
        let showing = match &state {
            ScreenState::Dialog { name, .. } => Some(name.clone()),
            _ => None,
        };
        let pending = {
            let mut answered = ctx.answered_dialogs.lock().unwrap_or_else(|e| e.into_inner());
            answered.retain(|(s, d)| s != &launch.session || showing.as_ref() == Some(d));
            showing.is_some_and(|d| answered.contains(&(launch.session.clone(), d)))
        };
        match state {
            // Answered already; the CLI is still acting on it.
            ScreenState::Dialog { .. } if pending => {}
            // Busy at start means it got through its start and took up its first turn.
            ScreenState::Ready | ScreenState::Busy if rules.dialogs.is_empty() => {
                return Ok(Some(info));
            }
            ScreenState::Ready | ScreenState::Busy => {
                // A CLI may draw its prompt and open a dialog over it a moment later (Codex
                // does): ready only when a second look, a moment on, still finds no dialog.
                std::thread::sleep(READY_SETTLE);
                let again = ctx.runtime.screen(&launch.session)?;
                if matches!(screen::read(&again, &rules), ScreenState::Ready | ScreenState::Busy) {
                    return Ok(Some(info));
                }
            }
            ScreenState::Dialog { name, choose, step } => match step {
                DialogStep::Move(key, times) => {
                    if !press(ctx, &launch.session, key, times)? {
                        return Ok(None);
                    }
                    wait_for_change(ctx, &launch.session, &shown)?;
                }
                DialogStep::Confirm => {
                    let answered =
                        ctx.runtime.get_meta(&launch.session, meta::DIALOGS)?.unwrap_or_default();
                    if answered.split_whitespace().filter(|n| *n == name).count()
                        >= MAX_DIALOG_ANSWERS
                    {
                        return Ok(None);
                    }
                    if !press(ctx, &launch.session, Key::Enter, 1)? {
                        return Ok(None);
                    }
                    let answered = format!("{answered} {name}");
                    ctx.runtime.set_meta(&launch.session, meta::DIALOGS, answered.trim())?;
                    ctx.answered_dialogs
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert((launch.session.clone(), name.clone()));
                    // Never press again on the screen this Enter answered.
                    wait_for_change(ctx, &launch.session, &shown)?;
                    ctx.emit(
                        "session.dialog",
                        "DialogAnswered",
                        Some(agent),
                        format!("{}: answered the {name} dialog with \"{choose}\"", launch.session),
                        json!({"session": launch.session, "dialog": name, "choice": choose,
                               "screen": screen::excerpt(&shown, BLOCKED_LINES)}),
                    );
                }
                DialogStep::Unreadable(_) => {}
            },
            ScreenState::Unknown => {}
        }
        let now = std::time::Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(DIALOG_POLL);
    }
}

/// The first pause between looks at a starting session's screen (doubling up to
/// [`DIALOG_POLL`]).
const FIRST_LOOK_AGAIN: Duration = Duration::from_millis(10);

/// How long gc waits for a CLI to redraw after it pressed keys on a dialog.
const KEY_SETTLE: Duration = Duration::from_secs(3);

/// Waits until `session`'s screen differs from `before` (at most [`KEY_SETTLE`]): keys just
/// pressed are acted on before the screen is read again.
fn wait_for_change(ctx: &Context, session: &str, before: &str) -> Result<(), ReconcileError> {
    let deadline = std::time::Instant::now() + KEY_SETTLE;
    while std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        match ctx.runtime.look(session)? {
            Some((info, shown)) if info.alive && shown == before => {}
            _ => break,
        }
    }
    Ok(())
}

/// Presses `key` in `session`; `false` when its runtime cannot press keys (the session then
/// waits for a person, and ends up `Blocked`).
fn press(
    ctx: &Context,
    session: &str,
    key: crate::agentcli::screen::Key,
    times: usize,
) -> Result<bool, ReconcileError> {
    match ctx.runtime.send_keys(session, key, times) {
        Ok(()) => Ok(true),
        Err(crate::runtime::RuntimeError::Unsupported(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Whether one of the Provider's `processNames` runs in the session (always, when it names
/// none, or when the session's processes are not on this machine).
fn cli_process_up(launch: &Launch, pane_pid: Option<u32>, pids_are_local: bool) -> bool {
    launch.process_names.is_empty()
        || match pane_pid {
            Some(pid) => crate::runtime::runs_named(pid, &launch.process_names),
            // A session elsewhere (a pod) has no process to look at here: its screen alone
            // tells.
            None => !pids_are_local,
        }
}

/// How long a starting session with declared dialogs must keep showing ready before it counts.
const READY_SETTLE: Duration = Duration::from_millis(600);

/// How often a starting session's screen is read while gc waits on it.
const DIALOG_POLL: Duration = Duration::from_millis(150);

/// How long ago `then` was (zero when in the future).
fn since_now(then: SystemTime) -> Duration {
    SystemTime::now().duration_since(then).unwrap_or_default()
}

/// The session `session` as the runtime sees it now.
fn session_info(ctx: &Context, session: &str) -> Result<Option<SessionInfo>, ReconcileError> {
    Ok(ctx.runtime.list(session)?.into_iter().find(|s| s.name == session))
}

/// How long ago `session` was created (zero when unknown).
fn session_age(ctx: &Context, session: &str) -> Result<Duration, ReconcileError> {
    Ok(session_info(ctx, session)?.and_then(|s| s.created).map(since_now).unwrap_or_default())
}

/// Agents in `dependsOn` order (dependencies first); cycles, which validation refuses, fall
/// back to name order.
pub fn start_order(model: &CityModel) -> Vec<String> {
    let mut order = Vec::new();
    let mut seen = BTreeSet::new();
    fn visit(model: &CityModel, name: &str, seen: &mut BTreeSet<String>, order: &mut Vec<String>) {
        if !seen.insert(name.to_owned()) {
            return;
        }
        if let Some(agent) = model.agents.get(name) {
            for dep in &agent.spec.depends_on {
                visit(model, dep, seen, order);
            }
            order.push(name.to_owned());
        }
    }
    for name in model.agents.keys() {
        visit(model, name, &mut seen, &mut order);
    }
    order
}

/// The agents whose sessions are observed or whose status is recorded but which are no longer
/// applied (their sessions stopped, their status cleared), and sessions on the city's socket
/// that belong to no agent (reported once each; stopped only when the City sets
/// `session.stopOrphans`).
pub fn sweep(ctx: &Context) -> Result<Outcome, ReconcileError> {
    let model = CityModel::load(&ctx.city_dir, &ctx.store)?;
    let observed = ctx.runtime.list("")?;
    let mut outcome = Outcome::default();
    let mut gone = BTreeSet::new();
    for session in &observed {
        match session.meta.get(meta::AGENT) {
            Some(agent) if !model.is_applied(Kind::Agent, agent) => {
                gone.insert(agent.clone());
            }
            Some(_) => {}
            None if model.city_spec().session.stop_orphans => {
                ctx.runtime
                    .stop(&session.name, model.city_spec().controller.shutdown_timeout.get())?;
                outcome.actions += 1;
                ctx.emit(
                    "session.stopped",
                    "Orphaned",
                    None,
                    format!(
                        "stopped {}: it belongs to no agent (session.stopOrphans)",
                        session.name
                    ),
                    json!({"session": session.name}),
                );
            }
            None => {
                let mut reported = ctx.reported_orphans.lock().unwrap_or_else(|e| e.into_inner());
                if reported.insert(session.name.clone()) {
                    ctx.emit(
                        "session.orphaned",
                        "NoOwner",
                        None,
                        format!("session {} belongs to no agent; left running", session.name),
                        json!({"session": session.name}),
                    );
                }
            }
        }
    }
    // Deleted agents without sessions too, so their status is cleared.
    for agent in ctx.store.status_names(Kind::Agent)? {
        if !model.is_applied(Kind::Agent, &agent) {
            gone.insert(agent);
        }
    }
    for agent in gone {
        outcome.actions += reconcile_agent(ctx, &agent)?.actions;
    }
    // Worktrees of agents (or pool members) that went away, now that their sessions stopped.
    let observed = ctx.runtime.list(&model.session_prefix())?;
    outcome.actions += super::worktree::sweep(ctx, &model, &observed);
    Ok(outcome)
}

/// Reconciles the city's bead store and every rig, then every agent once, then sweeps.
/// Rigs come first so agents find their paths and stores ready. Agents go in waves by
/// `dependsOn` depth (dependencies first); within a wave up to [`RECONCILE_PARALLEL`]
/// agents are reconciled at once, so fifty new sessions start in parallel rather than one by
/// one.
pub fn reconcile_all(ctx: &Context) -> Result<Outcome, ReconcileError> {
    let model = CityModel::load(&ctx.city_dir, &ctx.store)?;
    super::rig_reconcile::reconcile_rigs(ctx, &model)?;
    let parallel = RECONCILE_PARALLEL;
    let mut outcome = Outcome::default();
    for wave in waves(&model) {
        // A pool of workers, each taking the next agent of the wave as it finishes one: a
        // session slow to show ready holds up only its own worker, not a whole batch.
        // One listing for the wave: its agents do not touch each other's sessions, so what
        // it says of each agent's sessions holds until that agent's own reconcile acts.
        let listed = ctx.runtime.list(&model.session_prefix())?;
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results = std::sync::Mutex::new(Vec::with_capacity(wave.len()));
        std::thread::scope(|scope| {
            for _ in 0..parallel.min(wave.len()) {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(agent) = wave.get(i) else { break };
                        // A bug in one agent's reconcile must not take the others down.
                        let one = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            reconcile_agent_in(ctx, &model, agent, Some(&listed))
                        }))
                        .unwrap_or_else(|_| {
                            Ok(Reconciled { outcome: Outcome::default(), after: None })
                        });
                        results.lock().unwrap_or_else(|e| e.into_inner()).push(one);
                    }
                });
            }
        });
        let mut afters = Vec::new();
        let mut failed = None;
        for one in results.into_inner().unwrap_or_else(|e| e.into_inner()) {
            let Reconciled { outcome: one, after } = match one {
                Ok(one) => one,
                Err(e) => {
                    failed.get_or_insert(e);
                    continue;
                }
            };
            afters.extend(after);
            outcome.actions += one.actions;
            outcome.requeue_after = match (outcome.requeue_after, one.requeue_after) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        // The statuses of the wave's agents that acted, from one listing after all of them.
        if !afters.is_empty() {
            let sessions = ctx.runtime.list(&model.session_prefix())?;
            for after in afters {
                let relevant = sessions_planned_with(&model, &sessions, &after.agent);
                after.record(ctx, &model, relevant)?;
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
    }
    outcome.actions += sweep(ctx)?.actions;
    Ok(outcome)
}

/// Agents grouped by `dependsOn` depth: wave 0 depends on no applied agent, wave n on agents
/// of earlier waves only.
pub fn waves(model: &CityModel) -> Vec<Vec<String>> {
    let mut depth: BTreeMap<String, usize> = BTreeMap::new();
    for agent in start_order(model) {
        let d = model.agents[&agent]
            .spec
            .depends_on
            .iter()
            .filter_map(|dep| depth.get(dep).map(|d| d + 1))
            .max()
            .unwrap_or(0);
        depth.insert(agent, d);
    }
    let mut out: Vec<Vec<String>> = Vec::new();
    for (agent, d) in depth {
        if out.len() <= d {
            out.resize(d + 1, Vec::new());
        }
        out[d].push(agent);
    }
    out
}

/// Stops every session of the city, dependents before what they depend on.
pub fn stop_all(ctx: &Context) -> Result<usize, ReconcileError> {
    let model = CityModel::load(&ctx.city_dir, &ctx.store)?;
    let observed = ctx.runtime.list(&model.session_prefix())?;
    let grace = model.city_spec().controller.shutdown_timeout.get();
    let mut stopped = 0;
    let mut order = start_order(&model);
    // `gc stop` means every session, damaged agents' too (their dependents unknown: first).
    order.extend(model.damaged.keys().filter(|(k, _)| *k == Kind::Agent).map(|(_, n)| n.clone()));
    order.reverse();
    for agent in order {
        for session in sessions_of(&model, &observed, &agent) {
            ctx.runtime.stop(&session.name, grace)?;
            stopped += 1;
            ctx.emit(
                "session.stopped",
                "CityStopped",
                Some(&agent),
                format!("stopped {} (gc stop)", session.name),
                json!({"session": session.name}),
            );
        }
        mark_stopped(ctx, &model, &agent);
    }
    Ok(stopped)
}

/// Records `agent` as stopped by `gc stop`, so its status never claims a session runs.
fn mark_stopped(ctx: &Context, model: &CityModel, agent: &str) {
    let Some(applied) = model.agents.get(agent) else { return };
    // A damaged status is replaced.
    let previous = ctx.store.status::<AgentStatus>(Kind::Agent, agent).ok().flatten();
    let status = super::agent::stopped_status(previous, applied.generation, &now_text());
    if let Err(e) = ctx.store.put_status(Kind::Agent, agent, &status) {
        tracing::warn!("recording agent {agent} as stopped: {e}");
    }
}
