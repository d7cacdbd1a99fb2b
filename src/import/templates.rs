//! Gas City agent definitions as packs compose them: which definition of a name wins, what
//! the packs' `[[patches.agent]]` and a rig's `overrides` change, and the `[[named_session]]`
//! entries that say which agents keep a session running.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::compose::{Tree, display_pointer};
use super::report::Report;
use super::source::{Sourced, TomlFile};

/// One agent definition, with every key it ends up with and where each came from.
#[derive(Clone, Debug)]
pub struct Template {
    /// The name Gas City knows it by.
    pub name: String,
    /// The pack (index into [`Tree::packs`]) that defines it.
    pub pack: usize,
    /// Its keys after patches, each with where it was written.
    pub keys: BTreeMap<String, Sourced>,
    /// The table (or `agent.toml`) that declares it.
    pub declared: Sourced,
    /// `agents/<name>/prompt.template.md` (or `prompt.md`) when there is one.
    pub prompt_file: Option<PathBuf>,
    /// Declared inline in `city.toml` (`[[agent]]`), where `dir` rather than `scope` decides
    /// whether it works on a rig.
    pub inline_in_city: bool,
}

/// Where an agent is instantiated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Once for the city.
    City,
    /// Once for each rig that includes its pack.
    EachRig,
    /// For one named rig (an inline agent with `dir`).
    Rig(String),
}

impl Template {
    /// Where this agent is instantiated: `scope` (default `rig`) for pack agents, `dir` for
    /// agents inline in `city.toml`.
    pub fn scope(&self) -> Scope {
        if self.inline_in_city {
            return match self.string("dir") {
                Some(dir) if !dir.is_empty() => Scope::Rig(dir),
                _ => Scope::City,
            };
        }
        match self.string("scope").as_deref() {
            Some("city") => Scope::City,
            _ => Scope::EachRig,
        }
    }

    /// A string key's value.
    pub fn string(&self, key: &str) -> Option<String> {
        self.keys.get(key).and_then(|s| s.str().map(str::to_owned))
    }

    /// An integer key's value.
    pub fn int(&self, key: &str) -> Option<i64> {
        self.keys.get(key).and_then(|s| s.value.as_i64())
    }

    fn is_fallback(&self) -> bool {
        self.keys.get("fallback").and_then(|s| s.value.as_bool()).unwrap_or(false)
    }
}

/// Every agent defined in pack `index`: `agents/<name>/agent.toml` directories and the
/// `[[agent]]` tables of its `pack.toml` or `city.toml`.
fn pack_templates(tree: &Tree, index: usize, report: &mut Report) -> Vec<Template> {
    let pack = &tree.packs[index];
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(pack.dir.join("agents"))
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_dir()).collect())
        .unwrap_or_default();
    dirs.sort();
    for dir in dirs {
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let toml = dir.join("agent.toml");
        let file = if toml.is_file() {
            match TomlFile::read(&toml, tree.shown(&toml)) {
                Ok(f) => f,
                Err(e) => {
                    report.not_mapped(&e.file, e.line.unwrap_or(0), "", e.message);
                    continue;
                }
            }
        } else {
            match TomlFile::parse(&toml, tree.shown(&toml), String::new()) {
                Ok(f) => f,
                Err(_) => continue,
            }
        };
        let declared = Sourced::at(&file, "").expect("a parsed file has a root");
        let keys = declared.members().into_iter().collect();
        let prompt_file = ["prompt.template.md", "prompt.md", "prompt.md.tmpl"]
            .into_iter()
            .map(|f| dir.join(f))
            .find(|p| p.is_file());
        out.push(Template {
            name,
            pack: index,
            keys,
            declared,
            prompt_file,
            inline_in_city: false,
        });
    }
    if let Some(file) = &pack.file {
        let inline_in_city = index == 0 && tree.root_is_city;
        for table in Sourced::at(file, "/agent").map(|a| a.items()).unwrap_or_default() {
            let keys: BTreeMap<String, Sourced> = table.members().into_iter().collect();
            let Some(name) = keys.get("name").and_then(|n| n.str().map(str::to_owned)) else {
                report.not_mapped(
                    table.shown(),
                    table.line(),
                    &display_pointer(&table.pointer),
                    "agent without `name`: Gas City rejects it too",
                );
                continue;
            };
            out.push(Template {
                name,
                pack: index,
                keys,
                declared: table,
                prompt_file: None,
                inline_in_city,
            });
        }
    }
    out
}

/// The agents defined in each pack of `tree`, read once (indexed like [`Tree::packs`]).
pub fn all_pack_templates(tree: &Tree, report: &mut Report) -> Vec<Vec<Template>> {
    (0..tree.packs.len()).map(|i| pack_templates(tree, i, report)).collect()
}

/// The agents of `closure` (nearest pack first) as Gas City composes them: a non-fallback
/// definition beats a fallback one, otherwise the nearest wins; the losers are reported.
/// Then the `[[patches.agent]]` of every pack in the closure are applied, deepest first.
/// `defined` is [`all_pack_templates`].
pub fn compose(
    tree: &Tree,
    defined: &[Vec<Template>],
    closure: &[usize],
    report: &mut Report,
) -> Vec<Template> {
    let mut chosen: Vec<Template> = Vec::new();
    for &pack in closure {
        for t in defined[pack].iter().cloned() {
            match chosen.iter().position(|c| c.name == t.name) {
                None => chosen.push(t),
                Some(i) if chosen[i].is_fallback() && !t.is_fallback() => {
                    let loser = std::mem::replace(&mut chosen[i], t);
                    shadowed(&loser, &chosen[i], report);
                }
                Some(i) => shadowed(&t, &chosen[i], report),
            }
        }
    }
    for &pack in closure.iter().rev() {
        let Some(file) = &tree.packs[pack].file else { continue };
        for patch in Sourced::at(file, "/patches/agent").map(|p| p.items()).unwrap_or_default() {
            apply_patch(&mut chosen, &patch, "name", report);
        }
    }
    chosen
}

fn shadowed(loser: &Template, winner: &Template, report: &mut Report) {
    let why = format!(
        "agent `{}` is defined again in {}:{}, which wins (Gas City prefers a non-fallback definition, then the nearest pack)",
        loser.name,
        winner.declared.shown(),
        winner.declared.line()
    );
    report_all(loser, &why, report);
}

/// Reports every key of `t` (or the definition itself when it has none) as not mapped.
pub fn report_all(t: &Template, why: &str, report: &mut Report) {
    if t.keys.is_empty() {
        let key = format!("agent {}", t.name);
        report.not_mapped(t.declared.shown(), t.declared.line(), &key, why);
    }
    for s in t.keys.values() {
        report.not_mapped(s.shown(), s.line(), &display_pointer(&s.pointer), why);
    }
}

/// Applies one patch table (`[[patches.agent]]`, or a rig's `overrides` entry whose name key
/// is `agent`) to the template it names.
pub fn apply_patch(
    templates: &mut [Template],
    patch: &Sourced,
    name_key: &str,
    report: &mut Report,
) {
    let members: BTreeMap<String, Sourced> = patch.members().into_iter().collect();
    let Some(target) = members.get(name_key).and_then(|n| n.str().map(str::to_owned)) else {
        let key = display_pointer(&patch.pointer);
        report.not_mapped(patch.shown(), patch.line(), &key, format!("patch without `{name_key}`"));
        return;
    };
    // Qualified names (`gastown.dog`, `rig/dog`) patch the agent of that base name.
    let base = target.rsplit(['/', '.']).next().unwrap_or(&target).to_owned();
    let Some(t) = templates.iter_mut().find(|t| t.name == base) else {
        let why = format!("patches agent `{target}`, which no imported pack defines");
        for s in members.values() {
            report.not_mapped(s.shown(), s.line(), &display_pointer(&s.pointer), why.clone());
        }
        return;
    };
    let name_src = &members[name_key];
    let key = display_pointer(&name_src.pointer);
    report.mapped(name_src.shown(), name_src.line(), &key, format!("patches agent `{}`", t.name));
    for (key, value) in members {
        if key == name_key {
            continue;
        }
        patch_key(t, &key, value, report);
    }
}

fn patch_key(t: &mut Template, key: &str, value: Sourced, report: &mut Report) {
    if key == "env" {
        let mut merged = t.keys.get("env").map(|e| e.value.clone()).unwrap_or(Value::Null);
        let base = merged.as_object().cloned().unwrap_or_default();
        let mut map: Map<String, Value> = base;
        if let Value::Object(extra) = &value.value {
            map.extend(extra.clone());
        }
        merged = Value::Object(map);
        t.keys.insert("env".into(), Sourced { value: merged, ..value });
        return;
    }
    if key == "env_remove" {
        let names = value.strings().unwrap_or_default();
        if let Some(env) = t.keys.get_mut("env")
            && let Value::Object(map) = &mut env.value
        {
            map.retain(|k, _| !names.contains(k));
        }
        let to = format!("removes env {} from agent `{}`", names.join(", "), t.name);
        report.mapped(value.shown(), value.line(), &display_pointer(&value.pointer), to);
        return;
    }
    if key == "pool" {
        // The older pool table: min/max/check became min/max_active_sessions and scale_check.
        for (k, v) in value.members() {
            let new_key = match k.as_str() {
                "min" => "min_active_sessions",
                "max" => "max_active_sessions",
                "check" => "scale_check",
                other => other,
            };
            patch_key(t, new_key, v, report);
        }
        return;
    }
    if let Some(base) = key.strip_suffix("_append") {
        let mut items =
            t.keys.get(base).and_then(|s| s.value.as_array().cloned()).unwrap_or_default();
        items.extend(value.value.as_array().cloned().unwrap_or_default());
        t.keys.insert(base.to_owned(), Sourced { value: Value::Array(items), ..value });
        return;
    }
    if let Some(old) = t.keys.insert(key.to_owned(), value.clone()) {
        let why = format!("replaced by the patch at {}:{}", value.shown(), value.line());
        report.not_mapped(old.shown(), old.line(), &display_pointer(&old.pointer), why);
    }
}

/// Named sessions declared in the files of `closure`: agent name → (`always` or
/// `on_demand`, where it is written).
pub fn named_sessions(tree: &Tree, closure: &[usize]) -> BTreeMap<String, (String, Sourced)> {
    let mut out = BTreeMap::new();
    for &pack in closure.iter().rev() {
        let Some(file) = &tree.packs[pack].file else { continue };
        for entry in named_session_entries(file) {
            let fields: BTreeMap<String, Sourced> = entry.members().into_iter().collect();
            let Some(template) = fields.get("template").and_then(|t| t.str().map(str::to_owned))
            else {
                continue;
            };
            let mode = fields
                .get("mode")
                .and_then(|m| m.str().map(str::to_owned))
                .unwrap_or_else(|| "on_demand".into());
            out.insert(template, (mode, entry));
        }
    }
    out
}

/// The `[[named_session]]` tables of a file.
pub fn named_session_entries(file: &Arc<TomlFile>) -> Vec<Sourced> {
    Sourced::at(file, "/named_session").map(|n| n.items()).unwrap_or_default()
}
