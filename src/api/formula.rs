//! `Formula`: a reusable multi-step workflow; cooking it creates a molecule of beads.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Step ids: plain words, dotted (`implement.draft`), and in expansion templates and advice
/// the placeholders `{target}`, `{step.id}` that become such words.
pub const STEP_ID_PATTERN: &str = "^[A-Za-z0-9{][A-Za-z0-9_.{}-]*$";
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
    /// The work only reviews: its beads may close without a commit, even where the rig or a
    /// step asks for one (metadata `gc.review_only`, shown to the agent). Default: `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub review_only: bool,
    /// A convoy's default agent for its legs. Default: the one it is slung to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// A convoy's parallel legs, one bead each. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub legs: Vec<Leg>,
    /// A convoy's last step, after its legs. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthesis: Option<Synthesis>,
    /// Prompt templates (Go text/template) for a convoy's legs: `base` is added to each leg's
    /// description, with `.leg.id`, `.leg.title`, `.leg.focus`, `.leg.description`,
    /// `.output_path`, `.formula_name`, `.review_id`, `.target_description` and every var.
    /// Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub prompts: BTreeMap<String, String>,
    /// Where a convoy's legs write their findings. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<ConvoyOutput>,
    /// Named subsets of a convoy's legs, chosen with the var `preset`. Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub presets: BTreeMap<String, Preset>,
    /// An expansion formula's steps, spliced in place of a target step: `{target}` (the target's
    /// id), `{target.title}`, `{target.description}` and the expansion's own `{var}`s are
    /// filled in. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub template: Vec<StepSpec>,
    /// Steps inserted before and after every step matching a target (an aspect's, or this
    /// formula's own); `{step.id}` and `{step.title}` name the matched step. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub advice: Vec<AdviceRule>,
    /// An aspect's advice applies only to steps matching one of these (when there are any).
    /// Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pointcuts: Vec<Pointcut>,
    /// How other formulas are woven into this one. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compose: Option<ComposeSpec>,
    /// When the molecule is done, sum its steps up in one closed digest bead under the root
    /// (short-lived steps are then deleted; persistent ones are kept). Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub squash: Option<SquashSpec>,
}

/// One advice rule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdviceRule {
    /// Which steps: an id, `*`, `prefix.*` or `*.suffix`.
    pub target: String,
    /// A step run just before each match. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<AdviceStep>,
    /// A step run just after each match. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<AdviceStep>,
    /// Steps run before and after each match, in order. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub around: Option<Around>,
}

/// Advice steps around a match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Around {
    /// Run before the match, in order. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub before: Vec<AdviceStep>,
    /// Run after the match, in order. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<AdviceStep>,
}

/// A step that advice inserts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdviceStep {
    /// Its id; `{step.id}` is the matched step's.
    #[schemars(regex(pattern = STEP_ID_PATTERN))]
    pub id: String,
    /// Its title. Default: the id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Its description. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its bead type. Default: `task`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub step_type: Option<String>,
}

/// Which steps an aspect applies to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pointcut {
    /// Step ids matching this glob. Default: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glob: Option<String>,
    /// Steps of this bead type. Default: any.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub step_type: Option<String>,
    /// Steps carrying this label. Default: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// How other formulas are woven into a workflow.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ComposeSpec {
    /// Replace a step by an expansion's steps. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expand: Vec<ExpandRule>,
    /// Replace every step matching a glob by an expansion's steps. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub map: Vec<MapRule>,
    /// Aspect formulas whose advice applies to this workflow. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aspects: Vec<String>,
    /// Fan out from one step to several and join them again. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub branch: Vec<BranchRule>,
}

/// `compose.expand`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExpandRule {
    /// The step replaced.
    pub target: String,
    /// The expansion formula.
    pub with: String,
    /// Values for the expansion's `{var}`s. Default: its defaults.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, String>,
}

/// `compose.map`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MapRule {
    /// Which steps: an id, `*`, `prefix.*` or `*.suffix`.
    pub select: String,
    /// The expansion formula.
    pub with: String,
    /// Values for the expansion's `{var}`s. Default: its defaults.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, String>,
}

/// `compose.branch`: `steps` each need `from`; `join` needs every one of them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BranchRule {
    /// The step they start after.
    pub from: String,
    /// The parallel steps.
    pub steps: Vec<String>,
    /// The step that waits for all of them.
    pub join: String,
}

/// One leg of a convoy formula.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Leg {
    /// Unique among the legs.
    #[schemars(regex(pattern = STEP_ID_PATTERN))]
    pub id: String,
    /// The leg bead's title. Default: the id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What the leg looks at, for its prompt. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub focus: Option<String>,
    /// The leg bead's description. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The agent the leg goes to. Default: the convoy's `agent`, else the one it is slung to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The leg only reviews (closes without a commit). Default: the formula's `reviewOnly`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub review_only: bool,
}

/// A convoy formula's synthesis step.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Synthesis {
    /// Its title. Default: `Synthesis`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Its description. Default: a line asking to combine the legs' findings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The legs it waits for. Default: every leg.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
}

/// Where a convoy's legs write (Go text/template, like its prompts).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConvoyOutput {
    /// The directory. Default: `.reviews/{{.review_id}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<String>,
    /// Each leg's file in it. Default: `{{.leg.id}}-findings.md`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leg_pattern: Option<String>,
    /// The synthesis's file in it. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthesis: Option<String>,
}

/// A named subset of a convoy's legs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Preset {
    /// What it is for. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The legs it runs.
    pub legs: Vec<String>,
}

/// A formula's `squash`: the digest made when its molecule completes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SquashSpec {
    /// When the digest is made: `onComplete` (the only moment there is). Default: `onComplete`.
    #[serde(default)]
    pub trigger: SquashTrigger,
    /// What kind of digest (a label `digest:<kind>` on it, such as `work` or `operational`).
    /// Default: `work`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_type: Option<String>,
    /// Put each step's time from start to close in the digest. Default: `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub include_metrics: bool,
}

/// When a squash happens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum SquashTrigger {
    /// When every step is closed and the root closes.
    #[default]
    OnComplete,
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
    /// Parallel legs (and a synthesis after them) tracked as one convoy.
    Convoy,
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
    /// Required unless one of these vars is given. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_unless: Vec<String>,
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
    /// Something outside that must happen before the step can start: a gate bead blocks it
    /// until then (see `bd gate`). Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<StepGate>,
    /// When the step counts as done; the bead's acceptance criteria, shown to the agent. May
    /// contain `{{var}}`. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acceptance: Option<String>,
    /// Wait, besides `needs`, for the children a step gets while the molecule runs (attached
    /// with `bd mol bond --type parallel`, or created under it): `all-children`, `any-children`
    /// (the first to close), or `children-of(STEP)`. The step waited on is STEP, else the
    /// first of `needs`. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(all-children|any-children|children-of\([A-Za-z0-9_.-]+\))$"))]
    pub waits_for: Option<String>,
    /// Repeat `body` a number of times in place of this step, one iteration after another.
    /// Default: none.
    #[serde(default, rename = "loop", skip_serializing_if = "Option::is_none")]
    pub repeat: Option<LoopSpec>,
    /// When the step closes, expand an expansion formula once per item of a list in the step's
    /// output (`gc.output_json`), under the same molecule. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_complete: Option<OnComplete>,
    /// Replace this step by the steps of this expansion formula. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expand: Option<String>,
    /// Values for the inline expansion's `{var}`s. Default: its defaults.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub expand_vars: BTreeMap<String, String>,
    /// Try the step again when an attempt fails for a passing reason (its agent closes it with
    /// `gc.outcome=fail` and `gc.failure_class=transient`), up to a number of attempts. The
    /// controller runs the attempts. Default: one attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetrySpec>,
    /// Run the step, then a check script; while the check fails, run the step again, up to a
    /// number of iterations. The controller runs the check. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ralph: Option<RalphSpec>,
}

/// A step's `loop`: its body repeated, iteration `i`'s steps named `<step>.iter<i>.<id>`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoopSpec {
    /// How many iterations (numbered from 1). Default: none (then `range`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub count: Option<u32>,
    /// Iterate over `START..END` (both included, integers). Default: none (then `count`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^-?[0-9]+\.\.-?[0-9]+$"))]
    pub range: Option<String>,
    /// The name under which the body's text sees the iteration's number: `{n}`. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub var: Option<String>,
    /// The steps of one iteration.
    #[schemars(length(min = 1))]
    pub body: Vec<StepSpec>,
}

/// A step's `onComplete`: a fan-out over its output.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OnComplete {
    /// Where the list is in the step's output: `output.items` for `{"items": [...]}`.
    #[schemars(regex(pattern = r"^output(\.[A-Za-z0-9_-]+)*$"))]
    pub for_each: String,
    /// The expansion formula made once per item (its `{target}` is `<step>.item.<n>`).
    pub bond: String,
    /// Values for the expansion's `{var}`s; `{item}`, `{item.field}` and `{index}` (from 0)
    /// name the item. Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, String>,
    /// One item after another (each item's first steps wait for the one before). Default:
    /// `false` (all at once).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sequential: bool,
}

/// A step's `retry`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetrySpec {
    /// Attempts in all, the first included.
    #[schemars(range(min = 1))]
    pub max_attempts: u32,
    /// When every attempt failed: `hardFail` (the step fails and stays for a person) or
    /// `softFail` (the workflow goes on, the failure recorded). Default: `hardFail`.
    #[serde(default)]
    pub on_exhausted: OnExhausted,
}

/// What an exhausted retry does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum OnExhausted {
    /// The step fails.
    #[default]
    HardFail,
    /// The step passes with the failure recorded.
    SoftFail,
}

/// A step's `ralph`: run, check, maybe run again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RalphSpec {
    /// Iterations in all, the first included.
    #[schemars(range(min = 1))]
    pub max_attempts: u32,
    /// What decides that an iteration is good enough.
    pub check: RalphCheck,
}

/// The check after each ralph iteration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RalphCheck {
    /// How the check runs: `exec` (a script; exit 0 passes).
    pub mode: CheckMode,
    /// The script, relative to the city directory (or absolute).
    #[schemars(length(min = 1))]
    pub path: String,
    /// How long it may run. Default: `60s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<crate::api::Duration>,
}

/// How a ralph check runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CheckMode {
    /// A script run with the bead's id in `GC_BEAD_ID`; exit 0 passes.
    Exec,
}

/// A step's gate: what it waits for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepGate {
    /// What opens it: `human` (`bd gate resolve`), `timer` (after `timeout`), `mail` (a reply
    /// to message `awaitId`), `bead` (bead `awaitId` closes), `gh:run` / `gh:pr` (a GitHub
    /// Actions run or pull request `awaitId` succeeds or merges), `conditional` (whoever
    /// judges `condition` resolves it).
    #[serde(rename = "type")]
    pub kind: GateKind,
    /// The thing waited on; may contain `{{var}}`. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub await_id: Option<String>,
    /// How long a timer runs. Default: none (required for `timer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<crate::api::Duration>,
    /// For `conditional`: the condition, in words, that whoever resolves the gate judges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

/// What a gate waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum GateKind {
    /// A person resolves it.
    #[serde(rename = "human")]
    Human,
    /// Its timeout passes.
    #[serde(rename = "timer")]
    Timer,
    /// A message gets a reply.
    #[serde(rename = "mail")]
    Mail,
    /// A bead closes.
    #[serde(rename = "bead")]
    Bead,
    /// A GitHub Actions run succeeds.
    #[serde(rename = "gh:run")]
    GhRun,
    /// A GitHub pull request is merged.
    #[serde(rename = "gh:pr")]
    GhPr,
    /// Someone judges a condition and resolves it.
    #[serde(rename = "conditional")]
    Conditional,
}

impl GateKind {
    /// The name bd and gate beads use.
    pub fn as_str(self) -> &'static str {
        match self {
            GateKind::Human => "human",
            GateKind::Timer => "timer",
            GateKind::Mail => "mail",
            GateKind::Bead => "bead",
            GateKind::GhRun => "gh:run",
            GateKind::GhPr => "gh:pr",
            GateKind::Conditional => "conditional",
        }
    }
}
