use serde_json::json;

use super::*;
use crate::beads::Dependency;

fn bead(id: &str, state: &str, deps: &[(&str, &str)]) -> Bead {
    Bead {
        id: id.into(),
        title: id.into(),
        status: state.into(),
        dependencies: deps
            .iter()
            .map(|(on, kind)| Dependency {
                issue_id: id.into(),
                depends_on_id: (*on).into(),
                dep_type: (*kind).into(),
                ..Dependency::default()
            })
            .collect(),
        ..Bead::default()
    }
}

fn held(all: &[Bead]) -> Vec<(String, Vec<String>)> {
    blocked(all).into_iter().collect()
}

#[test]
fn an_open_blocker_holds_and_a_closed_one_does_not() {
    let all = [
        bead("a", "open", &[]),
        bead("b", "open", &[("a", "blocks")]),
        bead("c", "closed", &[]),
        bead("d", "open", &[("c", "blocks")]),
        bead("e", "closed", &[("a", "blocks")]),
    ];
    assert_eq!(held(&all), [("b".to_owned(), vec!["a".to_owned()])]);
}

#[test]
fn children_of_a_blocked_bead_are_held_by_it_however_deep() {
    let all = [
        bead("a", "open", &[]),
        bead("m", "open", &[("a", "blocks")]),
        bead("m.1", "open", &[("m", "parent-child")]),
        bead("m.1.1", "in_progress", &[("m.1", "parent-child")]),
        bead("m.2", "closed", &[("m", "parent-child")]),
    ];
    let got = held(&all);
    let names: Vec<&str> = got.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(names, ["m", "m.1", "m.1.1"]);
    assert_eq!(got[2].1, ["m.1"]);
}

#[test]
fn waits_for_holds_until_all_or_any_children_are_done() {
    let mut all = vec![
        bead("s", "open", &[]),
        bead("s.1", "closed", &[("s", "parent-child")]),
        bead("s.2", "open", &[("s", "parent-child")]),
        bead("all", "open", &[("s", "waits-for")]),
        bead("any", "open", &[("s", "waits-for")]),
    ];
    all[4].dependencies[0].metadata = Some(json!(r#"{"gate":"any-children"}"#));
    assert_eq!(held(&all), [("all".to_owned(), vec!["s".to_owned()])]);
    all[1].status = "open".into();
    assert_eq!(held(&all).len(), 2, "no child closed: both wait");
}

#[test]
fn until_takes_a_duration_from_now_or_a_time() {
    let now = DateTime::parse_from_rfc3339("2026-12-06T10:00:00Z").unwrap().to_utc();
    assert_eq!(until("2h", now).unwrap(), "2026-12-06T12:00:00Z");
    assert_eq!(until("+1d", now).unwrap(), "2026-12-07T10:00:00Z");
    assert_eq!(until("2026-12-24T08:00:00Z", now).unwrap(), "2026-12-24T08:00:00Z");
    assert!(until("tomorrowish", now).unwrap_err().contains("--until `tomorrowish`"));
}
