//! kube's documented mocking pattern, shared by the Kubernetes tests: a `kube::Client` over a
//! `tower_test` mock service, whose other end (the [`Handle`]) a verifier task reads requests
//! from and answers.
#![allow(dead_code)] // each test crate uses its own subset

use http::{Request, Response, StatusCode};
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
