//! What an agent brings into the directory gc owns for its CLI, on top of the Provider's
//! settings: its skills and commands (linked, or rewritten in the form the CLI reads) and its
//! MCP servers (in the CLI's own file). gc remembers what it put there (`.gc-content.json`)
//! so that what an agent no longer lists is taken out again, and nothing else is touched.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::home::{self, HomeError};
use super::skill_md;
use crate::api::mcp::McpServer;
use crate::api::provider::{CommandFormat, HomeSpec, McpFormat, SeedFile, SeedFormat};

/// The file in which gc records what it put in the directory.
const RECORD: &str = ".gc-content.json";

/// An agent's skills, commands and MCP servers, paths absolute.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HomeContent {
    /// Skill directories (each holds `SKILL.md`).
    pub skills: Vec<PathBuf>,
    /// Markdown command files.
    pub commands: Vec<PathBuf>,
    /// MCP servers by name (relative commands already resolved).
    pub mcp_servers: BTreeMap<String, McpServer>,
}

impl HomeContent {
    /// Whether the agent brings nothing.
    pub fn is_empty(&self) -> bool {
        self.skills.is_empty() && self.commands.is_empty() && self.mcp_servers.is_empty()
    }
}

/// One thing gc puts in the directory, at a path relative to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A symlink to a file or directory outside.
    Link {
        /// Where, relative to the directory.
        at: String,
        /// What it points to.
        from: PathBuf,
    },
    /// A file gc writes.
    File {
        /// Where, relative to the directory.
        at: String,
        /// Its content.
        text: String,
    },
}

impl Entry {
    fn at(&self) -> &str {
        match self {
            Entry::Link { at, .. } | Entry::File { at, .. } => at,
        }
    }
}

/// What gc put in the directory at the last start.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    /// Links gc made.
    #[serde(default)]
    links: BTreeSet<String>,
    /// Files gc wrote.
    #[serde(default)]
    files: BTreeSet<String>,
    /// The MCP servers gc wrote.
    #[serde(default)]
    mcp: Option<McpRecord>,
}

/// MCP servers gc wrote into a file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct McpRecord {
    file: String,
    format: McpFormat,
    names: BTreeSet<String>,
}

/// The entries for `content` where `spec` says the CLI reads them. `read` gives a command
/// file's text (only for formats that rewrite it). Pure given `read`.
pub fn entries(
    spec: &HomeSpec,
    content: &HomeContent,
    read: &dyn Fn(&Path) -> Result<String, String>,
) -> Result<Vec<Entry>, HomeError> {
    let mut out = Vec::new();
    if let Some(dir) = &spec.skills_dir {
        for skill in &content.skills {
            out.push(Entry::Link { at: format!("{dir}/{}", base(skill)), from: skill.clone() });
        }
    }
    if let Some(dir) = &spec.commands_dir {
        for command in &content.commands {
            let file = base(command);
            let name = file.strip_suffix(".md").unwrap_or(&file).to_owned();
            let text = || {
                read(command).map_err(|message| HomeError::File {
                    what: format!("reading {}", command.display()),
                    message,
                })
            };
            out.push(match spec.commands_format {
                CommandFormat::Markdown => {
                    Entry::Link { at: format!("{dir}/{file}"), from: command.clone() }
                }
                CommandFormat::GeminiToml => Entry::File {
                    at: format!("{dir}/{name}.toml"),
                    text: skill_md::command_as_gemini_toml(&text()?),
                },
                CommandFormat::Skill => Entry::File {
                    at: format!("{dir}/{name}/SKILL.md"),
                    text: skill_md::command_as_skill(&name, &text()?),
                },
            });
        }
    }
    Ok(out)
}

fn base(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The MCP file's absolute path in `dir`, when the CLI reads MCP servers and the agent has any.
pub fn mcp_file(dir: &Path, spec: &HomeSpec, content: &HomeContent) -> Option<PathBuf> {
    let mcp = spec.mcp.as_ref()?;
    (!content.mcp_servers.is_empty()).then(|| dir.join(&mcp.file))
}

/// Puts `content` into `dir` and takes out what gc put there before and the agent no longer
/// lists. `env` is the session's environment (for CLIs that expand no variables).
pub fn materialise(
    dir: &Path,
    spec: &HomeSpec,
    content: &HomeContent,
    env: &BTreeMap<String, String>,
) -> Result<(), HomeError> {
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| e.to_string());
    let wanted = entries(spec, content, &read)?;
    let before: Record = std::fs::read_to_string(dir.join(RECORD))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    let keep: BTreeSet<&str> = wanted.iter().map(Entry::at).collect();
    for at in before.links.iter().filter(|at| !keep.contains(at.as_str())) {
        let path = dir.join(at);
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            let _ = std::fs::remove_file(&path);
        }
    }
    for at in before.files.iter().filter(|at| !keep.contains(at.as_str())) {
        let path = dir.join(at);
        let _ = std::fs::remove_file(&path);
        // A command written as a skill is a directory of its own; an empty one goes too.
        if let Some(parent) = path.parent().filter(|p| *p != dir) {
            let _ = std::fs::remove_dir(parent);
        }
    }
    let mut record = Record::default();
    for entry in &wanted {
        match entry {
            Entry::Link { at, from } => {
                home::link_into(dir, from, at)?;
                record.links.insert(at.clone());
            }
            Entry::File { at, text } => {
                write_if_changed(&dir.join(at), text)?;
                record.files.insert(at.clone());
            }
        }
    }
    record.mcp = write_mcp(dir, spec, content, env, before.mcp)?;
    let text = serde_json::to_string_pretty(&record).unwrap_or_default();
    write_if_changed(&dir.join(RECORD), &text)
}

/// Writes the agent's MCP servers into the CLI's file, dropping the ones gc wrote before that
/// are gone; gc's own file (Claude's) is removed when it holds none.
fn write_mcp(
    dir: &Path,
    spec: &HomeSpec,
    content: &HomeContent,
    env: &BTreeMap<String, String>,
    before: Option<McpRecord>,
) -> Result<Option<McpRecord>, HomeError> {
    let now = spec.mcp.as_ref().filter(|_| !content.mcp_servers.is_empty());
    let servers = now.map(|m| super::mcp::entries(m.format, &content.mcp_servers, env));
    let names: BTreeSet<String> = servers.iter().flat_map(|s| s.keys().cloned()).collect();
    if let Some(old) = &before {
        let same_file = now.is_some_and(|m| m.file == old.file && m.format == old.format);
        let gone: BTreeSet<String> =
            if same_file { &old.names - &names } else { old.names.clone() };
        if !gone.is_empty() {
            edit_table(dir, &old.file, old.format, |table| {
                for name in &gone {
                    table.remove(name);
                }
            })?;
        }
        if !same_file && old.format == McpFormat::ClaudeJson {
            let _ = std::fs::remove_file(dir.join(&old.file));
        }
    }
    let (Some(mcp), Some(servers)) = (now, servers) else { return Ok(None) };
    edit_table(dir, &mcp.file, mcp.format, |table| table.extend(servers))?;
    Ok(Some(McpRecord { file: mcp.file.clone(), format: mcp.format, names }))
}

/// Changes the server table of the MCP `file` (created when missing).
fn edit_table(
    dir: &Path,
    file: &str,
    format: McpFormat,
    change: impl FnOnce(&mut serde_json::Map<String, Value>),
) -> Result<(), HomeError> {
    let seed = SeedFile {
        file: file.to_owned(),
        format: match format {
            McpFormat::CodexToml => SeedFormat::Toml,
            McpFormat::ClaudeJson | McpFormat::GeminiSettings => SeedFormat::Json,
        },
        ..SeedFile::default()
    };
    home::update(dir, &seed, |value| {
        if !value.is_object() {
            *value = Value::Object(Default::default());
        }
        let key = super::mcp::table_key(format);
        if let Some(map) = value.as_object_mut() {
            let table = map.entry(key).or_insert_with(|| Value::Object(Default::default()));
            if !table.is_object() {
                *table = Value::Object(Default::default());
            }
            if let Value::Object(table) = table {
                change(table);
            }
        }
    })
}

fn write_if_changed(path: &Path, text: &str) -> Result<(), HomeError> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    let what = || format!("writing {}", path.display());
    if let Some(parent) = path.parent() {
        home::create_private_dir(parent)?;
    }
    crate::runtime::launch::write_private(path, text.as_bytes())
        .map_err(|e| HomeError::File { what: what(), message: e.to_string() })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::api::provider::McpHome;

    fn spec(commands_format: CommandFormat, mcp: McpFormat, file: &str) -> HomeSpec {
        HomeSpec {
            env: "X_HOME".into(),
            skills_dir: Some("skills".into()),
            commands_dir: Some("commands".into()),
            commands_format,
            mcp: Some(McpHome { format: mcp, file: file.into(), args: Vec::new() }),
            ..HomeSpec::default()
        }
    }

    fn server(command: &str) -> McpServer {
        McpServer { command: Some(command.into()), ..McpServer::default() }
    }

    #[test]
    fn what_an_agent_drops_is_taken_out_and_what_gc_did_not_write_stays() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        std::fs::create_dir_all(src.join("review")).unwrap();
        std::fs::write(src.join("review/SKILL.md"), "---\nname: review\ndescription: r\n---\n")
            .unwrap();
        std::fs::write(src.join("notes.md"), "---\ndescription: Notes\n---\nWrite $ARGUMENTS\n")
            .unwrap();
        let home = tmp.path().join("home");
        std::fs::create_dir_all(home.join("skills/mine")).unwrap();
        std::fs::write(
            home.join("config.toml"),
            "model = \"gpt-5\"\n[mcp_servers.own]\ncommand = \"own\"\n",
        )
        .unwrap();
        let spec = spec(CommandFormat::GeminiToml, McpFormat::CodexToml, "config.toml");
        let full = HomeContent {
            skills: vec![src.join("review")],
            commands: vec![src.join("notes.md")],
            mcp_servers: BTreeMap::from([("beads".into(), server("beads-mcp"))]),
        };
        materialise(&home, &spec, &full, &BTreeMap::new()).unwrap();
        assert!(home.join("skills/review/SKILL.md").is_file());
        let toml = std::fs::read_to_string(home.join("commands/notes.toml")).unwrap();
        assert!(toml.contains("Write {{args}}"), "{toml}");
        let config: toml::Table =
            toml::from_str(&std::fs::read_to_string(home.join("config.toml")).unwrap()).unwrap();
        assert_eq!(config["mcp_servers"]["beads"]["command"].as_str(), Some("beads-mcp"));
        assert_eq!(config["model"].as_str(), Some("gpt-5"));

        materialise(&home, &spec, &HomeContent::default(), &BTreeMap::new()).unwrap();
        assert!(!home.join("skills/review").exists());
        assert!(!home.join("commands/notes.toml").exists());
        assert!(home.join("skills/mine").is_dir(), "a skill gc did not link stays");
        let config: toml::Table =
            toml::from_str(&std::fs::read_to_string(home.join("config.toml")).unwrap()).unwrap();
        assert!(config["mcp_servers"].get("beads").is_none());
        assert_eq!(config["mcp_servers"]["own"]["command"].as_str(), Some("own"));
    }

    #[test]
    fn claudes_mcp_file_is_gcs_own_and_goes_with_the_last_server() {
        let tmp = tempfile::tempdir().unwrap();
        let spec = spec(CommandFormat::Markdown, McpFormat::ClaudeJson, "gc-mcp.json");
        let content = HomeContent {
            mcp_servers: BTreeMap::from([
                ("a".into(), server("a-mcp")),
                ("b".into(), server("b-mcp")),
            ]),
            ..HomeContent::default()
        };
        assert_eq!(mcp_file(tmp.path(), &spec, &content), Some(tmp.path().join("gc-mcp.json")));
        materialise(tmp.path(), &spec, &content, &BTreeMap::new()).unwrap();
        let mut only_b = content.clone();
        only_b.mcp_servers.remove("a");
        materialise(tmp.path(), &spec, &only_b, &BTreeMap::new()).unwrap();
        let file: Value =
            serde_json::from_str(&std::fs::read_to_string(tmp.path().join("gc-mcp.json")).unwrap())
                .unwrap();
        assert_eq!(file, json!({"mcpServers": {"b": {"type": "stdio", "command": "b-mcp"}}}));
        materialise(tmp.path(), &spec, &HomeContent::default(), &BTreeMap::new()).unwrap();
        assert!(!tmp.path().join("gc-mcp.json").exists());
        assert_eq!(mcp_file(tmp.path(), &spec, &HomeContent::default()), None);
    }

    #[test]
    fn commands_become_skills_for_clis_without_commands() {
        let spec = spec(CommandFormat::Skill, McpFormat::CodexToml, "config.toml");
        let content =
            HomeContent { commands: vec![PathBuf::from("/c/ship.md")], ..HomeContent::default() };
        let read = |_: &Path| Ok("Ship it.\n".to_owned());
        let entries = entries(&spec, &content, &read).unwrap();
        let [Entry::File { at, text }] = entries.as_slice() else { panic!("{entries:?}") };
        assert_eq!(at, "commands/ship/SKILL.md");
        assert!(text.starts_with("---\nname: ship\ndescription: Ship it.\n---\n"), "{text}");
    }
}
