//! `gc doctor` on real cities: a healthy sample city passes; a Provider whose CLI is missing, a
//! world-writable `.gc/`, a session no agent owns, a process that outlived its session and a
//! bead store of an older schema are each found with how to fix them, and `--fix` fixes what is
//! safe to fix.

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

#[path = "common/sample.rs"]
mod sample;
#[path = "common/tmux.rs"]
mod tmux_city;
use sample::sample_city;

fn doctor(city: &tmux_city::TmuxCity, extra: &[&str]) -> (Option<i32>, Vec<Value>) {
    let out = city.gc().args(["doctor", "-o", "json"]).args(extra).output().unwrap();
    let checks: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), checks.as_array().unwrap().clone())
}

fn named<'a>(checks: &'a [Value], name: &str) -> &'a Value {
    checks
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {checks:#?}"))
}

#[test]
fn doctor_finds_what_breaks_a_city_and_fixes_what_is_safe() {
    let city = sample_city("gcd", "doctortown");
    city.run(&["apply"]);
    let (code, checks) = doctor(&city, &[]);
    assert_eq!(code, Some(0), "{checks:#?}");
    for name in
        ["tmux", "provider/sample-agent", "beads/city", "sessions", "controller", ".gc", "disk"]
    {
        assert_ne!(named(&checks, name)["level"], "fail", "{checks:#?}");
    }
    let text = String::from_utf8(city.gc().arg("doctor").output().unwrap().stdout).unwrap();
    assert!(
        text.lines().all(|l| l.starts_with("ok") || l.starts_with("warn") || l.starts_with("  ")),
        "{text}"
    );

    // A session on the city's socket that no agent owns, and a world-writable .gc/.
    let ghost = "gc-doctortown-ghost-1";
    let out = city.tmux(&["new-session", "-d", "-s", ghost, "sleep 600"]);
    assert!(out.status.success());
    let gc_dir = city.path().join(".gc");
    std::fs::set_permissions(&gc_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    // A bead store of an older schema (as an older gc left it).
    let db = city.path().join(".gc/beads/beads.db");
    let schema = || -> i64 {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap()
    };
    let current = schema();
    rusqlite::Connection::open(&db).unwrap().execute_batch("PRAGMA user_version = 0").unwrap();
    let (code, checks) = doctor(&city, &[]);
    assert_eq!(named(&checks, "beads/city")["level"], "warn", "{checks:#?}");
    assert_eq!(schema(), 0, "doctor does not upgrade without --fix");
    assert_eq!(code, Some(1), "a world-writable .gc fails");
    assert_eq!(named(&checks, ".gc")["level"], "fail");
    let sessions = named(&checks, "sessions");
    assert_eq!(sessions["level"], "warn");
    assert!(sessions["message"].as_str().unwrap().contains(ghost), "{sessions}");
    assert!(city.tmux(&["has-session", "-t", ghost]).status.success(), "doctor reads only");

    let (code, checks) = doctor(&city, &["--fix"]);
    assert_eq!(code, Some(0), "{checks:#?}");
    assert_eq!(named(&checks, ".gc")["fixed"], true);
    assert_eq!(named(&checks, "sessions")["fixed"], true);
    assert_eq!(named(&checks, "beads/city")["fixed"], true);
    assert_eq!(schema(), current, "--fix upgrades the store");
    assert_eq!(std::fs::metadata(&gc_dir).unwrap().permissions().mode() & 0o002, 0);
    assert!(!city.tmux(&["has-session", "-t", ghost]).status.success(), "the orphan is stopped");

    // A process started for a session that is gone (its own process group, as a CLI's helper
    // would be) is found, left alone without --fix, and stopped with it.
    let mut stray = Stray::spawn(&city.path(), "gc-doctortown-gone");
    let found = |checks: &[Value]| {
        let processes = named(checks, "processes");
        processes["message"].as_str().unwrap().contains(&stray.child.id().to_string())
    };
    tmux_city::wait_until(
        "doctor to see the stray process",
        std::time::Duration::from_secs(10),
        || found(&doctor(&city, &[]).1),
    );
    let (_, checks) = doctor(&city, &[]);
    assert_eq!(named(&checks, "processes")["level"], "warn");
    assert!(stray.running(), "doctor reads only");
    let (_, checks) = doctor(&city, &["--fix"]);
    assert_eq!(named(&checks, "processes")["fixed"], true, "{checks:#?}");
    assert!(!stray.running(), "--fix stops it");

    // A Provider whose CLI is not installed fails, with the Provider's install hint.
    let provider =
        std::fs::read_to_string(city.path().join("providers/sample-agent.yaml")).unwrap();
    let broken = provider.replace("command: scripts/sample-agent.sh", "command: no-such-agent-cli");
    assert_ne!(broken, provider, "the sample Provider changed shape");
    city.write(
        "providers/sample-agent.yaml",
        &format!("{broken}  install: npm install -g no-such-agent-cli\n"),
    );
    city.run(&["apply"]);
    let (code, checks) = doctor(&city, &[]);
    assert_eq!(code, Some(1));
    let missing = named(&checks, "provider/sample-agent");
    assert_eq!(missing["level"], "fail");
    assert_eq!(missing["fix"], "npm install -g no-such-agent-cli");
}

/// A `sleep` in its own session and process group with a city session's environment; killed
/// when dropped.
struct Stray {
    child: std::process::Child,
}

impl Stray {
    fn spawn(city: &std::path::Path, session: &str) -> Stray {
        let child = std::process::Command::new("setsid")
            .args(["sleep", "600"])
            .env("GC_CITY", city)
            .env("GC_SESSION", session)
            .spawn()
            .unwrap();
        Stray { child }
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Stray {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
