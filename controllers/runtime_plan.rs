//! The runtime plan: what the controller will do to sessions once a set of changes is applied,
//! for `gc diff` and `gc apply --dry-run`. The city as apply would leave it is planned against
//! the live sessions by the controller's own planner ([`reconcile::plan_agent`]), so what the
//! plan announces is what the controller then does.
//!
//! The controller converges over several passes (a dependency becomes ready, then its
//! dependents start; a start budget defers the rest to the next pass), so the plan does too: it
//! carries each pass's actions out on a copy of the observed world and plans again, until
//! nothing more would happen. Actions accumulate; notes are those of the settled city (what is
//! deliberately left as it is: drift kept by policy, a quarantine, a blocked rig).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::SystemTime;

use super::agent::{SessionAction, StartBlock, StartReason, StopReason};
use super::launch::{self, Launch, meta};
use super::model::CityModel;
use super::reconcile::{self, Context, ReconcileError, World};
use crate::api::Kind;
use crate::apply::{Action, Change, stored_after};
use crate::runtime::SessionInfo;
use crate::store::{Store, StoreError};

/// Most simulated controller passes; the plan settles long before in practice (each pass
/// either acts or leaves the world as it was).
const MAX_PASSES: usize = 8;

/// One agent's part of the runtime plan.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The agent.
    pub agent: String,
    /// What the controller will do to its sessions, in order (waits for readiness left out).
    pub actions: Vec<SessionAction>,
    /// What it will deliberately leave as it is, and why, one line each.
    pub notes: Vec<String>,
}

/// What the controller will do once the changes are applied: the agents with something to do
/// or to say, in start order (dependencies first), then the agents that are gone.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuntimePlan {
    /// One entry per agent concerned.
    pub entries: Vec<Entry>,
}

impl RuntimePlan {
    /// Whether no session would change and nothing is worth saying.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether any session would be started, stopped, restarted, removed or quarantined.
    pub fn changes_sessions(&self) -> bool {
        self.entries.iter().any(|e| !e.actions.is_empty())
    }

    /// One line per action, then per note, of each agent: `agent/mayor: restart gc-x-mayor:
    /// env.LOG_LEVEL changed; policy Immediate`.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for entry in &self.entries {
            let key = Kind::Agent.key(&entry.agent);
            out.extend(entry.actions.iter().map(|a| format!("{key}: {}", a.describe())));
            out.extend(entry.notes.iter().map(|n| format!("{key}: {n}")));
        }
        out
    }
}

/// Why the runtime plan could not be worked out. `gc diff` says so in one line and carries on:
/// the resource diff does not depend on it.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    /// The applied city could not be read.
    #[error("cannot read the applied city: {0}")]
    Store(#[from] StoreError),
    /// The sessions (or their marks) could not be observed: tmux missing or unreachable, an
    /// unsupported session backend.
    #[error("cannot observe the sessions: {0}")]
    Observe(#[from] ReconcileError),
}

/// The applied city as `changes` would leave it: created and configured objects put in (with
/// the generation apply would give them) and pruned ones removed. Prompt templates are not
/// read here (see [`CityModel::read_templates`]).
pub fn would_be(before: &CityModel, changes: &[Change]) -> CityModel {
    let mut after = before.clone();
    for change in changes {
        match change.action {
            Action::Create | Action::Configure | Action::Repair => {
                if let Some(object) = stored_after(change, String::new(), "") {
                    after.insert(&object);
                }
            }
            Action::Prune => after.remove(change.kind, &change.name),
            Action::Unchanged => {}
        }
    }
    after
}

/// Works out the runtime plan of applying `changes` to the city in `city_dir`: reads the
/// applied city, the prompt templates, the sessions, their marks, the crash ledger, the work
/// and the `scaleCheck` answers of pools. Changes nothing and records nothing.
///
/// **Warning:** a pool's `scaleCheck` command is run (as the controller would run it), so it
/// must not have side effects.
pub fn preview(city_dir: &Path, changes: &[Change]) -> Result<RuntimePlan, PreviewError> {
    let store = Store::new(city_dir);
    let before = CityModel::load_specs(city_dir, &store)?;
    let mut after = would_be(&before, changes);
    after.read_templates();
    // The sessions run where the applied City says; apply changes that only afterwards.
    let mut ctx = Context::for_city(city_dir, "gc diff")?;
    ctx.dry_run = true;
    let agents: Vec<&str> = after.agents.keys().map(String::as_str).collect();
    let world = reconcile::observe(&ctx, &after, &agents)?;
    let mut prepared = BTreeMap::new();
    let mut gates = BTreeMap::new();
    for agent in after.agents.keys() {
        let (gate, first) = start_gate_after_rigs(&after, agent);
        gates.insert(agent.clone(), gate);
        if let Some(first) = first {
            prepared.insert(agent.clone(), first);
        }
    }
    let mut plan = plan(&before, &after, world, &gates, SystemTime::now());
    for entry in &mut plan.entries {
        let starts = entry.actions.iter().any(|a| matches!(a, SessionAction::Start { .. }));
        if let Some(first) = prepared.get(&entry.agent).filter(|_| starts) {
            entry.notes.push(first.clone());
        }
    }
    Ok(plan)
}

/// `agent`'s rig gate once the rig controller has done its part: a missing bead store is
/// initialised, and a missing path with a `repo` is cloned, before its agents start (the
/// controller reconciles rigs too). Such a lifted block comes back with a line saying so.
fn start_gate_after_rigs(
    model: &CityModel,
    agent: &str,
) -> (Result<(), StartBlock>, Option<String>) {
    let gate = reconcile::start_gate(model, agent);
    let Err(block) = &gate else { return (gate, None) };
    let rig_name = model.agents.get(agent).and_then(|a| a.spec.rig.clone()).unwrap_or_default();
    let Some(rig) = model.rigs.get(&rig_name) else { return (gate, None) };
    match block.reason {
        "RigStoreMissing" => {
            (Ok(()), Some(format!("starts once rig `{rig_name}`'s bead store is initialised")))
        }
        "RigPathMissing" if !model.rig_dir(&rig.spec).exists() => match &rig.spec.repo {
            Some(repo) => {
                (Ok(()), Some(format!("starts once rig `{rig_name}` is cloned from {repo}")))
            }
            None => (gate, None),
        },
        _ => (gate, None),
    }
}

/// Plans the agents of `after` and those gone since `before` (or owning observed sessions)
/// against `world`, pass after simulated pass until nothing more would happen. Pure: `gates`
/// are the agents' rig gates (absent: not blocked).
pub fn plan(
    before: &CityModel,
    after: &CityModel,
    mut world: World,
    gates: &BTreeMap<String, Result<(), StartBlock>>,
    now: SystemTime,
) -> RuntimePlan {
    let mut order: Vec<String> = reconcile::waves(after).into_iter().flatten().collect();
    // Gone agents: deleted or pruned ones, and owners of sessions no agent claims any more (what
    // the controller's sweep stops), by name as the sweep takes them.
    let gone: BTreeSet<String> = before
        .agents
        .keys()
        .cloned()
        .chain(world.sessions.iter().filter_map(|s| s.meta.get(meta::AGENT).cloned()))
        .filter(|agent| !after.is_applied(Kind::Agent, agent))
        .collect();
    order.extend(gone);
    // Damaged agents: said to be left as they run.
    order.extend(after.damaged.keys().filter(|(k, _)| *k == Kind::Agent).map(|(_, n)| n.clone()));

    let mut actions: BTreeMap<&str, Vec<SessionAction>> = BTreeMap::new();
    let mut notes: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for _ in 0..MAX_PASSES {
        let mut acted = false;
        for agent in &order {
            if let Some(why) = after.held_by_damage(agent) {
                notes.insert(agent, vec![format!("left as it runs: {why}")]);
                continue;
            }
            let gate = gates.get(agent).cloned().unwrap_or(Ok(()));
            let planned = reconcile::plan_agent(after, &world, agent, gate, now);
            let changing: Vec<SessionAction> =
                planned.actions.into_iter().filter(SessionAction::changes_sessions).collect();
            // Waits for readiness change nothing, but the sessions are then ready.
            carry_out(&mut world, agent, &changing, now);
            mark_ready(&mut world, agent);
            acted |= !changing.is_empty();
            actions.entry(agent).or_default().extend(changing);
            notes.insert(agent, planned.notes);
        }
        if !acted {
            break;
        }
    }
    let entries = order
        .iter()
        .map(|agent| Entry {
            agent: agent.clone(),
            actions: actions.remove(agent.as_str()).unwrap_or_default(),
            notes: notes.remove(agent.as_str()).unwrap_or_default(),
        })
        .filter(|e| !e.actions.is_empty() || !e.notes.is_empty())
        .collect();
    RuntimePlan { entries }
}

/// `world` as the executor leaves it after `actions` of `agent`, assuming each start succeeds
/// and becomes ready.
fn carry_out(world: &mut World, agent: &str, actions: &[SessionAction], now: SystemTime) {
    for action in actions {
        match action {
            SessionAction::Start { launch, reason, .. } => {
                if matches!(reason, StartReason::Crashed(_)) {
                    world.crashes.entry(launch.session.clone()).or_default().restarts.push(now);
                }
                world.idle.remove(&launch.session);
                replace(world, started(agent, launch, now));
            }
            SessionAction::Restart { launch, .. } => replace(world, started(agent, launch, now)),
            SessionAction::RestartFresh { launch, .. } => {
                world.fresh.remove(&launch.session);
                replace(world, started(agent, launch, now));
            }
            SessionAction::Stop { session, reason, .. } => {
                if *reason == StopReason::IdleTimeout {
                    world.idle.insert(session.clone());
                }
                world.sessions.retain(|s| s.name != *session);
            }
            SessionAction::Remove { session } => world.sessions.retain(|s| s.name != *session),
            SessionAction::Quarantine { session, until, .. } => {
                world.crashes.entry(session.clone()).or_default().quarantined_until = Some(*until);
            }
            SessionAction::AwaitReady { .. } => {}
        }
    }
}

/// Marks `agent`'s live sessions ready, as they will be once their programs are up.
fn mark_ready(world: &mut World, agent: &str) {
    for session in &mut world.sessions {
        if session.alive && session.meta.get(meta::AGENT).is_some_and(|a| a == agent) {
            session.meta.insert(meta::READY.to_owned(), "1".to_owned());
        }
    }
}

fn replace(world: &mut World, session: SessionInfo) {
    world.sessions.retain(|s| s.name != session.name);
    world.sessions.push(session);
}

/// The session the executor starts for `launch`, with the metadata it records.
fn started(agent: &str, launch: &Launch, now: SystemTime) -> SessionInfo {
    SessionInfo {
        name: launch.session.clone(),
        alive: true,
        pid: None,
        exit_status: None,
        created: Some(now),
        last_activity: Some(now),
        attached: false,
        meta: BTreeMap::from([
            (meta::AGENT.to_owned(), agent.to_owned()),
            (meta::FINGERPRINT.to_owned(), launch.fingerprint.clone()),
            (meta::LAUNCH_FIELDS.to_owned(), launch::encode_fields(&launch::launch_fields(launch))),
            (meta::READY.to_owned(), "1".to_owned()),
        ]),
    }
}

#[cfg(test)]
#[path = "runtime_plan_tests.rs"]
mod tests;
