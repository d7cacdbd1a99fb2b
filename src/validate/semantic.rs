//! Checks across resources: duplicates, exactly one City, references, cycles, pool bounds, rig
//! prefixes, cron schedules, regular expressions and prompt templates.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use super::Loaded;
use super::diagnostic::{Code, Diagnostic};
use super::graph::cycles;
use super::suggest::help_for;
use crate::api::city::{BeadsBackend, SessionBackend};
use crate::api::formula::{FormulaSpec, StepSpec};
use crate::api::provider::PromptMode;
use crate::api::{Kind, Object, Resource, agent::AgentSpec};
use crate::formula::CompileError;
use crate::formula::vars::VarError;
use crate::manifest::{Document, SourceFile, display_path};
use crate::prompt::{self, AgentContext, CityContext, PromptContext, RigContext, SessionContext};

/// Runs every cross-resource check. `city_dir` is where relative paths (prompt templates) are
/// resolved.
///
/// `broken` names the resources that failed their own checks: references to them are not
/// reported as missing, since that would only repeat the first error. Without `whole_city`
/// (loose files, no city around them) the City count and references are not checked.
///
/// `known` is the rest of the city when it is not among `loaded`: resources known by name and
/// fetched only when a check needs one (the applied store, for `gc apply -f`).
pub fn check(
    loaded: &[Loaded],
    known: Option<&dyn Known>,
    broken: &HashSet<(Kind, String)>,
    city_dir: &Path,
    whole_city: bool,
) -> Vec<Diagnostic> {
    let index = Index::new(loaded, known, broken, whole_city);
    let mut out = Vec::new();
    duplicates(loaded, &mut out);
    if whole_city && !broken.iter().any(|(kind, _)| *kind == Kind::City) {
        city_count(loaded, &index, &mut out);
    }
    for item in loaded {
        let doc = &item.doc;
        match &item.resource {
            Resource::City(city) => check_city(doc, city, &index, &mut out),
            Resource::Agent(agent) => check_agent(doc, agent, &index, city_dir, &mut out),
            Resource::Provider(p) => {
                check_provider(doc, &p.spec, &mut out);
                check_pods_unused(doc, p.spec.kubernetes.is_some(), &index, &mut out);
            }
            Resource::Formula(f) => check_formula(doc, &f.spec, &mut out),
            Resource::Order(o) => check_order(doc, o, &index, &mut out),
            Resource::Rig(_) => {}
        }
    }
    dependency_cycles(loaded, &index, &mut out);
    extends_cycles(loaded, &index, &mut out);
    extended_formulas(loaded, &index, &mut out);
    prefix_collisions(loaded, &index, &mut out);
    out
}

/// Resources of the city outside the files being checked, known by name and fetched one at a
/// time, so checking one file does not mean reading the whole city.
pub trait Known: Sync {
    /// Names of the known resources of `kind`.
    fn names(&self, kind: Kind) -> Vec<String>;
    /// The known resource of `kind` named `name`, if there is one.
    fn get(&self, kind: Kind, name: &str) -> Option<Resource>;
}

/// The resources in view, for resolving references: the loaded ones (first of each kind and
/// name) and the known rest of the city.
struct Index<'a> {
    by_kind: HashMap<Kind, BTreeMap<&'a str, &'a Loaded>>,
    known: Option<&'a dyn Known>,
    known_names: HashMap<Kind, BTreeSet<String>>,
    broken: &'a HashSet<(Kind, String)>,
    check_references: bool,
    /// The City's name and spec, looked up once: every agent's checks need it.
    city: Option<(String, crate::api::CitySpec)>,
}

impl<'a> Index<'a> {
    fn new(
        loaded: &'a [Loaded],
        known: Option<&'a dyn Known>,
        broken: &'a HashSet<(Kind, String)>,
        check_references: bool,
    ) -> Index<'a> {
        let mut by_kind: HashMap<Kind, BTreeMap<&'a str, &'a Loaded>> = HashMap::new();
        for item in loaded {
            by_kind
                .entry(item.resource.kind())
                .or_default()
                .entry(item.resource.name())
                .or_insert(item);
        }
        let known_names = known
            .map(|k| {
                Kind::ALL
                    .into_iter()
                    .map(|kind| (kind, k.names(kind).into_iter().collect()))
                    .collect()
            })
            .unwrap_or_default();
        let mut index = Index { by_kind, known, known_names, broken, check_references, city: None };
        index.city = index.names(Kind::City).first().and_then(|name| {
            match index.resource(Kind::City, name)? {
                Resource::City(c) => Some((c.metadata.name, c.spec)),
                _ => None,
            }
        });
        index
    }

    fn names(&self, kind: Kind) -> Vec<&str> {
        let mut names: BTreeSet<&str> =
            self.by_kind.get(&kind).map(|m| m.keys().copied().collect()).unwrap_or_default();
        names.extend(self.known_names.get(&kind).into_iter().flatten().map(String::as_str));
        names.into_iter().collect()
    }

    fn exists(&self, kind: Kind, name: &str) -> bool {
        self.by_kind.get(&kind).is_some_and(|m| m.contains_key(name))
            || self.known_names.get(&kind).is_some_and(|n| n.contains(name))
    }

    /// The resource, loaded or fetched from the known rest of the city.
    fn resource(&self, kind: Kind, name: &str) -> Option<Resource> {
        if let Some(item) = self.by_kind.get(&kind).and_then(|m| m.get(name)) {
            return Some(item.resource.clone());
        }
        if self.known_names.get(&kind).is_some_and(|n| n.contains(name)) {
            return self.known?.get(kind, name);
        }
        None
    }

    /// An error when `name` is not a resource of `kind`, placed at `pointer` of `doc`.
    fn reference(
        &self,
        doc: &Document,
        pointer: &str,
        kind: Kind,
        name: &str,
        out: &mut Vec<Diagnostic>,
    ) {
        if !self.check_references
            || self.exists(kind, name)
            || self.broken.contains(&(kind, name.to_owned()))
        {
            return;
        }
        let names = self.names(kind);
        let mut help = help_for(name, &names, &format!("{} defined", kind.plural()))
            .unwrap_or_else(|| format!("no {} are defined", kind.plural()));
        if self.known.is_some() {
            help.push_str(" (in the files given and the resources already applied)");
        }
        out.push(
            Diagnostic::error(Code::UnknownReference, format!("{kind} `{name}` not found"))
                .at_value(doc, pointer)
                .with_help(help),
        );
    }
}

/// `edges` (from loaded resources) extended with the edges of every known resource reachable
/// from them, so cycles through resources outside the loaded files are found.
fn reachable_edges(
    mut edges: BTreeMap<String, Vec<String>>,
    fetch: impl Fn(&str) -> Option<Vec<String>>,
) -> BTreeMap<String, Vec<String>> {
    let mut queue: Vec<String> = edges.values().flatten().cloned().collect();
    while let Some(name) = queue.pop() {
        if edges.contains_key(&name) {
            continue;
        }
        if let Some(targets) = fetch(&name) {
            queue.extend(targets.iter().cloned());
            edges.insert(name, targets);
        }
    }
    edges
}

/// For each cycle with a member among `docs`: that member's document and value, its successor
/// in the cycle, and the cycle as text (`a → b → a`).
fn cycles_at<'d, T: Copy>(
    edges: &BTreeMap<String, Vec<String>>,
    docs: &BTreeMap<&str, (&'d Document, T)>,
) -> Vec<(&'d Document, T, String, String)> {
    let borrowed: BTreeMap<&str, Vec<&str>> =
        edges.iter().map(|(k, v)| (k.as_str(), v.iter().map(String::as_str).collect())).collect();
    let mut out = Vec::new();
    for cycle in cycles(&borrowed) {
        let Some(j) = cycle[..cycle.len() - 1].iter().position(|m| docs.contains_key(m.as_str()))
        else {
            continue;
        };
        let (doc, value) = docs[cycle[j].as_str()];
        out.push((doc, value, cycle[j + 1].clone(), cycle.join(" → ")));
    }
    out
}

fn position(doc: &Document, pointer: &str) -> String {
    let (line, col) = doc.file.line_col(doc.spans().value_span(pointer).start);
    format!("{}:{line}:{col}", doc.file.name)
}

fn duplicates(loaded: &[Loaded], out: &mut Vec<Diagnostic>) {
    let mut first: HashMap<(Kind, &str), &Loaded> = HashMap::new();
    for item in loaded {
        let key = (item.resource.kind(), item.resource.name());
        match first.get(&key) {
            None => {
                first.insert(key, item);
            }
            Some(original) if key.0 != Kind::City => out.push(
                Diagnostic::error(
                    Code::DuplicateResource,
                    format!("duplicate {} `{}`", key.0, key.1),
                )
                .at_value(&item.doc, "/metadata/name")
                .with_help(format!(
                    "first defined at {}",
                    position(&original.doc, "/metadata/name")
                )),
            ),
            Some(_) => {}
        }
    }
}

fn city_count(loaded: &[Loaded], index: &Index<'_>, out: &mut Vec<Diagnostic>) {
    let known_city = index.known_names.get(&Kind::City).and_then(|n| n.first().cloned());
    let mut cities = loaded.iter().filter(|l| l.resource.kind() == Kind::City);
    let Some(first) = cities.next() else {
        if known_city.is_none() {
            let help = if index.known.is_some() {
                "no City is applied yet: apply the whole city first (`gc apply`), or name the City's file too"
            } else {
                "add a city.yaml with `kind: City` (gc init writes one)"
            };
            out.push(
                Diagnostic::error(
                    Code::CityCount,
                    "no City resource found: a city needs exactly one",
                )
                .with_help(help),
            );
        }
        return;
    };
    if let Some(applied) = known_city.filter(|name| name != first.resource.name()) {
        out.push(
            Diagnostic::error(
                Code::CityCount,
                format!(
                    "this city is `{applied}`; `{}` would be a second City",
                    first.resource.name()
                ),
            )
            .at_value(&first.doc, "/metadata/name")
            .with_help("a city holds exactly one City; rename it, or delete the applied one first"),
        );
    }
    for extra in cities {
        out.push(
            Diagnostic::error(
                Code::CityCount,
                format!("more than one City: `{}` is a second one", extra.resource.name()),
            )
            .at_value(&extra.doc, "/kind")
            .with_help(format!(
                "a city directory holds exactly one City; the first is at {}",
                position(&first.doc, "/kind")
            )),
        );
    }
}

fn check_city(
    doc: &Document,
    city: &Object<crate::api::CitySpec>,
    index: &Index<'_>,
    out: &mut Vec<Diagnostic>,
) {
    if let Some(p) = &city.spec.default_provider {
        index.reference(doc, "/spec/defaultProvider", Kind::Provider, p, out);
    }
    if city.spec.session.backend == SessionBackend::Exec && city.spec.session.command.is_none() {
        out.push(
            Diagnostic::error(
                Code::InconsistentSettings,
                "session backend `exec` needs `session.command`",
            )
            .at_value(doc, "/spec/session/backend"),
        );
    }
    check_session_pods(doc, &city.spec.session, out);
    if let Some(budget) = &city.spec.budget {
        check_budget(doc, budget, out);
    }
    if city.spec.beads.backend == BeadsBackend::Exec && city.spec.beads.command.is_none() {
        out.push(
            Diagnostic::error(
                Code::InconsistentSettings,
                "beads backend `exec` needs `beads.command`",
            )
            .at_value(doc, "/spec/beads/backend"),
        );
    }
    // Settings another backend reads would silently do nothing.
    let beads = &city.spec.beads;
    for (field, set, owner) in [
        ("command", beads.command.is_some(), BeadsBackend::Exec),
        ("urlEnv", beads.url_env.is_some(), BeadsBackend::Postgres),
    ] {
        if set && beads.backend != owner {
            let owner = serde_json::to_value(owner).ok();
            let owner = owner.as_ref().and_then(|v| v.as_str()).unwrap_or_default();
            out.push(
                Diagnostic::warning(
                    Code::InconsistentSettings,
                    format!("beads.{field} is read only by the `{owner}` backend"),
                )
                .at_key(doc, &format!("/spec/beads/{field}"))
                .with_help(format!("remove it, or set beads.backend: {owner}")),
            );
        }
    }
}

/// Session pods need an image, and their settings do nothing for another backend.
fn check_session_pods(
    doc: &Document,
    session: &crate::api::city::SessionSpec,
    out: &mut Vec<Diagnostic>,
) {
    let pods = session.kubernetes.as_ref();
    match session.backend {
        SessionBackend::Kubernetes if pods.and_then(|p| p.image.as_ref()).is_none() => {
            out.push(
                Diagnostic::error(
                    Code::InconsistentSettings,
                    "session backend `kubernetes` needs `session.kubernetes.image`",
                )
                .at_value(doc, "/spec/session/backend")
                .with_help(
                    "set session.kubernetes.image to an image holding gc (at the controller's \
                     path), tmux and the agent CLIs",
                ),
            );
        }
        SessionBackend::Kubernetes => {}
        _ if pods.is_some() => out.push(
            Diagnostic::warning(
                Code::InconsistentSettings,
                "session.kubernetes is read only by the `kubernetes` backend",
            )
            .at_key(doc, "/spec/session/kubernetes")
            .with_help("remove it, or set session.backend: kubernetes"),
        ),
        _ => {}
    }
}

/// An Agent's or Provider's `kubernetes` does nothing unless the City runs sessions as pods.
fn check_pods_unused(doc: &Document, set: bool, index: &Index<'_>, out: &mut Vec<Diagnostic>) {
    let Some((_, city)) = &index.city else { return };
    if set && city.session.backend != SessionBackend::Kubernetes {
        out.push(
            Diagnostic::warning(
                Code::InconsistentSettings,
                "spec.kubernetes is read only when the City's session.backend is `kubernetes`",
            )
            .at_key(doc, "/spec/kubernetes")
            .with_help("remove it, or set the City's session.backend: kubernetes"),
        );
    }
}

/// A budget limits something, over a window of whole hours.
fn check_budget(doc: &Document, budget: &crate::api::city::BudgetSpec, out: &mut Vec<Diagnostic>) {
    if budget.tokens.is_none() && budget.cost.is_none() {
        out.push(
            Diagnostic::error(Code::InconsistentSettings, "a budget needs `tokens` or `cost`")
                .at_key(doc, "/spec/budget")
                .with_help("set budget.tokens (per window), budget.cost (US dollars), or both"),
        );
    }
    let window = budget.window.get();
    if window.as_secs() < 3600
        || !window.as_secs().is_multiple_of(3600)
        || window.subsec_nanos() != 0
    {
        out.push(
            Diagnostic::error(
                Code::InconsistentSettings,
                format!("budget window `{}` is not a whole number of hours", budget.window),
            )
            .at_value(doc, "/spec/budget/window")
            .with_help("spend is counted by the hour: use 1h, 12h, 1d, 7d, …"),
        );
    }
}

fn check_agent(
    doc: &Document,
    agent: &Object<AgentSpec>,
    index: &Index<'_>,
    city_dir: &Path,
    out: &mut Vec<Diagnostic>,
) {
    let spec = &agent.spec;
    check_pods_unused(doc, spec.kubernetes.is_some(), index, out);
    let city = &index.city;
    let default_provider = city.as_ref().and_then(|(_, spec)| spec.default_provider.clone());
    match (&spec.provider, &default_provider) {
        (Some(p), _) => index.reference(doc, "/spec/provider", Kind::Provider, p, out),
        (None, None) if city.is_some() => out.push(
            Diagnostic::error(
                Code::MissingField,
                format!("agent `{}` has no provider", agent.metadata.name),
            )
            .at_key(doc, "/spec")
            .with_help("set spec.provider, or spec.defaultProvider on the City"),
        ),
        _ => {}
    }
    if let Some(rig) = &spec.rig {
        index.reference(doc, "/spec/rig", Kind::Rig, rig, out);
    }
    let provider = spec.provider.as_deref().or(default_provider.as_deref());
    check_agent_cli(doc, spec, provider, index, out);
    check_skills(doc, spec, provider, index, city_dir, out);
    check_mcp_servers(doc, spec, provider, index, out);
    for (i, dep) in spec.depends_on.iter().enumerate() {
        let pointer = format!("/spec/dependsOn/{i}");
        if dep == &agent.metadata.name {
            out.push(
                Diagnostic::error(Code::Cycle, format!("agent `{dep}` depends on itself"))
                    .at_value(doc, &pointer),
            );
        } else {
            index.reference(doc, &pointer, Kind::Agent, dep, out);
        }
    }
    if let Some(budget) = &spec.budget {
        check_budget(doc, budget, out);
    }
    if let Some(scaling) = &spec.scaling
        && scaling.min > scaling.max
    {
        out.push(
            Diagnostic::error(
                Code::ScalingRange,
                format!(
                    "scaling.min ({}) is greater than scaling.max ({})",
                    scaling.min, scaling.max
                ),
            )
            .at_value(doc, "/spec/scaling/min")
            .with_help("raise max or lower min"),
        );
    }
    if let Some(prompt) = &spec.prompt {
        let context = prompt_context(agent, index, default_provider.as_deref(), city_dir);
        if let Some(path) = &prompt.template {
            check_template_file(doc, path, city_dir, &context, out);
        }
        if let Some(text) = &prompt.inline
            && let Err(e) = prompt::check(&agent.metadata.name, text, &context)
        {
            out.push(
                Diagnostic::error(
                    Code::PromptTemplate,
                    format!("inline prompt does not render: {}", e.message),
                )
                .at_value(doc, "/spec/prompt/inline")
                .with_help(template_help()),
            );
        }
    }
}

/// A Provider's own consistency: the prompt flag, hooks that need a home, seed templates
/// that render, and conversation arguments that name the id.
fn check_provider(
    doc: &Document,
    spec: &crate::api::provider::ProviderSpec,
    out: &mut Vec<Diagnostic>,
) {
    if spec.prompt_mode == PromptMode::Flag && spec.prompt_flag.is_none() {
        out.push(
            Diagnostic::error(Code::InconsistentSettings, "`promptMode: flag` needs `promptFlag`")
                .at_value(doc, "/spec/promptMode")
                .with_help("set spec.promptFlag (e.g. `--prompt`), or use promptMode `arg`"),
        );
    }
    if spec.hooks.is_some() && spec.home.is_none() {
        out.push(
            Diagnostic::error(
                Code::InconsistentSettings,
                "`hooks` need `home`: gc writes the hooks file into the directory it owns",
            )
            .at_key(doc, "/spec/hooks")
            .with_help("set spec.home.env to the variable that points the CLI at its state"),
        );
    }
    if let Some(home) = &spec.home {
        let sample = crate::agentcli::home::SeedContext {
            work_dir: "/city/rig".into(),
            home: "/city/.gc/homes/s".into(),
            user_home: "/home/user".into(),
            session: "gc-city-agent".into(),
            agent: "agent".into(),
            env: BTreeMap::from([("HOME".to_owned(), "/home/user".to_owned())]),
        };
        for (i, seed) in home.seed.iter().enumerate() {
            if let Err(e) = crate::agentcli::home::render(&seed.merge, &sample) {
                out.push(
                    Diagnostic::error(Code::InvalidValue, format!("seed template: {e}"))
                        .at_key(doc, &format!("/spec/home/seed/{i}/merge"))
                        .with_help(
                            "seed strings are Jinja templates over work_dir, home, user_home, \
                             session, agent and env",
                        ),
                );
            }
        }
    }
    if let Some(conversation) = &spec.conversation {
        for (field, args) in
            [("newArgs", &conversation.new_args), ("resumeArgs", &conversation.resume_args)]
        {
            let names_id = args.iter().any(|a| a.contains("conversation_id"));
            if !args.is_empty() && !names_id {
                out.push(
                    Diagnostic::error(
                        Code::InconsistentSettings,
                        format!("conversation.{field} does not name the conversation"),
                    )
                    .at_value(doc, &format!("/spec/conversation/{field}"))
                    .with_help("put `{{ conversation_id }}` where the id goes"),
                );
            }
        }
    }
}

/// Each skill is a directory holding SKILL.md, each command a file, and the agent's Provider
/// says where its CLI reads them.
fn check_skills(
    doc: &Document,
    spec: &AgentSpec,
    provider: Option<&str>,
    index: &Index<'_>,
    city_dir: &Path,
    out: &mut Vec<Diagnostic>,
) {
    for (i, skill) in spec.skills.iter().enumerate() {
        let Ok(text) = std::fs::read_to_string(city_dir.join(skill).join("SKILL.md")) else {
            out.push(
                Diagnostic::error(Code::UnknownReference, format!("no {skill}/SKILL.md"))
                    .at_value(doc, &format!("/spec/skills/{i}"))
                    .with_help(
                        "a skill is a directory holding SKILL.md, relative to the city directory",
                    ),
            );
            continue;
        };
        let md = crate::agentcli::skill_md::Markdown::parse(&text);
        if md.field("name").is_none() || md.field("description").is_none() {
            out.push(
                Diagnostic::warning(
                    Code::InvalidValue,
                    format!("{skill}/SKILL.md has no front matter `name` and `description`"),
                )
                .at_value(doc, &format!("/spec/skills/{i}"))
                .with_help(
                    "Codex and Gemini CLI skip such a skill; start the file with \
                     ---, name: …, description: …, --- (gc import writes them for you)",
                ),
            );
        }
    }
    for (i, command) in spec.commands.iter().enumerate() {
        if !city_dir.join(command).is_file() {
            out.push(
                Diagnostic::error(Code::UnknownReference, format!("no file {command}"))
                    .at_value(doc, &format!("/spec/commands/{i}"))
                    .with_help("a command is a Markdown file, relative to the city directory"),
            );
        }
    }
    let Some(name) = provider else { return };
    let Some(Resource::Provider(p)) = index.resource(Kind::Provider, name) else { return };
    let home = p.spec.home.as_ref();
    let kinds = [
        (
            "skills",
            !spec.skills.is_empty(),
            home.and_then(|h| h.skills_dir.as_ref()),
            "skillsDir (skills for claude and codex, .gemini/skills for gemini)",
        ),
        (
            "commands",
            !spec.commands.is_empty(),
            home.and_then(|h| h.commands_dir.as_ref()),
            "commandsDir (commands for claude, skills for codex, .gemini/commands for gemini)",
        ),
    ];
    for (field, listed, dir, help) in kinds {
        if listed && dir.is_none() {
            out.push(
                Diagnostic::error(
                    Code::InconsistentSettings,
                    format!("provider `{name}` does not say where its CLI reads {field}"),
                )
                .at_key(doc, &format!("/spec/{field}"))
                .with_help(format!("set the Provider's home.{help}, or remove {field}")),
            );
        }
    }
}

/// Each MCP server has a valid name and is a program or an endpoint, with fields that fit;
/// the agent's Provider says where its CLI reads MCP servers and can speak to each one.
fn check_mcp_servers(
    doc: &Document,
    spec: &AgentSpec,
    provider: Option<&str>,
    index: &Index<'_>,
    out: &mut Vec<Diagnostic>,
) {
    use crate::api::mcp::{MCP_NAME_PATTERN, McpTransport};
    use crate::api::provider::McpFormat;
    if spec.mcp_servers.is_empty() {
        return;
    }
    let format = provider.and_then(|name| match index.resource(Kind::Provider, name) {
        Some(Resource::Provider(p)) => {
            Some(p.spec.home.as_ref().and_then(|h| h.mcp.as_ref()).map(|m| m.format))
        }
        _ => None,
    });
    if let (Some(name), Some(None)) = (provider, format) {
        out.push(
            Diagnostic::error(
                Code::InconsistentSettings,
                format!("provider `{name}` does not say where its CLI reads MCP servers"),
            )
            .at_key(doc, "/spec/mcpServers")
            .with_help("set the Provider's home.mcp (format, file), or remove mcpServers"),
        );
    }
    let name_pattern = regex::Regex::new(MCP_NAME_PATTERN).expect("valid pattern");
    for (name, server) in &spec.mcp_servers {
        let at = format!("/spec/mcpServers/{}", name.replace('~', "~0").replace('/', "~1"));
        let mut error = |code, message: String, field: Option<&str>, help: &str| {
            let diagnostic = Diagnostic::error(code, format!("MCP server `{name}`: {message}"));
            let diagnostic = match field {
                Some(field) => diagnostic.at_key(doc, &format!("{at}/{field}")),
                None => diagnostic.at_key(doc, &at),
            };
            out.push(diagnostic.with_help(help.to_owned()));
        };
        if !name_pattern.is_match(name) {
            error(
                Code::InvalidValue,
                "the name is not 1 to 64 letters, digits, `_` or `-`".into(),
                None,
                "it becomes part of the tool names the model sees (mcp__<name>__<tool>)",
            );
        }
        match (&server.command, &server.url) {
            (Some(_), Some(_)) | (None, None) => error(
                Code::ExactlyOne,
                "set exactly one of command (a program) and url (a remote server)".into(),
                None,
                "command starts a stdio server; url connects to a running one",
            ),
            (Some(_), None) => {
                for (field, set) in [
                    ("transport", server.transport.is_some()),
                    ("headers", !server.headers.is_empty()),
                ] {
                    if set {
                        error(
                            Code::InconsistentSettings,
                            format!("{field} is for remote servers (url), not a command"),
                            Some(field),
                            "remove it, or give url instead of command",
                        );
                    }
                }
            }
            (None, Some(_)) => {
                for (field, set) in
                    [("args", !server.args.is_empty()), ("env", !server.env.is_empty())]
                {
                    if set {
                        error(
                            Code::InconsistentSettings,
                            format!("{field} is for servers gc starts (command), not a url"),
                            Some(field),
                            "remove it, or give command instead of url",
                        );
                    }
                }
            }
        }
        for key in server.env.keys().filter(|k| !valid_env_name(k)) {
            error(
                Code::InvalidValue,
                format!("env `{key}` is not a variable name"),
                Some("env"),
                "use letters, digits and `_`, not starting with a digit",
            );
        }
        if format != Some(Some(McpFormat::CodexToml)) {
            continue;
        }
        let who = provider.unwrap_or_default();
        if server.url.is_some() && server.transport == Some(McpTransport::Sse) {
            error(
                Code::InconsistentSettings,
                format!("provider `{who}` (Codex) speaks only streamable HTTP, not sse"),
                Some("transport"),
                "use transport: http, or a Provider whose CLI speaks SSE",
            );
        }
        for (header, value) in &server.headers {
            let whole = crate::agentcli::mcp::variable(value).is_some();
            let bearer = header.eq_ignore_ascii_case("authorization")
                && value.strip_prefix("Bearer ").and_then(crate::agentcli::mcp::variable).is_some();
            if value.contains("${") && !whole && !bearer {
                error(
                    Code::InvalidValue,
                    format!(
                        "header {header}: Codex reads a variable only as the whole value or `Bearer ${{NAME}}`"
                    ),
                    Some("headers"),
                    "write the header as ${NAME}, or Authorization as Bearer ${NAME}",
                );
            }
        }
    }
}

fn valid_env_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

/// An agent's `workQuery` parses, and its permission mode is one its provider knows.
fn check_agent_cli(
    doc: &Document,
    spec: &AgentSpec,
    provider: Option<&str>,
    index: &Index<'_>,
    out: &mut Vec<Diagnostic>,
) {
    use crate::api::provider::PermissionMode;
    if let Some(query) = &spec.work_query
        && let Err(e) = crate::work::query::parse(query)
    {
        out.push(
            Diagnostic::error(
                Code::InvalidValue,
                format!("workQuery is not a bd ready filter: {e}"),
            )
            .at_value(doc, "/spec/workQuery")
            .with_help("write `bd ready` flags, e.g. `--label frontend --type bug`"),
        );
    }
    let Some(name) = provider else { return };
    let Some(Resource::Provider(p)) = index.resource(Kind::Provider, name) else { return };
    let modes = &p.spec.permission_modes;
    let mode = spec.permission_mode;
    if modes.contains_key(&mode) || (modes.is_empty() && mode == PermissionMode::Autonomous) {
        return;
    }
    let known: Vec<&str> = modes.keys().map(|m| m.as_str()).collect();
    let message = format!("provider `{name}` has no permission mode `{}`", mode.as_str());
    let help = if known.is_empty() {
        format!("provider `{name}` declares no permissionModes; leave permissionMode unset")
    } else {
        format!("it has: {}", known.join(", "))
    };
    let diagnostic = Diagnostic::error(Code::InconsistentSettings, message).with_help(help);
    out.push(if mode == PermissionMode::Autonomous {
        diagnostic.at_key(doc, "/spec")
    } else {
        diagnostic.at_value(doc, "/spec/permissionMode")
    });
}

fn template_help() -> &'static str {
    "templates use Jinja syntax and may refer to city.name, city.dir, agent.name, agent.base, agent.provider, agent.work_dir, agent.description, rig.name, rig.path, rig.prefix, session.name, session.index"
}

/// Placeholder values shaped like the ones the controller renders with.
fn prompt_context(
    agent: &Object<AgentSpec>,
    index: &Index<'_>,
    default_provider: Option<&str>,
    city_dir: &Path,
) -> PromptContext {
    let city_name = index.city.as_ref().map(|(name, _)| name.clone()).unwrap_or_default();
    let rig = agent.spec.rig.as_deref().map(|name| {
        let (path, prefix) = match index.resource(Kind::Rig, name) {
            Some(Resource::Rig(r)) => (r.spec.path.clone(), r.spec.effective_prefix(name)),
            _ => (String::new(), String::new()),
        };
        RigContext { name: name.to_owned(), path, prefix }
    });
    PromptContext {
        city: CityContext { name: city_name.clone(), dir: city_dir.display().to_string() },
        agent: AgentContext {
            name: agent.metadata.name.clone(),
            base: prompt::agent_base(&agent.metadata.name, agent.spec.rig.as_deref()),
            provider: agent
                .spec
                .provider
                .clone()
                .or(default_provider.map(str::to_owned))
                .unwrap_or_default(),
            work_dir: agent.spec.work_dir.clone().unwrap_or_default(),
            description: agent.spec.description.clone().unwrap_or_default(),
        },
        rig,
        session: SessionContext {
            name: format!("gc-{city_name}-{}", agent.metadata.name),
            index: 0,
        },
    }
}

fn check_template_file(
    doc: &Document,
    path: &str,
    city_dir: &Path,
    context: &PromptContext,
    out: &mut Vec<Diagnostic>,
) {
    let full = city_dir.join(path);
    let text = match std::fs::read_to_string(&full) {
        Ok(text) => text,
        Err(e) => {
            out.push(
                Diagnostic::error(
                    Code::PromptTemplate,
                    format!("prompt template `{path}` cannot be read: {e}"),
                )
                .at_value(doc, "/spec/prompt/template")
                .with_help(format!(
                    "template paths are relative to the city directory ({})",
                    city_dir.display()
                )),
            );
            return;
        }
    };
    if let Err(e) = prompt::check(path, &text, context) {
        let file = Arc::new(SourceFile::new(display_path(&full), text));
        let span = match (e.range, e.line) {
            (Some(range), _) => range,
            (None, Some(line)) => {
                let start = file
                    .text
                    .split_inclusive('\n')
                    .take(line.saturating_sub(1))
                    .map(str::len)
                    .sum();
                start..start
            }
            (None, None) => 0..0,
        };
        out.push(
            Diagnostic::error(
                Code::PromptTemplate,
                format!(
                    "prompt template does not render for agent `{}`: {}",
                    context.agent.name, e.message
                ),
            )
            .in_file(&file, span)
            .with_help(template_help()),
        );
    }
}

fn dependency_cycles(loaded: &[Loaded], index: &Index<'_>, out: &mut Vec<Diagnostic>) {
    let agents: BTreeMap<&str, (&Document, &AgentSpec)> = loaded
        .iter()
        .filter_map(|l| match &l.resource {
            Resource::Agent(a) => Some((a.metadata.name.as_str(), (&l.doc, &a.spec))),
            _ => None,
        })
        .collect();
    let not_self = |name: &str, deps: &[String]| -> Vec<String> {
        deps.iter().filter(|d| *d != name).cloned().collect()
    };
    let edges = agents
        .iter()
        .map(|(name, (_, spec))| (name.to_string(), not_self(name, &spec.depends_on)))
        .collect();
    let edges = reachable_edges(edges, |name| match index.resource(Kind::Agent, name)? {
        Resource::Agent(a) => Some(not_self(name, &a.spec.depends_on)),
        _ => None,
    });
    for (doc, spec, next, cycle) in cycles_at(&edges, &agents) {
        let i = spec.depends_on.iter().position(|d| *d == next).unwrap_or(0);
        out.push(
            Diagnostic::error(Code::Cycle, format!("dependsOn cycle: {cycle}"))
                .at_value(doc, &format!("/spec/dependsOn/{i}"))
                .with_help("agents start in dependsOn order, so the chain must end somewhere"),
        );
    }
}

fn extends_cycles(loaded: &[Loaded], index: &Index<'_>, out: &mut Vec<Diagnostic>) {
    let formulas: BTreeMap<&str, (&Document, &Vec<String>)> = loaded
        .iter()
        .filter_map(|l| match &l.resource {
            Resource::Formula(f) => Some((f.metadata.name.as_str(), (&l.doc, &f.spec.extends))),
            _ => None,
        })
        .collect();
    for (doc, extends) in formulas.values() {
        for (i, parent) in extends.iter().enumerate() {
            index.reference(doc, &format!("/spec/extends/{i}"), Kind::Formula, parent, out);
        }
    }
    let edges = formulas.iter().map(|(name, (_, ext))| (name.to_string(), ext.to_vec())).collect();
    let edges = reachable_edges(edges, |name| match index.resource(Kind::Formula, name)? {
        Resource::Formula(f) => Some(f.spec.extends),
        _ => None,
    });
    for (doc, extends, next, cycle) in cycles_at(&edges, &formulas) {
        let i = extends.iter().position(|p| *p == next).unwrap_or(0);
        out.push(
            Diagnostic::error(Code::Cycle, format!("extends cycle: {cycle}"))
                .at_value(doc, &format!("/spec/extends/{i}")),
        );
    }
}

/// The formulas `name` extends, transitively, with itself; `None` when one is missing or
/// the chain is circular (both reported by `extends_cycles`).
fn formula_family(index: &Index<'_>, name: &str) -> Option<BTreeMap<String, FormulaSpec>> {
    let mut family = BTreeMap::new();
    let mut todo = vec![name.to_owned()];
    while let Some(next) = todo.pop() {
        if family.contains_key(&next) {
            continue;
        }
        let Some(Resource::Formula(f)) = index.resource(Kind::Formula, &next) else {
            // A missing parent is reported by `extends_cycles`; a missing composed formula by
            // the compile, where its rule names it.
            if next == name || family.values().any(|s: &FormulaSpec| s.extends.contains(&next)) {
                return None;
            }
            continue;
        };
        todo.extend(f.spec.extends.iter().cloned());
        todo.extend(composed(&f.spec));
        family.insert(next, f.spec);
        if family.len() > 64 {
            return None;
        }
    }
    Some(family)
}

/// The formulas `spec` weaves in: expansions and aspects of its compose rules, inline expands.
fn composed(spec: &FormulaSpec) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(compose) = &spec.compose {
        out.extend(compose.expand.iter().map(|r| r.with.clone()));
        out.extend(compose.map.iter().map(|r| r.with.clone()));
        out.extend(compose.aspects.iter().cloned());
    }
    let mut steps: Vec<&crate::api::formula::StepSpec> = spec.steps.iter().collect();
    while let Some(step) = steps.pop() {
        out.extend(step.expand.clone());
        steps.extend(step.children.iter());
    }
    out
}

/// Compiles each loaded formula that extends others, so `needs` naming an inherited step are
/// resolved and cycles through inherited steps are found before anything is cooked.
fn extended_formulas(loaded: &[Loaded], index: &Index<'_>, out: &mut Vec<Diagnostic>) {
    for item in loaded {
        let Resource::Formula(f) = &item.resource else { continue };
        let name = f.metadata.name.as_str();
        // A formula on its own had its plain `needs` cycles reported by `check_formula`; the
        // compiler can still find one through a needed step's children.
        let cycle_known = f.spec.extends.is_empty()
            && out.iter().any(|d| {
                d.code == Code::Cycle
                    && d.location
                        .as_ref()
                        .is_some_and(|(file, _)| Arc::ptr_eq(file, &item.doc.file))
            });
        let Some(family) = formula_family(index, name) else { continue };
        let doc = &item.doc;
        match crate::formula::compile(name, &|n| family.get(n)) {
            Err(CompileError::UnknownNeed { step, need, formula, path })
                if formula == name && !f.spec.extends.is_empty() =>
            {
                out.push(
                    Diagnostic::error(
                        Code::UnknownReference,
                        format!("step `{step}` needs unknown step `{need}`"),
                    )
                    .at_value(doc, &path)
                    .with_help(format!(
                        "steps of `{name}` and of the formulas it extends ({}) can be needed",
                        f.spec.extends.join(", ")
                    )),
                );
            }
            Err(CompileError::NeedsCycle(cycle)) if !cycle_known => {
                let at = f.spec.steps.iter().position(|s| cycle.contains(&s.id)).map_or_else(
                    || "/spec/extends/0".to_owned(),
                    |i| format!("/spec/steps/{i}/needs"),
                );
                out.push(
                    Diagnostic::error(
                        Code::Cycle,
                        format!(
                            "needs cycle (through inherited steps or a needed step's children): {}",
                            cycle.join(" → ")
                        ),
                    )
                    .at_value(doc, &at)
                    .with_help("a step can only need steps that can finish before it"),
                );
            }
            Err(CompileError::Compose { formula, path, message }) if formula == name => {
                out.push(
                    Diagnostic::error(Code::UnknownReference, message)
                        .at_value(doc, &path)
                        .with_help("compose names applied formulas: expansions (type: expansion) and aspects (type: aspect)"),
                );
            }
            // Missing parents, extends cycles and duplicate ids are reported where they are.
            _ => {}
        }
    }
}

fn prefix_collisions(loaded: &[Loaded], index: &Index<'_>, out: &mut Vec<Diagnostic>) {
    // Rigs already applied come first, unless a loaded file replaces them.
    let loaded_rigs: BTreeSet<&str> = loaded
        .iter()
        .filter(|l| l.resource.kind() == Kind::Rig)
        .map(|l| l.resource.name())
        .collect();
    let mut seen: HashMap<String, String> = HashMap::new();
    for name in index.known_names.get(&Kind::Rig).into_iter().flatten() {
        if loaded_rigs.contains(name.as_str()) {
            continue;
        }
        if let Some(Resource::Rig(rig)) = index.resource(Kind::Rig, name) {
            seen.entry(rig.spec.effective_prefix(name)).or_insert_with(|| name.clone());
        }
    }
    for item in loaded {
        let Resource::Rig(rig) = &item.resource else { continue };
        let prefix = rig.spec.effective_prefix(&rig.metadata.name);
        match seen.get(&prefix) {
            None => {
                seen.insert(prefix, rig.metadata.name.clone());
            }
            Some(other) if *other != rig.metadata.name => {
                let derived = rig.spec.prefix.is_none();
                let diagnostic = Diagnostic::error(
                    Code::PrefixCollision,
                    format!(
                        "rig `{}` has bead prefix `{prefix}`{}, already used by rig `{other}`",
                        rig.metadata.name,
                        if derived { " (derived from its name)" } else { "" },
                    ),
                )
                .with_help(
                    "set a distinct spec.prefix: bead ids must say which rig they belong to",
                );
                out.push(if derived {
                    diagnostic.at_value(&item.doc, "/metadata/name")
                } else {
                    diagnostic.at_value(&item.doc, "/spec/prefix")
                });
            }
            Some(_) => {}
        }
    }
}

/// Every step of a formula, children included, in file order (each step before its
/// children), with the JSON pointer of each.
fn all_steps<'a>(steps: &'a [StepSpec], base: &str, out: &mut Vec<(&'a StepSpec, String)>) {
    for (i, step) in steps.iter().enumerate() {
        let pointer = format!("{base}/{i}");
        out.push((step, pointer.clone()));
        all_steps(&step.children, &format!("{pointer}/children"), out);
    }
}

/// A convoy formula: legs there, their ids unique, and what names legs naming real ones.
fn check_convoy(doc: &Document, spec: &crate::api::FormulaSpec, out: &mut Vec<Diagnostic>) {
    if spec.legs.is_empty() {
        out.push(
            Diagnostic::error(Code::MissingField, "a convoy formula needs `legs`")
                .at_value(doc, "/spec/type")
                .with_help("list the parallel legs under `legs`, each with an `id`"),
        );
    }
    let mut seen = BTreeSet::new();
    for (i, leg) in spec.legs.iter().enumerate() {
        if !seen.insert(leg.id.as_str()) {
            out.push(
                Diagnostic::error(Code::DuplicateStepId, format!("duplicate leg id `{}`", leg.id))
                    .at_value(doc, &format!("/spec/legs/{i}/id")),
            );
        }
    }
    let legs: Vec<&str> = seen.iter().copied().collect();
    let mut named = Vec::new();
    if let Some(synthesis) = &spec.synthesis {
        for (i, leg) in synthesis.depends_on.iter().enumerate() {
            named.push((leg, format!("/spec/synthesis/dependsOn/{i}")));
        }
    }
    for (preset, p) in &spec.presets {
        let base = crate::manifest::push_pointer("/spec/presets", preset);
        for (i, leg) in p.legs.iter().enumerate() {
            named.push((leg, format!("{base}/legs/{i}")));
        }
    }
    for (leg, at) in named {
        if !seen.contains(leg.as_str()) {
            out.push(
                Diagnostic::error(Code::UnknownReference, format!("no leg `{leg}`"))
                    .at_value(doc, &at)
                    .with_help_opt(help_for(leg, &legs, "legs")),
            );
        }
    }
}

fn check_formula(doc: &Document, spec: &crate::api::FormulaSpec, out: &mut Vec<Diagnostic>) {
    use crate::api::formula::FormulaType;
    let missing = match spec.formula_type {
        FormulaType::Expansion if spec.template.is_empty() => Some(("template", "expansion")),
        FormulaType::Aspect if spec.advice.is_empty() => Some(("advice", "aspect")),
        _ => None,
    };
    if spec.formula_type == FormulaType::Convoy {
        check_convoy(doc, spec, out);
    }
    if let Some((field, kind)) = missing {
        out.push(
            Diagnostic::error(Code::MissingField, format!("an {kind} formula needs `{field}`"))
                .at_value(doc, "/spec/type")
                .with_help(match kind {
                    "expansion" => "list the steps that replace a target step under `template`",
                    _ => "list the steps to insert around matching steps under `advice`",
                }),
        );
    }
    let mut steps = Vec::new();
    all_steps(&spec.steps, "/spec/steps", &mut steps);

    let mut ids: BTreeMap<&str, &str> = BTreeMap::new();
    for (step, pointer) in &steps {
        if let Some(first) = ids.get(step.id.as_str()) {
            out.push(
                Diagnostic::error(
                    Code::DuplicateStepId,
                    format!("duplicate step id `{}`", step.id),
                )
                .at_value(doc, &format!("{pointer}/id"))
                .with_help(format!("first used at {}", position(doc, &format!("{first}/id")))),
            );
        } else {
            ids.insert(&step.id, pointer);
        }
    }
    let id_list: Vec<&str> = ids.keys().copied().collect();
    let mut edges: BTreeMap<&str, Vec<&str>> = ids.keys().map(|id| (*id, Vec::new())).collect();
    for (step, pointer) in &steps {
        for (i, need) in step.needs.iter().enumerate() {
            let at = format!("{pointer}/needs/{i}");
            if need == &step.id {
                out.push(
                    Diagnostic::error(Code::Cycle, format!("step `{need}` needs itself"))
                        .at_value(doc, &at),
                );
            } else if ids.contains_key(need.as_str()) {
                edges.entry(step.id.as_str()).or_default().push(need);
            } else if !spec.extends.is_empty() {
                // May be a step of a formula this one extends: checked once `extends` is
                // resolved (`extended_formulas`).
            } else {
                out.push(
                    Diagnostic::error(
                        Code::UnknownReference,
                        format!("step `{}` needs unknown step `{need}`", step.id),
                    )
                    .at_value(doc, &at)
                    .with_help_opt(help_for(need, &id_list, "steps")),
                );
            }
        }
    }
    for (step, pointer) in &steps {
        let (key, other) = match (&step.retry, &step.ralph) {
            (Some(_), Some(_)) => ("ralph", Some("retry")),
            (Some(_), None) if step.gate.is_some() => ("retry", Some("gate")),
            (None, Some(_)) if step.gate.is_some() => ("ralph", Some("gate")),
            (Some(_), None) if !step.children.is_empty() => ("retry", Some("children")),
            (None, Some(_)) if !step.children.is_empty() => ("ralph", Some("children")),
            _ => ("", None),
        };
        if let Some(other) = other {
            out.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    format!("step `{}`: `{key}` cannot be combined with `{other}`", step.id),
                )
                .at_value(doc, &format!("{pointer}/{key}"))
                .with_help(match other {
                    "children" => "put the retried work in a step of its own",
                    "gate" => "put the gate on a step before it",
                    _ => "choose one: retry reruns failed attempts, ralph reruns until a check passes",
                }),
            );
        }
    }
    for (step, pointer) in &steps {
        let Some(gate) = &step.gate else { continue };
        use crate::api::formula::GateKind;
        let at = format!("{pointer}/gate");
        let needs_id =
            matches!(gate.kind, GateKind::Mail | GateKind::Bead | GateKind::GhRun | GateKind::GhPr);
        if gate.kind == GateKind::Timer && gate.timeout.is_none() {
            out.push(
                Diagnostic::error(
                    Code::MissingField,
                    format!("step `{}`: a timer gate needs `timeout`", step.id),
                )
                .at_value(doc, &at)
                .with_help("say how long it runs, e.g. `timeout: 2h`"),
            );
        } else if needs_id && gate.await_id.as_deref().is_none_or(|s| s.trim().is_empty()) {
            out.push(
                Diagnostic::error(
                    Code::MissingField,
                    format!("step `{}`: a `{}` gate needs `awaitId`", step.id, gate.kind.as_str()),
                )
                .at_value(doc, &at)
                .with_help("name what it waits on: a message or bead id, a run id, a PR number"),
            );
        }
    }
    for cycle in cycles(&edges) {
        let (step, pointer) =
            steps.iter().find(|(s, _)| s.id == cycle[0]).expect("cycle members are steps");
        let i = step.needs.iter().position(|n| *n == cycle[1]).unwrap_or(0);
        out.push(
            Diagnostic::error(Code::Cycle, format!("needs cycle: {}", cycle.join(" → ")))
                .at_value(doc, &format!("{pointer}/needs/{i}"))
                .with_help("a step can only need steps that can finish before it"),
        );
    }
    for (name, var) in &spec.vars {
        let base = crate::manifest::push_pointer("/spec/vars", name);
        if let Some(pattern) = &var.pattern {
            match regex::Regex::new(&format!("^(?:{pattern})$")) {
                Err(e) => out.push(
                    Diagnostic::error(
                        Code::InvalidPattern,
                        format!(
                            "var `{name}`: pattern does not compile: {}",
                            first_line(&e.to_string())
                        ),
                    )
                    .at_value(doc, &format!("{base}/pattern")),
                ),
                Ok(re) => {
                    if let Some(default) = &var.default
                        && !re.is_match(default)
                    {
                        out.push(
                            Diagnostic::error(
                                Code::InvalidValue,
                                format!(
                                    "var `{name}`: default `{default}` does not match its pattern"
                                ),
                            )
                            .at_value(doc, &format!("{base}/default")),
                        );
                    }
                }
            }
        }
        if let Some(default) = &var.default
            && !var.allowed.is_empty()
            && !var.allowed.contains(default)
        {
            let allowed: Vec<&str> = var.allowed.iter().map(String::as_str).collect();
            out.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    format!("var `{name}`: default `{default}` is not one of its enum values"),
                )
                .at_value(doc, &format!("{base}/default"))
                .with_help_opt(help_for(default, &allowed, "allowed")),
            );
        }
    }
}

fn first_line(s: &str) -> &str {
    s.lines().last().unwrap_or(s).trim()
}

fn check_order(
    doc: &Document,
    order: &Object<crate::api::OrderSpec>,
    index: &Index<'_>,
    out: &mut Vec<Diagnostic>,
) {
    let spec = &order.spec;
    if let Some(f) = &spec.formula {
        index.reference(doc, "/spec/formula", Kind::Formula, f, out);
        order_vars(doc, f, &spec.vars, index, out);
    }
    if let Some(t) = &spec.target {
        index.reference(doc, "/spec/target", Kind::Agent, t, out);
    }
    if spec.exec.is_some() && !spec.vars.is_empty() {
        out.push(
            Diagnostic::warning(
                Code::InconsistentSettings,
                "`vars` only apply to formula orders; this order runs `exec`",
            )
            .at_key(doc, "/spec/vars"),
        );
    }
    if let Some(cron) = &spec.gate.cron
        && let Err(e) = parse_cron(&cron.schedule)
    {
        out.push(
            Diagnostic::error(Code::InvalidCron, format!("invalid cron schedule `{}`: {e}", cron.schedule))
                .at_value(doc, "/spec/gate/cron/schedule")
                .with_help("five fields: minute hour day-of-month month day-of-week, e.g. `*/15 9-17 * * MON-FRI`"),
        );
    }
}

/// An order's `vars` against its formula's: each order run would fail the same way, so the
/// mistake is reported now.
fn order_vars(
    doc: &Document,
    formula: &str,
    given: &BTreeMap<String, String>,
    index: &Index<'_>,
    out: &mut Vec<Diagnostic>,
) {
    let Some(family) = formula_family(index, formula) else { return };
    let Ok(compiled) = crate::formula::compile(formula, &|n| family.get(n)) else { return };
    let Err(errors) = crate::formula::vars::resolve(&compiled.vars, given) else { return };
    for error in errors {
        let var_pointer = |name: &str| crate::manifest::push_pointer("/spec/vars", name);
        let diagnostic = match &error {
            VarError::Unknown { name, known } => {
                let known: Vec<&str> = known.iter().map(String::as_str).collect();
                Diagnostic::error(
                    Code::UnknownReference,
                    format!("formula `{formula}` has no var `{name}`"),
                )
                .at_key(doc, &var_pointer(name))
                .with_help_opt(help_for(name, &known, "vars"))
            }
            VarError::Missing { name, .. } => Diagnostic::error(
                Code::MissingField,
                format!("formula `{formula}` needs var `{name}`, which this order does not set"),
            )
            .at_value(doc, "/spec/formula")
            .with_help(format!("add `{name}` under spec.vars")),
            VarError::MissingOneOf { names } => Diagnostic::error(
                Code::MissingField,
                format!("formula `{formula}` needs one of the vars {}", names.join(", ")),
            )
            .at_value(doc, "/spec/formula")
            .with_help("add one of them under spec.vars"),
            VarError::NotAllowed { name, .. } | VarError::NoMatch { name, .. } => {
                Diagnostic::error(Code::InvalidValue, error.to_string())
                    .at_value(doc, &var_pointer(name))
            }
            VarError::Malformed(_) => continue,
        };
        out.push(diagnostic);
    }
}

/// Parses a 5-field cron schedule (no seconds field): [`crate::orders::schedule::Schedule`].
pub fn parse_cron(schedule: &str) -> Result<crate::orders::schedule::Schedule, String> {
    crate::orders::schedule::Schedule::parse(schedule)
}
