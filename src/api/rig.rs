//! `Rig`: a project directory (usually a git repository) agents work on.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Bead id prefixes: lowercase, starting with a letter, short enough to type.
pub const PREFIX_PATTERN: &str = "^[a-z][a-z0-9]{0,15}$";

/// A project the city works on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RigSpec {
    /// Directory of the project, absolute or relative to the city directory.
    #[schemars(length(min = 1))]
    pub path: String,
    /// Git URL to clone into `path` when it does not exist yet. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// Prefix of the rig's bead ids (`<prefix>-<id>`). Default: derived from the name as Gas
    /// City does: the initials of its `-`/`_`/camelCase parts, else the whole name when it has
    /// at most 3 characters, else its first 2 (`my-project` → `mp`, `api` → `api`,
    /// `backend` → `ba`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = PREFIX_PATTERN))]
    pub prefix: Option<String>,
    /// When true the rig's agents are stopped. Default: `false`.
    #[serde(default)]
    pub suspended: bool,
    /// This rig's own lease settings; each one left out is the City's (`leases`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leases: Option<RigLeaseSpec>,
    /// What closing a bead of this rig must prove. Default: nothing (any close is taken).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion: Option<CompletionSpec>,
}

/// Proof required to close work, so "done" means a commit that exists.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CompletionSpec {
    /// Every close names a commit (`bd close ID --commit SHA`, else the closing session's
    /// `HEAD`) that exists in the rig's repository; a close without one is refused with a
    /// message saying what to do. Formula steps can ask the same with `requireCommit`.
    /// Default: `false`.
    #[serde(default)]
    pub require_commit: bool,
    /// The branch (or other ref) a close's commit must be reachable from, so work that was
    /// never merged is not done. Default: none (the commit must only exist).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = BRANCH_PATTERN))]
    pub target_branch: Option<String>,
}

/// Branch names gc accepts for `targetBranch`: git's own rules, kept to safe characters (no
/// leading `-`, so it can never read as an option).
pub const BRANCH_PATTERN: &str = "^[A-Za-z0-9_][A-Za-z0-9._/-]*$";

/// A rig's lease settings, overriding the City's one by one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RigLeaseSpec {
    /// See the City's `leases.grace`; `0s` never takes this rig's work back. Default: the
    /// City's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace: Option<super::Duration>,
    /// See the City's `leases.maxAttempts`. Default: the City's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
}

impl RigSpec {
    /// The prefix in force: the explicit one, or the one derived from `rig_name`.
    pub fn effective_prefix(&self, rig_name: &str) -> String {
        self.prefix.clone().unwrap_or_else(|| derive_prefix(rig_name))
    }
}

/// Derives a bead prefix from a rig name (see [`RigSpec::prefix`]).
pub fn derive_prefix(name: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    for chunk in name.split(['-', '_']).filter(|c| !c.is_empty()) {
        let mut current = String::new();
        for ch in chunk.chars() {
            if ch.is_uppercase() && !current.is_empty() {
                parts.push(std::mem::take(&mut current));
            }
            current.push(ch);
        }
        if !current.is_empty() {
            parts.push(current);
        }
    }
    let prefix: String = match parts.len() {
        0 => String::new(),
        1 if name.chars().count() <= 3 => name.to_owned(),
        1 => name.chars().take(2).collect(),
        _ => parts.iter().filter_map(|p| p.chars().next()).collect(),
    };
    prefix.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_derived_like_gas_city() {
        assert_eq!(derive_prefix("my-project"), "mp");
        assert_eq!(derive_prefix("data_pipeline_v2"), "dpv");
        assert_eq!(derive_prefix("myProject"), "mp");
        assert_eq!(derive_prefix("api"), "api");
        assert_eq!(derive_prefix("backend"), "ba");
    }
}
