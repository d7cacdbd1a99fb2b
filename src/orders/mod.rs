//! Orders: work fired by a gate — a cooldown, a cron schedule, a condition check, an event in
//! the city's log, or by hand — that runs a shell command (`exec`) or cooks a formula routed to
//! an agent.
//!
//! - [`schedule`]: 5-field cron schedules in UTC.
//! - [`gate`]: the pure planner deciding whether an order is due.
//! - [`state`]: what each order remembers on disk (`.gc/state/orders/`), under a lock.
//! - [`exec`]: running `exec` actions and condition checks.
//! - [`run`]: firing an order and ending its runs, shared by the controller
//!   (`controllers/order.rs`) and `gc order run`.
//!
//! An order never fires while its previous run still has open work: an exec still running, or
//! a cooked molecule with a bead not closed.

pub mod exec;
pub mod gate;
pub mod run;
pub mod schedule;
pub mod state;

/// Metadata key on every bead an order's formula run cooked: the order's name. Bead events
/// carry it (as `order` in their payload) so an order never fires on its own work.
pub const ORDER: &str = "gc.order";
/// Metadata key on every bead an order's formula run cooked: the run id.
pub const ORDER_RUN: &str = "gc.order_run";
