//! `gc`: a declarative, Kubernetes-style orchestrator for a city of AI coding agents.
//!
//! Resource files (City, Agent, Rig, Provider, Formula, Order) are loaded with source positions
//! ([`manifest`]), checked against JSON Schemas generated from the types in [`api`] and across
//! resources ([`validate`]), and driven by the command line in [`cli`].

#![warn(missing_docs)]

pub mod agentcli;
pub mod api;
pub mod apply;
pub mod beads;
pub mod cli;
#[path = "../controllers/mod.rs"]
pub mod controllers;
pub mod dashboard;
pub mod events;
pub mod failpoint;
pub mod formula;
pub mod import;
pub mod kept;
pub mod kubernetes;
pub mod manifest;
pub mod notify;
pub mod orders;
pub mod prompt;
pub mod runtime;
pub mod selector;
pub mod store;
pub mod usage;
pub mod validate;
pub mod work;
