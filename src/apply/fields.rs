//! Field-by-field differences between two JSON values, as `spec.env.LOG_LEVEL: "info" → "debug"`.

use serde_json::Value;

use crate::manifest::push_pointer;
use crate::validate::field_path;

/// One changed field.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldChange {
    /// JSON pointer of the field, e.g. `/spec/env/LOG_LEVEL`.
    pub pointer: String,
    /// The old value; `None` when the field is new.
    pub before: Option<Value>,
    /// The new value; `None` when the field was removed.
    pub after: Option<Value>,
}

impl FieldChange {
    /// `spec.env.LOG_LEVEL: "info" → "debug"`.
    pub fn describe(&self) -> String {
        let show = |v: &Option<Value>| v.as_ref().map_or_else(|| "(none)".to_owned(), compact);
        format!("{}: {} → {}", field_path(&self.pointer), show(&self.before), show(&self.after))
    }
}

fn compact(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 60 {
        format!("{}…", text.chars().take(59).collect::<String>())
    } else {
        text
    }
}

/// Every leaf that differs between `before` and `after` below `pointer`. Lists of equal
/// length are compared item by item; otherwise a changed list is one change.
pub fn diff(
    pointer: &str,
    before: Option<&Value>,
    after: Option<&Value>,
    out: &mut Vec<FieldChange>,
) {
    match (before, after) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                diff(&push_pointer(pointer, key), a.get(key), b.get(key), out);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(&push_pointer(pointer, &i.to_string()), Some(x), Some(y), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(FieldChange {
            pointer: pointer.to_owned(),
            before: a.cloned(),
            after: b.cloned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_changed_added_and_removed_leaves() {
        let a = json!({"env": {"LOG_LEVEL": "info", "OLD": "1"}, "args": ["a"], "n": 1});
        let b = json!({"env": {"LOG_LEVEL": "debug", "NEW": "2"}, "args": ["a"], "n": 1});
        let mut out = Vec::new();
        diff("/spec", Some(&a), Some(&b), &mut out);
        let lines: Vec<String> = out.iter().map(FieldChange::describe).collect();
        assert_eq!(
            lines,
            [
                "spec.env.LOG_LEVEL: \"info\" → \"debug\"",
                "spec.env.NEW: (none) → \"2\"",
                "spec.env.OLD: \"1\" → (none)",
            ]
        );
    }
}
