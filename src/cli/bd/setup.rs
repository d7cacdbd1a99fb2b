//! Commands that run without a store: `bd init` (create one) and `gc bd install-shim` (make the
//! `bd` name point at gc).

use std::path::{Path, PathBuf};

use super::{Failure, Report, flags, output};
use crate::beads::layout::{self, StoreConfig};

/// Create a bead store in ./.beads (safe to repeat: an existing store is kept): embedded
/// (SQLite) by default, or in PostgreSQL with `--postgres VAR`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  bd init --prefix api\n  \
                        export GC_BEADS_POSTGRES_URL=postgres://gc:PASSWORD@db.example/gc\n  \
                        bd init --prefix api --postgres GC_BEADS_POSTGRES_URL")]
pub struct InitArgs {
    /// Id prefix of new issues (`<prefix>-<hash>`). Default: derived from the directory name.
    #[arg(long, value_parser = flags::prefix)]
    prefix: Option<String>,
    /// Keep the beads in PostgreSQL: the environment variable holding the connection string
    /// (its value is read when the store is opened, never written down).
    #[arg(long, value_name = "VAR", value_parser = flags::env_name)]
    postgres: Option<String>,
}

/// The prefix bd would pick for a project in `dir`: its name, lowercased, with anything but
/// letters and digits turned into `-`.
pub fn default_prefix(dir: &Path) -> String {
    let name = dir.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    let cleaned: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let trimmed = cleaned.trim_matches('-');
    if trimmed.is_empty() { "bd".to_owned() } else { trimmed.to_owned() }
}

/// Runs `bd init` in `cwd`.
pub fn init(args: InitArgs, cwd: &Path) -> Result<Report, Failure> {
    let dir = layout::rig_beads_dir(cwd);
    let prefix = match args.prefix {
        Some(p) => p,
        // Re-running init keeps the prefix the store already has.
        None => match StoreConfig::read(&dir) {
            Ok(existing) => existing.prefix,
            Err(_) => default_prefix(cwd),
        },
    };
    let config = match (StoreConfig::read(&dir), args.postgres) {
        (_, Some(var)) => StoreConfig {
            backend: crate::api::city::BeadsBackend::Postgres,
            url_env: Some(var),
            schema: Some(crate::beads::postgres::schema_name("bd", &prefix)),
            ..StoreConfig::embedded(prefix.clone())
        },
        // Keep what a city or rig recorded (city, rig, backend); only the prefix changes.
        (Ok(existing), None) => StoreConfig { prefix: prefix.clone(), ..existing },
        (Err(_), None) => StoreConfig::embedded(prefix.clone()),
    };
    layout::init(&dir, &config)?;
    Ok(output::initialized(&dir.display().to_string(), &prefix))
}

/// Create a symlink named `bd` that runs this gc, so `bd ready`, `bd update --claim`, … in agent
/// prompts reach gc's bead store.
#[derive(Debug, clap::Args)]
pub struct ShimArgs {
    /// Directory to put `bd` in. Default: the directory holding this gc (so it is on PATH when
    /// gc is).
    #[arg(value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Replace an existing `bd` that is not already this link.
    #[arg(long)]
    force: bool,
}

/// Runs `gc bd install-shim`.
pub fn install_shim(args: ShimArgs) -> Result<Report, Failure> {
    let failed = |what: &str, path: &Path, e: std::io::Error| {
        Failure::Failed(format!("{what} {}: {e}", path.display()))
    };
    let exe = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .map_err(|e| Failure::Failed(format!("cannot tell where this gc is: {e}")))?;
    let dir = match args.dir {
        Some(dir) => std::path::absolute(&dir).map_err(|e| failed("resolving", &dir, e))?,
        None => exe.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    std::fs::create_dir_all(&dir).map_err(|e| failed("creating", &dir, e))?;
    let link = dir.join("bd");
    let shown = |p: &Path| p.display().to_string();
    match std::fs::symlink_metadata(&link) {
        Ok(_) if std::fs::read_link(&link).is_ok_and(|t| t == exe) => {
            return Ok(output::shim_installed(&shown(&link), &shown(&exe), true));
        }
        Ok(_) if !args.force => {
            return Err(Failure::Failed(format!(
                "{} already exists and is not a link to {}; pass --force to replace it",
                link.display(),
                exe.display()
            )));
        }
        Ok(_) => std::fs::remove_file(&link).map_err(|e| failed("removing", &link, e))?,
        Err(_) => {}
    }
    symlink(&exe, &link).map_err(|e| failed("creating", &link, e))?;
    Ok(output::shim_installed(&shown(&link), &shown(&exe), false))
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    // Without symlinks a copy answers to the name `bd` just as well.
    std::fs::copy(target, link).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_prefixes_come_from_the_directory_name() {
        assert_eq!(default_prefix(Path::new("/src/My App")), "my-app");
        assert_eq!(default_prefix(Path::new("/src/gc")), "gc");
        assert_eq!(default_prefix(Path::new("/")), "bd");
        assert_eq!(default_prefix(Path::new("/x/__")), "bd");
    }

    #[test]
    fn init_creates_a_store_and_keeps_its_prefix_when_repeated() {
        let tmp = tempfile::tempdir().unwrap();
        let report =
            init(InitArgs { prefix: Some("ab".into()), postgres: None }, tmp.path()).unwrap();
        assert_eq!(report.json.unwrap()["prefix"], "ab");
        let again = init(InitArgs { prefix: None, postgres: None }, tmp.path()).unwrap();
        assert_eq!(again.json.unwrap()["prefix"], "ab");
        let config = StoreConfig::read(&tmp.path().join(".beads")).unwrap();
        assert_eq!(config.prefix, "ab");
    }

    #[test]
    fn the_shim_is_a_link_to_this_executable_and_is_not_clobbered() {
        let tmp = tempfile::tempdir().unwrap();
        let args = || ShimArgs { dir: Some(tmp.path().to_path_buf()), force: false };
        let first = install_shim(args()).unwrap().json.unwrap();
        assert_eq!(first["created"], true);
        let target = std::fs::read_link(tmp.path().join("bd")).unwrap();
        assert_eq!(target, std::fs::canonicalize(std::env::current_exe().unwrap()).unwrap());
        assert_eq!(install_shim(args()).unwrap().json.unwrap()["created"], false);

        std::fs::remove_file(tmp.path().join("bd")).unwrap();
        std::fs::write(tmp.path().join("bd"), "#!/bin/sh\n").unwrap();
        let err = install_shim(args()).unwrap_err().to_string();
        assert!(err.contains("--force"), "{err}");
        install_shim(ShimArgs { force: true, ..args() }).unwrap();
        assert!(std::fs::read_link(tmp.path().join("bd")).is_ok());
    }
}
