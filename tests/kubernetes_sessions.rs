//! The kubernetes session runtime against a simulated API server, with kube's mocking pattern
//! (a `kube::Client` over a `tower_test` mock service, and a verifier task that checks each
//! request and answers it): what a start, a stop, a listing and a metadata change send, and
//! how the pods the server returns read as sessions. After its script, each verifier fails on
//! any further request, so "sends nothing more" is checked too.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use gascity::api::city::{KubernetesSessionSpec, PodResources, ResourceAmounts};
use gascity::runtime::kubernetes::{KubernetesRuntime, PodContext};
use gascity::runtime::{Runtime, RuntimeError, SessionConfig, SessionInfo};
use http::{Method, Response};
use kube::client::Body;
use serde_json::{Value, json};

#[path = "common/kube_mock.rs"]
mod kube_mock;
use kube_mock::{Handle, expect, no_more_requests, respond};

const NAMESPACE: &str = "agents";
const PODS: &str = "/api/v1/namespaces/agents/pods";
const WORKER_POD: &str = "/api/v1/namespaces/agents/pods/gc-town-worker";

fn failure(code: u16, reason: &str) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("pods \"gc-town-worker\": {reason}"), "reason": reason, "code": code,
    })
}

fn context() -> PodContext {
    PodContext {
        city: "town".into(),
        city_dir: "/srv/town".into(),
        launcher: "/usr/local/bin/gc".into(),
    }
}

fn city_pods() -> KubernetesSessionSpec {
    KubernetesSessionSpec {
        image: Some("ghcr.io/example/agents:1.2".into()),
        namespace: Some(NAMESPACE.into()),
        workspace_claim: Some("town-workspace".into()),
        secret_name: Some("agent-credentials".into()),
        service_account_name: Some("agents".into()),
        resources: Some(PodResources {
            requests: Some(ResourceAmounts {
                cpu: Some("500m".into()),
                memory: Some("1Gi".into()),
            }),
            limits: Some(ResourceAmounts { cpu: None, memory: Some("4Gi".into()) }),
        }),
    }
}

/// A runtime over a mock API server, and the verifier's end of it.
fn runtime(spec: Option<&KubernetesSessionSpec>) -> (Arc<KubernetesRuntime>, Handle) {
    let (client, handle) = kube_mock::client("default");
    let runtime = KubernetesRuntime::with_client(client, context(), spec).unwrap();
    (Arc::new(runtime.with_nudge_delay(Duration::ZERO)), handle)
}

/// Runs a call of the (synchronous) runtime off the test's async thread, as the controller
/// does, then drops the runtime so the verifier sees the client go.
async fn call<T: Send + 'static>(
    runtime: Arc<KubernetesRuntime>,
    f: impl FnOnce(&KubernetesRuntime) -> T + Send + 'static,
) -> T {
    tokio::task::spawn_blocking(move || f(&runtime)).await.unwrap()
}

fn worker_config() -> SessionConfig {
    SessionConfig {
        name: "gc-town-worker".into(),
        work_dir: std::env::temp_dir(),
        argv: vec!["claude".into(), "--model".into(), "[town] worker; \"go\"".into()],
        env: BTreeMap::from([
            ("GC_AGENT".into(), "worker".into()),
            ("GC_CITY".into(), "/srv/town".into()),
        ]),
        meta: BTreeMap::from([
            ("instance".into(), "7f3c".into()),
            ("fingerprint".into(), "abc123".into()),
            ("generation".into(), "4".into()),
        ]),
        ..SessionConfig::default()
    }
}

/// A pod as the API server stores it, in `phase`, its container in `state`.
fn pod(session: &str, phase: &str, state: Value, meta: &[(&str, &str)]) -> Value {
    let mut annotations = json!({"gascity.dev/session-name": session});
    for (k, v) in meta {
        annotations[format!("gascity.dev/meta-{k}")] = json!(v);
    }
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": session.to_lowercase(), "namespace": NAMESPACE,
            "creationTimestamp": "2026-01-02T03:04:05Z",
            "labels": {"gascity.dev/city": "town", "gascity.dev/session": session.to_lowercase()},
            "annotations": annotations,
        },
        "spec": {"containers": [{"name": "session", "image": "x"}]},
        "status": {
            "phase": phase,
            "containerStatuses": [{
                "name": "session", "image": "x", "imageID": "", "ready": phase == "Running",
                "restartCount": 0, "state": state,
            }],
        },
    })
}

fn running() -> Value {
    json!({"running": {"startedAt": "2026-01-02T03:04:06Z"}})
}

fn exited(code: i32) -> Value {
    json!({"terminated": {"exitCode": code, "finishedAt": "2026-01-02T04:00:00Z"}})
}

#[tokio::test]
async fn a_start_creates_one_pod_carrying_the_whole_session() {
    let (runtime, mut handle) = runtime(Some(&city_pods()));
    let server = tokio::spawn(async move {
        let seen = expect(&mut handle, Method::POST, PODS).await;
        let pod = seen.body.clone();
        respond(seen.send, 201, &pod);
        no_more_requests(handle).await;
        pod
    });
    call(runtime, |rt| rt.start(&worker_config())).await.unwrap();
    let pod = server.await.unwrap();

    let metadata = &pod["metadata"];
    assert_eq!(metadata["name"], "gc-town-worker");
    assert_eq!(
        metadata["labels"],
        json!({
            "gascity.dev/city": "town",
            "gascity.dev/session": "gc-town-worker",
            "app.kubernetes.io/managed-by": "gc",
        })
    );
    // The metadata is in the create request itself: nobody sees the session without it.
    assert_eq!(
        metadata["annotations"],
        json!({
            "gascity.dev/session-name": "gc-town-worker",
            "gascity.dev/meta-instance": "7f3c",
            "gascity.dev/meta-fingerprint": "abc123",
            "gascity.dev/meta-generation": "4",
        })
    );
    let spec = &pod["spec"];
    assert_eq!(spec["restartPolicy"], "Never", "gc's crash-loop policy decides restarts");
    assert_eq!(spec["enableServiceLinks"], false);
    assert_eq!(spec["serviceAccountName"], "agents");
    assert_eq!(
        spec["volumes"],
        json!([{"name": "workspace", "persistentVolumeClaim": {"claimName": "town-workspace"}}])
    );
    let containers = spec["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let container = &containers[0];
    assert_eq!(container["name"], "session");
    assert_eq!(container["image"], "ghcr.io/example/agents:1.2");
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
            "--model",
            "[town] worker; \"go\"",
        ])
    );
    assert_eq!(container["workingDir"], std::env::temp_dir().to_str().unwrap());
    assert_eq!(
        container["env"],
        json!([{"name": "GC_AGENT", "value": "worker"}, {"name": "GC_CITY", "value": "/srv/town"}])
    );
    assert_eq!(container["envFrom"], json!([{"secretRef": {"name": "agent-credentials"}}]));
    assert_eq!(container["volumeMounts"], json!([{"name": "workspace", "mountPath": "/srv/town"}]));
    assert_eq!(
        container["resources"],
        json!({"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "4Gi"}})
    );
}

#[tokio::test]
async fn settings_carried_by_the_session_win_over_the_runtimes() {
    let (runtime, mut handle) = runtime(Some(&city_pods()));
    let server = tokio::spawn(async move {
        let seen = expect(&mut handle, Method::POST, PODS).await;
        let pod = seen.body.clone();
        respond(seen.send, 201, &pod);
        no_more_requests(handle).await;
        pod
    });
    let mut config = worker_config();
    config.pod = Some(gascity::runtime::kubernetes::PodSettings {
        image: "ghcr.io/example/agents:2.0".into(),
        ..Default::default()
    });
    call(runtime, move |rt| rt.start(&config)).await.unwrap();
    let pod = server.await.unwrap();
    let container = &pod["spec"]["containers"][0];
    assert_eq!(container["image"], "ghcr.io/example/agents:2.0");
    assert!(container.get("envFrom").is_none() && pod["spec"].get("volumes").is_none());
}

#[tokio::test]
async fn a_start_without_an_image_sends_nothing() {
    let (runtime, handle) = runtime(None);
    let server = tokio::spawn(no_more_requests(handle));
    let err = call(runtime, |rt| rt.start(&worker_config())).await.unwrap_err();
    assert!(
        matches!(&err, RuntimeError::InvalidConfig(m) if m.contains("session.kubernetes.image"))
    );
    server.await.unwrap();
}

#[tokio::test]
async fn a_start_over_a_live_pod_is_refused_and_over_a_dead_one_replaces_it() {
    let (runtime, mut handle) = runtime(Some(&city_pods()));
    let server = tokio::spawn(async move {
        let seen = expect(&mut handle, Method::POST, PODS).await;
        respond(seen.send, 409, &failure(409, "AlreadyExists"));
        let seen = expect(&mut handle, Method::GET, WORKER_POD).await;
        respond(seen.send, 200, &pod("gc-town-worker", "Running", running(), &[]));
        no_more_requests(handle).await;
    });
    let err = call(runtime, |rt| rt.start(&worker_config())).await.unwrap_err();
    assert!(matches!(err, RuntimeError::Exists(ref n) if n == "gc-town-worker"), "{err}");
    server.await.unwrap();

    let (runtime, mut handle) = self::runtime(Some(&city_pods()));
    let server = tokio::spawn(async move {
        let seen = expect(&mut handle, Method::POST, PODS).await;
        respond(seen.send, 409, &failure(409, "AlreadyExists"));
        let seen = expect(&mut handle, Method::GET, WORKER_POD).await;
        respond(seen.send, 200, &pod("gc-town-worker", "Failed", exited(1), &[]));
        let seen = expect(&mut handle, Method::DELETE, WORKER_POD).await;
        assert_eq!(seen.body["gracePeriodSeconds"], 0, "a dead pod goes at once");
        respond(seen.send, 200, &pod("gc-town-worker", "Failed", exited(1), &[]));
        let seen = expect(&mut handle, Method::GET, WORKER_POD).await;
        respond(seen.send, 404, &failure(404, "NotFound"));
        let seen = expect(&mut handle, Method::POST, PODS).await;
        let body = seen.body.clone();
        respond(seen.send, 201, &body);
        no_more_requests(handle).await;
    });
    call(runtime, |rt| rt.start(&worker_config())).await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn a_stop_deletes_the_pod_with_the_grace_and_waits_until_it_is_gone() {
    let (runtime, mut handle) = runtime(Some(&city_pods()));
    let server = tokio::spawn(async move {
        let seen = expect(&mut handle, Method::DELETE, WORKER_POD).await;
        assert_eq!(seen.body["gracePeriodSeconds"], 5);
        respond(seen.send, 200, &pod("gc-town-worker", "Running", running(), &[]));
        let seen = expect(&mut handle, Method::GET, WORKER_POD).await;
        respond(seen.send, 200, &pod("gc-town-worker", "Running", running(), &[]));
        let seen = expect(&mut handle, Method::GET, WORKER_POD).await;
        respond(seen.send, 404, &failure(404, "NotFound"));
        no_more_requests(handle).await;
    });
    call(runtime, |rt| rt.stop("gc-town-worker", Duration::from_secs(5))).await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn stopping_a_missing_session_is_done() {
    let (runtime, mut handle) = runtime(Some(&city_pods()));
    let server = tokio::spawn(async move {
        let seen = expect(&mut handle, Method::DELETE, WORKER_POD).await;
        respond(seen.send, 404, &failure(404, "NotFound"));
        no_more_requests(handle).await;
    });
    call(runtime, |rt| rt.stop("gc-town-worker", Duration::from_secs(5))).await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn a_listing_is_one_request_and_reads_sessions_from_the_pods() {
    let (runtime, mut handle) = runtime(Some(&city_pods()));
    let server = tokio::spawn(async move {
        let seen = expect(&mut handle, Method::GET, PODS).await;
        let selector = seen
            .query
            .split('&')
            .find_map(|p| p.strip_prefix("labelSelector="))
            .map(|s| s.replace("%3D", "=").replace("%2C", ",").replace("%2F", "/"));
        assert_eq!(
            selector.as_deref(),
            Some("gascity.dev/city=town,app.kubernetes.io/managed-by=gc"),
            "{}",
            seen.query
        );
        let mut not_gcs = pod("stranger", "Running", running(), &[]);
        not_gcs["metadata"]["annotations"] = json!({});
        let list = json!({
            "apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "9"},
            "items": [
                pod("gc-town-worker-2", "Failed", exited(3), &[]),
                pod("gc-town-worker-1", "Running", running(), &[("instance", "i1")]),
                pod("gc-town-mayor", "Succeeded", exited(0), &[]),
                pod("gc-town-worker-3", "Pending",
                    json!({"waiting": {"reason": "ContainerCreating"}}), &[]),
                pod("gc-town-worker-4", "Running", exited(137), &[]),
                not_gcs,
            ],
        });
        respond(seen.send, 200, &list);
        no_more_requests(handle).await;
    });
    let sessions = call(runtime, |rt| rt.list("gc-town-worker")).await.unwrap();
    server.await.unwrap();
    let seen: Vec<(&str, bool, Option<i32>)> =
        sessions.iter().map(|s| (s.name.as_str(), s.alive, s.exit_status)).collect();
    assert_eq!(
        seen,
        [
            ("gc-town-worker-1", true, None),
            ("gc-town-worker-2", false, Some(3)),
            ("gc-town-worker-3", true, None),
            // The container exited although the pod is not marked failed yet.
            ("gc-town-worker-4", false, Some(137)),
        ]
    );
    let first: &SessionInfo = &sessions[0];
    assert_eq!(first.meta, BTreeMap::from([("instance".to_owned(), "i1".to_owned())]));
    assert_eq!(first.created, Some(UNIX_EPOCH + Duration::from_secs(1_767_323_045)));
    assert_eq!(first.pid, None);
}

#[tokio::test]
async fn metadata_is_set_with_a_merge_patch_of_the_annotations() {
    let (runtime, mut handle) = runtime(Some(&city_pods()));
    let server = tokio::spawn(async move {
        let seen = expect(&mut handle, Method::PATCH, WORKER_POD).await;
        assert_eq!(seen.content_type, "application/merge-patch+json");
        assert_eq!(
            seen.body,
            json!({"metadata": {"annotations": {"gascity.dev/meta-blocked": "1"}}})
        );
        respond(seen.send, 200, &pod("gc-town-worker", "Running", running(), &[("blocked", "1")]));
        // An edit writes what changed, removing what was removed, in one patch.
        let seen = expect(&mut handle, Method::PATCH, WORKER_POD).await;
        assert_eq!(
            seen.body,
            json!({"metadata": {"annotations": {
                "gascity.dev/meta-blocked": null,
                "gascity.dev/meta-dialogs": "trust",
            }}})
        );
        respond(seen.send, 200, &pod("gc-town-worker", "Running", running(), &[]));
        // A metadata read is a read of the pod.
        let seen = expect(&mut handle, Method::GET, WORKER_POD).await;
        respond(
            seen.send,
            200,
            &pod("gc-town-worker", "Running", running(), &[("generation", "4")]),
        );
        no_more_requests(handle).await;
    });
    let got = call(runtime, |rt| {
        rt.set_meta("gc-town-worker", "blocked", "1")?;
        let known = BTreeMap::from([
            ("blocked".to_owned(), "1".to_owned()),
            ("instance".to_owned(), "i".to_owned()),
        ]);
        rt.edit_meta("gc-town-worker", Some(&known), &mut |meta| {
            meta.remove("blocked");
            meta.insert("dialogs".into(), "trust".into());
        })?;
        rt.get_meta("gc-town-worker", "generation")
    })
    .await
    .unwrap();
    assert_eq!(got.as_deref(), Some("4"));
    server.await.unwrap();
}

#[tokio::test]
async fn a_pod_of_another_session_is_not_this_ones() {
    let (runtime, mut handle) = runtime(Some(&city_pods()));
    let server = tokio::spawn(async move {
        let seen = expect(&mut handle, Method::GET, WORKER_POD).await;
        // Same pod name, another session (names that differ only in case map alike).
        respond(seen.send, 200, &pod("GC-town-worker", "Running", running(), &[]));
        let seen = expect(&mut handle, Method::GET, WORKER_POD).await;
        respond(seen.send, 404, &failure(404, "NotFound"));
        no_more_requests(handle).await;
    });
    let (mixed, missing) = call(runtime, |rt| {
        (rt.is_running("gc-town-worker").unwrap(), rt.is_running("gc-town-worker").unwrap())
    })
    .await;
    assert!(!mixed && !missing);
    server.await.unwrap();
}

#[tokio::test]
async fn a_starting_pod_shows_an_empty_screen_and_a_dead_one_its_log() {
    let (runtime, mut handle) = runtime(Some(&city_pods()));
    let server = tokio::spawn(async move {
        // Look at a pod whose container is still being created: one read, no exec.
        let seen = expect(&mut handle, Method::GET, WORKER_POD).await;
        let waiting = json!({"waiting": {"reason": "ContainerCreating"}});
        respond(seen.send, 200, &pod("gc-town-worker", "Pending", waiting, &[]));
        // Peek at a dead one: its log holds the last screen pod-session printed.
        let seen = expect(&mut handle, Method::GET, WORKER_POD).await;
        respond(seen.send, 200, &pod("gc-town-worker", "Failed", exited(2), &[]));
        let seen = expect(&mut handle, Method::GET, &format!("{WORKER_POD}/log")).await;
        let params: Vec<&str> = seen.query.split('&').collect();
        assert!(
            params.contains(&"container=session") && params.contains(&"tailLines=2"),
            "{params:?}"
        );
        let log = Response::builder()
            .status(200)
            .header("content-type", "text/plain")
            .body(Body::from(b"line 1\nerror: out of credits\n> \n".to_vec()))
            .unwrap();
        seen.send.send_response(log);
        no_more_requests(handle).await;
    });
    let (look, peek) = call(runtime, |rt| {
        (rt.look("gc-town-worker").unwrap(), rt.peek("gc-town-worker", 2).unwrap())
    })
    .await;
    server.await.unwrap();
    let (info, screen) = look.expect("the session exists");
    assert!(info.alive && screen.is_empty());
    assert_eq!(peek, "error: out of credits\n>\n");
}
