//! One sender per session for nudges: text typed literally into an agent's input, a pause,
//! Enter, and a check that the CLI took it — Enter is pressed again when the text still sits
//! on the input line, and a delivery that cannot be confirmed is an error, never a silent
//! success. `wait-idle` first waits until the agent shows its prompt with no busy marker, on
//! two looks in a row, so nothing is typed into a running turn. Senders of one session take
//! turns through a lock file, so concurrent nudges arrive whole and in the order they got it.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::agentcli::screen::{self, Key, ScreenRules, ScreenState};
use crate::runtime::{Runtime, RuntimeError};

/// How a nudge is delivered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Delivery {
    /// Wait until the agent is idle (its prompt shows, no busy marker), then send.
    #[default]
    WaitIdle,
    /// Send now, even into a running turn.
    Immediate,
}

/// Why a nudge was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum NudgeError {
    /// The agent stayed busy (or showed no prompt) until the deadline; nothing was typed.
    #[error("{session} was not idle within {waited:?}; nothing was typed")]
    NotIdle {
        /// The session.
        session: String,
        /// How long gc waited.
        waited: Duration,
    },
    /// The text was typed but the CLI did not take it, after Enter was pressed again.
    #[error("{session} did not take the nudge: it is still on its input line after {tries} Enters")]
    NotSubmitted {
        /// The session.
        session: String,
        /// Enters pressed.
        tries: usize,
    },
    /// The session or its runtime failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The per-session lock could not be taken.
    #[error("cannot take the nudge lock of {session}: {source}")]
    Lock {
        /// The session.
        session: String,
        /// Why.
        source: std::io::Error,
    },
}

/// How often the screen is read while waiting for idle or for the text to be taken.
const LOOK: Duration = Duration::from_millis(200);

/// Pause between the text and its Enter: a TUI reads an Enter in the same burst as pasted text
/// as part of the paste.
const PAUSE: Duration = Duration::from_millis(500);

/// How long one Enter is given to be taken before it is pressed again.
const TAKE: Duration = Duration::from_secs(2);

/// Enters pressed at most.
const ENTERS: usize = 3;

/// Whether `screen` shows the agent idle: its prompt, and no busy marker (and no dialog).
pub fn idle(screen: &str, rules: &ScreenRules) -> bool {
    screen::read(screen, rules) == ScreenState::Ready
}

/// Whether `text` still sits on the input line of `screen` (from the last prompt line down):
/// typed, not yet taken. Screens without a prompt line say nothing about it (`false`).
pub fn still_typed(screen: &str, text: &str, rules: &ScreenRules) -> bool {
    // Compared with whitespace collapsed: an input box wraps long text onto indented lines.
    let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let head: String = words(text.lines().next().unwrap_or_default()).chars().take(24).collect();
    if head.is_empty() {
        return false;
    }
    let Some(prompt) = screen::prompt_line(screen, &rules.ready_prefix) else { return false };
    let below: Vec<&str> = screen.lines().skip(prompt).collect();
    words(&below.join("\n")).contains(&head)
}

/// What gc reads on `session`'s screen: its agent's Provider rules (none for a session of no
/// agent).
pub fn rules_for(model: &super::model::CityModel, session: &str) -> ScreenRules {
    let city = model.city_name();
    let Some((agent, index)) = model
        .agents
        .keys()
        .find_map(|agent| Some((agent, super::launch::member_index(&city, agent, session)?)))
    else {
        return ScreenRules::default();
    };
    super::launch::launches(model, agent, &[index])
        .ok()
        .and_then(|l| l.into_iter().find(|l| l.session == session))
        .map(|l| l.screen_rules())
        .unwrap_or_default()
}

/// Sends `text` and records a `nudge.failed` event when it was not delivered.
pub fn send_recorded(
    city_dir: &Path,
    model: &super::model::CityModel,
    runtime: &dyn Runtime,
    session: &str,
    text: &str,
    delivery: Delivery,
    deadline: Duration,
) -> Result<(), NudgeError> {
    let rules = rules_for(model, session);
    let result = send(city_dir, runtime, session, text, &rules, delivery, deadline);
    if let Err(e) = &result {
        let event = crate::events::Event::new("nudge.failed", "NotDelivered", e.to_string())
            .payload(serde_json::json!({"session": session, "error": e.to_string()}));
        if let Err(e) = crate::events::append(city_dir, vec![event], "gc nudge") {
            tracing::warn!("cannot record nudge.failed: {e}");
        }
    }
    result
}

/// Sends `text` to `session` as `delivery` says (waiting at most `deadline` for idle), and
/// checks that it was taken. The city's lock directory orders concurrent senders.
pub fn send(
    city_dir: &Path,
    runtime: &dyn Runtime,
    session: &str,
    text: &str,
    rules: &ScreenRules,
    delivery: Delivery,
    deadline: Duration,
) -> Result<(), NudgeError> {
    crate::runtime::validate_name(session)?;
    let lock = city_dir.join(".gc").join("state").join("nudge").join(format!("{session}.lock"));
    let _turn = crate::store::atomic::lock_file(&lock)
        .map_err(|source| NudgeError::Lock { session: session.to_owned(), source })?;
    let verifiable = !rules.ready_prefix.is_empty();
    if delivery == Delivery::WaitIdle && verifiable {
        wait_idle(runtime, session, rules, deadline)?;
    }
    match runtime.type_text(session, text) {
        Ok(()) => {}
        // A runtime without a terminal (subprocess) takes the whole line at once.
        Err(RuntimeError::Unsupported(_)) => return Ok(runtime.nudge(session, text)?),
        Err(e) => return Err(e.into()),
    }
    std::thread::sleep(PAUSE);
    for tries in 1..=ENTERS {
        runtime.send_keys(session, Key::Enter, 1)?;
        if !verifiable || taken(runtime, session, text, rules)? {
            return Ok(());
        }
        if tries == ENTERS {
            return Err(NudgeError::NotSubmitted { session: session.to_owned(), tries });
        }
    }
    Ok(())
}

/// Waits until `session` is idle on two looks in a row.
fn wait_idle(
    runtime: &dyn Runtime,
    session: &str,
    rules: &ScreenRules,
    deadline: Duration,
) -> Result<(), NudgeError> {
    let start = Instant::now();
    let mut idle_looks = 0;
    loop {
        if !runtime.is_running(session)? {
            return Err(RuntimeError::NotRunning(session.to_owned()).into());
        }
        idle_looks = if idle(&runtime.screen(session)?, rules) { idle_looks + 1 } else { 0 };
        if idle_looks >= 2 {
            return Ok(());
        }
        if start.elapsed() >= deadline {
            return Err(NudgeError::NotIdle { session: session.to_owned(), waited: deadline });
        }
        std::thread::sleep(LOOK);
    }
}

/// Whether the CLI took the text within [`TAKE`]: it went busy, or the text left its input
/// line.
fn taken(
    runtime: &dyn Runtime,
    session: &str,
    text: &str,
    rules: &ScreenRules,
) -> Result<bool, NudgeError> {
    let start = Instant::now();
    while start.elapsed() < TAKE {
        std::thread::sleep(LOOK);
        let shown = runtime.screen(session)?;
        if screen::read(&shown, rules) == ScreenState::Busy || !still_typed(&shown, text, rules) {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> ScreenRules {
        ScreenRules {
            ready_prefix: vec!["❯\u{a0}".into()],
            busy_markers: vec!["esc to interrupt".into()],
            dialogs: Vec::new(),
        }
    }

    #[test]
    fn idle_means_the_prompt_and_no_busy_marker() {
        assert!(idle("──\n❯\u{a0}\n──\n  ? for shortcuts", &rules()));
        assert!(!idle("* Working…\n❯\u{a0}\n  esc to interrupt", &rules()));
        assert!(!idle("Loading…", &rules()));
    }

    #[test]
    fn typed_text_is_seen_on_the_input_line_until_it_is_taken() {
        let typed = "❯ earlier message\n✻ Done\n──\n❯\u{a0}Check bd ready for new work.\n──";
        assert!(still_typed(typed, "Check bd ready for new work.", &rules()));
        let taken = "❯ Check bd ready for new work.\n* Thinking…\n──\n❯\u{a0}\n──";
        assert!(!still_typed(taken, "Check bd ready for new work.", &rules()), "history is above");
        let wrapped = "──\n❯\u{a0}Check bd ready for new\n  work.\n──";
        assert!(still_typed(wrapped, "Check bd ready for new work.", &rules()));
        assert!(!still_typed("no prompt here", "x", &rules()));
    }
}
