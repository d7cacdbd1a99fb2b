//! Failure injection for crash-safety tests: `GC_FAIL_POINT=<name>` makes the process abort
//! at the named point, as a crash or power cut would.

use std::sync::OnceLock;

/// Aborts the process when `GC_FAIL_POINT` names `point`. Costs one cached lookup otherwise.
pub fn hit(point: &str) {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    let armed = ARMED.get_or_init(|| std::env::var("GC_FAIL_POINT").ok());
    if armed.as_deref() == Some(point) {
        eprintln!("gc: fail point {point} hit, aborting");
        std::process::abort();
    }
}
