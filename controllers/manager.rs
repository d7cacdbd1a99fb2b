//! The controller process: one per city (a lock on `.gc/controller.lock`), a unix socket for
//! `ping`, `poke`, `reload` and `stop`, and the per-kind controllers, driven by kube-runtime's
//! `Controller::for_stream` over reflector stores fed from `.gc/applied/`.
//!
//! Inputs, all level-triggered (each only says "look again"):
//! - a notify watcher on `.gc/applied/` and pokes on the socket → rescan the store, send the
//!   changed objects as watcher events;
//! - a periodic full rescan (the City's `resyncInterval`) → `Init…InitDone`, so every object
//!   is reconciled even if a file event was missed;
//! - a session observer (one `list` per half second) → the agent owning a session that died,
//!   appeared or vanished is reconciled at once;
//! - a sweep for deleted agents and rigs (kube-runtime never reconciles a deleted object), which
//!   also removes the worktrees of agents gone and keeps the city's bead store initialised.
//!
//! - a nudge drainer (one tick a second) → queued nudges typed into idle sessions, and idle
//!   agents told about work on their hook ([`super::nudge_drainer`]);
//!
//! - a follower of `.gc/events.jsonl` → the orders gated on the types of new events are
//!   reconciled at once (an order's ended run wakes it the same way).
//!
//! Controllers: agents (sessions), rigs (path, clone, bead store), providers (command probe),
//! orders (gates, runs).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::WatchStreamExt;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::watcher;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::sync::{mpsc, watch};

use super::object::GcObject;
use super::reconcile::{self, Context, ReconcileError};
use crate::api::Kind;
use crate::api::status::{CityStatus, Condition, ConditionType, ControllerPhase, FormulaStatus};
use crate::store::{Damaged, StoredObject};

/// How often sessions are observed: a dead session is noticed within this long.
const OBSERVE_EVERY: Duration = Duration::from_millis(500);

/// How long reconciles share one reading of the store and of the sessions (see
/// [`crate::kept`]): a burst of them (a resync of every agent) reads once.
const SHARED_READING: Duration = Duration::from_secs(1);

/// How often sessions are listed anyway when their programs' exits are watched
/// ([`super::exit_watch`]): the safety net for a change that is not an exit.
const SESSIONS_RESYNC: Duration = Duration::from_secs(5);

/// How soon to list again when a program that exited still shows alive (the runtime had not
/// reaped it yet).
const EXIT_RELIST: Duration = Duration::from_millis(20);

/// How often the nudge queues are looked at: a queued nudge for an idle agent waits at most
/// about this long.
const NUDGE_TICK: Duration = Duration::from_secs(1);
/// How often the budget watcher reads the transcripts.
const BUDGET_EVERY: Duration = Duration::from_secs(5);

/// Why the controller could not run.
#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    /// Another controller holds the city's lock.
    #[error("a controller is already running for this city (pid {0}); stop it with `gc stop`")]
    AlreadyRunning(String),
    /// A file or socket of the city could not be used.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The lock that makes this the city's one controller; released when the process ends.
pub struct ControllerLock {
    _file: File,
}

/// Takes the city's controller lock without waiting, recording this process's pid in it.
pub fn lock(city_dir: &Path) -> Result<ControllerLock, ManagerError> {
    let path = lock_path(city_dir);
    let io = |source| ManagerError::Io { path: path.clone(), source };
    std::fs::create_dir_all(city_dir.join(".gc")).map_err(io)?;
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            return Err(ManagerError::AlreadyRunning(pid.trim().to_owned()));
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    writeln!(file, "{}", std::process::id()).map_err(io)?;
    Ok(ControllerLock { _file: file })
}

/// `.gc/controller.lock`.
pub fn lock_path(city_dir: &Path) -> PathBuf {
    city_dir.join(".gc").join("controller.lock")
}

/// The pid of the city's running controller, if one holds the lock.
pub fn running_pid(city_dir: &Path) -> Option<u32> {
    let mut file = OpenOptions::new().read(true).write(true).open(lock_path(city_dir)).ok()?;
    match file.try_lock() {
        Ok(()) => None,
        Err(_) => {
            let mut pid = String::new();
            file.read_to_string(&mut pid).ok()?;
            pid.trim().parse().ok()
        }
    }
}

/// Runs the controllers until `stop` arrives on the socket (then stops every session) or the
/// process is interrupted (then sessions keep running, to be adopted by the next controller).
pub async fn run(ctx: Arc<Context>, _lock: ControllerLock) -> Result<(), ManagerError> {
    let city_dir = ctx.city_dir.clone();
    let socket_path = crate::notify::socket_path(&city_dir);
    // The lock is ours, so a socket file left here is from a controller that died.
    let _ = std::fs::remove_file(&socket_path);
    let listener = UnixListener::bind(&socket_path)
        .map_err(|source| ManagerError::Io { path: socket_path.clone(), source })?;

    let (shutdown_tx, shutdown_rx) = watch::channel(Shutdown::Running);
    let (rescan_tx, rescan_rx) = mpsc::unbounded_channel::<Rescan>();
    let (agent_tx, agent_rx) = mpsc::unbounded_channel();
    let (provider_tx, provider_rx) = mpsc::unbounded_channel();
    let (rig_tx, rig_rx) = mpsc::unbounded_channel();
    let (formula_tx, formula_rx) = mpsc::unbounded_channel();
    let (order_tx, order_rx) = mpsc::unbounded_channel();
    let (order_wake_tx, order_wake_rx) = mpsc::unbounded_channel::<String>();
    let (session_tx, session_rx) = mpsc::unbounded_channel::<ObjectRef<GcObject>>();

    // Reconciles in a burst share one reading of the store and one listing of the sessions;
    // a store change (the watcher) or a session change (the observer) ends the sharing.
    ctx.share_readings(SHARED_READING);
    let _watcher = watch_store(&ctx, rescan_tx.clone());
    tokio::spawn(serve_socket(listener, rescan_tx.clone(), shutdown_tx.clone()));
    tokio::spawn(feed(
        ctx.clone(),
        rescan_rx,
        Senders {
            agents: agent_tx,
            providers: provider_tx,
            rigs: rig_tx,
            formulas: formula_tx,
            orders: order_tx,
        },
    ));
    let _ = rescan_tx.send(Rescan::Full);
    let resync = resync_interval(&ctx);
    tokio::spawn({
        let rescan_tx = rescan_tx.clone();
        async move {
            let mut tick = tokio::time::interval(resync);
            tick.tick().await;
            loop {
                tick.tick().await;
                if rescan_tx.send(Rescan::Full).is_err() {
                    break;
                }
            }
        }
    });

    record_city(&ctx, ControllerPhase::Running);
    ctx_event(
        &ctx,
        "controller.started",
        "Started",
        format!("controller started (pid {})", std::process::id()),
    );
    first_pass(ctx.clone()).await;
    tokio::spawn(watch_budgets(ctx.clone(), session_tx.clone(), shutdown_rx.clone()));
    tokio::spawn(observe(ctx.clone(), session_tx, rescan_tx.clone(), shutdown_rx.clone()));
    tokio::spawn(drain_nudges(ctx.clone(), shutdown_rx.clone()));
    tokio::spawn(sweep_leases(ctx.clone(), shutdown_rx.clone()));
    tokio::spawn(sweep_workflows(ctx.clone(), shutdown_rx.clone()));
    let agents = agent_controller(ctx.clone(), agent_rx, session_rx, until(shutdown_rx.clone()));
    let retry_in_10s = |_: Arc<GcObject>, _: &ReconcileError, _: Arc<Context>| {
        Action::requeue(Duration::from_secs(10))
    };
    let providers = simple_controller(
        Kind::Provider,
        ctx.clone(),
        provider_rx,
        until(shutdown_rx.clone()),
        reconcile_provider,
        retry_in_10s,
    );
    let rigs = simple_controller(
        Kind::Rig,
        ctx.clone(),
        rig_rx,
        until(shutdown_rx.clone()),
        reconcile_rig,
        rig_error_policy,
    );
    let formulas = simple_controller(
        Kind::Formula,
        ctx.clone(),
        formula_rx,
        until(shutdown_rx.clone()),
        reconcile_formula,
        retry_in_10s,
    );
    tokio::spawn(follow_events(ctx.clone(), order_wake_tx.clone(), shutdown_rx.clone()));
    let octx = Arc::new(super::order::OrderContext::new(ctx.clone(), order_wake_tx));
    let orders = order_controller(octx, order_rx, order_wake_rx, until(shutdown_rx.clone()));
    tokio::join!(agents, providers, rigs, formulas, orders);

    let stop_sessions = *shutdown_rx.borrow() == Shutdown::StopSessions;
    if stop_sessions {
        let ctx2 = ctx.clone();
        let stopped = tokio::task::spawn_blocking(move || reconcile::stop_all(&ctx2)).await;
        match stopped {
            Ok(Ok(n)) => tracing::info!("stopped {n} sessions"),
            Ok(Err(e)) => tracing::error!("stopping sessions: {e}"),
            Err(e) => tracing::error!("stopping sessions: {e}"),
        }
    }
    record_city(&ctx, ControllerPhase::Stopped);
    ctx_event(&ctx, "controller.stopped", "Stopped", "controller stopped".to_owned());
    let _ = std::fs::remove_file(&socket_path);
    Ok(())
}

/// Records in the City's status whether this controller runs (`gc status` and the API read
/// it; a controller that dies without saying so leaves `Running` with a pid no longer alive).
fn record_city(ctx: &Context, phase: ControllerPhase) {
    let Ok(Some(city)) = ctx.store.list_kind(Kind::City).map(|c| c.objects.into_iter().next())
    else {
        return;
    };
    let now = crate::api::status::timestamp(chrono::Utc::now());
    let previous = ctx.store.status::<CityStatus>(Kind::City, &city.metadata.name).ok().flatten();
    let running = phase == ControllerPhase::Running;
    let status = CityStatus {
        observed_generation: city.metadata.generation,
        controller: phase,
        pid: running.then(std::process::id),
        started_at: if running { Some(now.clone()) } else { previous.and_then(|p| p.started_at) },
        stopped_at: (!running).then(|| now.clone()),
        conditions: vec![Condition::new(
            ConditionType::Ready,
            running,
            if running { "ControllerRunning" } else { "ControllerStopped" },
            if running {
                format!("controller running (pid {})", std::process::id())
            } else {
                "controller stopped".to_owned()
            },
        )],
    };
    if let Err(e) = ctx.store.put_status(Kind::City, &city.metadata.name, &status) {
        tracing::warn!("recording the city's status: {e}");
    }
}

/// Adopts what runs already and converges once before the event-driven loop takes over:
/// sessions that belong to applied agents are kept as they are (a restarted controller does
/// not restart them), sessions that belong to no agent are reported.
async fn first_pass(ctx: Arc<Context>) {
    let pass = ctx.clone();
    let result = tokio::task::spawn_blocking(move || {
        let model = super::model::CityModel::load(&pass.city_dir, &pass.store)?;
        let before = pass.runtime.list(&model.session_prefix())?;
        let adopted = before
            .iter()
            .filter(|s| s.alive)
            .filter(|s| {
                s.meta.get(super::launch::meta::AGENT).is_some_and(|a| model.agents.contains_key(a))
            })
            .count();
        reconcile::reconcile_all(&pass)?;
        Ok::<usize, ReconcileError>(adopted)
    })
    .await;
    match result {
        Ok(Ok(adopted)) => {
            let event = crate::events::Event::new(
                "controller.ready",
                "FirstPassDone",
                format!("first pass done; adopted {adopted} running session(s)"),
            )
            .payload(json!({"adopted": adopted}));
            if let Err(e) = crate::events::append(&ctx.city_dir, vec![event], &ctx.actor) {
                tracing::warn!("cannot record event: {e}");
            }
        }
        Ok(Err(e)) => tracing::warn!("first pass: {e}"),
        Err(e) => tracing::warn!("first pass: {e}"),
    }
}

/// Records a `resource.damaged` warning for each stored file newly found damaged (or damaged
/// anew), and `resource.readable` when one no longer is (repaired or deleted); `reported`
/// remembers what was said. A damaged object is otherwise left alone: not reconciled, and not
/// swept as deleted.
fn report_damaged(ctx: &Context, now: &[Damaged], reported: &mut BTreeMap<(Kind, String), String>) {
    for d in now {
        let key = (d.kind, d.name.clone());
        if reported.get(&key) != Some(&d.error) {
            tracing::warn!("{} is damaged, left as it runs until repaired: {}", d.key(), d.error);
            let message = format!(
                "cannot be read ({}); what runs for it is left alone until `gc apply` rewrites it \
                 or `gc delete {}` removes it",
                d.error,
                d.key()
            );
            object_event(ctx, "resource.damaged", "Unreadable", message, d.kind, &d.name);
            reported.insert(key, d.error.clone());
        }
    }
    reported.retain(|(kind, name), _| {
        let still = now.iter().any(|d| d.kind == *kind && d.name == *name);
        if !still {
            let message = "no longer damaged".to_owned();
            object_event(ctx, "resource.readable", "Readable", message, *kind, name);
        }
        still
    });
}

fn object_event(
    ctx: &Context,
    event_type: &str,
    reason: &str,
    message: String,
    kind: Kind,
    name: &str,
) {
    let event = crate::events::Event::new(event_type, reason, message).object(kind, name);
    if let Err(e) = crate::events::append(&ctx.city_dir, vec![event], &ctx.actor) {
        tracing::warn!("cannot record event: {e}");
    }
}

fn ctx_event(ctx: &Context, event_type: &str, reason: &str, message: String) {
    let event = crate::events::Event::new(event_type, reason, message);
    if let Err(e) = crate::events::append(&ctx.city_dir, vec![event], &ctx.actor) {
        tracing::warn!("cannot record event: {e}");
    }
}

fn resync_interval(ctx: &Context) -> Duration {
    ctx.model()
        .map_or(Duration::from_secs(30), |m| m.city_spec().controller.resync_interval.get())
        .max(Duration::from_secs(1))
}

/// How the controller is asked to end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shutdown {
    Running,
    /// `gc stop`: stop every session, then exit.
    StopSessions,
    /// Interrupted: exit, leave sessions running.
    LeaveSessions,
}

/// A future that completes once shutdown is requested.
async fn until(mut rx: watch::Receiver<Shutdown>) {
    tokio::select! {
        _ = rx.wait_for(|s| *s != Shutdown::Running) => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rescan {
    /// Something changed: send what differs.
    Changed,
    /// Periodic: re-list everything (`Init…InitDone`).
    Full,
}

async fn serve_socket(
    listener: UnixListener,
    rescan: mpsc::UnboundedSender<Rescan>,
    shutdown: watch::Sender<Shutdown>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let rescan = rescan.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let reply = match line.trim() {
                    "ping" => format!("pong {}\n", std::process::id()),
                    "poke" => {
                        let _ = rescan.send(Rescan::Changed);
                        "ok\n".to_owned()
                    }
                    "reload" => {
                        let _ = rescan.send(Rescan::Full);
                        "ok\n".to_owned()
                    }
                    "stop" => {
                        let _ = shutdown.send(Shutdown::StopSessions);
                        "stopping\n".to_owned()
                    }
                    "detach" => {
                        let _ = shutdown.send(Shutdown::LeaveSessions);
                        "stopping\n".to_owned()
                    }
                    other => {
                        format!("error unknown command `{other}` (ping, poke, reload, stop)\n")
                    }
                };
                if write.write_all(reply.as_bytes()).await.is_err() {
                    break;
                }
            }
        });
    }
}

/// Watches `.gc/applied/` and asks for a rescan on every change (the shared reading of the
/// store is stale from then on, before any reconcile the change causes).
fn watch_store(
    ctx: &Arc<Context>,
    rescan: mpsc::UnboundedSender<Rescan>,
) -> Option<notify::RecommendedWatcher> {
    use notify::{EventKind, RecursiveMode, Watcher};
    let dir = ctx.city_dir.join(".gc").join("applied");
    std::fs::create_dir_all(&dir).ok()?;
    let ctx = ctx.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && !matches!(event.kind, EventKind::Access(_))
        {
            ctx.models.changed();
            ctx.specs.changed();
            let _ = rescan.send(Rescan::Changed);
        }
    })
    .ok()?;
    watcher.watch(&dir, RecursiveMode::Recursive).ok()?;
    Some(watcher)
}

/// Where [`feed`] sends each kind's watcher events.
struct Senders {
    agents: mpsc::UnboundedSender<watcher::Event<GcObject>>,
    providers: mpsc::UnboundedSender<watcher::Event<GcObject>>,
    rigs: mpsc::UnboundedSender<watcher::Event<GcObject>>,
    formulas: mpsc::UnboundedSender<watcher::Event<GcObject>>,
    orders: mpsc::UnboundedSender<watcher::Event<GcObject>>,
}

/// Turns rescans into watcher events per kind, remembering what was sent. A full rescan (and
/// any change to a City, Rig or Provider, which can change every agent's launch and, for the
/// City's bead backend, every rig's store) re-lists every agent and rig (`Init…InitDone`), so
/// each is reconciled; it also sweeps deleted agents' sessions and worktrees, deleted rigs'
/// statuses, and sees to the city's own bead store. Otherwise only changed objects are sent.
async fn feed(ctx: Arc<Context>, mut rescans: mpsc::UnboundedReceiver<Rescan>, senders: Senders) {
    let mut known: BTreeMap<(Kind, String), String> = BTreeMap::new();
    let mut damaged: BTreeMap<(Kind, String), String> = BTreeMap::new();
    while let Some(first) = rescans.recv().await {
        // Coalesce a burst (an apply writes many files) into one rescan.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut full = first == Rescan::Full;
        while let Ok(more) = rescans.try_recv() {
            full |= more == Rescan::Full;
        }
        let store = ctx.store.clone();
        let Ok(Ok(listing)) = tokio::task::spawn_blocking(move || store.list()).await else {
            tracing::warn!("cannot read the store; retrying at the next change");
            continue;
        };
        // A file that reads but whose spec no longer fits the types is damaged too (the
        // controllers hold what it owns; see CityModel::held_by_damage).
        let mut unreadable = listing.damaged.clone();
        unreadable.extend(listing.objects.iter().filter_map(|o| {
            let error = o.typed().err()?;
            Some(Damaged { kind: o.kind, name: o.metadata.name.clone(), error })
        }));
        report_damaged(&ctx, &unreadable, &mut damaged);
        let objects = listing.objects;
        let next: BTreeMap<(Kind, String), String> = objects
            .iter()
            .map(|o| ((o.kind, o.metadata.name.clone()), o.metadata.resource_version.clone()))
            .collect();
        let shapes_agents = |k: &Kind| matches!(k, Kind::City | Kind::Rig | Kind::Provider);
        let others_changed = next.iter().chain(known.iter()).any(|(key, version)| {
            shapes_agents(&key.0)
                && (known.get(key) != Some(version) || next.get(key) != Some(version))
        });
        let agent_removed = known.keys().any(|k| k.0 == Kind::Agent && !next.contains_key(k));
        // A formula's status depends on the formulas it extends: any formula change re-lists
        // them all.
        let formulas_changed = next.iter().chain(known.iter()).any(|(key, version)| {
            key.0 == Kind::Formula
                && (known.get(key) != Some(version) || next.get(key) != Some(version))
        });
        let order_removed = known.keys().any(|k| k.0 == Kind::Order && !next.contains_key(k));
        let kinds = [
            (Kind::Agent, &senders.agents),
            (Kind::Provider, &senders.providers),
            (Kind::Rig, &senders.rigs),
            (Kind::Formula, &senders.formulas),
            (Kind::Order, &senders.orders),
        ];
        for (kind, sender) in kinds {
            let of_kind: Vec<&StoredObject> = objects.iter().filter(|o| o.kind == kind).collect();
            let relist = (matches!(kind, Kind::Agent | Kind::Rig) && others_changed)
                || (kind == Kind::Formula && formulas_changed);
            if full || relist {
                let _ = sender.send(watcher::Event::Init);
                for o in &of_kind {
                    let _ = sender.send(watcher::Event::InitApply(GcObject::new((*o).clone())));
                }
                let _ = sender.send(watcher::Event::InitDone);
                continue;
            }
            for o in &of_kind {
                let key = (kind, o.metadata.name.clone());
                if known.get(&key) != Some(&o.metadata.resource_version) {
                    let _ = sender.send(watcher::Event::Apply(GcObject::new((*o).clone())));
                }
            }
            for (k, name) in known.keys().filter(|(k, _)| *k == kind) {
                if !of_kind.iter().any(|o| &o.metadata.name == name) {
                    let gone = StoredObject { kind: *k, ..placeholder(name) };
                    let _ = sender.send(watcher::Event::Delete(GcObject::new(gone)));
                }
            }
        }
        known = next;
        // kube-runtime never reconciles a deleted object: its sessions are swept here (and a
        // City change may ask for stray sessions to be stopped).
        if full || agent_removed || order_removed || others_changed || formulas_changed {
            let ctx = ctx.clone();
            let swept = tokio::task::spawn_blocking(move || {
                let model = super::model::CityModel::load_specs(&ctx.city_dir, &ctx.store)?;
                if let Err(e) = super::rig_reconcile::ensure_city_store(&ctx, &model) {
                    tracing::warn!("city bead store: {e}");
                }
                super::rig_reconcile::sweep_statuses(&ctx, &model)?;
                for name in ctx.store.status_names(Kind::Formula)? {
                    if !model.is_applied(Kind::Formula, &name) {
                        ctx.store.delete_status(Kind::Formula, &name)?;
                    }
                }
                super::order::sweep(&ctx, &model)?;
                reconcile::sweep(&ctx)
            });
            if let Ok(Err(e)) = swept.await {
                tracing::warn!("sweep: {e}");
            }
        }
    }
}

fn placeholder(name: &str) -> StoredObject {
    StoredObject {
        api_version: crate::api::API_VERSION.to_owned(),
        kind: Kind::Agent,
        metadata: crate::store::StoredMeta {
            name: name.to_owned(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            generation: 0,
            resource_version: String::new(),
            creation_timestamp: String::new(),
            uid: String::new(),
        },
        spec: serde_json::Value::Null,
        source: None,
    }
}

/// What the observer compares between passes, per session: alive, instance token, owner.
type Seen = BTreeMap<String, (bool, Option<String>, Option<String>)>;

fn seen(observed: &[crate::runtime::SessionInfo]) -> Seen {
    use super::launch::meta;
    observed
        .iter()
        .map(|s| {
            let instance = s.meta.get(meta::INSTANCE).cloned();
            (s.name.clone(), (s.alive, instance, s.meta.get(meta::AGENT).cloned()))
        })
        .collect()
}

/// Watches the sessions and re-triggers the agent owning any session that changed (a session
/// that vanished is traced to its agent through the previous pass). A change no agent owns
/// (a stray session) re-lists every agent, and so does the first look: whatever changed
/// between the first pass and it is reconciled too.
async fn observe(
    ctx: Arc<Context>,
    sessions: mpsc::UnboundedSender<ObjectRef<GcObject>>,
    rescan: mpsc::UnboundedSender<Rescan>,
    mut shutdown: watch::Receiver<Shutdown>,
) {
    let mut last: Option<Seen> = None;
    let mut beads = BeadWatch::new(&ctx.city_dir);
    let mut tick = tokio::time::interval(OBSERVE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let wake = ctx.sessions_changed.clone();
    let mut exits = super::exit_watch::ExitWatch::new(wake.clone());
    // Told of every program's exit (or every change, by a runtime that watches its sessions),
    // the sessions need listing only as a safety net.
    let local = ctx.runtime.pids_are_local();
    let told = local || ctx.runtime.notify_changes(wake.clone());
    let list_every = if told { SESSIONS_RESYNC } else { OBSERVE_EVERY };
    if told && !local {
        // Every change of a session (also by another process: a hook's metadata) arrives as a
        // wake-up, which makes the kept listing stale: it can be kept as long as the resync.
        ctx.listing.share_for(SESSIONS_RESYNC);
    }
    let mut listed: Option<std::time::Instant> = None;
    let mut look_again = false;
    loop {
        let woken = tokio::select! {
            _ = tick.tick() => false,
            _ = wake.notified() => true,
            _ = tokio::time::sleep(EXIT_RELIST), if look_again => true,
            _ = shutdown.changed() => return,
        };
        if beads.changed() {
            let ctx = ctx.clone();
            let agents = tokio::task::spawn_blocking(move || work_driven_agents(&ctx)).await;
            for agent in agents.unwrap_or_default() {
                let _ = sessions.send(ObjectRef::new_with(&agent, Kind::Agent));
            }
        }
        if !woken && listed.is_some_and(|at| at.elapsed() < list_every) {
            continue;
        }
        listed = Some(std::time::Instant::now());
        // A fresh listing, which the reconciles it triggers then share.
        ctx.listing.invalidate();
        let listing = ctx.listing.clone();
        let Ok(Ok(observed)) = tokio::task::spawn_blocking(move || listing.list_shared("")).await
        else {
            continue;
        };
        if local {
            look_again = exits.track(observed.iter().filter(|s| s.alive).filter_map(|s| s.pid));
        }
        let now = seen(&observed);
        // Alive now, or alive at the last look and gone now: running until about now (a lease
        // holder that came back and went again counts as gone from its second going).
        let went = last.iter().flatten().filter(|(name, (alive, ..))| {
            *alive && !now.get(*name).is_some_and(|(alive_now, ..)| *alive_now)
        });
        let alive_now = now.iter().filter(|(_, (alive, ..))| *alive);
        ctx.note_running(alive_now.chain(went).map(|(name, _)| name.as_str()));
        if last.is_none() {
            let _ = rescan.send(Rescan::Full);
        }
        if let Some(before) = &last {
            let changed: Vec<&String> = before
                .keys()
                .chain(now.keys())
                .filter(|name| before.get(*name) != now.get(*name))
                .collect();
            let owner = |name: &String| {
                let seen = now.get(name).or_else(|| before.get(name))?;
                seen.2.clone()
            };
            let mut owners: Vec<String> = changed.iter().filter_map(|n| owner(n)).collect();
            owners.sort();
            owners.dedup();
            if changed.iter().any(|n| owner(n).is_none()) {
                let _ = rescan.send(Rescan::Full);
            }
            for agent in owners {
                let _ = sessions.send(ObjectRef::new_with(&agent, Kind::Agent));
            }
        }
        last = Some(now);
    }
}

/// Drains the sessions' nudge queues and tells idle agents about their work
/// ([`super::nudge_drainer`]), one tick a second.
async fn drain_nudges(ctx: Arc<Context>, mut shutdown: watch::Receiver<Shutdown>) {
    let drainers =
        Arc::new(std::sync::Mutex::new(super::nudge_drainer::Drainers::new(&ctx.city_dir)));
    let mut tick = tokio::time::interval(NUDGE_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let (ctx, drainers) = (ctx.clone(), drainers.clone());
        let _ = tokio::task::spawn_blocking(move || {
            let mut drainers = drainers.lock().unwrap_or_else(|p| p.into_inner());
            super::nudge_drainer::tick(&ctx, &mut drainers);
        })
        .await;
    }
}

/// Keeps the usage ledger current and says when budgets cross their thresholds
/// ([`super::budget_watch`]), re-triggering the agents whose budget was used up or freed.
async fn watch_budgets(
    ctx: Arc<Context>,
    agents: mpsc::UnboundedSender<ObjectRef<GcObject>>,
    mut shutdown: watch::Receiver<Shutdown>,
) {
    loop {
        let ctx2 = ctx.clone();
        let changed = tokio::task::spawn_blocking(move || super::budget_watch::tick(&ctx2)).await;
        for agent in changed.unwrap_or_default() {
            let _ = agents.send(ObjectRef::new_with(&agent, Kind::Agent));
        }
        tokio::select! {
            _ = tokio::time::sleep(BUDGET_EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Takes work back from holders that are gone ([`super::lease_sweep`]), as often as the
/// shortest lease grace in force asks.
async fn sweep_leases(ctx: Arc<Context>, mut shutdown: watch::Receiver<Shutdown>) {
    let absences = Arc::new(std::sync::Mutex::new(super::lease::Absences::default()));
    loop {
        let (ctx, absences) = (ctx.clone(), absences.clone());
        let swept = tokio::task::spawn_blocking(move || {
            let mut absences = absences.lock().unwrap_or_else(|p| p.into_inner());
            super::lease_sweep::sweep(&ctx, &mut absences)
        })
        .await;
        let next = swept.unwrap_or(Duration::from_secs(10));
        tokio::select! {
            _ = tokio::time::sleep(next) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Opens gates whose condition holds ([`super::gate_sweep`]) and runs the control beads that
/// are ready ([`super::control_sweep`]), every few seconds.
async fn sweep_workflows(ctx: Arc<Context>, mut shutdown: watch::Receiver<Shutdown>) {
    // Whether `gh` can be run is asked once: installing it takes a controller restart.
    let github =
        tokio::task::spawn_blocking(crate::work::gates::github_available).await.unwrap_or(false);
    loop {
        let ctx = ctx.clone();
        let _ =
            tokio::task::spawn_blocking(move || super::gate_sweep::sweep_workflows(&ctx, github))
                .await;
        tokio::select! {
            _ = tokio::time::sleep(super::gate_sweep::EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Notices bead changes from the city's event log: every bead store appends `bead.*` events
/// there, whoever changed the bead (`gc sling`, an agent's `bd close`).
pub(super) struct BeadWatch {
    path: PathBuf,
    offset: u64,
}

impl BeadWatch {
    pub(super) fn new(city_dir: &Path) -> BeadWatch {
        let path = crate::events::log_path(city_dir);
        let offset = std::fs::metadata(&path).map_or(0, |m| m.len());
        BeadWatch { path, offset }
    }

    /// Whether `bead.*` events were appended since the last call.
    pub(super) fn changed(&mut self) -> bool {
        // A stat, not an open, when nothing was appended: this runs twice a second.
        let len = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        if len < self.offset {
            self.offset = 0;
        }
        if len == self.offset {
            return false;
        }
        let Ok(mut file) = File::open(&self.path) else { return false };
        let mut added = Vec::new();
        if file.seek(std::io::SeekFrom::Start(self.offset)).is_err()
            || file.read_to_end(&mut added).is_err()
        {
            return false;
        }
        self.offset += added.len() as u64;
        String::from_utf8_lossy(&added).contains("\"type\":\"bead.")
    }
}

/// The applied agents whose sessions follow their work: pools and agents with an
/// `idleTimeout`.
fn work_driven_agents(ctx: &Context) -> Vec<String> {
    let Ok(model) = super::model::CityModel::load_specs(&ctx.city_dir, &ctx.store) else {
        return Vec::new();
    };
    model
        .agents
        .iter()
        .filter(|(_, a)| a.spec.scaling.is_some() || a.spec.idle_timeout.is_some())
        .map(|(name, _)| name.clone())
        .collect()
}

/// A local reflector store of one kind fed by `events`, and the stream of objects it applied:
/// what `Controller::for_stream` runs on in place of an API server's watch.
fn reflected(
    kind: Kind,
    events: mpsc::UnboundedReceiver<watcher::Event<GcObject>>,
) -> (
    impl futures::Stream<Item = Result<GcObject, watcher::Error>> + Send + 'static,
    reflector::Store<GcObject>,
) {
    let writer = reflector::store::Writer::new(kind);
    let reader = writer.as_reader();
    let events = tokio_stream::wrappers::UnboundedReceiverStream::new(events).map(Ok);
    (reflector::reflector(writer, events).applied_objects(), reader)
}

async fn agent_controller(
    ctx: Arc<Context>,
    events: mpsc::UnboundedReceiver<watcher::Event<GcObject>>,
    sessions: mpsc::UnboundedReceiver<ObjectRef<GcObject>>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let (stream, reader) = reflected(Kind::Agent, events);
    let config = kube::runtime::controller::Config::default()
        .concurrency(reconcile::RECONCILE_PARALLEL as u16);
    Controller::for_stream_with(stream, reader, Kind::Agent)
        .with_config(config)
        .reconcile_on(tokio_stream::wrappers::UnboundedReceiverStream::new(sessions))
        .graceful_shutdown_on(shutdown)
        .run(reconcile_agent, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!("agent controller: {e}");
            }
        })
        .await;
}

async fn reconcile_agent(
    object: Arc<GcObject>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let name = object.name().to_owned();
    let outcome = tokio::task::spawn_blocking(move || {
        let outcome = reconcile::reconcile_agent(&ctx, &name);
        if outcome.is_ok() {
            ctx.clear_failure(&name);
        }
        outcome
    })
    .await
    .map_err(|e| ReconcileError::Io(std::io::Error::other(e)))??;
    // Nothing pending: the City-wide resync (a full rescan every `resyncInterval`) looks at
    // every agent again, all in one burst that shares one reading of the store and the
    // sessions; a requeue per agent would add a second look at its own moment.
    Ok(outcome.requeue_after.map_or_else(Action::await_change, Action::requeue))
}

fn error_policy(object: Arc<GcObject>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    tracing::warn!("reconciling agent/{}: {error}", object.name());
    ctx.report_failure(object.name(), error);
    Action::requeue(Duration::from_secs(2))
}

/// Runs the controller of a kind with no extra triggers (providers, rigs, formulas) over
/// `events` until `shutdown`.
async fn simple_controller<Fut>(
    kind: Kind,
    ctx: Arc<Context>,
    events: mpsc::UnboundedReceiver<watcher::Event<GcObject>>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
    reconcile: fn(Arc<GcObject>, Arc<Context>) -> Fut,
    error_policy: fn(Arc<GcObject>, &ReconcileError, Arc<Context>) -> Action,
) where
    Fut: std::future::Future<Output = Result<Action, ReconcileError>> + Send + 'static,
{
    let (stream, reader) = reflected(kind, events);
    Controller::for_stream_with(stream, reader, kind)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!("{} controller: {e}", kind.as_str());
            }
        })
        .await;
}

/// How soon a rig that is not ready is looked at again (a clone is retried at this pace too).
const RIG_RECHECK: Duration = Duration::from_secs(2);

/// Reconciles a rig, then looks again at the resync interval, or soon when it is not ready: a
/// path that appears or vanishes is noticed without any applied change.
async fn reconcile_rig(object: Arc<GcObject>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let name = object.name().to_owned();
    let resync = resync_interval(&ctx);
    let settled =
        tokio::task::spawn_blocking(move || super::rig_reconcile::reconcile_rig(&ctx, &name))
            .await
            .map_err(|e| ReconcileError::Io(std::io::Error::other(e)))??;
    Ok(Action::requeue(if settled { resync } else { RIG_RECHECK.min(resync) }))
}

fn rig_error_policy(object: Arc<GcObject>, error: &ReconcileError, _ctx: Arc<Context>) -> Action {
    tracing::warn!("reconciling rig/{}: {error}", object.name());
    Action::requeue(Duration::from_secs(5))
}

/// Records whether the formula compiles (with the formulas it extends), and its step graph.
async fn reconcile_formula(
    object: Arc<GcObject>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let name = object.name().to_owned();
    tokio::task::spawn_blocking(move || {
        let model = super::model::CityModel::load_specs(&ctx.city_dir, &ctx.store)?;
        if let Some(mut status) = super::formula::status(&model, &name) {
            locate_error(&ctx, &mut status);
            ctx.store.put_status(Kind::Formula, &name, &status)?;
        }
        Ok::<(), ReconcileError>(())
    })
    .await
    .map_err(|e| ReconcileError::Io(std::io::Error::other(e)))??;
    Ok(Action::await_change())
}

/// Adds `file:line:col` to a formula status's error, from the source file of the formula
/// the error is in (which may be one it extends).
fn locate_error(ctx: &Context, status: &mut FormulaStatus) {
    let Some(error) = status.error.as_mut() else { return };
    let (Some(formula), Some(path)) = (error.formula.as_deref(), error.path.as_deref()) else {
        return;
    };
    let source = ctx.store.get(Kind::Formula, formula).ok().flatten().and_then(|o| o.source);
    let location = source.and_then(|file| {
        crate::validate::locate(&ctx.city_dir, &file, Kind::Formula, formula, path)
    });
    if let Some(location) = location {
        let message = format!("{location}: {}", error.message);
        error.location = Some(location);
        if let Some(ready) = status.conditions.first_mut() {
            ready.message = message;
        }
    }
}

async fn reconcile_provider(
    object: Arc<GcObject>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let Some(stored) = object.stored.clone() else { return Ok(Action::await_change()) };
    let city_dir = ctx.city_dir.clone();
    let status = tokio::task::spawn_blocking(move || super::provider::probe(&city_dir, &stored))
        .await
        .map_err(|e| ReconcileError::Io(std::io::Error::other(e)))?;
    ctx.store.put_status(Kind::Provider, object.name(), &status)?;
    Ok(Action::requeue(Duration::from_secs(300)))
}

/// How often the event log is looked at for new events that may fire an order.
const FOLLOW_EVENTS_EVERY: Duration = Duration::from_millis(300);

/// Follows the city's event log and wakes the orders new events concern (see
/// [`super::order::woken_by`]).
async fn follow_events(
    ctx: Arc<Context>,
    wake: mpsc::UnboundedSender<String>,
    mut shutdown: watch::Receiver<Shutdown>,
) {
    let mut tail = crate::events::Tail::new(&ctx.city_dir, super::order::log_end(&ctx.city_dir));
    let mut tick = tokio::time::interval(FOLLOW_EVENTS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let events: Vec<crate::orders::gate::EventInput> = match tail.read_new() {
            Ok(events) => events.iter().map(crate::orders::gate::EventInput::of).collect(),
            Err(e) => {
                tracing::debug!("following events: {e}");
                continue;
            }
        };
        if events.is_empty() {
            continue;
        }
        let ctx = ctx.clone();
        let woken = tokio::task::spawn_blocking(move || {
            super::model::CityModel::load_specs(&ctx.city_dir, &ctx.store)
                .map(|model| super::order::woken_by(&model, &events))
                .unwrap_or_default()
        })
        .await
        .unwrap_or_default();
        for order in woken {
            let _ = wake.send(order);
        }
    }
}

async fn order_controller(
    octx: Arc<super::order::OrderContext>,
    events: mpsc::UnboundedReceiver<watcher::Event<GcObject>>,
    wake: mpsc::UnboundedReceiver<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let (stream, reader) = reflected(Kind::Order, events);
    let wake = tokio_stream::wrappers::UnboundedReceiverStream::new(wake)
        .map(|name| ObjectRef::new_with(&name, Kind::Order));
    Controller::for_stream_with(stream, reader, Kind::Order)
        .reconcile_on(wake)
        .graceful_shutdown_on(shutdown)
        .run(reconcile_order, order_error_policy, octx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!("order controller: {e}");
            }
        })
        .await;
}

/// Reconciles an order, then looks again when its gate may next open (or soon while a run is
/// open); an event or a run ending wakes it earlier.
async fn reconcile_order(
    object: Arc<GcObject>,
    octx: Arc<super::order::OrderContext>,
) -> Result<Action, ReconcileError> {
    let name = object.name().to_owned();
    let requeue = tokio::task::spawn_blocking(move || super::order::reconcile_order(&octx, &name))
        .await
        .map_err(|e| ReconcileError::Io(std::io::Error::other(e)))??;
    Ok(requeue.map_or_else(Action::await_change, Action::requeue))
}

fn order_error_policy(
    object: Arc<GcObject>,
    error: &ReconcileError,
    _ctx: Arc<super::order::OrderContext>,
) -> Action {
    tracing::warn!("reconciling order/{}: {error}", object.name());
    Action::requeue(Duration::from_secs(5))
}
