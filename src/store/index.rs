//! The digest index (`applied/index.json`): one short digest per stored object, so `gc diff`
//! and `gc apply` learn which declared resources are unchanged without reading every object.
//!
//! The index is a cache, never the truth. It carries the write counter it was made at; readers
//! use it only while the counter still holds that value, so an index left behind by a crash,
//! by an older gc or by a hand edit through `gc` is ignored (everything is then read), and the
//! next write rebuilds it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::Kind;

/// The digest of a resource's compared content: kind, labels, annotations and canonical spec.
/// Equal digests mean `gc apply` would leave the object unchanged.
pub fn digest(
    kind: Kind,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
    spec: &Value,
) -> String {
    let bytes = serde_json::to_vec(&(kind.as_str(), labels, annotations, spec))
        .expect("maps of strings and JSON values serialise");
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&bytes))
}

/// One stored object, as the index records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// [`digest`] of the stored object.
    pub digest: String,
    /// The file it was last applied from, relative to the city directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The stored file as gc last wrote it: a file that no longer matches was rewritten
    /// behind gc's back (by hand, or damaged), and its digest is not trusted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamp: Option<FileStamp>,
}

/// Size, modification time and inode of a file: what changes when anything rewrites it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStamp {
    /// Length in bytes.
    pub len: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i128,
    /// Inode number (an editor that saves by renaming changes it).
    pub ino: u64,
}

impl FileStamp {
    /// The stamp of the file at `path`, `None` when it cannot be looked at.
    pub fn of(path: &std::path::Path) -> Option<FileStamp> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).ok()?;
        let mtime_ns = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
        Some(FileStamp { len: meta.len(), mtime_ns, ino: meta.ino() })
    }
}

/// Every stored object's entry, keyed `kind/name`, valid at write counter `version`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    /// The store's write counter when the index was written.
    pub version: u64,
    /// Entries by `kind/name`.
    pub objects: BTreeMap<String, IndexEntry>,
}

impl Index {
    /// The entry of `kind/name`, if the object is stored.
    pub fn get(&self, kind: Kind, name: &str) -> Option<&IndexEntry> {
        self.objects.get(&kind.key(name))
    }

    /// Every stored object's kind and name, in key order.
    pub fn keys(&self) -> impl Iterator<Item = (Kind, &str)> {
        self.objects.keys().filter_map(|key| {
            let (kind, name) = key.split_once('/')?;
            Some((Kind::ALL.into_iter().find(|k| k.as_str().eq_ignore_ascii_case(kind))?, name))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn digest_changes_with_every_compared_part_and_only_those() {
        let labels: BTreeMap<String, String> = [("team".into(), "core".into())].into();
        let none = BTreeMap::new();
        let spec = json!({"a": 1, "b": [1, 2]});
        let base = digest(Kind::Agent, &labels, &none, &spec);
        assert_eq!(base, digest(Kind::Agent, &labels.clone(), &none, &spec.clone()));
        assert_ne!(base, digest(Kind::Rig, &labels, &none, &spec));
        assert_ne!(base, digest(Kind::Agent, &none, &none, &spec));
        assert_ne!(base, digest(Kind::Agent, &labels, &labels, &spec));
        assert_ne!(base, digest(Kind::Agent, &labels, &none, &json!({"a": 1, "b": [2, 1]})));
        // Labels moved into annotations are a change, not the same bytes.
        assert_ne!(
            digest(Kind::Agent, &labels, &none, &spec),
            digest(Kind::Agent, &none, &labels, &spec)
        );
    }

    #[test]
    fn keys_round_trip_kind_and_name() {
        let mut index = Index::default();
        let entry = IndexEntry { digest: "d".into(), source: None, stamp: None };
        index.objects.insert(Kind::Agent.key("mayor"), entry.clone());
        index.objects.insert(Kind::City.key("town"), entry);
        let keys: Vec<(Kind, &str)> = index.keys().collect();
        assert_eq!(keys, [(Kind::Agent, "mayor"), (Kind::City, "town")]);
        assert!(index.get(Kind::Agent, "mayor").is_some());
        assert!(index.get(Kind::Agent, "town").is_none());
    }
}
