//! Loading resource files with source positions: YAML (multi-document) and TOML, each turned
//! into JSON values plus a map from JSON pointer to the span in the file. Gas City's own
//! formula and order files are translated into resources on the way in ([`gascity`]).

mod discover;
pub mod gascity;
mod source;
mod spans;
pub(crate) mod toml;
mod yaml;

use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, OnceLock};

pub use discover::{DiscoverError, Input, discover};
pub use gascity::{Finding, FindingKind, GasCityKind};
pub use source::{SourceFile, display_path};
pub use spans::{NodeSpan, SpanMap, push_pointer};

/// File formats resources are written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// YAML 1.2; a file may hold several documents separated by `---`.
    Yaml,
    /// TOML; a file holds one resource.
    Toml,
}

impl Format {
    /// The format a file's extension says, if it is one gc reads.
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()? {
            "yaml" | "yml" => Some(Format::Yaml),
            "toml" => Some(Format::Toml),
            _ => None,
        }
    }

    /// Guesses the format of text with no file name (stdin): TOML when it parses as a TOML
    /// table but not as a YAML mapping (`key = "v"` is a YAML string), else YAML.
    pub fn sniff(text: &str) -> Format {
        let yaml_is_mapping = matches!(
            yaml::parse(text, false).as_deref(),
            Ok([first, ..]) if first.value.is_object()
        );
        if !yaml_is_mapping && toml::parse(text, false).is_ok() {
            Format::Toml
        } else {
            Format::Yaml
        }
    }
}

/// One document as parsed, before it is tied to its file.
#[derive(Debug)]
pub struct ParsedDocument {
    /// The document as JSON.
    pub value: serde_json::Value,
    /// Where each node of `value` is in the file, when asked for.
    pub spans: Option<SpanMap>,
}

/// A file that is not well-formed YAML or TOML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Byte range of the problem.
    pub span: Range<usize>,
    /// What is wrong.
    pub message: String,
}

/// One resource document of a file.
#[derive(Debug)]
pub struct Document {
    /// The file it came from.
    pub file: Arc<SourceFile>,
    /// Its position among the file's documents, from 0.
    pub index: usize,
    /// The document as JSON.
    pub value: serde_json::Value,
    format: Format,
    spans: OnceLock<SpanMap>,
    gascity: Option<Arc<GasCitySource>>,
}

/// What is kept of a Gas City formula or order file translated into a resource.
#[derive(Debug)]
pub struct GasCitySource {
    /// Which Gas City file it was.
    pub kind: GasCityKind,
    /// Unsupported features and other problems of the translation, located in the file.
    pub findings: Vec<Finding>,
    remap: gascity::Remap,
    original: SpanMap,
}

impl GasCitySource {
    /// Where each node of the document as written (before translation) is in the file:
    /// [`Finding::pointer`]s are pointers into it.
    pub fn original_spans(&self) -> &SpanMap {
        &self.original
    }
}

impl Document {
    /// Where each node of the document is in its file. Computed on first use by parsing the
    /// file again with positions: most documents are valid and never need them, and recording
    /// a span per node is most of the cost of loading.
    pub fn spans(&self) -> &SpanMap {
        self.spans.get_or_init(|| {
            if let Some(g) = &self.gascity {
                return gascity::translate_spans(&self.value, &g.remap, &g.original);
            }
            let parsed = match self.format {
                Format::Yaml => yaml::parse(&self.file.text, true),
                Format::Toml => toml::parse(&self.file.text, true),
            };
            parsed
                .ok()
                .and_then(|mut docs| {
                    (self.index < docs.len()).then(|| docs.swap_remove(self.index))
                })
                .and_then(|d| d.spans)
                .unwrap_or_else(|| SpanMap::whole(0..self.file.text.len()))
        })
    }

    /// The pointer into the document as written in its file that `pointer` (into
    /// [`Document::value`]) stands for: itself, except in a translated Gas City file.
    pub fn pointer_in_file(&self, pointer: &str) -> String {
        match &self.gascity {
            Some(g) => g.remap.original(pointer),
            None => pointer.to_owned(),
        }
    }

    /// The Gas City file this document was translated from, when it was one.
    pub fn gascity(&self) -> Option<&GasCitySource> {
        self.gascity.as_deref()
    }
}

/// Parses every document of `file`. A TOML Gas City formula or order (see
/// [`gascity::detect`]) comes back translated into a `Formula` or `Order` resource.
pub fn parse(file: &Arc<SourceFile>, format: Format) -> Result<Vec<Document>, SyntaxError> {
    let parsed = match format {
        Format::Yaml => yaml::parse(&file.text, false)?,
        // The TOML parser records spans anyway; they are kept only for Gas City files, whose
        // translation findings need them.
        Format::Toml => toml::parse(&file.text, true)?,
    };
    Ok(parsed
        .into_iter()
        .enumerate()
        .map(|(index, mut d)| {
            let translation = match format {
                Format::Toml => gascity::translate(&d.value, &file.name),
                Format::Yaml => None,
            };
            let (value, gascity) = match translation {
                Some(t) => {
                    let original =
                        d.spans.take().unwrap_or_else(|| SpanMap::whole(0..file.text.len()));
                    let source = GasCitySource {
                        kind: t.kind,
                        findings: t.findings,
                        remap: t.remap,
                        original,
                    };
                    (t.value, Some(Arc::new(source)))
                }
                None => (d.value, None),
            };
            let spans = OnceLock::new();
            if gascity.is_none()
                && let Some(map) = d.spans
            {
                // Already computed: saves parsing the file again when a finding needs them.
                let _ = spans.set(map);
            }
            Document { file: Arc::clone(file), index, value, format, spans, gascity }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(text: &str, format: Format) -> Vec<Document> {
        parse(&Arc::new(SourceFile::new("t", text)), format).unwrap()
    }

    fn at(doc: &Document, pointer: &str) -> (usize, usize) {
        doc.file.line_col(doc.spans().get(pointer).unwrap().value.start)
    }

    #[test]
    fn yaml_spans_point_at_values_and_keys() {
        let text = "kind: Agent\nspec:\n  env:\n    A/B: \"é\"\n  args: [x, y]\n";
        let d = &docs(text, Format::Yaml)[0];
        assert_eq!(d.value["spec"]["env"]["A/B"], "é");
        assert_eq!(at(d, "/spec/env/A~1B"), (4, 10));
        assert_eq!(at(d, "/spec/args/1"), (5, 13));
        let key = d.spans().get("/spec/args").unwrap().key.clone().unwrap();
        assert_eq!(d.file.line_col(key.start), (5, 3));
    }

    #[test]
    fn yaml_multi_document_files_skip_empty_documents() {
        let d = docs("---\n# nothing\n---\na: 1\n---\nb: 2\n", Format::Yaml);
        assert_eq!(d.len(), 2);
        assert_eq!(at(&d[1], "/b"), (6, 4));
    }

    #[test]
    fn yaml_duplicate_keys_are_syntax_errors() {
        let f = Arc::new(SourceFile::new("t", "a: 1\na: 2\n"));
        let err = parse(&f, Format::Yaml).unwrap_err();
        assert!(err.message.contains("duplicate"), "{}", err.message);
        assert_eq!(f.line_col(err.span.start).0, 2);
    }

    #[test]
    fn toml_spans_point_at_values_and_keys() {
        let text = "kind = \"Agent\"\n[spec]\nargs = [\"x\", 0x1F]\n[spec.env]\nA = \"b\"\n";
        let d = &docs(text, Format::Toml)[0];
        assert_eq!(d.value["spec"]["args"][1], 31);
        assert_eq!(at(d, "/spec/args/1"), (3, 14));
        assert_eq!(at(d, "/spec/env/A"), (5, 5));
        let key = d.spans().get("/spec/env/A").unwrap().key.clone().unwrap();
        assert_eq!(d.file.line_col(key.start), (5, 1));
    }

    #[test]
    fn stdin_format_is_sniffed() {
        assert_eq!(Format::sniff("kind = \"Agent\"\n[spec]\n"), Format::Toml);
        assert_eq!(Format::sniff("kind: Agent\n"), Format::Yaml);
        assert_eq!(Format::sniff("{\"kind\": \"Agent\"}"), Format::Yaml);
    }
}
