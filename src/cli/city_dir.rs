//! Finding the city directory a command works on.

use std::path::{Path, PathBuf};

/// Files or directories whose presence marks a city directory.
const MARKERS: [&str; 4] = ["city.yaml", "city.yml", "city.toml", ".gc"];

/// `explicit` when given, else the nearest directory at or above `cwd` holding a marker, else
/// `cwd` itself.
pub fn find_city_dir(explicit: Option<&Path>, cwd: &Path) -> PathBuf {
    if let Some(dir) = explicit {
        return dir.to_path_buf();
    }
    cwd.ancestors()
        .find(|dir| MARKERS.iter().any(|m| dir.join(m).exists()))
        .unwrap_or(cwd)
        .to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_up_to_the_nearest_marker() {
        let root = tempfile::tempdir().unwrap();
        let nested = root.path().join("agents/deep");
        std::fs::create_dir_all(&nested).unwrap();
        assert_eq!(find_city_dir(None, &nested), nested);
        std::fs::write(root.path().join("city.yaml"), "").unwrap();
        assert_eq!(find_city_dir(None, &nested), root.path());
        assert_eq!(find_city_dir(Some(Path::new("/x")), &nested), Path::new("/x"));
    }
}
