//! Shared by the end-to-end tests: a minimal valid city.

/// A City whose default provider is `shell`, and that Provider: the smallest valid city.
pub const CITY: &str = "\
apiVersion: gascity.dev/v1alpha1
kind: City
metadata:
  name: town
spec:
  defaultProvider: shell
---
apiVersion: gascity.dev/v1alpha1
kind: Provider
metadata:
  name: shell
spec:
  command: bash
";

/// A temporary city directory holding [`CITY`] and one agent file, and the `gc` to run in it.
#[allow(dead_code)] // each test crate uses its own subset
pub struct City {
    dir: tempfile::TempDir,
}

#[allow(dead_code)]
impl City {
    /// A new city with [`CITY`] and `agents/worker.yaml` holding `worker`.
    pub fn new(worker: &str) -> City {
        let city = City { dir: tempfile::tempdir().unwrap() };
        city.write("city.yaml", CITY);
        city.write("agents/worker.yaml", worker);
        city
    }

    /// The city directory.
    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Writes `text` to `path` below the city, creating directories.
    pub fn write(&self, path: &str, text: &str) {
        let full = self.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }

    /// `gc`, run in the city, uncoloured, ignoring the caller's `GC_CITY`.
    pub fn gc(&self) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::cargo_bin("gc").unwrap();
        cmd.current_dir(self.path()).env_remove("GC_CITY").env("NO_COLOR", "1");
        cmd
    }
}

/// Gas City's fixture files (real formulas, orders, packs; MIT), which live beside the
/// repository rather than in it: `GC_GASCITY_FIXTURES`, else the first `shared/fixtures/gascity`
/// found walking up from the crate. `None` when neither is there.
#[allow(dead_code)]
pub fn gascity_fixtures() -> Option<std::path::PathBuf> {
    if let Some(dir) = std::env::var_os("GC_GASCITY_FIXTURES") {
        return Some(dir.into());
    }
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("shared/fixtures/gascity"))
        .find(|dir| dir.is_dir())
}
