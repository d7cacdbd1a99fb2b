//! `gc formula list|show|cook`: the city's applied formulas, their compiled step graphs, and
//! cooking one into a molecule of beads.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;

use super::present::{ListOutput, table};
use super::work_context::{WorkContext, actor};
use crate::formula::cook::GATE_FOR;
use crate::formula::vars::{parse_assignments, substitute};
use crate::formula::{CompiledFormula, CookRequest, compile_applied, cook_named};

/// See, check and cook the city's formulas (multi-step workflows).
///
/// A formula is cooked into a molecule: a root bead of type `molecule` plus one bead per
/// step, children under their step and `blocks` dependencies for `needs`, created all at
/// once or not at all. Formulas come from the applied city (`gc apply`); Gas City's own
/// `formulas/*.toml` files are read as they are.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    List(ListArgs),
    Show(ShowArgs),
    Cook(CookArgs),
}

/// List the applied formulas: steps, vars, what they extend, and whether they compile.
#[derive(Debug, clap::Args)]
struct ListArgs {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = ListOutput::Table)]
    output: ListOutput,
}

/// Show a formula's compiled step graph, in the order its steps become ready.
///
/// With --var the step text is shown with those values substituted.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  gc formula show pancakes\n  gc formula show mol-do-work \
                        --var issue=gc-12\n  gc formula show pancakes --json")]
struct ShowArgs {
    /// The formula.
    name: String,
    /// A var value, NAME=VALUE (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    vars: Vec<String>,
    /// Print the compiled formula as JSON.
    #[arg(long, conflicts_with = "dot")]
    json: bool,
    /// Draw the step graph in Graphviz's dot language (`| dot -Tsvg > graph.svg`).
    #[arg(long)]
    dot: bool,
}

/// Cook a formula: create its molecule of beads (nothing is created when anything fails).
///
/// The molecule goes to the store of --rig, else of the --route agent's rig, else the city's.
/// To cook and hand the work to an agent in one go, use `gc sling AGENT --formula NAME`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  gc formula cook pancakes\n  gc formula cook mol-do-work \
                        --var issue=gc-12 --rig api\n  gc formula cook pancakes --route worker")]
struct CookArgs {
    /// The formula.
    name: String,
    /// A var value, NAME=VALUE (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    vars: Vec<String>,
    /// The rig whose bead store gets the molecule.
    #[arg(long, value_name = "RIG")]
    rig: Option<String>,
    /// Route every bead of the molecule to this agent (metadata gc.routed_to).
    #[arg(long, value_name = "AGENT")]
    route: Option<String>,
    /// Who cooks (default: BEADS_ACTOR, BD_ACTOR, USER).
    #[arg(long)]
    actor: Option<String>,
    /// Print the created beads as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `gc formula`.
pub fn run(args: Args, city: Option<PathBuf>) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let ctx = WorkContext::load(city)?;
    match args.command {
        Command::List(a) => list(&ctx, &a),
        Command::Show(a) => show(&ctx, &a),
        Command::Cook(a) => cook(&ctx, a),
    }
}

fn list(ctx: &WorkContext, args: &ListArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut rows = Vec::new();
    let mut items = Vec::new();
    for (name, applied) in &ctx.model.formulas {
        let compiled = compile_applied(&ctx.model, name);
        let (steps, vars, usable) = match &compiled {
            Ok(f) => (f.steps.len().to_string(), f.vars.len().to_string(), "yes".to_owned()),
            Err(e) => ("-".into(), applied.spec.vars.len().to_string(), format!("no: {e}")),
        };
        let description = applied.spec.description.as_deref().unwrap_or("");
        let first_line = description.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        items.push(json!({
            "name": name,
            "steps": compiled.as_ref().map(|f| f.steps.len()).ok(),
            "vars": applied.spec.vars.keys().collect::<Vec<_>>(),
            "extends": applied.spec.extends,
            "usable": compiled.is_ok(),
            "error": compiled.as_ref().err().map(ToString::to_string),
            "description": description,
        }));
        rows.push(vec![
            name.clone(),
            steps,
            vars,
            if applied.spec.extends.is_empty() {
                "-".into()
            } else {
                applied.spec.extends.join(",")
            },
            usable,
            first_line.trim().to_owned(),
        ]);
    }
    if let Some(document) = args.output.document(&items) {
        print!("{document}");
    } else if rows.is_empty() {
        println!("No formulas applied. Put formula files in formulas/ and run `gc apply`.");
    } else {
        print!("{}", table(&["NAME", "STEPS", "VARS", "EXTENDS", "USABLE", "DESCRIPTION"], &rows));
    }
    Ok(ExitCode::SUCCESS)
}

fn show(ctx: &WorkContext, args: &ShowArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let formula = match compile_applied(&ctx.model, &args.name) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("gc: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let given = parse_assignments(&args.vars)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&formula)?);
        return Ok(ExitCode::SUCCESS);
    }
    if args.dot {
        print!("{}", dot(&formula));
        return Ok(ExitCode::SUCCESS);
    }
    // Defaults stand in for vars not given, so the text reads as a cook would make it.
    let mut values: std::collections::BTreeMap<String, String> = formula
        .vars
        .iter()
        .filter_map(|(name, v)| Some((name.clone(), v.default.clone()?)))
        .collect();
    values.extend(given);
    print!("{}", render(&formula, &values));
    Ok(ExitCode::SUCCESS)
}

/// The compiled formula for people: vars, then steps in cook order, children indented.
fn render(formula: &CompiledFormula, given: &std::collections::BTreeMap<String, String>) -> String {
    let mut out = format!("Formula:  {}\n", formula.name);
    if let Some(d) =
        formula.description.as_deref().and_then(|d| d.lines().find(|l| !l.trim().is_empty()))
    {
        out.push_str(&format!("About:    {}\n", d.trim()));
    }
    if !formula.extends.is_empty() {
        out.push_str(&format!("Extends:  {}\n", formula.extends.join(", ")));
    }
    if !formula.vars.is_empty() {
        out.push_str("\nVars:\n");
        let rows: Vec<Vec<String>> = formula
            .vars
            .iter()
            .map(|(name, v)| {
                let value = given.get(name).cloned().or_else(|| v.default.clone());
                let value = match (value, v.required) {
                    (Some(v), _) => format!("{v:?}"),
                    (None, true) => "(required)".into(),
                    (None, false) => "\"\"".into(),
                };
                let mut rule = String::new();
                if !v.allowed.is_empty() {
                    rule = format!("one of {}", v.allowed.join("|"));
                }
                if let Some(p) = &v.pattern {
                    rule = format!("{rule}{}matches {p}", if rule.is_empty() { "" } else { "; " });
                }
                vec![format!("  {name}"), value, rule, v.description.clone().unwrap_or_default()]
            })
            .collect();
        out.push_str(&table(&["  NAME", "VALUE", "RULE", "DESCRIPTION"], &rows));
    }
    out.push_str("\nSteps (in the order they become ready):\n");
    for (i, step) in formula.steps.iter().enumerate() {
        let depth = depth_of(formula, step.parent.as_deref());
        let indent = "  ".repeat(depth + 1);
        let mut line =
            format!("{indent}{:>2}. {}  {}", i + 1, step.id, substitute(&step.spec.title, given));
        if !step.needs.is_empty() {
            line.push_str(&format!("  [needs {}]", step.needs.join(", ")));
        }
        if let Some(c) = &step.spec.condition {
            line.push_str(&format!("  [if {c}]"));
        }
        let text = &step.spec;
        if let Some(gate) = &text.gate {
            let on = gate.await_id.as_deref().map(|a| format!(" {a}")).unwrap_or_default();
            let after = gate.timeout.map(|t| format!(" after {t}")).unwrap_or_default();
            line.push_str(&format!("  [gate: {}{on}{after}]", gate.kind.as_str()));
        }
        if let Some(retry) = &text.retry {
            line.push_str(&format!("  [retry: up to {} attempts]", retry.max_attempts));
        }
        if let Some(ralph) = &text.ralph {
            line.push_str(&format!(
                "  [ralph: up to {} iterations, checked by {}]",
                ralph.max_attempts, ralph.check.path
            ));
        }
        if let Some(wait) = &text.waits_for {
            line.push_str(&format!("  [waits for {wait}]"));
        }
        if text.leg.is_some() {
            line.push_str("  [leg]");
        }
        if step.from != formula.name {
            line.push_str(&format!("  (from {})", step.from));
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The step graph in dot: a node per step (children inside their parent's cluster), an edge
/// from each need to the step needing it; gates, retries, ralph checks and fan-outs marked.
fn dot(formula: &CompiledFormula) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let mut out =
        format!("digraph {} {{\n  rankdir=TB;\n  node [shape=box];\n", quote(&formula.name));
    for step in &formula.steps {
        let text = &step.spec;
        let mut label = format!("{}\\n{}", step.id, text.title);
        if let Some(gate) = &text.gate {
            label.push_str(&format!("\\n[gate: {}]", gate.kind.as_str()));
        }
        if let Some(retry) = &text.retry {
            label.push_str(&format!("\\n[retry ×{}]", retry.max_attempts));
        }
        if let Some(ralph) = &text.ralph {
            label.push_str(&format!("\\n[ralph ×{}]", ralph.max_attempts));
        }
        if let Some(fanout) = &text.on_complete {
            label.push_str(&format!("\\n[for each {}: {}]", fanout.for_each, fanout.bond));
        }
        let label = label.replace('"', "'");
        out.push_str(&format!("  {} [label=\"{label}\"];\n", quote(&step.id)));
        if let Some(parent) = &step.parent {
            out.push_str(&format!("  {} -> {} [style=dotted];\n", quote(parent), quote(&step.id)));
        }
        for need in &step.needs {
            out.push_str(&format!("  {} -> {};\n", quote(need), quote(&step.id)));
        }
    }
    out.push_str("}\n");
    out
}

fn depth_of<'a>(formula: &'a CompiledFormula, mut parent: Option<&'a str>) -> usize {
    let mut depth = 0;
    while let Some(p) = parent {
        depth += 1;
        parent = formula.steps.iter().find(|s| s.id == p).and_then(|s| s.parent.as_deref());
        if depth > formula.steps.len() {
            break;
        }
    }
    depth
}

fn cook(ctx: &WorkContext, args: CookArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let route_to = match &args.route {
        Some(agent) => Some(ctx.agent(Some(agent))?),
        None => None,
    };
    let request = CookRequest {
        vars: parse_assignments(&args.vars)?,
        route_to,
        rig: args.rig.clone(),
        actor: actor(args.actor.as_deref()),
        ..CookRequest::default()
    };
    print_cooked(ctx, &args.name, &request, args.json)
}

/// Cooks `name` with `request` and prints the molecule; shared with `gc sling --formula`.
pub(crate) fn print_cooked(
    ctx: &WorkContext,
    name: &str,
    request: &CookRequest,
    json: bool,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let molecule = match cook_named(&ctx.model, name, request) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("gc: cannot cook `{name}`: {e}");
            eprintln!("gc: nothing was created");
            return Ok(ExitCode::FAILURE);
        }
    };
    let poked = crate::notify::poke(&ctx.city_dir);
    if json {
        let out =
            json!({"root": molecule.root, "steps": molecule.steps, "skipped": molecule.skipped});
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    let routed =
        request.route_to.as_deref().map(|a| format!(", routed to {a}")).unwrap_or_default();
    let gates = molecule.steps.iter().filter(|b| b.issue_type == crate::work::gates::GATE_TYPE);
    let gated = match gates.count() {
        0 => String::new(),
        n => format!(", {n} gate(s)"),
    };
    let steps = molecule.steps.iter().filter(|b| b.meta_str(crate::formula::STEP).is_some());
    println!("Cooked {name} as {} ({} steps{gated}{routed})", molecule.root.id, steps.count());
    for bead in &molecule.steps {
        let step = match (bead.meta_str(crate::formula::STEP), bead.meta_str(GATE_FOR)) {
            (Some(step), _) => step.to_owned(),
            (None, Some(held)) => format!("gate of {held}"),
            (None, None) => String::new(),
        };
        println!("  {}  {step}: {}", bead.id, bead.title);
    }
    if !molecule.skipped.is_empty() {
        println!("  skipped (condition false): {}", molecule.skipped.join(", "));
    }
    if request.route_to.is_some() && !poked {
        println!("(no controller is running: `gc start` runs the agents)");
    }
    Ok(ExitCode::SUCCESS)
}
