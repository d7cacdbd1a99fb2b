//! `Formula`: a reusable multi-step workflow; cooking it creates a molecule of beads.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Step ids: they become part of bead ids (`<formula>.<step>`), so they are kept plain.
pub const STEP_ID_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9_-]*$";
/// Variable names as used in `{{name}}` placeholders.
pub const VAR_NAME_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_]*$";

/// A workflow template.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FormulaSpec {
    /// What the workflow does. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Kind of formula. Default: `workflow`.
    #[serde(default, rename = "type")]
    pub formula_type: FormulaType,
    /// Version number of the formula's own content, for people. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// Formulas whose steps and vars this one starts from. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extends: Vec<String>,
    /// Variables substituted into step text as `{{name}}` when cooked. Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("propertyNames" = {"pattern": VAR_NAME_PATTERN}))]
    pub vars: BTreeMap<String, VarSpec>,
    /// The steps; each becomes a bead. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepSpec>,
    /// How the formula is meant to be instantiated: `liquid` (a persistent molecule, a bead per
    /// step) or `vapor` (a short-lived wisp, only its root bead unless `pour` is set, the agent
    /// following the description). Default: `liquid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// A `vapor` formula still gets a bead per step (as `bd mol wisp` and `gc sling` would not
    /// otherwise). Default: `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pour: bool,
}

/// How a formula is instantiated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Persistent beads, one per step.
    Liquid,
    /// A wisp: ephemeral, root only unless `pour`.
    Vapor,
}

/// Kinds of formula.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FormulaType {
    /// Steps cooked into a molecule.
    #[default]
    Workflow,
    /// Steps spliced into another formula.
    Expansion,
    /// Steps woven around another formula's steps.
    Aspect,
}

/// A formula variable.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VarSpec {
    /// Shown by `gc formula show`. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Value used when none is given. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Cooking fails when no value is given and there is no default. Default: `false`.
    #[serde(default)]
    pub required: bool,
    /// The only values allowed. Default: any.
    #[serde(default, rename = "enum", skip_serializing_if = "Vec::is_empty")]
    pub allowed: Vec<String>,
    /// Regular expression the whole value must match. Default: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
}

/// One step of a formula.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepSpec {
    /// Unique within the formula, children included.
    #[schemars(regex(pattern = STEP_ID_PATTERN))]
    pub id: String,
    /// The bead's title; may contain `{{var}}`.
    #[schemars(length(min = 1))]
    pub title: String,
    /// The bead's description; may contain `{{var}}`. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Notes carried onto the bead. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Bead type (`task`, `bug`, `feature`, `chore`, `epic`, `gate`, …). Default: `task`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub step_type: Option<String>,
    /// Priority from 0 (highest) to 4. Default: `2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 4))]
    pub priority: Option<u8>,
    /// Labels put on the bead. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Ids of steps that must close before this one is ready. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
    /// Agent the bead is assigned to. Default: whoever the molecule is slung to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// Expression deciding at cook time whether the step is created. Default: always.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// Metadata put on the bead. Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Closing the step's bead needs a commit that exists in its rig's repository (and is on
    /// the rig's `completion.targetBranch`, when it names one), as a rig's
    /// `completion.requireCommit` asks of every bead. Default: `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_commit: bool,
    /// Sub-steps, cooked as children of this step's bead. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<StepSpec>,
}
