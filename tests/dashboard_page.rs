//! The dashboard's page in a real headless Chromium (through chromedriver): it shows the
//! city's agents and sessions, a session's live screen on click, the events feed, and a
//! Blocked session a person answers from the page (keys typed into the session). Saves a
//! screenshot to `target/dashboard.png`.

use std::time::Duration;

#[path = "common/tmux.rs"]
mod tmux_city;
use tmux_city::{ASKS_FIRST, TmuxCity, wait_until};
#[path = "common/dashboard.rs"]
mod dashboard;
use dashboard::Dashboard;
#[path = "common/webdriver.rs"]
mod webdriver;
use webdriver::Browser;

const CHATTY: &str = r#"#!/usr/bin/env bash
echo "chatty is up"
while true; do printf 'ready> '; IFS= read -r line || exit 0; echo "heard $line"; done
"#;

const LONG: Duration = Duration::from_secs(30);

#[test]
fn the_page_shows_the_city_live_and_answers_a_blocked_session() {
    let city = TmuxCity::new("page");
    city.write(
        "city.yaml",
        &format!(
            "apiVersion: gascity.dev/v1alpha1\nkind: City\nmetadata:\n  name: town\nspec:\n  \
             defaultProvider: chatty\n  session:\n    socket: {}\n    startupTimeout: 2s\n---\n\
             apiVersion: gascity.dev/v1alpha1\nkind: Provider\nmetadata:\n  name: asks\nspec:\n  \
             command: scripts/asks.sh\n  readyPromptPrefix: \"ready> \"\n---\n\
             apiVersion: gascity.dev/v1alpha1\nkind: Provider\nmetadata:\n  name: chatty\nspec:\n  \
             command: scripts/chatty.sh\n  readyPromptPrefix: \"ready> \"\n---\n\
             apiVersion: gascity.dev/v1alpha1\nkind: Agent\nmetadata:\n  name: asker\nspec:\n  \
             provider: asks\n---\n\
             apiVersion: gascity.dev/v1alpha1\nkind: Agent\nmetadata:\n  name: mayor\nspec: {{}}\n",
            city.socket
        ),
    );
    city.write_script("scripts/asks.sh", ASKS_FIRST);
    city.write_script("scripts/chatty.sh", CHATTY);
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "60s"]);
    wait_until("asker to be Blocked", LONG, || {
        city.status("agents", "asker")["phase"] == "Blocked"
    });
    let dash = Dashboard::start(&city, "127.0.0.1:0");
    let browser = Browser::start();
    browser.open(&dash.url());

    // The agents and their phases, the sessions, the events feed.
    let agents = browser.wait_for_text("#agents", "mayor", LONG);
    assert!(agents.contains("Blocked") && agents.contains("Running"), "{agents}");
    browser.wait_for_text("#sessions", "gc-town-mayor", LONG);
    browser.wait_for_text("#live", "live", LONG);
    browser.wait_for_text("#events", "session.started", LONG);
    // A session's screen on click.
    browser.click("tr.session[data-session='gc-town-mayor']");
    browser.wait_for_text("#screen-text", "chatty is up", LONG);
    // A new event reaches the open page through the stream.
    city.run(&["session", "nudge", "mayor", "--delivery", "immediate", "from the cli"]);
    browser.wait_for_text("#events", "nudge.sent", LONG);

    // The Blocked session, its screen, answered from the page: Down, then Enter.
    let blocked = browser.wait_for_text("#blocked", "Pick a mode", LONG);
    assert!(blocked.contains("gc-town-asker"), "{blocked}");
    std::fs::create_dir_all("target").unwrap();
    std::fs::write("target/dashboard.png", browser.screenshot()).unwrap();
    browser.click("#blocked [data-session='gc-town-asker'] button[data-key='down']");
    wait_until("the dialog to move to careful", LONG, || {
        peek(&city, "asker").contains("> careful")
    });
    browser.click("#blocked [data-session='gc-town-asker'] button[data-key='enter']");
    wait_until("the agent to start in careful mode", LONG, || {
        peek(&city, "asker").contains("mode careful")
    });
    assert_eq!(city.events("session.answered").len(), 2);
    // Once ready, it leaves Blocked and the page says so.
    wait_until("asker Running", LONG, || city.status("agents", "asker")["phase"] == "Running");
    wait_until("the page to drop the blocked panel", LONG, || {
        browser
            .eval("return document.getElementById('blocked-section').hidden", serde_json::json!([]))
            == serde_json::json!(true)
    });
    city.run(&["stop"]);
}

fn peek(city: &TmuxCity, agent: &str) -> String {
    String::from_utf8_lossy(&city.run(&["session", "peek", agent]).stdout).into_owned()
}
