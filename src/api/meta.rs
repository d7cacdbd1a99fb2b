//! `metadata`: the name, labels and annotations every resource carries.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a resource name must look like: a lowercase RFC 1123 label. Names become tmux session
/// names, file names and bead prefixes, so nothing that needs quoting is allowed.
pub const NAME_PATTERN: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// The longest name accepted (RFC 1123 label length).
pub const NAME_MAX_LEN: usize = 63;
/// Label and annotation keys: an optional DNS-style prefix and `/`, then a name.
pub const LABEL_KEY_PATTERN: &str =
    "^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$";
/// Label values: empty, or up to 63 alphanumerics with `-`, `_`, `.` inside.
pub const LABEL_VALUE_PATTERN: &str = "^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$";

/// Identity of a resource. Only `name` is required.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectMeta {
    /// Unique among resources of the same kind in a city. A lowercase RFC 1123 label:
    /// `a-z`, `0-9` and `-`, starting and ending with an alphanumeric, at most 63 characters.
    #[schemars(regex(pattern = NAME_PATTERN), length(min = 1, max = 63))]
    pub name: String,
    /// Key/value pairs for selecting resources (`gc get agents -l team=core`). Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("propertyNames" = {"pattern": LABEL_KEY_PATTERN}, "additionalProperties" = {"type": "string", "pattern": LABEL_VALUE_PATTERN}))]
    pub labels: BTreeMap<String, String>,
    /// Free-form notes for people and tools; not used for selection. Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("propertyNames" = {"pattern": LABEL_KEY_PATTERN}))]
    pub annotations: BTreeMap<String, String>,
}

/// Whether `name` is a valid resource name (see [`NAME_PATTERN`]).
pub fn is_valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= NAME_MAX_LEN
        && alnum(&bytes[0])
        && alnum(&bytes[bytes.len() - 1])
        && bytes.iter().all(|b| alnum(b) || *b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn name_check_agrees_with_schema_pattern(s in "[-a-zA-Z0-9_.]{0,70}") {
            let re = regex::Regex::new(NAME_PATTERN).unwrap();
            prop_assert_eq!(is_valid_name(&s), re.is_match(&s) && s.len() <= NAME_MAX_LEN);
        }
    }
}
