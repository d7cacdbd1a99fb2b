//! The kubernetes runtime (`session.backend: kubernetes`): one Pod per session, whose
//! container runs `gc internal pod-session` (see [`super::pod_session`]) — the agent CLI in
//! tmux inside the pod, the pod's own exit being the program's. Peek, nudge, attach and the
//! screen go through `exec` into the pod (`tmux capture-pane`, literal `send-keys`, as
//! [`super::tmux`] does locally); session metadata lives in the pod's annotations, set in the
//! create request so that nobody sees the session without it.
//!
//! [`Runtime`] is synchronous; this runtime owns a small tokio runtime and runs every API call
//! there, waiting on the answer, so it is safe from `spawn_blocking` threads and plain CLI code
//! alike.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams, DeleteParams, ListParams, LogParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

use super::{
    Runtime, RuntimeError, SessionConfig, SessionInfo, last_lines, validate_config,
    validate_meta_key, validate_name,
};
use crate::api::city::{KubernetesSessionSpec, PodResources};

/// The name of the session container in every session pod.
pub const CONTAINER: &str = "session";
/// The `tmux -L` socket of the tmux server inside a session pod.
pub const TMUX_SOCKET: &str = "gc";
/// Label: the city a session pod belongs to.
pub const LABEL_CITY: &str = "gascity.dev/city";
/// Label: the session (its pod name; the session's own name is [`ANNOTATION_SESSION`]).
pub const LABEL_SESSION: &str = "gascity.dev/session";
/// Label: who manages the pod (`gc`).
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Annotation: the session's name, exactly as gc knows it.
pub const ANNOTATION_SESSION: &str = "gascity.dev/session-name";
/// Annotation prefix of session metadata: key `k` is `gascity.dev/meta-k`.
pub const META_PREFIX: &str = "gascity.dev/meta-";
/// Field manager of gc's patches.
const FIELD_MANAGER: &str = "gc";
/// Longest metadata key: an annotation's name part is at most 63 characters, `meta-` included.
const MAX_META_KEY: usize = 63 - "meta-".len();
/// How often `stop` and a replacing `start` look whether the pod is gone.
const GONE_POLL: Duration = Duration::from_millis(200);
/// How long `stop` waits past the grace period for the API server to remove the pod.
const GONE_SLACK: Duration = Duration::from_secs(5);
/// Pause between typing a nudge and pressing Enter (see [`super::tmux`]).
const DEFAULT_NUDGE_DELAY: Duration = Duration::from_millis(500);

/// What the pod of one session is made of: the City's `session.kubernetes`, carried in each
/// [`SessionConfig`] so that a change shows as drift of the sessions it concerns.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PodSettings {
    /// The container image.
    pub image: String,
    /// The PersistentVolumeClaim mounted at the city directory's path.
    pub workspace_claim: Option<String>,
    /// The Secret every key of which becomes an environment variable (`envFrom`).
    pub secret_name: Option<String>,
    /// The ServiceAccount the pod runs as.
    pub service_account_name: Option<String>,
    /// Requests and limits of the container.
    pub resources: Option<PodResources>,
}

impl PodSettings {
    /// The settings a City's `session.kubernetes` gives, `None` without an image.
    pub fn from_spec(spec: &KubernetesSessionSpec) -> Option<PodSettings> {
        Some(PodSettings {
            image: spec.image.clone().filter(|i| !i.is_empty())?,
            workspace_claim: spec.workspace_claim.clone(),
            secret_name: spec.secret_name.clone(),
            service_account_name: spec.service_account_name.clone(),
            resources: spec.resources.clone(),
        })
    }
}

/// What every pod of a city shares: which city it belongs to, where the city directory is
/// mounted, and the gc binary its container starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodContext {
    /// The city's name (label [`LABEL_CITY`]).
    pub city: String,
    /// The city directory's absolute path (where the workspace claim is mounted).
    pub city_dir: PathBuf,
    /// The gc binary, at the same path in the session image as here.
    pub launcher: PathBuf,
}

/// `text` as a Kubernetes label value and object name (an RFC 1123 label): itself when it
/// already is one; otherwise lowercased, `_` as `-`, cut to fit, and ended by a digest of the
/// original so that two names never map to one.
pub fn label_value(text: &str) -> String {
    let mapped: String = text
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '-',
        })
        .collect();
    let is_label = !mapped.is_empty()
        && mapped.len() <= 63
        && !mapped.starts_with('-')
        && !mapped.ends_with('-');
    if is_label && mapped == text {
        return mapped;
    }
    let digest = xxhash_rust::xxh3::xxh3_64(text.as_bytes()) as u32;
    let head: String = mapped.chars().take(54).collect();
    let head = head.trim_matches('-');
    if head.is_empty() { format!("x-{digest:08x}") } else { format!("{head}-{digest:08x}") }
}

/// The pod of session `name`: [`label_value`] of the name (checked first).
pub fn pod_name(name: &str) -> Result<String, RuntimeError> {
    validate_name(name)?;
    Ok(label_value(name))
}

/// The annotation holding metadata key `key`, after checking the key fits an annotation name.
fn meta_annotation(key: &str) -> Result<String, RuntimeError> {
    validate_meta_key(key)?;
    if key.len() > MAX_META_KEY || key.ends_with('-') {
        return Err(RuntimeError::InvalidMetaKey(key.to_owned()));
    }
    Ok(format!("{META_PREFIX}{key}"))
}

/// The label selector of every session pod of `city`.
pub fn city_selector(city: &str) -> String {
    format!("{LABEL_CITY}={},{LABEL_MANAGED_BY}=gc", label_value(city))
}

/// The Pod that runs session `config` — pure, so it is tested without a cluster.
///
/// The container runs `<launcher> internal pod-session --name NAME -- ARGV…`, starts in the
/// session's work dir with its environment, takes every key of the Secret as a variable
/// (`envFrom`: the values never appear here) and mounts the workspace claim at the city
/// directory. `restartPolicy: Never`: whether a dead session is started again is gc's
/// crash-loop policy's decision, not the kubelet's.
pub fn pod_for(
    config: &SessionConfig,
    settings: &PodSettings,
    context: &PodContext,
) -> Result<Pod, RuntimeError> {
    let pod = pod_name(&config.name)?;
    let utf8 = |path: &Path, what: &str| {
        path.to_str().map(str::to_owned).ok_or_else(|| {
            RuntimeError::InvalidConfig(format!("{what} {} is not UTF-8", path.display()))
        })
    };
    let launcher = utf8(&context.launcher, "launcher")?;
    let work_dir = utf8(&config.work_dir, "work dir")?;
    let city_dir = utf8(&context.city_dir, "city directory")?;
    let mut annotations = BTreeMap::from([(ANNOTATION_SESSION.to_owned(), config.name.clone())]);
    for (key, value) in &config.meta {
        annotations.insert(meta_annotation(key)?, value.clone());
    }
    let mut command = vec![
        launcher,
        "internal".to_owned(),
        "pod-session".to_owned(),
        "--name".to_owned(),
        config.name.clone(),
        "--".to_owned(),
    ];
    command.extend(config.argv.iter().cloned());
    let env: Vec<Value> =
        config.env.iter().map(|(name, value)| json!({"name": name, "value": value})).collect();
    let mut container = json!({
        "name": CONTAINER,
        "image": settings.image,
        "command": command,
        "workingDir": work_dir,
        "env": env,
    });
    if let Some(secret) = &settings.secret_name {
        container["envFrom"] = json!([{"secretRef": {"name": secret}}]);
    }
    if let Some(resources) = &settings.resources {
        let amounts = |a: &Option<crate::api::city::ResourceAmounts>| {
            let mut out = serde_json::Map::new();
            if let Some(a) = a {
                if let Some(cpu) = &a.cpu {
                    out.insert("cpu".into(), json!(cpu));
                }
                if let Some(memory) = &a.memory {
                    out.insert("memory".into(), json!(memory));
                }
            }
            out
        };
        let mut out = serde_json::Map::new();
        for (field, value) in
            [("requests", amounts(&resources.requests)), ("limits", amounts(&resources.limits))]
        {
            if !value.is_empty() {
                out.insert(field.into(), Value::Object(value));
            }
        }
        container["resources"] = Value::Object(out);
    }
    let mut spec = json!({
        "restartPolicy": "Never",
        "enableServiceLinks": false,
        "containers": [],
    });
    if let Some(claim) = &settings.workspace_claim {
        container["volumeMounts"] = json!([{"name": "workspace", "mountPath": city_dir}]);
        spec["volumes"] =
            json!([{"name": "workspace", "persistentVolumeClaim": {"claimName": claim}}]);
    }
    if let Some(account) = &settings.service_account_name {
        spec["serviceAccountName"] = json!(account);
    }
    spec["containers"] = json!([container]);
    let body = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod,
            "labels": {
                LABEL_CITY: label_value(&context.city),
                LABEL_SESSION: pod,
                LABEL_MANAGED_BY: "gc",
            },
            "annotations": annotations,
        },
        "spec": spec,
    });
    serde_json::from_value(body)
        .map_err(|e| RuntimeError::InvalidConfig(format!("pod of session {}: {e}", config.name)))
}

/// The session a pod runs, as gc sees it; `None` for a pod without gc's session annotation.
pub fn session_of(pod: &Pod) -> Option<SessionInfo> {
    let name = pod.annotations().get(ANNOTATION_SESSION)?.clone();
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Pending");
    let terminated = status
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|all| all.iter().find(|c| c.name == CONTAINER))
        .and_then(|c| c.state.as_ref())
        .and_then(|state| state.terminated.as_ref());
    let alive = matches!(phase, "Pending" | "Running") && terminated.is_none();
    let meta = pod
        .annotations()
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(META_PREFIX)?.to_owned(), v.clone())))
        .collect();
    let created = pod.metadata.creation_timestamp.as_ref().and_then(|t| {
        let secs = u64::try_from(t.0.as_second()).ok()?;
        UNIX_EPOCH.checked_add(Duration::from_secs(secs))
    });
    Some(SessionInfo {
        name,
        alive,
        pid: None,
        exit_status: if alive { None } else { terminated.map(|t| t.exit_code) },
        created,
        last_activity: None,
        attached: false,
        meta,
    })
}

/// Whether the session container of a pod runs (exec can reach it).
fn container_started(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|all| all.iter().find(|c| c.name == CONTAINER))
        .and_then(|c| c.state.as_ref())
        .is_some_and(|state| state.running.is_some())
}

/// Whether a pod is neither alive nor gone: its program exited (kept for forensics until the
/// session is replaced or stopped).
fn is_dead(pod: &Pod) -> bool {
    session_of(pod).is_some_and(|s| !s.alive)
}

/// The output of one command run in a pod through `exec`.
#[derive(Debug)]
struct Exec {
    stdout: String,
    stderr: String,
    /// Exit status: `Some(0)` for success, the command's code when the API server says it.
    code: Option<i32>,
}

/// Why a command could not be run in a pod.
type ExecError = Box<dyn std::error::Error + Send + Sync>;

/// Runs `command` in the session container of `pod`, collecting its output.
async fn exec(api: Api<Pod>, pod: String, command: Vec<String>) -> Result<Exec, ExecError> {
    let params = AttachParams::default().container(CONTAINER).stdin(false);
    let mut attached = api.exec(&pod, command, &params).await?;
    let status = attached.take_status();
    let read = |reader: Option<tokio::io::ReadHalf<tokio::io::SimplexStream>>| async move {
        let mut bytes = Vec::new();
        if let Some(mut reader) = reader {
            let _ = reader.read_to_end(&mut bytes).await;
        }
        String::from_utf8_lossy(&bytes).into_owned()
    };
    let (stdout, stderr) = tokio::join!(read(attached.stdout()), read(attached.stderr()));
    let status = match status {
        Some(status) => status.await,
        None => None,
    };
    attached.join().await?;
    let code = status.map(|s| {
        if s.status.as_deref() == Some("Success") {
            return 0;
        }
        s.details
            .iter()
            .flat_map(|d| d.causes.iter().flatten())
            .find(|c| c.reason.as_deref() == Some("ExitCode"))
            .and_then(|c| c.message.as_deref()?.parse().ok())
            .unwrap_or(1)
    });
    Ok(Exec { stdout, stderr, code })
}

/// Runs `command` (tmux attach) in the session container with a terminal: `keys` are sent as
/// its stdin, its output is written to this process's stdout, and the terminal's size (and
/// each change of it, SIGWINCH) is sent along, until the command ends (the person detached).
async fn attach_tty(
    api: Api<Pod>,
    pod: String,
    command: Vec<String>,
    size: Option<(u16, u16)>,
    mut keys: tokio::sync::mpsc::Receiver<Vec<u8>>,
) -> Result<(), ExecError> {
    use std::io::Write;
    use tokio::io::AsyncWriteExt;
    let params = AttachParams::interactive_tty().container(CONTAINER);
    let mut attached = api.exec(&pod, command, &params).await?;
    let mut stdin = attached.stdin().ok_or("exec gave no stdin")?;
    let mut stdout = attached.stdout().ok_or("exec gave no stdout")?;
    if let (Some(mut sizes), Some((width, height))) = (attached.terminal_size(), size) {
        // A size not taken at once is soon followed by the next; none is worth waiting for.
        let _ = sizes.try_send(kube::api::TerminalSize { width, height });
        let mut resized =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())?;
        tokio::spawn(async move {
            while resized.recv().await.is_some() {
                if let Some((width, height)) = super::terminal::size()
                    && sizes.try_send(kube::api::TerminalSize { width, height }).is_err()
                    && sizes.is_closed()
                {
                    break;
                }
            }
        });
    }
    tokio::spawn(async move {
        while let Some(bytes) = keys.recv().await {
            if stdin.write_all(&bytes).await.is_err() {
                break;
            }
        }
    });
    let mut buffer = vec![0u8; 8192];
    loop {
        let n = stdout.read(&mut buffer).await?;
        if n == 0 {
            break;
        }
        let mut out = std::io::stdout().lock();
        out.write_all(&buffer[..n])?;
        out.flush()?;
    }
    drop(stdout);
    attached.join().await?;
    Ok(())
}

/// A tmux command line for the pod's tmux server, every argument read literally.
fn tmux_command(args: &[&str]) -> Vec<String> {
    let mut command: Vec<String> =
        ["tmux", "-u", "-L", TMUX_SOCKET].iter().map(|s| (*s).to_owned()).collect();
    command.extend(args.iter().map(|a| super::tmux::literal(a).into_owned()));
    command
}

/// An exact-match target for the pane of session `name` (see [`super::tmux`]).
fn pane_target(name: &str) -> String {
    format!("={name}:")
}

/// Sessions as Pods. See the module documentation.
pub struct KubernetesRuntime {
    tokio: tokio::runtime::Handle,
    /// Ends the thread driving [`KubernetesRuntime::tokio`] when dropped.
    _stop: tokio::sync::oneshot::Sender<()>,
    client: Mutex<Option<Client>>,
    namespace: Option<String>,
    context: PodContext,
    default_settings: Option<PodSettings>,
    nudge_delay: Duration,
}

impl std::fmt::Debug for KubernetesRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubernetesRuntime")
            .field("namespace", &self.namespace)
            .field("context", &self.context)
            .field("default_settings", &self.default_settings)
            .finish_non_exhaustive()
    }
}

/// How a runtime error names a failed API call.
fn api_error(what: String) -> impl FnOnce(kube::Error) -> RuntimeError {
    move |e| RuntimeError::Io { what, source: std::io::Error::other(e) }
}

fn not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404 || s.is_not_found())
}

/// The cluster `gc controller --kubernetes` was pointed at (`--kubeconfig`, `--context`,
/// `--namespace`), so session pods go where the controller's resources come from.
static CLUSTER: std::sync::OnceLock<kube::Config> = std::sync::OnceLock::new();

/// Makes every [`KubernetesRuntime`] of this process made after this call talk to the cluster
/// `config` describes (its `default_namespace` being the session namespace unless the City
/// names one), instead of the in-cluster or `KUBECONFIG` default. Only the first call counts.
pub fn use_cluster(config: kube::Config) {
    let _ = CLUSTER.set(config);
}

impl KubernetesRuntime {
    /// A runtime for the city `context` describes, with the City's `session.kubernetes`. The
    /// Kubernetes client is made on first use (in a cluster, or from `KUBECONFIG`), so a
    /// missing cluster is an error of the first operation, naming what failed.
    pub fn new(
        context: PodContext,
        spec: Option<&KubernetesSessionSpec>,
    ) -> Result<KubernetesRuntime, RuntimeError> {
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(RuntimeError::io("starting the kubernetes runtime's thread"))?;
        let handle = tokio.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        // The thread drives every API call until the runtime is dropped (the sender with it),
        // then drops the tokio runtime outside any async context.
        std::thread::Builder::new()
            .name("gc-kubernetes".into())
            .spawn(move || {
                let _ = tokio.block_on(stopped);
            })
            .map_err(RuntimeError::io("starting the kubernetes runtime's thread"))?;
        Ok(KubernetesRuntime {
            tokio: handle,
            _stop: stop,
            client: Mutex::new(None),
            namespace: spec.and_then(|s| s.namespace.clone()),
            context,
            default_settings: spec.and_then(PodSettings::from_spec),
            nudge_delay: DEFAULT_NUDGE_DELAY,
        })
    }

    /// [`KubernetesRuntime::new`] speaking through `client` (tests hand in a mock).
    pub fn with_client(
        client: Client,
        context: PodContext,
        spec: Option<&KubernetesSessionSpec>,
    ) -> Result<KubernetesRuntime, RuntimeError> {
        let runtime = KubernetesRuntime::new(context, spec)?;
        *runtime.client.lock().unwrap_or_else(|p| p.into_inner()) = Some(client);
        Ok(runtime)
    }

    /// Sets the pause between a nudge's text and its Enter (default 500 ms; tests use less).
    pub fn with_nudge_delay(mut self, delay: Duration) -> Self {
        self.nudge_delay = delay;
        self
    }

    /// Runs `future` on this runtime's own tokio runtime and waits for its output.
    fn run<T: Send + 'static>(
        &self,
        future: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, RuntimeError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.tokio.spawn(async move {
            let _ = tx.send(future.await);
        });
        rx.recv().map_err(|_| RuntimeError::Io {
            what: "waiting for the Kubernetes API".into(),
            source: std::io::Error::other("the kubernetes runtime's task ended without an answer"),
        })
    }

    fn client(&self) -> Result<Client, RuntimeError> {
        let mut slot = self.client.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let configured = CLUSTER.get().cloned();
        let client = self
            .run(async move {
                match configured {
                    Some(config) => Client::try_from(config),
                    None => Client::try_default().await,
                }
            })?
            .map_err(|e| RuntimeError::Io {
                what: "connecting to Kubernetes (in a cluster, or through KUBECONFIG)".into(),
                source: std::io::Error::other(e),
            })?;
        *slot = Some(client.clone());
        Ok(client)
    }

    /// The pods API of the session namespace.
    fn pods(&self) -> Result<Api<Pod>, RuntimeError> {
        let client = self.client()?;
        Ok(match &self.namespace {
            Some(ns) => Api::namespaced(client, ns),
            None => Api::default_namespaced(client),
        })
    }

    /// The pod of session `name`, `None` when there is none (or it runs another session).
    fn pod(&self, name: &str) -> Result<Option<Pod>, RuntimeError> {
        let pod = pod_name(name)?;
        let api = self.pods()?;
        let what = format!("reading pod {pod} of session {name}");
        let got = self.run(async move { api.get_opt(&pod).await })?.map_err(api_error(what))?;
        Ok(got
            .filter(|p| p.annotations().get(ANNOTATION_SESSION).map(String::as_str) == Some(name)))
    }

    fn require(&self, name: &str) -> Result<SessionInfo, RuntimeError> {
        self.pod(name)?
            .as_ref()
            .and_then(session_of)
            .ok_or_else(|| RuntimeError::NotFound(name.to_owned()))
    }

    /// Deletes pod `pod` with `grace` and waits until it is gone, at most `grace` plus a
    /// little. A missing pod is `Ok`.
    fn delete_and_wait(&self, name: &str, grace: Duration) -> Result<(), RuntimeError> {
        let pod = pod_name(name)?;
        let api = self.pods()?;
        let params = DeleteParams {
            grace_period_seconds: Some(u32::try_from(grace.as_secs()).unwrap_or(u32::MAX)),
            ..DeleteParams::background()
        };
        let (a, p) = (api.clone(), pod.clone());
        match self.run(async move { a.delete(&p, &params).await })? {
            Ok(_) => {}
            Err(e) if not_found(&e) => return Ok(()),
            Err(e) => return Err(api_error(format!("deleting pod {pod} of session {name}"))(e)),
        }
        let deadline = Instant::now() + grace + GONE_SLACK;
        loop {
            let (a, p) = (api.clone(), pod.clone());
            let got = self
                .run(async move { a.get_opt(&p).await })?
                .map_err(api_error(format!("reading pod {pod} of session {name}")))?;
            if got.is_none() || Instant::now() >= deadline {
                return Ok(());
            }
            std::thread::sleep(GONE_POLL);
        }
    }

    /// Runs tmux in the pod of session `name`. tmux's "no such session" is
    /// [`RuntimeError::NotFound`].
    fn tmux(&self, name: &str, args: &[&str]) -> Result<String, RuntimeError> {
        let pod = pod_name(name)?;
        let api = self.pods()?;
        let command = tmux_command(args);
        let shown: Vec<&str> = args.iter().map(|a| if a.len() > 80 { "…" } else { *a }).collect();
        let cmd = format!("exec in pod {pod}: tmux -L {TMUX_SOCKET} {}", shown.join(" "));
        let out = self.run(async move { exec(api, pod, command).await })?.map_err(|e| {
            RuntimeError::Io { what: cmd.clone(), source: std::io::Error::other(e) }
        })?;
        match out.code {
            Some(0) => Ok(out.stdout),
            _ if super::tmux::is_missing(&out.stderr) => Err(RuntimeError::NotFound(name.into())),
            status => Err(RuntimeError::Command { cmd, status, stderr: out.stderr.trim().into() }),
        }
    }

    /// The session's output from its pod: the live pane through exec, the last screen (which
    /// `pod-session` prints when the program ends) from the log of a dead one, nothing yet for
    /// a pod whose container has not started.
    fn output(&self, name: &str, lines: Option<usize>) -> Result<String, RuntimeError> {
        let pod = self.pod(name)?.ok_or_else(|| RuntimeError::NotFound(name.to_owned()))?;
        self.output_of(name, &pod, lines)
    }

    /// [`KubernetesRuntime::output`] of the pod just read.
    fn output_of(
        &self,
        name: &str,
        pod: &Pod,
        lines: Option<usize>,
    ) -> Result<String, RuntimeError> {
        let alive = session_of(pod).is_some_and(|s| s.alive);
        if alive && !container_started(pod) {
            return Ok(String::new());
        }
        if !alive {
            let pod = pod_name(name)?;
            let api = self.pods()?;
            let params = LogParams {
                container: Some(CONTAINER.to_owned()),
                tail_lines: lines.map(|l| i64::try_from(l).unwrap_or(i64::MAX)),
                ..LogParams::default()
            };
            let what = format!("reading the log of pod {pod} of session {name}");
            let log = self.run(async move { api.logs(&pod, &params).await })?;
            return match log {
                Ok(log) => Ok(last_lines(&log, lines.unwrap_or(usize::MAX))),
                // A pod that never ran (its image could not be pulled) has no log.
                Err(kube::Error::Api(s)) if s.code == 400 => Ok(String::new()),
                Err(e) => Err(api_error(what)(e)),
            };
        }
        let pane = pane_target(name);
        let mut args = vec!["capture-pane", "-p", "-J", "-t", &pane];
        let start = lines.map(|l| format!("-{l}"));
        if let Some(start) = &start {
            args.extend(["-S", start]);
        }
        match self.tmux(name, &args) {
            Ok(out) => Ok(match lines {
                Some(lines) => last_lines(&out, lines),
                None => out,
            }),
            // The container has just started and its tmux session is not up yet.
            Err(RuntimeError::NotFound(_)) => Ok(String::new()),
            Err(e) => Err(e),
        }
    }

    fn require_alive(&self, name: &str) -> Result<(), RuntimeError> {
        if self.require(name)?.alive { Ok(()) } else { Err(RuntimeError::NotRunning(name.into())) }
    }

    /// Writes metadata keys (`None`: remove the key) in one merge patch of the annotations.
    fn patch_meta(
        &self,
        name: &str,
        changes: BTreeMap<String, Option<String>>,
    ) -> Result<(), RuntimeError> {
        let mut annotations = serde_json::Map::new();
        for (key, value) in changes {
            annotations.insert(meta_annotation(&key)?, json!(value));
        }
        if annotations.is_empty() {
            return Ok(());
        }
        let pod = pod_name(name)?;
        let api = self.pods()?;
        let patch = json!({"metadata": {"annotations": annotations}});
        let params =
            PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..PatchParams::default() };
        let p = pod.clone();
        match self.run(async move { api.patch(&p, &params, &Patch::Merge(&patch)).await })? {
            Ok(_) => Ok(()),
            Err(e) if not_found(&e) => Err(RuntimeError::NotFound(name.to_owned())),
            Err(e) => Err(api_error(format!("setting metadata of pod {pod} (session {name})"))(e)),
        }
    }
}

impl Runtime for KubernetesRuntime {
    fn start(&self, config: &SessionConfig) -> Result<(), RuntimeError> {
        validate_config(config)?;
        let settings = config.pod.as_ref().or(self.default_settings.as_ref()).ok_or_else(|| {
            RuntimeError::InvalidConfig(
                "session backend `kubernetes` needs `session.kubernetes.image` in the City".into(),
            )
        })?;
        let pod = pod_for(config, settings, &self.context)?;
        let pod_name = pod.name_any();
        let name = config.name.as_str();
        let api = self.pods()?;
        let create = |api: Api<Pod>, pod: Pod| async move {
            api.create(&kube::api::PostParams::default(), &pod).await
        };
        let what = || format!("creating pod {pod_name} of session {name}");
        match self.run(create(api.clone(), pod.clone()))? {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 || s.is_already_exists() => {
                let (a, p) = (api.clone(), pod_name.clone());
                let existing = self
                    .run(async move { a.get_opt(&p).await })?
                    .map_err(api_error(format!("reading pod {pod_name} of session {name}")))?;
                match existing {
                    // Dead: replaced, as a dead tmux pane is.
                    Some(old) if is_dead(&old) => {
                        self.delete_and_wait(name, Duration::ZERO)?;
                        self.run(create(api, pod))?.map(drop).map_err(api_error(what()))
                    }
                    Some(_) => Err(RuntimeError::Exists(name.to_owned())),
                    None => self.run(create(api, pod))?.map(drop).map_err(api_error(what())),
                }
            }
            Err(e) => Err(api_error(what())(e)),
        }
    }

    fn stop(&self, name: &str, grace: Duration) -> Result<(), RuntimeError> {
        self.delete_and_wait(name, grace)
    }

    fn is_running(&self, name: &str) -> Result<bool, RuntimeError> {
        Ok(self.pod(name)?.as_ref().and_then(session_of).is_some_and(|s| s.alive))
    }

    fn notify_changes(&self, changed: std::sync::Arc<tokio::sync::Notify>) -> bool {
        let Ok(api) = self.pods() else { return false };
        let config =
            kube::runtime::watcher::Config::default().labels(&city_selector(&self.context.city));
        self.tokio.spawn(async move {
            use futures::StreamExt;
            use kube::runtime::WatchStreamExt;
            let events = kube::runtime::watcher(api, config).default_backoff();
            let mut events = std::pin::pin!(events);
            while let Some(event) = events.next().await {
                match event {
                    // The listing is the truth; the watch only says when to take it.
                    Ok(_) => changed.notify_one(),
                    Err(e) => tracing::debug!("watching session pods: {e}"),
                }
            }
        });
        true
    }

    fn list(&self, prefix: &str) -> Result<Vec<SessionInfo>, RuntimeError> {
        let api = self.pods()?;
        let params = ListParams::default().labels(&city_selector(&self.context.city));
        let pods = self.run(async move { api.list(&params).await })?.map_err(api_error(
            format!("listing the session pods of city {}", self.context.city),
        ))?;
        let mut sessions: Vec<SessionInfo> = pods
            .items
            .iter()
            .filter_map(session_of)
            .filter(|s| s.name.starts_with(prefix))
            .collect();
        sessions.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(sessions)
    }

    fn peek(&self, name: &str, lines: usize) -> Result<String, RuntimeError> {
        self.output(name, Some(lines))
    }

    fn screen(&self, name: &str) -> Result<String, RuntimeError> {
        self.output(name, None)
    }

    fn nudge(&self, name: &str, text: &str) -> Result<(), RuntimeError> {
        self.type_text(name, text)?;
        if !text.is_empty() && !self.nudge_delay.is_zero() {
            std::thread::sleep(self.nudge_delay);
        }
        self.tmux(name, &["send-keys", "-t", &pane_target(name), "Enter"]).map(drop)
    }

    fn type_text(&self, name: &str, text: &str) -> Result<(), RuntimeError> {
        self.require_alive(name)?;
        let target = pane_target(name);
        for chunk in super::tmux::text_chunks(text) {
            self.tmux(name, &["send-keys", "-t", &target, "-l", "--", chunk])?;
        }
        Ok(())
    }

    fn send_keys(
        &self,
        name: &str,
        key: crate::agentcli::screen::Key,
        times: usize,
    ) -> Result<(), RuntimeError> {
        self.require_alive(name)?;
        let times = times.to_string();
        let target = pane_target(name);
        self.tmux(name, &["send-keys", "-t", &target, "-N", &times, key.tmux_name()]).map(drop)
    }

    fn attach(&self, name: &str) -> Result<(), RuntimeError> {
        self.require_alive(name)?;
        let pod = pod_name(name)?;
        let api = self.pods()?;
        // An exec'd command gets no TERM of its own, and tmux's client needs one: the person's,
        // when it is a plain terminal name.
        let term = std::env::var("TERM")
            .ok()
            .filter(|t| {
                !t.is_empty()
                    && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
            })
            .unwrap_or_else(|| "xterm-256color".to_owned());
        let mut command = vec!["env".to_owned(), format!("TERM={term}")];
        command.extend(tmux_command(&["attach-session", "-t", &format!("={name}")]));
        // The person's keys go to the pod as typed: no line editing, no echo, no signals here.
        let _raw = super::terminal::RawMode::enable();
        let size = super::terminal::size();
        let (keys_tx, keys_rx) = tokio::sync::mpsc::channel::<Vec<u8>>(64);
        super::terminal::forward_stdin(keys_tx);
        let attached =
            self.run(async move { attach_tty(api, pod, command, size, keys_rx).await })?;
        attached.map_err(|e| RuntimeError::Io {
            what: format!("attaching to session {name} through exec"),
            source: std::io::Error::other(e),
        })
    }

    fn set_meta(&self, name: &str, key: &str, value: &str) -> Result<(), RuntimeError> {
        meta_annotation(key)?;
        validate_name(name)?;
        self.patch_meta(name, BTreeMap::from([(key.to_owned(), Some(value.to_owned()))]))
    }

    fn get_meta(&self, name: &str, key: &str) -> Result<Option<String>, RuntimeError> {
        validate_meta_key(key)?;
        Ok(self.require(name)?.meta.remove(key))
    }

    fn last_activity(&self, name: &str) -> Result<Option<SystemTime>, RuntimeError> {
        if !self.require(name)?.alive {
            return Ok(None);
        }
        let out = self.tmux(
            name,
            &["display-message", "-p", "-t", &pane_target(name), "#{window_activity}"],
        )?;
        let secs: Option<u64> = out.trim().parse().ok();
        Ok(secs.filter(|s| *s > 0).map(|s| UNIX_EPOCH + Duration::from_secs(s)))
    }

    fn look(&self, name: &str) -> Result<Option<(SessionInfo, String)>, RuntimeError> {
        // One read of the pod, not a listing of the city's.
        let Some(pod) = self.pod(name)? else { return Ok(None) };
        let Some(info) = session_of(&pod) else { return Ok(None) };
        let screen = self.output_of(name, &pod, None)?;
        Ok(Some((info, screen)))
    }

    fn edit_meta(
        &self,
        name: &str,
        known: Option<&BTreeMap<String, String>>,
        edit: &mut dyn FnMut(&mut BTreeMap<String, String>),
    ) -> Result<(), RuntimeError> {
        validate_name(name)?;
        let before = match known {
            Some(known) => known.clone(),
            None => self.require(name)?.meta,
        };
        let mut meta = before.clone();
        edit(&mut meta);
        let mut changes: BTreeMap<String, Option<String>> = meta
            .iter()
            .filter(|(k, v)| before.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .collect();
        changes.extend(before.keys().filter(|k| !meta.contains_key(*k)).map(|k| (k.clone(), None)));
        self.patch_meta(name, changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> PodContext {
        PodContext {
            city: "town".into(),
            city_dir: "/srv/town".into(),
            launcher: "/usr/local/bin/gc".into(),
        }
    }

    fn config() -> SessionConfig {
        SessionConfig {
            name: "gc-town-worker".into(),
            work_dir: "/srv/town/rigs/app".into(),
            argv: vec!["claude".into(), "a prompt; with \"quotes\"".into()],
            env: BTreeMap::from([("GC_AGENT".into(), "worker".into())]),
            meta: BTreeMap::from([("instance".into(), "abc".into())]),
            ..SessionConfig::default()
        }
    }

    #[test]
    fn session_names_become_pod_names() {
        assert_eq!(pod_name("gc-town-worker").unwrap(), "gc-town-worker");
        let mapped = pod_name("gc-Town_worker").unwrap();
        assert!(mapped.starts_with("gc-town-worker-"), "{mapped}");
        assert_ne!(mapped, pod_name("gc-town-worker").unwrap());
        assert_ne!(mapped, pod_name("gc-town_worker").unwrap(), "case differences stay apart");
        let long = pod_name(&"a".repeat(100)).unwrap();
        assert!(long.len() <= 63, "{long}");
        let ends = pod_name("worker-").unwrap();
        assert!(!ends.ends_with('-'), "{ends}");
        for name in [mapped, long, ends] {
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{name}"
            );
        }
        assert!(matches!(pod_name("a/b"), Err(RuntimeError::InvalidName(_))));
    }

    #[test]
    fn the_pod_carries_the_session() {
        let settings = PodSettings {
            image: "ghcr.io/x/agents:1".into(),
            secret_name: Some("agent-keys".into()),
            ..PodSettings::default()
        };
        let pod = serde_json::to_value(pod_for(&config(), &settings, &context()).unwrap()).unwrap();
        let container = &pod["spec"]["containers"][0];
        assert_eq!(container["image"], "ghcr.io/x/agents:1");
        assert_eq!(
            container["command"],
            json!([
                "/usr/local/bin/gc",
                "internal",
                "pod-session",
                "--name",
                "gc-town-worker",
                "--",
                "claude",
                "a prompt; with \"quotes\""
            ])
        );
        assert_eq!(container["envFrom"], json!([{"secretRef": {"name": "agent-keys"}}]));
        assert_eq!(pod["metadata"]["annotations"]["gascity.dev/meta-instance"], "abc");
        assert_eq!(pod["spec"]["restartPolicy"], "Never");
        // No claim, no volume; no resources, none asked.
        assert!(pod["spec"].get("volumes").is_none() && container.get("resources").is_none());
    }

    #[test]
    fn text_typed_into_a_pod_is_literal_to_its_tmux() {
        let command = tmux_command(&["send-keys", "-t", "=s:", "-l", "--", "ls; rm -rf x;"]);
        assert_eq!(
            command,
            ["tmux", "-u", "-L", "gc", "send-keys", "-t", "=s:", "-l", "--", "ls; rm -rf x\\;"],
            "a final `;` would end tmux's command and be lost"
        );
    }

    #[test]
    fn metadata_keys_must_fit_annotation_names() {
        assert!(meta_annotation("fingerprint").is_ok());
        assert!(meta_annotation(&"k".repeat(MAX_META_KEY + 1)).is_err());
        assert!(meta_annotation("trailing-").is_err());
    }
}
