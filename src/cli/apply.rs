//! `gc apply`: make the store hold what the files declare.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::apply::{Change, current, load, plan, summary};
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

    /// Print what would change without changing anything: the resource changes, then the
    /// runtime plan (sessions started, stopped, restarted or left drifted), as `gc diff` does.
    #[arg(long)]
    dry_run: bool,

    /// With -f: also remove resources last applied from these files that they no longer
    /// declare. (A whole-city apply always prunes.)
    #[arg(long)]
    prune: bool,

    /// Wait until the agents match what was applied: the running controller converges them,
    /// or, with no controller running, this command reconciles them itself.
    #[arg(long, conflicts_with = "dry_run")]
    wait: bool,

    /// How long --wait waits.
    #[arg(long, default_value = "2m", value_name = "DURATION", requires = "wait")]
    timeout: crate::api::Duration,
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
        crate::apply::apply(&store, &declared, "gc apply")?
    };
    let suffix = if args.dry_run { " (dry run)" } else { "" };
    for change in &changes {
        println!("{} {}{suffix}", change.key(), change.action.past_tense());
    }
    println!("{}{suffix}", summary(&changes));
    if !args.dry_run {
        first_use(&declared.city_dir, &changes);
    }
    if args.dry_run {
        println!("\n{}", super::runtime_plan::section(&declared.city_dir, &changes).trim_end());
    }
    let city_dir = declared.city_dir.clone();
    // The process ends here; skip tearing down every loaded document (see gc validate).
    std::mem::forget((declared, changes));
    if args.wait && !converge(&city_dir, args.timeout.get())? {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// After an apply: the city's bead store is made when missing (so `gc bd` works at once, before
/// any controller ran), and a provider of this apply whose CLI is not installed is said, with
/// how to install it — its agents wait for it rather than crash. Reads only the City, and only
/// when the store is missing: an apply of one file stays cheap.
fn first_use(city_dir: &std::path::Path, changes: &[Change]) {
    use crate::controllers::model::CityModel;
    let beads = crate::beads::layout::city_beads_dir(city_dir);
    if !beads.join(crate::beads::layout::CONFIG_FILE).is_file() {
        let store = Store::new(city_dir);
        let dir = std::path::absolute(city_dir).unwrap_or_else(|_| city_dir.to_path_buf());
        let mut model = CityModel { dir, ..CityModel::default() };
        if let Ok(cities) = store.list_kind(crate::api::Kind::City) {
            cities.objects.iter().for_each(|city| model.insert(city));
        }
        if let Ok((dir, config)) = crate::work::stores::store_config(&model, None) {
            match crate::beads::layout::init(&dir, &config) {
                Ok(()) => eprintln!(
                    "city bead store created in {} (prefix {})",
                    dir.display(),
                    config.prefix
                ),
                Err(e) => eprintln!(
                    "warning: cannot create the city's bead store in {}: {e}",
                    dir.display()
                ),
            }
        }
    }
    for change in changes.iter().filter(|c| c.kind == crate::api::Kind::Provider) {
        let Some(desired) = &change.desired else { continue };
        let Ok(spec) =
            serde_json::from_value::<crate::api::provider::ProviderSpec>(desired.spec.clone())
        else {
            continue;
        };
        if crate::controllers::provider::resolve(city_dir, &spec.command).is_none() {
            let missing = crate::controllers::provider::missing_message(&change.name, &spec);
            eprintln!("warning: {missing}; its agents wait until it is");
        }
    }
}

/// Waits for the running controller to converge the city, or converges it here when none
/// runs. Returns whether it converged in time.
fn converge(
    city_dir: &std::path::Path,
    timeout: std::time::Duration,
) -> Result<bool, Box<dyn std::error::Error>> {
    if crate::controllers::manager::running_pid(city_dir).is_some() {
        return Ok(super::wait::until_converged(city_dir, timeout)?);
    }
    eprintln!("no controller is running: reconciling here (`gc start` keeps the city running)");
    let ctx = crate::controllers::reconcile::Context::for_city(city_dir, "gc apply --wait")?;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let outcome = crate::controllers::reconcile::reconcile_all(&ctx)?;
        let pending = super::wait::pending(&ctx.city_dir, &ctx.store)?;
        if pending.is_empty() {
            eprintln!("converged");
            return Ok(true);
        }
        if std::time::Instant::now() >= deadline {
            eprintln!("gc: not converged after {}s: {}", timeout.as_secs(), pending.join(", "));
            return Ok(false);
        }
        eprintln!("waiting for {}", pending.join(", "));
        let pause = outcome.requeue_after.unwrap_or(std::time::Duration::from_millis(200));
        std::thread::sleep(pause.min(std::time::Duration::from_secs(1)));
    }
}
