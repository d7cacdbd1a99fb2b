//! The stored form of a resource: the last applied object with server-set metadata.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::api::{Kind, Resource};

/// A resource as `gc apply` recorded it in `.gc/applied/`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredObject {
    /// The apiVersion it was applied with.
    pub api_version: String,
    /// Its kind.
    pub kind: Kind,
    /// Name, labels, annotations and the server-set fields.
    pub metadata: StoredMeta,
    /// The spec in canonical form (defaults filled in, keys sorted).
    pub spec: Value,
    /// The file it was last applied from, relative to the city directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// Metadata of a stored object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredMeta {
    /// The resource name.
    pub name: String,
    /// Labels as applied.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations as applied.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Bumped each time the spec changes; 1 when created.
    pub generation: u64,
    /// Changes on every write of the object (a city-wide counter).
    pub resource_version: String,
    /// When the object was first applied (RFC 3339, UTC).
    pub creation_timestamp: String,
    /// Unique for the life of the object; a deleted and re-created object gets a new one.
    pub uid: String,
}

impl StoredObject {
    /// `kind/name`, as printed by the CLI.
    pub fn key(&self) -> String {
        self.kind.key(&self.metadata.name)
    }

    /// The [digest](super::digest) of what apply compares: equal to the declared object's
    /// exactly when applying it again would change nothing.
    pub fn digest(&self) -> String {
        super::digest(self.kind, &self.metadata.labels, &self.metadata.annotations, &self.spec)
    }

    /// The typed resource as applied; an error when the stored spec no longer fits the types
    /// (a store written by another version of gc, or edited by hand).
    pub fn to_resource(&self) -> Result<Resource, String> {
        let document = serde_json::json!({
            "apiVersion": self.api_version,
            "kind": self.kind.as_str(),
            "metadata": {
                "name": self.metadata.name,
                "labels": self.metadata.labels,
                "annotations": self.metadata.annotations,
            },
            "spec": self.spec,
        });
        Resource::from_value(self.kind, &document).map_err(|e| e.to_string())
    }

    /// [`StoredObject::to_resource`], its error said as a damaged object's is.
    pub fn typed(&self) -> Result<Resource, String> {
        self.to_resource()
            .map_err(|e| format!("its stored spec does not fit {}: {e}", self.kind.as_str()))
    }
}

/// What a file declares for one resource, in the canonical form it is compared and stored in.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredObject {
    /// Its kind.
    pub kind: Kind,
    /// Its name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// Canonical spec.
    pub spec: Value,
    /// The file it comes from, relative to the city directory.
    pub source: Option<String>,
}

impl DesiredObject {
    /// The canonical desired form of a validated resource.
    pub fn from_resource(resource: &Resource, source: Option<String>) -> DesiredObject {
        let meta = resource.metadata();
        DesiredObject {
            kind: resource.kind(),
            name: meta.name.clone(),
            labels: meta.labels.clone(),
            annotations: meta.annotations.clone(),
            spec: canonical(resource.spec_json()),
            source,
        }
    }

    /// `kind/name`, as printed by the CLI.
    pub fn key(&self) -> String {
        self.kind.key(&self.name)
    }

    /// The object as the store keeps it, with the server-set fields apply decided.
    pub fn stored(
        &self,
        generation: u64,
        resource_version: String,
        creation_timestamp: String,
        uid: String,
    ) -> StoredObject {
        StoredObject {
            api_version: crate::api::API_VERSION.to_owned(),
            kind: self.kind,
            metadata: StoredMeta {
                name: self.name.clone(),
                labels: self.labels.clone(),
                annotations: self.annotations.clone(),
                generation,
                resource_version,
                creation_timestamp,
                uid,
            },
            spec: self.spec.clone(),
            source: self.source.clone(),
        }
    }

    /// The [digest](super::digest) of what apply compares.
    pub fn digest(&self) -> String {
        super::digest(self.kind, &self.labels, &self.annotations, &self.spec)
    }
}

/// `value` with every object's keys sorted, so equal content always serialises the same way.
pub fn canonical(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries.into_iter().map(|(k, v)| (k, canonical(v))).collect::<Map<_, _>>(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}
