//! `gc session reset` end to end on an applied sample city, without a controller or tmux: the
//! crash-loop ledger is written in its documented on-disk format, reset, and read back.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use assert_cmd::Command;
use predicates::str::contains;

fn gc(cwd: &Path) -> Command {
    let mut cmd = Command::cargo_bin("gc").unwrap();
    cmd.current_dir(cwd).env_remove("GC_CITY").env("NO_COLOR", "1");
    cmd
}

/// The sample city `x` (agents mayor, reviewer and the worker pool), applied.
fn city() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    gc(tmp.path()).args(["init", "city", "--name", "x"]).assert().success();
    let dir = tmp.path().join("city");
    gc(&dir).arg("apply").assert().success();
    (tmp, dir)
}

fn ledger_dir(city: &Path) -> PathBuf {
    city.join(".gc/state/crashloop")
}

fn ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

fn write_record(city: &Path, session: &str, json: &str) {
    std::fs::create_dir_all(ledger_dir(city)).unwrap();
    std::fs::write(ledger_dir(city).join(format!("{session}.json")), json).unwrap();
}

#[test]
fn reset_of_a_pool_agent_lifts_its_quarantines_and_clears_restart_counts() {
    let (_tmp, city) = city();
    let now = SystemTime::now();
    let started = now - Duration::from_secs(60);
    let until = now + Duration::from_secs(3600);
    let restarts: Vec<String> = (0..5).map(|i| (ms(started) + i * 1000).to_string()).collect();
    write_record(
        &city,
        "gc-x-worker-1",
        &format!(
            r#"{{"restarts": [{}], "quarantinedUntil": {}, "quarantinedAt": {}, "quarantineReason": "5 restarts within 1h"}}"#,
            restarts.join(", "),
            ms(until),
            ms(started) + 5000
        ),
    );
    write_record(
        &city,
        "gc-x-worker-2",
        &format!(r#"{{"restarts": [{}, {}]}}"#, ms(started), ms(now)),
    );
    write_record(&city, "gc-x-mayor", &format!(r#"{{"restarts": [{}]}}"#, ms(now)));

    let until = chrono::DateTime::<chrono::Utc>::from(until);
    let clock = if until.date_naive() == chrono::DateTime::<chrono::Utc>::from(now).date_naive() {
        until.format("%H:%M:%SZ").to_string()
    } else {
        until.format("%Y-%m-%d %H:%M:%SZ").to_string()
    };
    gc(&city)
        .args(["session", "reset", "worker"])
        .assert()
        .success()
        .stdout(contains(format!(
            "gc-x-worker-1: quarantine lifted (was: 5 restarts within 1h, until {clock}); \
             restart count cleared\n"
        )))
        .stdout(contains("gc-x-worker-2: not quarantined; restart count (2) cleared\n"));
    assert!(!ledger_dir(&city).join("gc-x-worker-1.json").exists());
    assert!(!ledger_dir(&city).join("gc-x-worker-2.json").exists());
    assert!(ledger_dir(&city).join("gc-x-mayor.json").exists(), "other agents are untouched");

    gc(&city)
        .args(["session", "reset", "worker"])
        .assert()
        .success()
        .stdout("worker: nothing to reset\n");
}

#[test]
fn reset_takes_an_agent_or_a_session_name() {
    let (_tmp, city) = city();
    write_record(&city, "gc-x-mayor", &format!(r#"{{"restarts": [{}]}}"#, ms(SystemTime::now())));
    gc(&city)
        .args(["session", "reset", "mayor"])
        .assert()
        .success()
        .stdout("gc-x-mayor: not quarantined; restart count (1) cleared\n");
    gc(&city)
        .args(["session", "reset", "gc-x-mayor"])
        .assert()
        .success()
        .stdout("gc-x-mayor: nothing to reset\n");
    gc(&city)
        .args(["session", "reset", "gc-x-worker-3"])
        .assert()
        .success()
        .stdout("gc-x-worker-3: nothing to reset\n");
}

#[test]
fn reset_of_an_unknown_name_fails_and_names_the_agents() {
    let (_tmp, city) = city();
    for name in ["nobody", "../escape"] {
        gc(&city)
            .args(["session", "reset", name])
            .assert()
            .code(2)
            .stderr(contains(format!("no agent or session `{name}`")))
            .stderr(contains("agents: mayor, reviewer, worker"));
    }
    assert!(!ledger_dir(&city).exists(), "nothing was written");
}
