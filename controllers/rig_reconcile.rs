//! One reconcile of a rig (and of the city's own bead store): observe the rig's path and store,
//! plan with the pure planner ([`super::rig`]), clone and initialise as planned, record status
//! and events. Synchronous, like the agent executor.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::model::CityModel;
use super::reconcile::{Context, ReconcileError};
use super::rig::{self, Failure, PathState, RigAction, RigInput, StoreState};
use crate::api::Kind;
use crate::api::agent::Isolation;
use crate::beads::layout::{self, StoreConfig};

/// At most this many plan-act rounds per pass: clone, then initialise the store, then settle.
const ROUNDS: usize = 3;

/// What is at `dir`.
pub fn path_state(dir: &Path) -> PathState {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => PathState::Dir { git: super::git::is_repo(dir) },
        Ok(_) => PathState::NotADirectory,
        Err(_) => PathState::Missing,
    }
}

/// The store in `dir` compared with `wanted`.
pub fn store_state(dir: &Path, wanted: &StoreConfig) -> StoreState {
    if !dir.join(layout::CONFIG_FILE).exists() {
        return StoreState::Missing;
    }
    match StoreConfig::read(dir) {
        Ok(found) if found == *wanted => StoreState::Ready,
        Ok(_) | Err(_) => StoreState::Differs,
    }
}

/// Reconciles the rig `name`; a rig no longer applied has its status removed. Returns whether
/// the rig can wait for the next resync: true when it is ready or its clone failed (retried
/// at the resync pace, not hammering a remote); false when it should be looked at again soon
/// (a directory created by hand is noticed without an apply).
pub fn reconcile_rig(ctx: &Context, name: &str) -> Result<bool, ReconcileError> {
    let model = CityModel::load_specs(&ctx.city_dir, &ctx.store)?;
    reconcile_rig_in(ctx, &model, name)
}

/// [`reconcile_rig`] against an already loaded model.
pub fn reconcile_rig_in(
    ctx: &Context,
    model: &CityModel,
    name: &str,
) -> Result<bool, ReconcileError> {
    let Some(applied) = model.rigs.get(name) else {
        ctx.store.delete_status(Kind::Rig, name)?;
        return Ok(true);
    };
    let spec = &applied.spec;
    let dir = model.rig_dir(spec);
    let (_, config) = crate::work::stores::store_config(model, Some(name))?;
    let worktree_agents: Vec<String> = model
        .agents
        .iter()
        .filter(|(_, a)| a.spec.rig.as_deref() == Some(name))
        .filter(|(_, a)| a.spec.isolation == Isolation::Worktree)
        .map(|(n, _)| n.clone())
        .collect();
    // An unreadable status (damaged) is as none: this reconcile rewrites it.
    let previous: Option<crate::api::status::RigStatus> =
        ctx.store.status(Kind::Rig, name).ok().flatten();
    let previous_reason = previous.as_ref().and_then(rig::ready_reason).map(str::to_owned);
    let mut failure: Option<Failure> = None;
    let mut round = 0;
    let plan = loop {
        let plan = rig::plan(&RigInput {
            name,
            generation: applied.generation,
            spec,
            dir: &dir,
            store: &config,
            path: path_state(&dir),
            store_state: store_state(&layout::rig_beads_dir(&dir), &config),
            worktree_agents: &worktree_agents,
            previous_reason: previous_reason.as_deref(),
            failure: failure.as_ref(),
        });
        round += 1;
        if plan.actions.is_empty() || round > ROUNDS {
            break plan;
        }
        // Show what is under way (a clone can take a while).
        ctx.store.put_status(Kind::Rig, name, &plan.status)?;
        for action in &plan.actions {
            if let Err(f) = execute(ctx, name, action) {
                failure = Some(f);
                break;
            }
        }
    };
    for event in &plan.events {
        emit(ctx, event.event_type, event.reason, Some(name), event.message.clone(), json!({}));
    }
    ctx.store.put_status(Kind::Rig, name, &plan.status)?;
    Ok(matches!(rig::ready_reason(&plan.status), Some("Ready" | "CloneFailed")))
}

/// Carries out one action; a failure is returned for the planner to report.
fn execute(ctx: &Context, rig: &str, action: &RigAction) -> Result<(), Failure> {
    match action {
        RigAction::Clone { repo, dir } => {
            clone_into_place(repo, dir)
                .map_err(|message| Failure { reason: "CloneFailed", message })?;
            emit(
                ctx,
                "rig.cloned",
                "Cloned",
                Some(rig),
                format!("cloned {repo} into {}", dir.display()),
                json!({"repo": repo, "path": dir.display().to_string()}),
            );
        }
        RigAction::InitStore { dir, config } => {
            let before = std::fs::read_to_string(dir.join(layout::CONFIG_FILE)).ok();
            layout::init(dir, config).map_err(|e| Failure {
                reason: "StoreFailed",
                message: format!("cannot initialise the bead store in {}: {e}", dir.display()),
            })?;
            // Only a new or reconfigured store is news (re-opening an existing one is not).
            if std::fs::read_to_string(dir.join(layout::CONFIG_FILE)).ok() != before {
                emit(
                    ctx,
                    "rig.store_initialized",
                    "StoreInitialized",
                    Some(rig),
                    format!("bead store in {} (prefix {})", dir.display(), config.prefix),
                    json!({"dir": dir.display().to_string(), "prefix": config.prefix}),
                );
            }
        }
    }
    Ok(())
}

/// Clones into a hidden sibling directory, then renames it into place, so nobody (an agent
/// about to start) ever sees a half-cloned rig.
fn clone_into_place(repo: &str, dir: &Path) -> Result<(), String> {
    let parent = dir.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(parent)
        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let base = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp: PathBuf = parent.join(format!(".{base}.gc-clone-{}", uuid::Uuid::new_v4().simple()));
    let result = super::git::clone(repo, &temp).map_err(|e| e.to_string()).and_then(|()| {
        std::fs::rename(&temp, dir)
            .map_err(|e| format!("cannot move the clone to {}: {e}", dir.display()))
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&temp);
    }
    result
}

/// Initialises (or reconfigures) the city's own bead store when it is not as the City says.
pub fn ensure_city_store(ctx: &Context, model: &CityModel) -> Result<(), ReconcileError> {
    let (dir, config) = crate::work::stores::store_config(model, None)?;
    let state = store_state(&dir, &config);
    if state == StoreState::Ready {
        return Ok(());
    }
    let before = std::fs::read_to_string(dir.join(layout::CONFIG_FILE)).ok();
    layout::init(&dir, &config)?;
    if std::fs::read_to_string(dir.join(layout::CONFIG_FILE)).ok() != before {
        emit(
            ctx,
            "city.store_initialized",
            "StoreInitialized",
            None,
            format!("city bead store in {} (prefix {})", dir.display(), config.prefix),
            json!({"dir": dir.display().to_string(), "prefix": config.prefix}),
        );
    }
    Ok(())
}

/// Every rig once (the controller's first pass, `gc apply --wait`), and the statuses of rigs
/// no longer applied removed.
pub fn reconcile_rigs(ctx: &Context, model: &CityModel) -> Result<(), ReconcileError> {
    if let Err(e) = ensure_city_store(ctx, model) {
        tracing::warn!("city bead store: {e}");
    }
    for name in model.rigs.keys() {
        if let Err(e) = reconcile_rig_in(ctx, model, name) {
            tracing::warn!("reconciling rig/{name}: {e}");
        }
    }
    sweep_statuses(ctx, model)
}

/// Removes the status of rigs that are no longer applied (kube-runtime never reconciles a
/// deleted object).
pub fn sweep_statuses(ctx: &Context, model: &CityModel) -> Result<(), ReconcileError> {
    for name in ctx.store.status_names(Kind::Rig)? {
        if !model.is_applied(Kind::Rig, &name) {
            ctx.store.delete_status(Kind::Rig, &name)?;
        }
    }
    Ok(())
}

/// Appends an event about rig `rig` (or the city when `None`).
pub(crate) fn emit(
    ctx: &Context,
    event_type: &str,
    reason: &str,
    rig: Option<&str>,
    message: String,
    payload: Value,
) {
    let mut event = crate::events::Event::new(event_type, reason, message);
    if payload.as_object().is_some_and(|p| !p.is_empty()) {
        event = event.payload(payload);
    }
    if let Some(rig) = rig {
        event = event.object(Kind::Rig, rig);
    }
    if let Err(e) = crate::events::append(&ctx.city_dir, vec![event], &ctx.actor) {
        tracing::warn!("cannot record event {event_type}: {e}");
    }
}
