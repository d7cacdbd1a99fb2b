//! Failure injection for crash-safety tests: `GC_FAIL_POINT=<name>` makes the process abort
//! the first time it reaches the named point, `<name>#<n>` the n-th time, as a crash or power
//! cut would.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// Aborts the process when `GC_FAIL_POINT` names `point` (and this is the chosen hit). Costs
/// one cached lookup otherwise.
pub fn hit(point: &str) {
    static ARMED: OnceLock<Option<(String, u32)>> = OnceLock::new();
    static HITS: AtomicU32 = AtomicU32::new(0);
    let armed = ARMED.get_or_init(|| {
        let spec = std::env::var("GC_FAIL_POINT").ok()?;
        Some(match spec.split_once('#') {
            Some((name, n)) => (name.to_owned(), n.parse().unwrap_or(1)),
            None => (spec, 1),
        })
    });
    if let Some((name, nth)) = armed
        && name == point
        && HITS.fetch_add(1, Ordering::SeqCst) + 1 == *nth
    {
        eprintln!("gc: fail point {point} hit, aborting");
        std::process::abort();
    }
}
