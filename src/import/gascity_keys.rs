//! The keys Gas City's own schema allows in each table of `city.toml` and `pack.toml`.
//!
//! Gas City only warns about a key it does not know, so a city it runs happily may hold keys
//! its schema rejects; `gc import` reports those, with a did-you-mean from [`suggest`].
//!
//! The `city.toml` tables are the property lists of the `$defs` of Gas City's published
//! JSON Schema (`city-schema.json` in the shared fixtures, Gas City commit a46ccb1c); a test
//! compares them with that file whenever it is present, so they cannot drift unnoticed.
//! Every table is sorted.

/// The top level of `city.toml`.
pub const CITY: &[&str] = &[
    "agent",
    "agent_defaults",
    "api",
    "beads",
    "chat_sessions",
    "convergence",
    "daemon",
    "dolt",
    "events",
    "formulas",
    "imports",
    "include",
    "mail",
    "named_session",
    "orders",
    "packs",
    "patches",
    "providers",
    "rigs",
    "service",
    "session",
    "session_sleep",
    "workspace",
];
/// `[workspace]`.
pub const WORKSPACE: &[&str] = &[
    "default_rig_includes",
    "global_fragments",
    "includes",
    "install_agent_hooks",
    "max_active_sessions",
    "name",
    "prefix",
    "provider",
    "session_template",
    "start_command",
    "suspended",
];
/// `[[agent]]`.
pub const AGENT: &[&str] = &[
    "args",
    "attach",
    "default_sling_formula",
    "depends_on",
    "description",
    "dir",
    "drain_timeout",
    "emits_permission_warning",
    "env",
    "fallback",
    "hooks_installed",
    "idle_timeout",
    "inject_assigned_skills",
    "inject_fragments",
    "install_agent_hooks",
    "max_active_sessions",
    "mcp",
    "min_active_sessions",
    "name",
    "namepool",
    "nudge",
    "on_boot",
    "on_death",
    "option_defaults",
    "overlay_dir",
    "pre_start",
    "process_names",
    "prompt_flag",
    "prompt_mode",
    "prompt_template",
    "provider",
    "ready_delay_ms",
    "ready_prompt_prefix",
    "resume_command",
    "scale_check",
    "scope",
    "session",
    "session_live",
    "session_setup",
    "session_setup_script",
    "skills",
    "sleep_after_idle",
    "sling_query",
    "start_command",
    "suspended",
    "wake_mode",
    "work_dir",
    "work_query",
];
/// `[[patches.agent]]`.
pub const AGENT_PATCH: &[&str] = &[
    "attach",
    "default_sling_formula",
    "depends_on",
    "dir",
    "env",
    "env_remove",
    "hooks_installed",
    "idle_timeout",
    "inject_assigned_skills",
    "inject_fragments",
    "inject_fragments_append",
    "install_agent_hooks",
    "install_agent_hooks_append",
    "max_active_sessions",
    "mcp",
    "mcp_append",
    "min_active_sessions",
    "name",
    "nudge",
    "option_defaults",
    "overlay_dir",
    "pool",
    "pre_start",
    "pre_start_append",
    "prompt_template",
    "provider",
    "resume_command",
    "scale_check",
    "scope",
    "session",
    "session_live",
    "session_live_append",
    "session_setup",
    "session_setup_append",
    "session_setup_script",
    "skills",
    "skills_append",
    "sleep_after_idle",
    "start_command",
    "suspended",
    "wake_mode",
    "work_dir",
];
/// `[[rigs.overrides]]` and `[[rigs.patches]]`.
pub const AGENT_OVERRIDE: &[&str] = &[
    "agent",
    "attach",
    "default_sling_formula",
    "depends_on",
    "dir",
    "env",
    "env_remove",
    "hooks_installed",
    "idle_timeout",
    "inject_assigned_skills",
    "inject_fragments",
    "inject_fragments_append",
    "install_agent_hooks",
    "install_agent_hooks_append",
    "max_active_sessions",
    "mcp",
    "mcp_append",
    "min_active_sessions",
    "nudge",
    "option_defaults",
    "overlay_dir",
    "pool",
    "pre_start",
    "pre_start_append",
    "prompt_template",
    "provider",
    "resume_command",
    "scale_check",
    "scope",
    "session",
    "session_live",
    "session_live_append",
    "session_setup",
    "session_setup_append",
    "session_setup_script",
    "skills",
    "skills_append",
    "sleep_after_idle",
    "start_command",
    "suspended",
    "wake_mode",
    "work_dir",
];
/// `[[named_session]]`.
pub const NAMED_SESSION: &[&str] = &["dir", "mode", "name", "scope", "template"];
/// `[[rigs]]`.
pub const RIG: &[&str] = &[
    "default_sling_target",
    "dolt_host",
    "dolt_port",
    "formulas_dir",
    "imports",
    "includes",
    "max_active_sessions",
    "name",
    "overrides",
    "patches",
    "path",
    "prefix",
    "session_sleep",
    "suspended",
];
/// `[[patches.rigs]]`.
pub const RIG_PATCH: &[&str] = &["name", "path", "prefix", "suspended"];
/// `[providers.<name>]`.
pub const PROVIDER_SPEC: &[&str] = &[
    "args",
    "command",
    "display_name",
    "emits_permission_warning",
    "env",
    "instructions_file",
    "option_defaults",
    "options_schema",
    "path_check",
    "permission_modes",
    "print_args",
    "process_names",
    "prompt_flag",
    "prompt_mode",
    "ready_delay_ms",
    "ready_prompt_prefix",
    "resume_command",
    "resume_flag",
    "resume_style",
    "session_id_flag",
    "supports_acp",
    "supports_hooks",
    "title_model",
];
/// `[[patches.providers]]`.
pub const PROVIDER_PATCH: &[&str] = &[
    "_replace",
    "args",
    "command",
    "env",
    "env_remove",
    "name",
    "prompt_flag",
    "prompt_mode",
    "ready_delay_ms",
];
/// `[daemon]`.
pub const DAEMON_CONFIG: &[&str] = &[
    "drift_drain_timeout",
    "formula_v2",
    "graph_workflows",
    "max_restarts",
    "max_wakes_per_tick",
    "observe_paths",
    "patrol_interval",
    "probe_concurrency",
    "restart_window",
    "shutdown_timeout",
    "wisp_gc_interval",
    "wisp_ttl",
];
/// `[session]`.
pub const SESSION_CONFIG: &[&str] = &[
    "acp",
    "debounce_ms",
    "display_ms",
    "k8s",
    "nudge_lock_timeout",
    "nudge_ready_timeout",
    "nudge_retry_interval",
    "provider",
    "remote_match",
    "setup_timeout",
    "socket",
    "startup_timeout",
];
/// `[session.k8s]`.
pub const K8S_CONFIG: &[&str] = &[
    "context",
    "cpu_limit",
    "cpu_request",
    "image",
    "mem_limit",
    "mem_request",
    "namespace",
    "prebaked",
];
/// `[session.acp]`.
pub const ACP_SESSION_CONFIG: &[&str] =
    &["handshake_timeout", "nudge_busy_timeout", "output_buffer_lines"];
/// `[beads]`.
pub const BEADS_CONFIG: &[&str] = &["provider"];
/// `[formulas]`.
pub const FORMULAS_CONFIG: &[&str] = &["dir"];
/// `[orders]`.
pub const ORDERS_CONFIG: &[&str] = &["max_timeout", "overrides", "skip"];
/// `[[orders.overrides]]`.
pub const ORDER_OVERRIDE: &[&str] =
    &["check", "enabled", "gate", "interval", "name", "on", "pool", "rig", "schedule", "timeout"];
/// `[imports.<binding>]` (city, pack and rig).
pub const IMPORT: &[&str] = &["export", "shadow", "source", "transitive", "version"];
/// `[patches]`.
pub const PATCHES: &[&str] = &["agent", "providers", "rigs"];
/// `[packs.<name>]`.
pub const PACK_SOURCE: &[&str] = &["path", "ref", "source"];
/// `[session_sleep]` (city and rig).
pub const SESSION_SLEEP_CONFIG: &[&str] =
    &["interactive_fresh", "interactive_resume", "noninteractive"];
/// `[api]`.
pub const API_CONFIG: &[&str] = &["allow_mutations", "bind", "port"];
/// `[mail]`.
pub const MAIL_CONFIG: &[&str] = &["provider"];
/// `[events]`.
pub const EVENTS_CONFIG: &[&str] = &["provider"];
/// `[dolt]`.
pub const DOLT_CONFIG: &[&str] = &["host", "port"];
/// `[chat_sessions]`.
pub const CHAT_SESSIONS_CONFIG: &[&str] = &["idle_timeout"];
/// `[convergence]`.
pub const CONVERGENCE_CONFIG: &[&str] = &["max_per_agent", "max_total"];
/// `[agent_defaults]`.
pub const AGENT_DEFAULTS: &[&str] = &[
    "allow_env_override",
    "allow_overlay",
    "append_fragments",
    "default_sling_formula",
    "mcp",
    "model",
    "skills",
    "wake_mode",
];
/// `[[service]]`.
pub const SERVICE: &[&str] =
    &["kind", "name", "process", "publication", "publish_mode", "state_root", "workflow"];
/// `pool` inside an agent patch or override.
pub const POOL_OVERRIDE: &[&str] = &["check", "drain_timeout", "max", "min", "on_boot", "on_death"];
/// `[[providers.<name>.options_schema]]`.
pub const PROVIDER_OPTION: &[&str] = &["choices", "default", "key", "label", "type"];
/// `choices` of a provider option.
pub const OPTION_CHOICE: &[&str] = &["flag_args", "label", "value"];
/// `[service.process]`.
pub const SERVICE_PROCESS_CONFIG: &[&str] = &["command", "health_path"];
/// `[service.publication]`.
pub const SERVICE_PUBLICATION_CONFIG: &[&str] = &["allow_websockets", "hostname", "visibility"];
/// `[service.workflow]`.
pub const SERVICE_WORKFLOW_CONFIG: &[&str] = &["contract"];

/// The top level of a `pack.toml`. The published schema covers only `city.toml`, so this comes
/// from Gas City's pack loader of the fixtures' era (its `PackConfig`, mirrored by `gc init`'s
/// pack writer) and is checked against every `pack.toml` among the fixtures. The legacy
/// `[agents]` spelling of `[agent_defaults]` is left out: Gas City reads it but hides it from
/// its schema.
pub const PACK_TOP_LEVEL: &[&str] = &[
    "agent",
    "agent_defaults",
    "commands",
    "defaults",
    "doctor",
    "formulas",
    "global",
    "imports",
    "named_session",
    "pack",
    "patches",
    "providers",
    "service",
];

/// `[pack]` of a `pack.toml` (Gas City's `PackMeta`).
pub const PACK_META: &[&str] =
    &["description", "includes", "name", "requires", "requires_gc", "schema", "version"];

/// Every `city.toml` table above, by the name of its `$defs` entry in Gas City's schema.
pub const BY_SCHEMA_DEF: &[(&str, &[&str])] = &[
    ("City", CITY),
    ("Workspace", WORKSPACE),
    ("Agent", AGENT),
    ("AgentPatch", AGENT_PATCH),
    ("AgentOverride", AGENT_OVERRIDE),
    ("NamedSession", NAMED_SESSION),
    ("Rig", RIG),
    ("RigPatch", RIG_PATCH),
    ("ProviderSpec", PROVIDER_SPEC),
    ("ProviderPatch", PROVIDER_PATCH),
    ("DaemonConfig", DAEMON_CONFIG),
    ("SessionConfig", SESSION_CONFIG),
    ("K8sConfig", K8S_CONFIG),
    ("ACPSessionConfig", ACP_SESSION_CONFIG),
    ("BeadsConfig", BEADS_CONFIG),
    ("FormulasConfig", FORMULAS_CONFIG),
    ("OrdersConfig", ORDERS_CONFIG),
    ("OrderOverride", ORDER_OVERRIDE),
    ("Import", IMPORT),
    ("Patches", PATCHES),
    ("PackSource", PACK_SOURCE),
    ("SessionSleepConfig", SESSION_SLEEP_CONFIG),
    ("APIConfig", API_CONFIG),
    ("MailConfig", MAIL_CONFIG),
    ("EventsConfig", EVENTS_CONFIG),
    ("DoltConfig", DOLT_CONFIG),
    ("ChatSessionsConfig", CHAT_SESSIONS_CONFIG),
    ("ConvergenceConfig", CONVERGENCE_CONFIG),
    ("AgentDefaults", AGENT_DEFAULTS),
    ("Service", SERVICE),
    ("PoolOverride", POOL_OVERRIDE),
    ("ProviderOption", PROVIDER_OPTION),
    ("OptionChoice", OPTION_CHOICE),
    ("ServiceProcessConfig", SERVICE_PROCESS_CONFIG),
    ("ServicePublicationConfig", SERVICE_PUBLICATION_CONFIG),
    ("ServiceWorkflowConfig", SERVICE_WORKFLOW_CONFIG),
];

/// The nearest allowed key to `key`, for "did you mean …?"; `None` when nothing is close enough
/// to be a likely typo. Case, `_` and `-` are ignored, so a camelCase `readyDelayMs` finds
/// `ready_delay_ms`.
pub fn suggest(key: &str, allowed: &[&'static str]) -> Option<&'static str> {
    let norm = |s: &str| s.to_lowercase().replace(['_', '-'], "");
    let target = norm(key);
    let mut best: Option<(&'static str, usize)> = None;
    for &candidate in allowed {
        let distance = strsim::damerau_levenshtein(&target, &norm(candidate));
        // A third of the longer word keeps `nmae` → `name` but not `port` → `host`.
        let limit = (target.chars().count().max(candidate.chars().count()) / 3).max(1);
        if distance <= limit && best.is_none_or(|(_, d)| distance < d) {
            best = Some((candidate, distance));
        }
    }
    best.map(|(c, _)| c)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn tables_are_the_schema_property_lists() {
        let Some(path) = crate::import::gascity_fixtures()
            .map(|d| d.join("city-schema.json"))
            .filter(|p| p.is_file())
        else {
            println!("skipped: Gas City's city-schema.json not found");
            return;
        };
        let schema: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let defs = schema["$defs"].as_object().unwrap();
        let ours: BTreeSet<&str> = BY_SCHEMA_DEF.iter().map(|(def, _)| *def).collect();
        let theirs: BTreeSet<&str> = defs.keys().map(String::as_str).collect();
        assert_eq!(ours, theirs, "a $defs entry was added or removed: regenerate the tables");
        for (def, table) in BY_SCHEMA_DEF {
            let mut keys: Vec<&str> =
                defs[*def]["properties"].as_object().unwrap().keys().map(String::as_str).collect();
            keys.sort_unstable();
            assert_eq!(*table, keys.as_slice(), "table for {def}");
        }
    }

    #[test]
    fn every_fixture_pack_uses_known_keys() {
        let Some(root) = crate::import::gascity_fixtures() else {
            println!("skipped: Gas City fixtures not found");
            return;
        };
        let mut packs = 0;
        for entry in walkdir::WalkDir::new(&root) {
            let entry = entry.unwrap();
            if entry.file_name() != "pack.toml" {
                continue;
            }
            packs += 1;
            let text = std::fs::read_to_string(entry.path()).unwrap();
            let table: toml::Table = toml::from_str(&text).unwrap();
            for key in table.keys() {
                assert!(
                    PACK_TOP_LEVEL.contains(&key.as_str()),
                    "{}: {key}",
                    entry.path().display()
                );
            }
            for key in table["pack"].as_table().unwrap().keys() {
                assert!(
                    PACK_META.contains(&key.as_str()),
                    "{}: [pack] {key}",
                    entry.path().display()
                );
            }
        }
        assert!(packs > 0, "no pack.toml below {}", root.display());
    }

    #[test]
    fn tables_are_sorted_and_distinct() {
        let all = BY_SCHEMA_DEF.iter().map(|(_, t)| *t).chain([PACK_TOP_LEVEL, PACK_META]);
        for table in all {
            assert!(table.windows(2).all(|w| w[0] < w[1]), "{table:?}");
        }
    }

    #[test]
    fn suggests_near_keys_only() {
        assert_eq!(suggest("isolaton", AGENT), None);
        assert_eq!(suggest("promt_mode", AGENT), Some("prompt_mode"));
        assert_eq!(suggest("readyDelayMs", PROVIDER_SPEC), Some("ready_delay_ms"));
        assert_eq!(suggest("nmae", PACK_META), Some("name"));
        assert_eq!(suggest("zzz", DOLT_CONFIG), None);
    }
}
