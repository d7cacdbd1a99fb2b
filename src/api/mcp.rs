//! MCP servers an agent's CLI connects to, in one neutral shape that gc writes in each CLI's
//! own form (Claude's `--mcp-config` file, Codex's `[mcp_servers]`, Gemini's `mcpServers`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Names accepted for MCP servers: they become parts of tool names (`mcp__<name>__<tool>`)
/// and TOML keys.
pub const MCP_NAME_PATTERN: &str = "^[A-Za-z0-9_-]{1,64}$";

/// One MCP server: a program gc's CLI starts (`command`) or a remote endpoint (`url`).
/// `${NAME}` in any string stands for the session's environment variable `NAME`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct McpServer {
    /// The program of a stdio server: a name on PATH, or a path (relative ones resolve against
    /// the city directory). Exactly one of `command` and `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub command: Option<String>,
    /// Its arguments. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Environment the program gets on top of what the CLI passes. Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// The endpoint of a remote server. Exactly one of `command` and `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub url: Option<String>,
    /// How a remote server is spoken to. Default: `http` (streamable HTTP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<McpTransport>,
    /// HTTP headers sent to a remote server; put secrets in as `${NAME}` (for Codex: the whole
    /// value, or `Bearer ${NAME}`). Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// Transports of remote MCP servers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum McpTransport {
    /// Streamable HTTP.
    #[default]
    Http,
    /// Server-sent events (older servers; Codex cannot speak it).
    Sse,
}
