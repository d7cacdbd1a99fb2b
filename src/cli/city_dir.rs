//! Finding the city directory a command works on.

use std::path::{Path, PathBuf};

/// Files or directories whose presence marks a city directory.
const MARKERS: [&str; 4] = ["city.yaml", "city.yml", "city.toml", ".gc"];

/// `explicit` when given (relative to `cwd`), else the nearest directory at or above `cwd`
/// holding a marker; `None` when there is none.
pub fn find_city_dir(explicit: Option<&Path>, cwd: &Path) -> Option<PathBuf> {
    if let Some(dir) = explicit {
        return Some(cwd.join(dir));
    }
    cwd.ancestors().find(|dir| MARKERS.iter().any(|m| dir.join(m).exists())).map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_up_to_the_nearest_marker() {
        let root = tempfile::tempdir().unwrap();
        let nested = root.path().join("agents/deep");
        std::fs::create_dir_all(&nested).unwrap();
        assert_eq!(find_city_dir(None, &nested), None);
        std::fs::write(root.path().join("city.yaml"), "").unwrap();
        assert_eq!(find_city_dir(None, &nested).as_deref(), Some(root.path()));
        assert_eq!(find_city_dir(Some(Path::new("/x")), &nested).as_deref(), Some(Path::new("/x")));
    }
}
