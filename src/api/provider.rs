//! `Provider`: how to launch an agent CLI (Claude Code, Codex, Gemini, or any command), and
//! everything gc must know to run it unattended — as data, so a new CLI needs no code.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Duration;
use super::agent::ENV_NAME_PATTERN;

/// Names (or `PREFIX_*` patterns) of environment variables in `passEnv` and `stripEnv`.
pub const ENV_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_]*\\*?$";

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
    /// How to install `command` when it is missing, shown in `gc apply`, `gc status` and
    /// `gc describe` (e.g. `npm install -g @anthropic-ai/claude-code`). Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install: Option<String>,
    /// Environment for every session of this provider. Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("propertyNames" = {"pattern": ENV_NAME_PATTERN}))]
    pub env: BTreeMap<String, String>,
    /// Environment added only when gc runs as root (e.g. Claude Code refuses to skip permission
    /// prompts as root unless `IS_SANDBOX=1`). Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("propertyNames" = {"pattern": ENV_NAME_PATTERN}))]
    pub env_as_root: BTreeMap<String, String>,
    /// Variables a session takes from the environment gc runs in, when set there: the CLI's
    /// credentials and endpoints (`ANTHROPIC_API_KEY`, `ANTHROPIC_*`). A session's environment
    /// is built, not inherited: besides these it gets only PATH, HOME, USER, LOGNAME, SHELL,
    /// LANG, LC_*, TZ, TMPDIR and the terminal's TERM and COLORTERM, the Provider's and Agent's
    /// `env`, and gc's own `GC_*`/`BEADS_*`. A name ending in `*` is a prefix. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("items" = {"type": "string", "pattern": ENV_PATTERN}))]
    pub pass_env: Vec<String>,
    /// Variables never passed although a `passEnv` prefix matches them (e.g. `CLAUDE_CODE_*`,
    /// which a CLI exports to its children); a name listed exactly in `passEnv` still passes.
    /// Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("items" = {"type": "string", "pattern": ENV_PATTERN}))]
    pub strip_env: Vec<String>,
    /// Names of the CLI's processes (`claude`; `node` for a CLI run by Node.js): a starting
    /// session counts as ready only once one of them runs in it, so a wrapper's own output
    /// is not taken for the CLI's prompt. Default: none (not checked).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub process_names: Vec<String>,
    /// The session is ready for input once a line of its screen starts with this, or with
    /// one of a list of these (leading blanks ignored; a no-break space is not a blank: Claude
    /// Code's input line is `❯` followed by U+00A0). Default: none (use `readyDelay`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_prompt_prefix: Option<Prefixes>,
    /// Without `readyPromptPrefix`, the session counts as ready this long after start.
    /// Default: `0s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_delay: Option<Duration>,
    /// Text that shows on screen only while the agent is working (Claude Code and Codex
    /// `esc to interrupt`, Gemini `esc to cancel`): a screen showing one is not ready, even
    /// with the ready prompt visible. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub busy_markers: Vec<String>,
    /// How the prompt is passed: as the last argument, after `promptFlag`, or not at all.
    /// Default: `arg`.
    #[serde(default)]
    pub prompt_mode: PromptMode,
    /// The flag that precedes the prompt when `promptMode` is `flag` (required then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_flag: Option<String>,
    /// The arguments each permission mode needs. An Agent picks a mode with
    /// `permissionMode` (default `autonomous`); a mode it picks must be listed here unless
    /// this map is empty and the agent keeps the default. Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("propertyNames" = {"enum": ["autonomous", "acceptEdits", "ask", "plan"]}))]
    pub permission_modes: BTreeMap<PermissionMode, Vec<String>>,
    /// A directory gc owns for the CLI's own state, so no dialog asks what gc already knows
    /// and the user's home is never edited. Default: none (the CLI uses the user's home).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<HomeSpec>,
    /// Screens that may still appear at start, and the option gc chooses on each. gc reads
    /// which option the cursor is on and moves it to the wanted one before pressing Enter —
    /// never a blind Enter. A session stopped at a screen nothing here declares is `Blocked`.
    /// Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dialogs: Vec<DialogSpec>,
    /// How gc's hooks are installed for this CLI. Default: none (the CLI has no hooks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<HooksSpec>,
    /// How a conversation is named at its first start and resumed later. Default: none
    /// (every start is a new conversation the CLI names itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationSpec>,
    /// Where the CLI writes its transcripts and what its models cost: how `gc costs`, status
    /// and budgets count each session's tokens and spend. Needs `home` (the transcripts are
    /// read from the directory gc owns). Default: none (nothing is counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageSpec>,
    /// The session pods of this CLI's agents, when the City runs sessions as pods
    /// (`session.backend: kubernetes`; read by no other backend). Default: the City's
    /// `session.kubernetes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<ProviderPodSpec>,
}

/// What the session pods of a Provider's agents take instead of the City's
/// `session.kubernetes`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProviderPodSpec {
    /// An image holding this CLI (and gc, at the controller's path, and tmux). Default: the
    /// City's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub image: Option<String>,
    /// The Secret holding this CLI's credentials, every key an environment variable of its
    /// sessions. Default: the City's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = crate::api::city::SUBDOMAIN_PATTERN))]
    pub secret_name: Option<String>,
}

/// A CLI's transcripts and price table, as data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UsageSpec {
    /// How the transcripts are written.
    pub format: TranscriptFormat,
    /// The transcript files: a glob relative to the session's `home` directory (`*` within a
    /// path part, `**` across parts), such as `projects/*/*.jsonl`.
    #[schemars(length(min = 1))]
    pub files: String,
    /// US dollars per million tokens, per model. A key matches every model whose name starts
    /// with it (the longest key wins; `*` matches any model). Default: none (tokens are
    /// counted, their cost is 0).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub prices: BTreeMap<String, Price>,
}

/// How a CLI writes its transcript (all JSON lines, appended as the conversation goes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TranscriptFormat {
    /// Claude Code: `assistant` lines whose `message.usage` counts one model reply.
    Claude,
    /// Codex: `event_msg` lines of type `token_count` with the session's running totals.
    Codex,
    /// Gemini CLI: `gemini` messages carrying `tokens` (a message may be written again).
    Gemini,
}

/// What a model's tokens cost, in US dollars per million.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Price {
    /// Input (prompt) tokens not read from a cache.
    #[schemars(range(min = 0.0))]
    pub input: f64,
    /// Output tokens (reasoning included).
    #[schemars(range(min = 0.0))]
    pub output: f64,
    /// Input tokens read from the prompt cache. Default: `0`.
    #[serde(default)]
    #[schemars(range(min = 0.0))]
    pub cache_read: f64,
    /// Input tokens written to the prompt cache. Default: the `input` price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub cache_write: Option<f64>,
}

/// One text, or several of which any will do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Prefixes {
    /// One.
    One(String),
    /// Any of these.
    Any(Vec<String>),
}

impl Prefixes {
    /// Every alternative.
    pub fn all(&self) -> Vec<String> {
        match self {
            Prefixes::One(one) => vec![one.clone()],
            Prefixes::Any(any) => any.clone(),
        }
    }
}

impl From<&str> for Prefixes {
    fn from(one: &str) -> Self {
        Prefixes::One(one.to_owned())
    }
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

/// How much an agent may do without asking a person.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum PermissionMode {
    /// Never waits on a permission prompt: runs commands and edits files on its own (what an
    /// unattended agent needs).
    #[default]
    Autonomous,
    /// Edits files on its own, asks before running commands.
    AcceptEdits,
    /// Asks before acting (the CLI's interactive default).
    Ask,
    /// Plans only; changes nothing.
    Plan,
}

impl PermissionMode {
    /// The name as written in resource files.
    pub fn as_str(self) -> &'static str {
        match self {
            PermissionMode::Autonomous => "autonomous",
            PermissionMode::AcceptEdits => "acceptEdits",
            PermissionMode::Ask => "ask",
            PermissionMode::Plan => "plan",
        }
    }
}

/// The directory gc owns for a CLI's state: one per session, `.gc/homes/<session>/`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HomeSpec {
    /// The variable that points the CLI at the directory (`CLAUDE_CONFIG_DIR`, `CODEX_HOME`,
    /// `GEMINI_CLI_HOME`).
    #[schemars(regex(pattern = ENV_NAME_PATTERN))]
    pub env: String,
    /// Files of the user's own CLI state linked into the directory, so a login done once
    /// carries over (missing ones are skipped). Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub link: Vec<HomeLink>,
    /// Settings merged into files of the directory before every start (files are created
    /// when missing; what the CLI wrote itself is kept). Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seed: Vec<SeedFile>,
    /// Where in the directory the CLI reads skills (a directory of `<name>/SKILL.md`):
    /// `skills` for Claude Code and Codex, `.gemini/skills` for Gemini CLI. An Agent's `skills`
    /// are linked there. Default: none (then an Agent may not list skills).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skills_dir: Option<String>,
    /// Where in the directory the CLI reads slash commands written as Markdown files
    /// (`commands` for Claude Code). An Agent's `commands` are linked there. Default: none (then
    /// an Agent may not list commands).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands_dir: Option<String>,
    /// The form the CLI reads slash commands in. Default: `markdown`.
    #[serde(default, skip_serializing_if = "CommandFormat::is_markdown")]
    pub commands_format: CommandFormat,
    /// Where and how the CLI reads MCP servers; an Agent's `mcpServers` are written there.
    /// Default: none (then an Agent may not list MCP servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp: Option<McpHome>,
}

/// Forms of slash commands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum CommandFormat {
    /// The Markdown file as it is, linked (Claude Code's `commands/<name>.md`).
    #[default]
    Markdown,
    /// A TOML file `<name>.toml` with `description` and `prompt`, `$ARGUMENTS` written as
    /// `{{args}}` (Gemini CLI).
    GeminiToml,
    /// A skill `<name>/SKILL.md` made from the command (for CLIs that load skills but no
    /// commands, like Codex).
    Skill,
}

impl CommandFormat {
    fn is_markdown(&self) -> bool {
        *self == CommandFormat::Markdown
    }
}

/// Where a CLI reads MCP servers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct McpHome {
    /// The file's shape: `claudeJson` (a file of its own, `{"mcpServers": …}`), `codexToml`
    /// (`[mcp_servers.<name>]` kept in Codex's `config.toml`), `geminiSettings` (`mcpServers`
    /// kept in Gemini's `settings.json`).
    pub format: McpFormat,
    /// The file, relative to the directory gc owns for the session.
    #[schemars(length(min = 1))]
    pub file: String,
    /// Arguments that point the CLI at the file, added only when the agent has MCP servers;
    /// `{{ mcp_file }}` is the file's absolute path. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
}

/// Shapes of MCP server files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum McpFormat {
    /// Claude Code's `--mcp-config` file: gc owns it whole.
    ClaudeJson,
    /// Codex's `config.toml`: gc owns the `mcp_servers` entries it wrote.
    CodexToml,
    /// Gemini CLI's `settings.json`: gc owns the `mcpServers` entries it wrote.
    GeminiSettings,
}

/// A file of the user's CLI state linked into gc's directory.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HomeLink {
    /// The user's file: a path starting with `~/` (the user's home) or absolute.
    #[schemars(length(min = 1))]
    pub from: String,
    /// Where it appears, relative to gc's directory.
    #[schemars(length(min = 1))]
    pub to: String,
}

/// Settings merged into one file of gc's directory.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedFile {
    /// The file, relative to gc's directory.
    #[schemars(length(min = 1))]
    pub file: String,
    /// Its format. Default: `json`.
    #[serde(default)]
    pub format: SeedFormat,
    /// Only when this variable is set in the session's environment (e.g. seed an API-key
    /// login only when the key is there). Default: always.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = ENV_NAME_PATTERN))]
    pub if_env: Option<String>,
    /// What is merged in: objects merge key by key, arrays gain the items they lack, other
    /// values replace. Every string (keys included) is a template: `{{ work_dir }}`,
    /// `{{ home }}`, `{{ user_home }}`, `{{ session }}`, `{{ agent }}`, `{{ env.NAME }}`
    /// (the session's environment; `{{ env.KEY | tail(20) }}` takes the last 20 characters, empty when unset).
    /// Items and keys that render empty are left out.
    pub merge: serde_json::Value,
}

/// Formats of seeded files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SeedFormat {
    /// JSON.
    #[default]
    Json,
    /// TOML.
    Toml,
}

/// A screen that may appear at start, and the option to choose on it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DialogSpec {
    /// A name for events and status (`trust`, `api-key`).
    #[schemars(length(min = 1))]
    pub name: String,
    /// Text that identifies the screen (matched as written, case-sensitive).
    #[schemars(length(min = 1))]
    pub matches: String,
    /// The label of the option to choose (the text of its line, without the cursor or number).
    #[schemars(length(min = 1))]
    pub choose: String,
}

/// How gc installs its hooks for a CLI. gc writes one hooks file per session (never a tracked
/// file of the rig, never the user's home) in the shape Claude Code, Codex and Gemini share:
/// `{"hooks": {"<Event>": [{"matcher": "", "hooks": [{"type": "command", "command": …}]}]}}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HooksSpec {
    /// The hooks file, relative to the Provider's `home` directory (where the CLI reads user
    /// settings, or a file passed with `args`).
    #[schemars(length(min = 1))]
    pub file: String,
    /// Arguments that point the CLI at the file; `{{ hooks_file }}` is its absolute path.
    /// Default: none (the CLI finds it itself).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// The CLI's name for each of gc's hooks; a hook not named is not installed.
    pub events: HookEvents,
    /// How the CLI takes what a hook prints. Default: `claude`.
    #[serde(default)]
    pub format: HookFormat,
    /// Further settings written into the hooks file beside `hooks` (e.g. Claude Code's
    /// `skipDangerousModePermissionPrompt: true`). Default: none.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub settings: serde_json::Map<String, serde_json::Value>,
}

/// The CLI's event names for gc's hooks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HookEvents {
    /// When a session starts: runs `gc prime --hook` (the agent's role prompt and its current
    /// work; it also records the conversation id the CLI picked). E.g. `SessionStart`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_start: Option<String>,
    /// When the agent ends a turn: runs `gc hook --stop`, which hands it its next ready work
    /// so it goes on, or lets it stop. E.g. `Stop` (Claude, Codex), `AfterAgent` (Gemini).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<String>,
    /// When a prompt is submitted, before the agent's turn: runs `gc hook --prompt-submit`,
    /// which puts the session's queued nudges and the agent's unread mail into that turn (once
    /// each; mail is marked read). E.g.
    /// `UserPromptSubmit` (Claude, Codex), `BeforeAgent` (Gemini).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_submit: Option<String>,
    /// When the CLI is about to compact a full conversation: runs `gc handoff --compaction`,
    /// so the session restarts with a fresh conversation (once) whose start shows a handoff
    /// note and the work on its hook, instead of going on with a lossy summary. E.g.
    /// `PreCompact` (Claude). Leave it unset for a CLI that fires its compaction event when
    /// nothing is full (Gemini's `PreCompress` fires at the first prompt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_compact: Option<String>,
}

/// How a CLI takes the output of a hook.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HookFormat {
    /// Claude Code and Codex: plain stdout of a start hook reaches the model; a stop hook
    /// continues the agent with `{"decision": "block", "reason": …}`.
    #[default]
    Claude,
    /// Gemini: only JSON `hookSpecificOutput.additionalContext` reaches the model; a stop
    /// hook continues the agent with `{"decision": "deny", "reason": …}`.
    Gemini,
}

/// How a CLI's conversations are named and resumed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConversationSpec {
    /// Arguments that start a new conversation with an id gc chose (a UUID);
    /// `{{ conversation_id }}` is the id. Default: none (the CLI picks the id, and gc's
    /// SessionStart hook records it from the hook's input).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub new_args: Vec<String>,
    /// Arguments that resume conversation `{{ conversation_id }}` (e.g. `[--resume,
    /// "{{ conversation_id }}"]`, or `[resume, "{{ conversation_id }}"]` for a subcommand,
    /// placed after every flag).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resume_args: Vec<String>,
}
