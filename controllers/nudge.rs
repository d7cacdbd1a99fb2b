//! One sender per session for nudges: text typed literally into an agent's input, a pause,
//! Enter, and a check that the CLI took it — Enter is pressed again when the text still sits
//! on the input line, and a delivery that cannot be confirmed is an error, never a silent
//! success. `wait-idle` first waits until the agent shows its prompt with no busy marker, on
//! two looks in a row, so nothing is typed into a running turn, and queues the nudge when the
//! agent stays busy past its deadline. Senders of one session take turns through a lock file,
//! so concurrent nudges arrive whole and in the order they got it. `queue` hands the nudge to
//! the session's queue on disk ([`super::nudge_queue`]), which the controller drains with
//! [`drain`] when the session is idle (or the CLI's prompt hook does, first).

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
    /// Put it in the session's queue: delivered as a turn of its own once the agent is idle.
    Queue,
}

/// What became of a nudge that was not refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sent {
    /// Typed and taken.
    Delivered,
    /// Waiting in the session's queue.
    Queued(super::nudge_queue::QueuedNudge),
}

/// How a nudge is to be sent: its delivery, how long `wait-idle` waits before it queues, and
/// how long a queued nudge may wait before it is dead-lettered.
#[derive(Clone, Debug)]
pub struct Sending {
    /// The delivery.
    pub delivery: Delivery,
    /// `wait-idle`'s wait.
    pub wait: Duration,
    /// A queued nudge's time to live.
    pub ttl: Duration,
    /// Who sends it (recorded with a queued nudge).
    pub from: String,
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
    /// The session's queue could not be read or written.
    #[error("the nudge queue of {session}: {source}")]
    Queue {
        /// The session.
        session: String,
        /// Why.
        source: std::io::Error,
    },
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

/// Sends `text` to `session` as `how` says, and records a `nudge.sent` event, or
/// `nudge.failed` when it was not delivered (a queued nudge records its own events). `wait-idle` queues the nudge when the agent stays busy until `how.wait`.
pub fn send_recorded(
    city_dir: &Path,
    model: &super::model::CityModel,
    runtime: &dyn Runtime,
    session: &str,
    text: &str,
    how: &Sending,
) -> Result<Sent, NudgeError> {
    let rules = rules_for(model, session);
    let queue = |session: &str| {
        let meta = super::nudge_queue::NudgeMeta {
            from: how.from.clone(),
            agent: owner(model, session),
            bead: None,
        };
        super::nudge_queue::Queues::new(city_dir, &how.from)
            .enqueue(session, text, meta, how.ttl)
            .map(Sent::Queued)
            .map_err(|source| NudgeError::Queue { session: session.to_owned(), source })
    };
    let result = match how.delivery {
        Delivery::Queue => {
            crate::runtime::validate_name(session)?;
            queue(session)
        }
        delivery => match send(city_dir, runtime, session, text, &rules, delivery, how.wait) {
            Ok(()) => Ok(Sent::Delivered),
            Err(NudgeError::NotIdle { .. }) => queue(session),
            Err(e) => Err(e),
        },
    };
    // Queued nudges record their own events (`nudge.queued`, later delivered or dead).
    let event = match &result {
        Err(e) => Some(
            crate::events::Event::new("nudge.failed", "NotDelivered", e.to_string())
                .payload(serde_json::json!({"session": session, "error": e.to_string()})),
        ),
        Ok(Sent::Delivered) => {
            let mut event = crate::events::Event::new(
                "nudge.sent",
                "Sent",
                format!("nudge from {} typed into {session}", how.from),
            )
            .payload(serde_json::json!({"session": session, "from": how.from}));
            if let Some(agent) = owner(model, session) {
                event = event.object(crate::api::Kind::Agent, agent);
            }
            Some(event)
        }
        Ok(Sent::Queued(_)) => None,
    };
    if let Some(event) = event
        && let Err(e) = crate::events::append(city_dir, vec![event], "gc nudge")
    {
        tracing::warn!("cannot record a nudge event: {e}");
    }
    result
}

/// The agent `session` belongs to.
pub fn owner(model: &super::model::CityModel, session: &str) -> Option<String> {
    let city = model.city_name();
    model.agents.keys().find(|agent| super::launch::is_session_of(&city, agent, session)).cloned()
}

/// Takes `session`'s sender lock: one nudge is typed into a session at a time.
fn take_turn(city_dir: &Path, session: &str) -> Result<std::fs::File, NudgeError> {
    crate::runtime::validate_name(session)?;
    let lock = city_dir.join(".gc").join("state").join("nudge").join(format!("{session}.lock"));
    crate::store::atomic::lock_file(&lock)
        .map_err(|source| NudgeError::Lock { session: session.to_owned(), source })
}

/// Types `text` into `session` now (`immediate`) or once it is idle (`wait-idle`, waiting at
/// most `deadline`), and checks that it was taken. The city's lock directory orders
/// concurrent senders. (`queue` is [`send_recorded`]'s: here it types at once.)
fn send(
    city_dir: &Path,
    runtime: &dyn Runtime,
    session: &str,
    text: &str,
    rules: &ScreenRules,
    delivery: Delivery,
    deadline: Duration,
) -> Result<(), NudgeError> {
    let _turn = take_turn(city_dir, session)?;
    if delivery == Delivery::WaitIdle && verifiable(rules) {
        wait_idle(city_dir, runtime, session, rules, deadline)?;
    }
    type_and_submit(city_dir, runtime, session, text, rules)
}

/// Whether gc can read the session's screen: its Provider names a ready prompt.
fn verifiable(rules: &ScreenRules) -> bool {
    !rules.ready_prefix.is_empty()
}

/// Types `text`, pauses, presses Enter and checks the CLI took it (Enter again otherwise);
/// then, when the CLI's hooks report turns, waits a moment for the turn to begin, so the next
/// nudge does not find the agent between Enter and its prompt hook and look idle.
fn type_and_submit(
    city_dir: &Path,
    runtime: &dyn Runtime,
    session: &str,
    text: &str,
    rules: &ScreenRules,
) -> Result<(), NudgeError> {
    let typed_at = std::time::SystemTime::now();
    submit(runtime, session, text, rules)?;
    if super::turn::read(city_dir, session) != super::turn::Turn::Unknown {
        let start = Instant::now();
        while start.elapsed() < TURN_BEGINS
            && !super::turn::reported_since(city_dir, session, typed_at)
        {
            std::thread::sleep(LOOK / 4);
        }
    }
    Ok(())
}

/// How long a delivered nudge's turn is given to be reported begun by the prompt hook.
const TURN_BEGINS: Duration = Duration::from_secs(5);

/// Types `text`, pauses, presses Enter and checks the CLI took it (Enter again otherwise).
fn submit(
    runtime: &dyn Runtime,
    session: &str,
    text: &str,
    rules: &ScreenRules,
) -> Result<(), NudgeError> {
    match runtime.type_text(session, text) {
        Ok(()) => {}
        // A runtime without a terminal (subprocess) takes the whole line at once.
        Err(RuntimeError::Unsupported(_)) => return Ok(runtime.nudge(session, text)?),
        Err(e) => return Err(e.into()),
    }
    std::thread::sleep(PAUSE);
    for tries in 1..=ENTERS {
        runtime.send_keys(session, Key::Enter, 1)?;
        if !verifiable(rules) || taken(runtime, session, text, rules)? {
            return Ok(());
        }
        if tries == ENTERS {
            return Err(NudgeError::NotSubmitted { session: session.to_owned(), tries });
        }
    }
    Ok(())
}

/// How long the controller's drainer waits for a session to be idle before it leaves the
/// queue for a later look.
const DRAIN_WAIT: Duration = Duration::from_secs(2);

/// Delivers `session`'s queued nudges, oldest first, each as a turn of its own once the agent
/// is idle; stops when the queue is empty, the agent stays busy, or the session is gone (what
/// is left waits for the next call). Dead-letters a nudge the CLI would not take. Returns how
/// many were delivered.
pub fn drain(
    city_dir: &Path,
    runtime: &dyn Runtime,
    session: &str,
    rules: &ScreenRules,
    queues: &super::nudge_queue::Queues,
) -> Result<usize, NudgeError> {
    use super::nudge_queue::Outcome;
    let queue_error = |source| NudgeError::Queue { session: session.to_owned(), source };
    let _turn = take_turn(city_dir, session)?;
    let mut delivered = 0;
    while queues.sweep(session).map_err(queue_error)? {
        if !runtime.is_running(session)? {
            break;
        }
        if verifiable(rules) {
            match wait_idle(city_dir, runtime, session, rules, DRAIN_WAIT) {
                Ok(()) => {}
                Err(NudgeError::NotIdle { .. }) => break,
                Err(e) => return Err(e),
            }
        }
        // The prompt hook may have taken it meanwhile.
        let Some(nudge) = queues.claim(session).map_err(queue_error)? else { break };
        let outcome = match type_and_submit(city_dir, runtime, session, &nudge.text, rules) {
            Ok(()) => Outcome::Delivered,
            Err(e @ NudgeError::NotSubmitted { .. }) => Outcome::Dead(e.to_string()),
            Err(e) => {
                // Whether anything reached the input line is unknown; the next look decides.
                queues.finish(session, &nudge.id, &Outcome::Requeue).map_err(queue_error)?;
                return Err(e);
            }
        };
        let done = outcome == Outcome::Delivered;
        queues.finish(session, &nudge.id, &outcome).map_err(queue_error)?;
        delivered += usize::from(done);
    }
    Ok(delivered)
}

/// Whether `session` is idle now: its screen shows the prompt with no busy marker, and its
/// CLI's hooks (when they report) say its last turn ended.
pub fn idle_now(
    city_dir: &Path,
    runtime: &dyn Runtime,
    session: &str,
    rules: &ScreenRules,
) -> Result<bool, RuntimeError> {
    let now = std::time::SystemTime::now();
    if super::turn::read(city_dir, session).holds_nudges(now) {
        return Ok(false);
    }
    Ok(idle(&runtime.screen(session)?, rules))
}

/// Waits until `session` is idle on two looks in a row.
fn wait_idle(
    city_dir: &Path,
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
        idle_looks = if idle_now(city_dir, runtime, session, rules)? { idle_looks + 1 } else { 0 };
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
