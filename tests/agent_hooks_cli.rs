//! gc's hooks as an agent CLI runs them (`gc prime --hook`, `gc hook --stop`), with the JSON a
//! CLI writes on their stdin: what reaches the model, in each CLI's form; the Stop hook's
//! guard against sending an agent twice to work it ignored; the conversation id recorded;
//! and `workQuery` selecting the work.

use assert_cmd::Command;
use serde_json::Value;

mod common;
use common::City;

const WORKER: &str = "apiVersion: gascity.dev/v1alpha1\nkind: Agent\nmetadata:\n  name: worker\n\
                      spec:\n  prompt:\n    inline: You are {{ agent.name }}, PRIME-MARKER.\n";

/// A command as the agent CLI runs it inside the worker's session.
fn in_session(city: &City, stdin: &str) -> Command {
    let mut cmd = city.gc();
    cmd.env("GC_AGENT", "worker")
        .env("GC_SESSION", "gc-town-worker")
        .env("BEADS_ACTOR", "worker")
        .write_stdin(stdin.to_owned());
    cmd
}

fn stdout(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn city() -> City {
    let city = City::new(WORKER);
    city.gc().arg("apply").assert().success();
    city
}

fn sling(city: &City, text: &str) -> String {
    let out = stdout(city.gc().args(["sling", "worker", text, "--json"]));
    serde_json::from_str::<Value>(&out).unwrap()["id"].as_str().unwrap().to_owned()
}

#[test]
fn the_start_hook_hands_over_prompt_and_work_and_records_the_conversation() {
    let city = city();
    let id = sling(&city, "Fix the parser");
    let input =
        r#"{"session_id":"3f2a-codex-picked","source":"startup","hook_event_name":"SessionStart"}"#;
    let plain = stdout(in_session(&city, input).args(["prime", "--hook", "--format", "claude"]));
    assert!(plain.starts_with("You are worker, PRIME-MARKER."), "{plain}");
    assert!(
        plain
            .contains(&format!("Work is on your hook (ready, routed to you): {id} Fix the parser"))
    );
    let recorded: Value = serde_json::from_slice(
        &std::fs::read(city.path().join(".gc/state/conversations/gc-town-worker.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(recorded["id"], "3f2a-codex-picked");
    assert_eq!(recorded["provider"], "shell");

    let gemini = stdout(in_session(&city, input).args(["prime", "--hook", "--format", "gemini"]));
    let gemini: Value = serde_json::from_str(&gemini).expect("Gemini reads only JSON");
    let context = gemini["hookSpecificOutput"]["additionalContext"].as_str().unwrap();
    assert!(context.contains("PRIME-MARKER") && context.contains(&id), "{context}");
}

#[test]
fn the_stop_hook_sends_the_agent_on_once_per_bead_and_lets_it_stop_without_work() {
    let city = city();
    let stop = |input: &str, format: &str| {
        stdout(in_session(&city, input).args(["hook", "--stop", "--format", format]))
    };
    assert_eq!(stop(r#"{"stop_hook_active":false}"#, "claude"), "", "no work: it may stop");
    assert_eq!(stop("{}", "gemini").trim(), "{}");

    let id = sling(&city, "Write the release notes");
    let block: Value =
        serde_json::from_str(&stop(r#"{"stop_hook_active":false}"#, "claude")).unwrap();
    assert_eq!(block["decision"], "block");
    assert!(block["reason"].as_str().unwrap().contains(&format!("bd update {id} --claim")));
    // The CLI goes on because of the hook, the agent ignores the bead: it is not sent again.
    assert_eq!(stop(r#"{"stop_hook_active":true}"#, "claude"), "");
    // A fresh stop offers it again; Gemini is answered in its own form.
    let deny: Value =
        serde_json::from_str(&stop(r#"{"stop_hook_active":false}"#, "gemini")).unwrap();
    assert_eq!(deny["decision"], "deny");
    assert!(deny["reason"].as_str().unwrap().contains(&id));
}

#[test]
fn a_work_query_decides_what_is_on_the_hook() {
    let city = City::new(&format!("{WORKER}  workQuery: --label frontend\n"));
    city.gc().arg("apply").assert().success();
    sling(&city, "Routed but not frontend");
    city.gc().args(["hook", "worker"]).assert().failure();
    let out =
        stdout(city.gc().args(["bd", "create", "Fix the button", "-l", "frontend", "--json"]));
    let id = serde_json::from_str::<Value>(&out).unwrap()["id"].as_str().unwrap().to_owned();
    let hook = stdout(city.gc().args(["hook", "worker"]));
    assert!(
        hook.starts_with(&format!("{id}  Fix the button  (ready, matches your workQuery)")),
        "{hook}"
    );
}

#[test]
fn a_work_query_that_is_no_bd_ready_filter_is_refused_at_its_line() {
    let city = City::new(&format!("{WORKER}  workQuery: --lable frontend\n"));
    let out = city.gc().arg("validate").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("workQuery is not a bd ready filter") && text.contains("--lable"),
        "{text}"
    );
    assert!(text.contains("agents/worker.yaml:8:"), "{text}");
}

#[test]
fn a_permission_mode_the_provider_cannot_run_is_refused() {
    let city = City::new(&format!("{WORKER}  permissionMode: plan\n"));
    let out = city.gc().arg("validate").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("provider `shell` has no permission mode `plan`"), "{text}");
}

#[test]
fn provider_settings_that_cannot_work_are_refused() {
    let city = City::new(WORKER);
    city.write(
        "providers/broken.yaml",
        "apiVersion: gascity.dev/v1alpha1\nkind: Provider\nmetadata:\n  name: broken\nspec:\n  \
         command: sh\n  hooks:\n    file: hooks.json\n    events: {stop: Stop}\n  \
         conversation:\n    resumeArgs: [--resume]\n",
    );
    let out = city.gc().arg("validate").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("`hooks` need `home`"), "{text}");
    assert!(text.contains("conversation.resumeArgs does not name the conversation"), "{text}");
}

#[test]
fn the_prompt_hook_puts_unread_mail_into_the_turn_once() {
    let city = city();
    city.gc()
        .args(["mail", "send", "worker", "-s", "Plan", "-m", "Parser first", "--actor", "mayor"])
        .assert()
        .success();
    let shown = stdout(city.gc().args(["mail", "check", "worker"]));
    assert!(shown.contains("from mayor: Plan"), "{shown}");
    let first =
        stdout(in_session(&city, "{}").args(["mail", "check", "--inject", "--format", "gemini"]));
    let first: Value = serde_json::from_str(&first).expect("Gemini reads only JSON");
    let context = first["hookSpecificOutput"]["additionalContext"].as_str().unwrap();
    assert!(context.contains("Plan") && context.contains("Parser first"), "{context}");
    let again = stdout(in_session(&city, "{}").args(["mail", "check", "--inject"]));
    assert_eq!(again, "", "shown once, then read");
}
