//! `gc rig add|list`: declare a project repository as a rig of the city, and see the city's
//! rigs with their paths and bead stores.

use super::present::ListOutput as Output;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use serde_json::{Value, json};

use super::present::table;
use crate::api::meta::{NAME_MAX_LEN, is_valid_name};
use crate::api::rig::{PREFIX_PATTERN, RigSpec};
use crate::api::{Kind, Resource};
use crate::controllers::model::CityModel;
use crate::store::Store;

/// Add a rig (a project directory, usually a git repository) to the city, or list the rigs.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    Add(AddArgs),
    List(ListArgs),
}

/// Declare a project directory as a rig: writes rigs/NAME.yaml into the city.
///
/// The rig's agents work in PATH (or in their own git worktrees of it), and its beads live in
/// PATH/.beads with ids `<prefix>-…`. Nothing is applied: run `gc apply` afterwards, and the
/// controller initialises the rig's bead store (cloning --repo into PATH first when PATH does
/// not exist). Refuses to overwrite an existing rig file or to declare a rig name twice.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  gc rig add ../my-app\n  gc rig add ~/src/api --name backend \
                        --prefix be\n  gc rig add ../tool --repo https://github.com/me/tool.git")]
struct AddArgs {
    /// The project directory, relative to the current directory. Stored relative to the city
    /// when it is inside it, else absolute.
    #[arg(value_name = "PATH")]
    path: PathBuf,

    /// The rig's name: a lowercase RFC 1123 label (a-z, 0-9, '-', at most 63 characters).
    /// Default: PATH's last component.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,

    /// Prefix of the rig's bead ids: a lowercase letter then up to 15 letters or digits.
    /// Default: derived from the name (`my-app` → `ma`).
    #[arg(long, value_name = "PREFIX")]
    prefix: Option<String>,

    /// Git URL the controller clones into PATH when PATH does not exist. Default: none.
    #[arg(long, value_name = "URL")]
    repo: Option<String>,
}

/// List the city's rigs: path, bead prefix, whether the path exists, and the bead store.
///
/// Rigs declared in the city's files and rigs applied are both listed. STORE (the bead store:
/// ready, missing, differs) comes from the rig's status when it is applied (what the
/// controller found), else it is computed from the disk now. READY is the rig's Ready
/// condition (`yes`, or why not: PathMissing, NotAGitRepo, CloneFailed, …; `-` when not
/// applied); `gc describe rig/NAME` shows the whole message.
#[derive(Debug, clap::Args)]
struct ListArgs {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Output::Table)]
    output: Output,
}

/// Runs `gc rig`.
pub fn run(args: Args, city: Option<PathBuf>) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let cwd = std::env::current_dir()?;
    let Some(city_dir) = super::find_city_dir(city.as_deref(), &cwd) else {
        return Err(format!(
            "no city here: {} is not inside a city directory (one holding city.yaml or .gc/); \
             run from one or pass --city DIR",
            cwd.display()
        )
        .into());
    };
    let city_dir = normalise(&std::path::absolute(&city_dir)?);
    match args.command {
        Command::Add(add_args) => add(add_args, &city_dir, &cwd),
        Command::List(list_args) => list(list_args, &city_dir, &cwd),
    }
}

/// A rig declared in one of the city's files.
struct Declared {
    spec: RigSpec,
    file: String,
}

/// The rigs the city's files declare (files that do not load are skipped: `gc validate`
/// reports them).
fn declared_rigs(city_dir: &Path, cwd: &Path) -> Result<BTreeMap<String, Declared>, String> {
    let scope =
        crate::validate::Scope::for_paths(&[], Some(city_dir), cwd).map_err(|e| e.to_string())?;
    let validation = crate::validate::validate(&scope);
    let mut rigs = BTreeMap::new();
    for loaded in validation.resources {
        if let Resource::Rig(rig) = loaded.resource {
            let file = loaded.doc.file.name.clone();
            rigs.insert(rig.metadata.name.clone(), Declared { spec: rig.spec, file });
        }
    }
    // Loaded documents are dropped with the process (see gc validate).
    Ok(rigs)
}

fn add(args: AddArgs, city_dir: &Path, cwd: &Path) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let dir = normalise(&cwd.join(&args.path));
    let name = match args.name {
        Some(name) => name,
        None => dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
    };
    if !is_valid_name(&name) {
        return Err(format!(
            "`{name}` is not a valid rig name: use lowercase letters, digits and '-', starting \
             and ending with a letter or digit, at most {NAME_MAX_LEN} characters; pass --name \
             (e.g. --name {})",
            suggest_name(&name)
        )
        .into());
    }
    let prefix_re = regex::Regex::new(PREFIX_PATTERN)?;
    if let Some(prefix) = &args.prefix
        && !prefix_re.is_match(prefix)
    {
        return Err(format!(
            "--prefix `{prefix}` is not a valid bead prefix: a lowercase letter, then up to 15 \
             lowercase letters or digits (e.g. `ma`)"
        )
        .into());
    }
    let spec_path = match dir.strip_prefix(city_dir) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel.to_path_buf(),
        _ => dir.clone(),
    };
    let spec = RigSpec {
        path: spec_path.to_string_lossy().into_owned(),
        repo: args.repo.clone(),
        prefix: args.prefix.clone(),
        ..RigSpec::default()
    };
    let prefix = spec.effective_prefix(&name);
    if !prefix_re.is_match(&prefix) {
        return Err(format!(
            "the prefix derived from `{name}` (`{prefix}`) is not a valid bead prefix; pass \
             --prefix (a lowercase letter, then up to 15 lowercase letters or digits)"
        )
        .into());
    }

    let rel_file = format!("rigs/{name}.yaml");
    let file = city_dir.join(&rel_file);
    for other in ["yaml", "yml", "toml"].map(|ext| format!("rigs/{name}.{ext}")) {
        if city_dir.join(&other).exists() {
            return Err(format!(
                "{other} already exists in the city; edit it, or pick another --name"
            )
            .into());
        }
    }
    let declared = declared_rigs(city_dir, cwd)?;
    if let Some(existing) = declared.get(&name) {
        return Err(format!(
            "rig `{name}` is already declared in {}; edit it there, or pick another --name",
            existing.file
        )
        .into());
    }
    if let Some((other, d)) = declared.iter().find(|(n, d)| d.spec.effective_prefix(n) == prefix) {
        return Err(format!(
            "bead prefix `{prefix}` is already used by rig `{other}` ({}); pass another --prefix",
            d.file
        )
        .into());
    }

    let text = rig_yaml(&name, &spec);
    std::fs::create_dir_all(city_dir.join("rigs"))?;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&file)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    out.write_all(text.as_bytes()).map_err(|e| format!("{}: {e}", file.display()))?;

    println!("Wrote {rel_file}: rig `{name}` at {}, bead prefix `{prefix}`.", spec.path);
    if !dir.exists() && args.repo.is_none() {
        println!(
            "Note: {} does not exist yet; create it (or pass --repo URL to have it cloned), \
             or the rig reports PathMissing and its agents do not start.",
            dir.display()
        );
    }
    println!(
        "\nNext: `gc apply` to add it to the city; the controller then {}initialises its bead \
         store in {}.",
        if dir.exists() { "" } else { "clones it and " },
        crate::beads::layout::rig_beads_dir(&dir).display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The Rig resource file. Strings are written as JSON strings, which YAML reads as
/// double-quoted scalars, so no path or URL can break the document.
fn rig_yaml(name: &str, spec: &RigSpec) -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    let mut text = format!(
        "# Written by `gc rig add`; apply with `gc apply`.\napiVersion: {}\nkind: Rig\n\
         metadata:\n  name: {name}\nspec:\n  path: {}\n",
        crate::api::API_VERSION,
        quote(&spec.path)
    );
    if let Some(repo) = &spec.repo {
        text.push_str(&format!("  repo: {}\n", quote(repo)));
    }
    match &spec.prefix {
        Some(prefix) => text.push_str(&format!("  prefix: {prefix}\n")),
        None => text.push_str(&format!(
            "  # prefix: {}   (derived from the name; set it to choose another)\n",
            spec.effective_prefix(name)
        )),
    }
    text
}

/// `path` with `.` and `..` components resolved lexically (the path may not exist yet).
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `name` made into a valid resource name (`My_App` → `my-app`), else `my-rig`.
fn suggest_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().map(|c| c.to_ascii_lowercase()) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out: String = out.trim_matches('-').chars().take(NAME_MAX_LEN).collect();
    let out = out.trim_end_matches('-').to_owned();
    if is_valid_name(&out) { out } else { "my-rig".to_owned() }
}

/// One row of `gc rig list`.
fn list_row(
    model: &CityModel,
    name: &str,
    spec: &RigSpec,
    applied: bool,
    status: Option<&Value>,
) -> Value {
    use crate::controllers::{rig, rig_reconcile};
    let dir = model.rig_dir(spec);
    let store_dir = crate::beads::layout::rig_beads_dir(&dir);
    let condition = status.and_then(|s| {
        s.get("conditions")?
            .as_array()?
            .iter()
            .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
            .cloned()
    });
    let (store, source) = match status.and_then(|s| s.get("store")).and_then(Value::as_str) {
        Some(state) => (state.to_owned(), "status"),
        None => {
            // Not applied (or not reconciled yet): the store it would get, as if it were.
            let mut as_applied = model.clone();
            as_applied.rigs.insert(
                name.to_owned(),
                crate::controllers::model::Applied {
                    name: name.to_owned(),
                    generation: 0,
                    uid: String::new(),
                    spec: spec.clone(),
                },
            );
            let config = crate::work::stores::store_config(&as_applied, Some(name))
                .map(|(_, config)| config);
            let state = match config.map(|c| rig_reconcile::store_state(&store_dir, &c)) {
                Ok(rig::StoreState::Ready) => "ready",
                Ok(rig::StoreState::Differs) => "differs",
                Ok(rig::StoreState::Missing) => "missing",
                Err(_) => "unknown",
            };
            (state.to_owned(), "disk")
        }
    };
    let ready = match &condition {
        Some(c) if c["status"] == "True" => json!({"ready": true, "reason": c["reason"]}),
        Some(c) => json!({"ready": false, "reason": c["reason"], "message": c["message"]}),
        None => Value::Null,
    };
    json!({
        "name": name,
        "path": spec.path,
        "dir": dir.display().to_string(),
        "prefix": spec.effective_prefix(name),
        "pathExists": dir.is_dir(),
        "applied": applied,
        "storeDir": store_dir.display().to_string(),
        "store": {"state": store, "source": source},
        "ready": ready,
    })
}

fn list(
    args: ListArgs,
    city_dir: &Path,
    cwd: &Path,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let store = Store::new(city_dir);
    let model = CityModel::load_specs(city_dir, &store)?;
    let declared = declared_rigs(city_dir, cwd)?;
    let mut names: Vec<&String> = model.rigs.keys().chain(declared.keys()).collect();
    names.sort();
    names.dedup();
    let mut rows = Vec::new();
    for name in names {
        // What the controller acts on is the applied spec; a rig only in files shows its file.
        let (spec, applied) = match (model.rigs.get(name), declared.get(name)) {
            (Some(a), _) => (&a.spec, true),
            (None, Some(d)) => (&d.spec, false),
            (None, None) => continue,
        };
        let status = if applied { store.status_value(Kind::Rig, name)? } else { None };
        rows.push(list_row(&model, name, spec, applied, status.as_ref()));
    }
    match args.output {
        Output::Json | Output::Yaml => {
            print!("{}", args.output.document(&rows).unwrap_or_default());
        }
        Output::Table if rows.is_empty() => {
            eprintln!("No rigs found: add one with `gc rig add PATH`.");
        }
        Output::Table => {
            let cell = |v: &Value| match v {
                Value::String(s) => s.clone(),
                Value::Bool(true) => "yes".into(),
                Value::Bool(false) => "no".into(),
                other => other.to_string(),
            };
            let lines: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        cell(&r["name"]),
                        cell(&r["path"]),
                        cell(&r["prefix"]),
                        cell(&r["pathExists"]),
                        cell(&r["store"]["state"]),
                        match &r["ready"] {
                            Value::Null => "-".to_owned(),
                            v if v["ready"] == true => "yes".to_owned(),
                            v => cell(&v["reason"]),
                        },
                        cell(&r["applied"]),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(&["NAME", "PATH", "PREFIX", "EXISTS", "STORE", "READY", "APPLIED"], &lines)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rig_files_quote_what_users_typed() {
        let spec = RigSpec {
            path: "../my app: \"x\"".into(),
            repo: Some("git@host:a/b.git".into()),
            prefix: None,
            ..RigSpec::default()
        };
        let text = rig_yaml("my-app", &spec);
        let file = std::sync::Arc::new(crate::manifest::SourceFile::new("rig.yaml", text.clone()));
        let docs = crate::manifest::parse(&file, crate::manifest::Format::Yaml).unwrap();
        assert_eq!(docs[0].value["spec"]["path"], "../my app: \"x\"");
        assert_eq!(docs[0].value["spec"]["repo"], "git@host:a/b.git");
        assert!(text.contains("# prefix: ma"), "{text}");
    }

    #[test]
    fn paths_are_normalised_and_names_suggested() {
        assert_eq!(normalise(Path::new("/a/b/../c/./d")), PathBuf::from("/a/c/d"));
        assert_eq!(suggest_name("My_App"), "my-app");
        assert_eq!(suggest_name("__"), "my-rig");
    }
}
