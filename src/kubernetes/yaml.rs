//! YAML for Kubernetes tools: every string that a YAML 1.1 reader could take for something
//! else is quoted.
//!
//! kubectl reads YAML with a YAML 1.1 library, where `on`, `off`, `yes`, `no`, `y` and `n` are
//! booleans; serde_yaml_ng writes YAML 1.2, which leaves them plain. An Order's event gate has
//! a field named `on`: written plainly, the API server would get a property named `true`. So
//! the CRDs are written here, with strings left plain only when they cannot mean anything but
//! themselves, multi-line text as literal blocks (readable descriptions), everything else in
//! double quotes (JSON's escapes are YAML's).

use serde_json::Value;

/// `value` as one YAML document, in kubectl's layout (lists at their key's indentation).
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(m) if !m.is_empty() => block(&mut out, value, 0),
        Value::Array(a) if !a.is_empty() => block(&mut out, value, 0),
        scalar => {
            out.push_str(&inline(scalar, 2));
            out.push('\n');
        }
    }
    out
}

/// Writes a non-empty mapping or sequence whose lines start at column `indent`.
fn block(out: &mut String, value: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                out.push_str(&pad);
                out.push_str(&string(key, indent + 2));
                out.push(':');
                match v {
                    Value::Object(m) if !m.is_empty() => {
                        out.push('\n');
                        block(out, v, indent + 2);
                    }
                    Value::Array(a) if !a.is_empty() => {
                        out.push('\n');
                        block(out, v, indent);
                    }
                    scalar => {
                        out.push(' ');
                        out.push_str(&inline(scalar, indent + 2));
                        out.push('\n');
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Object(m) if !m.is_empty() => nested_item(out, item, indent),
                    Value::Array(a) if !a.is_empty() => nested_item(out, item, indent),
                    scalar => {
                        out.push_str(&pad);
                        out.push_str("- ");
                        out.push_str(&inline(scalar, indent + 2));
                        out.push('\n');
                    }
                }
            }
        }
        scalar => {
            out.push_str(&pad);
            out.push_str(&inline(scalar, indent + 2));
            out.push('\n');
        }
    }
}

/// A collection as a sequence item: written two columns in, its first line's indentation then
/// replaced by the dash.
fn nested_item(out: &mut String, item: &Value, indent: usize) {
    let mut inner = String::new();
    block(&mut inner, item, indent + 2);
    out.push_str(&" ".repeat(indent));
    out.push_str("- ");
    out.push_str(inner.get(indent + 2..).unwrap_or_default());
}

/// A scalar or empty collection as written after `key: ` or `- `; `indent` is where a literal
/// block's lines start.
fn inline(value: &Value, indent: usize) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s, indent),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// A string: plain when that is unambiguous in YAML 1.1 and 1.2 alike, a literal block for
/// multi-line text, else double-quoted.
fn string(s: &str, indent: usize) -> String {
    if is_plain_safe(s) {
        return s.to_owned();
    }
    if literal_block_safe(s) {
        let pad = " ".repeat(indent);
        let lines: Vec<String> = s
            .split('\n')
            .map(|line| if line.is_empty() { String::new() } else { format!("{pad}{line}") })
            .collect();
        return format!("|-\n{}", lines.join("\n"));
    }
    quoted(s)
}

/// Words YAML 1.1 reads as booleans or null (compared ignoring case).
const SPECIAL_WORDS: &[&str] = &["y", "n", "yes", "no", "on", "off", "true", "false", "null"];

/// Whether `s` reads back as the same string when written plainly: it starts with a letter
/// (so it is no number, date or indicator), holds only name-like characters and is not one of
/// YAML 1.1's special words.
fn is_plain_safe(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else { return false };
    first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        && !SPECIAL_WORDS.iter().any(|w| w.eq_ignore_ascii_case(s))
}

/// Whether `s` can be a `|-` literal block unchanged: several lines, the first one not
/// indented (its indentation sets the block's), no trailing newline (`-` strips it), no line
/// of only blanks (the reader would drop the blanks), nothing but tabs among control
/// characters.
fn literal_block_safe(s: &str) -> bool {
    s.contains('\n')
        && !s.ends_with('\n')
        && !s.starts_with([' ', '\t', '\n'])
        && s.chars().all(|c| c == '\n' || c == '\t' || !c.is_control())
        && !s.contains(['\u{85}', '\u{2028}', '\u{2029}', '\u{feff}'])
        && s.split('\n').all(|line| line.is_empty() || !line.trim().is_empty())
}

/// `s` double-quoted. JSON's escapes are all YAML escapes; the characters YAML 1.1 also takes
/// for line breaks (and a byte-order mark) are escaped besides.
fn quoted(s: &str) -> String {
    let json = serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    json.replace('\u{85}', "\\N")
        .replace('\u{2028}', "\\L")
        .replace('\u{2029}', "\\P")
        .replace('\u{feff}', "\\ufeff")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What a YAML reader makes of `text`.
    fn read(text: &str) -> Value {
        serde_yaml_ng::from_str(text).unwrap()
    }

    #[test]
    fn yaml_1_1_booleans_are_quoted_as_keys_and_values() {
        let value = json!({"on": "bead.closed", "required": ["on", "off", "Yes", "y"], "n": true});
        let text = to_string(&value);
        assert!(text.contains("\"on\": bead.closed\n"), "{text}");
        assert!(text.contains("- \"off\"\n") && text.contains("- \"Yes\"\n"), "{text}");
        assert!(text.contains("\"n\": true\n"), "{text}");
        assert_eq!(read(&text), value);
    }

    #[test]
    fn numbers_patterns_and_odd_strings_read_back_as_written() {
        let value = json!({
            "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
            "maximum": 4_294_967_295.0_f64,
            "min": 0,
            "looksNumeric": "0755",
            "date": "2024-01-01",
            "colon": "a: b",
            "empty": "",
            "quote": "it's \"x\"\\",
            "null": null,
            "emptyMap": {},
            "emptyList": [],
            "nested": [[1, 2], [{"a": [3]}], {"b": {"c": "d"}, "e": ["f"]}],
            "path": ".metadata.creationTimestamp",
            "sep": "line\u{2028}break"
        });
        assert_eq!(read(&to_string(&value)), value);
    }

    #[test]
    fn multi_line_text_is_a_literal_block_unless_that_would_change_it() {
        let value = json!({"a": {"description": "First line: `x`.\n\n  indented\nlast"}});
        let text = to_string(&value);
        assert!(
            text.contains("  description: |-\n    First line: `x`.\n\n      indented\n    last\n"),
            "{text}"
        );
        assert_eq!(read(&text), value);
        for odd in [" leading", "trailing\n", "blank\n  \nline", "tab\n\tok", "cr\r\nlf"] {
            let value = json!({"d": odd, "l": [odd]});
            assert_eq!(read(&to_string(&value)), value, "{odd:?}");
        }
    }
}
