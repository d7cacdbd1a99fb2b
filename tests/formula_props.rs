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

/// An acyclic workflow s0..sN (each step needs only earlier ones), an expansion template
/// chain of 1..4 steps, and an aspect with before/after advice.
fn woven() -> impl Strategy<Value = (Vec<StepSpec>, usize, usize, usize, String)> {
    let needs = prop::collection::vec(prop::collection::vec(0usize..8, 0..3), 2..8);
    (needs, 0usize..8, 1usize..4, 0usize..3, prop::sample::select(vec!["*", "s1", "s*", "*2"]))
        .prop_map(|(needs, target, template, advice, glob)| {
            let steps: Vec<StepSpec> = needs
                .iter()
                .enumerate()
                .map(|(i, n)| StepSpec {
                    id: format!("s{i}"),
                    title: format!("S{i}"),
                    needs: n.iter().filter(|j| **j < i).map(|j| format!("s{j}")).collect(),
                    ..StepSpec::default()
                })
                .collect();
            let target = target % steps.len();
            (steps, target, template, advice, glob.to_owned())
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any expansion and any aspect over any acyclic workflow still compile to an acyclic
    /// order in which every step comes after what it needs, and the original order between
    /// steps that stayed is kept.
    #[test]
    fn expansions_and_aspects_keep_the_graph_acyclic_and_the_needs_respected(
        (steps, target, template, advice, glob) in woven(),
    ) {
        use gascity::api::formula::{AdviceRule, AdviceStep, Around, ComposeSpec, ExpandRule, FormulaType};
        let target_id = steps[target].id.clone();
        let originals: Vec<(String, Vec<String>)> =
            steps.iter().map(|s| (s.id.clone(), s.needs.clone())).collect();
        let expansion = FormulaSpec {
            formula_type: FormulaType::Expansion,
            template: (0..template)
                .map(|i| StepSpec {
                    id: format!("{{target}}.t{i}"),
                    title: "{target.title} part".into(),
                    needs: if i == 0 { vec![] } else { vec![format!("{{target}}.t{}", i - 1)] },
                    ..StepSpec::default()
                })
                .collect(),
            ..FormulaSpec::default()
        };
        let advice_step = |side: &str| AdviceStep { id: format!("{{step.id}}-{side}"), ..AdviceStep::default() };
        let aspect = FormulaSpec {
            formula_type: FormulaType::Aspect,
            advice: vec![AdviceRule {
                target: glob,
                around: Some(Around {
                    before: (0..advice).map(|_| advice_step("pre")).take(1).collect(),
                    after: (0..advice).map(|_| advice_step("post")).take(1).collect(),
                }),
                ..AdviceRule::default()
            }],
            ..FormulaSpec::default()
        };
        let workflow = FormulaSpec {
            steps,
            compose: Some(ComposeSpec {
                expand: vec![ExpandRule { target: target_id.clone(), with: "exp".into(), vars: BTreeMap::new() }],
                aspects: vec!["asp".into()],
                ..ComposeSpec::default()
            }),
            ..FormulaSpec::default()
        };
        let all = BTreeMap::from([("wf", &workflow), ("exp", &expansion), ("asp", &aspect)]);
        let compiled = compile("wf", &|n| all.get(n).copied()).expect("weaving an acyclic workflow compiles");
        let position: BTreeMap<&str, usize> =
            compiled.steps.iter().enumerate().map(|(i, s)| (s.id.as_str(), i)).collect();
        for step in &compiled.steps {
            for need in &step.needs {
                prop_assert!(position[need.as_str()] < position[step.id.as_str()], "{} before its need {need}", step.id);
            }
        }
        prop_assert!(!position.contains_key(target_id.as_str()), "the target is replaced");
        let last = format!("{target_id}.t{}", template - 1);
        for (id, needs) in originals.iter().filter(|(id, _)| *id != target_id) {
            for need in needs {
                let need = if *need == target_id { &last } else { need };
                prop_assert!(position[need.as_str()] < position[id.as_str()], "{id} still after {need}");
            }
        }
    }
}
