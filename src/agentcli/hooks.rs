//! What gc's hooks read from a CLI and answer it, in the form each CLI honours. Claude Code
//! ignores a Stop hook's plain stdout (it needs `{"decision": "block", …}`); Gemini reads only
//! JSON (`hookSpecificOutput.additionalContext`, `decision: "deny"`). Pure.

use serde_json::{Value, json};

use crate::api::provider::HookFormat;

/// What a hook learns from the JSON the CLI writes on its stdin (every field optional: a
/// hook run by hand gets none).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HookInput {
    /// The CLI's conversation id (`session_id`).
    pub session_id: Option<String>,
    /// `startup`, `resume`, `compact`, `clear`.
    pub source: Option<String>,
    /// Set when the CLI is already continuing because of a Stop hook.
    pub stop_hook_active: bool,
    /// The prompt just submitted (UserPromptSubmit, BeforeAgent).
    pub prompt: Option<String>,
    /// What started a compaction (PreCompact): `manual` or `auto`.
    pub trigger: Option<String>,
}

impl HookInput {
    /// Parses the hook's stdin; anything unreadable is an empty input.
    pub fn parse(text: &str) -> HookInput {
        let value: Value = serde_json::from_str(text.trim()).unwrap_or(Value::Null);
        let string = |key: &str| {
            value.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
        };
        HookInput {
            session_id: string("session_id"),
            source: string("source"),
            stop_hook_active: value.get("stop_hook_active").and_then(Value::as_bool) == Some(true),
            prompt: string("prompt"),
            trigger: string("trigger"),
        }
    }
}

/// What a start hook prints so that `text` reaches the model.
pub fn start_answer(format: HookFormat, event: &str, text: &str) -> String {
    match format {
        HookFormat::Claude => text.to_owned(),
        HookFormat::Gemini => json!({
            "hookSpecificOutput": {"hookEventName": event, "additionalContext": text}
        })
        .to_string(),
    }
}

/// What a prompt hook (UserPromptSubmit, BeforeAgent) prints so that `text` joins the turn
/// being submitted; empty `text` adds nothing.
pub fn prompt_answer(format: HookFormat, text: &str) -> String {
    match format {
        HookFormat::Claude => text.to_owned(),
        HookFormat::Gemini if text.is_empty() => "{}".to_owned(),
        HookFormat::Gemini => start_answer(format, "BeforeAgent", text),
    }
}

/// What a stop hook prints: with `reason`, the answer that makes the CLI go on with it as the
/// next instruction; without, what lets it stop.
pub fn stop_answer(format: HookFormat, reason: Option<&str>) -> String {
    match (format, reason) {
        (HookFormat::Claude, Some(reason)) => {
            json!({"decision": "block", "reason": reason}).to_string()
        }
        (HookFormat::Claude, None) => String::new(),
        (HookFormat::Gemini, Some(reason)) => {
            json!({"decision": "deny", "reason": reason}).to_string()
        }
        (HookFormat::Gemini, None) => "{}".to_owned(),
    }
}

/// Whether the stop hook sends the agent on to `next` (the bead id on its hook now): always,
/// unless the CLI is already continuing because of this hook and `next` is the bead it was
/// sent to last time (`offered`) — the agent did not act on it, and sending it again would
/// loop forever.
pub fn continue_with<'a>(
    input: &HookInput,
    next: Option<&'a str>,
    offered: Option<&str>,
) -> Option<&'a str> {
    let next = next?;
    if input.stop_hook_active && offered == Some(next) {
        return None;
    }
    Some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_input_is_read_leniently() {
        let input = HookInput::parse(
            r#"{"session_id":"3f2a","hook_event_name":"Stop","stop_hook_active":true,"source":"startup","prompt":"hi"}"#,
        );
        assert_eq!(input.prompt.as_deref(), Some("hi"));
        assert_eq!(input.session_id.as_deref(), Some("3f2a"));
        assert_eq!(input.source.as_deref(), Some("startup"));
        assert!(input.stop_hook_active);
        assert_eq!(HookInput::parse("not json"), HookInput::default());
        assert_eq!(HookInput::parse(""), HookInput::default());
    }

    #[test]
    fn answers_take_each_clis_form() {
        assert_eq!(start_answer(HookFormat::Claude, "SessionStart", "hi"), "hi");
        let gemini: Value =
            serde_json::from_str(&start_answer(HookFormat::Gemini, "SessionStart", "hi")).unwrap();
        assert_eq!(gemini["hookSpecificOutput"]["additionalContext"], "hi");
        let block: Value =
            serde_json::from_str(&stop_answer(HookFormat::Claude, Some("do gc-1"))).unwrap();
        assert_eq!(
            (block["decision"].as_str(), block["reason"].as_str()),
            (Some("block"), Some("do gc-1"))
        );
        assert_eq!(stop_answer(HookFormat::Claude, None), "", "plain exit 0 lets Claude stop");
        assert_eq!(prompt_answer(HookFormat::Claude, ""), "");
        assert_eq!(prompt_answer(HookFormat::Gemini, ""), "{}");
        let joined: Value =
            serde_json::from_str(&prompt_answer(HookFormat::Gemini, "mail")).unwrap();
        assert_eq!(joined["hookSpecificOutput"]["hookEventName"], "BeforeAgent");
        let deny: Value =
            serde_json::from_str(&stop_answer(HookFormat::Gemini, Some("do gc-1"))).unwrap();
        assert_eq!(deny["decision"], "deny");
        assert_eq!(stop_answer(HookFormat::Gemini, None), "{}");
    }

    #[test]
    fn the_stop_hook_never_loops_on_work_the_agent_ignores() {
        let first = HookInput::default();
        let again = HookInput { stop_hook_active: true, ..HookInput::default() };
        assert_eq!(continue_with(&first, Some("gc-1"), None), Some("gc-1"));
        assert_eq!(continue_with(&again, Some("gc-2"), Some("gc-1")), Some("gc-2"));
        assert_eq!(continue_with(&again, Some("gc-1"), Some("gc-1")), None);
        assert_eq!(continue_with(&first, Some("gc-1"), Some("gc-1")), Some("gc-1"));
        assert_eq!(continue_with(&first, None, None), None);
    }
}
