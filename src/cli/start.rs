//! `gc start`: run the city's controller (in the background unless `--foreground`).

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::controllers::manager;
use crate::controllers::reconcile::Context;

/// Start the city: run its controller, which starts the agents' sessions and keeps them as
/// the applied resources say.
///
/// By default the controller runs in the background (logging to .gc/controller.log) and this
/// command waits until the agents are up (or --timeout passes), then shows them. Only one
/// controller runs per city; stop it with `gc stop`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run the controller in this process (logs to stderr) until interrupted or `gc stop`.
    #[arg(long)]
    foreground: bool,

    /// Do not wait for the agents to be ready.
    #[arg(long, conflicts_with = "foreground")]
    no_wait: bool,

    /// How long to wait for the agents to be ready.
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    timeout: crate::api::Duration,
}

/// Runs `gc start`.
pub fn run(args: Args, city: Option<PathBuf>) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let city_dir = std::path::absolute(super::city_dir_or_cwd(city)?)?;
    if let Some(pid) = manager::running_pid(&city_dir) {
        eprintln!(
            "gc: a controller is already running for this city (pid {pid}); `gc stop` stops it"
        );
        return Ok(ExitCode::from(1));
    }
    let store = crate::store::Store::new(&city_dir);
    if store.names(crate::api::Kind::Agent)?.is_empty()
        && store.names(crate::api::Kind::City)?.is_empty()
    {
        eprintln!(
            "gc: nothing is applied in {}: run `gc apply` first (or `gc init` to create a city)",
            city_dir.display()
        );
        return Ok(ExitCode::from(1));
    }
    if args.foreground {
        return foreground(&city_dir);
    }
    let seen = crate::events::read_last(&city_dir, 1)?.last().map_or(0, |e| e.seq);
    let pid = spawn_background(&city_dir)?;
    eprintln!("controller started (pid {pid}); log: {}", log_path(&city_dir).display());
    if args.no_wait {
        return Ok(ExitCode::SUCCESS);
    }
    let deadline = Instant::now() + args.timeout.get();
    // Converged agents are not enough: until its first pass is done the new controller has
    // not yet looked at (adopted, swept) everything, and `gc start` returning says it has.
    first_pass_done(&city_dir, seen, deadline)?;
    let left = deadline.saturating_duration_since(Instant::now());
    let converged = super::wait::until_converged(&city_dir, left)?;
    super::status::print_agents_and_problems(&city_dir)?;
    Ok(if converged { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Waits until a `controller.ready` event newer than `seen` is logged, the controller exits,
/// or `deadline` passes (the convergence wait that follows reports what is missing).
fn first_pass_done(city_dir: &Path, seen: u64, deadline: Instant) -> std::io::Result<()> {
    while Instant::now() < deadline && manager::running_pid(city_dir).is_some() {
        let events = crate::events::read_since(city_dir, seen)?;
        if events.iter().any(|e| e.event_type == "controller.ready") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn log_path(city_dir: &Path) -> PathBuf {
    city_dir.join(".gc").join("controller.log")
}

/// Runs the controller here until it is stopped.
fn foreground(city_dir: &Path) -> Result<ExitCode, Box<dyn std::error::Error>> {
    init_logging();
    let lock = manager::lock(city_dir)?;
    let ctx = Arc::new(Context::for_city(city_dir, "controller")?);
    // One thread drives the controllers; blocking work (tmux, files) runs on the blocking pool.
    // Reconciles run on at most RECONCILE_PARALLEL blocking threads at once, and idle ones
    // end soon, which keeps an idle controller small.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(16)
        .thread_keep_alive(std::time::Duration::from_secs(2))
        .enable_all()
        .build()?;
    runtime.block_on(manager::run(ctx, lock))?;
    Ok(ExitCode::SUCCESS)
}

/// Logs a controller's work to stderr, at the level `GC_LOG` says (default `info`).
pub(super) fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A background controller's stderr is its log file: colour codes only on a terminal.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .try_init();
}

/// Starts `gc start --foreground` detached from this terminal and waits until it answers.
fn spawn_background(city_dir: &Path) -> Result<u32, Box<dyn std::error::Error>> {
    use std::os::unix::process::CommandExt;
    std::fs::create_dir_all(city_dir.join(".gc"))?;
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log_path(city_dir))?;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .arg("--city")
        .arg(city_dir)
        .args(["start", "--foreground"])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()?;
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if crate::notify::request(city_dir, "ping", Duration::from_millis(500)).is_some() {
            return Ok(pid);
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "the controller did not come up within 15s; see {}",
                log_path(city_dir).display()
            )
            .into());
        }
        // It ended (e.g. refused): its log says why.
        if child.try_wait()?.is_some() {
            let log = std::fs::read_to_string(log_path(city_dir)).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            return Err(format!(
                "the controller exited at once; last lines of its log:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
