//! Whether an order is due: a pure function of its spec, its remembered state, the time and
//! what the executor observed (the condition check's result, the events after the cursor).
//! No I/O and no clock: tests pass the time in.
//!
//! The rules, per gate:
//! - **cooldown**: due when it never fired, else once `interval` has passed since it last fired.
//! - **cron**: due when a slot lies in (last slot considered, now]. A new order's first
//!   considered time is when it was first seen, so it never fires for slots before it existed;
//!   after an outage that missed several slots it fires once (for the latest), not a burst.
//! - **condition**: due when the check passed (the executor runs it and passes the result in).
//! - **event**: due when an event of the gate's type follows the cursor. One firing consumes
//!   one event (the earliest), so N events give N firings. Events caused by the order's own
//!   runs (beads it cooked, its own `order.*` events) never count.
//! - **manual**: never due by itself; `gc order run` fires it.
//!
//! Whatever the gate, an order with `enabled: false` never fires by itself, and an order whose
//! previous run still has open work is not due: its events and slots wait for the run to end.

use chrono::{DateTime, Utc};

use super::schedule::Schedule;
use super::state::OrderState;
use crate::api::order::{GateKind, OrderSpec};
use crate::events::Event;

/// How often a condition gate's check runs while it does not pass.
pub const CONDITION_EVERY: std::time::Duration = std::time::Duration::from_secs(15);

/// Why an order fires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A cooldown gate: it never ran, or its interval has passed.
    Cooldown {
        /// True on the first run ever.
        first: bool,
    },
    /// A cron gate reached `slot`.
    Cron {
        /// The slot fired for (the latest one passed).
        slot: DateTime<Utc>,
    },
    /// A condition gate's check exited 0.
    Condition,
    /// An event gate consumed the event `seq`.
    Event {
        /// The event consumed.
        seq: u64,
        /// Its type.
        event_type: String,
    },
    /// `gc order run`.
    Manual,
}

impl Reason {
    /// One line for people and for the `order.fired` event.
    pub fn describe(&self) -> String {
        match self {
            Reason::Cooldown { first: true } => "cooldown: first run".to_owned(),
            Reason::Cooldown { first: false } => "cooldown interval passed".to_owned(),
            Reason::Cron { slot } => format!("cron slot {}", rfc3339(*slot)),
            Reason::Condition => "condition check passed".to_owned(),
            Reason::Event { seq, event_type } => format!("event {event_type} #{seq}"),
            Reason::Manual => "run by hand (gc order run)".to_owned(),
        }
    }

    /// The event consumed, if any.
    pub fn event(&self) -> Option<(u64, &str)> {
        match self {
            Reason::Event { seq, event_type } => Some((*seq, event_type)),
            _ => None,
        }
    }

    /// Records the firing in `state`: when it fired and what it consumed (slot, event). The
    /// run counter and the current run are the executor's.
    pub fn consume(&self, state: &mut OrderState, now: DateTime<Utc>) {
        state.last_fired = Some(now);
        match self {
            Reason::Cron { slot } => state.last_slot = Some(*slot),
            Reason::Event { seq, .. } => state.event_cursor = state.event_cursor.max(*seq),
            _ => {}
        }
    }
}

/// How a condition check ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckOutcome {
    /// Exit status 0: due.
    Passed,
    /// Another exit status (`None`: killed by a signal).
    Failed(Option<i32>),
    /// Still running at its timeout; killed. Not due.
    TimedOut,
    /// It could not be run.
    Error(String),
}

/// One event after the cursor, as much of it as the planner needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventInput {
    /// Its position in the log.
    pub seq: u64,
    /// Its type (`bead.closed`).
    pub event_type: String,
    /// The order whose run caused it: the `gc.order` of the bead it is about, or the order
    /// it is about (`order.*` events).
    pub from_order: Option<String>,
}

impl EventInput {
    /// What the planner needs of `event`.
    pub fn of(event: &Event) -> EventInput {
        let from_order =
            event.payload.get("order").and_then(|v| v.as_str()).map(str::to_owned).or_else(|| {
                event
                    .object
                    .as_ref()
                    .filter(|o| o.kind == crate::api::Kind::Order)
                    .map(|o| o.name.clone())
            });
        EventInput { seq: event.seq, event_type: event.event_type.clone(), from_order }
    }
}

/// What the executor observed for one decision.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// The order's name (to ignore events its own runs caused).
    pub order: String,
    /// The condition check's result, when the executor ran it.
    pub condition: Option<CheckOutcome>,
    /// The events after the cursor, oldest first (all types: the planner filters).
    pub events: Vec<EventInput>,
}

/// What to remember although nothing fires: slots and events passed over.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Skip {
    /// Move the event cursor here (nothing before it can fire any more).
    pub event_cursor: Option<u64>,
    /// Record this cron slot as considered (passed while disabled).
    pub cron_slot: Option<DateTime<Utc>>,
}

impl Skip {
    /// Applies the skip to `state`.
    pub fn apply(&self, state: &mut OrderState) {
        if let Some(cursor) = self.event_cursor {
            state.event_cursor = state.event_cursor.max(cursor);
        }
        if let Some(slot) = self.cron_slot {
            state.last_slot = Some(state.last_slot.map_or(slot, |s| s.max(slot)));
        }
    }
}

/// The planner's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Fire now.
    Due {
        /// Why.
        reason: Reason,
    },
    /// Not now.
    NotDue {
        /// When to look again; `None` when only a change (an event, a run ending, an edit)
        /// can make it due.
        next_check: Option<DateTime<Utc>>,
        /// Why not, for people.
        why: String,
        /// What to remember anyway.
        skip: Skip,
    },
}

fn not_due(next_check: Option<DateTime<Utc>>, why: impl Into<String>) -> Decision {
    Decision::NotDue { next_check, why: why.into(), skip: Skip::default() }
}

/// Whether `pattern` (an event gate's `on`) matches `event_type`: equal, or a prefix ending in
/// `*` (`bead.*` matches `bead.closed`).
pub fn event_matches(pattern: &str, event_type: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => event_type.starts_with(prefix),
        None => pattern == event_type,
    }
}

/// Whether the executor should run the condition check before asking [`due`]: only when its
/// answer could fire the order.
pub fn wants_check(spec: &OrderSpec, state: &OrderState) -> bool {
    spec.enabled && spec.gate.condition.is_some() && state.current.is_none()
}

/// Whether `order` is due at `now`. See the module documentation for the rules.
pub fn due(spec: &OrderSpec, state: &OrderState, now: DateTime<Utc>, inputs: &Inputs) -> Decision {
    let Some(kind) = spec.gate.kind() else { return not_due(None, "the order has no gate") };
    if !spec.enabled {
        // Slots and events that pass while disabled are not fired later.
        let skip = Skip {
            event_cursor: inputs.events.iter().map(|e| e.seq).max(),
            cron_slot: spec
                .gate
                .cron
                .as_ref()
                .and_then(|c| Schedule::parse(&c.schedule).ok()?.latest_at_or_before(now)),
        };
        return Decision::NotDue { next_check: None, why: "disabled".to_owned(), skip };
    }
    if kind == GateKind::Manual {
        return not_due(None, "manual: fires only by `gc order run`");
    }
    if let Some(run) = &state.current {
        return not_due(None, format!("run {} still has open work", run.id));
    }
    match kind {
        GateKind::Cooldown => {
            let interval =
                spec.gate.cooldown.as_ref().map(|c| c.interval.get()).unwrap_or_default();
            let Some(last) = state.last_fired else {
                return Decision::Due { reason: Reason::Cooldown { first: true } };
            };
            let at =
                chrono::Duration::from_std(interval).ok().and_then(|i| last.checked_add_signed(i));
            match at {
                Some(at) if now < at => {
                    not_due(Some(at), format!("cooldown until {}", rfc3339(at)))
                }
                _ => Decision::Due { reason: Reason::Cooldown { first: false } },
            }
        }
        GateKind::Cron => {
            let text = spec.gate.cron.as_ref().map_or("", |c| c.schedule.as_str());
            let schedule = match Schedule::parse(text) {
                Ok(s) => s,
                Err(e) => return not_due(None, format!("invalid cron schedule `{text}`: {e}")),
            };
            let from = state.last_slot.unwrap_or(state.first_seen);
            match schedule.latest_at_or_before(now) {
                Some(slot) if slot > from => Decision::Due { reason: Reason::Cron { slot } },
                _ => match schedule.next_after(from.max(now)) {
                    Some(next) => not_due(Some(next), format!("next slot {}", rfc3339(next))),
                    None => not_due(None, format!("`{text}` has no future slot")),
                },
            }
        }
        GateKind::Condition => match &inputs.condition {
            Some(CheckOutcome::Passed) => Decision::Due { reason: Reason::Condition },
            Some(other) => {
                let why = match other {
                    CheckOutcome::Failed(Some(code)) => format!("check exited {code}"),
                    CheckOutcome::Failed(None) => "check killed by a signal".to_owned(),
                    CheckOutcome::TimedOut => "check timed out".to_owned(),
                    CheckOutcome::Error(e) => format!("check could not run: {e}"),
                    CheckOutcome::Passed => String::new(),
                };
                not_due(Some(after(now, CONDITION_EVERY)), why)
            }
            None => not_due(Some(now), "condition not checked yet"),
        },
        GateKind::Event => {
            let pattern = spec.gate.event.as_ref().map_or("", |e| e.on.as_str());
            let mut events: Vec<&EventInput> =
                inputs.events.iter().filter(|e| e.seq > state.event_cursor).collect();
            events.sort_by_key(|e| e.seq);
            let own = |e: &EventInput| e.from_order.as_deref() == Some(inputs.order.as_str());
            match events.iter().find(|e| event_matches(pattern, &e.event_type) && !own(e)) {
                Some(e) => Decision::Due {
                    reason: Reason::Event { seq: e.seq, event_type: e.event_type.clone() },
                },
                None => Decision::NotDue {
                    next_check: None,
                    why: format!("waiting for {pattern}"),
                    skip: Skip { event_cursor: events.last().map(|e| e.seq), cron_slot: None },
                },
            }
        }
        GateKind::Manual => not_due(None, "manual"),
    }
}

fn after(now: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d).ok().and_then(|d| now.checked_add_signed(d)).unwrap_or(now)
}

/// `2026-11-24T08:30:00Z`.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    crate::api::status::timestamp(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::order::{ConditionGate, CooldownGate, CronGate, EventGate, Gate, ManualGate};
    use crate::orders::state::{Run, RunAction};
    use chrono::TimeZone;

    fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, h, m, s).unwrap()
    }

    fn spec(gate: Gate) -> OrderSpec {
        OrderSpec { gate, exec: Some("true".into()), enabled: true, ..OrderSpec::default() }
    }

    fn cooldown(interval: &str) -> OrderSpec {
        spec(Gate {
            cooldown: Some(CooldownGate { interval: interval.parse().unwrap() }),
            ..Gate::default()
        })
    }

    fn cron(schedule: &str) -> OrderSpec {
        spec(Gate { cron: Some(CronGate { schedule: schedule.into() }), ..Gate::default() })
    }

    fn on(event: &str) -> OrderSpec {
        spec(Gate { event: Some(EventGate { on: event.into() }), ..Gate::default() })
    }

    fn state(first_seen: DateTime<Utc>) -> OrderState {
        OrderState::new("u", first_seen, 0)
    }

    fn inputs() -> Inputs {
        Inputs { order: "me".into(), ..Inputs::default() }
    }

    fn ev(seq: u64, event_type: &str, from_order: Option<&str>) -> EventInput {
        EventInput { seq, event_type: event_type.into(), from_order: from_order.map(Into::into) }
    }

    fn busy(state: &mut OrderState) {
        state.current = Some(Run {
            id: "1".into(),
            started: t(0, 0, 0),
            reason: String::new(),
            event_seq: None,
            action: RunAction::Molecule { root: "gc-1".into(), store_dir: "/s".into() },
        });
    }

    /// Fires like the executor would: consumes the reason, then the run ends at once.
    fn fire(
        spec: &OrderSpec,
        state: &mut OrderState,
        now: DateTime<Utc>,
        inputs: &Inputs,
    ) -> Option<Reason> {
        match due(spec, state, now, inputs) {
            Decision::Due { reason } => {
                reason.consume(state, now);
                Some(reason)
            }
            Decision::NotDue { skip, .. } => {
                skip.apply(state);
                None
            }
        }
    }

    #[test]
    fn cooldown_fires_at_once_then_after_each_interval() {
        let spec = cooldown("5m");
        let mut s = state(t(8, 0, 0));
        assert_eq!(
            fire(&spec, &mut s, t(8, 0, 0), &inputs()),
            Some(Reason::Cooldown { first: true })
        );
        match due(&spec, &s, t(8, 4, 59), &inputs()) {
            Decision::NotDue { next_check, .. } => assert_eq!(next_check, Some(t(8, 5, 0))),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            fire(&spec, &mut s, t(8, 5, 0), &inputs()),
            Some(Reason::Cooldown { first: false })
        );
    }

    #[test]
    fn cron_does_not_fire_for_slots_before_the_order_was_seen() {
        let spec = cron("*/15 * * * *");
        let mut s = state(t(8, 7, 0));
        match due(&spec, &s, t(8, 14, 59), &inputs()) {
            Decision::NotDue { next_check, .. } => assert_eq!(next_check, Some(t(8, 15, 0))),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            fire(&spec, &mut s, t(8, 15, 0), &inputs()),
            Some(Reason::Cron { slot: t(8, 15, 0) })
        );
        assert_eq!(fire(&spec, &mut s, t(8, 20, 0), &inputs()), None);
    }

    #[test]
    fn cron_after_an_outage_fires_once_for_the_latest_slot() {
        let spec = cron("*/15 * * * *");
        let mut s = state(t(8, 0, 0));
        s.last_slot = Some(t(8, 0, 0));
        // Down from 8:01 to 9:10: four slots missed, one catch-up run.
        assert_eq!(
            fire(&spec, &mut s, t(9, 10, 0), &inputs()),
            Some(Reason::Cron { slot: t(9, 0, 0) })
        );
        assert_eq!(fire(&spec, &mut s, t(9, 10, 1), &inputs()), None);
        assert_eq!(
            fire(&spec, &mut s, t(9, 15, 0), &inputs()),
            Some(Reason::Cron { slot: t(9, 15, 0) })
        );
    }

    #[test]
    fn cron_slots_passed_during_a_run_fire_once_when_it_ends() {
        let spec = cron("* * * * *");
        let mut s = state(t(8, 0, 0));
        busy(&mut s);
        assert_eq!(fire(&spec, &mut s, t(8, 3, 0), &inputs()), None);
        s.current = None;
        assert_eq!(
            fire(&spec, &mut s, t(8, 3, 30), &inputs()),
            Some(Reason::Cron { slot: t(8, 3, 0) })
        );
    }

    #[test]
    fn each_matching_event_fires_once_in_order() {
        let spec = on("bead.closed");
        let mut s = state(t(8, 0, 0));
        let events = vec![
            ev(3, "bead.created", None),
            ev(4, "bead.closed", None),
            ev(5, "bead.closed", None),
            ev(6, "session.started", None),
            ev(7, "bead.closed", None),
        ];
        let inputs = Inputs { events, ..inputs() };
        let mut fired = Vec::new();
        while let Some(reason) = fire(&spec, &mut s, t(8, 1, 0), &inputs) {
            fired.push(reason.event().unwrap().0);
        }
        assert_eq!(fired, [4, 5, 7]);
        assert_eq!(s.event_cursor, 7);
        assert_eq!(fire(&spec, &mut s, t(8, 1, 0), &inputs), None);
    }

    #[test]
    fn events_wait_while_a_run_is_open_and_are_not_dropped() {
        let spec = on("bead.closed");
        let mut s = state(t(8, 0, 0));
        busy(&mut s);
        let inputs = Inputs { events: vec![ev(4, "bead.closed", None)], ..inputs() };
        assert_eq!(fire(&spec, &mut s, t(8, 1, 0), &inputs), None);
        assert_eq!(s.event_cursor, 0);
        s.current = None;
        assert!(fire(&spec, &mut s, t(8, 1, 0), &inputs).is_some());
    }

    #[test]
    fn events_from_the_orders_own_runs_never_fire_it() {
        let spec = on("bead.*");
        let mut s = state(t(8, 0, 0));
        let events = vec![
            ev(4, "bead.closed", Some("me")),
            ev(5, "bead.created", Some("me")),
            ev(6, "bead.closed", Some("other")),
        ];
        let inputs = Inputs { events, ..inputs() };
        assert_eq!(
            fire(&spec, &mut s, t(8, 1, 0), &inputs).and_then(|r| r.event().map(|e| e.0)),
            Some(6)
        );
        assert_eq!(fire(&spec, &mut s, t(8, 1, 0), &inputs), None);
        assert_eq!(s.event_cursor, 6);
    }

    #[test]
    fn event_patterns_match_exactly_or_by_prefix() {
        assert!(event_matches("bead.closed", "bead.closed"));
        assert!(!event_matches("bead.closed", "bead.closed2"));
        assert!(event_matches("bead.*", "bead.created"));
        assert!(!event_matches("bead.*", "session.started"));
        assert!(event_matches("*", "anything"));
    }

    #[test]
    fn condition_fires_when_the_check_passes_and_rechecks_later_otherwise() {
        let spec = spec(Gate {
            condition: Some(ConditionGate { check: "test -e x".into(), timeout: None }),
            ..Gate::default()
        });
        let s = state(t(8, 0, 0));
        assert!(wants_check(&spec, &s));
        let passed = Inputs { condition: Some(CheckOutcome::Passed), ..inputs() };
        assert_eq!(
            due(&spec, &s, t(8, 0, 0), &passed),
            Decision::Due { reason: Reason::Condition }
        );
        for outcome in
            [CheckOutcome::Failed(Some(1)), CheckOutcome::TimedOut, CheckOutcome::Error("x".into())]
        {
            let failed = Inputs { condition: Some(outcome), ..inputs() };
            match due(&spec, &s, t(8, 0, 0), &failed) {
                Decision::NotDue { next_check, .. } => assert_eq!(next_check, Some(t(8, 0, 15))),
                other => panic!("{other:?}"),
            }
        }
        let mut running = s.clone();
        busy(&mut running);
        assert!(!wants_check(&spec, &running));
    }

    #[test]
    fn disabled_and_manual_orders_never_fire_by_themselves() {
        let mut disabled = cooldown("1s");
        disabled.enabled = false;
        let mut s = state(t(8, 0, 0));
        assert_eq!(fire(&disabled, &mut s, t(9, 0, 0), &inputs()), None);

        let mut cron_off = cron("0 * * * *");
        cron_off.enabled = false;
        assert_eq!(fire(&cron_off, &mut s, t(9, 30, 0), &inputs()), None);
        // Slots passed while disabled are not fired on re-enabling.
        assert_eq!(s.last_slot, Some(t(9, 0, 0)));
        assert_eq!(fire(&cron("0 * * * *"), &mut s, t(9, 30, 0), &inputs()), None);

        let manual = spec(Gate { manual: Some(ManualGate {}), ..Gate::default() });
        assert_eq!(fire(&manual, &mut s, t(9, 0, 0), &inputs()), None);
    }

    #[test]
    fn a_gate_that_cannot_be_evaluated_is_not_due_and_does_not_panic() {
        let s = state(t(8, 0, 0));
        assert!(matches!(
            due(&spec(Gate::default()), &s, t(8, 0, 0), &inputs()),
            Decision::NotDue { .. }
        ));
        assert!(matches!(due(&cron("nope"), &s, t(8, 0, 0), &inputs()), Decision::NotDue { .. }));
        assert!(matches!(
            due(&cron("0 0 30 2 *"), &s, t(8, 0, 0), &inputs()),
            Decision::NotDue { .. }
        ));
    }
}
