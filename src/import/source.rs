//! Gas City TOML files read for import: the parsed value, and the line of every key.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::manifest::{SourceFile, toml};
use crate::manifest::{SpanMap, push_pointer};

/// One TOML file of the city being imported.
#[derive(Debug)]
pub struct TomlFile {
    /// Where it is on disk.
    pub path: PathBuf,
    /// How it is named in the report: relative to the imported directory.
    pub shown: String,
    /// Its parsed contents.
    pub value: Value,
    source: SourceFile,
    spans: SpanMap,
}

/// A file that could not be read or parsed.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ReadError {
    /// The file, as shown.
    pub file: String,
    /// Where in it, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl TomlFile {
    /// Reads and parses `path`, shown as `shown`.
    pub fn read(path: &Path, shown: String) -> Result<Arc<TomlFile>, ReadError> {
        let text = std::fs::read_to_string(path).map_err(|e| ReadError {
            file: shown.clone(),
            line: None,
            message: e.to_string(),
        })?;
        TomlFile::parse(path, shown, text)
    }

    /// Parses `text` as the contents of `path`.
    pub fn parse(path: &Path, shown: String, text: String) -> Result<Arc<TomlFile>, ReadError> {
        let source = SourceFile::new(shown.clone(), text);
        let mut docs = toml::parse(&source.text, true).map_err(|e| ReadError {
            file: shown.clone(),
            line: Some(source.line_col(e.span.start).0),
            message: e.message,
        })?;
        let doc = docs.pop().expect("a TOML file is one document");
        Ok(Arc::new(TomlFile {
            path: path.to_path_buf(),
            shown,
            value: doc.value,
            source,
            spans: doc.spans.unwrap_or_default(),
        }))
    }

    /// The directory the file is in.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// The 1-based line of the key (or value) at `pointer`.
    pub fn line(&self, pointer: &str) -> usize {
        self.source.line_col(self.spans.key_span(pointer).start).0
    }

    /// The value at `pointer`.
    pub fn get(&self, pointer: &str) -> Option<&Value> {
        self.value.pointer(pointer)
    }
}

/// A value with the file and JSON pointer it came from, so whatever uses it can be reported
/// at the right line.
#[derive(Clone, Debug)]
pub struct Sourced {
    /// The value.
    pub value: Value,
    /// The file it was read from.
    pub file: Arc<TomlFile>,
    /// Where in the file.
    pub pointer: String,
}

impl Sourced {
    /// The value at `pointer` in `file`, if there is one.
    pub fn at(file: &Arc<TomlFile>, pointer: &str) -> Option<Sourced> {
        file.get(pointer).map(|value| Sourced {
            value: value.clone(),
            file: file.clone(),
            pointer: pointer.to_owned(),
        })
    }

    /// The 1-based line it is on.
    pub fn line(&self) -> usize {
        self.file.line(&self.pointer)
    }

    /// Its file, as shown in the report.
    pub fn shown(&self) -> &str {
        &self.file.shown
    }

    /// The value as a string, when it is one.
    pub fn str(&self) -> Option<&str> {
        self.value.as_str()
    }

    /// Each member of a table value, with its own pointer.
    pub fn members(&self) -> Vec<(String, Sourced)> {
        match &self.value {
            Value::Object(map) => map
                .iter()
                .map(|(k, v)| {
                    let pointer = push_pointer(&self.pointer, k);
                    (k.clone(), Sourced { value: v.clone(), file: self.file.clone(), pointer })
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Each item of an array value, with its own pointer.
    pub fn items(&self) -> Vec<Sourced> {
        match &self.value {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| Sourced {
                    value: v.clone(),
                    file: self.file.clone(),
                    pointer: push_pointer(&self.pointer, &i.to_string()),
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// A list of strings (a single string counts as a list of one); `None` for anything else.
    pub fn strings(&self) -> Option<Vec<String>> {
        match &self.value {
            Value::String(s) => Some(vec![s.clone()]),
            Value::Array(items) => {
                items.iter().map(|v| v.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>()
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_lines_and_bad_toml_names_its_line() {
        let f = TomlFile::parse(
            Path::new("/x/city.toml"),
            "city.toml".into(),
            "[workspace]\nname = \"a\"\n\n[[agent]]\nname = \"m\"\n".into(),
        )
        .unwrap();
        assert_eq!(f.line("/workspace/name"), 2);
        assert_eq!(f.line("/agent/0/name"), 5);
        let agent = Sourced::at(&f, "/agent/0").unwrap();
        assert_eq!(agent.members()[0].1.line(), 5);
        let err =
            TomlFile::parse(Path::new("c.toml"), "c.toml".into(), "a = \n".into()).unwrap_err();
        assert_eq!(err.line, Some(1));
        assert!(err.to_string().starts_with("c.toml:1: "), "{err}");
    }
}
