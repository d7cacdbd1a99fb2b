//! Against a real Kubernetes cluster (kind, k3d or any), when `GC_TEST_KUBECONFIG` names its
//! kubeconfig; skipped otherwise, and failing instead of skipping when
//! `GC_TEST_REQUIRE_KUBERNETES=1`. In a namespace of its own, deleted afterwards:
//!
//! - gc's CRDs install and become established (server-side apply, as `kubectl apply` would);
//! - every resource of the sample city is accepted by the API server as it is, and reads back
//!   (through `mirror::document`) as the document its file holds;
//! - two leader electors on one Lease: one leads, the other follows naming it; when the leader
//!   hands the lease back, the other takes it;
//! - `gc controller --kubernetes`, run here against the cluster, serves a city declared there:
//!   an Agent becomes a session (on this machine's tmux), its status comes back through the
//!   status subresource, deleting it stops the session, and SIGTERM hands the lease back.
//!
//! CRDs this test installed are left in the cluster (other namespaces may use them); it
//! never deletes CRDs it found there.

use std::time::{Duration, Instant};

use gascity::api::Kind;
use gascity::kubernetes::lease::{LeaseElector, LeaseStatus, LeaseTiming, SystemClock};
use gascity::kubernetes::{crd, mirror};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::DynamicObject;
use serde_json::{Value, json};

#[path = "common/documents.rs"]
mod documents;
#[path = "common/tmux.rs"]
mod tmux_city;
use documents::sample_city_documents;

/// The cluster's client, or `None` (skip) when no kubeconfig is given.
async fn client() -> Option<kube::Client> {
    let Some(path) = std::env::var_os("GC_TEST_KUBECONFIG") else {
        let required = std::env::var("GC_TEST_REQUIRE_KUBERNETES").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "a cluster is required (GC_TEST_REQUIRE_KUBERNETES=1): set GC_TEST_KUBECONFIG"
        );
        eprintln!("note: GC_TEST_KUBECONFIG is not set; skipping the real-cluster test");
        return None;
    };
    let kubeconfig = Kubeconfig::read_from(&path).expect("GC_TEST_KUBECONFIG is a kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("the kubeconfig names a usable context");
    Some(kube::Client::try_from(config).expect("a client for the cluster"))
}

async fn wait_established(api: &Api<CustomResourceDefinition>, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let crd = api.get(name).await.unwrap();
        let established = crd
            .status
            .iter()
            .flat_map(|s| s.conditions.iter().flatten())
            .any(|c| c.type_ == "Established" && c.status == "True");
        if established {
            return;
        }
        assert!(Instant::now() < deadline, "CRD {name} never became established");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Deletes the namespace when dropped (also when an assertion fails).
struct TestNamespace {
    client: kube::Client,
    name: String,
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        let (client, name) = (self.client.clone(), self.name.clone());
        // A fresh runtime: Drop may run while the test's runtime is unwinding.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async {
                    let _ =
                        Api::<Namespace>::all(client).delete(&name, &DeleteParams::default()).await;
                });
            }
        })
        .join();
    }
}

/// The CRDs, installed as `kubectl apply` would (server-side apply), once established.
async fn install_crds(client: &kube::Client) {
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    let apply = PatchParams::apply("gc-test").force();
    for definition in crd::definitions().unwrap() {
        let name = definition.metadata.name.clone().unwrap();
        crds.patch(&name, &apply, &Patch::Apply(&definition)).await.unwrap();
        wait_established(&crds, &name).await;
    }
}

/// A namespace of the test's own, `gc-test-<pid>-<tag>`, deleted when the guard drops.
async fn test_namespace(client: &kube::Client, tag: &str) -> (String, TestNamespace) {
    let ns = format!("gc-test-{}-{tag}", std::process::id());
    let namespaces = Api::<Namespace>::all(client.clone());
    let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
    namespaces.create(&PostParams::default(), &namespace).await.unwrap();
    (ns.clone(), TestNamespace { client: client.clone(), name: ns })
}

#[tokio::test]
async fn the_city_is_served_by_a_real_cluster() {
    let Some(client) = client().await else { return };
    let (ns, _cleanup) = test_namespace(&client, "crds").await;

    install_crds(&client).await;

    // Every sample-city resource is accepted as it is and reads back as its file's document.
    let docs: Vec<Value> = sample_city_documents().into_iter().map(|(_, doc)| doc).collect();
    assert!(docs.len() >= 8, "read {} documents", docs.len());
    for doc in &docs {
        let kind = doc["kind"].as_str().and_then(Kind::from_kind_field).unwrap();
        let name = doc["metadata"]["name"].as_str().unwrap();
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), &ns, &mirror::api_resource(kind));
        let applied = api
            .patch(name, &PatchParams::apply("gc-test"), &Patch::Apply(doc))
            .await
            .unwrap_or_else(|e| panic!("{kind}/{name} refused by the API server: {e}"));
        assert_eq!(&mirror::document(kind, &applied).unwrap(), doc, "{kind}/{name}");
        let read = api.get(name).await.unwrap();
        assert_eq!(&mirror::document(kind, &read).unwrap(), doc, "{kind}/{name} read back");
    }

    // Two replicas, one Lease: one leads; after it hands the lease back, the other leads.
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
    let timing = LeaseTiming::default();
    let mut a =
        LeaseElector::new(leases.clone(), "gc-controller", "replica-a", timing, SystemClock)
            .unwrap();
    let b = LeaseElector::new(leases, "gc-controller", "replica-b", timing, SystemClock).unwrap();
    assert_eq!(a.try_acquire_or_renew().await.unwrap(), LeaseStatus::Leader);
    match b.try_acquire_or_renew().await.unwrap() {
        LeaseStatus::Follower { holder, .. } => assert_eq!(holder, "replica-a"),
        other => panic!("replica-b should follow replica-a, got {other:?}"),
    }
    assert!(a.release().await.unwrap(), "replica-a hands the lease back");
    assert_eq!(b.try_acquire_or_renew().await.unwrap(), LeaseStatus::Leader);
}

#[tokio::test]
async fn gc_controller_serves_a_city_declared_in_a_real_cluster() {
    use std::os::unix::process::CommandExt;
    let Some(client) = client().await else { return };
    install_crds(&client).await;
    let (ns, _cleanup) = test_namespace(&client, "controller").await;
    let city = tmux_city::TmuxCity::with_probe("k8sreal", "tmux", tmux_city::PROMPT_AGENT);
    let _ = std::fs::remove_file(city.path().join("city.yaml"));
    let apply = |kind: Kind, doc: Value| {
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), &ns, &mirror::api_resource(kind));
        async move {
            let name = doc["metadata"]["name"].as_str().unwrap().to_owned();
            api.patch(&name, &PatchParams::apply("gc-test"), &Patch::Apply(&doc)).await.unwrap();
        }
    };
    let gv = "gascity.dev/v1alpha1";
    apply(
        Kind::City,
        json!({"apiVersion": gv, "kind": "City", "metadata": {"name": "town"},
        "spec": {"defaultProvider": "probe", "session": {"backend": "tmux", "socket": city.socket,
                 "startupTimeout": "20s"}, "controller": {"shutdownTimeout": "2s"}}}),
    )
    .await;
    apply(
        Kind::Provider,
        json!({"apiVersion": gv, "kind": "Provider", "metadata": {"name": "probe"},
        "spec": {"command": "scripts/agent.sh", "readyPromptPrefix": "ready> "}}),
    )
    .await;
    apply(
        Kind::Agent,
        json!({"apiVersion": gv, "kind": "Agent", "metadata": {"name": "worker"},
        "spec": {}}),
    )
    .await;

    let kubeconfig = std::env::var_os("GC_TEST_KUBECONFIG").unwrap();
    let mut controller = std::process::Command::new(assert_cmd::cargo::cargo_bin("gc"))
        .arg("--city")
        .arg(city.path())
        .args(["controller", "--kubernetes", "--kubeconfig"])
        .arg(&kubeconfig)
        .args(["-n", &ns, "--identity", "gc-test"])
        .stdin(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    struct Kill(u32);
    impl Drop for Kill {
        fn drop(&mut self) {
            let group = format!("-{}", self.0);
            let _ = std::process::Command::new("kill").args(["-s", "KILL", "--", &group]).output();
        }
    }
    let _kill = Kill(controller.id());

    let agents: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &ns, &mirror::api_resource(Kind::Agent));
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let agent = agents.get("worker").await.unwrap();
        if agent.data["status"]["readySessions"] == 1 {
            assert_eq!(agent.data["status"]["observedGeneration"], 1);
            break;
        }
        assert!(Instant::now() < deadline, "the worker never became ready: {:?}", agent.data);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(city.tmux(&["has-session", "-t", "gc-town-worker"]).status.success());

    agents.delete("worker", &DeleteParams::default()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while city.tmux(&["has-session", "-t", "gc-town-worker"]).status.success() {
        assert!(Instant::now() < deadline, "the deleted agent's session still runs");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let group = format!("-{}", controller.id());
    std::process::Command::new("kill").args(["-s", "TERM", "--", &group]).output().unwrap();
    let status = tokio::task::spawn_blocking(move || controller.wait()).await.unwrap().unwrap();
    assert!(status.success(), "SIGTERM ends the controller cleanly: {status}");
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
    let lease = leases.get("gc-controller").await.unwrap();
    let holder = lease.spec.and_then(|s| s.holder_identity).unwrap_or_default();
    assert!(holder.is_empty(), "the lease was handed back, not left to expire: {holder}");
}
