//! Reading token counts out of the CLIs' own transcripts, a piece at a time: each call gets the
//! bytes appended since the last one and the file's [`Cursor`], and returns what the new
//! complete lines add. Only whole lines are read (a line still being written waits for the
//! next call), so a transcript is read once however long it grows.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Usage;
use crate::api::provider::TranscriptFormat;

/// Tokens one model reply (or one step of a CLI's running totals) used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counted {
    /// When (RFC 3339, as the transcript says; empty when it does not).
    pub at: String,
    /// The model that answered (empty when the transcript does not say).
    pub model: String,
    /// What it adds (a reply written again counts only its difference).
    pub usage: Usage,
}

/// Where reading a transcript file stands.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cursor {
    /// The file's inode: another file under the same name is read from its start.
    pub inode: u64,
    /// Bytes read (always the end of a whole line).
    pub offset: u64,
    /// Claude and Gemini write a reply again as it grows: the last replies counted, by id,
    /// with what was counted for them, so a rewrite counts only its difference.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent: Vec<(String, Usage)>,
    /// Codex: the running totals last seen, and the model in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totals: Option<Usage>,
    /// The model the transcript last named (Codex names it once per turn).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub model: String,
}

/// How many recent reply ids a cursor remembers.
const RECENT: usize = 64;

/// Reads the complete lines at the start of `appended` (the bytes after `cursor.offset`),
/// advancing the cursor past them, and returns what they count.
pub fn read(format: TranscriptFormat, appended: &[u8], cursor: &mut Cursor) -> Vec<Counted> {
    let complete = appended.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let mut counted = Vec::new();
    for line in appended[..complete].split(|b| *b == b'\n') {
        let Ok(value) = serde_json::from_slice::<Value>(line) else { continue };
        let got = match format {
            TranscriptFormat::Claude => claude(&value, cursor),
            TranscriptFormat::Codex => codex(&value, cursor),
            TranscriptFormat::Gemini => gemini(&value, cursor),
        };
        counted.extend(got.filter(|c| !c.usage.is_zero()));
    }
    cursor.offset += complete as u64;
    counted
}

fn number(value: &Value, key: &str) -> u64 {
    value.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn text(value: &Value, key: &str) -> String {
    value.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// Counts reply `id` as `usage`: all of it the first time, the difference when it was
/// counted before (a reply written again as it grew).
fn once(cursor: &mut Cursor, id: String, usage: Usage) -> Usage {
    if let Some((_, before)) = cursor.recent.iter_mut().find(|(seen, _)| *seen == id) {
        let added = usage.saturating_sub(before);
        *before = usage.max_each(before);
        return added;
    }
    cursor.recent.push((id, usage.clone()));
    if cursor.recent.len() > RECENT {
        cursor.recent.remove(0);
    }
    usage
}

/// Claude Code: `{"type":"assistant","timestamp":…,"message":{"id":…,"model":…,"usage":{…}}}`,
/// one line per content block of a reply, each with the reply's usage so far.
fn claude(line: &Value, cursor: &mut Cursor) -> Option<Counted> {
    if line.get("type").and_then(Value::as_str) != Some("assistant") {
        return None;
    }
    let message = line.get("message")?;
    let usage = message.get("usage")?;
    let counted = Usage {
        input: number(usage, "input_tokens"),
        output: number(usage, "output_tokens"),
        cache_read: number(usage, "cache_read_input_tokens"),
        cache_write: number(usage, "cache_creation_input_tokens"),
    };
    let id = message.get("id").and_then(Value::as_str).map(str::to_owned);
    let usage = match id {
        Some(id) => once(cursor, id, counted),
        None => counted,
    };
    Some(Counted { at: text(line, "timestamp"), model: text(message, "model"), usage })
}

/// Codex: `turn_context` lines name the model; `event_msg` lines of type `token_count` carry
/// the session's running totals (`info.total_token_usage`), whose growth is what a step used.
/// Codex's `input_tokens` include the cached ones (and, in 0.171, `cache_write_input_tokens`,
/// which OpenAI's models leave at 0); its `output_tokens` include the reasoning ones.
fn codex(line: &Value, cursor: &mut Cursor) -> Option<Counted> {
    let payload = line.get("payload")?;
    match line.get("type").and_then(Value::as_str) {
        Some("turn_context") => {
            cursor.model = text(payload, "model");
            None
        }
        Some("event_msg") if payload.get("type").and_then(Value::as_str) == Some("token_count") => {
            let totals = payload.get("info")?.get("total_token_usage")?;
            let cached = number(totals, "cached_input_tokens");
            let written = number(totals, "cache_write_input_tokens");
            let now = Usage {
                input: number(totals, "input_tokens").saturating_sub(cached + written),
                output: number(totals, "output_tokens"),
                cache_read: cached,
                cache_write: written,
            };
            let usage = match &cursor.totals {
                // Totals that went down belong to a new conversation in the same file.
                Some(before) if now.total() >= before.total() => now.saturating_sub(before),
                _ => now.clone(),
            };
            cursor.totals = Some(now);
            Some(Counted { at: text(line, "timestamp"), model: cursor.model.clone(), usage })
        }
        _ => None,
    }
}

/// Gemini CLI: message records `{"id":…,"type":"gemini","timestamp":…,"model":…,"tokens":
/// {"input","output","cached","thoughts","tool",…}}`; a message is written again when it is
/// updated. `input` includes the cached tokens; thoughts are billed as output.
fn gemini(line: &Value, cursor: &mut Cursor) -> Option<Counted> {
    if line.get("type").and_then(Value::as_str) != Some("gemini") {
        return None;
    }
    let tokens = line.get("tokens").filter(|t| t.is_object())?;
    let cached = number(tokens, "cached");
    let counted = Usage {
        input: (number(tokens, "input") + number(tokens, "tool")).saturating_sub(cached),
        output: number(tokens, "output") + number(tokens, "thoughts"),
        cache_read: cached,
        cache_write: 0,
    };
    let id = text(line, "id");
    let usage = if id.is_empty() { counted } else { once(cursor, id, counted) };
    Some(Counted { at: text(line, "timestamp"), model: text(line, "model"), usage })
}

#[cfg(test)]
#[path = "transcript_tests.rs"]
mod tests;
