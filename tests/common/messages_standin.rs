//! A loopback stand-in for the Anthropic Messages API, so the end-to-end tests can drive the real
//! Claude Code (`ANTHROPIC_BASE_URL=<base_url>`) through scripted turns, tool calls included.
//!
//! Std only (plus `serde_json`): a `TcpListener` on 127.0.0.1, one thread per connection, HTTP/1.1
//! keep-alive with `Content-Length` or chunked request bodies. It answers
//! - `POST /v1/messages` (Claude sends `/v1/messages?beta=true`): streamed as SSE when the body has
//!   `"stream": true`, plain JSON otherwise. Requests that carry no `tools` (or `"tools": []`, as
//!   Claude Code's title generation does) get a short text, or the smallest JSON instance of
//!   `output_config.format.schema` when they ask for JSON; the rest get what the script returns.
//! - `POST /v1/messages/count_tokens`: `{"input_tokens": N}`, N estimated from the body size.
//! - `HEAD`/`GET /api/hello` (Claude Code's connectivity check at start): 200.
//! - `POST /v1beta/models/<model>:streamGenerateContent|generateContent`: the Gemini API, for
//!   Gemini CLI (`GOOGLE_GEMINI_BASE_URL=<base_url>`); see `Conn::gemini`.
//! - `POST /v1/responses`: the OpenAI Responses API, streamed, for Codex; see `Conn::responses`.
//! - anything else: 404 with an Anthropic-shaped error body.
//!
//! What Claude Code 2.1.332 sends, seen with this stand-in: `HEAD /api/hello` once, then only
//! `POST /v1/messages?beta=true`, all with `"stream": true`: one title request (haiku,
//! `"tools": []`) and one request per model step of the turn. Hook output arrives as
//! `"role": "system"` messages inside `messages` (e.g. "SessionStart:startup hook success: …").
//!
//! Every request line is recorded ([`Standin::paths`]) and every `/v1/messages` body too
//! ([`Standin::requests`]). Dropping the stand-in stops its accept loop and, within half a
//! second, its connection threads.
#![allow(dead_code)] // each test crate uses its own subset

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};

/// What the stand-in answers to one `/v1/messages` request that carries tools.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// A text block; `stop_reason` `end_turn`, so the turn ends.
    Text(String),
    /// A `tool_use` block for Claude Code's `Bash` tool with input `{"command": command}`;
    /// `stop_reason` `tool_use`. `id` must match `^[a-zA-Z0-9_-]+$`; Claude sends it back as the
    /// `tool_use_id` of the `tool_result` in its next request.
    Bash {
        /// The tool_use id.
        id: String,
        /// The shell command Claude should run.
        command: String,
    },
}

impl Reply {
    /// A [`Reply::Text`].
    pub fn text(text: impl Into<String>) -> Reply {
        Reply::Text(text.into())
    }

    /// A [`Reply::Bash`].
    pub fn bash(id: impl Into<String>, command: impl Into<String>) -> Reply {
        Reply::Bash { id: id.into(), command: command.into() }
    }
}

/// Decides the reply to a `/v1/messages` request (its parsed body) that carries `tools`.
pub type Script = Box<dyn Fn(&Value) -> Reply + Send + Sync>;

/// The text answered to requests without `tools`.
pub const SIDE_REPLY: &str = "Standin reply.";

/// The text the [`Standin::bead_worker`] script ends its turn with when `gc hook --json` gave no
/// bead.
pub const NO_WORK: &str = "No work on my hook.";

/// The text the Gemini API stand-in answers every turn of the agent with.
pub const GEMINI_REPLY: &str = "Standin Gemini reply.";

/// The text the Responses API stand-in answers every turn of Codex with.
pub const CODEX_REPLY: &str = "Standin Codex reply.";

/// The largest request head or body accepted.
const MAX_BODY: usize = 64 << 20;
const MAX_HEAD: usize = 64 << 10;
/// How often an idle connection thread looks at the stop flag.
const POLL: Duration = Duration::from_millis(500);

/// A running stand-in; see the module documentation.
pub struct Standin {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

struct Shared {
    script: Script,
    stop: AtomicBool,
    next_id: AtomicU64,
    log: Mutex<Log>,
}

#[derive(Default)]
struct Log {
    /// `"METHOD target"` of every request, in arrival order.
    paths: Vec<String>,
    /// Parsed bodies of `/v1/messages` requests, and their raw text.
    requests: Vec<(Value, String)>,
    /// The usage each `/v1/messages` reply reported, with whether its request carried tools.
    usage: Vec<(bool, Totals)>,
}

/// Tokens a reply reported, by kind (what the real API would bill).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// `input_tokens`.
    pub input: u64,
    /// `output_tokens` (final).
    pub output: u64,
    /// `cache_read_input_tokens`.
    pub cache_read: u64,
    /// `cache_creation_input_tokens`.
    pub cache_write: u64,
}

impl Shared {
    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Standin {
    /// Binds 127.0.0.1 on a free port and serves until dropped. Requests that carry `tools` are
    /// answered with `script(body)`. Panics only when the loopback listener cannot be set up.
    pub fn start(script: Script) -> Standin {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("listener address");
        let shared = Arc::new(Shared {
            script,
            stop: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            log: Mutex::new(Log::default()),
        });
        let accept_shared = Arc::clone(&shared);
        let accept = std::thread::Builder::new()
            .name("messages-standin".into())
            .spawn(move || accept_loop(&listener, &accept_shared))
            .expect("spawn the stand-in's accept thread");
        Standin { addr, shared, accept: Some(accept) }
    }

    /// A stand-in playing a worker agent that does the bead on its hook with the Bash tool; see
    /// [`bead_worker_script`].
    pub fn bead_worker() -> Standin {
        Standin::start(bead_worker_script())
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:<port>`, the value for `ANTHROPIC_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every parsed `/v1/messages` body so far, in arrival order.
    pub fn requests(&self) -> Vec<Value> {
        self.shared.log().requests.iter().map(|(body, _)| body.clone()).collect()
    }

    /// The `/v1/messages` bodies that carried `tools` (the agent's own turns), in order.
    pub fn tool_requests(&self) -> Vec<Value> {
        self.requests().into_iter().filter(has_tools).collect()
    }

    /// The tokens the replies reported, summed: of the requests that carried tools (the
    /// agent's own turns, which its transcript records) or of all of them.
    pub fn usage_totals(&self, tool_requests_only: bool) -> Totals {
        let log = self.shared.log();
        let mut sum = Totals::default();
        for (_, t) in log.usage.iter().filter(|(tools, _)| *tools || !tool_requests_only) {
            sum.input += t.input;
            sum.output += t.output;
            sum.cache_read += t.cache_read;
            sum.cache_write += t.cache_write;
        }
        sum
    }

    /// `"METHOD target"` of every request so far (any path), in arrival order.
    pub fn paths(&self) -> Vec<String> {
        self.shared.log().paths.clone()
    }

    /// Whether any `/v1/messages` body so far contains `needle`, either in its raw JSON text or
    /// in one of its (unescaped) string values.
    pub fn bodies_contain(&self, needle: &str) -> bool {
        self.shared
            .log()
            .requests
            .iter()
            .any(|(body, raw)| raw.contains(needle) || any_string_contains(body, needle))
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop; it sees the flag and returns.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else {
            // E.g. out of file descriptors: don't spin.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let shared = Arc::clone(shared);
        let _ = std::thread::Builder::new()
            .name("messages-standin-conn".into())
            .spawn(move || Conn { stream, buf: Vec::new(), shared }.serve());
    }
}

/// The reason a connection stops being served.
enum End {
    /// Peer closed, I/O error, or the stand-in stopped.
    Closed,
    /// A malformed request: answer 400 and close.
    Bad(&'static str),
}

struct Request {
    method: String,
    target: String,
    close: bool,
    body: Vec<u8>,
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    shared: Arc<Shared>,
}

impl Conn {
    fn serve(mut self) {
        if self.stream.set_read_timeout(Some(POLL)).is_err() {
            return;
        }
        loop {
            match self.read_request() {
                Ok(request) => {
                    let close = request.close;
                    if self.answer(request).is_err() || close {
                        break;
                    }
                }
                Err(End::Bad(why)) => {
                    let body = error_body("invalid_request_error", why);
                    let _ = self.respond(400, "application/json", body.as_bytes(), true, false);
                    break;
                }
                Err(End::Closed) => break,
            }
        }
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// Reads more bytes into `buf`, polling the stop flag while the peer is quiet.
    fn read_more(&mut self) -> Result<(), End> {
        let mut chunk = [0u8; 16 << 10];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(End::Closed),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if self.shared.stop.load(Ordering::SeqCst) {
                        return Err(End::Closed);
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Err(End::Closed),
            }
        }
    }

    /// Removes and returns the first `n` buffered bytes, reading until there are that many.
    fn take(&mut self, n: usize) -> Result<Vec<u8>, End> {
        while self.buf.len() < n {
            self.read_more()?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// Removes and returns one CRLF-terminated line (without the CRLF).
    fn line(&mut self) -> Result<Vec<u8>, End> {
        loop {
            if let Some(at) = find(&self.buf, b"\r\n") {
                let line = self.buf.drain(..at + 2).take(at).collect();
                return Ok(line);
            }
            if self.buf.len() > MAX_HEAD {
                return Err(End::Bad("line too long"));
            }
            self.read_more()?;
        }
    }

    fn read_request(&mut self) -> Result<Request, End> {
        let head = loop {
            if let Some(at) = find(&self.buf, b"\r\n\r\n") {
                let head: Vec<u8> = self.buf.drain(..at + 4).collect();
                break head;
            }
            if self.buf.len() > MAX_HEAD {
                return Err(End::Bad("request head too large"));
            }
            self.read_more()?;
        };
        let head = std::str::from_utf8(&head).map_err(|_| End::Bad("request head is not UTF-8"))?;
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or_default().split(' ');
        let (Some(method), Some(target), Some(version)) =
            (first.next(), first.next(), first.next())
        else {
            return Err(End::Bad("malformed request line"));
        };
        let mut close = version == "HTTP/1.0";
        let mut length = None;
        let mut chunked = false;
        for line in lines.filter(|line| !line.is_empty()) {
            let Some((name, value)) = line.split_once(':') else {
                return Err(End::Bad("malformed header"));
            };
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => {
                    let n: usize = value.parse().map_err(|_| End::Bad("bad Content-Length"))?;
                    length = Some(n);
                }
                "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
                "connection" => close = value.eq_ignore_ascii_case("close"),
                "expect" if value.eq_ignore_ascii_case("100-continue") => {
                    let _ = self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
                }
                _ => {}
            }
        }
        let body = if chunked {
            self.read_chunked()?
        } else {
            let n = length.unwrap_or(0);
            if n > MAX_BODY {
                return Err(End::Bad("body too large"));
            }
            self.take(n)?
        };
        Ok(Request { method: method.to_owned(), target: target.to_owned(), close, body })
    }

    fn read_chunked(&mut self) -> Result<Vec<u8>, End> {
        let mut body = Vec::new();
        loop {
            let line = self.line()?;
            let line = String::from_utf8_lossy(&line);
            let size = line.split(';').next().unwrap_or_default().trim();
            let size =
                usize::from_str_radix(size, 16).map_err(|_| End::Bad("bad chunk size line"))?;
            if size == 0 {
                // Trailers, up to the empty line.
                while !self.line()?.is_empty() {}
                return Ok(body);
            }
            if body.len() + size > MAX_BODY {
                return Err(End::Bad("body too large"));
            }
            body.extend(self.take(size)?);
            if !self.line()?.is_empty() {
                return Err(End::Bad("chunk not followed by CRLF"));
            }
        }
    }

    fn answer(&mut self, request: Request) -> std::io::Result<()> {
        let close = request.close;
        self.shared.log().paths.push(format!("{} {}", request.method, request.target));
        let path = request.target.split('?').next().unwrap_or_default();
        let head_only = request.method == "HEAD";
        match (request.method.as_str(), path) {
            ("POST", "/v1/messages") => {
                let (status, content_type, body) = self.messages(&request.body);
                self.respond(status, content_type, body.as_bytes(), close, head_only)
            }
            ("POST", "/v1/messages/count_tokens") => {
                let tokens = request.body.len() / 4 + 1;
                let body = json!({ "input_tokens": tokens }).to_string();
                self.respond(200, "application/json", body.as_bytes(), close, head_only)
            }
            // The Gemini API (`GOOGLE_GEMINI_BASE_URL=<base_url>`): `models/<m>:<method>`.
            ("POST", gemini) if gemini.starts_with("/v1beta/models/") => {
                let (status, content_type, body) = self.gemini(gemini, &request.body);
                self.respond(status, content_type, body.as_bytes(), close, head_only)
            }
            // The OpenAI Responses API, for Codex (a model provider whose `base_url` is
            // `<base_url>/v1`, `wire_api = "responses"`).
            ("POST", "/v1/responses") => {
                let body = self.responses(&request.body);
                self.respond(200, "text/event-stream", body.as_bytes(), close, head_only)
            }
            // Claude Code's connectivity check (it sends `HEAD /api/hello` at start).
            ("GET" | "HEAD", "/api/hello") => {
                let body = json!({ "message": "hello" }).to_string();
                self.respond(200, "application/json", body.as_bytes(), close, head_only)
            }
            _ => {
                let body = error_body("not_found_error", &format!("no route for {path}"));
                self.respond(404, "application/json", body.as_bytes(), close, head_only)
            }
        }
    }

    /// Status, content type and body for a `/v1/messages` request.
    fn messages(&self, raw: &[u8]) -> (u16, &'static str, String) {
        let Ok(text) = std::str::from_utf8(raw) else {
            return (400, "application/json", error_body("invalid_request_error", "not UTF-8"));
        };
        let body: Value = match serde_json::from_str(text) {
            Ok(body @ Value::Object(_)) => body,
            _ => {
                let msg = "body is not a JSON object";
                return (400, "application/json", error_body("invalid_request_error", msg));
            }
        };
        self.shared.log().requests.push((body.clone(), text.to_owned()));
        let reply = if has_tools(&body) {
            match catch_unwind(AssertUnwindSafe(|| (self.shared.script)(&body))) {
                Ok(reply) => reply,
                Err(_) => {
                    let msg = "the stand-in's script panicked";
                    return (500, "application/json", error_body("api_error", msg));
                }
            }
        } else {
            Reply::Text(side_reply(&body))
        };
        let n = self.shared.next_id.fetch_add(1, Ordering::SeqCst);
        let message_id = format!("msg_standin_{n:06}");
        let model = body.get("model").and_then(Value::as_str).unwrap_or("claude-standin");
        let input_tokens = raw.len() / 4 + 1;
        let reported = Totals {
            input: input_tokens as u64,
            output: 10,
            cache_read: (input_tokens / 3) as u64,
            cache_write: CACHE_WRITE as u64,
        };
        self.shared.log().usage.push((has_tools(&body), reported));
        if body.get("stream").and_then(Value::as_bool) == Some(true) {
            (200, "text/event-stream", sse(&reply, &message_id, model, input_tokens))
        } else {
            (200, "application/json", whole(&reply, &message_id, model, input_tokens).to_string())
        }
    }

    /// Status, content type and body for a Gemini API request (`path` is
    /// `/v1beta/models/<model>:<method>`). The agent's own turns are streamed
    /// (`streamGenerateContent`) and get [`GEMINI_REPLY`]; Gemini CLI's side requests
    /// (`generateContent`: its model router asks how complex the prompt is) get the JSON the
    /// router wants. Every reply reports usage with every kind of token non-zero.
    fn gemini(&self, path: &str, raw: &[u8]) -> (u16, &'static str, String) {
        let Some((model, method)) = path.trim_start_matches("/v1beta/models/").split_once(':')
        else {
            return (404, "application/json", error_body("not_found_error", "no method"));
        };
        let text = String::from_utf8_lossy(raw).into_owned();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        self.shared.log().requests.push((body, text));
        let streamed = method == "streamGenerateContent";
        let (answer, prompt) = if streamed {
            (GEMINI_REPLY.to_owned(), raw.len() / 4 + 1)
        } else {
            (json!({"complexity_reasoning": "Stand-in.", "complexity_score": 90}).to_string(), 40)
        };
        let cached = prompt / 3;
        let (candidates, thoughts) = (10, 3);
        self.shared.log().usage.push((
            streamed,
            Totals {
                input: (prompt - cached) as u64,
                output: candidates + thoughts,
                cache_read: cached as u64,
                cache_write: 0,
            },
        ));
        let reply = json!({
            "candidates": [{
                "content": { "role": "model", "parts": [{ "text": answer }] },
                "finishReason": "STOP",
                "index": 0,
            }],
            "usageMetadata": {
                "promptTokenCount": prompt,
                "cachedContentTokenCount": cached,
                "candidatesTokenCount": candidates,
                "thoughtsTokenCount": thoughts,
                "totalTokenCount": prompt as u64 + candidates + thoughts,
            },
            "modelVersion": model,
        });
        if streamed {
            (200, "text/event-stream", format!("data: {reply}\r\n\r\n"))
        } else {
            (200, "application/json", reply.to_string())
        }
    }

    /// The SSE body answering a Responses API request: a text message ([`CODEX_REPLY`], or the
    /// smallest instance of the schema a side request asks for) and `response.completed` with usage, every kind non-zero (Codex's
    /// `input_tokens` include the cached ones; its `output_tokens` the reasoning ones).
    fn responses(&self, raw: &[u8]) -> String {
        let text = String::from_utf8_lossy(raw).into_owned();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        // Codex asks for structured output only on the side (a thread's title), in a thread of
        // its own that no rollout records.
        let schema = body.pointer("/text/format/schema").cloned();
        self.shared.log().requests.push((body, text));
        let n = self.shared.next_id.fetch_add(1, Ordering::SeqCst);
        let input = raw.len() / 4 + 1;
        let (cached, output) = (input / 3, 12);
        let answer = match &schema {
            Some(schema) => example(schema, 0).to_string(),
            None => CODEX_REPLY.to_owned(),
        };
        self.shared.log().usage.push((
            schema.is_none(),
            Totals {
                input: (input - cached) as u64,
                output,
                cache_read: cached as u64,
                cache_write: 0,
            },
        ));
        let item = json!({
            "type": "message", "id": format!("msg_standin_{n:06}"), "role": "assistant",
            "status": "completed",
            "content": [{ "type": "output_text", "text": answer, "annotations": [] }],
        });
        let id = format!("resp_standin_{n:06}");
        let usage = json!({
            "input_tokens": input,
            "input_tokens_details": { "cached_tokens": cached },
            "output_tokens": output,
            "output_tokens_details": { "reasoning_tokens": 4 },
            "total_tokens": input as u64 + output,
        });
        [
            json!({ "type": "response.created", "response": { "id": id } }),
            json!({ "type": "response.output_item.done", "output_index": 0, "item": item }),
            json!({ "type": "response.completed", "response": { "id": id, "usage": usage } }),
        ]
        .iter()
        .map(|data| format!("event: {}\ndata: {data}\n\n", data["type"].as_str().unwrap_or("")))
        .collect()
    }

    fn respond(
        &mut self,
        status: u16,
        content_type: &str,
        body: &[u8],
        close: bool,
        head_only: bool,
    ) -> std::io::Result<()> {
        let reason = match status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            _ => "Internal Server Error",
        };
        let connection = if close { "close" } else { "keep-alive" };
        let head = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\nConnection: {connection}\r\nCache-Control: no-cache\r\n\
             request-id: req_standin\r\n\r\n",
            body.len()
        );
        self.stream.write_all(head.as_bytes())?;
        if !head_only {
            self.stream.write_all(body)?;
        }
        self.stream.flush()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

fn error_body(kind: &str, message: &str) -> String {
    json!({ "type": "error", "error": { "type": kind, "message": message } }).to_string()
}

/// The text for a request without tools: [`SIDE_REPLY`], or, when the request asks for JSON
/// output (`output_config.format.type` `json_schema`, as title generation does), the smallest
/// instance of its schema, strings being [`SIDE_REPLY`].
fn side_reply(body: &Value) -> String {
    let format = body.pointer("/output_config/format");
    match format.filter(|f| f.get("type").and_then(Value::as_str) == Some("json_schema")) {
        Some(format) => example(format.get("schema").unwrap_or(&Value::Null), 0).to_string(),
        None => SIDE_REPLY.to_owned(),
    }
}

/// The smallest value of a JSON schema: required properties only, empty arrays.
fn example(schema: &Value, depth: usize) -> Value {
    if depth > 16 {
        return Value::Null;
    }
    if let Some(value) = schema.get("const").or_else(|| schema.pointer("/enum/0")) {
        return value.clone();
    }
    let kind = match schema.get("type") {
        Some(Value::Array(kinds)) => kinds.first().and_then(Value::as_str),
        Some(kind) => kind.as_str(),
        None => None,
    };
    match kind {
        Some("object") => {
            let required = schema.get("required").and_then(Value::as_array);
            let object = required
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|name| {
                    let property = schema.pointer(&format!("/properties/{name}"));
                    (name.to_owned(), example(property.unwrap_or(&Value::Null), depth + 1))
                })
                .collect();
            Value::Object(object)
        }
        Some("array") => json!([]),
        Some("string") => json!(SIDE_REPLY),
        Some("integer" | "number") => json!(0),
        Some("boolean") => json!(false),
        _ => Value::Null,
    }
}

fn has_tools(body: &Value) -> bool {
    body.get("tools").and_then(Value::as_array).is_some_and(|tools| !tools.is_empty())
}

fn any_string_contains(value: &Value, needle: &str) -> bool {
    match value {
        Value::String(s) => s.contains(needle),
        Value::Array(items) => items.iter().any(|item| any_string_contains(item, needle)),
        Value::Object(map) => map.values().any(|item| any_string_contains(item, needle)),
        _ => false,
    }
}

/// The content block (complete), and the stop reason, of a reply.
fn block(reply: &Reply) -> (Value, &'static str) {
    match reply {
        Reply::Text(text) => (json!({ "type": "text", "text": text }), "end_turn"),
        Reply::Bash { id, command } => (
            json!({ "type": "tool_use", "id": id, "name": "Bash", "input": { "command": command } }),
            "tool_use",
        ),
    }
}

/// Tokens every reply says it wrote to the prompt cache.
const CACHE_WRITE: usize = 11;

/// A reply's usage: every kind of token non-zero (a third of the input read from the cache),
/// so an accounting that drops a kind is caught.
fn usage(input_tokens: usize, output_tokens: usize) -> Value {
    json!({
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": CACHE_WRITE,
        "cache_read_input_tokens": input_tokens / 3,
    })
}

/// A non-streamed Messages response.
fn whole(reply: &Reply, id: &str, model: &str, input_tokens: usize) -> Value {
    let (content, stop_reason) = block(reply);
    json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [content],
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "usage": usage(input_tokens, 10),
    })
}

/// A streamed Messages response: the whole SSE body.
fn sse(reply: &Reply, id: &str, model: &str, input_tokens: usize) -> String {
    let (content, stop_reason) = block(reply);
    let (start, delta) = match reply {
        Reply::Text(text) => {
            (json!({ "type": "text", "text": "" }), json!({ "type": "text_delta", "text": text }))
        }
        Reply::Bash { id, .. } => (
            json!({ "type": "tool_use", "id": id, "name": "Bash", "input": {} }),
            json!({ "type": "input_json_delta", "partial_json": content["input"].to_string() }),
        ),
    };
    let events = [
        (
            "message_start",
            json!({ "type": "message_start", "message": {
                "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
                "stop_reason": null, "stop_sequence": null, "usage": usage(input_tokens, 1),
            }}),
        ),
        (
            "content_block_start",
            json!({ "type": "content_block_start", "index": 0, "content_block": start }),
        ),
        ("ping", json!({ "type": "ping" })),
        (
            "content_block_delta",
            json!({ "type": "content_block_delta", "index": 0, "delta": delta }),
        ),
        ("content_block_stop", json!({ "type": "content_block_stop", "index": 0 })),
        (
            "message_delta",
            json!({ "type": "message_delta",
                "delta": { "stop_reason": stop_reason, "stop_sequence": null },
                "usage": { "output_tokens": 10 } }),
        ),
        ("message_stop", json!({ "type": "message_stop" })),
    ];
    events.iter().map(|(event, data)| format!("event: {event}\ndata: {data}\n\n")).collect()
}

/// The script of a worker agent that does the bead on its hook, decided only by the request:
///
/// - When the last message is a user message holding a `tool_result` for a tool_use this script
///   issued (recognised by its id):
///   - after `toolu_hook_<n>` (`gc hook --json`): the result text is parsed as the bead JSON
///     (an object with a string `"id"`); with one it issues `bd update <id> --claim`
///     (`toolu_claim_<n>_<id>`), otherwise (not JSON, no id, or the command failed) it ends
///     the turn with [`NO_WORK`];
///   - after `toolu_claim_<n>_<id>`: `bd close <id> --reason done` (`toolu_close_<n>_<id>`),
///     or, if the claim failed (`is_error`), ends the turn with "Could not claim <id>.";
///   - after `toolu_close_<n>_<id>`: ends the turn with "Closed <id>.".
/// - Otherwise (a fresh prompt, or a Stop-hook continuation): issues `gc hook --json`.
///
/// `<n>` is the number of messages in the request (it keeps ids unique within a conversation);
/// `<id>` is the bead id with every byte outside `[A-Za-z0-9-]` written as `_` and two hex digits.
pub fn bead_worker_script() -> Script {
    Box::new(bead_worker_reply)
}

fn bead_worker_reply(request: &Value) -> Reply {
    let n = request.get("messages").and_then(Value::as_array).map_or(0, Vec::len);
    if let Some(result) = last_tool_result(request) {
        match parse_step(&result.tool_use_id) {
            Some(Step::Hook) => {
                return match bead_from_hook(&result) {
                    Some(bead) => Reply::bash(
                        format!("toolu_claim_{n}_{}", encode_id(&bead)),
                        format!("bd update {} --claim", shell_word(&bead)),
                    ),
                    None => Reply::text(NO_WORK),
                };
            }
            Some(Step::Claim(bead)) if result.is_error => {
                return Reply::text(format!("Could not claim {bead}."));
            }
            Some(Step::Claim(bead)) => {
                return Reply::bash(
                    format!("toolu_close_{n}_{}", encode_id(&bead)),
                    format!("bd close {} --reason done", shell_word(&bead)),
                );
            }
            Some(Step::Close(bead)) => return Reply::text(format!("Closed {bead}.")),
            None => {}
        }
    }
    Reply::bash(format!("toolu_hook_{n}"), "gc hook --json")
}

/// One `tool_result` block of the request's last message.
struct ToolResult {
    tool_use_id: String,
    text: String,
    is_error: bool,
}

/// The first `tool_result` of the last message, when that is a user message.
fn last_tool_result(request: &Value) -> Option<ToolResult> {
    // Claude Code 2.1.332 puts `"role": "system"` messages (hook output) in `messages`; look
    // past any trailing ones.
    let last = request
        .get("messages")?
        .as_array()?
        .iter()
        .rev()
        .find(|message| message.get("role").and_then(Value::as_str) != Some("system"))?;
    if last.get("role")?.as_str()? != "user" {
        return None;
    }
    let block = last
        .get("content")?
        .as_array()?
        .iter()
        .find(|block| block.get("type").and_then(Value::as_str) == Some("tool_result"))?;
    let text = match block.get("content") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    };
    Some(ToolResult {
        tool_use_id: block.get("tool_use_id")?.as_str()?.to_owned(),
        text,
        is_error: block.get("is_error").and_then(Value::as_bool).unwrap_or(false),
    })
}

enum Step {
    Hook,
    Claim(String),
    Close(String),
}

fn parse_step(tool_use_id: &str) -> Option<Step> {
    let rest = tool_use_id.strip_prefix("toolu_")?;
    let (step, rest) = rest.split_once('_')?;
    let bead = || {
        let (n, id) = rest.split_once('_')?;
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        decode_id(id)
    };
    match step {
        "hook" if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) => Some(Step::Hook),
        "claim" => bead().map(Step::Claim),
        "close" => bead().map(Step::Close),
        _ => None,
    }
}

/// The bead id in `gc hook --json` output: the whole text, or else one of its lines, parsed as a
/// JSON object (or an array whose first item is one) with a non-empty string `"id"`.
fn bead_from_hook(result: &ToolResult) -> Option<String> {
    if result.is_error {
        return None;
    }
    let id_of = |text: &str| -> Option<String> {
        let value: Value = serde_json::from_str(text.trim()).ok()?;
        let object = match &value {
            Value::Array(items) => items.first()?,
            other => other,
        };
        let id = object.get("id")?.as_str()?;
        (!id.is_empty()).then(|| id.to_owned())
    };
    id_of(&result.text).or_else(|| result.text.lines().find_map(id_of))
}

fn encode_id(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' {
                char::from(b).to_string()
            } else {
                format!("_{b:02x}")
            }
        })
        .collect()
}

fn decode_id(encoded: &str) -> Option<String> {
    let mut bytes = Vec::new();
    let mut rest = encoded.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'_' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok().filter(|id| !id.is_empty())
}

/// `word` quoted for a POSIX shell, unless it needs no quoting.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_.:/@%+=,".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}
