//! Records every bead mutation in the city's event log, whichever backend made it and whichever
//! process ran it (an agent's `bd close` included), so controllers and orders see work move
//! without polling the store.

use std::path::PathBuf;

use serde_json::{Map, Value, json};

use super::{
    Bead, BeadStore, BeadUpdate, Dependency, ImportSummary, ListQuery, NewBead, ReadyQuery, Result,
};
use crate::api::Kind;
use crate::events::{self, Event, NewEvent};

/// A store whose mutations append `bead.*` events to `city`'s log.
pub struct Evented {
    inner: Box<dyn BeadStore>,
    city: PathBuf,
    rig: Option<String>,
}

impl Evented {
    /// Wraps `inner`; events name `rig` (as their object) when the store is a rig's.
    pub fn new(inner: Box<dyn BeadStore>, city: PathBuf, rig: Option<String>) -> Evented {
        Evented { inner, city, rig }
    }

    fn event(&self, event_type: &str, reason: &str, message: String, id: &str) -> NewEvent {
        let mut payload = Map::new();
        payload.insert("id".into(), json!(id));
        if let Some(rig) = &self.rig {
            payload.insert("rig".into(), json!(rig));
        }
        let event = Event::new(event_type, reason, message).payload(payload);
        match &self.rig {
            Some(rig) => event.object(Kind::Rig, rig),
            None => event,
        }
    }

    /// Appends events; a failure to record is reported but does not undo the mutation, which
    /// has already happened.
    fn record(&self, events: Vec<NewEvent>, actor: &str) {
        if let Err(e) = events::append(&self.city, events, actor) {
            tracing::warn!("could not record bead event in {}: {e}", self.city.display());
        }
    }

    /// The event of `change` applied to `bead`: `bead.closed` for a close, else `bead.updated`
    /// naming the fields it changed.
    fn change_event(&self, change: &BeadUpdate, bead: &Bead) -> NewEvent {
        if change.status.as_deref() == Some(super::model::status::CLOSED) {
            return self.bead_event("bead.closed", "Closed", "closed", bead);
        }
        let mut event = self.bead_event("bead.updated", "Updated", "updated", bead);
        event.payload.insert("fields".into(), Value::from(changed_fields(change)));
        event
    }

    fn bead_event(&self, event_type: &str, reason: &str, verb: &str, bead: &Bead) -> NewEvent {
        let mut event =
            self.event(event_type, reason, format!("{verb} {}: {}", bead.id, bead.title), &bead.id);
        event.payload.insert("status".into(), json!(bead.status));
        event.payload.insert("type".into(), json!(bead.issue_type));
        if !bead.assignee.is_empty() {
            event.payload.insert("assignee".into(), json!(bead.assignee));
        }
        if let Some(to) = bead.metadata.get("gc.routed_to") {
            event.payload.insert("routedTo".into(), to.clone());
        }
        if let Some(commit) = bead.metadata.get(crate::work::proof::COMMIT) {
            event.payload.insert("commit".into(), commit.clone());
        }
        // Lets an order gated on `bead.*` events ignore the beads its own runs cooked.
        if let Some(order) = bead.metadata.get(crate::orders::ORDER) {
            event.payload.insert("order".into(), order.clone());
        }
        event
    }
}

impl BeadStore for Evented {
    fn create(&self, new: NewBead, actor: &str) -> Result<Bead> {
        let bead = self.inner.create(new, actor)?;
        self.record(vec![self.bead_event("bead.created", "Created", "created", &bead)], actor);
        Ok(bead)
    }

    fn create_all(&self, beads: Vec<NewBead>, actor: &str) -> Result<Vec<Bead>> {
        let made = self.inner.create_all(beads, actor)?;
        let events =
            made.iter().map(|b| self.bead_event("bead.created", "Created", "created", b)).collect();
        self.record(events, actor);
        Ok(made)
    }

    fn get(&self, id: &str) -> Result<Bead> {
        self.inner.get(id)
    }

    fn update(&self, id: &str, change: &BeadUpdate, actor: &str) -> Result<Bead> {
        let bead = self.inner.update(id, change, actor)?;
        self.record(vec![self.change_event(change, &bead)], actor);
        Ok(bead)
    }

    fn update_if_held(
        &self,
        id: &str,
        holder: &str,
        change: &BeadUpdate,
        actor: &str,
    ) -> Result<Option<Bead>> {
        let bead = self.inner.update_if_held(id, holder, change, actor)?;
        if let Some(bead) = &bead {
            self.record(vec![self.change_event(change, bead)], actor);
        }
        Ok(bead)
    }

    fn claim(&self, id: &str, actor: &str) -> Result<Bead> {
        let bead = self.inner.claim(id, actor)?;
        self.record(vec![self.bead_event("bead.claimed", "Claimed", "claimed", &bead)], actor);
        Ok(bead)
    }

    fn claim_ready(&self, query: &ReadyQuery, actor: &str) -> Result<Option<Bead>> {
        let bead = self.inner.claim_ready(query, actor)?;
        if let Some(bead) = &bead {
            self.record(vec![self.bead_event("bead.claimed", "Claimed", "claimed", bead)], actor);
        }
        Ok(bead)
    }

    fn close(&self, id: &str, reason: Option<&str>, actor: &str) -> Result<Bead> {
        let bead = self.inner.close(id, reason, actor)?;
        let mut event = self.bead_event("bead.closed", "Closed", "closed", &bead);
        if let Some(reason) = reason {
            event.payload.insert("reason".into(), json!(reason));
        }
        self.record(vec![event], actor);
        Ok(bead)
    }

    fn list(&self, query: &ListQuery) -> Result<Vec<Bead>> {
        self.inner.list(query)
    }

    fn ready(&self, query: &ReadyQuery) -> Result<Vec<Bead>> {
        self.inner.ready(query)
    }

    fn children(&self, id: &str) -> Result<Vec<Bead>> {
        self.inner.children(id)
    }

    fn dep_add(&self, dep: &Dependency, actor: &str) -> Result<()> {
        self.inner.dep_add(dep, actor)?;
        let message =
            format!("{} now depends on {} ({})", dep.issue_id, dep.depends_on_id, dep.dep_type);
        let mut event =
            self.event("bead.dependency_added", "DependencyAdded", message, &dep.issue_id);
        event.payload.insert("dependsOn".into(), json!(dep.depends_on_id));
        event.payload.insert("depType".into(), json!(dep.dep_type));
        self.record(vec![event], actor);
        Ok(())
    }

    fn dep_remove(&self, issue: &str, depends_on: &str, actor: &str) -> Result<()> {
        self.inner.dep_remove(issue, depends_on, actor)?;
        let message = format!("{issue} no longer depends on {depends_on}");
        let mut event = self.event("bead.dependency_removed", "DependencyRemoved", message, issue);
        event.payload.insert("dependsOn".into(), json!(depends_on));
        self.record(vec![event], actor);
        Ok(())
    }

    fn dep_list(&self, id: &str) -> Result<Vec<Dependency>> {
        self.inner.dep_list(id)
    }

    fn delete(&self, id: &str, actor: &str) -> Result<()> {
        self.inner.delete(id, actor)?;
        self.record(
            vec![self.event("bead.deleted", "Deleted", format!("deleted {id}"), id)],
            actor,
        );
        Ok(())
    }

    fn export(&self) -> Result<Vec<Bead>> {
        self.inner.export()
    }

    fn import(&self, beads: Vec<Bead>, actor: &str) -> Result<ImportSummary> {
        let summary = self.inner.import(beads, actor)?;
        let message = format!(
            "imported beads: {} created, {} updated, {} unchanged",
            summary.created, summary.updated, summary.unchanged
        );
        let mut event = Event::new("bead.imported", "Imported", message).payload(&summary);
        if let Some(rig) = &self.rig {
            event = event.object(Kind::Rig, rig);
        }
        self.record(vec![event], actor);
        Ok(summary)
    }
}

fn changed_fields(change: &BeadUpdate) -> Vec<&'static str> {
    let mut fields = Vec::new();
    let mut note = |present: bool, name| {
        if present {
            fields.push(name);
        }
    };
    note(change.title.is_some(), "title");
    note(change.description.is_some(), "description");
    note(change.notes.is_some(), "notes");
    note(change.status.is_some(), "status");
    note(change.priority.is_some(), "priority");
    note(change.assignee.is_some(), "assignee");
    note(!change.add_labels.is_empty() || !change.remove_labels.is_empty(), "labels");
    note(!change.set_metadata.is_empty(), "metadata");
    note(change.defer_until.is_some(), "defer_until");
    fields
}
