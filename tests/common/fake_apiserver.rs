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
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<Objects>>,
    changes: broadcast::Sender<Change>,
}

impl FakeApiServer {
    /// Starts a server on a free loopback port.
    pub fn start() -> FakeApiServer {
        let state = Arc::new(Mutex::new(Objects::default()));
        let (changes, _) = broadcast::channel(4096);
        let shared = Shared { state: state.clone(), changes: changes.clone() };
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

/// Splits `/apis/g/v/namespaces/ns/plural[/name[/status]]` (or `/api/v1/…`).
fn route(path: &str) -> Option<(String, String, String, Option<String>, bool)> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (prefix, rest) = match parts.as_slice() {
        ["api", "v1", rest @ ..] => ("/api/v1".to_owned(), rest),
        ["apis", group, version, rest @ ..] => (format!("/apis/{group}/{version}"), rest),
        _ => return None,
    };
    match rest {
        ["namespaces", ns, plural] => {
            Some((prefix, plural.to_string(), ns.to_string(), None, false))
        }
        ["namespaces", ns, plural, name] => {
            Some((prefix, plural.to_string(), ns.to_string(), Some(name.to_string()), false))
        }
        ["namespaces", ns, plural, name, "status"] => {
            Some((prefix, plural.to_string(), ns.to_string(), Some(name.to_string()), true))
        }
        _ => None,
    }
}

async fn handle(State(shared): State<Shared>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query: BTreeMap<String, String> = request
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let body: Bytes = axum::body::to_bytes(request.into_body(), 16 << 20).await.unwrap_or_default();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    shared.state.lock().unwrap().requests.push((method.to_string(), path.clone(), body.clone()));
    let Some((prefix, plural, namespace, name, status_only)) = route(&path) else {
        return status(404, "NotFound", format!("no route {path}"));
    };
    let watching = query.get("watch").is_some_and(|w| w == "true" || w == "1");
    match (method, name) {
        (Method::GET, None) if watching => {
            let from: u64 = query.get("resourceVersion").and_then(|v| v.parse().ok()).unwrap_or(0);
            watch(&shared, (prefix, plural, namespace), from)
        }
        (Method::GET, None) => {
            let state = shared.state.lock().unwrap();
            let items: Vec<Value> = state
                .objects
                .iter()
                .filter(|((p, pl, ns, _), _)| *p == prefix && *pl == plural && *ns == namespace)
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
            json_response(201, &change.object)
        }
        (method, Some(name)) => {
            let key = (prefix, plural, namespace, name.clone());
            let mut state = shared.state.lock().unwrap();
            let existing = state.objects.get(&key).cloned();
            let not_found = || status(404, "NotFound", format!("{name} not found"));
            match method {
                Method::GET => existing.map_or_else(not_found, |o| json_response(200, &o)),
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
fn watch(shared: &Shared, collection: (String, String, String), from: u64) -> Response {
    let mut live = shared.changes.subscribe();
    let past: Vec<Change> = shared
        .state
        .lock()
        .unwrap()
        .history
        .iter()
        .filter(|c| c.version > from && c.collection == collection)
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
                Ok(c) if c.version > last && c.collection == collection => {
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
