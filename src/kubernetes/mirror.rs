//! Custom resources as gc's own resource documents, and gc's status as the patch for a
//! resource's status subresource: the two conversions an in-cluster controller makes between
//! the API server and the planners, which read and write the same documents as a local city.
//! Pure.

use kube::core::{ApiResource, DynamicObject};
use serde_json::{Map, Value, json};

use crate::api::{GROUP, Kind, SERVED_API_VERSIONS, VERSION};

/// Why a custom resource is not a gc resource document.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MirrorError {
    /// An `apiVersion` this build does not serve.
    #[error("{name}: apiVersion `{found}` is not served by this gc ({served})")]
    Version {
        /// The object.
        name: String,
        /// Its apiVersion.
        found: String,
        /// What this build serves.
        served: String,
    },
    /// The object has no name.
    #[error("a {0} without a name")]
    NoName(&'static str),
}

/// The API resource (group, version, kind, plural) `kind` is served as.
pub fn api_resource(kind: Kind) -> ApiResource {
    ApiResource {
        group: GROUP.to_owned(),
        version: VERSION.to_owned(),
        api_version: format!("{GROUP}/{VERSION}"),
        kind: kind.as_str().to_owned(),
        plural: kind.plural().to_owned(),
    }
}

/// `object` as the document a city's file of `kind` holds: `apiVersion`, `kind`, `metadata`
/// (name, and labels and annotations when it has any) and `spec`. What the API server adds
/// (uid, resourceVersion, managedFields, timestamps, status) is left out, so the document
/// plans and validates as the file would.
pub fn document(kind: Kind, object: &DynamicObject) -> Result<Value, MirrorError> {
    let name = object.metadata.name.clone().ok_or(MirrorError::NoName(kind.as_str()))?;
    let api_version = object.types.as_ref().map(|t| t.api_version.clone()).unwrap_or_default();
    if !api_version.is_empty() && !SERVED_API_VERSIONS.contains(&api_version.as_str()) {
        return Err(MirrorError::Version {
            name,
            found: api_version,
            served: SERVED_API_VERSIONS.join(", "),
        });
    }
    let mut metadata = Map::new();
    metadata.insert("name".into(), name.into());
    for (key, map) in
        [("labels", &object.metadata.labels), ("annotations", &object.metadata.annotations)]
    {
        // kubectl's own bookkeeping is not part of what the user wrote.
        let kept: Map<String, Value> = map
            .iter()
            .flatten()
            .filter(|(k, _)| !k.starts_with("kubectl.kubernetes.io/"))
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        if !kept.is_empty() {
            metadata.insert(key.into(), Value::Object(kept));
        }
    }
    let spec = object.data.get("spec").cloned().unwrap_or_else(|| json!({}));
    Ok(json!({
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "kind": kind.as_str(),
        "metadata": metadata,
        "spec": spec,
    }))
}

/// The merge patch that sets a resource's status (sent to its `status` subresource, which
/// ignores everything but `status`).
pub fn status_patch(status: &Value) -> Value {
    json!({ "status": status })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(json: Value) -> DynamicObject {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_custom_resource_becomes_the_document_its_file_holds() {
        let object = served(json!({
            "apiVersion": "gascity.dev/v1alpha1",
            "kind": "Agent",
            "metadata": {
                "name": "worker",
                "namespace": "gascity",
                "uid": "6f1d…",
                "resourceVersion": "4711",
                "generation": 3,
                "creationTimestamp": "2026-12-07T00:00:00Z",
                "labels": {"team": "core"},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{…}"},
                "managedFields": [{"manager": "kubectl"}]
            },
            "spec": {"provider": "claude", "rig": "api"},
            "status": {"ready": 1}
        }));
        assert_eq!(
            document(Kind::Agent, &object).unwrap(),
            json!({
                "apiVersion": "gascity.dev/v1alpha1",
                "kind": "Agent",
                "metadata": {"name": "worker", "labels": {"team": "core"}},
                "spec": {"provider": "claude", "rig": "api"},
            })
        );
    }

    #[test]
    fn unserved_versions_and_nameless_objects_are_refused() {
        let old = served(json!({"apiVersion": "gascity.dev/v0", "kind": "Agent",
                                "metadata": {"name": "w"}, "spec": {}}));
        assert!(matches!(document(Kind::Agent, &old), Err(MirrorError::Version { .. })));
        let nameless = served(json!({"apiVersion": "gascity.dev/v1alpha1", "kind": "Rig",
                                     "metadata": {}, "spec": {}}));
        assert_eq!(document(Kind::Rig, &nameless), Err(MirrorError::NoName("Rig")));
    }

    #[test]
    fn every_kind_is_served_under_its_plural() {
        for kind in Kind::ALL {
            let resource = api_resource(kind);
            assert_eq!(resource.api_version, "gascity.dev/v1alpha1");
            assert_eq!(resource.plural, kind.plural());
        }
        assert_eq!(status_patch(&json!({"ready": 2})), json!({"status": {"ready": 2}}));
    }
}
