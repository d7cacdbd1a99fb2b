//! `gc diff`: what `gc apply` would change, as unified diffs and one line per changed field.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use similar::{ChangeTag, TextDiff};

use crate::apply::{Action, Change, current, load, plan};
use crate::store::Store;

/// Show what `gc apply` would change, without changing anything.
///
/// For each resource that differs, prints a unified diff of its spec (stored → files, in
/// canonical key order, so formatting-only edits show nothing) and one line per changed
/// field. Then the runtime plan: every session the controller would start, stop or restart
/// once this is applied, and every one it would leave drifted, with the reason (planned by the
/// controller's own planner against the live sessions; a pool's scaleCheck is run for it).
///
/// Exit status reflects resource differences only (the runtime plan never changes it, and a
/// plan that cannot be worked out is said in one line): 0 no difference, 1 differences, 2 or
/// more an error.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or directories to compare. Default: the whole city directory (and then resources
    /// whose files are gone show as pruned).
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    files: Vec<PathBuf>,

    /// With -f: also show resources last applied from these files that they no longer declare.
    #[arg(long)]
    prune: bool,

    /// Skip the runtime plan: no tmux, bead store or scaleCheck is looked at (for CI, where
    /// only the resource diff matters).
    #[arg(long)]
    no_runtime: bool,

    /// When to colour the diff.
    #[arg(long, value_enum, default_value_t = super::Color::Auto)]
    color: super::Color,
}

/// Runs `gc diff`.
pub fn run(args: Args, city: Option<PathBuf>) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let cwd = std::env::current_dir()?;
    let city_dir = super::find_city_dir(city.as_deref(), &cwd);
    let declared = load(&args.files, city_dir.as_deref(), &cwd, args.prune)?;
    if !super::report_invalid(&declared.validation) {
        return Ok(ExitCode::from(super::EXIT_USAGE));
    }
    let applied = current(&Store::new(&declared.city_dir), &declared)?;
    let changes = plan(&declared.objects, &applied, &declared.prune);
    let color = args.color.enabled(std::io::stdout().is_terminal());
    let changed: Vec<&Change> = changes.iter().filter(|c| c.action != Action::Unchanged).collect();
    let mut out = String::new();
    for change in &changed {
        out.push_str(&unified(change, color));
    }
    for change in &changed {
        out.push_str(&summary_lines(change));
    }
    if !args.no_runtime {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&super::runtime_plan::section(&declared.city_dir, &changes));
    }
    print!("{out}");
    let code = ExitCode::from(if changed.is_empty() { 0 } else { 1 });
    // The process ends here; skip tearing down every loaded document (see gc validate).
    std::mem::forget((declared, changes));
    Ok(code)
}

fn yaml(value: Option<&serde_json::Value>) -> String {
    value.map(|v| serde_yaml_ng::to_string(v).unwrap_or_default()).unwrap_or_default()
}

/// The unified diff of one resource's spec.
fn unified(change: &Change, color: bool) -> String {
    let before = yaml(change.applied.as_ref().map(|o| &o.spec));
    let after = yaml(change.desired.as_ref().map(|d| &d.spec));
    let key = change.key();
    let text = TextDiff::from_lines(&before, &after);
    let mut out = format!("diff {key} ({})\n", change.action.past_tense());
    let paint = |code: &str, line: String| {
        if color { format!("\x1b[{code}m{line}\x1b[0m") } else { line }
    };
    out.push_str(&paint("1", format!("--- {key} (applied)\n")));
    out.push_str(&paint("1", format!("+++ {key} (files)\n")));
    for group in text.grouped_ops(3) {
        let (first, last) = (&group[0], &group[group.len() - 1]);
        let old = first.old_range().start..last.old_range().end;
        let new = first.new_range().start..last.new_range().end;
        out.push_str(&paint(
            "36",
            format!("@@ -{},{} +{},{} @@\n", old.start + 1, old.len(), new.start + 1, new.len()),
        ));
        for op in group {
            for change in text.iter_changes(&op) {
                let line = change.value().trim_end_matches('\n');
                out.push_str(&match change.tag() {
                    ChangeTag::Delete => paint("31", format!("-{line}")),
                    ChangeTag::Insert => paint("32", format!("+{line}")),
                    ChangeTag::Equal => format!(" {line}"),
                });
                out.push('\n');
            }
        }
    }
    out
}

/// One line per changed field, or one line for a whole created or pruned resource.
fn summary_lines(change: &Change) -> String {
    let key = change.key();
    match change.action {
        Action::Create => format!("{key}: created\n"),
        Action::Prune if change.applied.is_none() => {
            format!("{key}: pruned (its stored file is damaged and no file declares it)\n")
        }
        Action::Prune => format!("{key}: pruned (no file declares it)\n"),
        Action::Repair => format!("{key}: repaired (its stored file is damaged; rewritten)\n"),
        _ => change.fields.iter().map(|f| format!("{key} {}\n", f.describe())).collect(),
    }
}
