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
