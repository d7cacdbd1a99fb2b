//! YAML (1.2, multi-document) → JSON values with a span for every node, via saphyr's marked tree.

use std::ops::Range;

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};
use serde_json::{Map, Number, Value};

use super::spans::{NodeSpan, SpanMap, push_pointer};
use super::{ParsedDocument, SyntaxError};

/// Parses every document in `text`, recording spans when `with_spans`. Empty documents (only
/// comments, or a bare `---`) are skipped.
pub fn parse(text: &str, with_spans: bool) -> Result<Vec<ParsedDocument>, SyntaxError> {
    let offsets = CharOffsets::new(text);
    let docs = MarkedYaml::load_from_str(text).map_err(|e| {
        let at = offsets.byte(e.marker().index());
        SyntaxError { span: at..at, message: format!("invalid YAML: {}", e.info()) }
    })?;
    let mut out = Vec::new();
    for doc in docs {
        if matches!(doc.data, YamlData::Value(Scalar::Null)) {
            continue;
        }
        let mut spans = SpanMap::default();
        let pointer = with_spans.then(String::new);
        let value = convert(&doc, pointer, None, &offsets, &mut spans)?;
        out.push(ParsedDocument { value, spans: with_spans.then_some(spans) });
    }
    Ok(out)
}

/// Converts `node`; its span is recorded under `pointer` unless that is `None` (no spans wanted,
/// which skips building a pointer string per node).
fn convert(
    node: &MarkedYaml<'_>,
    pointer: Option<String>,
    key: Option<Range<usize>>,
    offsets: &CharOffsets,
    spans: &mut SpanMap,
) -> Result<Value, SyntaxError> {
    let span = offsets.range(node);
    let value = match &node.data {
        YamlData::Value(scalar) => scalar_to_json(scalar),
        YamlData::Representation(text, _, _) => Value::String(text.to_string()),
        YamlData::Sequence(items) => {
            let mut array = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let p = pointer.as_ref().map(|p| push_pointer(p, &i.to_string()));
                array.push(convert(item, p, None, offsets, spans)?);
            }
            Value::Array(array)
        }
        YamlData::Mapping(entries) => {
            let mut object = Map::new();
            for (k, v) in entries {
                let key_span = offsets.range(k);
                let Some(name) = key_text(k) else {
                    return Err(SyntaxError {
                        span: key_span,
                        message: "mapping keys must be plain strings".into(),
                    });
                };
                let p = pointer.as_ref().map(|p| push_pointer(p, &name));
                let value = convert(v, p, Some(key_span), offsets, spans)?;
                object.insert(name, value);
            }
            Value::Object(object)
        }
        YamlData::Tagged(_, inner) => return convert(inner, pointer, key, offsets, spans),
        YamlData::Alias(_) | YamlData::BadValue => {
            return Err(SyntaxError { span, message: "unresolvable YAML alias or value".into() });
        }
    };
    if let Some(pointer) = pointer {
        spans.insert(pointer, NodeSpan { key, value: span });
    }
    Ok(value)
}

fn scalar_to_json(scalar: &Scalar<'_>) -> Value {
    match scalar {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(*b),
        Scalar::Integer(i) => Value::Number((*i).into()),
        // NaN and infinities have no JSON form; as strings they fail type checks with a message.
        Scalar::FloatingPoint(f) => Number::from_f64(f.into_inner())
            .map_or_else(|| Value::String(f.to_string()), Value::Number),
        Scalar::String(s) => Value::String(s.to_string()),
    }
}

/// The key as a string; scalars that are not strings (`1:`, `true:`) are used as written.
fn key_text(key: &MarkedYaml<'_>) -> Option<String> {
    match &key.data {
        YamlData::Value(Scalar::String(s)) => Some(s.to_string()),
        YamlData::Value(Scalar::Integer(i)) => Some(i.to_string()),
        YamlData::Value(Scalar::Boolean(b)) => Some(b.to_string()),
        YamlData::Value(Scalar::Null) => Some("null".into()),
        YamlData::Value(Scalar::FloatingPoint(f)) => Some(f.to_string()),
        YamlData::Representation(text, _, _) => Some(text.to_string()),
        YamlData::Tagged(_, inner) => key_text(inner),
        _ => None,
    }
}

/// saphyr counts positions in characters; this maps them to byte offsets.
struct CharOffsets {
    /// Byte offset of each character, or empty when the text is ASCII (identity mapping).
    bytes: Vec<usize>,
    len: usize,
}

impl CharOffsets {
    fn new(text: &str) -> CharOffsets {
        let bytes = if text.is_ascii() {
            Vec::new()
        } else {
            text.char_indices().map(|(i, _)| i).collect()
        };
        CharOffsets { bytes, len: text.len() }
    }

    fn byte(&self, char_index: usize) -> usize {
        if self.bytes.is_empty() {
            char_index.min(self.len)
        } else {
            self.bytes.get(char_index).copied().unwrap_or(self.len)
        }
    }

    fn range(&self, node: &MarkedYaml<'_>) -> Range<usize> {
        let start = self.byte(node.span.start.index());
        let end = self.byte(node.span.end.index()).max(start);
        start..end
    }
}
