//! Formulas: compiling a [`FormulaSpec`] (with the formulas it extends) into a step graph, and
//! cooking that graph into a molecule of beads.
//!
//! [`compile`] is pure: it resolves `extends`, checks step ids and `needs`, and orders the
//! steps. [`vars::resolve`] checks the values given for a cook against the declared vars.
//! [`cook::cook`] creates the root bead and one bead per step in a single atomic batch.

pub mod compile;
pub mod compose;
pub mod condition;
pub mod control;
pub mod convoy;
pub mod cook;
pub mod squash;
pub mod vars;

pub use compile::{CompileError, CompiledFormula, CompiledStep, compile};
pub use cook::{
    CookError, CookRequest, Molecule, compile_applied, cook, cook_named, molecule_open,
};

/// Metadata key on every bead of a molecule naming the formula it was cooked from.
pub const FORMULA: &str = "gc.formula";
/// Metadata key on a step bead naming its step id.
pub const STEP: &str = "gc.step";
