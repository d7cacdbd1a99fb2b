//! The desired-state store under `.gc/`: the last applied object of each resource
//! (`applied/<kind>/<name>.json`) and, separately, what controllers observed
//! (`status/<kind>/<name>.json`). Writes are atomic and serialised by a lock.

pub mod atomic;
mod index;
mod object;
pub mod set_aside;

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde_json::Value;

pub use index::{FileStamp, Index, IndexEntry, digest};
pub use object::{DesiredObject, StoredMeta, StoredObject, canonical};

use crate::api::Kind;
use crate::api::status::{Status, carry_transitions, timestamp};
use crate::validate::Known;

/// Errors reading or writing the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file of the store could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A stored file is not valid JSON of the expected shape (edited by hand? damaged?).
    #[error("{path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// A stored object whose file cannot be read as one (damaged or edited by hand). It is still
/// applied: controllers leave what belongs to it alone, `gc apply` of its file rewrites it and
/// `gc delete` removes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damaged {
    /// Its kind.
    pub kind: Kind,
    /// Its name (from the file name).
    pub name: String,
    /// What is wrong, naming the file.
    pub error: String,
}

impl Damaged {
    /// `kind/name`, as printed by the CLI.
    pub fn key(&self) -> String {
        self.kind.key(&self.name)
    }
}

/// The stored objects of some kinds: those that read, and those that do not.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    /// Objects that read, sorted by kind then name.
    pub objects: Vec<StoredObject>,
    /// Files that do not read as objects, sorted by kind then name.
    pub damaged: Vec<Damaged>,
}

impl Listing {
    /// Adds what reading `kind/name` gave: an object, a damaged file, or nothing when absent.
    pub fn add(&mut self, kind: Kind, name: &str, read: Result<Option<StoredObject>, StoreError>) {
        match read {
            Ok(Some(object)) => self.objects.push(object),
            Ok(None) => {}
            Err(e) => {
                self.damaged.push(Damaged { kind, name: name.to_owned(), error: e.to_string() })
            }
        }
    }
}

/// The JSON document at `path`, or `None` when there is no such file.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, StoreError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path)(e)),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| StoreError::Corrupt { path: path.to_path_buf(), reason: e.to_string() })
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_path_buf(), source }
}

/// The applied city as [`Known`] resources for validation: names come from directory
/// listings, objects are read only when a check asks for one (and then cached).
pub struct KnownApplied<'a> {
    store: &'a Store,
    cache:
        std::sync::Mutex<std::collections::HashMap<(Kind, String), Option<crate::api::Resource>>>,
}

impl<'a> KnownApplied<'a> {
    /// Views `store` as known resources.
    pub fn new(store: &'a Store) -> KnownApplied<'a> {
        KnownApplied { store, cache: Default::default() }
    }
}

impl Known for KnownApplied<'_> {
    fn names(&self, kind: Kind) -> Vec<String> {
        self.store.names(kind).unwrap_or_default()
    }

    fn get(&self, kind: Kind, name: &str) -> Option<crate::api::Resource> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .entry((kind, name.to_owned()))
            .or_insert_with(|| self.store.get(kind, name).ok().flatten()?.to_resource().ok())
            .clone()
    }
}

/// The store of one city.
#[derive(Clone, Debug)]
pub struct Store {
    state_dir: PathBuf,
}

/// Held while the store is being changed; other writers wait for it. Give it back with
/// [`Store::commit`] so the digest index learns what changed.
#[derive(Debug)]
pub struct WriteLock {
    _file: File,
    /// The write counter when the lock was taken.
    start_version: u64,
    /// Index entries written (`Some`) or removed (`None`) under this lock, by `kind/name`.
    touched: std::sync::Mutex<std::collections::BTreeMap<String, Option<IndexEntry>>>,
}

impl WriteLock {
    fn touch(&self, key: String, entry: Option<IndexEntry>) {
        self.touched.lock().unwrap_or_else(|e| e.into_inner()).insert(key, entry);
    }
}

impl Store {
    /// The store of the city in `city_dir` (its state lives in `city_dir/.gc`).
    pub fn new(city_dir: &Path) -> Store {
        Store { state_dir: city_dir.join(".gc") }
    }

    fn applied_dir(&self) -> PathBuf {
        self.state_dir.join("applied")
    }

    fn path_of(&self, root: &str, kind: Kind, name: &str) -> PathBuf {
        self.state_dir.join(root).join(kind.plural()).join(format!("{name}.json"))
    }

    /// Takes the write lock, waiting for other writers (`gc apply` in other processes).
    pub fn lock(&self) -> Result<WriteLock, StoreError> {
        let path = self.state_dir.join("applied.lock");
        let file = atomic::lock_file(&path).map_err(io_err(&path))?;
        Ok(WriteLock {
            _file: file,
            start_version: self.write_counter()?,
            touched: Default::default(),
        })
    }

    /// Releases `lock`, first bringing the digest index up to date: the entries written under
    /// the lock are merged into the index when it was current when the lock was taken; else the
    /// index is rebuilt from every stored object.
    pub fn commit(&self, lock: WriteLock) -> Result<(), StoreError> {
        let touched = lock.touched.into_inner().unwrap_or_else(|e| e.into_inner());
        // A counter write cut short leaves its temporary file here without staling the index.
        self.remove_temp_files(&self.applied_dir())?;
        // An index from before entries carried file stamps is rebuilt once, so that every
        // entry can be checked against its file.
        let stored = self.read_index()?.filter(|index| {
            index.version == lock.start_version && index.objects.values().all(|e| e.stamp.is_some())
        });
        let mut index = match stored {
            Some(index) => {
                if touched.is_empty() {
                    return Ok(());
                }
                index
            }
            None => {
                // A stale index means an earlier write stopped part-way: clear what it left.
                for kind in Kind::ALL {
                    self.remove_temp_files(&self.applied_dir().join(kind.plural()))?;
                }
                self.build_index()?
            }
        };
        for (key, entry) in touched {
            match entry {
                Some(entry) => index.objects.insert(key, entry),
                None => index.objects.remove(&key),
            };
        }
        index.version = self.write_counter()?;
        let path = self.index_path();
        let mut bytes = serde_json::to_vec(&index).expect("the index serialises");
        bytes.push(b'\n');
        atomic::write(&path, &bytes).map_err(io_err(&path))
    }

    /// The digest index, when it describes the store as it is now; `None` when it is missing or
    /// stale (then read the objects themselves).
    pub fn current_index(&self) -> Result<Option<Index>, StoreError> {
        let index = self.read_index()?;
        let counter = self.write_counter()?;
        Ok(index.filter(|index| index.version == counter))
    }

    fn index_path(&self) -> PathBuf {
        self.applied_dir().join("index.json")
    }

    /// The index file; an empty store (no write ever) has an empty index even without one.
    fn read_index(&self) -> Result<Option<Index>, StoreError> {
        let read = read_json(&self.index_path());
        match read {
            Ok(None) if self.write_counter()? == 0 => Ok(Some(Index::default())),
            Ok(index) => Ok(index),
            // A damaged index is rebuilt, not an error: it is only a cache.
            Err(StoreError::Corrupt { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes temporary files of interrupted writes from `dir`. Only under the write lock:
    /// then no other writer is part-way through one.
    fn remove_temp_files(&self, dir: &Path) -> Result<(), StoreError> {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err(dir)(e)),
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') && name.ends_with(atomic::TEMP_SUFFIX) {
                let path = entry.path();
                atomic::remove(&path).map_err(io_err(&path))?;
            }
        }
        Ok(())
    }

    /// The index of the objects as they are on disk. Damaged files get no entry, so a plan
    /// reads them (and finds them damaged) rather than trusting a digest.
    fn build_index(&self) -> Result<Index, StoreError> {
        let objects = self
            .list()?
            .objects
            .into_iter()
            .map(|o| {
                let stamp = self.stamp(o.kind, &o.metadata.name);
                (o.key(), IndexEntry { digest: o.digest(), source: o.source, stamp })
            })
            .collect();
        Ok(Index { version: 0, objects })
    }

    /// The file facts of a stored object that change whenever its file is rewritten, by gc or
    /// by hand; `None` when it cannot be looked at.
    pub fn stamp(&self, kind: Kind, name: &str) -> Option<FileStamp> {
        FileStamp::of(&self.path_of("applied", kind, name))
    }

    /// How many writes the store has had (every put and delete counts one).
    fn write_counter(&self) -> Result<u64, StoreError> {
        let path = self.counter_path();
        match fs::read_to_string(&path) {
            Ok(text) => Ok(text.trim().parse().unwrap_or(0)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    fn counter_path(&self) -> PathBuf {
        self.applied_dir().join("resource-version")
    }

    /// Names of the stored objects of one kind, sorted, without reading them.
    pub fn names(&self, kind: Kind) -> Result<Vec<String>, StoreError> {
        self.names_in("applied", kind)
    }

    /// Names of the objects of one kind that have a recorded status (some may no longer be
    /// applied: controllers use this to clear those), sorted.
    pub fn status_names(&self, kind: Kind) -> Result<Vec<String>, StoreError> {
        self.names_in("status", kind)
    }

    fn names_in(&self, root: &str, kind: Kind) -> Result<Vec<String>, StoreError> {
        let dir = self.state_dir.join(root).join(kind.plural());
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&dir)(e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err(&dir))?;
            let file_name = entry.file_name();
            // Temporary files of interrupted writes start with a dot and are not objects.
            if let Some(name) = file_name.to_str().and_then(|n| n.strip_suffix(".json"))
                && !name.starts_with('.')
            {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Every stored object, sorted by kind then name. One damaged file does not hide the
    /// others: it is listed as [`Damaged`].
    pub fn list(&self) -> Result<Listing, StoreError> {
        let mut out = Listing::default();
        for kind in Kind::ALL {
            let listing = self.list_kind(kind)?;
            out.objects.extend(listing.objects);
            out.damaged.extend(listing.damaged);
        }
        Ok(out)
    }

    /// The stored objects of one kind, sorted by name, and the files of that kind that do not
    /// read as objects. Only a directory that cannot be listed is an error.
    pub fn list_kind(&self, kind: Kind) -> Result<Listing, StoreError> {
        let names = self.names(kind)?;
        // Objects are independent files: read and parse them in parallel, keeping name order.
        let read: Vec<Result<Option<StoredObject>, StoreError>> =
            names.par_iter().map(|name| self.get(kind, name)).collect();
        let mut out = Listing::default();
        // A file removed between listing and reading is simply not there.
        for (name, result) in names.iter().zip(read) {
            out.add(kind, name, result);
        }
        Ok(out)
    }

    /// Whether an object `kind/name` is stored, readable or not.
    pub fn contains(&self, kind: Kind, name: &str) -> bool {
        crate::api::meta::is_valid_name(name) && self.path_of("applied", kind, name).is_file()
    }

    /// The stored object of `kind` named `name`, if there is one. A file that does not hold an
    /// object of that kind and name is [`StoreError::Corrupt`].
    pub fn get(&self, kind: Kind, name: &str) -> Result<Option<StoredObject>, StoreError> {
        // Names become file names: one that is not a resource name names no stored object.
        if !crate::api::meta::is_valid_name(name) {
            return Ok(None);
        }
        let path = self.path_of("applied", kind, name);
        let Some(object) = read_json::<StoredObject>(&path)? else { return Ok(None) };
        let reason = if object.kind != kind {
            format!("holds a {}, not a {}", object.kind.as_str(), kind.as_str())
        } else if object.metadata.name != name {
            format!("holds `{}`, not `{name}`", object.metadata.name)
        } else {
            return Ok(Some(object));
        };
        Err(StoreError::Corrupt { path, reason })
    }

    /// Writes `object` (the caller holds the [`WriteLock`]).
    pub fn put(&self, lock: &WriteLock, object: &StoredObject) -> Result<(), StoreError> {
        let path = self.path_of("applied", object.kind, &object.metadata.name);
        let mut bytes = serde_json::to_vec_pretty(object).expect("stored objects serialise");
        bytes.push(b'\n');
        atomic::write(&path, &bytes).map_err(io_err(&path))?;
        let entry = IndexEntry {
            digest: object.digest(),
            source: object.source.clone(),
            stamp: FileStamp::of(&path),
        };
        lock.touch(object.key(), Some(entry));
        Ok(())
    }

    /// Removes the stored object (the caller holds the [`WriteLock`]). Its status is left for
    /// the controllers, which stop what belonged to it and then clear it.
    pub fn delete(&self, lock: &WriteLock, kind: Kind, name: &str) -> Result<(), StoreError> {
        // A delete is a write: it moves the counter, so an index made before it is stale.
        self.next_resource_version(lock)?;
        let path = self.path_of("applied", kind, name);
        atomic::remove(&path).map_err(io_err(&path))?;
        lock.touch(kind.key(name), None);
        Ok(())
    }

    /// The next resource version: a city-wide counter, so every write gets a distinct one.
    pub fn next_resource_version(&self, _lock: &WriteLock) -> Result<String, StoreError> {
        let path = self.counter_path();
        let next = self.write_counter()? + 1;
        atomic::write(&path, format!("{next}\n").as_bytes()).map_err(io_err(&path))?;
        Ok(next.to_string())
    }

    /// Records what a controller observed for the object, replacing the previous status when
    /// it differs (an unchanged status is not rewritten). Each condition keeps the previous
    /// one's `lastTransitionTime` while its status holds. Only the city's one controller
    /// writes status, so no lock is needed.
    pub fn put_status<S: Status>(
        &self,
        kind: Kind,
        name: &str,
        status: &S,
    ) -> Result<(), StoreError> {
        let previous: Option<S> = self.status(kind, name).ok().flatten();
        let mut status = status.clone();
        let now = timestamp(chrono::Utc::now());
        let before = previous.clone().map(|mut p| std::mem::take(p.conditions_mut()));
        carry_transitions(before.as_deref().unwrap_or_default(), status.conditions_mut(), &now);
        if previous.as_ref() == Some(&status) {
            return Ok(());
        }
        let path = self.path_of("status", kind, name);
        let mut bytes = serde_json::to_vec_pretty(&status).expect("statuses serialise");
        bytes.push(b'\n');
        atomic::write(&path, &bytes).map_err(io_err(&path))
    }

    /// Forgets the status of an object that is gone.
    pub fn delete_status(&self, kind: Kind, name: &str) -> Result<(), StoreError> {
        let path = self.path_of("status", kind, name);
        atomic::remove(&path).map_err(io_err(&path))
    }

    /// What controllers recorded for the object, if anything. A file that is not a status of
    /// that kind (damaged, edited by hand) is [`StoreError::Corrupt`].
    pub fn status<S: Status>(&self, kind: Kind, name: &str) -> Result<Option<S>, StoreError> {
        read_json(&self.path_of("status", kind, name))
    }

    /// When the object's status was last written (RFC 3339, UTC), if it has one.
    pub fn status_modified(&self, kind: Kind, name: &str) -> Option<String> {
        let modified = fs::metadata(self.path_of("status", kind, name)).ok()?.modified().ok()?;
        Some(timestamp(modified))
    }

    /// The recorded status as plain JSON, whatever its shape (for `gc get -o json`).
    pub fn status_value(&self, kind: Kind, name: &str) -> Result<Option<Value>, StoreError> {
        read_json(&self.path_of("status", kind, name))
    }
}
