//! Where bead stores live on disk, how a command finds the one to use (as bd does), and how a
//! store is created and opened.
//!
//! A *beads directory* holds one store: `<rig>/.beads/` for a rig, `<city>/.gc/beads/` for the
//! city itself. It contains `gc-store.json` ([`StoreConfig`]: the id prefix, the backend, the
//! city it reports events to) and, for the embedded backend, `beads.db`. A `redirect` file in a
//! `.beads/` directory names another beads directory to use instead (git worktrees of a rig
//! point at the rig's store this way).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::evented::Evented;
use super::{BeadError, BeadStore, Result};
use crate::api::city::BeadsBackend;

/// File in a beads directory that says how to open it.
pub const CONFIG_FILE: &str = "gc-store.json";
/// File in a `.beads/` directory naming the beads directory to use instead.
pub const REDIRECT_FILE: &str = "redirect";
/// The embedded store's database file.
pub const DB_FILE: &str = "beads.db";

/// How a beads directory is opened (`gc-store.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreConfig {
    /// Id prefix of new beads (`<prefix>-<base36>`).
    pub prefix: String,
    /// Which backend holds the beads.
    #[serde(default)]
    pub backend: BeadsBackend,
    /// The exec backend's script.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The city whose event log records this store's mutations (absolute path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<PathBuf>,
    /// The rig this store belongs to (`None` for the city's own store).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rig: Option<String>,
    /// The postgres backend: the variable holding the connection string (never the string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_env: Option<String>,
    /// The postgres backend: the schema the store lives in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
}

impl StoreConfig {
    /// An embedded store with `prefix` and no city.
    pub fn embedded(prefix: impl Into<String>) -> StoreConfig {
        StoreConfig {
            prefix: prefix.into(),
            backend: BeadsBackend::Embedded,
            command: None,
            city: None,
            rig: None,
            url_env: None,
            schema: None,
        }
    }

    /// Reads `gc-store.json` from `dir`.
    pub fn read(dir: &Path) -> Result<StoreConfig> {
        let path = dir.join(CONFIG_FILE);
        let text = fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                BeadError::Invalid(format!(
                    "{} is not a gc bead store (no {CONFIG_FILE}); create one with `gc bd init \
                     --prefix PREFIX`",
                    dir.display()
                ))
            } else {
                BeadError::Io(e)
            }
        })?;
        serde_json::from_str(&text)
            .map_err(|e| BeadError::Invalid(format!("{}: {e}", path.display())))
    }
}

/// The city's own beads directory.
pub fn city_beads_dir(city_dir: &Path) -> PathBuf {
    city_dir.join(".gc").join("beads")
}

/// A rig's beads directory.
pub fn rig_beads_dir(rig_dir: &Path) -> PathBuf {
    rig_dir.join(".beads")
}

/// Finds the beads directory a command run in `cwd` uses, as bd does: `beads_dir` (the
/// `BEADS_DIR` variable) when given, else the nearest `.beads/` (or a city's `.gc/beads/`) at or
/// above `cwd`; a `redirect` in it is followed one hop.
pub fn locate(cwd: &Path, beads_dir: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = beads_dir {
        let dir = cwd.join(dir);
        if !dir.is_dir() {
            return Err(BeadError::Invalid(format!(
                "BEADS_DIR {} is not a directory",
                dir.display()
            )));
        }
        return follow_redirect(&dir);
    }
    for ancestor in cwd.ancestors() {
        let dot_beads = rig_beads_dir(ancestor);
        if dot_beads.is_dir() {
            return follow_redirect(&dot_beads);
        }
        let city = city_beads_dir(ancestor);
        if city.join(CONFIG_FILE).is_file() {
            return Ok(city);
        }
    }
    Err(BeadError::Invalid(format!(
        "no bead store at or above {}: set BEADS_DIR, work inside a city or rig, or create one \
         with `gc bd init --prefix PREFIX`",
        cwd.display()
    )))
}

/// `dir`, or the directory its `redirect` file names (relative to the directory that holds
/// `dir`, i.e. the project root). One hop only: a redirect in the target is not followed.
pub fn follow_redirect(dir: &Path) -> Result<PathBuf> {
    let file = dir.join(REDIRECT_FILE);
    let text = match fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(dir.to_path_buf()),
        Err(e) => return Err(e.into()),
    };
    let target = text.lines().map(str::trim).find(|l| !l.is_empty()).ok_or_else(|| {
        BeadError::Invalid(format!("{} is empty; it should name a beads directory", file.display()))
    })?;
    let root = dir.parent().unwrap_or(dir);
    let resolved = root.join(target);
    if !resolved.is_dir() {
        return Err(BeadError::Invalid(format!(
            "{} points at {}, which is not a directory",
            file.display(),
            resolved.display()
        )));
    }
    Ok(resolved)
}

/// Writes `dir/redirect` so that `dir` stands for `target`. The path written is relative to
/// the project root (the directory holding `dir`) when it can be, so a moved tree still works.
pub fn write_redirect(dir: &Path, target: &Path) -> Result<()> {
    fs::create_dir_all(dir)?;
    let root = dir.parent().unwrap_or(dir);
    let shown = pathdiff(target, root).unwrap_or_else(|| target.to_path_buf());
    crate::store::atomic::write(
        &dir.join(REDIRECT_FILE),
        format!("{}\n", shown.display()).as_bytes(),
    )?;
    Ok(())
}

/// `path` relative to `base` when both are absolute.
fn pathdiff(path: &Path, base: &Path) -> Option<PathBuf> {
    if !path.is_absolute() || !base.is_absolute() {
        return None;
    }
    let path: Vec<_> = path.components().collect();
    let base: Vec<_> = base.components().collect();
    let common = path.iter().zip(&base).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..base.len() {
        out.push("..");
    }
    for part in &path[common..] {
        out.push(part);
    }
    Some(out)
}

/// Creates (or updates the config of) the store in `dir`. Idempotent: an existing database is
/// kept, and its prefix is not changed for beads already created.
pub fn init(dir: &Path, config: &StoreConfig) -> Result<()> {
    fs::create_dir_all(dir)?;
    let text = serde_json::to_string_pretty(config).expect("config serialises");
    let path = dir.join(CONFIG_FILE);
    if fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
        crate::store::atomic::write(&path, text.as_bytes())?;
    }
    // Opening creates the schema, so a fresh store is usable at once.
    open_backend(dir, config).map(drop)
}

/// Opens the store in `dir` (already located), recording mutations in the city's event log
/// when the store belongs to a city.
pub fn open(dir: &Path) -> Result<Box<dyn BeadStore>> {
    open_with(dir, &StoreConfig::read(dir)?)
}

/// Opens the store in `dir` whose config the caller has already read.
pub fn open_with(dir: &Path, config: &StoreConfig) -> Result<Box<dyn BeadStore>> {
    let backend = open_backend(dir, config)?;
    Ok(match &config.city {
        Some(city) => Box::new(Evented::new(backend, city.clone(), config.rig.clone())),
        None => backend,
    })
}

/// Locates (see [`locate`]) and opens the store for a command run in `cwd`.
pub fn open_from(cwd: &Path) -> Result<(PathBuf, Box<dyn BeadStore>)> {
    let env_dir = env::var_os("BEADS_DIR").filter(|v| !v.is_empty()).map(PathBuf::from);
    let dir = locate(cwd, env_dir.as_deref())?;
    let store = open(&dir)?;
    Ok((dir, store))
}

fn open_backend(dir: &Path, config: &StoreConfig) -> Result<Box<dyn BeadStore>> {
    match config.backend {
        BeadsBackend::Embedded => {
            Ok(Box::new(super::embedded::EmbeddedStore::open(&dir.join(DB_FILE), &config.prefix)?))
        }
        BeadsBackend::Exec => {
            let command = config.command.as_deref().ok_or_else(|| {
                BeadError::Invalid(format!(
                    "{} selects the exec bead store but names no command: set `command` to \
                     the script (the City's beads.command)",
                    dir.join(CONFIG_FILE).display()
                ))
            })?;
            let store = super::exec::ExecStore::new(command, dir, &config.prefix)?;
            // The City's beads.command is written relative to the city directory.
            let store = match &config.city {
                Some(city) => store.relative_to(city),
                None => store,
            };
            Ok(Box::new(store))
        }
        BeadsBackend::Bd => Ok(Box::new(super::bd::BdStore::new(dir))),
        BeadsBackend::Postgres => {
            let var = config.url_env.as_deref().unwrap_or(super::postgres::DEFAULT_URL_ENV);
            let url = env::var(var).ok().filter(|v| !v.is_empty()).ok_or_else(|| {
                BeadError::Invalid(format!(
                    "{} selects the PostgreSQL bead store, but ${var} (its connection string) \
                     is not set",
                    dir.join(CONFIG_FILE).display()
                ))
            })?;
            let schema = config
                .schema
                .clone()
                .unwrap_or_else(|| super::postgres::schema_name("store", &config.prefix));
            Ok(Box::new(super::postgres::PostgresStore::open(&url, &schema, &config.prefix)?))
        }
    }
}

/// Who is acting, as bd decides it: `explicit` (`--actor`), else `BEADS_ACTOR`, `BD_ACTOR`,
/// `USER`, else `unknown`.
pub fn actor(explicit: Option<&str>) -> String {
    explicit
        .map(str::to_owned)
        .or_else(|| {
            ["BEADS_ACTOR", "BD_ACTOR", "USER"]
                .iter()
                .find_map(|k| env::var(k).ok().filter(|v| !v.is_empty()))
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_beads_directory_wins_and_redirects_are_followed_once() {
        let tmp = tempfile::tempdir().unwrap();
        let rig = tmp.path().join("rig");
        let deep = rig.join("src/a/b");
        fs::create_dir_all(&deep).unwrap();
        fs::create_dir_all(rig.join(".beads")).unwrap();
        assert_eq!(locate(&deep, None).unwrap(), rig.join(".beads"));

        let tree = tmp.path().join("worktree");
        fs::create_dir_all(&tree).unwrap();
        write_redirect(&tree.join(".beads"), &rig.join(".beads")).unwrap();
        let written = fs::read_to_string(tree.join(".beads/redirect")).unwrap();
        assert_eq!(written.trim(), "../rig/.beads");
        assert_eq!(locate(&tree, None).unwrap(), tree.join("../rig/.beads"));

        let explicit = locate(&deep, Some(&tree.join(".beads"))).unwrap();
        assert_eq!(explicit, tree.join("../rig/.beads"));
    }

    #[test]
    fn a_missing_store_and_a_dangling_redirect_are_clear_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let err = locate(tmp.path(), None).unwrap_err().to_string();
        assert!(err.contains("no bead store"), "{err}");
        let dir = tmp.path().join(".beads");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("redirect"), "../nowhere/.beads\n").unwrap();
        let err = locate(tmp.path(), None).unwrap_err().to_string();
        assert!(err.contains("not a directory"), "{err}");
    }
}
