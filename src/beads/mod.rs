//! Beads: the work items agents coordinate through (`bd ready`, `bd update --claim`,
//! `bd close`).
//!
//! [`BeadStore`] is what every backend implements: [`embedded`] (SQLite, the default, nothing to
//! install), [`exec`] (a script speaking a JSON protocol) and [`bd`] (a real `bd` on PATH).
//! [`layout`] finds a store on disk the way bd does (`BEADS_DIR`, the nearest `.beads/`,
//! `.beads/redirect`) and opens it; [`evented::Evented`] wraps any backend so each mutation is
//! recorded in the city's event log.

pub mod bd;
mod bd_json;
pub mod embedded;
pub mod error;
pub mod evented;
pub mod exec;
pub mod exec_server;
pub mod layout;
pub mod model;
pub mod postgres;
pub mod process;
pub mod protocol;
mod rules;

pub use error::{BeadError, Result};
pub use model::{
    Bead, BeadUpdate, DepDirection, Dependency, ImportSummary, ListQuery, NewBead, NewDep,
    ReadyQuery,
};

/// A bead store. Every method is one atomic operation on the store, safe to call from several
/// processes at once. `actor` is who does it (recorded as `created_by`, claim holder, …).
pub trait BeadStore: Send + Sync {
    /// Creates a bead (and its labels, parent edge and dependencies) and returns it.
    fn create(&self, new: NewBead, actor: &str) -> Result<Bead>;
    /// Creates several beads as one change: all of them, or none when any fails. Within the
    /// batch a `parent` or a dependency's `other` written `@N` is the N-th bead of the batch
    /// (from 0, an earlier one), so a whole graph is created at once. Stores without
    /// transactions create the beads in turn and delete those made when one fails.
    fn create_all(&self, beads: Vec<NewBead>, actor: &str) -> Result<Vec<Bead>> {
        let mut made: Vec<Bead> = Vec::with_capacity(beads.len());
        for new in beads {
            let ids: Vec<String> = made.iter().map(|b| b.id.clone()).collect();
            match resolve_batch_refs(new, &ids).and_then(|new| self.create(new, actor)) {
                Ok(bead) => made.push(bead),
                Err(e) => {
                    // Children first, so no parent is deleted under them.
                    for bead in made.iter().rev() {
                        if let Err(undo) = self.delete(&bead.id, actor) {
                            tracing::warn!("could not undo creating {}: {undo}", bead.id);
                        }
                    }
                    return Err(e);
                }
            }
        }
        Ok(made)
    }
    /// The bead with `id`, with labels and dependencies.
    fn get(&self, id: &str) -> Result<Bead>;
    /// Applies a partial change and returns the bead as it now is.
    fn update(&self, id: &str, change: &BeadUpdate, actor: &str) -> Result<Bead>;
    /// Compare-and-swap claim: an `open` bead that is unassigned (or already assigned to
    /// `actor`) becomes `in_progress`, assigned to `actor`. Re-claiming one's own in-progress
    /// bead succeeds and changes nothing; a bead held by someone else fails with
    /// [`BeadError::AlreadyClaimed`].
    fn claim(&self, id: &str, actor: &str) -> Result<Bead>;
    /// Compare-and-swap on a claim: applies `change` only while the bead is `in_progress` and
    /// assigned to `holder`, and returns it as it now is; `Ok(None)` when it is not (it was
    /// closed, released or taken meanwhile). How work is taken back from a holder that is
    /// gone without taking it from one that just finished. Stores without transactions check,
    /// then update.
    fn update_if_held(
        &self,
        id: &str,
        holder: &str,
        change: &BeadUpdate,
        actor: &str,
    ) -> Result<Option<Bead>> {
        let bead = self.get(id)?;
        if bead.status != model::status::IN_PROGRESS || bead.assignee != holder {
            return Ok(None);
        }
        self.update(id, change, actor).map(Some)
    }
    /// Claims the first ready, unassigned bead matching `query` in one transaction, or returns
    /// `None` when there is none.
    fn claim_ready(&self, query: &ReadyQuery, actor: &str) -> Result<Option<Bead>>;
    /// Closes a bead (closing a closed bead changes nothing and succeeds).
    fn close(&self, id: &str, reason: Option<&str>, actor: &str) -> Result<Bead>;
    /// Beads matching `query`, ordered by priority, then newest first, then id.
    fn list(&self, query: &ListQuery) -> Result<Vec<Bead>>;
    /// Work that can start now, exactly as bd defines it (see `reference/beads-data-model.md`).
    fn ready(&self, query: &ReadyQuery) -> Result<Vec<Bead>>;
    /// The direct children of `id`.
    fn children(&self, id: &str) -> Result<Vec<Bead>>;
    /// Adds the edge `issue` depends on `depends_on`; a `blocks` edge that would close a cycle
    /// is refused with [`BeadError::Cycle`].
    fn dep_add(&self, dep: &Dependency, actor: &str) -> Result<()>;
    /// Removes the edge between the two beads (whatever its type).
    fn dep_remove(&self, issue: &str, depends_on: &str, actor: &str) -> Result<()>;
    /// Every edge that starts or ends at `id`.
    fn dep_list(&self, id: &str) -> Result<Vec<Dependency>>;
    /// Removes a bead and its edges.
    fn delete(&self, id: &str, actor: &str) -> Result<()>;
    /// Every bead, closed ones included, with labels and dependencies, in id order.
    fn export(&self) -> Result<Vec<Bead>>;
    /// Stores beads as given (ids, times and edges kept): new ids are created, known ones
    /// replaced.
    fn import(&self, beads: Vec<Bead>, actor: &str) -> Result<ImportSummary>;

    /// Sets metadata keys on a bead (a `null` value removes the key).
    fn set_metadata(
        &self,
        id: &str,
        values: serde_json::Map<String, serde_json::Value>,
        actor: &str,
    ) -> Result<Bead> {
        self.update(id, &BeadUpdate { set_metadata: values, ..BeadUpdate::default() }, actor)
    }

    /// Adds labels to a bead.
    fn add_labels(&self, id: &str, labels: &[String], actor: &str) -> Result<Bead> {
        self.update(id, &BeadUpdate { add_labels: labels.to_vec(), ..BeadUpdate::default() }, actor)
    }
}

/// Replaces `@N` references in `new`'s parent and dependencies with the ids of beads created
/// earlier in the same batch.
pub(crate) fn resolve_batch_refs(mut new: NewBead, ids: &[String]) -> Result<NewBead> {
    let resolve = |reference: &mut String| -> Result<()> {
        if let Some(index) = reference.strip_prefix('@') {
            let id = index.parse::<usize>().ok().and_then(|i| ids.get(i)).ok_or_else(|| {
                BeadError::Invalid(format!(
                    "batch reference `{reference}` names no earlier bead of the batch"
                ))
            })?;
            *reference = id.clone();
        }
        Ok(())
    };
    if let Some(parent) = new.parent.as_mut() {
        resolve(parent)?;
    }
    for dep in &mut new.deps {
        resolve(&mut dep.other)?;
    }
    Ok(new)
}
