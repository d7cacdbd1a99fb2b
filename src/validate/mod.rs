//! `gc validate`: load resource files, check each against its kind's schema, then check them
//! together. Every finding carries `file:line:col`; nothing is written anywhere.

mod diagnostic;
mod document;
mod graph;
pub mod render;
mod scope;
mod semantic;
mod suggest;

use std::collections::HashSet;

use rayon::prelude::*;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use diagnostic::{Code, Diagnostic, Severity, field_path};
pub use scope::Scope;
pub use semantic::{Known, parse_cron};

use crate::api::{Kind, Resource};
use crate::manifest::{self, Document, Format, Input, SourceFile};

/// A resource that passed its own checks, with the document it came from.
#[derive(Debug)]
pub struct Loaded {
    /// The parsed document (for positions).
    pub doc: Document,
    /// The typed resource.
    pub resource: Resource,
    /// Whether it comes from a context file (the rest of the city, loaded for references)
    /// rather than from the files being checked.
    pub context: bool,
}

/// The outcome of validating a set of files.
#[derive(Debug, Default)]
pub struct Validation {
    /// Resources that are valid on their own (the city may still have cross-resource errors).
    pub resources: Vec<Loaded>,
    /// Every finding, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
    /// How many files were read.
    pub files: usize,
    /// How many resource documents they held.
    pub documents: usize,
}

impl Validation {
    /// Number of errors.
    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    /// Number of warnings.
    pub fn warning_count(&self) -> usize {
        self.diagnostics.len() - self.error_count()
    }

    /// Whether the files can be applied.
    pub fn is_valid(&self) -> bool {
        self.error_count() == 0
    }
}

/// Validates the files of `scope`: its inputs, checked together with the rest of their city.
pub fn validate(scope: &Scope) -> Validation {
    validate_against(scope, None)
}

/// Validates the inputs of `scope` against `known` resources (the city as applied) instead of
/// the city's other files; `scope.context` should then be empty.
pub fn validate_against(scope: &Scope, known: Option<&dyn Known>) -> Validation {
    let (sources, read_errors) = read_all(&scope.inputs);
    let (context, _) = read_all(&scope.context);
    let mut validation =
        validate_sources(sources, context, known, &scope.city_dir, scope.expect_city);
    validation.files += read_errors.len();
    validation.diagnostics.extend(read_errors);
    sort_and_dedup(&mut validation.diagnostics);
    validation
}

fn read_all(inputs: &[Input]) -> (Vec<(Arc<SourceFile>, Format)>, Vec<Diagnostic>) {
    let read: Vec<_> = inputs.par_iter().map(read).collect();
    let mut sources = Vec::with_capacity(inputs.len());
    let mut errors = Vec::new();
    for result in read {
        match result {
            Ok(source) => sources.push(source),
            Err(d) => errors.push(d),
        }
    }
    (sources, errors)
}

/// What checking one file on its own found.
#[derive(Default)]
struct FileOutcome {
    resources: Vec<Loaded>,
    broken: Vec<(Kind, String)>,
    findings: Vec<Diagnostic>,
    documents: usize,
}

/// Parses `file` and checks each document against its kind's schema.
fn check_file(file: &Arc<SourceFile>, format: Format, context: bool) -> FileOutcome {
    let mut outcome = FileOutcome::default();
    let docs = match manifest::parse(file, format) {
        Ok(docs) => docs,
        Err(e) => {
            outcome.findings.push(Diagnostic::error(Code::Syntax, e.message).in_file(file, e.span));
            return outcome;
        }
    };
    outcome.documents = docs.len();
    for doc in docs {
        let (resource, diagnostics) = document::check(&doc);
        outcome.findings.extend(diagnostics);
        match resource {
            Some(resource) => outcome.resources.push(Loaded { doc, resource, context }),
            None => outcome.broken.extend(identity(&doc)),
        }
    }
    outcome
}

/// Validates files already in memory. Findings are reported for `sources`; `context` files
/// (the rest of the city) only take part in cross-resource checks. With `expect_city` false
/// and no City in sight, checks that need a whole city (exactly one City, references) are
/// skipped.
pub fn validate_sources(
    sources: Vec<(Arc<SourceFile>, Format)>,
    context: Vec<(Arc<SourceFile>, Format)>,
    known: Option<&dyn Known>,
    default_city_dir: &Path,
    expect_city: bool,
) -> Validation {
    let mut validation = Validation { files: sources.len(), ..Validation::default() };
    let mut broken = HashSet::new();
    let context_names: HashSet<String> = context.iter().map(|(f, _)| f.name.clone()).collect();
    let mut findings = Vec::new();
    let files: Vec<_> = sources.into_iter().chain(context).collect();
    // Files are independent until the cross-resource checks, so they are checked in parallel;
    // collecting keeps the input order, so output does not depend on scheduling.
    let outcomes: Vec<FileOutcome> = files
        .par_iter()
        .map(|(f, format)| check_file(f, *format, context_names.contains(&f.name)))
        .collect();
    for ((file, _), outcome) in files.iter().zip(outcomes) {
        if !context_names.contains(&file.name) {
            validation.documents += outcome.documents;
        }
        validation.resources.extend(outcome.resources);
        broken.extend(outcome.broken);
        findings.extend(outcome.findings);
    }
    let city_dir =
        city_dir(&validation.resources).unwrap_or_else(|| default_city_dir.to_path_buf());
    let city_in_sight = expect_city
        || validation.resources.iter().any(|l| l.resource.kind() == Kind::City)
        || broken.iter().any(|(kind, _)| *kind == Kind::City);
    findings.extend(semantic::check(
        &validation.resources,
        known,
        &broken,
        &city_dir,
        city_in_sight,
    ));
    // Findings inside context files belong to another run of validate; prompt templates and
    // findings about the city as a whole are kept.
    findings.retain(|d| d.location.as_ref().is_none_or(|(f, _)| !context_names.contains(&f.name)));
    validation.diagnostics = findings;
    sort_and_dedup(&mut validation.diagnostics);
    validation
}

/// The kind and name of a document that failed its own checks, when they can be read.
fn identity(doc: &Document) -> Option<(Kind, String)> {
    let kind = Kind::from_kind_field(doc.value.get("kind")?.as_str()?)?;
    let name = doc.value.get("metadata")?.get("name")?.as_str()?;
    Some((kind, name.to_owned()))
}

/// The directory holding the City resource's file.
fn city_dir(resources: &[Loaded]) -> Option<PathBuf> {
    let city = resources.iter().find(|l| l.resource.kind() == Kind::City)?;
    let parent = Path::new(&city.doc.file.name).parent()?;
    Some(if parent.as_os_str().is_empty() { PathBuf::from(".") } else { parent.to_path_buf() })
}

fn read(input: &Input) -> Result<(Arc<SourceFile>, Format), Diagnostic> {
    match input {
        Input::File(path, format) => {
            let name = manifest::display_path(path);
            let text = std::fs::read_to_string(path)
                .map_err(|e| Diagnostic::error(Code::Io, format!("{name}: cannot read: {e}")))?;
            Ok((Arc::new(SourceFile::new(name, text)), *format))
        }
        Input::Stdin => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Diagnostic::error(Code::Io, format!("<stdin>: cannot read: {e}")))?;
            let format = Format::sniff(&text);
            Ok((Arc::new(SourceFile::new("<stdin>", text)), format))
        }
    }
}

fn sort_and_dedup(diagnostics: &mut Vec<Diagnostic>) {
    let key = |d: &Diagnostic| {
        let (file, span) =
            d.location.as_ref().map_or((String::new(), 0..0), |(f, s)| (f.name.clone(), s.clone()));
        (file, span.start, span.end, d.severity, d.message.clone())
    };
    diagnostics.sort_by_cached_key(key);
    diagnostics.dedup_by(|a, b| key(a) == key(b));
}

/// Where the node at `pointer` of resource `kind/name` is in `file` (relative to `city_dir`),
/// as `file:line:col`, re-reading the file: controllers know an applied object's source file
/// and a JSON pointer, people want a line. `None` when the file no longer holds it.
pub fn locate(
    city_dir: &Path,
    file: &str,
    kind: Kind,
    name: &str,
    pointer: &str,
) -> Option<String> {
    let path = city_dir.join(file);
    let format = Format::from_path(&path).unwrap_or(Format::Yaml);
    let scope = Scope {
        inputs: vec![Input::File(path, format)],
        context: Vec::new(),
        city_dir: city_dir.to_path_buf(),
        expect_city: false,
    };
    let validation = validate(&scope);
    let loaded = validation
        .resources
        .iter()
        .find(|l| l.resource.kind() == kind && l.resource.name() == name)?;
    let span = loaded.doc.spans().get(pointer)?;
    let (line, col) = loaded.doc.file.line_col(span.value.start);
    Some(format!("{file}:{line}:{col}"))
}
