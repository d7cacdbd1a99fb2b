//! `gc bd …`, and the same binary run under the name `bd`: the bd commands agents use, with bd's
//! flags, JSON shapes and exit codes, answered by the city's own bead store.
//!
//! Each command module turns its flags into store calls and hands back a [`Report`] built by
//! [`output`]; this module finds the store, prints the report (`--json` or text) and maps
//! failures to exit codes: 0 ok, 1 a store error (or any item of a multi-id command failing),
//! 2 a usage error.

mod create;
mod delete;
mod deps;
mod flags;
mod gate;
mod human;
mod jsonl;
mod labels;
mod list;
mod mol;
pub use list::ready_query;
mod output;
mod setup;
mod show;
mod spawn;
mod squash;
mod triage;
mod update;

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::beads::{BeadError, BeadStore, layout};
pub use output::Report;

/// Options every bd command takes, before or after the command name.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Globals {
    /// Print bd's JSON (objects and arrays, `[]` when empty) instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Who is acting. Default: $BEADS_ACTOR, $BD_ACTOR, then $USER.
    #[arg(long, global = true, value_name = "NAME")]
    pub actor: Option<String>,
}

/// Work with the bead store as `bd` does (`gc bd ready`, `gc bd update ID --claim`, …).
///
/// The store is found as bd finds it: $BEADS_DIR, else the nearest `.beads/` at or above the
/// current directory (following `.beads/redirect`), else the city's `.gc/beads/`. Invoked as
/// `bd` (see `gc bd install-shim`), gc answers these commands directly.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    globals: Globals,
    #[command(subcommand)]
    command: BdCommand,
}

/// The command line when the binary runs as `bd`.
#[derive(Debug, Parser)]
#[command(
    name = "bd",
    version,
    about = "bd-compatible issue tracking on gc's bead store (this is gc running as `bd`)",
    long_about = None
)]
pub struct BdCli {
    #[command(flatten)]
    globals: Globals,
    #[command(subcommand)]
    command: BdCommand,
}

#[derive(Debug, Subcommand)]
enum BdCommand {
    /// Create a bead store in ./.beads.
    Init(setup::InitArgs),
    /// Create an issue.
    Create(create::Args),
    /// Show issues with their dependencies and dependents.
    Show(show::Args),
    /// Change issues (claim, status, assignee, fields, metadata, labels).
    Update(update::UpdateArgs),
    /// Close issues.
    Close(update::CloseArgs),
    /// Reopen closed or parked issues, or give back your own claim: open, unassigned.
    Reopen(update::ReopenArgs),
    /// List issues (open and in-progress ones unless told otherwise).
    List(list::ListArgs),
    /// List work that can start now; `--claim` takes the first unassigned one.
    Ready(list::ReadyArgs),
    /// List the children of an issue, closed ones too.
    Children(triage::ChildrenArgs),
    /// List blocked issues and what blocks each.
    Blocked(triage::BlockedArgs),
    /// List issues not updated for a while (default 30 days), stalest first.
    Stale(triage::StaleArgs),
    /// Find issues whose id, title, description or notes contain every word given.
    Search(triage::SearchArgs),
    /// Put issues aside (status deferred), optionally until a time.
    Defer(triage::DeferArgs),
    /// Bring deferred issues back (status open).
    Undefer(triage::UndeferArgs),
    /// Molecules (cooked formulas): where one stands (current, progress, show), making them
    /// (pour, wisp, bond) and cleaning up (squash, burn).
    #[command(subcommand)]
    Mol(mol::MolCommand),
    /// Delete issues and their edges (`--force`; without it, a preview).
    Delete(delete::DeleteArgs),
    /// Gates: issues that hold others until a time passes, a person says so, a message is
    /// answered, a bead closes, or a GitHub run or pull request finishes.
    #[command(subcommand)]
    Gate(gate::GateCommand),
    /// Issues that need a person (label `human`): list, respond, dismiss, stats.
    Human(human::HumanArgs),
    /// Add, remove and list dependencies.
    #[command(subcommand)]
    Dep(deps::DepCommand),
    /// Add, remove and list labels.
    #[command(subcommand)]
    Label(labels::LabelCommand),
    /// Write every issue as JSON lines (bd's JSONL format).
    Export(jsonl::ExportArgs),
    /// Read issues from JSON lines (bd's JSONL format).
    Import(jsonl::ImportArgs),
    /// Create a `bd` symlink to this gc, so agents' `bd …` runs gc's bd.
    InstallShim(setup::ShimArgs),
}

/// Why a bd command failed, which decides its exit status.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The command line asks for something impossible (exit 2, as clap's own errors).
    #[error("{0}")]
    Usage(String),
    /// The store refused or failed (exit 1).
    #[error(transparent)]
    Store(#[from] BeadError),
    /// The command could not do its job for another reason: a file it was given is unreadable
    /// or malformed, the current directory is gone (exit 1).
    #[error("{0}")]
    Failed(String),
}

impl Failure {
    fn exit_code(&self) -> ExitCode {
        match self {
            Failure::Usage(_) => ExitCode::from(super::EXIT_USAGE),
            Failure::Store(_) | Failure::Failed(_) => ExitCode::FAILURE,
        }
    }
}

/// What store-backed commands need: the store and who is acting.
pub struct Ctx {
    /// The located store.
    pub store: Box<dyn BeadStore>,
    /// The actor (`--actor`, $BEADS_ACTOR, $BD_ACTOR, $USER).
    pub actor: String,
    /// The store's directory (its `config.json` says which city and rig it belongs to).
    pub dir: Option<PathBuf>,
}

/// Whether the program was started under the name `bd` (a symlink or copy named `bd`), in which
/// case it answers bd's command line instead of gc's.
pub fn invoked_as_bd(argv0: Option<&OsStr>) -> bool {
    argv0.and_then(|a| Path::new(a).file_name()).is_some_and(|n| n == "bd" || n == "bd.exe")
}

/// Runs the process as `bd`: parses bd's command line and runs the command.
pub fn main() -> ExitCode {
    let cli = BdCli::parse();
    execute(cli.globals, cli.command, None)
}

/// Runs `gc bd …`. `city` (gc's `--city`) is where to look for a store when none is found from
/// the current directory.
pub fn run(args: Args, city: Option<PathBuf>) -> ExitCode {
    execute(args.globals, args.command, city)
}

fn execute(globals: Globals, command: BdCommand, city: Option<PathBuf>) -> ExitCode {
    match dispatch(&globals, command, city) {
        Ok(report) => emit(&report, globals.json),
        Err(failure) => {
            // bd prints `{"error": …}` on stdout under --json so callers parsing stdout see it;
            // the message also goes to stderr, where people and logs look.
            if globals.json && !matches!(failure, Failure::Usage(_)) {
                let body = serde_json::json!({ "error": failure.to_string() });
                write_out(&format!("{}\n", output::pretty(&versioned(&body))));
            }
            eprintln!("Error: {failure}");
            failure.exit_code()
        }
    }
}

fn dispatch(
    globals: &Globals,
    command: BdCommand,
    city: Option<PathBuf>,
) -> Result<Report, Failure> {
    let cwd =
        std::env::current_dir().map_err(|e| Failure::Failed(format!("current directory: {e}")))?;
    // Only init and install-shim run without a store; everything else opens it first.
    let ctx = || -> Result<Ctx, Failure> {
        let (dir, store) = open_store(&cwd, city.as_deref())?;
        Ok(Ctx {
            store,
            dir: Some(dir),
            actor: layout::actor(globals.actor.as_deref().filter(|a| !a.trim().is_empty())),
        })
    };
    match command {
        BdCommand::Init(args) => setup::init(args, &cwd),
        BdCommand::InstallShim(args) => setup::install_shim(args),
        BdCommand::Create(args) => create::run(args, &ctx()?),
        BdCommand::Show(args) => show::run(args, &ctx()?),
        BdCommand::Update(args) => update::update(args, &ctx()?),
        BdCommand::Close(args) => update::close(args, &ctx()?),
        BdCommand::Reopen(args) => update::reopen(args, &ctx()?),
        BdCommand::List(args) => list::list(args, &ctx()?),
        BdCommand::Ready(args) => list::ready(args, &ctx()?),
        BdCommand::Children(args) => triage::children(args, &ctx()?),
        BdCommand::Blocked(args) => triage::blocked_list(args, &ctx()?),
        BdCommand::Stale(args) => triage::stale(args, &ctx()?),
        BdCommand::Search(args) => triage::search(args, &ctx()?),
        BdCommand::Defer(args) => triage::defer(args, &ctx()?),
        BdCommand::Undefer(args) => triage::undefer(args, &ctx()?),
        BdCommand::Mol(command) => mol::run(command, &ctx()?, globals.json),
        BdCommand::Delete(args) => delete::delete(args, &ctx()?),
        BdCommand::Gate(command) => gate::run(command, &ctx()?),
        BdCommand::Human(args) => human::run(args, &ctx()?),
        BdCommand::Dep(command) => deps::run(command, &ctx()?),
        BdCommand::Label(command) => labels::run(command, &ctx()?),
        BdCommand::Export(args) => jsonl::export(args, &ctx()?),
        BdCommand::Import(args) => jsonl::import(args, &ctx()?),
    }
}

/// Runs `op` for each id, as bd's multi-id commands do: one failing id does not stop the others.
/// Returns the results and the errors (reported on stderr, exit 1). When the only id fails, that
/// error is the command's failure (under `--json`: bd's `{"error": …}`, not an empty array).
fn each_id<T>(
    ids: &[String],
    mut op: impl FnMut(&str) -> Result<T, BeadError>,
) -> Result<(Vec<T>, Vec<String>), Failure> {
    let mut done = Vec::new();
    let mut errors = Vec::new();
    for id in ids {
        match op(id) {
            Ok(value) => done.push(value),
            Err(e) if ids.len() == 1 => return Err(e.into()),
            Err(e) => errors.push(e.to_string()),
        }
    }
    Ok((done, errors))
}

/// The store bd would use from `cwd`; with no store there, the city's own store when gc was told
/// which city (`gc -C DIR bd …`) and it has one.
fn open_store(cwd: &Path, city: Option<&Path>) -> Result<(PathBuf, Box<dyn BeadStore>), Failure> {
    match layout::open_from(cwd) {
        Ok(found) => Ok(found),
        Err(e) => {
            let city_store = city.map(|c| layout::city_beads_dir(&cwd.join(c)));
            match city_store.filter(|d| d.join(layout::CONFIG_FILE).is_file()) {
                Some(dir) => {
                    let store = layout::open(&dir)?;
                    Ok((dir, store))
                }
                None => Err(e.into()),
            }
        }
    }
}

/// Prints a report (JSON or text) and its per-item errors; exit 1 when there were any.
fn emit(report: &Report, json: bool) -> ExitCode {
    match (&report.json, json) {
        (Some(value), true) => write_out(&format!("{}\n", output::pretty(&versioned(value)))),
        _ => write_out(&report.text),
    }
    for error in &report.errors {
        eprintln!("Error: {error}");
    }
    if report.errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// `value` as bd (1.0.3 and later) prints it: an object carries `"schema_version": 1`; an array
/// is printed as it is.
fn versioned(value: &serde_json::Value) -> std::borrow::Cow<'_, serde_json::Value> {
    match value {
        serde_json::Value::Object(map) => {
            let mut map = map.clone();
            map.insert("schema_version".into(), 1.into());
            std::borrow::Cow::Owned(serde_json::Value::Object(map))
        }
        other => std::borrow::Cow::Borrowed(other),
    }
}

/// Writes to stdout, ignoring a closed pipe (`bd list | head` must not panic).
fn write_out(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_name_bd_selects_the_bd_command_line() {
        assert!(invoked_as_bd(Some(OsStr::new("bd"))));
        assert!(invoked_as_bd(Some(OsStr::new("/usr/local/bin/bd"))));
        assert!(!invoked_as_bd(Some(OsStr::new("/usr/local/bin/gc"))));
        assert!(!invoked_as_bd(Some(OsStr::new("bdx"))));
        assert!(!invoked_as_bd(None));
    }

    #[test]
    fn json_and_actor_are_accepted_before_and_after_the_command() {
        let cli = BdCli::try_parse_from(["bd", "--json", "list"]).unwrap();
        assert!(cli.globals.json);
        let cli = BdCli::try_parse_from(["bd", "list", "--json", "--actor", "ann"]).unwrap();
        assert!(cli.globals.json);
        assert_eq!(cli.globals.actor.as_deref(), Some("ann"));
    }

    #[test]
    fn the_command_tree_is_consistent() {
        use clap::CommandFactory;
        BdCli::command().debug_assert();
    }
}
