//! `gc delete`: remove resources from the store; controllers then stop what belonged to them.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::api::Kind;
use crate::store::Store;

/// Remove resources from the city's store.
///
/// Name them as KIND/NAME (agent/mayor), as KIND NAME…, or with -f FILE for every resource a
/// file declares. A running controller then stops what belonged to them.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// KIND/NAME…, or KIND then NAME….
    targets: Vec<String>,

    /// Delete the resources these files declare.
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    files: Vec<PathBuf>,

    /// Succeed when a named resource does not exist.
    #[arg(long)]
    ignore_not_found: bool,

    /// Print what would be deleted without deleting.
    #[arg(long)]
    dry_run: bool,
}

/// Runs `gc delete`.
pub fn run(args: Args, city: Option<PathBuf>) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let cwd = std::env::current_dir()?;
    let city_dir = super::city_dir_or_cwd(city)?;
    let mut targets: Vec<(Kind, String)> = Vec::new();
    if !args.files.is_empty() {
        let declared = crate::apply::load(&args.files, Some(&city_dir), &cwd, false)?;
        if !super::report_invalid(&declared.validation) {
            return Ok(ExitCode::from(1));
        }
        targets.extend(declared.objects.into_iter().map(|o| (o.kind, o.name)));
    }
    targets.extend(parse_targets(&args.targets)?);
    if targets.is_empty() {
        return Err("nothing to delete: name KIND/NAME or give -f FILE".into());
    }
    let store = Store::new(&city_dir);
    let lock = store.lock()?;
    let mut missing = false;
    let mut events = Vec::new();
    let suffix = if args.dry_run { " (dry run)" } else { "" };
    for (kind, name) in &targets {
        let key = kind.key(name);
        // A damaged file is deleted like any other: that is one way out of it.
        if !store.contains(*kind, name) {
            if !args.ignore_not_found {
                eprintln!("gc: {key} not found");
                missing = true;
            }
            continue;
        }
        if !args.dry_run {
            store.delete(&lock, *kind, name)?;
            events.push(
                crate::events::Event::new("resource.deleted", "Deleted", "deleted by gc delete")
                    .object(*kind, name),
            );
        }
        println!("{key} deleted{suffix}");
    }
    store.commit(lock)?;
    if !events.is_empty() {
        crate::events::append(&city_dir, events, "gc delete")?;
        crate::notify::poke(&city_dir);
    }
    Ok(ExitCode::from(if missing { 1 } else { 0 }))
}

/// `agent/a agent/b` or `agent a b`.
fn parse_targets(args: &[String]) -> Result<Vec<(Kind, String)>, String> {
    let Some(first) = args.first() else { return Ok(Vec::new()) };
    if first.contains('/') {
        args.iter().map(|a| super::parse_target(a, None)).collect()
    } else {
        let kind = super::parse_kind(first)?;
        if args.len() < 2 {
            return Err(format!("name the {} to delete: gc delete {first} NAME", kind.plural()));
        }
        args[1..].iter().map(|n| super::check_name(kind, n).map(|()| (kind, n.clone()))).collect()
    }
}
