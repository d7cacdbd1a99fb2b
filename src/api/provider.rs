//! `Provider`: how to launch an agent CLI (Claude Code, Codex, Gemini, or any command).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Duration;
use super::agent::ENV_NAME_PATTERN;

/// The launch recipe for an agent CLI.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProviderSpec {
    /// Executable to run: a name looked up on PATH, or a path relative to the city directory.
    #[schemars(length(min = 1))]
    pub command: String,
    /// Arguments always passed. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Environment for every session of this provider. Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("propertyNames" = {"pattern": ENV_NAME_PATTERN}))]
    pub env: BTreeMap<String, String>,
    /// Process names that show the agent is alive inside its session. Default: the command's
    /// file name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub process_names: Vec<String>,
    /// The session counts as ready once its screen shows a line starting with this.
    /// Default: none (use `readyDelay`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_prompt_prefix: Option<String>,
    /// Without `readyPromptPrefix`, the session counts as ready this long after start.
    /// Default: `0s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_delay: Option<Duration>,
    /// How the prompt is passed: as the last argument, after `promptFlag`, or not at all.
    /// Default: `arg`.
    #[serde(default)]
    pub prompt_mode: PromptMode,
    /// The flag that precedes the prompt when `promptMode` is `flag` (required then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_flag: Option<String>,
    /// How to resume an earlier conversation. Default: no resume support.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<ResumeSpec>,
}

/// Ways to hand a prompt to an agent CLI.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PromptMode {
    /// As the last positional argument.
    #[default]
    Arg,
    /// After `promptFlag`.
    Flag,
    /// Not passed; the agent reads its instructions itself.
    None,
}

/// Flags that resume a conversation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResumeSpec {
    /// Flag that resumes the most recent conversation (e.g. `--continue`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
    /// Flag followed by a session id to resume a specific one (e.g. `--resume`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id_flag: Option<String>,
}
