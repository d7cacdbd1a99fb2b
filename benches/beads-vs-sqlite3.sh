#!/usr/bin/env bash
# The embedded bead store against the `sqlite3` command-line tool running the store's own SQL
# on the same schema (benches/beads.rs, a `harness = false` bench), three measurements, each
# printed as gc's time, sqlite3's time and the ratio gc / sqlite3:
#
#   1. creates: CREATES `create`s, a transaction each (as the store does: BEGIN IMMEDIATE, id
#      pick, row insert, COMMIT, then a read of the new bead), against sqlite3 running the
#      store's row insert for the same beads, each in `BEGIN IMMEDIATE; INSERT …; COMMIT;`.
#   2. ready: `ready` (limit READY_LIMIT) READY_REPEATS times on a BEADS-bead store, against
#      sqlite3 running the store's ready statement and its label reads as many times.
#   3. claims: CLAIMS `claim_ready`s (a transaction each, then a read of the claimed bead) on
#      a copy of that store, against sqlite3 running `BEGIN IMMEDIATE; <the store's claim
#      UPDATE, its target the store's ready query LIMIT 1> RETURNING id; COMMIT;`.
#
# Same SQL on both sides: sqlite3 gets the statements from gascity::beads::embedded::replay,
# which builds them with the store's own functions (schema.rs TABLES and PRAGMAS: WAL,
# synchronous=FULL; sql.rs's insert, ready and claim SQL), the values bound through the
# shell's parameter table. Each sqlite3 run is checked against gc's: identical issues tables
# after the creates, the same ready beads in the same order, the same beads claimed in the
# same order. The store is timed in process; sqlite3 as `sqlite3 DB < script`, one process
# per measurement, its start included (also printed alone, to subtract).
# The BEADS store is a tracker some months old: 2% epics with about ten children each, most
# beads closed, some in progress, blocked, deferred, wisps or messages; a quarter depend on
# one or two earlier beads (`blocks`), a few `related` and `waits-for` edges; 0–3 labels each.
# Goal: every ratio near 1 (gc adds little to SQLite), and not above 2x for ready and claims.
#
#   benches/beads-vs-sqlite3.sh          # from any directory; exit 0 whatever the ratios
#   QUICK=1 benches/beads-vs-sqlite3.sh  # small sizes, a few seconds
#
# Knobs (environment): CREATES (default 10000; QUICK 1000), BEADS (100000; 10000),
# READY_REPEATS (50; 10), READY_LIMIT (10, bd's default; 0 for every ready bead), CLAIMS
# (1000; 100), ROUNDS (3; 1), SQLITE3 (path to sqlite3), KEEP=1 (keep the databases and
# scripts, e.g. for EXPLAIN QUERY PLAN, and print where). They live in a mktemp directory
# (TMPDIR for the bench) that an EXIT trap removes. A full run takes about 7 minutes.
#
# Results, 2026-11-24 (release, 2 cores shared with other builds, ext4 on virtio; SQLite 3.54.1
# bundled in gc, Debian's sqlite3 3.40.1; medians of 3 rounds):
#   measurement                                 gc        sqlite3   ratio   gc/op     sqlite3/op
#   10000 creates (a transaction each)          1.49 s    1.52 s    0.98x   149 µs    152 µs
#   ready ×50 (limit 10, 10 found)              2.20 s    2.66 s    0.83x   44.08 ms  53.24 ms
#   1000 claims (claim_ready, a transaction)    44.16 s   55.67 s   0.79x   44.16 ms  55.67 ms
#   sqlite3 process start: 1.52 ms (in each sqlite3 time once)
#   store: 54349 closed, 8012 in progress, 34643 open (22392 ready); 2042 epics; edges: 37543
#   blocks, 20111 parent-child, 4940 related, 113 waits-for; 144195 labels.
# Before blocked_directly became UNION ALL (sql.rs) ready was 1.15–1.49x and claims 1.44x
# (65 ms vs 45 ms a claim): SQLite 3.54 planned the UNION as a sorted merge over a full scan of
# dependencies. Both sides' ready and claim time is that query computing the blocked set over
# the whole store (about 45 ms at 100,000 beads), not gc. Creates are fsync-bound and swing
# with other disk load on the machine (single rounds read 0.9x to 5.6x), hence the rounds.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SQLITE3=${SQLITE3:-sqlite3}
if ! command -v "$SQLITE3" >/dev/null; then
    sudo=""
    if [[ $(id -u) != 0 ]] && command -v sudo >/dev/null; then sudo="sudo"; fi
    if command -v apt-get >/dev/null; then
        echo "==> installing sqlite3" >&2
        $sudo apt-get install -y -qq sqlite3 >/dev/null 2>&1 ||
            { $sudo apt-get update -qq && $sudo apt-get install -y -qq sqlite3; } >/dev/null 2>&1 || true
    fi
    command -v "$SQLITE3" >/dev/null || { echo "sqlite3 is needed (apt-get install sqlite3)" >&2; exit 2; }
fi
export SQLITE3

cargo bench --quiet --bench beads --no-run
if [[ ${KEEP:-0} == 0 ]]; then # with KEEP the bench keeps its own directory and says where
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/gc-beads-bench.XXXXXX")
    trap 'rm -rf "$WORK"' EXIT
    export TMPDIR=$WORK
fi
# The ratios are the result; whatever they are, the run succeeded once the table is printed.
cargo bench --quiet --bench beads || { echo "the beads bench failed" >&2; exit 1; }
