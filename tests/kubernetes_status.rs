//! Writing status and recording Events against a simulated API server, with kube's mocking
//! pattern: a `kube::Client` over a `tower_test` mock service, and a verifier task that checks
//! each request (method, path, headers, body) and answers it. After its script, the verifier
//! waits for the client to go away and fails on any request beyond the script, so "sends
//! nothing" is checked without sleeping.

use gascity::api::Kind;
use gascity::kubernetes::events::{EventError, EventSink, Recorded};
use gascity::kubernetes::status::{StatusError, StatusWriter, Written};
use http::{Method, Response, StatusCode};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

#[path = "common/kube_mock.rs"]
mod kube_mock;
use kube_mock::{Handle, Seen, expect, no_more_requests, respond};

const NAMESPACE: &str = "gascity";
const WORKER_STATUS: &str = "/apis/gascity.dev/v1alpha1/namespaces/gascity/agents/worker/status";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/gascity/events";
const MERGE_PATCH: &str = "application/merge-patch+json";

fn client() -> (Client, Handle) {
    kube_mock::client(NAMESPACE)
}

/// The API server's answer for a failed request.
fn failure(code: u16, reason: &str) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("agents.gascity.dev \"worker\": {reason}"),
        "reason": reason, "code": code,
    })
}

/// The Agent as the API server returns it after a status patch.
fn agent_with(status: &Value) -> Value {
    json!({
        "apiVersion": "gascity.dev/v1alpha1", "kind": "Agent",
        "metadata": {"name": "worker", "namespace": NAMESPACE, "resourceVersion": "12"},
        "spec": {"provider": "claude"},
        "status": status,
    })
}

/// Answers one status patch of agent `worker` as a stored object and returns what was sent.
async fn answer_status_patch(handle: &mut Handle) -> Value {
    let seen = expect(handle, Method::PATCH, WORKER_STATUS).await;
    assert_eq!(seen.content_type, MERGE_PATCH);
    // kube writes the query as `&fieldManager=…`: compare parameters, not the string.
    assert!(seen.query.split('&').any(|p| p == "fieldManager=gc-controller"), "{}", seen.query);
    respond(seen.send, 200, &agent_with(&seen.body["status"]));
    seen.body
}

fn ready(count: u32) -> Value {
    json!({
        "observedGeneration": 3,
        "ready": count,
        "conditions": [{"type": "Ready", "status": "True", "reason": "AllReady", "message": ""}],
    })
}

#[tokio::test]
async fn a_status_is_sent_as_a_merge_patch_to_the_status_subresource() {
    let (client, mut handle) = client();
    let writer = StatusWriter::new(client, NAMESPACE);
    let server = tokio::spawn(async move {
        let body = answer_status_patch(&mut handle).await;
        assert_eq!(body, json!({"status": ready(1)}));
        no_more_requests(handle).await;
    });
    assert_eq!(writer.write(Kind::Agent, "worker", &ready(1)).await.unwrap(), Written::Patched);
    drop(writer);
    server.await.unwrap();
}

#[tokio::test]
async fn an_unchanged_status_is_not_sent_again_and_a_changed_one_is() {
    let (client, mut handle) = client();
    let writer = StatusWriter::new(client, NAMESPACE);
    let server = tokio::spawn(async move {
        assert_eq!(answer_status_patch(&mut handle).await, json!({"status": ready(1)}));
        // The second write of ready(1) sends nothing; the next request is the change.
        assert_eq!(answer_status_patch(&mut handle).await, json!({"status": ready(2)}));
        no_more_requests(handle).await;
    });
    assert_eq!(writer.write(Kind::Agent, "worker", &ready(1)).await.unwrap(), Written::Patched);
    assert_eq!(writer.write(Kind::Agent, "worker", &ready(1)).await.unwrap(), Written::Unchanged);
    assert_eq!(writer.write(Kind::Agent, "worker", &ready(2)).await.unwrap(), Written::Patched);
    drop(writer);
    server.await.unwrap();
}

#[tokio::test]
async fn an_observed_status_is_not_rewritten_and_fields_gc_dropped_are_removed() {
    let (client, mut handle) = client();
    let writer = StatusWriter::new(client, NAMESPACE);
    let mut observed = ready(1);
    observed["lastCrash"] = json!("2026-12-07T00:00:00Z");
    writer.note_observed(Kind::Agent, "worker", &observed);
    let server = tokio::spawn(async move {
        let body = answer_status_patch(&mut handle).await;
        // A merge patch keeps what it does not mention: the field gc no longer reports is
        // removed explicitly.
        let mut expected = ready(1);
        expected["lastCrash"] = Value::Null;
        assert_eq!(body, json!({"status": expected}));
        no_more_requests(handle).await;
    });
    assert_eq!(writer.write(Kind::Agent, "worker", &observed).await.unwrap(), Written::Unchanged);
    assert_eq!(writer.write(Kind::Agent, "worker", &ready(1)).await.unwrap(), Written::Patched);
    drop(writer);
    server.await.unwrap();
}

#[tokio::test]
async fn a_deleted_object_is_gone_and_not_remembered() {
    let (client, mut handle) = client();
    let writer = StatusWriter::new(client, NAMESPACE);
    let server = tokio::spawn(async move {
        let seen = expect(&mut handle, Method::PATCH, WORKER_STATUS).await;
        respond(seen.send, 404, &failure(404, "NotFound"));
        // Re-created under the same name: the same status is written again.
        answer_status_patch(&mut handle).await;
        no_more_requests(handle).await;
    });
    assert_eq!(writer.write(Kind::Agent, "worker", &ready(1)).await.unwrap(), Written::Gone);
    assert_eq!(writer.write(Kind::Agent, "worker", &ready(1)).await.unwrap(), Written::Patched);
    drop(writer);
    server.await.unwrap();
}

#[tokio::test]
async fn a_server_error_is_an_error_and_the_status_is_tried_again() {
    let (client, mut handle) = client();
    let writer = StatusWriter::new(client, NAMESPACE);
    let server = tokio::spawn(async move {
        let seen = expect(&mut handle, Method::PATCH, WORKER_STATUS).await;
        respond(seen.send, 500, &failure(500, "InternalError"));
        answer_status_patch(&mut handle).await;
        no_more_requests(handle).await;
    });
    let error = writer.write(Kind::Agent, "worker", &ready(1)).await.unwrap_err();
    let StatusError::Patch { kind, name, source } = &error;
    assert_eq!((*kind, name.as_str()), (Kind::Agent, "worker"));
    assert!(matches!(source, kube::Error::Api(s) if s.code == 500), "{source:?}");
    assert_eq!(error.to_string(), "could not write the status of Agent worker");
    assert_eq!(writer.write(Kind::Agent, "worker", &ready(1)).await.unwrap(), Written::Patched);
    drop(writer);
    server.await.unwrap();
}

#[tokio::test]
async fn a_404_without_the_api_servers_not_found_is_an_error() {
    // What the API server answers for a resource type it does not serve (the CRD is not
    // installed): a plain-text 404, which must not read as "the object was deleted".
    let (client, mut handle) = client();
    let writer = StatusWriter::new(client, NAMESPACE);
    let server = tokio::spawn(async move {
        let seen = expect(&mut handle, Method::PATCH, WORKER_STATUS).await;
        let response = Response::builder()
            .status(StatusCode::NOT_FOUND)
            .header("content-type", "text/plain")
            .body(Body::from("404 page not found\n".as_bytes().to_vec()))
            .unwrap();
        seen.send.send_response(response);
        no_more_requests(handle).await;
    });
    assert!(matches!(
        writer.write(Kind::Agent, "worker", &ready(1)).await,
        Err(StatusError::Patch { .. })
    ));
    drop(writer);
    server.await.unwrap();
}

fn gc_event(event_type: &str, reason: &str, message: &str) -> Value {
    json!({
        "seq": 7, "ts": "2026-11-24T08:30:00.125Z", "type": event_type,
        "object": {"kind": "Agent", "name": "worker"},
        "reason": reason, "message": message, "actor": "controller",
        "payload": {"exitCode": 1},
    })
}

fn sink() -> (EventSink, Handle) {
    let (client, handle) = client();
    (EventSink::new(client, NAMESPACE, "gc-controller-7d9f-abcde"), handle)
}

/// Answers the creation of an Event as the API server does (the Event as stored) and
/// returns what was sent.
fn created(seen: Seen) -> Value {
    let mut stored = seen.body.clone();
    stored["metadata"]["resourceVersion"] = json!("1");
    respond(seen.send, 201, &stored);
    seen.body
}

async fn run_verifier(server: JoinHandle<()>, sink: EventSink) {
    drop(sink);
    server.await.unwrap();
}

#[tokio::test]
async fn a_gc_event_is_created_as_an_event_regarding_its_custom_resource() {
    let (sink, mut handle) = sink();
    let server = tokio::spawn(async move {
        let body = created(expect(&mut handle, Method::POST, EVENTS).await);
        assert_eq!(body["apiVersion"], "events.k8s.io/v1");
        assert_eq!(body["kind"], "Event");
        assert_eq!(body["metadata"]["namespace"], NAMESPACE);
        assert!(body["metadata"]["name"].as_str().unwrap().starts_with("worker."));
        assert_eq!(
            body["regarding"],
            json!({
                "apiVersion": "gascity.dev/v1alpha1", "kind": "Agent", "name": "worker",
                "namespace": NAMESPACE, "uid": "6f1d-uid",
            })
        );
        assert_eq!(body["type"], "Normal");
        assert_eq!(body["reason"], "Started");
        assert_eq!(body["action"], "session.started");
        assert_eq!(body["note"], "session gc-town-worker started");
        assert_eq!(body["reportingController"], "gc-controller");
        assert_eq!(body["reportingInstance"], "gc-controller-7d9f-abcde");
        assert!(body["eventTime"].is_string());
        assert!(body.get("series").is_none());
        let shown = body.to_string();
        assert!(!shown.contains("exitCode"), "the payload stays in gc's log: {shown}");
        no_more_requests(handle).await;
    });
    let event = gc_event("session.started", "Started", "session gc-town-worker started");
    assert_eq!(sink.record(&event, Some("6f1d-uid")).await.unwrap(), Recorded::Published);
    run_verifier(server, sink).await;
}

#[tokio::test]
async fn a_failure_is_a_warning() {
    let (sink, mut handle) = sink();
    let server = tokio::spawn(async move {
        let body = created(expect(&mut handle, Method::POST, EVENTS).await);
        assert_eq!(body["type"], "Warning");
        assert_eq!(body["reason"], "ProcessExited");
        assert_eq!(body["regarding"].get("uid"), None, "no uid was known");
        no_more_requests(handle).await;
    });
    let event = gc_event("session.crashed", "ProcessExited", "exited with status 1");
    assert_eq!(sink.record(&event, None).await.unwrap(), Recorded::Published);
    run_verifier(server, sink).await;
}

#[tokio::test]
async fn a_repeat_is_counted_into_the_first_events_series() {
    // kube-runtime's Recorder sends no GET: the first Event is a POST; a repeat within its
    // cache's few minutes (same type, reason, action, object) is a merge PATCH of that first
    // Event, by name, adding `series` with the count — as Kubernetes' own recorders do.
    let (sink, mut handle) = sink();
    let server = tokio::spawn(async move {
        let first = created(expect(&mut handle, Method::POST, EVENTS).await);
        let name = first["metadata"]["name"].as_str().unwrap().to_owned();
        let seen = expect(&mut handle, Method::PATCH, &format!("{EVENTS}/{name}")).await;
        assert_eq!(seen.content_type, MERGE_PATCH);
        assert_eq!(seen.body["series"]["count"], 2);
        assert!(seen.body["series"]["lastObservedTime"].is_string());
        assert_eq!(seen.body["reason"], "ProcessExited");
        assert_eq!(seen.body["note"], "exited with status 1", "the first note is kept");
        let stored = seen.body.clone();
        respond(seen.send, 200, &stored);
        no_more_requests(handle).await;
    });
    let event = gc_event("session.crashed", "ProcessExited", "exited with status 1");
    assert_eq!(sink.record(&event, None).await.unwrap(), Recorded::Published);
    let again = gc_event("session.crashed", "ProcessExited", "exited with status 2");
    assert_eq!(sink.record(&again, None).await.unwrap(), Recorded::Published);
    run_verifier(server, sink).await;
}

#[tokio::test]
async fn an_event_about_no_object_sends_nothing() {
    let (sink, handle) = sink();
    let server = tokio::spawn(no_more_requests(handle));
    let mut event = gc_event("controller.started", "Started", "controller up");
    event.as_object_mut().unwrap().remove("object");
    assert_eq!(sink.record(&event, None).await.unwrap(), Recorded::Skipped);
    run_verifier(server, sink).await;
}

#[tokio::test]
async fn a_refused_event_is_a_typed_error() {
    let (sink, mut handle) = sink();
    let server = tokio::spawn(async move {
        let seen = expect(&mut handle, Method::POST, EVENTS).await;
        respond(seen.send, 403, &failure(403, "Forbidden"));
        no_more_requests(handle).await;
    });
    let event = gc_event("session.started", "Started", "started");
    let error = sink.record(&event, None).await.unwrap_err();
    let EventError::Publish { kind, name, reason, source } = &error;
    assert_eq!((kind.as_str(), name.as_str(), reason.as_str()), ("Agent", "worker", "Started"));
    assert!(matches!(source, kube::Error::Api(s) if s.code == 403), "{source:?}");
    run_verifier(server, sink).await;
}
