//! Leases on claimed work: which beads in progress go back to ready (or are parked) because
//! their holder has had no running session for the grace period. Pure; the sweep
//! ([`super::lease_sweep`]) reads the stores and sessions and carries the plan out.
//!
//! A holder is an agent or pool member (`worker`, `worker-2`) that claimed a bead. Its lease
//! lasts while its session runs, and for `grace` after the session was last seen running: a
//! crash restart, or a controller restart, within the grace keeps the bead. Past it the bead
//! goes back to ready, one attempt more; the attempt that reaches `maxAttempts` parks it
//! instead (blocked, with one escalation), so work that kills every session that takes it
//! stops costing sessions.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value, json};

use crate::beads::BeadUpdate;
use crate::beads::model::status;

/// Metadata key: how many times the bead was taken back from a holder that was gone.
pub const ATTEMPTS: &str = "gc.attempts";
/// Metadata key: the holders the bead was taken back from, oldest first. None of them may
/// close it unless it holds it again.
pub const TAKEN_FROM: &str = "gc.taken_from";
/// Metadata key: why the bead is parked (present exactly while it is parked).
pub const PARKED: &str = "gc.parked";

/// The lease settings in force for one bead store (the City's, or a rig's own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// How long a holder may be gone; `None` never takes work back.
    pub grace: Option<Duration>,
    /// The attempt that parks a bead; 0 never parks.
    pub max_attempts: u32,
}

impl Policy {
    /// The City's `leases`, with `rig`'s own settings over them.
    pub fn of(
        city: &crate::api::city::LeaseSpec,
        rig: Option<&crate::api::rig::RigLeaseSpec>,
    ) -> Policy {
        let grace = rig.and_then(|r| r.grace).unwrap_or(city.grace).get();
        Policy {
            grace: (!grace.is_zero()).then_some(grace),
            max_attempts: rig.and_then(|r| r.max_attempts).unwrap_or(city.max_attempts),
        }
    }
}

/// A bead in progress held by one of the city's agents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// The bead.
    pub id: String,
    /// Its title, for messages.
    pub title: String,
    /// The actor holding it (`worker-2`).
    pub holder: String,
    /// The agent the holder is (a member of).
    pub agent: String,
    /// The holder's session.
    pub session: String,
    /// Times it was taken back before.
    pub attempts: u32,
    /// Whether it is routed to an agent already (`gc.routed_to`).
    pub routed: bool,
    /// The holders it was taken back from before.
    pub taken_from: Vec<String>,
}

impl Held {
    /// `bead` as held by `holder`, session `session` of `agent`.
    pub fn new(bead: crate::beads::Bead, agent: &str, session: String) -> Held {
        Held {
            attempts: attempts_of(&bead.metadata),
            routed: bead.meta_str(crate::work::ROUTED_TO).is_some(),
            taken_from: taken_from(&bead),
            holder: bead.assignee,
            id: bead.id,
            title: bead.title,
            agent: agent.to_owned(),
            session,
        }
    }
}

/// The attempts a bead's metadata records.
pub fn attempts_of(metadata: &Map<String, Value>) -> u32 {
    metadata.get(ATTEMPTS).and_then(Value::as_u64).map_or(0, |n| n.min(u32::MAX as u64) as u32)
}

/// The holders `bead` was taken back from.
pub fn taken_from(bead: &crate::beads::Bead) -> Vec<String> {
    let list = bead.metadata.get(TAKEN_FROM).and_then(Value::as_array);
    list.into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect()
}

/// Since when each holder's session has been gone, as far as this controller knows: from
/// the first sweep that found it missing, or from when it was last known running if that is
/// later (it came back and went again between two sweeps). Kept by the sweep from one pass to
/// the next, in memory: a new controller gives every holder the whole grace again, never less.
#[derive(Clone, Debug, Default)]
pub struct Absences {
    since: BTreeMap<String, SystemTime>,
}

impl Absences {
    /// Notes which of `holders`' sessions run now (`running`), and when each was last known
    /// running (`last_running`); sessions no longer holding anything are forgotten.
    pub fn observe<'a>(
        &mut self,
        holders: impl IntoIterator<Item = &'a str>,
        running: &BTreeSet<String>,
        last_running: &BTreeMap<String, SystemTime>,
        now: SystemTime,
    ) {
        let holders: BTreeSet<&str> = holders.into_iter().collect();
        self.since.retain(|session, _| holders.contains(session.as_str()));
        for session in holders {
            if running.contains(session) {
                self.since.remove(session);
                continue;
            }
            let since = self.since.entry(session.to_owned()).or_insert(now);
            if let Some(at) = last_running.get(session).filter(|at| **at > *since) {
                *since = *at;
            }
        }
    }

    /// How long `session` has been absent at `now` (`None` while it runs).
    pub fn absent_for(&self, session: &str, now: SystemTime) -> Option<Duration> {
        self.since.get(session).map(|since| now.duration_since(*since).unwrap_or_default())
    }
}

/// What to do with one held bead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseAction {
    /// Back to ready for another session: the holder's `attempt`-th loss of it.
    Reclaim {
        /// The bead.
        bead: Held,
        /// Its attempt count after this.
        attempt: u32,
        /// How long the holder has been gone.
        absent_for: Duration,
    },
    /// Parked: blocked, not retried, one escalation.
    Park {
        /// The bead.
        bead: Held,
        /// Its attempt count after this (`maxAttempts`).
        attempts: u32,
        /// How long the holder has been gone.
        absent_for: Duration,
    },
}

impl LeaseAction {
    /// The bead acted on.
    pub fn bead(&self) -> &Held {
        match self {
            LeaseAction::Reclaim { bead, .. } | LeaseAction::Park { bead, .. } => bead,
        }
    }

    /// The change that carries it out, applied only while the holder still holds the bead
    /// (see [`crate::beads::BeadStore::update_if_held`]).
    pub fn change(&self) -> BeadUpdate {
        let (bead, attempts, new_status) = match self {
            LeaseAction::Reclaim { bead, attempt, .. } => (bead, *attempt, status::OPEN),
            LeaseAction::Park { bead, attempts, .. } => (bead, *attempts, status::BLOCKED),
        };
        let mut metadata = Map::new();
        metadata.insert(ATTEMPTS.into(), json!(attempts));
        let mut taken_from = bead.taken_from.clone();
        if !taken_from.contains(&bead.holder) {
            taken_from.push(bead.holder.clone());
        }
        metadata.insert(TAKEN_FROM.into(), json!(taken_from));
        // Routed back to the holder's agent, so one of its sessions (any pool member) takes
        // it: a bead claimed straight from `bd ready` has no route of its own.
        if !bead.routed {
            metadata.insert(crate::work::ROUTED_TO.into(), json!(bead.agent));
        }
        if let LeaseAction::Park { absent_for, .. } = self {
            metadata.insert(PARKED.into(), json!(self.parked_reason(*absent_for)));
        }
        BeadUpdate {
            status: Some(new_status.to_owned()),
            assignee: Some(String::new()),
            set_metadata: metadata,
            ..BeadUpdate::default()
        }
    }

    fn parked_reason(&self, absent_for: Duration) -> String {
        let bead = self.bead();
        format!(
            "taken back {} times from sessions that were gone; the last holder, {}, had no \
             session for {}",
            match self {
                LeaseAction::Park { attempts, .. } => *attempts,
                LeaseAction::Reclaim { attempt, .. } => *attempt,
            },
            bead.holder,
            super::agent::human(absent_for),
        )
    }
}

/// The plan for `held` (the beads of one store, under `policy`): each bead whose holder has
/// been absent for the grace or longer is reclaimed or parked.
pub fn plan(
    held: &[Held],
    absences: &Absences,
    policy: Policy,
    now: SystemTime,
) -> Vec<LeaseAction> {
    let Some(grace) = policy.grace else { return Vec::new() };
    let mut actions = Vec::new();
    for bead in held {
        let Some(absent_for) = absences.absent_for(&bead.session, now) else { continue };
        if absent_for < grace {
            continue;
        }
        let attempt = bead.attempts.saturating_add(1);
        let bead = bead.clone();
        actions.push(if policy.max_attempts > 0 && attempt >= policy.max_attempts {
            LeaseAction::Park { bead, attempts: attempt, absent_for }
        } else {
            LeaseAction::Reclaim { bead, attempt, absent_for }
        });
    }
    actions
}

#[cfg(test)]
#[path = "lease_tests.rs"]
mod tests;
