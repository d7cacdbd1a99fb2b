//! The `gc` command line: argument parsing and dispatch to one module per command.

mod apply;
pub mod bd;
mod city_dir;
mod completion;
mod controller;
mod convoy;
mod costs;
mod crds;
mod dashboard;
mod delete;
mod describe;
mod diff;
mod doctor;
mod events;
mod formula;
pub mod get;
mod handoff;
mod hook;
mod hook_input;
mod import;
pub(crate) mod init;
mod internal;
mod mail;
mod nudge;
mod order;
mod present;
mod prime;
mod rig;
mod runtime_plan;
mod schema;
pub mod session;
pub mod sling;
mod start;
pub mod status;
mod stop;
mod validate;
mod wait;
mod work_context;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use city_dir::find_city_dir;
pub use costs::costs as costs_report;
pub use events::parse_since;

/// gc runs a city of AI coding agents: declare Agents, Rigs, Providers, Formulas and Orders as
/// resource files, and gc reconciles tmux sessions and beads to match.
#[derive(Debug, Parser)]
#[command(name = "gc", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// The city directory. Default: the nearest directory at or above the current one that
    /// holds city.yaml, city.yml, city.toml or .gc/, else the current directory.
    #[arg(short = 'C', long = "city", global = true, env = "GC_CITY", value_name = "DIR")]
    pub city: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Validate(validate::Args),
    Apply(apply::Args),
    Diff(diff::Args),
    Get(get::Args),
    Describe(describe::Args),
    Delete(delete::Args),
    Schema(schema::Args),
    Crds(crds::Args),
    Controller(controller::Args),
    Events(events::Args),
    Init(init::Args),
    Start(start::Args),
    Stop(stop::Args),
    Status(status::Args),
    Dashboard(dashboard::Args),
    Costs(costs::Args),
    Session(session::Args),
    Sling(sling::Args),
    Formula(formula::Args),
    Convoy(convoy::Args),
    Hook(hook::Args),
    Handoff(handoff::Args),
    Mail(mail::Args),
    Nudge(nudge::Args),
    Order(order::Args),
    Prime(prime::Args),
    Bd(Box<bd::Args>),
    Rig(rig::Args),
    Import(import::Args),
    Completion(completion::Args),
    Doctor(doctor::Args),
    #[command(hide = true)]
    Internal(internal::Args),
}

/// The kind a command-line argument names, or an error listing the kinds.
pub(crate) fn parse_kind(name: &str) -> Result<crate::api::Kind, String> {
    crate::api::Kind::from_cli_name(name).ok_or_else(|| {
        let kinds: Vec<&str> = crate::api::Kind::ALL.iter().map(|k| k.plural()).collect();
        format!("unknown kind `{name}`; kinds: {}", kinds.join(", "))
    })
}

/// `agent/mayor`, or `agent` with a separate `mayor`.
pub(crate) fn parse_target(
    target: &str,
    name: Option<&str>,
) -> Result<(crate::api::Kind, String), String> {
    let (kind, name) = match (target.split_once('/'), name) {
        (Some((kind, name)), None) if !name.is_empty() => (parse_kind(kind)?, name.to_owned()),
        (None, Some(name)) => (parse_kind(target)?, name.to_owned()),
        _ => {
            return Err(format!(
                "expected KIND/NAME (e.g. agent/mayor) or KIND NAME, got `{target}`"
            ));
        }
    };
    check_name(kind, &name)?;
    Ok((kind, name))
}

/// `name` as a resource name of `kind`, or why it cannot be one (names become file names and
/// tmux targets: nothing else reaches them).
pub(crate) fn check_name(kind: crate::api::Kind, name: &str) -> Result<(), String> {
    if crate::api::meta::is_valid_name(name) {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a valid {} name (lowercase letters, digits and `-`, starting and ending with a \
             letter or digit)",
            kind.as_str().to_lowercase()
        ))
    }
}

/// The city directory (explicit, or found upwards), else the current directory.
pub(crate) fn city_dir_or_cwd(city: Option<PathBuf>) -> std::io::Result<PathBuf> {
    let cwd = std::env::current_dir()?;
    Ok(find_city_dir(city.as_deref(), &cwd).unwrap_or(cwd))
}

/// Colour choice for human output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Color {
    /// Colour when writing to a terminal and NO_COLOR is not set.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

impl Color {
    /// Whether to colour, given whether the output is a terminal.
    pub(crate) fn enabled(self, is_terminal: bool) -> bool {
        match self {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => is_terminal && std::env::var_os("NO_COLOR").is_none(),
        }
    }
}

/// Prints findings (errors and warnings) to stderr as `gc validate` does; returns whether the
/// files are valid.
pub(crate) fn report_invalid(validation: &crate::validate::Validation) -> bool {
    use crate::validate::render::{OutputFormat, render};
    use std::io::IsTerminal;
    if !validation.diagnostics.is_empty() {
        let color = Color::Auto.enabled(std::io::stderr().is_terminal());
        eprint!("{}", render(validation, OutputFormat::Human, color));
    }
    if !validation.is_valid() {
        eprintln!("gc: nothing changed: fix the errors above first");
    }
    validation.is_valid()
}

/// Exit status for usage and I/O errors (kubectl's and clap's convention).
pub const EXIT_USAGE: u8 = 2;

/// Parses the process arguments and runs the command.
pub fn run() -> ExitCode {
    completion::answer_if_asked();
    let cli = Cli::parse();
    let city = cli.city.clone();
    let result = match cli.command {
        Command::Validate(args) => validate::run(args, city),
        Command::Apply(args) => apply::run(args, city),
        Command::Diff(args) => diff::run(args, city),
        Command::Get(args) => get::run(args, city),
        Command::Describe(args) => describe::run(args, city),
        Command::Delete(args) => delete::run(args, city),
        Command::Schema(args) => schema::run(args),
        Command::Crds(args) => crds::run(args),
        Command::Controller(args) => controller::run(args, city),
        Command::Events(args) => events::run(args, city),
        Command::Init(args) => init::run(args, city),
        Command::Start(args) => start::run(args, city),
        Command::Stop(args) => stop::run(args, city),
        Command::Status(args) => status::run(args, city),
        Command::Dashboard(args) => dashboard::run(args, city),
        Command::Costs(args) => costs::run(args, city),
        Command::Session(args) => session::run(args, city),
        Command::Sling(args) => sling::run(args, city),
        Command::Formula(args) => formula::run(args, city),
        Command::Convoy(args) => convoy::run(args, city),
        Command::Completion(args) => completion::run(args),
        Command::Doctor(args) => doctor::run(args, city),
        Command::Hook(args) => hook::run(args, city),
        Command::Handoff(args) => handoff::run(args, city),
        Command::Mail(args) => mail::run(args, city),
        Command::Nudge(args) => nudge::run(args, city),
        Command::Order(args) => order::run(args, city),
        Command::Prime(args) => prime::run(args, city),
        Command::Bd(args) => Ok(bd::run(*args, city)),
        Command::Rig(args) => rig::run(args, city),
        Command::Import(args) => import::run(args),
        Command::Internal(args) => internal::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("gc: {e:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
