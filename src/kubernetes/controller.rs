//! `gc controller --kubernetes`: the city's controllers, run against a Kubernetes API server.
//!
//! Every replica competes for a `coordination.k8s.io` Lease ([`LeaseElector`]); only the
//! leader works. The leader watches the custom resources of every kind (kube-runtime
//! watchers: a list, then a watch, re-listing only when the API server says so), applies what
//! they declare to its own city directory ([`sync`]), and runs there the same controllers `gc
//! start` runs — the same planners, executors, status and event log. What they record goes
//! back to the cluster: each resource's status through its status subresource
//! ([`StatusWriter`]), and gc's events as Kubernetes Events on the resources they regard
//! ([`EventSink`]).
//!
//! Losing the lease ends the process with an error (Kubernetes restarts it as a follower):
//! work started as leader must never go on beside a new leader's. A SIGTERM or SIGINT hands
//! the lease back, so a follower takes over at once rather than when the lease runs out.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use kube::core::DynamicObject;
use kube::runtime::reflector::{self, Store as Reflection};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};

use crate::api::Kind;
use crate::kubernetes::events::EventSink;
use crate::kubernetes::lease::{LeaseElector, LeaseTiming, SystemClock};
use crate::kubernetes::mirror::api_resource;
use crate::kubernetes::status::StatusWriter;
use crate::kubernetes::sync::{self, Problem, Synced};

/// How an in-cluster controller runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// The controller's own city directory (on the workspace volume).
    pub city_dir: PathBuf,
    /// The namespace whose custom resources it serves.
    pub namespace: String,
    /// The Lease the replicas compete for.
    pub lease_name: String,
    /// This replica's identity in the Lease (the pod's name).
    pub identity: String,
    /// How long the lease lasts and how often it is renewed.
    pub timing: LeaseTiming,
}

/// Why the in-cluster controller stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// The lease settings or identity are unusable.
    #[error(transparent)]
    Lease(#[from] crate::kubernetes::lease::LeaseError),
    /// Another replica took over (or this one could not renew in time).
    #[error(
        "lost the leadership of lease {0}: stopping so that only the new leader acts \
         (Kubernetes restarts this pod as a follower)"
    )]
    LostLeadership(String),
    /// The local city could not be prepared or the controllers failed.
    #[error("{0}")]
    City(String),
}

/// Kinds the controller watches, in the order their watchers start.
const KINDS: [Kind; 6] =
    [Kind::City, Kind::Provider, Kind::Rig, Kind::Agent, Kind::Formula, Kind::Order];

/// How long changes are gathered before one apply: a `kubectl apply -f city/` of many objects
/// arrives as many watch events within milliseconds, and becomes one apply.
const GATHER: Duration = Duration::from_millis(150);

/// How often the statuses the controllers wrote are compared with what the cluster was sent.
/// Only changed ones are patched, so an idle city costs no API requests.
const STATUS_EVERY: Duration = Duration::from_millis(500);

/// How often gc's event log is read for new events to publish.
const EVENTS_EVERY: Duration = Duration::from_millis(500);

/// Runs until interrupted (`Ok`, the lease handed back) or leadership is lost (`Err`).
pub async fn run(client: Client, options: Options) -> Result<(), ControllerError> {
    std::fs::create_dir_all(&options.city_dir)
        .map_err(|e| ControllerError::City(format!("{}: {e}", options.city_dir.display())))?;
    let leases: Api<Lease> = Api::namespaced(client.clone(), &options.namespace);
    let elector = LeaseElector::new(
        leases,
        options.lease_name.clone(),
        options.identity.clone(),
        options.timing,
        SystemClock,
    )?;
    let mut leading = elector.subscribe();
    let (stop_tx, stop_rx) = watch::channel(false);
    let elector_task = tokio::spawn(elector.run(async move {
        let mut stop_rx = stop_rx;
        let _ = stop_rx.wait_for(|stop| *stop).await;
    }));
    tracing::info!(
        lease = %options.lease_name, identity = %options.identity, namespace = %options.namespace,
        "waiting to lead"
    );
    let interrupted = interrupted();
    tokio::pin!(interrupted);
    let leads = tokio::select! {
        () = &mut interrupted => false,
        became = leading.wait_for(|l| *l) => became.is_ok(),
    };
    let outcome =
        if leads { lead(client, &options, &mut leading, interrupted).await } else { Ok(()) };
    let _ = stop_tx.send(true);
    let _ = elector_task.await;
    outcome
}

/// SIGTERM (how Kubernetes stops a pod) or SIGINT.
async fn interrupted() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        Some(()) = async { match term.as_mut() { Some(t) => t.recv().await, None => None } } => {}
    }
}

/// The leader's work, until `interrupted` or `leading` turns false.
async fn lead(
    client: Client,
    options: &Options,
    leading: &mut watch::Receiver<bool>,
    interrupted: impl Future<Output = ()>,
) -> Result<(), ControllerError> {
    tracing::info!(identity = %options.identity, "leading: serving the cluster's resources");
    let statuses = Arc::new(StatusWriter::new(client.clone(), &options.namespace));
    let changed = Arc::new(Notify::new());
    let mut reflections = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    for kind in KINDS {
        let writer = reflector::store::Writer::new(api_resource(kind));
        let reader = writer.as_reader();
        reflections.push((kind, reader));
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), &options.namespace, &api_resource(kind));
        tasks.spawn(follow_kind(kind, api, writer, statuses.clone(), changed.clone()));
    }
    let shared = Arc::new(Shared {
        reflections,
        generations: Mutex::new(BTreeMap::new()),
        session: watch::Sender::new(None),
        city_dir: options.city_dir.clone(),
    });
    for (kind, reader) in &shared.reflections {
        if reader.wait_until_ready().await.is_err() {
            return Err(ControllerError::City(format!("the watch of {} ended", kind.plural())));
        }
    }
    // What gc records from here on becomes Events, the first apply's findings too; and the
    // city's first pass must see what the cluster holds: it is applied before the controllers
    // start, not after.
    let log_end =
        std::fs::metadata(crate::events::log_path(&shared.city_dir)).map_or(0, |m| m.len());
    let mut said = Vec::new();
    apply_cluster(&shared, &mut said).await;
    tasks.spawn(keep_applying(shared.clone(), changed, said));
    tasks.spawn(write_statuses(shared.clone(), statuses));
    tasks.spawn(publish_events(
        shared.clone(),
        EventSink::new(client, &options.namespace, &options.identity),
        log_end,
    ));
    let mut interrupted = std::pin::pin!(interrupted);
    let mut session = shared.session.subscribe();
    let lost = || ControllerError::LostLeadership(options.lease_name.clone());
    let mut running: Option<Controllers> = None;
    let outcome = loop {
        // The controllers choose where sessions run from the City: none before there is one.
        let settings = tokio::select! {
            () = &mut interrupted => break Ok(()),
            _ = leading.wait_for(|l| !*l) => break Err(lost()),
            settings = session.wait_for(Option::is_some) => match settings {
                Ok(settings) => settings.clone(),
                Err(_) => break Ok(()),
            },
        };
        let controllers = match start_controllers(&options.city_dir).await {
            Ok(controllers) => running.insert(controllers),
            Err(e) => break Err(e),
        };
        tokio::select! {
            () = &mut interrupted => break Ok(()),
            _ = leading.wait_for(|l| !*l) => break Err(lost()),
            ended = &mut *controllers => break Err(ControllerError::City(match ended {
                Ok(Ok(())) => "the controllers stopped".to_owned(),
                Ok(Err(e)) => e.to_string(),
                Err(e) => e.to_string(),
            })),
            _ = session.wait_for(|now| *now != settings) => {
                if let Some(stopped) = running.take() {
                    stopped.abort();
                    let _ = stopped.await;
                }
                tracing::info!("the City's session settings changed: controllers restarted with them");
            }
        }
    };
    // Nothing started as leader goes on: not the controllers, not the watches.
    if let Some(controllers) = running {
        controllers.abort();
    }
    tasks.abort_all();
    outcome
}

/// The city's controllers, running (see [`start_controllers`]).
type Controllers = tokio::task::JoinHandle<Result<(), crate::controllers::manager::ManagerError>>;

/// The city's controllers on `city_dir`, as `gc start` runs them.
///
/// Controllers just stopped (the City's session settings changed) may still be letting go of
/// the city's lock: it is waited for a little, as it is let go as soon as they are.
async fn start_controllers(city_dir: &std::path::Path) -> Result<Controllers, ControllerError> {
    use crate::controllers::manager::{self, ManagerError};
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let lock = loop {
        match manager::lock(city_dir) {
            Ok(lock) => break lock,
            Err(ManagerError::AlreadyRunning(_)) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(ControllerError::City(e.to_string())),
        }
    };
    let ctx = crate::controllers::reconcile::Context::for_city(city_dir, "controller")
        .map_err(|e| ControllerError::City(e.to_string()))?;
    Ok(tokio::spawn(manager::run(Arc::new(ctx), lock)))
}

/// What the leader's tasks share: the watched objects, and the generations of the last apply.
struct Shared {
    reflections: Vec<(Kind, Reflection<DynamicObject>)>,
    generations: Mutex<BTreeMap<(Kind, String), (i64, u64)>>,
    /// The applied City's session settings (see [`Synced::session`]).
    session: watch::Sender<Option<String>>,
    city_dir: PathBuf,
}

impl Shared {
    fn objects(&self) -> Vec<(Kind, DynamicObject)> {
        self.reflections
            .iter()
            .flat_map(|(kind, reader)| reader.state().into_iter().map(|o| (*kind, (*o).clone())))
            .collect()
    }

    fn uid(&self, kind: Kind, name: &str) -> Option<String> {
        let (_, reader) = self.reflections.iter().find(|(k, _)| *k == kind)?;
        reader
            .state()
            .into_iter()
            .find(|o| o.metadata.name.as_deref() == Some(name))
            .and_then(|o| o.metadata.uid.clone())
    }

    fn generations(&self) -> BTreeMap<(Kind, String), (i64, u64)> {
        self.generations.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// Watches one kind into its reflection, noting each object's status as the cluster holds it
/// and waking the apply on every change.
async fn follow_kind(
    kind: Kind,
    api: Api<DynamicObject>,
    writer: reflector::store::Writer<DynamicObject>,
    statuses: Arc<StatusWriter>,
    changed: Arc<Notify>,
) {
    let stream =
        reflector::reflector(writer, watcher(api, watcher::Config::default())).default_backoff();
    let mut stream = std::pin::pin!(stream);
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::Apply(object) | watcher::Event::InitApply(object)) => {
                if let Some(name) = &object.metadata.name {
                    let status = object.data.get("status").cloned().unwrap_or_else(|| json!({}));
                    statuses.note_observed(kind, name, &status);
                }
                changed.notify_one();
            }
            Ok(watcher::Event::Delete(object)) => {
                if let Some(name) = &object.metadata.name {
                    statuses.forget(kind, name);
                }
                changed.notify_one();
            }
            Ok(watcher::Event::Init) => {}
            Ok(watcher::Event::InitDone) => changed.notify_one(),
            Err(e) => {
                let hint = if e.to_string().contains("404") {
                    " (are gc's CRDs installed? `kubectl apply -f manifests/kubernetes/crds/`)"
                } else {
                    ""
                };
                tracing::warn!(kind = kind.plural(), "watching: {e}{hint}");
            }
        }
    }
}

/// Applies the cluster's state after every change (gathered over [`GATHER`]).
async fn keep_applying(shared: Arc<Shared>, changed: Arc<Notify>, mut said: Vec<Problem>) {
    loop {
        changed.notified().await;
        tokio::time::sleep(GATHER).await;
        apply_cluster(&shared, &mut said).await;
    }
}

/// One apply of everything the cluster holds. Problems are recorded as gc events (which
/// become Warning Events on the resources they regard) when they differ from those `said`
/// last time, so an invalid resource is reported once, not on every change.
async fn apply_cluster(shared: &Arc<Shared>, said: &mut Vec<Problem>) {
    let rendered = sync::render(&shared.objects());
    for refused in &rendered.refused {
        tracing::warn!("not served: {refused}");
    }
    let documents = rendered.documents.clone();
    let city_dir = shared.city_dir.clone();
    let synced =
        match tokio::task::spawn_blocking(move || sync::apply_rendered(&city_dir, &rendered)).await
        {
            Ok(Ok(synced)) => synced,
            Ok(Err(e)) => {
                tracing::error!("applying the cluster's resources: {e}");
                return;
            }
            Err(e) => {
                tracing::error!("applying the cluster's resources: {e}");
                return;
            }
        };
    let Synced { changed, problems, applied, generations, session } = synced;
    let mut problems = sync::regarding(problems, &documents);
    if applied {
        *shared.generations.lock().unwrap_or_else(PoisonError::into_inner) = generations;
        shared.session.send_if_modified(|now| {
            let changed = *now != session;
            *now = session;
            changed
        });
        if changed > 0 {
            tracing::info!(changed, "applied the cluster's resources");
        }
    } else {
        tracing::warn!(
            problems = problems.len(),
            "the cluster's resources are not valid: nothing applied, the city keeps its last state"
        );
    }
    problems.sort();
    if problems != *said {
        record_problems(&shared.city_dir, &problems, applied);
        *said = problems;
    }
}

/// Records validation problems in the city's event log, on the resources they regard.
fn record_problems(city_dir: &std::path::Path, problems: &[Problem], applied: bool) {
    let events: Vec<crate::events::NewEvent> = problems
        .iter()
        .map(|p| {
            let (event_type, reason) = if applied {
                ("resource.warning", "ValidationWarning")
            } else {
                ("resource.invalid", "Invalid")
            };
            let mut event = crate::events::Event::new(event_type, reason, p.message.clone());
            if let (Some(kind), Some(name)) = (p.kind, &p.name) {
                event = event.object(kind, name.clone());
            }
            event
        })
        .collect();
    for p in problems {
        tracing::warn!(kind = ?p.kind, name = ?p.name, "{}", p.message);
    }
    if let Err(e) = crate::events::append(city_dir, events, "gc controller") {
        tracing::warn!("cannot record validation problems: {e}");
    }
}

/// Sends each resource's status to the cluster when it changes.
async fn write_statuses(shared: Arc<Shared>, statuses: Arc<StatusWriter>) {
    let store = crate::store::Store::new(&shared.city_dir);
    let mut tick = tokio::time::interval(STATUS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let generations = shared.generations();
        for (kind, object) in shared.objects() {
            let Some(name) = object.metadata.name.as_deref() else { continue };
            let local = match store.status_value(kind, name) {
                Ok(Some(local)) => local,
                Ok(None) => continue,
                Err(e) => {
                    tracing::debug!("reading the status of {}/{name}: {e}", kind.plural());
                    continue;
                }
            };
            let status =
                sync::cluster_status(&local, generations.get(&(kind, name.to_owned())).copied());
            if let Err(e) = statuses.write(kind, name, &status).await {
                tracing::warn!("{e}");
            }
        }
    }
}

/// Publishes gc's events, from offset `from` of the log (where it ended when this replica
/// began to lead), as Kubernetes Events.
async fn publish_events(shared: Arc<Shared>, sink: EventSink, from: u64) {
    let mut tail = crate::events::Tail::new(&shared.city_dir, from);
    let mut tick = tokio::time::interval(EVENTS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let events = match tail.read_new() {
            Ok(events) => events,
            Err(e) => {
                tracing::debug!("reading events: {e}");
                continue;
            }
        };
        for event in events {
            let uid = event.object.as_ref().and_then(|o| shared.uid(o.kind, &o.name));
            let value: Value = match serde_json::to_value(&event) {
                Ok(value) => value,
                Err(_) => continue,
            };
            if let Err(e) = sink.record(&value, uid.as_deref()).await {
                tracing::warn!("{e}");
            }
        }
    }
}
