//! The directory gc owns for a CLI's state, one per session (`.gc/homes/<session>/`): the
//! user's login linked in, settings seeded so no dialog asks what gc knows (trust, onboarding,
//! key approval), and gc's hooks file. The user's home and the rig's files are never touched.
//! Rendering and merging are pure; [`prepare`] writes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::api::provider::{HomeSpec, HooksSpec, SeedFile, SeedFormat};

/// What seed templates can name.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SeedContext {
    /// The session's work directory (absolute).
    pub work_dir: String,
    /// The directory gc owns for this session (absolute).
    pub home: String,
    /// The user's home (`HOME` of the session).
    pub user_home: String,
    /// The session's name.
    pub session: String,
    /// The agent's name.
    pub agent: String,
    /// The session's whole environment.
    pub env: BTreeMap<String, String>,
}

/// Why the home directory could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    /// A template in a seed does not render.
    #[error("seed {file}: {message}")]
    Template {
        /// The seed file.
        file: String,
        /// minijinja's message.
        message: String,
    },
    /// A file could not be read, parsed or written.
    #[error("{what}: {message}")]
    File {
        /// What was being done.
        what: String,
        /// Why it failed.
        message: String,
    },
}

/// The per-session directory of `session` in the city `city_dir`.
pub fn home_dir(city_dir: &Path, session: &str) -> PathBuf {
    city_dir.join(".gc").join("homes").join(session)
}

/// Renders every string of `value` (keys included) as a template over `ctx`; strings that
/// render empty are dropped from arrays and objects.
pub fn render(value: &Value, ctx: &SeedContext) -> Result<Value, String> {
    let mut env = minijinja::Environment::new();
    env.add_filter("tail", tail);
    render_with(&env, value, ctx)
}

/// The `tail(n)` filter: the last `n` characters of a string; an unset value is empty.
fn tail(value: Option<String>, n: usize) -> String {
    let value = value.unwrap_or_default();
    let skip = value.chars().count().saturating_sub(n);
    value.chars().skip(skip).collect()
}

fn render_with(
    env: &minijinja::Environment<'_>,
    value: &Value,
    ctx: &SeedContext,
) -> Result<Value, String> {
    let text = |s: &str| -> Result<String, String> {
        if !s.contains("{{") && !s.contains("{%") {
            return Ok(s.to_owned());
        }
        env.render_str(s, minijinja::value::Serde(ctx)).map_err(|e| e.to_string())
    };
    Ok(match value {
        Value::String(s) => Value::String(text(s)?),
        Value::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                let item = render_with(env, item, ctx)?;
                if item.as_str() != Some("") {
                    out.push(item);
                }
            }
            Value::Array(out)
        }
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, item) in map {
                let key = text(key)?;
                let item = render_with(env, item, ctx)?;
                if !key.is_empty() && item.as_str() != Some("") {
                    out.insert(key, item);
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// Merges `patch` into `base`: objects key by key, arrays gain the items they lack, anything
/// else is replaced.
pub fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (key, value) in patch {
                match base.get_mut(key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (Value::Array(base), Value::Array(patch)) => {
            for item in patch {
                if !base.contains(item) {
                    base.push(item.clone());
                }
            }
        }
        (base, patch) => *base = patch.clone(),
    }
}

/// The hooks file for `hooks`: its `settings`, and under `hooks` one command per event gc
/// installs, each running `gc` (at `gc`, quoted for the shell the CLI runs hooks with).
pub fn hooks_file(hooks: &HooksSpec, gc: &Path) -> Value {
    let gc = shlex::try_quote(&gc.to_string_lossy()).map(|q| q.into_owned()).unwrap_or_default();
    let format = match hooks.format {
        crate::api::provider::HookFormat::Claude => "claude",
        crate::api::provider::HookFormat::Gemini => "gemini",
    };
    let mut events = Map::new();
    let mut add = |event: &Option<String>, command: String| {
        if let Some(event) = event {
            let entry = serde_json::json!([{
                "matcher": "",
                "hooks": [{"type": "command", "command": command}],
            }]);
            events.insert(event.clone(), entry);
        }
    };
    add(&hooks.events.session_start, format!("{gc} prime --hook --format {format}"));
    add(&hooks.events.stop, format!("{gc} hook --stop --format {format}"));
    add(&hooks.events.prompt_submit, format!("{gc} hook --prompt-submit --format {format}"));
    add(&hooks.events.pre_compact, format!("{gc} handoff --compaction"));
    let mut file = Value::Object(hooks.settings.clone());
    file["hooks"] = Value::Object(events);
    file
}

/// Prepares `home` for a session: creates it (mode 0700), links the user's files, merges the
/// seeds (rendered over `ctx`), then writes the hooks file (`hooks`: its path relative to
/// `home` and its content; its `hooks` key is replaced, other keys merged).
pub fn prepare(
    home: &Path,
    spec: &HomeSpec,
    hooks: Option<(&str, &Value)>,
    ctx: &SeedContext,
) -> Result<(), HomeError> {
    create_private_dir(home)?;
    for link in &spec.link {
        let from = match link.from.strip_prefix("~/") {
            Some(rest) => Path::new(&ctx.user_home).join(rest),
            None => PathBuf::from(&link.from),
        };
        link_into(home, &from, &link.to)?;
    }
    for seed in &spec.seed {
        if seed.if_env.as_ref().is_some_and(|name| !ctx.env.contains_key(name)) {
            continue;
        }
        let patch = render(&seed.merge, ctx)
            .map_err(|message| HomeError::Template { file: seed.file.clone(), message })?;
        update(home, seed, |value| merge(value, &patch))?;
    }
    if let Some((file, content)) = hooks {
        let seed = SeedFile { file: file.to_owned(), ..SeedFile::default() };
        update(home, &seed, |value| {
            if let Value::Object(map) = value {
                map.remove("hooks");
            }
            merge(value, content);
        })?;
    }
    Ok(())
}

fn file_error(what: String) -> impl FnOnce(String) -> HomeError {
    move |message| HomeError::File { what, message }
}

pub(crate) fn create_private_dir(dir: &Path) -> Result<(), HomeError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| file_error(format!("creating {}", dir.display()))(e.to_string()))
}

/// Links `from` at `home/to` when `from` exists; a file the CLI wrote there itself is kept.
pub(crate) fn link_into(home: &Path, from: &Path, to: &str) -> Result<(), HomeError> {
    let at = home.join(to);
    let what = || format!("linking {} to {}", at.display(), from.display());
    match std::fs::symlink_metadata(&at) {
        Ok(meta) if !meta.file_type().is_symlink() => return Ok(()),
        Ok(_) if std::fs::read_link(&at).ok().as_deref() == Some(from) => return Ok(()),
        Ok(_) => std::fs::remove_file(&at).map_err(|e| file_error(what())(e.to_string()))?,
        Err(_) => {}
    }
    if !from.exists() {
        return Ok(());
    }
    if let Some(parent) = at.parent() {
        create_private_dir(parent)?;
    }
    std::os::unix::fs::symlink(from, &at).map_err(|e| file_error(what())(e.to_string()))
}

/// Reads `home/seed.file` (missing or empty: an empty object), changes it, writes it back
/// atomically with mode 0600 when it changed.
pub(crate) fn update(
    home: &Path,
    seed: &SeedFile,
    change: impl FnOnce(&mut Value),
) -> Result<(), HomeError> {
    let path = home.join(&seed.file);
    let shown = path.display().to_string();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(file_error(format!("reading {shown}"))(e.to_string())),
    };
    let mut value = parse(&text, seed.format)
        .map_err(|e| file_error(format!("reading {shown} as {:?}", seed.format))(e))?;
    let before = value.clone();
    change(&mut value);
    if value == before && !text.is_empty() {
        return Ok(());
    }
    let out = print(&value, seed.format).map_err(file_error(format!("writing {shown}")))?;
    if let Some(parent) = path.parent() {
        create_private_dir(parent)?;
    }
    crate::runtime::launch::write_private(&path, out.as_bytes())
        .map_err(|e| file_error(format!("writing {shown}"))(e.to_string()))
}

fn parse(text: &str, format: SeedFormat) -> Result<Value, String> {
    if text.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    match format {
        SeedFormat::Json => serde_json::from_str(text).map_err(|e| e.to_string()),
        SeedFormat::Toml => {
            let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
            serde_json::to_value(table).map_err(|e| e.to_string())
        }
    }
}

fn print(value: &Value, format: SeedFormat) -> Result<String, String> {
    match format {
        SeedFormat::Json => serde_json::to_string_pretty(value).map_err(|e| e.to_string()),
        SeedFormat::Toml => toml::to_string(value).map_err(|e| e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::api::provider::{HomeLink, HookEvents};

    fn ctx() -> SeedContext {
        SeedContext {
            work_dir: "/city/rigs/demo".into(),
            home: "/city/.gc/homes/s".into(),
            user_home: "/home/u".into(),
            session: "gc-town-worker-1".into(),
            agent: "worker".into(),
            env: BTreeMap::from([(
                "ANTHROPIC_API_KEY".into(),
                "sk-ant-api03-abcdefghijklmnopqrstuvwxyz".into(),
            )]),
        }
    }

    #[test]
    fn seeds_render_paths_into_keys_and_take_a_keys_tail() {
        let merge = json!({
            "hasCompletedOnboarding": true,
            "projects": {"{{ work_dir }}": {"hasTrustDialogAccepted": true}},
            "customApiKeyResponses": {"approved": ["{{ env.ANTHROPIC_API_KEY | tail(20) }}"]},
        });
        let out = render(&merge, &ctx()).unwrap();
        assert_eq!(out["projects"]["/city/rigs/demo"]["hasTrustDialogAccepted"], true);
        assert_eq!(out["customApiKeyResponses"]["approved"][0], "ghijklmnopqrstuvwxyz");
        let mut no_key = ctx();
        no_key.env.clear();
        let out = render(&merge, &no_key).unwrap();
        assert_eq!(
            out["customApiKeyResponses"]["approved"],
            json!([]),
            "an unset key adds nothing"
        );
    }

    #[test]
    fn merging_keeps_what_the_cli_wrote() {
        let mut file = json!({"numStartups": 7, "projects": {"/a": {"x": 1}}, "list": [1, 2]});
        merge(&mut file, &json!({"projects": {"/b": {"y": 2}}, "list": [2, 3], "numStartups": 8}));
        assert_eq!(
            file,
            json!({"numStartups": 8, "projects": {"/a": {"x": 1}, "/b": {"y": 2}}, "list": [1, 2, 3]})
        );
    }

    #[test]
    fn hooks_run_gc_in_the_clis_shape() {
        let hooks = HooksSpec {
            file: "gc-settings.json".into(),
            events: HookEvents {
                session_start: Some("SessionStart".into()),
                stop: Some("Stop".into()),
                prompt_submit: Some("UserPromptSubmit".into()),
                pre_compact: Some("PreCompact".into()),
            },
            settings: json!({"skipDangerousModePermissionPrompt": true})
                .as_object()
                .unwrap()
                .clone(),
            ..HooksSpec::default()
        };
        let file = hooks_file(&hooks, Path::new("/my city/.gc/bin/gc"));
        assert_eq!(file["skipDangerousModePermissionPrompt"], true);
        assert_eq!(
            file["hooks"]["UserPromptSubmit"][0]["hooks"][0]["command"],
            "'/my city/.gc/bin/gc' hook --prompt-submit --format claude"
        );
        assert_eq!(
            file["hooks"]["SessionStart"][0]["hooks"][0]["command"],
            "'/my city/.gc/bin/gc' prime --hook --format claude"
        );
        assert_eq!(
            file["hooks"]["PreCompact"][0]["hooks"][0]["command"],
            "'/my city/.gc/bin/gc' handoff --compaction"
        );
        assert_eq!(
            file["hooks"]["Stop"][0]["hooks"][0]["command"],
            "'/my city/.gc/bin/gc' hook --stop --format claude"
        );
        assert_eq!(file["hooks"]["SessionStart"][0]["matcher"], "");
    }

    #[test]
    fn prepare_links_seeds_and_writes_hooks_without_losing_cli_state() {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("user");
        std::fs::create_dir_all(user.join(".claude")).unwrap();
        std::fs::write(user.join(".claude/.credentials.json"), "{}").unwrap();
        let home = dir.path().join("homes/s");
        let spec = HomeSpec {
            env: "CLAUDE_CONFIG_DIR".into(),
            link: vec![
                HomeLink {
                    from: "~/.claude/.credentials.json".into(),
                    to: ".credentials.json".into(),
                },
                HomeLink { from: "~/.claude/missing.json".into(), to: "missing.json".into() },
            ],
            seed: vec![
                SeedFile {
                    file: ".claude.json".into(),
                    merge: json!({"projects": {"{{ work_dir }}": {"hasTrustDialogAccepted": true}}}),
                    ..SeedFile::default()
                },
                SeedFile {
                    file: "config.toml".into(),
                    format: SeedFormat::Toml,
                    if_env: Some("OPENAI_API_KEY".into()),
                    merge: json!({"x": 1}),
                },
                SeedFile {
                    file: "trust.toml".into(),
                    format: SeedFormat::Toml,
                    merge: json!({"projects": {"{{ work_dir }}": {"trust_level": "trusted"}}}),
                    ..SeedFile::default()
                },
            ],
            ..HomeSpec::default()
        };
        let mut ctx = ctx();
        ctx.user_home = user.to_string_lossy().into();
        let hooks = json!({"hooks": {"Stop": []}, "skip": true});
        prepare(&home, &spec, Some(("gc-settings.json", &hooks)), &ctx).unwrap();
        assert!(home.join(".credentials.json").is_symlink());
        assert!(!home.join("missing.json").exists());
        assert!(!home.join("config.toml").exists(), "if_env unset: not seeded");
        let trust = std::fs::read_to_string(home.join("trust.toml")).unwrap();
        assert!(trust.contains("[projects.\"/city/rigs/demo\"]"), "{trust}");
        assert!(trust.contains("trust_level = \"trusted\""), "{trust}");
        // The CLI adds its own state; a later start keeps it and adds a new work dir.
        std::fs::write(home.join(".claude.json"), r#"{"numStartups": 3, "projects": {}}"#).unwrap();
        ctx.work_dir = "/city/rigs/other".into();
        prepare(&home, &spec, Some(("gc-settings.json", &hooks)), &ctx).unwrap();
        let state: Value =
            serde_json::from_str(&std::fs::read_to_string(home.join(".claude.json")).unwrap())
                .unwrap();
        assert_eq!(state["numStartups"], 3);
        assert_eq!(state["projects"]["/city/rigs/other"]["hasTrustDialogAccepted"], true);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.join(".claude.json")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::metadata(&home).unwrap().permissions().mode() & 0o777, 0o700);
    }
}
