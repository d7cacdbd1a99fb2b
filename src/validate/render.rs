//! Printing a [`Validation`]: human (miette snippets with carets), JSON, GitHub annotations.

use std::fmt::{self, Write as _};

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};
use serde::Serialize;

use super::{Diagnostic, Severity, Validation};

/// Output formats of `gc validate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Snippets with a caret under each problem and a help line.
    Human,
    /// A JSON array, one object per finding.
    Json,
    /// GitHub Actions workflow commands (`::error file=…`), shown inline on pull requests.
    Github,
    /// SARIF 2.1.0, which code-scanning tools (GitHub code scanning, GitLab, IDEs) show inline.
    Sarif,
}

/// Renders `validation` in `format`; `color` applies to the human format only.
pub fn render(validation: &Validation, format: OutputFormat, color: bool) -> String {
    match format {
        OutputFormat::Human => human(validation, color),
        OutputFormat::Json => json(validation),
        OutputFormat::Github => github(validation),
        OutputFormat::Sarif => sarif(validation),
    }
}

fn human(validation: &Validation, color: bool) -> String {
    let theme = if color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
    let mut out = String::new();
    for d in &validation.diagnostics {
        let report = MietteView::new(d);
        // Writing to a String cannot fail.
        let _ = handler.render_report(&mut out, &report);
        out.push('\n');
    }
    let _ = writeln!(out, "{}", summary(validation));
    out
}

/// The last line of human output.
pub fn summary(validation: &Validation) -> String {
    let (errors, warnings) = (validation.error_count(), validation.warning_count());
    let files = plural(validation.files, "file");
    if errors == 0 {
        let warn = if warnings > 0 {
            format!(" ({})", plural(warnings, "warning"))
        } else {
            String::new()
        };
        format!("✓ {} in {files} valid{warn}", plural(validation.documents, "resource"))
    } else {
        format!("✗ {}, {} in {files}", plural(errors, "error"), plural(warnings, "warning"))
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") }
}

/// One finding as `--output json` prints it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonDiagnostic<'a> {
    file: Option<&'a str>,
    line: Option<usize>,
    column: Option<usize>,
    end_line: Option<usize>,
    end_column: Option<usize>,
    pointer: Option<&'a str>,
    severity: Severity,
    code: &'static str,
    message: &'a str,
    help: Option<&'a str>,
}

fn json(validation: &Validation) -> String {
    let items: Vec<JsonDiagnostic<'_>> = validation
        .diagnostics
        .iter()
        .map(|d| {
            let pos = d.position();
            let end = d.end_position();
            JsonDiagnostic {
                file: pos.map(|p| p.0),
                line: pos.map(|p| p.1),
                column: pos.map(|p| p.2),
                end_line: end.map(|e| e.0),
                end_column: end.map(|e| e.1),
                pointer: d.pointer.as_deref(),
                severity: d.severity,
                code: d.code.as_str(),
                message: &d.message,
                help: d.help.as_deref(),
            }
        })
        .collect();
    serde_json::to_string_pretty(&items).expect("diagnostics serialise") + "\n"
}

fn github(validation: &Validation) -> String {
    let mut out = String::new();
    for d in &validation.diagnostics {
        let level = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut props = Vec::new();
        if let Some((file, line, col)) = d.position() {
            props.push(format!("file={}", escape_property(file)));
            props.push(format!("line={line}"));
            props.push(format!("col={col}"));
            if let Some((end_line, end_col)) = d.end_position() {
                props.push(format!("endLine={end_line}"));
                props.push(format!("endColumn={end_col}"));
            }
        }
        props.push(format!(
            "title={}",
            escape_property(&format!("gc validate: {}", d.code.as_str()))
        ));
        let mut message = d.message.clone();
        if let Some(help) = &d.help {
            message.push_str("\nhelp: ");
            message.push_str(help);
        }
        let _ = writeln!(out, "::{level} {}::{}", props.join(","), escape_data(&message));
    }
    let _ = writeln!(out, "{}", summary(validation));
    out
}

/// One SARIF 2.1.0 log with one run: gc as the tool, a rule per finding code used, a result
/// per finding with its region (1-based lines and columns, as SARIF counts them).
fn sarif(validation: &Validation) -> String {
    use serde_json::json;
    let mut codes: Vec<&str> = validation.diagnostics.iter().map(|d| d.code.as_str()).collect();
    codes.sort_unstable();
    codes.dedup();
    let rules: Vec<serde_json::Value> = codes
        .iter()
        .map(|code| json!({ "id": code, "shortDescription": { "text": format!("gc validate: {code}") } }))
        .collect();
    let results: Vec<serde_json::Value> = validation
        .diagnostics
        .iter()
        .map(|d| {
            let level = match d.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            let mut text = d.message.clone();
            if let Some(help) = &d.help {
                text.push_str("\nhelp: ");
                text.push_str(help);
            }
            let rule_index = codes.iter().position(|c| *c == d.code.as_str()).unwrap_or(0);
            let mut result = json!({
                "ruleId": d.code.as_str(),
                "ruleIndex": rule_index,
                "level": level,
                "message": { "text": text },
            });
            if let Some((file, line, column)) = d.position() {
                let mut region = json!({ "startLine": line, "startColumn": column });
                if let Some((end_line, end_column)) = d.end_position() {
                    region["endLine"] = json!(end_line);
                    region["endColumn"] = json!(end_column);
                }
                result["locations"] = json!([{
                    "physicalLocation": {
                        "artifactLocation": { "uri": file, "uriBaseId": "%SRCROOT%" },
                        "region": region,
                    }
                }]);
            }
            result
        })
        .collect();
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "gc",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            } },
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&log).unwrap_or_default() + "\n"
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Adapts a [`Diagnostic`] to miette's report interface.
struct MietteView<'a> {
    diagnostic: &'a Diagnostic,
    source: Option<NamedSource<String>>,
}

impl<'a> MietteView<'a> {
    fn new(diagnostic: &'a Diagnostic) -> MietteView<'a> {
        let source = diagnostic.location.as_ref().map(|(file, _)| {
            NamedSource::new(&file.name, file.text.clone()).with_language(language(&file.name))
        });
        MietteView { diagnostic, source }
    }
}

fn language(name: &str) -> &'static str {
    if name.ends_with(".toml") { "TOML" } else { "YAML" }
}

impl fmt::Debug for MietteView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl fmt::Display for MietteView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for MietteView<'_> {}

impl miette::Diagnostic for MietteView<'_> {
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diagnostic.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let (_, span) = self.diagnostic.location.as_ref()?;
        let span = SourceSpan::new(span.start.into(), span.len());
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(Some("here".into()), span))))
    }
}
