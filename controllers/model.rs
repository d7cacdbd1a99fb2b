//! The desired city as the controllers see it: every applied resource, typed, plus the prompt
//! template texts agents refer to. Built from the store in one read ([`CityModel::load`]);
//! everything after that is pure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::api::agent::AgentSpec;
use crate::api::city::CitySpec;
use crate::api::formula::FormulaSpec;
use crate::api::order::OrderSpec;
use crate::api::provider::ProviderSpec;
use crate::api::rig::RigSpec;
use crate::api::{Kind, Resource};
use crate::store::{Store, StoreError, StoredObject};

/// One applied object of spec type `S` with the server-set fields controllers need.
#[derive(Clone, Debug, PartialEq)]
pub struct Applied<S> {
    /// Its name.
    pub name: String,
    /// `metadata.generation`: bumped when the spec changes.
    pub generation: u64,
    /// `metadata.uid`: tells a re-created object from the old one of the same name.
    pub uid: String,
    /// The spec.
    pub spec: S,
}

/// The applied city.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CityModel {
    /// Absolute path of the city directory.
    pub dir: PathBuf,
    /// The City resource, when one is applied.
    pub city: Option<Applied<CitySpec>>,
    /// Providers by name.
    pub providers: BTreeMap<String, Applied<ProviderSpec>>,
    /// Rigs by name.
    pub rigs: BTreeMap<String, Applied<RigSpec>>,
    /// Agents by name.
    pub agents: BTreeMap<String, Applied<AgentSpec>>,
    /// Formulas by name.
    pub formulas: BTreeMap<String, Applied<FormulaSpec>>,
    /// Orders by name.
    pub orders: BTreeMap<String, Applied<OrderSpec>>,
    /// Applied objects whose stored file does not read (or no longer fits the types), with
    /// why. They are still applied: what belongs to them is left running, not swept.
    pub damaged: BTreeMap<(Kind, String), String>,
    /// Prompt template texts by path (relative to the city directory), or why one is unreadable.
    pub templates: BTreeMap<String, Result<String, String>>,
    /// Whether gc runs as root (Providers' `envAsRoot` then applies).
    pub as_root: bool,
}

impl CityModel {
    /// Reads the applied city from `store` (and the prompt templates its agents name).
    pub fn load(city_dir: &Path, store: &Store) -> Result<CityModel, StoreError> {
        let mut model = CityModel::load_specs(city_dir, store)?;
        model.read_templates();
        Ok(model)
    }

    /// (Re)reads from disk the prompt templates the agents name, forgetting any others.
    pub fn read_templates(&mut self) {
        let paths: Vec<String> =
            self.agents.values().filter_map(|a| a.spec.prompt.as_ref()?.template.clone()).collect();
        self.templates.clear();
        for path in paths {
            let text = std::fs::read_to_string(self.dir.join(&path))
                .map_err(|e| format!("cannot read prompt template {path}: {e}"));
            self.templates.insert(path, text);
        }
    }

    /// Reads the applied resources only, without the prompt templates (enough to know names,
    /// generations and settings).
    pub fn load_specs(city_dir: &Path, store: &Store) -> Result<CityModel, StoreError> {
        let dir = std::path::absolute(city_dir).unwrap_or_else(|_| city_dir.to_path_buf());
        let as_root = rustix::process::geteuid().is_root();
        let mut model = CityModel { dir, as_root, ..CityModel::default() };
        for kind in [Kind::City, Kind::Provider, Kind::Rig, Kind::Agent, Kind::Formula, Kind::Order]
        {
            let listing = store.list_kind(kind)?;
            for object in &listing.objects {
                model.insert(object);
            }
            for damaged in listing.damaged {
                model.damaged.insert((damaged.kind, damaged.name), damaged.error);
            }
        }
        Ok(model)
    }

    /// Adds one stored object; one whose spec no longer fits the types is recorded as
    /// damaged instead.
    pub fn insert(&mut self, object: &StoredObject) {
        let key = (object.kind, object.metadata.name.clone());
        let resource = match object.typed() {
            Ok(resource) => resource,
            Err(e) => {
                self.remove(object.kind, &object.metadata.name);
                self.damaged.insert(key, e);
                return;
            }
        };
        self.damaged.remove(&key);
        let meta = &object.metadata;
        fn applied<S>(meta: &crate::store::StoredMeta, spec: S) -> Applied<S> {
            Applied {
                name: meta.name.clone(),
                generation: meta.generation,
                uid: meta.uid.clone(),
                spec,
            }
        }
        match resource {
            Resource::City(o) => self.city = Some(applied(meta, o.spec)),
            Resource::Provider(o) => {
                self.providers.insert(meta.name.clone(), applied(meta, o.spec));
            }
            Resource::Rig(o) => {
                self.rigs.insert(meta.name.clone(), applied(meta, o.spec));
            }
            Resource::Agent(o) => {
                self.agents.insert(meta.name.clone(), applied(meta, o.spec));
            }
            Resource::Formula(o) => {
                self.formulas.insert(meta.name.clone(), applied(meta, o.spec));
            }
            Resource::Order(o) => {
                self.orders.insert(meta.name.clone(), applied(meta, o.spec));
            }
        }
    }

    /// Removes the object `kind/name` (as deleting or pruning it would).
    pub fn remove(&mut self, kind: Kind, name: &str) {
        self.damaged.remove(&(kind, name.to_owned()));
        match kind {
            Kind::City if self.city.as_ref().is_some_and(|c| c.name == name) => self.city = None,
            Kind::Provider => drop(self.providers.remove(name)),
            Kind::Rig => drop(self.rigs.remove(name)),
            Kind::Agent => drop(self.agents.remove(name)),
            Kind::Formula => drop(self.formulas.remove(name)),
            Kind::Order => drop(self.orders.remove(name)),
            Kind::City => {}
        }
    }

    /// Whether `kind/name` is applied, readable or not. Sweeps ask this, not the typed maps: a
    /// damaged object's sessions, state and status are not those of a deleted one.
    pub fn is_applied(&self, kind: Kind, name: &str) -> bool {
        let typed = match kind {
            Kind::City => self.city.as_ref().is_some_and(|c| c.name == name),
            Kind::Provider => self.providers.contains_key(name),
            Kind::Rig => self.rigs.contains_key(name),
            Kind::Agent => self.agents.contains_key(name),
            Kind::Formula => self.formulas.contains_key(name),
            Kind::Order => self.orders.contains_key(name),
        };
        typed || self.damaged.contains_key(&(kind, name.to_owned()))
    }

    /// The city's name: the City resource's, else the directory's.
    pub fn city_name(&self) -> String {
        match &self.city {
            Some(city) => city.name.clone(),
            None => self
                .dir
                .file_name()
                .map(|n| label_from(&n.to_string_lossy()))
                .filter(|n| crate::api::meta::is_valid_name(n))
                .unwrap_or_else(|| "city".to_owned()),
        }
    }

    /// The City spec, or the defaults when no City is applied.
    pub fn city_spec(&self) -> CitySpec {
        self.city.as_ref().map(|c| c.spec.clone()).unwrap_or_default()
    }

    /// The tmux socket of the city: `session.socket`, else `gc-<city name>`.
    pub fn socket(&self) -> String {
        self.city_spec().session.socket.unwrap_or_else(|| format!("gc-{}", self.city_name()))
    }

    /// The prefix every session of this city's agents starts with.
    pub fn session_prefix(&self) -> String {
        format!("gc-{}-", self.city_name())
    }

    /// A rig's directory, absolute.
    pub fn rig_dir(&self, rig: &RigSpec) -> PathBuf {
        self.dir.join(&rig.path)
    }
}

/// `text` lowercased with runs of other characters turned into single dashes, trimmed to a
/// resource name's length.
fn label_from(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.truncate(63);
    out.trim_matches('-').to_owned()
}

impl CityModel {
    /// The generations of everything an agent's sessions are derived from — the agent, the
    /// City, its provider and its rig — as one string. An agent's status records it, so a
    /// waiting command can tell that a City or Provider change has been acted on too.
    pub fn inputs_of(&self, agent: &str) -> String {
        let Some(a) = self.agents.get(agent) else { return String::new() };
        let provider = a.spec.provider.clone().or_else(|| self.city_spec().default_provider);
        let generation = |g: Option<u64>| g.map_or_else(|| "-".to_owned(), |g| g.to_string());
        format!(
            "agent {} city {} provider {} rig {}",
            a.generation,
            generation(self.city.as_ref().map(|c| c.generation)),
            generation(provider.and_then(|p| self.providers.get(&p)).map(|p| p.generation)),
            generation(a.spec.rig.as_ref().and_then(|r| self.rigs.get(r)).map(|r| r.generation)),
        )
    }

    /// Why `agent`'s sessions must be left exactly as they are: the agent itself, the City, or
    /// the rig or provider it names is damaged, so what its sessions should be cannot be known
    /// (a damaged City could even rename every session). `None` when nothing holds it.
    pub fn held_by_damage(&self, agent: &str) -> Option<String> {
        let damaged = |kind: Kind, name: &str| {
            self.damaged.get(&(kind, name.to_owned())).map(|e| format!("{}: {e}", kind.key(name)))
        };
        if let Some(why) = damaged(Kind::Agent, agent) {
            return Some(why);
        }
        if let Some(((_, name), e)) = self.damaged.iter().find(|((k, _), _)| *k == Kind::City) {
            return Some(format!("{}: {e}", Kind::City.key(name)));
        }
        let a = self.agents.get(agent)?;
        let provider = a.spec.provider.clone().or_else(|| self.city_spec().default_provider);
        a.spec
            .rig
            .as_deref()
            .and_then(|rig| damaged(Kind::Rig, rig))
            .or_else(|| provider.and_then(|p| damaged(Kind::Provider, &p)))
    }
}
