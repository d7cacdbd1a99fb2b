//! The embedded bead store: one SQLite database (WAL) per beads directory.

use std::path::Path;

use super::{
    Bead, BeadError, BeadStore, BeadUpdate, Dependency, ImportSummary, ListQuery, NewBead,
    ReadyQuery, Result,
};

/// A SQLite bead store.
pub struct EmbeddedStore {
    _prefix: String,
}

impl EmbeddedStore {
    /// Opens (creating when missing) the database at `path`; new ids get `prefix`.
    pub fn open(_path: &Path, prefix: &str) -> Result<EmbeddedStore> {
        Ok(EmbeddedStore { _prefix: prefix.to_owned() })
    }
}

fn todo<T>() -> Result<T> {
    Err(BeadError::Backend("embedded store: being written".into()))
}

impl BeadStore for EmbeddedStore {
    fn create(&self, _: NewBead, _: &str) -> Result<Bead> {
        todo()
    }
    fn get(&self, _: &str) -> Result<Bead> {
        todo()
    }
    fn update(&self, _: &str, _: &BeadUpdate, _: &str) -> Result<Bead> {
        todo()
    }
    fn claim(&self, _: &str, _: &str) -> Result<Bead> {
        todo()
    }
    fn claim_ready(&self, _: &ReadyQuery, _: &str) -> Result<Option<Bead>> {
        todo()
    }
    fn close(&self, _: &str, _: Option<&str>, _: &str) -> Result<Bead> {
        todo()
    }
    fn list(&self, _: &ListQuery) -> Result<Vec<Bead>> {
        todo()
    }
    fn ready(&self, _: &ReadyQuery) -> Result<Vec<Bead>> {
        todo()
    }
    fn children(&self, _: &str) -> Result<Vec<Bead>> {
        todo()
    }
    fn dep_add(&self, _: &Dependency, _: &str) -> Result<()> {
        todo()
    }
    fn dep_remove(&self, _: &str, _: &str, _: &str) -> Result<()> {
        todo()
    }
    fn dep_list(&self, _: &str) -> Result<Vec<Dependency>> {
        todo()
    }
    fn delete(&self, _: &str, _: &str) -> Result<()> {
        todo()
    }
    fn export(&self) -> Result<Vec<Bead>> {
        todo()
    }
    fn import(&self, _: Vec<Bead>, _: &str) -> Result<ImportSummary> {
        todo()
    }
}
