use super::*;

#[test]
fn globs_match_within_and_across_path_parts_and_never_leave_the_directory() {
    let one = glob_regex("projects/*/*.jsonl").unwrap();
    assert!(one.is_match("projects/-tmp-x/abc.jsonl"));
    assert!(!one.is_match("projects/a/b/abc.jsonl"));
    assert!(!one.is_match("history.jsonl"));
    let deep = glob_regex("sessions/**/rollout-*.jsonl").unwrap();
    assert!(deep.is_match("sessions/2026/12/06/rollout-x.jsonl"));
    assert!(deep.is_match("sessions/rollout-x.jsonl"));
    assert!(glob_regex("../x/*.jsonl").is_none());
    assert!(glob_regex("/etc/*").is_none());
    assert!(
        glob_regex("a.b").unwrap().is_match("a.b") && !glob_regex("a.b").unwrap().is_match("axb")
    );
}
