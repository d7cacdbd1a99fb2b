//! `gc stop`: stop the city's sessions (dependents first) and its controller.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::controllers::manager;
use crate::controllers::reconcile::{Context, stop_all};

/// Stop the city: every agent session (dependents before what they depend on), then the
/// controller. Without a running controller, stops the sessions directly.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// How long to wait for the controller to finish.
    #[arg(long, default_value = "2m", value_name = "DURATION")]
    timeout: crate::api::Duration,
}

/// Runs `gc stop`.
pub fn run(args: Args, city: Option<PathBuf>) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let city_dir = std::path::absolute(super::city_dir_or_cwd(city)?)?;
    let Some(pid) = manager::running_pid(&city_dir) else {
        let ctx = Context::for_city(&city_dir, "gc stop")?;
        let stopped = stop_all(&ctx)?;
        println!("no controller was running; stopped {stopped} session(s)");
        return Ok(ExitCode::SUCCESS);
    };
    if crate::notify::request(&city_dir, "stop", Duration::from_secs(5)).is_none() {
        return Err(format!("the controller (pid {pid}) does not answer on its socket").into());
    }
    eprintln!("stopping sessions and the controller (pid {pid})…");
    let deadline = Instant::now() + args.timeout.get();
    while manager::running_pid(&city_dir).is_some() {
        if Instant::now() >= deadline {
            return Err(format!(
                "the controller (pid {pid}) is still running after {}s",
                args.timeout.get().as_secs()
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("city stopped");
    Ok(ExitCode::SUCCESS)
}
