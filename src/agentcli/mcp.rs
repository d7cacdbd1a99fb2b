//! An agent's MCP servers in each CLI's own form: Claude Code's `--mcp-config` entries, Codex's
//! `[mcp_servers.<name>]` tables, Gemini CLI's `mcpServers` entries. Pure.
//!
//! `${NAME}` stands for the session's environment. Claude Code and Gemini CLI expand it
//! themselves, so it is written as it is (a secret never lands in a file). Codex expands
//! nothing: a header that is `${NAME}` or `Bearer ${NAME}` becomes a reference to the variable
//! (`env_http_headers`, `bearer_token_env_var`), an env entry `NAME: ${NAME}` passes the
//! variable through (`env_vars`), and anything else is rendered from the session's environment.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::api::mcp::{McpServer, McpTransport};
use crate::api::provider::McpFormat;

/// The servers as the entries of the format's server table (name → entry).
pub fn entries(
    format: McpFormat,
    servers: &BTreeMap<String, McpServer>,
    env: &BTreeMap<String, String>,
) -> Map<String, Value> {
    servers
        .iter()
        .map(|(name, server)| {
            let entry = match format {
                McpFormat::ClaudeJson => claude(server),
                McpFormat::CodexToml => codex(server, env),
                McpFormat::GeminiSettings => gemini(server),
            };
            (name.clone(), entry)
        })
        .collect()
}

/// The key of the server table in the format's file.
pub fn table_key(format: McpFormat) -> &'static str {
    match format {
        McpFormat::CodexToml => "mcp_servers",
        McpFormat::ClaudeJson | McpFormat::GeminiSettings => "mcpServers",
    }
}

fn transport(server: &McpServer) -> &'static str {
    match server.transport.unwrap_or_default() {
        McpTransport::Http => "http",
        McpTransport::Sse => "sse",
    }
}

/// Inserts `key` when `value` is not empty.
fn put(entry: &mut Map<String, Value>, key: &str, value: Value) {
    let empty = match &value {
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        Value::Null => true,
        _ => false,
    };
    if !empty {
        entry.insert(key.to_owned(), value);
    }
}

fn claude(server: &McpServer) -> Value {
    let mut entry = Map::new();
    match (&server.command, &server.url) {
        (Some(command), _) => {
            entry.insert("type".into(), "stdio".into());
            entry.insert("command".into(), command.clone().into());
            put(&mut entry, "args", json!(server.args));
            put(&mut entry, "env", json!(server.env));
        }
        (None, url) => {
            // Claude Code refuses a `url` entry without `type`.
            entry.insert("type".into(), transport(server).into());
            entry.insert("url".into(), json!(url));
            put(&mut entry, "headers", json!(server.headers));
        }
    }
    Value::Object(entry)
}

fn gemini(server: &McpServer) -> Value {
    let mut entry = Map::new();
    match (&server.command, &server.url) {
        (Some(command), _) => {
            entry.insert("command".into(), command.clone().into());
            put(&mut entry, "args", json!(server.args));
            put(&mut entry, "env", json!(server.env));
        }
        (None, url) => {
            // A plain `url` is SSE to Gemini CLI; `httpUrl` is streamable HTTP.
            let key = match server.transport.unwrap_or_default() {
                McpTransport::Http => "httpUrl",
                McpTransport::Sse => "url",
            };
            entry.insert(key.into(), json!(url));
            put(&mut entry, "headers", json!(server.headers));
        }
    }
    Value::Object(entry)
}

fn codex(server: &McpServer, env: &BTreeMap<String, String>) -> Value {
    let mut entry = Map::new();
    match (&server.command, &server.url) {
        (Some(command), _) => {
            entry.insert("command".into(), expand(command, env).into());
            let args: Vec<String> = server.args.iter().map(|a| expand(a, env)).collect();
            put(&mut entry, "args", json!(args));
            let mut values = Map::new();
            let mut passed = Vec::new();
            for (name, value) in &server.env {
                if variable(value).as_deref() == Some(name.as_str()) {
                    passed.push(name.clone());
                } else {
                    values.insert(name.clone(), expand(value, env).into());
                }
            }
            put(&mut entry, "env", Value::Object(values));
            put(&mut entry, "env_vars", json!(passed));
        }
        (None, url) => {
            entry.insert("url".into(), json!(url.as_deref().map(|u| expand(u, env))));
            let (mut literal, mut from_env) = (Map::new(), Map::new());
            for (name, value) in &server.headers {
                let bearer = value.strip_prefix("Bearer ").and_then(variable);
                match (bearer, variable(value)) {
                    (Some(var), _) if name.eq_ignore_ascii_case("authorization") => {
                        entry.insert("bearer_token_env_var".into(), var.into());
                    }
                    (_, Some(var)) => {
                        from_env.insert(name.clone(), var.into());
                    }
                    _ => {
                        literal.insert(name.clone(), expand(value, env).into());
                    }
                }
            }
            put(&mut entry, "http_headers", Value::Object(literal));
            put(&mut entry, "env_http_headers", Value::Object(from_env));
        }
    }
    Value::Object(entry)
}

/// `NAME` when `value` is exactly `${NAME}`.
pub fn variable(value: &str) -> Option<String> {
    let name = value.strip_prefix("${")?.strip_suffix('}')?;
    let valid = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    valid.then(|| name.to_owned())
}

/// `value` with every `${NAME}` replaced by the variable's value (empty when unset).
pub fn expand(value: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else { break };
        let reference = &rest[start..start + len + 1];
        match variable(reference) {
            Some(name) => {
                out.push_str(&rest[..start]);
                out.push_str(env.get(&name).map_or("", String::as_str));
            }
            None => out.push_str(&rest[..start + len + 1]),
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stdio() -> McpServer {
        McpServer {
            command: Some("/opt/bin/beads-mcp".into()),
            args: vec!["--db".into(), "${BEADS_DIR}".into()],
            env: BTreeMap::from([
                ("TOKEN".into(), "${TOKEN}".into()),
                ("MODE".into(), "fast-${TIER}".into()),
            ]),
            ..McpServer::default()
        }
    }

    fn remote(transport: Option<McpTransport>) -> McpServer {
        McpServer {
            url: Some("http://127.0.0.1:8765/mcp".into()),
            transport,
            headers: BTreeMap::from([
                ("Authorization".into(), "Bearer ${MAIL_TOKEN}".into()),
                ("X-Team".into(), "${TEAM}".into()),
                ("X-Client".into(), "gc".into()),
            ]),
            ..McpServer::default()
        }
    }

    fn one(format: McpFormat, server: McpServer) -> Value {
        let env = BTreeMap::from([
            ("BEADS_DIR".into(), "/city/.beads".into()),
            ("TIER".into(), "gold".into()),
        ]);
        let servers = BTreeMap::from([("s".to_owned(), server)]);
        entries(format, &servers, &env).remove("s").unwrap()
    }

    #[test]
    fn claude_entries_always_carry_a_type_and_keep_variables_for_claude_to_expand() {
        assert_eq!(
            one(McpFormat::ClaudeJson, stdio()),
            json!({"type": "stdio", "command": "/opt/bin/beads-mcp",
                   "args": ["--db", "${BEADS_DIR}"],
                   "env": {"MODE": "fast-${TIER}", "TOKEN": "${TOKEN}"}})
        );
        let http = one(McpFormat::ClaudeJson, remote(None));
        assert_eq!(http["type"], "http");
        assert_eq!(http["headers"]["Authorization"], "Bearer ${MAIL_TOKEN}");
        assert_eq!(one(McpFormat::ClaudeJson, remote(Some(McpTransport::Sse)))["type"], "sse");
    }

    #[test]
    fn gemini_reads_streamable_http_from_http_url_and_sse_from_url() {
        let http = one(McpFormat::GeminiSettings, remote(None));
        assert_eq!(http["httpUrl"], "http://127.0.0.1:8765/mcp");
        assert!(http.get("url").is_none());
        let sse = one(McpFormat::GeminiSettings, remote(Some(McpTransport::Sse)));
        assert_eq!(sse["url"], "http://127.0.0.1:8765/mcp");
        assert_eq!(one(McpFormat::GeminiSettings, stdio())["args"][1], "${BEADS_DIR}");
    }

    #[test]
    fn codex_gets_secrets_as_variable_references_and_the_rest_rendered() {
        assert_eq!(
            one(McpFormat::CodexToml, stdio()),
            json!({"command": "/opt/bin/beads-mcp", "args": ["--db", "/city/.beads"],
                   "env": {"MODE": "fast-gold"}, "env_vars": ["TOKEN"]})
        );
        assert_eq!(
            one(McpFormat::CodexToml, remote(None)),
            json!({"url": "http://127.0.0.1:8765/mcp", "bearer_token_env_var": "MAIL_TOKEN",
                   "http_headers": {"X-Client": "gc"}, "env_http_headers": {"X-Team": "TEAM"}})
        );
    }

    proptest::proptest! {
        /// Expansion never panics, and text without `${` comes back as it was.
        #[test]
        fn expansion_takes_any_text(text in ".{0,40}") {
            let env = BTreeMap::from([("A".to_owned(), "x".to_owned())]);
            let out = expand(&text, &env);
            if !text.contains("${") {
                proptest::prop_assert_eq!(out, text);
            }
        }
    }

    #[test]
    fn expansion_leaves_what_is_not_a_reference() {
        let env = BTreeMap::from([("A".to_owned(), "1".to_owned())]);
        assert_eq!(expand("${A}-${B}-${1x}-$A-${", &env), "1--${1x}-$A-${");
        assert_eq!(variable("${A_1}").as_deref(), Some("A_1"));
        assert_eq!(variable("x${A}"), None);
    }
}
