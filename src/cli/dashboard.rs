//! `gc dashboard`: serve the city's API, events stream and page.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Serve a live view of the city: a JSON API under /api/v1, its events as Server-Sent Events,
/// and one page over them (agents, sessions with their screens, the events feed).
///
/// Listens on loopback by default. A token is generated into .gc/dashboard.token (mode 0600)
/// on first use and printed as part of the page's URL: every action (nudge, …) needs it, with
/// the X-Gc-Action header, and listening on any other address makes every request need it.
/// Runs in the foreground until interrupted (Ctrl-C).
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  gc dashboard\n  gc dashboard --listen 127.0.0.1:0\n  \
                        curl -s localhost:7070/api/v1/status | jq '.agents[].status.phase'")]
pub struct Args {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7070")]
    listen: SocketAddr,
}

/// Runs `gc dashboard`.
pub fn run(args: Args, city: Option<PathBuf>) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let city_dir = std::path::absolute(super::city_dir_or_cwd(city)?)?;
    if !city_dir.join(".gc").is_dir() {
        return Err(format!(
            "{} is not an applied city (no .gc/): run `gc apply` there first",
            city_dir.display()
        )
        .into());
    }
    let token = crate::dashboard::load_or_create_token(&city_dir)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(8)
        .thread_keep_alive(std::time::Duration::from_secs(2))
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        let addr = listener.local_addr()?;
        let host =
            if addr.ip().is_unspecified() { "127.0.0.1".to_owned() } else { addr.ip().to_string() };
        let base = match addr {
            SocketAddr::V6(_) => format!("http://[{host}]:{}", addr.port()),
            SocketAddr::V4(_) => format!("http://{host}:{}", addr.port()),
        };
        // The URL carries the token: the page keeps it for its tab and sends it with actions.
        println!("dashboard: {base}/?token={token}");
        println!("API: {base}/api/v1/status (token in .gc/dashboard.token)");
        if !addr.ip().is_loopback() {
            eprintln!("gc: listening beyond loopback: every request needs the token");
        }
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        crate::dashboard::serve(listener, &city_dir, token, shutdown).await?;
        Ok::<(), Box<dyn std::error::Error>>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
