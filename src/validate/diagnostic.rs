//! One finding of `gc validate`: what is wrong, where, and how to fix it.

use std::ops::Range;
use std::sync::Arc;

use serde::Serialize;

use crate::manifest::{Document, SourceFile};

/// How bad a finding is. Only errors make validation fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The city cannot be applied as written.
    Error,
    /// Suspicious but accepted.
    Warning,
}

/// Stable, machine-readable identifiers of each class of finding (`--output json` `code`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    /// Not well-formed YAML or TOML.
    Syntax,
    /// A file could not be read.
    Io,
    /// A document that is not a mapping with `apiVersion` and `kind`.
    NotAResource,
    /// An `apiVersion` this build does not serve.
    UnknownApiVersion,
    /// A `kind` that does not exist.
    UnknownKind,
    /// A field the kind does not have.
    UnknownField,
    /// A required field is absent.
    MissingField,
    /// A value of the wrong JSON type.
    InvalidType,
    /// A value of the right type that is not allowed (enum, pattern, range, length).
    InvalidValue,
    /// Fields of which exactly one must be set.
    ExactlyOne,
    /// Two resources of one kind with the same name.
    DuplicateResource,
    /// No City, or more than one.
    CityCount,
    /// A name that refers to no resource.
    UnknownReference,
    /// A cycle in `dependsOn`, formula `needs` or `extends`.
    Cycle,
    /// Two formula steps with one id.
    DuplicateStepId,
    /// `scaling.min` above `scaling.max`.
    ScalingRange,
    /// Two rigs with the same bead prefix.
    PrefixCollision,
    /// A cron schedule that does not parse.
    InvalidCron,
    /// A regular expression that does not compile.
    InvalidPattern,
    /// A prompt template that is missing or does not compile.
    PromptTemplate,
    /// Settings that only make sense together.
    InconsistentSettings,
    /// `status` written in a file: controllers own it, apply ignores it.
    StatusIgnored,
    /// A Gas City formula or order uses a feature (or a key) gc does not support; the file
    /// is not applied rather than applied without it.
    UnsupportedGasCityFeature,
    /// A value of a Gas City file that gc stores in another form than written (a non-string
    /// step metadata value, kept as its JSON text).
    ConvertedValue,
}

impl Code {
    /// The kebab-case name shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Syntax => "syntax",
            Code::Io => "io",
            Code::NotAResource => "not-a-resource",
            Code::UnknownApiVersion => "unknown-api-version",
            Code::UnknownKind => "unknown-kind",
            Code::UnknownField => "unknown-field",
            Code::MissingField => "missing-field",
            Code::InvalidType => "invalid-type",
            Code::InvalidValue => "invalid-value",
            Code::ExactlyOne => "exactly-one",
            Code::DuplicateResource => "duplicate-resource",
            Code::CityCount => "city-count",
            Code::UnknownReference => "unknown-reference",
            Code::Cycle => "cycle",
            Code::DuplicateStepId => "duplicate-step-id",
            Code::ScalingRange => "scaling-range",
            Code::PrefixCollision => "prefix-collision",
            Code::InvalidCron => "invalid-cron",
            Code::InvalidPattern => "invalid-pattern",
            Code::PromptTemplate => "prompt-template",
            Code::InconsistentSettings => "inconsistent-settings",
            Code::StatusIgnored => "status-ignored",
            Code::UnsupportedGasCityFeature => "unsupported-gas-city-feature",
            Code::ConvertedValue => "converted-value",
        }
    }
}

/// A finding, located in a file when it has a place.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Which class of finding.
    pub code: Code,
    /// One sentence saying what is wrong.
    pub message: String,
    /// How to fix it, when gc can tell.
    pub help: Option<String>,
    /// The file and byte range to underline; `None` for findings about the city as a whole.
    pub location: Option<(Arc<SourceFile>, Range<usize>)>,
    /// JSON pointer of the offending value within its document, when there is one.
    pub pointer: Option<String>,
}

impl Diagnostic {
    /// An error with no location yet.
    pub fn error(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            help: None,
            location: None,
            pointer: None,
        }
    }

    /// A warning with no location yet.
    pub fn warning(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(code, message) }
    }

    /// Places the finding at `span` of `file`.
    pub fn in_file(mut self, file: &Arc<SourceFile>, span: Range<usize>) -> Diagnostic {
        self.location = Some((Arc::clone(file), file.clamp_range(span)));
        self
    }

    /// Places the finding on the value at `pointer` of `doc`. The recorded pointer is the one
    /// into the file as written (they differ for translated Gas City files).
    pub fn at_value(self, doc: &Document, pointer: &str) -> Diagnostic {
        let span = doc.spans().value_span(pointer);
        self.in_file(&doc.file, span).with_pointer(&doc.pointer_in_file(pointer))
    }

    /// Places the finding on the key of the entry at `pointer` of `doc`.
    pub fn at_key(self, doc: &Document, pointer: &str) -> Diagnostic {
        let span = doc.spans().key_span(pointer);
        self.in_file(&doc.file, span).with_pointer(&doc.pointer_in_file(pointer))
    }

    /// Records the JSON pointer of the offending value.
    pub fn with_pointer(mut self, pointer: &str) -> Diagnostic {
        self.pointer = Some(pointer.to_owned());
        self
    }

    /// Adds a help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Adds a help line when there is one.
    pub fn with_help_opt(mut self, help: Option<String>) -> Diagnostic {
        self.help = help;
        self
    }

    /// The file name, 1-based line and column of the start of the location.
    pub fn position(&self) -> Option<(&str, usize, usize)> {
        let (file, span) = self.location.as_ref()?;
        let (line, column) = file.line_col(span.start);
        Some((file.name.as_str(), line, column))
    }

    /// Line and column of the end of the location.
    pub fn end_position(&self) -> Option<(usize, usize)> {
        let (file, span) = self.location.as_ref()?;
        Some(file.line_col(span.end))
    }

    /// Whether this finding fails validation.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// `/spec/steps/0/id` → `spec.steps[0].id`, the way people name fields.
pub fn field_path(pointer: &str) -> String {
    let mut out = String::new();
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        if !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{token}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&token);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_read_as_field_paths() {
        assert_eq!(field_path("/spec/steps/0/id"), "spec.steps[0].id");
        assert_eq!(field_path("/spec/env/A~1B"), "spec.env.A/B");
        assert_eq!(field_path(""), "");
    }
}
