//! `gc events`: list the city's event log, filtered, or follow it as it grows.

use super::present::ListOutput as Output;
use std::io::{self, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::present::{age, column_widths, table_line};
use crate::api::Kind;
use crate::events::{Event, Follower, scan_back};

const EXAMPLES: &str = "\
Examples:
  gc events                            every event, oldest first
  gc events --limit 20                 the last 20
  gc events -f                         the whole log, then new events as they happen
  gc events -f --limit 0               only new events
  gc events --type resource.created    one type
  gc events --type session             every session.* event (same as --type 'session.*')
  gc events --type session --type controller.started
  gc events --object agent/worker      events about one resource (kinds: agent, agents, ag, …)
  gc events --object agents            events about any agent
  gc events --since 10m                the last ten minutes (units ms, s, m, h, d: 1h30m)
  gc events --since 2026-11-24T08:00:00Z
  gc events -o json | jq .payload      one stored JSON event per line";

/// List the city's events (.gc/events.jsonl), oldest first, or follow them as they happen.
///
/// Filters combine: an event is shown when it matches one of the --type patterns (if any), the
/// --object (if given) and --since (if given). --limit keeps the last N matching events.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// After the matching events already recorded, keep printing new ones as they are
    /// appended, until interrupted (Ctrl-C).
    #[arg(short, long)]
    follow: bool,

    /// Only events of this type: exact (`resource.created`), a prefix ending in `.*`
    /// (`session.*`), or a bare first part (`session`, meaning `session` and `session.*`).
    /// Repeat to allow several.
    #[arg(long = "type", value_name = "TYPE")]
    types: Vec<String>,

    /// Only events about this object: KIND/NAME (`agent/worker`), or a KIND alone for every
    /// object of that kind. Kinds are singular, plural or short (agent, agents, ag).
    #[arg(long, value_name = "KIND/NAME")]
    object: Option<String>,

    /// Only events recorded in the last DURATION (`30s`, `10m`, `1h30m`) or since an RFC 3339
    /// time (`2026-11-24T08:00:00Z`).
    #[arg(long, value_name = "DURATION|TIME")]
    since: Option<String>,

    /// Only the last N matching events already recorded (with --follow, new events are all
    /// printed).
    #[arg(long, value_name = "N")]
    limit: Option<usize>,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Output::Table)]
    output: Output,
}

/// How often `--follow` looks at the log when no file notification arrives.
const POLL: Duration = Duration::from_secs(1);

/// Runs `gc events`.
pub fn run(args: Args, city: Option<PathBuf>) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let filter = Filter::parse(&args.types, args.object.as_deref(), args.since.as_deref())?;
    let city_dir = super::city_dir_or_cwd(city)?;
    let limit = args.limit.unwrap_or(usize::MAX);
    let mut existing = Vec::new();
    let end = scan_back(&city_dir, |e| {
        if filter.too_old(&e) {
            return ControlFlow::Break(());
        }
        if existing.len() >= limit {
            return ControlFlow::Break(());
        }
        if filter.matches(&e) {
            existing.push(e);
        }
        if existing.len() >= limit { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    })?;
    existing.reverse();
    let mut printer = Printer::new(args.output, &existing, args.follow);
    let result = (|| -> io::Result<()> {
        printer.print(&existing)?;
        if !args.follow {
            return Ok(());
        }
        let mut follower = Follower::new(&city_dir, end);
        loop {
            let new: Vec<Event> =
                follower.wait(POLL)?.into_iter().filter(|e| filter.matches(e)).collect();
            printer.print(&new)?;
        }
    })();
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        Err(e) => return Err(e.into()),
        Ok(()) => {}
    }
    if existing.is_empty() && !args.follow && args.output == Output::Table {
        eprintln!("No events found.");
    }
    Ok(ExitCode::SUCCESS)
}

/// Which events to show.
#[derive(Debug, Default)]
struct Filter {
    types: Vec<TypePattern>,
    kind: Option<Kind>,
    name: Option<String>,
    since: Option<DateTime<Utc>>,
}

/// One `--type` value.
#[derive(Debug, PartialEq)]
enum TypePattern {
    /// This type only.
    Exact(String),
    /// Types starting with this (it ends with `.`).
    Prefix(String),
    /// This first part: the type itself, or any type beginning `part.`.
    Group(String),
}

impl TypePattern {
    fn parse(s: &str) -> Result<TypePattern, String> {
        let bad = |why: &str| {
            format!(
                "--type `{s}`: {why}; write a type (resource.created), a prefix (session.*) or a \
                 first part (session)"
            )
        };
        let body = s.strip_suffix(".*").unwrap_or(s);
        if body.is_empty() {
            return Err(bad("empty"));
        }
        if let Some(c) = body.chars().find(|c| !(c.is_ascii_alphanumeric() || "._-".contains(*c))) {
            return Err(bad(&format!(
                "`{c}` is not allowed (only letters, digits, `.`, `-`, `_`, and `.*` at the end)"
            )));
        }
        if body.starts_with('.') || body.ends_with('.') || body.contains("..") {
            return Err(bad("empty part between dots"));
        }
        Ok(if s.ends_with(".*") {
            TypePattern::Prefix(format!("{body}."))
        } else if body.contains('.') {
            TypePattern::Exact(body.to_owned())
        } else {
            TypePattern::Group(body.to_owned())
        })
    }

    fn matches(&self, event_type: &str) -> bool {
        match self {
            TypePattern::Exact(t) => event_type == t,
            TypePattern::Prefix(p) => event_type.starts_with(p.as_str()),
            TypePattern::Group(g) => {
                event_type == g
                    || event_type.strip_prefix(g.as_str()).is_some_and(|rest| rest.starts_with('.'))
            }
        }
    }
}

impl Filter {
    fn parse(
        types: &[String],
        object: Option<&str>,
        since: Option<&str>,
    ) -> Result<Filter, String> {
        let mut filter = Filter {
            types: types.iter().map(|t| TypePattern::parse(t)).collect::<Result<_, _>>()?,
            ..Filter::default()
        };
        if let Some(object) = object {
            if object.contains('/') {
                let (kind, name) =
                    super::parse_target(object, None).map_err(|e| format!("--object: {e}"))?;
                filter.kind = Some(kind);
                filter.name = Some(name);
            } else {
                filter.kind =
                    Some(super::parse_kind(object).map_err(|e| format!("--object: {e}"))?);
            }
        }
        if let Some(since) = since {
            filter.since = Some(parse_since(since, Utc::now())?);
        }
        Ok(filter)
    }

    fn matches(&self, e: &Event) -> bool {
        (self.types.is_empty() || self.types.iter().any(|t| t.matches(&e.event_type)))
            && self.kind.is_none_or(|k| e.object.as_ref().is_some_and(|o| o.kind == k))
            && self.name.as_ref().is_none_or(|n| e.object.as_ref().is_some_and(|o| &o.name == n))
            && self.since.is_none_or(|since| timestamp(e).is_some_and(|ts| ts >= since))
    }

    /// Whether `e` is older than --since. Times do not go back along `seq`, so when reading
    /// backwards every event after this one is older too.
    fn too_old(&self, e: &Event) -> bool {
        match (self.since, timestamp(e)) {
            (Some(since), Some(ts)) => ts < since,
            _ => false,
        }
    }
}

fn timestamp(e: &Event) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&e.ts).ok().map(|t| t.to_utc())
}

/// `10m` (before `now`) or an RFC 3339 time.
pub fn parse_since(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if let Ok(d) = s.parse::<crate::api::Duration>() {
        let d = chrono::Duration::from_std(d.get()).map_err(|e| format!("--since `{s}`: {e}"))?;
        return now.checked_sub_signed(d).ok_or_else(|| format!("--since `{s}`: too long ago"));
    }
    DateTime::parse_from_rfc3339(s).map(|t| t.to_utc()).map_err(|_| {
        format!(
            "--since `{s}`: neither a duration (30s, 10m, 1h30m) nor an RFC 3339 time \
             (2026-11-24T08:00:00Z)"
        )
    })
}

/// Prints events as a table (widths set by the first batch, so followed rows line up) or as
/// JSON lines; flushes after each batch so `--follow` output appears at once.
struct Printer {
    output: Output,
    widths: Vec<usize>,
    header_printed: bool,
    now: DateTime<Utc>,
}

const HEADERS: [&str; 6] = ["SEQ", "AGE", "TYPE", "OBJECT", "REASON", "MESSAGE"];

impl Printer {
    fn new(output: Output, first: &[Event], follow: bool) -> Printer {
        let now = Utc::now();
        let rows: Vec<Vec<String>> = first.iter().map(|e| row(e, now)).collect();
        let mut widths = column_widths(&HEADERS, &rows);
        if follow {
            // Room for typical followed rows when the first batch is small.
            for (w, min) in widths.iter_mut().zip([3, 3, 19, 14, 10, 0]) {
                *w = (*w).max(min);
            }
        }
        Printer { output, widths, header_printed: false, now }
    }

    fn print(&mut self, events: &[Event]) -> io::Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut out = String::new();
        match self.output {
            Output::Yaml => {
                // One YAML document per event, so a follower can print as they come.
                for e in events {
                    out.push_str("---\n");
                    out.push_str(&serde_yaml_ng::to_string(e).map_err(io::Error::other)?);
                }
            }
            Output::Json => {
                for e in events {
                    out.push_str(&serde_json::to_string(e).map_err(io::Error::other)?);
                    out.push('\n');
                }
            }
            Output::Table => {
                if !self.header_printed {
                    out.push_str(&table_line(&HEADERS, &self.widths));
                    self.header_printed = true;
                }
                if self.now < Utc::now() {
                    self.now = Utc::now();
                }
                for e in events {
                    out.push_str(&table_line(&row(e, self.now), &self.widths));
                }
            }
        }
        let mut stdout = io::stdout().lock();
        stdout.write_all(out.as_bytes())?;
        stdout.flush()
    }
}

fn row(e: &Event, now: DateTime<Utc>) -> Vec<String> {
    let one_line = |s: &str| if s.is_empty() { "-".to_owned() } else { s.replace('\n', " ") };
    vec![
        e.seq.to_string(),
        age(&e.ts, now),
        e.event_type.clone(),
        e.object_key().unwrap_or_else(|| "-".to_owned()),
        one_line(&e.reason),
        one_line(&e.message),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_patterns_match_exact_prefix_and_group() {
        let p = |s: &str| TypePattern::parse(s).unwrap();
        assert!(p("resource.created").matches("resource.created"));
        assert!(!p("resource.created").matches("resource.created.x"));
        assert!(p("session.*").matches("session.crashed"));
        assert!(!p("session.*").matches("session"));
        assert!(!p("session.*").matches("sessions.x"));
        assert!(p("session").matches("session.crashed"));
        assert!(p("session").matches("session"));
        assert!(!p("session").matches("sessionx.crashed"));
        for bad in ["", ".*", "a..b", "a.", "se*ion", "a b"] {
            assert!(TypePattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn since_takes_durations_and_times() {
        let now = DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z").unwrap().to_utc();
        let t = |s: &str| parse_since(s, now).map(|t| t.to_rfc3339());
        assert_eq!(t("1h30m").unwrap(), "2026-11-24T08:30:00+00:00");
        assert_eq!(t("2026-11-24T09:00:00+01:00").unwrap(), "2026-11-24T08:00:00+00:00");
        assert!(t("yesterday").unwrap_err().contains("neither a duration"));
    }

    #[test]
    fn objects_name_a_kind_or_one_resource() {
        let f = Filter::parse(&[], Some("ag/worker"), None).unwrap();
        assert_eq!((f.kind, f.name.as_deref()), (Some(Kind::Agent), Some("worker")));
        let f = Filter::parse(&[], Some("Agents"), None).unwrap();
        assert_eq!((f.kind, f.name), (Some(Kind::Agent), None));
        assert!(Filter::parse(&[], Some("widget/x"), None).unwrap_err().contains("unknown kind"));
        assert!(Filter::parse(&[], Some("agent/"), None).is_err());
    }
}
