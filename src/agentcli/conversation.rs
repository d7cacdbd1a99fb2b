//! Each session's conversation id, kept in `.gc/state/conversations/<session>.json` (mode
//! 0600): chosen by gc at a first start where the CLI takes an id, or recorded by the
//! SessionStart hook where the CLI picks its own.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::api::provider::ConversationSpec;

/// A session's conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    /// The CLI's id for it.
    pub id: String,
    /// The provider whose CLI holds it (another CLI cannot resume it).
    pub provider: String,
    /// When it was started or recorded (RFC 3339).
    pub started: String,
}

/// Where `session`'s conversation is kept.
pub fn path(city_dir: &Path, session: &str) -> PathBuf {
    city_dir.join(".gc").join("state").join("conversations").join(format!("{session}.json"))
}

/// `session`'s conversation, if one is recorded (an unreadable record is none).
pub fn load(city_dir: &Path, session: &str) -> Option<Conversation> {
    let text = std::fs::read(path(city_dir, session)).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Records `conversation` as `session`'s.
pub fn save(
    city_dir: &Path,
    session: &str,
    conversation: &Conversation,
) -> Result<(), crate::runtime::RuntimeError> {
    let path = path(city_dir, session);
    if let Some(dir) = path.parent() {
        crate::runtime::launch::create_state_dir(dir)?;
    }
    let json = serde_json::to_vec_pretty(conversation).unwrap_or_default();
    crate::runtime::launch::write_private(&path, &json)
}

/// Why a session starts, as far as its conversation goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// A first start, a pool growing, work arriving after an idle stop.
    Fresh,
    /// Its program exited and it is restarted.
    Crash,
    /// Its launch drifted from its spec and it is restarted.
    Drift,
}

/// How a session's conversation starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    /// A new conversation; with the id gc chose when the CLI takes one, else the CLI picks.
    New(Option<String>),
    /// The recorded conversation, resumed.
    Resume(String),
}

/// How `session`'s conversation starts: after a crash or a drift the recorded one is resumed
/// (when the Provider can resume and the record is of the same provider), unless the
/// previous start was itself a resume that died (`last_start`, the session's `conversation`
/// metadata): a conversation the CLI cannot resume must not crash-loop the session. Otherwise
/// a new one, named by gc when the Provider says how (`new_id` is the id to use).
pub fn plan(
    spec: Option<&ConversationSpec>,
    provider: &str,
    recorded: Option<&Conversation>,
    cause: Cause,
    last_start: Option<&str>,
    new_id: String,
) -> Start {
    let Some(spec) = spec else { return Start::New(None) };
    let resumable = recorded.filter(|c| c.provider == provider && !spec.resume_args.is_empty());
    let failed_resume =
        cause == Cause::Crash && last_start.is_some_and(|m| m.starts_with("resume"));
    match resumable {
        Some(c) if cause != Cause::Fresh && !failed_resume => Start::Resume(c.id.clone()),
        _ if spec.new_args.is_empty() => Start::New(None),
        _ => Start::New(Some(new_id)),
    }
}

impl Start {
    /// The arguments that start it, from the Provider's `newArgs`/`resumeArgs`.
    pub fn args(&self, spec: Option<&ConversationSpec>) -> Vec<String> {
        let Some(spec) = spec else { return Vec::new() };
        let (args, id) = match self {
            Start::New(Some(id)) => (&spec.new_args, id),
            Start::New(None) => return Vec::new(),
            Start::Resume(id) => (&spec.resume_args, id),
        };
        crate::controllers::launch::fill(args, "conversation_id", id)
    }

    /// The session metadata recording it: `new <id>`, `new`, `resume <id>`.
    pub fn meta(&self) -> String {
        match self {
            Start::New(Some(id)) => format!("new {id}"),
            Start::New(None) => "new".to_owned(),
            Start::Resume(id) => format!("resume {id}"),
        }
    }
}

/// Now, as recorded in [`Conversation::started`].
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claude() -> ConversationSpec {
        ConversationSpec {
            new_args: vec!["--session-id".into(), "{{ conversation_id }}".into()],
            resume_args: vec!["--resume".into(), "{{ conversation_id }}".into()],
        }
    }

    #[test]
    fn crashes_and_drift_resume_fresh_starts_do_not() {
        let spec = claude();
        let rec = Conversation { id: "old".into(), provider: "claude".into(), started: now() };
        let plan = |cause, last| plan(Some(&spec), "claude", Some(&rec), cause, last, "new".into());
        assert_eq!(plan(Cause::Crash, Some("new old")), Start::Resume("old".into()));
        assert_eq!(plan(Cause::Drift, None), Start::Resume("old".into()));
        assert_eq!(plan(Cause::Fresh, None), Start::New(Some("new".into())));
        assert_eq!(
            plan(Cause::Crash, Some("resume old")),
            Start::New(Some("new".into())),
            "a resume that died is not tried again"
        );
        assert_eq!(plan(Cause::Crash, None).args(Some(&spec)), ["--resume", "old"]);
        assert_eq!(Start::New(Some("n1".into())).args(Some(&spec)), ["--session-id", "n1"]);
    }

    #[test]
    fn another_providers_conversation_or_none_starts_new() {
        let spec = claude();
        let rec = Conversation { id: "c".into(), provider: "codex".into(), started: now() };
        let got = plan(Some(&spec), "claude", Some(&rec), Cause::Crash, None, "n".into());
        assert_eq!(got, Start::New(Some("n".into())));
        let codex = ConversationSpec {
            new_args: vec![],
            resume_args: vec!["resume".into(), "{{ conversation_id }}".into()],
        };
        let got = plan(Some(&codex), "claude", None, Cause::Crash, None, "n".into());
        assert_eq!(got, Start::New(None), "the CLI picks its own id");
        assert_eq!(got.args(Some(&codex)), Vec::<String>::new());
        assert_eq!(plan(None, "x", None, Cause::Crash, None, "n".into()), Start::New(None));
    }

    #[test]
    fn a_conversation_is_kept_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path(), "gc-t-a"), None);
        let c = Conversation { id: "3f2a".into(), provider: "codex".into(), started: now() };
        save(dir.path(), "gc-t-a", &c).unwrap();
        assert_eq!(load(dir.path(), "gc-t-a"), Some(c));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path(dir.path(), "gc-t-a")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
