//! Per-kind controllers and the manager that runs them.
//!
//! Each controller is a pure planner (`(desired, observed) → actions + status`, see
//! [`agent::plan`]) and an executor that carries the actions out ([`reconcile`]). The
//! [`manager`] drives them level-triggered with kube-runtime, one controller process per city.

pub mod agent;
pub mod holds;
pub mod launch;
pub mod manager;
pub mod model;
pub mod object;
pub mod provider;
pub mod reconcile;
