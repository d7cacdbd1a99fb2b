//! Firing orders and ending their runs: the executor both the controller and `gc order run`
//! use, so a run is reserved, recorded and ended the same way whoever fires it, under the
//! order's lock.
//!
//! A firing is recorded before its action starts (the event or slot consumed, the run counter
//! bumped, `order.fired` appended): a crash in between loses that one run rather than firing
//! it twice. An exec run is then waited for by whoever started it ([`finish_exec`]); a formula
//! run is open until its molecule has no open bead, which [`settle`] notices.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::exec::{self, ExecEnd, ExecRequest};
use super::gate::Reason;
use super::state::{Held, OrderLedger, OrderState, Outcome, Run, RunAction};
use crate::api::Kind;
use crate::api::order::OrderSpec;
use crate::controllers::model::{Applied, CityModel};
use crate::events::{self, Event};
use crate::store::set_aside::Recovered;

/// How long a formula order's cook may take when the order sets no `timeout`.
pub const DEFAULT_COOK_TIMEOUT: Duration = Duration::from_secs(30);

/// A run just started.
pub enum Fired {
    /// An exec is running; the caller waits for it with [`finish_exec`].
    Exec(RunningExec),
    /// A formula was cooked; the run is open until its beads are closed.
    Molecule {
        /// The run.
        run: Run,
        /// What was cooked.
        molecule: Box<crate::formula::Molecule>,
    },
    /// The action could not start (the cook failed, `sh` could not be spawned); recorded as
    /// failed.
    Failed {
        /// The run.
        run: Run,
        /// Why.
        detail: String,
    },
}

impl Fired {
    /// The run.
    pub fn run(&self) -> &Run {
        match self {
            Fired::Exec(RunningExec { run, .. })
            | Fired::Molecule { run, .. }
            | Fired::Failed { run, .. } => run,
        }
    }
}

/// An exec run in progress, for whoever waits for it.
pub struct RunningExec {
    /// The run.
    pub run: Run,
    /// The process.
    pub child: Child,
    /// When to kill it.
    pub deadline: Instant,
    /// Its timeout, for the report.
    pub timeout: Duration,
}

/// A run found ended by [`settle`] or [`finish_exec`].
#[derive(Clone, Debug)]
pub struct Ended {
    /// The run.
    pub run: Run,
    /// How it ended.
    pub outcome: Outcome,
    /// Why, for people.
    pub detail: String,
    /// The reason word of the event (`Completed`, `Timeout`, `Interrupted`, …).
    pub reason: &'static str,
    /// The last lines of its output (exec runs).
    pub output: String,
}

/// The order's state under its lock: read, or started afresh when the order is new (or was
/// re-created: another uid). A fresh state consumes only events after the order was applied.
pub fn load_state(
    held: &Held<'_>,
    city_dir: &Path,
    order: &Applied<OrderSpec>,
    now: DateTime<Utc>,
) -> io::Result<OrderState> {
    match held.recover()? {
        Recovered::Found(state) if state.uid == order.uid || order.uid.is_empty() => Ok(state),
        // What it consumed is lost with the file: events from now on only, so none fires twice.
        Recovered::SetAside(_) => Ok(OrderState::new(&order.uid, now, latest_seq(city_dir)?)),
        _ => Ok(OrderState::new(&order.uid, now, initial_cursor(city_dir, &order.name)?)),
    }
}

/// The `seq` of the log's last event (0 when it has none).
fn latest_seq(city_dir: &Path) -> io::Result<u64> {
    let mut last = 0;
    events::scan_back(city_dir, |e| {
        last = e.seq;
        std::ops::ControlFlow::Break(())
    })?;
    Ok(last)
}

/// The `seq` of the order's latest `resource.created` event (the events after it happened
/// after it was applied), else the log's last `seq`.
fn initial_cursor(city_dir: &Path, name: &str) -> io::Result<u64> {
    let mut last = None;
    let mut created = None;
    events::scan_back(city_dir, |e| {
        last.get_or_insert(e.seq);
        if e.event_type == "resource.created" && e.is_about(Kind::Order, name) {
            created = Some(e.seq);
            return std::ops::ControlFlow::Break(());
        }
        std::ops::ControlFlow::Continue(())
    })?;
    Ok(created.or(last).unwrap_or(0))
}

/// Whether something waits on the exec of `run` in this process (the controller's runner
/// threads); such a run ends through [`finish_exec`], not [`settle`].
pub type WaitedHere<'a> = &'a dyn Fn(&str) -> bool;

/// Looks at the current run and ends it in `state` when it is over: a molecule with no open
/// bead (completed), an exec nobody waits for that is gone (failed: interrupted) or past its
/// deadline (killed, failed). Returns what ended, for [`record_end`]; the caller writes the
/// state. An exec another live process waits for is left to it.
pub fn settle(
    model: &CityModel,
    state: &mut OrderState,
    now: DateTime<Utc>,
    waited_here: WaitedHere<'_>,
) -> Option<Ended> {
    let run = state.current.clone()?;
    let (outcome, reason, detail, output) = match &run.action {
        RunAction::Exec { pid, pid_start, supervisor, supervisor_start, deadline, log } => {
            let me = std::process::id();
            if *supervisor == me && waited_here(&run.id) {
                return None;
            }
            if *supervisor != me && exec::alive(*supervisor, *supervisor_start) {
                return None;
            }
            // Nobody waits for it: it outlived the process that started it.
            if exec::alive(*pid, *pid_start) {
                if now < *deadline {
                    return None;
                }
                crate::beads::process::kill_process_group(*pid);
                let detail = "still running at its deadline after the process that started it \
                              ended; killed"
                    .to_owned();
                (Outcome::Failed, "Timeout", detail, exec::tail(log, exec::TAIL_LINES))
            } else {
                let detail = "interrupted: the process that started it ended before it \
                              finished (exit status unknown)"
                    .to_owned();
                (Outcome::Failed, "Interrupted", detail, exec::tail(log, exec::TAIL_LINES))
            }
        }
        RunAction::Molecule { root, store_dir } => {
            match crate::formula::molecule_open(model, store_dir, root) {
                Ok(true) => return None,
                Ok(false) => (
                    Outcome::Completed,
                    "Completed",
                    format!("every bead of molecule {root} is closed"),
                    String::new(),
                ),
                Err(e) => {
                    // Kept open: a store that is briefly unreadable must not end the run.
                    tracing::warn!("cannot check molecule {root} in {}: {e}", store_dir.display());
                    return None;
                }
            }
        }
    };
    state.finish(&run.id, outcome, now, &detail);
    Some(Ended { run, outcome, detail, reason, output })
}

/// Fires `order` for `reason` at `now`: records the firing in `state` (written through
/// `held`), appends `order.fired`, and starts the action. The caller holds the order's lock
/// and has checked that no run is open.
pub fn fire(
    held: &Held<'_>,
    state: &mut OrderState,
    model: &CityModel,
    order: &Applied<OrderSpec>,
    reason: &Reason,
    now: DateTime<Utc>,
    actor: &str,
) -> io::Result<Fired> {
    let name = &order.name;
    let spec = &order.spec;
    state.runs += 1;
    let id = state.runs.to_string();
    reason.consume(state, now);
    held.write(state)?;

    let action = if spec.exec.is_some() { "exec" } else { "formula" };
    let mut payload = json!({"run": id, "reason": reason.describe(), "action": action});
    if let Some((seq, event_type)) = reason.event() {
        payload["eventSeq"] = json!(seq);
        payload["eventType"] = json!(event_type);
    }
    if let Some(formula) = &spec.formula {
        payload["formula"] = json!(formula);
    }
    emit(
        model.dir.as_path(),
        actor,
        "order.fired",
        "Fired",
        name,
        format!("order {name} fired run {id}: {}", reason.describe()),
        payload,
    );

    let base = Run {
        id: id.clone(),
        started: now,
        reason: reason.describe(),
        event_seq: reason.event().map(|e| e.0),
        action: RunAction::Molecule { root: String::new(), store_dir: PathBuf::new() },
    };
    let started = match (&spec.exec, &spec.formula) {
        (Some(command), _) => {
            start_exec(&held.log_path(&id), model, name, spec, &id, command, reason, now)
        }
        (None, Some(formula)) => cook(model, name, spec, &id, formula, actor),
        (None, None) => Err(("NoAction", "the order has neither `exec` nor `formula`".to_owned())),
    };
    match started {
        Ok(Started::Exec { action, child, deadline, timeout }) => {
            let run = Run { action, ..base };
            state.current = Some(run.clone());
            held.write(state)?;
            Ok(Fired::Exec(RunningExec { run, child, deadline, timeout }))
        }
        Ok(Started::Molecule(molecule)) => {
            let action = RunAction::Molecule {
                root: molecule.root.id.clone(),
                store_dir: molecule.store_dir.clone(),
            };
            let run = Run { action, ..base };
            state.current = Some(run.clone());
            held.write(state)?;
            Ok(Fired::Molecule { run, molecule })
        }
        Err((why, detail)) => {
            state.current = Some(base.clone());
            state.finish(&id, Outcome::Failed, now, &detail);
            held.write(state)?;
            let ended = Ended {
                run: base.clone(),
                outcome: Outcome::Failed,
                detail: detail.clone(),
                reason: why,
                output: String::new(),
            };
            record_end(&model.dir, name, &ended, actor);
            Ok(Fired::Failed { run: base, detail })
        }
    }
}

enum Started {
    Exec { action: RunAction, child: Child, deadline: Instant, timeout: Duration },
    Molecule(Box<crate::formula::Molecule>),
}

#[allow(clippy::too_many_arguments)]
fn start_exec(
    log: &Path,
    model: &CityModel,
    name: &str,
    spec: &OrderSpec,
    id: &str,
    command: &str,
    reason: &Reason,
    now: DateTime<Utc>,
) -> Result<Started, (&'static str, String)> {
    let timeout = spec.timeout.map_or(exec::DEFAULT_EXEC_TIMEOUT, |t| t.get());
    let request = ExecRequest {
        city_dir: &model.dir,
        order: name,
        run: id,
        command,
        event: reason.event(),
        log,
    };
    let child = exec::spawn(&request)
        .map_err(|e| ("SpawnFailed", format!("`sh -c` could not be started: {e}")))?;
    let me = std::process::id();
    let action = RunAction::Exec {
        pid: child.id(),
        pid_start: exec::start_time(child.id()),
        supervisor: me,
        supervisor_start: exec::start_time(me),
        deadline: chrono::Duration::from_std(timeout)
            .ok()
            .and_then(|d| now.checked_add_signed(d))
            .unwrap_or(now),
        log: log.to_path_buf(),
    };
    Ok(Started::Exec { action, child, deadline: Instant::now() + timeout, timeout })
}

/// Cooks the order's formula routed to its target, with `gc.order` and `gc.order_run` on every
/// bead. The order's `timeout` bounds the cook: past it the run is failed; a cook that still
/// finishes later leaves its molecule unowned (reported in the controller's log).
fn cook(
    model: &CityModel,
    name: &str,
    spec: &OrderSpec,
    id: &str,
    formula: &str,
    actor: &str,
) -> Result<Started, (&'static str, String)> {
    let mut metadata = Map::new();
    metadata.insert(super::ORDER.to_owned(), Value::from(name));
    metadata.insert(super::ORDER_RUN.to_owned(), Value::from(id));
    let request = crate::formula::CookRequest {
        vars: spec.vars.clone(),
        route_to: spec.target.clone(),
        rig: None,
        metadata,
        actor: actor.to_owned(),
        ..crate::formula::CookRequest::default()
    };
    let timeout = spec.timeout.map_or(DEFAULT_COOK_TIMEOUT, |t| t.get());
    let (tx, rx) = std::sync::mpsc::channel();
    let (model, formula_name, order) = (model.clone(), formula.to_owned(), name.to_owned());
    std::thread::spawn(move || {
        let result = crate::formula::cook_named(&model, &formula_name, &request);
        if let Err(std::sync::mpsc::SendError(Ok(late))) = tx.send(result) {
            tracing::warn!(
                "order {order}: the cook finished after its timeout; molecule {} is not tracked",
                late.root.id
            );
        }
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(molecule)) => Ok(Started::Molecule(Box::new(molecule))),
        Ok(Err(e)) => Err(("CookFailed", format!("cooking formula `{formula}` failed: {e}"))),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err((
            "Timeout",
            format!(
                "cooking formula `{formula}` took longer than {}",
                crate::api::Duration(timeout)
            ),
        )),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            Err(("CookFailed", format!("cooking formula `{formula}` panicked")))
        }
    }
}

/// Waits for an exec run started by [`fire`] (blocking), then ends it under the order's lock
/// and records `order.completed` or `order.failed`. Returns what ended, or `None` when the run
/// had already been ended by someone else (the order was deleted).
pub fn finish_exec(
    ledger: &OrderLedger,
    city_dir: &Path,
    name: &str,
    running: RunningExec,
    actor: &str,
) -> io::Result<Option<Ended>> {
    let RunningExec { run, mut child, deadline, timeout } = running;
    let end = exec::wait(&mut child, deadline, timeout);
    let log = match &run.action {
        RunAction::Exec { log, .. } => Some(log.clone()),
        RunAction::Molecule { .. } => None,
    };
    let output = log.as_deref().map(|l| exec::tail(l, exec::TAIL_LINES)).unwrap_or_default();
    let (outcome, reason) = match &end {
        e if e.succeeded() => (Outcome::Completed, "Completed"),
        ExecEnd::TimedOut(_) => (Outcome::Failed, "Timeout"),
        _ => (Outcome::Failed, "ExitStatus"),
    };
    let detail = end.describe();
    let held = ledger.lock(name)?;
    let Some(mut state) = held.read()? else { return Ok(None) };
    if !state.finish(&run.id, outcome, Utc::now(), &detail) {
        return Ok(None);
    }
    held.write(&state)?;
    drop(held);
    let ended = Ended { run, outcome, detail, reason, output };
    record_end(city_dir, name, &ended, actor);
    Ok(Some(ended))
}

/// Appends `order.completed` or `order.failed` for `ended`.
pub fn record_end(city_dir: &Path, name: &str, ended: &Ended, actor: &str) {
    let id = &ended.run.id;
    let took = Utc::now().signed_duration_since(ended.run.started).num_milliseconds().max(0);
    let mut payload = json!({
        "run": id,
        "reason": ended.detail,
        "durationMs": took,
    });
    if !ended.output.is_empty() {
        payload["output"] = json!(ended.output);
    }
    if let RunAction::Exec { log, .. } = &ended.run.action {
        payload["log"] = json!(log.display().to_string());
    }
    if let RunAction::Molecule { root, .. } = &ended.run.action
        && !root.is_empty()
    {
        payload["molecule"] = json!(root);
    }
    let (event_type, verb) = match ended.outcome {
        Outcome::Completed => ("order.completed", "completed"),
        Outcome::Failed => ("order.failed", "failed"),
    };
    emit(
        city_dir,
        actor,
        event_type,
        ended.reason,
        name,
        format!("order {name} run {id} {verb}: {}", ended.detail),
        payload,
    );
}

fn emit(
    city_dir: &Path,
    actor: &str,
    event_type: &str,
    reason: &str,
    name: &str,
    message: String,
    payload: Value,
) {
    let event = Event::new(event_type, reason, message).object(Kind::Order, name).payload(payload);
    if let Err(e) = events::append(city_dir, vec![event], actor) {
        tracing::warn!("cannot record event {event_type}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    /// A process that has already ended (spawned and reaped), so its pid is gone.
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    fn exec_state(pid: u32, supervisor: u32, deadline: DateTime<Utc>, log: &Path) -> OrderState {
        let mut state = OrderState::new("u", Utc::now(), 0);
        state.current = Some(Run {
            id: "5".into(),
            started: Utc::now(),
            reason: "test".into(),
            event_seq: None,
            action: RunAction::Exec {
                pid,
                pid_start: exec::start_time(pid),
                supervisor,
                supervisor_start: exec::start_time(supervisor),
                deadline,
                log: log.to_path_buf(),
            },
        });
        state
    }

    #[test]
    fn an_exec_whose_process_and_supervisor_are_gone_is_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("5.log");
        std::fs::write(&log, "partial output\n").unwrap();
        let later = Utc::now() + chrono::Duration::hours(1);
        let mut state = exec_state(dead_pid(), dead_pid(), later, &log);
        let ended = settle(&CityModel::default(), &mut state, Utc::now(), &|_| false).unwrap();
        assert_eq!((ended.outcome, ended.reason), (Outcome::Failed, "Interrupted"));
        assert_eq!(ended.output, "partial output");
        assert!(state.current.is_none());
        assert_eq!(state.last_result.unwrap().run, "5");
    }

    #[test]
    fn an_exec_someone_still_waits_for_or_that_still_runs_stays_open() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("5.log");
        let later = Utc::now() + chrono::Duration::hours(1);
        // In a group of its own, as execs are started.
        let mut sleeper =
            std::process::Command::new("sleep").arg("30").process_group(0).spawn().unwrap();
        let model = CityModel::default();
        // Another live process supervises it.
        let mut state = exec_state(dead_pid(), sleeper.id(), later, &log);
        assert!(settle(&model, &mut state, Utc::now(), &|_| false).is_none());
        // This process waits for it.
        let mut state = exec_state(dead_pid(), std::process::id(), later, &log);
        assert!(settle(&model, &mut state, Utc::now(), &|run| run == "5").is_none());
        // Nobody waits, but it still runs before its deadline (it outlived its controller).
        let mut state = exec_state(sleeper.id(), dead_pid(), later, &log);
        assert!(settle(&model, &mut state, Utc::now(), &|_| false).is_none());
        // Past its deadline it is killed.
        let earlier = Utc::now() - chrono::Duration::seconds(1);
        let mut state = exec_state(sleeper.id(), dead_pid(), earlier, &log);
        let ended = settle(&model, &mut state, Utc::now(), &|_| false).unwrap();
        assert_eq!(ended.reason, "Timeout");
        assert!(sleeper.wait().unwrap().code().is_none(), "killed by a signal");
    }
}
