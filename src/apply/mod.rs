//! `gc apply` and `gc diff`: load the declared resources, plan against the store
//! ([`plan`], pure), and carry the plan out ([`execute`]).

mod fields;
mod plan;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

pub use fields::FieldChange;
pub use plan::{Action, Applied, Change, Prune, plan, summary};

use crate::api::Kind;
use crate::manifest::DiscoverError;
use crate::store::{
    DesiredObject, FileStamp, KnownApplied, Listing, Store, StoreError, StoredObject, WriteLock,
};
use crate::validate::{Scope, Validation, validate, validate_against};

/// The declared state a command works from.
#[derive(Debug)]
pub struct Declared {
    /// The city directory (its `.gc/` holds the store).
    pub city_dir: PathBuf,
    /// The validation of the files (print it when it is not valid).
    pub validation: Validation,
    /// The resources of the named files (or of the whole city), in canonical form.
    pub objects: Vec<DesiredObject>,
    /// What may be pruned.
    pub prune: Prune,
}

/// Why declared state could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A path named on the command line is missing.
    #[error(transparent)]
    Discover(#[from] DiscoverError),
    /// Files were named outside any city.
    #[error(
        "no city here: {0} is not inside a city directory (one holding city.yaml or .gc/); run from one or pass --city DIR"
    )]
    NoCity(PathBuf),
}

/// Loads `files` (or, when empty, the whole city) and validates them. The whole city is
/// checked as a set of files; named files are checked against the city as applied (the store),
/// as the result of applying them would be, without reading the city's other files.
/// `prune_files` asks to prune what was last applied from the named files and is now gone; a
/// whole-city load always prunes what no file declares.
pub fn load(
    files: &[PathBuf],
    city: Option<&Path>,
    cwd: &Path,
    prune_files: bool,
) -> Result<Declared, LoadError> {
    let Some(city_dir) = city.map(Path::to_path_buf) else {
        return Err(LoadError::NoCity(cwd.to_path_buf()));
    };
    let (scope, validation) = if files.is_empty() {
        let scope = Scope::for_paths(files, Some(&city_dir), cwd)?;
        let validation = validate(&scope);
        (scope, validation)
    } else {
        let scope = Scope {
            inputs: crate::manifest::discover(files)?,
            context: Vec::new(),
            city_dir: city_dir.clone(),
            expect_city: true,
        };
        let store = Store::new(&city_dir);
        let validation = validate_against(&scope, Some(&KnownApplied::new(&store)));
        (scope, validation)
    };
    // Lexical, not canonicalize(): one realpath per resource is a syscall per path component.
    let absolute_city = lexical_absolute(cwd, &city_dir);
    let source_of = |name: &str| -> Option<String> {
        let path = lexical_absolute(cwd, Path::new(name));
        Some(path.strip_prefix(&absolute_city).ok()?.to_string_lossy().into_owned())
    };
    let objects: Vec<DesiredObject> = validation
        .resources
        .iter()
        .filter(|l| !l.context)
        .map(|l| DesiredObject::from_resource(&l.resource, source_of(&l.doc.file.name)))
        .collect();
    let prune = if files.is_empty() {
        Prune::All
    } else if prune_files {
        let named: BTreeSet<String> = scope
            .inputs
            .iter()
            .filter_map(|i| match i {
                crate::manifest::Input::File(p, _) => source_of(&p.to_string_lossy()),
                crate::manifest::Input::Stdin => None,
            })
            .collect();
        Prune::FromSources(named)
    } else {
        Prune::Nothing
    };
    Ok(Declared { city_dir, validation, objects, prune })
}

/// What the plan for `declared` needs from the store. With a current digest index, only the
/// objects that differ (or may be pruned) are read; the rest are known unchanged by digest,
/// unless their file changed since gc wrote it (edited by hand, damaged) or is not in the
/// index at all: those are read too. Without an index, every stored object is read when the
/// plan may prune, else those declared. Files that do not read are [`Applied::damaged`].
pub fn current(store: &Store, declared: &Declared) -> Result<Applied, StoreError> {
    let Some(index) = store.current_index()? else {
        let listing = if declared.prune == Prune::Nothing {
            let mut out = Listing::default();
            for object in &declared.objects {
                out.add(object.kind, &object.name, store.get(object.kind, &object.name));
            }
            out
        } else {
            store.list()?
        };
        return Ok(Applied {
            objects: listing.objects,
            damaged: listing.damaged,
            ..Applied::default()
        });
    };
    let digests: Vec<String> = declared.objects.par_iter().map(DesiredObject::digest).collect();
    let stamps: Vec<Option<FileStamp>> =
        declared.objects.par_iter().map(|o| store.stamp(o.kind, &o.name)).collect();
    let mut same = BTreeSet::new();
    let mut to_read: Vec<(Kind, String)> = Vec::new();
    for ((object, digest), stamp) in declared.objects.iter().zip(&digests).zip(&stamps) {
        match index.get(object.kind, &object.name) {
            Some(entry)
                if entry.digest == *digest && entry.stamp.is_some() && entry.stamp == *stamp =>
            {
                same.insert((object.kind, object.name.clone()));
            }
            Some(_) => to_read.push((object.kind, object.name.clone())),
            // Not indexed: stored by hand, or damaged when the index was made. Look.
            None if stamp.is_some() => to_read.push((object.kind, object.name.clone())),
            None => {}
        }
    }
    let declared_keys: BTreeSet<(Kind, &str)> =
        declared.objects.iter().map(|o| (o.kind, o.name.as_str())).collect();
    let mut candidates: BTreeSet<(Kind, String)> =
        index.keys().map(|(kind, name)| (kind, name.to_owned())).collect();
    if declared.prune != Prune::Nothing {
        for kind in Kind::ALL {
            candidates.extend(store.names(kind)?.into_iter().map(|name| (kind, name)));
        }
    }
    for (kind, name) in candidates {
        if declared_keys.contains(&(kind, name.as_str())) {
            continue;
        }
        let source = index.get(kind, &name).and_then(|e| e.source.as_ref());
        // A file the index does not know has no known source: only a whole-city prune covers it.
        let covered = match index.get(kind, &name) {
            Some(_) => declared.prune.covers(source),
            None => declared.prune == Prune::All,
        };
        if covered {
            to_read.push((kind, name));
        }
    }
    let read: Vec<Listing> = to_read
        .par_iter()
        .map(|(kind, name)| {
            let mut out = Listing::default();
            out.add(*kind, name, store.get(*kind, name));
            out
        })
        .collect();
    let mut applied = Applied { same, ..Applied::default() };
    for listing in read {
        applied.objects.extend(listing.objects);
        applied.damaged.extend(listing.damaged);
    }
    Ok(applied)
}

/// `path` made absolute against `cwd`, with `.` and `..` resolved without touching the disk.
fn lexical_absolute(cwd: &Path, path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in cwd.join(path).components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Applies `declared` (already found valid): plans under the store's write lock, so
/// concurrent applies each see the others' writes, carries the plan out, records its events as
/// `actor`, and wakes a running controller when anything changed. Returns the plan.
pub fn apply(store: &Store, declared: &Declared, actor: &str) -> Result<Vec<Change>, ApplyError> {
    let lock = store.lock()?;
    let changes = plan(&declared.objects, &current(store, declared)?, &declared.prune);
    execute(store, &lock, &changes)?;
    store.commit(lock)?;
    crate::events::append(&declared.city_dir, events(&changes), actor)
        .map_err(|source| ApplyError::Events { path: declared.city_dir.clone(), source })?;
    if changes.iter().any(|c| c.action != Action::Unchanged) {
        crate::notify::poke(&declared.city_dir);
    }
    Ok(changes)
}

/// Why an [`apply`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The store could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The events of the applied changes could not be recorded.
    #[error("recording the apply's events in {path}: {source}")]
    Events {
        /// The city directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Carries out `changes` on `store` (under `lock`), stamping server-set metadata.
pub fn execute(store: &Store, lock: &WriteLock, changes: &[Change]) -> Result<(), StoreError> {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for change in changes {
        match change.action {
            Action::Create | Action::Configure | Action::Repair => {
                if let Some(object) = stored_after(change, store.next_resource_version(lock)?, &now)
                {
                    store.put(lock, &object)?;
                }
            }
            Action::Prune => store.delete(lock, change.kind, &change.name)?,
            Action::Unchanged => {}
        }
    }
    Ok(())
}

/// The object `change` leaves in the store, or `None` when it writes none (a prune, an
/// unchanged object). A create (and the repair of a damaged file, whose metadata is lost) gets
/// generation 1, a new uid and `now` as its creation time; a
/// configure keeps the stored uid and creation time, and bumps the generation only when the
/// spec changes. `resource_version` is stamped as given. `gc apply` stores exactly this, and
/// `gc diff` plans the runtime against it.
pub fn stored_after(change: &Change, resource_version: String, now: &str) -> Option<StoredObject> {
    let desired = change.desired.as_ref()?;
    let (generation, creation_timestamp, uid) = match (change.action, &change.applied) {
        (Action::Create | Action::Repair, _) => {
            (1, now.to_owned(), uuid::Uuid::new_v4().to_string())
        }
        (Action::Configure, Some(current)) => {
            let meta = &current.metadata;
            (
                meta.generation + u64::from(change.spec_changed()),
                meta.creation_timestamp.clone(),
                meta.uid.clone(),
            )
        }
        _ => return None,
    };
    Some(desired.stored(generation, resource_version, creation_timestamp, uid))
}

/// The events an executed plan records, one per change that is not `unchanged`:
/// `resource.created` / `Created`, `resource.configured` / `Configured` with the payload
/// `{"fields": [{"path": "spec.env.LOG_LEVEL", "from": "info", "to": "debug"}]}` (`from` is
/// absent for an added field, `to` for a removed one), `resource.pruned` / `Pruned`, and
/// `resource.repaired` / `Repaired` (a damaged stored file written afresh).
pub fn events(changes: &[Change]) -> Vec<crate::events::NewEvent> {
    use crate::events::Event;
    changes
        .iter()
        .filter(|c| c.action != Action::Unchanged)
        .map(|c| {
            let (event_type, reason) = match c.action {
                Action::Create => ("resource.created", "Created"),
                Action::Configure => ("resource.configured", "Configured"),
                Action::Prune => ("resource.pruned", "Pruned"),
                Action::Repair => ("resource.repaired", "Repaired"),
                Action::Unchanged => ("resource.unchanged", "Unchanged"),
            };
            let event = match c.action {
                Action::Configure => {
                    let described: Vec<String> =
                        c.fields.iter().map(FieldChange::describe).collect();
                    let fields: Vec<serde_json::Value> = c
                        .fields
                        .iter()
                        .map(|f| {
                            let mut m = serde_json::Map::new();
                            m.insert("path".into(), crate::validate::field_path(&f.pointer).into());
                            if let Some(before) = &f.before {
                                m.insert("from".into(), before.clone());
                            }
                            if let Some(after) = &f.after {
                                m.insert("to".into(), after.clone());
                            }
                            serde_json::Value::Object(m)
                        })
                        .collect();
                    Event::new(event_type, reason, format!("configured: {}", described.join("; ")))
                        .payload(serde_json::json!({ "fields": fields }))
                }
                other => Event::new(event_type, reason, other.past_tense()),
            };
            event.object(c.kind, &c.name)
        })
        .collect()
}
