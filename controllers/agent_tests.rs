//! Planner tests: plain values in, actions and status out, on a fixed clock.

use std::path::PathBuf;

use super::*;
use crate::api::provider::PromptMode;
use crate::controllers::crash_ledger::CrashRecord;
use crate::controllers::launch::{encode_fields, launch_fields};
use crate::runtime::Readiness;

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(100_000)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn launch(session: &str, env: &[(&str, &str)]) -> Launch {
    let mut launch = Launch {
        agent: "worker".into(),
        provider: "cli".into(),
        session: session.into(),
        index: 0,
        work_dir: PathBuf::from("/city"),
        worktree: None,
        program: vec!["agent-cli".into()],
        prompt: None,
        prompt_mode: PromptMode::Arg,
        prompt_flag: None,
        env: env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        readiness: Readiness::None,
        ..Launch::default()
    };
    launch.fingerprint = encode_fields(&launch_fields(&launch));
    launch
}

/// A session as a runtime reports it, started from `started_as`.
fn session(started_as: &Launch, alive: bool, ready: bool) -> SessionInfo {
    let mut meta = BTreeMap::from([
        (meta::AGENT.to_owned(), "worker".to_owned()),
        (meta::FINGERPRINT.to_owned(), started_as.fingerprint.clone()),
        (meta::LAUNCH_FIELDS.to_owned(), encode_fields(&launch_fields(started_as))),
        (meta::INSTANCE.to_owned(), format!("{}-token", started_as.session)),
    ]);
    if ready {
        meta.insert(meta::READY.into(), "1".into());
    }
    SessionInfo {
        name: started_as.session.clone(),
        alive,
        pid: alive.then_some(42),
        exit_status: (!alive).then_some(3),
        created: Some(now() - secs(3600)),
        last_activity: Some(now() - secs(3600)),
        attached: false,
        meta,
    }
}

struct Case {
    launches: Vec<Launch>,
    observed: Vec<SessionInfo>,
    held: BTreeSet<String>,
    idle: BTreeSet<String>,
    fresh: BTreeSet<String>,
    conversations: BTreeMap<String, crate::agentcli::conversation::Conversation>,
    was_up: BTreeSet<String>,
    crashes: BTreeMap<String, CrashRecord>,
    off: Option<&'static str>,
    dependent_up: Option<String>,
    pool: Option<PoolWant>,
    drift: DriftPolicy,
    idle_timeout: Option<Duration>,
    work: Work,
    dependencies: Result<(), String>,
    rig: Result<(), StartBlock>,
    max_starts: usize,
    session_room: Option<usize>,
    budget: Option<Budget>,
}

impl Case {
    fn new(launches: Vec<Launch>, observed: Vec<SessionInfo>) -> Case {
        Case {
            launches,
            observed,
            held: BTreeSet::new(),
            idle: BTreeSet::new(),
            fresh: BTreeSet::new(),
            conversations: BTreeMap::new(),
            was_up: BTreeSet::new(),
            crashes: BTreeMap::new(),
            off: None,
            dependent_up: None,
            pool: None,
            drift: DriftPolicy { on_drift: OnDrift::Immediate, quiet_period: secs(60) },
            idle_timeout: None,
            work: Work::default(),
            dependencies: Ok(()),
            rig: Ok(()),
            max_starts: 5,
            session_room: None,
            budget: None,
        }
    }

    fn plan(&self) -> AgentPlan {
        plan(&AgentInput {
            name: "worker",
            generation: 4,
            off: self.off,
            dependent_up: self.dependent_up.clone(),
            launches: Ok(self.launches.clone()),
            pool: self.pool.clone(),
            drift: self.drift,
            idle_timeout: self.idle_timeout,
            observed: self.observed.iter().collect(),
            was_up: &self.was_up,
            held: &self.held,
            idle: &self.idle,
            fresh: &self.fresh,
            conversations: &self.conversations,
            conversation_policy: &crate::api::agent::ConversationPolicy::default(),
            work: self.work.clone(),
            dependencies: self.dependencies.clone(),
            gate: self.rig.clone(),
            crashes: &self.crashes,
            crash_loop: CrashLoop {
                backoff: Backoff { initial: secs(1), max: secs(60), window: secs(3600) },
                max_restarts: 3,
                quarantine: secs(1800),
                stable_after: secs(300),
            },
            max_starts: self.max_starts,
            session_room: self.session_room,
            budget: self.budget.as_ref(),
            now: now(),
        })
    }
}

fn described(plan: &AgentPlan) -> Vec<String> {
    plan.actions.iter().map(SessionAction::describe).collect()
}

#[test]
fn a_missing_session_starts_and_a_ready_one_is_left_alone() {
    let w = launch("gc-c-worker", &[]);
    let plan = Case::new(vec![w.clone()], vec![]).plan();
    assert_eq!(described(&plan), ["start gc-c-worker (not running)"]);
    assert_eq!(json_of(&plan.status)["phase"], "Starting");
    assert_eq!(json_of(&plan.status)["observedGeneration"], 4);

    let plan = Case::new(vec![w.clone()], vec![session(&w, true, true)]).plan();
    assert!(plan.actions.is_empty(), "running twice changes nothing: {:?}", described(&plan));
    assert!(plan.notes.is_empty());
    assert_eq!(json_of(&plan.status)["phase"], "Running");
    assert_eq!(json_of(&plan.status)["readySessions"], 1);
}

#[test]
fn a_fresh_conversation_asked_for_restarts_a_live_session_whatever_the_drift_policy() {
    let w = launch("gc-c-worker", &[]);
    let mut case = Case::new(vec![w.clone()], vec![session(&w, true, true)]);
    case.drift = DriftPolicy { on_drift: OnDrift::Never, quiet_period: secs(60) };
    case.fresh.insert("gc-c-worker".into());
    let plan = case.plan();
    assert_eq!(
        described(&plan),
        ["restart gc-c-worker: a fresh conversation was asked for (gc handoff or gc session \
          reset --fresh)"]
    );
    // A session not running starts as usual (its start takes the fresh mark).
    let mut stopped = Case::new(vec![w.clone()], vec![]);
    stopped.fresh.insert("gc-c-worker".into());
    assert_eq!(described(&stopped.plan()), ["start gc-c-worker (not running)"]);
}

#[test]
fn the_plan_says_whether_a_restart_resumes_its_conversation_and_why() {
    use crate::agentcli::conversation::Conversation;
    use crate::api::provider::ConversationSpec;
    let mut w = launch("gc-c-worker", &[("LOG_LEVEL", "info")]);
    w.conversation = Some(ConversationSpec {
        new_args: vec!["--session-id".into(), "{{ conversation_id }}".into()],
        resume_args: vec!["--resume".into(), "{{ conversation_id }}".into()],
    });
    let running = session(&w, true, true);
    let mut now = launch("gc-c-worker", &[("LOG_LEVEL", "debug")]);
    now.conversation = w.conversation.clone();
    let mut case = Case::new(vec![now], vec![running]);
    let started = chrono::DateTime::<chrono::Utc>::from(SystemTime::now())
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let record = Conversation { id: "3f2a".into(), provider: "cli".into(), started };
    case.conversations.insert("gc-c-worker".into(), record);
    assert_eq!(
        described(&case.plan()),
        ["restart gc-c-worker: env.LOG_LEVEL changed; policy Immediate, resuming 3f2a (after a \
          drift restart)"]
    );
    case.conversations.clear();
    assert_eq!(
        described(&case.plan()),
        ["restart gc-c-worker: env.LOG_LEVEL changed; policy Immediate"],
        "nothing to resume, nothing said"
    );
}

#[test]
fn a_live_session_not_yet_ready_is_awaited_not_restarted() {
    let w = launch("gc-c-worker", &[]);
    let plan = Case::new(vec![w.clone()], vec![session(&w, true, false)]).plan();
    assert_eq!(described(&plan), ["wait for gc-c-worker to be ready"]);
}

#[test]
fn a_crashed_session_restarts_at_once_then_with_backoff() {
    let w = launch("gc-c-worker", &[]);
    let dead = vec![session(&w, false, false)];
    let plan = Case::new(vec![w.clone()], dead.clone()).plan();
    assert_eq!(described(&plan), ["start gc-c-worker (exited with status 3)"]);
    // Up at the last look and gone now (its tmux session was killed): also a crash.
    let mut vanished = Case::new(vec![w.clone()], vec![]);
    vanished.was_up.insert("gc-c-worker".into());
    assert_eq!(described(&vanished.plan()), ["start gc-c-worker (it died)"]);

    let mut case = Case::new(vec![w], dead);
    // Two restarts in the window, the last 1s ago: the next waits 2s, so 1s more.
    case.crashes.insert(
        "gc-c-worker".into(),
        CrashRecord {
            restarts: vec![now() - secs(5), now() - secs(1)],
            quarantined_until: None,
            ..CrashRecord::default()
        },
    );
    let plan = case.plan();
    assert!(plan.actions.is_empty());
    assert_eq!(plan.requeue_after, Some(secs(1)));
    assert_eq!(json_of(&plan.status)["phase"], "CrashLoop");
    assert_eq!(json_of(&plan.status)["restarts"], 2);
    assert!(plan.notes[0].contains("crash backoff"), "{:?}", plan.notes);
}

#[test]
fn a_session_that_keeps_dying_is_quarantined_and_not_restarted() {
    let w = launch("gc-c-worker", &[]);
    let mut case = Case::new(vec![w.clone()], vec![session(&w, false, false)]);
    let restarts = vec![now() - secs(600), now() - secs(300), now() - secs(100)];
    case.crashes.insert(
        "gc-c-worker".into(),
        CrashRecord {
            restarts: restarts.clone(),
            quarantined_until: None,
            ..CrashRecord::default()
        },
    );
    let plan = case.plan();
    assert_eq!(described(&plan), ["quarantine gc-c-worker (3 restarts within 1h)"]);
    assert!(
        matches!(plan.actions[0], SessionAction::Quarantine { until, .. } if until == now() + secs(1800))
    );
    assert_eq!(json_of(&plan.status)["phase"], "Quarantined");
    assert_eq!(json_of(&plan.status)["conditions"][2]["status"], "True");

    // While quarantined: nothing starts, the plan says why and when.
    case.crashes.insert(
        "gc-c-worker".into(),
        CrashRecord {
            restarts,
            quarantined_until: Some(now() + secs(60)),
            ..CrashRecord::default()
        },
    );
    let plan = case.plan();
    assert!(plan.actions.is_empty(), "{:?}", described(&plan));
    assert_eq!(json_of(&plan.status)["phase"], "Quarantined");
    assert!(plan.notes[0].contains("gc session reset gc-c-worker"), "{:?}", plan.notes);
    assert_eq!(plan.requeue_after, Some(secs(60) + Duration::from_millis(100)));

    // Over: the history is forgotten and it starts again.
    case.crashes.get_mut("gc-c-worker").unwrap().quarantined_until = Some(now() - secs(1));
    let plan = case.plan();
    assert_eq!(described(&plan), ["start gc-c-worker (exited with status 3)"]);
    assert_eq!(plan.forget_crashes, ["gc-c-worker"]);
}

#[test]
fn a_stable_run_forgets_earlier_crashes() {
    let w = launch("gc-c-worker", &[]);
    let mut up = session(&w, true, true);
    let mut case = Case::new(vec![w.clone()], vec![up.clone()]);
    case.crashes.insert(
        "gc-c-worker".into(),
        CrashRecord {
            restarts: vec![now() - secs(400)],
            quarantined_until: None,
            ..CrashRecord::default()
        },
    );
    assert_eq!(case.plan().forget_crashes, ["gc-c-worker"]);
    // Up for less than stableAfter: remembered.
    up.created = Some(now() - secs(10));
    case.observed = vec![up];
    assert!(case.plan().forget_crashes.is_empty());
}

#[test]
fn suspended_agents_stop_after_their_dependents_and_are_not_started() {
    let w = launch("gc-c-worker", &[]);
    let w2 = launch("gc-c-worker-2", &[]);
    let mut case =
        Case::new(vec![w.clone()], vec![session(&w, true, true), session(&w2, false, false)]);
    case.off = Some("Suspended");
    let plan = case.plan();
    assert_eq!(
        described(&plan),
        ["stop gc-c-worker (Suspended)", "remove dead session gc-c-worker-2"]
    );
    // Not "Stopped" until nothing runs: the status is shown while the stop is under way.
    assert_eq!(json_of(&plan.status)["phase"], "Stopping");
    // The stop is fenced by the instance token it was planned against.
    assert!(
        matches!(&plan.actions[0], SessionAction::Stop { instance: Some(t), .. } if t == "gc-c-worker-token")
    );
    // An agent depending on it still runs: it waits (stop order is start order reversed).
    case.dependent_up = Some("reviewer".into());
    let plan = case.plan();
    assert_eq!(described(&plan), ["remove dead session gc-c-worker-2"]);
    assert!(plan.notes[0].contains("after agent reviewer"), "{:?}", plan.notes);

    let mut case = Case::new(vec![w], vec![]);
    case.off = Some("Suspended");
    let plan = case.plan();
    assert!(plan.actions.is_empty(), "a stopped, suspended agent stays stopped");
    assert_eq!(json_of(&plan.status)["phase"], "Stopped");
}

#[test]
fn a_held_session_is_stopped_and_never_resurrected() {
    let w = launch("gc-c-worker", &[]);
    let mut case = Case::new(vec![w.clone()], vec![session(&w, true, true)]);
    case.held.insert("gc-c-worker".into());
    assert_eq!(described(&case.plan()), ["stop gc-c-worker (StoppedByUser)"]);
    case.observed.clear();
    let plan = case.plan();
    assert!(plan.actions.is_empty());
    assert_eq!(json_of(&plan.status)["sessions"][0]["phase"], "held");
}

#[test]
fn drift_under_immediate_restarts_and_names_the_changed_fields() {
    let before = launch("gc-c-worker", &[("LOG_LEVEL", "info")]);
    let after = launch("gc-c-worker", &[("LOG_LEVEL", "debug")]);
    let case = Case::new(vec![after], vec![session(&before, true, true)]);
    let plan = case.plan();
    assert_eq!(described(&plan), ["restart gc-c-worker: env.LOG_LEVEL changed; policy Immediate"]);
    assert!(
        matches!(&plan.actions[0], SessionAction::Restart { instance: Some(t), .. } if t == "gc-c-worker-token")
    );
}

#[test]
fn drift_under_when_idle_waits_for_a_detached_quiet_session() {
    let before = launch("gc-c-worker", &[("LOG_LEVEL", "info")]);
    let after = launch("gc-c-worker", &[("LOG_LEVEL", "debug")]);
    let mut live = session(&before, true, true);
    live.last_activity = Some(now() - secs(20));
    let mut case = Case::new(vec![after], vec![live.clone()]);
    case.drift.on_drift = OnDrift::WhenIdle;
    // Output 20s ago, quiet period 60s: pending, looked at again in 40s.
    let plan = case.plan();
    assert!(plan.actions.is_empty(), "{:?}", described(&plan));
    assert_eq!(plan.requeue_after, Some(secs(40)));
    assert_eq!(json_of(&plan.status)["sessions"][0]["phase"], "drifted");
    assert_eq!(json_of(&plan.status)["phase"], "Running");
    let status = json_of(&plan.status);
    let drift = status["drift"].as_str().unwrap();
    assert!(drift.contains("drifted (env.LOG_LEVEL changed), restart pending"), "{drift}");
    assert_eq!(plan.notes.len(), 1);

    // Quiet long enough but somebody is attached: still pending.
    live.last_activity = Some(now() - secs(120));
    live.attached = true;
    case.observed = vec![live.clone()];
    let plan = case.plan();
    assert!(plan.actions.is_empty());
    assert!(plan.notes[0].contains("nobody is attached"), "{:?}", plan.notes);

    // Detached and quiet: restarted.
    live.attached = false;
    case.observed = vec![live];
    assert_eq!(
        described(&case.plan()),
        ["restart gc-c-worker: env.LOG_LEVEL changed; policy WhenIdle"]
    );
}

#[test]
fn drift_under_never_is_only_reported() {
    let before = launch("gc-c-worker", &[]);
    let mut after = launch("gc-c-worker", &[]);
    after.program.push("--verbose".into());
    after.fingerprint = encode_fields(&launch_fields(&after));
    let mut case = Case::new(vec![after], vec![session(&before, true, true)]);
    case.drift.on_drift = OnDrift::Never;
    let plan = case.plan();
    assert!(plan.actions.is_empty());
    assert_eq!(plan.notes, ["gc-c-worker drifted (program changed), not restarted: policy Never"]);
    assert_eq!(json_of(&plan.status)["sessions"][0]["drift"]["policy"], "Never");
}

#[test]
fn a_session_without_a_recorded_fingerprint_is_never_restarted_for_drift() {
    let before = launch("gc-c-worker", &[]);
    let after = launch("gc-c-worker", &[("NEW", "1")]);
    let mut adopted = session(&before, true, true);
    adopted.meta.remove(meta::FINGERPRINT);
    let plan = Case::new(vec![after.clone()], vec![adopted]).plan();
    assert!(plan.actions.is_empty() && plan.notes.is_empty());
    // A fresh session started from the current launch has nothing to drift from.
    let plan = Case::new(vec![after.clone()], vec![session(&after, true, false)]).plan();
    assert_eq!(described(&plan), ["wait for gc-c-worker to be ready"]);
    // Old sessions recorded a fingerprint but no field list: the restart says "launch".
    let mut old = session(&before, true, true);
    old.meta.remove(meta::LAUNCH_FIELDS);
    assert_eq!(
        described(&Case::new(vec![after], vec![old]).plan()),
        ["restart gc-c-worker: launch changed; policy Immediate"]
    );
}

#[test]
fn pools_scale_down_and_dependencies_gate_starts() {
    let m1 = launch("gc-c-worker-1", &[]);
    let m2 = launch("gc-c-worker-2", &[]);
    let mut case =
        Case::new(vec![m1.clone()], vec![session(&m1, true, true), session(&m2, true, true)]);
    case.pool = Some(PoolWant { wanted: 1, why: "1 bead ready or in progress".into() });
    let plan = case.plan();
    assert_eq!(described(&plan), ["stop gc-c-worker-2 (ScaledDown: 1 bead ready or in progress)"]);
    assert_eq!(json_of(&plan.status)["pool"]["wanted"], 1);

    let mut case = Case::new(vec![m1.clone(), m2], vec![session(&m1, true, true)]);
    case.pool = Some(PoolWant { wanted: 2, why: "2 beads ready or in progress".into() });
    assert_eq!(
        described(&case.plan()),
        ["start gc-c-worker-2 (pool scaled up: 2 beads ready or in progress)"]
    );

    let mut case = Case::new(vec![launch("gc-c-worker", &[])], vec![]);
    case.dependencies = Err("mayor".into());
    let plan = case.plan();
    assert!(plan.actions.is_empty());
    assert_eq!(json_of(&plan.status)["phase"], "Waiting");
    assert!(plan.requeue_after.is_some());
    assert_eq!(plan.notes, ["gc-c-worker: waits for agent mayor to be ready"]);
}

#[test]
fn starts_beyond_the_per_pass_budget_are_deferred() {
    let launches: Vec<Launch> = (1..=4).map(|n| launch(&format!("gc-c-worker-{n}"), &[])).collect();
    let mut case = Case::new(launches, vec![]);
    case.pool = Some(PoolWant { wanted: 4, why: "4 beads".into() });
    case.max_starts = 3;
    let plan = case.plan();
    assert_eq!(plan.actions.len(), 3);
    assert_eq!(json_of(&plan.status)["sessions"][3]["phase"], "pending");
    assert_eq!(plan.requeue_after, Some(secs(1)));
    assert!(plan.notes[0].contains("maxStartsPerSecond"), "{:?}", plan.notes);
}

#[test]
fn the_citys_max_active_sessions_caps_new_sessions_not_restarts() {
    let launches: Vec<Launch> = (1..=3).map(|n| launch(&format!("gc-c-worker-{n}"), &[])).collect();
    let dead = session(&launches[0], false, false);
    let mut case = Case::new(launches, vec![dead]);
    case.pool = Some(PoolWant { wanted: 3, why: "3 beads".into() });
    case.session_room = Some(1);
    let plan = case.plan();
    // The dead member is replaced (it adds nothing); one new member fits, the third waits.
    assert_eq!(
        described(&plan),
        [
            "start gc-c-worker-1 (exited with status 3)",
            "start gc-c-worker-2 (pool scaled up: 3 beads)"
        ]
    );
    assert!(plan.notes[0].contains("maxActiveSessions"), "{:?}", plan.notes);
    assert_eq!(json_of(&plan.status)["sessions"][2]["phase"], "pending");
}

#[test]
fn an_idle_session_stops_and_starts_again_when_work_arrives() {
    let w = launch("gc-c-worker", &[]);
    let mut live = session(&w, true, true);
    live.last_activity = Some(now() - secs(700));
    let mut case = Case::new(vec![w.clone()], vec![live.clone()]);
    case.idle_timeout = Some(secs(600));
    assert_eq!(
        described(&case.plan()),
        ["stop gc-c-worker (IdleTimeout: quiet for 10m with no work in progress)"]
    );
    // Holding in-progress work, with ready work waiting, or attached: not idle.
    case.work.busy.insert("gc-c-worker".into());
    assert!(case.plan().actions.is_empty());
    case.work.busy.clear();
    case.work.ready = true;
    assert!(case.plan().actions.is_empty());
    case.work.ready = false;
    live.attached = true;
    case.observed = vec![live.clone()];
    assert!(case.plan().actions.is_empty());
    // Output 100s ago: looked at again when the timeout would pass.
    live.attached = false;
    live.last_activity = Some(now() - secs(100));
    case.observed = vec![live];
    let plan = case.plan();
    assert!(plan.actions.is_empty());
    assert_eq!(plan.requeue_after, Some(secs(500)));

    // Stopped for idleness, no work: it stays stopped and the agent counts as settled.
    let mut case = Case::new(vec![w.clone()], vec![]);
    case.idle.insert("gc-c-worker".into());
    let plan = case.plan();
    assert!(plan.actions.is_empty());
    assert_eq!(json_of(&plan.status)["phase"], "Idle");
    assert_eq!(json_of(&plan.status)["conditions"][0]["status"], "True");
    case.work.ready = true;
    assert_eq!(described(&case.plan()), ["start gc-c-worker (work arrived after an idle stop)"]);
}

#[test]
fn a_blocked_rig_keeps_new_sessions_from_starting_but_leaves_running_ones() {
    let w = launch("gc-c-worker", &[]);
    let block = StartBlock { reason: "RigPathMissing", message: "rig `demo`: gone".into() };
    let mut case = Case::new(vec![w.clone()], vec![]);
    case.rig = Err(block.clone());
    let plan = case.plan();
    assert!(plan.actions.is_empty(), "{:?}", described(&plan));
    assert_eq!(json_of(&plan.status)["phase"], "Blocked");
    assert_eq!(json_of(&plan.status)["conditions"][0]["reason"], "RigPathMissing");
    assert_eq!(json_of(&plan.status)["conditions"][2]["status"], "True");
    assert!(plan.requeue_after.is_some(), "a rig fixed on disk is noticed without an apply");

    let mut case = Case::new(vec![w.clone()], vec![session(&w, true, true)]);
    case.rig = Err(block);
    let plan = case.plan();
    assert!(plan.actions.is_empty(), "a running session is not stopped for its rig");
    assert_eq!(json_of(&plan.status)["phase"], "Running");
}

#[test]
fn backoff_doubles_up_to_its_cap() {
    let b = Backoff { initial: secs(1), max: secs(5), window: Duration::ZERO };
    let delays: Vec<u64> = (0..6).map(|n| b.delay(n).as_secs()).collect();
    assert_eq!(delays, [0, 1, 2, 4, 5, 5]);
    assert_eq!(b.delay(usize::MAX), secs(5));
}

/// A status as the JSON it is written as.
fn json_of<T: serde::Serialize>(status: &T) -> serde_json::Value {
    serde_json::to_value(status).unwrap()
}

fn used_up(in_turn: &[&str], reported: &[&str]) -> Budget {
    Budget {
        exceeded: true,
        near_limit: true,
        message: "its budget (1200 of 1000 tokens used (120%); the window ends at …)".into(),
        until: Some(now() + secs(600)),
        in_turn: in_turn.iter().map(|s| (*s).to_owned()).collect(),
        turns_reported: reported.iter().map(|s| (*s).to_owned()).collect(),
    }
}

#[test]
fn a_used_up_budget_stops_sessions_as_their_turn_ends_and_starts_none() {
    let (a, b, c) =
        (launch("gc-c-worker-1", &[]), launch("gc-c-worker-2", &[]), launch("gc-c-worker-3", &[]));
    let mut busy = session(&b, true, true);
    busy.last_activity = Some(now() - secs(1));
    let mut case =
        Case::new(vec![a.clone(), b.clone(), c.clone()], vec![session(&a, true, true), busy]);
    // worker-1's hooks say its turn ended; worker-2 reports no turns but printed a second ago;
    // worker-3 is not running.
    case.budget = Some(used_up(&[], &["gc-c-worker-1"]));
    let plan = case.plan();
    let stops = described(&plan);
    assert_eq!(stops.len(), 1, "{stops:?}");
    assert!(
        stops[0].starts_with("stop gc-c-worker-1 (BudgetExceeded: its budget (1200 of 1000"),
        "{stops:?}"
    );
    let status = json_of(&plan.status);
    assert_eq!(status["phase"], "OverBudget");
    let phases: Vec<&str> = status["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["stopping", "running", "overbudget"]);
    assert!(plan.notes.iter().any(|n| n.contains("gc-c-worker-2: stops when its turn ends")));
    assert!(plan.notes.iter().any(|n| n.contains("gc-c-worker-3: not started: its budget")));
    let exceeded =
        status["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "BudgetExceeded");
    assert_eq!(exceeded.unwrap()["status"], "True", "{status}");
    // A session mid-turn (as its hooks say) is left to finish.
    case.budget = Some(used_up(&["gc-c-worker-1"], &["gc-c-worker-1"]));
    assert!(case.plan().actions.is_empty());
    // Quiet for the quiet period, a session without hooks stops too.
    case.observed[1].last_activity = Some(now() - secs(61));
    case.budget = Some(used_up(&[], &["gc-c-worker-1"]));
    assert_eq!(described(&case.plan()).len(), 2);
}

#[test]
fn within_budget_nothing_changes_but_the_condition_says_so() {
    let w = launch("gc-c-worker", &[]);
    let mut case = Case::new(vec![w.clone()], vec![]);
    case.budget = Some(Budget {
        exceeded: false,
        message: "its budget (10% used)".into(),
        ..Budget::default()
    });
    let plan = case.plan();
    assert_eq!(described(&plan), ["start gc-c-worker (not running)"]);
    let status = json_of(&plan.status);
    let condition = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "BudgetExceeded")
        .cloned();
    assert_eq!(condition.unwrap()["status"], "False");
}
