//! `gc session reset`: lift crash-loop quarantines and clear restart counts (and with
//! `--fresh` ask for a fresh conversation), then tell the controller to look again.

use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::controllers::crash_ledger::{CrashLedger, CrashRecord};
use crate::controllers::launch::{is_session_of, session_name};
use crate::controllers::model::CityModel;
use crate::runtime::validate_name;

/// Resets the sessions `name` stands for; returns one line per session (recorded as a
/// `session.reset` event each).
pub fn run(
    city_dir: &Path,
    model: &CityModel,
    name: &str,
    fresh: bool,
    actor: &str,
) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let mut lines = Vec::new();
    let ledger = CrashLedger::new(city_dir);
    let mut sessions = targets(model, &ledger, name)?;
    if fresh {
        // A pool's members that run now, besides those the ledger knows.
        let city = model.city_name();
        if model.agents.get(name).is_some_and(|a| a.spec.scaling.is_some()) {
            let runtime = crate::controllers::reconcile::runtime_for(model)?;
            for info in runtime.list(&model.session_prefix())? {
                if is_session_of(&city, name, &info.name) && !sessions.contains(&info.name) {
                    sessions.push(info.name);
                }
            }
        }
        for session in &sessions {
            crate::controllers::holds::Marks::fresh(city_dir).set(session)?;
            lines.push(format!(
                "{session}: its next start (a restart now, if it runs) begins a fresh conversation"
            ));
        }
    }
    let now = SystemTime::now();
    if sessions.is_empty() {
        lines.push(format!("{name}: nothing to reset"));
    }
    let mut events = Vec::new();
    for session in sessions {
        let was = ledger.reset(&session, now)?;
        let line = describe(&session, was.as_ref(), now);
        let mut event = crate::events::Event::new("session.reset", "Reset", line.clone())
            .payload(serde_json::json!({"session": session, "fresh": fresh}));
        if let Some(agent) = super::owner(model, &session) {
            event = event.object(crate::api::Kind::Agent, agent);
        }
        events.push(event);
        lines.push(line);
    }
    crate::events::append(city_dir, events, actor)?;
    // The ledger lives outside the store: ask the controller to look at every agent again.
    crate::notify::request(city_dir, "reload", Duration::from_secs(2));
    Ok(lines)
}

/// The sessions `name` stands for: an agent's only session, every session of a pool agent
/// that the ledger holds a record of, or a session by name.
fn targets(
    model: &CityModel,
    ledger: &CrashLedger,
    name: &str,
) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let city = model.city_name();
    if let Some(agent) = model.agents.get(name) {
        if agent.spec.scaling.is_none() {
            return Ok(vec![session_name(&city, name, 0)]);
        }
        let records = ledger.load()?;
        return Ok(records.into_keys().filter(|s| is_session_of(&city, name, s)).collect());
    }
    // A session of an agent deleted since it was quarantined can still be reset by name.
    if validate_name(name).is_ok()
        && (model.agents.keys().any(|agent| is_session_of(&city, agent, name))
            || ledger.load()?.contains_key(name))
    {
        return Ok(vec![name.to_owned()]);
    }
    let agents: Vec<&str> = model.agents.keys().map(String::as_str).collect();
    let known = if agents.is_empty() {
        "no agents are applied".to_owned()
    } else {
        format!("agents: {}", agents.join(", "))
    };
    Err(format!("no agent or session `{name}` in city `{city}` ({known})").into())
}

/// What resetting `session` lifted, from its record as it was.
fn describe(session: &str, was: Option<&CrashRecord>, now: SystemTime) -> String {
    match was {
        Some(record) if record.is_quarantined(now) => {
            let until = record.quarantined_until.map(|until| clock(until, now));
            let was = match (&record.quarantine_reason, until) {
                (Some(reason), Some(until)) => format!("{reason}, until {until}"),
                (Some(reason), None) => reason.clone(),
                (None, Some(until)) => format!("until {until}"),
                (None, None) => "quarantined".to_owned(),
            };
            format!("{session}: quarantine lifted (was: {was}); restart count cleared")
        }
        Some(record) => {
            format!("{session}: not quarantined; restart count ({}) cleared", record.restarts.len())
        }
        None => format!("{session}: nothing to reset"),
    }
}

/// `14:03:10Z` for a time today (UTC), else with its date.
fn clock(at: SystemTime, now: SystemTime) -> String {
    let at = chrono::DateTime::<chrono::Utc>::from(at);
    let today = chrono::DateTime::<chrono::Utc>::from(now).date_naive();
    if at.date_naive() == today {
        at.format("%H:%M:%SZ").to_string()
    } else {
        at.format("%Y-%m-%d %H:%M:%SZ").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> SystemTime {
        chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap().into()
    }

    #[test]
    fn a_lifted_quarantine_says_why_and_until_when() {
        let now = at("2026-11-02T13:10:00Z");
        let record = CrashRecord {
            restarts: vec![now; 5],
            quarantined_until: Some(at("2026-11-02T14:03:10Z")),
            quarantined_at: Some(at("2026-11-02T13:03:10Z")),
            quarantine_reason: Some("5 restarts within 1h".to_owned()),
        };
        assert_eq!(
            describe("gc-town-worker-1", Some(&record), now),
            "gc-town-worker-1: quarantine lifted (was: 5 restarts within 1h, until 14:03:10Z); \
             restart count cleared"
        );
        let tomorrow = CrashRecord {
            quarantined_until: Some(at("2026-11-03T01:00:00Z")),
            quarantine_reason: None,
            ..record
        };
        assert_eq!(
            describe("s", Some(&tomorrow), now),
            "s: quarantine lifted (was: until 2026-11-03 01:00:00Z); restart count cleared"
        );
    }

    #[test]
    fn restarts_without_a_quarantine_are_counted_and_nothing_is_nothing() {
        let now = at("2026-11-02T13:10:00Z");
        let ended = CrashRecord {
            restarts: vec![now, now],
            quarantined_until: Some(at("2026-11-02T13:00:00Z")),
            ..CrashRecord::default()
        };
        assert_eq!(
            describe("s", Some(&ended), now),
            "s: not quarantined; restart count (2) cleared"
        );
        assert_eq!(describe("s", None, now), "s: nothing to reset");
    }
}
