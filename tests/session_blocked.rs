//! A session stopped at a screen nothing declares: gc does not guess. Past the startup
//! timeout, once the screen stops changing, the session is `Blocked` — its screen in the
//! status and in one `session.blocked` event, not restarted, not counted as a crash, never
//! quarantined — and it leaves `Blocked` by itself once a person answered it and it shows
//! ready. A declared dialog on the same CLI is answered by moving to the option first.

#[path = "common/tmux.rs"]
mod tmux_city;

use std::time::Duration;

use tmux_city::{ASKS_FIRST, TmuxCity, wait_until};

fn city(dialogs: &str) -> TmuxCity {
    let city = TmuxCity::new("blocked");
    city.write(
        "city.yaml",
        &format!(
            "apiVersion: gascity.dev/v1alpha1\nkind: City\nmetadata:\n  name: town\nspec:\n  \
             defaultProvider: asks\n  session:\n    socket: {}\n    startupTimeout: 2s\n---\n\
             apiVersion: gascity.dev/v1alpha1\nkind: Provider\nmetadata:\n  name: asks\nspec:\n  \
             command: scripts/asks.sh\n  readyPromptPrefix: \"ready> \"\n{dialogs}---\n\
             apiVersion: gascity.dev/v1alpha1\nkind: Agent\nmetadata:\n  name: solo\nspec: {{}}\n",
            city.socket
        ),
    );
    city.write_script("scripts/asks.sh", ASKS_FIRST);
    city
}

fn phase(city: &TmuxCity) -> String {
    city.status("agents", "solo")["phase"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn an_undeclared_screen_blocks_the_session_until_a_person_answers_it() {
    let city = city("");
    city.run(&["apply"]);
    // `gc start` does not wait out its timeout for what only a person can answer: it returns
    // and shows the screen.
    let started = city.run(&["start", "--timeout", "60s"]);
    let shown = String::from_utf8_lossy(&started.stdout);
    assert!(shown.contains("agent/solo is Blocked") && shown.contains("│ > fast"), "{shown}");
    assert_eq!(phase(&city), "Blocked");
    let status = city.status("agents", "solo");
    assert_eq!(status["sessions"][0]["phase"], "blocked", "{status}");
    assert!(status["sessions"][0]["screen"].as_str().unwrap().contains("Pick a mode"));
    let condition = &status["conditions"][0];
    assert_eq!(condition["reason"], "SessionBlocked");
    assert!(condition["message"].as_str().unwrap().contains("gc session attach gc-town-solo"));
    let blocked = city.events("session.blocked");
    assert_eq!(blocked.len(), 1);
    assert!(blocked[0]["payload"]["screen"].as_str().unwrap().contains("> fast"));

    // It stays so: no restart, no crash, no quarantine.
    let pid = status["sessions"][0]["pid"].clone();
    std::thread::sleep(Duration::from_secs(3)); // nothing to wait for: checking that nothing happens
    let later = city.status("agents", "solo");
    assert_eq!(later["phase"], "Blocked");
    assert_eq!(later["sessions"][0]["pid"], pid, "the session was not replaced");
    assert_eq!(later["restarts"], 0);
    assert!(city.events("session.crashed").is_empty());
    assert!(city.events("session.quarantined").is_empty());
    assert_eq!(city.events("session.blocked").len(), 1, "reported once");

    // A person answers (as through `gc session attach`): it leaves Blocked by itself.
    city.tmux(&["send-keys", "-t", "=gc-town-solo:", "Enter"]);
    wait_until("the session Running", Duration::from_secs(30), || phase(&city) == "Running");
    let status = city.status("agents", "solo");
    assert_eq!(status["sessions"][0]["phase"], "running");
    assert!(status["sessions"][0].get("screen").is_none());
    city.run(&["stop"]);
}

#[test]
fn a_declared_dialog_is_answered_by_moving_to_the_option_first() {
    let city = city(
        "  dialogs:\n  - name: mode\n    matches: Pick a mode for this run\n    choose: careful\n",
    );
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "30s"]);
    assert_eq!(phase(&city), "Running");
    let screen = city.tmux(&["capture-pane", "-p", "-t", "=gc-town-solo:"]);
    let screen = String::from_utf8_lossy(&screen.stdout);
    assert!(screen.contains("mode careful"), "Enter came before the cursor moved:\n{screen}");
    let answered = city.events("session.dialog");
    assert_eq!(answered.len(), 1);
    assert_eq!(answered[0]["payload"]["choice"], "careful");
    assert!(city.events("session.blocked").is_empty());
    city.run(&["stop"]);
}
