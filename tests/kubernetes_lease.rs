//! Leader election against a simulated API server, with kube's mocking pattern: a
//! `kube::Client` over a `tower_test` mock service, and a verifier task that checks each request
//! (method, path, body) and answers it. Time is a clock the tests move, so nothing sleeps.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gascity::kubernetes::lease::{Clock, LeaseElector, LeaseError, LeaseStatus, LeaseTiming};
use http::{Method, Request, Response};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::client::Body;
use kube::{Api, Client};
use serde_json::{Value, json};
use tokio::sync::watch;
use tower_test::mock::{self, SendResponse};

#[path = "common/kube_mock.rs"]
mod kube_mock;
use kube_mock::{Handle, respond};

const NAMESPACE: &str = "gascity";
const NAME: &str = "gc-controller";
const COLLECTION: &str = "/apis/coordination.k8s.io/v1/namespaces/gascity/leases";
const OBJECT: &str = "/apis/coordination.k8s.io/v1/namespaces/gascity/leases/gc-controller";

/// A clock the test moves by hand, shared by every replica in a test.
#[derive(Clone)]
struct ManualClock(Arc<Mutex<Timestamp>>);

impl ManualClock {
    fn new() -> Self {
        Self(Arc::new(Mutex::new(at(0))))
    }

    fn advance(&self, secs: i64) {
        let mut now = self.0.lock().unwrap();
        *now = now.checked_add(SignedDuration::from_secs(secs)).unwrap();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

/// Wall-clock time that follows tokio's (paused) clock, for the run-loop test.
struct TokioClock(tokio::time::Instant);

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        let elapsed = SignedDuration::try_from(self.0.elapsed()).unwrap();
        at(0).checked_add(elapsed).unwrap()
    }
}

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).unwrap()
}

fn elector<C: Clock>(name: &str, clock: C) -> (LeaseElector<C>, Handle) {
    let (client, handle) = kube_mock::client(NAMESPACE);
    let api: Api<Lease> = Api::namespaced(client, NAMESPACE);
    let elector = LeaseElector::new(api, NAME, name, LeaseTiming::default(), clock).unwrap();
    (elector, handle)
}

fn lease_json(holder: &str, version: &str, renewed: i64, transitions: i32) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": { "name": NAME, "namespace": NAMESPACE, "resourceVersion": version },
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": 15,
            "acquireTime": micro(at(0)),
            "renewTime": micro(at(renewed)),
            "leaseTransitions": transitions,
        }
    })
}

fn micro(time: Timestamp) -> String {
    time.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()
}

fn status(code: u16, reason: &str) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("leases.coordination.k8s.io \"{NAME}\": {reason}"),
        "reason": reason, "code": code,
    })
}

/// Waits for the next request, asserts its method and path, and returns its JSON body (null
/// for a GET) with the means to answer it.
async fn expect(
    handle: &mut Handle,
    method: Method,
    path: &str,
) -> (Value, SendResponse<Response<Body>>) {
    let (request, send) = handle
        .next_request()
        .await
        .unwrap_or_else(|| panic!("expected {method} {path}, but the client went away"));
    assert_eq!(request.method(), method, "method of {}", request.uri());
    assert_eq!(request.uri().path(), path);
    let body = request.into_body().collect_bytes().await.unwrap();
    let json = if body.is_empty() { Value::Null } else { serde_json::from_slice(&body).unwrap() };
    (json, send)
}

/// Asserts the elector made no request beyond those the verifier answered: once the elector
/// (and its client) is dropped, the mock sees its requests end.
async fn assert_no_more_requests<C: Clock>(elector: LeaseElector<C>, mut handle: Handle) {
    drop(elector);
    if let Some((request, _)) = handle.next_request().await {
        panic!("unexpected request {} {}", request.method(), request.uri());
    }
}

fn renew_time(body: &Value) -> Timestamp {
    body["spec"]["renewTime"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn no_lease_is_created_and_we_lead() {
    let clock = ManualClock::new();
    let (mut elector, mut handle) = elector("a", clock.clone());
    let leading = elector.subscribe();
    let server = tokio::spawn(async move {
        let (_, send) = expect(&mut handle, Method::GET, OBJECT).await;
        respond(send, 404, &status(404, "NotFound"));
        let (body, send) = expect(&mut handle, Method::POST, COLLECTION).await;
        assert_eq!(body["metadata"]["name"], NAME);
        assert_eq!(body["spec"]["holderIdentity"], "a");
        assert_eq!(body["spec"]["leaseDurationSeconds"], 15);
        assert_eq!(body["spec"]["leaseTransitions"], 0);
        assert_eq!(renew_time(&body), at(0));
        let mut created = body.clone();
        created["metadata"]["resourceVersion"] = json!("1");
        respond(send, 201, &created);
        handle
    });
    assert_eq!(elector.step().await.unwrap(), LeaseStatus::Leader);
    assert!(*leading.borrow());
    assert_no_more_requests(elector, server.await.unwrap()).await;
}

#[tokio::test]
async fn our_lease_is_renewed_with_the_version_read_and_a_later_renew_time() {
    let clock = ManualClock::new();
    clock.advance(2);
    let (mut elector, mut handle) = elector("a", clock.clone());
    let server = tokio::spawn(async move {
        let (_, send) = expect(&mut handle, Method::GET, OBJECT).await;
        respond(send, 200, &lease_json("a", "41", 0, 3));
        let (body, send) = expect(&mut handle, Method::PUT, OBJECT).await;
        assert_eq!(body["metadata"]["resourceVersion"], "41");
        assert_eq!(body["spec"]["holderIdentity"], "a");
        assert_eq!(body["spec"]["leaseTransitions"], 3, "a renewal is no transition");
        assert_eq!(renew_time(&body), at(2));
        assert_eq!(body["spec"]["acquireTime"], micro(at(0)));
        let mut stored = body.clone();
        stored["metadata"]["resourceVersion"] = json!("42");
        respond(send, 200, &stored);
        handle
    });
    assert_eq!(elector.step().await.unwrap(), LeaseStatus::Leader);
    assert!(elector.is_leader());
    assert_no_more_requests(elector, server.await.unwrap()).await;
}

#[tokio::test]
async fn a_live_lease_of_another_holder_is_followed_without_writing() {
    let clock = ManualClock::new();
    clock.advance(14);
    let (mut elector, mut handle) = elector("a", clock.clone());
    let server = tokio::spawn(async move {
        let (_, send) = expect(&mut handle, Method::GET, OBJECT).await;
        respond(send, 200, &lease_json("b", "9", 0, 0));
        handle
    });
    assert_eq!(
        elector.step().await.unwrap(),
        LeaseStatus::Follower { holder: "b".into(), until: at(15) }
    );
    assert!(!elector.is_leader());
    assert_no_more_requests(elector, server.await.unwrap()).await;
}

#[tokio::test]
async fn an_expired_lease_of_another_holder_is_taken_over() {
    let clock = ManualClock::new();
    clock.advance(15);
    let (mut elector, mut handle) = elector("a", clock.clone());
    let server = tokio::spawn(async move {
        let (_, send) = expect(&mut handle, Method::GET, OBJECT).await;
        respond(send, 200, &lease_json("b", "9", 0, 4));
        let (body, send) = expect(&mut handle, Method::PUT, OBJECT).await;
        assert_eq!(body["metadata"]["resourceVersion"], "9");
        assert_eq!(body["spec"]["holderIdentity"], "a");
        assert_eq!(body["spec"]["leaseTransitions"], 5);
        assert_eq!(body["spec"]["acquireTime"], micro(at(15)));
        assert_eq!(renew_time(&body), at(15));
        respond(send, 200, &body);
        handle
    });
    assert_eq!(elector.step().await.unwrap(), LeaseStatus::Leader);
    assert!(elector.is_leader());
    assert_no_more_requests(elector, server.await.unwrap()).await;
}

#[tokio::test]
async fn a_conflict_on_take_over_is_a_lost_race_without_retrying() {
    let clock = ManualClock::new();
    clock.advance(20);
    let (mut elector, mut handle) = elector("a", clock.clone());
    let server = tokio::spawn(async move {
        let (_, send) = expect(&mut handle, Method::GET, OBJECT).await;
        respond(send, 200, &lease_json("b", "9", 0, 4));
        let (_, send) = expect(&mut handle, Method::PUT, OBJECT).await;
        respond(send, 409, &status(409, "Conflict"));
        handle
    });
    assert_eq!(elector.step().await.unwrap(), LeaseStatus::LostRace);
    assert!(!elector.is_leader());
    assert_no_more_requests(elector, server.await.unwrap()).await;
}

#[tokio::test]
async fn a_conflict_on_create_is_a_lost_race() {
    let (mut elector, mut handle) = elector("a", ManualClock::new());
    let server = tokio::spawn(async move {
        let (_, send) = expect(&mut handle, Method::GET, OBJECT).await;
        respond(send, 404, &status(404, "NotFound"));
        let (_, send) = expect(&mut handle, Method::POST, COLLECTION).await;
        respond(send, 409, &status(409, "AlreadyExists"));
        handle
    });
    assert_eq!(elector.step().await.unwrap(), LeaseStatus::LostRace);
    assert!(!elector.is_leader());
    assert_no_more_requests(elector, server.await.unwrap()).await;
}

#[tokio::test]
async fn a_leader_whose_renewal_conflicts_steps_down_at_once() {
    let clock = ManualClock::new();
    let (mut elector, mut handle) = elector("a", clock.clone());
    let leading = elector.subscribe();
    let server = tokio::spawn(async move {
        let (_, send) = expect(&mut handle, Method::GET, OBJECT).await;
        respond(send, 200, &lease_json("a", "1", 0, 0));
        let (body, send) = expect(&mut handle, Method::PUT, OBJECT).await;
        respond(send, 200, &body);
        let (_, send) = expect(&mut handle, Method::GET, OBJECT).await;
        respond(send, 200, &lease_json("a", "2", 0, 0));
        let (_, send) = expect(&mut handle, Method::PUT, OBJECT).await;
        respond(send, 409, &status(409, "Conflict"));
        handle
    });
    assert_eq!(elector.step().await.unwrap(), LeaseStatus::Leader);
    assert!(*leading.borrow());
    clock.advance(2);
    assert_eq!(elector.step().await.unwrap(), LeaseStatus::LostRace);
    assert!(!*leading.borrow());
    assert_no_more_requests(elector, server.await.unwrap()).await;
}

#[tokio::test]
async fn a_leader_keeps_leading_through_errors_until_the_renew_deadline() {
    let clock = ManualClock::new();
    let (mut elector, mut handle) = elector("a", clock.clone());
    let server = tokio::spawn(async move {
        let (_, send) = expect(&mut handle, Method::GET, OBJECT).await;
        respond(send, 200, &lease_json("a", "1", 0, 0));
        let (body, send) = expect(&mut handle, Method::PUT, OBJECT).await;
        respond(send, 200, &body);
        // The API server fails every read from now on.
        while let Some((_, send)) = handle.next_request().await {
            respond(send, 503, &status(503, "ServiceUnavailable"));
        }
    });
    assert_eq!(elector.step().await.unwrap(), LeaseStatus::Leader);
    for elapsed in [2, 4, 6, 8] {
        clock.advance(2);
        assert!(matches!(elector.step().await, Err(LeaseError::Read { .. })));
        assert!(elector.is_leader(), "still leading {elapsed} s after renewing");
    }
    clock.advance(2);
    assert!(elector.step().await.is_err());
    assert!(!elector.is_leader(), "10 s without renewal: the renew deadline has passed");
    drop(elector);
    server.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_leader_whose_api_server_hangs_steps_down_at_the_renew_deadline() {
    let clock = TokioClock(tokio::time::Instant::now());
    let (mut elector, mut handle) = elector("a", clock);
    let server = tokio::spawn(async move {
        let (_, send) = expect(&mut handle, Method::GET, OBJECT).await;
        respond(send, 404, &status(404, "NotFound"));
        let (body, send) = expect(&mut handle, Method::POST, COLLECTION).await;
        respond(send, 201, &body);
        // Never answer again; keep the requests so they stay pending.
        let mut pending = Vec::new();
        while let Some(request) = handle.next_request().await {
            pending.push(request);
        }
    });
    let started = tokio::time::Instant::now();
    assert_eq!(elector.step().await.unwrap(), LeaseStatus::Leader);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let result = elector.step().await;
    assert!(
        matches!(result, Err(LeaseError::TimedOut { after, .. }) if after == Duration::from_secs(8)),
        "{result:?}"
    );
    assert_eq!(started.elapsed(), Duration::from_secs(10));
    assert!(!elector.is_leader());
    drop(elector);
    server.await.unwrap();
}

/// The API server's Lease, kept by the verifier: every write bumps `resourceVersion`, and a
/// write carrying a stale one is refused with 409, as the real API server does.
#[derive(Default)]
struct FakeApiServer {
    lease: Option<Value>,
    version: u64,
    /// (method, holderIdentity written) for every accepted write.
    writes: Vec<(Method, Value)>,
}

impl FakeApiServer {
    fn answer(&mut self, method: &Method, path: &str, body: Value) -> (u16, Value) {
        match (method.clone(), path) {
            (Method::GET, OBJECT) => match &self.lease {
                Some(lease) => (200, lease.clone()),
                None => (404, status(404, "NotFound")),
            },
            (Method::POST, COLLECTION) if self.lease.is_some() => {
                (409, status(409, "AlreadyExists"))
            }
            (Method::PUT, OBJECT)
                if self.lease.as_ref().map(|l| &l["metadata"]["resourceVersion"])
                    != Some(&body["metadata"]["resourceVersion"]) =>
            {
                (409, status(409, "Conflict"))
            }
            (Method::POST, COLLECTION) | (Method::PUT, OBJECT) => {
                self.version += 1;
                let mut stored = body;
                stored["metadata"]["resourceVersion"] = json!(self.version.to_string());
                self.writes.push((method.clone(), stored["spec"]["holderIdentity"].clone()));
                self.lease = Some(stored.clone());
                (if *method == Method::POST { 201 } else { 200 }, stored)
            }
            _ => panic!("unexpected request {method} {path}"),
        }
    }
}

async fn serve(state: Arc<Mutex<FakeApiServer>>, handle: Handle) {
    serve_holding_first_read(state, handle, None).await;
}

/// Serves like [`serve`], but answers the first GET only once every replica sharing `barrier`
/// has sent its own, so all of them read the same version and race to write it.
async fn serve_holding_first_read(
    state: Arc<Mutex<FakeApiServer>>,
    mut handle: Handle,
    mut barrier: Option<Arc<tokio::sync::Barrier>>,
) {
    while let Some((request, send)) = handle.next_request().await {
        if request.method() == Method::GET
            && let Some(barrier) = barrier.take()
        {
            barrier.wait().await;
        }
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let body = request.into_body().collect_bytes().await.unwrap();
        let body =
            if body.is_empty() { Value::Null } else { serde_json::from_slice(&body).unwrap() };
        let (code, answer) = state.lock().unwrap().answer(&method, &path, body);
        respond(send, code, &answer);
    }
}

fn both_lead(a: &watch::Receiver<bool>, b: &watch::Receiver<bool>) -> bool {
    *a.borrow() && *b.borrow()
}

#[tokio::test]
async fn with_two_replicas_one_leads_and_the_other_takes_over_when_it_stops() {
    let clock = ManualClock::new();
    let state = Arc::new(Mutex::new(FakeApiServer::default()));
    let (mut a, handle_a) = elector("a", clock.clone());
    let (mut b, handle_b) = elector("b", clock.clone());
    let (a_leads, b_leads) = (a.subscribe(), b.subscribe());
    let server_a = tokio::spawn(serve(state.clone(), handle_a));
    let server_b = tokio::spawn(serve(state.clone(), handle_b));

    assert_eq!(a.step().await.unwrap(), LeaseStatus::Leader);
    assert!(!both_lead(&a_leads, &b_leads));
    assert!(
        matches!(b.step().await.unwrap(), LeaseStatus::Follower { holder, .. } if holder == "a")
    );
    assert!(*a_leads.borrow() && !*b_leads.borrow());

    // Both keep stepping every retry period: A renews, B follows.
    for _ in 0..5 {
        clock.advance(2);
        assert_eq!(a.step().await.unwrap(), LeaseStatus::Leader);
        assert!(!both_lead(&a_leads, &b_leads));
        assert!(!b.step().await.unwrap().is_leader());
        assert!(!both_lead(&a_leads, &b_leads));
    }
    let last_renewal = clock.now();

    // A stops. Its lease runs until its last renewal plus 15 s; B follows until then.
    drop(a);
    server_a.await.unwrap();
    assert!(!*a_leads.borrow(), "a dropped elector does not lead");
    let mut took_over_at = None;
    for _ in 0..10 {
        clock.advance(2);
        let status = b.step().await.unwrap();
        assert!(!both_lead(&a_leads, &b_leads));
        if status.is_leader() {
            took_over_at = Some(clock.now());
            break;
        }
        assert!(matches!(status, LeaseStatus::Follower { holder, .. } if holder == "a"));
    }
    let took_over_at = took_over_at.expect("b took over");
    let waited = took_over_at.duration_since(last_renewal).as_secs();
    assert!((15..17).contains(&waited), "took over {waited} s after a's last renewal");
    assert!(*b_leads.borrow());

    {
        let state = state.lock().unwrap();
        let lease = state.lease.as_ref().unwrap();
        assert_eq!(lease["spec"]["holderIdentity"], "b");
        assert_eq!(lease["spec"]["leaseTransitions"], 1);
        let writers: Vec<&Value> = state.writes.iter().map(|(_, holder)| holder).collect();
        assert_eq!(writers.iter().filter(|h| **h == "a").count(), 6);
        assert_eq!(writers.last(), Some(&&json!("b")));
        assert_eq!(state.writes[0].0, Method::POST);
    }
    drop(b);
    server_b.await.unwrap();
}

#[tokio::test]
async fn when_two_replicas_race_for_an_expired_lease_exactly_one_wins() {
    let clock = ManualClock::new();
    let state = Arc::new(Mutex::new(FakeApiServer::default()));
    let (mut a, handle_a) = elector("a", clock.clone());
    let (mut b, handle_b) = elector("b", clock.clone());
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let server_a = serve_holding_first_read(state.clone(), handle_a, Some(barrier.clone()));
    let server_b = serve_holding_first_read(state.clone(), handle_b, Some(barrier));
    let servers = tokio::spawn(async { tokio::join!(server_a, server_b) });
    // The expired lease of a third replica.
    state.lock().unwrap().lease = Some(lease_json("c", "0", 0, 2));
    clock.advance(30);

    // Both read the same version concurrently; the API server accepts one write.
    let (ra, rb) = tokio::join!(a.step(), b.step());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!([ra.is_leader(), rb.is_leader()].iter().filter(|l| **l).count(), 1, "{ra:?} {rb:?}");
    assert!(
        ra == LeaseStatus::LostRace || rb == LeaseStatus::LostRace,
        "the loser's write was refused: {ra:?} {rb:?}"
    );
    assert!(a.is_leader() != b.is_leader());
    let lease = state.lock().unwrap().lease.clone().unwrap();
    assert_eq!(lease["spec"]["leaseTransitions"], 3);
    assert_eq!(state.lock().unwrap().writes.len(), 1);
    drop((a, b));
    servers.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_run_loop_leads_renews_and_hands_the_lease_back_on_shutdown() {
    let state = Arc::new(Mutex::new(FakeApiServer::default()));
    let (a, handle) = elector("a", TokioClock(tokio::time::Instant::now()));
    let mut leading = a.subscribe();
    let server = tokio::spawn(serve(state.clone(), handle));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(a.run(async {
        let _ = stopped.await;
    }));

    leading.wait_for(|leads| *leads).await.unwrap();
    // Let a few retry periods pass on tokio's paused clock: each renews once.
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert!(*leading.borrow());
    let renewals = state.lock().unwrap().writes.len();
    assert_eq!(renewals, 4, "created at 0 s, renewed at 2, 4 and 6 s");

    stop.send(()).unwrap();
    run.await.unwrap();
    assert!(!*leading.borrow());
    server.await.unwrap();
    let state = state.lock().unwrap();
    let lease = state.lease.as_ref().unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], Value::Null, "handed back on shutdown");
    assert_eq!(state.writes.len(), 5);
}

#[tokio::test]
async fn a_lease_without_resource_version_is_refused_not_overwritten() {
    let clock = ManualClock::new();
    clock.advance(20);
    let (mut elector, mut handle) = elector("a", clock);
    let server = tokio::spawn(async move {
        let (_, send) = expect(&mut handle, Method::GET, OBJECT).await;
        let mut lease = lease_json("b", "1", 0, 0);
        lease["metadata"].as_object_mut().unwrap().remove("resourceVersion");
        respond(send, 200, &lease);
        handle
    });
    assert!(matches!(elector.step().await, Err(LeaseError::MissingResourceVersion { .. })));
    assert!(!elector.is_leader());
    assert_no_more_requests(elector, server.await.unwrap()).await;
}

#[tokio::test]
async fn a_malformed_lease_is_an_error() {
    let (mut elector, mut handle) = elector("a", ManualClock::new());
    let server = tokio::spawn(async move {
        let (_, send) = expect(&mut handle, Method::GET, OBJECT).await;
        respond(send, 200, &json!({"kind": "Lease", "spec": {"leaseDurationSeconds": "soon"}}));
        handle
    });
    assert!(matches!(elector.step().await, Err(LeaseError::Read { .. })));
    assert_no_more_requests(elector, server.await.unwrap()).await;
}

#[test]
fn bad_timing_and_empty_identity_are_refused() {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    // Client::new spawns its buffer worker, so it needs a runtime.
    let _guard = runtime.enter();
    let (service, _handle) = mock::pair::<Request<Body>, Response<Body>>();
    let api: Api<Lease> = Api::namespaced(Client::new(service, NAMESPACE), NAMESPACE);
    let bad = LeaseTiming { renew_deadline: Duration::from_secs(20), ..LeaseTiming::default() };
    assert!(matches!(
        LeaseElector::new(api.clone(), NAME, "a", bad, ManualClock::new()),
        Err(LeaseError::InvalidTiming(_))
    ));
    assert!(matches!(
        LeaseElector::new(api, NAME, "", LeaseTiming::default(), ManualClock::new()),
        Err(LeaseError::EmptyIdentity)
    ));
}
