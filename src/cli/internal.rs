//! `gc internal …`: hidden subcommands gc runs itself, not meant for people.

use std::path::PathBuf;

/// Commands gc runs itself (hidden from help).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: InternalCommand,
}

#[derive(Debug, clap::Subcommand)]
enum InternalCommand {
    /// Run the program described by a launch file (how runtimes start session programs
    /// without a shell).
    Exec {
        /// The launch file (JSON: argv, env, work_dir).
        file: PathBuf,
    },
}

/// Runs `gc internal …`; never returns.
pub fn run(args: Args) -> ! {
    match args.command {
        InternalCommand::Exec { file } => crate::runtime::launch::exec_from_file(&file),
    }
}
