//! The per-session nudge queue: nudges waiting for their agent to be idle, on disk
//! (`.gc/state/nudge/<session>.queue.json`, written atomically under a lock), so they survive
//! a controller restart and keep their order.
//!
//! A queued nudge is drained once, by whichever comes first: the controller, which types it
//! into the idle session as its own turn, or the agent CLI's prompt hook, which puts every
//! queued nudge into the turn a person (or anything but gc) just submitted. Each nudge moves
//! `queued → sending → delivered` (or back to `queued` when a delivery is abandoned before it
//! was typed), or `queued → dead` at its deadline. While a nudge is being typed the hook takes
//! nothing: the prompt it sees is that nudge, and the others get turns of their own.
//!
//! [`NudgeQueue`] holds the decisions (pure, given the time); [`Queues`] reads and writes the
//! files and records the events.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How many finished (delivered or dead) nudges a session's queue remembers for `gc nudge
/// status`.
const HISTORY: usize = 50;

/// A prompt matching a nudge the controller typed this long ago is taken to be that nudge
/// (the CLI ran its prompt hook late), not a person's turn.
const ECHO: Duration = Duration::from_secs(60);

/// Who delivered a nudge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Drainer {
    /// The controller typed it as a turn of its own.
    Controller,
    /// The CLI's prompt hook put it into a submitted turn.
    Hook,
    /// A sender typed it before it ever waited in the queue.
    Sender,
}

/// Where a nudge is in its life.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum NudgeState {
    /// Waiting for the session to be idle.
    Queued,
    /// Being typed by a drainer (its pid and process start time: a drainer that died leaves
    /// its nudge to be queued again).
    Sending {
        /// The drainer's pid.
        pid: u32,
        /// Its start time (`/proc/<pid>/stat`), to tell it from a later process with its pid.
        start: Option<u64>,
    },
    /// Reached the agent.
    Delivered {
        /// When.
        at: DateTime<Utc>,
        /// How.
        by: Drainer,
    },
    /// Never delivered: past its deadline, or the CLI would not take it.
    Dead {
        /// When it was given up.
        at: DateTime<Utc>,
        /// Why.
        reason: String,
    },
}

/// One nudge in a session's queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueuedNudge {
    /// `n<seq>`, unique within the session's queue.
    pub id: String,
    /// The text, typed literally.
    pub text: String,
    /// Who sent it (`gc session nudge`, `controller`, an agent).
    pub from: String,
    /// The agent of the session, when the sender knew it (events are about it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The bead it announces (the controller's nudges about ready work).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bead: Option<String>,
    /// When it was queued.
    pub queued_at: DateTime<Utc>,
    /// When it is dead-lettered if still not delivered.
    pub expires_at: DateTime<Utc>,
    /// Its state.
    #[serde(flatten)]
    pub state: NudgeState,
}

impl QueuedNudge {
    /// Whether it still waits to be delivered (queued or being typed).
    pub fn is_pending(&self) -> bool {
        matches!(self.state, NudgeState::Queued | NudgeState::Sending { .. })
    }
}

/// A session's queue, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NudgeQueue {
    /// The number the next nudge gets.
    #[serde(default)]
    pub next: u64,
    /// Pending nudges and the last [`HISTORY`] finished ones, in the order they were queued.
    #[serde(default)]
    pub nudges: Vec<QueuedNudge>,
    /// The beads this session was told about (by a controller announcement or a sling's
    /// nudge), latest last: each is announced once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub announced: Vec<String>,
}

/// How many announced beads a queue remembers.
const ANNOUNCED: usize = 200;

/// What a drainer reports about a nudge it claimed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Typed and taken.
    Delivered,
    /// Not typed after all (the session went busy or away): back in the queue, in its place.
    Requeue,
    /// Typed but not taken, or otherwise lost: dead-lettered with this reason.
    Dead(String),
}

/// What a new nudge says besides its text.
#[derive(Clone, Debug, Default)]
pub struct NudgeMeta {
    /// Who sends it.
    pub from: String,
    /// The session's agent, if known.
    pub agent: Option<String>,
    /// The bead it announces, if any.
    pub bead: Option<String>,
}

impl NudgeQueue {
    /// Appends a nudge that dies at `now + ttl`.
    pub fn push(
        &mut self,
        text: &str,
        meta: NudgeMeta,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> QueuedNudge {
        self.next += 1;
        let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(3650));
        let nudge = QueuedNudge {
            id: format!("n{}", self.next),
            text: text.to_owned(),
            from: meta.from,
            agent: meta.agent,
            bead: meta.bead,
            queued_at: now,
            expires_at: now.checked_add_signed(ttl).unwrap_or(DateTime::<Utc>::MAX_UTC),
            state: NudgeState::Queued,
        };
        self.nudges.push(nudge.clone());
        nudge
    }

    /// Whether a nudge waits in the queue (not one being typed).
    pub fn has_queued(&self) -> bool {
        self.nudges.iter().any(|n| n.state == NudgeState::Queued)
    }

    /// Dead-letters every queued nudge past its deadline; returns them.
    pub fn expire(&mut self, now: DateTime<Utc>) -> Vec<QueuedNudge> {
        let mut dead = Vec::new();
        for nudge in &mut self.nudges {
            if nudge.state == NudgeState::Queued && nudge.expires_at <= now {
                nudge.state = NudgeState::Dead { at: now, reason: "expired in the queue".into() };
                dead.push(nudge.clone());
            }
        }
        dead
    }

    /// Queues again the nudges whose drainer is gone (`alive` says which pids still run).
    /// Returns how many.
    pub fn recover(&mut self, alive: impl Fn(u32, Option<u64>) -> bool) -> usize {
        let mut recovered = 0;
        for nudge in &mut self.nudges {
            if let NudgeState::Sending { pid, start } = nudge.state
                && !alive(pid, start)
            {
                nudge.state = NudgeState::Queued;
                recovered += 1;
            }
        }
        recovered
    }

    /// Marks the oldest queued nudge as being sent by `pid` and returns it; `None` while
    /// another is being sent (one at a time, in order) or when none waits.
    pub fn claim(&mut self, pid: u32, start: Option<u64>) -> Option<QueuedNudge> {
        if self.nudges.iter().any(|n| matches!(n.state, NudgeState::Sending { .. })) {
            return None;
        }
        let nudge = self.nudges.iter_mut().find(|n| n.state == NudgeState::Queued)?;
        nudge.state = NudgeState::Sending { pid, start };
        Some(nudge.clone())
    }

    /// Records how the delivery of a claimed nudge ended; returns the nudge when it was still
    /// being sent (`None`: the id is unknown or it was not claimed).
    pub fn finish(
        &mut self,
        id: &str,
        outcome: &Outcome,
        now: DateTime<Utc>,
    ) -> Option<QueuedNudge> {
        let nudge = self.nudges.iter_mut().find(|n| n.id == id)?;
        if !matches!(nudge.state, NudgeState::Sending { .. }) {
            return None;
        }
        nudge.state = match outcome {
            Outcome::Delivered => NudgeState::Delivered { at: now, by: Drainer::Controller },
            Outcome::Requeue => NudgeState::Queued,
            Outcome::Dead(reason) => NudgeState::Dead { at: now, reason: reason.clone() },
        };
        Some(nudge.clone())
    }

    /// What the prompt hook takes for the turn whose prompt is `prompt` (when the CLI said):
    /// nothing while the controller is typing a nudge, or when the prompt is a nudge it just
    /// typed; otherwise every queued nudge, marked delivered by the hook.
    pub fn take_for_prompt(
        &mut self,
        prompt: Option<&str>,
        now: DateTime<Utc>,
    ) -> Vec<QueuedNudge> {
        if self.nudges.iter().any(|n| matches!(n.state, NudgeState::Sending { .. })) {
            return Vec::new();
        }
        let echo = chrono::Duration::from_std(ECHO).unwrap_or_default();
        let typed_just_now = |n: &QueuedNudge| match n.state {
            NudgeState::Delivered { at, by: Drainer::Controller } => {
                now.signed_duration_since(at) <= echo
                    && prompt.is_some_and(|p| p.trim() == n.text.trim())
            }
            _ => false,
        };
        if self.nudges.iter().any(typed_just_now) {
            return Vec::new();
        }
        let mut taken = Vec::new();
        for nudge in &mut self.nudges {
            if nudge.state == NudgeState::Queued && nudge.expires_at > now {
                nudge.state = NudgeState::Delivered { at: now, by: Drainer::Hook };
                taken.push(nudge.clone());
            }
        }
        taken
    }

    /// Notes that the session was told about `bead`; `false` when it already was.
    pub fn note_announced(&mut self, bead: &str) -> bool {
        if self.announced.iter().any(|b| b == bead) {
            return false;
        }
        self.announced.push(bead.to_owned());
        let over = self.announced.len().saturating_sub(ANNOUNCED);
        self.announced.drain(..over);
        true
    }

    /// Whether a nudge is queued or being typed.
    pub fn has_pending(&self) -> bool {
        self.nudges.iter().any(QueuedNudge::is_pending)
    }

    /// Forgets all but the last [`HISTORY`] finished nudges.
    pub fn trim(&mut self) {
        let finished = self.nudges.iter().filter(|n| !n.is_pending()).count();
        let mut drop = finished.saturating_sub(HISTORY);
        self.nudges.retain(|n| {
            if drop > 0 && !n.is_pending() {
                drop -= 1;
                return false;
            }
            true
        });
    }
}

/// The queues of a city's sessions, under `.gc/state/nudge/`.
#[derive(Clone, Debug)]
pub struct Queues {
    dir: PathBuf,
    city_dir: PathBuf,
    /// Who the events are from.
    actor: String,
}

/// A queue file's suffix.
const SUFFIX: &str = ".queue.json";

impl Queues {
    /// The queues of the city in `city_dir`; events recorded as `actor`.
    pub fn new(city_dir: &Path, actor: &str) -> Queues {
        Queues {
            dir: city_dir.join(".gc").join("state").join("nudge"),
            city_dir: city_dir.to_owned(),
            actor: actor.to_owned(),
        }
    }

    fn path(&self, session: &str) -> PathBuf {
        self.dir.join(format!("{session}{SUFFIX}"))
    }

    /// `session`'s queue as it is on disk (empty when it has none, or when its file is damaged:
    /// the next change under the lock sets that file aside).
    pub fn load(&self, session: &str) -> io::Result<NudgeQueue> {
        match std::fs::read(self.path(session)) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).unwrap_or_default()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(NudgeQueue::default()),
            Err(e) => Err(e),
        }
    }

    /// The sessions that have a queue file, sorted.
    pub fn sessions(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(SUFFIX).map(str::to_owned))
            .collect();
        names.sort();
        names
    }

    /// Runs `change` on `session`'s queue under its lock and writes it back (0600) when it
    /// changed.
    pub fn update<T>(
        &self,
        session: &str,
        change: impl FnOnce(&mut NudgeQueue) -> T,
    ) -> io::Result<T> {
        crate::runtime::validate_name(session).map_err(|e| io::Error::other(e.to_string()))?;
        let _lock =
            crate::store::atomic::lock_file(&self.dir.join(format!("{session}.queue.lock")))?;
        // A damaged queue is kept aside (its nudges can be read there) and starts empty.
        let mut queue: NudgeQueue =
            crate::store::set_aside::read_json(&self.path(session), "nudge queue")?
                .found()
                .unwrap_or_default();
        let before = queue.clone();
        let result = change(&mut queue);
        queue.trim();
        if queue != before {
            let bytes = serde_json::to_vec_pretty(&queue).map_err(io::Error::other)?;
            crate::store::atomic::write(&self.path(session), &bytes)?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(self.path(session), std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(result)
    }

    /// Queues `text` for `session` (dead at `ttl`), with a `nudge.queued` event.
    pub fn enqueue(
        &self,
        session: &str,
        text: &str,
        meta: NudgeMeta,
        ttl: Duration,
    ) -> io::Result<QueuedNudge> {
        let nudge = self.update(session, |q| q.push(text, meta, Utc::now(), ttl))?;
        self.record(session, "nudge.queued", "Queued", &nudge, format!("queued for {session}"));
        Ok(nudge)
    }

    /// Queues an announcement of `bead` for `session` unless it was announced there before or
    /// a nudge is still pending (the agent hears of its work once, after what it was told).
    pub fn announce(
        &self,
        session: &str,
        text: &str,
        meta: NudgeMeta,
        ttl: Duration,
    ) -> io::Result<Option<QueuedNudge>> {
        let Some(bead) = meta.bead.clone() else { return Ok(None) };
        let queued = self.update(session, |q| {
            if q.has_pending() || !q.note_announced(&bead) {
                return None;
            }
            Some(q.push(text, meta, Utc::now(), ttl))
        })?;
        if let Some(nudge) = &queued {
            let message = format!("{session} is idle with {bead} on its hook: queued a nudge");
            self.record(session, "nudge.queued", "WorkAnnounced", nudge, message);
        }
        Ok(queued)
    }

    /// Notes that `session` was told about `bead` (a sling's nudge), so it is not announced.
    pub fn note_announced(&self, session: &str, bead: &str) -> io::Result<()> {
        self.update(session, |q| {
            q.note_announced(bead);
        })
    }

    /// Dead-letters `session`'s expired nudges and re-queues those whose drainer died, with a
    /// `nudge.dead` event for each dead one. Returns whether a nudge still waits.
    pub fn sweep(&self, session: &str) -> io::Result<bool> {
        let (dead, waiting) = self.update(session, |q| {
            q.recover(crate::orders::exec::alive);
            (q.expire(Utc::now()), q.has_queued())
        })?;
        for nudge in dead {
            let message = format!("nudge {} to {session} expired in the queue", nudge.id);
            self.record(session, "nudge.dead", "Expired", &nudge, message);
        }
        Ok(waiting)
    }

    /// Claims `session`'s oldest queued nudge for this process.
    pub fn claim(&self, session: &str) -> io::Result<Option<QueuedNudge>> {
        let pid = std::process::id();
        self.update(session, |q| q.claim(pid, crate::orders::exec::start_time(pid)))
    }

    /// Records how a claimed nudge's delivery ended, with its event.
    pub fn finish(&self, session: &str, id: &str, outcome: &Outcome) -> io::Result<()> {
        let Some(nudge) = self.update(session, |q| q.finish(id, outcome, Utc::now()))? else {
            return Ok(());
        };
        match outcome {
            Outcome::Delivered => {
                let message = format!("nudge {} delivered to {session} as a turn", nudge.id);
                self.record(session, "nudge.delivered", "Delivered", &nudge, message);
            }
            Outcome::Requeue => {}
            Outcome::Dead(reason) => {
                let message = format!("nudge {} to {session} dead-lettered: {reason}", nudge.id);
                self.record(session, "nudge.dead", "NotDelivered", &nudge, message);
            }
        }
        Ok(())
    }

    /// Takes the queued nudges the prompt hook of `session` puts into the turn whose prompt is
    /// `prompt`, marked delivered, with their events.
    pub fn take_for_prompt(
        &self,
        session: &str,
        prompt: Option<&str>,
    ) -> io::Result<Vec<QueuedNudge>> {
        if !self.path(session).exists() {
            return Ok(Vec::new());
        }
        let taken = self.update(session, |q| q.take_for_prompt(prompt, Utc::now()))?;
        for nudge in &taken {
            let message = format!("nudge {} delivered to {session} by its prompt hook", nudge.id);
            self.record(session, "nudge.delivered", "Delivered", nudge, message);
        }
        Ok(taken)
    }

    fn record(
        &self,
        session: &str,
        event_type: &str,
        reason: &str,
        nudge: &QueuedNudge,
        message: String,
    ) {
        let mut event =
            crate::events::Event::new(event_type, reason, message).payload(serde_json::json!({
                "session": session,
                "id": nudge.id,
                "from": nudge.from,
                "bead": nudge.bead,
                "state": nudge.state,
            }));
        if let Some(agent) = &nudge.agent {
            event = event.object(crate::api::Kind::Agent, agent.clone());
        }
        if let Err(e) = crate::events::append(&self.city_dir, vec![event], &self.actor) {
            tracing::warn!("cannot record {event_type}: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn queue(texts: &[&str]) -> NudgeQueue {
        let mut q = NudgeQueue::default();
        for text in texts {
            q.push(text, NudgeMeta::default(), at(0), Duration::from_secs(60));
        }
        q
    }

    #[test]
    fn nudges_are_claimed_one_at_a_time_in_order() {
        let mut q = queue(&["one", "two"]);
        let first = q.claim(7, None).unwrap();
        assert_eq!(first.text, "one");
        assert_eq!(q.claim(7, None), None, "one is being typed");
        q.finish(&first.id, &Outcome::Delivered, at(1)).unwrap();
        assert_eq!(q.claim(7, None).unwrap().text, "two");
    }

    #[test]
    fn an_abandoned_delivery_keeps_its_place() {
        let mut q = queue(&["one", "two"]);
        let first = q.claim(7, None).unwrap();
        q.finish(&first.id, &Outcome::Requeue, at(1)).unwrap();
        assert_eq!(q.claim(7, None).unwrap().text, "one");
    }

    #[test]
    fn a_dead_drainers_nudge_is_queued_again() {
        let mut q = queue(&["one"]);
        q.claim(7, Some(1)).unwrap();
        assert_eq!(q.recover(|_, _| true), 0);
        assert_eq!(q.recover(|pid, _| pid != 7), 1);
        assert_eq!(q.claim(8, None).unwrap().text, "one");
    }

    #[test]
    fn nudges_past_their_deadline_are_dead_lettered_once() {
        let mut q = queue(&["one"]);
        q.push("later", NudgeMeta::default(), at(50), Duration::from_secs(60));
        assert!(q.expire(at(30)).is_empty());
        let dead = q.expire(at(60));
        assert_eq!(dead.iter().map(|n| n.text.as_str()).collect::<Vec<_>>(), ["one"]);
        assert!(q.expire(at(61)).is_empty());
        assert!(q.has_queued(), "the later one still waits");
    }

    #[test]
    fn the_hook_takes_everything_queued_for_a_turn_it_did_not_type() {
        let mut q = queue(&["one", "two"]);
        let taken = q.take_for_prompt(Some("a person's question"), at(1));
        assert_eq!(taken.len(), 2);
        assert!(!q.has_queued());
        assert!(q.take_for_prompt(None, at(2)).is_empty(), "never twice");
        assert_eq!(q.claim(7, None), None, "and never by the controller too");
    }

    #[test]
    fn the_hook_takes_nothing_for_a_turn_the_controller_typed() {
        let mut q = queue(&["one", "two", "three"]);
        let first = q.claim(7, None).unwrap();
        assert!(q.take_for_prompt(Some("one"), at(1)).is_empty(), "while it is typed");
        q.finish(&first.id, &Outcome::Delivered, at(1)).unwrap();
        assert!(q.take_for_prompt(Some("one"), at(2)).is_empty(), "a late hook of that turn");
        assert_eq!(q.take_for_prompt(Some("something else"), at(3)).len(), 2);
    }

    #[test]
    fn a_bead_is_announced_once() {
        let mut q = NudgeQueue::default();
        assert!(q.note_announced("gc-1"));
        assert!(!q.note_announced("gc-1"));
        for n in 0..ANNOUNCED {
            q.note_announced(&format!("gc-x{n}"));
        }
        assert_eq!(q.announced.len(), ANNOUNCED);
        assert!(q.note_announced("gc-1"), "long forgotten");
    }

    #[test]
    fn history_is_bounded_and_pending_nudges_are_kept() {
        let mut q = NudgeQueue::default();
        for n in 0..(HISTORY + 10) {
            let nudge = q.push(&n.to_string(), NudgeMeta::default(), at(0), Duration::from_secs(1));
            q.claim(1, None);
            q.finish(&nudge.id, &Outcome::Delivered, at(0));
        }
        q.push("waiting", NudgeMeta::default(), at(0), Duration::from_secs(60));
        q.trim();
        assert_eq!(q.nudges.len(), HISTORY + 1);
        assert_eq!(q.nudges.last().unwrap().text, "waiting");
        assert_eq!(q.nudges[0].text, "10", "the oldest finished ones go first");
    }

    #[test]
    fn the_queue_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let queues = Queues::new(dir.path(), "test");
        let queued = queues
            .enqueue("gc-town-solo", "hello", NudgeMeta::default(), Duration::from_secs(60))
            .unwrap();
        assert_eq!(queues.sessions(), ["gc-town-solo"]);
        let claimed = queues.claim("gc-town-solo").unwrap().unwrap();
        assert_eq!(claimed.id, queued.id);
        queues.finish("gc-town-solo", &claimed.id, &Outcome::Delivered).unwrap();
        let loaded = queues.load("gc-town-solo").unwrap();
        assert!(matches!(
            loaded.nudges[0].state,
            NudgeState::Delivered { by: Drainer::Controller, .. }
        ));
        assert!(queues.update("../escape", |_| ()).is_err(), "session names are validated");
    }
}
