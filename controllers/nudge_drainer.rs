//! The controller's side of the nudge queues (one tick a second, on a blocking thread):
//! - every queue is swept: nudges past their deadline are dead-lettered, those of a drainer
//!   that died are queued again;
//! - a session with queued nudges gets a drainer thread (one per session at a time), which
//!   types them as turns of their own whenever the agent is idle ([`super::nudge::drain`]);
//! - when beads changed (and every half minute regardless), an idle session with work on its
//!   hook that it was never told about gets one nudge about it, through the same queue — so
//!   work slung to an idle agent is picked up with no human. A quiet city costs nothing here:
//!   no screen is read and no bead store asked until a bead changes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::launch::{self, meta};
use super::model::CityModel;
use super::nudge;
use super::nudge_queue::{NudgeMeta, Queues};
use super::reconcile::Context;
use crate::agentcli::screen::ScreenRules;
use crate::beads::BeadStore;

/// How often idle sessions are looked at for unannounced work when no bead changed (work
/// becomes ready without a bead event when, say, a blocker's close was missed).
const ANNOUNCE_EVERY: Duration = Duration::from_secs(30);

/// How soon after a bead change idle sessions are looked at again: an agent that just
/// finished a turn is given a moment for its Stop hook to take the work first.
const ANNOUNCE_AFTER_CHANGE: Duration = Duration::from_secs(2);

/// A bead announced to one pool member is not announced to another for this long (the first
/// is likely claiming it).
const ANNOUNCE_ONE_MEMBER: Duration = Duration::from_secs(60);

/// How long an announcement may wait in the queue.
const ANNOUNCE_TTL: Duration = Duration::from_secs(3600);

/// The drainer's memory between ticks.
pub struct Drainers {
    /// New bead events since the last look.
    beads: super::manager::BeadWatch,
    /// When a bead change was first seen that idle sessions have not been looked at for.
    changed_at: Option<Instant>,
    /// Sessions a drainer thread works on now.
    draining: Arc<Mutex<BTreeSet<String>>>,
    /// When idle sessions were last looked at for work.
    last_announce: Option<Instant>,
    /// Beads announced lately, and when: one member of a pool hears of a routed bead.
    recently: BTreeMap<String, Instant>,
}

impl Drainers {
    /// Nothing draining, nothing announced yet; bead changes counted from now.
    pub fn new(city_dir: &std::path::Path) -> Drainers {
        Drainers {
            beads: super::manager::BeadWatch::new(city_dir),
            changed_at: None,
            draining: Arc::default(),
            last_announce: None,
            recently: BTreeMap::new(),
        }
    }

    /// Whether idle sessions are due a look for unannounced work.
    fn announce_due(&mut self) -> bool {
        if self.beads.changed() && self.changed_at.is_none() {
            self.changed_at = Some(Instant::now());
        }
        let after_change = self.changed_at.is_some_and(|at| at.elapsed() >= ANNOUNCE_AFTER_CHANGE);
        let periodic = self.last_announce.is_none_or(|at| at.elapsed() >= ANNOUNCE_EVERY);
        after_change || periodic
    }
}

/// One tick: sweep every queue, start drainers for sessions with queued nudges, and now and
/// then announce unannounced work to idle sessions. Blocks (tmux, bead queries): run it on a
/// blocking thread.
pub fn tick(ctx: &Context, drainers: &mut Drainers) {
    let queues = Queues::new(&ctx.city_dir, &ctx.actor);
    let waiting: Vec<String> = queues
        .sessions()
        .into_iter()
        .filter(|session| match queues.sweep(session) {
            Ok(waiting) => waiting,
            Err(e) => {
                tracing::warn!("nudge queue of {session}: {e}");
                false
            }
        })
        .collect();
    let announce_due = drainers.announce_due();
    if waiting.is_empty() && !announce_due {
        return;
    }
    // With the prompt templates: a launch (and so its screen rules) is rendered from them.
    let Ok(model) = ctx.model() else { return };
    if announce_due {
        drainers.last_announce = Some(Instant::now());
        drainers.changed_at = None;
        drainers.recently.retain(|_, at| at.elapsed() < ANNOUNCE_ONE_MEMBER);
        for session in announce(ctx, &model, &queues, &mut drainers.recently) {
            start_drainer(ctx, &model, &queues, drainers, &session);
        }
    }
    for session in waiting {
        start_drainer(ctx, &model, &queues, drainers, &session);
    }
}

/// Starts a drainer thread for `session` unless one runs.
fn start_drainer(
    ctx: &Context,
    model: &CityModel,
    queues: &Queues,
    drainers: &Drainers,
    session: &str,
) {
    if !drainers.draining.lock().unwrap_or_else(|p| p.into_inner()).insert(session.to_owned()) {
        return;
    }
    let rules = nudge::rules_for(model, session);
    let (city_dir, runtime, queues) = (ctx.city_dir.clone(), ctx.runtime.clone(), queues.clone());
    let (draining, session) = (drainers.draining.clone(), session.to_owned());
    let spawned = std::thread::Builder::new().name(format!("nudge {session}")).spawn({
        let session = session.clone();
        let draining = draining.clone();
        move || {
            match nudge::drain(&city_dir, runtime.as_ref(), &session, &rules, &queues) {
                Ok(n) if n > 0 => tracing::info!("delivered {n} queued nudge(s) to {session}"),
                Ok(_) => {}
                Err(e) => tracing::warn!("draining the nudges of {session}: {e}"),
            }
            draining.lock().unwrap_or_else(|p| p.into_inner()).remove(&session);
        }
    });
    if let Err(e) = spawned {
        tracing::warn!("cannot start a nudge drainer for {session}: {e}");
        draining.lock().unwrap_or_else(|p| p.into_inner()).remove(&session);
    }
}

/// Queues a nudge for every ready, idle session whose next work it was never told about;
/// returns the sessions nudged.
fn announce(
    ctx: &Context,
    model: &CityModel,
    queues: &Queues,
    recently: &mut BTreeMap<String, Instant>,
) -> Vec<String> {
    let Ok(sessions) = ctx.listing.list_shared(&model.session_prefix()) else { return Vec::new() };
    let city = model.city_name();
    let mut nudged = Vec::new();
    // Per agent, computed once: its screen rules, when gc can read its screen at all.
    let mut rules_of: BTreeMap<String, Option<ScreenRules>> = BTreeMap::new();
    // Per rig (None: the city's), opened once a pass: opening a store per session made an
    // idle city of hundreds of agents open and close its database hundreds of times.
    let mut stores: BTreeMap<Option<String>, Option<Box<dyn BeadStore>>> = BTreeMap::new();
    let now = std::time::SystemTime::now();
    // Read only when a nudge is about to go to an agent under a budget.
    let mut ledger: Option<crate::usage::ledger::Ledger> = None;
    let mut over_budget: BTreeMap<String, bool> = BTreeMap::new();
    for info in sessions {
        if !info.alive || info.meta.get(meta::READY).is_none_or(|v| v != "1") {
            continue;
        }
        let Some(agent) = nudge::owner(model, &info.name) else { continue };
        let Some(index) = launch::member_index(&city, &agent, &info.name) else { continue };
        let rules = rules_of
            .entry(agent.clone())
            .or_insert_with(|| Some(nudge::rules_for(model, &info.name)).filter(worth_a_look));
        let Some(rules) = rules else { continue };
        // Cheapest first: the hooks' word on turns, the bead store, and only then the screen.
        if super::turn::read(&ctx.city_dir, &info.name).holds_nudges(now) {
            continue;
        }
        let actor = launch::member_name(&agent, index);
        let Some(bead) = next_work(model, &mut stores, &agent, &actor) else { continue };
        if recently.contains_key(&bead.id)
            || offered_by_stop_hook(ctx, &info.name, &bead.id)
            || queues.load(&info.name).is_ok_and(|q| q.announced.contains(&bead.id))
        {
            continue;
        }
        if !nudge::idle_now(&ctx.city_dir, ctx.runtime.as_ref(), &info.name, rules).unwrap_or(false)
        {
            continue;
        }
        // An agent whose budget is used up is not sent to more work: it stops between turns.
        // Its transcripts are read now, as the turn that just ended may have used it up.
        if super::budget::any_declared(model) {
            let used_up = over_budget.entry(agent.clone()).or_insert_with(|| {
                let ledger = ledger
                    .get_or_insert_with(|| crate::usage::ledger::current(&ctx.city_dir, model));
                super::budget::agent_standing(ledger, model, &agent, chrono::Utc::now())
                    .is_some_and(|(s, _)| s.level == super::budget::Level::Exceeded)
            });
            if *used_up {
                continue;
            }
        }
        let meta = NudgeMeta {
            from: "controller".into(),
            agent: Some(agent),
            bead: Some(bead.id.clone()),
        };
        match queues.announce(&info.name, &announcement(&bead), meta, ANNOUNCE_TTL) {
            Ok(Some(_)) => {
                recently.insert(bead.id.clone(), Instant::now());
                nudged.push(info.name.clone());
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("cannot queue a nudge for {}: {e}", info.name),
        }
    }
    nudged
}

/// Only sessions whose screen gc can read (a Provider with a ready prompt) are told about
/// their work: gc cannot tell whether a script is idle.
fn worth_a_look(rules: &ScreenRules) -> bool {
    !rules.ready_prefix.is_empty()
}

/// The next work of `agent`'s member `actor`, if any (query failures count as none), from its
/// rig's store in `stores` (opened there on first use).
fn next_work(
    model: &CityModel,
    stores: &mut BTreeMap<Option<String>, Option<Box<dyn BeadStore>>>,
    agent: &str,
    actor: &str,
) -> Option<crate::beads::Bead> {
    let spec = &model.agents.get(agent)?.spec;
    let store = stores
        .entry(spec.rig.clone())
        .or_insert_with(|| crate::work::stores::open(model, spec.rig.as_deref()).ok().map(|s| s.1))
        .as_deref()?;
    let query = crate::work::query::of(spec);
    let found = crate::work::hook::next_work_by(store, agent, actor, query.as_ref());
    found.ok().flatten().map(|(bead, _)| bead)
}

/// Whether the Stop hook last sent `session` on to `bead` (it was told already).
fn offered_by_stop_hook(ctx: &Context, session: &str, bead: &str) -> bool {
    let file = ctx.city_dir.join(".gc").join("state").join("stop-hook").join(session);
    std::fs::read_to_string(file).is_ok_and(|offered| offered.trim() == bead)
}

/// The one line an idle agent is told about its work (typed as a turn: no newlines).
pub fn announcement(bead: &crate::beads::Bead) -> String {
    let title: String = bead.title.split_whitespace().collect::<Vec<_>>().join(" ");
    format!(
        "Work is on your hook: {} {title}. Run `gc hook` to see it, then `bd update {} --claim`, \
         do it, and `bd close {}`.",
        bead.id, bead.id, bead.id
    )
}
