//! `hook`: an agent's next work, in Gas City's order.

use super::ROUTED_TO;
use crate::beads::model::status;
use crate::beads::{Bead, BeadStore, ListQuery, ReadyQuery, Result};

/// Why a bead is on the hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookReason {
    /// Already in progress, held by the actor.
    InProgress,
    /// Ready and assigned to the actor.
    Assigned,
    /// Ready, unassigned, routed to the agent.
    Routed,
    /// An open molecule (workflow) routed to the agent.
    Molecule,
    /// Ready and matching the agent's `workQuery`.
    Query,
}

impl HookReason {
    /// For people.
    pub fn describe(self) -> &'static str {
        match self {
            HookReason::InProgress => "in progress, yours",
            HookReason::Assigned => "ready, assigned to you",
            HookReason::Routed => "ready, routed to you",
            HookReason::Molecule => "workflow routed to you",
            HookReason::Query => "ready, matches your workQuery",
        }
    }
}

/// The next work of `agent` acting as `actor` (a pool member's actor is `<agent>-<n>`):
/// its in-progress work, then ready work assigned to it, then ready unassigned work routed to
/// the agent, then open molecules routed to the agent.
pub fn next_work(
    store: &dyn BeadStore,
    agent: &str,
    actor: &str,
) -> Result<Option<(Bead, HookReason)>> {
    next_work_by(store, agent, actor, None)
}

/// [`next_work`] for an agent with a `workQuery`: after its in-progress work, the first ready
/// bead matching `query` (when given) instead of the assigned and routed work.
pub fn next_work_by(
    store: &dyn BeadStore,
    agent: &str,
    actor: &str,
    query: Option<&ReadyQuery>,
) -> Result<Option<(Bead, HookReason)>> {
    let routed = vec![(ROUTED_TO.to_owned(), agent.to_owned())];
    let in_progress = ListQuery {
        statuses: vec![status::IN_PROGRESS.into()],
        assignee: Some(actor.to_owned()),
        limit: Some(1),
        ..ListQuery::default()
    };
    if let Some(bead) = store.list(&in_progress)?.into_iter().next() {
        return Ok(Some((bead, HookReason::InProgress)));
    }
    if let Some(query) = query {
        let first = ReadyQuery { limit: Some(1), ..query.clone() };
        return Ok(store.ready(&first)?.into_iter().next().map(|b| (b, HookReason::Query)));
    }
    let assigned =
        ReadyQuery { assignee: Some(actor.to_owned()), limit: Some(1), ..ReadyQuery::default() };
    if let Some(bead) = store.ready(&assigned)?.into_iter().next() {
        return Ok(Some((bead, HookReason::Assigned)));
    }
    let routed_ready = ReadyQuery {
        unassigned: true,
        metadata: routed.clone(),
        limit: Some(1),
        ..ReadyQuery::default()
    };
    if let Some(bead) = store.ready(&routed_ready)?.into_iter().next() {
        return Ok(Some((bead, HookReason::Routed)));
    }
    let molecules = ListQuery {
        statuses: vec![status::OPEN.into(), status::IN_PROGRESS.into()],
        issue_type: Some("molecule".into()),
        metadata: routed,
        ..ListQuery::default()
    };
    // A molecule gc cooked has each step routed on its own: its root is never work to take
    // (an agent claiming and closing it would end the workflow early); it closes by itself
    // with its last step.
    Ok(store
        .list(&molecules)?
        .into_iter()
        .find(|b| b.meta_str(crate::formula::FORMULA).is_none())
        .map(|b| (b, HookReason::Molecule)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::beads::embedded::EmbeddedStore;
    use crate::beads::{BeadUpdate, NewBead};

    fn routed(title: &str, agent: &str) -> NewBead {
        let mut metadata = serde_json::Map::new();
        metadata.insert(ROUTED_TO.into(), agent.into());
        NewBead { title: title.into(), metadata, ..NewBead::default() }
    }

    #[test]
    fn the_hook_prefers_current_then_assigned_then_routed_then_molecules() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(&dir.path().join("beads.db"), "gc").unwrap();
        let next =
            |actor: &str| next_work(&store, "worker", actor).unwrap().map(|(b, r)| (b.title, r));
        assert_eq!(next("worker-1"), None);

        let mol = NewBead { issue_type: Some("molecule".into()), ..routed("workflow", "worker") };
        store.create(mol, "m").unwrap();
        assert_eq!(next("worker-1"), Some(("workflow".into(), HookReason::Molecule)));
        store.create(routed("for another agent", "mayor"), "m").unwrap();
        let r = store.create(routed("routed", "worker"), "m").unwrap();
        assert_eq!(next("worker-1"), Some(("routed".into(), HookReason::Routed)));
        let mine = NewBead { assignee: Some("worker-1".into()), ..routed("assigned", "x") };
        store.create(mine, "m").unwrap();
        assert_eq!(next("worker-1"), Some(("assigned".into(), HookReason::Assigned)));
        assert_eq!(next("worker-2"), Some(("routed".into(), HookReason::Routed)));
        store.claim(&r.id, "worker-1").unwrap();
        assert_eq!(next("worker-1"), Some(("routed".into(), HookReason::InProgress)));
        store.close(&r.id, None, "worker-1").unwrap();
        let done = BeadUpdate { status: Some("closed".into()), ..BeadUpdate::default() };
        for bead in store.list(&ListQuery::default()).unwrap() {
            if bead.title != "for another agent" {
                store.update(&bead.id, &done, "m").unwrap();
            }
        }
        assert_eq!(next("worker-1"), None, "work for other agents is not on this hook");
    }

    #[test]
    fn a_work_query_picks_ready_work_by_its_filter() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(&dir.path().join("beads.db"), "gc").unwrap();
        let query = crate::work::query::parse("--label frontend").unwrap();
        let next = |actor: &str| {
            next_work_by(&store, "web", actor, Some(&query)).unwrap().map(|(b, r)| (b.title, r))
        };
        store.create(routed("routed, but not frontend", "web"), "m").unwrap();
        assert_eq!(next("web"), None, "the query replaces routing");
        let labelled = NewBead {
            title: "fix the button".into(),
            labels: vec!["frontend".into()],
            ..NewBead::default()
        };
        let bead = store.create(labelled, "m").unwrap();
        assert_eq!(next("web"), Some(("fix the button".into(), HookReason::Query)));
        store.claim(&bead.id, "web").unwrap();
        assert_eq!(next("web"), Some(("fix the button".into(), HookReason::InProgress)));
    }
}
