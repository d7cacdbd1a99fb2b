//! Writing gc's status of a custom resource through its `status` subresource: the executor
//! that puts what the planners observed where `kubectl get` and `kubectl describe` show it.
//!
//! A status is written as a JSON merge patch (`application/merge-patch+json`, body
//! `{"status": …}`, see [`mirror::status_patch`]) so the writer needs no `resourceVersion`
//! and never races the spec's writers: the status subresource ignores everything but
//! `status`. Statuses are JSON, so one writer serves every kind.
//!
//! Reconciles are level-triggered and repeat; most passes produce the status already stored.
//! [`StatusWriter`] remembers the last status it wrote (or saw) for each object and sends
//! nothing when it is unchanged, which keeps a quiet city from patching every object on
//! every pass.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use kube::api::{Patch, PatchParams};
use kube::core::DynamicObject;
use kube::{Api, Client};
use serde_json::Value;

use crate::api::Kind;
use crate::kubernetes::mirror::{self, api_resource};

/// The field manager gc's status writes are recorded under (`managedFields`), so the API
/// server can tell them from kubectl's.
pub const FIELD_MANAGER: &str = "gc-controller";

/// What [`StatusWriter::write`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The status was patched.
    Patched,
    /// The status equals the last one written (or noted as observed) for the object, so no
    /// request was sent.
    Unchanged,
    /// The object no longer exists (deleted since it was read): nothing to write, and not a
    /// problem — the deletion sweep handles what is left.
    Gone,
}

/// Why a status could not be written.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// The API server refused the patch or could not be reached (forbidden, invalid status,
    /// the CRD not installed, a server error). The status is not remembered, so the next
    /// write of the same status tries again.
    #[error("could not write the status of {kind} {name}")]
    Patch {
        /// The object's kind.
        kind: Kind,
        /// The object's name.
        name: String,
        /// What the client reported.
        #[source]
        source: kube::Error,
    },
}

/// Writes gc's statuses of the custom resources in one namespace, skipping writes that would
/// change nothing.
///
/// **Warning:** "unchanged" is judged against what this writer remembers, not against the API
/// server. Feed it what the cluster holds with [`StatusWriter::note_observed`] whenever an
/// object is (re)read, and call [`StatusWriter::forget`] when an object is deleted — otherwise
/// an object deleted and re-created under the same name between two writes would keep an
/// empty status until gc's status for it changes.
pub struct StatusWriter {
    client: Client,
    namespace: String,
    /// The last status written or observed per object. One entry per object of the city
    /// (tens to hundreds), removed when the object goes.
    last: Mutex<HashMap<(Kind, String), Value>>,
}

impl StatusWriter {
    /// A writer for the custom resources in `namespace`.
    pub fn new(client: Client, namespace: impl Into<String>) -> Self {
        Self { client, namespace: namespace.into(), last: Mutex::new(HashMap::new()) }
    }

    /// Sets the status of `kind`/`name` to `status` (gc's status of that kind as JSON): one
    /// merge patch to the object's `status` subresource, unless `status` equals the last one
    /// written or observed.
    ///
    /// A merge patch leaves fields it does not mention as they are, so a field present in the
    /// previous status and absent from `status` is sent as `null`, which removes it (gc's
    /// statuses omit empty optional fields rather than writing `null`). Without a previous
    /// status nothing is removed; [`StatusWriter::note_observed`] supplies one.
    pub async fn write(
        &self,
        kind: Kind,
        name: &str,
        status: &Value,
    ) -> Result<Written, StatusError> {
        let key = (kind, name.to_owned());
        // Copied out so the lock is not held across the request.
        let previous = self.cache().get(&key).cloned();
        if previous.as_ref() == Some(status) {
            return Ok(Written::Unchanged);
        }
        let mut body = status.clone();
        if let Some(previous) = &previous {
            null_removed(previous, &mut body);
        }
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), &self.namespace, &api_resource(kind));
        let params =
            PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
        match api.patch_status(name, &params, &Patch::Merge(mirror::status_patch(&body))).await {
            Ok(_) => {
                self.cache().insert(key, status.clone());
                Ok(Written::Patched)
            }
            // Only the API server's own "object not found" means the object is gone. A 404
            // without that Status (a bare "404 page not found") means the resource type is not
            // served — the CRD is not installed — which is an error someone must fix.
            Err(kube::Error::Api(answer)) if answer.reason == "NotFound" => {
                self.cache().remove(&key);
                Ok(Written::Gone)
            }
            Err(source) => Err(StatusError::Patch { kind, name: name.to_owned(), source }),
        }
    }

    /// Records that the cluster holds `status` for `kind`/`name` (as read from the object),
    /// so a write of the same status sends nothing and a different one removes the fields
    /// gc no longer reports. Call it for each object the controller reads, including at
    /// start-up, so a restarted controller does not re-patch every object.
    pub fn note_observed(&self, kind: Kind, name: &str, status: &Value) {
        self.cache().insert((kind, name.to_owned()), status.clone());
    }

    /// Forgets what was written for `kind`/`name`: call it when the object is deleted, so a
    /// new object of the same name gets its status written.
    pub fn forget(&self, kind: Kind, name: &str) {
        self.cache().remove(&(kind, name.to_owned()));
    }

    fn cache(&self) -> MutexGuard<'_, HashMap<(Kind, String), Value>> {
        // The map is only ever replaced entry by entry, so a panic elsewhere while it was held
        // cannot have left it half-written: keep using it.
        self.last.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Adds `null` to `next` for every key of `previous` that `next` lacks, recursing into objects
/// present in both, so that as a merge patch `next` also removes what disappeared. Arrays are
/// replaced whole by a merge patch and need nothing.
fn null_removed(previous: &Value, next: &mut Value) {
    let (Value::Object(previous), Value::Object(next)) = (previous, next) else {
        return;
    };
    for (key, old) in previous {
        match next.get_mut(key) {
            Some(new) => null_removed(old, new),
            None => {
                next.insert(key.clone(), Value::Null);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_that_disappeared_are_patched_to_null() {
        let previous = json!({
            "ready": 1,
            "lastError": "boom",
            "pool": {"desired": 2, "quarantined": ["w-1"]},
            "conditions": [{"type": "Ready"}],
        });
        let mut next = json!({"ready": 2, "pool": {"desired": 2}, "conditions": []});
        null_removed(&previous, &mut next);
        assert_eq!(
            next,
            json!({
                "ready": 2,
                "pool": {"desired": 2, "quarantined": null},
                "conditions": [],
                "lastError": null,
            })
        );
    }

    #[test]
    fn a_status_that_was_not_an_object_removes_nothing() {
        let mut next = json!({"ready": 1});
        null_removed(&json!(null), &mut next);
        assert_eq!(next, json!({"ready": 1}));
    }
}
