//! The rest of a city's files: prompt fragments, formulas and orders, the pack directories gc
//! has no use for, and a last sweep that accounts for every key nothing else reported.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::compose::display_pointer;
use super::gascity_keys as keys;
use super::source::{Sourced, TomlFile};
use super::{Importer, gotemplate};
use crate::api::Kind;
use crate::manifest::gascity::{self, FindingKind, GasCityKind};

impl Importer<'_> {
    /// Every `{{ define }}` of every pack's `template-fragments/` (and `prompts/shared/`),
    /// the nearest pack's first when two define the same name.
    pub(super) fn load_fragments(&mut self) {
        let order = self.tree.all_nearest_first();
        for pack in order {
            let dir = self.tree.packs[pack].dir.clone();
            for sub in ["template-fragments", "prompts/shared"] {
                for path in files_in(&dir.join(sub), |p| p.to_string_lossy().ends_with(".md")) {
                    let shown = self.tree.shown(&path);
                    let Ok(text) = std::fs::read_to_string(&path) else { continue };
                    let (fragments, problems) = gotemplate::parse_fragments(&shown, &text);
                    for f in fragments {
                        self.fragments.entry(f.name.clone()).or_insert(f);
                    }
                    for u in problems {
                        self.report.not_mapped(&u.file, u.line, &u.construct, u.reason);
                    }
                    self.report.mapped(
                        &shown,
                        0,
                        "(template fragments)",
                        "inlined into the prompts that use them",
                    );
                }
            }
        }
    }

    /// Gas City formulas and orders of every pack, the city's `formulas.dir` and each rig's
    /// `formulas_dir`, translated into Formula and Order resources. Files with features gc does
    /// not support are kept under `.gc-import/unported/` and reported.
    pub(super) fn formulas_and_orders(&mut self) {
        let mut dirs: Vec<(PathBuf, &'static str)> = Vec::new();
        let order = self.tree.all_nearest_first();
        for &pack in &order {
            let dir = self.tree.packs[pack].dir.clone();
            dirs.push((dir.join("formulas"), "formulas"));
            dirs.push((dir.join("orders"), "orders"));
        }
        if let Some(root) = self.tree.root_file().cloned() {
            if let Some(s) = Sourced::at(&root, "/formulas/dir") {
                let dir = root.dir().join(s.str().unwrap_or("formulas"));
                self.report.mapped(
                    s.shown(),
                    s.line(),
                    &display_pointer(&s.pointer),
                    "its formulas are imported as Formulas",
                );
                dirs.insert(0, (dir, "formulas"));
            }
            for rig in Sourced::at(&root, "/rigs").map(|r| r.items()).unwrap_or_default() {
                if let Some(d) = rig.value.get("formulas_dir").and_then(Value::as_str) {
                    dirs.push((root.dir().join(d), "formulas"));
                }
            }
        }
        let mut seen_dirs = Vec::new();
        for (dir, _) in dirs {
            let dir = super::compose::normalize(&dir);
            if seen_dirs.contains(&dir) {
                continue;
            }
            seen_dirs.push(dir.clone());
            for path in files_in(&dir, |p| p.extension().is_some_and(|e| e == "toml")) {
                self.formula_or_order(&path);
            }
        }
    }

    fn formula_or_order(&mut self, path: &Path) {
        let shown = self.tree.shown(path);
        let file = match TomlFile::read(path, shown.clone()) {
            Ok(f) => f,
            Err(e) => {
                self.report.not_mapped(&shown, e.line.unwrap_or(0), "(file)", e.message);
                return;
            }
        };
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let Some(t) = gascity::translate(&file.value, &name) else {
            self.report.not_mapped(
                &shown,
                0,
                "(file)",
                "neither a Gas City formula (`formula = …`) nor an order (`[order]`)",
            );
            return;
        };
        let kind = match t.kind {
            GasCityKind::Formula => Kind::Formula,
            GasCityKind::Order => Kind::Order,
        };
        let resource_name = t
            .value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let resource = format!("{}/{resource_name}", kind.as_str());
        if let Some(first) =
            self.resources.iter().find(|r| r.kind == kind && r.name == resource_name)
        {
            let why = format!(
                "{resource} is already imported from {}; Gas City uses the nearest pack's",
                first.from
            );
            self.report.not_mapped(&shown, 0, "(file)", why);
            return;
        }
        let errors: Vec<_> =
            t.findings.iter().filter(|f| f.kind != FindingKind::Converted).collect();
        for f in &t.findings {
            let key = display_pointer(&f.pointer);
            let line = file.line(&f.pointer);
            let message = match &f.help {
                Some(help) => format!("{} ({help})", f.message),
                None => f.message.clone(),
            };
            if f.kind == FindingKind::Converted {
                self.report.approximated(&shown, line, &key, resource.clone(), message);
            } else {
                self.report.not_mapped(&shown, line, &key, message);
            }
        }
        if !errors.is_empty() {
            self.unport(path, &format!("{resource} uses what gc does not support"));
            return;
        }
        self.account_keys(&file, &resource);
        let spec = t.value.get("spec").cloned().unwrap_or(Value::Null);
        self.add(kind, &resource_name, spec, shown);
        if let Some(r) = self.resources.last_mut() {
            r.source = Some(path.to_path_buf());
        }
    }

    /// Reports every key of `file` not yet reported as mapped into `resource`.
    fn account_keys(&mut self, file: &std::sync::Arc<TomlFile>, resource: &str) {
        let mut stack = vec![String::new()];
        while let Some(pointer) = stack.pop() {
            let Some(value) = file.get(&pointer) else { continue };
            if let Value::Object(map) = value
                && (pointer == "/order" || pointer.is_empty())
            {
                for k in map.keys() {
                    stack.push(crate::manifest::push_pointer(&pointer, k));
                }
                continue;
            }
            if pointer.is_empty() {
                continue;
            }
            let key = display_pointer(&pointer);
            if !self.report.covers(&file.shown, &key) {
                self.report.mapped(&file.shown, file.line(&pointer), &key, resource.to_owned());
            }
        }
    }

    /// Keeps a copy of a file gc cannot use under `.gc-import/unported/`, so nothing is lost.
    pub(super) fn unport(&mut self, path: &Path, why: &str) {
        let shown = self.tree.shown(path);
        let dest = format!(".gc-import/unported/{}", shown.replace("../", "up/"));
        self.report.not_mapped(
            &shown,
            0,
            "(file)",
            format!("{why}: not imported; the original is kept at {dest}"),
        );
        self.copies.push((path.to_path_buf(), dest));
    }

    /// Accounts for what nothing else reported: every key of every `city.toml`/`pack.toml`,
    /// two levels deep, and the pack directories gc has no use for.
    pub(super) fn sweep(&mut self) {
        for pack in 0..self.tree.packs.len() {
            let dir = self.tree.packs[pack].dir.clone();
            for (sub, why) in UNUSED_DIRS {
                let path = dir.join(sub);
                if path.is_dir() {
                    let shown = format!("{}/", self.tree.shown(&path));
                    self.report.not_mapped(&shown, 0, "(directory)", *why);
                }
            }
            if pack == 0 {
                self.unused_packs(&dir);
            }
            let Some(file) = self.tree.packs[pack].file.clone() else { continue };
            let is_pack = pack != 0 || !self.tree.root_is_city;
            let Some(top) = Sourced::at(&file, "") else { continue };
            for (key, s) in top.members() {
                let shown_key = display_pointer(&s.pointer);
                if self.report.covers(&file.shown, &shown_key) {
                    continue;
                }
                let allowed = if is_pack { keys::PACK_TOP_LEVEL } else { keys::CITY };
                if !allowed.contains(&key.as_str()) {
                    self.unknown_key(if is_pack { "pack.toml" } else { "city.toml" }, &key, &s);
                    continue;
                }
                let why = top_level_reason(&key);
                let children: Vec<Sourced> = match &s.value {
                    Value::Object(_) => s.members().into_iter().map(|(_, c)| c).collect(),
                    Value::Array(items) if items.iter().all(Value::is_object) => s
                        .items()
                        .iter()
                        .flat_map(|i| i.members().into_iter().map(|(_, c)| c))
                        .collect(),
                    _ => Vec::new(),
                };
                if children.is_empty() {
                    self.report.not_mapped(&file.shown, s.line(), &shown_key, why);
                }
                for c in children {
                    let ck = display_pointer(&c.pointer);
                    if !self.report.covers(&file.shown, &ck) {
                        self.report.not_mapped(&file.shown, c.line(), &ck, why);
                    }
                }
            }
        }
    }
}

impl Importer<'_> {
    /// Reports packs under the city's `packs/` that nothing imports (Gas City cities keep
    /// packs there for `gc rig add --include`).
    fn unused_packs(&mut self, root: &Path) {
        let Ok(entries) = std::fs::read_dir(root.join("packs")) else { return };
        let mut dirs: Vec<PathBuf> =
            entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_dir()).collect();
        dirs.sort();
        for dir in dirs {
            let dir = super::compose::normalize(&dir);
            if self.tree.packs.iter().any(|p| p.dir == dir) {
                continue;
            }
            let shown = self.tree.shown(&dir);
            let why = format!(
                "nothing imports this pack; to stamp its rig agents, give gc import `--rig NAME=PATH --include {shown}`"
            );
            self.report.not_mapped(&format!("{shown}/"), 0, "(pack)", why);
        }
    }
}

/// Pack directories gc import does not carry over, and why.
const UNUSED_DIRS: &[(&str, &str)] = &[
    (
        "commands",
        "pack commands (`gc <pack> <command>`) have no gc equivalent; run their scripts directly",
    ),
    ("doctor", "`gc doctor` checks are not imported"),
    ("assets", "only the scripts a Provider's command names are copied"),
];

fn top_level_reason(key: &str) -> &'static str {
    match key {
        "pack" => "pack metadata: gc flattens every imported pack into one city",
        "imports" | "include" | "includes" | "packs" => {
            "gc flattens every imported pack into one city; import options do not apply"
        }
        "global" => "gc runs no session_live commands",
        "named_session" => "names an agent that was not imported",
        "patches" => "gc import applies agent patches only",
        "orders" => "order skips and overrides are not imported; edit the Order files",
        "formulas" => "gc reads formulas wherever they are in the city",
        "agent_defaults" | "defaults" => "gc has no agent defaults; each Agent sets its own",
        "api" => "gc has no HTTP API",
        "chat_sessions" | "session_sleep" => {
            "gc has no session sleep; Agent spec.idleTimeout stops idle sessions"
        }
        "convergence" => "gc has no convergence limits",
        "dolt" => "gc's bead stores need no Dolt server",
        "events" | "mail" => "gc keeps its own event log and mail",
        "service" => "gc runs no services",
        "commands" | "doctor" => "pack commands and doctor checks have no gc equivalent",
        _ => "gc has no equivalent",
    }
}

/// The Gas City schema's keys for a table, by the name gc import uses for it.
pub(super) fn gascity_keys_for(table: &str) -> Option<&'static [&'static str]> {
    Some(match table {
        "workspace" => keys::WORKSPACE,
        "session" => keys::SESSION_CONFIG,
        "beads" => keys::BEADS_CONFIG,
        "daemon" => keys::DAEMON_CONFIG,
        "agent" => keys::AGENT,
        "rigs" => keys::RIG,
        "providers" => keys::PROVIDER_SPEC,
        "city.toml" => keys::CITY,
        "pack.toml" => keys::PACK_TOP_LEVEL,
        _ => return None,
    })
}

/// The nearest key Gas City's schema allows.
pub(super) fn suggest(key: &str, allowed: &[&'static str]) -> Option<String> {
    keys::suggest(key, allowed).map(str::to_owned)
}

/// Files below `dir` (recursively, sorted) that `wanted` accepts.
pub(super) fn files_in(dir: &Path, wanted: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    if !dir.is_dir() {
        return Vec::new();
    }
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && wanted(e.path()))
        .map(|e| e.into_path())
        .collect();
    out.sort();
    out
}

impl super::Report {
    /// Whether an entry of `file` is about `key`, something inside it, or something it is in.
    pub fn covers(&self, file: &str, key: &str) -> bool {
        let inside = |a: &str, b: &str| {
            a == b
                || (a.starts_with(b)
                    && matches!(a.as_bytes().get(b.len()), Some(b'.' | b'[' | b' ')))
        };
        self.entries()
            .iter()
            .any(|e| e.file == file && (inside(&e.key, key) || inside(key, &e.key)))
    }
}
