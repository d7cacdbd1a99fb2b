//! Per-kind controllers and the manager that runs them.
//!
//! Each controller is a pure planner (`(desired, observed) → actions + status`, see
//! [`agent::plan`], [`rig::plan`]) and an executor that carries the actions out
//! ([`reconcile`], [`rig_reconcile`]). The
//! [`manager`] drives them level-triggered with kube-runtime, one controller process per city.

pub mod agent;
pub mod budget;
pub mod budget_watch;
pub mod control_sweep;
pub mod crash_ledger;
pub mod exit_watch;
pub mod formula;
pub mod gate_sweep;
pub mod git;
pub mod holds;
pub mod launch;
pub mod lease;
pub mod lease_sweep;
pub mod manager;
pub mod model;
pub mod nudge;
pub mod nudge_drainer;
pub mod nudge_queue;
pub mod object;
pub mod order;
pub mod pool;
pub mod provider;
pub mod reconcile;
pub mod rig;
pub mod rig_reconcile;
pub mod runtime_plan;
pub mod scale_check;
pub mod turn;
pub mod worktree;
