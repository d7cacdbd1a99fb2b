//! Token and cost accounting with the real Gemini CLI and Codex (Claude's is in
//! `agent_claude_costs.rs`): the loopback stand-in answers the Gemini API
//! (`GOOGLE_GEMINI_BASE_URL`) and the OpenAI Responses API (a Codex model provider) with usage on
//! every reply, every kind of token non-zero; the CLI writes it to its own transcript in the
//! home gc owns for the session (Gemini's chat file, Codex's rollout), and `gc costs` reads it
//! back: the same totals, priced from the Provider's table. Each is skipped when its CLI is not
//! found.

#[path = "common/agent_clis.rs"]
mod agent_clis;
#[path = "common/cli_city.rs"]
mod cli_city;
#[path = "common/messages_standin.rs"]
mod messages_standin;
#[path = "common/tmux.rs"]
mod tmux_city;

use std::time::Duration;

use cli_city::CliCity;
use messages_standin::{Reply, Standin, Totals};
use serde_json::Value;
use tmux_city::wait_until;

/// Waits until the first turn is answered and `gc costs` has counted it, then checks it
/// counted exactly what the stand-in reported for the agent's own turns (no cache writes: these
/// APIs bill none), for the worker, and the same when read again. The report and the figures.
fn counted_exactly(city: &CliCity, standin: &Standin) -> (Value, Totals) {
    let sent = || standin.usage_totals(true);
    wait_until("the first turn answered and counted", Duration::from_secs(90), || {
        sent().output > 0 && city.costs(&[])["total"]["usage"]["output"] == sent().output
    });
    let want = sent();
    let report = city.costs(&["--since", "1h"]);
    let usage = &report["total"]["usage"];
    assert_eq!(
        [&usage["input"], &usage["output"], &usage["cacheRead"], &usage["cacheWrite"]],
        [want.input, want.output, want.cache_read, 0].map(Value::from).each_ref(),
        "{report}"
    );
    assert_eq!(report["rows"][0]["key"], "worker");
    assert_eq!(city.costs(&[])["total"], report["total"], "nothing counted twice");
    (report, want)
}

/// Checks `report`'s cost is `want` priced at `[input, output, cache read]` dollars per million.
fn assert_priced(report: &Value, want: Totals, [input, output, cache_read]: [f64; 3]) {
    let expected = (want.input as f64 * input
        + want.output as f64 * output
        + want.cache_read as f64 * cache_read)
        / 1e6;
    let cost = report["total"]["cost"].as_f64().unwrap();
    assert!((cost - expected).abs() < 1e-9, "{cost} != {expected}");
}

#[test]
fn gc_costs_reads_back_what_the_gemini_api_reported() {
    let Some(gemini) = agent_clis::find("gemini") else { return };
    // Only Claude's requests go through the script; Gemini's are answered by the stand-in.
    let standin = Standin::start(Box::new(|_| Reply::text("unused")));
    let city = CliCity::new("gemini", &gemini)
        .with_env("GOOGLE_GEMINI_BASE_URL", &standin.base_url())
        .with_env("GEMINI_API_KEY", "standin-gemini-key");
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "90s"]);
    // The worker's prompt is Gemini's first turn: one streamed reply, written to its chat.
    let (report, want) = counted_exactly(&city, &standin);
    // Gemini CLI sends a complex prompt to its pro model, which the gemini Provider prices.
    let by_model = city.costs(&["--by", "model"]);
    let model = by_model["rows"][0]["key"].as_str().unwrap_or_default();
    assert!(model.starts_with("gemini-3.1-pro"), "{by_model}");
    assert_priced(&report, want, [2.0, 12.0, 0.2]);
    // Its router's side requests are not in the chat, so not counted.
    assert!(standin.usage_totals(false).input > want.input);
    city.stop();
}

#[test]
fn gc_costs_reads_back_what_the_responses_api_reported_to_codex() {
    let Some(codex) = agent_clis::find("codex") else { return };
    let standin = Standin::start(Box::new(|_| Reply::text("unused")));
    let city = CliCity::new("codex", &codex).with_env("OPENAI_API_KEY", "sk-test-standin-0000");
    city.point_codex_at(&standin.base_url());
    city.run(&["validate"]);
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "90s"]);
    // Its thread-title request (on the side, in no rollout) is not counted.
    let (report, want) = counted_exactly(&city, &standin);
    let by_model = city.costs(&["--by", "model"]);
    assert_eq!(by_model["rows"][0]["key"], "gpt-5", "{by_model}");
    // Priced as the codex Provider's table says for gpt-5 (1.25, 10, 0.125 per million).
    assert_priced(&report, want, [1.25, 10.0, 0.125]);
    city.stop();
}
