//! Budgets: how much of an agent's (and the City's) ceiling on tokens and spend its current
//! window has used, from the usage ledger. Pure: the watcher ([`super::budget_watch`]) keeps
//! the figures current and says when a threshold is crossed; the agent planner holds an agent
//! whose budget is used up.
//!
//! Windows are whole hours counted from the Unix epoch, so `1d` is each UTC day and `1h` each
//! hour; spend is counted by the hour, so a window holds exactly the hours inside it.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::city::BudgetSpec;
use crate::controllers::model::CityModel;
use crate::usage::ledger::Ledger;

/// The share of a budget at which a warning is sent.
pub const WARN_AT: f64 = 0.8;

/// What a window has used.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Used {
    /// Tokens of every kind.
    pub tokens: u64,
    /// US dollars.
    pub cost: f64,
}

/// How far into its budget a window is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Below the warning share.
    Within,
    /// At or past [`WARN_AT`].
    Warning,
    /// Used up.
    Exceeded,
}

/// A budget's standing in its current window.
#[derive(Clone, Debug, PartialEq)]
pub struct Standing {
    /// How far in.
    pub level: Level,
    /// The larger of the used shares (tokens, cost) of the limits set.
    pub share: f64,
    /// When the window started.
    pub start: DateTime<Utc>,
    /// When it rolls over.
    pub end: DateTime<Utc>,
    /// For people: `820000 of 1000000 tokens, $0.41 of $5.00 used; the window ends at …`.
    pub message: String,
}

/// The window holding `now` for a window of `length` (whole hours, at least one).
pub fn window(length: Duration, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let hours = (length.as_secs() / 3600).max(1) as i64;
    let secs = hours * 3600;
    let start = now.timestamp().div_euclid(secs) * secs;
    let at = |t: i64| DateTime::from_timestamp(t, 0).unwrap_or(now);
    (at(start), at(start + secs))
}

/// Where `spec` stands having used `used` in the window holding `now`.
pub fn standing(spec: &BudgetSpec, used: &Used, now: DateTime<Utc>) -> Standing {
    let (start, end) = window(spec.window.get(), now);
    let mut shares = Vec::new();
    let mut parts = Vec::new();
    if let Some(tokens) = spec.tokens {
        shares.push(used.tokens as f64 / tokens.max(1) as f64);
        parts.push(format!("{} of {tokens} tokens", used.tokens));
    }
    if let Some(cost) = spec.cost {
        shares.push(if cost > 0.0 { used.cost / cost } else { f64::INFINITY });
        parts.push(format!("${:.2} of ${cost:.2}", used.cost));
    }
    let share = shares.into_iter().fold(0.0, f64::max);
    let level = match share {
        s if s >= 1.0 => Level::Exceeded,
        s if s >= WARN_AT => Level::Warning,
        _ => Level::Within,
    };
    let message = format!(
        "{} used ({:.0}%); the window ends at {}",
        parts.join(", "),
        (share * 100.0).min(999.0),
        end.format("%Y-%m-%dT%H:%MZ")
    );
    Standing { level, share, start, end, message }
}

/// What `agent` (or, for `None`, the whole city) used from `start` on, priced.
pub fn used_since(
    ledger: &Ledger,
    model: &CityModel,
    agent: Option<&str>,
    start: DateTime<Utc>,
) -> Used {
    let mut used = Used::default();
    for bucket in crate::usage::report::since(ledger, Some(start)) {
        if agent.is_some_and(|a| a != bucket.agent) {
            continue;
        }
        used.tokens += bucket.usage.total();
        used.cost += crate::usage::report::cost_of(model, bucket).unwrap_or(0.0);
    }
    used
}

/// The standing that holds `agent` back, the worse of its own budget and the City's (`None`
/// when neither is set).
pub fn agent_standing(
    ledger: &Ledger,
    model: &CityModel,
    agent: &str,
    now: DateTime<Utc>,
) -> Option<(Standing, Scope)> {
    let own = model.agents.get(agent).and_then(|a| a.spec.budget.as_ref()).map(|spec| {
        let start = window(spec.window.get(), now).0;
        (standing(spec, &used_since(ledger, model, Some(agent), start), now), Scope::Agent)
    });
    let city = model.city_spec().budget.map(|spec| {
        let start = window(spec.window.get(), now).0;
        (standing(&spec, &used_since(ledger, model, None, start), now), Scope::City)
    });
    match (own, city) {
        (Some(a), Some(c)) => Some(if c.0.level > a.0.level { c } else { a }),
        (a, c) => a.or(c),
    }
}

/// Whose budget a standing is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The agent's own.
    Agent,
    /// The City's, shared by every agent.
    City,
}

impl Scope {
    /// `its budget` / `the City's budget`.
    pub fn describe(self) -> &'static str {
        match self {
            Scope::Agent => "its budget",
            Scope::City => "the City's budget",
        }
    }
}

/// Whether any budget is declared in `model` (the watcher does nothing otherwise).
pub fn any_declared(model: &CityModel) -> bool {
    model.city_spec().budget.is_some() || model.agents.values().any(|a| a.spec.budget.is_some())
}

/// `now` as the planner's clock is.
pub fn utc(now: SystemTime) -> DateTime<Utc> {
    DateTime::<Utc>::from(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn spec(tokens: Option<u64>, cost: Option<f64>, window: u64) -> BudgetSpec {
        BudgetSpec { tokens, cost, window: crate::api::Duration::from_secs(window) }
    }

    #[test]
    fn windows_are_whole_hours_from_midnight_utc() {
        let now = at("2026-12-06T05:21:11Z");
        let (start, end) = window(Duration::from_secs(86_400), now);
        assert_eq!((start, end), (at("2026-12-06T00:00:00Z"), at("2026-12-07T00:00:00Z")));
        let (start, end) = window(Duration::from_secs(3600), now);
        assert_eq!((start, end), (at("2026-12-06T05:00:00Z"), at("2026-12-06T06:00:00Z")));
        assert_eq!(window(Duration::from_secs(60), now).0, at("2026-12-06T05:00:00Z"), "≥ 1h");
    }

    #[test]
    fn the_larger_share_of_the_limits_set_decides() {
        let now = at("2026-12-06T05:00:00Z");
        let both = spec(Some(1000), Some(2.0), 86_400);
        let s = standing(&both, &Used { tokens: 100, cost: 1.7 }, now);
        assert_eq!(s.level, Level::Warning);
        assert!((s.share - 0.85).abs() < 1e-9);
        assert!(
            s.message.contains("100 of 1000 tokens, $1.70 of $2.00 used (85%)"),
            "{}",
            s.message
        );
        assert!(s.message.contains("2026-12-07T00:00Z"), "{}", s.message);
        let s = standing(&both, &Used { tokens: 1000, cost: 0.0 }, now);
        assert_eq!(s.level, Level::Exceeded);
        let tokens_only = spec(Some(1000), None, 86_400);
        assert_eq!(
            standing(&tokens_only, &Used { tokens: 799, cost: 9e9 }, now).level,
            Level::Within
        );
    }

    #[test]
    fn a_new_window_starts_from_nothing_so_the_agent_resumes() {
        use crate::usage::ledger::Bucket;
        let bucket = |hour: &str, input: u64| Bucket {
            hour: hour.into(),
            session: "gc-town-worker".into(),
            agent: "worker".into(),
            rig: None,
            provider: "probe".into(),
            model: "m".into(),
            usage: crate::usage::Usage { input, ..Default::default() },
            daily: false,
        };
        let mut ledger = Ledger::default();
        ledger.buckets = vec![bucket("2026-12-05T23", 5000), bucket("2026-12-06T01", 300)];
        let model = CityModel::default();
        let spec = spec(Some(1000), None, 86_400);
        let yesterday = at("2026-12-05T23:30:00Z");
        let used =
            used_since(&ledger, &model, Some("worker"), window(spec.window.get(), yesterday).0);
        assert_eq!(standing(&spec, &used, yesterday).level, Level::Exceeded);
        let today = at("2026-12-06T02:00:00Z");
        let used = used_since(&ledger, &model, Some("worker"), window(spec.window.get(), today).0);
        assert_eq!(used.tokens, 300, "only this window's hours count");
        assert_eq!(standing(&spec, &used, today).level, Level::Within);
        assert_eq!(
            used_since(&ledger, &model, Some("mayor"), window(spec.window.get(), today).0).tokens,
            0
        );
    }
}
