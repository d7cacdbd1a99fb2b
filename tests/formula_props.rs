//! Properties of formula compiling and cooking over arbitrary step graphs and text: nothing
//! panics; a formula that compiles lists every step after what it needs and after its parent,
//! and its cook batch only refers to earlier beads.

use std::collections::{BTreeMap, BTreeSet};

use gascity::api::formula::{FormulaSpec, StepSpec, VarSpec};
use gascity::formula::cook::{CookRequest, batch};
use gascity::formula::{compile, condition, vars};
use proptest::prelude::*;

/// Steps named s0..sN, each needing a few others by index (maybe itself, maybe a missing
/// one), some holding children; plus a condition on a var now and then.
fn steps() -> impl Strategy<Value = Vec<StepSpec>> {
    let one = (
        prop::collection::vec(0usize..10, 0..3),
        prop::option::of(prop::sample::select(vec!["{{flag}}", "!{{flag}}", "{{mode}} == a"])),
        prop::collection::vec((0usize..14, prop::collection::vec(0usize..14, 0..2)), 0..2),
    );
    prop::collection::vec(one, 1..8).prop_map(|raw| {
        raw.into_iter()
            .enumerate()
            .map(|(i, (needs, cond, children))| StepSpec {
                id: format!("s{i}"),
                title: format!("Step {i} for {{{{mode}}}}"),
                needs: needs.into_iter().map(|n| format!("s{n}")).collect(),
                condition: cond.map(str::to_owned),
                children: children
                    .into_iter()
                    .map(|(c, needs)| StepSpec {
                        id: format!("c{c}"),
                        title: "child".into(),
                        needs: needs.into_iter().map(|n| format!("s{n}")).collect(),
                        ..StepSpec::default()
                    })
                    .collect(),
                ..StepSpec::default()
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn compiled_steps_come_after_their_needs_and_cook_batches_point_backwards(
        base in steps(),
        variant in steps(),
        extends in any::<bool>(),
        flag in prop::sample::select(vec!["", "true", "0"]),
    ) {
        let vars = BTreeMap::from([
            ("flag".to_owned(), VarSpec { default: Some(String::new()), ..VarSpec::default() }),
            ("mode".to_owned(), VarSpec { default: Some("a".into()), ..VarSpec::default() }),
        ]);
        let base = FormulaSpec { steps: base, vars, ..FormulaSpec::default() };
        let variant = FormulaSpec {
            steps: variant,
            extends: if extends { vec!["base".into()] } else { vec![] },
            ..FormulaSpec::default()
        };
        let all = BTreeMap::from([("base", base), ("variant", variant)]);
        let Ok(formula) = compile("variant", &|n| all.get(n)) else { return Ok(()) };

        let mut placed = BTreeSet::new();
        for step in &formula.steps {
            for need in &step.needs {
                prop_assert!(placed.contains(need), "{} before its need {need}", step.id);
            }
            if let Some(parent) = &step.parent {
                prop_assert!(placed.contains(parent), "{} before its parent", step.id);
            }
            prop_assert!(placed.insert(step.id.clone()), "{} twice", step.id);
        }

        let values = BTreeMap::from([
            ("flag".to_owned(), flag.to_owned()),
            ("mode".to_owned(), "a".to_owned()),
        ]);
        if let Ok((beads, skipped)) = batch(&formula, &values, &CookRequest::default()) {
            prop_assert_eq!(beads.len() + skipped.len(), formula.steps.len() + 1);
            for (i, bead) in beads.iter().enumerate().skip(1) {
                let refs = bead.parent.iter().chain(bead.deps.iter().map(|d| &d.other));
                for r in refs {
                    let n: usize = r.strip_prefix('@').unwrap().parse().unwrap();
                    prop_assert!(n < i, "bead {i} refers forward to @{n}");
                }
                prop_assert!(!bead.title.contains("{{mode}}"));
            }
        }
    }

    #[test]
    fn substitution_and_conditions_take_any_text(text in ".{0,80}", value in ".{0,20}") {
        let values = BTreeMap::from([("x".to_owned(), value.clone())]);
        let out = vars::substitute(&text, &values);
        if !text.contains("{{") {
            prop_assert_eq!(&out, &text);
        }
        let _ = condition::holds(&text, &values);
        let _ = vars::placeholders(&text);
        prop_assert_eq!(vars::substitute("{{x}}", &values), value);
    }
}
