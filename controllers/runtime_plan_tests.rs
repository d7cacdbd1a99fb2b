//! Runtime plan tests: an applied city, declared changes and observed sessions as plain values.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::*;
use crate::apply::{Applied, Prune};
use crate::store::{DesiredObject, StoredObject};

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000)
}

fn desired(kind: Kind, name: &str, spec: Value) -> DesiredObject {
    DesiredObject {
        kind,
        name: name.into(),
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        spec: crate::store::canonical(spec),
        source: Some(format!("{name}.yaml")),
    }
}

fn stored(d: &DesiredObject) -> StoredObject {
    d.stored(3, "7".into(), "2026-01-01T00:00:00Z".into(), format!("{}-uid", d.name))
}

/// The City `town` with the provider `cli`, then `agents`.
fn city_files(agents: &[DesiredObject]) -> Vec<DesiredObject> {
    let mut out = vec![
        desired(Kind::City, "town", json!({"defaultProvider": "cli"})),
        desired(Kind::Provider, "cli", json!({"command": "sh"})),
    ];
    out.extend(agents.iter().cloned());
    out
}

fn agent(name: &str, spec: Value) -> DesiredObject {
    desired(Kind::Agent, name, spec)
}

/// A city applied from `files`.
struct AppliedCity {
    objects: Vec<StoredObject>,
    model: CityModel,
}

fn applied(files: &[DesiredObject]) -> AppliedCity {
    let objects: Vec<StoredObject> = files.iter().map(stored).collect();
    let mut model = CityModel { dir: PathBuf::from("/city"), ..CityModel::default() };
    for object in &objects {
        model.insert(object);
    }
    AppliedCity { objects, model }
}

/// What apply would do to `current` given the whole city declared as `files`.
fn changes(current: &AppliedCity, files: &[DesiredObject]) -> Vec<Change> {
    let store = Applied { objects: current.objects.clone(), ..Default::default() };
    crate::apply::plan(files, &store, &Prune::All)
}

/// The live, ready sessions of `agent` (members `members`, or its one session) as the
/// controller started them from `model`.
fn running(model: &CityModel, agent: &str, members: &[u32]) -> Vec<SessionInfo> {
    let members = if members.is_empty() { &[0][..] } else { members };
    let launches = launch::launches(model, agent, members).unwrap();
    launches
        .iter()
        .map(|l| {
            let mut s = started(agent, l, now() - Duration::from_secs(3600));
            s.meta.insert(meta::INSTANCE.into(), format!("{}-token", l.session));
            s
        })
        .collect()
}

fn plan_of(
    before: &AppliedCity,
    files: &[DesiredObject],
    sessions: Vec<SessionInfo>,
) -> RuntimePlan {
    let after = would_be(&before.model, &changes(before, files));
    let world = World { sessions, ..World::default() };
    plan(&before.model, &after, world, &BTreeMap::new(), now())
}

fn restart_policy(policy: &str) -> Value {
    json!({"onDrift": policy})
}

#[test]
fn a_changed_env_restarts_by_policy_immediate_and_only_notes_drift_under_never() {
    let old = [
        agent(
            "mayor",
            json!({"env": {"LOG_LEVEL": "info"}, "restartPolicy": restart_policy("Immediate")}),
        ),
        agent(
            "steady",
            json!({"env": {"LOG_LEVEL": "info"}, "restartPolicy": restart_policy("Never")}),
        ),
    ];
    let before = applied(&city_files(&old));
    let mut sessions = running(&before.model, "mayor", &[]);
    sessions.extend(running(&before.model, "steady", &[]));
    let new = [
        agent(
            "mayor",
            json!({"env": {"LOG_LEVEL": "debug"}, "restartPolicy": restart_policy("Immediate")}),
        ),
        agent(
            "steady",
            json!({"env": {"LOG_LEVEL": "debug"}, "restartPolicy": restart_policy("Never")}),
        ),
    ];

    let plan = plan_of(&before, &city_files(&new), sessions);

    assert_eq!(
        plan.lines(),
        [
            "agent/mayor: restart gc-town-mayor: env.LOG_LEVEL changed; policy Immediate",
            "agent/steady: gc-town-steady drifted (env.LOG_LEVEL changed), not restarted: policy \
             Never",
        ]
    );
}

#[test]
fn new_agents_start_and_deleted_agents_stop() {
    let before = applied(&city_files(&[agent("old", json!({})), agent("kept", json!({}))]));
    let mut sessions = running(&before.model, "old", &[]);
    sessions.extend(running(&before.model, "kept", &[]));

    let plan = plan_of(
        &before,
        &city_files(&[agent("kept", json!({})), agent("fresh", json!({}))]),
        sessions,
    );

    assert_eq!(
        plan.lines(),
        ["agent/fresh: start gc-town-fresh (not running)", "agent/old: stop gc-town-old (Deleted)"]
    );
}

#[test]
fn nothing_is_planned_when_the_sessions_match_the_files() {
    let files = city_files(&[agent("mayor", json!({"env": {"A": "1"}}))]);
    let before = applied(&files);
    let sessions = running(&before.model, "mayor", &[]);
    assert!(plan_of(&before, &files, sessions).is_empty());
}

#[test]
fn a_new_dependent_starts_once_its_new_dependency_would_be_ready() {
    let before = applied(&city_files(&[]));
    let files =
        city_files(&[agent("worker", json!({"dependsOn": ["mayor"]})), agent("mayor", json!({}))]);

    let plan = plan_of(&before, &files, Vec::new());

    assert_eq!(
        plan.lines(),
        [
            "agent/mayor: start gc-town-mayor (not running)",
            "agent/worker: start gc-town-worker (not running)",
        ],
        "dependencies first, and no `waits for agent mayor` left over"
    );
}

#[test]
fn a_pool_larger_than_the_start_budget_starts_whole_over_several_passes() {
    let before = applied(&city_files(&[]));
    let files = city_files(&[agent("worker", json!({"scaling": {"min": 7, "max": 9}}))]);

    let plan = plan_of(&before, &files, Vec::new());

    let lines = plan.lines();
    assert_eq!(lines.len(), 7, "{lines:#?}");
    assert!(
        lines.iter().all(|l| l.starts_with("agent/worker: start gc-town-worker-")),
        "{lines:#?}"
    );
    assert!(!lines.iter().any(|l| l.contains("deferred")), "{lines:#?}");
}

#[test]
fn sessions_whose_agent_is_no_longer_applied_are_stopped_as_the_sweep_stops_them() {
    let files = city_files(&[agent("mayor", json!({}))]);
    let before = applied(&files);
    let mut ghost = running(&before.model, "mayor", &[]);
    ghost[0].name = "gc-town-ghost".into();
    ghost[0].meta.insert(meta::AGENT.into(), "ghost".into());
    let mut sessions = running(&before.model, "mayor", &[]);
    sessions.extend(ghost);

    let plan = plan_of(&before, &files, sessions);

    assert_eq!(plan.lines(), ["agent/ghost: stop gc-town-ghost (Deleted)"]);
}

#[test]
fn the_would_be_city_bumps_generations_only_for_spec_changes_and_drops_pruned_objects() {
    let before = applied(&city_files(&[agent("a", json!({})), agent("b", json!({}))]));
    let mut relabelled = agent("b", json!({}));
    relabelled.labels.insert("team".into(), "core".into());
    let files =
        city_files(&[agent("a", json!({"env": {"X": "1"}})), relabelled, agent("c", json!({}))]);
    let mut files = files;
    files.retain(|f| f.kind != Kind::Provider);

    let after = would_be(&before.model, &changes(&before, &files));

    assert_eq!(after.agents["a"].generation, 4, "spec changed");
    assert_eq!(after.agents["a"].uid, "a-uid");
    assert_eq!(after.agents["a"].spec.env["X"], "1");
    assert_eq!(after.agents["b"].generation, 3, "labels only");
    assert_eq!(after.agents["c"].generation, 1, "created");
    assert!(after.providers.is_empty(), "pruned");
    assert_eq!(before.model.providers.len(), 1, "the applied city is left as it was");
}

#[test]
fn agents_of_a_rig_the_rig_controller_will_prepare_start_after_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plain")).unwrap();
    let rig = |name: &str, spec: Value| desired(Kind::Rig, name, spec);
    let on = |name: &str, rig: &str| agent(name, json!({"rig": rig}));
    let mut model = applied(&city_files(&[
        rig("cloned", json!({"path": "cloned", "repo": "https://example.com/r.git"})),
        rig("plain", json!({"path": "plain"})),
        rig("absent", json!({"path": "absent"})),
        on("a", "cloned"),
        on("b", "plain"),
        on("c", "absent"),
    ]))
    .model;
    model.dir = dir.path().to_path_buf();

    let (gate, first) = start_gate_after_rigs(&model, "a");
    assert!(gate.is_ok());
    assert_eq!(
        first.as_deref(),
        Some("starts once rig `cloned` is cloned from https://example.com/r.git")
    );
    let (gate, first) = start_gate_after_rigs(&model, "b");
    assert!(gate.is_ok());
    assert_eq!(first.as_deref(), Some("starts once rig `plain`'s bead store is initialised"));
    let (gate, first) = start_gate_after_rigs(&model, "c");
    assert_eq!(gate.unwrap_err().reason, "RigPathMissing", "nobody creates a path without a repo");
    assert_eq!(first, None);
}

#[test]
fn an_agent_whose_cli_is_not_installed_waits_with_a_condition_saying_how_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = applied(&city_files(&[
        desired(
            Kind::Provider,
            "missing",
            json!({"command": "no-such-agent-cli-here", "install": "npm install -g no-such-cli"}),
        ),
        agent("a", json!({"provider": "missing"})),
    ]))
    .model;
    model.dir = dir.path().to_path_buf();
    let block = crate::controllers::reconcile::start_gate(&model, "a").unwrap_err();
    assert_eq!(block.reason, "CommandNotFound");
    assert!(
        block.message.contains("`no-such-agent-cli-here` is not installed"),
        "{}",
        block.message
    );
    assert!(block.message.contains("npm install -g no-such-cli"), "{}", block.message);
}

#[test]
fn agents_held_by_a_damaged_object_are_left_as_they_run() {
    let files = city_files(&[agent("mayor", json!({})), agent("worker", json!({}))]);
    let before = applied(&files);
    let mut sessions = running(&before.model, "mayor", &[]);
    sessions.extend(running(&before.model, "worker", &[]));
    let damage = |model: &mut CityModel, kind: Kind, name: &str| {
        model.remove(kind, name);
        model.damaged.insert((kind, name.to_owned()), "not JSON".to_owned());
    };
    let plan_with = |model: &CityModel| {
        let world = World { sessions: sessions.clone(), ..World::default() };
        plan(model, model, world, &BTreeMap::new(), now())
    };
    let left = |plan: &RuntimePlan| -> Vec<String> {
        plan.entries
            .iter()
            .filter(|e| {
                e.actions.is_empty() && e.notes.iter().any(|n| n.starts_with("left as it runs"))
            })
            .map(|e| e.agent.clone())
            .collect()
    };

    // A damaged agent is not a deleted one: its session is not stopped.
    let mut model = before.model.clone();
    damage(&mut model, Kind::Agent, "mayor");
    assert!(model.is_applied(Kind::Agent, "mayor") && !model.agents.contains_key("mayor"));
    let plan = plan_with(&model);
    assert_eq!(left(&plan), ["mayor"]);
    assert!(plan.entries.iter().all(|e| e.actions.is_empty()), "{plan:?}");

    // A damaged provider holds the agents launched by it; a damaged City holds every agent
    // (its name could rename every session).
    let mut model = before.model.clone();
    damage(&mut model, Kind::Provider, "cli");
    assert_eq!(left(&plan_with(&model)), ["mayor", "worker"]);
    let mut model = before.model.clone();
    damage(&mut model, Kind::City, "town");
    assert_eq!(model.held_by_damage("worker").as_deref(), Some("city/town: not JSON"));
    assert_eq!(left(&plan_with(&model)), ["mayor", "worker"]);
    // Once repaired (inserted again), nothing holds them.
    let mut model = before.model.clone();
    damage(&mut model, Kind::Agent, "mayor");
    model.insert(&before.objects.iter().find(|o| o.metadata.name == "mayor").unwrap().clone());
    assert_eq!(model.held_by_damage("mayor"), None);
}

#[test]
fn a_pool_near_its_budget_grows_no_further_and_one_past_it_starts_nothing() {
    let files = city_files(&[agent("worker", json!({"scaling": {"min": 0, "max": 5}}))]);
    let city = applied(&files);
    let mut world = World { sessions: running(&city.model, "worker", &[1]), ..World::default() };
    world.work.insert(
        "worker".into(),
        crate::work::demand::Demand { ready: 4, busy: BTreeMap::from([("worker-1".into(), 1)]) },
    );
    let starts = |world: &World| {
        let plan = reconcile::plan_agent(&city.model, world, "worker", Ok(()), now());
        let pool = plan.status.pool.clone().unwrap();
        (plan.actions.iter().filter(|a| a.describe().starts_with("start")).count(), pool)
    };
    assert_eq!(starts(&world).0, 4, "within budget the pool grows to its work");
    let budget = |near_limit, exceeded| crate::controllers::agent::Budget {
        near_limit,
        exceeded,
        message: "its budget (850 of 1000 tokens used (85%); …)".into(),
        ..crate::controllers::agent::Budget::default()
    };
    world.budgets.insert("worker".into(), budget(true, false));
    let (started, pool) = starts(&world);
    assert_eq!(started, 0);
    assert_eq!(pool.wanted, 1);
    assert!(pool.why.contains("held at 1 running: its budget (850 of 1000"), "{}", pool.why);
    world.budgets.insert("worker".into(), budget(true, true));
    assert_eq!(starts(&world).0, 0);
}
