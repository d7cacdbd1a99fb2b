//! Shell completion and man pages. `gc completion SHELL` prints the script that registers gc's
//! completer with the shell; the completer is gc itself (clap_complete's dynamic engine, run
//! when `COMPLETE` is set), so what completes includes the city's resource names
//! (`gc describe agent/<TAB>`) and sessions (`gc session attach <TAB>`). `gc completion man
//! DIR` writes a man page per command.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::engine::CompletionCandidate;

use crate::api::Kind;
use crate::api::status::AgentStatus;
use crate::store::Store;

/// Print the script that makes your shell complete gc's commands, flags and resource names.
///
/// Add it to your shell's startup: bash `source <(gc completion bash)` in ~/.bashrc; zsh
/// `source <(gc completion zsh)` in ~/.zshrc; fish `gc completion fish | source` in
/// ~/.config/fish/config.fish. `gc completion man DIR` writes man pages instead.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  source <(gc completion bash)\n  gc completion man /usr/local/share/man/man1"
)]
pub struct Args {
    /// bash, zsh, fish, elvish or powershell; or `man` (then DIR).
    #[arg(value_parser = ["bash", "zsh", "fish", "elvish", "powershell", "man"])]
    shell: String,
    /// Where `man` writes its pages.
    #[arg(required_if_eq("shell", "man"))]
    dir: Option<PathBuf>,
}

/// The variable that asks gc for completions (clap_complete's `COMPLETE`, named for gc so a
/// `COMPLETE` set for another tool is not mistaken for a question).
const VAR: &str = "GC_COMPLETE";

/// Answers the shell when it asks for completions (`COMPLETE` set); returns otherwise.
pub fn answer_if_asked() {
    clap_complete::CompleteEnv::with_factory(super::Cli::command).var(VAR).complete();
}

/// Runs `gc completion`.
pub fn run(args: Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    if args.shell == "man" {
        let dir = args.dir.unwrap_or_default();
        std::fs::create_dir_all(&dir)?;
        clap_mangen::generate_to(super::Cli::command(), &dir)?;
        println!("wrote man pages to {}", dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    // The registration script is what gc prints when the shell's variable is set: ask the
    // running binary, so the script names it wherever it is installed.
    let exe = std::env::current_exe()?;
    let out = std::process::Command::new(&exe).env(VAR, &args.shell).output()?;
    if !out.status.success() {
        return Err(format!("no completion script for {}", args.shell).into());
    }
    std::io::Write::write_all(&mut std::io::stdout(), &out.stdout)?;
    Ok(ExitCode::SUCCESS)
}

/// The city completion reads: `GC_CITY`, else the one around the current directory.
fn city() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    let explicit = std::env::var_os("GC_CITY").map(PathBuf::from);
    super::find_city_dir(explicit.as_deref(), &cwd)
}

fn matching(current: &OsStr, words: impl IntoIterator<Item = String>) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy();
    let mut words: Vec<String> = words.into_iter().filter(|w| w.starts_with(&*current)).collect();
    words.sort();
    words.dedup();
    words.into_iter().map(CompletionCandidate::new).collect()
}

/// `KIND/NAME` targets: the kinds until one is typed, then that kind's applied names.
pub fn targets(current: &OsStr) -> Vec<CompletionCandidate> {
    let typed = current.to_string_lossy();
    let Some((kind, _)) = typed.split_once('/') else {
        let kinds = Kind::ALL.iter().map(|k| format!("{}/", k.as_str().to_ascii_lowercase()));
        return matching(current, kinds);
    };
    let (Some(kind), Some(city)) = (Kind::from_cli_name(kind), city()) else { return Vec::new() };
    matching(current, names(&city, kind).into_iter().map(|n| kind.key(&n)))
}

fn names(city: &Path, kind: Kind) -> Vec<String> {
    Store::new(city).names(kind).unwrap_or_default()
}

/// Sessions: each agent's running sessions, as its status records them, and the agents.
pub fn sessions(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(city) = city() else { return Vec::new() };
    let store = Store::new(&city);
    let mut words = Vec::new();
    for agent in names(&city, Kind::Agent) {
        if let Ok(Some(status)) = store.status::<AgentStatus>(Kind::Agent, &agent) {
            words.extend(status.sessions.into_iter().map(|s| s.name));
        }
        words.push(agent);
    }
    matching(current, words)
}

/// The city's agents.
pub fn agents(current: &OsStr) -> Vec<CompletionCandidate> {
    city().map_or_else(Vec::new, |city| matching(current, names(&city, Kind::Agent)))
}
