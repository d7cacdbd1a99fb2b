//! `sling`: route work to an agent.

use serde_json::{Map, Value};

use super::ROUTED_TO;
use crate::beads::{Bead, BeadError, BeadStore, NewBead, Result};

/// What was slung.
#[derive(Debug)]
pub struct Slung {
    /// The bead, as it now is.
    pub bead: Bead,
    /// Whether the bead was created from text.
    pub created: bool,
}

/// Routes `work` to `agent`: when `work` is the id of a bead in `store` that bead, otherwise a
/// new task whose title is the first line of `work` (the rest is its description).
pub fn sling(store: &dyn BeadStore, agent: &str, work: &str, actor: &str) -> Result<Slung> {
    let mut route = Map::new();
    route.insert(ROUTED_TO.into(), Value::String(agent.to_owned()));
    match store.get(work.trim()) {
        Ok(bead) => {
            if bead.is_closed() {
                return Err(BeadError::Invalid(format!(
                    "{} is closed; reopen it with `bd update {} --status open` to sling it",
                    bead.id, bead.id
                )));
            }
            let bead = store.set_metadata(&bead.id, route, actor)?;
            Ok(Slung { bead, created: false })
        }
        Err(BeadError::NotFound(_)) => {
            let text = work.trim();
            if text.is_empty() {
                return Err(BeadError::Invalid(
                    "nothing to sling: give a bead id or a text".into(),
                ));
            }
            let (title, description) = match text.split_once('\n') {
                Some((title, rest)) => (title.trim(), rest.trim()),
                None => (text, ""),
            };
            let new = NewBead {
                title: title.to_owned(),
                description: description.to_owned(),
                metadata: route,
                ..NewBead::default()
            };
            Ok(Slung { bead: store.create(new, actor)?, created: true })
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::beads::embedded::EmbeddedStore;

    #[test]
    fn text_becomes_a_routed_bead_and_an_id_is_routed_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(&dir.path().join("beads.db"), "gc").unwrap();
        let made = sling(&store, "worker", "Fix the build\nIt fails on main.", "mayor").unwrap();
        assert!(made.created);
        assert_eq!(made.bead.title, "Fix the build");
        assert_eq!(made.bead.description, "It fails on main.");
        assert_eq!(made.bead.meta_str(ROUTED_TO), Some("worker"));

        let moved = sling(&store, "reviewer", &made.bead.id, "mayor").unwrap();
        assert!(!moved.created);
        assert_eq!(moved.bead.id, made.bead.id);
        assert_eq!(moved.bead.meta_str(ROUTED_TO), Some("reviewer"));

        store.close(&made.bead.id, None, "x").unwrap();
        let err = sling(&store, "worker", &made.bead.id, "mayor").unwrap_err().to_string();
        assert!(err.contains("is closed"), "{err}");
        assert!(sling(&store, "worker", "  ", "mayor").is_err());
    }
}
