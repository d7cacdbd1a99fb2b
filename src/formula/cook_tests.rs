use std::collections::BTreeMap;

use super::*;
use crate::api::formula::{FormulaSpec, StepSpec, VarSpec};
use crate::beads::ReadyQuery;
use crate::beads::embedded::EmbeddedStore;
use crate::work::hook::next_work;

fn step(id: &str, title: &str, needs: &[&str]) -> StepSpec {
    StepSpec {
        id: id.into(),
        title: title.into(),
        needs: needs.iter().map(|n| n.to_string()).collect(),
        ..StepSpec::default()
    }
}

fn pancakes() -> CompiledFormula {
    let mut spec = FormulaSpec {
        description: Some("Pancakes for {{guest}}".into()),
        steps: vec![
            step("dry", "Mix dry", &[]),
            step("wet", "Mix wet", &[]),
            StepSpec {
                description: Some("Fold, {{guest}} is waiting".into()),
                notes: Some("do not overmix".into()),
                labels: vec!["kitchen".into()],
                priority: Some(1),
                ..step("combine", "Combine for {{guest}}", &["dry", "wet"])
            },
            StepSpec {
                children: vec![step("flip", "Flip", &[]), step("plate", "Plate", &["flip"])],
                ..step("cook", "Cook", &["combine"])
            },
            step("serve", "Serve", &["cook"]),
        ],
        ..FormulaSpec::default()
    };
    spec.vars.insert("guest".into(), VarSpec { required: true, ..VarSpec::default() });
    compile("pancakes", &|n| (n == "pancakes").then_some(&spec)).unwrap()
}

fn store() -> (tempfile::TempDir, EmbeddedStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("beads.db"), "gc").unwrap();
    (dir, store)
}

fn request(vars: &[(&str, &str)]) -> CookRequest {
    CookRequest {
        vars: vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        route_to: Some("worker".into()),
        actor: "mayor".into(),
        ..CookRequest::default()
    }
}

fn blocked_by(bead: &Bead) -> Vec<&str> {
    let mut ids: Vec<&str> = bead
        .dependencies
        .iter()
        .filter(|d| d.dep_type == dep_type::BLOCKS && d.issue_id == bead.id)
        .map(|d| d.depends_on_id.as_str())
        .collect();
    ids.sort();
    ids
}

#[test]
fn a_cook_creates_the_root_and_one_bead_per_step_with_parents_and_blocks() {
    let (_dir, store) = store();
    let (root, steps, skipped) = cook(&store, &pancakes(), &request(&[("guest", "Ada")])).unwrap();
    assert!(skipped.is_empty());
    assert_eq!(root.issue_type, MOLECULE_TYPE);
    assert_eq!(root.title, "pancakes");
    assert_eq!(root.description, "Pancakes for Ada");
    assert_eq!(root.meta_str(ROUTED_TO), Some("worker"));

    let by_step: BTreeMap<&str, &Bead> =
        steps.iter().map(|b| (b.meta_str(STEP).unwrap(), b)).collect();
    let id = |s: &str| by_step[s].id.clone();
    let r = &root.id;
    assert_eq!(
        steps.iter().map(|b| b.id.as_str()).collect::<Vec<_>>(),
        [
            format!("{r}.1"),
            format!("{r}.2"),
            format!("{r}.3"),
            format!("{r}.4"),
            id("cook") + ".1",
            id("cook") + ".2",
            format!("{r}.5"),
        ]
    );
    assert_eq!(parent_of(by_step["dry"]).as_deref(), Some(r.as_str()));
    assert_eq!(parent_of(by_step["flip"]), Some(id("cook")));
    assert_eq!(blocked_by(by_step["combine"]), [id("dry"), id("wet")]);
    assert_eq!(blocked_by(by_step["cook"]), [id("combine")]);
    assert_eq!(blocked_by(by_step["plate"]), [id("flip")]);
    let mut serve_waits_for = vec![id("cook"), id("flip"), id("plate")];
    serve_waits_for.sort();
    assert_eq!(
        blocked_by(by_step["serve"]),
        serve_waits_for,
        "a step with children is done when they are"
    );

    let combine = by_step["combine"];
    assert_eq!(combine.title, "Combine for Ada");
    assert_eq!(combine.description, "Fold, Ada is waiting");
    assert_eq!(combine.notes, "do not overmix");
    assert_eq!(combine.labels, ["kitchen"]);
    assert_eq!(combine.priority, 1);
    assert_eq!(combine.meta_str(FORMULA), Some("pancakes"));
    assert_eq!(combine.meta_str(ROUTED_TO), Some("worker"));
    assert_eq!(store.children(r).unwrap().len(), 5);
}

#[test]
fn steps_become_ready_in_dependency_order_and_the_hook_follows() {
    let (_dir, store) = store();
    let (root, _, _) = cook(&store, &pancakes(), &request(&[("guest", "Ada")])).unwrap();
    let mut order = Vec::new();
    while let Some((bead, reason)) = next_work(&store, "worker", "worker-1").unwrap() {
        assert_ne!(bead.id, root.id, "a cooked molecule's root is never on the hook");
        assert_eq!(reason, crate::work::hook::HookReason::Routed, "{}", bead.title);
        let ready: Vec<String> = store
            .ready(&ReadyQuery::default())
            .unwrap()
            .into_iter()
            .map(|b| b.meta_str(STEP).unwrap().to_owned())
            .collect();
        order.push((bead.meta_str(STEP).unwrap().to_owned(), ready));
        let closed = store.close(&bead.id, None, "worker-1").unwrap();
        close_finished_parents(&store, &closed, "worker-1").unwrap();
    }
    let steps: Vec<&str> = order.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(steps, ["dry", "wet", "combine", "cook", "flip", "plate", "serve"]);
    assert_eq!(order[0].1, ["dry", "wet"], "both mixes are ready at once, nothing else");
    assert_eq!(order[2].1, ["combine"]);
    assert!(store.get(&root.id).unwrap().is_closed(), "the root closes with its last step");
    assert_eq!(next_work(&store, "worker", "worker-1").unwrap(), None);
}

#[test]
fn a_failed_cook_creates_nothing() {
    let (_dir, store) = store();
    let err = cook(&store, &pancakes(), &request(&[])).unwrap_err().to_string();
    assert!(err.contains("missing required var `guest`"), "{err}");

    let mut spec = FormulaSpec {
        steps: vec![step("a", "Fine", &[]), step("b", "{{who}}", &["a"])],
        ..FormulaSpec::default()
    };
    spec.vars.insert("who".into(), VarSpec::default());
    let formula = compile("f", &|_| Some(&spec)).unwrap();
    // The second step's title is empty once substituted: the store refuses it, after the
    // root and the first step were already inserted in the same batch.
    assert!(cook(&store, &formula, &request(&[("who", "")])).is_err());
    let all = ListQuery { all: true, ..ListQuery::default() };
    assert_eq!(store.list(&all).unwrap().len(), 0, "nothing of a failed cook is left");
}

#[test]
fn a_false_condition_skips_the_step_its_children_and_keeps_order_across_the_gap() {
    let mut spec = FormulaSpec {
        steps: vec![
            step("setup", "Setup", &[]),
            StepSpec {
                condition: Some("{{lint}}".into()),
                children: vec![step("lint-fix", "Fix lint", &[])],
                ..step("lint", "Lint", &["setup"])
            },
            step("test", "Test", &["lint"]),
        ],
        ..FormulaSpec::default()
    };
    spec.vars.insert("lint".into(), VarSpec { default: Some(String::new()), ..VarSpec::default() });
    let formula = compile("f", &|_| Some(&spec)).unwrap();
    let values = BTreeMap::from([("lint".to_owned(), String::new())]);
    let (batch, skipped) = batch(&formula, &values, &request(&[])).unwrap();
    assert_eq!(skipped, ["lint", "lint-fix"]);
    let titles: Vec<&str> = batch.iter().map(|b| b.title.as_str()).collect();
    assert_eq!(titles, ["f", "Setup", "Test"]);
    assert_eq!(batch[2].deps.iter().map(|d| d.other.as_str()).collect::<Vec<_>>(), ["@1"]);

    let values = BTreeMap::from([("lint".to_owned(), "yes".to_owned())]);
    let (batch, skipped) = super::batch(&formula, &values, &request(&[])).unwrap();
    assert!(skipped.is_empty());
    assert_eq!(batch.len(), 5);
}

#[test]
fn a_vapor_formula_is_its_root_alone_unless_poured_and_a_wisp_is_ephemeral() {
    let mut formula = pancakes();
    formula.phase = Some(crate::api::formula::Phase::Vapor);
    formula.vars.insert("title".into(), VarSpec::default());
    let values = |title: &str| {
        BTreeMap::from([("guest".to_owned(), "Ada".to_owned()), ("title".into(), title.into())])
    };
    let shaped = |shape: Shape| CookRequest { shape, ..request(&[]) };

    // As written: the root alone, a task its agent works from the description.
    let (beads, _) = batch(&formula, &values("Brunch"), &shaped(Shape::AsWritten)).unwrap();
    assert_eq!(beads.len(), 1);
    assert_eq!(beads[0].issue_type.as_deref(), Some(DEFAULT_TYPE));
    assert_eq!(beads[0].title, "Brunch", "a declared title var names the molecule");
    assert!(!beads[0].ephemeral);
    // A wisp: the same root, ephemeral and still a molecule root.
    let (beads, _) = batch(&formula, &values(""), &shaped(Shape::Wisp)).unwrap();
    assert_eq!((beads.len(), beads[0].ephemeral), (1, true));
    assert_eq!(beads[0].issue_type.as_deref(), Some(MOLECULE_TYPE));
    assert_eq!(beads[0].title, "pancakes", "an empty title falls back to the formula's name");
    // Poured: every step, persistent; `pour = true` makes the wisp whole too.
    let (beads, _) = batch(&formula, &values("x"), &shaped(Shape::Pour)).unwrap();
    assert_eq!(beads.len(), 1 + formula.steps.len());
    assert!(beads.iter().all(|b| !b.ephemeral));
    formula.pour = true;
    let (beads, _) = batch(&formula, &values("x"), &shaped(Shape::Wisp)).unwrap();
    assert_eq!(beads.len(), 1 + formula.steps.len());
    assert!(beads.iter().all(|b| b.ephemeral));
}
