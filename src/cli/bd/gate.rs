//! `bd gate list|create|show|resolve|check`: beads of type `gate` that hold other beads until
//! something happens (see [`crate::work::gates`] for the kinds and the rules).

use std::time::Duration;

use serde_json::{Value, json};

use super::{Ctx, Failure, Report, output};
use crate::beads::model::dep_type;
use crate::beads::{Bead, DepDirection, ListQuery, NewBead, NewDep};
use crate::work::gates::{self, Checked, GATE_TYPE, Verdict};

/// Gates: beads that hold other beads until a time passes, a person says so, a message is
/// answered, a bead closes, or a GitHub run or pull request finishes.
#[derive(Debug, clap::Subcommand)]
pub enum GateCommand {
    /// List open gates (`--all`: closed ones too).
    List(ListArgs),
    /// Create a gate that blocks an issue.
    Create(CreateArgs),
    /// Show one gate.
    Show(IdArgs),
    /// Open a gate by hand (close it), releasing what it blocks.
    Resolve(ResolveArgs),
    /// Check the machine-checked gates (timer, bead, mail, gh:run, gh:pr) and close those
    /// whose condition holds.
    Check(CheckArgs),
}

/// `bd gate list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Closed gates too.
    #[arg(short, long)]
    all: bool,
    /// At most this many.
    #[arg(short = 'n', long, default_value_t = 50)]
    limit: usize,
}

/// `bd gate create`.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The issue the gate blocks.
    #[arg(long, value_name = "ID")]
    blocks: String,
    /// What it waits for: human, timer, mail, bead, gh:run, gh:pr.
    #[arg(short = 't', long = "type", default_value = "human", value_parser = ["human", "timer", "mail", "bead", "gh:run", "gh:pr"])]
    kind: String,
    /// Why (added to the description).
    #[arg(short, long)]
    reason: Option<String>,
    /// The thing waited on: a message or bead id, a run id or workflow name, a PR number.
    #[arg(long, value_name = "ID")]
    await_id: Option<String>,
    /// How long a timer runs (30m, 2h, 1d).
    #[arg(long, value_parser = super::flags::duration)]
    timeout: Option<Duration>,
}

/// A gate id.
#[derive(Debug, clap::Args)]
pub struct IdArgs {
    /// The gate.
    id: String,
}

/// `bd gate resolve`.
#[derive(Debug, clap::Args)]
pub struct ResolveArgs {
    /// The gate.
    id: String,
    /// Why it is opened.
    #[arg(short, long)]
    reason: Option<String>,
}

/// `bd gate check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Only gates of this type: timer, bead, mail, gh (any gh:*), gh:run, gh:pr, all.
    #[arg(short = 't', long = "type", value_name = "TYPE")]
    kind: Option<String>,
    /// Report without closing anything.
    #[arg(long)]
    dry_run: bool,
    /// Hand gates that will not open by themselves (a failed run, a closed PR) to a person:
    /// they get the `human` label, so `bd human list` shows them.
    #[arg(short, long)]
    escalate: bool,
    /// At most this many gates.
    #[arg(short, long, default_value_t = 100)]
    limit: usize,
}

/// Runs `bd gate …`.
pub fn run(command: GateCommand, ctx: &Ctx) -> Result<Report, Failure> {
    match command {
        GateCommand::List(args) => list(&args, ctx),
        GateCommand::Create(args) => create(args, ctx),
        GateCommand::Show(args) => {
            let gate = get_gate(ctx, &args.id)?;
            Ok(Report::new(gate_json(&gate), describe(&gate)))
        }
        GateCommand::Resolve(args) => {
            get_gate(ctx, &args.id)?;
            let closed = ctx.store.close(&args.id, args.reason.as_deref(), &ctx.actor)?;
            let mut text = format!("Gate resolved: {}\n", closed.id);
            if let Some(reason) = &args.reason {
                text.push_str(&format!("  Reason: {reason}\n"));
            }
            Ok(Report::new(gate_json(&closed), text))
        }
        GateCommand::Check(args) => check(&args, ctx),
    }
}

fn gate_json(gate: &Bead) -> Value {
    gates::gate_json(gate, output::bead_json(gate))
}

fn get_gate(ctx: &Ctx, id: &str) -> Result<Bead, Failure> {
    let gate = ctx.store.get(id).map_err(|_| Failure::Failed(format!("gate not found: {id}")))?;
    if gate.issue_type != GATE_TYPE {
        return Err(Failure::Failed(format!(
            "{id} is not a gate issue (type={})",
            gate.issue_type
        )));
    }
    Ok(gate)
}

fn describe(gate: &Bead) -> String {
    let mut text = format!(
        "{}: {}\n  Status: {}\n  Await: {}",
        gate.id,
        gate.title,
        gate.status,
        gates::await_type(gate)
    );
    if let Some(id) = gates::await_id(gate) {
        text.push_str(&format!(" {id}"));
    }
    if let Some(t) = gate.meta_str(gates::TIMEOUT) {
        text.push_str(&format!(" (timeout {t})"));
    }
    text.push('\n');
    text
}

fn open_gates(ctx: &Ctx, all: bool) -> Result<Vec<Bead>, Failure> {
    let query = ListQuery { issue_type: Some(GATE_TYPE.into()), all, ..ListQuery::default() };
    Ok(ctx.store.list(&query)?)
}

fn list(args: &ListArgs, ctx: &Ctx) -> Result<Report, Failure> {
    let mut found = open_gates(ctx, args.all)?;
    if args.limit > 0 {
        found.truncate(args.limit);
    }
    let mut text = format!("{} Gates ({}):\n", if args.all { "All" } else { "Open" }, found.len());
    for gate in &found {
        let mark = if gate.is_closed() { "●" } else { "○" };
        text.push_str(&format!("  {mark} {}", describe(gate).replacen(": ", " - ", 1)));
    }
    if found.is_empty() {
        text = "No gates.\n".into();
    }
    Ok(Report::new(Value::Array(found.iter().map(gate_json).collect()), text))
}

fn create(args: CreateArgs, ctx: &Ctx) -> Result<Report, Failure> {
    ctx.store
        .get(&args.blocks)
        .map_err(|_| Failure::Failed(format!("issue not found: {}", args.blocks)))?;
    if args.kind == "timer" && args.timeout.is_none() {
        return Err(Failure::Usage("a timer gate needs --timeout (30m, 2h, 1d)".into()));
    }
    if matches!(args.kind.as_str(), "mail" | "bead" | "gh:run" | "gh:pr") && args.await_id.is_none()
    {
        return Err(Failure::Usage(format!("a {} gate needs --await-id", args.kind)));
    }
    let timeout = args.timeout.map(|t| format!("{}s", t.as_secs()));
    let mut description = format!("Ad-hoc gate blocking {}", args.blocks);
    if let Some(reason) = &args.reason {
        description.push_str(&format!("\n\nReason: {reason}"));
    }
    let new = NewBead {
        title: gates::title(&args.kind, args.await_id.as_deref()),
        description,
        issue_type: Some(GATE_TYPE.into()),
        metadata: gates::metadata(&args.kind, args.await_id.as_deref(), timeout.as_deref()),
        deps: vec![NewDep::new(
            args.blocks.clone(),
            dep_type::BLOCKS,
            DepDirection::OtherDependsOnNew,
        )],
        ..NewBead::default()
    };
    let gate = ctx.store.create(new, &ctx.actor)?;
    let text = format!("Created gate {} blocking {}\n", gate.id, args.blocks);
    Ok(Report::new(gate_json(&gate), text))
}

fn check(args: &CheckArgs, ctx: &Ctx) -> Result<Report, Failure> {
    let options = gates::CheckOptions {
        kind: args.kind.as_deref(),
        dry_run: args.dry_run,
        escalate: args.escalate,
        skip_github: false,
        limit: args.limit,
    };
    let checked = gates::check(&*ctx.store, options, &ctx.actor)?;
    let (mut resolved, mut escalated, mut errors) = (0, 0, 0);
    let mut results = Vec::new();
    let mut text = String::new();
    for Checked { gate, verdict } in &checked {
        let (state, why) = match verdict {
            Verdict::Resolved(why) => {
                resolved += 1;
                ("resolved", why)
            }
            Verdict::Pending(why) => ("pending", why),
            Verdict::Escalate(why) => {
                escalated += 1;
                ("escalate", why)
            }
            Verdict::Error(why) => {
                errors += 1;
                ("error", why)
            }
            Verdict::Skipped => continue,
        };
        text.push_str(&format!("  {state:<9} {}: {why}\n", gate.id));
        results.push(json!({
            "id": gate.id, "await_type": gates::await_type(gate), "state": state, "reason": why,
        }));
    }
    let count = results.len();
    if count == 0 {
        text = match &args.kind {
            Some(kind) => format!("No open gates of type '{kind}' found.\n"),
            None => "No open gates found.\n".into(),
        };
    } else {
        text.push_str(&format!(
            "Checked {count} gates: {resolved} resolved, {escalated} escalated, {errors} errors\n"
        ));
    }
    let body = json!({
        "checked": count, "resolved": resolved, "escalated": escalated, "errors": errors,
        "dry_run": args.dry_run, "gates": results,
    });
    Ok(Report::new(body, text))
}
