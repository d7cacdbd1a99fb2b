//! The standalone example script of the exec bead store protocol
//! (`docs/examples/exec-store.py`) works with gc's exec backend for the ops it implements, and
//! the ones it leaves out are reported as unsupported.

use gascity::beads::exec::ExecStore;
use gascity::beads::{BeadError, BeadStore, Dependency, NewBead, ReadyQuery};

fn python() -> bool {
    std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn the_example_script_creates_claims_and_closes() {
    if !python() {
        eprintln!("SKIPPED: python3 is not installed, so the example exec store cannot run");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/examples/exec-store.py");
    let command = format!("python3 {}", shlex::try_quote(script).unwrap());
    let store = ExecStore::new(&command, dir.path(), "ex").unwrap();

    let new =
        NewBead { title: "Fix the parser".into(), labels: vec!["p".into()], ..NewBead::default() };
    let bead = store.create(new, "mayor").unwrap();
    assert!(bead.id.starts_with("ex-"), "{}", bead.id);
    assert_eq!(store.get(&bead.id).unwrap(), bead);
    assert_eq!(store.ready(&ReadyQuery::default()).unwrap(), std::slice::from_ref(&bead));

    let claimed = store.claim(&bead.id, "worker-1").unwrap();
    assert_eq!((claimed.status.as_str(), claimed.assignee.as_str()), ("in_progress", "worker-1"));
    match store.claim(&bead.id, "worker-2") {
        Err(BeadError::AlreadyClaimed { by, .. }) => assert_eq!(by, "worker-1"),
        other => panic!("expected AlreadyClaimed, got {other:?}"),
    }
    assert!(matches!(store.get("ex-nope"), Err(BeadError::NotFound(id)) if id == "ex-nope"));
    let closed = store.close(&bead.id, Some("done"), "worker-1").unwrap();
    assert!(closed.closed_at.is_some());

    let dep = Dependency {
        issue_id: bead.id.clone(),
        depends_on_id: "x".into(),
        dep_type: "blocks".into(),
        ..Dependency::default()
    };
    let err = store.dep_add(&dep, "mayor").unwrap_err().to_string();
    assert!(err.contains("the exec store script does not support dep-add"), "{err}");
}
