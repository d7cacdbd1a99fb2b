//! Editors: the real yaml-language-server (npm, pinned; `scripts/test.sh` installs it and sets
//! `GC_TEST_YAML_LS`), pointed at gc's schema by the modeline the README shows, reports a
//! broken city file's errors where they are, as VS Code's YAML extension would show them.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn server() -> Option<PathBuf> {
    let found = std::env::var_os("GC_TEST_YAML_LS").map(PathBuf::from);
    if found.is_none() && std::env::var("GC_TEST_REQUIRE_YAML_LS").as_deref() == Ok("1") {
        panic!("GC_TEST_REQUIRE_YAML_LS=1 but GC_TEST_YAML_LS is not set");
    }
    found
}

/// The language server, in a process group of its own that is killed when this is dropped.
struct Server {
    child: Child,
    stdin: std::process::ChildStdin,
    messages: mpsc::Receiver<Value>,
}

impl Drop for Server {
    fn drop(&mut self) {
        gascity::beads::process::kill_process_group(self.child.id());
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(path: &PathBuf) -> Server {
        let mut child = Command::new(path)
            .arg("--stdio")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, messages) = mpsc::channel();
        // LSP framing: `Content-Length: N` headers, a blank line, N bytes of JSON.
        std::thread::spawn(move || {
            loop {
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if stdout.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(n) = line.strip_prefix("Content-Length:") {
                        length = n.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                if stdout.read_exact(&mut body).is_err() {
                    return;
                }
                if let Ok(message) = serde_json::from_slice(&body)
                    && tx.send(message).is_err()
                {
                    return;
                }
            }
        });
        Server { child, stdin, messages }
    }

    fn send(&mut self, message: Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    /// The next message that `wanted` accepts, answering the server's own requests meanwhile.
    fn until(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = self
                .messages
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no {what} from yaml-language-server within 60 s"));
            if wanted(&message) {
                return message;
            }
            if let (Some(id), Some(method)) = (message.get("id"), message["method"].as_str()) {
                let result = if method == "workspace/configuration" {
                    json!([{ "validate": true }])
                } else {
                    Value::Null
                };
                self.send(json!({ "jsonrpc": "2.0", "id": id, "result": result }));
            }
        }
    }
}

#[test]
fn yaml_language_server_shows_a_city_files_errors_where_they_are() {
    let Some(path) = server() else {
        eprintln!("skipped: set GC_TEST_YAML_LS to a yaml-language-server executable");
        return;
    };
    let schema = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/v1alpha1/all.json");
    let text = format!(
        "# yaml-language-server: $schema={}\napiVersion: gascity.dev/v1alpha1\nkind: Agent\n\
         metadata:\n  name: worker\nspec:\n  colour: blue\n  scaling: {{min: two}}\n",
        schema.display()
    );
    let mut server = Server::start(&path);
    server.send(json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": { "processId": null, "rootUri": null, "capabilities": {} } }));
    server.until("initialize answer", |m| m["id"] == 1);
    server.send(json!({ "jsonrpc": "2.0", "method": "initialized", "params": {} }));
    server.send(json!({ "jsonrpc": "2.0", "method": "workspace/didChangeConfiguration",
        "params": { "settings": { "yaml": { "validate": true } } } }));
    server.send(json!({ "jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
        "textDocument": { "uri": "file:///city/agents/worker.yaml", "languageId": "yaml",
            "version": 1, "text": text } } }));
    let published = server.until("diagnostics", |m| {
        m["method"] == "textDocument/publishDiagnostics"
            && m["params"]["diagnostics"].as_array().is_some_and(|d| !d.is_empty())
    });
    let diagnostics = published["params"]["diagnostics"].as_array().unwrap().clone();
    let at = |needle: &str| {
        diagnostics
            .iter()
            .find(|d| d["message"].as_str().unwrap_or_default().contains(needle))
            .unwrap_or_else(|| panic!("no diagnostic about {needle}: {diagnostics:#?}"))
            .clone()
    };
    // Lines count from 0: `colour` is on line 6, the bad `min` on line 7.
    assert_eq!(at("colour")["range"]["start"]["line"], 6);
    assert_eq!(at("integer")["range"]["start"]["line"], 7);
}
