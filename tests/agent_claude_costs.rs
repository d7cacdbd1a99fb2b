//! Token and cost accounting with the real Claude Code: the loopback stand-in for the Messages
//! API reports usage on every reply (every kind of token non-zero), Claude writes it to its
//! transcript in the config directory gc owns, and `gc costs` reads it back: the same totals,
//! priced from the Provider's table. Skipped when no `claude` is found.

#[path = "common/agent_clis.rs"]
mod agent_clis;
#[path = "common/cli_city.rs"]
mod cli_city;
#[path = "common/dashboard.rs"]
mod dashboard;
#[path = "common/messages_standin.rs"]
mod messages_standin;
#[path = "common/tmux.rs"]
mod tmux_city;

use std::time::Duration;

use cli_city::CliCity;
use messages_standin::Standin;
use serde_json::Value;
use tmux_city::wait_until;

#[test]
fn gc_costs_reads_back_exactly_what_the_model_reported() {
    let Some(claude) = agent_clis::find("claude") else { return };
    let standin = Standin::bead_worker();
    let city = CliCity::new("claude", &claude)
        .with_env("ANTHROPIC_BASE_URL", &standin.base_url())
        .with_env("ANTHROPIC_API_KEY", "sk-ant-api03-standin-0123456789abcdefghij");
    city.run(&["apply"]);
    let id = city.sling("Add a CHANGELOG entry", &[]);
    city.run(&["start", "--timeout", "90s"]);
    wait_until("the bead closed by the worker", Duration::from_secs(120), || {
        city.bead(&id)["status"] == "closed"
    });
    // Its turn ends with a text reply after the close (its Stop hook then records the turn
    // ended): wait until it has, and every reply is counted.
    let sent = || standin.usage_totals(true);
    let turn = city.city.path().join(".gc/state/turn").join(city.session());
    wait_until("the turn over and every reply counted", Duration::from_secs(30), || {
        std::fs::read_to_string(&turn).is_ok_and(|t| t.trim() == "ended")
            && city.costs(&[])["total"]["usage"]["output"] == sent().output
    });
    let want = sent();
    let report = city.costs(&["--since", "1h"]);
    let usage = &report["total"]["usage"];
    assert_eq!(
        [&usage["input"], &usage["output"], &usage["cacheRead"], &usage["cacheWrite"]],
        [want.input, want.output, want.cache_read, want.cache_write].map(Value::from).each_ref(),
        "{report}"
    );
    assert_eq!(report["rows"][0]["key"], "worker");
    // Priced as the claude Provider's table says for claude-opus (5, 25, 0.5, 6.25 per million).
    let expected = (want.input as f64 * 5.0
        + want.output as f64 * 25.0
        + want.cache_read as f64 * 0.5
        + want.cache_write as f64 * 6.25)
        / 1e6;
    let cost = report["total"]["cost"].as_f64().unwrap();
    assert!((cost - expected).abs() < 1e-9, "{cost} != {expected}");
    // Read again: nothing is counted twice.
    assert_eq!(city.costs(&[])["total"], report["total"]);
    let by_model = city.costs(&["--by", "model"]);
    let model = by_model["rows"][0]["key"].as_str().unwrap().to_owned();
    assert!(model.starts_with("claude-opus"), "{by_model}");
    // The title requests Claude sends on the side are not in its transcript.
    assert!(standin.usage_totals(false).input > want.input);
    // The same figures in gc status (today), gc describe and the API.
    let status: Value =
        serde_json::from_slice(&city.run(&["status", "-o", "json"]).stdout).unwrap();
    let worker =
        status["agents"].as_array().unwrap().iter().find(|a| a["name"] == "worker").unwrap();
    assert_eq!(worker["spendToday"]["tokens"], report["total"]["tokens"], "{worker}");
    let described = String::from_utf8(city.run(&["describe", "agent/worker"]).stdout).unwrap();
    let usage_line = described.lines().find(|l| l.trim_start().starts_with("total")).unwrap_or("");
    assert!(
        described.contains("Usage:") && usage_line.contains(&report["total"]["tokens"].to_string()),
        "{described}"
    );
    let api = dashboard::Dashboard::start(&city.city, "127.0.0.1:0");
    assert_eq!(api.get("/api/v1/costs?since=24h")["total"], report["total"]);
    assert_eq!(api.get("/api/v1/costs?by=model")["rows"][0]["key"].as_str(), Some(model.as_str()));
    drop(api);
    // The table for people.
    let text = String::from_utf8(city.run(&["costs", "--by", "session"]).stdout).unwrap();
    assert!(
        text.contains("gc-town-worker-1") && text.contains(&format!("{}", want.input)),
        "{text}"
    );
    city.stop();
}

#[test]
fn a_token_budget_stops_claude_after_the_turn_that_crosses_it() {
    let Some(claude) = agent_clis::find("claude") else { return };
    let standin = Standin::bead_worker();
    let city = CliCity::new("claude", &claude)
        .with_env("ANTHROPIC_BASE_URL", &standin.base_url())
        .with_env("ANTHROPIC_API_KEY", "sk-ant-api03-standin-0123456789abcdefghij");
    // One reply of the stand-in is about 19,000 tokens: the first turn crosses 30,000.
    city.edit(
        "agents/worker.yaml",
        "  idleTimeout: 10m\n",
        "  idleTimeout: 10m\n  budget: {tokens: 30000}\n",
    );
    city.run(&["validate"]);
    city.run(&["apply"]);
    let (first, second) =
        (city.sling("Add a CHANGELOG entry", &[]), city.sling("Write the release notes", &[]));
    city.run(&["start", "--timeout", "90s"]);
    let closed =
        || [&first, &second].iter().filter(|id| city.bead(id)["status"] == "closed").count();
    wait_until("a bead closed", Duration::from_secs(120), || closed() > 0);
    // The turn that crossed the budget ends (its Stop hook does not send it on), and the
    // controller stops the session: the event, the condition, no second bead.
    wait_until("the worker OverBudget", Duration::from_secs(60), || {
        let s = city.worker();
        s["phase"] == "OverBudget" && s["sessions"][0]["phase"] == "overbudget"
    });
    let status = city.worker();
    let condition = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "BudgetExceeded")
        .cloned();
    assert_eq!(
        condition.as_ref().map(|c| c["status"].clone()),
        Some(Value::from("True")),
        "{status}"
    );
    wait_until("the budget.exceeded event", Duration::from_secs(30), || {
        city.city.events("budget.exceeded").iter().any(|e| e["object"]["name"] == "worker")
    });
    let stopped = city.city.events("session.stopped");
    assert!(stopped.iter().any(|e| e["reason"] == "BudgetExceeded"), "{stopped:?}");
    assert!(city.city.events("session.crashed").is_empty());
    assert_eq!(closed(), 1, "no work after the budget was used up");
    assert_eq!(city.city.events("session.started").len(), 1, "no session started again");
    let spent: Value = serde_json::from_slice(&city.run(&["costs", "-o", "json"]).stdout).unwrap();
    assert!(spent["total"]["tokens"].as_u64().unwrap() >= 30_000, "{spent}");
    city.stop();
}
