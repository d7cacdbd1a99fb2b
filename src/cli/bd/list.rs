//! `bd list` (issues by filter) and `bd ready` (work that can start now, optionally claimed).

use super::{Ctx, Failure, Report, flags, output};
use crate::beads::{ListQuery, ReadyQuery};

/// bd's default page size for `list`.
const LIST_LIMIT: usize = 50;
/// bd's default page size for `ready` (100 since bd 1.0.3: scripts count `bd ready --json`
/// without a limit).
const READY_LIMIT: usize = 100;

/// List issues (`--json`: an array, `[]` when none). Without --status or --all, closed issues
/// are left out.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only these statuses (comma-separated or repeated).
    #[arg(short = 's', long, value_delimiter = ',', value_parser = flags::word)]
    status: Vec<String>,
    /// Include closed issues.
    #[arg(long)]
    all: bool,
    /// Only issues assigned to this actor.
    #[arg(short = 'a', long, conflicts_with = "no_assignee")]
    assignee: Option<String>,
    /// Only unassigned issues.
    #[arg(long)]
    no_assignee: bool,
    /// Only issues carrying every one of these labels (comma-separated or repeated).
    #[arg(short = 'l', long, value_delimiter = ',', value_parser = flags::word)]
    label: Vec<String>,
    /// Only this type.
    #[arg(short = 't', long = "type", value_name = "TYPE", value_parser = flags::word)]
    issue_type: Option<String>,
    /// Only children of this issue.
    #[arg(long, value_name = "ID")]
    parent: Option<String>,
    /// Only issues whose metadata KEY equals VALUE (repeatable; all must match).
    #[arg(long = "metadata-field", value_name = "KEY=VALUE", value_parser = flags::key_value)]
    metadata_field: Vec<(String, String)>,
    /// At most this many (0: no limit).
    #[arg(short = 'n', long, default_value_t = LIST_LIMIT)]
    limit: usize,
}

impl ListArgs {
    fn query(self) -> ListQuery {
        ListQuery {
            statuses: self.status,
            all: self.all,
            assignee: self.assignee,
            no_assignee: self.no_assignee,
            labels: self.label,
            issue_type: self.issue_type,
            parent: self.parent,
            metadata: self.metadata_field,
            limit: limit(self.limit),
        }
    }
}

/// `0` means no limit, as in bd.
fn limit(n: usize) -> Option<usize> {
    (n > 0).then_some(n)
}

/// Runs `bd list`.
pub fn list(args: ListArgs, ctx: &Ctx) -> Result<Report, Failure> {
    let query = args.query();
    let beads = ctx.store.list(&query)?;
    Ok(output::listed(&beads, query.limit))
}

/// List work that can start now: open, not blocked, not deferred, not infrastructure (bd's
/// definition). `--json`: an array.
#[derive(Debug, clap::Args)]
pub struct ReadyArgs {
    /// Only work assigned to this actor.
    #[arg(short = 'a', long, conflicts_with = "claim")]
    assignee: Option<String>,
    /// Only unassigned work (wins over `--assignee`, as in bd).
    #[arg(short = 'u', long)]
    unassigned: bool,
    /// Only work carrying every one of these labels (comma-separated or repeated).
    #[arg(short = 'l', long, value_delimiter = ',', value_parser = flags::word)]
    label: Vec<String>,
    /// Only this type.
    #[arg(short = 't', long = "type", value_name = "TYPE", value_parser = flags::word)]
    issue_type: Option<String>,
    /// Only work whose metadata KEY equals VALUE (repeatable; all must match).
    #[arg(long = "metadata-field", value_name = "KEY=VALUE", value_parser = flags::key_value)]
    metadata_field: Vec<(String, String)>,
    /// At most this many (0: no limit).
    #[arg(short = 'n', long, default_value_t = READY_LIMIT)]
    limit: usize,
    /// Claim the first ready, unassigned issue atomically and print it (`[]` when there is none;
    /// still exit 0).
    #[arg(long)]
    claim: bool,
    /// Molecules whose gate has opened: for each, the closed gate and the step it released
    /// that is ready now (every other filter is ignored, as in bd).
    #[arg(long, conflicts_with = "claim")]
    gated: bool,
}

impl ReadyArgs {
    fn query(self) -> ReadyQuery {
        ReadyQuery {
            assignee: self.assignee.filter(|_| !self.unassigned),
            unassigned: self.unassigned,
            labels: self.label,
            issue_type: self.issue_type,
            metadata: self.metadata_field,
            limit: limit(self.limit),
        }
    }
}

/// The filter `bd ready ARGS` would apply (an Agent's `workQuery`): a usage error as text,
/// and `--claim` refused (a query selects work; claiming it is the agent's).
pub fn ready_query(args: &[String]) -> Result<ReadyQuery, String> {
    #[derive(clap::Parser)]
    #[command(name = "bd ready", no_binary_name = true, disable_help_flag = true)]
    struct Ready {
        #[command(flatten)]
        args: ReadyArgs,
    }
    let parsed = <Ready as clap::Parser>::try_parse_from(args).map_err(|e| {
        let text = e.to_string();
        text.lines().next().unwrap_or_default().trim_start_matches("error: ").to_owned()
    })?;
    if parsed.args.claim {
        return Err("--claim is not a filter: the agent claims what the query finds".into());
    }
    if parsed.args.gated {
        return Err("--gated lists molecules, not work: it cannot be a work query".into());
    }
    Ok(parsed.args.query())
}

/// Runs `bd ready` (and `bd ready --claim`).
pub fn ready(args: ReadyArgs, ctx: &Ctx) -> Result<Report, Failure> {
    if args.gated {
        return super::mol::gated(ctx);
    }
    let claim = args.claim;
    let query = args.query();
    if claim {
        // The store picks and claims in one transaction, so two agents never get the same bead.
        let claimed = ctx.store.claim_ready(&ReadyQuery { limit: None, ..query }, &ctx.actor)?;
        return Ok(output::claimed_ready(claimed.as_ref()));
    }
    Ok(output::ready(&ctx.store.ready(&query)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct ListCli {
        #[command(flatten)]
        args: ListArgs,
    }

    #[derive(Parser)]
    struct ReadyCli {
        #[command(flatten)]
        args: ReadyArgs,
    }

    fn list_query(argv: &[&str]) -> Result<ListQuery, String> {
        ListCli::try_parse_from(std::iter::once("list").chain(argv.iter().copied()))
            .map(|c| c.args.query())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn list_defaults_to_bds_limit_and_zero_means_all() {
        assert_eq!(list_query(&[]).unwrap().limit, Some(50));
        assert_eq!(list_query(&["--limit", "0"]).unwrap().limit, None);
        assert_eq!(list_query(&["-n", "3"]).unwrap().limit, Some(3));
        assert!(list_query(&["--limit", "-1"]).is_err());
    }

    #[test]
    fn list_filters_map_onto_the_query() {
        let q = list_query(&[
            "--status",
            "open,in_progress",
            "-l",
            "a",
            "--label",
            "b",
            "--type",
            "bug",
            "--parent",
            "gc-1",
            "--metadata-field",
            "gc.routed_to=w",
            "--no-assignee",
        ])
        .unwrap();
        assert_eq!(q.statuses, ["open", "in_progress"]);
        assert_eq!(q.labels, ["a", "b"]);
        assert_eq!(q.issue_type.as_deref(), Some("bug"));
        assert_eq!(q.parent.as_deref(), Some("gc-1"));
        assert_eq!(q.metadata, [("gc.routed_to".to_owned(), "w".to_owned())]);
        assert!(q.no_assignee);
        let err = list_query(&["--metadata-field", "nokey"]).unwrap_err();
        assert!(err.contains("--metadata-field"), "{err}");
        assert!(list_query(&["--assignee", "x", "--no-assignee"]).is_err());
    }

    #[test]
    fn ready_has_its_own_default_limit_and_claim_flag() {
        let cli = ReadyCli::try_parse_from(["ready", "--claim", "-u", "-l", "x"]).unwrap();
        assert!(cli.args.claim);
        let q = cli.args.query();
        assert!(q.unassigned);
        assert_eq!(q.limit, Some(100));
        assert_eq!(q.labels, ["x"]);
        // Claiming takes unassigned work; asking for someone's assigned work contradicts it.
        assert!(ReadyCli::try_parse_from(["ready", "--claim", "--assignee", "x"]).is_err());
    }
}
