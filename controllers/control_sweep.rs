//! The control sweep: runs the control beads of every bead store of the city (see
//! [`crate::formula::control`]) once they are ready, that is once what they wait for is closed:
//! a retry step's newest attempt, a ralph step's newest iteration (then its check script), a
//! scope's members. A step that fails for good and belongs to a scope that aborts on failure
//! skips the rest of the scope; any other such step is kept for a person (status `blocked`,
//! label `human`), holding what comes after it, so no work is lost or run on a failed base.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::model::CityModel;
use crate::api::formula::FormulaSpec;
use crate::beads::model::{dep_type, status};
use crate::beads::{Bead, BeadStore, BeadUpdate, DepDirection, ListQuery, NewBead, NewDep};
use crate::formula::control::{self, CONTROLLER, Next, Outcome};
use crate::work::gates::HUMAN_LABEL;

/// How long a ralph check may run when its step does not say.
const CHECK_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs every ready control bead of `stores` once (the expansions fan-outs make come from
/// `model`; ralph checks run in `city_dir`). Returns how many it acted on.
pub fn sweep(stores: &super::gate_sweep::Stores, model: &CityModel, city_dir: &Path) -> usize {
    let mut acted = 0;
    for (rig, store) in stores {
        let ready = match ready_controls(&**store) {
            Ok(ready) => ready,
            Err(e) => {
                tracing::warn!("control sweep of {}: {e}", rig.as_deref().unwrap_or("the city"));
                continue;
            }
        };
        let lookup = |name: &str| model.formulas.get(name).map(|f| &f.spec);
        for bead in ready {
            match run(&**store, &bead, city_dir, &lookup) {
                Ok(true) => acted += 1,
                Ok(false) => {}
                Err(e) => tracing::warn!("control bead {}: {e}", bead.id),
            }
        }
    }
    acted
}

/// The control beads of `store` whose every blocker is closed. Not the store's `ready`: that
/// leaves out wisps, whose control beads must run too.
pub fn ready_controls(store: &dyn BeadStore) -> crate::beads::Result<Vec<Bead>> {
    let query = ListQuery {
        statuses: vec![status::OPEN.into()],
        assignee: Some(CONTROLLER.into()),
        ..ListQuery::default()
    };
    let mut ready = Vec::new();
    for listed in store.list(&query)? {
        // A listing carries no edges; the bead itself does.
        let bead = store.get(&listed.id)?;
        let mut blockers = bead.dependencies.iter().filter(|d| {
            d.issue_id == bead.id
                && matches!(d.dep_type.as_str(), dep_type::BLOCKS | dep_type::CONDITIONAL_BLOCKS)
        });
        if blockers.all(|d| store.get(&d.depends_on_id).is_ok_and(|b| b.is_closed())) {
            ready.push(bead);
        }
    }
    Ok(ready)
}

/// Runs one ready control bead; whether it did anything. `formulas` finds the expansions a
/// fan-out makes.
fn run<'a>(
    store: &dyn BeadStore,
    bead: &Bead,
    city_dir: &Path,
    formulas: &dyn Fn(&str) -> Option<&'a FormulaSpec>,
) -> crate::beads::Result<bool> {
    match bead.meta_str(control::KIND) {
        Some("fanout") => {
            fanout(store, bead, formulas)?;
            Ok(true)
        }
        Some("retry") => {
            let Some(attempt) = latest_attempt(store, bead)? else { return Ok(false) };
            let soft = bead.meta_str(control::ON_EXHAUSTED) == Some("soft_fail");
            let outcome = control::outcome(&attempt);
            let n = control::attempt_of(&attempt);
            let next = control::after_retry(n, control::max_attempts(bead), soft, &outcome);
            let said = match &outcome {
                Outcome::Pass => "pass".to_owned(),
                Outcome::Transient(why) => format!("transient: {why}"),
                Outcome::Hard(why) => format!("hard: {why}"),
            };
            carry_out(store, bead, &attempt, n, &said, next)?;
            Ok(true)
        }
        Some("ralph") => {
            let Some(iteration) = latest_attempt(store, bead)? else { return Ok(false) };
            let n = control::attempt_of(&iteration);
            let check = match control::outcome(&iteration) {
                Outcome::Pass => run_check(bead, n, city_dir),
                Outcome::Transient(why) | Outcome::Hard(why) => {
                    Err(format!("the iteration failed: {why}"))
                }
            };
            let said = match &check {
                Ok(()) => "check passed".to_owned(),
                Err(why) => format!("check failed: {why}"),
            };
            let next = control::after_ralph(n, control::max_attempts(bead), check);
            carry_out(store, bead, &iteration, n, &said, next)?;
            Ok(true)
        }
        Some("scope") => {
            // Every member is closed: the scope failed when one of them did.
            let failed = bead
                .dependencies
                .iter()
                .filter(|d| d.dep_type == dep_type::BLOCKS)
                .filter_map(|d| store.get(&d.depends_on_id).ok())
                .any(|m| m.meta_str(control::OUTCOME) == Some("fail"));
            let outcome = if failed { "fail" } else { "pass" };
            finish(store, bead, outcome, &format!("scope {outcome}"), Map::new())?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// A fan-out whose blockers are closed: the first time, its source step is done and the
/// expansion is made once per item of the source's output (the fan-out then waits for what
/// it made); the second time, what it made is done and it closes, failed if any of it failed.
fn fanout<'a>(
    store: &dyn BeadStore,
    fan: &Bead,
    formulas: &dyn Fn(&str) -> Option<&'a FormulaSpec>,
) -> crate::beads::Result<()> {
    let query = ListQuery {
        all: true,
        metadata: vec![(control::FANOUT.into(), fan.id.clone())],
        ..ListQuery::default()
    };
    let made = store.list(&query)?;
    if !made.is_empty() {
        let failed = made.iter().any(|b| b.meta_str(control::OUTCOME) == Some("fail"));
        let (outcome, why) =
            if failed { ("fail", "an item failed") } else { ("pass", "every item done") };
        return finish(store, fan, outcome, why, Map::new());
    }
    let fail = |why: String| keep_for_person(store, fan, Map::new(), &why);
    let Some(source) = fan
        .dependencies
        .iter()
        .find(|d| d.issue_id == fan.id && d.dep_type == dep_type::BLOCKS)
        .and_then(|d| store.get(&d.depends_on_id).ok())
    else {
        return fail("its step is gone".into());
    };
    if source.meta_str(control::OUTCOME) == Some("fail") {
        return finish(store, fan, "fail", "its step failed", Map::new());
    }
    let path = fan.meta_str(control::FOR_EACH).unwrap_or("output");
    let Some(output) = control::output_of(&source) else {
        return fail(format!("{} closed without gc.output_json", source.id));
    };
    let Some(items) = control::items(&output, path) else {
        return fail(format!("{path} in the output of {} is not a list", source.id));
    };
    if items.is_empty() {
        return finish(store, fan, "pass", "no items", Map::new());
    }
    let bond = fan.meta_str(control::BOND).unwrap_or_default();
    let Some(spec) = formulas(bond) else {
        return fail(format!("expansion `{bond}` is not applied"));
    };
    let templates: Vec<(String, String)> = match fan.metadata.get(control::BOND_VARS) {
        Some(Value::Object(vars)) => vars
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect(),
        _ => Vec::new(),
    };
    let step = fan.meta_str(control::CONTROL_FOR).unwrap_or(&source.id);
    let sequential = fan.meta_str(control::FANOUT_MODE) == Some("sequential");
    let parent = fan
        .dependencies
        .iter()
        .find(|d| d.dep_type == dep_type::PARENT_CHILD && d.issue_id == fan.id)
        .map(|d| d.depends_on_id.clone());
    let mut batch: Vec<NewBead> = Vec::new();
    let mut previous_sinks: Vec<usize> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let vars =
            templates.iter().map(|(k, t)| (k.clone(), control::item_value(t, i, item))).collect();
        let target = format!("{step}.item.{}", i + 1);
        let steps =
            match crate::formula::compile::fragment(bond, spec, &target, &source.title, &vars) {
                Ok(steps) => steps,
                Err(e) => return fail(e.to_string()),
            };
        let base = batch.len();
        let at: BTreeMap<&str, usize> =
            steps.iter().enumerate().map(|(j, s)| (s.id.as_str(), base + j)).collect();
        let needed: BTreeSet<&str> =
            steps.iter().flat_map(|s| s.needs.iter().map(String::as_str)).collect();
        let mut sinks = Vec::new();
        for s in &steps {
            let mut deps: Vec<NewDep> = s
                .needs
                .iter()
                .filter_map(|n| at.get(n.as_str()))
                .map(|k| {
                    NewDep::new(format!("@{k}"), dep_type::BLOCKS, DepDirection::NewDependsOnOther)
                })
                .collect();
            if sequential && s.needs.is_empty() {
                deps.extend(previous_sinks.iter().map(|k| {
                    NewDep::new(format!("@{k}"), dep_type::BLOCKS, DepDirection::NewDependsOnOther)
                }));
            }
            if !needed.contains(s.id.as_str()) {
                sinks.push(at[s.id.as_str()]);
                deps.push(NewDep::new(
                    fan.id.clone(),
                    dep_type::BLOCKS,
                    DepDirection::OtherDependsOnNew,
                ));
            }
            let mut metadata = Map::new();
            for key in [crate::formula::FORMULA, crate::work::ROUTED_TO] {
                if let Some(v) = source.metadata.get(key) {
                    metadata.insert(key.into(), v.clone());
                }
            }
            metadata.insert(crate::formula::STEP.into(), json!(s.id));
            metadata.insert(control::FANOUT.into(), json!(fan.id));
            batch.push(NewBead {
                title: s.spec.title.clone(),
                description: s.spec.description.clone().unwrap_or_default(),
                acceptance: s.spec.acceptance.clone().unwrap_or_default(),
                issue_type: s.spec.step_type.clone(),
                labels: s.spec.labels.clone(),
                parent: parent.clone(),
                deps,
                metadata,
                ephemeral: fan.ephemeral,
                ..NewBead::default()
            });
        }
        previous_sinks = sinks;
    }
    let count = batch.len();
    store.create_all(batch, CONTROLLER)?;
    tracing::info!("fan-out {}: {} item(s), {count} bead(s)", fan.id, items.len());
    Ok(())
}

/// The newest attempt (iteration) the control bead waits for.
fn latest_attempt(store: &dyn BeadStore, control: &Bead) -> crate::beads::Result<Option<Bead>> {
    let mut latest: Option<Bead> = None;
    for dep in control.dependencies.iter().filter(|d| d.dep_type == dep_type::BLOCKS) {
        let Ok(attempt) = store.get(&dep.depends_on_id) else { continue };
        if latest.as_ref().is_none_or(|l| control::attempt_of(&attempt) > control::attempt_of(l)) {
            latest = Some(attempt);
        }
    }
    Ok(latest.filter(Bead::is_closed))
}

/// Does what `next` says for `control`, whose attempt `n` ended as `said`.
fn carry_out(
    store: &dyn BeadStore,
    control: &Bead,
    attempt: &Bead,
    n: u32,
    said: &str,
    next: Next,
) -> crate::beads::Result<()> {
    let mut log = match control.metadata.get(control::ATTEMPT_LOG) {
        Some(Value::Array(entries)) => entries.clone(),
        _ => Vec::new(),
    };
    let action = match &next {
        Next::Pass { .. } => "close",
        Next::Fail { .. } => "fail",
        Next::Again { .. } => "again",
    };
    log.push(json!({ "attempt": n, "bead": attempt.id, "result": said, "action": action }));
    let mut meta = Map::new();
    meta.insert(control::ATTEMPT_LOG.into(), Value::Array(log));
    match next {
        Next::Pass { disposition } => {
            // What the attempt recorded (its own keys, not the workflow's) is the step's result.
            for (key, value) in &attempt.metadata {
                if !key.starts_with("gc.") || key == "gc.output_json" {
                    meta.insert(key.clone(), value.clone());
                }
            }
            meta.insert(control::FINAL_DISPOSITION.into(), json!(disposition));
            finish(store, control, "pass", &format!("attempt {n}: {said}"), meta)
        }
        Next::Again { n } => {
            store.set_metadata(&control.id, meta, CONTROLLER)?;
            spawn_attempt(store, control, attempt, n)
        }
        Next::Fail { reason } => {
            meta.insert(control::FINAL_DISPOSITION.into(), json!("hard_fail"));
            meta.insert(control::FAILURE_REASON.into(), json!(reason));
            if control.meta_str(control::ON_FAIL) == Some("abort_scope") {
                finish(store, control, "fail", &reason, meta)?;
                abort_scope(store, control)
            } else {
                keep_for_person(store, control, meta, &reason)
            }
        }
    }
}

/// Keeps a control bead that cannot go on for a person: failed (`gc.outcome=fail`, why, and
/// `meta`), `blocked` so what comes after it waits, and labelled `human` (`bd human list`).
fn keep_for_person(
    store: &dyn BeadStore,
    bead: &Bead,
    mut meta: Map<String, Value>,
    why: &str,
) -> crate::beads::Result<()> {
    meta.insert(control::OUTCOME.into(), json!("fail"));
    meta.insert(control::FAILURE_REASON.into(), json!(why));
    let change = BeadUpdate {
        status: Some(status::BLOCKED.into()),
        add_labels: vec![HUMAN_LABEL.into()],
        set_metadata: meta,
        ..BeadUpdate::default()
    };
    store.update(&bead.id, &change, CONTROLLER)?;
    tracing::warn!("{} cannot go on, kept for a person: {why}", bead.id);
    Ok(())
}

/// Closes `bead` with `gc.outcome` set (and `meta`).
fn finish(
    store: &dyn BeadStore,
    bead: &Bead,
    outcome: &str,
    reason: &str,
    mut meta: Map<String, Value>,
) -> crate::beads::Result<()> {
    meta.insert(control::OUTCOME.into(), json!(outcome));
    store.set_metadata(&bead.id, meta, CONTROLLER)?;
    let closed = store.close(&bead.id, Some(reason), CONTROLLER)?;
    // The last step of a molecule may be a control bead: the molecule closes with it.
    crate::formula::cook::close_finished_parents(store, &closed, CONTROLLER)?;
    Ok(())
}

/// Makes attempt `n` from the one before it and makes the control wait for it, in one create.
fn spawn_attempt(
    store: &dyn BeadStore,
    control: &Bead,
    previous: &Bead,
    n: u32,
) -> crate::beads::Result<()> {
    let mut metadata = previous.metadata.clone();
    for key in [control::OUTCOME, control::FAILURE_CLASS, control::FAILURE_REASON] {
        metadata.remove(key);
    }
    metadata.insert(control::ATTEMPT.into(), json!(n));
    let parent = previous
        .dependencies
        .iter()
        .find(|d| d.dep_type == dep_type::PARENT_CHILD && d.issue_id == previous.id)
        .map(|d| d.depends_on_id.clone());
    let new = NewBead {
        title: previous.title.clone(),
        description: previous.description.clone(),
        notes: previous.notes.clone(),
        acceptance: previous.acceptance_criteria.clone(),
        issue_type: Some(previous.issue_type.clone()),
        priority: Some(previous.priority),
        labels: previous.labels.clone(),
        parent,
        deps: vec![NewDep::new(
            control.id.clone(),
            dep_type::BLOCKS,
            DepDirection::OtherDependsOnNew,
        )],
        metadata,
        ephemeral: previous.ephemeral,
        ..NewBead::default()
    };
    let made = store.create(new, CONTROLLER)?;
    tracing::info!("step {}: attempt {n} is {}", control.id, made.id);
    Ok(())
}

/// Skips what is left of the scope `failed` belongs to: every open member (and their open
/// attempts) is closed with `gc.outcome=skipped`; the body then closes as failed at the next
/// sweep, and the teardown runs.
fn abort_scope(store: &dyn BeadStore, failed: &Bead) -> crate::beads::Result<()> {
    let Some(scope) = failed.meta_str(control::SCOPE_REF) else { return Ok(()) };
    let Some(parent) = failed
        .dependencies
        .iter()
        .find(|d| d.dep_type == dep_type::PARENT_CHILD && d.issue_id == failed.id)
        .map(|d| d.depends_on_id.clone())
    else {
        return Ok(());
    };
    let step = failed.meta_str(control::STEP_ID).unwrap_or(&failed.id);
    for member in store.children(&parent)? {
        let role = member.meta_str(control::SCOPE_ROLE).unwrap_or("member");
        let in_scope = member.meta_str(control::SCOPE_REF) == Some(scope);
        if !in_scope || member.is_closed() || matches!(role, "body" | "teardown") {
            continue;
        }
        let mut meta = Map::new();
        meta.insert(control::OUTCOME.into(), json!("skipped"));
        store.set_metadata(&member.id, meta, CONTROLLER)?;
        store.close(&member.id, Some(&format!("skipped: step {step} failed")), CONTROLLER)?;
    }
    Ok(())
}

/// Runs a ralph step's check for iteration `n`: `Ok` when it exits 0 in time.
fn run_check(control: &Bead, n: u32, city_dir: &Path) -> Result<(), String> {
    let Some(path) = control.meta_str(control::CHECK_PATH) else {
        return Err("the step names no check".into());
    };
    let script = city_dir.join(path);
    if !script.is_file() {
        return Err(format!("check {} not found", script.display()));
    }
    let timeout = control
        .meta_str(control::CHECK_TIMEOUT)
        .and_then(|t| t.parse::<crate::api::Duration>().ok())
        .map_or(CHECK_TIMEOUT, |d| d.get());
    let mut command = std::process::Command::new(&script);
    command
        .current_dir(city_dir)
        .env("GC_BEAD_ID", &control.id)
        .env("GC_ITERATION", n.to_string())
        .env("GC_MAX_ITERATIONS", control::max_attempts(control).to_string())
        .env("GC_CITY", city_dir);
    match crate::beads::process::run(command, b"", timeout) {
        Ok(done) if done.code == Some(0) => Ok(()),
        Ok(done) => {
            let said = done.stderr_text();
            let code = done.code.map_or("a signal".to_owned(), |c| format!("exit {c}"));
            Err(if said.is_empty() { code } else { format!("{code}: {said}") })
        }
        Err(e) => Err(format!("{}: {e}", script.display())),
    }
}

#[cfg(test)]
#[path = "control_sweep_tests.rs"]
mod tests;
