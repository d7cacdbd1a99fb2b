//! Gas City names (`[a-zA-Z0-9][a-zA-Z0-9_-]*`, qualified with `/` and `.`) made into
//! resource names (lowercase RFC 1123 labels).

use crate::api::meta::is_valid_name;

/// `name` as a resource name: lowercase, every run of other characters a single `-`, no
/// leading or trailing `-`, at most 63 characters; `x` when nothing is left.
pub fn label(name: &str) -> String {
    let mut out = String::new();
    for ch in name.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let mut out: String = out.trim_end_matches('-').chars().take(63).collect();
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() { "x".to_owned() } else { out }
}

/// The resource name of agent `name` stamped for `rig` (`<rig>-<name>`), or of a city-wide
/// agent (`<name>`).
pub fn agent_name(rig: Option<&str>, name: &str) -> String {
    match rig {
        Some(rig) => label(&format!("{}-{}", label(rig), label(name))),
        None => label(name),
    }
}

/// Whether `name` is kept as written (so the report need not mention a rename).
pub fn unchanged(name: &str) -> bool {
    is_valid_name(name) && label(name) == name
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn gas_city_names_become_labels() {
        assert_eq!(label("mayor"), "mayor");
        assert_eq!(label("My_Agent"), "my-agent");
        assert_eq!(label("gastown.mayor"), "gastown-mayor");
        assert_eq!(label("--"), "x");
        assert_eq!(agent_name(Some("my_proj"), "polecat"), "my-proj-polecat");
        assert!(unchanged("mayor") && !unchanged("Mayor"));
    }

    proptest! {
        #[test]
        fn every_label_is_a_valid_name(name in "\\PC{0,80}") {
            prop_assert!(is_valid_name(&label(&name)), "{:?}", label(&name));
        }
    }
}
