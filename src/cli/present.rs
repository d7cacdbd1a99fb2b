//! How stored objects are shown: table columns per kind, ages, aligned tables.

use serde_json::Value;

use crate::api::Kind;
use crate::api::status::{Condition, ConditionType};
use crate::store::{Damaged, StoredObject};

/// An object with its status, as `gc get` and `gc describe` show it.
pub struct Shown {
    /// The stored object.
    pub object: StoredObject,
    /// What controllers recorded, if anything.
    pub status: Option<Value>,
    /// For agents without a provider of their own: the City's default provider.
    pub default_provider: Option<String>,
}

impl Shown {
    /// The object as a full document (`-o json|yaml`), status included when there is one.
    pub fn document(&self) -> Value {
        let mut doc = serde_json::to_value(&self.object).expect("stored objects serialise");
        if let (Value::Object(map), Some(status)) = (&mut doc, &self.status) {
            map.insert("status".into(), status.clone());
        }
        doc
    }
}

/// What to do about a damaged object, after what is wrong with it.
pub fn damaged_hint(d: &Damaged) -> String {
    format!(
        "{} (what runs for it is left alone; `gc apply` of its file rewrites it, `gc delete {}` \
         removes it)",
        d.error,
        d.key()
    )
}

/// A damaged object as a document: its kind and name, and a `Degraded` condition saying why
/// (its spec and metadata cannot be read).
pub fn damaged_document(d: &Damaged) -> Value {
    let condition = Condition::new(ConditionType::Degraded, true, "Unreadable", d.error.clone());
    serde_json::json!({
        "apiVersion": crate::api::API_VERSION,
        "kind": d.kind.as_str(),
        "metadata": {"name": d.name},
        "status": {"phase": "Degraded", "conditions": [condition]},
    })
}

/// A table row for a damaged object: its name and `Degraded` in the status column (the
/// second one for kinds without one), `-` elsewhere.
pub fn damaged_row(d: &Damaged, headers: &[&str]) -> Vec<String> {
    let status = headers.iter().position(|h| *h == "STATUS").unwrap_or(1);
    let mut r: Vec<String> = vec!["-".into(); headers.len()];
    r[0] = d.name.clone();
    r[status] = "Degraded".into();
    r
}

/// Column headers for `kind` (`wide` adds more).
pub fn headers(kind: Kind, wide: bool) -> Vec<&'static str> {
    let mut h = match kind {
        Kind::City => vec!["NAME", "PROVIDER", "SESSIONS", "BEADS", "SUSPENDED"],
        Kind::Agent => vec!["NAME", "PROVIDER", "RIG", "READY", "RESTARTS", "STATUS"],
        Kind::Rig => vec!["NAME", "PATH", "PREFIX", "SUSPENDED"],
        Kind::Provider => vec!["NAME", "COMMAND", "AVAILABLE"],
        Kind::Formula => vec!["NAME", "TYPE", "STEPS", "VARS", "USABLE"],
        Kind::Order => vec!["NAME", "GATE", "ACTION", "TARGET", "ENABLED"],
    };
    h.push("AGE");
    if wide {
        h.extend(match kind {
            Kind::Agent => vec!["SCALING", "DEPENDS-ON", "GENERATION"],
            Kind::Provider => vec!["PATH", "VERSION", "GENERATION"],
            _ => vec!["GENERATION"],
        });
    }
    h
}

fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) if s.is_empty() => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// One table row for `shown` (same length as [`headers`]).
pub fn row(shown: &Shown, wide: bool, now: chrono::DateTime<chrono::Utc>) -> Vec<String> {
    let o = &shown.object;
    let spec = &o.spec;
    let status = shown.status.as_ref();
    let st = |key: &str| text(status.and_then(|s| s.get(key)));
    let sp = |pointer: &str| text(spec.pointer(pointer));
    let mut r = vec![o.metadata.name.clone()];
    match o.kind {
        Kind::City => r.extend([
            sp("/defaultProvider"),
            sp("/session/backend"),
            sp("/beads/backend"),
            sp("/suspended"),
        ]),
        Kind::Agent => {
            let ready = match (
                status.and_then(|s| s.get("readySessions")),
                status.and_then(|s| s.get("desiredSessions")),
            ) {
                (Some(r), Some(d)) => format!("{r}/{d}"),
                _ => "-".into(),
            };
            let restarts = status
                .and_then(|s| s.get("restarts"))
                .map_or_else(|| "0".into(), |v| v.to_string());
            let provider = spec
                .get("provider")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| shown.default_provider.clone())
                .unwrap_or_else(|| "-".into());
            // A drifted session shows in the status column: a restart is coming (or is not
            // allowed), and people should see that before it happens.
            let phase = match status.and_then(|s| s.get("drift")).and_then(Value::as_str) {
                Some(drift) => format!("{} ({drift})", st("phase")),
                None => st("phase"),
            };
            r.extend([provider, sp("/rig"), ready, restarts, phase]);
        }
        Kind::Rig => {
            let prefix = spec
                .get("prefix")
                .and_then(Value::as_str)
                .map_or_else(|| crate::api::rig::derive_prefix(&o.metadata.name), str::to_owned);
            r.extend([sp("/path"), prefix, sp("/suspended")]);
        }
        Kind::Provider => r.extend([sp("/command"), st("available")]),
        Kind::Formula => {
            let count = |key: &str| {
                spec.get(key).map_or(0, |v| {
                    v.as_array().map_or_else(|| v.as_object().map_or(0, |m| m.len()), Vec::len)
                })
            };
            r.extend([
                sp("/type"),
                count("steps").to_string(),
                count("vars").to_string(),
                st("usable"),
            ]);
        }
        Kind::Order => {
            let gate = spec
                .get("gate")
                .and_then(Value::as_object)
                .and_then(|g| g.keys().next().cloned())
                .unwrap_or_else(|| "-".into());
            let action = match (spec.get("formula"), spec.get("exec")) {
                (Some(f), _) => format!("formula {}", text(Some(f))),
                (_, Some(e)) => format!("exec {}", text(Some(e))),
                _ => "-".into(),
            };
            r.extend([gate, action, sp("/target"), sp("/enabled")]);
        }
    }
    r.push(age(&o.metadata.creation_timestamp, now));
    if wide {
        match o.kind {
            Kind::Agent => {
                let scaling = match (spec.pointer("/scaling/min"), spec.pointer("/scaling/max")) {
                    (Some(min), Some(max)) => format!("{min}-{max}"),
                    _ => "1".into(),
                };
                let deps = spec
                    .get("dependsOn")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","))
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "-".into());
                r.extend([scaling, deps]);
            }
            Kind::Provider => r.extend([st("path"), st("version")]),
            _ => {}
        }
        r.push(o.metadata.generation.to_string());
    }
    r
}

/// How long ago `timestamp` was, kubectl style: `45s`, `12m`, `3h`, `5d`.
pub fn age(timestamp: &str, now: chrono::DateTime<chrono::Utc>) -> String {
    let Ok(then) = chrono::DateTime::parse_from_rfc3339(timestamp) else { return "-".into() };
    let secs = (now - then.with_timezone(&chrono::Utc)).num_seconds().max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// Left-aligned columns separated by three spaces, as kubectl prints them.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let widths = column_widths(headers, rows);
    let mut out = table_line(headers, &widths);
    for row in rows {
        out.push_str(&table_line(row, &widths));
    }
    out
}

/// The width of each column of [`table`]: its widest cell or header.
pub fn column_widths(headers: &[&str], rows: &[Vec<String>]) -> Vec<usize> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    widths
}

/// One line of a table with the given column widths (a wider cell pushes the rest right), for
/// tables printed a row at a time such as `gc events --follow`.
pub fn table_line(cells: &[impl AsRef<str>], widths: &[usize]) -> String {
    let mut s = String::new();
    for (i, cell) in cells.iter().enumerate() {
        let cell = cell.as_ref();
        if i + 1 == cells.len() {
            s.push_str(cell);
        } else {
            let w = widths.get(i).copied().unwrap_or(0);
            s.push_str(&format!("{cell:<w$}   "));
        }
    }
    s.trim_end().to_owned() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_kubectl() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-02T00:00:00Z").unwrap().to_utc();
        assert_eq!(age("2026-01-01T23:59:15Z", now), "45s");
        assert_eq!(age("2026-01-01T23:00:00Z", now), "60m");
        assert_eq!(age("2026-01-01T00:00:00Z", now), "24h");
        assert_eq!(age("2025-12-01T00:00:00Z", now), "32d");
        assert_eq!(age("garbage", now), "-");
    }

    #[test]
    fn tables_align_columns() {
        let t = table(
            &["NAME", "AGE"],
            &[vec!["mayor".into(), "5s".into()], vec!["a".into(), "1d".into()]],
        );
        assert_eq!(t, "NAME    AGE\nmayor   5s\na       1d\n");
    }
}

/// `-o` of the list commands (`gc status`, `gc session list`, `gc rig list`, `gc order
/// list|history`, `gc events`, `gc formula list`, `gc nudge status`, `gc mail inbox`): a table
/// for people, or JSON or YAML for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListOutput {
    /// An aligned table.
    Table,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

impl ListOutput {
    /// `value` as the JSON or YAML document asked for; `None` for a table.
    pub fn document<T: serde::Serialize>(self, value: &T) -> Option<String> {
        match self {
            ListOutput::Table => None,
            ListOutput::Json => {
                Some(serde_json::to_string_pretty(value).expect("documents serialise") + "\n")
            }
            ListOutput::Yaml => Some(serde_yaml_ng::to_string(value).expect("documents serialise")),
        }
    }
}
