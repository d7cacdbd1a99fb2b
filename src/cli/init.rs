//! `gc init`: create a new city from the built-in sample city.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::api::meta::{NAME_MAX_LEN, is_valid_name};

include!(concat!(env!("OUT_DIR"), "/sample_city.rs"));

/// Files or directories whose presence means a directory already holds a city.
const CITY_MARKERS: [&str; 4] = ["city.yaml", "city.yml", "city.toml", ".gc"];

/// Create a new city from the built-in sample city.
///
/// Writes city.yaml, agents/, providers/, rigs/, formulas/, orders/, prompts/ and scripts/
/// into DIR (created if missing), and creates the city's own bead store in .gc/beads/. DIR may
/// already exist but must not hold a city (city.yaml, city.yml, city.toml or .gc/), nor any of
/// the files init writes: then nothing is changed.
///
/// The sample agents are shell scripts, so the city runs without any AI CLI. With --provider
/// NAME the same city is written for a real agent CLI (claude, codex, gemini): that tested
/// Provider file, prompts written for a real agent, and NAME as the City's defaultProvider.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  gc init my-city --name town\n  gc init --list-providers\n  \
                        gc init my-city --provider claude\n  cd my-city && gc apply && gc start")]
pub struct Args {
    /// Where to create the city. Default: --city if given, else the current directory.
    #[arg(value_name = "DIR")]
    dir: Option<PathBuf>,

    /// Write the city for this agent CLI (see --list-providers). Default: the script sample.
    #[arg(long, value_name = "NAME")]
    provider: Option<String>,

    /// List the providers --provider takes, whether each CLI is installed, and how to install
    /// it; then exit.
    #[arg(long, conflicts_with_all = ["dir", "provider", "name"])]
    list_providers: bool,

    /// The City's metadata.name: a lowercase RFC 1123 label (a-z, 0-9, '-', at most 63
    /// characters). Default: DIR's name made into one, or `city`.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
}

/// Runs `gc init`.
pub fn run(args: Args, city: Option<PathBuf>) -> Result<ExitCode, Box<dyn std::error::Error>> {
    if args.list_providers {
        list_providers();
        return Ok(ExitCode::SUCCESS);
    }
    let files = city_files(args.provider.as_deref())?;
    let cwd = std::env::current_dir()?;
    // `components` drops `.` parts, so `gc init .` names the directory itself.
    let dir: PathBuf = match args.dir.or(city) {
        Some(dir) => cwd.join(dir).components().collect(),
        None => cwd.clone(),
    };
    let name = match args.name {
        Some(name) if is_valid_name(&name) => name,
        Some(name) => {
            return Err(format!(
                "--name `{name}` is not a valid city name: use lowercase letters, digits and \
                 '-', starting and ending with a letter or digit, at most {NAME_MAX_LEN} \
                 characters (e.g. `my-city`)"
            )
            .into());
        }
        None => default_name(&dir),
    };
    let written = write_city(&dir, &name, &files)?;
    init_city_store(&dir, &name)?;
    let rig_note = init_sample_rig(&dir);
    let shown = display_dir(&dir, &cwd);
    println!("Created city `{name}` in {shown}:");
    for path in &written {
        println!("  {path}");
    }
    if let Some(note) = rig_note {
        println!("\nNote: {note}");
    }
    println!("\nNext steps:");
    if let Some(provider) = &args.provider {
        let command = catalog_spec(provider).map(|s| s.command).unwrap_or_default();
        println!("  log in to `{command}` once, as its documentation says (or export its API key)");
    }
    if dir == cwd {
        println!("  gc apply && gc start");
    } else {
        println!("  cd {} && gc apply && gc start", shell_quote(&shown));
    }
    if args.provider.is_some() {
        println!("  gc sling worker \"Add a CHANGELOG entry\"");
    }
    Ok(ExitCode::SUCCESS)
}

/// The sample's own stand-in provider, written by a plain `gc init`.
const SCRIPT_PROVIDER: &str = "sample-agent";

/// One file `gc init` writes: path relative to the city, contents, executable.
type CityFile = (String, Vec<u8>, bool);

/// The files of a new city: the sample city, or with `provider` the same city for that
/// catalog provider (its Provider file instead of the script's, prompts for a real agent, and
/// the City's defaultProvider set to it).
fn city_files(provider: Option<&str>) -> Result<Vec<CityFile>, String> {
    let sample = SAMPLE_CITY.iter().map(|(rel, c, x)| ((*rel).to_owned(), c.to_vec(), *x));
    let Some(provider) = provider else { return Ok(sample.collect()) };
    let file = format!("{provider}.yaml");
    let Some((_, spec, _)) = PROVIDER_CATALOG.iter().find(|(rel, _, _)| *rel == file) else {
        let known: Vec<&str> = catalog_names().collect();
        return Err(format!(
            "no provider `{provider}` in gc's catalog; it has: {} (`gc init --list-providers`)",
            known.join(", ")
        ));
    };
    let mut files: Vec<CityFile> = sample
        .filter(|(rel, _, _)| !rel.starts_with("providers/") && !rel.starts_with("scripts/"))
        .filter(|(rel, _, _)| !AGENT_PROMPTS.iter().any(|(p, _, _)| p == rel))
        .map(|(rel, contents, x)| {
            let contents = if rel == "city.yaml" {
                let text = String::from_utf8_lossy(&contents).replace(
                    &format!("defaultProvider: {SCRIPT_PROVIDER}"),
                    &format!("defaultProvider: {provider}"),
                );
                text.replace(
                    "# The sample city: three agents run by a small script, so it works without any AI CLI.",
                    &format!("# The sample city, run by the `{provider}` agent CLI."),
                )
                .into_bytes()
            } else {
                contents
            };
            (rel, contents, x)
        })
        .collect();
    files.extend(AGENT_PROMPTS.iter().map(|(rel, c, x)| ((*rel).to_owned(), c.to_vec(), *x)));
    files.push((format!("providers/{file}"), spec.to_vec(), false));
    files.sort();
    Ok(files)
}

/// The names of the catalog's providers.
fn catalog_names() -> impl Iterator<Item = &'static str> {
    PROVIDER_CATALOG.iter().filter_map(|(rel, _, _)| rel.strip_suffix(".yaml"))
}

/// The spec of catalog provider `name`.
pub fn catalog_spec(name: &str) -> Option<crate::api::provider::ProviderSpec> {
    let (_, text, _) =
        PROVIDER_CATALOG.iter().find(|(rel, _, _)| rel.strip_suffix(".yaml") == Some(name))?;
    let value: serde_json::Value = serde_yaml_ng::from_slice(text).ok()?;
    serde_json::from_value(value.get("spec")?.clone()).ok()
}

/// Prints the catalog: name, command, whether it is installed here, how to install it.
fn list_providers() {
    let cwd = std::env::current_dir().unwrap_or_default();
    println!("{:<14}{:<12}{:<11}INSTALL", "NAME", "COMMAND", "INSTALLED");
    for name in catalog_names() {
        let Some(spec) = catalog_spec(name) else { continue };
        let found = crate::controllers::provider::resolve(&cwd, &spec.command);
        println!(
            "{name:<14}{:<12}{:<11}{}",
            spec.command,
            if found.is_some() { "yes" } else { "no" },
            spec.install.unwrap_or_default()
        );
    }
    println!(
        "{SCRIPT_PROVIDER:<14}{:<12}{:<11}the script sample (plain `gc init`): no AI CLI needed",
        "(script)", "built in"
    );
}

/// Creates the new city's own bead store (`.gc/beads/`), so `bd` works in the city before
/// the controller first runs. The sample City uses the embedded backend.
fn init_city_store(dir: &Path, name: &str) -> Result<(), crate::beads::BeadError> {
    use crate::beads::layout::{self, StoreConfig};
    let config = StoreConfig {
        prefix: crate::work::stores::city_prefix(name),
        backend: crate::api::city::BeadsBackend::Embedded,
        command: None,
        city: Some(dir.to_path_buf()),
        ..StoreConfig::embedded("")
    };
    layout::init(&layout::city_beads_dir(dir), &config)
}

/// The sample rig's directory (see `rigs/demo.yaml` in the sample city).
const SAMPLE_RIG: &str = "rigs/demo-repo";

/// Makes the sample rig a git repository, since the sample reviewer asks for its own git
/// worktree. Best effort: without git the city still works, bar that agent; the note returned
/// says so.
fn init_sample_rig(dir: &Path) -> Option<String> {
    let rig = dir.join(SAMPLE_RIG);
    if !rig.is_dir() {
        return None;
    }
    crate::controllers::git::init_with_commit(&rig, "Sample rig").err().map(|e| {
        format!(
            "{SAMPLE_RIG} could not be made a git repository ({e}); the reviewer agent \
             (isolation: worktree) needs one: run `git init` there and commit"
        )
    })
}

/// Why a city could not be created.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The directory already holds a city; nothing was changed.
    #[error(
        "{dir} already holds a city ({marker} exists): gc init creates a new city; use gc apply to change this one"
    )]
    AlreadyACity {
        /// The directory.
        dir: PathBuf,
        /// The marker found.
        marker: &'static str,
    },
    /// Files init would write already exist; nothing was changed.
    #[error("{dir}: would overwrite {}; move them away or pick another directory", .files.join(", "))]
    WouldOverwrite {
        /// The directory.
        dir: PathBuf,
        /// The files in the way, relative to it.
        files: Vec<String>,
    },
    /// The path exists and is not a directory.
    #[error("{0} exists and is not a directory")]
    NotADirectory(PathBuf),
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// What was being read or written.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Writes `files` as a new city named `name` into `dir`; returns the files written (relative,
/// `/`-separated). Refuses, changing nothing, when `dir` holds a city or any of the files.
fn write_city(dir: &Path, name: &str, files: &[CityFile]) -> Result<Vec<String>, InitError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| InitError::Io { path, source }
    };
    if dir.exists() && !dir.is_dir() {
        return Err(InitError::NotADirectory(dir.to_path_buf()));
    }
    if let Some(marker) = CITY_MARKERS.into_iter().find(|m| dir.join(m).symlink_metadata().is_ok())
    {
        return Err(InitError::AlreadyACity { dir: dir.to_path_buf(), marker });
    }
    let in_the_way: Vec<String> = files
        .iter()
        .filter(|(rel, _, _)| dir.join(rel).symlink_metadata().is_ok())
        .map(|(rel, _, _)| rel.clone())
        .collect();
    if !in_the_way.is_empty() {
        return Err(InitError::WouldOverwrite { dir: dir.to_path_buf(), files: in_the_way });
    }
    let mut written = Vec::new();
    for (rel, contents, executable) in files {
        let path = dir.join(rel);
        let contents = render(rel, contents, name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(if *executable { 0o755 } else { 0o644 });
        }
        let mut file = options.open(&path).map_err(io(&path))?;
        file.write_all(&contents).map_err(io(&path))?;
        #[cfg(unix)]
        if *executable {
            // The umask may have taken bits away from the mode asked for at creation.
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).map_err(io(&path))?;
        }
        written.push(rel.clone());
    }
    Ok(written)
}

/// A sample file as written into a new city: the City gets `name`, and the editor-schema
/// comment that points into gc's repository (`../../schemas/…`) is dropped, since that path
/// does not exist in the new city.
fn render(rel: &str, contents: &[u8], name: &str) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(contents) else { return contents.to_vec() };
    let mut out = String::with_capacity(text.len());
    let mut in_metadata = false;
    let mut named = false;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let trimmed = line.trim_end();
        if i == 0
            && (trimmed.starts_with("# yaml-language-server: $schema=../")
                || trimmed.starts_with("#:schema ../"))
        {
            continue;
        }
        if rel == "city.yaml" && !named {
            if trimmed == "metadata:" {
                in_metadata = true;
            } else if in_metadata && trimmed.trim_start().starts_with("name:") {
                let indent = &trimmed[..trimmed.len() - trimmed.trim_start().len()];
                out.push_str(&format!("{indent}name: {name}\n"));
                named = true;
                continue;
            }
        }
        out.push_str(line);
    }
    out.into_bytes()
}

/// `dir`'s name made into a valid resource name (`My Project` → `my-project`), else `city`.
fn default_name(dir: &Path) -> String {
    let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let raw = dir.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    let mut name = String::new();
    for c in raw.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            name.push(c);
        } else if !name.ends_with('-') {
            name.push('-');
        }
    }
    let mut name: String = name.trim_matches('-').chars().take(NAME_MAX_LEN).collect();
    name = name.trim_end_matches('-').to_owned();
    if is_valid_name(&name) { name } else { "city".to_owned() }
}

/// `dir` relative to `cwd` when it is below it, for the "cd" hint.
fn display_dir(dir: &Path, cwd: &Path) -> String {
    match dir.strip_prefix(cwd) {
        Ok(rel) if rel.as_os_str().is_empty() => ".".to_owned(),
        Ok(rel) => rel.display().to_string(),
        Err(_) => dir.display().to_string(),
    }
}

/// `text` as one shell word: unchanged when it is plain, else in single quotes.
fn shell_quote(text: &str) -> String {
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "-_./+:@".contains(c))
    {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_the_sample_city_is_embedded() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/sample-city");
        let mut on_disk: Vec<String> = walkdir::WalkDir::new(&root)
            .into_iter()
            .map(Result::unwrap)
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                let rel = e.path().strip_prefix(&root).unwrap();
                rel.components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .collect();
        on_disk.sort();
        let embedded: Vec<&str> = SAMPLE_CITY.iter().map(|(rel, _, _)| *rel).collect();
        assert_eq!(embedded, on_disk, "rebuild: the embedded sample city is out of date");
        for (rel, contents, _) in SAMPLE_CITY {
            assert_eq!(*contents, fs::read(root.join(rel)).unwrap().as_slice(), "{rel}");
        }
        assert!(SAMPLE_CITY.iter().any(|(rel, _, x)| rel.ends_with(".sh") && *x));
    }

    #[test]
    fn the_city_gets_its_name_and_loses_the_repository_schema_comment() {
        let (_, city, _) = SAMPLE_CITY.iter().find(|(rel, _, _)| *rel == "city.yaml").unwrap();
        let text = String::from_utf8(render("city.yaml", city, "town")).unwrap();
        assert!(text.contains("metadata:\n  name: town\n"), "{text}");
        assert!(!text.contains("name: sample\n"));
        assert!(!text.contains("$schema=../"));
    }

    #[test]
    fn hints_quote_directories_for_the_shell() {
        assert_eq!(shell_quote("my-city"), "my-city");
        assert_eq!(shell_quote("my city"), "'my city'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }

    #[test]
    fn default_names_are_valid_labels() {
        assert_eq!(default_name(Path::new("/nowhere/My Project_2")), "my-project-2");
        assert_eq!(default_name(Path::new("/nowhere/--")), "city");
        assert_eq!(default_name(Path::new("/")), "city");
        assert_eq!(default_name(Path::new(&format!("/n/{}", "a".repeat(80)))).len(), 63);
    }
}
