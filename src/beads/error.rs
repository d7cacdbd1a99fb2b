//! Errors a bead store reports.

use std::io;

/// Why a bead operation failed. The messages are what `bd` users see.
#[derive(Debug, thiserror::Error)]
pub enum BeadError {
    /// No bead has that id.
    #[error("no bead with id `{0}`")]
    NotFound(String),
    /// Someone else holds the claim.
    #[error("{id} already claimed by {by}")]
    AlreadyClaimed {
        /// The bead.
        id: String,
        /// The current assignee.
        by: String,
    },
    /// The bead's status does not allow a claim (only `open` beads can be claimed).
    #[error("{id} cannot be claimed: its status is {status}")]
    NotClaimable {
        /// The bead.
        id: String,
        /// Its status.
        status: String,
    },
    /// The dependency would close a loop.
    #[error("adding dependency {from} -> {to} would create a cycle")]
    Cycle {
        /// The dependent.
        from: String,
        /// The dependency.
        to: String,
    },
    /// A bead cannot depend on itself.
    #[error("{0} cannot depend on itself")]
    SelfDependency(String),
    /// A bead with that id is already stored.
    #[error("a bead with id `{0}` already exists")]
    Exists(String),
    /// The change is refused by the city's rules; the message says why and what to do.
    #[error("{0}")]
    Refused(String),
    /// Bad input (an empty title, a malformed time, …).
    #[error("{0}")]
    Invalid(String),
    /// The store's own failure (SQLite, the exec script, bd), with its message.
    #[error("bead store: {0}")]
    Backend(String),
    /// Reading or writing the store's files.
    #[error("bead store: {0}")]
    Io(#[from] io::Error),
}

/// Shorthand for bead store results.
pub type Result<T, E = BeadError> = std::result::Result<T, E>;
