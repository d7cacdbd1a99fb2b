//! The `gc` command line: argument parsing and dispatch to one module per command.

mod city_dir;
mod schema;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use city_dir::find_city_dir;

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
    Schema(schema::Args),
}

/// Exit status for usage and I/O errors (kubectl's and clap's convention).
pub const EXIT_USAGE: u8 = 2;

/// Parses the process arguments and runs the command.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let city = cli.city.clone();
    let result = match cli.command {
        Command::Validate(args) => validate::run(args, city),
        Command::Schema(args) => schema::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("gc: {e:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
