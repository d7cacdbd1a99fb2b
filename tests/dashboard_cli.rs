//! `gc dashboard` end to end: a real city on its own tmux socket, the dashboard as a child
//! process in its own process group (killed as a group when the test ends), and plain HTTP/1.1
//! over a socket: the API, the token and action header rules, an action through the CLI's own
//! nudge path, and the events stream resumed with `Last-Event-ID`.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

#[path = "common/tmux.rs"]
mod tmux_city;
use tmux_city::{PROMPT_AGENT, TmuxCity, git, wait_until};
#[path = "common/dashboard.rs"]
mod dashboard;
use dashboard::Dashboard;

const LONG: Duration = Duration::from_secs(20);

/// The next SSE event's `id` and parsed `data` (chunked transfer framing lines are skipped).
fn next_event(reader: &mut BufReader<TcpStream>) -> (u64, Value) {
    let (mut id, mut data) = (None, None);
    loop {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).unwrap() > 0, "the stream ended");
        let line = line.trim_end();
        if let Some(v) = line.strip_prefix("id: ") {
            id = v.parse().ok();
        } else if let Some(v) = line.strip_prefix("data: ") {
            data = serde_json::from_str(v).ok();
        } else if line.is_empty()
            && let (Some(id), Some(data)) = (id, data.take())
        {
            return (id, data);
        }
    }
}

fn started_city(tag: &str) -> TmuxCity {
    let city = TmuxCity::with_probe(tag, "tmux", PROMPT_AGENT);
    city.write(
        "agents/mayor.yaml",
        "apiVersion: gascity.dev/v1alpha1\nkind: Agent\nmetadata:\n  name: mayor\nspec: {}\n",
    );
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "30s"]);
    city
}

#[test]
fn the_api_shows_the_city_and_acts_only_with_token_and_header() {
    let city = started_city("dash");
    let dash = Dashboard::start(&city, "127.0.0.1:0");
    use std::os::unix::fs::PermissionsExt;
    let token_file = city.path().join(".gc/dashboard.token");
    assert_eq!(std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(&token_file).unwrap().trim(), dash.token);

    let status = dash.get("/api/v1/status");
    assert_eq!(status["controller"]["running"], true, "{status}");
    assert_eq!(status["agents"][0]["name"], "mayor");
    assert_eq!(status["agents"][0]["status"]["phase"], "Running", "{status}");
    let sessions = dash.get("/api/v1/sessions");
    assert_eq!(sessions[0]["name"], "gc-town-mayor", "{sessions}");
    assert_eq!(sessions[0]["state"], "ready", "{sessions}");
    let screen = dash.get("/api/v1/sessions/mayor/screen?lines=5");
    assert!(screen["screen"].as_str().unwrap().contains("ready>"), "{screen}");
    // A page elsewhere that points its own name at 127.0.0.1 (DNS rebinding) reads nothing.
    let (code, answer) = dash.request("GET", "/api/v1/status", &[("Host", "evil.example:80")], "");
    assert_eq!(code, 403, "{answer}");
    assert_eq!(dash.request("GET", "/api/v1/status", &[("Host", "localhost")], "").0, 200);
    let page = dash.request("GET", "/", &[], "");
    assert_eq!(page.0, 200);
    assert!(page.1.contains("/api/v1/events/stream"), "the page follows the events stream");

    // Actions: the token, then the header, are required, and nothing is typed before both.
    let body = r#"{"text": "hello from the dashboard", "delivery": "immediate"}"#;
    let path = "/api/v1/sessions/mayor/nudge";
    let bearer = format!("Bearer {}", dash.token);
    assert_eq!(dash.request("POST", path, &[], body).0, 401);
    assert_eq!(dash.request("POST", path, &[("Authorization", "Bearer wrong")], body).0, 401);
    assert_eq!(dash.request("POST", path, &[("Authorization", &bearer)], body).0, 403);
    assert!(!city.run(&["session", "peek", "mayor"]).stdout.windows(5).any(|w| w == b"heard"));
    let (code, answer) =
        dash.request("POST", path, &[("Authorization", &bearer), ("X-Gc-Action", "1")], body);
    assert_eq!(code, 200, "{answer}");
    assert!(answer.contains("\"delivered\""), "{answer}");
    wait_until("the agent to hear it", LONG, || {
        String::from_utf8_lossy(&city.run(&["session", "peek", "mayor"]).stdout)
            .contains("heard hello from the dashboard")
    });
    let sent = city.events("nudge.sent");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["payload"]["from"], "dashboard");
    // Bad input is a clear error, not a panic.
    let headers = [("Authorization", bearer.as_str()), ("X-Gc-Action", "1")];
    let (code, answer) =
        dash.request("POST", path, &headers, r#"{"text": "x", "delivery": "later"}"#);
    assert_eq!(code, 400, "{answer}");
    assert!(answer.contains("not one of"), "{answer}");
    let (code, answer) = dash.request("POST", "/api/v1/sessions/..%2Fx/nudge", &headers, body);
    assert_eq!(code, 400, "{answer}");
    assert_eq!(dash.request("GET", "/api/v1/nothing", &[], "").0, 404);
    city.run(&["stop"]);
}

#[test]
fn the_events_stream_resumes_after_last_event_id_and_carries_new_events() {
    let city = started_city("dashsse");
    let dash = Dashboard::start(&city, "127.0.0.1:0");
    let all: Vec<Value> = serde_json::from_value(dash.get("/api/v1/events?limit=1000")).unwrap();
    let last = all.last().unwrap()["seq"].as_u64().unwrap();
    assert!(last >= 3, "{all:?}");
    let resume_after = (last - 2).to_string();
    let mut reader = dash.stream(&[("Last-Event-ID", &resume_after)]);
    // The two missed events first, in order, with their seq as id...
    for expected in [last - 1, last] {
        let (id, event) = next_event(&mut reader);
        assert_eq!(id, expected);
        assert_eq!(event["seq"], expected);
    }
    // ...then new ones as they are written (here, by the CLI).
    city.run(&["session", "nudge", "mayor", "--delivery", "immediate", "live"]);
    let (id, event) = next_event(&mut reader);
    assert!(id > last);
    assert_eq!(event["type"], "nudge.sent", "{event}");
    city.run(&["stop"]);
}

#[test]
fn beyond_loopback_every_request_needs_the_token() {
    let city = started_city("dashwide");
    let dash = Dashboard::start(&city, "0.0.0.0:0");
    // Listening on every address, the URL it prints names this machine's loopback.
    assert!(dash.addr.starts_with("127.0.0.1:"), "{}", dash.addr);
    assert_eq!(dash.request("GET", "/api/v1/status", &[], "").0, 401);
    assert_eq!(dash.request("GET", "/", &[], "").0, 401);
    let (code, _) = dash.request("GET", &format!("/api/v1/status?token={}", dash.token), &[], "");
    assert_eq!(code, 200);
    let bearer = format!("Bearer {}", dash.token);
    assert_eq!(dash.request("GET", "/api/v1/sessions", &[("Authorization", &bearer)], "").0, 200);
    city.run(&["stop"]);
}

#[test]
fn the_work_api_slings_lists_closes_cooks_and_shows_an_agents_changes() {
    let city = TmuxCity::with_probe("dashwork", "tmux", PROMPT_AGENT);
    let repo = city.path().join("app");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README.md"), "hello\n").unwrap();
    git(&repo, &["add", "README.md"]);
    git(&repo, &["commit", "-q", "-m", "first"]);
    city.write(
        "work.yaml",
        "apiVersion: gascity.dev/v1alpha1\nkind: Rig\nmetadata:\n  name: app\nspec:\n  path: app\n---\n\
         apiVersion: gascity.dev/v1alpha1\nkind: Agent\nmetadata:\n  name: coder\nspec:\n  rig: app\n  \
         isolation: worktree\n---\n\
         apiVersion: gascity.dev/v1alpha1\nkind: Formula\nmetadata:\n  name: ship\nspec:\n  steps:\n    \
         - id: build\n      title: Build it\n    - id: test\n      title: Test it\n      needs: [build]\n",
    );
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "30s"]);
    let dash = Dashboard::start(&city, "127.0.0.1:0");
    let bearer = format!("Bearer {}", dash.token);
    let act = [("Authorization", bearer.as_str()), ("X-Gc-Action", "1")];
    let post = |path: &str, body: &str| {
        let (code, text) = dash.request("POST", path, &act, body);
        assert_eq!(code, 200, "{path}: {text}");
        serde_json::from_str::<Value>(&text).unwrap()
    };

    // Sling, as `gc sling`: a routed bead in the agent's rig store.
    let bead = post("/api/v1/sling", r#"{"agent": "coder", "work": "write the docs"}"#);
    let id = bead["id"].as_str().unwrap().to_owned();
    assert_eq!(bead["metadata"]["gc.routed_to"], "coder", "{bead}");
    let listed = dash.get("/api/v1/beads?rig=app");
    assert!(listed.as_array().unwrap().iter().any(|b| b["id"] == id.as_str()), "{listed}");
    assert_eq!(dash.request("GET", "/api/v1/beads?rig=nope", &[], "").0, 404);
    // Closed, as `gc bd close`: recorded, and then only listed with all=true.
    let closed = post(&format!("/api/v1/beads/{id}/close?rig=app"), r#"{"reason": "done"}"#);
    assert_eq!(closed["status"], "closed");
    assert_eq!(dash.get(&format!("/api/v1/beads/{id}?rig=app"))["status"], "closed");
    assert!(city.events("bead.closed").iter().any(|e| e["actor"] == "dashboard"));
    let open = dash.get("/api/v1/beads?rig=app");
    assert!(!open.as_array().unwrap().iter().any(|b| b["id"] == id.as_str()), "{open}");

    // A cooked formula is a molecule whose steps carry their dependencies.
    city.run(&["sling", "coder", "--formula", "ship"]);
    let molecules = dash.get("/api/v1/molecules?rig=app");
    let steps = molecules[0]["steps"].as_array().unwrap();
    let test = steps.iter().find(|s| s["title"] == "Test it").unwrap();
    let build = steps.iter().find(|s| s["title"] == "Build it").unwrap();
    let deps: Vec<&str> = test["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["depends_on_id"].as_str())
        .collect();
    assert!(deps.contains(&build["id"].as_str().unwrap()), "{test}");

    // Mail, as `gc mail inbox`.
    city.run(&["mail", "send", "coder", "--subject", "look at the docs"]);
    let inbox = dash.get("/api/v1/mail?agent=coder");
    assert_eq!(inbox[0]["title"], "look at the docs", "{inbox}");
    assert_eq!(dash.request("GET", "/api/v1/mail?agent=nobody", &[], "").0, 404);

    // Resources with their typed status, as `gc get -o json`.
    let agents = dash.get("/api/v1/resources/agent");
    assert_eq!(agents[0]["metadata"]["name"], "coder");
    assert_eq!(agents[0]["status"]["phase"], "Running", "{agents}");
    assert_eq!(dash.request("GET", "/api/v1/resources/widget", &[], "").0, 404);

    // The agent's changes: its worktree branch and edits against the rig.
    let tree = city.path().join(".gc/worktrees/app/coder");
    std::fs::write(tree.join("README.md"), "hello\nmore\n").unwrap();
    std::fs::write(tree.join("NOTES.md"), "new\n").unwrap();
    let changes = dash.get("/api/v1/agents/coder/changes");
    assert_eq!(changes[0]["member"], "coder", "{changes}");
    assert!(changes[0]["diff"].as_str().unwrap().contains("+more"), "{changes}");
    assert_eq!(changes[0]["untracked"], serde_json::json!(["NOTES.md"]));

    // Session stop and start, as `gc session stop|start`: held stopped, then back.
    let said = post("/api/v1/sessions/coder/stop", "");
    assert!(said["messages"][0].as_str().unwrap().contains("stays stopped"), "{said}");
    let sessions =
        |city: &TmuxCity| String::from_utf8(city.run(&["session", "list"]).stdout).unwrap();
    wait_until("coder stopped", LONG, || !sessions(&city).contains("gc-town-coder"));
    post("/api/v1/sessions/coder/start", "");
    wait_until("coder back", LONG, || sessions(&city).contains("gc-town-coder"));
    let reset = post("/api/v1/sessions/coder/reset", "");
    assert!(!reset["messages"].as_array().unwrap().is_empty(), "{reset}");
    let kinds: Vec<String> = ["session.stopped", "session.released", "session.reset"]
        .iter()
        .filter(|t| city.events(t).iter().any(|e| e["actor"] == "dashboard"))
        .map(|t| t.to_string())
        .collect();
    assert_eq!(kinds.len(), 3, "each action is an event by the dashboard: {kinds:?}");
    assert_eq!(dash.request("POST", "/api/v1/sessions/coder/explode", &act, "").0, 404);
    city.run(&["stop"]);
}
