//! Convoys: a tracked batch of beads, across the city's stores, with progress. A convoy is a
//! bead of type `convoy` in the city's store; its members are the beads named in its
//! `gc.convoy_members` (`<rig>:<id>`, or `city:<id>`) and its own children (the legs of a
//! convoy formula). Each member carries `gc.convoy` naming it. Members are ordinary work: routed
//! to an agent (`--route`), they are fed to it as they become ready.

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::beads::{Bead, BeadError, BeadStore, NewBead, Result};
use crate::controllers::model::CityModel;
use crate::formula::convoy::CONVOY_TYPE;

use super::{ROUTED_TO, stores};

/// Convoy metadata: the members in other places than under it, as `<rig>:<id>`/`city:<id>`.
pub const MEMBERS: &str = "gc.convoy_members";
/// Member metadata: the convoy it belongs to.
pub const CONVOY: &str = "gc.convoy";

/// Where a member lives: a rig's store, or the city's (`None`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Member {
    /// The rig, or `None` for the city's store.
    pub rig: Option<String>,
    /// The bead.
    pub id: String,
}

impl Member {
    /// `<rig>:<id>` or `city:<id>`.
    pub fn key(&self) -> String {
        format!("{}:{}", self.rig.as_deref().unwrap_or("city"), self.id)
    }

    /// Parses [`Member::key`].
    pub fn parse(key: &str) -> Option<Member> {
        let (place, id) = key.split_once(':')?;
        let rig = (place != "city").then(|| place.to_owned());
        Some(Member { rig, id: id.to_owned() })
    }
}

/// One member as it stands.
#[derive(Clone, Debug, Serialize)]
pub struct MemberView {
    /// Where it lives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rig: Option<String>,
    /// Its id.
    pub id: String,
    /// Its title (empty when it cannot be read).
    pub title: String,
    /// Its status (`missing` when it is gone from its store).
    pub status: String,
    /// Who works it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub assignee: String,
    /// The agent it is routed to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routed_to: Option<String>,
}

/// How far a convoy has come.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// Members in all.
    pub total: usize,
    /// Closed ones.
    pub closed: usize,
    /// Ones being worked.
    pub in_progress: usize,
    /// Ones not started (open, blocked, deferred, …).
    pub waiting: usize,
}

impl Progress {
    /// Counts `members`.
    pub fn of(members: &[MemberView]) -> Progress {
        let count = |s: &str| members.iter().filter(|m| m.status == s).count();
        let (closed, in_progress) = (count("closed"), count("in_progress"));
        Progress {
            total: members.len(),
            closed,
            in_progress,
            waiting: members.len() - closed - in_progress,
        }
    }

    /// Every member is closed (and there is at least one).
    pub fn done(&self) -> bool {
        self.total > 0 && self.closed == self.total
    }
}

/// A convoy with its members and progress.
#[derive(Clone, Debug, Serialize)]
pub struct ConvoyView {
    /// The convoy bead's id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// `open` or, once landed, `closed`.
    pub status: String,
    /// Progress over the members.
    pub progress: Progress,
    /// The members.
    pub members: Vec<MemberView>,
}

fn city_store(model: &CityModel) -> Result<Box<dyn BeadStore>> {
    Ok(stores::open(model, None)?.1)
}

/// Finds bead `id` in the store of `rig` if given, else in the city's or any rig's.
pub fn locate(model: &CityModel, id: &str, rig: Option<&str>) -> Result<(Member, Bead)> {
    if let Some(rig) = rig {
        let (_, store) = stores::open(model, Some(rig))?;
        let bead = store.get(id)?;
        return Ok((Member { rig: Some(rig.to_owned()), id: id.to_owned() }, bead));
    }
    for (rig, store) in stores::existing(model, "convoy") {
        if let Ok(bead) = store.get(id) {
            return Ok((Member { rig, id: id.to_owned() }, bead));
        }
    }
    Err(BeadError::NotFound(id.to_owned()))
}

/// Creates a convoy titled `title` tracking `ids` (looked up in `rig`'s store, or anywhere);
/// with `route`, members not routed yet are routed to that agent. Everything is looked up
/// before anything is written.
pub fn create(
    model: &CityModel,
    title: &str,
    ids: &[String],
    rig: Option<&str>,
    route: Option<&str>,
    actor: &str,
) -> Result<Bead> {
    let found = find_all(model, ids, rig, route)?;
    let store = city_store(model)?;
    let keys: Vec<Value> = found.iter().map(|(m, _)| json!(m.key())).collect();
    let mut metadata = Map::new();
    metadata.insert(MEMBERS.into(), Value::Array(keys));
    let new = NewBead {
        title: title.to_owned(),
        issue_type: Some(CONVOY_TYPE.into()),
        metadata,
        ..NewBead::default()
    };
    let convoy = store.create(new, actor)?;
    mark(model, &convoy.id, &found, route, actor)?;
    Ok(convoy)
}

/// Adds `ids` to convoy `convoy` (see [`create`]).
pub fn add(
    model: &CityModel,
    convoy: &str,
    ids: &[String],
    rig: Option<&str>,
    route: Option<&str>,
    actor: &str,
) -> Result<Bead> {
    let (store, bead) = find_convoy(model, convoy)?;
    let found = find_all(model, ids, rig, route)?;
    let mut keys = members_of(&bead);
    for (member, _) in &found {
        if !keys.contains(member) {
            keys.push(member.clone());
        }
    }
    let mut metadata = Map::new();
    metadata.insert(MEMBERS.into(), Value::Array(keys.iter().map(|m| json!(m.key())).collect()));
    let updated = store.set_metadata(&bead.id, metadata, actor)?;
    mark(model, &bead.id, &found, route, actor)?;
    Ok(updated)
}

fn find_all(
    model: &CityModel,
    ids: &[String],
    rig: Option<&str>,
    route: Option<&str>,
) -> Result<Vec<(Member, Bead)>> {
    let mut found = Vec::new();
    for id in ids {
        let (member, bead) = locate(model, id, rig)?;
        if let Some(agent) = route {
            let agent_rig = model
                .agents
                .get(agent)
                .ok_or_else(|| stores::unknown_agent(model, agent))?
                .spec
                .rig
                .clone();
            if agent_rig != member.rig {
                return Err(BeadError::Invalid(format!(
                    "{id} is in the store of {}, and {agent} works from {}: route it to an agent \
                     of its rig",
                    member.rig.as_deref().unwrap_or("the city"),
                    agent_rig.as_deref().unwrap_or("the city's")
                )));
            }
        }
        found.push((member, bead));
    }
    Ok(found)
}

/// Marks each member with the convoy (and routes the unrouted ones to `route`).
fn mark(
    model: &CityModel,
    convoy: &str,
    found: &[(Member, Bead)],
    route: Option<&str>,
    actor: &str,
) -> Result<()> {
    for (member, bead) in found {
        let (_, store) = stores::open(model, member.rig.as_deref())?;
        let mut metadata = Map::new();
        metadata.insert(CONVOY.into(), json!(convoy));
        if let (Some(agent), None) = (route, bead.meta_str(ROUTED_TO)) {
            metadata.insert(ROUTED_TO.into(), json!(agent));
        }
        store.set_metadata(&bead.id, metadata, actor)?;
    }
    Ok(())
}

fn get_convoy(store: &dyn BeadStore, id: &str) -> Result<Bead> {
    let bead = store.get(id)?;
    if bead.issue_type != CONVOY_TYPE {
        return Err(BeadError::Invalid(format!("{id} is a {}, not a convoy", bead.issue_type)));
    }
    Ok(bead)
}

fn members_of(convoy: &Bead) -> Vec<Member> {
    match convoy.metadata.get(MEMBERS) {
        Some(Value::Array(keys)) => {
            keys.iter().filter_map(|k| k.as_str().and_then(Member::parse)).collect()
        }
        _ => Vec::new(),
    }
}

/// Convoy `id` (in any store: a convoy formula cooks into its agent's rig) with every member
/// as it stands.
pub fn status(model: &CityModel, id: &str) -> Result<ConvoyView> {
    let (store, convoy) = find_convoy(model, id)?;
    view(model, &*store, &convoy)
}

/// The store holding convoy `id`, and the convoy.
fn find_convoy(model: &CityModel, id: &str) -> Result<(Box<dyn BeadStore>, Bead)> {
    for (_, store) in stores::existing(model, "convoy") {
        if let Ok(bead) = store.get(id) {
            let convoy = get_convoy(&*store, &bead.id)?;
            return Ok((store, convoy));
        }
    }
    Err(BeadError::NotFound(id.to_owned()))
}

fn view(model: &CityModel, store: &dyn BeadStore, convoy: &Bead) -> Result<ConvoyView> {
    let mut members = Vec::new();
    for child in store.children(&convoy.id)? {
        members.push(member_view(None, Some(child)));
    }
    for member in members_of(convoy) {
        let bead = stores::open(model, member.rig.as_deref())
            .ok()
            .and_then(|(_, s)| s.get(&member.id).ok());
        let mut view = member_view(member.rig.clone(), bead);
        view.id = member.id;
        members.push(view);
    }
    Ok(ConvoyView {
        id: convoy.id.clone(),
        title: convoy.title.clone(),
        status: convoy.status.clone(),
        progress: Progress::of(&members),
        members,
    })
}

fn member_view(rig: Option<String>, bead: Option<Bead>) -> MemberView {
    match bead {
        Some(b) => MemberView {
            rig,
            routed_to: b.meta_str(ROUTED_TO).map(str::to_owned),
            id: b.id,
            title: b.title,
            status: b.status,
            assignee: b.assignee,
        },
        None => MemberView {
            rig,
            id: String::new(),
            title: String::new(),
            status: "missing".into(),
            assignee: String::new(),
            routed_to: None,
        },
    }
}

/// Every convoy of the city (landed ones too with `all`), newest first; none when the city has
/// no store yet (it is not created here).
pub fn list(model: &CityModel, all: bool) -> Result<Vec<ConvoyView>> {
    let query = crate::beads::ListQuery {
        issue_type: Some(CONVOY_TYPE.into()),
        all,
        ..crate::beads::ListQuery::default()
    };
    let mut out = Vec::new();
    for (_, store) in stores::existing(model, "convoy") {
        for convoy in store.list(&query)? {
            out.push(view(model, &*store, &store.get(&convoy.id)?)?);
        }
    }
    Ok(out)
}

/// Lands convoy `id`: closes it once every member is closed; with `force`, whatever is open.
pub fn land(model: &CityModel, id: &str, force: bool, actor: &str) -> Result<ConvoyView> {
    let (store, convoy) = find_convoy(model, id)?;
    let before = view(model, &*store, &convoy)?;
    if !before.progress.done() && !force {
        let open: Vec<String> = before
            .members
            .iter()
            .filter(|m| m.status != "closed")
            .map(|m| format!("{} ({})", m.id, m.status))
            .collect();
        return Err(BeadError::Refused(format!(
            "convoy {id} is not done: {} of {} open: {} (land it anyway with --force)",
            open.len(),
            before.progress.total,
            open.join(", ")
        )));
    }
    let reason = if before.progress.done() { "landed" } else { "landed with members open" };
    store.close(id, Some(reason), actor)?;
    view(model, &*store, &store.get(id)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(status: &str) -> MemberView {
        MemberView {
            rig: None,
            id: "x".into(),
            title: String::new(),
            status: status.into(),
            assignee: String::new(),
            routed_to: None,
        }
    }

    #[test]
    fn progress_counts_closed_working_and_waiting_members() {
        let members = [member("closed"), member("in_progress"), member("open"), member("blocked")];
        let p = Progress::of(&members);
        assert_eq!((p.total, p.closed, p.in_progress, p.waiting), (4, 1, 1, 2));
        assert!(!p.done());
        assert!(Progress::of(&[member("closed")]).done());
        assert!(!Progress::of(&[]).done(), "an empty convoy has nothing landed");
    }

    #[test]
    fn member_keys_name_their_store() {
        let m = Member { rig: Some("api".into()), id: "ap-1".into() };
        assert_eq!(m.key(), "api:ap-1");
        assert_eq!(Member::parse("api:ap-1"), Some(m));
        assert_eq!(Member::parse("city:gc-2"), Some(Member { rig: None, id: "gc-2".into() }));
        assert_eq!(Member::parse("nocolon"), None);
    }
}
