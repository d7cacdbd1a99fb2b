//! The bead data model, with bd's field names and JSON shapes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Statuses bd knows; stores accept custom ones too.
pub mod status {
    /// Not started; the only status `ready` returns.
    pub const OPEN: &str = "open";
    /// Claimed and being worked on.
    pub const IN_PROGRESS: &str = "in_progress";
    /// Waiting on something outside the dependency graph.
    pub const BLOCKED: &str = "blocked";
    /// Put off until later.
    pub const DEFERRED: &str = "deferred";
    /// Done.
    pub const CLOSED: &str = "closed";
    /// Kept around on purpose; never ready, never blocking.
    pub const PINNED: &str = "pinned";
    /// Attached to an agent's hook.
    pub const HOOKED: &str = "hooked";
}

/// Dependency types that take part in readiness.
pub mod dep_type {
    /// `issue_id` cannot start until `depends_on_id` is closed.
    pub const BLOCKS: &str = "blocks";
    /// Like `blocks` (the condition is the blocker's outcome, decided by whoever closes it).
    pub const CONDITIONAL_BLOCKS: &str = "conditional-blocks";
    /// `issue_id` waits for the children of `depends_on_id` (metadata `gate`: `all-children`,
    /// the default, or `any-children`).
    pub const WAITS_FOR: &str = "waits-for";
    /// `issue_id` is a child of `depends_on_id`: blocked whenever its parent is blocked.
    pub const PARENT_CHILD: &str = "parent-child";
    /// Informational link; never blocks.
    pub const RELATED: &str = "related";
    /// Found while working on the other bead; never blocks.
    pub const DISCOVERED_FROM: &str = "discovered-from";
    /// A mail reply to another message; never blocks.
    pub const REPLIES_TO: &str = "replies-to";
}

/// Bead types `ready` never returns: they are infrastructure, not work.
pub const NOT_WORK_TYPES: &[&str] =
    &["merge-request", "gate", "molecule", "convoy", "message", "agent", "role", "rig", "session"];

/// Priority when none is given (0 is the highest, 4 the lowest).
pub const DEFAULT_PRIORITY: i64 = 2;

/// Type when none is given.
pub const DEFAULT_TYPE: &str = "task";

fn is_false(b: &bool) -> bool {
    !*b
}

/// One bead (bd calls it an issue), exactly as `bd show --json` and bd's JSONL export print it.
/// Empty strings, empty lists and `false` flags are left out, as bd leaves them out; `priority`
/// is always present.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Bead {
    /// `<prefix>-<base36>`, or `<parent>.N` for a child.
    pub id: String,
    /// One line saying what it is.
    pub title: String,
    /// The body.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Design notes.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub design: String,
    /// When it counts as done.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub acceptance_criteria: String,
    /// Free-form notes.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notes: String,
    /// See [`status`].
    pub status: String,
    /// 0 (highest) to 4 (lowest).
    #[serde(default)]
    pub priority: i64,
    /// `task`, `bug`, `feature`, `message`, … (free text).
    #[serde(default)]
    pub issue_type: String,
    /// Who is working on it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub assignee: String,
    /// Who owns it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub owner: String,
    /// RFC 3339, UTC, as Go prints times (fractional seconds only when non-zero).
    pub created_at: String,
    /// The actor that created it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created_by: String,
    /// Last change.
    pub updated_at: String,
    /// When it was first claimed or set in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When it was closed; present exactly when the status is `closed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<String>,
    /// Why it was closed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub close_reason: String,
    /// Due date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<String>,
    /// Not ready before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defer_until: Option<String>,
    /// A link to another tracker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_ref: Option<String>,
    /// Free-form key/value data (`gc.routed_to`, …).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    /// Labels, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// The edges out of this bead (what it depends on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<Dependency>,
    /// Comments, kept as bd wrote them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comments: Vec<Value>,
    /// Short-lived (wisps): never exported as work, never ready.
    #[serde(default, skip_serializing_if = "is_false")]
    pub ephemeral: bool,
    /// Pinned beads are never ready and never block.
    #[serde(default, skip_serializing_if = "is_false")]
    pub pinned: bool,
    /// A template (formula proto), not work.
    #[serde(default, skip_serializing_if = "is_false")]
    pub is_template: bool,
    /// The formula this bead was cooked from.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source_formula: String,
    /// Molecule role.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mol_type: String,
    /// `bd list`/`bd ready` only: how many beads this one depends on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependency_count: Option<u64>,
    /// `bd list`/`bd ready` only: how many beads depend on this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependent_count: Option<u64>,
    /// `bd list`/`bd ready` only: number of comments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_count: Option<u64>,
    /// `bd list`/`bd ready` only: the parent's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

impl Bead {
    /// Whether the bead is finished.
    pub fn is_closed(&self) -> bool {
        self.status == status::CLOSED
    }

    /// The string value of a metadata key (`None` when absent or not a string).
    pub fn meta_str(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).and_then(Value::as_str)
    }
}

/// A dependency edge: `issue_id` depends on (is blocked by) `depends_on_id`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Dependency {
    /// The dependent bead.
    pub issue_id: String,
    /// The bead it depends on.
    pub depends_on_id: String,
    /// See [`dep_type`].
    #[serde(rename = "type")]
    pub dep_type: String,
    /// When the edge was added.
    #[serde(default)]
    pub created_at: String,
    /// Who added it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created_by: String,
    /// Edge data (`{"gate": "any-children"}` for `waits-for`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// Which way a dependency given at creation points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DepDirection {
    /// The new bead depends on the other one (bd's bare `--deps X`).
    NewDependsOnOther,
    /// The other bead depends on the new one (bd's `--deps blocks:X`).
    OtherDependsOnNew,
}

/// A dependency given when creating a bead.
#[derive(Clone, Debug, PartialEq)]
pub struct NewDep {
    /// The other bead.
    pub other: String,
    /// See [`dep_type`].
    pub dep_type: String,
    /// Which way the edge points.
    pub direction: DepDirection,
    /// Edge data (`{"gate": "any-children"}` for `waits-for`).
    pub metadata: Option<Value>,
}

impl NewDep {
    /// An edge of `dep_type` between the new bead and `other`, pointing `direction`.
    pub fn new(other: impl Into<String>, dep_type: &str, direction: DepDirection) -> NewDep {
        NewDep { other: other.into(), dep_type: dep_type.to_owned(), direction, metadata: None }
    }

    /// Parses one entry of bd's `--deps`: `X` (the new bead is blocked by X), `blocks:X` (X is
    /// blocked by the new bead) or `TYPE:X` (the new bead has a TYPE edge to X).
    pub fn parse(entry: &str) -> Result<NewDep, String> {
        let entry = entry.trim();
        let (dep_type, other) = match entry.split_once(':') {
            Some((t, other)) => (t.trim(), other.trim()),
            None => (dep_type::BLOCKS, entry),
        };
        if other.is_empty() || dep_type.is_empty() {
            return Err(format!("bad dependency `{entry}`: expected ID, blocks:ID or TYPE:ID"));
        }
        let direction = if entry.contains(':') && dep_type == dep_type::BLOCKS {
            DepDirection::OtherDependsOnNew
        } else {
            DepDirection::NewDependsOnOther
        };
        Ok(NewDep::new(other, dep_type, direction))
    }
}

/// What `create` needs; everything but the title has a default.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewBead {
    /// Explicit id (imports); default: generated from the store's prefix.
    pub id: Option<String>,
    /// One line.
    pub title: String,
    /// The body.
    pub description: String,
    /// Free-form notes.
    pub notes: String,
    /// When it counts as done (bd's `acceptance_criteria`).
    pub acceptance: String,
    /// Default [`DEFAULT_TYPE`].
    pub issue_type: Option<String>,
    /// Default [`DEFAULT_PRIORITY`].
    pub priority: Option<i64>,
    /// Default unassigned.
    pub assignee: Option<String>,
    /// Labels to attach.
    pub labels: Vec<String>,
    /// Makes the bead a child `<parent>.N` with a `parent-child` edge.
    pub parent: Option<String>,
    /// Edges to add in the same transaction.
    pub deps: Vec<NewDep>,
    /// Initial metadata.
    pub metadata: Map<String, Value>,
    /// A wisp.
    pub ephemeral: bool,
    /// Not ready before this RFC 3339 time.
    pub defer_until: Option<String>,
}

/// A partial change: `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BeadUpdate {
    /// New title.
    pub title: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New notes.
    pub notes: Option<String>,
    /// New status (`closed` sets `closed_at`; anything else clears it).
    pub status: Option<String>,
    /// New priority.
    pub priority: Option<i64>,
    /// New assignee; `Some("")` unassigns.
    pub assignee: Option<String>,
    /// Labels to add.
    pub add_labels: Vec<String>,
    /// Labels to remove.
    pub remove_labels: Vec<String>,
    /// Metadata keys to set (merged); a `null` value removes the key.
    pub set_metadata: Map<String, Value>,
    /// New defer time; `Some(None)` clears it.
    pub defer_until: Option<Option<String>>,
}

impl BeadUpdate {
    /// Whether the update changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == BeadUpdate::default()
    }
}

/// Filters for `list`. Several labels must all be present; several statuses match any.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListQuery {
    /// Match any of these statuses. Empty: every status but `closed` (unless `all`).
    pub statuses: Vec<String>,
    /// Include closed beads when no status is given.
    pub all: bool,
    /// Assigned to exactly this actor.
    pub assignee: Option<String>,
    /// Unassigned only.
    pub no_assignee: bool,
    /// Carries every one of these labels.
    pub labels: Vec<String>,
    /// Of this type.
    pub issue_type: Option<String>,
    /// Children of this bead.
    pub parent: Option<String>,
    /// Metadata key = string value, all of them.
    pub metadata: Vec<(String, String)>,
    /// At most this many (newest first after priority).
    pub limit: Option<usize>,
}

/// Filters for `ready` (and `claim_ready`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReadyQuery {
    /// Assigned to exactly this actor.
    pub assignee: Option<String>,
    /// Unassigned only.
    pub unassigned: bool,
    /// Carries every one of these labels.
    pub labels: Vec<String>,
    /// Of this type.
    pub issue_type: Option<String>,
    /// Metadata key = string value, all of them.
    pub metadata: Vec<(String, String)>,
    /// At most this many.
    pub limit: Option<usize>,
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    /// Beads that were not in the store.
    pub created: usize,
    /// Beads already in the store, replaced by the imported line.
    pub updated: usize,
    /// Lines identical to what the store holds.
    pub unchanged: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deps_parse_like_bd() {
        let bare = NewDep::parse("gc-1").unwrap();
        assert_eq!(bare.direction, DepDirection::NewDependsOnOther);
        assert_eq!(bare.dep_type, "blocks");
        let blocks = NewDep::parse("blocks:gc-2").unwrap();
        assert_eq!(blocks.direction, DepDirection::OtherDependsOnNew);
        assert_eq!(blocks.other, "gc-2");
        let found = NewDep::parse("discovered-from:gc-3").unwrap();
        assert_eq!(found.direction, DepDirection::NewDependsOnOther);
        assert_eq!(found.dep_type, "discovered-from");
        assert!(NewDep::parse("blocks:").is_err());
        assert!(NewDep::parse("").is_err());
    }

    #[test]
    fn empty_fields_are_left_out_and_priority_is_always_there() {
        let bead = Bead {
            id: "gc-a1".into(),
            title: "t".into(),
            status: "open".into(),
            priority: 0,
            issue_type: "task".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
            ..Bead::default()
        };
        let json = serde_json::to_value(&bead).unwrap();
        let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["id", "title", "status", "priority", "issue_type", "created_at", "updated_at"]
        );
    }
}
