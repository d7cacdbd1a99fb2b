//! kube's documented mocking pattern, shared by the Kubernetes tests: a `kube::Client` over a
//! `tower_test` mock service, whose other end (the [`Handle`]) a verifier task reads requests
//! from and answers.
#![allow(dead_code)] // each test crate uses its own subset

use http::{Method, Request, Response, StatusCode};
use kube::Client;
use kube::client::Body;
use serde_json::Value;
use tower_test::mock::{self, SendResponse};

/// The verifier's end of the mock API server.
pub type Handle = mock::Handle<Request<Body>, Response<Body>>;

/// A client whose requests reach `Handle`, with `namespace` as its default.
pub fn client(namespace: &str) -> (Client, Handle) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    (Client::new(service, namespace), handle)
}

/// Answers a request with `code` and a JSON body.
pub fn respond(send: SendResponse<Response<Body>>, code: u16, body: &Value) {
    let response = Response::builder()
        .status(StatusCode::from_u16(code).unwrap())
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap();
    send.send_response(response);
}

/// One request as the verifier saw it.
pub struct Seen {
    /// The query string (empty when none).
    pub query: String,
    /// The `content-type` header (empty when none).
    pub content_type: String,
    /// The JSON body (null when empty).
    pub body: Value,
    /// The means to answer it.
    pub send: SendResponse<Response<Body>>,
}

/// Waits for the next request, asserts its method and path, and returns the rest of it with
/// the means to answer it.
pub async fn expect(handle: &mut Handle, method: Method, path: &str) -> Seen {
    let (request, send) = handle
        .next_request()
        .await
        .unwrap_or_else(|| panic!("expected {method} {path}, but the client went away"));
    assert_eq!(request.method(), method, "method of {}", request.uri());
    assert_eq!(request.uri().path(), path);
    let query = request.uri().query().unwrap_or_default().to_owned();
    let content_type = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = request.into_body().collect_bytes().await.unwrap();
    let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
    Seen { query, content_type, body, send }
}

/// Ends a verifier's script: no further request may come before the client is dropped.
pub async fn no_more_requests(mut handle: Handle) {
    if let Some((request, _)) = handle.next_request().await {
        panic!("unexpected request {} {}", request.method(), request.uri());
    }
}
