//! Bead ids: `<prefix>-<base36 hash>` growing from 4 to 8 characters as the store fills, and
//! `<parent>.N` for children.

use rusqlite::{OptionalExtension, Transaction};
use xxhash_rust::xxh3::xxh3_64;

use super::Time;
use crate::beads::{BeadError, Result};

const MIN_LEN: usize = 4;
const MAX_LEN: usize = 8;

/// Hash length for a store holding about `n` beads: long enough that a new id rarely collides
/// (collisions are retried anyway), short enough to type.
fn length_for(n: i64) -> usize {
    match n {
        ..1_000 => MIN_LEN,
        1_000..40_000 => 5,
        40_000..1_500_000 => 6,
        1_500_000..50_000_000 => 7,
        _ => MAX_LEN,
    }
}

fn base36(mut value: u64, len: usize) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::with_capacity(len);
    for _ in 0..len {
        out.push(DIGITS[(value % 36) as usize]);
        value /= 36;
    }
    String::from_utf8(out).expect("ascii digits")
}

fn taken(tx: &Transaction<'_>, id: &str) -> Result<bool> {
    Ok(tx.query_row("SELECT 1 FROM issues WHERE id = ?1", [id], |_| Ok(())).optional()?.is_some())
}

/// A fresh top-level id.
pub fn generate(
    tx: &Transaction<'_>,
    prefix: &str,
    title: &str,
    description: &str,
    actor: &str,
    now: &Time,
) -> Result<String> {
    // max(rowid) is O(log n), unlike count(*); deletions only make it an overestimate.
    let size: i64 = tx.query_row("SELECT COALESCE(max(rowid), 0) FROM issues", [], |r| r.get(0))?;
    for nonce in 0..NONCES {
        let id = candidate(prefix, title, description, actor, now, size, nonce);
        if !taken(tx, &id)? {
            return Ok(id);
        }
    }
    Err(BeadError::Backend(format!("no free id found with prefix `{prefix}`")))
}

/// How many candidate ids are tried before giving up.
pub(crate) const NONCES: u32 = 64;

/// The `nonce`-th candidate for a new top-level id in a store holding about `size` beads
/// (every backend names beads the same way).
pub(crate) fn candidate(
    prefix: &str,
    title: &str,
    description: &str,
    actor: &str,
    now: &Time,
    size: i64,
    nonce: u32,
) -> String {
    let len = (length_for(size) + nonce as usize / 8).min(MAX_LEN);
    let seed = format!("{title}|{description}|{actor}|{}|{nonce}", now.ns);
    format!("{prefix}-{}", base36(xxh3_64(seed.as_bytes()), len))
}

/// The next child id of `parent` (`<parent>.1`, `.2`, …), never reusing a number.
pub fn next_child(tx: &Transaction<'_>, parent: &str) -> Result<String> {
    loop {
        let n: i64 = tx.query_row(
            "UPDATE issues SET child_count = child_count + 1 WHERE id = ?1 RETURNING child_count",
            [parent],
            |r| r.get(0),
        )?;
        let id = format!("{parent}.{n}");
        // An imported child may already hold the number.
        if !taken(tx, &id)? {
            return Ok(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_grow_with_the_store_and_stay_in_range() {
        assert_eq!(length_for(0), MIN_LEN);
        assert_eq!(length_for(999), 4);
        assert_eq!(length_for(1_000), 5);
        assert_eq!(length_for(i64::MAX), MAX_LEN);
        let id = base36(u64::MAX, 8);
        assert_eq!(id.len(), 8);
        assert!(id.chars().all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()));
    }
}
