//! Token and cost accounting: what each session's model calls used, read from the CLI's own
//! transcripts in the directory gc owns for it (the Provider's `usage` says where and in which
//! format), summed per hour, session and model in a ledger (`.gc/state/usage.json`), and
//! priced from the Provider's price table at report time.
//!
//! [`transcript`] parses; [`ledger`] finds the files, reads what was appended since the last
//! scan and keeps the sums; [`report`] groups them for `gc costs`, status and the API.

pub mod ledger;
pub mod report;
pub mod transcript;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::api::provider::Price;

/// Tokens, by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// Input tokens not read from a cache.
    #[serde(default)]
    pub input: u64,
    /// Output tokens (reasoning included).
    #[serde(default)]
    pub output: u64,
    /// Input tokens read from the prompt cache.
    #[serde(default)]
    pub cache_read: u64,
    /// Input tokens written to the prompt cache.
    #[serde(default)]
    pub cache_write: u64,
}

impl Usage {
    /// Every token, of every kind.
    pub fn total(&self) -> u64 {
        self.input + self.output + self.cache_read + self.cache_write
    }

    /// Whether nothing was used.
    pub fn is_zero(&self) -> bool {
        self.total() == 0
    }

    /// Adds `other` to this.
    pub fn add(&mut self, other: &Usage) {
        self.input += other.input;
        self.output += other.output;
        self.cache_read += other.cache_read;
        self.cache_write += other.cache_write;
    }

    /// What this has beyond `other`, kind by kind (never below zero).
    pub fn saturating_sub(&self, other: &Usage) -> Usage {
        Usage {
            input: self.input.saturating_sub(other.input),
            output: self.output.saturating_sub(other.output),
            cache_read: self.cache_read.saturating_sub(other.cache_read),
            cache_write: self.cache_write.saturating_sub(other.cache_write),
        }
    }

    /// The larger of the two, kind by kind.
    pub fn max_each(&self, other: &Usage) -> Usage {
        Usage {
            input: self.input.max(other.input),
            output: self.output.max(other.output),
            cache_read: self.cache_read.max(other.cache_read),
            cache_write: self.cache_write.max(other.cache_write),
        }
    }

    /// What it costs at `price` (US dollars per million tokens).
    pub fn cost(&self, price: &Price) -> f64 {
        let per = |tokens: u64, dollars: f64| tokens as f64 * dollars / 1_000_000.0;
        per(self.input, price.input)
            + per(self.output, price.output)
            + per(self.cache_read, price.cache_read)
            + per(self.cache_write, price.cache_write.unwrap_or(price.input))
    }
}

/// The price of `model` in `prices`: the longest key the model's name starts with, else `*`.
pub fn price_of<'a>(prices: &'a BTreeMap<String, Price>, model: &str) -> Option<&'a Price> {
    prices
        .iter()
        .filter(|(key, _)| key.as_str() != "*" && model.starts_with(key.as_str()))
        .max_by_key(|(key, _)| key.len())
        .map(|(_, price)| price)
        .or_else(|| prices.get("*"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_matching_price_wins_and_star_catches_the_rest() {
        let price = |input: f64| Price { input, output: input * 5.0, ..Price::default() };
        let prices = BTreeMap::from([
            ("claude-opus".to_owned(), price(5.0)),
            ("claude-opus-5".to_owned(), price(6.0)),
            ("*".to_owned(), price(1.0)),
        ]);
        assert_eq!(price_of(&prices, "claude-opus-5-5").unwrap().input, 6.0);
        assert_eq!(price_of(&prices, "claude-opus-4-1").unwrap().input, 5.0);
        assert_eq!(price_of(&prices, "gpt-5").unwrap().input, 1.0);
        assert!(price_of(&BTreeMap::new(), "gpt-5").is_none());
    }

    #[test]
    fn cost_prices_every_kind_and_cache_writes_default_to_the_input_price() {
        let usage = Usage {
            input: 1_000_000,
            output: 2_000_000,
            cache_read: 1_000_000,
            cache_write: 1_000_000,
        };
        let price = Price { input: 3.0, output: 15.0, cache_read: 0.3, cache_write: None };
        assert!((usage.cost(&price) - (3.0 + 30.0 + 0.3 + 3.0)).abs() < 1e-9);
        let written = Price { cache_write: Some(3.75), ..price };
        assert!((usage.cost(&written) - (3.0 + 30.0 + 0.3 + 3.75)).abs() < 1e-9);
    }
}
