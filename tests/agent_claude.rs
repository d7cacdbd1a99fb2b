//! The real Claude Code under gc, end to end, against a loopback stand-in for the Anthropic
//! Messages API (`common/messages_standin.rs`) whose scripted replies call the Bash tool, which
//! Claude really runs. A city made by `gc init --provider claude` starts with no human: no
//! dialog, no login; the SessionStart hook hands the agent its prompt and work; the agent
//! claims and closes its bead with its own `bd` calls; the Stop hook sends it on to the next
//! one; nothing of the shell that ran `gc start` leaks into the session; a crash resumes the
//! conversation gc named; nothing is left running afterwards. Skipped when no `claude` is
//! found (see `common/agent_clis.rs`).

#[path = "common/agent_clis.rs"]
mod agent_clis;
#[path = "common/cli_city.rs"]
mod cli_city;
#[path = "common/messages_standin.rs"]
mod messages_standin;
#[path = "common/tmux.rs"]
mod tmux_city;

use std::process::Command;
use std::time::Duration;

use cli_city::CliCity;
use messages_standin::Standin;
use tmux_city::wait_until;

#[test]
fn claude_works_its_beads_unattended_and_leaves_nothing_running() {
    let Some(claude) = agent_clis::find("claude") else { return };
    let standin = Standin::bead_worker();
    // A pool of one worker, so which session works which bead is certain.
    let city = CliCity::new("claude", &claude)
        .with_env("ANTHROPIC_BASE_URL", &standin.base_url())
        .with_env("ANTHROPIC_API_KEY", "sk-ant-api03-standin-0123456789abcdefghij")
        // What a shell inside another agent carries; none of it may reach a session.
        .with_env("CLAUDECODE", "1")
        .with_env("CLAUDE_CODE_ENTRYPOINT", "cli")
        .with_env("NODE_OPTIONS", "--max-old-space-size=64");
    let gc = |args: &[&str]| city.run(args);
    gc(&["apply"]);
    // Work slung before the agent runs reaches it through its SessionStart hook; the next
    // through its Stop hook: no nudge either time.
    let first = city.sling("Add a CHANGELOG entry", &[]);
    let second = city.sling("Write the release notes", &[]);
    gc(&["start", "--timeout", "90s"]);

    wait_until("both beads closed by the worker", Duration::from_secs(120), || {
        [&first, &second].iter().all(|id| city.bead(id)["status"] == "closed")
    });
    for id in [&first, &second] {
        let shown = city.bead(id);
        assert_eq!(shown["assignee"], "worker-1", "claimed by the agent's own bd: {shown}");
        assert_eq!(shown["close_reason"], "done", "closed by the agent's own bd: {shown}");
    }
    // The worker's prompt came through SessionStart (the stand-in saw it in a request body),
    // the second bead through the Stop hook.
    assert!(standin.bodies_contain("SessionStart:startup hook success: You are worker"));
    let sent_on = |id: &str| {
        standin.bodies_contain(&format!(
            "Stop hook feedback:\nWork is on your hook (ready, routed to you): {id}"
        ))
    };
    assert!(sent_on(&first) || sent_on(&second), "one bead came through the Stop hook");
    assert!(city.city.events("session.dialog").is_empty(), "seeding left no dialog to answer");

    // The session's environment was built, not inherited.
    let status = city.worker();
    let pane = status["sessions"][0]["pid"].as_u64().expect("the worker's pane pid") as u32;
    let claude_pid = agent_clis::descendant(pane, "claude").expect("claude runs in the session");
    let env = agent_clis::environ(claude_pid);
    let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
    for leaked in ["CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT", "NODE_OPTIONS"] {
        assert!(!names.contains(&leaked), "{leaked} leaked into the session: {names:?}");
    }
    let value = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    assert_eq!(value("GC_AGENT"), Some("worker"));
    assert_eq!(value("BEADS_ACTOR"), Some("worker-1"));
    assert_eq!(value("DISABLE_AUTOUPDATER"), Some("1"));
    assert_eq!(value("ANTHROPIC_BASE_URL"), Some(standin.base_url().as_str()));
    assert!(value("CLAUDE_CONFIG_DIR").is_some_and(|d| d.contains("/.gc/homes/")));

    // Work slung to the running agent reaches it with the sling's nudge.
    let third = city.sling("Tag the release", &["--nudge"]);
    wait_until("the nudged bead closed", Duration::from_secs(60), || {
        city.bead(&third)["status"] == "closed"
    });

    // A crash resumes the conversation: the restarted Claude sends what was said before.
    let before = standin.requests().len();
    Command::new("kill").args(["-9", &claude_pid.to_string()]).output().unwrap();
    wait_until("the worker restarted after its crash", Duration::from_secs(30), || {
        city.city.events("session.started").iter().any(|e| e["reason"] == "Restarted")
    });
    let restarted = city.city.events("session.started");
    let restart = restarted.iter().find(|e| e["reason"] == "Restarted").unwrap();
    let first_start = &restarted
        .iter()
        .find(|e| e["payload"]["session"] == "gc-town-worker-1")
        .unwrap()["payload"]["conversation"];
    let id = first_start.as_str().unwrap().strip_prefix("new ").expect("a conversation gc named");
    assert_eq!(restart["payload"]["conversation"], format!("resume {id}"));
    wait_until("a request of the resumed conversation", Duration::from_secs(30), || {
        standin.requests()[before..].iter().any(|r| {
            let text = r.to_string();
            let earlier =
                [&first, &second].iter().any(|id| text.contains(&format!("Closed {id}.")));
            earlier && r["tools"].as_array().is_some_and(|t| !t.is_empty())
        })
    });
    assert!(
        restart["message"]
            .as_str()
            .unwrap()
            .contains(&format!("resuming conversation {id} (after a crash)"))
    );

    // A drift restart resumes too by default; with `resumeOnDrift: false` it starts fresh.
    let starts = || city.city.events("session.started");
    let drift_to = |level: &str, policy: &str| {
        let before = starts().len();
        let file = "agents/worker.yaml";
        let text = std::fs::read_to_string(city.city.path().join(file)).unwrap();
        let (head, _) = text.split_once("    LOG_LEVEL: ").unwrap();
        let rest = text.split_once("    LOG_LEVEL: ").unwrap().1.split_once('\n').unwrap().1;
        let text = format!("{head}    LOG_LEVEL: {level}\n{rest}{policy}");
        std::fs::write(city.city.path().join(file), text).unwrap();
        city.run(&["apply"]);
        wait_until("the drift restart", Duration::from_secs(30), || starts().len() > before);
        starts().last().unwrap()["payload"]["conversation"].as_str().unwrap().to_owned()
    };
    // A prompt edit is a drift too; the resumed conversation gets the new prompt from its
    // SessionStart hook (Claude's system-prompt snapshot never holds gc's prompt).
    let before = starts().len();
    let requests_before = standin.requests().len();
    let prompt = city.city.path().join("prompts/worker.md");
    let text = std::fs::read_to_string(&prompt).unwrap();
    std::fs::write(&prompt, format!("{text}\nPROMPT-V2: keep bead titles short.\n")).unwrap();
    city.run(&["apply"]);
    wait_until("the prompt drift restart", Duration::from_secs(30), || starts().len() > before);
    assert_eq!(starts().last().unwrap()["payload"]["conversation"], format!("resume {id}"));
    wait_until("the new prompt in the resumed conversation", Duration::from_secs(30), || {
        standin.requests()[requests_before..].iter().any(|r| {
            let text = r.to_string();
            text.contains("SessionStart:resume hook success: You are worker")
                && text.contains("PROMPT-V2: keep bead titles short.")
        })
    });
    assert_eq!(drift_to("debug", ""), format!("resume {id}"));
    let fresh = drift_to("trace", "  conversation:\n    resumeOnDrift: false\n");
    assert!(fresh.starts_with("new ") && !fresh.contains(id), "{fresh}");
    let last = starts().last().unwrap()["message"].as_str().unwrap().to_owned();
    assert!(
        last.contains("fresh after a drift restart by the agent's conversation policy"),
        "{last}"
    );

    // `gc handoff` from inside the session: a fresh conversation, once, whose SessionStart
    // shows the note; `gc session reset --fresh` likewise.
    let before = starts().len();
    let requests_before = standin.requests().len();
    let out = city
        .city
        .gc()
        .args(["handoff", "HANDOFF-NOTE: the parser is half done"])
        .env("GC_AGENT", "worker")
        .env("GC_SESSION", "gc-town-worker-1")
        .env("BEADS_ACTOR", "worker-1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    wait_until("the handoff restart", Duration::from_secs(30), || starts().len() > before);
    let handed = starts().last().unwrap().clone();
    assert_eq!(handed["reason"], "RestartedFresh", "{handed}");
    assert!(handed["message"].as_str().unwrap().contains("(fresh, as asked)"), "{handed}");
    wait_until("the note in the fresh session's start", Duration::from_secs(30), || {
        standin.requests()[requests_before..].iter().any(|r| {
            r.to_string().contains(
                "Handoff note from your previous session:\\nHANDOFF-NOTE: the parser is half done",
            )
        })
    });
    std::thread::sleep(Duration::from_secs(2)); // checking nothing more happens: exactly once
    assert_eq!(starts().len(), before + 1, "one restart for one handoff");
    // Mail reaches the agent in its next turn, through its prompt hook, once.
    let requests_before = standin.requests().len();
    city.run(&["mail", "send", "worker-1", "-s", "Release", "-m", "MAIL-BODY: ship on Friday"]);
    city.run(&["session", "nudge", "gc-town-worker-1", "Any news?"]);
    wait_until("the mail in the next turn", Duration::from_secs(30), || {
        standin.requests()[requests_before..].iter().any(|r| {
            let text = r.to_string();
            text.contains("UserPromptSubmit hook success: You have mail:")
                && text.contains("MAIL-BODY: ship on Friday")
        })
    });
    let unread = city.run(&["mail", "check", "worker-1"]);
    assert!(String::from_utf8_lossy(&unread.stdout).contains("no unread mail"), "marked read");

    let before = starts().len();
    city.run(&["session", "reset", "gc-town-worker-1", "--fresh"]);
    wait_until("the reset --fresh restart", Duration::from_secs(30), || starts().len() > before);
    assert_eq!(starts().last().unwrap()["reason"], "RestartedFresh");
    city.stop();
}
