//! Against a real Kubernetes cluster (kind, k3d or any), when `GC_TEST_KUBECONFIG` names its
//! kubeconfig; skipped otherwise, and failing instead of skipping when
//! `GC_TEST_REQUIRE_KUBERNETES=1`. In a namespace of its own, deleted afterwards:
//!
//! - gc's CRDs install and become established (server-side apply, as `kubectl apply` would);
//! - every resource of the sample city is accepted by the API server as it is, and reads back
//!   (through `mirror::document`) as the document its file holds;
//! - two leader electors on one Lease: one leads, the other follows naming it; when the leader
//!   hands the lease back, the other takes it.
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

#[tokio::test]
async fn the_city_is_served_by_a_real_cluster() {
    let Some(client) = client().await else { return };
    let ns = format!("gc-test-{}", std::process::id());
    let namespaces = Api::<Namespace>::all(client.clone());
    let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
    namespaces.create(&PostParams::default(), &namespace).await.unwrap();
    let _cleanup = TestNamespace { client: client.clone(), name: ns.clone() };

    // The CRDs install as `kubectl apply` would (server-side apply) and become established.
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    let apply = PatchParams::apply("gc-test").force();
    for definition in crd::definitions().unwrap() {
        let name = definition.metadata.name.clone().unwrap();
        crds.patch(&name, &apply, &Patch::Apply(&definition)).await.unwrap();
        wait_established(&crds, &name).await;
    }

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
