use super::*;
use crate::api::provider::TranscriptFormat::{Claude, Codex, Gemini};

fn usage(input: u64, output: u64, cache_read: u64, cache_write: u64) -> Usage {
    Usage { input, output, cache_read, cache_write }
}

fn claude_line(id: &str, input: u64, output: u64) -> String {
    format!(
        r#"{{"type":"assistant","timestamp":"2026-12-06T05:08:26.275Z","message":{{"id":"{id}","model":"claude-opus-5-5","usage":{{"input_tokens":{input},"cache_creation_input_tokens":3,"cache_read_input_tokens":5,"output_tokens":{output}}}}}}}"#
    ) + "\n"
}

#[test]
fn claude_replies_count_once_however_often_they_are_written() {
    let mut cursor = Cursor::default();
    let text = [
        r#"{"type":"user","message":{"role":"user","content":"hi"}}"#.to_owned() + "\n",
        claude_line("msg_1", 100, 1),
        // The same reply again, grown (a second content block): only the difference counts.
        claude_line("msg_1", 100, 10),
        claude_line("msg_2", 200, 20),
    ]
    .concat();
    let counted = read(Claude, text.as_bytes(), &mut cursor);
    let sum = counted.iter().fold(Usage::default(), |mut s, c| {
        s.add(&c.usage);
        s
    });
    assert_eq!(sum, usage(300, 30, 10, 6));
    assert_eq!(counted[0].model, "claude-opus-5-5");
    assert_eq!(cursor.offset, text.len() as u64);
}

#[test]
fn a_line_still_being_written_waits_for_the_next_read() {
    let mut cursor = Cursor::default();
    let whole = claude_line("msg_1", 100, 10);
    let (first, rest) = whole.split_at(40);
    assert!(read(Claude, first.as_bytes(), &mut cursor).is_empty());
    assert_eq!(cursor.offset, 0, "nothing read past a partial line");
    let counted = read(Claude, whole.as_bytes(), &mut cursor);
    assert_eq!(counted.len(), 1);
    assert_eq!(cursor.offset, whole.len() as u64);
    assert!(!rest.is_empty());
    // Read again from the cursor: nothing new.
    assert!(read(Claude, b"", &mut cursor).is_empty());
}

#[test]
fn codex_counts_the_growth_of_its_running_totals() {
    let mut cursor = Cursor::default();
    // Codex 0.171's shape (seen against a loopback Responses API).
    let totals = |input: u64, cached: u64, output: u64, written: u64| {
        format!(
            r#"{{"timestamp":"2026-12-06T05:00:00Z","type":"event_msg","payload":{{"type":"token_count","info":{{"total_token_usage":{{"input_tokens":{input},"cached_input_tokens":{cached},"cache_write_input_tokens":{written},"output_tokens":{output},"reasoning_output_tokens":0,"total_tokens":0}}}}}}}}"#
        ) + "\n"
    };
    let text = [
        r#"{"type":"session_meta","payload":{"id":"abc"}}"#.to_owned() + "\n",
        r#"{"type":"turn_context","payload":{"model":"gpt-5-codex"}}"#.to_owned() + "\n",
        totals(1000, 400, 50, 0),
        totals(1000, 400, 50, 0), // said twice: counts once
        totals(2600, 1400, 80, 100),
    ]
    .concat();
    let counted = read(Codex, text.as_bytes(), &mut cursor);
    assert_eq!(counted.len(), 2, "{counted:?}");
    assert_eq!(counted[0].usage, usage(600, 50, 400, 0));
    // Cache writes are part of Codex's input_tokens, as the cached ones are.
    assert_eq!(counted[1].usage, usage(500, 30, 1000, 100));
    assert_eq!(counted[1].model, "gpt-5-codex");
}

#[test]
fn gemini_messages_written_again_count_their_difference() {
    let mut cursor = Cursor::default();
    let message = |id: &str, input: u64, output: u64| {
        format!(
            r#"{{"id":"{id}","timestamp":"2026-12-06T05:00:00Z","type":"gemini","model":"gemini-2.5-pro","content":"x","tokens":{{"input":{input},"output":{output},"cached":10,"thoughts":5,"tool":0,"total":0}}}}"#
        ) + "\n"
    };
    let text = [
        r#"{"id":"u1","type":"user","content":"hi"}"#.to_owned() + "\n",
        message("g1", 110, 20),
        r#"{"$set":{"lastUpdated":"2026-12-06T05:00:01Z"}}"#.to_owned() + "\n",
        message("g1", 110, 20),
        message("g2", 60, 5),
    ]
    .concat();
    let counted = read(Gemini, text.as_bytes(), &mut cursor);
    assert_eq!(counted.len(), 2, "{counted:?}");
    assert_eq!(counted[0].usage, usage(100, 25, 10, 0));
    assert_eq!(counted[1].usage, usage(50, 10, 10, 0));
}

#[test]
fn lines_that_are_not_json_are_skipped() {
    let mut cursor = Cursor::default();
    let text = format!("not json\n{}\u{0}\n", claude_line("m", 1, 1).trim_end());
    assert_eq!(read(Claude, text.as_bytes(), &mut cursor).len(), 0);
    assert_eq!(cursor.offset, text.len() as u64);
}
