//! A city whose beads live in PostgreSQL (`beads.backend: postgres`), end to end: `gc apply`
//! creates the city's store in the server, `gc sling` puts work into the rig's store there,
//! the sample pool's agents (`bd` in their sessions, which get the connection string's
//! variable) claim and close it, and `gc bd` reads it back. The rows are in the server, in the
//! store's own schema; no SQLite file is made. Against a real server of this test's own (see
//! tests/common/postgres.rs); skipped when PostgreSQL is not installed (and not required).

#[path = "common/postgres.rs"]
mod pg;
#[path = "common/sample.rs"]
mod sample;
#[path = "common/tmux.rs"]
mod tmux_city;

use std::time::Duration;

use gascity::beads::postgres::schema_name;
use tmux_city::wait_until;

const URL_ENV: &str = "GC_TEST_BEADS_URL";

#[test]
fn the_sample_pool_works_beads_kept_in_postgres() {
    let Some(server) = pg::server() else { return };
    // SAFETY: this test is the only one of its process (one test per file).
    unsafe { std::env::set_var(URL_ENV, server.url()) };
    let city = sample::sample_city("gcpg", "pgtown");
    let city_yaml = city.path().join("city.yaml");
    let text = std::fs::read_to_string(&city_yaml).unwrap();
    let text = text.replacen(
        "  beads:\n    backend: embedded\n",
        &format!("  beads:\n    backend: postgres\n    urlEnv: {URL_ENV}\n"),
        1,
    );
    assert!(text.contains("backend: postgres"), "the sample city.yaml changed shape");
    std::fs::write(&city_yaml, text).unwrap();
    city.run(&["validate"]);
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "60s"]);
    let mut ids = Vec::new();
    for n in 1..=5 {
        let out = city.run(&["sling", "worker", &format!("Postgres task {n}"), "--json"]);
        let slung: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        ids.push(slung["id"].as_str().unwrap().to_owned());
    }
    wait_until("the pool to close the 5 beads", Duration::from_secs(120), || {
        let beads = sample::rig_beads(&city);
        beads.len() == 5 && beads.iter().all(|b| b["status"] == "closed")
    });
    for bead in sample::rig_beads(&city) {
        let assignee = bead["assignee"].as_str().unwrap_or_default();
        assert!(assignee.starts_with("worker-"), "claimed by a pool member: {bead}");
        assert_eq!(bead["close_reason"], format!("done by {assignee}"), "{bead}");
    }

    // The rows are in the server, in the rig store's schema.
    let prefix = ids[0].split('-').next().unwrap();
    let schema = schema_name("pgtown", prefix);
    let mut client = postgres::Client::connect(&server.url(), postgres::NoTls).unwrap();
    let rows =
        client.query(&format!("SELECT id, status FROM {schema}.issues ORDER BY id"), &[]).unwrap();
    let mut stored: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    stored.sort();
    let mut want: Vec<(String, String)> =
        ids.iter().map(|id| (id.clone(), "closed".to_owned())).collect();
    want.sort();
    assert_eq!(stored, want);
    assert!(
        !city.path().join("rigs/demo-repo/.beads/beads.db").exists(),
        "no SQLite store is made"
    );
    // The connection string is never shown: not in the store's config, not in events.
    let config =
        std::fs::read_to_string(city.path().join("rigs/demo-repo/.beads/gc-store.json")).unwrap();
    assert!(config.contains(URL_ENV) && !config.contains(&server.url()), "{config}");
    let events = std::fs::read_to_string(city.path().join(".gc/events.jsonl")).unwrap();
    assert!(!events.contains(&server.socket_dir.display().to_string()), "no URL in events");
    city.run(&["stop"]);
}
