//! Which bead store an agent, a rig or the city uses, created on first use.

use std::path::PathBuf;

use crate::api::rig::derive_prefix;
use crate::beads::layout::{self, StoreConfig};
use crate::beads::{BeadError, BeadStore, Result};
use crate::controllers::model::CityModel;

/// The directory and config of the store of `rig` (`None`: the city's own store).
pub fn store_config(model: &CityModel, rig: Option<&str>) -> Result<(PathBuf, StoreConfig)> {
    let city = model.city_spec();
    let city_dir = std::path::absolute(&model.dir)?;
    let (dir, prefix) = match rig {
        Some(name) => {
            let applied = model
                .rigs
                .get(name)
                .ok_or_else(|| BeadError::Invalid(format!("rig `{name}` is not applied")))?;
            let dir = layout::rig_beads_dir(&std::path::absolute(model.rig_dir(&applied.spec))?);
            (dir, applied.spec.effective_prefix(name))
        }
        None => (layout::city_beads_dir(&city_dir), city_prefix(&model.city_name())),
    };
    let postgres = city.beads.backend == crate::api::city::BeadsBackend::Postgres;
    let config = StoreConfig {
        schema: postgres.then(|| crate::beads::postgres::schema_name(&model.city_name(), &prefix)),
        url_env: postgres.then(|| city.beads.url_env().to_owned()),
        prefix,
        backend: city.beads.backend,
        command: city.beads.command.clone(),
        city: Some(city_dir),
        rig: rig.map(str::to_owned),
    };
    Ok((dir, config))
}

/// The city store's prefix: derived from the city's name like a rig's, `gc` when that gives
/// nothing usable.
pub fn city_prefix(city_name: &str) -> String {
    let prefix = derive_prefix(city_name);
    let usable = prefix.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && prefix.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if usable { prefix } else { "gc".to_owned() }
}

/// Opens (creating it when needed) the store of `rig`, or the city's.
pub fn open(model: &CityModel, rig: Option<&str>) -> Result<(PathBuf, Box<dyn BeadStore>)> {
    let (dir, config) = store_config(model, rig)?;
    if StoreConfig::read(&dir).ok().as_ref() != Some(&config) {
        layout::init(&dir, &config)?;
    }
    let store = layout::open_with(&dir, &config)?;
    Ok((dir, store))
}

/// The stores of the city that exist (the city's and each rig's), opened; a store not
/// initialised yet is left out (and not created), one that fails to open is logged and left
/// out. `what` names the caller in the log.
pub fn existing(model: &CityModel, what: &str) -> Vec<(Option<String>, Box<dyn BeadStore>)> {
    let rigs = std::iter::once(None).chain(model.rigs.keys().map(|r| Some(r.as_str())));
    let mut out = Vec::new();
    for rig in rigs {
        let Ok((dir, config)) = store_config(model, rig) else { continue };
        if !dir.join(layout::CONFIG_FILE).is_file() {
            continue;
        }
        match layout::open_with(&dir, &config) {
            Ok(store) => out.push((rig.map(str::to_owned), store)),
            Err(e) => tracing::warn!("{what}: cannot open {}: {e}", dir.display()),
        }
    }
    out
}

/// Opens the store `agent` works from: its rig's, or the city's for a city-wide agent.
pub fn open_for_agent(model: &CityModel, agent: &str) -> Result<(PathBuf, Box<dyn BeadStore>)> {
    let applied = model.agents.get(agent).ok_or_else(|| unknown_agent(model, agent))?;
    open(model, applied.spec.rig.as_deref())
}

/// "no agent `x`", listing the agents there are.
pub fn unknown_agent(model: &CityModel, agent: &str) -> BeadError {
    let known: Vec<&str> = model.agents.keys().map(String::as_str).collect();
    BeadError::Invalid(if known.is_empty() {
        format!("no agent `{agent}`: this city has no applied agents (run `gc apply`)")
    } else {
        format!("no agent `{agent}`; agents: {}", known.join(", "))
    })
}
