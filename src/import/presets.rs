//! Gas City's built-in provider presets, as this project's [`ProviderSpec`].
//!
//! A Gas City city may name `claude`, `codex`, … without defining them; `gc import` writes a
//! Provider resource for each one the city relies on. The facts are those of Gas City's
//! built-in provider table in the era of the shared fixtures (Gas City commit a46ccb1c, whose
//! schema has `option_defaults` and `print_args` but not yet `base` or `acp_args`): the table
//! in `internal/worker/builtin/profiles.go`, earlier in `internal/config/provider.go`.
//!
//! Each preset is first written down in Gas City's own terms ([`Facts`]) and then translated by
//! one function, so the table reads like the original and every translation rule sits in one
//! place.

use std::collections::BTreeMap;

use crate::api::Duration;
use crate::api::provider::{ConversationSpec, PromptMode, ProviderSpec};

/// A built-in Gas City provider preset.
#[derive(Clone, Debug, PartialEq)]
pub struct Preset {
    /// The name a city uses for it, e.g. `claude`.
    pub name: &'static str,
    /// How gc launches it.
    pub spec: ProviderSpec,
    /// Facts of the preset gc cannot express (e.g. `resume_style = subcommand`), one line each,
    /// for the import report.
    pub not_mapped: Vec<String>,
}

/// Every preset name, in Gas City's detection order (its default, `claude`, first).
pub const PRESET_NAMES: &[&str] =
    &["claude", "codex", "gemini", "cursor", "copilot", "amp", "opencode", "auggie", "pi", "omp"];

/// The preset called `name`, if Gas City has one.
pub fn preset(name: &str) -> Option<Preset> {
    PRESETS.iter().find(|f| f.name == name).map(translate)
}

/// Fills what Gas City's preset has no word for from gc's tested catalog Provider of the same
/// CLI: the credentials that pass into sessions, the config directory gc owns (where skills,
/// commands and MCP servers go), the dialogs it answers, its busy markers, gc's hooks and the
/// usage prices. Launch arguments and readiness stay Gas City's. The fields taken, by name.
pub fn fill_from_catalog(spec: &mut ProviderSpec, catalog: ProviderSpec) -> Vec<&'static str> {
    let mut taken = Vec::new();
    let mut take = |field: &'static str, empty: bool| {
        if empty {
            taken.push(field);
        }
        empty
    };
    if take("install", spec.install.is_none() && catalog.install.is_some()) {
        spec.install = catalog.install;
    }
    let missing_env: Vec<_> =
        catalog.env.into_iter().filter(|(name, _)| !spec.env.contains_key(name)).collect();
    if take("env", !missing_env.is_empty()) {
        spec.env.extend(missing_env);
    }
    if take("envAsRoot", spec.env_as_root.is_empty() && !catalog.env_as_root.is_empty()) {
        spec.env_as_root = catalog.env_as_root;
    }
    if take("passEnv", spec.pass_env.is_empty() && !catalog.pass_env.is_empty()) {
        spec.pass_env = catalog.pass_env;
    }
    if take("stripEnv", spec.strip_env.is_empty() && !catalog.strip_env.is_empty()) {
        spec.strip_env = catalog.strip_env;
    }
    if take("busyMarkers", spec.busy_markers.is_empty() && !catalog.busy_markers.is_empty()) {
        spec.busy_markers = catalog.busy_markers;
    }
    if take("home", spec.home.is_none() && catalog.home.is_some()) {
        spec.home = catalog.home;
    }
    if take("dialogs", spec.dialogs.is_empty() && !catalog.dialogs.is_empty()) {
        spec.dialogs = catalog.dialogs;
    }
    if take("hooks", spec.hooks.is_none() && catalog.hooks.is_some()) {
        spec.hooks = catalog.hooks;
    }
    if take("usage", spec.usage.is_none() && catalog.usage.is_some()) {
        spec.usage = catalog.usage;
    }
    taken
}

/// How long gc waits before counting a session ready when Gas City gives neither a ready prompt
/// prefix nor a delay. Gas City then counts the session ready at once; a few seconds lets a
/// CLI draw its input box first, so a prompt typed into it is not lost.
const FALLBACK_READY_DELAY_MS: u64 = 5_000;

/// How Gas City resumes a conversation by its session id.
#[derive(Clone, Copy)]
enum Resume {
    /// Not at all.
    None,
    /// `command <flag> <id>`.
    Flag(&'static str),
    /// `command <subcommand> <id>`.
    Subcommand(&'static str),
}

/// One preset, in Gas City's terms.
struct Facts {
    name: &'static str,
    command: &'static str,
    /// Launch arguments, Gas City's default option choices (`option_defaults` over
    /// `options_schema`) already expanded, in the order Gas City emits them.
    args: &'static [&'static str],
    /// Arguments that load hook files Gas City installs into the work directory; gc installs
    /// none, so passing them would make the CLI fail on a missing file.
    hook_args: &'static [&'static str],
    prompt_mode: PromptMode,
    prompt_flag: Option<&'static str>,
    ready_prompt_prefix: Option<&'static str>,
    ready_delay_ms: u64,
    process_names: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    resume: Resume,
    /// Starts a new conversation under a chosen id (Gas City's `session_id_flag`).
    session_id_flag: Option<&'static str>,
    instructions_file: &'static str,
    /// Gas City's `options_schema` keys, whose non-default choices are lost.
    options: &'static [&'static str],
    emits_permission_warning: bool,
    supports_acp: bool,
    supports_hooks: bool,
}

/// The defaults of Gas City's `ProviderSpec`, to spell out only what a preset sets.
const NONE: Facts = Facts {
    name: "",
    command: "",
    args: &[],
    hook_args: &[],
    prompt_mode: PromptMode::Arg,
    prompt_flag: None,
    ready_prompt_prefix: None,
    ready_delay_ms: 0,
    process_names: &[],
    env: &[],
    resume: Resume::None,
    session_id_flag: None,
    instructions_file: "AGENTS.md",
    options: &[],
    emits_permission_warning: false,
    supports_acp: false,
    supports_hooks: false,
};

/// The presets, in [`PRESET_NAMES`] order.
const PRESETS: &[Facts] = &[
    // Claude Code. Its option defaults are `permission_mode = unrestricted`, `effort = max`.
    Facts {
        name: "claude",
        command: "claude",
        args: &["--dangerously-skip-permissions", "--effort", "max"],
        ready_prompt_prefix: Some("\u{276f} "),
        ready_delay_ms: 10_000,
        process_names: &["node", "claude"],
        resume: Resume::Flag("--resume"),
        session_id_flag: Some("--session-id"),
        instructions_file: "CLAUDE.md",
        options: &["permission_mode", "effort", "model"],
        emits_permission_warning: true,
        supports_acp: true,
        supports_hooks: true,
        ..NONE
    },
    // Codex CLI. Option defaults: `permission_mode = unrestricted`, `effort = xhigh`.
    Facts {
        name: "codex",
        command: "codex",
        args: &["--dangerously-bypass-approvals-and-sandbox", "-c", "model_reasoning_effort=xhigh"],
        ready_prompt_prefix: Some("\u{203a} "),
        ready_delay_ms: 3_000,
        process_names: &["codex"],
        resume: Resume::Subcommand("resume"),
        options: &["permission_mode", "model", "sandbox", "effort"],
        supports_hooks: true,
        ..NONE
    },
    // Gemini CLI. Option default: `permission_mode = unrestricted`.
    Facts {
        name: "gemini",
        command: "gemini",
        args: &["--approval-mode", "yolo"],
        ready_prompt_prefix: Some("> "),
        ready_delay_ms: 5_000,
        process_names: &["gemini", "node"],
        resume: Resume::Flag("--resume"),
        options: &["permission_mode", "model"],
        supports_hooks: true,
        ..NONE
    },
    // Cursor Agent. Gas City gives no ready prefix or delay: see FALLBACK_READY_DELAY_MS.
    Facts {
        name: "cursor",
        command: "cursor-agent",
        args: &["-f"],
        process_names: &["cursor-agent"],
        supports_hooks: true,
        ..NONE
    },
    // GitHub Copilot CLI.
    Facts {
        name: "copilot",
        command: "copilot",
        args: &["--yolo"],
        ready_prompt_prefix: Some("\u{276f} "),
        ready_delay_ms: 5_000,
        process_names: &["copilot"],
        supports_hooks: true,
        ..NONE
    },
    // Sourcegraph Amp. No ready prefix or delay: see FALLBACK_READY_DELAY_MS.
    Facts {
        name: "amp",
        command: "amp",
        args: &["--dangerously-allow-all", "--no-ide"],
        process_names: &["amp"],
        ..NONE
    },
    // OpenCode: the prompt is typed in, not passed; permissions are opened through the
    // environment.
    Facts {
        name: "opencode",
        command: "opencode",
        prompt_mode: PromptMode::None,
        ready_delay_ms: 8_000,
        process_names: &["opencode", "node", "bun"],
        env: &[("OPENCODE_PERMISSION", r#"{"*":"allow"}"#)],
        supports_acp: true,
        supports_hooks: true,
        ..NONE
    },
    // Augment's Auggie CLI. No ready prefix or delay: see FALLBACK_READY_DELAY_MS.
    Facts {
        name: "auggie",
        command: "auggie",
        args: &["--allow-indexing"],
        process_names: &["auggie"],
        ..NONE
    },
    // Pi coding agent; Gas City loads its hook extension.
    Facts {
        name: "pi",
        command: "pi",
        hook_args: &["-e", ".pi/extensions/gc-hooks.js"],
        ready_delay_ms: 8_000,
        process_names: &["pi", "node", "bun"],
        supports_hooks: true,
        ..NONE
    },
    // Oh My Pi. No ready prefix or delay: see FALLBACK_READY_DELAY_MS.
    Facts {
        name: "omp",
        command: "omp",
        hook_args: &["--hook", ".omp/hooks/gc-hook.ts"],
        process_names: &["omp", "node", "bun"],
        supports_hooks: true,
        ..NONE
    },
];

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Gas City's facts as a gc [`Preset`]; what has no gc field goes to `not_mapped`.
fn translate(f: &Facts) -> Preset {
    let mut not_mapped = Vec::new();
    // gc's launcher ignores the delay when a prefix is set; it is kept anyway so the file
    // states Gas City's whole recipe.
    let delay_ms = match (f.ready_prompt_prefix, f.ready_delay_ms) {
        (None, 0) => FALLBACK_READY_DELAY_MS,
        (_, ms) => ms,
    };
    // Gas City names a conversation with `session_id_flag` and resumes it by id, with a flag
    // or a subcommand; gc's `conversation` says the same.
    let id = "{{ conversation_id }}".to_owned();
    let resume_args = match f.resume {
        Resume::None => Vec::new(),
        Resume::Flag(flag) => vec![flag.to_owned(), id.clone()],
        Resume::Subcommand(sub) => vec![sub.to_owned(), id.clone()],
    };
    let new_args = f.session_id_flag.map(|flag| vec![flag.to_owned(), id]).unwrap_or_default();
    let conversation = (!resume_args.is_empty() || !new_args.is_empty())
        .then_some(ConversationSpec { new_args, resume_args });
    if !f.hook_args.is_empty() {
        not_mapped.push(format!(
            "args {} (load hook files Gas City installs; gc does not)",
            f.hook_args.join(" ")
        ));
    }
    not_mapped.push(format!("instructions_file = {}", f.instructions_file));
    if !f.options.is_empty() {
        not_mapped.push(format!(
            "options_schema ({}): only Gas City's default choices are kept, as args",
            f.options.join(", ")
        ));
    }
    for (set, fact) in [
        (f.emits_permission_warning, "emits_permission_warning = true"),
        (f.supports_acp, "supports_acp = true (Agent Client Protocol sessions)"),
        (f.supports_hooks, "supports_hooks = true (Gas City installs lifecycle hooks)"),
    ] {
        if set {
            not_mapped.push(fact.to_owned());
        }
    }
    let spec = ProviderSpec {
        command: f.command.to_owned(),
        args: strings(f.args),
        env: f
            .env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
        process_names: strings(f.process_names),
        ready_prompt_prefix: f.ready_prompt_prefix.map(Into::into),
        ready_delay: Some(Duration(std::time::Duration::from_millis(delay_ms))),
        prompt_mode: f.prompt_mode,
        prompt_flag: f.prompt_flag.map(str::to_owned),
        conversation,
        ..ProviderSpec::default()
    };
    Preset { name: f.name, spec, not_mapped }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::api::API_VERSION;
    use crate::manifest::{Format, SourceFile};
    use crate::validate::validate_sources;

    #[test]
    fn every_name_resolves_in_order() {
        let names: Vec<&str> = PRESETS.iter().map(|f| f.name).collect();
        assert_eq!(names, PRESET_NAMES);
        for name in PRESET_NAMES {
            assert_eq!(preset(name).unwrap().name, *name);
        }
        assert!(preset("shell").is_none());
    }

    #[test]
    fn every_spec_is_a_valid_provider() {
        for name in PRESET_NAMES {
            let doc = serde_json::json!({
                "apiVersion": API_VERSION,
                "kind": "Provider",
                "metadata": {"name": name},
                "spec": preset(name).unwrap().spec,
            });
            // JSON is YAML, and going through text exercises the same path as `gc validate`.
            let file = Arc::new(SourceFile::new(format!("{name}.yaml"), doc.to_string()));
            let v =
                validate_sources(vec![(file, Format::Yaml)], vec![], None, Path::new("."), false);
            assert!(v.diagnostics.is_empty(), "{name}: {:?}", v.diagnostics);
            assert_eq!(v.resources.len(), 1, "{name}");
        }
    }

    #[test]
    fn claude_is_gas_city_claude() {
        let p = preset("claude").unwrap();
        let s = &p.spec;
        assert_eq!(s.command, "claude");
        assert_eq!(s.args, ["--dangerously-skip-permissions", "--effort", "max"]);
        assert_eq!(s.prompt_mode, PromptMode::Arg);
        assert_eq!(s.ready_prompt_prefix, Some("❯ ".into()));
        assert_eq!(s.ready_delay.unwrap().get(), std::time::Duration::from_secs(10));
        assert_eq!(s.process_names, ["node", "claude"]);
        assert!(s.env.is_empty());
        let conversation = s.conversation.as_ref().unwrap();
        assert_eq!(conversation.resume_args, ["--resume", "{{ conversation_id }}"]);
        assert_eq!(conversation.new_args, ["--session-id", "{{ conversation_id }}"]);
        assert!(p.not_mapped.iter().any(|n| n == "instructions_file = CLAUDE.md"));
    }

    #[test]
    fn subcommand_resume_is_kept_and_hook_args_are_reported_not_launched() {
        let codex = preset("codex").unwrap();
        let conversation = codex.spec.conversation.unwrap();
        assert_eq!(conversation.resume_args, ["resume", "{{ conversation_id }}"]);
        assert!(conversation.new_args.is_empty());
        let pi = preset("pi").unwrap();
        assert!(pi.spec.args.is_empty());
        assert!(pi.not_mapped.iter().any(|n| n.contains("-e .pi/extensions/gc-hooks.js")));
    }

    #[test]
    fn a_preset_without_readiness_hints_waits_a_little() {
        for name in ["cursor", "amp", "auggie", "omp"] {
            let s = preset(name).unwrap().spec;
            assert_eq!(s.ready_prompt_prefix, None, "{name}");
            assert_eq!(
                s.ready_delay.unwrap().get().as_millis(),
                u128::from(FALLBACK_READY_DELAY_MS)
            );
        }
    }
}
