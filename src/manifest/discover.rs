//! Finding resource files below the paths a command was given.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::Format;

/// An input to load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A file and the format to read it in.
    File(PathBuf, Format),
    /// Standard input (`-`), format sniffed from the content.
    Stdin,
}

/// A path that cannot be searched.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// The path named on the command line is not there.
    #[error("{0}: no such file or directory")]
    NotFound(PathBuf),
    /// A directory could not be listed.
    #[error("{path}: {source}")]
    Walk {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: walkdir::Error,
    },
}

/// Every resource file below `paths`: `*.yaml`, `*.yml` and `*.toml`, skipping hidden files and
/// directories (which includes `.gc/`), nested git repositories (a rig checked out inside
/// the city directory holds its own YAML, which is not the city's) and skill directories
/// (holding `SKILL.md`: their files are the skill's, not the city's). A file named explicitly is read whatever its extension
/// (as YAML unless it ends in `.toml`). Directory contents are sorted; duplicates are dropped.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<Input>, DiscoverError> {
    let mut seen = HashSet::new();
    let mut inputs = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            if seen.insert(path.clone()) {
                inputs.push(Input::Stdin);
            }
            continue;
        }
        let meta = std::fs::metadata(path).map_err(|_| DiscoverError::NotFound(path.clone()))?;
        if !meta.is_dir() {
            if seen.insert(path.clone()) {
                let format = Format::from_path(path).unwrap_or(Format::Yaml);
                inputs.push(Input::File(path.clone(), format));
            }
            continue;
        }
        let walker = walkdir::WalkDir::new(path)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| {
                e.depth() == 0
                    || !(is_hidden(e.file_name().as_ref())
                        || (e.file_type().is_dir()
                            && (e.path().join(".git").exists()
                                || e.path().join("SKILL.md").is_file())))
            });
        for entry in walker {
            let entry =
                entry.map_err(|source| DiscoverError::Walk { path: path.clone(), source })?;
            if !entry.file_type().is_file() {
                continue;
            }
            let Some(format) = Format::from_path(entry.path()) else { continue };
            let file = entry.into_path();
            if seen.insert(file.clone()) {
                inputs.push(Input::File(file, format));
            }
        }
    }
    Ok(inputs)
}

fn is_hidden(name: &Path) -> bool {
    name.to_str().is_some_and(|n| n.starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_sorted_and_skips_hidden_state_and_skill_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in [
            "b.yaml",
            "a/c.toml",
            "a/d.yml",
            ".gc/applied/x.yaml",
            ".hidden.yaml",
            "notes.md",
            "skills/review/SKILL.md",
            "skills/review/checklist.yaml",
        ] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "").unwrap();
        }
        let found: Vec<_> = discover(&[root.to_path_buf()])
            .unwrap()
            .into_iter()
            .map(|i| match i {
                Input::File(p, _) => p.strip_prefix(root).unwrap().to_string_lossy().into_owned(),
                Input::Stdin => "-".into(),
            })
            .collect();
        assert_eq!(found, ["a/c.toml", "a/d.yml", "b.yaml"]);
        assert!(matches!(discover(&[root.join("missing")]), Err(DiscoverError::NotFound(_))));
    }
}
