//! The City (`[workspace]`, `[session]`, `[beads]`, `[daemon]`), Providers (`[providers.X]`
//! and the built-in presets a city names) and Rigs (`[[rigs]]` and `--rig`).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::compose::{display_pointer, normalize};
use super::source::Sourced;
use super::{Importer, RigPlan, names, presets, spec_json};
use crate::api::city::{BeadsBackend, SessionBackend};
use crate::api::provider::{ConversationSpec, PromptMode};
use crate::api::rig::PREFIX_PATTERN;
use crate::api::{CitySpec, Duration, Kind, ProviderSpec, RigSpec};

/// The built-in provider used when a city names none (Gas City would look for an installed
/// CLI on PATH at start).
pub const FALLBACK_PROVIDER: &str = "claude";

impl Importer<'_> {
    /// Works out the City from the root file; it is added once the default provider is known.
    pub(super) fn city(&mut self) -> CitySpec {
        let mut spec = CitySpec::default();
        let root = self.tree.root_file().cloned();
        let name = root
            .as_ref()
            .and_then(|f| Sourced::at(f, "/workspace/name"))
            .and_then(|s| s.str().map(str::to_owned))
            .unwrap_or_else(|| self.tree.packs[0].name.clone());
        self.city_name = names::label(&name);
        let Some(root) = root else { return spec };
        let city = format!("City/{}", self.city_name);
        for table in ["workspace", "session", "beads", "daemon"] {
            let Some(t) = Sourced::at(&root, &format!("/{table}")) else { continue };
            for (key, s) in t.members() {
                self.city_key(table, &key, &s, &mut spec, &city);
            }
        }
        spec
    }

    fn city_key(&mut self, table: &str, key: &str, s: &Sourced, spec: &mut CitySpec, city: &str) {
        let (file, line, shown_key) = (s.shown().to_owned(), s.line(), display_pointer(&s.pointer));
        let to = |field: &str| format!("{city} {field}");
        let mut not = |why: &str| self.report.not_mapped(&file, line, &shown_key, why);
        match (table, key) {
            ("workspace", "name") => {
                if names::unchanged(s.str().unwrap_or_default()) {
                    self.report.mapped(&file, line, &shown_key, to("metadata.name"));
                } else {
                    let how = format!(
                        "renamed to `{}` (resource names are lowercase labels)",
                        self.city_name
                    );
                    self.report.approximated(&file, line, &shown_key, to("metadata.name"), how);
                }
            }
            ("workspace", "provider") => {
                if let Some(p) = s.str().and_then(|n| self.provider_ref(n, s)) {
                    self.report.mapped(&file, line, &shown_key, to("spec.defaultProvider"));
                    self.default_provider.get_or_insert(p);
                }
            }
            ("workspace", "start_command") => {
                let base = self.default_provider.clone();
                let spec = self.command_spec(s, base.as_deref(), 0);
                let from = format!("{}:{}", s.shown(), s.line());
                if let Some(p) =
                    spec.map(|spec| self.add_provider("workspace-command", &spec, from))
                {
                    let how = "a Provider running this command became the default provider; agents that name their own provider keep it";
                    self.report.approximated(
                        &file,
                        line,
                        &shown_key,
                        to("spec.defaultProvider"),
                        how,
                    );
                    self.default_provider = Some(p);
                }
            }
            ("workspace", "max_active_sessions") => {
                match s.value.as_u64().and_then(|n| u32::try_from(n).ok()) {
                    Some(n) => {
                        spec.max_active_sessions = Some(n);
                        self.workspace_max = Some(n);
                        self.report.mapped(&file, line, &shown_key, to("spec.maxActiveSessions"));
                    }
                    None => not("not a non-negative integer"),
                }
            }
            ("workspace", "suspended") => match s.value.as_bool() {
                Some(b) => {
                    spec.suspended = b;
                    self.report.mapped(&file, line, &shown_key, to("spec.suspended"));
                }
                None => not("not a boolean"),
            },
            ("workspace", "global_fragments") => self.report.mapped(
                &file,
                line,
                &shown_key,
                "appended to every agent's prompt template",
            ),
            ("workspace", "includes") => {} // reported where the pack is read
            ("workspace", "default_rig_includes") => {
                if self.options.rigs.is_empty() {
                    not(
                        "used by `gc rig add`; gc has no pack includes: pass --rig NAME=PATH to gc import to stamp these packs' rig agents",
                    )
                } else {
                    self.report.mapped(&file, line, &shown_key, "packs stamped into the --rig rigs")
                }
            }
            ("workspace", "prefix") => {
                not("gc derives the city's own bead prefix; rigs keep theirs")
            }
            ("workspace", "session_template") => not("gc names sessions gc-<city>-<agent>"),
            ("workspace", "install_agent_hooks") => {
                not("gc installs no provider hooks into work directories")
            }
            ("session", "provider") => {
                let v = s.str().unwrap_or_default();
                let backend = match v {
                    "" | "tmux" => Some(SessionBackend::Tmux),
                    "subprocess" => Some(SessionBackend::Subprocess),
                    _ => None,
                };
                if let Some(b) = backend {
                    spec.session.backend = b;
                    self.report.mapped(&file, line, &shown_key, to("spec.session.backend"));
                } else if let Some(script) = v.strip_prefix("exec:") {
                    spec.session.backend = SessionBackend::Exec;
                    spec.session.command = Some(script.to_owned());
                    let how = "gc's exec session protocol is its own: check the script speaks it";
                    self.report.approximated(&file, line, &shown_key, to("spec.session"), how);
                } else {
                    not(&format!("gc has no `{v}` session provider; sessions run in tmux"))
                }
            }
            ("session", "socket") => {
                match s.str().filter(|v| regex_match(crate::api::city::SOCKET_PATTERN, v)) {
                    Some(v) => {
                        spec.session.socket = Some(v.to_owned());
                        self.report.mapped(&file, line, &shown_key, to("spec.session.socket"));
                    }
                    None => not("not a socket name gc accepts (letters, digits, `_.-`)"),
                }
            }
            ("session", "startup_timeout") => {
                if let Some(d) = self.duration(s) {
                    spec.session.startup_timeout = d;
                    self.report.mapped(&file, line, &shown_key, to("spec.session.startupTimeout"));
                }
            }
            ("session", "k8s" | "acp" | "remote_match") => not(
                "gc runs sessions in tmux, as subprocesses or through exec; Kubernetes and ACP sessions are not supported",
            ),
            ("session", _) if SESSION_TUNING.contains(&key) => not("gc has no such tuning knob"),
            ("beads", "provider") => {
                let v = s.str().unwrap_or_default();
                if v == "bd" {
                    spec.beads.backend = BeadsBackend::Bd;
                    self.report.mapped(&file, line, &shown_key, to("spec.beads.backend"));
                } else if v == "file" {
                    let how = "the embedded SQLite store replaces the file store";
                    self.report.approximated(
                        &file,
                        line,
                        &shown_key,
                        to("spec.beads.backend"),
                        how,
                    );
                } else if let Some(script) = v.strip_prefix("exec:") {
                    spec.beads.backend = BeadsBackend::Exec;
                    spec.beads.command = Some(script.to_owned());
                    self.report.mapped(&file, line, &shown_key, to("spec.beads"));
                } else {
                    not(&format!("unknown bead store `{v}`; the embedded store is used"))
                }
            }
            ("daemon", "patrol_interval") => {
                if let Some(d) = self.duration(s) {
                    spec.controller.resync_interval = d;
                    let how = "gc's full resync interval; gc also reacts to file and session changes at once";
                    self.report.approximated(
                        &file,
                        line,
                        &shown_key,
                        to("spec.controller.resyncInterval"),
                        how,
                    );
                }
            }
            ("daemon", "max_restarts") => {
                match s.value.as_u64().and_then(|n| u32::try_from(n).ok()) {
                    Some(n) => {
                        spec.controller.crash_loop.max_restarts = n;
                        self.report.mapped(
                            &file,
                            line,
                            &shown_key,
                            to("spec.controller.crashLoop.maxRestarts"),
                        );
                    }
                    None => not("not a non-negative integer"),
                }
            }
            ("daemon", "restart_window") => {
                if let Some(d) = self.duration(s) {
                    spec.controller.crash_loop.window = d;
                    self.report.mapped(
                        &file,
                        line,
                        &shown_key,
                        to("spec.controller.crashLoop.window"),
                    );
                }
            }
            ("daemon", "shutdown_timeout") => {
                if let Some(d) = self.duration(s) {
                    spec.controller.shutdown_timeout = d;
                    self.report.mapped(
                        &file,
                        line,
                        &shown_key,
                        to("spec.controller.shutdownTimeout"),
                    );
                }
            }
            ("daemon", "max_wakes_per_tick") => {
                match s.value.as_u64().and_then(|n| u32::try_from(n).ok()).filter(|n| *n > 0) {
                    Some(n) => {
                        spec.controller.max_starts_per_second = n;
                        self.report.mapped(
                            &file,
                            line,
                            &shown_key,
                            to("spec.controller.maxStartsPerSecond"),
                        );
                    }
                    None => not("not a positive integer"),
                }
            }
            ("daemon", "formula_v2" | "graph_workflows") => {
                not("gc compiles every formula the same way; no switch needed")
            }
            ("daemon", "wisp_gc_interval" | "wisp_ttl") => {
                not("gc has no wisps (ephemeral molecules)")
            }
            ("daemon", "drift_drain_timeout") => {
                not("gc restarts drifted sessions per Agent spec.restartPolicy instead")
            }
            ("daemon", "probe_concurrency" | "observe_paths") => not("gc has no such tuning knob"),
            _ => self.unknown_key(table, key, s),
        }
    }

    /// Records a key gc import has no rule for: unknown to Gas City's schema too, or a known
    /// key gc does not read.
    pub(super) fn unknown_key(&mut self, table: &str, key: &str, s: &Sourced) {
        let allowed = super::files::gascity_keys_for(table);
        let shown_key = display_pointer(&s.pointer);
        if allowed.is_some_and(|keys| keys.contains(&key)) {
            self.report.not_mapped(s.shown(), s.line(), &shown_key, "gc has no equivalent");
        } else {
            let suggestion = allowed.and_then(|keys| super::files::suggest(key, keys));
            self.report.add(super::Entry {
                file: s.shown().to_owned(),
                line: s.line(),
                key: shown_key,
                outcome: super::Outcome::Unknown { suggestion },
            });
        }
    }

    /// A Gas City duration as gc's, or `None` (reported) when gc cannot express it.
    pub(super) fn duration(&mut self, s: &Sourced) -> Option<Duration> {
        let text = s.str().unwrap_or_default();
        match text.parse::<Duration>() {
            Ok(d) => Some(d),
            Err(e) => {
                self.report.not_mapped(
                    s.shown(),
                    s.line(),
                    &display_pointer(&s.pointer),
                    e.to_string(),
                );
                None
            }
        }
    }

    /// The name of the Provider for Gas City provider `name`: one defined in the city, or a
    /// built-in preset (written out the first time it is used). `None` (reported at `at`) when
    /// it is neither.
    pub(super) fn provider_ref(&mut self, name: &str, at: &Sourced) -> Option<String> {
        let label = names::label(name);
        if self.providers.contains(&label) {
            return Some(label);
        }
        let Some(preset) = presets::preset(name) else {
            let why = format!(
                "provider `{name}` is neither defined in [providers] nor a Gas City built-in ({})",
                presets::PRESET_NAMES.join(", ")
            );
            self.report.not_mapped(at.shown(), at.line(), &display_pointer(&at.pointer), why);
            return None;
        };
        for fact in &preset.not_mapped {
            let key = format!("{} (built-in provider {name})", display_pointer(&at.pointer));
            self.report.not_mapped(at.shown(), at.line(), &key, fact.clone());
        }
        let mut spec = preset.spec.clone();
        if let Some(catalog) = crate::cli::init::catalog_spec(name) {
            let taken = presets::fill_from_catalog(&mut spec, catalog);
            if !taken.is_empty() {
                let key = format!("{} (built-in provider {name})", display_pointer(&at.pointer));
                let how = format!(
                    "what gc knows about running this CLI unattended is taken from its catalog Provider (`gc init --provider {name}`): {}",
                    taken.join(", ")
                );
                self.report.approximated(
                    at.shown(),
                    at.line(),
                    &key,
                    format!("Provider/{label} spec"),
                    how,
                );
            }
        }
        let from =
            format!("Gas City's built-in `{name}` provider, used at {}:{}", at.shown(), at.line());
        Some(self.add_provider(&label, &spec, from))
    }

    /// The spec of a Provider already written.
    pub(super) fn provider_spec(&self, name: &str) -> Option<ProviderSpec> {
        let r = self.resources.iter().find(|r| r.kind == Kind::Provider && r.name == name)?;
        serde_json::from_value(r.spec.clone()).ok()
    }

    /// The default provider, choosing the fallback the first time one is needed and none
    /// was named.
    pub(super) fn default_provider(&mut self, at: &Sourced) -> Option<String> {
        if let Some(p) = &self.default_provider {
            return Some(p.clone());
        }
        let p = self.provider_ref(FALLBACK_PROVIDER, at)?;
        let how = format!(
            "the city names no provider; Gas City would pick an installed CLI at start, gc import chose `{FALLBACK_PROVIDER}` as the City's defaultProvider"
        );
        let key = "workspace.provider (unset)";
        let (file, line) = (at.shown().to_owned(), 0);
        self.report.approximated(
            &file,
            line,
            key,
            format!("City/{} spec.defaultProvider", self.city_name),
            how,
        );
        self.default_provider = Some(p.clone());
        Some(p)
    }

    /// The spec of a Provider running the shell command in `command` (Gas City's
    /// `start_command`), on top of provider `base` when given. Commands that are plain words
    /// are run directly, anything else through `sh -c`. `pack` is whose `{{.ConfigDir}}` the
    /// command may name; scripts it names there are copied.
    pub(super) fn command_spec(
        &mut self,
        command: &Sourced,
        base: Option<&str>,
        pack: usize,
    ) -> Option<ProviderSpec> {
        let config_dir = self.tree.packs[pack].config_dir.clone();
        let shown_config = if config_dir.is_empty() { "." } else { config_dir.as_str() };
        let text = expand(
            command.str().unwrap_or_default(),
            &[("ConfigDir", shown_config), ("CityRoot", ".")],
        );
        if text.contains("{{") {
            let why = "the command uses template placeholders gc does not expand in commands";
            self.report.not_mapped(
                command.shown(),
                command.line(),
                &display_pointer(&command.pointer),
                why,
            );
            return None;
        }
        let plain = !text.contains(['|', '&', ';', '<', '>', '(', ')', '$', '`', '*', '?', '~']);
        let words = if plain { shlex::split(&text).filter(|w| !w.is_empty()) } else { None };
        let mut spec = base.and_then(|b| self.provider_spec(b)).unwrap_or_default();
        match words {
            Some(words) => {
                let program = self.program_path(&words[0], pack, command);
                spec.command = program;
                spec.args = words[1..].to_vec();
            }
            None => {
                spec.command = "sh".into();
                spec.args = vec!["-c".into(), text.clone()];
            }
        }
        if spec.process_names.is_empty() || base.is_none() {
            let file =
                Path::new(&spec.command).file_name().map(|f| f.to_string_lossy().into_owned());
            spec.process_names = file.into_iter().collect();
        }
        if base.is_none() {
            spec.prompt_mode = PromptMode::None;
        }
        Some(spec)
    }

    /// Writes Provider `name` (a label) with `spec`; returns its name.
    pub(super) fn add_provider(&mut self, name: &str, spec: &ProviderSpec, from: String) -> String {
        self.add(Kind::Provider, name, spec_json(spec), from);
        self.providers.insert(name.to_owned());
        name.to_owned()
    }

    /// A command's program as the Provider names it: a relative path becomes relative to the
    /// new city directory (the pack's scripts are copied along); a bare name stays a PATH
    /// lookup.
    fn program_path(&mut self, program: &str, pack: usize, at: &Sourced) -> String {
        if !program.contains('/') || Path::new(program).is_absolute() {
            return program.to_owned();
        }
        let pack_ref = &self.tree.packs[pack];
        let rel = program.strip_prefix("./").unwrap_or(program);
        // `{{.ConfigDir}}` was replaced by the pack's new directory; undo that to find the
        // file in the source.
        let inside = if pack_ref.config_dir.is_empty() {
            rel.to_owned()
        } else {
            rel.strip_prefix(&format!("{}/", pack_ref.config_dir)).unwrap_or(rel).to_owned()
        };
        let source = normalize(&pack_ref.dir.join(&inside));
        let dest = if pack_ref.config_dir.is_empty() {
            inside.clone()
        } else {
            format!("{}/{inside}", pack_ref.config_dir)
        };
        if source.is_file() {
            self.copies.push((source, dest.clone()));
        } else {
            let why = format!(
                "names `{}`, which is not in the source city; the Provider points at {dest} anyway, put the script there",
                self.tree.shown(&source)
            );
            let key = format!("{} (script)", display_pointer(&at.pointer));
            self.report.not_mapped(at.shown(), at.line(), &key, why);
        }
        dest
    }

    /// `[providers.X]` of every file (deeper packs first, so nearer ones override key by key,
    /// as Gas City deep-merges them).
    pub(super) fn defined_providers(&mut self) {
        let mut merged: BTreeMap<String, BTreeMap<String, Sourced>> = BTreeMap::new();
        for &pack in self.tree.closure(0).iter().rev() {
            let Some(file) = self.tree.packs[pack].file.clone() else { continue };
            for (name, table) in
                Sourced::at(&file, "/providers").map(|p| p.members()).unwrap_or_default()
            {
                let keys = merged.entry(name).or_default();
                for (k, v) in table.members() {
                    if let Some(old) = keys.insert(k, v.clone()) {
                        let why = format!("overridden by {}:{}", v.shown(), v.line());
                        self.report.not_mapped(
                            old.shown(),
                            old.line(),
                            &display_pointer(&old.pointer),
                            why,
                        );
                    }
                }
            }
        }
        for (name, keys) in merged {
            self.provider(&name, &keys);
        }
    }

    fn provider(&mut self, name: &str, keys: &BTreeMap<String, Sourced>) {
        let label = names::label(name);
        let mut spec: ProviderSpec = presets::preset(name).map(|p| p.spec).unwrap_or_default();
        let to = |field: &str| format!("Provider/{label} spec.{field}");
        for (key, s) in keys {
            let (file, line, k) = (s.shown().to_owned(), s.line(), display_pointer(&s.pointer));
            if let Some(result) = set_launch_key(&mut spec, key, s) {
                match result {
                    Ok(field) => self.report.mapped(&file, line, &k, to(field)),
                    Err(why) => self.report.not_mapped(&file, line, &k, why),
                }
                continue;
            }
            let id = "{{ conversation_id }}".to_owned();
            match key.as_str() {
                // gc puts resume arguments after every flag, which serves a subcommand too.
                "resume_flag" => {
                    if let Some(flag) = s.str() {
                        spec.conversation
                            .get_or_insert_with(ConversationSpec::default)
                            .resume_args = vec![flag.to_owned(), id];
                    }
                    self.report.mapped(&file, line, &k, to("conversation.resumeArgs"));
                }
                "session_id_flag" => {
                    if let Some(flag) = s.str() {
                        spec.conversation.get_or_insert_with(ConversationSpec::default).new_args =
                            vec![flag.to_owned(), id];
                    }
                    self.report.mapped(&file, line, &k, to("conversation.newArgs"));
                }
                "resume_style" => {
                    self.report.mapped(&file, line, &k, to("conversation.resumeArgs"))
                }
                _ if PROVIDER_NOT_MAPPED.contains(&key.as_str()) => self.report.not_mapped(
                    &file,
                    line,
                    &k,
                    "gc has no equivalent (it launches the command with its args, prompt and env)",
                ),
                _ => self.unknown_key("providers", key, s),
            }
        }
        if spec.command.is_empty() {
            let at = keys.values().next().cloned();
            if let Some(at) = at {
                let why =
                    format!("provider `{name}` has no command and is not a built-in: not imported");
                self.report.not_mapped(at.shown(), at.line(), &format!("providers.{name}"), why);
            }
            return;
        }
        let from =
            keys.values().next().map(|s| format!("{}:{}", s.shown(), s.line())).unwrap_or_default();
        self.add_provider(&label, &spec, from);
    }

    /// `[[rigs]]` of the city and the `--rig` rigs, each with the packs stamped into it.
    pub(super) fn rigs(&mut self) {
        let root = self.tree.root_file().cloned();
        let source_dir = self.tree.root_dir.clone();
        for rig in root
            .as_ref()
            .and_then(|f| Sourced::at(f, "/rigs"))
            .map(|r| r.items())
            .unwrap_or_default()
        {
            let keys: BTreeMap<String, Sourced> = rig.members().into_iter().collect();
            let Some(name) = keys.get("name").and_then(|n| n.str().map(str::to_owned)) else {
                self.report.not_mapped(
                    rig.shown(),
                    rig.line(),
                    &display_pointer(&rig.pointer),
                    "rig without `name`",
                );
                continue;
            };
            let label = names::label(&name);
            let to = |f: &str| format!("Rig/{label} {f}");
            let mut spec = RigSpec::default();
            let mut packs = Vec::new();
            let mut overrides = Vec::new();
            for (key, s) in &keys {
                let (file, line, k) = (s.shown().to_owned(), s.line(), display_pointer(&s.pointer));
                match key.as_str() {
                    "name" if names::unchanged(&name) => self.report.mapped(&file, line, &k, to("metadata.name")),
                    "name" => self.report.approximated(&file, line, &k, to("metadata.name"), format!("renamed to `{label}`")),
                    "path" => {
                        let p = s.str().unwrap_or_default();
                        let abs = normalize(&source_dir.join(p));
                        spec.path = abs.display().to_string();
                        if Path::new(p).is_absolute() {
                            self.report.mapped(&file, line, &k, to("spec.path"));
                        } else {
                            self.report.approximated(&file, line, &k, to("spec.path"), "made absolute (it was relative to the Gas City city directory)");
                        }
                    }
                    "prefix" => match s.str().filter(|p| regex_match(PREFIX_PATTERN, p)) {
                        Some(p) => {
                            spec.prefix = Some(p.to_owned());
                            self.report.mapped(&file, line, &k, to("spec.prefix"));
                        }
                        None => self.report.not_mapped(&file, line, &k, "gc prefixes are a lowercase letter then up to 15 letters or digits; the prefix is derived from the name"),
                    },
                    "suspended" => {
                        spec.suspended = s.value.as_bool().unwrap_or(false);
                        self.report.mapped(&file, line, &k, to("spec.suspended"));
                    }
                    "includes" => {
                        for item in s.items() {
                            packs.extend(self.tree.resolve(&item, &mut self.report));
                        }
                    }
                    "imports" => {
                        for (_, import) in s.members() {
                            let src = Sourced::at(&import.file, &format!("{}/source", import.pointer)).unwrap_or(import);
                            packs.extend(self.tree.resolve(&src, &mut self.report));
                        }
                    }
                    "overrides" | "patches" => {
                        overrides.extend(s.items());
                    }
                    "formulas_dir" => self.report.mapped(&file, line, &k, "its formulas are imported as Formulas"),
                    "max_active_sessions" => self.report.not_mapped(&file, line, &k, "gc caps sessions per agent and per city, not per rig"),
                    "default_sling_target" => self.report.not_mapped(&file, line, &k, "gc sling always names its target"),
                    "session_sleep" => self.report.not_mapped(&file, line, &k, "gc has no session sleep policy; use Agent spec.idleTimeout"),
                    "dolt_host" | "dolt_port" => self.report.not_mapped(&file, line, &k, "gc's bead stores need no Dolt server"),
                    _ => self.unknown_key("rigs", key, s),
                }
            }
            if spec.path.is_empty() {
                self.report.not_mapped(
                    rig.shown(),
                    rig.line(),
                    &display_pointer(&rig.pointer),
                    format!("rig `{name}` has no path: not imported"),
                );
                continue;
            }
            let from = format!("{}:{}", rig.shown(), rig.line());
            self.add(Kind::Rig, &label, spec_json(&spec), from);
            let packs = packs.iter().flat_map(|&p| self.tree.closure(p)).collect::<Vec<_>>();
            self.rigs.push(RigPlan { name: label, packs: dedup(packs), overrides });
        }
        self.cli_rigs();
    }

    fn cli_rigs(&mut self) {
        if self.options.rigs.is_empty() {
            return;
        }
        let cwd = std::env::current_dir().unwrap_or_default();
        let mut packs = Vec::new();
        for include in &self.options.includes {
            let dir = [self.tree.root_dir.join(include), cwd.join(include)]
                .into_iter()
                .find(|d| d.is_dir());
            if let Some(dir) = dir {
                packs.extend(self.tree.add_dir(normalize(&dir), &mut self.report));
            }
        }
        if packs.is_empty() {
            let root = self.tree.root_file().cloned();
            for item in root
                .as_ref()
                .and_then(|f| Sourced::at(f, "/workspace/default_rig_includes"))
                .map(|d| d.items())
                .unwrap_or_default()
            {
                packs.extend(self.tree.resolve(&item, &mut self.report));
            }
        }
        if packs.is_empty() {
            packs.push(0);
        }
        let packs = dedup(packs.iter().flat_map(|&p| self.tree.closure(p)).collect());
        for (name, path) in self.options.rigs.clone() {
            let label = names::label(&name);
            let abs = normalize(&cwd.join(&path));
            let spec = RigSpec { path: abs.display().to_string(), ..RigSpec::default() };
            self.add(Kind::Rig, &label, spec_json(&spec), format!("--rig {name}={path}"));
            self.rigs.push(RigPlan { name: label, packs: packs.clone(), overrides: Vec::new() });
        }
    }
}

const SESSION_TUNING: &[&str] = &[
    "setup_timeout",
    "nudge_ready_timeout",
    "nudge_retry_interval",
    "nudge_lock_timeout",
    "debounce_ms",
    "display_ms",
];

const PROVIDER_NOT_MAPPED: &[&str] = &[
    "display_name",
    "emits_permission_warning",
    "path_check",
    "supports_acp",
    "supports_hooks",
    "instructions_file",
    "resume_command",
    "permission_modes",
    "option_defaults",
    "options_schema",
    "print_args",
    "title_model",
];

/// Applies a Gas City launch key (`command`, `args`, `process_names`, `env`, `prompt_mode`,
/// `prompt_flag`, `ready_prompt_prefix`, `ready_delay_ms`) to `spec`: the gc field it set, or
/// why it could not; `None` for any other key. Shared by `[providers.X]` and by agents that
/// override their provider's launch settings.
pub(super) fn set_launch_key(
    spec: &mut ProviderSpec,
    key: &str,
    s: &Sourced,
) -> Option<Result<&'static str, &'static str>> {
    let text = s.str().map(str::to_owned);
    Some(match key {
        "command" => match text.filter(|c| !c.is_empty()) {
            Some(c) => {
                spec.command = c;
                Ok("command")
            }
            None => Err("empty command"),
        },
        "args" | "process_names" => match s.strings() {
            Some(list) if key == "args" => {
                spec.args = list;
                Ok("args")
            }
            Some(list) => {
                spec.process_names = list;
                Ok("processNames")
            }
            None => Err("not a list of strings"),
        },
        "env" => {
            spec.env.extend(string_map(&s.value));
            Ok("env")
        }
        "prompt_mode" => {
            spec.prompt_mode = match text.as_deref() {
                Some("arg") => PromptMode::Arg,
                Some("flag") => PromptMode::Flag,
                Some("none") => PromptMode::None,
                _ => return Some(Err("not arg, flag or none")),
            };
            Ok("promptMode")
        }
        "prompt_flag" => {
            spec.prompt_flag = text;
            Ok("promptFlag")
        }
        "ready_prompt_prefix" => {
            spec.ready_prompt_prefix = text.map(crate::api::provider::Prefixes::One);
            Ok("readyPromptPrefix")
        }
        "ready_delay_ms" => match s.value.as_u64() {
            Some(ms) => {
                spec.ready_delay = Some(Duration(std::time::Duration::from_millis(ms)));
                Ok("readyDelay")
            }
            None => Err("not a number of milliseconds"),
        },
        _ => return None,
    })
}

/// `text` with Gas City's `{{.Name}}` (or `{{ .Name }}`) placeholders replaced by values.
pub(super) fn expand(text: &str, values: &[(&str, &str)]) -> String {
    let mut out = text.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{{.{name}}}}}"), value);
        out = out.replace(&format!("{{{{ .{name} }}}}"), value);
    }
    out
}

fn regex_match(pattern: &str, text: &str) -> bool {
    regex::Regex::new(pattern).is_ok_and(|r| r.is_match(text))
}

fn dedup(items: Vec<usize>) -> Vec<usize> {
    let mut out = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// A JSON value's members as strings, skipping the rest.
pub(super) fn string_map(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
        .unwrap_or_default()
}
