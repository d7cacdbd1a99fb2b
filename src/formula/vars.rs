//! Formula variables: checking the values given for a cook, and `{{name}}` substitution.

use std::collections::BTreeMap;

use crate::api::formula::VarSpec;

/// A value given for a cook that the formula does not accept.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VarError {
    /// A required var has no value and no default.
    #[error("missing required var `{name}`{}: give it with --var {name}=VALUE", describe(.description))]
    Missing {
        /// The var.
        name: String,
        /// Its description, if any.
        description: Option<String>,
    },
    /// None of several vars, one of which is needed, was given.
    #[error("give one of the vars {}: --var {}=VALUE", .names.join(", "), .names[0])]
    MissingOneOf {
        /// The vars, any one of which will do.
        names: Vec<String>,
    },
    /// A value for a var the formula does not declare.
    #[error("formula has no var `{name}`{}", declared(.known))]
    Unknown {
        /// The name given.
        name: String,
        /// The vars there are.
        known: Vec<String>,
    },
    /// A value outside the var's `enum`.
    #[error("var `{name}`: `{value}` is not one of {}", .allowed.join(", "))]
    NotAllowed {
        /// The var.
        name: String,
        /// The value.
        value: String,
        /// What is allowed.
        allowed: Vec<String>,
    },
    /// A value that does not match the var's `pattern`.
    #[error("var `{name}`: `{value}` does not match the pattern `{pattern}`")]
    NoMatch {
        /// The var.
        name: String,
        /// The value.
        value: String,
        /// The pattern.
        pattern: String,
    },
    /// `--var` not written `NAME=VALUE`.
    #[error("`{0}` is not NAME=VALUE")]
    Malformed(String),
}

fn describe(description: &Option<String>) -> String {
    description.as_ref().map_or_else(String::new, |d| format!(" ({d})"))
}

fn declared(known: &[String]) -> String {
    if known.is_empty() {
        "; it declares none".into()
    } else {
        format!("; vars: {}", known.join(", "))
    }
}

/// Parses `NAME=VALUE` arguments (a later one for the same name wins).
pub fn parse_assignments(args: &[String]) -> Result<BTreeMap<String, String>, VarError> {
    args.iter()
        .map(|arg| match arg.split_once('=') {
            Some((name, value)) if !name.trim().is_empty() => {
                Ok((name.trim().to_owned(), value.to_owned()))
            }
            _ => Err(VarError::Malformed(arg.clone())),
        })
        .collect()
}

/// The value of every declared var for a cook: the given one, else the default. Every problem
/// is reported (unknown names, missing required vars, enum and pattern mismatches).
pub fn resolve(
    declared: &BTreeMap<String, VarSpec>,
    given: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, Vec<VarError>> {
    let mut errors = Vec::new();
    for name in given.keys() {
        if !declared.contains_key(name) {
            errors.push(VarError::Unknown {
                name: name.clone(),
                known: declared.keys().cloned().collect(),
            });
        }
    }
    let mut values = BTreeMap::new();
    for (name, var) in declared {
        let value = match (given.get(name), &var.default) {
            (Some(v), _) => v.clone(),
            (None, Some(d)) => d.clone(),
            (None, None) if var.required => {
                errors.push(VarError::Missing {
                    name: name.clone(),
                    description: var.description.clone(),
                });
                continue;
            }
            (None, None)
                if !var.required_unless.is_empty()
                    && !var.required_unless.iter().any(|o| given.contains_key(o)) =>
            {
                errors.push(VarError::MissingOneOf {
                    names: std::iter::once(name.clone())
                        .chain(var.required_unless.iter().cloned())
                        .collect(),
                });
                continue;
            }
            (None, None) => {
                // Not given and not needed: empty, and not held to its enum or pattern.
                values.insert(name.clone(), String::new());
                continue;
            }
        };
        if !var.allowed.is_empty() && !var.allowed.contains(&value) {
            errors.push(VarError::NotAllowed {
                name: name.clone(),
                value: value.clone(),
                allowed: var.allowed.clone(),
            });
        }
        if let Some(pattern) = &var.pattern {
            // Validation rejects patterns that do not compile; one that slipped through
            // (an older applied object) matches nothing rather than everything.
            let matched =
                regex::Regex::new(&format!("^(?:{pattern})$")).is_ok_and(|re| re.is_match(&value));
            if !matched {
                errors.push(VarError::NoMatch {
                    name: name.clone(),
                    value: value.clone(),
                    pattern: pattern.clone(),
                });
            }
        }
        values.insert(name.clone(), value);
    }
    if errors.is_empty() { Ok(values) } else { Err(errors) }
}

/// Replaces each `{{name}}` (spaces inside the braces allowed) whose name is in `values`.
/// Other braces are left as written: formula text often quotes Go templates (`{{.Rig}}`) or
/// shell, which are not formula vars.
pub fn substitute(text: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => match values.get(after[..end].trim()) {
                Some(value) => {
                    out.push_str(value);
                    rest = &after[end + 2..];
                }
                None => {
                    out.push_str("{{");
                    rest = after;
                }
            },
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The `{{name}}` placeholders in `text` that look like formula vars (a plain identifier).
pub fn placeholders(text: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let name = after[..end].trim();
        let is_ident = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if is_ident && !names.contains(&name) {
            names.push(name);
        }
        rest = &after[end + 2..];
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(default: Option<&str>, required: bool) -> VarSpec {
        VarSpec { default: default.map(str::to_owned), required, ..VarSpec::default() }
    }

    fn given(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_fill_in_and_every_problem_is_reported() {
        let mut declared = BTreeMap::from([
            ("issue".to_owned(), var(None, true)),
            ("branch".to_owned(), var(Some("main"), false)),
            ("note".to_owned(), var(None, false)),
        ]);
        let ok = resolve(&declared, &given(&[("issue", "gc-1")])).unwrap();
        assert_eq!(ok, given(&[("branch", "main"), ("issue", "gc-1"), ("note", "")]));

        declared.insert(
            "mode".into(),
            VarSpec { allowed: vec!["fast".into(), "slow".into()], ..var(Some("fast"), false) },
        );
        declared.insert(
            "port".into(),
            VarSpec { pattern: Some("[0-9]+".into()), ..var(Some("3307"), false) },
        );
        let errors =
            resolve(&declared, &given(&[("mode", "warp"), ("port", "80a"), ("isue", "x")]))
                .unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 4, "{text:?}");
        assert!(text[0].starts_with("formula has no var `isue`"), "{text:?}");
        assert!(text.iter().any(|t| t.starts_with("missing required var `issue`")), "{text:?}");
        assert!(text.iter().any(|t| t.contains("`warp` is not one of fast, slow")), "{text:?}");
        assert!(text.iter().any(|t| t.contains("`80a` does not match")), "{text:?}");
    }

    #[test]
    fn only_known_placeholders_are_replaced() {
        let values = given(&[("issue", "gc-7"), ("who", "mayor")]);
        assert_eq!(
            substitute("Fix {{issue}} for {{ who }}: see {{.Rig}} and {{other}} {{", &values),
            "Fix gc-7 for mayor: see {{.Rig}} and {{other}} {{"
        );
        assert_eq!(placeholders("{{a}} {{ b }} {{.C}} {{a}}"), ["a", "b"]);
        assert_eq!(
            parse_assignments(&["a=1".into(), "b=x=y".into()]).unwrap(),
            given(&[("a", "1"), ("b", "x=y")])
        );
        assert!(parse_assignments(&["=1".into()]).is_err());
    }
}
