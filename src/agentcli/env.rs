//! A session's environment, built rather than inherited: a short list of basics from the
//! environment gc runs in, the variables the Provider names (`passEnv`), then what the
//! Provider, the Agent and gc declare. Nothing else crosses over — in particular not the
//! `CLAUDECODE`, `CLAUDE_CODE_*` or `NODE_OPTIONS` of a shell that is itself inside an agent.
//! Pure.

use std::collections::BTreeMap;

/// Variables every session takes from gc's environment when set there: who and where the user
/// is, and the locale.
pub const BASICS: &[&str] =
    &["PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "LC_*", "TZ", "TMPDIR"];

/// Variables the launcher keeps from the terminal the session runs in (tmux sets them for the
/// pane; they describe that terminal, not gc's).
pub const TERMINAL: &[&str] = &["TERM", "COLORTERM"];

/// Whether `name` matches `pattern`: equal, or for `PREFIX*` starting with `PREFIX`.
pub fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// What passes from gc's environment into sessions: [`BASICS`] and the Provider's `passEnv`,
/// less its `stripEnv` (a name listed exactly in `passEnv` passes anyway).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PassEnv {
    /// Names or `PREFIX*` patterns that pass.
    pub pass: Vec<String>,
    /// Names or `PREFIX*` patterns that do not, although a pattern in `pass` matches.
    pub strip: Vec<String>,
}

impl PassEnv {
    /// The basics plus `pass`, less `strip`.
    pub fn new(pass: &[String], strip: &[String]) -> PassEnv {
        let mut all: Vec<String> = BASICS.iter().map(|s| (*s).to_owned()).collect();
        all.extend(pass.iter().cloned());
        PassEnv { pass: all, strip: strip.to_vec() }
    }

    /// Whether gc's variable `name` passes into sessions.
    pub fn passes(&self, name: &str) -> bool {
        if self.pass.iter().any(|p| p == name) {
            return true;
        }
        self.pass.iter().any(|p| matches(p, name)) && !self.strip.iter().any(|p| matches(p, name))
    }
}

/// The environment of a session: the variables of `inherited` that `pass` lets through, then
/// `declared` (Provider, Agent and gc's own variables), which wins.
pub fn build(
    declared: &BTreeMap<String, String>,
    pass: &PassEnv,
    inherited: impl IntoIterator<Item = (String, String)>,
) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> =
        inherited.into_iter().filter(|(name, _)| pass.passes(name)).collect();
    env.extend(declared.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

/// Whether a variable's value is a secret by its name (keys, tokens, passwords, credentials):
/// such values are never shown.
pub fn is_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH", "COOKIE"]
        .iter()
        .any(|word| upper.contains(word))
}

/// `value` as it may be shown for variable `name`: secrets as `<set, N characters>`.
pub fn shown(name: &str, value: &str) -> String {
    if is_secret(name) {
        format!("<secret, {} characters>", value.chars().count())
    } else {
        value.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn only_basics_and_named_credentials_cross_over() {
        let pass = PassEnv::new(
            &["ANTHROPIC_*".into(), "CLAUDE_CODE_OAUTH_TOKEN".into()],
            &["CLAUDE_CODE_*".into()],
        );
        let shell = vars(&[
            ("PATH", "/usr/bin"),
            ("HOME", "/home/u"),
            ("LC_ALL", "C.UTF-8"),
            ("ANTHROPIC_API_KEY", "sk-ant-x"),
            ("ANTHROPIC_BASE_URL", "http://127.0.0.1:9"),
            ("CLAUDECODE", "1"),
            ("CLAUDE_CODE_ENTRYPOINT", "cli"),
            ("CLAUDE_CODE_OAUTH_TOKEN", "tok"),
            ("NODE_OPTIONS", "--inspect"),
            ("GC_AGENT", "someone-else"),
            ("TMUX", "/tmp/tmux-0/default,1,0"),
            ("OPENAI_API_KEY", "sk-openai"),
        ]);
        let declared = BTreeMap::from([
            ("GC_AGENT".to_owned(), "worker".to_owned()),
            ("DISABLE_AUTOUPDATER".to_owned(), "1".to_owned()),
        ]);
        let env = build(&declared, &pass, shell);
        let names: Vec<&str> = env.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "ANTHROPIC_API_KEY",
                "ANTHROPIC_BASE_URL",
                "CLAUDE_CODE_OAUTH_TOKEN",
                "DISABLE_AUTOUPDATER",
                "GC_AGENT",
                "HOME",
                "LC_ALL",
                "PATH"
            ]
        );
        assert_eq!(env["GC_AGENT"], "worker", "gc's own value wins over the shell's");
    }

    #[test]
    fn a_strip_pattern_beats_a_pass_pattern() {
        let pass = PassEnv::new(&["CLAUDE_*".into()], &["CLAUDE_CODE_*".into()]);
        assert!(pass.passes("CLAUDE_CONFIG_DIR"));
        assert!(!pass.passes("CLAUDE_CODE_SESSION_ID"));
        assert!(!pass.passes("CLAUDECODE"));
        assert!(pass.passes("LC_CTYPE"));
        assert!(!pass.passes("NODE_OPTIONS"));
    }

    #[test]
    fn secrets_are_masked_by_name() {
        assert_eq!(shown("ANTHROPIC_API_KEY", "sk-ant-123"), "<secret, 10 characters>");
        assert_eq!(shown("CLAUDE_CODE_OAUTH_TOKEN", "t"), "<secret, 1 characters>");
        assert_eq!(shown("ANTHROPIC_BASE_URL", "http://x"), "http://x");
        assert!(!is_secret("PATH"));
    }
}
