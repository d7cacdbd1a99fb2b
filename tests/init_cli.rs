//! `gc init` end to end: a new city from the sample that validates, with its name; never over
//! an existing city.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::str::contains;

fn gc(cwd: &Path) -> Command {
    let mut cmd = Command::cargo_bin("gc").unwrap();
    cmd.current_dir(cwd).env_remove("GC_CITY").env("NO_COLOR", "1");
    cmd
}

/// Every file below `dir` with its contents.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out: Vec<_> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().to_path_buf(), std::fs::read(e.path()).unwrap()))
        .collect();
    out.sort();
    out
}

#[test]
fn init_writes_a_valid_city_with_the_name_asked_for() {
    let tmp = tempfile::tempdir().unwrap();
    gc(tmp.path())
        .args(["init", "town", "--name", "springfield"])
        .assert()
        .success()
        .stdout(contains("Created city `springfield` in town"))
        .stdout(contains("agents/worker.yaml"))
        .stdout(contains("cd town && gc apply && gc start"));
    let city = tmp.path().join("town");
    gc(&city).arg("validate").assert().success();
    let text = std::fs::read_to_string(city.join("city.yaml")).unwrap();
    assert!(text.contains("kind: City\nmetadata:\n  name: springfield\n"), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(city.join("scripts/sample-agent.sh")).unwrap().permissions();
        assert_eq!(mode.mode() & 0o777, 0o755);
        let mode = std::fs::metadata(city.join("city.yaml")).unwrap().permissions();
        assert_eq!(mode.mode() & 0o111, 0);
    }
    // Applies, and the City's name is the one asked for.
    gc(&city).arg("apply").assert().success().stdout(contains("city/springfield created"));
}

#[test]
fn init_defaults_to_the_current_directory_and_its_name() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("My_Team City");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("NOTES.txt"), "kept").unwrap();
    gc(&dir).arg("init").assert().success().stdout(contains("gc apply && gc start"));
    let text = std::fs::read_to_string(dir.join("city.yaml")).unwrap();
    assert!(text.contains("  name: my-team-city\n"), "{text}");
    assert_eq!(std::fs::read_to_string(dir.join("NOTES.txt")).unwrap(), "kept");
    gc(&dir).arg("validate").assert().success();
}

#[test]
fn init_into_an_existing_city_is_refused_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("city.toml"), "# mine").unwrap();
    let before = snapshot(dir);
    gc(dir)
        .arg("init")
        .assert()
        .code(2)
        .stderr(contains("already holds a city (city.toml exists)"));
    assert_eq!(snapshot(dir), before);

    let other = tmp.path().join("other");
    std::fs::create_dir_all(other.join(".gc")).unwrap();
    gc(dir).args(["init", "other"]).assert().code(2).stderr(contains(".gc exists"));
    assert_eq!(std::fs::read_dir(&other).unwrap().count(), 1);

    // Not a city, but a file init would write is there.
    let third = tmp.path().join("third");
    std::fs::create_dir_all(third.join("agents")).unwrap();
    std::fs::write(third.join("agents/worker.yaml"), "mine").unwrap();
    let before = snapshot(&third);
    gc(dir)
        .args(["init", "third"])
        .assert()
        .code(2)
        .stderr(contains("would overwrite agents/worker.yaml"));
    assert_eq!(snapshot(&third), before);
}

#[test]
fn a_bad_name_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for bad in ["Town", "-town", "to_wn", ""] {
        gc(tmp.path())
            .args(["init", "x", &format!("--name={bad}")])
            .assert()
            .code(2)
            .stderr(contains(format!("--name `{bad}` is not a valid city name")));
    }
    assert!(!tmp.path().join("x").exists());
}
