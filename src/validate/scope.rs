//! What a `gc validate` run covers: the files it reports on, and the rest of their city, loaded
//! only so references resolve (`gc validate agents/a.yaml` still knows the city's providers).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::manifest::{DiscoverError, Input, discover};

/// The files to check and their surroundings.
#[derive(Debug, Clone)]
pub struct Scope {
    /// Files whose findings are reported.
    pub inputs: Vec<Input>,
    /// The other files of the same city; their own findings are not reported.
    pub context: Vec<Input>,
    /// Where relative paths (prompt templates) resolve when no City file says otherwise.
    pub city_dir: PathBuf,
    /// Whether a whole city is in view, so a missing City and unresolved references are errors.
    /// False when only loose files are checked outside any city.
    pub expect_city: bool,
}

impl Scope {
    /// The scope for `paths` given on the command line. `city` is the city directory when one
    /// was found (or named); `cwd` the current directory. No paths means the whole city.
    pub fn for_paths(
        paths: &[PathBuf],
        city: Option<&Path>,
        cwd: &Path,
    ) -> Result<Scope, DiscoverError> {
        let city_dir = city.map_or_else(|| cwd.to_path_buf(), Path::to_path_buf);
        let shown_city_dir = relative_to(&city_dir, cwd);
        if paths.is_empty() {
            let inputs = discover(std::slice::from_ref(&shown_city_dir))?;
            return Ok(Scope { inputs, context: Vec::new(), city_dir, expect_city: true });
        }
        let inputs = discover(paths)?;
        let has_dir = paths.iter().any(|p| p.is_dir());
        let covers_city = paths
            .iter()
            .any(|p| p.is_dir() && canonical(&city_dir).starts_with(canonical(&cwd.join(p))));
        let context = match city {
            Some(_) if !covers_city => {
                let chosen: HashSet<PathBuf> = inputs.iter().filter_map(input_path).collect();
                discover(std::slice::from_ref(&shown_city_dir))?
                    .into_iter()
                    .filter(|i| input_path(i).is_some_and(|p| !chosen.contains(&p)))
                    .collect()
            }
            _ => Vec::new(),
        };
        let expect_city = has_dir || city.is_some();
        Ok(Scope { inputs, context, city_dir, expect_city })
    }
}

fn input_path(input: &Input) -> Option<PathBuf> {
    match input {
        Input::File(path, _) => Some(canonical(path)),
        Input::Stdin => None,
    }
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `dir` relative to `cwd` when one contains the other, so reported paths stay short and open
/// from where the user is.
fn relative_to(dir: &Path, cwd: &Path) -> PathBuf {
    if let Ok(rel) = dir.strip_prefix(cwd) {
        return if rel.as_os_str().is_empty() { PathBuf::from(".") } else { rel.to_path_buf() };
    }
    if let Ok(down) = cwd.strip_prefix(dir) {
        return down.components().map(|_| "..").collect();
    }
    dir.to_path_buf()
}
