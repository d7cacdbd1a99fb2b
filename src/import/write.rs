//! Writing an import: every file is staged in a fresh directory and the staged city is
//! validated as `gc validate` would; only a valid city is moved into place, so a failed import
//! leaves nothing behind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::validate::{Scope, Validation, validate};

use super::Import;

/// Why an import could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The destination already holds files.
    #[error(
        "{0}: already exists and is not empty; choose another --out (gc import never overwrites)"
    )]
    NotEmpty(PathBuf),
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WriteError + '_ {
    move |source| WriteError::Io { path: path.to_path_buf(), source }
}

/// Refuses a destination that exists and is not an empty directory.
pub fn check_destination(out: &Path) -> Result<(), WriteError> {
    match std::fs::read_dir(out).map(|mut entries| entries.next().is_some()) {
        Ok(true) => Err(WriteError::NotEmpty(out.to_path_buf())),
        Ok(false) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if out.is_file() => Err(WriteError::Io { path: out.to_path_buf(), source: e }),
        Err(_) => Ok(()),
    }
}

/// Writes `import` below `dir` (which must not exist yet).
pub fn stage(import: &Import, dir: &Path) -> Result<(), WriteError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    for (rel, text) in &import.files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&path, text).map_err(io(&path))?;
    }
    for (source, rel) in &import.copies {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::copy(source, &path).map_err(io(source))?;
    }
    Ok(())
}

/// Validates the staged city at `dir` as `gc validate` would.
pub fn check(dir: &Path) -> Validation {
    let cwd = std::env::current_dir().unwrap_or_default();
    match Scope::for_paths(&[], Some(dir), &cwd) {
        Ok(scope) => validate(&scope),
        Err(_) => Validation::default(),
    }
}

/// The error messages of `validation`, by file (relative to the staged city).
pub fn errors_by_file(validation: &Validation, dir: &Path) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let cwd = std::env::current_dir().unwrap_or_default();
    let dir = super::compose::normalize(&cwd.join(dir));
    for d in validation.diagnostics.iter().filter(|d| d.is_error()) {
        let file = d.position().map(|(f, _, _)| f.to_owned()).unwrap_or_default();
        let abs = super::compose::normalize(&cwd.join(&file));
        let rel = abs.strip_prefix(&dir).map(|p| p.display().to_string()).unwrap_or(file);
        let rel = rel.strip_prefix("./").unwrap_or(&rel).to_owned();
        out.entry(rel).or_default().push(d.message.clone());
    }
    out
}

/// Stages `import` and drops the Formulas and Orders the staged city rejects (an order whose
/// formula was not imported, a target that is not an agent here), reporting each, until the
/// city validates or only other errors remain. Returns the staged directory's validation.
pub fn stage_valid(import: &mut Import, dir: &Path) -> Result<Validation, WriteError> {
    loop {
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(io(dir))?;
        }
        stage(import, dir)?;
        let validation = check(dir);
        let errors = errors_by_file(&validation, dir);
        let droppable: Vec<(String, Vec<String>)> = errors
            .iter()
            .filter(|(f, _)| f.starts_with("formulas/") || f.starts_with("orders/"))
            .map(|(f, m)| (f.clone(), m.clone()))
            .collect();
        if droppable.is_empty() {
            return Ok(validation);
        }
        for (file, messages) in droppable {
            import.drop_resource(&file, &messages.join("; "));
        }
    }
}

impl Import {
    /// Removes the resource written to `file`, reporting why and keeping its original.
    pub fn drop_resource(&mut self, file: &str, why: &str) {
        self.files.remove(file);
        if let Some(source) = self.sources.remove(file) {
            let shown =
                self.shown_sources.remove(file).unwrap_or_else(|| source.display().to_string());
            let dest = format!(".gc-import/unported/{}", shown.replace("../", "up/"));
            let why = format!(
                "gc rejects the translation ({why}): not imported; the original is kept at {dest}"
            );
            self.report.not_mapped(&shown, 0, "(file)", why);
            self.copies.push((source, dest));
        }
        self.files.insert(".gc-import/report.txt".into(), self.report.render());
    }
}

/// Moves the staged city into place at `out` (an empty or missing directory).
pub fn commit(staged: &Path, out: &Path) -> Result<(), WriteError> {
    if out.is_dir() {
        std::fs::remove_dir(out).map_err(io(out))?;
    }
    std::fs::rename(staged, out).map_err(io(out))
}

/// A fresh staging directory next to `out` (so the final rename stays on one file system).
pub fn staging_dir(out: &Path) -> PathBuf {
    let name =
        out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "city".into());
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    parent.join(format!(".{name}.gc-import-{}", uuid::Uuid::new_v4().simple()))
}
