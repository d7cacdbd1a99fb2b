//! The pre-commit hook a city's repository adds in three lines (`.pre-commit-hooks.yaml` at
//! this repository's root), run by the real pre-commit (PyPI, pinned; `scripts/test.sh`
//! installs it and sets `GC_TEST_PRE_COMMIT`): a valid city passes, a broken file fails with
//! its `file:line`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

fn pre_commit() -> Option<PathBuf> {
    let found = std::env::var_os("GC_TEST_PRE_COMMIT").map(PathBuf::from);
    if found.is_none() && std::env::var("GC_TEST_REQUIRE_PRE_COMMIT").as_deref() == Ok("1") {
        panic!("GC_TEST_REQUIRE_PRE_COMMIT=1 but GC_TEST_PRE_COMMIT is not set");
    }
    found
}

fn git(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new("git").args(args).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

#[test]
fn a_city_repository_validates_with_the_real_pre_commit() {
    let Some(pre_commit) = pre_commit() else {
        eprintln!("skipped: set GC_TEST_PRE_COMMIT to a pre-commit executable");
        return;
    };
    let this_repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rev = String::from_utf8(git(this_repo, &["rev-parse", "HEAD"]).stdout).unwrap();

    let city = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    git(city.path(), &["init", "-q"]);
    std::fs::write(city.path().join("city.yaml"), common::CITY).unwrap();
    std::fs::create_dir_all(city.path().join("agents")).unwrap();
    let agent =
        "apiVersion: gascity.dev/v1alpha1\nkind: Agent\nmetadata:\n  name: worker\nspec: {}\n";
    std::fs::write(city.path().join("agents/worker.yaml"), agent).unwrap();
    // The three lines of the README, with this checkout as the repository.
    let config = format!(
        "repos:\n  - repo: {}\n    rev: {}\n    hooks:\n      - id: gc-validate-system\n",
        this_repo.display(),
        rev.trim()
    );
    std::fs::write(city.path().join(".pre-commit-config.yaml"), config).unwrap();
    git(city.path(), &["add", "-A"]);

    let gc = assert_cmd::cargo::cargo_bin("gc");
    let path =
        format!("{}:{}", gc.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let run = || {
        Command::new(&pre_commit)
            .args(["run", "--all-files", "--color", "never"])
            .current_dir(city.path())
            .env("PATH", &path)
            .env("PRE_COMMIT_HOME", cache.path())
            .env_remove("GC_CITY")
            .output()
            .unwrap()
    };
    let out = run();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("gc validate (installed gc)") && text.contains("Passed"), "{text}");

    std::fs::write(city.path().join("agents/worker.yaml"), format!("{agent}  colour: blue\n"))
        .unwrap();
    git(city.path(), &["add", "-A"]);
    let out = run();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "a broken city must fail the hook: {text}");
    assert!(text.contains("Failed"), "{text}");
    assert!(text.contains("agents/worker.yaml:6"), "the finding names the file and line: {text}");
}
