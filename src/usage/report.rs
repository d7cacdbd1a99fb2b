//! Grouping the ledger's counts for people and the API: per agent, rig, model, session or day,
//! since a moment, each priced from its Provider's price table.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Usage;
use super::ledger::{Bucket, Ledger};
use crate::controllers::model::CityModel;

/// What the counts are grouped by.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum By {
    /// Each agent (a pool's members together).
    #[default]
    Agent,
    /// Each rig (city-wide agents under `-`).
    Rig,
    /// Each model.
    Model,
    /// Each session.
    Session,
    /// Each day (UTC).
    Day,
}

/// One group's tokens and spend.
#[derive(Clone, Debug, Default, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    /// The agent, rig, model, session or day.
    pub key: String,
    /// Tokens by kind.
    pub usage: Usage,
    /// Every token.
    pub tokens: u64,
    /// US dollars, from the Providers' price tables.
    pub cost: f64,
    /// Models used that no price table prices (their cost counts as 0).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unpriced: Vec<String>,
}

impl Row {
    fn add(&mut self, usage: &Usage, cost: Option<f64>, model: &str) {
        self.usage.add(usage);
        self.tokens = self.usage.total();
        match cost {
            Some(cost) => self.cost += cost,
            None if !self.unpriced.iter().any(|m| m == model) => {
                self.unpriced.push(model.to_owned())
            }
            None => {}
        }
    }
}

/// `gc costs` (and `/api/v1/costs`): the groups, largest spend first, and the total.
#[derive(Clone, Debug, Default, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CostReport {
    /// Counted from this hour on (RFC 3339), or from the start of the ledger.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// What the rows are.
    pub by: By,
    /// One per group.
    pub rows: Vec<Row>,
    /// Everything.
    pub total: Row,
}

/// The cost of `bucket`, when its Provider prices its model.
pub fn cost_of(model: &CityModel, bucket: &Bucket) -> Option<f64> {
    let usage = model.providers.get(&bucket.provider)?.spec.usage.as_ref()?;
    Some(bucket.usage.cost(super::price_of(&usage.prices, &bucket.model)?))
}

/// The buckets counted from the hour holding `since` on.
pub fn since(ledger: &Ledger, since: Option<DateTime<Utc>>) -> impl Iterator<Item = &Bucket> {
    let from = since.map(|t| t.format("%Y-%m-%dT%H").to_string());
    ledger.buckets.iter().filter(move |b| from.as_ref().is_none_or(|f| b.hour >= *f))
}

/// The ledger's counts since `from`, grouped `by`.
pub fn report(
    ledger: &Ledger,
    model: &CityModel,
    from: Option<DateTime<Utc>>,
    by: By,
) -> CostReport {
    let mut groups: BTreeMap<String, Row> = BTreeMap::new();
    let mut total = Row { key: "total".into(), ..Row::default() };
    for bucket in since(ledger, from) {
        let key = match by {
            By::Agent => bucket.agent.clone(),
            By::Rig => bucket.rig.clone().unwrap_or_else(|| "-".into()),
            By::Model => bucket.model.clone(),
            By::Session => bucket.session.clone(),
            By::Day => bucket.hour.get(..10).unwrap_or(&bucket.hour).to_owned(),
        };
        let cost = cost_of(model, bucket);
        let row = groups.entry(key.clone()).or_insert_with(|| Row { key, ..Row::default() });
        row.add(&bucket.usage, cost, &bucket.model);
        total.add(&bucket.usage, cost, &bucket.model);
    }
    let mut rows: Vec<Row> = groups.into_values().collect();
    if by == By::Day {
        rows.sort_by(|a, b| a.key.cmp(&b.key));
    } else {
        rows.sort_by(|a, b| b.cost.total_cmp(&a.cost).then(b.tokens.cmp(&a.tokens)));
    }
    CostReport { since: from.map(|t| t.to_rfc3339()), by, rows, total }
}

/// The start of the UTC day holding `now`: the window spend is shown and budgeted in.
pub fn start_of_day(now: DateTime<Utc>) -> DateTime<Utc> {
    now.date_naive().and_hms_opt(0, 0, 0).map_or(now, |t| t.and_utc())
}

/// Each agent's tokens and spend since `from` (for status and describe).
pub fn per_agent(
    ledger: &Ledger,
    model: &CityModel,
    from: Option<DateTime<Utc>>,
) -> BTreeMap<String, Row> {
    report(ledger, model, from, By::Agent).rows.into_iter().map(|r| (r.key.clone(), r)).collect()
}
