//! The control sweep on a real embedded store: formulas with retry, ralph and scope steps are
//! cooked, their agents' closes played by hand, and each ready control bead run.

use std::collections::BTreeMap;

use super::*;
use crate::api::formula::{
    CheckMode, FormulaSpec, OnExhausted, RalphCheck, RalphSpec, RetrySpec, StepSpec,
};
use crate::beads::ReadyQuery;
use crate::beads::embedded::EmbeddedStore;
use crate::formula::{CookRequest, compile, cook};

fn step(id: &str, needs: &[&str]) -> StepSpec {
    StepSpec {
        id: id.into(),
        title: format!("Do {id}"),
        needs: needs.iter().map(|n| n.to_string()).collect(),
        ..StepSpec::default()
    }
}

fn retry(max: u32) -> Option<RetrySpec> {
    Some(RetrySpec { max_attempts: max, on_exhausted: OnExhausted::HardFail })
}

struct Run {
    _dir: tempfile::TempDir,
    store: EmbeddedStore,
    city: std::path::PathBuf,
    /// Step id → the bead that stands for it (the control bead for retry and ralph steps).
    beads: BTreeMap<String, Bead>,
}

impl Run {
    fn cook(steps: Vec<StepSpec>) -> Run {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(&dir.path().join("beads.db"), "gc").unwrap();
        let spec = FormulaSpec { steps, ..FormulaSpec::default() };
        let formula = compile("flow", &|n| (n == "flow").then_some(&spec)).unwrap();
        let request = CookRequest { actor: "mayor".into(), ..CookRequest::default() };
        let (_, made, _) = cook(&store, &formula, &request).unwrap();
        let mut beads = BTreeMap::new();
        for bead in made {
            let Some(step) = bead.meta_str(crate::formula::STEP).map(str::to_owned) else {
                continue;
            };
            // The control bead comes after its first attempt and stands for the step.
            beads.insert(step, bead);
        }
        let city = dir.path().to_owned();
        Run { _dir: dir, store, city, beads }
    }

    fn get(&self, id: &str) -> Bead {
        self.store.get(id).unwrap()
    }

    /// The step's control bead, as it is now.
    fn control(&self, step: &str) -> Bead {
        self.get(&self.beads[step].id)
    }

    /// The newest attempt of a step.
    fn attempt(&self, step: &str) -> Bead {
        latest(&self.store, &self.control(step))
    }

    /// An agent closes a bead, saying how it went.
    fn close(&self, id: &str, meta: &[(&str, &str)]) {
        let mut values = Map::new();
        for (k, v) in meta {
            values.insert((*k).into(), json!(v));
        }
        self.store.set_metadata(id, values, "worker").unwrap();
        self.store.close(id, None, "worker").unwrap();
    }

    /// Runs every ready control bead once; how many acted.
    fn sweep(&self) -> usize {
        let ready = ready_controls(&self.store).unwrap();
        ready.iter().filter(|b| run(&self.store, b, &self.city, &|_| None).unwrap()).count()
    }

    fn ready_work(&self) -> Vec<String> {
        let ready = self.store.ready(&ReadyQuery { unassigned: true, ..ReadyQuery::default() });
        ready.unwrap().into_iter().map(|b| b.id).collect()
    }
}

/// The newest attempt a control bead waits for, closed or not.
fn latest(store: &dyn BeadStore, control: &Bead) -> Bead {
    control
        .dependencies
        .iter()
        .filter(|d| d.dep_type == dep_type::BLOCKS)
        .map(|d| store.get(&d.depends_on_id).unwrap())
        .max_by_key(control::attempt_of)
        .unwrap()
}

#[test]
fn a_transient_failure_gets_another_attempt_and_a_pass_closes_the_step() {
    let run = Run::cook(vec![
        StepSpec { retry: retry(3), ..step("build", &[]) },
        step("ship", &["build"]),
    ]);
    let first = run.attempt("build");
    assert_eq!(run.ready_work(), [first.id.as_str()], "only the first attempt is work");
    assert_eq!(run.sweep(), 0, "the control waits for its attempt");

    run.close(
        &first.id,
        &[
            ("gc.outcome", "fail"),
            ("gc.failure_class", "transient"),
            ("gc.failure_reason", "flaky net"),
        ],
    );
    assert_eq!(run.sweep(), 1);
    let second = run.attempt("build");
    assert_ne!(second.id, first.id);
    assert_eq!(control::attempt_of(&second), 2);
    assert_eq!(second.title, first.title);
    assert_eq!(second.meta_str(control::OUTCOME), None, "a fresh attempt carries no result");
    assert_eq!(run.ready_work(), [second.id.as_str()]);
    assert!(!run.control("build").is_closed());

    run.close(&second.id, &[("gc.outcome", "pass"), ("artifact", "build-42")]);
    assert_eq!(run.sweep(), 1);
    let control = run.control("build");
    assert!(control.is_closed());
    assert_eq!(control.meta_str(control::OUTCOME), Some("pass"));
    assert_eq!(
        control.meta_str("artifact"),
        Some("build-42"),
        "the attempt's result is the step's"
    );
    let log = control.metadata[control::ATTEMPT_LOG].as_array().unwrap().clone();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0]["action"], "again");
    assert_eq!(run.ready_work(), [run.beads["ship"].id.clone()]);
}

#[test]
fn a_hard_failure_is_kept_for_a_person_and_holds_what_follows() {
    let run = Run::cook(vec![
        StepSpec { retry: retry(3), ..step("build", &[]) },
        step("ship", &["build"]),
    ]);
    run.close(
        &run.attempt("build").id,
        &[("gc.outcome", "fail"), ("gc.failure_reason", "no disk")],
    );
    assert_eq!(run.sweep(), 1);
    let control = run.control("build");
    assert_eq!(control.status, "blocked");
    assert!(control.labels.contains(&"human".to_owned()));
    assert_eq!(control.meta_str(control::FAILURE_REASON), Some("attempt 1: no disk"));
    assert!(run.ready_work().is_empty(), "ship waits: {:?}", run.ready_work());
    assert_eq!(run.sweep(), 0, "nothing more happens by itself");
}

#[test]
fn exhausted_attempts_fail_or_with_soft_fail_let_the_workflow_go_on() {
    let soft = RetrySpec { max_attempts: 1, on_exhausted: OnExhausted::SoftFail };
    let run = Run::cook(vec![
        StepSpec { retry: Some(soft), ..step("lint", &[]) },
        step("ship", &["lint"]),
    ]);
    run.close(
        &run.attempt("lint").id,
        &[("gc.outcome", "fail"), ("gc.failure_class", "transient")],
    );
    assert_eq!(run.sweep(), 1);
    let control = run.control("lint");
    assert!(control.is_closed());
    assert_eq!(control.meta_str(control::FINAL_DISPOSITION), Some("soft_fail"));
    assert_eq!(run.ready_work(), [run.beads["ship"].id.clone()]);
}

#[test]
fn ralph_runs_its_check_after_each_iteration_and_again_while_it_fails() {
    let ralph = RalphSpec {
        max_attempts: 3,
        check: RalphCheck { mode: CheckMode::Exec, path: "check.sh".into(), timeout: None },
    };
    let run = Run::cook(vec![StepSpec { ralph: Some(ralph), ..step("write", &[]) }]);
    // Passes from the second iteration on, and sees which bead it checks.
    let script = run.city.join("check.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho \"$GC_BEAD_ID $GC_ITERATION\" >> checked.log\n[ \"$GC_ITERATION\" -ge 2 ] || { echo not yet >&2; exit 1; }\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();

    run.close(&run.attempt("write").id, &[]);
    assert_eq!(run.sweep(), 1);
    let second = run.attempt("write");
    assert_eq!(control::attempt_of(&second), 2);
    let log = run.control("write").metadata[control::ATTEMPT_LOG].clone();
    assert_eq!(log[0]["result"], "check failed: exit 1: not yet", "{log}");
    run.close(&second.id, &[]);
    assert_eq!(run.sweep(), 1);
    assert_eq!(run.control("write").meta_str(control::OUTCOME), Some("pass"));
    let checked = std::fs::read_to_string(run.city.join("checked.log")).unwrap();
    let id = &run.beads["write"].id;
    assert_eq!(checked, format!("{id} 1\n{id} 2\n"));
}

#[test]
fn a_failed_member_aborts_its_scope_then_the_body_fails_and_the_teardown_runs() {
    let member = |id: &str, needs: &[&str], role: &str| {
        let mut s = StepSpec { retry: retry(1), ..step(id, needs) };
        s.metadata = BTreeMap::from([
            ("gc.scope_ref".to_owned(), "body".to_owned()),
            ("gc.scope_role".to_owned(), role.to_owned()),
            ("gc.on_fail".to_owned(), "abort_scope".to_owned()),
        ]);
        s
    };
    let mut body = step("body", &["setup", "work"]);
    body.metadata = BTreeMap::from([
        ("gc.kind".to_owned(), "scope".to_owned()),
        ("gc.scope_role".to_owned(), "body".to_owned()),
    ]);
    let mut teardown = step("teardown", &["body"]);
    teardown.metadata = BTreeMap::from([
        ("gc.scope_ref".to_owned(), "body".to_owned()),
        ("gc.scope_role".to_owned(), "teardown".to_owned()),
    ]);
    let run = Run::cook(vec![
        member("setup", &[], "setup"),
        member("work", &["setup"], "member"),
        body,
        teardown,
    ]);
    assert_eq!(run.get(&run.beads["body"].id).assignee, CONTROLLER, "the body is no agent's work");

    run.close(
        &run.attempt("setup").id,
        &[("gc.outcome", "fail"), ("gc.failure_reason", "no worktree")],
    );
    assert_eq!(run.sweep(), 1);
    assert_eq!(run.control("setup").meta_str(control::OUTCOME), Some("fail"));
    let work = run.control("work");
    assert!(work.is_closed());
    assert_eq!(work.meta_str(control::OUTCOME), Some("skipped"));
    assert!(run.attempt("work").is_closed(), "the skipped member's attempt goes too");
    // The body closes, failed, at the next sweep; the teardown is then work.
    assert_eq!(run.sweep(), 1);
    let body = run.get(&run.beads["body"].id);
    assert_eq!((body.is_closed(), body.meta_str(control::OUTCOME)), (true, Some("fail")));
    assert_eq!(run.ready_work(), [run.beads["teardown"].id.clone()]);
}

#[test]
fn a_fanout_makes_the_expansion_once_per_item_of_the_output_then_closes_when_they_are_done() {
    use crate::api::formula::{FormulaType, OnComplete};
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("beads.db"), "gc").unwrap();
    let per_item = FormulaSpec {
        formula_type: FormulaType::Expansion,
        template: vec![
            StepSpec { id: "{target}.do".into(), title: "Do {name}".into(), ..StepSpec::default() },
            StepSpec {
                id: "{target}.check".into(),
                title: "Check {name}".into(),
                needs: vec!["{target}.do".into()],
                ..StepSpec::default()
            },
        ],
        ..FormulaSpec::default()
    };
    let plan = StepSpec {
        on_complete: Some(OnComplete {
            for_each: "output.items".into(),
            bond: "per-item".into(),
            vars: BTreeMap::from([("name".to_owned(), "{item.name} #{index}".to_owned())]),
            sequential: true,
        }),
        ..step("plan", &[])
    };
    let spec = FormulaSpec { steps: vec![plan], ..FormulaSpec::default() };
    let all = BTreeMap::from([("flow", &spec), ("per-item", &per_item)]);
    let lookup = |n: &str| all.get(n).copied();
    let formula = compile("flow", &lookup).unwrap();
    let request = CookRequest { actor: "mayor".into(), ..CookRequest::default() };
    let (_, made, _) = cook(&store, &formula, &request).unwrap();
    let plan = made.iter().find(|b| b.meta_str(crate::formula::STEP) == Some("plan")).unwrap();
    assert_eq!(plan.metadata[control::OUTPUT_REQUIRED], true);
    let sweep = || -> usize {
        let ready = ready_controls(&store).unwrap();
        ready.iter().filter(|b| run(&store, b, dir.path(), &lookup).unwrap()).count()
    };
    assert_eq!(sweep(), 0, "the fan-out waits for its step");

    let mut meta = Map::new();
    meta.insert(
        control::OUTPUT_JSON.into(),
        json!(r#"{"items":[{"name":"alpha"},{"name":"beta"}]}"#),
    );
    store.set_metadata(&plan.id, meta, "worker").unwrap();
    store.close(&plan.id, None, "worker").unwrap();
    assert_eq!(sweep(), 1);
    let query = ReadyQuery { unassigned: true, ..ReadyQuery::default() };
    let titles = |beads: Vec<Bead>| beads.into_iter().map(|b| b.title).collect::<Vec<_>>();
    // Sequential: only the first item's first step is work.
    assert_eq!(titles(store.ready(&query).unwrap()), ["Do alpha #0"]);
    assert_eq!(sweep(), 0, "the fan-out waits for what it made");
    for _ in 0..4 {
        let next = store.ready(&query).unwrap().remove(0);
        store.close(&next.id, None, "worker").unwrap();
    }
    assert_eq!(sweep(), 1);
    let fan = store
        .list(&crate::beads::ListQuery {
            all: true,
            assignee: Some(CONTROLLER.into()),
            ..Default::default()
        })
        .unwrap()
        .remove(0);
    assert!(fan.is_closed());
    assert_eq!(fan.meta_str(control::OUTCOME), Some("pass"));
}

#[test]
fn fanout_values_fill_items_fields_and_indexes() {
    let item = json!({"name": "alpha", "meta": {"size": 3}});
    assert_eq!(control::item_value("{item.name}#{index}", 2, &item), "alpha#2");
    assert_eq!(control::item_value("{item.meta.size}{item.missing}", 0, &item), "3");
    assert_eq!(control::item_value("{item}", 0, &json!("plain")), "plain");
    assert_eq!(
        control::items(&json!({"a": {"b": [1, 2]}}), "output.a.b"),
        Some(vec![json!(1), json!(2)])
    );
    assert_eq!(control::items(&json!({"a": 1}), "output.a"), None);
}

#[test]
fn a_molecule_whose_last_step_is_a_control_bead_closes_with_it() {
    let run = Run::cook(vec![StepSpec { retry: retry(2), ..step("only", &[]) }]);
    let root = run
        .control("only")
        .dependencies
        .iter()
        .find(|d| d.dep_type == dep_type::PARENT_CHILD)
        .unwrap()
        .depends_on_id
        .clone();
    run.close(&run.attempt("only").id, &[]);
    assert_eq!(run.sweep(), 1);
    assert!(run.get(&root).is_closed(), "the molecule closes with its last step");
}
