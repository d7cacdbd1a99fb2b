//! Eight processes race to claim 2,000 beads from one store: every bead is claimed exactly
//! once, none is lost, and the store agrees with what each claimer saw. Once with the embedded
//! store (one SQLite file), once with the postgres store (a real server; see
//! tests/common/postgres.rs).
//!
//! The claimers are this test binary run again with `claimer` selected (an ignored test that
//! only acts when `GC_TEST_CLAIMER_DB` or `GC_TEST_CLAIMER_PG` is set), so each is a separate
//! process with its own connection, as agents are.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};

use gascity::beads::embedded::EmbeddedStore;
use gascity::beads::postgres::PostgresStore;
use gascity::beads::{Bead, BeadStore, ListQuery, ReadyQuery};

#[path = "common/postgres.rs"]
mod pg;

const DB_ENV: &str = "GC_TEST_CLAIMER_DB";
/// `<connection string>\t<schema>` of a postgres store.
const PG_ENV: &str = "GC_TEST_CLAIMER_PG";
const ACTOR_ENV: &str = "GC_TEST_CLAIMER_ACTOR";
/// A directory where each claimer announces it is ready, then waits for `go`: all eight
/// claim at once, so every claim really contends.
const BARRIER_ENV: &str = "GC_TEST_CLAIMER_BARRIER";
const BEADS: usize = 2_000;
const CLAIMERS: usize = 8;

#[test]
#[ignore = "a claimer process started by racing_claimers_take_each_bead_exactly_once"]
fn claimer() {
    let Ok(actor) = std::env::var(ACTOR_ENV) else { return };
    let store: Box<dyn BeadStore> = match (std::env::var(DB_ENV), std::env::var(PG_ENV)) {
        (Ok(db), _) => Box::new(EmbeddedStore::open(db.as_ref(), "race").unwrap()),
        (_, Ok(pg)) => {
            let (url, schema) = pg.split_once('\t').unwrap();
            Box::new(PostgresStore::open(url, schema, "race").unwrap())
        }
        _ => return,
    };
    if let Ok(barrier) = std::env::var(BARRIER_ENV) {
        let barrier = std::path::Path::new(&barrier);
        std::fs::write(barrier.join(format!("ready-{actor}")), "").unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !barrier.join("go").exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
    while let Some(bead) = store.claim_ready(&ReadyQuery::default(), &actor).unwrap() {
        println!("CLAIMED {}", bead.id);
    }
}

#[test]
fn racing_claimers_take_each_bead_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("beads.db");
    let store = EmbeddedStore::open(&db, "race").unwrap();
    race(&store, dir.path(), (DB_ENV, db.to_string_lossy().into_owned()));
}

#[test]
fn racing_claimers_take_each_bead_exactly_once_from_postgres() {
    let Some(server) = pg::server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let schema = pg::fresh_schema("race");
    let store = PostgresStore::open(&server.url(), &schema, "race").unwrap();
    race(&store, dir.path(), (PG_ENV, format!("{}\t{schema}", server.url())));
}

/// Fills `store` with the beads, lets the claimers (told where the store is by `selector`)
/// race for them, and checks the outcome.
fn race(store: &dyn BeadStore, dir: &std::path::Path, selector: (&str, String)) {
    let now = "2026-11-24T00:00:00Z".to_owned();
    let beads: Vec<Bead> = (0..BEADS)
        .map(|n| Bead {
            id: format!("race-{n:05}"),
            title: format!("bead {n}"),
            status: "open".into(),
            priority: (n % 5) as i64,
            issue_type: "task".into(),
            created_at: now.clone(),
            updated_at: now.clone(),
            ..Bead::default()
        })
        .collect();
    store.import(beads, "setup").unwrap();

    let barrier = dir.join("barrier");
    std::fs::create_dir(&barrier).unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..CLAIMERS)
        .map(|n| {
            Command::new(&exe)
                .args(["claimer", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
                .env(selector.0, &selector.1)
                .env(ACTOR_ENV, format!("claimer-{n}"))
                .env(BARRIER_ENV, &barrier)
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::read_dir(&barrier).unwrap().count() < CLAIMERS {
        assert!(std::time::Instant::now() < deadline, "the claimers never got ready");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    std::fs::write(barrier.join("go"), "").unwrap();

    let mut claimed_by: BTreeMap<String, String> = BTreeMap::new();
    let mut double_claims = Vec::new();
    for (n, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "claimer-{n} failed: {:?}", out.status);
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            // The harness prints `test claimer ... ` with no newline before the first claim.
            if let Some((_, id)) = line.split_once("CLAIMED ")
                && let Some(first) = claimed_by.insert(id.to_owned(), format!("claimer-{n}"))
            {
                double_claims.push(format!("{id}: {first} and claimer-{n}"));
            }
        }
    }
    assert!(double_claims.is_empty(), "claimed twice: {double_claims:?}");
    assert_eq!(claimed_by.len(), BEADS, "every bead claimed, none lost");
    // The barrier made all eight claim at once; how the wins split is SQLite's scheduling
    // (on a loaded machine one process can win every lock), so it is reported, not asserted.
    let claimers: BTreeSet<&String> = claimed_by.values().collect();
    eprintln!("beads won by {} of {CLAIMERS} claimers", claimers.len());

    let all = store.list(&ListQuery { all: true, ..ListQuery::default() }).unwrap();
    assert_eq!(all.len(), BEADS);
    for bead in all {
        assert_eq!(bead.status, "in_progress", "{}", bead.id);
        assert_eq!(Some(&bead.assignee), claimed_by.get(&bead.id), "store agrees on {}", bead.id);
    }
}
