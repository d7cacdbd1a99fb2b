//! Gates: beads of type `gate` that hold other beads (through ordinary `blocks` edges) until
//! something outside happens: a time passes (`timer`), a person says so (`human`), a message
//! gets a reply (`mail`), another bead closes (`bead`), a GitHub Actions run or pull request
//! finishes (`gh:run`, `gh:pr`).
//!
//! What a gate waits for is kept in its metadata (`await_type`, `await_id`, `timeout`,
//! `waiters`), where Gas City's scripts read it; bd's JSON carries the same values as
//! top-level fields, and [`gate_json`] prints them that way too. Deciding whether a gate is
//! open is a pure function of the gate and the facts gathered for it ([`decide`]); gathering
//! the facts (asking the store, running `gh`) is the caller's I/O.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::beads::model::dep_type;
use crate::beads::{Bead, BeadError, BeadStore, BeadUpdate, ListQuery};

/// Bead type of a gate.
pub const GATE_TYPE: &str = "gate";
/// Metadata: what the gate waits for (`timer`, `human`, `mail`, `bead`, `gh:run`, `gh:pr`).
pub const AWAIT_TYPE: &str = "await_type";
/// Metadata: the thing waited on (a message or bead id, a run id or workflow name, a PR).
pub const AWAIT_ID: &str = "await_id";
/// Metadata: how long a timer runs (or when any gate escalates), as `30m`, `2h`.
pub const TIMEOUT: &str = "timeout";
/// Metadata: who is told when the gate opens.
pub const WAITERS: &str = "waiters";
/// Metadata of a `conditional` gate: the condition whoever resolves it judges.
pub const CONDITION: &str = "condition";
/// Metadata set when a gate check escalated it: why.
pub const ESCALATED: &str = "gc.escalated";

/// What a gate check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The condition holds: close the gate with this reason.
    Resolved(String),
    /// Not yet.
    Pending(String),
    /// It will not hold by itself (a failed run, a closed PR): a person must look.
    Escalate(String),
    /// The gate cannot be checked (no timeout on a timer, `gh` missing, bad await id).
    Error(String),
    /// Not a machine-checked gate (`human`, unknown types): left for `bd gate resolve`.
    Skipped,
}

/// Facts gathered for one gate before deciding.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Facts {
    /// Nothing beyond the gate and the time (timer, human).
    #[default]
    None,
    /// The awaited bead's status, or `None` when it is not in the store.
    Bead(Option<String>),
    /// Ids of the replies to the awaited message.
    Replies(Vec<String>),
    /// What `gh … --json` printed, or why it could not be run.
    GitHub(Result<Value, String>),
}

/// The gate's await type (`human` when unset, as bd's `gate create` defaults).
pub fn await_type(gate: &Bead) -> &str {
    gate.meta_str(AWAIT_TYPE).unwrap_or("human")
}

/// The gate's await id, if any.
pub fn await_id(gate: &Bead) -> Option<&str> {
    gate.meta_str(AWAIT_ID).filter(|s| !s.is_empty())
}

/// The gate's timeout, if it has a valid one.
pub fn timeout(gate: &Bead) -> Option<Duration> {
    gate.meta_str(TIMEOUT)?.parse::<crate::api::Duration>().ok().map(|d| d.get())
}

/// Whether `filter` (`bd gate check --type`) selects `gate`: `all`, `gh` for any `gh:*`, or the
/// exact type.
pub fn selected(gate: &Bead, filter: Option<&str>) -> bool {
    let kind = await_type(gate);
    match filter {
        None | Some("all") => true,
        Some("gh") => kind.starts_with("gh:"),
        Some(exact) => kind == exact,
    }
}

/// Whether the gate is open now, from the gate, the time and the facts gathered for it.
pub fn decide(gate: &Bead, now: DateTime<Utc>, facts: &Facts) -> Verdict {
    match await_type(gate) {
        "timer" => timer(gate, now),
        "bead" => match (await_id(gate), facts) {
            (None, _) => {
                Verdict::Error("a bead gate needs an await id (the bead waited on)".into())
            }
            (Some(id), Facts::Bead(Some(status))) if status == "closed" => {
                Verdict::Resolved(format!("bead {id} closed"))
            }
            (Some(id), Facts::Bead(Some(status))) => {
                Verdict::Pending(format!("bead {id} is {status}"))
            }
            (Some(id), _) => Verdict::Pending(format!("bead {id} is not in this store")),
        },
        "mail" => match (await_id(gate), facts) {
            (None, _) => Verdict::Error("a mail gate needs an await id (the message)".into()),
            (Some(id), Facts::Replies(replies)) if !replies.is_empty() => {
                Verdict::Resolved(format!("message {id} answered by {}", replies.join(", ")))
            }
            (Some(id), _) => Verdict::Pending(format!("no reply to {id} yet")),
        },
        "gh:run" => match facts {
            Facts::GitHub(Ok(run)) => github_run(run),
            Facts::GitHub(Err(why)) => Verdict::Error(why.clone()),
            _ => Verdict::Error("the run was not looked up".into()),
        },
        "gh:pr" => match facts {
            Facts::GitHub(Ok(pr)) => github_pr(pr),
            Facts::GitHub(Err(why)) => Verdict::Error(why.clone()),
            _ => Verdict::Error("the pull request was not looked up".into()),
        },
        _ => Verdict::Skipped,
    }
}

fn timer(gate: &Bead, now: DateTime<Utc>) -> Verdict {
    let Some(length) = timeout(gate) else {
        return Verdict::Error("a timer gate needs a timeout (30m, 2h)".into());
    };
    let Some(start) = DateTime::parse_from_rfc3339(&gate.created_at).ok().map(|t| t.to_utc())
    else {
        return Verdict::Error(format!("unreadable creation time `{}`", gate.created_at));
    };
    let end = start + chrono::Duration::from_std(length).unwrap_or(chrono::Duration::MAX);
    if now >= end {
        Verdict::Resolved(format!(
            "timer expired {} ago",
            short((now - end).to_std().unwrap_or_default())
        ))
    } else {
        Verdict::Pending(format!("expires in {}", short((end - now).to_std().unwrap_or_default())))
    }
}

/// `gh run view --json status,conclusion,name`: success or skipped opens the gate; a failed,
/// cancelled or timed-out run needs a person.
fn github_run(run: &Value) -> Verdict {
    let name = run["name"].as_str().unwrap_or("run");
    match (run["status"].as_str(), run["conclusion"].as_str()) {
        (Some("completed"), Some(c @ ("success" | "skipped" | "neutral"))) => {
            Verdict::Resolved(format!("{name}: {c}"))
        }
        (Some("completed"), conclusion) => {
            Verdict::Escalate(format!("{name}: {}", conclusion.unwrap_or("no conclusion")))
        }
        (Some(status), _) => Verdict::Pending(format!("{name}: {status}")),
        (None, _) => Verdict::Error("gh printed no run status".into()),
    }
}

/// `gh pr view --json state,title`: merged opens the gate; closed unmerged needs a person.
fn github_pr(pr: &Value) -> Verdict {
    let title = pr["title"].as_str().unwrap_or("pull request");
    match pr["state"].as_str() {
        Some("MERGED") => Verdict::Resolved(format!("{title}: merged")),
        Some("CLOSED") => Verdict::Escalate(format!("{title}: closed without merging")),
        Some(state) => Verdict::Pending(format!("{title}: {}", state.to_lowercase())),
        None => Verdict::Error("gh printed no pull request state".into()),
    }
}

/// `1h5m`, `42s`: a duration as people read it.
fn short(d: Duration) -> String {
    let secs = d.as_secs();
    match (secs / 3600, secs % 3600 / 60, secs % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}

/// The `gh` command that looks up a gate's run or pull request, or `None` for other gates.
pub fn github_query(gate: &Bead) -> Option<Vec<String>> {
    let id = await_id(gate)?.to_owned();
    match await_type(gate) {
        "gh:run" => Some(vec![
            "run".into(),
            "view".into(),
            id,
            "--json".into(),
            "status,conclusion,name".into(),
        ]),
        "gh:pr" => {
            Some(vec!["pr".into(), "view".into(), id, "--json".into(), "state,title".into()])
        }
        _ => None,
    }
}

/// A gate as bd prints it: the bead, plus `await_type`, `await_id`, `timeout` (nanoseconds, as
/// Go prints a duration) and `waiters` at the top level.
pub fn gate_json(gate: &Bead, mut bead: Value) -> Value {
    if let Some(object) = bead.as_object_mut() {
        object.insert(AWAIT_TYPE.into(), json!(await_type(gate)));
        if let Some(id) = await_id(gate) {
            object.insert(AWAIT_ID.into(), json!(id));
        }
        if let Some(t) = timeout(gate) {
            object.insert(TIMEOUT.into(), json!(t.as_nanos() as u64));
        }
        if let Some(waiters) =
            gate.metadata.get(WAITERS).filter(|w| w.as_array().is_some_and(|a| !a.is_empty()))
        {
            object.insert(WAITERS.into(), waiters.clone());
        }
    }
    bead
}

/// The metadata of a new gate.
pub fn metadata(kind: &str, id: Option<&str>, timeout: Option<&str>) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert(AWAIT_TYPE.into(), json!(kind));
    if let Some(id) = id.filter(|s| !s.is_empty()) {
        out.insert(AWAIT_ID.into(), json!(id));
    }
    if let Some(t) = timeout.filter(|s| !s.is_empty()) {
        out.insert(TIMEOUT.into(), json!(t));
    }
    out
}

/// How long `gh` may take to answer for one gate.
const GH_TIMEOUT: Duration = Duration::from_secs(30);

/// One gate checked by [`check`]: the gate and what was found.
#[derive(Clone, Debug)]
pub struct Checked {
    /// The gate as it was before the check.
    pub gate: Bead,
    /// What was found (and done: a resolved gate was closed unless it was a dry run).
    pub verdict: Verdict,
}

/// How [`check`] runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct CheckOptions<'a> {
    /// Only gates of this type (see [`selected`]).
    pub kind: Option<&'a str>,
    /// Find out, change nothing.
    pub dry_run: bool,
    /// Hand gates that will not open by themselves to a person (label `human`).
    pub escalate: bool,
    /// Leave gh:run and gh:pr gates alone (the controller does when `gh` is not installed).
    pub skip_github: bool,
    /// At most this many gates.
    pub limit: usize,
}

/// Checks the open gates of `store`: closes those whose condition holds, escalates (with
/// `escalate`) those that will not open by themselves. `human`, `conditional` and unknown gates
/// are left out.
pub fn check(
    store: &dyn BeadStore,
    options: CheckOptions<'_>,
    actor: &str,
) -> Result<Vec<Checked>, BeadError> {
    let now = Utc::now();
    let query = ListQuery { issue_type: Some(GATE_TYPE.into()), ..ListQuery::default() };
    let mut out = Vec::new();
    let gates = store.list(&query)?.into_iter().filter(|g| selected(g, options.kind));
    for gate in gates.take(if options.limit == 0 { usize::MAX } else { options.limit }) {
        if options.skip_github && await_type(&gate).starts_with("gh:") {
            continue;
        }
        let verdict = decide(&gate, now, &facts(store, &gate));
        if !options.dry_run {
            match &verdict {
                Verdict::Resolved(why) => {
                    store.close(&gate.id, Some(why), actor)?;
                }
                // Once is enough: a gate already handed to a person is not written again.
                Verdict::Escalate(why)
                    if options.escalate && gate.meta_str(ESCALATED).is_none() =>
                {
                    let mut values = Map::new();
                    values.insert(ESCALATED.into(), json!(why));
                    let change = BeadUpdate {
                        add_labels: vec![HUMAN_LABEL.into()],
                        set_metadata: values,
                        ..BeadUpdate::default()
                    };
                    store.update(&gate.id, &change, actor)?;
                }
                _ => {}
            }
        }
        if verdict != Verdict::Skipped {
            out.push(Checked { gate, verdict });
        }
    }
    Ok(out)
}

/// The label of issues that need a person (`bd human list`).
pub const HUMAN_LABEL: &str = "human";

/// What is known about the thing a gate waits on.
fn facts(store: &dyn BeadStore, gate: &Bead) -> Facts {
    let Some(id) = await_id(gate) else { return Facts::None };
    match await_type(gate) {
        "bead" => Facts::Bead(store.get(id).ok().map(|b| b.status)),
        "mail" => Facts::Replies(
            store
                .dep_list(id)
                .unwrap_or_default()
                .into_iter()
                .filter(|d| d.dep_type == dep_type::REPLIES_TO && d.depends_on_id == id)
                .map(|d| d.issue_id)
                .collect(),
        ),
        _ => match github_query(gate) {
            Some(args) => Facts::GitHub(ask_github(&args)),
            None => Facts::None,
        },
    }
}

/// Whether the GitHub CLI can be run.
pub fn github_available() -> bool {
    let mut command = std::process::Command::new("gh");
    command.arg("--version");
    crate::beads::process::run(command, b"", GH_TIMEOUT).is_ok_and(|done| done.code == Some(0))
}

/// Runs `gh ARGS` and parses its JSON.
fn ask_github(args: &[String]) -> Result<Value, String> {
    use crate::beads::process::{RunError, run};
    let mut command = std::process::Command::new("gh");
    command.args(args);
    match run(command, b"", GH_TIMEOUT) {
        Err(RunError::Spawn(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            Err("gh is not installed: gh:run and gh:pr gates are checked with the GitHub CLI \
             (https://cli.github.com), logged in with `gh auth login`"
                .into())
        }
        Err(e) => Err(format!("gh: {e}")),
        Ok(done) if done.code != Some(0) => {
            Err(format!("gh {}: {}", args[..2].join(" "), done.stderr_text()))
        }
        Ok(done) => {
            serde_json::from_slice(&done.stdout).map_err(|e| format!("gh printed no JSON: {e}"))
        }
    }
}

/// A gate's title, as bd writes it: `Gate: timer`, `Gate: gh:run 12345`.
pub fn title(kind: &str, id: Option<&str>) -> String {
    match id.filter(|s| !s.is_empty()) {
        Some(id) => format!("Gate: {kind} {id}"),
        None => format!("Gate: {kind}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(kind: &str, id: Option<&str>, timeout: Option<&str>) -> Bead {
        Bead {
            id: "gc-g".into(),
            issue_type: GATE_TYPE.into(),
            status: "open".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            metadata: metadata(kind, id, timeout),
            ..Bead::default()
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn a_timer_opens_when_its_time_has_passed() {
        let g = gate("timer", None, Some("2h"));
        assert_eq!(
            decide(&g, at("2026-01-01T01:30:00Z"), &Facts::None),
            Verdict::Pending("expires in 30m0s".into())
        );
        assert_eq!(
            decide(&g, at("2026-01-01T02:00:05Z"), &Facts::None),
            Verdict::Resolved("timer expired 5s ago".into())
        );
        assert!(matches!(
            decide(&gate("timer", None, None), at("2027-01-01T00:00:00Z"), &Facts::None),
            Verdict::Error(_)
        ));
    }

    #[test]
    fn human_gates_are_left_for_a_person() {
        assert_eq!(
            decide(&gate("human", None, None), at("2030-01-01T00:00:00Z"), &Facts::None),
            Verdict::Skipped
        );
        let mut unset = gate("human", None, None);
        unset.metadata.clear();
        assert_eq!(await_type(&unset), "human");
    }

    #[test]
    fn bead_and_mail_gates_follow_what_they_wait_on() {
        let now = at("2026-01-01T00:00:00Z");
        let b = gate("bead", Some("gc-7"), None);
        assert_eq!(
            decide(&b, now, &Facts::Bead(Some("closed".into()))),
            Verdict::Resolved("bead gc-7 closed".into())
        );
        assert!(matches!(decide(&b, now, &Facts::Bead(Some("open".into()))), Verdict::Pending(_)));
        assert!(matches!(decide(&b, now, &Facts::Bead(None)), Verdict::Pending(_)));
        let m = gate("mail", Some("gc-m"), None);
        assert!(matches!(decide(&m, now, &Facts::Replies(vec![])), Verdict::Pending(_)));
        assert_eq!(
            decide(&m, now, &Facts::Replies(vec!["gc-r".into()])),
            Verdict::Resolved("message gc-m answered by gc-r".into())
        );
    }

    #[test]
    fn github_runs_and_pull_requests_open_escalate_or_wait() {
        let now = at("2026-01-01T00:00:00Z");
        let run = gate("gh:run", Some("42"), None);
        let seen = |v: Value| decide(&run, now, &Facts::GitHub(Ok(v)));
        assert!(matches!(
            seen(json!({"status":"completed","conclusion":"success","name":"ci"})),
            Verdict::Resolved(_)
        ));
        assert!(matches!(
            seen(json!({"status":"completed","conclusion":"failure","name":"ci"})),
            Verdict::Escalate(_)
        ));
        assert!(matches!(seen(json!({"status":"in_progress","name":"ci"})), Verdict::Pending(_)));
        let missing = decide(&run, now, &Facts::GitHub(Err("gh is not installed".into())));
        assert_eq!(missing, Verdict::Error("gh is not installed".into()));
        let pr = gate("gh:pr", Some("7"), None);
        let seen = |v: Value| decide(&pr, now, &Facts::GitHub(Ok(v)));
        assert!(matches!(seen(json!({"state":"MERGED"})), Verdict::Resolved(_)));
        assert!(matches!(seen(json!({"state":"CLOSED"})), Verdict::Escalate(_)));
        assert!(matches!(seen(json!({"state":"OPEN"})), Verdict::Pending(_)));
        assert_eq!(github_query(&pr).unwrap()[..3], ["pr", "view", "7"]);
    }

    #[test]
    fn the_type_filter_matches_as_bd_s_does() {
        let run = gate("gh:run", Some("1"), None);
        assert!(
            selected(&run, Some("gh")) && selected(&run, Some("gh:run")) && selected(&run, None)
        );
        assert!(!selected(&run, Some("timer")) && !selected(&run, Some("gh:pr")));
    }

    #[test]
    fn bd_json_carries_the_await_fields_at_the_top_level() {
        let g = gate("timer", None, Some("1h"));
        let out = gate_json(&g, json!({"id": "gc-g"}));
        assert_eq!(out["await_type"], "timer");
        assert_eq!(out["timeout"], 3_600_000_000_000u64);
        assert!(out.get("await_id").is_none());
    }
}
