//! `gc apply`: make the store hold what the files declare.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::apply::{Action, current, events, execute, load, plan, summary};
use crate::store::Store;

/// Apply resource files to the city: create, configure and prune resources in the store.
///
/// Validates everything first; if any file is invalid, prints the errors and changes nothing.
/// With no -f, applies the whole city directory and prunes resources whose files are gone.
/// A running controller is notified and reconciles the change.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or directories to apply. Default: the whole city directory.
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    files: Vec<PathBuf>,

    /// Print what would change without changing anything.
    #[arg(long)]
    dry_run: bool,

    /// With -f: also remove resources last applied from these files that they no longer
    /// declare. (A whole-city apply always prunes.)
    #[arg(long)]
    prune: bool,
}

/// Runs `gc apply`.
pub fn run(args: Args, city: Option<PathBuf>) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let cwd = std::env::current_dir()?;
    let city_dir = super::find_city_dir(city.as_deref(), &cwd);
    let declared = load(&args.files, city_dir.as_deref(), &cwd, args.prune)?;
    if !super::report_invalid(&declared.validation) {
        return Ok(ExitCode::from(1));
    }
    let store = Store::new(&declared.city_dir);
    let changes = if args.dry_run {
        plan(&declared.objects, &current(&store, &declared)?, &declared.prune)
    } else {
        // Planned under the lock, so concurrent applies each see the others' writes.
        let lock = store.lock()?;
        let changes = plan(&declared.objects, &current(&store, &declared)?, &declared.prune);
        execute(&store, &lock, &changes)?;
        store.commit(lock)?;
        crate::events::append(&declared.city_dir, events(&changes), "gc apply")?;
        if changes.iter().any(|c| c.action != Action::Unchanged) {
            crate::notify::poke(&declared.city_dir);
        }
        changes
    };
    let suffix = if args.dry_run { " (dry run)" } else { "" };
    for change in &changes {
        println!("{} {}{suffix}", change.key(), change.action.past_tense());
    }
    println!("{}{suffix}", summary(&changes));
    // The process ends here; skip tearing down every loaded document (see gc validate).
    std::mem::forget((declared, changes));
    Ok(ExitCode::SUCCESS)
}
