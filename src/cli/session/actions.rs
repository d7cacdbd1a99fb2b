//! What `gc session stop|start|reset|answer` do, as functions the CLI and the dashboard both
//! call: each returns the lines to show and records an event.

use std::path::Path;
use std::time::Duration;

use crate::agentcli::screen::Key;
use crate::api::Kind;
use crate::controllers::holds;
use crate::controllers::model::CityModel;
use crate::controllers::reconcile::{Context, reconcile_agent};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Records a `session.*` event about `session` (and its agent), by `actor`.
fn record(
    city_dir: &Path,
    model: &CityModel,
    event_type: &str,
    reason: &str,
    session: &str,
    message: String,
    actor: &str,
) {
    let mut event = crate::events::Event::new(event_type, reason, message)
        .payload(serde_json::json!({"session": session}));
    if let Some(agent) = super::owner(model, session) {
        event = event.object(Kind::Agent, agent);
    }
    if let Err(e) = crate::events::append(city_dir, vec![event], actor) {
        tracing::warn!("cannot record {event_type}: {e}");
    }
}

/// Stops `session` and holds it stopped (the controller does not restart it) until
/// [`start`]. A `session.stopped` event, reason `Held`.
pub fn stop(ctx: &Context, model: &CityModel, session: &str, actor: &str) -> Result<String> {
    holds::hold(&model.dir, session)?;
    let grace = model.city_spec().controller.shutdown_timeout.get();
    ctx.runtime.stop(session, grace)?;
    let message = format!("{session} stopped; it stays stopped until `gc session start`");
    record(&model.dir, model, "session.stopped", "Held", session, message.clone(), actor);
    // Holds live outside the store: ask the controller to look at every agent again.
    crate::notify::request(&model.dir, "reload", Duration::from_secs(2));
    Ok(message)
}

/// Lets the controller run `session` again after [`stop`] (or an idle stop). A
/// `session.released` event when there was something to release.
pub fn start(ctx: &Context, model: &CityModel, session: &str, actor: &str) -> Result<String> {
    let idle = holds::Marks::idle(&model.dir).clear(session)?;
    if !holds::release(&model.dir, session)? && !idle {
        return Ok(format!(
            "{session} was not stopped with `gc session stop` or for idleness; nothing to do"
        ));
    }
    let message = if crate::notify::request(&model.dir, "reload", Duration::from_secs(2)).is_some()
    {
        format!("{session} released; the controller starts it")
    } else if let Some(agent) = super::owner(model, session) {
        reconcile_agent(ctx, &agent)?;
        format!("{session} started (no controller is running: `gc start` keeps it running)")
    } else {
        format!("{session} released")
    };
    record(&model.dir, model, "session.released", "Released", session, message.clone(), actor);
    Ok(message)
}

/// One thing typed into a session to answer what it shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Keystroke {
    /// Text, typed literally (never read as key names).
    Text(String),
    /// A key.
    Key(Key),
}

impl Keystroke {
    /// `enter`, `up`, `down`, or any other word as text.
    pub fn parse_key(name: &str) -> Option<Key> {
        match name.to_ascii_lowercase().as_str() {
            "enter" => Some(Key::Enter),
            "up" => Some(Key::Up),
            "down" => Some(Key::Down),
            _ => None,
        }
    }
}

/// Answers what `session` shows (a dialog, a question the agent asked): types each keystroke
/// in order. A `session.answered` event that says how many keystrokes (not the text: it may
/// be private).
pub fn answer(
    ctx: &Context,
    model: &CityModel,
    session: &str,
    keys: &[Keystroke],
    actor: &str,
) -> Result<String> {
    if keys.is_empty() {
        return Err("nothing to type: give text and/or keys".into());
    }
    if !ctx.runtime.is_running(session)? {
        return Err(format!("{session} is not running").into());
    }
    for key in keys {
        match key {
            Keystroke::Text(text) => ctx.runtime.type_text(session, text)?,
            Keystroke::Key(key) => ctx.runtime.send_keys(session, *key, 1)?,
        }
    }
    let message = format!("answered {session} ({} keystroke(s))", keys.len());
    record(&model.dir, model, "session.answered", "Answered", session, message.clone(), actor);
    Ok(message)
}
