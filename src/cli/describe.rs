//! `gc describe`: one resource in detail: spec, status conditions, recent events.

use std::fmt::Write as _;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::Value;

use super::present::{age, table};
use crate::store::Store;

/// Show one resource in detail: metadata, spec, status conditions and recent events.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// KIND/NAME (e.g. agent/mayor), or KIND followed by NAME.
    target: String,

    /// NAME, when the first argument is only a KIND.
    name: Option<String>,
}

/// How many of the object's latest events are shown.
const RECENT_EVENTS: usize = 10;

/// Runs `gc describe`.
pub fn run(args: Args, city: Option<PathBuf>) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let (kind, name) = super::parse_target(&args.target, args.name.as_deref())?;
    let city_dir = super::city_dir_or_cwd(city)?;
    let store = Store::new(&city_dir);
    let Some(object) = store.get(kind, &name)? else {
        eprintln!("gc: {} not found", kind.key(&name));
        return Ok(ExitCode::from(1));
    };
    let status = store.status(kind, &name)?;
    let now = chrono::Utc::now();
    let meta = &object.metadata;
    let pairs = |m: &std::collections::BTreeMap<String, String>| {
        if m.is_empty() {
            "<none>".to_owned()
        } else {
            m.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
        }
    };
    let mut out = String::new();
    let _ = writeln!(out, "Name:              {}", meta.name);
    let _ = writeln!(out, "Kind:              {}", kind.as_str());
    let _ = writeln!(out, "Labels:            {}", pairs(&meta.labels));
    let _ = writeln!(out, "Annotations:       {}", pairs(&meta.annotations));
    let _ = writeln!(out, "Source:            {}", object.source.as_deref().unwrap_or("<unknown>"));
    let _ = writeln!(out, "Generation:        {}", meta.generation);
    let _ = writeln!(out, "Resource Version:  {}", meta.resource_version);
    let _ = writeln!(
        out,
        "Created:           {} ({} ago)",
        meta.creation_timestamp,
        age(&meta.creation_timestamp, now)
    );
    let _ = writeln!(out, "UID:               {}", meta.uid);
    out.push_str("Spec:\n");
    out.push_str(&indent(&serde_yaml_ng::to_string(&object.spec).unwrap_or_default()));
    out.push_str("Status:\n");
    match &status {
        None => out.push_str("  <none: no controller has reported on it yet>\n"),
        Some(status) => {
            let conditions = status.get("conditions").and_then(Value::as_array);
            match conditions {
                Some(conditions) if !conditions.is_empty() => {
                    let rows: Vec<Vec<String>> = conditions
                        .iter()
                        .map(|c| {
                            let f = |k: &str| {
                                c.get(k).and_then(Value::as_str).unwrap_or("-").to_owned()
                            };
                            vec![f("type"), f("status"), f("reason"), f("message")]
                        })
                        .collect();
                    out.push_str("  Conditions:\n");
                    let table =
                        super::present::table(&["TYPE", "STATUS", "REASON", "MESSAGE"], &rows);
                    out.push_str(&indent(&indent(&table)));
                }
                _ => out.push_str("  Conditions:  <none>\n"),
            }
            let mut rest = status.clone();
            if let Value::Object(m) = &mut rest {
                m.remove("conditions");
                if !m.is_empty() {
                    out.push_str(&indent(&serde_yaml_ng::to_string(&rest).unwrap_or_default()));
                }
            }
        }
    }
    let mut events = Vec::new();
    crate::events::scan_back(&city_dir, |e| {
        if e.is_about(kind, &name) {
            events.push(e);
        }
        if events.len() < RECENT_EVENTS {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    })?;
    if events.is_empty() {
        out.push_str("Events:            <none>\n");
    } else {
        out.push_str("Events:\n");
        let rows: Vec<Vec<String>> = events
            .iter()
            .rev()
            .map(|e| {
                vec![age(&e.ts, now), e.event_type.clone(), e.reason.clone(), e.message.clone()]
            })
            .collect();
        out.push_str(&indent(&table(&["AGE", "TYPE", "REASON", "MESSAGE"], &rows)));
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}
