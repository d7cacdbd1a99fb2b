//! `bd create TITLE`: a new bead, with its labels, parent and dependencies in one transaction.

use serde_json::{Map, Value};

use super::{Ctx, Failure, Report, flags, output};
use crate::beads::{NewBead, NewDep};

/// Create an issue and print it (`--json`: the bead object).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The title (or give it with --title).
    #[arg(value_name = "TITLE")]
    title: Option<String>,
    /// The title, as an alternative to the positional argument.
    #[arg(long = "title", value_name = "TITLE", conflicts_with = "title")]
    title_flag: Option<String>,
    /// Issue type: task, bug, feature, epic, chore, message, … (default task).
    #[arg(short = 't', long = "type", value_name = "TYPE", value_parser = flags::word)]
    issue_type: Option<String>,
    /// Priority 0 (highest) to 4 (lowest), or P0-P4 (default 2).
    #[arg(short = 'p', long, value_parser = flags::priority)]
    priority: Option<i64>,
    /// The body.
    #[arg(short = 'd', long, default_value = "")]
    description: String,
    /// Free-form notes.
    #[arg(long, default_value = "")]
    notes: String,
    /// When it counts as done (acceptance criteria).
    #[arg(long, default_value = "")]
    acceptance: String,
    /// Who works on it.
    #[arg(short = 'a', long)]
    assignee: Option<String>,
    /// Labels, comma-separated or repeated.
    #[arg(short = 'l', long, value_delimiter = ',', value_parser = flags::word)]
    labels: Vec<String>,
    /// Dependencies, comma-separated: ID (the new issue depends on ID), blocks:ID (ID depends on
    /// the new issue) or TYPE:ID.
    #[arg(long, value_delimiter = ',', value_name = "DEPS", value_parser = flags::new_dep)]
    deps: Vec<NewDep>,
    /// Make it a child of this issue (its id becomes PARENT.N).
    #[arg(long, value_name = "ID")]
    parent: Option<String>,
    /// Metadata as a JSON object, e.g. '{"gc.routed_to":"worker"}'.
    #[arg(long, value_name = "JSON", value_parser = flags::json_object)]
    metadata: Option<Map<String, Value>>,
    /// Use this id instead of a generated one.
    #[arg(long, value_name = "ID")]
    id: Option<String>,
    /// Not ready before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    defer: Option<String>,
    /// Create a short-lived issue (a wisp): never ready work.
    #[arg(long)]
    ephemeral: bool,
}

/// The new bead `args` describe, or a usage error when there is no title.
fn new_bead(args: Args) -> Result<NewBead, Failure> {
    let title = args.title.or(args.title_flag).map(|t| t.trim().to_owned()).unwrap_or_default();
    if title.is_empty() {
        return Err(Failure::Usage("a title is required: bd create \"TITLE\" [flags]".into()));
    }
    Ok(NewBead {
        id: args.id,
        title,
        description: args.description,
        notes: args.notes,
        acceptance: args.acceptance,
        issue_type: args.issue_type,
        priority: args.priority,
        assignee: args.assignee.filter(|a| !a.is_empty()),
        labels: args.labels,
        parent: args.parent,
        deps: args.deps,
        metadata: args.metadata.unwrap_or_default(),
        ephemeral: args.ephemeral,
        defer_until: args.defer,
    })
}

/// Runs `bd create`.
pub fn run(args: Args, ctx: &Ctx) -> Result<Report, Failure> {
    let bead = ctx.store.create(new_bead(args)?, &ctx.actor)?;
    Ok(output::created(&bead))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::beads::DepDirection;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(argv: &[&str]) -> Result<NewBead, String> {
        let cli = Cli::try_parse_from(std::iter::once("create").chain(argv.iter().copied()))
            .map_err(|e| e.to_string())?;
        new_bead(cli.args).map_err(|e| e.to_string())
    }

    #[test]
    fn every_flag_lands_in_the_new_bead() {
        let new = parse(&[
            "Fix it",
            "-t",
            "bug",
            "-p",
            "P1",
            "-d",
            "body",
            "--assignee",
            "ann",
            "-l",
            "a,b",
            "--labels",
            "c",
            "--deps",
            "gc-1,blocks:gc-2",
            "--parent",
            "gc-p",
            "--metadata",
            r#"{"k":"v"}"#,
            "--id",
            "gc-x",
        ])
        .unwrap();
        assert_eq!(new.title, "Fix it");
        assert_eq!(new.issue_type.as_deref(), Some("bug"));
        assert_eq!(new.priority, Some(1));
        assert_eq!(new.labels, ["a", "b", "c"]);
        assert_eq!(new.deps.len(), 2);
        assert_eq!(new.deps[1].direction, DepDirection::OtherDependsOnNew);
        assert_eq!(new.parent.as_deref(), Some("gc-p"));
        assert_eq!(new.metadata["k"], "v");
        assert_eq!(new.id.as_deref(), Some("gc-x"));
    }

    #[test]
    fn the_title_can_be_a_flag_but_is_required() {
        assert_eq!(parse(&["--title", "T"]).unwrap().title, "T");
        assert!(parse(&[]).unwrap_err().contains("title is required"));
        assert!(parse(&["  "]).unwrap_err().contains("title is required"));
    }

    #[test]
    fn bad_values_name_their_flag() {
        let err = parse(&["T", "--metadata", "[1]"]).unwrap_err();
        assert!(err.contains("--metadata"), "{err}");
        let err = parse(&["T", "-p", "7"]).unwrap_err();
        assert!(err.contains("--priority"), "{err}");
        let err = parse(&["T", "--deps", "blocks:"]).unwrap_err();
        assert!(err.contains("--deps"), "{err}");
    }
}
