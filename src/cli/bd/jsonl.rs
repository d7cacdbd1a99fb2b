//! `bd export` and `bd import`: bd's JSONL format, one bead per line as bd writes
//! `issues.jsonl` (the same object `bd show --json` prints, edges as `dependencies`).

use std::io::Read;
use std::path::PathBuf;

use serde_json::Value;

use super::{Ctx, Failure, Report, output};
use crate::beads::Bead;
use crate::beads::model::status;

/// Write every issue, closed ones included, one JSON object per line.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Write to this file (replaced atomically) instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Read issues from JSON lines: new ids are created, known ones replaced. A malformed line is an
/// error naming its line number, and then nothing is imported.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Read this file (default: stdin).
    #[arg(short = 'i', long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// The same, as a positional argument.
    #[arg(value_name = "FILE", conflicts_with = "input")]
    file: Option<PathBuf>,
}

/// The JSONL text for `beads`: one compact object per line.
pub fn to_jsonl(beads: &[Bead]) -> String {
    beads.iter().map(|b| format!("{}\n", output::bead_json(b))).collect()
}

/// Parses JSONL into beads. Blank lines are skipped. Fails on the first bad line, naming it
/// (`line 3: …`), so that a broken file imports nothing.
pub fn parse_jsonl(text: &str) -> Result<Vec<Bead>, String> {
    let mut beads = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bead = parse_line(line).map_err(|e| format!("line {}: {e}", index + 1))?;
        beads.push(bead);
    }
    Ok(beads)
}

fn parse_line(line: &str) -> Result<Bead, String> {
    let mut value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(map) = &mut value else {
        return Err("expected a JSON object (one issue per line)".into());
    };
    // bd leaves `status` out of some exports when it is the default; everything else that is
    // missing is a real error.
    map.entry("status").or_insert_with(|| Value::String(status::OPEN.into()));
    let bead: Bead = serde_json::from_value(value).map_err(|e| e.to_string())?;
    if bead.id.trim().is_empty() {
        return Err("the issue has an empty `id`".into());
    }
    Ok(bead)
}

/// Runs `bd export`.
pub fn export(args: ExportArgs, ctx: &Ctx) -> Result<Report, Failure> {
    let beads = ctx.store.export()?;
    let text = to_jsonl(&beads);
    match args.output {
        None => Ok(Report { json: None, text, errors: Vec::new() }),
        Some(path) => {
            let path = std::path::absolute(&path)
                .map_err(|e| Failure::Failed(format!("{}: {e}", path.display())))?;
            crate::store::atomic::write(&path, text.as_bytes())
                .map_err(|e| Failure::Failed(format!("writing {}: {e}", path.display())))?;
            Ok(output::exported(beads.len(), &path.display().to_string()))
        }
    }
}

/// Runs `bd import`.
pub fn import(args: ImportArgs, ctx: &Ctx) -> Result<Report, Failure> {
    let (text, source) = match args.input.or(args.file) {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Failure::Failed(format!("reading {}: {e}", path.display())))?;
            (text, path.display().to_string())
        }
        None => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Failure::Failed(format!("reading stdin: {e}")))?;
            (text, "stdin".to_owned())
        }
    };
    let beads = parse_jsonl(&text)
        .map_err(|e| Failure::Failed(format!("{source}: {e}; nothing was imported")))?;
    let summary = ctx.store.import(beads, &ctx.actor)?;
    Ok(output::imported(&summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"id":"bd-main-idj","title":"Pattern-collapse pass","description":"x","status":"in_progress","priority":2,"issue_type":"chore","owner":"x@example.com","created_at":"2026-04-18T16:19:12Z","created_by":"matt","updated_at":"2026-04-18T16:30:16Z","started_at":"2026-04-18T16:30:16Z","dependency_count":0,"dependent_count":0,"comment_count":0}"#;

    #[test]
    fn bds_own_lines_parse_and_round_trip() {
        let beads = parse_jsonl(&format!("{LINE}\n\n")).unwrap();
        assert_eq!(beads.len(), 1);
        assert_eq!(beads[0].id, "bd-main-idj");
        assert_eq!(beads[0].started_at.as_deref(), Some("2026-04-18T16:30:16Z"));
        let again = parse_jsonl(&to_jsonl(&beads)).unwrap();
        assert_eq!(again, beads);
        assert_eq!(to_jsonl(&beads).lines().count(), 1);
    }

    #[test]
    fn a_bad_line_is_named_by_its_number() {
        let text = format!("{LINE}\n{{\"id\":\"x\"\n");
        let err = parse_jsonl(&text).unwrap_err();
        assert!(err.starts_with("line 2: not JSON"), "{err}");
        let err = parse_jsonl(&format!("\n{LINE}\n[1]\n")).unwrap_err();
        assert!(err.starts_with("line 3: expected a JSON object"), "{err}");
        let err = parse_jsonl(r#"{"id":"a","status":"open"}"#).unwrap_err();
        assert!(err.starts_with("line 1: missing field `title`"), "{err}");
    }

    #[test]
    fn a_missing_status_means_open() {
        let line = r#"{"id":"a-1","title":"t","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}"#;
        assert_eq!(parse_jsonl(line).unwrap()[0].status, "open");
    }
}
