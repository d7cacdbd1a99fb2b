//! Agents: each composed Gas City agent, once for the city or once per rig, as an Agent
//! resource (with its own Provider when it overrides launch settings) and a prompt template.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use super::compose::display_pointer;
use super::gotemplate;
use super::source::Sourced;
use super::templates::{self, Scope, Template};
use super::{Importer, names, spec_json};
use crate::api::agent::{Isolation, PromptSpec, ScalingSpec};
use crate::api::{AgentSpec, Kind};

/// Named sessions by agent name: mode and where declared.
type NamedSessions = BTreeMap<String, (String, Sourced)>;

/// Pool size written for agents Gas City lets grow without limit.
const UNLIMITED_POOL: u32 = 10;

/// One agent to write: a template instantiated for the city or for one rig.
struct Instance<'t> {
    template: &'t Template,
    rig: Option<String>,
    name: String,
}

impl Importer<'_> {
    pub(super) fn agents(&mut self) {
        let city_closure = self.tree.closure(0);
        let defined = templates::all_pack_templates(&self.tree, &mut self.report);
        let city_templates =
            templates::compose(&self.tree, &defined, &city_closure, &mut self.report);
        let city_named = templates::named_sessions(&self.tree, &city_closure);
        let mut rig_sets = Vec::new();
        for rig in self.rigs.clone() {
            let mut ts = templates::compose(&self.tree, &defined, &rig.packs, &mut self.report);
            for o in &rig.overrides {
                templates::apply_patch(&mut ts, o, "agent", &mut self.report);
            }
            let named = templates::named_sessions(&self.tree, &rig.packs);
            rig_sets.push((rig.name.clone(), ts, named));
        }
        // Names first, so `depends_on` can refer to agents written later.
        let mut plan: Vec<(Instance<'_>, &NamedSessions)> = Vec::new();
        for t in &city_templates {
            match t.scope() {
                Scope::City => plan.push((
                    Instance { template: t, rig: None, name: names::agent_name(None, &t.name) },
                    &city_named,
                )),
                Scope::Rig(dir) => {
                    let rig = names::label(&dir);
                    plan.push((
                        Instance {
                            template: t,
                            name: names::agent_name(Some(&rig), &t.name),
                            rig: Some(rig),
                        },
                        &city_named,
                    ));
                }
                Scope::EachRig => {}
            }
        }
        for (rig, ts, named) in &rig_sets {
            for t in ts.iter().filter(|t| t.scope() == Scope::EachRig) {
                plan.push((
                    Instance {
                        template: t,
                        rig: Some(rig.clone()),
                        name: names::agent_name(Some(rig), &t.name),
                    },
                    named,
                ));
            }
        }
        for (i, _) in &plan {
            self.agent_names.insert((i.rig.clone(), i.template.name.clone()), i.name.clone());
        }
        let mut seen = BTreeMap::new();
        for (instance, named) in &plan {
            if let Some(first) =
                seen.insert(instance.name.clone(), instance.template.declared.shown().to_owned())
            {
                let why = format!(
                    "its resource name `{}` is taken by the agent from {first}",
                    instance.name
                );
                templates::report_all(instance.template, &why, &mut self.report);
                continue;
            }
            self.agent(instance, named.get(&instance.template.name));
        }
        // Rig-scoped agents no rig stamps.
        let stamped: Vec<&str> = plan.iter().map(|(i, _)| i.template.name.as_str()).collect();
        for t in city_templates
            .iter()
            .filter(|t| t.scope() == Scope::EachRig && !stamped.contains(&t.name.as_str()))
        {
            let why = format!(
                "`{}` is a rig-scoped agent and no rig includes its pack; give `--rig NAME=PATH` to gc import to stamp it for a rig",
                t.name
            );
            templates::report_all(t, &why, &mut self.report);
        }
    }

    fn agent(&mut self, instance: &Instance<'_>, named: Option<&(String, Sourced)>) {
        let t = instance.template;
        let resource = format!("Agent/{}", instance.name);
        let to = |field: &str| format!("{resource} {field}");
        let mut spec = AgentSpec { rig: instance.rig.clone(), ..AgentSpec::default() };
        let mut launch: BTreeMap<String, Sourced> = BTreeMap::new();
        let mut min = None;
        let mut max = None;
        let mut scale_check = None;
        let mut overlay_dir = None;
        for (key, s) in &t.keys {
            let (file, line, k) = (s.shown().to_owned(), s.line(), display_pointer(&s.pointer));
            let mut not = |why: &str| self.report.not_mapped(&file, line, &k, why);
            match key.as_str() {
                "name" => {
                    if names::unchanged(&t.name) && instance.rig.is_none() {
                        self.report.mapped(&file, line, &k, to("metadata.name"));
                    } else {
                        self.report.approximated(
                            &file,
                            line,
                            &k,
                            to("metadata.name"),
                            format!("named `{}`", instance.name),
                        );
                    }
                }
                "description" => {
                    spec.description = s.str().map(str::to_owned);
                    self.report.mapped(&file, line, &k, to("spec.description"));
                }
                "nudge" => {
                    spec.nudge = s.str().map(str::to_owned);
                    self.report.mapped(&file, line, &k, to("spec.nudge"));
                }
                "suspended" => {
                    spec.suspended = s.value.as_bool().unwrap_or(false);
                    self.report.mapped(&file, line, &k, to("spec.suspended"));
                }
                "env" => {
                    let env = super::city::string_map(&s.value);
                    let (ok, bad): (BTreeMap<_, _>, BTreeMap<_, _>) =
                        env.into_iter().partition(|(name, _)| valid_env_name(name));
                    spec.env = ok;
                    if bad.is_empty() {
                        self.report.mapped(&file, line, &k, to("spec.env"));
                    } else {
                        let names: Vec<_> = bad.keys().cloned().collect();
                        self.report.approximated(
                            &file,
                            line,
                            &k,
                            to("spec.env"),
                            format!("left out {}: not shell variable names", names.join(", ")),
                        );
                    }
                }
                "idle_timeout" => {
                    if let Some(d) = self.duration(s) {
                        spec.idle_timeout = Some(d);
                        self.report.mapped(&file, line, &k, to("spec.idleTimeout"));
                    }
                }
                "min_active_sessions" => min = Some((s.value.as_u64().unwrap_or(0), s.clone())),
                "max_active_sessions" => max = Some((s.value.as_u64().unwrap_or(0), s.clone())),
                "scale_check" => scale_check = Some(s.clone()),
                "depends_on" => {} // after the loop, once names are known
                "provider"
                | "start_command"
                | "args"
                | "prompt_mode"
                | "prompt_flag"
                | "ready_delay_ms"
                | "ready_prompt_prefix"
                | "process_names" => {
                    launch.insert(key.clone(), s.clone());
                }
                "prompt_template" | "inject_fragments" => {} // with the prompt
                "scope" | "dir" | "fallback" => {
                    self.report.mapped(
                        &file,
                        line,
                        &k,
                        format!("{resource} (where and whether the agent is instantiated)"),
                    );
                }
                "work_dir" => self.work_dir(&mut spec, instance, s),
                "pre_start" if is_worktree_setup(s) => {
                    spec.isolation = Isolation::Worktree;
                    let how = "gc makes each session's git worktree itself (.gc/worktrees/<rig>/<member>); the setup script is not run";
                    self.report.approximated(&file, line, &k, to("spec.isolation"), how);
                }
                "pre_start" | "session_setup" | "session_setup_script" | "session_live" => not(
                    "gc runs no setup commands in sessions; put them in the provider's command or a wrapper script",
                ),
                "on_boot" | "on_death" => not(
                    "gc has no per-agent hooks; an Order gated on `session.*` events can run a command",
                ),
                "wake_mode" if s.str() == Some("fresh") => self.report.approximated(
                    &file,
                    line,
                    &k,
                    to("(launch)"),
                    "gc starts a fresh conversation unless the Provider sets `conversation.resumeArgs`",
                ),
                "wake_mode" => {
                    not("gc resumes conversations only through the Provider's `conversation.resumeArgs`")
                }
                "work_query" => not(
                    "gc's workQuery is a bd ready filter, not a shell command; agents find their work with `gc hook`",
                ),
                "sling_query" => not("gc sling routes work by assignee"),
                "default_sling_formula" => not("gc sling takes --formula explicitly"),
                "namepool" => not("gc names pool members <agent>-<n>"),
                "overlay_dir" => overlay_dir = Some(s.clone()), // with the overlays
                "drain_timeout" => not("gc stops idle pool members without a drain handshake"),
                "sleep_after_idle" => {
                    not("gc has no session sleep; spec.idleTimeout stops idle sessions")
                }
                "resume_command" => not("gc resumes with the Provider's `conversation.resumeArgs`"),
                "session" => not("gc has no ACP session transport"),
                "attach" => not("gc sessions can always be attached"),
                "install_agent_hooks" | "hooks_installed" => not("gc installs no provider hooks"),
                "skills" | "mcp" | "inject_assigned_skills" => not(
                    "skills and MCP lists are ignored by Gas City too (tombstones) or have no gc equivalent",
                ),
                "emits_permission_warning" | "option_defaults" => not("gc has no provider options"),
                _ => self.unknown_key("agent", key, s),
            }
        }
        spec.scaling = self.scaling(&resource, named, min, max, scale_check, &mut spec);
        spec.depends_on = self.depends_on(t, instance, &resource);
        spec.provider = self.agent_provider(t, &launch, &resource);
        spec.prompt = self.prompt(t, instance);
        let from = format!("{}:{}", t.declared.shown(), t.declared.line());
        self.add(Kind::Agent, &instance.name, spec_json(&spec), from);
        self.agent_origins.push(super::overlays::AgentOrigin {
            name: instance.name.clone(),
            rig: instance.rig.clone(),
            pack: t.pack,
            template: t.name.clone(),
            overlay_dir,
        });
    }

    fn scaling(
        &mut self,
        resource: &str,
        named: Option<&(String, Sourced)>,
        min: Option<(u64, Sourced)>,
        max: Option<(u64, Sourced)>,
        scale_check: Option<Sourced>,
        spec: &mut AgentSpec,
    ) -> Option<ScalingSpec> {
        let to = format!("{resource} spec.scaling");
        let clamp = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        for s in [min.as_ref().map(|m| &m.1), max.as_ref().map(|m| &m.1)].into_iter().flatten() {
            self.report.mapped(s.shown(), s.line(), &display_pointer(&s.pointer), to.clone());
        }
        if let Some((mode, s)) = named {
            let key = format!("{} (template {})", display_pointer(&s.pointer), named_template(s));
            let how = if mode == "always" {
                "kept running: at least one session"
            } else {
                "started when work is routed to it: a pool of 0..max"
            };
            self.report.approximated(s.shown(), s.line(), &key, to.clone(), how);
        }
        if max.as_ref().is_some_and(|(n, _)| *n == 0) {
            spec.suspended = true;
            if let Some((_, s)) = &max {
                self.report.approximated(
                    s.shown(),
                    s.line(),
                    &display_pointer(&s.pointer),
                    format!("{resource} spec.suspended"),
                    "0 sessions allowed: the agent is suspended",
                );
            }
            return None;
        }
        let always = named.is_some_and(|(mode, _)| mode == "always");
        let min_n = min.as_ref().map(|(n, _)| clamp(*n));
        let max_n = max.as_ref().map(|(n, _)| clamp(*n));
        let pool_wanted = named.is_some_and(|(mode, _)| mode != "always")
            || min.is_some()
            || max.is_some()
            || scale_check.is_some();
        let min_n = if always { min_n.unwrap_or(1).max(1) } else { min_n.unwrap_or(0) };
        let max_n = match max_n {
            Some(n) => n.max(min_n).max(1),
            None if always || named.is_some() => min_n.max(1),
            None if pool_wanted => {
                let n = self.workspace_max.unwrap_or(UNLIMITED_POOL).max(min_n).max(1);
                if let Some((_, s)) = &min {
                    self.report.approximated(
                        s.shown(),
                        s.line(),
                        &display_pointer(&s.pointer),
                        to.clone(),
                        format!(
                            "no max_active_sessions (unlimited in Gas City): scaling.max = {n}"
                        ),
                    );
                }
                n
            }
            None => return None,
        };
        if min_n == 1 && max_n == 1 && scale_check.is_none() {
            return None; // exactly one session: gc's default
        }
        if let Some(s) = &scale_check {
            self.report.mapped(
                s.shown(),
                s.line(),
                &display_pointer(&s.pointer),
                format!("{to}.scaleCheck"),
            );
        }
        Some(ScalingSpec {
            min: min_n,
            max: max_n,
            scale_check: scale_check.and_then(|s| s.str().map(str::to_owned)),
            scale_check_timeout: crate::api::Duration::from_secs(30),
        })
    }

    fn depends_on(&mut self, t: &Template, instance: &Instance<'_>, resource: &str) -> Vec<String> {
        let Some(s) = t.keys.get("depends_on") else { return Vec::new() };
        let (file, line, k) = (s.shown().to_owned(), s.line(), display_pointer(&s.pointer));
        let mut out = Vec::new();
        let mut missing = Vec::new();
        for name in s.strings().unwrap_or_default() {
            let base = name.rsplit(['/', '.']).next().unwrap_or(&name).to_owned();
            let found = self
                .agent_names
                .get(&(instance.rig.clone(), base.clone()))
                .or_else(|| self.agent_names.get(&(None, base.clone())));
            match found {
                Some(n) if n != &instance.name => out.push(n.clone()),
                _ => missing.push(name),
            }
        }
        if missing.is_empty() {
            self.report.mapped(&file, line, &k, format!("{resource} spec.dependsOn"));
        } else {
            let how =
                format!("left out {}: no such agent in the imported city", missing.join(", "));
            self.report.approximated(&file, line, &k, format!("{resource} spec.dependsOn"), how);
        }
        out
    }

    /// The agent's Provider: the one it (or the city) names, or a Provider of its own when it
    /// overrides launch settings (`start_command`, `args`, prompt and readiness keys).
    fn agent_provider(
        &mut self,
        t: &Template,
        launch: &BTreeMap<String, Sourced>,
        resource: &str,
    ) -> Option<String> {
        let base = match launch.get("provider") {
            Some(s) => {
                let p = s.str().and_then(|n| self.provider_ref(n, s));
                if p.is_some() {
                    self.report.mapped(
                        s.shown(),
                        s.line(),
                        &display_pointer(&s.pointer),
                        format!("{resource} spec.provider"),
                    );
                }
                p
            }
            None => None,
        };
        let overrides: Vec<&Sourced> =
            launch.iter().filter(|(k, _)| **k != "provider").map(|(_, s)| s).collect();
        if overrides.is_empty() {
            let default = self.default_provider(&t.declared);
            // An agent on the city's default provider follows it, as it did in Gas City.
            return base.filter(|b| Some(b) != default.as_ref());
        }
        let name = names::label(&format!("{}-provider", t.name));
        if self.providers.contains(&name) {
            return Some(name); // already written for another rig's instance
        }
        let command = launch.get("start_command");
        let base = match base {
            Some(b) => Some(b),
            None if command.is_some() => None,
            None => self.default_provider(&t.declared),
        };
        let spec = match command {
            Some(cmd) => self.command_spec(cmd, base.as_deref(), t.pack),
            None => base.as_deref().and_then(|b| self.provider_spec(b)),
        };
        let Some(mut spec) = spec else { return base };
        let to = |field: &str| format!("Provider/{name} spec.{field}");
        for s in overrides {
            let (file, line, k) = (s.shown().to_owned(), s.line(), display_pointer(&s.pointer));
            let key = s.pointer.rsplit('/').next().unwrap_or_default();
            match super::city::set_launch_key(&mut spec, key, s) {
                Some(Ok(field)) => self.report.mapped(&file, line, &k, to(field)),
                Some(Err(why)) => self.report.not_mapped(&file, line, &k, why),
                // start_command: already the spec's command
                None => self.report.mapped(
                    &file,
                    line,
                    &k,
                    format!("{} (a Provider of the agent's own)", to("command")),
                ),
            }
        }
        let from = format!(
            "{} with the launch settings of the agent at {}:{}",
            base.map_or_else(|| "a command".to_owned(), |b| format!("Provider/{b}")),
            t.declared.shown(),
            t.declared.line()
        );
        Some(self.add_provider(&name, &spec, from))
    }

    fn work_dir(&mut self, spec: &mut AgentSpec, instance: &Instance<'_>, s: &Sourced) {
        let (file, line, k) = (s.shown().to_owned(), s.line(), display_pointer(&s.pointer));
        let raw = s.str().unwrap_or_default();
        let to = format!("Agent/{} spec.workDir", instance.name);
        if instance.rig.is_some() {
            if raw.contains(".gc/worktrees/") {
                spec.isolation = Isolation::Worktree;
                let how =
                    "each session gets its own git worktree under .gc/worktrees/<rig>/<member>";
                self.report.approximated(
                    &file,
                    line,
                    &k,
                    format!("Agent/{} spec.isolation", instance.name),
                    how,
                );
            } else {
                self.report.not_mapped(&file, line, &k, "Gas City resolves it against the city directory, gc's workDir is inside the rig: the agent works in the rig's directory");
            }
            return;
        }
        let base = names::label(&instance.template.name);
        let expanded =
            super::city::expand(raw, &[("AgentBase", &base), ("Agent", &base), ("CityRoot", ".")]);
        let dir = expanded.strip_prefix("./").unwrap_or(&expanded).to_owned();
        if dir.contains("{{") || dir.starts_with('/') || dir.split('/').any(|p| p == "..") {
            self.report.not_mapped(&file, line, &k, "uses placeholders or leaves the city directory; the agent works in the city directory");
            return;
        }
        let per_member =
            raw.contains("AgentBase") || raw.contains(".Agent}") || raw.contains(".Agent }");
        let pool = instance.template.int("max_active_sessions").is_some_and(|n| n > 1);
        spec.work_dir = Some(dir);
        if per_member && pool {
            self.report.approximated(&file, line, &k, to, "Gas City gives each pool member its own directory; gc's pool members share this one");
        } else {
            self.report.mapped(&file, line, &k, to);
        }
    }

    /// The agent's prompt template (translated from Go's text/template, fragments inlined),
    /// written once per template and scope; `None` when it has none.
    fn prompt(&mut self, t: &Template, instance: &Instance<'_>) -> Option<PromptSpec> {
        let rig_scoped = instance.rig.is_some();
        let path = format!(
            "prompts/{}{}.md",
            if rig_scoped { "rigs/" } else { "" },
            names::label(&t.name)
        );
        if self.prompts.contains_key(&path) {
            return Some(PromptSpec { template: Some(path), inline: None });
        }
        let scope = gotemplate::Scope {
            rig_scoped,
            config_dir: self.tree.packs[t.pack].config_dir.clone(),
        };
        let mut text = String::new();
        let mut pieces: Vec<(String, String)> = Vec::new();
        if let Some((file, source)) = self.prompt_source(t) {
            pieces.push((file, source));
        }
        let root = self.tree.root_file().cloned();
        let global = root
            .as_ref()
            .and_then(|f| Sourced::at(f, "/workspace/global_fragments"))
            .and_then(|s| s.strings())
            .unwrap_or_default();
        let inject = t.keys.get("inject_fragments").and_then(|s| s.strings()).unwrap_or_default();
        if let Some(s) = t.keys.get("inject_fragments") {
            self.report.mapped(
                s.shown(),
                s.line(),
                &display_pointer(&s.pointer),
                format!("appended to {path}"),
            );
        }
        for name in global.iter().chain(&inject) {
            let (file, source) =
                (format!("fragment {name}"), format!("{{{{ template \"{name}\" . }}}}"));
            pieces.push((file, source));
        }
        if pieces.is_empty() {
            return None;
        }
        for (file, source) in pieces {
            let out = gotemplate::translate(&file, &source, &scope, &self.fragments);
            for u in &out.untranslated {
                let key = format!("{} (template)", u.construct);
                self.report.not_mapped(
                    &u.file,
                    u.line,
                    &key,
                    format!("{}; kept verbatim in {path}", u.reason),
                );
            }
            for n in &out.notes {
                let key = format!("{} (template)", n.construct);
                self.report.approximated(&n.file, n.line, &key, path.clone(), n.reason.clone());
            }
            if !text.is_empty() && !text.ends_with("\n\n") {
                text.push_str(if text.ends_with('\n') { "\n" } else { "\n\n" });
            }
            text.push_str(&out.text);
        }
        self.prompts.insert(path.clone(), text);
        Some(PromptSpec { template: Some(path), inline: None })
    }

    /// The text of the agent's own prompt template, with its file as shown.
    fn prompt_source(&mut self, t: &Template) -> Option<(String, String)> {
        let file: PathBuf = match t.keys.get("prompt_template") {
            Some(s) => {
                let rel = s.str().unwrap_or_default();
                let candidates = [
                    s.file.dir().join(rel),
                    self.tree.root_dir.join(rel),
                    self.tree.packs[t.pack].dir.join(rel),
                ];
                match candidates.into_iter().find(|p| p.is_file()) {
                    Some(p) => {
                        self.report.mapped(
                            s.shown(),
                            s.line(),
                            &display_pointer(&s.pointer),
                            "spec.prompt.template (translated to Jinja)",
                        );
                        p
                    }
                    None => {
                        self.report.not_mapped(
                            s.shown(),
                            s.line(),
                            &display_pointer(&s.pointer),
                            format!("`{rel}` not found"),
                        );
                        return None;
                    }
                }
            }
            None => t.prompt_file.clone()?,
        };
        let shown = self.tree.shown(&file);
        match std::fs::read_to_string(&file) {
            Ok(text) => {
                if !t.keys.contains_key("prompt_template") {
                    self.report.mapped(
                        &shown,
                        0,
                        "(prompt template)",
                        "spec.prompt.template (translated to Jinja)",
                    );
                }
                Some((shown, text))
            }
            Err(e) => {
                self.report.not_mapped(&shown, 0, "(prompt template)", e.to_string());
                None
            }
        }
    }
}

/// The agent a `[[named_session]]` entry names.
fn named_template(s: &Sourced) -> String {
    s.value.get("template").and_then(Value::as_str).unwrap_or_default().to_owned()
}

fn is_worktree_setup(s: &Sourced) -> bool {
    s.strings().unwrap_or_default().iter().any(|c| c.contains("worktree-setup"))
}

fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
