//! One reconcile of an agent (and the sweeps around it): read the applied city and the live
//! sessions, plan with the pure planner, carry the plan out, record status and events.
//! Synchronous; the manager runs it on tokio's blocking pool, `gc apply --wait` and `gc stop`
//! call it directly.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::agent::{self, AgentInput, AgentPlan, Backoff, RigBlock, SessionAction, StartReason};
use super::launch::{self, Launch, meta};
use super::model::CityModel;
use crate::api::Kind;
use crate::runtime::{Readiness, Runtime, SessionInfo};
use crate::store::Store;

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
}

/// What the controllers share: where the city is and how sessions are run.
pub struct Context {
    /// The city directory.
    pub city_dir: PathBuf,
    /// Its store.
    pub store: Store,
    /// The session runtime.
    pub runtime: Arc<dyn Runtime>,
    /// Recent restarts per session, for crash-loop backoff.
    pub restarts: Mutex<BTreeMap<String, Vec<SystemTime>>>,
    /// Sessions this controller has seen up: one missing later died (a crash), while sessions
    /// stopped by `gc stop` before this controller started are simply started.
    pub seen_up: Mutex<BTreeSet<String>>,
    /// Sessions already reported as not ready within the startup timeout.
    pub reported_unready: Mutex<BTreeSet<String>>,
    /// Sessions already reported as belonging to no resource.
    pub reported_orphans: Mutex<BTreeSet<String>>,
    /// Worktrees already reported as kept, and worktree failures already reported.
    pub reported_worktrees: Mutex<BTreeSet<PathBuf>>,
    /// Who the events are from.
    pub actor: String,
}

impl Context {
    /// A context for the city in `city_dir` using `runtime`.
    pub fn new(city_dir: PathBuf, runtime: Arc<dyn Runtime>, actor: &str) -> Context {
        Context {
            store: Store::new(&city_dir),
            city_dir,
            runtime,
            restarts: Mutex::default(),
            seen_up: Mutex::default(),
            reported_unready: Mutex::default(),
            reported_orphans: Mutex::default(),
            reported_worktrees: Mutex::default(),
            actor: actor.to_owned(),
        }
    }

    /// A context for the city in `city_dir` with the runtime its City selects (tmux on the
    /// City's socket by default). Session programs are started through this gc binary.
    pub fn for_city(city_dir: &std::path::Path, actor: &str) -> Result<Context, ReconcileError> {
        let city_dir = std::path::absolute(city_dir)?;
        let model = CityModel::load(&city_dir, &Store::new(&city_dir))?;
        Ok(Context::new(city_dir.clone(), runtime_for(&model)?, actor))
    }

    fn emit(
        &self,
        event_type: &str,
        reason: &str,
        agent: Option<&str>,
        message: String,
        payload: Value,
    ) {
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
        SessionBackend::Exec => {
            return Err(ReconcileError::Runtime(crate::runtime::RuntimeError::Unsupported(
                "the exec session backend is not available yet; use tmux or subprocess",
            )));
        }
    })
}

/// What one pass did.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Actions carried out.
    pub actions: usize,
    /// Look again after this long.
    pub requeue_after: Option<Duration>,
}

/// The desired number of sessions of an agent. Pools run their minimum until work-driven
/// scaling arrives.
pub(crate) fn desired_count(model: &CityModel, agent: &str) -> u32 {
    model.agents.get(agent).and_then(|a| a.spec.scaling.as_ref()).map_or(1, |s| s.min)
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

/// Whether every session `agent` should run is up and ready (suspended and missing agents
/// hold nobody up).
fn is_ready(model: &CityModel, observed: &[SessionInfo], agent: &str) -> bool {
    let Some(applied) = model.agents.get(agent) else { return true };
    if applied.spec.suspended || rig_suspended(model, agent) {
        return true;
    }
    let Ok(launches) = launch::launches(model, agent, desired_count(model, agent)) else {
        return false;
    };
    launches.iter().all(|l| {
        observed.iter().any(|s| {
            s.name == l.session && s.alive && s.meta.get(meta::READY).is_some_and(|v| v == "1")
        })
    })
}

/// Whether the rig `agent` works on is suspended.
fn rig_suspended(model: &CityModel, agent: &str) -> bool {
    let rig = model.agents.get(agent).and_then(|a| a.spec.rig.as_ref());
    rig.and_then(|r| model.rigs.get(r)).is_some_and(|r| r.spec.suspended)
}

/// Whether `agent`'s rig can take sessions now, from what is on disk: its path is a directory,
/// its bead store is initialised (so `bd` works from the first moment), and, for worktree
/// isolation, it is a git repository. Agents without a rig (or whose rig is not applied,
/// which their launch reports) are never blocked.
pub fn rig_gate(model: &CityModel, agent: &str) -> Result<(), RigBlock> {
    let Some(applied) = model.agents.get(agent) else { return Ok(()) };
    let Some(name) = &applied.spec.rig else { return Ok(()) };
    let Some(rig) = model.rigs.get(name) else { return Ok(()) };
    let dir = model.rig_dir(&rig.spec);
    let see = format!("(`gc describe rig/{name}` says more)");
    if !dir.is_dir() {
        return Err(RigBlock {
            reason: "RigPathMissing",
            message: format!("rig `{name}`: {} is not a directory {see}", dir.display()),
        });
    }
    let store = crate::beads::layout::rig_beads_dir(&dir);
    if !store.join(crate::beads::layout::CONFIG_FILE).is_file() {
        return Err(RigBlock {
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
        return Err(RigBlock {
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

/// Plans `agent` against `observed` (pure, given the model and the rig gate).
#[allow(clippy::too_many_arguments)]
pub fn plan_agent(
    model: &CityModel,
    observed: &[SessionInfo],
    was_up: &BTreeSet<String>,
    held: &BTreeSet<String>,
    restarts: &BTreeMap<String, Vec<SystemTime>>,
    agent: &str,
    rig: Result<(), RigBlock>,
    now: SystemTime,
) -> AgentPlan {
    let city = model.city_spec();
    let applied = model.agents.get(agent);
    let off = match applied {
        None => Some("Deleted"),
        Some(_) if city.suspended => Some("CitySuspended"),
        Some(a) if a.spec.suspended => Some("Suspended"),
        Some(_) if rig_suspended(model, agent) => Some("RigSuspended"),
        Some(_) => None,
    };
    let launches =
        launch::launches(model, agent, desired_count(model, agent)).map_err(|e| e.to_string());
    let dependencies = applied
        .map(|a| a.spec.depends_on.clone())
        .unwrap_or_default()
        .into_iter()
        .find(|dep| !is_ready(model, observed, dep))
        .map_or(Ok(()), Err);
    let crash_loop = &city.controller.crash_loop;
    let input = AgentInput {
        name: agent,
        generation: applied.map_or(0, |a| a.generation),
        off,
        launches,
        on_drift: applied.map(|a| a.spec.restart_policy.on_drift).unwrap_or_default(),
        observed: sessions_of(model, observed, agent),
        was_up,
        held,
        dependencies,
        rig,
        restarts,
        backoff: Backoff {
            initial: crash_loop.backoff.initial.get(),
            max: crash_loop.backoff.max.get(),
            window: crash_loop.window.get(),
        },
        now,
    };
    agent::plan(&input)
}

/// Reconciles one agent: plan, act, record. Deleted agents have their sessions stopped and
/// their status removed.
pub fn reconcile_agent(ctx: &Context, agent: &str) -> Result<Outcome, ReconcileError> {
    let model = CityModel::load(&ctx.city_dir, &ctx.store)?;
    reconcile_agent_in(ctx, &model, agent)
}

/// [`reconcile_agent`] against an already loaded model (one load serves a whole pass).
fn reconcile_agent_in(
    ctx: &Context,
    model: &CityModel,
    agent: &str,
) -> Result<Outcome, ReconcileError> {
    let observed = ctx.runtime.list(&model.session_prefix())?;
    let held = super::holds::held(&ctx.city_dir)?;
    let restarts = ctx.restarts.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let was_up = ctx.seen_up.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let gate = rig_gate(model, agent);
    let now = SystemTime::now();
    let plan = plan_agent(model, &observed, &was_up, &held, &restarts, agent, gate.clone(), now);
    let actions = plan.actions.len();
    if actions > 0 && model.agents.contains_key(agent) {
        // Show what is under way while it happens (a start may wait for readiness). Without
        // `observedInputs`: it is not the outcome of these inputs yet.
        ctx.store.put_status(Kind::Agent, agent, &plan.status)?;
    }
    let mut requeue_after = plan.requeue_after;
    for action in &plan.actions {
        if let Some(again) = execute(ctx, model, agent, action)? {
            requeue_after = Some(requeue_after.map_or(again, |r| r.min(again)));
        }
    }
    if model.agents.contains_key(agent) {
        let status = if actions == 0 {
            plan.status
        } else {
            // Record what the actions led to, not what was seen before them.
            let observed = ctx.runtime.list(&model.session_prefix())?;
            let restarts = ctx.restarts.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let was_up = BTreeSet::new();
            let now = SystemTime::now();
            plan_agent(model, &observed, &was_up, &held, &restarts, agent, gate, now).status
        };
        let mut status = status;
        status["observedInputs"] = json!(model.inputs_of(agent));
        ctx.store.put_status(Kind::Agent, agent, &status)?;
        remember_up(ctx, &status);
    } else {
        ctx.store.delete_status(Kind::Agent, agent)?;
    }
    Ok(Outcome { actions, requeue_after })
}

/// Records which of the agent's sessions its new status shows up, and forgets the others.
fn remember_up(ctx: &Context, status: &Value) {
    let rows = status.get("sessions").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut seen = ctx.seen_up.lock().unwrap_or_else(|e| e.into_inner());
    for row in rows {
        let Some(name) = row.get("name").and_then(Value::as_str) else { continue };
        match row.get("state").and_then(Value::as_str) {
            Some("running" | "drifted" | "starting") => seen.insert(name.to_owned()),
            _ => seen.remove(name),
        };
    }
}

fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Carries out one planned action; returns when to look again if the action is not finished
/// (a session not ready yet).
fn execute(
    ctx: &Context,
    model: &CityModel,
    agent: &str,
    action: &SessionAction,
) -> Result<Option<Duration>, ReconcileError> {
    let rt = &ctx.runtime;
    match action {
        SessionAction::Start { launch, reason } => {
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
                ctx.restarts
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(launch.session.clone())
                    .or_default()
                    .push(SystemTime::now());
            }
            return start(ctx, model, agent, launch, *reason);
        }
        SessionAction::Stop { session, instance, reason } => {
            // Fence: act only on the incarnation that was planned against.
            let live = rt.get_meta(session, meta::INSTANCE).ok().flatten();
            if live.is_some() && live != *instance {
                return Ok(None);
            }
            let grace = model.city_spec().controller.shutdown_timeout.get();
            rt.stop(session, grace)?;
            ctx.emit(
                "session.stopped",
                reason.word(),
                Some(agent),
                format!("stopped {session} ({})", reason.word()),
                json!({"session": session}),
            );
        }
        SessionAction::Remove { session } => rt.stop(session, Duration::ZERO)?,
        SessionAction::AwaitReady { launch } => {
            return await_ready(ctx, model, agent, launch, Duration::ZERO);
        }
    }
    Ok(None)
}

fn start(
    ctx: &Context,
    model: &CityModel,
    agent: &str,
    launch: &Launch,
    reason: StartReason,
) -> Result<Option<Duration>, ReconcileError> {
    if let Some(tree) = &launch.worktree {
        prepare_worktree(ctx, agent, tree)?;
    }
    std::fs::create_dir_all(&launch.work_dir)?;
    let applied = model.agents.get(agent);
    let meta = BTreeMap::from([
        (meta::AGENT.to_owned(), agent.to_owned()),
        (meta::AGENT_UID.to_owned(), applied.map(|a| a.uid.clone()).unwrap_or_default()),
        (meta::GENERATION.to_owned(), applied.map_or(0, |a| a.generation).to_string()),
        (meta::FINGERPRINT.to_owned(), launch.fingerprint.clone()),
        (meta::INSTANCE.to_owned(), uuid::Uuid::new_v4().to_string()),
    ]);
    let config = launch.config(&model.city_name(), &now_text(), meta);
    match ctx.runtime.start(&config) {
        Ok(()) => {}
        // Someone else (a previous pass) started it: nothing to do.
        Err(crate::runtime::RuntimeError::Exists(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let why = match reason {
        StartReason::NotRunning => "Started",
        StartReason::Crashed(_) => "Restarted",
        StartReason::Drifted => "RestartedForDrift",
    };
    ctx.emit(
        "session.started",
        why,
        Some(agent),
        format!("started {} in {}", launch.session, launch.work_dir.display()),
        json!({"session": launch.session, "fingerprint": launch.fingerprint}),
    );
    // Most programs are ready at once: look for a moment before handing over to requeues.
    await_ready(ctx, model, agent, launch, QUICK_READY_WAIT)
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

/// Marks the session ready if it is (waiting up to `wait`); else says when to look again.
/// A session that is not ready within the City's `startupTimeout` is recorded as failed.
fn await_ready(
    ctx: &Context,
    model: &CityModel,
    agent: &str,
    launch: &Launch,
    wait: Duration,
) -> Result<Option<Duration>, ReconcileError> {
    let ready = match &launch.readiness {
        Readiness::None => true,
        Readiness::Delay(delay) => session_age(ctx, &launch.session)? >= *delay,
        rule => ctx.runtime.wait_ready(&launch.session, rule, wait)?,
    };
    if !ready {
        let timeout = model.city_spec().session.startup_timeout.get();
        let mut reported = ctx.reported_unready.lock().unwrap_or_else(|e| e.into_inner());
        if session_age(ctx, &launch.session)? > timeout {
            if !reported.insert(launch.session.clone()) {
                return Ok(Some(Duration::from_secs(5)));
            }
            ctx.emit(
                "session.unready",
                "StartupTimeout",
                Some(agent),
                format!("{} not ready after {}s; still waiting", launch.session, timeout.as_secs()),
                json!({"session": launch.session}),
            );
            return Ok(Some(Duration::from_secs(5)));
        }
        return Ok(Some(READY_RECHECK));
    }
    ctx.runtime.set_meta(&launch.session, meta::READY, "1")?;
    ctx.reported_unready.lock().unwrap_or_else(|e| e.into_inner()).remove(&launch.session);
    ctx.emit(
        "session.ready",
        "Ready",
        Some(agent),
        format!("{} is ready", launch.session),
        json!({"session": launch.session}),
    );
    Ok(None)
}

/// How long ago `session` was created (zero when unknown).
fn session_age(ctx: &Context, session: &str) -> Result<Duration, ReconcileError> {
    let created =
        ctx.runtime.list(session)?.into_iter().find(|s| s.name == session).and_then(|s| s.created);
    Ok(created.and_then(|c| SystemTime::now().duration_since(c).ok()).unwrap_or_default())
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

/// The agents whose sessions are observed but which are no longer applied, and sessions on
/// the city's socket that belong to no agent (reported once each; stopped only when the City
/// sets `session.stopOrphans`).
pub fn sweep(ctx: &Context) -> Result<Outcome, ReconcileError> {
    let model = CityModel::load(&ctx.city_dir, &ctx.store)?;
    let observed = ctx.runtime.list("")?;
    let mut outcome = Outcome::default();
    let mut gone = BTreeSet::new();
    for session in &observed {
        match session.meta.get(meta::AGENT) {
            Some(agent) if !model.agents.contains_key(agent) => {
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
/// `dependsOn` depth (dependencies first); within a wave up to `controller.maxStartsPerPass`
/// agents are reconciled at once, so fifty new sessions start in parallel rather than one by
/// one.
pub fn reconcile_all(ctx: &Context) -> Result<Outcome, ReconcileError> {
    let model = CityModel::load(&ctx.city_dir, &ctx.store)?;
    super::rig_reconcile::reconcile_rigs(ctx, &model)?;
    let parallel = model.city_spec().controller.max_starts_per_pass.max(1) as usize;
    let mut outcome = Outcome::default();
    for wave in waves(&model) {
        for chunk in wave.chunks(parallel) {
            let results: Vec<Result<Outcome, ReconcileError>> = std::thread::scope(|scope| {
                let handles: Vec<_> = chunk
                    .iter()
                    .map(|agent| scope.spawn(|| reconcile_agent_in(ctx, &model, agent)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Ok(Outcome::default())))
                    .collect()
            });
            for one in results {
                let one = one?;
                outcome.actions += one.actions;
                outcome.requeue_after = match (outcome.requeue_after, one.requeue_after) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
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
    }
    Ok(stopped)
}
