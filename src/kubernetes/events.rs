//! gc's events as Kubernetes Events on the custom resources they are about, so `kubectl
//! describe agent worker` and `kubectl events` show what gc's own log (`.gc/events.jsonl`)
//! records.
//!
//! Split like every gc controller: [`kube_event`] is the pure mapping (which gc events become
//! Events, their type, reason, note and the object they regard), and [`EventSink`] publishes
//! them through kube-runtime's [`Recorder`] as `events.k8s.io/v1` Events reported by
//! `gc-controller`.
//!
//! Nothing is added to what gc's event says: its message was masked when it was recorded, and
//! the Event carries that message and nothing else of the payload, so no secret reaches the
//! cluster's events through here.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use serde::Deserialize;
use serde_json::Value;

use crate::api::Kind;
use crate::events::Event as GcEvent;
use crate::kubernetes::mirror::api_resource;

/// The reporting controller named in every Event gc records (`reportingController`).
pub const REPORTING_CONTROLLER: &str = "gc-controller";

/// Longest `reason` and `action` the API server accepts, in bytes.
pub const REASON_LIMIT: usize = 128;

/// Longest `note` the API server accepts, in bytes.
pub const NOTE_LIMIT: usize = 1024;

/// Words of a gc event type that mark something gone wrong, which Kubernetes shows as a
/// `Warning` (`session.crashed`, `rig.clone_failed`, `nudge.dead`, `budget.exceeded`,
/// `rig.not_git_repo`, …). Everything else is `Normal`.
const WARNING_WORDS: &[&str] = &[
    "failed",
    "failure",
    "crash",
    "crashed",
    "blocked",
    "quarantined",
    "damaged",
    "dead",
    "exceeded",
    "missing",
    "invalid",
    "warning",
    "not",
];

/// The Kubernetes Event for a gc event (a JSON object of `.gc/events.jsonl`), with the
/// reference to the custom resource in `namespace` it regards; `None` when it becomes no
/// Event: it is about no object (city- and controller-level events), or it is not a gc event.
///
/// - `type`: `Warning` when the gc type says something failed (see the words above), else
///   `Normal`.
/// - `reason`: gc's reason (one CamelCase word already), made CamelCase if it is not, or the
///   type in CamelCase (`session.crashed` → `SessionCrashed`) when it has none; at most 128
///   bytes.
/// - `action`: gc's event type as it is (`session.crashed`), so an Event can be traced back to
///   gc's log; at most 128 bytes.
/// - `note`: gc's message, cut to 1 KiB (ending in `…` when cut); none when empty.
/// - the reference: apiVersion `gascity.dev/v1alpha1`, the kind, name and `namespace`, no uid
///   (the gc event does not know it; [`EventSink::record`] adds it).
pub fn kube_event(gc_event: &Value, namespace: &str) -> Option<(ObjectReference, Event)> {
    let event = GcEvent::deserialize(gc_event).ok()?;
    let object = event.object.as_ref()?;
    let reason = Some(camel_case(&event.reason))
        .filter(|r| !r.is_empty())
        .or_else(|| Some(camel_case(&event.event_type)).filter(|r| !r.is_empty()))
        .unwrap_or_else(|| "Event".to_owned());
    let action =
        if event.event_type.is_empty() { reason.clone() } else { event.event_type.clone() };
    let event_type =
        if is_warning(&event.event_type) { EventType::Warning } else { EventType::Normal };
    let note = (!event.message.is_empty()).then(|| cut(&event.message, NOTE_LIMIT));
    Some((
        reference(object.kind, &object.name, namespace, None),
        Event {
            type_: event_type,
            reason: cut(&reason, REASON_LIMIT),
            note,
            action: cut(&action, REASON_LIMIT),
            secondary: None,
        },
    ))
}

/// The reference to `kind`/`name` in `namespace` an Event regards. `uid` is what
/// `kubectl describe` matches an object's Events by: without it the Event is listed by
/// `kubectl events --for` and `kubectl get events`, but not under the object.
pub fn reference(kind: Kind, name: &str, namespace: &str, uid: Option<&str>) -> ObjectReference {
    let resource = api_resource(kind);
    ObjectReference {
        api_version: Some(resource.api_version),
        kind: Some(resource.kind),
        name: Some(name.to_owned()),
        namespace: Some(namespace.to_owned()),
        uid: uid.map(str::to_owned),
        ..Default::default()
    }
}

/// Whether a gc event type names a failure.
fn is_warning(event_type: &str) -> bool {
    event_type
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|word| WARNING_WORDS.contains(&word.to_ascii_lowercase().as_str()))
}

/// `text` as one CamelCase word: split at anything but ASCII letters and digits, each part
/// starting upper-case (the rest kept as written, so `ProcessExited` stays as it is).
fn camel_case(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .flat_map(|word| {
            let mut chars = word.chars();
            chars.next().map(|first| first.to_ascii_uppercase()).into_iter().chain(chars)
        })
        .collect()
}

/// `text` cut to at most `limit` bytes on a character boundary, ending in `…` when cut.
fn cut(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    const ELLIPSIS: &str = "…";
    let mut end = limit.saturating_sub(ELLIPSIS.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ELLIPSIS}", &text[..end])
}

/// What [`EventSink::record`] did with a gc event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// An Event was published (created, or counted into the series of an identical one).
    Published,
    /// The gc event becomes no Event (see [`kube_event`]); nothing was sent.
    Skipped,
}

/// Why an Event could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The API server refused the Event or could not be reached (forbidden: the
    /// ServiceAccount lacks `create`/`patch` on `events.k8s.io` events; invalid; a server
    /// error). Events are a courtesy to people reading the cluster: gc's own log holds the
    /// event regardless, so callers log this and carry on.
    #[error("could not record event {reason} for {kind} {name}")]
    Publish {
        /// The kind of the object the Event regards.
        kind: String,
        /// Its name.
        name: String,
        /// The Event's reason.
        reason: String,
        /// What the client reported.
        #[source]
        source: kube::Error,
    },
}

/// Publishes gc's events as Kubernetes Events on the custom resources of one namespace.
///
/// **Warning:** kube-runtime's [`Recorder`] folds a repeat of an Event it published in the
/// last few minutes — same type, reason, action and object — into a series: it patches the
/// first Event's `series.count` instead of creating a new Event, and keeps the first Event's
/// note. A gc event repeated with a different message shows in the cluster with the first
/// message and a count; gc's own log has every message. (This is how Kubernetes' own
/// controllers aggregate Events.)
#[derive(Clone)]
pub struct EventSink {
    recorder: Recorder,
    namespace: String,
}

impl EventSink {
    /// A sink publishing to `namespace` as [`REPORTING_CONTROLLER`], instance `instance` (the
    /// pod's name, `POD_NAME` in the Deployment, so Events say which replica recorded them;
    /// cut to the API server's 128 bytes).
    pub fn new(client: Client, namespace: impl Into<String>, instance: &str) -> Self {
        let reporter = Reporter {
            controller: REPORTING_CONTROLLER.to_owned(),
            instance: Some(cut(instance, REASON_LIMIT)),
        };
        Self { recorder: Recorder::new(client, reporter), namespace: namespace.into() }
    }

    /// Publishes the Event for `gc_event` (see [`kube_event`]), regarding the object with
    /// `uid` when the caller knows it (the controller does, from the object it mirrors;
    /// see [`reference()`] for why it matters).
    pub async fn record(
        &self,
        gc_event: &Value,
        uid: Option<&str>,
    ) -> Result<Recorded, EventError> {
        let Some((mut regarding, event)) = kube_event(gc_event, &self.namespace) else {
            return Ok(Recorded::Skipped);
        };
        regarding.uid = uid.map(str::to_owned);
        self.recorder.publish(&event, &regarding).await.map_err(|source| EventError::Publish {
            kind: regarding.kind.clone().unwrap_or_default(),
            name: regarding.name.clone().unwrap_or_default(),
            reason: event.reason.clone(),
            source,
        })?;
        Ok(Recorded::Published)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn gc_event(event_type: &str, reason: &str, message: &str) -> Value {
        json!({
            "seq": 7, "ts": "2026-11-24T08:30:00.125Z", "type": event_type,
            "object": {"kind": "Agent", "name": "worker"},
            "reason": reason, "message": message, "actor": "controller",
            "payload": {"exitCode": 1},
        })
    }

    #[test]
    fn a_crash_becomes_a_warning_on_the_agent_it_names() {
        let (regarding, event) = kube_event(
            &gc_event("session.crashed", "ProcessExited", "session gc-town-worker exited"),
            "gascity",
        )
        .unwrap();
        assert_eq!(
            regarding,
            ObjectReference {
                api_version: Some("gascity.dev/v1alpha1".into()),
                kind: Some("Agent".into()),
                name: Some("worker".into()),
                namespace: Some("gascity".into()),
                ..Default::default()
            }
        );
        assert_eq!(event.type_, EventType::Warning);
        assert_eq!(event.reason, "ProcessExited");
        assert_eq!(event.action, "session.crashed");
        assert_eq!(event.note.as_deref(), Some("session gc-town-worker exited"));
        assert!(event.secondary.is_none());
    }

    #[test]
    fn failures_are_warnings_and_the_rest_normal() {
        for warning in [
            "session.crashed",
            "rig.clone_failed",
            "session.blocked",
            "session.quarantined",
            "nudge.dead",
            "budget.exceeded",
            "rig.not_git_repo",
            "agent.reconcile_failed",
        ] {
            let (_, event) = kube_event(&gc_event(warning, "X", "m"), "ns").unwrap();
            assert_eq!(event.type_, EventType::Warning, "{warning}");
        }
        for normal in ["session.started", "resource.created", "rig.ready", "order.completed"] {
            let (_, event) = kube_event(&gc_event(normal, "X", "m"), "ns").unwrap();
            assert_eq!(event.type_, EventType::Normal, "{normal}");
        }
    }

    #[test]
    fn events_about_no_object_or_not_from_gc_become_none() {
        let mut city_level = gc_event("controller.started", "Started", "up");
        city_level.as_object_mut().unwrap().remove("object");
        assert!(kube_event(&city_level, "ns").is_none());
        assert!(kube_event(&json!({"type": "x"}), "ns").is_none());
        assert!(kube_event(&json!("agent/worker"), "ns").is_none());
    }

    #[test]
    fn the_older_kind_slash_name_object_is_read_too() {
        let mut old = gc_event("rig.ready", "Ready", "ok");
        old["object"] = json!("rig/api");
        let (regarding, _) = kube_event(&old, "ns").unwrap();
        assert_eq!(regarding.kind.as_deref(), Some("Rig"));
        assert_eq!(regarding.name.as_deref(), Some("api"));
    }

    #[test]
    fn reasons_are_one_camel_case_word_of_at_most_128_bytes() {
        let reason =
            |r: &str| kube_event(&gc_event("session.crashed", r, "m"), "ns").unwrap().1.reason;
        assert_eq!(reason("ProcessExited"), "ProcessExited");
        assert_eq!(reason("crash loop"), "CrashLoop");
        assert_eq!(reason(""), "SessionCrashed");
        let long = reason(&"Word".repeat(100));
        assert!(long.len() <= REASON_LIMIT, "{}", long.len());
        assert!(long.starts_with("WordWord"));
    }

    #[test]
    fn notes_are_cut_to_one_kibibyte_on_a_character_boundary() {
        let message = "é".repeat(1000);
        let (_, event) =
            kube_event(&gc_event("session.started", "Started", &message), "ns").unwrap();
        let note = event.note.unwrap();
        assert!(note.len() <= NOTE_LIMIT, "{}", note.len());
        assert!(note.ends_with('…'));
        let (_, event) = kube_event(&gc_event("session.started", "Started", ""), "ns").unwrap();
        assert!(event.note.is_none());
    }

    #[test]
    fn nothing_of_the_payload_or_actor_reaches_the_event() {
        let mut secret = gc_event("session.started", "Started", "started worker");
        secret["payload"] = json!({"token": "hunter2"});
        secret["actor"] = json!("hunter2");
        let (regarding, event) = kube_event(&secret, "ns").unwrap();
        let shown = format!("{regarding:?} {} {} {:?}", event.reason, event.action, event.note);
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
