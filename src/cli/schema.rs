//! `gc schema`: print the JSON Schemas generated from the resource types.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::api::schema;

/// Print the JSON Schema (draft 2020-12) of a kind, or of any resource.
///
/// With no KIND, prints the combined schema that accepts every kind; point
/// yaml-language-server (`# yaml-language-server: $schema=…`) or taplo at it.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Kind to print: singular, plural or short name (agent, agents, ag).
    #[arg(value_name = "KIND")]
    kind: Option<String>,

    /// Write every schema file into DIR (as committed under schemas/) instead of printing.
    #[arg(long, value_name = "DIR", conflicts_with = "kind")]
    write: Option<PathBuf>,
}

/// Runs `gc schema`.
pub fn run(args: Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    if let Some(dir) = args.write {
        for (path, text) in schema::schema_files() {
            let target = dir.join(path);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&target, text)?;
            println!("wrote {}", target.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let value = match &args.kind {
        None => schema::combined_schema(),
        Some(name) => schema::kind_schema(super::parse_kind(name)?),
    };
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(ExitCode::SUCCESS)
}
