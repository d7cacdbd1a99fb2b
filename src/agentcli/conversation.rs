//! Each session's conversation id, kept in `.gc/state/conversations/<session>.json` (mode
//! 0600): chosen by gc at a first start where the CLI takes an id, or recorded by the
//! SessionStart hook where the CLI picks its own.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::api::agent::ConversationPolicy;
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
    /// A first start, or a pool growing.
    Fresh,
    /// Its program exited and it is restarted.
    Crash,
    /// Its launch drifted from its spec and it is restarted.
    Drift,
    /// Work arrived after an idle stop.
    Wake,
    /// A person (or the agent itself, with `gc handoff`) asked for a fresh conversation.
    Requested,
}

impl Cause {
    /// For people: `after a crash`.
    pub fn describe(self) -> &'static str {
        match self {
            Cause::Fresh => "at a first start",
            Cause::Crash => "after a crash",
            Cause::Drift => "after a drift restart",
            Cause::Wake => "after an idle stop",
            Cause::Requested => "as asked",
        }
    }
}

/// What the planner decides for a session's conversation; the executor turns it into a
/// [`Start`] (choosing the new id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Resume this recorded conversation.
    Resume(String),
    /// Start a fresh one.
    Fresh,
}

impl Decision {
    /// The start it means: a fresh conversation is named `new_id` when the Provider says how
    /// to name one (`newArgs`), else the CLI picks.
    pub fn start(&self, spec: Option<&ConversationSpec>, new_id: String) -> Start {
        match self {
            Decision::Resume(id) => Start::Resume(id.clone()),
            Decision::Fresh if spec.is_some_and(|s| !s.new_args.is_empty()) => {
                Start::New(Some(new_id))
            }
            Decision::Fresh => Start::New(None),
        }
    }
}

/// A planned conversation start and why, as actions carry it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Continuation {
    /// Resume or fresh.
    pub decision: Decision,
    /// Why.
    pub why: Why,
}

impl Continuation {
    /// For `gc diff` and events: `, resuming 3f2a… (after a crash)`; empty when there was
    /// nothing to resume.
    pub fn describe(&self) -> String {
        match (&self.decision, &self.why) {
            (_, Why::NothingToResume) => String::new(),
            (Decision::Resume(id), why) => format!(", resuming {id} ({})", why.describe()),
            (Decision::Fresh, why) => format!(", fresh conversation ({})", why.describe()),
        }
    }
}

/// How a session's conversation starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    /// A new conversation; with the id gc chose when the CLI takes one, else the CLI picks.
    New(Option<String>),
    /// The recorded conversation, resumed.
    Resume(String),
}

/// Why a session's conversation starts as it does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// Resumed: the policy resumes on this cause.
    Resumed(Cause),
    /// Fresh: a person or the agent asked for it (`gc handoff`, `gc session reset --fresh`).
    Requested,
    /// Nothing to resume: no conversation recorded, or one of another provider, or a CLI gc
    /// cannot resume.
    NothingToResume,
    /// Fresh on purpose: the Agent's policy starts fresh on this cause.
    Policy(Cause),
    /// Fresh: the conversation is older than the policy's `maxAge`.
    TooOld(std::time::Duration),
    /// Fresh: the last start resumed the conversation and the CLI exited (it could not
    /// honour the resume); trying again would crash-loop.
    ResumeFailed,
}

impl Why {
    /// For people: `after a crash`, `fresh: older than 1d`.
    pub fn describe(&self) -> String {
        match self {
            Why::Resumed(cause) => cause.describe().to_owned(),
            Why::NothingToResume => "nothing to resume".to_owned(),
            Why::Requested => "fresh, as asked".to_owned(),
            Why::Policy(cause) => {
                format!("fresh {} by the agent's conversation policy", cause.describe())
            }
            Why::TooOld(age) => format!(
                "fresh: the conversation is older than its maxAge ({})",
                crate::api::Duration(*age)
            ),
            Why::ResumeFailed => "fresh: resuming it failed last time".to_owned(),
        }
    }
}

/// How `session`'s conversation starts, and why. The recorded conversation is resumed when the
/// Provider can resume and the record is of the same provider, the Agent's `policy` resumes on
/// this `cause`, it is no older than the policy's `maxAge` (`age`, since its first start), and
/// the previous start was not itself a resume that died (`last_start`, the session's
/// `conversation` metadata): a conversation the CLI cannot resume must not crash-loop the
/// session. Otherwise a new one, named by gc when the Provider says how (`new_id`).
pub fn plan(
    spec: Option<&ConversationSpec>,
    policy: &ConversationPolicy,
    provider: &str,
    recorded: Option<(&Conversation, std::time::Duration)>,
    cause: Cause,
    last_start: Option<&str>,
) -> (Decision, Why) {
    let fresh = |why| (Decision::Fresh, why);
    let Some(spec) = spec else { return fresh(Why::NothingToResume) };
    if cause == Cause::Requested {
        return fresh(Why::Requested);
    }
    let resumable =
        recorded.filter(|(c, _)| c.provider == provider && !spec.resume_args.is_empty());
    let Some((conversation, age)) = resumable else { return fresh(Why::NothingToResume) };
    let wanted = match cause {
        Cause::Fresh | Cause::Requested => return fresh(Why::NothingToResume),
        Cause::Crash => policy.resume_on_crash,
        Cause::Drift => policy.resume_on_drift,
        Cause::Wake => policy.resume_on_wake,
    };
    if !wanted {
        return fresh(Why::Policy(cause));
    }
    if let Some(max) = policy.max_age.map(|d| d.get())
        && age > max
    {
        return fresh(Why::TooOld(max));
    }
    if cause == Cause::Crash && last_start.is_some_and(|m| m.starts_with("resume")) {
        return fresh(Why::ResumeFailed);
    }
    (Decision::Resume(conversation.id.clone()), Why::Resumed(cause))
}

/// The recorded conversations of the sessions `wanted` picks, by session (unreadable records
/// are skipped): one directory listing, and only the wanted records read.
pub fn load_where(
    city_dir: &Path,
    wanted: impl Fn(&str) -> bool,
) -> std::collections::BTreeMap<String, Conversation> {
    let dir = city_dir.join(".gc").join("state").join("conversations");
    let Ok(entries) = std::fs::read_dir(&dir) else { return Default::default() };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let session = name.strip_suffix(".json")?.to_owned();
            if !wanted(&session) {
                return None;
            }
            Some((session.clone(), load(city_dir, &session)?))
        })
        .collect()
}

/// How old `conversation` is at `now` (zero when its start cannot be read).
pub fn age(conversation: &Conversation, now: chrono::DateTime<chrono::Utc>) -> std::time::Duration {
    chrono::DateTime::parse_from_rfc3339(&conversation.started)
        .ok()
        .and_then(|started| (now - started.with_timezone(&chrono::Utc)).to_std().ok())
        .unwrap_or_default()
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

    fn plan_for(
        policy: &ConversationPolicy,
        cause: Cause,
        last: Option<&str>,
        age_secs: u64,
    ) -> (Decision, Why) {
        let spec = claude();
        let rec = Conversation { id: "old".into(), provider: "claude".into(), started: now() };
        let age = std::time::Duration::from_secs(age_secs);
        plan(Some(&spec), policy, "claude", Some((&rec, age)), cause, last)
    }

    #[test]
    fn by_default_crashes_and_drift_resume_and_wakes_and_first_starts_do_not() {
        let policy = ConversationPolicy::default();
        let resumed = |cause| (Decision::Resume("old".into()), Why::Resumed(cause));
        assert_eq!(plan_for(&policy, Cause::Crash, Some("new old"), 0), resumed(Cause::Crash));
        assert_eq!(plan_for(&policy, Cause::Drift, None, 0), resumed(Cause::Drift));
        let fresh = Decision::Fresh;
        assert_eq!(plan_for(&policy, Cause::Fresh, None, 0), (fresh.clone(), Why::NothingToResume));
        assert_eq!(
            plan_for(&policy, Cause::Wake, None, 0),
            (fresh.clone(), Why::Policy(Cause::Wake))
        );
        assert_eq!(
            plan_for(&policy, Cause::Crash, Some("resume old"), 0),
            (fresh, Why::ResumeFailed),
            "a resume that died is not tried again"
        );
        let spec = claude();
        assert_eq!(Start::Resume("old".into()).args(Some(&spec)), ["--resume", "old"]);
        assert_eq!(Start::New(Some("n1".into())).args(Some(&spec)), ["--session-id", "n1"]);
    }

    #[test]
    fn the_policy_decides_per_cause_and_by_age() {
        let policy = ConversationPolicy {
            resume_on_crash: false,
            resume_on_drift: true,
            resume_on_wake: true,
            max_age: Some(crate::api::Duration::from_secs(3600)),
        };
        assert_eq!(plan_for(&policy, Cause::Crash, None, 0).1, Why::Policy(Cause::Crash));
        assert_eq!(plan_for(&policy, Cause::Wake, None, 60).1, Why::Resumed(Cause::Wake));
        let (start, why) = plan_for(&policy, Cause::Drift, None, 7200);
        assert_eq!(
            (start, why.clone()),
            (Decision::Fresh, Why::TooOld(std::time::Duration::from_secs(3600)))
        );
        assert_eq!(why.describe(), "fresh: the conversation is older than its maxAge (1h)");
        let (start, why) = plan_for(&ConversationPolicy::default(), Cause::Requested, None, 0);
        assert_eq!((start, why), (Decision::Fresh, Why::Requested));
    }

    #[test]
    fn another_providers_conversation_or_none_starts_new() {
        let spec = claude();
        let policy = ConversationPolicy::default();
        let rec = Conversation { id: "c".into(), provider: "codex".into(), started: now() };
        let zero = std::time::Duration::ZERO;
        let got = plan(Some(&spec), &policy, "claude", Some((&rec, zero)), Cause::Crash, None);
        assert_eq!(got, (Decision::Fresh, Why::NothingToResume));
        assert_eq!(got.0.start(Some(&spec), "n".into()), Start::New(Some("n".into())));
        let codex = ConversationSpec {
            new_args: vec![],
            resume_args: vec!["resume".into(), "{{ conversation_id }}".into()],
        };
        let (got, _) = plan(Some(&codex), &policy, "claude", None, Cause::Crash, None);
        let start = got.start(Some(&codex), "n".into());
        assert_eq!(start, Start::New(None), "the CLI picks its own id");
        assert_eq!(start.args(Some(&codex)), Vec::<String>::new());
        let (got, _) = plan(None, &policy, "x", None, Cause::Crash, None);
        assert_eq!(got.start(None, "n".into()), Start::New(None));
    }

    #[test]
    fn a_conversations_age_comes_from_its_start() {
        let c = Conversation {
            id: "x".into(),
            provider: "p".into(),
            started: "2026-12-04T10:00:00Z".into(),
        };
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-04T12:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(age(&c, now), std::time::Duration::from_secs(7200));
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
