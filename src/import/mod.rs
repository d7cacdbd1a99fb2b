//! `gc import`: bringing a Gas City city over.

pub mod gascity_keys;
pub mod presets;
