//! The exec bead store protocol's JSON messages (`docs/exec-bead-store.md`), shared by the
//! client ([`super::exec`]) and the reference server ([`super::exec_server`]) so the two cannot
//! disagree. Beads, dependencies and import summaries travel in bd's own shapes
//! ([`super::model`]); the request bodies below mirror the trait's arguments field by field.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::{
    BeadError, BeadUpdate, DepDirection, Dependency, ListQuery, NewBead, NewDep, ReadyQuery,
};

/// Exit status of a successful op.
pub const EXIT_OK: i32 = 0;
/// Exit status of a failed op (stderr says why; stdout may hold a [`WireError`]).
pub const EXIT_ERROR: i32 = 1;
/// Exit status of an op the script does not implement.
pub const EXIT_UNSUPPORTED: i32 = 2;

/// Environment variable holding the beads directory (absolute) the script serves.
pub const ENV_DIR: &str = "GC_BEADS_DIR";
/// Environment variable holding the id prefix of new beads.
pub const ENV_PREFIX: &str = "GC_BEADS_PREFIX";

fn is_false(b: &bool) -> bool {
    !*b
}

/// Present-and-null is `Some(None)`; absent is `None` (with `#[serde(default)]`).
fn double_option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Body of `create`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CreateRequest {
    /// Who creates it.
    pub actor: String,
    /// Explicit id (imports); absent: the store makes one from its prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// One line.
    pub title: String,
    /// The body.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Absent: `task`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue_type: Option<String>,
    /// Absent: 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    /// Absent: unassigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// Labels to attach.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Makes the bead a child of this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Edges to add with the bead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deps: Vec<WireNewDep>,
    /// Initial metadata.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    /// A wisp.
    #[serde(default, skip_serializing_if = "is_false")]
    pub ephemeral: bool,
    /// Not ready before this RFC 3339 time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defer_until: Option<String>,
    /// Free-form notes.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notes: String,
    /// When it counts as done.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub acceptance: String,
}

/// A dependency given at creation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WireNewDep {
    /// The other bead.
    pub other: String,
    /// The edge type (`blocks`, `related`, …).
    #[serde(rename = "type")]
    pub dep_type: String,
    /// `new-depends-on-other` (bd's bare `--deps X`) or `other-depends-on-new`
    /// (`--deps blocks:X`).
    pub direction: WireDirection,
    /// Edge data (`{"gate": "any-children"}` for `waits-for`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// Which way a dependency given at creation points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WireDirection {
    /// The new bead depends on the other one.
    NewDependsOnOther,
    /// The other bead depends on the new one.
    OtherDependsOnNew,
}

impl CreateRequest {
    /// The request for `new`, made by `actor`.
    pub fn new(new: NewBead, actor: &str) -> CreateRequest {
        CreateRequest {
            actor: actor.to_owned(),
            id: new.id,
            title: new.title,
            description: new.description,
            issue_type: new.issue_type,
            priority: new.priority,
            assignee: new.assignee,
            labels: new.labels,
            parent: new.parent,
            deps: new
                .deps
                .into_iter()
                .map(|d| WireNewDep {
                    other: d.other,
                    dep_type: d.dep_type,
                    direction: match d.direction {
                        DepDirection::NewDependsOnOther => WireDirection::NewDependsOnOther,
                        DepDirection::OtherDependsOnNew => WireDirection::OtherDependsOnNew,
                    },
                    metadata: d.metadata,
                })
                .collect(),
            metadata: new.metadata,
            ephemeral: new.ephemeral,
            defer_until: new.defer_until,
            notes: new.notes,
            acceptance: new.acceptance,
        }
    }

    /// The trait's arguments again: the bead to create and the actor.
    pub fn into_parts(self) -> (NewBead, String) {
        let deps = self
            .deps
            .into_iter()
            .map(|d| NewDep {
                other: d.other,
                dep_type: d.dep_type,
                direction: match d.direction {
                    WireDirection::NewDependsOnOther => DepDirection::NewDependsOnOther,
                    WireDirection::OtherDependsOnNew => DepDirection::OtherDependsOnNew,
                },
                metadata: d.metadata,
            })
            .collect();
        let new = NewBead {
            id: self.id,
            title: self.title,
            description: self.description,
            issue_type: self.issue_type,
            priority: self.priority,
            assignee: self.assignee,
            labels: self.labels,
            parent: self.parent,
            deps,
            metadata: self.metadata,
            ephemeral: self.ephemeral,
            defer_until: self.defer_until,
            notes: self.notes,
            acceptance: self.acceptance,
        };
        (new, self.actor)
    }
}

/// Body of `update`: absent fields are left as they are.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateRequest {
    /// Who changes it.
    pub actor: String,
    /// New title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// New description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// New notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// New status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// New priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    /// New assignee; `""` unassigns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// Labels to add.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_labels: Vec<String>,
    /// Labels to remove.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_labels: Vec<String>,
    /// Metadata keys to set; `null` removes a key.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub set_metadata: Map<String, Value>,
    /// Absent: unchanged; `null`: cleared; a time: set.
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    pub defer_until: Option<Option<String>>,
}

impl UpdateRequest {
    /// The request for `change`, made by `actor`.
    pub fn new(change: &BeadUpdate, actor: &str) -> UpdateRequest {
        let change = change.clone();
        UpdateRequest {
            actor: actor.to_owned(),
            title: change.title,
            description: change.description,
            notes: change.notes,
            status: change.status,
            priority: change.priority,
            assignee: change.assignee,
            add_labels: change.add_labels,
            remove_labels: change.remove_labels,
            set_metadata: change.set_metadata,
            defer_until: change.defer_until,
        }
    }

    /// The trait's arguments again.
    pub fn into_parts(self) -> (BeadUpdate, String) {
        let change = BeadUpdate {
            title: self.title,
            description: self.description,
            notes: self.notes,
            status: self.status,
            priority: self.priority,
            assignee: self.assignee,
            add_labels: self.add_labels,
            remove_labels: self.remove_labels,
            set_metadata: self.set_metadata,
            defer_until: self.defer_until,
        };
        (change, self.actor)
    }
}

/// Body of the ops that need only who does them (`claim`, `dep-remove`, `delete`), and of
/// `close` (with its reason).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ActorRequest {
    /// Who does it.
    pub actor: String,
    /// `close` only: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Body of `dep-add` (the two ids are arguments).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DepAddRequest {
    /// Who adds it.
    pub actor: String,
    /// The edge type.
    #[serde(rename = "type")]
    pub dep_type: String,
    /// Edge data (`{"gate": "any-children"}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// When the edge was made, when it is not now (imports).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created_at: String,
    /// Who made it, when not `actor`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created_by: String,
}

/// Body of `set-metadata`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SetMetadataRequest {
    /// Who sets it.
    pub actor: String,
    /// Keys to set; `null` removes a key.
    pub metadata: Map<String, Value>,
}

/// Body of `import`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportRequest {
    /// Who imports.
    pub actor: String,
    /// The beads, in bd's export shape.
    pub beads: Vec<super::Bead>,
}

/// What `import` prints: how many beads were created, replaced, and left as they were.
/// ([`super::ImportSummary`] is the same, but only serialises.)
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportReply {
    /// Beads that were not in the store.
    #[serde(default)]
    pub created: usize,
    /// Beads replaced by the imported line.
    #[serde(default)]
    pub updated: usize,
    /// Lines identical to what the store holds.
    #[serde(default)]
    pub unchanged: usize,
}

impl From<ImportReply> for super::ImportSummary {
    fn from(r: ImportReply) -> super::ImportSummary {
        super::ImportSummary { created: r.created, updated: r.updated, unchanged: r.unchanged }
    }
}

/// Body of `list`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ListRequest {
    /// Any of these statuses; empty: all but `closed` (unless `all`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<String>,
    /// Include closed beads when no status is given.
    #[serde(default, skip_serializing_if = "is_false")]
    pub all: bool,
    /// Assigned to exactly this actor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// Unassigned only.
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_assignee: bool,
    /// Every one of these labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Of this type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue_type: Option<String>,
    /// Children of this bead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Metadata key → string value, all of them.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    /// At most this many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

impl From<&ListQuery> for ListRequest {
    fn from(q: &ListQuery) -> ListRequest {
        ListRequest {
            statuses: q.statuses.clone(),
            all: q.all,
            assignee: q.assignee.clone(),
            no_assignee: q.no_assignee,
            labels: q.labels.clone(),
            issue_type: q.issue_type.clone(),
            parent: q.parent.clone(),
            metadata: pairs_to_map(&q.metadata),
            limit: q.limit,
        }
    }
}

impl TryFrom<ListRequest> for ListQuery {
    type Error = BeadError;
    fn try_from(r: ListRequest) -> Result<ListQuery, BeadError> {
        Ok(ListQuery {
            statuses: r.statuses,
            all: r.all,
            assignee: r.assignee,
            no_assignee: r.no_assignee,
            labels: r.labels,
            issue_type: r.issue_type,
            parent: r.parent,
            metadata: map_to_pairs(r.metadata)?,
            limit: r.limit,
        })
    }
}

/// Body of `ready` and `claim-ready` (`actor` is used by `claim-ready` only).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReadyRequest {
    /// `claim-ready` only: who claims.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub actor: String,
    /// Assigned to exactly this actor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// Unassigned only.
    #[serde(default, skip_serializing_if = "is_false")]
    pub unassigned: bool,
    /// Every one of these labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Of this type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue_type: Option<String>,
    /// Metadata key → string value, all of them.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    /// At most this many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

impl ReadyRequest {
    /// The request for `q` (`actor` empty for `ready`).
    pub fn new(q: &ReadyQuery, actor: &str) -> ReadyRequest {
        ReadyRequest {
            actor: actor.to_owned(),
            assignee: q.assignee.clone(),
            unassigned: q.unassigned,
            labels: q.labels.clone(),
            issue_type: q.issue_type.clone(),
            metadata: pairs_to_map(&q.metadata),
            limit: q.limit,
        }
    }

    /// The trait's arguments again: the query and the actor.
    pub fn into_parts(self) -> Result<(ReadyQuery, String), BeadError> {
        let query = ReadyQuery {
            assignee: self.assignee,
            unassigned: self.unassigned,
            labels: self.labels,
            issue_type: self.issue_type,
            metadata: map_to_pairs(self.metadata)?,
            limit: self.limit,
        };
        Ok((query, self.actor))
    }
}

fn pairs_to_map(pairs: &[(String, String)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect()
}

fn map_to_pairs(map: Map<String, Value>) -> Result<Vec<(String, String)>, BeadError> {
    map.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            other => Err(BeadError::Invalid(format!(
                "metadata filter `{k}` must be a string, not {other}"
            ))),
        })
        .collect()
}

/// The structured error a script may print on stdout when it exits 1, so gc can tell "not
/// found" or "already claimed" from any other failure. Without one, the failure is a plain
/// store error carrying stderr.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum WireError {
    /// No bead has that id.
    NotFound {
        /// The id asked for.
        id: String,
    },
    /// Someone else holds the claim.
    AlreadyClaimed {
        /// The bead.
        id: String,
        /// Its assignee.
        by: String,
    },
    /// The bead's status does not allow a claim.
    NotClaimable {
        /// The bead.
        id: String,
        /// Its status.
        status: String,
    },
    /// The edge would close a loop.
    Cycle {
        /// The dependent.
        from: String,
        /// The dependency.
        to: String,
    },
    /// A bead cannot depend on itself.
    SelfDependency {
        /// The bead.
        id: String,
    },
    /// A bead with that id already exists.
    Exists {
        /// The id.
        id: String,
    },
    /// The request was refused as invalid (stderr says why).
    Invalid,
}

impl WireError {
    /// The structured form of `err`, when it has one (store failures have none).
    pub fn from_error(err: &BeadError) -> Option<WireError> {
        Some(match err {
            BeadError::NotFound(id) => WireError::NotFound { id: id.clone() },
            BeadError::AlreadyClaimed { id, by } => {
                WireError::AlreadyClaimed { id: id.clone(), by: by.clone() }
            }
            BeadError::NotClaimable { id, status } => {
                WireError::NotClaimable { id: id.clone(), status: status.clone() }
            }
            BeadError::Cycle { from, to } => {
                WireError::Cycle { from: from.clone(), to: to.clone() }
            }
            BeadError::SelfDependency(id) => WireError::SelfDependency { id: id.clone() },
            BeadError::Exists(id) => WireError::Exists { id: id.clone() },
            BeadError::Invalid(_) | BeadError::Refused(_) => WireError::Invalid,
            BeadError::Backend(_) | BeadError::Io(_) => return None,
        })
    }

    /// The error it stands for; `message` (the script's stderr) fills [`BeadError::Invalid`].
    pub fn into_error(self, message: String) -> BeadError {
        match self {
            WireError::NotFound { id } => BeadError::NotFound(id),
            WireError::AlreadyClaimed { id, by } => BeadError::AlreadyClaimed { id, by },
            WireError::NotClaimable { id, status } => BeadError::NotClaimable { id, status },
            WireError::Cycle { from, to } => BeadError::Cycle { from, to },
            WireError::SelfDependency { id } => BeadError::SelfDependency(id),
            WireError::Exists { id } => BeadError::Exists(id),
            WireError::Invalid => BeadError::Invalid(message),
        }
    }
}

/// The edge `dep-add` adds, from its arguments and body.
pub fn dependency(issue: &str, depends_on: &str, body: DepAddRequest) -> (Dependency, String) {
    let dep = Dependency {
        issue_id: issue.to_owned(),
        depends_on_id: depends_on.to_owned(),
        dep_type: body.dep_type,
        metadata: body.metadata,
        created_at: body.created_at,
        created_by: body.created_by,
    };
    (dep, body.actor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_update_tells_absent_from_null_from_a_value() {
        let absent: UpdateRequest = serde_json::from_value(json!({"actor": "a"})).unwrap();
        assert_eq!(absent.defer_until, None);
        let cleared: UpdateRequest =
            serde_json::from_value(json!({"actor": "a", "defer_until": null})).unwrap();
        assert_eq!(cleared.defer_until, Some(None));
        let set: UpdateRequest =
            serde_json::from_value(json!({"actor": "a", "defer_until": "2030-01-01T00:00:00Z"}))
                .unwrap();
        assert_eq!(set.defer_until, Some(Some("2030-01-01T00:00:00Z".into())));
        for req in [absent, cleared, set] {
            let back: UpdateRequest =
                serde_json::from_value(serde_json::to_value(&req).unwrap()).unwrap();
            assert_eq!(back, req);
        }
    }

    #[test]
    fn create_round_trips_deps_both_ways() {
        let new = NewBead {
            title: "t".into(),
            deps: vec![NewDep::parse("gc-1").unwrap(), NewDep::parse("blocks:gc-2").unwrap()],
            ..NewBead::default()
        };
        let wire = serde_json::to_value(CreateRequest::new(new.clone(), "me")).unwrap();
        assert_eq!(
            wire["deps"][1],
            json!({"other": "gc-2", "type": "blocks", "direction": "other-depends-on-new"})
        );
        let back: CreateRequest = serde_json::from_value(wire).unwrap();
        assert_eq!(back.into_parts(), (new, "me".to_owned()));
    }

    #[test]
    fn error_objects_name_their_code() {
        let err = BeadError::AlreadyClaimed { id: "gc-1".into(), by: "bob".into() };
        let wire = WireError::from_error(&err).unwrap();
        assert_eq!(
            serde_json::to_value(&wire).unwrap(),
            json!({"code": "already_claimed", "id": "gc-1", "by": "bob"})
        );
        assert!(WireError::from_error(&BeadError::Backend("x".into())).is_none());
        let back = wire.into_error(String::new());
        assert!(matches!(back, BeadError::AlreadyClaimed { by, .. } if by == "bob"));
    }

    #[test]
    fn metadata_filters_must_be_strings() {
        let req: ListRequest = serde_json::from_value(json!({"metadata": {"k": 1}})).unwrap();
        assert!(ListQuery::try_from(req).is_err());
    }
}
