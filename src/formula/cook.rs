//! Cooking: turning a compiled formula into a molecule — a root bead of type `molecule` plus
//! one bead per step, children under their step, `blocks` edges for `needs` — created in one
//! atomic batch.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::compile::{CompileError, CompiledFormula, CompiledStep, compile, prerequisites};
use super::vars::{VarError, resolve, substitute};
use super::{FORMULA, STEP, condition, control};
use crate::beads::model::{DEFAULT_TYPE, dep_type, status};
use crate::beads::{Bead, BeadError, BeadStore, DepDirection, ListQuery, NewBead, NewDep};
use crate::controllers::model::CityModel;
use crate::work::{ROUTED_TO, gates, stores};

/// Bead type of a molecule's root.
pub const MOLECULE_TYPE: &str = "molecule";
/// Root metadata: the molecule is squashed into a digest of this kind when it completes.
pub const SQUASH: &str = "gc.squash";
/// Root metadata: the digest gives each step's time.
pub const SQUASH_METRICS: &str = "gc.squash_metrics";
/// The value a convoy cook is given for its review id (where its legs write).
pub const REVIEW_ID: &str = "review_id";
/// Root metadata of a convoy: its review id.
pub const REVIEW_ID_META: &str = "gc.review_id";
/// Gate metadata: the step the gate holds.
pub const GATE_FOR: &str = "gc.gate_for";

/// What a cook is asked to do besides the formula.
#[derive(Clone, Debug, Default)]
pub struct CookRequest {
    /// Values for the formula's vars (`--var k=v`).
    pub vars: BTreeMap<String, String>,
    /// The agent the molecule is routed to (`gc sling`), if any.
    pub route_to: Option<String>,
    /// The rig whose store gets the molecule (default: the agent's rig, else the city's).
    pub rig: Option<String>,
    /// Extra metadata put on every bead of the molecule.
    pub metadata: Map<String, Value>,
    /// Who cooks.
    pub actor: String,
    /// Which beads are made, and whether they are wisps.
    pub shape: Shape,
}

/// How a formula is instantiated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Shape {
    /// As the formula asks: a bead per step, or only the root for a `vapor` formula without
    /// `pour`. Persistent.
    #[default]
    AsWritten,
    /// A persistent bead per step whatever the formula's phase (`bd mol pour`).
    Pour,
    /// Ephemeral beads, only the root unless the formula sets `pour` (`bd mol wisp`).
    Wisp,
    /// Ephemeral beads, one per step (`bd mol bond --ephemeral`).
    WispAllSteps,
}

impl Shape {
    /// Whether only the root bead is made.
    pub fn root_only(self, formula: &CompiledFormula) -> bool {
        match self {
            Shape::AsWritten => formula.root_only(),
            Shape::Pour | Shape::WispAllSteps => false,
            Shape::Wisp => !formula.pour,
        }
    }
}

/// A cooked molecule.
#[derive(Clone, Debug)]
pub struct Molecule {
    /// The root bead.
    pub root: Bead,
    /// One bead per created step, in the compiled order.
    pub steps: Vec<Bead>,
    /// Steps whose condition was false, so no bead was made.
    pub skipped: Vec<String>,
    /// The `.beads` directory of the store holding it.
    pub store_dir: PathBuf,
}

/// Why a cook failed; nothing was created.
#[derive(Debug, thiserror::Error)]
pub enum CookError {
    /// The formula does not compile.
    #[error(transparent)]
    Compile(#[from] CompileError),
    /// The values given for vars are wrong (every problem is listed).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Vars(Vec<VarError>),
    /// Every step's condition was false.
    #[error("formula `{0}`: no step's condition holds, so there is nothing to cook")]
    Empty(String),
    /// The store refused.
    #[error(transparent)]
    Store(#[from] BeadError),
}

/// The beads a cook creates, as one batch for [`BeadStore::create_all`]: the root first, then
/// the steps in compiled order (`@N` references point inside the batch). Pure: the same
/// formula and values always give the same batch. Returns the batch and the skipped steps.
pub fn batch(
    formula: &CompiledFormula,
    values: &BTreeMap<String, String>,
    request: &CookRequest,
) -> Result<(Vec<NewBead>, Vec<String>), CookError> {
    let mut skipped = skipped_steps(&formula.steps, values);
    skipped.extend(super::convoy::legs_left_out(&formula.presets, &formula.steps, values));
    if skipped.len() == formula.steps.len() {
        return Err(CookError::Empty(formula.name.clone()));
    }
    let mut common = request.metadata.clone();
    common.insert(FORMULA.into(), Value::String(formula.name.clone()));
    if let Some(agent) = &request.route_to {
        common.insert(ROUTED_TO.into(), Value::String(agent.clone()));
    }
    if formula.review_only {
        common.insert(crate::work::proof::REVIEW_ONLY.into(), Value::Bool(true));
    }
    let mut root_metadata = common.clone();
    if let Some(squash) = &formula.squash {
        let kind = squash.template_type.clone().unwrap_or_else(|| "work".into());
        root_metadata.insert(SQUASH.into(), Value::String(kind));
        if squash.include_metrics {
            root_metadata.insert(SQUASH_METRICS.into(), Value::Bool(true));
        }
    }
    let ephemeral = matches!(request.shape, Shape::Wisp | Shape::WispAllSteps);
    // A declared `title` (or `desc`) var names the molecule, as Gas City's cook does.
    let title = match values.get("title").filter(|_| formula.vars.contains_key("title")) {
        Some(title) if !title.trim().is_empty() => title.clone(),
        _ => formula.name.clone(),
    };
    let description = match values.get("desc").filter(|_| formula.vars.contains_key("desc")) {
        Some(desc) if !desc.trim().is_empty() => desc.clone(),
        _ => formula.description.as_deref().map(|d| substitute(d, values)).unwrap_or_default(),
    };
    let root_only = request.shape.root_only(formula);
    // A persistent root-only molecule is itself the work (its agent follows the description),
    // so it is a task that `ready` offers; a molecule root never is.
    let convoy = formula.kind == crate::api::formula::FormulaType::Convoy;
    let root_type = match (convoy, root_only && !ephemeral) {
        (true, _) => super::convoy::CONVOY_TYPE,
        (false, true) => DEFAULT_TYPE,
        (false, false) => MOLECULE_TYPE,
    };
    // A convoy's review id names where its legs write; the cook gives one (`review_id`).
    let review_id = values.get(REVIEW_ID).cloned().unwrap_or_else(|| formula.name.clone());
    if convoy {
        root_metadata.insert(REVIEW_ID_META.into(), Value::String(review_id.clone()));
    }
    let root = NewBead {
        title,
        description,
        issue_type: Some(root_type.into()),
        metadata: root_metadata,
        ephemeral,
        ..NewBead::default()
    };
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    let mut beads = vec![root];
    if root_only {
        return Ok((beads, Vec::new()));
    }
    for step in formula.steps.iter().filter(|s| !skipped.contains(&s.id)) {
        let parent = match &step.parent {
            Some(p) => index[p.as_str()],
            None => 0,
        };
        let mut deps: Vec<NewDep> = effective_needs(step, &formula.steps, &skipped)
            .into_iter()
            .map(|need| {
                NewDep::new(
                    format!("@{}", index[need]),
                    dep_type::BLOCKS,
                    DepDirection::NewDependsOnOther,
                )
            })
            .collect();
        deps.dedup_by(|a, b| a.other == b.other);
        let text = &step.spec;
        let mut metadata = common.clone();
        for (key, value) in &text.metadata {
            metadata.insert(key.clone(), Value::String(substitute(value, values)));
        }
        metadata.insert(STEP.into(), Value::String(step.id.clone()));
        if text.require_commit {
            metadata.insert(crate::work::proof::REQUIRE_COMMIT.into(), Value::Bool(true));
        }
        if let Some(gate) = &text.gate {
            // The gate comes first in the batch, so the step's edge can point back at it.
            let await_id = gate.await_id.as_deref().map(|a| substitute(a, values));
            let timeout = gate.timeout.map(|t| t.to_string());
            let mut gate_meta = common.clone();
            gate_meta.extend(gates::metadata(
                gate.kind.as_str(),
                await_id.as_deref(),
                timeout.as_deref(),
            ));
            gate_meta.insert(GATE_FOR.into(), Value::String(step.id.clone()));
            let mut description = format!("Async gate for step {}", step.id);
            if let Some(condition) = &gate.condition {
                gate_meta
                    .insert(gates::CONDITION.into(), Value::String(substitute(condition, values)));
                description.push_str(&format!("\n\nOpens when: {}", substitute(condition, values)));
            }
            deps.push(NewDep::new(
                format!("@{}", beads.len()),
                dep_type::BLOCKS,
                DepDirection::NewDependsOnOther,
            ));
            beads.push(NewBead {
                title: gates::title(gate.kind.as_str(), await_id.as_deref()),
                description,
                issue_type: Some(gates::GATE_TYPE.into()),
                parent: Some(format!("@{parent}")),
                metadata: gate_meta,
                ephemeral,
                ..NewBead::default()
            });
        }
        if let Some(wait) = &text.waits_for {
            // Which step's children: the named one, else the first that this one needs.
            let named = wait.strip_prefix("children-of(").and_then(|w| w.strip_suffix(')'));
            let spawner = named.or(step.needs.first().map(String::as_str));
            let gate = if wait == "any-children" { "any-children" } else { "all-children" };
            if let Some(&at) = spawner.and_then(|s| index.get(s)) {
                deps.push(NewDep {
                    other: format!("@{at}"),
                    dep_type: dep_type::WAITS_FOR.into(),
                    direction: DepDirection::NewDependsOnOther,
                    metadata: Some(serde_json::json!({ "gate": gate })),
                });
            }
        }
        let control = control_of(text);
        let mut description =
            text.description.as_deref().map(|d| substitute(d, values)).unwrap_or_default();
        if let (Some(prompt), Some(leg)) = (&text.prompt, &text.leg) {
            let context = super::convoy::context(
                &formula.name,
                &review_id,
                values,
                leg,
                formula.output.as_ref(),
            );
            let rendered = super::convoy::render(prompt, &context);
            description.push_str(&format!("\n\n---\nBase Prompt:\n{rendered}"));
        }
        let mut assignee = text.assignee.as_deref().map(|a| substitute(a, values));
        if metadata.get(control::KIND).and_then(Value::as_str) == Some("scope") {
            // A scope's body is a latch the controller closes, not work.
            assignee = Some(control::CONTROLLER.into());
        }
        if let Some(fanout) = &text.on_complete {
            metadata.insert(control::OUTPUT_REQUIRED.into(), Value::Bool(true));
            description.push_str(&format!(
                "\n\n---\nWhen you close this, give its result: `bd update <id> --set-metadata \
                 'gc.output_json={{...}}'`, where `{}` lists the items the next steps are made for.",
                fanout.for_each
            ));
        }
        if let Some((kind, max, _)) = &control {
            metadata.insert(control::ATTEMPT.into(), Value::from(1));
            metadata.insert(control::STEP_ID.into(), Value::String(step.id.clone()));
            description.push_str(&control::contract_note(kind, *max));
        }
        let work_index = beads.len();
        index.insert(&step.id, work_index);
        beads.push(NewBead {
            title: substitute(&text.title, values),
            description,
            notes: text.notes.as_deref().map(|n| substitute(n, values)).unwrap_or_default(),
            acceptance: text
                .acceptance
                .as_deref()
                .map(|a| substitute(a, values))
                .unwrap_or_default(),
            issue_type: text.step_type.clone(),
            priority: text.priority.map(i64::from),
            assignee,
            labels: text
                .labels
                .iter()
                .map(|l| substitute(l, values))
                .chain(text.waits_for.iter().map(|w| format!("gate:{w}")))
                .collect(),
            parent: Some(format!("@{parent}")),
            deps,
            metadata: metadata.clone(),
            ephemeral,
            ..NewBead::default()
        });
        if let Some((kind, max, settings)) = control {
            // The control bead stands for the step: what needs the step waits for it, and it
            // waits for the newest attempt.
            let mut meta = metadata;
            meta.remove(control::ATTEMPT);
            meta.insert(control::KIND.into(), Value::String(kind.into()));
            meta.insert(control::MAX_ATTEMPTS.into(), Value::from(max));
            meta.extend(settings);
            index.insert(&step.id, beads.len());
            beads.push(NewBead {
                title: substitute(&text.title, values),
                description: format!(
                    "Runs the {} of step {} (the controller does; no agent works it).",
                    if kind == "ralph" { "iterations" } else { "attempts" },
                    step.id
                ),
                priority: text.priority.map(i64::from),
                assignee: Some(control::CONTROLLER.into()),
                parent: Some(format!("@{parent}")),
                deps: vec![NewDep::new(
                    format!("@{work_index}"),
                    dep_type::BLOCKS,
                    DepDirection::NewDependsOnOther,
                )],
                metadata: meta,
                ephemeral,
                ..NewBead::default()
            });
        }
    }
    for step in formula.steps.iter().filter(|s| !skipped.contains(&s.id)) {
        let Some(fanout) = &step.spec.on_complete else { continue };
        let parent = step.parent.as_ref().map_or(0, |p| index[p.as_str()]);
        let mut meta = common.clone();
        meta.insert(STEP.into(), Value::String(format!("{}-fanout", step.id)));
        meta.insert(control::KIND.into(), Value::String("fanout".into()));
        meta.insert(control::CONTROL_FOR.into(), Value::String(step.id.clone()));
        meta.insert(control::FOR_EACH.into(), Value::String(fanout.for_each.clone()));
        meta.insert(control::BOND.into(), Value::String(fanout.bond.clone()));
        let mode = if fanout.sequential { "sequential" } else { "parallel" };
        meta.insert(control::FANOUT_MODE.into(), Value::String(mode.into()));
        let vars: Map<String, Value> = fanout
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(substitute(v, values))))
            .collect();
        meta.insert(control::BOND_VARS.into(), Value::Object(vars));
        beads.push(NewBead {
            title: format!("Expand fanout for {}", substitute(&step.spec.title, values)),
            description: format!(
                "Makes {} once per item of {} of step {} (the controller does).",
                fanout.bond, fanout.for_each, step.id
            ),
            assignee: Some(control::CONTROLLER.into()),
            parent: Some(format!("@{parent}")),
            deps: vec![NewDep::new(
                format!("@{}", index[step.id.as_str()]),
                dep_type::BLOCKS,
                DepDirection::NewDependsOnOther,
            )],
            metadata: meta,
            ephemeral,
            ..NewBead::default()
        });
    }
    Ok((beads, skipped.into_iter().collect()))
}

/// A step the controller runs: its kind (`retry`, `ralph`), attempts allowed, and the
/// settings its control bead carries.
fn control_of(text: &super::compile::StepText) -> Option<(&'static str, u32, Map<String, Value>)> {
    let mut settings = Map::new();
    if let Some(retry) = &text.retry {
        let soft = retry.on_exhausted == crate::api::formula::OnExhausted::SoftFail;
        let on = if soft { "soft_fail" } else { "hard_fail" };
        settings.insert(control::ON_EXHAUSTED.into(), Value::String(on.into()));
        return Some(("retry", retry.max_attempts.max(1), settings));
    }
    let ralph = text.ralph.as_ref()?;
    settings.insert(control::CHECK_PATH.into(), Value::String(ralph.check.path.clone()));
    if let Some(timeout) = ralph.check.timeout {
        settings.insert(control::CHECK_TIMEOUT.into(), Value::String(timeout.to_string()));
    }
    Some(("ralph", ralph.max_attempts.max(1), settings))
}

/// Steps not created: their condition is false, or their parent's is.
fn skipped_steps(steps: &[CompiledStep], values: &BTreeMap<String, String>) -> BTreeSet<String> {
    let mut skipped = BTreeSet::new();
    // Compiled order puts parents first, so a parent's fate is known before its children's.
    for step in steps {
        let parent_skipped = step.parent.as_ref().is_some_and(|p| skipped.contains(p));
        let fails = step.spec.condition.as_deref().is_some_and(|c| !condition::holds(c, values));
        if parent_skipped || fails {
            skipped.insert(step.id.clone());
        }
    }
    skipped
}

/// What a step waits for once skipped steps are gone (see [`prerequisites`]): a skipped
/// step's own prerequisites stand in for it, so order is kept across the gap.
fn effective_needs<'a>(
    step: &'a CompiledStep,
    steps: &'a [CompiledStep],
    skipped: &BTreeSet<String>,
) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut todo: Vec<&str> = prerequisites(step, steps);
    let mut seen = BTreeSet::new();
    while let Some(need) = todo.pop() {
        if !seen.insert(need) || need == step.id {
            continue;
        }
        if skipped.contains(need) {
            if let Some(s) = steps.iter().find(|s| s.id == need) {
                todo.extend(prerequisites(s, steps));
            }
        } else {
            out.push(need);
        }
    }
    out.sort_by_key(|n| steps.iter().position(|s| s.id == *n));
    out
}

/// Cooks `formula` into `store`: checks the vars, then creates every bead in one batch.
pub fn cook(
    store: &dyn BeadStore,
    formula: &CompiledFormula,
    request: &CookRequest,
) -> Result<(Bead, Vec<Bead>, Vec<String>), CookError> {
    let mut values = resolve(&formula.vars, &request.vars).map_err(CookError::Vars)?;
    if formula.kind == crate::api::formula::FormulaType::Convoy {
        let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
        values.entry(REVIEW_ID.into()).or_insert_with(|| format!("{}-{stamp}", formula.name));
    }
    let (beads, skipped) = batch(formula, &values, request)?;
    let mut made = store.create_all(beads, &request.actor)?.into_iter();
    let root = made.next().ok_or_else(|| BeadError::Backend("store created no beads".into()))?;
    Ok((root, made.collect(), skipped))
}

/// Compiles the applied formula `name` of `model`.
pub fn compile_applied(model: &CityModel, name: &str) -> Result<CompiledFormula, CompileError> {
    compile(name, &|n| model.formulas.get(n).map(|f| &f.spec)).map_err(|e| match e {
        CompileError::NotFound { name, .. } => {
            CompileError::NotFound { name, known: model.formulas.keys().cloned().collect() }
        }
        other => other,
    })
}

/// Cooks the applied formula `name` into the right store: `request.rig`'s, else the store of
/// the agent it is routed to, else the city's.
pub fn cook_named(
    model: &CityModel,
    name: &str,
    request: &CookRequest,
) -> Result<Molecule, CookError> {
    let formula = compile_applied(model, name)?;
    let (store_dir, store) = match (&request.rig, &request.route_to) {
        (Some(rig), _) => stores::open(model, Some(rig))?,
        (None, Some(agent)) => stores::open_for_agent(model, agent)?,
        (None, None) => stores::open(model, None)?,
    };
    let (root, steps, skipped) = cook(&*store, &formula, request)?;
    Ok(Molecule { root, steps, skipped, store_dir })
}

/// Whether the molecule rooted at `root_id` in the store at `store_dir` still has open work:
/// any bead below the root that is not closed, or, for a root-only molecule (a `vapor`
/// formula's wisp, whose root is the work), the root itself.
pub fn molecule_open(
    model: &CityModel,
    store_dir: &Path,
    root_id: &str,
) -> Result<bool, CookError> {
    let store = open_store_at(model, store_dir)?;
    if open_descendants(&*store, root_id)? > 0 {
        return Ok(true);
    }
    let steps = store.children(root_id)?;
    Ok(steps.is_empty() && !store.get(root_id)?.is_closed())
}

fn open_store_at(model: &CityModel, store_dir: &Path) -> Result<Box<dyn BeadStore>, CookError> {
    let city = stores::store_config(model, None)?;
    if city.0 == store_dir {
        return Ok(stores::open(model, None)?.1);
    }
    for rig in model.rigs.keys() {
        if stores::store_config(model, Some(rig))?.0 == store_dir {
            return Ok(stores::open(model, Some(rig))?.1);
        }
    }
    Err(BeadError::Invalid(format!("{} is not a store of this city", store_dir.display())).into())
}

/// How many beads below `id` (children, their children, …) are not closed.
pub fn open_descendants(store: &dyn BeadStore, id: &str) -> Result<usize, BeadError> {
    let mut open = 0;
    let mut todo = vec![id.to_owned()];
    while let Some(next) = todo.pop() {
        let query = ListQuery { parent: Some(next), all: true, ..ListQuery::default() };
        for child in store.list(&query)? {
            if child.status != status::CLOSED {
                open += 1;
            }
            todo.push(child.id);
        }
    }
    Ok(open)
}

/// After `closed` was closed, closes each enclosing molecule root (or step with children)
/// whose descendants are now all closed, walking up. Returns the beads it closed.
pub fn close_finished_parents(
    store: &dyn BeadStore,
    closed: &Bead,
    actor: &str,
) -> Result<Vec<Bead>, BeadError> {
    let mut done = Vec::new();
    let mut current = closed.clone();
    while let Some(parent) = parent_of(&current) {
        let parent = store.get(&parent)?;
        if parent.meta_str(FORMULA).is_none() || open_descendants(store, &parent.id)? > 0 {
            break;
        }
        // A step closed before its children were done is passed through on the way up.
        current = if parent.is_closed() {
            parent
        } else {
            let closed = store.close(&parent.id, Some("every step of it is closed"), actor)?;
            done.push(closed.clone());
            if closed.meta_str(SQUASH).is_some() && parent_of(&closed).is_none() {
                let members = super::squash::members(store, &closed.id)?;
                let members: Vec<&Bead> = members.iter().collect();
                super::squash::squash(store, &closed, &members, None, false, actor)?;
            }
            closed
        };
    }
    Ok(done)
}

fn parent_of(bead: &Bead) -> Option<String> {
    bead.dependencies
        .iter()
        .find(|d| d.dep_type == dep_type::PARENT_CHILD && d.issue_id == bead.id)
        .map(|d| d.depends_on_id.clone())
}

#[cfg(test)]
#[path = "cook_tests.rs"]
mod tests;
