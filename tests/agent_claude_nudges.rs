//! Nudges and work reach the real Claude Code exactly once, never mid-turn: three nudges queued
//! while Claude waits on a reply the stand-in holds arrive afterwards as three user turns of
//! their own, in order (the prompt hook takes none of them into another's turn); and a bead
//! slung to an idle agent, with no nudge, is worked because the controller tells the agent
//! about it. Skipped when no `claude` is found (see `common/agent_clis.rs`).

#[path = "common/agent_clis.rs"]
mod agent_clis;
#[path = "common/cli_city.rs"]
mod cli_city;
#[path = "common/messages_standin.rs"]
mod messages_standin;
#[path = "common/tmux.rs"]
mod tmux_city;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cli_city::CliCity;
use messages_standin::{Reply, Standin};
use serde_json::Value;
use tmux_city::wait_until;

/// The text of a message's text blocks (or its string content).
fn text_of(message: &Value) -> String {
    match &message["content"] {
        Value::String(text) => text.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter(|b| b["type"] == "text")
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The last user message that carries text (not only tool results).
fn last_user_text(request: &Value) -> String {
    let messages = request["messages"].as_array().cloned().unwrap_or_default();
    messages
        .iter()
        .rev()
        .filter(|m| m["role"] == "user")
        .map(text_of)
        .find(|t| !t.trim().is_empty())
        .unwrap_or_default()
}

/// The user messages of `request` that mention `marker`, in order.
fn user_turns_with(request: &Value, marker: &str) -> Vec<String> {
    let messages = request["messages"].as_array().cloned().unwrap_or_default();
    messages
        .iter()
        .filter(|m| m["role"] == "user")
        .map(text_of)
        .filter(|t| t.contains(marker))
        .collect()
}

#[test]
fn queued_nudges_reach_claude_as_turns_of_their_own_and_idle_agents_get_their_work() {
    let Some(claude) = agent_clis::find("claude") else { return };
    let held = Arc::new(AtomicBool::new(true));
    let worker = messages_standin::bead_worker_script();
    let hold = held.clone();
    // A turn asked to hold waits for the test; queued nudges are acknowledged; the rest is a
    // bead worker.
    let standin = Standin::start(Box::new(move |request: &Value| {
        let said = last_user_text(request);
        if said.contains("HOLD-TURN") && !said.contains("QUEUED-NUDGE") {
            while hold.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
            return Reply::text("Held turn done.");
        }
        if let Some(n) = said.split("QUEUED-NUDGE-").nth(1) {
            return Reply::text(format!("Acknowledged {}.", &n[..1]));
        }
        worker(request)
    }));
    let city = CliCity::new("claude", &claude)
        .with_env("ANTHROPIC_BASE_URL", &standin.base_url())
        .with_env("ANTHROPIC_API_KEY", "sk-ant-api03-standin-0123456789abcdefghij");
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "90s"]);
    let session = city.session();

    // The agent is busy with a turn whose reply the stand-in holds.
    city.run(&["session", "nudge", session, "HOLD-TURN: wait for the reply"]);
    wait_until("Claude waiting on the held reply", Duration::from_secs(30), || {
        standin.bodies_contain("HOLD-TURN: wait for the reply")
    });
    for n in 1..=3 {
        let text = format!("QUEUED-NUDGE-{n}: note number {n}");
        let out = city.run(&["session", "nudge", session, "--delivery", "queue", &text]);
        assert!(String::from_utf8_lossy(&out.stdout).contains("queued nudge"));
    }
    std::thread::sleep(Duration::from_secs(3)); // checking nothing is typed into the busy turn
    assert!(!standin.bodies_contain("QUEUED-NUDGE-"), "a queued nudge reached a busy turn");
    let released_at = chrono::Utc::now();
    held.store(false, Ordering::SeqCst);

    let third = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_until("the three queued nudges in a request", Duration::from_secs(90), || {
            standin.requests().iter().any(|r| user_turns_with(r, "QUEUED-NUDGE-").len() == 3)
        })
    }));
    if third.is_err() {
        for r in standin.requests().iter().rev().take(3) {
            eprintln!("REQUEST {}", serde_json::to_string_pretty(&r["messages"]).unwrap());
        }
        panic!("no request with three queued nudges");
    }
    let last = standin
        .requests()
        .into_iter()
        .rfind(|r| !user_turns_with(r, "QUEUED-NUDGE-").is_empty())
        .unwrap();
    let turns = user_turns_with(&last, "QUEUED-NUDGE-");
    assert_eq!(turns.len(), 3, "three user turns: {turns:#?}");
    for (n, turn) in turns.iter().enumerate() {
        assert!(turn.contains(&format!("QUEUED-NUDGE-{}: note number {}", n + 1, n + 1)), "{turn}");
        assert_eq!(turn.matches("QUEUED-NUDGE-").count(), 1, "one nudge per turn: {turn}");
    }
    assert!(!standin.bodies_contain("Queued messages for you"), "the prompt hook took none");
    wait_until("three deliveries recorded", Duration::from_secs(10), || {
        city.city.events("nudge.delivered").len() >= 3
    });
    let delivered = city.city.events("nudge.delivered");
    assert_eq!(delivered.len(), 3, "{delivered:#?}");
    for event in &delivered {
        assert_eq!(event["payload"]["state"]["by"], "controller");
        let at: chrono::DateTime<chrono::Utc> = event["ts"].as_str().unwrap().parse().unwrap();
        assert!(at > released_at, "delivered while the agent was busy: {event}");
    }

    // Work slung to the idle agent without --nudge: the controller tells it, once. Idle means
    // the last nudge's turn ended (its Stop hook ran); work slung before that reaches the
    // agent through the Stop hook instead, and nothing needs announcing.
    let turn_file = city.city.path().join(".gc/state/turn").join(session);
    wait_until("the last nudge's turn ended", Duration::from_secs(30), || {
        std::fs::read_to_string(&turn_file).is_ok_and(|t| t.trim() == "ended")
    });
    let out = city.run(&["sling", "worker", "Bump the version", "--json"]);
    let bead: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = bead["id"].as_str().unwrap().to_owned();
    wait_until("the slung bead closed by the idle agent", Duration::from_secs(90), || {
        let out = city
            .city
            .gc()
            .args(["bd", "show", &id, "--json"])
            .current_dir(city.city.path().join("rigs/demo-repo"))
            .output()
            .unwrap();
        let shown: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        shown.get(0).unwrap_or(&shown)["status"] == "closed"
    });
    let announced: Vec<Value> = city
        .city
        .events("nudge.queued")
        .into_iter()
        .filter(|e| e["reason"] == "WorkAnnounced")
        .collect();
    assert_eq!(announced.len(), 1, "{announced:#?}");
    assert_eq!(announced[0]["payload"]["bead"], id.as_str());

    // A compaction hands over to a fresh session instead (Claude's PreCompact hook), once.
    let starts = || city.city.events("session.started").len();
    let before = starts();
    let requests_before = standin.requests().len();
    city.run(&["session", "nudge", session, "/compact"]);
    wait_until("the fresh session after the compaction", Duration::from_secs(60), || {
        starts() > before
    });
    let restarted = city.city.events("session.started").last().cloned().unwrap();
    assert_eq!(restarted["reason"], "RestartedFresh", "{restarted}");
    wait_until("the handoff note in the fresh session", Duration::from_secs(30), || {
        standin.requests()[requests_before..]
            .iter()
            .any(|r| r.to_string().contains("Handoff note from your previous session:"))
    });
    let noted = standin.requests()[requests_before..]
        .iter()
        .any(|r| r.to_string().contains("handed over because compaction was asked for"));
    assert!(noted, "the note says why");
    assert_eq!(starts(), before + 1, "one restart for one compaction");
    city.stop();
}
