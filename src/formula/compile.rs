//! Compiling a formula: resolving `extends`, flattening `children`, checking step ids and
//! `needs`, and putting the steps in an order where every step comes after what it needs.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::compose;
use crate::api::formula::{
    FormulaSpec, FormulaType, Phase, RalphSpec, RetrySpec, SquashSpec, StepGate, StepSpec, VarSpec,
};

/// A formula ready to cook.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CompiledFormula {
    /// The formula's name.
    pub name: String,
    /// What it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Formulas it was built from, nearest first (its `extends`, then theirs).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extends: Vec<String>,
    /// Vars with those of the extended formulas merged in (the extending formula wins).
    pub vars: BTreeMap<String, VarSpec>,
    /// Every step, children included, each after the steps it needs and after its parent.
    pub steps: Vec<CompiledStep>,
    /// How it is meant to be instantiated (`vapor`: a wisp).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// A `vapor` formula still gets a bead per step.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub pour: bool,
    /// Its beads may close without a commit.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub review_only: bool,
    /// The digest made when its molecule completes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub squash: Option<SquashSpec>,
    /// A workflow, or a convoy (legs and a synthesis under a convoy root).
    pub kind: FormulaType,
    /// A convoy's presets: name → the legs it runs.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub presets: BTreeMap<String, Vec<String>>,
    /// Where a convoy's legs write.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<crate::api::formula::ConvoyOutput>,
}

impl CompiledFormula {
    /// A workflow compiled from `spec` (named `name`): these vars and steps, the rest as the
    /// spec says.
    fn of(
        name: &str,
        spec: &FormulaSpec,
        extends: Vec<String>,
        vars: BTreeMap<String, VarSpec>,
        steps: Vec<CompiledStep>,
    ) -> CompiledFormula {
        CompiledFormula {
            name: name.to_owned(),
            description: spec.description.clone(),
            extends,
            vars,
            steps,
            phase: spec.phase,
            pour: spec.pour,
            review_only: spec.review_only,
            squash: spec.squash.clone(),
            kind: FormulaType::Workflow,
            presets: BTreeMap::new(),
            output: None,
        }
    }

    /// Whether instantiating it as it asks creates only the root bead (`vapor` without `pour`).
    pub fn root_only(&self) -> bool {
        self.phase == Some(Phase::Vapor) && !self.pour
    }
}

/// One step of a compiled formula.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CompiledStep {
    /// Unique within the formula.
    pub id: String,
    /// The step it is a child of, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The formula that declared it (this one, or one it extends).
    pub from: String,
    /// Steps that must close first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
    /// The step as written (its `children` and `needs` are in the fields above).
    #[serde(flatten)]
    pub spec: StepText,
}

/// The parts of a step that end up on its bead.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepText {
    /// Title; may hold `{{var}}`.
    pub title: String,
    /// Description; may hold `{{var}}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Notes; may hold `{{var}}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Bead type.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub step_type: Option<String>,
    /// Bead priority.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
    /// Bead labels.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Assignee.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// Cook-time condition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// Bead metadata.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Closing the bead needs a commit (see [`crate::work::proof`]).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub require_commit: bool,
    /// A gate bead holds the step until it opens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<StepGate>,
    /// When the step counts as done; may hold `{{var}}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acceptance: Option<String>,
    /// The fan-out made when the step closes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_complete: Option<crate::api::formula::OnComplete>,
    /// A convoy leg's prompt (Go text/template), rendered into its description when cooked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The convoy leg this step is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leg: Option<crate::api::formula::Leg>,
    /// Waits for the children a step gets at run time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waits_for: Option<String>,
    /// Attempts the controller runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetrySpec>,
    /// Iterations and the check the controller runs after each.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ralph: Option<RalphSpec>,
}

/// Why a formula does not compile. `path` fields are where in the formula's spec the problem
/// is, as a JSON pointer (`/spec/steps/2/needs/0`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// No formula of that name is applied.
    #[error("formula `{name}` not found{}", known_list(.known))]
    NotFound {
        /// The name asked for.
        name: String,
        /// The formulas there are.
        known: Vec<String>,
    },
    /// `extends` names a formula that is not there.
    #[error("`{formula}` extends `{parent}`, which is not applied")]
    MissingParent {
        /// The extending formula.
        formula: String,
        /// The missing one.
        parent: String,
    },
    /// `extends` goes round in a circle.
    #[error("extends cycle: {}", .0.join(" → "))]
    ExtendsCycle(Vec<String>),
    /// Only workflows are cooked.
    #[error("`{name}` is of type `{kind}`; only `workflow` formulas can be cooked")]
    NotWorkflow {
        /// The formula.
        name: String,
        /// Its type.
        kind: String,
    },
    /// Two steps share an id.
    #[error("duplicate step id `{id}` (in `{formula}`, at {path})")]
    DuplicateStep {
        /// The id.
        id: String,
        /// The formula declaring the second one.
        formula: String,
        /// Where.
        path: String,
    },
    /// `needs` names no step.
    #[error("step `{step}` needs unknown step `{need}` (in `{formula}`, at {path})")]
    UnknownNeed {
        /// The step.
        step: String,
        /// The missing step.
        need: String,
        /// The formula declaring the step.
        formula: String,
        /// Where.
        path: String,
    },
    /// `needs` goes round in a circle.
    #[error("needs cycle: {}", .0.join(" → "))]
    NeedsCycle(Vec<String>),
    /// A compose rule, an advice or an expansion cannot be applied.
    #[error("{message} (in `{formula}`, at {path})")]
    Compose {
        /// The formula whose rule it is.
        formula: String,
        /// Where.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A formula with no step has nothing to cook.
    #[error("formula `{0}` has no steps")]
    NoSteps(String),
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        "; none is applied".into()
    } else {
        format!("; formulas: {}", known.join(", "))
    }
}

/// Compiles the formula `name`, reading it and the formulas it extends with `lookup`.
pub fn compile<'a>(
    name: &str,
    lookup: &dyn Fn(&str) -> Option<&'a FormulaSpec>,
) -> Result<CompiledFormula, CompileError> {
    let spec = lookup(name)
        .ok_or_else(|| CompileError::NotFound { name: name.to_owned(), known: Vec::new() })?;
    if spec.formula_type == FormulaType::Expansion {
        // Cooked on its own, an expansion is its template against a stand-in target.
        let steps = order(flatten(&compose::materialise(name, spec)?)?)?;
        return Ok(CompiledFormula::of(name, spec, Vec::new(), spec.vars.clone(), steps));
    }
    if spec.formula_type == FormulaType::Convoy {
        let steps = order(super::convoy::steps(name, spec))?;
        if steps.is_empty() {
            return Err(CompileError::NoSteps(name.to_owned()));
        }
        return Ok(CompiledFormula {
            kind: FormulaType::Convoy,
            presets: spec.presets.iter().map(|(k, p)| (k.clone(), p.legs.clone())).collect(),
            output: spec.output.clone(),
            ..CompiledFormula::of(name, spec, Vec::new(), super::convoy::vars(spec), steps)
        });
    }
    if spec.formula_type != FormulaType::Workflow {
        let kind = serde_json::to_value(spec.formula_type)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        return Err(CompileError::NotWorkflow { name: name.to_owned(), kind });
    }
    let mut chain = Vec::new();
    let mut merged = Merged::default();
    merge(name, spec, lookup, &mut vec![name.to_owned()], &mut chain, &mut merged)?;
    if merged.steps.is_empty() {
        return Err(CompileError::NoSteps(name.to_owned()));
    }
    let woven = compose::apply(&merged.rules, merged.steps, lookup)?;
    let steps = order(flatten(&woven)?)?;
    Ok(CompiledFormula::of(name, spec, chain, merged.vars, steps))
}

/// Vars and top-level steps after `extends` is resolved; each step remembers its formula and
/// its pointer there.
#[derive(Default)]
struct Merged<'a> {
    vars: BTreeMap<String, VarSpec>,
    steps: Vec<compose::Entry>,
    rules: compose::Rules<'a>,
}

/// Parents first, in `extends` order; then the formula's own vars (which win) and steps (a
/// step with the id of an inherited one replaces it where it stood, so a variant overrides a
/// base step without reordering the base).
fn merge<'a>(
    name: &str,
    spec: &'a FormulaSpec,
    lookup: &dyn Fn(&str) -> Option<&'a FormulaSpec>,
    path: &mut Vec<String>,
    chain: &mut Vec<String>,
    into: &mut Merged<'a>,
) -> Result<(), CompileError> {
    for parent in &spec.extends {
        if let Some(start) = path.iter().position(|p| p == parent) {
            let mut cycle = path[start..].to_vec();
            cycle.push(parent.clone());
            return Err(CompileError::ExtendsCycle(cycle));
        }
        let parent_spec = lookup(parent).ok_or_else(|| CompileError::MissingParent {
            formula: name.to_owned(),
            parent: parent.clone(),
        })?;
        if !chain.contains(parent) {
            chain.push(parent.clone());
        }
        path.push(parent.clone());
        merge(parent, parent_spec, lookup, path, chain, into)?;
        path.pop();
    }
    for (var, value) in &spec.vars {
        into.vars.insert(var.clone(), value.clone());
    }
    into.rules.add(name, spec);
    let mut own = BTreeSet::new();
    for (i, step) in spec.steps.iter().enumerate() {
        let entry = (step.clone(), name.to_owned(), format!("/spec/steps/{i}"));
        if !own.insert(step.id.as_str()) {
            return Err(CompileError::DuplicateStep {
                id: step.id.clone(),
                formula: name.to_owned(),
                path: format!("/spec/steps/{i}/id"),
            });
        }
        match into.steps.iter().position(|(s, _, _)| s.id == step.id) {
            Some(at) => into.steps[at] = entry,
            None => into.steps.push(entry),
        }
    }
    Ok(())
}

/// The steps expansion `spec` makes for one target (`target_id`, titled `title`) with `vars`
/// filled in, in the order they become ready: a fan-out's fragment.
pub fn fragment(
    name: &str,
    spec: &FormulaSpec,
    target_id: &str,
    title: &str,
    vars: &BTreeMap<String, String>,
) -> Result<Vec<CompiledStep>, CompileError> {
    let target = StepSpec { id: target_id.into(), title: title.into(), ..StepSpec::default() };
    let entries = compose::expand_one(name, spec, target, vars)?;
    order(flatten(&entries)?)
}

/// Every step with its parent, in declaration order (a step before its children).
fn flatten(top: &[compose::Entry]) -> Result<Vec<CompiledStep>, CompileError> {
    fn walk(
        step: &StepSpec,
        parent: Option<&str>,
        from: &str,
        path: String,
        seen: &mut BTreeSet<String>,
        out: &mut Vec<(CompiledStep, String)>,
    ) -> Result<(), CompileError> {
        if !seen.insert(step.id.clone()) {
            return Err(CompileError::DuplicateStep {
                id: step.id.clone(),
                formula: from.to_owned(),
                path: format!("{path}/id"),
            });
        }
        out.push((
            CompiledStep {
                id: step.id.clone(),
                parent: parent.map(str::to_owned),
                from: from.to_owned(),
                // `children-of(X)` waits for X too: X is the one whose children it waits for.
                needs: {
                    let mut needs = step.needs.clone();
                    let of = step.waits_for.as_deref().and_then(|w| {
                        w.strip_prefix("children-of(").and_then(|w| w.strip_suffix(')'))
                    });
                    if let Some(of) = of.filter(|of| !needs.iter().any(|n| n == of)) {
                        needs.push(of.to_owned());
                    }
                    needs
                },
                spec: StepText {
                    title: step.title.clone(),
                    description: step.description.clone(),
                    notes: step.notes.clone(),
                    step_type: step.step_type.clone(),
                    priority: step.priority,
                    labels: step.labels.clone(),
                    assignee: step.assignee.clone(),
                    condition: step.condition.clone(),
                    metadata: step.metadata.clone(),
                    require_commit: step.require_commit,
                    gate: step.gate.clone(),
                    acceptance: step.acceptance.clone(),
                    retry: step.retry.clone(),
                    ralph: step.ralph.clone(),
                    waits_for: step.waits_for.clone(),
                    prompt: None,
                    leg: None,
                    on_complete: step.on_complete.clone(),
                },
            },
            path.clone(),
        ));
        for (i, child) in step.children.iter().enumerate() {
            walk(child, Some(&step.id), from, format!("{path}/children/{i}"), seen, out)?;
        }
        Ok(())
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (step, from, path) in top {
        walk(step, None, from, path.clone(), &mut seen, &mut out)?;
    }
    for (step, path) in &out {
        for (i, need) in step.needs.iter().enumerate() {
            if !seen.contains(need) || need == &step.id {
                return Err(CompileError::UnknownNeed {
                    step: step.id.clone(),
                    need: need.clone(),
                    formula: step.from.clone(),
                    path: format!("{path}/needs/{i}"),
                });
            }
        }
    }
    Ok(out.into_iter().map(|(s, _)| s).collect())
}

/// Orders steps so each comes after its needs and its parent, keeping declaration order
/// wherever the graph allows (the earliest step whose prerequisites are placed goes next).
fn order(steps: Vec<CompiledStep>) -> Result<Vec<CompiledStep>, CompileError> {
    // Each step's prerequisites (its needs, their children, its parent), worked out once.
    let waits: Vec<Vec<String>> = steps
        .iter()
        .map(|s| {
            let mut w: Vec<String> =
                prerequisites(s, &steps).into_iter().map(str::to_owned).collect();
            w.extend(s.parent.clone());
            w
        })
        .collect();
    let mut placed: BTreeSet<String> = BTreeSet::new();
    let mut left: Vec<(CompiledStep, Vec<String>)> = steps.into_iter().zip(waits).collect();
    let mut out = Vec::with_capacity(left.len());
    while !left.is_empty() {
        match left.iter().position(|(_, waits)| waits.iter().all(|w| placed.contains(w))) {
            Some(i) => {
                let (step, _) = left.remove(i);
                placed.insert(step.id.clone());
                out.push(step);
            }
            None => {
                let stuck: Vec<CompiledStep> = left.into_iter().map(|(s, _)| s).collect();
                return Err(CompileError::NeedsCycle(cycle_in(&stuck)));
            }
        }
    }
    Ok(out)
}

/// What `step` waits for: its `needs`, and the children (at any depth) of each step it needs,
/// since a step is only done when the work under it is — unless the needed step encloses
/// `step` itself, which then waits for that step's own bead only.
pub fn prerequisites<'a>(step: &'a CompiledStep, steps: &'a [CompiledStep]) -> Vec<&'a str> {
    let encloses = |outer: &str| {
        let mut parent = step.parent.as_deref();
        let mut hops = 0;
        while let Some(p) = parent {
            if p == outer || hops > steps.len() {
                return p == outer;
            }
            hops += 1;
            parent = steps.iter().find(|s| s.id == p).and_then(|s| s.parent.as_deref());
        }
        false
    };
    let mut out: Vec<&str> = step.needs.iter().map(String::as_str).collect();
    let mut i = 0;
    while i < out.len() {
        let holder = out[i];
        if !encloses(holder) {
            for child in steps.iter().filter(|s| s.parent.as_deref() == Some(holder)) {
                if child.id != step.id && !out.contains(&child.id.as_str()) {
                    out.push(&child.id);
                }
            }
        }
        i += 1;
    }
    out
}

/// A cycle among steps none of which can be placed: follow unplaced prerequisites until one
/// repeats.
fn cycle_in(left: &[CompiledStep]) -> Vec<String> {
    let by_id: BTreeMap<&str, &CompiledStep> = left.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut path: Vec<String> = Vec::new();
    let mut current = left[0].id.as_str();
    loop {
        if let Some(start) = path.iter().position(|p| p == current) {
            let mut cycle = path[start..].to_vec();
            cycle.push(current.to_owned());
            return cycle;
        }
        path.push(current.to_owned());
        let step = by_id[current];
        let next = prerequisites(step, left)
            .into_iter()
            .chain(step.parent.as_deref())
            .find(|n| by_id.contains_key(n));
        match next {
            Some(n) => current = n,
            None => return path,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(id: &str, needs: &[&str]) -> StepSpec {
        StepSpec {
            id: id.into(),
            title: format!("Do {id}"),
            needs: needs.iter().map(|n| n.to_string()).collect(),
            ..StepSpec::default()
        }
    }

    fn formula(steps: Vec<StepSpec>) -> FormulaSpec {
        FormulaSpec { steps, ..FormulaSpec::default() }
    }

    fn compiled(
        name: &str,
        all: &BTreeMap<&str, FormulaSpec>,
    ) -> Result<CompiledFormula, CompileError> {
        compile(name, &|n| all.get(n))
    }

    fn ids(f: &CompiledFormula) -> Vec<&str> {
        f.steps.iter().map(|s| s.id.as_str()).collect()
    }

    #[test]
    fn steps_come_after_what_they_need_in_declaration_order_otherwise() {
        let all = BTreeMap::from([(
            "pancakes",
            formula(vec![
                step("serve", &["cook"]),
                step("dry", &[]),
                step("wet", &[]),
                step("cook", &["dry", "wet"]),
            ]),
        )]);
        assert_eq!(ids(&compiled("pancakes", &all).unwrap()), ["dry", "wet", "cook", "serve"]);
    }

    #[test]
    fn children_follow_their_parent_and_may_need_other_steps() {
        let mut parent = step("build", &[]);
        parent.children = vec![step("compile", &["fetch"]), step("link", &["compile"])];
        let all = BTreeMap::from([("f", formula(vec![parent, step("fetch", &[])]))]);
        let f = compiled("f", &all).unwrap();
        assert_eq!(ids(&f), ["build", "fetch", "compile", "link"]);
        assert_eq!(f.steps[2].parent.as_deref(), Some("build"));
    }

    #[test]
    fn extends_merges_parents_first_and_a_same_id_step_replaces_in_place() {
        let mut base =
            formula(vec![step("load", &[]), step("setup", &["load"]), step("test", &["setup"])]);
        base.vars.insert("issue".into(), VarSpec { required: true, ..VarSpec::default() });
        base.vars.insert(
            "branch".into(),
            VarSpec { default: Some("main".into()), ..VarSpec::default() },
        );
        let mut variant = formula(vec![
            StepSpec { title: "Worktree setup".into(), ..step("setup", &["load"]) },
            step("submit", &["test"]),
        ]);
        variant.extends = vec!["base".into()];
        variant
            .vars
            .insert("branch".into(), VarSpec { default: Some("dev".into()), ..VarSpec::default() });
        let all = BTreeMap::from([("base", base), ("variant", variant)]);
        let f = compiled("variant", &all).unwrap();
        assert_eq!(ids(&f), ["load", "setup", "test", "submit"]);
        assert_eq!(f.steps[1].spec.title, "Worktree setup");
        assert_eq!(f.steps[1].from, "variant");
        assert_eq!(f.steps[0].from, "base");
        assert_eq!(f.extends, ["base"]);
        assert!(f.vars["issue"].required);
        assert_eq!(f.vars["branch"].default.as_deref(), Some("dev"));
    }

    #[test]
    fn broken_graphs_are_named() {
        let mut a = formula(vec![step("x", &[])]);
        a.extends = vec!["b".into()];
        let mut b = formula(vec![step("y", &[])]);
        b.extends = vec!["a".into()];
        let all = BTreeMap::from([
            ("a", a),
            ("b", b),
            ("loop", formula(vec![step("p", &["q"]), step("q", &["r"]), step("r", &["p"])])),
            ("dangling", formula(vec![step("p", &["nope"])])),
            ("twice", formula(vec![step("p", &[]), step("p", &[])])),
            ("empty", formula(vec![])),
        ]);
        assert_eq!(
            compiled("a", &all).unwrap_err(),
            CompileError::ExtendsCycle(vec!["a".into(), "b".into(), "a".into()])
        );
        assert_eq!(
            compiled("loop", &all).unwrap_err(),
            CompileError::NeedsCycle(vec!["p".into(), "q".into(), "r".into(), "p".into()])
        );
        let err = compiled("dangling", &all).unwrap_err();
        assert_eq!(
            err.to_string(),
            "step `p` needs unknown step `nope` (in `dangling`, at /spec/steps/0/needs/0)"
        );
        assert!(matches!(compiled("twice", &all), Err(CompileError::DuplicateStep { .. })));
        assert_eq!(compiled("empty", &all).unwrap_err(), CompileError::NoSteps("empty".into()));
        assert!(matches!(compiled("missing", &all), Err(CompileError::NotFound { .. })));
    }
}
