//! The form in which applied objects flow through kube-runtime: Kubernetes object metadata
//! around the stored spec, one Rust type for every kind (the kind is the dynamic type).

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::{DynamicResourceScope, Resource};
use serde::{Deserialize, Serialize};

use crate::api::Kind;
use crate::store::StoredObject;

/// An applied object as kube-runtime sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GcObject {
    /// Name, uid, generation and resourceVersion from the store.
    pub metadata: ObjectMeta,
    /// The stored object itself.
    #[serde(skip)]
    pub stored: Option<StoredObject>,
}

impl GcObject {
    /// Wraps a stored object.
    pub fn new(stored: StoredObject) -> GcObject {
        let m = &stored.metadata;
        let metadata = ObjectMeta {
            name: Some(m.name.clone()),
            uid: Some(m.uid.clone()),
            generation: i64::try_from(m.generation).ok(),
            resource_version: Some(m.resource_version.clone()),
            labels: Some(m.labels.clone()),
            ..ObjectMeta::default()
        };
        GcObject { metadata, stored: Some(stored) }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or_default()
    }
}

impl Resource for GcObject {
    type DynamicType = Kind;
    type Scope = DynamicResourceScope;

    fn kind(kind: &Kind) -> Cow<'_, str> {
        Cow::Borrowed(kind.as_str())
    }

    fn group(_: &Kind) -> Cow<'_, str> {
        Cow::Borrowed(crate::api::GROUP)
    }

    fn version(_: &Kind) -> Cow<'_, str> {
        Cow::Borrowed(crate::api::VERSION)
    }

    fn plural(kind: &Kind) -> Cow<'_, str> {
        Cow::Borrowed(kind.plural())
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}
