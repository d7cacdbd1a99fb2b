//! The embedded bead store against the `sqlite3` command-line tool running the store's own
//! statements (`gascity::beads::embedded::replay`) on the same schema, three measurements, each
//! printed as gc's time, sqlite3's time and their ratio:
//!
//! 1. creates: CREATES `create`s, one transaction each, on a new store; sqlite3 runs the
//!    store's row insert for the same beads (same ids, times and values), each in its own
//!    `BEGIN IMMEDIATE; … COMMIT;`.
//! 2. ready: `ready` (READY_LIMIT beads, 0 for all) READY_REPEATS times on a BEADS-bead store;
//!    sqlite3 runs the store's ready statement and its label reads for the beads it returns,
//!    each repeat in one read transaction, as the store does.
//! 3. claims: CLAIMS `claim_ready`s on a copy of that store; sqlite3 runs the store's claim
//!    `UPDATE` with the store's ready query as its target, `RETURNING id`, each in its own
//!    `BEGIN IMMEDIATE; … COMMIT;`.
//!
//! gc is timed in this process; sqlite3 as `sqlite3 DB < script`, process start included (also
//! timed alone, as `sqlite3 :memory: 'select 1'`, so it can be subtracted). Each sqlite3 run is
//! checked against gc's: the same rows inserted, the same beads ready, the same beads claimed in
//! the same order. Run it with `benches/beads-vs-sqlite3.sh`; knobs are in its header.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use gascity::beads::embedded::EmbeddedStore;
use gascity::beads::embedded::replay::{self, Shell};
use gascity::beads::{Bead, BeadStore, Dependency, NewBead, ReadyQuery};
use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;

type Error = Box<dyn std::error::Error>;

/// The sizes of a run, from the environment.
struct Knobs {
    creates: usize,
    beads: usize,
    ready_repeats: usize,
    ready_limit: Option<usize>,
    claims: usize,
    rounds: usize,
    keep: bool,
    sqlite3: String,
}

impl Knobs {
    fn from_env() -> Result<Knobs, Error> {
        let quick = std::env::var("QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let num = |name: &str, full: usize, quick_value: usize| -> Result<usize, Error> {
            match std::env::var(name) {
                Ok(v) => v.parse().map_err(|e| format!("{name}={v}: {e}").into()),
                Err(_) => Ok(if quick { quick_value } else { full }),
            }
        };
        let limit = num("READY_LIMIT", 10, 10)?;
        Ok(Knobs {
            creates: num("CREATES", 10_000, 1_000)?,
            beads: num("BEADS", 100_000, 10_000)?,
            ready_repeats: num("READY_REPEATS", 50, 10)?,
            ready_limit: (limit > 0).then_some(limit),
            claims: num("CLAIMS", 1_000, 100)?,
            rounds: num("ROUNDS", 3, 1)?.max(1),
            keep: std::env::var("KEEP").is_ok_and(|v| !v.is_empty() && v != "0"),
            sqlite3: std::env::var("SQLITE3").unwrap_or_else(|_| "sqlite3".into()),
        })
    }
}

/// One round of a measurement.
struct Round {
    name: String,
    ops: usize,
    gc: Duration,
    sqlite3: Duration,
}

/// One line of the report: the median of each side over the rounds.
struct Row {
    name: String,
    ops: usize,
    gc: Duration,
    sqlite3: Duration,
}

impl Row {
    fn of(mut rounds: Vec<Round>) -> Row {
        let median = |mut xs: Vec<Duration>| {
            xs.sort();
            xs[xs.len() / 2]
        };
        let gc = median(rounds.iter().map(|r| r.gc).collect());
        let sqlite3 = median(rounds.iter().map(|r| r.sqlite3).collect());
        let last = rounds.pop().expect("at least one round");
        Row { name: last.name, ops: last.ops, gc, sqlite3 }
    }
}

fn main() -> Result<(), Error> {
    // `cargo bench` passes --bench; test runners (`cargo test --all-targets`, nextest's
    // `--list`) must not start a multi-minute benchmark, and see no tests here.
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    let knobs = Knobs::from_env()?;
    let work = tempfile::Builder::new().prefix("gc-beads-bench.").tempdir()?;
    let shell = Shell::new()?;
    let start = process_start(&knobs.sqlite3)?;
    let mut rows = Vec::new();
    let rounds = knobs.rounds;

    eprintln!("building a {}-bead store…", knobs.beads);
    let fixture = work.path().join("fixture.db");
    let built = Instant::now();
    let mix = build_fixture(&fixture, knobs.beads)?;
    eprintln!("  built in {:.1} s: {mix}", built.elapsed().as_secs_f64());

    // The sides alternate, round after round, so a burst of load from elsewhere on the machine
    // does not land on one side only; the report shows each side's median.
    let dir = |name: &str, round: usize| -> Result<std::path::PathBuf, Error> {
        let dir = work.path().join(format!("{name}-{round}"));
        std::fs::create_dir(&dir)?;
        Ok(dir)
    };
    eprintln!("1/3 creates: {} ×{rounds} rounds…", knobs.creates);
    let runs = (0..rounds).map(|r| creates(&knobs, &dir("creates", r)?, &shell));
    rows.push(Row::of(runs.collect::<Result<_, Error>>()?));
    eprintln!("2/3 ready: {} ×{rounds} rounds…", knobs.ready_repeats);
    let runs = (0..rounds).map(|_| ready(&knobs, &fixture, &shell));
    rows.push(Row::of(runs.collect::<Result<_, Error>>()?));
    eprintln!("3/3 claims: {} ×{rounds} rounds…", knobs.claims);
    let runs = (0..rounds).map(|r| claims(&knobs, &dir("claims", r)?, &fixture, &shell));
    rows.push(Row::of(runs.collect::<Result<_, Error>>()?));

    let version = Command::new(&knobs.sqlite3).arg("--version").output()?.stdout;
    let version = String::from_utf8_lossy(&version);
    println!(
        "embedded store (SQLite {}, in process) vs sqlite3 {} (a process per run)",
        rusqlite::version(),
        version.split_whitespace().next().unwrap_or("?")
    );
    println!("store: {} beads — {mix}", knobs.beads);
    println!("times: medians of {rounds} rounds, gc and sqlite3 alternating");
    println!(
        "{:<44} {:>10} {:>10} {:>7}   {:>9} {:>9}",
        "measurement", "gc", "sqlite3", "ratio", "gc/op", "sqlite3/op"
    );
    for row in &rows {
        println!(
            "{:<44} {:>10} {:>10} {:>6.2}x   {:>9} {:>9}",
            row.name,
            human(row.gc),
            human(row.sqlite3),
            row.gc.as_secs_f64() / row.sqlite3.as_secs_f64(),
            human(row.gc / row.ops as u32),
            human(row.sqlite3 / row.ops as u32),
        );
    }
    println!(
        "sqlite3 process start (`sqlite3 :memory: 'select 1'`, median of 10): {} — in each \
         sqlite3 time once",
        human(start)
    );
    if knobs.keep {
        println!("kept the databases and sqlite3 scripts in {}", work.keep().display());
    }
    Ok(())
}

fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{:.0} µs", s * 1e6)
    }
}

fn process_start(sqlite3: &str) -> Result<Duration, Error> {
    let mut times = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let status = Command::new(sqlite3)
            .args([":memory:", "select 1"])
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("{sqlite3}: {e}"))?;
        times.push(t.elapsed());
        if !status.success() {
            return Err(format!("{sqlite3} :memory: 'select 1' failed").into());
        }
    }
    times.sort();
    Ok(times[times.len() / 2])
}

/// Runs `sqlite3 db < script` (script written to a file first); returns its stdout and the
/// wall time of the run.
fn run_sqlite3(knobs: &Knobs, db: &Path, script: &str) -> Result<(String, Duration), Error> {
    let path = db.with_extension("sql");
    std::fs::write(&path, script)?;
    let input = std::fs::File::open(&path)?;
    let t = Instant::now();
    let out = Command::new(&knobs.sqlite3)
        .args(["-bail", "-batch"])
        .arg(db)
        .stdin(input)
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .output()?;
    let elapsed = t.elapsed();
    if !out.status.success() || !out.stderr.is_empty() {
        return Err(format!(
            "sqlite3 {} < {}: {}",
            db.display(),
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok((String::from_utf8(out.stdout)?, elapsed))
}

/// Every row of `table` in `db`, in key order (to compare two databases).
fn dump(db: &Path, table: &str, order: &str) -> Result<Vec<Vec<SqlValue>>, Error> {
    let conn = Connection::open(db)?;
    let mut stmt = conn.prepare(&format!("SELECT * FROM {table} ORDER BY {order}"))?;
    let n = stmt.column_count();
    let rows = stmt
        .query_map([], |r| (0..n).map(|i| r.get::<_, SqlValue>(i)).collect())?
        .collect::<rusqlite::Result<Vec<Vec<SqlValue>>>>()?;
    Ok(rows)
}

fn creates(knobs: &Knobs, work: &Path, shell: &Shell) -> Result<Round, Error> {
    let new = |n: usize| NewBead {
        title: format!("bench bead {n}"),
        description: format!("created by the bench, number {n}"),
        priority: Some((n % 5) as i64),
        ..NewBead::default()
    };
    let gc_db = work.join("create-gc.db");
    let store = EmbeddedStore::open(&gc_db, "bench")?;
    let t = Instant::now();
    let mut made = Vec::with_capacity(knobs.creates);
    for n in 0..knobs.creates {
        made.push(store.create(new(n), "bench")?);
    }
    let gc = t.elapsed();
    drop(store);

    let sq_db = work.join("create-sqlite3.db");
    run_sqlite3(knobs, &sq_db, &format!("{}{}", shell.prelude(), replay::schema()))?;
    let mut script = shell.prelude();
    for (n, bead) in made.iter().enumerate() {
        let insert = replay::create(&bead.id, &new(n), "bench", &bead.created_at)?;
        script.push_str(&shell.bind(&insert)?);
        writeln!(script, "BEGIN IMMEDIATE;\n{};\nCOMMIT;", insert.sql)?;
    }
    let (_, sqlite3) = run_sqlite3(knobs, &sq_db, &script)?;
    if dump(&gc_db, "issues", "id")? != dump(&sq_db, "issues", "id")? {
        return Err("after the creates, sqlite3's issues table differs from gc's".into());
    }
    Ok(Round {
        name: format!("{} creates (a transaction each)", knobs.creates),
        ops: knobs.creates,
        gc,
        sqlite3,
    })
}

fn ready(knobs: &Knobs, fixture: &Path, shell: &Shell) -> Result<Round, Error> {
    let query = ReadyQuery { limit: knobs.ready_limit, ..ReadyQuery::default() };
    let store = EmbeddedStore::open(fixture, "bench")?;
    let first = store.ready(&query)?; // warm the cache and the statement cache
    let t = Instant::now();
    for _ in 0..knobs.ready_repeats {
        std::hint::black_box(store.ready(&query)?);
    }
    let gc = t.elapsed();
    drop(store);
    let ids: Vec<&str> = first.iter().map(|b| b.id.as_str()).collect();

    let now = Utc::now().to_rfc3339_opts(SecondsFormat::AutoSi, true);
    let main = replay::ready(&query, &now)?;
    // Check first: sqlite3 finds the same beads, in the same order.
    let (out, _) =
        run_sqlite3(knobs, fixture, &format!("{}{}", shell.prelude(), shell.script(&main)?))?;
    let found: Vec<&str> = out.lines().map(|l| l.split('|').next().unwrap_or("")).collect();
    if found != ids {
        return Err(format!(
            "sqlite3's ready differs from gc's: {} beads, first {:?}; gc: {}, first {:?}",
            found.len(),
            found.first(),
            ids.len(),
            ids.first()
        )
        .into());
    }
    let mut once = format!("BEGIN;\n{}", shell.script(&main)?);
    for id in &ids {
        once.push_str(&shell.script(&replay::labels(id))?);
    }
    once.push_str("COMMIT;\n");
    let script = format!("{}{}", shell.prelude(), once.repeat(knobs.ready_repeats));
    let (_, sqlite3) = run_sqlite3(knobs, fixture, &script)?;
    let limit = knobs.ready_limit.map_or("all".into(), |n| format!("limit {n}"));
    Ok(Round {
        name: format!("ready ×{} ({limit}, {} found)", knobs.ready_repeats, ids.len()),
        ops: knobs.ready_repeats,
        gc,
        sqlite3,
    })
}

fn claims(knobs: &Knobs, work: &Path, fixture: &Path, shell: &Shell) -> Result<Round, Error> {
    let gc_db = work.join("claims-gc.db");
    let sq_db = work.join("claims-sqlite3.db");
    std::fs::copy(fixture, &gc_db)?;
    std::fs::copy(fixture, &sq_db)?;
    let query = ReadyQuery::default();

    let store = EmbeddedStore::open(&gc_db, "bench")?;
    let t = Instant::now();
    let mut claimed = Vec::with_capacity(knobs.claims);
    for _ in 0..knobs.claims {
        match store.claim_ready(&query, "bench")? {
            Some(bead) => claimed.push(bead.id),
            None => break,
        }
    }
    let gc = t.elapsed();
    drop(store);

    let now = Utc::now().to_rfc3339_opts(SecondsFormat::AutoSi, true);
    let claim = replay::claim_ready(&query, "bench", &now)?;
    let mut script = format!("{}{}", shell.prelude(), shell.bind(&claim)?);
    for _ in 0..knobs.claims {
        writeln!(script, "BEGIN IMMEDIATE;\n{};\nCOMMIT;", claim.sql)?;
    }
    let (out, sqlite3) = run_sqlite3(knobs, &sq_db, &script)?;
    let took: Vec<&str> = out.lines().collect();
    if took != claimed {
        return Err(format!(
            "sqlite3 claimed {} beads, gc {}; first difference at {:?}",
            took.len(),
            claimed.len(),
            took.iter().zip(&claimed).position(|(a, b)| a != b)
        )
        .into());
    }
    Ok(Round {
        name: format!("{} claims (claim_ready, a transaction each)", claimed.len()),
        ops: claimed.len().max(1),
        gc,
        sqlite3,
    })
}

#[path = "../tests/common/rng.rs"]
mod rng;
use rng::Rng;

const LABELS: &[&str] = &[
    "area:api",
    "area:cli",
    "area:docs",
    "area:store",
    "area:ui",
    "rig:alpha",
    "rig:beta",
    "rig:gamma",
    "needs-review",
    "flaky",
    "good-first-issue",
    "perf",
    "security",
    "tech-debt",
    "customer",
    "regression",
];

/// Builds a store of `n` beads in one import: a tracker some months old, mostly closed. Epics
/// (2%) with children (about 10 each, a fifth of all beads); of the rest: 55% closed, 8% in
/// progress, 2% blocked, 1% deferred (status) and 1% deferred to 2099 (time), 2% wisps, 5%
/// messages (not work); a quarter depend on one or two earlier beads (`blocks`), some epics
/// are blocked (so are their children), 5% have a `related` edge, a few `waits-for` gates;
/// zero to three labels each. Returns a summary of the mix.
fn build_fixture(path: &Path, n: usize) -> Result<String, Error> {
    let mut rng = Rng(0x5eed);
    let start: DateTime<Utc> = "2025-01-01T00:00:00Z".parse()?;
    let step = Duration::from_secs(300 * 86_400) / n.max(1) as u32;
    let time = |i: usize| (start + step * i as u32).to_rfc3339_opts(SecondsFormat::AutoSi, true);
    let mut beads: Vec<Bead> = Vec::with_capacity(n);
    let mut epics: Vec<(usize, usize)> = Vec::new(); // (index, children so far)
    while beads.len() < n {
        let i = beads.len();
        let mut bead = Bead {
            title: format!("bench bead {i}"),
            description: format!("fixture bead number {i}"),
            status: "open".into(),
            priority: [0, 1, 1, 2, 2, 2, 2, 3, 3, 4][rng.below(10)],
            issue_type: ["task", "task", "task", "bug", "bug", "feature", "chore"][rng.below(7)]
                .into(),
            created_at: time(i),
            updated_at: time(i),
            created_by: "fixture".into(),
            ..Bead::default()
        };
        let roll = rng.below(100);
        if roll < 2 || epics.is_empty() {
            bead.id = format!("bench-{i:06}");
            bead.issue_type = "epic".into();
            if rng.chance(30) {
                bead.status = "closed".into();
            }
            epics.push((i, 0));
        } else if roll < 22 {
            // A child of one of the last 50 epics.
            let k = epics.len() - 1 - rng.below(epics.len().min(50));
            let (parent, children) = &mut epics[k];
            *children += 1;
            bead.id = format!("{}.{children}", beads[*parent].id);
            bead.dependencies.push(edge(&beads[*parent].id, "parent-child"));
        } else {
            bead.id = format!("bench-{i:06}");
        }
        if bead.issue_type != "epic" {
            match rng.below(100) {
                0..55 => bead.status = "closed".into(),
                55..63 => {
                    bead.status = "in_progress".into();
                    bead.assignee = format!("agent-{}", rng.below(20));
                }
                63..65 => bead.status = "blocked".into(),
                65..66 => bead.status = "deferred".into(),
                66..67 => bead.defer_until = Some("2099-01-01T00:00:00Z".into()),
                67..69 => bead.ephemeral = true,
                69..74 => bead.issue_type = "message".into(),
                _ => {}
            }
        }
        if i > 0 && rng.chance(if bead.issue_type == "epic" { 20 } else { 25 }) {
            for _ in 0..1 + rng.below(2) {
                let other = &beads[rng.below(i)].id;
                if bead.dependencies.iter().all(|d| &d.depends_on_id != other) {
                    bead.dependencies.push(edge(other, "blocks"));
                }
            }
        }
        if i > 0 && rng.chance(5) {
            let other = &beads[rng.below(i)].id;
            if bead.dependencies.iter().all(|d| &d.depends_on_id != other) {
                bead.dependencies.push(edge(other, "related"));
            }
        }
        if i > 0 && rng.below(1000) == 0 {
            let (epic, _) = epics[rng.below(epics.len())];
            let other = &beads[epic].id;
            if bead.dependencies.iter().all(|d| &d.depends_on_id != other) {
                let mut gate = edge(other, "waits-for");
                if rng.chance(50) {
                    gate.metadata = Some(serde_json::json!({"gate": "any-children"}));
                }
                bead.dependencies.push(gate);
            }
        }
        let mut labels: Vec<String> =
            (0..rng.below(4)).map(|_| LABELS[rng.below(LABELS.len())].to_owned()).collect();
        labels.sort();
        labels.dedup();
        bead.labels = labels;
        if bead.status == "closed" {
            bead.closed_at = Some(time(i));
        }
        beads.push(bead);
    }
    let store = EmbeddedStore::open(path, "bench")?;
    store.import(beads, "fixture")?;
    let all = ReadyQuery::default();
    let ready = store.ready(&all)?.len();
    drop(store);

    let conn = Connection::open(path)?;
    let count = |sql: &str| -> rusqlite::Result<i64> { conn.query_row(sql, [], |r| r.get(0)) };
    let status = |s: &str| count(&format!("SELECT count(*) FROM issues WHERE status = '{s}'"));
    let deps = |t: &str| count(&format!("SELECT count(*) FROM dependencies WHERE type = '{t}'"));
    Ok(format!(
        "{} closed, {} in progress, {} open ({ready} ready); {} epics; edges: {} blocks, {} \
         parent-child, {} related, {} waits-for; {} labels",
        status("closed")?,
        status("in_progress")?,
        status("open")?,
        count("SELECT count(*) FROM issues WHERE issue_type = 'epic'")?,
        deps("blocks")?,
        deps("parent-child")?,
        deps("related")?,
        deps("waits-for")?,
        count("SELECT count(*) FROM labels")?,
    ))
}

fn edge(to: &str, dep_type: &str) -> Dependency {
    Dependency { depends_on_id: to.into(), dep_type: dep_type.into(), ..Dependency::default() }
}
