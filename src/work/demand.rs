//! `demand`: how much work an agent has in its bead store, the input that scales its pool when
//! it has no `scaleCheck` of its own.

use std::collections::BTreeMap;

use super::ROUTED_TO;
use crate::beads::model::status;
use crate::beads::{Bead, BeadStore, ListQuery, ReadyQuery, Result};
use crate::controllers::launch::is_base_or_member;
use crate::controllers::model::CityModel;

/// Work an agent has, as the controller scales it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Demand {
    /// Ready beads the agent could take now: ready+unassigned+routed to the agent, plus ready
    /// beads assigned to the agent or one of its members.
    pub ready: usize,
    /// Members (actors: `agent` or `agent-<n>`) holding in-progress beads, with how many each.
    pub busy: BTreeMap<String, usize>,
}

impl Demand {
    /// Every bead counted: the ready ones and the ones members hold.
    pub fn total(&self) -> usize {
        self.ready + self.busy.values().sum::<usize>()
    }
}

/// The demand of `agent` in `store`, in two queries (every ready bead, every in-progress bead),
/// the members picked out here because the store can only match one assignee exactly.
///
/// Counts the way `gc hook` finds work, so what a member would pick up next is what scales the
/// pool: a held bead of any type keeps its member busy (a member working through a molecule is
/// busy), but routed molecules are not ready work (they are containers; their steps carry the
/// routing once cooked, and `ready` never returns them anyway).
pub fn demand(store: &dyn BeadStore, agent: &str) -> Result<Demand> {
    demand_by(store, agent, None)
}

/// [`demand`] of an agent with a `workQuery`: its ready work is what `query` finds.
pub fn demand_by(store: &dyn BeadStore, agent: &str, query: Option<&ReadyQuery>) -> Result<Demand> {
    let in_progress = store
        .list(&ListQuery { statuses: vec![status::IN_PROGRESS.into()], ..ListQuery::default() })?;
    if let Some(query) = query {
        let mut got = tally(agent, &[], &in_progress);
        got.ready = store.ready(&ReadyQuery { limit: None, ..query.clone() })?.len();
        return Ok(got);
    }
    let ready = store.ready(&ReadyQuery::default())?;
    Ok(tally(agent, &ready, &in_progress))
}

fn query_of(model: &CityModel, agent: &str) -> Option<ReadyQuery> {
    model.agents.get(agent).and_then(|a| super::query::of(&a.spec))
}

/// The demand of `agent`, opening the store it works from (its rig's, or the city's).
///
/// For a controller pass: call it from blocking code (`spawn_blocking`), since it opens a
/// store and queries it. Each call opens the store afresh (and creates it on first use, as
/// `gc hook` would); when several agents share a rig, open it once with
/// [`super::stores::open`] and call [`demand`] for each instead.
pub fn demand_of(model: &CityModel, agent: &str) -> Result<Demand> {
    let (_, store) = super::stores::open_for_agent(model, agent)?;
    demand_by(store.as_ref(), agent, query_of(model, agent).as_ref())
}

/// [`demand_of`] without creating anything: a store that is not initialised yet holds no work
/// (a dry run must not make one; the controller would create it empty).
pub fn demand_if_present(model: &CityModel, agent: &str) -> Result<Demand> {
    let applied =
        model.agents.get(agent).ok_or_else(|| super::stores::unknown_agent(model, agent))?;
    let (dir, _) = super::stores::store_config(model, applied.spec.rig.as_deref())?;
    if !dir.join(crate::beads::layout::CONFIG_FILE).is_file() {
        return Ok(Demand::default());
    }
    let store = crate::beads::layout::open(&dir)?;
    demand_by(store.as_ref(), agent, query_of(model, agent).as_ref())
}

/// Counts `ready` and `in_progress` beads that belong to `agent`.
fn tally(agent: &str, ready: &[Bead], in_progress: &[Bead]) -> Demand {
    let mine = |assignee: &str| is_base_or_member(agent, assignee);
    let ready = ready
        .iter()
        .filter(|bead| {
            if bead.assignee.is_empty() {
                bead.metadata.get(ROUTED_TO).and_then(|v| v.as_str()) == Some(agent)
            } else {
                mine(&bead.assignee)
            }
        })
        .count();
    let mut busy = BTreeMap::new();
    for bead in in_progress.iter().filter(|bead| mine(&bead.assignee)) {
        *busy.entry(bead.assignee.clone()).or_insert(0) += 1;
    }
    Demand { ready, busy }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::beads::embedded::EmbeddedStore;
    use crate::beads::model::dep_type;
    use crate::beads::{Dependency, NewBead};

    fn store() -> (tempfile::TempDir, EmbeddedStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(&dir.path().join("beads.db"), "gc").unwrap();
        (dir, store)
    }

    fn routed(title: &str, agent: &str) -> NewBead {
        let mut metadata = serde_json::Map::new();
        metadata.insert(ROUTED_TO.into(), agent.into());
        NewBead { title: title.into(), metadata, ..NewBead::default() }
    }

    fn assigned(title: &str, actor: &str) -> NewBead {
        NewBead { title: title.into(), assignee: Some(actor.into()), ..NewBead::default() }
    }

    #[test]
    fn an_empty_store_has_no_demand() {
        let (_dir, store) = store();
        let got = demand(&store, "worker").unwrap();
        assert_eq!(got, Demand::default());
        assert_eq!(got.total(), 0);
    }

    #[test]
    fn ready_work_routed_to_the_agent_counts() {
        let (_dir, store) = store();
        store.create(routed("a", "worker"), "m").unwrap();
        store.create(routed("b", "worker"), "m").unwrap();
        store.create(routed("for the mayor", "mayor"), "m").unwrap();
        store.create(NewBead { title: "unrouted".into(), ..NewBead::default() }, "m").unwrap();
        let got = demand(&store, "worker").unwrap();
        assert_eq!(got.ready, 2);
        assert_eq!(got.total(), 2);
    }

    #[test]
    fn routed_work_that_is_blocked_does_not_count() {
        let (_dir, store) = store();
        let first = NewBead { title: "first".into(), ..NewBead::default() };
        let blocker = store.create(first, "m").unwrap();
        let blocked = store.create(routed("second", "worker"), "m").unwrap();
        let dep = Dependency {
            issue_id: blocked.id,
            depends_on_id: blocker.id,
            dep_type: dep_type::BLOCKS.into(),
            ..Dependency::default()
        };
        store.dep_add(&dep, "m").unwrap();
        assert_eq!(demand(&store, "worker").unwrap().ready, 0);
    }

    #[test]
    fn routed_molecules_are_containers_not_work() {
        let (_dir, store) = store();
        let mol = NewBead { issue_type: Some("molecule".into()), ..routed("flow", "worker") };
        store.create(mol, "m").unwrap();
        assert_eq!(demand(&store, "worker").unwrap().total(), 0);
    }

    #[test]
    fn ready_work_assigned_to_the_agent_or_a_member_counts() {
        let (_dir, store) = store();
        store.create(assigned("single", "worker"), "m").unwrap();
        store.create(assigned("member", "worker-3"), "m").unwrap();
        store.create(assigned("someone else", "mayor"), "m").unwrap();
        // Routed here but already handed to another agent's member: not this pool's to take.
        store
            .create(NewBead { assignee: Some("mayor".into()), ..routed("x", "worker") }, "m")
            .unwrap();
        assert_eq!(demand(&store, "worker").unwrap().ready, 2);
    }

    #[test]
    fn a_member_holding_work_is_busy() {
        let (_dir, store) = store();
        let first = store.create(routed("a", "worker"), "m").unwrap();
        let second = store.create(routed("b", "worker"), "m").unwrap();
        store.create(routed("c", "worker"), "m").unwrap();
        store.claim(&first.id, "worker-2").unwrap();
        store.claim(&second.id, "worker-2").unwrap();
        let got = demand(&store, "worker").unwrap();
        assert_eq!(got.ready, 1);
        assert_eq!(got.busy, BTreeMap::from([("worker-2".to_owned(), 2)]));
        assert!(got.busy.contains_key("worker-2"));
        assert!(!got.busy.contains_key("worker-1"));
        assert_eq!(got.total(), 3);
    }

    #[test]
    fn another_agents_members_with_a_longer_name_do_not_count() {
        let (_dir, store) = store();
        let held = store.create(routed("theirs", "worker-pool"), "m").unwrap();
        store.claim(&held.id, "worker-pool-1").unwrap();
        store.create(assigned("also theirs", "worker-pool-2"), "m").unwrap();
        store.create(routed("routed to them", "worker-pool"), "m").unwrap();
        assert_eq!(demand(&store, "worker").unwrap(), Demand::default());
        let theirs = demand(&store, "worker-pool").unwrap();
        assert_eq!((theirs.ready, theirs.total()), (2, 3));
    }

    #[test]
    fn a_work_query_counts_what_it_finds_and_the_members_work_in_progress() {
        let (_dir, store) = store();
        let labelled = |title: &str| NewBead {
            title: title.into(),
            labels: vec!["frontend".into()],
            ..NewBead::default()
        };
        store.create(labelled("a"), "m").unwrap();
        let held = store.create(labelled("b"), "m").unwrap();
        store.claim(&held.id, "web-2").unwrap();
        store.create(routed("routed, not frontend", "web"), "m").unwrap();
        let query = crate::work::query::parse("--label frontend").unwrap();
        let got = demand_by(&store, "web", Some(&query)).unwrap();
        assert_eq!(got.ready, 1, "only the ready bead the query finds");
        assert_eq!(got.busy, BTreeMap::from([("web-2".to_owned(), 1)]));
        assert_eq!(demand(&store, "web").unwrap().ready, 1, "without it: the routed one");
    }

    #[test]
    fn closed_work_does_not_count() {
        let (_dir, store) = store();
        let done = store.create(routed("done", "worker"), "m").unwrap();
        store.close(&done.id, None, "m").unwrap();
        let held = store.create(routed("finished", "worker"), "m").unwrap();
        store.claim(&held.id, "worker-1").unwrap();
        store.close(&held.id, None, "worker-1").unwrap();
        assert_eq!(demand(&store, "worker").unwrap(), Demand::default());
    }
}
