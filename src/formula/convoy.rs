//! Convoy formulas: parallel legs, each a bead (routed to the leg's agent), and a synthesis
//! bead after them, under a root of type `convoy` that `gc convoy status` follows. A leg's
//! description gets the formula's `base` prompt, a Go text/template rendered when the convoy is
//! cooked (`.leg.focus`, `.output_path`, the vars, …), as Gas Town renders it.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::compile::{CompiledStep, StepText};
use crate::api::formula::{ConvoyOutput, FormulaSpec, Leg, VarSpec};
use crate::work::ROUTED_TO;

/// Bead type of a convoy's root.
pub const CONVOY_TYPE: &str = "convoy";
/// The var that picks a preset (a subset of the legs).
pub const PRESET_VAR: &str = "preset";
/// Step id of the synthesis.
pub const SYNTHESIS: &str = "synthesis";

/// The steps of convoy formula `spec`: its legs in order, then the synthesis needing them.
pub fn steps(name: &str, spec: &FormulaSpec) -> Vec<CompiledStep> {
    let mut out: Vec<CompiledStep> = spec
        .legs
        .iter()
        .map(|leg| {
            let mut metadata = BTreeMap::new();
            if let Some(agent) = leg.agent.as_ref().or(spec.agent.as_ref()) {
                metadata.insert(ROUTED_TO.to_owned(), agent.clone());
            }
            if leg.review_only {
                metadata.insert(crate::work::proof::REVIEW_ONLY.to_owned(), "true".to_owned());
            }
            CompiledStep {
                id: leg.id.clone(),
                parent: None,
                from: name.to_owned(),
                needs: Vec::new(),
                spec: StepText {
                    title: leg.title.clone().unwrap_or_else(|| leg.id.clone()),
                    description: leg.description.clone(),
                    metadata,
                    prompt: spec.prompts.get("base").cloned(),
                    leg: Some(leg.clone()),
                    ..StepText::default()
                },
            }
        })
        .collect();
    if let Some(synthesis) = &spec.synthesis {
        let needs = if synthesis.depends_on.is_empty() {
            spec.legs.iter().map(|l| l.id.clone()).collect()
        } else {
            synthesis.depends_on.clone()
        };
        let mut metadata = BTreeMap::new();
        if let Some(agent) = &spec.agent {
            metadata.insert(ROUTED_TO.to_owned(), agent.clone());
        }
        out.push(CompiledStep {
            id: SYNTHESIS.to_owned(),
            parent: None,
            from: name.to_owned(),
            needs,
            spec: StepText {
                title: synthesis.title.clone().unwrap_or_else(|| "Synthesis".into()),
                description: Some(synthesis.description.clone().unwrap_or_else(|| {
                    "Synthesize findings from all legs into unified output".into()
                })),
                metadata,
                ..StepText::default()
            },
        });
    }
    out
}

/// The vars of a convoy formula: its own, plus `preset` (one of its presets) when it has any.
pub fn vars(spec: &FormulaSpec) -> BTreeMap<String, VarSpec> {
    let mut vars = spec.vars.clone();
    if !spec.presets.is_empty() {
        vars.entry(PRESET_VAR.to_owned()).or_insert_with(|| VarSpec {
            description: Some("Which legs to run (a preset); default: all of them".into()),
            allowed: spec.presets.keys().cloned().collect(),
            ..VarSpec::default()
        });
    }
    vars
}

/// The legs a cook leaves out: those not in the chosen preset.
pub fn legs_left_out(
    presets: &BTreeMap<String, Vec<String>>,
    steps: &[CompiledStep],
    values: &BTreeMap<String, String>,
) -> Vec<String> {
    let Some(chosen) = values.get(PRESET_VAR).and_then(|p| presets.get(p)) else {
        return Vec::new();
    };
    steps
        .iter()
        .filter(|s| s.spec.leg.is_some() && !chosen.contains(&s.id))
        .map(|s| s.id.clone())
        .collect()
}

/// What a leg's prompt is rendered with.
pub fn context(
    formula: &str,
    review_id: &str,
    values: &BTreeMap<String, String>,
    leg: &Leg,
    output: Option<&ConvoyOutput>,
) -> Value {
    let mut context = serde_json::Map::new();
    for (name, value) in values {
        context.insert(name.clone(), json!(value));
    }
    let given = |k: &str| values.get(k).filter(|v| !v.is_empty());
    let target = match (given("pr"), given("branch"), given("files")) {
        (Some(pr), _, _) => format!("PR #{pr}"),
        (None, Some(branch), _) => format!("branch {branch}"),
        (None, None, Some(files)) => format!("files {files}"),
        _ => "local files".into(),
    };
    let files: Vec<&str> =
        given("files").map(|f| f.split(',').map(str::trim).collect()).unwrap_or_default();
    context.insert("formula_name".into(), json!(formula));
    context.insert("review_id".into(), json!(review_id));
    context.insert("target_description".into(), json!(target));
    context.insert("pr_number".into(), json!(given("pr").cloned().unwrap_or_default()));
    context.insert("pr_title".into(), json!(""));
    context.insert("changed_files".into(), json!([]));
    context.insert("files".into(), json!(files));
    let leg_json = json!({
        "id": leg.id,
        "title": leg.title.clone().unwrap_or_else(|| leg.id.clone()),
        "focus": leg.focus.clone().unwrap_or_default(),
        "description": leg.description.clone().unwrap_or_default(),
    });
    context.insert("leg".into(), leg_json);
    let base = Value::Object(context.clone());
    let directory = render(
        output.and_then(|o| o.directory.as_deref()).unwrap_or(".reviews/{{.review_id}}"),
        &base,
    );
    let file = render(
        output.and_then(|o| o.leg_pattern.as_deref()).unwrap_or("{{.leg.id}}-findings.md"),
        &base,
    );
    context.insert("output_path".into(), json!(format!("{directory}/{file}")));
    let synthesis = output.and_then(|o| o.synthesis.as_deref()).map(|s| render(s, &base));
    context.insert("output".into(), json!({ "directory": directory, "synthesis": synthesis }));
    Value::Object(context)
}

/// `template` (Go text/template) rendered with `context`; as written when it does not render.
pub fn render(template: &str, context: &Value) -> String {
    gtmpl::template(template, to_gtmpl(context)).unwrap_or_else(|_| template.to_owned())
}

fn to_gtmpl(value: &Value) -> gtmpl::Value {
    match value {
        Value::Null => gtmpl::Value::Nil,
        Value::Bool(b) => gtmpl::Value::from(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => gtmpl::Value::from(i),
            None => gtmpl::Value::from(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => gtmpl::Value::from(s.clone()),
        Value::Array(items) => gtmpl::Value::from(items.iter().map(to_gtmpl).collect::<Vec<_>>()),
        Value::Object(map) => gtmpl::Value::from(
            map.iter()
                .map(|(k, v)| (k.clone(), to_gtmpl(v)))
                .collect::<std::collections::HashMap<String, gtmpl::Value>>(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prompt_renders_go_templates_with_the_leg_and_the_vars() {
        let leg = Leg { id: "security".into(), focus: Some("OWASP".into()), ..Leg::default() };
        let values = BTreeMap::from([("pr".to_owned(), "42".to_owned())]);
        let pr = context("code-review", "r1", &values, &leg, None);
        let text = render(
            "{{.formula_name}}: {{.leg.focus}} on {{.target_description}}\n{{if .pr_number -}}\nPR #{{.pr_number}}\n{{else -}}\nno PR\n{{end -}}\nto {{.output_path}}",
            &pr,
        );
        assert_eq!(
            text,
            "code-review: OWASP on PR #42\nPR #42\nto .reviews/r1/security-findings.md"
        );
        let files = BTreeMap::from([("files".to_owned(), "a.rs, b.rs".to_owned())]);
        let listed = context("x", "r2", &files, &leg, None);
        let text = render("{{range .files -}}\n- {{.}}\n{{end -}}", &listed);
        assert_eq!(text, "- a.rs\n- b.rs\n");
        assert_eq!(
            render("{{.broken", &listed),
            "{{.broken",
            "a template that does not parse stays"
        );
    }
}
