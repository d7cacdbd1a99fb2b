//! The tree of config sources a Gas City city is made of: the city (or a pack) at the root
//! and the packs it imports, transitively, each read once.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use super::report::Report;
use super::source::{Sourced, TomlFile};

/// One config source: the city directory itself, or a pack.
#[derive(Debug)]
pub struct Pack {
    /// `[pack] name`, else the directory's name; for the city, its workspace name.
    pub name: String,
    /// Its directory on disk.
    pub dir: PathBuf,
    /// Its directory as shown in the report (relative to the imported directory).
    pub shown_dir: String,
    /// Where its files go in the imported city, relative to the city directory (`` for the
    /// city itself, `packs/<name>` for a pack): what `{{.ConfigDir}}` becomes.
    pub config_dir: String,
    /// `city.toml` or `pack.toml`, when there is one.
    pub file: Option<Arc<TomlFile>>,
    /// The packs it imports, in declaration order (indexes into [`Tree::packs`]).
    pub imports: Vec<usize>,
}

/// Every source of the city, the root first.
#[derive(Debug)]
pub struct Tree {
    /// The imported directory: report paths are relative to it.
    pub root_dir: PathBuf,
    /// Whether the root is a city (`city.toml`) rather than a pack.
    pub root_is_city: bool,
    /// The sources; index 0 is the root.
    pub packs: Vec<Pack>,
    by_dir: HashMap<PathBuf, usize>,
}

/// Why a city cannot be imported at all.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Neither a city nor a pack.
    #[error(
        "{0}: no city.toml or pack.toml here; give a Gas City city directory, a city.toml or a pack.toml"
    )]
    NotACity(String),
    /// A file that cannot be read or parsed.
    #[error(transparent)]
    Read(#[from] super::source::ReadError),
}

impl Tree {
    /// Reads the city or pack at `path` (a directory, `city.toml` or `pack.toml`) and every
    /// local pack it imports. Remote and missing imports are reported, not fatal.
    pub fn load(path: &Path, report: &mut Report) -> Result<Tree, LoadError> {
        let (dir, file_name) = if path.is_dir() {
            let name = ["city.toml", "pack.toml"].into_iter().find(|f| path.join(f).is_file());
            (path.to_path_buf(), name.map(str::to_owned))
        } else if path.is_file() {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            (path.parent().unwrap_or(Path::new(".")).to_path_buf(), name)
        } else {
            (path.to_path_buf(), None)
        };
        let Some(file_name) = file_name else {
            return Err(LoadError::NotACity(path.display().to_string()));
        };
        let cwd = std::env::current_dir().unwrap_or_default();
        let dir = normalize(&cwd.join(dir));
        let file = TomlFile::read(&dir.join(&file_name), file_name)?;
        // A pack is a file with `[pack]` and no `[workspace]`, whatever it is called.
        let root_is_city = file.get("/pack").is_none() || file.get("/workspace").is_some();
        let mut tree =
            Tree { root_dir: dir.clone(), root_is_city, packs: Vec::new(), by_dir: HashMap::new() };
        tree.add(dir, Some(file), report)?;
        Ok(tree)
    }

    /// The root's file (`city.toml` or `pack.toml`).
    pub fn root_file(&self) -> Option<&Arc<TomlFile>> {
        self.packs[0].file.as_ref()
    }

    /// `start` and every pack it imports, transitively, depth first in declaration order
    /// (nearest first: what Gas City lets win when two define the same thing).
    pub fn closure(&self, start: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut stack = vec![start];
        while let Some(i) = stack.pop() {
            if out.contains(&i) {
                continue;
            }
            out.push(i);
            stack.extend(self.packs[i].imports.iter().rev());
        }
        out
    }

    /// Every pack: the root's closure first (nearest first), then packs only rigs include.
    pub fn all_nearest_first(&self) -> Vec<usize> {
        let mut order = self.closure(0);
        let rest: Vec<usize> = (0..self.packs.len()).filter(|i| !order.contains(i)).collect();
        order.extend(rest);
        order
    }

    /// Reads the pack in directory `dir` (named on the command line), adding it when new.
    pub fn add_dir(&mut self, dir: PathBuf, report: &mut Report) -> Option<usize> {
        if let Some(&i) = self.by_dir.get(&dir) {
            return Some(i);
        }
        let pack_file = dir.join("pack.toml");
        let file = if pack_file.is_file() {
            match TomlFile::read(&pack_file, self.shown(&pack_file)) {
                Ok(f) => Some(f),
                Err(e) => {
                    report.not_mapped(&e.file, e.line.unwrap_or(0), "(file)", e.message);
                    return None;
                }
            }
        } else {
            None
        };
        self.add(dir, file, report).ok()
    }

    /// Reads the pack at `source` (as written in `from`), relative to `from`'s directory,
    /// adding it when new; `None` (reported) when it is remote or missing.
    pub fn resolve(&mut self, from: &Sourced, report: &mut Report) -> Option<usize> {
        let source = from.str()?;
        let key = display_pointer(&from.pointer);
        if is_remote(source) {
            report.not_mapped(
                from.shown(),
                from.line(),
                &key,
                format!("`{source}` is a remote pack; gc import reads local ones only: check it out next to the city and point the import at it"),
            );
            return None;
        }
        let dir = normalize(&from.file.dir().join(source));
        if let Some(&i) = self.by_dir.get(&dir) {
            report.mapped(from.shown(), from.line(), &key, format!("pack {}", self.packs[i].name));
            return Some(i);
        }
        if !dir.is_dir() {
            report.not_mapped(
                from.shown(),
                from.line(),
                &key,
                format!("`{source}` is not a directory ({})", dir.display()),
            );
            return None;
        }
        let i = self.add_dir(dir, report)?;
        report.mapped(from.shown(), from.line(), &key, format!("pack {}", self.packs[i].name));
        Some(i)
    }

    fn add(
        &mut self,
        dir: PathBuf,
        file: Option<Arc<TomlFile>>,
        report: &mut Report,
    ) -> Result<usize, LoadError> {
        let index = self.packs.len();
        let declared = file.as_ref().and_then(|f| {
            f.get("/pack/name").or_else(|| f.get("/workspace/name")).and_then(|v| v.as_str())
        });
        let dir_name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
        let name = declared.map(str::to_owned).or(dir_name).unwrap_or_else(|| "city".into());
        let config_dir = if index == 0 && self.root_is_city {
            String::new()
        } else {
            self.unique_config_dir(&name)
        };
        self.by_dir.insert(dir.clone(), index);
        let shown_dir = self.shown(&dir);
        self.packs.push(Pack {
            name,
            dir,
            shown_dir,
            config_dir,
            file: file.clone(),
            imports: vec![],
        });
        let mut imports = Vec::new();
        if let Some(file) = &file {
            for source in import_sources(file) {
                if let Some(i) = self.resolve(&source, report) {
                    imports.push(i);
                }
            }
        }
        self.packs[index].imports = imports;
        Ok(index)
    }

    fn unique_config_dir(&self, name: &str) -> String {
        let base = format!("packs/{}", super::names::label(name));
        let mut candidate = base.clone();
        let mut n = 2;
        while self.packs.iter().any(|p| p.config_dir == candidate) {
            candidate = format!("{base}-{n}");
            n += 1;
        }
        candidate
    }

    /// `path` as shown in the report: relative to the imported directory.
    pub fn shown(&self, path: &Path) -> String {
        relative(&self.root_dir, path).display().to_string()
    }
}

/// The pack sources a city or pack file imports: `[imports.X] source`, `workspace.includes`
/// and the older top-level `include`/`includes` lists, each with where it is written.
pub fn import_sources(file: &Arc<TomlFile>) -> Vec<Sourced> {
    let mut out = Vec::new();
    if let Some(imports) = Sourced::at(file, "/imports") {
        for (_, import) in imports.members() {
            match Sourced::at(&import.file, &format!("{}/source", import.pointer)) {
                Some(source) => out.push(source),
                None => out.push(import),
            }
        }
    }
    for list in ["/workspace/includes", "/include", "/includes"] {
        if let Some(items) = Sourced::at(file, list) {
            out.extend(items.items());
        }
    }
    out
}

/// Whether an import source names a remote pack (a URL or a git host path).
fn is_remote(source: &str) -> bool {
    source.contains("://")
        || source.starts_with("git@")
        || source.contains("//")
        || ["github.com/", "gitlab.com/", "bitbucket.org/"].iter().any(|h| source.starts_with(h))
}

/// A JSON pointer as a dotted TOML key: `/imports/gastown/source` → `imports.gastown.source`,
/// array indexes in brackets (the same form `gc validate` shows field paths in).
pub use crate::validate::field_path as display_pointer;

/// `path` with `.` and `..` resolved lexically (symlinks are left alone, so a pack reached
/// twice through different links is read twice, which is harmless).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `to` relative to `from` (both absolute and normalised).
pub fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<_> = from.components().collect();
    let to_parts: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to_parts).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to_parts[common..] {
        out.push(c);
    }
    if out.as_os_str().is_empty() { PathBuf::from(".") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_read_as_toml_keys_and_paths_relativise() {
        assert_eq!(display_pointer("/imports/gastown/source"), "imports.gastown.source");
        assert_eq!(display_pointer("/agent/0/name"), "agent[0].name");
        assert_eq!(relative(Path::new("/a/b"), Path::new("/a/c/d")), Path::new("../c/d"));
        assert_eq!(relative(Path::new("/a/b"), Path::new("/a/b")), Path::new("."));
        assert_eq!(normalize(Path::new("/a/b/../c/./d")), Path::new("/a/c/d"));
        assert!(is_remote("github.com/gastownhall/gastown"));
        assert!(!is_remote("../dolt"));
    }
}
