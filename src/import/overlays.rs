//! Pack overlays as Agent fields. Gas City copies a pack's `overlay/` into every session's work
//! directory; what agents' CLIs read from there (skills, slash commands, MCP servers) becomes
//! the Agents' `skills`, `commands` and `mcpServers`, with the files copied into the new city
//! under `imported/<pack>/`. Scope follows Gas City: a pack the city imports gives to every
//! agent, a pack a rig includes to that rig's agents, `agents/<name>/overlay/` (or the agent's
//! `overlay_dir`) to that agent, `per-provider/<p>/` only to agents of Provider `p`; later
//! packs win a name, the agent's own overlay wins over all. Unlike Gas City, MCP servers merge
//! by name, so two packs' servers both arrive. Pack v2 `skills/` and `mcp/*.toml` count too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::source::Sourced;
use super::{Importer, names};
use crate::agentcli::skill_md;
use crate::api::Kind;

/// Where each agent written so far came from, for the overlays that apply to it.
#[derive(Clone, Debug)]
pub(super) struct AgentOrigin {
    /// Its resource name.
    pub name: String,
    /// Its rig, when it works on one.
    pub rig: Option<String>,
    /// The pack that defines it.
    pub pack: usize,
    /// The name Gas City knows it by.
    pub template: String,
    /// Its `overlay_dir`, when set.
    pub overlay_dir: Option<Sourced>,
}

/// Something an overlay gives agents.
#[derive(Clone, Debug, PartialEq)]
enum Gift {
    /// A skill directory, by name, at a path in the new city.
    Skill(String, String),
    /// A Markdown command, by name, at a path in the new city.
    Command(String, String),
    /// An MCP server, by name, in gc's shape.
    Mcp(String, Value),
}

impl Gift {
    fn key(&self) -> (u8, &str) {
        match self {
            Gift::Skill(name, _) => (0, name),
            Gift::Command(name, _) => (1, name),
            Gift::Mcp(name, _) => (2, name),
        }
    }

    fn field(&self) -> &'static str {
        match self {
            Gift::Skill(..) => "spec.skills",
            Gift::Command(..) => "spec.commands",
            Gift::Mcp(..) => "spec.mcpServers",
        }
    }
}

/// A gift, the Provider it is only for (`per-provider/<p>/`), and where it was read.
#[derive(Clone, Debug)]
struct Given {
    gift: Gift,
    provider: Option<String>,
    file: String,
    key: String,
    /// What changed on the way (reported as approximated).
    how: Vec<String>,
}

/// Which agents a pack's gifts go to.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Scope {
    City,
    Rig(String),
    Agent(String),
}

/// Settings files whose `mcpServers` CLIs read.
const MCP_FILES: &[&str] = &[".claude/settings.json", ".mcp.json", ".gemini/settings.json"];
/// Directories CLIs read skills from.
const SKILL_DIRS: &[&str] =
    &[".claude/skills", ".codex/skills", ".gemini/skills", ".agents/skills", ".opencode/skills"];

impl Importer<'_> {
    /// Gives every agent the skills, commands and MCP servers of the overlays that apply to it.
    pub(super) fn overlays(&mut self) {
        let mut gifts: Vec<(Scope, Vec<Given>)> = Vec::new();
        // Farthest pack first, so nearer packs (and the city's own) win a name.
        let mut city_packs = self.tree.closure(0);
        city_packs.reverse();
        for pack in city_packs {
            let given = self.pack_gifts(pack);
            gifts.push((Scope::City, given));
        }
        let mut seen: BTreeSet<usize> = self.tree.closure(0).into_iter().collect();
        for rig in self.rigs.clone() {
            for &pack in rig.packs.iter().rev() {
                if seen.insert(pack) {
                    let given = self.pack_gifts(pack);
                    gifts.push((Scope::Rig(rig.name.clone()), given));
                }
            }
        }
        for origin in self.agent_origins.clone() {
            let given = self.agent_gifts(&origin);
            gifts.push((Scope::Agent(origin.name.clone()), given));
        }
        self.distribute(gifts);
    }

    /// Hands the gifts out to the agents in their scope and reports each one.
    fn distribute(&mut self, gifts: Vec<(Scope, Vec<Given>)>) {
        // Each agent with its Provider, looked up once.
        let origins: Vec<(AgentOrigin, Option<String>)> = self
            .agent_origins
            .iter()
            .map(|o| {
                let provider =
                    self.agent_provider_name(&o.name).or_else(|| self.default_provider.clone());
                (o.clone(), provider)
            })
            .collect();
        let mut per_agent: BTreeMap<String, Vec<Gift>> = BTreeMap::new();
        for (scope, given) in &gifts {
            for g in given {
                let mut to = Vec::new();
                for (origin, provider) in &origins {
                    let in_scope = match scope {
                        Scope::City => true,
                        Scope::Rig(rig) => origin.rig.as_ref() == Some(rig),
                        Scope::Agent(name) => &origin.name == name,
                    };
                    let for_provider = g.provider.is_none() || g.provider == *provider;
                    if in_scope && for_provider {
                        to.push(origin.name.clone());
                        per_agent.entry(origin.name.clone()).or_default().push(g.gift.clone());
                    }
                }
                self.report_gift(g, &to);
            }
        }
        self.pass_mcp_variables(&per_agent);
        for (agent, list) in per_agent {
            // The last gift of a name wins (nearer packs and the agent's own come later).
            let mut by_key: BTreeMap<(u8, String), Gift> = BTreeMap::new();
            for gift in list {
                let (kind, name) = gift.key();
                by_key.insert((kind, name.to_owned()), gift);
            }
            let Some(resource) =
                self.resources.iter_mut().find(|r| r.kind == Kind::Agent && r.name == agent)
            else {
                continue;
            };
            let Some(spec) = resource.spec.as_object_mut() else { continue };
            for gift in by_key.into_values() {
                match gift {
                    Gift::Skill(_, path) => push_item(spec, "skills", path),
                    Gift::Command(_, path) => push_item(spec, "commands", path),
                    Gift::Mcp(name, server) => {
                        let servers = spec.entry("mcpServers").or_insert_with(|| json!({}));
                        if let Some(servers) = servers.as_object_mut() {
                            servers.insert(name, server);
                        }
                    }
                }
            }
        }
    }

    /// Adds the variables the agents' MCP servers use (`${NAME}`) to their Providers'
    /// `passEnv`: sessions get a built environment, and the CLI expands them from it.
    fn pass_mcp_variables(&mut self, per_agent: &BTreeMap<String, Vec<Gift>>) {
        let mut by_provider: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (agent, gifts) in per_agent {
            let Some(provider) =
                self.agent_provider_name(agent).or_else(|| self.default_provider.clone())
            else {
                continue;
            };
            for gift in gifts {
                if let Gift::Mcp(_, server) = gift {
                    by_provider.entry(provider.clone()).or_default().extend(variables(server));
                }
            }
        }
        for (provider, names) in by_provider {
            let Some(resource) =
                self.resources.iter_mut().find(|r| r.kind == Kind::Provider && r.name == provider)
            else {
                continue;
            };
            if let Some(spec) = resource.spec.as_object_mut() {
                for name in names {
                    push_item(spec, "passEnv", name);
                }
            }
        }
    }

    fn agent_provider_name(&self, agent: &str) -> Option<String> {
        let r = self.resources.iter().find(|r| r.kind == Kind::Agent && r.name == agent)?;
        r.spec.get("provider").and_then(Value::as_str).map(str::to_owned)
    }

    fn report_gift(&mut self, g: &Given, to: &[String]) {
        let what = match &g.gift {
            Gift::Skill(name, path) | Gift::Command(name, path) => format!("{name} ({path})"),
            Gift::Mcp(name, _) => name.clone(),
        };
        let field = g.gift.field();
        if to.is_empty() {
            let (kind, path) = match &g.gift {
                Gift::Skill(_, p) => ("skill", format!(" is copied to {p}")),
                Gift::Command(_, p) => ("command", format!(" is copied to {p}")),
                Gift::Mcp(name, server) => ("MCP server", format!(" `{name}` is {server}")),
            };
            let why = format!(
                "no imported agent is in this overlay's scope; the {kind}{path}: list it in an Agent's {field}"
            );
            self.report.not_mapped(&g.file, 0, &g.key, why);
            return;
        }
        let agents = to.iter().map(|a| format!("Agent/{a}")).collect::<Vec<_>>().join(", ");
        let target = format!("{field} {what} of {agents}");
        let mut how = g.how.clone();
        if let Gift::Mcp(_, server) = &g.gift {
            let names = variables(server);
            if !names.is_empty() {
                let list = names.into_iter().collect::<Vec<_>>().join(", ");
                how.push(format!(
                    "uses {list}: added to the Provider's passEnv, so export it where gc starts"
                ));
            }
        }
        if how.is_empty() {
            self.report.mapped(&g.file, 0, &g.key, target);
        } else {
            self.report.approximated(&g.file, 0, &g.key, target, how.join("; "));
        }
    }

    /// A pack's `overlay/` and its pack v2 `skills/` and `mcp/`.
    fn pack_gifts(&mut self, pack: usize) -> Vec<Given> {
        let dir = self.tree.packs[pack].dir.clone();
        let label = names::label(&self.tree.packs[pack].name);
        let dest = format!("imported/{label}");
        let mut out = self.overlay_gifts(&dir.join("overlay"), &dest);
        out.extend(self.skill_dir_gifts(&dir.join("skills"), &format!("{dest}/skills"), None));
        out.extend(self.mcp_toml_gifts(&dir.join("mcp")));
        out
    }

    /// An agent's own `agents/<name>/overlay/` and `skills/`, and its `overlay_dir`.
    fn agent_gifts(&mut self, origin: &AgentOrigin) -> Vec<Given> {
        let pack_dir = self.tree.packs[origin.pack].dir.clone();
        let label = names::label(&self.tree.packs[origin.pack].name);
        let dest = format!("imported/{label}/agents/{}", origin.name);
        let own = pack_dir.join("agents").join(&origin.template);
        let mut out = self.overlay_gifts(&own.join("overlay"), &dest);
        out.extend(self.skill_dir_gifts(&own.join("skills"), &format!("{dest}/skills"), None));
        if let Some(s) = &origin.overlay_dir
            && let Some(rel) = s.str()
        {
            let dir = super::compose::normalize(&s.file.dir().join(rel));
            let key = super::compose::display_pointer(&s.pointer);
            if dir.is_dir() {
                out.extend(self.overlay_gifts(&dir, &dest));
                let to =
                    format!("Agent/{} (spec.skills, spec.commands, spec.mcpServers)", origin.name);
                self.report.mapped(s.shown(), s.line(), &key, to);
            } else {
                self.report.not_mapped(s.shown(), s.line(), &key, "no such directory");
            }
        }
        out
    }

    /// Everything in one overlay directory: skills, commands and MCP servers become gifts,
    /// every other file is reported.
    fn overlay_gifts(&mut self, overlay: &Path, dest: &str) -> Vec<Given> {
        if !overlay.is_dir() {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut roots: Vec<(PathBuf, Option<String>)> = vec![(overlay.to_path_buf(), None)];
        if let Ok(entries) = std::fs::read_dir(overlay.join("per-provider")) {
            let mut providers: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
            providers.sort();
            for p in providers.into_iter().filter(|p| p.is_dir()) {
                let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
                roots.push((p, name));
            }
        }
        for (root, provider) in roots {
            let dest = match &provider {
                Some(p) => format!("{dest}/per-provider/{p}"),
                None => dest.to_owned(),
            };
            let mut handled: BTreeSet<PathBuf> = BTreeSet::new();
            for sub in SKILL_DIRS {
                let dir = root.join(sub);
                for g in self.skill_dir_gifts(&dir, &format!("{dest}/skills"), provider.clone()) {
                    out.push(g);
                }
                handled.insert(dir);
            }
            let commands = root.join(".claude/commands");
            out.extend(self.command_gifts(&commands, &format!("{dest}/commands"), &provider));
            handled.insert(commands);
            for file in MCP_FILES {
                let path = root.join(file);
                if path.is_file() {
                    out.extend(self.settings_gifts(&path, &provider));
                    handled.insert(path);
                }
            }
            if provider.is_none() {
                handled.insert(root.join("per-provider"));
            }
            for file in super::files::files_in(&root, |p| !handled.iter().any(|h| p.starts_with(h)))
            {
                let shown = self.tree.shown(&file);
                self.report.not_mapped(
                    &shown,
                    0,
                    "(file)",
                    "gc copies no overlay into work directories; only skills, commands and MCP servers are imported (as Agent fields)",
                );
            }
        }
        out
    }

    /// Each `<name>/` holding `SKILL.md` below `dir`, copied to `dest/<name>/`, front matter
    /// written into the copy when the original has none.
    fn skill_dir_gifts(&mut self, dir: &Path, dest: &str, provider: Option<String>) -> Vec<Given> {
        let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
        let mut skills: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        skills.sort();
        let mut out = Vec::new();
        for skill in skills {
            let shown = self.tree.shown(&skill);
            let skill_md = skill.join("SKILL.md");
            let Some(name) = skill.file_name().map(|n| n.to_string_lossy().into_owned()) else {
                continue;
            };
            if !skill_md.is_file() {
                self.report.not_mapped(&shown, 0, "(file)", "not a skill: no SKILL.md");
                continue;
            }
            let to = format!("{dest}/{name}");
            let mut how = Vec::new();
            for file in super::files::files_in(&skill, |_| true) {
                let rel = file.strip_prefix(&skill).unwrap_or(&file).to_string_lossy().into_owned();
                let target = format!("{to}/{rel}");
                let text =
                    (file == skill_md).then(|| std::fs::read_to_string(&file).ok()).flatten();
                match text.as_deref().and_then(|t| skill_md::with_front_matter(&name, t)) {
                    Some(fixed) => {
                        how.push(
                            "SKILL.md had no front matter `name` and `description` (Codex and Gemini CLI skip such skills): written into the copy from its first heading".to_owned(),
                        );
                        self.files.insert(target, fixed);
                    }
                    None => self.copies.push((file, target)),
                }
            }
            out.push(Given {
                gift: Gift::Skill(name, to),
                provider: provider.clone(),
                file: format!("{shown}/"),
                key: "(skill)".into(),
                how,
            });
        }
        out
    }

    /// Markdown commands below `dir` (`a/b.md` is the command `a-b`).
    fn command_gifts(&mut self, dir: &Path, dest: &str, provider: &Option<String>) -> Vec<Given> {
        let mut out = Vec::new();
        for file in super::files::files_in(dir, |_| true) {
            let shown = self.tree.shown(&file);
            if file.extension().is_none_or(|e| e != "md") {
                self.report.not_mapped(&shown, 0, "(file)", "not a Markdown command");
                continue;
            }
            let rel = file.strip_prefix(dir).unwrap_or(&file).with_extension("");
            let parts: Vec<String> =
                rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            let name = parts.join("-");
            let mut how = Vec::new();
            if parts.len() > 1 {
                how.push(format!(
                    "named `{name}` (Claude Code would call it `{}`)",
                    parts.join(":")
                ));
            }
            let to = format!("{dest}/{name}.md");
            self.copies.push((file.clone(), to.clone()));
            out.push(Given {
                gift: Gift::Command(name, to),
                provider: provider.clone(),
                file: shown,
                key: "(command)".into(),
                how,
            });
        }
        out
    }

    /// The `mcpServers` of a CLI settings file; its other keys are reported.
    fn settings_gifts(&mut self, path: &Path, provider: &Option<String>) -> Vec<Given> {
        let shown = self.tree.shown(path);
        let value: Value = match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        {
            Ok(v) => v,
            Err(e) => {
                self.report.not_mapped(&shown, 0, "(file)", format!("not JSON: {e}"));
                return Vec::new();
            }
        };
        let Value::Object(map) = value else {
            self.report.not_mapped(&shown, 0, "(file)", "not a JSON object");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, value) in map {
            if key != "mcpServers" {
                let why = match key.as_str() {
                    "hooks" => {
                        "gc installs its own hooks; a pack's hooks are not imported (put the command in an Order or a wrapper)"
                    }
                    _ => {
                        "gc writes its CLIs' settings from the Provider; add it to the Provider's home.seed"
                    }
                };
                self.report.not_mapped(&shown, 0, &key, why);
                continue;
            }
            for (name, entry) in value.as_object().cloned().unwrap_or_default() {
                let key = format!("mcpServers.{name}");
                match mcp_from_json(&entry) {
                    Ok((server, how)) => out.push(Given {
                        gift: Gift::Mcp(name, server),
                        provider: provider.clone(),
                        file: shown.clone(),
                        key,
                        how,
                    }),
                    Err(why) => self.report.not_mapped(&shown, 0, &key, why),
                }
            }
        }
        out
    }

    /// Pack v2 MCP servers: `mcp/<name>.toml` (`name`, `command`, `args`, `env`, `url`,
    /// `headers`).
    fn mcp_toml_gifts(&mut self, dir: &Path) -> Vec<Given> {
        let mut out = Vec::new();
        for file in super::files::files_in(dir, |_| true) {
            let shown = self.tree.shown(&file);
            let file_name = file.file_name().map(|n| n.to_string_lossy().into_owned());
            let file_name = file_name.unwrap_or_default();
            if file_name.ends_with(".template.toml") || !file_name.ends_with(".toml") {
                let why = "only plain mcp/<name>.toml files are imported; render a template yourself and list the server in spec.mcpServers";
                self.report.not_mapped(&shown, 0, "(file)", why);
                continue;
            }
            let parsed = std::fs::read_to_string(&file)
                .map_err(|e| e.to_string())
                .and_then(|t| toml::from_str::<toml::Table>(&t).map_err(|e| e.to_string()))
                .and_then(|t| serde_json::to_value(t).map_err(|e| e.to_string()));
            let value = match parsed {
                Ok(v) => v,
                Err(e) => {
                    self.report.not_mapped(&shown, 0, "(file)", e);
                    continue;
                }
            };
            let stem = file_name.trim_end_matches(".toml").to_owned();
            let name = value.get("name").and_then(Value::as_str).map_or(stem, str::to_owned);
            match mcp_from_json(&value) {
                Ok((server, how)) => out.push(Given {
                    gift: Gift::Mcp(name, server),
                    provider: None,
                    file: shown,
                    key: "(file)".into(),
                    how,
                }),
                Err(why) => self.report.not_mapped(&shown, 0, "(file)", why),
            }
        }
        out
    }
}

fn push_item(spec: &mut Map<String, Value>, field: &str, item: String) {
    let list = spec.entry(field).or_insert_with(|| json!([]));
    if let Some(list) = list.as_array_mut()
        && !list.iter().any(|v| v.as_str() == Some(item.as_str()))
    {
        list.push(item.into());
    }
}

/// An MCP server as Claude Code, Gemini CLI or a pack v2 file writes it, in gc's shape, with
/// what changed on the way.
fn mcp_from_json(entry: &Value) -> Result<(Value, Vec<String>), String> {
    let Some(map) = entry.as_object() else { return Err("not a JSON object".into()) };
    let text = |key: &str| map.get(key).and_then(Value::as_str).map(str::to_owned);
    let strings = |key: &str| -> Vec<Value> {
        map.get(key).and_then(Value::as_array).cloned().unwrap_or_default()
    };
    let mut server = Map::new();
    let mut how = Vec::new();
    let url = text("httpUrl").or_else(|| text("url"));
    match (text("command"), url) {
        (Some(command), None) => {
            server.insert("command".into(), command.into());
            let args = strings("args");
            if !args.is_empty() {
                server.insert("args".into(), args.into());
            }
            if let Some(env) =
                map.get("env").filter(|e| e.as_object().is_some_and(|m| !m.is_empty()))
            {
                server.insert("env".into(), env.clone());
            }
        }
        (None, Some(url)) => {
            server.insert("url".into(), url.into());
            let kind = text("type").or_else(|| text("transport"));
            match kind.as_deref() {
                Some("sse") => {
                    server.insert("transport".into(), "sse".into());
                }
                Some("http" | "streamable-http") => {}
                None if map.contains_key("httpUrl") => {}
                None => how.push("no `type`: taken as streamable HTTP (Claude Code refuses a url without a type)".into()),
                Some(other) => return Err(format!("transport `{other}` is not http or sse")),
            }
            if let Some(headers) =
                map.get("headers").filter(|h| h.as_object().is_some_and(|m| !m.is_empty()))
            {
                server.insert("headers".into(), headers.clone());
            }
        }
        (Some(_), Some(_)) => return Err("both a command and a url".into()),
        (None, None) => return Err("neither a command nor a url".into()),
    }
    let known =
        ["command", "args", "env", "url", "httpUrl", "type", "transport", "headers", "name"];
    let left: Vec<&str> = map.keys().map(String::as_str).filter(|k| !known.contains(k)).collect();
    if !left.is_empty() {
        how.push(format!("left out {}", left.join(", ")));
    }
    Ok((Value::Object(server), how))
}

/// The `${NAME}` variables a value's strings use.
fn variables(value: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut visit = vec![value];
    while let Some(v) = visit.pop() {
        match v {
            Value::String(s) => {
                let mut rest = s.as_str();
                while let Some(start) = rest.find("${") {
                    let Some(len) = rest[start..].find('}') else { break };
                    if let Some(name) = crate::agentcli::mcp::variable(&rest[start..=start + len]) {
                        out.insert(name);
                    }
                    rest = &rest[start + len + 1..];
                }
            }
            Value::Array(items) => visit.extend(items),
            Value::Object(map) => visit.extend(map.values()),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_settings_servers_gain_a_transport_and_say_what_they_need() {
        let entry = json!({"url": "http://127.0.0.1:8766/mcp",
                           "headers": {"Authorization": "Bearer ${CM_TOKEN}"}});
        let (server, how) = mcp_from_json(&entry).unwrap();
        assert_eq!(server, entry);
        assert!(how[0].contains("taken as streamable HTTP"), "{how:?}");
        assert_eq!(variables(&server), BTreeSet::from(["CM_TOKEN".to_owned()]));
        let (sse, _) = mcp_from_json(&json!({"url": "http://x/sse", "type": "sse"})).unwrap();
        assert_eq!(sse, json!({"url": "http://x/sse", "transport": "sse"}));
        let (gemini, how) =
            mcp_from_json(&json!({"httpUrl": "http://x/mcp", "trust": true})).unwrap();
        assert_eq!(gemini, json!({"url": "http://x/mcp"}));
        assert_eq!(how, ["left out trust"]);
        let (stdio, how) =
            mcp_from_json(&json!({"command": "am", "args": ["serve"], "env": {}})).unwrap();
        assert_eq!(stdio, json!({"command": "am", "args": ["serve"]}));
        assert!(how.is_empty());
        assert!(mcp_from_json(&json!({"command": "a", "url": "b"})).is_err());
        assert!(mcp_from_json(&json!({"type": "stdio"})).is_err());
    }
}
