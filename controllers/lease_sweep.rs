//! The lease sweep: reads the beads in progress in every bead store of the city and the
//! sessions running, plans with [`super::lease::plan`], and carries the plan out: each bead
//! taken back with a compare-and-swap on its holder (a holder that closed or released it
//! meanwhile keeps what it did), a `bead.reclaimed` or `bead.parked` event, and for a parked
//! bead one mail to the City's `leases.escalateTo`.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use serde_json::json;

use super::launch;
use super::lease::{Absences, Held, LeaseAction, Policy};
use super::model::CityModel;
use super::reconcile::Context;
use crate::api::Kind;
use crate::beads::model::status;
use crate::beads::{BeadStore, ListQuery};

/// Who the sweep's changes, events and escalation mail are from.
pub const ACTOR: &str = "gc-controller";

/// The shortest and longest time between two sweeps: a quarter of the shortest grace in
/// force, within these bounds (how late past its grace a lease may lapse).
const SWEEP_MIN: Duration = Duration::from_secs(1);
const SWEEP_MAX: Duration = Duration::from_secs(10);

/// One store's beads in progress held by agents, and the settings in force for it.
struct StoreHeld {
    rig: Option<String>,
    store: Box<dyn BeadStore>,
    held: Vec<Held>,
    policy: Policy,
}

/// Sweeps once (see the module doc) and says when to sweep again. `absences` is kept by the
/// caller from one sweep to the next. Nothing is taken back while the City is suspended
/// (nothing runs, nothing is lost).
pub fn sweep(ctx: &Context, absences: &mut Absences) -> Duration {
    let Ok(model) = ctx.specs() else { return SWEEP_MAX };
    let city = model.city_spec();
    let every = sweep_interval(&model);
    if city.suspended {
        return every;
    }
    let stores = held_work(&model);
    // Nothing held, nothing to take back: no need to look at the sessions.
    if stores.iter().all(|s| s.held.is_empty()) {
        absences.observe([], &BTreeSet::new(), &Default::default(), SystemTime::now());
        return every;
    }
    let running: BTreeSet<String> = match ctx.listing.list_shared(&model.session_prefix()) {
        Ok(sessions) => sessions.into_iter().filter(|s| s.alive).map(|s| s.name).collect(),
        // Without a listing every holder would look gone: take nothing back this time.
        Err(e) => {
            tracing::warn!("lease sweep: cannot list sessions: {e}");
            return every;
        }
    };
    ctx.note_running(running.iter().map(String::as_str));
    let now = SystemTime::now();
    let last_running = ctx.last_running.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let holders = stores.iter().flat_map(|s| s.held.iter().map(|h| h.session.as_str()));
    absences.observe(holders, &running, &last_running, now);
    for store in &stores {
        for action in super::lease::plan(&store.held, absences, store.policy, now) {
            carry_out(ctx, &model, store, &action);
        }
    }
    every
}

/// How often to sweep: a quarter of the shortest grace in force, within bounds.
fn sweep_interval(model: &CityModel) -> Duration {
    let city = model.city_spec().leases;
    let graces = std::iter::once(city.grace)
        .chain(model.rigs.values().filter_map(|r| r.spec.leases.as_ref()?.grace))
        .map(|g| g.get())
        .filter(|g| !g.is_zero());
    graces.min().map_or(SWEEP_MAX, |g| (g / 4).clamp(SWEEP_MIN, SWEEP_MAX))
}

/// The beads in progress that the city's agents hold, per store that exists (the city's and
/// each rig's; a store not initialised yet holds nothing, and is not created here).
fn held_work(model: &CityModel) -> Vec<StoreHeld> {
    let city = model.city_spec();
    let city_name = model.city_name();
    let rigs = std::iter::once(None).chain(model.rigs.keys().map(|r| Some(r.as_str())));
    let mut stores = Vec::new();
    for rig in rigs {
        let Ok((dir, config)) = crate::work::stores::store_config(model, rig) else { continue };
        if !dir.join(crate::beads::layout::CONFIG_FILE).is_file() {
            continue;
        }
        let store = match crate::beads::layout::open_with(&dir, &config) {
            Ok(store) => store,
            Err(e) => {
                tracing::warn!("lease sweep: cannot open {}: {e}", dir.display());
                continue;
            }
        };
        let query =
            ListQuery { statuses: vec![status::IN_PROGRESS.into()], ..ListQuery::default() };
        let beads = match store.list(&query) {
            Ok(beads) => beads,
            Err(e) => {
                tracing::warn!("lease sweep: cannot list {}: {e}", dir.display());
                continue;
            }
        };
        let held = beads
            .into_iter()
            .filter_map(|bead| {
                let (agent, index) = holder_of(model, &bead.assignee)?;
                Some(Held::new(bead, &agent, launch::session_name(&city_name, &agent, index)))
            })
            .collect();
        let rig_leases = rig.and_then(|r| model.rigs.get(r)?.spec.leases.as_ref());
        let policy = Policy::of(&city.leases, rig_leases);
        stores.push(StoreHeld { rig: rig.map(str::to_owned), store, held, policy });
    }
    stores
}

/// The agent `actor` is (or is a pool member of), with its member index; `None` for actors
/// that are no agent of the city (a person, a deleted agent): their claims are left alone.
pub fn holder_of(model: &CityModel, actor: &str) -> Option<(String, u32)> {
    if model.agents.contains_key(actor) {
        return Some((actor.to_owned(), 0));
    }
    let (base, n) = actor.rsplit_once('-')?;
    let applied = model.agents.get(base)?;
    applied.spec.scaling.as_ref()?;
    let index: u32 = n.parse().ok().filter(|i| *i > 0 && !n.starts_with('0'))?;
    Some((base.to_owned(), index))
}

/// Applies `action` to its bead if its holder still holds it; records the event, and for a
/// parked bead sends the escalation. Nothing, when the bead changed hands meanwhile.
fn carry_out(ctx: &Context, model: &CityModel, store: &StoreHeld, action: &LeaseAction) {
    let bead = action.bead();
    let changed = store.store.update_if_held(&bead.id, &bead.holder, &action.change(), ACTOR);
    let after = match changed {
        Ok(Some(after)) => after,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!("lease sweep: cannot take back {}: {e}", bead.id);
            return;
        }
    };
    let (event_type, reason, message, attempts, absent_for) = match action {
        LeaseAction::Reclaim { attempt, absent_for, .. } => (
            "bead.reclaimed",
            "Reclaimed",
            format!(
                "{} taken back from {} (no session for {}): ready again, attempt {attempt}",
                bead.id,
                bead.holder,
                super::agent::human(*absent_for)
            ),
            *attempt,
            *absent_for,
        ),
        LeaseAction::Park { attempts, absent_for, .. } => (
            "bead.parked",
            "Parked",
            format!(
                "{} parked after {attempts} attempts: {}",
                bead.id,
                after.meta_str(super::lease::PARKED).unwrap_or_default()
            ),
            *attempts,
            *absent_for,
        ),
    };
    let mut payload = json!({
        "id": bead.id,
        "holder": bead.holder,
        "agent": bead.agent,
        "attempts": attempts,
        "absentForSeconds": absent_for.as_secs(),
    });
    if let Some(rig) = &store.rig {
        payload["rig"] = json!(rig);
    }
    let mut event = crate::events::Event::new(event_type, reason, message).payload(payload);
    event = match &store.rig {
        Some(rig) => event.object(Kind::Rig, rig),
        None => event.object(Kind::Agent, &bead.agent),
    };
    if let Err(e) = crate::events::append(&ctx.city_dir, vec![event], ACTOR) {
        tracing::warn!("cannot record {event_type} of {}: {e}", bead.id);
    }
    if matches!(action, LeaseAction::Park { .. }) {
        escalate(model, store, &after);
    }
}

/// Mails the City's `leases.escalateTo` about a parked bead (from the city's store, where
/// `gc mail inbox` reads).
fn escalate(model: &CityModel, store: &StoreHeld, parked: &crate::beads::Bead) {
    let to = model.city_spec().leases.escalate_to;
    let rig = store.rig.as_deref().map(|r| format!(" (rig {r})")).unwrap_or_default();
    let subject = format!("Parked {}: {}", parked.id, parked.title);
    let body = format!(
        "{id}{rig} is parked and will not be retried: {why}.\n\nLook at what its sessions did \
         (`gc events --type bead.reclaimed`, `gc bd show {id}`), then bring it back with \
         `gc bd reopen {id}` or close it.",
        id = parked.id,
        why = parked.meta_str(super::lease::PARKED).unwrap_or("it was taken back too often"),
    );
    let sent = crate::work::stores::open(model, None)
        .and_then(|(_, city)| crate::work::mail::send(city.as_ref(), ACTOR, &to, &subject, &body));
    if let Err(e) = sent {
        tracing::warn!("cannot mail {to} about parked {}: {e}", parked.id);
    }
}
