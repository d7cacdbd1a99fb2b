//! Nudges land exactly once and never mid-turn: a fake CLI in raw mode that takes an Enter
//! arriving in the same burst as typed text as part of the text (as real TUIs do) and shows a
//! busy marker for a moment after each message receives ten nudges from three concurrent
//! senders — each once, whole, none typed while it was busy.

#[path = "common/tmux.rs"]
mod tmux_city;

use std::time::Duration;

use tmux_city::{TmuxCity, wait_until};

/// The fake CLI: `› ` prompt; a burst of keys ending in Enter is a pasted newline, not a
/// submit; a lone Enter submits the line (logged), then it is busy for 0.8 s, and any key in
/// that time is logged as a violation.
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
    buf=""
    printf '\r\n* Working… (esc to interrupt)\r\n'
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

#[test]
fn a_nudge_to_a_session_that_stays_busy_fails_loudly() {
    let busy =
        "#!/usr/bin/env bash\nprintf '› \\n* Working… (esc to interrupt)\\n'\nexec sleep 1000\n";
    let city = tui_city("nudgebusy", busy);
    let out =
        city.gc().args(["session", "nudge", "solo", "hello", "--timeout", "1s"]).output().unwrap();
    assert!(!out.status.success(), "a nudge that was not delivered is no success");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("was not idle within"), "{err}");
    let failed = city.events("nudge.failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["payload"]["session"], "gc-town-solo");
    city.run(&["stop"]);
}
