//! `gc controller --kubernetes`: run the city's controllers against a Kubernetes API server.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::kubernetes::controller::{self, Options};
use crate::kubernetes::lease::LeaseTiming;

/// Run the city's controllers against a Kubernetes cluster (see docs/kubernetes.md).
///
/// Serves the gascity.dev custom resources of one namespace: the replicas compete for a Lease
/// and only the leader works. It applies the resources to its own city directory (--city, on
/// the workspace volume), runs the same controllers `gc start` runs there, and writes each
/// resource's status and gc's events back to the cluster. Losing the lease exits with status 1
/// (Kubernetes restarts the pod as a follower); SIGTERM hands the lease back and exits 0.
///
/// To run a city on this machine instead, use `gc start`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Serve a Kubernetes cluster (required: the only mode of this command for now).
    #[arg(long, required = true)]
    kubernetes: bool,

    /// The kubeconfig file to use (default: in-cluster, else $KUBECONFIG or ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use (default: its current context).
    #[arg(long, value_name = "NAME")]
    context: Option<String>,

    /// The namespace whose resources to serve (default: $POD_NAMESPACE, else the
    /// kubeconfig's or the pod's namespace).
    #[arg(long, short = 'n', value_name = "NAMESPACE")]
    namespace: Option<String>,

    /// The Lease the replicas compete for.
    #[arg(long, default_value = "gc-controller", value_name = "NAME")]
    lease: String,

    /// This replica's identity in the Lease (default: $POD_NAME, else host name and pid).
    #[arg(long, value_name = "ID")]
    identity: Option<String>,

    /// How long a lease lasts without renewal before another replica may take it.
    #[arg(long, default_value = "15s", value_name = "DURATION")]
    lease_duration: crate::api::Duration,

    /// How long the leader keeps trying to renew before it gives up leading.
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    renew_deadline: crate::api::Duration,

    /// How often the lease is tried (by followers) or renewed (by the leader).
    #[arg(long, default_value = "2s", value_name = "DURATION")]
    retry_period: crate::api::Duration,
}

/// Runs `gc controller`.
pub fn run(args: Args, city: Option<PathBuf>) -> Result<ExitCode, Box<dyn std::error::Error>> {
    debug_assert!(args.kubernetes);
    super::start::init_logging();
    let city_dir = std::path::absolute(city.unwrap_or(std::env::current_dir()?))?;
    let timing = LeaseTiming {
        lease_duration: args.lease_duration.get(),
        renew_deadline: args.renew_deadline.get(),
        retry_period: args.retry_period.get(),
    };
    let identity = args.identity.clone().unwrap_or_else(default_identity);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(16)
        .thread_keep_alive(std::time::Duration::from_secs(2))
        .enable_all()
        .build()?;
    let served = runtime.block_on(async move {
        let config = client_config(&args).await?;
        let namespace = args
            .namespace
            .clone()
            .or_else(|| std::env::var("POD_NAMESPACE").ok().filter(|n| !n.is_empty()))
            .unwrap_or_else(|| config.default_namespace.clone());
        // Session pods (`session.backend: kubernetes`) go to the same cluster and namespace.
        let mut sessions = config.clone();
        sessions.default_namespace = namespace.clone();
        crate::runtime::kubernetes::use_cluster(sessions);
        let client = kube::Client::try_from(config)?;
        let options = Options { city_dir, namespace, lease_name: args.lease, identity, timing };
        controller::run(client, options).await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    });
    // The lease is handed back; reconciles still waiting on tmux need not finish (the sessions
    // stay, for the next leader to adopt).
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    served?;
    Ok(ExitCode::SUCCESS)
}

/// The client configuration: the named kubeconfig (and context), else in-cluster, else
/// `$KUBECONFIG` or `~/.kube/config`.
async fn client_config(args: &Args) -> Result<kube::Config, Box<dyn std::error::Error>> {
    let options =
        kube::config::KubeConfigOptions { context: args.context.clone(), ..Default::default() };
    Ok(match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options).await?
        }
        None if args.context.is_some() => kube::Config::from_kubeconfig(&options).await?,
        None => kube::Config::infer().await?,
    })
}

fn default_identity() -> String {
    if let Ok(pod) = std::env::var("POD_NAME")
        && !pod.is_empty()
    {
        return pod;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "gc".to_owned());
    format!("{host}-{}", std::process::id())
}
