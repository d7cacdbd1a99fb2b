//! `gc dashboard` end to end: a real city on its own tmux socket, the dashboard as a child
//! process in its own process group (killed as a group when the test ends), and plain HTTP/1.1
//! over a socket: the API, the token and action header rules, an action through the CLI's own
//! nudge path, and the events stream resumed with `Last-Event-ID`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::Value;

#[path = "common/tmux.rs"]
mod tmux_city;
use tmux_city::{TmuxCity, wait_until};

const AGENT_SCRIPT: &str = r#"#!/usr/bin/env bash
while true; do
  printf 'ready> '
  IFS= read -r line || exit 0
  echo "heard $line"
done
"#;

const LONG: Duration = Duration::from_secs(20);

/// A running `gc dashboard`, killed with its whole process group when dropped.
struct Dashboard {
    child: Child,
    /// Kept open: a closed pipe would end the dashboard at its next line of output.
    _stdout: BufReader<std::process::ChildStdout>,
    /// `127.0.0.1:PORT`.
    addr: String,
    token: String,
}

impl Dashboard {
    fn start(city: &TmuxCity, listen: &str) -> Dashboard {
        let mut child = city
            .gc()
            .args(["dashboard", "--listen", listen])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let mut first = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut first).unwrap();
        // `dashboard: http://HOST:PORT/?token=TOKEN`
        let url = first.trim().strip_prefix("dashboard: http://").expect("the URL is printed");
        let (addr, token) = url.split_once("/?token=").unwrap();
        Dashboard { child, _stdout: stdout, addr: addr.to_owned(), token: token.to_owned() }
    }

    /// One request; returns the status code and the body.
    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        stream.set_read_timeout(Some(LONG)).unwrap();
        let mut text =
            format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", self.addr);
        for (name, value) in headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() {
            text.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        text.push_str("\r\n");
        text.push_str(body);
        stream.write_all(text.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let code = response[9..12].parse().unwrap();
        let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
        (code, body)
    }

    fn get(&self, path: &str) -> Value {
        let (code, body) = self.request("GET", path, &[], "");
        assert_eq!(code, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
    }

    /// Opens the events stream with `headers`; returns a reader positioned after the headers.
    fn stream(&self, headers: &[(&str, &str)]) -> BufReader<TcpStream> {
        let stream = TcpStream::connect(&self.addr).unwrap();
        stream.set_read_timeout(Some(LONG)).unwrap();
        let mut text = format!("GET /api/v1/events/stream HTTP/1.1\r\nHost: {}\r\n", self.addr);
        for (name, value) in headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("\r\n");
        (&stream).write_all(text.as_bytes()).unwrap();
        let mut reader = BufReader::new(stream);
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                return reader;
            }
        }
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        // The whole group: the dashboard and anything it started.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

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
    let city = TmuxCity::with_probe(tag, "tmux", AGENT_SCRIPT);
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
