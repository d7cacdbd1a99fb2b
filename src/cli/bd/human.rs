//! `bd human`: issues that need a person (label `human`): list them, answer one, dismiss one,
//! count them. Escalated gates land here too (`bd gate check --escalate`).

use serde_json::json;

use super::{Ctx, Failure, Report, output};
use crate::beads::{Bead, BeadUpdate, ListQuery};

/// The label that marks an issue as needing a person.
const LABEL: &str = crate::work::gates::HUMAN_LABEL;

/// Issues that need a person.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct HumanArgs {
    #[command(subcommand)]
    command: Option<HumanCommand>,
}

/// `bd human …`.
#[derive(Debug, clap::Subcommand)]
pub enum HumanCommand {
    /// List the issues labelled `human`.
    List(ListArgs),
    /// Answer one: the response goes into its notes, and it is closed ("Responded").
    Respond(RespondArgs),
    /// Close one without answering ("Dismissed").
    Dismiss(DismissArgs),
    /// How many are pending, answered and dismissed.
    Stats,
}

/// `bd human list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only issues with this status (default: every status but closed).
    #[arg(short, long)]
    status: Option<String>,
}

/// `bd human respond`.
#[derive(Debug, clap::Args)]
pub struct RespondArgs {
    /// The issue.
    id: String,
    /// The answer.
    #[arg(short, long, required = true)]
    response: String,
}

/// `bd human dismiss`.
#[derive(Debug, clap::Args)]
pub struct DismissArgs {
    /// The issue.
    id: String,
    /// Why.
    #[arg(short, long)]
    reason: Option<String>,
}

const CHEAT_SHEET: &str = "\
The commands a person needs:
  bd human list                 what is waiting for you
  bd human respond ID -r TEXT   answer it (closes it)
  bd human dismiss ID           close it unanswered
  bd ready                      work that can start now
  bd show ID                    one issue, its dependencies and dependents
  bd create \"Title\"             a new issue
  bd close ID --reason TEXT     finish one
  bd gate resolve ID            open a gate by hand
";

/// Runs `bd human …`.
pub fn run(args: HumanArgs, ctx: &Ctx) -> Result<Report, Failure> {
    match args.command {
        None => Ok(Report { json: None, text: CHEAT_SHEET.into(), errors: Vec::new() }),
        Some(HumanCommand::List(list)) => {
            let query = ListQuery {
                labels: vec![LABEL.into()],
                statuses: list.status.into_iter().collect(),
                ..ListQuery::default()
            };
            let found = ctx.store.list(&query)?;
            let mut report = output::listed(&found, None);
            report.text = if found.is_empty() {
                "No human-needed beads found.\n".into()
            } else {
                format!("Human-needed beads ({} found)\n{}", found.len(), report.text)
            };
            Ok(report)
        }
        Some(HumanCommand::Respond(respond)) => {
            let bead = answerable(ctx, &respond.id)?;
            let notes = match bead.notes.as_str() {
                "" => format!("Response: {}", respond.response),
                old => format!("{old}\n\nResponse: {}", respond.response),
            };
            let change = BeadUpdate { notes: Some(notes), ..BeadUpdate::default() };
            ctx.store.update(&bead.id, &change, &ctx.actor)?;
            let closed = ctx.store.close(&bead.id, Some("Responded"), &ctx.actor)?;
            Ok(Report::new(
                output::bead_json(&closed),
                format!("Bead {} closed with response.\n", closed.id),
            ))
        }
        Some(HumanCommand::Dismiss(dismiss)) => {
            let bead = answerable(ctx, &dismiss.id)?;
            let reason = match &dismiss.reason {
                Some(r) => format!("Dismissed: {r}"),
                None => "Dismissed".into(),
            };
            let closed = ctx.store.close(&bead.id, Some(&reason), &ctx.actor)?;
            Ok(Report::new(output::bead_json(&closed), format!("Bead {} dismissed.\n", closed.id)))
        }
        Some(HumanCommand::Stats) => {
            let query = ListQuery { labels: vec![LABEL.into()], all: true, ..ListQuery::default() };
            let all = ctx.store.list(&query)?;
            let closed: Vec<&Bead> = all.iter().filter(|b| b.is_closed()).collect();
            let dismissed =
                closed.iter().filter(|b| b.close_reason.to_lowercase().contains("dismiss")).count();
            let (pending, responded) = (all.len() - closed.len(), closed.len() - dismissed);
            let body = json!({
                "total": all.len(), "pending": pending, "responded": responded, "dismissed": dismissed,
            });
            let text = format!(
                "Human-needed beads\n  Total:     {}\n  Pending:   {pending}\n  Responded: {responded}\n  Dismissed: {dismissed}\n",
                all.len()
            );
            Ok(Report::new(body, text))
        }
    }
}

/// The issue, if it is still open to an answer (a missing `human` label only warns).
fn answerable(ctx: &Ctx, id: &str) -> Result<Bead, Failure> {
    let bead = ctx.store.get(id)?;
    if bead.is_closed() {
        return Err(Failure::Failed(format!("issue {id} is already closed")));
    }
    if !bead.labels.iter().any(|l| l == LABEL) {
        eprintln!("warning: {id} has no `{LABEL}` label");
    }
    Ok(bead)
}
