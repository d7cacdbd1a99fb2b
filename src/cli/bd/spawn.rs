//! `bd mol pour|wisp|bond`: instantiating one of the city's formulas in this store, as bd
//! prints it. Formulas come from the city the store belongs to (what `gc apply` applied), so
//! an agent's `bd mol wisp mol-patrol` cooks the same formula `gc sling` would.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{Ctx, Failure, Report};
use crate::beads::model::dep_type;
use crate::beads::{Bead, DepDirection, NewDep, layout};
use crate::formula::cook::{Shape, batch};
use crate::formula::vars::{parse_assignments, resolve};
use crate::formula::{CompiledFormula, CookRequest, compile_applied};

/// `bd mol pour`.
#[derive(Debug, clap::Args)]
pub struct PourArgs {
    /// The formula.
    formula: String,
    /// A var value, NAME=VALUE (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    vars: Vec<String>,
    /// Only say what would be created.
    #[arg(long)]
    dry_run: bool,
    /// Assign the molecule's root to this agent.
    #[arg(long)]
    assignee: Option<String>,
}

/// `bd mol wisp`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct WispArgs {
    #[command(subcommand)]
    command: Option<WispCommand>,
    /// The formula.
    formula: Option<String>,
    /// A var value, NAME=VALUE (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    vars: Vec<String>,
    /// Only say what would be created.
    #[arg(long)]
    dry_run: bool,
    /// Only the root bead (a wisp is root-only anyway unless its formula sets `pour`).
    #[arg(long)]
    root_only: bool,
}

/// `bd mol wisp list|gc`.
#[derive(Debug, clap::Subcommand)]
pub enum WispCommand {
    /// List wisps (ephemeral beads): open ones, or all with `--all`.
    List(WispListArgs),
    /// Delete wisps not updated for a while (default 1h), with the wisps below them.
    Gc(WispGcArgs),
}

/// `bd mol wisp list`.
#[derive(Debug, clap::Args)]
pub struct WispListArgs {
    /// Closed wisps too.
    #[arg(long)]
    all: bool,
    /// Only wisps of this type.
    #[arg(long = "type", value_name = "TYPE")]
    issue_type: Option<String>,
}

/// `bd mol wisp gc`.
#[derive(Debug, clap::Args)]
pub struct WispGcArgs {
    /// How long a wisp must have been left untouched (2h, 30m, 1d).
    #[arg(long, default_value = "1h", value_parser = super::flags::duration)]
    age: std::time::Duration,
    /// Only say what would be deleted.
    #[arg(long)]
    dry_run: bool,
    /// Closed wisps older than the age too (by default only unfinished ones).
    #[arg(long)]
    all: bool,
    /// Every closed wisp, whatever its age (a preview unless `--force`).
    #[arg(long)]
    closed: bool,
    /// With `--closed`: delete without a preview.
    #[arg(short = 'f', long)]
    force: bool,
    /// Types to leave alone (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "TYPES")]
    exclude_type: Vec<String>,
}

/// `bd mol bond`.
#[derive(Debug, clap::Args)]
pub struct BondArgs {
    /// An issue (a molecule) or a formula.
    a: String,
    /// An issue (a molecule) or a formula.
    b: String,
    /// `sequential` (the second waits for the first), `parallel` (the spawned molecule goes
    /// under the other) or `conditional` (runs only if the first fails).
    #[arg(long = "type", default_value = "sequential", value_parser = ["sequential", "parallel", "conditional"])]
    bond_type: String,
    /// A var value for a spawned formula, NAME=VALUE (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    vars: Vec<String>,
    /// Only say what would be done.
    #[arg(long)]
    dry_run: bool,
    /// Spawn the formula as a wisp (default: as the molecule it joins is).
    #[arg(long, conflicts_with = "pour")]
    ephemeral: bool,
    /// Spawn the formula persistent (default: as the molecule it joins is).
    #[arg(long)]
    pour: bool,
}

/// Types `wisp gc` never collects: the city's own records.
const INFRA_TYPES: &[&str] = &["agent", "rig", "role", "message"];

/// The applied formula `name` of the city this store belongs to.
fn city_formula(ctx: &Ctx, name: &str) -> Result<CompiledFormula, Failure> {
    let city = ctx
        .dir
        .as_deref()
        .and_then(|dir| layout::StoreConfig::read(dir).ok())
        .and_then(|config| config.city)
        .ok_or_else(|| {
            Failure::Failed(format!(
                "'{name}' not found as formula: this store belongs to no city, and formulas come \
                 from a city's applied resources (gc apply)"
            ))
        })?;
    let context = crate::cli::work_context::WorkContext::load(Some(city))
        .map_err(|e| Failure::Failed(format!("loading the city's formulas: {e}")))?;
    compile_applied(&context.model, name).map_err(|e| Failure::Failed(e.to_string()))
}

/// The beads a formula instantiation creates, then creates them in one batch; `edit` may
/// change the root before (to join it to another molecule). Returns the result object bd
/// prints (`new_epic_id`, `id_mapping`, `created`) and the text.
fn spawn(
    ctx: &Ctx,
    formula: &CompiledFormula,
    vars: &[String],
    shape: Shape,
    dry_run: bool,
    edit: impl FnOnce(&mut crate::beads::NewBead),
) -> Result<(Map<String, Value>, String), Failure> {
    let given = parse_assignments(vars).map_err(|e| Failure::Usage(e.to_string()))?;
    let values = resolve(&formula.vars, &given).map_err(|errors| {
        Failure::Failed(errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
    })?;
    let request = CookRequest { actor: ctx.actor.clone(), shape, ..CookRequest::default() };
    let (mut beads, _) =
        batch(formula, &values, &request).map_err(|e| Failure::Failed(e.to_string()))?;
    edit(&mut beads[0]);
    // Each bead's key in bd's id mapping: the formula for the root, `<formula>.<step>` for a
    // step, `<formula>.gate-<step>` for a step's gate.
    let keys: Vec<String> = beads
        .iter()
        .map(|b| {
            let meta = |k: &str| b.metadata.get(k).and_then(Value::as_str);
            let attempt = b.metadata.get(crate::formula::control::ATTEMPT).is_some();
            match (meta(crate::formula::STEP), meta(crate::formula::cook::GATE_FOR)) {
                (Some(step), _) if attempt => format!("{}.{step}.attempt.1", formula.name),
                (Some(step), _) => format!("{}.{step}", formula.name),
                (None, Some(step)) => format!("{}.gate-{step}", formula.name),
                (None, None) => formula.name.clone(),
            }
        })
        .collect();
    if dry_run {
        let mut text = format!("Would create {} issue(s) from {}:\n", beads.len(), formula.name);
        for (key, bead) in keys.iter().zip(&beads) {
            text.push_str(&format!("  {key}: {}\n", bead.title));
        }
        return Ok((Map::new(), text));
    }
    let made = ctx.store.create_all(beads, &ctx.actor)?;
    let root = &made[0];
    let mapping: BTreeMap<&String, &String> = keys.iter().zip(made.iter().map(|b| &b.id)).collect();
    let mut result = Map::new();
    result.insert("new_epic_id".into(), json!(root.id));
    result.insert("id_mapping".into(), json!(mapping));
    result.insert("created".into(), json!(made.len()));
    let text = format!("Created {} ({} issue(s)) from {}\n", root.id, made.len(), formula.name);
    Ok((result, text))
}

/// Runs `bd mol pour`: a persistent bead per step, whatever the formula's phase.
pub fn pour(args: PourArgs, ctx: &Ctx) -> Result<Report, Failure> {
    let formula = city_formula(ctx, &args.formula)?;
    if formula.phase == Some(crate::api::formula::Phase::Vapor) {
        eprintln!(
            "warning: formula {} is vapor (short-lived); `bd mol wisp {}` is meant for it",
            formula.name, formula.name
        );
    }
    let assignee = args.assignee.clone();
    let (mut result, text) = spawn(ctx, &formula, &args.vars, Shape::Pour, args.dry_run, |root| {
        root.assignee = assignee;
    })?;
    if args.dry_run {
        return Ok(Report { json: None, text, errors: Vec::new() });
    }
    result.insert("attached".into(), json!(0));
    result.insert("phase".into(), json!("liquid"));
    Ok(Report::new(Value::Object(result), text))
}

/// Runs `bd mol wisp`: an ephemeral root (and steps, when the formula sets `pour`), or
/// `wisp list|gc`.
pub fn wisp(args: WispArgs, ctx: &Ctx) -> Result<Report, Failure> {
    match args.command {
        Some(WispCommand::List(list)) => return wisp_list(&list, ctx),
        Some(WispCommand::Gc(gc)) => return wisp_gc(&gc, ctx),
        None => {}
    }
    let Some(name) = args.formula else {
        return Err(Failure::Usage(
            "name a formula (bd mol wisp FORMULA), or use `wisp list` or `wisp gc`".into(),
        ));
    };
    let formula = city_formula(ctx, &name)?;
    let (mut result, text) = spawn(ctx, &formula, &args.vars, Shape::Wisp, args.dry_run, |_| {})?;
    if args.dry_run {
        return Ok(Report { json: None, text, errors: Vec::new() });
    }
    result.insert("phase".into(), json!("vapor"));
    Ok(Report::new(Value::Object(result), text))
}

fn wisp_list(args: &WispListArgs, ctx: &Ctx) -> Result<Report, Failure> {
    let now = chrono::Utc::now();
    let mut wisps: Vec<Bead> = ctx
        .store
        .export()?
        .into_iter()
        .filter(|b| b.ephemeral && (args.all || !b.is_closed()))
        .filter(|b| args.issue_type.as_ref().is_none_or(|t| &b.issue_type == t))
        .collect();
    wisps.sort_by(|a, b| b.updated_at.cmp(&a.updated_at));
    let old = |b: &Bead| age(b, now).is_some_and(|a| a > std::time::Duration::from_secs(86_400));
    let rows: Vec<Value> = wisps
        .iter()
        .map(|b| {
            let mut row = json!({
                "id": b.id, "title": b.title, "status": b.status, "priority": b.priority,
                "type": b.issue_type, "created_at": b.created_at, "updated_at": b.updated_at,
            });
            if !b.labels.is_empty() {
                row["labels"] = json!(b.labels);
            }
            if old(b) {
                row["old"] = json!(true);
            }
            row
        })
        .collect();
    let old_count = wisps.iter().filter(|b| old(b)).count();
    let mut body = json!({ "wisps": rows, "count": wisps.len() });
    if old_count > 0 {
        body["old_count"] = json!(old_count);
    }
    let mut text = format!("Wisps ({}):\n", wisps.len());
    for b in &wisps {
        text.push_str(&format!("  {} [{}] {}: {}\n", b.id, b.status, b.issue_type, b.title));
    }
    Ok(Report::new(body, text))
}

/// How long ago `bead` was last updated.
fn age(bead: &Bead, now: chrono::DateTime<chrono::Utc>) -> Option<std::time::Duration> {
    let updated = chrono::DateTime::parse_from_rfc3339(&bead.updated_at).ok()?;
    (now - updated.to_utc()).to_std().ok()
}

/// The wisps `wisp gc` collects: old enough (or closed, with `--closed`), not of an infra or
/// excluded type, and every wisp below them. Pure, so the rule is tested without a store.
fn collectable(all: &[Bead], args: &WispGcArgs, now: chrono::DateTime<chrono::Utc>) -> Vec<String> {
    let keep_type = |b: &Bead| {
        INFRA_TYPES.contains(&b.issue_type.as_str()) || args.exclude_type.contains(&b.issue_type)
    };
    let picked: Vec<&Bead> = all
        .iter()
        .filter(|b| b.ephemeral && !keep_type(b))
        .filter(|b| {
            if args.closed {
                b.is_closed()
            } else {
                (args.all || !b.is_closed()) && age(b, now).is_some_and(|a| a >= args.age)
            }
        })
        .collect();
    let mut out: Vec<String> = picked.iter().map(|b| b.id.clone()).collect();
    // Wisps hanging under a collected one go with it.
    let mut i = 0;
    while i < out.len() {
        let parent = out[i].clone();
        for child in all.iter().filter(|b| b.ephemeral && !keep_type(b)) {
            let under = child
                .dependencies
                .iter()
                .any(|d| d.dep_type == dep_type::PARENT_CHILD && d.depends_on_id == parent);
            if under && !out.contains(&child.id) {
                out.push(child.id.clone());
            }
        }
        i += 1;
    }
    out
}

fn wisp_gc(args: &WispGcArgs, ctx: &Ctx) -> Result<Report, Failure> {
    let doomed = collectable(&ctx.store.export()?, args, chrono::Utc::now());
    let preview = args.dry_run || (args.closed && !args.force);
    if doomed.is_empty() {
        let mut body = json!({ "cleaned_ids": [], "cleaned_count": 0 });
        if args.dry_run {
            body["dry_run"] = json!(true);
        }
        return Ok(Report::new(body, "No wisps to collect.\n".into()));
    }
    if preview {
        let body = json!({
            "cleaned_ids": doomed, "candidates": doomed.len(), "cleaned_count": 0, "dry_run": true,
        });
        let text = format!("Would delete {} wisp(s): {}\n", doomed.len(), doomed.join(", "));
        return Ok(Report::new(body, text));
    }
    let (edges, connected) = super::delete::survey(ctx, &doomed)?;
    let rewritten = super::delete::remove(ctx, &doomed, &connected)?;
    let body = json!({
        "deleted": doomed,
        "deleted_count": doomed.len(),
        "dependencies_removed": edges.len(),
        "references_updated": rewritten,
    });
    Ok(Report::new(body, format!("Deleted {} wisp(s): {}\n", doomed.len(), doomed.join(", "))))
}

/// The edge type a bond makes.
fn bond_edge(bond_type: &str) -> &'static str {
    match bond_type {
        "parallel" => dep_type::PARENT_CHILD,
        "conditional" => dep_type::CONDITIONAL_BLOCKS,
        _ => dep_type::BLOCKS,
    }
}

/// Runs `bd mol bond A B`: a formula with a molecule spawns the formula and joins its root to
/// the molecule in the same batch; two molecules get an edge (the second on the first).
pub fn bond(args: BondArgs, ctx: &Ctx) -> Result<Report, Failure> {
    let a = ctx.store.get(&args.a).ok();
    let b = ctx.store.get(&args.b).ok();
    let edge = bond_edge(&args.bond_type);
    match (a, b) {
        (Some(first), Some(second)) => {
            if args.dry_run {
                let text = format!("Would make {} depend on {} ({edge})\n", second.id, first.id);
                return Ok(Report { json: None, text, errors: Vec::new() });
            }
            let dep = crate::beads::Dependency {
                issue_id: second.id.clone(),
                depends_on_id: first.id.clone(),
                dep_type: edge.to_owned(),
                ..crate::beads::Dependency::default()
            };
            ctx.store.dep_add(&dep, &ctx.actor).map_err(|e| {
                Failure::Failed(format!("cannot bond {} → {}: {e}", first.id, second.id))
            })?;
            let body = json!({
                "result_id": first.id, "result_type": "compound_molecule", "bond_type": args.bond_type,
            });
            Ok(Report::new(body, format!("Bonded {} to {} ({edge})\n", second.id, first.id)))
        }
        (Some(target), None) => bond_formula(&args, ctx, &target, &args.b),
        (None, Some(target)) => bond_formula(&args, ctx, &target, &args.a),
        (None, None) => Err(Failure::Failed(format!(
            "bonding two formulas ('{}', '{}') is not supported: gc combines formulas with \
             `extends`; bond a formula to a molecule instead",
            args.a, args.b
        ))),
    }
}

fn bond_formula(args: &BondArgs, ctx: &Ctx, target: &Bead, name: &str) -> Result<Report, Failure> {
    let formula = city_formula(ctx, name)?;
    let ephemeral = if args.pour { false } else { args.ephemeral || target.ephemeral };
    let shape = if ephemeral { Shape::WispAllSteps } else { Shape::Pour };
    let edge = bond_edge(&args.bond_type);
    let (mut result, text) = spawn(ctx, &formula, &args.vars, shape, args.dry_run, |root| {
        if edge == dep_type::PARENT_CHILD {
            root.parent = Some(target.id.clone());
        } else {
            root.deps.push(NewDep::new(target.id.clone(), edge, DepDirection::NewDependsOnOther));
        }
    })?;
    if args.dry_run {
        let text = format!("{text}joined to {} ({edge})\n", target.id);
        return Ok(Report { json: None, text, errors: Vec::new() });
    }
    let body = json!({
        "result_id": target.id,
        "result_type": "compound_molecule",
        "bond_type": args.bond_type,
        "spawned": result.get("created").cloned().unwrap_or(json!(0)),
        "id_mapping": result.remove("id_mapping").unwrap_or(json!({})),
    });
    Ok(Report::new(body, format!("{text}Bonded to {} ({edge})\n", target.id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wisp(id: &str, status: &str, updated: &str, parent: Option<&str>) -> Bead {
        let mut bead = Bead {
            id: id.into(),
            status: status.into(),
            issue_type: "molecule".into(),
            updated_at: updated.into(),
            ephemeral: true,
            ..Bead::default()
        };
        if let Some(p) = parent {
            bead.dependencies.push(crate::beads::Dependency {
                issue_id: id.into(),
                depends_on_id: p.into(),
                dep_type: dep_type::PARENT_CHILD.into(),
                ..crate::beads::Dependency::default()
            });
        }
        bead
    }

    fn gc_args(age_secs: u64) -> WispGcArgs {
        WispGcArgs {
            age: std::time::Duration::from_secs(age_secs),
            dry_run: false,
            all: false,
            closed: false,
            force: false,
            exclude_type: Vec::new(),
        }
    }

    #[test]
    fn wisp_gc_takes_old_unfinished_wisps_and_what_hangs_under_them() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-02T00:00:00Z").unwrap().to_utc();
        let mut agent = wisp("gc-a", "open", "2026-01-01T00:00:00Z", None);
        agent.issue_type = "agent".into();
        let persistent =
            Bead { ephemeral: false, ..wisp("gc-p", "open", "2026-01-01T00:00:00Z", None) };
        let all = vec![
            wisp("gc-old", "open", "2026-01-01T00:00:00Z", None),
            wisp("gc-old.1", "open", "2026-01-01T23:59:00Z", Some("gc-old")),
            wisp("gc-new", "open", "2026-01-01T23:30:00Z", None),
            wisp("gc-done", "closed", "2026-01-01T00:00:00Z", None),
            agent,
            persistent,
        ];
        assert_eq!(collectable(&all, &gc_args(3600), now), ["gc-old", "gc-old.1"]);
        let all_too = WispGcArgs { all: true, ..gc_args(3600) };
        assert_eq!(collectable(&all, &all_too, now), ["gc-old", "gc-done", "gc-old.1"]);
        let closed = WispGcArgs { closed: true, ..gc_args(3600) };
        assert_eq!(collectable(&all, &closed, now), ["gc-done"]);
        let excluded = WispGcArgs { exclude_type: vec!["molecule".into()], ..gc_args(3600) };
        assert!(collectable(&all, &excluded, now).is_empty());
    }
}
