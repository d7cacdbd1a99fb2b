//! Step conditions, decided at cook time after `{{var}}` substitution.
//!
//! The language is deliberately small: `VALUE` (true unless empty, `false`, `0`, `no` or
//! `off`), `A == B`, `A != B`, and a leading `!` to negate. Quotes around a side are dropped,
//! so `{{mode}} == "fast"` and `{{mode}} == fast` mean the same.

use std::collections::BTreeMap;

use super::vars::substitute;

/// Whether a step with `condition` is created, given the cook's var values.
pub fn holds(condition: &str, values: &BTreeMap<String, String>) -> bool {
    evaluate(&substitute(condition, values))
}

fn evaluate(expression: &str) -> bool {
    let expression = expression.trim();
    if let Some(rest) = expression.strip_prefix('!')
        && !rest.starts_with('=')
    {
        return !evaluate(rest);
    }
    if let Some((left, right)) = expression.split_once("!=") {
        return unquote(left) != unquote(right);
    }
    if let Some((left, right)) = expression.split_once("==") {
        return unquote(left) == unquote(right);
    }
    truthy(unquote(expression))
}

fn unquote(side: &str) -> &str {
    let side = side.trim();
    for quote in ['"', '\''] {
        if let Some(inner) = side.strip_prefix(quote).and_then(|s| s.strip_suffix(quote)) {
            return inner;
        }
    }
    side
}

fn truthy(value: &str) -> bool {
    !matches!(value.to_ascii_lowercase().as_str(), "" | "false" | "0" | "no" | "off")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_compare_substituted_values() {
        let values = BTreeMap::from([
            ("run_tests".to_owned(), "true".to_owned()),
            ("lint".to_owned(), String::new()),
            ("mode".to_owned(), "fast".to_owned()),
        ]);
        let cases = [
            ("{{run_tests}}", true),
            ("{{lint}}", false),
            ("!{{lint}}", true),
            ("{{mode}} == \"fast\"", true),
            ("{{mode}} == slow", false),
            ("{{mode}} != 'slow'", true),
            ("!{{mode}} == fast", false),
            ("off", false),
            ("NO", false),
            ("{{undeclared}}", true),
        ];
        for (condition, expected) in cases {
            assert_eq!(holds(condition, &values), expected, "{condition}");
        }
    }
}
