//! Gas City's work verbs over the bead stores: routing work to agents (`sling`), an agent's
//! next work (`hook`) and mail between agents (`mail`). Each is a function of a store and
//! plain values, so the CLI only parses, prints and pokes the controller.

pub mod demand;
pub mod hook;
pub mod mail;
pub mod query;
pub mod sling;
pub mod stores;

/// Metadata key naming the agent a bead is routed to.
pub const ROUTED_TO: &str = "gc.routed_to";

/// Closes bead `id` (`gc bd close`, the dashboard). Closing the last open step of a cooked
/// molecule closes the molecule too (and any finished step holding children), so it leaves
/// the hook and an order sees its run complete.
pub fn close(
    store: &dyn crate::beads::BeadStore,
    id: &str,
    reason: Option<&str>,
    actor: &str,
) -> crate::beads::Result<crate::beads::Bead> {
    let bead = store.close(id, reason, actor)?;
    if bead.meta_str(crate::formula::FORMULA).is_some() {
        crate::formula::cook::close_finished_parents(store, &bead, actor)?;
    }
    Ok(bead)
}
