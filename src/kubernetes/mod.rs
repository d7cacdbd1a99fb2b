//! Serving a city's resources from a Kubernetes cluster (see DESIGN.md, "Scale-out").
//!
//! The cluster serves the same kinds a local city is made of, as custom resources whose
//! definitions ([`crd`]) are generated from the Rust types, so a city's files are valid custom
//! resources as they are. The in-cluster controller is made of: leader election
//! through a Lease ([`lease`]), the conversions between custom resources and gc's documents
//! ([`mirror`], [`sync`]), status written through the status subresource ([`status`]) and gc's
//! events as Kubernetes Events ([`events`]), put together by [`controller`] (`gc controller
//! --kubernetes`).

pub mod controller;
pub mod crd;
pub mod events;
pub mod lease;
pub mod mirror;
pub mod openapi;
pub mod status;
pub mod sync;
pub mod yaml;
