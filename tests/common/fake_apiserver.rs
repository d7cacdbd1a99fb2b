//! A Kubernetes API server in miniature, for running the real `gc controller --kubernetes`
//! without a cluster: namespaced objects of any group kept in memory, with create, get,
//! replace (optimistic concurrency on `resourceVersion`), merge patch (also of `/status`),
//! delete, list and watch (newline-delimited watch events from any resource version), served
//! over plain HTTP on a loopback port, and a kubeconfig pointing at it.
//!
//! It implements what gc's controller uses of the API, the way the API server behaves for it
//! (the status subresource changes only `status`; a spec change bumps `metadata.generation`;
//! a stale `resourceVersion` on replace is a 409 Conflict), and records every request so a
//! test can say what the controller asked. It checks no schemas and no permissions.
#![allow(dead_code)] // each test crate uses its own subset

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::broadcast;

/// Where one object lives: `(api prefix, plural, namespace, name)`, the prefix being
/// `/apis/<group>/<version>` or `/api/v1`.
type Key = (String, String, String, String);

/// One change, as a watch reports it.
#[derive(Clone, Debug)]
struct Change {
    version: u64,
    collection: (String, String, String),
    kind: &'static str,
    object: Value,
}

#[derive(Default)]
struct Objects {
    objects: BTreeMap<Key, Value>,
    history: Vec<Change>,
    version: u64,
    requests: Vec<(String, String, Value)>,
}

/// The server; it stops when dropped.
pub struct FakeApiServer {
    state: Arc<Mutex<Objects>>,
    changes: broadcast::Sender<Change>,
    kubelet: Option<Arc<Kubelet>>,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<Objects>>,
    changes: broadcast::Sender<Change>,
    kubelet: Option<Arc<Kubelet>>,
}

impl FakeApiServer {
    /// Starts a server on a free loopback port.
    pub fn start() -> FakeApiServer {
        FakeApiServer::serve(None)
    }

    /// Starts a server whose Pods run as processes on this machine (see [`Kubelet`]), their
    /// files (tmux socket directory, log) below `root`.
    pub fn with_kubelet(root: &Path) -> FakeApiServer {
        FakeApiServer::serve(Some(Arc::new(Kubelet::new(root))))
    }

    fn serve(kubelet: Option<Arc<Kubelet>>) -> FakeApiServer {
        let state = Arc::new(Mutex::new(Objects::default()));
        let (changes, _) = broadcast::channel(4096);
        let shared =
            Shared { state: state.clone(), changes: changes.clone(), kubelet: kubelet.clone() };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let address: SocketAddr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new().fallback(handle).with_state(shared);
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        FakeApiServer {
            state,
            changes,
            kubelet,
            url: format!("http://{address}"),
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Writes a kubeconfig for this server, with `namespace` as its context's namespace.
    pub fn kubeconfig(&self, path: &Path, namespace: &str) {
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\n\
             users:\n- name: fake\n  user: {{}}\ncontexts:\n- name: fake\n  context:\n    \
             cluster: fake\n    user: fake\n    namespace: {namespace}\ncurrent-context: fake\n",
            self.url
        );
        std::fs::write(path, text).unwrap();
    }

    /// Creates (or replaces) a custom resource of gc's group, as `kubectl apply` would.
    pub fn apply(&self, namespace: &str, object: Value) {
        let plural = plural_of(object["kind"].as_str().unwrap());
        let name = object["metadata"]["name"].as_str().unwrap().to_owned();
        let key = ("/apis/gascity.dev/v1alpha1".to_owned(), plural, namespace.to_owned(), name);
        let mut state = self.state.lock().unwrap();
        let existing = state.objects.get(&key).cloned();
        let mut object = object;
        object["metadata"]["namespace"] = json!(namespace);
        let change = state.store(&key, object, existing.as_ref(), false);
        let _ = self.changes.send(change);
    }

    /// Creates a Secret holding `data` (stored base64-encoded, as the API server does).
    pub fn secret(&self, namespace: &str, name: &str, data: &[(&str, &str)]) {
        use base64::Engine;
        let data: serde_json::Map<String, Value> = data
            .iter()
            .map(|(k, v)| {
                (k.to_string(), json!(base64::engine::general_purpose::STANDARD.encode(v)))
            })
            .collect();
        let key =
            ("/api/v1".to_owned(), "secrets".to_owned(), namespace.to_owned(), name.to_owned());
        let object = json!({"apiVersion": "v1", "kind": "Secret",
                            "metadata": {"name": name, "namespace": namespace}, "data": data});
        let mut state = self.state.lock().unwrap();
        let change = state.store(&key, object, None, false);
        let _ = self.changes.send(change);
    }

    /// Deletes a custom resource of gc's group.
    pub fn delete(&self, namespace: &str, kind: &str, name: &str) {
        let key = (
            "/apis/gascity.dev/v1alpha1".to_owned(),
            plural_of(kind),
            namespace.to_owned(),
            name.to_owned(),
        );
        let mut state = self.state.lock().unwrap();
        if let Some(change) = state.remove(&key) {
            let _ = self.changes.send(change);
        }
    }

    /// The object at `prefix`/`plural`/`name` in `namespace`.
    pub fn get(&self, prefix: &str, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        let key = (prefix.to_owned(), plural.to_owned(), namespace.to_owned(), name.to_owned());
        self.state.lock().unwrap().objects.get(&key).cloned()
    }

    /// A gc custom resource.
    pub fn resource(&self, namespace: &str, kind: &str, name: &str) -> Option<Value> {
        self.get("/apis/gascity.dev/v1alpha1", &plural_of(kind), namespace, name)
    }

    /// Every object of `prefix`/`plural` in `namespace`.
    pub fn list(&self, prefix: &str, plural: &str, namespace: &str) -> Vec<Value> {
        self.state
            .lock()
            .unwrap()
            .objects
            .iter()
            .filter(|((p, pl, ns, _), _)| p == prefix && pl == plural && ns == namespace)
            .map(|(_, o)| o.clone())
            .collect()
    }

    /// The holder of Lease `name`, if any.
    pub fn lease_holder(&self, namespace: &str, name: &str) -> Option<String> {
        let lease = self.get("/apis/coordination.k8s.io/v1", "leases", namespace, name)?;
        lease["spec"]["holderIdentity"].as_str().filter(|h| !h.is_empty()).map(str::to_owned)
    }

    /// Every request so far: method, path (without the query), JSON body (null if none).
    pub fn requests(&self) -> Vec<(String, String, Value)> {
        self.state.lock().unwrap().requests.clone()
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        if let Some(kubelet) = &self.kubelet {
            kubelet.kill_all();
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // Watches are endless: give the server a moment, then leave it to the process end.
            let deadline = Instant::now() + Duration::from_secs(2);
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// The plural a kind of gc's group is served under.
pub fn plural_of(kind: &str) -> String {
    match kind {
        "City" => "cities".to_owned(),
        other => format!("{}s", other.to_ascii_lowercase()),
    }
}

impl Objects {
    /// Stores `object` at `key` as the API server would: a new resource version; on create a
    /// uid, creation time and generation 1; on update the same uid, and the generation bumped
    /// when the spec changed. `status_only` keeps everything but `status` as it was.
    fn store(
        &mut self,
        key: &Key,
        object: Value,
        existing: Option<&Value>,
        status_only: bool,
    ) -> Change {
        self.version += 1;
        let mut object = object;
        match existing {
            None => {
                object["metadata"]["uid"] = json!(format!("uid-{}", self.version));
                object["metadata"]["generation"] = json!(1);
                object["metadata"]["creationTimestamp"] = json!("2026-12-07T00:00:00Z");
            }
            Some(existing) => {
                if status_only {
                    let status = object.get("status").cloned();
                    object = existing.clone();
                    match status {
                        Some(status) => object["status"] = status,
                        None => {
                            object.as_object_mut().unwrap().remove("status");
                        }
                    }
                } else if let Some(status) = existing.get("status") {
                    // The main resource does not change the status.
                    object["status"] = status.clone();
                }
                for field in ["uid", "creationTimestamp"] {
                    object["metadata"][field] = existing["metadata"][field].clone();
                }
                let generation = existing["metadata"]["generation"].as_i64().unwrap_or(1);
                let bumped = existing.get("spec") != object.get("spec");
                object["metadata"]["generation"] = json!(generation + i64::from(bumped));
            }
        }
        object["metadata"]["resourceVersion"] = json!(self.version.to_string());
        self.objects.insert(key.clone(), object.clone());
        let change = Change {
            version: self.version,
            collection: (key.0.clone(), key.1.clone(), key.2.clone()),
            kind: if existing.is_some() { "MODIFIED" } else { "ADDED" },
            object,
        };
        self.history.push(change.clone());
        change
    }

    fn remove(&mut self, key: &Key) -> Option<Change> {
        let mut object = self.objects.remove(key)?;
        self.version += 1;
        object["metadata"]["resourceVersion"] = json!(self.version.to_string());
        let change = Change {
            version: self.version,
            collection: (key.0.clone(), key.1.clone(), key.2.clone()),
            kind: "DELETED",
            object,
        };
        self.history.push(change.clone());
        Some(change)
    }
}

fn status(code: u16, reason: &str, message: String) -> Response {
    json_response(
        code,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "reason": reason, "message": message, "code": code}),
    )
}

fn json_response(code: u16, body: &Value) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap())
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

/// RFC 7386 JSON merge patch.
fn merge(target: &mut Value, patch: &Value) {
    let Some(fields) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let object = target.as_object_mut().unwrap();
    for (key, value) in fields {
        if value.is_null() {
            object.remove(key);
        } else {
            merge(object.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// What a path names: api prefix, plural, namespace, name, subresource.
type Route = (String, String, String, Option<String>, Option<String>);

/// Splits `/apis/g/v/namespaces/ns/plural[/name[/subresource]]` (or `/api/v1/…`).
fn route(path: &str) -> Option<Route> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (prefix, rest) = match parts.as_slice() {
        ["api", "v1", rest @ ..] => ("/api/v1".to_owned(), rest),
        ["apis", group, version, rest @ ..] => (format!("/apis/{group}/{version}"), rest),
        _ => return None,
    };
    let owned = |s: &&str| s.to_string();
    match rest {
        ["namespaces", ns, plural] => Some((prefix, owned(plural), owned(ns), None, None)),
        ["namespaces", ns, plural, name] => {
            Some((prefix, owned(plural), owned(ns), Some(owned(name)), None))
        }
        ["namespaces", ns, plural, name, sub] => {
            Some((prefix, owned(plural), owned(ns), Some(owned(name)), Some(owned(sub))))
        }
        _ => None,
    }
}

async fn handle(State(shared): State<Shared>, mut request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let query: BTreeMap<String, String> = pairs.iter().cloned().collect();
    let Some((prefix, plural, namespace, name, subresource)) = route(&path) else {
        return status(404, "NotFound", format!("no route {path}"));
    };
    if let (Some(kubelet), Some(name), Some("exec")) =
        (&shared.kubelet, &name, subresource.as_deref())
    {
        let command: Vec<String> =
            pairs.iter().filter(|(k, _)| k == "command").map(|(_, v)| v.clone()).collect();
        shared.state.lock().unwrap().requests.push((
            method.to_string(),
            path.clone(),
            json!(command),
        ));
        let interactive = query.get("stdin").is_some_and(|v| v == "true");
        return kubelet.exec(&namespace, name, command, interactive, &mut request);
    }
    let body: Bytes = axum::body::to_bytes(request.into_body(), 16 << 20).await.unwrap_or_default();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    shared.state.lock().unwrap().requests.push((method.to_string(), path.clone(), body.clone()));
    if let (Some(kubelet), Some(name), Some("log")) =
        (&shared.kubelet, &name, subresource.as_deref())
    {
        return match kubelet.log(&namespace, name) {
            Some(text) => Response::builder().status(200).body(Body::from(text)).unwrap(),
            None => status(404, "NotFound", format!("pod {name} has no log")),
        };
    }
    let status_only = subresource.as_deref() == Some("status");
    let pods = prefix == "/api/v1" && plural == "pods";
    let watching = query.get("watch").is_some_and(|w| w == "true" || w == "1");
    match (method, name) {
        (Method::GET, None) if watching => {
            let from: u64 = query.get("resourceVersion").and_then(|v| v.parse().ok()).unwrap_or(0);
            watch(&shared, (prefix, plural, namespace), from, query.get("labelSelector").cloned())
        }
        (Method::GET, None) => {
            let state = shared.state.lock().unwrap();
            let items: Vec<Value> = state
                .objects
                .iter()
                .filter(|((p, pl, ns, _), _)| *p == prefix && *pl == plural && *ns == namespace)
                .filter(|(_, o)| selected(o, query.get("labelSelector")))
                .map(|(_, o)| o.clone())
                .collect();
            json_response(
                200,
                &json!({"kind": "List", "apiVersion": "v1",
                        "metadata": {"resourceVersion": state.version.to_string()},
                        "items": items}),
            )
        }
        (Method::POST, None) => {
            let Some(name) = body["metadata"]["name"].as_str().map(str::to_owned).or_else(|| {
                let base = body["metadata"]["generateName"].as_str()?;
                Some(format!("{base}{}", shared.state.lock().unwrap().version + 1))
            }) else {
                return status(422, "Invalid", "metadata.name: Required value".into());
            };
            let key = (prefix, plural, namespace.clone(), name.clone());
            let mut state = shared.state.lock().unwrap();
            if state.objects.contains_key(&key) {
                return status(409, "AlreadyExists", format!("{name} already exists"));
            }
            let mut object = body;
            object["metadata"]["name"] = json!(name);
            object["metadata"]["namespace"] = json!(namespace);
            let change = state.store(&key, object, None, false);
            let _ = shared.changes.send(change.clone());
            drop(state);
            if let (true, Some(kubelet)) = (pods, &shared.kubelet) {
                kubelet.run(&shared, &key, &change.object);
            }
            json_response(201, &change.object)
        }
        (method, Some(name)) => {
            let key = (prefix, plural, namespace, name.clone());
            let mut state = shared.state.lock().unwrap();
            let existing = state.objects.get(&key).cloned();
            let not_found = || status(404, "NotFound", format!("{name} not found"));
            match method {
                Method::GET => existing.map_or_else(not_found, |o| json_response(200, &o)),
                Method::DELETE
                    if pods && shared.kubelet.as_ref().is_some_and(|k| k.is_running(&key)) =>
                {
                    // As the kubelet does: marked for deletion now, gone once its processes are.
                    let Some(mut pod) = existing else { return not_found() };
                    pod["metadata"]["deletionTimestamp"] = json!("2026-12-07T00:00:01Z");
                    let change = state.store(&key, pod.clone(), Some(&pod), false);
                    let _ = shared.changes.send(change.clone());
                    let grace = body["gracePeriodSeconds"].as_u64().unwrap_or(30);
                    shared.kubelet.as_ref().unwrap().stop(&key, Duration::from_secs(grace));
                    json_response(200, &change.object)
                }
                Method::DELETE => match state.remove(&key) {
                    Some(change) => {
                        let _ = shared.changes.send(change.clone());
                        json_response(200, &change.object)
                    }
                    None => not_found(),
                },
                Method::PUT => {
                    let Some(existing) = existing else { return not_found() };
                    let sent = body["metadata"]["resourceVersion"].as_str().unwrap_or("");
                    if !sent.is_empty() && existing["metadata"]["resourceVersion"] != sent {
                        return status(
                            409,
                            "Conflict",
                            format!("{name}: the object has been modified"),
                        );
                    }
                    let change = state.store(&key, body, Some(&existing), status_only);
                    let _ = shared.changes.send(change.clone());
                    json_response(200, &change.object)
                }
                Method::PATCH => {
                    let Some(existing) = existing else { return not_found() };
                    let mut patched = existing.clone();
                    merge(&mut patched, &body);
                    let change = state.store(&key, patched, Some(&existing), status_only);
                    let _ = shared.changes.send(change.clone());
                    json_response(200, &change.object)
                }
                _ => status(405, "MethodNotAllowed", format!("{method} {path}")),
            }
        }
        (method, None) => status(405, "MethodNotAllowed", format!("{method} {path}")),
    }
}

/// A watch from resource version `from`: the changes after it, then live ones, endlessly.
fn watch(
    shared: &Shared,
    collection: (String, String, String),
    from: u64,
    selector: Option<String>,
) -> Response {
    let mut live = shared.changes.subscribe();
    let past: Vec<Change> = shared
        .state
        .lock()
        .unwrap()
        .history
        .iter()
        .filter(|c| c.version > from && c.collection == collection)
        .filter(|c| selected(&c.object, selector.as_ref()))
        .cloned()
        .collect();
    let last = past.last().map_or(from, |c| c.version);
    let line = |c: &Change| {
        let mut line = serde_json::to_vec(&json!({"type": c.kind, "object": c.object})).unwrap();
        line.push(b'\n');
        Ok::<Bytes, std::io::Error>(Bytes::from(line))
    };
    let head: Vec<Result<Bytes, std::io::Error>> = past.iter().map(line).collect();
    let tail = async_stream(move |send| async move {
        loop {
            match live.recv().await {
                Ok(c)
                    if c.version > last
                        && c.collection == collection
                        && selected(&c.object, selector.as_ref()) =>
                {
                    if send.send(line(&c)).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    let stream = futures::stream::iter(head).chain(tail);
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Body::from_stream(stream))
        .unwrap()
}

use futures::StreamExt;

/// A stream of what `produce` sends.
fn async_stream<F, Fut>(produce: F) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (send, receive) = tokio::sync::mpsc::channel(64);
    tokio::spawn(produce(send));
    futures::stream::unfold(receive, |mut receive| async move {
        receive.recv().await.map(|item| (item, receive))
    })
}

/// Whether `object` matches a label selector of `key=value` terms (all that gc sends).
fn selected(object: &Value, selector: Option<&String>) -> bool {
    selector.is_none_or(|selector| {
        selector.split(',').filter(|t| !t.is_empty()).all(|term| match term.split_once('=') {
            Some((key, value)) => object["metadata"]["labels"][key] == value,
            None => false,
        })
    })
}

/// A kubelet in miniature: each Pod created runs here, at once, as a process group of its own
/// — its container's `command` and `args` in its `workingDir`, with the environment an image
/// would give (this machine's `PATH` and `HOME`), the Pod's `env`, and every key of the
/// Secrets it names in `envFrom`, and `TMUX_TMPDIR` private to the Pod, so each Pod's tmux
/// server is its own as in a container. The Pod's status follows the process (Running, then
/// Succeeded or Failed with the exit code); `exec` runs a command beside it with the same
/// environment and answers over a websocket in the `v4.channel.k8s.io` protocol; `log` is
/// what the container printed. A deleted Pod gets SIGTERM, SIGKILL after its grace period,
/// and is gone once its processes are. Images, volumes and resources are not looked at.
pub struct Kubelet {
    root: std::path::PathBuf,
    pods: Mutex<BTreeMap<Key, PodRun>>,
}

struct PodRun {
    group: i32,
    env: Vec<(String, String)>,
    work_dir: String,
    log: std::path::PathBuf,
    running: bool,
}

impl Kubelet {
    fn new(root: &Path) -> Kubelet {
        Kubelet { root: root.to_path_buf(), pods: Mutex::new(BTreeMap::new()) }
    }

    fn env(
        &self,
        shared: &Shared,
        key: &Key,
        container: &Value,
        dir: &Path,
    ) -> Vec<(String, String)> {
        use base64::Engine;
        let mut env: Vec<(String, String)> = ["PATH", "HOME", "LANG"]
            .iter()
            .filter_map(|k| Some((k.to_string(), std::env::var(k).ok()?)))
            .collect();
        env.push(("TMUX_TMPDIR".into(), dir.join("tmux").to_string_lossy().into_owned()));
        let state = shared.state.lock().unwrap();
        for source in container["envFrom"].as_array().into_iter().flatten() {
            let Some(secret) = source["secretRef"]["name"].as_str() else { continue };
            let secret_key =
                ("/api/v1".to_owned(), "secrets".to_owned(), key.2.clone(), secret.to_owned());
            let Some(secret) = state.objects.get(&secret_key) else { continue };
            for (name, value) in secret["data"].as_object().into_iter().flatten() {
                let value = base64::engine::general_purpose::STANDARD
                    .decode(value.as_str().unwrap_or(""))
                    .unwrap_or_default();
                env.push((name.clone(), String::from_utf8_lossy(&value).into_owned()));
            }
        }
        for var in container["env"].as_array().into_iter().flatten() {
            if let (Some(name), Some(value)) = (var["name"].as_str(), var["value"].as_str()) {
                env.push((name.to_owned(), value.to_owned()));
            }
        }
        env
    }

    /// Starts the Pod at `key`.
    fn run(&self, shared: &Shared, key: &Key, pod: &Value) {
        use std::os::unix::process::CommandExt;
        let container = &pod["spec"]["containers"][0];
        let argv: Vec<String> = ["command", "args"]
            .iter()
            .flat_map(|f| container[*f].as_array().cloned().unwrap_or_default())
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        let dir = self.root.join(format!("{}-{}", key.2, key.3));
        std::fs::create_dir_all(dir.join("tmux")).unwrap();
        let env = self.env(shared, key, container, &dir);
        let work_dir = container["workingDir"].as_str().unwrap_or("/").to_owned();
        let log = dir.join("log");
        let out = std::fs::File::create(&log).unwrap();
        let spawned = argv.split_first().map(|(program, args)| {
            std::process::Command::new(program)
                .args(args)
                .env_clear()
                .envs(env.iter().cloned())
                .current_dir(&work_dir)
                .stdin(std::process::Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .process_group(0)
                .spawn()
        });
        let mut child = match spawned {
            Some(Ok(child)) => child,
            _ => {
                set_pod_status(
                    shared,
                    key,
                    "Failed",
                    json!({"terminated": {"exitCode": 128,
                                                            "reason": "StartError"}}),
                );
                return;
            }
        };
        self.pods.lock().unwrap().insert(
            key.clone(),
            PodRun { group: child.id() as i32, env: env.clone(), work_dir, log, running: true },
        );
        set_pod_status(
            shared,
            key,
            "Running",
            json!({"running": {"startedAt": "2026-12-07T00:00:00Z"}}),
        );
        let (shared, key, kubelet) = (shared.clone(), key.clone(), shared.kubelet.clone().unwrap());
        std::thread::spawn(move || {
            use std::os::unix::process::ExitStatusExt;
            let status = child.wait().unwrap();
            let code = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(9));
            // The container is gone: so is everything in it, its tmux server too.
            let _ = std::process::Command::new("tmux")
                .args(["-L", "gc", "kill-server"])
                .env("TMUX_TMPDIR", &env.iter().find(|(k, _)| k == "TMUX_TMPDIR").unwrap().1)
                .output();
            if let Some(run) = kubelet.pods.lock().unwrap().get_mut(&key) {
                run.running = false;
            }
            let phase = if code == 0 { "Succeeded" } else { "Failed" };
            set_pod_status(&shared, &key, phase, json!({"terminated": {"exitCode": code}}));
            let mut state = shared.state.lock().unwrap();
            let deleting = state
                .objects
                .get(&key)
                .is_some_and(|p| !p["metadata"]["deletionTimestamp"].is_null());
            if deleting && let Some(change) = state.remove(&key) {
                let _ = shared.changes.send(change);
            }
        });
    }

    fn is_running(&self, key: &Key) -> bool {
        self.pods.lock().unwrap().get(key).is_some_and(|r| r.running)
    }

    /// SIGTERM now, SIGKILL after `grace` if it still runs.
    fn stop(&self, key: &Key, grace: Duration) {
        let Some(group) = self.pods.lock().unwrap().get(key).map(|r| r.group) else { return };
        unsafe { libc::kill(-group, libc::SIGTERM) };
        let deadline = Instant::now() + grace;
        // Signal 0 asks only whether any process of the group is left.
        let running = move || unsafe { libc::kill(-group, 0) == 0 };
        std::thread::spawn(move || {
            while running() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            unsafe { libc::kill(-group, libc::SIGKILL) };
        });
    }

    fn kill_all(&self) {
        for run in self.pods.lock().unwrap().values() {
            unsafe { libc::kill(-run.group, libc::SIGKILL) };
            let _ = std::process::Command::new("tmux")
                .args(["-L", "gc", "kill-server"])
                .env("TMUX_TMPDIR", &run.env.iter().find(|(k, _)| k == "TMUX_TMPDIR").unwrap().1)
                .output();
        }
    }

    fn log(&self, namespace: &str, name: &str) -> Option<String> {
        let pods = self.pods.lock().unwrap();
        let run = pods.iter().find(|(k, _)| k.2 == namespace && k.3 == name)?.1;
        std::fs::read_to_string(&run.log).ok()
    }

    /// Answers an `exec` upgrade: runs `command` beside the Pod and streams its output.
    fn exec(
        &self,
        namespace: &str,
        name: &str,
        command: Vec<String>,
        interactive: bool,
        request: &mut Request,
    ) -> Response {
        let found = {
            let pods = self.pods.lock().unwrap();
            pods.iter()
                .find(|(k, r)| k.2 == namespace && k.3 == name && r.running)
                .map(|(_, r)| (r.env.clone(), r.work_dir.clone()))
        };
        let Some((env, work_dir)) = found else {
            return status(400, "BadRequest", format!("pod {name} is not running"));
        };
        let Some(key) = request.headers().get("sec-websocket-key").cloned() else {
            return status(400, "BadRequest", "exec needs a websocket upgrade".into());
        };
        let offered = request
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        if !offered.split(',').any(|p| p.trim() == "v4.channel.k8s.io") {
            return status(400, "BadRequest", format!("unsupported protocols {offered}"));
        }
        let upgrade = hyper::upgrade::on(request);
        tokio::spawn(async move {
            use futures::SinkExt;
            use tokio_tungstenite::tungstenite::Message;
            let Ok(upgraded) = upgrade.await else { return };
            let mut socket = tokio_tungstenite::WebSocketStream::from_raw_socket(
                hyper_util::rt::TokioIo::new(upgraded),
                tokio_tungstenite::tungstenite::protocol::Role::Server,
                None,
            )
            .await;
            if interactive {
                with_terminal(socket, command, env, work_dir).await;
                return;
            }
            let output = tokio::task::spawn_blocking(move || {
                let (program, args) = command.split_first()?;
                std::process::Command::new(program)
                    .args(args)
                    .env_clear()
                    .envs(env)
                    .current_dir(work_dir)
                    .stdin(std::process::Stdio::null())
                    .output()
                    .ok()
            })
            .await
            .ok()
            .flatten();
            let (stdout, stderr, code) = match output {
                Some(o) => (o.stdout, o.stderr, o.status.code().unwrap_or(1)),
                None => (Vec::new(), b"cannot run the command".to_vec(), 126),
            };
            let frame = |channel: u8, bytes: &[u8]| {
                let mut data = vec![channel];
                data.extend_from_slice(bytes);
                Message::Binary(data.into())
            };
            let outcome = if code == 0 {
                json!({"metadata": {}, "status": "Success"})
            } else {
                json!({"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                       "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}})
            };
            for message in [
                frame(1, &stdout),
                frame(2, &stderr),
                frame(3, &serde_json::to_vec(&outcome).unwrap()),
            ] {
                if socket.send(message).await.is_err() {
                    return;
                }
            }
            let _ = socket.close(None).await;
        });
        let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
        Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-accept", accept)
            .header("sec-websocket-protocol", "v4.channel.k8s.io")
            .body(Body::empty())
            .unwrap()
    }
}

/// Sets a Pod's phase and its one container's state, as the kubelet reports them.
fn set_pod_status(shared: &Shared, key: &Key, phase: &str, state: Value) {
    let mut objects = shared.state.lock().unwrap();
    let Some(existing) = objects.objects.get(key).cloned() else { return };
    let name = existing["spec"]["containers"][0]["name"].clone();
    let running = state.get("running").is_some();
    let mut pod = existing.clone();
    pod["status"] = json!({"phase": phase, "containerStatuses": [
        {"name": name, "state": state, "ready": running, "restartCount": 0,
         "image": existing["spec"]["containers"][0]["image"], "imageID": "", "started": running}
    ]});
    let change = objects.store(key, pod, Some(&existing), true);
    let _ = shared.changes.send(change);
}

/// Runs `command` on a terminal of its own (200×50), as an interactive `exec` (`-it`) does:
/// stdin frames (channel 0) are typed into it, what it prints goes back on channel 1, and its
/// exit status on channel 3 once it ends.
async fn with_terminal(
    socket: tokio_tungstenite::WebSocketStream<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>>,
    command: Vec<String>,
    env: Vec<(String, String)>,
    work_dir: String,
) {
    use futures::SinkExt;
    use std::io::{Read, Write};
    use tokio_tungstenite::tungstenite::Message;
    // A terminal without a shell: python's pty module forks the command onto one.
    const ON_A_TERMINAL: &str = r#"
import fcntl, os, pty, select, struct, sys, termios
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', 50, 200, 0, 0))
    os.execvp(sys.argv[1], sys.argv[1:])
watched = [fd, 0]
while True:
    ready, _, _ = select.select(watched, [], [])
    if fd in ready:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b''
        if not data:
            break
        os.write(1, data)
    if 0 in ready:
        data = os.read(0, 4096)
        if data:
            os.write(fd, data)
        else:
            watched.remove(0)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let (mut send, mut receive) = socket.split();
    let child = std::process::Command::new("python3")
        .args(["-c", ON_A_TERMINAL])
        .args(&command)
        .env_clear()
        .envs(env)
        .current_dir(work_dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn();
    let Ok(mut child) = child else { return };
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (output_tx, mut output) = tokio::sync::mpsc::channel::<Vec<u8>>(64);
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buffer) {
            if n == 0 || output_tx.blocking_send(buffer[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    loop {
        tokio::select! {
            chunk = output.recv() => match chunk {
                Some(bytes) => {
                    let mut frame = vec![1u8];
                    frame.extend_from_slice(&bytes);
                    if send.send(Message::Binary(frame.into())).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
            message = receive.next() => match message {
                Some(Ok(Message::Binary(data))) if data.first() == Some(&0) => {
                    let _ = stdin.write_all(&data[1..]);
                    let _ = stdin.flush();
                }
                Some(Ok(_)) => {}
                _ => break,
            },
        }
    }
    drop(stdin);
    let code = tokio::task::spawn_blocking(move || child.wait().ok().and_then(|s| s.code()))
        .await
        .ok()
        .flatten()
        .unwrap_or(1);
    let outcome = if code == 0 {
        json!({"metadata": {}, "status": "Success"})
    } else {
        json!({"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
               "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}})
    };
    let mut frame = vec![3u8];
    frame.extend_from_slice(&serde_json::to_vec(&outcome).unwrap());
    let _ = send.send(Message::Binary(frame.into())).await;
    let _ = send.close().await;
}
