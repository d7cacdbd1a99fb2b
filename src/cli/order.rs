//! `gc order list|run|history`: see the city's orders and when they are next due, fire one by
//! hand, and read its past runs.

use super::present::ListOutput as Output;
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};

use super::present::table;
use crate::api::Kind;
use crate::controllers::model::CityModel;
use crate::controllers::order::{action_text, gate_text, next_due};
use crate::orders::gate::{Reason, rfc3339};
use crate::orders::run::{self, Fired};
use crate::orders::state::{OrderLedger, OrderState, Outcome};
use crate::store::Store;

/// Who `gc order run`'s events and beads are from.
const ACTOR: &str = "gc order run";

/// See the city's orders, fire one by hand, or read an order's past runs.
///
/// Orders are declared in the city's files (kind: Order) and take effect once applied; the
/// controller (`gc start`) fires them when their gate opens.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    List(ListArgs),
    Run(RunArgs),
    History(HistoryArgs),
}

/// List the applied orders: gate, action, target, when each is next due, and its last result.
///
/// NEXT-DUE is a time for cooldown and cron gates (`now` when due), else what it waits for
/// (`on bead.closed`, `when its check passes`, `manual`, `disabled`, `after run N` while a
/// run has open work).
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  gc order list\n  gc order list -o json")]
struct ListArgs {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Output::Table)]
    output: Output,
}

/// Fire an order now, whatever its gate says (also when it is disabled or manual).
///
/// Refuses while the order's previous run still has open work (an exec still running, or a
/// cooked molecule with beads not closed). An exec runs here, its output printed as it comes
/// (and kept in .gc/state/orders/NAME/runs/RUN.log); exits 1 when it fails. A formula is
/// cooked and routed to the order's target; the controller records the run completed once
/// every bead of the molecule is closed. Events order.fired, order.completed and order.failed
/// are recorded as when the controller fires it.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  gc order run nightly-report\n  gc order run cleanup && gc \
                        order history cleanup")]
struct RunArgs {
    /// The order's name (`gc order list` shows them).
    #[arg(value_name = "NAME")]
    name: String,
}

/// Show an order's past runs from the event log: when each fired and why, its result, how
/// long it took and where its output is.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  gc order history nightly-report\n  gc order history \
                        on-close -o json --limit 5")]
struct HistoryArgs {
    /// The order's name (also one deleted since, whose runs are still in the log).
    #[arg(value_name = "NAME")]
    name: String,

    /// Show only the newest N runs.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Output::Table)]
    output: Output,
}

type CliResult = Result<ExitCode, Box<dyn std::error::Error>>;

/// Runs `gc order`.
pub fn run(args: Args, city: Option<PathBuf>) -> CliResult {
    let cwd = std::env::current_dir()?;
    let Some(city_dir) = super::find_city_dir(city.as_deref(), &cwd) else {
        return Err(format!(
            "no city here: {} is not inside a city directory (one holding city.yaml or .gc/); \
             run from one or pass --city DIR",
            cwd.display()
        )
        .into());
    };
    let city_dir = std::path::absolute(&city_dir)?;
    let model = CityModel::load_specs(&city_dir, &Store::new(&city_dir))?;
    match args.command {
        Command::List(a) => list(&a, &model),
        Command::Run(a) => fire_by_hand(&a, &model),
        Command::History(a) => history(&a, &model),
    }
}

/// "no order `x` is applied; applied orders: a, b".
fn unknown(model: &CityModel, name: &str) -> String {
    let known: Vec<&str> = model.orders.keys().map(String::as_str).collect();
    if known.is_empty() {
        format!(
            "no order `{name}` is applied, and no order is: declare orders (kind: Order) in the \
             city's files and run `gc apply`"
        )
    } else {
        format!("no order `{name}` is applied; applied orders: {}", known.join(", "))
    }
}

fn list(args: &ListArgs, model: &CityModel) -> CliResult {
    let ledger = OrderLedger::new(&model.dir);
    let now = Utc::now();
    let mut rows = Vec::new();
    for (name, order) in &model.orders {
        let state = ledger.peek(name).ok().flatten().filter(|s| s.uid == order.uid);
        // Never seen by a controller: as it would be when first seen now.
        let state = state.unwrap_or_else(|| OrderState::new(&order.uid, now, 0));
        let next = next_due(&order.spec, &state, now);
        let last = match (&state.current, &state.last_result) {
            (Some(run), _) => {
                json!({"run": run.id, "outcome": "running", "since": rfc3339(run.started)})
            }
            (None, Some(r)) => json!({
                "run": r.run, "outcome": r.outcome.as_str(), "at": rfc3339(r.at), "detail": r.detail,
            }),
            (None, None) => Value::Null,
        };
        rows.push(json!({
            "name": name,
            "gate": gate_text(&order.spec),
            "action": action_text(&order.spec),
            "target": order.spec.target,
            "enabled": order.spec.enabled,
            "nextDue": next.text(),
            "runs": state.runs,
            "lastResult": last,
        }));
    }
    let mut out = std::io::stdout().lock();
    if let Some(document) = args.output.document(&rows) {
        write!(out, "{document}")?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        writeln!(out, "no orders applied (declare them under orders/ and run `gc apply`)")?;
        return Ok(ExitCode::SUCCESS);
    }
    let cell = |v: &Value| v.as_str().map_or_else(|| "-".to_owned(), str::to_owned);
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let last = &r["lastResult"];
            let last = match last["outcome"].as_str() {
                None => "-".to_owned(),
                Some("running") => format!("running (run {})", cell(&last["run"])),
                Some(outcome) => {
                    format!("{outcome} (run {}, {})", cell(&last["run"]), cell(&last["at"]))
                }
            };
            vec![
                cell(&r["name"]),
                cell(&r["gate"]),
                cell(&r["action"]),
                cell(&r["target"]),
                cell(&r["nextDue"]),
                last,
            ]
        })
        .collect();
    let headers = ["NAME", "GATE", "ACTION", "TARGET", "NEXT-DUE", "LAST-RESULT"];
    write!(out, "{}", table(&headers, &table_rows))?;
    Ok(ExitCode::SUCCESS)
}

fn fire_by_hand(args: &RunArgs, model: &CityModel) -> CliResult {
    let name = args.name.as_str();
    let Some(order) = model.orders.get(name) else { return Err(unknown(model, name).into()) };
    let ledger = OrderLedger::new(&model.dir);
    let held = ledger.lock(name)?;
    let now = Utc::now();
    let mut state = run::load_state(&held, &model.dir, order, now)?;
    let before = held.read()?;
    // Nothing waits for a run in this process: a run whose supervisor died is ended here.
    let ended = run::settle(model, &mut state, now, &|_| false);
    if before.as_ref() != Some(&state) {
        held.write(&state)?;
    }
    if let Some(ended) = &ended {
        run::record_end(&model.dir, name, ended, ACTOR);
    }
    if let Some(open) = &state.current {
        let what = match &open.action {
            crate::orders::state::RunAction::Exec { pid, .. } => {
                format!("its exec (pid {pid}) is still running")
            }
            crate::orders::state::RunAction::Molecule { root, .. } => {
                format!("molecule {root} still has open beads")
            }
        };
        eprintln!(
            "gc: order {name} was not run: its previous run {} (fired {}, {}) still has open work: \
             {what}. Wait for it to end; `gc order history {name}` shows its runs.",
            open.id,
            rfc3339(open.started),
            open.reason
        );
        return Ok(ExitCode::from(1));
    }
    let fired = run::fire(&held, &mut state, model, order, &Reason::Manual, now, ACTOR)?;
    drop(held);
    let id = fired.run().id.clone();
    match fired {
        Fired::Exec(running) => {
            let log = match &running.run.action {
                crate::orders::state::RunAction::Exec { log, .. } => log.clone(),
                crate::orders::state::RunAction::Molecule { .. } => PathBuf::new(),
            };
            eprintln!("order {name}: run {id} started (output also in {})", log.display());
            let (ledger2, dir, name2) = (ledger.clone(), model.dir.clone(), name.to_owned());
            let waiter = std::thread::spawn(move || {
                run::finish_exec(&ledger2, &dir, &name2, running, ACTOR)
            });
            let mut offset = 0;
            while !waiter.is_finished() {
                offset = copy_new(&log, offset);
                std::thread::sleep(Duration::from_millis(100));
            }
            copy_new(&log, offset);
            let ended = waiter.join().map_err(|_| "waiting for the run panicked")??;
            match ended {
                Some(e) if e.outcome == Outcome::Completed => {
                    eprintln!("order {name}: run {id} completed ({})", e.detail);
                    Ok(ExitCode::SUCCESS)
                }
                Some(e) => {
                    eprintln!("order {name}: run {id} failed: {}", e.detail);
                    Ok(ExitCode::from(1))
                }
                None => {
                    eprintln!("order {name}: run {id} ended, but the order was deleted meanwhile");
                    Ok(ExitCode::from(1))
                }
            }
        }
        Fired::Molecule { molecule, .. } => {
            println!(
                "order {name}: run {id} cooked molecule {} ({} step(s)) in {}{}",
                molecule.root.id,
                molecule.steps.len(),
                molecule.store_dir.display(),
                order.spec.target.as_ref().map(|t| format!(", routed to {t}")).unwrap_or_default(),
            );
            println!(
                "the controller records order.completed once every bead of {} is closed",
                molecule.root.id
            );
            Ok(ExitCode::SUCCESS)
        }
        Fired::Failed { detail, .. } => {
            eprintln!("gc: order {name}: run {id} failed: {detail}");
            Ok(ExitCode::from(1))
        }
    }
}

/// Prints what `log` gained past `offset`; returns the new offset.
fn copy_new(log: &Path, offset: u64) -> u64 {
    let Ok(mut file) = std::fs::File::open(log) else { return offset };
    if file.seek(std::io::SeekFrom::Start(offset)).is_err() {
        return offset;
    }
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&bytes);
    let _ = out.flush();
    offset + bytes.len() as u64
}

/// One run as the event log tells it.
#[derive(Default)]
struct PastRun {
    run: String,
    fired: String,
    reason: String,
    result: Option<String>,
    detail: String,
    duration_ms: Option<i64>,
    log: Option<String>,
    molecule: Option<String>,
}

fn history(args: &HistoryArgs, model: &CityModel) -> CliResult {
    let name = args.name.as_str();
    let mut runs: Vec<PastRun> = Vec::new();
    for event in crate::events::read_all(&model.dir)? {
        if !event.is_about(Kind::Order, name) || !event.event_type.starts_with("order.") {
            continue;
        }
        let p = &event.payload;
        let text = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_owned);
        let Some(id) = text("run") else { continue };
        match event.event_type.as_str() {
            "order.fired" => runs.push(PastRun {
                run: id,
                fired: event.ts.clone(),
                reason: text("reason").unwrap_or_default(),
                ..PastRun::default()
            }),
            t @ ("order.completed" | "order.failed") => {
                // The latest run with this id: ids restart when an order is re-created.
                if let Some(r) = runs.iter_mut().rev().find(|r| r.run == id && r.result.is_none()) {
                    r.result = Some(t.trim_start_matches("order.").to_owned());
                    r.detail = text("reason").unwrap_or_default();
                    r.duration_ms = p.get("durationMs").and_then(Value::as_i64);
                    r.log = text("log");
                    r.molecule = text("molecule");
                }
            }
            _ => {}
        }
    }
    if runs.is_empty() && !model.orders.contains_key(name) {
        return Err(format!(
            "{}; no runs of `{name}` are in the event log either",
            unknown(model, name)
        )
        .into());
    }
    if let Some(limit) = args.limit {
        let excess = runs.len().saturating_sub(limit);
        runs.drain(..excess);
    }
    let ledger = OrderLedger::new(&model.dir);
    let mut out = std::io::stdout().lock();
    if args.output != Output::Table {
        let rows: Vec<Value> = runs
            .iter()
            .map(|r| {
                json!({
                    "run": r.run, "firedAt": r.fired, "reason": r.reason,
                    "result": r.result.as_deref().unwrap_or("running"), "detail": r.detail,
                    "durationMs": r.duration_ms, "log": r.log, "molecule": r.molecule,
                })
            })
            .collect();
        write!(out, "{}", args.output.document(&rows).unwrap_or_default())?;
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        writeln!(out, "order {name} has not run yet")?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let result = match &r.result {
                None => "running".to_owned(),
                Some(res) if r.detail.is_empty() => res.clone(),
                Some(res) => format!("{res}: {}", r.detail),
            };
            let duration = r.duration_ms.map_or_else(
                || "-".to_owned(),
                |ms| {
                    crate::api::Duration(Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
                        .to_string()
                },
            );
            let output = r
                .log
                .clone()
                .or_else(|| {
                    let path = ledger.log_path(name, &r.run);
                    path.exists().then(|| path.display().to_string())
                })
                .or_else(|| r.molecule.as_ref().map(|m| format!("molecule {m}")))
                .unwrap_or_else(|| "-".to_owned());
            vec![r.run.clone(), r.fired.clone(), r.reason.clone(), result, duration, output]
        })
        .collect();
    let headers = ["RUN", "FIRED", "REASON", "RESULT", "DURATION", "OUTPUT"];
    write!(out, "{}", table(&headers, &rows))?;
    Ok(ExitCode::SUCCESS)
}
