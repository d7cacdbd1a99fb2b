//! The Messages API stand-in (`tests/common/messages_standin.rs`): its HTTP handling and its
//! bead-worker script. The real Claude Code runs against it in `tests/agent_claude.rs`.

#[path = "common/messages_standin.rs"]
mod messages_standin;

use std::io::{Read, Write};
use std::net::TcpStream;

use messages_standin::{NO_WORK, Reply, Standin};
use serde_json::{Value, json};

/// Sends raw bytes, then reads one response whose body has a Content-Length.
fn exchange(stream: &mut TcpStream, request: &[u8]) -> (u16, String) {
    stream.write_all(request).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..at]).into_owned();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase().strip_prefix("content-length:").map(str::to_owned)
                })
                .map_or(0, |v| v.trim().parse().unwrap());
            if buf.len() >= at + 4 + length {
                let status = head[9..12].parse().unwrap();
                let body = String::from_utf8_lossy(&buf[at + 4..at + 4 + length]).into_owned();
                buf.drain(..at + 4 + length);
                return (status, body);
            }
        }
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "connection closed early: {}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn post(path: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn tool_request(messages: Value, stream: bool) -> String {
    json!({ "model": "m", "stream": stream, "tools": [{ "name": "Bash" }], "messages": messages })
        .to_string()
}

#[test]
fn answers_messages_count_tokens_and_others_on_one_connection() {
    let standin = Standin::start(Box::new(|_| Reply::bash("toolu_x_1", "echo hi")));
    let mut conn = TcpStream::connect(("127.0.0.1", standin.port())).unwrap();

    let (status, body) =
        exchange(&mut conn, &post("/v1/messages?beta=true", &tool_request(json!([]), true)));
    assert_eq!(status, 200);
    for event in ["message_start", "content_block_start", "message_delta", "message_stop"] {
        assert!(body.contains(&format!("event: {event}\n")), "{body}");
    }
    assert!(body.contains(r#""partial_json":"{\"command\":\"echo hi\"}""#), "{body}");
    assert!(body.contains(r#""stop_reason":"tool_use""#), "{body}");

    let (status, body) =
        exchange(&mut conn, &post("/v1/messages", &tool_request(json!([]), false)));
    assert_eq!(status, 200);
    let reply: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(reply["content"][0]["input"]["command"], "echo hi");

    // No tools: a side request, answered with text whatever the script says.
    let (_, body) = exchange(&mut conn, &post("/v1/messages", r#"{"messages":[]}"#));
    let reply: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(reply["content"][0]["type"], "text");
    assert_eq!(reply["stop_reason"], "end_turn");

    let (status, body) = exchange(&mut conn, &post("/v1/messages/count_tokens", "{}"));
    assert_eq!(status, 200);
    assert!(serde_json::from_str::<Value>(&body).unwrap()["input_tokens"].is_u64());

    let (status, _) = exchange(&mut conn, b"GET /elsewhere HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 404);

    // A HEAD answer has no body, so the connection stays usable.
    conn.write_all(b"HEAD /api/hello HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        conn.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 200 "), "{}", String::from_utf8_lossy(&head));
    let (status, _) = exchange(&mut conn, &post("/v1/messages", &tool_request(json!([]), false)));
    assert_eq!(status, 200);

    // A side request asking for JSON gets JSON.
    let title = json!({ "tools": [], "messages": [], "output_config": { "format": {
        "type": "json_schema",
        "schema": { "type": "object", "properties": { "title": { "type": "string" } }, "required": ["title"] },
    }}});
    let (_, body) = exchange(&mut conn, &post("/v1/messages", &title.to_string()));
    let reply: Value = serde_json::from_str(&body).unwrap();
    let text: Value = serde_json::from_str(reply["content"][0]["text"].as_str().unwrap()).unwrap();
    assert!(text["title"].is_string(), "{text}");

    // A chunked body.
    let body = tool_request(json!([{ "role": "user", "content": "chunked hello" }]), false);
    let (head, tail) = body.split_at(10);
    let chunked = format!(
        "POST /v1/messages HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{head}\r\n{:x}\r\n{tail}\r\n0\r\n\r\n",
        head.len(),
        tail.len()
    );
    assert_eq!(exchange(&mut conn, chunked.as_bytes()).0, 200);

    assert_eq!(standin.requests().len(), 6);
    assert_eq!(standin.tool_requests().len(), 4);
    assert!(standin.bodies_contain("chunked hello"));
    assert_eq!(standin.paths()[0], "POST /v1/messages?beta=true");
    assert!(standin.paths().contains(&"HEAD /api/hello".to_owned()));
}

#[test]
fn malformed_requests_get_400() {
    let standin = Standin::bead_worker();
    let mut conn = TcpStream::connect(("127.0.0.1", standin.port())).unwrap();
    assert_eq!(exchange(&mut conn, &post("/v1/messages", "not json")).0, 400);
    let mut conn = TcpStream::connect(("127.0.0.1", standin.port())).unwrap();
    assert_eq!(
        exchange(&mut conn, b"POST /v1/messages HTTP/1.1\r\nContent-Length: x\r\n\r\n").0,
        400
    );
    let mut conn = TcpStream::connect(("127.0.0.1", standin.port())).unwrap();
    assert_eq!(exchange(&mut conn, b"garbage\r\n\r\n").0, 400);
    assert!(standin.requests().is_empty());
}

#[test]
fn dropping_stops_it() {
    let standin = Standin::bead_worker();
    let port = standin.port();
    let _idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
    drop(standin);
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

/// The next reply of the bead worker after `messages`.
fn worker(messages: Value) -> Reply {
    let script = messages_standin::bead_worker_script();
    script(&json!({ "tools": [{}], "messages": messages }))
}

fn result(id: &str, content: Value, is_error: bool) -> Value {
    json!({ "role": "user", "content": [
        { "type": "tool_result", "tool_use_id": id, "content": content, "is_error": is_error }
    ]})
}

#[test]
fn bead_worker_walks_hook_claim_close() {
    let prompt = json!({ "role": "user", "content": "go" });
    let Reply::Bash { id: hook, command } = worker(json!([prompt])) else { panic!() };
    assert_eq!(command, "gc hook --json");

    let bead = json!([{ "type": "text", "text": "{\"id\":\"gc-1.2\",\"title\":\"x\"}" }]);
    let Reply::Bash { id: claim, command } =
        worker(json!([prompt, {}, result(&hook, bead, false)]))
    else {
        panic!()
    };
    assert_eq!(command, "bd update gc-1.2 --claim");
    assert!(claim.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'), "{claim}");

    let Reply::Bash { id: close, command } = worker(json!([result(&claim, json!("ok"), false)]))
    else {
        panic!()
    };
    assert_eq!(command, "bd close gc-1.2 --reason done");
    assert_eq!(worker(json!([result(&close, json!("ok"), false)])), Reply::text("Closed gc-1.2."));
    // Hook output as trailing system messages does not hide the tool_result.
    let system =
        json!({ "role": "system", "content": [{ "type": "text", "text": "PostToolUse" }] });
    let after = worker(json!([result(&close, json!("ok"), false), system]));
    assert_eq!(after, Reply::text("Closed gc-1.2."));

    assert_eq!(
        worker(json!([result(&claim, json!("taken"), true)])),
        Reply::text("Could not claim gc-1.2.")
    );
    assert_eq!(
        worker(json!([result(&hook, json!("Exit code 1\nno work"), true)])),
        Reply::text(NO_WORK)
    );
    assert_eq!(worker(json!([result(&hook, json!("[]"), false)])), Reply::text(NO_WORK));
    // A tool_result it did not ask for: start over.
    let Reply::Bash { command, .. } = worker(json!([result("toolu_other", json!("x"), false)]))
    else {
        panic!()
    };
    assert_eq!(command, "gc hook --json");
}
