//! `gc import`: bringing a Gas City city over.

pub mod gotemplate;
