//! Value parsers for bd's flags. clap calls them, so a bad value is a usage error (exit 2) whose
//! message names the flag: `invalid value 'x' for '--set-metadata <KEY=VALUE>': expected …`.

use serde_json::{Map, Value};

use crate::beads::NewDep;

/// A priority: `0`–`4` or bd's `P0`–`P4` (0 is the highest).
pub fn priority(text: &str) -> Result<i64, String> {
    let digits = text.trim().trim_start_matches(['P', 'p']);
    match digits.parse::<i64>() {
        Ok(p) if (0..=4).contains(&p) && !digits.is_empty() => Ok(p),
        _ => Err("expected a priority from 0 (highest) to 4 (lowest), or P0 to P4".into()),
    }
}

/// `KEY=VALUE` (the value may be empty or contain `=`; the key may not be empty).
pub fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.to_owned()))
        }
        Some(_) => Err("the key before `=` is empty; expected KEY=VALUE".into()),
        None => Err("no `=`; expected KEY=VALUE".into()),
    }
}

/// A JSON object (`--metadata '{"k":"v"}'`).
pub fn json_object(text: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("expected a JSON object such as '{\"key\":\"value\"}'".into()),
        Err(e) => {
            Err(format!("not JSON ({e}); expected a JSON object such as '{{\"key\":\"value\"}}'"))
        }
    }
}

/// A duration such as `30s`, `2h`, `1d` (bd takes Go durations; these are the same for whole
/// units).
pub fn duration(text: &str) -> Result<std::time::Duration, String> {
    text.trim()
        .parse::<crate::api::Duration>()
        .map(|d| d.get())
        .map_err(|_| "expected a duration such as 30s, 10m, 2h or 1d".into())
}

/// One entry of `--deps`: `ID`, `blocks:ID` or `TYPE:ID` (see [`NewDep::parse`]).
pub fn new_dep(text: &str) -> Result<NewDep, String> {
    NewDep::parse(text)
}

/// A non-empty word without whitespace: statuses, types, dependency types, labels.
pub fn word(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        Err("must not be empty".into())
    } else if text.chars().any(char::is_whitespace) {
        Err("must not contain spaces".into())
    } else {
        Ok(text.to_owned())
    }
}

/// An id prefix for `init`: letters, digits, `-` and `_`, starting with a letter or digit.
pub fn prefix(text: &str) -> Result<String, String> {
    let ok = text.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !text.ends_with('-');
    if ok {
        Ok(text.to_owned())
    } else {
        Err("expected letters, digits, `-` or `_` (e.g. `gc` or `my-app`), not ending in `-`"
            .into())
    }
}

/// An environment variable's name (letters, digits and `_`, not starting with a digit).
pub fn env_name(text: &str) -> Result<String, String> {
    let ok = text.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(text.to_owned())
    } else {
        Err("expected an environment variable's name (e.g. `GC_BEADS_POSTGRES_URL`)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_are_0_to_4_with_or_without_p() {
        assert_eq!(priority("0"), Ok(0));
        assert_eq!(priority("P3"), Ok(3));
        assert_eq!(priority("p4"), Ok(4));
        for bad in ["5", "-1", "P", "", "high", "P9", "1.5"] {
            assert!(priority(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn key_values_need_an_equals_sign_and_a_key() {
        assert_eq!(key_value("a=b"), Ok(("a".into(), "b".into())));
        assert_eq!(key_value("a="), Ok(("a".into(), String::new())));
        assert_eq!(key_value("url=x=y"), Ok(("url".into(), "x=y".into())));
        assert!(key_value("novalue").unwrap_err().contains("KEY=VALUE"));
        assert!(key_value("=v").is_err());
    }

    #[test]
    fn metadata_must_be_a_json_object() {
        assert_eq!(json_object(r#"{"a":1}"#).unwrap()["a"], 1);
        assert!(json_object("[1]").is_err());
        assert!(json_object("{oops").unwrap_err().contains("not JSON"));
    }

    #[test]
    fn words_and_prefixes_reject_blanks() {
        assert_eq!(word(" open "), Ok("open".into()));
        assert!(word("").is_err());
        assert!(word("in progress").is_err());
        assert!(prefix("gc").is_ok());
        assert!(prefix("my_app-2").is_ok());
        for bad in ["", "-x", "x-", "a b", "é"] {
            assert!(prefix(bad).is_err(), "{bad}");
        }
    }
}
