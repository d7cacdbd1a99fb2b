//! `gc get`: list applied resources of a kind.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{Value, json};

use super::present::{Shown, damaged_document, damaged_row, headers, row, table};
use crate::api::Kind;
use crate::selector::Selector;
use crate::store::{Damaged, Listing, Store};

/// List applied resources of a kind, with their status.
///
/// KIND is singular, plural or short: agent, agents, ag; city, provider (pv), rig, formula
/// (fm), order (ord).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The kind to list.
    kind: String,

    /// Only this resource.
    name: Option<String>,

    /// Only resources whose labels match, e.g. `team=core,tier!=db`.
    #[arg(short = 'l', long = "selector", value_name = "SELECTOR")]
    selector: Option<Selector>,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Output::Table)]
    output: Output,
}

/// `gc get` output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Output {
    /// A table.
    Table,
    /// A table with more columns.
    Wide,
    /// JSON: the object, or a List of objects.
    Json,
    /// YAML: the object, or a List of objects.
    Yaml,
    /// `kind/name` per line.
    Name,
}

/// Runs `gc get`.
pub fn run(args: Args, city: Option<PathBuf>) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let kind = super::parse_kind(&args.kind)?;
    let store = Store::new(&super::city_dir_or_cwd(city)?);
    let listing = match &args.name {
        Some(name) => match store.get(kind, name) {
            Ok(Some(o)) => Listing { objects: vec![o], damaged: Vec::new() },
            Ok(None) => {
                eprintln!("gc: {} not found", kind.key(name));
                return Ok(ExitCode::from(1));
            }
            Err(e @ crate::store::StoreError::Corrupt { .. }) => Listing {
                objects: Vec::new(),
                damaged: vec![Damaged { kind, name: name.clone(), error: e.to_string() }],
            },
            Err(e) => return Err(e.into()),
        },
        None => store.list_kind(kind)?,
    };
    let default_provider = default_provider(&store)?;
    let selected: Vec<Shown> = listing
        .objects
        .into_iter()
        .filter(|o| args.selector.as_ref().is_none_or(|s| s.matches(&o.metadata.labels)))
        .map(|object| {
            let status = store.status_value(object.kind, &object.metadata.name)?;
            Ok(Shown { object, status, default_provider: default_provider.clone() })
        })
        .collect::<Result<_, crate::store::StoreError>>()?;
    // A damaged object's labels cannot be read: a selector never matches it.
    let damaged = if args.selector.is_some() { Vec::new() } else { listing.damaged };
    print!("{}", render(kind, &selected, &damaged, args.output, args.name.is_some()));
    for d in &damaged {
        eprintln!("gc: {} is Degraded: {}", d.key(), super::present::damaged_hint(d));
    }
    if selected.is_empty()
        && damaged.is_empty()
        && matches!(args.output, Output::Table | Output::Wide)
    {
        eprintln!("No {} found.", kind.plural());
    }
    Ok(ExitCode::SUCCESS)
}

fn render(
    kind: Kind,
    shown: &[Shown],
    damaged: &[Damaged],
    output: Output,
    single: bool,
) -> String {
    let documents = || -> Vec<Value> {
        shown.iter().map(Shown::document).chain(damaged.iter().map(damaged_document)).collect()
    };
    let document = || -> Value {
        let mut items = documents();
        if single && items.len() == 1 {
            items.remove(0)
        } else {
            json!({"apiVersion": "v1", "kind": "List", "items": items})
        }
    };
    match output {
        Output::Table | Output::Wide => {
            if shown.is_empty() && damaged.is_empty() {
                return String::new();
            }
            let wide = output == Output::Wide;
            let now = chrono::Utc::now();
            let headers = headers(kind, wide);
            let mut rows: Vec<Vec<String>> = shown.iter().map(|s| row(s, wide, now)).collect();
            rows.extend(damaged.iter().map(|d| damaged_row(d, &headers)));
            rows.sort_by(|a, b| a[0].cmp(&b[0]));
            table(&headers, &rows)
        }
        Output::Json => serde_json::to_string_pretty(&document()).expect("serialises") + "\n",
        Output::Yaml => serde_yaml_ng::to_string(&document()).unwrap_or_default(),
        Output::Name => shown
            .iter()
            .map(|s| s.object.key())
            .chain(damaged.iter().map(Damaged::key))
            .map(|key| format!("{key}\n"))
            .collect(),
    }
}

/// Every applied object of `kind` as a document with its status, as `gc get KIND -o json`
/// lists them (damaged ones as `Degraded` documents), for the dashboard's API.
pub fn documents(store: &Store, kind: Kind) -> Result<Vec<Value>, crate::store::StoreError> {
    let listing = store.list_kind(kind)?;
    let default_provider = default_provider(store)?;
    let mut out = Vec::new();
    for object in listing.objects {
        let status = store.status_value(object.kind, &object.metadata.name)?;
        out.push(Shown { object, status, default_provider: default_provider.clone() }.document());
    }
    out.extend(listing.damaged.iter().map(damaged_document));
    Ok(out)
}

/// The applied City's default provider (shown for agents that name none).
fn default_provider(store: &Store) -> Result<Option<String>, crate::store::StoreError> {
    Ok(store
        .list_kind(Kind::City)?
        .objects
        .first()
        .and_then(|c| c.spec.get("defaultProvider")?.as_str().map(str::to_owned)))
}
