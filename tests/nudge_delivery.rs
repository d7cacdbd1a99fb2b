//! Nudges land exactly once and never mid-turn: a fake CLI in raw mode that takes an Enter
//! arriving in the same burst as typed text as part of the text (as real TUIs do) and shows a
//! busy marker for a moment after each message receives ten nudges from three concurrent
//! senders — each once, whole, none typed while it was busy. Queued nudges outlive a
//! controller killed with SIGKILL and arrive once each, in order, as turns of their own; a
//! nudge that outlives its deadline is dead-lettered; the prompt hook and the controller never
//! both deliver one.

#[path = "common/tmux.rs"]
mod tmux_city;

use std::time::Duration;

use tmux_city::{TmuxCity, wait_until};

/// The fake CLI: `› ` prompt; a burst of keys ending in Enter is a pasted newline, not a
/// submit; a lone Enter submits the line (logged), then it is busy for 0.8 s — after the line
/// `hold`, until the file `release` exists in the city — and any key in that time is logged
/// as a violation.
const FAKE_TUI: &str = r#"#!/usr/bin/env bash
log="$GC_CITY/received.log"
stty raw -echo
buf=""
draw() { printf '\033[2J\033[Hfake cli\r\n› %s' "$buf"; }
draw
while :; do
  IFS= read -rsn1 c || exit 0
  burst="$c"
  while IFS= read -rsn1 -t 0.03 d; do burst+="$d"; done
  # bash reads a lone Enter (CR in raw mode) as an empty key; within a burst it vanishes
  if [ -z "$burst" ] || [ "$burst" = $'\r' ]; then
    printf '%s\n' "$buf" >> "$log"
    line="$buf"
    buf=""
    printf '\r\n* Working… (esc to interrupt)\r\n'
    if [ "$line" = hold ]; then
      until [ -e "$GC_CITY/release" ]; do
        if IFS= read -rsn1 -t 0.2 x; then printf 'VIOLATION typed while busy\n' >> "$log"; fi
      done
    fi
    while IFS= read -rsn1 -t 0.8 x; do printf 'VIOLATION typed while busy\n' >> "$log"; done
    draw
  else
    buf+="${burst//$'\r'/ }"
    draw
  fi
done
"#;

/// A city `town` whose one agent `solo` runs `script` as a TUI with a `› ` prompt and the
/// busy marker `esc to interrupt`, applied and started.
fn tui_city(tag: &str, script: &str) -> TmuxCity {
    let city = TmuxCity::new(tag);
    city.write(
        "city.yaml",
        &format!(
            "apiVersion: gascity.dev/v1alpha1\nkind: City\nmetadata:\n  name: town\nspec:\n  \
             defaultProvider: tui\n  session:\n    socket: {}\n---\n\
             apiVersion: gascity.dev/v1alpha1\nkind: Provider\nmetadata:\n  name: tui\nspec:\n  \
             command: scripts/tui.sh\n  readyPromptPrefix: \"› \"\n  busyMarkers: [esc to interrupt]\n\
             ---\napiVersion: gascity.dev/v1alpha1\nkind: Agent\nmetadata:\n  name: solo\nspec: {{}}\n",
            city.socket
        ),
    );
    city.write_script("scripts/tui.sh", script);
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "30s"]);
    city
}

#[test]
fn ten_nudges_from_three_senders_arrive_once_each_and_never_mid_turn() {
    let city = tui_city("nudge", FAKE_TUI);
    let senders: Vec<_> = [(0, 4), (1, 3), (2, 3)]
        .into_iter()
        .map(|(sender, count)| {
            let gc = city.gc();
            let program = gc.get_program().to_owned();
            let dir = city.path();
            std::thread::spawn(move || {
                for n in 0..count {
                    let text = format!("message {sender}-{n} from sender {sender}");
                    let out = std::process::Command::new(&program)
                        .current_dir(&dir)
                        .env_remove("GC_CITY")
                        .args(["session", "nudge", "solo", &text])
                        .output()
                        .unwrap();
                    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                }
            })
        })
        .collect();
    for sender in senders {
        sender.join().unwrap();
    }
    let log = city.path().join("received.log");
    wait_until("ten messages received", Duration::from_secs(10), || {
        std::fs::read_to_string(&log).unwrap_or_default().lines().count() >= 10
    });
    let received = std::fs::read_to_string(&log).unwrap();
    assert!(!received.contains("VIOLATION"), "typed into a busy turn:\n{received}");
    let lines: Vec<&str> = received.lines().collect();
    assert_eq!(lines.len(), 10, "each once:\n{received}");
    for (sender, count) in [(0, 4), (1, 3), (2, 3)] {
        let mine: Vec<&&str> =
            lines.iter().filter(|l| l.ends_with(&format!("from sender {sender}"))).collect();
        let expected: Vec<String> =
            (0..count).map(|n| format!("message {sender}-{n} from sender {sender}")).collect();
        assert_eq!(mine, expected.iter().collect::<Vec<_>>(), "whole and in order:\n{received}");
    }
    city.run(&["stop"]);
}

fn received(city: &TmuxCity) -> Vec<String> {
    let log = city.path().join("received.log");
    std::fs::read_to_string(log).unwrap_or_default().lines().map(str::to_owned).collect()
}

fn nudge(city: &TmuxCity, args: &[&str]) -> String {
    let mut all = vec!["session", "nudge", "solo"];
    all.extend_from_slice(args);
    String::from_utf8(city.run(&all).stdout).unwrap()
}

fn statuses(city: &TmuxCity) -> Vec<String> {
    let out = city.run(&["nudge", "status", "solo", "--json"]);
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    listed.iter().map(|n| n["state"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn queued_nudges_outlive_a_killed_controller_and_arrive_once_each_in_order() {
    let city = tui_city("nudgeq", FAKE_TUI);
    nudge(&city, &["hold"]);
    wait_until("the agent busy with its held turn", Duration::from_secs(10), || {
        received(&city) == ["hold"]
    });
    for n in 1..=3 {
        let out = nudge(&city, &["--delivery", "queue", &format!("queued {n}")]);
        assert!(out.contains(&format!("queued nudge n{n} for gc-town-solo")), "{out}");
    }
    // A wait-idle nudge that finds the agent busy past its wait joins the queue.
    let out = nudge(&city, &["--timeout", "1s", "queued 4"]);
    assert!(out.contains("queued nudge n4"), "{out}");
    city.kill_controller();
    assert_eq!(statuses(&city), ["queued"; 4], "on disk, in order");
    city.run(&["start", "--timeout", "30s"]);
    std::thread::sleep(Duration::from_secs(2)); // checking nothing is typed into the busy turn
    assert_eq!(received(&city), ["hold"]);
    std::fs::write(city.path().join("release"), "").unwrap();
    // The queue's state is written before each delivery's event.
    wait_until("the queue delivered", Duration::from_secs(30), || {
        statuses(&city).iter().all(|s| s == "delivered")
            && city.events("nudge.delivered").len() >= 4
    });
    assert_eq!(received(&city), ["hold", "queued 1", "queued 2", "queued 3", "queued 4"]);
    let delivered = city.events("nudge.delivered");
    assert_eq!(delivered.len(), 4, "{delivered:?}");
    assert!(delivered.iter().all(|e| e["payload"]["state"]["by"] == "controller"));
    city.run(&["stop"]);
}

#[test]
fn the_prompt_hook_and_the_controller_never_both_deliver_and_stale_nudges_die() {
    let city = tui_city("nudgehook", FAKE_TUI);
    nudge(&city, &["hold"]);
    wait_until("the agent busy", Duration::from_secs(10), || received(&city) == ["hold"]);
    nudge(&city, &["--delivery", "queue", "for the hook"]);
    nudge(&city, &["--delivery", "queue", "--ttl", "1s", "too late"]);
    wait_until("the stale nudge dead-lettered", Duration::from_secs(10), || {
        !city.events("nudge.dead").is_empty()
    });
    let dead = city.events("nudge.dead");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["payload"]["id"], "n2");
    assert_eq!(dead[0]["object"]["name"], "solo");
    // A person submits a turn: the prompt hook hands over what waits, once.
    let hook = |prompt: &str| {
        let mut child = city
            .gc()
            .args(["hook", "--prompt-submit"])
            .env("GC_SESSION", "gc-town-solo")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        let input = serde_json::json!({"hook_event_name": "UserPromptSubmit", "prompt": prompt});
        child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let first = hook("what is the status?");
    assert!(first.contains("for the hook") && !first.contains("too late"), "{first}");
    assert_eq!(hook("and now?"), "", "once");
    std::fs::write(city.path().join("release"), "").unwrap();
    wait_until("the agent idle again", Duration::from_secs(10), || {
        let screen = city.tmux(&["capture-pane", "-p", "-t", "gc-town-solo"]).stdout;
        !String::from_utf8_lossy(&screen).contains("esc to interrupt")
    });
    std::thread::sleep(Duration::from_secs(3)); // checking the controller types nothing more
    assert_eq!(received(&city), ["hold"], "the controller did not deliver it too");
    let table = String::from_utf8(city.run(&["nudge", "status"]).stdout).unwrap();
    assert!(table.contains("delivered (hook)") && table.contains("dead: expired"), "{table}");
    let yaml = String::from_utf8(city.run(&["nudge", "status", "-o", "yaml"]).stdout).unwrap();
    let listed: Vec<serde_json::Value> = serde_yaml_ng::from_str(&yaml).unwrap();
    assert_eq!(listed.len(), 2, "{yaml}");
    assert!(listed.iter().all(|n| n["session"] == "gc-town-solo"), "{yaml}");
    city.run(&["stop"]);
}

#[test]
fn a_nudge_the_cli_will_not_take_fails_loudly() {
    // Shows what is typed and never takes Enter.
    let deaf = "#!/usr/bin/env bash\nstty raw -echo\nbuf=''\nwhile :; do\n  \
                printf '\\033[2J\\033[Hdeaf cli\\r\\n› %s' \"$buf\"\n  \
                IFS= read -rsn1 c || exit 0\n  buf+=\"$c\"\ndone\n";
    let city = tui_city("nudgedeaf", deaf);
    let out = city.gc().args(["session", "nudge", "solo", "hello"]).output().unwrap();
    assert!(!out.status.success(), "a nudge that was not taken is no success");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did not take the nudge"), "{err}");
    let failed = city.events("nudge.failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["payload"]["session"], "gc-town-solo");
    city.run(&["stop"]);
}
