//! The budget watcher: every few seconds, while any budget is declared, it reads what the
//! agents' transcripts gained into the usage ledger, keeps the ledger for the agent planner
//! ([`Context::usage`]), and says once per window when a budget crosses 80 % (a
//! `budget.warning` event and a mail: to the agent, or for the City's budget to its
//! `leases.escalateTo`), when it is used up (`budget.exceeded`) and when it is free again
//! (`budget.reset`: the window rolled over, or the limit was raised). What it said is kept in
//! `.gc/state/budgets.json`, so a new controller does not say it again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::budget::{self, Level, Standing};
use super::model::CityModel;
use super::reconcile::Context;
use crate::api::Kind;
use crate::store::{atomic, set_aside};

/// Who the watcher's events and mail are from.
const ACTOR: &str = "gc-controller";

/// What was said about one budget in its current window.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Said {
    /// The window it was said in (RFC 3339).
    window: String,
    /// The 80 % warning.
    warned: bool,
    /// That it is used up.
    exceeded: bool,
}

fn state_path(city_dir: &Path) -> PathBuf {
    city_dir.join(".gc/state/budgets.json")
}

/// One pass; returns the agents whose budget standing changed (to reconcile now).
pub fn tick(ctx: &Context) -> Vec<String> {
    let Ok(model) = ctx.specs() else { return Vec::new() };
    if !budget::any_declared(&model) {
        *ctx.usage.lock().unwrap_or_else(|e| e.into_inner()) = None;
        return Vec::new();
    }
    let ledger = match crate::usage::ledger::scan(&ctx.city_dir, &model) {
        Ok(ledger) => Arc::new(ledger),
        Err(e) => {
            tracing::warn!("budgets: cannot read the agents' transcripts: {e}");
            return Vec::new();
        }
    };
    *ctx.usage.lock().unwrap_or_else(|e| e.into_inner()) = Some(ledger.clone());
    let now = chrono::Utc::now();
    let path = state_path(&ctx.city_dir);
    let Ok(_lock) = atomic::lock_file(&path.with_extension("lock")) else { return Vec::new() };
    let mut said: BTreeMap<String, Said> = set_aside::read_json(&path, "budget notices")
        .ok()
        .and_then(|r| r.found())
        .unwrap_or_default();
    let before = said.clone();
    let mut changed = Vec::new();
    let everyone: Vec<String> = model.agents.keys().cloned().collect();
    if let Some(spec) = model.city_spec().budget {
        let start = budget::window(spec.window.get(), now).0;
        let standing =
            budget::standing(&spec, &budget::used_since(&ledger, &model, None, start), now);
        if notice(ctx, &model, None, &standing, said.entry("city".into()).or_default()) {
            changed.extend(everyone.iter().cloned());
        }
    }
    for (agent, applied) in &model.agents {
        let Some(spec) = &applied.spec.budget else { continue };
        let start = budget::window(spec.window.get(), now).0;
        let used = budget::used_since(&ledger, &model, Some(agent), start);
        let standing = budget::standing(spec, &used, now);
        if notice(
            ctx,
            &model,
            Some(agent),
            &standing,
            said.entry(format!("agent/{agent}")).or_default(),
        ) {
            changed.push(agent.clone());
        }
    }
    said.retain(|key, _| {
        key == "city" || key.strip_prefix("agent/").is_some_and(|a| model.agents.contains_key(a))
    });
    if said != before
        && let Ok(bytes) = serde_json::to_vec_pretty(&said)
        && let Err(e) = atomic::write(&path, &bytes)
    {
        tracing::warn!("budgets: cannot record what was said: {e}");
    }
    changed.sort();
    changed.dedup();
    changed
}

/// Says what `standing` calls for that was not said in its window yet; `true` when the
/// budget became used up or free again.
fn notice(
    ctx: &Context,
    model: &CityModel,
    agent: Option<&str>,
    standing: &Standing,
    said: &mut Said,
) -> bool {
    let window = standing.start.to_rfc3339();
    let mut changed = false;
    if said.window != window {
        if said.exceeded {
            record(
                ctx,
                agent,
                "budget.reset",
                "BudgetReset",
                "the window rolled over: resumes",
                standing,
            );
            changed = true;
        }
        *said = Said { window, ..Said::default() };
    }
    if standing.level >= Level::Warning && !said.warned {
        said.warned = true;
        record(ctx, agent, "budget.warning", "BudgetWarning", "80% used", standing);
        warn_by_mail(model, agent, standing);
    }
    match (standing.level == Level::Exceeded, said.exceeded) {
        (true, false) => {
            said.exceeded = true;
            let what = "used up: sessions finish their turn and stop, none starts";
            record(ctx, agent, "budget.exceeded", "BudgetExceeded", what, standing);
            changed = true;
        }
        (false, true) => {
            said.exceeded = false;
            record(
                ctx,
                agent,
                "budget.reset",
                "BudgetReset",
                "no longer used up: resumes",
                standing,
            );
            changed = true;
        }
        _ => {}
    }
    changed
}

fn record(
    ctx: &Context,
    agent: Option<&str>,
    event_type: &str,
    reason: &str,
    what: &str,
    standing: &Standing,
) {
    let whose = agent.map_or_else(|| "the City's budget".to_owned(), |a| format!("{a}'s budget"));
    let message = format!("{whose}: {what} ({})", standing.message);
    let payload = json!({
        "agent": agent,
        "share": (standing.share * 1000.0).round() / 1000.0,
        "windowStart": standing.start.to_rfc3339(),
        "windowEnd": standing.end.to_rfc3339(),
    });
    let mut event = crate::events::Event::new(event_type, reason, message).payload(payload);
    if let Some(agent) = agent {
        event = event.object(Kind::Agent, agent);
    }
    if let Err(e) = crate::events::append(&ctx.city_dir, vec![event], ACTOR) {
        tracing::warn!("cannot record {event_type}: {e}");
    }
}

/// The 80 % mail: to the agent about its own budget, to the City's `leases.escalateTo` about
/// the City's.
fn warn_by_mail(model: &CityModel, agent: Option<&str>, standing: &Standing) {
    let (to, subject) = match agent {
        Some(agent) => (agent.to_owned(), "80% of your budget is used".to_owned()),
        None => (model.city_spec().leases.escalate_to, "80% of the City's budget is used".into()),
    };
    let body = format!(
        "{}.\n\nAt 100% sessions finish their turn and stop until the window rolls over. Finish \
         what you are doing and leave notes for the next session.",
        standing.message
    );
    let sent = crate::work::stores::open(model, None).and_then(|(_, store)| {
        crate::work::mail::send(store.as_ref(), ACTOR, &to, &subject, &body)
    });
    if let Err(e) = sent {
        tracing::warn!("cannot mail {to} about its budget: {e}");
    }
}

/// Where `agent`'s budget (or the City's) stands now, from the ledger the watcher keeps (or,
/// without a watcher, as last saved): what the planner, the Stop hook and `gc diff` use.
pub fn standing_of(
    ctx_usage: Option<&crate::usage::ledger::Ledger>,
    city_dir: &Path,
    model: &CityModel,
    agent: &str,
) -> Option<(Standing, budget::Scope)> {
    if !budget::any_declared(model) {
        return None;
    }
    let now = chrono::Utc::now();
    match ctx_usage {
        Some(ledger) => budget::agent_standing(ledger, model, agent, now),
        None => budget::agent_standing(&crate::usage::ledger::load(city_dir), model, agent, now),
    }
}
