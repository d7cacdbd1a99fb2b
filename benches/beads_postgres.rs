//! The postgres bead store against the embedded one, in the same run: the same operations on
//! a fresh store of each, timed in this process, printed as embedded time, postgres time and
//! their ratio (postgres / embedded).
//!
//! 1. creates: CREATES `create`s, one transaction each;
//! 2. ready: `ready` (10 beads) READY_REPEATS times on that store;
//! 3. claims: CLAIMS `claim_ready`s.
//!
//! PostgreSQL runs as a private server of this process on a Unix socket (the tests' harness,
//! tests/common/postgres.rs) with `fsync=off`, while the embedded store flushes every commit
//! (`synchronous=FULL`): creates and claims favour the server by that much. Run:
//! `cargo bench --bench beads_postgres` (`QUICK=1` for a short run).

#[path = "../tests/common/postgres.rs"]
mod pg;

use std::time::{Duration, Instant};

use gascity::beads::embedded::EmbeddedStore;
use gascity::beads::postgres::PostgresStore;
use gascity::beads::{BeadStore, NewBead, ReadyQuery};

type Error = Box<dyn std::error::Error>;

fn knob(name: &str, full: usize, quick: usize) -> Result<usize, Error> {
    let is_quick = std::env::var("QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    match std::env::var(name) {
        Ok(v) => v.parse().map_err(|e| format!("{name}={v}: {e}").into()),
        Err(_) => Ok(if is_quick { quick } else { full }),
    }
}

/// The three timings on `store`.
fn run(store: &dyn BeadStore, creates: usize, repeats: usize, claims: usize) -> [Duration; 3] {
    let start = Instant::now();
    for n in 0..creates {
        let new = NewBead {
            title: format!("bench bead {n}"),
            priority: Some((n % 5) as i64),
            labels: if n % 3 == 0 { vec!["frontend".into()] } else { Vec::new() },
            ..NewBead::default()
        };
        store.create(new, "bench").expect("create");
    }
    let created = start.elapsed();
    let start = Instant::now();
    for _ in 0..repeats {
        let ready = store.ready(&ReadyQuery { limit: Some(10), ..ReadyQuery::default() });
        assert_eq!(ready.expect("ready").len(), 10.min(creates));
    }
    let ready = start.elapsed();
    let start = Instant::now();
    for n in 0..claims {
        let claimed = store.claim_ready(&ReadyQuery::default(), &format!("agent-{}", n % 8));
        assert!(claimed.expect("claim").is_some(), "a bead to claim");
    }
    [created, ready, start.elapsed()]
}

fn main() -> Result<(), Error> {
    // `cargo bench` passes `--bench`; `cargo test --benches` would run this too: only bench.
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    let creates = knob("CREATES", 2_000, 300)?;
    let repeats = knob("READY_REPEATS", 200, 50)?;
    let claims = knob("CLAIMS", 500, 100)?.min(creates);
    let Some(server) = pg::server() else {
        return Err("PostgreSQL is not installed (see scripts/lib.sh ensure_postgres)".into());
    };
    let dir = tempfile::tempdir()?;
    let embedded = EmbeddedStore::open(&dir.path().join("beads.db"), "bench")?;
    let postgres = PostgresStore::open(&server.url(), &pg::fresh_schema("bench"), "bench")?;
    let e = run(&embedded, creates, repeats, claims);
    let p = run(&postgres, creates, repeats, claims);
    println!("{:<28} {:>12} {:>12} {:>8}", "operation", "embedded", "postgres", "ratio");
    let rows = [
        format!("{creates} creates"),
        format!("{repeats} ready (10 of {creates})"),
        format!("{claims} claims"),
    ];
    for (i, what) in rows.iter().enumerate() {
        let ratio = p[i].as_secs_f64() / e[i].as_secs_f64().max(1e-9);
        println!("{what:<28} {:>10.1}ms {:>10.1}ms {ratio:>7.2}x", ms(e[i]), ms(p[i]));
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
