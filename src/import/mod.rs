//! `gc import`: bringing a Gas City city over.
//!
//! [`import`] reads a Gas City city (or pack) and works out the resource files, prompt
//! templates and copied scripts of the equivalent gc city, with a [`Report`] that accounts
//! for every key it read. Nothing is written here; [`write`] stages, validates and writes.

mod agents;
mod city;
pub mod compose;
mod files;
pub mod gascity_keys;
pub mod gotemplate;
pub mod names;
mod overlays;
pub mod presets;
pub mod report;
pub mod source;
mod templates;
pub mod write;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::api::{API_VERSION, Kind};
use compose::{LoadError, Tree};
pub use report::{Entry, Outcome, Report};

/// Choices the command line makes.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Extra rigs (`--rig NAME=PATH`): rig-scoped agents are stamped for each.
    pub rigs: Vec<(String, String)>,
    /// Packs the `--rig` rigs include (`--include DIR`), as `gc rig add --include` would;
    /// default: the city's `default_rig_includes`, else every pack the city imports.
    pub includes: Vec<PathBuf>,
}

/// What an import produces.
#[derive(Debug)]
pub struct Import {
    /// The city's resource name.
    pub city_name: String,
    /// Files to write, by path relative to the new city directory.
    pub files: BTreeMap<String, String>,
    /// Files to copy as they are: source → path relative to the new city directory.
    pub copies: Vec<(PathBuf, String)>,
    /// What became of every key.
    pub report: Report,
    /// The Gas City file each Formula and Order file was translated from (by written path).
    pub sources: BTreeMap<String, PathBuf>,
    /// The same files as the report shows them.
    pub shown_sources: BTreeMap<String, String>,
}

/// One resource to write.
#[derive(Clone, Debug)]
struct OutResource {
    kind: Kind,
    name: String,
    spec: Value,
    /// `file:line` it was imported from, for the header comment.
    from: String,
    /// The Gas City file it is a translation of, for Formulas and Orders.
    source: Option<PathBuf>,
}

/// A rig of the new city and the packs that stamp agents into it.
#[derive(Clone, Debug)]
struct RigPlan {
    name: String,
    packs: Vec<usize>,
    overrides: Vec<source::Sourced>,
}

struct Importer<'a> {
    tree: Tree,
    report: Report,
    options: &'a Options,
    city_name: String,
    resources: Vec<OutResource>,
    prompts: BTreeMap<String, String>,
    copies: Vec<(PathBuf, String)>,
    fragments: BTreeMap<String, gotemplate::Fragment>,
    /// The City's default provider, once known.
    default_provider: Option<String>,
    /// Providers written so far (defined, preset or per agent).
    providers: BTreeSet<String>,
    /// `workspace.max_active_sessions`: the pool size for agents that set none.
    workspace_max: Option<u32>,
    rigs: Vec<RigPlan>,
    /// Agent names Gas City used → resource names, per rig (`None` for city agents), for
    /// `depends_on` and order targets.
    agent_names: BTreeMap<(Option<String>, String), String>,
    /// Where each written agent came from, for the overlays that apply to it.
    agent_origins: Vec<overlays::AgentOrigin>,
    /// Files to write besides resources and prompts (skills given front matter), by path.
    files: BTreeMap<String, String>,
}

/// Reads the Gas City city or pack at `path` and works out the gc city that replaces it.
pub fn import(path: &Path, options: &Options) -> Result<Import, LoadError> {
    let mut report = Report::default();
    let tree = Tree::load(path, &mut report)?;
    let mut im = Importer {
        tree,
        report,
        options,
        city_name: String::new(),
        resources: Vec::new(),
        prompts: BTreeMap::new(),
        copies: Vec::new(),
        fragments: BTreeMap::new(),
        default_provider: None,
        providers: BTreeSet::new(),
        workspace_max: None,
        rigs: Vec::new(),
        agent_names: BTreeMap::new(),
        agent_origins: Vec::new(),
        files: BTreeMap::new(),
    };
    let mut city = im.city();
    im.defined_providers();
    im.load_fragments();
    im.rigs();
    im.agents();
    im.overlays();
    im.formulas_and_orders();
    im.sweep();
    city.default_provider = im.default_provider.clone();
    let from = im.tree.root_file().map_or_else(String::new, |f| f.shown.clone());
    let name = im.city_name.clone();
    im.add(Kind::City, &name, spec_json(&city), from);
    Ok(im.finish())
}

impl Importer<'_> {
    fn add(&mut self, kind: Kind, name: &str, spec: Value, from: String) {
        self.resources.push(OutResource { kind, name: name.to_owned(), spec, from, source: None });
    }

    fn finish(self) -> Import {
        let mut files = BTreeMap::new();
        let mut sources = BTreeMap::new();
        let mut shown_sources = BTreeMap::new();
        for r in &self.resources {
            let (dir, name) = match r.kind {
                Kind::City => (String::new(), "city".to_owned()),
                other => (format!("{}/", other.plural()), r.name.clone()),
            };
            let path = format!("{dir}{name}.yaml");
            if let Some(source) = &r.source {
                sources.insert(path.clone(), source.clone());
                shown_sources.insert(path.clone(), r.from.clone());
            }
            files.insert(path, resource_yaml(r));
        }
        for (path, text) in self.prompts.into_iter().chain(self.files) {
            files.insert(path, text);
        }
        files.insert(".gc-import/report.txt".into(), self.report.render());
        Import {
            city_name: self.city_name,
            files,
            copies: self.copies,
            report: self.report,
            sources,
            shown_sources,
        }
    }
}

/// A resource as a YAML file with a comment saying where it came from.
fn resource_yaml(r: &OutResource) -> String {
    let value = json!({
        "apiVersion": API_VERSION,
        "kind": r.kind.as_str(),
        "metadata": {"name": r.name},
        "spec": r.spec,
    });
    let body = serde_yaml_ng::to_string(&value).unwrap_or_default();
    format!("# Imported by `gc import` from {}.\n{body}", r.from)
}

/// `value` without the members equal to those of `default` (recursively), so written files
/// carry only what the Gas City city set.
fn prune_defaults(value: Value, default: &Value) -> Value {
    match (value, default) {
        (Value::Object(map), Value::Object(defaults)) => Value::Object(
            map.into_iter()
                .filter_map(|(k, v)| match defaults.get(&k) {
                    Some(d) if *d == v => None,
                    Some(d) => {
                        let pruned = prune_defaults(v, d);
                        let empty = pruned.as_object().is_some_and(|m| m.is_empty());
                        (!empty).then_some((k, pruned))
                    }
                    None => Some((k, v)),
                })
                .collect(),
        ),
        (value, _) => value,
    }
}

/// `spec` serialised without its defaults.
fn spec_json<T: serde::Serialize + Default>(spec: &T) -> Value {
    let value = serde_json::to_value(spec).unwrap_or(Value::Null);
    let mut default = serde_json::to_value(T::default()).unwrap_or(Value::Null);
    // Optional sections have no default of their own; these are their fields' defaults.
    if let Some(map) = default.as_object_mut() {
        map.insert("scaling".into(), json!({"scaleCheckTimeout": "30s"}));
    }
    prune_defaults(value, &default)
}

/// Gas City's fixtures for unit tests: `GC_GASCITY_FIXTURES`, else the first
/// `shared/fixtures/gascity` walking up from the crate (they live beside the repository).
#[cfg(test)]
pub(crate) fn gascity_fixtures() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("GC_GASCITY_FIXTURES") {
        return Some(dir.into());
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("shared/fixtures/gascity"))
        .find(|dir| dir.is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_pruned_but_set_values_kept() {
        let spec = crate::api::AgentSpec {
            nudge: Some("hi".into()),
            idle_timeout: Some("1h".parse().unwrap()),
            ..Default::default()
        };
        let v = spec_json(&spec);
        assert_eq!(v, json!({"nudge": "hi", "idleTimeout": "1h"}));
    }
}
