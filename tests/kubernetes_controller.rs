//! `gc controller --kubernetes` end to end, against an API server in miniature
//! (tests/common/fake_apiserver.rs) instead of a cluster: the real binary, its sessions on a
//! real tmux server of their own. What a user of the cluster would see: custom resources
//! become running sessions, statuses and Events come back, a deleted resource stops its
//! session, an invalid one applies nothing and says why, and when the leader dies its
//! follower takes over the running sessions without restarting them. With the session backend
//! `kubernetes`, each session is a Pod, which the miniature API server's kubelet runs on this
//! machine; peek and nudge reach its tmux through `exec`.

#[path = "common/fake_apiserver.rs"]
mod fake_apiserver;
#[path = "common/tmux.rs"]
mod tmux_city;

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use assert_cmd::cargo::cargo_bin;
use fake_apiserver::FakeApiServer;
use serde_json::{Value, json};
use tmux_city::{PROMPT_AGENT, TmuxCity, wait_until};

const NS: &str = "gascity";
const LONG: Duration = Duration::from_secs(30);

/// An API server in miniature (with a kubelet running pods below `pods`, when given), a city
/// directory whose agents run `script` on a tmux server of the test's own, and a kubeconfig
/// for the server.
fn cluster(
    tag: &str,
    script: &str,
    pods: Option<&std::path::Path>,
) -> (FakeApiServer, TmuxCity, std::path::PathBuf) {
    let server = pods.map_or_else(FakeApiServer::start, FakeApiServer::with_kubelet);
    let city = TmuxCity::with_probe(tag, "tmux", script);
    let kubeconfig = city.path().join("kubeconfig");
    server.kubeconfig(&kubeconfig, NS);
    (server, city, kubeconfig)
}

/// The city's resources as the cluster holds them: the City and Provider of
/// [`TmuxCity::with_probe`] (sessions on the test's own tmux socket), and `agents`.
fn apply_city(server: &FakeApiServer, city: &TmuxCity, agents: &[&str]) {
    // The cluster declares the city; the directory holds only what its resources name.
    let _ = std::fs::remove_file(city.path().join("city.yaml"));
    server.apply(
        NS,
        json!({"apiVersion": "gascity.dev/v1alpha1", "kind": "City", "metadata": {"name": "town"},
               "spec": {"defaultProvider": "probe",
                        "session": {"backend": "tmux", "socket": city.socket, "startupTimeout": "20s"},
                        "controller": {"shutdownTimeout": "2s"}}}),
    );
    server.apply(
        NS,
        json!({"apiVersion": "gascity.dev/v1alpha1", "kind": "Provider", "metadata": {"name": "probe"},
               "spec": {"command": "scripts/agent.sh", "readyPromptPrefix": "ready> "}}),
    );
    for agent in agents {
        server.apply(NS, agent_resource(agent, "info"));
    }
}

fn agent_resource(name: &str, level: &str) -> Value {
    json!({"apiVersion": "gascity.dev/v1alpha1", "kind": "Agent",
           "metadata": {"name": name, "labels": {"team": "core"}},
           "spec": {"env": {"LOG_LEVEL": level}, "restartPolicy": {"onDrift": "Immediate"}}})
}

/// One replica of the controller, in its own process group, killed with it when dropped.
struct Replica {
    child: Child,
    log: std::path::PathBuf,
}

impl Replica {
    fn start(city: &TmuxCity, kubeconfig: &std::path::Path, identity: &str) -> Replica {
        let log = city.path().join(format!("{identity}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(cargo_bin("gc"))
            .arg("--city")
            .arg(city.path())
            .args(["controller", "--kubernetes", "--kubeconfig"])
            .arg(kubeconfig)
            .args(["--identity", identity])
            .args(["--lease-duration", "3s", "--renew-deadline", "2s", "--retry-period", "200ms"])
            .env_remove("GC_CITY")
            .env_remove("POD_NAMESPACE")
            .env("GC_LOG", "info")
            // Session pods must go to the cluster named by --kubeconfig, not a default one.
            .env("KUBECONFIG", "/nonexistent/kubeconfig")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0)
            .spawn()
            .unwrap();
        Replica { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, signal: &str) {
        // The whole process group: `--` so the negative pid is not read as a signal.
        let group = format!("-{}", self.child.id());
        Command::new("kill").args(["-s", signal, "--", &group]).output().unwrap();
    }

    /// Waits for the process to end; its exit code.
    fn wait(&mut self) -> Option<i32> {
        let mut code = None;
        wait_until("the controller to exit", LONG, || match self.child.try_wait().unwrap() {
            Some(status) => {
                code = Some(status.code().unwrap_or(-1));
                true
            }
            None => false,
        });
        code
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- {}\n{}", self.log.display(), self.log());
        }
        drop(KillGroup(self.child.id()));
        let _ = self.child.wait();
    }
}

/// Kills a process group when dropped (a test that fails leaves nothing running).
struct KillGroup(u32);

impl Drop for KillGroup {
    fn drop(&mut self) {
        let group = format!("-{}", self.0);
        let _ = Command::new("kill").args(["-s", "KILL", "--", &group]).output();
    }
}

fn session_pid(city: &TmuxCity, session: &str) -> Option<String> {
    let out = city.tmux(&["list-panes", "-t", session, "-F", "#{pane_pid}"]);
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn events_about(server: &FakeApiServer, name: &str) -> Vec<Value> {
    server
        .list("/apis/events.k8s.io/v1", "events", NS)
        .into_iter()
        .filter(|e| e["regarding"]["name"] == name)
        .collect()
}

#[test]
fn custom_resources_run_as_sessions_and_report_back() {
    let (server, city, kubeconfig) = cluster("k8sctl", PROMPT_AGENT, None);
    apply_city(&server, &city, &["worker"]);
    let mut replica = Replica::start(&city, &kubeconfig, "replica-a");

    wait_until("replica-a to hold the lease", LONG, || {
        server.lease_holder(NS, "gc-controller").as_deref() == Some("replica-a")
    });
    wait_until("the worker's session to run", LONG, || {
        session_pid(&city, "gc-town-worker").is_some()
    });
    // Its status, with the cluster's generation, through the status subresource.
    wait_until("the worker's status to say it is ready", LONG, || {
        let agent = server.resource(NS, "Agent", "worker").unwrap();
        agent["status"]["observedGeneration"] == 1 && agent["status"]["readySessions"] == 1
    });
    assert!(
        server.requests().iter().any(
            |(m, p, _)| m == "PATCH" && p.ends_with("/namespaces/gascity/agents/worker/status")
        ),
        "the status went through the status subresource"
    );
    // gc's events about the worker, as Events regarding its custom resource (with its uid).
    wait_until("an Event about the worker", LONG, || !events_about(&server, "worker").is_empty());
    let uid = server.resource(NS, "Agent", "worker").unwrap()["metadata"]["uid"].clone();
    let event = events_about(&server, "worker").remove(0);
    assert_eq!(event["regarding"]["uid"], uid);
    assert_eq!(event["reportingController"], "gc-controller");

    // A changed spec reaches the session (restarted for its new environment) and the status
    // says the new generation was observed.
    let before = session_pid(&city, "gc-town-worker").unwrap();
    server.apply(NS, agent_resource("worker", "debug"));
    wait_until("the worker's status to observe generation 2", LONG, || {
        server.resource(NS, "Agent", "worker").unwrap()["status"]["observedGeneration"] == 2
    });
    wait_until("the worker to restart for its new environment", LONG, || {
        session_pid(&city, "gc-town-worker").is_some_and(|p| p != before)
    });

    // Deleting the custom resource stops its session.
    server.delete(NS, "Agent", "worker");
    wait_until("the worker's session to stop", LONG, || {
        session_pid(&city, "gc-town-worker").is_none()
    });

    // SIGTERM: the lease is handed back at once, and the process ends cleanly.
    replica.signal("TERM");
    assert_eq!(replica.wait(), Some(0), "{}", replica.log());
    assert_eq!(server.lease_holder(NS, "gc-controller"), None, "the lease was handed back");
}

#[test]
fn an_invalid_resource_applies_nothing_and_is_reported_on_it() {
    let (server, city, kubeconfig) = cluster("k8sbad", PROMPT_AGENT, None);
    apply_city(&server, &city, &["worker"]);
    let _replica = Replica::start(&city, &kubeconfig, "replica-a");
    wait_until("the worker's session to run", LONG, || {
        session_pid(&city, "gc-town-worker").is_some()
    });

    // A new agent naming a provider nobody declares, beside a valid new one: neither applies.
    server.apply(
        NS,
        json!({"apiVersion": "gascity.dev/v1alpha1", "kind": "Agent", "metadata": {"name": "broken"},
               "spec": {"provider": "nosuch"}}),
    );
    server.apply(NS, agent_resource("helper", "info"));
    wait_until("a Warning Event on the broken agent", LONG, || {
        events_about(&server, "broken").iter().any(|e| e["type"] == "Warning")
    });
    let warning = events_about(&server, "broken").remove(0);
    let note = warning["note"].as_str().unwrap();
    assert!(note.contains("nosuch"), "the Event says what is wrong: {note}");
    assert!(note.contains("/spec/provider") || note.contains("provider"), "and where: {note}");
    assert!(session_pid(&city, "gc-town-helper").is_none(), "nothing of an invalid state applies");
    assert!(session_pid(&city, "gc-town-worker").is_some(), "the last good state keeps running");

    // Fixed: everything applies.
    server.delete(NS, "Agent", "broken");
    wait_until("the helper's session to run", LONG, || {
        session_pid(&city, "gc-town-helper").is_some()
    });
}

#[test]
fn a_follower_takes_over_the_running_sessions_when_the_leader_dies() {
    let (server, city, kubeconfig) = cluster("k8sha", PROMPT_AGENT, None);
    apply_city(&server, &city, &["worker"]);
    let mut leader = Replica::start(&city, &kubeconfig, "replica-a");
    wait_until("the worker's session to run", LONG, || {
        session_pid(&city, "gc-town-worker").is_some()
    });
    let follower = Replica::start(&city, &kubeconfig, "replica-b");
    wait_until("replica-b to wait for the lease", LONG, || {
        follower.log().contains("waiting to lead")
    });
    let pid = session_pid(&city, "gc-town-worker").unwrap();

    // The leader dies without handing the lease back (a node lost, an OOM kill).
    leader.signal("KILL");
    leader.wait();
    assert_eq!(server.lease_holder(NS, "gc-controller").as_deref(), Some("replica-a"));
    wait_until("replica-b to take the lease over", LONG, || {
        server.lease_holder(NS, "gc-controller").as_deref() == Some("replica-b")
    });
    // It serves the cluster: a new agent starts …
    server.apply(NS, agent_resource("helper", "info"));
    wait_until("the helper's session to run", LONG, || {
        session_pid(&city, "gc-town-helper").is_some()
    });
    // … and the worker's session was adopted, not restarted.
    assert_eq!(session_pid(&city, "gc-town-worker"), Some(pid));
}

/// An agent that says whether the Secret's variable reached it, then answers behind a prompt.
const POD_AGENT: &str = r#"#!/usr/bin/env bash
echo "token ${API_TOKEN:+present}"
while true; do
  printf 'ready> '
  IFS= read -r line || exit 0
  echo "heard $line"
done
"#;

#[test]
fn sessions_run_as_pods_and_are_reached_through_exec() {
    let pods = tempfile::tempdir().unwrap();
    let (server, city, kubeconfig) = cluster("k8spod", POD_AGENT, Some(pods.path()));
    server.secret(NS, "agent-creds", &[("API_TOKEN", "s3cret-value")]);
    apply_city(&server, &city, &[]);
    server.apply(
        NS,
        json!({"apiVersion": "gascity.dev/v1alpha1", "kind": "City", "metadata": {"name": "town"},
               "spec": {"defaultProvider": "probe",
                        "session": {"backend": "kubernetes", "startupTimeout": "20s",
                                    "kubernetes": {"image": "example.org/agents:1",
                                                   "secretName": "agent-creds"}},
                        "controller": {"shutdownTimeout": "2s"}}}),
    );
    server.apply(NS, agent_resource("worker", "info"));
    let _replica = Replica::start(&city, &kubeconfig, "replica-a");

    wait_until("the worker's pod to run", LONG, || {
        server
            .get("/api/v1", "pods", NS, "gc-town-worker")
            .is_some_and(|pod| pod["status"]["phase"] == "Running")
    });
    // Ready by its prompt, read through exec.
    wait_until("the worker's status to say it is ready", LONG, || {
        server.resource(NS, "Agent", "worker").unwrap()["status"]["readySessions"] == 1
    });
    let pod = server.get("/api/v1", "pods", NS, "gc-town-worker").unwrap();
    assert_eq!(pod["spec"]["containers"][0]["image"], "example.org/agents:1");
    assert!(!pod.to_string().contains("s3cret-value"), "no secret value in the pod spec: {pod}");

    let gc = |args: &[&str]| {
        let out = city.gc().env("KUBECONFIG", &kubeconfig).args(args).output().unwrap();
        assert!(out.status.success(), "gc {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(gc(&["session", "peek", "worker"]).contains("token present"), "the Secret reached it");
    // A nudge is typed literally: nothing in it is a shell's or tmux's to read.
    let text = "hello; $(touch pwned) #{pane_id}";
    gc(&["session", "nudge", "worker", text, "--delivery", "immediate"]);
    wait_until("the agent to hear the nudge", LONG, || {
        gc(&["session", "peek", "worker"]).contains(&format!("heard {text}"))
    });
    assert!(!city.path().join("pwned").exists());
    let execs: Vec<String> = server
        .requests()
        .into_iter()
        .filter(|(_, path, _)| path.ends_with("/pods/gc-town-worker/exec"))
        .map(|(_, _, command)| command.to_string())
        .collect();
    assert!(execs.iter().any(|c| c.contains("capture-pane")), "screens read through exec");
    assert!(execs.iter().any(|c| c.contains("send-keys")), "keys typed through exec");

    // `gc session attach` through exec: what is typed reaches the agent, and tmux's detach key
    // (C-b d) ends the attach, leaving the session running.
    let attach_log = city.path().join("attach.out");
    let mut attach = city
        .gc()
        .env("KUBECONFIG", &kubeconfig)
        .env("TERM", "xterm")
        .args(["session", "attach", "worker"])
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(&attach_log).unwrap())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
        .unwrap();
    let _kill_attach = KillGroup(attach.id());
    wait_until("the attached screen to show the agent", LONG, || {
        std::fs::read_to_string(&attach_log).is_ok_and(|s| s.contains("ready>"))
    });
    let keys = attach.stdin.as_mut().unwrap();
    keys.write_all(b"typed through attach\r").unwrap();
    wait_until("the agent to hear what was typed", LONG, || {
        gc(&["session", "peek", "worker"]).contains("heard typed through attach")
    });
    attach.stdin.as_mut().unwrap().write_all(b"\x02d").unwrap();
    let mut detached = None;
    wait_until("the attach to end on detach", LONG, || {
        detached = attach.try_wait().unwrap();
        detached.is_some()
    });
    assert!(detached.unwrap().success(), "a detach ends the attach cleanly");
    assert!(gc(&["session", "peek", "worker"]).contains("ready>"), "the session still runs");

    // A session whose program exits leaves its pod Failed with the exit status, and gc's
    // crash-loop policy (not the kubelet) starts it again: said as a Warning on the agent.
    city.write_script("scripts/crash.sh", "#!/usr/bin/env bash\necho giving up\nexit 3\n");
    server.apply(
        NS,
        json!({"apiVersion": "gascity.dev/v1alpha1", "kind": "Provider", "metadata": {"name": "crashy"},
               "spec": {"command": "scripts/crash.sh", "readyPromptPrefix": "ready> "}}),
    );
    server.apply(
        NS,
        json!({"apiVersion": "gascity.dev/v1alpha1", "kind": "Agent", "metadata": {"name": "crasher"},
               "spec": {"provider": "crashy"}}),
    );
    wait_until("a crash of the crasher reported on it", LONG, || {
        events_about(&server, "crasher").iter().any(|e| {
            e["type"] == "Warning"
                && e["reason"] == "ProcessExited"
                && e["note"].as_str().is_some_and(|n| n.contains("status 3"))
        })
    });
    wait_until("the crashed session's pod to be made again", LONG, || {
        let creates = server.requests().into_iter().filter(|(m, p, b)| {
            m == "POST" && p.ends_with("/pods") && b["metadata"]["name"] == "gc-town-crasher"
        });
        creates.count() >= 2
    });
    server.delete(NS, "Agent", "crasher");

    // Deleting the agent deletes its pod, and its processes end.
    server.delete(NS, "Agent", "worker");
    wait_until("the worker's pod to be deleted", LONG, || {
        server.get("/api/v1", "pods", NS, "gc-town-worker").is_none()
    });
    let tmux_dir = pods.path().join(format!("{NS}-gc-town-worker/tmux"));
    let listed = Command::new("tmux")
        .args(["-L", "gc", "list-sessions"])
        .env("TMUX_TMPDIR", tmux_dir)
        .output()
        .unwrap();
    assert!(!listed.status.success(), "the pod's tmux server is gone with it");
}

#[test]
fn an_idle_city_of_session_pods_costs_the_api_server_almost_nothing() {
    let pods = tempfile::tempdir().unwrap();
    let (server, city, kubeconfig) = cluster("k8sidle", PROMPT_AGENT, Some(pods.path()));
    apply_city(&server, &city, &[]);
    server.apply(
        NS,
        json!({"apiVersion": "gascity.dev/v1alpha1", "kind": "City", "metadata": {"name": "town"},
               "spec": {"defaultProvider": "probe",
                        "session": {"backend": "kubernetes", "startupTimeout": "20s",
                                    "kubernetes": {"image": "example.org/agents:1"}}}}),
    );
    let agents: Vec<String> = (1..=6).map(|i| format!("worker-{i}")).collect();
    for agent in &agents {
        server.apply(NS, agent_resource(agent, "info"));
    }
    let _replica = Replica::start(&city, &kubeconfig, "replica-a");
    wait_until("every agent to be ready", LONG, || {
        agents
            .iter()
            .all(|a| server.resource(NS, "Agent", a).unwrap()["status"]["readySessions"] == 1)
    });
    // Settled (the last statuses and Events of the start written), then a quiet window.
    std::thread::sleep(Duration::from_secs(2));
    let before = server.requests().len();
    std::thread::sleep(Duration::from_secs(6));
    let window: Vec<(String, String, Value)> = server.requests().split_off(before);
    let count = |method: &str, suffix: &str| {
        window.iter().filter(|(m, p, _)| m == method && p.ends_with(suffix)).count()
    };
    // The pods are watched: a listing only as the 5-second safety net, not one per agent or per
    // half second; nothing reaches into the pods (no exec) and nothing is written but the Lease.
    let lists = count("GET", "/namespaces/gascity/pods");
    assert!(lists <= 2, "{lists} pod listings in 6 idle seconds: {window:?}");
    assert_eq!(count("GET", "/exec"), 0, "{window:?}");
    let writes: Vec<_> =
        window.iter().filter(|(m, p, _)| m != "GET" && !p.contains("/leases/")).collect();
    assert!(writes.is_empty(), "an idle city writes nothing: {writes:?}");
}

#[test]
fn a_controller_started_before_the_city_serves_it_once_applied() {
    let (server, city, kubeconfig) = cluster("k8sempty", PROMPT_AGENT, None);
    let _ = std::fs::remove_file(city.path().join("city.yaml"));
    // The usual order: the controller's Deployment first, the city later.
    let replica = Replica::start(&city, &kubeconfig, "replica-a");
    wait_until("replica-a to lead", LONG, || {
        server.lease_holder(NS, "gc-controller").as_deref() == Some("replica-a")
    });
    // An agent alone (no City, no Provider yet) is not a city: nothing runs, and it is said.
    server.apply(NS, agent_resource("worker", "info"));
    wait_until("the agent to say why nothing runs", LONG, || {
        events_about(&server, "worker").iter().any(|e| {
            e["type"] == "Warning" && e["note"].as_str().is_some_and(|n| n.contains("City"))
        })
    });
    assert!(replica.log().contains("not valid"), "{}", replica.log());
    apply_city(&server, &city, &[]);
    wait_until("the worker's session to run", LONG, || {
        session_pid(&city, "gc-town-worker").is_some()
    });

    // The City moves its sessions to another tmux server: the controllers restart with it.
    let moved = format!("{}-moved", city.socket);
    let _moved_server = TmuxServer(moved.clone());
    server.apply(
        NS,
        json!({"apiVersion": "gascity.dev/v1alpha1", "kind": "City", "metadata": {"name": "town"},
               "spec": {"defaultProvider": "probe",
                        "session": {"backend": "tmux", "socket": moved, "startupTimeout": "20s"}}}),
    );
    wait_until("the worker's session on the City's new tmux server", LONG, || {
        Command::new("tmux")
            .args(["-L", &moved, "has-session", "-t", "gc-town-worker"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    assert!(replica.log().contains("controllers restarted"), "{}", replica.log());
}

/// Kills a tmux server of the test's own when dropped.
struct TmuxServer(String);

impl Drop for TmuxServer {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["-L", &self.0, "kill-server"]).output();
    }
}
