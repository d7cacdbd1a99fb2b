//! `gc import`: turn a Gas City city (`city.toml`, packs, agent directories, prompt templates,
//! formulas, orders) into this project's resource files.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::import::{self, Options, write};
use crate::validate::render::{OutputFormat, render};

/// Bring a Gas City city over: write its City, Agents, Rigs, Providers, Formulas and Orders
/// as resource files.
///
/// PATH is a Gas City city directory (with city.toml), a city.toml, or a pack (a directory
/// with pack.toml, or the pack.toml). Imported packs are read too. Rig-scoped agents are
/// stamped once per rig: for the city's [[rigs]] and for each --rig.
///
/// Prompt templates are translated from Go's text/template to Jinja; fragments are inlined.
/// Formulas and orders with features gc does not support are kept unconverted under
/// `.gc-import/unported/`.
///
/// The result is validated as `gc validate` would before anything is written, and written
/// only if valid. The report (also saved as `.gc-import/report.txt`) lists every key: where it
/// went, why it was not mapped, and keys Gas City's own schema rejects.
///
/// Exit status: 0 imported, 1 the result would not be a valid city, 2 usage or I/O error.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The Gas City city directory, city.toml, pack directory or pack.toml.
    #[arg(value_name = "PATH")]
    path: PathBuf,

    /// Where to write the new city. It must not exist or be empty. Default: a directory named
    /// after the city in the current directory.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,

    /// Print what would be written and the report; write nothing.
    #[arg(long)]
    dry_run: bool,

    /// Add a rig (repeatable): rig-scoped agents of the included packs are stamped for it, as
    /// `gc rig add` does in Gas City. PATH is relative to the current directory.
    #[arg(long = "rig", value_name = "NAME=PATH", value_parser = parse_rig)]
    rigs: Vec<(String, String)>,

    /// A pack the --rig rigs include (repeatable), relative to the imported city. Default: the
    /// city's `default_rig_includes`, else every pack it imports.
    #[arg(long = "include", value_name = "PACK_DIR")]
    includes: Vec<PathBuf>,

    /// Print only the summary and what was not mapped, not every mapped key.
    #[arg(short, long)]
    quiet: bool,
}

fn parse_rig(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, path)) if !name.is_empty() && !path.is_empty() => {
            Ok((name.to_owned(), path.to_owned()))
        }
        _ => Err(format!("expected NAME=PATH, got `{s}`")),
    }
}

/// Runs `gc import`.
pub fn run(args: Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let options = Options { rigs: args.rigs.clone(), includes: args.includes.clone() };
    let mut imported = import::import(&args.path, &options)?;
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from(&imported.city_name));
    write::check_destination(&out)?;
    let staged = if args.dry_run {
        std::env::temp_dir().join(format!("gc-import-{}", uuid::Uuid::new_v4().simple()))
    } else {
        write::staging_dir(&out)
    };
    let result = write::stage_valid(&mut imported, &staged);
    let validation = match result {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staged);
            return Err(e.into());
        }
    };
    let report = imported.report.render_sections(!args.quiet);
    if !validation.is_valid() {
        let color = std::io::stderr().is_terminal();
        eprint!("{}", render(&validation, OutputFormat::Human, color));
        let _ = std::fs::remove_dir_all(&staged);
        print!("{report}");
        eprintln!(
            "error: the imported city would not validate (errors above, paths inside the would-be city); nothing was written"
        );
        return Ok(ExitCode::from(1));
    }
    print!("{report}");
    let files = imported.files.len() + imported.copies.len();
    if args.dry_run {
        println!("\nWould write {files} files to {}:", out.display());
        for path in imported.files.keys() {
            println!("  {path}");
        }
        for (_, path) in &imported.copies {
            println!("  {path} (copied)");
        }
        std::fs::remove_dir_all(&staged)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Err(e) = write::commit(&staged, &out) {
        let _ = std::fs::remove_dir_all(&staged);
        return Err(e.into());
    }
    let shown = out.display();
    println!(
        "\nImported city `{}` into {shown} ({files} files; report in {}).\nNext: gc validate -C {shown}, then gc diff -C {shown} and gc apply -C {shown}.",
        imported.city_name,
        out.join(".gc-import/report.txt").display()
    );
    Ok(ExitCode::SUCCESS)
}
