//! `bd mol current|progress|show`: where a molecule (a cooked formula: a root bead and its step
//! beads) stands, as bd prints it. Agents' prompts read `bd mol current` to find their step.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::{Ctx, Failure, Report, output};
use crate::beads::Bead;
use crate::beads::model::{dep_type, status};

/// Molecules: where one stands.
#[derive(Debug, clap::Subcommand)]
pub enum MolCommand {
    /// Each step of a molecule with its state (done, current, ready, blocked, pending); without
    /// an id, the molecules of the work you have in progress.
    Current(CurrentArgs),
    /// How many of a molecule's direct steps are done.
    Progress(ProgressArgs),
    /// A molecule whole: its root, every bead and every edge between them.
    Show(ShowArgs),
    /// Delete molecules: a wisp's (ephemeral root) short-lived beads, or a whole molecule.
    /// Without `--force` (or `--json`), only says what would go.
    Burn(BurnArgs),
    /// Instantiate one of the city's formulas as a persistent molecule, a bead per step.
    Pour(super::spawn::PourArgs),
    /// Instantiate a formula as a wisp (ephemeral; only its root unless the formula sets
    /// `pour`); `wisp list` and `wisp gc` see and clean up wisps.
    Wisp(super::spawn::WispArgs),
    /// Join a formula to a molecule (spawning it), or two molecules, with an edge.
    Bond(super::spawn::BondArgs),
    /// Replace a molecule's ephemeral steps by one closed digest bead under its root.
    Squash(super::squash::SquashArgs),
}

/// `bd mol burn`.
#[derive(Debug, clap::Args)]
pub struct BurnArgs {
    /// The molecules (their roots).
    #[arg(required = true, value_name = "ID")]
    ids: Vec<String>,
    /// Delete without asking.
    #[arg(short = 'f', long, visible_short_alias = 'y')]
    force: bool,
    /// Only say what would be deleted.
    #[arg(long)]
    dry_run: bool,
}

/// `bd mol current`.
#[derive(Debug, clap::Args)]
pub struct CurrentArgs {
    /// The molecule (its root). Default: those of the work the agent has in progress.
    id: Option<String>,
    /// The agent whose work to look at. Default: the actor.
    #[arg(long = "for", value_name = "AGENT")]
    agent: Option<String>,
}

/// `bd mol progress`.
#[derive(Debug, clap::Args)]
pub struct ProgressArgs {
    /// The molecule (its root). Default: the first of the actor's work in progress.
    id: Option<String>,
}

/// `bd mol show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The molecule (its root).
    id: String,
}

/// Runs `bd mol …`.
/// `json`: `--json` was given (bd's burn acts without asking then).
pub fn run(command: MolCommand, ctx: &Ctx, json: bool) -> Result<Report, Failure> {
    // Only the verbs that read molecules load the whole store.
    let all = || ctx.store.export();
    match command {
        MolCommand::Pour(args) => super::spawn::pour(args, ctx),
        MolCommand::Wisp(args) => super::spawn::wisp(args, ctx),
        MolCommand::Bond(args) => super::spawn::bond(args, ctx),
        MolCommand::Current(args) => {
            let all = all()?;
            let graph = Graph::new(&all);
            let agent = args.agent.unwrap_or_else(|| ctx.actor.clone());
            let roots = match args.id {
                Some(id) => vec![graph.root(&id)?],
                None => graph.roots_of(&agent),
            };
            Ok(current(&graph, &roots))
        }
        MolCommand::Progress(args) => {
            let all = all()?;
            let graph = Graph::new(&all);
            let root = match args.id {
                Some(id) => graph.root(&id)?,
                None => match graph.roots_of(&ctx.actor).first() {
                    Some(root) => *root,
                    None => return Ok(Report::new(json!([]), "No molecule in progress.\n".into())),
                },
            };
            Ok(progress(&graph, root))
        }
        MolCommand::Show(args) => {
            let all = all()?;
            let graph = Graph::new(&all);
            Ok(show(&graph, graph.root(&args.id)?))
        }
        MolCommand::Burn(args) => {
            let all = all()?;
            burn(&Graph::new(&all), &args, ctx, json)
        }
        MolCommand::Squash(args) => {
            let all = all()?;
            let graph = Graph::new(&all);
            let root = graph.root(&args.id)?;
            let mut members = vec![root];
            members.extend(graph.descendants(&root.id));
            super::squash::squash(&args, ctx, &members)
        }
    }
}

/// `bd ready --gated`: molecules whose gate has closed and released a step that is ready
/// now, one per molecule (the first such gate), leaving out molecules that are hooked.
pub fn gated(ctx: &Ctx) -> Result<Report, Failure> {
    let all = ctx.store.export()?;
    let graph = Graph::new(&all);
    let ready: BTreeSet<String> =
        ctx.store.ready(&crate::beads::ReadyQuery::default())?.into_iter().map(|b| b.id).collect();
    let mut found: BTreeMap<&str, Value> = BTreeMap::new();
    let gates =
        all.iter().filter(|b| b.issue_type == crate::work::gates::GATE_TYPE && b.is_closed());
    for gate in gates {
        let released = all.iter().filter(|b| {
            ready.contains(&b.id) && b.dependencies.iter().any(|d| d.depends_on_id == gate.id)
        });
        for step in released {
            let Some(root) = graph.molecule_of(step) else { continue };
            if root.status == status::HOOKED || found.contains_key(root.id.as_str()) {
                continue;
            }
            found.insert(
                &root.id,
                json!({
                    "molecule_id": root.id,
                    "molecule_title": root.title,
                    "closed_gate": output::bead_json(gate),
                    "ready_step": output::bead_json(step),
                }),
            );
        }
    }
    let mut text = format!("Molecules ready after a gate ({}):\n", found.len());
    for entry in found.values() {
        text.push_str(&format!(
            "  {}: {} (gate {} closed; next {})\n",
            entry["molecule_id"].as_str().unwrap_or_default(),
            entry["molecule_title"].as_str().unwrap_or_default(),
            entry["closed_gate"]["id"].as_str().unwrap_or_default(),
            entry["ready_step"]["id"].as_str().unwrap_or_default(),
        ));
    }
    let molecules: Vec<Value> = found.into_values().collect();
    Ok(Report::new(json!({ "molecules": molecules, "count": molecules.len() }), text))
}

/// What burning `root` deletes: a wisp (ephemeral root) loses its ephemeral beads, and keeps
/// any persistent ones; any other molecule goes whole.
fn burn_set(graph: &Graph<'_>, root: &Bead) -> Vec<String> {
    let mut members = vec![root];
    members.extend(graph.descendants(&root.id));
    members.into_iter().filter(|b| !root.ephemeral || b.ephemeral).map(|b| b.id.clone()).collect()
}

fn burn(graph: &Graph<'_>, args: &BurnArgs, ctx: &Ctx, json: bool) -> Result<Report, Failure> {
    let preview = args.dry_run || (!args.force && !json);
    if args.ids.len() == 1 {
        let root = graph.root(&args.ids[0])?;
        let doomed = burn_set(graph, root);
        let (edges, connected) = super::delete::survey(ctx, &doomed)?;
        if preview {
            let text = format!(
                "Would burn {} ({} issue(s): {})\nRun again with --force to delete.\n",
                root.id,
                doomed.len(),
                doomed.join(", ")
            );
            return Ok(Report { json: None, text, errors: Vec::new() });
        }
        let rewritten = super::delete::remove(ctx, &doomed, &connected)?;
        let text = format!("Burned {}: deleted {}\n", root.id, doomed.join(", "));
        // bd answers a wisp with its burn result and any other molecule as a batch delete.
        let body = if root.ephemeral {
            json!({ "molecule_id": root.id, "deleted_ids": doomed, "deleted_count": doomed.len() })
        } else {
            json!({
                "deleted": doomed,
                "deleted_count": doomed.len(),
                "dependencies_removed": edges.len(),
                "references_updated": rewritten,
            })
        };
        return Ok(Report::new(body, text));
    }
    let mut results = Vec::new();
    let mut errors = Vec::new();
    let mut text = String::new();
    for id in &args.ids {
        let Ok(root) = graph.root(id) else {
            errors.push(format!("molecule '{id}' not found"));
            continue;
        };
        let doomed = burn_set(graph, root);
        if preview {
            text.push_str(&format!("Would burn {id}: {}\n", doomed.join(", ")));
            continue;
        }
        let (_, connected) = super::delete::survey(ctx, &doomed)?;
        super::delete::remove(ctx, &doomed, &connected)?;
        text.push_str(&format!("Burned {id}: deleted {}\n", doomed.join(", ")));
        results.push(
            json!({ "molecule_id": id, "deleted_ids": doomed, "deleted_count": doomed.len() }),
        );
    }
    // A batch burn succeeds when some molecules could not be found, as bd's does.
    for error in &errors {
        eprintln!("Warning: {error}");
    }
    if preview {
        text.push_str("Run again with --force to delete.\n");
        return Ok(Report { json: None, text, errors: Vec::new() });
    }
    let total: usize =
        results.iter().filter_map(|r| r["deleted_count"].as_u64()).sum::<u64>() as usize;
    let body = json!({ "results": results, "total_deleted": total, "failed_count": errors.len() });
    Ok(Report::new(body, text))
}

/// The store's beads with their parent-child structure.
struct Graph<'a> {
    by_id: BTreeMap<&'a str, &'a Bead>,
    children: BTreeMap<&'a str, Vec<&'a Bead>>,
}

impl<'a> Graph<'a> {
    fn new(all: &'a [Bead]) -> Graph<'a> {
        let mut children: BTreeMap<&str, Vec<&Bead>> = BTreeMap::new();
        for bead in all {
            for dep in bead.dependencies.iter().filter(|d| d.dep_type == dep_type::PARENT_CHILD) {
                children.entry(dep.depends_on_id.as_str()).or_default().push(bead);
            }
        }
        Graph { by_id: all.iter().map(|b| (b.id.as_str(), b)).collect(), children }
    }

    fn root(&self, id: &str) -> Result<&'a Bead, Failure> {
        self.by_id
            .get(id)
            .copied()
            .ok_or_else(|| Failure::Failed(format!("molecule '{id}' not found")))
    }

    fn parent(&self, bead: &Bead) -> Option<&'a Bead> {
        output::parent_of(bead).and_then(|p| self.by_id.get(p.as_str()).copied())
    }

    /// The molecules (roots of type molecule or epic, or labelled template) above the work
    /// `agent` has in progress, in id order.
    fn roots_of(&self, agent: &str) -> Vec<&'a Bead> {
        let mut roots = BTreeMap::new();
        let working =
            self.by_id.values().filter(|b| b.status == status::IN_PROGRESS && b.assignee == agent);
        for bead in working {
            let mut at = *bead;
            for _ in 0..50 {
                let Some(up) = self.parent(at) else { break };
                at = up;
            }
            if is_molecule_root(at) && at.id != bead.id {
                roots.insert(at.id.as_str(), at);
            }
        }
        roots.into_values().collect()
    }

    /// The molecule `bead` belongs to: its topmost ancestor, when that is a molecule root.
    fn molecule_of(&self, bead: &'a Bead) -> Option<&'a Bead> {
        let mut at = bead;
        for _ in 0..50 {
            let Some(up) = self.parent(at) else { break };
            at = up;
        }
        (at.id != bead.id && is_molecule_root(at)).then_some(at)
    }

    /// Every bead below `root`, in breadth-first order.
    fn descendants(&self, root: &str) -> Vec<&'a Bead> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::from([root]);
        let mut queue = vec![root];
        while !queue.is_empty() {
            let mut next = Vec::new();
            for id in queue {
                for child in self.children.get(id).into_iter().flatten() {
                    if seen.insert(child.id.as_str()) {
                        out.push(*child);
                        next.push(child.id.as_str());
                    }
                }
            }
            queue = next;
        }
        out
    }
}

/// Whether `bead` heads a molecule: type molecule or epic, or labelled template.
fn is_molecule_root(bead: &Bead) -> bool {
    matches!(bead.issue_type.as_str(), "molecule" | "epic")
        || bead.labels.iter().any(|l| l == "template")
}

/// A step's state within its molecule, as `bd mol current` names it.
fn step_state(step: &Bead, members: &BTreeMap<&str, &Bead>, graph: &Graph<'_>) -> &'static str {
    match step.status.as_str() {
        status::CLOSED => return "done",
        status::IN_PROGRESS => return "current",
        status::BLOCKED => return "blocked",
        _ => {}
    }
    let open = |id: &str| members.get(id).is_some_and(|b| b.status != status::CLOSED);
    let held = step.dependencies.iter().any(|d| match d.dep_type.as_str() {
        dep_type::BLOCKS | dep_type::CONDITIONAL_BLOCKS => open(&d.depends_on_id),
        dep_type::WAITS_FOR => super::triage::waiting(d, &graph.children),
        _ => false,
    });
    if held { "pending" } else { "ready" }
}

fn current(graph: &Graph<'_>, roots: &[&Bead]) -> Report {
    let mut molecules = Vec::new();
    let mut text = String::new();
    for root in roots {
        let steps = graph.descendants(&root.id);
        let members: BTreeMap<&str, &Bead> = steps.iter().map(|b| (b.id.as_str(), *b)).collect();
        let states: Vec<(&Bead, &str)> =
            steps.iter().map(|s| (*s, step_state(s, &members, graph))).collect();
        let done = states.iter().filter(|(_, s)| *s == "done").count();
        let current = states.iter().find(|(_, s)| *s == "current").map(|(b, _)| *b);
        let next = states.iter().find(|(_, s)| *s == "ready").map(|(b, _)| *b);
        let mut molecule = json!({
            "molecule_id": root.id,
            "molecule_title": root.title,
            "steps": states.iter().map(|(bead, state)| json!({
                "issue": output::bead_json(bead),
                "status": state,
                "is_current": *state == "current",
            })).collect::<Vec<_>>(),
            "completed": done,
            "total": steps.len(),
        });
        if !root.assignee.is_empty() {
            molecule["assignee"] = json!(root.assignee);
        }
        if let Some(step) = current {
            molecule["current_step"] = output::bead_json(step);
        }
        if let Some(step) = next {
            molecule["next_step"] = output::bead_json(step);
        }
        molecules.push(molecule);
        text.push_str(&format!("You're working on molecule {}\n  {}\n", root.id, root.title));
        for (bead, state) in &states {
            let here = if *state == "current" { "  <- YOU ARE HERE" } else { "" };
            text.push_str(&format!("  [{state}] {}: {}{here}\n", bead.id, bead.title));
        }
        text.push_str(&format!("Progress: {done}/{} steps complete\n", steps.len()));
        if let Some(step) = next {
            text.push_str(&format!(
                "Next ready: {}: {}\n  Start with: bd update {} --claim\n",
                step.id, step.title, step.id
            ));
        }
    }
    if roots.is_empty() {
        text.push_str("No molecule in progress.\n");
    }
    Report::new(Value::Array(molecules), text)
}

fn progress(graph: &Graph<'_>, root: &Bead) -> Report {
    let steps = graph.children.get(root.id.as_str()).map_or(&[][..], |k| k);
    let done = steps.iter().filter(|s| s.status == status::CLOSED).count();
    let working: Vec<&&Bead> = steps.iter().filter(|s| s.status == status::IN_PROGRESS).collect();
    let mut json = json!({
        "molecule_id": root.id,
        "molecule_title": root.title,
        "total": steps.len(),
        "completed": done,
        "in_progress": working.len(),
        "current_step_id": working.first().map_or("", |s| s.id.as_str()),
    });
    let mut text = format!("Molecule: {} ({})\n", root.id, root.title);
    if !steps.is_empty() {
        let percent = done as f64 * 100.0 / steps.len() as f64;
        json["percent"] = json!(percent);
        text.push_str(&format!("Progress: {done} / {} ({percent:.0}%)\n", steps.len()));
    }
    if let Some(step) = working.first() {
        text.push_str(&format!("Current step: {}\n", step.id));
    }
    Report::new(json, text)
}

fn show(graph: &Graph<'_>, root: &Bead) -> Report {
    let mut beads = vec![root];
    beads.extend(graph.descendants(&root.id));
    let ids: BTreeSet<&str> = beads.iter().map(|b| b.id.as_str()).collect();
    let edges: Vec<Value> = beads
        .iter()
        .flat_map(|b| &b.dependencies)
        .filter(|d| ids.contains(d.issue_id.as_str()) && ids.contains(d.depends_on_id.as_str()))
        .map(|d| serde_json::to_value(d).unwrap_or(Value::Null))
        .collect();
    let mut variables = BTreeSet::new();
    for bead in &beads {
        for text in [&bead.title, &bead.description, &bead.notes] {
            variables.extend(placeholders(text));
        }
    }
    let json = json!({
        "root": output::bead_json(root),
        "issues": beads.iter().map(|b| output::bead_json(b)).collect::<Vec<_>>(),
        "dependencies": edges,
        "variables": variables,
        "is_compound": false,
    });
    let text = format!(
        "Molecule {}: {}\n{}",
        root.id,
        root.title,
        output::bead_table(&beads.into_iter().cloned().collect::<Vec<_>>())
    );
    Report::new(json, text)
}

/// The `{{name}}` placeholders left in `text` (a proto not cooked yet).
fn placeholders(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        rest = &rest[start + 2..];
        let Some(end) = rest.find("}}") else { break };
        let name = rest[..end].trim();
        let plain = !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_');
        if plain && !matches!(name, "else" | "this" | "root" | "index" | "key" | "first" | "last") {
            out.push(name.to_owned());
        }
        rest = &rest[end + 2..];
    }
    out
}
