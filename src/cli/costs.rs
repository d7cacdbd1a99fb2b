//! `gc costs`: tokens and spend, read from the agents' own transcripts.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::present::{ListOutput, table};
use crate::controllers::model::CityModel;
use crate::store::Store;
use crate::usage::report::{self, By, CostReport, Row};

/// Show the tokens the city's agents used and what they cost, from the agents' own transcripts.
///
/// Each session's transcript (in the directory gc owns for its CLI) is read from where the last
/// reading stopped, so this is quick however long the transcripts are. Costs come from the
/// price tables in the Providers (`usage.prices`, US dollars per million tokens); models no
/// table prices count 0 and are named. Counts are kept by the hour: `--since 24h` counts from
/// the start of the hour 24 hours ago.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  gc costs\n  gc costs --since 24h --by model\n  \
                        gc costs --by day -o json | jq '.rows[] | [.key, .cost]'")]
pub struct Args {
    /// Only what was used in the last DURATION (`30m`, `24h`, `7d`) or since an RFC 3339 time.
    #[arg(long, value_name = "DURATION|TIME")]
    since: Option<String>,
    /// What each row is.
    #[arg(long, value_enum, default_value_t = By::Agent)]
    by: By,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = ListOutput::Table)]
    output: ListOutput,
}

/// Reads the transcripts into the ledger and reports it (also the dashboard's `/api/v1/costs`).
pub fn costs(
    city_dir: &Path,
    since: Option<chrono::DateTime<chrono::Utc>>,
    by: By,
) -> Result<CostReport, Box<dyn std::error::Error>> {
    let model = CityModel::load_specs(city_dir, &Store::new(city_dir))?;
    let ledger = crate::usage::ledger::scan(city_dir, &model)?;
    Ok(report::report(&ledger, &model, since, by))
}

/// Runs `gc costs`.
pub fn run(args: Args, city: Option<PathBuf>) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let city_dir = super::city_dir_or_cwd(city)?;
    let since = match &args.since {
        Some(text) => Some(super::events::parse_since(text, chrono::Utc::now())?),
        None => None,
    };
    let report = costs(&city_dir, since, args.by)?;
    if let Some(document) = args.output.document(&report) {
        print!("{document}");
        return Ok(ExitCode::SUCCESS);
    }
    if report.rows.is_empty() {
        println!("No usage counted yet (only agents whose Provider sets `usage` are counted).");
        return Ok(ExitCode::SUCCESS);
    }
    let key = match args.by {
        By::Agent => "AGENT",
        By::Rig => "RIG",
        By::Model => "MODEL",
        By::Session => "SESSION",
        By::Day => "DAY",
    };
    let headers = [key, "INPUT", "OUTPUT", "CACHE READ", "CACHE WRITE", "TOKENS", "COST"];
    let rows: Vec<Vec<String>> =
        report.rows.iter().chain(std::iter::once(&report.total)).map(cells).collect();
    print!("{}", table(&headers, &rows));
    if !report.total.unpriced.is_empty() {
        println!(
            "\nNot priced (counted as $0; add them to the Provider's usage.prices): {}",
            report.total.unpriced.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn cells(row: &Row) -> Vec<String> {
    let u = &row.usage;
    vec![
        row.key.clone(),
        u.input.to_string(),
        u.output.to_string(),
        u.cache_read.to_string(),
        u.cache_write.to_string(),
        row.tokens.to_string(),
        dollars(row.cost),
    ]
}

/// `$1.2345`: four decimals, since one agent's hour can cost a fraction of a cent.
pub fn dollars(cost: f64) -> String {
    format!("${cost:.4}")
}
