//! TOML → JSON values with a span for every key and value, via toml's spanned `DeTable`.

use std::ops::Range;

use serde_json::{Map, Number, Value};
use toml::de::{DeTable, DeValue};

use super::spans::{NodeSpan, SpanMap, push_pointer};
use super::{ParsedDocument, SyntaxError};

/// Parses one TOML document (a file holds one resource), recording spans when `with_spans`.
pub fn parse(text: &str, with_spans: bool) -> Result<Vec<ParsedDocument>, SyntaxError> {
    let root = DeTable::parse(text).map_err(|e| SyntaxError {
        span: e.span().unwrap_or(0..0),
        message: format!("invalid TOML: {}", e.message().trim_end()),
    })?;
    // TOML files are small and one resource each; spans are cheap next to the parse itself.
    let mut spans = SpanMap::default();
    let value = table(root.get_ref(), "", &mut spans);
    spans.insert(String::new(), NodeSpan { key: None, value: 0..text.len() });
    Ok(vec![ParsedDocument { value, spans: with_spans.then_some(spans) }])
}

fn table(entries: &DeTable<'_>, pointer: &str, spans: &mut SpanMap) -> Value {
    let mut object = Map::new();
    for (key, value) in entries {
        let p = push_pointer(pointer, key.get_ref());
        let v = convert(value.get_ref(), value.span(), Some(key.span()), &p, spans);
        object.insert(key.get_ref().to_string(), v);
    }
    Value::Object(object)
}

fn convert(
    value: &DeValue<'_>,
    span: Range<usize>,
    key: Option<Range<usize>>,
    pointer: &str,
    spans: &mut SpanMap,
) -> Value {
    let json = match value {
        DeValue::String(s) => Value::String(s.to_string()),
        DeValue::Integer(i) => {
            let digits = i.as_str().replace('_', "");
            let (negative, digits) = match digits.strip_prefix('-') {
                Some(rest) => (true, rest.to_owned()),
                None => (false, digits.trim_start_matches('+').to_owned()),
            };
            match i64::from_str_radix(&digits, i.radix()) {
                Ok(n) => Value::Number(if negative { -n } else { n }.into()),
                Err(_) => Value::String(i.as_str().to_owned()),
            }
        }
        DeValue::Float(f) => {
            let text = f.as_str().replace('_', "");
            text.parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map_or_else(|| Value::String(f.as_str().to_owned()), Value::Number)
        }
        DeValue::Boolean(b) => Value::Bool(*b),
        DeValue::Datetime(d) => Value::String(d.to_string()),
        DeValue::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let p = push_pointer(pointer, &i.to_string());
                    convert(item.get_ref(), item.span(), None, &p, spans)
                })
                .collect(),
        ),
        DeValue::Table(entries) => table(entries, pointer, spans),
    };
    spans.insert(pointer.to_owned(), NodeSpan { key, value: span });
    json
}
