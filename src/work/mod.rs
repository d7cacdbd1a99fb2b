//! Gas City's work verbs over the bead stores: routing work to agents (`sling`), an agent's
//! next work (`hook`) and mail between agents (`mail`). Each is a function of a store and
//! plain values, so the CLI only parses, prints and pokes the controller.

pub mod convoy;
pub mod demand;
pub mod gates;
pub mod hook;
pub mod mail;
pub mod proof;
pub mod query;
pub mod sling;
pub mod stores;

/// Metadata key naming the agent a bead is routed to.
pub const ROUTED_TO: &str = "gc.routed_to";

/// Refuses a change by `actor` to a bead that was taken back from it (its session was gone
/// past the lease grace) and that it does not hold again: another session may be working it.
pub fn refuse_if_taken_back(bead: &crate::beads::Bead, actor: &str) -> crate::beads::Result<()> {
    let taken_from = crate::controllers::lease::taken_from(bead);
    if !taken_from.iter().any(|t| t == actor) || bead.assignee == actor || bead.is_closed() {
        return Ok(());
    }
    let now = match bead.assignee.as_str() {
        "" => format!("it is {} now", bead.status),
        other => format!("{other} holds it now"),
    };
    Err(crate::beads::BeadError::Refused(format!(
        "{id} was taken back from {actor} while its session was gone, and {now}: leave it \
         (`gc hook` shows your work; `bd update {id} --claim` takes it again once it is ready)",
        id = bead.id
    )))
}

/// Closes bead `id` (`gc bd close`, the dashboard), once the commit it offers holds up to
/// `rules` (see [`proof`]); the proven commit is recorded on the bead (`gc.commit`). Closing
/// the last open step of a cooked molecule closes the molecule too (and any finished step
/// holding children), so it leaves the hook and an order sees its run complete.
pub fn close(
    store: &dyn crate::beads::BeadStore,
    id: &str,
    reason: Option<&str>,
    actor: &str,
    rules: &proof::Rules,
    offered: proof::Offered<'_>,
) -> crate::beads::Result<crate::beads::Bead> {
    let current = store.get(id)?;
    refuse_if_taken_back(&current, actor)?;
    if !current.is_closed()
        && let Some(proven) = proof::check(rules, &current, offered)?
    {
        let mut recorded = serde_json::Map::new();
        recorded.insert(proof::COMMIT.into(), proven.commit.into());
        recorded
            .insert(proof::COMMIT_ON.into(), proven.on.map_or(serde_json::Value::Null, Into::into));
        store.set_metadata(id, recorded, actor)?;
    }
    let bead = store.close(id, reason, actor)?;
    if bead.meta_str(crate::formula::FORMULA).is_some() {
        crate::formula::cook::close_finished_parents(store, &bead, actor)?;
    }
    Ok(bead)
}

/// Reopens bead `id` (`gc bd reopen`): a closed bead, or one parked after its sessions kept
/// dying, is open again, unassigned, with its attempts forgotten, so the pool it is routed to
/// takes it up. An open bead is left as it is. One in progress is given back by its holder (an
/// agent releasing a claim it cannot finish); anyone else is refused.
pub fn reopen(
    store: &dyn crate::beads::BeadStore,
    id: &str,
    actor: &str,
) -> crate::beads::Result<crate::beads::Bead> {
    use crate::beads::model::status;
    use crate::controllers::lease::{ATTEMPTS, PARKED};
    let bead = store.get(id)?;
    let parked = bead.metadata.contains_key(PARKED);
    if bead.status == status::OPEN && !parked {
        return Ok(bead);
    }
    let held_by_other = bead.status == status::IN_PROGRESS && bead.assignee != actor;
    if held_by_other && !bead.assignee.is_empty() {
        return Err(crate::beads::BeadError::Refused(format!(
            "{id} is in progress, held by {}: only its holder can give it back (bd reopen by \
             {0})",
            bead.assignee
        )));
    }
    let mut forget = serde_json::Map::new();
    forget.insert(PARKED.into(), serde_json::Value::Null);
    forget.insert(ATTEMPTS.into(), serde_json::Value::Null);
    let change = crate::beads::BeadUpdate {
        status: Some(status::OPEN.into()),
        assignee: Some(String::new()),
        set_metadata: forget,
        ..crate::beads::BeadUpdate::default()
    };
    if bead.status == status::IN_PROGRESS && !bead.assignee.is_empty() {
        // Its holder gives it back: only while it still holds it.
        return store.update_if_held(id, actor, &change, actor)?.ok_or_else(|| {
            crate::beads::BeadError::Refused(format!("{id} is no longer held by {actor}"))
        });
    }
    store.update(id, &change, actor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::beads::embedded::EmbeddedStore;
    use crate::beads::{BeadStore, BeadUpdate, NewBead};
    use crate::controllers::lease::{ATTEMPTS, PARKED, TAKEN_FROM};

    const NO_RULES: proof::Rules =
        proof::Rules { rig: None, require_commit: false, target_branch: None };
    const NOTHING: proof::Offered<'static> = proof::Offered::Nothing;

    fn store() -> (tempfile::TempDir, EmbeddedStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(&dir.path().join("beads.db"), "gc").unwrap();
        (dir, store)
    }

    fn taken_back(store: &EmbeddedStore, id: &str, from: &str, status: &str) {
        let mut metadata = serde_json::Map::new();
        metadata.insert(TAKEN_FROM.into(), serde_json::json!([from]));
        metadata.insert(ATTEMPTS.into(), 1.into());
        if status == "blocked" {
            metadata.insert(PARKED.into(), "gone too often".into());
        }
        let change = BeadUpdate {
            status: Some(status.into()),
            assignee: Some(String::new()),
            set_metadata: metadata,
            ..BeadUpdate::default()
        };
        store.update_if_held(id, from, &change, "gc").unwrap().expect("held by `from`");
    }

    #[test]
    fn a_holder_cannot_close_work_taken_back_from_it_unless_it_holds_it_again() {
        let (_dir, store) = store();
        let bead = store.create(NewBead { title: "t".into(), ..NewBead::default() }, "m").unwrap();
        store.claim(&bead.id, "w-1").unwrap();
        taken_back(&store, &bead.id, "w-1", "open");
        store.claim(&bead.id, "w-2").unwrap();
        let refused = close(&store, &bead.id, None, "w-1", &NO_RULES, NOTHING).unwrap_err();
        assert!(matches!(refused, crate::beads::BeadError::Refused(_)), "{refused}");
        assert!(refused.to_string().contains("w-2 holds it now"), "{refused}");
        assert_eq!(store.get(&bead.id).unwrap().status, "in_progress", "nothing changed");
        // The holder closes it; a person may close anything.
        assert_eq!(
            close(&store, &bead.id, None, "w-2", &NO_RULES, NOTHING).unwrap().status,
            "closed"
        );
        let other = store.create(NewBead { title: "u".into(), ..NewBead::default() }, "m").unwrap();
        store.claim(&other.id, "w-1").unwrap();
        taken_back(&store, &other.id, "w-1", "open");
        assert_eq!(
            close(&store, &other.id, None, "alice", &NO_RULES, NOTHING).unwrap().status,
            "closed"
        );
    }

    #[test]
    fn reopen_brings_back_parked_and_closed_work_and_a_holder_gives_its_claim_back() {
        let (_dir, store) = store();
        let bead = store.create(NewBead { title: "t".into(), ..NewBead::default() }, "m").unwrap();
        store.claim(&bead.id, "w-1").unwrap();
        assert!(matches!(reopen(&store, &bead.id, "me"), Err(crate::beads::BeadError::Refused(_))));
        let released = reopen(&store, &bead.id, "w-1").unwrap();
        assert_eq!((released.status.as_str(), released.assignee.as_str()), ("open", ""));
        store.claim(&bead.id, "w-1").unwrap();
        taken_back(&store, &bead.id, "w-1", "blocked");
        let back = reopen(&store, &bead.id, "me").unwrap();
        assert_eq!((back.status.as_str(), back.assignee.as_str()), ("open", ""));
        assert!(!back.metadata.contains_key(PARKED) && !back.metadata.contains_key(ATTEMPTS));
        assert_eq!(store.ready(&Default::default()).unwrap().len(), 1, "ready again");
        store.close(&bead.id, None, "me").unwrap();
        let closed_again = reopen(&store, &bead.id, "me").unwrap();
        assert_eq!(closed_again.status, "open");
        assert!(closed_again.closed_at.is_none());
    }
}
