//! Human-written durations (`30s`, `5m`, `1h30m`) as they appear in resource files.

use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The pattern every duration string matches; the JSON Schema carries the same one, so editors
/// and `gc validate` agree on what is accepted.
pub const DURATION_PATTERN: &str = "^([0-9]+(ms|s|m|h|d))+$";

/// A span of time written as one or more `<number><unit>` parts, units `ms`, `s`, `m`, `h`, `d`
/// (`90s`, `5m`, `1h30m`). Serialised back in the same compact form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    /// A duration of `secs` seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Duration(std::time::Duration::from_secs(secs))
    }

    /// The standard-library duration.
    pub const fn get(self) -> std::time::Duration {
        self.0
    }
}

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a duration: write parts like 30s, 5m, 1h30m (units ms, s, m, h, d)")]
pub struct ParseDurationError {
    input: String,
}

impl FromStr for Duration {
    type Err = ParseDurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseDurationError { input: s.to_owned() };
        if s.is_empty() {
            return Err(err());
        }
        let mut total_ms: u128 = 0;
        let mut rest = s;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(err());
            }
            let number: u128 = rest[..digits].parse().map_err(|_| err())?;
            rest = &rest[digits..];
            let (unit_ms, unit_len) = if rest.starts_with("ms") {
                (1, 2)
            } else {
                match rest.bytes().next() {
                    Some(b's') => (1_000, 1),
                    Some(b'm') => (60_000, 1),
                    Some(b'h') => (3_600_000, 1),
                    Some(b'd') => (86_400_000, 1),
                    _ => return Err(err()),
                }
            };
            rest = &rest[unit_len..];
            total_ms = number
                .checked_mul(unit_ms)
                .and_then(|v| total_ms.checked_add(v))
                .ok_or_else(err)?;
        }
        let ms = u64::try_from(total_ms).map_err(|_| err())?;
        Ok(Duration(std::time::Duration::from_millis(ms)))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
            if ms >= size {
                write!(f, "{}{unit}", ms / size)?;
                ms %= size;
            }
        }
        if ms > 0 {
            write!(f, "{ms}ms")?;
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A duration: one or more <number><unit> parts, units ms, s, m, h, d (e.g. 30s, 5m, 1h30m).",
            "examples": ["30s", "5m", "1h30m"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_compound_durations() {
        assert_eq!("1h30m".parse::<Duration>().unwrap(), Duration::from_secs(5400));
        assert_eq!("250ms".parse::<Duration>().unwrap().get().as_millis(), 250);
        assert_eq!("2d".parse::<Duration>().unwrap(), Duration::from_secs(172_800));
    }

    #[test]
    fn rejects_spaces_missing_units_and_overflow() {
        for bad in ["", "5", "5 m", "m", "1.5h", "-1s", "99999999999999999999999d"] {
            assert!(bad.parse::<Duration>().is_err(), "{bad:?} should be refused");
        }
    }

    proptest! {
        #[test]
        fn display_round_trips(ms in 0u64..10_000_000_000) {
            let d = Duration(std::time::Duration::from_millis(ms));
            prop_assert_eq!(d.to_string().parse::<Duration>().unwrap(), d);
        }

        #[test]
        fn parser_agrees_with_schema_pattern(s in "[0-9a-z]{0,8}") {
            let re = regex::Regex::new(DURATION_PATTERN).unwrap();
            let parsed = s.parse::<Duration>();
            // Anything the parser accepts the pattern accepts; the pattern may accept values
            // too large to represent, never the other way round.
            if parsed.is_ok() { prop_assert!(re.is_match(&s)); }
            if !re.is_match(&s) { prop_assert!(parsed.is_err()); }
        }
    }
}
