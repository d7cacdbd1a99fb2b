//! `Order`: work fired by a gate (cooldown, cron, condition, event, or by hand).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Duration;

/// A gate plus an action: cook `formula` (routed to `target`) or run `exec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("oneOf" = [{"required": ["formula"]}, {"required": ["exec"]}]))]
pub struct OrderSpec {
    /// What the order is for. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// When the order fires.
    pub gate: Gate,
    /// Formula to cook when the order fires (exactly one of `formula` and `exec`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formula: Option<String>,
    /// Shell command to run when the order fires (exactly one of `formula` and `exec`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<String>,
    /// Variables for the formula. Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, String>,
    /// Agent the cooked work is routed to. Default: unassigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// For `exec`: longest the command may run before its whole process group is killed and
    /// the run counted as failed. For `formula`: longest the cook (creating the molecule's
    /// beads) may take; the work on those beads is not timed, the run stays open until every
    /// bead is closed. Default: `30s` for a formula, `5m` for exec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// When false the order never fires on its own. Default: `true`.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
}

fn default_enabled() -> bool {
    true
}

/// When an order fires: exactly one of the fields is set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct Gate {
    /// Fires when at least `interval` has passed since the last run (or it never ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<CooldownGate>,
    /// Fires on a 5-field cron schedule (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<CronGate>,
    /// Fires when a command exits 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<ConditionGate>,
    /// Fires once per event of a type in the city's event log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<EventGate>,
    /// Fires only by `gc order run`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual: Option<ManualGate>,
}

/// A gate that waits a fixed time between runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CooldownGate {
    /// Time between runs.
    pub interval: Duration,
}

/// A gate on a cron schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CronGate {
    /// Five fields (minute hour day-of-month month day-of-week) with lists, ranges, steps and
    /// names, e.g. `*/15 9-17 * * MON-FRI`.
    pub schedule: String,
}

/// A gate that asks a command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConditionGate {
    /// Shell command; exit status 0 means due.
    #[schemars(length(min = 1))]
    pub check: String,
    /// Longest the check may run; a check that times out means not due. Default: `10s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

/// A gate on events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventGate {
    /// Event type, e.g. `bead.closed`, or a prefix ending in `*` (`bead.*`). Events caused by
    /// the order's own runs (its own `order.*` events, events about beads it cooked) never
    /// fire it.
    #[schemars(length(min = 1))]
    pub on: String,
}

/// A gate that only `gc order run` opens. Written `manual: {}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualGate {}

/// The gate types, for matching on what a [`Gate`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GateKind {
    /// [`CooldownGate`].
    Cooldown,
    /// [`CronGate`].
    Cron,
    /// [`ConditionGate`].
    Condition,
    /// [`EventGate`].
    Event,
    /// [`ManualGate`].
    Manual,
}

impl Gate {
    /// Which gate is set; validated resources have exactly one.
    pub fn kind(&self) -> Option<GateKind> {
        if self.cooldown.is_some() {
            Some(GateKind::Cooldown)
        } else if self.cron.is_some() {
            Some(GateKind::Cron)
        } else if self.condition.is_some() {
            Some(GateKind::Condition)
        } else if self.event.is_some() {
            Some(GateKind::Event)
        } else if self.manual.is_some() {
            Some(GateKind::Manual)
        } else {
            None
        }
    }
}
