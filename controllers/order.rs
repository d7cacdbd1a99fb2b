//! The Order controller: fires orders when their gates open, watches their runs end, and
//! records each order's status.
//!
//! Split as everywhere: [`plan`] is pure (`(order, state, now, inputs) → fire or not, what to
//! remember, when to look again, status`), [`reconcile_order`] reads the world (state under
//! the order's lock, the condition check, the events after the cursor), carries the plan out
//! with [`crate::orders::run`] and writes status. Exec runs are waited for on threads of their
//! own, so a long run never holds up a reconcile; the order's state (its current run) keeps a
//! second run from starting meanwhile, here or in `gc order run`.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::model::{Applied, CityModel};
use super::reconcile::{Context, ReconcileError};
use crate::api::Kind;
use crate::api::order::{GateKind, OrderSpec};
use crate::api::status::{
    Condition, ConditionType, OrderResultStatus, OrderRunStatus, OrderStatus,
};
use crate::orders::gate::{self, Decision, EventInput, Inputs, Reason};
use crate::orders::run::{self, Fired};
use crate::orders::schedule::Schedule;
use crate::orders::state::{OrderLedger, OrderState, Outcome, RunAction};

/// How often an order whose run is open is looked at again (a molecule's beads closing, an
/// exec nobody waits for any more).
pub const RUN_RECHECK: Duration = Duration::from_secs(2);

/// The longest an order waits before it is looked at again, whatever its gate says: bounds
/// the effect of a clock that jumps.
const MAX_REQUEUE: Duration = Duration::from_secs(300);

/// Who the controller's order events are from.
const ACTOR: &str = "controller";

/// What the order controller shares between reconciles.
pub struct OrderContext {
    /// The controllers' shared context (city directory, store).
    pub ctx: Arc<Context>,
    /// The orders' state on disk.
    pub ledger: OrderLedger,
    /// Exec runs waited for by threads of this process: `(order, run id)`.
    waiting: Arc<Mutex<BTreeSet<(String, String)>>>,
    /// Asks for an order to be reconciled again (a run ended, an event arrived).
    wake: tokio::sync::mpsc::UnboundedSender<String>,
}

impl OrderContext {
    /// A context over `ctx`; `wake` receives the names of orders to reconcile again.
    pub fn new(ctx: Arc<Context>, wake: tokio::sync::mpsc::UnboundedSender<String>) -> Self {
        OrderContext { ledger: OrderLedger::new(&ctx.city_dir), ctx, waiting: Arc::default(), wake }
    }

    fn waited_here(&self, order: &str, run: &str) -> bool {
        let waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        waiting.contains(&(order.to_owned(), run.to_owned()))
    }
}

/// What [`plan`] decided for one order.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderPlan {
    /// Fire now, for this reason.
    pub fire: Option<Reason>,
    /// Look again after this long (unless something wakes the order first).
    pub requeue: Duration,
}

/// Plans one order: whether it fires now and when to look again. Pure.
pub fn plan(
    spec: &OrderSpec,
    state: &OrderState,
    now: DateTime<Utc>,
    inputs: &Inputs,
    resync: Duration,
) -> (OrderPlan, Decision) {
    let decision = gate::due(spec, state, now, inputs);
    let requeue = match &decision {
        Decision::Due { .. } => RUN_RECHECK,
        Decision::NotDue { .. } if state.current.is_some() => RUN_RECHECK,
        Decision::NotDue { next_check: Some(at), .. } => {
            at.signed_duration_since(now).to_std().unwrap_or_default().min(MAX_REQUEUE)
        }
        Decision::NotDue { next_check: None, .. } => resync.min(MAX_REQUEUE),
    };
    let fire = match &decision {
        Decision::Due { reason } => Some(reason.clone()),
        Decision::NotDue { .. } => None,
    };
    (OrderPlan { fire, requeue: requeue.max(Duration::from_millis(100)) }, decision)
}

/// When an order is next due, for status and `gc order list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NextDue {
    /// Due now (a controller fires it at its next look).
    Now,
    /// At this time.
    At(DateTime<Utc>),
    /// Not by time: why (`on bead.closed`, `manual`, `disabled`, `after run 3`, …).
    Not(String),
}

impl NextDue {
    /// For a table cell.
    pub fn text(&self) -> String {
        match self {
            NextDue::Now => "now".to_owned(),
            NextDue::At(t) => gate::rfc3339(*t),
            NextDue::Not(why) => why.clone(),
        }
    }
}

/// When `spec` is next due given `state`, without running a check or reading events. Pure.
pub fn next_due(spec: &OrderSpec, state: &OrderState, now: DateTime<Utc>) -> NextDue {
    if !spec.enabled {
        return NextDue::Not("disabled".to_owned());
    }
    if let Some(run) = &state.current {
        return NextDue::Not(format!("after run {}", run.id));
    }
    match spec.gate.kind() {
        Some(GateKind::Cooldown | GateKind::Cron) => {
            match gate::due(spec, state, now, &Inputs::default()) {
                Decision::Due { .. } => NextDue::Now,
                Decision::NotDue { next_check: Some(t), .. } => NextDue::At(t),
                Decision::NotDue { why, .. } => NextDue::Not(why),
            }
        }
        Some(GateKind::Condition) => NextDue::Not("when its check passes".to_owned()),
        Some(GateKind::Event) => {
            NextDue::Not(format!("on {}", spec.gate.event.as_ref().map_or("", |e| e.on.as_str())))
        }
        Some(GateKind::Manual) => NextDue::Not("manual".to_owned()),
        None => NextDue::Not("no gate".to_owned()),
    }
}

/// `cron 0 * * * *`, `event bead.closed`, …: the gate in one line.
pub fn gate_text(spec: &OrderSpec) -> String {
    let g = &spec.gate;
    match g.kind() {
        Some(GateKind::Cooldown) => {
            format!(
                "cooldown {}",
                g.cooldown.as_ref().map(|c| c.interval.to_string()).unwrap_or_default()
            )
        }
        Some(GateKind::Cron) => {
            format!("cron {}", g.cron.as_ref().map_or("", |c| c.schedule.as_str()))
        }
        Some(GateKind::Condition) => "condition".to_owned(),
        Some(GateKind::Event) => {
            format!("event {}", g.event.as_ref().map_or("", |e| e.on.as_str()))
        }
        Some(GateKind::Manual) => "manual".to_owned(),
        None => "-".to_owned(),
    }
}

/// `exec` or `formula NAME`.
pub fn action_text(spec: &OrderSpec) -> String {
    match (&spec.exec, &spec.formula) {
        (Some(_), _) => "exec".to_owned(),
        (None, Some(f)) => format!("formula {f}"),
        (None, None) => "-".to_owned(),
    }
}

/// The order's status: its gate, runs, last result, next due time and a `Ready` condition.
/// Pure.
pub fn status(order: &Applied<OrderSpec>, state: &OrderState, now: DateTime<Utc>) -> OrderStatus {
    let spec = &order.spec;
    let next = next_due(spec, state, now);
    let invalid = match spec.gate.kind() {
        None => Some("the order has no gate".to_owned()),
        Some(GateKind::Cron) => spec.gate.cron.as_ref().and_then(|c| {
            Schedule::parse(&c.schedule).err().map(|e| format!("invalid cron schedule: {e}"))
        }),
        Some(_) => None,
    };
    let (ready, reason, message) = if let Some(why) = invalid {
        (false, "InvalidGate", why)
    } else if let Some(run) = &state.current {
        (true, "Running", format!("run {} ({}) has open work", run.id, run.reason))
    } else if let Some(result) = state.last_result.as_ref().filter(|r| r.outcome == Outcome::Failed)
    {
        (false, "LastRunFailed", format!("run {} failed: {}", result.run, result.detail))
    } else if !spec.enabled {
        (true, "Disabled", "disabled: fires only by `gc order run`".to_owned())
    } else {
        (true, "Waiting", format!("next due: {}", next.text()))
    };
    let last_run = match (&state.current, &state.last_result) {
        (Some(run), _) => {
            let mut current = OrderRunStatus {
                id: run.id.clone(),
                started_at: Some(gate::rfc3339(run.started)),
                reason: Some(run.reason.clone()),
                pid: None,
                log: None,
                molecule: None,
            };
            match &run.action {
                RunAction::Exec { pid, log, .. } => {
                    current.pid = Some(*pid);
                    current.log = Some(log.display().to_string());
                }
                RunAction::Molecule { root, .. } => current.molecule = Some(root.clone()),
            }
            Some(current)
        }
        (None, Some(result)) => Some(OrderRunStatus {
            id: result.run.clone(),
            started_at: None,
            reason: None,
            pid: None,
            log: None,
            molecule: None,
        }),
        (None, None) => None,
    };
    OrderStatus {
        observed_generation: order.generation,
        gate: gate_text(spec),
        action: action_text(spec),
        runs: state.runs,
        next_due: match &next {
            NextDue::At(t) => Some(gate::rfc3339(*t)),
            NextDue::Now => Some(gate::rfc3339(now)),
            NextDue::Not(_) => None,
        },
        next_due_text: next.text(),
        last_fired: state.last_fired.map(gate::rfc3339),
        event_cursor: spec.gate.event.is_some().then_some(state.event_cursor),
        running: state.current.is_some(),
        last_run,
        last_result: state.last_result.as_ref().map(|result| OrderResultStatus {
            run: result.run.clone(),
            outcome: result.outcome.as_str().to_owned(),
            at: gate::rfc3339(result.at),
            detail: result.detail.clone(),
        }),
        conditions: vec![Condition::new(ConditionType::Ready, ready, reason, message)],
    }
}

/// Reconciles order `name` once: ends a finished run, fires when due, writes status. Blocking
/// (run it on tokio's blocking pool). Returns when to look again; `None` when the order is no
/// longer applied (the sweep cleans up).
pub fn reconcile_order(
    octx: &OrderContext,
    name: &str,
) -> Result<Option<Duration>, ReconcileError> {
    let ctx = &octx.ctx;
    let model = CityModel::load_specs(&ctx.city_dir, &ctx.store)?;
    let Some(order) = model.orders.get(name) else { return Ok(None) };
    let spec = &order.spec;

    // The check runs before the lock is taken: it may take seconds, and `gc order run` of
    // this order must not wait for it. Its answer only matters when no run is open, which is
    // checked again under the lock.
    // An order never seen before has no run open, like a fresh state.
    let peeked = octx.ledger.peek(name)?.unwrap_or_else(|| OrderState::new("", Utc::now(), 0));
    let condition = match &spec.gate.condition {
        Some(c) if gate::wants_check(spec, &peeked) => {
            let timeout = c.timeout.map_or(crate::orders::exec::DEFAULT_CHECK_TIMEOUT, |t| t.get());
            Some(crate::orders::exec::run_check(&ctx.city_dir, name, &c.check, timeout))
        }
        _ => None,
    };

    let now = Utc::now();
    let held = octx.ledger.lock(name)?;
    let mut state = run::load_state(&held, &ctx.city_dir, order, now)?;
    let before = held.read()?;
    let waited = |run: &str| octx.waited_here(name, run);
    let ended = run::settle(&model, &mut state, now, &waited);

    let events = if spec.gate.event.is_some() {
        crate::events::read_since(&ctx.city_dir, state.event_cursor)?
            .iter()
            .map(EventInput::of)
            .collect()
    } else {
        Vec::new()
    };
    let inputs = Inputs { order: name.to_owned(), condition, events };
    let resync = resync_interval(&model);
    let (plan, decision) = plan(spec, &state, now, &inputs, resync);
    if let Decision::NotDue { skip, .. } = &decision {
        skip.apply(&mut state);
    }
    if before.as_ref() != Some(&state) {
        held.write(&state)?;
    }
    if let Some(ended) = &ended {
        run::record_end(&ctx.city_dir, name, ended, ACTOR);
    }
    if let Some(reason) = &plan.fire
        && let Fired::Exec(running) =
            run::fire(&held, &mut state, &model, order, reason, now, ACTOR)?
    {
        spawn_waiter(octx, name, running);
    }
    drop(held);
    ctx.store.put_status(Kind::Order, name, &status(order, &state, Utc::now()))?;
    let requeue = if state.current.is_some() { RUN_RECHECK } else { plan.requeue };
    Ok(Some(requeue))
}

/// Waits for an exec run on a thread of its own, then records its end and wakes the order.
fn spawn_waiter(octx: &OrderContext, name: &str, running: run::RunningExec) {
    let key = (name.to_owned(), running.run.id.clone());
    octx.waiting.lock().unwrap_or_else(PoisonError::into_inner).insert(key.clone());
    let (ledger, city_dir, waiting, wake) =
        (octx.ledger.clone(), octx.ctx.city_dir.clone(), octx.waiting.clone(), octx.wake.clone());
    let name = name.to_owned();
    std::thread::spawn(move || {
        if let Err(e) = run::finish_exec(&ledger, &city_dir, &name, running, ACTOR) {
            tracing::warn!("order {name}: recording the end of its run: {e}");
        }
        waiting.lock().unwrap_or_else(PoisonError::into_inner).remove(&key);
        let _ = wake.send(name);
    });
}

fn resync_interval(model: &CityModel) -> Duration {
    model.city_spec().controller.resync_interval.get().max(Duration::from_secs(1))
}

/// Forgets orders no longer applied (kube-runtime never reconciles a deleted object): kills
/// an exec still running for one, removes its state, run logs and status.
pub fn sweep(ctx: &Context, model: &CityModel) -> Result<(), ReconcileError> {
    let ledger = OrderLedger::new(&ctx.city_dir);
    let mut gone: BTreeSet<String> = ledger.names()?.into_iter().collect();
    gone.extend(ctx.store.status_names(Kind::Order)?);
    gone.retain(|name| !model.is_applied(Kind::Order, name));
    for name in gone {
        if crate::api::meta::is_valid_name(&name) {
            let held = ledger.lock(&name)?;
            if let Some(RunAction::Exec { pid, pid_start, .. }) =
                held.read().ok().flatten().and_then(|s| s.current).map(|r| r.action)
                && crate::orders::exec::alive(pid, pid_start)
            {
                crate::beads::process::kill_process_group(pid);
            }
            held.remove()?;
        }
        ctx.store.delete_status(Kind::Order, &name)?;
    }
    Ok(())
}

/// The applied orders new events concern: those gated on their types, and those whose runs
/// they are about (`gc order run` fired it, a bead of its molecule closed), so a run started
/// or ended elsewhere is seen at once.
pub fn woken_by(model: &CityModel, events: &[EventInput]) -> Vec<String> {
    model
        .orders
        .iter()
        .filter(|(name, o)| {
            events.iter().any(|e| {
                e.from_order.as_deref() == Some(name.as_str())
                    || o.spec
                        .gate
                        .event
                        .as_ref()
                        .is_some_and(|g| gate::event_matches(&g.on, &e.event_type))
            })
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// Offset just past the last complete line of the city's event log: where a follower of new
/// events starts.
pub fn log_end(city_dir: &Path) -> u64 {
    crate::events::scan_back(city_dir, |_| std::ops::ControlFlow::Break(())).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    fn json_of<T: serde::Serialize>(status: &T) -> serde_json::Value {
        serde_json::to_value(status).unwrap()
    }

    use super::*;
    use crate::api::order::{CooldownGate, CronGate, EventGate, Gate};
    use crate::orders::state::{Run, RunResult};
    use chrono::TimeZone;

    fn t(m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 8, m, 0).unwrap()
    }

    fn applied(gate: Gate) -> Applied<OrderSpec> {
        Applied {
            name: "o".into(),
            generation: 3,
            uid: "u".into(),
            spec: OrderSpec {
                gate,
                exec: Some("true".into()),
                enabled: true,
                ..OrderSpec::default()
            },
        }
    }

    fn cron(s: &str) -> Gate {
        Gate { cron: Some(CronGate { schedule: s.into() }), ..Gate::default() }
    }

    const RESYNC: Duration = Duration::from_secs(30);

    #[test]
    fn a_cron_order_is_requeued_for_its_next_slot() {
        let order = applied(cron("*/15 * * * *"));
        let state = OrderState::new("u", t(1), 0);
        let (p, _) = plan(&order.spec, &state, t(10), &Inputs::default(), RESYNC);
        assert_eq!(p.fire, None);
        assert_eq!(p.requeue, Duration::from_secs(300));
        let (p, _) = plan(&order.spec, &state, t(14), &Inputs::default(), RESYNC);
        assert_eq!(p.requeue, Duration::from_secs(60));
        let status = json_of(&status(&order, &state, t(14)));
        assert_eq!(status["nextDue"], "2026-11-24T08:15:00Z");
        assert_eq!(status["conditions"][0]["reason"], "Waiting");
        assert_eq!(status["observedGeneration"], 3);
    }

    #[test]
    fn an_open_run_is_rechecked_soon_and_shown_running() {
        let order = applied(Gate {
            event: Some(EventGate { on: "bead.closed".into() }),
            ..Gate::default()
        });
        let mut state = OrderState::new("u", t(0), 0);
        state.current = Some(Run {
            id: "4".into(),
            started: t(1),
            reason: "event bead.closed #9".into(),
            event_seq: Some(9),
            action: RunAction::Molecule { root: "gc-7".into(), store_dir: "/s".into() },
        });
        let (p, _) = plan(&order.spec, &state, t(2), &Inputs::default(), RESYNC);
        assert_eq!((p.fire, p.requeue), (None, RUN_RECHECK));
        let status = json_of(&status(&order, &state, t(2)));
        assert_eq!(status["conditions"][0]["reason"], "Running");
        assert_eq!(status["lastRun"]["molecule"], "gc-7");
        assert_eq!(next_due(&order.spec, &state, t(2)), NextDue::Not("after run 4".into()));
    }

    #[test]
    fn a_failed_last_run_makes_the_order_not_ready() {
        let order = applied(Gate {
            cooldown: Some(CooldownGate { interval: "1h".parse().unwrap() }),
            ..Gate::default()
        });
        let mut state = OrderState::new("u", t(0), 0);
        state.last_fired = Some(t(0));
        state.last_result = Some(RunResult {
            run: "1".into(),
            outcome: Outcome::Failed,
            at: t(1),
            detail: "exit status 2".into(),
        });
        let status = json_of(&status(&order, &state, t(2)));
        assert_eq!(status["conditions"][0]["status"], "False");
        assert_eq!(status["conditions"][0]["reason"], "LastRunFailed");
        assert_eq!(status["lastResult"]["outcome"], "failed");
        assert_eq!(
            next_due(&order.spec, &state, t(2)),
            NextDue::At(Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap())
        );
    }

    #[test]
    fn an_invalid_schedule_is_reported_not_fired() {
        let order = applied(cron("not a schedule"));
        let state = OrderState::new("u", t(0), 0);
        let (p, _) = plan(&order.spec, &state, t(2), &Inputs::default(), RESYNC);
        assert_eq!(p.fire, None);
        assert_eq!(
            json_of(&status(&order, &state, t(2)))["conditions"][0]["reason"],
            "InvalidGate"
        );
    }

    #[test]
    fn event_orders_are_woken_by_matching_types_only() {
        let mut model = CityModel::default();
        let mut o =
            applied(Gate { event: Some(EventGate { on: "bead.*".into() }), ..Gate::default() });
        o.name = "on-beads".into();
        model.orders.insert(o.name.clone(), o);
        model.orders.insert("timer".into(), applied(cron("* * * * *")));
        let ev = |t: &str, order: Option<&str>| EventInput {
            seq: 1,
            event_type: t.to_owned(),
            from_order: order.map(str::to_owned),
        };
        assert_eq!(woken_by(&model, &[ev("bead.closed", None)]), ["on-beads"]);
        assert!(woken_by(&model, &[ev("session.started", None)]).is_empty());
        assert_eq!(woken_by(&model, &[ev("order.fired", Some("timer"))]), ["timer"]);
    }
}
