//! Formula controller: compiles every applied formula (with the formulas it extends) and
//! records in its status whether it can be cooked, its step graph, or the error and where.

use super::model::CityModel;
use crate::api::status::{
    Condition, ConditionType, FormulaErrorStatus, FormulaStatus, FormulaStepStatus,
};
use crate::formula::{CompileError, compile_applied};

/// The status of the applied formula `name`: pure, from the applied city alone. A formula's
/// status depends on the formulas it extends, so the controller recomputes every formula's
/// when any one changes.
pub fn status(model: &CityModel, name: &str) -> Option<FormulaStatus> {
    let applied = model.formulas.get(name)?;
    let generation = applied.generation;
    Some(match compile_applied(model, name) {
        Ok(compiled) => {
            let steps: Vec<FormulaStepStatus> = compiled
                .steps
                .iter()
                .map(|s| FormulaStepStatus {
                    id: s.id.clone(),
                    title: s.spec.title.clone(),
                    needs: s.needs.clone(),
                    parent: s.parent.clone(),
                    from: (s.from != name).then(|| s.from.clone()),
                    condition: s.spec.condition.clone(),
                })
                .collect();
            let required_vars: Vec<String> = compiled
                .vars
                .iter()
                .filter(|(_, v)| v.required && v.default.is_none())
                .map(|(k, _)| k.clone())
                .collect();
            let message = format!("{} steps", steps.len());
            FormulaStatus {
                observed_generation: generation,
                usable: true,
                steps,
                required_vars,
                extends: compiled.extends.clone(),
                error: None,
                conditions: vec![Condition::new(ConditionType::Ready, true, "Compiled", message)],
            }
        }
        Err(error) => {
            let (formula, path) = error_path(&error).unzip();
            FormulaStatus {
                observed_generation: generation,
                usable: false,
                steps: Vec::new(),
                required_vars: Vec::new(),
                extends: Vec::new(),
                error: Some(FormulaErrorStatus {
                    message: error.to_string(),
                    formula,
                    path,
                    location: None,
                }),
                conditions: vec![Condition::new(
                    ConditionType::Ready,
                    false,
                    reason(&error),
                    error.to_string(),
                )],
            }
        }
    })
}

/// The formula and JSON pointer an error is at, when it has one place.
fn error_path(error: &CompileError) -> Option<(String, String)> {
    match error {
        CompileError::DuplicateStep { formula, path, .. }
        | CompileError::UnknownNeed { formula, path, .. }
        | CompileError::Compose { formula, path, .. } => Some((formula.clone(), path.clone())),
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
        CompileError::Compose { .. } => "InvalidComposition",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::formula::{FormulaSpec, StepSpec};
    use crate::controllers::model::Applied;
    use serde_json::json;

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
        let ok = serde_json::to_value(status(&model, "child").unwrap()).unwrap();
        assert_eq!(ok["usable"], true);
        assert_eq!(ok["steps"][0], json!({"id": "a", "title": "A", "from": "base"}));
        assert_eq!(ok["steps"][1]["needs"], json!(["a"]));
        assert_eq!(ok["observedGeneration"], 3);

        model.formulas.remove("base");
        let broken = serde_json::to_value(status(&model, "child").unwrap()).unwrap();
        assert_eq!(broken["usable"], false);
        assert_eq!(broken["error"]["message"], "`child` extends `base`, which is not applied");
        assert_eq!(broken["error"]["path"], "/spec/extends");
        assert_eq!(broken["conditions"][0]["reason"], "MissingFormula");
        assert_eq!(status(&model, "base"), None);
    }
}
