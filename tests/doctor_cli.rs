//! `gc doctor` on real cities: a healthy sample city passes; a Provider whose CLI is missing, a
//! world-writable `.gc/` and a session no agent owns are each found with how to fix them, and
//! `--fix` fixes what is safe to fix.

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
    let (code, checks) = doctor(&city, &[]);
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
    assert_eq!(std::fs::metadata(&gc_dir).unwrap().permissions().mode() & 0o002, 0);
    assert!(!city.tmux(&["has-session", "-t", ghost]).status.success(), "the orphan is stopped");

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
