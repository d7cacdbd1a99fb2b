//! Serving a city's resources from a Kubernetes cluster (see DESIGN.md, "Scale-out").
//!
//! The cluster serves the same kinds a local city is made of, as custom resources whose
//! definitions ([`crd`]) are generated from the Rust types, so a city's files are valid custom
//! resources as they are. The parts of the in-cluster controller built so far: leader election
//! through a Lease ([`lease`]), the conversions between custom resources and gc's documents
//! ([`mirror`]), status written through the status subresource ([`status`]) and gc's events as
//! Kubernetes Events ([`events`]); `gc controller --kubernetes`, which will use them, is not
//! written yet.

pub mod crd;
pub mod events;
pub mod lease;
pub mod mirror;
pub mod openapi;
pub mod status;
pub mod yaml;
