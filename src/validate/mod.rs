//! `gc validate`: load resource files, check each against its kind's schema, then check them
//! together. Every finding carries `file:line:col`; nothing is written anywhere.

mod diagnostic;
mod document;
mod graph;
pub mod render;
mod semantic;
mod suggest;

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use diagnostic::{Code, Diagnostic, Severity, field_path};
pub use semantic::parse_cron;
pub use suggest::did_you_mean;

use crate::api::{Kind, Resource};
use crate::manifest::{self, Document, Format, Input, SourceFile};

/// A resource that passed its own checks, with the document it came from.
#[derive(Debug)]
pub struct Loaded {
    /// The parsed document (for positions).
    pub doc: Document,
    /// The typed resource.
    pub resource: Resource,
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

/// Validates the files found below `paths` (see [`manifest::discover`]). Relative prompt
/// template paths resolve against the directory of the City resource's file, or `default_city_dir`
/// when there is none.
pub fn validate_paths(
    paths: &[PathBuf],
    default_city_dir: &Path,
) -> Result<Validation, manifest::DiscoverError> {
    let inputs = manifest::discover(paths)?;
    Ok(validate_inputs(&inputs, default_city_dir))
}

/// Validates already-discovered inputs.
pub fn validate_inputs(inputs: &[Input], default_city_dir: &Path) -> Validation {
    let mut sources = Vec::with_capacity(inputs.len());
    let mut read_errors = Vec::new();
    for input in inputs {
        match read(input) {
            Ok(source) => sources.push(source),
            Err(d) => read_errors.push(d),
        }
    }
    let mut validation = validate_sources(sources, default_city_dir);
    validation.files += read_errors.len();
    validation.diagnostics.extend(read_errors);
    sort_and_dedup(&mut validation.diagnostics);
    validation
}

/// Validates files already in memory, as if they were one city directory.
pub fn validate_sources(
    sources: Vec<(Arc<SourceFile>, Format)>,
    default_city_dir: &Path,
) -> Validation {
    let mut validation = Validation { files: sources.len(), ..Validation::default() };
    let mut broken = HashSet::new();
    for (file, format) in sources {
        let docs = match manifest::parse(&file, format) {
            Ok(docs) => docs,
            Err(e) => {
                validation
                    .diagnostics
                    .push(Diagnostic::error(Code::Syntax, e.message).in_file(&file, e.span));
                continue;
            }
        };
        for doc in docs {
            validation.documents += 1;
            let (resource, diagnostics) = document::check(&doc);
            validation.diagnostics.extend(diagnostics);
            match resource {
                Some(resource) => validation.resources.push(Loaded { doc, resource }),
                None => broken.extend(identity(&doc)),
            }
        }
    }
    let city_dir =
        city_dir(&validation.resources).unwrap_or_else(|| default_city_dir.to_path_buf());
    validation.diagnostics.extend(semantic::check(&validation.resources, &broken, &city_dir));
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
