//! Formula controller: compiles every applied formula (with the formulas it extends) and
//! records in its status whether it can be cooked, its step graph, or the error and where.

use serde_json::{Value, json};

use super::model::CityModel;
use crate::formula::{CompileError, compile_applied};

/// The status of the applied formula `name`: pure, from the applied city alone. A formula's
/// status depends on the formulas it extends, so the controller recomputes every formula's
/// when any one changes.
pub fn status(model: &CityModel, name: &str) -> Option<Value> {
    let applied = model.formulas.get(name)?;
    let generation = applied.generation;
    Some(match compile_applied(model, name) {
        Ok(compiled) => {
            let steps: Vec<Value> = compiled
                .steps
                .iter()
                .map(|s| {
                    let mut step = json!({"id": s.id, "title": s.spec.title});
                    if !s.needs.is_empty() {
                        step["needs"] = json!(s.needs);
                    }
                    if let Some(parent) = &s.parent {
                        step["parent"] = json!(parent);
                    }
                    if s.from != name {
                        step["from"] = json!(s.from);
                    }
                    if let Some(condition) = &s.spec.condition {
                        step["condition"] = json!(condition);
                    }
                    step
                })
                .collect();
            let required: Vec<&String> = compiled
                .vars
                .iter()
                .filter(|(_, v)| v.required && v.default.is_none())
                .map(|(k, _)| k)
                .collect();
            json!({
                "observedGeneration": generation,
                "usable": true,
                "steps": steps,
                "requiredVars": required,
                "extends": compiled.extends,
                "conditions": [{"type": "Ready", "status": "True", "reason": "Compiled",
                                "message": format!("{} steps", steps.len())}],
            })
        }
        Err(error) => {
            let path = error_path(&error);
            let mut status = json!({
                "observedGeneration": generation,
                "usable": false,
                "error": {"message": error.to_string()},
                "conditions": [{"type": "Ready", "status": "False", "reason": reason(&error),
                                "message": error.to_string()}],
            });
            if let Some((formula, path)) = path {
                status["error"]["formula"] = json!(formula);
                status["error"]["path"] = json!(path);
            }
            status
        }
    })
}

/// The formula and JSON pointer an error is at, when it has one place.
fn error_path(error: &CompileError) -> Option<(String, String)> {
    match error {
        CompileError::DuplicateStep { formula, path, .. }
        | CompileError::UnknownNeed { formula, path, .. } => Some((formula.clone(), path.clone())),
        CompileError::MissingParent { formula, .. } => {
            Some((formula.clone(), "/spec/extends".into()))
        }
        _ => None,
    }
}

fn reason(error: &CompileError) -> &'static str {
    match error {
        CompileError::NotFound { .. } | CompileError::MissingParent { .. } => "MissingFormula",
        CompileError::ExtendsCycle(_) | CompileError::NeedsCycle(_) => "Cycle",
        CompileError::NotWorkflow { .. } => "NotAWorkflow",
        CompileError::DuplicateStep { .. } | CompileError::UnknownNeed { .. } => "InvalidSteps",
        CompileError::NoSteps(_) => "NoSteps",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::formula::{FormulaSpec, StepSpec};
    use crate::controllers::model::Applied;

    fn applied(spec: FormulaSpec) -> Applied<FormulaSpec> {
        Applied { name: String::new(), generation: 3, uid: String::new(), spec }
    }

    #[test]
    fn a_formula_whose_parent_is_gone_is_not_usable_and_says_why() {
        let step = StepSpec { id: "a".into(), title: "A".into(), ..StepSpec::default() };
        let base = FormulaSpec { steps: vec![step.clone()], ..FormulaSpec::default() };
        let child = FormulaSpec {
            extends: vec!["base".into()],
            steps: vec![StepSpec { id: "b".into(), needs: vec!["a".into()], ..step }],
            ..FormulaSpec::default()
        };
        let mut model = CityModel::default();
        model.formulas.insert("base".into(), applied(base));
        model.formulas.insert("child".into(), applied(child));
        let ok = status(&model, "child").unwrap();
        assert_eq!(ok["usable"], true);
        assert_eq!(ok["steps"][0], json!({"id": "a", "title": "A", "from": "base"}));
        assert_eq!(ok["steps"][1]["needs"], json!(["a"]));
        assert_eq!(ok["observedGeneration"], 3);

        model.formulas.remove("base");
        let broken = status(&model, "child").unwrap();
        assert_eq!(broken["usable"], false);
        assert_eq!(broken["error"]["message"], "`child` extends `base`, which is not applied");
        assert_eq!(broken["error"]["path"], "/spec/extends");
        assert_eq!(broken["conditions"][0]["reason"], "MissingFormula");
        assert_eq!(status(&model, "base"), None);
    }
}
