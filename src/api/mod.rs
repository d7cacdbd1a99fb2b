//! The resource model: six kinds served as `gascity.dev/v1alpha1`, their envelope and metadata.
//!
//! The Rust types are the single source of truth: the JSON Schemas under `schemas/` are
//! generated from them ([`schema`]) and a test fails when the committed files drift.

pub mod agent;
pub mod city;
mod duration;
pub mod formula;
pub mod mcp;
pub mod meta;
pub mod order;
pub mod provider;
pub mod rig;
pub mod schema;
pub mod status;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use agent::AgentSpec;
pub use city::CitySpec;
pub use duration::{DURATION_PATTERN, Duration, ParseDurationError};
pub use formula::FormulaSpec;
pub use meta::ObjectMeta;
pub use order::OrderSpec;
pub use provider::ProviderSpec;
pub use rig::RigSpec;

/// The API group every kind belongs to.
pub const GROUP: &str = "gascity.dev";
/// The version this build writes and prefers.
pub const VERSION: &str = "v1alpha1";
/// `GROUP/VERSION`, as written in `apiVersion`.
pub const API_VERSION: &str = "gascity.dev/v1alpha1";
/// Every `apiVersion` this build reads.
pub const SERVED_API_VERSIONS: &[&str] = &[API_VERSION];

/// The kinds of resource a city is made of. Declared in the order a city is read and
/// applied (settings first, then what later kinds refer to), which is also their `Ord`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Kind {
    /// City-wide settings; exactly one per city.
    City,
    /// How to launch an agent CLI.
    Provider,
    /// A project repository.
    Rig,
    /// An AI coding agent or pool of them.
    Agent,
    /// A workflow template.
    Formula,
    /// Scheduled or triggered work.
    Order,
}

impl Kind {
    /// Every kind, in declaration (and `Ord`) order.
    pub const ALL: [Kind; 6] =
        [Kind::City, Kind::Provider, Kind::Rig, Kind::Agent, Kind::Formula, Kind::Order];

    /// The name written in `kind:`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::City => "City",
            Kind::Agent => "Agent",
            Kind::Rig => "Rig",
            Kind::Provider => "Provider",
            Kind::Formula => "Formula",
            Kind::Order => "Order",
        }
    }

    /// Lowercase plural, as in `gc get agents`.
    pub const fn plural(self) -> &'static str {
        match self {
            Kind::City => "cities",
            Kind::Agent => "agents",
            Kind::Rig => "rigs",
            Kind::Provider => "providers",
            Kind::Formula => "formulas",
            Kind::Order => "orders",
        }
    }

    /// Short name, as in `gc get ag`.
    pub const fn short(self) -> &'static str {
        match self {
            Kind::City => "city",
            Kind::Agent => "ag",
            Kind::Rig => "rig",
            Kind::Provider => "pv",
            Kind::Formula => "fm",
            Kind::Order => "ord",
        }
    }

    /// `kind/name` as the CLI prints and reads it: `agent/mayor`.
    pub fn key(self, name: &str) -> String {
        format!("{}/{name}", self.as_str().to_ascii_lowercase())
    }

    /// The kind named exactly as in a resource's `kind:` field.
    pub fn from_kind_field(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The kind a command-line argument names: singular, plural or short, any case.
    pub fn from_cli_name(s: &str) -> Option<Kind> {
        let s = s.to_ascii_lowercase();
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(&s) || k.plural() == s || k.short() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A resource of one kind: the envelope around a typed spec.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Object<S> {
    /// One of [`SERVED_API_VERSIONS`].
    pub api_version: String,
    /// The kind's name.
    pub kind: String,
    /// Name, labels, annotations.
    pub metadata: ObjectMeta,
    /// The desired state.
    pub spec: S,
    /// What controllers observed; ignored when read from a user's file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<serde_json::Value>,
}

/// Any resource, typed by kind.
#[derive(Clone, Debug, PartialEq)]
// A Provider spec is large (a CLI's whole recipe); resources are made once per document read,
// so boxing each variant would only add indirection.
#[allow(clippy::large_enum_variant)]
pub enum Resource {
    /// A `City`.
    City(Object<CitySpec>),
    /// An `Agent`.
    Agent(Object<AgentSpec>),
    /// A `Rig`.
    Rig(Object<RigSpec>),
    /// A `Provider`.
    Provider(Object<ProviderSpec>),
    /// A `Formula`.
    Formula(Object<FormulaSpec>),
    /// An `Order`.
    Order(Object<OrderSpec>),
}

impl Resource {
    /// Builds the typed resource of `kind` from a JSON document.
    pub fn from_value(
        kind: Kind,
        value: &serde_json::Value,
    ) -> Result<Resource, serde_json::Error> {
        use serde::Deserialize;
        Ok(match kind {
            Kind::City => Resource::City(Object::deserialize(value)?),
            Kind::Agent => Resource::Agent(Object::deserialize(value)?),
            Kind::Rig => Resource::Rig(Object::deserialize(value)?),
            Kind::Provider => Resource::Provider(Object::deserialize(value)?),
            Kind::Formula => Resource::Formula(Object::deserialize(value)?),
            Kind::Order => Resource::Order(Object::deserialize(value)?),
        })
    }

    /// The resource's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Resource::City(_) => Kind::City,
            Resource::Agent(_) => Kind::Agent,
            Resource::Rig(_) => Kind::Rig,
            Resource::Provider(_) => Kind::Provider,
            Resource::Formula(_) => Kind::Formula,
            Resource::Order(_) => Kind::Order,
        }
    }

    /// The resource's metadata.
    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Resource::City(o) => &o.metadata,
            Resource::Agent(o) => &o.metadata,
            Resource::Rig(o) => &o.metadata,
            Resource::Provider(o) => &o.metadata,
            Resource::Formula(o) => &o.metadata,
            Resource::Order(o) => &o.metadata,
        }
    }

    /// The resource's name.
    pub fn name(&self) -> &str {
        &self.metadata().name
    }

    /// The spec as JSON, every default filled in.
    pub fn spec_json(&self) -> serde_json::Value {
        let value = match self {
            Resource::City(o) => serde_json::to_value(&o.spec),
            Resource::Agent(o) => serde_json::to_value(&o.spec),
            Resource::Rig(o) => serde_json::to_value(&o.spec),
            Resource::Provider(o) => serde_json::to_value(&o.spec),
            Resource::Formula(o) => serde_json::to_value(&o.spec),
            Resource::Order(o) => serde_json::to_value(&o.spec),
        };
        value.expect("specs are plain data and always serialise")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_kinds_in_declaration_order() {
        // Per-kind tables are indexed by `kind as usize` and sorted by the derived `Ord`.
        for (i, kind) in Kind::ALL.into_iter().enumerate() {
            assert_eq!(kind as usize, i);
        }
        assert!(Kind::ALL.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn cli_names_accept_singular_plural_and_short() {
        for (name, kind) in [
            ("agent", Kind::Agent),
            ("Agents", Kind::Agent),
            ("ag", Kind::Agent),
            ("cities", Kind::City),
            ("pv", Kind::Provider),
            ("formula", Kind::Formula),
        ] {
            assert_eq!(Kind::from_cli_name(name), Some(kind), "{name}");
        }
        assert_eq!(Kind::from_cli_name("pod"), None);
    }
}
