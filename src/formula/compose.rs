//! Composition: weaving other formulas into a workflow's steps before they are flattened and
//! ordered, in Gas City's order: `compose.branch`, the formula's own `advice`, inline `expand`,
//! `compose.expand`, `compose.map`, then the advice of each of `compose.aspects`.
//!
//! An expansion replaces its target step by its `template` steps: those that need no other
//! template step take the target's `needs`, and whatever needed the target needs the last
//! template step. Advice inserts steps before (chained, the target waiting for the last) and
//! after (the first waiting for the target) each matching step. Pure functions of the specs.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::formula::{AdviceRule, AdviceStep, FormulaSpec, FormulaType, Pointcut, StepSpec};

use super::compile::CompileError;

/// A top-level step with the formula it came from and its pointer there (for errors).
pub(super) type Entry = (StepSpec, String, String);

/// How deep expansions may nest (an expansion whose template expands again).
const MAX_DEPTH: usize = 5;

/// The compose rules and advice of a formula and the formulas it extends, gathered.
#[derive(Default)]
pub(super) struct Rules<'a> {
    /// `(formula, rule)` pairs in `extends` order, the formula's own last.
    pub advice: Vec<(String, &'a AdviceRule)>,
    /// `compose.expand` rules.
    pub expand: Vec<(String, &'a crate::api::formula::ExpandRule)>,
    /// `compose.map` rules.
    pub map: Vec<(String, &'a crate::api::formula::MapRule)>,
    /// `compose.aspects` names.
    pub aspects: Vec<(String, &'a str)>,
    /// `compose.branch` rules.
    pub branch: Vec<(String, &'a crate::api::formula::BranchRule)>,
}

impl<'a> Rules<'a> {
    /// Adds the rules of `spec` (named `name`).
    pub fn add(&mut self, name: &str, spec: &'a FormulaSpec) {
        let n = || name.to_owned();
        self.advice.extend(spec.advice.iter().map(|r| (n(), r)));
        if let Some(compose) = &spec.compose {
            self.expand.extend(compose.expand.iter().map(|r| (n(), r)));
            self.map.extend(compose.map.iter().map(|r| (n(), r)));
            self.aspects.extend(compose.aspects.iter().map(|a| (n(), a.as_str())));
            self.branch.extend(compose.branch.iter().map(|r| (n(), r)));
        }
    }
}

fn error(formula: &str, path: &str, message: String) -> CompileError {
    CompileError::Compose { formula: formula.to_owned(), path: path.to_owned(), message }
}

/// Applies `rules` to `steps`, reading the formulas they name with `lookup`.
pub(super) fn apply<'a>(
    rules: &Rules<'a>,
    mut steps: Vec<Entry>,
    lookup: &dyn Fn(&str) -> Option<&'a FormulaSpec>,
) -> Result<Vec<Entry>, CompileError> {
    steps = unroll(steps)?;
    for (formula, rule) in &rules.branch {
        let known: BTreeSet<String> = all_ids(&steps);
        for id in std::iter::once(&rule.from).chain(&rule.steps).chain([&rule.join]) {
            if !known.contains(id) {
                let message = format!("compose.branch names unknown step `{id}`");
                return Err(error(formula, "/spec/compose/branch", message));
            }
        }
        for_each_step(&mut steps, &mut |step| {
            if rule.steps.contains(&step.id) && !step.needs.contains(&rule.from) {
                step.needs.push(rule.from.clone());
            }
            if step.id == rule.join {
                for s in &rule.steps {
                    if !step.needs.contains(s) {
                        step.needs.push(s.clone());
                    }
                }
            }
        });
    }
    for (formula, rule) in &rules.advice {
        steps = advise(steps, &[*rule], &[], formula);
    }
    steps = expand_inline(steps, lookup, 0)?;
    for (formula, rule) in &rules.expand {
        let Some(at) = steps.iter().position(|(s, _, _)| s.id == rule.target) else {
            let message = format!("compose.expand target `{}` is not a step", rule.target);
            return Err(error(formula, "/spec/compose/expand", message));
        };
        let expansion = expansion(formula, &rule.with, lookup)?;
        steps = splice(steps, at, &rule.with, expansion, &rule.vars)?;
    }
    for (formula, rule) in &rules.map {
        let expansion = expansion(formula, &rule.with, lookup)?;
        while let Some(at) =
            steps.iter().position(|(s, from, _)| from != &rule.with && glob(&rule.select, &s.id))
        {
            steps = splice(steps, at, &rule.with, expansion, &rule.vars)?;
        }
    }
    for (formula, aspect) in &rules.aspects {
        let spec = lookup(aspect).ok_or_else(|| {
            error(formula, "/spec/compose/aspects", format!("aspect `{aspect}` is not applied"))
        })?;
        if spec.formula_type != FormulaType::Aspect {
            let message = format!("`{aspect}` is not an aspect formula (type: aspect)");
            return Err(error(formula, "/spec/compose/aspects", message));
        }
        let rules: Vec<&AdviceRule> = spec.advice.iter().collect();
        steps = advise(steps, &rules, &spec.pointcuts, aspect);
    }
    for (step, from, path) in &steps {
        check_fanouts(step, from, path, lookup)?;
    }
    Ok(steps)
}

/// Each `onComplete` of `step` (and its children) names an expansion formula.
fn check_fanouts<'a>(
    step: &StepSpec,
    from: &str,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<&'a FormulaSpec>,
) -> Result<(), CompileError> {
    if let Some(fanout) = &step.on_complete {
        expansion(from, &fanout.bond, lookup).map_err(|e| match e {
            CompileError::Compose { formula, message, .. } => {
                CompileError::Compose { formula, path: format!("{path}/onComplete/bond"), message }
            }
            other => other,
        })?;
    }
    for (i, child) in step.children.iter().enumerate() {
        check_fanouts(child, from, &format!("{path}/children/{i}"), lookup)?;
    }
    Ok(())
}

/// Replaces each `loop` step by its body, once per iteration: iteration `i`'s steps are
/// `<loop>.iter<i>.<id>`, its first steps wait for the iteration before (the first for the loop
/// step's own `needs`), and what needed the loop step needs the last iteration's last step.
fn unroll(steps: Vec<Entry>) -> Result<Vec<Entry>, CompileError> {
    let mut out: Vec<Entry> = Vec::with_capacity(steps.len());
    let mut renamed: BTreeMap<String, String> = BTreeMap::new();
    for (step, from, path) in steps {
        let Some(repeat) = &step.repeat else {
            out.push((step, from, path));
            continue;
        };
        let values: Vec<i64> = match (&repeat.count, &repeat.range) {
            (Some(n), None) => (1..=i64::from(*n)).collect(),
            (None, Some(range)) => {
                let bounds = range
                    .split_once("..")
                    .and_then(|(a, b)| Some((a.parse::<i64>().ok()?, b.parse::<i64>().ok()?)));
                match bounds {
                    Some((start, end)) if end >= start && end - start < 1000 => {
                        (start..=end).collect()
                    }
                    _ => {
                        let message = format!(
                            "loop range `{range}` is not START..END with END ≥ START (at most 1000)"
                        );
                        return Err(error(&from, &format!("{path}/loop/range"), message));
                    }
                }
            }
            _ => {
                let message =
                    format!("step `{}`: a loop needs `count` or `range` (not both)", step.id);
                return Err(error(&from, &format!("{path}/loop"), message));
            }
        };
        // A body may loop again: its own loops unroll first.
        let body: Vec<Entry> =
            unroll(repeat.body.iter().map(|b| (b.clone(), from.clone(), path.clone())).collect())?;
        let body_ids: BTreeSet<String> = body.iter().map(|(b, _, _)| b.id.clone()).collect();
        let mut previous_last: Option<String> = None;
        for (i, value) in values.iter().enumerate() {
            let prefix = format!("{}.iter{}", step.id, i + 1);
            let mut filled = BTreeMap::new();
            if let Some(var) = &repeat.var {
                filled.insert(var.clone(), value.to_string());
            }
            let mut last = None;
            for (b, _, _) in &body {
                let mut s = fill_step(b, &filled);
                s.id = format!("{prefix}.{}", b.id);
                let inside = b.needs.iter().any(|n| body_ids.contains(n));
                s.needs = b
                    .needs
                    .iter()
                    .map(|n| if body_ids.contains(n) { format!("{prefix}.{n}") } else { n.clone() })
                    .collect();
                if !inside {
                    match &previous_last {
                        Some(prev) => s.needs.push(prev.clone()),
                        None => s.needs.extend(step.needs.iter().cloned()),
                    }
                }
                last = Some(s.id.clone());
                out.push((s, from.clone(), path.clone()));
            }
            previous_last = last;
        }
        if let Some(last) = previous_last {
            renamed.insert(step.id.clone(), last);
        }
    }
    for_each_step(&mut out, &mut |s| {
        for need in &mut s.needs {
            if let Some(last) = renamed.get(need) {
                need.clone_from(last);
            }
        }
    });
    Ok(out)
}

/// The expansion formula `name`, checked to be one.
fn expansion<'a>(
    formula: &str,
    name: &str,
    lookup: &dyn Fn(&str) -> Option<&'a FormulaSpec>,
) -> Result<&'a FormulaSpec, CompileError> {
    let spec = lookup(name).ok_or_else(|| {
        error(formula, "/spec/compose", format!("expansion `{name}` is not applied"))
    })?;
    if spec.formula_type != FormulaType::Expansion || spec.template.is_empty() {
        let message = format!("`{name}` is not an expansion formula with a template");
        return Err(error(formula, "/spec/compose", message));
    }
    Ok(spec)
}

/// Replaces steps that say `expand: NAME` by that expansion's steps.
fn expand_inline<'a>(
    mut steps: Vec<Entry>,
    lookup: &dyn Fn(&str) -> Option<&'a FormulaSpec>,
    depth: usize,
) -> Result<Vec<Entry>, CompileError> {
    while let Some(at) = steps.iter().position(|(s, _, _)| s.expand.is_some()) {
        if depth > MAX_DEPTH * steps.len().max(1) {
            let (_, from, path) = &steps[at];
            return Err(error(from, path, "expansions nest too deep".into()));
        }
        let (step, from, path) = &steps[at];
        let name = step.expand.clone().unwrap_or_default();
        let spec = expansion(from, &name, lookup).map_err(|e| match e {
            CompileError::Compose { formula, message, .. } => {
                CompileError::Compose { formula, path: format!("{path}/expand"), message }
            }
            other => other,
        })?;
        let vars = step.expand_vars.clone();
        steps = splice(steps, at, &name, spec, &vars)?;
    }
    Ok(steps)
}

/// Replaces `steps[at]` (the target) by `expansion`'s template, filled in for it.
fn splice(
    mut steps: Vec<Entry>,
    at: usize,
    name: &str,
    expansion: &FormulaSpec,
    given: &BTreeMap<String, String>,
) -> Result<Vec<Entry>, CompileError> {
    let (target, from, path) = steps.remove(at);
    if !target.children.is_empty() {
        let message = format!("step `{}` has children; an expansion cannot replace it", target.id);
        return Err(error(&from, &path, message));
    }
    let mut values: BTreeMap<String, String> =
        expansion.vars.iter().filter_map(|(k, v)| Some((k.clone(), v.default.clone()?))).collect();
    values.extend(given.clone());
    values.insert("target".into(), target.id.clone());
    values.insert("target.id".into(), target.id.clone());
    values.insert("target.title".into(), target.title.clone());
    values.insert("target.description".into(), target.description.clone().unwrap_or_default());
    let made: Vec<StepSpec> = expansion.template.iter().map(|t| fill_step(t, &values)).collect();
    let ids: BTreeSet<String> = made.iter().map(|s| s.id.clone()).collect();
    let last = made.last().map(|s| s.id.clone()).unwrap_or_default();
    let mut inserted = Vec::with_capacity(made.len());
    for mut step in made {
        if !step.needs.iter().any(|n| ids.contains(n)) {
            for need in &target.needs {
                if !step.needs.contains(need) {
                    step.needs.push(need.clone());
                }
            }
        }
        inserted.push((step, name.to_owned(), path.clone()));
    }
    for (offset, entry) in inserted.into_iter().enumerate() {
        steps.insert(at + offset, entry);
    }
    let taken = id_list(&steps);
    let duplicates: Vec<&String> =
        ids.iter().filter(|id| taken.iter().filter(|t| t == id).count() > 1).collect();
    if let Some(id) = duplicates.first() {
        return Err(error(
            &from,
            &path,
            format!("expanding `{}` makes a second step `{id}`", target.id),
        ));
    }
    for_each_step(&mut steps, &mut |step| {
        for need in &mut step.needs {
            if *need == target.id {
                need.clone_from(&last);
            }
        }
    });
    Ok(steps)
}

/// Inserts each rule's steps around every step it matches (and, with `pointcuts`, that one of
/// them matches). Only the steps there were before are matched, not inserted ones.
/// `source` names the formula the advice comes from (the inserted steps' origin).
fn advise(
    steps: Vec<Entry>,
    rules: &[&AdviceRule],
    pointcuts: &[Pointcut],
    source: &str,
) -> Vec<Entry> {
    if rules.is_empty() {
        return steps;
    }
    let mut out = Vec::with_capacity(steps.len());
    for (mut target, from, path) in steps {
        let chosen = pointcuts.is_empty() || pointcuts.iter().any(|p| cut(p, &target));
        let mut before: Vec<&AdviceStep> = Vec::new();
        let mut after: Vec<&AdviceStep> = Vec::new();
        for rule in rules.iter().filter(|r| chosen && glob(&r.target, &target.id)) {
            before.extend(rule.before.iter());
            before.extend(rule.around.iter().flat_map(|a| a.before.iter()));
            after.extend(rule.after.iter());
            after.extend(rule.around.iter().flat_map(|a| a.after.iter()));
        }
        let mut previous: Option<String> = None;
        for advice in before {
            let step = advice_step(advice, &target, previous.take());
            previous = Some(step.id.clone());
            out.push((step, source.to_owned(), path.clone()));
        }
        if let Some(last) = previous
            && !target.needs.contains(&last)
        {
            target.needs.push(last);
        }
        let mut previous = Some(target.id.clone());
        let afters: Vec<StepSpec> = after
            .into_iter()
            .map(|advice| {
                let step = advice_step(advice, &target, previous.take());
                previous = Some(step.id.clone());
                step
            })
            .collect();
        out.push((target, from.clone(), path.clone()));
        out.extend(afters.into_iter().map(|s| (s, source.to_owned(), path.clone())));
    }
    out
}

fn advice_step(advice: &AdviceStep, target: &StepSpec, after: Option<String>) -> StepSpec {
    let values = BTreeMap::from([
        ("step.id".to_owned(), target.id.clone()),
        ("step.title".to_owned(), target.title.clone()),
    ]);
    let id = fill(&advice.id, &values);
    StepSpec {
        title: fill(advice.title.as_deref().unwrap_or(&advice.id), &values),
        description: advice.description.as_deref().map(|d| fill(d, &values)),
        step_type: advice.step_type.clone(),
        needs: after.into_iter().collect(),
        id,
        ..StepSpec::default()
    }
}

fn cut(pointcut: &Pointcut, step: &StepSpec) -> bool {
    pointcut.glob.as_deref().is_none_or(|g| glob(g, &step.id))
        && pointcut.step_type.as_deref().is_none_or(|t| step.step_type.as_deref() == Some(t))
        && pointcut.label.as_deref().is_none_or(|l| step.labels.iter().any(|x| x == l))
}

/// Gas City's step globs: `*` any id, `*.x` ids ending `.x`, `x.*` ids starting `x.`, else
/// the exact id.
pub fn glob(pattern: &str, id: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if let Some(suffix) = pattern.strip_prefix('*') {
        return id.ends_with(suffix);
    }
    if let Some(prefix) = pattern.strip_suffix('*') {
        return id.starts_with(prefix);
    }
    pattern == id
}

/// `text` with each `{name}` of `values` filled in; `{{var}}` (a cook-time var) is left alone.
pub fn fill(text: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        if let Some(inner) = after.strip_prefix('{') {
            // A cook-time `{{var}}`: copied through whole.
            match inner.find("}}") {
                Some(end) => {
                    out.push_str(&rest[open..open + 2 + end + 2]);
                    rest = &inner[end + 2..];
                }
                None => {
                    out.push_str(&rest[open..]);
                    rest = "";
                }
            }
            continue;
        }
        match after.find('}').map(|end| (&after[..end], end)) {
            Some((name, end)) if values.contains_key(name) => {
                out.push_str(&values[name]);
                rest = &after[end + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn fill_step(template: &StepSpec, values: &BTreeMap<String, String>) -> StepSpec {
    let f = |t: &str| fill(t, values);
    let mut step = template.clone();
    step.id = f(&step.id);
    step.title = f(&step.title);
    step.description = step.description.as_deref().map(f);
    step.notes = step.notes.as_deref().map(f);
    step.acceptance = step.acceptance.as_deref().map(f);
    step.needs = step.needs.iter().map(|n| f(n)).collect();
    step.labels = step.labels.iter().map(|l| f(l)).collect();
    step.metadata = step.metadata.iter().map(|(k, v)| (k.clone(), f(v))).collect();
    step.children = step.children.iter().map(|c| fill_step(c, values)).collect();
    step
}

fn for_each_step(steps: &mut [Entry], visit: &mut dyn FnMut(&mut StepSpec)) {
    fn walk(step: &mut StepSpec, visit: &mut dyn FnMut(&mut StepSpec)) {
        visit(step);
        for child in &mut step.children {
            walk(child, visit);
        }
    }
    for (step, _, _) in steps {
        walk(step, visit);
    }
}

fn all_ids(steps: &[Entry]) -> BTreeSet<String> {
    id_list(steps).into_iter().collect()
}

/// Every step id, children included, repeats kept.
fn id_list(steps: &[Entry]) -> Vec<String> {
    fn walk(step: &StepSpec, out: &mut Vec<String>) {
        out.push(step.id.clone());
        for child in &step.children {
            walk(child, out);
        }
    }
    let mut out = Vec::new();
    for (step, _, _) in steps {
        walk(step, &mut out);
    }
    out
}

/// `spec`'s template filled in for `target` with `vars`, standing alone.
pub(super) fn expand_one(
    name: &str,
    spec: &FormulaSpec,
    target: StepSpec,
    vars: &BTreeMap<String, String>,
) -> Result<Vec<Entry>, CompileError> {
    let steps = vec![(target, name.to_owned(), "/spec/template".to_owned())];
    splice(steps, 0, name, spec, vars)
}

/// An expansion formula cooked on its own: its template against a stand-in target `main`
/// titled by the formula.
pub(super) fn materialise(name: &str, spec: &FormulaSpec) -> Result<Vec<Entry>, CompileError> {
    let target = StepSpec { id: "main".into(), title: name.into(), ..StepSpec::default() };
    let steps = vec![(target, name.to_owned(), "/spec/template".to_owned())];
    splice(steps, 0, name, spec, &BTreeMap::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_leaves_cook_time_vars_and_unknown_braces_alone() {
        let values = BTreeMap::from([
            ("target".to_owned(), "build".to_owned()),
            ("target.title".to_owned(), "Build {{app}}".to_owned()),
        ]);
        assert_eq!(fill("{target}.draft", &values), "build.draft");
        assert_eq!(
            fill("Draft: {target.title} for {{who}}", &values),
            "Draft: Build {{app}} for {{who}}"
        );
        assert_eq!(fill("{unknown} {", &values), "{unknown} {");
        assert_eq!(
            fill("{{target}}", &values),
            "{{target}}",
            "a cook-time var of the same name stays"
        );
    }

    #[test]
    fn globs_match_as_gas_city_s_do() {
        assert!(glob("*", "x") && glob("impl*", "implement") && glob("*.draft", "a.draft"));
        assert!(glob("review", "review") && !glob("review", "reviews") && !glob("a.*", "b.c"));
    }

    #[test]
    fn a_loop_unrolls_its_body_one_iteration_after_another() {
        use crate::api::formula::LoopSpec;
        let step = |id: &str, needs: &[&str]| StepSpec {
            id: id.into(),
            title: format!("{id} {{n}}"),
            needs: needs.iter().map(|n| n.to_string()).collect(),
            ..StepSpec::default()
        };
        let looped = StepSpec {
            repeat: Some(LoopSpec {
                range: Some("3..4".into()),
                var: Some("n".into()),
                body: vec![step("try", &[]), step("check", &["try"])],
                ..LoopSpec::default()
            }),
            ..step("attempts", &["setup"])
        };
        let entries = vec![
            (step("setup", &[]), "f".to_owned(), String::new()),
            (looped, "f".to_owned(), "/spec/steps/1".to_owned()),
            (step("report", &["attempts"]), "f".to_owned(), String::new()),
        ];
        let out = apply(&Rules::default(), entries, &|_| None).unwrap();
        let graph: Vec<(String, Vec<String>, String)> =
            out.into_iter().map(|(s, _, _)| (s.id, s.needs, s.title)).collect();
        let own = |id: &str, needs: &[&str], title: &str| {
            (
                id.to_owned(),
                needs.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
                title.to_owned(),
            )
        };
        assert_eq!(
            graph,
            [
                own("setup", &[], "setup {n}"),
                own("attempts.iter1.try", &["setup"], "try 3"),
                own("attempts.iter1.check", &["attempts.iter1.try"], "check 3"),
                own("attempts.iter2.try", &["attempts.iter1.check"], "try 4"),
                own("attempts.iter2.check", &["attempts.iter2.try"], "check 4"),
                own("report", &["attempts.iter2.check"], "report {n}"),
            ]
        );
        let bad = StepSpec {
            repeat: Some(LoopSpec {
                range: Some("5..1".into()),
                body: vec![step("x", &[])],
                ..LoopSpec::default()
            }),
            ..step("l", &[])
        };
        let err =
            apply(&Rules::default(), vec![(bad, "f".into(), "/spec/steps/0".into())], &|_| None);
        assert!(err.unwrap_err().to_string().contains("END ≥ START"));
    }

    #[test]
    fn a_branch_fans_out_and_joins() {
        let step = |id: &str| {
            (
                StepSpec { id: id.into(), title: id.into(), ..StepSpec::default() },
                "f".to_owned(),
                String::new(),
            )
        };
        let rule = crate::api::formula::BranchRule {
            from: "a".into(),
            steps: vec!["b".into(), "c".into()],
            join: "d".into(),
        };
        let mut rules = Rules::default();
        rules.branch.push(("f".into(), &rule));
        let out =
            apply(&rules, vec![step("a"), step("b"), step("c"), step("d")], &|_| None).unwrap();
        let needs: Vec<Vec<String>> = out.iter().map(|(s, _, _)| s.needs.clone()).collect();
        assert_eq!(
            needs,
            [
                vec![],
                vec!["a".to_owned()],
                vec!["a".to_owned()],
                vec!["b".to_owned(), "c".to_owned()]
            ]
        );
        let bad = crate::api::formula::BranchRule { join: "zz".into(), ..rule.clone() };
        let mut rules = Rules::default();
        rules.branch.push(("f".into(), &bad));
        let err = apply(&rules, vec![step("a")], &|_| None).unwrap_err();
        assert!(err.to_string().contains("unknown step `b`"), "{err}");
    }
}
